/* table.c - the recipients table (DESIGN §4): "ADDRESS MAILDIR" lines loaded
 * once into a hash table keyed by the lower-cased address.
 *
 *	table_load - read conf->recipients, report each error as FILE:LINE; NULL on any
 *	table_lookup - maildir of local@domain: exact, delimiter base, catch-all
 *	table_count - number of entries
 *	table_free - release a table (NULL is fine)
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "table.h"
#include "xmalloc.h"

/* An address line is short; anything longer is a mistake (or not a text
 * file) and is reported rather than parsed. */
#define TABLE_LINE_MAX	4096

/* "local@domain": local part and domain at their RFC 5321 maxima. */
#define TABLE_KEY_MAX	(SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX)

#define TABLE_SLOT_FREE	SIZE_MAX

struct table_entry {
	char		*key;		/* "local@domain" or "@domain", lower */
	char		*maildir;	/* joined with maildir_root */
	unsigned long	 line;		/* where it was defined */
};

/* Open addressing with linear probing: slot[] holds indexes into ent[],
 * so growing ent[] never invalidates the hash. */
struct table {
	struct table_entry *ent;
	size_t		 nent;
	size_t		 aent;
	size_t		*slot;
	size_t		 nslot;		/* a power of two, > 2 * nent */
};

/* table_error - print "FILE:LINE: message" (or "FILE: message" when line
 * is 0) to errs, which may be NULL. Always returns 1, an error count. */
static int PRINTF_LIKE(4, 5)
table_error(FILE *errs, const char *file, unsigned long line,
    const char *fmt, ...)
{
	va_list ap;

	if (errs == NULL)
		return 1;
	if (line > 0)
		fprintf(errs, "%s:%lu: ", file, line);
	else
		fprintf(errs, "%s: ", file);
	va_start(ap, fmt);
	vfprintf(errs, fmt, ap);
	va_end(ap);
	fputc('\n', errs);
	return 1;
}

/* table_hash - FNV-1a over the key bytes */
static size_t
table_hash(const char *key)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* table_find - the entry for an already lower-cased key, or NULL */
static const struct table_entry *
table_find(const struct table *t, const char *key)
{
	size_t i, mask = t->nslot - 1;

	for (i = table_hash(key) & mask; t->slot[i] != TABLE_SLOT_FREE;
	    i = (i + 1) & mask)
		if (strcmp(t->ent[t->slot[i]].key, key) == 0)
			return &t->ent[t->slot[i]];
	return NULL;
}

/* table_rehash - resize slot[] to nslot and re-insert every entry */
static void
table_rehash(struct table *t, size_t nslot)
{
	size_t i, j, mask = nslot - 1;

	free(t->slot);
	t->slot = xreallocarray(NULL, nslot, sizeof(*t->slot));
	t->nslot = nslot;
	for (i = 0; i < nslot; i++)
		t->slot[i] = TABLE_SLOT_FREE;
	for (i = 0; i < t->nent; i++) {
		for (j = table_hash(t->ent[i].key) & mask;
		    t->slot[j] != TABLE_SLOT_FREE; j = (j + 1) & mask)
			;
		t->slot[j] = i;
	}
}

/* table_insert - add a new entry (the caller checked it is not there);
 * takes ownership of key and maildir */
static void
table_insert(struct table *t, char *key, char *maildir, unsigned long line)
{
	if (t->nent == t->aent) {
		t->aent = t->aent ? t->aent * 2 : 64;
		t->ent = xreallocarray(t->ent, t->aent, sizeof(*t->ent));
	}
	t->ent[t->nent].key = key;
	t->ent[t->nent].maildir = maildir;
	t->ent[t->nent].line = line;
	t->nent++;
	/* Keep the load factor under 1/2 so probe chains stay short. */
	if (t->nent * 2 >= t->nslot)
		table_rehash(t, t->nslot * 2);
	else {
		size_t j, mask = t->nslot - 1;

		for (j = table_hash(key) & mask;
		    t->slot[j] != TABLE_SLOT_FREE; j = (j + 1) & mask)
			;
		t->slot[j] = t->nent - 1;
	}
}

/*
 * table_parse_address - turn ADDRESS into its key ("local@domain" or
 * "@domain", lower case) in key[TABLE_KEY_MAX + 1]. The local part goes
 * through addr_parse(), so the table accepts exactly what RCPT TO does
 * (a quoted local part included) and both see the same internal form.
 * Returns NULL or the reason it is not an address.
 */
