/* ctl_metrics.h - `strictmxctl metrics`: the stats database(s) as the
 * Prometheus text exposition format, for node_exporter's textfile
 * collector. */
#ifndef CTL_METRICS_H
#define CTL_METRICS_H

struct ctl;

int	ctl_metrics_main(struct ctl *, int, char **);

#endif
