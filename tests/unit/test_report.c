/* test_report.c - unit tests of report.c: the exact 2003 layout, every
 * count from a database of known rows, the partition of the calls, the
 * date range, JSON, and the parsing of days.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "report.h"
#include "stats.h"

/* DESIGN §6, byte for byte. */
static const char sample_text[] =
	"Statistics: 2026-11-01 to 2026-11-28\n"
	"\n"
	"cbv calls          :    6834\n"
	"skips              :    4204\n"
	"-bad domain        :     323\n"
	"-no mx records     :       0\n"
	"-bad connects      :     583\n"
	"smtp sessions      :    1981\n"
	"-refused welcome   :      12\n"
	"-refused noop      :       0\n"
	"-refused helo      :       1\n"
	"-refused mail from :     129 ( 6.51%)\n"
	"-refused rcpt to   :    1060 (53.51%)\n";

static const struct report sample = {
	.cbv_calls = 6834, .skips = 4204, .bad_domain = 323, .no_mx = 0,
	.bad_connects = 583, .smtp_sessions = 1981, .refused_welcome = 12,
	.refused_noop = 0, .refused_helo = 1, .refused_mail = 129,
	.refused_rcpt = 1060, .dns_failures = 7, .accepted = 3270,
	.timeouts = 109, .rfc3821_peers = 50, .sessions = 10,
	.helo_refused = 4, .helo_logged = 2,
	.spf_pass = 900, .spf_fail = 12, .spf_softfail = 30,
	.spf_neutral = 4, .spf_none = 200, .spf_temperror = 1,
	.spf_permerror = 2, .spf_unchecked = 5,
	.dkim_pass = 800, .dkim_fail = 40, .dkim_none = 314,
	.dmarc_pass = 700, .dmarc_fail = 90, .dmarc_none = 300,
	.dmarc_temperror = 3, .dmarc_permerror = 6, .dmarc_unchecked = 55,
	.junk = 20, .refused_dmarc = 61,
};

/* The SPF, DKIM and DMARC lines of the sample, and of an empty report. */
#define SAMPLE_SPF \
	"\n" \
	"spf pass           :     900\n" \
	"spf fail           :      12\n" \
	"spf softfail       :      30\n" \
	"spf neutral        :       4\n" \
	"spf none           :     200\n" \
	"spf temperror      :       1\n" \
	"spf permerror      :       2\n" \
	"spf not checked    :       5\n" \
	"\n" \
	"dkim pass          :     800\n" \
	"dkim fail          :      40\n" \
	"dkim none          :     314\n" \
	"\n" \
	"dmarc pass         :     700\n" \
	"dmarc fail         :      90\n" \
	"dmarc none         :     300\n" \
	"dmarc temperror    :       3\n" \
	"dmarc permerror    :       6\n" \
	"dmarc not checked  :      55\n" \
	"-junk              :      20\n" \
	"-refused by dmarc  :      61\n"
#define ZERO_SPF \
	"\n" \
	"spf pass           :       0\n" \
	"spf fail           :       0\n" \
	"spf softfail       :       0\n" \
	"spf neutral        :       0\n" \
	"spf none           :       0\n" \
	"spf temperror      :       0\n" \
	"spf permerror      :       0\n" \
	"spf not checked    :       0\n" \
	"\n" \
	"dkim pass          :       0\n" \
	"dkim fail          :       0\n" \
	"dkim none          :       0\n" \
	"\n" \
	"dmarc pass         :       0\n" \
	"dmarc fail         :       0\n" \
	"dmarc none         :       0\n" \
	"dmarc temperror    :       0\n" \
	"dmarc permerror    :       0\n" \
	"dmarc not checked  :       0\n" \
	"-junk              :       0\n" \
	"-refused by dmarc  :       0\n"


static char tmpdir[64], dbpath[128];
static char *out;
static size_t outlen;

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_report.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/stats.db", tmpdir);
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	out = NULL;
}

