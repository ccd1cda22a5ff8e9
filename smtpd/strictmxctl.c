/* strictmxctl.c - the admin tool: recent sessions, the field statistics,
 * the DMARC aggregate view (report_auth.c), the cbv rows (ctl_log.c), the
 * Prometheus metrics (ctl_metrics.c), one CBV now and the CBV cache
 * (ctl_cbv.c), and one SPF evaluation now (ctl_spf.c).
 *
 *	main - the global options anywhere on the line, then one subcommand
 *		from ctl_cmds[]
 *	ctl_conf - load the config once (errors printed, NULL)
 *	ctl_db - open the stats database(s) read-only, or one read-write;
 *		several --db files are merged behind TEMP views (DESIGN §9)
 *	ctl_err - "strictmxctl: ..." on stderr
 *	ctl_usage - the usage of one subcommand (or all) on stderr, 64
 *	ctl_optval - one "--name VALUE" or "--name=VALUE" argument
 *
 * Exit status: 0 ok (pass), 1 error (fail), 2 tempfail (cbv, spf), 64 a
 * usage error (strictmxctl(8)).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "conf.h"
#include "ctl_log.h"
#include "ctl_metrics.h"
#include "ctl_table.h"
#include "log.h"
#include "report.h"
#include "report_auth.h"
#include "stats.h"
#include "strictmxctl.h"
#include "ctl_cbv.h"
#include "ctl_spf.h"
#include "xmalloc.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR	"/etc"
#endif
#define CTL_CONF_DEFAULT	SYSCONFDIR "/strictmx/strictmx.conf"
#define CTL_BUSY_MS		2000
#define CTL_LAST_DEFAULT	20
#define CTL_LAST_MAX		1000000

static ctl_fn ctl_sessions, ctl_stats, ctl_auth, ctl_cbv, ctl_cache, ctl_spf;
static ctl_fn ctl_cbvlog, ctl_metrics;

/* The subcommands and the databases each reads: CTL_DB_NONE needs the
 * config (cbv, spf: -d is refused), CTL_DB_ONE one file, CTL_DB_MANY any
 * number of --db files merged into one report. */
enum { CTL_DB_NONE, CTL_DB_ONE, CTL_DB_MANY };

static const struct ctl_cmd {
	const char	*name;
	ctl_fn		*fn;
	int		 dbs;
	const char	*args;
} ctl_cmds[] = {
	{ "sessions",	ctl_sessions, CTL_DB_MANY, "[--last N]" },
	{ "stats",	ctl_stats, CTL_DB_MANY,
	  "[--since YYYY-MM-DD] [--until YYYY-MM-DD] [--json]" },
	{ "auth",	ctl_auth, CTL_DB_MANY,
	  "[--since YYYY-MM-DD] [--until YYYY-MM-DD] [--json]" },
	{ "cbv-log",	ctl_cbvlog, CTL_DB_MANY,
	  "[--last N] [--since YYYY-MM-DD] [--until YYYY-MM-DD]" },
	{ "metrics",	ctl_metrics, CTL_DB_MANY, "" },
	{ "cache",	ctl_cache, CTL_DB_ONE, "list | flush | delete ADDRESS" },
	{ "cbv",	ctl_cbv, CTL_DB_NONE, "ADDRESS" },
	{ "spf",	ctl_spf, CTL_DB_NONE, "IP ADDRESS [HELO]" },
};
#define CTL_NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("strictmxctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ctl_usage_to - the usage of cmd (NULL: of every command) on fp. */
static void
ctl_usage_to(FILE *fp, const char *cmd)
{
	static const char *const dbopt[] = {
		"[-f file]", "[-f file | -d dbfile]",
		"[-f file | -d dbfile ...]",
	};
	size_t i;

	fputs("usage:", fp);
	for (i = 0; i < CTL_NCMDS; i++)
		if (cmd == NULL || strcmp(cmd, ctl_cmds[i].name) == 0)
			fprintf(fp, "\tstrictmxctl %s %s%s%s\n",
			    dbopt[ctl_cmds[i].dbs], ctl_cmds[i].name,
			    ctl_cmds[i].args[0] ? " " : "", ctl_cmds[i].args);
	if (cmd == NULL)
		fprintf(fp, "default config: %s\n", CTL_CONF_DEFAULT);
}

