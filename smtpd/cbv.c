/* cbv.c - the call-back verification client: ask the sender domain's own
 * MX, on our event loop, whether it would accept mail for the return path.
 *
 *	cbv_init - bind the client to the loop and take the limits of a conf
 *	cbv_reconfigure - new limits and timeouts, for probes submitted later
 *	cbv_shutdown - drop every probe and waiter; nobody is called, and
 *		every waiter pointer is invalid afterwards
 *	cbv_probe - ask for one verdict; a probe of the same address already
 *		in flight is shared. Returns the caller's waiter (NULL only
 *		before cbv_init); its callback runs once, later, on the loop
 *	cbv_cancel - forget one waiter: its callback never runs. The waiter
 *		is freed when its callback returns: never cancel it after
 *	cbv_set_trace - report every connect, command and reply as one line
 *		(the trace function must not call back into cbv_*)
 *	cbv_set_port - destination port, 25 unless a test says otherwise
 *	cbv_in_flight - is a probe of this address queued or running?
 *	cbv_pending - probes queued or running plus connections still saying
 *		QUIT: 0 when a one-shot caller (strictmxctl cbv) may stop
 *	cbv_stage_name, cbv_outcome_name - names for logs and the stats table
 *	cbv_done, cbv_trace, cbv_tracing - for cbv_smtp.c (cbv_smtp.h)
 *
 * This file queues and shares probes; cbv_smtp.c holds the conversation.
 * Decisions (for strictmx.conf(5) to tell the admin):
 * - Probes of one address (local part exactly, domain in any case) share
 *   one probe with a waiter each, reference counted as in Postfix's
 *   postscreen_dnsbl.c. When its last waiter is cancelled a probe is
 *   aborted (a connected one says QUIT): nobody would read its result,
 *   since the cache is written by the waiter (sender.c).
 * - At most cbv_max_concurrent probes run, at most cbv_max_per_domain of
 *   them to one sender domain; the others wait in a FIFO queue and never
 *   fail for it. The cbv_timeout budget starts at submission, so one that
 *   waits too long ends as TEMPFAIL "timeout in queue": no client waits
 *   for ever.
 * - The verdict is delivered as soon as the deciding reply arrives. QUIT
 *   and its 221 then run detached and no longer count against the limits.
 * - Callbacks run only from loop events, never from inside cbv_probe()
 *   or cbv_cancel(); a probe starts from a zero timer for that reason.
 * - A write to a reset peer raises SIGPIPE, which main() must ignore.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "cbv.h"
#include "cbv_guard.h"
#include "cbv_rate.h"
#include "cbv_smtp.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

#define CBV_TRACE_MAX		640	/* one trace line */

struct cbv_waiter {
	TAILQ_ENTRY(cbv_waiter) link;
	struct cbv_probe *probe;	/* NULL once its callback runs */
	cbv_fn		*cb;
	void		*arg;
	int		 calling;	/* inside its callback */
};

static struct {
	struct event_base *base;
	unsigned	 max_concurrent, max_per_domain, max_mx;
	unsigned	 timeout, connect_timeout;
	int		 noop;
	char		 helo[SMTP_DOMAIN_MAX + 1];
	char		 sender[SMTP_PATH_MAX + 1];
	unsigned short	 port;
	cbv_trace_fn	*trace;
	void		*trace_arg;
	TAILQ_HEAD(cbv_probes, cbv_probe) queued, running;
	size_t		 nrunning, nqueued;
	struct cbv_probe *delivering;	/* whose waiters are being called */
} cbv = { .port = 25 };

static const char *const cbv_stage_names[CBV_ST_LAST] = {
	"connect", "greeting", "noop", "helo", "mail", "rcpt", "done",
};
static const char *const cbv_outcome_names[CBV_OUTCOME_LAST] = {
	"pass", "fail", "refused-early", "refused-mail", "tempfail",
	"noconnect", "unverifiable",
};

