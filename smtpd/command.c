/* command.c - the SMTP command table, its dispatcher, and the verb
 * handlers; HELO and sender policy verdicts are applied here, decided elsewhere.
 *
 *	command_dispatch - run one command line (NULL: the line was too long)
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "session.h"
#include "server.h"
#include "command.h"
#include "transfer.h"
#include "conf.h"
#include "table.h"
#include "addr.h"
#include "helo.h"
#include "sender.h"
#include "idna.h"
#include "msgauth.h"
#include "spf.h"
#include "spf_policy.h"
#include "log.h"
#include "xmalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>

/* Command flags. LAST_IN_GROUP is RFC 2920 §3.1's list of commands after
 * which the client must wait for our reply. */
#define CMD_LAST_IN_GROUP	0x01
#define CMD_NO_ARG		0x02	/* any argument is a syntax error */
#define CMD_NEED_ARG		0x04	/* a missing argument is one */

#define ST(x)		SESSION_MASK(SESSION_ST_##x)
#define ST_ANY		(ST(INIT) | ST(HELO) | ST(MAIL) | ST(RCPT))

struct command {
	const char	*verb;
	void		(*fn)(struct session *, char *);
	unsigned	 states;	/* where the verb is allowed */
	unsigned	 flags;
	const char	*usage;		/* for 501 replies */
};

static void cmd_helo(struct session *, char *);
static void cmd_ehlo(struct session *, char *);
static void cmd_mail(struct session *, char *);
static void cmd_rcpt(struct session *, char *);
static void cmd_data(struct session *, char *);
static void cmd_rset(struct session *, char *);
static void cmd_noop(struct session *, char *);
static void cmd_quit(struct session *, char *);
static void cmd_vrfy(struct session *, char *);
static void cmd_expn(struct session *, char *);
static void cmd_help(struct session *, char *);
static void cmd_starttls(struct session *, char *);

static const struct command command_table[] = {
	{ "HELO", cmd_helo, ST_ANY, CMD_LAST_IN_GROUP | CMD_NEED_ARG,
	    "HELO hostname" },
	{ "EHLO", cmd_ehlo, ST_ANY, CMD_LAST_IN_GROUP | CMD_NEED_ARG,
	    "EHLO hostname" },
	{ "MAIL", cmd_mail, ST(HELO), CMD_NEED_ARG, "MAIL FROM:<address>" },
	{ "RCPT", cmd_rcpt, ST(MAIL) | ST(RCPT), CMD_NEED_ARG,
	    "RCPT TO:<address>" },
	{ "DATA", cmd_data, ST(RCPT), CMD_LAST_IN_GROUP | CMD_NO_ARG, "DATA" },
	{ "RSET", cmd_rset, ST_ANY, CMD_NO_ARG, "RSET" },
	{ "NOOP", cmd_noop, ST_ANY, CMD_LAST_IN_GROUP, "NOOP" },
	{ "QUIT", cmd_quit, ST_ANY, CMD_NO_ARG, "QUIT" },
	{ "VRFY", cmd_vrfy, ST_ANY, CMD_LAST_IN_GROUP | CMD_NEED_ARG,
	    "VRFY address" },
	{ "EXPN", cmd_expn, ST_ANY, CMD_LAST_IN_GROUP, "EXPN list" },
	{ "HELP", cmd_help, ST_ANY, 0, "HELP" },
	{ "STARTTLS", cmd_starttls, ST(INIT) | ST(HELO),
	    CMD_LAST_IN_GROUP | CMD_NO_ARG, "STARTTLS" },
};

static void command_refuse(struct session *, const char *, const char *,
    const char *);

/* command_error - count one client error; past max_errors the client is
 * shown the door (Postfix's smtpd_hard_error_limit). */
static void
command_error(struct session *s)
{
	const struct conf *conf = s->rc->conf;

	char reply[SMTP_REPLYLINE_MAX];

	if (++s->errors < conf->max_errors || s->hangup)
		return;
	/* A limit, so a refusal line (strictmxd(8) LOGGING); the errors
	 * themselves were syntax, logged only with -v. */
	snprintf(reply, sizeof(reply), "421 4.7.0 %s Error: too many errors",
	    conf->hostname);
	command_refuse(s, "errors", NULL, reply);
	session_close(s, "too-many-errors");
}

