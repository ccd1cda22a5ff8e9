/* startcheck.c - what a postmaster's first start trips on, said at start:
 * directories we must write into and a resolver that must answer.
 *
 *	startcheck_writable - create and remove a probe file in a directory;
 *		0, or -1 and a message naming the key and the path
 *	startcheck_dirs - startcheck_writable on maildir_root and the
 *		directory of stats_db
 *	startcheck_dns_start - ask each resolver one question on the loop,
 *		warn loudly when none answers (start, SIGHUP); never blocks
 *	startcheck_dns_stop - forget a check in flight
 *	startcheck_dns_sync - the same, waiting (for `strictmxd -n` only):
 *		1 when at least one server answered, 0 and a message if none
 *	startcheck_nofile_need - the descriptors max_clients calls for
 *	startcheck_nofile - raise the soft RLIMIT_NOFILE to the hard one (or
 *		only look, for -n); 0, or -1 and a warning when it is short
 *
 * The question is the A record of our hostname with RD set (RFC 1035
 * §4.1.1): any well-formed reply with our ID and RCODE NOERROR or NXDOMAIN
 * means the server resolves; silence, SERVFAIL or REFUSED means every
 * HELO, SPF and CBV check would end as a temporary failure (450).
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "resolver.h"
#include "startcheck.h"

#define SC_MAXSERV	8	/* udns's DNS_MAXSERV is 6 */
#define SC_WAIT_SEC	3	/* one question, one bound */
#define SC_QMAX		(12 + 255 + 4)

struct sc_check {
	int			 fd[SC_MAXSERV];
	struct event		*ev[SC_MAXSERV];
	size_t			 n, done, answered;
	unsigned short		 id;
	char			 names[SC_MAXSERV * 56];
};

static struct sc_check *sc_cur;

/* startcheck_writable - what names the key ("maildir_root"), dir the path.
 * A directory not made yet is created at the first delivery, so then its
 * nearest existing ancestor is probed: that is where mkdir would write. */