static void
teardown(void)
{
	char cmd[128];

	stats_close();
	free(out);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
add_cbv(double t, const char *by, const char *outcome, const char *stage,
    const char *reply, int rfc3821, int n)
{
	struct stats_cbv c;

	memset(&c, 0, sizeof(c));
	c.time = t;
	snprintf(c.address, sizeof(c.address), "u@d.example");
	snprintf(c.domain, sizeof(c.domain), "d.example");
	snprintf(c.decided_by, sizeof(c.decided_by), "%s", by);
	snprintf(c.outcome, sizeof(c.outcome), "%s", outcome);
	snprintf(c.stage, sizeof(c.stage), "%s", stage);
	snprintf(c.reply, sizeof(c.reply), "%s", reply);
	c.rfc3821 = rfc3821;
	c.enforced = 1;
	while (n-- > 0)
		stats_add_cbv(&c);
}

static void
add_session(double t, const char *verdict, int n)
{
	struct stats_session s;

	memset(&s, 0, sizeof(s));
	s.start = t;
	s.end = t + 1;
	snprintf(s.helo_verdict, sizeof(s.helo_verdict), "%s", verdict);
	while (n-- > 0)
		stats_add_session(&s);
}

/* compute - flush what was added and report [since, until). */
static void
compute(double since, double until, struct report *r)
{
	sqlite3 *db;

	stats_flush();
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(report_compute(db, since, until, r), 0);
	sqlite3_close(db);
}

static void
print_text(const struct report *r, const char *since, const char *until)
{
	FILE *fp = open_memstream(&out, &outlen);

	ck_assert_ptr_nonnull(fp);
	report_print_text(fp, r, since, until);
	fclose(fp);
}

static void
assert_partition(const struct report *r)
{
	ck_assert_uint_eq(r->skips + r->bad_domain + r->no_mx +
	    r->dns_failures + r->bad_connects + r->smtp_sessions,
	    r->cbv_calls);
	ck_assert_uint_le(r->refused_welcome + r->refused_noop +
	    r->refused_helo + r->refused_mail + r->refused_rcpt,
	    r->smtp_sessions);
}

START_TEST(test_sample_layout)
{
	static const char ours[] =
	    "\n"
	    "-dns failures      :       7\n"
	    "-accepted          :    3270\n"
	    "-timeouts          :     109\n"
	    "rfc3821 peers      :      50\n"
	    "sessions           :      10\n"
	    "-helo refused      :       4\n"
	    "-helo logged       :       2\n"
	    SAMPLE_SPF;

	print_text(&sample, "2026-11-01", "2026-11-28");
	ck_assert_uint_ge(outlen, sizeof(sample_text) - 1);
	ck_assert_int_eq(strncmp(out, sample_text, sizeof(sample_text) - 1),
	    0);
	ck_assert_str_eq(out + sizeof(sample_text) - 1, ours);
}
END_TEST

/* A database whose counts are the sample's. The 2003 sample is not a
 * partition (its classes add up to 7091 > 6834), so skips here is what
 * makes ours one: 6834 - 323 - 0 - 7 - 583 - 1981 = 3940. */
START_TEST(test_sample_db)
{
	static const char *const probe_refusals[][3] = {
		/* stage, reply, count */
		{ "greeting", "554 5.7.1 go away", "12" },
		{ "helo", "550 5.5.2 bad helo", "1" },
		{ "mail", "550 5.7.1 no bounces here", "129" },
		{ "rcpt", "550 5.1.1 user unknown", "1000" },
		{ "rcpt", "450 4.2.0 greylisted", "60" },
	};
	const double t = 1790000000;
	struct report r;
	char *p;
	size_t i;

	add_cbv(t, "cache", "pass", "done", "250 ok", 0, 2000);
	add_cbv(t, "cache", "fail", "rcpt", "550 no", 0, 993);
	add_cbv(t, "dmp", "pass", "", "", 0, 500);
	add_cbv(t, "local", "fail", "", "", 0, 447);
	add_cbv(t, "dns", "fail", STATS_DNS_NXDOMAIN, "", 0, 323);
	add_cbv(t, "dns", "tempfail", STATS_DNS_TEMPFAIL, "", 0, 7);
	add_cbv(t, "probe", "tempfail", "connect", "connection refused", 0,
	    483);
	add_cbv(t, "probe", "tempfail", "connect", "timeout connecting", 0,
	    100);
	for (i = 0; i < sizeof(probe_refusals) / sizeof(probe_refusals[0]);
	    i++)
		add_cbv(t, "probe", strncmp(probe_refusals[i][1], "4", 1) ?
		    "fail" : "tempfail", probe_refusals[i][0],
		    probe_refusals[i][1], 0, atoi(probe_refusals[i][2]));
	/* a timeout at a stage is not a refusal at that stage */
	add_cbv(t, "probe", "tempfail", "greeting", "timeout waiting", 0, 9);
	add_cbv(t, "probe", "pass", "done", "250 2.1.5 ok", 1, 50);
	add_cbv(t, "probe", "pass", "done", "250 2.1.5 ok", 0, 720);
	add_session(t, "pass", 4);
	add_session(t, "fail-nofqdn", 2);
	add_session(t, "fail", 1);
	add_session(t, "tempfail-dns", 1);
	add_session(t, "log-fail-mismatch", 2);
	add_session(t, "Fail", 1);	/* case matters: not a refusal */
	compute(t - 1, t + 1, &r);

	ck_assert_uint_eq(r.cbv_calls, 6834);
	ck_assert_uint_eq(r.skips, 3940);
	ck_assert_uint_eq(r.bad_domain, 323);
	ck_assert_uint_eq(r.no_mx, 0);
	ck_assert_uint_eq(r.bad_connects, 583);
	ck_assert_uint_eq(r.smtp_sessions, 1981);
	ck_assert_uint_eq(r.refused_welcome, 12);
	ck_assert_uint_eq(r.refused_noop, 0);
	ck_assert_uint_eq(r.refused_helo, 1);
	ck_assert_uint_eq(r.refused_mail, 129);
	ck_assert_uint_eq(r.refused_rcpt, 1060);
	ck_assert_uint_eq(r.dns_failures, 7);
	ck_assert_uint_eq(r.accepted, 2000 + 500 + 770);
	ck_assert_uint_eq(r.timeouts, 109);
	ck_assert_uint_eq(r.rfc3821_peers, 50);
	ck_assert_uint_eq(r.sessions, 11);
	ck_assert_uint_eq(r.helo_refused, 4);
	ck_assert_uint_eq(r.helo_logged, 2);
	assert_partition(&r);

	/* The text equals the sample but for the skips line. */
	print_text(&r, "2026-11-01", "2026-11-28");
	ck_assert_ptr_nonnull(p = strstr(out, "skips              :    3940\n"));
	memcpy(p, "skips              :    4204\n", 29);
	ck_assert_int_eq(strncmp(out, sample_text, sizeof(sample_text) - 1),
	    0);
	ck_assert_str_eq(out + sizeof(sample_text) - 1,
	    "\n"
	    "-dns failures      :       7\n"
	    "-accepted          :    3270\n"
	    "-timeouts          :     109\n"
	    "rfc3821 peers      :      50\n"
	    "sessions           :      11\n"
	    "-helo refused      :       4\n"
	    "-helo logged       :       2\n"
	    ZERO_SPF);
}
END_TEST

/* One row of each kind, and the one class it must land in. */
#define F(x)	offsetof(struct report, x)
static const struct {
	const char	*by, *outcome, *stage, *reply;
	size_t		 cls;
	size_t		 extra;		/* a second counter it raises, or 0 */
} class_rows[] = {
	{ "cache", "pass", "done", "250 ok", F(skips), F(accepted) },
	{ "cache", "fail", "rcpt", "550 no", F(skips), 0 },
	{ "dmp", "fail", "", "", F(skips), 0 },
	{ "local", "fail", "", "", F(skips), 0 },
	{ "dns", "pass", STATS_DNS_OK, "", F(skips), F(accepted) },
	{ "something", "pass", "", "", F(skips), F(accepted) },
	{ "dns", "fail", STATS_DNS_NXDOMAIN, "", F(bad_domain), 0 },
	{ "dns", "fail", STATS_DNS_NOMX, "", F(no_mx), 0 },
	{ "dns", "fail", STATS_DNS_NULLMX, "", F(no_mx), 0 },
	{ "dns", "tempfail", STATS_DNS_TEMPFAIL, "", F(dns_failures), 0 },
	{ "dns", "pass", STATS_DNS_TEMPFAIL, "", F(dns_failures), F(accepted) },
	{ "probe", "tempfail", "connect", "connection refused",
	  F(bad_connects), 0 },
	{ "probe", "tempfail", "connect", "timeout after 10s",
	  F(bad_connects), F(timeouts) },
	{ "probe", "fail", "greeting", "554 no", F(smtp_sessions),
	  F(refused_welcome) },
	{ "probe", "tempfail", "greeting", "421 busy", F(smtp_sessions),
	  F(refused_welcome) },
	{ "probe", "tempfail", "greeting", "timeout", F(smtp_sessions),
	  F(timeouts) },
	{ "probe", "tempfail", "greeting", "connection closed",
	  F(smtp_sessions), 0 },
	{ "probe", "fail", "noop", "502 no", F(smtp_sessions),
	  F(refused_noop) },
	{ "probe", "fail", "helo", "550 no", F(smtp_sessions),
	  F(refused_helo) },
	{ "probe", "fail", "mail", "553 no", F(smtp_sessions),
	  F(refused_mail) },
	{ "probe", "fail", "rcpt", "550 5.1.1 no", F(smtp_sessions),
	  F(refused_rcpt) },
	{ "probe", "tempfail", "rcpt", "451 later", F(smtp_sessions),
	  F(refused_rcpt) },
	{ "probe", "tempfail", "rcpt", "garbage", F(smtp_sessions), 0 },
	{ "probe", "pass", "done", "250 ok", F(smtp_sessions), F(accepted) },
};
#undef F

static uint64_t
field(const struct report *r, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)r + off, sizeof(v));
	return v;
}

