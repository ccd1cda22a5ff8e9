/* ctl_spf.c - `strictmxctl spf IP ADDRESS [HELO]`: one SPF evaluation now,
 * through the daemon's own evaluator and resolver, and what it would answer.
 *
 *	ctl_spf_main - evaluate, print the outcome and the reply under the
 *		configuration's spf_* keys; the exit status says the result
 *
 * The admin's debugging tool for "why was this refused?": the same code
 * and the same resolver settings as strictmxd, so that the answer is the
 * one a session would have had (DNS caches aside).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "addr.h"
#include "conf.h"
#include "ctl_spf.h"
#include "strictmxctl.h"
#include "idna.h"
#include "log.h"
#include "resolver.h"
#include "spf.h"
#include "spf_policy.h"

struct ctl_spf_run {
	struct event_base	*base;
	struct spf_outcome	 o;
	int			 done;
};

static void
ctl_spf_done(void *arg, const struct spf_outcome *o)
{
	struct ctl_spf_run *run = arg;

	run->o = *o;
	run->done = 1;
	event_base_loopbreak(run->base);
}

/* ctl_spf_client - the client address in text, into ss; 0 or -1. */
static int
ctl_spf_client(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* ctl_spf_print - the outcome, one "key: value" a line; texts from DNS
 * are made printable. */
static void
ctl_spf_print(const struct conf *conf, const char *client,
    const struct spf_outcome *o)
{
	char buf[LOG_PRINTABLE_SIZE];
	struct spf_verdict v;

	printf("identity:    %s %s\n", spf_identity_text(o->identity),
	    o->domain);
	printf("result:      %s\n", spf_result_text(o->result));
	if (o->mechanism[0] != '\0')
		printf("mechanism:   %s\n", log_printable(buf, sizeof(buf),
		    o->mechanism, strlen(o->mechanism)));
	if (o->explanation[0] != '\0')
		printf("explanation: %s\n", log_printable(buf, sizeof(buf),
		    o->explanation, strlen(o->explanation)));
	if (o->problem[0] != '\0')
		printf("problem:     %s\n", log_printable(buf, sizeof(buf),
		    o->problem, strlen(o->problem)));
	printf("lookups:     %u (void %u) in %.3f s\n", o->dns_terms,
	    o->void_lookups, o->duration);
	spf_policy_decide(conf, o, client, &v);
	if (conf->spf_policy == POLICY_OFF)
		printf("reply:       none (spf_policy off)\n");
	else if (v.code == 0)
		printf("reply:       none: MAIL goes on to the other checks\n");
	else
		printf("reply:       %s%s\n", v.reply, v.enforced ? "" :
		    " (spf_policy log: logged, not sent)");
}

/*
 * ctl_spf_main - argv: "spf" IP ADDRESS [HELO]. ADDRESS "<>" or "" is the
 * null sender: the HELO identity is checked then. Exit status: 0 pass,
 * 1 fail, 2 temperror, 3 any other result, CTL_EXIT_USAGE (64) a usage
 * error.
 */
int
ctl_spf_main(const struct conf *conf, int argc, char **argv)
{
	struct ctl_spf_run run;
	struct sockaddr_storage ss;
	struct spf_args args;
	struct spf_check *chk;
	struct mailaddr a;
	char from[SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX + 1];
	char helo[SMTP_DOMAIN_MAX + 1], path[SMTP_PATH_MAX + 3];
	const char *rest, *helo_in;
	int status = 2;

	if (argc > 0 && strcmp(argv[0], "spf") == 0)
		argc--, argv++;
	if (argc < 2 || argc > 3 || ctl_spf_client(argv[0], &ss) < 0) {
		fprintf(stderr, "usage: strictmxctl spf IP ADDRESS [HELO]\n");
		return CTL_EXIT_USAGE;
	}
	/* The address goes through the daemon's own parser: same syntax
	 * rules, same A-label conversion of the domain. */
	snprintf(path, sizeof(path), "<%s>", strcmp(argv[1], "<>") == 0 ?
	    "" : argv[1]);
	if (addr_parse(path, &a, &rest, ADDR_ALLOW_NULL) != ADDR_OK ||
	    *rest != '\0') {
		fprintf(stderr, "strictmxctl: spf: not an address: %s\n",
		    argv[1]);
		return CTL_EXIT_USAGE;
	}
	from[0] = '\0';
	if (!a.is_null)
		snprintf(from, sizeof(from), "%s@%s", a.local, a.ace);
	helo_in = argc == 3 ? argv[2] : "";
	if (idna_to_alabel(helo_in, helo, sizeof(helo)) == -1)
		snprintf(helo, sizeof(helo), "%s", helo_in);
	if (spf_args_init(&args, (struct sockaddr *)&ss, from, helo,
	    conf->hostname) == -1 && a.is_null && argc < 3) {
		fprintf(stderr, "strictmxctl: spf: the null sender needs a "
		    "HELO name (the HELO identity is checked)\n");
		return CTL_EXIT_USAGE;
	}
	memset(&run, 0, sizeof(run));
	if ((run.base = event_base_new()) == NULL ||
	    resolver_init(run.base, conf) < 0) {
		fprintf(stderr, "strictmxctl: spf: cannot start the event "
		    "loop or the resolver\n");
		goto out;
	}
	spf_init(run.base);
	chk = spf_check_start(&args, SPF_POLICY_TIMEOUT, ctl_spf_done, &run);
	event_base_dispatch(run.base);
	if (!run.done) {
		spf_check_cancel(chk);
		fprintf(stderr, "strictmxctl: spf: the event loop ended "
		    "early\n");
		goto out;
	}
	ctl_spf_print(conf, argv[0], &run.o);
	status = run.o.result == SPF_PASS ? 0 : run.o.result == SPF_FAIL ?
	    1 : run.o.result == SPF_TEMPERROR ? 2 : 3;
out:
	resolver_shutdown();
	if (run.base != NULL)
		event_base_free(run.base);
	return status;
}
