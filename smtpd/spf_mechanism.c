/* spf_mechanism.c - the mechanisms of an SPF record (RFC 7208 §5) evaluated in
 * order on the top frame, and the PTR validation behind "ptr" and %{p}.
 *
 *	spf_run - evaluate the top frame's terms from where it stopped, until
 *		one matches, one waits on DNS, or the end (redirect= or neutral)
 *	spf_term_resume - re-enter the waiting term once %{p} is known
 *	spf_ptr_needed - 1 when the client's validated names must first be
 *		looked up (started; resume says what follows), 0 when known
 *	spf_ptr_pick - the %{p} value for a domain (§7.3), NULL: "unknown"
 *	spf_void - count a void lookup; -1 (check ended) past the limit
 *
 * Limits (§4.6.4): include, a, mx, ptr, exists and redirect= each count as
 * one of SPF_DNS_TERMS_MAX terms, counted when reached; more than 10 MX
 * names is a permerror; only the first 10 PTR names are looked at; more
 * than SPF_VOID_MAX lookups of a term answered NXDOMAIN or with no record
 * is a permerror. The PTR names are looked up once per check and shared
 * by every ptr term and %{p}: that lookup itself is not counted as a term
 * (the term that needs it already is; exp= is never counted).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "resolver.h"
#include "spf_int.h"

static void spf_after(struct spf_check *, int);

/* spf_ip_bits - 1 when the first bits of a and b agree. */
static int
spf_ip_bits(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned i;

	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != b[i])
			return 0;
	return bits == 0 ||
	    ((a[i] ^ b[i]) & (unsigned char)(0xff00u >> bits)) == 0;
}

/* spf_client_in - 1 when the client is in addr/bits of family. */
static int
spf_client_in(const struct spf_check *c, int family, const void *addr,
    unsigned bits)
{
	if (c->ip.ss_family != family)
		return 0;
	if (family == AF_INET)
		return spf_ip_bits((const unsigned char *)&((const struct
		    sockaddr_in *)&c->ip)->sin_addr, addr, bits);
	return spf_ip_bits(((const struct sockaddr_in6 *)&c->ip)->sin6_addr.
	    s6_addr, addr, bits);
}

/* spf_answer_in - 1 when one address of an A/AAAA answer holds the
 * client within the CIDR lengths of t (NULL: exact). */
static int
spf_answer_in(const struct spf_check *c, const struct resolver_result *res,
    const struct spf_term *t)
{
	size_t i;

	for (i = 0; res->status == RESOLVER_OK && i < res->n; i++) {
		const struct sockaddr_storage *ss = &res->addr[i];

		if (ss->ss_family == AF_INET && spf_client_in(c, AF_INET,
		    &((const struct sockaddr_in *)ss)->sin_addr,
		    t != NULL ? t->cidr4 : 32))
			return 1;
		if (ss->ss_family == AF_INET6 && spf_client_in(c, AF_INET6,
		    ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr,
		    t != NULL ? t->cidr6 : 128))
			return 1;
	}
	return 0;
}

/* spf_addr_type - A for an IPv4 client, AAAA for IPv6 (§5.3). */
static int
spf_addr_type(const struct spf_check *c)
{
	return c->ip.ss_family == AF_INET6 ? SPF_Q_AAAA : SPF_Q_A;
}

int
spf_void(struct spf_check *c)
{
	if (++c->out.void_lookups > SPF_VOID_MAX) {
		spf_finish(c, SPF_PERMERROR, "void lookup limit (%d) exceeded",
		    SPF_VOID_MAX);
		return -1;
	}
	return 0;
}

/* spf_name_under - 1 when name is domain or a subdomain of it. */
static int
spf_name_under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (d == 0 || n < d || strcasecmp(name + n - d, domain) != 0)
		return 0;
	return n == d || name[n - d - 1] == '.';
}

/* spf_ptr_pick - §7.3 "p": the validated name equal to domain, else one
 * under it, else any validated one; NULL ("unknown") when none. */
