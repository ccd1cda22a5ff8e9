/* test_conf.c - unit tests of conf.c and conf_value.c: every value type,
 * every default, every error path (with its FILE:LINE text), and the
 * example configurations shipped in conf/.
 *
 *	main - run every suite; exit 1 if any test failed. The directory of
 *		the example configs is argv[1], else $CONF_DIR, else
 *		$TOP_SRCDIR/conf, else $srcdir/conf (automake's test harness
 *		sets srcdir), else conf.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "conf.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

static char tmpdir[] = "/tmp/test_conf.XXXXXX";
static char conf_dir[PATH_MAX] = "conf";

/* The smallest valid file; rows append their lines to it (lines 1-3). */
#define BASE	"hostname mx.example.org\ndomains example.org\n" \
		"recipients recipients\n"

/* load - write text to TMPDIR/t.conf, load it; *errs gets what conf_load
 * printed, with the file's path replaced by "FILE". */
static struct conf *
load(const char *text, size_t len, char **errs)
{
	char path[PATH_MAX], *raw, *p, *o;
	size_t rawlen, plen;
	struct conf *c;
	FILE *fp, *mem;

	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	ck_assert_ptr_nonnull(fp = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_ptr_nonnull(mem = open_memstream(&raw, &rawlen));
	c = conf_load(path, mem);
	fclose(mem);
	plen = strlen(path);
	*errs = malloc(rawlen + 1);
	ck_assert_ptr_nonnull(*errs);
	for (p = raw, o = *errs; *p != '\0';)
		if (strncmp(p, path, plen) == 0) {
			memcpy(o, "FILE", 4);
			o += 4, p += plen;
		} else
			*o++ = *p++;
	*o = '\0';
	free(raw);
	return c;
}

#define LOAD(text, errs)	load((text), strlen(text), (errs))

/* Values: one line after BASE, and where it lands in struct conf. */
enum vkind { V_UINT, V_SIZE, V_INT, V_STR, V_NULL };
static const struct {
	const char	*line;
	enum vkind	 kind;
	size_t		 off;
	unsigned long long num;
	const char	*str;
} value_rows[] = {
#define O(f)	offsetof(struct conf, f)
	{ "timeout_command 90", V_UINT, O(timeout_command), 90, NULL },
	{ "timeout_command 45s", V_UINT, O(timeout_command), 45, NULL },
	{ "timeout_command 5m", V_UINT, O(timeout_command), 300, NULL },
	{ "timeout_data 2h", V_UINT, O(timeout_data), 7200, NULL },
	{ "timeout_data 1d", V_UINT, O(timeout_data), 86400, NULL },
	{ "cbv_cache_positive 7d", V_UINT, O(cbv_cache_positive), 604800,
	    NULL },
	{ "cbv_cache_negative 0", V_UINT, O(cbv_cache_negative), 0, NULL },
	{ "greet_delay 0s", V_UINT, O(greet_delay), 0, NULL },
	{ "greet_delay 2m", V_UINT, O(greet_delay), 120, NULL },
	{ "cbv_timeout 4m", V_UINT, O(cbv_timeout), 240, NULL },
	{ "cbv_connect_timeout 1s", V_UINT, O(cbv_connect_timeout), 1, NULL },
	{ "max_message_size 512K", V_SIZE, O(max_message_size), 524288, NULL },
	{ "max_message_size 512k", V_SIZE, O(max_message_size), 524288, NULL },
	{ "max_message_size 25M", V_SIZE, O(max_message_size), 26214400,
	    NULL },
	{ "max_message_size 1G", V_SIZE, O(max_message_size), 1073741824,
	    NULL },
	{ "max_message_size 2G", V_SIZE, O(max_message_size), 2147483648ULL,
	    NULL },
	{ "max_message_size 1024", V_SIZE, O(max_message_size), 1024, NULL },
	{ "max_recipients 1", V_UINT, O(max_recipients), 1, NULL },
	{ "max_recipients 10000", V_UINT, O(max_recipients), 10000, NULL },
	{ "max_clients 5", V_UINT, O(max_clients), 5, NULL },
	{ "max_clients_per_ip 2", V_UINT, O(max_clients_per_ip), 2, NULL },
	{ "client_ipv6_prefix 48", V_UINT, O(client_ipv6_prefix), 48, NULL },
	{ "client_ipv6_prefix 128", V_UINT, O(client_ipv6_prefix), 128,
	    NULL },
	{ "max_errors 3", V_UINT, O(max_errors), 3, NULL },
	{ "cbv_max_mx 10", V_UINT, O(cbv_max_mx), 10, NULL },
	{ "cbv_max_concurrent 7", V_UINT, O(cbv_max_concurrent), 7, NULL },
	{ "cbv_max_per_domain 1", V_UINT, O(cbv_max_per_domain), 1, NULL },
	{ "cbv_max_per_client_minute 7", V_UINT,
	    O(cbv_max_per_client_minute), 7, NULL },
	{ "cbv_max_per_domain_minute 9", V_UINT,
	    O(cbv_max_per_domain_minute), 9, NULL },
	{ "cbv no", V_INT, O(cbv), 0, NULL },
	{ "cbv yes", V_INT, O(cbv), 1, NULL },
	{ "cbv_noop NO", V_INT, O(cbv_noop), 0, NULL },
	{ "advertise_rfc3821 no", V_INT, O(advertise_rfc3821), 0, NULL },
	{ "bare_newline normalize", V_INT, O(bare_newline),
	    BARE_NEWLINE_NORMALIZE, NULL },
	{ "bare_newline reject", V_INT, O(bare_newline), BARE_NEWLINE_REJECT,
	    NULL },
	{ "helo_policy off", V_INT, O(helo_policy), POLICY_OFF, NULL },
	{ "helo_policy log", V_INT, O(helo_policy), POLICY_LOG, NULL },
	{ "helo_policy Enforce", V_INT, O(helo_policy), POLICY_ENFORCE, NULL },
	{ "sender_policy log", V_INT, O(sender_policy), POLICY_LOG, NULL },
	{ "helo_match a", V_INT, O(helo_match), HELO_MATCH_A, NULL },
	{ "helo_match ptr", V_INT, O(helo_match), HELO_MATCH_PTR, NULL },
	{ "helo_match any", V_INT, O(helo_match), HELO_MATCH_ANY, NULL },
	{ "helo_match none", V_INT, O(helo_match), HELO_MATCH_NONE, NULL },
	{ "helo_reject_at rcpt", V_INT, O(helo_reject_at), REJECT_AT_RCPT,
	    NULL },
	{ "cbv_stage mail", V_INT, O(cbv_stage), CBV_STAGE_MAIL, NULL },
	{ "cbv_on_tempfail accept", V_INT, O(cbv_on_tempfail), VERDICT_ACCEPT,
	    NULL },
	{ "cbv_on_refused_early reject", V_INT, O(cbv_on_refused_early),
	    VERDICT_REJECT, NULL },
	{ "cbv_on_refused_mail tempfail", V_INT, O(cbv_on_refused_mail),
	    VERDICT_TEMPFAIL, NULL },
	{ "cbv_on_refused_mail accept", V_INT, O(cbv_on_refused_mail),
	    VERDICT_ACCEPT, NULL },
	{ "cbv_on_unverifiable reject", V_INT, O(cbv_on_unverifiable),
	    VERDICT_REJECT, NULL },
	{ "cbv_on_unverifiable accept", V_INT, O(cbv_on_unverifiable),
	    VERDICT_ACCEPT, NULL },
	{ "user strictmx", V_STR, O(user), 0, "strictmx" },
	{ "user none", V_NULL, O(user), 0, NULL },
	{ "rfc3821_keyword XRFC3821", V_STR, O(rfc3821_keyword), 0,
	    "XRFC3821" },
	{ "recipient_delimiter -", V_STR, O(recipient_delimiter), 0, "-" },
	{ "recipient_delimiter +-=", V_STR, O(recipient_delimiter), 0, "+-=" },
	{ "recipient_delimiter", V_STR, O(recipient_delimiter), 0, "" },
	{ "recipient_delimiter   # off", V_STR, O(recipient_delimiter), 0, "" },
	{ "cbv_probe_sender <>", V_STR, O(cbv_probe_sender), 0, "" },
	{ "cbv_probe_sender <probe@example.org>", V_STR, O(cbv_probe_sender),
	    0, "probe@example.org" },
	{ "cbv_probe_sender cbv.probe+x@mx.example.org", V_STR,
	    O(cbv_probe_sender), 0, "cbv.probe+x@mx.example.org" },
	{ "maildir_root /srv/mail", V_STR, O(maildir_root), 0, "/srv/mail" },
	{ "tls_certificate none", V_NULL, O(tls_certificate), 0, NULL },
	{ "dmp_table none", V_NULL, O(dmp_table), 0, NULL },
	{ "dmp_table /etc/strictmx/dmp", V_STR, O(dmp_table), 0,
	    "/etc/strictmx/dmp" },
	{ "hostname Mail.Example.ORG", V_STR, O(hostname), 0,
	    "Mail.Example.ORG" },
	{ "resolver_timeout 2s", V_UINT, O(resolver_timeout), 2, NULL },
	{ "resolver_cache_size 0", V_UINT, O(resolver_cache_size), 0, NULL },
	{ "resolver_cache_size 100000", V_UINT, O(resolver_cache_size),
	    100000, NULL },
	{ "spf_policy log", V_INT, O(spf_policy), POLICY_LOG, NULL },
	{ "spf_on_fail accept", V_INT, O(spf_on_fail), VERDICT_ACCEPT, NULL },
	{ "spf_on_temperror tempfail", V_INT, O(spf_on_temperror),
	    VERDICT_TEMPFAIL, NULL },
	{ "spf_on_permerror reject", V_INT, O(spf_on_permerror),
	    VERDICT_REJECT, NULL },
	{ "cbv_skip_on_spf_pass yes", V_INT, O(cbv_skip_on_spf_pass), 1,
	    NULL },
	{ "dkim_verify no", V_INT, O(dkim_verify), 0, NULL },
	{ "dkim_max_signatures 16", V_UINT, O(dkim_max_signatures), 16,
	    NULL },
	{ "dmarc_policy off", V_INT, O(dmarc_policy), POLICY_OFF, NULL },
	{ "dmarc_quarantine_folder Spam", V_STR, O(dmarc_quarantine_folder),
	    0, "Spam" },
	/* authserv_id follows hostname unless it is set. */
	{ "spf_policy enforce", V_STR, O(authserv_id), 0, "mx.example.org" },
	{ "authserv_id auth.example.org", V_STR, O(authserv_id), 0,
	    "auth.example.org" },
	{ "max_errors 5 # trailing comment", V_UINT, O(max_errors), 5, NULL },
	{ "\t max_errors \t 6 \t", V_UINT, O(max_errors), 6, NULL },
	{ "max_errors 7\r", V_UINT, O(max_errors), 7, NULL },	/* CRLF */
#undef O
};

START_TEST(test_value)
{
	char text[512], *errs;
	struct conf *c;
	const char *line = value_rows[_i].line;
	void *f;

	/* hostname is in BASE: a row setting it replaces BASE's line. */
	if (strncmp(line, "hostname ", 9) == 0)
		snprintf(text, sizeof(text), "%s\n%s", line,
		    strchr(BASE, '\n') + 1);
	else
		snprintf(text, sizeof(text), BASE "%s\n", line);
	c = LOAD(text, &errs);
	ck_assert_msg(c != NULL, "\"%s\": %s", line, errs);
	ck_assert_str_eq(errs, "");
	f = (char *)c + value_rows[_i].off;
	switch (value_rows[_i].kind) {
	case V_UINT:
		ck_assert_uint_eq(*(unsigned *)f, value_rows[_i].num);
		break;
	case V_SIZE:
		ck_assert_uint_eq(*(size_t *)f, value_rows[_i].num);
		break;
	case V_INT:
		ck_assert_int_eq(*(int *)f, (int)value_rows[_i].num);
		break;
	case V_STR:
		ck_assert_ptr_nonnull(*(char **)f);
		ck_assert_str_eq(*(char **)f, value_rows[_i].str);
		break;
	case V_NULL:
		ck_assert_ptr_null(*(char **)f);
		break;
	}
	conf_free(c);
	free(errs);
}
END_TEST

/* Errors: a whole file, and exactly what conf_load must print. */
static const struct {
	const char	*text;
	const char	*want;
} error_rows[] = {
	{ BASE "frobnicate yes\n",
	    "FILE:4: unknown key \"frobnicate\"\n" },
	{ BASE "Max_errors 3\n",
	    "FILE:4: unknown key \"Max_errors\"\n" },
	{ BASE "bad\x01key 3\n",
	    "FILE:4: line contains a control character\n" },
	{ BASE "max_errors 3\n# comment\n\nmax_errors 4\n",
	    "FILE:7: duplicate key \"max_errors\" (first set at line 4)\n" },
	{ BASE "timeout_command 5x\n",
	    "FILE:4: bad value \"5x\" for timeout_command: use a number of "
	    "seconds, or a number with s, m, h or d (30s, 5m, 2h, 7d)\n" },
	{ BASE "spf_on_fail tempfail\n",
	    "FILE:4: bad value \"tempfail\" for spf_on_fail: use reject or "
	    "accept\n" },
	{ BASE "dmarc_quarantine_folder .Junk\n",
	    "FILE:4: bad value \".Junk\" for dmarc_quarantine_folder: use a "
	    "folder name of up to 64 letters, digits, '_' or '-' (Junk, "
	    "Spam)\n" },
	{ BASE "dkim_max_signatures 17\n",
	    "FILE:4: value \"17\" of dkim_max_signatures out of range: must "
	    "be between 1 and 16\n" },
	{ BASE "client_ipv6_prefix 24\n",
	    "FILE:4: value \"24\" of client_ipv6_prefix out of range: must "
	    "be between 32 and 128\n" },
	{ BASE "client_ipv6_prefix 129\n",
	    "FILE:4: value \"129\" of client_ipv6_prefix out of range: must "
	    "be between 32 and 128\n" },
	{ BASE "resolver_cache_size 100001\n",
	    "FILE:4: value \"100001\" of resolver_cache_size out of range: "
	    "must be between 0 and 100000\n" },
	{ BASE "resolver_timeout 2m\n",
	    "FILE:4: value \"2m\" of resolver_timeout out of range: must be "
	    "between 1s and 1m\n" },
	{ BASE "timeout_command 5 m\n",
	    "FILE:4: key timeout_command takes one value, not 2\n" },
	{ BASE "timeout_command -5\n",
	    "FILE:4: bad value \"-5\" for timeout_command: use a number of "
	    "seconds, or a number with s, m, h or d (30s, 5m, 2h, 7d)\n" },
	{ BASE "timeout_command 5mm\n",
	    "FILE:4: bad value \"5mm\" for timeout_command: use a number of "
	    "seconds, or a number with s, m, h or d (30s, 5m, 2h, 7d)\n" },
	{ BASE "timeout_command 99999999999999999999999s\n",
	    "FILE:4: bad value \"99999999999999999999999s\" for "
	    "timeout_command: use a number of seconds, or a number with s, "
	    "m, h or d (30s, 5m, 2h, 7d)\n" },
	{ BASE "timeout_command 0\n",
	    "FILE:4: value \"0\" of timeout_command out of range: must be "
	    "between 1s and 1d\n" },
	{ BASE "timeout_command 2d\n",
	    "FILE:4: value \"2d\" of timeout_command out of range: must be "
	    "between 1s and 1d\n" },
	{ BASE "cbv_timeout 5m\n",
	    "FILE:4: value \"5m\" of cbv_timeout out of range: must be "
	    "between 1s and 4m\n" },
	{ BASE "greet_delay 121\n",
	    "FILE:4: value \"121\" of greet_delay out of range: must be "
	    "between 0s and 2m\n" },
	{ BASE "max_message_size 25X\n",
	    "FILE:4: bad value \"25X\" for max_message_size: use a number of "
	    "bytes, or a number with K, M or G (512K, 25M, 1G)\n" },
	{ BASE "max_message_size 25MB\n",
	    "FILE:4: bad value \"25MB\" for max_message_size: use a number of "
	    "bytes, or a number with K, M or G (512K, 25M, 1G)\n" },
	{ BASE "max_message_size 3G\n",
	    "FILE:4: value \"3G\" of max_message_size out of range: must be "
	    "between 1K and 2G\n" },
	{ BASE "max_message_size 1023\n",
	    "FILE:4: value \"1023\" of max_message_size out of range: must be "
	    "between 1K and 2G\n" },
	{ BASE "max_message_size 99999999999G\n",
	    "FILE:4: bad value \"99999999999G\" for max_message_size: use a "
	    "number of bytes, or a number with K, M or G (512K, 25M, 1G)\n" },
	{ BASE "max_errors 0\n",
	    "FILE:4: value \"0\" of max_errors out of range: must be between "
	    "1 and 1000\n" },
	{ BASE "max_errors 10s\n",
	    "FILE:4: bad value \"10s\" for max_errors: use a decimal number\n" },
	{ BASE "max_errors\n",
	    "FILE:4: key max_errors needs a value\n" },
	{ BASE "max_recipients 10001\n",
	    "FILE:4: value \"10001\" of max_recipients out of range: must be "
	    "between 1 and 10000\n" },
	{ BASE "cbv maybe\n",
	    "FILE:4: bad value \"maybe\" for cbv: use yes or no\n" },
	{ BASE "cbv 1\n",
	    "FILE:4: bad value \"1\" for cbv: use yes or no\n" },
	{ BASE "helo_policy sometimes\n",
	    "FILE:4: bad value \"sometimes\" for helo_policy: use off, log or "
	    "enforce\n" },
	{ BASE "helo_match mx\n",
	    "FILE:4: bad value \"mx\" for helo_match: use a, ptr, any or "
	    "none\n" },
	{ BASE "cbv_on_tempfail reject\n",
	    "FILE:4: bad value \"reject\" for cbv_on_tempfail: use tempfail "
	    "or accept\n" },
	{ BASE "cbv_stage data\n",
	    "FILE:4: bad value \"data\" for cbv_stage: use rcpt or mail\n" },
	{ BASE "bare_newline\n",
	    "FILE:4: key bare_newline needs a value\n" },
	{ BASE "rfc3821_keyword X_RFC3821\n",
	    "FILE:4: bad value \"X_RFC3821\" for rfc3821_keyword: an EHLO "
	    "keyword is a letter or digit, then letters, digits or '-' "
	    "(RFC 5321 section 4.1.1.1)\n" },
	{ BASE "recipient_delimiter @\n",
	    "FILE:4: bad value \"@\" for recipient_delimiter: use punctuation "
	    "such as + - = _ (not @ \" \\ < > ( ) [ ] , ; :), or no "
	    "value for off\n" },
	{ BASE "recipient_delimiter none\n",
	    "FILE:4: bad value \"none\" for recipient_delimiter: use "
	    "punctuation such as + - = _ (not @ \" \\ < > ( ) [ ] , ; "
	    ":), or no value for off\n" },
	{ BASE "user root; rm\n",
	    "FILE:4: key user takes one value, not 2\n" },
	{ BASE "user ro/ot\n",
	    "FILE:4: bad value \"ro/ot\" for user: use a user name of up to "
	    "32 letters, digits, '.', '_' or '-'\n" },
	{ BASE "cbv_probe_sender <probe>\n",
	    "FILE:4: bad value \"<probe>\" for cbv_probe_sender: use <> or "
	    "<local@domain>\n" },
	{ BASE "cbv_probe_sender a..b@example.org\n",
	    "FILE:4: bad value \"a..b@example.org\" for cbv_probe_sender: use "
	    "<> or <local@domain>\n" },
	{ BASE "cbv_probe_sender a@b_c.example\n",
	    "FILE:4: bad value \"a@b_c.example\" for cbv_probe_sender: only "
	    "letters, digits, '-' and '.' are allowed\n" },
	{ "hostname -mx.example.org\n" "domains example.org\n"
	    "recipients r\n",
	    "FILE:1: bad value \"-mx.example.org\" for hostname: a label "
	    "starts with '-'\n" },
	{ "hostname mx\ndomains example.org\nrecipients r\n",
	    "FILE: warning: hostname \"mx\" is not fully qualified\n" },
	{ "domains example.org\n",
	    "FILE: missing required key \"recipients\"\n" },
	{ "hostname mx.example.org\n# nothing else\n",
	    "FILE: missing required key \"domains\"\n"
	    "FILE: missing required key \"recipients\"\n" },
	{ "",
	    "FILE: missing required key \"domains\"\n"
	    "FILE: missing required key \"recipients\"\n" },
	{ "hostname mx.example.org\ndomains\nrecipients r\n",
	    "FILE:2: key domains needs a value\n" },
	{ "hostname mx.example.org\ndomains example.org localhost "
	    "Example.ORG ex_ample.org 192.0.2.1 a..b\nrecipients r\n",
	    "FILE:2: bad domain \"localhost\" in domains: not fully "
	    "qualified\n"
	    "FILE:2: domain \"example.org\" is listed twice\n"
	    "FILE:2: bad domain \"ex_ample.org\" in domains: only letters, "
	    "digits, '-' and '.' are allowed\n"
	    "FILE:2: bad domain \"192.0.2.1\" in domains: the last label is "
	    "numeric\n"
	    "FILE:2: bad domain \"a..b\" in domains: labels must be 1 to 63 "
	    "characters\n" },
	{ BASE "listen 127.0.0.1\n",
	    "FILE:4: bad address \"127.0.0.1\" in listen: use ADDR:PORT, or "
	    "[ADDR]:PORT for IPv6\n" },
	{ BASE "listen 127.0.0.1:0 127.0.0.1:65536 127.0.0.1:025 ::1:25 "
	    "[::1] [127.0.0.1]:25 localhost:25 [::1]25\n",
	    "FILE:4: bad address \"127.0.0.1:0\" in listen: use ADDR:PORT, or "
	    "[ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"127.0.0.1:65536\" in listen: use ADDR:PORT, "
	    "or [ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"127.0.0.1:025\" in listen: use ADDR:PORT, "
	    "or [ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"::1:25\" in listen: use ADDR:PORT, or "
	    "[ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"[::1]\" in listen: use ADDR:PORT, or "
	    "[ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"[127.0.0.1]:25\" in listen: use ADDR:PORT, "
	    "or [ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"localhost:25\" in listen: use ADDR:PORT, "
	    "or [ADDR]:PORT for IPv6\n"
	    "FILE:4: bad address \"[::1]25\" in listen: use ADDR:PORT, or "
	    "[ADDR]:PORT for IPv6\n" },
	{ BASE "listen 127.0.0.1:25 [::1]:25 127.0.0.1:25\n",
	    "FILE:4: listen address \"127.0.0.1:25\" is listed twice\n" },
	{ BASE "resolver system 127.0.0.1\n",
	    "FILE:4: bad address \"system\" in resolver: use system, or "
	    "ADDR[:PORT], IPv6 as [ADDR]:PORT or bare\n" },
	{ BASE "resolver 127.0.0.1:99999 ns.example.org\n",
	    "FILE:4: bad address \"127.0.0.1:99999\" in resolver: use system, "
	    "or ADDR[:PORT], IPv6 as [ADDR]:PORT or bare\n"
	    "FILE:4: bad address \"ns.example.org\" in resolver: use system, "
	    "or ADDR[:PORT], IPv6 as [ADDR]:PORT or bare\n" },
	{ BASE "resolver 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 "
	    "127.0.0.6 127.0.0.7\n",
	    "FILE:4: too many resolver addresses: at most 6\n" },
	{ BASE "exempt_clients 127.0.0.0/8 bogus ::1/129 none\n",
	    "FILE:4: bad network \"bogus\" in exempt_clients: use ADDR/BITS or "
	    "an address (192.0.2.0/24, 2001:db8::/32, 192.0.2.1)\n"
	    "FILE:4: bad network \"::1/129\" in exempt_clients: use ADDR/BITS "
	    "or an address (192.0.2.0/24, 2001:db8::/32, 192.0.2.1)\n"
	    "FILE:4: bad network \"none\" in exempt_clients: use ADDR/BITS or "
	    "an address (192.0.2.0/24, 2001:db8::/32, 192.0.2.1)\n" },
	{ BASE "local_sender_networks 192.0.2.0/24x\n",
	    "FILE:4: bad network \"192.0.2.0/24x\" in local_sender_networks: "
	    "use ADDR/BITS or an address (192.0.2.0/24, 2001:db8::/32, "
	    "192.0.2.1)\n" },
	{ BASE "tls_certificate /etc/ssl/mx.pem\n",
	    "FILE:4: tls_certificate is set but tls_key is not: STARTTLS "
	    "needs both\n" },
	{ BASE "\n\ntls_key /etc/ssl/mx.key\ntls_certificate none\n",
	    "FILE:6: tls_key is set but tls_certificate is not: STARTTLS "
	    "needs both\n" },
	{ BASE "tls_certificate a b\n",
	    "FILE:4: key tls_certificate takes one value, not 2\n" },
	/* Several errors in one file: all are reported, in order. */
	{ "domains example.org\nfoo 1\nmax_errors x\ncbv_noop perhaps\n"
	    "foo 2\n",
	    "FILE:2: unknown key \"foo\"\n"
	    "FILE:3: bad value \"x\" for max_errors: use a decimal number\n"
	    "FILE:4: bad value \"perhaps\" for cbv_noop: use yes or no\n"
	    "FILE:5: unknown key \"foo\"\n"
	    "FILE: missing required key \"recipients\"\n" },
	/* '#' starts a comment only at the start or after white space. */
	{ BASE "max_errors 3#4\n",
	    "FILE:4: bad value \"3#4\" for max_errors: use a decimal number\n" },
	/* Untrusted bytes are escaped in the message. */
	{ BASE "max_errors \"\\\xff\n",
	    "FILE:4: bad value \"\\x22\\x5c\\xff\" for max_errors: use a "
	    "decimal number\n" },
};

START_TEST(test_error)
{
	char *errs;
	struct conf *c;

	c = LOAD(error_rows[_i].text, &errs);
	ck_assert_str_eq(errs, error_rows[_i].want);
	/* A warning does not fail the load; any error does. */
	if (strstr(error_rows[_i].want, ": warning: ") != NULL)
		ck_assert_ptr_nonnull(c);
	else
		ck_assert_ptr_null(c);
	conf_free(c);
	free(errs);
}
END_TEST

/* A file that sets nothing optional gets exactly DESIGN §3's defaults. */
START_TEST(test_defaults)
{
	char *errs, host[256];
	struct conf *c;
	struct sockaddr_in *s4;
	struct sockaddr_in6 *s6;

	c = LOAD("domains Example.org. example.net\nrecipients rcpt\n", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_str_eq(c->hostname, host);
	ck_assert_uint_eq(c->nlisten, 2);
	s4 = (struct sockaddr_in *)&c->listen[0].ss;
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_uint_eq(c->listen[0].len, sizeof(*s4));
	ck_assert_uint_eq(ntohs(s4->sin_port), 25);
	ck_assert_uint_eq(s4->sin_addr.s_addr, htonl(INADDR_ANY));
	ck_assert_str_eq(c->listen[0].text, "0.0.0.0:25");
	s6 = (struct sockaddr_in6 *)&c->listen[1].ss;
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert_uint_eq(c->listen[1].len, sizeof(*s6));
	ck_assert_uint_eq(ntohs(s6->sin6_port), 25);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr));
	ck_assert_str_eq(c->listen[1].text, "[::]:25");
	ck_assert_ptr_null(c->user);
	ck_assert_uint_eq(c->ndomains, 2);
	ck_assert_str_eq(c->domains[0], "example.org");
	ck_assert_str_eq(c->domains[1], "example.net");
	ck_assert_str_eq(c->recipients + strlen(c->recipients) - 5, "/rcpt");
	ck_assert_str_eq(c->recipient_delimiter, "+");
	ck_assert_str_eq(c->maildir_root, LOCALSTATEDIR "/mail/strictmx");
	ck_assert_str_eq(c->stats_db, LOCALSTATEDIR "/lib/strictmx/stats.db");
	ck_assert_ptr_null(c->resolver);
	ck_assert_uint_eq(c->nresolver, 0);
	ck_assert_uint_eq(c->max_message_size, 50 * 1024 * 1024);
	ck_assert_uint_eq(c->max_recipients, 100);
	ck_assert_uint_eq(c->max_clients, 1000);
	ck_assert_uint_eq(c->max_clients_per_ip, 20);
	ck_assert_uint_eq(c->client_ipv6_prefix, 64);
	ck_assert_uint_eq(c->max_errors, 10);
	ck_assert_uint_eq(c->timeout_command, 300);
	ck_assert_uint_eq(c->timeout_data, 600);
	ck_assert_uint_eq(c->greet_delay, 0);
	ck_assert_int_eq(c->bare_newline, BARE_NEWLINE_REJECT);
	ck_assert_ptr_null(c->tls_certificate);
	ck_assert_ptr_null(c->tls_key);
	ck_assert_uint_eq(c->exempt_clients.n, 0);
	ck_assert_int_eq(c->advertise_rfc3821, 1);
	ck_assert_str_eq(c->rfc3821_keyword, "RFC3821");
	ck_assert_int_eq(c->helo_policy, POLICY_ENFORCE);
	ck_assert_int_eq(c->helo_match, HELO_MATCH_ANY);
	ck_assert_int_eq(c->helo_reject_at, REJECT_AT_HELO);
	ck_assert_int_eq(c->sender_policy, POLICY_ENFORCE);
	ck_assert_int_eq(c->cbv, 1);
	ck_assert_int_eq(c->cbv_stage, CBV_STAGE_RCPT);
	ck_assert_uint_eq(c->cbv_timeout, 30);
	ck_assert_uint_eq(c->cbv_connect_timeout, 10);
	ck_assert_uint_eq(c->cbv_max_mx, 3);
	ck_assert_int_eq(c->cbv_noop, 1);
	ck_assert_str_eq(c->cbv_probe_sender, "");
	ck_assert_int_eq(c->cbv_on_tempfail, VERDICT_TEMPFAIL);
	ck_assert_int_eq(c->cbv_on_refused_early, VERDICT_TEMPFAIL);
	ck_assert_int_eq(c->cbv_on_refused_mail, VERDICT_REJECT);
	ck_assert_int_eq(c->cbv_on_unverifiable, VERDICT_ACCEPT);
	ck_assert_uint_eq(c->cbv_cache_positive, 7 * 86400);
	ck_assert_uint_eq(c->cbv_cache_negative, 2 * 3600);
	ck_assert_uint_eq(c->cbv_cache_tempfail, 300);
	ck_assert_uint_eq(c->cbv_max_concurrent, 50);
	ck_assert_uint_eq(c->cbv_max_per_domain, 5);
	ck_assert_ptr_null(c->dmp_table);
	ck_assert_uint_eq(c->local_sender_networks.n, 0);
	ck_assert(conf_is_local_domain(c, "EXAMPLE.ORG"));
	ck_assert(conf_is_local_domain(c, "example.net."));
	ck_assert(!conf_is_local_domain(c, "example.com"));
	ck_assert(!conf_is_local_domain(c, "sub.example.org"));
	ck_assert(!conf_is_local_domain(c, "example.or"));
	ck_assert(!conf_is_local_domain(c, ""));
	conf_free(c);
	free(errs);
}
END_TEST

