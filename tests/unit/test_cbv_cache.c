/* test_cbv_cache.c - the CBV cache against a temporary SQLite database with
 * the cbv_cache schema: put, get, expiry, delete, flush, purge, list, the
 * cache key, and the daemon's overlay of writes not yet flushed.
 *
 * stats.c is replaced by the three functions cbv_cache.c uses, so that the
 * test decides when the "batched transaction" runs: link this file with
 * cbv_cache.c addr.c log.c xmalloc.c -lsqlite3 only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "addr.h"
#include "cbv_cache.h"
#include "stats.h"

/* The schema of stats.c (strictmxctl(8)). */
#define SCHEMA \
	"CREATE TABLE cbv_cache (address TEXT PRIMARY KEY, outcome TEXT," \
	" stage TEXT, reply TEXT, mx_host TEXT, rfc3821 INTEGER," \
	" created REAL, expires REAL);"

/* --- stand-ins for stats.c ------------------------------------------- */

static sqlite3 *test_db;		/* what stats_handle() returns */
static int test_stats_enabled = 1;
static struct { stats_defer_fn *fn; void *arg; } test_def[64];
static size_t test_ndef;

void *
stats_handle(void)
{
	return test_stats_enabled ? test_db : NULL;
}

void
stats_defer(stats_defer_fn *fn, void *arg)
{
	ck_assert_uint_lt(test_ndef, 64);
	test_def[test_ndef].fn = fn;
	test_def[test_ndef].arg = arg;
	test_ndef++;
}

/* test_flush - what stats.c's timer does: one transaction, every
 * deferred callback inside it. */
