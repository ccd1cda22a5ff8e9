/* sender.c - the return-path policy of MAIL FROM (issue 4): the checks that
 * decide at once, then DNS, then a call-back verification through cbv.c.
 *
 *	sender_init - load dmp_table, start the cache purge timer; 0 or -1
 *	sender_reconfigure - reload dmp_table (the old one stays on error)
 *	sender_shutdown - free the table, stop the timer
 *	sender_check_config - `strictmxd -n`: dmp_table errors as FILE:LINE
 *	sender_check_start - decide at once (NULL, verdict filled) or start DNS
 *		and a probe and call back once later (a handle)
 *	sender_check_cancel - forget a check; its callback will not run
 *	sender_keywords - our words after the RFC3821 EHLO keyword
 *
 * The replies themselves are built in sender_verdict.c, the dmp_table is
 * read in sender_dmp.c, and the cache is cbv_cache.c.
 *
 * The order, each step deciding without a probe where it can: policy off,
 * null sender (bounces must get through, RFC 5321 §4.5.5), exempt client,
 * our own domains (local-domain spoofing; never probed), dmp_table, cache,
 * DNS, probe. Every decision from our own domains on is one row of the cbv
 * table (see stats.h for the conventions the report reads back).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "addr.h"
#include "cbv.h"
#include "cbv_cache.h"
#include "cbv_rate.h"
#include "cidr.h"
#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "sender.h"
#include "sender_dmp.h"
#include "sender_verdict.h"
#include "stats.h"
#include "xmalloc.h"

/* How often expired cache entries are removed from the table. */
#define SENDER_PURGE_SECS	600

/* What every check carries, synchronous or not. */
struct sender_ctx {
	const struct conf	*conf;
	struct mailaddr		 addr;
	char			 key[SMTP_PATH_MAX + 1];
	char			 session_id[32];
	double			 t0;		/* monotonic start */
	int			 spf_pass;	/* SPF pass, MAIL FROM identity */
	struct sockaddr_storage	 client;	/* unmapped; family 0: none */
};

/* One asynchronous check: DNS, then at most one probe. */
struct sender_check {
	struct sender_ctx	 x;
	sender_done_fn		*cb;
	void			*arg;
	struct resolver_query	*q_mx, *q_a, *q_aaaa;
	int			 a_done, aaaa_done;
	enum resolver_status	 a_st, aaaa_st;
	struct cbv_waiter	*waiter;
	int			 in_probe;	/* inside cbv_probe() */
	int			 probe_sync;	/* it called back inside */
	struct cbv_result	*sync_result;
	struct resolver_mx	 mx[RESOLVER_MAX_RR];
	size_t			 nmx;
};

static struct sender_dmp sender_dmp_current;
static const char *sender_client_text(const struct sockaddr *, char *,
    size_t);
static struct event *sender_purge_ev;

/* sender_check_config - `strictmxd -n` and the reload check: read
 * dmp_table, print each error as FILE:LINE: msg to errs; 0 or -1. */
int
sender_check_config(const struct conf *conf, FILE *errs)
{
	struct sender_dmp t;

	if (conf->dmp_table == NULL)
		return 0;
	if (sender_dmp_load(conf->dmp_table, &t, errs) < 0)
		return -1;
	sender_dmp_free(&t);
	return 0;
}

/* sender_purge_cb - drop expired cache rows now and then. */
static void
sender_purge_cb(evutil_socket_t fd __unused, short what __unused,
    void *arg __unused)
{
	cbv_cache_purge_later(clock_wall());
}

/* sender_init - load dmp_table (errors logged; -1) and arm the timer that
 * purges expired cache rows (stats_open() comes first). base may be NULL
 * (tests): then nothing is purged. */
