/* table.h - the recipients table: which local addresses exist and which
 * maildir each one is delivered to. The local part never builds a path. */
#ifndef TABLE_H
#define TABLE_H

#include <stdio.h>

struct conf;
struct table;

struct table *table_load(const struct conf *, FILE *);
void	table_free(struct table *);
const char *table_lookup(const struct table *, const struct conf *,
	    const char *, const char *);
size_t	table_count(const struct table *);

#endif
