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
 * after the last maildir_write and before commit (a later write is
 * EINVAL). A message still in the write buffer gets it in memory; a
 * larger one is rewritten by the worker at commit (header + in-kernel
 * copy), so the loop never copies a file; a failure there comes to the
 * commit callback (ENOSPC...). 0, or -1 with errno: EINVAL (twice, after
 * commit), EMSGSIZE (over 64 KiB), or the message's write error. */
int	maildir_prepend(struct maildir_msg *, const char *, size_t);
/* maildir_set_folder - before commit: deliver into the Maildir++ folder
 * NAME (".Junk": a dot, then letters, digits, "-_+=, @" and dots, no "..",
 * no trailing dot, at most 64 octets) of every maildir instead of its
 * inbox; NULL: the inbox again. The worker creates the folder (tmp, new,
 * cur 0700 and the empty maildirfolder file) when missing, durably; a
 * failure there comes to the commit callback. 0, or -1 with EINVAL. */
int	maildir_set_folder(struct maildir_msg *, const char *);
/* maildir_folder_valid - 1 when maildir_set_folder would take NAME, else 0
 * (for checking the configuration once, at load). */
int	maildir_folder_valid(const char *);
void	maildir_commit(struct maildir_msg *, maildir_done_fn *, void *);
void	maildir_detach(struct maildir_msg *);
void	maildir_abort(struct maildir_msg *);
const char *maildir_msg_id(const struct maildir_msg *);

/* maildir_clean.c: at start-up, tmp/ files older than 36 h; how many */
size_t	maildir_clean_tmp(const char *);

#endif
