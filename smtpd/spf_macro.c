/* spf_macro.c - SPF macro strings (RFC 7208 §7): the syntax check the
 * record parser runs on every domain-spec and modifier, and the expansion.
 *
 *	spf_macro_check - 0 when the text is a valid macro string of its kind
 *		(domain-spec with its domain-end, modifier value, explanation)
 *	spf_macro_uses - 1 when the text holds %{X} for the letter X
 *	spf_macro_domain - expand a domain-spec into a name for a query:
 *		0 (written, at most 253 octets), 1 (no usable DNS name), -1
 *		(syntax error)
 *	spf_macro_exp - expand an explanation, cut to the buffer; 0 or -1
 *	spf_domain_usable - 1 when a name can be queried (labels 1..63)
 *
 * Bounded whatever the record says: each macro's value is at most
 * SPF_VALUE_MAX octets, the output is written into the caller's buffer
 * only (domains keep their right end, §7.3, explanations their left end),
 * and the work is linear in input length times SPF_VALUE_MAX.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "spf_macro.h"

/* A macro value: a sender is at most 256 octets, a name 255. */
#define SPF_VALUE_MAX	512

/* Where expanded octets go: counted always, stored from skip on while
 * there is room (one octet kept for the NUL). */
struct spf_sink {
	char	*buf;
	size_t	 size;
	size_t	 skip;
	size_t	 total;
	size_t	 used;
};

static void
spf_sink_put(struct spf_sink *k, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, k->total++)
		if (k->buf != NULL && k->total >= k->skip &&
		    k->used + 1 < k->size)
			k->buf[k->used++] = p[i];
}

static int
spf_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
spf_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
spf_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* spf_is_delim - the delimiter characters of §7.1. */
static int
spf_is_delim(int c)
{
	return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

/* spf_toplabel_ok - §7.1: ( *alphanum ALPHA *alphanum ) /
 * ( 1*alphanum "-" *( alphanum / "-" ) alphanum ). */
static int
spf_toplabel_ok(const char *s, size_t n)
{
	size_t i;
	int alpha = 0, dash = 0;

	if (n == 0 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '-')
			dash = 1;
		else if (spf_is_alpha(s[i]))
			alpha = 1;
		else if (!spf_is_digit(s[i]))
			return 0;
	}
	return alpha || dash;
}

/* One parsed "%{...}" macro-expand. */
struct spf_macro {
	char		 letter;	/* lower case */
	int		 upper;		/* URL-escape the value */
	unsigned	 digits;	/* 0: all parts */
	int		 reverse;
	const char	*delims;	/* NULL: "." */
	size_t		 ndelims;
};

/* spf_macro_token - read the macro-expand at s[0] == '%'; its length,
 * or 0 on a syntax error. m->letter is 0 for "%%", "%_", "%-" and then
 * lit/litlen hold the literal they stand for. */
static size_t
spf_macro_token(const char *s, size_t len, enum spf_macro_kind kind,
    struct spf_macro *m, const char **lit, size_t *litlen)
{
	size_t i;
	int c;

	memset(m, 0, sizeof(*m));
	if (len < 2)
		return 0;
	switch (s[1]) {
	case '%':
		*lit = "%";
		*litlen = 1;
		return 2;
	case '_':
		*lit = " ";
		*litlen = 1;
		return 2;
	case '-':
		*lit = "%20";
		*litlen = 3;
		return 2;
	case '{':
		break;
	default:
		return 0;	/* §7.1: a lone '%' is a syntax error */
	}
	if (len < 4)
		return 0;
	c = s[2];
	m->letter = (char)spf_lower(c);
	m->upper = c >= 'A' && c <= 'Z';
	if (strchr("slodipvhcrt", m->letter) == NULL || m->letter == '\0')
		return 0;
	/* §7.1: c, r and t are allowed only in explanation text. */
	if (kind == SPF_MACRO_DOMAIN && strchr("crt", m->letter) != NULL)
		return 0;
	i = 3;
	if (i < len && spf_is_digit(s[i])) {
		unsigned v = 0;

		for (; i < len && spf_is_digit(s[i]); i++)
			if ((v = v * 10 + (unsigned)(s[i] - '0')) > 1000)
				v = 1000;	/* all parts, no overflow */
		if (v == 0)
			return 0;	/* §7.1: the value MUST be nonzero */
		m->digits = v;
	}
	if (i < len && (s[i] == 'r' || s[i] == 'R')) {
		m->reverse = 1;
		i++;
	}
	m->delims = s + i;
	for (; i < len && spf_is_delim(s[i]); i++)
		m->ndelims++;
	if (i >= len || s[i] != '}')
		return 0;
	return i + 1;
}

