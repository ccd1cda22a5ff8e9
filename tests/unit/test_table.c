/* test_table.c - unit tests of table.c: loading the recipients file (every
 * error with FILE:LINE) and looking addresses up, as {input, want} rows.
 *
 *	main - run every row under Check, exit 1 on any failure
 */
#define _GNU_SOURCE		/* asprintf, open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "conf.h"
#include "table.h"
#include "xmalloc.h"

#define ROOT	"/var/mail/strictmx"

#define A8	"aaaaaaaa"
#define A65	A8 A8 A8 A8 A8 A8 A8 A8 "a"

/* The two postmaster lines every valid file needs (lines 1 and 2). */
#define PM	"postmaster@example.com pm\npostmaster@example.org pm\n"

static char tdir[] = "/tmp/test_table.XXXXXX";

/* test_conf - a struct conf built by hand: conf.c is not linked here */
static struct conf *
test_conf(const char *file, const char *delim)
{
	struct conf *c = xcalloc(1, sizeof(*c));

	c->ndomains = 2;
	c->domains = xcalloc(2, sizeof(char *));
	c->domains[0] = xstrdup("example.com");
	c->domains[1] = xstrdup("example.org");
	c->recipients = xstrdup(file);
	c->recipient_delimiter = xstrdup(delim);
	c->maildir_root = xstrdup(ROOT);
	return c;
}

static void
test_conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	free(c->recipients);
	free(c->recipient_delimiter);
	free(c->maildir_root);
	free(c);
}

/* test_write - write len bytes (strlen when 0) to a fresh file; its path */
static char *
test_write(const char *name, const char *content, size_t len)
{
	char *path;
	FILE *fp;

	if (asprintf(&path, "%s/%s", tdir, name) < 0)
		abort();
	/* Plain checks, not ck_assert: main() calls this outside a test. */
	if (len == 0)
		len = strlen(content);
	if ((fp = fopen(path, "w")) == NULL ||
	    fwrite(content, 1, len, fp) != len || fclose(fp) != 0) {
		perror(path);
		abort();
	}
	return path;
}

