/* ctl_cbv.c - the admin's view of return-path verification: one CBV run
 * now with its transcript, and the CBV cache listed, flushed or trimmed.
 *
 *	ctl_cbv_main - `strictmxctl cbv ADDRESS`: DNS then the probe on a
 *		private event loop, every step printed, then the verdict;
 *		exit 0 pass, 1 fail, 2 tempfail, 64 usage
 *	ctl_cache_main - `strictmxctl cache list|flush|delete ADDRESS`; exit
 *		0 done, 1 error (or address not cached), 64 usage; the list
 *		is a table with a title row, as `sessions`
 *
 * The run ignores the cache and the checks that decide without a probe
 * (our own domains, dmp_table): it exists to see what a remote MX says.
 * It says so when the daemon would not have probed. The verdict and its
 * reply come from sender_verdict.c, the daemon's own code, under the
 * loaded configuration (cbv_on_*, sender_policy).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "addr.h"
#include "cbv.h"
#include "cbv_cache.h"
#include "conf.h"
#include "ctl_cbv.h"
#include "ctl_table.h"
#include "strictmxctl.h"
#include "resolver.h"
#include "sender.h"
#include "sender_verdict.h"
#include "xmalloc.h"

/* Seconds allowed on top of cbv_timeout before the run gives up (DNS has
 * its own bound in resolver.c; this only guards against a hang). */
#define CTL_CBV_GRACE	30

/* Room for one printable field: every octet may become "\xHH". */
#define CTL_CBV_PRINTABLE(n)	((n) * 4 + 1)

/* One run of `strictmxctl cbv`. */
struct ctl_cbv_run {
	const struct conf	*conf;
	struct event_base	*base;
	struct mailaddr		 addr;
	char			 key[SMTP_PATH_MAX + 1];
	struct resolver_query	*q_mx, *q_a, *q_aaaa;
	int			 a_done, aaaa_done;
	enum resolver_status	 a_st, aaaa_st;
	struct resolver_mx	 mx[RESOLVER_MAX_RR];
	size_t			 nmx;
	struct cbv_waiter	*waiter;
	struct sender_verdict	 v;
	int			 decided;
};

/* ctl_cbv_printable - untrusted text for the terminal: printable ASCII as
 * is, anything else as \xHH; cut to fit dst (len >= 1). */
static const char *
ctl_cbv_printable(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	unsigned char c;

	for (; (c = (unsigned char)*src) != '\0'; src++) {
		if (c >= 0x20 && c < 0x7f) {
			if (o + 2 > len)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 5 > len)
				break;
			snprintf(dst + o, len - o, "\\x%02x", c);
			o += 4;
		}
	}
	dst[o] = '\0';
	return dst;
}

/* ctl_cbv_parse - ADDRESS with or without <>, as MAIL FROM would take
 * it; 0 or -1. */
static int
ctl_cbv_parse(const char *arg, struct mailaddr *a)
{
	char buf[SMTP_PATH_MAX + 3];
	const char *rest = NULL;
	int n;

	n = snprintf(buf, sizeof(buf), arg[0] == '<' ? "%s" : "<%s>", arg);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	if (addr_parse(buf, a, &rest, 0) != ADDR_OK || rest == NULL ||
	    *rest != '\0' || a->domain[0] == '\0')
		return -1;
	return 0;
}

/* ctl_cbv_finish - the verdict is in: leave the loop (the probe's QUIT
 * is still let out before ctl_cbv_print prints it). */
static void
ctl_cbv_finish(struct ctl_cbv_run *run)
{
	run->decided = 1;
	event_base_loopexit(run->base, NULL);
}

/* ctl_cbv_print - the verdict line, last, after the whole transcript. */
static void
ctl_cbv_print(const struct ctl_cbv_run *run)
{
	const struct sender_verdict *v = &run->v;

	printf("verdict: %s  (%s)\n", v->outcome,
	    v->reply[0] != '\0' ? v->reply : "250 2.1.0 Ok");
	if (v->code != 0 && !v->enforced)
		printf("note: sender_policy is not enforce: the daemon would "
		    "accept and log this\n");
	fflush(stdout);
}

