/* sender_verdict.h - what a DNS answer or a call-back result means for a
 * return path, and the reply it earns under the configured policy. */
#ifndef SENDER_VERDICT_H
#define SENDER_VERDICT_H

#include <stddef.h>

#include "strictmx.h"
#include "resolver.h"

struct cbv_result;
struct conf;
struct mailaddr;
struct sender_verdict;

/* What DNS says of a sender domain (RFC 5321 §5.1, RFC 7505). */
enum sender_dns {
	SENDER_DNS_OK,		/* mail hosts found (MX or implicit MX) */
	SENDER_DNS_NXDOMAIN,	/* the domain does not exist */
	SENDER_DNS_NODATA,	/* no MX: ask A/AAAA for an implicit MX */
	SENDER_DNS_NOMX,	/* no MX and no address */
	SENDER_DNS_NULLMX,	/* "MX 0 ." */
	SENDER_DNS_TEMPFAIL,	/* timeout, SERVFAIL... */
	SENDER_DNS_LAST,
};

void	sender_verdict_accept(struct sender_verdict *, const char *,
	    const char *, const char *);
void	sender_verdict_refuse(const struct conf *, struct sender_verdict *,
	    int, const char *, const char *, const struct mailaddr *,
	    const char *, ...) PRINTF_LIKE(7, 8);
enum sender_dns sender_verdict_mx(const struct resolver_result *,
	    struct resolver_mx *, size_t, size_t *);
enum sender_dns sender_verdict_addr(enum resolver_status,
	    enum resolver_status);
const char *sender_verdict_dns_name(enum sender_dns);
const char *sender_verdict_dns_text(enum sender_dns);
void	sender_verdict_dns(const struct conf *, const struct mailaddr *,
	    enum sender_dns, struct sender_verdict *);
void	sender_verdict_probe(const struct conf *, const struct mailaddr *,
	    const struct cbv_result *, struct sender_verdict *);

#endif
