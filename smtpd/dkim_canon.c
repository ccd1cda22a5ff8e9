/* dkim_canon.c - RFC 6376 §3.4 simple and relaxed canonicalisation of one
 * header field and of a streamed body.
 *
 *	dkim_canon_header - one field (name, colon, value, line end(s)) in
 *	    canonical form; with crlf 0 the final CRLF is left out (the
 *	    DKIM-Signature field itself, §3.7)
 *	dkim_body_init - a body canonicaliser (simple or relaxed, l= limit)
 *	dkim_body_feed - body octets, LF line ends, split anywhere
 *	dkim_body_end - the end: trailing empty lines dropped (§3.4.3,
 *	    §3.4.4), the CRLF a simple empty body gets
 *
 * The message is stored with LF line ends (data.c); every LF stands for
 * the CRLF the signer saw, and a CR before an LF (a header field kept as
 * received) is part of that line end. The body machine holds back only a
 * count of empty lines and one "WSP seen" bit, so any body size streams
 * in constant memory, and the l= limit cuts what reaches the sink.
 */
#include <string.h>

#include "dkim_canon.h"

static int
wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* dkim_canon_header - §3.4.1 simple: the field as it is (line ends as
 * CRLF). §3.4.2 relaxed: name lower-cased, unfolded, WSP runs to one SP,
 * WSP at the end of the value and around the colon removed. */
void
dkim_canon_header(int relaxed, const char *raw, size_t len, int crlf,
    dkim_sink_fn *sink, void *arg)
{
	char buf[512];
	size_t i = 0, n = 0, end = len;
	int held = 0, seenval = 0;

	/* the field's own final line end is added below, as CRLF */
	if (end > 0 && raw[end - 1] == '\n') {
		end--;
		if (end > 0 && raw[end - 1] == '\r')
			end--;
	}
#define PUT(c) do { if (n == sizeof(buf)) { sink(arg, buf, n); n = 0; } \
	buf[n++] = (char)(c); } while (0)
	if (!relaxed) {
		for (i = 0; i < end; i++) {
			if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
				PUT('\r');
			PUT(raw[i]);
		}
	} else {
		/* name, lower case, then WSP before the colon dropped */
		for (; i < end && raw[i] != ':'; i++)
			if (!wsp(raw[i]))
				PUT(lower((unsigned char)raw[i]));
		if (i < end) {
			PUT(':');
			i++;
		}
		for (; i < end; i++) {
			char c = raw[i];

			if (c == '\r' || c == '\n')
				continue;	/* unfold */
			if (wsp(c)) {
				held = 1;
				continue;
			}
			if (held && seenval)
				PUT(' ');
			held = 0;
			seenval = 1;
			PUT(c);
		}
	}
	if (crlf) {
		PUT('\r');
		PUT('\n');
	}
	if (n > 0)
		sink(arg, buf, n);
#undef PUT
}

void
dkim_body_init(struct dkim_body *b, int relaxed, uint64_t limit,
    dkim_sink_fn *sink, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->relaxed = relaxed;
	b->limit = limit;
	b->sink = sink;
	b->arg = arg;
}

/* emit - canonical octets: counted whole, passed on up to the limit. */
static void
emit(struct dkim_body *b, const char *p, size_t n)
{
	uint64_t room = b->limit - b->out;

	b->total += n;
	if (room == 0 || n == 0)
		return;
	if (n > room)
		n = (size_t)room;
	b->sink(b->arg, p, n);
	b->out += n;
}

/* flush_empty - empty lines held back turn out not to be trailing. */
static void
flush_empty(struct dkim_body *b)
{
	static const char crlfs[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

	while (b->empty > 0) {
		uint64_t k = b->empty < 8 ? b->empty : 8;

		emit(b, crlfs, (size_t)k * 2);
		b->empty -= k;
	}
}

/* dkim_body_feed - runs of ordinary octets go out in one piece. */
void
dkim_body_feed(struct dkim_body *b, const char *p, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		char c = p[i];

		if (c == '\n') {
			if (b->content)
				emit(b, "\r\n", 2);
			else
				b->empty++;
			b->content = 0;
			b->wsp = 0;
			i++;
			continue;
		}
		if (b->relaxed && wsp(c)) {
			b->wsp = 1;
			i++;
			continue;
		}
		/* a run of octets that are neither LF nor (relaxed) WSP */
		for (j = i; j < n && p[j] != '\n' &&
		    !(b->relaxed && wsp(p[j])); j++)
			;
		if (!b->content)
			flush_empty(b);
		if (b->wsp)
			emit(b, " ", 1);
		b->wsp = 0;
		b->content = 1;
		emit(b, p + i, j - i);
		i = j;
	}
}

/* dkim_body_end - §3.4.3: trailing empty lines ignored, a last line
 * without a line end gets CRLF, an empty body is one CRLF (simple);
 * §3.4.4 relaxed: the same, but an empty body stays empty. */
void
dkim_body_end(struct dkim_body *b)
{
	if (b->content)
		emit(b, "\r\n", 2);
	b->content = 0;
	b->empty = 0;
	if (!b->relaxed && b->total == 0)
		emit(b, "\r\n", 2);
}
