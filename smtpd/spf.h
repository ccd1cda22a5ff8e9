/* spf.h - Sender Policy Framework (RFC 7208) check_host(), evaluated on the
 * event loop through resolver.c: never blocks, bounded in time and memory. */
#ifndef SPF_H
#define SPF_H

#include <sys/socket.h>

#include "strictmx.h"

/* RFC 7208 §2.6, in the order of the enum's name table. */
enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
	SPF_RESULT_LAST
};

/* Which identity was checked (RFC 7208 §2.3, §2.4). */
enum spf_identity {
	SPF_ID_MAILFROM,
	SPF_ID_HELO,
	SPF_ID_LAST
};

/* The longest explanation kept: the exp= text, expanded and made printable
 * ASCII, cut to fit in one SMTP reply line after "550 5.7.23 ". */
#define SPF_EXPLANATION_MAX	400

/* The inputs of check_host(). spf_args_init() fills them from the SMTP
 * dialogue; every domain is already in A-label form (IDNA). */
struct spf_args {
	struct sockaddr_storage	 client;	/* <ip>; v4-mapped = IPv4 */
	enum spf_identity	 identity;
	char	domain[SMTP_DOMAIN_MAX + 1];	/* <domain> */
	char	sender[SMTP_PATH_MAX + 1];	/* <sender>: local@domain */
	char	helo[SMTP_DOMAIN_MAX + 1];	/* %{h} */
	char	receiver[SMTP_DOMAIN_MAX + 1];	/* %{r}: our host name */
};

/* What the evaluation found. */
struct spf_outcome {
	enum spf_result	 result;
	enum spf_identity identity;
	char	domain[SMTP_DOMAIN_MAX + 1];	/* the identity's domain */
	char	mechanism[64];		/* the term that matched, for logs
					 * ("-all", "ip4:192.0.2.0/24"; "" when
					 * none or on error) */
	char	explanation[SPF_EXPLANATION_MAX + 1];	/* fail only: exp=
						 * text, sanitised; "" if none */
	char	problem[160];		/* temperror/permerror: why, for logs
					 * ("void lookup limit", "truncated DNS
					 * answer for TXT example.org") */
	unsigned dns_terms;		/* DNS-querying terms used (<= 10) */
	unsigned void_lookups;		/* (<= 2) */
	double	 duration;		/* seconds */
};

struct spf_check;

/* Called once, from the loop (never from inside spf_check_start), unless
 * spf_check_cancel() came first. The outcome is valid during the call. */
typedef void spf_done_fn(void *, const struct spf_outcome *);

struct event_base;

/* spf_init - the event loop that checks run on (their timers); call once
 * after resolver_init(), before any spf_check_start(). */
void	spf_init(struct event_base *);

/* spf_args_init - the RFC 7208 §2.3/§2.4 choice of identity: MAIL FROM
 * (mailfrom "local@domain", domain part used) or, for a null sender, the
 * HELO identity with sender "postmaster@helo". A mailfrom without a local
 * part gets "postmaster" (§4.3). The domains must be A-labels already.
 * Returns 0, or -1 when the identity's domain is not a usable FQDN (the
 * result is then SPF_NONE, RFC 7208 §4.3). */
int	spf_args_init(struct spf_args *, const struct sockaddr *,
	    const char *mailfrom, const char *helo, const char *receiver);

/* spf_check_start - evaluate check_host() for args. Bounded: at most
 * 10 DNS-querying terms and 2 void lookups (RFC 7208 §4.6.4), each lookup
 * bounded by the resolver's timeout, the whole by overall_timeout seconds.
 * Never returns NULL. */
struct spf_check *spf_check_start(const struct spf_args *, unsigned,
	    spf_done_fn *, void *);
void	spf_check_cancel(struct spf_check *);
const char *spf_result_text(enum spf_result);	/* "pass", "softfail"... */
const char *spf_identity_text(enum spf_identity);	/* "mailfrom", "helo" */

#endif
