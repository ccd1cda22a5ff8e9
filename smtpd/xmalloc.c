/* xmalloc.c - allocation wrappers that log and exit instead of returning NULL.
 * Accept-time code that must survive a failed allocation calls malloc itself.
 *
 *	xmalloc, xcalloc, xreallocarray - malloc family, never NULL
 *	xstrdup, xstrndup - string copies, never NULL
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "log.h"

static void
xmalloc_fail(size_t n)
{
	log_crit("out of memory allocating %zu bytes", n);
	exit(75);	/* EX_TEMPFAIL: systemd restarts us */
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		xmalloc_fail(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		xmalloc_fail(n * size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		xmalloc_fail(SIZE_MAX);
	p = realloc(old, (n == 0 || size == 0) ? 1 : n * size);
	if (p == NULL)
		xmalloc_fail(n * size);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