/* listen and resolver addresses, IPv4 and IPv6, parsed to sockaddrs. */
static const struct {
	const char	*line;
	size_t		 idx;
	int		 family;
	const char	*addr;
	unsigned	 port;
} addr_rows[] = {
	{ "listen 127.0.0.1:2525", 0, AF_INET, "127.0.0.1", 2525 },
	{ "listen [::1]:25", 0, AF_INET6, "::1", 25 },
	{ "listen 192.0.2.1:25 [2001:db8::25]:587", 1, AF_INET6,
	    "2001:db8::25", 587 },
	{ "listen [::ffff:192.0.2.1]:65535", 0, AF_INET6, "::ffff:192.0.2.1",
	    65535 },
	{ "resolver 127.0.0.1", 0, AF_INET, "127.0.0.1", 53 },
	{ "resolver 127.0.0.1:5353", 0, AF_INET, "127.0.0.1", 5353 },
	{ "resolver ::1", 0, AF_INET6, "::1", 53 },
	{ "resolver [::1]", 0, AF_INET6, "::1", 53 },
	{ "resolver [2001:db8::53]:5300", 0, AF_INET6, "2001:db8::53", 5300 },
	{ "resolver 192.0.2.53 2001:db8::53", 1, AF_INET6, "2001:db8::53", 53 },
};

