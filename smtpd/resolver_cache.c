/* resolver_cache.c - positive DNS answers kept in memory for their TTL,
 * bounded in entries and bytes, the least recently used going first.
 *
 *	resolver_cache_setsize - at most n entries and n KiB (0: no cache);
 *		flushes
 *	resolver_cache_enabled - 1 if answers are kept
 *	resolver_cache_flush - forget every answer (reload: new servers)
 *	resolver_cache_get - the unexpired answer for (type, name) into a
 *		result; 1 hit, 0 miss
 *	resolver_cache_put - keep an OK answer for min(ttl, an hour) seconds
 *	resolver_cache_stats - hits, misses, entries, bytes
 *	resolver_cache_log - one log line of those, at a reload or the end
 *	resolver_cache_now - the clock the resolver passes in (monotonic s)
 *	resolver_cache_bucket - where a name goes (for the tests)
 *	resolver_name_lower - a name as the resolver hands it on and keys it
 *
 * Why a cache in front of the local resolver the man page recommends:
 * every session asks for its client's PTR and the A records of that name,
 * and the HELO, SPF and DMARC checks ask the same few names again for
 * every message of a busy peer. The round trip to even a local cache is
 * a datagram each way, a wake-up of both processes and a parse; a hit
 * here is a hash lookup. Only answers with records are kept: no negative
 * answer (udns hands over no SOA, so RFC 2308's negative TTL is unknown)
 * and never a failure. Answers are packed to their used bytes, so an
 * entry is a hundred bytes or so, not the 22 KB of a resolver_result.
 *
 * The clock is passed in so the tests can move it; expiry is checked at
 * every get, and full (in entries or in bytes) means the least recently
 * used entries are dropped. Names are chosen by whoever controls a zone
 * (HELO names, SPF macros), so the hash is seeded per process and a
 * bucket holds at most RESOLVER_CACHE_CHAIN_MAX entries.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "resolver.h"
#include "resolver_cache.h"
#include "xmalloc.h"

struct rcache_entry {
	TAILQ_ENTRY(rcache_entry) lru;		/* most recent first */
	struct rcache_entry	*next;		/* same bucket */
	uint32_t		 hash;
	enum resolver_type	 type;
	uint64_t		 expires;	/* resolver_cache_now() */
	size_t			 n;		/* records */
	size_t			 keylen;	/* key, NUL, packed records */
	size_t			 len;
	char			 data[];
};

TAILQ_HEAD(rcache_lru, rcache_entry);

static struct rcache_lru rcache_lru = TAILQ_HEAD_INITIALIZER(rcache_lru);
static struct rcache_entry **rcache_bucket;
static size_t rcache_nbucket;		/* a power of two, or 0: off */
static size_t rcache_max;		/* entries */
static size_t rcache_max_bytes;
static uint32_t rcache_seed;
static struct resolver_cache_stats rcache_stats;

uint64_t
resolver_cache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* resolver_name_lower - name in lower case without a final dot into out
 * (SMTP_DOMAIN_MAX + 1 octets): the form the resolver hands names on in,
 * and the cache's key; its length, or -1 if too long. */
int
resolver_name_lower(const char *name, char *out)
{
	size_t i, len = strlen(name);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len > SMTP_DOMAIN_MAX)
		return -1;
	for (i = 0; i < len; i++)
		out[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	out[len] = '\0';
	return (int)len;
}