const char *
cbv_stage_name(enum cbv_stage st)
{
	return (unsigned)st < CBV_ST_LAST ? cbv_stage_names[st] : "?";
}

const char *
cbv_outcome_name(enum cbv_outcome o)
{
	return (unsigned)o < CBV_OUTCOME_LAST ? cbv_outcome_names[o] : "?";
}

void
cbv_set_trace(cbv_trace_fn *fn, void *arg)
{
	cbv.trace = fn;
	cbv.trace_arg = arg;
}

void
cbv_set_port(unsigned short port)
{
	cbv.port = port != 0 ? port : 25;
}

/* cbv_trace - one transcript line for strictmxctl cbv, if anyone asked. */
void
cbv_trace(const char *fmt, ...)
{
	char line[CBV_TRACE_MAX];
	va_list ap;

	if (cbv.trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cbv.trace(line, cbv.trace_arg);
}

size_t
cbv_pending(void)
{
	return cbv.nrunning + cbv.nqueued + cbv_smtp_closing();
}

int
cbv_tracing(void)
{
	return cbv.trace != NULL;
}

/* cbv_conf_take - the keys we use, copied: the conf may be freed on
 * SIGHUP while probes submitted under it are still running. */
static void
cbv_conf_take(const struct conf *c)
{
	const char *s;
	size_t n;

	cbv.max_concurrent = c->cbv_max_concurrent ? c->cbv_max_concurrent : 1;
	cbv.max_per_domain = c->cbv_max_per_domain ? c->cbv_max_per_domain : 1;
	cbv.max_mx = c->cbv_max_mx ? c->cbv_max_mx : 1;
	cbv.timeout = c->cbv_timeout ? c->cbv_timeout : 1;
	cbv.connect_timeout = c->cbv_connect_timeout ?
	    c->cbv_connect_timeout : 1;
	cbv.noop = c->cbv_noop;
	cbv_guard_set(c);
	cbv_rate_set(c->cbv_max_per_client_minute,
	    c->cbv_max_per_domain_minute, c->client_ipv6_prefix);
	s = c->hostname != NULL && *c->hostname != '\0' ? c->hostname :
	    "localhost";
	if (strlcpy_compat(cbv.helo, s, sizeof(cbv.helo)) >=
	    sizeof(cbv.helo))
		log_warn("cbv: hostname too long for EHLO, cut");
	/* "" and "<>" both mean the null sender. */
	s = c->cbv_probe_sender != NULL ? c->cbv_probe_sender : "";
	n = strlen(s);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
		s++, n -= 2;
	if (n >= sizeof(cbv.sender) - 2 || strcspn(s, "\r\n<>") < n) {
		log_warn("cbv: unusable cbv_probe_sender, using <>");
		n = 0;
	}
	memcpy(cbv.sender, s, n);
	cbv.sender[n] = '\0';
}

int
cbv_init(struct event_base *base, const struct conf *c)
{
	cbv.base = base;
	TAILQ_INIT(&cbv.queued);
	TAILQ_INIT(&cbv.running);
	cbv.nrunning = cbv.nqueued = 0;
	cbv.delivering = NULL;
	cbv_conf_take(c);
	return 0;
}

/* cbv_domain_running - probes in flight to one sender domain. */
static unsigned
cbv_domain_running(const char *domain)
{
	struct cbv_probe *p;
	unsigned n = 0;

	TAILQ_FOREACH(p, &cbv.running, link)
		if (strcasecmp(p->domain, domain) == 0)
			n++;
	return n;
}

/* cbv_pump - start queued probes, in order, while the limits allow. A
 * probe held back by its domain's limit does not hold back the others.
 * They start from a zero timer, so no caller of ours is ever re-entered. */
static void
cbv_pump(void)
{
	static const struct timeval zero = { 0, 0 };
	struct cbv_probe *p, *next;

	for (p = TAILQ_FIRST(&cbv.queued);
	    p != NULL && cbv.nrunning < cbv.max_concurrent; p = next) {
		next = TAILQ_NEXT(p, link);
		if (cbv_domain_running(p->domain) >= cbv.max_per_domain)
			continue;
		TAILQ_REMOVE(&cbv.queued, p, link);
		cbv.nqueued--;
		TAILQ_INSERT_TAIL(&cbv.running, p, link);
		p->where = CBV_W_RUNNING;
		cbv.nrunning++;
		evtimer_add(p->kick, &zero);
	}
}

/* cbv_detach - take p out of the lists, stop all it was doing. */
static void
cbv_detach(struct cbv_probe *p, int quit)
{
	if (p->where == CBV_W_QUEUED) {
		TAILQ_REMOVE(&cbv.queued, p, link);
		cbv.nqueued--;
	} else if (p->where == CBV_W_RUNNING) {
		TAILQ_REMOVE(&cbv.running, p, link);
		cbv.nrunning--;
	}
	p->where = CBV_W_DONE;
	evtimer_del(p->kick);
	evtimer_del(p->deadline);
	cbv_smtp_stop(p, quit);
}

/* cbv_probe_free - a detached probe; waiters left are dropped uncalled. */
static void
cbv_probe_free(struct cbv_probe *p)
{
	struct cbv_waiter *w;

	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, link);
		free(w);
	}
	event_free(p->kick);
	event_free(p->deadline);
	free(p);
}

