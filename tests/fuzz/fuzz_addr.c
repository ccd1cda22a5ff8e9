/* fuzz_addr.c - libFuzzer harness for addr_parse() and addr_params(): the
 * MAIL FROM:/RCPT TO: path and ESMTP parameter parsers, fed raw client bytes.
 *
 *	LLVMFuzzerTestOneInput - parse one input under every flag set, check
 *	    the result's invariants, and re-parse its external form
 *
 * The first input byte picks the addr_parse() flags and the addr_params()
 * limit; the rest, cut at the first NUL (the session refuses NULs before
 * parsing), is the text after "FROM:" or "TO:". Invariants checked:
 *   - on ADDR_OK every field is NUL-terminated within its array, the
 *     lengths of RFC 5321 §4.5.3.1 hold, the domain is lower case, and
 *     text/local/domain hold no control octet (they reach logs, headers
 *     and replies);
 *   - *rest points inside the input, after the ">", at no space;
 *   - "<" + text + ">" parses again (same flags) to the same local, domain
 *     and flags: the external form round-trips;
 *   - addr_params() never reports more than max parameters, and each key
 *     and value is NUL-terminated within its array; on -1, *n is 0.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

static void
fuzz_no_ctl(const char *s, size_t max)
{
	size_t i, n = strnlen(s, max + 1);

	assert(n <= max);
	for (i = 0; i < n; i++)
		assert((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

static void
fuzz_params(const char *rest, size_t max)
{
	struct addr_param p[64];
	size_t n = 12345, i;
	int rc;

	rc = addr_params(rest, p, max, &n);
	if (rc == -1) {
		assert(n == 0);
		return;
	}
	assert(rc == 0);
	assert(n <= max);
	for (i = 0; i < n; i++) {
		assert(strnlen(p[i].key, sizeof(p[i].key)) < sizeof(p[i].key));
		assert(p[i].key[0] != '\0');
		assert(strnlen(p[i].value, sizeof(p[i].value)) <
		    sizeof(p[i].value));
		fuzz_no_ctl(p[i].key, sizeof(p[i].key) - 1);
		fuzz_no_ctl(p[i].value, sizeof(p[i].value) - 1);
	}
}

static void
fuzz_one(const char *s, int flags, size_t pmax)
{
	struct mailaddr a, b;
	const char *rest = NULL;
	enum addr_status st;
	char again[SMTP_PATH_MAX + 8];
	size_t i;

	st = addr_parse(s, &a, &rest, flags);
	assert((unsigned)st < ADDR_STATUS_LAST);
	assert(addr_status_text(st) != NULL);
	if (st != ADDR_OK)
		return;
	assert(rest != NULL && rest > s && rest <= s + strlen(s));
	assert(*rest != ' ');
	assert(strnlen(a.text, sizeof(a.text)) < sizeof(a.text));
	assert(strnlen(a.local, sizeof(a.local)) < sizeof(a.local));
	assert(strnlen(a.domain, sizeof(a.domain)) < sizeof(a.domain));
	fuzz_no_ctl(a.text, SMTP_PATH_MAX);
	fuzz_no_ctl(a.local, SMTP_LOCAL_MAX);
	fuzz_no_ctl(a.domain, SMTP_DOMAIN_MAX);
	for (i = 0; a.domain[i] != '\0'; i++)
		assert(!(a.domain[i] >= 'A' && a.domain[i] <= 'Z'));
	if (a.is_null) {
		assert(flags & ADDR_ALLOW_NULL);
		assert(a.text[0] == '\0' && a.local[0] == '\0' &&
		    a.domain[0] == '\0');
	} else if (a.is_postmaster) {
		assert(flags & ADDR_ALLOW_POSTMASTER);
		assert(a.domain[0] == '\0');
	} else {
		assert(a.local[0] != '\0' && a.domain[0] != '\0');
		assert(strchr(a.text, '@') != NULL);
		/* RFC 5321 §4.5.3.1.1-2 on the octets as sent */
		assert((size_t)(strrchr(a.text, '@') - a.text) <=
		    SMTP_LOCAL_MAX);
		assert(strlen(strrchr(a.text, '@') + 1) <= SMTP_DOMAIN_MAX);
		assert(strcmp(strrchr(a.text, '@') + 1, a.domain) == 0 ||
		    strcasecmp(strrchr(a.text, '@') + 1, a.domain) == 0);
		/* "<local@domain>" never exceeds the 256-octet path limit */
		assert(strlen(a.text) + 2 <= SMTP_PATH_MAX);
	}
	/* The external form parses again to the same thing. */
	snprintf(again, sizeof(again), "<%s>", a.text);
	st = addr_parse(again, &b, NULL, flags & ~ADDR_ALLOW_LAX);
	assert(st == ADDR_OK);
	assert(strcmp(a.text, b.text) == 0);
	assert(strcmp(a.local, b.local) == 0);
	assert(strcmp(a.domain, b.domain) == 0);
	assert(a.is_null == b.is_null && a.is_postmaster == b.is_postmaster &&
	    a.utf8 == b.utf8);
	fuzz_params(rest, pmax);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pmaxes[] = { 0, 1, 8, 64 };
	char *s;
	int flags;

	if (size < 1)
		return 0;
	flags = data[0] & 0x07;
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	fuzz_one(s, flags, pmaxes[(data[0] >> 3) & 3]);
	/* The parameter splitter also on the raw text, as the session would
	 * see a MAIL line's tail. */
	fuzz_params(s, pmaxes[(data[0] >> 3) & 3]);
	(void)addr_domain_valid(s);
	addr_lower(s);
	free(s);
	return 0;
}
