/* test_sender.c - the return-path policy: the decisions taken without DNS
 * (off, null, exempt, local-domain spoofing, dmp_table, cache), dmp_table
 * errors, the EHLO words, and the reply for every DNS and probe result.
 * With STRICTMX_DNS_TEST=1 (run_sender_test.sh: dnsmasq and a scripted MX
 * in a private network namespace) it also runs the DNS and probe paths.
 *
 * Link with sender.c sender_verdict.c sender_dmp.c cbv_cache.c cbv.c
 * cbv_smtp.c resolver.c addr.c cidr.c log.c xmalloc.c (-levent -ludns
 * -lsqlite3); stats.c is replaced below, to see every cbv row.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "addr.h"
#include "cbv.h"
#include "cbv_cache.h"
#include "cidr.h"
#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "sender.h"
#include "sender_verdict.h"
#include "stats.h"

/* --- stand-ins for stats.c: rows kept, deferred writes run on demand ---- */

#define TEST_ROWS_MAX	64
static struct stats_cbv test_rows[TEST_ROWS_MAX];
static size_t test_nrows;
static sqlite3 *test_db;
static struct { stats_defer_fn *fn; void *arg; } test_def[64];
static size_t test_ndef;

void
stats_add_cbv(const struct stats_cbv *row)
{
	ck_assert_uint_lt(test_nrows, TEST_ROWS_MAX);
	test_rows[test_nrows++] = *row;
}

void *
stats_handle(void)
{
	return test_db;
}

void
stats_defer(stats_defer_fn *fn, void *arg)
{
	if (test_db == NULL || test_ndef == 64) {
		fn(NULL, arg);
		return;
	}
	test_def[test_ndef].fn = fn;
	test_def[test_ndef].arg = arg;
	test_ndef++;
}

static void
test_stats_flush(void)
{
	size_t i;

	for (i = 0; i < test_ndef; i++)
		test_def[i].fn((struct sqlite3 *)test_db, test_def[i].arg);
	test_ndef = 0;
}

/* --- a configuration built by hand ------------------------------------ */

static char *test_domains[] = { "example.com", "example.net" };
static char test_dmp_path[64];
static struct conf test_conf;

static void
test_conf_init(const char *dmp)
{
	FILE *fp;
	int fd;

	memset(&test_conf, 0, sizeof(test_conf));
	test_conf.hostname = "mx.example.com";
	test_conf.domains = test_domains;
	test_conf.ndomains = 2;
	test_conf.sender_policy = POLICY_ENFORCE;
	test_conf.cbv = 1;
	test_conf.cbv_timeout = 10;
	test_conf.cbv_connect_timeout = 5;
	test_conf.cbv_max_mx = 3;
	test_conf.cbv_noop = 1;
	test_conf.cbv_probe_sender = "";
	test_conf.cbv_on_tempfail = VERDICT_TEMPFAIL;
	test_conf.cbv_on_refused_early = VERDICT_TEMPFAIL;
	test_conf.cbv_on_refused_mail = VERDICT_REJECT;
	test_conf.cbv_on_unverifiable = VERDICT_ACCEPT;
	test_conf.cbv_cache_positive = 7 * 86400;
	test_conf.cbv_cache_negative = 7200;
	test_conf.cbv_cache_tempfail = 300;
	test_conf.cbv_max_concurrent = 50;
	test_conf.cbv_max_per_domain = 5;
	/* every row probes afresh: the rate bounds (issue 12) stay out of
	 * the way here; test_cbv_guard.py tests them */
	test_conf.cbv_max_per_client_minute = 100000;
	test_conf.cbv_max_per_domain_minute = 100000;
	ck_assert_int_eq(cidr_list_add(&test_conf.exempt_clients,
	    "198.51.100.7"), 0);
	ck_assert_int_eq(cidr_list_add(&test_conf.local_sender_networks,
	    "192.0.2.0/24"), 0);
	ck_assert_int_eq(cidr_list_add(&test_conf.local_sender_networks,
	    "2001:db8:1::/48"), 0);
	if (dmp == NULL)
		return;
	snprintf(test_dmp_path, sizeof(test_dmp_path),
	    "/tmp/test_sender_dmp.XXXXXX");
	ck_assert_int_ge(fd = mkstemp(test_dmp_path), 0);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	fputs(dmp, fp);
	fclose(fp);
	test_conf.dmp_table = test_dmp_path;
}

static void
test_conf_free(void)
{
	cidr_list_free(&test_conf.exempt_clients);
	cidr_list_free(&test_conf.local_sender_networks);
	if (test_conf.dmp_table != NULL)
		unlink(test_dmp_path);
	test_conf.dmp_table = NULL;
}

static const char test_dmp[] =
    "# partners that send only from their own networks\n"
    "partner.example 203.0.113.0/24   # the office\n"
    "Partner.Example 2001:db8::/32\n"
    "\n"
    "other.example\t198.51.100.0/25\n";

static void
setup(void)
{
	test_nrows = 0;
	test_ndef = 0;
	test_conf_init(test_dmp);
	ck_assert_int_eq(sender_init(NULL, &test_conf), 0);
}

