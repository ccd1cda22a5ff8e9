/* sender_verdict.c - the replies of the return-path policy: what a DNS
 * answer or a probe result means, and the reply line it earns.
 *
 *	sender_verdict_accept - an accepting verdict (the session says 250)
 *	sender_verdict_refuse - "CODE ENH <addr>: Sender address rejected: ..."
 *		(refuses only under sender_policy enforce)
 *	sender_verdict_mx - classify an MX answer (null MX, RFC 7505)
 *	sender_verdict_addr - classify A/AAAA after "no MX" (implicit MX,
 *		RFC 5321 §5.1)
 *	sender_verdict_dns_name - the stage name of a DNS result (stats.h)
 *	sender_verdict_dns_text - the words of a DNS result in a reply
 *	sender_verdict_dns - the verdict when DNS decides
 *	sender_verdict_probe - the verdict for a call-back result
 *
 * These are plain functions over already-fetched data, so the unit tests
 * and `strictmxctl cbv` use them without a network. The outcome words
 * follow one rule: "pass" only when the return path was established,
 * "fail" when we refuse with 5xx, "tempfail" for everything undecided,
 * even when a cbv_on_* setting accepts it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "cbv.h"
#include "conf.h"
#include "sender.h"
#include "sender_verdict.h"
#include "stats.h"

/* A reply line is at most 512 octets with its CRLF (RFC 5321 §4.5.3.1.5);
 * we stay strictly below that. */
#define SENDER_VERDICT_CUT	(SMTP_REPLYLINE_MAX - 3)

static const char *const sender_verdict_dns_names[SENDER_DNS_LAST] = {
	[SENDER_DNS_OK] = STATS_DNS_OK,
	[SENDER_DNS_NXDOMAIN] = STATS_DNS_NXDOMAIN,
	[SENDER_DNS_NODATA] = "nodata",
	[SENDER_DNS_NOMX] = STATS_DNS_NOMX,
	[SENDER_DNS_NULLMX] = STATS_DNS_NULLMX,
	[SENDER_DNS_TEMPFAIL] = STATS_DNS_TEMPFAIL,
};

/* What a DNS result is called in the reply (and in the cbv row). */
static const char *const sender_verdict_dns_texts[SENDER_DNS_LAST] = {
	[SENDER_DNS_OK] = "",
	[SENDER_DNS_NXDOMAIN] = "Domain not found",
	[SENDER_DNS_NODATA] = "Domain has no MX record",
	[SENDER_DNS_NOMX] = "Domain has no MX or address record",
	[SENDER_DNS_NULLMX] = "Domain does not accept mail (null MX)",
	[SENDER_DNS_TEMPFAIL] =
	    "cannot resolve domain (DNS temporary failure)",
};

/* sender_verdict_accept - an accepting verdict (no reply of ours). */
void
sender_verdict_accept(struct sender_verdict *v, const char *by,
    const char *outcome, const char *reason)
{
	memset(v, 0, sizeof(*v));
	strlcpy_compat(v->decided_by, by, sizeof(v->decided_by));
	strlcpy_compat(v->outcome, outcome, sizeof(v->outcome));
	strlcpy_compat(v->reason, reason, sizeof(v->reason));
}

/*
 * sender_verdict_refuse - a refusing verdict: "CODE ENH <addr>: Sender
 * address rejected: TEXT", cut below 512 octets. Only sender_policy enforce
 * refuses (enforced 1); in log (or off, for strictmxctl) code and reply say
 * what enforce would have done and enforced is 0: the session accepts, and
 * logs the would-be refusal.
 */
