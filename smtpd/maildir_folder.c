/* maildir_folder.c - delivery into a Maildir++ folder (".Junk") instead of
 * the inbox: the rules for the name, and the folder made on demand, durably.
 *
 *	maildir_folder_valid - 1 when NAME (".Junk") is a folder name we accept
 *	maildir_set_folder - check NAME; deliver into DIR/NAME/new (NULL: inbox)
 *	maildir_folder_prepare - on the worker: DIR/NAME with tmp, new, cur and
 *	    the maildirfolder file, each created when missing, held by fd
 *
 * Maildir++ (Courier's maildir++ notes; Dovecot's default maildir LAYOUT):
 * a folder is a maildir named "." + its name right inside the account's
 * maildir, levels separated by dots (".Junk.Old" is "Junk/Old"), holding an
 * empty file "maildirfolder" that tells delivery agents and quota code that
 * it is a folder whose account is the parent directory. Dovecot lists
 * DIR/.Junk as mailbox "Junk". Names on disk are in modified UTF-7
 * (RFC 3501 §5.1.3), so we accept only an ASCII subset that needs no
 * encoding, and no IMAP wildcard ('%', '*') or quoting character.
 *
 * The folder is made by the worker, just before the links, so that a name
 * that cannot be a folder (".Junk" is a file) fails the delivery like any
 * other error: 4xx, nothing left anywhere. The tmp file stays in
 * DIR/tmp of the first maildir: the same file system, so link(2) works.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "strictmx.h"
#include "maildir.h"
#include "maildir_int.h"

/* maildir_folder_valid - 1 when name is a Maildir++ folder we will make,
 * else 0; conf.c may check dmarc_quarantine_folder with it at load time */

int
maildir_folder_valid(const char *name)
{
	static const char other[] = "-_+=,@ ";
	size_t len = strnlen(name, MAILDIR_FOLDER_MAX + 1), i;
	unsigned char c;

	/* ".": the inbox itself; a trailing dot: an empty last level. */
	if (len < 2 || len > MAILDIR_FOLDER_MAX || name[0] != '.' ||
	    name[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)name[i];
		/* "..": an empty level, and the parent directory. */
		if (c == '.' && name[i + 1] == '.')
			return 0;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' ||
		    (c != '\0' && strchr(other, c) != NULL))
			continue;
		return 0;	/* '/', '&', '%', '*', controls, 8-bit... */
	}
	return 1;
}

/* maildir_set_folder - deliver m into the folder name (".Junk") of every
 * maildir, or into the inbox again for NULL; before commit. 0, or -1 with
 * errno EINVAL (a bad name, or after commit) */

int
maildir_set_folder(struct maildir_msg *m, const char *name)
{
	int n;

	if (m->committed) {
		errno = EINVAL;
		return -1;
	}
	if (name == NULL) {
		m->folder[0] = '\0';
		return 0;
	}
	if (!maildir_folder_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(m->folder, sizeof(m->folder), "/%s", name);
	if (n < 0 || (size_t)n >= sizeof(m->folder)) {
		m->folder[0] = '\0';	/* cannot happen: checked above */
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* maildir_folder_prepare - on the worker: make dirs[i] + m->folder a
 * maildir (0700, like the inbox's subdirectories) with its maildirfolder
 * file, and hold it as m->ffd[i]; never through a symlink (maildir_dir.c).
 * Whatever is created is queued for the directory fsyncs of the commit:
 * dir itself for the new folder, the folder for its children. 0 or errno */

int
maildir_folder_prepare(struct maildir_msg *m, size_t i)
{
	char fdir[PATH_MAX];
	struct stat st;
	int fd, e;

	if ((e = maildir_path(fdir, "%s%s", m->dirs[i], m->folder)) != 0)
		return e;
	/* dirs[i] is held open (maildir_open): this makes one level. */
	if ((e = maildir_subdir(m, m->dfd[i], m->dirs[i], m->folder + 1,
	    &m->ffd[i])) != 0 ||
	    (e = maildir_subdirs(m, m->ffd[i], fdir)) != 0)
		return e;
	if (fstatat(m->ffd[i], "maildirfolder", &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;	/* its presence is all that counts */
	if (errno != ENOENT)
		return errno;
	fd = openat(m->ffd[i], "maildirfolder", O_CREAT | O_EXCL | O_WRONLY |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return errno == EEXIST ? 0 : errno;	/* a parallel delivery */
	if (fsync(fd) == -1) {
		e = errno;
		close(fd);
		return e;
	}
	if (close(fd) == -1)
		return errno;
	maildir_add_sync(m, fdir, strlen(fdir));
	return 0;
}
