/* data.h - the DATA phase as a byte-level state machine (after qmail's
 * blast()): ends only on CRLF.CRLF, dot-unstuffs, emits LF line ends. */
#ifndef DATA_H
#define DATA_H

#include <stddef.h>

/* Where the unstuffed, LF-terminated message text goes. Returns 0, or -1
 * with errno set; after a failure the reader swallows to the end. */
typedef int data_sink_fn(void *, const char *, size_t);

enum data_error {
	DATA_OK,
	DATA_ERR_BARE_NEWLINE,	/* bare LF or CR, bare_newline reject */
	DATA_ERR_SIZE,		/* over max_message_size */
	DATA_ERR_LINE,		/* a line over DATA_LINE_MAX */
	DATA_ERR_WRITE,		/* the sink failed; see sink_errno */
};

struct data_reader {
	/* private state; see data.c */
	int		 state;		/* content: line start, text, CR seen */
	int		 match;		/* how much of CR LF . CR LF is matched */
	int		 normalize;	/* bare_newline normalize (else reject) */
	size_t		 max_size;	/* SIZE_MAX when unlimited */
	size_t		 size;		/* message octets counted (CRLF = 2) */
	size_t		 line_len;	/* octets of the current line */
	data_sink_fn	*sink;
	void		*sink_arg;
	enum data_error	 error;		/* the first error only */
	int		 sink_errno;	/* errno of the failed sink call */
	char		 out[8192];	/* batches sink calls */
	size_t		 outlen;
};

void	data_init(struct data_reader *, size_t, int, data_sink_fn *, void *);
size_t	data_feed(struct data_reader *, const char *, size_t, int *);
const char *data_error_text(enum data_error);

#endif
