/* spf.c - SPF check_host() (RFC 7208) on the event loop: the life of a
 * check, record lookup and selection, redirect=, include frames, exp=.
 *
 *	spf_init - the event base the checks' timers run on
 *	spf_args_init - the identity to check (§2.3, §2.4) from the dialogue
 *	spf_check_start - start a check; its callback runs once, from the loop
 *	spf_check_cancel - forget a check: no callback, everything freed
 *	spf_result_text, spf_identity_text - names for logs and headers
 *
 * Mechanisms and the PTR validation are in spf_mechanism.c, the record parser in
 * spf_record.c, macros in spf_macro.c.
 *
 * No recursion on the C stack: include pushes a frame on an explicit
 * stack (at most SPF_DEPTH_MAX: each include costs one of the 10 DNS
 * terms, §4.6.4), redirect replaces the top frame. At most one lookup is
 * in flight, or one batch of at most 10 (the addresses of the MX or PTR
 * names). A check ends once, through spf_finish(), which cancels every
 * query and delivers the outcome from a zero timer: so the callback always
 * runs from the loop, never inside spf_check_start(), and no code of ours
 * is on the stack when the caller frees things from its callback.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "cidr.h"
#include "log.h"
#include "spf_int.h"
#include "xmalloc.h"

static struct event_base *spf_base;

static const char *const spf_result_names[SPF_RESULT_LAST] = {
	[SPF_NONE] = "none", [SPF_NEUTRAL] = "neutral", [SPF_PASS] = "pass",
	[SPF_FAIL] = "fail", [SPF_SOFTFAIL] = "softfail",
	[SPF_TEMPERROR] = "temperror", [SPF_PERMERROR] = "permerror",
};

static const char *const spf_identity_names[SPF_ID_LAST] = {
	[SPF_ID_MAILFROM] = "mailfrom", [SPF_ID_HELO] = "helo",
};

const char *
spf_result_text(enum spf_result r)
{
	return (unsigned)r < SPF_RESULT_LAST ? spf_result_names[r] : "?";
}

const char *
spf_identity_text(enum spf_identity id)
{
	return (unsigned)id < SPF_ID_LAST ? spf_identity_names[id] : "?";
}

void
spf_init(struct event_base *base)
{
	spf_base = base;
}


/* spf_fqdn_ok - §4.3: a <domain> worth a lookup: a multi-label name,
 * labels of 1..63 octets, no domain literal, at most 253 octets (a
 * trailing dot aside). */
static int
spf_fqdn_ok(const char *d)
{
	char buf[SMTP_DOMAIN_MAX + 1];
	size_t n = strlen(d);

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return 0;
	memcpy(buf, d, n + 1);
	if (buf[n - 1] == '.')
		buf[--n] = '\0';
	if (strpbrk(buf, "[]@ ") != NULL || strchr(buf, '.') == NULL)
		return 0;
	return spf_domain_usable(buf);
}

/* spf_args_init - see spf.h. */
int
spf_args_init(struct spf_args *a, const struct sockaddr *client,
    const char *mailfrom, const char *helo, const char *receiver)
{
	const char *at;
	char local[SMTP_PATH_MAX + 1];
	size_t ll;

	memset(a, 0, sizeof(*a));
	if (client != NULL && cidr_sockaddr_unmap(client, &a->client) < 0)
		memset(&a->client, 0, sizeof(a->client));
	strlcpy_compat(a->helo, helo != NULL ? helo : "", sizeof(a->helo));
	strlcpy_compat(a->receiver, receiver != NULL ? receiver : "",
	    sizeof(a->receiver));
	if (mailfrom != NULL && mailfrom[0] != '\0') {
		a->identity = SPF_ID_MAILFROM;
		at = strrchr(mailfrom, '@');
		ll = at != NULL ? (size_t)(at - mailfrom) : 0;
		if (ll >= sizeof(local))
			ll = sizeof(local) - 1;
		memcpy(local, mailfrom, ll);
		local[ll] = '\0';
		/* without '@', the whole is taken as the domain */
		strlcpy_compat(a->domain, at != NULL ? at + 1 : mailfrom,
		    sizeof(a->domain));
	} else {
		a->identity = SPF_ID_HELO;
		local[0] = '\0';
		strlcpy_compat(a->domain, a->helo, sizeof(a->domain));
	}
	/* §4.3: no local part means "postmaster". */
	if (snprintf(a->sender, sizeof(a->sender), "%s@%s",
	    local[0] != '\0' ? local : "postmaster", a->domain) >=
	    (int)sizeof(a->sender))
		return -1;
	return spf_fqdn_ok(a->domain) ? 0 : -1;
}