START_TEST(test_addr)
{
	char text[256], *errs, buf[INET6_ADDRSTRLEN];
	struct conf *c;
	const struct conf_listen *a;
	const char *word;
	size_t i;

	snprintf(text, sizeof(text), BASE "%s\n", addr_rows[_i].line);
	c = LOAD(text, &errs);
	ck_assert_msg(c != NULL, "%s", errs);
	if (strncmp(addr_rows[_i].line, "listen", 6) == 0) {
		ck_assert_uint_gt(c->nlisten, addr_rows[_i].idx);
		a = &c->listen[addr_rows[_i].idx];
	} else {
		ck_assert_uint_gt(c->nresolver, addr_rows[_i].idx);
		a = &c->resolver_addr[addr_rows[_i].idx];
		/* The text form is kept as written. */
		word = strchr(addr_rows[_i].line, ' ') + 1;
		for (i = 0; i < addr_rows[_i].idx; i++)
			word = strchr(word, ' ') + 1;
		ck_assert_int_eq(strncmp(c->resolver[addr_rows[_i].idx], word,
		    strlen(c->resolver[addr_rows[_i].idx])), 0);
	}
	ck_assert_int_eq(a->ss.ss_family, addr_rows[_i].family);
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&a->ss;

		ck_assert_uint_eq(a->len, sizeof(*s4));
		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(s4->sin_port), addr_rows[_i].port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;

		ck_assert_uint_eq(a->len, sizeof(*s6));
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(s6->sin6_port), addr_rows[_i].port);
	}
	ck_assert_str_eq(buf, addr_rows[_i].addr);
	conf_free(c);
	free(errs);
}
END_TEST

