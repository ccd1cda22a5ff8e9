/* ctl_table.c - strictmxctl's aligned text tables: each column as wide as
 * its widest cell, numbers right-aligned, untrusted text made printable.
 *
 *	ctl_table_init - a table of ncols columns with its title row
 *	ctl_table_row - a new row of ncols cells for the caller to fill
 *		with malloc'd strings (the table frees them)
 *	ctl_table_print - every row, the last column not padded
 *	ctl_table_free - free every cell
 *	ctl_cell - a printable copy of one text column of a row ("-" empty)
 *	ctl_cellf - a formatted cell (at most 127 bytes)
 *	ctl_when - local "YYYY-MM-DD HH:MM:SS" of an epoch time
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ctl_table.h"
#include "log.h"
#include "xmalloc.h"

void
ctl_table_init(struct ctl_table *t, const char *const *titles,
    const int *right, size_t ncols)
{
	char **row;
	size_t c;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->right = right;
	row = ctl_table_row(t);
	for (c = 0; c < ncols; c++)
		row[c] = xstrdup(titles[c]);
}

char **
ctl_table_row(struct ctl_table *t)
{
	char **row;

	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cell = xreallocarray(t->cell, t->cap * t->ncols,
		    sizeof(*t->cell));
	}
	row = t->cell + t->nrows++ * t->ncols;
	memset(row, 0, t->ncols * sizeof(*row));
	return row;
}

void
ctl_table_print(FILE *fp, const struct ctl_table *t)
{
	size_t *w, r, c, len;

	w = xreallocarray(NULL, t->ncols, sizeof(*w));
	memset(w, 0, t->ncols * sizeof(*w));
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if ((len = strlen(t->cell[r * t->ncols + c])) > w[c])
				w[c] = len;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cell[r * t->ncols + c];

			if (c == t->ncols - 1)
				fprintf(fp, "%s\n", s);
			else if (t->right[c])
				fprintf(fp, "%*s  ", (int)w[c], s);
			else
				fprintf(fp, "%-*s  ", (int)w[c], s);
		}
	free(w);
}

void
ctl_table_free(struct ctl_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
	memset(t, 0, sizeof(*t));
}

char *
ctl_cell(sqlite3_stmt *st, int col)
{
	char buf[LOG_PRINTABLE_SIZE];
	const char *s = (const char *)sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (s == NULL || n <= 0)
		return xstrdup("-");
	return xstrdup(log_printable(buf, sizeof(buf), s, (size_t)n));
}

char *
ctl_cellf(const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return xstrdup(buf);
}

char *
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
