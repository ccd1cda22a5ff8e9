/* command.h - the SMTP command table and its dispatcher: state, syntax and
 * error-limit rules live here once, so the verb handlers never repeat them. */
#ifndef COMMAND_H
#define COMMAND_H

#include <stddef.h>

struct session;

void	command_dispatch(struct session *, char *, size_t, int);

#endif
