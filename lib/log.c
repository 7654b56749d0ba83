/*
 * log.c - one-line, thread-safe logging to stderr and an optional file, or
 * to syslog (log_file "syslog") with the levels mapped.
 *
 * Every message is escaped here, once, so that no caller can break a line:
 * control characters become \n, \r, \t or \xHH (trailing newlines are
 * dropped), whatever a request id, a peer's error text or a file name holds.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "vcagent";
static enum log_level log_level = LOG_LVL_INFO;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_syslog;			/* log_file "syslog": there only */

static void
log_syslog_send(int prio, const char *msg)
{
	syslog(prio, "%s", msg);
}

static log_syslog_fn log_syslog_out = log_syslog_send;
/* syslog's priorities, by log_level */
static const int log_prios[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

static const char *const log_names[] = { "error", "warning", "info", "debug" };

static void log_vwrite(enum log_level lvl, int with_errno, const char *fmt, va_list ap);

void
log_init(const char *ident, enum log_level level)
{
	log_ident = ident;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

int
log_set_file(const char *path)
{
	FILE *f = NULL;
	bool sys = path != NULL && strcmp(path, "syslog") == 0;

	if (path != NULL && !sys && (f = fopen(path, "a")) == NULL)
		return -1;
	pthread_mutex_lock(&log_lock);
	if (log_file != NULL)
		fclose(log_file);
	log_file = f;
	if (sys && !log_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!sys && log_syslog)
		closelog();
	log_syslog = sys;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void
log_set_syslog_fn(log_syslog_fn fn)
{
	pthread_mutex_lock(&log_lock);
	log_syslog_out = fn != NULL ? fn : log_syslog_send;
	pthread_mutex_unlock(&log_lock);
}

size_t
log_escape(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(src), o = 0;

	while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n && dstlen > 0; i++) {
		unsigned char c = (unsigned char)src[i];
		char e[4];
		size_t el = 0;

		if (c == '\n' || c == '\r' || c == '\t') {
			e[el++] = '\\';
			e[el++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20 || c == 0x7f) {
			e[el++] = '\\';
			e[el++] = 'x';
			e[el++] = hex[c >> 4];
			e[el++] = hex[c & 0xf];
		} else
			e[el++] = (char)c;
		if (o + el >= dstlen)
			break;		/* never half an escape */
		memcpy(dst + o, e, el);
		o += el;
	}
	if (dstlen > 0)
		dst[o] = '\0';
	return o;
}

static void
log_vwrite(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	char raw[2048], msg[4 * sizeof(raw)], stamp[32];
	int saved = errno;
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (lvl > log_level)
		return;
	vsnprintf(raw, sizeof(raw), fmt, ap);
	if (with_errno) {
		n = strlen(raw);
		snprintf(raw + n, sizeof(raw) - n, ": %s", strerror(saved));
	}
	/* one line whatever the text: a newline in a value cannot forge one */
	log_escape(msg, sizeof(msg), raw);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	if (log_syslog) {
		/* syslog stamps and names it; the level is its priority */
		log_syslog_out(log_prios[lvl], msg);
		pthread_mutex_unlock(&log_lock);
		errno = saved;
		return;
	}
	fprintf(stderr, "%s.%03ldZ %s[%s] %s\n", stamp, ts.tv_nsec / 1000000L,
	    log_ident, log_names[lvl], msg);
	if (log_file != NULL) {
		fprintf(log_file, "%s.%03ldZ %s[%s] %s\n", stamp,
		    ts.tv_nsec / 1000000L, log_ident, log_names[lvl], msg);
		fflush(log_file);
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved;
}

#define LOG_FN(name, lvl, with_errno)			\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_vwrite(lvl, with_errno, fmt, ap);		\
	va_end(ap);					\
}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
