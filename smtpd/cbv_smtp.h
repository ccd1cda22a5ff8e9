/* cbv_smtp.h - private to the CBV client: the probe that cbv.c queues and
 * shares, and that cbv_smtp.c walks through MX hosts and the dialogue. */
#ifndef CBV_SMTP_H
#define CBV_SMTP_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <time.h>

#include "strictmx.h"
#include "cbv.h"
#include "resolver.h"

struct bufferevent;
struct event;
struct event_base;

#define CBV_ADDRS_PER_HOST	4	/* addresses tried per MX host */

enum cbv_where { CBV_W_QUEUED, CBV_W_RUNNING, CBV_W_DONE };

struct cbv_probe {
	/* cbv.c: sharing, queueing and the budget. */
	TAILQ_ENTRY(cbv_probe) link;
	enum cbv_where	 where;
	char		 address[SMTP_PATH_MAX + 1];
	size_t		 local_len;	/* local part, before the last @ */
	const char	*domain;	/* into address */
	int		 bad;		/* address unfit for RCPT TO */
	TAILQ_HEAD(cbv_waiters, cbv_waiter) waiters;
	size_t		 nwaiters;
	struct event	*kick;		/* zero timer that starts the probe */
	struct event	*deadline;	/* the cbv_timeout budget */
	struct timespec	 t0;
	/* The configuration as it was at submission. */
	struct event_base *base;
	char		 helo[SMTP_DOMAIN_MAX + 1];
	char		 sender[SMTP_PATH_MAX + 1];
	unsigned	 connect_timeout;
	int		 noop;
	unsigned short	 port;
	/* cbv_smtp.c: MX hosts in the order we try them, the current one's
	 * addresses, and the connection. */
	struct resolver_mx mx[RESOLVER_MAX_RR];
	size_t		 nmx, imx;
	struct resolver_query *qa, *qaaaa;
	struct sockaddr_storage a4[CBV_ADDRS_PER_HOST], a6[CBV_ADDRS_PER_HOST];
	size_t		 n4, n6;
	struct sockaddr_storage addr[CBV_ADDRS_PER_HOST];
	size_t		 naddr, iaddr;
	char		 peer[INET6_ADDRSTRLEN + 16];	/* "[addr]:port" */
	struct bufferevent *bev;
	struct event	*ctimer;	/* each connect's timeout */
	enum cbv_stage	 stage;		/* the reply we wait for */
	int		 helo_sent;	/* EHLO was refused, HELO went out */
	int		 have_saved;	/* a host tempfailed at its greeting */
	struct cbv_result saved;
	char		 lasterr[SMTP_REPLYLINE_MAX];	/* last connect failure */
	struct cbv_result result;	/* reply and mx_host as we go */
};

/* cbv_smtp.c */
void	cbv_smtp_start(struct cbv_probe *);
void	cbv_smtp_stop(struct cbv_probe *, int);
void	cbv_smtp_timeout(struct cbv_probe *);
size_t	cbv_smtp_closing(void);
void	cbv_smtp_shutdown(void);

/* cbv.c, for cbv_smtp.c */
void	cbv_done(struct cbv_probe *, enum cbv_outcome, enum cbv_stage, int);
void	cbv_trace(const char *, ...) PRINTF_LIKE(1, 2);
int	cbv_tracing(void);

#endif
