/* report.h - the field-statistics report of DESIGN §6, computed from the
 * stats database and printed as text (the 2003 layout) or as JSON. */
#ifndef REPORT_H
#define REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct sqlite3;

/* Every number of the report; the definitions are in strictmxctl(8). The
 * six counts marked (*) partition cbv_calls: each row is in exactly one. */
struct report {
	/* the eleven lines of the 2003 statistics */
	uint64_t	cbv_calls;
	uint64_t	skips;			/* (*) */
	uint64_t	bad_domain;		/* (*) */
	uint64_t	no_mx;			/* (*) */
	uint64_t	bad_connects;		/* (*) */
	uint64_t	smtp_sessions;		/* (*) */
	uint64_t	refused_welcome;
	uint64_t	refused_noop;
	uint64_t	refused_helo;
	uint64_t	refused_mail;
	uint64_t	refused_rcpt;
	/* our own lines */
	uint64_t	dns_failures;		/* (*) */
	uint64_t	accepted;
	uint64_t	timeouts;
	uint64_t	rfc3821_peers;
	uint64_t	sessions;
	uint64_t	helo_refused;
	uint64_t	helo_logged;
	/* messages that reached the end of DATA, by SPF result (auth) */
	uint64_t	spf_pass;
	uint64_t	spf_fail;
	uint64_t	spf_softfail;
	uint64_t	spf_neutral;
	uint64_t	spf_none;
	uint64_t	spf_temperror;
	uint64_t	spf_permerror;
	uint64_t	spf_unchecked;		/* SPF off or not evaluated */
	/* the same messages by DKIM (the three partition them) */
	uint64_t	dkim_pass;		/* a signature passed */
	uint64_t	dkim_fail;		/* signatures, none passed */
	uint64_t	dkim_none;		/* no signature, or not verified */
	/* by DMARC result (the six partition them), then two dispositions */
	uint64_t	dmarc_pass;
	uint64_t	dmarc_fail;
	uint64_t	dmarc_none;
	uint64_t	dmarc_temperror;
	uint64_t	dmarc_permerror;
	uint64_t	dmarc_unchecked;	/* DMARC off */
	uint64_t	junk;			/* into the quarantine folder */
	uint64_t	refused_dmarc;		/* refused because of DMARC */
};

/* How the readers (report.c, report_auth.c) classify an auth row; the
 * daemon writes the columns as strictmxctl(8) "Table auth" says. The dkim
 * column is "RESULT d=DOMAIN s=SELECTOR" per signature, "; " between
 * them: a message passes DKIM when one entry's RESULT is pass (each
 * signature stands alone: one that verifies is enough, RFC 6376 §6.1),
 * fails when it has entries and none passes, and has none when the
 * column is NULL or empty (no signature, or dkim_verify no). */
#define REPORT_DKIM_NONE_SQL	"(dkim IS NULL OR dkim = '')"
#define REPORT_DKIM_PASS_SQL \
	"(dkim IS NOT NULL AND (dkim = 'pass' OR dkim GLOB 'pass *' OR" \
	" dkim GLOB '*; pass' OR dkim GLOB '*; pass *'))"
#define REPORT_DKIM_FAIL_SQL \
	"(NOT " REPORT_DKIM_NONE_SQL " AND NOT " REPORT_DKIM_PASS_SQL ")"
/* Refused because of DMARC (DESIGN §8): a p=reject failure answered 550
 * after the dot, or a policy that could not be fetched (temperror) for a
 * message it would otherwise refuse, answered 451. IS, not =: the value
 * is 0 or 1, never NULL, so that NOT of it is defined. */
#define REPORT_REFUSED_DMARC_SQL \
	"(disposition IS 'refused' AND ((dmarc_result IS 'fail' AND" \
	" dmarc_policy IS 'reject' AND reply_code IS 550) OR" \
	" (dmarc_result IS 'temperror' AND reply_code IS 451)))"

/* A day as the command line gives it: YYYY-MM-DD, local time. */
#define REPORT_DAY_LEN	sizeof("YYYY-MM-DD")

int	report_compute(struct sqlite3 *, double, double, struct report *);
double	report_percent(uint64_t, uint64_t);
void	report_print_text(FILE *, const struct report *, const char *,
	    const char *);
void	report_print_json(FILE *, const struct report *, const char *,
	    const char *);
void	report_json_string(FILE *, const char *);
int	report_parse_day(const char *, struct tm *);
double	report_day_start(const struct tm *, int);
void	report_today(char *, size_t);

#endif
