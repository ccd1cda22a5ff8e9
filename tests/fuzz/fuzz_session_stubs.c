/* fuzz_session_stubs.c - link-time stand-ins for fuzz_session: DNS from a
 * tiny fixed table, maildirs in memory, no stats, a scripted CBV client.
 *
 *	fuzz_stub_reset - set the modes for one input (fuzz_session.h)
 *	fuzz_stub_pending - stand-in operations not yet delivered
 *	fuzz_stub_deliver - make every pending operation's event active: its
 *	    callback runs on the loop, never from the submit call
 *	fuzz_stub_open_msgs - maildir messages neither aborted nor freed
 *	fuzz_stub_committed - 1 when the message ID was committed successfully
 *	resolver_*, maildir_*, stats_*, cbv_*, startcheck_dns_start,
 *	    startcheck_nofile, resolver_cache_log - the
 *	    contracts of resolver.h, maildir.h, stats.h and cbv.h, checked
 *	    with assert() where a caller could break them
 *	openlog, syslog - swallow the daemon's log lines (FUZZ_SESSION_LOG=1
 *	    prints them on stderr, for reading a reproducer)
 *
 * Every asynchronous answer is an event with no descriptor that only the
 * harness makes active (fuzz_stub_deliver), so the harness decides when
 * DNS, a delivery or a probe completes relative to the client's bytes:
 * before the next chunk, after EOF, or never (the session is then freed
 * with the operation in flight and must cancel it).
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "resolver.h"
#include "maildir.h"
#include "stats.h"
#include "cbv.h"
#include "cbv_rate.h"
#include "conf.h"
#include "resolver_cache.h"
#include "startcheck.h"
#include "fuzz_session.h"

enum stub_kind { STUB_DNS, STUB_COMMIT, STUB_CBV };

struct stub_op {
	TAILQ_ENTRY(stub_op)	 link;
	enum stub_kind		 kind;
	struct event		*ev;
	int			 active;
};
TAILQ_HEAD(stub_list, stub_op);

static struct event_base *stub_base;
static struct stub_list stub_ops = TAILQ_HEAD_INITIALIZER(stub_ops);
static size_t stub_npending;
static size_t stub_nmsgs;
static struct fuzz_modes stub_modes;

/* ---- the operations list ------------------------------------------- */

static void
stub_op_add(struct stub_op *op, enum stub_kind kind, event_callback_fn fn)
{
	assert(stub_base != NULL);
	op->kind = kind;
	op->ev = event_new(stub_base, -1, 0, fn, op);
	assert(op->ev != NULL);
	TAILQ_INSERT_TAIL(&stub_ops, op, link);
	stub_npending++;
}

static void
stub_op_del(struct stub_op *op)
{
	TAILQ_REMOVE(&stub_ops, op, link);
	stub_npending--;
	event_free(op->ev);
	op->ev = NULL;
}

void
fuzz_stub_reset(struct event_base *base, const struct fuzz_modes *m)
{
	stub_base = base;
	stub_modes = *m;
}

size_t
fuzz_stub_pending(void)
{
	return stub_npending;
}

size_t
fuzz_stub_open_msgs(void)
{
	return stub_nmsgs;
}

void
fuzz_stub_deliver(void)
{
	struct stub_op *op;

	TAILQ_FOREACH(op, &stub_ops, link)
		if (!op->active) {
			op->active = 1;
			event_active(op->ev, EV_TIMEOUT, 1);
		}
}

/* ---- resolver.h ------------------------------------------------------ */

enum stub_qtype { Q_A, Q_AAAA, Q_PTR, Q_MX, Q_TXT };

struct resolver_query {
	struct stub_op	 op;	/* first: the op is the query */
	enum stub_qtype	 type;
	char		 name[SMTP_DOMAIN_MAX + 64];
	resolver_fn	*fn;
	void		*arg;
};

/* The fixed zone: example.com is a well-run domain whose mail host is the
 * client 192.0.2.1 (forward-confirmed PTR, SPF pass, a DMARC record);
 * example.org publishes a null MX; nomx.example has an A but no MX;
 * tempfail.example times out; everything else does not exist. */
struct stub_rr {
	enum stub_qtype	 type;
	const char	*name;
	const char	*data;		/* "" with status NODATA */
	enum resolver_status status;
};

