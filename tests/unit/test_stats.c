/* test_stats.c - unit tests of stats.c: rows written once and intact, the
 * schema and WAL mode, reopen, disabled stats, retries, the queue bound.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "log.h"
#include "stats.h"

#define NROWS	1000

static char tmpdir[64];
static char dbpath[128];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_stats.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/stats.db", tmpdir);
}

static void
teardown(void)
{
	char cmd[128];

	stats_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Rows with every field set, some text hostile (quotes, SQL, bytes). */
static void
make_session(struct stats_session *s, int i)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "S%06d", i);
	s->start = 1790000000.25 + i;
	s->end = s->start + 1.5;
	snprintf(s->client_ip, sizeof(s->client_ip),
	    i % 2 ? "127.0.0.%d" : "::ffff:10.0.0.%d", i % 250);
	if (i % 3)
		snprintf(s->ptr, sizeof(s->ptr), "host%d.example", i);
	snprintf(s->helo, sizeof(s->helo), "h'%d\"); DROP TABLE x;--\x01", i);
	snprintf(s->helo_verdict, sizeof(s->helo_verdict), "%s",
	    i % 4 ? "pass" : "fail-nofqdn");
	s->tls = i % 2;
	s->messages = (unsigned)i % 7;
	s->rcpt_accepted = (unsigned)i % 5;
	s->rcpt_refused = (unsigned)i % 3;
	s->bytes = (uint64_t)i * 100000000ULL;
	snprintf(s->ended, sizeof(s->ended), "%s", i % 2 ? "quit" : "timeout");
}

static void
make_cbv(struct stats_cbv *c, int i)
{
	memset(c, 0, sizeof(*c));
	c->time = 1790000000.5 + i;
	snprintf(c->session_id, sizeof(c->session_id), "S%06d", i);
	snprintf(c->address, sizeof(c->address), "user%d@d%d.example", i, i);
	snprintf(c->domain, sizeof(c->domain), "d%d.example", i);
	snprintf(c->decided_by, sizeof(c->decided_by), "probe");
	snprintf(c->outcome, sizeof(c->outcome), i % 2 ? "pass" : "fail");
	snprintf(c->stage, sizeof(c->stage), i % 2 ? "done" : "rcpt");
	snprintf(c->mx_host, sizeof(c->mx_host), "mx.d%d.example", i);
	/* a full-length reply: the bound must hold, no overread */
	memset(c->reply, 'r', sizeof(c->reply) - 1);
	memcpy(c->reply, "550 5.1.1 no", 12);
	c->duration = 0.125 * i;
	c->rfc3821 = i % 2;
	c->enforced = 1;
}

static sqlite3 *
open_ro(void)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	return db;
}

static long long
count_rows(const char *table)
{
	sqlite3 *db = open_ro();
	sqlite3_stmt *st;
	char sql[64];
	long long n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
add_rows(int from, int to)
{
	struct stats_session s;
	struct stats_cbv c;
	int i;

	for (i = from; i < to; i++) {
		make_session(&s, i);
		stats_add_session(&s);
		make_cbv(&c, i);
		stats_add_cbv(&c);
	}
}

static const char *
col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? s : "(null)";
}

