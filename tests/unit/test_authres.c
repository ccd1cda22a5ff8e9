/* test_authres.c - unit tests of authres.c: the exact bytes of our
 * Authentication-Results field for every iprev/spf case and for hostile
 * values, and the filter on table rows fed whole, split at every offset
 * and one byte at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "strictmx.h"
#include "authres.h"
#include "fcrdns.h"

#define ID	"mx.test.example"

/* ---- the header -------------------------------------------------------- */

struct hcase {
	int		 ptr_status;
	const char	*ptr;
	const char	*ip;
	int		 policy;
	int		 spf_done;
	enum spf_result	 result;
	enum spf_identity identity;
	const char	*mailfrom;
	const char	*helo;
	const char	*want;
};

#define H	"Authentication-Results: " ID ";\n\t"

static const struct hcase hcases[] = {
	/* iprev pass, SPF off */
	{ FCRDNS_OK, "fcr.client.example", "127.0.0.7", POLICY_OFF, 0, 0, 0,
	  "s@sender.example", "fcr.client.example",
	  H "iprev=pass (fcr.client.example) policy.iprev=127.0.0.7;\n"
	  "\tspf=none (not checked: spf_policy off)"
	  " smtp.mailfrom=s@sender.example\n" },
	/* iprev fail, every SPF result for the mailfrom identity */
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_ENFORCE, 1, SPF_PASS,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=pass smtp.mailfrom=s@sender.example\n" },
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_LOG, 1, SPF_FAIL,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=fail smtp.mailfrom=s@sender.example\n" },
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_LOG, 1, SPF_SOFTFAIL,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=softfail smtp.mailfrom=s@sender.example\n" },
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_LOG, 1, SPF_NEUTRAL,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=neutral smtp.mailfrom=s@sender.example\n" },
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_LOG, 1, SPF_NONE,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=none smtp.mailfrom=s@sender.example\n" },
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_LOG, 1, SPF_TEMPERROR,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=temperror smtp.mailfrom=s@sender.example\n" },
	{ FCRDNS_NONE, "", "127.0.0.8", POLICY_LOG, 1, SPF_PERMERROR,
	  SPF_ID_MAILFROM, "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.8;\n"
	  "\tspf=permerror smtp.mailfrom=s@sender.example\n" },
	/* iprev temperror (DNS failed, or still pending); HELO identity */
	{ FCRDNS_TEMPFAIL, "", "127.0.0.1", POLICY_ENFORCE, 1, SPF_FAIL,
	  SPF_ID_HELO, "", "h.example",
	  H "iprev=temperror policy.iprev=127.0.0.1;\n"
	  "\tspf=fail smtp.helo=h.example\n" },
	{ -1, "", "127.0.0.1", POLICY_ENFORCE, 1, SPF_PASS,
	  SPF_ID_HELO, "", "h.example",
	  H "iprev=temperror policy.iprev=127.0.0.1;\n"
	  "\tspf=pass smtp.helo=h.example\n" },
	/* an IPv6 address is not a token (':'): quoted */
	{ FCRDNS_OK, "v6.client.example", "2001:db8::1", POLICY_ENFORCE, 1,
	  SPF_PASS, SPF_ID_MAILFROM, "a.b+c@x.example", "v6.client.example",
	  H "iprev=pass (v6.client.example) policy.iprev=\"2001:db8::1\";\n"
	  "\tspf=pass smtp.mailfrom=a.b+c@x.example\n" },
	/* SPF on but not evaluated (an exempt client, say) */
	{ FCRDNS_NONE, "", "127.0.0.9", POLICY_ENFORCE, 0, 0, 0,
	  "s@sender.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.9;\n"
	  "\tspf=none (not checked) smtp.mailfrom=s@sender.example\n" },
	/* null sender, not evaluated: the HELO name is the identity */
	{ FCRDNS_NONE, "", "127.0.0.9", POLICY_OFF, 0, 0, 0, "", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.9;\n"
	  "\tspf=none (not checked: spf_policy off) smtp.helo=h.example\n" },
	/* an address literal is not a token */
	{ FCRDNS_NONE, "", "127.0.0.9", POLICY_ENFORCE, 1, SPF_NONE,
	  SPF_ID_HELO, "", "[127.0.0.9]",
	  H "iprev=fail policy.iprev=127.0.0.9;\n"
	  "\tspf=none smtp.helo=\"[127.0.0.9]\"\n" },
	/* hostile: a PTR name with comment delimiters */
	{ FCRDNS_OK, "a(b)c\\d", "127.0.0.1", POLICY_ENFORCE, 1, SPF_PASS,
	  SPF_ID_HELO, "", "x;y",
	  H "iprev=pass (a?b?c?d) policy.iprev=127.0.0.1;\n"
	  "\tspf=pass smtp.helo=\"x;y\"\n" },
	/* hostile: CR LF ; ( in a HELO name */
	{ FCRDNS_NONE, "", "127.0.0.1", POLICY_ENFORCE, 1, SPF_FAIL,
	  SPF_ID_HELO, "", "e\r\nX-Evil: 1; spf=pass (x",
	  H "iprev=fail policy.iprev=127.0.0.1;\n"
	  "\tspf=fail smtp.helo=\"e??X-Evil: 1; spf=pass (x\"\n" },
	/* hostile: CR LF ; ( in a local part */
	{ FCRDNS_NONE, "", "127.0.0.1", POLICY_ENFORCE, 1, SPF_PASS,
	  SPF_ID_MAILFROM, "a\r\nX-Evil: 1;(x)@e.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.1;\n"
	  "\tspf=pass smtp.mailfrom=\"a??X-Evil: 1;(x)@e.example\"\n" },
	/* a quoted local part: quotes and backslash escaped */
	{ FCRDNS_NONE, "", "127.0.0.1", POLICY_OFF, 0, 0, 0,
	  "\"q\\\"x\"@x.example", "h.example",
	  H "iprev=fail policy.iprev=127.0.0.1;\n"
	  "\tspf=none (not checked: spf_policy off)"
	  " smtp.mailfrom=\"\\\"q\\\\\\\"x\\\"@x.example\"\n" },
	/* 8-bit (SMTPUTF8) and DEL */
	{ FCRDNS_OK, "p\xc3\xa9.example", "127.0.0.1", POLICY_ENFORCE, 1,
	  SPF_NEUTRAL, SPF_ID_MAILFROM, "\xc3\xa9\x7f@x.example", "h",
	  H "iprev=pass (p??.example) policy.iprev=127.0.0.1;\n"
	  "\tspf=neutral smtp.mailfrom=\"???@x.example\"\n" },
	/* dot-atom rules: a leading dot, two dots */
	{ FCRDNS_NONE, "", "127.0.0.1", POLICY_ENFORCE, 1, SPF_PASS,
	  SPF_ID_MAILFROM, ".a..b@x.example", "h",
	  H "iprev=fail policy.iprev=127.0.0.1;\n"
	  "\tspf=pass smtp.mailfrom=\".a..b@x.example\"\n" },
};

