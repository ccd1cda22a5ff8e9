/* resolver.c - asynchronous DNS for strictmx: udns driven by the libevent
 * loop, its UDP socket as one read event and its retry clock as one timer.
 *
 *	resolver_init - open the resolver on an event base (keys "resolver",
 *		"resolver_timeout")
 *	resolver_reconfigure - new servers and timeout for new queries; old
 *		ones finish
 *	resolver_shutdown - free everything; pending queries get no callback
 *	resolver_set_timeout - the hard bound on one lookup (default 5 s)
 *	resolver_a, resolver_aaaa, resolver_ptr, resolver_mx, resolver_txt -
 *		submit one query; NULL means it failed at once and no callback
 *		will follow (the caller treats that as RESOLVER_TEMPFAIL)
 *	resolver_cancel - forget a query; its callback never runs
 *	resolver_status_text - "ok", "nxdomain", "nodata", "tempfail"
 *	(resolver_parse_server and resolver_addr_equal: resolver_addr.c)
 *
 * Nothing here blocks (STYLE 6): no dns_resolve*, no getaddrinfo. udns only
 * ever sends from dns_timeouts() and answers from dns_ioevent(), so its
 * callbacks run from our two loop events, never from a submit call; we
 * still defer through the loop if that ever changed (in_submit below).
 *
 * udns counts its retry deadlines in whole seconds and, with several
 * servers, may keep trying for far longer than a session can wait, so each
 * query also carries its own deadline timer: when it fires, the udns query
 * is cancelled and the caller gets RESOLVER_TEMPFAIL.
 *
 * Every query carries an EDNS0 OPT record (RFC 6891) offering 1232 octets
 * of UDP payload. udns 0.4 speaks no TCP, and on a truncated (TC) answer
 * it silently tries the next server, or waits out its retries, and may
 * end up returning another server's different answer. So we watch every
 * answer through udns's debug hook: a TC answer marks the query and ends
 * it at once as RESOLVER_TEMPFAIL with res->truncated set (RFC 7208 §4.4:
 * an incomplete answer is a temporary error, never a partial answer).
 *
 * Answers with records are kept for their TTL (resolver_cache.c, at most
 * resolver_cache_size of them); a lookup they answer is delivered through
 * the loop like any other, so callers cannot tell the difference but for
 * the time it takes.
 *
 * Reconfiguration (SIGHUP) builds a new udns context for new queries; the
 * queries in flight finish on the old one, which is freed after its last
 * query ends.
 *
 * Lifetimes: a query handle is valid from submit until its callback starts
 * or it is cancelled, not after; the result is valid during the callback.
 * Call resolver_shutdown() before freeing the event base.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <udns.h>

#include "cidr.h"
#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "resolver_cache.h"
#include "xmalloc.h"

/* udns's own retry schedule: 1 s, 2 s, 4 s, 8 s per server round (15 s
 * with one server). Our deadline (resolver_timeout, 5 s by default) is
 * the bound that counts; udns's only matters past 15 s. */
#define RESOLVER_UDNS_TIMEOUT	1
#define RESOLVER_UDNS_NTRIES	4
/* Receive buffer asked for the udns socket (see resolver_ctx_new). */
#define RESOLVER_RCVBUF		(1024 * 1024)

static const char *const resolver_type_names[RESOLVER_T_LAST] = {
	[RESOLVER_T_A] = "A", [RESOLVER_T_AAAA] = "AAAA",
	[RESOLVER_T_PTR] = "PTR", [RESOLVER_T_MX] = "MX",
	[RESOLVER_T_TXT] = "TXT",
};

static const char *const resolver_status_names[] = {
	[RESOLVER_OK] = "ok", [RESOLVER_NXDOMAIN] = "nxdomain",
	[RESOLVER_NODATA] = "nodata", [RESOLVER_TEMPFAIL] = "tempfail",
};

