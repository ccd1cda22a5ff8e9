/* test_resolver.c - resolver.c, fcrdns.c and the DNS paths of helo.c
 * against real servers: run by run_resolver_test.sh inside `unshare -n`.
 *
 *	main - run every suite; exit 1 if any test failed, 77 (skip) when
 *		not started by run_resolver_test.sh
 *
 * The servers (see run_resolver_test.sh): dnsmasq on 127.0.0.1:53 and
 * [::1]:53 with the test zone, a server that never answers on
 * 127.0.0.2:53, and one that answers with truncated, garbled or SERVFAIL
 * replies on 127.0.0.3:53. Every test checks that no callback runs inside
 * a submit call and, under ASan, that nothing leaks.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <event2/event.h>

#include "conf.h"
#include "fcrdns.h"
#include "helo.h"
#include "log.h"
#include "resolver.h"
#include "resolver_cache.h"
#include "xmalloc.h"

#define DNSMASQ		"127.0.0.1"
#define SILENT		"127.0.0.2"
#define BROKEN		"127.0.0.3"

static struct event_base *base;
static int in_submit;		/* a callback now would be a bug */

/* Per-test state of the callbacks. */
static int ncb;
static struct resolver_result last;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
limit_cb(evutil_socket_t fd __unused, short what __unused, void *arg)
{
	*(int *)arg = 1;
}

/* run_until - run the loop until *counter reaches want or limit seconds
 * pass; 1 if reached. */
static int
run_until(int *counter, int want, double limit)
{
	struct timeval tv = { (time_t)limit,
	    (suseconds_t)((limit - (time_t)limit) * 1e6) };
	int expired = 0;
	struct event *ev = evtimer_new(base, limit_cb, &expired);

	evtimer_add(ev, &tv);
	while (*counter < want && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *counter >= want;
}

/* run_for - just run the loop for seconds. */
static void
run_for(double seconds)
{
	int never = 0;

	run_until(&never, 1, seconds);
}

/* A conf with resolver servers, a word list separated by spaces. */
static char *conf_words[8];
static struct conf conf_dns;

static struct conf *
conf_servers(const char *list)
{
	static char buf[256];
	char *w, *save = NULL;

	memset(&conf_dns, 0, sizeof(conf_dns));
	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, " ", &save); w != NULL && conf_dns.nresolver < 8;
	    w = strtok_r(NULL, " ", &save))
		conf_words[conf_dns.nresolver++] = w;
	conf_dns.resolver = conf_words;
	return &conf_dns;
}

static void
setup(void)
{
	log_init(1, getenv("RESOLVER_TEST_VERBOSE") != NULL);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	resolver_set_timeout(5);
	ck_assert_int_eq(resolver_init(base, conf_servers(DNSMASQ)), 0);
	ncb = 0;
	in_submit = 0;
}

static void
teardown(void)
{
	resolver_shutdown();
	event_base_free(base);
	base = NULL;
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

static const char *
sa_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *ip = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	return inet_ntop(ss->ss_family, ip, buf, (socklen_t)len);
}

/* keep_cb - count and keep a copy of the last result. */
static void
keep_cb(const struct resolver_result *r, void *arg)
{
	ck_assert_msg(!in_submit, "callback from inside a submit call");
	memcpy(&last, r, sizeof(last));
	ncb++;
	if (arg != NULL)
		(*(int *)arg)++;
}

static void
never_cb(const struct resolver_result *r __unused, void *arg __unused)
{
	ck_abort_msg("callback after cancel");
}

/* lookup - one query of type t ("a", "aaaa", "mx", "txt", "ptr") run to
 * its end; the result is in `last`. */
static void
lookup(const char *t, const char *what, double limit)
{
	struct resolver_query *q = NULL;
	struct sockaddr_storage ss;
	int before = ncb;

	in_submit = 1;
	if (strcmp(t, "a") == 0)
		q = resolver_a(what, keep_cb, NULL);
	else if (strcmp(t, "aaaa") == 0)
		q = resolver_aaaa(what, keep_cb, NULL);
	else if (strcmp(t, "mx") == 0)
		q = resolver_mx(what, keep_cb, NULL);
	else if (strcmp(t, "txt") == 0)
		q = resolver_txt(what, keep_cb, NULL);
	else if (strcmp(t, "ptr") == 0) {
		sa_set(&ss, what);
		q = resolver_ptr((struct sockaddr *)&ss, keep_cb, NULL);
	}
	in_submit = 0;
	ck_assert_ptr_nonnull(q);
	ck_assert_msg(run_until(&ncb, before + 1, limit),
	    "%s %s: no answer in %.1f s", t, what, limit);
}

