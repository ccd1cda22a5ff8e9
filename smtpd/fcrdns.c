/* fcrdns.c - forward-confirmed reverse DNS of a client (RFC 8601 §3's
 * "iprev"): a PTR name counts only when its own addresses name the client.
 *
 *	fcrdns_start - begin for a client address; NULL when it cannot start
 *		(no callback then: the caller treats it as FCRDNS_TEMPFAIL)
 *	fcrdns_cancel - stop, cancelling every sub-query; no callback after it
 *
 * The PTR lookup comes first, then A (IPv4 client, IPv4-mapped included)
 * or AAAA (IPv6 client) lookups of up to FCRDNS_MAX_NAMES of its names, all
 * in flight at once. The confirmed name is the first one, in the order of
 * the PTR answer, whose addresses include the client: a later name that
 * confirms first waits for the earlier ones, so the answer does not depend
 * on which lookup happened to return first. A name that is not a plain
 * host name (letters, digits, '-', '_' and dots) is skipped: it goes into
 * Received headers and logs.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "fcrdns.h"
#include "log.h"
#include "resolver.h"
#include "xmalloc.h"

/* Bound on forward lookups per client: a PTR RRset of hundreds of names
 * must not turn one connection into hundreds of queries. */
#define FCRDNS_MAX_NAMES	4

enum fcrdns_name_state {
	FCRDNS_N_PENDING,
	FCRDNS_N_MATCH,		/* its addresses include the client */
	FCRDNS_N_NOMATCH,	/* definitely not (NXDOMAIN, NODATA, others) */
	FCRDNS_N_TEMPFAIL,
};

struct fcrdns_query;

struct fcrdns_name {
	struct fcrdns_query	*fq;
	char			 name[SMTP_DOMAIN_MAX + 1];
	struct resolver_query	*q;
	enum fcrdns_name_state	 state;
};

struct fcrdns_query {
	struct sockaddr_storage	 client;	/* IPv4-mapped made IPv4 */
	fcrdns_fn		*fn;
	void			*arg;
	struct resolver_query	*ptrq;
	struct fcrdns_name	 names[FCRDNS_MAX_NAMES];
	size_t			 nnames;
};

/* fcrdns_free - cancel whatever is still in flight and free fq. */
static void
fcrdns_free(struct fcrdns_query *fq)
{
	size_t i;

	resolver_cancel(fq->ptrq);
	for (i = 0; i < fq->nnames; i++)
		resolver_cancel(fq->names[i].q);
	free(fq);
}

/* fcrdns_finish - end fq and call back once; name valid during the call. */
static void
fcrdns_finish(struct fcrdns_query *fq, enum fcrdns_status st,
    const char *name)
{
	char copy[SMTP_DOMAIN_MAX + 1];
	fcrdns_fn *fn = fq->fn;
	void *arg = fq->arg;

	if (name != NULL)
		memcpy(copy, name, strlen(name) + 1);
	fcrdns_free(fq);
	fn(st, name != NULL ? copy : NULL, arg);
}

/* fcrdns_decide - call back if the answer is known: the first name (PTR
 * order) that matched, once every name before it has definitely not. */
static void
fcrdns_decide(struct fcrdns_query *fq)
{
	int tempfail = 0;
	size_t i;

	for (i = 0; i < fq->nnames; i++) {
		switch (fq->names[i].state) {
		case FCRDNS_N_PENDING:
			return;
		case FCRDNS_N_MATCH:
			fcrdns_finish(fq, FCRDNS_OK, fq->names[i].name);
			return;
		case FCRDNS_N_TEMPFAIL:
			tempfail = 1;
			break;
		case FCRDNS_N_NOMATCH:
			break;
		}
	}
	fcrdns_finish(fq, tempfail ? FCRDNS_TEMPFAIL : FCRDNS_NONE, NULL);
}

/* fcrdns_fwd_cb - the A/AAAA answer for one PTR name. */
static void
fcrdns_fwd_cb(const struct resolver_result *res, void *arg)
{
	struct fcrdns_name *n = arg;
	size_t i;

	n->q = NULL;
	n->state = res->status == RESOLVER_TEMPFAIL ? FCRDNS_N_TEMPFAIL :
	    FCRDNS_N_NOMATCH;
	for (i = 0; res->status == RESOLVER_OK && i < res->n; i++)
		if (resolver_addr_equal((const struct sockaddr *)&res->addr[i],
		    (const struct sockaddr *)&n->fq->client)) {
			n->state = FCRDNS_N_MATCH;
			break;
		}
	fcrdns_decide(n->fq);
}

/* fcrdns_name_ok - a plain host name, safe for headers and logs. */
static int
fcrdns_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* fcrdns_ptr_cb - the PTR answer: start the forward lookups. */
static void
fcrdns_ptr_cb(const struct resolver_result *res, void *arg)
{
	struct fcrdns_query *fq = arg;
	struct fcrdns_name *n;
	size_t i;

	fq->ptrq = NULL;
	if (res->status == RESOLVER_TEMPFAIL) {
		fcrdns_finish(fq, FCRDNS_TEMPFAIL, NULL);
		return;
	}
	for (i = 0; res->status == RESOLVER_OK && i < res->n &&
	    fq->nnames < FCRDNS_MAX_NAMES; i++) {
		if (!fcrdns_name_ok(res->name[i]))
			continue;
		n = &fq->names[fq->nnames++];
		n->fq = fq;
		memcpy(n->name, res->name[i], strlen(res->name[i]) + 1);
		n->state = FCRDNS_N_PENDING;
	}
	/* Submit only once the list is complete: no callback can run before
	 * we return to the loop, but fcrdns_decide must see every name. */
	for (i = 0; i < fq->nnames; i++) {
		n = &fq->names[i];
		n->q = fq->client.ss_family == AF_INET ?
		    resolver_a(n->name, fcrdns_fwd_cb, n) :
		    resolver_aaaa(n->name, fcrdns_fwd_cb, n);
		if (n->q == NULL)
			n->state = FCRDNS_N_TEMPFAIL;
	}
	fcrdns_decide(fq);	/* no names, or every submission failed */
}

/* fcrdns_start - FCrDNS of client sa; fn runs once on the loop. */
struct fcrdns_query *
fcrdns_start(const struct sockaddr *sa, fcrdns_fn *fn, void *arg)
{
	struct fcrdns_query *fq;

	if (sa == NULL || fn == NULL)
		return NULL;
	fq = xcalloc(1, sizeof(*fq));
	if (cidr_sockaddr_unmap(sa, &fq->client) < 0) {
		free(fq);
		return NULL;
	}
	fq->fn = fn;
	fq->arg = arg;
	fq->ptrq = resolver_ptr((const struct sockaddr *)&fq->client,
	    fcrdns_ptr_cb, fq);
	if (fq->ptrq == NULL) {
		free(fq);
		return NULL;
	}
	return fq;
}

/* fcrdns_cancel - stop fq (NULL is fine); its callback will not run. */
void
fcrdns_cancel(struct fcrdns_query *fq)
{
	if (fq != NULL)
		fcrdns_free(fq);
}