/* ctl_cbv_dns - DNS decided: print why and finish. */
static void
ctl_cbv_dns(struct ctl_cbv_run *run, enum sender_dns d)
{
	if (d == SENDER_DNS_NODATA)
		d = SENDER_DNS_NOMX;
	printf("dns: %s\n", sender_verdict_dns_name(d));
	sender_verdict_dns(run->conf, &run->addr, d, &run->v);
	ctl_cbv_finish(run);
}

/* ctl_cbv_trace_cb - one transcript line of cbv.c. */
static void
ctl_cbv_trace_cb(const char *line, void *arg __unused)
{
	char buf[CTL_CBV_PRINTABLE(640)];

	printf("  %s\n", ctl_cbv_printable(buf, sizeof(buf), line));
	fflush(stdout);
}

/* ctl_cbv_probe_cb - the probe's result. */
static void
ctl_cbv_probe_cb(const struct cbv_result *r, void *arg)
{
	struct ctl_cbv_run *run = arg;
	char mx[CTL_CBV_PRINTABLE(SMTP_DOMAIN_MAX + 1)];

	run->waiter = NULL;
	printf("probe: %s at %s via %s in %.1fs, RFC3821 %s\n",
	    cbv_outcome_name(r->outcome), cbv_stage_name(r->stage),
	    r->mx_host[0] != '\0' ?
	    ctl_cbv_printable(mx, sizeof(mx), r->mx_host) : "-",
	    r->duration, r->rfc3821 ? "advertised" : "not advertised");
	sender_verdict_probe(run->conf, &run->addr, r, &run->v);
	ctl_cbv_finish(run);
}

/* ctl_cbv_probe - DNS found mail hosts: call back. */
static void
ctl_cbv_probe(struct ctl_cbv_run *run)
{
	char k[CTL_CBV_PRINTABLE(SMTP_PATH_MAX + 1)];

	printf("probe: RCPT TO:<%s>, %zu MX host(s), at most %u tried\n",
	    ctl_cbv_printable(k, sizeof(k), run->key), run->nmx,
	    run->conf->cbv_max_mx);
	fflush(stdout);
	run->waiter = cbv_probe(run->key, run->mx, run->nmx,
	    ctl_cbv_probe_cb, run);
	if (run->waiter == NULL) {
		printf("probe: cannot start the call-back client\n");
		sender_verdict_dns(run->conf, &run->addr, SENDER_DNS_TEMPFAIL,
		    &run->v);
		ctl_cbv_finish(run);
	}
}

/* ctl_cbv_print_addrs - "a example.com: 192.0.2.1, 192.0.2.2". */
static void
ctl_cbv_print_addrs(const char *type, const char *domain,
    const struct resolver_result *r)
{
	char ip[INET6_ADDRSTRLEN];
	const void *p;
	size_t i;

	printf("%s %s:", type, domain);
	if (r->status != RESOLVER_OK || r->n == 0) {
		printf(" none (%s)\n", resolver_status_text(r->status));
		return;
	}
	for (i = 0; i < r->n && i < RESOLVER_MAX_RR; i++) {
		if (r->addr[i].ss_family == AF_INET)
			p = &((const struct sockaddr_in *)(const void *)
			    &r->addr[i])->sin_addr;
		else
			p = &((const struct sockaddr_in6 *)(const void *)
			    &r->addr[i])->sin6_addr;
		if (inet_ntop(r->addr[i].ss_family, p, ip, sizeof(ip)) == NULL)
			snprintf(ip, sizeof(ip), "?");
		printf("%s %s", i ? "," : "", ip);
	}
	printf("\n");
}

/* ctl_cbv_addr_done - A and AAAA both answered: implicit MX or not. */
static void
ctl_cbv_addr_done(struct ctl_cbv_run *run)
{
	enum sender_dns d = sender_verdict_addr(run->a_st, run->aaaa_st);

	if (d != SENDER_DNS_OK) {
		ctl_cbv_dns(run, d);
		return;
	}
	printf("implicit MX: %s (RFC 5321 section 5.1)\n", run->addr.domain);
	memset(run->mx, 0, sizeof(run->mx[0]));
	snprintf(run->mx[0].name, sizeof(run->mx[0].name), "%s",
	    run->addr.domain);
	run->nmx = 1;
	ctl_cbv_probe(run);
}

