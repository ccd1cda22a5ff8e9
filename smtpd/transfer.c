/* transfer.c - the DATA phase of a session: open the maildir file, stream
 * the message to disk, authenticate it, put our fields on top, commit.
 *
 *	transfer_start - the DATA command: open the file, answer 354
 *	transfer_feed - pass buffered input to the DATA reader; 1 when it ended
 *
 * The message goes: data.c's reader (dot-unstuffing, LF line ends) ->
 * msgauth.c (the header section captured, DKIM body hashes, nothing else
 * kept) -> authres.c's filter (drops Authentication-Results fields that
 * claim our authserv-id, RFC 8601 §5) -> maildir_write. After the dot,
 * DKIM and DMARC decide (the session parked meanwhile); only then are
 * Return-Path, Received and our Authentication-Results known, and they go
 * on top (maildir_prepend) before the commit. Every message that reaches
 * the end of DATA leaves one row in the stats "auth" table.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "session.h"
#include "authres.h"
#include "server.h"
#include "transfer.h"
#include "cidr.h"
#include "conf.h"
#include "data.h"
#include "maildir.h"
#include "msgauth.h"
#include "log.h"
#include "xmalloc.h"

static void transfer_done_cb(void *, int);
static void transfer_auth_cb(void *, const struct msgauth_result *);
static void transfer_commit(struct session *, const struct msgauth_result *);

/* transfer_header_text - copy untrusted text into a header: control
 * characters (CR and LF above all) never get through, and the length is
 * bounded, so no header can be injected or folded by a client. Comment
 * delimiters are replaced too, since HELO and PTR stand inside one. */
static void
transfer_header_text(char *dst, size_t len, const char *src, int comment)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < len && i < SMTP_PATH_MAX; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c < 0x20 || c == 0x7f || (comment && (c == '(' ||
		    c == ')' || c == '\\' || c >= 0x80)))
			c = '?';
		dst[i] = (char)c;
	}
	dst[i] = '\0';
}

/* transfer_received - RFC 5321 §4.4 trace: the Return-Path the final
 * delivery adds, then our Received line with the HELO name, the verified
 * PTR name (or "unknown") and the address, and "for" when there is one
 * recipient (more would leak Bcc recipients to each other). */
static size_t
transfer_received(char *buf, size_t len, const struct session *s,
    const char *id)
{
	const struct conf *conf = s->rc->conf;
	const struct transaction *tx = s->tx;
	char helo[SMTP_DOMAIN_MAX + 1], ptr[SMTP_DOMAIN_MAX + 1];
	char from[SMTP_PATH_MAX + 1], rcpt[SMTP_PATH_MAX + 16];
	char date[64], ip[80];
	const char *with;
	struct tm tm;
	time_t now = time(NULL);
	int n;

	transfer_header_text(helo, sizeof(helo), s->helo, 1);
	transfer_header_text(ptr, sizeof(ptr), s->ptr[0] ? s->ptr : "unknown",
	    1);
	transfer_header_text(from, sizeof(from), tx->sender.text, 0);
	rcpt[0] = '\0';
	if (tx->nrcpts == 1) {
		char to[SMTP_PATH_MAX + 1];

		transfer_header_text(to, sizeof(to), tx->rcpts[0].addr.text, 0);
		snprintf(rcpt, sizeof(rcpt), "\n\tfor <%s>", to);
	}
	snprintf(ip, sizeof(ip), strchr(s->peer_ip, ':') ? "IPv6:%s" : "%s",
	    s->peer_ip);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* RFC 3848 / RFC 6531 §3.7.3 protocol names */
	if (tx->smtputf8)
		with = s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	else if (s->tls)
		with = s->esmtp ? "ESMTPS" : "SMTPS";
	else
		with = s->esmtp ? "ESMTP" : "SMTP";
	n = snprintf(buf, len, "Return-Path: <%s>\nReceived: from %s (%s [%s])"
	    "\n\tby %s (strictmx) with %s id %s%s; %s\n", from, helo, ptr, ip,
	    conf->hostname, with, id, rcpt, date);
	return n < 0 ? 0 : (size_t)n;
}

