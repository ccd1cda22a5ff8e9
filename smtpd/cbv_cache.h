/* cbv_cache.h - recent sender-check results, kept in the cbv_cache table of
 * stats_db so that a return path is probed once per TTL, across restarts. */
#ifndef CBV_CACHE_H
#define CBV_CACHE_H

#include <stddef.h>

#include "strictmx.h"

struct sqlite3;
struct mailaddr;

/* One row of cbv_cache. The verdict is rebuilt from stage and reply under
 * the configuration in force when the entry is read (sender.c). */
struct cbv_cache_entry {
	char	address[SMTP_PATH_MAX + 1];	/* cbv_cache_key() form */
	char	outcome[16];		/* pass, fail, tempfail */
	char	stage[16];		/* a cbv stage name, or a STATS_DNS_* */
	char	reply[SMTP_REPLYLINE_MAX + 1];	/* remote reply or DNS text */
	char	mx_host[SMTP_DOMAIN_MAX + 1];
	int	rfc3821;
	double	created, expires;	/* epoch seconds */
};

/* Called by cbv_cache_list() once per row; non-zero stops the walk. */
typedef int cbv_cache_list_fn(const struct cbv_cache_entry *, void *);

/* Direct access to a database handle (strictmxctl, tests, deferred writes). */
int	cbv_cache_get(struct sqlite3 *, const char *, double,
	    struct cbv_cache_entry *);
int	cbv_cache_put(struct sqlite3 *, const struct cbv_cache_entry *);
int	cbv_cache_delete(struct sqlite3 *, const char *);
int	cbv_cache_flush(struct sqlite3 *);
int	cbv_cache_purge(struct sqlite3 *, double);
int	cbv_cache_list(struct sqlite3 *, cbv_cache_list_fn *, void *);

/* The daemon's side, on the event loop, over stats_handle(). */
int	cbv_cache_lookup(const char *, double, struct cbv_cache_entry *);
void	cbv_cache_store(const struct cbv_cache_entry *);
void	cbv_cache_purge_later(double);
void	cbv_cache_forget(void);

size_t	cbv_cache_key(const struct mailaddr *, char *, size_t);

#endif
