/* authres.h - the Authentication-Results header field (RFC 8601): a
 * builder for ours, and a streaming filter that removes forged ones. */
#ifndef AUTHRES_H
#define AUTHRES_H

#include <stddef.h>

#include "data.h"
#include "dkim.h"
#include "dmarc.h"
#include "spf.h"

/* The longest header we build (it is far shorter: a few values of at most
 * SMTP_PATH_MAX octets each, quoted). Past it authres_end() fails. */
#define AUTHRES_MAX		4096
/* Fold before a word that would take a line past this (RFC 5322 §2.1.1). */
#define AUTHRES_LINE		78
/* The filter decides on an incoming field from at most this many octets
 * of its start (field name, CFWS, authserv-id). */
#define AUTHRES_HOLD_MAX	1024

/* The builder: one field, methods appended in order (iprev, spf now; dkim
 * and dmarc are more calls of authres_method/_comment/_prop). */
struct authres {
	char	buf[AUTHRES_MAX];
	size_t	len;
	size_t	col;		/* octets on the current line */
	int	overflow;
	int	nmethods;
};

void	authres_begin(struct authres *, const char *);
void	authres_method(struct authres *, const char *, const char *);
void	authres_comment(struct authres *, const char *);
void	authres_prop(struct authres *, const char *, const char *);
void	authres_prop_addr(struct authres *, const char *, const char *);
const char *authres_end(struct authres *, size_t *);

/* What the header says about one transaction; transfer.c fills it. */
struct authres_input {
	const char	*authserv_id;
	const char	*client_ip;	/* printable, v4-mapped unmapped */
	int		 ptr_status;	/* enum fcrdns_status, or
					 * SESSION_PTR_PENDING (-1) */
	const char	*ptr;		/* the confirmed name when FCRDNS_OK */
	int		 spf_policy;	/* enum policy_mode */
	int		 spf_done;
	const struct spf_outcome *spf;	/* when spf_done */
	const char	*mailfrom;	/* as sent; "" for <> */
	const char	*helo;
	int		 dkim_verify;	/* conf: dkim_verify */
	const struct dkim_outcome *dkim;	/* NULL: not evaluated */
	int		 dmarc_policy;	/* conf: enum policy_mode */
	const struct dmarc_outcome *dmarc;	/* NULL: not evaluated */
};

size_t	authres_header(char *, size_t, const struct authres_input *);

/* The filter: a data_sink_fn in front of another one. */
struct authres_filter {
	/* private state; see authres.c */
	int		 state;		/* header line start, field, body */
	int		 sub;		/* where the held field's parse is */
	int		 lf;		/* a LF ended the held text so far */
	int		 drop;		/* the current field is being removed */
	size_t		 match;		/* octets of the name or id matched */
	unsigned	 depth;		/* comment nesting */
	char		 id[256];	/* our authserv-id */
	size_t		 idlen;
	data_sink_fn	*sink;
	void		*sink_arg;
	size_t		 holdlen;
	char		 hold[AUTHRES_HOLD_MAX];
};

void	authres_filter_init(struct authres_filter *, const char *,
	    data_sink_fn *, void *);
int	authres_filter_write(void *, const char *, size_t);
int	authres_filter_finish(struct authres_filter *);

#endif
