/* test_cidr.c - unit tests of cidr.c: parsing CIDR text (good and bad),
 * masking, and matching IPv4, IPv6 and IPv4-mapped IPv6 client addresses.
 *
 *	main - run every suite; exit 1 if any test failed
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "cidr.h"

/* Parsing: text in, the canonical "ADDR/BITS" out (NULL: must fail). */
static const struct {
	const char	*in;
	const char	*want;
} parse_rows[] = {
	{ "192.0.2.0/24", "192.0.2.0/24" },
	{ "192.0.2.77/24", "192.0.2.0/24" },		/* host bits masked */
	{ "192.0.2.1", "192.0.2.1/32" },		/* bare = host */
	{ "0.0.0.0/0", "0.0.0.0/0" },
	{ "10.1.2.3/8", "10.0.0.0/8" },
	{ "172.16.255.1/12", "172.16.0.0/12" },
	{ "192.0.2.255/31", "192.0.2.254/31" },
	{ "2001:db8::/32", "2001:db8::/32" },
	{ "2001:db8:ffff::1/33", "2001:db8:8000::/33" },
	{ "::1", "::1/128" },
	{ "::/0", "::/0" },
	{ "fe80::1/10", "fe80::/10" },
	{ "::ffff:192.0.2.0/120", "192.0.2.0/24" },	/* mapped -> v4 */
	{ "::ffff:192.0.2.9", "192.0.2.9/32" },
	{ "192.0.2.0/", NULL },
	{ "192.0.2.0/33", NULL },
	{ "2001:db8::/129", NULL },
	{ "192.0.2.0/024", NULL },			/* leading zero */
	{ "192.0.2.0/-1", NULL },
	{ "192.0.2.0/+8", NULL },
	{ "192.0.2.0/8x", NULL },
	{ "192.0.2/24", NULL },
	{ "192.0.2.256", NULL },
	{ "192.0.2.0/24/8", NULL },
	{ "example.org", NULL },
	{ "", NULL },
	{ "/24", NULL },
	{ " 192.0.2.1", NULL },
	{ "2001:db8:::1", NULL },
	{ "2001:db8::1%eth0", NULL },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999/64", NULL },
	{ "0000:0000:0000:0000:0000:ffff:192.168.100.200/128xx", NULL },
};

START_TEST(test_parse)
{
	struct cidr c;
	char buf[CIDR_FORMAT_SIZE];
	int rc;

	rc = cidr_parse(parse_rows[_i].in, &c);
	if (parse_rows[_i].want == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" parsed", parse_rows[_i].in);
		ck_assert_int_eq(c.family, 0);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\" refused", parse_rows[_i].in);
	ck_assert_str_eq(cidr_format(&c, buf, sizeof(buf)),
	    parse_rows[_i].want);
}
END_TEST

/* Matching: a list, a client address, the expected answer. */
static const struct {
	const char	*list;		/* space separated */
	const char	*client;
	int		 want;
} match_rows[] = {
	{ "192.0.2.0/24", "192.0.2.1", 1 },
	{ "192.0.2.0/24", "192.0.2.255", 1 },
	{ "192.0.2.0/24", "192.0.3.0", 0 },
	{ "192.0.2.0/24", "::ffff:192.0.2.9", 1 },	/* mapped client */
	{ "192.0.2.0/24", "::ffff:192.0.3.9", 0 },
	{ "192.0.2.0/24", "::192.0.2.9", 0 },		/* compat != mapped */
	{ "192.0.2.0/24", "2001:db8::1", 0 },
	{ "127.0.0.0/8 ::1", "127.0.0.2", 1 },
	{ "127.0.0.0/8 ::1", "::1", 1 },
	{ "127.0.0.0/8 ::1", "::2", 0 },
	{ "127.0.0.0/8 ::1", "::ffff:127.1.2.3", 1 },
	{ "2001:db8::/32", "2001:db8:1234::5", 1 },
	{ "2001:db8::/32", "2001:db9::5", 0 },
	{ "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ "0.0.0.0/0", "203.0.113.4", 1 },
	{ "0.0.0.0/0", "::ffff:203.0.113.4", 1 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "::ffff:203.0.113.4", 0 },		/* compared as v4 */
	{ "::ffff:10.0.0.0/104", "10.9.8.7", 1 },	/* mapped network */
	{ "10.0.0.0/8", "::ffff:10.9.8.7", 1 },
	{ "192.0.2.1", "192.0.2.1", 1 },
	{ "192.0.2.1", "192.0.2.2", 0 },
	{ "192.0.2.1/31", "192.0.2.0", 1 },
	{ "", "192.0.2.1", 0 },				/* empty list */
};

/* sockaddr_of - a socket address for text (v4 or v6), port 25. */
static void
sockaddr_of(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(25);
		return;
	}
	ck_assert_int_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(25);
}

