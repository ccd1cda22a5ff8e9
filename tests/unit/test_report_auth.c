/* test_report_auth.c - unit tests of report_auth.c, the DMARC aggregate
 * view: a database filled through the daemon's own writer (stats.c) with
 * every disposition, several From: domains and client IPs and rows on
 * both sides of the period's bounds; the exact text and JSON, the order,
 * the grouping, hostile text, and the agreement with the stats lines.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "report.h"
#include "report_auth.h"
#include "stats.h"

/* The period: one day, [T0, T1). */
#define T0	1790000000.0
#define T1	(T0 + 86400)

/* The rows, as the daemon writes them (strictmxctl(8) "Table auth");
 * "" is written as NULL. */
static const struct {
	double		 t;
	const char	*from, *ip, *spf, *dkim, *dmarc, *policy, *disp;
	int		 code, n;
} rows[] = {
	{ T0, "example.org", "192.0.2.1", "pass",
	  "pass d=example.org s=2026", "pass", "reject", "delivered", 0, 3 },
	/* the same domain in other case: the same row of the view */
	{ T0 + 5, "Example.ORG", "192.0.2.1", "pass",
	  "pass d=example.org s=2026", "pass", "reject", "delivered", 0, 1 },
	{ T0, "example.org", "198.51.100.7", "fail",
	  "fail d=example.org s=2026", "fail", "reject", "refused", 550, 1 },
	{ T0, "example.org", "198.51.100.7", "fail", "", "fail", "reject",
	  "refused", 550, 1 },
	{ T0, "example.org", "203.0.113.9", "softfail",
	  "fail d=list.example s=k1; pass d=example.org s=2026", "pass",
	  "reject", "delivered", 0, 1 },
	{ T0, "quar.example", "192.0.2.50", "none", "", "fail", "quarantine",
	  "junk", 0, 2 },
	{ T0, "quar.example", "192.0.2.50", "none", "", "temperror", "",
	  "refused", 451, 1 },
	/* too big: refused, but not by DMARC */
	{ T0, "quar.example", "192.0.2.50", "none", "", "fail", "quarantine",
	  "refused", 552, 1 },
	{ T0, "pnone.example", "192.0.2.60", "neutral",
	  "neutral d=pnone.example s=a", "fail", "none", "delivered", 0, 1 },
	{ T0, "pnone.example", "192.0.2.60", "temperror", "", "none", "",
	  "delivered", 0, 1 },
	/* the last instant of the period */
	{ T1 - 0.001, "perm.example", "192.0.2.80", "permerror",
	  "permerror d=perm.example s=x", "permerror", "", "delivered", 0, 1 },
	/* no From: domain (none, or several): DMARC off too */
	{ T0, "", "192.0.2.71", "", "", "", "", "delivered", 0, 2 },
	{ T0, "", "192.0.2.70", "", "", "", "", "delivered", 0, 1 },
	/* hostile bytes from a header: escaped in text, valid JSON */
	{ T0, "b\x01\"\xff.example", "192.0.2.90", "pass", "", "none", "",
	  "delivered", 0, 1 },
	/* outside the period */
	{ T0 - 0.001, "outside.example", "192.0.2.1", "pass", "", "none", "",
	  "delivered", 0, 5 },
	{ T1, "outside.example", "192.0.2.1", "pass", "", "none", "",
	  "delivered", 0, 5 },
};

