/* cidr.h - IPv4/IPv6 networks in CIDR notation, and matching an address
 * against a list of them (exempt_clients, local_sender_networks, dmp_table). */
#ifndef CIDR_H
#define CIDR_H

#include <stddef.h>
#include <sys/socket.h>

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* network order, masked */
	unsigned	bits;
};

struct cidr_list {
	struct cidr	*v;
	size_t		 n;
};

int	cidr_parse(const char *, struct cidr *);
int	cidr_list_add(struct cidr_list *, const char *);
int	cidr_list_match(const struct cidr_list *, const struct sockaddr *);
void	cidr_list_free(struct cidr_list *);
int	cidr_sockaddr_unmap(const struct sockaddr *, struct sockaddr_storage *);
int	cidr_same_client(const struct sockaddr_storage *,
	    const struct sockaddr_storage *, unsigned);
const char *cidr_format(const struct cidr *, char *, size_t);

/* Buffer size for cidr_format(): an IPv6 address, "/128" and NUL. */
#define CIDR_FORMAT_SIZE	(46 + 5)

#endif