/* command_refuse - a policy or table refusal: reply and log, with the
 * sender and the recipient when there are some. */
static void
command_refuse(struct session *s, const char *cmd, const char *rcpt,
    const char *reply)
{
	session_reply(s, "%s", reply);
	session_log_refusal(s, cmd, rcpt, reply);
}

/* command_sync_error - RFC 2920 §3.1: the client sent more after a
 * command that ends a group, before our reply; Postfix 3.9's answer. */
static void
command_sync_error(struct session *s, const char *verb)
{
	char reply[SMTP_REPLYLINE_MAX];

	snprintf(reply, sizeof(reply), "554 5.5.0 Error: improper command "
	    "pipelining after %s", verb);
	command_refuse(s, verb, NULL, reply);
	session_close(s, "pipelining-error");
}

/* command_state_error - the 503 text depends on what is missing. */
static const char *
command_state_error(const struct session *s, const struct command *cmd)
{
	if (s->state == SESSION_ST_INIT && cmd->fn != cmd_rcpt &&
	    cmd->fn != cmd_data)
		return "send HELO/EHLO first";
	if (cmd->fn == cmd_mail)
		return "nested MAIL command";
	if (s->tx == NULL)
		return "need MAIL command";
	return "need RCPT command";
}

/* command_dispatch - generic rules first, then the handler: state (503),
 * unknown verbs (500), stray or missing arguments (501), and RFC 2920
 * synchronisation, so that handlers never repeat these checks. */
void
command_dispatch(struct session *s, char *line, size_t len, int more)
{
	const struct command *cmd = NULL;
	char verb[12], *arg;
	size_t i, vlen;

	if (line == NULL) {
		session_reply(s, "500 5.5.6 Error: line too long");
		command_error(s);
		return;
	}
	vlen = strcspn(line, " ");
	if (memchr(line, '\0', len) == NULL && vlen < sizeof(verb)) {
		memcpy(verb, line, vlen);
		verb[vlen] = '\0';
		for (i = 0; i < sizeof(command_table) / sizeof(*cmd); i++)
			if (strcasecmp(verb, command_table[i].verb) == 0)
				cmd = &command_table[i];
	}
	if (cmd == NULL) {
		char printable[LOG_PRINTABLE_SIZE];

		log_info("session=%s client=%s unknown command \"%s\"", s->id,
		    s->peer_ip, log_printable(printable, sizeof(printable),
		    line, len));
		session_reply(s, "500 5.5.2 Error: command not recognized");
		command_error(s);
		return;
	}
	if ((cmd->flags & CMD_LAST_IN_GROUP) && more) {
		command_sync_error(s, cmd->verb);
		return;
	}
	arg = line + vlen;
	while (*arg == ' ')
		arg++;
	if (!(cmd->states & SESSION_MASK(s->state))) {
		session_reply(s, "503 5.5.1 Error: %s",
		    command_state_error(s, cmd));
		command_error(s);
		return;
	}
	if (((cmd->flags & CMD_NO_ARG) && *arg != '\0') ||
	    ((cmd->flags & CMD_NEED_ARG) && *arg == '\0')) {
		session_reply(s, "501 5.5.4 Syntax: %s", cmd->usage);
		command_error(s);
		return;
	}
	cmd->fn(s, arg);
}

/* helo_apply - act on the HELO verdict: refuse now, remember a refusal
 * for MAIL/RCPT (helo_reject_at rcpt), or accept. */
