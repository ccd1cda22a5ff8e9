/* sender_dmp.c - the dmp_table file of strictmx.conf: "domain CIDR..."
 * lines; mail from a listed domain must come from one of its networks.
 *
 *	sender_dmp_load - read and check a table; errors as FILE:LINE: msg
 *	sender_dmp_find - the entry of a (lower-case) domain, or NULL
 *	sender_dmp_free - release a table (it stays usable, empty)
 *
 * The name comes from the Designated Mailer Protocol drafts the seed thread
 * mentions: its author kept "a table of DMP domains the admin can set up"
 * because DNS lookups were too slow and too rarely published. Matching is on
 * the exact domain (no subdomains); '#' starts a comment anywhere; a domain
 * on several lines gets the union of its networks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cidr.h"
#include "log.h"
#include "sender_dmp.h"
#include "xmalloc.h"

/* Lines longer than this are refused: no sane table needs more. */
#define SENDER_DMP_LINE_MAX	4096

/* sender_dmp_err - one configuration error, to errs or to the log. */
static void PRINTF_LIKE(2, 3)
sender_dmp_err(FILE *errs, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (errs != NULL)
		fprintf(errs, "%s\n", line);
	else
		log_warn("%s", line);
}

/* sender_dmp_free - release t's storage; t stays usable (empty). */
void
sender_dmp_free(struct sender_dmp *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].domain);
		cidr_list_free(&t->v[i].nets);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

static int
sender_dmp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sender_dmp_entry *)a)->domain,
	    ((const struct sender_dmp_entry *)b)->domain);
}

/* sender_dmp_find - the entry of domain (lower case), or NULL. */
const struct sender_dmp_entry *
sender_dmp_find(const struct sender_dmp *t, const char *domain)
{
	struct sender_dmp_entry key;

	if (t->n == 0)
		return NULL;
	key.domain = (char *)(uintptr_t)domain;
	return bsearch(&key, t->v, t->n, sizeof(*t->v), sender_dmp_cmp);
}

/* sender_dmp_line - one "domain CIDR..." line into t; the number of errors
 * it had. A domain on several lines gets the union of its networks. */
static int
sender_dmp_line(struct sender_dmp *t, char *line, const char *path,
    unsigned lineno, FILE *errs)
{
	struct sender_dmp_entry *e = NULL;
	char *w, *save = NULL, *dom;
	size_t i, nnets = 0;
	int bad = 0;

	if ((w = strchr(line, '#')) != NULL)
		*w = '\0';
	if ((dom = strtok_r(line, " \t\r\n", &save)) == NULL)
		return 0;
	addr_lower(dom);
	if (!addr_domain_valid(dom)) {
		char pd[LOG_PRINTABLE_SIZE];

		sender_dmp_err(errs, "%s:%u: \"%s\" is not a domain name",
		    path, lineno, log_printable(pd, sizeof(pd), dom,
		    strlen(dom)));
		return 1;
	}
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].domain, dom) == 0)
			e = &t->v[i];
	if (e == NULL) {
		t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
		e = &t->v[t->n++];
		memset(e, 0, sizeof(*e));
		e->domain = xstrdup(dom);
	}
	while ((w = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
		nnets++;
		if (cidr_list_add(&e->nets, w) < 0) {
			char pw[LOG_PRINTABLE_SIZE];

			sender_dmp_err(errs, "%s:%u: \"%s\" is not a network "
			    "(CIDR)", path, lineno,
			    log_printable(pw, sizeof(pw), w, strlen(w)));
			bad++;
		}
	}
	if (nnets == 0) {
		sender_dmp_err(errs, "%s:%u: %s: no networks listed", path,
		    lineno, dom);
		bad++;
	}
	return bad;
}

/* sender_dmp_load - read path into *t (sorted); 0, or -1 after reporting
 * every error (t is then empty). */
int
sender_dmp_load(const char *path, struct sender_dmp *t, FILE *errs)
{
	char line[SENDER_DMP_LINE_MAX + 2];
	unsigned lineno = 0;
	int bad = 0, c;
	FILE *fp;

	memset(t, 0, sizeof(*t));
	if ((fp = fopen(path, "r")) == NULL) {
		sender_dmp_err(errs, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			sender_dmp_err(errs, "%s:%u: line longer than %d "
			    "octets", path, lineno, SENDER_DMP_LINE_MAX);
			bad++;
			while ((c = getc(fp)) != EOF && c != '\n')
				;
			continue;
		}
		bad += sender_dmp_line(t, line, path, lineno, errs);
	}
	if (ferror(fp)) {
		sender_dmp_err(errs, "%s: %s", path, strerror(errno));
		bad++;
	}
	fclose(fp);
	if (bad) {
		sender_dmp_free(t);
		return -1;
	}
	if (t->n > 0)
		qsort(t->v, t->n, sizeof(*t->v), sender_dmp_cmp);
	return 0;
}

