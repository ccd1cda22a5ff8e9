/* test_resolver_cache.c - the resolver's answer cache on its own, with the
 * clock in the test's hands: every type kept and given back byte for byte,
 * expiry, the TTL bounds, what is never kept, the LRU bound, the key. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "resolver.h"
#include "resolver_cache.h"

static struct resolver_result in, out;

/* answer - start a new OK answer of no record in `in`. */
static void
answer(unsigned ttl)
{
	memset(&in, 0, sizeof(in));
	in.status = RESOLVER_OK;
	in.ttl = ttl;
}

static void
setup(void)
{
	resolver_cache_setsize(8);
	answer(300);
	memset(&out, 0, sizeof(out));
}

static void
teardown(void)
{
	resolver_cache_setsize(0);
}

static void
add_a(const char *ip)
{
	struct sockaddr_in *sin = (void *)&in.addr[in.n++];

	sin->sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
}

static void
add_txt(const char *t, size_t len)
{
	size_t off = in.n == 0 ? 0 : in.txt_off[in.n - 1] +
	    in.txt_len[in.n - 1] + 1;

	memcpy(in.txt + off, t, len);
	in.txt[off + len] = '\0';
	in.txt_off[in.n] = off;
	in.txt_len[in.n++] = len;
}

START_TEST(test_types)
{
	struct sockaddr_in6 *sin6;
	size_t i;

	add_a("192.0.2.1");
	add_a("192.0.2.2");
	resolver_cache_put(RESOLVER_T_A, "mx.example", 1000, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "mx.example", 1010,
	    &out), 1);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_int_eq(out.status, RESOLVER_OK);
	ck_assert_uint_eq(out.ttl, 290);
	for (i = 0; i < 2; i++)
		ck_assert_mem_eq(&((struct sockaddr_in *)&out.addr[i])->
		    sin_addr, &((struct sockaddr_in *)&in.addr[i])->sin_addr,
		    4);
	ck_assert_int_eq(out.addr[1].ss_family, AF_INET);
	/* Another type of the same name is another entry. */
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_AAAA, "mx.example",
	    1010, &out), 0);

	answer(60);
	in.n = 1;
	sin6 = (void *)&in.addr[0];
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::25", &sin6->sin6_addr);
	resolver_cache_put(RESOLVER_T_AAAA, "mx.example", 1000, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_AAAA, "mx.example",
	    1059, &out), 1);
	ck_assert_int_eq(out.addr[0].ss_family, AF_INET6);
	ck_assert_mem_eq(&((struct sockaddr_in6 *)&out.addr[0])->sin6_addr,
	    &sin6->sin6_addr, 16);

	answer(60);
	in.n = 2;
	strcpy(in.name[0], "a.example");
	strcpy(in.name[1], "");		/* odd, but kept as it came */
	resolver_cache_put(RESOLVER_T_PTR, "192.0.2.1", 1000, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_PTR, "192.0.2.1", 1000,
	    &out), 1);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_str_eq(out.name[0], "a.example");
	ck_assert_str_eq(out.name[1], "");

	answer(60);
	in.n = 3;
	in.mx[0].pref = 0;
	strcpy(in.mx[0].name, "");	/* a null MX */
	in.mx[1].pref = 10;
	strcpy(in.mx[1].name, "mx1.example");
	in.mx[2].pref = 65535;
	strcpy(in.mx[2].name, "mx2.example");
	resolver_cache_put(RESOLVER_T_MX, "example", 1000, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_MX, "example", 1000,
	    &out), 1);
	ck_assert_uint_eq(out.n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(out.mx[i].pref, in.mx[i].pref);
		ck_assert_str_eq(out.mx[i].name, in.mx[i].name);
	}

	/* TXT: NUL octets inside a record survive, lengths say the rest. */
	answer(60);
	add_txt("v=spf1 -all", 11);
	add_txt("a\0b", 3);
	add_txt("", 0);
	resolver_cache_put(RESOLVER_T_TXT, "example", 1000, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_TXT, "example", 1000,
	    &out), 1);
	ck_assert_uint_eq(out.n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(out.txt_len[i], in.txt_len[i]);
		ck_assert_mem_eq(out.txt + out.txt_off[i], in.txt +
		    in.txt_off[i], in.txt_len[i] + 1);
	}
}
END_TEST

