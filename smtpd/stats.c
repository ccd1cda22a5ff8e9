/* stats.c - the stats database (DESIGN §6): rows are copied into bounded
 * in-memory queues on the loop and a 1-second timer writes them in ONE
 * transaction, so a session never waits on SQLite or on the disk.
 *
 *	stats_open - open (create, migrate) the file and arm the flush timer;
 *		-1 (logged) leaves stats disabled and every add a no-op
 *	stats_add_session, stats_add_cbv, stats_add_auth - queue one row
 *		(copied)
 *	stats_defer - run a callback inside the next batched transaction
 *	stats_flush - write everything queued now (shutdown, tests)
 *	stats_pending - rows and callbacks still queued
 *	stats_close - flush (waiting a little longer for locks) and close
 *	stats_handle - the sqlite3 * for readers (cbv_cache.c), NULL if disabled
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "log.h"
#include "stats.h"
#include "xmalloc.h"

#define STATS_QUEUE_MAX		100000	/* rows + callbacks held in memory */
#define STATS_FLUSH_SEC		1
#define STATS_BUSY_MS		100	/* the loop may wait this long, once */
#define STATS_CLOSE_BUSY_MS	2000	/* at shutdown we may wait longer */
#define STATS_CLOSE_TRIES	3
#define STATS_SHRINK_CAP	4096	/* free a backlog's memory past this */

/* Schema migration: step N turns a version N-1 file into version N, each
 * in its own transaction together with PRAGMA user_version = N. A new
 * file runs every step. "end" is quoted: END is an SQL keyword. */
struct stats_step {
	int		 version;
	const char	*sql;
};

static const struct stats_step stats_steps[] = {
	{ 1,
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
	  " created REAL, expires REAL);" },
	/* 2: sender authentication (DESIGN §8), one row per message that
	 * reached the end of DATA. */
	{ 2,
	  "CREATE TABLE auth (time REAL, session_id TEXT, client_ip TEXT,"
	  " mailfrom_domain TEXT, from_domain TEXT, spf_result TEXT,"
	  " spf_identity TEXT, spf_domain TEXT, dkim TEXT, dmarc_result TEXT,"
	  " dmarc_policy TEXT, disposition TEXT, reply_code INTEGER);"
	  "CREATE INDEX auth_time ON auth(time);" },
};
#define STATS_NSTEPS	(sizeof(stats_steps) / sizeof(stats_steps[0]))

enum stats_sql {
	STATS_SQL_BEGIN,
	STATS_SQL_COMMIT,
	STATS_SQL_ROLLBACK,
	STATS_SQL_SESSION,
	STATS_SQL_CBV,
	STATS_SQL_AUTH,
	STATS_SQL_LAST,
};

/* Prepared once at open, reset per row. BEGIN IMMEDIATE takes the write
 * lock up front, so SQLITE_BUSY can only happen there, before any work. */
