/* test_spf.c - unit tests of the pure SPF code: the record parser
 * (spf_record.c), the macro expander (spf_macro.c, with the RFC 7208 §7.4
 * examples) and spf_args_init(). The evaluator itself runs against real
 * DNS in tests/spf (the OpenSPF suite and the pyspf differential test).
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
#include <strings.h>

#include <check.h>

#include "spf.h"
#include "spf_macro.h"
#include "spf_record.h"

/* Parsing: a record, whether it parses, and then its mechanisms as
 * "qual mech[:domain-spec][/c4][//c6]" joined by spaces. */
static const struct {
	const char	*in;
	const char	*want;	/* NULL: permerror */
} rec_rows[] = {
	{ "v=spf1", "" },
	{ "v=spf1 ", "" },
	{ "V=SpF1 -ALL", "-all" },
	{ "v=spf1 a  -all ", "+a -all" },
	{ "v=spf1 +a ~mx ?ptr -exists:%{i}.x.example", "+a ~mx ?ptr "
	    "-exists:%{i}.x.example" },
	{ "v=spf1 a/24//64 mx:foo.example.org/0 a//0", "+a/24//64 "
	    "+mx:foo.example.org/0 +a//0" },
	{ "v=spf1 a:foo:bar/baz.example.com", "+a:foo:bar/baz.example.com" },
	{ "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip6:::1.1.1.1/0",
	    "+ip4/24 +ip6//32 +ip6//0" },
	{ "v=spf1 include:_spf.example.com redirect=x.example.com "
	    "exp=e.%{d}", "+include:_spf.example.com" },
	{ "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all",
	    "+ip4/32 -all" },
	{ "v=spf1 default=+ foo=%{x}", NULL },
	{ "v=spf1 default=+", "" },
	{ "v=spf1 a:foo.example.xn--zckzah", "+a:foo.example.xn--zckzah" },
	{ "v=spf1 a:%{H}.bar -all", "+a:%{H}.bar -all" },
	{ "v=spf1 a:%{d}", "+a:%{d}" },
	{ "v=spf10", NULL },
	{ "v=spf1\t-all", NULL },
	{ "spf1 -all", NULL },
	/* §4.6: errors anywhere, even after a matching term */
	{ "v=spf1 ip4:1.2.3.4 -all moo", NULL },
	{ "v=spf1 moo.cow/far_out=man:dog/cat -all", NULL },
	{ "v=spf1 moo.cow:far_out=man:dog/cat -all", NULL },
	{ "v=spf1 redirect:t2.example.com", NULL },
	{ "v=spf1 -all.", NULL },
	{ "v=spf1 -all:foobar", NULL },
	{ "v=spf1 -all/8", NULL },
	{ "v=spf1 ptr/0 -all", NULL },
	{ "v=spf1 ptr:", NULL },
	{ "v=spf1 a:", NULL },
	{ "v=spf1 a/33", NULL },
	{ "v=spf1 a//129", NULL },
	{ "v=spf1 a/24/64", NULL },
	{ "v=spf1 a/032", NULL },
	{ "v=spf1 a:foo-bar -all", NULL },
	{ "v=spf1 a:museum", NULL },
	{ "v=spf1 a:museum.", NULL },
	{ "v=spf1 a:abc.123", NULL },
	{ "v=spf1 a:111.222.33.44", NULL },
	{ "v=spf1 a:example.-com", NULL },
	{ "v=spf1 a:example.com:8080", NULL },
	{ "v=spf1 include", NULL },
	{ "v=spf1 include:", NULL },
	{ "v=spf1 include:ip5.example.com/24", NULL },
	{ "v=spf1 exists", NULL },
	{ "v=spf1 exists:mail.example.com/24", NULL },
	{ "v=spf1 ip4", NULL },
	{ "v=spf1 ip4:1.2.3", NULL },
	{ "v=spf1 ip4:1.2.3.4:8080", NULL },
	{ "v=spf1 ip4:1.2.3.4//32", NULL },
	{ "v=spf1 ip4:1.2.3.4/33", NULL },
	{ "v=spf1 ip4:1.2.3.04", NULL },
	{ "v=spf1 ip4:1.2.3.256", NULL },
	{ "v=spf1 ip6", NULL },
	{ "v=spf1 ip6::CAFE::BABE", NULL },
	{ "v=spf1 ip6:::1.1.1.1/129", NULL },
	{ "v=spf1 ip6:::1.1.1.1//33", NULL },
	{ "v=spf1 1up=foo", NULL },
	{ "v=spf1 =all", NULL },
	{ "v=spf1 -foo=bar", NULL },
	{ "v=spf1 foo=%abc", NULL },
	{ "v=spf1 exp= -all", NULL },
	{ "v=spf1 exp=-all", NULL },
	{ "v=spf1 redirect=", NULL },
	{ "v=spf1 redirect=-all ?all", NULL },
	{ "v=spf1 exp=a.example.com exp=b.example.com", NULL },
	{ "v=spf1 redirect=a.example.com REDIRECT=a.example.com", NULL },
	{ "v=spf1 exp=%{r}.example.com", NULL },	/* r: exp text only */
	{ "v=spf1 a:%{c}.example.com", NULL },
	{ "v=spf1 a:%{a}.example.com", NULL },
	{ "v=spf1 exists:%(ir).sbl.example.com", NULL },
	{ "v=spf1 exists:foo%.sbl.example.com", NULL },
	{ "v=spf1 a:macro%%percent%_%_space%-url-space.example.com",
	    "+a:macro%%percent%_%_space%-url-space.example.com" },
	{ "v=spf1 a:ctrl.example.com\rptr -all", NULL },
	{ "v=spf1 \x80" "a:example.net -all", NULL },
	{ "v=spf1 a:example.net \x96" "all", NULL },
	{ "v=spf1 +", NULL },
	{ "v=spf1 foo", NULL },
};