/* CIDR keys land in the lists, and match clients as cidr.c says. */
START_TEST(test_cidr_keys)
{
	char *errs;
	struct conf *c;
	struct sockaddr_in6 s6;

	c = LOAD(BASE "exempt_clients 127.0.0.0/8 ::1\n"
	    "local_sender_networks none\n", &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->exempt_clients.n, 2);
	ck_assert_uint_eq(c->local_sender_networks.n, 0);
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.5", &s6.sin6_addr);
	ck_assert(cidr_list_match(&c->exempt_clients, (void *)&s6));
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	ck_assert(cidr_list_match(&c->exempt_clients, (void *)&s6));
	ck_assert(!cidr_list_match(&c->local_sender_networks, (void *)&s6));
	conf_free(c);
	free(errs);
}
END_TEST

/* Relative paths start at the config file's directory. */
START_TEST(test_paths)
{
	char *errs, want[PATH_MAX + 32], real[PATH_MAX];
	struct conf *c;

	c = LOAD(BASE "maildir_root ../spool\nstats_db ../spool/stats.db\n"
	    "tls_certificate cert.pem\ntls_key /abs/key.pem\n"
	    "dmp_table sub/dmp\n", &errs);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_ptr_nonnull(realpath(tmpdir, real));
	snprintf(want, sizeof(want), "%s/recipients", real);
	ck_assert_str_eq(c->recipients, want);
	snprintf(want, sizeof(want), "%s/../spool", real);
	ck_assert_str_eq(c->maildir_root, want);
	snprintf(want, sizeof(want), "%s/../spool/stats.db", real);
	ck_assert_str_eq(c->stats_db, want);
	snprintf(want, sizeof(want), "%s/cert.pem", real);
	ck_assert_str_eq(c->tls_certificate, want);
	ck_assert_str_eq(c->tls_key, "/abs/key.pem");
	snprintf(want, sizeof(want), "%s/sub/dmp", real);
	ck_assert_str_eq(c->dmp_table, want);
	ck_assert_str_eq(c->path + strlen(c->path) - 7, "/t.conf");
	conf_free(c);
	free(errs);
}
END_TEST

