/* test_cbv.c - the CBV client: its reply parser as a pure function, and
 * whole probes against scripted MX servers that run on the same loop.
 *
 * The "net" cases need run_cbv_test.sh: a private network namespace with
 * dnsmasq on 127.0.0.1:53 for the names below, and port 25 free on
 * 127.0.0.x and ::1. Without CBV_TEST_NETNS in the environment only the
 * parser cases run.
 *
 *	mx1.test 127.0.0.11	mx2.test 127.0.0.12	dead.test 127.0.0.14
 *	mx46.test 127.0.0.15 ::1	slow.test 127.0.0.16	mx6.test ::1
 *	nohost.test: NXDOMAIN
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "cbv.h"
#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "xmalloc.h"

/* ---------------------------------------------------------------- parser */

struct parse_row {
	const char	*in;
	int		 want;
	int		 code;
	int		 len;		/* consumed; -1: all of in */
	const char	*text;
	int		 rfc3821;
	int		 nlines;
};

static const struct parse_row parse_rows[] = {
	{ "220 mx.example ESMTP\r\n", CBV_PARSE_OK, 220, -1,
	  "220 mx.example ESMTP", 0, 1 },
	{ "250-mx.example\r\n250-PIPELINING\r\n250 RFC3821 CBV\r\n",
	  CBV_PARSE_OK, 250, -1, "250 mx.example PIPELINING RFC3821 CBV", 1,
	  3 },
	{ "250-mx\r\n250-XRFC3821\r\n250 8BITMIME\r\n", CBV_PARSE_OK, 250, -1,
	  "250 mx XRFC3821 8BITMIME", 1, 3 },
	{ "250-mx\r\n250-rfc3821 helo-fqdn\r\n250 OK\r\n", CBV_PARSE_OK, 250,
	  -1, "250 mx rfc3821 helo-fqdn OK", 1, 3 },
	{ "250-mx\r\n250-RFC3821X\r\n250 SIZE\r\n", CBV_PARSE_OK, 250, -1,
	  "250 mx RFC3821X SIZE", 0, 3 },
	{ "220 mx ESMTP-RFC3821 ready\r\n", CBV_PARSE_OK, 220, -1,
	  "220 mx ESMTP-RFC3821 ready", 0, 1 },
	{ "250\r\n", CBV_PARSE_OK, 250, -1, "250", 0, 1 },
	{ "250 \r\n", CBV_PARSE_OK, 250, -1, "250", 0, 1 },
	{ "250-\r\n250 x\r\n", CBV_PARSE_OK, 250, -1, "250 x", 0, 2 },
	{ "250 ok\n", CBV_PARSE_OK, 250, -1, "250 ok", 0, 1 },
	{ "250-a\n250 b\r\n", CBV_PARSE_OK, 250, -1, "250 a b", 0, 2 },
	{ "550 5.1.1 no\r\n220 next\r\n", CBV_PARSE_OK, 550, 14,
	  "550 5.1.1 no", 0, 1 },
	{ "421-4.3.2 a\r\n421 4.3.2 b\r\n", CBV_PARSE_OK, 421, -1,
	  "421 4.3.2 a 4.3.2 b", 0, 2 },
	{ "250 a\tb\x01" "c\x80\r\n", CBV_PARSE_OK, 250, -1, "250 a?b?c?", 0,
	  1 },
	{ "250 a\rb\r\n", CBV_PARSE_OK, 250, -1, "250 a?b", 0, 1 },
	{ "", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "2", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "25", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "250 ok", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "250 ok\r", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "250-a\r\n", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "250-a\r\n250 b", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "250-a\r\n251 b\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "250-a\r\n550 b\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "250-a\r\n25", CBV_PARSE_MORE, 0, 0, "", 0, 0 },
	{ "250-a\r\nx", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "hello\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "h", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "2x0 ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "650 ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "150 ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "050 ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "25\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "250_ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "250ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ "\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
	{ " 250 ok\r\n", CBV_PARSE_GARBAGE, 0, 0, "", 0, 0 },
};

START_TEST(t_parse_table)
{
	const struct parse_row *row = &parse_rows[_i];
	struct cbv_reply r;
	size_t n = strlen(row->in);
	int st;

	st = cbv_reply_parse(row->in, n, &r);
	ck_assert_msg(st == row->want, "row %d \"%s\": got %d want %d", _i,
	    row->in, st, row->want);
	if (st != CBV_PARSE_OK)
		return;
	ck_assert_int_eq(r.code, row->code);
	ck_assert_uint_eq(r.len, row->len < 0 ? n : (size_t)row->len);
	ck_assert_str_eq(r.text, row->text);
	ck_assert_int_eq(r.rfc3821, row->rfc3821);
	ck_assert_uint_eq(r.nlines, (size_t)row->nlines);
}
END_TEST

/* Every complete reply, cut at every offset, is MORE until its end. */
START_TEST(t_parse_split)
{
	static const char *const good[] = {
		"250-mx.example\r\n250-PIPELINING\r\n250 RFC3821 CBV\r\n",
		"220 mx.example ESMTP\r\n",
		"250-a\n250-b\r\n250 c\n",
		"250\r\n",
	};
	const char *in = good[_i];
	size_t n = strlen(in), k;
	struct cbv_reply r;

	for (k = 0; k < n; k++)
		ck_assert_msg(cbv_reply_parse(in, k, &r) == CBV_PARSE_MORE,
		    "reply %d cut at %zu", _i, k);
	ck_assert_int_eq(cbv_reply_parse(in, n, &r), CBV_PARSE_OK);
	ck_assert_uint_eq(r.len, n);
}
END_TEST

/* Lengths: a 512-octet line passes, 513 does not, with or without its
 * LF yet; a 4 KiB reply does not; the kept text is cut. */
START_TEST(t_parse_sizes)
{
	struct {
		size_t	 xs;		/* 'x' octets after "250 " */
		int	 eol;		/* add CRLF */
		int	 want;
	} rows[] = {
		{ 506, 1, CBV_PARSE_OK },	/* 4 + 506 + 2 = 512 */
		{ 507, 1, CBV_PARSE_TOOLONG },	/* 513 */
		{ 508, 0, CBV_PARSE_MORE },	/* 512 so far */
		{ 509, 0, CBV_PARSE_TOOLONG },	/* 513 so far, no LF */
		{ 4000, 0, CBV_PARSE_TOOLONG },
	};
	char buf[CBV_REPLY_MAX + 600];
	struct cbv_reply r;
	size_t i, n, k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memcpy(buf, "250 ", 4);
		memset(buf + 4, 'x', rows[i].xs);
		n = 4 + rows[i].xs;
		if (rows[i].eol)
			memcpy(buf + n, "\r\n", 2), n += 2;
		ck_assert_msg(cbv_reply_parse(buf, n, &r) == rows[i].want,
		    "row %zu", i);
		if (rows[i].want == CBV_PARSE_OK)
			ck_assert_uint_eq(strlen(r.text), CBV_REPLY_TEXT_MAX);
	}
	/* 70 lines of 64 octets: every line fine, the reply too big, both
	 * when it is complete and when the buffer stops at CBV_REPLY_MAX. */
	for (n = 0, k = 0; k < 70; k++) {
		memcpy(buf + n, k == 69 ? "250 " : "250-", 4);
		memset(buf + n + 4, 'y', 58);
		memcpy(buf + n + 62, "\r\n", 2);
		n += 64;
	}
	ck_assert_int_eq(cbv_reply_parse(buf, n, &r), CBV_PARSE_TOOLONG);
	ck_assert_int_eq(cbv_reply_parse(buf, CBV_REPLY_MAX, &r),
	    CBV_PARSE_TOOLONG);
	ck_assert_int_eq(cbv_reply_parse(buf, CBV_REPLY_MAX - 64, &r),
	    CBV_PARSE_MORE);
}
END_TEST