void
sender_verdict_refuse(const struct conf *conf, struct sender_verdict *v,
    int code, const char *enh, const char *by, const struct mailaddr *a,
    const char *fmt, ...)
{
	char text[SMTP_REPLYLINE_MAX], addr[SMTP_LOCAL_MAX + SMTP_DOMAIN_MAX + 2];
	char local[SMTP_LOCAL_MAX + 1];
	va_list ap;

	memset(v, 0, sizeof(*v));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* A reply is ASCII (RFC 5321 §4.2; RFC 6531 adds no UTF-8 reply
	 * text): an internationalized address is quoted with its domain's
	 * A-labels and any other octet of its local part as '?'. */
	if (a->utf8) {
		ascii_copy(local, sizeof(local), a->local);
		snprintf(addr, sizeof(addr), "%s@%s", local, a->ace);
	} else
		strlcpy_compat(addr, a->text, sizeof(addr));
	/* Truncation is intended: the remote's words are cut, not ours. */
	if (snprintf(v->reply, sizeof(v->reply), "%d %s <%s>: Sender address "
	    "rejected: %s", code, enh, addr, text) > SENDER_VERDICT_CUT)
		v->reply[SENDER_VERDICT_CUT] = '\0';
	snprintf(v->decided_by, sizeof(v->decided_by), "%s", by);
	snprintf(v->outcome, sizeof(v->outcome), "%s",
	    code >= 500 ? "fail" : "tempfail");
	strlcpy_compat(v->reason, text, sizeof(v->reason));
	v->code = code;
	v->enforced = conf->sender_policy == POLICY_ENFORCE;
}

/* sender_verdict_act - the verdict for an undecided or refused result
 * under one of the cbv_on_* settings (DESIGN §3). Accepting does not make the
 * address verified, so the outcome stays "tempfail". */
static void
sender_verdict_act(const struct conf *conf, struct sender_verdict *v,
    int action, const char *enh5, const char *enh4, const char *by,
    const struct mailaddr *a, const char *text)
{
	switch (action) {
	case VERDICT_ACCEPT:
		sender_verdict_accept(v, by, "tempfail", text);
		break;
	case VERDICT_REJECT:
		sender_verdict_refuse(conf, v, 550, enh5, by, a, "%s", text);
		break;
	default:
		sender_verdict_refuse(conf, v, 450, enh4, by, a, "%s", text);
		break;
	}
}

const char *
sender_verdict_dns_name(enum sender_dns d)
{
	if ((unsigned)d >= SENDER_DNS_LAST)
		return "?";
	return sender_verdict_dns_names[d];
}

const char *
sender_verdict_dns_text(enum sender_dns d)
{
	if ((unsigned)d >= SENDER_DNS_LAST)
		return "?";
	return sender_verdict_dns_texts[d];
}

/*
 * sender_verdict_mx - what an MX answer means. Null MX records (name "",
 * RFC 7505 §3) are dropped; a domain with only those does not accept mail.
 * RFC 7505 forbids mixing them with real MX records; if a domain does, the
 * real ones are used. The real hosts, in the resolver's preference order,
 * go to out (at most max, *n of them).
 */
enum sender_dns
sender_verdict_mx(const struct resolver_result *r, struct resolver_mx *out,
    size_t max, size_t *n)
{
	size_t i;

	*n = 0;
	switch (r->status) {
	case RESOLVER_NXDOMAIN:
		return SENDER_DNS_NXDOMAIN;
	case RESOLVER_NODATA:
		return SENDER_DNS_NODATA;
	case RESOLVER_OK:
		break;
	default:
		return SENDER_DNS_TEMPFAIL;
	}
	if (r->n == 0)
		return SENDER_DNS_NODATA;
	for (i = 0; i < r->n && i < RESOLVER_MAX_RR; i++)
		if (r->mx[i].name[0] != '\0' && *n < max)
			out[(*n)++] = r->mx[i];
	return *n == 0 ? SENDER_DNS_NULLMX : SENDER_DNS_OK;
}

/* sender_verdict_addr - after "no MX": an A or AAAA record makes the
 * domain its own implicit MX (RFC 5321 §5.1); neither, no mail host. */
enum sender_dns
sender_verdict_addr(enum resolver_status a, enum resolver_status aaaa)
{
	if (a == RESOLVER_OK || aaaa == RESOLVER_OK)
		return SENDER_DNS_OK;
	if (a == RESOLVER_TEMPFAIL || aaaa == RESOLVER_TEMPFAIL)
		return SENDER_DNS_TEMPFAIL;
	return SENDER_DNS_NOMX;
}