/* A full answer of the largest records fits and comes back whole. */
START_TEST(test_largest)
{
	size_t i;

	resolver_cache_setsize(64);		/* 64 KiB: room for it */
	in.n = RESOLVER_MAX_RR;
	for (i = 0; i < in.n; i++) {
		memset(in.name[i], 'a' + (int)(i % 26), SMTP_DOMAIN_MAX);
		in.name[i][SMTP_DOMAIN_MAX] = '\0';
	}
	resolver_cache_put(RESOLVER_T_PTR, "192.0.2.9", 1, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_PTR, "192.0.2.9", 1,
	    &out), 1);
	ck_assert_uint_eq(out.n, RESOLVER_MAX_RR);
	for (i = 0; i < in.n; i++)
		ck_assert_str_eq(out.name[i], in.name[i]);

	answer(60);
	memset(in.txt, 'x', sizeof(in.txt) - 1);
	in.txt_len[0] = sizeof(in.txt) - 1;
	in.n = 1;
	resolver_cache_put(RESOLVER_T_TXT, "big.example", 1, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_TXT, "big.example", 1,
	    &out), 1);
	ck_assert_uint_eq(out.txt_len[0], sizeof(in.txt) - 1);
	ck_assert_mem_eq(out.txt, in.txt, sizeof(in.txt));
}
END_TEST

START_TEST(test_expiry)
{
	add_a("192.0.2.1");
	in.ttl = 5;
	resolver_cache_put(RESOLVER_T_A, "a.example", 100, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "a.example", 104,
	    &out), 1);
	ck_assert_uint_eq(out.ttl, 1);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "a.example", 105,
	    &out), 0);
	/* ...and it is gone, not just hidden. */
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "a.example", 100,
	    &out), 0);
}
END_TEST

START_TEST(test_ttl_bounds)
{
	struct resolver_cache_stats st;

	add_a("192.0.2.1");
	in.ttl = 0;			/* "do not keep" */
	resolver_cache_put(RESOLVER_T_A, "zero.example", 100, &in);
	in.ttl = 0x80000000u;		/* RFC 2181 §8: zero */
	resolver_cache_put(RESOLVER_T_A, "neg.example", 100, &in);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 0);
	in.ttl = 7 * 86400;		/* kept an hour at most */
	resolver_cache_put(RESOLVER_T_A, "week.example", 100, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "week.example",
	    100 + RESOLVER_CACHE_TTL_MAX - 1, &out), 1);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "week.example",
	    100 + RESOLVER_CACHE_TTL_MAX, &out), 0);
}
END_TEST

/* Negative answers, failures, truncated or empty answers are never kept. */
START_TEST(test_not_kept)
{
	static const enum resolver_status st[] = {
		RESOLVER_NXDOMAIN, RESOLVER_NODATA, RESOLVER_TEMPFAIL,
	};
	struct resolver_cache_stats s;
	size_t i;

	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		in.status = st[i];
		resolver_cache_put(RESOLVER_T_A, "x.example", 1, &in);
	}
	in.status = RESOLVER_OK;		/* OK with no record */
	resolver_cache_put(RESOLVER_T_A, "x.example", 1, &in);
	add_a("192.0.2.1");
	in.truncated = 1;
	resolver_cache_put(RESOLVER_T_A, "x.example", 1, &in);
	resolver_cache_stats(&s);
	ck_assert_uint_eq(s.entries, 0);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "x.example", 1,
	    &out), 0);
}
END_TEST

/* Full: the least recently used goes; a hit makes an entry recent. */
START_TEST(test_lru)
{
	struct resolver_cache_stats st;
	char name[32];
	int i;

	add_a("192.0.2.1");
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		resolver_cache_put(RESOLVER_T_A, name, 1, &in);
	}
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "n0.example", 1,
	    &out), 1);			/* n1 is now the oldest */
	resolver_cache_put(RESOLVER_T_A, "n8.example", 1, &in);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 8);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "n1.example", 1,
	    &out), 0);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "n0.example", 1,
	    &out), 1);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "n8.example", 1,
	    &out), 1);
	/* A second answer for a name replaces the first. */
	in.n = 0;
	add_a("192.0.2.99");
	resolver_cache_put(RESOLVER_T_A, "n8.example", 1, &in);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 8);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "n8.example", 1,
	    &out), 1);
	ck_assert_uint_eq(out.n, 1);
	ck_assert_uint_eq(((struct sockaddr_in *)&out.addr[0])->sin_addr.s_addr,
	    htonl(0xc0000263));
	ck_assert_uint_eq(st.hits, 3);
	ck_assert_uint_eq(st.misses, 1);
	ck_assert_uint_gt(st.bytes, 8 * 12);
	resolver_cache_flush();
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(st.bytes, 0);
}
END_TEST

/* The bytes bound: 8 entries may take 8 KiB; answers of 32 names of 253
 * octets (~8 KiB each) push each other out, and one that alone is over
 * the bound is not kept. */
