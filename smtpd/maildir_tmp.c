/* maildir_tmp.c - the message file before it has a name in new/: an
 * unnamed O_TMPFILE inode in tmp/'s file system, or tmp/NAME where there is none.
 *
 *	maildir_tmp_probe - once at start: can linkat(2) name an O_TMPFILE?
 *	maildir_tmp_open - create the file (unnamed, else tmp/NAME+suffix)
 *	maildir_tmp_link - give the file its name in a new/ directory
 *	maildir_tmp_unlink - remove tmp/NAME, if the file has one
 *
 * Why unnamed (issue 10): a tmp/ name costs a directory entry made and
 * removed for every message, and a crash leaves it behind for the 36-hour
 * cleaner. An O_TMPFILE inode (open(2), Linux 3.11; ext4, XFS, btrfs,
 * tmpfs) has no name until linkat(2) gives it one in new/, after its data
 * was fsynced; a crash before that leaves nothing anywhere, and the maildir
 * protocol (a name in new/ appears only for a complete file) is unchanged.
 * linkat needs the inode by path: /proc/self/fd/N with AT_SYMLINK_FOLLOW
 * (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH, which we drop). Without
 * /proc, or on a file system without O_TMPFILE (EOPNOTSUPP; NFS), the file
 * is tmp/NAME as qmail made it.
 */
#define _GNU_SOURCE 1		/* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "strictmx.h"
#include "log.h"
#include "maildir.h"
#include "maildir_int.h"

int maildir_tmp_unnamed;		/* /proc/self/fd works: try O_TMPFILE */

/* maildir_tmp_probe - unnamed files only where linkat can name them */

void
maildir_tmp_probe(void)
{
	maildir_tmp_unnamed = access("/proc/self/fd", X_OK) == 0;
	if (!maildir_tmp_unnamed)
		log_info("maildir: no /proc/self/fd: messages wait in tmp/ "
		    "under a name (no O_TMPFILE)");
}

/* maildir_tmp_open - *fd = a new read-write file for the message in
 * dirs[0]/tmp; name = "" when it is unnamed, else m->name + suffix, made
 * there exclusively. 0 or errno */

int
maildir_tmp_open(struct maildir_msg *m, const char *suffix, int *fd,
    char name[NAME_MAX + 1])
{
	int n;

	name[0] = '\0';
	if (maildir_tmp_unnamed) {
		/* No O_EXCL: that would forbid the linkat that names it. */
		*fd = openat(m->tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    0600);
		if (*fd != -1)
			return 0;
		/* EOPNOTSUPP (this file system), EISDIR (a kernel before
		 * 3.11 reading O_TMPFILE as O_DIRECTORY): a name instead.
		 * Anything else is a real failure (EACCES, EROFS, ENOSPC). */
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return errno;
	}
	n = snprintf(name, NAME_MAX + 1, "%s%s", m->name, suffix);
	if (n < 0 || n > NAME_MAX)
		return ENAMETOOLONG;
	/* Beneath the checked tmp/ descriptor: no symlink followed. */
	*fd = openat(m->tmpfd, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (*fd == -1) {
		n = errno;
		name[0] = '\0';
		return n;
	}
	return 0;
}

/* maildir_tmp_link - m->fd (named m->tmpname, or unnamed) as final in the
 * directory at; 0 or errno (EXDEV: another file system) */

int
maildir_tmp_link(const struct maildir_msg *m, int at, const char *final)
{
	char self[32];

	if (m->tmpname[0] != '\0')
		return linkat(m->tmpfd, m->tmpname, at, final, 0) == -1 ?
		    errno : 0;
	(void)snprintf(self, sizeof(self), "/proc/self/fd/%d", m->fd);
	return linkat(AT_FDCWD, self, at, final, AT_SYMLINK_FOLLOW) == -1 ?
	    errno : 0;
}

/* maildir_tmp_unlink - remove the tmp/ name (if any); logged, not fatal:
 * a name left in tmp/ is cleaned after 36 hours (maildir_clean.c) */

void
maildir_tmp_unlink(struct maildir_msg *m, const char *name)
{
	if (name[0] == '\0')
		return;
	if (unlinkat(m->tmpfd, name, 0) == -1 && errno != ENOENT)
		log_warn("maildir: cannot remove %.512s/tmp/%s: %s",
		    m->dirs[0], name, strerror(errno));
}
