/* conf.c - strictmx.conf: one table declares every key with its type, default
 * and bounds; one parser checks a file against it and reports FILE:LINE.
 *
 *	conf_load - parse a file into a struct conf; print every error to the
 *		given FILE and return NULL if there was any
 *	conf_free - release a struct conf (NULL is fine)
 *	conf_keys - the table's keys and default texts, for strictmx.conf(5)'s
 *		consistency test (tests/conf_doc.sh)
 *	conf_is_local_domain - is a domain one of `domains` (case-insensitive)?
 *
 * The syntax of single values (numbers with units, domain names, addresses)
 * lives in conf_value.c; this file knows keys, defaults and bounds.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "conf_value.h"
#include "log.h"
#include "xmalloc.h"

/* configure passes -DLOCALSTATEDIR="$(localstatedir)"; the table's default
 * texts are written for the usual /var, and the man page says they follow
 * --localstatedir. */
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR	"/var"
#endif

enum conf_type {
	CONF_T_STRING,		/* one word, checked by the row's function */
	CONF_T_PATH,		/* one word, relative to the config's dir */
	CONF_T_BOOL,		/* yes | no */
	CONF_T_ENUM,		/* one of the row's words */
	CONF_T_DURATION,	/* 30s 5m 2h 7d, bare = seconds */
	CONF_T_SIZE,		/* 512K 25M 1G, bare = bytes */
	CONF_T_UNSIGNED,
	CONF_T_DOMAINS,		/* list of domain names, lower-cased */
	CONF_T_LISTEN,		/* list of ADDR:PORT / [ADDR]:PORT */
	CONF_T_RESOLVER,	/* system | list of ADDR[:PORT] */
	CONF_T_CIDRS,		/* none | list of networks */
	CONF_T_LAST
};

#define CONF_F_REQUIRED	0x01	/* no default: the file must set it */
#define CONF_F_NONE	0x02	/* "none" is a value, and the default */
#define CONF_F_EMPTY	0x04	/* the key may appear without a value */
#define CONF_F_SYSTEM	0x08	/* the default is computed (hostname) */
#define CONF_F_BUILTIN	0x10	/* CIDRS: the word "builtin" is allowed */

struct conf_word {
	const char	*word;
	int		 value;
};

struct conf_row {
	const char	*key;
	enum conf_type	 type;
	const char	*def;		/* default, as the man page has it */
	unsigned long long min, max;	/* numbers, durations, sizes */
	size_t		 off;		/* target in struct conf */
	int		 flags;
	const struct conf_word *words;	/* CONF_T_ENUM */
	int		(*check)(char *, char *, size_t); /* STRING */
	const char	*real;		/* default actually used, if not def */
};

struct conf_parse {
	struct conf	*conf;
	FILE		*errs;
	const char	*file;
	char		 dir[PATH_MAX];	/* relative paths start here */
	unsigned	 line;		/* 0 while applying defaults */
	int		 nerr;
};

#define W(w, v)	{ w, v }
static const struct conf_word conf_w_policy[] = {
	W("off", POLICY_OFF), W("log", POLICY_LOG),
	W("enforce", POLICY_ENFORCE), W(NULL, 0) };
static const struct conf_word conf_w_bare[] = {
	W("reject", BARE_NEWLINE_REJECT),
	W("normalize", BARE_NEWLINE_NORMALIZE), W(NULL, 0) };
static const struct conf_word conf_w_match[] = {
	W("a", HELO_MATCH_A), W("ptr", HELO_MATCH_PTR),
	W("any", HELO_MATCH_ANY), W("none", HELO_MATCH_NONE), W(NULL, 0) };
static const struct conf_word conf_w_at[] = {
	W("helo", REJECT_AT_HELO), W("rcpt", REJECT_AT_RCPT), W(NULL, 0) };
static const struct conf_word conf_w_stage[] = {
	W("rcpt", CBV_STAGE_RCPT), W("mail", CBV_STAGE_MAIL), W(NULL, 0) };
static const struct conf_word conf_w_tempfail[] = {
	W("tempfail", VERDICT_TEMPFAIL), W("accept", VERDICT_ACCEPT),
	W(NULL, 0) };
static const struct conf_word conf_w_verdict[] = {
	W("tempfail", VERDICT_TEMPFAIL), W("reject", VERDICT_REJECT),
	W("accept", VERDICT_ACCEPT), W(NULL, 0) };
