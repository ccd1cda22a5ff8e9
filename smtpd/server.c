/* server.c - listeners, connection limits, the list of live sessions, and
 * the two signals that change the server: SIGHUP reloads, SIGTERM stops.
 *
 *	runconf_load - load a config and its recipients table together
 *	runconf_ref, runconf_unref - share a loaded config among sessions
 *	server_listen - bind every `listen` address (before dropping root)
 *	server_session_gone - a session was freed: forget it
 *	server_reload - SIGHUP: install a new config, or keep the old one
 *	server_stop - SIGTERM: stop accepting, drain, exit the loop
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "server.h"
#include "conf.h"
#include "table.h"
#include "cidr.h"
#include "resolver.h"
#include "resolver_cache.h"
#include "startcheck.h"
#include "sender.h"
#include "cbv.h"
#include "notify.h"
#include "tls.h"
#include "log.h"
#include "xmalloc.h"

/* How long SIGTERM waits for transactions in DATA to finish. */
#define SERVER_DRAIN_SECONDS	30

static void server_accept_cb(struct evconnlistener *, evutil_socket_t,
	    struct sockaddr *, int, void *);
static void server_accept_error_cb(struct evconnlistener *, void *);

/* After accept() fails for want of descriptors or memory, the listeners
 * rest this long: retrying at once would spin the loop on the same error. */
#define SERVER_ACCEPT_PAUSE	1

/* runconf_load - the config and the recipients table are one unit: a
 * reload installs both or neither. Errors go to errs, one per line. */
struct runconf *
runconf_load(const char *path, FILE *errs)
{
	struct runconf *rc;
	struct conf *conf;
	struct table *table;

	if ((conf = conf_load(path, errs)) == NULL)
		return NULL;
	if ((table = table_load(conf, errs)) == NULL ||
	    sender_check_config(conf, errs) == -1) {
		table_free(table);
		conf_free(conf);
		return NULL;
	}
	rc = xcalloc(1, sizeof(*rc));
	rc->conf = conf;
	rc->table = table;
	if (conf->tls_certificate != NULL &&
	    (rc->tls = tls_ctx_new(conf, errs)) == NULL) {
		runconf_unref(rc);
		return NULL;
	}
	rc->refs = 1;
	return rc;
}

struct runconf *
runconf_ref(struct runconf *rc)
{
	rc->refs++;
	return rc;
}

void
runconf_unref(struct runconf *rc)
{
	if (rc == NULL || --rc->refs > 0)
		return;
	tls_ctx_free(rc->tls);
	table_free(rc->table);
	conf_free(rc->conf);
	free(rc);
}

/* The accept queue: a burst of connections (a botnet, 10 000 clients
 * reconnecting after a restart) beyond it is not refused but stalls: with
 * the queue full the kernel drops the client's handshake ACK, the client
 * believes it is connected and waits for a greeting that only comes if a
 * SYN-ACK retransmission finds room (issue 10's idle bench saw clients
 * wait for minutes behind 128). The kernel caps it at net.core.somaxconn
 * (4096 since Linux 5.4). */
#define SERVER_BACKLOG	1024

/* server_socket - a listening socket; IPv6 ones are V6ONLY so that the
 * default "0.0.0.0:25 [::]:25" binds both families side by side. */
static evutil_socket_t
server_socket(const struct conf_listen *l)
{
	evutil_socket_t fd;
	int one = 1;

	fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->ss, l->len) == -1 ||
	    listen(fd, SERVER_BACKLOG) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