static const char want_text[] =
	    "FROM                   CLIENT        MSGS  "
	    "SPF                    DKIM           "
	    "DMARC               POLICY        DISPOSITION\n"
	    "b\\x01\\x22\\xff.example  192.0.2.90       1  "
	    "pass:1                 none:1         "
	    "none:1              -             delivered:1\n"
	    "example.org            192.0.2.1        4  "
	    "pass:4                 pass:4         "
	    "pass:4              reject:4      delivered:4\n"
	    "example.org            198.51.100.7     2  "
	    "fail:2                 fail:1 none:1  "
	    "fail:2              reject:2      refused_by_dmarc:2\n"
	    "example.org            203.0.113.9      1  "
	    "softfail:1             pass:1         "
	    "pass:1              reject:1      delivered:1\n"
	    "perm.example           192.0.2.80       1  "
	    "permerror:1            fail:1         "
	    "permerror:1         -             delivered:1\n"
	    "pnone.example          192.0.2.60       2  "
	    "neutral:1 temperror:1  fail:1 none:1  "
	    "fail:1 none:1       none:1        delivered:2\n"
	    "quar.example           192.0.2.50       4  "
	    "none:4                 none:4         "
	    "fail:3 temperror:1  quarantine:3  junk:2 refused_by_dmarc:1 refused_other:1\n"
	    "(none)                 192.0.2.71       2  "
	    "not_checked:2          none:2         "
	    "not_checked:2       -             delivered:2\n"
	    "(none)                 192.0.2.70       1  "
	    "not_checked:1          none:1         "
	    "not_checked:1       -             delivered:1\n"
;

/* One JSON object: the counts in the order of the keys. */
#define J(from, ip, n, sp, sf, ss, sn, so, st, sm, sx, kp, kf, kn, \
	    dp, df, dn, dt, dm, dx, pn, pq, pr, dl, jk, rd, ro) \
	"{\"from_domain\": " from ", \"client_ip\": \"" ip "\"," \
	" \"messages\": " #n ", \"spf_pass\": " #sp ", \"spf_fail\": " #sf \
	", \"spf_softfail\": " #ss ", \"spf_neutral\": " #sn \
	", \"spf_none\": " #so ", \"spf_temperror\": " #st \
	", \"spf_permerror\": " #sm ", \"spf_not_checked\": " #sx \
	", \"dkim_pass\": " #kp ", \"dkim_fail\": " #kf \
	", \"dkim_none\": " #kn ", \"dmarc_pass\": " #dp \
	", \"dmarc_fail\": " #df ", \"dmarc_none\": " #dn \
	", \"dmarc_temperror\": " #dt ", \"dmarc_permerror\": " #dm \
	", \"dmarc_not_checked\": " #dx ", \"policy_none\": " #pn \
	", \"policy_quarantine\": " #pq ", \"policy_reject\": " #pr \
	", \"delivered\": " #dl ", \"junk\": " #jk \
	", \"refused_by_dmarc\": " #rd ", \"refused_other\": " #ro "}"

static const char want_json[] =
	"[\n  "
	J("\"b\\u0001\\\"\\ufffd.example\"", "192.0.2.90", 1,
	    1, 0, 0, 0, 0, 0, 0, 0,  0, 0, 1,  0, 0, 1, 0, 0, 0,  0, 0, 0,
	    1, 0, 0, 0) ",\n  "
	J("\"example.org\"", "192.0.2.1", 4,
	    4, 0, 0, 0, 0, 0, 0, 0,  4, 0, 0,  4, 0, 0, 0, 0, 0,  0, 0, 4,
	    4, 0, 0, 0) ",\n  "
	J("\"example.org\"", "198.51.100.7", 2,
	    0, 2, 0, 0, 0, 0, 0, 0,  0, 1, 1,  0, 2, 0, 0, 0, 0,  0, 0, 2,
	    0, 0, 2, 0) ",\n  "
	J("\"example.org\"", "203.0.113.9", 1,
	    0, 0, 1, 0, 0, 0, 0, 0,  1, 0, 0,  1, 0, 0, 0, 0, 0,  0, 0, 1,
	    1, 0, 0, 0) ",\n  "
	J("\"perm.example\"", "192.0.2.80", 1,
	    0, 0, 0, 0, 0, 0, 1, 0,  0, 1, 0,  0, 0, 0, 0, 1, 0,  0, 0, 0,
	    1, 0, 0, 0) ",\n  "
	J("\"pnone.example\"", "192.0.2.60", 2,
	    0, 0, 0, 1, 0, 1, 0, 0,  0, 1, 1,  0, 1, 1, 0, 0, 0,  1, 0, 0,
	    2, 0, 0, 0) ",\n  "
	J("\"quar.example\"", "192.0.2.50", 4,
	    0, 0, 0, 0, 4, 0, 0, 0,  0, 0, 4,  0, 3, 0, 1, 0, 0,  0, 3, 0,
	    0, 2, 1, 1) ",\n  "
	J("null", "192.0.2.71", 2,
	    0, 0, 0, 0, 0, 0, 0, 2,  0, 0, 2,  0, 0, 0, 0, 0, 2,  0, 0, 0,
	    2, 0, 0, 0) ",\n  "
	J("null", "192.0.2.70", 1,
	    0, 0, 0, 0, 0, 0, 0, 1,  0, 0, 1,  0, 0, 0, 0, 0, 1,  0, 0, 0,
	    1, 0, 0, 0) "\n"
	"]\n";