/* Plain lookups: {type, query, status, answers joined by spaces}. */
static const struct {
	const char		*type, *query;
	enum resolver_status	 status;
	const char		*want;
} lookup_rows[] = {
	{ "a", "good.test", RESOLVER_OK, "127.0.0.5" },
	{ "a", "GOOD.Test.", RESOLVER_OK, "127.0.0.5" },
	{ "a", "dual.test", RESOLVER_OK, "127.0.0.6" },
	{ "a", "v6.test", RESOLVER_NODATA, "" },
	{ "a", "nx.test", RESOLVER_NXDOMAIN, "" },
	{ "a", "deep.nx.test", RESOLVER_NXDOMAIN, "" },
	{ "aaaa", "v6.test", RESOLVER_OK, "2001:db8::5" },
	{ "aaaa", "dual.test", RESOLVER_OK, "2001:db8::6" },
	{ "aaaa", "good.test", RESOLVER_NODATA, "" },
	{ "aaaa", "nx.test", RESOLVER_NXDOMAIN, "" },
	{ "ptr", "127.0.0.5", RESOLVER_OK, "good.test" },
	{ "ptr", "::ffff:127.0.0.5", RESOLVER_OK, "good.test" },
	{ "ptr", "127.0.0.9", RESOLVER_OK, "upper.test" },	/* lowered */
	{ "ptr", "127.0.0.99", RESOLVER_NXDOMAIN, "" },
	{ "ptr", "2001:db8::5", RESOLVER_OK, "v6.test" },
	{ "ptr", "2001:db8::99", RESOLVER_NXDOMAIN, "" },
	{ "mx", "mx.test", RESOLVER_OK, "5:mx2.test 10:* 10:*" },
	{ "mx", "nullmx.test", RESOLVER_OK, "0:" },		/* RFC 7505 */
	{ "mx", "good.test", RESOLVER_NODATA, "" },
	{ "mx", "nx.test", RESOLVER_NXDOMAIN, "" },
	{ "txt", "txt.test", RESOLVER_OK, "v=spf1 -all" },
	{ "txt", "good.test", RESOLVER_NODATA, "" },
};

/* result_text - the answer in lookup_rows' notation (MX names of equal
 * preference after the first are checked apart: their order is the
 * server's). */
static void
result_text(const char *type, char *buf, size_t len)
{
	char one[300], ip[INET6_ADDRSTRLEN];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < last.n; i++) {
		if (strcmp(type, "a") == 0 || strcmp(type, "aaaa") == 0)
			snprintf(one, sizeof(one), "%s",
			    sa_text(&last.addr[i], ip, sizeof(ip)));
		else if (strcmp(type, "mx") == 0)
			snprintf(one, sizeof(one), "%u:%s", last.mx[i].pref,
			    last.mx[i].pref == 10 ? "*" : last.mx[i].name);
		else if (strcmp(type, "txt") == 0)
			snprintf(one, sizeof(one), "%.*s",
			    (int)last.txt_len[i], last.txt + last.txt_off[i]);
		else
			snprintf(one, sizeof(one), "%s", last.name[i]);
		if (i > 0)
			strncat(buf, " ", len - strlen(buf) - 1);
		strncat(buf, one, len - strlen(buf) - 1);
	}
}

START_TEST(test_lookup)
{
	char got[1024];

	lookup(lookup_rows[_i].type, lookup_rows[_i].query, 3.0);
	ck_assert_msg(last.status == lookup_rows[_i].status,
	    "%s %s: status %s", lookup_rows[_i].type, lookup_rows[_i].query,
	    resolver_status_text(last.status));
	result_text(lookup_rows[_i].type, got, sizeof(got));
	ck_assert_str_eq(got, lookup_rows[_i].want);
}
END_TEST

/* conf_cache - the servers of list, with an answer cache of n entries. */
static void
conf_cache(const char *list, unsigned n)
{
	struct conf *c = conf_servers(list);

	c->resolver_cache_size = n;
	ck_assert_int_eq(resolver_reconfigure(c), 0);
}

/* Every lookup_rows answer again with the cache on (dnsmasq serves TTL
 * 60): an answer with records comes from the cache the second time, the
 * same to the byte; a negative one is asked again. */
START_TEST(test_lookup_cached)
{
	struct resolver_cache_stats before, after;
	static struct resolver_result first;
	const char *t = lookup_rows[_i].type;
	char got[1024];
	size_t i;
	int kept = lookup_rows[_i].status == RESOLVER_OK;

	conf_cache(DNSMASQ, 64);
	lookup(lookup_rows[_i].type, lookup_rows[_i].query, 3.0);
	memcpy(&first, &last, sizeof(first));
	resolver_cache_stats(&before);
	ck_assert_uint_eq(before.entries, kept ? 1 : 0);
	lookup(lookup_rows[_i].type, lookup_rows[_i].query, 3.0);
	resolver_cache_stats(&after);
	ck_assert_uint_eq(after.hits - before.hits, kept ? 1 : 0);
	ck_assert_uint_eq(after.misses - before.misses, kept ? 0 : 1);
	ck_assert_int_eq(last.status, lookup_rows[_i].status);
	result_text(lookup_rows[_i].type, got, sizeof(got));
	ck_assert_str_eq(got, lookup_rows[_i].want);
	ck_assert_uint_eq(last.n, first.n);
	/* the records of the answer's type, nothing past n: that is all
	 * the resolver's contract promises, and all a hit writes */
	for (i = 0; i < last.n; i++) {
		if (t[0] == 'a')
			ck_assert_mem_eq(&last.addr[i], &first.addr[i],
			    sizeof(last.addr[i]));
		else if (t[0] == 'p')
			ck_assert_str_eq(last.name[i], first.name[i]);
		else if (t[0] == 'm') {
			ck_assert_uint_eq(last.mx[i].pref, first.mx[i].pref);
			ck_assert_str_eq(last.mx[i].name, first.mx[i].name);
		} else {
			ck_assert_uint_eq(last.txt_len[i], first.txt_len[i]);
			ck_assert_mem_eq(last.txt + last.txt_off[i],
			    first.txt + first.txt_off[i],
			    first.txt_len[i] + 1);
		}
	}
	ck_assert_int_eq(last.truncated, 0);
	if (kept)
		ck_assert_uint_le(last.ttl, 60);
}
END_TEST