static void
teardown(void)
{
	test_stats_flush();
	sender_shutdown();
	test_conf_free();
}

static struct sockaddr_storage
test_sa(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
	}
	return ss;
}

static struct mailaddr
test_addr(const char *path)
{
	struct mailaddr a;
	const char *rest;

	ck_assert_int_eq(addr_parse(path, &a, &rest, ADDR_ALLOW_NULL), ADDR_OK);
	return a;
}

static void
never_cb(void *arg __unused, const struct sender_verdict *v __unused)
{
	ck_abort_msg("callback of a synchronous decision");
}

/* --- decisions without DNS ------------------------------------------------ */

START_TEST(test_sync)
{
	static const struct {
		int		 policy;
		const char	*sender, *client;
		int		 code, enforced;
		const char	*by, *outcome, *reply;
		int		 row;
	} rows[] = {
		{ POLICY_OFF, "<a@example.com>", "203.0.113.9", 0, 0, "off",
		  "pass", "", 0 },
		{ POLICY_ENFORCE, "<>", "203.0.113.9", 0, 0, "null", "pass",
		  "", 0 },
		{ POLICY_ENFORCE, "<a@example.com>", "198.51.100.7", 0, 0,
		  "exempt", "pass", "", 0 },
		{ POLICY_ENFORCE, "<a@example.com>", "192.0.2.5", 0, 0,
		  "local", "pass", "", 1 },
		{ POLICY_ENFORCE, "<a@Example.NET>", "2001:db8:1::25", 0, 0,
		  "local", "pass", "", 1 },
		{ POLICY_ENFORCE, "<a@EXAMPLE.com>", "203.0.113.9", 550, 1,
		  "local", "fail", "550 5.7.1 <a@EXAMPLE.com>: Sender address "
		  "rejected: not allowed to use a local domain from your "
		  "network", 1 },
		{ POLICY_LOG, "<a@example.com>", "203.0.113.9", 550, 0,
		  "local", "fail", "550 5.7.1 <a@example.com>: Sender address "
		  "rejected: not allowed to use a local domain from your "
		  "network", 1 },
		{ POLICY_ENFORCE, "<b@partner.example>", "203.0.113.20", 0, 0,
		  "dmp", "pass", "", 1 },
		{ POLICY_ENFORCE, "<b@partner.example>", "2001:db8:5::1", 0, 0,
		  "dmp", "pass", "", 1 },
		{ POLICY_ENFORCE, "<b@PARTNER.example>", "192.0.2.1", 550, 1,
		  "dmp", "fail", "550 5.7.1 <b@PARTNER.example>: Sender "
		  "address rejected: domain partner.example does not send "
		  "mail from 192.0.2.1", 1 },
		{ POLICY_ENFORCE, "<b@partner.example>", "::ffff:192.0.2.1",
		  550, 1, "dmp", "fail", "550 5.7.1 <b@partner.example>: "
		  "Sender address rejected: domain partner.example does not "
		  "send mail from 192.0.2.1", 1 },
		{ POLICY_LOG, "<c@other.example>", "198.51.100.200", 550, 0,
		  "dmp", "fail", "550 5.7.1 <c@other.example>: Sender address "
		  "rejected: domain other.example does not send mail from "
		  "198.51.100.200", 1 },
		{ POLICY_ENFORCE, "<c@[192.0.2.1]>", "203.0.113.9", 550, 1,
		  "dns", "fail", "550 5.1.8 <c@[192.0.2.1]>: Sender address "
		  "rejected: address literal is not a mail domain", 1 },
	};
	struct sender_verdict v;
	struct sockaddr_storage ss;
	struct mailaddr a;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_nrows = 0;
		test_conf.sender_policy = rows[i].policy;
		a = test_addr(rows[i].sender);
		ss = test_sa(rows[i].client);
		ck_assert_msg(sender_check_start(&test_conf, &a,
		    (struct sockaddr *)&ss, "S1", 0, never_cb, NULL, &v) == NULL,
		    "row %zu not synchronous", i);
		ck_assert_msg(v.code == rows[i].code, "row %zu code %d", i,
		    v.code);
		ck_assert_msg(v.enforced == rows[i].enforced, "row %zu", i);
		ck_assert_str_eq(v.decided_by, rows[i].by);
		ck_assert_str_eq(v.outcome, rows[i].outcome);
		ck_assert_str_eq(v.reply, rows[i].reply);
		ck_assert_msg(test_nrows == (size_t)rows[i].row,
		    "row %zu: %zu cbv rows", i, test_nrows);
		if (!rows[i].row)
			continue;
		ck_assert_str_eq(test_rows[0].decided_by, rows[i].by);
		ck_assert_str_eq(test_rows[0].outcome, rows[i].outcome);
		ck_assert_str_eq(test_rows[0].session_id, "S1");
		ck_assert_str_eq(test_rows[0].domain, a.domain);
		/* The row's enforced is the policy in force, not the
		 * verdict's. */
		ck_assert_int_eq(test_rows[0].enforced,
		    rows[i].policy == POLICY_ENFORCE);
	}
}
END_TEST