/* spf_vars - the macro values for frame f (§7.2). */
void
spf_vars(const struct spf_check *c, const struct spf_frame *f,
    struct spf_macro_vars *v)
{
	memset(v, 0, sizeof(*v));
	v->sender = c->a.sender;
	v->local = c->local;
	v->sdomain = c->sdomain;
	v->domain = f->domain;
	v->client = (const struct sockaddr *)&c->ip;
	v->ptr = c->ptr_state == 2 ? spf_ptr_pick(c, f->domain) : NULL;
	v->helo = c->a.helo;
	v->receiver = c->a.receiver;
	v->now = c->now;
}

static void
spf_frame_free(struct spf_frame *f)
{
	spf_record_free(&f->rec);
	free(f->text);
	f->text = NULL;
	f->parsed = 0;
}

static void
spf_cancel_queries(struct spf_check *c)
{
	size_t i;

	for (i = 0; i < SPF_NAMES_MAX; i++) {
		resolver_cancel(c->slots[i].q);
		c->slots[i].q = NULL;
	}
	c->pending = 0;
}

static void
spf_free(struct spf_check *c)
{
	int i;

	spf_cancel_queries(c);
	for (i = 0; i < c->depth; i++)
		spf_frame_free(&c->frames[i]);
	if (c->ev_defer != NULL)
		event_free(c->ev_defer);
	if (c->ev_deadline != NULL)
		event_free(c->ev_deadline);
	free(c);
}

/* spf_finish - end the check with result (problem for the logs when
 * fmt is not NULL); the callback follows from the loop. Callers return
 * at once after it. */
void
spf_finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
{
	struct timeval tv = { 0, 0 };
	va_list ap;

	if (c->finished)
		return;
	c->finished = 1;
	spf_cancel_queries(c);
	evtimer_del(c->ev_deadline);
	c->out.result = r;
	if (fmt != NULL) {
		char raw[sizeof(c->out.problem)];

		va_start(ap, fmt);
		vsnprintf(raw, sizeof(raw), fmt, ap);
		va_end(ap);
		ascii_copy(c->out.problem, sizeof(c->out.problem), raw);
	}
	if (r != SPF_FAIL)
		c->out.explanation[0] = '\0';
	if (r == SPF_TEMPERROR || r == SPF_PERMERROR || r == SPF_NONE)
		c->out.mechanism[0] = '\0';
	evtimer_add(c->ev_defer, &tv);
}

/* spf_dns_problem - the text for a failed lookup of type on name. */
const char *
spf_dns_problem(char *buf, size_t size, const struct spf_slot *s,
    const char *type, const char *name)
{
	char safe[SMTP_DOMAIN_MAX + 1];

	snprintf(buf, size, "%s DNS answer for %s %s",
	    s->truncated ? "truncated" : "no", type,
	    ascii_copy(safe, sizeof(safe), name));
	return buf;
}

/* spf_submit - one query into slot i (type SPF_Q_*; name unused for
 * PTR). 0, or -1 when it could not even start (no callback follows). */