int
startcheck_writable(const char *what, const char *dir, char *msg,
    size_t msglen)
{
	char path[4096], at[4096];
	char *slash;
	int fd, n, e;

	if (strlen(dir) >= sizeof(at) || dir[0] != '/') {
		snprintf(msg, msglen, "%s %.512s: not an absolute path",
		    what, dir);
		return -1;
	}
	memcpy(at, dir, strlen(dir) + 1);
	for (;;) {
		n = snprintf(path, sizeof(path), "%s/.strictmx-probe.%ld",
		    at[1] == '\0' ? "" : at, (long)getpid());
		if (n < 0 || (size_t)n >= sizeof(path)) {
			snprintf(msg, msglen, "%s %.512s: path too long", what,
			    dir);
			return -1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		e = errno;
		/* At most one step a path component: bounded. */
		if (fd != -1 || e != ENOENT || strcmp(at, "/") == 0 ||
		    (slash = strrchr(at, '/')) == NULL)
			break;
		if (slash == at)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (fd == -1) {
		int same = strcmp(at, dir) == 0;

		snprintf(msg, msglen, "%s %.512s: %s%.512s%snot writable by "
		    "uid %u: %s%s", what, dir, same ? "" :
		    "missing, and its parent ", same ? "" : at, same ? "" : " ",
		    (unsigned)geteuid(), strerror(e),
		    e == EROFS ? " (under systemd: add ReadWritePaths= for "
		    "it with `systemctl edit strictmxd`)" : "");
		return -1;
	}
	close(fd);
	if (unlink(path) == -1) {
		snprintf(msg, msglen, "%s %s: cannot remove the probe %s: %s",
		    what, dir, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* startcheck_dirs - the first failing directory, or 0 */
int
startcheck_dirs(const struct conf *conf, char *msg, size_t msglen)
{
	char dir[4096];
	char *slash;

	if (conf->maildir_root != NULL &&
	    startcheck_writable("maildir_root", conf->maildir_root, msg,
	    msglen) == -1)
		return -1;
	if (conf->stats_db == NULL || strlen(conf->stats_db) >= sizeof(dir))
		return 0;
	memcpy(dir, conf->stats_db, strlen(conf->stats_db) + 1);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;		/* paths are absolute (conf.h) */
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return startcheck_writable("stats_db directory", dir, msg, msglen);
}

/* sc_servers - the configured servers, or /etc/resolv.conf's (udns's
 * default, 127.0.0.1, when it names none). */
static size_t
sc_servers(const struct conf *conf, struct sockaddr_storage *ss, size_t max)
{
	char line[256], word[64];
	size_t i, n = 0;
	FILE *fp;

	if (conf->nresolver > 0 && !(conf->nresolver == 1 &&
	    strcasecmp(conf->resolver[0], "system") == 0)) {
		for (i = 0; i < conf->nresolver && n < max; i++)
			if (resolver_parse_server(conf->resolver[i], &ss[n])
			    == 0)
				n++;
		return n;
	}
	if ((fp = fopen("/etc/resolv.conf", "re")) != NULL) {
		while (n < max && fgets(line, sizeof(line), fp) != NULL)
			if (sscanf(line, " nameserver %63s", word) == 1 &&
			    resolver_parse_server(word, &ss[n]) == 0)
				n++;
		fclose(fp);
	}
	if (n == 0 && resolver_parse_server("127.0.0.1", &ss[0]) == 0)
		n = 1;
	return n;
}

/* sc_query - the question in wire form (RFC 1035 §4.1); its length or 0 */
static size_t
sc_query(unsigned char *q, size_t size, unsigned short id, const char *name)
{
	size_t len = 12, lab;
	const char *p = name, *dot;

	if (size < SC_QMAX || strlen(name) > 253)
		return 0;
	memset(q, 0, 12);
	q[0] = id >> 8, q[1] = id & 0xff;
	q[2] = 0x01;			/* RD */
	q[5] = 1;			/* QDCOUNT */
	while (*p != '\0') {
		dot = strchr(p, '.');
		lab = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (lab == 0 || lab > 63)
			return 0;
		q[len++] = (unsigned char)lab;
		memcpy(q + len, p, lab);
		len += lab;
		p += lab + (dot != NULL);
	}
	q[len++] = 0;
	q[len++] = 0, q[len++] = 1;	/* A */
	q[len++] = 0, q[len++] = 1;	/* IN */
	return len;
}

/* sc_answered - 1 for a reply to id with NOERROR or NXDOMAIN */
static int
sc_answered(int fd, unsigned short id)
{
	unsigned char r[512];
	ssize_t n = recv(fd, r, sizeof(r), 0);

	return n >= 12 && r[0] == (id >> 8) && r[1] == (id & 0xff) &&
	    (r[2] & 0x80) != 0 && ((r[3] & 0x0f) == 0 || (r[3] & 0x0f) == 3);
}

static void
sc_free(struct sc_check *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->ev[i] != NULL)
			event_free(c->ev[i]);
		if (c->fd[i] != -1)
			close(c->fd[i]);
	}
	free(c);
}

/* sc_open - one connected UDP socket a server, the question sent */
static struct sc_check *
sc_open(const struct conf *conf)
{
	struct sockaddr_storage ss[SC_MAXSERV];
	unsigned char q[SC_QMAX];
	char addr[INET6_ADDRSTRLEN];
	size_t i, qlen, nserv, used = 0;
	struct sc_check *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	nserv = sc_servers(conf, ss, SC_MAXSERV);
	c->id = (unsigned short)(((unsigned)time(NULL) ^ (unsigned)getpid()
	    ^ (unsigned)random()) & 0xffff);
	qlen = sc_query(q, sizeof(q), c->id, conf->hostname != NULL ?
	    conf->hostname : "localhost");
	for (i = 0; i < nserv; i++) {
		socklen_t len = ss[i].ss_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		const void *a = ss[i].ss_family == AF_INET6 ?
		    (void *)&((struct sockaddr_in6 *)&ss[i])->sin6_addr :
		    (void *)&((struct sockaddr_in *)&ss[i])->sin_addr;
		unsigned port = ntohs(((struct sockaddr_in *)&ss[i])->sin_port);
		int fd;

		if (inet_ntop(ss[i].ss_family, a, addr, sizeof(addr)) == NULL)
			strcpy(addr, "?");
		used += snprintf(c->names + used, sizeof(c->names) - used,
		    ss[i].ss_family == AF_INET6 ? "%s[%s]:%u" : "%s%s:%u",
		    i > 0 ? ", " : "", addr, port);
		if (used >= sizeof(c->names))
			used = sizeof(c->names) - 1;
		fd = socket(ss[i].ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		/* A failed send counts as a server that does not answer. */
		if (fd != -1 && (qlen == 0 ||
		    connect(fd, (struct sockaddr *)&ss[i], len) == -1 ||
		    send(fd, q, qlen, 0) != (ssize_t)qlen)) {
			close(fd);
			fd = -1;
		}
		c->fd[c->n++] = fd;
	}
	return c;
}

static void
sc_report(const struct sc_check *c)
{
	if (c->answered == 0)
		log_warn("resolver: none of %s answers: every HELO/SPF/CBV "
		    "check will tempfail (450); install a resolver, e.g. "
		    "apt-get install unbound", c->names);
	else
		log_debug("resolver: %zu of %zu server(s) answer", c->answered,
		    c->n);
}

static void
sc_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sc_check *c = arg;

	if ((what & EV_READ) && sc_answered(fd, c->id))
		c->answered++;
	if (++c->done == c->n) {
		sc_report(c);
		sc_free(c);
		sc_cur = NULL;
	}
}

/* startcheck_dns_start - replaces a check in flight (a second SIGHUP) */
void
startcheck_dns_start(struct event_base *base, const struct conf *conf)
{
	struct timeval tv = { SC_WAIT_SEC, 0 };
	struct sc_check *c;
	size_t i;

	startcheck_dns_stop();
	if ((c = sc_open(conf)) == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		if (c->fd[i] == -1) {
			c->done++;
			continue;
		}
		c->ev[i] = event_new(base, c->fd[i], EV_READ, sc_event_cb, c);
		if (c->ev[i] == NULL || event_add(c->ev[i], &tv) == -1) {
			log_warn("resolver: cannot start the resolver check");
			sc_free(c);
			return;
		}
	}
	if (c->done == c->n) {		/* nothing could even be sent */
		sc_report(c);
		sc_free(c);
		return;
	}
	sc_cur = c;
}

void
startcheck_dns_stop(void)
{
	if (sc_cur != NULL)
		sc_free(sc_cur);
	sc_cur = NULL;
}

/* startcheck_dns_sync - waits at most SC_WAIT_SEC, for -n only */
int
startcheck_dns_sync(const struct conf *conf, char *msg, size_t msglen)
{
	struct pollfd pfd[SC_MAXSERV];
	struct timespec t0, t;
	struct sc_check *c;
	size_t i, pending = 0;
	int ms, answered = 0;

	if ((c = sc_open(conf)) == NULL) {
		snprintf(msg, msglen, "resolver: cannot check: out of memory");
		return 0;
	}
	for (i = 0; i < c->n; i++) {
		pfd[i].fd = c->fd[i];		/* -1 is ignored by poll */
		pfd[i].events = POLLIN;
		pending += c->fd[i] != -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (pending > 0 && !answered) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = SC_WAIT_SEC * 1000 - (int)((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0 || poll(pfd, c->n, ms) <= 0)
			break;
		for (i = 0; i < c->n; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			answered |= sc_answered(pfd[i].fd, c->id);
			pfd[i].fd = -1;
			pending--;
		}
	}
	if (!answered)
		snprintf(msg, msglen, "resolver: none of %s answers: every "
		    "HELO/SPF/CBV check will tempfail (450); install a "
		    "resolver, e.g. apt-get install unbound", c->names);
	sc_free(c);
	return answered;
}

/* What one session holds: its socket, always; while a message comes in,
 * the tmp/ file and a descriptor per distinct recipient maildir (and its
 * new/ on the worker) until the 250. The second max_clients leaves room
 * for a message in progress in every other session; CBV probes hold one
 * socket each; the rest (listeners, the resolver's socket, SQLite, the
 * worker's wake-up pipe, the log) is below STARTCHECK_NOFILE_FIXED. Past
 * the limit nothing breaks: accept() pauses (server.c), a delivery that
 * cannot open its file answers 451; this only says so before it happens. */
#define STARTCHECK_NOFILE_FIXED	64
/* The kernel's default fs.nr_open: a hard limit of "unlimited" cannot be
 * the soft one, setrlimit(2) refuses more than nr_open. */
#define STARTCHECK_NOFILE_CAP	1048576

/* startcheck_nofile_need - 2 x max_clients + cbv_max_concurrent + 64. */
unsigned long
startcheck_nofile_need(const struct conf *conf)
{
	return 2UL * conf->max_clients + conf->cbv_max_concurrent +
	    STARTCHECK_NOFILE_FIXED;
}

/* startcheck_nofile - the event loop uses epoll, never select(2), so
 * FD_SETSIZE does not bound our descriptors, and the soft limit (1024
 * under systemd unless LimitNOFILE= says otherwise) is only a default for
 * programs that use select: raise it to the hard limit, as nginx and
 * systemd's own services do. raise == 0 (strictmxd -n) changes nothing and
 * judges the hard limit, which the daemon will raise to. Returns 0 when
 * startcheck_nofile_need fits, -1 with a warning in msg when not. */
int
startcheck_nofile(const struct conf *conf, int raise, char *msg,
    size_t msglen)
{
	struct rlimit rl;
	rlim_t want, have;
	unsigned long need = startcheck_nofile_need(conf);

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		snprintf(msg, msglen, "getrlimit(RLIMIT_NOFILE): %s",
		    strerror(errno));
		return -1;
	}
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >
	    STARTCHECK_NOFILE_CAP ? STARTCHECK_NOFILE_CAP : rl.rlim_max;
	have = rl.rlim_cur;
	if (want > have) {
		if (!raise)
			have = want;
		else {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
				have = want;
		}
	}
	if (have != RLIM_INFINITY && have < (rlim_t)need) {
		snprintf(msg, msglen, "max_clients %u needs about %lu file "
		    "descriptors (2 x max_clients + cbv_max_concurrent + %d), "
		    "the limit is %llu: raise LimitNOFILE= (systemd) or "
		    "ulimit -n, or lower max_clients", conf->max_clients, need,
		    STARTCHECK_NOFILE_FIXED, (unsigned long long)have);
		return -1;
	}
	return 0;
}