/* transfer_authres - our Authentication-Results field, written below the
 * Received field as Postfix with a milter and Gmail do: the results of
 * this hop's checks, right under this hop's trace. */
static size_t
transfer_authres(char *buf, size_t len, const struct session *s,
    const struct msgauth_result *ma)
{
	const struct conf *conf = s->rc->conf;
	const struct transaction *tx = s->tx;
	struct authres_input in;

	memset(&in, 0, sizeof(in));
	in.authserv_id = conf->authserv_id;
	in.client_ip = s->peer_ip;
	in.ptr_status = s->ptr_status;
	in.ptr = s->ptr;
	in.spf_policy = conf->spf_policy;
	in.spf_done = tx->spf_done;
	in.spf = &tx->spf;
	in.mailfrom = tx->sender.is_null ? "" : tx->sender.text;
	in.helo = s->helo;
	in.dkim_verify = conf->dkim_verify;
	in.dkim = ma != NULL && ma->dkim_done ? &ma->dkim : NULL;
	in.dmarc_policy = conf->dmarc_policy;
	in.dmarc = ma != NULL && ma->dmarc_done ? &ma->dmarc : NULL;
	return authres_header(buf, len, &in);
}

/* transfer_record_auth - the DKIM and DMARC columns of an auth row: one
 * "RESULT d=DOMAIN s=SELECTOR" per signature, "; " between them
 * (strictmxctl(8)); what does not fit is cut at a whole entry. */
