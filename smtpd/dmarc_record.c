/* dmarc_record.c - the DMARC record parser (RFC 7489 §6.3, §6.4): the
 * DKIM tag-list syntax (RFC 6376 §3.2) with DMARC's tags and values.
 *
 *	dmarc_record_is_dmarc - 1 when a TXT record starts with v=DMARC1
 *	dmarc_record_parse - the record into struct dmarc_record, or -1
 *
 * What we accept and refuse, and why:
 *  - v=DMARC1 must be the first tag (§6.3, §6.6.3 step 3), its value
 *    case-sensitive (§6.4 writes it as %x44 %x4d...).
 *  - p= may come anywhere after v= (§6.4 puts it second; OpenDMARC and
 *    the large receivers take it anywhere, and refusing a record only
 *    weakens the domain owner's policy).
 *  - Tag names and keyword values are case-insensitive (ABNF strings).
 *  - A known tag given twice, a tag-spec without "=", a tag name outside
 *    ALPHA *(ALPHA / DIGIT / "_"), an octet outside printable ASCII and
 *    WSP, an invalid adkim=, aspf= or pct= make the record unusable
 *    (RFC 6376 §3.2: a duplicate tag invalidates the whole list).
 *  - p= missing or invalid, or sp= invalid: §6.6.3 says to act as if the
 *    record were "v=DMARC1; p=none" when rua= holds at least one
 *    syntactically valid URI; otherwise the record is not usable.
 *  - rua, ruf, fo, rf, ri: we send no reports; their values are not
 *    checked beyond the tag-value syntax (rua= only for the rule above).
 *  - Unknown tags are ignored (§6.3), empty tag-specs (";;") too.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dmarc_record.h"

/* The tags we look at; a bit each, to find duplicates. */
enum dmarc_tag {
	DMARC_T_V, DMARC_T_P, DMARC_T_SP, DMARC_T_ADKIM, DMARC_T_ASPF,
	DMARC_T_PCT, DMARC_T_RUA, DMARC_T_RUF, DMARC_T_FO, DMARC_T_RF,
	DMARC_T_RI, DMARC_T_LAST
};

static const char *const dmarc_tag_names[DMARC_T_LAST] = {
	[DMARC_T_V] = "v", [DMARC_T_P] = "p", [DMARC_T_SP] = "sp",
	[DMARC_T_ADKIM] = "adkim", [DMARC_T_ASPF] = "aspf",
	[DMARC_T_PCT] = "pct", [DMARC_T_RUA] = "rua", [DMARC_T_RUF] = "ruf",
	[DMARC_T_FO] = "fo", [DMARC_T_RF] = "rf", [DMARC_T_RI] = "ri",
};

static int
dmarc_wsp(char c)
{
	/* WSP, and FWS's line ends: TXT data has none in practice */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
dmarc_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
dmarc_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* dmarc_eq - the span [s, s + n) equals word, case-insensitively. */
static int
dmarc_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* dmarc_policy_word - p=/sp= value; DMARC_P_UNSET when invalid. */
static enum dmarc_policy
dmarc_policy_word(const char *s, size_t n)
{
	if (dmarc_eq(s, n, "none"))
		return DMARC_P_NONE;
	if (dmarc_eq(s, n, "quarantine"))
		return DMARC_P_QUARANTINE;
	if (dmarc_eq(s, n, "reject"))
		return DMARC_P_REJECT;
	return DMARC_P_UNSET;
}

/* dmarc_uri_ok - one element of rua= (§6.4 dmarc-uri: URI ["!" size]):
 * a scheme (RFC 3986 §3.1), a colon, something after it. */
static int
dmarc_uri_ok(const char *s, size_t n)
{
	size_t i = 0;

	while (n > 0 && dmarc_wsp(s[0])) {
		s++;
		n--;
	}
	while (n > 0 && dmarc_wsp(s[n - 1]))
		n--;
	if (n == 0 || !dmarc_alpha(s[0]))
		return 0;
	for (i = 1; i < n && (dmarc_alpha(s[i]) || dmarc_digit(s[i]) ||
	    s[i] == '+' || s[i] == '-' || s[i] == '.'); i++)
		;
	return i < n && s[i] == ':' && i + 1 < n && s[i + 1] != '!';
}

/* dmarc_rua_ok - rua= holds at least one syntactically valid URI. */
static int
dmarc_rua_ok(const char *s, size_t n)
{
	size_t start = 0, i;

	for (i = 0; i <= n; i++)
		if (i == n || s[i] == ',') {
			if (dmarc_uri_ok(s + start, i - start))
				return 1;
			start = i + 1;
		}
	return 0;
}

/* dmarc_tag_lookup - the known tag named [s, s + n), or DMARC_T_LAST. */
static enum dmarc_tag
dmarc_tag_lookup(const char *s, size_t n)
{
	int t;

	for (t = 0; t < DMARC_T_LAST; t++)
		if (dmarc_eq(s, n, dmarc_tag_names[t]))
			return (enum dmarc_tag)t;
	return DMARC_T_LAST;
}

static int
dmarc_fail(char *why, size_t size, const char *what, const char *tag)
{
	if (size > 0)
		snprintf(why, size, "%s%s%s", what, tag != NULL ? " " : "",
		    tag != NULL ? tag : "");
	return -1;
}

/* dmarc_record_is_dmarc - see dmarc_record.h. */
int
dmarc_record_is_dmarc(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && dmarc_wsp(s[i]))
		i++;
	if (i >= n || (s[i] != 'v' && s[i] != 'V'))
		return 0;
	for (i++; i < n && dmarc_wsp(s[i]); i++)
		;
	if (i >= n || s[i] != '=')
		return 0;
	for (i++; i < n && dmarc_wsp(s[i]); i++)
		;
	if (n - i < 6 || memcmp(s + i, "DMARC1", 6) != 0)
		return 0;
	for (i += 6; i < n && dmarc_wsp(s[i]); i++)
		;
	return i == n || s[i] == ';';
}

