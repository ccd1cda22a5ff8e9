/* test_dkim.c - the DKIM verifier's parts: tag lists, base64, header and
 * body canonicalisation (RFC 6376 §3.4.6, the body split at every
 * offset), signature field rules, key records, and the EVP check with
 * keys made here. End-to-end verification against dkimpy and OpenDKIM is
 * tests/dkim/run.sh (tests/dkim/dkim_verify over the interop corpus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim_canon.h"
#include "dkim_hash.h"
#include "dkim_key.h"
#include "dkim_sig.h"
#include "dkim_tag.h"

/* ---- tag lists ---- */
static const struct {
	const char *in;
	int	 ok;
	const char *dump;	/* "name=value|" */
} tag_rows[] = {
	{ "v=1; a=rsa-sha256", 1, "v=1|a=rsa-sha256|" },
	{ "v=1;", 1, "v=1|" },
	{ " v = 1 ;\n\tb= ab\n cd ; ", 1, "v=1|b=ab\n cd|" },
	{ "a=;b=x", 1, "a=|b=x|" },
	{ "x_1=y=z", 1, "x_1=y=z|" },
	{ "", 0, NULL },
	{ ";", 0, NULL },
	{ "v=1;;a=2", 0, NULL },
	{ "v=1; v=2", 0, NULL },
	{ "1v=1", 0, NULL },
	{ "v", 0, NULL },
	{ "v=1\na=2", 0, NULL },
	{ "v=a\x80", 0, NULL },
	{ "v=1 ; a", 0, NULL },
};

START_TEST(test_tags)
{
	struct dkim_tags t;
	char dump[256] = "";
	size_t i;
	int rc = dkim_tags_parse(tag_rows[_i].in, strlen(tag_rows[_i].in), &t);

	ck_assert_msg((rc == 0) == tag_rows[_i].ok, "row %d", _i);
	if (rc < 0)
		return;
	for (i = 0; i < t.n; i++) {
		strncat(dump, t.t[i].name, t.t[i].namelen);
		strcat(dump, "=");
		strncat(dump, t.t[i].val, t.t[i].len);
		strcat(dump, "|");
	}
	ck_assert_str_eq(dump, tag_rows[_i].dump);
}
END_TEST

