/* addr.c - RFC 5321 §4.1.2 paths: "<local@domain> params" parsed once into
 * an external form (as sent: logs, Return-Path) and an internal one (lookups).
 *
 *	addr_parse - parse the path of MAIL FROM:/RCPT TO:, say where params
 *		start; the domain also in A-label form (ace) for DNS
 *	addr_params - split the ESMTP parameters after the path into KEY[=VALUE]
 *	addr_status_text - a short English reason for an addr_status
 *	addr_domain_valid - is this a syntactically valid ASCII domain name
 *	addr_lower - ASCII lower-case a string in place
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "idna.h"

static const char *const addr_status_names[ADDR_STATUS_LAST] = {
	[ADDR_OK] = "ok",
	[ADDR_ERR_SYNTAX] = "syntax error in path (expected <address>)",
	[ADDR_ERR_MAILBOX] = "malformed address",
	[ADDR_ERR_NULL] = "null address not allowed here",
	[ADDR_ERR_TOOLONG] = "address too long",
	[ADDR_ERR_IDNA] = "domain is not a valid internationalized domain "
	    "name",
};

/*
 * Character classes. We do not use <ctype.h>: its answers depend on the
 * locale, and the SMTP grammar is defined over ASCII octets.
 */
static int
addr_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
addr_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
addr_is_alnum(unsigned char c)
{
	return addr_is_alpha(c) || addr_is_digit(c);
}