/* rec_text - the mechanisms of r in the rec_rows notation. */
static void
rec_text(const struct spf_record *r, char *buf, size_t size)
{
	static const char q[] = { [SPF_PASS] = '+', [SPF_FAIL] = '-',
	    [SPF_SOFTFAIL] = '~', [SPF_NEUTRAL] = '?' };
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < r->nterms; i++) {
		const struct spf_term *t = &r->terms[i];

		o += (size_t)snprintf(buf + o, size - o, "%s%c%s", i ? " " : "",
		    q[t->qual], spf_mech_text(t->mech));
		if (t->dom_len > 0)
			o += (size_t)snprintf(buf + o, size - o, ":%.*s",
			    (int)t->dom_len, r->text + t->dom_off);
		if ((t->mech == SPF_M_A || t->mech == SPF_M_MX ||
		    t->mech == SPF_M_IP4) && t->cidr4 != 32)
			o += (size_t)snprintf(buf + o, size - o, "/%u",
			    t->cidr4);
		if (t->mech == SPF_M_IP4 && t->cidr4 == 32)
			o += (size_t)snprintf(buf + o, size - o, "/32");
		if ((t->mech == SPF_M_A || t->mech == SPF_M_MX ||
		    t->mech == SPF_M_IP6) && t->cidr6 != 128)
			o += (size_t)snprintf(buf + o, size - o, "//%u",
			    t->cidr6);
		ck_assert_uint_lt(o, size);
	}
}

START_TEST(test_record)
{
	struct spf_record r;
	char got[512];
	int rc;

	rc = spf_record_parse(rec_rows[_i].in, strlen(rec_rows[_i].in), &r);
	if (rec_rows[_i].want == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" parsed", rec_rows[_i].in);
		ck_assert_ptr_null(r.terms);
		ck_assert_str_ne(r.error, "");
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\": %s", rec_rows[_i].in, r.error);
	rec_text(&r, got, sizeof(got));
	ck_assert_str_eq(got, rec_rows[_i].want);
	spf_record_free(&r);
}
END_TEST

/* Modifiers are kept aside; "all" anywhere is noted (§6.1). */
START_TEST(test_record_modifiers)
{
	static const char rec[] = "v=spf1 exp=e.%{d} -all "
	    "redirect=r.example.com";
	struct spf_record r;

	ck_assert_int_eq(spf_record_parse(rec, strlen(rec), &r), 0);
	ck_assert_int_eq(r.has_redirect, 1);
	ck_assert_int_eq(r.has_exp, 1);
	ck_assert_int_eq(r.has_all, 1);
	ck_assert_int_eq((int)r.redirect_len, 13);
	ck_assert_int_eq(strncmp(rec + r.redirect_off, "r.example.com", 13), 0);
	ck_assert_int_eq(strncmp(rec + r.exp_off, "e.%{d}", r.exp_len), 0);
	spf_record_free(&r);
}
END_TEST

