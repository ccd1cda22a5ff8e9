/* log.c - one place where strictmx talks to syslog or stderr.
 * Under systemd stderr goes to the journal, so -d is all a unit needs.
 *
 *	log_init - choose stderr or syslog, and the verbosity; stderr that
 *		is the journal's stream gets no "strictmxd: " prefix
 *	log_crit, log_warn, log_info, log_debug - printf-like, one line each
 *	log_printable - make untrusted bytes safe and short for a log line
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int log_stderr = 1;
static int log_journal;		/* stderr is connected to the journal */
static int log_level_verbose;

/* log_stderr_is_journal - systemd.exec(5): JOURNAL_STREAM holds the
 * "DEVICE:INODE" of the journal stream given to the service as stdout
 * or stderr. Only when it names our stderr is the journal reading it
 * (a child of the service with stderr redirected inherits the variable,
 * as sd_journal_stream_fd(3) warns), and then the journal adds the
 * identifier and the time: our own "strictmxd: " would be doubled.
 * Lines then start with the <N> priority of sd-daemon(3), which the
 * journal takes as the line's priority (SyslogLevelPrefix=yes). */
static int
log_stderr_is_journal(void)
{
	unsigned long long dev, ino;
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;
	char rest;

	if (e == NULL || sscanf(e, "%llu:%llu%c", &dev, &ino, &rest) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(int to_stderr, int verbose)
{
	log_stderr = to_stderr;
	log_journal = to_stderr && log_stderr_is_journal();
	log_level_verbose = verbose;
	if (!to_stderr)
		openlog("strictmxd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int
log_verbose(void)
{
	return log_level_verbose;
}

static void
log_vemit(int prio, const char *fmt, va_list ap)
{
	static const char *const tag[] = {
		[LOG_CRIT] = "crit: ", [LOG_WARNING] = "warning: ",
		[LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
	};
	char line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s%s\n", prio, tag[prio], line);
		fflush(stderr);
	} else if (log_stderr) {
		fprintf(stderr, "strictmxd: %s%s\n", tag[prio], line);
		fflush(stderr);
	} else
		syslog(prio, "%s%s", tag[prio], line);
}

#define LOG_FN(name, prio, cond)			\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
							\
	if (!(cond))					\
		return;					\
	va_start(ap, fmt);				\
	log_vemit(prio, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_crit, LOG_CRIT, 1)
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_info, LOG_INFO, 1)
LOG_FN(log_debug, LOG_DEBUG, log_level_verbose)

/* log_printable - copy at most LOG_TEXT_MAX input bytes into dst, escaping
 * anything that is not printable ASCII (and the quote and backslash, so that
 * key="value" fields stay parseable), and mark truncation with "...". */
const char *
log_printable(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t i, o = 0;

	if (dstlen == 0)
		return "";
	if (src == NULL)
		src = "", srclen = 0;
	for (i = 0; i < srclen && i < LOG_TEXT_MAX; i++) {
		unsigned char c = (unsigned char)src[i];
		char esc[5];
		size_t n;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			esc[0] = (char)c, n = 1;
		} else
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		if (o + n + 4 > dstlen)
			break;
		memcpy(dst + o, esc, n);
		o += n;
	}
	if (i < srclen && o + 4 <= dstlen) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
