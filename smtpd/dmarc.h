/* dmarc.h - DMARC (RFC 7489) for one message: the RFC5322.From domain, its
 * policy record (or its organisational domain's), alignment, disposition. */
#ifndef DMARC_H
#define DMARC_H

#include <stddef.h>

#include "msghdr.h"
#include "strictmx.h"

struct event_base;
struct spf_outcome;
struct dkim_outcome;

/* RFC 8601 §2.7.x / RFC 7489 §11.2 results, in the order of the name
 * table. */
enum dmarc_result {
	DMARC_NONE,		/* no usable From domain, or no record */
	DMARC_PASS,
	DMARC_FAIL,
	DMARC_TEMPERROR,	/* the record lookup failed for now */
	DMARC_PERMERROR,	/* several From domains (RFC 7489 §6.6.1),
				 * or a record that cannot be used */
	DMARC_RESULT_LAST
};

/* A policy, as p=/sp= write it; DMARC_P_UNSET when there is no record. */
enum dmarc_policy {
	DMARC_P_UNSET,
	DMARC_P_NONE,
	DMARC_P_QUARANTINE,
	DMARC_P_REJECT,
	DMARC_P_LAST
};

/* What the From: header yields. */
struct dmarc_from {
	int	ndomains;		/* distinct domains among the From:
					 * addresses (0: none or unparsable) */
	int	nfields;		/* From: fields in the header */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* the one domain, A-labels,
						 * lower case; "" unless
						 * ndomains == 1 */
	char	problem[96];		/* printable: why the From: cannot be
					 * evaluated as one ("no From: field",
					 * "several From: fields", "From:
					 * addresses in several domains", a
					 * syntax error...); "" when it can */
	/* private to dmarc_from.c: hashes of the distinct domains once
	 * there are two or more (ndomains counts up to DMARC_FROM_COUNT) */
	unsigned long long seen[16];
};
#define DMARC_FROM_COUNT	16

struct dmarc_outcome {
	enum dmarc_result  result;
	enum dmarc_policy  policy;	/* the one that applies (p=, or sp= for
					 * a subdomain): policy.dmarc */
	enum dmarc_policy  disposition;	/* what to do after pct=: none,
					 * quarantine or reject */
	char	from_domain[SMTP_DOMAIN_MAX + 1];	/* header.from */
	char	org_domain[SMTP_DOMAIN_MAX + 1];	/* public suffix + 1 */
	char	record_domain[SMTP_DOMAIN_MAX + 1];	/* where p= was found:
							 * "" if nowhere */
	int	spf_aligned;		/* an SPF pass aligned with From */
	int	dkim_aligned;		/* a DKIM pass aligned with From */
	char	dkim_domain[SMTP_DOMAIN_MAX + 1];	/* the aligned d= */
	char	problem[160];		/* printable: why none/temperror/
					 * permerror */
	double	duration;
};

struct dmarc_check;

typedef void dmarc_done_fn(void *, const struct dmarc_outcome *);

/* dmarc_init - the loop the checks run on and the public suffix list
 * (libpsl, Debian's publicsuffix); 0, or -1 logged. */
int	dmarc_init(struct event_base *);
void	dmarc_shutdown(void);

/* dmarc_from - the From: domain(s) of a header section (RFC 5322 §3.6.2
 * mailbox-list: display names, comments, quoted strings, groups; U-labels
 * converted to A-labels). A From: field that does not parse, or a header
 * section past MSGHDR_MAX, gives ndomains 0 with problem set; see
 * dmarc_from.c for what is tolerated. dmarc_check_start() makes nfields 0
 * none, and nfields > 1, ndomains != 1 permerror (RFC 7489 §6.6.1). */
void	dmarc_from(const struct msghdr_section *, struct dmarc_from *);

/* dmarc_org_domain - the organisational domain (RFC 7489 §3.2) of d into
 * out: the public suffix plus one label; d itself when it is one. 0, or
 * -1 when d is a public suffix or unusable. */
int	dmarc_org_domain(const char *, char *, size_t);

/* dmarc_check_start - evaluate DMARC for the From: domain(s) with the SPF
 * outcome (MAIL FROM identity only counts, RFC 7489 §4.2) and the DKIM
 * outcome: the record at _dmarc.<from>, else at _dmarc.<org domain>
 * (§6.6.3), alignment per adkim=/aspf=, p=/sp=, pct=. The callback runs
 * once, from the loop, unless dmarc_check_cancel() came first. Bounded by
 * timeout seconds. Never NULL. */
struct dmarc_check *dmarc_check_start(const struct dmarc_from *,
	    const struct spf_outcome *, const struct dkim_outcome *, unsigned,
	    dmarc_done_fn *, void *);
void	dmarc_check_cancel(struct dmarc_check *);

/* dmarc_from_value - the From: addresses of one field value (after the
 * colon, folded lines as received) added to f (ndomains, domain): 0, or
 * -1 with f->problem set when the value is not a usable mailbox-list or
 * address-list. dmarc_from() calls it per field; for tests and fuzzing. */
int	dmarc_from_value(const char *, size_t, struct dmarc_from *);

const char *dmarc_result_text(enum dmarc_result);
const char *dmarc_policy_text(enum dmarc_policy);	/* "none"... */

#endif
