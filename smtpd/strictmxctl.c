/* strictmxctl.c - the admin tool: recent sessions, the field statistics,
 * the DMARC aggregate view (report_auth.c), and (wired by cbv_cache.c/
 * cbv.c) one CBV now and the CBV cache, and (ctl_spf.c) one SPF
 * evaluation now.
 *
 *	main - global options, then one subcommand from ctl_cmds[]
 *	ctl_conf - load the config once (errors printed, NULL)
 *	ctl_db - open the stats database, read-only or read-write
 *	ctl_err - "strictmxctl: ..." on stderr
 *	ctl_usage - the usage of one subcommand (or all) on stderr, 2
 *
 * Exit status: 0 ok, 1 error, 2 usage (strictmxctl(8)).
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

/* The subcommands. Another module wires its own by naming its function
 * here (a one-line change); until then ctl_unavailable answers. */
static const struct ctl_cmd {
	const char	*name;
	ctl_fn		*fn;
	const char	*args;
} ctl_cmds[] = {
	{ "sessions",	ctl_sessions,	"[--last N]" },
	{ "stats",	ctl_stats,
	  "[--since YYYY-MM-DD] [--until YYYY-MM-DD] [--json]" },
	{ "auth",	ctl_auth,
	  "[--since YYYY-MM-DD] [--until YYYY-MM-DD] [--json]" },
	{ "cbv",	ctl_cbv, "ADDRESS" },
	{ "spf",	ctl_spf, "IP ADDRESS [HELO]" },
	{ "cache",	ctl_cache, "list | flush | delete ADDRESS" },
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
	size_t i;

	fputs("usage:", fp);
	for (i = 0; i < CTL_NCMDS; i++)
		if (cmd == NULL || strcmp(cmd, ctl_cmds[i].name) == 0)
			fprintf(fp, "\tstrictmxctl [-f file | -d dbfile]"
			    " %s %s\n", ctl_cmds[i].name, ctl_cmds[i].args);
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

/* ctl_db - open the stats database (-d, else the config's stats_db) read-
 * only, or read-write when writable is set; never creates it. NULL after
 * an error message. The caller closes it with sqlite3_close(). */
sqlite3 *
ctl_db(struct ctl *ctl, int writable)
{
	const char *path = ctl->db_path;
	struct conf *conf;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	if (path == NULL) {
		if ((conf = ctl_conf(ctl)) == NULL)
			return NULL;
		path = conf->stats_db;
	}
	if (sqlite3_open_v2(path, &db, writable ? SQLITE_OPEN_READWRITE :
	    SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto fail;
	/* The daemon holds the write lock for a few ms a second at most. */
	sqlite3_busy_timeout(db, CTL_BUSY_MS);
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v == 0) {
		ctl_err("%s: not a strictmx stats database (no schema)", path);
		sqlite3_close(db);
		return NULL;
	}
	if (v > STATS_SCHEMA_VERSION)
		ctl_err("%s: schema version %d is newer than this tool's %d",
		    path, v, STATS_SCHEMA_VERSION);
	return db;
fail:
	ctl_err("%s: %s", path, db ? sqlite3_errmsg(db) : strerror(ENOMEM));
	sqlite3_finalize(st);
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
	const struct conf *conf = ctl_conf(ctl);

	if (conf == NULL)
		return CTL_EXIT_ERR;
	return ctl_cache_main(conf, ctl->db_path != NULL ? ctl->db_path :
	    conf->stats_db, argc, argv);
}

static int
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

/* Columns of "sessions": untrusted text made printable by log_printable()
 * (escaped, cut to LOG_TEXT_MAX), empty shown as "-". */
enum ctl_col {
	CTL_COL_START, CTL_COL_ID, CTL_COL_CLIENT, CTL_COL_PTR, CTL_COL_HELO,
	CTL_COL_VERDICT, CTL_COL_TLS, CTL_COL_MSGS, CTL_COL_RCPT,
	CTL_COL_BYTES, CTL_COL_ENDED, CTL_COL_LAST,
};

static const struct {
	const char	*title;
	int		 right;		/* numbers are right-aligned */
} ctl_cols[CTL_COL_LAST] = {
	{ "START", 0 }, { "ID", 0 }, { "CLIENT", 0 }, { "PTR", 0 },
	{ "HELO", 0 }, { "VERDICT", 0 }, { "TLS", 0 }, { "MSGS", 1 },
	{ "RCPT", 1 }, { "BYTES", 1 }, { "ENDED", 0 },
};

/* ctl_cell - a printable copy of one text column of the current row. */
static char *
ctl_cell(sqlite3_stmt *st, int col)
{
	char buf[LOG_PRINTABLE_SIZE];
	const char *s = (const char *)sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (s == NULL || n <= 0)
		return xstrdup("-");
	return xstrdup(log_printable(buf, sizeof(buf), s, (size_t)n));
}

static char *
ctl_cellf(const char *fmt, ...) PRINTF_LIKE(1, 2);

static char *
ctl_cellf(const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return xstrdup(buf);
}

/* ctl_when - local "YYYY-MM-DD HH:MM:SS" of an epoch time. */
static char *
ctl_when(double t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return xstrdup("-");
	return xstrdup(buf);
}

/* ctl_print_table - print rows of cells with each column as wide as its
 * widest cell; the last column is not padded. */
static void
ctl_print_table(char **cell, size_t nrows)
{
	size_t w[CTL_COL_LAST] = { 0 }, r, len;
	int c;

	for (r = 0; r < nrows; r++)
		for (c = 0; c < CTL_COL_LAST; c++)
			if ((len = strlen(cell[r * CTL_COL_LAST + c])) > w[c])
				w[c] = len;
	for (r = 0; r < nrows; r++)
		for (c = 0; c < CTL_COL_LAST; c++) {
			const char *s = cell[r * CTL_COL_LAST + c];

			if (c == CTL_COL_LAST - 1)
				printf("%s\n", s);
			else if (ctl_cols[c].right)
				printf("%*s  ", (int)w[c], s);
			else
				printf("%-*s  ", (int)w[c], s);
		}
}

/* ctl_sessions - "sessions [--last N]": the N newest sessions, newest
 * last, under a title line. */
static int
ctl_sessions(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] = "SELECT start, id, client_ip, ptr, helo,"
	    " helo_verdict, tls, messages, rcpt_accepted, rcpt_refused,"
	    " bytes, ended FROM (SELECT rowid AS r, * FROM sessions"
	    " ORDER BY start DESC, rowid DESC LIMIT ?1) ORDER BY start, r";
	const char *val;
	char *end, **cell = NULL;
	size_t nrows = 0, cap = 0, i;
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
	/* Row 0 holds the titles. */
	cell = xreallocarray(NULL, CTL_COL_LAST, sizeof(*cell));
	for (c = 0; c < CTL_COL_LAST; c++)
		cell[c] = xstrdup(ctl_cols[c].title);
	cap = nrows = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **row;

		if (nrows == cap) {
			cap *= 2;
			cell = xreallocarray(cell, cap * CTL_COL_LAST,
			    sizeof(*cell));
		}
		row = cell + nrows++ * CTL_COL_LAST;
		row[CTL_COL_START] = ctl_when(sqlite3_column_double(st, 0));
		row[CTL_COL_ID] = ctl_cell(st, 1);
		row[CTL_COL_CLIENT] = ctl_cell(st, 2);
		row[CTL_COL_PTR] = ctl_cell(st, 3);
		row[CTL_COL_HELO] = ctl_cell(st, 4);
		row[CTL_COL_VERDICT] = ctl_cell(st, 5);
		row[CTL_COL_TLS] = xstrdup(sqlite3_column_int(st, 6) ?
		    "yes" : "no");
		row[CTL_COL_MSGS] = ctl_cellf("%lld",
		    (long long)sqlite3_column_int64(st, 7));
		row[CTL_COL_RCPT] = ctl_cellf("%lld/%lld",
		    (long long)sqlite3_column_int64(st, 8),
		    (long long)sqlite3_column_int64(st, 9));
		row[CTL_COL_BYTES] = ctl_cellf("%lld",
		    (long long)sqlite3_column_int64(st, 10));
		row[CTL_COL_ENDED] = ctl_cell(st, 11);
	}
	if (rc != SQLITE_DONE) {
		ctl_err("sessions: %s", sqlite3_errmsg(db));
		ret = CTL_EXIT_ERR;
	} else
		ctl_print_table(cell, nrows);
	for (i = 0; i < nrows * CTL_COL_LAST; i++)
		free(cell[i]);
	free(cell);
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

int
main(int argc, char **argv)
{
	struct ctl ctl = { CTL_CONF_DEFAULT, NULL, NULL };
	size_t i;
	int ch, ret;

	while ((ch = getopt(argc, argv, "+d:f:h")) != -1) {
		switch (ch) {
		case 'd':
			ctl.db_path = optarg;
			break;
		case 'f':
			ctl.conf_path = optarg;
			break;
		case 'h':
			ctl_usage_to(stdout, NULL);
			return CTL_EXIT_OK;
		default:
			return ctl_usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return ctl_usage(NULL);
	for (i = 0; i < CTL_NCMDS; i++)
		if (strcmp(argv[0], ctl_cmds[i].name) == 0)
			break;
	if (i == CTL_NCMDS) {
		ctl_err("unknown command: %s", argv[0]);
		return ctl_usage(NULL);
	}
	ret = ctl_cmds[i].fn(&ctl, argc, argv);
	if (ctl.conf != NULL)
		conf_free(ctl.conf);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("write error: %s", strerror(errno));
		ret = CTL_EXIT_ERR;
	}
	return ret;
}
