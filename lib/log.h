/*
 * log.h - logging discipline in the OpenBSD relayd style.
 *
 * fatal()/fatalx() log and exit(1): only on the main thread before the agent
 * runs (configuration, start-up) and for out of memory (xmalloc.c); a worker,
 * an HTTP thread or the cron fails its request or job instead.
 * log_warn() appends strerror(errno), log_warnx() does not.  Messages go to stderr (and to a log file when one is
 * set), one line each, written atomically so threads never interleave.
 * Control characters in a message are escaped (\n, \r, \t, \xHH; trailing
 * newlines dropped), so text from outside cannot split or forge a line.
 * Never pass a secret to any of these.
 */
#ifndef VC_LOG_H
#define VC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the program name shown in each line and the most verbose level kept. */
void log_init(const char *ident, enum log_level level);
/* Also append lines to PATH (NULL stops).  PATH "syslog": to syslog
 * instead of stderr (facility daemon, the ident as tag, with the pid;
 * error, warning, info, debug as LOG_ERR, LOG_WARNING, LOG_INFO,
 * LOG_DEBUG).  Returns 0, or -1 with errno. */
int log_set_file(const char *path);
/* Where syslog lines go (tests; NULL: syslog(3)).  PRIO is LOG_ERR... */
typedef void (*log_syslog_fn)(int prio, const char *msg);
void log_set_syslog_fn(log_syslog_fn fn);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/*
 * SRC with its control characters escaped as log lines have them, into DST
 * (DSTLEN bytes, always terminated; cut short at a whole character or
 * escape).  4 * strlen(SRC) + 1 bytes always suffice.  Returns strlen(DST).
 */
size_t log_escape(char *dst, size_t dstlen, const char *src);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