/* cbv_done - decide: the result goes to every waiter, then p is freed.
 * The reply kept is the last one set in p->result.reply. */
void
cbv_done(struct cbv_probe *p, enum cbv_outcome o, enum cbv_stage st,
    int quit)
{
	char abuf[LOG_PRINTABLE_SIZE];
	struct cbv_waiter *w;
	struct timespec t1;

	cbv_detach(p, quit);
	cbv_pump();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	p->result.outcome = o;
	p->result.stage = st;
	p->result.duration = (double)(t1.tv_sec - p->t0.tv_sec) +
	    (double)(t1.tv_nsec - p->t0.tv_nsec) / 1e9;
	log_debug("cbv: <%s> %s at %s via %s in %.1fs: %s",
	    log_printable(abuf, sizeof(abuf), p->address, strlen(p->address)),
	    cbv_outcome_name(o), cbv_stage_name(st),
	    p->result.mx_host[0] != '\0' ? p->result.mx_host : "-",
	    p->result.duration, p->result.reply);
	/* A callback may cancel other waiters of p, submit new probes or
	 * even shut the client down (which then empties our list). */
	cbv.delivering = p;
	while ((w = TAILQ_FIRST(&p->waiters)) != NULL) {
		TAILQ_REMOVE(&p->waiters, w, link);
		p->nwaiters--;
		w->probe = NULL;
		w->calling = 1;
		w->cb(&p->result, w->arg);
		free(w);
	}
	cbv.delivering = NULL;
	cbv_probe_free(p);
}

/* cbv_kick_cb - a probe has its turn: off to its first MX host. */
static void
cbv_kick_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct cbv_probe *p = arg;

	/* Too long for RCPT TO, or with a control octet: no retry could
	 * ever ask about it, so no MX is bothered. */
	if (p->bad) {
		strlcpy_compat(p->result.reply,
		    "address unfit for RCPT TO", sizeof(p->result.reply));
		cbv_done(p, CBV_UNVERIFIABLE, CBV_ST_CONNECT, 0);
		return;
	}
	cbv_smtp_start(p);
}

/* cbv_deadline_cb - the cbv_timeout budget, counted from submission. */
static void
cbv_deadline_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct cbv_probe *p = arg;

	if (p->where == CBV_W_QUEUED) {
		strlcpy_compat(p->result.reply,
		    "timeout in queue", sizeof(p->result.reply));
		cbv_trace("%s", p->result.reply);
		cbv_done(p, CBV_TEMPFAIL, CBV_ST_CONNECT, 0);
		return;
	}
	cbv_smtp_timeout(p);
}

