/* test_helo.c - unit tests of helo.c without a network: the syntax of HELO
 * arguments, the synchronous policy decisions and the DNS decision over
 * hand-built answers (the DNS paths proper are in test_resolver.c).
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

#include "conf.h"
#include "helo.h"
#include "resolver.h"
#include "xmalloc.h"

#define A10	"abcdefghij"
#define L61	A10 A10 A10 A10 A10 A10 "k"
#define L62	L61 "l"
#define L63	L62 "m"
#define L64	L63 "n"
#define N253	L63 "." L63 "." L63 "." L61	/* 253 octets */
#define N254	L63 "." L63 "." L63 "." L62	/* 254 octets */

/* helo_syntax: argument in, class out. */
static const struct {
	const char		*in;
	enum helo_syntax	 want;
} syntax_rows[] = {
	{ "mail.example.com", HELO_SYN_FQDN },
	{ "example.com", HELO_SYN_FQDN },
	{ "MAIL.Example.COM", HELO_SYN_FQDN },
	{ "a.b", HELO_SYN_FQDN },
	{ "mx-1.example.org", HELO_SYN_FQDN },
	{ "1mx.example.org", HELO_SYN_FQDN },		/* RFC 1123 §2.1 */
	{ "123.example.org", HELO_SYN_FQDN },
	{ "host.x1", HELO_SYN_FQDN },			/* not all digits */
	{ "host.123a", HELO_SYN_FQDN },
	{ "xn--bcher-kva.example", HELO_SYN_FQDN },	/* A-label */
	{ "mail.example.com.", HELO_SYN_FQDN },		/* one root dot */
	{ L63 ".example", HELO_SYN_FQDN },		/* 63-octet label */
	{ L64 ".example", HELO_SYN_BAD },		/* 64-octet label */
	{ "example." L63, HELO_SYN_FQDN },
	{ "example." L64, HELO_SYN_BAD },
	{ N253, HELO_SYN_FQDN },			/* 253 octets */
	{ N253 ".", HELO_SYN_FQDN },			/* + root dot */
	{ N254, HELO_SYN_BAD },				/* 254 octets */
	{ N254 ".", HELO_SYN_BAD },
	{ "localhost", HELO_SYN_BAD },			/* one label */
	{ "localhost.", HELO_SYN_BAD },
	{ "", HELO_SYN_BAD },
	{ ".", HELO_SYN_BAD },
	{ "..", HELO_SYN_BAD },
	{ ".example.com", HELO_SYN_BAD },
	{ "mail..example.com", HELO_SYN_BAD },
	{ "mail.example.com..", HELO_SYN_BAD },
	{ "-mail.example.com", HELO_SYN_BAD },
	{ "mail-.example.com", HELO_SYN_BAD },
	{ "mail.-example.com", HELO_SYN_BAD },
	{ "mail.example.com-", HELO_SYN_BAD },
	{ "mail_1.example.com", HELO_SYN_BAD },		/* underscore */
	{ "mail.exa mple.com", HELO_SYN_BAD },
	{ "mail.example.com ", HELO_SYN_BAD },
	{ "mail.ex\xc3\xa4mple.com", HELO_SYN_BAD },	/* raw UTF-8 */
	{ "mail.example.123", HELO_SYN_BAD },		/* all-digit TLD */
	{ "192.0.2.1", HELO_SYN_BAD },			/* bare IPv4 */
	{ "2001:db8::1", HELO_SYN_BAD },		/* bare IPv6 */
	{ "::1", HELO_SYN_BAD },
	{ "[192.0.2.1]", HELO_SYN_LIT4 },
	{ "[0.0.0.0]", HELO_SYN_LIT4 },
	{ "[255.255.255.255]", HELO_SYN_LIT4 },
	{ "[1.2.3.256]", HELO_SYN_BAD },
	{ "[1.2.3]", HELO_SYN_BAD },
	{ "[01.2.3.4]", HELO_SYN_BAD },			/* no leading zero */
	{ "[192.0.2.1", HELO_SYN_BAD },
	{ "192.0.2.1]", HELO_SYN_BAD },
	{ "[ 192.0.2.1]", HELO_SYN_BAD },
	{ "[]", HELO_SYN_BAD },
	{ "[example.com]", HELO_SYN_BAD },
	{ "[IPv6:2001:db8::1]", HELO_SYN_LIT6 },
	{ "[ipv6:2001:DB8::1]", HELO_SYN_LIT6 },	/* tag case */
	{ "[IPV6:::1]", HELO_SYN_LIT6 },
	{ "[IPv6:::ffff:192.0.2.1]", HELO_SYN_LIT6 },
	{ "[IPv6:2001:db8:0:0:0:0:0:1]", HELO_SYN_LIT6 },
	{ "[2001:db8::1]", HELO_SYN_BAD },		/* tag missing */
	{ "[IPv6:192.0.2.1]", HELO_SYN_BAD },
	{ "[IPv6:2001:db8:::1]", HELO_SYN_BAD },
	{ "[IPv6:2001:db8::1%eth0]", HELO_SYN_BAD },
	{ "[IPv6:]", HELO_SYN_BAD },
	{ "[IPv6:1:2:3:4:5:6:7:8:9]", HELO_SYN_BAD },
	{ "[IPv4:192.0.2.1]", HELO_SYN_BAD },
	{ "[192.0.2.1]x", HELO_SYN_BAD },
};