static char tmpdir[64], dbpath[128];
static char *out;
static size_t outlen;
static struct report_auth_row *got;
static size_t ngot;

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_report_auth.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/stats.db", tmpdir);
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	out = NULL;
	got = NULL;
	ngot = 0;
}

static void
teardown(void)
{
	char cmd[128];

	stats_close();
	free(out);
	free(got);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
fill(void)
{
	struct stats_auth a;
	size_t i;
	int n;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&a, 0, sizeof(a));
		a.time = rows[i].t;
		snprintf(a.session_id, sizeof(a.session_id), "S%zu", i);
		snprintf(a.client_ip, sizeof(a.client_ip), "%s", rows[i].ip);
		snprintf(a.mailfrom_domain, sizeof(a.mailfrom_domain),
		    "bounce.example");
		snprintf(a.from_domain, sizeof(a.from_domain), "%s",
		    rows[i].from);
		snprintf(a.spf_result, sizeof(a.spf_result), "%s",
		    rows[i].spf);
		if (rows[i].spf[0] != '\0') {
			snprintf(a.spf_identity, sizeof(a.spf_identity),
			    "mailfrom");
			snprintf(a.spf_domain, sizeof(a.spf_domain),
			    "bounce.example");
		}
		snprintf(a.dkim, sizeof(a.dkim), "%s", rows[i].dkim);
		snprintf(a.dmarc_result, sizeof(a.dmarc_result), "%s",
		    rows[i].dmarc);
		snprintf(a.dmarc_policy, sizeof(a.dmarc_policy), "%s",
		    rows[i].policy);
		snprintf(a.disposition, sizeof(a.disposition), "%s",
		    rows[i].disp);
		a.reply_code = rows[i].code;
		for (n = 0; n < rows[i].n; n++)
			stats_add_auth(&a);
	}
	stats_flush();
}

/* compute - the view of [since, until) into got/ngot. */
static void
compute(double since, double until)
{
	sqlite3 *db;

	free(got);
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(report_auth_compute(db, since, until, &got, &ngot),
	    0);
	sqlite3_close(db);
}

static void
print(int json)
{
	FILE *fp;

	free(out);
	out = NULL;
	ck_assert_ptr_nonnull(fp = open_memstream(&out, &outlen));
	if (json)
		report_auth_print_json(fp, got, ngot);
	else
		report_auth_print_text(fp, got, ngot);
	fclose(fp);
}

START_TEST(test_text)
{
	fill();
	compute(T0, T1);
	ck_assert_uint_eq(ngot, 9);
	print(0);
	ck_assert_str_eq(out, want_text);
}
END_TEST

START_TEST(test_json)
{
	fill();
	compute(T0, T1);
	print(1);
	ck_assert_str_eq(out, want_json);
}
END_TEST

/* The bounds: the first instant is in, the end is out; the day before
 * and the day after hold only the outside rows. */
