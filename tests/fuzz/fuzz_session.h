/* fuzz_session.h - what fuzz_session.c tells its link-time stand-ins
 * (fuzz_session_stubs.c) for one input, and what it asks them. */
#ifndef FUZZ_SESSION_H
#define FUZZ_SESSION_H

#include <stddef.h>

struct event_base;

enum fuzz_disk {
	FUZZ_DISK_OK,
	FUZZ_DISK_OPEN_FAILS,	/* maildir_open: EACCES */
	FUZZ_DISK_WRITE_FAILS,	/* maildir_write past 300 octets: ENOSPC */
	FUZZ_DISK_COMMIT_FAILS,	/* the commit callback: ENOSPC */
};

struct fuzz_modes {
	int		dns_tempfail;	/* every lookup TEMPFAIL */
	enum fuzz_disk	disk;
	unsigned	cbv_default;	/* outcome index when the address
					 * names none */
	int		cbv_sync;	/* decide inside cbv_probe */
	int		log;		/* print log lines on stderr */
};

void	fuzz_stub_reset(struct event_base *, const struct fuzz_modes *);
size_t	fuzz_stub_pending(void);
void	fuzz_stub_deliver(void);
size_t	fuzz_stub_open_msgs(void);
int	fuzz_stub_committed(const char *, size_t);

#endif