START_TEST(t_names)
{
	int i;

	for (i = 0; i < CBV_ST_LAST; i++)
		ck_assert_str_ne(cbv_stage_name(i), "?");
	for (i = 0; i < CBV_OUTCOME_LAST; i++)
		ck_assert_str_ne(cbv_outcome_name(i), "?");
	ck_assert_str_eq(cbv_stage_name(CBV_ST_GREETING), "greeting");
	ck_assert_str_eq(cbv_outcome_name(CBV_REFUSED_MAIL), "refused-mail");
	ck_assert_str_eq(cbv_stage_name(CBV_ST_LAST), "?");
}
END_TEST

/* --------------------------------------------------- scripted MX servers */

/* What a server answers to each verb; NULL means the default. "HANG"
 * answers nothing, "DROP" closes, "BIGLINE"/"BIGREPLY" send oversized
 * replies, and each '|' in a reply is a 50 ms pause (a packet split). */
struct script {
	const char *greet, *noop, *ehlo, *helo, *mail, *rcpt;
};

struct srv {
	struct evconnlistener *l;
	struct script	 sc;
	int		 conns, cur, max;
	char		 log[16384];
};

struct sconn {
	LIST_ENTRY(sconn) link;
	struct srv	*s;
	struct bufferevent *bev;
	struct event	*t;
	const char	*out;		/* rest of a reply being dribbled */
	int		 active;	/* counted in s->cur until QUIT */
	int		 closing;
};

enum { SRV_MX1, SRV_MX2, SRV_MX46, SRV_V6, SRV_LAST };
static const char *const srv_addr[SRV_LAST] = {
	"127.0.0.11:25", "127.0.0.12:25", "127.0.0.15:25", "[::1]:25",
};

static struct event_base *base;
static struct conf *conf;
static char *resolvers[] = { "127.0.0.1" };
static struct srv srvs[SRV_LAST];
static LIST_HEAD(, sconn) sconns = LIST_HEAD_INITIALIZER(sconns);
static char bigline[700], bigreply[CBV_REPLY_MAX + 200];
static int ncalls, in_probe, reentered;
static char tracebuf[65536];

static void
srv_log(struct srv *s, const char *what)
{
	size_t n = strlen(s->log);

	snprintf(s->log + n, sizeof(s->log) - n, "%s%s", n ? ";" : "", what);
}

static void
sconn_free(struct sconn *c)
{
	if (c->active)
		c->s->cur--;
	LIST_REMOVE(c, link);
	bufferevent_free(c->bev);
	event_free(c->t);
	free(c);
}

static void
sconn_dribble(struct sconn *c)
{
	static const struct timeval pause = { 0, 50000 };
	const char *bar = strchr(c->out, '|');
	size_t n = bar ? (size_t)(bar - c->out) : strlen(c->out);

	bufferevent_write(c->bev, c->out, n);
	c->out = bar ? bar + 1 : NULL;
	if (c->out != NULL)
		evtimer_add(c->t, &pause);
}

static void
sconn_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct sconn *c = arg;

	(void)fd, (void)ev;
	if (c->out != NULL)
		sconn_dribble(c);
}

/* sconn_say - answer; 0 when the connection is gone. */
static int
sconn_say(struct sconn *c, const char *text)
{
	if (strcmp(text, "HANG") == 0)
		return 1;
	if (strcmp(text, "DROP") == 0) {
		sconn_free(c);
		return 0;
	}
	if (strcmp(text, "BIGLINE") == 0)
		text = bigline;
	else if (strcmp(text, "BIGREPLY") == 0)
		text = bigreply;
	c->out = text;
	sconn_dribble(c);
	return 1;
}

