/* ctl_cbv.h - `strictmxctl cbv ADDRESS` (one call-back verification now,
 * with its transcript) and `strictmxctl cache list|flush|delete ADDRESS`. */
#ifndef CTL_CBV_H
#define CTL_CBV_H

struct conf;

/* argv[0] is the subcommand's name; exit status: cbv 0 pass, 1 fail,
 * 2 tempfail or usage; cache 0 done, 1 error or not found, 2 usage. */
int	ctl_cbv_main(const struct conf *, int, char **);
int	ctl_cache_main(const struct conf *, const char *, int, char **);

#endif
