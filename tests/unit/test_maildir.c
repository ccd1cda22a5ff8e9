/* test_maildir.c - unit tests of durable maildir delivery (smtpd/maildir.c)
 * with a real event loop, a real worker thread and real directories.
 *
 *	case "maildir": delivery, dedup, rollback, abort, detach, 50 in a row,
 *	  and the group commit of new/ fsyncs (this file interposes fsync and
 *	  linkat to slow the directory fsyncs down and to watch them)
 *	cases "maildir", "prepend" and "mount" run twice: with the message an
 *	  unnamed O_TMPFILE until its link into new/, and ("...-named") with
 *	  the tmp/NAME file of file systems without O_TMPFILE
 *	case "prepend": maildir_prepend in memory and by the worker's rewrite
 *	  (copy_file_range, and its read/write fallback: this file interposes
 *	  copy_file_range to make it fail), with several maildirs
 *	case "folder": maildir_set_folder (Maildir++ .Junk), names refused
 *	case "symlink": a maildir, its tmp/ or new/, a folder or the folder's
 *	  new/ replaced by a symlink: refused (ELOOP), nothing written there
 *	case "mount": ENOSPC and EXDEV on a 64 KiB tmpfs in a private mount
 *	  namespace (unshare(CLONE_NEWNS), invisible to the host); skipped with
 *	  a note when not permitted (not root) or when STRICTMX_TEST_MOUNT=0.
 *	  Run it alone with CK_RUN_CASE=mount.
 */
#define _GNU_SOURCE 1		/* unshare() */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "maildir.h"
#include "maildir_int.h"	/* MAILDIR_BUFSIZE, MAILDIR_PREPEND_MAX */

#define HOST		"mx.example/x:y"
#define HOST_ESC	"mx\\.example\\\\057x\\\\072y"	/* as a regex */

static char root[PATH_MAX];
static struct event_base *base;

/* One commit's outcome, as the callback saw it. */
struct done {
	int	 called;
	int	 err;
	int	 order;
	const char *id;		/* test_group_commit: check this one */
	int	 covered;	/* its link was durable at the callback */
};
static int done_order;
static int gc_covered(const char *);
static int named;	/* this case runs the tmp/NAME path */

static const char *path(const char *, const char *);
static char path_arena[512][PATH_MAX];	/* path() results, per test */
static size_t path_next;