static const struct stub_rr stub_zone[] = {
	{ Q_PTR, "192.0.2.1", "mail.example.com", RESOLVER_OK },
	{ Q_PTR, "192.0.2.2", "forged.example.com", RESOLVER_OK },
	{ Q_PTR, "2001:db8::25", "mail.example.com", RESOLVER_OK },
	{ Q_A, "mail.example.com", "192.0.2.1", RESOLVER_OK },
	{ Q_AAAA, "mail.example.com", "2001:db8::25", RESOLVER_OK },
	{ Q_A, "forged.example.com", "198.51.100.7", RESOLVER_OK },
	{ Q_A, "mx.example.com", "192.0.2.1", RESOLVER_OK },
	{ Q_AAAA, "mx.example.com", "", RESOLVER_NODATA },
	{ Q_MX, "example.com", "10 mx.example.com", RESOLVER_OK },
	{ Q_MX, "example.org", "0 ", RESOLVER_OK },
	{ Q_MX, "nomx.example", "", RESOLVER_NODATA },
	{ Q_A, "nomx.example", "192.0.2.1", RESOLVER_OK },
	{ Q_AAAA, "nomx.example", "", RESOLVER_NODATA },
	{ Q_MX, "example.net", "10 mx.example.net", RESOLVER_OK },
	{ Q_A, "mx.example.net", "127.0.0.1", RESOLVER_OK },
	{ Q_TXT, "example.com", "v=spf1 ip4:192.0.2.0/24 include:%{d}.x "
	    "-all", RESOLVER_OK },
	{ Q_TXT, "example.org", "v=spf1 -all", RESOLVER_OK },
	{ Q_TXT, "nomx.example", "v=spf1 a mx ptr exists:%{i}.%{l}.x ?all",
	    RESOLVER_OK },
	{ Q_TXT, "example.com.x", "v=spf1 redirect=example.org", RESOLVER_OK },
	{ Q_TXT, "_dmarc.example.com", "v=DMARC1; p=reject; adkim=s; "
	    "aspf=r; pct=100", RESOLVER_OK },
	{ Q_TXT, "_dmarc.example.org", "v=DMARC1; p=quarantine",
	    RESOLVER_OK },
	{ Q_TXT, "s._domainkey.example.com", "v=DKIM1; k=rsa; p=MFwwDQYJKo"
	    "ZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4W"
	    "GeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==",
	    RESOLVER_OK },
};

static void
stub_dns_fill(struct resolver_query *q, struct resolver_result *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->status = RESOLVER_NXDOMAIN;
	if (stub_modes.dns_tempfail || strstr(q->name, "tempfail") != NULL) {
		r->status = RESOLVER_TEMPFAIL;
		return;
	}
	for (i = 0; i < sizeof(stub_zone) / sizeof(stub_zone[0]); i++) {
		const struct stub_rr *rr = &stub_zone[i];

		if (strcasecmp(rr->name, q->name) != 0)
			continue;
		r->status = RESOLVER_NODATA;
		if (rr->type != q->type)
			continue;
		r->status = rr->status;
		if (rr->status != RESOLVER_OK)
			return;
		r->n = 1;
		switch (q->type) {
		case Q_A: {
			struct sockaddr_in *sin = (struct sockaddr_in *)&r->addr[0];

			sin->sin_family = AF_INET;
			inet_pton(AF_INET, rr->data, &sin->sin_addr);
			break;
		}
		case Q_AAAA: {
			struct sockaddr_in6 *s6 =
			    (struct sockaddr_in6 *)&r->addr[0];

			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, rr->data, &s6->sin6_addr);
			break;
		}
		case Q_PTR:
			snprintf(r->name[0], sizeof(r->name[0]), "%s", rr->data);
			break;
		case Q_MX: {
			const char *sp = strchr(rr->data, ' ');

			r->mx[0].pref = (unsigned)atoi(rr->data);
			snprintf(r->mx[0].name, sizeof(r->mx[0].name), "%s",
			    sp + 1);
			break;
		}
		case Q_TXT:
			r->txt_len[0] = strlen(rr->data);
			memcpy(r->txt, rr->data, r->txt_len[0] + 1);
			r->txt_off[0] = 0;
			break;
		}
		return;
	}
}

static void
stub_dns_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver_query *q = arg;
	static struct resolver_result r;	/* 20 KiB: not on the stack */
	resolver_fn *fn = q->fn;
	void *fnarg = q->arg;

	(void)fd, (void)what;
	stub_dns_fill(q, &r);
	/* The handle is dead once the callback starts (resolver.c). */
	stub_op_del(&q->op);
	free(q);
	fn(&r, fnarg);
}

