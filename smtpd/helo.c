/* helo.c - the HELO/EHLO conformance policy (DESIGN §3, §5; issue 3): the
 * argument must be an FQDN or an address literal that names the client.
 *
 *	helo_syntax - classify an argument: FQDN, [IPv4], [IPv6:...] or bad
 *	helo_check_start - run the policy; NULL when decided at once (the
 *		verdict is filled, no callback), else a handle whose callback
 *		fires exactly once from the loop
 *	helo_check_cancel - stop a check; no callback after it
 *	helo_decide - the DNS half of the decision over fetched answers
 *	helo_keywords - the words that follow the RFC3821 EHLO keyword
 *
 * RFC 5321 §4.1.4 says a server MUST NOT refuse mail because the EHLO
 * name fails verification; refusing it is the point of this server, which
 * announces so with its RFC3821 keyword (DESIGN §5). helo_policy log and
 * exempt_clients let a site keep the letter of the RFC.
 *
 * Order of the checks: policy off, exempt client, syntax, "you are not
 * me", helo_match none, address literal, then DNS. The DNS checks ask only
 * for the client's own family (A for IPv4 and IPv4-mapped clients, AAAA
 * for IPv6): an IPv4 client cannot be among AAAA records, and a needless
 * query could only add a timeout. A temporary DNS failure when nothing
 * passed gives 450 4.7.1, never a 5xx.
 *
 * helo_match ptr passes when the HELO name is one of the client's PTR
 * names and its addresses include the client (forward-confirmed). Its
 * second half is exactly helo_match a, so "any" (a or ptr) decides as "a"
 * does, except that a PTR name the session has already confirmed (the
 * ptr_name argument) passes at once without DNS.
 *
 * A single trailing dot (absolute form) is accepted, as Postfix does; the
 * 253-octet bound then counts the name without it, and comparisons with
 * our names and PTR names ignore it.
 *
 * A name with U-labels (RFC 5890; clients that speak SMTPUTF8 may send
 * one) is converted to A-labels (idna.c) before any other check, and
 * every check, DNS included, runs on that form; a name that cannot be
 * converted is a syntax error (501 5.5.2 naming the reason), never a
 * pass (DESIGN §8).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "conf.h"
#include "helo.h"
#include "idna.h"
#include "log.h"
#include "resolver.h"
#include "xmalloc.h"

#define HELO_FQDN_MAX	253	/* RFC 1035 §2.3.4, in text without the dot */
#define HELO_LABEL_MAX	63
#define HELO_SHOW_MAX	64	/* HELO text echoed in a reply */

enum helo_outcome {
	HELO_OUT_PASS,
	HELO_OUT_EXEMPT,
	HELO_OUT_OFF,
	HELO_OUT_FAIL_SYNTAX,
	HELO_OUT_FAIL_SELF,
	HELO_OUT_FAIL_MATCH,
	HELO_OUT_TEMPFAIL,
	HELO_OUT_LAST,
};

/* Per outcome: verdict name, reply code, enhanced code (RFC 3463). */
static const struct {
	const char	*name;
	int		 code;
	const char	*enh;
} helo_outcomes[HELO_OUT_LAST] = {
	[HELO_OUT_PASS] = { "pass", 0, "" },
	[HELO_OUT_EXEMPT] = { "exempt", 0, "" },
	[HELO_OUT_OFF] = { "off", 0, "" },
	[HELO_OUT_FAIL_SYNTAX] = { "fail-syntax", 501, "5.5.2" },
	[HELO_OUT_FAIL_SELF] = { "fail-self", 550, "5.7.1" },
	[HELO_OUT_FAIL_MATCH] = { "fail-match", 550, "5.7.1" },
	[HELO_OUT_TEMPFAIL] = { "tempfail", 450, "4.7.1" },
};

/* What one DNS answer says, reduced to what the policy needs. */
struct helo_dns {
	int			have;	/* answered (or failed to start) */
	enum resolver_status	status;
	int			hit;	/* fwd: has the client; ptr: HELO */
};

struct helo_check {
	int			 policy;	/* copied: conf may be freed */
	int			 match;
	char			 helo[SMTP_DOMAIN_MAX + 2];
	struct sockaddr_storage	 client;	/* IPv4-mapped made IPv4 */
	struct resolver_query	*fwdq, *ptrq;
	struct helo_dns		 fwd, ptr;
	helo_done_fn		*fn;
	void			*arg;
};

