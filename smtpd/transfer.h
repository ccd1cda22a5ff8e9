/* transfer.h - the DATA phase of a session: open the maildir file, write
 * the trace headers, stream the message, commit it, and answer. */
#ifndef TRANSFER_H
#define TRANSFER_H

struct session;
struct evbuffer;

void	transfer_start(struct session *);
int	transfer_feed(struct session *, struct evbuffer *);

#endif
