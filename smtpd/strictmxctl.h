/* strictmxctl.h - what each strictmxctl subcommand receives: the global
 * options, and the config and stats database opened on demand. */
#ifndef STRICTMXCTL_H
#define STRICTMXCTL_H

#include "strictmx.h"

struct conf;
struct sqlite3;

/* Exit statuses of strictmxctl(8). */
#define CTL_EXIT_OK	0
#define CTL_EXIT_ERR	1
#define CTL_EXIT_TEMPFAIL 2	/* cbv, spf: a temporary failure */
#define CTL_EXIT_USAGE	64	/* EX_USAGE of sysexits(3) */

#define CTL_DB_MAX	64	/* -d files merged at most */

struct ctl {
	const char	*conf_path;	/* -f, or the default config */
	const char	*db_paths[CTL_DB_MAX];	/* -d/--db, in order */
	size_t		 ndb;		/* 0: the config's stats_db */
	struct conf	*conf;		/* set by ctl_conf() */
};

/* A subcommand: argv[0] is its name; returns a CTL_EXIT_* status. */
typedef int ctl_fn(struct ctl *, int, char **);

struct conf *ctl_conf(struct ctl *);
struct sqlite3 *ctl_db(struct ctl *, int);
void	ctl_err(const char *, ...) PRINTF_LIKE(1, 2);
int	ctl_usage(const char *);
int	ctl_optval(int, char **, int *, const char *, const char **);

#endif