/* One udns context and the two events that drive it. */
struct resolver_ctx {
	TAILQ_ENTRY(resolver_ctx) entry;	/* on the retired list */
	struct dns_ctx	*dns;
	struct event	*ev_io;		/* its UDP socket, persistent EV_READ */
	struct event	*ev_tm;		/* the one udns timer */
	unsigned	 nquery;	/* our queries submitted to it */
	int		 busy;		/* inside dns_ioevent/dns_timeouts */
	int		 retired;	/* free once nquery drops to 0 */
};

struct resolver_query {
	TAILQ_ENTRY(resolver_query) entry;
	struct resolver_ctx	*rc;
	struct dns_query	*dq;		/* NULL once udns is done */
	enum resolver_type	 type;
	char			 qname[SMTP_DOMAIN_MAX + 1];	/* for logs */
	resolver_fn		*fn;
	void			*arg;
	struct event		*ev;		/* deadline, or the deferral */
	struct resolver_result	*deferred;	/* waiting for the loop */
	int			 in_submit;
	int			 truncated;	/* a TC answer came */
};

TAILQ_HEAD(resolver_ctx_list, resolver_ctx);
TAILQ_HEAD(resolver_query_list, resolver_query);

static struct event_base *resolver_base;
static struct resolver_ctx *resolver_cur;	/* takes new queries */
static struct resolver_ctx_list resolver_retired =
    TAILQ_HEAD_INITIALIZER(resolver_retired);
static struct resolver_query_list resolver_queries =
    TAILQ_HEAD_INITIALIZER(resolver_queries);
static unsigned resolver_timeout = 5;

/* resolver_ctx_free - close one udns context and its events. dns_free()
 * calls our timer hook one last time, so the events go after it. */
static void
resolver_ctx_free(struct resolver_ctx *rc)
{
	if (rc->dns != NULL)
		dns_free(rc->dns);
	if (rc->ev_io != NULL)
		event_free(rc->ev_io);
	if (rc->ev_tm != NULL)
		event_free(rc->ev_tm);
	free(rc);
}

/* resolver_ctx_release - free a retired context once nothing uses it; not
 * while udns is on the stack (busy), the io/timer callback does it then. */
static void
resolver_ctx_release(struct resolver_ctx *rc)
{
	if (!rc->retired || rc->nquery > 0 || rc->busy)
		return;
	TAILQ_REMOVE(&resolver_retired, rc, entry);
	resolver_ctx_free(rc);
}

/* resolver_io_cb - the UDP socket is readable: udns reads every datagram
 * queued and runs the callbacks of the queries they answer. */
static void
resolver_io_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct resolver_ctx *rc = arg;

	rc->busy++;
	dns_ioevent(rc->dns, 0);
	rc->busy--;
	resolver_ctx_release(rc);
}

/* resolver_tm_cb - the udns timer: send queued queries, retry or fail the
 * expired ones. udns re-arms us through resolver_utm_cb; since it skips
 * that when the deadline second did not change, we re-arm ourselves too
 * when the timer would otherwise be left idle with queries pending. */
static void
resolver_tm_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct resolver_ctx *rc = arg;
	struct timeval tv = { 0, 0 };
	int next;

	rc->busy++;
	next = dns_timeouts(rc->dns, -1, 0);
	rc->busy--;
	if (next >= 0 && rc->nquery > 0 && !evtimer_pending(rc->ev_tm, NULL)) {
		tv.tv_sec = next > 0 ? next : 1;
		evtimer_add(rc->ev_tm, &tv);
	}
	resolver_ctx_release(rc);
}

/* resolver_utm_cb - udns asks for its timer: ctx NULL or timeout < 0 stops
 * it, 0 means "on the next loop turn", n > 0 means in n seconds. */
static void
resolver_utm_cb(struct dns_ctx *ctx, int timeout, void *arg)
{
	struct resolver_ctx *rc = arg;
	struct timeval tv = { 0, 0 };

	if (ctx == NULL || timeout < 0) {
		evtimer_del(rc->ev_tm);
		return;
	}
	tv.tv_sec = timeout;
	evtimer_add(rc->ev_tm, &tv);
}