static void
done_cb(void *arg, int err)
{
	struct done *d = arg;

	d->called++;
	d->err = err;
	d->order = done_order++;
	if (d->id != NULL)
		d->covered = gc_covered(d->id);
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	umask(022);
	snprintf(root, sizeof(root), "/tmp/test_maildir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(maildir_worker_start(base), 0);
	done_order = 0;
	path_next = 0;
	/* /proc is there: the daemon's path is the unnamed file */
	ck_assert_int_eq(maildir_tmp_unnamed, 1);
	named = 0;
}

/* setup_named - as on a file system without O_TMPFILE (NFS) */

static void
setup_named(void)
{
	setup();
	maildir_tmp_unnamed = 0;
	named = 1;
}

/* open_in_tmp - how many of our descriptors are files of dir/tmp (named
 * or not: /proc shows an O_TMPFILE as "dir/tmp/#INODE (deleted)") */

static int
open_in_tmp(const char *dir)
{
	char prefix[PATH_MAX + 8], fdpath[300], target[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	ssize_t n;
	int count = 0;

	ck_assert_ptr_nonnull(d);
	snprintf(prefix, sizeof(prefix), "%s/tmp/", dir);
	while ((de = readdir(d)) != NULL) {
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%s", de->d_name);
		n = readlink(fdpath, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, prefix, strlen(prefix)) == 0)
			count++;
	}
	closedir(d);
	return count;
}

static void
teardown(void)
{
	maildir_worker_stop();
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	/* After a failed test_enospc or test_prepend_enospc: */
	(void)umount2(path("small", NULL), MNT_DETACH);
	(void)umount2(path("mid", NULL), MNT_DETACH);
	nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* path - root-relative path; each call has its own buffer for the whole test */

static const char *
path(const char *fmt, const char *arg)
{
	char rel[256];
	char *p;
	int n;

	ck_assert_msg(path_next < 512, "path arena exhausted");
	p = path_arena[path_next++];

	n = snprintf(rel, sizeof(rel), fmt, arg ? arg : "");
	ck_assert(n >= 0 && (size_t)n < sizeof(rel));
	n = snprintf(p, PATH_MAX, "%s/%s", root, rel);
	ck_assert(n >= 0 && n < PATH_MAX);
	return p;
}

/* entries - number of names in dir; the first one copied to name */

static int
entries(const char *dir, char *name, size_t size)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n++ == 0 && name != NULL)
			snprintf(name, size, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* slurp - a whole file */

static char *
slurp(const char *file, size_t *len)
{
	struct stat st;
	char *p;
	int fd = open(file, O_RDONLY);

	ck_assert_msg(fd != -1, "open %s: %s", file, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static int
mode_of(const char *file)
{
	struct stat st;

	ck_assert_msg(stat(file, &st) == 0, "stat %s", file);
	return (int)(st.st_mode & 07777);
}

/* wait_done - run the loop until the callback has run */

static void
wait_done(struct done *d)
{
	while (!d->called)
		ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
}

/* body - a test message of len octets, numbered */

static char *
body(size_t len, int num)
{
	char *p = malloc(len);
	size_t i;
	int n;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (char)('a' + (i * 7 + (size_t)num) % 26);
	for (i = 79; i < len; i += 80)
		p[i] = '\n';
	n = snprintf(p, len, "Subject: %d\n", num);
	p[n] = '\n';
	return p;
}

/* write_msg - write p in uneven pieces, as the DATA sink would */

static void
write_msg(struct maildir_msg *m, const char *p, size_t len)
{
	size_t off = 0, n = 1;

	while (off < len) {
		if (n > len - off)
			n = len - off;
		ck_assert_int_eq(maildir_write(m, p + off, n), 0);
		off += n;
		n = n * 3 + 1;
	}
}

/* check_delivered - dir/new holds exactly one file: p, with a proper name */

static void
check_delivered(const char *dir, const char *id, const char *p, size_t len)
{
	char name[NAME_MAX + 1], file[PATH_MAX + NAME_MAX + 2];
	regmatch_t sub[2];
	regex_t re;
	size_t got;
	char *q;

	snprintf(file, sizeof(file), "%s/new", dir);
	ck_assert_int_eq(entries(file, name, sizeof(name)), 1);
	ck_assert_int_eq(regcomp(&re, "^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+\\."
	    HOST_ESC ",S=([0-9]+)$", REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, name, 2, sub, 0) == 0, "name %s", name);
	regfree(&re);
	ck_assert_uint_eq(strtoull(name + sub[1].rm_so, NULL, 10), len);
	ck_assert_msg(strncmp(name, id, strlen(id)) == 0 &&
	    name[strlen(id)] == '.', "id %s, name %s", id, name);
	snprintf(file, sizeof(file), "%s/new/%s", dir, name);
	ck_assert_int_eq(mode_of(file), 0600);
	q = slurp(file, &got);
	ck_assert_uint_eq(got, len);
	ck_assert(memcmp(p, q, len) == 0);
	free(q);
	snprintf(file, sizeof(file), "%s/tmp", dir);
	ck_assert_int_eq(entries(file, NULL, 0), 0);
}

/* Three recipients, two sharing a maildir: two files, same bytes. */
START_TEST(test_deliver)
{
	const char *a = path("deep/er/a", NULL), *b = path("b", NULL);
	const char *dirs[3] = { a, b, a };
	const char *sub[] = { "deep", "deep/er", "deep/er/a", "deep/er/a/tmp",
	    "deep/er/a/new", "deep/er/a/cur", "b/tmp", "b/new", "b/cur" };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	size_t len = 150000, i;
	char *p = body(len, 1), id[128];
	int err = 0;

	m = maildir_open(dirs, 3, HOST, &err);
	ck_assert_msg(m != NULL, "open: %s", strerror(err));
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	ck_assert_msg(strchr(id, '/') == NULL && strlen(id) > 10, "id %s", id);
	/* No file before the first flush of the write buffer... */
	ck_assert_int_eq(entries(path("deep/er/a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(open_in_tmp(path("deep/er/a", NULL)), 0);
	write_msg(m, p, len);
	/* ...then one, with a name in tmp/ only where it must have one. */
	ck_assert_int_eq(open_in_tmp(path("deep/er/a", NULL)), 1);
	ck_assert_int_eq(entries(path("deep/er/a/tmp", NULL), NULL, 0), named);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.err, 0);
	check_delivered(a, id, p, len);
	check_delivered(b, id, p, len);
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		ck_assert_msg(mode_of(path("%s", sub[i])) == 0700, "%s mode %o",
		    sub[i], mode_of(path("%s", sub[i])));
	free(p);
}
END_TEST

/* The same maildir spelled three ways is still one maildir. */
START_TEST(test_dedup_spelling)
{
	const char *dirs[3] = { path("c", NULL), path("c/", NULL),
	    path("./c/../c", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char id[128];
	int err = 0;

	m = maildir_open(dirs, 3, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	write_msg(m, "x\n", 2);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	check_delivered(dirs[0], id, "x\n", 2);
}
END_TEST

/* One recipient fails at link time: no copy is left anywhere. */
START_TEST(test_rollback)
{
	const char *dirs[3] = { path("a", NULL), path("c", NULL),
	    path("b", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char *p = body(5000, 2);
	int err = 0, fd;

	m = maildir_open(dirs, 3, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, p, 5000);
	/* Make b's new/ a regular file now, after the open checked it. */
	ck_assert_int_eq(rmdir(path("b/new", NULL)), 0);
	fd = open(path("b/new", NULL), O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, ENOTDIR);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("c/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("c/tmp", NULL), NULL, 0), 0);
	free(p);
}
END_TEST

/* Opening fails cleanly: a bad maildir, bad arguments, long names. */
START_TEST(test_open_errors)
{
	const char *dirs[2] = { path("a", NULL), path("c", NULL) };
	const char *rel[1] = { "relative/maildir" };
	char longhost[300], longpath[PATH_MAX + 10];
	const char *lp[1] = { longpath };
	size_t off;
	int err = 0, fd;

	ck_assert_int_eq(mkdir(path("c", NULL), 0700), 0);
	fd = open(path("c/new", NULL), O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	ck_assert_ptr_null(maildir_open(dirs, 2, HOST, &err));
	ck_assert_int_eq(err, ENOTDIR);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);

	err = 0;
	ck_assert_ptr_null(maildir_open(dirs, 0, HOST, &err));
	ck_assert_int_eq(err, EINVAL);
	err = 0;
	ck_assert_ptr_null(maildir_open(rel, 1, HOST, &err));
	ck_assert_int_eq(err, EINVAL);
	err = 0;
	ck_assert_ptr_null(maildir_open(dirs, 1, "", &err));
	ck_assert_int_eq(err, EINVAL);

	/* 200 octets of ':' escape to 800: too long for a name. */
	memset(longhost, ':', 200);
	longhost[200] = '\0';
	err = 0;
	ck_assert_ptr_null(maildir_open(dirs, 1, longhost, &err));
	ck_assert_int_eq(err, ENAMETOOLONG);
	memset(longhost, 'h', 240);
	longhost[240] = '\0';
	err = 0;
	ck_assert_ptr_null(maildir_open(dirs, 1, longhost, &err));
	ck_assert_int_eq(err, ENAMETOOLONG);

	snprintf(longpath, sizeof(longpath), "%s/", root);
	off = strlen(longpath);
	memset(longpath + off, 'p', sizeof(longpath) - off - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	err = 0;
	ck_assert_ptr_null(maildir_open(lp, 1, HOST, &err));
	ck_assert_int_eq(err, ENAMETOOLONG);
	/* Nothing was left behind by any of these. */
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
}
END_TEST

/* Abort before commit leaves nothing. */
START_TEST(test_abort)
{
	const char *dirs[2] = { path("a", NULL), path("b", NULL) };
	struct maildir_msg *m;
	char *p = body(100000, 3);
	int err = 0;

	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, p, 100000);
	ck_assert_int_eq(open_in_tmp(path("a", NULL)), 1);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), named);
	maildir_abort(m);
	ck_assert_int_eq(open_in_tmp(path("a", NULL)), 0);
	maildir_abort(NULL);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/new", NULL), NULL, 0), 0);
	/* Detach before commit is an abort. */
	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, p, 10);
	maildir_detach(m);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	free(p);
}
END_TEST

/* Detach after commit: no callback, but the message lands (and is freed). */
START_TEST(test_detach)
{
	const char *dirs[1] = { path("a", NULL) };
	const char *dirs2[1] = { path("b", NULL) };
	struct maildir_msg *m, *m2;
	struct done d = { 0, -1, 0, NULL, 0 }, d2 = { 0, -1, 0, NULL, 0 };
	char id[128];
	int err = 0;

	m = maildir_open(dirs, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	write_msg(m, "detached\n", 9);
	maildir_commit(m, done_cb, &d);
	maildir_detach(m);
	m2 = maildir_open(dirs2, 1, HOST, &err);
	ck_assert_ptr_nonnull(m2);
	write_msg(m2, "second\n", 7);
	maildir_commit(m2, done_cb, &d2);
	wait_done(&d2);
	ck_assert_int_eq(d2.err, 0);
	/* The workers finish every queued job before they stop: the
	 * detached message is delivered, and its owner never called. */
	maildir_worker_stop();
	ck_assert_int_eq(d.called, 0);
	check_delivered(dirs[0], id, "detached\n", 9);
}
END_TEST

/* Stopping the worker finishes its queue and runs the callbacks. */
START_TEST(test_stop_drains)
{
	const char *dirs[1] = { path("a", NULL) };
	struct maildir_msg *m, *m2;
	struct done d = { 0, -1, 0, NULL, 0 }, d2 = { 0, -1, 0, NULL, 0 };
	int err = 0;

	m = maildir_open(dirs, 1, HOST, &err);
	m2 = maildir_open(dirs, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(m2);
	write_msg(m, "one\n", 4);
	write_msg(m2, "two\n", 4);
	maildir_commit(m, done_cb, &d);
	maildir_commit(m2, done_cb, &d2);
	maildir_detach(m2);
	maildir_worker_stop();
	ck_assert_int_eq(d.called, 1);
	ck_assert_int_eq(d.err, 0);
	ck_assert_int_eq(d2.called, 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 2);
	/* And it can start again. */
	ck_assert_int_eq(maildir_worker_start(base), 0);
	ck_assert_int_eq(maildir_worker_start(base), -1);
}
END_TEST


/*
 * Group commit (maildir_sync.c). While gc_on, this file's fsync and linkat
 * stand in for libc's (a definition in the program wins over the archive's,
 * as for copy_file_range below): each link into a new/ gets an ordinal,
 * and an fsync of a directory is slow (5 ms, a busy disk) and, once done,
 * makes durable every link made before it began. A message whose callback
 * runs before its link is durable is a broken promise of the 250.
 */
static int gc_on;
static unsigned long gc_links;		/* links made so far */
static unsigned long gc_durable;	/* links 1..this are durable */
static unsigned gc_dir_fsyncs;
static pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char		 name[NAME_MAX + 1];
	unsigned long	 ord;
} gc_link[64];
static int gc_nlink;

int
fsync(int fd)
{
	struct stat st;
	unsigned long start;
	long r;

	if (!__atomic_load_n(&gc_on, __ATOMIC_SEQ_CST) ||
	    fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode))
		return (int)syscall(SYS_fsync, fd);
	start = __atomic_load_n(&gc_links, __ATOMIC_SEQ_CST);
	usleep(5000);
	r = syscall(SYS_fsync, fd);
	pthread_mutex_lock(&gc_lock);
	gc_dir_fsyncs++;
	if (r == 0 && start > gc_durable)
		gc_durable = start;
	pthread_mutex_unlock(&gc_lock);
	return (int)r;
}

int
linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
    int flags)
{
	long r = syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath,
	    flags);

	if (r == 0 && __atomic_load_n(&gc_on, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&gc_lock);
		ck_assert_int_lt(gc_nlink, 64);
		snprintf(gc_link[gc_nlink].name, sizeof(gc_link[0].name),
		    "%s", newpath);
		gc_link[gc_nlink++].ord = ++gc_links;
		pthread_mutex_unlock(&gc_lock);
	}
	return (int)r;
}

/* gc_covered - 1 when the link of message id is durable by now */

static int
gc_covered(const char *id)
{
	size_t len = strlen(id);
	int i, ok = 0;

	pthread_mutex_lock(&gc_lock);
	for (i = 0; i < gc_nlink; i++)
		if (strncmp(gc_link[i].name, id, len) == 0 &&
		    gc_link[i].name[len] == '.')
			ok = gc_link[i].ord <= gc_durable;
	pthread_mutex_unlock(&gc_lock);
	return ok;
}

/* 40 messages into one maildir at once over a slow disk: every 250 waits
 * for an fsync of new/ that began after its link, and they share them. */
START_TEST(test_group_commit)
{
	enum { N = 40 };
	const char *dirs[1] = { path("a", NULL) };
	static const char *const sub[] = { "a", "a/tmp", "a/new", "a/cur" };
	struct done d[N];
	char ids[N][128], *p;
	struct maildir_msg *m;
	int i, err = 0;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(mkdir(path("%s", sub[i]), 0700), 0);
	gc_links = gc_durable = 0;
	gc_dir_fsyncs = 0;
	gc_nlink = 0;
	__atomic_store_n(&gc_on, 1, __ATOMIC_SEQ_CST);
	p = body(2000, 7);
	for (i = 0; i < N; i++) {
		m = maildir_open(dirs, 1, HOST, &err);
		ck_assert_ptr_nonnull(m);
		snprintf(ids[i], sizeof(ids[i]), "%s", maildir_msg_id(m));
		write_msg(m, p, 2000);
		memset(&d[i], 0, sizeof(d[i]));
		d[i].id = ids[i];
		maildir_commit(m, done_cb, &d[i]);
	}
	for (i = 0; i < N; i++) {
		wait_done(&d[i]);
		ck_assert_int_eq(d[i].err, 0);
		ck_assert_msg(d[i].covered, "message %d: callback before its "
		    "link was synced", i);
	}
	__atomic_store_n(&gc_on, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(gc_nlink, N);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), N);
	/* Shared: far fewer directory fsyncs than messages. */
	ck_assert_msg(gc_dir_fsyncs >= 1 && gc_dir_fsyncs <= N / 2,
	    "%u directory fsyncs for %d messages", gc_dir_fsyncs, N);
	free(p);
}
END_TEST

/* Fifty messages committed back to back all land, each reported once
 * (in completion order: the workers run in parallel). */
START_TEST(test_fifty)
{
	enum { N = 50 };
	const char *dirs[2] = { path("a", NULL), path("b", NULL) };
	struct done d[N];
	char ids[N][128], *p[N], name[NAME_MAX + 1], file[2 * PATH_MAX];
	struct maildir_msg *m;
	struct dirent *de;
	size_t len[N], got;
	int i, j, err = 0, seen[N];
	DIR *dir;
	char *q;

	for (i = 0; i < N; i++) {
		len[i] = 100 + (size_t)i * 1500;
		p[i] = body(len[i], i);
		m = maildir_open(dirs, 2, HOST, &err);
		ck_assert_ptr_nonnull(m);
		snprintf(ids[i], sizeof(ids[i]), "%s", maildir_msg_id(m));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
		write_msg(m, p[i], len[i]);
		d[i].called = 0;
		maildir_commit(m, done_cb, &d[i]);
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < N; i++) {
		wait_done(&d[i]);
		ck_assert_int_eq(d[i].err, 0);
		ck_assert_int_eq(d[i].called, 1);
		ck_assert(d[i].order >= 0 && d[i].order < N);
		ck_assert_int_eq(seen[d[i].order]++, 0);
	}
	ck_assert_int_eq(entries(dirs[0], NULL, 0), 3);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), N);
	ck_assert_int_eq(entries(path("b/new", NULL), NULL, 0), N);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	memset(seen, 0, sizeof(seen));
	dir = opendir(path("b/new", NULL));
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%s", de->d_name);
		for (i = 0; i < N; i++)
			if (strncmp(name, ids[i], strlen(ids[i])) == 0 &&
			    name[strlen(ids[i])] == '.')
				break;
		ck_assert_msg(i < N, "unexpected %s", name);
		seen[i]++;
		snprintf(file, sizeof(file), "%s/%s", path("b/new", NULL), name);
		q = slurp(file, &got);
		ck_assert_uint_eq(got, len[i]);
		ck_assert(memcmp(q, p[i], got) == 0);
		free(q);
	}
	closedir(dir);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(seen[i], 1);
		free(p[i]);
	}
}
END_TEST

/*
 * The "prepend" case. copy_file_range is interposed here (the test binary's
 * definition wins over libc's for libstrictmx.a): cfr_fail makes it fail
 * with that errno, cfr_calls proves that the worker really went through it.
 */

static int cfr_fail;		/* set before commit: the queue's mutex orders it */
static int cfr_calls;

ssize_t
copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len,
    unsigned int flags)
{
	__atomic_add_fetch(&cfr_calls, 1, __ATOMIC_SEQ_CST);
	if (cfr_fail != 0) {
		errno = cfr_fail;
		return -1;
	}
	return syscall(SYS_copy_file_range, in, inoff, out, outoff, len, flags);
}

#define PRE	"Return-Path: <a@b.example>\nReceived: from x by y; now\n" \
		"Authentication-Results: mx.example; dkim=pass\n"

/* cat2 - a + b, malloc'ed */

static char *
cat2(const char *a, size_t alen, const char *b, size_t blen)
{
	char *p = malloc(alen + blen);

	ck_assert_ptr_nonnull(p);
	memcpy(p, a, alen);
	memcpy(p + alen, b, blen);
	return p;
}

/* new_stat - stat of the one file in dir/new */

static void
new_stat(const char *dir, struct stat *st)
{
	char name[NAME_MAX + 1], file[PATH_MAX + NAME_MAX + 8];

	snprintf(file, sizeof(file), "%s/new", dir);
	ck_assert_int_eq(entries(file, name, sizeof(name)), 1);
	snprintf(file, sizeof(file), "%s/new/%s", dir, name);
	ck_assert_int_eq(stat(file, st), 0);
}

/* deliver_pre - open dirs, write len octets of body num, prepend PRE,
 * commit, wait; the id in id[128], the expected bytes returned; *mem tells
 * whether the message was still all in memory (no file made yet) */

static char *
deliver_pre(const char **dirs, size_t n, size_t len, int num, char *id,
    int *mem, int want_err)
{
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char *p = body(len < 64 ? 64 : len, num), *want;	/* body() needs 64 */
	int err = 0;

	m = maildir_open(dirs, n, HOST, &err);
	ck_assert_msg(m != NULL, "open: %s", strerror(err));
	snprintf(id, 128, "%s", maildir_msg_id(m));
	write_msg(m, p, len);
	ck_assert_int_eq(maildir_prepend(m, PRE, strlen(PRE)), 0);
	*mem = open_in_tmp(dirs[0]) == 0;
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.called, 1);
	ck_assert_msg(d.err == want_err, "err %s, want %s", strerror(d.err),
	    strerror(want_err));
	want = cat2(PRE, strlen(PRE), p, len);
	free(p);
	return want;
}

