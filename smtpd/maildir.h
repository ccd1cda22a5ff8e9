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
/* maildir_prepend - text for the very top of the message (our trace and
 * Authentication-Results fields, known only once the body is in), once,
 * before commit. A message still in the write buffer gets it in memory;
 * a larger one is rewritten by the worker (header + in-kernel copy), so
 * the loop never copies a file. 0, or -1 with errno. */
int	maildir_prepend(struct maildir_msg *, const char *, size_t);
/* maildir_set_folder - deliver into the Maildir++ folder NAME (".Junk")
 * of every maildir instead of its inbox; the folder (tmp, new, cur and
 * the maildirfolder file) is created when missing, durably. 0 or -1. */
int	maildir_set_folder(struct maildir_msg *, const char *);
void	maildir_commit(struct maildir_msg *, maildir_done_fn *, void *);
void	maildir_detach(struct maildir_msg *);
void	maildir_abort(struct maildir_msg *);
const char *maildir_msg_id(const struct maildir_msg *);

#endif