START_TEST(test_match)
{
	struct cidr_list l = { NULL, 0 };
	struct sockaddr_storage ss;
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", match_rows[_i].list);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save))
		ck_assert_int_eq(cidr_list_add(&l, tok), 0);
	sockaddr_of(match_rows[_i].client, &ss);
	ck_assert_msg(cidr_list_match(&l, (struct sockaddr *)&ss) ==
	    match_rows[_i].want, "%s in [%s]: want %d", match_rows[_i].client,
	    match_rows[_i].list, match_rows[_i].want);
	cidr_list_free(&l);
	ck_assert_ptr_null(l.v);
	ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(test_list_add_bad)
{
	struct cidr_list l = { NULL, 0 };

	ck_assert_int_eq(cidr_list_add(&l, "192.0.2.0/24"), 0);
	ck_assert_int_eq(cidr_list_add(&l, "bogus"), -1);
	ck_assert_int_eq(cidr_list_add(&l, "10.0.0.0/99"), -1);
	ck_assert_uint_eq(l.n, 1);
	cidr_list_free(&l);
	cidr_list_free(&l);	/* twice is harmless */
	cidr_list_free(NULL);
}
END_TEST

START_TEST(test_unmap)
{
	struct sockaddr_storage in, out;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out;
	char buf[INET6_ADDRSTRLEN];

	sockaddr_of("::ffff:198.51.100.7", &in);
	ck_assert_int_eq(cidr_sockaddr_unmap((struct sockaddr *)&in, &out), 0);
	ck_assert_int_eq(out.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(s4->sin_port), 25);
	inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
	ck_assert_str_eq(buf, "198.51.100.7");

	sockaddr_of("2001:db8::7", &in);
	ck_assert_int_eq(cidr_sockaddr_unmap((struct sockaddr *)&in, &out), 0);
	ck_assert_int_eq(out.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::7");

	sockaddr_of("203.0.113.9", &in);
	ck_assert_int_eq(cidr_sockaddr_unmap((struct sockaddr *)&in, &out), 0);
	ck_assert_int_eq(out.ss_family, AF_INET);
	inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
	ck_assert_str_eq(buf, "203.0.113.9");

	memset(&in, 0, sizeof(in));
	in.ss_family = AF_UNIX;
	ck_assert_int_eq(cidr_sockaddr_unmap((struct sockaddr *)&in, &out),
	    -1);
}
END_TEST

START_TEST(test_format_small)
{
	struct cidr c;
	char buf[8];

	ck_assert_int_eq(cidr_parse("2001:db8::/32", &c), 0);
	ck_assert_str_eq(cidr_format(&c, buf, sizeof(buf)), "?");
	memset(&c, 0, sizeof(c));
	ck_assert_str_eq(cidr_format(&c, buf, sizeof(buf)), "?");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cidr");
	TCase *tc = tcase_create("cidr");
	SRunner *sr;
	int failures;

	tcase_add_loop_test(tc, test_parse, 0,
	    sizeof(parse_rows) / sizeof(parse_rows[0]));
	tcase_add_loop_test(tc, test_match, 0,
	    sizeof(match_rows) / sizeof(match_rows[0]));
	tcase_add_test(tc, test_list_add_bad);
	tcase_add_test(tc, test_unmap);
	tcase_add_test(tc, test_format_small);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