START_TEST(test_bounds)
{
	fill();
	compute(T0 - 86400, T0);
	ck_assert_uint_eq(ngot, 1);
	ck_assert_str_eq(got[0].from_domain, "outside.example");
	ck_assert_uint_eq(got[0].messages, 5);
	compute(T1, T1 + 86400);
	ck_assert_uint_eq(ngot, 1);
	ck_assert_uint_eq(got[0].messages, 5);
	compute(T1 - 0.001, T1);
	ck_assert_uint_eq(ngot, 1);
	ck_assert_str_eq(got[0].from_domain, "perm.example");
	compute(T0, T0 + 1);
	ck_assert_uint_eq(ngot, 8);	/* all but perm.example */
	compute(0, 1);
	ck_assert_uint_eq(ngot, 0);
}
END_TEST

/* Summed over the rows, the view gives the stats lines of the period. */
START_TEST(test_agrees_with_stats)
{
	struct report r;
	uint64_t sum[REPORT_AUTH_LAST] = { 0 }, msgs = 0;
	sqlite3 *db;
	size_t i, k;

	fill();
	compute(T0, T1);
	for (i = 0; i < ngot; i++) {
		msgs += got[i].messages;
		for (k = 0; k < REPORT_AUTH_LAST; k++)
			sum[k] += got[i].n[k];
	}
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(report_compute(db, T0, T1, &r), 0);
	sqlite3_close(db);
	ck_assert_uint_eq(msgs, 18);
	ck_assert_uint_eq(sum[REPORT_AUTH_SPF_PASS], r.spf_pass);
	ck_assert_uint_eq(sum[REPORT_AUTH_SPF_NOT_CHECKED], r.spf_unchecked);
	ck_assert_uint_eq(sum[REPORT_AUTH_DKIM_PASS], r.dkim_pass);
	ck_assert_uint_eq(sum[REPORT_AUTH_DKIM_FAIL], r.dkim_fail);
	ck_assert_uint_eq(sum[REPORT_AUTH_DKIM_NONE], r.dkim_none);
	ck_assert_uint_eq(sum[REPORT_AUTH_DMARC_PASS], r.dmarc_pass);
	ck_assert_uint_eq(sum[REPORT_AUTH_DMARC_FAIL], r.dmarc_fail);
	ck_assert_uint_eq(sum[REPORT_AUTH_DMARC_NONE], r.dmarc_none);
	ck_assert_uint_eq(sum[REPORT_AUTH_DMARC_TEMPERROR],
	    r.dmarc_temperror);
	ck_assert_uint_eq(sum[REPORT_AUTH_DMARC_PERMERROR],
	    r.dmarc_permerror);
	ck_assert_uint_eq(sum[REPORT_AUTH_DMARC_NOT_CHECKED],
	    r.dmarc_unchecked);
	ck_assert_uint_eq(sum[REPORT_AUTH_JUNK], r.junk);
	ck_assert_uint_eq(sum[REPORT_AUTH_REFUSED_BY_DMARC], r.refused_dmarc);
	/* the dispositions partition the messages */
	ck_assert_uint_eq(sum[REPORT_AUTH_DELIVERED] + sum[REPORT_AUTH_JUNK] +
	    sum[REPORT_AUTH_REFUSED_BY_DMARC] +
	    sum[REPORT_AUTH_REFUSED_OTHER], msgs);
	ck_assert_uint_eq(r.dkim_pass + r.dkim_fail + r.dkim_none, msgs);
}
END_TEST

START_TEST(test_empty)
{
	compute(T0, T1);
	ck_assert_uint_eq(ngot, 0);
	print(0);
	ck_assert_str_eq(out, "FROM  CLIENT  MSGS  SPF  DKIM  DMARC  POLICY"
	    "  DISPOSITION\n");
	print(1);
	ck_assert_str_eq(out, "[]\n");
}
END_TEST

/* A schema 1 file has no auth table: no rows, not an error. */
START_TEST(test_no_auth_table)
{
	sqlite3 *db;

	fill();
	stats_close();
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE auth;"
	    " PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	compute(0, 1e10);
	ck_assert_uint_eq(ngot, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("report_auth");
	TCase *tc = tcase_create("report_auth");
	SRunner *sr;
	int failed;

	log_init(1, 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_agrees_with_stats);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_no_auth_table);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
