/* dkim_key.h - a DKIM key record (RFC 6376 §3.6.1, RFC 8463 for ed25519)
 * parsed into an OpenSSL public key and its flags. */
#ifndef DKIM_KEY_H
#define DKIM_KEY_H

#include <stddef.h>

#include <openssl/evp.h>

enum dkim_keytype {
	DKIM_KEY_RSA,
	DKIM_KEY_ED25519,
};

/* The largest RSA key: OpenSSL's own limit (OPENSSL_RSA_MAX_MODULUS_BITS). */
#define DKIM_RSA_MAX_BITS	16384

struct dkim_key {
	enum dkim_keytype type;
	EVP_PKEY	*pkey;		/* NULL when revoked */
	unsigned	 bits;
	int		 revoked;	/* p= empty (§3.6.1) */
	int		 testing;	/* t=y */
	int		 strict;	/* t=s: i= must be exactly d= */
	char		 err[96];
};

int	dkim_key_parse(const char *, size_t, struct dkim_key *);
void	dkim_key_free(struct dkim_key *);

#endif
