/* session.c - the life of one SMTP session: greeting, reading lines in
 * order, parking while a lookup runs, replying, timeouts and teardown.
 *
 *	session_new - accept one connection (NULL: refuse it, the server lives)
 *	session_free - cancel everything the session owns, record it, free it
 *	session_reply - append one reply line (or lines) in order
 *	session_park, session_resume - stop and restart command processing
 *	session_close - reply already queued; close when the output drained
 *	session_shutdown - SIGTERM: 421 now, or after the DATA in progress
 *	session_set_state - the one place the state changes
 *	session_set_helo - remember the HELO/EHLO name (a copy sized to fit)
 *	session_tx_free - drop the current transaction whole
 *	session_log_refusal - the key=value line for every 4xx/5xx policy reply
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "session.h"
#include "server.h"
#include "command.h"
#include "transfer.h"
#include "conf.h"
#include "cidr.h"
#include "fcrdns.h"
#include "msgauth.h"
#include "maildir.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

/* Pipelined input waiting while we are parked stops being read here, so a
 * client cannot make us buffer without bound (RFC 2920 §3.1 lets us). */
#define SESSION_READ_HIGH	(64 * 1024)

/* A client that sends commands but does not read the replies is not read
 * from while more than SESSION_WRITE_HIGH of replies wait, until they are
 * down to SESSION_WRITE_LOW: memory per session stays bounded. */
#define SESSION_WRITE_HIGH	(64 * 1024)
#define SESSION_WRITE_LOW	(16 * 1024)

/* Under STARTTLS the filter encrypts our replies into the plain
 * bufferevent below it, which would otherwise take them all: the filter
 * stops once that holds this much (libevent honours the underlying write
 * high watermark), and the bound above counts both (session_unsent). */
#define SESSION_TLS_UNDER_HIGH	SESSION_WRITE_LOW

/* The longest the greeting waits for the client's PTR name. */
#define SESSION_PTR_WAIT	2

/* A client that does not read our last reply is dropped after this. */
#define SESSION_LINGER		10

static const char *const session_state_name[SESSION_ST_LAST] = {
	[SESSION_ST_GREET] = "greet",
	[SESSION_ST_INIT] = "init",
	[SESSION_ST_HELO] = "helo",
	[SESSION_ST_MAIL] = "mail",
	[SESSION_ST_RCPT] = "rcpt",
	[SESSION_ST_DATA] = "data",
};

static void session_read_cb(struct bufferevent *, void *);
static void session_write_cb(struct bufferevent *, void *);
static void session_event_cb(struct bufferevent *, short, void *);
static void session_timer_cb(evutil_socket_t, short, void *);
static void session_ptr_cb(enum fcrdns_status, const char *, void *);
static void session_greet(struct session *);
static void session_process(struct session *);

/* The helo and ptr of a session without one; never freed. */
static const char session_noname[] = "";

/* session_set_name - *slot becomes a copy of the len bytes at name (""
 * when len is 0), the old copy freed. */
static void
session_set_name(const char **slot, const char *name, size_t len)
{
	if (*slot != session_noname)
		free((char *)(uintptr_t)*slot);
	*slot = len > 0 ? xstrndup(name, len) : session_noname;
}

/* session_set_helo - the HELO/EHLO argument, len bytes at name (the
 * caller bounds len by SMTP_DOMAIN_MAX); 0 forgets it. */
void
session_set_helo(struct session *s, const char *name, size_t len)
{
	session_set_name(&s->helo, name, len);
}

static void
session_arm(struct session *s, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	evtimer_add(s->timer, &tv);
}

static void
session_setup_bev(struct session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_READ_HIGH);
	bufferevent_setwatermark(s->bev, EV_WRITE, SESSION_WRITE_LOW, 0);
	bufferevent_enable(s->bev, EV_WRITE);
}

/* session_starttls - RFC 3207 §4.2: answer 220, then the session starts
 * over, forgetting HELO and everything learnt before TLS. The 220 goes out
 * in the clear from the plain output; the dispatcher refused any input sent
 * after STARTTLS before that reply, so no plaintext can be smuggled into
 * the TLS session (CVE-2011-0411). Returns -1, with nothing sent, when no
 * TLS connection could be made (the caller answers 454). */