/* a_last - the last octet of the only A record of the last answer. */
static unsigned
a_last(void)
{
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_uint_eq(last.n, 1);
	return ntohl(((struct sockaddr_in *)&last.addr[0])->sin_addr.s_addr) &
	    0xff;
}

/* The server at BROKEN numbers its answers: the cache keeps one of TTL 1
 * for a second, never one of TTL 0, and a reload forgets everything. */
START_TEST(test_cache_ttl)
{
	conf_cache(BROKEN, 16);
	lookup("a", "ttl1.test", 3.0);
	ck_assert_uint_eq(a_last(), 1);
	lookup("a", "TTL1.test.", 3.0);
	ck_assert_uint_eq(a_last(), 1);			/* the cache's */
	lookup("a", "ttl0.test", 3.0);
	ck_assert_uint_eq(a_last(), 1);
	lookup("a", "ttl0.test", 3.0);
	ck_assert_uint_eq(a_last(), 2);			/* asked again */
	run_for(1.1);
	lookup("a", "ttl1.test", 3.0);
	ck_assert_uint_eq(a_last(), 2);			/* expired */
	lookup("a", "ttl1.test", 3.0);
	ck_assert_uint_eq(a_last(), 2);
	conf_cache(BROKEN, 16);				/* a reload */
	lookup("a", "ttl1.test", 3.0);
	ck_assert_uint_eq(a_last(), 3);
	/* Off: every lookup is a query. */
	conf_cache(BROKEN, 0);
	lookup("a", "ttl1.test", 3.0);
	ck_assert_uint_eq(a_last(), 4);
	lookup("a", "ttl1.test", 3.0);
	ck_assert_uint_eq(a_last(), 5);
}
END_TEST

/* An answer that comes after a reload, to a query sent before it, is for
 * the old servers: delivered, not kept. A truncated one is never kept. */
START_TEST(test_cache_reload_inflight)
{
	struct resolver_query *q;
	struct resolver_cache_stats st;

	conf_cache(BROKEN, 16);
	in_submit = 1;
	q = resolver_a("slow.test", keep_cb, NULL);
	in_submit = 0;
	ck_assert_ptr_nonnull(q);
	run_for(0.1);				/* sent, not answered */
	conf_cache(BROKEN, 16);			/* the reload */
	ck_assert(run_until(&ncb, 1, 3.0));
	ck_assert_uint_eq(a_last(), 1);
	lookup("a", "slow.test", 3.0);
	ck_assert_uint_eq(a_last(), 2);		/* asked again, */
	lookup("a", "slow.test", 3.0);
	ck_assert_uint_eq(a_last(), 2);		/* now kept */
	lookup("a", "tc.test", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_TEMPFAIL);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 1);
}
END_TEST

/* A cached answer is still cancellable: its callback never runs. */
START_TEST(test_cache_cancel)
{
	struct resolver_query *q;

	conf_cache(DNSMASQ, 16);
	lookup("a", "good.test", 3.0);
	in_submit = 1;
	q = resolver_a("good.test", never_cb, NULL);
	in_submit = 0;
	ck_assert_ptr_nonnull(q);
	resolver_cancel(q);
	run_for(0.2);
}
END_TEST

START_TEST(test_mx_ties)
{
	lookup("mx", "mx.test", 3.0);
	ck_assert_uint_eq(last.n, 3);
	ck_assert_str_eq(last.mx[0].name, "mx2.test");
	ck_assert((strcmp(last.mx[1].name, "mx1.test") == 0 &&
	    strcmp(last.mx[2].name, "mx3.test") == 0) ||
	    (strcmp(last.mx[1].name, "mx3.test") == 0 &&
	    strcmp(last.mx[2].name, "mx1.test") == 0));
}
END_TEST

/* A lookup bounded by the resolver's own deadline: measure it. */
START_TEST(test_timeout_default)
{
	double t0;

	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	t0 = now();
	lookup("a", "good.test", 8.0);
	ck_assert_int_eq(last.status, RESOLVER_TEMPFAIL);
	ck_assert_msg(now() - t0 >= 4.9 && now() - t0 < 5.6,
	    "default timeout took %.2f s", now() - t0);
}
END_TEST

START_TEST(test_timeout_set)
{
	double t0;

	resolver_set_timeout(2);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	t0 = now();
	lookup("ptr", "127.0.0.5", 5.0);
	ck_assert_int_eq(last.status, RESOLVER_TEMPFAIL);
	ck_assert_msg(now() - t0 >= 1.9 && now() - t0 < 2.6,
	    "2 s timeout took %.2f s", now() - t0);
}
END_TEST

