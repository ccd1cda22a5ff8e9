/* cbv.c - the call-back verification client: ask the sender domain's own
 * MX, on our event loop, whether it would accept mail for the return path.
 *
 *	cbv_init - bind the client to the loop and take the limits of a conf
 *	cbv_reconfigure - new limits and timeouts, for probes submitted later
 *	cbv_shutdown - drop every probe and waiter; nobody is called
 *	cbv_probe - ask for one verdict; a probe of the same address already
 *		in flight is shared. Returns the caller's waiter (NULL only
 *		before cbv_init); its callback runs once, later, on the loop
 *	cbv_cancel - forget one waiter: its callback never runs; the waiter is
 *		gone once its callback has returned, so never cancel it after
 *	cbv_set_trace - report every connect, command and reply as one line
 *	cbv_set_port - destination port, 25 unless a test says otherwise
 *	cbv_reply_parse - pure parser of one SMTP reply at the head of a buffer
 *	cbv_stage_name, cbv_outcome_name - names for logs and the stats table
 *
 * Decisions (see also strictmx.conf(5)):
 * - The cbv_timeout budget starts at submission: a probe still queued
 *   behind cbv_max_concurrent/cbv_max_per_domain when it runs out ends as
 *   TEMPFAIL "timeout in queue", so no client waits for ever.
 * - When its last waiter is cancelled, a queued or running probe is
 *   aborted (a running one sends QUIT if it is connected): nobody would
 *   read its result, since the cache is written by the waiter (sender.c).
 * - RFC 5321 §5.1: a host that refuses the connection, or that answers
 *   the greeting with 4xx, a drop or garbage, sends us to the next MX.
 *   The first host that gets past its greeting decides.
 * - Replies wait only on the whole budget, not on RFC 5321 §4.5.3.2's
 *   per-command times, which are far longer than any session can wait.
 * - The decision is delivered as soon as the deciding reply arrives; QUIT
 *   and its 221 (bounded by CBV_QUIT_WAIT) then run detached and no longer
 *   count against the limits.
 * - The SIGPIPE a write to a reset peer raises must be ignored by main().
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "cbv.h"
#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "xmalloc.h"

#define CBV_ADDRS_PER_HOST	4	/* addresses tried per MX host */
#define CBV_QUIT_WAIT		2	/* seconds we wait for the 221 */
#define CBV_TRACE_MAX		640	/* one trace line */

enum cbv_where { CBV_W_QUEUED, CBV_W_RUNNING, CBV_W_DONE };
enum cbv_tmode { CBV_T_KICK, CBV_T_CONNECT };
/* What a step did to the connection it was given. */
enum cbv_go { CBV_GO_ON, CBV_GO_GONE };

struct cbv_waiter {
	TAILQ_ENTRY(cbv_waiter) link;
	struct cbv_probe *probe;
	cbv_fn		*cb;
	void		*arg;
	int		 calling;	/* inside its callback */
};

struct cbv_probe {
	TAILQ_ENTRY(cbv_probe) link;
	enum cbv_where	 where;
	char		 address[SMTP_PATH_MAX + 1];
	size_t		 local_len;	/* local part, before the last @ */
	const char	*domain;	/* into address */
	int		 bad;		/* address unfit for RCPT TO */
	TAILQ_HEAD(, cbv_waiter) waiters;
	size_t		 nwaiters;
	/* The configuration as it was at submission. */
	char		 helo[SMTP_DOMAIN_MAX + 1];
	char		 sender[SMTP_PATH_MAX + 1];
	unsigned	 connect_timeout;
	int		 noop;
	unsigned short	 port;
	/* MX hosts in the order we try them; addresses of the current one. */
	struct resolver_mx mx[RESOLVER_MAX_RR];
	size_t		 nmx, imx;
	struct resolver_query *qa, *qaaaa;
	struct sockaddr_storage a4[CBV_ADDRS_PER_HOST], a6[CBV_ADDRS_PER_HOST];
	size_t		 n4, n6;
	struct sockaddr_storage addr[CBV_ADDRS_PER_HOST];
	size_t		 naddr, iaddr;
	char		 peer[INET6_ADDRSTRLEN + 16];	/* "[addr]:port" */
	struct bufferevent *bev;
	struct event	*timer;		/* kick, then each connect timeout */
	enum cbv_tmode	 tmode;
	struct event	*deadline;	/* the cbv_timeout budget */
	enum cbv_stage	 stage;		/* the reply we wait for */
	int		 helo_sent;	/* EHLO was refused, HELO went out */
	int		 have_saved;	/* a host tempfailed at its greeting */
	struct cbv_result saved;
	char		 lasterr[CBV_REPLY_TEXT_MAX + 1];
	struct timespec	 t0;
	struct cbv_result result;
};

