/* fuzz_dmarc.c - libFuzzer harness for the DMARC record parser
 * (dmarc_record.c) and the From: parser (dmarc_from.c), fed what DNS and
 * a client could send.
 *
 *	LLVMFuzzerTestOneInput - parse one input, check invariants
 *
 * The first input byte picks the mode: a DMARC record (TXT data, NULs
 * included), one From: field value, or a whole header section split into
 * fields by msghdr.c (fed in chunks whose size the second byte picks).
 * Invariants:
 *   - dmarc_record_parse() returns 0 or -1; -1 comes with a reason; 0
 *     means dmarc_record_is_dmarc() agrees, p= is none, quarantine or
 *     reject, sp= unset or one of them, pct= at most 100;
 *   - dmarc_from_value() returns 0 with at least one domain, or -1 with
 *     a problem; dmarc_from() gives a problem whenever no domain;
 *   - ndomains never exceeds DMARC_FROM_COUNT; a single domain is a
 *     lower-case LDH name of 1..253 octets with no empty label.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "dmarc_record.h"
#include "msghdr.h"

static void
check_domain(const struct dmarc_from *f)
{
	size_t n = strlen(f->domain), i;

	assert(f->ndomains >= 0 && f->ndomains <= DMARC_FROM_COUNT);
	assert(memchr(f->problem, '\0', sizeof(f->problem)) != NULL);
	if (f->ndomains != 1) {
		assert(n == 0);
		return;
	}
	assert(n >= 1 && n <= 253);
	assert(f->domain[0] != '.' && f->domain[n - 1] != '.');
	assert(strstr(f->domain, "..") == NULL);
	for (i = 0; i < n; i++) {
		char c = f->domain[i];

		assert((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.');
	}
}

static void
fuzz_record(const uint8_t *d, size_t n)
{
	struct dmarc_record rec;
	char why[80];
	int rc;

	memset(why, 'x', sizeof(why));
	rc = dmarc_record_parse((const char *)d, n, &rec, why, sizeof(why));
	assert(rc == 0 || rc == -1);
	assert(memchr(why, '\0', sizeof(why)) != NULL);
	if (rc < 0) {
		assert(why[0] != '\0');
		return;
	}
	assert(dmarc_record_is_dmarc((const char *)d, n) == 1);
	assert(rec.p >= DMARC_P_NONE && rec.p <= DMARC_P_REJECT);
	assert(rec.sp >= DMARC_P_UNSET && rec.sp <= DMARC_P_REJECT);
	assert(rec.pct <= 100);
	assert(!rec.p_implied || rec.p == DMARC_P_NONE);
}

static void
fuzz_value(const uint8_t *d, size_t n)
{
	struct dmarc_from f;
	int rc;

	memset(&f, 0, sizeof(f));
	rc = dmarc_from_value((const char *)d, n, &f);
	assert(rc == 0 || rc == -1);
	if (rc < 0)
		assert(f.problem[0] != '\0');
	else
		assert(f.ndomains >= 1);
	if (rc == 0)
		check_domain(&f);
}

static void
fuzz_header(const uint8_t *d, size_t n, size_t chunk)
{
	struct msghdr_section h;
	struct dmarc_from f;
	size_t off, k;

	msghdr_init(&h);
	for (off = 0; off < n; off += k) {
		k = n - off < chunk ? n - off : chunk;
		msghdr_feed(&h, (const char *)d + off, k);
	}
	msghdr_end(&h);
	dmarc_from(&h, &f);
	check_domain(&f);
	if (f.ndomains == 0)
		assert(f.problem[0] != '\0');
	msghdr_free(&h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_record(data + 1, size - 1);
		break;
	case 1:
		fuzz_value(data + 1, size - 1);
		break;
	default:
		fuzz_header(data + 2, size - 2, (size_t)data[1] + 1);
		break;
	}
	return 0;
}