/* rcache_hash - FNV-1a of the seed, the type and the key. */
static uint32_t
rcache_hash(enum resolver_type type, const char *key, size_t len)
{
	uint32_t h = (2166136261u ^ rcache_seed) ^ (uint32_t)type;
	size_t i;

	h *= 16777619u;
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

/* rcache_unlink - take e out of its bucket and the LRU list, free it. */
static void
rcache_unlink(struct rcache_entry *e)
{
	struct rcache_entry **pp;

	for (pp = &rcache_bucket[e->hash & (rcache_nbucket - 1)]; *pp != e;
	    pp = &(*pp)->next)
		;
	*pp = e->next;
	TAILQ_REMOVE(&rcache_lru, e, lru);
	rcache_stats.entries--;
	rcache_stats.bytes -= sizeof(*e) + e->keylen + 1 + e->len;
	free(e);
}

/* rcache_find - the entry of (type, key), expired or not, or NULL; with
 * chain, the length of the bucket's chain. */
static struct rcache_entry *
rcache_find(enum resolver_type type, const char *key, size_t keylen,
    uint32_t hash, size_t *chain)
{
	struct rcache_entry *e;
	size_t n = 0;

	for (e = rcache_bucket[hash & (rcache_nbucket - 1)]; e != NULL;
	    e = e->next, n++)
		if (e->hash == hash && e->type == type &&
		    e->keylen == keylen && memcmp(e->data, key, keylen) == 0)
			return e;
	if (chain != NULL)
		*chain = n;
	return NULL;
}

/* rcache_pack - res's records of type packed into out (NULL: measure
 * only); the packed length. */
static size_t
rcache_pack(enum resolver_type type, const struct resolver_result *res,
    char *out)
{
	size_t i, len = 0, part;
	const void *src;
	unsigned pref;

	for (i = 0; i < res->n; i++) {
		switch (type) {
		case RESOLVER_T_A:
			src = &((const struct sockaddr_in *)
			    &res->addr[i])->sin_addr;
			part = sizeof(struct in_addr);
			break;
		case RESOLVER_T_AAAA:
			src = &((const struct sockaddr_in6 *)
			    &res->addr[i])->sin6_addr;
			part = sizeof(struct in6_addr);
			break;
		case RESOLVER_T_PTR:
			src = res->name[i];
			part = strlen(res->name[i]) + 1;
			break;
		case RESOLVER_T_MX:
			pref = res->mx[i].pref;
			if (out != NULL)
				memcpy(out + len, &pref, sizeof(pref));
			len += sizeof(pref);
			src = res->mx[i].name;
			part = strlen(res->mx[i].name) + 1;
			break;
		case RESOLVER_T_TXT:
			if (out != NULL)
				memcpy(out + len, &res->txt_len[i],
				    sizeof(size_t));
			len += sizeof(size_t);
			src = res->txt + res->txt_off[i];
			part = res->txt_len[i] + 1;
			break;
		default:
			return 0;
		}
		if (out != NULL)
			memcpy(out + len, src, part);
		len += part;
	}
	return len;
}

/* rcache_unpack - e's records into res; -1 if they do not fit, which only
 * a bug could cause. Only the fields and the records an answer has are
 * written: a result is 22 KB, and a hit should not cost clearing it. */
static int
rcache_unpack(const struct rcache_entry *e, struct resolver_result *res)
{
	const char *p = e->data + e->keylen + 1, *end = p + e->len;
	size_t i, len, used = 0;

	res->status = RESOLVER_OK;
	res->truncated = 0;
	res->n = 0;
	for (i = 0; i < e->n && i < RESOLVER_MAX_RR; i++) {
		switch (e->type) {
		case RESOLVER_T_A: {
			struct sockaddr_in *sin = (void *)&res->addr[i];

			if ((size_t)(end - p) < sizeof(sin->sin_addr))
				return -1;
			memset(&res->addr[i], 0, sizeof(res->addr[i]));
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, p, sizeof(sin->sin_addr));
			p += sizeof(sin->sin_addr);
			break;
		}
		case RESOLVER_T_AAAA: {
			struct sockaddr_in6 *sin6 = (void *)&res->addr[i];

			if ((size_t)(end - p) < sizeof(sin6->sin6_addr))
				return -1;
			memset(&res->addr[i], 0, sizeof(res->addr[i]));
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, p, sizeof(sin6->sin6_addr));
			p += sizeof(sin6->sin6_addr);
			break;
		}
		case RESOLVER_T_PTR:
			len = strnlen(p, (size_t)(end - p));
			if (len >= (size_t)(end - p) ||
			    len >= sizeof(res->name[i]))
				return -1;
			memcpy(res->name[i], p, len + 1);
			p += len + 1;
			break;
		case RESOLVER_T_MX:
			if ((size_t)(end - p) < sizeof(unsigned))
				return -1;
			memcpy(&res->mx[i].pref, p, sizeof(unsigned));
			p += sizeof(unsigned);
			len = strnlen(p, (size_t)(end - p));
			if (len >= (size_t)(end - p) ||
			    len >= sizeof(res->mx[i].name))
				return -1;
			memcpy(res->mx[i].name, p, len + 1);
			p += len + 1;
			break;
		case RESOLVER_T_TXT:
			if ((size_t)(end - p) < sizeof(size_t))
				return -1;
			memcpy(&len, p, sizeof(size_t));
			p += sizeof(size_t);
			if (len >= (size_t)(end - p) ||
			    len + 1 > sizeof(res->txt) - used)
				return -1;
			memcpy(res->txt + used, p, len + 1);
			res->txt_off[i] = used;
			res->txt_len[i] = len;
			used += len + 1;
			p += len + 1;
			break;
		default:
			return -1;
		}
		res->n++;
	}
	return p == end ? 0 : -1;
}

void
resolver_cache_flush(void)
{
	while (!TAILQ_EMPTY(&rcache_lru))
		rcache_unlink(TAILQ_FIRST(&rcache_lru));
}

/* resolver_cache_setsize - keep at most max entries from now on; every
 * answer kept so far is forgotten. 0 turns the cache off. */