/* spf_macro_value - the raw value of letter into buf (NUL-terminated,
 * cut to SPF_VALUE_MAX). */
static void
spf_macro_value(const struct spf_macro_vars *v, char letter, char *buf)
{
	const char *s = NULL;
	const struct sockaddr *sa = v->client;
	char tmp[64];

	buf[0] = '\0';
	switch (letter) {
	case 's': s = v->sender; break;
	case 'l': s = v->local; break;
	case 'o': s = v->sdomain; break;
	case 'd': s = v->domain; break;
	case 'h': s = v->helo; break;
	case 'p': s = v->ptr != NULL && v->ptr[0] != '\0' ? v->ptr : "unknown";
		break;
	case 'r': s = v->receiver != NULL && v->receiver[0] != '\0' ?
		    v->receiver : "unknown";
		break;
	case 'v':
		s = sa != NULL && sa->sa_family == AF_INET6 ? "ip6" : "in-addr";
		break;
	case 't':
		snprintf(tmp, sizeof(tmp), "%lld", v->now);
		s = tmp;
		break;
	case 'c':
	case 'i':
		if (sa == NULL)
			break;
		if (sa->sa_family == AF_INET) {
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)sa)->sin_addr, tmp, sizeof(tmp));
			s = tmp;
		} else if (sa->sa_family == AF_INET6 && letter == 'c') {
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)sa)->sin6_addr, tmp, sizeof(tmp));
			s = tmp;
		} else if (sa->sa_family == AF_INET6) {
			/* §7.3: IPv6 "i" is dot-separated nibbles. Upper
			 * case hex, as the OpenSPF suite expects in exp=
			 * text (v-macro-ip6); DNS names ignore case. */
			const unsigned char *a = ((const struct sockaddr_in6 *)
			    (const void *)sa)->sin6_addr.s6_addr;
			size_t k, o = 0;

			for (k = 0; k < 16; k++) {
				buf[o++] = "0123456789ABCDEF"[a[k] >> 4];
				buf[o++] = '.';
				buf[o++] = "0123456789ABCDEF"[a[k] & 15];
				buf[o++] = k < 15 ? '.' : '\0';
			}
			return;
		}
		break;
	}
	if (s != NULL) {
		size_t n = strnlen(s, SPF_VALUE_MAX);

		memcpy(buf, s, n);
		buf[n] = '\0';
	}
}

/* spf_macro_emit - transform (§7.3: split on the delimiters, reverse,
 * keep the right-most parts, join with ".") and URL-escape when the
 * letter was upper case, into the sink. */
static void
spf_macro_emit(const struct spf_macro *m, const struct spf_macro_vars *v,
    struct spf_sink *k)
{
	char val[SPF_VALUE_MAX + 1], out[SPF_VALUE_MAX + 1];
	size_t start[SPF_VALUE_MAX + 1], plen[SPF_VALUE_MAX + 1];
	size_t n = 0, i, len, first, o = 0;

	spf_macro_value(v, m->letter, val);
	len = strlen(val);
	start[0] = 0;
	for (i = 0; i <= len; i++) {
		int d = i == len ? 1 : m->ndelims == 0 ? val[i] == '.' :
		    memchr(m->delims, val[i], m->ndelims) != NULL;

		if (d) {
			plen[n] = i - start[n];
			n++;
			if (i < len)
				start[n] = i + 1;
		}
	}
	first = m->digits != 0 && m->digits < n ? n - m->digits : 0;
	for (i = first; i < n; i++) {
		size_t p = m->reverse ? n - 1 - i : i;

		if (i > first)
			out[o++] = '.';
		memcpy(out + o, val + start[p], plen[p]);
		o += plen[p];
	}
	if (!m->upper) {
		spf_sink_put(k, out, o);
		return;
	}
	for (i = 0; i < o; i++) {
		unsigned char c = (unsigned char)out[i];
		char esc[4];

		/* RFC 3986 unreserved characters stay. */
		if (spf_is_alpha(c) || spf_is_digit(c) || c == '-' ||
		    c == '.' || c == '_' || c == '~') {
			spf_sink_put(k, out + i, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = "0123456789ABCDEF"[c >> 4];
		esc[2] = "0123456789ABCDEF"[c & 15];
		spf_sink_put(k, esc, 3);
	}
}

/* spf_macro_run - check s as kind and, with v and k given, expand it.
 * 0 or -1 (syntax). */
static int
spf_macro_run(const char *s, size_t len, enum spf_macro_kind kind,
    const struct spf_macro_vars *v, struct spf_sink *k)
{
	struct spf_macro m;
	const char *lit = NULL;
	size_t i = 0, n, litlen = 0, lit_start = 0;
	int ends_macro = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if ((n = spf_macro_token(s + i, len - i, kind, &m,
			    &lit, &litlen)) == 0)
				return -1;
			if (k != NULL && m.letter == 0)
				spf_sink_put(k, lit, litlen);
			else if (k != NULL)
				spf_macro_emit(&m, v, k);
			i += n;
			lit_start = i;
			ends_macro = 1;
			continue;
		}
		/* macro-literal: visible ASCII (%x21-7E); SP in explain-string */
		if (c > 0x7e || c < 0x20 || (c == ' ' && kind != SPF_MACRO_EXP))
			return -1;
		if (k != NULL)
			spf_sink_put(k, s + i, 1);
		i++;
		ends_macro = 0;
	}
	if (kind != SPF_MACRO_DOMAIN || ends_macro)
		return 0;
	/* domain-end = ( "." toplabel [ "." ] ) / macro-expand */
	{
		const char *t = s + lit_start;
		size_t tl = len - lit_start, dot;

		if (tl > 0 && t[tl - 1] == '.')
			tl--;
		for (dot = tl; dot > 0 && t[dot - 1] != '.'; dot--)
			;
		if (dot == 0 || !spf_toplabel_ok(t + dot, tl - dot))
			return -1;
	}
	return 0;
}