int
sender_init(struct event_base *base, const struct conf *conf)
{
	struct timeval tv = { SENDER_PURGE_SECS, 0 };

	if (sender_reconfigure(conf) < 0)
		return -1;
	if (base != NULL && sender_purge_ev == NULL) {
		sender_purge_ev = event_new(base, -1, EV_PERSIST,
		    sender_purge_cb, NULL);
		if (sender_purge_ev == NULL ||
		    event_add(sender_purge_ev, &tv) < 0) {
			log_warn("sender: cannot arm the cache purge timer");
			return -1;
		}
	}
	cbv_cache_purge_later(clock_wall());
	return 0;
}

/* sender_reconfigure - load the new dmp_table; keep the old on error. */
int
sender_reconfigure(const struct conf *conf)
{
	struct sender_dmp t;

	memset(&t, 0, sizeof(t));
	if (conf->dmp_table != NULL &&
	    sender_dmp_load(conf->dmp_table, &t, NULL) < 0)
		return -1;
	sender_dmp_free(&sender_dmp_current);
	sender_dmp_current = t;
	return 0;
}

/* sender_shutdown - free the table and the timer. Every check must have
 * ended or been cancelled before (cbv_shutdown() invalidates waiters). */
void
sender_shutdown(void)
{
	if (sender_purge_ev != NULL)
		event_free(sender_purge_ev);
	sender_purge_ev = NULL;
	sender_dmp_free(&sender_dmp_current);
	cbv_cache_forget();
}

/* sender_keywords - "RETURN-PATH" when the checks are enforced, plus
 * " CBV" when they include the probe; the length written. */