int
spf_submit(struct spf_check *c, size_t i, int type, const char *name,
    resolver_fn *cb)
{
	struct spf_slot *s = &c->slots[i];
	struct resolver_query *q = NULL;

	s->c = c;
	s->st = RESOLVER_TEMPFAIL;
	s->match = 0;
	s->truncated = 0;
	switch (type) {
	case SPF_Q_A: q = resolver_a(name, cb, s); break;
	case SPF_Q_AAAA: q = resolver_aaaa(name, cb, s); break;
	case SPF_Q_MX: q = resolver_mx(name, cb, s); break;
	case SPF_Q_TXT: q = resolver_txt(name, cb, s); break;
	case SPF_Q_PTR:
		q = resolver_ptr((const struct sockaddr *)&c->ip, cb, s);
		break;
	}
	if (q == NULL)
		return -1;
	s->q = q;
	c->pending++;
	return 0;
}

/* spf_defer_cb - the zero timer: the start of the check, or its end. */
static void
spf_defer_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct spf_check *c = arg;

	if (!c->finished) {
		c->started = 1;
		spf_push(c, c->a.domain, 0);
		return;
	}
	c->out.duration = clock_mono() - c->t0;
	c->in_done = 1;
	c->fn(c->arg, &c->out);
	spf_free(c);
}

/* spf_deadline_cb - the overall bound (§4.6.4: SHOULD allow at least
 * 20 s; past it, temperror). During exp= the result is fail already. */
static void
spf_deadline_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct spf_check *c = arg;

	if (c->in_exp)
		spf_finish(c, SPF_FAIL, NULL);
	else
		spf_finish(c, SPF_TEMPERROR, "SPF evaluation timed out "
		    "after %u s", c->timeout);
}

/* spf_check_start - see spf.h. spf_init() must have been called. */
struct spf_check *
spf_check_start(const struct spf_args *a, unsigned overall_timeout,
    spf_done_fn *fn, void *arg)
{
	struct spf_check *c;
	struct timeval tv = { 0, 0 };
	const char *at;
	char safe[SMTP_DOMAIN_MAX + 1];

	c = xcalloc(1, sizeof(*c));
	c->a = *a;
	c->fn = fn;
	c->arg = arg;
	c->t0 = clock_mono();
	c->now = (long long)time(NULL);
	c->timeout = overall_timeout > 0 ? overall_timeout : 1;
	if (cidr_sockaddr_unmap((const struct sockaddr *)&a->client,
	    &c->ip) < 0)
		memset(&c->ip, 0, sizeof(c->ip));
	/* <sender> = local@domain: %{l} and %{o} (§7.2). */
	if ((at = strrchr(c->a.sender, '@')) != NULL) {
		size_t n = (size_t)(at - c->a.sender);

		memcpy(c->local, c->a.sender, n);
		c->local[n] = '\0';
		c->sdomain = at + 1;
	} else
		c->sdomain = c->a.sender;
	c->out.identity = a->identity;
	strlcpy_compat(c->out.domain, a->domain, sizeof(c->out.domain));
	c->ev_defer = evtimer_new(spf_base, spf_defer_cb, c);
	c->ev_deadline = evtimer_new(spf_base, spf_deadline_cb, c);
	if (c->ev_defer == NULL || c->ev_deadline == NULL) {
		log_crit("spf: cannot create timers");
		exit(1);
	}
	if (c->ip.ss_family != AF_INET && c->ip.ss_family != AF_INET6) {
		spf_finish(c, SPF_PERMERROR, "no client address");
		return c;
	}
	/* §4.3: a malformed <domain> or one label only: "none". */
	if (!spf_fqdn_ok(a->domain)) {
		spf_finish(c, SPF_NONE, "not a usable domain: %s",
		    ascii_copy(safe, sizeof(safe), a->domain));
		return c;
	}
	evtimer_add(c->ev_defer, &tv);
	tv.tv_sec = c->timeout;
	evtimer_add(c->ev_deadline, &tv);
	return c;
}

/* spf_check_cancel - no callback after this; everything freed. From the
 * check's own callback it is a no-op (the check is freed after it). */
void
spf_check_cancel(struct spf_check *c)
{
	if (c == NULL || c->in_done)
		return;
	spf_free(c);
}