/* sender_verdict_dns - the verdict when DNS decides (decided_by dns). */
void
sender_verdict_dns(const struct conf *conf, const struct mailaddr *a,
    enum sender_dns d, struct sender_verdict *v)
{
	switch (d) {
	case SENDER_DNS_OK:
		sender_verdict_accept(v, "dns", "pass",
		    "mail host found (cbv off)");
		break;
	case SENDER_DNS_NXDOMAIN:
	case SENDER_DNS_NODATA:
	case SENDER_DNS_NOMX:
		sender_verdict_refuse(conf, v, 550, "5.1.8", "dns", a, "%s",
		    sender_verdict_dns_texts[d]);
		break;
	case SENDER_DNS_NULLMX:
		/* RFC 7505 §4.2: 550 5.7.27 for a sender whose domain
		 * publishes a null MX. */
		sender_verdict_refuse(conf, v, 550, "5.7.27", "dns", a, "%s",
		    sender_verdict_dns_texts[d]);
		break;
	default:
		sender_verdict_act(conf, v, conf->cbv_on_tempfail, "5.1.8",
		    "4.1.8", "dns", a,
		    sender_verdict_dns_texts[SENDER_DNS_TEMPFAIL]);
		break;
	}
}

/* sender_verdict_probe - the verdict for a probe result (decided_by
 * probe); the remote host and reply are quoted, made printable. */
void
sender_verdict_probe(const struct conf *conf, const struct mailaddr *a,
    const struct cbv_result *r, struct sender_verdict *v)
{
	char mx[SMTP_DOMAIN_MAX + 1], reply[SMTP_REPLYLINE_MAX];
	char text[SMTP_REPLYLINE_MAX * 2];
	const char *stage = cbv_stage_name(r->stage);

	ascii_copy(mx, sizeof(mx),
	    r->mx_host[0] != '\0' ? r->mx_host : "MX");
	ascii_copy(reply, sizeof(reply), r->reply);
	switch (r->outcome) {
	case CBV_PASS:
		snprintf(text, sizeof(text), "verified by %s", mx);
		sender_verdict_accept(v, "probe", "pass", text);
		return;
	case CBV_FAIL:
		sender_verdict_refuse(conf, v, 550, "5.1.7", "probe", a,
		    "verification failed: %s said: %s", mx, reply);
		return;
	case CBV_REFUSED_EARLY:
		snprintf(text, sizeof(text), "unverified: %s refused our "
		    "call-back at %s: %s", mx, stage, reply);
		sender_verdict_act(conf, v, conf->cbv_on_refused_early,
		    "5.1.7", "4.1.7", "probe", a, text);
		return;
	case CBV_REFUSED_MAIL:
		/* The domain refuses bounces (RFC 5321 §4.5.5 says it must
		 * take them), so its return paths cannot get any. */
		if (conf->cbv_probe_sender == NULL ||
		    conf->cbv_probe_sender[0] == '\0')
			snprintf(text, sizeof(text), "%s refuses the null "
			    "sender (bounces): %s", mx, reply);
		else
			snprintf(text, sizeof(text), "%s refuses the sender "
			    "of our call-back: %s", mx, reply);
		sender_verdict_act(conf, v, conf->cbv_on_refused_mail,
		    "5.1.7", "4.1.7", "probe", a, text);
		return;
	case CBV_UNVERIFIABLE:
		/* The protocol forbids the probe: a 450 would be retried for
		 * days, then bounce. decided_by "unverifiable" makes the row
		 * a skip in the report; accepting leaves it unverified. */
		snprintf(text, sizeof(text), "unverifiable: %s", reply);
		if (conf->cbv_on_unverifiable == VERDICT_REJECT)
			sender_verdict_refuse(conf, v, 550, "5.1.7",
			    "unverifiable", a, "%s", text);
		else
			sender_verdict_accept(v, "unverifiable", "tempfail",
			    text);
		return;
	default:
		/* At the connect stage cbv.c's reply names the host and the
		 * error ("connect to mx [192.0.2.1]:25: Connection refused",
		 * "timeout in queue"); NOCONNECT and TEMPFAIL read the same,
		 * so that a cached entry rebuilds the very same reply. */
		if (r->stage == CBV_ST_CONNECT)
			snprintf(text, sizeof(text), "unverified: %s",
			    reply[0] != '\0' ? reply :
			    "no MX host accepted a connection");
		else
			snprintf(text, sizeof(text), "unverified: %s at %s: "
			    "%s", mx, stage, reply[0] ? reply : "no reply");
		break;
	}
	sender_verdict_act(conf, v, conf->cbv_on_tempfail, "5.1.7", "4.1.7",
	    "probe", a, text);
}

