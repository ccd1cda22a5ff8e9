/* spf_record.c - the parser of one SPF record (RFC 7208 §4.5, §4.6, §5,
 * §6, and the ABNF of §12): terms, qualifiers, domain-specs, CIDR lengths.
 *
 *	spf_record_is_spf - 1 when a TXT string is an SPF record ("v=spf1"
 *		then SP or end, case-insensitive, §4.5)
 *	spf_record_parse - the whole record into a struct spf_record; 0, or
 *		-1 (permerror, reason in rec->error, nothing to free)
 *	spf_record_free - free the term array
 *	spf_mech_text - a mechanism's name, for logs
 *
 * Strict: any syntax error anywhere is a permerror (§4.6: the record is
 * checked whole before evaluation), including a repeated redirect= or
 * exp= (§6), a modifier with a qualifier, an unknown mechanism, CIDR
 * lengths out of range or with leading zeros, and bad macro strings.
 * Unknown modifiers are checked and ignored (§6). Bounded: at most
 * SPF_RECORD_MAX octets (longer is a permerror), one pass over the text
 * plus one macro check per term, one allocation of the term array.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf_macro.h"
#include "spf_record.h"
#include "xmalloc.h"

static const char *const spf_mech_names[SPF_M_LAST] = {
	[SPF_M_ALL] = "all", [SPF_M_INCLUDE] = "include", [SPF_M_A] = "a",
	[SPF_M_MX] = "mx", [SPF_M_PTR] = "ptr", [SPF_M_IP4] = "ip4",
	[SPF_M_IP6] = "ip6", [SPF_M_EXISTS] = "exists",
};

const char *
spf_mech_text(enum spf_mech m)
{
	return (unsigned)m < SPF_M_LAST ? spf_mech_names[m] : "?";
}

/* spf_record_is_spf - §4.5: "v=spf1" exactly, then SP or the end. */
int
spf_record_is_spf(const char *s, size_t len)
{
	return len >= 6 && strncasecmp(s, "v=spf1", 6) == 0 &&
	    (len == 6 || s[6] == ' ');
}

static int
spf_rec_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
spf_rec_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* spf_parse_len - a CIDR length: 1*DIGIT, no leading zero (as for the
 * octets of ip4-network), at most max. 0 or -1. */
