/* cidr.c - IPv4 and IPv6 networks in CIDR notation, and the test "is this
 * client address inside one of these networks" used by every address list.
 *
 *	cidr_parse - "192.0.2.0/24", "2001:db8::/32" or a bare address into a
 *		masked struct cidr; 0 or -1
 *	cidr_format - write a struct cidr back as text (for logs and -n)
 *	cidr_list_add - parse one network and append it to a list; 0 or -1
 *	cidr_list_match - 1 when a socket address lies in one of the networks
 *	cidr_list_free - release a list's storage (the list itself stays usable)
 *	cidr_sockaddr_unmap - copy a socket address, turning an IPv4-mapped
 *		IPv6 address (::ffff:a.b.c.d) into plain AF_INET
 *	cidr_same_client - 1 when two unmapped addresses count as one client:
 *		the same IPv4 address, or the same first v6bits of IPv6
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "xmalloc.h"

/* Longest text we parse: an IPv6 address with an embedded IPv4 tail, a
 * slash and three digits. Anything longer is not an address. */
#define CIDR_TEXT_MAX	(INET6_ADDRSTRLEN + 4)

/* The 12-byte prefix of an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2). */
static const unsigned char cidr_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* cidr_mask - clear every bit of addr past the first bits. */
static void
cidr_mask(unsigned char *addr, size_t len, unsigned bits)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		addr[i] &= (unsigned char)(0xff00u >> bits);
		bits = 0;
	}
}

/* cidr_parse_bits - a prefix length: decimal digits only, no sign, no
 * leading zero (so "/024" is refused rather than guessed at), <= max. */
static int
cidr_parse_bits(const char *s, unsigned max, unsigned *bits)
{
	unsigned v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -1;
	}
	*bits = v;
	return 0;
}

/* cidr_parse - parse NETWORK[/BITS]. A bare address is a host route (/32 or
 * /128). Host bits past the prefix are cleared, so "192.0.2.1/24" is stored
 * as 192.0.2.0/24. An IPv4-mapped IPv6 network with a prefix of at least 96
 * bits is stored as the IPv4 network it denotes, since clients are compared
 * after cidr_sockaddr_unmap(). Returns 0, or -1 when the text is not a
 * network (and *c is left zeroed). */
int
cidr_parse(const char *text, struct cidr *c)
{
	char buf[CIDR_TEXT_MAX + 1];
	char *slash;
	unsigned max;

	memset(c, 0, sizeof(*c));
	if (text == NULL || strlen(text) > CIDR_TEXT_MAX)
		return -1;
	memcpy(buf, text, strlen(text) + 1);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		memset(c, 0, sizeof(*c));
		return -1;
	}
	c->bits = max;
	if (slash != NULL && cidr_parse_bits(slash, max, &c->bits) < 0) {
		memset(c, 0, sizeof(*c));
		return -1;
	}
	if (c->family == AF_INET6 && c->bits >= 96 &&
	    memcmp(c->addr, cidr_v4mapped, sizeof(cidr_v4mapped)) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->bits -= 96;
	}
	cidr_mask(c->addr, sizeof(c->addr), c->bits);
	return 0;
}

/* cidr_format - "ADDR/BITS" into buf; returns buf ("?" on a bad entry). */
const char *
cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (len == 0)
		return "";
	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL) {
		snprintf(buf, len, "?");
		return buf;
	}
	n = snprintf(buf, len, "%s/%u", a, c->bits);
	if (n < 0 || (size_t)n >= len)
		snprintf(buf, len, "?");
	return buf;
}

/* cidr_list_add - append the network in text to l; -1 when it is not one
 * (l is then unchanged). */
int
cidr_list_add(struct cidr_list *l, const char *text)
{
	struct cidr c;

	if (cidr_parse(text, &c) < 0)
		return -1;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = c;
	return 0;
}

/* cidr_sockaddr_unmap - copy sa into *out; an IPv4-mapped IPv6 address
 * becomes the AF_INET address it carries (port kept), so that a dual-stack
 * listener's clients compare equal to the IPv4 networks an admin writes.
 * Returns 0, or -1 for a family other than AF_INET/AF_INET6 (out zeroed). */
int
cidr_sockaddr_unmap(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6;
	struct sockaddr_in *s4;

	memset(out, 0, sizeof(*out));
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(out, sa, sizeof(struct sockaddr_in));
		return 0;
	case AF_INET6:
		s6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(out, sa, sizeof(struct sockaddr_in6));
			return 0;
		}
		s4 = (struct sockaddr_in *)(void *)out;
		s4->sin_family = AF_INET;
		s4->sin_port = s6->sin6_port;
		memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
		return 0;
	default:
		return -1;
	}
}

/* cidr_match - does the (unmapped) address addr of family af lie in c? */
static int
cidr_match(const struct cidr *c, int af, const unsigned char *addr)
{
	unsigned char a[16];
	size_t len = af == AF_INET ? 4 : 16;

	if (c->family != af)
		return 0;
	memcpy(a, addr, len);
	cidr_mask(a, len, c->bits);
	return memcmp(a, c->addr, len) == 0;
}

/* cidr_list_match - 1 when sa lies in one of l's networks, else 0. An
 * IPv4-mapped IPv6 client is compared as the IPv4 address it carries. */
int
cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	const unsigned char *addr;
	size_t i;

	if (l == NULL || sa == NULL || cidr_sockaddr_unmap(sa, &ss) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		addr = (const unsigned char *)
		    &((struct sockaddr_in *)(void *)&ss)->sin_addr;
	else
		addr = ((struct sockaddr_in6 *)(void *)&ss)->sin6_addr.s6_addr;
	for (i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], ss.ss_family, addr))
			return 1;
	return 0;
}

/* cidr_list_free - free l's array and leave it empty; NULL is fine. */
void
cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* cidr_same_client - max_clients_per_ip's notion of one client. An IPv6
 * host is commonly given a whole /64 (RFC 6177, RFC 7421) and may pick any
 * address in it, so an IPv6 client is its first v6bits (32..128; 64 by
 * default, as Postfix 3.8's smtpd_client_ipv6_prefix_length); an IPv4
 * client is its address. a and b come from cidr_sockaddr_unmap(). */
int
cidr_same_client(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b, unsigned v6bits)
{
	const unsigned char *x, *y;
	unsigned full, rest;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)(const void *)a)->
		    sin_addr, &((const struct sockaddr_in *)(const void *)b)->
		    sin_addr, 4) == 0;
	if (a->ss_family != AF_INET6)
		return 0;
	x = ((const struct sockaddr_in6 *)(const void *)a)->sin6_addr.s6_addr;
	y = ((const struct sockaddr_in6 *)(const void *)b)->sin6_addr.s6_addr;
	if (v6bits > 128)
		v6bits = 128;
	full = v6bits / 8;
	rest = v6bits % 8;
	if (memcmp(x, y, full) != 0)
		return 0;
	return rest == 0 ||
	    ((x[full] ^ y[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}
