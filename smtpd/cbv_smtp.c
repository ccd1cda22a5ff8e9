/* cbv_smtp.c - one call-back verification probe's conversation: MX hosts
 * to addresses, nonblocking connects, the RFC 5321 dialogue, then QUIT.
 *
 *	cbv_reply_parse - pure parser of one SMTP reply at the head of a buffer
 *	cbv_smtp_start - resolve the first MX host and go (cbv.c's kick)
 *	cbv_smtp_stop - cancel lookups and timers, leave the connection
 *	cbv_smtp_timeout - the budget is over: decide from where we are
 *	cbv_smtp_closing - how many connections still wait for their 221
 *	cbv_smtp_shutdown - close those connections now
 *
 * Each step ends in one of three ways: it waits for a loop event, it moves
 * on to the next address or host, or it calls cbv_done(), which frees the
 * probe; a step that may have done that returns CBV_GO_GONE and its
 * caller touches the probe no more (postscreen's DESTROY convention).
 *
 * RFC 5321 §5.1: a host that refuses the connection, or answers its
 * greeting with 4xx, a drop or garbage, sends us on to the next MX host;
 * the first host that gets past its greeting decides. A reply waits only
 * on the whole cbv_timeout (cbv.c), not on §4.5.3.2's per-command times,
 * which are far longer than any session can wait for its verdict.
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "cbv.h"
#include "cbv_guard.h"
#include "cbv_smtp.h"
#include "log.h"
#include "resolver.h"
#include "xmalloc.h"

#define CBV_QUIT_WAIT		2	/* seconds we wait for the 221 */

/* What a step did to the probe it was given. */
enum cbv_go { CBV_GO_ON, CBV_GO_GONE };

/* A connection that got its answer: QUIT, wait a little for 221, close.
 * It no longer counts against cbv_max_concurrent. */
struct cbv_closer {
	TAILQ_ENTRY(cbv_closer) link;
	struct bufferevent *bev;
	struct event	*timer;
};

static TAILQ_HEAD(cbv_closers, cbv_closer) cbv_closers =
    TAILQ_HEAD_INITIALIZER(cbv_closers);
static size_t cbv_nclosers;

static void cbv_host(struct cbv_probe *);
static void cbv_event_cb(struct bufferevent *, short, void *);

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

/* cbv_ascii - 1 when the address needs no SMTPUTF8 (RFC 6531). */
static int
cbv_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
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
	if (buf == NULL || len == 0)
		return CBV_PARSE_MORE;
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
			if (n - 4 >= 8 && strncasecmp(line + 4, "SMTPUTF8",
			    8) == 0 && (n - 4 == 8 || line[12] == ' '))
				out->smtputf8 = 1;
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

	if (!cbv_tracing())
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

/* cbv_closer_free - the end of a connection, whatever its state. */
static void
cbv_closer_free(struct cbv_closer *c)
{
	TAILQ_REMOVE(&cbv_closers, c, link);
	cbv_nclosers--;
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
	c->timer = evtimer_new(p->base, cbv_closer_timer_cb, c);
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
	TAILQ_INSERT_TAIL(&cbv_closers, c, link);
	cbv_nclosers++;
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
		cbv_done(p, CBV_TEMPFAIL, CBV_ST_GREETING, 0);
		return;
	}
	if (p->nmx > 0)
		strlcpy_compat(p->result.mx_host,
		    p->mx[p->imx < p->nmx ? p->imx : p->nmx - 1].name,
		    sizeof(p->result.mx_host));
	/* Cut where a remote reply would be (cbv.h). */
	strlcpy_compat(p->result.reply, p->lasterr[0] != '\0' ? p->lasterr :
	    "no MX host to try", CBV_REPLY_TEXT_MAX + 1);
	cbv_done(p, CBV_NOCONNECT, CBV_ST_CONNECT, 0);
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
	cbv_done(p, CBV_TEMPFAIL, p->stage, 0);
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
		strlcpy_compat(p->result.reply,
		    "command line too long", sizeof(p->result.reply));
		cbv_done(p, CBV_TEMPFAIL, st, 1);
		return CBV_GO_GONE;
	}
	cbv_trace("-> %s", line);
	memcpy(line + n, "\r\n", 2);
	p->stage = st;
	bufferevent_write(p->bev, line, (size_t)n + 2);
	return CBV_GO_ON;
}

