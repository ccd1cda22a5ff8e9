/* report.c - the field statistics of DESIGN §6: three SELECTs over the stats
 * database, printed in the exact 2003 layout or as one JSON object.
 *
 *	report_compute - count every line of the report for [since, until)
 *	report_percent - part of whole in percent, 0 when whole is 0
 *	report_print_text - the eleven lines, a blank line, our own lines,
 *		then after a blank line each the SPF, DKIM and DMARC lines
 *		(DESIGN §8)
 *	report_print_json - the same numbers as one JSON object
 *	report_json_string - a JSON string of any bytes, valid UTF-8 out
 *	report_parse_day - strict YYYY-MM-DD into a struct tm
 *	report_day_start - epoch of local midnight, a number of days later
 *	report_today - today's local date as YYYY-MM-DD
 *
 * Each cbv row is classified once, first match wins, so the six classes
 * below partition the calls by construction (strictmxctl(8) says so):
 *	decided_by probe, stage connect		bad connects
 *	decided_by probe, any other stage	smtp sessions
 *	decided_by dns, stage nxdomain		bad domain
 *	decided_by dns, stage nomx or nullmx	no mx records
 *	decided_by dns, stage tempfail		dns failures
 *	anything else (cache, dmp, local, dns ok with cbv off)	skips
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "report.h"
#include "stats.h"

/* The stage names are cbv_stage_name()'s (cbv.h) and the dns stages
 * STATS_DNS_* (stats.h). A refusal is a reply with a 4xx or 5xx code: a
 * timeout or garbage at a stage is not the MX refusing (DESIGN §6 "probes
 * whose MX answered 4xx or 5xx at stage X"). */
#define REPORT_CLASS_SQL \
	"WITH c AS (SELECT CASE" \
	"  WHEN decided_by = 'probe' AND stage = 'connect' THEN 4" \
	"  WHEN decided_by = 'probe' THEN 5" \
	"  WHEN decided_by = 'dns' AND stage = '" STATS_DNS_NXDOMAIN "' THEN 2" \
	"  WHEN decided_by = 'dns' AND stage IN ('" STATS_DNS_NOMX "', '" \
	    STATS_DNS_NULLMX "') THEN 3" \
	"  WHEN decided_by = 'dns' AND stage = '" STATS_DNS_TEMPFAIL "' THEN 6" \
	"  ELSE 1 END AS cat, stage, outcome, rfc3821," \
	"  substr(reply, 1, 1) IN ('4', '5') AS refused," \
	"  reply GLOB '" STATS_REPLY_TIMEOUT "*' AS timeout" \
	"  FROM cbv WHERE time >= ?1 AND time < ?2)" \
	" SELECT count(*)," \
	"  count(*) FILTER (WHERE cat = 1)," \
	"  count(*) FILTER (WHERE cat = 2)," \
	"  count(*) FILTER (WHERE cat = 3)," \
	"  count(*) FILTER (WHERE cat = 4)," \
	"  count(*) FILTER (WHERE cat = 5)," \
	"  count(*) FILTER (WHERE cat = 5 AND refused AND stage = 'greeting')," \
	"  count(*) FILTER (WHERE cat = 5 AND refused AND stage = 'noop')," \
	"  count(*) FILTER (WHERE cat = 5 AND refused AND stage = 'helo')," \
	"  count(*) FILTER (WHERE cat = 5 AND refused AND stage = 'mail')," \
	"  count(*) FILTER (WHERE cat = 5 AND refused AND stage = 'rcpt')," \
	"  count(*) FILTER (WHERE cat = 6)," \
	"  count(*) FILTER (WHERE outcome = 'pass')," \
	"  count(*) FILTER (WHERE cat IN (4, 5) AND timeout)," \
	"  count(*) FILTER (WHERE cat IN (4, 5) AND rfc3821 = 1)" \
	" FROM c"

/* GLOB, not LIKE: it is case-sensitive, as the verdict names are. */
#define REPORT_SESSIONS_SQL \
	"SELECT count(*)," \
	"  count(*) FILTER (WHERE helo_verdict GLOB 'fail*'" \
	"   OR helo_verdict GLOB 'tempfail*')," \
	"  count(*) FILTER (WHERE helo_verdict GLOB 'log-*')" \
	" FROM sessions WHERE start >= ?1 AND start < ?2"

/* Messages that reached the end of DATA, by SPF result; NULL is a
 * message whose SPF was not evaluated (spf_policy off, exempt client).
 * Then by DKIM (report.h), by DMARC result (NULL: dmarc_policy off) and
 * the two dispositions DMARC causes. */