/* Truncated (TC), garbled and SERVFAIL answers are TEMPFAIL at once. */
static const char *const broken_rows[] = {
	"tc.test", "garbled.test", "servfail.test", "wrongid.test",
};

START_TEST(test_broken)
{
	double t0;

	resolver_set_timeout(3);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(BROKEN)), 0);
	t0 = now();
	lookup("a", broken_rows[_i], 5.0);
	ck_assert_int_eq(last.status, RESOLVER_TEMPFAIL);
	if (strcmp(broken_rows[_i], "wrongid.test") != 0)
		ck_assert_msg(now() - t0 < 1.0, "%s took %.2f s",
		    broken_rows[_i], now() - t0);
}
END_TEST

/* EDNS0 (RFC 6891) on every query: the scripted server answers edns.test
 * with the UDP size of the OPT record it received. */
START_TEST(test_edns0)
{
	ck_assert_int_eq(resolver_reconfigure(conf_servers(BROKEN)), 0);
	lookup("txt", "edns.test", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_uint_eq(last.n, 1);
	ck_assert_str_eq(last.txt + last.txt_off[0], "udpsize=1232");
	ck_assert_int_eq(last.truncated, 0);
}
END_TEST

/* A truncated answer ends the query at once as TEMPFAIL with truncated
 * set, whatever the type, and even when another server (dnsmasq, which
 * would say NXDOMAIN) is left to try: udns 0.4 alone would move on to it
 * and return its answer. */
static const char *const tc_rows[] = {
	"a " BROKEN, "mx " BROKEN, "txt " BROKEN, "a " BROKEN " " DNSMASQ,
	"txt " BROKEN " " DNSMASQ, "aaaa " BROKEN " " SILENT,
};

START_TEST(test_truncated)
{
	char type[8];
	double t0;

	resolver_set_timeout(3);
	ck_assert_int_eq(sscanf(tc_rows[_i], "%7s", type), 1);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(tc_rows[_i] +
	    strlen(type) + 1)), 0);
	t0 = now();
	lookup(type, "tc.test", 5.0);
	ck_assert_msg(last.status == RESOLVER_TEMPFAIL, "%s: status %s",
	    tc_rows[_i], resolver_status_text(last.status));
	ck_assert_int_eq(last.truncated, 1);
	ck_assert_msg(now() - t0 < 0.5, "%s took %.2f s", tc_rows[_i],
	    now() - t0);
	/* Other failures are not called truncated. */
	ck_assert_int_eq(resolver_reconfigure(conf_servers(BROKEN)), 0);
	lookup(type, "servfail.test", 5.0);
	ck_assert_int_eq(last.status, RESOLVER_TEMPFAIL);
	ck_assert_int_eq(last.truncated, 0);
}
END_TEST

/* Servers by text: ports, IPv6, a dead first server, several at once. */
static const char *const server_rows[] = {
	"127.0.0.1:53", "[::1]:53", "::1", "[::1]", "127.0.0.2 127.0.0.1",
	"[::1]:53 127.0.0.1", "127.0.0.2:53 [::1]:53",
};

