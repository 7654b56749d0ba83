/*
 * log.c - one-line, thread-safe logging to stderr and an optional file.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "vcagent";
static enum log_level log_level = LOG_LVL_INFO;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

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

	if (path != NULL && (f = fopen(path, "a")) == NULL)
		return -1;
	pthread_mutex_lock(&log_lock);
	if (log_file != NULL)
		fclose(log_file);
	log_file = f;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

static void
log_vwrite(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	char msg[2048], stamp[32];
	int saved = errno;
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (lvl > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
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