const char *
spf_ptr_pick(const struct spf_check *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->nptr; i++)
		if (c->ptr_valid[i] && strcasecmp(c->ptr_names[i], domain) == 0)
			return c->ptr_names[i];
	for (i = 0; i < c->nptr; i++)
		if (c->ptr_valid[i] && spf_name_under(c->ptr_names[i], domain))
			return c->ptr_names[i];
	for (i = 0; i < c->nptr; i++)
		if (c->ptr_valid[i])
			return c->ptr_names[i];
	return NULL;
}

/* spf_ptr_done - the validated names are known: go on where we were. */
static void
spf_ptr_done(struct spf_check *c)
{
	c->ptr_state = 2;
	switch (c->ptr_resume) {
	case SPF_RESUME_TERM:
		spf_term_resume(c);
		break;
	case SPF_RESUME_REDIRECT:
		spf_redirect(c);
		break;
	case SPF_RESUME_EXP:
		spf_exp_start(c);
		break;
	case SPF_RESUME_EXPTEXT:
		spf_exp_text(c);
		break;
	}
}

/* spf_ptrv_cb - the addresses of one PTR name: validated when one is
 * the client (§5.5); a DNS error just skips the name. */
static void
spf_ptrv_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;

	s->q = NULL;
	c->pending--;
	c->ptr_valid[s - c->slots] = spf_answer_in(c, res, NULL);
	if (c->pending == 0)
		spf_ptr_done(c);
}

/* spf_ptr_cb - the client's PTR names: the first 10 are validated in
 * parallel (§4.6.4: the others are ignored). */
static void
spf_ptr_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;
	size_t i;

	s->q = NULL;
	c->pending--;
	c->ptr_status = res->status;
	c->nptr = 0;
	for (i = 0; res->status == RESOLVER_OK && i < res->n &&
	    c->nptr < SPF_NAMES_MAX; i++)
		strlcpy_compat(c->ptr_names[c->nptr++], res->name[i],
		    sizeof(c->ptr_names[0]));
	for (i = 0; i < c->nptr; i++) {
		c->ptr_valid[i] = 0;
		if (!spf_domain_usable(c->ptr_names[i]))
			continue;
		/* a name that cannot be queried is skipped (§5.5) */
		(void)spf_submit(c, i, spf_addr_type(c), c->ptr_names[i],
		    spf_ptrv_cb);
	}
	if (c->pending == 0)
		spf_ptr_done(c);
}

/* spf_ptr_needed - see the summary. */
int
spf_ptr_needed(struct spf_check *c, enum spf_resume resume)
{
	if (c->ptr_state == 2)
		return 0;
	c->ptr_state = 1;
	c->ptr_resume = resume;
	if (spf_submit(c, 0, SPF_Q_PTR, NULL, spf_ptr_cb) < 0) {
		c->ptr_status = RESOLVER_TEMPFAIL;
		c->ptr_state = 2;
		return 0;
	}
	return 1;
}

/* spf_addr_cb - "a" (§5.3) and "exists" (§5.7): the one lookup. */
static void
spf_addr_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;
	struct spf_frame *f = &c->frames[c->depth - 1];
	char buf[sizeof(c->out.problem)], name[SPF_MACRO_DOMAIN_SIZE];

	s->q = NULL;
	c->pending--;
	s->truncated = res->truncated;
	if (res->status == RESOLVER_TEMPFAIL) {
		snprintf(name, sizeof(name), "%s:%.*s",
		    spf_mech_text(f->cur->mech), (int)f->cur->dom_len,
		    f->text + f->cur->dom_off);
		spf_finish(c, SPF_TEMPERROR, "%s", spf_dns_problem(buf,
		    sizeof(buf), s, "A/AAAA", name));
		return;
	}
	if (res->status != RESOLVER_OK) {
		if (spf_void(c) < 0)
			return;
		spf_after(c, 0);
		return;
	}
	/* exists: any A record at all; a: one of them holds the client. */
	spf_after(c, f->cur->mech == SPF_M_EXISTS ? 1 :
	    spf_answer_in(c, res, f->cur));
}