static void
fill(struct authres_input *in, struct spf_outcome *o, const struct hcase *c)
{
	memset(in, 0, sizeof(*in));
	memset(o, 0, sizeof(*o));
	o->result = c->result;
	o->identity = c->identity;
	in->authserv_id = ID;
	in->client_ip = c->ip;
	in->ptr_status = c->ptr_status;
	in->ptr = c->ptr;
	in->spf_policy = c->policy;
	in->spf_done = c->spf_done;
	in->spf = o;
	in->mailfrom = c->mailfrom;
	in->helo = c->helo;
}

/* check_shape - whatever went in: one field, LF TAB folds only, printable
 * ASCII, no line over 998, and exactly nsemi ';' outside quoted-strings
 * and comments (no method or property can be injected). */
static void
check_shape(const char *h, size_t n, int nsemi)
{
	size_t i, col = 0;
	int inq = 0, depth = 0, semis = 0;

	ck_assert_uint_eq(strlen(h), n);
	ck_assert_int_eq(strncmp(h, "Authentication-Results: ", 24), 0);
	ck_assert_int_eq(h[n - 1], '\n');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '\n') {
			ck_assert_msg(i == n - 1 || h[i + 1] == '\t',
			    "a line break that is not a fold at %zu: %s", i, h);
			ck_assert_int_eq(inq, 0);
			col = 0;
			continue;
		}
		ck_assert_msg(c == '\t' || (c >= 0x20 && c < 0x7f),
		    "octet 0x%02x at %zu", c, i);
		ck_assert_uint_lt(++col, 999);
		if (inq) {
			if (c == '\\')
				i++;
			else if (c == '"')
				inq = 0;
		} else if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '"')
			inq = 1;
		else if (c == '(')
			depth = 1;
		else if (c == ';')
			semis++;
	}
	ck_assert_int_eq(inq, 0);
	ck_assert_int_eq(depth, 0);
	ck_assert_int_eq(semis, nsemi);
}