#define REPORT_AUTH_SQL \
	"SELECT count(*) FILTER (WHERE spf_result = 'pass')," \
	"  count(*) FILTER (WHERE spf_result = 'fail')," \
	"  count(*) FILTER (WHERE spf_result = 'softfail')," \
	"  count(*) FILTER (WHERE spf_result = 'neutral')," \
	"  count(*) FILTER (WHERE spf_result = 'none')," \
	"  count(*) FILTER (WHERE spf_result = 'temperror')," \
	"  count(*) FILTER (WHERE spf_result = 'permerror')," \
	"  count(*) FILTER (WHERE spf_result IS NULL)," \
	"  count(*) FILTER (WHERE " REPORT_DKIM_PASS_SQL ")," \
	"  count(*) FILTER (WHERE " REPORT_DKIM_FAIL_SQL ")," \
	"  count(*) FILTER (WHERE " REPORT_DKIM_NONE_SQL ")," \
	"  count(*) FILTER (WHERE dmarc_result = 'pass')," \
	"  count(*) FILTER (WHERE dmarc_result = 'fail')," \
	"  count(*) FILTER (WHERE dmarc_result = 'none')," \
	"  count(*) FILTER (WHERE dmarc_result = 'temperror')," \
	"  count(*) FILTER (WHERE dmarc_result = 'permerror')," \
	"  count(*) FILTER (WHERE dmarc_result IS NULL)," \
	"  count(*) FILTER (WHERE disposition = 'junk')," \
	"  count(*) FILTER (WHERE " REPORT_REFUSED_DMARC_SQL ")" \
	" FROM auth WHERE time >= ?1 AND time < ?2"

/* report_has_table - 1 when the database has the table: a schema 1 file
 * (written before the auth table existed) read by strictmxctl, which
 * never migrates, reports zeros for it. */
static int
report_has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE"
	    " type = 'table' AND name = ?1", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		found = 1;
	sqlite3_finalize(st);
	return found;
}

