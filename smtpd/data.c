/* data.c - the DATA phase as a pure byte-level state machine (qmail's blast()):
 * ends only on CRLF.CRLF, dot-unstuffs, applies bare_newline, bounds size and lines.
 *
 *	data_init - start reading a message body, at the start of a line
 *	data_feed - consume bytes up to and including the final LF of CRLF.CRLF
 *	data_error_text - short text for an error, for logs
 *
 * The reader is two small machines fed the same bytes:
 *
 * 1. The end detector matches CR LF . CR LF and nothing else (RFC 5321
 *    §4.1.1.4). It starts as if CR LF had just been seen (the session
 *    consumed the CRLF that ended the DATA command), so ".\r\n" as the first
 *    line ends an empty message. It never looks at the content machine, so
 *    the end of data is exactly the first "\r\n.\r\n" in "\r\n" + input, in
 *    every mode and after every error. "\n.\n", "\n.\r\n", "\r\n.\n",
 *    "\r.\r\n" and every other mix of bare CR and bare LF never end DATA:
 *    that is what defeats SMTP smuggling (CVE-2023-51764, CVE-2023-51765,
 *    CVE-2023-51766), where a front end and a back end disagree on it.
 *
 * 2. The content machine turns the wire text into the message text: CR LF
 *    becomes LF, and a dot at the start of a line is dropped (RFC 5321
 *    §4.5.2 transparency). A CR is held until the next byte says whether it
 *    was a line end; the terminating ".\r" is therefore never emitted.
 *
 * Bare CR (a CR not followed by LF) and bare LF (not preceded by CR):
 *    bare_newline reject (normalize = 0): DATA_ERR_BARE_NEWLINE, nothing more
 *      is written, and the input is swallowed up to CRLF.CRLF.
 *    bare_newline normalize: the bare CR or LF is a line end (LF out), and
 *      the next byte starts a new logical line, so a leading dot there is
 *      dropped as stuffing too (Postfix's reading of such lines). Only the
 *      end detector decides the end, so in normalize mode, with "a" before
 *      and "b\r\n.\r\n" after, each of these yields "a\n\nb\n" -- the
 *      would-be end line becomes an empty line and what follows is content:
 *	  "\n.\n"   "\n.\r\n"   "\r\n.\n"   "\r.\r\n"   "\r\n.\rb"   "\r.\n"
 *      (unit tests state each of them). "\r\r\n" is a bare CR then a CRLF:
 *      two line ends.
 *
 * Size (RFC 1870) is counted as the message is on the wire after
 * unstuffing, with CRLF line ends, including the CRLF before the final dot;
 * a line is counted without its line end and without a stuffing dot.
 * Every check is written "room < n" so that nothing can overflow.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "strictmx.h"
#include "data.h"

/* Content machine states. */
enum data_state {
	DATA_ST_BOL,		/* start of a logical line: a dot is stuffing */
	DATA_ST_TEXT,		/* inside a line */
	DATA_ST_CR,		/* saw CR: line end or bare CR, next byte tells */
	DATA_ST_DONE,		/* CRLF.CRLF seen; feed nothing more */
};

/* End detector states: how much of CR LF . CR LF has been matched. */
enum data_match {
	DATA_M_NONE,
	DATA_M_CR,
	DATA_M_CRLF,
	DATA_M_DOT,
	DATA_M_DOTCR,
	DATA_M_END,
};

/* data_init - start reading a body; max_size 0 means no limit (RFC 1870 SIZE 0) */

void
data_init(struct data_reader *r, size_t max_size, int normalize,
    data_sink_fn *sink, void *arg)
{
	r->state = DATA_ST_BOL;
	r->match = DATA_M_CRLF;		/* DATA's own CRLF was just read */
	r->normalize = normalize != 0;
	r->max_size = max_size ? max_size : SIZE_MAX;
	r->size = 0;
	r->line_len = 0;
	r->sink = sink;
	r->sink_arg = arg;
	r->error = DATA_OK;
	r->sink_errno = 0;
	r->outlen = 0;
}

/* data_match_next - one step of the CR LF . CR LF matcher (a KMP automaton) */

static int
data_match_next(int m, unsigned char c)
{
	switch (m) {
	case DATA_M_CR:
		return c == '\n' ? DATA_M_CRLF : c == '\r' ? DATA_M_CR : DATA_M_NONE;
	case DATA_M_CRLF:
		return c == '.' ? DATA_M_DOT : c == '\r' ? DATA_M_CR : DATA_M_NONE;
	case DATA_M_DOT:
		return c == '\r' ? DATA_M_DOTCR : DATA_M_NONE;
	case DATA_M_DOTCR:
		return c == '\n' ? DATA_M_END : c == '\r' ? DATA_M_CR : DATA_M_NONE;
	default:
		return c == '\r' ? DATA_M_CR : DATA_M_NONE;
	}
}

/* data_fail - record the first error; what is still buffered is dropped */

static void
data_fail(struct data_reader *r, enum data_error e)
{
	if (r->error == DATA_OK)
		r->error = e;
	r->outlen = 0;
}

/* data_flush - pass the batched output to the sink */