/* resolver_dbg_cb - udns shows us every datagram it sends (code 1) and
 * every answer it matched to a query (code 0) before acting on it; data
 * is then that query's callback data, our resolver_query. A truncated
 * answer (TC, RFC 1035 §4.1.1) marks the query and fires its deadline
 * now: the deadline path cancels the udns query, which is still alive
 * here, and delivers TEMPFAIL. Should udns end the query itself within
 * this same dns_ioevent (no other server left), resolver_done sees the
 * mark first. The pointer is checked against our pending list, so a
 * query we do not know is never touched. */
static void
resolver_dbg_cb(int code, const struct sockaddr *sa __unused,
    unsigned salen __unused, dnscc_t *pkt, int plen,
    const struct dns_query *dq, void *data)
{
	struct resolver_query *q;
	struct timeval tv = { 0, 0 };
	char buf[LOG_PRINTABLE_SIZE];

	if (code != 0 || dq == NULL || data == NULL || pkt == NULL ||
	    plen < DNS_HSIZE || !dns_tc(pkt))
		return;
	TAILQ_FOREACH(q, &resolver_queries, entry)
		if (q == data && q->dq == dq)
			break;
	if (q == NULL || q->truncated)
		return;
	q->truncated = 1;
	log_warn("resolver: %s %s: truncated DNS answer (no TCP), "
	    "temporary failure", resolver_type_names[q->type],
	    log_printable(buf, sizeof(buf), q->qname, strlen(q->qname)));
	evtimer_add(q->ev, &tv);
}

/* resolver_ctx_new - a udns context for the servers in conf (or those of
 * /etc/resolv.conf), opened and hooked into the loop; NULL on error. */