/* sender_reconfigure keeps the old table when the new one is broken. */
START_TEST(test_reconfigure)
{
	struct sender_verdict v;
	struct sockaddr_storage ss = test_sa("192.0.2.1");
	struct mailaddr a = test_addr("<b@partner.example>");
	FILE *fp;

	ck_assert_ptr_nonnull(fp = fopen(test_dmp_path, "w"));
	fputs("partner.example not-a-network\n", fp);
	fclose(fp);
	ck_assert_int_eq(sender_reconfigure(&test_conf), -1);
	ck_assert_ptr_null(sender_check_start(&test_conf, &a,
	    (struct sockaddr *)&ss, "S2", 0, never_cb, NULL, &v));
	ck_assert_str_eq(v.decided_by, "dmp");
	ck_assert_int_eq(v.code, 550);
	ck_assert_int_eq(sender_init(NULL, &test_conf), -1);
}
END_TEST

/* --- dmp_table errors, as strictmxd -n prints them ---------------------- */

START_TEST(test_dmp_errors)
{
	static const struct { const char *text; int rc; const char *errs; }
	    rows[] = {
		{ "a.example 192.0.2.0/24 2001:db8::/32\n# x\n\n", 0, "" },
		{ "a.example 192.0.2.0/24\na.example 192.0.3.0/24\n", 0, "" },
		{ "bad_domain! 192.0.2.0/24\n", -1,
		  "F:1: \"bad_domain!\" is not a domain name\n" },
		{ "a.example 192.0.2.0/33\n", -1,
		  "F:1: \"192.0.2.0/33\" is not a network (CIDR)\n" },
		{ "ok.example 192.0.2.1\nb.example\n\nc.example x y\n", -1,
		  "F:2: b.example: no networks listed\n"
		  "F:4: \"x\" is not a network (CIDR)\n"
		  "F:4: \"y\" is not a network (CIDR)\n" },
		{ "a.example # 192.0.2.0/24\n", -1,
		  "F:1: a.example: no networks listed\n" },
		{ "a.example\001 1.2.3.4\n", -1,
		  "F:1: \"a.example\\x01\" is not a domain name\n" },
	};
	char *buf, *want, path[96];
	size_t len, i;
	FILE *errs, *fp;
	int rc;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ck_assert_ptr_nonnull(fp = fopen(test_dmp_path, "w"));
		fputs(rows[i].text, fp);
		fclose(fp);
		ck_assert_ptr_nonnull(errs = open_memstream(&buf, &len));
		rc = sender_check_config(&test_conf, errs);
		fclose(errs);
		/* Replace "F" by the file's name in the expected text. */
		want = malloc(strlen(rows[i].errs) * 8 + 1);
		want[0] = '\0';
		for (const char *p = rows[i].errs; *p != '\0'; p++) {
			if (*p == 'F' && (p == rows[i].errs || p[-1] == '\n'))
				strcat(want, test_dmp_path);
			else
				strncat(want, p, 1);
		}
		ck_assert_msg(rc == rows[i].rc, "row %zu rc %d", i, rc);
		ck_assert_str_eq(buf, want);
		free(buf);
		free(want);
	}
	/* A missing file and an over-long line. */
	snprintf(path, sizeof(path), "%s.missing", test_dmp_path);
	test_conf.dmp_table = path;
	ck_assert_ptr_nonnull(errs = open_memstream(&buf, &len));
	ck_assert_int_eq(sender_check_config(&test_conf, errs), -1);
	fclose(errs);
	ck_assert_ptr_nonnull(strstr(buf, ".missing: No such file"));
	free(buf);
	test_conf.dmp_table = test_dmp_path;
	ck_assert_ptr_nonnull(fp = fopen(test_dmp_path, "w"));
	fputs("a.example", fp);
	for (i = 0; i < 500; i++)
		fputs(" 192.0.2.1", fp);
	fputs("\nb.example 1.2.3.4/8 junk\n", fp);
	fclose(fp);
	ck_assert_ptr_nonnull(errs = open_memstream(&buf, &len));
	ck_assert_int_eq(sender_check_config(&test_conf, errs), -1);
	fclose(errs);
	ck_assert_ptr_nonnull(strstr(buf, ":1: line longer than 4096"));
	ck_assert_ptr_nonnull(strstr(buf, ":2: \"junk\" is not a network"));
	free(buf);
	/* No table at all is fine. */
	test_conf.dmp_table = NULL;
	ck_assert_int_eq(sender_check_config(&test_conf, stderr), 0);
	test_conf.dmp_table = test_dmp_path;
}
END_TEST

