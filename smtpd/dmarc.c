/* dmarc.c - DMARC (RFC 7489) for one message on the event loop: policy
 * discovery through udns, then the decision of dmarc_policy.c.
 *
 *	dmarc_init - the loop, the public suffix list, the sampling PRNG
 *	dmarc_shutdown - free the public suffix list
 *	dmarc_org_domain - the organisational domain (§3.2) through libpsl
 *	dmarc_check_start - evaluate one message; callback once, from the loop
 *	dmarc_check_cancel - forget a check: no callback, everything freed
 *	dmarc_result_text, dmarc_policy_text - names for logs and headers
 *
 * Policy discovery (§6.6.3): TXT at _dmarc.<From domain>; when that holds
 * no DMARC record (NXDOMAIN, NODATA or only other TXT records), TXT at
 * _dmarc.<organisational domain> if it differs. Several v=DMARC1 records
 * at the name asked end discovery: result none (§6.6.3 step 5). A DNS
 * failure is temperror, never a fallback: "no record" must be an answer.
 * One lookup in flight at a time, at most two per message; the whole is
 * bounded by the caller's timeout (temperror past it). Like spf.c, a
 * check ends once, in dmarc_finish(), and the callback comes from a zero
 * timer: never from inside dmarc_check_start(), and nothing of ours is on
 * the stack when the caller frees things from its callback.
 *
 * The From: rules (§6.6.1) are applied before any lookup: no From: field
 * is none; several From: fields, addresses in several domains or an
 * unusable From: are permerror (problem says which).
 */
#include <sys/types.h>
#include <sys/random.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpsl.h>

#include "dkim.h"
#include "dmarc.h"
#include "dmarc_policy.h"
#include "dmarc_record.h"
#include "idna.h"
#include "log.h"
#include "resolver.h"
#include "spf.h"
#include "xmalloc.h"

/* Debian's publicsuffix package (DESIGN §8). */
#define DMARC_PSL_FILE	"/usr/share/publicsuffix/public_suffix_list.dat"

static struct event_base *dmarc_base;
static psl_ctx_t *dmarc_psl_loaded;	/* from the file, ours to free */
static const psl_ctx_t *dmarc_psl;	/* the one in use */
static uint64_t dmarc_prng;

static const char *const dmarc_result_names[DMARC_RESULT_LAST] = {
	[DMARC_NONE] = "none", [DMARC_PASS] = "pass", [DMARC_FAIL] = "fail",
	[DMARC_TEMPERROR] = "temperror", [DMARC_PERMERROR] = "permerror",
};

static const char *const dmarc_policy_names[DMARC_P_LAST] = {
	[DMARC_P_UNSET] = "unset", [DMARC_P_NONE] = "none",
	[DMARC_P_QUARANTINE] = "quarantine", [DMARC_P_REJECT] = "reject",
};

struct dmarc_check {
	struct dmarc_outcome	 out;
	struct spf_outcome	 spf;
	struct dkim_outcome	 dkim;
	int			 have_spf, have_dkim;
	int			 at_org;	/* the lookup is the fallback */
	struct resolver_query	*q;
	struct event		*ev_defer;
	struct event		*ev_deadline;
	dmarc_done_fn		*fn;
	void			*arg;
	unsigned		 timeout;
	double			 t0;
	int			 finished;
	int			 in_done;	/* inside the callback */
};

const char *
dmarc_result_text(enum dmarc_result r)
{
	return (unsigned)r < DMARC_RESULT_LAST ? dmarc_result_names[r] : "?";
}

const char *
dmarc_policy_text(enum dmarc_policy p)
{
	return (unsigned)p < DMARC_P_LAST ? dmarc_policy_names[p] : "?";
}

/* dmarc_next - xorshift64*: pct= sampling needs no cryptography, only
 * draws that an outsider cannot line up with his messages: seeded from
 * getrandom() at init. */
