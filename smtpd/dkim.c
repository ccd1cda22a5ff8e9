/* dkim.c - the life of one message's DKIM verification on the event loop:
 * signatures parsed at the end of the header, keys fetched while the body
 * streams, body hashes shared, verdicts delivered from the loop.
 *
 *	dkim_init - the event base for the verifiers' timers
 *	dkim_verifier_new - a verifier for one message (at most max sigs)
 *	dkim_headers - parse the signatures, hash their headers, start the
 *	    key lookups (TXT <s>._domainkey.<d>, one per distinct name)
 *	dkim_body - body octets into every body hash (one per distinct
 *	    canonicalisation and l=; SHA-256 is the only body hash)
 *	dkim_finish - end the body hashes; verdicts once every key is in or
 *	    the deadline passed (keys still out: temperror); the callback
 *	    from a zero timer, never from inside dkim_finish
 *	dkim_verifier_free - cancel lookups, free (also from the callback)
 *	dkim_result_text - RFC 8601 names
 *
 * Bounds: at most DKIM_SIG_MAX signatures listed, at most max verified
 * (the others neutral); the header section as msghdr keeps it (an
 * overflowing section makes every signature permerror); h= at most
 * DKIM_H_MAX names; keys at most 16384 bits (OpenSSL's limit; one such
 * RSA verification costs about a millisecond, since DKIM keys use small
 * public exponents and OpenSSL refuses exponents over 64 bits for large
 * moduli); time bounded by dkim_finish's timeout.
 *
 * Order of checks per signature (RFC 6376 §6.1): the signature's own
 * syntax (§6.1.1), the key (§6.1.2: missing, revoked, malformed, wrong
 * type, t=s), the body hash (§6.1.3), RFC 8301's key size, then b=.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "dkim.h"
#include "dkim_canon.h"
#include "dkim_hash.h"
#include "dkim_key.h"
#include "dkim_sig.h"
#include "log.h"
#include "msghdr.h"
#include "resolver.h"
#include "xmalloc.h"

static struct event_base *dkim_base;

static const char *const dkim_names[DKIM_RESULT_LAST] = {
	[DKIM_NONE] = "none", [DKIM_PASS] = "pass", [DKIM_FAIL] = "fail",
	[DKIM_POLICY] = "policy", [DKIM_NEUTRAL] = "neutral",
	[DKIM_TEMPERROR] = "temperror", [DKIM_PERMERROR] = "permerror",
};

/* One body hash, shared by the signatures with the same body
 * canonicalisation and l=. */
struct dkim_bh {
	int		 relaxed;
	uint64_t	 limit;
	EVP_MD_CTX	*md;
	struct dkim_body body;
	unsigned char	 digest[DKIM_HASH_LEN];
};

/* One key lookup, shared by the signatures naming the same key. */
struct dkim_keyq {
	struct dkim_verifier *v;
	char		 name[SMTP_DOMAIN_MAX + 1];
	struct resolver_query *q;
	int		 done;
	enum dkim_result fail;		/* DKIM_PASS: key usable */
	char		 err[96];
	struct dkim_key	 key;
};

struct dkim_one {
	int		 verify;	/* still to be verified */
	size_t		 bh, kq;
	int		 strict_ok;	/* i= domain is d= exactly */
	int		 alg_ed25519;
	unsigned char	 hhash[DKIM_HASH_LEN];
	unsigned char	 bhv[DKIM_BH_MAX];
	size_t		 bhlen;
	unsigned char	 sig[DKIM_B_MAX];
	size_t		 siglen;
};

struct dkim_verifier {
	unsigned	 max;
	int		 headers, finishing, finished;
	double		 t0;
	struct dkim_outcome out;
	struct dkim_one	 one[DKIM_SIG_MAX];
	struct dkim_bh	 bh[DKIM_SIG_MAX];
	size_t		 nbh;
	struct dkim_keyq kq[DKIM_SIG_MAX];
	size_t		 nkq;
	size_t		 pending;
	struct event	*ev_defer, *ev_deadline;
	dkim_done_fn	*fn;
	void		*arg;
};

