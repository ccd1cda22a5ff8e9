/* authres.c - the Authentication-Results header field (RFC 8601): builds
 * ours for each delivered message, and removes incoming ones that claim
 * our authserv-id (RFC 8601 §5) as the message streams to disk.
 *
 *	authres_begin - start a field with an authserv-id
 *	authres_method - append "; method=result" on a line of its own
 *	authres_comment - append a comment made of untrusted text, sanitised
 *	authres_prop - append "ptype.property=value", value quoted if need be
 *	authres_prop_addr - the same for an address (local-part@domain)
 *	authres_end - the finished field (LF-terminated), NULL on overflow
 *	authres_header - our field for one transaction: iprev and spf
 *	authres_filter_init - a filter in front of a data_sink_fn
 *	authres_filter_write - a data_sink_fn: pass the message, minus forgeries
 *	authres_filter_finish - at the end of the message: decide what is held
 *
 * Every value comes from the client or from DNS, so every value is either
 * an RFC 2045 token, a dot-atom address, or written as a quoted-string
 * with '"' and '\' escaped and anything not printable ASCII replaced by
 * '?'; comments lose '(', ')' and '\'. Nothing can end the field, start
 * another, or add a method or property. The DKIM and DMARC results of the
 * next release are more authres_method/_prop calls in authres_header().
 *
 * The filter sees the message as data.c emits it (LF line ends). In the
 * header section (up to the first empty line) the start of each field is
 * held (at most AUTHRES_HOLD_MAX octets) and parsed byte by byte until it
 * is known whether it is "Authentication-Results:" [CFWS] <our id>: if it
 * is, the field and its continuation lines are dropped, otherwise what was
 * held is passed and the rest of the field streams through. A field named
 * Authentication-Results whose start does not fit the hold is dropped: a
 * CFWS run that long is an attempt to hide an authserv-id, and another
 * host's results are only advisory anyway. The body is never looked at.
 */
#include <stdio.h>
#include <string.h>

#include "strictmx.h"
#include "authres.h"
#include "fcrdns.h"

/* ---- the builder ------------------------------------------------------- */

/* A sanitised value, quoted: every input octet may double. */
#define AUTHRES_VALUE_MAX	(2 * SMTP_PATH_MAX + 8)

