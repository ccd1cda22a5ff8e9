/* maildir.c - durable delivery (DESIGN §4): the loop writes the message once into
 * tmp/; a worker thread fsyncs it, links it into every new/, fsyncs the dirs.
 *
 *	maildir_worker_start - start the workers; completions wake the loop
 *	maildir_worker_stop - finish queued jobs, join, run the last callbacks
 *	maildir_open - create missing maildirs, name the message
 *	maildir_write - append message text (buffered); 0, or -1 with errno
 *	maildir_commit - hand the message to the worker; a callback tells the end
 *	maildir_detach - the owner goes away: no callback; delivery still ends
 *	maildir_abort - before commit: close and remove the file, free
 *	maildir_msg_id - the queue id for Received and "250 ... queued as ID"
 *
 * maildir_prepend (maildir_prepend.c) puts our header fields on top once
 * the body is in; maildir_set_folder (maildir_folder.c) aims the delivery
 * at a Maildir++ folder. Both hook into maildir_deliver on the worker.
 * Every directory is held by a descriptor opened O_NOFOLLOW (maildir_dir.c):
 * a symlink planted at a maildir, its tmp/ or new/ is refused (ELOOP).
 * The file itself is an unnamed O_TMPFILE where the system allows, else
 * tmp/NAME (maildir_tmp.c); the fsyncs of a new/ that several deliveries
 * linked into at once are shared (maildir_sync.c).
 *
 * The protocol is the maildir one (maildir(5), qmail's maildir.c): a file
 * appears in new/ only complete and fsynced, under a name no other delivery
 * can take. One message to several maildirs is written once and hard-linked,
 * and it is all or nothing: the commit point is the fsync of the last new/
 * directory; every failure before it unlinks each copy made and the tmp
 * file, and the owner answers 4xx (RFC 5321 §6.1: once 250 is sent the
 * message must not be lost, so 250 waits for the commit point).
 *
 * Threads: open, write, commit, detach, abort and the callbacks run on the
 * event loop thread. MAILDIR_WORKERS workers take jobs from one queue, so
 * the fsyncs of different messages overlap (as Postfix runs deliveries in
 * parallel): one worker would cap throughput at 1 / ((2 + recipients) x
 * fsync latency), which tests/bench/ showed on a busy disk. Callbacks come
 * in completion order. A worker only touches a message between taking it
 * from the job queue and putting it on the done queue, both under the
 * mutex, so no field is shared without it. fsync() is the one blocking call
 * strictmx allows, and it runs only here (STYLE 6). The worker blocks every
 * signal so that SIGTERM and SIGHUP go to the loop thread.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "strictmx.h"
#include "xmalloc.h"
#include "log.h"
#include "maildir.h"
#include "maildir_int.h"

/* Deliveries in flight at once. A worker that links while an fsync of
 * that new/ runs joins the next one (maildir_sync.c), so more workers mean
 * fewer directory fsyncs per message, up to the number of sessions that
 * can be committing at once; beyond that a worker only waits. With 20
 * sessions (tests/bench/profile.sh, issue 10) 4 and 8 workers were slower
 * than 16, 32 no faster within this VM's noise. -DMAILDIR_WORKERS=N to
 * measure another. */
#ifndef MAILDIR_WORKERS
#define MAILDIR_WORKERS	16
#endif

/* The worker and its two queues. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_t	 thread[MAILDIR_WORKERS];
	int		 nthreads;
	int		 running;	/* loop thread only */
	int		 stopping;
	struct maildir_msg *jobs, **jobs_tail;
	struct maildir_msg *done, **done_tail;
	int		 wake[2];	/* worker -> loop */
	struct event	*ev;
} maildir_w = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.wake = { -1, -1 },
};

static unsigned long maildir_seq;	/* Q<seq>: unique within this pid */

/* maildir_free - release a message and everything it holds (an unnamed
 * file that was never linked vanishes with its descriptor) */