server_listen(struct server *srv)
{
	const struct conf *conf = srv->rc->conf;
	size_t i;

	srv->listeners = xcalloc(conf->nlisten, sizeof(*srv->listeners));
	for (i = 0; i < conf->nlisten; i++) {
		evutil_socket_t fd = server_socket(&conf->listen[i]);

		if (fd == -1) {
			log_crit("cannot listen on %s: %s",
			    conf->listen[i].text, strerror(errno));
			return -1;
		}
		/* backlog 0: listening already (-1 would make libevent
		 * call listen(fd, 128) again, shrinking the queue). */
		srv->listeners[i] = evconnlistener_new(srv->base,
		    server_accept_cb, srv, LEV_OPT_CLOSE_ON_FREE, 0, fd);
		if (srv->listeners[i] == NULL) {
			close(fd);
			log_crit("cannot listen on %s", conf->listen[i].text);
			return -1;
		}
		evconnlistener_set_error_cb(srv->listeners[i],
		    server_accept_error_cb);
		srv->nlisteners++;
		log_info("listening on %s", conf->listen[i].text);
	}
	return 0;
}

/* server_refuse - answer 421 at connect without a session: a best-effort
 * non-blocking write (the socket buffer is empty, so it fits), then close. */
static void
server_refuse(evutil_socket_t fd, const char *ip, const char *hostname,
    const char *why)
{
	char buf[SMTP_REPLYLINE_MAX];
	int n;

	n = snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: %s\r\n",
	    hostname, why);
	if (n > 0 && (size_t)n < sizeof(buf) &&
	    send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("client=%s: cannot send 421: %s", ip, strerror(errno));
	log_info("client=%s refused at connect: %s", ip, why);
	close(fd);
}

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	const struct conf *conf = srv->rc->conf;
	struct sockaddr_storage a, b;
	struct session *s;
	unsigned same = 0;
	char ip[64];

	(void)l;
	evutil_make_socket_nonblocking(fd);
	cidr_sockaddr_unmap(sa, &a);
	if (evutil_inet_ntop(a.ss_family, a.ss_family == AF_INET ?
	    (void *)&((struct sockaddr_in *)&a)->sin_addr :
	    (void *)&((struct sockaddr_in6 *)&a)->sin6_addr, ip,
	    sizeof(ip)) == NULL)
		strlcpy_compat(ip, "?", sizeof(ip));
	if (srv->stopping) {
		close(fd);
		return;
	}
	if (srv->nsessions >= conf->max_clients) {
		server_refuse(fd, ip, conf->hostname, "too many connections");
		return;
	}
	/* A linear scan: max_clients is small (1000) and this runs once a
	 * connection, far cheaper than keeping a second index up to date.
	 * An IPv6 client is its client_ipv6_prefix (cidr_same_client). */
	TAILQ_FOREACH(s, &srv->sessions, entry) {
		cidr_sockaddr_unmap((struct sockaddr *)&s->peer, &b);
		if (cidr_same_client(&a, &b, conf->client_ipv6_prefix))
			same++;
	}
	if (same >= conf->max_clients_per_ip) {
		server_refuse(fd, ip, conf->hostname, a.ss_family == AF_INET6 &&
		    conf->client_ipv6_prefix < 128 ?
		    "too many connections from your network" :
		    "too many connections from your address");
		return;
	}
	if ((s = session_new(srv, fd, sa, (socklen_t)salen)) == NULL) {
		server_refuse(fd, ip, conf->hostname, "out of resources");
		return;
	}
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	srv->nsessions++;
}

static void
server_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	size_t i;

	(void)fd, (void)what;
	srv->accept_paused = 0;
	if (srv->stopping)
		return;
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_enable(srv->listeners[i]);
}

/* server_accept_error_cb - accept() failed: EMFILE and the like are a
 * resource shortage, not a reason to stop; pause every listener, say so
 * once, and try again in SERVER_ACCEPT_PAUSE seconds. Clients wait in the
 * kernel's backlog meanwhile. */
static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { SERVER_ACCEPT_PAUSE, 0 };
	int err = EVUTIL_SOCKET_ERROR();
	size_t i;

	(void)l;
	if (err == EINTR || err == EAGAIN || err == ECONNABORTED ||
	    srv->accept_paused)
		return;
	log_warn("accept: %s; not accepting for %d s (%u sessions open)",
	    strerror(err), SERVER_ACCEPT_PAUSE, srv->nsessions);
	srv->accept_paused = 1;
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_disable(srv->listeners[i]);
	if (srv->accept_timer == NULL)
		srv->accept_timer = evtimer_new(srv->base,
		    server_accept_resume_cb, srv);
	if (srv->accept_timer != NULL)
		evtimer_add(srv->accept_timer, &tv);
}