START_TEST(test_servers)
{
	ck_assert_int_eq(resolver_reconfigure(conf_servers(server_rows[_i])),
	    0);
	lookup("a", "good.test", 4.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_uint_eq(last.n, 1);
}
END_TEST

/* resolver "system" (no servers in conf): udns's dns_init() reads
 * /etc/resolv.conf, where $NAMESERVERS, if set, overrides the nameserver
 * lines; that lets the test point "system" at dnsmasq. */
START_TEST(test_system)
{
	struct conf empty;

	setenv("NAMESERVERS", DNSMASQ, 1);
	memset(&empty, 0, sizeof(empty));
	ck_assert_int_eq(resolver_reconfigure(&empty), 0);
	lookup("a", "good.test", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_int_eq(resolver_reconfigure(conf_servers("system")), 0);
	lookup("mx", "nullmx.test", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_int_eq(resolver_reconfigure(NULL), 0);
	lookup("ptr", "127.0.0.5", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
	unsetenv("NAMESERVERS");
}
END_TEST

static const struct {
	const char	*in;
	int		 ok;
	const char	*addr;
	unsigned	 port;
} parse_rows[] = {
	{ "192.0.2.53", 0, "192.0.2.53", 53 },
	{ "192.0.2.53:5353", 0, "192.0.2.53", 5353 },
	{ "2001:db8::53", 0, "2001:db8::53", 53 },
	{ "[2001:db8::53]", 0, "2001:db8::53", 53 },
	{ "[2001:db8::53]:54", 0, "2001:db8::53", 54 },
	{ "[192.0.2.53]:54", 0, "192.0.2.53", 54 },
	{ "192.0.2.53:0", -1, NULL, 0 },
	{ "192.0.2.53:65536", -1, NULL, 0 },
	{ "192.0.2.53:", -1, NULL, 0 },
	{ "192.0.2.53:5x", -1, NULL, 0 },
	{ "[2001:db8::53]x", -1, NULL, 0 },
	{ "[2001:db8::53", -1, NULL, 0 },
	{ "ns.example", -1, NULL, 0 },
	{ "", -1, NULL, 0 },
	{ "192.0.2.256", -1, NULL, 0 },
};

START_TEST(test_parse_server)
{
	struct sockaddr_storage ss;
	char ip[INET6_ADDRSTRLEN];
	unsigned port;

	ck_assert_int_eq(resolver_parse_server(parse_rows[_i].in, &ss),
	    parse_rows[_i].ok);
	if (parse_rows[_i].ok < 0)
		return;
	ck_assert_str_eq(sa_text(&ss, ip, sizeof(ip)), parse_rows[_i].addr);
	port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	ck_assert_uint_eq(port, parse_rows[_i].port);
}
END_TEST

START_TEST(test_bad_config)
{
	ck_assert_int_eq(resolver_reconfigure(conf_servers("ns.example")), -1);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(
	    "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 "
	    "127.0.0.7")), -1);			/* udns takes at most 6 */
	/* The old servers still answer. */
	lookup("a", "good.test", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_int_eq(resolver_init(base, conf_servers(DNSMASQ)), -1);
	/* An unusable name fails at once: NULL and no callback. */
	ck_assert_ptr_null(resolver_a("a..b", keep_cb, NULL));
	ck_assert_ptr_null(resolver_a(NULL, keep_cb, NULL));
	run_for(0.2);
	ck_assert_int_eq(ncb, 1);
}
END_TEST

/* 200 queries of four kinds in flight at once: each answered once, with
 * its own status, none from inside a submit call. */
static const struct {
	const char		*name;
	enum resolver_status	 status;
} many_kinds[4] = {
	{ "good.test", RESOLVER_OK }, { "nx.test", RESOLVER_NXDOMAIN },
	{ "dual.test", RESOLVER_OK }, { "v6.test", RESOLVER_NODATA },
};
static int many_count[4];

static void
many_cb(const struct resolver_result *r, void *arg)
{
	int k = *(const int *)arg;

	ck_assert(!in_submit);
	ck_assert_int_eq(r->status, many_kinds[k].status);
	many_count[k]++;
	ncb++;
}

START_TEST(test_many)
{
	static const int kind[4] = { 0, 1, 2, 3 };
	int i;

	in_submit = 1;
	for (i = 0; i < 200; i++)
		ck_assert_ptr_nonnull(i % 5 == 4 ?
		    resolver_mx(many_kinds[1].name, many_cb, (void *)&kind[1]) :
		    resolver_a(many_kinds[i % 5].name, many_cb,
		    (void *)&kind[i % 5]));
	in_submit = 0;
	ck_assert_int_eq(ncb, 0);
	ck_assert(run_until(&ncb, 200, 4.0));
	ck_assert_int_eq(many_count[0] + many_count[2] + many_count[3], 120);
	ck_assert_int_eq(many_count[1], 80);
}
END_TEST

/* Cancel: at once, mid-lookup on a silent server, and from inside another
 * query's callback. Nothing may call back, nothing may leak. */
START_TEST(test_cancel)
{
	struct resolver_query *q[50];
	int i;

	for (i = 0; i < 50; i++)
		q[i] = resolver_a("good.test", never_cb, NULL);
	for (i = 0; i < 50; i++)
		resolver_cancel(q[i]);
	run_for(0.5);
	resolver_set_timeout(1);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	for (i = 0; i < 50; i++)
		q[i] = resolver_ptr(NULL, never_cb, NULL);
	for (i = 0; i < 50; i++)
		ck_assert_ptr_null(q[i]);
	for (i = 0; i < 50; i++)
		q[i] = resolver_mx("good.test", never_cb, NULL);
	run_for(0.3);
	for (i = 0; i < 50; i++)
		resolver_cancel(q[i]);
	resolver_cancel(NULL);
	run_for(1.5);
}
END_TEST

/* Two queries whose callbacks each cancel the other: whichever answer
 * comes first, the second callback must never run. */
static struct resolver_query *pair[2];

static void
cancel_other_cb(const struct resolver_result *r __unused, void *arg)
{
	int me = *(const int *)arg;

	ck_assert_ptr_nonnull(pair[1 - me]);
	resolver_cancel(pair[1 - me]);
	pair[0] = pair[1] = NULL;
	ncb++;
}

START_TEST(test_cancel_in_callback)
{
	static const int idx[2] = { 0, 1 };

	ck_assert_int_eq(resolver_reconfigure(conf_servers("127.0.0.2 "
	    "127.0.0.1")), 0);
	pair[0] = resolver_a("good.test", cancel_other_cb, (void *)&idx[0]);
	pair[1] = resolver_txt("txt.test", cancel_other_cb, (void *)&idx[1]);
	ck_assert_ptr_nonnull(pair[0]);
	ck_assert_ptr_nonnull(pair[1]);
	ck_assert(run_until(&ncb, 1, 4.0));
	run_for(1.5);
	ck_assert_int_eq(ncb, 1);
}
END_TEST

/* Reconfigure with queries in flight: they finish on the old servers
 * (here: a timeout), new ones go to the new servers. */
START_TEST(test_reconfigure_inflight)
{
	int old = 0, young = 0;

	resolver_set_timeout(2);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	ck_assert_ptr_nonnull(resolver_a("good.test", keep_cb, &old));
	run_for(0.2);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(DNSMASQ)), 0);
	ck_assert_ptr_nonnull(resolver_a("good.test", keep_cb, &young));
	ck_assert(run_until(&young, 1, 1.0));
	ck_assert_int_eq(last.status, RESOLVER_OK);
	ck_assert_int_eq(old, 0);
	ck_assert(run_until(&old, 1, 3.0));
	ck_assert_int_eq(last.status, RESOLVER_TEMPFAIL);
	/* Twice in a row with nothing in flight. */
	ck_assert_int_eq(resolver_reconfigure(conf_servers(DNSMASQ)), 0);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
}
END_TEST

/* Shutdown with queries pending: no callback, no leak. */
START_TEST(test_shutdown_pending)
{
	int i;

	for (i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(resolver_a("good.test", never_cb, NULL));
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	for (i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(resolver_txt("txt.test", never_cb, NULL));
	resolver_shutdown();
	ck_assert_ptr_null(resolver_a("good.test", never_cb, NULL));
	run_for(0.3);
	/* And it starts again. */
	ck_assert_int_eq(resolver_init(base, conf_servers(DNSMASQ)), 0);
	lookup("a", "good.test", 3.0);
	ck_assert_int_eq(last.status, RESOLVER_OK);
}
END_TEST

static void
shutdown_cb(const struct resolver_result *r __unused, void *arg __unused)
{
	resolver_shutdown();
	ncb++;
}

START_TEST(test_shutdown_in_callback)
{
	int i;

	/* The first answer shuts the resolver down: no other callback. */
	for (i = 0; i < 10; i++)
		ck_assert_ptr_nonnull(resolver_a("good.test", shutdown_cb,
		    NULL));
	ck_assert(run_until(&ncb, 1, 3.0));
	run_for(0.3);
	ck_assert_int_eq(ncb, 1);
	ck_assert_int_eq(resolver_init(base, conf_servers(DNSMASQ)), 0);
}
END_TEST

/* FCrDNS. */
static enum fcrdns_status fc_status;
static char fc_name[SMTP_DOMAIN_MAX + 1];

static void
fc_cb(enum fcrdns_status st, const char *name, void *arg __unused)
{
	ck_assert(!in_submit);
	fc_status = st;
	snprintf(fc_name, sizeof(fc_name), "%s", name != NULL ? name : "");
	ncb++;
}

static void
fc_never_cb(enum fcrdns_status st __unused, const char *name __unused,
    void *arg __unused)
{
	ck_abort_msg("fcrdns callback after cancel");
}

static const struct {
	const char		*server, *client;
	enum fcrdns_status	 status;
	const char		*name;
} fc_rows[] = {
	{ DNSMASQ, "127.0.0.5", FCRDNS_OK, "good.test" },
	{ DNSMASQ, "::ffff:127.0.0.5", FCRDNS_OK, "good.test" },
	{ DNSMASQ, "127.0.0.7", FCRDNS_OK, "multi.test" },  /* 2nd PTR ok */
	{ DNSMASQ, "127.0.0.10", FCRDNS_NONE, "" },  /* PTR name elsewhere */
	{ DNSMASQ, "127.0.0.99", FCRDNS_NONE, "" },  /* no PTR */
	{ DNSMASQ, "127.0.0.11", FCRDNS_NONE, "" },  /* PTR to NXDOMAIN */
	{ DNSMASQ, "2001:db8::5", FCRDNS_OK, "v6.test" },
	{ DNSMASQ, "2001:db8::6", FCRDNS_OK, "dual.test" },
	{ SILENT, "127.0.0.5", FCRDNS_TEMPFAIL, "" },
	{ BROKEN, "127.0.0.5", FCRDNS_TEMPFAIL, "" },
};

START_TEST(test_fcrdns)
{
	struct sockaddr_storage ss;
	struct fcrdns_query *fq;

	resolver_set_timeout(2);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(
	    fc_rows[_i].server)), 0);
	sa_set(&ss, fc_rows[_i].client);
	in_submit = 1;
	fq = fcrdns_start((struct sockaddr *)&ss, fc_cb, NULL);
	in_submit = 0;
	ck_assert_ptr_nonnull(fq);
	ck_assert(run_until(&ncb, 1, 4.0));
	ck_assert_int_eq(fc_status, fc_rows[_i].status);
	ck_assert_str_eq(fc_name, fc_rows[_i].name);
}
END_TEST

START_TEST(test_fcrdns_cancel)
{
	struct sockaddr_storage ss;
	struct fcrdns_query *fq;
	int i;

	sa_set(&ss, "127.0.0.7");
	/* At once, then after the PTR answer (forward lookups in flight). */
	fcrdns_cancel(fcrdns_start((struct sockaddr *)&ss, fc_never_cb, NULL));
	for (i = 0; i < 30; i++) {
		fq = fcrdns_start((struct sockaddr *)&ss, fc_never_cb, NULL);
		ck_assert_ptr_nonnull(fq);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		fcrdns_cancel(fq);
	}
	resolver_set_timeout(1);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	fq = fcrdns_start((struct sockaddr *)&ss, fc_never_cb, NULL);
	run_for(0.3);
	fcrdns_cancel(fq);
	fcrdns_cancel(NULL);
	run_for(1.5);
}
END_TEST

/* HELO checks that need DNS. */
static struct helo_verdict hv;

static void
helo_cb(void *arg __unused, const struct helo_verdict *v)
{
	ck_assert(!in_submit);
	memcpy(&hv, v, sizeof(hv));
	ncb++;
}

static void
helo_never_cb(void *arg __unused, const struct helo_verdict *v __unused)
{
	ck_abort_msg("helo callback after cancel");
}

static struct conf *
helo_conf(int policy, int match)
{
	static char *domains[] = { "strictmx.test" };
	struct conf *c = xcalloc(1, sizeof(*c));

	c->hostname = "mx.strictmx.test";
	c->domains = domains;
	c->ndomains = 1;
	c->helo_policy = policy;
	c->helo_match = match;
	return c;
}

#define E	POLICY_ENFORCE
#define RJ	"Helo command rejected: "

static const struct {
	const char	*server;
	int		 policy, match;
	const char	*helo, *client;
	const char	*verdict, *reply;
} helo_rows[] = {
	{ DNSMASQ, E, HELO_MATCH_A, "good.test", "127.0.0.5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_A, "GOOD.test.", "127.0.0.5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_A, "good.test", "::ffff:127.0.0.5", "pass",
	    "" },
	{ DNSMASQ, E, HELO_MATCH_A, "good.test", "127.0.0.6", "fail-match",
	    "550 5.7.1 <good.test>: " RJ
	    "helo name good.test does not resolve to 127.0.0.6" },
	{ DNSMASQ, E, HELO_MATCH_A, "nx.test", "127.0.0.5", "fail-match",
	    "550 5.7.1 <nx.test>: " RJ "helo name nx.test does not exist" },
	{ DNSMASQ, E, HELO_MATCH_A, "v6.test", "2001:db8::5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_A, "v6.test", "127.0.0.5", "fail-match",
	    "550 5.7.1 <v6.test>: " RJ
	    "helo name v6.test does not resolve to 127.0.0.5" },
	{ DNSMASQ, E, HELO_MATCH_A, "alias.test", "127.0.0.5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_ANY, "alias.test", "127.0.0.5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_PTR, "alias.test", "127.0.0.5", "fail-match",
	    "550 5.7.1 <alias.test>: " RJ
	    "helo name alias.test is not the verified PTR name of 127.0.0.5" },
	{ DNSMASQ, E, HELO_MATCH_PTR, "good.test", "127.0.0.5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_PTR, "multi.test", "127.0.0.7", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_PTR, "other.test", "127.0.0.7", "fail-match",
	    "550 5.7.1 <other.test>: " RJ
	    "helo name other.test is not the verified PTR name of 127.0.0.7" },
	{ DNSMASQ, E, HELO_MATCH_PTR, "v6.test", "2001:db8::5", "pass", "" },
	{ DNSMASQ, E, HELO_MATCH_ANY, "nx.test", "127.0.0.5", "fail-match",
	    "550 5.7.1 <nx.test>: " RJ "helo name nx.test does not exist" },
	{ DNSMASQ, POLICY_LOG, HELO_MATCH_A, "good.test", "127.0.0.6",
	    "log-fail-match", "550 5.7.1 <good.test>: " RJ
	    "helo name good.test does not resolve to 127.0.0.6" },
	{ SILENT, E, HELO_MATCH_A, "good.test", "127.0.0.5", "tempfail",
	    "450 4.7.1 <good.test>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ SILENT, E, HELO_MATCH_PTR, "good.test", "127.0.0.5", "tempfail",
	    "450 4.7.1 <good.test>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ SILENT, POLICY_LOG, HELO_MATCH_ANY, "good.test", "127.0.0.5",
	    "log-tempfail", "450 4.7.1 <good.test>: " RJ
	    "cannot verify helo name (DNS timeout)" },
	{ BROKEN, E, HELO_MATCH_ANY, "tc.test", "127.0.0.5", "tempfail",
	    "450 4.7.1 <tc.test>: " RJ
	    "cannot verify helo name (DNS timeout)" },
};

START_TEST(test_helo_dns)
{
	struct conf *c = helo_conf(helo_rows[_i].policy, helo_rows[_i].match);
	struct sockaddr_storage client, local;
	struct helo_check *hc;
	struct helo_verdict v;
	double t0 = now();

	resolver_set_timeout(2);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(
	    helo_rows[_i].server)), 0);
	sa_set(&client, helo_rows[_i].client);
	sa_set(&local, "127.0.0.1");
	in_submit = 1;
	hc = helo_check_start(c, helo_rows[_i].helo,
	    (struct sockaddr *)&client, (struct sockaddr *)&local, NULL,
	    helo_cb, NULL, &v);
	in_submit = 0;
	ck_assert_ptr_nonnull(hc);
	ck_assert(run_until(&ncb, 1, 4.0));
	ck_assert_str_eq(hv.verdict, helo_rows[_i].verdict);
	ck_assert_str_eq(hv.reply, helo_rows[_i].reply);
	if (strcmp(helo_rows[_i].server, SILENT) == 0)
		ck_assert_msg(now() - t0 < 2.6, "tempfail took %.2f s",
		    now() - t0);
	free(c);
}
END_TEST

