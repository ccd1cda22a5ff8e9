/* dkim_tag.h - RFC 6376 §3.2 tag=value lists (DKIM-Signature fields and key
 * records) and the values inside them: base64 with FWS, colon lists. */
#ifndef DKIM_TAG_H
#define DKIM_TAG_H

#include <stddef.h>

/* The most tags in one list: a signature has 14 defined tags, a key
 * record 7; anything longer is hostile. */
#define DKIM_TAGS_MAX	32

struct dkim_tag {
	const char	*name;		/* tag-name, case-sensitive (§3.2) */
	size_t		 namelen;
	const char	*eq;		/* just past the "=" */
	const char	*val;		/* the value, FWS around it removed */
	size_t		 len;
};

struct dkim_tags {
	size_t		 n;
	struct dkim_tag	 t[DKIM_TAGS_MAX];
	char		 err[64];	/* why the list is malformed */
};

int	dkim_tags_parse(const char *, size_t, struct dkim_tags *);
const struct dkim_tag *dkim_tag_get(const struct dkim_tags *, const char *);
int	dkim_b64_decode(const char *, size_t, unsigned char *, size_t,
	    size_t *);
int	dkim_list_next(const char *, size_t, size_t *, const char **,
	    size_t *);
int	dkim_value_eq(const char *, size_t, const char *);

#endif