static void
maildir_free(struct maildir_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	if (m->tmpfd != -1)
		close(m->tmpfd);
	for (i = 0; i < m->ndirs; i++) {
		free(m->dirs[i]);
		if (m->made)
			free(m->made[i]);
		if (m->dfd[i] != -1)
			close(m->dfd[i]);
		if (m->ffd != NULL && m->ffd[i] != -1)
			close(m->ffd[i]);
		if (m->newfd != NULL && m->newfd[i] != -1)
			close(m->newfd[i]);
	}
	free(m->dfd);
	free(m->ffd);
	free(m->newfd);
	for (i = 0; i < m->nsync; i++)
		free(m->syncdirs[i]);
	free(m->dirs);
	free(m->made);
	free(m->syncdirs);
	free(m->buf);
	free(m->pre);
	free(m);
}

/* maildir_host - the hostname part of a maildir name: "/" and ":" become
 * \057 and \072 (maildir(5)); we also escape octets that are not graphic
 * ASCII, so that no name ever holds a space, control or 8-bit octet */

static int
maildir_host(char *dst, size_t size, const char *host)
{
	const unsigned char *p;
	size_t len = 0;
	int n;

	if (host == NULL || *host == '\0')
		return EINVAL;
	for (p = (const unsigned char *)host; *p; p++) {
		if (*p == '/' || *p == ':' || *p <= ' ' || *p >= 0x7f)
			n = snprintf(dst + len, size - len, "\\%03o", *p);
		else
			n = snprintf(dst + len, size - len, "%c", *p);
		if (n < 0 || (size_t)n >= size - len)
			return ENAMETOOLONG;
		len += (size_t)n;
	}
	return 0;
}

/* maildir_name - the message's unique name: the queue id and NAME. No
 * file yet: the worker creates it at commit (maildir_tmp.c), so that the
 * inode allocation, the costliest call of a delivery, stays off the loop;
 * only a message larger than the write buffer makes it here first. */

static int
maildir_name(struct maildir_msg *m, const char *hostname)
{
	char host[NAME_MAX + 1];
	struct timeval tv;
	unsigned long seq;
	int e, n;

	if ((e = maildir_host(host, sizeof(host), hostname)) != 0)
		return e;
	/* Unique within this pid by the sequence number, across pids and
	 * restarts by the pid and the time (maildir(5)); linkat() refuses
	 * to replace a name in new/ all the same (EEXIST, 451). */
	gettimeofday(&tv, NULL);
	seq = __atomic_fetch_add(&maildir_seq, 1, __ATOMIC_RELAXED);
	n = snprintf(m->id, sizeof(m->id), "%lld.M%ldP%ldQ%lu",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(), seq);
	if (n < 0 || (size_t)n >= sizeof(m->id))
		return ENAMETOOLONG;
	/* Leave room for ",S=<size>" and ",P": the final name is NAME_MAX. */
	n = snprintf(m->name, sizeof(m->name), "%s.%s", m->id, host);
	if (n < 0 || (size_t)n + MAILDIR_SIZE_MAX > NAME_MAX)
		return ENAMETOOLONG;
	return 0;
}

/* maildir_open - create missing maildirs and name a new message; NULL and
 * *err on failure */

