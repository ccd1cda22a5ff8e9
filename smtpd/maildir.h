/* maildir.h - durable delivery: write once into tmp/, fsync, hard-link into
 * every recipient's new/, fsync the directories, and only then report. */
#ifndef MAILDIR_H
#define MAILDIR_H

#include <stddef.h>

struct event_base;
struct maildir_msg;

/* Called on the event loop thread when a commit finished: err is 0 when
 * the message is durably in every maildir, else an errno (ENOSPC...). */
typedef void maildir_done_fn(void *, int);

int	maildir_worker_start(struct event_base *);
void	maildir_worker_stop(void);
struct maildir_msg *maildir_open(const char *const *, size_t, const char *,
	    int *);
int	maildir_write(struct maildir_msg *, const char *, size_t);
void	maildir_commit(struct maildir_msg *, maildir_done_fn *, void *);
void	maildir_detach(struct maildir_msg *);
void	maildir_abort(struct maildir_msg *);
const char *maildir_msg_id(const struct maildir_msg *);

#endif