START_TEST(test_header)
{
	const struct hcase *c = &hcases[_i];
	struct authres_input in;
	struct spf_outcome o;
	char buf[AUTHRES_MAX];
	size_t n;

	fill(&in, &o, c);
	n = authres_header(buf, sizeof(buf), &in);
	ck_assert_msg(n > 0, "row %d: no header", _i);
	ck_assert_msg(strcmp(buf, c->want) == 0, "row %d:\ngot:  %s\nwant: %s",
	    _i, buf, c->want);
	check_shape(buf, n, 2);
	/* too small a buffer: 0, never a cut header */
	ck_assert_uint_eq(authres_header(buf, n, &in), 0);
}
END_TEST

/* Values at their longest fold onto lines of their own, unsplit. */
START_TEST(test_header_long)
{
	struct authres_input in;
	struct spf_outcome o;
	char buf[AUTHRES_MAX], helo[SMTP_DOMAIN_MAX + 1];
	char ptr[SMTP_DOMAIN_MAX + 1], from[SMTP_PATH_MAX + 1];
	size_t n;

	memset(helo, 'h', sizeof(helo) - 1);
	helo[sizeof(helo) - 1] = '\0';
	memset(ptr, 'p', sizeof(ptr) - 1);
	ptr[sizeof(ptr) - 1] = '\0';
	memset(from, '"', sizeof(from) - 1);	/* every octet escaped */
	from[sizeof(from) - 1] = '\0';
	fill(&in, &o, &hcases[0]);
	in.ptr = ptr;
	in.helo = helo;
	in.mailfrom = from;
	n = authres_header(buf, sizeof(buf), &in);
	ck_assert_uint_gt(n, 0);
	check_shape(buf, n, 2);
	ck_assert_ptr_nonnull(strstr(buf, "\n\t(ppp"));
	ck_assert_ptr_nonnull(strstr(buf, "\n\tsmtp.mailfrom=\"\\\"\\\""));
	in.spf_done = 1;
	o.identity = SPF_ID_HELO;
	n = authres_header(buf, sizeof(buf), &in);
	check_shape(buf, n, 2);
	ck_assert_ptr_nonnull(strstr(buf, "\tspf=none\n\tsmtp.helo=hhhh"));
}
END_TEST

/* Hostile values of every kind never break the field's structure. */
START_TEST(test_header_random)
{
	struct authres_input in;
	struct spf_outcome o;
	char buf[AUTHRES_MAX], helo[SMTP_DOMAIN_MAX + 1];
	char ptr[SMTP_DOMAIN_MAX + 1], from[SMTP_PATH_MAX + 1];
	static const char alphabet[] = "a.@;()\\\"\r\n\t =:[]<>,\x7f\x80\xff";
	int i;
	size_t j, n;

	srandom(8601);
	for (i = 0; i < 20000; i++) {
		size_t lh = (size_t)random() % sizeof(helo);
		size_t lp = (size_t)random() % sizeof(ptr);
		size_t lf = (size_t)random() % sizeof(from);

		for (j = 0; j < lh; j++)
			helo[j] = alphabet[random() % (sizeof(alphabet) - 1)];
		helo[lh] = '\0';
		for (j = 0; j < lp; j++)
			ptr[j] = alphabet[random() % (sizeof(alphabet) - 1)];
		ptr[lp] = '\0';
		for (j = 0; j < lf; j++)
			from[j] = alphabet[random() % (sizeof(alphabet) - 1)];
		from[lf] = '\0';
		fill(&in, &o, &hcases[i % (sizeof(hcases) / sizeof(hcases[0]))]);
		in.ptr = ptr;
		in.helo = helo;
		in.mailfrom = from;
		n = authres_header(buf, sizeof(buf), &in);
		ck_assert_uint_gt(n, 0);
		check_shape(buf, n, 2);
	}
}
END_TEST

