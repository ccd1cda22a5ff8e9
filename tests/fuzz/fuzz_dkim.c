/* fuzz_dkim.c - libFuzzer harness for the DKIM parsers: the first input
 * octet picks the part, the rest is its input.
 *	0: msghdr (split at octet 1's offset) then every field as a
 *	   DKIM-Signature (dkim_sig_parse)
 *	1: a key record (dkim_key_parse)
 *	2: a tag list and base64 of each value
 *	3: the body canonicalisers (simple and relaxed, an l= from octet 1),
 *	   fed in two pieces; the relaxed header canonicaliser on the input
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_canon.h"
#include "dkim_key.h"
#include "dkim_sig.h"
#include "dkim_tag.h"
#include "msghdr.h"

static void
sink(void *arg, const char *p, size_t n)
{
	size_t *total = arg;

	if (n > 0 && p[0] == '\0' && p[n - 1] == '\0')
		*total += 1;
	*total += n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dkim_sigparse p;
	const char *s = (const char *)data + 2;
	size_t n, cut, pos = 0;

	if (size < 2)
		return 0;
	n = size - 2;
	cut = n > 0 ? data[1] % (n + 1) : 0;
	switch (data[0] % 4) {
	case 0: {
		struct msghdr_section h;
		struct msghdr_field f;
		size_t used;

		msghdr_init(&h);
		used = msghdr_feed(&h, s, cut);
		if (used == cut)
			msghdr_feed(&h, s + cut, n - cut);
		msghdr_end(&h);
		while (msghdr_next(&h, &pos, &f))
			(void)dkim_sig_parse(f.raw, f.rawlen, 1700000000, &p);
		(void)msghdr_count(&h, "DKIM-Signature");
		msghdr_free(&h);
		break;
	}
	case 1: {
		struct dkim_key k;

		(void)dkim_key_parse(s, n, &k);
		dkim_key_free(&k);
		break;
	}
	case 2: {
		struct dkim_tags t;
		unsigned char out[512];
		size_t i, ol;

		if (dkim_tags_parse(s, n, &t) == 0)
			for (i = 0; i < t.n; i++) {
				const char *el;
				size_t ellen, lp = 0;

				(void)dkim_b64_decode(t.t[i].val, t.t[i].len,
				    out, sizeof(out), &ol);
				while (lp <= t.t[i].len && dkim_list_next(
				    t.t[i].val, t.t[i].len, &lp, &el, &ellen))
					;
			}
		break;
	}
	case 3: {
		struct dkim_body b;
		size_t total = 0;
		int r;

		for (r = 0; r < 2; r++) {
			dkim_body_init(&b, r, data[1] < 128 ? UINT64_MAX :
			    data[1], sink, &total);
			dkim_body_feed(&b, s, cut);
			dkim_body_feed(&b, s + cut, n - cut);
			dkim_body_end(&b);
			if (b.out > b.total || b.out > b.limit)
				abort();
		}
		dkim_canon_header(1, s, n, 1, sink, &total);
		dkim_canon_header(0, s, n, 0, sink, &total);
		break;
	}
	}
	return 0;
}
