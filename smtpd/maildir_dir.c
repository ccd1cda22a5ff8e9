/* maildir_dir.c - the directories of a delivery, held as descriptors: each
 * level opened with O_NOFOLLOW|O_DIRECTORY, made 0700 when missing.
 *
 *	maildir_path - snprintf into a PATH_MAX buffer; ENAMETOOLONG
 *	maildir_add_sync - remember a directory whose entries must be fsynced
 *	maildir_subdir - open (or make) one real directory beneath another
 *	maildir_dir_open - open (or make) a maildir and check tmp, new, cur
 *	maildir_fsync_dir - fsync a directory by path
 *	maildir_fsync_fd - fsync a directory descriptor
 *
 * Why descriptors (issue 12): a mailbox owner, or anyone who can write in a
 * maildir, could replace new/ or tmp/ by a symbolic link to another
 * directory; a path-based delivery follows it and writes the message there
 * under our identity. Each level beneath the configured maildir is opened
 * with openat(O_NOFOLLOW|O_DIRECTORY) from its checked parent and the
 * message goes in with openat/linkat on those descriptors, so nothing is
 * resolved twice. The maildir's own last component is opened O_NOFOLLOW
 * too; the levels above it are the postmaster's configuration
 * (maildir_root may well be a symlink) and are followed. A symlink is
 * refused as ELOOP, logged with its path.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "strictmx.h"
#include "xmalloc.h"
#include "log.h"
#include "maildir.h"
#include "maildir_int.h"

#define MAILDIR_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* maildir_path - snprintf into a PATH_MAX buffer; ENAMETOOLONG on truncation */

int
maildir_path(char *dst, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		return EINVAL;
	if (n >= PATH_MAX)
		return ENAMETOOLONG;
	return 0;
}

/* maildir_add_sync - remember that dir must be fsynced: we created a child */

void
maildir_add_sync(struct maildir_msg *m, const char *dir, size_t len)
{
	size_t i;

	for (i = 0; i < m->nsync; i++)
		if (strlen(m->syncdirs[i]) == len &&
		    memcmp(m->syncdirs[i], dir, len) == 0)
			return;
	m->syncdirs = xreallocarray(m->syncdirs, m->nsync + 1,
	    sizeof(*m->syncdirs));
	m->syncdirs[m->nsync++] = xstrndup(dir, len);
}

/* maildir_why - after an open with MAILDIR_DIR_FLAGS failed with e: ELOOP
 * when name is a symlink (O_DIRECTORY makes Linux say ENOTDIR), logged */

static int
maildir_why(int at, const char *name, const char *path, int e)
{
	struct stat st;

	if ((e == ENOTDIR || e == ELOOP) &&
	    fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode)) {
		log_warn("maildir: %.512s is a symbolic link: not delivering "
		    "through it", path);
		return ELOOP;
	}
	return e;
}

/* maildir_subdir - *fd = the directory name beneath at (whose path is
 * atpath), made 0700 when missing (at then queued for the commit's
 * fsyncs); never through a symlink. 0 or errno (ELOOP: a symlink) */

int
maildir_subdir(struct maildir_msg *m, int at, const char *atpath,
    const char *name, int *fd)
{
	char path[PATH_MAX];
	int e;

	if ((e = maildir_path(path, "%s/%s", atpath, name)) != 0)
		return e;
	if ((*fd = openat(at, name, MAILDIR_DIR_FLAGS)) != -1)
		return 0;
	if (errno != ENOENT)
		return maildir_why(at, name, path, errno);
	if (mkdirat(at, name, 0700) == 0)
		/* The new entry is durable only once its parent is. */
		maildir_add_sync(m, atpath, strlen(atpath));
	else if (errno != EEXIST)
		return errno;
	if ((*fd = openat(at, name, MAILDIR_DIR_FLAGS)) == -1)
		return maildir_why(at, name, path, errno);
	return 0;
}

/* maildir_mkdir - mkdir 0700, remembering the parent; EEXIST is fine */

static int
maildir_mkdir(struct maildir_msg *m, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (mkdir(path, 0700) == 0) {
		maildir_add_sync(m, path, slash == path ? 1 :
		    (size_t)(slash - path));
		return 0;
	}
	return errno == EEXIST ? 0 : errno;
}

/* maildir_mkdirs - mkdir -p of an absolute path, each new level 0700 */

static int
maildir_mkdirs(struct maildir_msg *m, const char *dir)
{
	char path[PATH_MAX];
	char *p;
	int e;

	if ((e = maildir_path(path, "%s", dir)) != 0)
		return e;
	for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		if (p[-1] == '/')
			continue;	/* "//" */
		*p = '\0';
		e = maildir_mkdir(m, path);
		*p = '/';
		if (e != 0)
			return e;
	}
	return maildir_mkdir(m, path);
}

/* maildir_subdirs - tmp, new and cur beneath fd are real directories */

int
maildir_subdirs(struct maildir_msg *m, int fd, const char *path)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	size_t i;
	int e, sfd;

	for (i = 0; i < 3; i++) {
		if ((e = maildir_subdir(m, fd, path, sub[i], &sfd)) != 0)
			return e;	/* e.g. "new" is a file: ENOTDIR */
		close(sfd);
	}
	return 0;
}

/* maildir_dir_open - *fd = the maildir dir (absolute), made with its
 * parents when missing, its last component not a symlink, with tmp, new
 * and cur; st its identity. 0 or errno */

int
maildir_dir_open(struct maildir_msg *m, const char *dir, int *fd,
    struct stat *st)
{
	char path[PATH_MAX];
	size_t len;
	int e;

	/* "a/" would make the kernel follow a symlink "a": strip it. */
	if ((e = maildir_path(path, "%s", dir)) != 0)
		return e;
	for (len = strlen(path); len > 1 && path[len - 1] == '/'; len--)
		path[len - 1] = '\0';
	if ((*fd = open(path, MAILDIR_DIR_FLAGS)) == -1 && errno == ENOENT) {
		if ((e = maildir_mkdirs(m, path)) != 0)
			return e;
		*fd = open(path, MAILDIR_DIR_FLAGS);
	}
	if (*fd == -1)
		return maildir_why(AT_FDCWD, path, path, errno);
	if (fstat(*fd, st) == -1 ||
	    (e = maildir_subdirs(m, *fd, path)) != 0) {
		e = e != 0 ? e : errno;
		close(*fd);
		*fd = -1;
		return e;
	}
	return 0;
}

/* maildir_fsync_fd - make a directory's entries durable */

int
maildir_fsync_fd(int fd)
{
	/* EINVAL: this file system cannot sync a directory; it has no
	 * better promise to give, and refusing all mail would not help. */
	if (fsync(fd) == -1 && errno != EINVAL)
		return errno;
	return 0;
}

/* maildir_fsync_dir - the same by path (the parents of what we made) */

int
maildir_fsync_dir(const char *path)
{
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno;
	e = maildir_fsync_fd(fd);
	close(fd);
	return e;
}
