/* test_spf_policy.c - what strictmx answers for each SPF result under each
 * setting of spf_policy and spf_on_*, which sessions are evaluated, and
 * the EHLO word. Plain functions over outcomes: no network.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include <check.h>

#include "addr.h"
#include "cidr.h"
#include "conf.h"
#include "spf.h"
#include "spf_policy.h"

static struct conf test_conf;

static void
setup(void)
{
	static char *domains[] = { "example.org" };

	memset(&test_conf, 0, sizeof(test_conf));
	test_conf.domains = domains;
	test_conf.ndomains = 1;
	test_conf.spf_policy = POLICY_ENFORCE;
	test_conf.spf_on_fail = VERDICT_REJECT;
	test_conf.spf_on_temperror = VERDICT_ACCEPT;
	test_conf.spf_on_permerror = VERDICT_ACCEPT;
}

static void
teardown(void)
{
	cidr_list_free(&test_conf.exempt_clients);
	cidr_list_free(&test_conf.local_sender_networks);
}

static void
outcome(struct spf_outcome *o, enum spf_result r, const char *exp,
    const char *problem)
{
	memset(o, 0, sizeof(*o));
	o->result = r;
	o->identity = SPF_ID_MAILFROM;
	strcpy(o->domain, "sender.example");
	strcpy(o->explanation, exp);
	strcpy(o->problem, problem);
}

/* {result, on_fail, on_temperror, on_permerror, policy, want code,
 * enforced, reply} */
static const struct {
	enum spf_result	 result;
	int		 on_fail, on_temp, on_perm, policy;
	int		 code, enforced;
	const char	*exp, *problem, *reply;
} rows[] = {
	{ SPF_PASS, VERDICT_REJECT, VERDICT_TEMPFAIL, VERDICT_REJECT,
	    POLICY_ENFORCE, 0, 0, "", "", "" },
	{ SPF_NONE, VERDICT_REJECT, VERDICT_TEMPFAIL, VERDICT_REJECT,
	    POLICY_ENFORCE, 0, 0, "", "", "" },
	{ SPF_NEUTRAL, VERDICT_REJECT, VERDICT_TEMPFAIL, VERDICT_REJECT,
	    POLICY_ENFORCE, 0, 0, "", "", "" },
	/* RFC 7208 §8.5: softfail is never refused */
	{ SPF_SOFTFAIL, VERDICT_REJECT, VERDICT_TEMPFAIL, VERDICT_REJECT,
	    POLICY_ENFORCE, 0, 0, "", "", "" },
	{ SPF_FAIL, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 550, 1, "", "",
	    "550 5.7.23 SPF fail: sender.example does not allow 192.0.2.1 to "
	    "send its mail (mailfrom identity)" },
	{ SPF_FAIL, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 550, 1, "192.0.2.1 is not welcome here", "",
	    "550 5.7.23 192.0.2.1 is not welcome here" },
	/* an explanation with a CR LF cannot inject a reply line */
	{ SPF_FAIL, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 550, 1, "go\r\n250 away", "",
	    "550 5.7.23 go??250 away" },
	{ SPF_FAIL, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_LOG, 550, 0, "", "",
	    "550 5.7.23 SPF fail: sender.example does not allow 192.0.2.1 to "
	    "send its mail (mailfrom identity)" },
	{ SPF_FAIL, VERDICT_ACCEPT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 0, 0, "", "", "" },
	{ SPF_TEMPERROR, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 0, 0, "", "timeout", "" },
	{ SPF_TEMPERROR, VERDICT_REJECT, VERDICT_TEMPFAIL, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 451, 1, "", "DNS timeout for TXT sender.example",
	    "451 4.7.24 SPF temporary error for sender.example: DNS timeout "
	    "for TXT sender.example" },
	{ SPF_TEMPERROR, VERDICT_REJECT, VERDICT_TEMPFAIL, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 451, 1, "", "",
	    "451 4.7.24 SPF temporary error for sender.example: DNS failure" },
	{ SPF_PERMERROR, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_ACCEPT,
	    POLICY_ENFORCE, 0, 0, "", "void lookup limit", "" },
	{ SPF_PERMERROR, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_REJECT,
	    POLICY_ENFORCE, 550, 1, "", "void lookup limit",
	    "550 5.7.24 SPF permanent error for sender.example: void lookup "
	    "limit" },
	{ SPF_PERMERROR, VERDICT_REJECT, VERDICT_ACCEPT, VERDICT_REJECT,
	    POLICY_LOG, 550, 0, "", "x",
	    "550 5.7.24 SPF permanent error for sender.example: x" },
};

