/* fuzz_data.c - libFuzzer harness for the DATA reader (data_init and
 * data_feed): random message bytes fed in random splits, in both
 * bare_newline modes, under small and large size limits.
 *
 *	LLVMFuzzerTestOneInput - feed one input three ways and compare
 *
 * Input layout: byte 0 = mode (bit 0 normalize, bits 1-2 size limit, bit
 * 3 a sink that fails, bit 4 expand runs), byte 1 = split seed, the rest
 * is the wire text after the DATA command's CRLF. With bit 4 set, an 0xFE
 * octet followed by two octets hi, lo stands for the octet before it
 * repeated hi * 256 + lo more times (at most 140000 in all), so that short
 * inputs reach the 8 KiB output batch and, exactly, the 65536-octet line
 * bound. Invariants checked:
 *   - every data_feed() call consumes at most what it was given;
 *   - done is set exactly when the consumed input ends with the first
 *     "\r\n.\r\n" of "\r\n" + input (RFC 5321 §4.1.1.4; nothing else ends
 *     DATA, which is what defeats SMTP smuggling), never earlier; after
 *     it, data_feed consumes nothing and says done again;
 *   - the sink never receives more octets than were consumed, and is
 *     never called after an error;
 *   - the result (error, size, output) is the same whether the input is
 *     fed whole, one octet at a time (pieces of 1..4093 octets for inputs
 *     over 4 KiB), or in random pieces;
 *   - with no error, size <= limit and no line is longer than
 *     DATA_LINE_MAX; the output has no CR and (reject mode) is exactly the
 *     dot-unstuffed, LF-terminated text of a reference implementation.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strictmx.h"
#include "data.h"

struct sink {
	char	*buf;
	size_t	 len, cap;
	size_t	 fail_after;	/* fail the call that would pass this */
	int	 failed;
	int	 calls_after_error;
	const struct data_reader *dr;	/* no sink call after its error */
};

static int
fuzz_sink(void *arg, const char *p, size_t n)
{
	struct sink *k = arg;

	if (k->failed)
		k->calls_after_error++;
	assert(k->dr->error == DATA_OK);
	assert(n > 0);
	if (k->len + n > k->fail_after) {
		k->failed = 1;
		errno = ENOSPC;
		return -1;
	}
	assert(k->len + n <= k->cap);
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	return 0;
}

struct run {
	enum data_error	error;
	size_t		size;
	size_t		consumed;	/* up to and including done */
	int		done;
	struct sink	sink;
};

/* The end of DATA: offset just past the first CRLF.CRLF in "\r\n" + in,
 * as an offset into in, or 0 when there is none. */