START_TEST(test_classes)
{
	const double t = 1790000000;
	struct report r;
	size_t off;

	add_cbv(t, class_rows[_i].by, class_rows[_i].outcome,
	    class_rows[_i].stage, class_rows[_i].reply, 0, 1);
	compute(t, t + 1, &r);
	ck_assert_uint_eq(r.cbv_calls, 1);
	assert_partition(&r);
	for (off = offsetof(struct report, skips); off < sizeof(r);
	    off += sizeof(uint64_t)) {
		uint64_t want = off == class_rows[_i].cls ||
		    (class_rows[_i].extra && off == class_rows[_i].extra);

		ck_assert_msg(field(&r, off) == want,
		    "row %d: counter at offset %zu is %llu, want %llu", _i,
		    off, (unsigned long long)field(&r, off),
		    (unsigned long long)want);
	}
}
END_TEST

/* [since, until): the first instant is in, the last is out. */
START_TEST(test_range)
{
	const double since = 1790000000, until = 1790086400;
	struct report r;

	add_cbv(since - 0.001, "cache", "pass", "", "", 0, 1);
	add_cbv(since, "cache", "pass", "", "", 0, 2);
	add_cbv(until - 0.001, "cache", "pass", "", "", 0, 4);
	add_cbv(until, "cache", "pass", "", "", 0, 8);
	add_session(since - 1, "pass", 1);
	add_session(since, "pass", 2);
	add_session(until, "pass", 4);
	compute(since, until, &r);
	ck_assert_uint_eq(r.cbv_calls, 6);
	ck_assert_uint_eq(r.sessions, 2);
	compute(0, 1, &r);
	ck_assert_uint_eq(r.cbv_calls, 0);
	ck_assert_uint_eq(r.sessions, 0);
}
END_TEST

