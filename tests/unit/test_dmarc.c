/* test_dmarc.c - DMARC (RFC 7489): the From: parser, the record parser,
 * organisational domains, alignment/policy/pct decisions; with
 * DMARC_DNS_TEST=1 (run_dmarc_test.sh, a scripted DNS server in a
 * namespace) also the asynchronous policy discovery of dmarc.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <event2/event.h>

#include "conf.h"
#include "dkim.h"
#include "dmarc.h"
#include "dmarc_policy.h"
#include "dmarc_record.h"
#include "log.h"
#include "msghdr.h"
#include "resolver.h"
#include "spf.h"

static struct event_base *base;

static void
setup(void)
{
	log_init(1, getenv("DMARC_TEST_VERBOSE") != NULL);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(dmarc_init(base), 0);
}

static void
teardown(void)
{
	dmarc_shutdown();
	event_base_free(base);
	base = NULL;
}

/* hdr_from - dmarc_from() over a header section given as text. */
static void
hdr_from(const char *text, size_t len, struct dmarc_from *f)
{
	struct msghdr_section h;
	size_t off, n;

	msghdr_init(&h);
	/* in chunks, as DATA arrives */
	for (off = 0; off < len; off += n) {
		n = len - off < 4096 ? len - off : 4096;
		msghdr_feed(&h, text + off, n);
	}
	msghdr_feed(&h, "\n", 1);
	msghdr_end(&h);
	dmarc_from(&h, f);
	msghdr_free(&h);
}

/* ---- From: ------------------------------------------------------------ */

struct from_row {
	const char *hdr;
	int	 nfields, ndomains;
	const char *domain;	/* "" when none */
	const char *problem;	/* substring of problem, or NULL for "" */
};

static const struct from_row from_rows[] = {
	{ "From: a@example.com\n", 1, 1, "example.com", NULL },
	{ "From: \"Joe Q. Public\" <john.q.public@Example.COM>\n", 1, 1,
	  "example.com", NULL },
	{ "From: Joe Q. Public <j@example.org>\n", 1, 1, "example.org", NULL },
	{ "From: (c (nested) \\) x) a@b.example (trailing)\n", 1, 1,
	  "b.example", NULL },
	{ "From: Joe\n <j@example.net>\n", 1, 1, "example.net", NULL },
	{ "From: \"folded\n quoted\" <j@example.net>\n", 1, 1, "example.net",
	  NULL },
	{ "From: a@example.com, b@EXAMPLE.com\n", 1, 1, "example.com", NULL },
	{ "From: a@example.com, b@example.org\n", 1, 2, "", "several" },
	{ "From: a@x.example, b@y.example, c@z.example, d@x.example\n", 1, 3,
	  "", "several" },
	{ "From: a@example.com\nFrom: b@example.com\n", 2, 1, "example.com",
	  "several From: fields" },
	{ "From: Team: a@example.com, b@example.com;\n", 1, 1, "example.com",
	  NULL },
	{ "From: G: a@x.example;, b@y.example\n", 1, 2, "", "several" },
	{ "From: undisclosed-recipients:;\n", 1, 0, "", "no address" },
	{ "From:\n", 1, 0, "", "no address" },
	{ "Subject: no from\n", 0, 0, "", "no From: field" },
	{ "Resent-From: a@x.example\nFrom: b@y.example\n", 1, 1, "y.example",
	  NULL },
	{ "From : a@example.com\n", 1, 1, "example.com", NULL },
	{ "from: a@example.com\n", 1, 1, "example.com", NULL },
	{ "FROM:a@example.com\n", 1, 1, "example.com", NULL },
	{ "From: \"abc <a@example.com>\n", 1, 0, "", "quote" },
	{ "From: (abc a@example.com\n", 1, 0, "", "comment" },
	{ "From: abc) a@example.com\n", 1, 0, "", "comment" },
	{ "From: a@example.com (x\n", 1, 0, "", "comment" },
	{ "From: x@b\xc3\xbc" "cher.example\n", 1, 1, "xn--bcher-kva.example",
	  NULL },
	{ "From: x@B\xc3\x9c" "CHER.example\n", 1, 1, "xn--bcher-kva.example",
	  NULL },
	{ "From: x@xn--bcher-kva.example\n", 1, 1, "xn--bcher-kva.example",
	  NULL },
	{ "From: j\xc3\xb6rg@example.de\n", 1, 1, "example.de", NULL },
	{ "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\n", 1, 1, "example.de",
	  NULL },
	{ "From: \"J\xc3\xb6rg\" <j@example.de>\n", 1, 1, "example.de", NULL },
	{ "From: x@exa_mple.com\n", 1, 0, "", "not a valid domain" },
	{ "From: x@-bad.example\n", 1, 0, "", "not a valid domain" },
	{ "From: a@[192.0.2.1]\n", 1, 0, "", "domain literal" },
	{ "From: a@b.example <c@d.example>\n", 1, 0, "", "junk" },
	{ "From: paypal.com <c@d.example>\n", 1, 1, "d.example", NULL },
	{ "From: <>\n", 1, 0, "", "empty address" },
	{ "From: <@relay.example,@r2.example:a@example.com>\n", 1, 1,
	  "example.com", NULL },
	{ "From: <@relay.example a@example.com>\n", 1, 0, "", "route" },
	{ "From: g: h: a@b.example;;\n", 1, 0, "", "group inside" },
	{ ": a@b.example;\n", 0, 0, "", "no From: field" },
	{ "From: : a@b.example;\n", 1, 0, "", "group without a name" },
	{ "From: g: a@b.example\n", 1, 0, "", "without ';'" },
	{ "From: a@example.com.\n", 1, 0, "", "without a domain" },
	{ "From: Fred <fred@example.com\n", 1, 0, "", "angle" },
	{ "From: a\n", 1, 0, "", "without a domain" },
	{ "From: @example.com\n", 1, 0, "", "empty local part" },
	{ "From: , a@example.com,,\n", 1, 1, "example.com", NULL },
	{ "From: a @ example . com\n", 1, 1, "example.com", NULL },
	{ "From: a@example.com\x01\n", 1, 0, "", "unexpected character" },
	{ "From: a@b.example]\n", 1, 0, "", "bracket" },
	{ "From: a@x.example\nFrom: garbage\n", 2, 0, "", "without a domain" },
	{ "X: y\n\tFrom: a@b.example\n", 0, 0, "", "no From: field" },
	{ "From: \"a\\\"b@evil.example\" <c@good.example>\n", 1, 1,
	  "good.example", NULL },
};