static unsigned
dmarc_next(void)
{
	dmarc_prng ^= dmarc_prng >> 12;
	dmarc_prng ^= dmarc_prng << 25;
	dmarc_prng ^= dmarc_prng >> 27;
	/* 0..99 from the high 32 bits, by multiplication (no modulo bias
	 * worth the name: under 1e-7) */
	return (unsigned)((((dmarc_prng * 2685821657736338717ULL) >> 32) *
	    100) >> 32);
}

/* dmarc_psl_get - the list in use; libpsl's built-in copy until
 * dmarc_init() loaded the system's (so the pure functions work in tests
 * and tools that never call dmarc_init). */
static const psl_ctx_t *
dmarc_psl_get(void)
{
	if (dmarc_psl == NULL)
		dmarc_psl = psl_builtin();
	return dmarc_psl;
}

/* dmarc_init - see dmarc.h. */
int
dmarc_init(struct event_base *base)
{
	struct timespec ts;

	dmarc_base = base;
	if (getrandom(&dmarc_prng, sizeof(dmarc_prng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(dmarc_prng)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		dmarc_prng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20)
		    ^ ((uint64_t)getpid() << 40);
	}
	if (dmarc_prng == 0)
		dmarc_prng = 0x9e3779b97f4a7c15ULL;
	if (dmarc_psl_loaded == NULL)
		dmarc_psl_loaded = psl_load_file(DMARC_PSL_FILE);
	if (dmarc_psl_loaded != NULL) {
		dmarc_psl = dmarc_psl_loaded;
		log_info("dmarc: public suffix list %s (%d rules)",
		    DMARC_PSL_FILE, psl_suffix_count(dmarc_psl));
		return 0;
	}
	dmarc_psl = psl_builtin();
	if (dmarc_psl == NULL || psl_suffix_count(dmarc_psl) <= 0) {
		log_crit("dmarc: no public suffix list: neither %s "
		    "(apt-get install publicsuffix) nor libpsl's built-in one",
		    DMARC_PSL_FILE);
		dmarc_psl = NULL;
		return -1;
	}
	log_warn("dmarc: cannot load %s, using libpsl's built-in public "
	    "suffix list (%d rules)", DMARC_PSL_FILE,
	    psl_suffix_count(dmarc_psl));
	return 0;
}

void
dmarc_shutdown(void)
{
	if (dmarc_psl == dmarc_psl_loaded)
		dmarc_psl = NULL;
	psl_free(dmarc_psl_loaded);
	dmarc_psl_loaded = NULL;
}

/* dmarc_org_domain - see dmarc.h. §3.2: the public suffix plus one
 * label, found by libpsl's longest match with wildcards and exceptions;
 * we hand it A-labels, it has both forms of every IDN rule. */
int
dmarc_org_domain(const char *d, char *out, size_t size)
{
	char a[SMTP_DOMAIN_MAX + 1];
	const psl_ctx_t *psl;
	const char *r;

	if (size > 0)
		out[0] = '\0';
	if (d == NULL || idna_to_alabel(d, a, sizeof(a)) != 0 ||
	    strchr(a, '.') == NULL || (psl = dmarc_psl_get()) == NULL)
		return -1;
	if ((r = psl_registrable_domain(psl, a)) == NULL)
		return -1;		/* a public suffix itself */
	if (strlen(r) >= size)
		return -1;
	strlcpy_compat(out, r, size);
	return 0;
}


static void
dmarc_free(struct dmarc_check *c)
{
	resolver_cancel(c->q);
	c->q = NULL;
	if (c->ev_defer != NULL)
		event_free(c->ev_defer);
	if (c->ev_deadline != NULL)
		event_free(c->ev_deadline);
	free(c);
}

/* dmarc_finish - end the check with result r (why, for none/temperror/
 * permerror); the callback follows from the loop. Once only. */
static void
dmarc_finish(struct dmarc_check *c, enum dmarc_result r, const char *fmt,
    ...) PRINTF_LIKE(3, 4);

static void
dmarc_finish(struct dmarc_check *c, enum dmarc_result r, const char *fmt,
    ...)
{
	struct timeval tv = { 0, 0 };
	char raw[sizeof(c->out.problem)];
	va_list ap;

	if (c->finished)
		return;
	c->finished = 1;
	resolver_cancel(c->q);
	c->q = NULL;
	evtimer_del(c->ev_deadline);
	c->out.result = r;
	if (r != DMARC_PASS && r != DMARC_FAIL) {
		/* no policy applies without a usable record */
		c->out.disposition = DMARC_P_NONE;
		c->out.policy = DMARC_P_UNSET;
	}
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(raw, sizeof(raw), fmt, ap);
		va_end(ap);
		ascii_copy(c->out.problem, sizeof(c->out.problem), raw);
	}
	evtimer_add(c->ev_defer, &tv);
}

