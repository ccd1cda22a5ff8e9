/* notify.h - the systemd notify protocol, written by hand: one datagram to
 * $NOTIFY_SOCKET per state change (READY, RELOADING, STOPPING). */
#ifndef NOTIFY_H
#define NOTIFY_H

void	notify_send(const char *);

#endif