/* Lines: the 4096-byte bound, NUL bytes, a last line without newline. */
START_TEST(test_lines)
{
	char *text, *errs;
	struct conf *c;
	size_t n;

	/* Exactly CONF_LINE_MAX bytes is fine (a comment padded out). */
	text = malloc(sizeof(BASE) + CONF_LINE_MAX + 64);
	ck_assert_ptr_nonnull(text);
	memcpy(text, BASE, n = sizeof(BASE) - 1);
	memset(text + n, '#', CONF_LINE_MAX);
	n += CONF_LINE_MAX;
	memcpy(text + n, "\nmax_errors 4", 14);
	c = LOAD(text, &errs);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_uint_eq(c->max_errors, 4);	/* no final newline */
	conf_free(c);
	free(errs);

	/* One byte more is an error, and the rest of the line is skipped. */
	memcpy(text, BASE, n = sizeof(BASE) - 1);
	memset(text + n, ' ', CONF_LINE_MAX + 1);
	n += CONF_LINE_MAX + 1;
	memcpy(text + n, "\nmax_errors x\n", 15);
	c = LOAD(text, &errs);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(errs, "FILE:4: line longer than 4096 bytes\n"
	    "FILE:5: bad value \"x\" for max_errors: use a decimal number\n");
	free(errs);
	free(text);

	c = load(BASE "max_errors 3\0 junk\n", sizeof(BASE) + 18, &errs);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(errs, "FILE:4: line contains a NUL byte\n");
	free(errs);
}
END_TEST