START_TEST(test_empty)
{
	struct report r;

	compute(0, 1e10, &r);
	print_text(&r, "2026-01-01", "2026-01-01");
	ck_assert_str_eq(out,
	    "Statistics: 2026-01-01 to 2026-01-01\n"
	    "\n"
	    "cbv calls          :       0\n"
	    "skips              :       0\n"
	    "-bad domain        :       0\n"
	    "-no mx records     :       0\n"
	    "-bad connects      :       0\n"
	    "smtp sessions      :       0\n"
	    "-refused welcome   :       0\n"
	    "-refused noop      :       0\n"
	    "-refused helo      :       0\n"
	    "-refused mail from :       0 ( 0.00%)\n"
	    "-refused rcpt to   :       0 ( 0.00%)\n"
	    "\n"
	    "-dns failures      :       0\n"
	    "-accepted          :       0\n"
	    "-timeouts          :       0\n"
	    "rfc3821 peers      :       0\n"
	    "sessions           :       0\n"
	    "-helo refused      :       0\n"
	    "-helo logged       :       0\n"
	    ZERO_SPF);
}
END_TEST

START_TEST(test_json)
{
	FILE *fp = open_memstream(&out, &outlen);

	report_print_json(fp, &sample, "2026-11-01", "x\"\\\n");
	fclose(fp);
	ck_assert_str_eq(out,
	    "{\n"
	    "  \"since\": \"2026-11-01\",\n"
	    "  \"until\": \"x\\\"\\\\\\u000a\",\n"
	    "  \"cbv_calls\": 6834,\n"
	    "  \"skips\": 4204,\n"
	    "  \"bad_domain\": 323,\n"
	    "  \"no_mx_records\": 0,\n"
	    "  \"bad_connects\": 583,\n"
	    "  \"smtp_sessions\": 1981,\n"
	    "  \"refused_welcome\": 12,\n"
	    "  \"refused_noop\": 0,\n"
	    "  \"refused_helo\": 1,\n"
	    "  \"refused_mail_from\": 129,\n"
	    "  \"refused_rcpt_to\": 1060,\n"
	    "  \"dns_failures\": 7,\n"
	    "  \"accepted\": 3270,\n"
	    "  \"timeouts\": 109,\n"
	    "  \"rfc3821_peers\": 50,\n"
	    "  \"sessions\": 10,\n"
	    "  \"helo_refused\": 4,\n"
	    "  \"helo_logged\": 2,\n"
	    "  \"spf_pass\": 900,\n"
	    "  \"spf_fail\": 12,\n"
	    "  \"spf_softfail\": 30,\n"
	    "  \"spf_neutral\": 4,\n"
	    "  \"spf_none\": 200,\n"
	    "  \"spf_temperror\": 1,\n"
	    "  \"spf_permerror\": 2,\n"
	    "  \"spf_not_checked\": 5,\n"
	    "  \"dkim_pass\": 800,\n"
	    "  \"dkim_fail\": 40,\n"
	    "  \"dkim_none\": 314,\n"
	    "  \"dmarc_pass\": 700,\n"
	    "  \"dmarc_fail\": 90,\n"
	    "  \"dmarc_none\": 300,\n"
	    "  \"dmarc_temperror\": 3,\n"
	    "  \"dmarc_permerror\": 6,\n"
	    "  \"dmarc_not_checked\": 55,\n"
	    "  \"junk\": 20,\n"
	    "  \"refused_by_dmarc\": 61,\n"
	    "  \"refused_mail_from_percent\": 6.51,\n"
	    "  \"refused_rcpt_to_percent\": 53.51\n"
	    "}\n");
}
END_TEST

