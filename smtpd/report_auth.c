/* report_auth.c - the DMARC aggregate view of DESIGN §8: one row per
 * (From: domain, client IP) with the counts of SPF, DKIM and DMARC
 * outcomes and of dispositions, as an RFC 7489 aggregate report's
 * <record> shows them (Appendix C: row/source_ip, count, policy_evaluated,
 * identifiers/header_from, auth_results), for people or as JSON.
 *
 *	report_auth_compute - the rows of [since, until), ordered by From:
 *		domain (none last), then count (most first), then client IP
 *	report_auth_print_text - aligned columns under a title line
 *	report_auth_print_json - a JSON list of objects, one per row
 *
 * The SQL is one GROUP BY over the auth table; every count is a FILTER
 * over the same conditions that strictmxctl stats uses (report.h), so
 * that the view of a period adds up to the stats lines of that period.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "report.h"
#include "report_auth.h"
#include "xmalloc.h"

/* The groups, in the order of the text columns after MSGS. */
enum report_auth_group {
	REPORT_AUTH_G_SPF,
	REPORT_AUTH_G_DKIM,
	REPORT_AUTH_G_DMARC,
	REPORT_AUTH_G_POLICY,
	REPORT_AUTH_G_DISPOSITION,
	REPORT_AUTH_G_LAST
};

static const struct {
	const char	*title;		/* text column */
	const char	*prefix;	/* of the JSON keys */
} report_auth_groups[REPORT_AUTH_G_LAST] = {
	[REPORT_AUTH_G_SPF] = { "SPF", "spf_" },
	[REPORT_AUTH_G_DKIM] = { "DKIM", "dkim_" },
	[REPORT_AUTH_G_DMARC] = { "DMARC", "dmarc_" },
	[REPORT_AUTH_G_POLICY] = { "POLICY", "policy_" },
	[REPORT_AUTH_G_DISPOSITION] = { "DISPOSITION", "" },
};

/* Each count: its group, its name in a text cell (the JSON key is the
 * group's prefix and this name), and the SQL condition on an auth row.
 * Within SPF, DKIM, DMARC and DISPOSITION the conditions partition the
 * rows whose values are the daemon's (strictmxctl(8) "Table auth");
 * POLICY counts only the rows that found a DMARC record. */