START_TEST(test_cannot_open)
{
	char *raw;
	size_t len;
	FILE *mem;

	ck_assert_ptr_nonnull(mem = open_memstream(&raw, &len));
	ck_assert_ptr_null(conf_load("/nonexistent/strictmx.conf", mem));
	fclose(mem);
	ck_assert_str_eq(raw, "/nonexistent/strictmx.conf: cannot open: "
	    "No such file or directory\n");
	free(raw);
	ck_assert_ptr_null(conf_load(tmpdir, NULL));	/* a directory */
	conf_free(NULL);
}
END_TEST

/* conf_keys: DESIGN §3's 44 keys, §8's SPF keys and authserv_id, and
 * resolver_timeout (issue 8), resolver_cache_size (issue 10), each once, each with a default text. */
START_TEST(test_keys)
{
	static const char *const design[] = {
		"hostname", "listen", "user", "domains", "recipients",
		"recipient_delimiter", "maildir_root", "stats_db", "resolver",
		"max_message_size", "max_recipients", "max_clients",
		"max_clients_per_ip", "client_ipv6_prefix", "max_errors", "timeout_command",
		"timeout_data", "greet_delay", "bare_newline",
		"tls_certificate", "tls_key", "exempt_clients",
		"advertise_rfc3821", "rfc3821_keyword", "helo_policy",
		"helo_match", "helo_reject_at", "sender_policy", "cbv",
		"cbv_stage", "cbv_timeout", "cbv_connect_timeout",
		"cbv_max_mx", "cbv_noop", "cbv_probe_sender",
		"cbv_on_tempfail", "cbv_on_refused_early",
		"cbv_on_refused_mail", "cbv_on_unverifiable",
		"cbv_cache_positive",
		"cbv_cache_negative", "cbv_cache_tempfail",
		"cbv_max_concurrent", "cbv_max_per_domain",
		"cbv_max_per_client_minute", "cbv_max_per_domain_minute",
		"cbv_forbidden_networks", "dmp_table",
		"local_sender_networks", "resolver_timeout",
		"resolver_cache_size", "spf_policy",
		"spf_on_fail", "spf_on_temperror", "spf_on_permerror",
		"cbv_skip_on_spf_pass", "authserv_id", "dkim_verify",
		"dkim_max_signatures", "dmarc_policy",
		"dmarc_quarantine_folder",
	};
	const struct conf_keyinfo *k;
	size_t n, i, j;

	k = conf_keys(&n);
	ck_assert_uint_eq(n, sizeof(design) / sizeof(design[0]));
	for (i = 0; i < n; i++) {
		for (j = 0; j < n && strcmp(design[j], k[i].key) != 0; j++)
			;
		ck_assert_msg(j < n, "key %s is not in DESIGN", k[i].key);
		for (j = i + 1; j < n; j++)
			ck_assert_str_ne(k[i].key, k[j].key);
		ck_assert_ptr_nonnull(k[i].def);
		ck_assert_uint_gt(strlen(k[i].def), 0);
	}
}
END_TEST