static const char *const stats_sql_text[STATS_SQL_LAST] = {
	[STATS_SQL_BEGIN] = "BEGIN IMMEDIATE",
	[STATS_SQL_COMMIT] = "COMMIT",
	[STATS_SQL_ROLLBACK] = "ROLLBACK",
	[STATS_SQL_SESSION] = "INSERT INTO sessions (id, start, \"end\","
	    " client_ip, ptr, helo, helo_verdict, tls, messages,"
	    " rcpt_accepted, rcpt_refused, bytes, ended)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	[STATS_SQL_CBV] = "INSERT INTO cbv (time, session_id, address, domain,"
	    " decided_by, outcome, stage, mx_host, reply, duration, rfc3821,"
	    " enforced)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[STATS_SQL_AUTH] = "INSERT INTO auth (time, session_id, client_ip,"
	    " mailfrom_domain, from_domain, spf_result, spf_identity,"
	    " spf_domain, dkim, dmarc_result, dmarc_policy, disposition,"
	    " reply_code)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
};

struct stats_deferred {
	stats_defer_fn	*fn;
	void		*arg;
};

static struct {
	sqlite3			*db;
	struct event		*timer;
	sqlite3_stmt		*stmt[STATS_SQL_LAST];
	struct stats_session	*sess;
	size_t			 nsess, sesscap;
	struct stats_cbv	*cbv;
	size_t			 ncbv, cbvcap;
	struct stats_auth	*auth;
	size_t			 nauth, authcap;
	struct stats_deferred	*def;
	size_t			 ndef, defcap;
	unsigned long		 dropped;	/* since the last flush */
	int			 failing;	/* last flush failed */
} stats;

static int	stats_flush_now(void);

/* stats_exec - run a script of constant SQL (no untrusted text ever goes
 * here: data is bound to the prepared statements above). */
static int
stats_exec(sqlite3 *db, const char *sql)
{
	const char *tail = sql;
	sqlite3_stmt *st;
	int rc;

	while (*tail != '\0') {
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK)
			return -1;
		if (st == NULL)		/* only whitespace or a comment left */
			break;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* stats_pragma_int - read a one-integer pragma such as user_version. */
static int
stats_pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* stats_migrate - bring the file to STATS_SCHEMA_VERSION one step at a time.
 * The version is re-read under the write lock, so two processes opening a
 * new file at once do not both create it. */
static int
stats_migrate(sqlite3 *db, const char *path)
{
	char sql[64];
	size_t i;
	int v;

	for (i = 0; i < STATS_NSTEPS; i++) {
		if (stats_exec(db, "BEGIN IMMEDIATE") < 0)
			goto fail;
		if (stats_pragma_int(db, "PRAGMA user_version", &v) < 0)
			goto fail_tx;
		if (v > STATS_SCHEMA_VERSION) {
			log_warn("stats: %s: schema version %d is newer than"
			    " this build's %d", path, v, STATS_SCHEMA_VERSION);
			stats_exec(db, "ROLLBACK");
			return -1;
		}
		if (v >= stats_steps[i].version) {
			stats_exec(db, "ROLLBACK");
			continue;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    stats_steps[i].version);
		if (stats_exec(db, stats_steps[i].sql) < 0 ||
		    stats_exec(db, sql) < 0 || stats_exec(db, "COMMIT") < 0)
			goto fail_tx;
		log_info("stats: %s: schema version %d", path,
		    stats_steps[i].version);
	}
	return 0;
fail_tx:
	log_warn("stats: %s: schema: %s", path, sqlite3_errmsg(db));
	if (!sqlite3_get_autocommit(db))
		stats_exec(db, "ROLLBACK");
	return -1;
fail:
	log_warn("stats: %s: schema: %s", path, sqlite3_errmsg(db));
	return -1;
}

/* stats_check_dir - the directory must exist and be writable by us: SQLite
 * creates the -wal and -shm files next to the database. */
static int
stats_check_dir(const char *path)
{
	char dir[4096];
	const char *slash;
	struct stat sb;
	size_t n;

	slash = strrchr(path, '/');
	if (slash == NULL)
		n = (size_t)snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		n = (size_t)snprintf(dir, sizeof(dir), "/");
	else
		n = (size_t)snprintf(dir, sizeof(dir), "%.*s",
		    (int)(slash - path), path);
	if (n >= sizeof(dir)) {
		log_warn("stats: %s: path too long; stats disabled", path);
		return -1;
	}
	if (stat(dir, &sb) < 0) {
		log_warn("stats: %s: directory %s: %s; stats disabled", path,
		    dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		log_warn("stats: %s: %s is not a directory; stats disabled",
		    path, dir);
		return -1;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		log_warn("stats: %s: directory %s not writable: %s;"
		    " stats disabled", path, dir, strerror(errno));
		return -1;
	}
	if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) < 0 &&
	    errno != ENOENT) {
		log_warn("stats: %s: not writable: %s; stats disabled", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* stats_prepare_db - open, set WAL, migrate, prepare; NULL on failure. */
static sqlite3 *
stats_prepare_db(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	const char *mode = NULL;
	int i;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_db_readonly(db, "main") == 1) {
		log_warn("stats: %s: opened read-only; stats disabled", path);
		goto close;
	}
	/* A few ms of waiting on strictmxctl's lock, never more. */
	sqlite3_busy_timeout(db, STATS_BUSY_MS);
	/* WAL: readers (strictmxctl) never block our writes, and with
	 * synchronous=NORMAL a commit does not fsync; a crash may lose the
	 * last second of statistics, never corrupt the file. */
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st,
	    NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		mode = (const char *)sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0)
		log_warn("stats: %s: journal_mode is %s, not wal", path,
		    mode ? mode : "unknown");
	sqlite3_finalize(st);
	if (stats_exec(db, "PRAGMA synchronous=NORMAL") < 0)
		goto fail;
	/* Checkpoints fsync: the checkpoint thread runs them, not the loop. */
	sqlite3_wal_autocheckpoint(db, 0);
	if (stats_migrate(db, path) < 0)
		goto close;
	for (i = 0; i < STATS_SQL_LAST; i++)
		if (sqlite3_prepare_v3(db, stats_sql_text[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &stats.stmt[i], NULL) !=
		    SQLITE_OK)
			goto fail;
	return db;
fail:
	log_warn("stats: %s: %s; stats disabled", path,
	    db ? sqlite3_errmsg(db) : "out of memory");
close:
	for (i = 0; i < STATS_SQL_LAST; i++) {
		sqlite3_finalize(stats.stmt[i]);
		stats.stmt[i] = NULL;
	}
	sqlite3_close(db);
	return NULL;
}

/* The checkpoint thread. A WAL checkpoint copies pages into the database
 * and fsyncs it; on the loop that would stall every session on a slow disk
 * (STYLE 6), so one thread with a connection of its own does it, every
 * STATS_CKPT_SEC. PASSIVE never waits for our writer. */
#define STATS_CKPT_SEC	10

static struct {
	pthread_t	 thread;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 running;
	int		 stop;
	char		 path[4096];
} stats_ckpt = { .mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER };

static void *
stats_ckpt_main(void *arg __unused)
{
	sqlite3 *db = NULL;
	struct timespec ts;

	if (sqlite3_open_v2(stats_ckpt.path, &db, SQLITE_OPEN_READWRITE,
	    NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 1000);
	pthread_mutex_lock(&stats_ckpt.mu);
	while (!stats_ckpt.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += STATS_CKPT_SEC;
		pthread_cond_timedwait(&stats_ckpt.cv, &stats_ckpt.mu, &ts);
		if (stats_ckpt.stop)
			break;
		pthread_mutex_unlock(&stats_ckpt.mu);
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE,
		    NULL, NULL);
		pthread_mutex_lock(&stats_ckpt.mu);
	}
	pthread_mutex_unlock(&stats_ckpt.mu);
	sqlite3_close(db);
	return NULL;
}

static void
stats_ckpt_start(const char *path)
{
	if ((size_t)snprintf(stats_ckpt.path, sizeof(stats_ckpt.path), "%s",
	    path) >= sizeof(stats_ckpt.path))
		return;
	stats_ckpt.stop = 0;
	if (pthread_create(&stats_ckpt.thread, NULL, stats_ckpt_main,
	    NULL) == 0)
		stats_ckpt.running = 1;
	else
		log_warn("stats: no checkpoint thread; the WAL will grow");
}

static void
stats_ckpt_stop(void)
{
	if (!stats_ckpt.running)
		return;
	pthread_mutex_lock(&stats_ckpt.mu);
	stats_ckpt.stop = 1;
	pthread_cond_signal(&stats_ckpt.cv);
	pthread_mutex_unlock(&stats_ckpt.mu);
	pthread_join(stats_ckpt.thread, NULL);
	stats_ckpt.running = 0;
}

/* stats_flush_cb - the persistent 1-second timer. */
static void
stats_flush_cb(evutil_socket_t fd __unused, short ev __unused,
    void *arg __unused)
{
	stats_flush_now();
}

/* stats_open - open the database at path and start flushing every second
 * on base (base NULL: no timer, the caller flushes). Creates the file and
 * its schema when new. -1, logged, means stats are disabled: every add is
 * then a no-op and mail flows anyway. A second call closes the first. */
int
stats_open(struct event_base *base, const char *path)
{
	struct timeval tv = { STATS_FLUSH_SEC, 0 };

	stats_close();
	if (path == NULL || *path == '\0') {
		log_warn("stats: no stats_db; stats disabled");
		return -1;
	}
	if (stats_check_dir(path) < 0)
		return -1;
	if ((stats.db = stats_prepare_db(path)) == NULL)
		return -1;
	if (base != NULL) {
		stats.timer = event_new(base, -1, EV_PERSIST, stats_flush_cb,
		    NULL);
		if (stats.timer == NULL || evtimer_add(stats.timer, &tv) < 0) {
			log_warn("stats: cannot arm the flush timer;"
			    " stats disabled");
			stats_close();
			return -1;
		}
	}
	stats_ckpt_start(path);
	log_debug("stats: %s open", path);
	return 0;
}

/* stats_room - 1 when one more row or callback fits in memory. */
static int
stats_room(void)
{
	if (stats.nsess + stats.ncbv + stats.nauth + stats.ndef <
	    STATS_QUEUE_MAX)
		return 1;
	stats.dropped++;
	return 0;
}

/* stats_add_session - queue a copy of one session row. */
void
stats_add_session(const struct stats_session *row)
{
	if (stats.db == NULL || row == NULL || !stats_room())
		return;
	if (stats.nsess == stats.sesscap) {
		stats.sesscap = stats.sesscap ? stats.sesscap * 2 : 64;
		stats.sess = xreallocarray(stats.sess, stats.sesscap,
		    sizeof(*stats.sess));
	}
	stats.sess[stats.nsess++] = *row;
}

/* stats_add_cbv - queue a copy of one sender-check row. */
void
stats_add_cbv(const struct stats_cbv *row)
{
	if (stats.db == NULL || row == NULL || !stats_room())
		return;
	if (stats.ncbv == stats.cbvcap) {
		stats.cbvcap = stats.cbvcap ? stats.cbvcap * 2 : 64;
		stats.cbv = xreallocarray(stats.cbv, stats.cbvcap,
		    sizeof(*stats.cbv));
	}
	stats.cbv[stats.ncbv++] = *row;
}

/* stats_add_auth - queue a copy of one message's authentication row. */
void
stats_add_auth(const struct stats_auth *row)
{
	if (stats.db == NULL || row == NULL || !stats_room())
		return;
	if (stats.nauth == stats.authcap) {
		stats.authcap = stats.authcap ? stats.authcap * 2 : 64;
		stats.auth = xreallocarray(stats.auth, stats.authcap,
		    sizeof(*stats.auth));
	}
	stats.auth[stats.nauth++] = *row;
}

/* stats_defer - run fn(db, arg) inside the next flush transaction, so that
 * every write of the daemon (cbv_cache.c's too) shares one transaction a
 * second. fn must not BEGIN/COMMIT nor call stats_*(); it owns arg and
 * frees it. It is called exactly once: with db NULL when stats are
 * disabled, the queue is full or the database closes without a flush, so
 * that it can free arg. A transaction that fails after fn ran loses fn's
 * writes (the cache is only a cache: the cost is one more probe); one that
 * fails at BEGIN (another writer's lock) keeps fn queued for the retry. */
void
stats_defer(stats_defer_fn *fn, void *arg)
{
	if (fn == NULL)
		return;
	if (stats.db == NULL || !stats_room()) {
		fn(NULL, arg);
		return;
	}
	if (stats.ndef == stats.defcap) {
		stats.defcap = stats.defcap ? stats.defcap * 2 : 16;
		stats.def = xreallocarray(stats.def, stats.defcap,
		    sizeof(*stats.def));
	}
	stats.def[stats.ndef].fn = fn;
	stats.def[stats.ndef].arg = arg;
	stats.ndef++;
}

/* stats_text - bind a fixed-size text field, never reading past it. */
static int
stats_text(sqlite3_stmt *st, int col, const char *s, size_t size)
{
	return sqlite3_bind_text(st, col, s, (int)strnlen(s, size),
	    SQLITE_STATIC);
}

#define STATS_TEXT(st, col, row, f) \
	stats_text((st), (col), (row)->f, sizeof((row)->f))

/* stats_text_null - the same, but "" is NULL (a value not known). */
static int
stats_text_null(sqlite3_stmt *st, int col, const char *s, size_t size)
{
	if (size == 0 || s[0] == '\0')
		return sqlite3_bind_null(st, col);
	return stats_text(st, col, s, size);
}

#define STATS_TEXT_NULL(st, col, row, f) \
	stats_text_null((st), (col), (row)->f, sizeof((row)->f))

/* stats_step - step one bound insert, then reset it for the next row. */
static int
stats_step(sqlite3_stmt *st, int bound)
{
	int rc = bound == SQLITE_OK ? sqlite3_step(st) : bound;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
stats_write_session(const struct stats_session *r)
{
	sqlite3_stmt *st = stats.stmt[STATS_SQL_SESSION];
	int rc = SQLITE_OK;

	rc |= STATS_TEXT(st, 1, r, id);
	rc |= sqlite3_bind_double(st, 2, r->start);
	rc |= sqlite3_bind_double(st, 3, r->end);
	rc |= STATS_TEXT(st, 4, r, client_ip);
	rc |= STATS_TEXT(st, 5, r, ptr);
	rc |= STATS_TEXT(st, 6, r, helo);
	rc |= STATS_TEXT(st, 7, r, helo_verdict);
	rc |= sqlite3_bind_int(st, 8, r->tls != 0);
	rc |= sqlite3_bind_int64(st, 9, r->messages);
	rc |= sqlite3_bind_int64(st, 10, r->rcpt_accepted);
	rc |= sqlite3_bind_int64(st, 11, r->rcpt_refused);
	rc |= sqlite3_bind_int64(st, 12, r->bytes > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)r->bytes);
	rc |= STATS_TEXT(st, 13, r, ended);
	return stats_step(st, rc);
}

static int
stats_write_cbv(const struct stats_cbv *r)
{
	sqlite3_stmt *st = stats.stmt[STATS_SQL_CBV];
	int rc = SQLITE_OK;

	rc |= sqlite3_bind_double(st, 1, r->time);
	rc |= STATS_TEXT(st, 2, r, session_id);
	rc |= STATS_TEXT(st, 3, r, address);
	rc |= STATS_TEXT(st, 4, r, domain);
	rc |= STATS_TEXT(st, 5, r, decided_by);
	rc |= STATS_TEXT(st, 6, r, outcome);
	rc |= STATS_TEXT(st, 7, r, stage);
	rc |= STATS_TEXT(st, 8, r, mx_host);
	rc |= STATS_TEXT(st, 9, r, reply);
	rc |= sqlite3_bind_double(st, 10, r->duration);
	rc |= sqlite3_bind_int(st, 11, r->rfc3821 != 0);
	rc |= sqlite3_bind_int(st, 12, r->enforced != 0);
	return stats_step(st, rc);
}

static int
stats_write_auth(const struct stats_auth *r)
{
	sqlite3_stmt *st = stats.stmt[STATS_SQL_AUTH];
	int rc = SQLITE_OK;

	rc |= sqlite3_bind_double(st, 1, r->time);
	rc |= STATS_TEXT(st, 2, r, session_id);
	rc |= STATS_TEXT(st, 3, r, client_ip);
	rc |= STATS_TEXT_NULL(st, 4, r, mailfrom_domain);
	rc |= STATS_TEXT_NULL(st, 5, r, from_domain);
	rc |= STATS_TEXT_NULL(st, 6, r, spf_result);
	rc |= STATS_TEXT_NULL(st, 7, r, spf_identity);
	rc |= STATS_TEXT_NULL(st, 8, r, spf_domain);
	rc |= STATS_TEXT_NULL(st, 9, r, dkim);
	rc |= STATS_TEXT_NULL(st, 10, r, dmarc_result);
	rc |= STATS_TEXT_NULL(st, 11, r, dmarc_policy);
	rc |= STATS_TEXT(st, 12, r, disposition);
	rc |= r->reply_code > 0 ? sqlite3_bind_int(st, 13, r->reply_code) :
	    sqlite3_bind_null(st, 13);
	return stats_step(st, rc);
}

/* stats_shrink - after a backlog is written, give its memory back. */
static void
stats_shrink(void)
{
	if (stats.sesscap > STATS_SHRINK_CAP) {
		free(stats.sess);
		stats.sess = NULL, stats.sesscap = 0;
	}
	if (stats.cbvcap > STATS_SHRINK_CAP) {
		free(stats.cbv);
		stats.cbv = NULL, stats.cbvcap = 0;
	}
	if (stats.authcap > STATS_SHRINK_CAP) {
		free(stats.auth);
		stats.auth = NULL, stats.authcap = 0;
	}
	if (stats.defcap > STATS_SHRINK_CAP) {
		free(stats.def);
		stats.def = NULL, stats.defcap = 0;
	}
}

/* stats_flush_now - write every queued row and run every deferred callback
 * in one transaction. On failure the rows stay queued for the next tick;
 * a failure is logged once, and so is the recovery. */
static int
stats_flush_now(void)
{
	char why[256];
	size_t i, ran = 0, nrows;

	if (stats.dropped > 0) {
		log_warn("stats: queue full (%d rows): %lu rows dropped",
		    STATS_QUEUE_MAX, stats.dropped);
		stats.dropped = 0;
	}
	nrows = stats.nsess + stats.ncbv + stats.nauth;
	if (stats.db == NULL || nrows + stats.ndef == 0)
		return 0;
	if (stats_step(stats.stmt[STATS_SQL_BEGIN], SQLITE_OK) < 0)
		goto fail;
	for (i = 0; i < stats.nsess; i++)
		if (stats_write_session(&stats.sess[i]) < 0)
			goto rollback;
	for (i = 0; i < stats.ncbv; i++)
		if (stats_write_cbv(&stats.cbv[i]) < 0)
			goto rollback;
	for (i = 0; i < stats.nauth; i++)
		if (stats_write_auth(&stats.auth[i]) < 0)
			goto rollback;
	for (ran = 0; ran < stats.ndef; ran++)
		stats.def[ran].fn(stats.db, stats.def[ran].arg);
	/* An I/O error or SQLITE_FULL inside fn may have ended the
	 * transaction already; COMMIT would then fail and we retry. */
	if (stats_step(stats.stmt[STATS_SQL_COMMIT], SQLITE_OK) < 0)
		goto rollback;
	if (stats.failing)
		log_warn("stats: writing again, %zu rows written", nrows);
	stats.failing = 0;
	stats.nsess = stats.ncbv = stats.nauth = stats.ndef = 0;
	stats_shrink();
	return 0;
rollback:
	/* Keep the reason: ROLLBACK would overwrite sqlite3_errmsg(). */
	snprintf(why, sizeof(why), "%s", sqlite3_errmsg(stats.db));
	if (!sqlite3_get_autocommit(stats.db))
		stats_step(stats.stmt[STATS_SQL_ROLLBACK], SQLITE_OK);
	if (!stats.failing)
		log_warn("stats: flush of %zu rows failed, will retry: %s",
		    nrows, why);
	goto failed;
fail:
	if (!stats.failing)
		log_warn("stats: flush of %zu rows failed, will retry: %s",
		    nrows, sqlite3_errmsg(stats.db));
failed:
	stats.failing = 1;
	/* The callbacks that ran have freed their arguments: drop them. */
	if (ran > 0) {
		memmove(stats.def, stats.def + ran, (stats.ndef - ran) *
		    sizeof(*stats.def));
		stats.ndef -= ran;
	}
	return -1;
}

/* stats_flush - write everything queued now (SIGTERM, tests). */
void
stats_flush(void)
{
	stats_flush_now();
}

/* stats_pending - rows and callbacks queued and not yet written. */
size_t
stats_pending(void)
{
	return stats.nsess + stats.ncbv + stats.nauth + stats.ndef;
}

/* stats_close - flush, waiting up to STATS_CLOSE_BUSY_MS for a lock a
 * reader holds (no row is lost on SIGTERM), then close. Safe to call when
 * disabled or twice. */
void
stats_close(void)
{
	size_t i;
	int try;

	if (stats.timer != NULL) {
		event_free(stats.timer);
		stats.timer = NULL;
	}
	stats_ckpt_stop();
	if (stats.db != NULL) {
		sqlite3_busy_timeout(stats.db, STATS_CLOSE_BUSY_MS);
		for (try = 0; try < STATS_CLOSE_TRIES; try++)
			if (stats_flush_now() == 0)
				break;
		if (stats.nsess + stats.ncbv + stats.nauth > 0)
			log_warn("stats: %zu rows lost at close",
			    stats.nsess + stats.ncbv + stats.nauth);
	}
	for (i = 0; i < stats.ndef; i++)
		stats.def[i].fn(NULL, stats.def[i].arg);
	for (i = 0; i < STATS_SQL_LAST; i++) {
		sqlite3_finalize(stats.stmt[i]);
		stats.stmt[i] = NULL;
	}
	/* close_v2: a statement cbv_cache.c still holds on the handle keeps
	 * the connection alive until it is finalized, instead of failing. */
	if (stats.db != NULL)
		sqlite3_close_v2(stats.db);
	stats.db = NULL;
	free(stats.sess);
	free(stats.cbv);
	free(stats.auth);
	free(stats.def);
	memset(&stats, 0, sizeof(stats));
}

/* stats_handle - the open database for readers such as cbv_cache.c (a
 * lookup by primary key is fast enough for the loop); NULL if disabled. */
void *
stats_handle(void)
{
	return stats.db;
}