struct maildir_msg *
maildir_open(const char *const *maildirs, size_t n, const char *hostname,
    int *err)
{
	struct maildir_msg *m = xcalloc(1, sizeof(*m));
	struct stat *ids = NULL;
	const char *where = NULL;	/* the maildir an error is about */
	size_t i, j;
	int e = 0, fd;

	m->fd = m->tmpfd = -1;
	if (n == 0) {
		e = EINVAL;
		goto fail;
	}
	m->dirs = xcalloc(n, sizeof(*m->dirs));
	m->dfd = xcalloc(n, sizeof(*m->dfd));
	ids = xcalloc(n, sizeof(*ids));
	for (i = 0; i < n; i++) {
		if (maildirs[i] == NULL || maildirs[i][0] != '/') {
			e = EINVAL;	/* the table gives absolute paths */
			goto fail;
		}
		where = maildirs[i];
		if ((e = maildir_dir_open(m, maildirs[i], &fd,
		    &ids[m->ndirs])) != 0)
			goto fail;
		/* One copy per maildir, however it is spelled: compare the
		 * directories themselves, not their names. */
		for (j = 0; j < m->ndirs; j++)
			if (ids[j].st_dev == ids[m->ndirs].st_dev &&
			    ids[j].st_ino == ids[m->ndirs].st_ino)
				break;
		if (j < m->ndirs) {
			close(fd);
			continue;
		}
		m->dfd[m->ndirs] = fd;
		m->dirs[m->ndirs++] = xstrdup(maildirs[i]);
	}
	where = m->dirs[0];
	if ((e = maildir_subdir(m, m->dfd[0], m->dirs[0], "tmp",
	    &m->tmpfd)) != 0 || (e = maildir_name(m, hostname)) != 0)
		goto fail;
	/* The file comes later; a tmp/ we may not write in (a mode, a
	 * ReadWritePaths= that misses it: EROFS) still fails here, before
	 * the client sends the message. */
	if (faccessat(m->tmpfd, ".", W_OK | X_OK, AT_EACCESS) == -1) {
		e = errno;
		goto fail;
	}
	m->buf = xmalloc(MAILDIR_BUFSIZE);
	m->bufsize = MAILDIR_BUFSIZE;
	free(ids);
	return m;

fail:
	/* The postmaster must learn which directory: a maildir_root
	 * outside the unit's ReadWritePaths= gives EROFS here. */
	if (where != NULL)
		log_warn("maildir: cannot deliver into %.512s: %s", where,
		    strerror(e));
	free(ids);
	maildir_free(m);
	*err = e;
	return NULL;
}

/* maildir_write_all - write(2) until done; 0 or errno */

int
maildir_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* maildir_write - append to the message; 0, or -1 with errno (ENOSPC...) */

int
maildir_write(struct maildir_msg *m, const char *p, size_t len)
{
	size_t n;

	/* After maildir_prepend the message is complete. */
	if (m->committed || m->prepended) {
		errno = EINVAL;
		return -1;
	}
	while (len > 0 && m->werr == 0) {
		n = m->bufsize - m->buflen;
		if (n > len)
			n = len;
		memcpy(m->buf + m->buflen, p, n);
		m->buflen += n;
		p += n;
		len -= n;
		if (m->buflen == m->bufsize) {
			if (m->fd == -1)
				m->werr = maildir_tmp_open(m, "", &m->fd,
				    m->tmpname);
			if (m->werr == 0)
				m->werr = maildir_write_all(m->fd, m->buf,
				    m->buflen);
			m->buflen = 0;
			m->flushed = 1;
		}
	}
	if (m->werr != 0) {
		errno = m->werr;
		return -1;
	}
	return 0;
}

/* maildir_copy - EXDEV: copy the message (size octets of m->fd) into
 * tmp/ beside new/ (the base at, dirs[i] or its folder), fsync, rename to
 * m->final in new/ (the rename must not cross file systems); all beneath
 * checked descriptors */