static const struct {
	enum report_auth_group	 group;
	const char		*name;
	const char		*sql;
} report_auth_counts[REPORT_AUTH_LAST] = {
	[REPORT_AUTH_SPF_PASS] = { REPORT_AUTH_G_SPF, "pass",
	    "spf_result = 'pass'" },
	[REPORT_AUTH_SPF_FAIL] = { REPORT_AUTH_G_SPF, "fail",
	    "spf_result = 'fail'" },
	[REPORT_AUTH_SPF_SOFTFAIL] = { REPORT_AUTH_G_SPF, "softfail",
	    "spf_result = 'softfail'" },
	[REPORT_AUTH_SPF_NEUTRAL] = { REPORT_AUTH_G_SPF, "neutral",
	    "spf_result = 'neutral'" },
	[REPORT_AUTH_SPF_NONE] = { REPORT_AUTH_G_SPF, "none",
	    "spf_result = 'none'" },
	[REPORT_AUTH_SPF_TEMPERROR] = { REPORT_AUTH_G_SPF, "temperror",
	    "spf_result = 'temperror'" },
	[REPORT_AUTH_SPF_PERMERROR] = { REPORT_AUTH_G_SPF, "permerror",
	    "spf_result = 'permerror'" },
	[REPORT_AUTH_SPF_NOT_CHECKED] = { REPORT_AUTH_G_SPF, "not_checked",
	    "spf_result IS NULL" },
	[REPORT_AUTH_DKIM_PASS] = { REPORT_AUTH_G_DKIM, "pass",
	    REPORT_DKIM_PASS_SQL },
	[REPORT_AUTH_DKIM_FAIL] = { REPORT_AUTH_G_DKIM, "fail",
	    REPORT_DKIM_FAIL_SQL },
	[REPORT_AUTH_DKIM_NONE] = { REPORT_AUTH_G_DKIM, "none",
	    REPORT_DKIM_NONE_SQL },
	[REPORT_AUTH_DMARC_PASS] = { REPORT_AUTH_G_DMARC, "pass",
	    "dmarc_result = 'pass'" },
	[REPORT_AUTH_DMARC_FAIL] = { REPORT_AUTH_G_DMARC, "fail",
	    "dmarc_result = 'fail'" },
	[REPORT_AUTH_DMARC_NONE] = { REPORT_AUTH_G_DMARC, "none",
	    "dmarc_result = 'none'" },
	[REPORT_AUTH_DMARC_TEMPERROR] = { REPORT_AUTH_G_DMARC, "temperror",
	    "dmarc_result = 'temperror'" },
	[REPORT_AUTH_DMARC_PERMERROR] = { REPORT_AUTH_G_DMARC, "permerror",
	    "dmarc_result = 'permerror'" },
	[REPORT_AUTH_DMARC_NOT_CHECKED] = { REPORT_AUTH_G_DMARC,
	    "not_checked", "dmarc_result IS NULL" },
	[REPORT_AUTH_POLICY_NONE] = { REPORT_AUTH_G_POLICY, "none",
	    "dmarc_policy = 'none'" },
	[REPORT_AUTH_POLICY_QUARANTINE] = { REPORT_AUTH_G_POLICY,
	    "quarantine", "dmarc_policy = 'quarantine'" },
	[REPORT_AUTH_POLICY_REJECT] = { REPORT_AUTH_G_POLICY, "reject",
	    "dmarc_policy = 'reject'" },
	[REPORT_AUTH_DELIVERED] = { REPORT_AUTH_G_DISPOSITION, "delivered",
	    "disposition = 'delivered'" },
	[REPORT_AUTH_JUNK] = { REPORT_AUTH_G_DISPOSITION, "junk",
	    "disposition = 'junk'" },
	[REPORT_AUTH_REFUSED_BY_DMARC] = { REPORT_AUTH_G_DISPOSITION,
	    "refused_by_dmarc", REPORT_REFUSED_DMARC_SQL },
	[REPORT_AUTH_REFUSED_OTHER] = { REPORT_AUTH_G_DISPOSITION,
	    "refused_other", "disposition = 'refused' AND NOT "
	    REPORT_REFUSED_DMARC_SQL },
};

/* The query is assembled from the constant fragments above (no data ever
 * goes into it: the period is bound). lower(): a domain is compared
 * without regard to ASCII case (RFC 1035 §2.3.3), so Example.ORG and
 * example.org are one row. */
#define REPORT_AUTH_SQL_HEAD \
	"SELECT lower(coalesce(from_domain, '')) AS f," \
	" coalesce(client_ip, '') AS ip, count(*) AS n"
#define REPORT_AUTH_SQL_TAIL \
	" FROM auth WHERE time >= ?1 AND time < ?2 GROUP BY f, ip" \
	" ORDER BY f = '', f, n DESC, ip"
#define REPORT_AUTH_SQL_MAX	8192

/* report_auth_sql - the query into buf; -1 if it does not fit. */
static int
report_auth_sql(char *buf, size_t len)
{
	size_t used, i;
	int n;

	n = snprintf(buf, len, "%s", REPORT_AUTH_SQL_HEAD);
	if (n < 0 || (size_t)n >= len)
		return -1;
	used = (size_t)n;
	for (i = 0; i < REPORT_AUTH_LAST; i++) {
		n = snprintf(buf + used, len - used,
		    ", count(*) FILTER (WHERE %s)", report_auth_counts[i].sql);
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
	}
	n = snprintf(buf + used, len - used, "%s", REPORT_AUTH_SQL_TAIL);
	return n < 0 || (size_t)n >= len - used ? -1 : 0;
}

