/* conf_value.c - the syntax of one strictmx.conf value: numbers with units,
 * domain names, EHLO keywords, addresses. conf.c's table says which applies.
 *
 *	conf_value_number - "30s", "25M" or "100" into a number; 0 or -1
 *	conf_value_unit_text - a number back into "4m" / "2G" for messages
 *	conf_value_hostport - ADDR:PORT / [ADDR]:PORT into a socket address
 *	conf_value_domain - RFC 1035 host name syntax; 1 or 0 and why
 *	conf_value_hostname, conf_value_user, conf_value_delimiter,
 *	conf_value_keyword, conf_value_sender, conf_value_folder - checkers
 *	of string keys
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "conf_value.h"

#define K	1024ULL
#define MIN	60ULL
#define HOUR	3600ULL
#define DAY	86400ULL

/* conf_value_number - decimal digits, then for durations and sizes an
 * optional unit letter. 0, or -1 on bad syntax or overflow. */
int
conf_value_number(const char *s, enum conf_value_unit unit,
    unsigned long long *out)
{
	static const char dur[] = "smhd", siz[] = "kKmMgG";
	static const unsigned long long dm[] = { 1, MIN, HOUR, DAY },
	    sm[] = { K, K, K * K, K * K, K * K * K, K * K * K };
	const char *units = unit == CONF_UNIT_DURATION ? dur :
	    unit == CONF_UNIT_SIZE ? siz : "";
	const unsigned long long *mult = unit == CONF_UNIT_DURATION ? dm : sm;
	unsigned long long v = 0, m = 1;
	const char *u;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (*s != '\0') {
		if (s[1] != '\0' || (u = strchr(units, *s)) == NULL)
			return -1;
		m = mult[u - units];
	}
	if (v > ULLONG_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

/* conf_value_unit_text - v in the largest unit that divides it exactly,
 * so that an error can say "between 1s and 4m" as a person would. */
const char *
conf_value_unit_text(char *buf, size_t len, enum conf_value_unit unit,
    unsigned long long v)
{
	static const char dur[] = "dhm", siz[] = "GMK";
	static const unsigned long long dm[] = { DAY, HOUR, MIN },
	    sm[] = { K * K * K, K * K, K };
	const char *u = unit == CONF_UNIT_DURATION ? dur : siz;
	const unsigned long long *m = unit == CONF_UNIT_DURATION ? dm : sm;
	int i;

	for (i = 0; unit != CONF_UNIT_NONE && i < 3; i++)
		if (v != 0 && v % m[i] == 0) {
			snprintf(buf, len, "%llu%c", v / m[i], u[i]);
			return buf;
		}
	snprintf(buf, len, "%llu%s", v, unit == CONF_UNIT_DURATION ? "s" : "");
	return buf;
}

/* conf_value_domain - RFC 1035 §2.3.1 preferred name syntax (letters,
 * digits, inner hyphens; labels 1-63, name <= 253), and the last label not
 * all digits, so that a dotted quad is not taken for a name. */
int
conf_value_domain(const char *s, char *why, size_t wl)
{
	size_t len = strlen(s), lab = 0, i;
	int alldigit = 1;

	if (len == 0 || len > 253) {
		snprintf(why, wl, "length must be 1 to 253");
		return 0;
	}
	for (i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' || c == '\0') {
			if (lab == 0 || lab > 63) {
				snprintf(why, wl, "labels must be 1 to 63 "
				    "characters");
				return 0;
			}
			if (s[i - 1] == '-') {
				snprintf(why, wl, "a label ends with '-'");
				return 0;
			}
			if (c == '\0' && alldigit) {
				snprintf(why, wl, "the last label is numeric");
				return 0;
			}
			alldigit = 1;		/* for the next label */
			lab = 0;
			continue;
		}
		if (!isalnum(c) && c != '-') {
			snprintf(why, wl, "only letters, digits, '-' and '.' "
			    "are allowed");
			return 0;
		}
		if (lab == 0 && c == '-') {
			snprintf(why, wl, "a label starts with '-'");
			return 0;
		}
		if (!isdigit(c))
			alldigit = 0;
		lab++;
	}
	return 1;
}

/* conf_value_hostname - any domain name; a missing dot is only warned
 * about after parsing, since some test setups run with one label. */
int
conf_value_hostname(char *v, char *why, size_t wl)
{
	return conf_value_domain(v, why, wl);
}

/* conf_value_user - a portable POSIX user name (the login is looked up by
 * strictmxd when it drops privileges, not here). */
int
conf_value_user(char *v, char *why, size_t wl)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	if (v[n] != '\0' || v[0] == '-' || n > 32) {
		snprintf(why, wl, "use a user name of up to 32 letters, "
		    "digits, '.', '_' or '-'");
		return 0;
	}
	return 1;
}

