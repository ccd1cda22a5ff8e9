/* msghdr.h - the header section of a message as it streams in: captured
 * (bounded), split into fields, for DKIM (RFC 6376) and DMARC's From:. */
#ifndef MSGHDR_H
#define MSGHDR_H

#include <stddef.h>

/* The most header octets kept. A header section larger than this is not
 * kept whole: DKIM then reports its signatures as permerror ("header
 * section too large") and DMARC finds no usable From:. 256 KiB is far
 * beyond any real header (Postfix's header_size_limit is 100 KiB). */
#define MSGHDR_MAX	(256 * 1024)

/* The header section (not "struct msghdr": POSIX <sys/socket.h> has
 * one). The message as strictmx stores it: LF line ends (data.c turned
 * CRLF into LF and removed dot-stuffing). RFC 6376 canonicalisation works
 * on CRLF lines; its users treat each LF as CRLF. */
struct msghdr_section {
	char	*buf;		/* the header section, fields as received,
				 * each line LF-terminated; not the empty
				 * line that ends it */
	size_t	 len, cap;
	int	 done;		/* the empty line (or the end) was seen */
	int	 overflow;	/* more than MSGHDR_MAX: buf is incomplete */
	int	 bol;		/* at the start of a line (msghdr.c keeps its
				 * line classifier's state here too) */
	int	 malformed;	/* a line of the section is neither a field
				 * nor a continuation (msghdr.c, RFC 5322) */
};

/* One field: name (without the colon, as received) and the whole field
 * as received (name, colon, value, folded lines, the final LF). */
struct msghdr_field {
	const char	*name;
	size_t		 namelen;
	const char	*raw;
	size_t		 rawlen;
};

void	msghdr_init(struct msghdr_section *);
void	msghdr_free(struct msghdr_section *);
size_t	msghdr_feed(struct msghdr_section *, const char *, size_t);
void	msghdr_end(struct msghdr_section *);
int	msghdr_next(const struct msghdr_section *, size_t *, struct msghdr_field *);
size_t	msghdr_count(const struct msghdr_section *, const char *);

#endif
