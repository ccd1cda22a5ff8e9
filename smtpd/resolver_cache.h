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

/* No answer is kept longer than an hour, whatever its TTL says: a record
 * changed upstream is seen by then, and so is the end of a forged answer
 * that got past udns's query id check. */
#define RESOLVER_CACHE_TTL_MAX	3600
/* Bytes of entries allowed per entry of resolver_cache_size: usual
 * answers take 100 to 500, the largest possible about 9 KiB, so a zone
 * built to fill the cache with those meets this bound first. */
#define RESOLVER_CACHE_BYTES_PER_ENTRY	1024
/* Entries per hash bucket: past this an answer is not kept, so names
 * chosen to collide cost a bounded walk (the hash is seeded per process
 * too), never a long chain on the loop. */
#define RESOLVER_CACHE_CHAIN_MAX	8

struct resolver_cache_stats {
	uint64_t	hits;
	uint64_t	misses;
	size_t		entries;
	size_t		bytes;		/* entry memory, index excluded */
};

void	resolver_cache_setsize(size_t);
int	resolver_cache_enabled(void);
void	resolver_cache_flush(void);
int	resolver_cache_get(enum resolver_type, const char *, uint64_t,
	    struct resolver_result *);
void	resolver_cache_put(enum resolver_type, const char *, uint64_t,
	    const struct resolver_result *);
void	resolver_cache_stats(struct resolver_cache_stats *);
void	resolver_cache_log(const char *);
uint64_t resolver_cache_now(void);
int	resolver_name_lower(const char *, char *);
size_t	resolver_cache_bucket(enum resolver_type, const char *);	/* tests */

#endif