/* cbv_mail_utf8 - RFC 6531 §3.4: a non-ASCII address may only be given
 * to a server that offers SMTPUTF8, with the SMTPUTF8 parameter on MAIL.
 * A server that does not offer it (or that only knows HELO) may not be
 * asked at all, today or on any retry: unverifiable, not a tempfail. */
static enum cbv_go
cbv_mail_utf8(struct cbv_probe *p, const struct cbv_reply *r)
{
	if (!p->helo_sent && r->smtputf8)
		return cbv_send(p, CBV_ST_MAIL, "MAIL FROM:<%s> SMTPUTF8",
		    p->sender);
	strlcpy_compat(p->result.reply, "no SMTPUTF8 offered for a non-ASCII "
	    "address", sizeof(p->result.reply));
	cbv_done(p, CBV_UNVERIFIABLE, CBV_ST_HELO, 1);
	return CBV_GO_GONE;
}

/* cbv_step - the dialogue of DESIGN §1: one reply moves it one command
 * on, or decides. 2xx goes on; 5xx refuses at that stage; 4xx (and the
 * 3xx no command of ours should get) is a temporary failure. */
static enum cbv_go
cbv_step(struct cbv_probe *p, const struct cbv_reply *r)
{
	int cls = r->code / 100;

	strlcpy_compat(p->result.reply, r->text, sizeof(p->result.reply));
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
			if (!cbv_ascii(p->address))
				return cbv_mail_utf8(p, r);
			return cbv_send(p, CBV_ST_MAIL, "MAIL FROM:<%s>",
			    p->sender);
		}
		break;
	case CBV_ST_MAIL:
		if (cls == 2)
			return cbv_send(p, CBV_ST_RCPT, "RCPT TO:<%s>",
			    p->address);
		if (cls == 5) {
			cbv_done(p, CBV_REFUSED_MAIL, CBV_ST_MAIL, 1);
			return CBV_GO_GONE;
		}
		break;
	case CBV_ST_RCPT:
		if (cls == 2 || cls == 5) {
			cbv_done(p, cls == 2 ? CBV_PASS : CBV_FAIL,
			    CBV_ST_RCPT, 1);
			return CBV_GO_GONE;
		}
		break;
	default:
		break;
	}
	cbv_done(p, cls == 5 ? CBV_REFUSED_EARLY : CBV_TEMPFAIL, p->stage, 1);
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
	char ip[INET6_ADDRSTRLEN], why[CBV_GUARD_WHY_SIZE];
	char abuf[LOG_PRINTABLE_SIZE], ebuf[LOG_PRINTABLE_SIZE];
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
			strlcpy_compat(ip, "?", sizeof(ip));
		snprintf(p->peer, sizeof(p->peer), "[%s]:%u", ip, p->port);
		/* cbv_forbidden_networks: never an SMTP dialogue with
		 * loopback, ourselves or the site's inside (issue 12). */
		if (cbv_guard_forbidden((struct sockaddr *)ss, why,
		    sizeof(why))) {
			snprintf(p->lasterr, sizeof(p->lasterr), "MX %s "
			    "resolves to forbidden network %s (%s)",
			    p->mx[p->imx].name, ip, why);
			cbv_trace("%s", p->lasterr);
			log_info("cbv: <%s>: %s, not probed",
			    log_printable(abuf, sizeof(abuf), p->address,
			    strlen(p->address)), log_printable(ebuf,
			    sizeof(ebuf), p->lasterr, strlen(p->lasterr)));
			continue;
		}
		cbv_trace("connect %s %s", p->mx[p->imx].name, p->peer);
		p->bev = bufferevent_socket_new(p->base, -1,
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
		p->stage = CBV_ST_CONNECT;
		evtimer_add(p->ctimer, &tv);
		return;
	}
	p->imx++;
	cbv_host(p);
}

