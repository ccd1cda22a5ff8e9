/* cbv.h - the call-back verification client: ask the sender domain's own
 * MX, on our event loop, whether it would accept mail for the return path. */
#ifndef CBV_H
#define CBV_H

#include <stddef.h>

#include "strictmx.h"
#include "resolver.h"

struct event_base;
struct conf;
struct cbv_waiter;

/* How far the dialogue got; the stage names are the report's rows. */
enum cbv_stage {
	CBV_ST_CONNECT,		/* no MX host accepted a connection */
	CBV_ST_GREETING,	/* "welcome" in the report */
	CBV_ST_NOOP,
	CBV_ST_HELO,		/* EHLO, or HELO after EHLO was refused */
	CBV_ST_MAIL,
	CBV_ST_RCPT,
	CBV_ST_DONE,		/* RCPT accepted */
	CBV_ST_LAST,
};

enum cbv_outcome {
	CBV_PASS,		/* 2xx to RCPT TO:<sender> */
	CBV_FAIL,		/* 5xx to RCPT */
	CBV_REFUSED_EARLY,	/* 5xx to greeting, NOOP, EHLO/HELO */
	CBV_REFUSED_MAIL,	/* 5xx to MAIL FROM:<probe sender> */
	CBV_TEMPFAIL,		/* 4xx anywhere, timeout, garbage, drop */
	CBV_NOCONNECT,		/* no MX host accepted a connection */
	CBV_UNVERIFIABLE,	/* the protocol forbids asking: never on
				 * retry either (cbv_on_unverifiable) */
	CBV_OUTCOME_LAST,
};

/* The deciding stage of a PASS is CBV_ST_RCPT (CBV_ST_DONE is not used).
 * reply is the remote's last reply ("550 5.1.1 text text", at most
 * CBV_REPLY_TEXT_MAX octets, printable ASCII) or, when no reply decided,
 * our own diagnostic: "timeout after RCPT TO", "timeout waiting for
 * greeting", "timeout while connecting" (a NOCONNECT), "timeout in queue",
 * "connection lost after MAIL FROM", "malformed reply after EHLO",
 * "oversized reply after EHLO", "connect to mx.example [192.0.2.1]:25:
 * Connection refused" (a NOCONNECT), "no MX host to try". Every timeout
 * begins with "timeout" (stats.h STATS_REPLY_TIMEOUT). */
struct cbv_result {
	enum cbv_outcome outcome;
	enum cbv_stage	 stage;		/* stage of the deciding reply */
	char		 mx_host[SMTP_DOMAIN_MAX + 1];
	char		 reply[SMTP_REPLYLINE_MAX];	/* last reply, sanitised,
						 * multi-line joined by " " */
	int		 rfc3821;	/* the remote EHLO advertised it */
	double		 duration;	/* seconds */
};

/* Called once on the loop for each waiter, never after cbv_cancel(). */
typedef void cbv_fn(const struct cbv_result *, void *);
/* Optional transcript hook for strictmxctl cbv: one line per event. */
typedef void cbv_trace_fn(const char *, void *);

int	cbv_init(struct event_base *, const struct conf *);
void	cbv_reconfigure(const struct conf *);
void	cbv_shutdown(void);
struct cbv_waiter *cbv_probe(const char *, const struct resolver_mx *,
	    size_t, cbv_fn *, void *);
void	cbv_cancel(struct cbv_waiter *);
void	cbv_set_trace(cbv_trace_fn *, void *);
const char *cbv_stage_name(enum cbv_stage);
const char *cbv_outcome_name(enum cbv_outcome);

/* Added by the CBV client's owner (contracts in cbv.c). */

/* A whole reply (all its lines) may be this long; longer is garbage.
 * Of its text, result.reply keeps CBV_REPLY_TEXT_MAX octets, which leaves
 * room in a 512-octet reply line for "550 5.1.7 <sender>: ..." around it. */
#define CBV_REPLY_MAX		4096
#define CBV_REPLY_TEXT_MAX	200

enum cbv_parse {
	CBV_PARSE_OK,		/* one complete reply, out->len octets */
	CBV_PARSE_MORE,		/* incomplete: read more and call again */
	CBV_PARSE_GARBAGE,	/* not an RFC 5321 reply */
	CBV_PARSE_TOOLONG,	/* a line over 512 or a reply over 4 KiB */
	CBV_PARSE_LAST,
};

struct cbv_reply {
	int	code;			/* 200..599 */
	size_t	len;			/* octets consumed, CRLFs included */
	size_t	nlines;
	int	rfc3821;		/* a line's first word is (X)RFC3821 */
	int	smtputf8;		/* a line's first word is SMTPUTF8 */
	char	text[CBV_REPLY_TEXT_MAX + 1];	/* "250 a b", printable */
};

int	cbv_reply_parse(const char *, size_t, struct cbv_reply *);
void	cbv_set_port(unsigned short);
size_t	cbv_pending(void);
int	cbv_in_flight(const char *);

#endif