START_TEST(test_syntax)
{
	ck_assert_msg(helo_syntax(syntax_rows[_i].in) == syntax_rows[_i].want,
	    "row %d \"%.40s\": got %d want %d", _i, syntax_rows[_i].in,
	    helo_syntax(syntax_rows[_i].in), syntax_rows[_i].want);
}
END_TEST

/* A hand-built configuration (conf.c is not linked). */
static char *test_domains[] = { "strictmx.test", "example.org" };

static struct conf *
conf_new(int policy, int match)
{
	struct conf *c = xcalloc(1, sizeof(*c));

	c->hostname = "mx.strictmx.test";
	c->domains = test_domains;
	c->ndomains = 2;
	c->helo_policy = policy;
	c->helo_match = match;
	ck_assert_int_eq(cidr_list_add(&c->exempt_clients, "192.0.2.200/32"),
	    0);
	ck_assert_int_eq(cidr_list_add(&c->exempt_clients, "2001:db8:e::/48"),
	    0);
	return c;
}

static void
conf_del(struct conf *c)
{
	cidr_list_free(&c->exempt_clients);
	free(c);
}

static void
sa_set(struct sockaddr_storage *ss, const char *text)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		ss->ss_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, text,
		    &((struct sockaddr_in6 *)ss)->sin6_addr), 1);
	} else {
		ss->ss_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, text,
		    &((struct sockaddr_in *)ss)->sin_addr), 1);
	}
}

#define E	POLICY_ENFORCE
#define LG	POLICY_LOG
#define RJ	"Helo command rejected: "

/* helo_check_start decisions that need no DNS (no resolver is running, so
 * a check that would need DNS must come back as a synchronous 450). */