/* A connection that got its answer: QUIT, wait a little for 221, close. */
struct cbv_closer {
	TAILQ_ENTRY(cbv_closer) link;
	struct bufferevent *bev;
	struct event	*timer;
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
	TAILQ_HEAD(, cbv_probe) queued, running;
	TAILQ_HEAD(, cbv_closer) closers;
	size_t		 nrunning;
	struct cbv_probe *delivering;	/* whose waiters are being called */
} cbv = { .port = 25 };

static const char *const cbv_stage_names[CBV_ST_LAST] = {
	"connect", "greeting", "noop", "helo", "mail", "rcpt", "done",
};
static const char *const cbv_outcome_names[CBV_OUTCOME_LAST] = {
	"pass", "fail", "refused-early", "refused-mail", "tempfail",
	"noconnect",
};

static void cbv_host(struct cbv_probe *);
static void cbv_finish(struct cbv_probe *, enum cbv_outcome,
	    enum cbv_stage, int);

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
static void PRINTF_LIKE(1, 2)
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

/* cbv_printable - append n remote octets to dst (size dstlen, holding *o
 * octets), each non-printable one as '?', cutting at the end of dst. */
static void
cbv_printable(char *dst, size_t dstlen, size_t *o, const char *src,
    size_t n)
{
	size_t i;

	for (i = 0; i < n && *o + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[(*o)++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[*o] = '\0';
}

/* cbv_is_rfc3821 - is the first word of an EHLO line the keyword? Either
 * spelling: DESIGN §3 lets a site pick RFC 5321 §2.2.2's X form. */
static int
cbv_is_rfc3821(const char *s, size_t n)
{
	size_t w = 0;

	while (w < n && s[w] != ' ')
		w++;
	return (w == 7 && strncasecmp(s, "RFC3821", 7) == 0) ||
	    (w == 8 && strncasecmp(s, "XRFC3821", 8) == 0);
}

/* cbv_reply_parse - one RFC 5321 §4.2 reply at the head of buf: lines
 * "ddd-text" ending with "ddd text" or "ddd", all with the same code.
 * A bare LF ends a line as CRLF does (as Postfix's client tolerates).
 * A line over 512 octets (§4.5.3.1.5) or a reply over CBV_REPLY_MAX is
 * TOOLONG, so the caller can cap its buffer there (setwatermark). */
int
cbv_reply_parse(const char *buf, size_t len, struct cbv_reply *out)
{
	size_t pos = 0, o = 0, ll, n, i;
	const char *line, *lf;
	int code = -1, c;

	memset(out, 0, sizeof(*out));
	for (;;) {
		line = buf + pos;
		lf = memchr(line, '\n', len - pos);
		ll = lf != NULL ? (size_t)(lf - line) + 1 : len - pos;
		if (ll > SMTP_REPLYLINE_MAX)
			return CBV_PARSE_TOOLONG;
		/* What has arrived of the code must already be digits. */
		for (i = 0; i < 3 && i < ll && line + i != lf; i++)
			if (line[i] < '0' || line[i] > '9' ||
			    (i == 0 && (line[0] < '2' || line[0] > '5')))
				return CBV_PARSE_GARBAGE;
		if (lf == NULL)
			return len >= CBV_REPLY_MAX ? CBV_PARSE_TOOLONG :
			    CBV_PARSE_MORE;
		if (pos + ll > CBV_REPLY_MAX)
			return CBV_PARSE_TOOLONG;
		n = ll - 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n < 3 || (n > 3 && line[3] != ' ' && line[3] != '-'))
			return CBV_PARSE_GARBAGE;
		c = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (code == -1) {
			code = c;
			memcpy(out->text, line, 3);
			o = 3;
			out->text[o] = '\0';
		} else if (c != code)
			return CBV_PARSE_GARBAGE;
		/* Lines joined with one space: the session quotes them in a
		 * single reply line of its own. */
		if (n > 4) {
			cbv_printable(out->text, sizeof(out->text), &o, " ", 1);
			cbv_printable(out->text, sizeof(out->text), &o,
			    line + 4, n - 4);
			if (cbv_is_rfc3821(line + 4, n - 4))
				out->rfc3821 = 1;
		}
		out->nlines++;
		pos += ll;
		if (n == 3 || line[3] == ' ') {
			out->code = code;
			out->len = pos;
			return CBV_PARSE_OK;
		}
	}
}

/* cbv_trace_lines - each line of a parsed reply as "<- line". */
static void
cbv_trace_lines(const char *d, size_t len)
{
	char line[SMTP_REPLYLINE_MAX + 1];
	const char *lf;
	size_t o, n;

	if (cbv.trace == NULL)
		return;
	while (len > 0) {
		lf = memchr(d, '\n', len);
		n = lf != NULL ? (size_t)(lf - d) : len;
		o = 0;
		cbv_printable(line, sizeof(line), &o, d,
		    n > 0 && d[n - 1] == '\r' ? n - 1 : n);
		cbv_trace("<- %s", line);
		n = lf != NULL ? n + 1 : n;
		d += n;
		len -= n;
	}
}

/* cbv_copy - bounded string copy; non-zero when src did not fit. */
static int
cbv_copy(char *dst, size_t dstlen, const char *src)
{
	return (size_t)snprintf(dst, dstlen, "%s", src) >= dstlen;
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
	s = c->hostname != NULL && *c->hostname != '\0' ? c->hostname :
	    "localhost";
	if (cbv_copy(cbv.helo, sizeof(cbv.helo), s))
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
	TAILQ_INIT(&cbv.closers);
	cbv.nrunning = 0;
	cbv.delivering = NULL;
	cbv_conf_take(c);
	return 0;
}

/* cbv_closer_free - the end of a connection, whatever its state. */
static void
cbv_closer_free(struct cbv_closer *c)
{
	TAILQ_REMOVE(&cbv.closers, c, link);
	bufferevent_free(c->bev);
	event_free(c->timer);
	free(c);
}

static void
cbv_closer_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const char *d = (const char *)evbuffer_pullup(in, -1);
	struct cbv_reply r;
	int st = cbv_reply_parse(d, len, &r);

	if (st == CBV_PARSE_MORE)
		return;
	if (st == CBV_PARSE_OK)
		cbv_trace_lines(d, r.len);
	cbv_closer_free(arg);
}

