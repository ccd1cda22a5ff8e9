/* helo.h - the HELO/EHLO conformance policy: an FQDN or address literal
 * that matches the client address (the seed thread's first rule). */
#ifndef HELO_H
#define HELO_H

#include <sys/socket.h>

#include "strictmx.h"

struct conf;
struct helo_check;

enum helo_syntax {
	HELO_SYN_BAD,		/* neither FQDN nor address literal */
	HELO_SYN_FQDN,
	HELO_SYN_LIT4,		/* [192.0.2.1] */
	HELO_SYN_LIT6,		/* [IPv6:2001:db8::1] */
};

/* What the policy decided; code 0 means pass. In helo_policy log the
 * reply is what enforce would have said and enforced is 0. */
struct helo_verdict {
	int	code;			/* 0, 4xx or 5xx */
	int	enforced;		/* the session must refuse */
	char	reply[SMTP_REPLYLINE_MAX];	/* full reply without CRLF */
	char	verdict[32];		/* pass, exempt, off, fail-syntax,
					 * fail-match, fail-self, tempfail,
					 * log-... (for stats and logs) */
	char	reason[160];		/* for the log line */
};

typedef void helo_done_fn(void *, const struct helo_verdict *);

enum helo_syntax helo_syntax(const char *);
struct helo_check *helo_check_start(const struct conf *, const char *,
	    const struct sockaddr *, const struct sockaddr *,
	    const char *, helo_done_fn *, void *, struct helo_verdict *);
void	helo_check_cancel(struct helo_check *);
size_t	helo_keywords(const struct conf *, char *, size_t);

/* Added by helo.c's owner: the DNS half of the decision as a plain
 * function (STYLE 5), for tests. fwd: the A (IPv4 client) or AAAA answer
 * for the HELO name; ptr: the client's PTR answer (helo_match ptr only);
 * NULL = not fetched yet. Returns 1 with the verdict filled, or 0 when an
 * answer is still missing. policy/match: enum policy_mode/conf_helo_match. */
struct resolver_result;
int	helo_decide(int, int, const char *, const struct sockaddr *,
	    const struct resolver_result *, const struct resolver_result *,
	    struct helo_verdict *);

#endif