START_TEST(test_bytes)
{
	struct resolver_cache_stats st;
	size_t i;

	in.n = RESOLVER_MAX_RR;
	for (i = 0; i < in.n; i++) {
		memset(in.name[i], 'a', 253);
		in.name[i][253] = '\0';
	}
	resolver_cache_put(RESOLVER_T_PTR, "192.0.2.1", 1, &in);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 0);	/* 8 KiB + header > 8 KiB */
	in.n = 4;				/* ~1100 bytes */
	for (i = 0; i < 12; i++) {
		char name[32];

		snprintf(name, sizeof(name), "192.0.2.%zu", i);
		resolver_cache_put(RESOLVER_T_PTR, name, 1, &in);
		resolver_cache_stats(&st);
		ck_assert_uint_le(st.bytes, 8 * RESOLVER_CACHE_BYTES_PER_ENTRY);
	}
	ck_assert_uint_lt(st.entries, 8);	/* the bytes bound came first */
	ck_assert_uint_gt(st.entries, 5);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_PTR, "192.0.2.11", 1,
	    &out), 1);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_PTR, "192.0.2.0", 1,
	    &out), 0);
}
END_TEST

/* bucket_name - the name of index i, "nI.example", into buf; its bucket. */
static size_t
bucket_name(int i, char *buf, size_t len)
{
	snprintf(buf, len, "n%d.example", i);
	return resolver_cache_bucket(RESOLVER_T_A, buf);
}

/* Names that hash into one bucket (as names chosen by whoever controls a
 * zone could): at most RESOLVER_CACHE_CHAIN_MAX of them are kept, the
 * rest are asked again each time, and the kept ones are still found. */
START_TEST(test_chain_bound)
{
	struct resolver_cache_stats st;
	char name[32];
	int i, kept = 0, found = 0;

	resolver_cache_setsize(64);		/* 64 buckets */
	add_a("192.0.2.1");
	for (i = 0; kept < 20 && i < 100000; i++) {
		if (bucket_name(i, name, sizeof(name)) != 5)
			continue;
		resolver_cache_put(RESOLVER_T_A, name, 1, &in);
		kept++;
	}
	ck_assert_int_eq(kept, 20);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, RESOLVER_CACHE_CHAIN_MAX);
	for (i = 0; i < 100000; i++)
		if (bucket_name(i, name, sizeof(name)) == 5)
			found += resolver_cache_get(RESOLVER_T_A, name, 1, &out);
	ck_assert_int_eq(found, RESOLVER_CACHE_CHAIN_MAX);
	/* other buckets still take answers */
	for (i = 0; bucket_name(i, name, sizeof(name)) == 5; i++)
		;
	resolver_cache_put(RESOLVER_T_A, name, 1, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, name, 1, &out), 1);
}
END_TEST

/* DNS names are case-insensitive and "x." is "x"; nothing else matches. */
START_TEST(test_key)
{
	char longname[SMTP_DOMAIN_MAX + 2];

	add_a("192.0.2.1");
	resolver_cache_put(RESOLVER_T_A, "Mixed.Example.", 1, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "mixed.example", 1,
	    &out), 1);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "MIXED.EXAMPLE.",
	    1, &out), 1);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "mixed.example.x",
	    1, &out), 0);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "ixed.example", 1,
	    &out), 0);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	resolver_cache_put(RESOLVER_T_A, longname, 1, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, longname, 1, &out),
	    0);
}
END_TEST

/* Size 0: nothing kept, nothing counted; resizing forgets everything. */
START_TEST(test_off)
{
	struct resolver_cache_stats st;

	add_a("192.0.2.1");
	resolver_cache_put(RESOLVER_T_A, "a.example", 1, &in);
	resolver_cache_setsize(4);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "a.example", 1,
	    &out), 0);
	resolver_cache_put(RESOLVER_T_A, "a.example", 1, &in);
	resolver_cache_setsize(0);
	resolver_cache_put(RESOLVER_T_A, "a.example", 1, &in);
	ck_assert_int_eq(resolver_cache_get(RESOLVER_T_A, "a.example", 1,
	    &out), 0);
	resolver_cache_stats(&st);
	ck_assert_uint_eq(st.entries, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("resolver_cache");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failures;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_largest);
	tcase_add_test(tc, test_expiry);
	tcase_add_test(tc, test_ttl_bounds);
	tcase_add_test(tc, test_not_kept);
	tcase_add_test(tc, test_lru);
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_chain_bound);
	tcase_add_test(tc, test_key);
	tcase_add_test(tc, test_off);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
