/* server.h - the daemon's shared state: listeners, the live sessions, the
 * reference-counted configuration in force, and the reload/stop logic. */
#ifndef SERVER_H
#define SERVER_H

#include "session.h"

struct event_base;
struct evconnlistener;
struct conf;
struct table;

/* A configuration and its recipients table, loaded together. Sessions keep
 * the one they started with; SIGHUP installs a new one for new sessions. */
struct runconf {
	struct conf	*conf;
	struct table	*table;
	struct ssl_ctx_st *tls;		/* NULL: no STARTTLS */
	int		 refs;
};

struct server {
	struct event_base	 *base;
	struct runconf		 *rc;
	struct evconnlistener	**listeners;
	size_t			  nlisteners;
	struct session_list	  sessions;
	unsigned		  nsessions;
	int			  stopping;
	struct event		 *stop_timer;
	int			  accept_paused;	/* out of descriptors */
	struct event		 *accept_timer;
	const char		 *conf_path;
};

struct runconf *runconf_load(const char *, FILE *);
struct runconf *runconf_ref(struct runconf *);
void	runconf_unref(struct runconf *);
int	server_listen(struct server *);
void	server_session_gone(struct server *, struct session *);
int	server_reload(struct server *);
void	server_stop(struct server *);

#endif