/* ctl_usage - the usage of cmd (NULL: all) on stderr; returns
 * CTL_EXIT_USAGE so that callers can "return ctl_usage(argv[0])". */
int
ctl_usage(const char *cmd)
{
	ctl_usage_to(stderr, cmd);
	return CTL_EXIT_USAGE;
}

/* ctl_conf - the config, loaded at the first call; errors are printed by
 * conf_load() with file and line. */
struct conf *
ctl_conf(struct ctl *ctl)
{
	if (ctl->conf == NULL)
		ctl->conf = conf_load(ctl->conf_path, stderr);
	return ctl->conf;
}

/* ctl_schema - the schema version of database name ("main", "dbN"),
 * -1 on error. */
static int
ctl_schema(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int v = -1;

	snprintf(sql, sizeof(sql), "PRAGMA %s.user_version", name);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ctl_merge - attach every further --db file (read-only, as the main
 * connection) and put a TEMP view in front of each table, the UNION ALL
 * of that table in every file. Unqualified names resolve to TEMP first,
 * so report.c and report_auth.c read the merged rows unchanged. The
 * files must share one schema version: then they have the same tables. */
static int
ctl_merge(struct ctl *ctl, sqlite3 *db, int v)
{
	static const char *const tables[] = {
		"sessions", "cbv", "cbv_cache", "auth",
	};
	sqlite3_stmt *st = NULL;
	char name[32], *sql = NULL, *q;
	size_t i, t;
	int found, ok;

	for (i = 1; i < ctl->ndb; i++) {
		snprintf(name, sizeof(name), "db%zu", i);
		if ((q = sqlite3_mprintf("ATTACH ?1 AS %s", name)) == NULL)
			return -1;
		ok = sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_bind_text(st, 1, ctl->db_paths[i], -1,
		    SQLITE_STATIC) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_DONE;
		sqlite3_free(q);
		sqlite3_finalize(st);
		st = NULL;
		if (!ok) {
			ctl_err("%s: %s", ctl->db_paths[i], sqlite3_errmsg(db));
			return -1;
		}
		if (ctl_schema(db, name) != v) {
			ctl_err("%s: schema version %d, not %d as %s: cannot "
			    "merge", ctl->db_paths[i], ctl_schema(db, name),
			    v, ctl->db_paths[0]);
			return -1;
		}
	}
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		if (sqlite3_prepare_v2(db, "SELECT 1 FROM main.sqlite_master"
		    " WHERE type = 'table' AND name = ?1", -1, &st, NULL) !=
		    SQLITE_OK)
			return -1;
		sqlite3_bind_text(st, 1, tables[t], -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
		if (!found)
			continue;
		sql = sqlite3_mprintf("CREATE TEMP VIEW %s AS SELECT * FROM"
		    " main.%s", tables[t], tables[t]);
		for (i = 1; sql != NULL && i < ctl->ndb; i++) {
			snprintf(name, sizeof(name), "db%zu", i);
			q = sqlite3_mprintf("%s UNION ALL SELECT * FROM %s.%s",
			    sql, name, tables[t]);
			sqlite3_free(sql);
			sql = q;
		}
		if (sql == NULL || sqlite3_exec(db, sql, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			ctl_err("merging %s: %s", tables[t], sql == NULL ?
			    strerror(ENOMEM) : sqlite3_errmsg(db));
			sqlite3_free(sql);
			return -1;
		}
		sqlite3_free(sql);
	}
	return 0;
}

/* ctl_db - open the stats database (-d, else the config's stats_db) read-
 * only, or read-write when writable is set; never creates it. Several -d
 * files (read-only only) are merged by ctl_merge(). NULL after an error
 * message. The caller closes it with sqlite3_close(). */
sqlite3 *
ctl_db(struct ctl *ctl, int writable)
{
	const char *path = ctl->ndb > 0 ? ctl->db_paths[0] : NULL;
	struct conf *conf;
	sqlite3 *db = NULL;
	int v;

	if (path == NULL) {
		if ((conf = ctl_conf(ctl)) == NULL)
			return NULL;
		path = conf->stats_db;
	}
	if (writable && ctl->ndb > 1) {
		ctl_err("only one database can be written at a time");
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, writable ? SQLITE_OPEN_READWRITE :
	    SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto fail;
	/* The daemon holds the write lock for a few ms a second at most. */
	sqlite3_busy_timeout(db, CTL_BUSY_MS);
	if ((v = ctl_schema(db, "main")) < 0)
		goto fail;
	if (v == 0) {
		ctl_err("%s: not a strictmx stats database (no schema)", path);
		sqlite3_close(db);
		return NULL;
	}
	if (v > STATS_SCHEMA_VERSION)
		ctl_err("%s: schema version %d is newer than this tool's %d",
		    path, v, STATS_SCHEMA_VERSION);
	if (ctl->ndb > 1 && ctl_merge(ctl, db, v) < 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
fail:
	ctl_err("%s: %s", path, db ? sqlite3_errmsg(db) : strerror(ENOMEM));
	sqlite3_close(db);
	return NULL;
}

/* ctl_spf - one SPF evaluation now (ctl_spf.c). */
static int
ctl_spf(struct ctl *ctl, int argc, char **argv)
{
	const struct conf *conf = ctl_conf(ctl);

	return conf == NULL ? CTL_EXIT_ERR : ctl_spf_main(conf, argc, argv);
}

/* ctl_cbv, ctl_cache - the CBV debugging and cache commands (ctl_cbv.c). */
static int
ctl_cbv(struct ctl *ctl, int argc, char **argv)
{
	const struct conf *conf = ctl_conf(ctl);

	return conf == NULL ? CTL_EXIT_ERR : ctl_cbv_main(conf, argc, argv);
}

static int
ctl_cache(struct ctl *ctl, int argc, char **argv)
{
	const struct conf *conf = ctl->ndb > 0 ? NULL : ctl_conf(ctl);

	if (ctl->ndb == 0 && conf == NULL)
		return CTL_EXIT_ERR;
	return ctl_cache_main(conf, ctl->ndb > 0 ? ctl->db_paths[0] :
	    conf->stats_db, argc, argv);
}

/* ctl_cbvlog, ctl_metrics - the cbv rows and the Prometheus metrics of
 * the database(s) (ctl_log.c, ctl_metrics.c). */
static int
ctl_cbvlog(struct ctl *ctl, int argc, char **argv)
{
	return ctl_cbvlog_main(ctl, argc, argv);
}

static int
ctl_metrics(struct ctl *ctl, int argc, char **argv)
{
	return ctl_metrics_main(ctl, argc, argv);
}

/* ctl_optval - argv[*i] is "NAME VALUE" (advancing *i) or "NAME=VALUE":
 * 1 with *val set; 0 another argument; -1 the value is missing. */
int
ctl_optval(int argc, char **argv, int *i, const char *name,
    const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		ctl_err("%s: %s needs a value", argv[0], name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

/* Columns of "sessions": untrusted text made printable by ctl_cell(),
 * empty shown as "-". */
static const char *const ctl_sess_titles[] = {
	"START", "ID", "CLIENT", "PTR", "HELO", "VERDICT", "TLS", "MSGS",
	"RCPT", "BYTES", "ENDED",
};
static const int ctl_sess_right[] = { 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0 };

/* ctl_sessions - "sessions [--last N]": the N newest sessions, newest
 * last, under a title line. */
static int
ctl_sessions(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] = "SELECT start, id, client_ip, ptr, helo,"
	    " helo_verdict, tls, messages, rcpt_accepted, rcpt_refused,"
	    " bytes, ended FROM (SELECT * FROM sessions"
	    " ORDER BY start DESC LIMIT ?1) ORDER BY start";
	struct ctl_table t;
	const char *val;
	char *end;
	long last = CTL_LAST_DEFAULT;
	sqlite3 *db;
	sqlite3_stmt *st;
	int a, rc, c, ret = CTL_EXIT_OK;

	for (a = 1; a < argc; a++) {
		if ((rc = ctl_optval(argc, argv, &a, "--last", &val)) < 0)
			return ctl_usage(argv[0]);
		if (rc == 0) {
			ctl_err("%s: unknown argument: %s", argv[0], argv[a]);
			return ctl_usage(argv[0]);
		}
		errno = 0;
		last = strtol(val, &end, 10);
		if (errno || end == val || *end != '\0' || last < 1 ||
		    last > CTL_LAST_MAX) {
			ctl_err("%s: --last: not a number from 1 to %d: %s",
			    argv[0], CTL_LAST_MAX, val);
			return ctl_usage(argv[0]);
		}
	}
	if ((db = ctl_db(ctl, 0)) == NULL)
		return CTL_EXIT_ERR;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, last) != SQLITE_OK) {
		ctl_err("sessions: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return CTL_EXIT_ERR;
	}
	ctl_table_init(&t, ctl_sess_titles, ctl_sess_right,
	    sizeof(ctl_sess_right) / sizeof(ctl_sess_right[0]));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **row = ctl_table_row(&t);

		row[0] = ctl_when(sqlite3_column_double(st, 0));
		for (c = 1; c <= 5; c++)
			row[c] = ctl_cell(st, c);
		row[6] = xstrdup(sqlite3_column_int(st, 6) ? "yes" : "no");
		row[7] = ctl_cellf("%lld",
		    (long long)sqlite3_column_int64(st, 7));
		row[8] = ctl_cellf("%lld/%lld",
		    (long long)sqlite3_column_int64(st, 8),
		    (long long)sqlite3_column_int64(st, 9));
		row[9] = ctl_cellf("%lld",
		    (long long)sqlite3_column_int64(st, 10));
		row[10] = ctl_cell(st, 11);
	}
	if (rc != SQLITE_DONE) {
		ctl_err("sessions: %s", sqlite3_errmsg(db));
		ret = CTL_EXIT_ERR;
	} else
		ctl_table_print(stdout, &t);
	ctl_table_free(&t);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

/* A period of whole local days, both inclusive, as stats and auth take
 * it: the dates as given (default today) and [from, to) in epoch. */
struct ctl_period {
	char		 today[REPORT_DAY_LEN];
	const char	*since, *until;
	double		 from, to;
	int		 json;
};

/* ctl_period - parse "[--since D] [--until D] [--json]" into *p; 0, or
 * the usage status after a message. */
static int
ctl_period(int argc, char **argv, struct ctl_period *p)
{
	struct tm tsince, tuntil;
	int a, rc;

	memset(p, 0, sizeof(*p));
	for (a = 1; a < argc; a++) {
		if ((rc = ctl_optval(argc, argv, &a, "--since",
		    &p->since)) == 0)
			rc = ctl_optval(argc, argv, &a, "--until", &p->until);
		if (rc < 0)
			return ctl_usage(argv[0]);
		if (rc > 0)
			continue;
		if (strcmp(argv[a], "--json") == 0) {
			p->json = 1;
			continue;
		}
		ctl_err("%s: unknown argument: %s", argv[0], argv[a]);
		return ctl_usage(argv[0]);
	}
	report_today(p->today, sizeof(p->today));
	if (p->since == NULL)
		p->since = p->today;
	if (p->until == NULL)
		p->until = p->today;
	if (report_parse_day(p->since, &tsince) < 0 ||
	    report_parse_day(p->until, &tuntil) < 0) {
		ctl_err("%s: not a date (YYYY-MM-DD): %s", argv[0],
		    report_parse_day(p->since, &tsince) < 0 ? p->since :
		    p->until);
		return ctl_usage(argv[0]);
	}
	p->from = report_day_start(&tsince, 0);
	p->to = report_day_start(&tuntil, 1);
	if (p->from < 0 || p->to < 0 || p->from >= p->to) {
		ctl_err("%s: --since %s is after --until %s", argv[0],
		    p->since, p->until);
		return ctl_usage(argv[0]);
	}
	return 0;
}

/* ctl_stats - "stats [--since D] [--until D] [--json]": the report of
 * DESIGN §6 for whole local days, both inclusive, default today. */
static int
ctl_stats(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_period p;
	struct report r;
	sqlite3 *db;
	int rc;

	if ((rc = ctl_period(argc, argv, &p)) != 0)
		return rc;
	if ((db = ctl_db(ctl, 0)) == NULL)
		return CTL_EXIT_ERR;
	if (report_compute(db, p.from, p.to, &r) < 0) {
		ctl_err("stats: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return CTL_EXIT_ERR;
	}
	sqlite3_close(db);
	if (p.json)
		report_print_json(stdout, &r, p.since, p.until);
	else
		report_print_text(stdout, &r, p.since, p.until);
	return CTL_EXIT_OK;
}

/* ctl_auth - "auth [--since D] [--until D] [--json]": the DMARC aggregate
 * view of DESIGN §8 (report_auth.c) for the same periods as stats. */
static int
ctl_auth(struct ctl *ctl, int argc, char **argv)
{
	struct report_auth_row *rows;
	struct ctl_period p;
	size_t nrows;
	sqlite3 *db;
	int rc;

	if ((rc = ctl_period(argc, argv, &p)) != 0)
		return rc;
	if ((db = ctl_db(ctl, 0)) == NULL)
		return CTL_EXIT_ERR;
	if (report_auth_compute(db, p.from, p.to, &rows, &nrows) < 0) {
		ctl_err("auth: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return CTL_EXIT_ERR;
	}
	sqlite3_close(db);
	if (p.json)
		report_auth_print_json(stdout, rows, nrows);
	else
		report_auth_print_text(stdout, rows, nrows);
	free(rows);
	return CTL_EXIT_OK;
}

/* ctl_global - argv[*i] is a global option: 1 consumed (and its value),
 * 0 not one, -1 a usage error, 2 -h (print the usage). */
static int
ctl_global(struct ctl *ctl, int argc, char **argv, int *i)
{
	static const struct {
		const char	*name;
		int		 db;
	} opt[] = {
		{ "--db", 1 }, { "-d", 1 }, { "--config", 0 }, { "-f", 0 },
	};
	const char *a = argv[*i], *val = NULL;
	size_t k;
	int rc = 0;

	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		return 2;
	for (k = 0; k < sizeof(opt) / sizeof(opt[0]); k++)
		if ((rc = ctl_optval(argc, argv, i, opt[k].name, &val)) != 0)
			break;
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* -dFILE and -fFILE, as getopt(3) takes them */
		if (a[0] != '-' || (a[1] != 'd' && a[1] != 'f') ||
		    a[2] == '\0')
			return 0;
		k = a[1] == 'd' ? 1 : 3;
		val = a + 2;
	}
	if (!opt[k].db)
		ctl->conf_path = val;
	else if (ctl->ndb == CTL_DB_MAX) {
		ctl_err("at most %d databases", CTL_DB_MAX);
		return -1;
	} else
		ctl->db_paths[ctl->ndb++] = val;
	return 1;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	char **args;
	size_t i = CTL_NCMDS;
	int a, n = 0, rc, ret, opts = 1;

	memset(&ctl, 0, sizeof(ctl));
	ctl.conf_path = CTL_CONF_DEFAULT;
	/* The global options go anywhere (before or after the command);
	 * "--" ends them; the rest, in order, are the command's. */
	args = xreallocarray(NULL, (size_t)argc + 1, sizeof(*args));
	for (a = 1; a < argc; a++) {
		if (opts && strcmp(argv[a], "--") == 0) {
			opts = 0;
			continue;
		}
		if (opts && argv[a][0] == '-' && argv[a][1] != '\0') {
			if ((rc = ctl_global(&ctl, argc, argv, &a)) == 2) {
				ctl_usage_to(stdout, NULL);
				free(args);
				return CTL_EXIT_OK;
			}
			if (rc < 0) {
				free(args);
				return ctl_usage(NULL);
			}
			if (rc > 0)
				continue;
			if (n == 0) {
				ctl_err("unknown option: %s", argv[a]);
				free(args);
				return ctl_usage(NULL);
			}
		}
		args[n++] = argv[a];
	}
	args[n] = NULL;
	if (n < 1) {
		free(args);
		return ctl_usage(NULL);
	}
	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(args[0], ctl_cmds[i].name) == 0)
			break;
	if (i == CTL_NCMDS) {
		ctl_err("unknown command: %s", args[0]);
		free(args);
		return ctl_usage(NULL);
	}
	if (ctl_cmds[i].dbs == CTL_DB_NONE && ctl.ndb > 0) {
		ctl_err("%s: -d does not apply: it needs the config (-f)",
		    args[0]);
		ret = ctl_usage(args[0]);
		free(args);
		return ret;
	}
	if (ctl_cmds[i].dbs == CTL_DB_ONE && ctl.ndb > 1) {
		ctl_err("%s: takes one database", args[0]);
		ret = ctl_usage(args[0]);
		free(args);
		return ret;
	}
	ret = ctl_cmds[i].fn(&ctl, n, args);
	free(args);
	if (ctl.conf != NULL)
		conf_free(ctl.conf);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("write error: %s", strerror(errno));
		ret = CTL_EXIT_ERR;
	}
	return ret;
}