static void dmarc_lookup(struct dmarc_check *);

/* dmarc_defer_cb - the zero timer: the start of the check, or its end. */
static void
dmarc_defer_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	struct dmarc_check *c = arg;

	if (!c->finished) {
		dmarc_lookup(c);
		return;
	}
	c->out.duration = clock_mono() - c->t0;
	c->in_done = 1;
	c->fn(c->arg, &c->out);
	dmarc_free(c);
}

static void
dmarc_deadline_cb(evutil_socket_t fd __unused, short what __unused,
    void *arg)
{
	struct dmarc_check *c = arg;

	dmarc_finish(c, DMARC_TEMPERROR, "DMARC evaluation timed out after "
	    "%u s", c->timeout);
}

/* dmarc_no_record - nothing at the name asked: try the organisational
 * domain once (§6.6.3 step 4), else none. */
static void
dmarc_no_record(struct dmarc_check *c)
{
	if (!c->at_org && strcmp(c->out.org_domain, c->out.from_domain) != 0) {
		c->at_org = 1;
		dmarc_lookup(c);
		return;
	}
	dmarc_finish(c, DMARC_NONE, "no DMARC record for %s",
	    c->out.from_domain);
}

/* dmarc_txt_cb - the TXT records at _dmarc.<domain>. */
static void
dmarc_txt_cb(const struct resolver_result *res, void *arg)
{
	struct dmarc_check *c = arg;
	const char *domain = c->at_org ? c->out.org_domain :
	    c->out.from_domain;
	struct dmarc_record rec;
	char why[80];
	size_t i, found = 0, which = 0;

	c->q = NULL;
	if (res->status == RESOLVER_TEMPFAIL) {
		dmarc_finish(c, DMARC_TEMPERROR, "%s DNS answer for TXT "
		    "_dmarc.%s", res->truncated ? "truncated" : "no", domain);
		return;
	}
	for (i = 0; res->status == RESOLVER_OK && i < res->n &&
	    i < RESOLVER_MAX_RR; i++)
		if (dmarc_record_is_dmarc(res->txt + res->txt_off[i],
		    res->txt_len[i])) {
			found++;
			which = i;
		}
	if (found == 0) {
		dmarc_no_record(c);
		return;
	}
	strlcpy_compat(c->out.record_domain, domain,
	    sizeof(c->out.record_domain));
	if (found > 1) {
		/* §6.6.3 step 5: discovery ends, DMARC does not apply */
		dmarc_finish(c, DMARC_NONE, "several DMARC records at _dmarc.%s",
		    domain);
		return;
	}
	if (dmarc_record_parse(res->txt + res->txt_off[which],
	    res->txt_len[which], &rec, why, sizeof(why)) < 0) {
		dmarc_finish(c, DMARC_PERMERROR, "unusable DMARC record at "
		    "_dmarc.%s: %s", domain, why);
		return;
	}
	dmarc_decide(&c->out, &rec, c->at_org, c->have_spf ? &c->spf : NULL,
	    c->have_dkim ? &c->dkim : NULL, dmarc_next());
	if (rec.p_implied)
		dmarc_finish(c, c->out.result, "record without valid p=, "
		    "taken as p=none (rua= given)");
	else
		dmarc_finish(c, c->out.result, NULL);
}

