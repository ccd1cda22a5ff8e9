/* msgauth.c - the message authentication of one transaction (DESIGN §8):
 * DKIM while DATA streams in, DMARC after the dot, then the verdict.
 *
 *	msgauth_new - a context for one message; NULL when DKIM and DMARC
 *		are both off, or DKIM off for an exempt client (nothing to do)
 *	msgauth_feed - message octets as stored (LF line ends), in order
 *	msgauth_finish - the dot came: finish DKIM, evaluate DMARC, call back
 *		once from the loop with the verdict
 *	msgauth_free - cancel whatever runs; no callback after it
 *	msgauth_decide - the action a DMARC outcome earns under dmarc_policy
 *	msgauth_keywords - "DKIM DMARC" after the RFC3821 EHLO keyword
 *	msgauth_action_text - "deliver", "junk", "refuse", "tempfail"
 *
 * The header section is captured as it streams (msghdr.c) and handed to
 * the DKIM verifier the moment it is complete, so that key lookups run
 * while the body is still arriving and the body hashes are done at the
 * dot: the client waits only for what is left of the lookups and one
 * signature check per signature. DMARC needs every DKIM verdict, so it
 * starts after them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dkim.h"
#include "dmarc.h"
#include "dmarc_policy.h"
#include "msgauth.h"
#include "msghdr.h"
#include "spf.h"
#include "xmalloc.h"

/* The longest the client waits after its dot for DKIM keys still missing,
 * and again for the DMARC record: RFC 5321 §4.5.3.2.6 gives it 10
 * minutes, but a key server that does not answer in 10 s will not. */
#define MSGAUTH_TIMEOUT	10

struct msgauth {
	const struct conf	*conf;
	struct msghdr_section		 hdr;
	struct dkim_verifier	*dkim;		/* NULL: dkim_verify no */
	int			 headers_given;	/* dkim_headers() called */
	int			 dmarc_on;	/* DMARC is evaluated */
	struct dmarc_check	*dmarc;		/* running */
	struct spf_outcome	 spf;		/* MAIL FROM identity only */
	int			 spf_ok;
	struct msgauth_result	 res;
	msgauth_done_fn		*cb;
	void			*arg;
	int			 in_dkim_cb;	/* dkim.c is on the stack */
	int			 dead;		/* freed meanwhile: free after */
};

static const char *const msgauth_action_names[MSGAUTH_ACTION_LAST] = {
	[MSGAUTH_DELIVER] = "deliver", [MSGAUTH_JUNK] = "junk",
	[MSGAUTH_REFUSE] = "refuse", [MSGAUTH_TEMPFAIL] = "tempfail",
};

const char *
msgauth_action_text(enum msgauth_action a)
{
	return (unsigned)a < MSGAUTH_ACTION_LAST ? msgauth_action_names[a] :
	    "?";
}

/* msgauth_keywords - "DMARC" when its policy is enforced, with "DKIM"
 * before it when DKIM verdicts feed it; the length written. */
