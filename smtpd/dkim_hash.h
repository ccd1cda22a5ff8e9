/* dkim_hash.h - the header hash of one signature (RFC 6376 §3.7) and the
 * public-key check of its b= (RSA PKCS#1 v1.5, RFC 8463 Ed25519). */
#ifndef DKIM_HASH_H
#define DKIM_HASH_H

#include <stddef.h>

#include "dkim_key.h"
#include "dkim_sig.h"
#include "msghdr.h"

#define DKIM_HASH_LEN	32	/* SHA-256 */

void	dkim_header_hash(const struct msghdr_field *, size_t,
	    const struct dkim_sigparse *, const struct msghdr_field *,
	    unsigned char *);
int	dkim_signature_ok(const struct dkim_key *, const unsigned char *,
	    size_t, const unsigned char *);

#endif