static const struct {
	const char	*in;
	int		 ok;
} day_rows[] = {
	{ "2026-11-01", 1 }, { "2026-12-31", 1 }, { "2024-02-29", 1 },
	{ "2000-02-29", 1 }, { "1970-01-01", 1 }, { "9999-12-31", 1 },
	{ "2026-02-29", 0 }, { "1900-02-29", 0 }, { "2100-02-29", 0 },
	{ "2026-13-01", 0 }, { "2026-00-10", 0 }, { "2026-04-31", 0 },
	{ "2026-11-00", 0 }, { "2026-11-1", 0 }, { "2026-1-01", 0 },
	{ "26-11-01", 0 }, { "2026/11/01", 0 }, { "2026-11-01 ", 0 },
	{ " 2026-11-01", 0 }, { "2026-11-01x", 0 }, { "", 0 },
	{ "1969-12-31", 0 }, { "+026-11-01", 0 }, { "2026-1a-01", 0 },
	{ "today", 0 },
};

START_TEST(test_parse_day)
{
	struct tm tm;

	ck_assert_int_eq(report_parse_day(day_rows[_i].in, &tm) == 0,
	    day_rows[_i].ok);
}
END_TEST

/* Local midnights across DST changes and year ends (a fixed POSIX TZ, so
 * no tzdata is needed). */