/* A record with a NUL inside is a permerror, not a shorter record. */
START_TEST(test_record_nul)
{
	static const char rec[] = "v=spf1 a:foo.example.com\0";
	struct spf_record r;

	ck_assert_int_eq(spf_record_parse(rec, sizeof(rec) - 1, &r), -1);
}
END_TEST

/* Bounded: the longest record DNS can carry, all terms, parses; one past
 * SPF_RECORD_MAX is refused, and 10 000 terms never get allocated. */
START_TEST(test_record_bounds)
{
	static char rec[30000];
	struct spf_record r;
	size_t n = 6, i;

	memcpy(rec, "v=spf1", 6);
	for (i = 0; n + 2 <= 1264; i++) {
		memcpy(rec + n, " a", 2);
		n += 2;
	}
	ck_assert_int_eq(spf_record_parse(rec, n, &r), 0);
	ck_assert_uint_eq(r.nterms, i);
	spf_record_free(&r);
	for (i = 0; i < 10000; i++) {
		memcpy(rec + n, " a", 2);
		n += 2;
	}
	ck_assert_int_eq(spf_record_parse(rec, n, &r), -1);
	ck_assert_str_eq(r.error, "record too long");
	memset(rec + 6, ' ', SPF_RECORD_MAX - 6);
	ck_assert_int_eq(spf_record_parse(rec, SPF_RECORD_MAX, &r), 0);
	ck_assert_uint_eq(r.nterms, 0);
	spf_record_free(&r);
}
END_TEST

START_TEST(test_is_spf)
{
	ck_assert_int_eq(spf_record_is_spf("v=spf1", 6), 1);
	ck_assert_int_eq(spf_record_is_spf("V=SPF1 a", 8), 1);
	ck_assert_int_eq(spf_record_is_spf("v=spf10", 7), 0);
	ck_assert_int_eq(spf_record_is_spf("v=spf1mx", 8), 0);
	ck_assert_int_eq(spf_record_is_spf("v=spf", 5), 0);
	ck_assert_int_eq(spf_record_is_spf("", 0), 0);
}
END_TEST

/* The RFC 7208 §7.4 examples. */
static struct spf_macro_vars mv;
static struct sockaddr_storage mv_ip;

static void
mv_setup(const char *ip)
{
	memset(&mv, 0, sizeof(mv));
	memset(&mv_ip, 0, sizeof(mv_ip));
	if (strchr(ip, ':') != NULL) {
		mv_ip.ss_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, ip,
		    &((struct sockaddr_in6 *)&mv_ip)->sin6_addr), 1);
	} else {
		mv_ip.ss_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, ip,
		    &((struct sockaddr_in *)&mv_ip)->sin_addr), 1);
	}
	mv.sender = "strong-bad@email.example.com";
	mv.local = "strong-bad";
	mv.sdomain = "email.example.com";
	mv.domain = "email.example.com";
	mv.client = (struct sockaddr *)&mv_ip;
	mv.helo = "mx.example.org";
	mv.receiver = "mx.example.net";
	mv.now = 1700000000;
}

