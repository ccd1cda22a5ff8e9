/* dkim_sig.h - one DKIM-Signature field parsed and checked (RFC 6376 §3.5,
 * §6.1.1; RFC 8301 for rsa-sha1; RFC 8463 for ed25519-sha256). */
#ifndef DKIM_SIG_H
#define DKIM_SIG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dkim.h"
#include "dkim_tag.h"

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
	DKIM_ALG_RSA_SHA1,
};

/* The most h= names (giant lists are hostile: each name costs a search
 * of the header section), and the longest b= (a 16384-bit RSA
 * signature; OpenSSL verifies no larger modulus). */
#define DKIM_H_MAX	128
#define DKIM_B_MAX	2048
#define DKIM_BH_MAX	64
/* Clock slop for x= (RFC 6376 §3.5 lets verifiers allow some) and t= in
 * the future (dkimpy's 10 hours, so that both agree). */
#define DKIM_X_SLOP	300
#define DKIM_T_FUTURE	36000

struct dkim_sigparse {
	struct dkim_tags tags;		/* points into the field */
	enum dkim_alg	 alg;
	int		 hrelaxed, brelaxed;
	char		 d[SMTP_DOMAIN_MAX + 1];	/* lower case */
	char		 s[SMTP_DOMAIN_MAX + 1];
	char		 i[SMTP_PATH_MAX + 1];		/* "@d" by default */
	char		 algorithm[24];
	char		 b8[9];
	uint64_t	 l;		/* UINT64_MAX: no l= */
	const struct dkim_tag *h;	/* the h= list */
	const struct dkim_tag *b;	/* b=, for the header hash */
	unsigned char	 bh[DKIM_BH_MAX];
	size_t		 bhlen;
	unsigned char	 sig[DKIM_B_MAX];
	size_t		 siglen;
	char		 err[96];	/* printable ASCII */
};

enum dkim_result dkim_sig_parse(const char *, size_t, long long,
	    struct dkim_sigparse *);
int	dkim_domain_ok(const char *, size_t);

#endif