size_t
sender_keywords(const struct conf *conf, char *buf, size_t len)
{
	int n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (conf->sender_policy != POLICY_ENFORCE)
		return 0;
	n = snprintf(buf, len, "RETURN-PATH%s", conf->cbv ? " CBV" : "");
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

/* sender_probe_ttl - how long a probe result is cached. */
static unsigned
sender_probe_ttl(const struct conf *conf, const struct cbv_result *r)
{
	switch (r->outcome) {
	case CBV_PASS:
		return conf->cbv_cache_positive;
	case CBV_FAIL:
	case CBV_REFUSED_EARLY:
	case CBV_REFUSED_MAIL:
		return conf->cbv_cache_negative;
	default:
		return conf->cbv_cache_tempfail;
	}
}

/* sender_dns_ttl - how long a DNS verdict is cached (0: not at all). */
static unsigned
sender_dns_ttl(const struct conf *conf, enum sender_dns d)
{
	switch (d) {
	case SENDER_DNS_NXDOMAIN:
	case SENDER_DNS_NOMX:
	case SENDER_DNS_NULLMX:
		return conf->cbv_cache_negative;
	case SENDER_DNS_TEMPFAIL:
		return conf->cbv_cache_tempfail;
	default:
		return 0;
	}
}

/* sender_ctx_init - what every decision of this check records. */
static void
sender_ctx_init(struct sender_ctx *x, const struct conf *conf,
    const struct mailaddr *a, const char *session_id)
{
	memset(x, 0, sizeof(*x));
	x->conf = conf;
	x->addr = *a;
	if (cbv_cache_key(a, x->key, sizeof(x->key)) == 0)
		snprintf(x->key, sizeof(x->key), "%s", a->text);
	snprintf(x->session_id, sizeof(x->session_id), "%s",
	    session_id != NULL ? session_id : "");
	x->t0 = clock_mono();
}

/* sender_record - the decision as one row of the cbv table. */
static void
sender_record(const struct sender_ctx *x, const struct sender_verdict *v,
    const char *stage, const char *mx_host, const char *reply, int rfc3821)
{
	struct stats_cbv row;
	char pa[LOG_PRINTABLE_SIZE];

	memset(&row, 0, sizeof(row));
	row.time = clock_wall();
	snprintf(row.session_id, sizeof(row.session_id), "%s", x->session_id);
	snprintf(row.address, sizeof(row.address), "%s", x->key);
	snprintf(row.domain, sizeof(row.domain), "%s", x->addr.ace);
	snprintf(row.decided_by, sizeof(row.decided_by), "%s", v->decided_by);
	snprintf(row.outcome, sizeof(row.outcome), "%s", v->outcome);
	snprintf(row.stage, sizeof(row.stage), "%s", stage);
	snprintf(row.mx_host, sizeof(row.mx_host), "%s", mx_host);
	snprintf(row.reply, sizeof(row.reply), "%s", reply);
	row.duration = clock_mono() - x->t0;
	if (row.duration < 0)
		row.duration = 0;
	row.rfc3821 = rfc3821 != 0;
	/* The policy in force, not whether this verdict refused: 0 marks the
	 * rows of sender_policy log (strictmxctl(8)). */
	row.enforced = x->conf->sender_policy == POLICY_ENFORCE;
	stats_add_cbv(&row);
	log_debug("%s: sender <%s>: %s by %s: %s", x->session_id,
	    log_printable(pa, sizeof(pa), x->key, strlen(x->key)),
	    v->outcome, v->decided_by, v->reason);
}

/* sender_cache_put - remember a DNS or probe result for ttl seconds. */
static void
sender_cache_put(const struct sender_ctx *x, const struct sender_verdict *v,
    unsigned ttl, const char *stage, const char *mx_host, const char *reply,
    int rfc3821)
{
	struct cbv_cache_entry e;

	if (ttl == 0)
		return;
	memset(&e, 0, sizeof(e));
	snprintf(e.address, sizeof(e.address), "%s", x->key);
	snprintf(e.outcome, sizeof(e.outcome), "%s", v->outcome);
	snprintf(e.stage, sizeof(e.stage), "%s", stage);
	snprintf(e.reply, sizeof(e.reply), "%s", reply);
	snprintf(e.mx_host, sizeof(e.mx_host), "%s", mx_host);
	e.rfc3821 = rfc3821 != 0;
	e.created = clock_wall();
	e.expires = e.created + ttl;
	cbv_cache_store(&e);
}

/*
 * sender_from_cache - rebuild the verdict of a cache entry under the
 * configuration in force, so the reply is the one the first check gave
 * (unless the admin changed a cbv_on_* since). A probe result is not used
 * once cbv is off; an entry we cannot read is a miss. 1 hit, 0 miss.
 */
static int
sender_from_cache(const struct sender_ctx *x, const struct cbv_cache_entry *e,
    struct sender_verdict *v)
{
	struct cbv_result r;
	enum sender_dns d;
	int st;

	for (d = SENDER_DNS_NXDOMAIN; d < SENDER_DNS_LAST; d++)
		if (d != SENDER_DNS_NODATA &&
		    strcmp(e->stage, sender_verdict_dns_name(d)) == 0) {
			sender_verdict_dns(x->conf, &x->addr, d, v);
			goto hit;
		}
	if (!x->conf->cbv)
		return 0;
	for (st = 0; st < CBV_ST_LAST; st++)
		if (strcmp(e->stage, cbv_stage_name((enum cbv_stage)st)) == 0)
			break;
	if (st == CBV_ST_LAST)
		return 0;
	memset(&r, 0, sizeof(r));
	r.stage = (enum cbv_stage)st;
	snprintf(r.mx_host, sizeof(r.mx_host), "%s", e->mx_host);
	strlcpy_compat(r.reply, e->reply, sizeof(r.reply));
	r.rfc3821 = e->rfc3821;
	if (strcmp(e->outcome, "pass") == 0 || r.stage == CBV_ST_DONE)
		r.outcome = CBV_PASS;
	else if (r.stage == CBV_ST_CONNECT)
		r.outcome = CBV_NOCONNECT;
	else if (e->reply[0] != '5')
		r.outcome = CBV_TEMPFAIL;
	else if (r.stage == CBV_ST_RCPT)
		r.outcome = CBV_FAIL;
	else if (r.stage == CBV_ST_MAIL)
		r.outcome = CBV_REFUSED_MAIL;
	else
		r.outcome = CBV_REFUSED_EARLY;
	sender_verdict_probe(x->conf, &x->addr, &r, v);
hit:
	snprintf(v->decided_by, sizeof(v->decided_by), "cache");
	return 1;
}

/* sender_finish - hand the verdict to the caller; the check is freed
 * first, so the callback may do anything (even free its session). */
static void
sender_finish(struct sender_check *chk, const struct sender_verdict *v)
{
	sender_done_fn *cb = chk->cb;
	void *arg = chk->arg;

	free(chk->sync_result);
	free(chk);
	cb(arg, v);
}

/* sender_dns_conclude - DNS decided: verdict, row, cache. */
static void
sender_dns_conclude(const struct sender_ctx *x, enum sender_dns d,
    struct sender_verdict *v)
{
	const char *stage;

	if (d == SENDER_DNS_NODATA)
		d = SENDER_DNS_NOMX;
	stage = sender_verdict_dns_name(d);
	sender_verdict_dns(x->conf, &x->addr, d, v);
	sender_record(x, v, stage, "", sender_verdict_dns_text(d), 0);
	sender_cache_put(x, v, sender_dns_ttl(x->conf, d), stage, "",
	    sender_verdict_dns_text(d), 0);
}

/* sender_probe_done - the probe decided: verdict, row, cache, callback. */
static void
sender_probe_done(struct sender_check *chk, const struct cbv_result *r,
    int cache)
{
	struct sender_verdict v;
	const char *stage = cbv_stage_name(r->stage);

	sender_verdict_probe(chk->x.conf, &chk->x.addr, r, &v);
	sender_record(&chk->x, &v, stage, r->mx_host, r->reply, r->rfc3821);
	if (r->outcome == CBV_UNVERIFIABLE) {
		char pa[LOG_PRINTABLE_SIZE];

		/* Said without -v: the admin may want cbv_on_unverifiable.
		 * Not cached: the cache rebuilds verdicts from the remote's
		 * reply, and the MX may offer SMTPUTF8 tomorrow. */
		log_info("session=%s sender=<%s> %s (%s)",
		    chk->x.session_id, log_printable(pa, sizeof(pa),
		    chk->x.key, strlen(chk->x.key)), v.reason,
		    v.code != 0 ? "refused" : "accepted, cbv_on_unverifiable");
		cache = 0;
	}
	if (cache)
		sender_cache_put(&chk->x, &v,
		    sender_probe_ttl(chk->x.conf, r), stage, r->mx_host,
		    r->reply, r->rfc3821);
	sender_finish(chk, &v);
}

/* sender_cbv_cb - the probe's answer (cbv.c, on the loop). */
static void
sender_cbv_cb(const struct cbv_result *r, void *arg)
{
	struct sender_check *chk = arg;

	if (chk->in_probe) {
		/* Called from inside cbv_probe(): finish after it returns,
		 * so that nothing below us uses a freed check. */
		chk->probe_sync = 1;
		chk->sync_result = xmalloc(sizeof(*r));
		*chk->sync_result = *r;
		return;
	}
	chk->waiter = NULL;
	sender_probe_done(chk, r, 1);
}

/* sender_over_rate - would a new probe break cbv_max_per_client_minute or
 * cbv_max_per_domain_minute? Then 1 and v is a 450 4.1.7, recorded (as
 * decided_by "limit", a skip in the report), logged, and not cached: it
 * says nothing of the address. A probe already in flight is joined for
 * free and never asks (sender_mail_hosts). */
static int
sender_over_rate(const struct sender_ctx *x, struct sender_verdict *v)
{
	char why[160], pa[LOG_PRINTABLE_SIZE], ip[INET6_ADDRSTRLEN];

	if (cbv_rate_take(x->client.ss_family != 0 ?
	    (const struct sockaddr *)&x->client : NULL, x->addr.ace,
	    clock_mono(), why, sizeof(why)))
		return 0;
	sender_verdict_refuse(x->conf, v, 450, "4.1.7", "limit", &x->addr,
	    "too many verifications, try again later");
	snprintf(v->reason, sizeof(v->reason), "%s", why);
	sender_record(x, v, "", "", v->reply, 0);
	log_info("session=%s client=%s sender=<%s> not verified: %s%s",
	    x->session_id, sender_client_text(x->client.ss_family != 0 ?
	    (const struct sockaddr *)&x->client : NULL, ip, sizeof(ip)),
	    log_printable(pa, sizeof(pa), x->key, strlen(x->key)), why,
	    v->enforced ? "" : " (sender_policy log: accepted)");
	return 1;
}

/* sender_mail_hosts - DNS found mail hosts: probe them, or accept when
 * cbv is off (the DNS checks alone are the policy then). */
static void
sender_mail_hosts(struct sender_check *chk)
{
	struct sender_verdict v;
	struct cbv_result r;
	struct cbv_waiter *w;

	if (!chk->x.conf->cbv) {
		sender_dns_conclude(&chk->x, SENDER_DNS_OK, &v);
		sender_finish(chk, &v);
		return;
	}
	if (chk->x.spf_pass && chk->x.conf->cbv_skip_on_spf_pass) {
		/* The domain itself names this client as its sender, and DNS
		 * has shown it can receive mail (no null MX): the site chose
		 * to trust that instead of a probe. Not cached: SPF speaks of
		 * this client, the cache of the address. */
		sender_verdict_accept(&v, "spf-pass", "pass", "SPF pass "
		    "(cbv_skip_on_spf_pass)");
		sender_record(&chk->x, &v, STATS_DNS_OK, "", "", 0);
		sender_finish(chk, &v);
		return;
	}
	if (!cbv_in_flight(chk->x.key) && sender_over_rate(&chk->x, &v)) {
		sender_finish(chk, &v);
		return;
	}
	chk->in_probe = 1;
	w = cbv_probe(chk->x.key, chk->mx, chk->nmx, sender_cbv_cb, chk);
	chk->in_probe = 0;
	if (chk->probe_sync) {
		r = *chk->sync_result;
		sender_probe_done(chk, &r, 1);
		return;
	}
	if (w == NULL) {
		/* Our own failure, not the remote's: undecided, not cached. */
		memset(&r, 0, sizeof(r));
		r.outcome = CBV_TEMPFAIL;
		r.stage = CBV_ST_CONNECT;
		snprintf(r.reply, sizeof(r.reply), "local error: cannot "
		    "start the call-back");
		sender_probe_done(chk, &r, 0);
		return;
	}
	chk->waiter = w;
}

/* sender_addr_done - both A and AAAA answered (or one found an address):
 * the domain is its own implicit MX (RFC 5321 §5.1), or has no mail host. */
static void
sender_addr_done(struct sender_check *chk)
{
	struct sender_verdict v;
	enum sender_dns d;

	d = sender_verdict_addr(chk->a_st, chk->aaaa_st);
	if (chk->q_a != NULL)
		resolver_cancel(chk->q_a);
	if (chk->q_aaaa != NULL)
		resolver_cancel(chk->q_aaaa);
	chk->q_a = chk->q_aaaa = NULL;
	if (d != SENDER_DNS_OK) {
		sender_dns_conclude(&chk->x, d, &v);
		sender_finish(chk, &v);
		return;
	}
	memset(chk->mx, 0, sizeof(chk->mx[0]));
	snprintf(chk->mx[0].name, sizeof(chk->mx[0].name), "%s",
	    chk->x.addr.ace);
	chk->nmx = 1;
	sender_mail_hosts(chk);
}

/* sender_addr_status - an A/AAAA answer as "has an address" or not. */
static enum resolver_status
sender_addr_status(const struct resolver_result *r)
{
	if (r->status == RESOLVER_OK && r->n == 0)
		return RESOLVER_NODATA;
	return r->status;
}

static void
sender_a_cb(const struct resolver_result *r, void *arg)
{
	struct sender_check *chk = arg;

	chk->q_a = NULL;
	chk->a_done = 1;
	chk->a_st = sender_addr_status(r);
	if (chk->aaaa_done || chk->a_st == RESOLVER_OK)
		sender_addr_done(chk);
}

static void
sender_aaaa_cb(const struct resolver_result *r, void *arg)
{
	struct sender_check *chk = arg;

	chk->q_aaaa = NULL;
	chk->aaaa_done = 1;
	chk->aaaa_st = sender_addr_status(r);
	if (chk->a_done || chk->aaaa_st == RESOLVER_OK)
		sender_addr_done(chk);
}

/* sender_mx_cb - the MX answer: hosts, no domain, null MX, or "no MX", in
 * which case A and AAAA are asked in parallel. */
static void
sender_mx_cb(const struct resolver_result *r, void *arg)
{
	struct sender_check *chk = arg;
	struct sender_verdict v;
	enum sender_dns d;

	chk->q_mx = NULL;
	d = sender_verdict_mx(r, chk->mx, RESOLVER_MAX_RR, &chk->nmx);
	if (d == SENDER_DNS_OK) {
		sender_mail_hosts(chk);
		return;
	}
	if (d != SENDER_DNS_NODATA) {
		sender_dns_conclude(&chk->x, d, &v);
		sender_finish(chk, &v);
		return;
	}
	/* A failed submit counts as a temporary failure of that type. */
	if ((chk->q_a = resolver_a(chk->x.addr.ace, sender_a_cb, chk)) ==
	    NULL) {
		chk->a_done = 1;
		chk->a_st = RESOLVER_TEMPFAIL;
	}
	if ((chk->q_aaaa = resolver_aaaa(chk->x.addr.ace, sender_aaaa_cb,
	    chk)) == NULL) {
		chk->aaaa_done = 1;
		chk->aaaa_st = RESOLVER_TEMPFAIL;
	}
	if (chk->a_done && chk->aaaa_done)
		sender_addr_done(chk);
}

/* sender_client_text - the client address as text, for replies. */
static const char *
sender_client_text(const struct sockaddr *sa, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	const void *a;

	snprintf(buf, len, "unknown");
	if (sa == NULL || cidr_sockaddr_unmap(sa, &ss) < 0)
		return buf;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)(void *)&ss)->sin_addr;
	else
		a = &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr;
	if (inet_ntop(ss.ss_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
	return buf;
}

/*
 * sender_decide_now - the steps that need neither DNS nor a probe: our
 * own domains (never probed), dmp_table, domains we cannot look up, and
 * the cache. 1 when decided (row recorded), 0 to go on with DNS.
 */
static int
sender_decide_now(const struct sender_ctx *x, const struct sockaddr *client,
    struct sender_verdict *v)
{
	const struct conf *conf = x->conf;
	const struct mailaddr *a = &x->addr;
	const struct sender_dmp_entry *e;
	struct cbv_cache_entry ce;
	char ip[INET6_ADDRSTRLEN];

	if (conf_is_local_domain(conf, a->ace)) {
		if (cidr_list_match(&conf->local_sender_networks, client))
			sender_verdict_accept(v, "local", "pass",
			    "local domain from local_sender_networks");
		else
			sender_verdict_refuse(conf, v, 550, "5.7.1", "local", a,
			    "not allowed to use a local domain from your "
			    "network");
		sender_record(x, v, "", "", v->reply, 0);
		return 1;
	}
	if ((e = sender_dmp_find(&sender_dmp_current, a->ace)) != NULL) {
		if (cidr_list_match(&e->nets, client))
			sender_verdict_accept(v, "dmp", "pass",
			    "client in the dmp_table networks of the domain");
		else
			sender_verdict_refuse(conf, v, 550, "5.7.1", "dmp", a,
			    "domain %s does not send mail from %s", a->ace,
			    sender_client_text(client, ip, sizeof(ip)));
		sender_record(x, v, "", "", v->reply, 0);
		return 1;
	}
	if (a->domain[0] == '[') {
		/* An address literal has no MX to call back (RFC 5321
		 * §4.1.3); a return path that cannot be verified is what
		 * this server refuses. */
		sender_verdict_refuse(conf, v, 550, "5.1.8", "dns", a,
		    "address literal is not a mail domain");
		sender_record(x, v, STATS_DNS_NOMX, "", v->reply, 0);
		return 1;
	}
	if (cbv_cache_lookup(x->key, clock_wall(), &ce) == 1 &&
	    sender_from_cache(x, &ce, v)) {
		sender_record(x, v, ce.stage, ce.mx_host, ce.reply,
		    ce.rfc3821);
		return 1;
	}
	return 0;
}

/*
 * sender_check_start - run the policy for sender. Returns NULL when it
 * decided at once (*out filled, cb never called), else a handle: cb will be
 * called once, later, from the loop, unless sender_check_cancel() is.
 * spf_pass: SPF passed for the MAIL FROM identity of this client, which
 * replaces the probe under cbv_skip_on_spf_pass.
 */
struct sender_check *
sender_check_start(const struct conf *conf, const struct mailaddr *sender,
    const struct sockaddr *client, const char *session_id, int spf_pass,
    sender_done_fn *cb, void *arg, struct sender_verdict *out)
{
	struct sender_check *chk;
	struct sender_ctx x;

	memset(out, 0, sizeof(*out));
	if (conf->sender_policy == POLICY_OFF) {
		sender_verdict_accept(out, "off", "pass", "sender_policy off");
		return NULL;
	}
	if (sender->is_null) {
		/* RFC 5321 §4.5.5: bounces must get through. */
		sender_verdict_accept(out, "null", "pass", "null sender");
		return NULL;
	}
	if (cidr_list_match(&conf->exempt_clients, client)) {
		sender_verdict_accept(out, "exempt", "pass",
		    "client in exempt_clients");
		return NULL;
	}
	sender_ctx_init(&x, conf, sender, session_id);
	x.spf_pass = spf_pass;
	if (client == NULL || cidr_sockaddr_unmap(client, &x.client) < 0)
		memset(&x.client, 0, sizeof(x.client));
	if (sender_decide_now(&x, client, out))
		return NULL;

	chk = xcalloc(1, sizeof(*chk));
	chk->x = x;
	chk->cb = cb;
	chk->arg = arg;
	if ((chk->q_mx = resolver_mx(sender->ace, sender_mx_cb, chk)) ==
	    NULL) {
		/* Could not even ask: a DNS temporary failure, decided now
		 * (and not cached: it says nothing of the domain). */
		sender_verdict_dns(conf, sender, SENDER_DNS_TEMPFAIL, out);
		sender_record(&x, out, STATS_DNS_TEMPFAIL, "",
		    sender_verdict_dns_text(SENDER_DNS_TEMPFAIL), 0);
		free(chk);
		return NULL;
	}
	return chk;
}

/* sender_check_cancel - stop a check; no callback after this. */
void
sender_check_cancel(struct sender_check *chk)
{
	if (chk == NULL)
		return;
	if (chk->q_mx != NULL)
		resolver_cancel(chk->q_mx);
	if (chk->q_a != NULL)
		resolver_cancel(chk->q_a);
	if (chk->q_aaaa != NULL)
		resolver_cancel(chk->q_aaaa);
	if (chk->waiter != NULL)
		cbv_cancel(chk->waiter);
	free(chk->sync_result);
	free(chk);
}