START_TEST(test_roundtrip)
{
	struct stats_session s;
	struct stats_cbv c;
	sqlite3 *db;
	sqlite3_stmt *st;
	int i = 0;

	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	add_rows(0, NROWS);
	ck_assert_uint_eq(stats_pending(), 2 * NROWS);
	stats_flush();
	ck_assert_uint_eq(stats_pending(), 0);

	db = open_ro();
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT id, start, \"end\","
	    " client_ip, ptr, helo, helo_verdict, tls, messages,"
	    " rcpt_accepted, rcpt_refused, bytes, ended FROM sessions"
	    " ORDER BY rowid", -1, &st, NULL), SQLITE_OK);
	for (i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		make_session(&s, i);
		ck_assert_str_eq(col(st, 0), s.id);
		ck_assert(sqlite3_column_double(st, 1) == s.start);
		ck_assert(sqlite3_column_double(st, 2) == s.end);
		ck_assert_str_eq(col(st, 3), s.client_ip);
		ck_assert_str_eq(col(st, 4), s.ptr);
		ck_assert_str_eq(col(st, 5), s.helo);
		ck_assert_str_eq(col(st, 6), s.helo_verdict);
		ck_assert_int_eq(sqlite3_column_int(st, 7), s.tls);
		ck_assert_int_eq(sqlite3_column_int(st, 8), s.messages);
		ck_assert_int_eq(sqlite3_column_int(st, 9), s.rcpt_accepted);
		ck_assert_int_eq(sqlite3_column_int(st, 10), s.rcpt_refused);
		ck_assert(sqlite3_column_int64(st, 11) == (sqlite3_int64)s.bytes);
		ck_assert_str_eq(col(st, 12), s.ended);
	}
	ck_assert_int_eq(i, NROWS);
	sqlite3_finalize(st);

	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT time, session_id,"
	    " address, domain, decided_by, outcome, stage, mx_host, reply,"
	    " duration, rfc3821, enforced FROM cbv ORDER BY rowid", -1, &st,
	    NULL), SQLITE_OK);
	for (i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		make_cbv(&c, i);
		ck_assert(sqlite3_column_double(st, 0) == c.time);
		ck_assert_str_eq(col(st, 1), c.session_id);
		ck_assert_str_eq(col(st, 2), c.address);
		ck_assert_str_eq(col(st, 3), c.domain);
		ck_assert_str_eq(col(st, 4), c.decided_by);
		ck_assert_str_eq(col(st, 5), c.outcome);
		ck_assert_str_eq(col(st, 6), c.stage);
		ck_assert_str_eq(col(st, 7), c.mx_host);
		ck_assert_str_eq(col(st, 8), c.reply);
		ck_assert_int_eq(sqlite3_column_bytes(st, 8),
		    (int)sizeof(c.reply) - 1);
		ck_assert(sqlite3_column_double(st, 9) == c.duration);
		ck_assert_int_eq(sqlite3_column_int(st, 10), c.rfc3821);
		ck_assert_int_eq(sqlite3_column_int(st, 11), c.enforced);
	}
	ck_assert_int_eq(i, NROWS);
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* A text field with no NUL inside its array is cut at the array's end. */
START_TEST(test_unterminated_field)
{
	struct stats_session s;
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	make_session(&s, 1);
	memset(s.ended, 'x', sizeof(s.ended));
	stats_add_session(&s);
	stats_flush();
	db = open_ro();
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT length(ended) FROM"
	    " sessions", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), (int)sizeof(s.ended));
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

static const struct {
	const char	*sql;
	const char	*want;
} pragma_rows[] = {
	{ "PRAGMA user_version", "2" },
	{ "PRAGMA journal_mode", "wal" },
	{ "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
	  " WHERE type = 'table' ORDER BY name)", "auth,cbv,cbv_cache,sessions" },
	{ "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
	  " WHERE type = 'index' AND sql IS NOT NULL ORDER BY name)",
	  "auth_time,cbv_time,sessions_start" },
	{ "SELECT group_concat(name, ',') FROM pragma_table_info('auth')",
	  "time,session_id,client_ip,mailfrom_domain,from_domain,spf_result,"
	  "spf_identity,spf_domain,dkim,dmarc_result,dmarc_policy,"
	  "disposition,reply_code" },
	{ "SELECT group_concat(name, ',') FROM pragma_table_info('cbv_cache')",
	  "address,outcome,stage,reply,mx_host,rfc3821,created,expires" },
	{ "SELECT pk FROM pragma_table_info('cbv_cache') WHERE"
	  " name = 'address'", "1" },
	{ "SELECT group_concat(name, ',') FROM pragma_table_info('sessions')",
	  "id,start,end,client_ip,ptr,helo,helo_verdict,tls,messages,"
	  "rcpt_accepted,rcpt_refused,bytes,ended" },
	{ "SELECT group_concat(name, ',') FROM pragma_table_info('cbv')",
	  "time,session_id,address,domain,decided_by,outcome,stage,mx_host,"
	  "reply,duration,rfc3821,enforced" },
};