/* report_query - run one counting SELECT, storing column i in *out[i]. */
static int
report_query(sqlite3 *db, const char *sql, double since, double until,
    uint64_t *const *out, int n)
{
	sqlite3_stmt *st;
	int i, rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_double(st, 1, since) == SQLITE_OK &&
	    sqlite3_bind_double(st, 2, until) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_count(st) == n) {
		for (i = 0; i < n; i++) {
			sqlite3_int64 v = sqlite3_column_int64(st, i);

			*out[i] = v < 0 ? 0 : (uint64_t)v;
		}
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* report_compute - fill *r with the counts of the rows whose time (cbv) or
 * start (sessions) is in [since, until), epoch seconds. 0, or -1 with the
 * reason in sqlite3_errmsg(db). */
int
report_compute(sqlite3 *db, double since, double until, struct report *r)
{
	uint64_t *const cbv[] = {
		&r->cbv_calls, &r->skips, &r->bad_domain, &r->no_mx,
		&r->bad_connects, &r->smtp_sessions, &r->refused_welcome,
		&r->refused_noop, &r->refused_helo, &r->refused_mail,
		&r->refused_rcpt, &r->dns_failures, &r->accepted,
		&r->timeouts, &r->rfc3821_peers,
	};
	uint64_t *const sess[] = {
		&r->sessions, &r->helo_refused, &r->helo_logged,
	};
	uint64_t *const auth[] = {
		&r->spf_pass, &r->spf_fail, &r->spf_softfail, &r->spf_neutral,
		&r->spf_none, &r->spf_temperror, &r->spf_permerror,
		&r->spf_unchecked, &r->dkim_pass, &r->dkim_fail,
		&r->dkim_none, &r->dmarc_pass, &r->dmarc_fail, &r->dmarc_none,
		&r->dmarc_temperror, &r->dmarc_permerror, &r->dmarc_unchecked,
		&r->junk, &r->refused_dmarc,
	};
	int has_auth;

	memset(r, 0, sizeof(*r));
	if (report_query(db, REPORT_CLASS_SQL, since, until, cbv,
	    (int)(sizeof(cbv) / sizeof(cbv[0]))) < 0)
		return -1;
	if (report_query(db, REPORT_SESSIONS_SQL, since, until, sess,
	    (int)(sizeof(sess) / sizeof(sess[0]))) < 0)
		return -1;
	if ((has_auth = report_has_table(db, "auth")) < 0)
		return -1;
	if (has_auth && report_query(db, REPORT_AUTH_SQL, since, until, auth,
	    (int)(sizeof(auth) / sizeof(auth[0]))) < 0)
		return -1;
	return 0;
}

/* report_percent - 100 * part / whole, 0 for an empty whole. */
double
report_percent(uint64_t part, uint64_t whole)
{
	return whole == 0 ? 0.0 : 100.0 * (double)part / (double)whole;
}

/* report_line - "label", left-aligned to 19 columns, ": ", the count
 * right-aligned so that the colon is followed by 8 columns (DESIGN §6). */
static void
report_line(FILE *fp, const char *label, uint64_t n)
{
	fprintf(fp, "%-19s: %7" PRIu64 "\n", label, n);
}

/* report_line_pct - the same, then " ( 6.51%)": two decimals in 5 columns,
 * as in the 2003 sample ("( 6.51%)", "(53.51%)"). */
static void
report_line_pct(FILE *fp, const char *label, uint64_t n, uint64_t whole)
{
	fprintf(fp, "%-19s: %7" PRIu64 " (%5.2f%%)\n", label, n,
	    report_percent(n, whole));
}

/* report_print_text - the report for people, see strictmxctl(8). */
void
report_print_text(FILE *fp, const struct report *r, const char *since,
    const char *until)
{
	fprintf(fp, "Statistics: %s to %s\n\n", since, until);
	report_line(fp, "cbv calls", r->cbv_calls);
	report_line(fp, "skips", r->skips);
	report_line(fp, "-bad domain", r->bad_domain);
	report_line(fp, "-no mx records", r->no_mx);
	report_line(fp, "-bad connects", r->bad_connects);
	report_line(fp, "smtp sessions", r->smtp_sessions);
	report_line(fp, "-refused welcome", r->refused_welcome);
	report_line(fp, "-refused noop", r->refused_noop);
	report_line(fp, "-refused helo", r->refused_helo);
	report_line_pct(fp, "-refused mail from", r->refused_mail,
	    r->smtp_sessions);
	report_line_pct(fp, "-refused rcpt to", r->refused_rcpt,
	    r->smtp_sessions);
	fputc('\n', fp);
	report_line(fp, "-dns failures", r->dns_failures);
	report_line(fp, "-accepted", r->accepted);
	report_line(fp, "-timeouts", r->timeouts);
	report_line(fp, "rfc3821 peers", r->rfc3821_peers);
	report_line(fp, "sessions", r->sessions);
	report_line(fp, "-helo refused", r->helo_refused);
	report_line(fp, "-helo logged", r->helo_logged);
	fputc('\n', fp);
	report_line(fp, "spf pass", r->spf_pass);
	report_line(fp, "spf fail", r->spf_fail);
	report_line(fp, "spf softfail", r->spf_softfail);
	report_line(fp, "spf neutral", r->spf_neutral);
	report_line(fp, "spf none", r->spf_none);
	report_line(fp, "spf temperror", r->spf_temperror);
	report_line(fp, "spf permerror", r->spf_permerror);
	report_line(fp, "spf not checked", r->spf_unchecked);
	fputc('\n', fp);
	report_line(fp, "dkim pass", r->dkim_pass);
	report_line(fp, "dkim fail", r->dkim_fail);
	report_line(fp, "dkim none", r->dkim_none);
	fputc('\n', fp);
	report_line(fp, "dmarc pass", r->dmarc_pass);
	report_line(fp, "dmarc fail", r->dmarc_fail);
	report_line(fp, "dmarc none", r->dmarc_none);
	report_line(fp, "dmarc temperror", r->dmarc_temperror);
	report_line(fp, "dmarc permerror", r->dmarc_permerror);
	report_line(fp, "dmarc not checked", r->dmarc_unchecked);
	report_line(fp, "-junk", r->junk);
	report_line(fp, "-refused by dmarc", r->refused_dmarc);
}

/* report_utf8_len - the length of the well-formed UTF-8 sequence at s
 * (RFC 3629 §4: no overlong form, no surrogate, at most U+10FFFF), or 0. */
static size_t
report_utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)		/* stops at the NUL: 0 is no 10xxxxxx */
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/* report_json_string - a JSON string (RFC 8259 §7): quote, backslash and
 * control characters escaped, well-formed UTF-8 as it is, and any other
 * byte (the database keeps what the network sent) as U+FFFD, so that the
 * output is always valid JSON (RFC 8259 §8.1). */