START_TEST(test_decide)
{
	struct spf_outcome o;
	struct spf_verdict v;

	test_conf.spf_on_fail = rows[_i].on_fail;
	test_conf.spf_on_temperror = rows[_i].on_temp;
	test_conf.spf_on_permerror = rows[_i].on_perm;
	test_conf.spf_policy = rows[_i].policy;
	outcome(&o, rows[_i].result, rows[_i].exp, rows[_i].problem);
	spf_policy_decide(&test_conf, &o, "192.0.2.1", &v);
	ck_assert_int_eq(v.code, rows[_i].code);
	ck_assert_int_eq(v.enforced, rows[_i].enforced);
	ck_assert_str_eq(v.reply, rows[_i].reply);
}
END_TEST

START_TEST(test_helo_identity_text)
{
	struct spf_outcome o;
	struct spf_verdict v;

	outcome(&o, SPF_FAIL, "", "");
	o.identity = SPF_ID_HELO;
	strcpy(o.domain, "mail.sender.example");
	spf_policy_decide(&test_conf, &o, "2001:db8::1", &v);
	ck_assert_str_eq(v.reply, "550 5.7.23 SPF fail: mail.sender.example "
	    "does not allow 2001:db8::1 to send its mail (helo identity)");
}
END_TEST

/* The reply stays one line below 512 octets whatever the explanation. */
START_TEST(test_long_explanation)
{
	struct spf_outcome o;
	struct spf_verdict v;

	outcome(&o, SPF_FAIL, "", "");
	memset(o.explanation, 'x', SPF_EXPLANATION_MAX);
	o.explanation[SPF_EXPLANATION_MAX] = '\0';
	spf_policy_decide(&test_conf, &o, "192.0.2.1", &v);
	ck_assert_uint_lt(strlen(v.reply), SMTP_REPLYLINE_MAX - 2);
	ck_assert_ptr_null(strpbrk(v.reply, "\r\n"));
}
END_TEST

static void
sa_set(struct sockaddr_storage *ss, const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

START_TEST(test_wanted)
{
	struct sockaddr_storage ss;
	struct mailaddr a, local, null;

	memset(&a, 0, sizeof(a));
	strcpy(a.domain, "sender.example");
	memset(&local, 0, sizeof(local));
	strcpy(local.domain, "example.org");
	memset(&null, 0, sizeof(null));
	null.is_null = 1;
	ck_assert_int_eq(cidr_list_add(&test_conf.exempt_clients,
	    "192.0.2.9"), 0);
	ck_assert_int_eq(cidr_list_add(&test_conf.local_sender_networks,
	    "198.51.100.0/24"), 0);

	sa_set(&ss, "192.0.2.1");
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &a,
	    (struct sockaddr *)&ss), 1);
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &null,
	    (struct sockaddr *)&ss), 1);
	/* a stranger using our domain is evaluated (and refused later) */
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &local,
	    (struct sockaddr *)&ss), 1);
	sa_set(&ss, "192.0.2.9");
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &a,
	    (struct sockaddr *)&ss), 0);
	sa_set(&ss, "198.51.100.7");
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &local,
	    (struct sockaddr *)&ss), 0);
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &a,
	    (struct sockaddr *)&ss), 1);
	test_conf.spf_policy = POLICY_OFF;
	sa_set(&ss, "192.0.2.1");
	ck_assert_int_eq(spf_policy_wanted(&test_conf, &a,
	    (struct sockaddr *)&ss), 0);
}
END_TEST

START_TEST(test_keywords)
{
	char buf[16];

	ck_assert_uint_eq(spf_policy_keywords(&test_conf, buf, sizeof(buf)),
	    3);
	ck_assert_str_eq(buf, "SPF");
	ck_assert_uint_eq(spf_policy_keywords(&test_conf, buf, 3), 0);
	ck_assert_str_eq(buf, "");
	test_conf.spf_policy = POLICY_LOG;
	ck_assert_uint_eq(spf_policy_keywords(&test_conf, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("spf_policy");
	TCase *tc = tcase_create("all");
	SRunner *sr;
	int nfail;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_decide, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_helo_identity_text);
	tcase_add_test(tc, test_long_explanation);
	tcase_add_test(tc, test_wanted);
	tcase_add_test(tc, test_keywords);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? 0 : 1;
}
