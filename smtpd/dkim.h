/* dkim.h - DKIM signature verification (RFC 6376, RFC 8301, RFC 8463) on
 * the event loop: body hashes as DATA streams, key lookups through udns. */
#ifndef DKIM_H
#define DKIM_H

#include <stddef.h>

#include "msghdr.h"
#include "strictmx.h"

struct event_base;

/* RFC 8601 §2.7.1 results, in the order of the name table. */
enum dkim_result {
	DKIM_NONE,		/* no signature */
	DKIM_PASS,
	DKIM_FAIL,		/* bad signature or body hash */
	DKIM_POLICY,		/* valid, but refused by local policy (a
				 * key under 1024 bits, rsa-sha1: RFC 8301) */
	DKIM_NEUTRAL,		/* not verified: beyond dkim_max_signatures */
	DKIM_TEMPERROR,		/* key lookup failed for now */
	DKIM_PERMERROR,		/* malformed signature or key, no key,
				 * revoked key, expired x= */
	DKIM_RESULT_LAST
};

/* The most signatures any configuration verifies (dkim_max_signatures is
 * bounded by it); the outcome lists at most this many. */
#define DKIM_SIG_MAX	16

struct dkim_sig {
	enum dkim_result result;
	char	domain[SMTP_DOMAIN_MAX + 1];	/* d=, lower case */
	char	selector[SMTP_DOMAIN_MAX + 1];	/* s= */
	char	b8[9];			/* first 8 characters of b= (RFC 6008
					 * header.b), "" when none */
	char	algorithm[24];		/* a= as written */
	char	identity[SMTP_PATH_MAX + 1];	/* i=, or "@d" by default */
	unsigned key_bits;		/* 0 when no key was found */
	int	testing;		/* the key has t=y */
	char	reason[128];		/* why not pass: printable ASCII, for
					 * logs and the A-R comment */
};

struct dkim_outcome {
	size_t		 nsig;		/* signatures listed in sig[] */
	size_t		 ignored;	/* more than DKIM_SIG_MAX: not listed */
	struct dkim_sig	 sig[DKIM_SIG_MAX];
	double		 duration;	/* seconds from the end of the header
					 * section to the verdicts */
};

struct dkim_verifier;

/* Called once from the loop (never inside dkim_finish), unless
 * dkim_verifier_free() came first. The outcome is valid during the call. */
typedef void dkim_done_fn(void *, const struct dkim_outcome *);

/* dkim_init - the loop the verifiers run on; once, after resolver_init. */
void	dkim_init(struct event_base *);

/* dkim_verifier_new - a verifier for one message, verifying at most max
 * signatures (the first max DKIM-Signature fields from the top; the rest
 * are reported neutral, RFC 6376 §6.1 lets a verifier limit its work). */
struct dkim_verifier *dkim_verifier_new(unsigned max);

/* dkim_headers - the header section is complete (h->done): parse the
 * signatures and start their key lookups now, while the body streams. */
void	dkim_headers(struct dkim_verifier *, const struct msghdr_section *);

/* dkim_body - body octets (after the header section's empty line), LF
 * line ends; hashed at once and never kept. */
void	dkim_body(struct dkim_verifier *, const char *, size_t);

/* dkim_finish - the message ended: finish the body hashes, verify each
 * signature once its key is in, then call back. Bounded by timeout
 * seconds from now (keys not in by then: temperror). */
void	dkim_finish(struct dkim_verifier *, unsigned, dkim_done_fn *, void *);

/* dkim_verifier_free - cancel lookups and free; no callback after it.
 * NULL is fine. */
void	dkim_verifier_free(struct dkim_verifier *);

const char *dkim_result_text(enum dkim_result);

#endif