/* The shipped examples load without a single error or warning. */
static const char *const example_rows[] = { "dev.conf", "strictmx.conf" };

START_TEST(test_examples)
{
	char path[PATH_MAX + 32], *raw;
	struct conf *c;
	size_t len;
	FILE *mem;

	snprintf(path, sizeof(path), "%s/%s", conf_dir, example_rows[_i]);
	ck_assert_ptr_nonnull(mem = open_memstream(&raw, &len));
	c = conf_load(path, mem);
	fclose(mem);
	ck_assert_msg(c != NULL, "%s", raw);
	ck_assert_str_eq(raw, "");
	ck_assert_uint_ge(c->ndomains, 1);
	ck_assert(strchr(c->hostname, '.') != NULL);
	if (_i == 0) {		/* dev.conf: loopback, exempt, ../spool */
		ck_assert_uint_eq(c->nlisten, 1);
		ck_assert_str_eq(c->listen[0].text, "127.0.0.1:2525");
		ck_assert_str_eq(c->hostname, "mx.dev.strictmx.test");
		ck_assert(conf_is_local_domain(c, "dev.strictmx.test"));
		ck_assert_uint_eq(c->exempt_clients.n, 2);
		ck_assert_str_eq(c->maildir_root + strlen(c->maildir_root) -
		    9, "/../spool");
	}
	conf_free(c);
	free(raw);
}
END_TEST