static enum resolver_status
ctl_cbv_addr_status(const struct resolver_result *r)
{
	return r->status == RESOLVER_OK && r->n == 0 ? RESOLVER_NODATA :
	    r->status;
}

static void
ctl_cbv_a_cb(const struct resolver_result *r, void *arg)
{
	struct ctl_cbv_run *run = arg;

	run->q_a = NULL;
	run->a_done = 1;
	run->a_st = ctl_cbv_addr_status(r);
	ctl_cbv_print_addrs("a", run->addr.domain, r);
	if (run->aaaa_done)
		ctl_cbv_addr_done(run);
}

static void
ctl_cbv_aaaa_cb(const struct resolver_result *r, void *arg)
{
	struct ctl_cbv_run *run = arg;

	run->q_aaaa = NULL;
	run->aaaa_done = 1;
	run->aaaa_st = ctl_cbv_addr_status(r);
	ctl_cbv_print_addrs("aaaa", run->addr.domain, r);
	if (run->a_done)
		ctl_cbv_addr_done(run);
}

/* ctl_cbv_mx_cb - "mx example.com: 10 mx1.example.com, 20 mx2..." */
static void
ctl_cbv_mx_cb(const struct resolver_result *r, void *arg)
{
	struct ctl_cbv_run *run = arg;
	char name[CTL_CBV_PRINTABLE(SMTP_DOMAIN_MAX + 1)];
	enum sender_dns d;
	size_t i;

	run->q_mx = NULL;
	printf("mx %s:", run->addr.domain);
	if (r->status == RESOLVER_OK && r->n > 0)
		for (i = 0; i < r->n && i < RESOLVER_MAX_RR; i++)
			printf("%s %u %s", i ? "," : "", r->mx[i].pref,
			    r->mx[i].name[0] != '\0' ? ctl_cbv_printable(name,
			    sizeof(name), r->mx[i].name) : ". (null MX)");
	else
		printf(" %s", resolver_status_text(r->status));
	printf("\n");
	d = sender_verdict_mx(r, run->mx, RESOLVER_MAX_RR, &run->nmx);
	if (d == SENDER_DNS_OK) {
		ctl_cbv_probe(run);
		return;
	}
	if (d != SENDER_DNS_NODATA) {
		ctl_cbv_dns(run, d);
		return;
	}
	if ((run->q_a = resolver_a(run->addr.domain, ctl_cbv_a_cb, run)) ==
	    NULL)
		run->a_done = 1, run->a_st = RESOLVER_TEMPFAIL;
	if ((run->q_aaaa = resolver_aaaa(run->addr.domain, ctl_cbv_aaaa_cb,
	    run)) == NULL)
		run->aaaa_done = 1, run->aaaa_st = RESOLVER_TEMPFAIL;
	if (run->a_done && run->aaaa_done)
		ctl_cbv_addr_done(run);
}

/* ctl_cbv_timeout_cb - nothing decided in time (should not happen). */
static void
ctl_cbv_timeout_cb(evutil_socket_t fd __unused, short ev __unused,
    void *arg)
{
	struct ctl_cbv_run *run = arg;

	printf("timeout: no answer within %u seconds\n",
	    run->conf->cbv_timeout + CTL_CBV_GRACE);
	sender_verdict_dns(run->conf, &run->addr, SENDER_DNS_TEMPFAIL,
	    &run->v);
	ctl_cbv_finish(run);
}

/* ctl_cbv_notes - say when the daemon would decide without a probe. */
static void
ctl_cbv_notes(const struct conf *conf, const struct mailaddr *a)
{
	size_t i;

	for (i = 0; i < conf->ndomains; i++)
		if (strcasecmp(conf->domains[i], a->domain) == 0)
			printf("note: %s is one of our domains: the daemon "
			    "never probes it (local_sender_networks "
			    "decides)\n", a->domain);
	if (!conf->cbv)
		printf("note: cbv is off: the daemon stops after DNS\n");
	if (conf->sender_policy == POLICY_OFF)
		printf("note: sender_policy is off: the daemon checks "
		    "nothing\n");
}

