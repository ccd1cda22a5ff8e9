/* cbv_rate.h - how many new call-back probes one client and one sender
 * domain may cause a minute (CBV as an amplifier, issue 12). */
#ifndef CBV_RATE_H
#define CBV_RATE_H

#include <stddef.h>
#include <sys/socket.h>

/* Clients and domains remembered at once, each table. */
#define CBV_RATE_KEYS		4096
#define CBV_RATE_WINDOW		60.0	/* seconds */

void	cbv_rate_set(unsigned, unsigned, unsigned);
int	cbv_rate_take(const struct sockaddr *, const char *, double, char *,
	    size_t);
void	cbv_rate_free(void);

#endif
