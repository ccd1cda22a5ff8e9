/* maildir_clean.c - at start-up, remove what a crash left in the tmp/ of
 * the maildirs below maildir_root: files older than 36 hours.
 *
 *	maildir_clean_tmp - walk root (a few levels), clean each maildir's tmp/
 *
 * The maildir convention (maildir(5), qmail's maildir.c and Dovecot): a
 * file in tmp/ that has not been touched for 36 hours is the remains of a
 * delivery that died, never a delivery in progress; any delivery agent may
 * remove it. A younger file may belong to another agent's delivery, and
 * stays. strictmxd does it once at start-up, as `user`, before the loop
 * runs (a blocking walk is fine then, STYLE 6). Every level is opened
 * with O_NOFOLLOW|O_DIRECTORY beneath its parent (maildir_dir.c's rule):
 * the walk never leaves maildir_root through a symlink, and only regular
 * files are removed. A maildir is a directory holding tmp/ and new/; its
 * Maildir++ folders (".Junk") are maildirs one level down.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strictmx.h"
#include "log.h"
#include "maildir.h"

#define CLEAN_AGE	(36 * 3600)	/* maildir(5): 36 hours */
#define CLEAN_DEPTH	6		/* root/domain/user/.Folder + slack */
#define DIR_FLAGS	(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* clean_one - the old regular files in tmp (fd); how many were removed */

static size_t
clean_one(int fd, time_t now)
{
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode) || now - st.st_mtime < CLEAN_AGE)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			n++;
	}
	if (n > 0)
		(void)fsync(fd);	/* best effort: only leftovers */
	closedir(d);
	return n;
}

/* clean_walk - clean fd's tmp/ when fd is a maildir; descend into its
 * subdirectories (not tmp, new, cur) while depth lasts */

static size_t
clean_walk(int fd, int depth, time_t now)
{
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	int sub, dup_fd;
	DIR *d;

	if (fstatat(fd, "new", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) &&
	    (sub = openat(fd, "tmp", DIR_FLAGS)) != -1)
		n += clean_one(sub, now);
	if (depth == 0 || (dup_fd = dup(fd)) == -1)
		return n;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return n;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "tmp") == 0 ||
		    strcmp(de->d_name, "new") == 0 ||
		    strcmp(de->d_name, "cur") == 0)
			continue;
		if ((sub = openat(fd, de->d_name, DIR_FLAGS)) == -1)
			continue;	/* a file, a symlink: not ours to walk */
		n += clean_walk(sub, depth - 1, now);
		close(sub);
	}
	closedir(d);
	return n;
}

/* maildir_clean_tmp - remove tmp/ files older than 36 hours in every
 * maildir below root; the number removed (logged when not 0) */

size_t
maildir_clean_tmp(const char *root)
{
	size_t n;
	int fd;

	if (root == NULL || (fd = open(root, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return 0;
	n = clean_walk(fd, CLEAN_DEPTH, time(NULL));
	close(fd);
	if (n > 0)
		log_info("maildir: removed %zu file(s) older than 36 hours "
		    "from tmp/ below %.512s", n, root);
	return n;
}
