/* ctl_metrics.c - `strictmxctl metrics`: counters over the whole stats
 * database (so they only grow, as the textfile collector wants), in the
 * Prometheus text exposition format 0.0.4: "# HELP", "# TYPE", then one
 * "name{label="value"} number" line per sample. strictmxctl(8) lists them.
 *
 *	ctl_metrics_main - print every metric; a CTL_EXIT_* status
 *
 * Label values come from the database (untrusted: a verdict or reply a
 * remote caused); ctl_metrics_label() keeps [A-Za-z0-9_.+-], bounded, so
 * no quote, backslash or newline can break the format.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "ctl_metrics.h"
#include "strictmxctl.h"

#define CTL_METRICS_LABEL_MAX	32
#define CTL_METRICS_NLABELS	2

struct ctl_metric {
	const char	*name, *type, *help;
	const char	*table;		/* skipped when the file lacks it */
	const char	*labels[CTL_METRICS_NLABELS];	/* NULL: fewer */
	const char	*sql;		/* the label values, then the number */
};

/* Every counter counts rows of the whole database; the one gauge is the
 * cache size now. A refused HELO is 5xx for a fail verdict, 4xx for
 * tempfail (helo.c); a refused message carries its reply code. */
static const struct ctl_metric ctl_metrics[] = {
	{ "strictmx_sessions_total", "counter",
	  "SMTP sessions, by how they ended.", "sessions", { "ended" },
	  "SELECT ended, count(*) FROM sessions GROUP BY 1 ORDER BY 1" },
	{ "strictmx_refusals_total", "counter",
	  "Refusals of HELO/EHLO and of messages at the end of DATA, by"
	  " command and reply class.", "sessions", { "command", "class" },
	  "SELECT 'helo', CASE WHEN helo_verdict GLOB 'tempfail*' THEN '4xx'"
	  " ELSE '5xx' END, count(*) FROM sessions WHERE helo_verdict GLOB"
	  " 'fail*' OR helo_verdict GLOB 'tempfail*' GROUP BY 2 ORDER BY 2" },
	{ "strictmx_refusals_total", NULL, NULL, "auth",
	  { "command", "class" },
	  "SELECT 'data', (reply_code / 100) || 'xx', count(*) FROM auth"
	  " WHERE disposition = 'refused' GROUP BY 2 ORDER BY 2" },
	{ "strictmx_recipients_total", "counter",
	  "RCPT TO commands, accepted or refused (any reason).", "sessions",
	  { "result" },
	  "SELECT 'accepted', coalesce(sum(rcpt_accepted), 0) FROM sessions"
	  " UNION ALL SELECT 'refused', coalesce(sum(rcpt_refused), 0)"
	  " FROM sessions" },
	{ "strictmx_received_bytes_total", "counter",
	  "Bytes of message data received.", "sessions", { NULL },
	  "SELECT coalesce(sum(bytes), 0) FROM sessions" },
	{ "strictmx_cbv_total", "counter",
	  "Sender checks, by what decided them and their outcome.", "cbv",
	  { "decided_by", "outcome" },
	  "SELECT decided_by, outcome, count(*) FROM cbv GROUP BY 1, 2"
	  " ORDER BY 1, 2" },
	{ "strictmx_messages_total", "counter",
	  "Messages that reached the end of DATA, by disposition.", "auth",
	  { "disposition" },
	  "SELECT disposition, count(*) FROM auth GROUP BY 1 ORDER BY 1" },
	{ "strictmx_spf_results_total", "counter",
	  "SPF results of messages (none evaluated: not counted).", "auth",
	  { "result" },
	  "SELECT spf_result, count(*) FROM auth WHERE spf_result IS NOT NULL"
	  " GROUP BY 1 ORDER BY 1" },
	{ "strictmx_dkim_results_total", "counter",
	  "DKIM results of messages, by their first signature's result"
	  " (none: unsigned).", "auth", { "result" },
	  "SELECT CASE WHEN dkim IS NULL OR dkim = '' THEN 'none' WHEN"
	  " instr(dkim, ' ') > 0 THEN substr(dkim, 1, instr(dkim, ' ') - 1)"
	  " ELSE dkim END, count(*) FROM auth GROUP BY 1 ORDER BY 1" },
	{ "strictmx_dmarc_results_total", "counter",
	  "DMARC results of messages (none evaluated: not counted).", "auth",
	  { "result" },
	  "SELECT dmarc_result, count(*) FROM auth WHERE dmarc_result IS NOT"
	  " NULL GROUP BY 1 ORDER BY 1" },
	{ "strictmx_cbv_cache_entries", "gauge",
	  "Entries in the CBV cache, expired ones included.", "cbv_cache",
	  { NULL }, "SELECT count(*) FROM cbv_cache" },
};

/* ctl_metrics_label - a label value safe in the format: NULL or empty is
 * "none", other bytes than [A-Za-z0-9_.+-] become '_'. */
static const char *
ctl_metrics_label(char *buf, size_t size, const unsigned char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return "none";
	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    strchr("_.+-", s[i]) != NULL ? (char)s[i] : '_';
	buf[i] = '\0';
	return buf;
}

/* ctl_metrics_has - 1 when the database (or the merged views) has the
 * table. */
static int
ctl_metrics_has(sqlite3 *db, const char *table)
{
	sqlite3_stmt *st;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE"
	    " type = 'table' AND name = ?1 UNION ALL SELECT 1 FROM"
	    " sqlite_temp_master WHERE type = 'view' AND name = ?1", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		found = 1;
	sqlite3_finalize(st);
	return found;
}

/* ctl_metrics_one - the samples of one metric on stdout; -1 on error. */
static int
ctl_metrics_one(sqlite3 *db, const struct ctl_metric *m)
{
	char buf[CTL_METRICS_NLABELS][CTL_METRICS_LABEL_MAX + 1];
	sqlite3_stmt *st;
	int n, i, rc;

	if (m->help != NULL)
		printf("# HELP %s %s\n# TYPE %s %s\n", m->name, m->help,
		    m->name, m->type);
	if ((rc = ctl_metrics_has(db, m->table)) <= 0)
		return rc;
	for (n = 0; n < CTL_METRICS_NLABELS && m->labels[n] != NULL; n++)
		;
	if (sqlite3_prepare_v2(db, m->sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fputs(m->name, stdout);
		for (i = 0; i < n; i++)
			printf("%s%s=\"%s\"", i == 0 ? "{" : ",",
			    m->labels[i], ctl_metrics_label(buf[i],
			    sizeof(buf[i]), sqlite3_column_text(st, i)));
		printf("%s %lld\n", n > 0 ? "}" : "",
		    (long long)sqlite3_column_int64(st, n));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
ctl_metrics_main(struct ctl *ctl, int argc, char **argv)
{
	sqlite3 *db;
	size_t i;
	int ret = CTL_EXIT_OK;

	if (argc > 1) {
		ctl_err("%s: unknown argument: %s", argv[0], argv[1]);
		return ctl_usage(argv[0]);
	}
	if ((db = ctl_db(ctl, 0)) == NULL)
		return CTL_EXIT_ERR;
	for (i = 0; i < sizeof(ctl_metrics) / sizeof(ctl_metrics[0]); i++)
		if (ctl_metrics_one(db, &ctl_metrics[i]) < 0) {
			ctl_err("%s: %s: %s", argv[0], ctl_metrics[i].name,
			    sqlite3_errmsg(db));
			ret = CTL_EXIT_ERR;
			break;
		}
	sqlite3_close(db);
	return ret;
}
