/* cbv_guard.h - the addresses a call-back probe never connects to
 * (cbv_forbidden_networks): loopback, our own, and the like (issue 12). */
#ifndef CBV_GUARD_H
#define CBV_GUARD_H

#include <stddef.h>
#include <sys/socket.h>

struct conf;

/* "127.0.0.0/8" or "our listen address", and NUL. */
#define CBV_GUARD_WHY_SIZE	96

void	cbv_guard_set(const struct conf *);
int	cbv_guard_forbidden(const struct sockaddr *, char *, size_t);
size_t	cbv_guard_count(void);
void	cbv_guard_free(void);

#endif