/* helo_label_char - RFC 1035 §2.3.1 letters, digits, hyphen. */
static int
helo_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* helo_fqdn_ok - two or more labels of 1..63 letters/digits/hyphens, no
 * label starting or ending with a hyphen, at most 253 octets, a last
 * label that is not all digits (so "192.0.2.1" is not a name). */
static int
helo_fqdn_ok(const char *s, size_t len)
{
	size_t i, start = 0, labels = 0;
	int digits = 1;

	if (len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > HELO_FQDN_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (i == start || i - start > HELO_LABEL_MAX ||
			    s[start] == '-' || s[i - 1] == '-')
				return 0;
			labels++;
			if (i < len)
				digits = 1;
			start = i + 1;
			continue;
		}
		if (!helo_label_char((unsigned char)s[i]))
			return 0;
		if (s[i] < '0' || s[i] > '9')
			digits = 0;
	}
	return labels >= 2 && !digits;
}

/* helo_literal - parse "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321
 * §4.1.3; the tag is case-insensitive) into ss when not NULL. */
static enum helo_syntax
helo_literal(const char *s, size_t len, struct sockaddr_storage *ss)
{
	char inner[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage tmp;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;

	if (ss == NULL)
		ss = &tmp;
	memset(ss, 0, sizeof(*ss));
	sin = (struct sockaddr_in *)ss;
	sin6 = (struct sockaddr_in6 *)ss;
	if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 >= sizeof(inner))
		return HELO_SYN_BAD;
	memcpy(inner, s + 1, len - 2);
	inner[len - 2] = '\0';
	if (strncasecmp(inner, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, inner + 5, &sin6->sin6_addr) != 1)
			return HELO_SYN_BAD;
		sin6->sin6_family = AF_INET6;
		return HELO_SYN_LIT6;
	}
	if (inet_pton(AF_INET, inner, &sin->sin_addr) != 1)
		return HELO_SYN_BAD;
	sin->sin_family = AF_INET;
	return HELO_SYN_LIT4;
}

/* helo_syntax - what kind of HELO/EHLO argument this is. */
enum helo_syntax
helo_syntax(const char *arg)
{
	size_t len;

	if (arg == NULL || (len = strlen(arg)) == 0)
		return HELO_SYN_BAD;
	if (arg[0] == '[')
		return helo_literal(arg, len, NULL);
	return helo_fqdn_ok(arg, len) ? HELO_SYN_FQDN : HELO_SYN_BAD;
}

/* helo_name_eq - case-insensitive, a trailing root dot on either side
 * ignored. */
static int
helo_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* helo_is_self - does an FQDN claim our hostname or a local domain? */
static int
helo_is_self(const struct conf *conf, const char *helo)
{
	size_t i;

	if (conf->hostname != NULL && helo_name_eq(helo, conf->hostname))
		return 1;
	for (i = 0; i < conf->ndomains; i++)
		if (helo_name_eq(helo, conf->domains[i]))
			return 1;
	return 0;
}

/* helo_show - the HELO text fit to echo: printable ASCII, others as '?',
 * cut to HELO_SHOW_MAX octets. */
static void
helo_show(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; i < HELO_SHOW_MAX && i + 1 < dstlen && src[i] != '\0'; i++)
		dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? src[i] : '?';
	dst[i] = '\0';
}