/* A small message: the text goes in front in memory, one file, exact. */
START_TEST(test_prepend_small)
{
	const char *dirs[1] = { path("a", NULL) };
	size_t lens[] = { 0, 1, 2000, MAILDIR_BUFSIZE - 1 }, i;
	char id[128], *want;
	int mem;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		cfr_calls = 0;
		want = deliver_pre(dirs, 1, lens[i], (int)i, id, &mem, 0);
		ck_assert_msg(mem, "len %zu: written before commit", lens[i]);
		check_delivered(dirs[0], id, want, strlen(PRE) + lens[i]);
		ck_assert_int_eq(cfr_calls, 0);	/* no rewrite */
		free(want);
		/* Empty new/ for the next round. */
		nftw(path("a/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
		ck_assert_int_eq(mkdir(path("a/new", NULL), 0700), 0);
	}
}
END_TEST

/* Larger than the write buffer: the worker rewrites the file (in-kernel
 * copy); exact bytes, S= right, no tmp file left, one inode for both
 * maildirs (hard links), the same maildir twice is one copy. */
START_TEST(test_prepend_large)
{
	const char *a = path("a", NULL), *b = path("b", NULL);
	const char *dirs[3] = { a, b, a };
	size_t lens[] = { MAILDIR_BUFSIZE, 150000, 3 * 1024 * 1024 + 7 }, i;
	struct stat sa, sb;
	char id[128], *want;
	int mem;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		cfr_calls = 0;
		want = deliver_pre(dirs, 3, lens[i], (int)i, id, &mem, 0);
		ck_assert_msg(!mem, "len %zu: nothing written", lens[i]);
		ck_assert_int_gt(cfr_calls, 0);
		check_delivered(a, id, want, strlen(PRE) + lens[i]);
		check_delivered(b, id, want, strlen(PRE) + lens[i]);
		new_stat(a, &sa);
		new_stat(b, &sb);
		ck_assert(sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);
		ck_assert_int_eq(sa.st_nlink, 2);
		free(want);
		nftw(path("a/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
		nftw(path("b/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
		ck_assert_int_eq(mkdir(path("a/new", NULL), 0700), 0);
		ck_assert_int_eq(mkdir(path("b/new", NULL), 0700), 0);
	}
}
END_TEST

/* copy_file_range unavailable: the read/write loop gives the same bytes;
 * any other copy error fails the delivery and leaves no file. */
START_TEST(test_prepend_fallback)
{
	const char *a = path("a", NULL), *b = path("b", NULL);
	const char *dirs[2] = { a, b };
	const int fall[] = { EXDEV, ENOSYS, EOPNOTSUPP };
	size_t len = 200001, i;
	char id[128], *want;
	int mem;

	for (i = 0; i < sizeof(fall) / sizeof(fall[0]); i++) {
		cfr_fail = fall[i];
		cfr_calls = 0;
		want = deliver_pre(dirs, 2, len, (int)i, id, &mem, 0);
		ck_assert_int_eq(cfr_calls, 1);	/* then read/write */
		check_delivered(a, id, want, strlen(PRE) + len);
		check_delivered(b, id, want, strlen(PRE) + len);
		free(want);
		nftw(path("a/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
		nftw(path("b/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
		ck_assert_int_eq(mkdir(path("a/new", NULL), 0700), 0);
		ck_assert_int_eq(mkdir(path("b/new", NULL), 0700), 0);
	}
	cfr_fail = EIO;
	want = deliver_pre(dirs, 2, len, 9, id, &mem, EIO);
	cfr_fail = 0;
	free(want);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/new", NULL), NULL, 0), 0);
}
END_TEST

/* The rewrite succeeds, then a link fails: the new file goes too. */
START_TEST(test_prepend_rollback)
{
	const char *dirs[2] = { path("a", NULL), path("b", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char *p = body(100000, 5);
	int err = 0, fd;

	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, p, 100000);
	ck_assert_int_eq(maildir_prepend(m, PRE, strlen(PRE)), 0);
	ck_assert_int_eq(rmdir(path("b/new", NULL)), 0);
	fd = open(path("b/new", NULL), O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	cfr_calls = 0;
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, ENOTDIR);
	ck_assert_int_gt(cfr_calls, 0);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/tmp", NULL), NULL, 0), 0);
	free(p);
}
END_TEST

/* The contract: once, before commit, bounded; no write after it. */
START_TEST(test_prepend_misuse)
{
	const char *dirs[1] = { path("a", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char *big = calloc(1, MAILDIR_PREPEND_MAX + MAILDIR_BUFSIZE), id[128];
	int err = 0;

	ck_assert_ptr_nonnull(big);
	m = maildir_open(dirs, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	write_msg(m, "body\n", 5);
	ck_assert_int_eq(maildir_prepend(m, big, MAILDIR_PREPEND_MAX + 1), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(maildir_prepend(m, "H: 1\n", 5), 0);
	ck_assert_int_eq(maildir_prepend(m, "H: 2\n", 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(maildir_write(m, "more\n", 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	check_delivered(dirs[0], id, "H: 1\nbody\n", 10);
	/* Abort after a late prepend: nothing left either. */
	m = maildir_open(dirs, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, big, MAILDIR_BUFSIZE + 10);
	ck_assert_int_eq(maildir_prepend(m, "H: 1\n", 5), 0);
	maildir_abort(m);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	free(big);
}
END_TEST

/*
 * The "folder" case.
 */

/* check_folder - dir/name is a Maildir++ folder as Dovecot expects it */

static void
check_folder(const char *dir, const char *name)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char file[PATH_MAX + 64];
	struct stat st;
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(file, sizeof(file), "%s/%s%s", dir, name, sub[i]);
		ck_assert_msg(stat(file, &st) == 0 && S_ISDIR(st.st_mode),
		    "%s", file);
		ck_assert_msg((st.st_mode & 07777) == 0700, "%s mode %o", file,
		    (int)(st.st_mode & 07777));
	}
	snprintf(file, sizeof(file), "%s/%s/maildirfolder", dir, name);
	ck_assert_msg(lstat(file, &st) == 0 && S_ISREG(st.st_mode), "%s", file);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
}

/* Into .Junk of two maildirs (one new, one with an inbox already), small
 * then large with prepend: the inbox stays empty, links in both. */
START_TEST(test_folder)
{
	const char *a = path("a", NULL), *b = path("deep/b", NULL);
	const char *ja = path("a/.Junk", NULL), *jb = path("deep/b/.Junk", NULL);
	const char *dirs[2] = { a, b };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	struct stat sa, sb;
	char id[128], id2[128], *p = body(300000, 6), *want;
	int err = 0;

	ck_assert_int_eq(mkdir(a, 0755), 0);	/* the owner's mode stays */
	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	write_msg(m, p, 1000);
	ck_assert_int_eq(maildir_set_folder(m, ".Junk"), 0);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	check_folder(a, ".Junk");
	check_folder(b, ".Junk");
	ck_assert_int_eq(mode_of(a), 0755);
	check_delivered(ja, id, p, 1000);
	check_delivered(jb, id, p, 1000);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("deep/b/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);

	/* Again, the folder there already; large, prepended. */
	nftw(path("a/.Junk/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
	nftw(path("deep/b/.Junk/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
	ck_assert_int_eq(mkdir(path("a/.Junk/new", NULL), 0700), 0);
	ck_assert_int_eq(mkdir(path("deep/b/.Junk/new", NULL), 0700), 0);
	memset(&d, 0, sizeof(d));
	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id2, sizeof(id2), "%s", maildir_msg_id(m));
	write_msg(m, p, 300000);
	ck_assert_int_eq(maildir_set_folder(m, ".Junk"), 0);
	ck_assert_int_eq(maildir_prepend(m, PRE, strlen(PRE)), 0);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	want = cat2(PRE, strlen(PRE), p, 300000);
	check_delivered(ja, id2, want, strlen(PRE) + 300000);
	check_delivered(jb, id2, want, strlen(PRE) + 300000);
	new_stat(ja, &sa);
	new_stat(jb, &sb);
	ck_assert(sa.st_ino == sb.st_ino);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	free(want);
	free(p);
}
END_TEST

/* A nested folder, a name with a space; NULL goes back to the inbox. */
START_TEST(test_folder_names_ok)
{
	const char *a = path("a", NULL);
	const char *dirs[1] = { a };
	char longest[MAILDIR_FOLDER_MAX + 1];
	const char *good[] = { ".Junk.Old", ".Junk E-mail", ".x", longest };
	struct maildir_msg *m;
	struct done d;
	char id[128], dir[PATH_MAX];
	size_t i;
	int err = 0;

	memset(longest, 'L', MAILDIR_FOLDER_MAX);
	longest[0] = '.';
	longest[MAILDIR_FOLDER_MAX] = '\0';
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&d, 0, sizeof(d));
		m = maildir_open(dirs, 1, HOST, &err);
		ck_assert_ptr_nonnull(m);
		snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
		write_msg(m, "x\n", 2);
		ck_assert_int_eq(maildir_folder_valid(good[i]), 1);
		ck_assert_int_eq(maildir_set_folder(m, good[i]), 0);
		maildir_commit(m, done_cb, &d);
		wait_done(&d);
		ck_assert_int_eq(d.err, 0);
		check_folder(a, good[i]);
		snprintf(dir, sizeof(dir), "%s/%s", a, good[i]);
		check_delivered(dir, id, "x\n", 2);
	}
	memset(&d, 0, sizeof(d));
	m = maildir_open(dirs, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	write_msg(m, "y\n", 2);
	ck_assert_int_eq(maildir_set_folder(m, ".Junk"), 0);
	ck_assert_int_eq(maildir_set_folder(m, NULL), 0);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	check_delivered(a, id, "y\n", 2);
	ck_assert_int_eq(access(path("a/.Junk", NULL), F_OK), -1);
}
END_TEST

/* Names that are not a Maildir++ folder we make: refused, and the message
 * keeps its previous destination. */
START_TEST(test_folder_names_bad)
{
	const char *dirs[1] = { path("a", NULL) };
	char toolong[MAILDIR_FOLDER_MAX + 2];
	const char *bad[] = { "", ".", "Junk", "..", "...", "..Junk", ".Junk.",
	    ".Ju..nk", ".Junk/x", "./Junk", ".Junk/", "/.Junk", ".J&nk",
	    ".J%", ".J*", ".J\"", ".J\\", ".J\t", ".J\n", ".J\x01", ".J\x7f",
	    ".J\xc3\xa9", ".Junk:2,S", toolong };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char id[128];
	size_t i;
	int err = 0;

	memset(toolong, 'L', MAILDIR_FOLDER_MAX + 1);
	toolong[0] = '.';
	toolong[MAILDIR_FOLDER_MAX + 1] = '\0';
	m = maildir_open(dirs, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	write_msg(m, "z\n", 2);
	ck_assert_int_eq(maildir_set_folder(m, ".Spam"), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_msg(maildir_set_folder(m, bad[i]) == -1, "%zu", i);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_int_eq(maildir_folder_valid(bad[i]), 0);
	}
	maildir_commit(m, done_cb, &d);
	ck_assert_int_eq(maildir_set_folder(m, ".Junk"), -1);	/* committed */
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	check_delivered(path("a/.Spam", NULL), id, "z\n", 2);
	ck_assert_int_eq(entries(path("a", NULL), NULL, 0), 4);
}
END_TEST

/* The folder cannot be made in the second maildir (".Junk" is a file):
 * nothing lands anywhere, no tmp file. */
START_TEST(test_folder_fail)
{
	const char *dirs[2] = { path("a", NULL), path("b", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	int err = 0, fd;

	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, "w\n", 2);
	ck_assert_int_eq(maildir_set_folder(m, ".Junk"), 0);
	fd = open(path("b/.Junk", NULL), O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ne(fd, -1);
	close(fd);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, ENOTDIR);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/.Junk/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/new", NULL), NULL, 0), 0);
}
END_TEST

/*
 * The "mount" case: a private mount namespace with a 64 KiB tmpfs. The
 * namespace belongs to this (forked) test process only; the host never
 * sees the mount. The worker is started after unshare() so that it lives
 * in the same namespace.
 */

static int
mount_tmpfs(const char *dir, const char *opts)
{
	const char *env = getenv("STRICTMX_TEST_MOUNT");

	if (env != NULL && strcmp(env, "0") == 0) {
		fprintf(stderr, "test_maildir: mount case skipped "
		    "(STRICTMX_TEST_MOUNT=0)\n");
		return -1;
	}
	maildir_worker_stop();
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		fprintf(stderr, "test_maildir: mount case skipped: %s\n",
		    strerror(errno));
		return -1;
	}
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, opts) == 0,
	    "mount tmpfs: %s", strerror(errno));
	ck_assert_int_eq(maildir_worker_start(base), 0);
	return 0;
}

static void
fill(const char *file, size_t len)
{
	char *p = calloc(1, len);
	int fd = open(file, O_CREAT | O_WRONLY, 0600);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
	close(fd);
	free(p);
}

START_TEST(test_enospc)
{
	const char *small = path("small", NULL);
	const char *s[1] = { path("small/md", NULL) };
	const char *as[2] = { path("a", NULL), path("small/md", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	char *p, id[128];
	int err = 0, r = 0;
	size_t off;

	if (mount_tmpfs(small, "size=64k") == -1)
		return;
	p = body(200000, 4);
	/* 1. The write itself fails: maildir_write reports ENOSPC. */
	m = maildir_open(s, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	for (off = 0; off < 200000 && r == 0; off += 10000)
		r = maildir_write(m, p + off, 10000);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(maildir_write(m, p, 1), -1);	/* sticky */
	ck_assert_int_eq(errno, ENOSPC);
	maildir_abort(m);
	ck_assert_int_eq(entries(path("small/md/tmp", NULL), NULL, 0), 0);

	/* 2. The text fits the write buffer but not the disk: the worker's
	 * flush fails, the callback says ENOSPC, nothing is left. */
	fill(path("small/filler", NULL), 40 * 1024);
	m = maildir_open(s, 1, HOST, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(maildir_write(m, p, 30000), 0);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, ENOSPC);
	ck_assert_int_eq(entries(path("small/md/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("small/md/new", NULL), NULL, 0), 0);

	/* 3. Across file systems (EXDEV, so a copy) into the full one: the
	 * copy fails and the link already made in a/new is removed. */
	memset(&d, 0, sizeof(d));
	m = maildir_open(as, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(maildir_write(m, p, 30000), 0);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, ENOSPC);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("small/md/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("small/md/new", NULL), NULL, 0), 0);

	/* 4. With room again, EXDEV delivery works: a copy, same bytes. */
	ck_assert_int_eq(unlink(path("small/filler", NULL)), 0);
	memset(&d, 0, sizeof(d));
	m = maildir_open(as, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	ck_assert_int_eq(maildir_write(m, p, 30000), 0);
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, 0);
	check_delivered(as[0], id, p, 30000);
	check_delivered(as[1], id, p, 30000);

	maildir_worker_stop();
	ck_assert_msg(umount(small) == 0, "umount: %s", strerror(errno));
	free(p);
}
END_TEST

/* free_blocks - free blocks of the file system holding file */

static unsigned long long
free_blocks(const char *file)
{
	struct statvfs sv;

	ck_assert_int_eq(statvfs(file, &sv), 0);
	return (unsigned long long)sv.f_bfree;
}

/* A late prepend needs room for a second copy: when there is none the
 * rewrite fails with ENOSPC and leaves neither file (every block comes
 * back); an in-memory one fails at the flush; across file systems (EXDEV)
 * the rewritten file is what gets copied. A 192 KiB tmpfs. */
START_TEST(test_prepend_enospc)
{
	const char *mid = path("mid", NULL);
	const char *s[1] = { path("mid/md", NULL) };
	const char *as[2] = { path("a", NULL), path("mid/md", NULL) };
	unsigned long long before;
	char id[128], *want;
	int mem;

	if (mount_tmpfs(mid, "size=192k") == -1)
		return;
	/* 1. Room for both files (20 + 20 of 48 pages). */
	want = deliver_pre(s, 1, 80000, 7, id, &mem, 0);
	ck_assert(!mem);
	check_delivered(s[0], id, want, strlen(PRE) + 80000);
	free(want);
	nftw(path("mid/md/new", NULL), rm_cb, 4, FTW_DEPTH | FTW_PHYS);
	ck_assert_int_eq(mkdir(path("mid/md/new", NULL), 0700), 0);

	/* 2. 12 pages of filler: the second copy does not fit. */
	fill(path("mid/filler", NULL), 48 * 1024);
	before = free_blocks(mid);
	want = deliver_pre(s, 1, 80000, 8, id, &mem, ENOSPC);
	free(want);
	ck_assert_int_eq(entries(path("mid/md/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("mid/md/new", NULL), NULL, 0), 0);
	ck_assert_uint_eq(free_blocks(mid), before);

	/* 3. In memory, but the disk has 16 KiB left: the flush fails. */
	fill(path("mid/filler2", NULL), 128 * 1024);
	want = deliver_pre(s, 1, 30000, 9, id, &mem, ENOSPC);
	ck_assert(mem);
	free(want);
	ck_assert_int_eq(entries(path("mid/md/tmp", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("mid/md/new", NULL), NULL, 0), 0);

	/* 4. Room again; a/tmp is on another file system than mid/md. */
	ck_assert_int_eq(unlink(path("mid/filler", NULL)), 0);
	ck_assert_int_eq(unlink(path("mid/filler2", NULL)), 0);
	want = deliver_pre(as, 2, 100000, 10, id, &mem, 0);
	check_delivered(as[0], id, want, strlen(PRE) + 100000);
	check_delivered(as[1], id, want, strlen(PRE) + 100000);
	free(want);

	maildir_worker_stop();
	ck_assert_msg(umount(mid) == 0, "umount: %s", strerror(errno));
}
END_TEST

/* symlink_to - replace rel (a directory, or nothing) by a symlink to dst */

static void
symlink_to(const char *rel, const char *dst)
{
	const char *p = path("%s", rel);

	nftw(p, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	ck_assert_msg(symlink(dst, p) == 0, "symlink %s: %s", p,
	    strerror(errno));
}

/* refused - the delivery into dirs was refused (at open or at commit) with
 * ELOOP, and nothing landed in elsewhere's tmp/ or new/ */

static void
refused(const char **dirs, size_t n, const char *folder)
{
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	int err = 0;

	m = maildir_open(dirs, n, HOST, &err);
	if (m == NULL)
		ck_assert_msg(err == ELOOP, "open: %s", strerror(err));
	else {
		write_msg(m, "Subject: x\n\nhi\n", 15);
		if (folder != NULL)
			ck_assert_int_eq(maildir_set_folder(m, folder), 0);
		maildir_commit(m, done_cb, &d);
		wait_done(&d);
		ck_assert_msg(d.err == ELOOP, "commit: %s", strerror(d.err));
	}
	ck_assert_int_eq(entries(path("elsewhere/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("elsewhere/tmp", NULL), NULL, 0), 0);
}

/* A maildir to deliver into, and a maildir elsewhere that must stay empty */

static void
two_maildirs(void)
{
	static const char *const sub[] = { "a", "a/tmp", "a/new", "a/cur",
	    "elsewhere", "elsewhere/tmp", "elsewhere/new", "elsewhere/cur" };
	size_t i;

	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		ck_assert_int_eq(mkdir(path("%s", sub[i]), 0700), 0);
}

/* new/ a symlink to another directory: refused, before and after open */
START_TEST(test_symlink_new)
{
	const char *dirs[2] = { path("b", NULL), path("a", NULL) };
	struct maildir_msg *m;
	struct done d = { 0, -1, 0, NULL, 0 };
	int err = 0;

	two_maildirs();
	symlink_to("a/new", path("elsewhere/new", NULL));
	refused(dirs, 2, NULL);
	ck_assert_int_eq(entries(path("b/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/tmp", NULL), NULL, 0), 0);

	/* Planted between the open's check and the worker's link. */
	ck_assert_int_eq(unlink(path("a/new", NULL)), 0);
	ck_assert_int_eq(mkdir(path("a/new", NULL), 0700), 0);
	m = maildir_open(dirs, 2, HOST, &err);
	ck_assert_ptr_nonnull(m);
	write_msg(m, "x\n", 2);
	symlink_to("a/new", path("elsewhere/new", NULL));
	maildir_commit(m, done_cb, &d);
	wait_done(&d);
	ck_assert_int_eq(d.err, ELOOP);
	ck_assert_int_eq(entries(path("elsewhere/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("b/tmp", NULL), NULL, 0), 0);
}
END_TEST

/* tmp/ a symlink: the message file is not created through it */
START_TEST(test_symlink_tmp)
{
	const char *dirs[1] = { path("a", NULL) };

	two_maildirs();
	symlink_to("a/tmp", path("elsewhere/tmp", NULL));
	refused(dirs, 1, NULL);
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
}
END_TEST

/* The maildir itself a symlink (also spelled with a trailing slash) */
START_TEST(test_symlink_maildir)
{
	const char *dirs[1] = { path("a", NULL) };
	const char *slash[1] = { path("a/", NULL) };

	two_maildirs();
	symlink_to("a", path("elsewhere", NULL));
	refused(dirs, 1, NULL);
	refused(slash, 1, NULL);
}
END_TEST

/* A folder, or its new/, a symlink: refused, the inbox untouched */
START_TEST(test_symlink_folder)
{
	const char *dirs[1] = { path("a", NULL) };

	two_maildirs();
	ck_assert_int_eq(mkdir(path("a/.Junk", NULL), 0700), 0);
	ck_assert_int_eq(mkdir(path("a/.Junk/tmp", NULL), 0700), 0);
	ck_assert_int_eq(mkdir(path("a/.Junk/cur", NULL), 0700), 0);
	symlink_to("a/.Junk/new", path("elsewhere/new", NULL));
	refused(dirs, 1, ".Junk");
	symlink_to("a/.Junk", path("elsewhere", NULL));
	refused(dirs, 1, ".Junk");
	ck_assert_int_eq(entries(path("a/new", NULL), NULL, 0), 0);
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("maildir");
	TCase *tc = tcase_create("maildir"), *tm = tcase_create("mount");
	TCase *tp = tcase_create("prepend"), *tf = tcase_create("folder");
	TCase *ts = tcase_create("symlink");
	TCase *tcn = tcase_create("maildir-named");
	TCase *tpn = tcase_create("prepend-named");
	TCase *tmn = tcase_create("mount-named");
	SRunner *sr;
	int failed;

	/* As strictmxd does; the worker itself never calls libevent. */
	evthread_use_pthreads();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_deliver);
	tcase_add_test(tc, test_dedup_spelling);
	tcase_add_test(tc, test_rollback);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_detach);
	tcase_add_test(tc, test_stop_drains);
	tcase_add_test(tc, test_fifty);
	tcase_add_test(tc, test_group_commit);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_set_timeout(tp, 60);
	tcase_add_test(tp, test_prepend_small);
	tcase_add_test(tp, test_prepend_large);
	tcase_add_test(tp, test_prepend_fallback);
	tcase_add_test(tp, test_prepend_rollback);
	tcase_add_test(tp, test_prepend_misuse);
	suite_add_tcase(s, tp);
	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_set_timeout(tf, 60);
	tcase_add_test(tf, test_folder);
	tcase_add_test(tf, test_folder_names_ok);
	tcase_add_test(tf, test_folder_names_bad);
	tcase_add_test(tf, test_folder_fail);
	suite_add_tcase(s, tf);
	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_set_timeout(ts, 60);
	tcase_add_test(ts, test_symlink_new);
	tcase_add_test(ts, test_symlink_tmp);
	tcase_add_test(ts, test_symlink_maildir);
	tcase_add_test(ts, test_symlink_folder);
	suite_add_tcase(s, ts);
	tcase_add_checked_fixture(tm, setup, teardown);
	tcase_set_timeout(tm, 60);
	tcase_add_test(tm, test_enospc);
	tcase_add_test(tm, test_prepend_enospc);
	suite_add_tcase(s, tm);
	tcase_add_checked_fixture(tcn, setup_named, teardown);
	tcase_set_timeout(tcn, 60);
	tcase_add_test(tcn, test_deliver);
	tcase_add_test(tcn, test_rollback);
	tcase_add_test(tcn, test_abort);
	tcase_add_test(tcn, test_detach);
	tcase_add_test(tcn, test_fifty);
	tcase_add_test(tcn, test_group_commit);
	suite_add_tcase(s, tcn);
	tcase_add_checked_fixture(tpn, setup_named, teardown);
	tcase_set_timeout(tpn, 60);
	tcase_add_test(tpn, test_prepend_small);
	tcase_add_test(tpn, test_prepend_large);
	tcase_add_test(tpn, test_prepend_fallback);
	tcase_add_test(tpn, test_prepend_rollback);
	suite_add_tcase(s, tpn);
	tcase_add_checked_fixture(tmn, setup_named, teardown);
	tcase_set_timeout(tmn, 60);
	tcase_add_test(tmn, test_enospc);
	tcase_add_test(tmn, test_prepend_enospc);
	suite_add_tcase(s, tmn);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
