/* spf_policy.c - what strictmx does with an SPF result (DESIGN §8): which
 * transactions are evaluated, and the RFC 7372 reply each result earns.
 *
 *	spf_policy_wanted - 1 when the transaction's sender is evaluated
 *	spf_policy_decide - the verdict for an outcome under spf_policy and
 *		spf_on_fail, spf_on_temperror, spf_on_permerror
 *	spf_policy_keywords - "SPF" after the RFC3821 EHLO keyword, when
 *		the results are enforced
 *
 * Plain functions over an already computed outcome, so that the unit tests
 * call them without a network; spf.c evaluates, command.c parks and asks.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "cidr.h"
#include "conf.h"
#include "spf.h"
#include "spf_policy.h"

/*
 * spf_policy_wanted - whether SPF is evaluated for this sender and client:
 * not with spf_policy off, not for exempt_clients (they skip every sender
 * policy), and not for our own hosts in local_sender_networks sending with
 * one of our domains (they are the domain; its record may not list them).
 */
int
spf_policy_wanted(const struct conf *conf, const struct mailaddr *sender,
    const struct sockaddr *client)
{
	if (conf->spf_policy == POLICY_OFF)
		return 0;
	if (cidr_list_match(&conf->exempt_clients, client))
		return 0;
	if (!sender->is_null && conf_is_local_domain(conf, sender->domain) &&
	    cidr_list_match(&conf->local_sender_networks, client))
		return 0;
	return 1;
}

/*
 * spf_policy_decide - the reply an outcome earns (RFC 7372 codes, RFC 7208
 * §8): fail under spf_on_fail reject gets 550 5.7.23 with the domain's own
 * explanation when it published one (§6.2), temperror under tempfail gets
 * 451 4.7.24, permerror under reject 550 5.7.24. softfail, neutral, none
 * and pass never refuse (§8.4-8.5: softfail is "accept, look closer").
 * client is the client's address as text, for the reply.
 */
void
spf_policy_decide(const struct conf *conf, const struct spf_outcome *o,
    const char *client, struct spf_verdict *v)
{
	char dom[SMTP_DOMAIN_MAX + 1], text[SPF_EXPLANATION_MAX + 1];
	char problem[sizeof(o->problem)], ip[64];

	memset(v, 0, sizeof(*v));
	ascii_copy(dom, sizeof(dom), o->domain);
	ascii_copy(ip, sizeof(ip), client);
	ascii_copy(problem, sizeof(problem), o->problem[0] != '\0' ?
	    o->problem : "DNS failure");
	switch (o->result) {
	case SPF_FAIL:
		if (conf->spf_on_fail != VERDICT_REJECT)
			break;
		v->code = 550;
		if (o->explanation[0] != '\0')
			snprintf(v->reply, sizeof(v->reply), "550 5.7.23 %s",
			    ascii_copy(text, sizeof(text),
			    o->explanation));
		else
			snprintf(v->reply, sizeof(v->reply), "550 5.7.23 SPF "
			    "fail: %s does not allow %s to send its mail (%s "
			    "identity)", dom, ip,
			    spf_identity_text(o->identity));
		break;
	case SPF_TEMPERROR:
		if (conf->spf_on_temperror != VERDICT_TEMPFAIL)
			break;
		v->code = 451;
		snprintf(v->reply, sizeof(v->reply), "451 4.7.24 SPF "
		    "temporary error for %s: %s", dom, problem);
		break;
	case SPF_PERMERROR:
		if (conf->spf_on_permerror != VERDICT_REJECT)
			break;
		v->code = 550;
		snprintf(v->reply, sizeof(v->reply), "550 5.7.24 SPF "
		    "permanent error for %s: %s", dom, problem);
		break;
	default:
		break;
	}
	v->enforced = v->code != 0 && conf->spf_policy == POLICY_ENFORCE;
}

/* spf_policy_keywords - "SPF" when results are enforced; the length. */
size_t
spf_policy_keywords(const struct conf *conf, char *buf, size_t len)
{
	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (conf->spf_policy != POLICY_ENFORCE || len < 4)
		return 0;
	memcpy(buf, "SPF", 4);
	return 3;
}