int
session_starttls(struct session *s)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = tls_ssl_new(s->rc->tls)) == NULL)
		return -1;
	session_reply(s, "220 2.0.0 Ready to start TLS");
	if ((bev = tls_wrap(s->server->base, s->bev, ssl)) == NULL) {
		/* Too late for 454: the client heard 220. */
		session_close(s, "tls-error");
		return 0;
	}
	s->bev = bev;
	session_setup_bev(s);
	bufferevent_setwatermark(bufferevent_get_underlying(bev), EV_WRITE, 0,
	    SESSION_TLS_UNDER_HIGH);
	bufferevent_enable(s->bev, EV_READ);
	s->tls = 1;
	s->rec.tls = 1;
	s->esmtp = 0;
	session_set_helo(s, "", 0);
	s->helo_refused = 0;
	free(s->helo_reply);
	s->helo_reply = NULL;
	session_tx_free(s);
	session_set_state(s, SESSION_ST_INIT);
	return 0;
}

/* session_new - set up a session for an accepted socket. Allocation here
 * must not exit the daemon: on failure (NULL, the socket still open and
 * the caller's) the one client is refused. */
struct session *
session_new(struct server *srv, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	static unsigned seq;
	const struct conf *conf = srv->rc->conf;
	struct sockaddr_storage unmapped;
	struct session *s;
	socklen_t len;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->server = srv;
	s->helo = session_noname;
	s->ptr = session_noname;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	len = sizeof(s->local);
	if (getsockname(fd, (struct sockaddr *)&s->local, &len) == -1)
		memset(&s->local, 0, sizeof(s->local));
	cidr_sockaddr_unmap(sa, &unmapped);
	if (unmapped.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&unmapped)->sin6_addr,
		    s->peer_ip, sizeof(s->peer_ip));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&unmapped)->sin_addr,
		    s->peer_ip, sizeof(s->peer_ip));
	snprintf(s->id, sizeof(s->id), "%08llX%04X",
	    (unsigned long long)time(NULL) & 0xffffffffULL, ++seq & 0xffff);

	/* On failure the socket stays open: the caller refuses the client
	 * on it. The bufferevent comes last, since it owns the socket. */
	if ((s->timer = evtimer_new(srv->base, session_timer_cb, s)) == NULL) {
		free(s);
		return NULL;
	}
	s->bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (s->bev == NULL) {
		event_free(s->timer);
		free(s);
		return NULL;
	}
	s->rc = runconf_ref(srv->rc);
	session_setup_bev(s);

	strlcpy_compat(s->rec.helo_verdict, "none", sizeof(s->rec.helo_verdict));
	s->rec.start = clock_wall();
	log_info("session=%s connect client=%s", s->id, s->peer_ip);

	/* The greeting waits for the PTR name (as Postfix smtpd does) so that
	 * it can go into the Received header and the session record, but not
	 * for long: a broken DNS server must not hold every greeting. With a
	 * greet_delay the greeting comes when it ends, and early talk is an
	 * offence; without one, input is simply held until the greeting. */
	s->state = SESSION_ST_GREET;
	s->wait = SESSION_WAIT_GREET;
	s->fcrdns = fcrdns_start((struct sockaddr *)&s->peer, session_ptr_cb, s);
	s->ptr_status = s->fcrdns != NULL ? SESSION_PTR_PENDING :
	    FCRDNS_TEMPFAIL;
	bufferevent_enable(s->bev, EV_READ);
	if (conf->greet_delay > 0) {
		session_arm(s, conf->greet_delay);
	} else if (s->fcrdns != NULL)
		session_arm(s, SESSION_PTR_WAIT);
	else
		session_greet(s);
	return s;
}

static void
session_greet(struct session *s)
{
	const struct conf *conf = s->rc->conf;

	s->state = SESSION_ST_INIT;
	session_reply(s, "220 %s %s strictmx ready", conf->hostname,
	    conf->advertise_rfc3821 ? "ESMTP-RFC3821" : "ESMTP");
	s->wait = SESSION_WAIT_NONE;
	session_resume(s);
}