static void
sconn_read_cb(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;
	struct script *sc = &c->s->sc;
	const char *say;
	size_t n;
	char *line;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), &n,
	    EVBUFFER_EOL_CRLF)) != NULL) {
		srv_log(c->s, line);
		if (strncasecmp(line, "NOOP", 4) == 0)
			say = sc->noop;
		else if (strncasecmp(line, "EHLO", 4) == 0)
			say = sc->ehlo;
		else if (strncasecmp(line, "HELO", 4) == 0)
			say = sc->helo;
		else if (strncasecmp(line, "MAIL", 4) == 0)
			say = sc->mail;
		else if (strncasecmp(line, "RCPT", 4) == 0)
			say = sc->rcpt;
		else if (strncasecmp(line, "QUIT", 4) == 0) {
			say = "221 2.0.0 Bye\r\n";
			c->closing = 1;
			if (c->active)
				c->active = 0, c->s->cur--;
		} else
			say = "500 5.5.2 what?\r\n";
		free(line);
		if (!sconn_say(c, say))
			return;
	}
}

static void
sconn_write_cb(struct bufferevent *bev, void *arg)
{
	struct sconn *c = arg;

	if (c->closing && c->out == NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		sconn_free(c);
}

static void
sconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev, (void)what;
	sconn_free(arg);
}

static void
srv_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct srv *s = arg;
	struct sconn *c = xcalloc(1, sizeof(*c));

	(void)l, (void)sa, (void)salen;
	c->s = s;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->t = evtimer_new(base, sconn_timer_cb, c);
	ck_assert(c->bev != NULL && c->t != NULL);
	bufferevent_setcb(c->bev, sconn_read_cb, sconn_write_cb,
	    sconn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
	LIST_INSERT_HEAD(&sconns, c, link);
	c->active = 1;
	s->conns++;
	if (++s->cur > s->max)
		s->max = s->cur;
	srv_log(s, "CONNECT");
	sconn_say(c, s->sc.greet);
}

/* srv_start - a scripted server; 0 if its address cannot be bound. */
static int
srv_start(int i, const struct script *sc)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	struct srv *s = &srvs[i];

	ck_assert_int_eq(evutil_parse_sockaddr_port(srv_addr[i],
	    (struct sockaddr *)&ss, &sl), 0);
	memset(s, 0, sizeof(*s));
	if (sc != NULL)
		s->sc = *sc;
	s->sc.greet = s->sc.greet ? s->sc.greet : "220 mx.test ESMTP\r\n";
	s->sc.noop = s->sc.noop ? s->sc.noop : "250 2.0.0 Ok\r\n";
	s->sc.ehlo = s->sc.ehlo ? s->sc.ehlo :
	    "250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
	s->sc.helo = s->sc.helo ? s->sc.helo : "250 mx.test\r\n";
	s->sc.mail = s->sc.mail ? s->sc.mail : "250 2.1.0 Ok\r\n";
	s->sc.rcpt = s->sc.rcpt ? s->sc.rcpt : "250 2.1.5 Ok\r\n";
	s->l = evconnlistener_new_bind(base, srv_accept_cb, s,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 64,
	    (struct sockaddr *)&ss, sl);
	return s->l != NULL;
}

static void
trace_cb(const char *line, void *arg)
{
	size_t n = strlen(tracebuf);

	(void)arg;
	snprintf(tracebuf + n, sizeof(tracebuf) - n, "%s\n", line);
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev, (void)arg;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
srv_idle(void)
{
	int i;

	for (i = 0; i < SRV_LAST; i++)
		if (srvs[i].l != NULL && srvs[i].cur > 0)
			return 0;
	return 1;
}

/* run - the loop until want callbacks came and every server connection
 * is over, or for max seconds; with want < 0, just for max seconds. */
static void
run(int want, double max)
{
	struct timeval tv = { 0, 10000 };
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	double end = now() + max;

	event_add(tick, &tv);
	while (now() < end && (want < 0 || ncalls < want || !srv_idle()))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
}

/* run_until_log - the loop until server i has received what. */
static void
run_until_log(int i, const char *what, double max)
{
	double end = now() + max;

	while (now() < end && strstr(srvs[i].log, what) == NULL)
		run(-1, 0.01);
	ck_assert_ptr_nonnull(strstr(srvs[i].log, what));
}

static void
net_setup(void)
{
	size_t n, k;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, 0);
	memset(bigline, 'x', sizeof(bigline));
	memcpy(bigline, "250 ", 4);
	memcpy(bigline + 600, "\r\n", 3);
	for (n = 0, k = 0; n + 64 < sizeof(bigreply) - 16; k++, n += 64) {
		memcpy(bigreply + n, "250-", 4);
		memset(bigreply + n + 4, 'y', 58);
		memcpy(bigreply + n + 62, "\r\n", 2);
	}
	memcpy(bigreply + n, "250 end\r\n", 10);
	base = event_base_new();
	ck_assert(base != NULL);
	conf = xcalloc(1, sizeof(*conf));
	conf->hostname = "probe.test";
	conf->resolver = resolvers;
	conf->nresolver = 1;
	conf->cbv_timeout = 2;
	conf->cbv_connect_timeout = 1;
	conf->cbv_max_mx = 3;
	conf->cbv_noop = 1;
	conf->cbv_probe_sender = "";
	conf->cbv_max_concurrent = 50;
	conf->cbv_max_per_domain = 5;
	resolver_set_timeout(2);
	ck_assert_int_eq(resolver_init(base, conf), 0);
	ck_assert_int_eq(cbv_init(base, conf), 0);
	cbv_set_port(25);
	cbv_set_trace(trace_cb, NULL);
	ncalls = in_probe = reentered = 0;
	tracebuf[0] = '\0';
}

static void
net_teardown(void)
{
	struct sconn *c;
	int i;

	if (getenv("CBV_TEST_TRACE") != NULL)
		fputs(tracebuf, stderr);
	cbv_shutdown();
	resolver_shutdown();
	while ((c = LIST_FIRST(&sconns)) != NULL)
		sconn_free(c);
	for (i = 0; i < SRV_LAST; i++)
		if (srvs[i].l != NULL)
			evconnlistener_free(srvs[i].l);
	memset(srvs, 0, sizeof(srvs));
	event_base_free(base);
	free(conf);
}

/* A waiter's record of its callback. */
struct got {
	int		 called;
	struct cbv_result r;
	struct cbv_waiter *cancel;	/* cancel this one from the callback */
	int		 shutdown;	/* cbv_shutdown() from the callback */
	struct cbv_waiter *self;
};