START_TEST(test_from_rows)
{
	const struct from_row *r = &from_rows[_i];
	struct dmarc_from f;

	hdr_from(r->hdr, strlen(r->hdr), &f);
	ck_assert_msg(f.nfields == r->nfields && f.ndomains == r->ndomains &&
	    strcmp(f.domain, r->domain) == 0, "row %d %s: nfields %d "
	    "ndomains %d domain '%s' problem '%s'", _i, r->hdr, f.nfields,
	    f.ndomains, f.domain, f.problem);
	if (r->problem == NULL)
		ck_assert_str_eq(f.problem, "");
	else
		ck_assert_msg(strstr(f.problem, r->problem) != NULL,
		    "row %d: problem '%s', want '%s'", _i, f.problem,
		    r->problem);
}
END_TEST

/* build - a header of n copies of fmt (which takes one int), framed. */
static char *
build(const char *head, const char *fmt, int n, const char *tail,
    size_t *len)
{
	size_t cap = strlen(head) + strlen(tail) + (size_t)n *
	    (strlen(fmt) + 16) + 1, off;
	char *b = malloc(cap);
	int i;

	ck_assert_ptr_nonnull(b);
	off = (size_t)snprintf(b, cap, "%s", head);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(b + off, cap - off, fmt, i);
	off += (size_t)snprintf(b + off, cap - off, "%s", tail);
	*len = off;
	return b;
}

START_TEST(test_from_hostile)
{
	struct dmarc_from f;
	char *b;
	size_t len;

	/* 10 000 addresses, one domain: one Author Domain */
	b = build("From: ", "u%d@example.com,\n ", 10000, "last@example.com\n",
	    &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 1);
	ck_assert_str_eq(f.domain, "example.com");
	free(b);
	/* 10 000 domains: counted up to DMARC_FROM_COUNT */
	b = build("From: ", "u@d%d.example, ", 10000, "x@example.com\n",
	    &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, DMARC_FROM_COUNT);
	ck_assert_str_eq(f.domain, "");
	free(b);
	/* a 200 000-octet display name, quoted and not */
	b = build("From: \"", "%d", 40000, "\" <a@example.com>\n", &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 1);
	ck_assert_str_eq(f.domain, "example.com");
	free(b);
	b = build("From: ", "w%d ", 30000, "<a@example.com>\n", &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 1);
	free(b);
	/* the same, its quote never closed */
	b = build("From: \"", "%d", 40000, " <a@example.com>\n", &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 0);
	ck_assert_ptr_nonnull(strstr(f.problem, "quote"));
	free(b);
	/* comments nested 50 000 deep, balanced and not */
	b = build("From: ", "(", 50000, "", &len);
	b = realloc(b, len + 50000 + 32);
	memset(b + len, ')', 50000);
	len += 50000;
	len += (size_t)sprintf(b + len, " a@example.com\n");
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 1);
	b[len - 30] = ' ';	/* one ')' fewer */
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 0);
	free(b);
	/* a label of 64 octets, a domain of more than 255 */
	b = build("From: a@", "%d", 1, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaa.example\n", &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 0);
	free(b);
	b = build("From: a@", "label%04d.", 30, "example\n", &len);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 0);
	ck_assert_ptr_nonnull(strstr(f.problem, "too long"));
	free(b);
	/* a header section past MSGHDR_MAX: no usable From: */
	b = build("From: a@example.com\n", "X-Pad-%06d: padding padding\n",
	    20000, "", &len);
	ck_assert_uint_gt(len, MSGHDR_MAX);
	hdr_from(b, len, &f);
	ck_assert_int_eq(f.ndomains, 0);
	ck_assert_msg(strstr(f.problem, "too large") != NULL, "%s", f.problem);
	free(b);
	/* no header at all */
	dmarc_from(NULL, &f);
	ck_assert_int_eq(f.nfields, 0);
	ck_assert_int_eq(f.ndomains, 0);
}
END_TEST