/* helo_ip_text - the client address as text, IPv4-mapped as IPv4. */
static void
helo_ip_text(const struct sockaddr *sa, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	const void *ip;

	if (sa == NULL || cidr_sockaddr_unmap(sa, &ss) < 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	ip = ss.ss_family == AF_INET ?
	    (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
	    (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (inet_ntop(ss.ss_family, ip, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
}

/* helo_verdict_set - fill v for outcome out. In helo_policy log a refusal
 * is recorded as "log-<verdict>" with the reply enforce would give, and
 * enforced 0: the session goes on. detail is the reply's reason text. */
static void
helo_verdict_set(struct helo_verdict *v, int policy, enum helo_outcome out,
    const char *helo, const char *detail)
{
	char shown[HELO_SHOW_MAX + 1];
	const char *why = detail;

	memset(v, 0, sizeof(*v));
	v->code = helo_outcomes[out].code;
	if (out == HELO_OUT_FAIL_SYNTAX && detail == NULL)
		why = "not a FQDN or address literal";
	else if (out == HELO_OUT_FAIL_SELF && detail == NULL)
		why = "you are not me";
	else if (out == HELO_OUT_TEMPFAIL)
		why = "cannot verify helo name (DNS timeout)";
	snprintf(v->reason, sizeof(v->reason), "%s", why);
	if (v->code == 0) {
		snprintf(v->verdict, sizeof(v->verdict), "%s",
		    helo_outcomes[out].name);
		return;
	}
	helo_show(shown, sizeof(shown), helo != NULL ? helo : "");
	snprintf(v->reply, sizeof(v->reply),
	    "%d %s <%s>: Helo command rejected: %s", v->code,
	    helo_outcomes[out].enh, shown, why);
	v->enforced = policy == POLICY_ENFORCE;
	snprintf(v->verdict, sizeof(v->verdict), "%s%s",
	    v->enforced ? "" : "log-", helo_outcomes[out].name);
}

/* helo_decide_core - decide from the reduced answers; 0 = need more. */
static int
helo_decide_core(int policy, int match, const char *helo,
    const struct sockaddr *client, const struct helo_dns *fwd,
    const struct helo_dns *ptr, struct helo_verdict *v)
{
	char ip[INET6_ADDRSTRLEN], shown[HELO_SHOW_MAX + 1], why[160];

	helo_ip_text(client, ip, sizeof(ip));
	helo_show(shown, sizeof(shown), helo);
	if (match == HELO_MATCH_PTR) {
		/* Forward-confirmed: both halves, and any temporary failure
		 * without a pass is a 4xx. */
		if ((fwd->have && fwd->status == RESOLVER_TEMPFAIL) ||
		    (ptr->have && ptr->status == RESOLVER_TEMPFAIL)) {
			helo_verdict_set(v, policy, HELO_OUT_TEMPFAIL, helo,
			    NULL);
			return 1;
		}
		if (!fwd->have || !ptr->have)
			return 0;
		if (fwd->hit && ptr->hit) {
			helo_verdict_set(v, policy, HELO_OUT_PASS, helo,
			    "helo name is a verified PTR name");
			return 1;
		}
		snprintf(why, sizeof(why),
		    "helo name %s is not the verified PTR name of %s",
		    shown, ip);
		helo_verdict_set(v, policy, HELO_OUT_FAIL_MATCH, helo, why);
		return 1;
	}
	/* helo_match a and any. */
	if (!fwd->have)
		return 0;
	if (fwd->hit)
		helo_verdict_set(v, policy, HELO_OUT_PASS, helo,
		    "helo name resolves to the client address");
	else if (fwd->status == RESOLVER_TEMPFAIL)
		helo_verdict_set(v, policy, HELO_OUT_TEMPFAIL, helo, NULL);
	else {
		if (fwd->status == RESOLVER_NXDOMAIN)
			snprintf(why, sizeof(why),
			    "helo name %s does not exist", shown);
		else
			snprintf(why, sizeof(why),
			    "helo name %s does not resolve to %s", shown, ip);
		helo_verdict_set(v, policy, HELO_OUT_FAIL_MATCH, helo, why);
	}
	return 1;
}

/* helo_reduce_fwd - an A/AAAA answer: does it include the client? */
static void
helo_reduce_fwd(struct helo_dns *d, const struct resolver_result *res,
    const struct sockaddr *client)
{
	size_t i;

	d->have = 1;
	d->status = res->status;
	d->hit = 0;
	for (i = 0; res->status == RESOLVER_OK && i < res->n && !d->hit; i++)
		d->hit = resolver_addr_equal(
		    (const struct sockaddr *)&res->addr[i], client);
}

/* helo_reduce_ptr - a PTR answer: is the HELO name among its names? */
static void
helo_reduce_ptr(struct helo_dns *d, const struct resolver_result *res,
    const char *helo)
{
	size_t i;

	d->have = 1;
	d->status = res->status;
	d->hit = 0;
	for (i = 0; res->status == RESOLVER_OK && i < res->n && !d->hit; i++)
		d->hit = helo_name_eq(res->name[i], helo);
}

/* helo_decide - the DNS half of the policy as a plain function: fwd is the
 * A (or AAAA) answer for the HELO name, ptr the client's PTR answer (used
 * by helo_match ptr only); NULL means not fetched yet. 1 and v filled when
 * decided, 0 when an answer is still needed. */
int
helo_decide(int policy, int match, const char *helo,
    const struct sockaddr *client, const struct resolver_result *fwd,
    const struct resolver_result *ptr, struct helo_verdict *v)
{
	struct helo_dns f = { 0, RESOLVER_TEMPFAIL, 0 }, p = f;

	if (fwd != NULL)
		helo_reduce_fwd(&f, fwd, client);
	if (ptr != NULL)
		helo_reduce_ptr(&p, ptr, helo);
	return helo_decide_core(policy, match, helo, client, &f, &p, v);
}

/* helo_check_free - cancel what is in flight and free hc. */
static void
helo_check_free(struct helo_check *hc)
{
	resolver_cancel(hc->fwdq);
	resolver_cancel(hc->ptrq);
	free(hc);
}

/* helo_check_step - decide if possible; on the loop, call back. */
static void
helo_check_step(struct helo_check *hc)
{
	struct helo_verdict v;
	helo_done_fn *fn = hc->fn;
	void *arg = hc->arg;

	if (!helo_decide_core(hc->policy, hc->match, hc->helo,
	    (struct sockaddr *)&hc->client, &hc->fwd, &hc->ptr, &v))
		return;
	helo_check_free(hc);
	fn(arg, &v);
}

static void
helo_fwd_cb(const struct resolver_result *res, void *arg)
{
	struct helo_check *hc = arg;

	hc->fwdq = NULL;
	helo_reduce_fwd(&hc->fwd, res, (struct sockaddr *)&hc->client);
	helo_check_step(hc);
}

static void
helo_ptr_cb(const struct resolver_result *res, void *arg)
{
	struct helo_check *hc = arg;

	hc->ptrq = NULL;
	helo_reduce_ptr(&hc->ptr, res, hc->helo);
	helo_check_step(hc);
}

/* helo_check_dns - start the lookups for an FQDN; NULL when decided at
 * once (a lookup could not start), v filled then. */
static struct helo_check *
helo_check_dns(const struct conf *conf, const char *helo,
    const struct sockaddr *client, helo_done_fn *fn, void *arg,
    struct helo_verdict *v)
{
	struct helo_check *hc;
	size_t len = strlen(helo);

	hc = xcalloc(1, sizeof(*hc));
	hc->policy = conf->helo_policy;
	hc->match = conf->helo_match;
	memcpy(hc->helo, helo, len + 1);	/* syntax-checked: <= 254 */
	if (cidr_sockaddr_unmap(client, &hc->client) < 0)
		hc->client.ss_family = AF_UNSPEC;
	hc->fn = fn;
	hc->arg = arg;
	/* A lookup that cannot start counts as a temporary failure. */
	hc->fwdq = hc->client.ss_family == AF_INET6 ?
	    resolver_aaaa(helo, helo_fwd_cb, hc) :
	    resolver_a(helo, helo_fwd_cb, hc);
	if (hc->fwdq == NULL)
		hc->fwd = (struct helo_dns){ 1, RESOLVER_TEMPFAIL, 0 };
	if (hc->match == HELO_MATCH_PTR &&
	    (hc->ptrq = resolver_ptr((struct sockaddr *)&hc->client,
	    helo_ptr_cb, hc)) == NULL)
		hc->ptr = (struct helo_dns){ 1, RESOLVER_TEMPFAIL, 0 };
	if (helo_decide_core(hc->policy, hc->match, hc->helo,
	    (struct sockaddr *)&hc->client, &hc->fwd, &hc->ptr, v)) {
		helo_check_free(hc);
		return NULL;
	}
	return hc;
}

/* helo_to_alabel - a HELO name with U-labels as A-labels into ace (one
 * trailing root dot allowed and dropped); 0, or -1 with the reason. */
static int
helo_to_alabel(const char *helo, char *ace, size_t acelen, char *why,
    size_t whylen)
{
	char name[SMTP_DOMAIN_MAX + 1];
	const char *reason;
	size_t len = strlen(helo);

	if (len > 1 && helo[len - 1] == '.')
		len--;
	if (len >= sizeof(name)) {
		snprintf(why, whylen, "helo name too long");
		return -1;
	}
	memcpy(name, helo, len);
	name[len] = '\0';
	if (idna_to_alabel_why(name, ace, acelen, &reason) < 0) {
		snprintf(why, whylen, "invalid helo name: %s", reason);
		return -1;
	}
	return 0;
}

/* helo_check_start - the policy for HELO argument helo from client on our
 * address local (NULL: unknown). ptr_name is the client's forward-confirmed
 * PTR name if the session knows it (NULL or "": not known). Returns NULL
 * with *v filled when decided now (no callback), else a handle: fn(arg, v)
 * runs once from the loop, v valid during that call only. */
struct helo_check *
helo_check_start(const struct conf *conf, const char *helo,
    const struct sockaddr *client, const struct sockaddr *local,
    const char *ptr_name, helo_done_fn *fn, void *arg,
    struct helo_verdict *v)
{
	struct sockaddr_storage lit;
	enum helo_syntax syn;
	char ip[INET6_ADDRSTRLEN], shown[HELO_SHOW_MAX + 1], why[160];
	char ace[SMTP_DOMAIN_MAX + 1];
	int policy = conf->helo_policy;

	if (helo == NULL)
		helo = "";
	if (policy == POLICY_OFF) {
		helo_verdict_set(v, policy, HELO_OUT_OFF, helo,
		    "helo_policy off");
		return NULL;
	}
	if (client != NULL && cidr_list_match(&conf->exempt_clients, client)) {
		helo_verdict_set(v, policy, HELO_OUT_EXEMPT, helo,
		    "client in exempt_clients");
		return NULL;
	}
	if (!idna_is_ascii(helo)) {
		if (helo_to_alabel(helo, ace, sizeof(ace), why,
		    sizeof(why)) < 0) {
			helo_verdict_set(v, policy, HELO_OUT_FAIL_SYNTAX, helo,
			    why);
			return NULL;
		}
		helo = ace;
	}
	syn = helo_syntax(helo);
	if (syn == HELO_SYN_BAD) {
		helo_verdict_set(v, policy, HELO_OUT_FAIL_SYNTAX, helo, NULL);
		return NULL;
	}
	if (syn != HELO_SYN_FQDN)
		helo_literal(helo, strlen(helo), &lit);
	if (syn == HELO_SYN_FQDN && helo_is_self(conf, helo)) {
		helo_verdict_set(v, policy, HELO_OUT_FAIL_SELF, helo, NULL);
		return NULL;
	}
	/* Our own address as the literal: say what is wrong with it, the
	 * client's address is what a literal must name (RFC 5321 §4.1.4). */
	if (syn != HELO_SYN_FQDN &&
	    resolver_addr_equal((struct sockaddr *)&lit, local)) {
		helo_verdict_set(v, policy, HELO_OUT_FAIL_SELF, helo,
		    resolver_addr_equal((struct sockaddr *)&lit, client) ?
		    "address literal is our own address" :
		    "address literal does not match your IP");
		return NULL;
	}
	if (conf->helo_match == HELO_MATCH_NONE) {
		helo_verdict_set(v, policy, HELO_OUT_PASS, helo,
		    "syntax only (helo_match none)");
		return NULL;
	}
	if (syn != HELO_SYN_FQDN) {
		/* DESIGN §3: a literal must equal the client address. */
		if (resolver_addr_equal((struct sockaddr *)&lit, client)) {
			helo_verdict_set(v, policy, HELO_OUT_PASS, helo,
			    "address literal is the client address");
			return NULL;
		}
		helo_ip_text(client, ip, sizeof(ip));
		helo_show(shown, sizeof(shown), helo);
		snprintf(why, sizeof(why),
		    "helo literal %s is not your address %s", shown, ip);
		helo_verdict_set(v, policy, HELO_OUT_FAIL_MATCH, helo, why);
		return NULL;
	}
	if (conf->helo_match != HELO_MATCH_A && ptr_name != NULL &&
	    *ptr_name != '\0' && helo_name_eq(ptr_name, helo)) {
		helo_verdict_set(v, policy, HELO_OUT_PASS, helo,
		    "helo name is the verified PTR name");
		return NULL;
	}
	if (fn == NULL || client == NULL) {
		helo_verdict_set(v, policy, HELO_OUT_TEMPFAIL, helo, NULL);
		return NULL;
	}
	return helo_check_dns(conf, helo, client, fn, arg, v);
}

/* helo_check_cancel - stop hc (NULL is fine); no callback after it. */
void
helo_check_cancel(struct helo_check *hc)
{
	if (hc != NULL)
		helo_check_free(hc);
}

/* helo_keywords - the words after the RFC3821 EHLO keyword: the checks in
 * force. Nothing for a policy that is off or only logs. Returns the length
 * of the words (snprintf style: >= len means buf was too small). */
size_t
helo_keywords(const struct conf *conf, char *buf, size_t len)
{
	const char *w = "";

	if (conf->helo_policy == POLICY_ENFORCE)
		w = conf->helo_match != HELO_MATCH_NONE ?
		    "HELO-FQDN HELO-IP" : "HELO-FQDN";
	if (len > 0)
		snprintf(buf, len, "%s", w);
	return strlen(w);
}