/* RFC 2045 §5.1 token: printable ASCII but space and tspecials. */
static int
authres_is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 5322 §3.2.3 atext. */
static int
authres_is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
authres_is_token(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!authres_is_token_char((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
authres_is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == '.' ? s[i + 1] == '.' :
		    !authres_is_atext((unsigned char)s[i]))
			return 0;
	return 1;
}

/* authres_quote - s (n octets) as an RFC 5322 quoted-string into out
 * (AUTHRES_VALUE_MAX octets): '"' and '\' escaped, control characters,
 * DEL and 8-bit octets replaced by '?' (CR and LF above all). */
static void
authres_quote(char *out, const char *s, size_t n)
{
	size_t i, o = 0;

	out[o++] = '"';
	for (i = 0; i < n && i < SMTP_PATH_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			out[o++] = '\\';
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* authres_value - a pvalue / authserv-id (RFC 8601 §2.2: RFC 2045 value):
 * a token as it is, anything else quoted. */
static void
authres_value(char *out, const char *s)
{
	size_t n = strnlen(s, SMTP_PATH_MAX + 1);

	if (n <= SMTP_PATH_MAX && authres_is_token(s, n)) {
		memcpy(out, s, n);
		out[n] = '\0';
	} else
		authres_quote(out, s, n);
}

/* authres_put - append n octets, keeping room for the final LF and NUL. */
static void
authres_put(struct authres *ar, const char *s, size_t n)
{
	if (ar->overflow || sizeof(ar->buf) - ar->len < n + 2) {
		ar->overflow = 1;
		return;
	}
	memcpy(ar->buf + ar->len, s, n);
	ar->len += n;
	ar->col += n;
}

/* authres_word - append one word after a space, or after a fold (LF TAB,
 * maildir files use LF) when it would take the line past AUTHRES_LINE.
 * Words are never split, so a fold is only ever CFWS (RFC 8601 §2.2). */
static void
authres_word(struct authres *ar, const char *w, size_t n)
{
	if (ar->col > 1 && ar->col + 1 + n > AUTHRES_LINE) {
		authres_put(ar, "\n\t", 2);
		ar->col = 1;
	} else
		authres_put(ar, " ", 1);
	authres_put(ar, w, n);
}

/* authres_begin - "Authentication-Results: <authserv-id>". */
void
authres_begin(struct authres *ar, const char *authserv_id)
{
	char v[AUTHRES_VALUE_MAX];

	ar->len = ar->col = 0;
	ar->overflow = 0;
	ar->nmethods = 0;
	authres_put(ar, "Authentication-Results:", 23);
	authres_value(v, authserv_id);
	authres_word(ar, v, strlen(v));
}

/* authres_method - ";" then, on a line of its own, "method=result"; the
 * names are ours (constants), never the client's. */
void
authres_method(struct authres *ar, const char *method, const char *result)
{
	authres_put(ar, ";\n\t", 3);
	ar->col = 1;
	authres_put(ar, method, strlen(method));
	authres_put(ar, "=", 1);
	authres_put(ar, result, strlen(result));
	ar->nmethods++;
}

/* authres_comment - "(text)": untrusted text, printable ASCII only, no
 * parentheses or backslash (which could close or escape the comment). */
void
authres_comment(struct authres *ar, const char *text)
{
	char w[SMTP_DOMAIN_MAX + 3];
	size_t i, o = 0;

	w[o++] = '(';
	for (i = 0; text[i] != '\0' && i < SMTP_DOMAIN_MAX; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '\\')
			c = '?';
		w[o++] = (char)c;
	}
	w[o++] = ')';
	authres_word(ar, w, o);
}

static void
authres_prop_word(struct authres *ar, const char *prop, const char *v)
{
	char w[AUTHRES_VALUE_MAX + 64];
	size_t n;

	n = strlcpy_compat(w, prop, sizeof(w) - AUTHRES_VALUE_MAX - 1);
	if (n >= sizeof(w) - AUTHRES_VALUE_MAX - 1) {
		ar->overflow = 1;
		return;
	}
	w[n++] = '=';
	strlcpy_compat(w + n, v, sizeof(w) - n);
	authres_word(ar, w, strlen(w));
}

/* authres_prop - "ptype.property=value" (RFC 8601 §2.2 propspec). */
void
authres_prop(struct authres *ar, const char *prop, const char *value)
{
	char v[AUTHRES_VALUE_MAX];

	authres_value(v, value);
	authres_prop_word(ar, prop, v);
}

/* authres_prop_addr - the same for an address: "local-part@domain" as it
 * is when the local part is a dot-atom and the domain a token (RFC 8601
 * §2.2 pvalue), otherwise the whole address as one quoted-string. */
void
authres_prop_addr(struct authres *ar, const char *prop, const char *addr)
{
	char v[AUTHRES_VALUE_MAX];
	size_t n = strnlen(addr, SMTP_PATH_MAX + 1), i;
	const char *at = NULL;

	for (i = 0; i < n && n <= SMTP_PATH_MAX; i++)
		if (addr[i] == '@')
			at = addr + i;	/* the last one: quoted locals may hold @ */

	if (at != NULL && authres_is_dot_atom(addr, (size_t)(at - addr)) &&
	    authres_is_token(at + 1, n - (size_t)(at - addr) - 1)) {
		memcpy(v, addr, n);
		v[n] = '\0';
	} else
		authres_quote(v, addr, n);
	authres_prop_word(ar, prop, v);
}

/* authres_end - the field with its LF; NULL when it did not fit. A field
 * without methods says "none" (RFC 8601 §2.2 no-result). */
const char *
authres_end(struct authres *ar, size_t *len)
{
	if (ar->nmethods == 0)
		authres_put(ar, "; none", 6);
	if (ar->overflow || sizeof(ar->buf) - ar->len < 2)
		return NULL;
	ar->buf[ar->len++] = '\n';
	ar->buf[ar->len] = '\0';
	*len = ar->len;
	return ar->buf;
}

/* authres_header - our field for one transaction into buf; its length,
 * or 0 when it does not fit. Methods:
 *   iprev (RFC 8601 §2.7.3, RFC 8601 §3 "iprev"): pass when the client's
 *     PTR name resolves back to its address (the name in a comment), fail
 *     when there is no such name, temperror when DNS failed or had not
 *     answered by now; policy.iprev is the client's address.
 *   spf (RFC 8601 §2.7.2, RFC 7208 §9.1): the result, and smtp.mailfrom
 *     or smtp.helo for the identity checked; "none" with the reason in a
 *     comment when SPF was not evaluated. */
/* authres_dkim - one dkim result per signature (RFC 8601 §2.7.1), with
 * header.d, header.s and header.b (RFC 6008: the first 8 characters of
 * b=, so that a reader tells two signatures of one domain apart);
 * "dkim=none" for a message without one. */
static void
authres_dkim(struct authres *ar, const struct authres_input *in)
{
	size_t i;

	if (!in->dkim_verify)
		return;
	if (in->dkim == NULL || in->dkim->nsig == 0) {
		authres_method(ar, "dkim", "none");
		if (in->dkim == NULL)
			authres_comment(ar, "not checked");
		return;
	}
	for (i = 0; i < in->dkim->nsig; i++) {
		const struct dkim_sig *g = &in->dkim->sig[i];

		authres_method(ar, "dkim", dkim_result_text(g->result));
		if (g->result != DKIM_PASS && g->reason[0] != '\0')
			authres_comment(ar, g->reason);
		if (g->domain[0] != '\0')
			authres_prop(ar, "header.d", g->domain);
		if (g->selector[0] != '\0')
			authres_prop(ar, "header.s", g->selector);
		if (g->b8[0] != '\0')
			authres_prop(ar, "header.b", g->b8);
	}
}

/* authres_dmarc - the DMARC result (RFC 7489 §11.2) with header.from and
 * the policy that applied as policy.dmarc; the record's p= and what was
 * done (pct=) go into a comment, as Gmail and OpenDMARC write them. */
static void
authres_dmarc(struct authres *ar, const struct authres_input *in)
{
	const struct dmarc_outcome *d = in->dmarc;
	char why[64];

	if (in->dmarc_policy == POLICY_OFF)
		return;
	if (d == NULL) {
		authres_method(ar, "dmarc", "none");
		authres_comment(ar, "not checked");
		return;
	}
	authres_method(ar, "dmarc", dmarc_result_text(d->result));
	if (d->policy != DMARC_P_UNSET) {
		snprintf(why, sizeof(why), "p=%s dis=%s",
		    dmarc_policy_text(d->policy),
		    dmarc_policy_text(d->disposition == DMARC_P_UNSET ?
		    DMARC_P_NONE : d->disposition));
		authres_comment(ar, why);
	} else if (d->problem[0] != '\0')
		authres_comment(ar, d->problem);
	if (d->from_domain[0] != '\0')
		authres_prop(ar, "header.from", d->from_domain);
	if (d->policy != DMARC_P_UNSET)
		authres_prop(ar, "policy.dmarc", dmarc_policy_text(d->policy));
}

size_t
authres_header(char *buf, size_t len, const struct authres_input *in)
{
	struct authres ar;
	const char *out, *result;
	size_t n;

	authres_begin(&ar, in->authserv_id);
	switch (in->ptr_status) {
	case FCRDNS_OK:
		authres_method(&ar, "iprev", "pass");
		authres_comment(&ar, in->ptr);
		break;
	case FCRDNS_NONE:
		authres_method(&ar, "iprev", "fail");
		break;
	default:
		authres_method(&ar, "iprev", "temperror");
		break;
	}
	authres_prop(&ar, "policy.iprev", in->client_ip);

	if (in->spf_done && in->spf != NULL) {
		result = spf_result_text(in->spf->result);
		authres_method(&ar, "spf", result);
		if (in->spf->identity == SPF_ID_HELO)
			authres_prop(&ar, "smtp.helo", in->helo);
		else
			authres_prop_addr(&ar, "smtp.mailfrom", in->mailfrom);
	} else {
		authres_method(&ar, "spf", "none");
		authres_comment(&ar, in->spf_policy == POLICY_OFF ?
		    "not checked: spf_policy off" : "not checked");
		if (in->mailfrom[0] != '\0')
			authres_prop_addr(&ar, "smtp.mailfrom", in->mailfrom);
		else
			authres_prop(&ar, "smtp.helo", in->helo);
	}
	authres_dkim(&ar, in);
	authres_dmarc(&ar, in);
	if ((out = authres_end(&ar, &n)) == NULL || n >= len)
		return 0;
	memcpy(buf, out, n + 1);
	return n;
}

/* ---- the filter -------------------------------------------------------- */

enum authres_fstate {
	F_BOL,		/* header section, at the start of a line */
	F_PASS,		/* inside a field that passes */
	F_DROP,		/* inside a field that is removed */
	F_HOLD,		/* holding the start of a field */
	F_BODY,		/* after the empty line: everything passes */
};

/* Where the parse of a held field stands. */
enum authres_sub {
	S_NAME,		/* matching "authentication-results" */
	S_NAMEWS,	/* WSP between the name and ':' (RFC 5322 §4.5.8) */
	S_CFWS,		/* CFWS before the authserv-id */
	S_COMMENT,	/* inside a comment (depth counts nesting) */
	S_COMMENT_QP,	/* after '\' in a comment */
	S_ID,		/* the authserv-id as a token */
	S_QID,		/* the authserv-id as a quoted-string */
	S_QID_QP,	/* after '\' in it */
};

enum authres_verdict { V_MORE, V_PASS, V_DROP };

static const char authres_name[] = "authentication-results";
#define AUTHRES_NAME_LEN	(sizeof(authres_name) - 1)

static unsigned char
authres_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 'a' - 'A') : c;
}

