/* resolver_cache.h - the resolver's memory of recent positive answers,
 * kept for their TTL so that a client's next session asks no one. */
#ifndef RESOLVER_CACHE_H
#define RESOLVER_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct resolver_result;

/* The query types; the cache keys on (type, name) and packs each type's
 * array of struct resolver_result its own way. */
enum resolver_type {
	RESOLVER_T_A,
	RESOLVER_T_AAAA,
	RESOLVER_T_PTR,
	RESOLVER_T_MX,
	RESOLVER_T_TXT,
	RESOLVER_T_LAST,
};

/* No answer is kept longer than a day, whatever its TTL says (unbound's
 * cache-max-ttl default): a record changed upstream is seen by then. */
#define RESOLVER_CACHE_TTL_MAX	86400

struct resolver_cache_stats {
	uint64_t	hits;
	uint64_t	misses;
	size_t		entries;
	size_t		bytes;		/* entry memory, index excluded */
};

void	resolver_cache_setsize(size_t);
void	resolver_cache_flush(void);
int	resolver_cache_get(enum resolver_type, const char *, uint64_t,
	    struct resolver_result *);
void	resolver_cache_put(enum resolver_type, const char *, uint64_t,
	    const struct resolver_result *);
void	resolver_cache_stats(struct resolver_cache_stats *);
void	resolver_cache_log(const char *);
uint64_t resolver_cache_now(void);

#endif
