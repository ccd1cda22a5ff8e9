/* resolver.h - asynchronous DNS on the event loop: udns, its socket as a
 * read event and its timeouts as one timer. Nothing here ever blocks. */
#ifndef RESOLVER_H
#define RESOLVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "strictmx.h"

struct event_base;
struct conf;
struct resolver_query;

enum resolver_status {
	RESOLVER_OK,		/* at least one record */
	RESOLVER_NXDOMAIN,	/* the name does not exist */
	RESOLVER_NODATA,	/* the name exists, no record of that type */
	RESOLVER_TEMPFAIL,	/* timeout, SERVFAIL, malformed answer... */
};

#define RESOLVER_MAX_RR	32	/* records kept per answer */
/* EDNS0 (RFC 6891) UDP payload size on every query: 1232 octets, the
 * DNS Flag Day 2020 value, fits every path MTU without fragments. An
 * answer that does not fit comes back truncated (TC), and since udns
 * has no TCP that is a temporary failure, never a partial answer. */
#define RESOLVER_EDNS0_SIZE	1232
/* TXT octets kept per answer: more than an EDNS0 answer can carry. */
#define RESOLVER_TXT_MAX	(RESOLVER_EDNS0_SIZE + RESOLVER_MAX_RR)

struct resolver_mx {
	unsigned	pref;
	char		name[SMTP_DOMAIN_MAX + 1];	/* "" for null MX "." */
};

struct resolver_result {
	enum resolver_status	 status;
	int			 truncated;	/* TC set: status TEMPFAIL */
	unsigned		 ttl;		/* seconds it may be kept */
	size_t			 n;
	/* Exactly one array is used, by the query type. */
	struct sockaddr_storage	 addr[RESOLVER_MAX_RR];	/* A, AAAA */
	char			 name[RESOLVER_MAX_RR][SMTP_DOMAIN_MAX + 1];
							/* PTR */
	struct resolver_mx	 mx[RESOLVER_MAX_RR];	/* MX, by pref */
	/* TXT: record i is txt_len[i] octets at txt + txt_off[i], its
	 * character-strings joined without separator (RFC 7208 §3.3),
	 * followed by a NUL; it may hold NUL octets of its own. */
	char			 txt[RESOLVER_TXT_MAX];
	size_t			 txt_off[RESOLVER_MAX_RR];
	size_t			 txt_len[RESOLVER_MAX_RR];
};

/* The callback runs on the loop once per query, never after
 * resolver_cancel() and never from inside the submit call. The result is
 * valid only during the callback. */
typedef void resolver_fn(const struct resolver_result *, void *);

int	resolver_init(struct event_base *, const struct conf *);
int	resolver_reconfigure(const struct conf *);
void	resolver_shutdown(void);
struct resolver_query *resolver_a(const char *, resolver_fn *, void *);
struct resolver_query *resolver_aaaa(const char *, resolver_fn *, void *);
struct resolver_query *resolver_ptr(const struct sockaddr *, resolver_fn *,
	    void *);
struct resolver_query *resolver_mx(const char *, resolver_fn *, void *);
struct resolver_query *resolver_txt(const char *, resolver_fn *, void *);
void	resolver_cancel(struct resolver_query *);
const char *resolver_status_text(enum resolver_status);

/* Added by the resolver's owner (see resolver.c for the contracts).
 * A submit function returns NULL only when the query could not even be
 * started (resolver not running, unusable name, out of memory): no
 * callback follows and the caller treats it as RESOLVER_TEMPFAIL. */
struct sockaddr_storage;
void	resolver_set_timeout(unsigned);		/* seconds, default 5 */
int	resolver_parse_server(const char *, struct sockaddr_storage *);
int	resolver_addr_equal(const struct sockaddr *, const struct sockaddr *);

#endif
