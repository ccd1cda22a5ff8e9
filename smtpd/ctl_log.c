/* ctl_log.c - `strictmxctl cbv-log [--last N] [--since D] [--until D]`:
 * the newest N cbv rows (DESIGN §6) of whole local days, oldest first.
 *
 *	ctl_cbvlog_main - print the table; a CTL_EXIT_* status
 *
 * Every text column is untrusted (remote replies, sender addresses) and
 * goes through ctl_cell() (log_printable: escaped and bounded).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ctl_log.h"
#include "ctl_table.h"
#include "report.h"
#include "strictmxctl.h"
#include "xmalloc.h"

#define CTL_LOG_LAST	20
#define CTL_LOG_MAX	1000000

static const char *const ctl_log_titles[] = {
	"TIME", "ADDRESS", "DECIDED_BY", "OUTCOME", "STAGE", "MX", "ENFORCED",
	"REPLY",
};
static const int ctl_log_right[] = { 0, 0, 0, 0, 0, 0, 0, 0 };

/* ctl_log_day - the epoch bound of day d (next: the day after), or -1
 * after a message. */
static double
ctl_log_day(const char *cmd, const char *d, int next)
{
	struct tm tm;
	double t;

	if (report_parse_day(d, &tm) < 0 ||
	    (t = report_day_start(&tm, next)) < 0) {
		ctl_err("%s: not a date (YYYY-MM-DD): %s", cmd, d);
		return -1;
	}
	return t;
}

int
ctl_cbvlog_main(struct ctl *ctl, int argc, char **argv)
{
	static const char sql[] = "SELECT time, address, decided_by, outcome,"
	    " stage, mx_host, enforced, reply FROM (SELECT * FROM cbv"
	    " WHERE time >= ?2 AND time < ?3 ORDER BY time DESC LIMIT ?1)"
	    " ORDER BY time";
	const char *since = NULL, *until = NULL, *last_s = NULL;
	struct ctl_table t;
	double from = 0, to = 1e18;
	char *end;
	long last = CTL_LOG_LAST;
	sqlite3 *db;
	sqlite3_stmt *st;
	int a, rc, c, ret = CTL_EXIT_OK;

	for (a = 1; a < argc; a++) {
		if ((rc = ctl_optval(argc, argv, &a, "--last", &last_s)) == 0 &&
		    (rc = ctl_optval(argc, argv, &a, "--since", &since)) == 0)
			rc = ctl_optval(argc, argv, &a, "--until", &until);
		if (rc == 0)
			ctl_err("%s: unknown argument: %s", argv[0], argv[a]);
		if (rc <= 0)
			return ctl_usage(argv[0]);
	}
	if (last_s != NULL) {
		errno = 0;
		last = strtol(last_s, &end, 10);
		if (errno || end == last_s || *end != '\0' || last < 1 ||
		    last > CTL_LOG_MAX) {
			ctl_err("%s: --last: not a number from 1 to %d: %s",
			    argv[0], CTL_LOG_MAX, last_s);
			return ctl_usage(argv[0]);
		}
	}
	if ((since != NULL && (from = ctl_log_day(argv[0], since, 0)) < 0) ||
	    (until != NULL && (to = ctl_log_day(argv[0], until, 1)) < 0))
		return ctl_usage(argv[0]);
	if (from >= to) {
		ctl_err("%s: --since %s is after --until %s", argv[0], since,
		    until);
		return ctl_usage(argv[0]);
	}
	if ((db = ctl_db(ctl, 0)) == NULL)
		return CTL_EXIT_ERR;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 1, last) != SQLITE_OK ||
	    sqlite3_bind_double(st, 2, from) != SQLITE_OK ||
	    sqlite3_bind_double(st, 3, to) != SQLITE_OK) {
		ctl_err("%s: %s", argv[0], sqlite3_errmsg(db));
		sqlite3_close(db);
		return CTL_EXIT_ERR;
	}
	ctl_table_init(&t, ctl_log_titles, ctl_log_right,
	    sizeof(ctl_log_right) / sizeof(ctl_log_right[0]));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **row = ctl_table_row(&t);

		row[0] = ctl_when(sqlite3_column_double(st, 0));
		for (c = 1; c <= 5; c++)
			row[c] = ctl_cell(st, c);
		row[6] = xstrdup(sqlite3_column_int(st, 6) ? "yes" : "no");
		row[7] = ctl_cell(st, 7);
	}
	if (rc != SQLITE_DONE) {
		ctl_err("%s: %s", argv[0], sqlite3_errmsg(db));
		ret = CTL_EXIT_ERR;
	} else
		ctl_table_print(stdout, &t);
	ctl_table_free(&t);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}