static const struct {
	const char	*day;
	int		 plus;
	double		 want;
} midnight_rows[] = {
	{ "2026-12-31", 1, 1798758000 },	/* 2027-01-01 00:00 CET */
	{ "2027-01-01", 0, 1798758000 },
	{ "2026-03-29", 0, 1774738800 },
	{ "2026-03-29", 1, 1774738800 + 23 * 3600 },	/* spring: 23 h */
	{ "2026-10-25", 1, 0 },		/* filled below: 25 h after start */
	{ "2024-02-28", 1, 1709161200 },	/* leap day */
};

START_TEST(test_day_start)
{
	struct tm tm;
	double want = midnight_rows[_i].want;

	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	ck_assert_int_eq(report_parse_day(midnight_rows[_i].day, &tm), 0);
	if (want == 0)
		want = report_day_start(&tm, 0) + 25 * 3600;
	ck_assert(report_day_start(&tm, midnight_rows[_i].plus) == want);
}
END_TEST

START_TEST(test_today)
{
	char buf[REPORT_DAY_LEN];
	struct tm tm;

	report_today(buf, sizeof(buf));
	ck_assert_int_eq(report_parse_day(buf, &tm), 0);
}
END_TEST

static void
add_auth(double t, const char *spf, int n)
{
	struct stats_auth a;

	memset(&a, 0, sizeof(a));
	a.time = t;
	snprintf(a.session_id, sizeof(a.session_id), "S1");
	snprintf(a.client_ip, sizeof(a.client_ip), "127.0.0.1");
	snprintf(a.spf_result, sizeof(a.spf_result), "%s", spf);
	snprintf(a.disposition, sizeof(a.disposition), "delivered");
	while (n-- > 0)
		stats_add_auth(&a);
}

/* The SPF lines count auth rows by result, in [since, until); a row
 * without a result is "not checked"; the eleven lines do not move. */
