/* dkim_verify.c - test tool: verify the DKIM signatures of message files
 * with strictmx's verifier, fed exactly as the daemon feeds it.
 *
 * usage: dkim_verify -s ADDR[:PORT] [-t RESOLVER_SECS] [-T FINISH_SECS]
 *	      [-m MAX] FILE...
 * Each file: CRLF turned into LF (as data.c stores a message), then fed in
 * 1000-octet chunks through msghdr_feed (header) and dkim_body (the rest),
 * dkim_finish, the loop run until the verdicts. One line per file:
 *	FILE<TAB>N<TAB>RESULT d=D s=S reason=REASON<TAB>...
 * or FILE<TAB>0<TAB>none. Exit 0, or 2 on a usage or I/O error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "dkim.h"
#include "log.h"
#include "msghdr.h"
#include "resolver.h"

static int done;

static void
usage(void)
{
	fprintf(stderr, "usage: dkim_verify -s ADDR[:PORT] [-t RESOLVER_SECS] "
	    "[-T FINISH_SECS] [-m MAX] FILE...\n");
	exit(2);
}

static void
print_cb(void *arg, const struct dkim_outcome *o)
{
	const char *file = arg;
	size_t i;

	printf("%s\t%zu", file, o->nsig + o->ignored);
	if (o->nsig == 0 && o->ignored == 0)
		printf("\tnone");
	for (i = 0; i < o->nsig; i++)
		printf("\t%s d=%s s=%s reason=%s",
		    dkim_result_text(o->sig[i].result), o->sig[i].domain,
		    o->sig[i].selector, o->sig[i].reason);
	printf("\n");
	fflush(stdout);
	done = 1;
}

/* read_lf - the file with CRLF made LF; NULL on error. */
static char *
read_lf(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, i, j;
	int c;

	if (f == NULL)
		return NULL;
	while ((c = getc(f)) != EOF) {
		if (n + 1 >= cap) {
			cap = cap > 0 ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL)
				exit(2);
		}
		buf[n++] = (char)c;
	}
	fclose(f);
	if (buf == NULL)
		buf = calloc(1, 1);
	for (i = j = 0; i < n; i++) {
		if (buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n')
			continue;
		buf[j++] = buf[i];
	}
	*len = j;
	return buf;
}

int
main(int argc, char *argv[])
{
	struct event_base *base;
	struct conf conf;
	char *servers[1] = { NULL };
	unsigned rtimeout = 5, finish = 10, max = 5;
	int ch, i;

	while ((ch = getopt(argc, argv, "s:t:T:m:")) != -1) {
		switch (ch) {
		case 's': servers[0] = optarg; break;
		case 't': rtimeout = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': finish = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm': max = (unsigned)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (servers[0] == NULL || optind == argc || rtimeout == 0)
		usage();
	log_init(1, getenv("DKIM_VERIFY_VERBOSE") != NULL);
	memset(&conf, 0, sizeof(conf));
	conf.resolver = servers;
	conf.nresolver = 1;
	if ((base = event_base_new()) == NULL)
		return 2;
	resolver_set_timeout(rtimeout);
	if (resolver_init(base, &conf) < 0)
		return 2;
	dkim_init(base);
	for (i = optind; i < argc; i++) {
		struct dkim_verifier *v;
		struct msghdr_section h;
		size_t len, off, chunk, used;
		char *m;

		if ((m = read_lf(argv[i], &len)) == NULL) {
			fprintf(stderr, "dkim_verify: cannot read %s\n",
			    argv[i]);
			return 2;
		}
		v = dkim_verifier_new(max);
		msghdr_init(&h);
		for (off = 0; off < len; off += chunk) {
			chunk = len - off < 1000 ? len - off : 1000;
			used = 0;
			if (!h.done) {
				used = msghdr_feed(&h, m + off, chunk);
				if (h.done)
					dkim_headers(v, &h);
			}
			if (used < chunk)
				dkim_body(v, m + off + used, chunk - used);
		}
		if (!h.done) {
			msghdr_end(&h);
			dkim_headers(v, &h);
		}
		done = 0;
		dkim_finish(v, finish, print_cb, argv[i]);
		while (!done)
			event_base_loop(base, EVLOOP_ONCE);
		dkim_verifier_free(v);
		msghdr_free(&h);
		free(m);
	}
	resolver_shutdown();
	event_base_free(base);
	return 0;
}