/* authres_filter_init - pass the message on to sink(arg, ...), without
 * the Authentication-Results fields that claim authserv_id. */
void
authres_filter_init(struct authres_filter *f, const char *authserv_id,
    data_sink_fn *sink, void *arg)
{
	memset(f, 0, sizeof(*f));
	f->state = F_BOL;
	f->idlen = strlcpy_compat(f->id, authserv_id, sizeof(f->id));
	if (f->idlen >= sizeof(f->id))
		f->idlen = sizeof(f->id) - 1;
	f->sink = sink;
	f->sink_arg = arg;
}

/* authres_id_char - one more octet of the candidate authserv-id: still
 * ours so far (V_MORE), or not (V_PASS). Case-insensitive (RFC 8601 §5
 * compares it as a domain name). */
static enum authres_verdict
authres_id_char(struct authres_filter *f, unsigned char c)
{
	if (f->match < f->idlen &&
	    authres_lower(c) == authres_lower((unsigned char)f->id[f->match])) {
		f->match++;
		return V_MORE;
	}
	return V_PASS;
}

/* authres_sub - one octet (never LF: see authres_hold) of the held field. */
static enum authres_verdict
authres_sub(struct authres_filter *f, unsigned char c)
{
	int wsp = c == ' ' || c == '\t';

	switch (f->sub) {
	case S_NAME:
		if (f->match < AUTHRES_NAME_LEN) {
			if (authres_lower(c) != (unsigned char)
			    authres_name[f->match])
				return V_PASS;
			f->match++;
			return V_MORE;
		}
		if (c == ':')
			f->sub = S_CFWS;
		else if (wsp)
			f->sub = S_NAMEWS;
		else
			return V_PASS;		/* a longer field name */
		return V_MORE;
	case S_NAMEWS:
		if (c == ':')
			f->sub = S_CFWS;
		else if (!wsp)
			return V_PASS;
		return V_MORE;
	case S_CFWS:
		if (wsp)
			return V_MORE;
		if (c == '(') {
			f->sub = S_COMMENT;
			f->depth = 1;
			return V_MORE;
		}
		f->match = 0;
		if (c == '"') {
			f->sub = S_QID;
			return V_MORE;
		}
		if (!authres_is_token_char(c))
			return V_PASS;		/* no authserv-id */
		f->sub = S_ID;
		return authres_id_char(f, c);
	case S_COMMENT:
		if (c == '\\')
			f->sub = S_COMMENT_QP;
		else if (c == '(')
			f->depth++;
		else if (c == ')' && --f->depth == 0)
			f->sub = S_CFWS;
		return V_MORE;
	case S_COMMENT_QP:
		f->sub = S_COMMENT;
		return V_MORE;
	case S_ID:
		if (authres_is_token_char(c))
			return authres_id_char(f, c);
		/* The id ended; an authres-version, CFWS or ';' follows. */
		return f->match == f->idlen ? V_DROP : V_PASS;
	case S_QID:
		if (c == '"')
			return f->match == f->idlen ? V_DROP : V_PASS;
		if (c == '\\') {
			f->sub = S_QID_QP;
			return V_MORE;
		}
		return authres_id_char(f, c);
	case S_QID_QP:
		f->sub = S_QID;
		return authres_id_char(f, c);
	}
	return V_PASS;
}

