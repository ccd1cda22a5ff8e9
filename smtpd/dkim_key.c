/* dkim_key.c - one DKIM key record from DNS (RFC 6376 §3.6.1; RFC 8463 §4
 * for ed25519) checked and turned into an OpenSSL public key.
 *
 *	dkim_key_parse - the TXT record's text; 0 with k filled (k->pkey
 *	    NULL and revoked set for an empty p=), or -1 with k->err
 *	dkim_key_free - release the public key
 *
 * Rules: v= when present is first and "DKIM1"; k= is rsa (default) or
 * ed25519; h= when present lists sha256 (the only hash we verify); s=
 * when present lists "*" or "email"; t= flags y (testing) and s (strict
 * i=), unknown flags ignored; p= is required, empty means revoked, else
 * strict base64 of a SubjectPublicKeyInfo (rsa) or of the raw 32-octet
 * key (ed25519, RFC 8463 §4.2). Unknown tags are ignored (§3.6.1).
 *
 * Decoding an RSA SubjectPublicKeyInfo costs OpenSSL 3 about 100 us (its
 * decoder machinery), five times the signature check itself, and a busy
 * sender signs every message with the same key: the last few decoded keys
 * are kept, found by their exact DER octets, and shared by reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "dkim_key.h"
#include "dkim_tag.h"

/* A 16384-bit key's SubjectPublicKeyInfo is about 2 100 octets. */
#define DKIM_P_MAX	4096
/* Decoded RSA keys kept (see the top of the file); few senders at once. */
#define DKIM_KEY_CACHE	8

static struct {
	unsigned char	*der;
	size_t		 len;
	EVP_PKEY	*pkey;
} dkim_key_cache[DKIM_KEY_CACHE];
static unsigned dkim_key_cache_next;

/* dkim_key_cached - the key decoded from der before (a new reference), or
 * NULL. */
static EVP_PKEY *
dkim_key_cached(const unsigned char *der, size_t len)
{
	size_t i;

	for (i = 0; i < DKIM_KEY_CACHE; i++)
		if (dkim_key_cache[i].pkey != NULL &&
		    dkim_key_cache[i].len == len &&
		    memcmp(dkim_key_cache[i].der, der, len) == 0 &&
		    EVP_PKEY_up_ref(dkim_key_cache[i].pkey) == 1)
			return dkim_key_cache[i].pkey;
	return NULL;
}

/* dkim_key_remember - keep pkey for der, replacing the oldest entry. */
static void
dkim_key_remember(const unsigned char *der, size_t len, EVP_PKEY *pkey)
{
	unsigned i = dkim_key_cache_next++ % DKIM_KEY_CACHE;
	unsigned char *copy;

	if ((copy = malloc(len)) == NULL || EVP_PKEY_up_ref(pkey) != 1) {
		free(copy);
		return;
	}
	memcpy(copy, der, len);
	EVP_PKEY_free(dkim_key_cache[i].pkey);
	free(dkim_key_cache[i].der);
	dkim_key_cache[i].der = copy;
	dkim_key_cache[i].len = len;
	dkim_key_cache[i].pkey = pkey;
}

static int
key_err(struct dkim_key *k, const char *why)
{
	snprintf(k->err, sizeof(k->err), "%s", why);
	return -1;
}

static int
list_has(const struct dkim_tag *t, const char *w1, const char *w2)
{
	const char *el;
	size_t ellen, pos = 0;

	while (pos <= t->len && dkim_list_next(t->val, t->len, &pos, &el,
	    &ellen))
		if (dkim_value_eq(el, ellen, w1) || (w2 != NULL &&
		    dkim_value_eq(el, ellen, w2)))
			return 1;
	return 0;
}

/* dkim_key_parse - see the top of the file. */
int
dkim_key_parse(const char *txt, size_t len, struct dkim_key *k)
{
	struct dkim_tags tags;
	const struct dkim_tag *t;
	unsigned char der[DKIM_P_MAX];
	const unsigned char *dp = der;
	size_t derlen;

	memset(k, 0, sizeof(*k));
	if (dkim_tags_parse(txt, len, &tags) < 0) {
		snprintf(k->err, sizeof(k->err), "bad key record: %s",
		    tags.err);
		return -1;
	}
	if ((t = dkim_tag_get(&tags, "v")) != NULL && (t != &tags.t[0] ||
	    !(t->len == 5 && memcmp(t->val, "DKIM1", 5) == 0)))
		return key_err(k, "key record v= is not DKIM1");
	k->type = DKIM_KEY_RSA;
	if ((t = dkim_tag_get(&tags, "k")) != NULL) {
		if (t->len == 7 && memcmp(t->val, "ed25519", 7) == 0)
			k->type = DKIM_KEY_ED25519;
		else if (!(t->len == 3 && memcmp(t->val, "rsa", 3) == 0))
			return key_err(k, "unknown key type k=");
	}
	if ((t = dkim_tag_get(&tags, "h")) != NULL &&
	    !list_has(t, "sha256", NULL))
		return key_err(k, "key h= excludes sha256");
	if ((t = dkim_tag_get(&tags, "s")) != NULL &&
	    !list_has(t, "*", "email"))
		return key_err(k, "key not for email (s=)");
	if ((t = dkim_tag_get(&tags, "t")) != NULL) {
		k->testing = list_has(t, "y", NULL);
		k->strict = list_has(t, "s", NULL);
	}
	if ((t = dkim_tag_get(&tags, "p")) == NULL)
		return key_err(k, "key record without p=");
	if (t->len == 0) {
		k->revoked = 1;
		return 0;
	}
	if (dkim_b64_decode(t->val, t->len, der, sizeof(der), &derlen) < 0)
		return key_err(k, "key p= is not base64 or too long");
	if (k->type == DKIM_KEY_ED25519) {
		if (derlen != 32)
			return key_err(k, "ed25519 key is not 32 octets");
		k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
		    der, derlen);
		if (k->pkey == NULL) {
			ERR_clear_error();
			return key_err(k, "unusable ed25519 key");
		}
		k->bits = 256;
		return 0;
	}
	if ((k->pkey = dkim_key_cached(der, derlen)) != NULL) {
		k->bits = (unsigned)EVP_PKEY_get_bits(k->pkey);
		return 0;
	}
	k->pkey = d2i_PUBKEY(NULL, &dp, (long)derlen);
	if (k->pkey == NULL || dp != der + derlen ||
	    EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA) {
		dkim_key_free(k);
		ERR_clear_error();
		return key_err(k, "key p= is not an RSA public key");
	}
	k->bits = (unsigned)EVP_PKEY_get_bits(k->pkey);
	if (k->bits > DKIM_RSA_MAX_BITS) {
		dkim_key_free(k);
		return key_err(k, "RSA key larger than 16384 bits");
	}
	dkim_key_remember(der, derlen, k->pkey);
	return 0;
}

void
dkim_key_free(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}