static void
got_cb(const struct cbv_result *r, void *arg)
{
	struct got *g = arg;

	if (in_probe)
		reentered = 1;
	g->called++;
	g->r = *r;
	ncalls++;
	cbv_cancel(g->self);	/* harmless inside its own callback */
	if (g->cancel != NULL)
		cbv_cancel(g->cancel);
	if (g->shutdown)
		cbv_shutdown();
}

static struct cbv_waiter *
probe(const char *address, const struct resolver_mx *mx, size_t n,
    struct got *g)
{
	struct cbv_waiter *w;

	memset(g, 0, sizeof(*g));
	in_probe = 1;
	w = cbv_probe(address, mx, n, got_cb, g);
	in_probe = 0;
	ck_assert(w != NULL);
	return w;
}

static const struct resolver_mx mx1[] = { { 10, "mx1.test" } };

/* ------------------------------------------- one MX, one script per row */

#define Q "CONNECT;NOOP;EHLO probe.test;"
#define MAILQ "MAIL FROM:<>;"
#define RCPTQ "RCPT TO:<alice@example.test>"

struct dia_row {
	const char	*name;
	struct script	 sc;
	int		 nonoop;
	const char	*sender;	/* conf->cbv_probe_sender */
	enum cbv_outcome out;
	enum cbv_stage	 stage;
	const char	*reply;
	int		 rfc3821;
	const char	*log;		/* what the server received */
};

