/* session.h - one SMTP session: its state machine, its transaction, and
 * every asynchronous operation it owns (DNS, policy checks, delivery). */
#ifndef SESSION_H
#define SESSION_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "strictmx.h"
#include "addr.h"
#include "authres.h"
#include "data.h"
#include "helo.h"
#include "sender.h"
#include "spf.h"
#include "stats.h"

struct bufferevent;
struct event;
struct msgauth;
struct msgauth_result;
struct server;
struct runconf;

/* Named states; the command table says which verbs each one allows. */
enum session_state {
	SESSION_ST_GREET,	/* before the greeting (greet_delay, PTR) */
	SESSION_ST_INIT,	/* greeted, no HELO/EHLO yet */
	SESSION_ST_HELO,	/* HELO/EHLO accepted, no transaction */
	SESSION_ST_MAIL,	/* MAIL accepted */
	SESSION_ST_RCPT,	/* at least one RCPT accepted */
	SESSION_ST_DATA,	/* reading the message */
	SESSION_ST_LAST,
};

#define SESSION_MASK(st)	(1u << (st))

/* ptr_status while the client's PTR lookup is still running. */
#define SESSION_PTR_PENDING	(-1)

/* What a parked session is waiting for. */
enum session_wait {
	SESSION_WAIT_NONE,
	SESSION_WAIT_GREET,	/* greet_delay and/or the client's PTR */
	SESSION_WAIT_HELO,	/* the HELO policy's DNS lookups */
	SESSION_WAIT_SENDER,	/* the return-path policy (DNS, CBV) */
	SESSION_WAIT_AUTH,	/* DKIM and DMARC after the dot */
	SESSION_WAIT_COMMIT,	/* the maildir worker's fsync */
	SESSION_WAIT_LAST,
};

/* Where the return-path verdict of a transaction stands. */
enum tx_sender {
	TX_SENDER_UNCHECKED,	/* no check started yet */
	TX_SENDER_DECIDED,	/* verdict in, not yet answered */
	TX_SENDER_OK,		/* accepted (or only logged) */
	TX_SENDER_REFUSED,	/* refused: every RCPT gets the reply */
};

struct rcpt {
	struct mailaddr	 addr;
	char		*maildir;
};

/* One MAIL transaction; RSET, a new MAIL and end-of-data free it whole. */
struct transaction {
	struct mailaddr		 sender;
	int			 smtputf8;
	enum tx_sender		 sender_state;
	struct sender_verdict	 sender_verdict;
	int			 spf_done;	/* spf below is filled */
	struct spf_outcome	 spf;		/* MAIL FROM or HELO identity */
	struct rcpt		*rcpts;
	size_t			 nrcpts;
	size_t			 rcpt_cap;
	struct rcpt		 pending;	/* RCPT parked on the sender check */
	struct maildir_msg	*msg;
	struct msgauth		*auth;		/* DKIM/DMARC; NULL when off */
	struct msgauth_result	*auth_res;	/* their verdicts, once in */
	int			 junk;		/* into the quarantine folder */
	char			 msgid[64];	/* for the 250 and the log */
	struct data_reader	 reader;
	struct authres_filter	 authres;	/* between reader and file */
};

/* The counters and verdicts of a session's stats record (struct
 * stats_session); session_free adds the id, the addresses and the names,
 * which the session holds once already. Kept apart so that an idle session
 * does not carry a second copy of its client's PTR and HELO names (issue
 * 10: 10 000 idle connections in under 5 KiB each). */
struct session_rec {
	double		 start, end;		/* epoch seconds */
	char		 helo_verdict[32];	/* as in struct stats_session */
	int		 tls;
	unsigned	 messages;
	unsigned	 rcpt_accepted, rcpt_refused;
	uint64_t	 bytes;
	char		 ended[32];		/* quit, timeout, ... */
};

struct session {
	TAILQ_ENTRY(session)	 entry;
	struct server		*server;
	struct runconf		*rc;		/* config this session began with */
	char			 id[16];
	struct bufferevent	*bev;
	struct event		*timer;
	struct sockaddr_storage	 peer, local;
	char			 peer_ip[64];	/* printable, v4-mapped unmapped */
	enum session_state	 state;
	enum session_wait	 wait;
	int			 esmtp;
	int			 tls;		/* STARTTLS done */
	int			 hangup;	/* close once the output drained */
	int			 draining;	/* SIGTERM: finish DATA, then 421 */
	int			 discard_line;	/* resynchronising after a long line */
	int			 client_eof;	/* half-closed: answer, then close */
	int			 throttled;	/* not reading: replies pile up */
	double			 linger_until;	/* hangup: free by then at most */
	/* Never NULL: "" or a copy sized to fit (session_set_helo), not
	 * two inline 256-byte arrays (issue 10, memory per idle session). */
	const char		*helo;		/* at most SMTP_DOMAIN_MAX */
	const char		*ptr;		/* confirmed, as helo */
	int			 ptr_status;	/* enum fcrdns_status, or
						 * SESSION_PTR_PENDING */
	char			*helo_reply;	/* helo_reject_at rcpt: the
						 * refusal while helo_refused */
	int			 helo_refused;	/* delayed refusal pending */
	unsigned		 errors;
	struct transaction	*tx;
	struct helo_check	*helo_check;
	struct fcrdns_query	*fcrdns;
	struct sender_check	*sender_check;
	struct spf_check	*spf_check;
	struct session_rec	 rec;
};

TAILQ_HEAD(session_list, session);

struct session *session_new(struct server *, int, const struct sockaddr *,
	    socklen_t);
void	session_free(struct session *);
int	session_starttls(struct session *);
void	session_shutdown(struct session *);
void	session_reply(struct session *, const char *, ...) PRINTF_LIKE(2, 3);
void	session_set_state(struct session *, enum session_state);
void	session_set_helo(struct session *, const char *, size_t);
void	session_park(struct session *, enum session_wait);
void	session_resume(struct session *);
void	session_close(struct session *, const char *);
void	session_tx_free(struct session *);
void	session_log_refusal(struct session *, const char *, const char *,
	    const char *);

#endif
