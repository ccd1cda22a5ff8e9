/* maildir_prepend.c - the top of the message, written last: our trace and
 * Authentication-Results fields, known only once DKIM has seen the body.
 *
 *	maildir_prepend - once, before commit: text to put before the message
 *	maildir_rewrite - on the worker: a new tmp file, the text then the old
 *	    file's bytes, fsynced; it replaces the old one
 *	maildir_copy_range - in-kernel copy of a whole file, read/write where
 *	    the kernel cannot
 *
 * Two ways, by size. Most messages are smaller than the loop's write buffer
 * (MAILDIR_BUFSIZE) and none of their bytes is in the file yet: the text
 * goes in front in memory and the worker writes the message with one
 * write(2). A larger message is partly on disk; copying it on the loop
 * would stall every session for as long as a 50 MB copy takes (STYLE 6), so
 * the loop keeps only the text and the worker writes a second tmp file:
 * the text, then the first file by copy_file_range(2) (in the kernel, no
 * trip through user space; a reflink where the file system shares extents),
 * with a read/write loop where the kernel cannot (EXDEV, ENOSYS,
 * EOPNOTSUPP). The name in new/ is taken after that, so ",S=" is the final
 * size. RFC 5321 §4.4 wants the trace fields at the top, and RFC 8601 §5
 * Authentication-Results above the fields it vouches for.
 */
#define _GNU_SOURCE 1		/* copy_file_range() */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strictmx.h"
#include "xmalloc.h"
#include "log.h"
#include "maildir.h"
#include "maildir_int.h"

/* One copy_file_range call copies at most this: bounded kernel work per
 * call, and well inside ssize_t. */
#define MAILDIR_COPY_CHUNK	(1 << 30)

/* maildir_prepend - text for the very top of the message; 0, or -1 with
 * errno: EINVAL (twice, or after commit), EMSGSIZE (over
 * MAILDIR_PREPEND_MAX), or the sticky write error of the message */

int
maildir_prepend(struct maildir_msg *m, const char *text, size_t len)
{
	if (m->committed || m->prepended) {
		errno = EINVAL;
		return -1;
	}
	if (len > MAILDIR_PREPEND_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (m->werr != 0) {
		errno = m->werr;
		return -1;
	}
	m->prepended = 1;
	if (len == 0)
		return 0;
	if (!m->flushed) {
		/* All of it still in memory: one buffer, one write later. */
		if (m->bufsize - m->buflen < len) {
			m->bufsize = m->buflen + len;
			m->buf = xreallocarray(m->buf, m->bufsize, 1);
		}
		memmove(m->buf + len, m->buf, m->buflen);
		memcpy(m->buf, text, len);
		m->buflen += len;
		return 0;
	}
	m->pre = xmalloc(len);
	memcpy(m->pre, text, len);
	m->prelen = len;
	return 0;
}

/* maildir_copy_rw - the portable copy of in[off, size) to out's position */

static int
maildir_copy_rw(int in, off_t off, int out, off_t size)
{
	char *buf = xmalloc(MAILDIR_BUFSIZE);
	size_t want;
	ssize_t n;
	int e = 0;

	while (e == 0 && off < size) {
		want = size - off < MAILDIR_BUFSIZE ? (size_t)(size - off) :
		    MAILDIR_BUFSIZE;
		n = pread(in, buf, want, off);
		if (n == -1) {
			if (errno != EINTR)
				e = errno;
			continue;
		}
		if (n == 0) {
			e = EIO;	/* shorter than fstat said */
			break;
		}
		e = maildir_write_all(out, buf, (size_t)n);
		off += n;
	}
	free(buf);
	return e;
}

/* maildir_copy_range - copy in[0, size) to out's position; 0 or errno */

int
maildir_copy_range(int in, int out, off_t size)
{
	off64_t off = 0;
	size_t want;
	ssize_t n;

	while (off < size) {
		want = size - off < MAILDIR_COPY_CHUNK ? (size_t)(size - off) :
		    MAILDIR_COPY_CHUNK;
		n = copy_file_range(in, &off, out, NULL, want, 0);
		if (n > 0)
			continue;	/* off moved on by n */
		if (n == -1 && errno == EINTR)
			continue;
		/* No in-kernel copy here (or, n == 0, a file system that
		 * claims so by copying nothing): the rest by hand, which
		 * tells a real short file (EIO) from a lazy kernel. */
		if (n == 0 || errno == EXDEV || errno == ENOSYS ||
		    errno == EOPNOTSUPP)
			return maildir_copy_rw(in, (off_t)off, out, size);
		return errno;
	}
	return 0;
}

/* maildir_rewrite - on the worker, the message flushed to m->fd: write a
 * second file = m->pre + the first (unnamed, or dirs[0]/tmp/NAME,P), fsync
 * it and make it the message (m->fd, m->tmpname); the first one goes. On
 * failure the new file is gone and m still holds the old one, which the
 * rollback removes. */

int
maildir_rewrite(struct maildir_msg *m)
{
	char name[NAME_MAX + 1];
	struct stat st;
	int fd, e;

	if (fstat(m->fd, &st) == -1)
		return errno;
	/* ",P" keeps a name unique in tmp/ (NAME is), and fits: the final
	 * name leaves MAILDIR_SIZE_MAX octets for ",S=". */
	if ((e = maildir_tmp_open(m, ",P", &fd, name)) != 0)
		return e;
	e = maildir_write_all(fd, m->pre, m->prelen);
	if (e == 0)
		e = maildir_copy_range(m->fd, fd, st.st_size);
	if (e == 0 && fsync(fd) == -1)
		e = errno;
	if (e != 0) {
		close(fd);
		maildir_tmp_unlink(m, name);
		return e;
	}
	/* The new file is the message from now on. The old one is only a
	 * tmp file: failing to remove it is logged, not fatal. */
	close(m->fd);
	maildir_tmp_unlink(m, m->tmpname);
	m->fd = fd;
	memcpy(m->tmpname, name, sizeof(m->tmpname));
	return 0;
}
