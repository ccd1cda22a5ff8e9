/* fuzz_spf.c - libFuzzer harness for the SPF record parser (spf_record.c)
 * and the macro expander (spf_macro.c), fed what DNS could return.
 *
 *	LLVMFuzzerTestOneInput - parse/expand one input, check invariants
 *
 * The first input byte picks the client (IPv4 or IPv6) and whether the
 * rest is taken as a record ("v=spf1 " is prepended when it lacks one)
 * or as a bare macro string (domain-spec and explanation). Invariants:
 *   - spf_record_parse() returns 0 or -1; on -1 no terms are kept and
 *     the error is set; on 0 every term's offsets lie inside the record,
 *     CIDR lengths are in range, at most one term per two octets;
 *   - every domain-spec of a parsed record passes spf_macro_check() and
 *     expands (spf_macro_domain) to 0 with a usable name of at most 253
 *     octets, or to 1; never to -1;
 *   - spf_macro_exp() never writes past its buffer, and its result is
 *     NUL-terminated within it; check and expansion agree on syntax.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spf_macro.h"
#include "spf_record.h"

static struct sockaddr_storage fuzz_ip;
static struct spf_macro_vars fuzz_vars;

static void
fuzz_setup(int v6)
{
	memset(&fuzz_ip, 0, sizeof(fuzz_ip));
	if (v6) {
		fuzz_ip.ss_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::cb01",
		    &((struct sockaddr_in6 *)&fuzz_ip)->sin6_addr);
	} else {
		fuzz_ip.ss_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.3",
		    &((struct sockaddr_in *)&fuzz_ip)->sin_addr);
	}
	memset(&fuzz_vars, 0, sizeof(fuzz_vars));
	/* long values, so that expansions hit the bounds */
	fuzz_vars.sender = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z"
	    "-%20+,/_=@email.example.com";
	fuzz_vars.local = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z"
	    "-%20+,/_=";
	fuzz_vars.sdomain = "email.example.com";
	fuzz_vars.domain = "a123456789012345678901234567890123456789012345678901"
	    "23456789.example.com";
	fuzz_vars.client = (struct sockaddr *)&fuzz_ip;
	fuzz_vars.ptr = v6 ? NULL : "mx.example.com";
	fuzz_vars.helo = "JUMPIN' JUPITER\t\x01\xff";
	fuzz_vars.receiver = "";
	fuzz_vars.now = 1700000000;
}

static void
fuzz_domain(const char *s, size_t len)
{
	char out[SPF_MACRO_DOMAIN_SIZE + 8];
	int rc;

	memset(out, 0x55, sizeof(out));
	rc = spf_macro_domain(s, len, &fuzz_vars, out);
	assert(rc == (spf_macro_check(s, len, SPF_MACRO_DOMAIN) < 0 ? -1 :
	    rc));
	assert(out[SPF_MACRO_DOMAIN_SIZE] == 0x55);	/* no overrun */
	if (rc == 0) {
		assert(strlen(out) <= 253);
		assert(spf_domain_usable(out));
	}
}

static void
fuzz_exp(const char *s, size_t len)
{
	char out[64 + 8];
	int rc;

	memset(out, 0x55, sizeof(out));
	rc = spf_macro_exp(s, len, &fuzz_vars, out, 64);
	assert(rc == spf_macro_check(s, len, SPF_MACRO_EXP));
	assert(out[64] == 0x55);
	assert(strnlen(out, 64) < 64);
	(void)spf_macro_check(s, len, SPF_MACRO_MODIFIER);
	(void)spf_macro_uses(s, len, 'p');
}

static void
fuzz_record(const char *s, size_t len)
{
	struct spf_record r;
	size_t i;

	if (spf_record_parse(s, len, &r) < 0) {
		assert(r.terms == NULL && r.nterms == 0);
		assert(r.error[0] != '\0');
		return;
	}
	assert(r.nterms <= len / 2);
	for (i = 0; i < r.nterms; i++) {
		const struct spf_term *t = &r.terms[i];

		assert(t->text_off + t->text_len <= len);
		assert((unsigned)t->mech < SPF_M_LAST);
		assert(t->cidr4 <= 32 && t->cidr6 <= 128);
		if (t->dom_len == 0)
			continue;
		assert(t->dom_off >= t->text_off &&
		    t->dom_off + t->dom_len <= t->text_off + t->text_len);
		assert(spf_macro_check(s + t->dom_off, t->dom_len,
		    SPF_MACRO_DOMAIN) == 0);
		fuzz_domain(s + t->dom_off, t->dom_len);
	}
	if (r.has_redirect)
		fuzz_domain(s + r.redirect_off, r.redirect_len);
	if (r.has_exp)
		fuzz_domain(s + r.exp_off, r.exp_len);
	spf_record_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t len;

	if (size < 1)
		return 0;
	fuzz_setup(data[0] & 1);
	len = size - 1;
	s = malloc(len + 8);
	if (s == NULL)
		return 0;
	if (data[0] & 2) {
		memcpy(s, data + 1, len);
		fuzz_domain(s, len);
		fuzz_exp(s, len);
	} else if (len >= 6 && memcmp(data + 1, "v=spf1", 6) == 0) {
		memcpy(s, data + 1, len);
		fuzz_record(s, len);
	} else {
		memcpy(s, "v=spf1 ", 7);
		memcpy(s + 7, data + 1, len);
		fuzz_record(s, len + 7);
	}
	free(s);
	return 0;
}