/* report_auth_text - copy column col of the current row into dst (size
 * len, cut there: the stored values fit the daemon's fields). */
static void
report_auth_text(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	size_t k;

	if (s == NULL || n <= 0) {
		dst[0] = '\0';
		return;
	}
	k = (size_t)n < len - 1 ? (size_t)n : len - 1;
	memcpy(dst, s, k);
	dst[k] = '\0';
	/* an embedded NUL ends the text, as it would for the daemon */
}

static uint64_t
report_auth_count(sqlite3_stmt *st, int col)
{
	sqlite3_int64 v = sqlite3_column_int64(st, col);

	return v < 0 ? 0 : (uint64_t)v;
}

/* report_auth_compute - the rows of the auth table whose time is in
 * [since, until), epoch seconds, grouped; *rows (free() it) and *nrows.
 * A database without the table (schema 1) has no rows. 0, or -1 with the
 * reason in sqlite3_errmsg(db). */
int
report_auth_compute(sqlite3 *db, double since, double until,
    struct report_auth_row **rows, size_t *nrows)
{
	char sql[REPORT_AUTH_SQL_MAX];
	struct report_auth_row *r = NULL, *row;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *st = NULL;
	int rc;

	*rows = NULL;
	*nrows = 0;
	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE"
	    " type = 'table' AND name = 'auth'", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;		/* schema 1: no auth table, no rows */
	if (rc != SQLITE_ROW || report_auth_sql(sql, sizeof(sql)) < 0 ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_double(st, 1, since) != SQLITE_OK ||
	    sqlite3_bind_double(st, 2, until) != SQLITE_OK ||
	    sqlite3_column_count(st) != 3 + REPORT_AUTH_LAST) {
		sqlite3_finalize(st);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			r = xreallocarray(r, cap, sizeof(*r));
		}
		row = &r[n++];
		report_auth_text(st, 0, row->from_domain,
		    sizeof(row->from_domain));
		report_auth_text(st, 1, row->client_ip,
		    sizeof(row->client_ip));
		row->messages = report_auth_count(st, 2);
		for (i = 0; i < REPORT_AUTH_LAST; i++)
			row->n[i] = report_auth_count(st, 3 + (int)i);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(r);
		return -1;
	}
	*rows = r;
	*nrows = n;
	return 0;
}

/* The text columns: FROM, CLIENT, MSGS, then one per group. */
#define REPORT_AUTH_COL_FROM	0
#define REPORT_AUTH_COL_CLIENT	1
#define REPORT_AUTH_COL_MSGS	2
#define REPORT_AUTH_COL_GROUP0	3
#define REPORT_AUTH_NCOLS	(REPORT_AUTH_COL_GROUP0 + REPORT_AUTH_G_LAST)
/* A group cell: at most 8 "name:count" entries of at most 16 + 1 + 20
 * bytes and a space each. */
#define REPORT_AUTH_CELL_MAX	512

/* report_auth_group_cell - "name:count" for each non-zero count of the
 * group, in the table's order, separated by spaces; "-" if none. */