static const struct {
	const char	*ip;
	const char	*in;
	int		 exp;	/* an explanation, not a domain-spec */
	const char	*want;	/* NULL: syntax error */
} mac_rows[] = {
	{ "192.0.2.3", "%{s}", 0, "strong-bad@email.example.com" },
	{ "192.0.2.3", "%{o}", 0, "email.example.com" },
	{ "192.0.2.3", "%{d}", 0, "email.example.com" },
	{ "192.0.2.3", "%{d4}", 0, "email.example.com" },
	{ "192.0.2.3", "%{d3}", 0, "email.example.com" },
	{ "192.0.2.3", "%{d2}", 0, "example.com" },
	{ "192.0.2.3", "%{d1}", 0, "com" },
	{ "192.0.2.3", "%{dr}", 0, "com.example.email" },
	{ "192.0.2.3", "%{d2r}", 0, "example.email" },
	{ "192.0.2.3", "%{l}", 0, "strong-bad" },
	{ "192.0.2.3", "%{l-}", 0, "strong.bad" },
	{ "192.0.2.3", "%{lr}", 0, "strong-bad" },
	{ "192.0.2.3", "%{lr-}", 0, "bad.strong" },
	{ "192.0.2.3", "%{l1r-}", 0, "strong" },
	{ "192.0.2.3", "%{ir}.%{v}._spf.%{d2}", 0,
	    "3.2.0.192.in-addr._spf.example.com" },
	{ "192.0.2.3", "%{lr-}.lp._spf.%{d2}", 0,
	    "bad.strong.lp._spf.example.com" },
	{ "192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", 0,
	    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", 0,
	    "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "192.0.2.3", "%{d2}.trusted-domains.example.net", 0,
	    "example.com.trusted-domains.example.net" },
	/* §7.4 writes the nibbles in lower case; we write upper case, as the
	 * OpenSPF suite's v-macro-ip6 wants: compared case-insensitively. */
	{ "2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}", 0,
	    "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
	    ".ip6._spf.example.com" },
	/* more: escapes, upper case, delimiters, trailing dot, p, h */
	{ "192.0.2.3", "%{L}", 1, "strong-bad" },
	{ "192.0.2.3", "%{S}", 1, "strong-bad%40email.example.com" },
	{ "192.0.2.3", "%%%_%-", 1, "% %20" },
	{ "192.0.2.3", "a %{c} b %{r} %{t}", 1,
	    "a 192.0.2.3 b mx.example.net 1700000000" },
	{ "2001:db8::cb01", "%{c} %{v}", 1, "2001:db8::cb01 ip6" },
	{ "192.0.2.3", "%{p}.example.com", 0, "unknown.example.com" },
	{ "192.0.2.3", "%{h}.x.example", 0, "mx.example.org.x.example" },
	{ "192.0.2.3", "%{d}.", 0, NULL },	/* domain-end */
	{ "192.0.2.3", "x.%{d}.example.com.", 0,
	    "x.email.example.com.example.com" },
	{ "192.0.2.3", "%{l2r+-}.user.%{d2}", 0, "bad.strong.user.example.com" },
	{ "192.0.2.3", "%{d1000}.x.example", 0, "email.example.com.x.example" },
	{ "192.0.2.3", "%{dR}", 0, "com.example.email" },
	{ "192.0.2.3", "%{d0}", 0, NULL },
	{ "192.0.2.3", "%{x}", 0, NULL },
	{ "192.0.2.3", "%{c}", 0, NULL },	/* c r t: exp only */
	{ "192.0.2.3", "%{t}", 0, NULL },
	{ "192.0.2.3", "%{d", 0, NULL },
	{ "192.0.2.3", "%{d2r!}", 0, NULL },
	{ "192.0.2.3", "100%", 1, NULL },
	{ "192.0.2.3", "%x", 1, NULL },
	{ "192.0.2.3", "a\tb", 1, NULL },
	{ "192.0.2.3", "caf\xc3\xa9", 1, NULL },
	{ "192.0.2.3", "The %{x}-files.", 1, NULL },
	{ "192.0.2.3", "a b", 0, NULL },
};

START_TEST(test_macro)
{
	char out[SPF_MACRO_DOMAIN_SIZE], big[512];
	const char *in = mac_rows[_i].in;
	int rc;

	mv_setup(mac_rows[_i].ip);
	if (mac_rows[_i].exp) {
		rc = spf_macro_exp(in, strlen(in), &mv, big, sizeof(big));
		ck_assert_int_eq(spf_macro_check(in, strlen(in),
		    SPF_MACRO_EXP), mac_rows[_i].want == NULL ? -1 : 0);
	} else {
		rc = spf_macro_domain(in, strlen(in), &mv, out);
		ck_assert_int_eq(spf_macro_check(in, strlen(in),
		    SPF_MACRO_DOMAIN), mac_rows[_i].want == NULL ? -1 : 0);
		memcpy(big, out, sizeof(out));
	}
	if (mac_rows[_i].want == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" expanded", in);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\": %d", in, rc);
	ck_assert_msg(strcasecmp(big, mac_rows[_i].want) == 0,
	    "\"%s\" -> \"%s\", want \"%s\"", in, big, mac_rows[_i].want);
}
END_TEST

