/* maildir_sync.c - group commit of directory fsyncs: deliveries that linked
 * into the same new/ while one fsync of it was running share the next one.
 *
 *	maildir_sync_dir - on a worker, after its link into the directory fd:
 *	    return once an fsync of that directory that began after the link
 *	    has succeeded (its own, or another worker's); 0 or errno
 *
 * Why: with one recipient per message, every delivery of a busy domain
 * goes into the same few new/ directories, and each fsync of a directory
 * is a synchronous write of its blocks (more on ext4 without a journal).
 * Twenty workers fsyncing one directory one after the other write the
 * same block twenty times. Instead, a link takes a ticket; a worker whose
 * ticket is not yet covered either starts an fsync that covers every
 * ticket taken so far, or, when one is already running (it may have begun
 * before our link), waits for it and looks again. The durability contract
 * does not move: no worker returns before an fsync that started after its
 * own link completed, which is what fsync(2) of the directory promises
 * for the entry (POSIX; ext4, XFS and btrfs sync the directory inode
 * whichever descriptor asks). A failed fsync covers nobody: each waiter
 * then tries its own and reports its own error.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "strictmx.h"
#include "xmalloc.h"
#include "maildir.h"
#include "maildir_int.h"

/* One directory some worker is syncing or waiting on; freed when unused. */
struct maildir_dirsync {
	struct maildir_dirsync *next;
	dev_t		 dev;
	ino_t		 ino;
	uint64_t	 linked;	/* tickets handed out */
	uint64_t	 synced;	/* every ticket up to this is durable */
	int		 busy;		/* an fsync of it is running */
	int		 users;		/* workers holding a ticket */
};

static pthread_mutex_t maildir_sync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t maildir_sync_cond = PTHREAD_COND_INITIALIZER;
static struct maildir_dirsync *maildir_syncs;	/* at most one per worker */

/* maildir_sync_get - the entry of (dev, ino), made when missing; locked */

static struct maildir_dirsync *
maildir_sync_get(dev_t dev, ino_t ino)
{
	struct maildir_dirsync *d;

	for (d = maildir_syncs; d != NULL; d = d->next)
		if (d->dev == dev && d->ino == ino)
			break;
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->dev = dev;
		d->ino = ino;
		d->next = maildir_syncs;
		maildir_syncs = d;
	}
	d->users++;
	return d;
}

/* maildir_sync_put - drop a user; the last one frees the entry; locked */

static void
maildir_sync_put(struct maildir_dirsync *d)
{
	struct maildir_dirsync **pp;

	if (--d->users > 0)
		return;
	for (pp = &maildir_syncs; *pp != d; pp = &(*pp)->next)
		continue;
	*pp = d->next;
	free(d);
}

/* maildir_sync_dir - see the top of the file */

int
maildir_sync_dir(int fd)
{
	struct maildir_dirsync *d;
	struct stat st;
	uint64_t ticket, target;
	int e = 0;

	if (fstat(fd, &st) == -1)
		return errno;
	pthread_mutex_lock(&maildir_sync_lock);
	d = maildir_sync_get(st.st_dev, st.st_ino);
	ticket = ++d->linked;
	while (d->synced < ticket) {
		if (d->busy) {
			pthread_cond_wait(&maildir_sync_cond,
			    &maildir_sync_lock);
			continue;
		}
		/* Ours covers every link made before this point. */
		d->busy = 1;
		target = d->linked;
		pthread_mutex_unlock(&maildir_sync_lock);
		e = maildir_fsync_fd(fd);
		pthread_mutex_lock(&maildir_sync_lock);
		d->busy = 0;
		if (e == 0 && target > d->synced)
			d->synced = target;
		pthread_cond_broadcast(&maildir_sync_cond);
		if (e != 0)
			break;
	}
	maildir_sync_put(d);
	pthread_mutex_unlock(&maildir_sync_lock);
	return e;
}