static void
helo_apply(struct session *s, const struct helo_verdict *v)
{
	const struct conf *conf = s->rc->conf;
	char kw[128], skw[64];

	strlcpy_compat(s->rec.helo_verdict, v->verdict,
	    sizeof(s->rec.helo_verdict));
	s->helo_refused = 0;
	free(s->helo_reply);
	s->helo_reply = NULL;
	if (v->code != 0 && !v->enforced)
		log_info("session=%s client=%s helo policy would refuse "
		    "(log mode): %s", s->id, s->peer_ip, v->reply);
	if (v->code != 0 && v->enforced &&
	    conf->helo_reject_at == REJECT_AT_HELO) {
		command_refuse(s, s->esmtp ? "EHLO" : "HELO", NULL, v->reply);
		session_set_state(s, SESSION_ST_INIT);
		/* Each retry costs DNS lookups: it counts as an error. */
		command_error(s);
		return;
	}
	if (v->code != 0 && v->enforced) {
		s->helo_reply = xstrdup(v->reply);
		s->helo_refused = 1;
	}
	session_set_state(s, SESSION_ST_HELO);
	if (!s->esmtp) {
		session_reply(s, "250 %s", conf->hostname);
		return;
	}
	kw[0] = '\0';
	if (conf->advertise_rfc3821) {
		size_t n;

		n = (size_t)snprintf(kw, sizeof(kw), "\n%s",
		    conf->rfc3821_keyword);
		if (n < sizeof(kw) && helo_keywords(conf, kw + n + 1,
		    sizeof(kw) - n - 1) > 0)
			kw[n] = ' ';
		n = strlen(kw);
		if (sender_keywords(conf, skw, sizeof(skw)) > 0)
			snprintf(kw + n, sizeof(kw) - n, " %s", skw);
		n = strlen(kw);
		if (spf_policy_keywords(conf, skw, sizeof(skw)) > 0)
			snprintf(kw + n, sizeof(kw) - n, " %s", skw);
		n = strlen(kw);
		if (msgauth_keywords(conf, skw, sizeof(skw)) > 0)
			snprintf(kw + n, sizeof(kw) - n, " %s", skw);
	}
	session_reply(s, "250 %s\nPIPELINING\nSIZE %zu\n8BITMIME\n"
	    "ENHANCEDSTATUSCODES\nSMTPUTF8%s%s", conf->hostname,
	    conf->max_message_size, s->rc->tls != NULL && !s->tls ?
	    "\nSTARTTLS" : "", kw);
}

static void
helo_done_cb(void *arg, const struct helo_verdict *v)
{
	struct session *s = arg;

	s->helo_check = NULL;
	if (s->hangup)
		return;
	/* Input that came while the HELO lookups ran was sent before our
	 * reply: the same synchronisation error as in command_dispatch. */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		command_sync_error(s, s->esmtp ? "EHLO" : "HELO");
		return;
	}
	helo_apply(s, v);
	session_resume(s);
}