/* The builder alone: no method is "none", names round-trip. */
START_TEST(test_builder)
{
	struct authres ar;
	const char *h;
	size_t n;

	authres_begin(&ar, "a b");
	h = authres_end(&ar, &n);
	ck_assert_str_eq(h, "Authentication-Results: \"a b\"; none\n");
	ck_assert_str_eq(spf_result_text(SPF_SOFTFAIL), "softfail");
	ck_assert_str_eq(spf_identity_text(SPF_ID_HELO), "helo");
	ck_assert_str_eq(spf_identity_text(SPF_ID_MAILFROM), "mailfrom");
	/* a later method (DKIM, next release) is one more call */
	authres_begin(&ar, ID);
	authres_method(&ar, "dkim", "pass");
	authres_prop(&ar, "header.d", "example.org");
	authres_prop(&ar, "header.s", "sel");
	h = authres_end(&ar, &n);
	ck_assert_str_eq(h, H "dkim=pass header.d=example.org header.s=sel\n");
}
END_TEST

/* ---- the filter -------------------------------------------------------- */

#define S(s)	s, sizeof(s) - 1

struct fcase {
	const char	*in;
	size_t		 inlen;
	const char	*want;
	size_t		 wantlen;
};

static const struct fcase fcases[] = {
	/* ours, one line */
	{ S("Authentication-Results: mx.test.example; spf=pass"
	    " smtp.mailfrom=a@b\nSubject: x\n\nbody\n"),
	  S("Subject: x\n\nbody\n") },
	/* ours, folded over several lines */
	{ S("Authentication-Results: mx.test.example;\n\tspf=pass\n"
	    "  smtp.mailfrom=a@b\nSubject: x\n\nbody\n"),
	  S("Subject: x\n\nbody\n") },
	/* someone else's id stays */
	{ S("Authentication-Results: other.example; spf=pass\n"
	    "Subject: x\n\nb\n"),
	  S("Authentication-Results: other.example; spf=pass\n"
	    "Subject: x\n\nb\n") },
	/* case-insensitive name and id, much whitespace */
	{ S("authentication-RESULTS:   MX.Test.Example; none\nX: 1\n\n"),
	  S("X: 1\n\n") },
	/* an authres-version after the id */
	{ S("Authentication-Results: mx.test.example 1; spf=pass\n\n"),
	  S("\n") },
	/* comments (nested, quoted-pair) before the id */
	{ S("Authentication-Results: (c (nested) \\) ) mx.test.example;"
	    " dkim=pass\n\nb\n"),
	  S("\nb\n") },
	/* the id on a continuation line */
	{ S("Authentication-Results:\n mx.test.example; spf=fail\nA: b\n\n"),
	  S("A: b\n\n") },
	/* ids that only look like ours */
	{ S("Authentication-Results: mx.test.example.evil; spf=pass\n\n"),
	  S("Authentication-Results: mx.test.example.evil; spf=pass\n\n") },
	{ S("Authentication-Results: mx.test; spf=pass\n\n"),
	  S("Authentication-Results: mx.test; spf=pass\n\n") },
	{ S("Authentication-Results: mx.test.exampl\n\n"),
	  S("Authentication-Results: mx.test.exampl\n\n") },
	{ S("Authentication-Results: (mx.test.example) other.example; x\n\n"),
	  S("Authentication-Results: (mx.test.example) other.example; x\n\n") },
	/* ours as a quoted-string */
	{ S("Authentication-Results: \"mx.test.example\"; spf=pass\n\n"),
	  S("\n") },
	{ S("Authentication-Results: \"mx.test.example \"; spf=pass\n\n"),
	  S("Authentication-Results: \"mx.test.example \"; spf=pass\n\n") },
	/* in the body it is text */
	{ S("Subject: s\n\nAuthentication-Results: mx.test.example; spf=pass\n"),
	  S("Subject: s\n\nAuthentication-Results: mx.test.example; spf=pass\n") },
	/* a header section without a body */
	{ S("Subject: s\nAuthentication-Results: mx.test.example; spf=pass\n"),
	  S("Subject: s\n") },
	{ S("Authentication-Results: mx.test.example"), S("") },
	{ S("Authentication-Results: other.example"),
	  S("Authentication-Results: other.example") },
	{ S("Subject: s\nAuthentication-Res"), S("Subject: s\nAuthentication-Res") },
	/* other field names */
	{ S("Authentication-Results-Foo: mx.test.example; x\n\n"),
	  S("Authentication-Results-Foo: mx.test.example; x\n\n") },
	{ S("X-Authentication-Results: mx.test.example; x\n\n"),
	  S("X-Authentication-Results: mx.test.example; x\n\n") },
	{ S("Authentication-Result: mx.test.example; x\n\n"),
	  S("Authentication-Result: mx.test.example; x\n\n") },
	/* obsolete WSP before the colon (RFC 5322 §4.5.8) */
	{ S("Authentication-Results : mx.test.example; x\n\n"), S("\n") },
	/* several, mixed, one in the body */
	{ S("A: 1\nAuthentication-Results: mx.test.example; a=b\n c\n"
	    "Authentication-Results: o.example; x=y\n"
	    "Authentication-Results: mx.test.example; d=e\nB: 2\n\n"
	    "Authentication-Results: mx.test.example; body\n"),
	  S("A: 1\nAuthentication-Results: o.example; x=y\nB: 2\n\n"
	    "Authentication-Results: mx.test.example; body\n") },
	/* a continuation line of another field */
	{ S("X-Foo: 1\n Authentication-Results: mx.test.example\n\n"),
	  S("X-Foo: 1\n Authentication-Results: mx.test.example\n\n") },
	/* no id at all */
	{ S("Authentication-Results:\nB: 1\n\n"),
	  S("Authentication-Results:\nB: 1\n\n") },
	{ S("Authentication-Results: ; x\n\n"),
	  S("Authentication-Results: ; x\n\n") },
	/* the id ends at a fold, or at the end of the field */
	{ S("Authentication-Results: mx.test.example\n\t; spf=pass\n\n"),
	  S("\n") },
	{ S("Authentication-Results: mx.test.example\nB: 1\n\n"),
	  S("B: 1\n\n") },
	/* a field name cannot be folded */
	{ S("Authentication-Results\n : mx.test.example\n\n"),
	  S("Authentication-Results\n : mx.test.example\n\n") },
	/* empty message, empty header section, body only */
	{ S(""), S("") },
	{ S("\n"), S("\n") },
	{ S("\nAuthentication-Results: mx.test.example\n"),
	  S("\nAuthentication-Results: mx.test.example\n") },
	/* a message that starts with a continuation line */
	{ S(" x\nAuthentication-Results: mx.test.example\n\n"),
	  S(" x\n\n") },
};

