/* addr.h - RFC 5321 §4.1.2 paths: parse "<local@domain> params" once into
 * an external (as sent) and an internal (normalised) form. */
#ifndef ADDR_H
#define ADDR_H

#include <stddef.h>

#include "strictmx.h"

struct mailaddr {
	int	is_null;			/* <> */
	int	is_postmaster;			/* bare <postmaster> */
	int	utf8;				/* has octets > 0x7f */
	char	text[SMTP_PATH_MAX + 1];	/* external: between <>, as sent
						 * (source route removed) */
	char	local[SMTP_LOCAL_MAX + 1];	/* internal: unquoted */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* internal: lower case */
	char	ace[SMTP_DOMAIN_MAX + 1];	/* domain as DNS sees it:
						 * U-labels as A-labels (IDNA
						 * 2008), else = domain */
};

enum addr_status {
	ADDR_OK,
	ADDR_ERR_SYNTAX,	/* 501 5.5.4: no <...>, junk after it */
	ADDR_ERR_MAILBOX,	/* 553 5.1.3: bad mailbox inside <...> */
	ADDR_ERR_NULL,		/* 553 5.1.3: <> where not allowed */
	ADDR_ERR_TOOLONG,	/* 553 5.1.3 / 501 5.5.4: over a limit */
	ADDR_ERR_IDNA,		/* 553 5.1.7 (MAIL) / 5.1.3 (RCPT): a U-label
				 * domain that is not valid IDNA2008 */
	ADDR_STATUS_LAST	/* sentinel: size of the name table */
};

/* One ESMTP parameter of MAIL/RCPT (RFC 5321 §4.1.2 esmtp-param): the
 * keyword as sent (compare with strcasecmp) and its value ("" if none). */
struct addr_param {
	char	key[32];
	char	value[128];
};

/* Flags for addr_parse(). */
#define ADDR_ALLOW_NULL		0x01	/* MAIL FROM:<> */
#define ADDR_ALLOW_POSTMASTER	0x02	/* RCPT TO:<postmaster> */
#define ADDR_ALLOW_LAX		0x04	/* tolerate spaces before the "<"
					 * ("MAIL FROM: <x>") */

enum addr_status addr_parse(const char *, struct mailaddr *, const char **,
	    int);
const char *addr_status_text(enum addr_status);
int	addr_params(const char *, struct addr_param *, size_t, size_t *);
int	addr_domain_valid(const char *);
void	addr_lower(char *);

#endif