/* A session that goes away mid-lookup: the check is cancelled, no
 * callback ever comes, nothing leaks (ASan). */
START_TEST(test_helo_cancel)
{
	struct conf *c = helo_conf(E, HELO_MATCH_PTR);
	struct sockaddr_storage client;
	struct helo_check *hc[20];
	struct helo_verdict v;
	int i;

	sa_set(&client, "127.0.0.5");
	for (i = 0; i < 20; i++) {
		hc[i] = helo_check_start(c, "good.test",
		    (struct sockaddr *)&client, NULL, NULL, helo_never_cb,
		    NULL, &v);
		ck_assert_ptr_nonnull(hc[i]);
	}
	for (i = 0; i < 20; i += 2)
		helo_check_cancel(hc[i]);	/* before any answer */
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	for (i = 1; i < 20; i += 2)
		helo_check_cancel(hc[i]);	/* maybe half answered */
	resolver_set_timeout(1);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	hc[0] = helo_check_start(c, "good.test", (struct sockaddr *)&client,
	    NULL, NULL, helo_never_cb, NULL, &v);
	ck_assert_ptr_nonnull(hc[0]);
	run_for(0.3);
	helo_check_cancel(hc[0]);
	run_for(1.5);
	free(c);
}
END_TEST

/* While one check waits on a server that never answers, others are
 * answered at once: the loop never blocks. */
