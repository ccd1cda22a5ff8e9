/* stats.h - the stats database: rows queued in memory on the loop and
 * written by a timer in one SQLite transaction, so the loop never waits. */
#ifndef STATS_H
#define STATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "strictmx.h"

struct event_base;

/* One SMTP session; every text field is NUL-terminated, already bounded. */
struct stats_session {
	char		id[32];
	double		start, end;		/* epoch seconds */
	char		client_ip[64];
	char		ptr[SMTP_DOMAIN_MAX + 1];	/* "" = none */
	char		helo[SMTP_DOMAIN_MAX + 1];	/* "" = none */
	char		helo_verdict[32];	/* pass, fail, tempfail, ... */
	int		tls;
	unsigned	messages;
	unsigned	rcpt_accepted, rcpt_refused;
	uint64_t	bytes;
	char		ended[32];		/* quit, timeout, ... */
};

/* One sender check (issue 4); see strictmxctl(8) for the columns. */
struct stats_cbv {
	double		time;
	char		session_id[32];
	char		address[SMTP_PATH_MAX + 1];
	char		domain[SMTP_DOMAIN_MAX + 1];
	char		decided_by[16];	/* probe, cache, dmp, local, dns... */
	char		outcome[16];	/* pass, fail, tempfail */
	char		stage[16];	/* connect, greeting, noop, ... */
	char		mx_host[SMTP_DOMAIN_MAX + 1];
	char		reply[SMTP_REPLYLINE_MAX + 1];
	double		duration;
	int		rfc3821;
	int		enforced;	/* 0 in sender_policy log */
};

/* One message that reached the end of DATA (DESIGN §8 "auth"); "" is
 * written as NULL. The formats are strictmxctl(8)'s, which report.c and
 * report_auth.c read back. */
struct stats_auth {
	double		time;
	char		session_id[32];
	char		client_ip[64];
	char		mailfrom_domain[SMTP_DOMAIN_MAX + 1];	/* "" for <> */
	char		from_domain[SMTP_DOMAIN_MAX + 1];	/* "" none or
								 * several */
	char		spf_result[16];		/* "" = not evaluated */
	char		spf_identity[16];	/* mailfrom, helo */
	char		spf_domain[SMTP_DOMAIN_MAX + 1];
	char		dkim[512];		/* "RESULT d=D s=S; ..." */
	char		dmarc_result[16];	/* "" = not evaluated */
	char		dmarc_policy[16];	/* "" = no record */
	char		disposition[16];	/* delivered, junk, refused */
	int		reply_code;		/* refused: 4xx/5xx; else 0 */
};

/* PRAGMA user_version of the schema this build writes (strictmxctl(8)). */
#define STATS_SCHEMA_VERSION	2

/* Conventions shared with sender.c/cbv.c, read back by report.c:
 * decided_by "dns" rows carry in stage one of these, */
#define STATS_DNS_NXDOMAIN	"nxdomain"	/* the domain does not exist */
#define STATS_DNS_NOMX		"nomx"		/* no MX and no A/AAAA */
#define STATS_DNS_NULLMX	"nullmx"	/* MX 0 . (RFC 7505) */
#define STATS_DNS_TEMPFAIL	"tempfail"	/* timeout, SERVFAIL, ... */
#define STATS_DNS_OK		"ok"		/* mail host found, no probe */
/* and a probe that timed out has a reply beginning with this. */
#define STATS_REPLY_TIMEOUT	"timeout"

struct sqlite3;
typedef void stats_defer_fn(struct sqlite3 *, void *);

int	stats_open(struct event_base *, const char *);
void	stats_add_session(const struct stats_session *);
void	stats_add_cbv(const struct stats_cbv *);
void	stats_add_auth(const struct stats_auth *);
void	stats_defer(stats_defer_fn *, void *);
void	stats_flush(void);
size_t	stats_pending(void);
void	stats_close(void);
void	*stats_handle(void);	/* the sqlite3 *, or NULL when disabled */

#endif