void
resolver_cache_setsize(size_t max)
{
	size_t nb = 64;

	resolver_cache_flush();
	free(rcache_bucket);
	rcache_bucket = NULL;
	rcache_nbucket = 0;
	rcache_max = max;
	rcache_max_bytes = max * RESOLVER_CACHE_BYTES_PER_ENTRY;
	if (max == 0)
		return;
	rcache_seed = arc4random();
	/* About one entry per bucket when full. */
	while (nb < max && nb < ((size_t)1 << 17))
		nb <<= 1;
	rcache_bucket = xcalloc(nb, sizeof(*rcache_bucket));
	rcache_nbucket = nb;
}

size_t
resolver_cache_bucket(enum resolver_type type, const char *name)
{
	char key[SMTP_DOMAIN_MAX + 1];
	int len;

	if (rcache_nbucket == 0 || (len = resolver_name_lower(name, key)) < 0)
		return 0;
	return rcache_hash(type, key, (size_t)len) & (rcache_nbucket - 1);
}

int
resolver_cache_enabled(void)
{
	return rcache_nbucket > 0;
}

int
resolver_cache_get(enum resolver_type type, const char *name, uint64_t now,
    struct resolver_result *res)
{
	char key[SMTP_DOMAIN_MAX + 1];
	struct rcache_entry *e;
	int len;

	if (rcache_nbucket == 0 || (len = resolver_name_lower(name, key)) < 0)
		return 0;
	e = rcache_find(type, key, (size_t)len, rcache_hash(type, key,
	    (size_t)len), NULL);
	if (e != NULL && (e->expires <= now || rcache_unpack(e, res) < 0)) {
		rcache_unlink(e);
		e = NULL;
	}
	if (e == NULL) {
		rcache_stats.misses++;
		return 0;
	}
	res->ttl = (unsigned)(e->expires - now);
	TAILQ_REMOVE(&rcache_lru, e, lru);
	TAILQ_INSERT_HEAD(&rcache_lru, e, lru);
	rcache_stats.hits++;
	return 1;
}

void
resolver_cache_put(enum resolver_type type, const char *name, uint64_t now,
    const struct resolver_result *res)
{
	char key[SMTP_DOMAIN_MAX + 1];
	struct rcache_entry *e;
	uint32_t hash;
	unsigned ttl = res->ttl;
	size_t len, size, chain = 0;
	int klen;

	/* RFC 2181 §8: a TTL with the top bit set means zero. udns gives
	 * the smallest of the set compared as unsigned, so such a TTL mixed
	 * with a sane one gets the sane one: harmless, an hour at most. */
	if (ttl > 0x7fffffffu)
		ttl = 0;
	if (ttl > RESOLVER_CACHE_TTL_MAX)
		ttl = RESOLVER_CACHE_TTL_MAX;
	if (rcache_nbucket == 0 || res->status != RESOLVER_OK ||
	    res->n == 0 || res->truncated || ttl == 0 ||
	    (klen = resolver_name_lower(name, key)) < 0)
		return;
	hash = rcache_hash(type, key, (size_t)klen);
	if ((e = rcache_find(type, key, (size_t)klen, hash, &chain)) != NULL)
		rcache_unlink(e);
	else if (chain >= RESOLVER_CACHE_CHAIN_MAX)
		return;
	len = rcache_pack(type, res, NULL);
	if ((size = sizeof(*e) + (size_t)klen + 1 + len) > rcache_max_bytes)
		return;
	while (rcache_stats.entries > 0 && (rcache_stats.entries >=
	    rcache_max || rcache_stats.bytes + size > rcache_max_bytes))
		rcache_unlink(TAILQ_LAST(&rcache_lru, rcache_lru));
	e = xmalloc(size);
	e->hash = hash;
	e->type = type;
	e->expires = now + ttl;
	e->n = res->n;
	e->keylen = (size_t)klen;
	e->len = len;
	memcpy(e->data, key, (size_t)klen + 1);
	rcache_pack(type, res, e->data + klen + 1);
	e->next = rcache_bucket[hash & (rcache_nbucket - 1)];
	rcache_bucket[hash & (rcache_nbucket - 1)] = e;
	TAILQ_INSERT_HEAD(&rcache_lru, e, lru);
	rcache_stats.entries++;
	rcache_stats.bytes += size;
}

void
resolver_cache_stats(struct resolver_cache_stats *st)
{
	*st = rcache_stats;
}

/* resolver_cache_log - what the cache saved since the start, for the
 * postmaster sizing resolver_cache_size: said at a reload and at the end,
 * when anything was asked of it. */
void
resolver_cache_log(const char *when)
{
	const struct resolver_cache_stats *st = &rcache_stats;

	if (st->hits + st->misses == 0)
		return;
	log_info("resolver: cache at %s: %llu of %llu lookups since the start "
	    "answered from memory (%.1f%%), %zu answers kept in %zu bytes",
	    when, (unsigned long long)st->hits,
	    (unsigned long long)(st->hits + st->misses),
	    100.0 * (double)st->hits / (double)(st->hits + st->misses),
	    st->entries, st->bytes);
}