/* spf_macro_check - 0 when s is a valid macro string of kind, else -1. */
int
spf_macro_check(const char *s, size_t len, enum spf_macro_kind kind)
{
	return spf_macro_run(s, len, kind, NULL, NULL);
}

/* spf_macro_uses - 1 when s holds a %{X...} macro for letter (lower case
 * given; either case matches). */
int
spf_macro_uses(const char *s, size_t len, char letter)
{
	size_t i;

	for (i = 0; i + 2 < len; i++) {
		if (s[i] != '%')
			continue;
		if (s[i + 1] == '{' && spf_lower(s[i + 2]) == letter)
			return 1;
		i++;		/* "%%{p}" is a literal "%{p}" */
	}
	return 0;
}

/* spf_domain_usable - 1 when name can be sent as a query: 1..253 octets,
 * labels of 1..63 octets (RFC 1035 §2.3.4), no backslash (udns would read
 * it as an escape). A trailing dot must have been removed. */
int
spf_domain_usable(const char *name)
{
	size_t len = strlen(name), i, label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		if (name[i] == '\\')
			return 0;
		if (name[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* spf_macro_domain - expand the domain-spec s for a DNS query into out
 * (SPF_MACRO_DOMAIN_SIZE octets). A trailing dot is dropped, and a result
 * over 253 octets loses labels from the left until it fits (§7.3).
 * 0: out holds a usable name; 1: it does not (empty or long label: the
 * caller treats the name as non-existent, §4.3); -1: syntax error. */
int
spf_macro_domain(const char *s, size_t len, const struct spf_macro_vars *v,
    char *out)
{
	struct spf_sink k;
	size_t n, j;

	/* First pass counts, the second keeps the last 255 octets: the
	 * longest name (253), a dot before it and a trailing dot. */
	memset(&k, 0, sizeof(k));
	k.size = 1;
	if (spf_macro_run(s, len, SPF_MACRO_DOMAIN, v, &k) < 0)
		return -1;
	n = k.total;
	memset(&k, 0, sizeof(k));
	k.buf = out;
	k.size = SPF_MACRO_DOMAIN_SIZE;
	k.skip = n > SPF_MACRO_DOMAIN_SIZE - 1 ? n - (SPF_MACRO_DOMAIN_SIZE - 1)
	    : 0;
	spf_macro_run(s, len, SPF_MACRO_DOMAIN, v, &k);
	out[k.used] = '\0';
	n = k.used;
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
	if (n > 253) {
		for (j = n - 254; j < n && out[j] != '.'; j++)
			;
		if (j >= n) {
			out[0] = '\0';
			return 1;
		}
		memmove(out, out + j + 1, n - j);	/* with the NUL */
	}
	return spf_domain_usable(out) ? 0 : 1;
}

/* spf_macro_exp - expand the explanation s (§6.2) into out (size octets,
 * cut at the end when longer). 0, or -1 on a syntax error (the caller
 * then ignores the explanation). */
int
spf_macro_exp(const char *s, size_t len, const struct spf_macro_vars *v,
    char *out, size_t size)
{
	struct spf_sink k;

	if (size == 0)
		return -1;
	memset(&k, 0, sizeof(k));
	k.buf = out;
	k.size = size;
	out[0] = '\0';
	if (spf_macro_run(s, len, SPF_MACRO_EXP, v, &k) < 0) {
		out[0] = '\0';
		return -1;
	}
	out[k.used] = '\0';
	return 0;
}