/* dmarc_record_parse - see dmarc_record.h. */
int
dmarc_record_parse(const char *s, size_t n, struct dmarc_record *rec,
    char *why, size_t whysize)
{
	size_t i = 0, ns, nl, vs, vl;
	unsigned seen = 0, ntags = 0, pct;
	int p_bad = 0, sp_bad = 0, rua_ok = 0;
	enum dmarc_tag t;
	enum dmarc_policy pol;

	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	if (whysize > 0)
		why[0] = '\0';
	/* §6.6.3 step 3: nothing, not even an empty tag-spec, before v= */
	if (!dmarc_record_is_dmarc(s, n))
		return dmarc_fail(why, whysize, "does not start with v=DMARC1",
		    NULL);
	while (i < n) {
		/* one tag-spec: [WSP] name [WSP] "=" [WSP] value [WSP] */
		while (i < n && dmarc_wsp(s[i]))
			i++;
		if (i < n && s[i] == ';') {
			i++;
			continue;	/* an empty tag-spec */
		}
		if (i >= n)
			break;
		ns = i;
		if (!dmarc_alpha(s[i]))
			return dmarc_fail(why, whysize, "bad tag name", NULL);
		while (i < n && (dmarc_alpha(s[i]) || dmarc_digit(s[i]) ||
		    s[i] == '_'))
			i++;
		nl = i - ns;
		while (i < n && dmarc_wsp(s[i]))
			i++;
		if (i >= n || s[i] != '=')
			return dmarc_fail(why, whysize, "tag without '='",
			    NULL);
		for (i++; i < n && dmarc_wsp(s[i]); i++)
			;
		vs = i;
		for (; i < n && s[i] != ';'; i++)
			if (!dmarc_wsp(s[i]) && ((unsigned char)s[i] < 0x21 ||
			    (unsigned char)s[i] > 0x7e))
				return dmarc_fail(why, whysize,
				    "bad octet in a tag value", NULL);
		vl = i - vs;
		while (vl > 0 && dmarc_wsp(s[vs + vl - 1]))
			vl--;
		if (i < n)
			i++;	/* the ';' */
		t = dmarc_tag_lookup(s + ns, nl);
		/* §6.3: v= first, and it says DMARC1 */
		if (ntags++ == 0 && (t != DMARC_T_V || vl != 6 ||
		    memcmp(s + vs, "DMARC1", 6) != 0))
			return dmarc_fail(why, whysize,
			    "does not start with v=DMARC1", NULL);
		if (t == DMARC_T_LAST)
			continue;	/* §6.3: unknown tags are ignored */
		if (seen & (1u << t))
			return dmarc_fail(why, whysize, "duplicate tag",
			    dmarc_tag_names[t]);
		seen |= 1u << t;
		switch (t) {
		case DMARC_T_V:
			break;		/* checked above; twice: the seen bit */
		case DMARC_T_P:
			if ((pol = dmarc_policy_word(s + vs, vl)) ==
			    DMARC_P_UNSET)
				p_bad = 1;
			rec->p = pol;
			break;
		case DMARC_T_SP:
			if ((pol = dmarc_policy_word(s + vs, vl)) ==
			    DMARC_P_UNSET)
				sp_bad = 1;
			rec->sp = pol;
			break;
		case DMARC_T_ADKIM:
		case DMARC_T_ASPF:
			if (vl != 1 || (s[vs] != 'r' && s[vs] != 'R' &&
			    s[vs] != 's' && s[vs] != 'S'))
				return dmarc_fail(why, whysize,
				    "invalid value of", dmarc_tag_names[t]);
			if (t == DMARC_T_ADKIM)
				rec->adkim_strict = s[vs] == 's' ||
				    s[vs] == 'S';
			else
				rec->aspf_strict = s[vs] == 's' ||
				    s[vs] == 'S';
			break;
		case DMARC_T_PCT:
			/* §6.4: 1*3DIGIT, 0 to 100 */
			if (vl < 1 || vl > 3)
				return dmarc_fail(why, whysize,
				    "invalid value of", "pct");
			for (pct = 0, ns = vs; ns < vs + vl; ns++) {
				if (!dmarc_digit(s[ns]))
					return dmarc_fail(why, whysize,
					    "invalid value of", "pct");
				pct = pct * 10 + (unsigned)(s[ns] - '0');
			}
			if (pct > 100)
				return dmarc_fail(why, whysize,
				    "invalid value of", "pct");
			rec->pct = pct;
			break;
		case DMARC_T_RUA:
			rua_ok = dmarc_rua_ok(s + vs, vl);
			break;
		default:
			break;	/* ruf, fo, rf, ri: no reports sent */
		}
	}
	if (ntags == 0)
		return dmarc_fail(why, whysize, "does not start with v=DMARC1",
		    NULL);
	if (!(seen & (1u << DMARC_T_P)) || p_bad || sp_bad) {
		/* §6.6.3: a valid rua= saves it, as p=none */
		if (!rua_ok && (p_bad || !(seen & (1u << DMARC_T_P))))
			return dmarc_fail(why, whysize, "no valid", "p");
		if (!rua_ok)
			return dmarc_fail(why, whysize, "invalid value of",
			    "sp");
		rec->p = DMARC_P_NONE;
		rec->sp = DMARC_P_UNSET;
		rec->p_implied = 1;
	}
	return 0;
}