static void
report_auth_group_cell(char *buf, size_t len,
    const struct report_auth_row *row, enum report_auth_group g)
{
	size_t used = 0, i;
	int n;

	buf[0] = '\0';
	for (i = 0; i < REPORT_AUTH_LAST; i++) {
		if (report_auth_counts[i].group != g || row->n[i] == 0)
			continue;
		n = snprintf(buf + used, len - used, "%s%s:%" PRIu64,
		    used ? " " : "", report_auth_counts[i].name, row->n[i]);
		if (n < 0 || (size_t)n >= len - used)
			break;		/* cannot happen: see CELL_MAX */
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(buf, len, "-");
}

/* report_auth_cell - the text of column col of row (NULL: the title);
 * network text made printable as in strictmxctl sessions. */
static const char *
report_auth_cell(char *buf, size_t len, const struct report_auth_row *row,
    int col)
{
	static const char *const titles[REPORT_AUTH_COL_GROUP0] = {
		"FROM", "CLIENT", "MSGS",
	};

	if (row == NULL)
		return col < REPORT_AUTH_COL_GROUP0 ? titles[col] :
		    report_auth_groups[col - REPORT_AUTH_COL_GROUP0].title;
	switch (col) {
	case REPORT_AUTH_COL_FROM:
		if (row->from_domain[0] == '\0')
			return "(none)";
		return log_printable(buf, len, row->from_domain,
		    strlen(row->from_domain));
	case REPORT_AUTH_COL_CLIENT:
		return log_printable(buf, len, row->client_ip,
		    strlen(row->client_ip));
	case REPORT_AUTH_COL_MSGS:
		snprintf(buf, len, "%" PRIu64, row->messages);
		return buf;
	default:
		report_auth_group_cell(buf, len, row,
		    (enum report_auth_group)(col - REPORT_AUTH_COL_GROUP0));
		return buf;
	}
}

/* report_auth_print_text - the title line, then one line per row, each
 * column as wide as its widest cell and two spaces apart, MSGS right-
 * aligned, the last column not padded (like strictmxctl sessions). */
void
report_auth_print_text(FILE *fp, const struct report_auth_row *rows,
    size_t nrows)
{
	char buf[REPORT_AUTH_CELL_MAX > LOG_PRINTABLE_SIZE ?
	    REPORT_AUTH_CELL_MAX : LOG_PRINTABLE_SIZE];
	size_t w[REPORT_AUTH_NCOLS] = { 0 }, len, r;
	const char *s;
	int c;

	/* r = 0 is the title line, r = k the row k - 1 */
	for (r = 0; r <= nrows; r++)
		for (c = 0; c < REPORT_AUTH_NCOLS; c++) {
			s = report_auth_cell(buf, sizeof(buf),
			    r ? &rows[r - 1] : NULL, c);
			if ((len = strlen(s)) > w[c])
				w[c] = len;
		}
	for (r = 0; r <= nrows; r++)
		for (c = 0; c < REPORT_AUTH_NCOLS; c++) {
			s = report_auth_cell(buf, sizeof(buf),
			    r ? &rows[r - 1] : NULL, c);
			if (c == REPORT_AUTH_NCOLS - 1)
				fprintf(fp, "%s\n", s);
			else if (c == REPORT_AUTH_COL_MSGS)
				fprintf(fp, "%*s  ", (int)w[c], s);
			else
				fprintf(fp, "%-*s  ", (int)w[c], s);
		}
}

/* report_auth_print_json - "[", one object per row on its own line with
 * from_domain (null for none), client_ip, messages and every count under
 * its key (zeros too, so that scripts find every key), "]". */
void
report_auth_print_json(FILE *fp, const struct report_auth_row *rows,
    size_t nrows)
{
	size_t r, i;

	fputs("[", fp);
	for (r = 0; r < nrows; r++) {
		fputs(r ? ",\n  {\"from_domain\": " : "\n  {\"from_domain\": ",
		    fp);
		if (rows[r].from_domain[0] == '\0')
			fputs("null", fp);
		else
			report_json_string(fp, rows[r].from_domain);
		fputs(", \"client_ip\": ", fp);
		report_json_string(fp, rows[r].client_ip);
		fprintf(fp, ", \"messages\": %" PRIu64, rows[r].messages);
		for (i = 0; i < REPORT_AUTH_LAST; i++)
			fprintf(fp, ", \"%s%s\": %" PRIu64,
			    report_auth_groups[report_auth_counts[i].group].prefix,
			    report_auth_counts[i].name, rows[r].n[i]);
		fputc('}', fp);
	}
	fputs(nrows ? "\n]\n" : "]\n", fp);
}
