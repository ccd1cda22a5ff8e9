/* fuzz_conf.c - libFuzzer harness for conf_load(): the whole strictmx.conf
 * parser (keys, durations, sizes, lists, CIDRs, addresses, paths).
 *
 *	LLVMFuzzerTestOneInput - write the input to a private file, load it,
 *	    check the result, free it
 *
 * The input is the file's content as is (a seed corpus of real configs and
 * the key dictionary fuzz_conf.dict make the fuzzer speak the format).
 * Errors are printed to /dev/null, so the error paths and their formatting
 * run too. Invariants on success: the required keys are set, every string
 * is NUL-terminated, the lists have their counts, resolver addresses are
 * within CONF_RESOLVER_MAX; conf_free() releases everything (LeakSanitizer
 * checks that).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

static char fuzz_path[64];
static FILE *fuzz_errs;

static void
fuzz_setup(void)
{
	if (fuzz_path[0] != '\0')
		return;
	snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/fuzz_conf.%ld.conf",
	    (long)getpid());
	fuzz_errs = fopen("/dev/null", "w");
	assert(fuzz_errs != NULL);
	log_init(1, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c;
	FILE *fp;
	size_t i;

	fuzz_setup();
	fp = fopen(fuzz_path, "w");
	assert(fp != NULL);
	if (size > 0)
		assert(fwrite(data, 1, size, fp) == size);
	assert(fclose(fp) == 0);

	c = conf_load(fuzz_path, fuzz_errs);
	if (c != NULL) {
		assert(c->hostname != NULL && c->hostname[0] != '\0');
		assert(c->recipients != NULL && c->maildir_root != NULL &&
		    c->stats_db != NULL && c->rfc3821_keyword != NULL);
		assert(c->ndomains > 0 && c->domains != NULL);
		for (i = 0; i < c->ndomains; i++) {
			assert(c->domains[i] != NULL);
			assert(conf_is_local_domain(c, c->domains[i]));
		}
		assert(c->nresolver <= CONF_RESOLVER_MAX);
		for (i = 0; i < c->nresolver; i++)
			assert(c->resolver[i] != NULL &&
			    c->resolver_addr[i].len > 0 &&
			    c->resolver_addr[i].len <=
			    sizeof(c->resolver_addr[i].ss));
		assert(c->nlisten > 0);
		for (i = 0; i < c->nlisten; i++)
			assert(c->listen[i].len > 0 && c->listen[i].len <=
			    sizeof(c->listen[i].ss) &&
			    strnlen(c->listen[i].text,
			    sizeof(c->listen[i].text)) <
			    sizeof(c->listen[i].text));
		assert((c->tls_certificate == NULL) == (c->tls_key == NULL));
		(void)conf_is_local_domain(c, "x.example.");
		conf_free(c);
	}
	unlink(fuzz_path);
	return 0;
}