/* spf_mxa_cb - the addresses of one MX name; once all are in, decided in
 * MX order as a sequential evaluation would: an error before a match is
 * a temperror (§5: DNS errors end check_host()). */
static void
spf_mxa_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;
	struct spf_frame *f = &c->frames[c->depth - 1];
	char buf[sizeof(c->out.problem)];
	size_t i;

	s->q = NULL;
	c->pending--;
	s->st = res->status;
	s->truncated = res->truncated;
	s->match = spf_answer_in(c, res, f->cur);
	if (c->pending > 0)
		return;
	for (i = 0; i < c->nbatch; i++) {
		if (c->slots[i].st == RESOLVER_TEMPFAIL) {
			spf_finish(c, SPF_TEMPERROR, "%s", spf_dns_problem(buf,
			    sizeof(buf), &c->slots[i], "A/AAAA", "an MX host"));
			return;
		}
		if (c->slots[i].match) {
			spf_after(c, 1);
			return;
		}
	}
	spf_after(c, 0);
}

/* spf_mx_cb - "mx" (§5.4): the MX names, then their addresses. No
 * implicit MX: a domain without MX records does not match. */
static void
spf_mx_cb(const struct resolver_result *res, void *arg)
{
	struct spf_slot *s = arg;
	struct spf_check *c = s->c;
	char buf[sizeof(c->out.problem)];
	size_t i, n = 0;

	s->q = NULL;
	c->pending--;
	s->truncated = res->truncated;
	if (res->status == RESOLVER_TEMPFAIL) {
		spf_finish(c, SPF_TEMPERROR, "%s", spf_dns_problem(buf,
		    sizeof(buf), s, "MX", "an mx term"));
		return;
	}
	if (res->status != RESOLVER_OK) {
		if (spf_void(c) < 0)
			return;
		spf_after(c, 0);
		return;
	}
	if (res->n > SPF_NAMES_MAX) {
		spf_finish(c, SPF_PERMERROR, "more than %d MX names",
		    SPF_NAMES_MAX);
		return;
	}
	c->nbatch = 0;
	for (i = 0; i < res->n; i++) {
		if (res->mx[i].name[0] == '\0')
			continue;		/* null MX (RFC 7505) */
		n = c->nbatch++;
		if (!spf_domain_usable(res->mx[i].name)) {
			c->slots[n].st = RESOLVER_NXDOMAIN;
			c->slots[n].match = 0;
			continue;
		}
		if (spf_submit(c, n, spf_addr_type(c), res->mx[i].name,
		    spf_mxa_cb) < 0)
			c->slots[n].st = RESOLVER_TEMPFAIL;
	}
	if (c->pending > 0)
		return;
	/* nothing in flight: decide now (no names, or none queryable) */
	for (i = 0; i < c->nbatch; i++)
		if (c->slots[i].st == RESOLVER_TEMPFAIL) {
			spf_finish(c, SPF_TEMPERROR, "cannot query an MX host");
			return;
		}
	spf_after(c, 0);
}

/* spf_term_dns - start the DNS part of f->cur (already counted): 1 or 0
 * when decided at once (match or not), -1 when waiting or ended. */
