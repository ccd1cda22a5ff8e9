/* sender.h - the return-path policy: null sender, syntax, local-domain
 * spoofing, dmp_table, cache, DNS, then call-back verification (cbv.c). */
#ifndef SENDER_H
#define SENDER_H

#include <stdio.h>
#include <sys/socket.h>

#include "strictmx.h"

struct conf;
struct event_base;
struct mailaddr;
struct sender_check;

/* What the policy decided. code 0 means accept. In sender_policy log,
 * reply holds what enforce would have said and enforced is 0. */
struct sender_verdict {
	int	code;			/* 0, 4xx or 5xx */
	int	enforced;
	char	reply[SMTP_REPLYLINE_MAX];	/* full reply without CRLF */
	char	decided_by[16];		/* null, exempt, off, local, dmp,
					 * cache, dns, probe */
	char	outcome[16];		/* pass, fail, tempfail */
	char	reason[160];		/* for the log line */
};

typedef void sender_done_fn(void *, const struct sender_verdict *);

int	sender_init(struct event_base *, const struct conf *);
int	sender_reconfigure(const struct conf *);
void	sender_shutdown(void);
struct sender_check *sender_check_start(const struct conf *,
	    const struct mailaddr *, const struct sockaddr *, const char *,
	    int, sender_done_fn *, void *, struct sender_verdict *);
void	sender_check_cancel(struct sender_check *);
size_t	sender_keywords(const struct conf *, char *, size_t);

/* `strictmxd -n`: check dmp_table, errors as FILE:LINE: msg; 0 or -1. */
int	sender_check_config(const struct conf *, FILE *);

#endif