static const struct {
	int		 policy, match;
	const char	*helo, *client, *local, *ptr_name;
	const char	*verdict;
	int		 code, enforced;
	const char	*reply;
} sync_rows[] = {
	{ POLICY_OFF, HELO_MATCH_ANY, "bad_name", "192.0.2.1", "192.0.2.25",
	    NULL, "off", 0, 0, "" },
	{ E, HELO_MATCH_ANY, "bad_name", "192.0.2.200", "192.0.2.25", NULL,
	    "exempt", 0, 0, "" },
	{ E, HELO_MATCH_PTR, "mx.strictmx.test", "2001:db8:e::5",
	    "2001:db8::25", NULL, "exempt", 0, 0, "" },
	{ E, HELO_MATCH_ANY, "x", "::ffff:192.0.2.200", "192.0.2.25", NULL,
	    "exempt", 0, 0, "" },
	{ E, HELO_MATCH_ANY, "localhost", "192.0.2.1", "192.0.2.25", NULL,
	    "fail-syntax", 501, 1,
	    "501 5.5.2 <localhost>: " RJ "not a FQDN or address literal" },
	{ LG, HELO_MATCH_ANY, "localhost", "192.0.2.1", "192.0.2.25", NULL,
	    "log-fail-syntax", 501, 0,
	    "501 5.5.2 <localhost>: " RJ "not a FQDN or address literal" },
	{ E, HELO_MATCH_NONE, "192.0.2.1", "192.0.2.1", "192.0.2.25", NULL,
	    "fail-syntax", 501, 1,
	    "501 5.5.2 <192.0.2.1>: " RJ "not a FQDN or address literal" },
	{ E, HELO_MATCH_ANY, "bad\001name\r", "192.0.2.1", "192.0.2.25", NULL,
	    "fail-syntax", 501, 1,
	    "501 5.5.2 <bad?name?>: " RJ "not a FQDN or address literal" },
	{ E, HELO_MATCH_ANY, A10 A10 A10 A10 A10 A10 A10 A10, "192.0.2.1",
	    "192.0.2.25", NULL, "fail-syntax", 501, 1,
	    "501 5.5.2 <" A10 A10 A10 A10 A10 A10 "abcd>: " RJ
	    "not a FQDN or address literal" },
	{ E, HELO_MATCH_ANY, "MX.StrictMX.test", "192.0.2.1", "192.0.2.25",
	    NULL, "fail-self", 550, 1,
	    "550 5.7.1 <MX.StrictMX.test>: " RJ "you are not me" },
	{ E, HELO_MATCH_NONE, "example.org.", "192.0.2.1", "192.0.2.25", NULL,
	    "fail-self", 550, 1, "550 5.7.1 <example.org.>: " RJ
	    "you are not me" },
	{ LG, HELO_MATCH_A, "strictmx.test", "192.0.2.1", "192.0.2.25", NULL,
	    "log-fail-self", 550, 0, "550 5.7.1 <strictmx.test>: " RJ
	    "you are not me" },
	{ E, HELO_MATCH_A, "[192.0.2.25]", "198.51.100.7", "192.0.2.25", NULL,
	    "fail-self", 550, 1, "550 5.7.1 <[192.0.2.25]>: " RJ
	    "address literal does not match your IP" },
	{ E, HELO_MATCH_A, "[IPv6:2001:db8::25]", "2001:db8::7",
	    "2001:db8::25", NULL, "fail-self", 550, 1,
	    "550 5.7.1 <[IPv6:2001:db8::25]>: " RJ
	    "address literal does not match your IP" },
	{ E, HELO_MATCH_A, "[192.0.2.25]", "198.51.100.7",
	    "::ffff:192.0.2.25", NULL, "fail-self", 550, 1,
	    "550 5.7.1 <[192.0.2.25]>: " RJ
	    "address literal does not match your IP" },
	{ E, HELO_MATCH_NONE, "foo.example", "192.0.2.1", "192.0.2.25", NULL,
	    "pass", 0, 0, "" },
	{ E, HELO_MATCH_NONE, "[198.51.100.9]", "192.0.2.1", "192.0.2.25",
	    NULL, "pass", 0, 0, "" },
	{ E, HELO_MATCH_A, "[192.0.2.1]", "192.0.2.1", "192.0.2.25", NULL,
	    "pass", 0, 0, "" },
	{ E, HELO_MATCH_A, "[192.0.2.9]", "192.0.2.1", "192.0.2.25", NULL,
	    "fail-match", 550, 1, "550 5.7.1 <[192.0.2.9]>: " RJ
	    "helo literal [192.0.2.9] is not your address 192.0.2.1" },
	{ LG, HELO_MATCH_ANY, "[192.0.2.9]", "192.0.2.1", "192.0.2.25", NULL,
	    "log-fail-match", 550, 0, "550 5.7.1 <[192.0.2.9]>: " RJ
	    "helo literal [192.0.2.9] is not your address 192.0.2.1" },
	{ E, HELO_MATCH_ANY, "[192.0.2.1]", "::ffff:192.0.2.1", "192.0.2.25",
	    NULL, "pass", 0, 0, "" },
	{ E, HELO_MATCH_PTR, "[IPv6:::ffff:192.0.2.1]", "192.0.2.1",
	    "192.0.2.25", NULL, "pass", 0, 0, "" },
	{ E, HELO_MATCH_A, "[192.0.2.9]", "::ffff:192.0.2.1", "192.0.2.25",
	    NULL, "fail-match", 550, 1, "550 5.7.1 <[192.0.2.9]>: " RJ
	    "helo literal [192.0.2.9] is not your address 192.0.2.1" },
	{ E, HELO_MATCH_A, "[IPv6:2001:db8::1]", "2001:db8::1",
	    "2001:db8::25", NULL, "pass", 0, 0, "" },
	{ E, HELO_MATCH_A, "[ipv6:2001:DB8::1]", "2001:db8::2",
	    "2001:db8::25", NULL, "fail-match", 550, 1,
	    "550 5.7.1 <[ipv6:2001:DB8::1]>: " RJ
	    "helo literal [ipv6:2001:DB8::1] is not your address 2001:db8::2" },
	{ E, HELO_MATCH_A, "[192.0.2.1]", "2001:db8::1", "2001:db8::25", NULL,
	    "fail-match", 550, 1, "550 5.7.1 <[192.0.2.1]>: " RJ
	    "helo literal [192.0.2.1] is not your address 2001:db8::1" },
	{ E, HELO_MATCH_ANY, "host.example", "192.0.2.1", "192.0.2.25",
	    "HOST.example.", "pass", 0, 0, "" },
	{ E, HELO_MATCH_PTR, "host.example.", "192.0.2.1", "192.0.2.25",
	    "host.example", "pass", 0, 0, "" },
	/* No resolver: the lookup cannot start, a 4xx and never a 5xx. */
	{ E, HELO_MATCH_A, "host.example", "192.0.2.1", "192.0.2.25",
	    "host.example", "tempfail", 450, 1, "450 4.7.1 <host.example>: "
	    RJ "cannot verify helo name (DNS timeout)" },
	{ E, HELO_MATCH_ANY, "host.example", "192.0.2.1", "192.0.2.25",
	    "other.example", "tempfail", 450, 1, "450 4.7.1 <host.example>: "
	    RJ "cannot verify helo name (DNS timeout)" },
	{ LG, HELO_MATCH_PTR, "host.example", "192.0.2.1", "192.0.2.25", "",
	    "log-tempfail", 450, 0, "450 4.7.1 <host.example>: "
	    RJ "cannot verify helo name (DNS timeout)" },
};

