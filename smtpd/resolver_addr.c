/* resolver_addr.c - the address helpers of the resolver: a "resolver"
 * config word parsed to a socket address, and address equality.
 *
 *	resolver_parse_server - "ADDR", "ADDR:PORT", "[ADDR]:PORT" to a sockaddr
 *	resolver_addr_equal - same IP address, IPv4-mapped IPv6 taken as IPv4
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include <udns.h>

#include "cidr.h"
#include "resolver.h"

/* resolver_addr_equal - 1 when both socket addresses hold the same IP
 * address (ports ignored), comparing IPv4-mapped IPv6 as IPv4. */
int
resolver_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	struct sockaddr_storage ua, ub;

	if (a == NULL || b == NULL || cidr_sockaddr_unmap(a, &ua) < 0 ||
	    cidr_sockaddr_unmap(b, &ub) < 0 || ua.ss_family != ub.ss_family)
		return 0;
	if (ua.ss_family == AF_INET)
		return memcmp(&((struct sockaddr_in *)&ua)->sin_addr,
		    &((struct sockaddr_in *)&ub)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	return memcmp(&((struct sockaddr_in6 *)&ua)->sin6_addr,
	    &((struct sockaddr_in6 *)&ub)->sin6_addr,
	    sizeof(struct in6_addr)) == 0;
}

/* resolver_parse_port - decimal 1..65535, nothing else. */
static int
resolver_parse_port(const char *s, unsigned *port)
{
	unsigned v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = v;
	return 0;
}

/* resolver_parse_server - one "resolver" word: "192.0.2.53",
 * "192.0.2.53:5353", "2001:db8::53" (bare IPv6, port 53) or
 * "[2001:db8::53]:5353". 0 and *ss filled, or -1. Each server keeps its
 * own port (dns_add_serv_s), so they need not share one.
 * XXX no IPv6 scope ids: a link-local server ("fe80::1%eth0") is refused. */
int
resolver_parse_server(const char *text, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *p, *port_text = NULL;
	unsigned port = DNS_PORT;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (text == NULL || strlen(text) >= sizeof(buf))
		return -1;
	memcpy(buf, text, strlen(text) + 1);
	memset(ss, 0, sizeof(*ss));
	p = buf;
	if (buf[0] == '[') {
		if ((p = strchr(buf, ']')) == NULL)
			return -1;
		if (p[1] == ':')
			port_text = p + 2;
		else if (p[1] != '\0')
			return -1;
		*p = '\0';
		p = buf + 1;
	} else if ((port_text = strchr(buf, ':')) != NULL &&
	    strchr(port_text + 1, ':') == NULL)
		*port_text++ = '\0';		/* "v4:port" */
	else
		port_text = NULL;		/* v4 or bare v6 */
	if (port_text != NULL && resolver_parse_port(port_text, &port) < 0)
		return -1;
	if (inet_pton(AF_INET, p, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		return 0;
	}
	if (inet_pton(AF_INET6, p, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		return 0;
	}
	return -1;
}