/* ctl_cbv_main - `strictmxctl cbv ADDRESS`. */
int
ctl_cbv_main(const struct conf *conf, int argc, char **argv)
{
	struct timeval tv = { 0, 0 };
	struct ctl_cbv_run run;
	struct event *timer = NULL;
	char k[CTL_CBV_PRINTABLE(SMTP_PATH_MAX + 1)];
	int status = 2;

	if (argc > 0 && strcmp(argv[0], "cbv") == 0)
		argc--, argv++;
	memset(&run, 0, sizeof(run));
	run.conf = conf;
	if (argc != 1 || ctl_cbv_parse(argv[0], &run.addr) < 0) {
		fprintf(stderr, "usage: strictmxctl cbv ADDRESS "
		    "(local@domain)\n");
		return CTL_EXIT_USAGE;
	}
	if (run.addr.domain[0] == '[') {
		fprintf(stderr, "strictmxctl: cbv: an address literal has no "
		    "MX to call back\n");
		return CTL_EXIT_USAGE;
	}
	cbv_cache_key(&run.addr, run.key, sizeof(run.key));
	/* cbv.c writes to sockets a remote may have reset (cbv.c). */
	signal(SIGPIPE, SIG_IGN);
	if ((run.base = event_base_new()) == NULL ||
	    resolver_init(run.base, conf) < 0 ||
	    cbv_init(run.base, conf) < 0) {
		fprintf(stderr, "strictmxctl: cbv: cannot start the event "
		    "loop, resolver or CBV client\n");
		goto out;
	}
	cbv_set_trace(ctl_cbv_trace_cb, NULL);
	printf("address: %s\n", ctl_cbv_printable(k, sizeof(k), run.key));
	ctl_cbv_notes(conf, &run.addr);
	fflush(stdout);
	tv.tv_sec = conf->cbv_timeout + CTL_CBV_GRACE;
	if ((timer = evtimer_new(run.base, ctl_cbv_timeout_cb, &run)) ==
	    NULL || evtimer_add(timer, &tv) < 0)
		goto out;
	if ((run.q_mx = resolver_mx(run.addr.domain, ctl_cbv_mx_cb, &run)) ==
	    NULL) {
		printf("mx %s: cannot submit the query\n", run.addr.domain);
		ctl_cbv_dns(&run, SENDER_DNS_TEMPFAIL);
	} else
		event_base_dispatch(run.base);
	/* The verdict is in; let the probe say QUIT and hear its 221 (cbv.c
	 * bounds that wait), so the transcript is the whole dialogue. */
	while (cbv_pending() > 0 &&
	    event_base_loop(run.base, EVLOOP_ONCE) == 0)
		;
	if (run.decided)
		ctl_cbv_print(&run);
	if (run.decided)
		status = strcmp(run.v.outcome, "pass") == 0 ? 0 :
		    strcmp(run.v.outcome, "fail") == 0 ? 1 : 2;
out:
	if (run.waiter != NULL)
		cbv_cancel(run.waiter);
	if (run.q_mx != NULL)
		resolver_cancel(run.q_mx);
	if (run.q_a != NULL)
		resolver_cancel(run.q_a);
	if (run.q_aaaa != NULL)
		resolver_cancel(run.q_aaaa);
	cbv_set_trace(NULL, NULL);
	cbv_shutdown();
	resolver_shutdown();
	if (timer != NULL)
		event_free(timer);
	if (run.base != NULL)
		event_base_free(run.base);
	return status;
}

/* The `cache list` columns; the reply (remote text) comes last. */
static const char *const ctl_cache_titles[] = {
	"ADDRESS", "OUTCOME", "STAGE", "EXPIRES", "REPLY",
};
static const int ctl_cache_right[] = { 0, 0, 0, 0, 0 };

struct ctl_cache_list {
	struct ctl_table	 t;
	time_t			 now;
};

