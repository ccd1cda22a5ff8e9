/* test_msghdr.c - the header section as it streams: where it ends, its
 * fields, malformed lines, header-only messages, the MSGHDR_MAX bound;
 * every row fed whole and split at every byte offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "msghdr.h"

struct row {
	const char *msg;
	size_t	 hdrlen;	/* octets consumed as header (with the empty
				 * line); -1: all, and msghdr_end needed */
	const char *fields;	/* "name|name|" */
	int	 malformed;
	const char *body;	/* what is left for the body */
};

#define ALL ((size_t)-1)

static const struct row rows[] = {
	{ "From: a@b\nTo: c@d\n\nbody\n", 19, "From|To|", 0, "body\n" },
	{ "\nbody only\n", 1, "", 0, "body only\n" },
	{ "Subject: x\n folded\n\tagain\nX: y\n\n", 32, "Subject|X|", 0,
	  "" },
	{ "From: a\n", ALL, "From|", 0, "" },
	{ "From: a", ALL, "From|", 0, "" },
	{ "hello world\n\nbody\n", 13, "", 1, "body\n" },
	{ " leading wsp\nFrom: a\n\nb", 22, "From|", 1, "b" },
	{ "From : obs wsp\n\n", 16, "From|", 0, "" },
	{ "Bad Name: x\nFrom: a\n\n", 21, "From|", 1, "" },
	{ "From: a\nnocolon\n cont\nTo: b\n\nB\n", 29, "From|To|", 1,
	  "B\n" },
	{ ":x\nA:\n\n", 7, "A|", 1, "" },
	{ "A:1\nA:2\na:3\n\n\n", 13, "A|A|a|", 0, "\n" },
};

static void
check_row(const struct row *r, size_t split)
{
	struct msghdr_section h;
	struct msghdr_field f;
	size_t len = strlen(r->msg), used, pos = 0;
	char names[256] = "";
	char body[256] = "";

	msghdr_init(&h);
	used = msghdr_feed(&h, r->msg, split);
	if (used == split && !h.done)
		used += msghdr_feed(&h, r->msg + split, len - split);
	else
		ck_assert_uint_eq(msghdr_feed(&h, r->msg + split,
		    len - split), 0);
	if (r->hdrlen == ALL) {
		ck_assert_int_eq(h.done, 0);
		ck_assert_uint_eq(used, len);
		msghdr_end(&h);
	} else
		ck_assert_uint_eq(used, r->hdrlen);
	ck_assert_int_eq(h.done, 1);
	snprintf(body, sizeof(body), "%s", r->msg + used);
	ck_assert_str_eq(body, r->body);
	while (msghdr_next(&h, &pos, &f)) {
		strncat(names, f.name, f.namelen);
		strcat(names, "|");
		/* the raw field starts with its name and ends with LF */
		ck_assert(f.raw == f.name);
		ck_assert(f.raw[f.rawlen - 1] == '\n');
	}
	ck_assert_msg(strcmp(names, r->fields) == 0, "row %s split %zu: "
	    "fields %s", r->msg, split, names);
	ck_assert_int_eq(h.malformed, r->malformed);
	ck_assert_int_eq(h.overflow, 0);
	msghdr_free(&h);
}

START_TEST(test_rows)
{
	const struct row *r = &rows[_i];
	size_t split, len = strlen(r->msg);

	for (split = 0; split <= len; split++)
		check_row(r, split);
}
END_TEST

START_TEST(test_raw_and_count)
{
	static const char m[] = "Subject: x\r\n y\nfrom: a\nFROM: b\n\n";
	struct msghdr_section h;
	struct msghdr_field f;
	size_t pos = 0;

	msghdr_init(&h);
	ck_assert_uint_eq(msghdr_feed(&h, m, sizeof(m) - 1), sizeof(m) - 1);
	ck_assert(msghdr_next(&h, &pos, &f));
	ck_assert_uint_eq(f.rawlen, 15);
	ck_assert(memcmp(f.raw, "Subject: x\r\n y\n", 15) == 0);
	ck_assert_uint_eq(msghdr_count(&h, "From"), 2);
	ck_assert_uint_eq(msghdr_count(&h, "subject"), 1);
	ck_assert_uint_eq(msghdr_count(&h, "To"), 0);
	msghdr_free(&h);
}
END_TEST

/* More than MSGHDR_MAX: flagged, only whole fields kept, the end still
 * found at the empty line, fed in odd chunks. */
START_TEST(test_overflow)
{
	struct msghdr_section h;
	struct msghdr_field f;
	size_t pos = 0, n = 0, used = 0, i, len;
	char *m, *p;

	m = malloc(MSGHDR_MAX * 2 + 100);
	ck_assert_ptr_nonnull(m);
	p = m;
	p += sprintf(p, "From: first\n");
	while ((size_t)(p - m) < MSGHDR_MAX + 5000)
		p += sprintf(p, "X-Filler: %s\n folded continuation line\n",
		    "0123456789012345678901234567890123456789");
	p += sprintf(p, "\nbody\n");
	len = (size_t)(p - m);
	msghdr_init(&h);
	for (i = 0; i < len && !h.done; i += 997)
		used += msghdr_feed(&h, m + i, len - i < 997 ? len - i : 997);
	ck_assert_int_eq(h.done, 1);
	ck_assert_int_eq(h.overflow, 1);
	ck_assert_str_eq(m + used, "body\n");
	ck_assert(h.len <= MSGHDR_MAX);
	while (msghdr_next(&h, &pos, &f)) {
		ck_assert(f.raw[f.rawlen - 1] == '\n');
		if (n > 0)
			ck_assert(memcmp(f.raw + f.rawlen - 26,
			    " folded continuation line\n", 26) == 0);
		n++;
	}
	ck_assert(n > 1000);
	ck_assert_uint_eq(msghdr_count(&h, "From"), 1);
	msghdr_free(&h);
	free(m);
}
END_TEST

static Suite *
msghdr_suite(void)
{
	Suite *s = suite_create("msghdr");
	TCase *tc = tcase_create("msghdr");

	tcase_add_loop_test(tc, test_rows, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_raw_and_count);
	tcase_add_test(tc, test_overflow);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(msghdr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