/* session_ptr_cb - the confirmed PTR name; it may arrive after the
 * greeting, and then serves from the next message on. */
static void
session_ptr_cb(enum fcrdns_status status, const char *name, void *arg)
{
	struct session *s = arg;

	s->fcrdns = NULL;
	s->ptr_status = (int)status;
	if (status == FCRDNS_OK)
		session_set_name(&s->ptr, name, strnlen(name, SMTP_DOMAIN_MAX));
	if (s->state == SESSION_ST_GREET && s->rc->conf->greet_delay == 0 &&
	    !s->hangup)
		session_greet(s);
}

/* session_tx_free - forget the transaction: its recipients, its pending
 * sender check, and an unfinished maildir file (removed, never delivered). */
void
session_tx_free(struct session *s)
{
	struct transaction *tx = s->tx;

	if (tx == NULL)
		return;
	if (s->sender_check != NULL) {
		sender_check_cancel(s->sender_check);
		s->sender_check = NULL;
	}
	if (s->spf_check != NULL) {
		spf_check_cancel(s->spf_check);
		s->spf_check = NULL;
	}
	msgauth_free(tx->auth);
	free(tx->auth_res);
	if (tx->msg != NULL) {
		if (s->wait == SESSION_WAIT_COMMIT)
			maildir_detach(tx->msg);
		else
			maildir_abort(tx->msg);
	}
	for (size_t i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i].maildir);
	free(tx->rcpts);
	free(tx->pending.maildir);
	free(tx);
	s->tx = NULL;
}

/* session_stats_rec - the stats record of s: its counters and verdicts
 * with its id, client address and names. */
static void
session_stats_rec(const struct session *s, struct stats_session *r)
{
	memset(r, 0, sizeof(*r));
	strlcpy_compat(r->id, s->id, sizeof(r->id));
	r->start = s->rec.start;
	r->end = s->rec.end;
	strlcpy_compat(r->client_ip, s->peer_ip, sizeof(r->client_ip));
	strlcpy_compat(r->ptr, s->ptr, sizeof(r->ptr));
	strlcpy_compat(r->helo, s->helo, sizeof(r->helo));
	strlcpy_compat(r->helo_verdict, s->rec.helo_verdict,
	    sizeof(r->helo_verdict));
	r->tls = s->rec.tls;
	r->messages = s->rec.messages;
	r->rcpt_accepted = s->rec.rcpt_accepted;
	r->rcpt_refused = s->rec.rcpt_refused;
	r->bytes = s->rec.bytes;
	strlcpy_compat(r->ended, s->rec.ended, sizeof(r->ended));
}

/* session_free - the only place a session dies. Every asynchronous
 * operation is cancelled first, so no callback can reach freed memory. */
void
session_free(struct session *s)
{
	char helo[LOG_PRINTABLE_SIZE];
	struct stats_session rec;

	if (s == NULL)
		return;
	if (s->helo_check != NULL)
		helo_check_cancel(s->helo_check);
	if (s->fcrdns != NULL)
		fcrdns_cancel(s->fcrdns);
	if (s->tx != NULL && s->state == SESSION_ST_DATA && s->wait !=
	    SESSION_WAIT_COMMIT && s->rec.ended[0] == '\0')
		strlcpy_compat(s->rec.ended, "disconnect-in-data",
		    sizeof(s->rec.ended));
	session_tx_free(s);
	event_free(s->timer);
	bufferevent_free(s->bev);

	if (s->rec.ended[0] == '\0')
		strlcpy_compat(s->rec.ended, "disconnect", sizeof(s->rec.ended));
	s->rec.end = clock_wall();
	session_stats_rec(s, &rec);
	stats_add_session(&rec);
	log_info("session=%s disconnect client=%s ptr=%s helo=\"%s\" "
	    "messages=%u rcpt=%u/%u bytes=%llu ended=%s duration=%.3f",
	    s->id, s->peer_ip, s->ptr[0] ? s->ptr : "unknown",
	    log_printable(helo, sizeof(helo), s->helo, strlen(s->helo)),
	    s->rec.messages, s->rec.rcpt_accepted, s->rec.rcpt_refused,
	    (unsigned long long)s->rec.bytes, s->rec.ended,
	    s->rec.end - s->rec.start);
	server_session_gone(s->server, s);
	runconf_unref(s->rc);
	free(s->helo_reply);
	session_set_name(&s->helo, "", 0);
	session_set_name(&s->ptr, "", 0);
	free(s);
}