/* cmd_hello - HELO and EHLO: a new session state (RFC 5321 §4.1.4). */
static void
cmd_hello(struct session *s, char *arg, int esmtp)
{
	const struct conf *conf = s->rc->conf;
	struct helo_verdict v;
	size_t len = strcspn(arg, " ");

	if (len > SMTP_DOMAIN_MAX) {
		session_reply(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		command_error(s);
		return;
	}
	session_tx_free(s);
	session_set_state(s, SESSION_ST_INIT);
	s->esmtp = esmtp;
	session_set_helo(s, arg, len);
	s->helo_check = helo_check_start(conf, s->helo,
	    (struct sockaddr *)&s->peer, (struct sockaddr *)&s->local,
	    s->ptr[0] ? s->ptr : NULL, helo_done_cb, s, &v);
	if (s->helo_check != NULL)
		session_park(s, SESSION_WAIT_HELO);
	else
		helo_apply(s, &v);
}

static void
cmd_helo(struct session *s, char *arg)
{
	cmd_hello(s, arg, 0);
}

static void
cmd_ehlo(struct session *s, char *arg)
{
	cmd_hello(s, arg, 1);
}

/* command_prefix - match "FROM:" or "TO:" case-insensitively. */
static char *
command_prefix(char *arg, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncasecmp(arg, prefix, n) == 0 ? arg + n : NULL;
}

/* command_path - parse a path; on error reply and return -1. */
static int
command_path(struct session *s, char *arg, struct mailaddr *a,
    const char **rest, int flags, const char *usage, const char *what)
{
	enum addr_status st;

	st = addr_parse(arg, a, rest, flags | ADDR_ALLOW_LAX);
	if (st == ADDR_OK)
		return 0;
	if (st == ADDR_ERR_SYNTAX)
		session_reply(s, "501 5.5.4 Syntax: %s", usage);
	else if (st == ADDR_ERR_IDNA)
		/* A U-label domain that is not IDNA2008 cannot be looked
		 * up: a syntax error, never an unverified pass (DESIGN §8;
		 * RFC 3463 5.1.7 for the sender, 5.1.3 for a recipient). */
		session_reply(s, "553 %s Bad %s address syntax: %s",
		    (flags & ADDR_ALLOW_NULL) ? "5.1.7" : "5.1.3", what,
		    addr_status_text(st));
	else
		session_reply(s, "553 5.1.3 Bad %s address syntax", what);
	command_error(s);
	return -1;
}

/* command_mail_params - RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8. */
static int
command_mail_params(struct session *s, const char *rest, int *smtputf8)
{
	const struct conf *conf = s->rc->conf;
	struct addr_param p[8];
	size_t n, i;

	if (*rest == '\0')
		return 0;
	if (!s->esmtp || addr_params(rest, p, 8, &n) == -1) {
		char text[LOG_PRINTABLE_SIZE];

		session_reply(s, "555 5.5.4 Unsupported option: %.40s",
		    log_printable(text, sizeof(text), rest, strlen(rest)));
		command_error(s);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcasecmp(p[i].key, "SIZE") == 0) {
			char *end;
			unsigned long long size = strtoull(p[i].value, &end, 10);

			if (p[i].value[0] < '0' || p[i].value[0] > '9' ||
			    *end != '\0') {
				session_reply(s, "501 5.5.4 Bad SIZE syntax");
				command_error(s);
				return -1;
			}
			/* A limit: the caller refuses, with a log line. */
			if (size > conf->max_message_size)
				return -2;
		} else if (strcasecmp(p[i].key, "BODY") == 0) {
			if (strcasecmp(p[i].value, "7BIT") != 0 &&
			    strcasecmp(p[i].value, "8BITMIME") != 0) {
				session_reply(s, "501 5.5.4 Bad BODY syntax");
				command_error(s);
				return -1;
			}
		} else if (strcasecmp(p[i].key, "SMTPUTF8") == 0 &&
		    p[i].value[0] == '\0') {
			*smtputf8 = 1;
		} else {
			char text[LOG_PRINTABLE_SIZE];

			session_reply(s, "555 5.5.4 Unsupported option: %s",
			    log_printable(text, sizeof(text), p[i].key,
			    strlen(p[i].key)));
			command_error(s);
			return -1;
		}
	}
	return 0;
}

/* sender_apply - act on the return-path verdict. Returns 0 when the
 * transaction goes on, -1 when the reply refused it. */
static int
sender_apply(struct session *s, const struct sender_verdict *v,
    const char *cmd, const char *rcpt)
{
	struct transaction *tx = s->tx;

	tx->sender_state = TX_SENDER_OK;
	if (v->code != 0 && !v->enforced)
		log_info("session=%s client=%s sender policy would refuse "
		    "(log mode): %s", s->id, s->peer_ip, v->reply);
	if (v->code != 0 && v->enforced) {
		tx->sender_state = TX_SENDER_REFUSED;
		command_refuse(s, cmd, rcpt, v->reply);
		return -1;
	}
	return 0;
}

static void cmd_mail_finish(struct session *);
static int cmd_mail_sender(struct session *);
static void cmd_rcpt_finish(struct session *);

static void
sender_done_cb(void *arg, const struct sender_verdict *v)
{
	struct session *s = arg;

	s->sender_check = NULL;
	if (s->hangup)
		return;
	s->tx->sender_verdict = *v;
	s->tx->sender_state = TX_SENDER_DECIDED;
	if (s->state == SESSION_ST_MAIL && s->tx->pending.maildir == NULL)
		cmd_mail_finish(s);
	else
		cmd_rcpt_finish(s);
	session_resume(s);
}

/* spf_done_cb - the SPF outcome of the transaction: record it, then
 * refuse MAIL or go on with the sender policy. */