/* dmarc_lookup - TXT _dmarc.<From domain> or, at_org, <org domain>. A
 * name that would be too long for DNS cannot hold a record. */
static void
dmarc_lookup(struct dmarc_check *c)
{
	char name[SMTP_DOMAIN_MAX + 16];
	const char *d = c->at_org ? c->out.org_domain : c->out.from_domain;
	int n;

	n = snprintf(name, sizeof(name), "_dmarc.%s", d);
	if (n < 0 || n > 253) {
		dmarc_no_record(c);
		return;
	}
	c->q = resolver_txt(name, dmarc_txt_cb, c);
	if (c->q == NULL)
		dmarc_finish(c, DMARC_TEMPERROR, "cannot query TXT %s", name);
}

/* dmarc_check_start - see dmarc.h. dmarc_init() must have been called. */
struct dmarc_check *
dmarc_check_start(const struct dmarc_from *from,
    const struct spf_outcome *spf, const struct dkim_outcome *dkim,
    unsigned timeout, dmarc_done_fn *fn, void *arg)
{
	struct dmarc_check *c;
	struct timeval tv = { 0, 0 };

	c = xcalloc(1, sizeof(*c));
	c->fn = fn;
	c->arg = arg;
	c->t0 = clock_mono();
	c->timeout = timeout > 0 ? timeout : 1;
	c->out.result = DMARC_NONE;
	c->out.policy = DMARC_P_UNSET;
	c->out.disposition = DMARC_P_NONE;
	if (spf != NULL) {
		c->spf = *spf;
		c->have_spf = 1;
	}
	if (dkim != NULL) {
		c->dkim = *dkim;
		c->have_dkim = 1;
	}
	c->ev_defer = evtimer_new(dmarc_base, dmarc_defer_cb, c);
	c->ev_deadline = evtimer_new(dmarc_base, dmarc_deadline_cb, c);
	if (c->ev_defer == NULL || c->ev_deadline == NULL) {
		log_crit("dmarc: cannot create timers");
		exit(1);
	}
	/* §6.6.1: one From: field, one Author Domain */
	if (from == NULL || from->nfields == 0) {
		dmarc_finish(c, DMARC_NONE, "no From: field");
		return c;
	}
	if (from->nfields > 1) {
		dmarc_finish(c, DMARC_PERMERROR, "several From: fields");
		return c;
	}
	if (from->ndomains > 1) {
		dmarc_finish(c, DMARC_PERMERROR,
		    "From: addresses in several domains");
		return c;
	}
	if (from->ndomains != 1 || idna_to_alabel(from->domain,
	    c->out.from_domain, sizeof(c->out.from_domain)) != 0) {
		c->out.from_domain[0] = '\0';
		dmarc_finish(c, DMARC_PERMERROR, "%s", from->problem[0] != '\0' ?
		    from->problem : "no usable From: domain");
		return c;
	}
	/* a From domain that is a public suffix (or one label) is its own
	 * organisational domain: one lookup, no fallback */
	if (dmarc_org_domain(c->out.from_domain, c->out.org_domain,
	    sizeof(c->out.org_domain)) < 0)
		strlcpy_compat(c->out.org_domain, c->out.from_domain,
		    sizeof(c->out.org_domain));
	evtimer_add(c->ev_defer, &tv);
	tv.tv_sec = c->timeout;
	evtimer_add(c->ev_deadline, &tv);
	return c;
}

/* dmarc_check_cancel - no callback after this; everything freed. From
 * the check's own callback it is a no-op (freed after it). NULL is
 * fine. */
void
dmarc_check_cancel(struct dmarc_check *c)
{
	if (c == NULL || c->in_done)
		return;
	dmarc_free(c);
}