static struct resolver_ctx *
resolver_ctx_new(const struct conf *conf)
{
	static int defctx_ready;
	struct resolver_ctx *rc;
	struct sockaddr_storage ss;
	size_t i, n = conf != NULL ? conf->nresolver : 0;
	int fd;

	/* dns_new() copies an initialised context; the default one is only
	 * ever used as that template. */
	if (!defctx_ready) {
		dns_reset(&dns_defctx);
		defctx_ready = 1;
	}
	if (n == 1 && strcasecmp(conf->resolver[0], "system") == 0)
		n = 0;
	rc = xcalloc(1, sizeof(*rc));
	if ((rc->dns = dns_new(NULL)) == NULL) {
		log_warn("resolver: cannot create a udns context");
		goto fail;
	}
	if (n == 0) {
		/* "system": nameservers and options of /etc/resolv.conf
		 * (a plain file read at start and at SIGHUP). */
		if (dns_init(rc->dns, 0) < 0) {
			log_warn("resolver: cannot read /etc/resolv.conf");
			goto fail;
		}
	} else {
		dns_add_serv(rc->dns, NULL);
		for (i = 0; i < n; i++) {
			if (resolver_parse_server(conf->resolver[i], &ss) < 0 ||
			    dns_add_serv_s(rc->dns,
			    (struct sockaddr *)&ss) < 0) {
				char buf[LOG_PRINTABLE_SIZE];

				log_warn("resolver: bad server \"%s\" "
				    "(at most %d servers)", log_printable(buf,
				    sizeof(buf), conf->resolver[i],
				    strlen(conf->resolver[i])), DNS_MAXSERV);
				goto fail;
			}
		}
	}
	dns_set_opt(rc->dns, DNS_OPT_TIMEOUT, RESOLVER_UDNS_TIMEOUT);
	dns_set_opt(rc->dns, DNS_OPT_NTRIES, RESOLVER_UDNS_NTRIES);
	/* EDNS0 on every query (RFC 6891 §6.2.5): udns's default 4096
	 * invites fragmented answers; 1232 fits every path. */
	dns_set_opt(rc->dns, DNS_OPT_UDPSIZE, RESOLVER_EDNS0_SIZE);
	/* Every name we look up is fully qualified: a search list would
	 * turn "no such domain" into a lookup of some local name. */
	dns_set_opt(rc->dns, DNS_OPT_FLAGS, DNS_NOSRCH);
	if ((fd = dns_open(rc->dns)) < 0) {
		log_warn("resolver: cannot open the udns socket");
		goto fail;
	}
	/* One socket carries every answer: a burst of sessions, each with
	 * an SPF evaluation of several lookups, must not overflow the
	 * default receive buffer and turn lost answers into timeouts. The
	 * kernel caps the value at net.core.rmem_max; less is still fine. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ RESOLVER_RCVBUF },
	    sizeof(int));
	rc->ev_io = event_new(resolver_base, fd, EV_READ | EV_PERSIST,
	    resolver_io_cb, rc);
	rc->ev_tm = evtimer_new(resolver_base, resolver_tm_cb, rc);
	if (rc->ev_io == NULL || rc->ev_tm == NULL ||
	    event_add(rc->ev_io, NULL) < 0) {
		log_warn("resolver: cannot create the loop events");
		goto fail;
	}
	dns_set_tmcbck(rc->dns, resolver_utm_cb, rc);
	dns_set_dbgfn(rc->dns, resolver_dbg_cb);
	log_debug("resolver: %zu configured server(s)%s", n,
	    n == 0 ? " (system)" : "");
	return rc;
fail:
	resolver_ctx_free(rc);
	return NULL;
}

/* resolver_retire - stop giving rc new queries; free it when idle. */
static void
resolver_retire(struct resolver_ctx *rc)
{
	rc->retired = 1;
	TAILQ_INSERT_TAIL(&resolver_retired, rc, entry);
	resolver_ctx_release(rc);
}

/* resolver_init - start the resolver on base with conf's servers
 * (conf NULL or no servers: /etc/resolv.conf). 0, or -1 logged. */
int
resolver_init(struct event_base *base, const struct conf *conf)
{
	if (resolver_cur != NULL) {
		log_warn("resolver: already initialised");
		return -1;
	}
	resolver_base = base;
	if ((resolver_cur = resolver_ctx_new(conf)) == NULL)
		return -1;
	resolver_cache_setsize(conf != NULL ? conf->resolver_cache_size : 0);
	if (conf != NULL && conf->resolver_timeout > 0)
		resolver_set_timeout(conf->resolver_timeout);
	return 0;
}

/* resolver_reconfigure - new queries go to conf's servers; queries in
 * flight finish on the old context. On error the old servers stay. */
int
resolver_reconfigure(const struct conf *conf)
{
	struct resolver_ctx *rc;

	if (resolver_cur == NULL)
		return -1;
	/* The new servers may answer otherwise, and a reload is how the
	 * postmaster makes a changed record seen: start from nothing, even
	 * if the new servers cannot be used. */
	resolver_cache_setsize(conf != NULL ? conf->resolver_cache_size : 0);
	if ((rc = resolver_ctx_new(conf)) == NULL)
		return -1;
	resolver_retire(resolver_cur);
	resolver_cur = rc;
	if (conf != NULL && conf->resolver_timeout > 0)
		resolver_set_timeout(conf->resolver_timeout);
	return 0;
}

/* resolver_set_timeout - bound every later lookup to seconds (>= 1). */
void
resolver_set_timeout(unsigned seconds)
{
	resolver_timeout = seconds > 0 ? seconds : 1;
}

/* resolver_status_text - a status as a short word for logs and stats. */
const char *
resolver_status_text(enum resolver_status st)
{
	if ((unsigned)st >= sizeof(resolver_status_names) /
	    sizeof(resolver_status_names[0]))
		return "?";
	return resolver_status_names[st];
}

/* resolver_query_free - unlink and free q (its udns query is gone). */
static void
resolver_query_free(struct resolver_query *q)
{
	struct resolver_ctx *rc = q->rc;

	TAILQ_REMOVE(&resolver_queries, q, entry);
	event_free(q->ev);
	free(q->deferred);
	free(q);
	rc->nquery--;
	resolver_ctx_release(rc);
}

/* resolver_deliver - end q and run its callback with res. q is freed
 * first, so the callback may submit or cancel anything else freely. */
static void
resolver_deliver(struct resolver_query *q, const struct resolver_result *res)
{
	resolver_fn *fn = q->fn;
	void *arg = q->arg;
	char buf[LOG_PRINTABLE_SIZE];

	if (log_verbose())
		log_debug("resolver: %s %s: %s (%zu)",
		    resolver_type_names[q->type], log_printable(buf,
		    sizeof(buf), q->qname, strlen(q->qname)),
		    resolver_status_text(res->status), res->n);
	resolver_query_free(q);
	fn(res, arg);
}

/* resolver_done - udns finished q (it has freed its own query). A query
 * that saw a truncated answer is TEMPFAIL whatever udns made of it. */
static void
resolver_done(struct resolver_query *q, struct resolver_result *res)
{
	struct timeval tv = { 0, 0 };

	q->dq = NULL;
	if (q->truncated) {
		memset(res, 0, sizeof(*res));
		res->status = RESOLVER_TEMPFAIL;
		res->truncated = 1;
	}
	/* A query that outlived a reload answered for the old servers. */
	if (!q->rc->retired)
		resolver_cache_put(q->type, q->qname, resolver_cache_now(),
		    res);
	if (q->in_submit) {
		/* Never call back from inside the submit call: park the
		 * answer and let the loop deliver it. */
		q->deferred = xmalloc(sizeof(*q->deferred));
		memcpy(q->deferred, res, sizeof(*res));
		evtimer_add(q->ev, &tv);
		return;
	}
	resolver_deliver(q, res);
}

/* resolver_ev_cb - q's own timer: a deferred answer, the deadline, or a
 * truncated answer (fired at once by resolver_dbg_cb). */
static void
resolver_ev_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct resolver_query *q = arg;
	struct resolver_result *res;
	struct resolver_result timeout;

	if (q->deferred != NULL) {
		res = q->deferred;
		q->deferred = NULL;
		resolver_deliver(q, res);
		free(res);
		return;
	}
	if (q->dq != NULL) {
		/* udns 0.4's dns_cancel() unlinks the query without freeing
		 * it (the udns.3 contract: it is ours once cancelled). */
		dns_cancel(q->rc->dns, q->dq);
		free(q->dq);
		q->dq = NULL;
	}
	memset(&timeout, 0, sizeof(timeout));
	timeout.status = RESOLVER_TEMPFAIL;
	timeout.truncated = q->truncated;
	resolver_deliver(q, &timeout);
}

