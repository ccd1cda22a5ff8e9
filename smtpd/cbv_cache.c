/* cbv_cache.c - the CBV cache: one row per return path in the cbv_cache
 * table of stats_db, read on the loop and written in the stats batches.
 *
 *	cbv_cache_get - the unexpired entry of an address; 1 hit, 0 miss,
 *		-1 error
 *	cbv_cache_put - insert or replace an entry; 0 or -1
 *	cbv_cache_delete - remove one address; rows removed or -1
 *	cbv_cache_flush - remove every entry; rows removed or -1
 *	cbv_cache_purge - remove entries expired at a time; rows removed or -1
 *	cbv_cache_list - call a function for each entry, by address; rows or -1
 *	cbv_cache_lookup - the daemon's read: pending writes, then the
 *		table through stats_handle()
 *	cbv_cache_store - the daemon's write, queued with stats_defer()
 *	cbv_cache_purge_later - queue a purge of expired entries
 *	cbv_cache_forget - drop the pending-write overlay (shutdown, tests)
 *	cbv_cache_key - the normalised address used as key and probe recipient
 *
 * Why reads go to SQLite and not to an in-memory mirror: `strictmxctl cache
 * flush|delete` runs in another process while the daemon lives, and must
 * take effect at once; the daemon only learns of it by reading the table.
 * A SELECT by primary key in WAL mode never waits for a writer and is a
 * page-cache read, so it is done on the loop, statement prepared per call
 * (a few microseconds, and no statement outlives a handle that stats.c may
 * close or replace on reload).
 *
 * Why there is an overlay: writes go through stats_defer() and reach the
 * table only at the next batch, so a second message from the same sender a
 * moment after the first would miss and probe again. Entries whose write is
 * still pending are therefore kept in memory, in write order, and dropped as
 * soon as the deferred write has run (a sequence number the deferred
 * function publishes atomically, since stats.c may run it on a thread).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <sqlite3.h>

#include "addr.h"
#include "cbv_cache.h"
#include "log.h"
#include "stats.h"
#include "xmalloc.h"

/* Pending writes kept in memory; past this the oldest is dropped (which
 * costs at worst one more probe, never a wrong answer). */
#define CBV_CACHE_PENDING_MAX	1024

#define CBV_CACHE_COLUMNS \
	"address, outcome, stage, reply, mx_host, rfc3821, created, expires"

struct cbv_cache_pending {
	TAILQ_ENTRY(cbv_cache_pending) entry;
	uint64_t		seq;
	struct cbv_cache_entry	e;
};

/* What a deferred function is asked to do inside the stats transaction. */
enum cbv_cache_op {
	CBV_CACHE_OP_PUT,
	CBV_CACHE_OP_PURGE,
};

struct cbv_cache_job {
	enum cbv_cache_op	op;
	uint64_t		seq;
	double			now;
	struct cbv_cache_entry	e;
};

static TAILQ_HEAD(cbv_cache_pendq_head, cbv_cache_pending) cbv_cache_pendq =
    TAILQ_HEAD_INITIALIZER(cbv_cache_pendq);
static size_t cbv_cache_npend;
static uint64_t cbv_cache_seq;		/* loop only */
static uint64_t cbv_cache_written;	/* __atomic: last seq written */

/* cbv_cache_copy - bounded copy of a (possibly NULL) column text. */
static void
cbv_cache_copy(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src != NULL ? (const char *)src : "");
}

