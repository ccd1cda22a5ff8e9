/* test_data.c - unit tests of the DATA state machine (smtpd/data.c).
 * Every input is fed whole, in two pieces at every split point, and one byte at a time.
 *
 *	table rows {input, mode, limit} -> {output, error, done, consumed}
 *	random inputs against a small reference implementation
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "strictmx.h"
#include "data.h"

#define S(s)	s, sizeof(s) - 1
#define ALL	((size_t)-1)	/* consumed: the whole input */

/* What one run of the reader produced. */
struct result {
	char		*out;
	size_t		 outlen;
	size_t		 outcap;
	int		 sink_calls;
	int		 fail_call;	/* sink call number that fails, 0 never */
	enum data_error	 error;
	int		 sink_errno;
	int		 done;
	size_t		 consumed;
};

static int
sink(void *arg, const char *p, size_t n)
{
	struct result *res = arg;

	res->sink_calls++;
	ck_assert_msg(n > 0, "empty sink call");
	if (res->fail_call && res->sink_calls == res->fail_call) {
		errno = ENOSPC;
		return -1;
	}
	ck_assert_msg(res->fail_call == 0 || res->sink_calls < res->fail_call,
	    "sink called after it failed");
	if (res->outlen + n > res->outcap) {
		res->outcap = (res->outlen + n) * 2;
		res->out = realloc(res->out, res->outcap);
		ck_assert_ptr_nonnull(res->out);
	}
	memcpy(res->out + res->outlen, p, n);
	res->outlen += n;
	return 0;
}

/* finish - for an unfinished message, count the still-batched text as output
 * (the reader flushes only when its batch is full and at the end) */

static void
finish(struct result *res, const struct data_reader *r, int done)
{
	int calls = res->sink_calls, fail = res->fail_call;

	res->error = r->error;
	res->sink_errno = r->sink_errno;
	res->done = done;
	if (!done && r->outlen > 0) {
		res->fail_call = 0;
		sink(res, r->out, r->outlen);
		res->sink_calls = calls;
		res->fail_call = fail;
	}
}

/* run - feed in pieces of the given sizes (0-terminated list, rest last) */

static void
run(struct result *res, const char *in, size_t len, int normalize, size_t max,
    const size_t *pieces, int fail_call)
{
	struct data_reader r;
	size_t off = 0, n, got;
	int done = 0;

	memset(res, 0, sizeof(*res));
	res->fail_call = fail_call;
	data_init(&r, max, normalize, sink, res);
	for (;;) {
		n = *pieces ? *pieces++ : len - off;
		if (n > len - off)
			n = len - off;
		got = data_feed(&r, in + off, n, &done);
		ck_assert_msg(got <= n, "consumed %zu of %zu", got, n);
		off += got;
		if (done || off == len)
			break;
		ck_assert_msg(got == n, "stopped early without done");
	}
	finish(res, &r, done);
	res->consumed = off;
}

static void
run_whole(struct result *res, const char *in, size_t len, int nl, size_t max,
    int fail_call)
{
	static const size_t whole[] = { 0 };

	run(res, in, len, nl, max, whole, fail_call);
}

static void
run_split(struct result *res, const char *in, size_t len, int nl, size_t max,
    size_t at, int fail_call)
{
	size_t pieces[] = { at, 0 };

	if (at == 0) {
		/* An empty first piece, then the rest. */
		struct data_reader r;
		int done;

		data_init(&r, max, nl, sink, res);
		ck_assert_uint_eq(data_feed(&r, in, 0, &done), 0);
		ck_assert_int_eq(done, 0);
	}
	run(res, in, len, nl, max, at ? pieces : (const size_t []){ 0 },
	    fail_call);
}

static void
run_bytes(struct result *res, const char *in, size_t len, int nl, size_t max,
    int fail_call)
{
	struct data_reader r;
	size_t off;
	int done = 0;

	memset(res, 0, sizeof(*res));
	res->fail_call = fail_call;
	data_init(&r, max, nl, sink, res);
	for (off = 0; off < len && !done; off++)
		ck_assert_uint_eq(data_feed(&r, in + off, 1, &done), 1);
	finish(res, &r, done);
	res->consumed = off;
}