/* session_reply - queue one reply. Replies are appended to the output in
 * the order the commands arrived (RFC 2920 §3.1); the bufferevent writes
 * them when the loop runs, i.e. once the input we hold is processed. A
 * reply may hold several lines separated by "\n"; they become a multi-line
 * reply with "-" continuations (RFC 5321 §4.2.1). */
void
session_reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char buf[4096], *line, *next;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 4 || buf[0] < '2' || buf[0] > '5' || buf[1] < '0' ||
	    buf[1] > '5' || buf[2] < '0' || buf[2] > '9') {
		log_crit("session=%s internal error: bad reply \"%.20s\"",
		    s->id, buf);
		abort();
	}
	for (line = buf; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (next != NULL && line == buf) {
			line[3] = '-';
			evbuffer_add_printf(out, "%s\r\n", line);
		} else if (next != NULL)
			evbuffer_add_printf(out, "%.3s-%s\r\n", buf, line);
		else if (line == buf)
			evbuffer_add_printf(out, "%s\r\n", line);
		else
			evbuffer_add_printf(out, "%.3s %s\r\n", buf, line);
	}
	if ((buf[0] == '4' || buf[0] == '5') && log_verbose()) {
		char text[LOG_PRINTABLE_SIZE];

		log_debug("session=%s reply=\"%s\"", s->id,
		    log_printable(text, sizeof(text), buf, strlen(buf)));
	}
}

/* session_log_refusal - one grep-able line for every refused command,
 * in the spirit of OpenSMTPD's failed-command lines. */
void
session_log_refusal(struct session *s, const char *cmd, const char *rcpt,
    const char *reply)
{
	char c[LOG_PRINTABLE_SIZE], r[LOG_PRINTABLE_SIZE];
	char h[LOG_PRINTABLE_SIZE], f[LOG_PRINTABLE_SIZE + 12];
	char t[LOG_PRINTABLE_SIZE + 12];
	const char *from = s->tx != NULL ? s->tx->sender.text : NULL;

	f[0] = t[0] = '\0';
	if (from != NULL) {
		memcpy(f, " from=\"<", 9);
		log_printable(f + 8, sizeof(f) - 8, from, strlen(from));
		strlcpy_compat(f + strlen(f), ">\"", sizeof(f) - strlen(f));
	}
	if (rcpt != NULL) {
		memcpy(t, " to=\"<", 7);
		log_printable(t + 6, sizeof(t) - 6, rcpt, strlen(rcpt));
		strlcpy_compat(t + strlen(t), ">\"", sizeof(t) - strlen(t));
	}
	log_info("session=%s refused client=%s helo=\"%s\"%s%s cmd=\"%s\" "
	    "code=%.3s reply=\"%s\"", s->id, s->peer_ip,
	    log_printable(h, sizeof(h), s->helo, strlen(s->helo)), f, t,
	    log_printable(c, sizeof(c), cmd, strlen(cmd)), reply,
	    log_printable(r, sizeof(r), reply, strlen(reply)));
}

void
session_set_state(struct session *s, enum session_state st)
{
	if (s->state != st)
		log_debug("session=%s state %s -> %s", s->id,
		    session_state_name[s->state], session_state_name[st]);
	s->state = st;
}

/* session_park - process no command until session_resume(). Input is
 * still read (bounded by the high watermark) so that a client that goes
 * away is noticed at once and its lookups cancelled; lines stay in the
 * buffer, so replies keep their order. The timer stays armed so a stuck
 * lookup cannot hold us forever. */
void
session_park(struct session *s, enum session_wait why)
{
	s->wait = why;
}

/* session_resume - continue with the input already buffered. A deferred
 * trigger: buffered lines raise no new read event (the postscreen lesson),
 * and deferring keeps us out of the dispatcher we may be called from. */