/* §7.3: a name over 253 octets loses labels from the left. */
START_TEST(test_macro_truncation)
{
	char out[SPF_MACRO_DOMAIN_SIZE], want[300];
	static const char in[] = "foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}."
	    "%{o}.example.com";
	int i;

	mv_setup("192.0.2.40");
	mv.sdomain = "somewhat.long.exp.example.com";
	want[0] = '\0';
	for (i = 0; i < 8; i++)
		strcat(want, "somewhat.long.exp.example.com.");
	strcat(want, "example.com");
	ck_assert_int_eq(spf_macro_domain(in, strlen(in), &mv, out), 0);
	ck_assert_str_eq(out, want);
	ck_assert_uint_le(strlen(out), 253);
}
END_TEST

/* Unusable names (empty or 64-octet labels) come back as 1, and the
 * expansion stays bounded however many macros a spec holds. */
START_TEST(test_macro_unusable)
{
	char out[SPF_MACRO_DOMAIN_SIZE], spec[4000];
	size_t n = 0;

	mv_setup("192.0.2.3");
	ck_assert_int_eq(spf_macro_domain("mail.example...com", 18, &mv, out),
	    1);
	mv.helo = "%%%%%%%%%%%%%%%%%%%%%%";
	ck_assert_int_eq(spf_macro_domain("%{H}.bar", 8, &mv, out), 1);
	while (n + 5 < sizeof(spec) - 16) {
		memcpy(spec + n, "%{S}.", 5);
		n += 5;
	}
	memcpy(spec + n, "example.com", 11);
	n += 11;
	ck_assert_int_eq(spf_macro_domain(spec, n, &mv, out), 0);
	ck_assert_uint_le(strlen(out), 253);
	ck_assert_str_eq(out + strlen(out) - 12, ".example.com");
	ck_assert_int_eq(spf_macro_uses("%%{p}", 5, 'p'), 0);
	ck_assert_int_eq(spf_macro_uses("x%{P}", 5, 'p'), 1);
}
END_TEST

/* §2.3, §4.3: the identity and its sender. */
START_TEST(test_args)
{
	struct spf_args a;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "user@example.org", "mx.example.net", "me.example"), 0);
	ck_assert_int_eq(a.identity, SPF_ID_MAILFROM);
	ck_assert_str_eq(a.domain, "example.org");
	ck_assert_str_eq(a.sender, "user@example.org");
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "@example.net", "mx.example.net", "me.example"), 0);
	ck_assert_str_eq(a.sender, "postmaster@example.net");
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "", "mx.example.net", "me.example"), 0);
	ck_assert_int_eq(a.identity, SPF_ID_HELO);
	ck_assert_str_eq(a.domain, "mx.example.net");
	ck_assert_str_eq(a.sender, "postmaster@mx.example.net");
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "", "A2345678", "me.example"), -1);
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "", "[1.2.3.5]", "me.example"), -1);
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "x@A...example.com", "h.example", "me.example"), -1);
	ck_assert_int_eq(spf_args_init(&a, (struct sockaddr *)&sin,
	    "x@a1234567890123456789012345678901234567890123456789012345678901234"
	    ".example.com", "h.example", "me.example"), -1);
	ck_assert_str_eq(spf_result_text(SPF_SOFTFAIL), "softfail");
	ck_assert_str_eq(spf_identity_text(SPF_ID_HELO), "helo");
}
END_TEST

static Suite *
spf_suite(void)
{
	Suite *s = suite_create("spf");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_record, 0,
	    sizeof(rec_rows) / sizeof(rec_rows[0]));
	tcase_add_test(tc, test_record_modifiers);
	tcase_add_test(tc, test_record_nul);
	tcase_add_test(tc, test_record_bounds);
	tcase_add_test(tc, test_is_spf);
	tcase_add_loop_test(tc, test_macro, 0,
	    sizeof(mac_rows) / sizeof(mac_rows[0]));
	tcase_add_test(tc, test_macro_truncation);
	tcase_add_test(tc, test_macro_unusable);
	tcase_add_test(tc, test_args);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