const char *
dkim_result_text(enum dkim_result r)
{
	return (unsigned)r < DKIM_RESULT_LAST ? dkim_names[r] : "?";
}

void
dkim_init(struct event_base *base)
{
	dkim_base = base;
}


static void
set(struct dkim_sig *s, enum dkim_result r, const char *reason)
{
	s->result = r;
	/* reasons are our own texts, made printable anyway */
	ascii_copy(s->reason, sizeof(s->reason), reason);
}

static void defer_cb(evutil_socket_t, short, void *);
static void deadline_cb(evutil_socket_t, short, void *);

struct dkim_verifier *
dkim_verifier_new(unsigned max)
{
	struct dkim_verifier *v = xcalloc(1, sizeof(*v));

	v->max = max < DKIM_SIG_MAX ? max : DKIM_SIG_MAX;
	v->ev_defer = evtimer_new(dkim_base, defer_cb, v);
	v->ev_deadline = evtimer_new(dkim_base, deadline_cb, v);
	if (v->ev_defer == NULL || v->ev_deadline == NULL) {
		log_crit("dkim: cannot create timers");
		exit(1);
	}
	return v;
}

static void
md_sink(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/* body_state - the body hash for (relaxed, limit), made on first use. */
static size_t
body_state(struct dkim_verifier *v, int relaxed, uint64_t limit)
{
	struct dkim_bh *b;
	size_t i;

	for (i = 0; i < v->nbh; i++)
		if (v->bh[i].relaxed == relaxed && v->bh[i].limit == limit)
			return i;
	b = &v->bh[v->nbh];
	b->relaxed = relaxed;
	b->limit = limit;
	if ((b->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		log_crit("dkim: no SHA-256");
		exit(1);
	}
	dkim_body_init(&b->body, relaxed, limit, md_sink, b->md);
	return v->nbh++;
}

static void key_cb(const struct resolver_result *, void *);

/* key_lookup - the lookup for s._domainkey.d, started on first use. */
static size_t
key_lookup(struct dkim_verifier *v, const char *s, const char *d)
{
	struct dkim_keyq *k;
	char name[SMTP_DOMAIN_MAX + 1];
	size_t i;

	/* dkim_sig_parse bounded s and d so that the name fits */
	if ((size_t)snprintf(name, sizeof(name), "%s._domainkey.%s", s, d) >=
	    sizeof(name))
		name[0] = '\0';
	for (i = 0; i < v->nkq; i++)
		if (strcasecmp(v->kq[i].name, name) == 0)
			return i;
	k = &v->kq[v->nkq];
	k->v = v;
	memcpy(k->name, name, sizeof(name));
	k->q = resolver_txt(name, key_cb, k);
	if (k->q == NULL) {
		k->done = 1;
		k->fail = DKIM_TEMPERROR;
		snprintf(k->err, sizeof(k->err), "key lookup not started");
	} else
		v->pending++;
	return v->nkq++;
}

/* dkim_headers - see the top of the file. */
void
dkim_headers(struct dkim_verifier *v, const struct msghdr_section *h)
{
	struct msghdr_field *fields = NULL, f;
	struct dkim_sigparse *p;
	size_t n = 0, cap = 0, pos = 0, i;
	long long now = (long long)time(NULL);

	if (v->headers)
		return;
	v->headers = 1;
	v->t0 = clock_mono();
	while (msghdr_next(h, &pos, &f)) {
		if (n == cap) {
			cap = cap > 0 ? cap * 2 : 64;
			fields = xreallocarray(fields, cap, sizeof(*fields));
		}
		fields[n++] = f;
	}
	p = xmalloc(sizeof(*p));
	for (i = 0; i < n; i++) {
		struct dkim_sig *s;
		struct dkim_one *o;
		enum dkim_result r;

		if (!(fields[i].namelen == 14 && strncasecmp(fields[i].name,
		    "DKIM-Signature", 14) == 0))
			continue;
		if (v->out.nsig == DKIM_SIG_MAX) {
			v->out.ignored++;
			continue;
		}
		o = &v->one[v->out.nsig];
		s = &v->out.sig[v->out.nsig++];
		r = dkim_sig_parse(fields[i].raw, fields[i].rawlen, now, p);
		memcpy(s->domain, p->d, sizeof(s->domain));
		memcpy(s->selector, p->s, sizeof(s->selector));
		memcpy(s->b8, p->b8, sizeof(s->b8));
		memcpy(s->algorithm, p->algorithm, sizeof(s->algorithm));
		memcpy(s->identity, p->i, sizeof(s->identity));
		if (v->out.nsig > v->max) {
			set(s, DKIM_NEUTRAL, "beyond dkim_max_signatures");
			continue;
		}
		if (h->overflow) {
			set(s, DKIM_PERMERROR, "header section too large");
			continue;
		}
		if (h->malformed) {
			set(s, DKIM_PERMERROR, "malformed header section");
			continue;
		}
		if (r != DKIM_PASS) {
			set(s, r, p->err);
			continue;
		}
		o->verify = 1;
		o->alg_ed25519 = p->alg == DKIM_ALG_ED25519_SHA256;
		{
			const char *at = strrchr(p->i, '@');

			o->strict_ok = at != NULL &&
			    strcasecmp(at + 1, p->d) == 0;
		}
		memcpy(o->bhv, p->bh, p->bhlen);
		o->bhlen = p->bhlen;
		memcpy(o->sig, p->sig, p->siglen);
		o->siglen = p->siglen;
		dkim_header_hash(fields, n, p, &fields[i], o->hhash);
		o->bh = body_state(v, p->brelaxed, p->l);
		o->kq = key_lookup(v, p->s, p->d);
	}
	free(p);
	free(fields);
}

/* dkim_body - see the top of the file. */
void
dkim_body(struct dkim_verifier *v, const char *p, size_t n)
{
	size_t i;

	if (v->finishing)
		return;
	for (i = 0; i < v->nbh; i++)
		dkim_body_feed(&v->bh[i].body, p, n);
}

/* key_cb - the TXT answer: the first record that is a usable key record
 * (RFC 6376 §3.6.2.2 leaves several records undefined; taking the first
 * good one tolerates an unrelated TXT next to the key). */
static void
key_cb(const struct resolver_result *res, void *arg)
{
	struct dkim_keyq *k = arg;
	struct dkim_verifier *v = k->v;
	size_t i;

	k->q = NULL;
	k->done = 1;
	v->pending--;
	if (res->status == RESOLVER_TEMPFAIL) {
		k->fail = DKIM_TEMPERROR;
		snprintf(k->err, sizeof(k->err), "%s DNS answer for the key",
		    res->truncated ? "truncated" : "no");
	} else if (res->status != RESOLVER_OK || res->n == 0) {
		k->fail = DKIM_PERMERROR;
		snprintf(k->err, sizeof(k->err), "no key record");
	} else {
		k->fail = DKIM_PERMERROR;
		for (i = 0; i < res->n; i++) {
			struct dkim_key key;

			if (dkim_key_parse(res->txt + res->txt_off[i],
			    res->txt_len[i], &key) == 0) {
				k->key = key;
				k->fail = DKIM_PASS;
				break;
			}
			if (i == 0)
				memcpy(k->err, key.err, sizeof(k->err));
		}
	}
	if (v->finishing && v->pending == 0 && !v->finished)
		{
		struct timeval zero = { 0, 0 };

		evtimer_add(v->ev_deadline, &zero);
	}
}

/* verdict - one signature whose key lookup ended (or never will). */
static void
verdict(struct dkim_verifier *v, size_t idx)
{
	struct dkim_one *o = &v->one[idx];
	struct dkim_sig *s = &v->out.sig[idx];
	struct dkim_keyq *k = &v->kq[o->kq];
	struct dkim_bh *b = &v->bh[o->bh];
	char why[128];

	if (!k->done) {
		set(s, DKIM_TEMPERROR, "key lookup timed out");
		return;
	}
	if (k->fail != DKIM_PASS) {
		set(s, k->fail, k->err);
		return;
	}
	s->key_bits = k->key.bits;
	s->testing = k->key.testing;
	if (k->key.revoked) {
		set(s, DKIM_PERMERROR, "key revoked");
		return;
	}
	if ((k->key.type == DKIM_KEY_ED25519) != o->alg_ed25519) {
		set(s, DKIM_PERMERROR, "key type does not match a=");
		return;
	}
	if (k->key.strict && !o->strict_ok) {
		set(s, DKIM_PERMERROR, "key t=s and i= is a subdomain");
		return;
	}
	if (o->bhlen != DKIM_HASH_LEN || memcmp(o->bhv, b->digest,
	    DKIM_HASH_LEN) != 0) {
		set(s, DKIM_FAIL, "body hash mismatch");
		return;
	}
	if (k->key.type == DKIM_KEY_RSA && k->key.bits < 1024) {
		snprintf(why, sizeof(why), "RSA key of %u bits (RFC 8301)",
		    k->key.bits);
		set(s, DKIM_POLICY, why);
		return;
	}
	if (!dkim_signature_ok(&k->key, o->sig, o->siglen, o->hhash)) {
		set(s, DKIM_FAIL, "signature did not verify");
		return;
	}
	set(s, DKIM_PASS, "");
}

/* conclude - every verdict, then the callback from a zero timer. */
static void
conclude(struct dkim_verifier *v)
{
	size_t i;

	if (v->finished)
		return;
	v->finished = 1;
	evtimer_del(v->ev_deadline);
	for (i = 0; i < v->out.nsig; i++)
		if (v->one[i].verify)
			verdict(v, i);
	for (i = 0; i < v->nkq; i++) {
		resolver_cancel(v->kq[i].q);
		v->kq[i].q = NULL;
	}
	v->pending = 0;
	v->out.duration = v->headers ? clock_mono() - v->t0 : 0;
	{
		struct timeval zero = { 0, 0 };

		evtimer_add(v->ev_defer, &zero);
	}
}

static void
deadline_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	conclude(arg);
}

/* defer_cb - the callback, last: it may free the verifier. */
static void
defer_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct dkim_verifier *v = arg;

	v->fn(v->arg, &v->out);
}

/* dkim_finish - see the top of the file. */
void
dkim_finish(struct dkim_verifier *v, unsigned timeout, dkim_done_fn *fn,
    void *arg)
{
	struct timeval tv = { timeout > 0 ? timeout : 1, 0 };
	unsigned int len;
	size_t i;

	if (v->finishing)
		return;
	v->finishing = 1;
	v->fn = fn;
	v->arg = arg;
	for (i = 0; i < v->nbh; i++) {
		dkim_body_end(&v->bh[i].body);
		EVP_DigestFinal_ex(v->bh[i].md, v->bh[i].digest, &len);
	}
	if (v->pending == 0)
		tv.tv_sec = 0;
	evtimer_add(v->ev_deadline, &tv);
}

/* dkim_verifier_free - see the top of the file. */
void
dkim_verifier_free(struct dkim_verifier *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nkq; i++) {
		resolver_cancel(v->kq[i].q);
		dkim_key_free(&v->kq[i].key);
	}
	for (i = 0; i < v->nbh; i++)
		EVP_MD_CTX_free(v->bh[i].md);
	event_free(v->ev_defer);
	event_free(v->ev_deadline);
	free(v);
}
