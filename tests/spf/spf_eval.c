/* spf_eval.c - run strictmx's SPF evaluator (smtpd/spf.c) on cases read
 * from stdin, against one DNS server; for the RFC 7208 suite and pyspf.
 *
 *	main - spf_eval -s ADDR[:PORT] [-t RESOLVER_SECS] [-T OVERALL_SECS]
 *		[-r RECEIVER]; reads "ID<TAB>IP<TAB>MAILFROM<TAB>HELO" lines,
 *		runs every case at once on one event loop, prints
 *		"ID<TAB>RESULT<TAB>EXPLANATION<TAB>PROBLEM" per case (in the
 *		order they finish), exits 0 (2 on a usage or setup error)
 *
 * MAILFROM may be empty (null sender: the HELO identity) or lack a local
 * part ("@example.org"). Tabs and line ends in the printed texts become
 * spaces. Not installed: a test tool only.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "spf.h"
#include "xmalloc.h"

#define EVAL_FIELD_MAX	1024

struct eval_case {
	char			 id[EVAL_FIELD_MAX];
	struct spf_check	*check;
};

static unsigned eval_running;

/* eval_clean - text with tabs and line ends as spaces, for one field. */
static const char *
eval_clean(char *buf, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') ?
		    ' ' : s[i];
	buf[i] = '\0';
	return buf;
}

static void
eval_print(const char *id, const char *result, const char *exp,
    const char *problem)
{
	char a[EVAL_FIELD_MAX], b[EVAL_FIELD_MAX], c[EVAL_FIELD_MAX];

	printf("%s\t%s\t%s\t%s\n", eval_clean(a, sizeof(a), id), result,
	    eval_clean(b, sizeof(b), exp), eval_clean(c, sizeof(c), problem));
	fflush(stdout);
}

static void
eval_done(void *arg, const struct spf_outcome *o)
{
	struct eval_case *ec = arg;

	eval_print(ec->id, spf_result_text(o->result), o->explanation,
	    o->problem);
	free(ec);
	eval_running--;
}

/* eval_addr - an IPv4 or IPv6 address text into ss; 0 or -1. */
static int
eval_addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr)
	    == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* eval_split - the next tab-separated field of *p (NUL-terminated). */
static char *
eval_split(char **p)
{
	char *s = *p, *t;

	if (s == NULL)
		return NULL;
	if ((t = strchr(s, '\t')) != NULL) {
		*t = '\0';
		*p = t + 1;
	} else
		*p = NULL;
	return s;
}

static void
usage(void)
{
	fprintf(stderr, "usage: spf_eval -s ADDR[:PORT] [-t RESOLVER_SECS] "
	    "[-T OVERALL_SECS] [-r RECEIVER] <cases\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct event_base *base;
	struct conf conf;
	char *servers[1] = { NULL };
	const char *receiver = "receiver.test";
	unsigned rtimeout = 5, overall = 20;
	char *line = NULL, *p, *id, *ip, *from, *helo;
	size_t cap = 0;
	ssize_t n;
	int ch;

	while ((ch = getopt(argc, argv, "s:t:T:r:")) != -1) {
		switch (ch) {
		case 's': servers[0] = optarg; break;
		case 't': rtimeout = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': overall = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': receiver = optarg; break;
		default: usage();
		}
	}
	if (servers[0] == NULL || optind != argc || rtimeout == 0 ||
	    overall == 0)
		usage();
	log_init(1, getenv("SPF_EVAL_VERBOSE") != NULL);
	memset(&conf, 0, sizeof(conf));
	conf.resolver = servers;
	conf.nresolver = 1;
	if ((base = event_base_new()) == NULL)
		return 2;
	resolver_set_timeout(rtimeout);
	if (resolver_init(base, &conf) < 0)
		return 2;
	spf_init(base);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		struct sockaddr_storage ss;
		struct spf_args a;
		struct eval_case *ec;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		p = line;
		id = eval_split(&p);
		ip = eval_split(&p);
		from = eval_split(&p);
		helo = eval_split(&p);
		if (ip == NULL || from == NULL || helo == NULL) {
			eval_print(id, "permerror", "", "bad input line");
			continue;
		}
		if (eval_addr(ip, &ss) < 0) {
			eval_print(id, "permerror", "", "bad IP address");
			continue;
		}
		/* a -1 here means "none": spf_check_start says so itself */
		(void)spf_args_init(&a, (struct sockaddr *)&ss, from, helo,
		    receiver);
		ec = xcalloc(1, sizeof(*ec));
		strlcpy_compat(ec->id, id, sizeof(ec->id));
		eval_running++;
		ec->check = spf_check_start(&a, overall, eval_done, ec);
	}
	free(line);
	while (eval_running > 0)
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			break;
	resolver_shutdown();
	event_base_free(base);
	return 0;
}