void
server_session_gone(struct server *srv, struct session *s)
{
	TAILQ_REMOVE(&srv->sessions, s, entry);
	srv->nsessions--;
	if (srv->stopping && srv->nsessions == 0)
		event_base_loopexit(srv->base, NULL);
}

/* server_reload - SIGHUP. The new config and table replace the old ones
 * for new sessions only; sessions in progress finish under the config
 * they started with. A broken config changes nothing and says why. */
int
server_reload(struct server *srv)
{
	struct runconf *rc;
	char *errbuf = NULL, msg[512];
	size_t errlen = 0;
	FILE *errs;

	notify_send("RELOADING=1");
	if ((errs = open_memstream(&errbuf, &errlen)) == NULL) {
		log_warn("reload: %s", strerror(errno));
		notify_send("READY=1");
		return -1;
	}
	rc = runconf_load(srv->conf_path, errs);
	fclose(errs);
	if (rc == NULL) {
		char *line, *save = NULL;

		for (line = strtok_r(errbuf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_warn("reload: %s", line);
		log_warn("reload failed: keeping the configuration in force");
		free(errbuf);
		notify_send("READY=1");
		return -1;
	}
	free(errbuf);
	if (rc->conf->nlisten != srv->rc->conf->nlisten ||
	    memcmp(rc->conf->listen, srv->rc->conf->listen,
	    rc->conf->nlisten * sizeof(*rc->conf->listen)) != 0)
		log_warn("reload: listen addresses changed; a restart is "
		    "needed for that (privileges are dropped)");
	/* The limit was raised at start; a larger max_clients may not fit. */
	if (startcheck_nofile(rc->conf, 1, msg, sizeof(msg)) == -1)
		log_warn("reload: %s", msg);
	resolver_cache_log("reload");
	/* XXX the resolver servers, the dmp_table and the CBV limits and
	 * timeouts are process-wide: sessions in progress get them from
	 * the new config too (the rest of their config stays theirs). */
	if (resolver_reconfigure(rc->conf) == 0)
		startcheck_dns_start(srv->base, rc->conf);
	sender_reconfigure(rc->conf);
	cbv_reconfigure(rc->conf);
	runconf_unref(srv->rc);
	srv->rc = rc;
	log_info("reload: configuration %s and %zu recipients in force",
	    srv->conf_path, table_count(rc->table));
	notify_send("READY=1");
	return 0;
}

static void
server_stop_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s, *next;

	(void)fd, (void)what;
	log_warn("shutdown: %u session(s) did not finish in %d s; closing",
	    srv->nsessions, SERVER_DRAIN_SECONDS);
	TAILQ_FOREACH_SAFE(s, &srv->sessions, entry, next) {
		strlcpy_compat(s->rec.ended, "shutdown", sizeof(s->rec.ended));
		session_free(s);
	}
	event_base_loopexit(srv->base, NULL);
}

/* server_stop - SIGTERM: no new connections; DATA in progress finishes
 * (bounded by SERVER_DRAIN_SECONDS), the other sessions get 421 now. */
void
server_stop(struct server *srv)
{
	struct session *s, *next;
	struct timeval tv = { SERVER_DRAIN_SECONDS, 0 };
	size_t i;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	notify_send("STOPPING=1");
	log_info("shutdown: stopping, %u session(s) open", srv->nsessions);
	for (i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i]);
	srv->nlisteners = 0;
	TAILQ_FOREACH_SAFE(s, &srv->sessions, entry, next)
		session_shutdown(s);
	if (srv->nsessions == 0) {
		event_base_loopexit(srv->base, NULL);
		return;
	}
	srv->stop_timer = evtimer_new(srv->base, server_stop_timer_cb, srv);
	if (srv->stop_timer != NULL)
		evtimer_add(srv->stop_timer, &tv);
}