static int
spf_term_dns(struct spf_check *c, struct spf_frame *f)
{
	const struct spf_term *t = f->cur;
	struct spf_macro_vars v;
	char name[SPF_MACRO_DOMAIN_SIZE], safe[SPF_MACRO_DOMAIN_SIZE];
	char buf[sizeof(c->out.problem)];
	const char *target = f->domain;
	int r, type = SPF_Q_A;
	size_t i;

	if ((t->mech == SPF_M_PTR || (t->dom_len > 0 &&
	    spf_macro_uses(f->text + t->dom_off, t->dom_len, 'p'))) &&
	    spf_ptr_needed(c, SPF_RESUME_TERM))
		return -1;
	if (t->dom_len > 0) {
		spf_vars(c, f, &v);
		r = spf_macro_domain(f->text + t->dom_off, t->dom_len, &v,
		    name);
		if (r < 0 || (r > 0 && t->mech == SPF_M_INCLUDE)) {
			/* §5.2: check_host() of a malformed name is none,
			 * which include turns into permerror */
			spf_finish(c, SPF_PERMERROR, "include:%s: not a usable "
			    "domain", ascii_copy(safe, sizeof(safe), name));
			return -1;
		}
		if (r > 0)
			return 0;	/* no such name: no match (§4.3) */
		target = name;
	}
	switch (t->mech) {
	case SPF_M_INCLUDE:
		spf_push(c, target, 0);
		return -1;
	case SPF_M_PTR:
		/* §5.5: a PTR lookup error means no match */
		if ((c->ptr_status == RESOLVER_NXDOMAIN ||
		    c->ptr_status == RESOLVER_NODATA) && spf_void(c) < 0)
			return -1;
		for (i = 0; i < c->nptr; i++)
			if (c->ptr_valid[i] &&
			    spf_name_under(c->ptr_names[i], target))
				return 1;
		return 0;
	case SPF_M_MX:
		if (spf_submit(c, 0, SPF_Q_MX, target, spf_mx_cb) == 0)
			return -1;
		type = SPF_Q_MX;
		break;
	case SPF_M_A:
		type = spf_addr_type(c);
		/* FALLTHROUGH */
	case SPF_M_EXISTS:
		/* exists always asks for A, whatever the client (§5.7) */
		if (spf_submit(c, 0, type, target, spf_addr_cb) == 0)
			return -1;
		break;
	default:
		return 0;
	}
	spf_finish(c, SPF_TEMPERROR, "%s", spf_dns_problem(buf, sizeof(buf),
	    &c->slots[0], type == SPF_Q_MX ? "MX" : "A/AAAA", target));
	return -1;
}

/* spf_after - the waiting term of the top frame was decided. */
static void
spf_after(struct spf_check *c, int match)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	const struct spf_term *t = f->cur;

	f->cur = NULL;
	if (match)
		spf_matched(c, t);
	else
		spf_run(c);
}

void
spf_term_resume(struct spf_check *c)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	int r;

	if ((r = spf_term_dns(c, f)) >= 0)
		spf_after(c, r);
}

/* spf_run - see the summary. */
void
spf_run(struct spf_check *c)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	const struct spf_term *t;
	int r;

	while (!c->finished && f->next < f->rec.nterms) {
		t = &f->rec.terms[f->next++];
		switch (t->mech) {
		case SPF_M_ALL:
			r = 1;
			break;
		case SPF_M_IP4:
			r = spf_client_in(c, AF_INET, t->addr, t->cidr4);
			break;
		case SPF_M_IP6:
			r = spf_client_in(c, AF_INET6, t->addr, t->cidr6);
			break;
		default:
			if (++c->out.dns_terms > SPF_DNS_TERMS_MAX) {
				spf_finish(c, SPF_PERMERROR, "DNS lookup limit "
				    "(%d terms) exceeded", SPF_DNS_TERMS_MAX);
				return;
			}
			f->cur = t;
			if ((r = spf_term_dns(c, f)) < 0)
				return;
			f->cur = NULL;
			break;
		}
		if (r) {
			spf_matched(c, t);
			return;
		}
	}
	if (c->finished)
		return;
	/* §6.1: redirect= only when nothing matched and there is no all */
	if (f->rec.has_redirect && !f->rec.has_all) {
		if (++c->out.dns_terms > SPF_DNS_TERMS_MAX) {
			spf_finish(c, SPF_PERMERROR, "DNS lookup limit "
			    "(%d terms) exceeded", SPF_DNS_TERMS_MAX);
			return;
		}
		spf_redirect(c);
		return;
	}
	spf_frame_done(c, SPF_NEUTRAL);	/* §4.7 */
}
