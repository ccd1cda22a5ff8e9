/* test_addr.c - unit tests of addr.c: RFC 5321 §4.1.2 paths, ESMTP
 * parameters and domain names, as {input, flags, want} rows.
 *
 *	main - run every row under Check, exit 1 on any failure
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "addr.h"

/* Runs of "a" of exact lengths, for the RFC 5321 §4.5.3.1 limits. */
#define A1	"a"
#define A2	A1 A1
#define A4	A2 A2
#define A8	A4 A4
#define A16	A8 A8
#define A32	A16 A16
#define A61	A32 A16 A8 A4 A1
#define A62	A32 A16 A8 A4 A2
#define A63	A62 A1
#define A64	A32 A32
#define A65	A64 A1
#define A127	A64 A62 A1
#define A128	A64 A64
#define D189	A63 "." A63 "." A61		/* 189 octets */
#define D190	A63 "." A63 "." A62		/* 190 */
#define D255	A63 "." A63 "." A63 "." A63	/* 255 */
#define D256	A63 "." A63 "." A63 "." A62 "." A1	/* 256 */

#define EX	"@example.com"

#define F_NULL	ADDR_ALLOW_NULL
#define F_PM	ADDR_ALLOW_POSTMASTER
#define F_LAX	ADDR_ALLOW_LAX

struct addr_row {
	const char	*in;
	int		 flags;
	enum addr_status want;
	/* Checked only when want is ADDR_OK: */
	const char	*text;
	const char	*local;
	const char	*domain;
	const char	*rest;
	int		 is_null;
	int		 is_postmaster;
	int		 utf8;
};

/* OK(in, flags, text, local, domain, rest), BAD(in, flags, status) */
#define OK(i, f, t, l, d, r)	{ i, f, ADDR_OK, t, l, d, r, 0, 0, 0 }
#define OK8(i, f, t, l, d)	{ i, f, ADDR_OK, t, l, d, "", 0, 0, 1 }
#define BAD(i, f, s)		{ i, f, s, NULL, NULL, NULL, NULL, 0, 0, 0 }

