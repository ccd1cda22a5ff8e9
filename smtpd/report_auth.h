/* report_auth.h - the DMARC aggregate view of DESIGN §8: the auth table
 * grouped by (From: domain, client IP), printed as text or as JSON. */
#ifndef REPORT_AUTH_H
#define REPORT_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "strictmx.h"

struct sqlite3;

/* The outcomes counted per row, in the order of the text columns and of
 * the JSON keys (strictmxctl(8) "THE DMARC AGGREGATE VIEW"). */
enum report_auth_count {
	REPORT_AUTH_SPF_PASS,
	REPORT_AUTH_SPF_FAIL,
	REPORT_AUTH_SPF_SOFTFAIL,
	REPORT_AUTH_SPF_NEUTRAL,
	REPORT_AUTH_SPF_NONE,
	REPORT_AUTH_SPF_TEMPERROR,
	REPORT_AUTH_SPF_PERMERROR,
	REPORT_AUTH_SPF_NOT_CHECKED,
	REPORT_AUTH_DKIM_PASS,
	REPORT_AUTH_DKIM_FAIL,
	REPORT_AUTH_DKIM_NONE,
	REPORT_AUTH_DMARC_PASS,
	REPORT_AUTH_DMARC_FAIL,
	REPORT_AUTH_DMARC_NONE,
	REPORT_AUTH_DMARC_TEMPERROR,
	REPORT_AUTH_DMARC_PERMERROR,
	REPORT_AUTH_DMARC_NOT_CHECKED,
	REPORT_AUTH_POLICY_NONE,
	REPORT_AUTH_POLICY_QUARANTINE,
	REPORT_AUTH_POLICY_REJECT,
	REPORT_AUTH_DELIVERED,
	REPORT_AUTH_JUNK,
	REPORT_AUTH_REFUSED_BY_DMARC,
	REPORT_AUTH_REFUSED_OTHER,
	REPORT_AUTH_LAST
};

/* One (From: domain, client IP) of the period. The text is as stored
 * (untrusted: the printers make it safe), cut to the field. */
struct report_auth_row {
	char		from_domain[SMTP_DOMAIN_MAX + 1];	/* "" = none */
	char		client_ip[64];
	uint64_t	messages;
	uint64_t	n[REPORT_AUTH_LAST];
};

int	report_auth_compute(struct sqlite3 *, double, double,
	    struct report_auth_row **, size_t *);
void	report_auth_print_text(FILE *, const struct report_auth_row *,
	    size_t);
void	report_auth_print_json(FILE *, const struct report_auth_row *,
	    size_t);

#endif