static void
spf_done_cb(void *arg, const struct spf_outcome *o)
{
	struct session *s = arg;
	struct transaction *tx = s->tx;
	struct spf_verdict v;
	char mech[LOG_PRINTABLE_SIZE], problem[LOG_PRINTABLE_SIZE];

	s->spf_check = NULL;
	if (s->hangup)
		return;
	tx->spf = *o;
	tx->spf_done = 1;
	log_info("session=%s client=%s spf=%s identity=%s domain=%s "
	    "mechanism=\"%s\" problem=\"%s\" lookups=%u void=%u "
	    "duration=%.3f", s->id, s->peer_ip, spf_result_text(o->result),
	    spf_identity_text(o->identity), o->domain,
	    log_printable(mech, sizeof(mech), o->mechanism,
	    strlen(o->mechanism)), log_printable(problem, sizeof(problem),
	    o->problem, strlen(o->problem)), o->dns_terms, o->void_lookups,
	    o->duration);
	spf_policy_decide(s->rc->conf, o, s->peer_ip, &v);
	if (v.code != 0 && !v.enforced)
		log_info("session=%s client=%s spf policy would refuse "
		    "(log mode): %s", s->id, s->peer_ip, v.reply);
	if (v.code != 0 && v.enforced) {
		command_refuse(s, "MAIL", NULL, v.reply);
		session_tx_free(s);
		session_set_state(s, SESSION_ST_HELO);
	} else if (cmd_mail_sender(s))
		return;		/* parked again, on the sender check */
	session_resume(s);
}

/* command_spf_start - evaluate SPF for the transaction's sender (the HELO
 * identity for a null sender, RFC 7208 §2.3); 1 when parked, 0 when there
 * is nothing to evaluate (no usable domain: "none", recorded as such). */
static int
command_spf_start(struct session *s)
{
	const struct conf *conf = s->rc->conf;
	struct transaction *tx = s->tx;
	struct spf_args args;
	char from[SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX + 1];
	char helo[SMTP_DOMAIN_MAX + 1];

	/* Every domain as DNS knows it (A-labels): the sender's was
	 * converted when it was parsed; a HELO name that cannot be has no
	 * SPF record to find, so it is checked as sent (and finds none). */
	from[0] = '\0';
	if (!tx->sender.is_null)
		snprintf(from, sizeof(from), "%s@%s", tx->sender.local,
		    tx->sender.ace);
	if (idna_to_alabel(s->helo, helo, sizeof(helo)) == -1)
		strlcpy_compat(helo, s->helo, sizeof(helo));
	if (spf_args_init(&args, (struct sockaddr *)&s->peer, from, helo,
	    conf->hostname) == -1) {
		memset(&tx->spf, 0, sizeof(tx->spf));
		tx->spf.result = SPF_NONE;
		tx->spf.identity = args.identity;
		strlcpy_compat(tx->spf.domain, args.domain,
		    sizeof(tx->spf.domain));
		snprintf(tx->spf.problem, sizeof(tx->spf.problem),
		    "no usable domain to check");
		tx->spf_done = 1;
		return 0;
	}
	s->spf_check = spf_check_start(&args, SPF_POLICY_TIMEOUT, spf_done_cb,
	    s);
	session_park(s, SESSION_WAIT_SENDER);
	return 1;
}

/* command_sender_start - run the sender policy; 1 if parked. */
static int
command_sender_start(struct session *s)
{
	struct sender_verdict v;

	s->sender_check = sender_check_start(s->rc->conf, &s->tx->sender,
	    (struct sockaddr *)&s->peer, s->id, s->tx->spf_done &&
	    s->tx->spf.result == SPF_PASS &&
	    s->tx->spf.identity == SPF_ID_MAILFROM, sender_done_cb, s, &v);
	if (s->sender_check != NULL) {
		session_park(s, SESSION_WAIT_SENDER);
		return 1;
	}
	s->tx->sender_verdict = v;
	s->tx->sender_state = TX_SENDER_DECIDED;
	return 0;
}

