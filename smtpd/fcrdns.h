/* fcrdns.h - forward-confirmed reverse DNS of a client address: a PTR name
 * counts only when it resolves back to the same address. */
#ifndef FCRDNS_H
#define FCRDNS_H

#include <sys/socket.h>

#include "strictmx.h"

struct fcrdns_query;

enum fcrdns_status {
	FCRDNS_OK,		/* name holds the confirmed PTR name */
	FCRDNS_NONE,		/* no PTR, or none confirmed */
	FCRDNS_TEMPFAIL,	/* DNS did not answer in time */
};

/* Called once on the loop, never after fcrdns_cancel(). */
typedef void fcrdns_fn(enum fcrdns_status, const char *, void *);

struct fcrdns_query *fcrdns_start(const struct sockaddr *, fcrdns_fn *,
	    void *);
void	fcrdns_cancel(struct fcrdns_query *);

#endif