static void
data_flush(struct data_reader *r)
{
	if (r->error != DATA_OK || r->outlen == 0)
		return;
	if (r->sink(r->sink_arg, r->out, r->outlen) != 0) {
		r->sink_errno = errno;
		data_fail(r, DATA_ERR_WRITE);
		return;
	}
	r->outlen = 0;
}

/* data_put - append output, flushing whenever the batch is full */

static void
data_put(struct data_reader *r, const char *p, size_t n)
{
	size_t room;

	while (n > 0 && r->error == DATA_OK) {
		if (r->outlen == sizeof(r->out))
			data_flush(r);
		if (r->error != DATA_OK)
			return;
		room = sizeof(r->out) - r->outlen;
		if (room > n)
			room = n;
		memcpy(r->out + r->outlen, p, room);
		r->outlen += room;
		p += room;
		n -= room;
	}
}

/* data_text - emit n content octets of the current line, within the bounds */

static void
data_text(struct data_reader *r, const char *p, size_t n)
{
	if (DATA_LINE_MAX - r->line_len < n) {
		data_fail(r, DATA_ERR_LINE);
		return;
	}
	if (r->max_size - r->size < n) {
		data_fail(r, DATA_ERR_SIZE);
		return;
	}
	r->line_len += n;
	r->size += n;
	data_put(r, p, n);
}

/* data_eol - emit a line end: LF out, CRLF (2 octets) counted */

static void
data_eol(struct data_reader *r)
{
	if (r->max_size - r->size < 2) {
		data_fail(r, DATA_ERR_SIZE);
		return;
	}
	r->size += 2;
	r->line_len = 0;
	r->state = DATA_ST_BOL;
	data_put(r, "\n", 1);
}

/* data_bare - a bare CR or LF: an error, or a line end in normalize mode */

static void
data_bare(struct data_reader *r)
{
	if (!r->normalize)
		data_fail(r, DATA_ERR_BARE_NEWLINE);
	else
		data_eol(r);
}

/* data_byte - one step of the content machine (not for the final LF) */

static void
data_byte(struct data_reader *r, unsigned char c)
{
	char ch = (char)c;

	switch (r->state) {
	case DATA_ST_CR:
		if (c == '\n') {
			data_eol(r);
			return;
		}
		data_bare(r);		/* the held CR was bare */
		if (r->error != DATA_OK)
			return;
		/* c starts the next logical line. */
		/* FALLTHROUGH */
	case DATA_ST_BOL:
		if (c == '.') {
			/* RFC 5321 §4.5.2: drop the stuffing dot. */
			r->state = DATA_ST_TEXT;
			return;
		}
		/* FALLTHROUGH */
	default:
		if (c == '\r') {
			r->state = DATA_ST_CR;
			return;
		}
		if (c == '\n') {
			data_bare(r);
			return;
		}
		r->state = DATA_ST_TEXT;
		data_text(r, &ch, 1);
		return;
	}
}

/* data_span - length of the run at p that neither machine needs to see byte by byte */

static size_t
data_span(const struct data_reader *r, const char *p, size_t n)
{
	const char *cr;
	size_t i, room;

	if (r->error != DATA_OK) {
		/* Swallowing: only a CR can start the terminator. */
		cr = memchr(p, '\r', n);
		return cr ? (size_t)(cr - p) : n;
	}
	/* Stop where a bound would be crossed, so that the slow path
	 * reports the error at the same octet as byte-wise feeding. */
	room = DATA_LINE_MAX - r->line_len;
	if (r->max_size - r->size < room)
		room = r->max_size - r->size;
	if (n > room)
		n = room;
	for (i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n')
			break;
	return i;
}

/* data_feed - consume input; *done = 1 once CRLF.CRLF has been consumed */

size_t
data_feed(struct data_reader *r, const char *buf, size_t len, int *done)
{
	size_t i = 0, n;

	*done = 0;
	if (r->state == DATA_ST_DONE) {
		*done = 1;
		return 0;
	}
	while (i < len) {
		/* Fast path: inside a line with no partial terminator
		 * matched, plain octets change no state but the counters. */
		if (r->match == DATA_M_NONE &&
		    (r->error != DATA_OK || r->state == DATA_ST_TEXT)) {
			n = data_span(r, buf + i, len - i);
			if (n > 0) {
				if (r->error == DATA_OK)
					data_text(r, buf + i, n);
				i += n;
				continue;
			}
		}
		r->match = data_match_next(r->match, (unsigned char)buf[i]);
		if (r->match == DATA_M_END) {
			/* The held ".\r" is the terminator, never content;
			 * stop right after its LF: the rest is the next
			 * pipelined command (RFC 2920). */
			data_flush(r);
			r->state = DATA_ST_DONE;
			*done = 1;
			return i + 1;
		}
		if (r->error == DATA_OK)
			data_byte(r, (unsigned char)buf[i]);
		i++;
	}
	return i;
}

/* data_error_text - a short description, for logs */

const char *
data_error_text(enum data_error e)
{
	switch (e) {
	case DATA_OK:
		return "ok";
	case DATA_ERR_BARE_NEWLINE:
		return "bare LF or bare CR in message";
	case DATA_ERR_SIZE:
		return "message size exceeds limit";
	case DATA_ERR_LINE:
		return "message line too long";
	case DATA_ERR_WRITE:
		return "write error";
	}
	return "unknown error";
}