static const struct dia_row dia_rows[] = {
	{ "accept", { 0 }, 0, NULL, CBV_PASS, CBV_ST_RCPT, "250 2.1.5 Ok", 0,
	  Q MAILQ RCPTQ ";QUIT" },
	{ "greet 554", { .greet = "554 5.7.1 go away\r\n" }, 0, NULL,
	  CBV_REFUSED_EARLY, CBV_ST_GREETING, "554 5.7.1 go away", 0,
	  "CONNECT;QUIT" },
	{ "greet 421", { .greet = "421 4.3.2 busy\r\n" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_GREETING, "421 4.3.2 busy", 0,
	  "CONNECT;QUIT" },
	{ "noop 550", { .noop = "550 5.5.1 no\r\n" }, 0, NULL,
	  CBV_REFUSED_EARLY, CBV_ST_NOOP, "550 5.5.1 no", 0,
	  "CONNECT;NOOP;QUIT" },
	{ "noop 450", { .noop = "450 4.5.1 later\r\n" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_NOOP, "450 4.5.1 later", 0,
	  "CONNECT;NOOP;QUIT" },
	{ "ehlo+helo 5xx", { .ehlo = "502 5.5.1 no\r\n",
	  .helo = "550 5.7.1 no\r\n" }, 0, NULL, CBV_REFUSED_EARLY,
	  CBV_ST_HELO, "550 5.7.1 no", 0, Q "HELO probe.test;QUIT" },
	{ "ehlo 5xx helo ok", { .ehlo = "500 5.5.2 what\r\n" }, 0, NULL,
	  CBV_PASS, CBV_ST_RCPT, "250 2.1.5 Ok", 0,
	  Q "HELO probe.test;" MAILQ RCPTQ ";QUIT" },
	{ "ehlo 421", { .ehlo = "421 4.7.0 later\r\n" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_HELO, "421 4.7.0 later", 0, Q "QUIT" },
	{ "ehlo 5xx helo 4xx", { .ehlo = "502 5.5.1 no\r\n",
	  .helo = "451 4.3.0 later\r\n" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_HELO, "451 4.3.0 later", 0, Q "HELO probe.test;QUIT" },
	{ "mail 550", { .mail = "550 5.7.1 no bounces\r\n" }, 0, NULL,
	  CBV_REFUSED_MAIL, CBV_ST_MAIL, "550 5.7.1 no bounces", 0,
	  Q MAILQ "QUIT" },
	{ "mail 451", { .mail = "451 4.3.0 later\r\n" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_MAIL, "451 4.3.0 later", 0, Q MAILQ "QUIT" },
	{ "mail 354", { .mail = "354 go on\r\n" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_MAIL, "354 go on", 0, Q MAILQ "QUIT" },
	{ "rcpt 550", { .rcpt = "550 5.1.1 <alice@example.test>: Recipient "
	  "address rejected: User unknown\r\n" }, 0, NULL, CBV_FAIL,
	  CBV_ST_RCPT, "550 5.1.1 <alice@example.test>: Recipient address "
	  "rejected: User unknown", 0, Q MAILQ RCPTQ ";QUIT" },
	{ "rcpt 450", { .rcpt = "450 4.2.0 greylisted\r\n" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_RCPT, "450 4.2.0 greylisted", 0,
	  Q MAILQ RCPTQ ";QUIT" },
	{ "rcpt 550 multi-line", { .rcpt = "550-5.1.1 line one\r\n"
	  "550 5.1.1 line two\r\n" }, 0, NULL, CBV_FAIL, CBV_ST_RCPT,
	  "550 5.1.1 line one 5.1.1 line two", 0, Q MAILQ RCPTQ ";QUIT" },
	{ "greet hang", { .greet = "HANG" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_GREETING, "timeout waiting for greeting", 0, "CONNECT" },
	{ "ehlo hang", { .ehlo = "HANG" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_HELO, "timeout after EHLO", 0, "CONNECT;NOOP;EHLO probe.test" },
	{ "rcpt hang", { .rcpt = "HANG" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_RCPT, "timeout after RCPT TO", 0, Q MAILQ RCPTQ },
	{ "greet drop", { .greet = "DROP" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_GREETING, "connection lost waiting for greeting", 0,
	  "CONNECT" },
	{ "mail drop", { .mail = "DROP" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_MAIL, "connection lost after MAIL FROM", 0, Q "MAIL FROM:<>" },
	{ "ehlo garbage", { .ehlo = "hello there\r\n" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_HELO, "malformed reply after EHLO", 0,
	  "CONNECT;NOOP;EHLO probe.test" },
	{ "ehlo code mismatch", { .ehlo = "250-mx.test\r\n251 SIZE\r\n" }, 0,
	  NULL, CBV_TEMPFAIL, CBV_ST_HELO, "malformed reply after EHLO", 0,
	  "CONNECT;NOOP;EHLO probe.test" },
	{ "ehlo line too long", { .ehlo = "BIGLINE" }, 0, NULL, CBV_TEMPFAIL,
	  CBV_ST_HELO, "oversized reply after EHLO", 0,
	  "CONNECT;NOOP;EHLO probe.test" },
	{ "ehlo reply too long", { .ehlo = "BIGREPLY" }, 0, NULL,
	  CBV_TEMPFAIL, CBV_ST_HELO, "oversized reply after EHLO", 0,
	  "CONNECT;NOOP;EHLO probe.test" },
	{ "rfc3821", { .ehlo = "250-mx.test\r\n250-PIPELINING\r\n"
	  "250 RFC3821 HELO-FQDN CBV\r\n" }, 0, NULL, CBV_PASS, CBV_ST_RCPT,
	  "250 2.1.5 Ok", 1, Q MAILQ RCPTQ ";QUIT" },
	{ "xrfc3821", { .ehlo = "250-mx.test\r\n250-XRFC3821\r\n"
	  "250 SIZE 1000\r\n" }, 0, NULL, CBV_PASS, CBV_ST_RCPT,
	  "250 2.1.5 Ok", 1, Q MAILQ RCPTQ ";QUIT" },
	{ "split packets", { .greet = "22|0 mx.t|est ESMTP|\r|\n",
	  .ehlo = "250-mx|.test\r\n25|0-PIPE|LINING\r\n250 RFC|3821\r\n",
	  .rcpt = "250 2.1.5|| O|k\r|\n" }, 0, NULL, CBV_PASS, CBV_ST_RCPT,
	  "250 2.1.5 Ok", 1, Q MAILQ RCPTQ ";QUIT" },
	{ "bare LF", { .greet = "220 mx.test\n", .noop = "250 ok\n",
	  .ehlo = "250-mx.test\n250 RFC3821\n", .mail = "250 ok\n",
	  .rcpt = "250 ok\n" }, 0, NULL, CBV_PASS, CBV_ST_RCPT, "250 ok", 1,
	  Q MAILQ RCPTQ ";QUIT" },
	{ "no noop", { 0 }, 1, NULL, CBV_PASS, CBV_ST_RCPT, "250 2.1.5 Ok", 0,
	  "CONNECT;EHLO probe.test;" MAILQ RCPTQ ";QUIT" },
	{ "probe sender", { 0 }, 0, "postmaster@probe.test", CBV_PASS,
	  CBV_ST_RCPT, "250 2.1.5 Ok", 0,
	  Q "MAIL FROM:<postmaster@probe.test>;" RCPTQ ";QUIT" },
	{ "probe sender <>", { 0 }, 0, "<>", CBV_PASS, CBV_ST_RCPT,
	  "250 2.1.5 Ok", 0, Q MAILQ RCPTQ ";QUIT" },
};

START_TEST(t_dialogue)
{
	const struct dia_row *row = &dia_rows[_i];
	struct got g;
	double t0 = now();

	conf->cbv_noop = !row->nonoop;
	if (row->sender != NULL)
		conf->cbv_probe_sender = (char *)row->sender;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, &row->sc));
	probe("alice@example.test", mx1, 1, &g);
	ck_assert_int_eq(g.called, 0);
	run(1, 10);
	ck_assert_msg(g.called == 1, "%s: called %d", row->name, g.called);
	ck_assert_msg(g.r.outcome == row->out, "%s: outcome %s", row->name,
	    cbv_outcome_name(g.r.outcome));
	ck_assert_msg(g.r.stage == row->stage, "%s: stage %s", row->name,
	    cbv_stage_name(g.r.stage));
	ck_assert_msg(strcmp(g.r.reply, row->reply) == 0, "%s: reply \"%s\"",
	    row->name, g.r.reply);
	ck_assert_int_eq(g.r.rfc3821, row->rfc3821);
	ck_assert_str_eq(g.r.mx_host, "mx1.test");
	ck_assert_msg(strcmp(srvs[SRV_MX1].log, row->log) == 0,
	    "%s: server got \"%s\"", row->name, srvs[SRV_MX1].log);
	ck_assert_int_eq(srvs[SRV_MX1].conns, 1);
	ck_assert(g.r.duration >= 0 && g.r.duration < now() - t0 + 0.01);
	/* Hangs end within cbv_timeout (2 s), counted from submission. */
	if (strncmp(row->reply, "timeout", 7) == 0)
		ck_assert(g.r.duration > 1.9 && g.r.duration < 2.6);
	ck_assert_int_eq(reentered, 0);
}
END_TEST

/* ------------------------------------------------------ MX host choice */

START_TEST(t_first_mx_refuses)
{
	static const struct resolver_mx mx[] = {
		{ 20, "mx1.test" }, { 10, "dead.test" },
	};
	struct got g;
	int i;

	ck_assert(srv_start(SRV_MX1, NULL));
	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	/* The 221 comes after the verdict; then nothing is left. */
	for (i = 0; i < 100 && cbv_pending() > 0; i++)
		run(-1, 0.01);
	ck_assert_uint_eq(cbv_pending(), 0);
	ck_assert_int_eq(g.r.outcome, CBV_PASS);
	ck_assert_str_eq(g.r.mx_host, "mx1.test");
	ck_assert_ptr_nonnull(strstr(tracebuf,
	    "connect dead.test [127.0.0.14]:25\nconnect to dead.test "
	    "[127.0.0.14]:25: Connection refused\nconnect mx1.test "
	    "[127.0.0.11]:25\nconnected\n<- 220 mx.test ESMTP\n-> NOOP\n"));
	ck_assert_ptr_nonnull(strstr(tracebuf, "-> EHLO probe.test\n"
	    "<- 250-mx.test\n<- 250-PIPELINING\n<- 250 8BITMIME\n"
	    "-> MAIL FROM:<>\n"));
	ck_assert_ptr_nonnull(strstr(tracebuf, "-> QUIT\n<- 221 2.0.0 Bye\n"));
}
END_TEST

/* RFC 5321 §5.1: 4xx at the greeting sends us to the next host. */
START_TEST(t_greet_tempfail_next)
{
	static const struct resolver_mx mx[] = {
		{ 10, "mx1.test" }, { 20, "mx2.test" },
	};
	struct script busy = { .greet = "421 4.3.2 busy\r\n" };
	struct got g;

	ck_assert(srv_start(SRV_MX1, &busy));
	ck_assert(srv_start(SRV_MX2, NULL));
	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_PASS);
	ck_assert_str_eq(g.r.mx_host, "mx2.test");
	ck_assert_str_eq(srvs[SRV_MX1].log, "CONNECT;QUIT");
	ck_assert_str_eq(srvs[SRV_MX2].log, Q MAILQ RCPTQ ";QUIT");
}
END_TEST

/* ... and when no later host connects, that 4xx is the verdict. */
START_TEST(t_greet_tempfail_last)
{
	static const struct resolver_mx mx[] = {
		{ 10, "mx1.test" }, { 20, "dead.test" },
	};
	struct script busy = { .greet = "421 4.3.2 busy\r\n" };
	struct got g;

	ck_assert(srv_start(SRV_MX1, &busy));
	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_TEMPFAIL);
	ck_assert_int_eq(g.r.stage, CBV_ST_GREETING);
	ck_assert_str_eq(g.r.reply, "421 4.3.2 busy");
	ck_assert_str_eq(g.r.mx_host, "mx1.test");
}
END_TEST

/* A 5xx greeting decides: the next host is not asked. */
START_TEST(t_greet_refused_stops)
{
	static const struct resolver_mx mx[] = {
		{ 10, "mx1.test" }, { 20, "mx2.test" },
	};
	struct script no = { .greet = "554 5.7.1 no\r\n" };
	struct got g;

	ck_assert(srv_start(SRV_MX1, &no));
	ck_assert(srv_start(SRV_MX2, NULL));
	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_REFUSED_EARLY);
	ck_assert_int_eq(srvs[SRV_MX2].conns, 0);
}
END_TEST

START_TEST(t_noconnect)
{
	static const struct resolver_mx mx[] = {
		{ 10, "nohost.test" }, { 20, "dead.test" },
	};
	struct got g;

	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_NOCONNECT);
	ck_assert_int_eq(g.r.stage, CBV_ST_CONNECT);
	ck_assert_str_eq(g.r.reply, "connect to dead.test [127.0.0.14]:25: "
	    "Connection refused");
	ck_assert_ptr_nonnull(strstr(tracebuf, "resolve nohost.test A: "));
}
END_TEST

/* No MX host at all, and a bad address: decided at once, yet the
 * callback still comes from the loop, never from inside cbv_probe(). */
START_TEST(t_immediate)
{
	struct got g1, g2;

	probe("alice@example.test", NULL, 0, &g1);
	probe("a\r\nRSET@example.test", mx1, 1, &g2);
	ck_assert_int_eq(g1.called + g2.called, 0);
	run(2, 5);
	ck_assert_int_eq(g1.r.outcome, CBV_NOCONNECT);
	ck_assert_str_eq(g1.r.reply, "no MX host to try");
	ck_assert_int_eq(g2.r.outcome, CBV_UNVERIFIABLE);
	ck_assert_str_eq(g2.r.reply, "address unfit for RCPT TO");
	ck_assert_int_eq(reentered, 0);
}
END_TEST

START_TEST(t_pref_order)
{
	static const struct resolver_mx mx[] = {
		{ 10, "mx1.test" }, { 5, "mx2.test" },
	};
	struct got g;

	ck_assert(srv_start(SRV_MX1, NULL));
	ck_assert(srv_start(SRV_MX2, NULL));
	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	ck_assert_str_eq(g.r.mx_host, "mx2.test");
	ck_assert_int_eq(srvs[SRV_MX1].conns, 0);
}
END_TEST

/* Equal preferences are shuffled: 16 probes use both hosts (a false
 * failure has odds of 2^-15). */
START_TEST(t_shuffle)
{
	static const struct resolver_mx mx[] = {
		{ 10, "mx1.test" }, { 10, "mx2.test" },
	};
	struct got g[16];
	char a[64];
	int i;

	ck_assert(srv_start(SRV_MX1, NULL));
	ck_assert(srv_start(SRV_MX2, NULL));
	for (i = 0; i < 16; i++) {
		snprintf(a, sizeof(a), "u%d@example.test", i);
		probe(a, mx, 2, &g[i]);
	}
	run(16, 20);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(g[i].r.outcome, CBV_PASS);
	ck_assert_int_gt(srvs[SRV_MX1].conns, 0);
	ck_assert_int_gt(srvs[SRV_MX2].conns, 0);
	ck_assert_int_eq(srvs[SRV_MX1].conns + srvs[SRV_MX2].conns, 16);
}
END_TEST

START_TEST(t_max_mx)
{
	static const struct resolver_mx mx[] = {
		{ 10, "dead.test" }, { 20, "nohost.test" }, { 30, "mx1.test" },
	};
	struct got g;

	conf->cbv_max_mx = 2;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, NULL));
	probe("alice@example.test", mx, 3, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_NOCONNECT);
	ck_assert_int_eq(srvs[SRV_MX1].conns, 0);
}
END_TEST

/* IPv6 first, then IPv4 (mx46.test has both, nobody on [::1]:25). */
START_TEST(t_v6_then_v4)
{
	static const struct resolver_mx mx[] = { { 10, "mx46.test" } };
	struct got g;

	ck_assert(srv_start(SRV_MX46, NULL));
	probe("alice@example.test", mx, 1, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_PASS);
	ck_assert_ptr_nonnull(strstr(tracebuf, "connect mx46.test [::1]:25\n"
	    "connect to mx46.test [::1]:25: Connection refused\n"
	    "connect mx46.test [127.0.0.15]:25\nconnected\n"));
}
END_TEST

START_TEST(t_ipv6)
{
	static const struct resolver_mx mx[] = { { 10, "mx6.test" } };
	struct got g;

	ck_assert(srv_start(SRV_V6, NULL));
	probe("alice@example.test", mx, 1, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_PASS);
	ck_assert_str_eq(srvs[SRV_V6].log, Q MAILQ RCPTQ ";QUIT");
}
END_TEST

/* A host that never answers the SYN (a full accept queue drops it) costs
 * cbv_connect_timeout, then the next host is tried. */
START_TEST(t_connect_timeout)
{
	static const struct resolver_mx mx[] = {
		{ 10, "slow.test" }, { 20, "mx1.test" },
	};
	struct sockaddr_in sin;
	int l, fill[4], i;
	struct got g;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(25);
	inet_pton(AF_INET, "127.0.0.16", &sin.sin_addr);
	l = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert(l >= 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, 0), 0);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(200000);
	ck_assert(srv_start(SRV_MX1, NULL));
	probe("alice@example.test", mx, 2, &g);
	run(1, 10);
	ck_assert_int_eq(g.r.outcome, CBV_PASS);
	ck_assert_str_eq(g.r.mx_host, "mx1.test");
	ck_assert_ptr_nonnull(strstr(tracebuf,
	    "connect to slow.test [127.0.0.16]:25: timeout\n"));
	ck_assert(g.r.duration >= 0.9 && g.r.duration < 2);
	for (i = 0; i < 4; i++)
		close(fill[i]);
	close(l);
}
END_TEST

/* ------------------------------------------ sharing, limits, cancelling */

START_TEST(t_coalesce)
{
	static const char *const as[] = {
		"bob@example.test", "bob@EXAMPLE.test", "bob@Example.Test",
	};
	struct got g[11];
	int i;

	ck_assert(srv_start(SRV_MX1, NULL));
	for (i = 0; i < 10; i++)
		probe(as[i % 3], mx1, 1, &g[i]);
	/* The local part is compared exactly: another probe. */
	probe("Bob@example.test", mx1, 1, &g[10]);
	run(11, 10);
	for (i = 0; i < 11; i++) {
		ck_assert_int_eq(g[i].called, 1);
		ck_assert_int_eq(g[i].r.outcome, CBV_PASS);
	}
	ck_assert_int_eq(srvs[SRV_MX1].conns, 2);
	ck_assert_ptr_nonnull(strstr(srvs[SRV_MX1].log,
	    "RCPT TO:<bob@example.test>"));
	ck_assert_ptr_nonnull(strstr(srvs[SRV_MX1].log,
	    "RCPT TO:<Bob@example.test>"));
}
END_TEST

START_TEST(t_per_domain)
{
	struct script slow = { .rcpt = "||||250 2.1.5 Ok\r\n" };
	struct got g[7];
	char a[64];
	int i;

	conf->cbv_max_per_domain = 2;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, &slow));
	ck_assert(srv_start(SRV_MX2, &slow));
	for (i = 0; i < 6; i++) {
		snprintf(a, sizeof(a), "u%d@Example.test", i);
		probe(a, mx1, 1, &g[i]);
	}
	/* Another domain is not held up behind the first one's queue. */
	probe("carol@other.test", (const struct resolver_mx[]){
	    { 10, "mx2.test" } }, 1, &g[6]);
	run(7, 15);
	for (i = 0; i < 7; i++)
		ck_assert_int_eq(g[i].r.outcome, CBV_PASS);
	ck_assert_int_eq(srvs[SRV_MX1].conns, 6);
	ck_assert_int_eq(srvs[SRV_MX1].max, 2);
	ck_assert(g[6].r.duration < g[5].r.duration);
}
END_TEST

START_TEST(t_max_concurrent)
{
	struct script slow = { .rcpt = "||||250 2.1.5 Ok\r\n" };
	struct got g[7];
	char a[64];
	int i;

	conf->cbv_max_concurrent = 3;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, &slow));
	for (i = 0; i < 7; i++) {
		snprintf(a, sizeof(a), "u@d%d.test", i);
		probe(a, mx1, 1, &g[i]);
	}
	run(7, 15);
	for (i = 0; i < 7; i++)
		ck_assert_int_eq(g[i].r.outcome, CBV_PASS);
	ck_assert_int_eq(srvs[SRV_MX1].conns, 7);
	ck_assert_int_eq(srvs[SRV_MX1].max, 3);
}
END_TEST

