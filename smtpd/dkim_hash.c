/* dkim_hash.c - what a DKIM signature signs (the header hash, RFC 6376
 * §3.7) and the check of b= against the key (OpenSSL EVP).
 *
 *	dkim_header_hash - SHA-256 over the fields h= names (canonicalised
 *	    per c=), then the DKIM-Signature field itself with b= empty and
 *	    no final CRLF
 *	dkim_signature_ok - 1 when b= verifies over that hash with the key
 *	    (RSA: PKCS#1 v1.5 over the SHA-256 digest, RFC 8017 §8.2;
 *	    Ed25519: PureEdDSA over the 32-octet hash, RFC 8463 §3), else 0
 *
 * Field selection (§5.4.2): the names of h= in order; a name listed k
 * times takes the k bottom-most fields of that name, bottom-up; a name
 * listed more times than there are fields (over-signing) or absent adds
 * nothing. Names compare case-insensitively.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "dkim_canon.h"
#include "dkim_hash.h"
#include "log.h"

static void
md_sink(void *arg, const char *p, size_t n)
{
	EVP_DigestUpdate(arg, p, n);
}

/* dkim_header_hash - fields[0..n) in message order; self is the
 * signature's own field. */
void
dkim_header_hash(const struct msghdr_field *fields, size_t n,
    const struct dkim_sigparse *p, const struct msghdr_field *self,
    unsigned char *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const char *el, *prev;
	size_t ellen, pos = 0, prevlen, ppos, k, skip, j, cut0, cut1;
	unsigned int outlen = 0;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		log_crit("dkim: no SHA-256");
		abort();
	}
	while (pos <= p->h->len && dkim_list_next(p->h->val, p->h->len,
	    &pos, &el, &ellen)) {
		/* how many times this name came before in h= */
		skip = 0;
		ppos = 0;
		while (ppos < pos - 1 && dkim_list_next(p->h->val,
		    pos - 1, &ppos, &prev, &prevlen) && prev < el)
			if (prevlen == ellen &&
			    strncasecmp(prev, el, ellen) == 0)
				skip++;
		for (k = n; k > 0; k--) {
			const struct msghdr_field *f = &fields[k - 1];

			if (f->namelen != ellen ||
			    strncasecmp(f->name, el, ellen) != 0)
				continue;
			if (skip-- > 0)
				continue;
			dkim_canon_header(p->hrelaxed, f->raw, f->rawlen, 1,
			    md_sink, md);
			break;
		}
	}
	/* the signature itself, b= value (and the FWS before it) removed */
	cut0 = (size_t)(p->b->eq - self->raw);
	cut1 = (size_t)(p->b->val + p->b->len - self->raw);
	{
		char *tmp = malloc(self->rawlen);

		if (tmp == NULL) {
			log_crit("dkim: out of memory");
			abort();
		}
		memcpy(tmp, self->raw, cut0);
		j = self->rawlen - cut1;
		memcpy(tmp + cut0, self->raw + cut1, j);
		dkim_canon_header(p->hrelaxed, tmp, cut0 + j, 0, md_sink, md);
		free(tmp);
	}
	EVP_DigestFinal_ex(md, out, &outlen);
	EVP_MD_CTX_free(md);
}

/* dkim_signature_ok - see the top of the file. */
int
dkim_signature_ok(const struct dkim_key *k, const unsigned char *sig,
    size_t siglen, const unsigned char *hash)
{
	int ok = 0;

	if (k->pkey == NULL)
		return 0;
	if (k->type == DKIM_KEY_RSA) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->pkey, NULL);

		if (c != NULL && EVP_PKEY_verify_init(c) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1)
			ok = EVP_PKEY_verify(c, sig, siglen, hash,
			    DKIM_HASH_LEN) == 1;
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL,
		    k->pkey) == 1)
			ok = EVP_DigestVerify(md, sig, siglen, hash,
			    DKIM_HASH_LEN) == 1;
		EVP_MD_CTX_free(md);
	}
	ERR_clear_error();
	return ok;
}