/* cbv_event_cb - the connect's outcome, or the end of the dialogue. */
static void
cbv_event_cb(struct bufferevent *bev __unused, short what, void *arg)
{
	struct cbv_probe *p = arg;
	int e = EVUTIL_SOCKET_ERROR();

	if (p->stage == CBV_ST_CONNECT) {
		evtimer_del(p->ctimer);
		if (what & BEV_EVENT_CONNECTED) {
			cbv_trace("connected");
			strlcpy_compat(p->result.mx_host,
			    p->mx[p->imx].name, sizeof(p->result.mx_host));
			p->result.reply[0] = '\0';
			p->result.rfc3821 = 0;
			p->stage = CBV_ST_GREETING;
			/* Reading starts only now, so that a reset or an EOF
			 * can never pass for a failed connect. */
			bufferevent_enable(p->bev, EV_READ);
			return;
		}
		snprintf(p->lasterr, sizeof(p->lasterr), "connect to %s %s: %s",
		    p->mx[p->imx].name, p->peer, e != 0 ?
		    evutil_socket_error_to_string(e) : "failed");
		cbv_trace("%s", p->lasterr);
		bufferevent_free(p->bev);
		p->bev = NULL;
		p->iaddr++;
		cbv_connect(p);
		return;
	}
	/* A reply may have come in with the end of the connection. */
	if (cbv_input(p) == CBV_GO_GONE)
		return;
	cbv_broken(p, "connection lost");
}

/* cbv_addrs - both lookups of this host are in: its addresses,
 * alternating IPv6 and IPv4 from IPv6 on (RFC 6724 §6's preference,
 * RFC 8305 §4's interleaving), at most CBV_ADDRS_PER_HOST of them. */
static void
cbv_addrs(struct cbv_probe *p)
{
	size_t i4 = 0, i6 = 0;

	p->naddr = p->iaddr = 0;
	while (p->naddr < CBV_ADDRS_PER_HOST && (i4 < p->n4 || i6 < p->n6)) {
		if (i6 < p->n6)
			p->addr[p->naddr++] = p->a6[i6++];
		if (i4 < p->n4 && p->naddr < CBV_ADDRS_PER_HOST)
			p->addr[p->naddr++] = p->a4[i4++];
	}
	if (p->naddr == 0) {
		snprintf(p->lasterr, sizeof(p->lasterr), "%s: no address",
		    p->mx[p->imx].name);
		cbv_trace("%s", p->lasterr);
	}
	cbv_connect(p);
}

/* cbv_dns_store - keep the addresses of one family of one answer. */
static void
cbv_dns_store(struct cbv_probe *p, const struct resolver_result *r,
    int family)
{
	struct sockaddr_storage *dst = family == AF_INET ? p->a4 : p->a6;
	size_t *n = family == AF_INET ? &p->n4 : &p->n6;
	size_t i;

	if (r->status == RESOLVER_OK) {
		for (i = 0; i < r->n && *n < CBV_ADDRS_PER_HOST; i++)
			if (r->addr[i].ss_family == family)
				dst[(*n)++] = r->addr[i];
	} else if (r->status != RESOLVER_NODATA)
		cbv_trace("resolve %s %s: %s", p->mx[p->imx].name,
		    family == AF_INET ? "A" : "AAAA",
		    resolver_status_text(r->status));
	if (p->qa == NULL && p->qaaaa == NULL)
		cbv_addrs(p);
}

static void
cbv_dns_a_cb(const struct resolver_result *r, void *arg)
{
	struct cbv_probe *p = arg;

	p->qa = NULL;
	cbv_dns_store(p, r, AF_INET);
}