START_TEST(test_spf)
{
	static const char *const names[] = { "pass", "fail", "softfail",
		"neutral", "none", "temperror", "permerror", "" };
	const double t = 1790000000;
	struct report r;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		add_auth(t, names[i], (int)i + 1);
	add_auth(t - 1, "pass", 100);
	add_auth(t + 1, "pass", 100);
	add_auth(t, "Pass", 1000);	/* no such result: counted nowhere */
	compute(t, t + 1, &r);
	ck_assert_uint_eq(r.spf_pass, 1);
	ck_assert_uint_eq(r.spf_fail, 2);
	ck_assert_uint_eq(r.spf_softfail, 3);
	ck_assert_uint_eq(r.spf_neutral, 4);
	ck_assert_uint_eq(r.spf_none, 5);
	ck_assert_uint_eq(r.spf_temperror, 6);
	ck_assert_uint_eq(r.spf_permerror, 7);
	ck_assert_uint_eq(r.spf_unchecked, 8);
	ck_assert_uint_eq(r.cbv_calls, 0);
	print_text(&r, "2026-11-01", "2026-11-28");
	ck_assert_ptr_nonnull(strstr(out, "\n-helo logged       :       0\n"
	    "\n"
	    "spf pass           :       1\n"
	    "spf fail           :       2\n"
	    "spf softfail       :       3\n"
	    "spf neutral        :       4\n"
	    "spf none           :       5\n"
	    "spf temperror      :       6\n"
	    "spf permerror      :       7\n"
	    "spf not checked    :       8\n"));
}
END_TEST

/* One auth row of DKIM and DMARC results, as the daemon writes them
 * (strictmxctl(8) "Table auth"); "" is written as NULL. */
static void
add_dmarc(double t, const char *dkim, const char *dmarc, const char *policy,
    const char *disp, int code, int n)
{
	struct stats_auth a;

	memset(&a, 0, sizeof(a));
	a.time = t;
	snprintf(a.session_id, sizeof(a.session_id), "S2");
	snprintf(a.client_ip, sizeof(a.client_ip), "192.0.2.1");
	snprintf(a.from_domain, sizeof(a.from_domain), "example.org");
	snprintf(a.dkim, sizeof(a.dkim), "%s", dkim);
	snprintf(a.dmarc_result, sizeof(a.dmarc_result), "%s", dmarc);
	snprintf(a.dmarc_policy, sizeof(a.dmarc_policy), "%s", policy);
	snprintf(a.disposition, sizeof(a.disposition), "%s", disp);
	a.reply_code = code;
	while (n-- > 0)
		stats_add_auth(&a);
}

/* The DKIM lines classify the dkim column by its entries, the DMARC lines
 * count dmarc_result, -junk the quarantined messages and -refused by
 * dmarc only refusals that DMARC caused (550 for a p=reject failure, 451
 * for a temperror), not a size or bare-LF refusal of the same message. */