START_TEST(test_no_blocking)
{
	struct conf *c = helo_conf(E, HELO_MATCH_A);
	struct sockaddr_storage client;
	struct helo_verdict v;
	double t0;
	int i;

	resolver_set_timeout(3);
	ck_assert_int_eq(resolver_reconfigure(conf_servers(SILENT)), 0);
	sa_set(&client, "127.0.0.5");
	ck_assert_ptr_nonnull(helo_check_start(c, "good.test",
	    (struct sockaddr *)&client, NULL, NULL, helo_cb, NULL, &v));
	ck_assert_int_eq(resolver_reconfigure(conf_servers(DNSMASQ)), 0);
	t0 = now();
	for (i = 0; i < 50; i++)
		ck_assert_ptr_nonnull(helo_check_start(c, "good.test",
		    (struct sockaddr *)&client, NULL, NULL, helo_cb, NULL,
		    &v));
	ck_assert(run_until(&ncb, 50, 1.0));
	ck_assert_msg(now() - t0 < 1.0, "50 checks took %.2f s", now() - t0);
	ck_assert_str_eq(hv.verdict, "pass");
	ck_assert(run_until(&ncb, 51, 4.0));
	ck_assert_str_eq(hv.verdict, "tempfail");
	free(c);
}
END_TEST

