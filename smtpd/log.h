/* log.h - logging to syslog (LOG_MAIL) or stderr, and the sanitiser that
 * every piece of network text passes through before it reaches a log line. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

#include "strictmx.h"

void	log_init(int to_stderr, int verbose);
int	log_verbose(void);
void	log_crit(const char *, ...) PRINTF_LIKE(1, 2);
void	log_warn(const char *, ...) PRINTF_LIKE(1, 2);
void	log_info(const char *, ...) PRINTF_LIKE(1, 2);
void	log_debug(const char *, ...) PRINTF_LIKE(1, 2);
const char *log_printable(char *, size_t, const char *, size_t);

/* Buffer size for log_printable() of one LOG_TEXT_MAX field. */
#define LOG_PRINTABLE_SIZE	(LOG_TEXT_MAX * 4 + 4)

#endif