/* resolver_result_start - status of a finished udns query into res. */
static void
resolver_result_start(struct resolver_result *res, struct dns_ctx *ctx,
    const void *rr)
{
	memset(res, 0, sizeof(*res));
	switch (dns_status(ctx)) {
	case 0:
		res->status = rr != NULL ? RESOLVER_OK : RESOLVER_TEMPFAIL;
		break;
	case DNS_E_NXDOMAIN:
		res->status = RESOLVER_NXDOMAIN;
		break;
	case DNS_E_NODATA:
		res->status = RESOLVER_NODATA;
		break;
	default:	/* TEMPFAIL, PROTOCOL (garbled, truncated), NOMEM... */
		res->status = RESOLVER_TEMPFAIL;
		break;
	}
}

/* resolver_result_end - an answer that kept no record is NODATA (e.g. a
 * CNAME without the wanted type behind it). */
static void
resolver_result_end(struct resolver_result *res)
{
	if (res->status == RESOLVER_OK && res->n == 0)
		res->status = RESOLVER_NODATA;
}

/* resolver_copy_name - a domain name from udns: lower case, without the
 * root dot ("." itself becomes ""); -1 when it does not fit. The cache
 * keys names the same way. */
static int
resolver_copy_name(char *dst, const char *src)
{
	return resolver_name_lower(src, dst) < 0 ? -1 : 0;
}