static struct resolver_query *
stub_submit(enum stub_qtype type, const char *name, resolver_fn *fn,
    void *arg)
{
	struct resolver_query *q;

	assert(name != NULL && fn != NULL);
	/* An unusable name fails at once: NULL, no callback. */
	if (strlen(name) >= sizeof(q->name) || name[0] == '\0')
		return NULL;
	q = calloc(1, sizeof(*q));
	assert(q != NULL);
	q->type = type;
	memcpy(q->name, name, strlen(name) + 1);
	q->fn = fn;
	q->arg = arg;
	stub_op_add(&q->op, STUB_DNS, stub_dns_cb);
	return q;
}

int
resolver_init(struct event_base *base, const struct conf *conf)
{
	(void)base, (void)conf;
	return 0;
}

int
resolver_reconfigure(const struct conf *conf)
{
	(void)conf;
	return 0;
}

void
resolver_shutdown(void)
{
}

void
resolver_set_timeout(unsigned s)
{
	(void)s;
}

struct resolver_query *
resolver_a(const char *name, resolver_fn *fn, void *arg)
{
	return stub_submit(Q_A, name, fn, arg);
}

struct resolver_query *
resolver_aaaa(const char *name, resolver_fn *fn, void *arg)
{
	return stub_submit(Q_AAAA, name, fn, arg);
}

struct resolver_query *
resolver_mx(const char *name, resolver_fn *fn, void *arg)
{
	return stub_submit(Q_MX, name, fn, arg);
}

struct resolver_query *
resolver_txt(const char *name, resolver_fn *fn, void *arg)
{
	return stub_submit(Q_TXT, name, fn, arg);
}

struct resolver_query *
resolver_ptr(const struct sockaddr *sa, resolver_fn *fn, void *arg)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    ip, sizeof(ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
		    sizeof(ip));
	else
		return NULL;
	return stub_submit(Q_PTR, ip, fn, arg);
}

void
resolver_cancel(struct resolver_query *q)
{
	if (q == NULL)
		return;
	assert(q->op.kind == STUB_DNS);
	stub_op_del(&q->op);
	free(q);
}

const char *
resolver_status_text(enum resolver_status st)
{
	static const char *const names[] = { "ok", "nxdomain", "nodata",
	    "tempfail" };

	return (unsigned)st < 4 ? names[st] : "?";
}

/* ---- maildir.h ------------------------------------------------------- */

#define STUB_MSG_KEEP	(256 * 1024)	/* octets kept, the rest counted */

struct maildir_msg {
	struct stub_op	 op;
	char		 id[32];
	size_t		 nmaildirs;
	char		*text;
	size_t		 len, total;
	int		 prepended, committed, detached;
	maildir_done_fn	*cb;
	void		*cbarg;
};

static void
stub_msg_free(struct maildir_msg *m)
{
	assert(stub_nmsgs > 0);
	stub_nmsgs--;
	free(m->text);
	free(m);
}

struct maildir_msg *
maildir_open(const char *const *maildirs, size_t n, const char *host,
    int *err)
{
	static unsigned seq;
	struct maildir_msg *m;
	size_t i;

	assert(n > 0 && maildirs != NULL && host != NULL && err != NULL);
	for (i = 0; i < n; i++)
		assert(maildirs[i] != NULL && maildirs[i][0] != '\0');
	if (stub_modes.disk == FUZZ_DISK_OPEN_FAILS) {
		*err = EACCES;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	assert(m != NULL);
	m->nmaildirs = n;
	snprintf(m->id, sizeof(m->id), "1700000000.M1P1Q%u", ++seq);
	stub_nmsgs++;
	return m;
}

int
maildir_write(struct maildir_msg *m, const char *p, size_t len)
{
	assert(m != NULL && !m->committed);
	if (m->prepended) {
		errno = EINVAL;
		return -1;
	}
	if (stub_modes.disk == FUZZ_DISK_WRITE_FAILS && m->total + len > 300) {
		errno = ENOSPC;
		return -1;
	}
	if (m->len + len <= STUB_MSG_KEEP) {
		char *t = realloc(m->text, m->len + len + 1);

		assert(t != NULL);
		m->text = t;
		memcpy(m->text + m->len, p, len);
		m->len += len;
	}
	m->total += len;
	return 0;
}

int
maildir_prepend(struct maildir_msg *m, const char *p, size_t len)
{
	assert(m != NULL && p != NULL);
	if (m->prepended || m->committed) {
		errno = EINVAL;
		return -1;
	}
	if (len > 64 * 1024) {
		errno = EMSGSIZE;
		return -1;
	}
	m->prepended = 1;
	m->total += len;
	return 0;
}

int
maildir_folder_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 2 || n > 64 || name[0] != '.' || name[n - 1] == '.' ||
	    strstr(name, "..") != NULL)
		return 0;
	for (i = 1; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789-_+=, @.", name[i]) == NULL)
			return 0;
	return 1;
}

