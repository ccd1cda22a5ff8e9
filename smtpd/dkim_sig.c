/* dkim_sig.c - one DKIM-Signature header field: the tag list, the required
 * tags and the rules between them (RFC 6376 §3.5, §6.1.1).
 *
 *	dkim_sig_parse - parse the whole field (name, colon, value) as of
 *	    time now; DKIM_PASS when usable (verification may go on),
 *	    DKIM_PERMERROR (malformed), or DKIM_POLICY (rsa-sha1, RFC 8301
 *	    §3.1): err says why. The parts shown to users (d=, s=, the
 *	    first characters of b=) are filled as far as they were valid.
 *	dkim_domain_ok - a DNS name of LDH labels (underscore allowed, as in
 *	    selectors), 1..63 octets each, at most 253 in all
 *
 * Every value is checked before it is used: base64 decodes strictly
 * (malformed base64 is a permerror), numbers have bounded digits, names
 * are plain ASCII. d= and s= go into a DNS name; i= and the first
 * characters of b= go into headers and logs, so only printable ASCII
 * survives (anything else is a permerror before they are used).
 */
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "dkim_sig.h"

static enum dkim_result
sig_err(struct dkim_sigparse *p, enum dkim_result r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	return r;
}

/* dkim_domain_ok - see the top of the file. */
int
dkim_domain_ok(const char *s, size_t len)
{
	size_t i, lab = 0;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0;
}

/* number - 1..maxdigits decimal digits; saturates at UINT64_MAX. */
static int
number(const struct dkim_tag *t, size_t maxdigits, uint64_t *out)
{
	size_t i;
	uint64_t v = 0;

	if (t->len == 0 || t->len > maxdigits)
		return -1;
	for (i = 0; i < t->len; i++) {
		unsigned d;

		if (t->val[i] < '0' || t->val[i] > '9')
			return -1;
		d = (unsigned)(t->val[i] - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*out = v;
	return 0;
}

/* canon - c= (§3.5): "h" or "h/b", each simple or relaxed; the body
 * defaults to simple. */
static int
canon(const struct dkim_tag *t, int *h, int *b)
{
	const char *slash = memchr(t->val, '/', t->len);
	size_t hl = slash != NULL ? (size_t)(slash - t->val) : t->len;

	*h = *b = 0;
	if (hl == 7 && memcmp(t->val, "relaxed", 7) == 0)
		*h = 1;
	else if (!(hl == 6 && memcmp(t->val, "simple", 6) == 0))
		return -1;
	if (slash == NULL)
		return 0;
	hl = t->len - hl - 1;
	if (hl == 7 && memcmp(slash + 1, "relaxed", 7) == 0)
		*b = 1;
	else if (!(hl == 6 && memcmp(slash + 1, "simple", 6) == 0))
		return -1;
	return 0;
}

static void
copyval(char *dst, size_t size, const struct dkim_tag *t, int lower)
{
	size_t i, n = t->len < size - 1 ? t->len : size - 1;

	for (i = 0; i < n; i++) {
		char c = t->val[i];

		dst[i] = lower && c >= 'A' && c <= 'Z' ? c + 32 : c;
	}
	dst[n] = '\0';
}

/* field_name_ok - RFC 5322 ftext, at least one. */
static int
field_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 ||
		    s[i] == ':')
			return 0;
	return 1;
}

/* dkim_sig_parse - see the top of the file. */
enum dkim_result
dkim_sig_parse(const char *raw, size_t rawlen, long long now,
    struct dkim_sigparse *p)
{
	static const char *const required[] = { "v", "a", "b", "bh", "d",
	    "h", "s" };
	const char *colon = memchr(raw, ':', rawlen);
	const struct dkim_tag *t;
	const char *el;
	size_t i, k, ellen, pos, nh = 0, at;
	int from = 0;
	uint64_t ts = 0, xs = 0;