static void
sync_cb(void *arg __attribute__((unused)),
    const struct helo_verdict *v __attribute__((unused)))
{
	ck_abort_msg("callback for a synchronous decision");
}

START_TEST(test_sync)
{
	struct conf *c = conf_new(sync_rows[_i].policy, sync_rows[_i].match);
	struct sockaddr_storage client, local;
	struct helo_verdict v;
	struct helo_check *hc;

	sa_set(&client, sync_rows[_i].client);
	sa_set(&local, sync_rows[_i].local);
	memset(&v, 0x55, sizeof(v));
	hc = helo_check_start(c, sync_rows[_i].helo,
	    (struct sockaddr *)&client, (struct sockaddr *)&local,
	    sync_rows[_i].ptr_name, sync_cb, NULL, &v);
	ck_assert_ptr_null(hc);
	ck_assert_str_eq(v.verdict, sync_rows[_i].verdict);
	ck_assert_int_eq(v.code, sync_rows[_i].code);
	ck_assert_int_eq(v.enforced, sync_rows[_i].enforced);
	ck_assert_str_eq(v.reply, sync_rows[_i].reply);
	ck_assert(v.reason[0] != '\0');
	conf_del(c);
}
END_TEST

/* helo_decide over hand-built answers. Addresses/names are separated by
 * spaces; status -1 means "not fetched" (NULL). */
