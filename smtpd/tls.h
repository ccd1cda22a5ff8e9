/* tls.h - STARTTLS (RFC 3207) through libevent_openssl: the server context
 * loaded with the config, and the switch of a session's bufferevent. */
#ifndef TLS_H
#define TLS_H

#include <stdio.h>

struct conf;
struct bufferevent;
struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

SSL_CTX	*tls_ctx_new(const struct conf *, FILE *);
void	 tls_ctx_free(SSL_CTX *);
typedef struct ssl_st SSL;
SSL	*tls_ssl_new(SSL_CTX *);
struct bufferevent *tls_wrap(struct event_base *, struct bufferevent *,
	    SSL *);
const char *tls_describe(struct bufferevent *, char *, size_t);

#endif