START_TEST(test_b64)
{
	unsigned char out[16];
	size_t n;

	ck_assert_int_eq(dkim_b64_decode("aGVs bG8=", 9, out, sizeof(out),
	    &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert(memcmp(out, "hello", 5) == 0);
	ck_assert_int_eq(dkim_b64_decode("aGk=", 4, out, 16, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(dkim_b64_decode("aA==", 4, out, 16, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(dkim_b64_decode("aGk", 3, out, 16, &n), -1);
	ck_assert_int_eq(dkim_b64_decode("a===", 4, out, 16, &n), -1);
	ck_assert_int_eq(dkim_b64_decode("aG=k", 4, out, 16, &n), -1);
	ck_assert_int_eq(dkim_b64_decode("aG*k", 4, out, 16, &n), -1);
	ck_assert_int_eq(dkim_b64_decode("aGVsbG8=aGk=", 12, out, 16, &n), -1);
	ck_assert_int_eq(dkim_b64_decode("AAAAAAAA", 8, out, 5, &n), -1);
}
END_TEST

/* ---- canonicalisation ---- */
struct buf {
	char	 b[4096];
	size_t	 n;
};

static void
buf_sink(void *arg, const char *p, size_t n)
{
	struct buf *b = arg;

	ck_assert(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* RFC 6376 §3.4.6: the example's header fields and body. */
START_TEST(test_canon_header)
{
	struct buf b;

	memset(&b, 0, sizeof(b));
	dkim_canon_header(1, "A: X\n", 5, 1, buf_sink, &b);
	dkim_canon_header(1, "B : Y\t\n\tZ  \n", 12, 1, buf_sink, &b);
	ck_assert_uint_eq(b.n, 12);
	ck_assert(memcmp(b.b, "a:X\r\nb:Y Z\r\n", 12) == 0);
	memset(&b, 0, sizeof(b));
	dkim_canon_header(0, "B : Y\t\n\tZ  \n", 12, 1, buf_sink, &b);
	ck_assert_uint_eq(b.n, 14);
	ck_assert(memcmp(b.b, "B : Y\t\r\n\tZ  \r\n", 14) == 0);
	memset(&b, 0, sizeof(b));
	dkim_canon_header(1, "DKIM-Signature: a=1; b=\n", 24, 0, buf_sink,
	    &b);
	b.b[b.n] = '\0';
	ck_assert_str_eq(b.b, "dkim-signature:a=1; b=");
}
END_TEST

static const struct {
	const char *in;
	int	 relaxed;
	uint64_t limit;
	const char *out;
} body_rows[] = {
	/* RFC 6376 §3.4.6 */
	{ " C \nD \t E\n\n\n", 0, UINT64_MAX, " C \r\nD \t E\r\n" },
	{ " C \nD \t E\n\n\n", 1, UINT64_MAX, " C\r\nD E\r\n" },
	{ "", 0, UINT64_MAX, "\r\n" },
	{ "", 1, UINT64_MAX, "" },
	{ "\n\n", 0, UINT64_MAX, "\r\n" },
	{ " \n\t\n", 1, UINT64_MAX, "" },
	{ "a\n\nb", 0, UINT64_MAX, "a\r\n\r\nb\r\n" },
	{ "a  \t b \n \n\nc\n", 1, UINT64_MAX, "a b\r\n\r\n\r\nc\r\n" },
	{ "hello\nworld\n", 0, 7, "hello\r\n" },
	{ "hello\nworld\n", 0, 0, "" },
	{ "x\n\n\n\n\n\n\n\n\n\n\n\ny\n", 0, UINT64_MAX,
	  "x\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\ny\r\n" },
};

START_TEST(test_canon_body)
{
	const char *in = body_rows[_i].in;
	size_t len = strlen(in), a, c;

	for (a = 0; a <= len; a++)
		for (c = a; c <= len; c++) {
			struct dkim_body b;
			struct buf out;

			memset(&out, 0, sizeof(out));
			dkim_body_init(&b, body_rows[_i].relaxed,
			    body_rows[_i].limit, buf_sink, &out);
			dkim_body_feed(&b, in, a);
			dkim_body_feed(&b, in + a, c - a);
			dkim_body_feed(&b, in + c, len - c);
			dkim_body_end(&b);
			out.b[out.n] = '\0';
			ck_assert_msg(strcmp(out.b, body_rows[_i].out) == 0,
			    "row %d split %zu/%zu", _i, a, c);
		}
}
END_TEST

/* ---- signature fields ---- */
#define GOOD "DKIM-Signature: v=1; a=rsa-sha256; d=Example.ORG; s=sel;\n" \
	" c=relaxed/simple; h=From:To; bh=AAAA; b=Zm9v"
static const struct {
	const char *field;
	enum dkim_result r;
	const char *err;
} sig_rows[] = {
	{ GOOD "\n", DKIM_PASS, "" },
	{ GOOD "; i=x@Sub.example.org\n", DKIM_PASS, "" },
	{ GOOD "; i=@example.org.evil\n", DKIM_PERMERROR, "i= is not within d=" },
	{ GOOD "; i=x@badexample.org\n", DKIM_PERMERROR, "i= is not within d=" },
	{ GOOD "; l=12345\n", DKIM_PASS, "" },
	{ GOOD "; l=12a\n", DKIM_PERMERROR, "bad l=" },
	{ GOOD "; q=dns/txt\n", DKIM_PASS, "" },
	{ GOOD "; q=http\n", DKIM_PERMERROR, "q= without dns/txt" },
	{ GOOD "; x=1\n", DKIM_PERMERROR, "signature expired" },
	{ GOOD "; t=100; x=50\n", DKIM_PERMERROR, "x= before t=" },
	{ GOOD "; t=9999999999\n", DKIM_PERMERROR, "t= in the future" },
	{ GOOD "; t=1; x=99999999999\n", DKIM_PASS, "" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
	  "c=fancy; h=From; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR,
	  "unknown canonicalization" },
	{ GOOD "; b=Zm9v\n", DKIM_PERMERROR,
	  "bad tag list: duplicate tag" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
	  "h=To:Subject; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR,
	  "From is not signed" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
	  "h=From::To; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR, "bad name in h=" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
	  "h=From; bh=AAAA; b=Zm9*\n", DKIM_PERMERROR,
	  "b= is not base64 or too long" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=ex ample.org; s=sel; "
	  "h=From; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR,
	  "d= is not a domain name" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=exa[mple.org; s=sel; "
	  "h=From; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR,
	  "d= is not a domain name" },
	{ "DKIM-Signature: v=2; a=rsa-sha256; d=example.org; s=sel; "
	  "h=From; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR, "v= is not 1" },
	{ "DKIM-Signature: v=1; a=rsa-sha1; d=example.org; s=sel; "
	  "h=From; bh=AAAA; b=Zm9v\n", DKIM_POLICY, "rsa-sha1 (RFC 8301)" },
	{ "DKIM-Signature: v=1; a=rsa-md5; d=example.org; s=sel; "
	  "h=From; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR, "unknown algorithm" },
	{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; "
	  "h=From; bh=AAAA; b=Zm9v\n", DKIM_PERMERROR, "no s= tag" },
};

START_TEST(test_sig)
{
	static struct dkim_sigparse p;
	const char *f = sig_rows[_i].field;
	enum dkim_result r = dkim_sig_parse(f, strlen(f),
	    (long long)time(NULL), &p);

	ck_assert_msg(r == sig_rows[_i].r, "row %d: %s", _i, p.err);
	ck_assert_str_eq(p.err, sig_rows[_i].err);
	if (r == DKIM_PASS) {
		ck_assert_str_eq(p.d, "example.org");
		ck_assert_str_eq(p.s, "sel");
		ck_assert_int_eq(p.hrelaxed, 1);
		ck_assert_int_eq(p.brelaxed, 0);
		ck_assert_uint_eq(p.siglen, 3);
		ck_assert_str_eq(p.b8, "Zm9v");
	}
}
END_TEST

START_TEST(test_giant_h)
{
	static struct dkim_sigparse p;
	static char f[8192];
	int i, n;

	n = snprintf(f, sizeof(f), "DKIM-Signature: v=1; a=rsa-sha256; "
	    "d=example.org; s=sel; bh=AAAA; b=Zm9v; h=From");
	for (i = 0; i < DKIM_H_MAX; i++)
		n += snprintf(f + n, sizeof(f) - (size_t)n, ":To");
	ck_assert_int_eq(dkim_sig_parse(f, (size_t)n, 0, &p), DKIM_PERMERROR);
	ck_assert_str_eq(p.err, "more than 128 names in h=");
}
END_TEST

/* ---- keys and the EVP check ---- */
static char *
spki_b64(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	char *out = malloc((size_t)n * 2 + 8);

	ck_assert_int_gt(n, 0);
	EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	return out;
}

static void
rsa_case(unsigned bits, enum dkim_result want_policy)
{
	EVP_PKEY *k = EVP_RSA_gen(bits);
	EVP_PKEY_CTX *c;
	struct dkim_key key;
	unsigned char hash[32], sig[2048];
	size_t siglen = sizeof(sig);
	char *b64 = spki_b64(k), rec[4096];

	memset(hash, 0x5a, sizeof(hash));
	c = EVP_PKEY_CTX_new(k, NULL);
	ck_assert_int_eq(EVP_PKEY_sign_init(c), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()), 1);
	ck_assert_int_eq(EVP_PKEY_sign(c, sig, &siglen, hash, 32), 1);
	EVP_PKEY_CTX_free(c);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; t=y:s; p=%s", b64);
	ck_assert_int_eq(dkim_key_parse(rec, strlen(rec), &key), 0);
	ck_assert_uint_eq(key.bits, bits);
	ck_assert_int_eq(key.testing, 1);
	ck_assert_int_eq(key.strict, 1);
	ck_assert_int_eq(dkim_signature_ok(&key, sig, siglen, hash), 1);
	hash[0] ^= 1;
	ck_assert_int_eq(dkim_signature_ok(&key, sig, siglen, hash), 0);
	dkim_key_free(&key);
	(void)want_policy;
	free(b64);
	EVP_PKEY_free(k);
}

START_TEST(test_rsa)
{
	rsa_case(1024, DKIM_PASS);
	rsa_case(2048, DKIM_PASS);
	rsa_case(512, DKIM_POLICY);
}
END_TEST

START_TEST(test_ed25519)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char raw[32], hash[32], sig[64];
	size_t rawlen = 32, siglen = 64;
	char b64[64], rec[128];
	struct dkim_key key;

	memset(hash, 0xa5, sizeof(hash));
	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, raw, &rawlen), 1);
	EVP_EncodeBlock((unsigned char *)b64, raw, 32);
	ck_assert_int_eq(EVP_DigestSignInit(md, NULL, NULL, NULL, k), 1);
	ck_assert_int_eq(EVP_DigestSign(md, sig, &siglen, hash, 32), 1);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", b64);
	ck_assert_int_eq(dkim_key_parse(rec, strlen(rec), &key), 0);
	ck_assert_int_eq(dkim_signature_ok(&key, sig, siglen, hash), 1);
	sig[3] ^= 1;
	ck_assert_int_eq(dkim_signature_ok(&key, sig, siglen, hash), 0);
	dkim_key_free(&key);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
}
END_TEST

static const struct {
	const char *rec;
	int	 ok;
	const char *err;
} key_rows[] = {
	{ "v=DKIM1; p=", 1, "" },
	{ "p=", 1, "" },
	{ "k=rsa; v=DKIM1; p=", 0, "key record v= is not DKIM1" },
	{ "v=DKIM2; p=", 0, "key record v= is not DKIM1" },
	{ "v=DKIM1; k=dsa; p=", 0, "unknown key type k=" },
	{ "v=DKIM1; h=sha1; p=", 0, "key h= excludes sha256" },
	{ "v=DKIM1; h=sha1:sha256; p=", 1, "" },
	{ "v=DKIM1; s=tlsrpt; p=", 0, "key not for email (s=)" },
	{ "v=DKIM1; s=email:x; p=", 1, "" },
	{ "v=DKIM1", 0, "key record without p=" },
	{ "v=DKIM1; p=MIIB*", 0, "key p= is not base64 or too long" },
	{ "v=DKIM1; p=AAAA", 0, "key p= is not an RSA public key" },
	{ "v=DKIM1; k=ed25519; p=AAAA", 0, "ed25519 key is not 32 octets" },
	{ "v=DKIM1; p=;;", 0, "bad key record: bad tag name" },
};

START_TEST(test_key_rows)
{
	struct dkim_key k;
	const char *r = key_rows[_i].rec;
	int rc = dkim_key_parse(r, strlen(r), &k);

	ck_assert_msg((rc == 0) == key_rows[_i].ok, "row %d: %s", _i, k.err);
	ck_assert_str_eq(k.err, key_rows[_i].err);
	if (rc == 0)
		ck_assert_int_eq(k.revoked, 1);
	dkim_key_free(&k);
}
END_TEST

static Suite *
dkim_suite(void)
{
	Suite *s = suite_create("dkim");
	TCase *tc = tcase_create("dkim");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_tags, 0, sizeof(tag_rows) /
	    sizeof(tag_rows[0]));
	tcase_add_test(tc, test_b64);
	tcase_add_test(tc, test_canon_header);
	tcase_add_loop_test(tc, test_canon_body, 0, sizeof(body_rows) /
	    sizeof(body_rows[0]));
	tcase_add_loop_test(tc, test_sig, 0, sizeof(sig_rows) /
	    sizeof(sig_rows[0]));
	tcase_add_test(tc, test_giant_h);
	tcase_add_loop_test(tc, test_key_rows, 0, sizeof(key_rows) /
	    sizeof(key_rows[0]));
	tcase_add_test(tc, test_rsa);
	tcase_add_test(tc, test_ed25519);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dkim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