/* The budget starts at submission: a probe queued behind a hang ends. */
START_TEST(t_queue_timeout)
{
	struct script hang = { .greet = "HANG" };
	struct got g1, g2;

	conf->cbv_max_concurrent = 1;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, &hang));
	conf->cbv_timeout = 3;
	cbv_reconfigure(conf);
	probe("a@example.test", mx1, 1, &g1);
	/* A shorter budget, so b's runs out while a still hangs. */
	conf->cbv_timeout = 1;
	cbv_reconfigure(conf);
	probe("b@example.test", mx1, 1, &g2);
	run(2, 10);
	ck_assert_int_eq(g1.r.outcome, CBV_TEMPFAIL);
	ck_assert_str_eq(g1.r.reply, "timeout waiting for greeting");
	ck_assert_int_eq(g2.r.outcome, CBV_TEMPFAIL);
	ck_assert_int_eq(g2.r.stage, CBV_ST_CONNECT);
	ck_assert_str_eq(g2.r.reply, "timeout in queue");
	ck_assert(g2.r.duration > 0.9 && g2.r.duration < 1.5);
	ck_assert(g1.r.duration > 2.9 && g1.r.duration < 3.5);
	ck_assert_int_eq(srvs[SRV_MX1].conns, 1);
}
END_TEST

