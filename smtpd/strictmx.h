/* strictmx.h - the few types and limits every module of strictmx shares.
 * Anything used by one module only belongs in that module's own header. */
#ifndef STRICTMX_H
#define STRICTMX_H

#include <stddef.h>

/* RFC 5321 §4.5.3.1: sizes of the protocol objects, without CRLF. */
#define SMTP_LOCAL_MAX		64	/* local part */
#define SMTP_DOMAIN_MAX		255	/* domain */
#define SMTP_PATH_MAX		256	/* reverse/forward path incl. <> */
#define SMTP_CMDLINE_MAX	512	/* command line incl. CRLF */
#define SMTP_REPLYLINE_MAX	512	/* reply line incl. CRLF */

/* DATA lines longer than RFC 5322's 998 octets are accepted up to this
 * bound (as Postfix does with line_length_limit); past it the message is
 * refused, since no sane MUA writes one. */
#define DATA_LINE_MAX		65536

/* Text from the network is cut to this before it reaches a log line. */
#define LOG_TEXT_MAX		100

/* Policy modes shared by helo_policy and sender_policy. */
enum policy_mode {
	POLICY_OFF,
	POLICY_LOG,
	POLICY_ENFORCE,
};

/* strlcpy_compat - strlcpy(3) for glibc before 2.38: copy with
 * truncation, always terminated; returns strlen(src) so that a caller can
 * test truncation as (ret >= size). */
#include <string.h>
static inline size_t
strlcpy_compat(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

/* clock_mono, clock_wall - now in seconds: on the monotonic clock, for
 * durations and deadlines; on the wall clock, for times in stats rows. */
#include <time.h>
static inline double
clock_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double
clock_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ascii_copy - src made fit for a reply line or a header: any octet but
 * printable ASCII (CR and LF above all) becomes '?'; cut to fit, always
 * terminated. Returns dst. */
static inline const char *
ascii_copy(char *dst, size_t size, const char *src)
{
	size_t i;

	if (size == 0)
		return dst;
	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
	return dst;
}

/* glibc's <sys/queue.h> lacks the _SAFE iterators of the BSDs. */
#include <sys/queue.h>
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST((head));				\
	    (var) && ((tvar) = TAILQ_NEXT((var), field), 1);		\
	    (var) = (tvar))
#endif

#ifndef __unused
#define __unused __attribute__((unused))
#endif
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

#endif