/* spf_txt_cb - the TXT records of the top frame's domain: pick the one
 * SPF record (§4.5), parse it whole (§4.6), evaluate. */
static void
spf_txt_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;
	struct spf_frame *f = &c->frames[c->depth - 1];
	char safe[SMTP_DOMAIN_MAX + 1], buf[sizeof(c->out.problem)];
	size_t i, found = 0, which = 0;

	s->q = NULL;
	c->pending--;
	s->truncated = res->truncated;
	ascii_copy(safe, sizeof(safe), f->domain);
	if (res->status == RESOLVER_TEMPFAIL) {
		spf_finish(c, SPF_TEMPERROR, "%s",
		    spf_dns_problem(buf, sizeof(buf), s, "TXT", f->domain));
		return;
	}
	for (i = 0; res->status == RESOLVER_OK && i < res->n; i++)
		if (spf_record_is_spf(res->txt + res->txt_off[i],
		    res->txt_len[i])) {
			found++;
			which = i;
		}
	if (found > 1) {
		spf_finish(c, SPF_PERMERROR, "several SPF records for %s",
		    safe);
		return;
	}
	if (found == 0) {
		/* §4.3/§4.5: none at the top; include and redirect of a
		 * domain without a record are permerrors (§5.2, §6.1). */
		if (c->depth == 1 && !f->redirected)
			spf_finish(c, SPF_NONE, "no SPF record for %s", safe);
		else
			spf_finish(c, SPF_PERMERROR, "%s=%s: no SPF record",
			    f->redirected ? "redirect" : "include", safe);
		return;
	}
	f->text = xmalloc(res->txt_len[which] + 1);
	memcpy(f->text, res->txt + res->txt_off[which], res->txt_len[which]);
	f->text[res->txt_len[which]] = '\0';
	if (spf_record_parse(f->text, res->txt_len[which], &f->rec) < 0) {
		spf_finish(c, SPF_PERMERROR, "SPF record of %s: %s", safe,
		    f->rec.error);
		return;
	}
	f->parsed = 1;
	f->next = 0;
	spf_run(c);
}

/* spf_push - check_host() for domain: a new frame (include), or the top
 * frame replaced (redirect). */
void
spf_push(struct spf_check *c, const char *domain, int redirect)
{
	struct spf_frame *f;
	char buf[sizeof(c->out.problem)];

	if (redirect) {
		f = &c->frames[c->depth - 1];
		spf_frame_free(f);
	} else {
		if (c->depth >= SPF_DEPTH_MAX) {
			spf_finish(c, SPF_PERMERROR, "includes too deep");
			return;
		}
		f = &c->frames[c->depth++];
		memset(f, 0, sizeof(*f));
	}
	strlcpy_compat(f->domain, domain, sizeof(f->domain));
	f->redirected = redirect;
	f->next = 0;
	f->cur = NULL;
	if (spf_submit(c, 0, SPF_Q_TXT, f->domain, spf_txt_cb) < 0)
		spf_finish(c, SPF_TEMPERROR, "%s", spf_dns_problem(buf,
		    sizeof(buf), &c->slots[0], "TXT", f->domain));
}

/* spf_matched - term t of the top frame matched: its qualifier is the
 * frame's result (§4.6.2). */
void
spf_matched(struct spf_check *c, const struct spf_term *t)
{
	struct spf_frame *f = &c->frames[c->depth - 1];

	if (c->depth == 1) {
		char raw[sizeof(c->out.mechanism)];
		size_t n = t->text_len < sizeof(raw) - 1 ? t->text_len :
		    sizeof(raw) - 1;

		memcpy(raw, f->text + t->text_off, n);
		raw[n] = '\0';
		ascii_copy(c->out.mechanism, sizeof(c->out.mechanism), raw);
	}
	spf_frame_done(c, t->qual);
}

/* spf_frame_done - the top frame's check_host() gave r. At the top this
 * is the answer (fail fetches the explanation); inside an include it is
 * mapped per §5.2: pass matches, fail/softfail/neutral do not. Errors
 * never get here: they end the whole check at once. */