struct out {
	char	*buf;
	size_t	 len;
	int	 calls;
	int	 fail_at;	/* call number that fails; 0 never */
};

static int
out_sink(void *arg, const char *p, size_t n)
{
	struct out *o = arg;

	o->calls++;
	ck_assert_msg(n > 0, "empty sink call");
	if (o->fail_at && o->calls >= o->fail_at) {
		errno = ENOSPC;
		return -1;
	}
	o->buf = realloc(o->buf, o->len + n + 1);
	ck_assert_ptr_nonnull(o->buf);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

/* feed - in pieces: at is the first piece (0: whole), step the size of
 * the others (0: the rest in one). */
static void
feed(struct out *o, const char *in, size_t len, size_t at, size_t step)
{
	struct authres_filter f;
	size_t off = 0, n;

	memset(o, 0, sizeof(*o));
	authres_filter_init(&f, ID, out_sink, o);
	if (at > 0) {
		ck_assert_int_eq(authres_filter_write(&f, in, at), 0);
		off = at;
	}
	while (off < len) {
		n = step && step < len - off ? step : len - off;
		ck_assert_int_eq(authres_filter_write(&f, in + off, n), 0);
		off += n;
	}
	ck_assert_int_eq(authres_filter_finish(&f), 0);
}

static void
check_out(const struct out *o, const char *want, size_t wantlen,
    const char *what, size_t at)
{
	ck_assert_msg(o->len == wantlen && memcmp(o->buf ? o->buf : "", want,
	    wantlen) == 0, "%s %zu: got %zu octets \"%.*s\", want \"%.*s\"",
	    what, at, o->len, (int)o->len, o->buf ? o->buf : "",
	    (int)wantlen, want);
}

START_TEST(test_filter)
{
	const struct fcase *c = &fcases[_i];
	struct out o;
	size_t at;

	feed(&o, c->in, c->inlen, 0, 0);
	check_out(&o, c->want, c->wantlen, "whole", 0);
	free(o.buf);
	for (at = 1; at < c->inlen; at++) {
		feed(&o, c->in, c->inlen, at, 0);
		check_out(&o, c->want, c->wantlen, "split at", at);
		free(o.buf);
	}
	feed(&o, c->in, c->inlen, 0, 1);
	check_out(&o, c->want, c->wantlen, "bytes", 1);
	free(o.buf);
}
END_TEST

/* A field start past the hold bound: an A-R field is dropped (it could
 * hide our id), any other field passes whole, memory stays bounded. */
START_TEST(test_filter_long)
{
	static const size_t steps[] = { 0, 1, 7, 1000, 4096 };
	char *in, *want;
	size_t len, wlen, i;
	struct out o;

	in = malloc(20000);
	want = malloc(20000);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(want);
	/* ours behind 2000 octets of CFWS, folded */
	len = (size_t)sprintf(in, "Authentication-Results:");
	memset(in + len, ' ', 1000);
	len += 1000;
	in[len++] = '\n';
	memset(in + len, '\t', 1000);
	len += 1000;
	len += (size_t)sprintf(in + len, "mx.test.example; x\n cont\nB: 1\n"
	    "\nbody\n");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		feed(&o, in, len, 0, steps[i]);
		check_out(&o, "B: 1\n\nbody\n", 11, "long cfws step", steps[i]);
		free(o.buf);
	}
	/* another field of 10000 octets, another host's long A-R */
	len = (size_t)sprintf(in, "X-Long: ");
	memset(in + len, 'a', 10000);
	len += 10000;
	len += (size_t)sprintf(in + len, "\nAuthentication-Results: o.example;"
	    " ");
	memset(in + len, 'b', 3000);
	len += 3000;
	len += (size_t)sprintf(in + len, "\n\tmore\n\nbody\n");
	memcpy(want, in, len);
	wlen = len;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		feed(&o, in, len, 0, steps[i]);
		check_out(&o, want, wlen, "long field step", steps[i]);
		free(o.buf);
	}
	free(in);
	free(want);
}
END_TEST

