/* tls.c - STARTTLS (RFC 3207): an OpenSSL server context built from
 * tls_certificate and tls_key, and the bufferevent filter that a session
 * switches to after its "220 Ready to start TLS".
 *
 *	tls_ctx_new - load certificate and key; errors go to errs (NULL: none)
 *	tls_ctx_free - free a context (NULL is fine)
 *	tls_ssl_new - a server connection object for one session
 *	tls_wrap - put a TLS server filter over a plain bufferevent
 *	tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs
 */
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"
#include "conf.h"

static void
tls_errors(FILE *errs, const char *path, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(errs, "%s: %s: %s\n", path, what, e ? buf : "unknown error");
	ERR_clear_error();
}

/* tls_ctx_new - TLS 1.2 or later only; the certificate file may hold the
 * chain. Opportunistic STARTTLS to an MX: no client certificates. */
SSL_CTX *
tls_ctx_new(const struct conf *conf, FILE *errs)
{
	SSL_CTX *ctx;

	if (conf->tls_certificate == NULL || conf->tls_key == NULL)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_errors(errs, conf->path, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx,
	    conf->tls_certificate) != 1) {
		tls_errors(errs, conf->tls_certificate,
		    "cannot load tls_certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		tls_errors(errs, conf->tls_key, "cannot load tls_key");
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_errors(errs, conf->tls_key,
		    "tls_key does not match tls_certificate");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_free(ctx);
}

/* tls_ssl_new - the connection object, made before the 220 is sent so that
 * a failure can still be answered with 454 (RFC 3207 §4). */
SSL *
tls_ssl_new(SSL_CTX *ctx)
{
	return SSL_new(ctx);
}

/* tls_wrap - the plain bufferevent still holds our 220 reply in its output
 * and writes it in the clear before the handshake bytes the filter adds;
 * the filter owns (and frees) the plain one and ssl from now on. On
 * failure ssl is freed and the plain bufferevent is untouched. */
struct bufferevent *
tls_wrap(struct event_base *base, struct bufferevent *plain, SSL *ssl)
{
	struct bufferevent *bev;

	bev = bufferevent_openssl_filter_new(base, plain, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

const char *
tls_describe(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl == NULL)
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%s %s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl));
	return buf;
}