static const struct addr_row addr_rows[] = {
	/* plain addresses, case, rest */
	OK("<alice@example.com>", 0, "alice" EX, "alice", "example.com", ""),
	OK("<Alice@Example.COM>", 0, "Alice@Example.COM", "Alice",
	    "example.com", ""),
	OK("<alice" EX "> SIZE=100 BODY=8BITMIME", 0, "alice" EX, "alice",
	    "example.com", "SIZE=100 BODY=8BITMIME"),
	OK("<alice" EX ">   SIZE=100", 0, "alice" EX, "alice",
	    "example.com", "SIZE=100"),
	OK("<alice" EX "> ", 0, "alice" EX, "alice", "example.com", ""),
	OK("<a.b.c" EX ">", 0, "a.b.c" EX, "a.b.c", "example.com", ""),
	OK("<!#$%&'*+-/=?^_`{|}~" EX ">", 0, "!#$%&'*+-/=?^_`{|}~" EX,
	    "!#$%&'*+-/=?^_`{|}~", "example.com", ""),
	OK("<a@localhost>", 0, "a@localhost", "a", "localhost", ""),
	OK("<a@123.example>", 0, "a@123.example", "a", "123.example", ""),
	OK("<a@ex-ample.com>", 0, "a@ex-ample.com", "a", "ex-ample.com", ""),
	OK("<a@xn--bcher-kva.example>", 0, "a@xn--bcher-kva.example", "a",
	    "xn--bcher-kva.example", ""),

	/* brackets, spaces, junk after ">" */
	BAD("<alice" EX ">SIZE=100", 0, ADDR_ERR_SYNTAX),
	BAD("<alice" EX ">>", 0, ADDR_ERR_SYNTAX),
	BAD("<alice" EX ">\r\n", 0, ADDR_ERR_SYNTAX),
	BAD("alice" EX, 0, ADDR_ERR_SYNTAX),
	BAD("alice" EX, F_LAX, ADDR_ERR_SYNTAX),
	BAD("<alice" EX, 0, ADDR_ERR_SYNTAX),
	BAD("", 0, ADDR_ERR_SYNTAX),
	BAD(" <alice" EX ">", 0, ADDR_ERR_SYNTAX),
	OK(" <alice" EX ">", F_LAX, "alice" EX, "alice", "example.com", ""),
	OK("   <alice" EX "> SIZE=1", F_LAX, "alice" EX, "alice",
	    "example.com", "SIZE=1"),
	BAD("\t<alice" EX ">", F_LAX, ADDR_ERR_SYNTAX),
	BAD("< alice" EX ">", F_LAX, ADDR_ERR_MAILBOX),
	BAD("<alice" EX " >", 0, ADDR_ERR_MAILBOX),

	/* null path */
	BAD("<>", 0, ADDR_ERR_NULL),
	BAD("<>", F_PM, ADDR_ERR_NULL),
	{ "<>", F_NULL, ADDR_OK, "", "", "", "", 1, 0, 0 },
	{ "<> SIZE=10", F_NULL, ADDR_OK, "", "", "", "SIZE=10", 1, 0, 0 },
	{ " <>", F_NULL | F_LAX, ADDR_OK, "", "", "", "", 1, 0, 0 },
	BAD("<>x", F_NULL, ADDR_ERR_SYNTAX),
	BAD("<@a.example:>", F_NULL, ADDR_ERR_MAILBOX),

	/* <postmaster> */
	BAD("<postmaster>", 0, ADDR_ERR_MAILBOX),
	BAD("<postmaster>", F_NULL, ADDR_ERR_MAILBOX),
	{ "<postmaster>", F_PM, ADDR_OK, "postmaster", "postmaster", "", "",
	    0, 1, 0 },
	{ "<PostMaster> NOTIFY=NEVER", F_PM, ADDR_OK, "PostMaster",
	    "postmaster", "", "NOTIFY=NEVER", 0, 1, 0 },
	OK("<Postmaster" EX ">", 0, "Postmaster" EX, "Postmaster",
	    "example.com", ""),
	BAD("<postmasters>", F_PM, ADDR_ERR_MAILBOX),
	BAD("<\"postmaster\">", F_PM, ADDR_ERR_MAILBOX),
	BAD("<@a.example:postmaster>", F_PM, ADDR_ERR_MAILBOX),
	BAD("<alice>", F_PM, ADDR_ERR_MAILBOX),

	/* quoted local parts */
	OK("<\"john doe\"" EX ">", 0, "\"john doe\"" EX, "john doe",
	    "example.com", ""),
	OK("<\"a\\\"b\\\\c\"" EX ">", 0, "\"a\\\"b\\\\c\"" EX, "a\"b\\c",
	    "example.com", ""),
	OK("<\"a@b>c\"" EX ">", 0, "\"a@b>c\"" EX, "a@b>c", "example.com",
	    ""),
	OK("<\"\\a\"" EX ">", 0, "\"\\a\"" EX, "a", "example.com", ""),
	BAD("<\"\"" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<\"a\\\001\"" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<\"a\rb\"" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<\"abc" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<\"a>\"", 0, ADDR_ERR_SYNTAX),
	BAD("<\"a\"b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\"b\"" EX ">", 0, ADDR_ERR_MAILBOX),

	/* unquoted specials and controls, dots */
	BAD("<a b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a(b)" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a,b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\\b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\r\n" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\001" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<.a" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a." EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a..b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a@b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<alice>", 0, ADDR_ERR_MAILBOX),
	BAD("<" EX ">", 0, ADDR_ERR_MAILBOX),

	/* source routes: checked, then dropped */
	OK("<@a.example,@b.example:alice" EX ">", 0, "alice" EX, "alice",
	    "example.com", ""),
	OK("<@a.example:alice" EX "> SIZE=1", 0, "alice" EX, "alice",
	    "example.com", "SIZE=1"),
	BAD("<@a.example,b.example:alice" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<@-a.example:alice" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<@a.example alice" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<@a.example,:alice" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<@[192.0.2.1]:alice" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<@a.example>", 0, ADDR_ERR_MAILBOX),

	/* address literals */
	OK("<alice@[192.0.2.1]>", 0, "alice@[192.0.2.1]", "alice",
	    "[192.0.2.1]", ""),
	OK("<alice@[IPv6:2001:DB8::1]>", 0, "alice@[IPv6:2001:DB8::1]",
	    "alice", "[ipv6:2001:db8::1]", ""),
	OK("<alice@[ipv6:::ffff:192.0.2.1]> X=1", 0,
	    "alice@[ipv6:::ffff:192.0.2.1]", "alice",
	    "[ipv6:::ffff:192.0.2.1]", "X=1"),
	BAD("<alice@[192.0.2.256]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[192.0.2]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[2001:db8::1]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[IPv6:2001:db8::g]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[IPv6:192.0.2.1]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[x-tag:foo]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[]>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[192.0.2.1]x>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[192.0.2.1>", 0, ADDR_ERR_MAILBOX),
	BAD("<alice@[192.0.2.1] >", 0, ADDR_ERR_MAILBOX),

	/* domain syntax */
	BAD("<a@-example.com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@example-.com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@example.-com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@example..com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@.example.com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@example.com.>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@exa_mple.com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@exam ple.com>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@ex\177ample.com>", 0, ADDR_ERR_MAILBOX),

	/* SMTPUTF8 (RFC 6531) */
	OK8("<jos\xc3\xa9" EX ">", 0, "jos\xc3\xa9" EX, "jos\xc3\xa9",
	    "example.com"),
	OK8("<user@B\xc3\xbcro.Example>", 0, "user@B\xc3\xbcro.Example", "user",
	    "b\xc3\xbcro.example"),
	OK8("<\"\xc3\xa9 x\"" EX ">", 0, "\"\xc3\xa9 x\"" EX, "\xc3\xa9 x",
	    "example.com"),
	OK8("<\xe2\x82\xac\xf0\x9f\x98\x80@\xe4\xbe\x8b.example>", 0,
	    "\xe2\x82\xac\xf0\x9f\x98\x80@\xe4\xbe\x8b.example",
	    "\xe2\x82\xac\xf0\x9f\x98\x80", "\xe4\xbe\x8b.example"),
	BAD("<jos\xc3" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\xc0\xaf" "b" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\xe0\x80\x80" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\xed\xa0\x80" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\xf4\x90\x80\x80" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\xc2\x85" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\xff" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a\x80" EX ">", 0, ADDR_ERR_MAILBOX),
	BAD("<a@b\xc3.example>", 0, ADDR_ERR_MAILBOX),
	BAD("<\"a\\\xc3\xa9\"" EX ">", 0, ADDR_ERR_MAILBOX),

	/* RFC 5321 §4.5.3.1 limits */
	OK("<" A64 EX ">", 0, A64 EX, A64, "example.com", ""),
	BAD("<" A65 EX ">", 0, ADDR_ERR_TOOLONG),
	OK("<\"" A62 "\"" EX ">", 0, "\"" A62 "\"" EX, A62, "example.com",
	    ""),
	BAD("<\"" A63 "\"" EX ">", 0, ADDR_ERR_TOOLONG),
	OK("<a@" A63 ".example>", 0, "a@" A63 ".example", "a",
	    A63 ".example", ""),
	BAD("<a@" A64 ".example>", 0, ADDR_ERR_MAILBOX),
	BAD("<a@" D255 ">", 0, ADDR_ERR_TOOLONG),
	BAD("<a@" D256 ">", 0, ADDR_ERR_TOOLONG),
	OK("<" A64 "@" D189 ">", 0, A64 "@" D189, A64, D189, ""),
	BAD("<" A64 "@" D190 ">", 0, ADDR_ERR_TOOLONG),
	BAD("<@" A63 "." A63 ",@" A63 "." A63 ":a@b.example>", 0,
	    ADDR_ERR_TOOLONG),
};

static const char *const addr_status_names[] = {
	"OK", "SYNTAX", "MAILBOX", "NULL", "TOOLONG", "IDNA",
};

START_TEST(test_addr_parse)
{
	const struct addr_row *r = &addr_rows[_i];
	struct mailaddr ma;
	const char *rest = NULL;
	enum addr_status st;

	st = addr_parse(r->in, &ma, &rest, r->flags);
	ck_assert_msg(st == r->want, "row %d \"%s\": got %s, want %s", _i,
	    r->in, addr_status_names[st], addr_status_names[r->want]);
	if (r->want != ADDR_OK)
		return;
	ck_assert_msg(strcmp(ma.text, r->text) == 0,
	    "row %d: text \"%s\", want \"%s\"", _i, ma.text, r->text);
	ck_assert_msg(strcmp(ma.local, r->local) == 0,
	    "row %d: local \"%s\", want \"%s\"", _i, ma.local, r->local);
	ck_assert_msg(strcmp(ma.domain, r->domain) == 0,
	    "row %d: domain \"%s\", want \"%s\"", _i, ma.domain, r->domain);
	ck_assert_msg(rest != NULL && strcmp(rest, r->rest) == 0,
	    "row %d: rest \"%s\", want \"%s\"", _i, rest ? rest : "(null)",
	    r->rest);
	ck_assert_int_eq(ma.is_null, r->is_null);
	ck_assert_int_eq(ma.is_postmaster, r->is_postmaster);
	ck_assert_int_eq(ma.utf8, r->utf8);
}
END_TEST

/* The A-label form of the domain, for DNS: {path, status, ace}. */
static const struct {
	const char		*in;
	enum addr_status	 want;
	const char		*ace;
} ace_rows[] = {
	{ "<a@Example.COM>", ADDR_OK, "example.com" },
	{ "<a@[192.0.2.1]>", ADDR_OK, "[192.0.2.1]" },
	{ "<a@xn--bcher-kva.example>", ADDR_OK, "xn--bcher-kva.example" },
	{ "<a@b\xc3\xbc" "cher.example>", ADDR_OK, "xn--bcher-kva.example" },
	{ "<a@B\xc3\x9c" "CHER.Example>", ADDR_OK, "xn--bcher-kva.example" },
	{ "<j\xc3\xb6rg@example.com>", ADDR_OK, "example.com" },
	{ "<a@\xe2\x98\x83.example>", ADDR_ERR_IDNA, NULL },	/* snowman */
	{ "<a@a\xe2\x80\x8d" "b.example>", ADDR_ERR_IDNA, NULL },	/* ZWJ */
	{ "<a@ab--cd.b\xc3\xbc" "cher.example>", ADDR_ERR_IDNA, NULL },
	{ "<a@\xd9\xa1\xd9\xa2x.example>", ADDR_ERR_IDNA, NULL },	/* bidi */
};

START_TEST(test_addr_ace)
{
	struct mailaddr ma;

	ck_assert_int_eq(addr_parse(ace_rows[_i].in, &ma, NULL, 0),
	    ace_rows[_i].want);
	if (ace_rows[_i].want == ADDR_OK)
		ck_assert_str_eq(ma.ace, ace_rows[_i].ace);
	else
		ck_assert_str_eq(ma.domain, "");
}
END_TEST

/* addr_parse must not need a rest pointer */
START_TEST(test_addr_parse_norest)
{
	struct mailaddr ma;

	ck_assert_int_eq(addr_parse("<a@b.example> X=1", &ma, NULL, 0),
	    ADDR_OK);
	ck_assert_str_eq(ma.domain, "b.example");
}
END_TEST

struct param_row {
	const char	*in;
	size_t		 max;
	int		 want;		/* 0 or -1 */
	size_t		 n;
	const char	*kv[3][2];	/* first n pairs checked */
};

static const struct param_row param_rows[] = {
	{ "", 4, 0, 0, { { NULL } } },
	{ "   ", 4, 0, 0, { { NULL } } },
	{ "SIZE=1000", 4, 0, 1, { { "SIZE", "1000" } } },
	{ "SIZE=1000 BODY=8BITMIME SMTPUTF8", 4, 0, 3,
	    { { "SIZE", "1000" }, { "BODY", "8BITMIME" }, { "SMTPUTF8", "" } } },
	{ "size=1  body=7BIT ", 4, 0, 2, { { "size", "1" }, { "body", "7BIT" } } },
	{ "ORCPT=rfc822;a+2Bb@example.com", 4, 0, 1,
	    { { "ORCPT", "rfc822;a+2Bb@example.com" } } },
	{ "X-1=a", 4, 0, 1, { { "X-1", "a" } } },
	{ "ENVID=\xc3\xa9t\xc3\xa9", 4, 0, 1, { { "ENVID", "\xc3\xa9t\xc3\xa9" } } },
	{ A16 A8 A4 A2 A1 "=1", 4, 0, 1, { { A16 A8 A4 A2 A1, "1" } } },
	{ "V=" A127, 4, 0, 1, { { "V", A127 } } },
	{ "A B C D", 4, 0, 4, { { "A", "" }, { "B", "" }, { "C", "" } } },
	{ "A B C D E", 4, -1, 0, { { NULL } } },
	{ "A", 0, -1, 0, { { NULL } } },
	{ A32 "=1", 4, -1, 0, { { NULL } } },
	{ "V=" A128, 4, -1, 0, { { NULL } } },
	{ "=x", 4, -1, 0, { { NULL } } },
	{ "-SIZE=1", 4, -1, 0, { { NULL } } },
	{ "SIZE=", 4, -1, 0, { { NULL } } },
	{ "SIZE= BODY=7BIT", 4, -1, 0, { { NULL } } },
	{ "SIZE=a=b", 4, -1, 0, { { NULL } } },
	{ "SIZE=\001", 4, -1, 0, { { NULL } } },
	{ "SIZE=1\tBODY=7BIT", 4, -1, 0, { { NULL } } },
	{ "KEY_X=1", 4, -1, 0, { { NULL } } },
	{ "ENVID=\xc3", 4, -1, 0, { { NULL } } },
	{ "ENVID=\x7f", 4, -1, 0, { { NULL } } },
};

START_TEST(test_addr_params)
{
	const struct param_row *r = &param_rows[_i];
	struct addr_param ap[4];
	size_t n = 99, k;
	int rc;

	rc = addr_params(r->in, ap, r->max, &n);
	ck_assert_msg(rc == r->want, "row %d \"%s\": rc %d", _i, r->in, rc);
	ck_assert_msg(n == r->n, "row %d: n %zu, want %zu", _i, n, r->n);
	for (k = 0; k < n && k < 3; k++) {
		ck_assert_str_eq(ap[k].key, r->kv[k][0]);
		ck_assert_str_eq(ap[k].value, r->kv[k][1]);
	}
}
END_TEST

struct domain_row {
	const char	*in;
	int		 want;
};

static const struct domain_row domain_rows[] = {
	{ "example.com", 1 },
	{ "EXAMPLE.com", 1 },
	{ "localhost", 1 },
	{ "a-b.c-d.example", 1 },
	{ "0.example", 1 },
	{ A63 ".example", 1 },
	{ A64 ".example", 0 },
	{ D255, 1 },
	{ D256, 0 },
	{ "", 0 },
	{ NULL, 0 },
	{ "-a.example", 0 },
	{ "a-.example", 0 },
	{ "a..example", 0 },
	{ ".example", 0 },
	{ "example.", 0 },
	{ "ex ample", 0 },
	{ "ex_ample", 0 },
	{ "[192.0.2.1]", 0 },
	{ "b\xc3\xbcro.example", 0 },	/* config names are ASCII */
};

START_TEST(test_addr_domain_valid)
{
	const struct domain_row *r = &domain_rows[_i];

	ck_assert_msg(addr_domain_valid(r->in) == r->want, "row %d \"%s\"",
	    _i, r->in ? r->in : "(null)");
}
END_TEST

START_TEST(test_addr_status_text)
{
	int i, j;

	for (i = 0; i < ADDR_STATUS_LAST; i++) {
		ck_assert_ptr_nonnull(addr_status_text(i));
		ck_assert_int_gt(strlen(addr_status_text(i)), 0);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(addr_status_text(i),
			    addr_status_text(j));
	}
	ck_assert_str_eq(addr_status_text(ADDR_STATUS_LAST),
	    "unknown address status");
	ck_assert_str_eq(addr_status_text((enum addr_status)-1),
	    "unknown address status");
}
END_TEST

START_TEST(test_addr_lower)
{
	char s[] = "AbC-Z09@\xc3\x9c.EXAMPLE";

	addr_lower(s);
	ck_assert_str_eq(s, "abc-z09@\xc3\x9c.example");
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

int
main(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("addr");
	SRunner *sr;
	int failures;

	tcase_add_loop_test(tc, test_addr_parse, 0, NROWS(addr_rows));
	tcase_add_test(tc, test_addr_parse_norest);
	tcase_add_loop_test(tc, test_addr_ace, 0, NROWS(ace_rows));
	tcase_add_loop_test(tc, test_addr_params, 0, NROWS(param_rows));
	tcase_add_loop_test(tc, test_addr_domain_valid, 0, NROWS(domain_rows));
	tcase_add_test(tc, test_addr_status_text);
	tcase_add_test(tc, test_addr_lower);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
