/* sender_dmp.h - the dmp_table: sender domains whose mail must come from
 * listed networks, decided without DNS or a probe (the seed's DMP table). */
#ifndef SENDER_DMP_H
#define SENDER_DMP_H

#include <stdio.h>

#include "cidr.h"

/* One domain and the networks its mail must come from. */
struct sender_dmp_entry {
	char		*domain;		/* lower case */
	struct cidr_list nets;
};

/* The whole table, sorted by domain. */
struct sender_dmp {
	struct sender_dmp_entry *v;
	size_t		 n;
};

int	sender_dmp_load(const char *, struct sender_dmp *, FILE *);
const struct sender_dmp_entry *sender_dmp_find(const struct sender_dmp *,
	    const char *);
void	sender_dmp_free(struct sender_dmp *);

#endif