static const struct conf_word conf_w_unverifiable[] = {
	W("accept", VERDICT_ACCEPT), W("reject", VERDICT_REJECT), W(NULL, 0) };
static const struct conf_word conf_w_spf_fail[] = {
	W("reject", VERDICT_REJECT), W("accept", VERDICT_ACCEPT), W(NULL, 0) };
static const struct conf_word conf_w_spf_temperror[] = {
	W("accept", VERDICT_ACCEPT), W("tempfail", VERDICT_TEMPFAIL),
	W(NULL, 0) };
#undef W

#define K	1024ULL
#define MIN	60ULL
#define HOUR	3600ULL
#define DAY	86400ULL
#define O(f)	offsetof(struct conf, f)
#define STR(k, def, fl, chk) \
	{ #k, CONF_T_STRING, def, 0, 0, O(k), fl, NULL, chk, NULL }
#define PATH(k, def, fl, real) \
	{ #k, CONF_T_PATH, def, 0, 0, O(k), fl, NULL, NULL, real }
#define BOOL(k, def) \
	{ #k, CONF_T_BOOL, def, 0, 1, O(k), 0, NULL, NULL, NULL }
#define ENUM(k, def, w) \
	{ #k, CONF_T_ENUM, def, 0, 0, O(k), 0, w, NULL, NULL }
#define NUM(k, t, def, lo, hi) \
	{ #k, t, def, lo, hi, O(k), 0, NULL, NULL, NULL }
#define LIST(k, t, def, fl) \
	{ #k, t, def, 0, 0, O(k), fl, NULL, NULL, NULL }

/* The one key table. DESIGN §3 and strictmx.conf(5) list the same keys and
 * defaults; tests/conf_doc.sh proves the man page agrees, both ways.
 * Bounds: cbv timeouts stay under the 5 minutes a client waits for the
 * MAIL/RCPT reply (RFC 5321 §4.5.3.2.2-3), since the session is parked
 * meanwhile; greet_delay under the 5 minutes it waits for the greeting. */
static const struct conf_row conf_table[] = {
	STR(hostname, "the system host name", CONF_F_SYSTEM,
	    conf_value_hostname),
	LIST(listen, CONF_T_LISTEN, "0.0.0.0:25 [::]:25", 0),
	STR(user, "none", CONF_F_NONE, conf_value_user),
	LIST(domains, CONF_T_DOMAINS, "(required)", CONF_F_REQUIRED),
	PATH(recipients, "(required)", CONF_F_REQUIRED, NULL),
	STR(recipient_delimiter, "+", CONF_F_EMPTY, conf_value_delimiter),
	PATH(maildir_root, "/var/mail/strictmx", 0,
	    LOCALSTATEDIR "/mail/strictmx"),
	PATH(stats_db, "/var/lib/strictmx/stats.db", 0,
	    LOCALSTATEDIR "/lib/strictmx/stats.db"),
	LIST(resolver, CONF_T_RESOLVER, "system", 0),
	NUM(resolver_timeout, CONF_T_DURATION, "5s", 1, MIN),
	NUM(resolver_cache_size, CONF_T_UNSIGNED, "4096", 0, 100000),
	NUM(max_message_size, CONF_T_SIZE, "50M", K, 2 * K * K * K),
	NUM(max_recipients, CONF_T_UNSIGNED, "100", 1, 10000),
	NUM(max_clients, CONF_T_UNSIGNED, "1000", 1, 100000),
	NUM(max_clients_per_ip, CONF_T_UNSIGNED, "20", 1, 100000),
	NUM(client_ipv6_prefix, CONF_T_UNSIGNED, "64", 32, 128),
	NUM(max_errors, CONF_T_UNSIGNED, "10", 1, 1000),
	NUM(timeout_command, CONF_T_DURATION, "5m", 1, DAY),
	NUM(timeout_data, CONF_T_DURATION, "10m", 1, DAY),
	NUM(greet_delay, CONF_T_DURATION, "0s", 0, 2 * MIN),
	ENUM(bare_newline, "reject", conf_w_bare),
	PATH(tls_certificate, "none", CONF_F_NONE, NULL),
	PATH(tls_key, "none", CONF_F_NONE, NULL),
	LIST(exempt_clients, CONF_T_CIDRS, "none", CONF_F_NONE),
	BOOL(advertise_rfc3821, "yes"),
	STR(rfc3821_keyword, "RFC3821", 0, conf_value_keyword),
	ENUM(helo_policy, "enforce", conf_w_policy),
	ENUM(helo_match, "any", conf_w_match),
	ENUM(helo_reject_at, "helo", conf_w_at),
	ENUM(sender_policy, "enforce", conf_w_policy),
	BOOL(cbv, "yes"),
	ENUM(cbv_stage, "rcpt", conf_w_stage),
	NUM(cbv_timeout, CONF_T_DURATION, "30s", 1, 4 * MIN),
	NUM(cbv_connect_timeout, CONF_T_DURATION, "10s", 1, 4 * MIN),
	NUM(cbv_max_mx, CONF_T_UNSIGNED, "3", 1, 10),
	BOOL(cbv_noop, "yes"),
	STR(cbv_probe_sender, "<>", 0, conf_value_sender),
	ENUM(cbv_on_tempfail, "tempfail", conf_w_tempfail),
	ENUM(cbv_on_refused_early, "tempfail", conf_w_verdict),
	ENUM(cbv_on_refused_mail, "reject", conf_w_verdict),
	ENUM(cbv_on_unverifiable, "accept", conf_w_unverifiable),
	NUM(cbv_cache_positive, CONF_T_DURATION, "7d", 0, 365 * DAY),
	NUM(cbv_cache_negative, CONF_T_DURATION, "2h", 0, 365 * DAY),
	NUM(cbv_cache_tempfail, CONF_T_DURATION, "5m", 0, 365 * DAY),
	NUM(cbv_max_concurrent, CONF_T_UNSIGNED, "50", 1, 10000),
	NUM(cbv_max_per_domain, CONF_T_UNSIGNED, "5", 1, 1000),
	NUM(cbv_max_per_client_minute, CONF_T_UNSIGNED, "20", 1, 100000),
	NUM(cbv_max_per_domain_minute, CONF_T_UNSIGNED, "60", 1, 100000),
	LIST(cbv_forbidden_networks, CONF_T_CIDRS, "builtin", CONF_F_BUILTIN),
	PATH(dmp_table, "none", CONF_F_NONE, NULL),
	LIST(local_sender_networks, CONF_T_CIDRS, "none", CONF_F_NONE),
	ENUM(spf_policy, "enforce", conf_w_policy),
	ENUM(spf_on_fail, "reject", conf_w_spf_fail),
	ENUM(spf_on_temperror, "accept", conf_w_spf_temperror),
	ENUM(spf_on_permerror, "accept", conf_w_spf_fail),
	BOOL(cbv_skip_on_spf_pass, "no"),
	BOOL(dkim_verify, "yes"),
	NUM(dkim_max_signatures, CONF_T_UNSIGNED, "5", 1, 16),
	ENUM(dmarc_policy, "enforce", conf_w_policy),
	STR(dmarc_quarantine_folder, "Junk", 0, conf_value_folder),
	STR(authserv_id, "hostname", 0, conf_value_hostname),
};
#define CONF_NKEYS	(sizeof(conf_table) / sizeof(conf_table[0]))

/* conf_err - print "FILE:LINE: message" (or "FILE: message" outside any
 * line) and count it. */
static void PRINTF_LIKE(2, 3)
conf_err(struct conf_parse *p, const char *fmt, ...)
{
	va_list ap;

	p->nerr++;
	if (p->errs == NULL)
		return;
	if (p->line > 0)
		fprintf(p->errs, "%s:%u: ", p->file, p->line);
	else
		fprintf(p->errs, "%s: ", p->file);
	va_start(ap, fmt);
	vfprintf(p->errs, fmt, ap);
	va_end(ap);
	fputc('\n', p->errs);
}

/* conf_safe - a value from the file, made printable for an error line. */
static const char *
conf_safe(char *buf, size_t len, const char *s)
{
	return log_printable(buf, len, s, strlen(s));
}
#define SAFE(s)	conf_safe((char[LOG_PRINTABLE_SIZE]){ 0 }, \
		    LOG_PRINTABLE_SIZE, (s))

/* conf_set_number - durations, sizes and plain counts, bounds-checked. */
static void
conf_set_number(struct conf_parse *p, const struct conf_row *r, const char *v)
{
	void *dst = (char *)p->conf + r->off;
	unsigned long long n;
	char lo[32], hi[32];
	enum conf_value_unit u = r->type == CONF_T_DURATION ?
	    CONF_UNIT_DURATION : r->type == CONF_T_SIZE ? CONF_UNIT_SIZE :
	    CONF_UNIT_NONE;

	if (conf_value_number(v, u, &n) < 0) {
		conf_err(p, "bad value \"%s\" for %s: %s", SAFE(v), r->key,
		    r->type == CONF_T_DURATION ? "use a number of seconds, "
		    "or a number with s, m, h or d (30s, 5m, 2h, 7d)" :
		    r->type == CONF_T_SIZE ? "use a number of bytes, or a "
		    "number with K, M or G (512K, 25M, 1G)" :
		    "use a decimal number");
		return;
	}
	if (n < r->min || n > r->max) {
		conf_err(p, "value \"%s\" of %s out of range: must be between "
		    "%s and %s", SAFE(v), r->key,
		    conf_value_unit_text(lo, sizeof(lo), u, r->min),
		    conf_value_unit_text(hi, sizeof(hi), u, r->max));
		return;
	}
	if (r->type == CONF_T_SIZE)
		*(size_t *)dst = (size_t)n;
	else
		*(unsigned *)dst = (unsigned)n;
}

/* conf_set_word - bool and enum keys: the words are case-insensitive. */
static void
conf_set_word(struct conf_parse *p, const struct conf_row *r, const char *v)
{
	static const struct conf_word yesno[] = {
		{ "yes", 1 }, { "no", 0 }, { NULL, 0 } };
	const struct conf_word *w = r->type == CONF_T_BOOL ? yesno : r->words;
	char allowed[128];
	size_t i, o = 0;
	int m;

	for (i = 0; w[i].word != NULL; i++)
		if (strcasecmp(v, w[i].word) == 0) {
			*(int *)((char *)p->conf + r->off) = w[i].value;
			return;
		}
	allowed[0] = '\0';
	for (i = 0; w[i].word != NULL && o < sizeof(allowed); i++) {
		m = snprintf(allowed + o, sizeof(allowed) - o, "%s%s",
		    i == 0 ? "" : w[i + 1].word ? ", " : " or ", w[i].word);
		if (m < 0)
			break;
		o += (size_t)m;
	}
	conf_err(p, "bad value \"%s\" for %s: use %s", SAFE(v), r->key,
	    allowed);
}

/* conf_set_string - one-word strings and paths. A relative path is taken
 * relative to the directory of the config file, so that a checkout's
 * conf/dev.conf can point at ../spool whatever the current directory. */
static void
conf_set_string(struct conf_parse *p, const struct conf_row *r, char *v)
{
	char **dst = (char **)(void *)((char *)p->conf + r->off);
	char why[160], path[PATH_MAX];
	int n;

	if ((r->flags & CONF_F_NONE) && strcasecmp(v, "none") == 0)
		return;
	if (r->type == CONF_T_STRING) {
		/* The checker may rewrite its copy (<addr> -> addr). */
		*dst = xstrdup(v);
		if (r->check != NULL && !r->check(*dst, why, sizeof(why))) {
			conf_err(p, "bad value \"%s\" for %s: %s", SAFE(v),
			    r->key, why);
			free(*dst);
			*dst = NULL;
		}
		return;
	}
	n = v[0] == '/' ? snprintf(path, sizeof(path), "%s", v) :
	    snprintf(path, sizeof(path), "%s/%s", p->dir, v);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		conf_err(p, "path \"%s\" for %s is too long", SAFE(v), r->key);
		return;
	}
	*dst = xstrdup(path);
}

/* conf_set_list - the list types; each bad element gets its own error. */
static void
conf_set_list(struct conf_parse *p, const struct conf_row *r, char **w,
    size_t n)
{
	struct conf *c = p->conf;
	char why[160];
	size_t i, j;

	if (r->type == CONF_T_CIDRS) {
		struct cidr_list *l = (struct cidr_list *)(void *)
		    ((char *)c + r->off);

		if (n == 1 && strcasecmp(w[0], "none") == 0)
			return;
		for (i = 0; i < n; i++)
			if ((r->flags & CONF_F_BUILTIN) &&
			    strcasecmp(w[i], "builtin") == 0)
				c->cbv_forbidden_builtin = 1;
			else if (cidr_list_add(l, w[i]) < 0)
				conf_err(p, "bad network \"%s\" in %s: use "
				    "ADDR/BITS or an address (192.0.2.0/24, "
				    "2001:db8::/32, 192.0.2.1)",
				    SAFE(w[i]), r->key);
		return;
	}
	if (r->type == CONF_T_RESOLVER && n == 1 &&
	    strcasecmp(w[0], "system") == 0)
		return;
	if (r->type == CONF_T_RESOLVER && n > CONF_RESOLVER_MAX) {
		conf_err(p, "too many resolver addresses: at most %d",
		    CONF_RESOLVER_MAX);
		return;
	}
	if (r->type == CONF_T_DOMAINS) {
		c->domains = xcalloc(n, sizeof(*c->domains));
		for (i = 0; i < n; i++) {
			size_t len = strlen(w[i]);

			if (len > 1 && w[i][len - 1] == '.')
				w[i][len - 1] = '\0';	/* root dot */
			for (j = 0; w[i][j] != '\0'; j++)
				w[i][j] = (char)tolower((unsigned char)w[i][j]);
			why[0] = '\0';		/* set only on failure */
			if (conf_value_domain(w[i], why, sizeof(why)) &&
			    strchr(w[i], '.') == NULL)
				snprintf(why, sizeof(why), "not fully "
				    "qualified");
			if (why[0] != '\0') {
				conf_err(p, "bad domain \"%s\" in domains: %s",
				    SAFE(w[i]), why);
				continue;
			}
			if (conf_is_local_domain(c, w[i])) {
				conf_err(p, "domain \"%s\" is listed twice",
				    w[i]);
				continue;
			}
			c->domains[c->ndomains++] = xstrdup(w[i]);
		}
		return;
	}
	if (r->type == CONF_T_LISTEN)
		c->listen = xcalloc(n, sizeof(*c->listen));
	else {
		c->resolver = xcalloc(n, sizeof(*c->resolver));
		c->resolver_addr = xcalloc(n, sizeof(*c->resolver_addr));
	}
	for (i = 0; i < n; i++) {
		struct conf_listen *a = r->type == CONF_T_LISTEN ?
		    &c->listen[c->nlisten] : &c->resolver_addr[c->nresolver];

		if (conf_value_hostport(w[i], r->type == CONF_T_LISTEN ? 0 : 53,
		    a) < 0) {
			conf_err(p, "bad address \"%s\" in %s: use %s",
			    SAFE(w[i]), r->key, r->type == CONF_T_LISTEN ?
			    "ADDR:PORT, or [ADDR]:PORT for IPv6" :
			    "system, or ADDR[:PORT], IPv6 as [ADDR]:PORT or "
			    "bare");
			continue;
		}
		for (j = 0; r->type == CONF_T_LISTEN && j < c->nlisten; j++)
			if (c->listen[j].len == a->len &&
			    memcmp(&c->listen[j].ss, &a->ss, a->len) == 0)
				break;
		if (r->type == CONF_T_LISTEN && j < c->nlisten) {
			conf_err(p, "listen address \"%s\" is listed twice",
			    SAFE(w[i]));
			continue;
		}
		if (r->type == CONF_T_LISTEN)
			c->nlisten++;
		else
			c->resolver[c->nresolver++] = xstrdup(w[i]);
	}
}

/* conf_set - give key r the value words w[0..n-1]. */
static void
conf_set(struct conf_parse *p, const struct conf_row *r, char **w, size_t n)
{
	if (n == 0) {
		if (r->flags & CONF_F_EMPTY)
			*(char **)(void *)((char *)p->conf + r->off) =
			    xstrdup("");
		else
			conf_err(p, "key %s needs a value", r->key);
		return;
	}
	if (r->type < CONF_T_DOMAINS && n > 1) {
		conf_err(p, "key %s takes one value, not %zu", r->key, n);
		return;
	}
	switch (r->type) {
	case CONF_T_STRING:
	case CONF_T_PATH:
		conf_set_string(p, r, w[0]);
		break;
	case CONF_T_BOOL:
	case CONF_T_ENUM:
		conf_set_word(p, r, w[0]);
		break;
	case CONF_T_DURATION:
	case CONF_T_SIZE:
	case CONF_T_UNSIGNED:
		conf_set_number(p, r, w[0]);
		break;
	default:
		conf_set_list(p, r, w, n);
		break;
	}
}

/* conf_default - apply a key's default; a default that does not parse is
 * a bug in the table, reported like any error so that tests catch it. */
static void
conf_default(struct conf_parse *p, const struct conf_row *r)
{
	char buf[256], *w[8], *tok, *save = NULL;
	size_t n = 0;

	if (r->flags & (CONF_F_NONE | CONF_F_SYSTEM))
		return;
	snprintf(buf, sizeof(buf), "%s", r->real ? r->real : r->def);
	for (tok = strtok_r(buf, " ", &save); tok != NULL && n < 8;
	    tok = strtok_r(NULL, " ", &save))
		w[n++] = tok;
	conf_set(p, r, w, n);
}

/* conf_system_hostname - the default hostname: gethostname(), which does
 * not wait on DNS. Its syntax is checked like a configured one. */
static void
conf_system_hostname(struct conf_parse *p)
{
	char name[SMTP_DOMAIN_MAX + 1], why[160];

	if (gethostname(name, sizeof(name)) < 0 || name[0] == '\0')
		snprintf(name, sizeof(name), "localhost");
	name[sizeof(name) - 1] = '\0';
	if (!conf_value_domain(name, why, sizeof(why))) {
		conf_err(p, "system host name \"%s\" is not a valid domain "
		    "name (%s): set hostname", SAFE(name), why);
		return;
	}
	p->conf->hostname = xstrdup(name);
}

/* conf_readline - read one line into buf (at most CONF_LINE_MAX bytes, no
 * newline), discarding the rest of an over-long one. Returns -1 at end of
 * file, else the line's full length (> CONF_LINE_MAX: too long); *nul is
 * set when the line held a NUL byte. */
static long
conf_readline(FILE *fp, char *buf, int *nul)
{
	long len = 0;
	int ch;

	*nul = 0;
	while ((ch = getc(fp)) != EOF && ch != '\n') {
		if (ch == '\0')
			*nul = 1;
		if (len < CONF_LINE_MAX)
			buf[len] = (char)ch;
		if (len <= CONF_LINE_MAX)
			len++;
	}
	if (ch == EOF && len == 0)
		return -1;
	buf[len < CONF_LINE_MAX ? len : CONF_LINE_MAX] = '\0';
	return len;
}

/* conf_line - parse one line: strip the comment (a '#' at the start or
 * after white space), split into words, find the key, set it. */
static void
conf_line(struct conf_parse *p, char *buf, unsigned *seen)
{
	char *w[CONF_LINE_MAX / 2 + 1], *s, *key, *save = NULL;
	size_t n = 0, i;

	for (s = buf; *s != '\0'; s++) {
		if (*s == '#' && (s == buf || s[-1] == ' ' || s[-1] == '\t')) {
			*s = '\0';
			break;
		}
		if (*s == '\r' && s[1] == '\0')
			*s = ' ';	/* tolerate CRLF files */
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f) {
			conf_err(p, "line contains a control character");
			return;
		}
	}
	for (s = strtok_r(buf, " \t", &save); s != NULL;
	    s = strtok_r(NULL, " \t", &save))
		w[n++] = s;
	if (n == 0)
		return;
	key = w[0];
	for (i = 0; i < CONF_NKEYS; i++)
		if (strcmp(key, conf_table[i].key) == 0)
			break;
	if (i == CONF_NKEYS) {
		conf_err(p, "unknown key \"%s\"", SAFE(key));
		return;
	}
	if (seen[i] != 0) {
		conf_err(p, "duplicate key \"%s\" (first set at line %u)",
		    key, seen[i]);
		return;
	}
	seen[i] = p->line;
	conf_set(p, &conf_table[i], w + 1, n - 1);
}

/* conf_dir - the directory of the config file, absolute when possible. */
static void
conf_dir(struct conf_parse *p, const char *file)
{
	char d[PATH_MAX], *slash;

	snprintf(d, sizeof(d), "%s", file);
	if ((slash = strrchr(d, '/')) == NULL)
		snprintf(d, sizeof(d), ".");
	else if (slash == d)
		d[1] = '\0';
	else
		*slash = '\0';
	if (realpath(d, p->dir) == NULL)
		snprintf(p->dir, sizeof(p->dir), "%s", d);
}

/* conf_load - parse file; every problem goes to errs as FILE:LINE: text.
 * Returns the configuration, or NULL after any error. */
struct conf *
conf_load(const char *file, FILE *errs)
{
	struct conf_parse p = { .errs = errs, .file = file };
	char buf[CONF_LINE_MAX + 1];
	unsigned seen[CONF_NKEYS] = { 0 };
	const struct conf_row *r;
	FILE *fp;
	long len;
	int nul;
	size_t i;

	if ((fp = fopen(file, "r")) == NULL) {
		conf_err(&p, "cannot open: %s", strerror(errno));
		return NULL;
	}
	p.conf = xcalloc(1, sizeof(*p.conf));
	p.conf->path = xstrdup(file);
	conf_dir(&p, file);
	while ((len = conf_readline(fp, buf, &nul)) >= 0) {
		p.line++;
		if (len > CONF_LINE_MAX)
			conf_err(&p, "line longer than %d bytes",
			    CONF_LINE_MAX);
		else if (nul)
			conf_err(&p, "line contains a NUL byte");
		else
			conf_line(&p, buf, seen);
	}
	if (ferror(fp)) {
		p.line = 0;
		conf_err(&p, "read error: %s", strerror(errno));
		fclose(fp);
		conf_free(p.conf);
		return NULL;
	}
	fclose(fp);

	p.line = 0;
	for (i = 0; i < CONF_NKEYS; i++) {
		r = &conf_table[i];
		if (seen[i] != 0)
			continue;
		if (r->flags & CONF_F_REQUIRED)
			conf_err(&p, "missing required key \"%s\"", r->key);
		else if (r->flags & CONF_F_SYSTEM)
			conf_system_hostname(&p);
		else
			conf_default(&p, r);
	}

	/* authserv_id follows hostname unless set (RFC 8601 §2.5: it names
	 * the host or ADMD that did the checks). */
	if (p.conf->authserv_id != NULL && p.conf->hostname != NULL &&
	    strcmp(p.conf->authserv_id, "hostname") == 0) {
		free(p.conf->authserv_id);
		p.conf->authserv_id = xstrdup(p.conf->hostname);
	}

	/* STARTTLS needs both halves; say where the lonely one was set. */
	if ((p.conf->tls_certificate == NULL) != (p.conf->tls_key == NULL)) {
		for (i = 0; i < CONF_NKEYS; i++)
			if (strcmp(conf_table[i].key, p.conf->tls_key ?
			    "tls_key" : "tls_certificate") == 0)
				p.line = seen[i];
		conf_err(&p, "%s is set but %s is not: STARTTLS needs both",
		    p.conf->tls_key ? "tls_key" : "tls_certificate",
		    p.conf->tls_key ? "tls_certificate" : "tls_key");
		p.line = 0;
	}
	if (p.nerr == 0 && p.conf->hostname != NULL &&
	    strchr(p.conf->hostname, '.') == NULL && errs != NULL)
		fprintf(errs, "%s: warning: hostname \"%s\" is not fully "
		    "qualified\n", file, p.conf->hostname);
	if (p.nerr > 0) {
		conf_free(p.conf);
		return NULL;
	}
	return p.conf;
}

/* conf_free - release c and everything it owns; NULL is fine. */
void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < CONF_NKEYS; i++) {
		const struct conf_row *r = &conf_table[i];

		if (r->type == CONF_T_STRING || r->type == CONF_T_PATH)
			free(*(char **)(void *)((char *)c + r->off));
	}
	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	for (i = 0; i < c->nresolver; i++)
		free(c->resolver[i]);
	free(c->domains);
	free(c->resolver);
	free(c->resolver_addr);
	free(c->listen);
	cidr_list_free(&c->exempt_clients);
	cidr_list_free(&c->local_sender_networks);
	cidr_list_free(&c->cbv_forbidden_networks);
	free(c->path);
	free(c);
}

/* conf_keys - every key with its default as strictmx.conf(5) writes it. */
const struct conf_keyinfo *
conf_keys(size_t *n)
{
	static struct conf_keyinfo v[CONF_NKEYS];
	size_t i;

	for (i = 0; i < CONF_NKEYS; i++) {
		v[i].key = conf_table[i].key;
		v[i].def = conf_table[i].def;
	}
	*n = CONF_NKEYS;
	return v;
}

/* conf_is_local_domain - 1 when domain (any case, one optional trailing
 * root dot) is one of `domains`. */
int
conf_is_local_domain(const struct conf *c, const char *domain)
{
	size_t len = strlen(domain), i;

	if (len > 1 && domain[len - 1] == '.')
		len--;
	for (i = 0; i < c->ndomains; i++)
		if (strlen(c->domains[i]) == len &&
		    strncasecmp(c->domains[i], domain, len) == 0)
			return 1;
	return 0;
}
