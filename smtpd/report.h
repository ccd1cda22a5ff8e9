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
};

/* A day as the command line gives it: YYYY-MM-DD, local time. */
#define REPORT_DAY_LEN	sizeof("YYYY-MM-DD")

int	report_compute(struct sqlite3 *, double, double, struct report *);
double	report_percent(uint64_t, uint64_t);
void	report_print_text(FILE *, const struct report *, const char *,
	    const char *);
void	report_print_json(FILE *, const struct report *, const char *,
	    const char *);
int	report_parse_day(const char *, struct tm *);
double	report_day_start(const struct tm *, int);
void	report_today(char *, size_t);

#endif