static size_t
fuzz_end(const char *in, size_t len)
{
	size_t i;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* mode: 0 whole, 1 octet by octet, 2 random pieces from seed */
static void
fuzz_run(struct run *r, const char *in, size_t len, int normalize,
    size_t max, size_t fail_after, int mode, uint32_t seed)
{
	struct data_reader *dr;
	size_t pos = 0, piece, used, end = fuzz_end(in, len);
	int done = 0;

	dr = malloc(sizeof(*dr));
	assert(dr != NULL);
	memset(r, 0, sizeof(*r));
	r->sink.cap = len + 1;
	r->sink.buf = malloc(r->sink.cap);
	r->sink.fail_after = fail_after;
	r->sink.dr = dr;
	assert(r->sink.buf != NULL);
	data_init(dr, max, normalize, fuzz_sink, &r->sink);
	while (pos < len && !done) {
		if (mode == 0)
			piece = len - pos;
		else if (mode == 1)
			piece = len <= 4096 ? 1 : 1 + pos % 4093;
		else {
			seed = seed * 1103515245u + 12345u;
			piece = 1 + (seed >> 8) % (len <= 4096 ? 97 : 9973);
		}
		if (piece > len - pos)
			piece = len - pos;
		used = data_feed(dr, in + pos, piece, &done);
		assert(used <= piece);
		if (!done)
			assert(used == piece);
		pos += used;
		/* output never larger than input */
		assert(r->sink.len <= pos);
		if (done)
			assert(end != 0 && pos == end);
	}
	if (!done)
		assert(end == 0);
	else {
		int again = 0;

		assert(data_feed(dr, in, len, &again) == 0 && again == 1);
	}
	r->error = dr->error;
	r->size = dr->size;
	r->consumed = pos;
	r->done = done;
	if (dr->error != DATA_OK)
		assert(r->sink.calls_after_error == 0);
	if (dr->error == DATA_ERR_WRITE)
		assert(dr->sink_errno == ENOSPC);
	if (r->sink.failed)
		assert(dr->error == DATA_ERR_WRITE);
	assert(data_error_text(dr->error) != NULL);
	free(dr);
}

/* Reference for reject mode: the message text if the input is clean (no
 * bare CR or LF before the end), else NULL. */
static char *
fuzz_reference(const char *in, size_t end, size_t *outlen)
{
	char *out = malloc(end + 1);
	size_t i = 0, o = 0, body = end - 3;

	assert(out != NULL);
	/* in[0..body) is "line CRLF line CRLF ... " ending in CRLF (or
	 * empty), then ".\r\n". */
	while (i < body) {
		const char *cr = memchr(in + i, '\r', body - i);
		const char *lf = memchr(in + i, '\n', body - i);
		size_t n;

		if (cr == NULL || lf == NULL || lf != cr + 1) {
			free(out);
			return NULL;
		}
		n = (size_t)(cr - (in + i));
		if (n > 0 && in[i] == '.')
			i++, n--;
		memcpy(out + o, in + i, n);
		o += n;
		out[o++] = '\n';
		i += n + 2;
	}
	*outlen = o;
	return out;
}

/* fuzz_expand - the run expansion of bit 4; returns a malloc'ed copy */
static char *
fuzz_expand(const uint8_t *in, size_t len, size_t *outlen)
{
	size_t i, o = 0, cap = len + 1, n;
	char *out = malloc(cap), *bigger;

	assert(out != NULL);
	for (i = 0; i < len; i++) {
		int run = in[i] == 0xfe && i + 2 < len && o > 0;

		n = 1;
		if (run) {
			n = (size_t)in[i + 1] << 8 | in[i + 2];
			i += 2;
			if (o >= 140000)
				n = 0;
			else if (o + n > 140000)
				n = 140000 - o;
		}
		if (o + n > cap) {
			cap = o + n + len;
			bigger = realloc(out, cap);
			assert(bigger != NULL);
			out = bigger;
		}
		if (run)
			memset(out + o, out[o - 1], n);
		else
			out[o] = (char)in[i];
		o += n;
	}
	*outlen = o;
	/* exact size: ASan must see a read past the end */
	bigger = realloc(out, o ? o : 1);
	assert(bigger != NULL);
	return bigger;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = { 0, 7, 300, 70000 };
	struct run a, b, c;
	const char *in;
	char *expanded = NULL;
	size_t len, max, fail_after, end, i, line;
	int normalize;
	uint32_t seed;

	if (size < 2)
		return 0;
	normalize = data[0] & 1;
	max = maxes[(data[0] >> 1) & 3];
	fail_after = (data[0] & 8) ? (size_t)data[1] * 300 : SIZE_MAX;
	seed = data[1] | (uint32_t)data[0] << 8;
	in = (const char *)data + 2;
	len = size - 2;
	if (data[0] & 0x10) {
		expanded = fuzz_expand(data + 2, size - 2, &len);
		in = expanded;
	}

	fuzz_run(&a, in, len, normalize, max, fail_after, 0, seed);
	fuzz_run(&b, in, len, normalize, max, fail_after, 1, seed);
	fuzz_run(&c, in, len, normalize, max, fail_after, 2, seed);
	assert(a.error == b.error && a.error == c.error);
	assert(a.done == b.done && a.done == c.done);
	assert(a.consumed == b.consumed && a.consumed == c.consumed);
	if (a.error == DATA_OK) {
		assert(a.size == b.size && a.size == c.size);
		assert(a.sink.len == b.sink.len && a.sink.len == c.sink.len);
		assert(memcmp(a.sink.buf, b.sink.buf, a.sink.len) == 0);
		assert(memcmp(a.sink.buf, c.sink.buf, a.sink.len) == 0);
		if (max != 0)
			assert(a.size <= max);
		assert(memchr(a.sink.buf, '\r', a.sink.len) == NULL);
		for (i = 0, line = 0; i < a.sink.len; i++) {
			line = a.sink.buf[i] == '\n' ? 0 : line + 1;
			assert(line <= DATA_LINE_MAX);
		}
	}
	end = fuzz_end(in, len);
	if (a.done && a.error == DATA_OK && !normalize) {
		size_t rlen;
		char *ref = fuzz_reference(in, end, &rlen);

		/* reject mode, no error: the input was clean */
		assert(ref != NULL);
		assert(rlen == a.sink.len);
		assert(memcmp(ref, a.sink.buf, rlen) == 0);
		/* size counts the wire octets after unstuffing */
		assert(a.size <= end);
		free(ref);
	}
	free(a.sink.buf);
	free(b.sink.buf);
	free(c.sink.buf);
	free(expanded);
	return 0;
}