int
maildir_set_folder(struct maildir_msg *m, const char *name)
{
	assert(m != NULL && !m->committed);
	if (name != NULL && !maildir_folder_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The ids of the last messages committed successfully, for the driver's
 * check that no "250 ... queued as ID" names any other. */
#define STUB_DONE_IDS	64
static char stub_done_ids[STUB_DONE_IDS][32];
static unsigned stub_done_next;

int
fuzz_stub_committed(const char *id, size_t len)
{
	size_t i;

	for (i = 0; i < STUB_DONE_IDS; i++)
		if (strlen(stub_done_ids[i]) == len &&
		    memcmp(stub_done_ids[i], id, len) == 0)
			return 1;
	return 0;
}

static void
stub_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct maildir_msg *m = arg;
	int err = stub_modes.disk == FUZZ_DISK_COMMIT_FAILS ? ENOSPC : 0;

	(void)fd, (void)what;
	stub_op_del(&m->op);
	if (err == 0) {
		memcpy(stub_done_ids[stub_done_next++ % STUB_DONE_IDS], m->id,
		    sizeof(m->id));
	}
	if (!m->detached)
		m->cb(m->cbarg, err);
	stub_msg_free(m);
}

void
maildir_commit(struct maildir_msg *m, maildir_done_fn *cb, void *arg)
{
	assert(m != NULL && !m->committed && cb != NULL);
	m->committed = 1;
	m->cb = cb;
	m->cbarg = arg;
	stub_op_add(&m->op, STUB_COMMIT, stub_commit_cb);
}

void
maildir_detach(struct maildir_msg *m)
{
	if (m == NULL)
		return;
	if (!m->committed) {
		maildir_abort(m);
		return;
	}
	assert(!m->detached);
	m->detached = 1;
}

void
maildir_abort(struct maildir_msg *m)
{
	if (m == NULL)
		return;
	assert(!m->committed);
	stub_msg_free(m);
}

const char *
maildir_msg_id(const struct maildir_msg *m)
{
	return m->id;
}

/* ---- stats.h: nothing is recorded; stats_handle() NULL disables the
 * CBV cache's database, so stats_defer is never reached. */

void
stats_add_session(const struct stats_session *r)
{
	assert(r->id[0] != '\0' && r->ended[0] != '\0');
	assert(memchr(r->ended, '\0', sizeof(r->ended)) != NULL);
}

void
stats_add_cbv(const struct stats_cbv *r)
{
	(void)r;
}

void
stats_add_auth(const struct stats_auth *r)
{
	(void)r;
}

void
stats_defer(stats_defer_fn *fn, void *arg)
{
	(void)fn, (void)arg;
	abort();	/* not reached: stats_handle() is NULL */
}

void *
stats_handle(void)
{
	return NULL;
}

/* ---- startcheck.h ---------------------------------------------------- */

void
startcheck_dns_start(struct event_base *base, const struct conf *conf)
{
	(void)base, (void)conf;
}

int
startcheck_nofile(const struct conf *conf, int raise, char *msg,
    size_t msglen)
{
	(void)conf, (void)raise, (void)msg, (void)msglen;
	return 0;
}

/* ---- resolver_cache.h: the stand-in resolver keeps nothing ----------- */

void
resolver_cache_log(const char *when)
{
	(void)when;
}

/* ---- cbv.h: the probe's outcome by the local part's first word, or the
 * input's default; decided via the loop, or inside cbv_probe (which
 * sender.c also accepts) when the modes say so. */

struct cbv_waiter {
	struct stub_op	 op;
	char		 address[SMTP_PATH_MAX + 1];
	cbv_fn		*fn;
	void		*arg;
};

static const char *const stub_cbv_stage_names[CBV_ST_LAST] = {
	"connect", "greeting", "noop", "helo", "mail", "rcpt", "done",
};

const char *
cbv_stage_name(enum cbv_stage st)
{
	return (unsigned)st < CBV_ST_LAST ? stub_cbv_stage_names[st] : "?";
}

/* cbv_reconfigure - what cbv.c takes from the config: only the probe
 * rate bounds matter here (the harness calls it once at start, as
 * cbv_init does). */
void
cbv_reconfigure(const struct conf *c)
{
	cbv_rate_set(c->cbv_max_per_client_minute,
	    c->cbv_max_per_domain_minute, c->client_ipv6_prefix);
}

static void
stub_cbv_result(const char *address, struct cbv_result *r)
{
	static const struct {
		const char *word;
		enum cbv_outcome o;
		enum cbv_stage st;
		const char *reply;
	} by[] = {
		{ "pass", CBV_PASS, CBV_ST_RCPT, "250 2.1.5 ok" },
		{ "fail", CBV_FAIL, CBV_ST_RCPT, "550 5.1.1 no such user" },
		{ "early", CBV_REFUSED_EARLY, CBV_ST_GREETING, "554 go away" },
		{ "mail", CBV_REFUSED_MAIL, CBV_ST_MAIL, "550 5.7.1 no <>" },
		{ "temp", CBV_TEMPFAIL, CBV_ST_RCPT, "451 4.3.0 later" },
		{ "noconn", CBV_NOCONNECT, CBV_ST_CONNECT, "connect to "
		    "mx.example.com [192.0.2.1]:25: Connection refused" },
		{ "unver", CBV_UNVERIFIABLE, CBV_ST_RCPT, "252 2.1.5 maybe" },
	};
	size_t i, k = stub_modes.cbv_default % (sizeof(by) / sizeof(by[0]));

	for (i = 0; i < sizeof(by) / sizeof(by[0]); i++)
		if (strncasecmp(address, by[i].word, strlen(by[i].word)) == 0)
			k = i;
	memset(r, 0, sizeof(*r));
	r->outcome = by[k].o;
	r->stage = by[k].st;
	snprintf(r->mx_host, sizeof(r->mx_host), "mx.example.com");
	snprintf(r->reply, sizeof(r->reply), "%s", by[k].reply);
	r->duration = 0.25;
}

static void
stub_cbv_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cbv_waiter *w = arg;
	struct cbv_result r;
	cbv_fn *fn = w->fn;
	void *fnarg = w->arg;

	(void)fd, (void)what;
	stub_cbv_result(w->address, &r);
	stub_op_del(&w->op);
	free(w);
	fn(&r, fnarg);
}

