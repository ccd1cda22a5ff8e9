/* dmarc_from.c - the RFC5322.From domain(s) of a message for DMARC
 * (RFC 7489 §3.1, §6.6.1): the From: fields parsed as address lists.
 *
 *	dmarc_from - count the From: fields of a header section, and the
 *		distinct domains of their addresses (A-labels, lower case)
 *	dmarc_from_value - add the domains of one field value
 *
 * Grammar: RFC 5322 §3.6.2 From = mailbox-list, widened by RFC 6854 to an
 * address-list (groups, an empty group included); §3.4 mailbox =
 * name-addr / addr-spec, display names as phrases (atoms, quoted strings,
 * RFC 5322 §4.1 obs-phrase dots), comments nested to any depth, CFWS and
 * folded lines anywhere between tokens, UTF-8 in atoms and quoted strings
 * (RFC 6532 §3.2). Obsolete forms tolerated because they cannot move the
 * domain: obs-route in angle addresses (§4.4, the route's domains are not
 * counted), empty list elements (§4.4 obs-mbox-list), local parts of
 * several words, CFWS around the dots of a domain (§4.4 obs-domain).
 *
 * Refused (the value is not usable, ndomains 0, problem set): unbalanced
 * quotes, comments or angle brackets, a mailbox without "@domain", an
 * empty "<>", a domain literal (no DNS domain to look up a policy for),
 * a domain that IDNA2008 cannot turn into A-labels, a group inside a
 * group, anything after an address but "," (an unquoted "@" in a display
 * name, "a@b <c@d>", is exactly the ambiguity forgers use to show one
 * domain and have another checked: refusing it is the only safe reading).
 *
 * RFC 7489 §6.6.1 leaves a message with several From: fields, or From:
 * addresses in several domains, to the receiver. We count both here;
 * dmarc_check_start() turns either into permerror ("several From:
 * fields", "From: addresses in several domains"). Several addresses in
 * one domain are one Author Domain and evaluated normally.
 *
 * Bounds: one pass over the header section (at most MSGHDR_MAX octets),
 * no recursion (a group holds mailboxes only), a domain never longer than
 * SMTP_DOMAIN_MAX, distinct domains counted up to DMARC_FROM_COUNT.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "idna.h"
#include "msghdr.h"

enum fp_tok {
	FP_END, FP_ATOM, FP_QSTR, FP_DOT, FP_LT, FP_GT, FP_AT, FP_COMMA,
	FP_COLON, FP_SEMI, FP_LBRACK, FP_BAD
};

/* The parser over one field value. */
struct fp {
	const char		*s;
	size_t			 n, i;
	struct dmarc_from	*f;
	const char		*err;	/* the first error */
	unsigned		 naddr;	/* mailboxes found */
};

static int
fp_error(struct fp *p, const char *why)
{
	if (p->err == NULL)
		p->err = why;
	return -1;
}

/* fp_atext - RFC 5322 §3.2.3 atext, plus RFC 6532 UTF-8 octets. */
static int
fp_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* fp_cfws - skip white space, line ends of folded lines and comments
 * (nested, with quoted pairs: RFC 5322 §3.2.2). -1 on an unbalanced one. */
static int
fp_cfws(struct fp *p)
{
	size_t depth;
	char c;

	while (p->i < p->n) {
		c = p->s[p->i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			p->i++;
			continue;
		}
		if (c != '(')
			return 0;
		depth = 0;
		while (p->i < p->n) {
			c = p->s[p->i++];
			if (c == '\\')
				p->i++;		/* quoted-pair */
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				break;
		}
		if (depth != 0 || p->i > p->n)
			return fp_error(p, "unbalanced comment in From:");
	}
	return 0;
}

/* fp_peek - the next token, after CFWS, not consumed. */
static enum fp_tok
fp_peek(struct fp *p)
{
	unsigned char c;

	if (fp_cfws(p) < 0)
		return FP_BAD;
	if (p->i >= p->n)
		return FP_END;
	c = (unsigned char)p->s[p->i];
	switch (c) {
	case '"': return FP_QSTR;
	case '.': return FP_DOT;
	case '<': return FP_LT;
	case '>': return FP_GT;
	case '@': return FP_AT;
	case ',': return FP_COMMA;
	case ':': return FP_COLON;
	case ';': return FP_SEMI;
	case '[': return FP_LBRACK;
	}
	if (fp_atext(c))
		return FP_ATOM;
	fp_error(p, c == ')' ? "unbalanced comment in From:" :
	    c == ']' ? "unbalanced bracket in From:" :
	    "unexpected character in From:");
	return FP_BAD;
}

/* fp_take - consume the token fp_peek() just returned. -1 when a quoted
 * string has no end. */