/* conf_value_delimiter - a set of characters, each of which ends the local
 * part's base (as Postfix's recipient_delimiter). '@' and quoting
 * characters would change how an address parses, and a letter or digit
 * would cut ordinary names apart, so they are refused. */
int
conf_value_delimiter(char *v, char *why, size_t wl)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c >= 0x7f || isalnum(c) ||
		    strchr("@\"\\<>()[],;:", c)) {
			snprintf(why, wl, "use punctuation such as + - = _ "
			    "(not @ \" \\ < > ( ) [ ] , ; :), or no value "
			    "for off");
			return 0;
		}
	}
	if (i > 16) {
		snprintf(why, wl, "at most 16 characters");
		return 0;
	}
	return 1;
}

/* conf_value_keyword - RFC 5321 §4.1.1.1 ehlo-keyword:
 * (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"). */
int
conf_value_keyword(char *v, char *why, size_t wl)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

	if (v[n] != '\0' || v[0] == '-' || n > 64) {
		snprintf(why, wl, "an EHLO keyword is a letter or digit, then "
		    "letters, digits or '-' (RFC 5321 section 4.1.1.1)");
		return 0;
	}
	return 1;
}

/* conf_value_sender - "<>" (stored as ""), "<local@domain>" or
 * "local@domain"; the local part is a dot-atom (RFC 5321 §4.1.2). */
int
conf_value_sender(char *v, char *why, size_t wl)
{
	size_t len = strlen(v), i;
	char *at;

	if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
		memmove(v, v + 1, len - 2);
		v[len -= 2] = '\0';
	}
	if (len == 0)
		return 1;
	if ((at = strrchr(v, '@')) == NULL || at == v || at - v > 64 ||
	    v[0] == '.' || at[-1] == '.' || strstr(v, "..") != NULL) {
		snprintf(why, wl, "use <> or <local@domain>");
		return 0;
	}
	for (i = 0; v + i < at; i++)
		if (!isalnum((unsigned char)v[i]) &&
		    strchr("!#$%&'*+-/=?^_`{|}~.", v[i]) == NULL) {
			snprintf(why, wl, "use <> or <local@domain> with a "
			    "dot-atom local part");
			return 0;
		}
	return conf_value_domain(at + 1, why, wl);
}

/* conf_value_hostport - ADDR:PORT or [ADDR]:PORT; with defport != 0 also
 * a bare ADDR, [ADDR] or a bare IPv6 address (port defport). Numeric
 * only: the config is read before, and without, any DNS. 0 or -1. */
int
conf_value_hostport(const char *text, unsigned defport,
    struct conf_listen *out)
{
	char buf[INET6_ADDRSTRLEN];
	const char *addr = text, *port = NULL, *colon, *end;
	struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&out->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&out->ss;
	unsigned long long pn = defport;
	size_t alen;
	int bracket = 0;

	memset(out, 0, sizeof(*out));
	if (strlen(text) >= sizeof(out->text))
		return -1;
	snprintf(out->text, sizeof(out->text), "%s", text);
	if (text[0] == '[') {
		if ((end = strchr(text, ']')) == NULL ||
		    (end[1] != '\0' && end[1] != ':'))
			return -1;
		bracket = 1;
		addr = text + 1;
		alen = (size_t)(end - addr);
		if (end[1] == ':')
			port = end + 2;
	} else if ((colon = strchr(text, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		alen = (size_t)(colon - text);	/* IPv4:PORT */
		port = colon + 1;
	} else
		alen = strlen(text);		/* bare IPv4 or IPv6 */
	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, addr, alen);
	buf[alen] = '\0';
	if (port == NULL && defport == 0)
		return -1;
	if (port != NULL && (port[0] == '0' ||
	    conf_value_number(port, CONF_UNIT_NONE, &pn) < 0 ||
	    pn < 1 || pn > 65535))
		return -1;
	if (!bracket && inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)pn);
		out->len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1)
		return -1;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((unsigned short)pn);
	out->len = sizeof(*s6);
	return 0;
}

/* conf_value_folder - a Maildir++ folder name as a mail reader shows it
 * ("Junk"): it becomes the directory ".NAME" below each maildir, so it may
 * hold no '/', start with no '.', and stays within portable characters
 * (Dovecot and Courier map other ones with modified UTF-7). */
int
conf_value_folder(char *v, char *why, size_t wl)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	if (v[n] != '\0' || n == 0 || n > 64) {
		snprintf(why, wl, "use a folder name of up to 64 letters, "
		    "digits, '_' or '-' (Junk, Spam)");
		return 0;
	}
	return 1;
}