int
main(int argc, char **argv)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");
	SRunner *sr;
	const char *d;
	char cmd[64];
	int failures;

	if (argc > 1)
		snprintf(conf_dir, sizeof(conf_dir), "%s", argv[1]);
	else if ((d = getenv("CONF_DIR")) != NULL)
		snprintf(conf_dir, sizeof(conf_dir), "%s", d);
	else if ((d = getenv("TOP_SRCDIR")) != NULL)
		snprintf(conf_dir, sizeof(conf_dir), "%s/conf", d);
	else if ((d = getenv("srcdir")) != NULL)
		snprintf(conf_dir, sizeof(conf_dir), "%s/conf", d);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	tcase_add_loop_test(tc, test_value, 0,
	    sizeof(value_rows) / sizeof(value_rows[0]));
	tcase_add_loop_test(tc, test_error, 0,
	    sizeof(error_rows) / sizeof(error_rows[0]));
	tcase_add_loop_test(tc, test_addr, 0,
	    sizeof(addr_rows) / sizeof(addr_rows[0]));
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_cidr_keys);
	tcase_add_test(tc, test_paths);
	tcase_add_test(tc, test_lines);
	tcase_add_test(tc, test_cannot_open);
	tcase_add_test(tc, test_keys);
	tcase_add_loop_test(tc, test_examples, 0,
	    sizeof(example_rows) / sizeof(example_rows[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return failures ? 1 : 0;
}
