/* msghdr.c - the header section of a message captured as the message
 * streams in (LF line ends), and its fields, for DKIM and DMARC's From:.
 *
 *	msghdr_init - an empty header, at the start of the message
 *	msghdr_free - release the buffer (the struct may be reused after init)
 *	msghdr_feed - take bytes; returns how many belong to the header
 *	    section (with the empty line ending it); the rest is body
 *	msghdr_end - the message ended without an empty line: header-only
 *	msghdr_next - the next field from offset *pos; 1, or 0 at the end
 *	msghdr_count - how many fields carry that name (case-insensitive)
 *
 * RFC 5322 §2.1 and §3.5: the header section is the lines before the
 * first empty line; nothing else separates header from body. A line of
 * that section that is neither a field (ftext name, optional WSP, colon:
 * §3.6.8 and obs-optional §4.5.8) nor a continuation of one (a line that
 * starts with WSP after a field, §2.2.3) makes the message malformed: the
 * line still belongs to the header section (so a message whose first line
 * is "hello world" is all header up to its first empty line, and has no
 * body), it is kept in buf but is no field, and the malformed flag is set
 * so that DKIM gives permerror rather than hash a section no signer can
 * have meant. The feed may split anywhere: the line classifier is a small
 * state machine that never looks back into buf, so it works past
 * MSGHDR_MAX as well. Past MSGHDR_MAX nothing more is kept; buf is cut back
 * to the end of the last complete field, so every field it holds is whole.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msghdr.h"
#include "xmalloc.h"

/* Line classifier states (kept in the struct's bol field: bol != 0 means
 * at the start of a line, the other states are stored in hidden bits). */
enum {
	MH_BOL = 1,		/* start of a line */
	MH_NAME = 2,		/* in a field name */
	MH_NAMEWSP = 3,		/* WSP after the name, before the colon */
	MH_VALUE = 4,		/* after the colon, up to LF */
	MH_BAD = 5,		/* in a line that is not a field */
	MH_FIRST = 6,		/* start of the message: no field yet */
};

/* The classifier state and "a field was seen" live in the bol member:
 * low 4 bits the state, bit 4 "the previous line was part of a field" (so
 * a WSP line continues it). The public meaning of bol (non-zero at the
 * start of a line) is kept for MH_BOL and MH_FIRST. */
#define MH_STATE(h)	((h)->bol & 0x0f)
#define MH_INFIELD	0x10
/* Offset in buf where the field being read starts (for the cut on
 * overflow) is not in the struct: it is recomputed from buf, which holds
 * only lines, when needed. */

void
msghdr_init(struct msghdr_section *h)
{
	memset(h, 0, sizeof(*h));
	h->bol = MH_FIRST;
}

void
msghdr_free(struct msghdr_section *h)
{
	free(h->buf);
	h->buf = NULL;
	h->len = h->cap = 0;
}

static int
mh_ftext(unsigned char c)
{
	/* RFC 5322 §3.6.8: printable US-ASCII except colon. */
	return c >= 33 && c <= 126 && c != ':';
}

/* mh_cut - on overflow: drop the trailing incomplete field (from its
 * first line) so that buf holds whole fields only. A field is complete
 * once the next line is seen not to be its continuation; at the cut we
 * cannot know, so the last field is dropped whenever buf does not end
 * with a complete line that the next line (unseen) could not continue. We
 * simply drop the last field: a truncated header is unusable for DKIM
 * anyway, and DMARC's From: is nearly always near the top. */
static void
mh_cut(struct msghdr_section *h)
{
	size_t i = h->len;

	/* back to the start of the last line that begins a field */
	while (i > 0) {
		size_t ls = i - 1;

		while (ls > 0 && h->buf[ls - 1] != '\n')
			ls--;
		if (h->buf[ls] != ' ' && h->buf[ls] != '\t') {
			i = ls;
			break;
		}
		i = ls;
	}
	h->len = i;
}

static void
mh_keep(struct msghdr_section *h, const char *p, size_t n)
{
	if (h->overflow || n == 0)
		return;
	if (n > MSGHDR_MAX - h->len) {
		h->overflow = 1;
		mh_cut(h);
		return;
	}
	if (h->len + n > h->cap) {
		size_t cap = h->cap > 0 ? h->cap : 1024;

		while (cap < h->len + n)
			cap *= 2;
		if (cap > MSGHDR_MAX)
			cap = MSGHDR_MAX;
		h->buf = xreallocarray(h->buf, cap, 1);
		h->cap = cap;
	}
	memcpy(h->buf + h->len, p, n);
	h->len += n;
}