static void
cmd_mail(struct session *s, char *arg)
{
	const struct conf *conf = s->rc->conf;
	struct transaction *tx;
	const char *rest;
	char *path;
	int smtputf8 = 0, r = 0;

	if ((path = command_prefix(arg, "FROM:")) == NULL) {
		session_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		command_error(s);
		return;
	}
	tx = xcalloc(1, sizeof(*tx));
	if (command_path(s, path, &tx->sender, &rest, ADDR_ALLOW_NULL,
	    "MAIL FROM:<address>", "sender") == -1 ||
	    (r = command_mail_params(s, rest, &smtputf8)) == -1) {
		free(tx);
		return;
	}
	/* RFC 1870 §6.1 (SIZE above our limit) and RFC 6531 §3.5: refusals
	 * of a well-formed command, logged with the sender they name, so
	 * the transaction is in place for session_log_refusal a moment. */
	if (r == -2 || (tx->sender.utf8 && !smtputf8)) {
		s->tx = tx;
		command_refuse(s, "MAIL", NULL, r == -2 ?
		    "552 5.3.4 Message size exceeds fixed limit" :
		    "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		s->tx = NULL;
		free(tx);
		if (r != -2)
			command_error(s);
		return;
	}
	tx->smtputf8 = smtputf8;
	s->tx = tx;
	session_set_state(s, SESSION_ST_MAIL);
	/* SPF first (DESIGN §8): it needs no probe, and its verdict belongs
	 * to the MAIL reply. A client whose HELO was refused (helo_reject_at
	 * rcpt) costs no lookups at all. */
	if (!s->helo_refused && spf_policy_wanted(conf, &tx->sender,
	    (struct sockaddr *)&s->peer) && command_spf_start(s))
		return;
	cmd_mail_sender(s);
}

/* cmd_mail_sender - after SPF: cbv_stage mail makes the sender verdict
 * the reply to MAIL. Otherwise it waits for the first valid RCPT, so that
 * relay attempts and unknown users never cost a probe. 1 if parked. */
static int
cmd_mail_sender(struct session *s)
{
	if (s->rc->conf->cbv_stage == CBV_STAGE_MAIL && !s->helo_refused &&
	    command_sender_start(s))
		return 1;
	cmd_mail_finish(s);
	return 0;
}

static void
cmd_mail_finish(struct session *s)
{
	struct transaction *tx = s->tx;
	char from[LOG_PRINTABLE_SIZE];

	if (tx->sender_state == TX_SENDER_DECIDED && sender_apply(s,
	    &tx->sender_verdict, "MAIL", NULL) == -1) {
		session_tx_free(s);
		session_set_state(s, SESSION_ST_HELO);
		return;
	}
	log_debug("session=%s from=<%s>", s->id, log_printable(from,
	    sizeof(from), tx->sender.text, strlen(tx->sender.text)));
	session_reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, char *arg)
{
	const struct conf *conf = s->rc->conf;
	struct transaction *tx = s->tx;
	struct mailaddr a;
	const char *rest, *maildir;
	char *path, reply[SMTP_REPLYLINE_MAX], text[LOG_PRINTABLE_SIZE];

	if ((path = command_prefix(arg, "TO:")) == NULL) {
		session_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		command_error(s);
		return;
	}
	if (command_path(s, path, &a, &rest, ADDR_ALLOW_POSTMASTER,
	    "RCPT TO:<address>", "recipient") == -1)
		return;
	if (*rest != '\0') {
		session_reply(s, "555 5.5.4 Unsupported option: %.40s",
		    log_printable(text, sizeof(text), rest, strlen(rest)));
		command_error(s);
		return;
	}
	if (a.utf8 && !tx->smtputf8) {
		command_refuse(s, "RCPT", a.text,
		    "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		command_error(s);
		return;
	}
	if (tx->nrcpts >= conf->max_recipients) {
		command_refuse(s, "RCPT", a.text,
		    "452 4.5.3 Error: too many recipients");
		s->rec.rcpt_refused++;
		return;
	}
	if (s->helo_refused) {
		/* helo_reject_at rcpt: MAIL was accepted so that this line
		 * shows sender and recipient (Postfix's smtpd_delay_reject). */
		command_refuse(s, "RCPT", a.text, s->helo_reply);
		s->rec.rcpt_refused++;
		return;
	}
	log_printable(text, sizeof(text), a.text, strlen(a.text));
	/* Local domains and the table are in A-label form (IDNA). */
	if (!a.is_postmaster && !conf_is_local_domain(conf, a.ace)) {
		snprintf(reply, sizeof(reply), "554 5.7.1 <%s>: Relay access "
		    "denied", text);
		command_refuse(s, "RCPT", a.text, reply);
		s->rec.rcpt_refused++;
		command_error(s);
		return;
	}
	if ((maildir = table_lookup(s->rc->table, conf, a.local,
	    a.ace)) == NULL) {
		snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: Recipient "
		    "address rejected: User unknown", text);
		command_refuse(s, "RCPT", a.text, reply);
		s->rec.rcpt_refused++;
		command_error(s);
		return;
	}
	tx->pending.addr = a;
	tx->pending.maildir = xstrdup(maildir);
	if (tx->sender_state == TX_SENDER_UNCHECKED &&
	    command_sender_start(s))
		return;
	cmd_rcpt_finish(s);
}

/* cmd_rcpt_finish - the recipient is valid; the sender verdict decides. */
static void
cmd_rcpt_finish(struct session *s)
{
	struct transaction *tx = s->tx;

	/* A refusal stands for the whole transaction: every further RCPT
	 * gets the same answer without a second check. */
	if (tx->sender_state == TX_SENDER_DECIDED)
		sender_apply(s, &tx->sender_verdict, "RCPT",
		    tx->pending.addr.text);
	else if (tx->sender_state == TX_SENDER_REFUSED)
		command_refuse(s, "RCPT", tx->pending.addr.text,
		    tx->sender_verdict.reply);
	if (tx->sender_state == TX_SENDER_REFUSED) {
		free(tx->pending.maildir);
		tx->pending.maildir = NULL;
		s->rec.rcpt_refused++;
		return;
	}
	if (tx->nrcpts == tx->rcpt_cap) {
		tx->rcpt_cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 4;
		tx->rcpts = xreallocarray(tx->rcpts, tx->rcpt_cap,
		    sizeof(*tx->rcpts));
	}
	tx->rcpts[tx->nrcpts++] = tx->pending;
	tx->pending.maildir = NULL;
	s->rec.rcpt_accepted++;
	session_set_state(s, SESSION_ST_RCPT);
	session_reply(s, "250 2.1.5 Ok");
}

static void
cmd_data(struct session *s, char *arg)
{
	(void)arg;
	transfer_start(s);
}

static void
cmd_rset(struct session *s, char *arg)
{
	(void)arg;
	session_tx_free(s);
	if (s->state != SESSION_ST_INIT)
		session_set_state(s, SESSION_ST_HELO);
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "221 2.0.0 Bye");
	session_close(s, "quit");
}

/* cmd_vrfy - RFC 5321 §3.5.3: 252 tells nothing to address harvesters. */
static void
cmd_vrfy(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "252 2.0.0 Send some mail, I'll try my best");
}

static void
cmd_expn(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "502 5.5.1 Error: command not implemented");
}

static void
cmd_help(struct session *s, char *arg)
{
	(void)arg;
	session_reply(s, "214 2.0.0 See https://www.rfc-editor.org/rfc/rfc5321");
}

/* cmd_starttls - RFC 3207. Not offered without a certificate, nor twice. */
static void
cmd_starttls(struct session *s, char *arg)
{
	(void)arg;
	if (s->rc->tls == NULL) {
		session_reply(s, "502 5.5.1 Error: command not implemented");
		command_error(s);
		return;
	}
	if (s->tls) {
		session_reply(s, "503 5.5.1 Error: TLS already active");
		command_error(s);
		return;
	}
	if (session_starttls(s) == -1) {
		log_warn("session=%s client=%s cannot start TLS", s->id,
		    s->peer_ip);
		session_reply(s, "454 4.7.0 TLS not available due to "
		    "temporary reason");
	}
}