#define NF	-1
#define OK	RESOLVER_OK
#define NX	RESOLVER_NXDOMAIN
#define ND	RESOLVER_NODATA
#define TF	RESOLVER_TEMPFAIL

static const struct {
	int		 policy, match;
	const char	*helo, *client;
	int		 fwd_st;
	const char	*fwd;
	int		 ptr_st;
	const char	*ptr;
	int		 ret;
	const char	*verdict, *reply;
} decide_rows[] = {
	{ E, HELO_MATCH_A, "host.example", "192.0.2.1", OK, "192.0.2.1",
	    NF, "", 1, "pass", "" },
	{ E, HELO_MATCH_A, "host.example", "192.0.2.1", OK,
	    "192.0.2.2 192.0.2.1", NF, "", 1, "pass", "" },
	{ E, HELO_MATCH_A, "host.example", "::ffff:192.0.2.1", OK,
	    "192.0.2.1", NF, "", 1, "pass", "" },
	{ E, HELO_MATCH_A, "host.example", "2001:db8::1", OK,
	    "2001:db8::2 2001:db8::1", NF, "", 1, "pass", "" },
	{ E, HELO_MATCH_A, "host.example", "192.0.2.1", OK, "192.0.2.2",
	    NF, "", 1, "fail-match", "550 5.7.1 <host.example>: " RJ
	    "helo name host.example does not resolve to 192.0.2.1" },
	{ E, HELO_MATCH_ANY, "host.example", "192.0.2.1", ND, "",
	    NF, "", 1, "fail-match", "550 5.7.1 <host.example>: " RJ
	    "helo name host.example does not resolve to 192.0.2.1" },
	{ E, HELO_MATCH_A, "nx.example", "192.0.2.1", NX, "",
	    NF, "", 1, "fail-match", "550 5.7.1 <nx.example>: " RJ
	    "helo name nx.example does not exist" },
	{ E, HELO_MATCH_A, "host.example", "192.0.2.1", TF, "",
	    NF, "", 1, "tempfail", "450 4.7.1 <host.example>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ LG, HELO_MATCH_ANY, "host.example", "192.0.2.1", OK, "192.0.2.2",
	    NF, "", 1, "log-fail-match", "550 5.7.1 <host.example>: " RJ
	    "helo name host.example does not resolve to 192.0.2.1" },
	{ E, HELO_MATCH_A, "host.example", "192.0.2.1", NF, "",
	    NF, "", 0, NULL, NULL },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", OK, "192.0.2.1",
	    OK, "other.example HOST.example", 1, "pass", "" },
	{ E, HELO_MATCH_PTR, "host.example.", "192.0.2.1", OK, "192.0.2.1",
	    OK, "host.example", 1, "pass", "" },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", OK, "192.0.2.1",
	    OK, "other.example", 1, "fail-match", "550 5.7.1 <host.example>: "
	    RJ "helo name host.example is not the verified PTR name of "
	    "192.0.2.1" },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", OK, "192.0.2.9",
	    OK, "host.example", 1, "fail-match", "550 5.7.1 <host.example>: "
	    RJ "helo name host.example is not the verified PTR name of "
	    "192.0.2.1" },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", OK, "192.0.2.1",
	    NX, "", 1, "fail-match", "550 5.7.1 <host.example>: "
	    RJ "helo name host.example is not the verified PTR name of "
	    "192.0.2.1" },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", TF, "",
	    NF, "", 1, "tempfail", "450 4.7.1 <host.example>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", NX, "",
	    TF, "", 1, "tempfail", "450 4.7.1 <host.example>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ LG, HELO_MATCH_PTR, "host.example", "192.0.2.1", OK, "192.0.2.1",
	    TF, "", 1, "log-tempfail", "450 4.7.1 <host.example>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", OK, "192.0.2.1",
	    NF, "", 0, NULL, NULL },
	{ E, HELO_MATCH_PTR, "host.example", "192.0.2.1", NF, "",
	    OK, "host.example", 0, NULL, NULL },
};