/* msghdr_feed - see the top of the file. */
size_t
msghdr_feed(struct msghdr_section *h, const char *p, size_t n)
{
	size_t i;
	int st, infield;

	if (h->done)
		return 0;
	st = MH_STATE(h);
	infield = (h->bol & MH_INFIELD) != 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		switch (st) {
		case MH_FIRST:
		case MH_BOL:
			if (c == '\n') {
				/* the empty line: end of the section */
				mh_keep(h, p, i);
				h->done = 1;
				h->bol = MH_BOL;
				return i + 1;
			}
			if ((c == ' ' || c == '\t') && infield)
				st = MH_VALUE;	/* continuation */
			else if (mh_ftext(c)) {
				st = MH_NAME;
				infield = 0;
			} else {
				st = MH_BAD;
				infield = 0;
				h->malformed = 1;
			}
			break;
		case MH_NAME:
			if (c == ':') {
				st = MH_VALUE;
				infield = 1;
			} else if (c == ' ' || c == '\t')
				st = MH_NAMEWSP;
			else if (c == '\n') {
				st = MH_BOL;
				h->malformed = 1;
			} else if (!mh_ftext(c)) {
				st = MH_BAD;
				h->malformed = 1;
			}
			break;
		case MH_NAMEWSP:
			if (c == ':') {
				st = MH_VALUE;
				infield = 1;
			} else if (c == '\n') {
				st = MH_BOL;
				h->malformed = 1;
			} else if (c != ' ' && c != '\t') {
				st = MH_BAD;
				h->malformed = 1;
			}
			break;
		case MH_VALUE:
		case MH_BAD:
			if (c == '\n')
				st = MH_BOL;
			break;
		}
	}
	mh_keep(h, p, n);
	h->bol = st | (infield ? MH_INFIELD : 0);
	return n;
}

/* msghdr_end - a message of header fields only (RFC 5322 §3.5: the body
 * is optional, and so is the empty line before it). A last line without
 * LF gets one, so every kept line is LF-terminated. */
void
msghdr_end(struct msghdr_section *h)
{
	int st = MH_STATE(h);

	if (h->done)
		return;
	if (st != MH_BOL && st != MH_FIRST) {
		if (st == MH_NAME || st == MH_NAMEWSP)
			h->malformed = 1;
		mh_keep(h, "\n", 1);
	}
	h->done = 1;
	h->bol = MH_BOL;
}

/* mh_field_start - does the line at p (len bytes left) begin a field?
 * Sets *namelen. */
static int
mh_field_start(const char *p, size_t len, size_t *namelen)
{
	size_t i = 0, nl;

	while (i < len && mh_ftext((unsigned char)p[i]))
		i++;
	if (i == 0)
		return 0;
	nl = i;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= len || p[i] != ':')
		return 0;
	*namelen = nl;
	return 1;
}

/* mh_line_end - the offset just past the LF of the line at off. */
static size_t
mh_line_end(const struct msghdr_section *h, size_t off)
{
	const char *lf = memchr(h->buf + off, '\n', h->len - off);

	return lf != NULL ? (size_t)(lf - h->buf) + 1 : h->len;
}

/* msghdr_next - the field at or after *pos (start at 0); 1 with f filled
 * and *pos past it, or 0 when there are no more. Lines that are not
 * fields (see the top) are skipped, with any WSP lines after them. */
int
msghdr_next(const struct msghdr_section *h, size_t *pos, struct msghdr_field *f)
{
	size_t off = *pos, end, nl;

	while (off < h->len) {
		end = mh_line_end(h, off);
		if (!mh_field_start(h->buf + off, end - off, &nl)) {
			off = end;
			continue;
		}
		/* continuation lines start with WSP (§2.2.3) */
		while (end < h->len && (h->buf[end] == ' ' ||
		    h->buf[end] == '\t'))
			end = mh_line_end(h, end);
		f->name = h->buf + off;
		f->namelen = nl;
		f->raw = h->buf + off;
		f->rawlen = end - off;
		*pos = end;
		return 1;
	}
	*pos = off;
	return 0;
}

/* msghdr_count - fields named name (case-insensitive, RFC 5322 §1.2.2). */
size_t
msghdr_count(const struct msghdr_section *h, const char *name)
{
	struct msghdr_field f;
	size_t pos = 0, n = 0, len = strlen(name);

	while (msghdr_next(h, &pos, &f))
		if (f.namelen == len && strncasecmp(f.name, name, len) == 0)
			n++;
	return n;
}
