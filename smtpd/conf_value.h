/* conf_value.h - the syntax of single strictmx.conf values (numbers with
 * units, domain names, addresses), kept apart from the key table in conf.c. */
#ifndef CONF_VALUE_H
#define CONF_VALUE_H

#include <stddef.h>

#include "conf.h"

enum conf_value_unit {
	CONF_UNIT_NONE,		/* plain decimal */
	CONF_UNIT_DURATION,	/* s m h d; bare = seconds */
	CONF_UNIT_SIZE,		/* K M G (1024); bare = bytes */
};

int	conf_value_number(const char *, enum conf_value_unit,
	    unsigned long long *);
const char *conf_value_unit_text(char *, size_t, enum conf_value_unit,
	    unsigned long long);
int	conf_value_hostport(const char *, unsigned, struct conf_listen *);

/* Checkers: 1 when the value is acceptable (possibly rewritten in place),
 * else 0 with the reason in the buffer. */
int	conf_value_domain(const char *, char *, size_t);
int	conf_value_hostname(char *, char *, size_t);
int	conf_value_user(char *, char *, size_t);
int	conf_value_delimiter(char *, char *, size_t);
int	conf_value_keyword(char *, char *, size_t);
int	conf_value_sender(char *, char *, size_t);
int	conf_value_folder(char *, char *, size_t);

#endif