/* cbv_cache_prepare - prepare sql on db, logging a failure. */
static sqlite3_stmt *
cbv_cache_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (db == NULL)
		return NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warn("cbv cache: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* cbv_cache_row - fill e from a row of CBV_CACHE_COLUMNS. */
static void
cbv_cache_row(sqlite3_stmt *st, struct cbv_cache_entry *e)
{
	memset(e, 0, sizeof(*e));
	cbv_cache_copy(e->address, sizeof(e->address),
	    sqlite3_column_text(st, 0));
	cbv_cache_copy(e->outcome, sizeof(e->outcome),
	    sqlite3_column_text(st, 1));
	cbv_cache_copy(e->stage, sizeof(e->stage), sqlite3_column_text(st, 2));
	cbv_cache_copy(e->reply, sizeof(e->reply), sqlite3_column_text(st, 3));
	cbv_cache_copy(e->mx_host, sizeof(e->mx_host),
	    sqlite3_column_text(st, 4));
	e->rfc3821 = sqlite3_column_int(st, 5) != 0;
	e->created = sqlite3_column_double(st, 6);
	e->expires = sqlite3_column_double(st, 7);
}

/* cbv_cache_get - the entry of address that is still valid at now. */
int
cbv_cache_get(sqlite3 *db, const char *address, double now,
    struct cbv_cache_entry *e)
{
	sqlite3_stmt *st;
	int rc, ret = -1;

	if ((st = cbv_cache_prepare(db, "SELECT " CBV_CACHE_COLUMNS
	    " FROM cbv_cache WHERE address = ?1 AND expires > ?2")) == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC) ==
	    SQLITE_OK && sqlite3_bind_double(st, 2, now) == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			cbv_cache_row(st, e);
			ret = 1;
		} else if (rc == SQLITE_DONE)
			ret = 0;
		else	/* SQLITE_BUSY included: a miss, never a wait */
			log_debug("cbv cache: read: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return ret;
}

/* cbv_cache_put - insert or replace e (keyed by e->address). */
int
cbv_cache_put(sqlite3 *db, const struct cbv_cache_entry *e)
{
	sqlite3_stmt *st;
	int ret = -1;

	if ((st = cbv_cache_prepare(db, "INSERT OR REPLACE INTO cbv_cache ("
	    CBV_CACHE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")) ==
	    NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, e->address, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 2, e->outcome, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 3, e->stage, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 4, e->reply, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 5, e->mx_host, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int(st, 6, e->rfc3821 != 0) ||
	    sqlite3_bind_double(st, 7, e->created) ||
	    sqlite3_bind_double(st, 8, e->expires))
		log_warn("cbv cache: bind: %s", sqlite3_errmsg(db));
	else if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("cbv cache: write: %s", sqlite3_errmsg(db));
	else
		ret = 0;
	sqlite3_finalize(st);
	return ret;
}

/* cbv_cache_exec - run a DELETE with up to one text or one real parameter;
 * returns the number of rows changed, or -1. */
static int
cbv_cache_exec(sqlite3 *db, const char *sql, const char *text, double real,
    int bind_real)
{
	sqlite3_stmt *st;
	int ret = -1, bad = 0;

	if ((st = cbv_cache_prepare(db, sql)) == NULL)
		return -1;
	if (text != NULL)
		bad = sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else if (bind_real)
		bad = sqlite3_bind_double(st, 1, real);
	if (bad == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE)
		ret = sqlite3_changes(db);
	else
		log_warn("cbv cache: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return ret;
}

int
cbv_cache_delete(sqlite3 *db, const char *address)
{
	return cbv_cache_exec(db, "DELETE FROM cbv_cache WHERE address = ?1",
	    address, 0, 0);
}

int
cbv_cache_flush(sqlite3 *db)
{
	return cbv_cache_exec(db, "DELETE FROM cbv_cache", NULL, 0, 0);
}

int
cbv_cache_purge(sqlite3 *db, double now)
{
	return cbv_cache_exec(db, "DELETE FROM cbv_cache WHERE expires <= ?1",
	    NULL, now, 1);
}

/* cbv_cache_list - every entry, expired ones included, by address. */
int
cbv_cache_list(sqlite3 *db, cbv_cache_list_fn *fn, void *arg)
{
	struct cbv_cache_entry e;
	sqlite3_stmt *st;
	int rc, n = 0;

	if ((st = cbv_cache_prepare(db, "SELECT " CBV_CACHE_COLUMNS
	    " FROM cbv_cache ORDER BY address")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cbv_cache_row(st, &e);
		n++;
		if (fn(&e, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		log_warn("cbv cache: list: %s", sqlite3_errmsg(db));
		n = -1;
	}
	sqlite3_finalize(st);
	return n;
}

/* cbv_cache_prune - drop the overlay entries whose write has run. The
 * queue is in seq order and the written mark only grows, so this only
 * ever looks at the head. */
static void
cbv_cache_prune(void)
{
	struct cbv_cache_pending *p;
	uint64_t written = __atomic_load_n(&cbv_cache_written,
	    __ATOMIC_ACQUIRE);

	while ((p = TAILQ_FIRST(&cbv_cache_pendq)) != NULL &&
	    p->seq <= written) {
		TAILQ_REMOVE(&cbv_cache_pendq, p, entry);
		cbv_cache_npend--;
		free(p);
	}
}

/* cbv_cache_lookup - the daemon's read. A pending write, newest first,
 * wins over the table (it is newer); without stats there is no cache. */
int
cbv_cache_lookup(const char *address, double now, struct cbv_cache_entry *e)
{
	struct cbv_cache_pending *p;
	sqlite3 *db;

	cbv_cache_prune();
	TAILQ_FOREACH_REVERSE(p, &cbv_cache_pendq, cbv_cache_pendq_head, entry)
		if (strcmp(p->e.address, address) == 0) {
			if (p->e.expires <= now)
				return 0;
			*e = p->e;
			return 1;
		}
	if ((db = stats_handle()) == NULL)
		return 0;
	return cbv_cache_get(db, address, now, e) == 1;
}

/* cbv_cache_job_cb - run by stats.c inside its write transaction (maybe
 * on another thread: it touches only its own job and the atomic mark). */
static void
cbv_cache_job_cb(struct sqlite3 *db, void *arg)
{
	struct cbv_cache_job *job = arg;

	if (db != NULL) {
		if (job->op == CBV_CACHE_OP_PUT)
			(void)cbv_cache_put(db, &job->e);
		else
			(void)cbv_cache_purge(db, job->now);
	}
	if (job->op == CBV_CACHE_OP_PUT)
		__atomic_store_n(&cbv_cache_written, job->seq,
		    __ATOMIC_RELEASE);
	free(job);
}

/* cbv_cache_store - queue the write of e and keep it in the overlay until
 * then. Nothing happens when stats are disabled. */
void
cbv_cache_store(const struct cbv_cache_entry *e)
{
	struct cbv_cache_pending *p;
	struct cbv_cache_job *job;

	if (stats_handle() == NULL)
		return;
	cbv_cache_prune();
	if (cbv_cache_npend >= CBV_CACHE_PENDING_MAX) {
		p = TAILQ_FIRST(&cbv_cache_pendq);
		TAILQ_REMOVE(&cbv_cache_pendq, p, entry);
		cbv_cache_npend--;
		free(p);
	}
	p = xcalloc(1, sizeof(*p));
	p->seq = ++cbv_cache_seq;
	p->e = *e;
	TAILQ_INSERT_TAIL(&cbv_cache_pendq, p, entry);
	cbv_cache_npend++;

	job = xcalloc(1, sizeof(*job));
	job->op = CBV_CACHE_OP_PUT;
	job->seq = p->seq;
	job->e = *e;
	stats_defer(cbv_cache_job_cb, job);
}

/* cbv_cache_purge_later - queue the removal of entries expired at now.
 * Expired entries are ignored by every read; this only keeps the table
 * small. */
void
cbv_cache_purge_later(double now)
{
	struct cbv_cache_job *job;

	if (stats_handle() == NULL)
		return;
	job = xcalloc(1, sizeof(*job));
	job->op = CBV_CACHE_OP_PURGE;
	job->now = now;
	stats_defer(cbv_cache_job_cb, job);
}

/* cbv_cache_forget - free the overlay (pending writes stay queued in
 * stats.c, which owns them now). */
void
cbv_cache_forget(void)
{
	struct cbv_cache_pending *p;

	while ((p = TAILQ_FIRST(&cbv_cache_pendq)) != NULL) {
		TAILQ_REMOVE(&cbv_cache_pendq, p, entry);
		free(p);
	}
	cbv_cache_npend = 0;
}

/* cbv_cache_atext - RFC 5322 §3.2.3 atext, plus the UTF-8 octets that
 * RFC 6531 §3.3 allows in a local part. */
static int
cbv_cache_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* cbv_cache_dot_atom - is the local part a Dot-string (RFC 5321 §4.1.2),
 * i.e. usable without quotes? */
static int
cbv_cache_dot_atom(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i;

	if (u[0] == '\0' || u[0] == '.')
		return 0;
	for (i = 0; u[i] != '\0'; i++) {
		if (u[i] == '.') {
			if (u[i + 1] == '.' || u[i + 1] == '\0')
				return 0;
		} else if (!cbv_cache_atext(u[i]))
			return 0;
	}
	return 1;
}

/*
 * cbv_cache_key - "local@domain" from the internal form: the local part
 * keeps its case (RFC 5321 §2.4: only the remote host may interpret it),
 * the domain is lower case, and a local part that is not a Dot-string is
 * quoted again (RFC 5321 §4.1.2 Quoted-string) so that the text is a valid
 * RCPT TO argument for the probe. Returns the length, or 0 when it does
 * not fit (buf is then "").
 */
size_t
cbv_cache_key(const struct mailaddr *a, char *buf, size_t len)
{
	size_t o = 0, i;
	int n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (cbv_cache_dot_atom(a->local)) {
		n = snprintf(buf, len, "%s@%s", a->local, a->domain);
		if (n < 0 || (size_t)n >= len) {
			buf[0] = '\0';
			return 0;
		}
		return (size_t)n;
	}
	/* Quoted: every '"' and '\' escaped; worst case doubles the part. */
	if (o + 1 >= len)
		return 0;
	buf[o++] = '"';
	for (i = 0; a->local[i] != '\0'; i++) {
		if (o + 3 >= len) {
			buf[0] = '\0';
			return 0;
		}
		if (a->local[i] == '"' || a->local[i] == '\\')
			buf[o++] = '\\';
		buf[o++] = a->local[i];
	}
	n = snprintf(buf + o, len - o, "\"@%s", a->domain);
	if (n < 0 || (size_t)n >= len - o) {
		buf[0] = '\0';
		return 0;
	}
	return o + (size_t)n;
}
