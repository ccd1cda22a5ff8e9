/* ctl_table.h - strictmxctl's aligned text tables (sessions, cache list,
 * cbv-log): a title row, then rows of printable cells. */
#ifndef CTL_TABLE_H
#define CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "strictmx.h"

struct sqlite3_stmt;

struct ctl_table {
	size_t		  ncols, nrows, cap;
	char		**cell;		/* nrows * ncols, row 0 the titles */
	const int	 *right;	/* per column: right-aligned */
};

void	ctl_table_init(struct ctl_table *, const char *const *,
	    const int *, size_t);
char	**ctl_table_row(struct ctl_table *);
void	ctl_table_print(FILE *, const struct ctl_table *);
void	ctl_table_free(struct ctl_table *);
char	*ctl_cell(struct sqlite3_stmt *, int);
char	*ctl_cellf(const char *, ...) PRINTF_LIKE(1, 2);
char	*ctl_when(double);

#endif