/* ---- records ----------------------------------------------------------- */

struct rec_row {
	const char *txt;
	size_t	 len;		/* 0: strlen */
	int	 rc;
	enum dmarc_policy p, sp;
	int	 adkim, aspf;
	unsigned pct;
	int	 implied;
};

#define PN DMARC_P_NONE
#define PQ DMARC_P_QUARANTINE
#define PR DMARC_P_REJECT
#define PU DMARC_P_UNSET

static const struct rec_row rec_rows[] = {
	{ "v=DMARC1; p=none", 0, 0, PN, PU, 0, 0, 100, 0 },
	{ "v=DMARC1;p=reject;sp=quarantine;adkim=s;aspf=s;pct=50", 0, 0, PR,
	  PQ, 1, 1, 50, 0 },
	{ "v=DMARC1 ; p = Reject ; ", 0, 0, PR, PU, 0, 0, 100, 0 },
	{ " v=DMARC1;\tp=QUARANTINE;\tADKIM=S", 0, 0, PQ, PU, 1, 0, 100, 0 },
	{ "v=DMARC1", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; rua=mailto:a@example.com", 0, 0, PN, PU, 0, 0, 100, 1 },
	{ "v=DMARC1; p=bogus; rua=mailto:a@example.com", 0, 0, PN, PU, 0, 0,
	  100, 1 },
	{ "v=DMARC1; p=bogus", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=reject; sp=bogus", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:x@y.example", 0, 0, PN,
	  PU, 0, 0, 100, 1 },
	{ "v=DMARC1; p=bogus; rua=bogus", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=reject; rua=bogus", 0, 0, PR, PU, 0, 0, 100, 0 },
	{ "v=DMARC1; p=bogus; rua=nope, mailto:x@y.example!10m", 0, 0, PN, PU,
	  0, 0, 100, 1 },
	{ "p=reject; v=DMARC1", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=dmarc1; p=none", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC10; p=none", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; pct=101", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; pct=0", 0, 0, PN, PU, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; pct=007", 0, 0, PN, PU, 0, 0, 7, 0 },
	{ "v=DMARC1; p=none; pct=1000", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; pct=", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; pct=-1", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; pct=5 0", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; adkim=x", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; aspf=relaxed", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; p=reject", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; v=DMARC1; p=none", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; foo=bar; x_y=1; foo=baz", 0, 0, PN, PU, 0, 0,
	  100, 0 },
	{ "v=DMARC1; p=none; =x", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; 1x=y", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; rua", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none;;; ;", 0, 0, PN, PU, 0, 0, 100, 0 },
	{ "v=DMARC1; p=quarantine; rua=mailto:d@rua.example!10m, mailto:x@y;"
	  " ruf=mailto:f@x; fo=1:d; rf=afrf; ri=86400", 0, 0, PQ, PU, 0, 0,
	  100, 0 },
	{ "v=DMARC1; p=none\0; sp=reject", 28, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; x=\xc3\xa9", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ ";;", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ ";v=DMARC1; p=reject", 0, -1, 0, 0, 0, 0, 0, 0 },
	{ "v=DMARC1; p=none; sp=reject; adkim=r; aspf=r", 0, 0, PN, PR, 0, 0,
	  100, 0 },
	{ "v=DMARC1; p=reject; x=a b  c", 0, 0, PR, PU, 0, 0, 100, 0 },
};

START_TEST(test_record_rows)
{
	const struct rec_row *r = &rec_rows[_i];
	struct dmarc_record rec;
	char why[80];
	size_t len = r->len != 0 ? r->len : strlen(r->txt);
	int rc;

	rc = dmarc_record_parse(r->txt, len, &rec, why, sizeof(why));
	ck_assert_msg(rc == r->rc, "row %d '%s': rc %d (%s)", _i, r->txt, rc,
	    why);
	if (rc < 0) {
		ck_assert_msg(why[0] != '\0', "row %d: no reason", _i);
		return;
	}
	ck_assert_msg(rec.p == r->p && rec.sp == r->sp &&
	    rec.adkim_strict == r->adkim && rec.aspf_strict == r->aspf &&
	    rec.pct == r->pct && rec.p_implied == r->implied,
	    "row %d '%s': p %d sp %d adkim %d aspf %d pct %u implied %d", _i,
	    r->txt, rec.p, rec.sp, rec.adkim_strict, rec.aspf_strict, rec.pct,
	    rec.p_implied);
}
END_TEST

static const struct {
	const char *txt;
	int	 want;
} is_rows[] = {
	{ "v=DMARC1", 1 }, { " v = DMARC1 ;p=none", 1 }, { "V=DMARC1;", 1 },
	{ "v=DMARC1p", 0 }, { "v=DMARC2; p=none", 0 }, { "v=spf1 -all", 0 },
	{ "p=none; v=DMARC1", 0 }, { "", 0 }, { "v=", 0 }, { "v", 0 },
	{ "v=DMARC1 x", 0 },
};

START_TEST(test_record_is_dmarc)
{
	ck_assert_msg(dmarc_record_is_dmarc(is_rows[_i].txt,
	    strlen(is_rows[_i].txt)) == is_rows[_i].want, "row %d '%s'", _i,
	    is_rows[_i].txt);
}
END_TEST

/* ---- organisational domains --------------------------------------------- */

static const struct {
	const char *in;
	int	 rc;
	const char *want;
} org_rows[] = {
	{ "example.co.uk", 0, "example.co.uk" },
	{ "mail.example.co.uk", 0, "example.co.uk" },
	{ "a.b.example.com", 0, "example.com" },
	{ "Example.COM", 0, "example.com" },
	{ "example.com", 0, "example.com" },
	{ "co.uk", -1, "" },
	{ "com", -1, "" },
	{ "foo.xn--55qx5d.cn", 0, "foo.xn--55qx5d.cn" },
	{ "a.foo.\xe5\x85\xac\xe5\x8f\xb8.cn", 0, "foo.xn--55qx5d.cn" },
	{ "xn--55qx5d.cn", -1, "" },
	{ "\xe5\x85\xac\xe5\x8f\xb8.cn", -1, "" },
	{ "b\xc3\xbc" "cher.example", 0, "xn--bcher-kva.example" },
	{ "x.y.blogspot.com", 0, "y.blogspot.com" },
	{ "x.www.ck", 0, "www.ck" },
	{ "a.b.ck", 0, "a.b.ck" },
	{ "localhost", -1, "" },
	{ "", -1, "" },
	{ "a..example.com", -1, "" },
	{ "exa_mple.com", -1, "" },
	{ "reject.test", 0, "reject.test" },
	{ "a.b.c.reject.test", 0, "reject.test" },
};

START_TEST(test_org_rows)
{
	char out[SMTP_DOMAIN_MAX + 1];
	int rc;

	rc = dmarc_org_domain(org_rows[_i].in, out, sizeof(out));
	ck_assert_msg(rc == org_rows[_i].rc && strcmp(out,
	    org_rows[_i].want) == 0, "row %d '%s': %d '%s'", _i,
	    org_rows[_i].in, rc, out);
}
END_TEST

START_TEST(test_org_builtin_and_small)
{
	char out[SMTP_DOMAIN_MAX + 1], tiny[8];

	/* without dmarc_init's file: libpsl's built-in list, same answers */
	dmarc_shutdown();
	ck_assert_int_eq(dmarc_org_domain("a.example.co.uk", out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "example.co.uk");
	ck_assert_int_eq(dmarc_org_domain("co.uk", out, sizeof(out)), -1);
	/* an output buffer too small is an error, not a cut name */
	ck_assert_int_eq(dmarc_org_domain("example.com", tiny, sizeof(tiny)),
	    -1);
}
END_TEST

/* ---- decisions ---------------------------------------------------------- */

struct decide_row {
	const char *rec;	/* the record text */
	int	 at_org;
	const char *from;
	enum spf_result spf;
	enum spf_identity ident;
	const char *spf_domain;
	enum dkim_result k1;	/* DKIM_NONE: no signature */
	const char *d1;
	enum dkim_result k2;
	const char *d2;
	unsigned draw;
	enum dmarc_result want;
	enum dmarc_policy policy, disposition;
	int	 spf_al, dkim_al;
	const char *dkim_domain;
};

#define RP "v=DMARC1; p=reject"
#define MF SPF_ID_MAILFROM
#define DN DKIM_NONE
#define DP DKIM_PASS
#define DF DKIM_FAIL
#define DPASS DMARC_PASS
#define DFAIL DMARC_FAIL

static const struct decide_row decide_rows[] = {
	/* 0: SPF pass, same domain */
	{ RP, 0, "example.com", SPF_PASS, MF, "example.com", DN, "", DN, "",
	  0, DPASS, PR, PN, 1, 0, "" },
	/* relaxed SPF: a subdomain of the same organisation */
	{ RP, 0, "example.com", SPF_PASS, MF, "bounce.example.com", DN, "",
	  DN, "", 0, DPASS, PR, PN, 1, 0, "" },
	/* strict SPF: the subdomain does not align */
	{ RP "; aspf=s", 0, "example.com", SPF_PASS, MF, "bounce.example.com",
	  DN, "", DN, "", 0, DFAIL, PR, PR, 0, 0, "" },
	/* SPF pass of the HELO identity never counts (§4.2) */
	{ RP, 0, "example.com", SPF_PASS, SPF_ID_HELO, "example.com", DN, "",
	  DN, "", 0, DFAIL, PR, PR, 0, 0, "" },
	/* SPF softfail/neutral is no pass */
	{ RP, 0, "example.com", SPF_SOFTFAIL, MF, "example.com", DN, "", DN,
	  "", 0, DFAIL, PR, PR, 0, 0, "" },
	/* 5: DKIM pass, same domain */
	{ RP, 0, "example.com", SPF_NONE, MF, "", DP, "example.com", DN, "",
	  0, DPASS, PR, PN, 0, 1, "example.com" },
	/* a failing aligned signature and a passing foreign one */
	{ RP, 0, "example.com", SPF_FAIL, MF, "example.com", DF, "example.com",
	  DP, "other.example", 0, DFAIL, PR, PR, 0, 0, "" },
	/* the second signature aligns */
	{ RP, 0, "example.com", SPF_NONE, MF, "", DP, "esp.example", DP,
	  "mail.example.com", 0, DPASS, PR, PN, 0, 1, "mail.example.com" },
	/* strict DKIM: a subdomain does not align */
	{ RP "; adkim=s", 0, "example.com", SPF_NONE, MF, "", DP,
	  "mail.example.com", DN, "", 0, DFAIL, PR, PR, 0, 0, "" },
	/* both align */
	{ RP, 0, "example.com", SPF_PASS, MF, "example.com", DP, "example.com",
	  DN, "", 0, DPASS, PR, PN, 1, 1, "example.com" },
	/* 10: under a public suffix: different organisations */
	{ RP, 0, "example.co.uk", SPF_PASS, MF, "example2.co.uk", DP,
	  "evil.co.uk", DN, "", 0, DFAIL, PR, PR, 0, 0, "" },
	{ RP, 0, "a.example.co.uk", SPF_PASS, MF, "b.example.co.uk", DN, "",
	  DN, "", 0, DPASS, PR, PN, 1, 0, "" },
	/* a signature by the public suffix itself aligns with nothing */
	{ RP, 0, "example.co.uk", SPF_NONE, MF, "", DP, "co.uk", DN, "", 0,
	  DFAIL, PR, PR, 0, 0, "" },
	/* sp= for a subdomain whose record is the organisation's */
	{ RP "; sp=none", 1, "sub.example.com", SPF_NONE, MF, "", DN, "", DN,
	  "", 0, DFAIL, PN, PN, 0, 0, "" },
	/* sp= does not apply to the record's own domain */
	{ RP "; sp=none", 0, "example.com", SPF_NONE, MF, "", DN, "", DN, "",
	  0, DFAIL, PR, PR, 0, 0, "" },
	/* 15: no sp=: p= for subdomains too */
	{ "v=DMARC1; p=quarantine", 1, "sub.example.com", SPF_NONE, MF, "",
	  DN, "", DN, "", 0, DFAIL, PQ, PQ, 0, 0, "" },
	/* pct=50: draws 0..49 sampled, 50..99 one policy lower */
	{ RP "; pct=50", 0, "example.com", SPF_NONE, MF, "", DN, "", DN, "",
	  49, DFAIL, PR, PR, 0, 0, "" },
	{ RP "; pct=50", 0, "example.com", SPF_NONE, MF, "", DN, "", DN, "",
	  50, DFAIL, PR, PQ, 0, 0, "" },
	{ RP "; pct=0", 0, "example.com", SPF_NONE, MF, "", DN, "", DN, "",
	  0, DFAIL, PR, PQ, 0, 0, "" },
	{ "v=DMARC1; p=quarantine; pct=0", 0, "example.com", SPF_NONE, MF, "",
	  DN, "", DN, "", 0, DFAIL, PQ, PN, 0, 0, "" },
	/* 20 */
	{ RP "; pct=100", 0, "example.com", SPF_NONE, MF, "", DN, "", DN, "",
	  99, DFAIL, PR, PR, 0, 0, "" },
	{ RP "; pct=1", 0, "example.com", SPF_NONE, MF, "", DN, "", DN, "",
	  1, DFAIL, PR, PQ, 0, 0, "" },
	{ "v=DMARC1; p=none", 0, "example.com", SPF_NONE, MF, "", DN, "", DN,
	  "", 0, DFAIL, PN, PN, 0, 0, "" },
	/* a pass is never refused, whatever pct= */
	{ RP "; pct=0", 0, "example.com", SPF_PASS, MF, "example.com", DN, "",
	  DN, "", 99, DPASS, PR, PN, 1, 0, "" },
	/* U-label d= (should be A-labels, RFC 6376 §3.5) still compared as
	 * A-labels */
	{ RP, 0, "xn--bcher-kva.example", SPF_NONE, MF, "", DP,
	  "B\xc3\x9c" "CHER.example", DN, "", 0, DPASS, PR, PN, 0, 1,
	  "B\xc3\x9c" "CHER.example" },
	/* 25: case and a trailing dot do not matter */
	{ RP "; aspf=s", 0, "example.com", SPF_PASS, MF, "EXAMPLE.com.", DN,
	  "", DN, "", 0, DPASS, PR, PN, 1, 0, "" },
	/* a look-alike is not a subdomain */
	{ RP, 0, "example.com", SPF_PASS, MF, "notexample.com", DP,
	  "example.com.evil.example", DN, "", 0, DFAIL, PR, PR, 0, 0, "" },
};

START_TEST(test_decide_rows)
{
	const struct decide_row *r = &decide_rows[_i];
	struct dmarc_record rec;
	struct dmarc_outcome out;
	struct spf_outcome spf;
	struct dkim_outcome dkim;
	char why[80];

	ck_assert_int_eq(dmarc_record_parse(r->rec, strlen(r->rec), &rec,
	    why, sizeof(why)), 0);
	memset(&out, 0, sizeof(out));
	strlcpy_compat(out.from_domain, r->from, sizeof(out.from_domain));
	memset(&spf, 0, sizeof(spf));
	spf.result = r->spf;
	spf.identity = r->ident;
	strlcpy_compat(spf.domain, r->spf_domain, sizeof(spf.domain));
	memset(&dkim, 0, sizeof(dkim));
	if (r->k1 != DN) {
		dkim.sig[dkim.nsig].result = r->k1;
		strlcpy_compat(dkim.sig[dkim.nsig++].domain, r->d1,
		    sizeof(dkim.sig[0].domain));
	}
	if (r->k2 != DN) {
		dkim.sig[dkim.nsig].result = r->k2;
		strlcpy_compat(dkim.sig[dkim.nsig++].domain, r->d2,
		    sizeof(dkim.sig[0].domain));
	}
	dmarc_decide(&out, &rec, r->at_org, &spf, &dkim, r->draw);
	ck_assert_msg(out.result == r->want && out.policy == r->policy &&
	    out.disposition == r->disposition &&
	    out.spf_aligned == r->spf_al && out.dkim_aligned == r->dkim_al &&
	    strcmp(out.dkim_domain, r->dkim_domain) == 0,
	    "row %d: result %s policy %s disposition %s spf %d dkim %d (%s)",
	    _i, dmarc_result_text(out.result), dmarc_policy_text(out.policy),
	    dmarc_policy_text(out.disposition), out.spf_aligned,
	    out.dkim_aligned, out.dkim_domain);
}
END_TEST

START_TEST(test_decide_null_and_names)
{
	struct dmarc_record rec;
	struct dmarc_outcome out;
	char why[80];

	ck_assert_int_eq(dmarc_record_parse(RP, strlen(RP), &rec, why,
	    sizeof(why)), 0);
	memset(&out, 0, sizeof(out));
	strlcpy_compat(out.from_domain, "example.com",
	    sizeof(out.from_domain));
	dmarc_decide(&out, &rec, 0, NULL, NULL, 0);
	ck_assert_int_eq(out.result, DMARC_FAIL);
	ck_assert_int_eq(out.disposition, DMARC_P_REJECT);
	ck_assert_int_eq(dmarc_lower(DMARC_P_REJECT), DMARC_P_QUARANTINE);
	ck_assert_int_eq(dmarc_lower(DMARC_P_QUARANTINE), DMARC_P_NONE);
	ck_assert_int_eq(dmarc_lower(DMARC_P_NONE), DMARC_P_NONE);
	ck_assert_int_eq(dmarc_lower(DMARC_P_UNSET), DMARC_P_UNSET);
	ck_assert_str_eq(dmarc_result_text(DMARC_TEMPERROR), "temperror");
	ck_assert_str_eq(dmarc_result_text(DMARC_RESULT_LAST), "?");
	ck_assert_str_eq(dmarc_policy_text(DMARC_P_QUARANTINE), "quarantine");
	ck_assert_str_eq(dmarc_policy_text(DMARC_P_LAST), "?");
	ck_assert_int_eq(dmarc_aligned("example.com", "", 0), 0);
	ck_assert_int_eq(dmarc_aligned("", "", 0), 0);
	ck_assert_int_eq(dmarc_aligned(NULL, "example.com", 0), 0);
}
END_TEST

/* ---- the asynchronous check (DMARC_DNS_TEST=1) ------------------------ */

static struct conf dns_conf;
static char *dns_words[1] = { "127.0.0.1" };

struct waiter {
	int	 done;
	struct dmarc_outcome out;
};

static int in_start;

static void
done_cb(void *arg, const struct dmarc_outcome *o)
{
	struct waiter *w = arg;

	ck_assert_int_eq(in_start, 0);
	w->done++;
	w->out = *o;
}

static void
dns_setup(void)
{
	setup();
	memset(&dns_conf, 0, sizeof(dns_conf));
	dns_conf.resolver = dns_words;
	dns_conf.nresolver = 1;
	resolver_set_timeout(5);
	ck_assert_int_eq(resolver_init(base, &dns_conf), 0);
}

static void
dns_teardown(void)
{
	resolver_shutdown();
	teardown();
}

/* run - one check for a From: header (text) with the given SPF pass
 * domain ("" none) and DKIM pass domain ("" none). */
static void
run(const char *hdr, const char *spf_pass, const char *dkim_pass,
    unsigned timeout, struct waiter *w)
{
	struct dmarc_from f;
	struct spf_outcome spf;
	struct dkim_outcome dkim;
	time_t t0 = time(NULL);

	hdr_from(hdr, strlen(hdr), &f);
	memset(&spf, 0, sizeof(spf));
	spf.result = spf_pass[0] != '\0' ? SPF_PASS : SPF_NONE;
	spf.identity = SPF_ID_MAILFROM;
	strlcpy_compat(spf.domain, spf_pass, sizeof(spf.domain));
	memset(&dkim, 0, sizeof(dkim));
	if (dkim_pass[0] != '\0') {
		dkim.nsig = 1;
		dkim.sig[0].result = DKIM_PASS;
		strlcpy_compat(dkim.sig[0].domain, dkim_pass,
		    sizeof(dkim.sig[0].domain));
	}
	memset(w, 0, sizeof(*w));
	in_start = 1;
	ck_assert_ptr_nonnull(dmarc_check_start(&f, &spf, &dkim, timeout,
	    done_cb, w));
	in_start = 0;
	ck_assert_int_eq(w->done, 0);
	while (!w->done && time(NULL) - t0 < 20)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(w->done, 1);
}

struct dns_row {
	const char *hdr;
	const char *spf, *dkim;
	enum dmarc_result want;
	enum dmarc_policy policy, disposition;
	const char *org, *record;
	const char *problem;	/* substring, or NULL: "" */
};

#define DT DMARC_TEMPERROR
#define DE DMARC_PERMERROR
#define D0 DMARC_NONE
#define LONG63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct dns_row dns_rows[] = {
	/* 0 */
	{ "From: a@reject.test\n", "reject.test", "", DPASS, PR, PN,
	  "reject.test", "reject.test", NULL },
	{ "From: a@reject.test\n", "", "", DFAIL, PR, PR, "reject.test",
	  "reject.test", NULL },
	{ "From: a@reject.test\n", "evil.test", "evil.test", DFAIL, PR, PR,
	  "reject.test", "reject.test", NULL },
	{ "From: a@reject.test\n", "", "mail.reject.test", DPASS, PR, PN,
	  "reject.test", "reject.test", NULL },
	/* strict alignment */
	{ "From: a@quar.test\n", "bounce.quar.test", "mail.quar.test", DFAIL,
	  PQ, PQ, "quar.test", "quar.test", NULL },
	/* 5: the organisational domain's record, sp= for the subdomain */
	{ "From: a@a.b.sp.test\n", "", "", DFAIL, PQ, PQ, "sp.test", "sp.test",
	  NULL },
	{ "From: a@sp.test\n", "", "", DFAIL, PR, PR, "sp.test", "sp.test",
	  NULL },
	{ "From: a@own.sp.test\n", "", "", DFAIL, PN, PN, "sp.test",
	  "own.sp.test", NULL },
	/* only non-DMARC TXT records at the From domain: fall back */
	{ "From: a@x.fb.test\n", "", "", DFAIL, PQ, PQ, "fb.test", "fb.test",
	  NULL },
	/* NODATA at _dmarc.<from> = org: none */
	{ "From: a@nodata.test\n", "", "", D0, PU, PN, "nodata.test", "",
	  "no DMARC record" },
	/* 10 */
	{ "From: a@none.test\n", "none.test", "", D0, PU, PN, "none.test", "",
	  "no DMARC record" },
	{ "From: a@multi.test\n", "", "", D0, PU, PN, "multi.test",
	  "multi.test", "several DMARC records" },
	{ "From: a@bad.test\n", "", "", DE, PU, PN, "bad.test", "bad.test",
	  "pct" },
	{ "From: a@rua.test\n", "", "", DFAIL, PN, PN, "rua.test", "rua.test",
	  "p=none" },
	{ "From: a@servfail.test\n", "", "", DT, PU, PN, "servfail.test", "",
	  "no DNS answer" },
	/* 15: a DNS failure at the From domain: no fallback */
	{ "From: a@sub.tf.test\n", "", "", DT, PU, PN, "tf.test", "", "no DNS "
	  "answer for TXT _dmarc.sub.tf.test" },
	{ "From: a@tc.test\n", "", "", DT, PU, PN, "tc.test", "", "truncated" },
	{ "From: a@split.test\n", "", "", DFAIL, PR, PR, "split.test",
	  "split.test", NULL },
	{ "From: a@b\xc3\xbc" "cher.test\n", "", "", DFAIL, PR, PR,
	  "xn--bcher-kva.test", "xn--bcher-kva.test", NULL },
	{ "From: a@big.test\n", "", "", DFAIL, PR, PR, "big.test", "big.test",
	  NULL },
	/* 20: _dmarc.<from> too long for DNS: straight to the org domain */
	{ "From: a@" LONG63 "." LONG63 "." LONG63 ".ddddddddddddddddddddddd"
	  "ddddddddddddddddddddddd.long.test\n", "", "", DFAIL, PN, PN,
	  "long.test", "long.test", NULL },
	/* the From: rules, decided before any lookup */
	{ "Subject: x\n", "", "", D0, PU, PN, "", "", "no From: field" },
	{ "From: a@reject.test\nFrom: b@reject.test\n", "", "", DE, PU, PN, "",
	  "", "several From: fields" },
	{ "From: a@reject.test, b@none.test\n", "", "", DE, PU, PN, "", "",
	  "several domains" },
	{ "From: a@reject.test (\n", "", "", DE, PU, PN, "", "",
	  "unbalanced comment" },
	/* 25 */
	{ "From: a@com\n", "", "", D0, PU, PN, "com", "", "no DMARC record" },
};

START_TEST(test_dns_rows)
{
	const struct dns_row *r = &dns_rows[_i];
	struct waiter w;

	run(r->hdr, r->spf, r->dkim, 10, &w);
	ck_assert_msg(w.out.result == r->want && w.out.policy == r->policy &&
	    w.out.disposition == r->disposition &&
	    strcmp(w.out.org_domain, r->org) == 0 &&
	    strcmp(w.out.record_domain, r->record) == 0,
	    "row %d: %s policy %s disposition %s org '%s' record '%s' "
	    "problem '%s'", _i, dmarc_result_text(w.out.result),
	    dmarc_policy_text(w.out.policy),
	    dmarc_policy_text(w.out.disposition), w.out.org_domain,
	    w.out.record_domain, w.out.problem);
	if (r->problem == NULL)
		ck_assert_str_eq(w.out.problem, "");
	else
		ck_assert_msg(strstr(w.out.problem, r->problem) != NULL,
		    "row %d: problem '%s', want '%s'", _i, w.out.problem,
		    r->problem);
	ck_assert(w.out.duration >= 0 && w.out.duration < 5);
}
END_TEST

START_TEST(test_dns_timeout)
{
	struct waiter w;

	/* the server never answers; the check's own bound (1 s) ends it
	 * long before the resolver's 5 s */
	run("From: a@slow.test\n", "", "", 1, &w);
	ck_assert_int_eq(w.out.result, DMARC_TEMPERROR);
	ck_assert_ptr_nonnull(strstr(w.out.problem, "timed out after 1 s"));
	ck_assert(w.out.duration >= 0.9 && w.out.duration < 2.5);
}
END_TEST

START_TEST(test_dns_cancel)
{
	struct dmarc_from f;
	struct waiter w1, w2;
	struct dmarc_check *c1, *c2;
	time_t t0 = time(NULL);

	memset(&w1, 0, sizeof(w1));
	memset(&w2, 0, sizeof(w2));
	hdr_from("From: a@slow.test\n", 18, &f);
	/* cancelled before its first lookup, and during it */
	c1 = dmarc_check_start(&f, NULL, NULL, 2, done_cb, &w1);
	dmarc_check_cancel(c1);
	c2 = dmarc_check_start(&f, NULL, NULL, 2, done_cb, &w2);
	event_base_loop(base, EVLOOP_NONBLOCK);
	dmarc_check_cancel(c2);
	/* a check decided without DNS, cancelled before its callback */
	hdr_from("Subject: x\n", 11, &f);
	c1 = dmarc_check_start(&f, NULL, NULL, 2, done_cb, &w1);
	dmarc_check_cancel(c1);
	dmarc_check_cancel(NULL);
	while (time(NULL) - t0 < 3)
		event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(w1.done, 0);
	ck_assert_int_eq(w2.done, 0);
}
END_TEST

/* pct=50 over 200 failing messages: the PRNG applies the policy to about
 * half (the bounds are 5.6 standard deviations wide: a false alarm once
 * in 50 million runs). */
START_TEST(test_dns_pct_sampling)
{
	struct waiter w;
	int i, rej = 0, quar = 0;

	for (i = 0; i < 200; i++) {
		run("From: a@pct.test\n", "", "", 10, &w);
		ck_assert_int_eq(w.out.result, DMARC_FAIL);
		ck_assert_int_eq(w.out.policy, DMARC_P_REJECT);
		if (w.out.disposition == DMARC_P_REJECT)
			rej++;
		else if (w.out.disposition == DMARC_P_QUARANTINE)
			quar++;
	}
	ck_assert_int_eq(rej + quar, 200);
	ck_assert_msg(rej >= 60 && rej <= 140, "reject %d of 200", rej);
}
END_TEST

/* Many checks at once on one loop, all ending. */
START_TEST(test_dns_many)
{
	static struct waiter w[64];
	struct dmarc_from f;
	time_t t0 = time(NULL);
	int i, done;

	hdr_from("From: a@a.b.sp.test\n", 20, &f);
	for (i = 0; i < 64; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		dmarc_check_start(&f, NULL, NULL, 10, done_cb, &w[i]);
	}
	do {
		event_base_loop(base, EVLOOP_ONCE);
		for (done = 0, i = 0; i < 64; i++)
			done += w[i].done;
	} while (done < 64 && time(NULL) - t0 < 15);
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(w[i].done, 1);
		ck_assert_int_eq(w[i].out.result, DMARC_FAIL);
		ck_assert_int_eq(w[i].out.policy, DMARC_P_QUARANTINE);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dmarc");
	TCase *tc = tcase_create("pure"), *td;
	SRunner *sr;
	int nfail;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_from_rows, 0,
	    sizeof(from_rows) / sizeof(from_rows[0]));
	tcase_add_test(tc, test_from_hostile);
	tcase_add_loop_test(tc, test_record_rows, 0,
	    sizeof(rec_rows) / sizeof(rec_rows[0]));
	tcase_add_loop_test(tc, test_record_is_dmarc, 0,
	    sizeof(is_rows) / sizeof(is_rows[0]));
	tcase_add_loop_test(tc, test_org_rows, 0,
	    sizeof(org_rows) / sizeof(org_rows[0]));
	tcase_add_test(tc, test_org_builtin_and_small);
	tcase_add_loop_test(tc, test_decide_rows, 0,
	    sizeof(decide_rows) / sizeof(decide_rows[0]));
	tcase_add_test(tc, test_decide_null_and_names);
	suite_add_tcase(s, tc);
	if (getenv("DMARC_DNS_TEST") != NULL) {
		td = tcase_create("dns");
		tcase_add_checked_fixture(td, dns_setup, dns_teardown);
		tcase_set_timeout(td, 60);
		tcase_add_loop_test(td, test_dns_rows, 0,
		    sizeof(dns_rows) / sizeof(dns_rows[0]));
		tcase_add_test(td, test_dns_timeout);
		tcase_add_test(td, test_dns_cancel);
		tcase_add_test(td, test_dns_pct_sampling);
		tcase_add_test(td, test_dns_many);
		suite_add_tcase(s, td);
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? 0 : 1;
}