/* Cancelled waiters are never called; the others are, once each, even
 * when a callback cancels a later waiter or itself (ASan watches). */
START_TEST(t_cancel_one)
{
	struct script slow = { .rcpt = "||||||||250 2.1.5 Ok\r\n" };
	struct cbv_waiter *w[5];
	struct got g[5];
	int i;

	ck_assert(srv_start(SRV_MX1, &slow));
	for (i = 0; i < 5; i++)
		w[i] = probe("bob@example.test", mx1, 1, &g[i]);
	g[0].self = w[0];
	g[0].cancel = w[3];
	cbv_cancel(w[1]);
	run(-1, 0.15);		/* mid-dialogue: RCPT waits 400 ms */
	ck_assert_int_eq(ncalls, 0);
	cbv_cancel(w[2]);
	run(2, 10);
	run(-1, 0.2);
	ck_assert_int_eq(g[0].called, 1);
	ck_assert_int_eq(g[1].called, 0);
	ck_assert_int_eq(g[2].called, 0);
	ck_assert_int_eq(g[3].called, 0);
	ck_assert_int_eq(g[4].called, 1);
	ck_assert_int_eq(g[4].r.outcome, CBV_PASS);
	ck_assert_int_eq(srvs[SRV_MX1].conns, 1);
}
END_TEST