/* authres_end_of_field - the held field ended (a line that is not a
 * continuation, or the end of the message): only a complete token id
 * can still be ours. */
static enum authres_verdict
authres_end_of_field(const struct authres_filter *f)
{
	return f->sub == S_ID && f->match == f->idlen ? V_DROP : V_PASS;
}

static int
authres_emit(struct authres_filter *f, const char *p, size_t n)
{
	return n == 0 ? 0 : f->sink(f->sink_arg, p, n);
}

/* authres_decide - act on a verdict: pass what is held, or forget it. */
static int
authres_decide(struct authres_filter *f, enum authres_verdict v)
{
	size_t n = f->holdlen;

	f->holdlen = 0;
	f->drop = v == V_DROP;
	f->state = f->lf ? F_BOL : f->drop ? F_DROP : F_PASS;
	f->lf = 0;
	return v == V_DROP ? 0 : authres_emit(f, f->hold, n);
}

/* authres_hold - one octet of a held field. */
static int
authres_hold(struct authres_filter *f, unsigned char c)
{
	enum authres_verdict v;

	if (f->holdlen == sizeof(f->hold)) {
		/* Past the bound and still possibly ours: remove it. */
		authres_decide(f, V_DROP);
		f->state = F_DROP;
		if (c == '\n')
			f->state = F_BOL;
		return 0;
	}
	f->hold[f->holdlen++] = (char)c;
	if (c == '\n') {
		/* A field name cannot be folded; elsewhere the next octet
		 * says whether the field goes on (RFC 5322 §2.2.3). */
		if (f->sub == S_NAME || f->sub == S_NAMEWS) {
			f->lf = 1;
			return authres_decide(f, V_PASS);
		}
		f->lf = 1;
		return 0;
	}
	v = authres_sub(f, c);
	return v == V_MORE ? 0 : authres_decide(f, v);
}