/* result_fill - status and the space-separated addresses or names. */
static struct resolver_result *
result_fill(int st, const char *list, int names)
{
	struct resolver_result *r;
	char buf[256], *w, *save = NULL;

	if (st == NF)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->status = st;
	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		if (names)
			snprintf(r->name[r->n], sizeof(r->name[0]), "%s", w);
		else
			sa_set(&r->addr[r->n], w);
		r->n++;
	}
	return r;
}

START_TEST(test_decide)
{
	struct resolver_result *fwd, *ptr;
	struct sockaddr_storage client;
	struct helo_verdict v;
	int ret;

	sa_set(&client, decide_rows[_i].client);
	fwd = result_fill(decide_rows[_i].fwd_st, decide_rows[_i].fwd, 0);
	ptr = result_fill(decide_rows[_i].ptr_st, decide_rows[_i].ptr, 1);
	ret = helo_decide(decide_rows[_i].policy, decide_rows[_i].match,
	    decide_rows[_i].helo, (struct sockaddr *)&client, fwd, ptr, &v);
	ck_assert_int_eq(ret, decide_rows[_i].ret);
	if (ret) {
		ck_assert_str_eq(v.verdict, decide_rows[_i].verdict);
		ck_assert_str_eq(v.reply, decide_rows[_i].reply);
		ck_assert_int_eq(v.enforced, decide_rows[_i].policy == E &&
		    v.code != 0);
	}
	free(fwd);
	free(ptr);
}
END_TEST

static const struct {
	int		 policy, match;
	const char	*want;
} kw_rows[] = {
	{ POLICY_OFF, HELO_MATCH_ANY, "" },
	{ POLICY_LOG, HELO_MATCH_ANY, "" },
	{ POLICY_LOG, HELO_MATCH_NONE, "" },
	{ E, HELO_MATCH_ANY, "HELO-FQDN HELO-IP" },
	{ E, HELO_MATCH_A, "HELO-FQDN HELO-IP" },
	{ E, HELO_MATCH_PTR, "HELO-FQDN HELO-IP" },
	{ E, HELO_MATCH_NONE, "HELO-FQDN" },
};

START_TEST(test_keywords)
{
	struct conf *c = conf_new(kw_rows[_i].policy, kw_rows[_i].match);
	char buf[64];

	ck_assert_uint_eq(helo_keywords(c, buf, sizeof(buf)),
	    strlen(kw_rows[_i].want));
	ck_assert_str_eq(buf, kw_rows[_i].want);
	conf_del(c);
}
END_TEST

START_TEST(test_keywords_small)
{
	struct conf *c = conf_new(E, HELO_MATCH_ANY);
	char buf[5];

	ck_assert_uint_eq(helo_keywords(c, buf, sizeof(buf)), 17);
	ck_assert_str_eq(buf, "HELO");
	ck_assert_uint_eq(helo_keywords(c, NULL, 0), 17);
	helo_check_cancel(NULL);
	conf_del(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("helo");
	TCase *tc = tcase_create("helo");
	SRunner *sr;
	int failures;

	tcase_add_loop_test(tc, test_syntax, 0,
	    sizeof(syntax_rows) / sizeof(syntax_rows[0]));
	tcase_add_loop_test(tc, test_sync, 0,
	    sizeof(sync_rows) / sizeof(sync_rows[0]));
	tcase_add_loop_test(tc, test_decide, 0,
	    sizeof(decide_rows) / sizeof(decide_rows[0]));
	tcase_add_loop_test(tc, test_keywords, 0,
	    sizeof(kw_rows) / sizeof(kw_rows[0]));
	tcase_add_test(tc, test_keywords_small);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