static void
same(const struct result *a, const struct result *b, const char *what)
{
	ck_assert_msg(a->error == b->error, "%s: error %d != %d", what,
	    a->error, b->error);
	ck_assert_msg(a->done == b->done, "%s: done differs", what);
	ck_assert_msg(a->consumed == b->consumed, "%s: consumed %zu != %zu",
	    what, a->consumed, b->consumed);
	ck_assert_msg(a->sink_errno == b->sink_errno, "%s: errno", what);
	ck_assert_msg(a->outlen == b->outlen &&
	    memcmp(a->out ? a->out : "", b->out ? b->out : "", a->outlen) == 0,
	    "%s: output differs", what);
}

/* check_all_splits - whole, every two-piece split, byte by byte: all equal */

static void
check_all_splits(const struct result *whole, const char *in, size_t len,
    int nl, size_t max, int fail_call, size_t step)
{
	struct result res;
	char what[64];
	size_t at;

	for (at = 0; at <= len; at += (at < 64 || len - at < 64) ? 1 : step) {
		run_split(&res, in, len, nl, max, at, fail_call);
		snprintf(what, sizeof(what), "split at %zu", at);
		same(whole, &res, what);
		free(res.out);
	}
	run_bytes(&res, in, len, nl, max, fail_call);
	same(whole, &res, "byte at a time");
	free(res.out);
}

/* The table: each row is one input with what it must give. */
struct data_case {
	const char	*in;
	size_t		 inlen;
	int		 normalize;
	size_t		 max;		/* 0: no limit */
	const char	*want;		/* output */
	size_t		 wantlen;
	enum data_error	 error;
	int		 done;
	size_t		 consumed;	/* ALL = inlen */
};

#define REJ	0
#define NORM	1