/* cbv_same - does probe p ask about this address? RFC 5321 §2.4: the
 * local part is the remote's to interpret, exactly; the domain is not. */
static int
cbv_same(const struct cbv_probe *p, const char *address, size_t local_len,
    const char *domain)
{
	return !p->bad && p->local_len == local_len &&
	    memcmp(p->address, address, local_len) == 0 &&
	    strcasecmp(p->domain, domain) == 0;
}

/* cbv_split - where the local part ends (the last @) and the domain. */
static size_t
cbv_split(const char *address, const char **domain)
{
	const char *at = strrchr(address, '@');

	*domain = at != NULL ? at + 1 : "";
	return at != NULL ? (size_t)(at - address) : strlen(address);
}

/* cbv_find - the probe of this address in flight or queued, if any. */
static struct cbv_probe *
cbv_find(const char *address)
{
	struct cbv_probe *p;
	const char *domain;
	size_t local_len = cbv_split(address, &domain);

	TAILQ_FOREACH(p, &cbv.running, link)
		if (cbv_same(p, address, local_len, domain))
			return p;
	TAILQ_FOREACH(p, &cbv.queued, link)
		if (cbv_same(p, address, local_len, domain))
			return p;
	return NULL;
}

/* cbv_mx_order - our copy of the MX list: by preference, equal ones in
 * random order (RFC 5321 §5.1), null MX entries dropped, cbv_max_mx. */
static void
cbv_mx_order(struct cbv_probe *p, const struct resolver_mx *mx, size_t n)
{
	struct resolver_mx t;
	size_t i, j;

	for (i = 0; i < n && p->nmx < RESOLVER_MAX_RR; i++)
		if (mx[i].name[0] != '\0')
			p->mx[p->nmx++] = mx[i];
	for (i = p->nmx; i > 1; i--) {
		j = arc4random_uniform((uint32_t)i);
		t = p->mx[i - 1], p->mx[i - 1] = p->mx[j], p->mx[j] = t;
	}
	/* A stable sort keeps the shuffle within each preference. */
	for (i = 1; i < p->nmx; i++) {
		t = p->mx[i];
		for (j = i; j > 0 && p->mx[j - 1].pref > t.pref; j--)
			p->mx[j] = p->mx[j - 1];
		p->mx[j] = t;
	}
	if (p->nmx > cbv.max_mx)
		p->nmx = cbv.max_mx;
}

/* cbv_in_flight - 1 when a probe of address is queued or running: a new
 * check of it joins that probe and costs the remote nothing more. */
int
cbv_in_flight(const char *address)
{
	return cbv_find(address) != NULL;
}

/* cbv_probe_new - a probe for address, queued; it starts on the loop. */
static struct cbv_probe *
cbv_probe_new(const char *address, const struct resolver_mx *mx, size_t n)
{
	struct timeval tv = { cbv.timeout, 0 };
	struct cbv_probe *p;
	size_t i, len = strlen(address);

	p = xcalloc(1, sizeof(*p));
	TAILQ_INIT(&p->waiters);
	/* The address goes into RCPT TO:<...> (RFC 5321 §4.5.3.1.3: 256
	 * octets with the brackets); no control octet may smuggle a line. */
	strlcpy_compat(p->address, address, sizeof(p->address));
	if (len > SMTP_PATH_MAX - 2)
		p->bad = 1;
	/* A bad probe is never shared, so its copy may be defanged for
	 * the trace and the log. */
	for (i = 0; p->address[i] != '\0'; i++)
		if ((unsigned char)p->address[i] < 0x20 ||
		    p->address[i] == 0x7f)
			p->bad = 1, p->address[i] = '?';
	p->local_len = cbv_split(p->address, &p->domain);
	strlcpy_compat(p->helo, cbv.helo, sizeof(p->helo));
	strlcpy_compat(p->sender, cbv.sender, sizeof(p->sender));
	p->connect_timeout = cbv.connect_timeout;
	p->noop = cbv.noop;
	p->port = cbv.port;
	if (mx != NULL)
		cbv_mx_order(p, mx, n);
	p->base = cbv.base;
	p->kick = evtimer_new(cbv.base, cbv_kick_cb, p);
	p->deadline = evtimer_new(cbv.base, cbv_deadline_cb, p);
	if (p->kick == NULL || p->deadline == NULL) {
		log_crit("cbv: out of memory for timers");
		exit(75);
	}
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	evtimer_add(p->deadline, &tv);
	p->stage = CBV_ST_CONNECT;
	p->where = CBV_W_QUEUED;
	TAILQ_INSERT_TAIL(&cbv.queued, p, link);
	cbv.nqueued++;
	cbv_pump();
	return p;
}