/* addr_is_atext - RFC 5322 §3.2.3 atext, as RFC 5321 §4.1.2 uses it */
static int
addr_is_atext(unsigned char c)
{
	return addr_is_alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* addr_is_dcontent - RFC 5321 §4.1.3: printable US-ASCII but [ \ ] */
static int
addr_is_dcontent(unsigned char c)
{
	return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

/*
 * addr_utf8_len - length of the well-formed UTF-8 sequence (RFC 3629 §4)
 * at p, or 0. Overlong forms, surrogates and code points past U+10FFFF are
 * refused, as RFC 6532 §3.1 UTF8-non-ascii requires. We also refuse the C1
 * controls U+0080..U+009F: no real address contains them and they are a
 * classic way to smuggle terminal escapes into logs.
 */
static size_t
addr_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	switch (p[0]) {
	case 0xc2:
		lo = 0xa0;	/* C1 controls */
		break;
	case 0xe0:
		lo = 0xa0;	/* overlong */
		break;
	case 0xed:
		hi = 0x9f;	/* UTF-16 surrogates */
		break;
	case 0xf0:
		lo = 0x90;	/* overlong */
		break;
	case 0xf4:
		hi = 0x8f;	/* past U+10FFFF */
		break;
	}
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * addr_domain_check - RFC 5321 §4.1.2 Domain over s[0..len): dot-separated
 * labels of letters, digits and hyphens, no hyphen at either end of a label,
 * labels of 1..63 octets (RFC 1035 §2.3.4), 255 octets in all (RFC 5321
 * §4.5.3.1.2). With utf8 non-NULL, RFC 6531 §3.3 U-labels are allowed too
 * and *utf8 is set when one is seen; with utf8 NULL the name must be ASCII.
 * XXX U-labels are checked for well-formed UTF-8 only, not for IDNA2008.
 */
static enum addr_status
addr_domain_check(const char *s, size_t len, int *utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, label = 0, n;

	if (len == 0)
		return ADDR_ERR_MAILBOX;
	while (i <= len) {
		if (i == len || u[i] == '.') {
			if (i - label == 0 || i - label > 63)
				return ADDR_ERR_MAILBOX;
			if (u[label] == '-' || u[i - 1] == '-')
				return ADDR_ERR_MAILBOX;
			label = ++i;
			continue;
		}
		if (addr_is_alnum(u[i]) || u[i] == '-') {
			i++;
			continue;
		}
		if (u[i] >= 0x80 && utf8 != NULL &&
		    (n = addr_utf8_len(u + i, len - i)) > 0) {
			*utf8 = 1;
			i += n;
			continue;
		}
		return ADDR_ERR_MAILBOX;
	}
	if (len > SMTP_DOMAIN_MAX)
		return ADDR_ERR_TOOLONG;
	return ADDR_OK;
}

/*
 * addr_literal_check - RFC 5321 §4.1.3 address-literal over s[0..len),
 * brackets included. IPv4 and IPv6 literals are checked with inet_pton().
 * General-address-literal (Standardized-tag ":" dcontent) is refused: no
 * tag is registered that a mail server could deliver to.
 * XXX inet_pton() refuses IPv4 octets with leading zeros ("[001.2.3.4]"),
 * which the Snum rule allows, and accepts "1:2:3:4:5:6:7::", which the
 * IPv6-comp rule (at most 6 groups around "::") does not; both are harmless.
 */
static enum addr_status
addr_literal_check(const char *s, size_t len)
{
	unsigned char bin[16];
	char buf[64];

	if (len < 3 || len - 2 >= sizeof(buf))
		return ADDR_ERR_MAILBOX;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, bin) == 1 ?
		    ADDR_OK : ADDR_ERR_MAILBOX;
	return inet_pton(AF_INET, buf, bin) == 1 ? ADDR_OK : ADDR_ERR_MAILBOX;
}

/*
 * addr_skip_route - RFC 5321 §4.1.2 A-d-l ":" at p, e.g. "@a.example,
 * @b.example:". RFC 5321 §4.1.1.3 says source routes MUST be accepted and
 * SHOULD be ignored, so we check their syntax and drop them. Returns the
 * status and, on success, leaves *pp just after the colon.
 */
static enum addr_status
addr_skip_route(const char **pp)
{
	const char *p = *pp, *q;
	enum addr_status st;
	int utf8 = 0;

	for (;;) {
		if (*p++ != '@')
			return ADDR_ERR_MAILBOX;
		for (q = p; *q != '\0' && *q != ',' && *q != ':' &&
		    *q != '>'; q++)
			;
		if ((st = addr_domain_check(p, (size_t)(q - p), &utf8)) !=
		    ADDR_OK)
			return st;
		p = q;
		if (*p == ':')
			break;
		if (*p != ',')
			return ADDR_ERR_MAILBOX;
		p++;
	}
	*pp = p + 1;
	return ADDR_OK;
}

/*
 * addr_skip_local - RFC 5321 §4.1.2 Local-part at p: a Dot-string of atext
 * atoms or a Quoted-string (qtextSMTP and quoted-pairSMTP), both extended
 * by RFC 6531 §3.3 with UTF-8. Sets *utf8 on a non-ASCII octet and leaves
 * *pp after the local part. An empty quoted string ("") is grammatical
 * but names nobody; we refuse it rather than carry an empty local part.
 */
static enum addr_status
addr_skip_local(const char **pp, int *utf8)
{
	const unsigned char *p = (const unsigned char *)*pp, *start;
	size_t n;

	if (*p == '"') {
		for (p++; *p != '"'; ) {
			if (*p == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (p[1] < 32 || p[1] > 126)
					return ADDR_ERR_MAILBOX;
				p += 2;
			} else if (*p >= 32 && *p <= 126) {
				p++;
			} else if (*p >= 0x80 &&
			    (n = addr_utf8_len(p, strlen((const char *)p))) > 0) {
				*utf8 = 1;
				p += n;
			} else
				return ADDR_ERR_MAILBOX;	/* NUL, CR, LF... */
		}
		if (p == (const unsigned char *)*pp + 1)
			return ADDR_ERR_MAILBOX;
		*pp = (const char *)p + 1;
		return ADDR_OK;
	}
	for (;;) {
		for (start = p; ; ) {
			if (addr_is_atext(*p)) {
				p++;
			} else if (*p >= 0x80 &&
			    (n = addr_utf8_len(p, strlen((const char *)p))) > 0) {
				*utf8 = 1;
				p += n;
			} else
				break;
		}
		if (p == start)
			return ADDR_ERR_MAILBOX;	/* empty atom: ".." */
		if (*p != '.')
			break;
		p++;
	}
	*pp = (const char *)p;
	return ADDR_OK;
}

/* addr_unquote - internal form of a local part: quotes and backslashes of
 * a Quoted-string removed. dst has room for len + 1 bytes. */
static void
addr_unquote(char *dst, const char *src, size_t len)
{
	size_t i, o = 0;

	if (len >= 2 && src[0] == '"') {
		for (i = 1; i < len - 1; i++) {
			if (src[i] == '\\')
				i++;
			dst[o++] = src[i];
		}
	} else {
		memcpy(dst, src, len);
		o = len;
	}
	dst[o] = '\0';
}

/*
 * addr_parse - parse RFC 5321 §4.1.2 Path at s (just after "FROM:" or
 * "TO:"), fill *out and point *rest at the ESMTP parameters (after the ">"
 * and the spaces that follow it). *rest is set only on ADDR_OK. The lengths
 * of RFC 5321 §4.5.3.1 are measured on the octets as sent.
 */
enum addr_status
addr_parse(const char *s, struct mailaddr *out, const char **rest, int flags)
{
	const char *p = s, *lt, *mbox, *at, *dom, *gt;
	enum addr_status st;
	int utf8 = 0;

	memset(out, 0, sizeof(*out));
	if (flags & ADDR_ALLOW_LAX)
		while (*p == ' ')
			p++;
	if (*p != '<' || strchr(p, '>') == NULL)
		return ADDR_ERR_SYNTAX;
	lt = p++;

	if (*p == '>') {
		/* Reverse-path = Path / "<>" (RFC 5321 §4.1.2, bounces). */
		if (!(flags & ADDR_ALLOW_NULL))
			return ADDR_ERR_NULL;
		out->is_null = 1;
		gt = p;
		goto params;
	}
	if (*p == '@' && (st = addr_skip_route(&p)) != ADDR_OK)
		return st;

	mbox = p;
	if ((st = addr_skip_local(&p, &utf8)) != ADDR_OK)
		return st;
	if (*p == '>' && mbox == lt + 1 && p - mbox == 10 &&
	    strncasecmp(mbox, "postmaster", 10) == 0) {
		/* RFC 5321 §4.1.1.3: "<Postmaster>" without a domain, which
		 * RCPT must accept (§4.5.1), and which means nothing in MAIL. */
		if (!(flags & ADDR_ALLOW_POSTMASTER))
			return ADDR_ERR_MAILBOX;
		out->is_postmaster = 1;
		memcpy(out->text, mbox, 10);
		memcpy(out->local, "postmaster", sizeof("postmaster"));
		gt = p;
		goto params;
	}
	if (*p != '@')
		return *p == '\0' ? ADDR_ERR_SYNTAX : ADDR_ERR_MAILBOX;
	at = p++;

	dom = p;
	if (*p == '[') {
		for (p++; addr_is_dcontent((unsigned char)*p); p++)
			;
		if (*p++ != ']')
			return ADDR_ERR_MAILBOX;
		if ((st = addr_literal_check(dom, (size_t)(p - dom))) !=
		    ADDR_OK)
			return st;
	} else {
		while (*p != '\0' && *p != '>')
			p++;
		if ((st = addr_domain_check(dom, (size_t)(p - dom), &utf8)) !=
		    ADDR_OK)
			return st;
	}
	if (*p != '>')
		return *p == '\0' ? ADDR_ERR_SYNTAX : ADDR_ERR_MAILBOX;
	gt = p;

	/* RFC 5321 §4.5.3.1.1, .2 and .3: local part 64, domain 255, the
	 * whole path (brackets and any source route included) 256 octets. */
	if (at - mbox > SMTP_LOCAL_MAX || gt - dom > SMTP_DOMAIN_MAX ||
	    gt - lt + 1 > SMTP_PATH_MAX)
		return ADDR_ERR_TOOLONG;
	memcpy(out->text, mbox, (size_t)(gt - mbox));
	out->text[gt - mbox] = '\0';
	addr_unquote(out->local, mbox, (size_t)(at - mbox));
	memcpy(out->domain, dom, (size_t)(gt - dom));
	out->domain[gt - dom] = '\0';
	addr_lower(out->domain);
	out->utf8 = utf8;
	/* The form every DNS check uses (DESIGN §8): a domain with
	 * U-labels (RFC 6531 §3.3) becomes A-labels, or the address is
	 * refused, never passed unverified. An address literal and an
	 * ASCII domain are their own form. */
	if (idna_is_ascii(out->domain))
		memcpy(out->ace, out->domain, strlen(out->domain) + 1);
	else if (idna_to_alabel(out->domain, out->ace, sizeof(out->ace)) < 0) {
		memset(out, 0, sizeof(*out));
		return ADDR_ERR_IDNA;
	}

params:
	/* RFC 5321 §4.1.2: Mail-parameters follow the path after one SP. */
	p = gt + 1;
	if (*p != '\0' && *p != ' ') {
		memset(out, 0, sizeof(*out));
		return ADDR_ERR_SYNTAX;
	}
	while (*p == ' ')
		p++;
	if (rest != NULL)
		*rest = p;
	return ADDR_OK;
}

/*
 * addr_params - split the ESMTP parameters at rest (as left by addr_parse)
 * into at most max entries of out, *n of them. RFC 5321 §4.1.2:
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), esmtp-value =
 * 1*(%d33-60 / %d62-126), extended by RFC 6531 §3.3 with UTF-8. Runs of
 * spaces between parameters are tolerated. Returns 0, or -1 (and *n = 0)
 * on a malformed parameter, a keyword or value too long for struct
 * addr_param, or more than max parameters.
 */
int
addr_params(const char *rest, struct addr_param *out, size_t max, size_t *n)
{
	const unsigned char *p = (const unsigned char *)rest;
	struct addr_param *ap;
	size_t k = 0, len, u;

	*n = 0;
	while (*p == ' ')
		p++;
	while (*p != '\0') {
		if (k == max || !addr_is_alnum(*p))
			return -1;
		ap = &out[k];
		memset(ap, 0, sizeof(*ap));
		for (len = 0; addr_is_alnum(*p) || *p == '-'; p++) {
			if (len + 1 >= sizeof(ap->key))
				return -1;
			ap->key[len++] = (char)*p;
		}
		if (*p == '=') {
			for (p++, len = 0; *p != '\0' && *p != ' '; ) {
				if (*p >= 0x80)
					u = addr_utf8_len(p,
					    strlen((const char *)p));
				else
					u = (*p > 32 && *p < 127 &&
					    *p != '=') ? 1 : 0;
				if (u == 0 || len + u >= sizeof(ap->value))
					return -1;
				memcpy(ap->value + len, p, u);
				len += u;
				p += u;
			}
			if (len == 0)
				return -1;
		}
		if (*p != ' ' && *p != '\0')
			return -1;
		while (*p == ' ')
			p++;
		k++;
	}
	*n = k;
	return 0;
}

/* addr_status_text - a short English reason, for replies and logs */
const char *
addr_status_text(enum addr_status st)
{
	if ((unsigned)st >= ADDR_STATUS_LAST)
		return "unknown address status";
	return addr_status_names[st];
}

/* addr_domain_valid - 1 if d is a valid ASCII domain name (no trailing
 * dot, no address literal, no U-label), else 0. For config values. */
int
addr_domain_valid(const char *d)
{
	return d != NULL && addr_domain_check(d, strlen(d), NULL) == ADDR_OK;
}

/* addr_lower - ASCII lower-casing in place; other octets are left alone */
void
addr_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}
