/* spf_macro.h - SPF macro strings (RFC 7208 §7): syntax checks and the
 * bounded expansion of domain-specs and explanation texts. Pure code. */
#ifndef SPF_MACRO_H
#define SPF_MACRO_H

#include <stddef.h>
#include <sys/socket.h>

/* What a macro string is used as: the syntax and the letters allowed. */
enum spf_macro_kind {
	SPF_MACRO_DOMAIN,	/* domain-spec: no c/r/t, no SP, domain-end */
	SPF_MACRO_MODIFIER,	/* unknown-modifier value: any macro-string */
	SPF_MACRO_EXP,		/* explain-string: SP, and c/r/t allowed */
	SPF_MACRO_LAST
};

/* Room for an expanded domain (253 octets, §7.3) and its NUL. */
#define SPF_MACRO_DOMAIN_SIZE	256

/* The values of the macro letters (§7.2). NULL strings expand to "". */
struct spf_macro_vars {
	const char	*sender;	/* s: local@domain */
	const char	*local;		/* l */
	const char	*sdomain;	/* o */
	const char	*domain;	/* d: the current <domain> */
	const struct sockaddr *client;	/* i, c, v: IPv4 or IPv6 (unmapped) */
	const char	*ptr;		/* p: validated name, NULL: "unknown" */
	const char	*helo;		/* h */
	const char	*receiver;	/* r: NULL or "": "unknown" */
	long long	 now;		/* t */
};

int	spf_macro_check(const char *, size_t, enum spf_macro_kind);
int	spf_macro_uses(const char *, size_t, char);
int	spf_macro_domain(const char *, size_t, const struct spf_macro_vars *,
	    char *);
int	spf_macro_exp(const char *, size_t, const struct spf_macro_vars *,
	    char *, size_t);
int	spf_domain_usable(const char *);

#endif
