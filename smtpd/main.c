/* main.c - strictmxd: command line, start-up order (load, bind, drop
 * privileges, open files, serve), signals, and an orderly exit.
 *
 *	strictmxd [-f FILE] [-d] [-n] [-v]
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "server.h"
#include "conf.h"
#include "table.h"
#include "resolver.h"
#include "resolver_cache.h"
#include "sender.h"
#include "spf.h"
#include "dkim.h"
#include "dmarc.h"
#include "cbv.h"
#include "maildir.h"
#include "stats.h"
#include "startcheck.h"
#include "notify.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#define DEFAULT_CONF	SYSCONFDIR "/strictmx/strictmx.conf"

/* `strictmxd -n` prints errors and its one ok line, nothing else. */
static int main_quiet;

static void
usage(void)
{
	fprintf(stderr, "usage: strictmxd [-f FILE] [-d] [-n] [-v]\n");
	exit(2);
}

/* main_drop_privileges - after binding, before opening any file: become
 * `user`, and make sure there is no way back to root. Started as root
 * without `user`, strictmxd refuses to run, except in the foreground.
 * Started as `user` (the systemd unit), there is nothing to do. */
static int
main_drop_privileges(const struct conf *conf, int foreground)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		/* The systemd unit starts us as `user` already (User=):
		 * the documented config and the unit agree, nothing to
		 * say. Only another user is worth a line. */
		if (conf->user != NULL &&
		    ((pw = getpwnam(conf->user)) == NULL ||
		    pw->pw_uid != geteuid()))
			log_info("not started as root: ignoring user %s "
			    "(running as uid %u)", conf->user,
			    (unsigned)geteuid());
		return 0;
	}
	if (conf->user == NULL && foreground) {
		/* The development quick start (conf/dev.conf, `make run` as
		 * root from a checkout an unprivileged user may not reach). */
		log_warn("running as root in the foreground: for development "
		    "only; set `user` in %s", conf->path);
		return 0;
	}
	if (conf->user == NULL) {
		log_crit("refusing to run as root: set `user` in %s",
		    conf->path);
		return -1;
	}
	if ((pw = getpwnam(conf->user)) == NULL) {
		log_crit("user %s: no such user", conf->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_crit("user %s is root: refusing to run as root", conf->user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_crit("cannot become %s: %s", conf->user, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || geteuid() == 0) {
		log_crit("could regain root after dropping to %s", conf->user);
		return -1;
	}
	if (!main_quiet)
		log_info("running as %s (uid %u)", conf->user,
		    (unsigned)pw->pw_uid);
	return 0;
}

/* main_check - `strictmxd -n` beyond the syntax: the directories are
 * writable by the user strictmxd will run as (a child drops to `user`
 * when we are root), and a resolver answers (a warning only: DNS may come
 * up after us). 0, or 1 with the errors on stderr. */
static int
main_check(const struct conf *conf)
{
	char msg[512];
	pid_t pid;
	int st;

	if (!startcheck_dns_sync(conf, msg, sizeof(msg)))
		fprintf(stderr, "strictmxd: warning: %s\n", msg);
	if (startcheck_nofile(conf, 0, msg, sizeof(msg)) == -1)
		fprintf(stderr, "strictmxd: warning: %s\n", msg);
	if (geteuid() != 0 || conf->user == NULL) {
		if (startcheck_dirs(conf, msg, sizeof(msg)) == 0)
			return 0;
		fprintf(stderr, "strictmxd: %s\n", msg);
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		perror("strictmxd: fork");
		return 1;
	}
	if (pid == 0) {
		log_init(1, 0);
		main_quiet = 1;
		if (main_drop_privileges(conf, 1) == -1)
			_exit(1);
		if (startcheck_dirs(conf, msg, sizeof(msg)) == 0)
			_exit(0);
		fprintf(stderr, "strictmxd: %s\n", msg);
		_exit(1);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)what;
	if (sig == SIGHUP)
		server_reload(srv);
	else
		server_stop(srv);
}

/* main_daemonize - without -d: detach from the terminal, as a classic
 * daemon (the systemd unit runs with -d instead). */
static int
main_daemonize(void)
{
	int fd;

	switch (fork()) {
	case -1:
		return -1;
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* main_release - stop the modules and free what the start made, after
 * the loop ended or a start failed (then each part may be missing):
 * listeners, signal events, timers, the configuration, the loop. */
static void
main_release(struct server *srv, struct event **sigs)
{
	size_t i;

	startcheck_dns_stop();
	cbv_shutdown();
	sender_shutdown();
	dmarc_shutdown();
	resolver_cache_log("exit");
	resolver_shutdown();
	maildir_worker_stop();
	stats_close();
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i]);
	free(srv->listeners);
	for (i = 0; sigs[i] != NULL; i++)
		event_free(sigs[i]);
	if (srv->stop_timer != NULL)
		event_free(srv->stop_timer);
	if (srv->accept_timer != NULL)
		event_free(srv->accept_timer);
	runconf_unref(srv->rc);
	if (srv->base != NULL)
		event_base_free(srv->base);
}

/* main_event_base - the loop. With epoll, changes to the watched events
 * are collected and applied once per turn of the loop, so an event added
 * and removed within one turn costs no epoll_ctl(2), the most frequent
 * system call of a session (18 per message before, 16 with it; issue 10).
 * Safe here: no descriptor the loop watches is ever dup()ed, the case
 * libevent warns about. */

static struct event_base *
main_event_base(void)
{
	struct event_config *cfg;
	struct event_base *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONF;
	struct event *sigs[4] = { NULL };
	struct server srv;
	int ch, foreground = 0, check = 0, verbose = 0, i;
	static const int signo[4] = { SIGTERM, SIGINT, SIGHUP, 0 };

	while ((ch = getopt(argc, argv, "f:dnv")) != -1) {
		switch (ch) {
		case 'f': path = optarg; break;
		case 'd': foreground = 1; break;
		case 'n': check = 1; break;
		case 'v': verbose++; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(1, verbose);

	memset(&srv, 0, sizeof(srv));
	TAILQ_INIT(&srv.sessions);
	srv.conf_path = path;
	if ((srv.rc = runconf_load(path, stderr)) == NULL) {
		if (check)
			return 1;
		fprintf(stderr, "strictmxd: %s: configuration errors, not "
		    "starting\n", path);
		return 1;
	}
	if (check) {
		int rc = main_check(srv.rc->conf);

		if (rc == 0)
			printf("%s: ok (%zu recipients)\n", path,
			    table_count(srv.rc->table));
		runconf_unref(srv.rc);
		return rc;
	}
	if (geteuid() == 0 && srv.rc->conf->user == NULL && !foreground) {
		/* Say it here, with an exit status, before detaching. */
		fprintf(stderr, "strictmxd: refusing to run as root: set `user` "
		    "in %s\n", path);
		goto fail;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Mail is private: maildir files 0600, directories 0700. */
	umask(077);
	if (!foreground && main_daemonize() == -1) {
		perror("strictmxd: daemonize");
		goto fail;
	}
	log_init(foreground, verbose);
	{
		char msg[512];

		/* Before the first accept: a soft limit of 1024 would pause
		 * accept() long before max_clients (issue 10). */
		if (startcheck_nofile(srv.rc->conf, 1, msg, sizeof(msg)) == -1)
			log_warn("%s", msg);
	}
	if (evthread_use_pthreads() == -1 ||
	    (srv.base = main_event_base()) == NULL) {
		log_crit("cannot create the event loop");
		goto fail;
	}
	for (i = 0; signo[i] != 0; i++) {
		sigs[i] = evsignal_new(srv.base, signo[i], main_signal_cb, &srv);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1) {
			log_crit("cannot install signal handlers");
			goto fail;
		}
	}
	if (server_listen(&srv) == -1 ||
	    main_drop_privileges(srv.rc->conf, foreground) == -1)
		goto fail;
	{
		char msg[512];

		/* As `user` now: a maildir_root outside the unit's
		 * ReadWritePaths= fails here, not at the first message. */
		if (startcheck_dirs(srv.rc->conf, msg, sizeof(msg)) == -1) {
			log_crit("%s", msg);
			goto fail;
		}
	}
	/* What a crash left in tmp/ (maildir(5): older than 36 hours). */
	(void)maildir_clean_tmp(srv.rc->conf->maildir_root);
	if (maildir_worker_start(srv.base) == -1) {
		log_crit("cannot start the delivery worker");
		goto fail;
	}
	/* A broken stats_db is logged by stats_open and mail still flows. */
	stats_open(srv.base, srv.rc->conf->stats_db);
	if (resolver_init(srv.base, srv.rc->conf) == -1)
		log_warn("resolver: cannot start; DNS checks will tempfail");
	else
		startcheck_dns_start(srv.base, srv.rc->conf);
	spf_init(srv.base);
	dkim_init(srv.base);
	if (dmarc_init(srv.base) == -1) {
		log_crit("cannot load the public suffix list for DMARC");
		goto fail;
	}
	sender_init(srv.base, srv.rc->conf);
	cbv_init(srv.base, srv.rc->conf);
	log_info("strictmx %s ready: %s, %zu recipients", PACKAGE_VERSION,
	    path, table_count(srv.rc->table));
	notify_send("READY=1");
	event_base_dispatch(srv.base);

	log_info("shutdown: stopped");
	main_release(&srv, sigs);
	return 0;

fail:
	/* A start that failed (a configuration the checks refused, a port
	 * taken): release what was made, so that the sanitizers' leak check
	 * sees a clean exit status 1 and nothing else. */
	main_release(&srv, sigs);
	return 1;
}