static int
maildir_copy(struct maildir_msg *m, size_t i, int at, off_t size)
{
	int out, tfd, e;

	if ((e = maildir_subdir(m, at, m->dirs[i], "tmp", &tfd)) != 0)
		return e;
	out = openat(tfd, m->name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (out == -1) {
		e = errno;
		close(tfd);
		return e;
	}
	e = maildir_copy_range(m->fd, out, size);
	if (e == 0 && fsync(out) == -1)
		e = errno;
	if (close(out) == -1 && e == 0)
		e = errno;
	if (e == 0 && renameat(tfd, m->name, m->newfd[i], m->final) == -1)
		e = errno;
	if (e != 0)
		unlinkat(tfd, m->name, 0);
	close(tfd);
	return e;
}

/* maildir_rollback - remove every copy made and the tmp name; best effort */

static void
maildir_rollback(struct maildir_msg *m)
{
	size_t i;

	for (i = 0; i < m->ndirs; i++) {
		if (m->made[i] == NULL)
			continue;
		if (unlinkat(m->newfd[i], m->final, 0) == -1 &&
		    errno != ENOENT)
			log_warn("maildir: cannot remove %s: %s", m->made[i],
			    strerror(errno));
		/* A link that survives a crash would be a duplicate, the
		 * lesser evil; still, try to make the removal durable. */
		(void)maildir_fsync_fd(m->newfd[i]);
	}
	maildir_tmp_unlink(m, m->tmpname);
}

/* maildir_open_new - on the worker: m->newfd[i], the new/ of dirs[i] or of
 * its folder, checked again now (it may have become a symlink since the
 * open); *at the base it is in. where names it for the log. 0 or errno */

static int
maildir_open_new(struct maildir_msg *m, size_t i, int *at, char *where)
{
	int e;

	*at = m->folder[0] != '\0' ? m->ffd[i] : m->dfd[i];
	if ((e = maildir_path(where, "%s%s", m->dirs[i], m->folder)) != 0)
		return e;
	e = maildir_subdir(m, *at, where, "new", &m->newfd[i]);
	if (e == 0)
		e = maildir_path(where, "%s%s/new", m->dirs[i], m->folder);
	return e;
}

/* maildir_deliver - the worker's job: 0 when durably in every maildir */

static int
maildir_deliver(struct maildir_msg *m)
{
	char dst[PATH_MAX], where[PATH_MAX];	/* where: for the log */
	struct stat st;
	size_t i;
	int e, at;

	m->made = xcalloc(m->ndirs, sizeof(*m->made));
	m->ffd = xcalloc(m->ndirs, sizeof(*m->ffd));
	m->newfd = xcalloc(m->ndirs, sizeof(*m->newfd));
	for (i = 0; i < m->ndirs; i++)
		m->ffd[i] = m->newfd[i] = -1;
	e = m->werr;
	/* A folder (maildir_set_folder) first: a cheap failure, before any
	 * copy. The file stays in dirs[0]/tmp: same file system. */
	(void)maildir_path(where, "%s", m->dirs[0]);
	for (i = 0; e == 0 && m->folder[0] != '\0' && i < m->ndirs; i++)
		if ((e = maildir_folder_prepare(m, i)) != 0)
			(void)maildir_path(where, "%s%s", m->dirs[i], m->folder);
	if (e == 0)
		(void)maildir_path(where, "%s/tmp", m->dirs[0]);
	if (e == 0 && m->fd == -1)
		e = maildir_tmp_open(m, "", &m->fd, m->tmpname);
	if (e == 0)
		e = maildir_write_all(m->fd, m->buf, m->buflen);
	/* The data must be on disk before any name points to it; a late
	 * prepend makes a new file, fsynced by maildir_rewrite. */
	if (e == 0 && m->pre != NULL)
		e = maildir_rewrite(m);
	else if (e == 0 && fsync(m->fd) == -1)
		e = errno;
	if (e == 0 && fstat(m->fd, &st) == -1)
		e = errno;
	if (e == 0 && snprintf(m->final, sizeof(m->final), "%s,S=%jd",
	    m->name, (intmax_t)st.st_size) >= (int)sizeof(m->final))
		e = ENAMETOOLONG;
	for (i = 0; e == 0 && i < m->ndirs; i++) {
		/* new/ checked now, by descriptor: whatever it became since
		 * maildir_open, the link goes into a real directory. */
		if ((e = maildir_open_new(m, i, &at, where)) != 0 ||
		    (e = maildir_path(dst, "%s/%s", where, m->final)) != 0)
			break;
		/* Another file system (or a bind mount): copy. */
		if ((e = maildir_tmp_link(m, m->newfd[i], m->final)) == EXDEV)
			e = maildir_copy(m, i, at, st.st_size);
		if (e != 0)
			break;
		m->made[i] = xstrdup(dst);
	}
	/* close() can report a late write error (NFS): check it too. An
	 * unnamed file lives on in its links. */
	if (m->fd != -1 && close(m->fd) == -1 && e == 0)
		e = errno;
	m->fd = -1;
	for (i = 0; e == 0 && i < m->ndirs; i++) {
		(void)maildir_path(where, "%s%s/new", m->dirs[i], m->folder);
		e = maildir_sync_dir(m->newfd[i]);
	}
	for (i = 0; e == 0 && i < m->nsync; i++)
		if ((e = maildir_fsync_dir(m->syncdirs[i])) != 0)
			(void)maildir_path(where, "%s", m->syncdirs[i]);
	if (e != 0) {
		/* The session only says "delivery failed": name the place
		 * (a full disk, a ReadWritePaths= that misses it, a mode,
		 * a symlink planted in the maildir). */
		log_warn("maildir: delivery of %s failed in %.512s: %s",
		    m->id, where, strerror(e));
		maildir_rollback(m);
		return e;
	}

	/*
	 * Commit point: the message is durably in every new/. What is left
	 * is the tmp/ name, when the file has one: its removal need not be
	 * durable (a name that comes back after a crash is one more link
	 * to a delivered file, which the 36-hour cleaner removes), so no
	 * fsync of tmp/ waits for it. A failure is only logged: undoing a
	 * complete delivery now would be unreliable (a reader may already
	 * have moved the file to cur/) and would make the client resend.
	 */
	maildir_tmp_unlink(m, m->tmpname);
	return 0;
}

/* maildir_worker_main - take jobs until told to stop and the queue is empty */

static void *
maildir_worker_main(void *unused)
{
	struct maildir_msg *m;
	ssize_t n;
	int wake;

	(void)unused;
	pthread_mutex_lock(&maildir_w.lock);
	for (;;) {
		while (maildir_w.jobs == NULL && !maildir_w.stopping)
			pthread_cond_wait(&maildir_w.cond, &maildir_w.lock);
		if ((m = maildir_w.jobs) == NULL)
			break;		/* stopping, and nothing left */
		if ((maildir_w.jobs = m->next) == NULL)
			maildir_w.jobs_tail = &maildir_w.jobs;
		pthread_mutex_unlock(&maildir_w.lock);

		m->result = maildir_deliver(m);

		pthread_mutex_lock(&maildir_w.lock);
		m->next = NULL;
		wake = maildir_w.done == NULL;
		*maildir_w.done_tail = m;
		maildir_w.done_tail = &m->next;
		/* A byte only when the done queue was empty: the loop takes
		 * the whole queue at once, after draining the pipe, so a
		 * non-empty queue already has a byte coming for it. A full
		 * pipe already wakes the loop, so EAGAIN is fine. */
		while (wake && (n = write(maildir_w.wake[1], "", 1)) == -1 &&
		    errno == EINTR)
			continue;
	}
	pthread_mutex_unlock(&maildir_w.lock);
	return NULL;
}

/* maildir_run_done - on the loop thread: callbacks of finished jobs, in order */

static void
maildir_run_done(void)
{
	struct maildir_msg *m, *next;

	pthread_mutex_lock(&maildir_w.lock);
	m = maildir_w.done;
	maildir_w.done = NULL;
	maildir_w.done_tail = &maildir_w.done;
	pthread_mutex_unlock(&maildir_w.lock);
	for (; m != NULL; m = next) {
		next = m->next;
		/* The message stays valid during the callback. */
		if (!m->detached && m->cb != NULL)
			m->cb(m->arg, m->result);
		maildir_free(m);
	}
}

/* maildir_wake_cb - the worker finished something */

static void
maildir_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		continue;
	maildir_run_done();
}