struct cbv_waiter *
cbv_probe(const char *address, const struct resolver_mx *mx, size_t n,
    cbv_fn *fn, void *arg)
{
	struct cbv_waiter *w;
	struct cbv_result r;

	assert(address != NULL && fn != NULL);
	assert(n <= RESOLVER_MAX_RR && (n == 0 || mx != NULL));
	if (stub_modes.cbv_sync) {
		stub_cbv_result(address, &r);
		fn(&r, arg);
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	assert(w != NULL);
	snprintf(w->address, sizeof(w->address), "%s", address);
	w->fn = fn;
	w->arg = arg;
	stub_op_add(&w->op, STUB_CBV, stub_cbv_cb);
	return w;
}

/* cbv_in_flight - 1 when a probe of this address is pending (joining it
 * costs no new probe, so the rate bound does not apply). */
int
cbv_in_flight(const char *address)
{
	struct stub_op *op;

	TAILQ_FOREACH(op, &stub_ops, link)
		if (op->kind == STUB_CBV && strcmp(((struct cbv_waiter *)
		    (void *)op)->address, address) == 0)
			return 1;
	return 0;
}

void
cbv_cancel(struct cbv_waiter *w)
{
	if (w == NULL)
		return;
	assert(w->op.kind == STUB_CBV);
	stub_op_del(&w->op);
	free(w);
}

/* ---- syslog: log.c's lines stay out of the fuzzer's output ---------- */

void
openlog(const char *ident, int option, int facility)
{
	(void)ident, (void)option, (void)facility;
}

void
syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	if (!stub_modes.log)
		return;
	fprintf(stderr, "log<%d>: ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
