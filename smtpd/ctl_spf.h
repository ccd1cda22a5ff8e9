/* ctl_spf.h - `strictmxctl spf IP ADDRESS [HELO]`: one SPF evaluation now,
 * with the daemon's evaluator, and the reply strictmxd would give. */
#ifndef CTL_SPF_H
#define CTL_SPF_H

struct conf;

/* argv[0] is the subcommand's name; exit status: 0 pass, 1 fail,
 * 2 temperror or usage, 3 none, neutral, softfail or permerror. */
int	ctl_spf_main(const struct conf *, int, char **);

#endif
