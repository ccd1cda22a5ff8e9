/* spf_record.h - one SPF record (RFC 7208 §4.5, §4.6, §12) parsed into
 * terms; pure code, no DNS, no allocation beyond the term array. */
#ifndef SPF_RECORD_H
#define SPF_RECORD_H

#include <stddef.h>

#include "spf.h"

/* Longest record parsed. A DNS answer holds at most RESOLVER_TXT_MAX
 * (1264) octets, so this never refuses a record DNS can carry; it bounds
 * the parser's work and the term array (at most SPF_RECORD_MAX / 2 terms)
 * for any other caller (tests, fuzzing). */
#define SPF_RECORD_MAX		4096

enum spf_mech {
	SPF_M_ALL,
	SPF_M_INCLUDE,
	SPF_M_A,
	SPF_M_MX,
	SPF_M_PTR,
	SPF_M_IP4,
	SPF_M_IP6,
	SPF_M_EXISTS,
	SPF_M_LAST
};

/* One mechanism. Texts are offsets into the record (not copied). */
struct spf_term {
	enum spf_mech	 mech;
	enum spf_result	 qual;		/* + PASS, - FAIL, ~ SOFTFAIL, ? NEUTRAL */
	size_t		 dom_off, dom_len;	/* domain-spec; len 0: none */
	size_t		 text_off, text_len;	/* the whole term, for logs */
	unsigned	 cidr4, cidr6;	/* a, mx: 32/128 unless given */
	unsigned char	 addr[16];	/* ip4 (first 4 octets), ip6 */
};

struct spf_record {
	const char	*text;		/* the caller's record, kept alive */
	size_t		 len;
	struct spf_term	*terms;		/* mechanisms in order */
	size_t		 nterms;
	int		 has_redirect, has_exp, has_all;
	size_t		 redirect_off, redirect_len;	/* domain-spec */
	size_t		 exp_off, exp_len;		/* domain-spec */
	char		 error[96];	/* why the parse failed */
};

int	spf_record_is_spf(const char *, size_t);
int	spf_record_parse(const char *, size_t, struct spf_record *);
void	spf_record_free(struct spf_record *);
const char *spf_mech_text(enum spf_mech);

#endif