/* The next sink's failure is reported, whether it comes while passing a
 * run or while passing what was held. */
START_TEST(test_filter_sink_failure)
{
	static const char in[] = "Authentication-Results: o.example; x\n"
	    "Subject: y\n\nbody\n";
	struct authres_filter f;
	struct out o;

	memset(&o, 0, sizeof(o));
	o.fail_at = 1;
	authres_filter_init(&f, ID, out_sink, &o);
	ck_assert_int_eq(authres_filter_write(&f, in, sizeof(in) - 1), -1);
	ck_assert_int_eq(errno, ENOSPC);
	memset(&o, 0, sizeof(o));
	o.fail_at = 1;
	authres_filter_init(&f, ID, out_sink, &o);
	ck_assert_int_eq(authres_filter_write(&f, "Subject: y\nAuthen", 17),
	    -1);
	memset(&o, 0, sizeof(o));
	authres_filter_init(&f, ID, out_sink, &o);
	ck_assert_int_eq(authres_filter_write(&f, "Authentication-Res", 18), 0);
	ck_assert_int_eq(o.calls, 0);
	o.fail_at = 1;
	ck_assert_int_eq(authres_filter_finish(&f), -1);
	free(o.buf);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("authres");
	TCase *tc = tcase_create("authres");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_header, 0,
	    (int)(sizeof(hcases) / sizeof(hcases[0])));
	tcase_add_test(tc, test_header_long);
	tcase_add_test(tc, test_header_random);
	tcase_add_test(tc, test_builder);
	tcase_add_loop_test(tc, test_filter, 0,
	    (int)(sizeof(fcases) / sizeof(fcases[0])));
	tcase_add_test(tc, test_filter_long);
	tcase_add_test(tc, test_filter_sink_failure);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
