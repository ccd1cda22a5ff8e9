/* maildir_deliver.c - deliver one message from stdin through smtpd/maildir.c
 * exactly as strictmxd does, for tests that read the result with real tools.
 *
 *	main - maildir_deliver [-f FOLDER] [-p FILE] HOSTNAME MAILDIR...
 *	    open, write (stdin, in pieces), set_folder, prepend, commit; prints
 *	    the message id; exit 0 when durably delivered, else 1
 *
 * -f ".Junk" delivers into that Maildir++ folder (maildir_set_folder);
 * -p FILE puts FILE's bytes on top after the body (maildir_prepend), as the
 * trace and Authentication-Results fields are. tests/dovecot/run.sh has
 * Dovecot read what this wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "log.h"
#include "maildir.h"

#define DELIVER_PREPEND_MAX	(64 * 1024)

static int done, result;

static void
deliver_done_cb(void *arg, int err)
{
	(void)arg;
	done = 1;
	result = err;
}

/* read_file - the whole of a small file into buf; its length, or -1 */

static ssize_t
read_file(const char *file, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(file, O_RDONLY);

	if (fd == -1)
		return -1;
	while (len < size && (n = read(fd, buf + len, size - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len == size) {
		errno = EFBIG;
		return -1;
	}
	return (ssize_t)len;
}

static void
usage(void)
{
	fprintf(stderr, "usage: maildir_deliver [-f FOLDER] [-p FILE] "
	    "HOSTNAME MAILDIR...\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *folder = NULL, *prefile = NULL;
	static char pre[DELIVER_PREPEND_MAX], buf[4099];
	struct event_base *base;
	struct maildir_msg *m;
	ssize_t prelen = -1, n;
	int c, err = 0;

	while ((c = getopt(argc, argv, "f:p:")) != -1) {
		switch (c) {
		case 'f':
			folder = optarg;
			break;
		case 'p':
			prefile = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage();
	log_init(1, 0);
	if (prefile != NULL &&
	    (prelen = read_file(prefile, pre, sizeof(pre))) == -1) {
		fprintf(stderr, "maildir_deliver: %s: %s\n", prefile,
		    strerror(errno));
		return 1;
	}
	evthread_use_pthreads();
	if ((base = event_base_new()) == NULL ||
	    maildir_worker_start(base) == -1) {
		fprintf(stderr, "maildir_deliver: cannot start the worker\n");
		return 1;
	}
	m = maildir_open((const char *const *)argv + 1, (size_t)argc - 1,
	    argv[0], &err);
	if (m == NULL) {
		fprintf(stderr, "maildir_deliver: open: %s\n", strerror(err));
		return 1;
	}
	/* An odd buffer size: the pieces never line up with the module's. */
	while ((n = read(0, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || maildir_write(m, buf, (size_t)n) == -1)
			goto fail;
	}
	if (folder != NULL && maildir_set_folder(m, folder) == -1)
		goto fail;
	if (prelen >= 0 && maildir_prepend(m, pre, (size_t)prelen) == -1)
		goto fail;
	printf("%s\n", maildir_msg_id(m));
	maildir_commit(m, deliver_done_cb, NULL);
	while (!done)
		if (event_base_loop(base, EVLOOP_ONCE) == -1)
			break;
	maildir_worker_stop();
	event_base_free(base);
	if (!done || result != 0) {
		fprintf(stderr, "maildir_deliver: commit: %s\n",
		    done ? strerror(result) : "loop failed");
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;

fail:
	fprintf(stderr, "maildir_deliver: %s\n", strerror(errno));
	maildir_abort(m);
	return 1;
}
