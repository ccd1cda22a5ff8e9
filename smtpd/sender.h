/* sender.h - the return-path policy: null sender, syntax, local-domain
 * spoofing, dmp_table, cache, DNS, then call-back verification (cbv.c). */
#ifndef SENDER_H
#define SENDER_H

#include <stdio.h>
#include <sys/socket.h>

#include "strictmx.h"
#include "resolver.h"

struct cbv_result;
struct conf;
struct event_base;
struct mailaddr;
struct sender_check;

/* What the policy decided. code 0 means accept. In sender_policy log,
 * reply holds what enforce would have said and enforced is 0. */
struct sender_verdict {
	int	code;			/* 0, 4xx or 5xx */
	int	enforced;
	char	reply[SMTP_REPLYLINE_MAX];	/* full reply without CRLF */
	char	decided_by[16];		/* null, exempt, off, local, dmp,
					 * cache, dns, probe */
	char	outcome[16];		/* pass, fail, tempfail */
	char	reason[160];		/* for the log line */
};

typedef void sender_done_fn(void *, const struct sender_verdict *);

int	sender_init(struct event_base *, const struct conf *);
int	sender_reconfigure(const struct conf *);
void	sender_shutdown(void);
struct sender_check *sender_check_start(const struct conf *,
	    const struct mailaddr *, const struct sockaddr *, const char *,
	    sender_done_fn *, void *, struct sender_verdict *);
void	sender_check_cancel(struct sender_check *);
size_t	sender_keywords(const struct conf *, char *, size_t);

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

/* `strictmxd -n`: check dmp_table, errors as FILE:LINE: msg; 0 or -1. */
int	sender_check_config(const struct conf *, FILE *);
/* Plain decisions over already-fetched data (tests, strictmxctl cbv). */
enum sender_dns sender_mx_classify(const struct resolver_result *,
	    struct resolver_mx *, size_t, size_t *);
enum sender_dns sender_addr_classify(enum resolver_status,
	    enum resolver_status);
const char *sender_dns_name(enum sender_dns);
void	sender_dns_verdict(const struct conf *, const struct mailaddr *,
	    enum sender_dns, struct sender_verdict *);
void	sender_probe_verdict(const struct conf *, const struct mailaddr *,
	    const struct cbv_result *, struct sender_verdict *);

#endif
