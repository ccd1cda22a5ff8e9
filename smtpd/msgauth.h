/* msgauth.h - the message authentication of one transaction at the end of
 * DATA: DKIM as the message streams in, DMARC after the dot, the verdict. */
#ifndef MSGAUTH_H
#define MSGAUTH_H

#include <stddef.h>

#include "strictmx.h"
#include "dkim.h"
#include "dmarc.h"
#include "msghdr.h"

struct conf;
struct spf_outcome;

/* What becomes of the message. */
enum msgauth_action {
	MSGAUTH_DELIVER,	/* into the inbox */
	MSGAUTH_JUNK,		/* into dmarc_quarantine_folder */
	MSGAUTH_REFUSE,		/* code 550 5.7.26, nothing delivered */
	MSGAUTH_TEMPFAIL,	/* 451 4.7.24: the policy could not be fetched
				 * and would otherwise refuse */
	MSGAUTH_ACTION_LAST
};

/* The whole outcome, valid during the callback. */
struct msgauth_result {
	int			 dkim_done;	/* dkim below is filled */
	struct dkim_outcome	 dkim;
	int			 dmarc_done;	/* dmarc below is filled */
	struct dmarc_outcome	 dmarc;
	struct dmarc_from	 from;
	enum msgauth_action	 action;	/* what enforce does */
	int			 enforced;	/* 0 in dmarc_policy log */
	char			 reply[SMTP_REPLYLINE_MAX];	/* refusals */
};

struct msgauth;

typedef void msgauth_done_fn(void *, const struct msgauth_result *);

struct msgauth *msgauth_new(const struct conf *, int);
void	msgauth_feed(struct msgauth *, const char *, size_t);
void	msgauth_finish(struct msgauth *, const struct spf_outcome *,
	    msgauth_done_fn *, void *);
void	msgauth_free(struct msgauth *);
void	msgauth_decide(const struct conf *, const struct dmarc_outcome *,
	    struct msgauth_result *);
size_t	msgauth_keywords(const struct conf *, char *, size_t);
const char *msgauth_action_text(enum msgauth_action);

#endif