void
spf_frame_done(struct spf_check *c, enum spf_result r)
{
	struct spf_frame *f;
	const struct spf_term *t;

	if (c->depth == 1) {
		f = &c->frames[0];
		if (r == SPF_FAIL && f->parsed && f->rec.has_exp) {
			spf_exp_start(c);
			return;
		}
		spf_finish(c, r, NULL);
		return;
	}
	spf_frame_free(&c->frames[--c->depth]);
	f = &c->frames[c->depth - 1];
	t = f->cur;
	f->cur = NULL;
	if (r == SPF_PASS) {
		spf_matched(c, t);
		return;
	}
	spf_run(c);
}

/* spf_redirect - §6.1: no mechanism matched and there is no "all": the
 * result is check_host() of the redirect target (already counted as a
 * DNS term by spf_run). */
void
spf_redirect(struct spf_check *c)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	struct spf_macro_vars v;
	char name[SPF_MACRO_DOMAIN_SIZE], safe[SPF_MACRO_DOMAIN_SIZE];

	if (spf_macro_uses(f->text + f->rec.redirect_off, f->rec.redirect_len,
	    'p') && spf_ptr_needed(c, SPF_RESUME_REDIRECT))
		return;
	spf_vars(c, f, &v);
	if (spf_macro_domain(f->text + f->rec.redirect_off,
	    f->rec.redirect_len, &v, name) != 0) {
		spf_finish(c, SPF_PERMERROR, "redirect=%s: not a usable domain",
		    ascii_copy(safe, sizeof(safe), name));
		return;
	}
	spf_push(c, name, 1);
}

/* spf_exp_cb - the explanation TXT: exactly one record, else none
 * (§6.2: errors here are ignored, the result stays fail). */
static void
spf_exp_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;

	s->q = NULL;
	c->pending--;
	if (res->status != RESOLVER_OK || res->n != 1 ||
	    res->txt_len[0] >= sizeof(c->exp_txt)) {
		spf_finish(c, SPF_FAIL, NULL);
		return;
	}
	memcpy(c->exp_txt, res->txt + res->txt_off[0], res->txt_len[0]);
	c->exp_len = res->txt_len[0];
	spf_exp_text(c);
}

/* spf_exp_start - the result is fail and the deciding record has exp=:
 * fetch the explanation (§6.2). Not a DNS term, not a void lookup. */
void
spf_exp_start(struct spf_check *c)
{
	struct spf_frame *f = &c->frames[0];
	struct spf_macro_vars v;
	char name[SPF_MACRO_DOMAIN_SIZE];

	c->in_exp = 1;
	if (spf_macro_uses(f->text + f->rec.exp_off, f->rec.exp_len, 'p') &&
	    spf_ptr_needed(c, SPF_RESUME_EXP))
		return;
	spf_vars(c, f, &v);
	if (spf_macro_domain(f->text + f->rec.exp_off, f->rec.exp_len, &v,
	    name) != 0 || spf_submit(c, 0, SPF_Q_TXT, name, spf_exp_cb) < 0)
		spf_finish(c, SPF_FAIL, NULL);
}

/* spf_exp_text - expand the explanation TXT; a syntax error drops it. */
void
spf_exp_text(struct spf_check *c)
{
	struct spf_frame *f = &c->frames[0];
	struct spf_macro_vars v;
	char text[SPF_EXPLANATION_MAX + 1];

	if (spf_macro_uses(c->exp_txt, c->exp_len, 'p') &&
	    spf_ptr_needed(c, SPF_RESUME_EXPTEXT))
		return;
	spf_vars(c, f, &v);
	if (spf_macro_exp(c->exp_txt, c->exp_len, &v, text,
	    sizeof(text)) == 0)
		ascii_copy(c->out.explanation, sizeof(c->out.explanation), text);
	spf_finish(c, SPF_FAIL, NULL);
}
