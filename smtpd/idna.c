/* idna.c - the one place where a domain name with U-labels (RFC 5890) is
 * turned into the A-label form that DNS and our tables compare.
 *
 *	idna_to_alabel - 0 and out = the lower-case A-label form of in, or -1
 *		when in cannot be converted (not IDNA2008, too long, not LDH)
 *	idna_to_alabel_why - the same, with a short reason for a reply or log
 *	idna_is_ascii - 1 when a string has no octet above 0x7f
 *
 * Why: a U-label domain (an SMTPUTF8 sender, RFC 6531 §3.3; a HELO name)
 * cannot be looked up as sent, and an SMTP server that skips the DNS
 * checks for it gives every forger a free pass (issue 8). libidn2 does
 * IDNA2008 (RFC 5891 §5) with the UTS #46 non-transitional mapping, as
 * browsers and current resolvers do: "ß" stays "ß" (xn--strae-oqa), upper
 * case is folded, NFC is applied. We do not ask libidn2 for its STD3
 * rules: with them it silently drops a "_" instead of refusing it. We
 * check the result ourselves instead: every label 1..63 octets of letters,
 * digits and hyphens, not starting or ending with a hyphen (RFC 1123
 * §2.1), the whole name at most 253 octets (RFC 1035 §2.3.4 in text), no
 * empty label and no trailing dot. Pure ASCII input gets the same check
 * and is copied in lower case without libidn2: an A-label as sent is
 * looked up as sent.
 */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "idna.h"
#include "strictmx.h"

#define IDNA_LABEL_MAX	63	/* RFC 1035 §2.3.4 */
#define IDNA_NAME_MAX	253	/* in text, without the root dot */

/* idna_is_ascii - 1 when s has no octet above 0x7f. */
int
idna_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static int
idna_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* idna_ldh_check - NULL when s is an LDH host name (RFC 1123 §2.1), else
 * the reason. */
static const char *
idna_ldh_check(const char *s)
{
	size_t len = strlen(s), i, label = 0;

	if (len == 0)
		return "empty domain name";
	if (len > IDNA_NAME_MAX)
		return "domain name too long";
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0)
				return "empty label";
			if (s[i - 1] == '-' || s[i - label] == '-')
				return "label starts or ends with a hyphen";
			label = 0;
			continue;
		}
		if (!idna_ldh((unsigned char)s[i]))
			return "invalid character in domain name";
		if (++label > IDNA_LABEL_MAX)
			return "label too long";
	}
	return NULL;
}

/* idna_copy_lower - in, lower-cased, into out; -1 when it does not fit. */
static int
idna_copy_lower(const char *in, char *out, size_t outlen)
{
	size_t i, len = strlen(in);

	if (len >= outlen)
		return -1;
	for (i = 0; i <= len; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ?
		    (char)(in[i] - 'A' + 'a') : in[i];
	return 0;
}

/* idna_reason - a libidn2 error as a short reason of our own (stable
 * wording for replies; never bytes of the input). */
static const char *
idna_reason(int rc)
{
	switch (rc) {
	case IDN2_ENCODING_ERROR:
	case IDN2_ICONV_FAIL:
		return "not valid UTF-8";
	case IDN2_TOO_BIG_DOMAIN:
	case IDN2_TOO_BIG_LABEL:
	case IDN2_PUNYCODE_BIG_OUTPUT:
	case IDN2_PUNYCODE_OVERFLOW:
		return "domain name too long";
	case IDN2_MALLOC:
		return "out of memory";
	default:
		return "not a valid internationalized domain name (IDNA2008)";
	}
}

/* idna_to_alabel_why - in (UTF-8) as lower-case A-labels into out (outlen
 * octets with the NUL). 0, or -1 with *why (when why is not NULL) set to
 * a short static reason; out is "" then. */
int
idna_to_alabel_why(const char *in, char *out, size_t outlen, const char **why)
{
	const char *bad;
	char *ace = NULL;
	int rc;

	if (why != NULL)
		*why = "not a valid domain name";
	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (in == NULL)
		return -1;
	if (idna_is_ascii(in)) {
		if ((bad = idna_ldh_check(in)) != NULL) {
			if (why != NULL)
				*why = bad;
			return -1;
		}
		return idna_copy_lower(in, out, outlen);
	}
	/* Bound the work before libidn2 sees it: a domain in SMTP is at
	 * most 255 octets (RFC 5321 §4.5.3.1.2). */
	if (strlen(in) > SMTP_DOMAIN_MAX) {
		if (why != NULL)
			*why = "domain name too long";
		return -1;
	}
	rc = idn2_to_ascii_8z(in, &ace, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		if (why != NULL)
			*why = idna_reason(rc);
		idn2_free(ace);
		return -1;
	}
	if ((bad = idna_ldh_check(ace)) != NULL ||
	    idna_copy_lower(ace, out, outlen) < 0) {
		if (why != NULL)
			*why = bad != NULL ? bad : "domain name too long";
		out[0] = '\0';
		idn2_free(ace);
		return -1;
	}
	idn2_free(ace);
	return 0;
}

/* idna_to_alabel - idna_to_alabel_why without the reason. */
int
idna_to_alabel(const char *in, char *out, size_t outlen)
{
	return idna_to_alabel_why(in, out, outlen, NULL);
}