START_TEST(test_keywords)
{
	static const struct { int policy, cbv; const char *want; } rows[] = {
		{ POLICY_ENFORCE, 1, "RETURN-PATH CBV" },
		{ POLICY_ENFORCE, 0, "RETURN-PATH" },
		{ POLICY_LOG, 1, "" },
		{ POLICY_OFF, 1, "" },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_conf.sender_policy = rows[i].policy;
		test_conf.cbv = rows[i].cbv;
		ck_assert_uint_eq(sender_keywords(&test_conf, buf,
		    sizeof(buf)), strlen(rows[i].want));
		ck_assert_str_eq(buf, rows[i].want);
	}
	test_conf.sender_policy = POLICY_ENFORCE;
	ck_assert_uint_eq(sender_keywords(&test_conf, buf, 5), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

/* --- what DNS answers mean ------------------------------------------------ */

START_TEST(test_classify)
{
	static const struct {
		enum resolver_status st;
		const char *names[3];
		enum sender_dns want;
		size_t n;
	} rows[] = {
		{ RESOLVER_NXDOMAIN, { NULL }, SENDER_DNS_NXDOMAIN, 0 },
		{ RESOLVER_NODATA, { NULL }, SENDER_DNS_NODATA, 0 },
		{ RESOLVER_OK, { NULL }, SENDER_DNS_NODATA, 0 },
		{ RESOLVER_TEMPFAIL, { NULL }, SENDER_DNS_TEMPFAIL, 0 },
		{ RESOLVER_OK, { "" }, SENDER_DNS_NULLMX, 0 },
		{ RESOLVER_OK, { "", "mx.example.org" }, SENDER_DNS_OK, 1 },
		{ RESOLVER_OK, { "a.example.org", "b.example.org" },
		  SENDER_DNS_OK, 2 },
	};
	static const struct {
		enum resolver_status a, aaaa;
		enum sender_dns want;
	} arows[] = {
		{ RESOLVER_OK, RESOLVER_NODATA, SENDER_DNS_OK },
		{ RESOLVER_NODATA, RESOLVER_OK, SENDER_DNS_OK },
		{ RESOLVER_TEMPFAIL, RESOLVER_OK, SENDER_DNS_OK },
		{ RESOLVER_NODATA, RESOLVER_NODATA, SENDER_DNS_NOMX },
		{ RESOLVER_NXDOMAIN, RESOLVER_NODATA, SENDER_DNS_NOMX },
		{ RESOLVER_NODATA, RESOLVER_TEMPFAIL, SENDER_DNS_TEMPFAIL },
	};
	static struct resolver_result r;
	struct resolver_mx out[RESOLVER_MAX_RR];
	size_t i, j, n;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.status = rows[i].st;
		for (j = 0; j < 3 && rows[i].names[j] != NULL; j++) {
			r.mx[j].pref = (unsigned)j * 10;
			snprintf(r.mx[j].name, sizeof(r.mx[j].name), "%s",
			    rows[i].names[j]);
			r.n++;
		}
		ck_assert_msg(sender_verdict_mx(&r, out, RESOLVER_MAX_RR, &n)
		    == rows[i].want, "row %zu", i);
		ck_assert_uint_eq(n, rows[i].n);
		if (n > 0)
			ck_assert_str_ne(out[0].name, "");
	}
	/* At most max hosts are returned. */
	memset(&r, 0, sizeof(r));
	r.status = RESOLVER_OK;
	r.n = 3;
	snprintf(r.mx[0].name, sizeof(r.mx[0].name), "a");
	snprintf(r.mx[1].name, sizeof(r.mx[1].name), "b");
	snprintf(r.mx[2].name, sizeof(r.mx[2].name), "c");
	ck_assert_int_eq(sender_verdict_mx(&r, out, 2, &n), SENDER_DNS_OK);
	ck_assert_uint_eq(n, 2);
	for (i = 0; i < sizeof(arows) / sizeof(arows[0]); i++)
		ck_assert_msg(sender_verdict_addr(arows[i].a, arows[i].aaaa) ==
		    arows[i].want, "addr row %zu", i);
}
END_TEST

START_TEST(test_dns_verdict)
{
	static const struct {
		enum sender_dns d;
		int on_tempfail, code;
		const char *outcome, *reply;
	} rows[] = {
		{ SENDER_DNS_OK, VERDICT_TEMPFAIL, 0, "pass", "" },
		{ SENDER_DNS_NXDOMAIN, VERDICT_TEMPFAIL, 550, "fail",
		  "550 5.1.8 <s@d.example>: Sender address rejected: Domain "
		  "not found" },
		{ SENDER_DNS_NOMX, VERDICT_ACCEPT, 550, "fail",
		  "550 5.1.8 <s@d.example>: Sender address rejected: Domain "
		  "has no MX or address record" },
		{ SENDER_DNS_NULLMX, VERDICT_ACCEPT, 550, "fail",
		  "550 5.7.27 <s@d.example>: Sender address rejected: Domain "
		  "does not accept mail (null MX)" },
		{ SENDER_DNS_TEMPFAIL, VERDICT_TEMPFAIL, 450, "tempfail",
		  "450 4.1.8 <s@d.example>: Sender address rejected: cannot "
		  "resolve domain (DNS temporary failure)" },
		{ SENDER_DNS_TEMPFAIL, VERDICT_ACCEPT, 0, "tempfail", "" },
	};
	struct mailaddr a = test_addr("<s@d.example>");
	struct sender_verdict v;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		test_conf.cbv_on_tempfail = rows[i].on_tempfail;
		sender_verdict_dns(&test_conf, &a, rows[i].d, &v);
		ck_assert_msg(v.code == rows[i].code, "row %zu", i);
		ck_assert_int_eq(v.enforced, v.code != 0);
		ck_assert_str_eq(v.decided_by, "dns");
		ck_assert_str_eq(v.outcome, rows[i].outcome);
		ck_assert_str_eq(v.reply, rows[i].reply);
	}
}
END_TEST

