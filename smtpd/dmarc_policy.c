/* dmarc_policy.c - the DMARC decision once the policy record is in hand:
 * identifier alignment, result, the policy that applies, pct= sampling.
 *
 *	dmarc_aligned - does a domain align with the From domain (§3.1)
 *	dmarc_lower - the next lower policy (§6.6.4)
 *	dmarc_decide - result, policy and disposition of one message
 *
 * Pure functions over data already fetched (the public suffix list aside,
 * loaded once by dmarc_init or libpsl's built-in copy), so that the tests
 * check every decision without DNS (STYLE guideline 5).
 */
#include <string.h>

#include "dkim.h"
#include "dmarc_policy.h"
#include "dmarc_record.h"
#include "idna.h"
#include "spf.h"

/* dmarc_norm - d as a comparable name: one trailing dot dropped, A-labels,
 * lower case. 0, or -1 when it is no domain name. */
static int
dmarc_norm(const char *d, char *out, size_t size)
{
	char buf[SMTP_DOMAIN_MAX + 1];
	size_t n = strlen(d);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, d, n + 1);
	if (buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return idna_to_alabel(buf, out, size);
}

/* dmarc_aligned - see dmarc_policy.h. §3.1.1, §3.1.2: relaxed means the
 * same organisational domain; a name that has none (a public suffix)
 * aligns only with itself. */
int
dmarc_aligned(const char *from, const char *other, int strict)
{
	char a[SMTP_DOMAIN_MAX + 1], b[SMTP_DOMAIN_MAX + 1];
	char oa[SMTP_DOMAIN_MAX + 1], ob[SMTP_DOMAIN_MAX + 1];

	if (from == NULL || other == NULL ||
	    dmarc_norm(from, a, sizeof(a)) < 0 ||
	    dmarc_norm(other, b, sizeof(b)) < 0)
		return 0;
	if (strcmp(a, b) == 0)
		return 1;
	if (strict)
		return 0;
	if (dmarc_org_domain(a, oa, sizeof(oa)) < 0 ||
	    dmarc_org_domain(b, ob, sizeof(ob)) < 0)
		return 0;
	return strcmp(oa, ob) == 0;
}

/* dmarc_lower - see dmarc_policy.h. */
enum dmarc_policy
dmarc_lower(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_P_REJECT:
		return DMARC_P_QUARANTINE;
	case DMARC_P_QUARANTINE:
		return DMARC_P_NONE;
	default:
		return p;
	}
}

/* dmarc_decide - see dmarc_policy.h. */
void
dmarc_decide(struct dmarc_outcome *out, const struct dmarc_record *rec,
    int at_org, const struct spf_outcome *spf,
    const struct dkim_outcome *dkim, unsigned draw)
{
	size_t i;

	out->spf_aligned = 0;
	out->dkim_aligned = 0;
	out->dkim_domain[0] = '\0';
	/* §4.2, §3.1.2: SPF counts only for the MAIL FROM identity (the
	 * HELO identity is an SPF matter, not an RFC5321.MailFrom one) */
	if (spf != NULL && spf->result == SPF_PASS &&
	    spf->identity == SPF_ID_MAILFROM &&
	    dmarc_aligned(out->from_domain, spf->domain, rec->aspf_strict))
		out->spf_aligned = 1;
	/* §3.1.1: any valid signature whose d= aligns */
	for (i = 0; dkim != NULL && i < dkim->nsig && i < DKIM_SIG_MAX; i++)
		if (dkim->sig[i].result == DKIM_PASS &&
		    dmarc_aligned(out->from_domain, dkim->sig[i].domain,
		    rec->adkim_strict)) {
			out->dkim_aligned = 1;
			strlcpy_compat(out->dkim_domain, dkim->sig[i].domain,
			    sizeof(out->dkim_domain));
			break;
		}
	/* §6.6.3 step 6: sp= for a subdomain of the organisational domain
	 * whose record was found there, p= otherwise */
	out->policy = rec->p;
	if (at_org && rec->sp != DMARC_P_UNSET)
		out->policy = rec->sp;
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARC_PASS;
		out->disposition = DMARC_P_NONE;
		return;
	}
	out->result = DMARC_FAIL;
	/* §6.6.4: pct= percent of failing messages get the policy; the
	 * others the next lower one (pct=0: never the policy itself) */
	out->disposition = draw < rec->pct ? out->policy :
	    dmarc_lower(out->policy);
}