/* authres_step - one octet of the message: 1 when it passes through as it
 * is (the caller batches those), 0 when it is held or dropped, -1 when
 * passing what was held failed. */
static int
authres_step(struct authres_filter *f, unsigned char c)
{
	switch (f->state) {
	case F_HOLD:
		if (f->lf) {
			if (c == ' ' || c == '\t') {
				enum authres_verdict v;

				f->lf = 0;
				if (f->holdlen == sizeof(f->hold))
					return authres_hold(f, c);
				f->hold[f->holdlen++] = (char)c;
				v = authres_sub(f, c);
				if (v == V_MORE)
					return 0;
				return authres_decide(f, v) < 0 ? -1 : 0;
			}
			if (authres_decide(f, authres_end_of_field(f)) < 0)
				return -1;
			return authres_step(f, c);	/* now at F_BOL */
		}
		return authres_hold(f, c) < 0 ? -1 : 0;
	case F_BOL:
		if (c == '\n') {
			f->state = F_BODY;	/* the empty line passes */
			return 1;
		}
		if (c == ' ' || c == '\t') {
			f->state = f->drop ? F_DROP : F_PASS;
			return !f->drop;
		}
		f->drop = 0;
		f->state = F_HOLD;
		f->sub = S_NAME;
		f->match = 0;
		f->depth = 0;
		f->holdlen = 0;
		return authres_hold(f, c) < 0 ? -1 : 0;
	case F_PASS:
	case F_DROP:
		if (c == '\n')
			f->state = F_BOL;
		return !f->drop;
	default:
		return 1;
	}
}

/* authres_filter_write - a data_sink_fn: runs of octets that pass go to
 * the next sink in one call each, the body in one call per chunk. */
int
authres_filter_write(void *arg, const char *buf, size_t len)
{
	struct authres_filter *f = arg;
	const char *run = NULL;
	size_t i;
	int r;

	for (i = 0; i < len; i++) {
		if (f->state == F_BODY) {
			if (run == NULL)
				run = buf + i;
			i = len;
			break;
		}
		/* A field that starts here may be passed at once: what
		 * came before it goes first. */
		if (run != NULL && f->state == F_BOL) {
			if (authres_emit(f, run, (size_t)(buf + i - run)) < 0)
				return -1;
			run = NULL;
		}
		r = authres_step(f, (unsigned char)buf[i]);
		if (r < 0)
			return -1;
		if (r == 1) {
			if (run == NULL)
				run = buf + i;
			continue;
		}
		if (run != NULL) {
			if (authres_emit(f, run, (size_t)(buf + i - run)) < 0)
				return -1;
			run = NULL;
		}
	}
	return run != NULL ? authres_emit(f, run, (size_t)(buf + len - run)) :
	    0;
}

/* authres_filter_finish - the message ended: a field still held (a header
 * section without a body) is decided now. 0, or -1 from the sink. */
int
authres_filter_finish(struct authres_filter *f)
{
	if (f->state != F_HOLD)
		return 0;
	return authres_decide(f, authres_end_of_field(f));
}