/* --- what probe results mean ---------------------------------------------- */

START_TEST(test_probe_verdict)
{
	static const struct {
		enum cbv_outcome o;
		enum cbv_stage st;
		const char *reply, *probe_sender;
		int early, mail, tempfail;	/* cbv_on_* */
		int code;
		const char *outcome, *want;
	} rows[] = {
		{ CBV_PASS, CBV_ST_RCPT, "250 2.1.5 Ok", "", 0, 0, 0, 0,
		  "pass", "" },
		{ CBV_FAIL, CBV_ST_RCPT, "550 5.1.1 <s@d.example>: user unknown",
		  "", 0, 0, 0, 550, "fail",
		  "550 5.1.7 <s@d.example>: Sender address rejected: "
		  "verification failed: mx.d.example said: 550 5.1.1 "
		  "<s@d.example>: user unknown" },
		{ CBV_REFUSED_EARLY, CBV_ST_GREETING, "554 go away", "",
		  VERDICT_TEMPFAIL, 0, 0, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: mx.d.example refused our call-back at greeting: "
		  "554 go away" },
		{ CBV_REFUSED_EARLY, CBV_ST_NOOP, "502 no NOOP", "",
		  VERDICT_REJECT, 0, 0, 550, "fail",
		  "550 5.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: mx.d.example refused our call-back at noop: "
		  "502 no NOOP" },
		{ CBV_REFUSED_EARLY, CBV_ST_HELO, "550 no", "", VERDICT_ACCEPT,
		  0, 0, 0, "tempfail", "" },
		{ CBV_REFUSED_MAIL, CBV_ST_MAIL, "553 no bounces here", "", 0,
		  VERDICT_REJECT, 0, 550, "fail",
		  "550 5.1.7 <s@d.example>: Sender address rejected: "
		  "mx.d.example refuses the null sender (bounces): 553 no "
		  "bounces here" },
		{ CBV_REFUSED_MAIL, CBV_ST_MAIL, "553 no", "probe@example.com",
		  0, VERDICT_TEMPFAIL, 0, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "mx.d.example refuses the sender of our call-back: 553 no" },
		{ CBV_REFUSED_MAIL, CBV_ST_MAIL, "553 no", "", 0,
		  VERDICT_ACCEPT, 0, 0, "tempfail", "" },
		{ CBV_TEMPFAIL, CBV_ST_RCPT, "451 4.3.0 try later", "", 0, 0,
		  VERDICT_TEMPFAIL, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: mx.d.example at rcpt: 451 4.3.0 try later" },
		{ CBV_TEMPFAIL, CBV_ST_MAIL, "timeout after MAIL", "", 0, 0,
		  VERDICT_TEMPFAIL, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: mx.d.example at mail: timeout after MAIL" },
		{ CBV_TEMPFAIL, CBV_ST_RCPT, "451 later", "", 0, 0,
		  VERDICT_ACCEPT, 0, "tempfail", "" },
		{ CBV_NOCONNECT, CBV_ST_CONNECT, "connect to mx.d.example "
		  "[192.0.2.1]:25: Connection refused", "", 0, 0,
		  VERDICT_TEMPFAIL, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: connect to mx.d.example [192.0.2.1]:25: "
		  "Connection refused" },
		{ CBV_TEMPFAIL, CBV_ST_CONNECT, "timeout in queue", "", 0, 0,
		  VERDICT_TEMPFAIL, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: timeout in queue" },
		{ CBV_NOCONNECT, CBV_ST_CONNECT, "", "", 0, 0,
		  VERDICT_TEMPFAIL, 450, "tempfail",
		  "450 4.1.7 <s@d.example>: Sender address rejected: "
		  "unverified: no MX host accepted a connection" },
		{ CBV_FAIL, CBV_ST_RCPT, "550 bad\r\nEVIL\001", "", 0, 0, 0,
		  550, "fail",
		  "550 5.1.7 <s@d.example>: Sender address rejected: "
		  "verification failed: mx.d.example said: 550 bad??EVIL?" },
	};
	struct mailaddr a = test_addr("<s@d.example>");
	struct sender_verdict v;
	struct cbv_result r;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.outcome = rows[i].o;
		r.stage = rows[i].st;
		snprintf(r.mx_host, sizeof(r.mx_host), "mx.d.example");
		snprintf(r.reply, sizeof(r.reply), "%s", rows[i].reply);
		test_conf.cbv_probe_sender = (char *)rows[i].probe_sender;
		test_conf.cbv_on_refused_early = rows[i].early;
		test_conf.cbv_on_refused_mail = rows[i].mail;
		test_conf.cbv_on_tempfail = rows[i].tempfail;
		sender_verdict_probe(&test_conf, &a, &r, &v);
		ck_assert_msg(v.code == rows[i].code, "row %zu code %d", i,
		    v.code);
		ck_assert_str_eq(v.decided_by, "probe");
		ck_assert_str_eq(v.outcome, rows[i].outcome);
		ck_assert_str_eq(v.reply, rows[i].want);
	}
}
END_TEST

/* A probe the protocol forbids is decided by cbv_on_unverifiable alone,
 * whatever cbv_on_tempfail says: never a 450 retried for days. */
START_TEST(test_probe_unverifiable)
{
	struct mailaddr a = test_addr("<s@d.example>");
	struct sender_verdict v;
	struct cbv_result r;

	memset(&r, 0, sizeof(r));
	r.outcome = CBV_UNVERIFIABLE;
	r.stage = CBV_ST_HELO;
	snprintf(r.mx_host, sizeof(r.mx_host), "mx.d.example");
	snprintf(r.reply, sizeof(r.reply), "no SMTPUTF8 offered for a "
	    "non-ASCII address");
	test_conf.cbv_on_tempfail = VERDICT_TEMPFAIL;
	test_conf.cbv_on_unverifiable = VERDICT_ACCEPT;
	sender_verdict_probe(&test_conf, &a, &r, &v);
	ck_assert_int_eq(v.code, 0);
	ck_assert_str_eq(v.decided_by, "unverifiable");
	ck_assert_str_eq(v.outcome, "tempfail");
	ck_assert_str_eq(v.reason, "unverifiable: no SMTPUTF8 offered for a "
	    "non-ASCII address");
	test_conf.cbv_on_unverifiable = VERDICT_REJECT;
	sender_verdict_probe(&test_conf, &a, &r, &v);
	ck_assert_int_eq(v.code, 550);
	ck_assert_str_eq(v.decided_by, "unverifiable");
	ck_assert_str_eq(v.reply, "550 5.1.7 <s@d.example>: Sender address "
	    "rejected: unverifiable: no SMTPUTF8 offered for a non-ASCII "
	    "address");
	test_conf.cbv_on_unverifiable = VERDICT_ACCEPT;
}
END_TEST

/* A long remote reply is cut: the whole line stays below 512 octets. */
START_TEST(test_probe_long)
{
	struct mailaddr a = test_addr("<s@d.example>");
	struct sender_verdict v;
	struct cbv_result r;

	memset(&r, 0, sizeof(r));
	r.outcome = CBV_FAIL;
	r.stage = CBV_ST_RCPT;
	snprintf(r.mx_host, sizeof(r.mx_host), "%s", "mx.d.example");
	memset(r.reply, 'x', sizeof(r.reply) - 1);
	memcpy(r.reply, "550 ", 4);
	sender_verdict_probe(&test_conf, &a, &r, &v);
	ck_assert_uint_eq(strlen(v.reply), SMTP_REPLYLINE_MAX - 3);
	ck_assert_int_eq(strncmp(v.reply, "550 5.1.7 <s@d.example>: ", 25),
	    0);
	test_conf.sender_policy = POLICY_LOG;
	sender_verdict_probe(&test_conf, &a, &r, &v);
	ck_assert_int_eq(v.code, 550);
	ck_assert_int_eq(v.enforced, 0);
}
END_TEST

/* --- the cache decides (stats enabled: a temporary database) ------------- */

static char test_db_path[64];

static void
cache_setup(void)
{
	int fd;

	setup();
	snprintf(test_db_path, sizeof(test_db_path),
	    "/tmp/test_sender_db.XXXXXX");
	ck_assert_int_ge(fd = mkstemp(test_db_path), 0);
	close(fd);
	ck_assert_int_eq(sqlite3_open(test_db_path, &test_db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(test_db, "CREATE TABLE cbv_cache ("
	    "address TEXT PRIMARY KEY, outcome TEXT, stage TEXT, reply TEXT,"
	    " mx_host TEXT, rfc3821 INTEGER, created REAL, expires REAL)",
	    NULL, NULL, NULL), SQLITE_OK);
}

static void
cache_teardown(void)
{
	teardown();
	sqlite3_close(test_db);
	test_db = NULL;
	unlink(test_db_path);
}

START_TEST(test_cache_hit)
{
	static const struct {
		const char *address, *outcome, *stage, *reply, *mx;
		int code;
		const char *want_outcome, *want;
	} rows[] = {
		{ "x@remote.example", "fail", "rcpt", "550 5.1.1 no such user",
		  "mx.remote.example", 550, "fail",
		  "550 5.1.7 <x@remote.example>: Sender address rejected: "
		  "verification failed: mx.remote.example said: 550 5.1.1 no "
		  "such user" },
		{ "y@remote.example", "pass", "rcpt", "250 2.1.5 Ok",
		  "mx.remote.example", 0, "pass", "" },
		{ "z@gone.example", "fail", "nxdomain", "Domain not found", "",
		  550, "fail", "550 5.1.8 <z@gone.example>: Sender address "
		  "rejected: Domain not found" },
		{ "n@nomx.example", "fail", "nullmx", "", "", 550, "fail",
		  "550 5.7.27 <n@nomx.example>: Sender address rejected: "
		  "Domain does not accept mail (null MX)" },
		{ "w@slow.example", "tempfail", "mail", "timeout after MAIL",
		  "mx.slow.example", 450, "tempfail",
		  "450 4.1.7 <w@slow.example>: Sender address rejected: "
		  "unverified: mx.slow.example at mail: timeout after MAIL" },
		{ "r@rude.example", "tempfail", "greeting", "554 no",
		  "mx.rude.example", 450, "tempfail",
		  "450 4.1.7 <r@rude.example>: Sender address rejected: "
		  "unverified: mx.rude.example refused our call-back at "
		  "greeting: 554 no" },
		{ "b@bounce.example", "fail", "mail", "550 no <>",
		  "mx.bounce.example", 550, "fail",
		  "550 5.1.7 <b@bounce.example>: Sender address rejected: "
		  "mx.bounce.example refuses the null sender (bounces): 550 "
		  "no <>" },
	};
	struct cbv_cache_entry e;
	struct sender_verdict v;
	struct sockaddr_storage ss = test_sa("203.0.113.50");
	struct mailaddr a;
	char path[300];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&e, 0, sizeof(e));
		snprintf(e.address, sizeof(e.address), "%s", rows[i].address);
		snprintf(e.outcome, sizeof(e.outcome), "%s", rows[i].outcome);
		snprintf(e.stage, sizeof(e.stage), "%s", rows[i].stage);
		snprintf(e.reply, sizeof(e.reply), "%s", rows[i].reply);
		snprintf(e.mx_host, sizeof(e.mx_host), "%s", rows[i].mx);
		e.rfc3821 = 1;
		e.created = 1;
		e.expires = 1e12;
		ck_assert_int_eq(cbv_cache_put(test_db, &e), 0);
		snprintf(path, sizeof(path), "<%s>", rows[i].address);
		a = test_addr(path);
		test_nrows = 0;
		ck_assert_ptr_null(sender_check_start(&test_conf, &a,
		    (struct sockaddr *)&ss, "S3", 0, never_cb, NULL, &v));
		ck_assert_str_eq(v.decided_by, "cache");
		ck_assert_msg(v.code == rows[i].code, "row %zu", i);
		ck_assert_str_eq(v.outcome, rows[i].want_outcome);
		ck_assert_str_eq(v.reply, rows[i].want);
		ck_assert_uint_eq(test_nrows, 1);
		ck_assert_str_eq(test_rows[0].decided_by, "cache");
		ck_assert_str_eq(test_rows[0].stage, rows[i].stage);
		ck_assert_str_eq(test_rows[0].reply, rows[i].reply);
		ck_assert_str_eq(test_rows[0].mx_host, rows[i].mx);
		ck_assert_str_eq(test_rows[0].address, rows[i].address);
		ck_assert_int_eq(test_rows[0].rfc3821, 1);
	}
}
END_TEST

/* --- DNS and probe paths (run_sender_test.sh) ---------------------------- */

static struct event_base *test_base;
static struct sender_verdict test_v;
static int test_done;

static void
done_cb(void *arg __unused, const struct sender_verdict *v)
{
	test_v = *v;
	test_done = 1;
	event_base_loopbreak(test_base);
}

/* test_check - run one check to its end; 1 when it was asynchronous. */
static int
test_check(const char *path, const char *client)
{
	struct sockaddr_storage ss = test_sa(client);
	struct mailaddr a = test_addr(path);
	struct sender_check *chk;
	struct timeval tv = { 20, 0 };

	test_done = 0;
	test_nrows = 0;
	chk = sender_check_start(&test_conf, &a, (struct sockaddr *)&ss, "S4", 0,
	    done_cb, NULL, &test_v);
	if (chk == NULL)
		return 0;
	ck_assert_int_eq(test_done, 0);
	event_base_loopexit(test_base, &tv);
	event_base_dispatch(test_base);
	ck_assert_msg(test_done, "%s: no verdict in 20 s", path);
	return 1;
}

static char *test_resolvers[] = { "127.0.0.1" };

static void
dns_setup(void)
{
	cache_setup();
	test_conf.resolver = test_resolvers;
	test_conf.nresolver = 1;
	signal(SIGPIPE, SIG_IGN);
	ck_assert_ptr_nonnull(test_base = event_base_new());
	ck_assert_int_eq(resolver_init(test_base, &test_conf), 0);
	ck_assert_int_eq(cbv_init(test_base, &test_conf), 0);
	/* The scripted MX of run_sender_test.sh listens on 127.0.0.1:2525;
	 * nothing listens on 127.0.0.2:2525 (connection refused). */
	cbv_set_port(2525);
	sender_shutdown();
	ck_assert_int_eq(sender_init(test_base, &test_conf), 0);
}

static void
dns_teardown(void)
{
	cbv_shutdown();
	resolver_shutdown();
	cache_teardown();
	event_base_free(test_base);
	test_base = NULL;
}

START_TEST(test_dns)
{
	static const struct {
		const char *path;
		int code;
		const char *by, *outcome, *stage, *mx, *reply;
	} rows[] = {
		{ "<a@nx.test>", 550, "dns", "fail", "nxdomain", "",
		  "550 5.1.8 <a@nx.test>: Sender address rejected: Domain not "
		  "found" },
		{ "<a@txt.test>", 550, "dns", "fail", "nomx", "",
		  "550 5.1.8 <a@txt.test>: Sender address rejected: Domain "
		  "has no MX or address record" },
		{ "<a@nullmx.test>", 550, "dns", "fail", "nullmx", "",
		  "550 5.7.27 <a@nullmx.test>: Sender address rejected: "
		  "Domain does not accept mail (null MX)" },
		/* No MX, an A record: the domain is its own MX. */
		{ "<good@amx.test>", 0, "probe", "pass", "rcpt", "amx.test",
		  "" },
		{ "<good@mx.test>", 0, "probe", "pass", "rcpt",
		  "mail.mx.test", "" },
		{ "<bad@mx.test>", 550, "probe", "fail", "rcpt",
		  "mail.mx.test", "550 5.1.7 <bad@mx.test>: Sender address "
		  "rejected: verification failed: mail.mx.test said: 550 "
		  "5.1.1 <bad@mx.test>: no such user" },
		{ "<a@down.test>", 450, "probe", "tempfail", "connect",
		  "down.test", "450 4.1.7 <a@down.test>: Sender address "
		  "rejected: unverified: connect to down.test "
		  "[127.0.0.2]:2525: Connection refused" },
	};
	size_t i;

	if (getenv("STRICTMX_DNS_TEST") == NULL)
		return;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		ck_assert_msg(test_check(rows[i].path, "203.0.113.1"),
		    "%s decided at once", rows[i].path);
		ck_assert_msg(test_v.code == rows[i].code, "%s: %d %s",
		    rows[i].path, test_v.code, test_v.reply);
		ck_assert_str_eq(test_v.decided_by, rows[i].by);
		ck_assert_str_eq(test_v.outcome, rows[i].outcome);
		if (rows[i].reply != NULL)
			ck_assert_str_eq(test_v.reply, rows[i].reply);
		ck_assert_uint_eq(test_nrows, 1);
		ck_assert_str_eq(test_rows[0].decided_by, rows[i].by);
		ck_assert_str_eq(test_rows[0].stage, rows[i].stage);
		ck_assert_str_eq(test_rows[0].mx_host, rows[i].mx);
	}
	/* The RFC3821 keyword of the scripted MX was seen. */
	ck_assert_int_eq(test_check("<good@mx.test>", "203.0.113.1"), 0);
	ck_assert_str_eq(test_v.decided_by, "cache");
	ck_assert_int_eq(test_rows[0].rfc3821, 1);
	/* Second time: from the cache (pending write, then the table). */
	ck_assert_int_eq(test_check("<bad@mx.test>", "203.0.113.1"), 0);
	ck_assert_str_eq(test_v.decided_by, "cache");
	ck_assert_int_eq(test_v.code, 550);
	test_stats_flush();
	ck_assert_int_eq(test_check("<a@down.test>", "203.0.113.1"), 0);
	ck_assert_str_eq(test_v.decided_by, "cache");
	ck_assert_str_eq(test_v.reply, rows[6].reply);
	ck_assert_int_eq(test_check("<a@nx.test>", "203.0.113.1"), 0);
	ck_assert_str_eq(test_v.decided_by, "cache");
	ck_assert_str_eq(test_rows[0].stage, "nxdomain");
	/* Our own domains are never looked up nor probed. */
	ck_assert_int_eq(test_check("<a@example.com>", "192.0.2.1"), 0);
	ck_assert_str_eq(test_v.decided_by, "local");
	/* cbv off: DNS alone decides. */
	test_conf.cbv = 0;
	ck_assert_int_eq(test_check("<other@mx.test>", "203.0.113.1"), 1);
	ck_assert_str_eq(test_v.decided_by, "dns");
	ck_assert_str_eq(test_v.outcome, "pass");
	ck_assert_str_eq(test_rows[0].stage, "ok");
	test_conf.cbv = 1;
	/* A cancelled check never calls back. */
	{
		struct sockaddr_storage ss = test_sa("203.0.113.1");
		struct mailaddr a = test_addr("<c@mx.test>");
		struct sender_check *chk;
		struct timeval tv = { 1, 0 };

		test_done = 0;
		chk = sender_check_start(&test_conf, &a,
		    (struct sockaddr *)&ss, "S5", 0, done_cb, NULL, &test_v);
		ck_assert_ptr_nonnull(chk);
		sender_check_cancel(chk);
		event_base_loopexit(test_base, &tv);
		event_base_dispatch(test_base);
		ck_assert_int_eq(test_done, 0);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sender");
	TCase *tc = tcase_create("core"), *tcc = tcase_create("cache");
	TCase *tcd = tcase_create("dns");
	SRunner *sr;
	int failures;

	log_init(1, getenv("SENDER_TEST_VERBOSE") != NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_reconfigure);
	tcase_add_test(tc, test_dmp_errors);
	tcase_add_test(tc, test_keywords);
	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_dns_verdict);
	tcase_add_test(tc, test_probe_verdict);
	tcase_add_test(tc, test_probe_long);
	tcase_add_test(tc, test_probe_unverifiable);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tcc, cache_setup, cache_teardown);
	tcase_add_test(tcc, test_cache_hit);
	suite_add_tcase(s, tcc);
	tcase_add_checked_fixture(tcd, dns_setup, dns_teardown);
	tcase_set_timeout(tcd, 60);
	tcase_add_test(tcd, test_dns);
	suite_add_tcase(s, tcd);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
