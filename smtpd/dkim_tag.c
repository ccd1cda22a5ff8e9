/* dkim_tag.c - RFC 6376 §3.2 tag=value lists, parsed strictly, and the
 * value syntaxes DKIM builds on them.
 *
 *	dkim_tags_parse - split a tag-list; 0, or -1 (err says why)
 *	dkim_tag_get - the tag of that name, or NULL
 *	dkim_b64_decode - base64 with FWS anywhere (§3.5 b=, bh=; §3.6.1
 *	    p=); strict alphabet and padding; 0, or -1
 *	dkim_list_next - the next element of a colon-separated list (h=,
 *	    q=, t=, s=, key h=), FWS around it removed; 1, or 0 at the end
 *	dkim_value_eq - a value equal to a word (case-insensitive)
 *
 * Grammar (§3.2): tag-list = tag-spec *( ";" tag-spec ) [ ";" ];
 * tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS];
 * tag-name = ALPHA *ALNUMPUNC; tag-value = [ tval *( 1*(WSP / FWS) tval ) ];
 * tval = 1*VALCHAR; VALCHAR = %x21-3A / %x3C-7E. A duplicate tag makes the
 * whole list invalid. FWS here is WSP, or a line end (LF, or CRLF: the
 * message is stored with LF, DNS text is as published) followed by WSP.
 * Values point into the input: nothing is copied.
 */
#include <string.h>
#include <strings.h>

#include "dkim_tag.h"

static int
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* fws - skip FWS from i; the new index. A line end not followed by WSP is
 * not FWS: left where it is (and is then a syntax error). */
static size_t
fws(const char *s, size_t len, size_t i)
{
	for (;;) {
		if (i < len && wsp(s[i]))
			i++;
		else if (i + 1 < len && s[i] == '\n' && wsp(s[i + 1]))
			i += 2;
		else if (i + 2 < len && s[i] == '\r' && s[i + 1] == '\n' &&
		    wsp(s[i + 2]))
			i += 3;
		else
			return i;
	}
}

static int
alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
valchar(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x21 && u <= 0x7e && u != ';';
}

static int
tags_err(struct dkim_tags *t, const char *why)
{
	size_t n = strlen(why);

	if (n >= sizeof(t->err))
		n = sizeof(t->err) - 1;
	memcpy(t->err, why, n);
	t->err[n] = '\0';
	return -1;
}

/* dkim_tags_parse - see the top of the file. */
int
dkim_tags_parse(const char *s, size_t len, struct dkim_tags *t)
{
	size_t i = 0, j, k;

	t->n = 0;
	t->err[0] = '\0';
	for (;;) {
		struct dkim_tag *g;

		i = fws(s, len, i);
		if (i == len) {
			/* empty list, or a trailing ";" */
			if (t->n == 0)
				return tags_err(t, "empty tag list");
			return 0;
		}
		if (t->n == DKIM_TAGS_MAX)
			return tags_err(t, "too many tags");
		if (!alpha(s[i]))
			return tags_err(t, "bad tag name");
		j = i;
		while (j < len && (alpha(s[j]) || (s[j] >= '0' &&
		    s[j] <= '9') || s[j] == '_'))
			j++;
		g = &t->t[t->n];
		g->name = s + i;
		g->namelen = j - i;
		for (k = 0; k < t->n; k++)
			if (t->t[k].namelen == g->namelen &&
			    memcmp(t->t[k].name, g->name, g->namelen) == 0)
				return tags_err(t, "duplicate tag");
		i = fws(s, len, j);
		if (i == len || s[i] != '=')
			return tags_err(t, "tag without =");
		g->eq = s + i + 1;
		i = fws(s, len, i + 1);
		g->val = s + i;
		g->len = 0;
		/* tval *( FWS tval ), then FWS, then ";" or the end */
		while (i < len && valchar(s[i])) {
			while (i < len && valchar(s[i]))
				i++;
			g->len = (size_t)(s + i - g->val);
			i = fws(s, len, i);
		}
		t->n++;
		if (i == len)
			return 0;
		if (s[i] != ';')
			return tags_err(t, "bad character in tag value");
		i++;
	}
}

/* dkim_tag_get - tag names are case-sensitive (§3.2). */
const struct dkim_tag *
dkim_tag_get(const struct dkim_tags *t, const char *name)
{
	size_t k, n = strlen(name);

	for (k = 0; k < t->n; k++)
		if (t->t[k].namelen == n && memcmp(t->t[k].name, name, n) == 0)
			return &t->t[k];
	return NULL;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* dkim_b64_decode - RFC 2045 base64 with whitespace (FWS, also CR and LF
 * of folded fields) ignored anywhere; at most two "=" and only at the
 * end, a multiple of 4 characters, unused bits zero... not required
 * (RFC 4648 §3.5 lets decoders accept them). Decodes into out (size
 * octets at most); *outlen set. -1 for bad syntax or too long. */
int
dkim_b64_decode(const char *s, size_t len, unsigned char *out, size_t size,
    size_t *outlen)
{
	size_t i, n = 0, chars = 0, pad = 0;
	unsigned long acc = 0;

	*outlen = 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			if (++pad > 2)
				return -1;
			chars++;
			continue;
		}
		if (pad > 0 || (v = b64val(c)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		chars++;
		if (chars % 4 == 0) {
			if (n + 3 > size)
				return -1;
			out[n++] = (unsigned char)(acc >> 16);
			out[n++] = (unsigned char)(acc >> 8);
			out[n++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (chars % 4 != 0)
		return -1;
	/* the padding: "xx==" gives 1 octet, "xxx=" 2 */
	if (pad > 0) {
		size_t data = 4 - pad;	/* sextets in the last group */

		if (data < 2)
			return -1;
		acc <<= 6 * pad;
		if (n + data - 1 > size)
			return -1;
		out[n++] = (unsigned char)(acc >> 16);
		if (data == 3)
			out[n++] = (unsigned char)(acc >> 8);
	}
	*outlen = n;
	return 0;
}

/* dkim_list_next - elements separated by ":" with FWS around them
 * (§3.5 h=: "h=From : To"). *pos starts at 0. Empty elements are
 * returned as such (length 0): the caller decides. */
int
dkim_list_next(const char *s, size_t len, size_t *pos, const char **el,
    size_t *ellen)
{
	size_t i = *pos, j, e;

	if (i > len)
		return 0;
	i = fws(s, len, i);
	j = i;
	while (j < len && s[j] != ':')
		j++;
	e = j;
	while (e > i && (wsp(s[e - 1]) || s[e - 1] == '\n' ||
	    s[e - 1] == '\r'))
		e--;
	*el = s + i;
	*ellen = e - i;
	*pos = j + 1;	/* past the colon; len + 1 at the end */
	return 1;
}

/* dkim_value_eq - value (len octets) equals word, ASCII case-insensitive. */
int
dkim_value_eq(const char *v, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(v, word, len) == 0;
}