static void
resolver_a4_cb(struct dns_ctx *ctx, struct dns_rr_a4 *rr, void *arg)
{
	struct resolver_result res;
	struct sockaddr_in *sin;
	int i;

	resolver_result_start(&res, ctx, rr);
	res.ttl = rr != NULL ? rr->dnsa4_ttl : 0;
	for (i = 0; rr != NULL && i < rr->dnsa4_nrr &&
	    res.n < RESOLVER_MAX_RR; i++) {
		sin = (struct sockaddr_in *)&res.addr[res.n++];
		sin->sin_family = AF_INET;
		sin->sin_addr = rr->dnsa4_addr[i];
	}
	free(rr);
	resolver_result_end(&res);
	resolver_done(arg, &res);
}

static void
resolver_a6_cb(struct dns_ctx *ctx, struct dns_rr_a6 *rr, void *arg)
{
	struct resolver_result res;
	struct sockaddr_in6 *sin6;
	int i;

	resolver_result_start(&res, ctx, rr);
	res.ttl = rr != NULL ? rr->dnsa6_ttl : 0;
	for (i = 0; rr != NULL && i < rr->dnsa6_nrr &&
	    res.n < RESOLVER_MAX_RR; i++) {
		sin6 = (struct sockaddr_in6 *)&res.addr[res.n++];
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = rr->dnsa6_addr[i];
	}
	free(rr);
	resolver_result_end(&res);
	resolver_done(arg, &res);
}

static void
resolver_ptr_cb(struct dns_ctx *ctx, struct dns_rr_ptr *rr, void *arg)
{
	struct resolver_result res;
	int i;

	resolver_result_start(&res, ctx, rr);
	res.ttl = rr != NULL ? rr->dnsptr_ttl : 0;
	for (i = 0; rr != NULL && i < rr->dnsptr_nrr &&
	    res.n < RESOLVER_MAX_RR; i++)
		if (resolver_copy_name(res.name[res.n], rr->dnsptr_ptr[i]) == 0)
			res.n++;
	free(rr);
	resolver_result_end(&res);
	resolver_done(arg, &res);
}

/* resolver_mx_cb - MX records by preference (RFC 5321 §5.1); ties stay in
 * the order received, the CBV client shuffles them itself. A null MX
 * (RFC 7505: "0 .") comes out as one entry with the name "". */
static void
resolver_mx_cb(struct dns_ctx *ctx, struct dns_rr_mx *rr, void *arg)
{
	struct resolver_result res;
	struct resolver_mx tmp;
	size_t j;
	int i;

	resolver_result_start(&res, ctx, rr);
	res.ttl = rr != NULL ? rr->dnsmx_ttl : 0;
	for (i = 0; rr != NULL && i < rr->dnsmx_nrr &&
	    res.n < RESOLVER_MAX_RR; i++) {
		if (resolver_copy_name(res.mx[res.n].name,
		    rr->dnsmx_mx[i].name) < 0)
			continue;
		res.mx[res.n++].pref = (unsigned)rr->dnsmx_mx[i].priority;
	}
	free(rr);
	/* Insertion sort: stable, and n is at most RESOLVER_MAX_RR. */
	for (j = 1; j < res.n; j++) {
		size_t k = j;

		tmp = res.mx[j];
		while (k > 0 && res.mx[k - 1].pref > tmp.pref) {
			res.mx[k] = res.mx[k - 1];
			k--;
		}
		res.mx[k] = tmp;
	}
	resolver_result_end(&res);
	resolver_done(arg, &res);
}

/* resolver_txt_cb - each TXT record's strings joined without separator
 * (RFC 7208 §3.3) into res->txt; NUL octets are kept, the lengths say
 * where a record ends. A record that no longer fits ends the list: the
 * buffer holds more than an EDNS0 answer can carry, so only a broken
 * answer gets there. */