	memset(p, 0, offsetof(struct dkim_sigparse, bh));
	p->bhlen = p->siglen = 0;
	p->l = UINT64_MAX;
	if (colon == NULL)
		return sig_err(p, DKIM_PERMERROR, "not a header field");
	/* the field's own line end is not part of the tag list */
	if (rawlen > 0 && raw[rawlen - 1] == '\n')
		rawlen--;
	if (rawlen > 0 && raw[rawlen - 1] == '\r')
		rawlen--;
	if (dkim_tags_parse(colon + 1, rawlen - (size_t)(colon + 1 - raw),
	    &p->tags) < 0)
		return sig_err(p, DKIM_PERMERROR, "bad tag list: %s",
		    p->tags.err);
	/* d= and s= first, so that even a bad signature can be named */
	if ((t = dkim_tag_get(&p->tags, "d")) != NULL &&
	    dkim_domain_ok(t->val, t->len))
		copyval(p->d, sizeof(p->d), t, 1);
	if ((t = dkim_tag_get(&p->tags, "s")) != NULL &&
	    dkim_domain_ok(t->val, t->len))
		copyval(p->s, sizeof(p->s), t, 0);
	if ((t = dkim_tag_get(&p->tags, "b")) != NULL) {
		for (i = 0, k = 0; i < t->len && k < 8; i++)
			if (t->val[i] > ' ' && t->val[i] < 0x7f)
				p->b8[k++] = t->val[i];
		p->b8[k] = '\0';
	}
	if ((t = dkim_tag_get(&p->tags, "a")) != NULL && t->len <
	    sizeof(p->algorithm))
		for (i = 0; i < t->len; i++)
			p->algorithm[i] = t->val[i] >= ' ' &&
			    t->val[i] < 0x7f ? t->val[i] : '?';
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (dkim_tag_get(&p->tags, required[i]) == NULL)
			return sig_err(p, DKIM_PERMERROR, "no %s= tag",
			    required[i]);
	t = dkim_tag_get(&p->tags, "v");
	if (!(t->len == 1 && t->val[0] == '1'))
		return sig_err(p, DKIM_PERMERROR, "v= is not 1");
	t = dkim_tag_get(&p->tags, "a");
	if (t->len == 10 && memcmp(t->val, "rsa-sha256", 10) == 0)
		p->alg = DKIM_ALG_RSA_SHA256;
	else if (t->len == 14 && memcmp(t->val, "ed25519-sha256", 14) == 0)
		p->alg = DKIM_ALG_ED25519_SHA256;
	else if (t->len == 8 && memcmp(t->val, "rsa-sha1", 8) == 0)
		p->alg = DKIM_ALG_RSA_SHA1;
	else
		return sig_err(p, DKIM_PERMERROR, "unknown algorithm");
	p->b = dkim_tag_get(&p->tags, "b");
	if (dkim_b64_decode(p->b->val, p->b->len, p->sig, sizeof(p->sig),
	    &p->siglen) < 0 || p->siglen == 0)
		return sig_err(p, DKIM_PERMERROR, "b= is not base64 or too "
		    "long");
	t = dkim_tag_get(&p->tags, "bh");
	if (dkim_b64_decode(t->val, t->len, p->bh, sizeof(p->bh),
	    &p->bhlen) < 0)
		return sig_err(p, DKIM_PERMERROR, "bh= is not base64 or too "
		    "long");
	if ((t = dkim_tag_get(&p->tags, "c")) != NULL &&
	    canon(t, &p->hrelaxed, &p->brelaxed) < 0)
		return sig_err(p, DKIM_PERMERROR, "unknown canonicalization");
	t = dkim_tag_get(&p->tags, "d");
	if (!dkim_domain_ok(t->val, t->len))
		return sig_err(p, DKIM_PERMERROR, "d= is not a domain name");
	t = dkim_tag_get(&p->tags, "s");
	if (!dkim_domain_ok(t->val, t->len))
		return sig_err(p, DKIM_PERMERROR, "s= is not a selector");
	if (strlen(p->s) + strlen("._domainkey.") + strlen(p->d) >
	    SMTP_DOMAIN_MAX - 2)
		return sig_err(p, DKIM_PERMERROR, "s= and d= too long");
	/* h= (§3.5): colon-separated field names, From among them */
	p->h = dkim_tag_get(&p->tags, "h");
	pos = 0;
	while (pos <= p->h->len && dkim_list_next(p->h->val, p->h->len,
	    &pos, &el, &ellen)) {
		if (++nh > DKIM_H_MAX)
			return sig_err(p, DKIM_PERMERROR, "more than %d names "
			    "in h=", DKIM_H_MAX);
		if (!field_name_ok(el, ellen))
			return sig_err(p, DKIM_PERMERROR, "bad name in h=");
		if (dkim_value_eq(el, ellen, "from"))
			from = 1;
	}
	if (!from)
		return sig_err(p, DKIM_PERMERROR, "From is not signed");
	/* i= (§3.5): [local]@domain, the domain d= or below it */
	if ((t = dkim_tag_get(&p->tags, "i")) != NULL) {
		const char *dom;
		size_t dl, pl = strlen(p->d);

		for (at = t->len; at > 0 && t->val[at - 1] != '@'; at--)
			;
		if (at == 0 || t->len >= sizeof(p->i))
			return sig_err(p, DKIM_PERMERROR, "bad i=");
		dom = t->val + at;
		dl = t->len - at;
		if (!(dl == pl || (dl > pl && dom[dl - pl - 1] == '.')) ||
		    strncasecmp(dom + dl - pl, p->d, pl) != 0)
			return sig_err(p, DKIM_PERMERROR, "i= is not within "
			    "d=");
		for (i = 0; i < t->len; i++)
			if ((unsigned char)t->val[i] < 0x21 ||
			    (unsigned char)t->val[i] > 0x7e)
				return sig_err(p, DKIM_PERMERROR, "bad i=");
		copyval(p->i, sizeof(p->i), t, 0);
	} else
		snprintf(p->i, sizeof(p->i), "@%s", p->d);
	if ((t = dkim_tag_get(&p->tags, "l")) != NULL &&
	    number(t, 76, &p->l) < 0)
		return sig_err(p, DKIM_PERMERROR, "bad l=");
	if ((t = dkim_tag_get(&p->tags, "q")) != NULL) {
		int dns = 0;

		pos = 0;
		while (pos <= t->len && dkim_list_next(t->val, t->len, &pos,
		    &el, &ellen))
			if (dkim_value_eq(el, ellen, "dns/txt"))
				dns = 1;
		if (!dns)
			return sig_err(p, DKIM_PERMERROR, "q= without dns/txt");
	}
	if ((t = dkim_tag_get(&p->tags, "t")) != NULL) {
		if (number(t, 12, &ts) < 0)
			return sig_err(p, DKIM_PERMERROR, "bad t=");
		if ((long long)ts > now + DKIM_T_FUTURE)
			return sig_err(p, DKIM_PERMERROR, "t= in the future");
	}
	if ((t = dkim_tag_get(&p->tags, "x")) != NULL) {
		if (number(t, 12, &xs) < 0)
			return sig_err(p, DKIM_PERMERROR, "bad x=");
		if (dkim_tag_get(&p->tags, "t") != NULL && xs < ts)
			return sig_err(p, DKIM_PERMERROR, "x= before t=");
		if ((long long)xs + DKIM_X_SLOP < now)
			return sig_err(p, DKIM_PERMERROR, "signature expired");
	}
	/* RFC 8301 §3.1: rsa-sha1 MUST NOT be used for verifying. */
	if (p->alg == DKIM_ALG_RSA_SHA1)
		return sig_err(p, DKIM_POLICY, "rsa-sha1 (RFC 8301)");
	return DKIM_PASS;
}