size_t
msgauth_keywords(const struct conf *conf, char *buf, size_t len)
{
	int n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (conf->dmarc_policy != POLICY_ENFORCE)
		return 0;
	n = snprintf(buf, len, "%sDMARC", conf->dkim_verify ? "DKIM " : "");
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

/* msgauth_new - NULL when there is nothing to evaluate. An exempt client
 * (exempt_clients skip every policy) gets its signatures verified, for
 * the header, but no DMARC evaluation: nothing would act on it, and a
 * backup MX or a monitor should not cost policy lookups. */
struct msgauth *
msgauth_new(const struct conf *conf, int exempt)
{
	struct msgauth *m;
	int dmarc = conf->dmarc_policy != POLICY_OFF && !exempt;

	if (!conf->dkim_verify && !dmarc)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->conf = conf;
	m->dmarc_on = dmarc;
	msghdr_init(&m->hdr);
	if (conf->dkim_verify)
		m->dkim = dkim_verifier_new(conf->dkim_max_signatures);
	return m;
}

/* msgauth_headers_done - the header section is complete: let DKIM start
 * its key lookups. */
static void
msgauth_headers_done(struct msgauth *m)
{
	if (m->headers_given)
		return;
	m->headers_given = 1;
	if (m->dkim != NULL)
		dkim_headers(m->dkim, &m->hdr);
}

/* msgauth_feed - the header octets go to the capture, the body octets to
 * the body hashes; nothing is kept of the body. */
void
msgauth_feed(struct msgauth *m, const char *buf, size_t len)
{
	size_t n = 0;

	if (m == NULL)
		return;
	if (!m->hdr.done) {
		n = msghdr_feed(&m->hdr, buf, len);
		if (!m->hdr.done)
			return;
		msgauth_headers_done(m);
	}
	if (m->dkim != NULL && n < len)
		dkim_body(m->dkim, buf + n, len - n);
}

/* msgauth_aligned_relaxed - could this message pass DMARC under the most
 * lenient record (relaxed alignment, RFC 7489 §3.1)? Decides what a
 * temperror means: a message that would pass whatever the record says is
 * not held back because the record could not be fetched. */
static int
msgauth_aligned_relaxed(const struct msgauth *m)
{
	const char *from = m->res.from.domain;
	size_t i;

	if (m->res.from.ndomains != 1)
		return 0;
	if (m->spf_ok && m->spf.result == SPF_PASS &&
	    dmarc_aligned(from, m->spf.domain, 0))
		return 1;
	for (i = 0; m->res.dkim_done && i < m->res.dkim.nsig; i++)
		if (m->res.dkim.sig[i].result == DKIM_PASS &&
		    dmarc_aligned(from, m->res.dkim.sig[i].domain, 0))
			return 1;
	return 0;
}

/*
 * msgauth_decide - the action for a DMARC outcome (RFC 7489 §6.6.4,
 * DESIGN §8): a failure under p=reject is refused with 550 5.7.26, under
 * p=quarantine delivered into the quarantine folder, under p=none
 * delivered; pct= has already chosen the disposition. Everything else is
 * delivered. Only dmarc_policy enforce acts; log fills the same fields
 * with enforced 0. temperror is handled by the caller (it needs the SPF
 * and DKIM inputs).
 */
void
msgauth_decide(const struct conf *conf, const struct dmarc_outcome *d,
    struct msgauth_result *r)
{
	r->action = MSGAUTH_DELIVER;
	r->reply[0] = '\0';
	if (d->result == DMARC_FAIL && d->disposition == DMARC_P_REJECT) {
		r->action = MSGAUTH_REFUSE;
		snprintf(r->reply, sizeof(r->reply), "550 5.7.26 DMARC: the "
		    "policy of %s rejects mail it has not authenticated "
		    "(no aligned SPF or DKIM pass)", d->from_domain);
	} else if (d->result == DMARC_FAIL &&
	    d->disposition == DMARC_P_QUARANTINE)
		r->action = MSGAUTH_JUNK;
	r->enforced = r->action != MSGAUTH_DELIVER &&
	    conf->dmarc_policy == POLICY_ENFORCE;
}

/* msgauth_done - hand the verdict to the owner. */
static void
msgauth_done(struct msgauth *m)
{
	m->cb(m->arg, &m->res);
}

/* msgauth_refuse - set a refusal (or a tempfail) with its reply. */
static void PRINTF_LIKE(3, 4)
msgauth_refuse(struct msgauth *m, enum msgauth_action a, const char *fmt,
    ...)
{
	va_list ap;

	m->res.action = a;
	va_start(ap, fmt);
	vsnprintf(m->res.reply, sizeof(m->res.reply), fmt, ap);
	va_end(ap);
	m->res.enforced = m->conf->dmarc_policy == POLICY_ENFORCE;
}

/* msgauth_dkim_unknown - an aligned DKIM signature that could not be
 * checked for want of DNS (its key lookup failed): had it passed, DMARC
 * would have. Its domain, or NULL. */
static const char *
msgauth_dkim_unknown(const struct msgauth *m)
{
	size_t i;

	for (i = 0; m->res.dkim_done && i < m->res.dkim.nsig; i++)
		if (m->res.dkim.sig[i].result == DKIM_TEMPERROR &&
		    m->res.from.ndomains == 1 && dmarc_aligned(
		    m->res.from.domain, m->res.dkim.sig[i].domain, 0))
			return m->res.dkim.sig[i].domain;
	return NULL;
}

/*
 * msgauth_dmarc_cb - the DMARC outcome, and what a forger must not use to
 * escape a p=reject policy: a header section too large to hold whole
 * (Exim's header_maxsize does the same) and a From: that names several
 * domains or stands several times (RFC 7489 §6.6.1 lets us refuse; RFC
 * 5322 §3.6 allows one From: field; Gmail refuses both), are refused;
 * an aligned signature whose key lookup failed is a "try again", not a
 * 5xx that would bounce the domain's genuine mail.
 */
static void
msgauth_dmarc_cb(void *arg, const struct dmarc_outcome *d)
{
	struct msgauth *m = arg;
	const char *dom;

	m->dmarc = NULL;
	m->res.dmarc = *d;
	m->res.dmarc_done = 1;
	msgauth_decide(m->conf, d, &m->res);
	if (m->hdr.overflow) {
		msgauth_refuse(m, MSGAUTH_REFUSE, "552 5.3.4 Header section "
		    "over %u KiB: it cannot be authenticated",
		    (unsigned)(MSGHDR_MAX / 1024));
		msgauth_done(m);
		return;
	}
	if (m->res.from.nfields > 1 || (m->res.from.nfields == 1 &&
	    m->res.from.ndomains > 1)) {
		msgauth_refuse(m, MSGAUTH_REFUSE, "550 5.7.26 DMARC: %s; the "
		    "message cannot be authenticated as one (RFC 7489 "
		    "section 6.6.1)", m->res.from.nfields > 1 ?
		    "several From: fields" : "From: names several domains");
		msgauth_done(m);
		return;
	}
	if (m->res.action == MSGAUTH_REFUSE &&
	    (dom = msgauth_dkim_unknown(m)) != NULL) {
		msgauth_refuse(m, MSGAUTH_TEMPFAIL, "451 4.7.24 DMARC: cannot "
		    "fetch the DKIM key of %s, try again later", dom);
		msgauth_done(m);
		return;
	}
	if (d->result == DMARC_TEMPERROR && !msgauth_aligned_relaxed(m)) {
		/* The record could not be fetched and nothing aligns: a
		 * reject policy may stand behind it. Ask for a retry rather
		 * than deliver what the owner may refuse (DESIGN §8). */
		msgauth_refuse(m, MSGAUTH_TEMPFAIL, "451 4.7.24 DMARC: cannot "
		    "fetch the policy of %s, try again later",
		    d->from_domain[0] != '\0' ? d->from_domain :
		    m->res.from.domain);
	}
	msgauth_done(m);
}

/* msgauth_dmarc - DKIM is done (or off): evaluate DMARC, or finish. */
static void
msgauth_dmarc(struct msgauth *m)
{
	if (!m->dmarc_on) {
		m->res.action = MSGAUTH_DELIVER;
		msgauth_done(m);
		return;
	}
	dmarc_from(&m->hdr, &m->res.from);
	m->dmarc = dmarc_check_start(&m->res.from, m->spf_ok ? &m->spf : NULL,
	    m->res.dkim_done ? &m->res.dkim : NULL, MSGAUTH_TIMEOUT,
	    msgauth_dmarc_cb, m);
}

static void msgauth_destroy(struct msgauth *);

/* msgauth_dkim_cb - the DKIM verdicts. The owner may free us from inside
 * (DMARC off: its callback runs right here), while the verifier is still
 * on the stack: then the free waits until the verifier has returned. */
static void
msgauth_dkim_cb(void *arg, const struct dkim_outcome *o)
{
	struct msgauth *m = arg;

	m->res.dkim = *o;
	m->res.dkim_done = 1;
	m->in_dkim_cb = 1;
	msgauth_dmarc(m);
	m->in_dkim_cb = 0;
	if (m->dead)
		msgauth_destroy(m);
}

/*
 * msgauth_finish - the message is complete. spf is the transaction's SPF
 * outcome or NULL; only a MAIL FROM identity counts for DMARC (RFC 7489
 * §4.2: a HELO pass says nothing of the From: domain). cb runs once, from
 * the loop, unless msgauth_free() comes first.
 */
void
msgauth_finish(struct msgauth *m, const struct spf_outcome *spf,
    msgauth_done_fn *cb, void *arg)
{
	m->cb = cb;
	m->arg = arg;
	if (spf != NULL && spf->identity == SPF_ID_MAILFROM) {
		m->spf = *spf;
		m->spf_ok = 1;
	}
	if (!m->hdr.done)
		msghdr_end(&m->hdr);	/* a message that is all header */
	msgauth_headers_done(m);
	if (m->dkim != NULL)
		dkim_finish(m->dkim, MSGAUTH_TIMEOUT, msgauth_dkim_cb, m);
	else
		msgauth_dmarc(m);
}

static void
msgauth_destroy(struct msgauth *m)
{
	dkim_verifier_free(m->dkim);
	if (m->dmarc != NULL)
		dmarc_check_cancel(m->dmarc);
	msghdr_free(&m->hdr);
	free(m);
}

/* msgauth_free - NULL is fine; no callback after it. */
void
msgauth_free(struct msgauth *m)
{
	if (m == NULL)
		return;
	if (m->in_dkim_cb) {
		if (m->dmarc != NULL)
			dmarc_check_cancel(m->dmarc);
		m->dmarc = NULL;
		m->dead = 1;
		return;
	}
	msgauth_destroy(m);
}