int
main(void)
{
	Suite *s;
	TCase *tc, *tp;
	SRunner *sr;
	int failures;

	if (getenv("STRICTMX_DNS_TEST") == NULL) {
		fprintf(stderr, "test_resolver: run it through "
		    "run_resolver_test.sh (it needs its DNS servers)\n");
		return 77;
	}
	s = suite_create("resolver");
	tc = tcase_create("dns");
	tp = tcase_create("pure");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_lookup, 0,
	    sizeof(lookup_rows) / sizeof(lookup_rows[0]));
	tcase_add_test(tc, test_mx_ties);
	tcase_add_loop_test(tc, test_lookup_cached, 0,
	    sizeof(lookup_rows) / sizeof(lookup_rows[0]));
	tcase_add_test(tc, test_cache_ttl);
	tcase_add_test(tc, test_cache_reload_inflight);
	tcase_add_test(tc, test_cache_cancel);
	tcase_add_test(tc, test_timeout_default);
	tcase_add_test(tc, test_timeout_set);
	tcase_add_loop_test(tc, test_broken, 0,
	    sizeof(broken_rows) / sizeof(broken_rows[0]));
	tcase_add_test(tc, test_edns0);
	tcase_add_loop_test(tc, test_truncated, 0,
	    sizeof(tc_rows) / sizeof(tc_rows[0]));
	tcase_add_loop_test(tc, test_servers, 0,
	    sizeof(server_rows) / sizeof(server_rows[0]));
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_system);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_cancel_in_callback);
	tcase_add_test(tc, test_reconfigure_inflight);
	tcase_add_test(tc, test_shutdown_pending);
	tcase_add_test(tc, test_shutdown_in_callback);
	tcase_add_loop_test(tc, test_fcrdns, 0,
	    sizeof(fc_rows) / sizeof(fc_rows[0]));
	tcase_add_test(tc, test_fcrdns_cancel);
	tcase_add_loop_test(tc, test_helo_dns, 0,
	    sizeof(helo_rows) / sizeof(helo_rows[0]));
	tcase_add_test(tc, test_helo_cancel);
	tcase_add_test(tc, test_no_blocking);
	tcase_add_loop_test(tp, test_parse_server, 0,
	    sizeof(parse_rows) / sizeof(parse_rows[0]));
	suite_add_tcase(s, tp);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
