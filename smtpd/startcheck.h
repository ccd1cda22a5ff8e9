/* startcheck.h - checks at start, on reload and in `strictmxd -n` for what
 * would otherwise show up only as failed sessions. */
#ifndef STARTCHECK_H
#define STARTCHECK_H

#include <stddef.h>

struct event_base;
struct conf;

int	startcheck_writable(const char *, const char *, char *, size_t);
int	startcheck_dirs(const struct conf *, char *, size_t);
void	startcheck_dns_start(struct event_base *, const struct conf *);
void	startcheck_dns_stop(void);
int	startcheck_dns_sync(const struct conf *, char *, size_t);
unsigned long startcheck_nofile_need(const struct conf *);
int	startcheck_nofile(const struct conf *, int, char *, size_t);

#endif