static void
transfer_record_auth(struct stats_auth *row, const struct msgauth_result *ma)
{
	size_t i, used = 0;
	int n;

	for (i = 0; ma->dkim_done && i < ma->dkim.nsig; i++) {
		const struct dkim_sig *g = &ma->dkim.sig[i];

		n = snprintf(row->dkim + used, sizeof(row->dkim) - used,
		    "%s%s d=%s s=%s", i > 0 ? "; " : "",
		    dkim_result_text(g->result), g->domain, g->selector);
		if (n < 0 || (size_t)n >= sizeof(row->dkim) - used) {
			row->dkim[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
	if (ma->from.ndomains == 1)
		strlcpy_compat(row->from_domain, ma->from.domain,
		    sizeof(row->from_domain));
	if (!ma->dmarc_done)
		return;
	strlcpy_compat(row->dmarc_result, dmarc_result_text(ma->dmarc.result),
	    sizeof(row->dmarc_result));
	if (ma->dmarc.policy != DMARC_P_UNSET)
		strlcpy_compat(row->dmarc_policy,
		    dmarc_policy_text(ma->dmarc.policy),
		    sizeof(row->dmarc_policy));
}

/* transfer_record - the "auth" row of a message that reached the end of
 * DATA (DESIGN §8): delivered, or refused with the reply code. */
static void
transfer_record(const struct session *s, const char *disposition, int code)
{
	const struct transaction *tx = s->tx;
	const struct msgauth_result *ma = tx->auth_res;
	struct stats_auth row;

	memset(&row, 0, sizeof(row));
	row.time = clock_wall();
	strlcpy_compat(row.session_id, s->id, sizeof(row.session_id));
	strlcpy_compat(row.client_ip, s->peer_ip, sizeof(row.client_ip));
	if (!tx->sender.is_null)
		strlcpy_compat(row.mailfrom_domain, tx->sender.domain,
		    sizeof(row.mailfrom_domain));
	if (tx->spf_done) {
		strlcpy_compat(row.spf_result,
		    spf_result_text(tx->spf.result),
		    sizeof(row.spf_result));
		strlcpy_compat(row.spf_identity,
		    spf_identity_text(tx->spf.identity),
		    sizeof(row.spf_identity));
		strlcpy_compat(row.spf_domain, tx->spf.domain,
		    sizeof(row.spf_domain));
	}
	if (ma != NULL)
		transfer_record_auth(&row, ma);
	strlcpy_compat(row.disposition, disposition, sizeof(row.disposition));
	row.reply_code = code;
	stats_add_auth(&row);
}

static int
transfer_sink(void *arg, const char *buf, size_t len)
{
	struct session *s = arg;

	return maildir_write(s->tx->msg, buf, len);
}

/* transfer_data_sink - the reader's output: DKIM and the From: capture
 * see the message as the client sent it, forged A-R fields included
 * (a signature may cover one); the disk gets it filtered. */
static int
transfer_data_sink(void *arg, const char *buf, size_t len)
{
	struct session *s = arg;

	msgauth_feed(s->tx->auth, buf, len);
	return authres_filter_write(&s->tx->authres, buf, len);
}

/* transfer_fail_code - the reply code for a delivery error, by errno. */
static int
transfer_fail_code(int err)
{
	return err == ENOSPC || err == EDQUOT ? 452 : 451;
}

/* transfer_fail - the reply for a delivery error, by errno; its code. */
static int
transfer_fail(struct session *s, int err)
{
	log_warn("session=%s delivery failed into %.512s%s: %s", s->id,
	    s->tx != NULL && s->tx->nrcpts > 0 ? s->tx->rcpts[0].maildir : "?",
	    s->tx != NULL && s->tx->nrcpts > 1 ? " (and others)" : "",
	    strerror(err));
	if (transfer_fail_code(err) == 452)
		session_reply(s, "452 4.3.1 Insufficient system storage");
	else
		session_reply(s, "451 4.3.0 Error: local delivery failed");
	return transfer_fail_code(err);
}

/* transfer_start - DATA: everything that can fail before the client sends
 * the message fails here, before 354 (RFC 5321 §3.3). */
void
transfer_start(struct session *s)
{
	const struct conf *conf = s->rc->conf;
	struct transaction *tx = s->tx;
	const char **paths;
	size_t i;
	int err = 0;

	paths = calloc(tx->nrcpts, sizeof(*paths));
	if (paths == NULL) {
		transfer_fail(s, ENOMEM);
		return;
	}
	for (i = 0; i < tx->nrcpts; i++)
		paths[i] = tx->rcpts[i].maildir;
	tx->msg = maildir_open(paths, tx->nrcpts, conf->hostname, &err);
	free(paths);
	if (tx->msg == NULL) {
		transfer_fail(s, err);
		return;
	}
	strlcpy_compat(tx->msgid, maildir_msg_id(tx->msg), sizeof(tx->msgid));
	tx->auth = msgauth_new(conf, cidr_list_match(&conf->exempt_clients,
	    (struct sockaddr *)&s->peer));
	authres_filter_init(&tx->authres, conf->authserv_id, transfer_sink, s);
	data_init(&tx->reader, conf->max_message_size,
	    conf->bare_newline == BARE_NEWLINE_NORMALIZE, transfer_data_sink,
	    s);
	session_set_state(s, SESSION_ST_DATA);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	/* timeout_data bounds the whole DATA phase, not each read. */
	{
		struct timeval tv = { (time_t)conf->timeout_data, 0 };

		evtimer_add(s->timer, &tv);
	}
}

/* transfer_end - the client sent <CRLF>.<CRLF>: refuse what the reader
 * refused, else hand the file to the maildir worker and wait. */
static void
transfer_end(struct session *s)
{
	struct transaction *tx = s->tx;
	const char *reply = NULL;
	int code = 0;

	/* A field still held (a message that is all header) goes out now. */
	if (tx->reader.error == DATA_OK &&
	    authres_filter_finish(&tx->authres) < 0) {
		tx->reader.error = DATA_ERR_WRITE;
		tx->reader.sink_errno = errno;
	}
	switch (tx->reader.error) {
	case DATA_OK:
		break;
	case DATA_ERR_BARE_NEWLINE:
		reply = "550 5.5.2 Message contains bare LF or bare CR "
		    "(see bare_newline)";
		break;
	case DATA_ERR_SIZE:
		reply = "552 5.3.4 Message size exceeds fixed limit";
		break;
	case DATA_ERR_LINE:
		reply = "554 5.6.0 Message line longer than 65536 octets";
		break;
	case DATA_ERR_WRITE:
		code = transfer_fail(s, tx->reader.sink_errno);
		break;
	}
	if (tx->reader.error != DATA_OK) {
		transfer_record(s, "refused", reply != NULL ? atoi(reply) : code);
		if (reply != NULL)
			session_log_refusal(s, "DATA", NULL, reply),
			    session_reply(s, "%s", reply);
		session_tx_free(s);
		session_set_state(s, SESSION_ST_HELO);
		/* Back to commands: the command timeout replaces the DATA
		 * deadline, and a SIGTERM that came during DATA answers 421. */
		session_resume(s);
		return;
	}
	if (tx->auth != NULL) {
		session_park(s, SESSION_WAIT_AUTH);
		msgauth_finish(tx->auth, tx->spf_done ? &tx->spf : NULL,
		    transfer_auth_cb, s);
		return;
	}
	transfer_commit(s, NULL);
}

/* transfer_log_auth - one line per message with what DKIM and DMARC
 * found and what was done, for the postmaster and fail2ban. */
static void
transfer_log_auth(const struct session *s, const struct msgauth_result *ma)
{
	char dkim[256], from[LOG_PRINTABLE_SIZE];
	size_t i, used = 0;
	int n;

	dkim[0] = '\0';
	for (i = 0; ma->dkim_done && i < ma->dkim.nsig; i++) {
		n = snprintf(dkim + used, sizeof(dkim) - used, "%s%s:%s",
		    i > 0 ? "," : "", dkim_result_text(ma->dkim.sig[i].result),
		    ma->dkim.sig[i].domain);
		if (n < 0 || (size_t)n >= sizeof(dkim) - used)
			break;
		used += (size_t)n;
	}
	log_info("session=%s client=%s dkim=%s dmarc=%s from_domain=%s "
	    "policy=%s disposition=%s action=%s%s", s->id, s->peer_ip,
	    ma->dkim_done ? (used > 0 ? dkim : "none") : "off",
	    ma->dmarc_done ? dmarc_result_text(ma->dmarc.result) : "off",
	    log_printable(from, sizeof(from), ma->from.domain,
	    strlen(ma->from.domain)),
	    ma->dmarc_done ? dmarc_policy_text(ma->dmarc.policy) : "-",
	    ma->dmarc_done ? dmarc_policy_text(ma->dmarc.disposition) : "-",
	    msgauth_action_text(ma->action), ma->action != MSGAUTH_DELIVER &&
	    !ma->enforced ? " (dmarc_policy log: not acted on)" : "");
}

/* transfer_auth_cb - DKIM and DMARC are done: refuse (nothing was ever
 * in new/, the file goes), or deliver into the inbox or the quarantine
 * folder. */
static void
transfer_auth_cb(void *arg, const struct msgauth_result *ma)
{
	struct session *s = arg;
	struct transaction *tx = s->tx;

	tx->auth_res = xmalloc(sizeof(*tx->auth_res));
	*tx->auth_res = *ma;
	transfer_log_auth(s, ma);
	if (s->hangup) {
		transfer_record(s, "refused", 421);
		session_tx_free(s);
		return;
	}
	if (ma->enforced && (ma->action == MSGAUTH_REFUSE ||
	    ma->action == MSGAUTH_TEMPFAIL)) {
		transfer_record(s, "refused", atoi(ma->reply));
		session_log_refusal(s, "DATA", NULL, ma->reply);
		session_reply(s, "%s", ma->reply);
		session_tx_free(s);	/* aborts the tmp file */
		session_set_state(s, SESSION_ST_HELO);
		session_resume(s);
		return;
	}
	transfer_commit(s, ma);
}

/* transfer_commit - our fields on top, the folder, the worker's fsyncs. */
static void
transfer_commit(struct session *s, const struct msgauth_result *ma)
{
	const struct conf *conf = s->rc->conf;
	struct transaction *tx = s->tx;
	char hdr[2048 + AUTHRES_MAX], folder[80];
	size_t n, m;
	int err;

	n = transfer_received(hdr, sizeof(hdr), s, tx->msgid);
	m = n < sizeof(hdr) ? transfer_authres(hdr + n, sizeof(hdr) - n, s,
	    ma) : 0;
	err = m == 0 ? ENAMETOOLONG : 0;
	if (err == 0 && maildir_prepend(tx->msg, hdr, n + m) == -1)
		err = errno;
	tx->junk = ma != NULL && ma->enforced && ma->action == MSGAUTH_JUNK;
	if (err == 0 && tx->junk) {
		snprintf(folder, sizeof(folder), ".%s",
		    conf->dmarc_quarantine_folder);
		if (maildir_set_folder(tx->msg, folder) == -1)
			err = errno;
	}
	if (err != 0) {
		transfer_record(s, "refused", transfer_fail(s, err));
		session_tx_free(s);
		session_set_state(s, SESSION_ST_HELO);
		session_resume(s);
		return;
	}
	session_park(s, SESSION_WAIT_COMMIT);
	maildir_commit(tx->msg, transfer_done_cb, s);
}

/* transfer_done_cb - the worker has fsynced (or failed): only now may the
 * client hear 250 (DESIGN §4: no 250 for mail that is not on disk). */
static void
transfer_done_cb(void *arg, int err)
{
	struct session *s = arg;
	struct transaction *tx = s->tx;
	char from[LOG_PRINTABLE_SIZE], to[LOG_PRINTABLE_SIZE];

	tx->msg = NULL;		/* the maildir module frees it */
	if (s->hangup) {
		/* 421 already sent (timeout): the client will retry. The row
		 * says what is on disk. */
		transfer_record(s, err != 0 ? "refused" : tx->junk ? "junk" :
		    "delivered", err == 0 ? 0 : transfer_fail_code(err));
		session_tx_free(s);
		return;
	}
	if (err != 0)
		transfer_record(s, "refused", transfer_fail(s, err));
	else {
		transfer_record(s, tx->junk ? "junk" : "delivered", 0);
		s->rec.messages++;
		log_info("session=%s delivered id=%s client=%s from=<%s> "
		    "to=<%s>%s nrcpt=%zu size=%zu%s", s->id, tx->msgid,
		    s->peer_ip, log_printable(from, sizeof(from),
		    tx->sender.text, strlen(tx->sender.text)),
		    log_printable(to, sizeof(to), tx->rcpts[0].addr.text,
		    strlen(tx->rcpts[0].addr.text)), tx->nrcpts > 1 ?
		    ",..." : "", tx->nrcpts, tx->reader.size, tx->junk ?
		    " folder=quarantine" : "");
		session_reply(s, "250 2.0.0 Ok: queued as %s", tx->msgid);
	}
	session_tx_free(s);
	session_set_state(s, SESSION_ST_HELO);
	session_resume(s);
}

/* transfer_feed - give the DATA reader what is buffered, straight from the
 * evbuffer's memory: a 25 MB message is never held, only streamed. */
int
transfer_feed(struct session *s, struct evbuffer *in)
{
	struct transaction *tx = s->tx;

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t used;
		int done = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		used = data_feed(&tx->reader, v.iov_base, v.iov_len, &done);
		evbuffer_drain(in, used);
		s->rec.bytes += used;
		if (done) {
			transfer_end(s);
			return 1;
		}
	}
	return 0;
}