/* test_subst - want with each "$F" replaced by file */
static char *
test_subst(const char *want, const char *file)
{
	size_t n = 1, flen = strlen(file);
	const char *p;
	char *out, *o;

	for (p = want; *p != '\0'; p++)
		n += flen;
	o = out = xmalloc(n + strlen(want));
	for (p = want; *p != '\0'; p++) {
		if (p[0] == '$' && p[1] == 'F') {
			memcpy(o, file, flen);
			o += flen;
			p++;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* test_load - load file content under conf; errors into *errs */
static struct table *
test_load(struct conf *c, char **errs)
{
	size_t elen;
	FILE *ef;
	struct table *t;

	ck_assert_ptr_nonnull(ef = open_memstream(errs, &elen));
	t = table_load(c, ef);
	fclose(ef);
	return t;
}

struct load_row {
	const char	*content;	/* NULL: the file does not exist */
	size_t		 len;		/* 0: strlen(content) */
	size_t		 want_count;	/* 0: load must fail */
	const char	*want_errs;	/* "$F" stands for the file name */
};

static const struct load_row load_rows[] = {
	{ PM, 0, 2, "" },
	{ "# only\n\n  \t\n" PM "# end", 0, 2, "" },
	{ "postmaster@example.com pm\n@example.org all\n", 0, 2, "" },
	{ "POSTMASTER@EXAMPLE.COM pm\r\n@Example.Org all\r\n", 0, 2, "" },
	{ PM "a#b@example.com hash # comment\n", 0, 3, "" },
	{ PM "alice@example.com a/..b/./c\n", 0, 3, "" },
	{ NULL, 0, 0, "$F: cannot open: No such file or directory\n" },
	{ "", 0, 0,
	    "$F: no entry for postmaster@example.com (RFC 5321 section 4.5.1 "
	    "requires one)\n"
	    "$F: no entry for postmaster@example.org (RFC 5321 section 4.5.1 "
	    "requires one)\n" },
	{ "postmaster@example.com pm\nalice@example.org a\n", 0, 0,
	    "$F: no entry for postmaster@example.org (RFC 5321 section 4.5.1 "
	    "requires one)\n" },
	{ PM "alice@@example.com a\n", 0, 0,
	    "$F:3: invalid address \"alice@@example.com\": malformed address\n" },
	{ PM "alice a\n", 0, 0,
	    "$F:3: invalid address \"alice\": malformed address\n" },
	{ PM "a..b@example.com a\n", 0, 0,
	    "$F:3: invalid address \"a..b@example.com\": malformed address\n" },
	{ PM "alice@example.com> a\n", 0, 0,
	    "$F:3: invalid address \"alice@example.com>\": "
	    "syntax error in path (expected <address>)\n" },
	{ PM "@-bad.example a\n", 0, 0,
	    "$F:3: invalid address \"@-bad.example\": invalid domain\n" },
	{ PM "a@[192.0.2.1] a\n", 0, 0,
	    "$F:3: invalid address \"a@[192.0.2.1]\": an address literal "
	    "cannot be a local domain\n" },
	{ PM "alice@example.net a\n", 0, 0,
	    "$F:3: domain of \"alice@example.net\" is not one of domains\n" },
	{ PM "@example.net a\n", 0, 0,
	    "$F:3: domain of \"@example.net\" is not one of domains\n" },
	{ PM "alice@example.com\n", 0, 0,
	    "$F:3: empty maildir for \"alice@example.com\"\n" },
	{ PM "alice@example.com   # no maildir\n", 0, 0,
	    "$F:3: empty maildir for \"alice@example.com\"\n" },
	{ PM "alice@example.com ../etc\n", 0, 0,
	    "$F:3: maildir of \"alice@example.com\" contains a \"..\" "
	    "component\n" },
	{ PM "alice@example.com a/../../b\n", 0, 0,
	    "$F:3: maildir of \"alice@example.com\" contains a \"..\" "
	    "component\n" },
	{ PM "alice@example.com /srv/mail/..\n", 0, 0,
	    "$F:3: maildir of \"alice@example.com\" contains a \"..\" "
	    "component\n" },
	{ PM "alice@example.com a\001b\n", 0, 0,
	    "$F:3: maildir of \"alice@example.com\" contains a control "
	    "character\n" },
	{ PM "alice@example.com a b\n", 0, 0,
	    "$F:3: extra field \"b\" after the maildir\n" },
	{ PM "alice@example.com a\nALICE@example.com b\n", 0, 0,
	    "$F:4: duplicate address \"ALICE@example.com\" (first at line 3)\n" },
	{ PM "alice@example.com a\n\"alice\"@example.com b\n", 0, 0,
	    "$F:4: duplicate address \"\\x22alice\\x22@example.com\" "
	    "(first at line 3)\n" },
	{ PM "@example.org a\n@EXAMPLE.org b\n", 0, 0,
	    "$F:4: duplicate address \"@EXAMPLE.org\" (first at line 3)\n" },
	{ PM "alice@example.com a\0b\n", sizeof(PM "alice@example.com a\0b\n")
	    - 1, 0, "$F:3: NUL byte in line\n" },
	/* several errors: all reported, in order, then postmaster */
	{ "postmaster@example.com pm\nx@example.net a\n\nbob@example.com\n"
	    "bob@example.com a b\n", 0, 0,
	    "$F:2: domain of \"x@example.net\" is not one of domains\n"
	    "$F:4: empty maildir for \"bob@example.com\"\n"
	    "$F:5: extra field \"b\" after the maildir\n"
	    "$F: no entry for postmaster@example.org (RFC 5321 section 4.5.1 "
	    "requires one)\n" },
};

START_TEST(test_table_load)
{
	const struct load_row *r = &load_rows[_i];
	char name[32], *path, *errs = NULL, *want;
	struct conf *c;
	struct table *t;

	snprintf(name, sizeof(name), "load%d", _i);
	if (r->content != NULL)
		path = test_write(name, r->content, r->len);
	else if (asprintf(&path, "%s/%s", tdir, name) < 0)
		abort();
	c = test_conf(path, "+");
	t = test_load(c, &errs);
	want = test_subst(r->want_errs, path);
	ck_assert_msg(strcmp(errs, want) == 0, "row %d: errors\n%s\nwant\n%s",
	    _i, errs, want);
	if (r->want_count == 0)
		ck_assert_ptr_null(t);
	else {
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(table_count(t), r->want_count);
	}
	table_free(t);
	test_conf_free(c);
	free(want);
	free(errs);
	free(path);
}
END_TEST

/* A long line is reported, not parsed. */
START_TEST(test_table_long_line)
{
	char *content, *path, *errs = NULL, *want;
	struct conf *c;
	size_t n = 5000;

	content = xmalloc(sizeof(PM) + n + 2);
	memcpy(content, PM, sizeof(PM) - 1);
	memset(content + sizeof(PM) - 1, 'a', n);
	memcpy(content + sizeof(PM) - 1 + n, "\n", 2);
	path = test_write("long", content, 0);
	c = test_conf(path, "+");
	ck_assert_ptr_null(test_load(c, &errs));
	want = test_subst("$F:3: line too long (over 4096 bytes)\n", path);
	ck_assert_str_eq(errs, want);
	test_conf_free(c);
	free(want);
	free(errs);
	free(path);
	free(content);
}
END_TEST

static char *lookup_path;		/* written by main() */

static const char lookup_file[] =
    "# the test table\n"
    "postmaster@example.com   admin\n"
    "Alice@Example.com  alice      # trailing comment\n"
    "bob@example.com\t/srv/mail/bob\n"
    "a#b@example.com    hash\n"
    "\"x\\\"y\"@example.com quoted\n"
    "carol+special@example.com carol-special\n"
    "carol@example.com carol/\n"
    "dave@example.com ./dave/Maildir/\n"
    "@example.org       catchall\n";

struct lookup_row {
	const char	*local;
	const char	*domain;
	const char	*delim;
	const char	*want;		/* NULL: not found */
};

static const struct lookup_row lookup_rows[] = {
	{ "alice", "example.com", "+", ROOT "/alice" },
	{ "ALICE", "EXAMPLE.COM", "+", ROOT "/alice" },
	{ "alice+tag", "example.com", "+", ROOT "/alice" },
	{ "alice+tag+more", "example.com", "+", ROOT "/alice" },
	{ "Alice+Tag", "example.com", "+", ROOT "/alice" },
	{ "alice-tag", "example.com", "+", NULL },
	{ "alice-tag", "example.com", "+-", ROOT "/alice" },
	{ "alice+tag", "example.com", "", NULL },
	{ "alice", "example.com", "", ROOT "/alice" },
	{ "+tag", "example.com", "+", NULL },
	{ "carol+special", "example.com", "+", ROOT "/carol-special" },
	{ "carol+other", "example.com", "+", ROOT "/carol/" },
	{ "dave", "example.com", "+", ROOT "/./dave/Maildir/" },
	{ "bob", "example.com", "+", "/srv/mail/bob" },
	{ "a#b", "example.com", "+", ROOT "/hash" },
	{ "x\"y", "example.com", "+", ROOT "/quoted" },
	{ "nobody", "example.com", "+", NULL },
	{ "", "example.com", "+", NULL },
	{ "anyone", "example.org", "+", ROOT "/catchall" },
	{ "any+one", "example.org", "+", ROOT "/catchall" },
	{ "postmaster", "example.org", "+", ROOT "/catchall" },
	{ "postmaster", "example.com", "+", ROOT "/admin" },
	{ "PostMaster", "Example.COM", "+", ROOT "/admin" },
	{ "postmaster", "", "+", ROOT "/admin" },
	{ "POSTMASTER", "", "+", ROOT "/admin" },
	{ "alice", "", "+", NULL },
	{ "alice", "example.net", "+", NULL },
	{ "alice", "[192.0.2.1]", "+", NULL },
	{ "../../etc/passwd", "example.com", "+", NULL },
	{ "../../etc/passwd", "example.org", "+", ROOT "/catchall" },
	{ A65, "example.org", "+", NULL },	/* over 64: not an address */
};

START_TEST(test_table_lookup)
{
	const struct lookup_row *r = &lookup_rows[_i];
	char *errs = NULL;
	const char *got;
	struct conf *c;
	struct table *t;

	c = test_conf(lookup_path, r->delim);
	t = test_load(c, &errs);
	ck_assert_msg(t != NULL, "load: %s", errs);
	ck_assert_str_eq(errs, "");
	ck_assert_uint_eq(table_count(t), 9);
	got = table_lookup(t, c, r->local, r->domain);
	if (r->want == NULL)
		ck_assert_msg(got == NULL, "row %d %s@%s: got %s", _i,
		    r->local, r->domain, got);
	else
		ck_assert_msg(got != NULL && strcmp(got, r->want) == 0,
		    "row %d %s@%s: got %s, want %s", _i, r->local, r->domain,
		    got ? got : "NULL", r->want);
	table_free(t);
	test_conf_free(c);
	free(errs);
}
END_TEST

/* The bare <postmaster> is the postmaster of the FIRST domain; and a
 * trailing "/" on maildir_root does not double. */
START_TEST(test_table_first_domain)
{
	char *path, *errs = NULL;
	struct conf *c;
	struct table *t;

	path = test_write("first", "postmaster@example.com pm\n"
	    "@example.org all\n", 0);
	c = test_conf(path, "+");
	free(c->domains[0]);
	c->domains[0] = xstrdup("example.org");
	free(c->domains[1]);
	c->domains[1] = xstrdup("example.com");
	free(c->maildir_root);
	c->maildir_root = xstrdup("/m//");
	ck_assert_ptr_nonnull(t = test_load(c, &errs));
	ck_assert_str_eq(table_lookup(t, c, "postmaster", ""), "/m/all");
	ck_assert_str_eq(table_lookup(t, c, "postmaster", "example.com"),
	    "/m/pm");
	table_free(t);
	test_conf_free(c);
	free(errs);
	free(path);
}
END_TEST

/* 20,000 lines load, and every address is found (hash table growth). */
START_TEST(test_table_big)
{
	size_t n = 20000, i, len = 0;
	char *content, *path, *errs = NULL, local[32], want[64];
	struct conf *c;
	struct table *t;

	content = xmalloc(n * 48 + sizeof(PM));
	len = (size_t)sprintf(content, "%s", PM);
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(content + len,
		    "User%zu@example.%s u/%zu\n", i, i % 2 ? "org" : "com", i);
	path = test_write("big", content, len);
	c = test_conf(path, "+");
	ck_assert_ptr_nonnull(t = test_load(c, &errs));
	ck_assert_uint_eq(table_count(t), n + 2);
	for (i = 0; i < n; i++) {
		snprintf(local, sizeof(local), "user%zu+x", i);
		snprintf(want, sizeof(want), ROOT "/u/%zu", i);
		ck_assert_str_eq(table_lookup(t, c, local,
		    i % 2 ? "example.org" : "example.com"), want);
	}
	ck_assert_ptr_null(table_lookup(t, c, "user1", "example.com"));
	table_free(t);
	test_conf_free(c);
	free(errs);
	free(path);
	free(content);
}
END_TEST

START_TEST(test_table_null)
{
	table_free(NULL);
	ck_assert_uint_eq(table_count(NULL), 0);
	ck_assert_ptr_null(table_lookup(NULL, NULL, "a", "example.com"));
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

int
main(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("table");
	SRunner *sr;
	char cmd[64];
	int failures;

	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	lookup_path = test_write("lookup", lookup_file, 0);
	tcase_add_loop_test(tc, test_table_load, 0, NROWS(load_rows));
	tcase_add_test(tc, test_table_long_line);
	tcase_add_loop_test(tc, test_table_lookup, 0, NROWS(lookup_rows));
	tcase_add_test(tc, test_table_first_domain);
	tcase_add_test(tc, test_table_big);
	tcase_add_test(tc, test_table_null);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(lookup_path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
	if (system(cmd) != 0)
		failures++;
	return failures ? 1 : 0;
}
