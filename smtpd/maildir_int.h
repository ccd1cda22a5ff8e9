/* maildir_int.h - what maildir.c shares with maildir_dir.c,
 * maildir_folder.c and maildir_prepend.c: the message structure and the
 * small file helpers. Nothing outside these files includes it. */
#ifndef MAILDIR_INT_H
#define MAILDIR_INT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "maildir.h"

struct stat;

#define MAILDIR_BUFSIZE	(64 * 1024)	/* write batching on the loop side */
#define MAILDIR_ID_MAX	80		/* "SECONDS.M<usec>P<pid>Q<seq>" */
#define MAILDIR_SIZE_MAX 24		/* ",S=" and up to 20 digits */
#define MAILDIR_FOLDER_MAX 64		/* ".Junk": a Maildir++ folder name */
#define MAILDIR_PREPEND_MAX (64 * 1024)	/* trace + Authentication-Results */

/*
 * One message on its way. The loop thread owns it until maildir_commit(),
 * the worker from then until it puts it on the done queue (maildir.c).
 */
struct maildir_msg {
	struct maildir_msg *next;	/* job or done queue */
	char		**dirs;		/* distinct maildirs; dirs[0] holds tmp */
	size_t		 ndirs;
	char		**made;		/* copies in new/, for the rollback */
	int		*dfd;		/* dirs[i], O_NOFOLLOW (maildir_dir.c) */
	int		*ffd;		/* dirs[i] + folder, on the worker */
	int		*newfd;		/* its new/, on the worker */
	int		 tmpfd;		/* dirs[0]/tmp */
	/* in tmpfd: NAME or NAME,P; "" while the file is unnamed
	 * (O_TMPFILE) or not made yet (maildir_tmp.c) */
	char		 tmpname[NAME_MAX + 1];
	char		 final[NAME_MAX + 1];	/* in each new/: NAME,S=size */
	char		**syncdirs;	/* dirs that got a new subdirectory */
	size_t		 nsync;
	char		 name[NAME_MAX + 1];	/* NAME, without ",S=" */
	char		 id[MAILDIR_ID_MAX];
	/* "" (the inbox) or "/.Junk": appended to each maildir for new/ */
	char		 folder[MAILDIR_FOLDER_MAX + 2];
	int		 fd;		/* the file, read-write; -1 until made */
	int		 flushed;	/* some bytes went to fd already */
	char		*buf;
	size_t		 buflen;
	size_t		 bufsize;	/* MAILDIR_BUFSIZE, more after a prepend */
	char		*pre;		/* text the worker puts on top */
	size_t		 prelen;
	int		 prepended;	/* maildir_prepend was called */
	int		 werr;		/* first write error, sticky */
	int		 committed;	/* loop thread only */
	int		 detached;	/* loop thread only */
	maildir_done_fn	*cb;
	void		*arg;
	int		 result;	/* 0 or errno, set by the worker */
};

/* maildir.c */
int	maildir_write_all(int, const char *, size_t);

/* maildir_dir.c: directories by descriptor, never through a symlink */
int	maildir_path(char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	maildir_add_sync(struct maildir_msg *, const char *, size_t);
int	maildir_subdir(struct maildir_msg *, int, const char *, const char *,
	    int *);
int	maildir_subdirs(struct maildir_msg *, int, const char *);
int	maildir_dir_open(struct maildir_msg *, const char *, int *,
	    struct stat *);
int	maildir_fsync_fd(int);
int	maildir_fsync_dir(const char *);

/* maildir_folder.c: on the worker, before the links; m->ffd[i] */
int	maildir_folder_prepare(struct maildir_msg *, size_t);

/* maildir_prepend.c: on the worker, after the last flush */
int	maildir_rewrite(struct maildir_msg *);
int	maildir_copy_range(int, int, off_t);

/* maildir_tmp.c: the file before its name in new/; maildir_tmp_unnamed
 * is 1 once maildir_tmp_probe found /proc/self/fd (the unit tests clear it
 * to run the tmp/NAME path too) */
extern int maildir_tmp_unnamed;
void	maildir_tmp_probe(void);
int	maildir_tmp_open(struct maildir_msg *, const char *, int *,
	    char [NAME_MAX + 1]);
int	maildir_tmp_link(const struct maildir_msg *, int, const char *);
void	maildir_tmp_unlink(struct maildir_msg *, const char *);

/* maildir_sync.c: group commit of the new/ fsyncs, on the workers */
int	maildir_sync_dir(int);

#endif