static void
resolver_txt_cb(struct dns_ctx *ctx, struct dns_rr_txt *rr, void *arg)
{
	struct resolver_result res;
	size_t used = 0, len;
	int i;

	resolver_result_start(&res, ctx, rr);
	res.ttl = rr != NULL ? rr->dnstxt_ttl : 0;
	for (i = 0; rr != NULL && i < rr->dnstxt_nrr &&
	    res.n < RESOLVER_MAX_RR; i++) {
		len = (size_t)rr->dnstxt_txt[i].len;
		if (len + 1 > sizeof(res.txt) - used)
			break;
		memcpy(res.txt + used, rr->dnstxt_txt[i].txt, len);
		res.txt[used + len] = '\0';
		res.txt_off[res.n] = used;
		res.txt_len[res.n++] = len;
		used += len + 1;
	}
	free(rr);
	resolver_result_end(&res);
	resolver_done(arg, &res);
}

/* resolver_query_new - a query record for the current context, or NULL
 * when the resolver is not running or the name is unusable. */
static struct resolver_query *
resolver_query_new(enum resolver_type type, const char *qname,
    resolver_fn *fn, void *arg)
{
	struct resolver_query *q;

	if (resolver_cur == NULL || fn == NULL || qname == NULL ||
	    strlen(qname) > SMTP_DOMAIN_MAX)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	if ((q->ev = evtimer_new(resolver_base, resolver_ev_cb, q)) == NULL) {
		free(q);
		return NULL;
	}
	q->rc = resolver_cur;
	q->type = type;
	memcpy(q->qname, qname, strlen(qname) + 1);
	q->fn = fn;
	q->arg = arg;
	q->in_submit = 1;
	return q;
}

/* resolver_cached - 1 if the cache answers q: the answer is parked and
 * the loop delivers it, as it would a deferred one. */
static int
resolver_cached(struct resolver_query *q)
{
	struct timeval tv = { 0, 0 };
	struct resolver_result *res;
	char buf[LOG_PRINTABLE_SIZE];

	if (!resolver_cache_enabled())
		return 0;
	res = xmalloc(sizeof(*res));	/* not cleared: see rcache_unpack */
	if (!resolver_cache_get(q->type, q->qname, resolver_cache_now(),
	    res)) {
		free(res);
		return 0;
	}
	if (log_verbose())
		log_debug("resolver: %s %s: from the cache, %u s left",
		    resolver_type_names[q->type], log_printable(buf,
		    sizeof(buf), q->qname, strlen(q->qname)), res->ttl);
	q->deferred = res;
	evtimer_add(q->ev, &tv);
	return 1;
}

/* resolver_query_submitted - finish a submission: NULL (and q freed) if
 * udns refused it, else q listed with its deadline armed. */
static struct resolver_query *
resolver_query_submitted(struct resolver_query *q, struct dns_query *dq)
{
	struct timeval tv = { 0, 0 };
	char buf[LOG_PRINTABLE_SIZE];

	q->in_submit = 0;
	if (dq == NULL && q->deferred == NULL) {
		log_debug("resolver: cannot submit %s %s: %s",
		    resolver_type_names[q->type], log_printable(buf,
		    sizeof(buf), q->qname, strlen(q->qname)),
		    dns_strerror(dns_status(q->rc->dns)));
		event_free(q->ev);
		free(q);
		return NULL;
	}
	if (q->deferred == NULL) {
		q->dq = dq;
		tv.tv_sec = resolver_timeout;
		evtimer_add(q->ev, &tv);
	}
	q->rc->nquery++;
	TAILQ_INSERT_TAIL(&resolver_queries, q, entry);
	return q;
}