/* The last waiter gone: the probe is aborted (QUIT), nobody is called,
 * and the queue moves on. */
START_TEST(t_cancel_all)
{
	struct script slow = { .rcpt = "||||||250 2.1.5 Ok\r\n" };
	struct cbv_waiter *w1, *w2, *w3;
	struct got g1, g2, g3;
	const char *q;

	conf->cbv_max_concurrent = 1;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, &slow));
	w1 = probe("a@example.test", mx1, 1, &g1);
	w2 = probe("a@example.test", mx1, 1, &g2);
	w3 = probe("b@example.test", mx1, 1, &g3);
	(void)w3;
	run_until_log(SRV_MX1, "RCPT TO:<a@example.test>", 5);
	cbv_cancel(w1);
	cbv_cancel(w2);
	run(1, 10);
	ck_assert_int_eq(g1.called + g2.called, 0);
	ck_assert_int_eq(g3.called, 1);
	ck_assert_int_eq(g3.r.outcome, CBV_PASS);
	/* a's connection got its QUIT too (Nagle may hold it back until
	 * b's connection is already up, so only count them). */
	q = strstr(srvs[SRV_MX1].log, "RCPT TO:<a@example.test>");
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_nonnull(q = strstr(q, ";QUIT"));
	ck_assert_ptr_nonnull(strstr(q + 1, ";QUIT"));
	ck_assert_int_eq(srvs[SRV_MX1].conns, 2);
	ck_assert_ptr_nonnull(strstr(tracebuf, "abort: nobody waits"));
}
END_TEST

/* cbv_shutdown() with probes queued, running and closing: no callback,
 * nothing leaks; and from inside a callback, the rest are not called. */
START_TEST(t_shutdown)
{
	struct script hang = { .rcpt = "HANG" };
	struct got g[4];

	conf->cbv_max_concurrent = 1;
	cbv_reconfigure(conf);
	ck_assert(srv_start(SRV_MX1, &hang));
	probe("a@example.test", mx1, 1, &g[0]);
	probe("b@example.test", mx1, 1, &g[1]);
	run(-1, 0.3);
	ck_assert_uint_eq(cbv_pending(), 2);
	cbv_shutdown();
	ck_assert_uint_eq(cbv_pending(), 0);
	run(-1, 0.3);
	ck_assert_int_eq(g[0].called + g[1].called, 0);
	ck_assert_ptr_null(cbv_probe("c@example.test", mx1, 1, got_cb, &g[2]));

	ck_assert_int_eq(cbv_init(base, conf), 0);
	srvs[SRV_MX1].sc.rcpt = "250 ok\r\n";
	probe("d@example.test", mx1, 1, &g[2]);
	probe("d@example.test", mx1, 1, &g[3]);
	g[2].shutdown = 1;
	run(1, 10);
	ck_assert_int_eq(g[2].called, 1);
	ck_assert_int_eq(g[3].called, 0);
}
END_TEST

static Suite *
cbv_suite(int net)
{
	Suite *s = suite_create("cbv");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, t_parse_table, 0,
	    sizeof(parse_rows) / sizeof(parse_rows[0]));
	tcase_add_loop_test(tc, t_parse_split, 0, 4);
	tcase_add_test(tc, t_parse_sizes);
	tcase_add_test(tc, t_names);
	suite_add_tcase(s, tc);
	if (!net)
		return s;
	tc = tcase_create("net");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, net_setup, net_teardown);
	tcase_add_loop_test(tc, t_dialogue, 0,
	    sizeof(dia_rows) / sizeof(dia_rows[0]));
	tcase_add_test(tc, t_first_mx_refuses);
	tcase_add_test(tc, t_greet_tempfail_next);
	tcase_add_test(tc, t_greet_tempfail_last);
	tcase_add_test(tc, t_greet_refused_stops);
	tcase_add_test(tc, t_noconnect);
	tcase_add_test(tc, t_immediate);
	tcase_add_test(tc, t_pref_order);
	tcase_add_test(tc, t_shuffle);
	tcase_add_test(tc, t_max_mx);
	tcase_add_test(tc, t_v6_then_v4);
	tcase_add_test(tc, t_ipv6);
	tcase_add_test(tc, t_connect_timeout);
	tcase_add_test(tc, t_coalesce);
	tcase_add_test(tc, t_per_domain);
	tcase_add_test(tc, t_max_concurrent);
	tcase_add_test(tc, t_queue_timeout);
	tcase_add_test(tc, t_cancel_one);
	tcase_add_test(tc, t_cancel_all);
	tcase_add_test(tc, t_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int net = getenv("CBV_TEST_NETNS") != NULL, failed;
	SRunner *sr = srunner_create(cbv_suite(net));

	if (!net)
		fprintf(stderr, "test_cbv: CBV_TEST_NETNS not set, only the "
		    "parser cases run (use run_cbv_test.sh)\n");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