void
report_json_string(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', fp);
	while (*p != '\0') {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p++);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p++);
		else if (*p < 0x80)
			fputc(*p++, fp);
		else if ((n = report_utf8_len(p)) > 0) {
			fwrite(p, 1, n, fp);
			p += n;
		} else {
			fputs("\\ufffd", fp);
			p++;
		}
	}
	fputc('"', fp);
}

/* report_print_json - the same numbers, snake_case keys, one object. */
void
report_print_json(FILE *fp, const struct report *r, const char *since,
    const char *until)
{
	const struct {
		const char	*key;
		uint64_t	 n;
	} row[] = {
		{ "cbv_calls", r->cbv_calls },
		{ "skips", r->skips },
		{ "bad_domain", r->bad_domain },
		{ "no_mx_records", r->no_mx },
		{ "bad_connects", r->bad_connects },
		{ "smtp_sessions", r->smtp_sessions },
		{ "refused_welcome", r->refused_welcome },
		{ "refused_noop", r->refused_noop },
		{ "refused_helo", r->refused_helo },
		{ "refused_mail_from", r->refused_mail },
		{ "refused_rcpt_to", r->refused_rcpt },
		{ "dns_failures", r->dns_failures },
		{ "accepted", r->accepted },
		{ "timeouts", r->timeouts },
		{ "rfc3821_peers", r->rfc3821_peers },
		{ "sessions", r->sessions },
		{ "helo_refused", r->helo_refused },
		{ "helo_logged", r->helo_logged },
		{ "spf_pass", r->spf_pass },
		{ "spf_fail", r->spf_fail },
		{ "spf_softfail", r->spf_softfail },
		{ "spf_neutral", r->spf_neutral },
		{ "spf_none", r->spf_none },
		{ "spf_temperror", r->spf_temperror },
		{ "spf_permerror", r->spf_permerror },
		{ "spf_not_checked", r->spf_unchecked },
		{ "dkim_pass", r->dkim_pass },
		{ "dkim_fail", r->dkim_fail },
		{ "dkim_none", r->dkim_none },
		{ "dmarc_pass", r->dmarc_pass },
		{ "dmarc_fail", r->dmarc_fail },
		{ "dmarc_none", r->dmarc_none },
		{ "dmarc_temperror", r->dmarc_temperror },
		{ "dmarc_permerror", r->dmarc_permerror },
		{ "dmarc_not_checked", r->dmarc_unchecked },
		{ "junk", r->junk },
		{ "refused_by_dmarc", r->refused_dmarc },
	};
	size_t i;

	fputs("{\n  \"since\": ", fp);
	report_json_string(fp, since);
	fputs(",\n  \"until\": ", fp);
	report_json_string(fp, until);
	for (i = 0; i < sizeof(row) / sizeof(row[0]); i++)
		fprintf(fp, ",\n  \"%s\": %" PRIu64, row[i].key, row[i].n);
	fprintf(fp, ",\n  \"refused_mail_from_percent\": %.2f",
	    report_percent(r->refused_mail, r->smtp_sessions));
	fprintf(fp, ",\n  \"refused_rcpt_to_percent\": %.2f\n}\n",
	    report_percent(r->refused_rcpt, r->smtp_sessions));
}

/* report_digits - n decimal digits at s, into *out; -1 if not all digits. */
static int
report_digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* report_parse_day - exactly YYYY-MM-DD, a real calendar day from 1970 to
 * 9999, into *tm (local midnight, DST left to mktime). 0 or -1. */
int
report_parse_day(const char *s, struct tm *tm)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
		31, 30, 31 };
	int y, m, d, leap;

	if (s == NULL || strlen(s) != REPORT_DAY_LEN - 1 || s[4] != '-' ||
	    s[7] != '-' || report_digits(s, 4, &y) < 0 ||
	    report_digits(s + 5, 2, &m) < 0 ||
	    report_digits(s + 8, 2, &d) < 0)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !leap))
		return -1;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	tm->tm_isdst = -1;
	return 0;
}

/* report_day_start - epoch seconds of local midnight starting the day
 * plus_days after *day (1: the end of an inclusive --until); -1 if
 * mktime cannot represent it. */
double
report_day_start(const struct tm *day, int plus_days)
{
	struct tm tm = *day;
	time_t t;

	tm.tm_mday += plus_days;	/* mktime normalises month ends */
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if ((t = mktime(&tm)) == (time_t)-1)
		return -1;
	return (double)t;
}

/* report_today - today's local date, YYYY-MM-DD; buf holds REPORT_DAY_LEN. */
void
report_today(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	if (len == 0)
		return;
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		buf[0] = '\0';
}