static const char *
table_parse_address(const char *addr, char *key, size_t keysize)
{
	char path[SMTP_PATH_MAX + 8];
	struct mailaddr ma;
	enum addr_status st;
	const char *rest;

	if (addr[0] == '@') {
		if (!addr_domain_valid(addr + 1))
			return "invalid domain";
		if ((size_t)snprintf(key, keysize, "%s", addr) >= keysize)
			return "address too long";
		addr_lower(key);
		return NULL;
	}
	if ((size_t)snprintf(path, sizeof(path), "<%s>", addr) >= sizeof(path))
		return addr_status_text(ADDR_ERR_TOOLONG);
	if ((st = addr_parse(path, &ma, &rest, 0)) != ADDR_OK)
		return addr_status_text(st);
	if (ma.domain[0] == '[')
		return "an address literal cannot be a local domain";
	addr_lower(ma.local);
	if ((size_t)snprintf(key, keysize, "%s@%s", ma.local, ma.domain) >=
	    keysize)
		return "address too long";
	return NULL;
}

/*
 * table_check_maildir - a MAILDIR is a path of printable characters with
 * no ".." component: the table decides where mail goes, and an entry must
 * not reach outside maildir_root by accident. Returns NULL or a reason.
 */
static const char *
table_check_maildir(const char *md)
{
	const char *p, *c;

	for (p = md; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "contains a control character";
	for (c = md; *c != '\0'; c = p) {
		while (*c == '/')
			c++;
		for (p = c; *p != '\0' && *p != '/'; p++)
			;
		if (p - c == 2 && c[0] == '.' && c[1] == '.')
			return "contains a \"..\" component";
	}
	return NULL;
}

/* table_join - maildir made absolute: md itself when it starts with "/",
 * else maildir_root "/" md. NULL when the result would exceed PATH_MAX. */
static char *
table_join(const struct conf *conf, const char *md)
{
	const char *root = conf->maildir_root;
	size_t rlen, len;
	char *path;

	if (md[0] == '/' || root == NULL)
		return strlen(md) < PATH_MAX ? xstrdup(md) : NULL;
	rlen = strlen(root);
	while (rlen > 1 && root[rlen - 1] == '/')
		rlen--;
	len = rlen + 1 + strlen(md);
	if (len >= PATH_MAX)
		return NULL;
	path = xmalloc(len + 1);
	snprintf(path, len + 1, "%.*s/%s", (int)rlen, root, md);
	return path;
}

/*
 * table_parse_line - one line of the file: strip the comment (a "#" at the
 * start of the line or after blank space; "#" is legal inside a local
 * part), split on blanks, check, insert. Returns the number of errors (0
 * or 1: the first problem of a line is reported).
 */
static int
table_parse_line(struct table *t, const struct conf *conf, char *line,
    size_t len, unsigned long lineno, FILE *errs)
{
	const char *file = conf->recipients, *why;
	char key[TABLE_KEY_MAX + 1], pr[LOG_PRINTABLE_SIZE];
	char *f[2], *p, *md, *save;
	const struct table_entry *dup;
	size_t nf = 0;

	if (len > TABLE_LINE_MAX)
		return table_error(errs, file, lineno,
		    "line too long (over %d bytes)", TABLE_LINE_MAX);
	if (strlen(line) != len)
		return table_error(errs, file, lineno, "NUL byte in line");
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	for (p = line; *p != '\0'; p++)
		if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	for (p = strtok_r(line, " \t", &save); p != NULL;
	    p = strtok_r(NULL, " \t", &save)) {
		if (nf == 2) {
			log_printable(pr, sizeof(pr), p, strlen(p));
			return table_error(errs, file, lineno,
			    "extra field \"%s\" after the maildir", pr);
		}
		f[nf++] = p;
	}
	if (nf == 0)
		return 0;
	log_printable(pr, sizeof(pr), f[0], strlen(f[0]));
	if ((why = table_parse_address(f[0], key, sizeof(key))) != NULL)
		return table_error(errs, file, lineno,
		    "invalid address \"%s\": %s", pr, why);
	/* strrchr: a quoted local part may itself hold an "@". */
	if (!conf_is_local_domain(conf, strrchr(key, '@') + 1))
		return table_error(errs, file, lineno,
		    "domain of \"%s\" is not one of domains", pr);
	if (nf < 2)
		return table_error(errs, file, lineno,
		    "empty maildir for \"%s\"", pr);
	if ((why = table_check_maildir(f[1])) != NULL)
		return table_error(errs, file, lineno,
		    "maildir of \"%s\" %s", pr, why);
	if ((dup = table_find(t, key)) != NULL)
		return table_error(errs, file, lineno,
		    "duplicate address \"%s\" (first at line %lu)", pr,
		    dup->line);
	if ((md = table_join(conf, f[1])) == NULL)
		return table_error(errs, file, lineno,
		    "maildir of \"%s\" is too long", pr);
	table_insert(t, xstrdup(key), md, lineno);
	return 0;
}

/* table_new - an empty table */
static struct table *
table_new(void)
{
	struct table *t = xcalloc(1, sizeof(*t));

	table_rehash(t, 128);
	return t;
}

/*
 * table_load - read conf->recipients. Every problem is printed to errs
 * (which may be NULL) as "FILE:LINE: message" and parsing goes on, so an
 * admin sees all of them at once (strictmxd -n). Then RFC 5321 §4.5.1: each
 * local domain must accept postmaster, exactly or through its catch-all.
 * Returns NULL if anything was wrong.
 */
struct table *
table_load(const struct conf *conf, FILE *errs)
{
	const char *file = conf->recipients;
	char key[TABLE_KEY_MAX + 1];
	unsigned long lineno = 0;
	struct table *t;
	size_t cap = 0, i;
	char *line = NULL;
	ssize_t len;
	FILE *fp;
	int nerr = 0;

	if (file == NULL) {
		table_error(errs, "recipients", 0, "not set");
		return NULL;
	}
	if ((fp = fopen(file, "r")) == NULL) {
		table_error(errs, file, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	t = table_new();
	while ((len = getline(&line, &cap, fp)) != -1)
		nerr += table_parse_line(t, conf, line, (size_t)len, ++lineno,
		    errs);
	if (ferror(fp))
		nerr += table_error(errs, file, 0, "read error: %s",
		    strerror(errno));
	free(line);
	fclose(fp);

	for (i = 0; i < conf->ndomains; i++) {
		snprintf(key, sizeof(key), "postmaster@%s", conf->domains[i]);
		addr_lower(key);
		if (table_find(t, key) != NULL ||
		    table_find(t, strchr(key, '@')) != NULL)
			continue;
		nerr += table_error(errs, file, 0, "no entry for %s "
		    "(RFC 5321 section 4.5.1 requires one)", key);
	}
	if (nerr > 0) {
		table_free(t);
		return NULL;
	}
	return t;
}

/* table_find_parts - look up lower(local[0..llen)) "@" domain */
static const struct table_entry *
table_find_parts(const struct table *t, const char *local, size_t llen,
    const char *domain)
{
	char key[TABLE_KEY_MAX + 1];

	if ((size_t)snprintf(key, sizeof(key), "%.*s@%s", (int)llen, local,
	    domain) >= sizeof(key))
		return NULL;
	addr_lower(key);
	return table_find(t, key);
}

/*
 * table_lookup - the maildir for local@domain (internal forms, as from
 * addr_parse), or NULL. Order: the exact address; then, when the local
 * part holds a recipient_delimiter character, the part before the first
 * one ("alice+tag" -> "alice"); then the catch-all "@domain". The empty
 * domain with local "postmaster" is the bare RCPT TO:<postmaster>, which
 * RFC 5321 §4.1.1.3 makes mean the postmaster of our first domain.
 */
const char *
table_lookup(const struct table *t, const struct conf *conf,
    const char *local, const char *domain)
{
	const struct table_entry *e;
	size_t llen, base;

	if (t == NULL || local == NULL || domain == NULL || local[0] == '\0')
		return NULL;
	if (domain[0] == '\0') {
		if (strcasecmp(local, "postmaster") != 0 || conf == NULL ||
		    conf->ndomains == 0)
			return NULL;
		domain = conf->domains[0];
	}
	if ((llen = strlen(local)) > SMTP_LOCAL_MAX ||
	    strlen(domain) > SMTP_DOMAIN_MAX)
		return NULL;
	if ((e = table_find_parts(t, local, llen, domain)) != NULL)
		return e->maildir;
	if (conf != NULL && conf->recipient_delimiter != NULL &&
	    conf->recipient_delimiter[0] != '\0') {
		base = strcspn(local, conf->recipient_delimiter);
		if (base > 0 && base < llen &&
		    (e = table_find_parts(t, local, base, domain)) != NULL)
			return e->maildir;
	}
	if ((e = table_find_parts(t, "", 0, domain)) != NULL)
		return e->maildir;
	return NULL;
}

/* table_count - number of addresses in the table */
size_t
table_count(const struct table *t)
{
	return t == NULL ? 0 : t->nent;
}

/* table_free - release everything; NULL is fine */
void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nent; i++) {
		free(t->ent[i].key);
		free(t->ent[i].maildir);
	}
	free(t->ent);
	free(t->slot);
	free(t);
}
