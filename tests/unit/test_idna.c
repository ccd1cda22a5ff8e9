/* test_idna.c - unit tests of idna.c: U-labels to A-labels (IDNA2008,
 * UTS #46 non-transitional), ASCII names checked and copied, refusals.
 *
 *	main - run every row under Check, exit 1 on any failure
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "idna.h"
#include "strictmx.h"

#define A32	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A63	A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A64	A32 A32
#define D253	A63 "." A63 "." A63 "." A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define U10	"\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc" \
		"\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"	/* ü x 10 */

/* {input, 0 or -1, the A-label form wanted} */
static const struct {
	const char	*in;
	int		 rc;
	const char	*want;
} rows[] = {
	/* ASCII: checked as LDH, copied lower case. */
	{ "example.org", 0, "example.org" },
	{ "Mail.EXAMPLE.Org", 0, "mail.example.org" },
	{ "localhost", 0, "localhost" },
	{ "xn--bcher-kva.example", 0, "xn--bcher-kva.example" },
	{ "XN--BCHER-KVA.Example", 0, "xn--bcher-kva.example" },
	{ "a-b.c0.example", 0, "a-b.c0.example" },
	{ D253, 0, D253 },
	{ D253 "a", -1, NULL },				/* 254 octets */
	{ A63 ".example", 0, A63 ".example" },
	{ A64 ".example", -1, NULL },			/* label of 64 */
	{ "", -1, NULL },
	{ "a..example", -1, NULL },
	{ ".example", -1, NULL },
	{ "example.org.", -1, NULL },			/* no root dot */
	{ "-a.example", -1, NULL },
	{ "a-.example", -1, NULL },
	{ "a_b.example", -1, NULL },
	{ "a b.example", -1, NULL },
	{ "[192.0.2.1]", -1, NULL },
	/* U-labels. */
	{ "b\xc3\xbc" "cher.example", 0, "xn--bcher-kva.example" },
	{ "B\xc3\x9c" "CHER.Example", 0, "xn--bcher-kva.example" },
	{ "mail.b\xc3\xbc" "cher.example", 0, "mail.xn--bcher-kva.example" },
	{ "stra\xc3\x9f" "e.de", 0, "xn--strae-oqa.de" },  /* ß kept */
	{ "\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95", 0,
	    "xn--fsqu00a.xn--0zwm56d" },		/* 例子.测试 */
	{ "e\xcc\x81x.example", 0, "xn--x-9fa.example" },	/* NFC */
	{ "\xef\xbd\x85xample.org", 0, "example.org" },	/* fullwidth e */
	/* Refused. */
	{ "\xe2\x98\x83.example", -1, NULL },		/* U+2603 snowman */
	{ "a\xe2\x80\x8d" "b.example", -1, NULL },	/* ZWJ, CONTEXTJ */
	{ "\xd9\xa1\xd9\xa2x.example", -1, NULL },	/* bidi rule */
	{ "b\xc3\xbc" "cher..example", -1, NULL },
	{ "b\xc3\xbc" "cher.example.", -1, NULL },
	{ "a_b.b\xc3\xbc" "cher.example", -1, NULL },	/* not dropped */
	{ "-b\xc3\xbc" "cher.example", -1, NULL },
	{ "ab--cd.b\xc3\xbc" "cher.example", -1, NULL },
	{ "xn--zz.b\xc3\xbc" "cher.example", -1, NULL },	/* bad A-label */
	{ "a\xff" "b.example", -1, NULL },		/* not UTF-8 */
	{ "b\xc3\xbc" "cher\x01.example", -1, NULL },
	{ U10 U10 U10 U10 U10 U10 U10 ".example", -1, NULL }, /* label */
};

START_TEST(test_idna_rows)
{
	char out[SMTP_DOMAIN_MAX + 1];
	const char *why = NULL;
	int rc;

	memset(out, 'x', sizeof(out));
	rc = idna_to_alabel_why(rows[_i].in, out, sizeof(out), &why);
	ck_assert_msg(rc == rows[_i].rc, "row %d: rc %d, out \"%s\"", _i, rc,
	    rc == 0 ? out : "");
	if (rc == 0)
		ck_assert_str_eq(out, rows[_i].want);
	else {
		ck_assert_str_eq(out, "");
		ck_assert_ptr_nonnull(why);
		ck_assert(strlen(why) > 0);
	}
	ck_assert_int_eq(idna_to_alabel(rows[_i].in, out, sizeof(out)),
	    rows[_i].rc);
}
END_TEST

/* The output bound is honoured: a name that does not fit is refused. */
START_TEST(test_idna_outlen)
{
	char out[32];

	ck_assert_int_eq(idna_to_alabel("b\xc3\xbc" "cher.example", out, 22),
	    0);
	ck_assert_str_eq(out, "xn--bcher-kva.example");
	ck_assert_int_eq(idna_to_alabel("b\xc3\xbc" "cher.example", out, 21),
	    -1);
	ck_assert_int_eq(idna_to_alabel("example.org", out, 11), -1);
	ck_assert_int_eq(idna_to_alabel("example.org", out, 12), 0);
	ck_assert_int_eq(idna_to_alabel("example.org", out, 0), -1);
	ck_assert_int_eq(idna_to_alabel("example.org", NULL, 10), -1);
	ck_assert_int_eq(idna_to_alabel(NULL, out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_idna_why)
{
	char out[SMTP_DOMAIN_MAX + 1];
	const char *why;

	ck_assert_int_eq(idna_to_alabel_why("a\xff" "b.example", out,
	    sizeof(out), &why), -1);
	ck_assert_str_eq(why, "not valid UTF-8");
	ck_assert_int_eq(idna_to_alabel_why("\xe2\x98\x83.example", out,
	    sizeof(out), &why), -1);
	ck_assert_str_eq(why,
	    "not a valid internationalized domain name (IDNA2008)");
	ck_assert_int_eq(idna_to_alabel_why(A64 ".example", out, sizeof(out),
	    &why), -1);
	ck_assert_str_eq(why, "label too long");
}
END_TEST

START_TEST(test_idna_is_ascii)
{
	ck_assert_int_eq(idna_is_ascii("example.org"), 1);
	ck_assert_int_eq(idna_is_ascii(""), 1);
	ck_assert_int_eq(idna_is_ascii("b\xc3\xbc" "cher.example"), 0);
	ck_assert_int_eq(idna_is_ascii("\x80"), 0);
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

int
main(void)
{
	Suite *s = suite_create("idna");
	TCase *tc = tcase_create("idna");
	SRunner *sr;
	int failures;

	tcase_add_loop_test(tc, test_idna_rows, 0, NROWS(rows));
	tcase_add_test(tc, test_idna_outlen);
	tcase_add_test(tc, test_idna_why);
	tcase_add_test(tc, test_idna_is_ascii);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