void
session_resume(struct session *s)
{
	const struct conf *conf = s->rc->conf;

	s->wait = SESSION_WAIT_NONE;
	if (s->hangup)
		return;
	if (s->draining && s->state != SESSION_ST_DATA) {
		session_reply(s, "421 4.3.2 %s Service shutting down",
		    conf->hostname);
		session_close(s, "shutdown");
		return;
	}
	if (s->state != SESSION_ST_DATA)
		session_arm(s, conf->timeout_command);
	if (!s->client_eof && !s->throttled)
		bufferevent_enable(s->bev, EV_READ);
	bufferevent_trigger(s->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* session_close - the reply is queued; stop reading and free the session
 * once it has been written, or after SESSION_LINGER if the client does not
 * read it. */
void
session_close(struct session *s, const char *why)
{
	if (s->hangup)
		return;
	s->hangup = 1;
	s->linger_until = clock_wall() + SESSION_LINGER;
	if (s->rec.ended[0] == '\0')
		strlcpy_compat(s->rec.ended, why, sizeof(s->rec.ended));
	bufferevent_disable(s->bev, EV_READ);
	session_arm(s, SESSION_LINGER);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		event_active(s->timer, EV_TIMEOUT, 0);
}

/* session_shutdown - SIGTERM. A transaction in DATA (or being committed)
 * finishes first; everyone else gets 421 now (RFC 5321 §3.8). */
void
session_shutdown(struct session *s)
{
	if (s->hangup)
		return;
	s->draining = 1;
	if (s->state == SESSION_ST_DATA)
		return;
	if (s->wait == SESSION_WAIT_GREET) {
		s->state = SESSION_ST_INIT;
		s->wait = SESSION_WAIT_NONE;
	}
	if (s->wait == SESSION_WAIT_NONE || s->wait == SESSION_WAIT_HELO ||
	    s->wait == SESSION_WAIT_SENDER)
		session_resume(s);
}

/* session_tls_unsent - bytes the TLS filter has encrypted but the socket
 * has not taken yet: the last reply is out only when these are gone too. */
static size_t
session_tls_unsent(struct session *s)
{
	struct bufferevent *u = s->tls ? bufferevent_get_underlying(s->bev) :
	    NULL;

	return u != NULL ? evbuffer_get_length(bufferevent_get_output(u)) : 0;
}

/* session_unsent - every reply byte not yet taken by the socket: our
 * output, and under TLS what the filter has encrypted but the plain layer
 * still holds. Throttled while this is above SESSION_WRITE_HIGH; as the
 * plain layer holds at most SESSION_TLS_UNDER_HIGH, a throttled session's
 * own output is above its low watermark, so its write callback comes. */
static size_t
session_unsent(struct session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev)) +
	    session_tls_unsent(s);
}

/* session_line_done - a whole command line is in: the next one has
 * timeout_command from now, for the wait and for all its bytes together
 * (Postfix's smtpd_per_record_deadline). Arming on every read instead let
 * a client sending a byte every few seconds keep its session for ever.
 * Armed before the dispatch, so that DATA (transfer_start), a park (the
 * timer bounds the lookup) or a close (the linger) can replace it. */
static void
session_line_done(struct session *s)
{
	session_arm(s, s->rc->conf->timeout_command);
}

