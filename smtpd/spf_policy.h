/* spf_policy.h - what strictmx does with an SPF result: which sessions are
 * evaluated, and the reply each result gets under spf_policy and spf_on_*. */
#ifndef SPF_POLICY_H
#define SPF_POLICY_H

#include <sys/socket.h>

#include "strictmx.h"

struct conf;
struct mailaddr;
struct spf_outcome;

/* The bound on one whole evaluation, DNS included: RFC 7208 §4.6.4 asks
 * for at least 20 seconds before giving up with temperror. */
#define SPF_POLICY_TIMEOUT	20

/* What the policy decided. code 0 means go on; in spf_policy log, reply
 * holds what enforce would have said and enforced is 0. */
struct spf_verdict {
	int	code;			/* 0, 451 or 550 */
	int	enforced;
	char	reply[SMTP_REPLYLINE_MAX];	/* without CRLF */
};

int	spf_policy_wanted(const struct conf *, const struct mailaddr *,
	    const struct sockaddr *);
void	spf_policy_decide(const struct conf *, const struct spf_outcome *,
	    const char *, struct spf_verdict *);
size_t	spf_policy_keywords(const struct conf *, char *, size_t);

#endif