static void
cbv_closer_event_cb(struct bufferevent *bev __unused, short what __unused,
    void *arg)
{
	cbv_closer_free(arg);
}

static void
cbv_closer_timer_cb(evutil_socket_t fd __unused, short ev __unused,
    void *arg)
{
	cbv_closer_free(arg);
}

/* cbv_hangup - leave a connection: politely (QUIT, RFC 5321 §4.1.1.10,
 * which even a server that refused us at the greeting waits for, §3.1)
 * unless it is broken, in which case it is simply closed. */
static void
cbv_hangup(struct cbv_probe *p, int quit)
{
	struct timeval tv = { CBV_QUIT_WAIT, 0 };
	struct cbv_closer *c;

	if (p->bev == NULL)
		return;
	if (!quit) {
		bufferevent_free(p->bev);
		p->bev = NULL;
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = p->bev;
	p->bev = NULL;
	c->timer = evtimer_new(cbv.base, cbv_closer_timer_cb, c);
	if (c->timer == NULL) {
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	/* Whatever the server sent beyond its reply is of no interest. */
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	evbuffer_add(bufferevent_get_output(c->bev), "QUIT\r\n", 6);
	cbv_trace("-> QUIT");
	bufferevent_setcb(c->bev, cbv_closer_read_cb, NULL,
	    cbv_closer_event_cb, c);
	evtimer_add(c->timer, &tv);
	TAILQ_INSERT_TAIL(&cbv.closers, c, link);
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
		TAILQ_INSERT_TAIL(&cbv.running, p, link);
		p->where = CBV_W_RUNNING;
		cbv.nrunning++;
		p->tmode = CBV_T_KICK;
		evtimer_add(p->timer, &zero);
	}
}

/* cbv_detach - take p out of the lists, stop all it was doing. */
static void
cbv_detach(struct cbv_probe *p, int quit)
{
	if (p->where == CBV_W_QUEUED)
		TAILQ_REMOVE(&cbv.queued, p, link);
	else if (p->where == CBV_W_RUNNING) {
		TAILQ_REMOVE(&cbv.running, p, link);
		cbv.nrunning--;
	}
	p->where = CBV_W_DONE;
	resolver_cancel(p->qa);
	resolver_cancel(p->qaaaa);
	p->qa = p->qaaaa = NULL;
	evtimer_del(p->timer);
	evtimer_del(p->deadline);
	cbv_hangup(p, quit);
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
	event_free(p->timer);
	event_free(p->deadline);
	free(p);
}

/* cbv_finish - decide: the result goes to every waiter, then p is freed.
 * The reply kept is the last one set in p->result.reply. */
static void
cbv_finish(struct cbv_probe *p, enum cbv_outcome o, enum cbv_stage st,
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

/* cbv_after - "after EHLO": what a timeout or a drop interrupted. */
static const char *
cbv_after(const struct cbv_probe *p)
{
	switch (p->stage) {
	case CBV_ST_CONNECT:
		return "while connecting";
	case CBV_ST_GREETING:
		return "waiting for greeting";
	case CBV_ST_NOOP:
		return "after NOOP";
	case CBV_ST_HELO:
		return p->helo_sent ? "after HELO" : "after EHLO";
	case CBV_ST_MAIL:
		return "after MAIL FROM";
	default:
		return "after RCPT TO";
	}
}

/* cbv_noconnect - every MX host tried: a greeting tempfail seen on the way
 * is the verdict, else no host accepted a connection at all. */
static void
cbv_noconnect(struct cbv_probe *p)
{
	if (p->have_saved) {
		p->result = p->saved;
		cbv_finish(p, CBV_TEMPFAIL, CBV_ST_GREETING, 0);
		return;
	}
	if (p->nmx > 0)
		cbv_copy(p->result.mx_host, sizeof(p->result.mx_host),
		    p->mx[p->imx < p->nmx ? p->imx : p->nmx - 1].name);
	cbv_copy(p->result.reply, sizeof(p->result.reply),
	    p->lasterr[0] != '\0' ? p->lasterr : "no MX host to try");
	cbv_finish(p, CBV_NOCONNECT, CBV_ST_CONNECT, 0);
}

/* cbv_greet_fail - this host failed before or at its greeting: keep what
 * it said and try the next MX host (RFC 5321 §5.1). */
static enum cbv_go
cbv_greet_fail(struct cbv_probe *p, int quit)
{
	p->saved = p->result;
	p->have_saved = 1;
	cbv_hangup(p, quit);
	p->imx++;
	cbv_host(p);
	return CBV_GO_GONE;
}

/* cbv_broken - a timeout, a drop or garbage: TEMPFAIL at this stage. */
static enum cbv_go
cbv_broken(struct cbv_probe *p, const char *what)
{
	snprintf(p->result.reply, sizeof(p->result.reply), "%s %s", what,
	    cbv_after(p));
	cbv_trace("%s", p->result.reply);
	if (p->stage == CBV_ST_GREETING)
		return cbv_greet_fail(p, 0);
	cbv_finish(p, CBV_TEMPFAIL, p->stage, 0);
	return CBV_GO_GONE;
}

/* cbv_send - one command, then wait for its reply at stage st. */
static enum cbv_go PRINTF_LIKE(3, 4)
cbv_send(struct cbv_probe *p, enum cbv_stage st, const char *fmt, ...)
{
	char line[SMTP_CMDLINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		cbv_copy(p->result.reply, sizeof(p->result.reply),
		    "command line too long");
		cbv_finish(p, CBV_TEMPFAIL, st, 1);
		return CBV_GO_GONE;
	}
	cbv_trace("-> %s", line);
	memcpy(line + n, "\r\n", 2);
	p->stage = st;
	bufferevent_write(p->bev, line, (size_t)n + 2);
	return CBV_GO_ON;
}

/* cbv_step - the dialogue of DESIGN §1: one reply moves it one command
 * on, or decides. 2xx goes on; 5xx refuses at that stage; 4xx (and the
 * 3xx no command of ours should get) is a temporary failure. */
static enum cbv_go
cbv_step(struct cbv_probe *p, const struct cbv_reply *r)
{
	int cls = r->code / 100;

	cbv_copy(p->result.reply, sizeof(p->result.reply), r->text);
	switch (p->stage) {
	case CBV_ST_GREETING:
		if (cls == 5)
			break;
		if (cls != 2)
			return cbv_greet_fail(p, 1);
		if (p->noop)
			return cbv_send(p, CBV_ST_NOOP, "NOOP");
		return cbv_send(p, CBV_ST_HELO, "EHLO %s", p->helo);
	case CBV_ST_NOOP:
		if (cls == 2)
			return cbv_send(p, CBV_ST_HELO, "EHLO %s", p->helo);
		break;
	case CBV_ST_HELO:
		/* RFC 5321 §4.1.4: a server that does not know EHLO answers
		 * 5xx (500, 502, 554...), and HELO is the fallback. */
		if (cls == 5 && !p->helo_sent) {
			p->helo_sent = 1;
			return cbv_send(p, CBV_ST_HELO, "HELO %s", p->helo);
		}
		if (cls == 2) {
			if (!p->helo_sent)
				p->result.rfc3821 = r->rfc3821;
			return cbv_send(p, CBV_ST_MAIL, "MAIL FROM:<%s>",
			    p->sender);
		}
		break;
	case CBV_ST_MAIL:
		if (cls == 2)
			return cbv_send(p, CBV_ST_RCPT, "RCPT TO:<%s>",
			    p->address);
		if (cls == 5) {
			cbv_finish(p, CBV_REFUSED_MAIL, CBV_ST_MAIL, 1);
			return CBV_GO_GONE;
		}
		break;
	default:
		if (cls == 2 || cls == 5) {
			cbv_finish(p, cls == 2 ? CBV_PASS : CBV_FAIL,
			    CBV_ST_RCPT, 1);
			return CBV_GO_GONE;
		}
		break;
	}
	cbv_finish(p, cls == 5 ? CBV_REFUSED_EARLY : CBV_TEMPFAIL, p->stage, 1);
	return CBV_GO_GONE;
}

/* cbv_input - every complete reply in the input buffer, in order. The
 * watermark holds the buffer at CBV_REPLY_MAX, which the parser calls
 * TOOLONG, so a remote can never make us buffer more. */
static enum cbv_go
cbv_input(struct cbv_probe *p)
{
	struct evbuffer *in;
	struct cbv_reply r;
	const char *d;
	size_t len;

	for (;;) {
		in = bufferevent_get_input(p->bev);
		if ((len = evbuffer_get_length(in)) == 0)
			return CBV_GO_ON;
		d = (const char *)evbuffer_pullup(in, -1);
		switch (cbv_reply_parse(d, len, &r)) {
		case CBV_PARSE_MORE:
			return CBV_GO_ON;
		case CBV_PARSE_OK:
			cbv_trace_lines(d, r.len);
			evbuffer_drain(in, r.len);
			if (cbv_step(p, &r) == CBV_GO_GONE)
				return CBV_GO_GONE;
			break;
		case CBV_PARSE_TOOLONG:
			return cbv_broken(p, "oversized reply");
		default:
			return cbv_broken(p, "malformed reply");
		}
	}
}

static void
cbv_read_cb(struct bufferevent *bev __unused, void *arg)
{
	cbv_input(arg);
}

/* cbv_connect - try the current host's addresses from p->iaddr on; when
 * none is left, the next host. */
static void
cbv_connect(struct cbv_probe *p)
{
	struct timeval tv = { p->connect_timeout, 0 };
	struct sockaddr_storage *ss;
	char ip[INET6_ADDRSTRLEN];
	socklen_t sl;
	void *a;

	for (; p->iaddr < p->naddr; p->iaddr++) {
		ss = &p->addr[p->iaddr];
		if (ss->ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

			s6->sin6_port = htons(p->port);
			a = &s6->sin6_addr;
			sl = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

			s4->sin_port = htons(p->port);
			a = &s4->sin_addr;
			sl = sizeof(*s4);
		}
		if (inet_ntop(ss->ss_family, a, ip, sizeof(ip)) == NULL)
			cbv_copy(ip, sizeof(ip), "?");
		snprintf(p->peer, sizeof(p->peer), "[%s]:%u", ip, p->port);
		cbv_trace("connect %s %s", p->mx[p->imx].name, p->peer);
		p->bev = bufferevent_socket_new(cbv.base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (p->bev == NULL ||
		    bufferevent_socket_connect(p->bev, (struct sockaddr *)ss,
		    (int)sl) < 0) {
			snprintf(p->lasterr, sizeof(p->lasterr),
			    "connect to %s %s: %s", p->mx[p->imx].name,
			    p->peer, strerror(errno));
			cbv_trace("%s", p->lasterr);
			if (p->bev != NULL)
				bufferevent_free(p->bev);
			p->bev = NULL;
			continue;
		}
		bufferevent_setcb(p->bev, cbv_read_cb, NULL, cbv_event_cb, p);
		bufferevent_setwatermark(p->bev, EV_READ, 0, CBV_REPLY_MAX);
		bufferevent_enable(p->bev, EV_READ);
		p->stage = CBV_ST_CONNECT;
		p->tmode = CBV_T_CONNECT;
		evtimer_add(p->timer, &tv);
		return;
	}
	p->imx++;
	cbv_host(p);
}