static void
test_flush(void)
{
	size_t i;

	ck_assert_int_eq(sqlite3_exec(test_db, "BEGIN", NULL, NULL, NULL),
	    SQLITE_OK);
	for (i = 0; i < test_ndef; i++)
		test_def[i].fn((struct sqlite3 *)test_db, test_def[i].arg);
	test_ndef = 0;
	ck_assert_int_eq(sqlite3_exec(test_db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
}

/* --- fixtures ---------------------------------------------------------- */

static char test_path[64];

static void
setup(void)
{
	int fd;

	snprintf(test_path, sizeof(test_path), "/tmp/test_cbv_cache.XXXXXX");
	fd = mkstemp(test_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(sqlite3_open(test_path, &test_db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(test_db, "PRAGMA journal_mode=WAL;"
	    SCHEMA, NULL, NULL, NULL), SQLITE_OK);
	test_stats_enabled = 1;
	test_ndef = 0;
}

static void
teardown(void)
{
	char p[96];

	/* Anything still deferred is handed a NULL db, as stats_close does. */
	while (test_ndef > 0) {
		test_ndef--;
		test_def[test_ndef].fn(NULL, test_def[test_ndef].arg);
	}
	cbv_cache_forget();
	sqlite3_close(test_db);
	test_db = NULL;
	unlink(test_path);
	snprintf(p, sizeof(p), "%s-wal", test_path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", test_path);
	unlink(p);
}

static struct cbv_cache_entry
entry(const char *address, const char *outcome, const char *stage,
    double created, double expires)
{
	struct cbv_cache_entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.address, sizeof(e.address), "%s", address);
	snprintf(e.outcome, sizeof(e.outcome), "%s", outcome);
	snprintf(e.stage, sizeof(e.stage), "%s", stage);
	snprintf(e.reply, sizeof(e.reply), "550 5.1.1 <%s>: no such user",
	    address);
	snprintf(e.mx_host, sizeof(e.mx_host), "mx.example.org");
	e.rfc3821 = 1;
	e.created = created;
	e.expires = expires;
	return e;
}

/* --- direct access --------------------------------------------------- */

START_TEST(test_put_get)
{
	struct cbv_cache_entry e = entry("a@example.org", "fail", "rcpt",
	    1000, 2000), g;

	ck_assert_int_eq(cbv_cache_get(test_db, "a@example.org", 1500, &g), 0);
	ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	ck_assert_int_eq(cbv_cache_get(test_db, "a@example.org", 1500, &g), 1);
	ck_assert_str_eq(g.address, "a@example.org");
	ck_assert_str_eq(g.outcome, "fail");
	ck_assert_str_eq(g.stage, "rcpt");
	ck_assert_str_eq(g.reply, "550 5.1.1 <a@example.org>: no such user");
	ck_assert_str_eq(g.mx_host, "mx.example.org");
	ck_assert_int_eq(g.rfc3821, 1);
	ck_assert(g.created == 1000 && g.expires == 2000);
	/* The key is exact: another case of the local part is another
	 * address (RFC 5321 §2.4). */
	ck_assert_int_eq(cbv_cache_get(test_db, "A@example.org", 1500, &g), 0);
	/* Replace. */
	e = entry("a@example.org", "pass", "rcpt", 1100, 3000);
	ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	ck_assert_int_eq(cbv_cache_get(test_db, "a@example.org", 2500, &g), 1);
	ck_assert_str_eq(g.outcome, "pass");
}
END_TEST

START_TEST(test_expiry)
{
	static const struct { double now; int want; } rows[] = {
		{ 999, 1 }, { 1999.9, 1 }, { 2000, 0 }, { 5000, 0 },
	};
	struct cbv_cache_entry e = entry("b@example.org", "tempfail",
	    "connect", 900, 2000), g;
	size_t i;

	ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ck_assert_msg(cbv_cache_get(test_db, "b@example.org",
		    rows[i].now, &g) == rows[i].want, "row %zu", i);
	/* Purge removes what is expired at the time given, nothing else. */
	e = entry("c@example.org", "pass", "rcpt", 900, 9000);
	ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	ck_assert_int_eq(cbv_cache_purge(test_db, 1500), 0);
	ck_assert_int_eq(cbv_cache_purge(test_db, 2000), 1);
	ck_assert_int_eq(cbv_cache_get(test_db, "c@example.org", 2000, &g), 1);
}
END_TEST

static int
count_cb(const struct cbv_cache_entry *e, void *arg)
{
	char *seen = arg;

	strcat(seen, e->address);
	strcat(seen, " ");
	return 0;
}

START_TEST(test_delete_flush_list)
{
	static const char *const addrs[] = {
		"z@example.org", "a@example.net", "m@example.com",
	};
	struct cbv_cache_entry e;
	char seen[256] = "";
	size_t i;

	for (i = 0; i < 3; i++) {
		e = entry(addrs[i], "fail", "rcpt", 1, 10);
		ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	}
	/* Expired entries are listed too (strictmxctl marks them). */
	ck_assert_int_eq(cbv_cache_list(test_db, count_cb, seen), 3);
	ck_assert_str_eq(seen,
	    "a@example.net m@example.com z@example.org ");
	ck_assert_int_eq(cbv_cache_delete(test_db, "m@example.com"), 1);
	ck_assert_int_eq(cbv_cache_delete(test_db, "m@example.com"), 0);
	ck_assert_int_eq(cbv_cache_flush(test_db), 2);
	ck_assert_int_eq(cbv_cache_flush(test_db), 0);
	seen[0] = '\0';
	ck_assert_int_eq(cbv_cache_list(test_db, count_cb, seen), 0);
	/* No table: an error, never a crash. */
	ck_assert_int_eq(sqlite3_exec(test_db, "DROP TABLE cbv_cache", NULL,
	    NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(cbv_cache_get(test_db, "x@example.org", 1, &e), -1);
	ck_assert_int_eq(cbv_cache_flush(test_db), -1);
	ck_assert_int_eq(cbv_cache_get(NULL, "x@example.org", 1, &e), -1);
}
END_TEST

/* Untrusted text goes through bound parameters: no injection. */
START_TEST(test_sql_text)
{
	struct cbv_cache_entry e = entry("\"x'; DROP TABLE cbv_cache; --\""
	    "@example.org", "fail", "rcpt", 1, 10), g;

	ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	ck_assert_int_eq(cbv_cache_get(test_db, e.address, 5, &g), 1);
	ck_assert_str_eq(g.address, e.address);
}
END_TEST

/* --- the key ------------------------------------------------------------ */

START_TEST(test_key)
{
	static const struct { const char *in, *want; } rows[] = {
		{ "<Alice@Example.ORG>", "Alice@example.org" },
		{ "<a.b+tag@example.org>", "a.b+tag@example.org" },
		{ "<\"a.b\"@example.org>", "a.b@example.org" },
		{ "<\"john smith\"@example.org>",
		  "\"john smith\"@example.org" },
		{ "<\"a\\\"b\"@example.org>", "\"a\\\"b\"@example.org" },
		{ "<\"a..b\"@example.org>", "\"a..b\"@example.org" },
		{ "<\".a\"@example.org>", "\".a\"@example.org" },
		{ "<@relay.example:u@example.org>", "u@example.org" },
	};
	struct mailaddr a;
	const char *rest;
	char buf[SMTP_PATH_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ck_assert_msg(addr_parse(rows[i].in, &a, &rest, 0) == ADDR_OK,
		    "parse %s", rows[i].in);
		ck_assert_uint_eq(cbv_cache_key(&a, buf, sizeof(buf)),
		    strlen(rows[i].want));
		ck_assert_str_eq(buf, rows[i].want);
	}
	/* Too small a buffer: 0 and "". */
	ck_assert_int_eq(addr_parse("<alice@example.org>", &a, &rest, 0),
	    ADDR_OK);
	ck_assert_uint_eq(cbv_cache_key(&a, buf, 5), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

/* --- the daemon's side ------------------------------------------------ */

START_TEST(test_overlay)
{
	struct cbv_cache_entry e = entry("o@example.org", "pass", "rcpt", 1,
	    1e12), g;

	/* Written, not yet flushed: found in memory, not in the table. */
	cbv_cache_store(&e);
	ck_assert_uint_eq(test_ndef, 1);
	ck_assert_int_eq(cbv_cache_get(test_db, "o@example.org", 2, &g), 0);
	ck_assert_int_eq(cbv_cache_lookup("o@example.org", 2, &g), 1);
	ck_assert_str_eq(g.outcome, "pass");
	/* A newer pending write wins over an older one. */
	e = entry("o@example.org", "fail", "rcpt", 2, 1e12);
	cbv_cache_store(&e);
	ck_assert_int_eq(cbv_cache_lookup("o@example.org", 3, &g), 1);
	ck_assert_str_eq(g.outcome, "fail");
	/* Flushed: in the table, and strictmxctl's delete takes effect. */
	test_flush();
	ck_assert_int_eq(cbv_cache_get(test_db, "o@example.org", 3, &g), 1);
	ck_assert_str_eq(g.outcome, "fail");
	ck_assert_int_eq(cbv_cache_lookup("o@example.org", 3, &g), 1);
	ck_assert_int_eq(cbv_cache_delete(test_db, "o@example.org"), 1);
	ck_assert_int_eq(cbv_cache_lookup("o@example.org", 3, &g), 0);
	/* An expired pending entry is a miss (and hides the table's). */
	e = entry("p@example.org", "pass", "rcpt", 1, 100);
	ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
	e = entry("p@example.org", "pass", "rcpt", 1, 5);
	cbv_cache_store(&e);
	ck_assert_int_eq(cbv_cache_lookup("p@example.org", 10, &g), 0);
	/* A purge is deferred too. */
	cbv_cache_purge_later(1e13);
	test_flush();
	ck_assert_int_eq(cbv_cache_list(test_db, count_cb,
	    (char[256]){ 0 }), 0);
}
END_TEST

START_TEST(test_disabled)
{
	struct cbv_cache_entry e = entry("d@example.org", "pass", "rcpt", 1,
	    1e12), g;

	test_stats_enabled = 0;
	cbv_cache_store(&e);
	cbv_cache_purge_later(5);
	ck_assert_uint_eq(test_ndef, 0);
	ck_assert_int_eq(cbv_cache_lookup("d@example.org", 2, &g), 0);
}
END_TEST

/* A write that reaches a NULL db (stats closing) frees its job and still
 * lets the overlay go. */
START_TEST(test_null_db_job)
{
	struct cbv_cache_entry e = entry("n@example.org", "pass", "rcpt", 1,
	    1e12), g;

	cbv_cache_store(&e);
	test_ndef--;
	test_def[0].fn(NULL, test_def[0].arg);
	ck_assert_int_eq(cbv_cache_lookup("n@example.org", 2, &g), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cbv_cache");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failures;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_delete_flush_list);
	tcase_add_test(tc, test_sql_text);
	tcase_add_test(tc, test_key);
	tcase_add_test(tc, test_overlay);
	tcase_add_test(tc, test_disabled);
	tcase_add_test(tc, test_null_db_job);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