/* cbv_probe - join the probe of this address in flight, or queue one. */
struct cbv_waiter *
cbv_probe(const char *address, const struct resolver_mx *mx, size_t n,
    cbv_fn *cb, void *arg)
{
	struct cbv_probe *p;
	struct cbv_waiter *w;

	if (cbv.base == NULL || address == NULL || cb == NULL)
		return NULL;
	if ((p = cbv_find(address)) == NULL)
		p = cbv_probe_new(address, mx, n);
	w = xcalloc(1, sizeof(*w));
	w->probe = p;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&p->waiters, w, link);
	p->nwaiters++;
	return w;
}

/* cbv_cancel - drop one waiter; with the last one the probe goes too. */
void
cbv_cancel(struct cbv_waiter *w)
{
	struct cbv_probe *p;

	if (w == NULL || w->calling)
		return;
	p = w->probe;
	TAILQ_REMOVE(&p->waiters, w, link);
	p->nwaiters--;
	free(w);
	if (p->nwaiters > 0 || p == cbv.delivering)
		return;
	cbv_trace("abort: nobody waits for <%s> any more", p->address);
	cbv_detach(p, p->bev != NULL && p->stage != CBV_ST_CONNECT);
	cbv_probe_free(p);
	cbv_pump();
}

/* cbv_reconfigure - SIGHUP. The limits only gate starts (cbv_pump): a
 * lower cbv_max_concurrent lets the running probes finish and starts no
 * queued one until fewer run than it allows; a higher one starts queued
 * probes at once. Queued probes keep the budget they were submitted with.
 * Reviewed for issue 11 item 13 (a queued probe past the limit after a
 * reload): nrunning counts every probe from cbv_pump to cbv_detach, the
 * kick of a started probe included, and nothing else moves a probe out of
 * the queue; test_reload_while_probes_are_queued holds it. */
void
cbv_reconfigure(const struct conf *c)
{
	cbv_conf_take(c);
	if (cbv.base != NULL)
		cbv_pump();
}

/* cbv_shutdown - free all; callable from a callback (cbv.delivering). */
void
cbv_shutdown(void)
{
	struct cbv_probe *p;
	struct cbv_waiter *w;

	if (cbv.base == NULL)
		return;
	while ((p = TAILQ_FIRST(&cbv.queued)) != NULL ||
	    (p = TAILQ_FIRST(&cbv.running)) != NULL) {
		cbv_detach(p, 0);
		cbv_probe_free(p);
	}
	/* Called from a callback: the rest of that probe's waiters. */
	if (cbv.delivering != NULL)
		while ((w = TAILQ_FIRST(&cbv.delivering->waiters)) != NULL) {
			TAILQ_REMOVE(&cbv.delivering->waiters, w, link);
			cbv.delivering->nwaiters--;
			free(w);
		}
	cbv_smtp_shutdown();
	cbv_guard_free();
	cbv_rate_free();
	cbv.base = NULL;
}
