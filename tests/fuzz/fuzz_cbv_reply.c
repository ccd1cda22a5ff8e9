/* fuzz_cbv_reply.c - libFuzzer harness for cbv_reply_parse(): the parser
 * of the replies a sender domain's MX (an untrusted remote) sends to our
 * call-back verification probe.
 *
 *	LLVMFuzzerTestOneInput - parse the input, check the result, and
 *	    re-parse prefixes of a complete reply
 *
 * Invariants checked:
 *   - the result is one of the four CBV_PARSE_* values;
 *   - on OK: 0 < len <= input length, the consumed octets end with LF, the
 *     code is 200..599 and equals the first three octets, nlines >= 1,
 *     text is NUL-terminated, starts with the code, is at most
 *     CBV_REPLY_TEXT_MAX octets and printable ASCII; parsing exactly the
 *     consumed octets gives the same reply; every line of it is at most
 *     512 octets (RFC 5321 §4.5.3.1.5) and starts with the same code, the
 *     whole at most CBV_REPLY_MAX; every shorter prefix is MORE
 *     (a reply must not be decided before it has arrived);
 *   - a parse that is not OK leaves code 0 / len 0 for the caller;
 *   - MORE on a buffer of CBV_REPLY_MAX octets or more never happens (the
 *     caller caps its buffer there and would wait forever).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cbv.h"

static void
fuzz_check_ok(const char *buf, size_t len, const struct cbv_reply *r)
{
	size_t i, n;

	assert(r->len > 0 && r->len <= len);
	assert(buf[r->len - 1] == '\n');
	assert(r->code >= 200 && r->code <= 599);
	assert(r->code == (buf[0] - '0') * 100 + (buf[1] - '0') * 10 +
	    (buf[2] - '0'));
	assert(r->nlines >= 1 && r->nlines <= r->len / 4 + 1);
	n = strnlen(r->text, sizeof(r->text));
	assert(n < sizeof(r->text) && n <= CBV_REPLY_TEXT_MAX);
	assert(n >= 3 && memcmp(r->text, buf, 3) == 0);
	for (i = 0; i < n; i++)
		assert((unsigned char)r->text[i] >= 0x20 &&
		    (unsigned char)r->text[i] < 0x7f);
	assert(r->rfc3821 == 0 || r->rfc3821 == 1);
	/* RFC 5321 §4.5.3.1.5 per line, CBV_REPLY_MAX in all */
	assert(r->len <= CBV_REPLY_MAX);
	for (i = 0; i < r->len; i += n) {
		const char *lf = memchr(buf + i, '\n', r->len - i);

		assert(lf != NULL);
		n = (size_t)(lf - (buf + i)) + 1;
		assert(n <= SMTP_REPLYLINE_MAX);
		assert(memcmp(buf + i, buf, 3) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbv_reply r, r2;
	const char *buf;
	char *copy;
	size_t k;
	int st, st2;

	/* an exact-size heap copy: ASan sees any read past the end */
	copy = malloc(size ? size : 1);
	assert(copy != NULL);
	memcpy(copy, data, size);
	buf = copy;

	st = cbv_reply_parse(buf, size, &r);
	assert(st >= CBV_PARSE_OK && st < CBV_PARSE_LAST);
	if (st != CBV_PARSE_OK)
		assert(r.code == 0 && r.len == 0);
	if (st == CBV_PARSE_MORE)
		assert(size < CBV_REPLY_MAX);
	if (st == CBV_PARSE_OK) {
		fuzz_check_ok(buf, size, &r);
		/* exactly the reply: the same result */
		st2 = cbv_reply_parse(buf, r.len, &r2);
		assert(st2 == CBV_PARSE_OK && r2.len == r.len &&
		    r2.code == r.code && r2.nlines == r.nlines &&
		    r2.rfc3821 == r.rfc3821 && strcmp(r2.text, r.text) == 0);
		/* every proper prefix: not yet */
		for (k = 0; k < r.len; k += 1 + k / 8) {
			char *pre = malloc(k ? k : 1);

			assert(pre != NULL);
			memcpy(pre, buf, k);
			st2 = cbv_reply_parse(k ? pre : NULL, k, &r2);
			assert(st2 == CBV_PARSE_MORE);
			free(pre);
		}
		if (r.len > 1) {
			char *pre = malloc(r.len - 1);

			memcpy(pre, buf, r.len - 1);
			st2 = cbv_reply_parse(pre, r.len - 1, &r2);
			assert(st2 == CBV_PARSE_MORE);
			free(pre);
		}
	}
	free(copy);
	return 0;
}
