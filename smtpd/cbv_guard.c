/* cbv_guard.c - the addresses a call-back probe never connects to: a
 * sender domain whose MX points at 127.0.0.1 or at ourselves must not make
 * us open an SMTP dialogue there (a server-side request forgery, issue 12).
 *
 *	cbv_guard_set - build the forbidden set from a conf (copied: the conf
 *		may be freed on SIGHUP while probes run)
 *	cbv_guard_forbidden - 1 when an address may not be probed, with the
 *		network that forbids it written to why; else 0
 *	cbv_guard_count - networks in the set (0: the guard is off)
 *	cbv_guard_free - drop the set
 *
 * The built-in set ("builtin", the default) is what no Internet MX can
 * be: RFC 6890's loopback, "this network", link-local, multicast and
 * limited broadcast blocks of both families, plus the deprecated
 * IPv4-compatible IPv6 block (RFC 4291 §2.5.5.1); IPv4-mapped IPv6
 * addresses are compared as the IPv4 address they carry
 * (cidr_sockaddr_unmap). Our own listening addresses join it; for a
 * wildcard listen address, every address of every local interface does.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbv_guard.h"
#include "cidr.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

static const char *const cbv_guard_builtin[] = {
	"0.0.0.0/8",		/* RFC 6890 "this network" */
	"127.0.0.0/8",		/* loopback */
	"169.254.0.0/16",	/* link-local */
	"224.0.0.0/4",		/* multicast */
	"240.0.0.0/4",		/* reserved, and 255.255.255.255 broadcast */
	"::/96",		/* unspecified, loopback, IPv4-compatible */
	"fe80::/10",		/* link-local */
	"ff00::/8",		/* multicast */
};

/* Why an entry is there: for the log and the reply. */
enum cbv_guard_src { CBV_GUARD_BUILTIN, CBV_GUARD_SITE, CBV_GUARD_OURS };

static struct {
	struct cidr_list nets;
	unsigned char	 *src;		/* enum cbv_guard_src, per entry */
	size_t		  nsrc;
} guard;

/* cbv_guard_add - one network with its source; a bad one is a bug. */
static void
cbv_guard_add(const struct cidr *c, enum cbv_guard_src s)
{
	char buf[CIDR_FORMAT_SIZE];

	if (cidr_list_add(&guard.nets, cidr_format(c, buf, sizeof(buf))) < 0)
		return;
	if (guard.nsrc < guard.nets.n) {
		guard.src = xreallocarray(guard.src, guard.nets.n, 1);
		guard.nsrc = guard.nets.n;
	}
	guard.src[guard.nets.n - 1] = (unsigned char)s;
}

/* cbv_guard_add_sockaddr - one address of ours as a host route. */
static void
cbv_guard_add_sockaddr(const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	struct cidr c;

	if (sa == NULL || cidr_sockaddr_unmap(sa, &ss) < 0)
		return;
	memset(&c, 0, sizeof(c));
	c.family = ss.ss_family;
	if (ss.ss_family == AF_INET) {
		memcpy(c.addr, &((struct sockaddr_in *)(void *)&ss)->sin_addr,
		    4);
		c.bits = 32;
	} else {
		memcpy(c.addr,
		    &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr, 16);
		c.bits = 128;
	}
	cbv_guard_add(&c, CBV_GUARD_OURS);
}

/* cbv_guard_wildcard - is a listen address 0.0.0.0 or ::? */
static int
cbv_guard_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)ss)->
		    sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)(const void *)ss)->
		    sin6_addr);
	return 0;
}

/* cbv_guard_interfaces - every address of every local interface (a
 * wildcard listener answers on all of them). getifaddrs() is a netlink
 * dump of the kernel's own table: it does not wait on the network. */
static void
cbv_guard_interfaces(void)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0) {
		log_warn("cbv: cannot list local addresses for "
		    "cbv_forbidden_networks");
		return;
	}
	for (i = ifa; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && (i->ifa_addr->sa_family ==
		    AF_INET || i->ifa_addr->sa_family == AF_INET6))
			cbv_guard_add_sockaddr(i->ifa_addr);
	freeifaddrs(ifa);
}

void
cbv_guard_free(void)
{
	cidr_list_free(&guard.nets);
	free(guard.src);
	guard.src = NULL;
	guard.nsrc = 0;
}

size_t
cbv_guard_count(void)
{
	return guard.nets.n;
}

/* cbv_guard_set - "none" leaves the set empty; "builtin" (the default)
 * adds the built-in networks and our own addresses; the networks the
 * site wrote are added as they are. */
void
cbv_guard_set(const struct conf *c)
{
	struct cidr n;
	size_t i;
	int wild = 0;

	cbv_guard_free();
	if (c->cbv_forbidden_builtin) {
		for (i = 0; i < sizeof(cbv_guard_builtin) /
		    sizeof(cbv_guard_builtin[0]); i++)
			if (cidr_parse(cbv_guard_builtin[i], &n) == 0)
				cbv_guard_add(&n, CBV_GUARD_BUILTIN);
		for (i = 0; i < c->nlisten; i++) {
			if (cbv_guard_wildcard(&c->listen[i].ss))
				wild = 1;
			else
				cbv_guard_add_sockaddr((const struct sockaddr *)
				    &c->listen[i].ss);
		}
		if (wild)
			cbv_guard_interfaces();
	}
	for (i = 0; i < c->cbv_forbidden_networks.n; i++)
		cbv_guard_add(&c->cbv_forbidden_networks.v[i], CBV_GUARD_SITE);
}

/* cbv_guard_forbidden - is sa in the set? why gets "127.0.0.0/8" or
 * "our address" (when why is not NULL). */
int
cbv_guard_forbidden(const struct sockaddr *sa, char *why, size_t len)
{
	struct cidr_list one;
	char buf[CIDR_FORMAT_SIZE];
	size_t i;

	for (i = 0; i < guard.nets.n; i++) {
		one.v = &guard.nets.v[i];
		one.n = 1;
		if (!cidr_list_match(&one, sa))
			continue;
		if (why != NULL && len > 0) {
			if (guard.src[i] == CBV_GUARD_OURS)
				snprintf(why, len, "our own address");
			else
				snprintf(why, len, "%s%s", cidr_format(
				    one.v, buf, sizeof(buf)),
				    guard.src[i] == CBV_GUARD_SITE ?
				    ", cbv_forbidden_networks" : "");
		}
		return 1;
	}
	return 0;
}