START_TEST(test_schema)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	db = open_ro();
	ck_assert_int_eq(sqlite3_prepare_v2(db, pragma_rows[_i].sql, -1, &st,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq(col(st, 0), pragma_rows[_i].want);
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* auth rows: every field round-trips, "" is NULL, reply_code 0 is NULL. */
START_TEST(test_auth_rows)
{
	struct stats_auth a;
	sqlite3 *db;
	sqlite3_stmt *st;
	int i;

	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	for (i = 0; i < 3; i++) {
		memset(&a, 0, sizeof(a));
		a.time = 1790000000.5 + i;
		snprintf(a.session_id, sizeof(a.session_id), "S%d", i);
		snprintf(a.client_ip, sizeof(a.client_ip), "127.0.0.%d", i);
		if (i != 1)
			snprintf(a.mailfrom_domain, sizeof(a.mailfrom_domain),
			    "d'%d\".example", i);
		if (i == 2) {
			snprintf(a.spf_result, sizeof(a.spf_result), "fail");
			snprintf(a.spf_identity, sizeof(a.spf_identity),
			    "helo");
			snprintf(a.spf_domain, sizeof(a.spf_domain),
			    "h.example");
		}
		snprintf(a.disposition, sizeof(a.disposition), "%s",
		    i ? "refused" : "delivered");
		a.reply_code = i ? 550 + i : 0;
		stats_add_auth(&a);
	}
	ck_assert_uint_eq(stats_pending(), 3);
	stats_flush();
	ck_assert_uint_eq(stats_pending(), 0);
	db = open_ro();
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT time, session_id,"
	    " client_ip, quote(mailfrom_domain), quote(from_domain),"
	    " quote(spf_result), quote(spf_identity), quote(spf_domain),"
	    " quote(dkim), quote(dmarc_result), quote(dmarc_policy),"
	    " disposition, quote(reply_code) FROM auth ORDER BY rowid", -1,
	    &st, NULL), SQLITE_OK);
	static const char *const want[3][13] = {
		{ "", "S0", "127.0.0.0", "'d''0\".example'", "NULL", "NULL",
		  "NULL", "NULL", "NULL", "NULL", "NULL", "delivered",
		  "NULL" },
		{ "", "S1", "127.0.0.1", "NULL", "NULL", "NULL", "NULL",
		  "NULL", "NULL", "NULL", "NULL", "refused", "551" },
		{ "", "S2", "127.0.0.2", "'d''2\".example'", "NULL", "'fail'",
		  "'helo'", "'h.example'", "NULL", "NULL", "NULL", "refused",
		  "552" },
	};
	for (i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		int c;

		ck_assert_int_lt(i, 3);
		ck_assert(sqlite3_column_double(st, 0) == 1790000000.5 + i);
		for (c = 1; c < 13; c++)
			ck_assert_str_eq(col(st, c), want[i][c]);
	}
	ck_assert_int_eq(i, 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* A schema 1 file (before the auth table) keeps its rows and gains the
 * table at the next open. */
START_TEST(test_migrate_v1)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
	    "CREATE TABLE sessions (id TEXT, start REAL, \"end\" REAL,"
	    " client_ip TEXT, ptr TEXT, helo TEXT, helo_verdict TEXT,"
	    " tls INTEGER, messages INTEGER, rcpt_accepted INTEGER,"
	    " rcpt_refused INTEGER, bytes INTEGER, ended TEXT);"
	    "CREATE INDEX sessions_start ON sessions(start);"
	    "CREATE TABLE cbv (time REAL, session_id TEXT, address TEXT,"
	    " domain TEXT, decided_by TEXT, outcome TEXT, stage TEXT,"
	    " mx_host TEXT, reply TEXT, duration REAL, rfc3821 INTEGER,"
	    " enforced INTEGER);"
	    "CREATE INDEX cbv_time ON cbv(time);"
	    "CREATE TABLE cbv_cache (address TEXT PRIMARY KEY, outcome TEXT,"
	    " stage TEXT, reply TEXT, mx_host TEXT, rfc3821 INTEGER,"
	    " created REAL, expires REAL);"
	    "INSERT INTO sessions (id) VALUES ('old');"
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	ck_assert_int_eq(count_rows("sessions"), 1);
	ck_assert_int_eq(count_rows("auth"), 0);
}
END_TEST

START_TEST(test_reopen_keeps_rows)
{
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	add_rows(0, 10);
	stats_close();		/* close flushes */
	ck_assert_ptr_null(stats_handle());
	ck_assert_int_eq(count_rows("sessions"), 10);
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	ck_assert_int_eq(count_rows("sessions"), 10);
	add_rows(10, 15);
	stats_flush();
	ck_assert_int_eq(count_rows("sessions"), 15);
	ck_assert_int_eq(count_rows("cbv"), 15);
	/* stats_open twice: the first is flushed and closed */
	add_rows(15, 16);
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	ck_assert_int_eq(count_rows("sessions"), 16);
}
END_TEST

static int deferred_calls, deferred_null, deferred_in_tx;

static void
deferred_fn(struct sqlite3 *db, void *arg)
{
	sqlite3_stmt *st;

	deferred_calls++;
	if (db == NULL) {
		deferred_null++;
		free(arg);
		return;
	}
	deferred_in_tx += !sqlite3_get_autocommit(db);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO"
	    " cbv_cache (address, outcome, created, expires)"
	    " VALUES (?1, 'pass', 1, 2)", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	free(arg);
}

START_TEST(test_defer)
{
	deferred_calls = deferred_null = deferred_in_tx = 0;
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	stats_defer(deferred_fn, strdup("a@example.org"));
	stats_defer(deferred_fn, strdup("b@example.org"));
	ck_assert_int_eq(deferred_calls, 0);
	ck_assert_uint_eq(stats_pending(), 2);
	stats_flush();
	ck_assert_int_eq(deferred_calls, 2);
	ck_assert_int_eq(deferred_in_tx, 2);
	ck_assert_int_eq(count_rows("cbv_cache"), 2);
	/* still queued at close: called with NULL to free its argument */
	stats_close();
	ck_assert_int_eq(count_rows("cbv_cache"), 2);
}
END_TEST

/* Paths on which stats must be disabled, with mail still flowing. */
static const struct {
	const char	*path;	/* %s: the temp dir */
} bad_paths[] = {
	{ "" },
	{ "%s/missing/stats.db" },
	{ "%s/file/stats.db" },		/* "file" is a regular file */
	{ "%s/dir" },			/* the database is a directory */
};

START_TEST(test_disabled)
{
	char path[256], file[256];
	struct stats_session s;
	FILE *fp;

	snprintf(file, sizeof(file), "%s/file", tmpdir);
	ck_assert_ptr_nonnull(fp = fopen(file, "w"));
	fclose(fp);
	snprintf(file, sizeof(file), "%s/dir", tmpdir);
	ck_assert_int_eq(mkdir(file, 0700), 0);
	snprintf(path, sizeof(path), bad_paths[_i].path, tmpdir);
	ck_assert_int_eq(stats_open(NULL, path), -1);
	ck_assert_ptr_null(stats_handle());
	make_session(&s, 1);
	stats_add_session(&s);
	ck_assert_uint_eq(stats_pending(), 0);
	deferred_calls = deferred_null = 0;
	stats_defer(deferred_fn, strdup("x@example.org"));
	ck_assert_int_eq(deferred_null, 1);
	stats_flush();
	stats_close();
}
END_TEST

/* A directory we may not write: as root, the check runs as nobody. */
START_TEST(test_unwritable_dir)
{
	char dir[256], path[300];
	pid_t pid;
	int status;

	snprintf(dir, sizeof(dir), "%s/ro", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0555), 0);
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	snprintf(path, sizeof(path), "%s/stats.db", dir);
	if ((pid = fork()) == 0) {
		struct stats_session s;

		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(3);
		if (stats_open(NULL, path) != -1)
			_exit(1);
		make_session(&s, 1);
		stats_add_session(&s);
		_exit(stats_pending() == 0 && stats_handle() == NULL ? 0 : 2);
	}
	ck_assert_int_ne(pid, -1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(stats_open(NULL, dbpath), -1);
}
END_TEST

/* A writer holding the lock makes the flush fail; the rows wait and the
 * next flush writes them, once. */
START_TEST(test_busy_retry)
{
	sqlite3 *other;

	deferred_calls = deferred_null = deferred_in_tx = 0;
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	add_rows(0, 5);
	stats_defer(deferred_fn, strdup("c@example.org"));
	other = open_ro();
	ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	stats_flush();
	ck_assert_uint_eq(stats_pending(), 11);
	ck_assert_int_eq(deferred_calls, 0);
	ck_assert_int_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(other);
	stats_flush();
	ck_assert_uint_eq(stats_pending(), 0);
	ck_assert_int_eq(count_rows("sessions"), 5);
	ck_assert_int_eq(count_rows("cbv"), 5);
	ck_assert_int_eq(count_rows("cbv_cache"), 1);
	ck_assert_int_eq(deferred_calls, 1);
	ck_assert_int_eq(deferred_null, 0);
}
END_TEST

/* A transaction that dies after the rows were written (here a callback
 * breaks the contract and rolls back) keeps the rows for the next flush;
 * the callback that ran is not called again. */
static void
rollback_fn(struct sqlite3 *db, void *arg)
{
	(void)arg;
	deferred_calls++;
	if (db != NULL)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

START_TEST(test_rollback_retry)
{
	deferred_calls = 0;
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	add_rows(0, 3);
	stats_defer(rollback_fn, NULL);
	stats_flush();
	ck_assert_int_eq(deferred_calls, 1);
	ck_assert_uint_eq(stats_pending(), 6);
	ck_assert_int_eq(count_rows("sessions"), 0);
	stats_flush();
	ck_assert_int_eq(deferred_calls, 1);
	ck_assert_uint_eq(stats_pending(), 0);
	ck_assert_int_eq(count_rows("sessions"), 3);
	ck_assert_int_eq(count_rows("cbv"), 3);
}
END_TEST

/* Past the bound rows are dropped (and counted in one log line). */
START_TEST(test_queue_bound)
{
	struct stats_session s;
	int i;

	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	make_session(&s, 1);
	for (i = 0; i < 100005; i++)
		stats_add_session(&s);
	ck_assert_uint_eq(stats_pending(), 100000);
	stats_flush();
	ck_assert_uint_eq(stats_pending(), 0);
	ck_assert_int_eq(count_rows("sessions"), 100000);
}
END_TEST

static void
stop_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev;
	event_base_loopbreak(arg);
}

/* The 1-second timer writes the rows without anyone calling flush. */
START_TEST(test_timer_flush)
{
	struct event_base *base = event_base_new();
	struct timeval tv = { 1, 500000 };
	struct event *stop;

	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(stats_open(base, dbpath), 0);
	add_rows(0, 3);
	stop = evtimer_new(base, stop_cb, base);
	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	ck_assert_uint_eq(stats_pending(), 0);
	ck_assert_int_eq(count_rows("sessions"), 3);
	event_free(stop);
	stats_close();
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");
	SRunner *sr;
	int failed;

	log_init(1, 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_unterminated_field);
	tcase_add_loop_test(tc, test_schema, 0,
	    sizeof(pragma_rows) / sizeof(pragma_rows[0]));
	tcase_add_test(tc, test_auth_rows);
	tcase_add_test(tc, test_migrate_v1);
	tcase_add_test(tc, test_reopen_keeps_rows);
	tcase_add_test(tc, test_defer);
	tcase_add_loop_test(tc, test_disabled, 0,
	    sizeof(bad_paths) / sizeof(bad_paths[0]));
	tcase_add_test(tc, test_unwritable_dir);
	tcase_add_test(tc, test_newer_schema_refused);
	tcase_add_test(tc, test_busy_retry);
	tcase_add_test(tc, test_rollback_retry);
	tcase_add_test(tc, test_queue_bound);
	tcase_add_test(tc, test_timer_flush);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