START_TEST(test_dkim_dmarc)
{
	const double t = 1790000000;
	struct report r;

	/* DKIM: 64 rows, no DMARC */
	add_dmarc(t, "pass d=a.example s=s1", "", "", "delivered", 0, 1);
	add_dmarc(t, "fail d=a.example s=s1; pass d=b.example s=s2", "", "",
	    "delivered", 0, 2);
	add_dmarc(t, "pass", "", "", "delivered", 0, 1);
	add_dmarc(t, "fail d=a.example s=s1", "", "", "delivered", 0, 4);
	add_dmarc(t, "temperror d=a.example s=s1; policy d=b.example s=s2",
	    "", "", "delivered", 0, 8);
	/* "pass" in a domain or selector is not a passing result */
	add_dmarc(t, "neutral d=pass.example s=pass; permerror d=x s=pass",
	    "", "", "delivered", 0, 16);
	add_dmarc(t, "", "", "", "delivered", 0, 32);
	/* DMARC: 4095 rows, no DKIM signature */
	add_dmarc(t, "", "pass", "reject", "delivered", 0, 1);
	add_dmarc(t, "", "fail", "reject", "refused", 550, 2);
	add_dmarc(t, "", "fail", "reject", "delivered", 0, 4);	/* log */
	add_dmarc(t, "", "fail", "quarantine", "junk", 0, 8);
	add_dmarc(t, "", "fail", "none", "delivered", 0, 16);
	add_dmarc(t, "", "temperror", "", "refused", 451, 32);
	add_dmarc(t, "", "temperror", "", "delivered", 0, 64);
	add_dmarc(t, "", "none", "", "delivered", 0, 128);
	add_dmarc(t, "", "permerror", "", "delivered", 0, 256);
	add_dmarc(t, "", "", "", "delivered", 0, 512);
	add_dmarc(t, "", "fail", "reject", "refused", 552, 1024);
	add_dmarc(t, "", "", "", "refused", 550, 2048);
	/* outside the period */
	add_dmarc(t - 1, "pass d=a s=b", "fail", "quarantine", "junk", 0, 7);
	add_dmarc(t + 1, "fail d=a s=b", "fail", "reject", "refused", 550, 7);
	compute(t, t + 1, &r);
	ck_assert_uint_eq(r.dkim_pass, 4);
	ck_assert_uint_eq(r.dkim_fail, 28);
	ck_assert_uint_eq(r.dkim_none, 32 + 4095);
	ck_assert_uint_eq(r.dmarc_pass, 1);
	ck_assert_uint_eq(r.dmarc_fail, 2 + 4 + 8 + 16 + 1024);
	ck_assert_uint_eq(r.dmarc_none, 128);
	ck_assert_uint_eq(r.dmarc_temperror, 32 + 64);
	ck_assert_uint_eq(r.dmarc_permerror, 256);
	ck_assert_uint_eq(r.dmarc_unchecked, 64 + 512 + 2048);
	ck_assert_uint_eq(r.junk, 8);
	ck_assert_uint_eq(r.refused_dmarc, 2 + 32);
	ck_assert_uint_eq(r.spf_unchecked, 64 + 4095);
	print_text(&r, "2026-11-01", "2026-11-28");
	ck_assert_ptr_nonnull(strstr(out,
	    "spf not checked    :    4159\n"
	    "\n"
	    "dkim pass          :       4\n"
	    "dkim fail          :      28\n"
	    "dkim none          :    4127\n"
	    "\n"
	    "dmarc pass         :       1\n"
	    "dmarc fail         :    1054\n"
	    "dmarc none         :     128\n"
	    "dmarc temperror    :      96\n"
	    "dmarc permerror    :     256\n"
	    "dmarc not checked  :    2624\n"
	    "-junk              :       8\n"
	    "-refused by dmarc  :      34\n"));
	/* they are the last lines */
	ck_assert_str_eq(out + strlen(out) - 29,
	    "-refused by dmarc  :      34\n");
}
END_TEST

/* A schema 1 file (no auth table) reports zero SPF lines, not an error:
 * strictmxctl opens it read-only and never migrates it. */
START_TEST(test_no_auth_table)
{
	struct report r;
	sqlite3 *db;

	stats_close();
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "DROP TABLE auth;"
	    " PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(report_compute(db, 0, 1e10, &r), 0);
	ck_assert_uint_eq(r.spf_unchecked, 0);
	sqlite3_close(db);
	/* the daemon's next open migrates it to schema 2 */
	ck_assert_int_eq(stats_open(NULL, dbpath), 0);
	add_auth(5, "pass", 1);
	compute(0, 10, &r);
	ck_assert_uint_eq(r.spf_pass, 1);
}
END_TEST

START_TEST(test_percent)
{
	ck_assert(report_percent(1, 0) == 0.0);
	ck_assert(report_percent(1, 4) == 25.0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");
	SRunner *sr;
	int failed;

	log_init(1, 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sample_layout);
	tcase_add_test(tc, test_sample_db);
	tcase_add_loop_test(tc, test_classes, 0,
	    sizeof(class_rows) / sizeof(class_rows[0]));
	tcase_add_test(tc, test_range);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_json);
	tcase_add_loop_test(tc, test_parse_day, 0,
	    sizeof(day_rows) / sizeof(day_rows[0]));
	tcase_add_loop_test(tc, test_day_start, 0,
	    sizeof(midnight_rows) / sizeof(midnight_rows[0]));
	tcase_add_test(tc, test_today);
	tcase_add_test(tc, test_percent);
	tcase_add_test(tc, test_spf);
	tcase_add_test(tc, test_no_auth_table);
	tcase_add_test(tc, test_dkim_dmarc);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