static void
session_process(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char line[SMTP_CMDLINE_MAX + 1];

	while (!s->hangup && s->wait == SESSION_WAIT_NONE) {
		struct evbuffer_ptr eol;
		size_t eol_len, len;

		if (session_unsent(s) > SESSION_WRITE_HIGH) {
			s->throttled = 1;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (s->state == SESSION_ST_DATA) {
			if (transfer_feed(s, in) == 0)
				break;
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			/* No LF within the limit: this line is too long
			 * whatever follows; drop it up to the next LF, as
			 * Postfix resynchronises (RFC 5321 §4.5.3.1.4). */
			len = evbuffer_get_length(in);
			if (len >= SMTP_CMDLINE_MAX) {
				evbuffer_drain(in, len);
				if (!s->discard_line) {
					s->discard_line = 1;
					command_dispatch(s, NULL, len, 0);
				}
			}
			break;
		}
		len = (size_t)eol.pos + eol_len;
		session_line_done(s);
		if (s->discard_line || len > SMTP_CMDLINE_MAX) {
			evbuffer_drain(in, len);
			if (!s->discard_line)
				command_dispatch(s, NULL, len, 0);
			s->discard_line = 0;
			continue;
		}
		evbuffer_remove(in, line, len);
		line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		command_dispatch(s, line, len, evbuffer_get_length(in) > 0);
	}
	/* A half-closed client: what it sent is answered; now close. */
	if (s->client_eof && !s->hangup && s->wait == SESSION_WAIT_NONE)
		session_close(s, s->state == SESSION_ST_DATA ?
		    "disconnect-in-data" : "disconnect");
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	const struct conf *conf = s->rc->conf;
	char reply[SMTP_REPLYLINE_MAX];

	(void)bev;
	if (s->hangup)
		return;
	if (s->state == SESSION_ST_GREET) {
		if (conf->greet_delay == 0 ||
		    evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
			return;
		/* RFC 5321 §4.3.1: the client waits for the greeting. */
		snprintf(reply, sizeof(reply), "554 5.5.0 %s Error: talked "
		    "before greeting", conf->hostname);
		session_reply(s, "%s", reply);
		session_log_refusal(s, "greeting", NULL, reply);
		session_close(s, "early-talker");
		return;
	}
	if (s->wait != SESSION_WAIT_NONE)
		return;
	/* No timer here: timeout_command is a deadline for a whole line
	 * (session_line_done), so a byte now and then cannot hold us. */
	session_process(s);
}

/* session_linger - after the last reply: free now, or look again soon
 * while TLS still holds bytes (bounded by the SESSION_LINGER timer). */
static void
session_linger(struct session *s)
{
	struct timeval tv = { 0, 50 * 1000 };

	if (session_tls_unsent(s) == 0 || clock_wall() > s->linger_until) {
		session_free(s);
		return;
	}
	evtimer_add(s->timer, &tv);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	/* libevent also calls this when the socket merely became writable,
	 * so check that our last reply has really gone out. */
	if (s->hangup && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		session_linger(s);
		return;
	}
	if (s->throttled && !s->hangup) {
		s->throttled = 0;
		if (!s->client_eof)
			bufferevent_enable(s->bev, EV_READ);
		bufferevent_trigger(s->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_debug("session=%s client=%s i/o error: %s", s->id,
		    s->peer_ip, strerror(EVUTIL_SOCKET_ERROR()));
	/* A client that half-closes after its last command (QUIT, or the
	 * end-of-data dot) still gets the replies to what it sent, and a
	 * message being authenticated or committed still gets its reply. A client that leaves
	 * while we wait on DNS or a CBV probe is gone: its lookups are
	 * cancelled now, not when they time out. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    !s->hangup && (s->wait == SESSION_WAIT_COMMIT ||
	    s->wait == SESSION_WAIT_AUTH ||
	    (s->wait == SESSION_WAIT_NONE && s->state != SESSION_ST_GREET &&
	    (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)))) {
		s->client_eof = 1;
		if (s->wait == SESSION_WAIT_NONE)
			session_process(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (!s->hangup && s->rec.ended[0] == '\0' &&
		    s->state != SESSION_ST_DATA)
			strlcpy_compat(s->rec.ended, "disconnect",
			    sizeof(s->rec.ended));
		session_free(s);
	}
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	const struct conf *conf = s->rc->conf;
	char reply[SMTP_REPLYLINE_MAX];

	(void)fd, (void)what;
	if (s->hangup) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
			session_linger(s);
		else
			session_free(s);	/* the client does not read */
		return;
	}
	if (s->state == SESSION_ST_GREET) {
		session_greet(s);
		return;
	}
	snprintf(reply, sizeof(reply), "421 4.4.2 %s Error: timeout exceeded",
	    conf->hostname);
	session_reply(s, "%s", reply);
	/* cmd: the state whose command did not come in time. */
	session_log_refusal(s, session_state_name[s->state], NULL, reply);
	session_close(s, "timeout");
}
