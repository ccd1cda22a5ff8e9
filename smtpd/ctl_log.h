/* ctl_log.h - `strictmxctl cbv-log`: the sender checks of the stats
 * database(s) as a table, so reviewing sender_policy log needs no sqlite3. */
#ifndef CTL_LOG_H
#define CTL_LOG_H

struct ctl;

int	ctl_cbvlog_main(struct ctl *, int, char **);

#endif
