/* dmarc_record.h - the DMARC policy record (RFC 7489 §6.3): a tag-value
 * list from DNS, parsed whole into what the policy decision needs. */
#ifndef DMARC_RECORD_H
#define DMARC_RECORD_H

#include <stddef.h>

#include "dmarc.h"

struct dmarc_record {
	enum dmarc_policy p;	/* p=; NONE when p= was missing or invalid
				 * but rua= held a URI (§6.6.3) */
	enum dmarc_policy sp;	/* sp=; DMARC_P_UNSET: as p */
	int	adkim_strict;	/* adkim=s (default r) */
	int	aspf_strict;	/* aspf=s (default r) */
	unsigned pct;		/* 0..100, default 100 */
	int	p_implied;	/* p=none implied by rua= (§6.6.3) */
};

/* dmarc_record_is_dmarc - 1 when the TXT record starts with the tag
 * v=DMARC1 (§6.6.3 step 3: other records are discarded), else 0. */
int	dmarc_record_is_dmarc(const char *, size_t);

/* dmarc_record_parse - parse a record of len octets (any octets: NUL,
 * controls and 8-bit make it invalid). 0 and *rec filled, or -1 with a
 * short printable reason in why (at most whysize octets). */
int	dmarc_record_parse(const char *, size_t, struct dmarc_record *,
	    char *, size_t);

#endif