static int
fp_take(struct fp *p, enum fp_tok t)
{
	switch (t) {
	case FP_ATOM:
		while (p->i < p->n && fp_atext((unsigned char)p->s[p->i]))
			p->i++;
		return 0;
	case FP_QSTR:
		for (p->i++; p->i < p->n; p->i++) {
			if (p->s[p->i] == '\\')
				p->i++;		/* quoted-pair */
			else if (p->s[p->i] == '"') {
				p->i++;
				return 0;
			}
		}
		p->i = p->n;
		return fp_error(p, "unbalanced quote in From:");
	case FP_END:
	case FP_BAD:
		return -1;
	default:
		p->i++;
		return 0;
	}
}

/* fp_hash - FNV-1a: only to count domains beyond the second. */
static unsigned long long
fp_hash(const char *s)
{
	unsigned long long h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* fp_add - one address's domain (as written): to A-labels, then into
 * the distinct set. Whether there is more than one is decided by exact
 * comparison with the first; hashes only count the rest. */
static int
fp_add(struct fp *p, const char *raw)
{
	struct dmarc_from *f = p->f;
	char a[SMTP_DOMAIN_MAX + 1];
	unsigned long long h;
	int i;

	if (idna_to_alabel(raw, a, sizeof(a)) != 0)
		return fp_error(p, "From: domain is not a valid domain name");
	p->naddr++;
	if (f->ndomains == 0) {
		strlcpy_compat(f->domain, a, sizeof(f->domain));
		f->ndomains = 1;
		return 0;
	}
	if (f->ndomains == 1) {
		if (strcmp(f->domain, a) == 0)
			return 0;
		f->seen[0] = fp_hash(f->domain);
		f->seen[1] = fp_hash(a);
		f->ndomains = 2;
		f->domain[0] = '\0';
		return 0;
	}
	h = fp_hash(a);
	for (i = 0; i < f->ndomains && i < DMARC_FROM_COUNT; i++)
		if (f->seen[i] == h)
			return 0;
	if (f->ndomains < DMARC_FROM_COUNT)
		f->seen[f->ndomains++] = h;
	return 0;
}

/* fp_domain - RFC 5322 §3.4.1 domain as dot-atom (CFWS around the dots
 * tolerated, §4.4); counted when add, else (obs-route) only skipped. */
static int
fp_domain(struct fp *p, int add)
{
	char buf[SMTP_DOMAIN_MAX + 1];
	size_t len = 0, start, w;
	enum fp_tok t;

	t = fp_peek(p);
	if (t == FP_LBRACK)
		return fp_error(p, "domain literal in From:");
	for (;;) {
		if (t != FP_ATOM)
			return t == FP_BAD ? -1 :
			    fp_error(p, "From: address without a domain");
		start = p->i;
		fp_take(p, t);
		w = p->i - start;
		if (len + w + 1 > sizeof(buf))
			return fp_error(p, "From: domain too long");
		memcpy(buf + len, p->s + start, w);
		len += w;
		if ((t = fp_peek(p)) != FP_DOT)
			break;
		fp_take(p, t);
		if (len + 2 > sizeof(buf))
			return fp_error(p, "From: domain too long");
		buf[len++] = '.';
		t = fp_peek(p);
	}
	if (t == FP_BAD)
		return -1;
	buf[len] = '\0';
	return add ? fp_add(p, buf) : 0;
}

/* fp_words - a phrase or local part: words and dots (obs-phrase,
 * obs-local-part); *nwords counts the words. */
static int
fp_words(struct fp *p, unsigned *nwords)
{
	enum fp_tok t;

	*nwords = 0;
	for (;;) {
		t = fp_peek(p);
		if (t == FP_ATOM || t == FP_QSTR)
			(*nwords)++;
		else if (t != FP_DOT)
			return t == FP_BAD ? -1 : 0;
		if (fp_take(p, t) < 0)
			return -1;
	}
}

/* fp_angle - "<" [obs-route] addr-spec ">" (RFC 5322 §3.4, §4.4). */
static int
fp_angle(struct fp *p)
{
	enum fp_tok t;
	unsigned nw;

	fp_take(p, FP_LT);
	t = fp_peek(p);
	if (t == FP_AT || t == FP_COMMA) {
		/* obs-route: "@a.example,@b.example:" */
		for (;;) {
			if ((t = fp_peek(p)) == FP_COMMA) {
				fp_take(p, t);
				continue;
			}
			if (t != FP_AT)
				break;
			fp_take(p, t);
			if (fp_domain(p, 0) < 0)
				return -1;
		}
		if (t != FP_COLON)
			return t == FP_BAD ? -1 :
			    fp_error(p, "bad route in From:");
		fp_take(p, t);
	}
	if (fp_words(p, &nw) < 0)
		return -1;
	t = fp_peek(p);
	if (nw == 0)
		return t == FP_BAD ? -1 : fp_error(p, t == FP_GT ?
		    "empty address <> in From:" : "bad address in From:");
	if (t != FP_AT)
		return t == FP_BAD ? -1 :
		    fp_error(p, "From: address without a domain");
	fp_take(p, t);
	if (fp_domain(p, 1) < 0)
		return -1;
	if ((t = fp_peek(p)) != FP_GT)
		return t == FP_BAD ? -1 :
		    fp_error(p, "unbalanced angle bracket in From:");
	fp_take(p, t);
	return 0;
}

static int fp_address(struct fp *, int);

/* fp_group - after "name:": [group-list] ";" (RFC 5322 §3.4, RFC 6854).
 * Its members are mailboxes: fp_address(p, 1) refuses a nested group,
 * so this recursion is one level deep at most. */
static int
fp_group(struct fp *p)
{
	enum fp_tok t;

	for (;;) {
		t = fp_peek(p);
		if (t == FP_SEMI) {
			fp_take(p, t);
			return 0;
		}
		if (t == FP_COMMA) {
			fp_take(p, t);
			continue;
		}
		if (t == FP_END)
			return fp_error(p, "group without ';' in From:");
		if (fp_address(p, 1) < 0)
			return -1;
		t = fp_peek(p);
		if (t == FP_END)
			return fp_error(p, "group without ';' in From:");
		if (t != FP_COMMA && t != FP_SEMI)
			return t == FP_BAD ? -1 :
			    fp_error(p, "junk after an address in From:");
	}
}

/* fp_address - one mailbox, or (when !in_group) a group. */
static int
fp_address(struct fp *p, int in_group)
{
	enum fp_tok t;
	unsigned nw;

	if (fp_words(p, &nw) < 0)
		return -1;
	switch ((t = fp_peek(p))) {
	case FP_LT:
		return fp_angle(p);
	case FP_COLON:
		if (in_group)
			return fp_error(p, "group inside a group in From:");
		if (nw == 0)
			return fp_error(p, "group without a name in From:");
		fp_take(p, t);
		return fp_group(p);
	case FP_AT:
		if (nw == 0)
			return fp_error(p, "empty local part in From:");
		fp_take(p, t);
		return fp_domain(p, 1);
	case FP_BAD:
		return -1;
	default:
		return fp_error(p, "From: address without a domain");
	}
}

/* dmarc_from_value - see dmarc.h. */
int
dmarc_from_value(const char *s, size_t n, struct dmarc_from *f)
{
	struct fp p;
	enum fp_tok t;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.n = n;
	p.f = f;
	for (;;) {
		t = fp_peek(&p);
		if (t == FP_END)
			break;
		if (t == FP_COMMA) {
			fp_take(&p, t);		/* obs-mbox-list */
			continue;
		}
		if (fp_address(&p, 0) < 0)
			break;
		t = fp_peek(&p);
		if (t != FP_END && t != FP_COMMA) {
			if (t != FP_BAD)
				fp_error(&p, "junk after an address in From:");
			break;
		}
	}
	if (p.err == NULL && p.naddr == 0)
		fp_error(&p, "no address in From:");
	if (p.err != NULL) {
		if (f->problem[0] == '\0')
			strlcpy_compat(f->problem, p.err, sizeof(f->problem));
		return -1;
	}
	return 0;
}

/* dmarc_from - see dmarc.h. Every From: field is parsed: one with an
 * error makes the whole unusable. */
void
dmarc_from(const struct msghdr_section *h, struct dmarc_from *f)
{
	struct msghdr_field fl;
	const char *colon;
	size_t pos = 0, nlen;
	int bad = 0;

	memset(f, 0, sizeof(*f));
	if (h == NULL || h->buf == NULL) {
		strlcpy_compat(f->problem, "no From: field", sizeof(f->problem));
		return;
	}
	/* the fields as msghdr.c splits them, so DKIM and DMARC agree on
	 * what is a field (§4.5 obs-optional: WSP before the colon) */
	while (msghdr_next(h, &pos, &fl)) {
		nlen = fl.namelen;
		while (nlen > 0 && (fl.name[nlen - 1] == ' ' ||
		    fl.name[nlen - 1] == '\t'))
			nlen--;
		if (nlen != 4 || strncasecmp(fl.name, "From", 4) != 0)
			continue;
		colon = memchr(fl.raw + fl.namelen, ':',
		    fl.rawlen - fl.namelen);
		if (colon == NULL)
			continue;
		f->nfields++;
		if (dmarc_from_value(colon + 1, fl.rawlen -
		    (size_t)(colon + 1 - fl.raw), f) < 0)
			bad = 1;
	}
	if (h->overflow) {
		bad = 1;
		strlcpy_compat(f->problem, "header section too large",
		    sizeof(f->problem));
	}
	if (f->nfields == 0) {
		bad = 1;
		strlcpy_compat(f->problem, "no From: field", sizeof(f->problem));
	}
	if (bad) {
		f->ndomains = 0;
		f->domain[0] = '\0';
		return;
	}
	if (f->nfields > 1)
		strlcpy_compat(f->problem, "several From: fields",
		    sizeof(f->problem));
	else if (f->ndomains > 1)
		strlcpy_compat(f->problem, "From: addresses in several domains",
		    sizeof(f->problem));
}