struct resolver_query *
resolver_a(const char *name, resolver_fn *fn, void *arg)
{
	struct resolver_query *q;

	q = resolver_query_new(RESOLVER_T_A, name, fn, arg);
	if (q == NULL)
		return NULL;
	return resolver_query_submitted(q, resolver_cached(q) ? NULL :
	    dns_submit_a4(q->rc->dns, name, DNS_NOSRCH, resolver_a4_cb, q));
}

struct resolver_query *
resolver_aaaa(const char *name, resolver_fn *fn, void *arg)
{
	struct resolver_query *q;

	q = resolver_query_new(RESOLVER_T_AAAA, name, fn, arg);
	if (q == NULL)
		return NULL;
	return resolver_query_submitted(q, resolver_cached(q) ? NULL :
	    dns_submit_a6(q->rc->dns, name, DNS_NOSRCH, resolver_a6_cb, q));
}

/* resolver_ptr - the PTR names of an address: in-addr.arpa for IPv4 and
 * IPv4-mapped IPv6, ip6.arpa (RFC 3596 §2.5) for IPv6. */
struct resolver_query *
resolver_ptr(const struct sockaddr *sa, resolver_fn *fn, void *arg)
{
	struct resolver_query *q;
	struct sockaddr_storage ss;
	char text[INET6_ADDRSTRLEN];
	const void *ip;

	if (sa == NULL || cidr_sockaddr_unmap(sa, &ss) < 0)
		return NULL;
	ip = ss.ss_family == AF_INET ?
	    (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
	    (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (inet_ntop(ss.ss_family, ip, text, sizeof(text)) == NULL)
		return NULL;
	if ((q = resolver_query_new(RESOLVER_T_PTR, text, fn, arg)) == NULL)
		return NULL;
	if (resolver_cached(q))
		return resolver_query_submitted(q, NULL);
	if (ss.ss_family == AF_INET)
		return resolver_query_submitted(q, dns_submit_a4ptr(q->rc->dns,
		    ip, resolver_ptr_cb, q));
	return resolver_query_submitted(q, dns_submit_a6ptr(q->rc->dns, ip,
	    resolver_ptr_cb, q));
}

struct resolver_query *
resolver_mx(const char *name, resolver_fn *fn, void *arg)
{
	struct resolver_query *q;

	q = resolver_query_new(RESOLVER_T_MX, name, fn, arg);
	if (q == NULL)
		return NULL;
	return resolver_query_submitted(q, resolver_cached(q) ? NULL :
	    dns_submit_mx(q->rc->dns, name, DNS_NOSRCH, resolver_mx_cb, q));
}

struct resolver_query *
resolver_txt(const char *name, resolver_fn *fn, void *arg)
{
	struct resolver_query *q;

	q = resolver_query_new(RESOLVER_T_TXT, name, fn, arg);
	if (q == NULL)
		return NULL;
	return resolver_query_submitted(q, resolver_cached(q) ? NULL :
	    dns_submit_txt(q->rc->dns, name, DNS_C_IN, DNS_NOSRCH,
	    resolver_txt_cb, q));
}

/* resolver_cancel - drop q (NULL is fine); its callback will not run.
 * Not for a query whose callback has already started. */
void
resolver_cancel(struct resolver_query *q)
{
	if (q == NULL)
		return;
	if (q->dq != NULL) {
		dns_cancel(q->rc->dns, q->dq);
		free(q->dq);
		q->dq = NULL;
	}
	resolver_query_free(q);
}

/* resolver_shutdown - cancel every query (no callbacks) and free every
 * context. Safe from inside a resolver callback: a context udns is still
 * running on is freed when udns returns. */
void
resolver_shutdown(void)
{
	struct resolver_ctx *rc;

	while (!TAILQ_EMPTY(&resolver_queries))
		resolver_cancel(TAILQ_FIRST(&resolver_queries));
	if (resolver_cur != NULL) {
		rc = resolver_cur;
		resolver_cur = NULL;
		resolver_retire(rc);
	}
	resolver_cache_setsize(0);
	resolver_base = NULL;
}
