/* cbv_rate.c - the bounds on new call-back probes: per client address and
 * per sender domain, each a number in any 60 seconds (issue 12: one
 * session looping RSET/MAIL with fresh local parts must not turn us into
 * a prober of somebody else's MX).
 *
 *	cbv_rate_set - the two bounds and the IPv6 prefix of one client; a
 *		change of bounds forgets every count
 *	cbv_rate_take - may a new probe for this client and domain start at
 *		time now (monotonic seconds)? 1: yes, and it is counted in
 *		both; 0: no, why says which bound, nothing is counted (before
 *		cbv_rate_set: always 1)
 *	cbv_rate_free - forget everything
 *
 * Each key keeps the start times of its last `bound` probes in a ring, so
 * the bound is exact over any 60 seconds (no fixed windows that allow
 * twice the bound across an edge). Memory is fixed: CBV_RATE_KEYS keys a
 * table, each with a ring of its bound; a key whose probes are all older
 * than a minute is reused. When every key of a table is busy, a new one
 * is refused (fail closed: a 450 is retried; an open door is not).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cbv_rate.h"
#include "cidr.h"
#include "strictmx.h"
#include "xmalloc.h"

struct cbv_rate_key {
	int		 used;
	struct sockaddr_storage client;		/* client table */
	char		 domain[SMTP_DOMAIN_MAX + 1];	/* domain table */
	double		*t;		/* ring of start times, bound long */
	size_t		 head, n;
};

struct cbv_rate_table {
	struct cbv_rate_key *k;		/* CBV_RATE_KEYS, on first use */
	unsigned	 bound;
};

static struct {
	struct cbv_rate_table client, domain;
	unsigned	 v6bits;
} rate;

static void
cbv_rate_table_free(struct cbv_rate_table *tb)
{
	size_t i;

	if (tb->k != NULL)
		for (i = 0; i < CBV_RATE_KEYS; i++)
			free(tb->k[i].t);
	free(tb->k);
	tb->k = NULL;
}

void
cbv_rate_free(void)
{
	cbv_rate_table_free(&rate.client);
	cbv_rate_table_free(&rate.domain);
}

void
cbv_rate_set(unsigned per_client, unsigned per_domain, unsigned v6bits)
{
	per_client = per_client ? per_client : 1;
	per_domain = per_domain ? per_domain : 1;
	if (per_client != rate.client.bound)
		cbv_rate_table_free(&rate.client);
	if (per_domain != rate.domain.bound)
		cbv_rate_table_free(&rate.domain);
	rate.client.bound = per_client;
	rate.domain.bound = per_domain;
	rate.v6bits = v6bits;
}

/* cbv_rate_idle - no probe of this key in the last minute. */
static int
cbv_rate_idle(const struct cbv_rate_key *k, unsigned bound, double now)
{
	return !k->used || k->n == 0 ||
	    now - k->t[(k->head + k->n - 1) % bound] >= CBV_RATE_WINDOW;
}

/* cbv_rate_find - the key of client (or domain), a fresh one in a free or
 * idle slot, or NULL when the table is full of busy keys. */
static struct cbv_rate_key *
cbv_rate_find(struct cbv_rate_table *tb, const struct sockaddr_storage *cl,
    const char *domain, double now)
{
	struct cbv_rate_key *k, *spare = NULL;
	size_t i;

	if (tb->k == NULL)
		tb->k = xcalloc(CBV_RATE_KEYS, sizeof(*tb->k));
	for (i = 0; i < CBV_RATE_KEYS; i++) {
		k = &tb->k[i];
		if (k->used && (cl != NULL ?
		    cidr_same_client(&k->client, cl, rate.v6bits) :
		    strcasecmp(k->domain, domain) == 0))
			return k;
		if (spare == NULL && cbv_rate_idle(k, tb->bound, now))
			spare = k;
	}
	if (spare == NULL)
		return NULL;
	if (spare->t == NULL)
		spare->t = xcalloc(tb->bound, sizeof(*spare->t));
	spare->used = 1;
	spare->head = spare->n = 0;
	memset(&spare->client, 0, sizeof(spare->client));
	spare->domain[0] = '\0';
	if (cl != NULL)
		spare->client = *cl;
	else
		snprintf(spare->domain, sizeof(spare->domain), "%s", domain);
	return spare;
}

/* cbv_rate_room - may k start one more probe now? */
static int
cbv_rate_room(const struct cbv_rate_key *k, unsigned bound, double now)
{
	return k->n < bound || now - k->t[k->head] >= CBV_RATE_WINDOW;
}

/* cbv_rate_count - one probe started now. */
static void
cbv_rate_count(struct cbv_rate_key *k, unsigned bound, double now)
{
	if (k->n < bound)
		k->t[(k->head + k->n++) % bound] = now;
	else {
		k->t[k->head] = now;
		k->head = (k->head + 1) % bound;
	}
}

int
cbv_rate_take(const struct sockaddr *client, const char *domain, double now,
    char *why, size_t len)
{
	struct sockaddr_storage cl;
	struct cbv_rate_key *kc = NULL, *kd;

	/* Bounds not set yet (cbv_rate_set runs at start-up): no bound, and
	 * no slot index computed modulo zero. */
	if (rate.client.bound == 0 || rate.domain.bound == 0)
		return 1;
	if (client != NULL && cidr_sockaddr_unmap(client, &cl) == 0) {
		kc = cbv_rate_find(&rate.client, &cl, NULL, now);
		if (kc == NULL) {
			snprintf(why, len, "too many clients being verified");
			return 0;
		}
		if (!cbv_rate_room(kc, rate.client.bound, now)) {
			snprintf(why, len, "over %u new verifications a "
			    "minute from this client "
			    "(cbv_max_per_client_minute)", rate.client.bound);
			return 0;
		}
	}
	kd = cbv_rate_find(&rate.domain, NULL, domain, now);
	if (kd == NULL) {
		snprintf(why, len, "too many domains being verified");
		return 0;
	}
	if (!cbv_rate_room(kd, rate.domain.bound, now)) {
		snprintf(why, len, "over %u new verifications a minute of "
		    "this domain (cbv_max_per_domain_minute)",
		    rate.domain.bound);
		return 0;
	}
	if (kc != NULL)
		cbv_rate_count(kc, rate.client.bound, now);
	cbv_rate_count(kd, rate.domain.bound, now);
	return 1;
}