/* maildir_worker_start - start the worker; 0, or -1 with errno */

int
maildir_worker_start(struct event_base *base)
{
	sigset_t all, old;
	int e, i;

	if (maildir_w.running) {
		errno = EBUSY;
		return -1;
	}
	maildir_tmp_probe();
	if (pipe(maildir_w.wake) == -1)
		return -1;
	for (i = 0; i < 2; i++)
		if (fcntl(maildir_w.wake[i], F_SETFD, FD_CLOEXEC) == -1 ||
		    fcntl(maildir_w.wake[i], F_SETFL, O_NONBLOCK) == -1) {
			e = errno;
			goto fail;
		}
	maildir_w.jobs = maildir_w.done = NULL;
	maildir_w.jobs_tail = &maildir_w.jobs;
	maildir_w.done_tail = &maildir_w.done;
	maildir_w.stopping = 0;
	maildir_w.ev = event_new(base, maildir_w.wake[0], EV_READ | EV_PERSIST,
	    maildir_wake_cb, NULL);
	if (maildir_w.ev == NULL || event_add(maildir_w.ev, NULL) == -1) {
		e = ENOMEM;
		goto fail;
	}
	/* The threads inherit the mask: signals stay with the loop. Fewer
	 * workers than asked for still deliver, only slower. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (maildir_w.nthreads = 0; maildir_w.nthreads < MAILDIR_WORKERS;
	    maildir_w.nthreads++)
		if ((e = pthread_create(&maildir_w.thread[maildir_w.nthreads],
		    NULL, maildir_worker_main, NULL)) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (maildir_w.nthreads == 0)
		goto fail;
	if (maildir_w.nthreads < MAILDIR_WORKERS)
		log_warn("maildir: %d of %d workers: %s", maildir_w.nthreads,
		    MAILDIR_WORKERS, strerror(e));
	maildir_w.running = 1;
	return 0;

fail:
	if (maildir_w.ev != NULL)
		event_free(maildir_w.ev);
	maildir_w.ev = NULL;
	close(maildir_w.wake[0]);
	close(maildir_w.wake[1]);
	maildir_w.wake[0] = maildir_w.wake[1] = -1;
	errno = e;
	return -1;
}

/* maildir_worker_stop - finish every queued job, join the worker, then run
 * the remaining callbacks here, on the calling (loop) thread. Call it before
 * event_base_free(): the callbacks need no dispatching loop, only live
 * owners; an owner that is already gone must have detached its message. */

void
maildir_worker_stop(void)
{
	if (!maildir_w.running)
		return;
	pthread_mutex_lock(&maildir_w.lock);
	maildir_w.stopping = 1;
	pthread_cond_broadcast(&maildir_w.cond);
	pthread_mutex_unlock(&maildir_w.lock);
	while (maildir_w.nthreads > 0)
		pthread_join(maildir_w.thread[--maildir_w.nthreads], NULL);
	maildir_w.running = 0;
	event_free(maildir_w.ev);
	maildir_w.ev = NULL;
	close(maildir_w.wake[0]);
	close(maildir_w.wake[1]);
	maildir_w.wake[0] = maildir_w.wake[1] = -1;
	maildir_run_done();
}

/* maildir_commit - hand over to the worker; cb(arg, 0 or errno) runs later
 * on the loop thread, and the message is freed when it returns */

void
maildir_commit(struct maildir_msg *m, maildir_done_fn *cb, void *arg)
{
	if (!maildir_w.running) {
		/* A programming error: nobody could ever answer. */
		log_crit("maildir_commit: worker not running");
		abort();
	}
	m->cb = cb;
	m->arg = arg;
	m->committed = 1;
	pthread_mutex_lock(&maildir_w.lock);
	m->next = NULL;
	*maildir_w.jobs_tail = m;
	maildir_w.jobs_tail = &m->next;
	pthread_cond_signal(&maildir_w.cond);
	pthread_mutex_unlock(&maildir_w.lock);
}

/* maildir_detach - the owner is going away (its client hung up, or the
 * session timed out) while the worker has the message. The worker cannot
 * be stopped halfway without risking a half-made delivery, so it finishes
 * and the message may well land although no 250 was sent; the client will
 * then retry and the recipient may get it twice. RFC 5321 §6.1 prefers
 * that to loss, and so do we. No callback runs; the loop frees it. Before
 * commit there is nothing the worker owns, so this is maildir_abort(). */

void
maildir_detach(struct maildir_msg *m)
{
	if (m == NULL)
		return;
	if (!m->committed) {
		maildir_abort(m);
		return;
	}
	m->detached = 1;
}

/* maildir_abort - before commit: close and unlink the tmp file, free */

void
maildir_abort(struct maildir_msg *m)
{
	if (m == NULL)
		return;
	if (m->committed) {
		log_warn("maildir_abort after commit of %s; detaching", m->id);
		m->detached = 1;
		return;
	}
	maildir_tmp_unlink(m, m->tmpname);
	maildir_free(m);
}

/* maildir_msg_id - "SECONDS.M<usec>P<pid>Q<seq>", valid while m is */

const char *
maildir_msg_id(const struct maildir_msg *m)
{
	return m->id;
}
