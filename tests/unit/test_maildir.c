/* test_maildir.c - unit tests of durable maildir delivery (smtpd/maildir.c)
 * with a real event loop, a real worker thread and real directories.
 *
 *	case "maildir": delivery, dedup, rollback, abort, detach, 50 in a row
 *	case "mount": ENOSPC and EXDEV on a 64 KiB tmpfs in a private mount
 *	  namespace (unshare(CLONE_NEWNS), invisible to the host); skipped with
 *	  a note when not permitted (not root) or when STRICTMX_TEST_MOUNT=0.
 *	  Run it alone with CK_RUN_CASE=mount.
 */
#define _GNU_SOURCE 1		/* unshare() */
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
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

#define HOST		"mx.example/x:y"
#define HOST_ESC	"mx\\.example\\\\057x\\\\072y"	/* as a regex */

static char root[PATH_MAX];
static struct event_base *base;

/* One commit's outcome, as the callback saw it. */
struct done {
	int	 called;
	int	 err;
	int	 order;
};
static int done_order;

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
}

static void
teardown(void)
{
	maildir_worker_stop();
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	(void)umount2(path("small", NULL), MNT_DETACH);	/* a failed test_enospc */
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
	struct done d = { 0, -1, 0 };
	size_t len = 150000, i;
	char *p = body(len, 1), id[128];
	int err = 0;

	m = maildir_open(dirs, 3, HOST, &err);
	ck_assert_msg(m != NULL, "open: %s", strerror(err));
	snprintf(id, sizeof(id), "%s", maildir_msg_id(m));
	ck_assert_msg(strchr(id, '/') == NULL && strlen(id) > 10, "id %s", id);
	ck_assert_int_eq(entries(path("deep/er/a/tmp", NULL), NULL, 0), 1);
	write_msg(m, p, len);
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
	struct done d = { 0, -1, 0 };
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
	struct done d = { 0, -1, 0 };
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
	ck_assert_int_eq(entries(path("a/tmp", NULL), NULL, 0), 1);
	maildir_abort(m);
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
	struct done d = { 0, -1, 0 }, d2 = { 0, -1, 0 };
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
	struct done d = { 0, -1, 0 }, d2 = { 0, -1, 0 };
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
 * The "mount" case: a private mount namespace with a 64 KiB tmpfs. The
 * namespace belongs to this (forked) test process only; the host never
 * sees the mount. The worker is started after unshare() so that it lives
 * in the same namespace.
 */

static int
mount_tmpfs(const char *dir)
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
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0,
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
	struct done d = { 0, -1, 0 };
	char *p, id[128];
	int err = 0, r = 0;
	size_t off;

	if (mount_tmpfs(small) == -1)
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

int
main(void)
{
	Suite *s = suite_create("maildir");
	TCase *tc = tcase_create("maildir"), *tm = tcase_create("mount");
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
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tm, setup, teardown);
	tcase_set_timeout(tm, 60);
	tcase_add_test(tm, test_enospc);
	suite_add_tcase(s, tm);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
