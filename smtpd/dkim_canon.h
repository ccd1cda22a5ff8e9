/* dkim_canon.h - RFC 6376 §3.4 canonicalisation: header fields whole, the
 * body as a streaming state machine (LF in, CRLF out), with the l= limit. */
#ifndef DKIM_CANON_H
#define DKIM_CANON_H

#include <stddef.h>
#include <stdint.h>

/* Where canonical octets go (a hash update, or a test buffer). */
typedef void dkim_sink_fn(void *, const char *, size_t);

void	dkim_canon_header(int, const char *, size_t, int, dkim_sink_fn *,
	    void *);

struct dkim_body {
	int		 relaxed;
	uint64_t	 limit;		/* l=, UINT64_MAX for none */
	uint64_t	 out;		/* canonical octets passed to the sink */
	uint64_t	 total;		/* canonical body length without l= */
	uint64_t	 empty;		/* empty lines held back (§3.4.3) */
	int		 content;	/* the current line has output */
	int		 wsp;		/* relaxed: WSP held back in the line */
	dkim_sink_fn	*sink;
	void		*arg;
};

void	dkim_body_init(struct dkim_body *, int, uint64_t, dkim_sink_fn *,
	    void *);
void	dkim_body_feed(struct dkim_body *, const char *, size_t);
void	dkim_body_end(struct dkim_body *);

#endif