/* ctl_cache_print - one `cache list` row; every text made printable. */
static int
ctl_cache_print(const struct cbv_cache_entry *e, void *arg)
{
	struct ctl_cache_list *l = arg;
	char a[CTL_CBV_PRINTABLE(SMTP_PATH_MAX + 1)];
	char r[CTL_CBV_PRINTABLE(SMTP_REPLYLINE_MAX + 1)];
	char o[CTL_CBV_PRINTABLE(16)], s[CTL_CBV_PRINTABLE(16)];
	char when[48];
	time_t t = (time_t)e->expires;
	struct tm tm;
	char **row = ctl_table_row(&l->t);

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "?");
	row[0] = xstrdup(ctl_cbv_printable(a, sizeof(a), e->address));
	row[1] = xstrdup(ctl_cbv_printable(o, sizeof(o), e->outcome));
	row[2] = xstrdup(e->stage[0] != '\0' ?
	    ctl_cbv_printable(s, sizeof(s), e->stage) : "-");
	row[3] = ctl_cellf("%s%s", when, t <= l->now ? " (expired)" : "");
	row[4] = xstrdup(e->reply[0] != '\0' ?
	    ctl_cbv_printable(r, sizeof(r), e->reply) : "-");
	return 0;
}

/* ctl_cache_main - `strictmxctl cache list|flush|delete ADDRESS` on the
 * database at dbpath (never created here: the daemon makes the schema). */
int
ctl_cache_main(const struct conf *conf __unused, const char *dbpath,
    int argc, char **argv)
{
	struct ctl_cache_list l;
	struct mailaddr a;
	char key[SMTP_PATH_MAX + 3], pk[CTL_CBV_PRINTABLE(SMTP_PATH_MAX + 3)];
	sqlite3 *db = NULL;
	time_t now = time(NULL);
	int list, n, status = 1;

	if (argc > 0 && strcmp(argv[0], "cache") == 0)
		argc--, argv++;
	if (argc < 1 || (strcmp(argv[0], "list") != 0 &&
	    strcmp(argv[0], "flush") != 0 && strcmp(argv[0], "delete") != 0) ||
	    (strcmp(argv[0], "delete") == 0) != (argc == 2) || argc > 2 ||
	    dbpath == NULL) {
		fprintf(stderr, "usage: strictmxctl cache list | flush | "
		    "delete ADDRESS\n");
		return CTL_EXIT_USAGE;
	}
	list = strcmp(argv[0], "list") == 0;
	if (sqlite3_open_v2(dbpath, &db, list ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "strictmxctl: %s: %s\n", dbpath,
		    db != NULL ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	/* The daemon holds the write lock a few ms a second at most. */
	sqlite3_busy_timeout(db, 5000);
	if (list) {
		ctl_table_init(&l.t, ctl_cache_titles, ctl_cache_right,
		    sizeof(ctl_cache_right) / sizeof(ctl_cache_right[0]));
		l.now = now;
		n = cbv_cache_list(db, ctl_cache_print, &l);
		if (n >= 0)
			ctl_table_print(stdout, &l.t);
		ctl_table_free(&l.t);
		if (n < 0)
			goto fail;
		printf("%d entr%s\n", n, n == 1 ? "y" : "ies");
		status = 0;
	} else if (strcmp(argv[0], "flush") == 0) {
		if ((n = cbv_cache_flush(db)) < 0)
			goto fail;
		printf("flushed %d entr%s\n", n, n == 1 ? "y" : "ies");
		status = 0;
	} else {
		/* The key is the daemon's normalised form; an argument that
		 * does not parse is taken as a key as listed. */
		if (ctl_cbv_parse(argv[1], &a) == 0)
			cbv_cache_key(&a, key, sizeof(key));
		else
			snprintf(key, sizeof(key), "%s", argv[1]);
		if ((n = cbv_cache_delete(db, key)) < 0)
			goto fail;
		ctl_cbv_printable(pk, sizeof(pk), key);
		printf(n > 0 ? "deleted %s\n" : "%s: not in the cache\n", pk);
		status = n > 0 ? 0 : 1;
	}
	goto out;
fail:
	fprintf(stderr, "strictmxctl: %s: %s\n", dbpath, sqlite3_errmsg(db));
out:
	sqlite3_close(db);
	return status;
}
