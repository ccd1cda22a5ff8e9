/* dmarc_policy.h - the DMARC decision for one message once the record is
 * known (RFC 7489 §3.1 alignment, §6.6.2 result, §6.6.4 pct=): pure. */
#ifndef DMARC_POLICY_H
#define DMARC_POLICY_H

#include "dmarc.h"

struct dmarc_record;
struct spf_outcome;
struct dkim_outcome;

/* dmarc_aligned - 1 when domain other aligns with the From domain:
 * strict, the same name; relaxed, the same organisational domain. Both
 * A-labels; case is ignored. */
int	dmarc_aligned(const char *from, const char *other, int strict);

/* dmarc_lower - the next lower policy (§6.6.4: reject -> quarantine,
 * quarantine -> none); none and unset stay. */
enum dmarc_policy dmarc_lower(enum dmarc_policy);

/* dmarc_decide - fill out's result, policy, disposition, spf_aligned,
 * dkim_aligned and dkim_domain from the record rec (found at
 * out->record_domain; at_org when that is the organisational domain the
 * lookup fell back to, so sp= applies), the SPF outcome (only a pass of
 * the MAIL FROM identity counts, §4.2), the DKIM outcome (any pass) and
 * draw, a number in 0..99 (the message is sampled when draw < pct).
 * out->from_domain must be set; spf and dkim may be NULL. */
void	dmarc_decide(struct dmarc_outcome *out, const struct dmarc_record *rec,
	    int at_org, const struct spf_outcome *spf,
	    const struct dkim_outcome *dkim, unsigned draw);

#endif