static void
cbv_dns_aaaa_cb(const struct resolver_result *r, void *arg)
{
	struct cbv_probe *p = arg;

	p->qaaaa = NULL;
	cbv_dns_store(p, r, AF_INET6);
}

/* cbv_host - look up the addresses of MX host p->imx (A and AAAA at
 * once); when no host is left, the probe ends. */
static void
cbv_host(struct cbv_probe *p)
{
	const char *name;

	for (; p->imx < p->nmx; p->imx++) {
		name = p->mx[p->imx].name;
		p->n4 = p->n6 = p->naddr = p->iaddr = 0;
		p->stage = CBV_ST_CONNECT;
		p->helo_sent = 0;
		p->qa = resolver_a(name, cbv_dns_a_cb, p);
		p->qaaaa = resolver_aaaa(name, cbv_dns_aaaa_cb, p);
		if (p->qa != NULL || p->qaaaa != NULL)
			return;
		snprintf(p->lasterr, sizeof(p->lasterr), "%s: cannot resolve",
		    name);
		cbv_trace("%s", p->lasterr);
	}
	cbv_noconnect(p);
}

/* cbv_ctimer_cb - this address did not connect in cbv_connect_timeout. */
static void
cbv_ctimer_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct cbv_probe *p = arg;

	snprintf(p->lasterr, sizeof(p->lasterr), "connect to %s %s: timeout",
	    p->mx[p->imx].name, p->peer);
	cbv_trace("%s", p->lasterr);
	bufferevent_free(p->bev);
	p->bev = NULL;
	p->iaddr++;
	cbv_connect(p);
}

/* cbv_smtp_start - a probe has its turn: resolve its first MX host. */
void
cbv_smtp_start(struct cbv_probe *p)
{
	p->ctimer = evtimer_new(p->base, cbv_ctimer_cb, p);
	if (p->ctimer == NULL) {
		log_crit("cbv: out of memory for a timer");
		exit(75);
	}
	p->imx = 0;
	cbv_host(p);
}

/* cbv_smtp_stop - the probe is over or aborted: no lookup, timer or
 * connection of it may call us again. With quit, a connection says QUIT
 * (detached, see cbv_hangup); without, it is simply closed. */
void
cbv_smtp_stop(struct cbv_probe *p, int quit)
{
	resolver_cancel(p->qa);
	resolver_cancel(p->qaaaa);
	p->qa = p->qaaaa = NULL;
	if (p->ctimer != NULL)
		event_free(p->ctimer);
	p->ctimer = NULL;
	cbv_hangup(p, quit);
}

/* cbv_smtp_timeout - cbv_timeout is over. Still connecting counts as "no
 * host accepted a connection" (the report's bad connects); the reply says
 * it was a timeout, as stats.h's STATS_REPLY_TIMEOUT expects. */
void
cbv_smtp_timeout(struct cbv_probe *p)
{
	if (p->stage == CBV_ST_CONNECT) {
		cbv_trace("timeout while connecting");
		if (p->have_saved) {
			cbv_noconnect(p);
			return;
		}
		if (p->imx < p->nmx)
			strlcpy_compat(p->result.mx_host,
			    p->mx[p->imx].name, sizeof(p->result.mx_host));
		strlcpy_compat(p->result.reply,
		    "timeout while connecting", sizeof(p->result.reply));
		cbv_done(p, CBV_NOCONNECT, CBV_ST_CONNECT, 0);
		return;
	}
	snprintf(p->result.reply, sizeof(p->result.reply), "timeout %s",
	    cbv_after(p));
	cbv_trace("%s", p->result.reply);
	cbv_done(p, CBV_TEMPFAIL, p->stage, 0);
}

/* cbv_smtp_closing - connections still waiting for their 221. */
size_t
cbv_smtp_closing(void)
{
	return cbv_nclosers;
}

/* cbv_smtp_shutdown - close them now. */
void
cbv_smtp_shutdown(void)
{
	while (!TAILQ_EMPTY(&cbv_closers))
		cbv_closer_free(TAILQ_FIRST(&cbv_closers));
}