static const struct data_case data_cases[] = {
	/* Ends, empty messages, pipelining. */
	{ S(".\r\n"), REJ, 0, S(""), DATA_OK, 1, ALL },
	{ S(".\r\nQUIT\r\n"), REJ, 0, S(""), DATA_OK, 1, 3 },
	{ S("\r\n.\r\n"), REJ, 0, S("\n"), DATA_OK, 1, ALL },
	{ S("a\r\n.\r\n"), REJ, 0, S("a\n"), DATA_OK, 1, ALL },
	{ S("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"), REJ, 0,
	  S("Subject: x\n\nbody\n"), DATA_OK, 1, 23 },
	{ S("a\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"), REJ, 0,
	  S("a\n"), DATA_OK, 1, 6 },
	{ S("a\r\n.\r\n.\r\n"), REJ, 0, S("a\n"), DATA_OK, 1, 6 },
	/* Not the end yet. */
	{ S(""), REJ, 0, S(""), DATA_OK, 0, ALL },
	{ S("a\r\n.\r"), REJ, 0, S("a\n"), DATA_OK, 0, ALL },
	{ S("a\r\n."), REJ, 0, S("a\n"), DATA_OK, 0, ALL },
	{ S("a\r\n"), REJ, 0, S("a\n"), DATA_OK, 0, ALL },
	{ S("a\r"), REJ, 0, S("a"), DATA_OK, 0, ALL },
	{ S(". \r\n.\r\n"), REJ, 0, S(" \n"), DATA_OK, 1, ALL },
	{ S("a\r\n. \r\n.\r\n"), REJ, 0, S("a\n \n"), DATA_OK, 1, ALL },
	{ S("a\r\n.x\r\n.\r\n"), REJ, 0, S("a\nx\n"), DATA_OK, 1, ALL },
	/* Dot-unstuffing: only at the start of a line, only one dot. */
	{ S("..\r\n.\r\n"), REJ, 0, S(".\n"), DATA_OK, 1, ALL },
	{ S("...\r\n.\r\n"), REJ, 0, S("..\n"), DATA_OK, 1, ALL },
	{ S("a.\r\n.b\r\n..c\r\nd..\r\n.\r\n"), REJ, 0,
	  S("a.\nb\n.c\nd..\n"), DATA_OK, 1, ALL },
	{ S("..\r\n..\r\n.\r\n"), REJ, 0, S(".\n.\n"), DATA_OK, 1, ALL },
	{ S("\r\n..\r\n.\r\n"), REJ, 0, S("\n.\n"), DATA_OK, 1, ALL },
	/* NUL and 8-bit octets pass through untouched. */
	{ S("a\0b\r\n\0\r\n.\r\n"), REJ, 0, S("a\0b\n\0\n"), DATA_OK, 1, ALL },
	{ S(".\0\r\n.\r\n"), REJ, 0, S("\0\n"), DATA_OK, 1, ALL },
	{ S("\xc3\xa9t\xc3\xa9 \xff\x80\xfe\r\n.\r\n"), REJ, 0,
	  S("\xc3\xa9t\xc3\xa9 \xff\x80\xfe\n"), DATA_OK, 1, ALL },
	/* Smuggling sequences, reject mode: never an end; the message is
	 * refused and everything up to the real CRLF.CRLF is swallowed. */
	{ S("a\n.\nb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\n.\r\nb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\r\n.\nb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\r.\r\nb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\r\n.\rb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\r.\nb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\n.\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n"), REJ, 0, S(""),
	  DATA_ERR_BARE_NEWLINE, 1, 24 },
	{ S("a\nb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("a\rb\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	{ S("\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 0, ALL },
	{ S("a\r\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	/* A CR that is the last octet of a piece is held, not yet judged. */
	{ S("a\r\n.\r\r\n.\r\n"), REJ, 0, S(""), DATA_ERR_BARE_NEWLINE, 1, ALL },
	/* The same in normalize mode: the would-be end line becomes an empty
	 * line (its dot is stuffing), what follows it is content. */
	{ S("a\n.\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\n.\r\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\r\n.\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\r.\r\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\r\n.\rb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\r.\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\n.\rb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\n.\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n"), NORM, 0,
	  S("a\n\nMAIL FROM:<x@y>\n"), DATA_OK, 1, 24 },
	{ S("a\nb\rc\r\n.\r\n"), NORM, 0, S("a\nb\nc\n"), DATA_OK, 1, ALL },
	{ S("a\r\r\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\n\nb\r\n.\r\n"), NORM, 0, S("a\n\nb\n"), DATA_OK, 1, ALL },
	{ S("a\n..\nb\r\n.\r\n"), NORM, 0, S("a\n.\nb\n"), DATA_OK, 1, ALL },
	/* "\r\r\n" is a bare CR then a CRLF: two line ends. */
	{ S("a\r\n.\r\r\n.\r\n"), NORM, 0, S("a\n\n\n"), DATA_OK, 1, ALL },
	{ S("\n.\n"), NORM, 0, S("\n\n"), DATA_OK, 0, ALL },
	{ S("\r.\r\n.\r\n"), NORM, 0, S("\n\n"), DATA_OK, 1, ALL },
	{ S("a\r\n.\r"), NORM, 0, S("a\n"), DATA_OK, 0, ALL },
	/* Size: octets as on the wire after unstuffing, CRLF = 2. */
	{ S("12345678\r\n.\r\n"), REJ, 10, S("12345678\n"), DATA_OK, 1, ALL },
	{ S("123456789\r\n.\r\n"), REJ, 10, S(""), DATA_ERR_SIZE, 1, ALL },
	{ S("..2345678\r\n.\r\n"), REJ, 10, S(".2345678\n"), DATA_OK, 1, ALL },
	{ S("1234567890\r\n.\r\nQUIT\r\n"), REJ, 10, S(""), DATA_ERR_SIZE, 1,
	  15 },
	{ S("\r\n\r\n\r\n\r\n\r\n.\r\n"), REJ, 10, S("\n\n\n\n\n"), DATA_OK, 1,
	  ALL },
	{ S("\r\n\r\n\r\n\r\n\r\n\r\n.\r\n"), REJ, 10, S(""), DATA_ERR_SIZE, 1,
	  ALL },
	{ S(".\r\n"), REJ, 1, S(""), DATA_OK, 1, ALL },
	{ S("a\nb\r\n.\r\n"), NORM, 6, S("a\nb\n"), DATA_OK, 1, ALL },
	{ S("a\nb\r\n.\r\n"), NORM, 5, S(""), DATA_ERR_SIZE, 1, ALL },
	/* The first error is the one reported. */
	{ S("123456789012\nx\r\n.\r\n"), REJ, 10, S(""), DATA_ERR_SIZE, 1, ALL },
	{ S("12\n3456789012\r\n.\r\n"), REJ, 10, S(""), DATA_ERR_BARE_NEWLINE,
	  1, ALL },
};

START_TEST(test_table)
{
	const struct data_case *c = &data_cases[_i];
	size_t want_consumed = c->consumed == ALL ? c->inlen : c->consumed;
	struct result whole;

	run_whole(&whole, c->in, c->inlen, c->normalize, c->max, 0);
	ck_assert_msg(whole.error == c->error, "row %d: error %s, want %s", _i,
	    data_error_text(whole.error), data_error_text(c->error));
	ck_assert_msg(whole.done == c->done, "row %d: done %d", _i, whole.done);
	ck_assert_msg(whole.consumed == want_consumed,
	    "row %d: consumed %zu, want %zu", _i, whole.consumed, want_consumed);
	ck_assert_msg(whole.outlen == c->wantlen &&
	    memcmp(whole.out ? whole.out : "", c->want, c->wantlen) == 0,
	    "row %d: output differs (%zu octets, want %zu)", _i, whole.outlen,
	    c->wantlen);
	check_all_splits(&whole, c->in, c->inlen, c->normalize, c->max, 0, 1);
	free(whole.out);
}
END_TEST

/* mkline - "." stuffing dot (when dot), n octets of x, CRLF, then CRLF.CRLF */

static char *
mkline(size_t n, int dot, size_t *len)
{
	char *p = malloc(n + 8);
	size_t off = 0;

	ck_assert_ptr_nonnull(p);
	if (dot)
		p[off++] = '.';
	memset(p + off, 'x', n);
	off += n;
	memcpy(p + off, "\r\n.\r\n", 5);
	*len = off + 5;
	return p;
}

START_TEST(test_line_limit)
{
	static const struct {
		size_t	 n;
		int	 dot;
		enum data_error want;
	} rows[] = {
		{ DATA_LINE_MAX, 0, DATA_OK },
		{ DATA_LINE_MAX, 1, DATA_OK },	/* the stuffing dot is not counted */
		{ DATA_LINE_MAX + 1, 0, DATA_ERR_LINE },
		{ DATA_LINE_MAX + 1, 1, DATA_ERR_LINE },
	};
	struct result whole;
	size_t len, i;
	char *in;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		in = mkline(rows[i].n, rows[i].dot, &len);
		run_whole(&whole, in, len, 0, 0, 0);
		ck_assert_int_eq(whole.error, rows[i].want);
		ck_assert_int_eq(whole.done, 1);
		ck_assert_uint_eq(whole.consumed, len);
		if (rows[i].want == DATA_OK) {
			ck_assert_uint_eq(whole.outlen, rows[i].n + 1);
			ck_assert_int_eq(whole.out[rows[i].n], '\n');
		}
		/* Every split point near both ends, every 251st between:
		 * all 65K split points of a 65K input take minutes under ASan. */
		check_all_splits(&whole, in, len, 0, 0, 0, 251);
		free(whole.out);
		free(in);
	}
}
END_TEST

/* A bare newline in normalize mode starts a new line for the line limit. */
START_TEST(test_line_limit_normalize)
{
	size_t half = DATA_LINE_MAX / 2 + 10, len = 2 * half + 1 + 5;
	struct result whole;
	char *in = malloc(len);

	ck_assert_ptr_nonnull(in);
	memset(in, 'y', len);
	in[half] = '\n';
	memcpy(in + len - 5, "\r\n.\r\n", 5);
	run_whole(&whole, in, len, 1, 0, 0);
	ck_assert_int_eq(whole.error, DATA_OK);
	ck_assert_uint_eq(whole.outlen, 2 * half + 2);
	check_all_splits(&whole, in, len, 1, 0, 0, 509);
	free(whole.out);
	free(in);
}
END_TEST

/* Output larger than the batch buffer arrives whole and in order. */
START_TEST(test_big_message)
{
	size_t len = 0, i, lines = 3000;
	char *in = malloc(lines * 40 + 8), *want = malloc(lines * 40);
	size_t wlen = 0;
	struct result whole;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(want);
	for (i = 0; i < lines; i++) {
		int n = snprintf(in + len, 40, "%s%zu line\r\n",
		    i % 7 == 0 ? ".." : "", i);
		len += (size_t)n;
		n = snprintf(want + wlen, 40, "%s%zu line\n",
		    i % 7 == 0 ? "." : "", i);
		wlen += (size_t)n;
	}
	memcpy(in + len, ".\r\nQUIT\r\n", 9);
	run_whole(&whole, in, len + 9, 0, 0, 0);
	ck_assert_int_eq(whole.error, DATA_OK);
	ck_assert_uint_eq(whole.consumed, len + 3);
	ck_assert_uint_eq(whole.outlen, wlen);
	ck_assert(memcmp(whole.out, want, wlen) == 0);
	ck_assert_int_gt(whole.sink_calls, 1);
	check_all_splits(&whole, in, len + 9, 0, 0, 0, 97);
	/* Size limit hit deep inside: first error kept, all swallowed. */
	free(whole.out);
	run_whole(&whole, in, len + 9, 0, wlen + lines - 1, 0);
	ck_assert_int_eq(whole.error, DATA_ERR_SIZE);
	ck_assert_uint_eq(whole.consumed, len + 3);
	check_all_splits(&whole, in, len + 9, 0, wlen + lines - 1, 0, 97);
	free(whole.out);
	run_whole(&whole, in, len + 9, 0, wlen + lines, 0);
	ck_assert_int_eq(whole.error, DATA_OK);
	free(whole.out);
	free(in);
	free(want);
}
END_TEST

/* A failing sink: DATA_ERR_WRITE with its errno, and no call after it. */
START_TEST(test_sink_failure)
{
	size_t len = 30000;
	char *in = malloc(len);
	struct result whole;

	ck_assert_ptr_nonnull(in);
	memset(in, 'z', len);
	memcpy(in + 100, "\r\n", 2);
	memcpy(in + len - 14, "\r\n.\r\nRSET\r\n", 11);
	len -= 3;
	run_whole(&whole, in, len, 0, 0, 2);
	ck_assert_int_eq(whole.error, DATA_ERR_WRITE);
	ck_assert_int_eq(whole.sink_errno, ENOSPC);
	ck_assert_int_eq(whole.sink_calls, 2);
	ck_assert_uint_eq(whole.outlen, sizeof(((struct data_reader *)0)->out));
	ck_assert_int_eq(whole.done, 1);
	ck_assert_uint_eq(whole.consumed, len - 6);
	check_all_splits(&whole, in, len, 0, 0, 2, 997);
	free(whole.out);
	/* A sink failing at the final flush still reports the error. */
	run_whole(&whole, "abc\r\n.\r\n", 8, 0, 0, 1);
	ck_assert_int_eq(whole.error, DATA_ERR_WRITE);
	ck_assert_int_eq(whole.done, 1);
	free(whole.out);
	free(in);
}
END_TEST

/* After the end nothing more is consumed. */
START_TEST(test_after_done)
{
	struct data_reader r;
	struct result res;
	int done;

	memset(&res, 0, sizeof(res));
	data_init(&r, 0, 0, sink, &res);
	ck_assert_uint_eq(data_feed(&r, "x\r\n.\r\nQUIT\r\n", 12, &done), 6);
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(data_feed(&r, "QUIT\r\n", 6, &done), 0);
	ck_assert_int_eq(done, 1);
	ck_assert_uint_eq(res.outlen, 2);
	free(res.out);
}
END_TEST

START_TEST(test_error_text)
{
	ck_assert_str_eq(data_error_text(DATA_OK), "ok");
	ck_assert_str_ne(data_error_text(DATA_ERR_BARE_NEWLINE),
	    data_error_text(DATA_ERR_SIZE));
	ck_assert_str_ne(data_error_text(DATA_ERR_LINE),
	    data_error_text(DATA_ERR_WRITE));
	ck_assert_ptr_nonnull(data_error_text((enum data_error)99));
}
END_TEST

/* ref_data - the obvious two-pass reading, for comparison: find the first
 * "\r\n.\r\n" in "\r\n" + input, then walk the lines of what precedes it. */

static void
ref_data(struct result *res, const char *in, size_t len, int nl, size_t max)
{
	static const char term[] = "\r\n.\r\n";
	char *w = malloc(len + 2);
	size_t pos, i, line = 0, size = 0;
	int bol = 1;

	ck_assert_ptr_nonnull(w);
	memset(res, 0, sizeof(*res));
	memcpy(w, "\r\n", 2);
	memcpy(w + 2, in, len);
	for (pos = 0; pos + 5 <= len + 2; pos++)
		if (memcmp(w + pos, term, 5) == 0)
			break;
	ck_assert_msg(pos + 5 <= len + 2, "reference needs a terminated input");
	free(w);
	res->done = 1;
	res->consumed = pos + 3;
	res->out = malloc(pos + 1);
	ck_assert_ptr_nonnull(res->out);
	if (max == 0)
		max = SIZE_MAX;
	/* The message is in[0, pos): it ends with CRLF unless empty. */
	for (i = 0; i < pos; i++) {
		if (in[i] == '\r' && i + 1 < pos && in[i + 1] == '\n')
			i++;
		else if (in[i] == '\r' || in[i] == '\n') {
			if (!nl) {
				res->error = DATA_ERR_BARE_NEWLINE;
				return;
			}
		} else if (bol && in[i] == '.') {
			bol = 0;
			continue;
		} else {
			bol = 0;
			if (++line > DATA_LINE_MAX) {
				res->error = DATA_ERR_LINE;
				return;
			}
			if (++size > max) {
				res->error = DATA_ERR_SIZE;
				return;
			}
			res->out[res->outlen++] = in[i];
			continue;
		}
		/* A line end. */
		size += 2;
		if (size > max) {
			res->error = DATA_ERR_SIZE;
			return;
		}
		res->out[res->outlen++] = '\n';
		line = 0;
		bol = 1;
	}
}

START_TEST(test_random)
{
	static const char alphabet[] = "\r\n.a\0\xff";
	static const char tail[] = "\r\n.\r\nQUIT\r\n";
	struct result ref, whole, res;
	char in[300];
	size_t len, k, max;
	int iter, nl;

	srandom(20231218);
	for (iter = 0; iter < 1000; iter++) {
		len = (size_t)random() % 200;
		for (k = 0; k < len; k++)
			in[k] = alphabet[random() % (sizeof(alphabet) - 1)];
		memcpy(in + len, tail, sizeof(tail) - 1);
		len += sizeof(tail) - 1;
		nl = (int)(random() % 2);
		max = random() % 3 ? 0 : (size_t)random() % 150;
		ref_data(&ref, in, len, nl, max);
		run_whole(&whole, in, len, nl, max, 0);
		ck_assert_msg(whole.error == ref.error,
		    "iter %d: error %d, reference %d", iter, whole.error,
		    ref.error);
		ck_assert_msg(whole.consumed == ref.consumed,
		    "iter %d: consumed %zu, reference %zu", iter,
		    whole.consumed, ref.consumed);
		ck_assert_int_eq(whole.done, 1);
		/* On error, what reached the sink is a prefix of the text. */
		ck_assert_msg(whole.error != DATA_OK ?
		    whole.outlen <= ref.outlen :
		    whole.outlen == ref.outlen, "iter %d: output length", iter);
		ck_assert_msg(memcmp(whole.out ? whole.out : "", ref.out,
		    whole.outlen) == 0, "iter %d: output differs", iter);
		run_bytes(&res, in, len, nl, max, 0);
		same(&whole, &res, "random, byte at a time");
		free(res.out);
		run_split(&res, in, len, nl, max, (size_t)random() % len, 0);
		same(&whole, &res, "random, split");
		free(res.out);
		free(whole.out);
		free(ref.out);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("data");
	TCase *tc = tcase_create("data");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_table, 0,
	    (int)(sizeof(data_cases) / sizeof(data_cases[0])));
	tcase_add_test(tc, test_line_limit);
	tcase_add_test(tc, test_line_limit_normalize);
	tcase_add_test(tc, test_big_message);
	tcase_add_test(tc, test_sink_failure);
	tcase_add_test(tc, test_after_done);
	tcase_add_test(tc, test_error_text);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