static int
spf_parse_len(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (!spf_rec_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* spf_parse_ip4 - ip4-network (§12): four qnum, no leading zeros. */
static int
spf_parse_ip4(const char *s, size_t n, unsigned char *addr)
{
	size_t i = 0, k, start;
	unsigned v;

	for (k = 0; k < 4; k++) {
		if (k > 0) {
			if (i >= n || s[i] != '.')
				return -1;
			i++;
		}
		start = i;
		for (v = 0; i < n && spf_rec_digit(s[i]) && i - start < 3; i++)
			v = v * 10 + (unsigned)(s[i] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return -1;
		addr[k] = (unsigned char)v;
	}
	return i == n ? 0 : -1;
}

/* spf_split_cidr - the dual-cidr-length at the end of s[0..n): sets the
 * lengths it finds and *dlen to what precedes it. 0, or -1 when a CIDR
 * length is there but invalid (§5.6: out of range is a permerror). */
static int
spf_split_cidr(const char *s, size_t n, size_t *dlen, struct spf_term *t)
{
	size_t k;

	*dlen = n;
	for (k = n; k > 0 && spf_rec_digit(s[k - 1]); k--)
		;
	if (k == n || k == 0 || s[k - 1] != '/')
		return 0;
	if (k >= 2 && s[k - 2] == '/') {
		/* "//" ip6-cidr-length */
		if (spf_parse_len(s + k, n - k, 128, &t->cidr6) < 0)
			return -1;
		n = *dlen = k - 2;
		for (k = n; k > 0 && spf_rec_digit(s[k - 1]); k--)
			;
		if (k == n || k == 0 || s[k - 1] != '/')
			return 0;
	}
	if (spf_parse_len(s + k, n - k, 32, &t->cidr4) < 0)
		return -1;
	*dlen = k - 1;
	return 0;
}

/* spf_parse_mech - one mechanism (qualifier already taken) whose name is
 * s[0..nl) and whose argument (":..." or "/...") is s[nl..n). */
static int
spf_parse_mech(const char *rec, size_t off, size_t nl, size_t n,
    struct spf_term *t, char *err, size_t errlen)
{
	const char *s = rec + off, *arg = s + nl;
	size_t al = n - nl, dlen, m, slash;
	char buf[64];

	for (m = 0; m < SPF_M_LAST; m++)
		if (strlen(spf_mech_names[m]) == nl &&
		    strncasecmp(s, spf_mech_names[m], nl) == 0)
			break;
	if (m == SPF_M_LAST) {
		snprintf(err, errlen, "unknown mechanism");
		return -1;
	}
	t->mech = (enum spf_mech)m;
	t->cidr4 = 32;
	t->cidr6 = 128;
	if (al > 0 && arg[0] != ':' && arg[0] != '/') {
		snprintf(err, errlen, "bad %s mechanism", spf_mech_names[m]);
		return -1;
	}
	switch (t->mech) {
	case SPF_M_ALL:
		if (al != 0)
			goto bad;
		return 0;
	case SPF_M_INCLUDE:
	case SPF_M_EXISTS:
	case SPF_M_PTR:
		if (al == 0 && t->mech == SPF_M_PTR)
			return 0;
		if (al < 2 || arg[0] != ':')
			goto bad;
		t->dom_off = off + nl + 1;
		t->dom_len = al - 1;
		break;
	case SPF_M_A:
	case SPF_M_MX:
		if (al == 0)
			return 0;
		if (spf_split_cidr(arg, al, &dlen, t) < 0)
			goto bad;
		if (arg[0] == '/') {
			if (dlen != 0)
				goto bad;
			return 0;
		}
		if (dlen < 2)
			goto bad;		/* "a:" and "a:/24" */
		t->dom_off = off + nl + 1;
		t->dom_len = dlen - 1;
		break;
	case SPF_M_IP4:
	case SPF_M_IP6:
		if (al < 2 || arg[0] != ':')
			goto bad;
		arg++;
		al--;
		for (slash = 0; slash < al && arg[slash] != '/'; slash++)
			;
		if (t->mech == SPF_M_IP4) {
			if (spf_parse_ip4(arg, slash, t->addr) < 0 ||
			    (slash < al && spf_parse_len(arg + slash + 1,
			    al - slash - 1, 32, &t->cidr4) < 0))
				goto bad;
			return 0;
		}
		if (slash >= sizeof(buf))
			goto bad;
		memcpy(buf, arg, slash);
		buf[slash] = '\0';
		if (inet_pton(AF_INET6, buf, t->addr) != 1 ||
		    (slash < al && spf_parse_len(arg + slash + 1,
		    al - slash - 1, 128, &t->cidr6) < 0))
			goto bad;
		return 0;
	default:
		goto bad;
	}
	if (spf_macro_check(rec + t->dom_off, t->dom_len,
	    SPF_MACRO_DOMAIN) < 0) {
		snprintf(err, errlen, "bad domain-spec in %s",
		    spf_mech_names[m]);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad %s mechanism", spf_mech_names[m]);
	return -1;
}

/* spf_parse_modifier - name=value at rec[off..off+n), name nl long. */
static int
spf_parse_modifier(struct spf_record *r, size_t off, size_t nl, size_t n)
{
	const char *s = r->text + off;
	size_t voff = off + nl + 1, vlen = n - nl - 1;
	int redirect = nl == 8 && strncasecmp(s, "redirect", 8) == 0;
	int exp = nl == 3 && strncasecmp(s, "exp", 3) == 0;

	if (!redirect && !exp) {
		if (spf_macro_check(r->text + voff, vlen,
		    SPF_MACRO_MODIFIER) < 0) {
			snprintf(r->error, sizeof(r->error),
			    "bad macro string in a modifier");
			return -1;
		}
		return 0;
	}
	/* §6: redirect and exp MUST NOT appear more than once each. */
	if ((redirect && r->has_redirect) || (exp && r->has_exp)) {
		snprintf(r->error, sizeof(r->error), "repeated %s=",
		    redirect ? "redirect" : "exp");
		return -1;
	}
	if (spf_macro_check(r->text + voff, vlen, SPF_MACRO_DOMAIN) < 0) {
		snprintf(r->error, sizeof(r->error), "bad domain-spec in %s=",
		    redirect ? "redirect" : "exp");
		return -1;
	}
	if (redirect) {
		r->has_redirect = 1;
		r->redirect_off = voff;
		r->redirect_len = vlen;
	} else {
		r->has_exp = 1;
		r->exp_off = voff;
		r->exp_len = vlen;
	}
	return 0;
}

/* spf_parse_term - one term at rec[off..off+n) (n > 0, no SP in it). */
static int
spf_parse_term(struct spf_record *r, size_t off, size_t n)
{
	const char *s = r->text + off;
	struct spf_term *t = &r->terms[r->nterms];
	size_t i = 0, name;
	int qualified = 0;

	memset(t, 0, sizeof(*t));
	t->qual = SPF_PASS;
	t->text_off = off;
	t->text_len = n;
	switch (s[0]) {
	case '+': t->qual = SPF_PASS; qualified = 1; break;
	case '-': t->qual = SPF_FAIL; qualified = 1; break;
	case '~': t->qual = SPF_SOFTFAIL; qualified = 1; break;
	case '?': t->qual = SPF_NEUTRAL; qualified = 1; break;
	}
	i = name = (size_t)qualified;
	/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	if (i < n && spf_rec_alpha(s[i]))
		for (i++; i < n && (spf_rec_alpha(s[i]) || spf_rec_digit(s[i]) ||
		    s[i] == '-' || s[i] == '_' || s[i] == '.'); i++)
			;
	if (i == name) {
		snprintf(r->error, sizeof(r->error), "bad term");
		return -1;
	}
	if (i < n && s[i] == '=') {
		if (qualified) {
			snprintf(r->error, sizeof(r->error),
			    "qualifier on a modifier");
			return -1;
		}
		return spf_parse_modifier(r, off, i, n);
	}
	if (spf_parse_mech(r->text, off + name, i - name, n - name, t,
	    r->error, sizeof(r->error)) < 0)
		return -1;
	if (t->mech == SPF_M_ALL)
		r->has_all = 1;
	r->nterms++;
	return 0;
}

/* spf_record_parse - parse text[0..len) (an SPF record, see
 * spf_record_is_spf) into r; the text must outlive r. 0, or -1 with
 * r->error set and nothing to free. */
int
spf_record_parse(const char *text, size_t len, struct spf_record *r)
{
	size_t i, start, max = 0;

	memset(r, 0, sizeof(*r));
	r->text = text;
	r->len = len;
	if (!spf_record_is_spf(text, len)) {
		snprintf(r->error, sizeof(r->error), "not an SPF record");
		return -1;
	}
	if (len > SPF_RECORD_MAX) {
		snprintf(r->error, sizeof(r->error), "record too long");
		return -1;
	}
	/* Terms are separated by SP only (§4.6.1): at most one per two
	 * octets after the version. */
	for (i = 6; i < len; i++)
		if (text[i] != ' ' && (i == 6 || text[i - 1] == ' '))
			max++;
	r->terms = max > 0 ? xcalloc(max, sizeof(*r->terms)) : NULL;
	for (i = 6; i < len; ) {
		if (text[i] == ' ') {
			i++;
			continue;
		}
		for (start = i; i < len && text[i] != ' '; i++)
			;
		if (spf_parse_term(r, start, i - start) < 0) {
			free(r->terms);
			r->terms = NULL;
			r->nterms = 0;
			return -1;
		}
	}
	return 0;
}

void
spf_record_free(struct spf_record *r)
{
	if (r == NULL)
		return;
	free(r->terms);
	r->terms = NULL;
	r->nterms = 0;
}
