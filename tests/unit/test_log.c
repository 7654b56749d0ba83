/*
 * test_log.c - lib/log.c: every message is one line, whatever it holds.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void
test_escape_vectors(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "plain text, 100% ok", "plain text, 100% ok" },
		{ "a\nb", "a\\nb" },
		{ "r1\n2026-01-01T00:00:00.000Z vcagent[info] forged",
		  "r1\\n2026-01-01T00:00:00.000Z vcagent[info] forged" },
		{ "tab\there\rcr", "tab\\there\\rcr" },
		{ "bell\a esc\x1b[31m del\x7f", "bell\\x07 esc\\x1b[31m del\\x7f" },
		{ "trailing newlines go\n\r\n", "trailing newlines go" },
		{ "line 1\n\tline 2\n", "line 1\\n\\tline 2" },
		{ "UTF-8 stays: \xc3\xa4", "UTF-8 stays: \xc3\xa4" },
		{ "", "" },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = log_escape(out, sizeof(out), v[i].in);
		assert_string_equal(out, v[i].out);
		assert_int_equal(n, strlen(v[i].out));
	}
}

/* A short buffer cuts at a whole escape, never in the middle of one. */
static void
test_escape_short(void **state)
{
	char out[6];

	(void)state;
	log_escape(out, sizeof(out), "abc\x01zz");
	assert_string_equal(out, "abc");
	log_escape(out, sizeof(out), "ab\nc");
	assert_string_equal(out, "ab\\nc");
	log_escape(out, 1, "abc");
	assert_string_equal(out, "");
}

/* What reaches the log file: one line per message. */
static void
test_log_one_line(void **state)
{
	char path[] = "/tmp/test_log.XXXXXX", line[4096];
	int fd, lines = 0;
	FILE *f;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	log_init("test_log", LOG_LVL_DEBUG);
	assert_int_equal(log_set_file(path), 0);
	log_info("request %s (%s) succeeded", "r-1\n2026-12-05T00:00:00.000Z "
	    "vcagent[info] request r-2 (delete) succeeded", "spawn");
	log_warnx("database: %s", "FATAL:  password authentication failed\n"
	    "DETAIL:  second line\n");
	assert_int_equal(log_set_file(NULL), 0);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		if (lines == 1)
			assert_non_null(strstr(line, "request r-1\\n2026-12-05T00:00:00.000Z "
			    "vcagent[info] request r-2 (delete) succeeded (spawn) succeeded\n"));
		else
			assert_non_null(strstr(line, "[warning] database: FATAL:  password "
			    "authentication failed\\nDETAIL:  second line\n"));
	}
	fclose(f);
	unlink(path);
	assert_int_equal(lines, 2);
}

static int syslog_prios[8], syslog_n;
static char syslog_msgs[8][256];

static void
syslog_catch(int prio, const char *msg)
{
	if (syslog_n < 8) {
		syslog_prios[syslog_n] = prio;
		snprintf(syslog_msgs[syslog_n++], sizeof(syslog_msgs[0]), "%s", msg);
	}
}

/* log_file "syslog": each level at its priority, escaped, and nothing on
 * stderr; another log_file brings stderr back. */
static void
test_syslog(void **state)
{
	char path[] = "/tmp/test_log_err.XXXXXX";
	int fd, saved;
	FILE *f;
	long size;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	saved = dup(2);
	assert_true(dup2(fd, 2) >= 0);
	log_init("test_log", LOG_LVL_DEBUG);
	log_set_syslog_fn(syslog_catch);
	assert_int_equal(log_set_file("syslog"), 0);
	log_warnx("w %s", "a\nforged line");
	log_info("i");
	log_debug("d");
	log_set_level(LOG_LVL_INFO);
	log_debug("not kept");
	assert_int_equal(log_set_file(NULL), 0);
	log_set_syslog_fn(NULL);
	log_info("back on stderr");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(syslog_n, 3);
	assert_int_equal(syslog_prios[0], LOG_WARNING);
	assert_string_equal(syslog_msgs[0], "w a\\nforged line");
	assert_int_equal(syslog_prios[1], LOG_INFO);
	assert_int_equal(syslog_prios[2], LOG_DEBUG);
	assert_non_null(f = fdopen(fd, "r"));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	{
		char buf[512] = "";

		rewind(f);
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		/* only the line logged after syslog was left */
		assert_non_null(strstr(buf, "test_log[info] back on stderr"));
		assert_int_equal((long)strlen(buf), size);
	}
	fclose(f);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_vectors),
		cmocka_unit_test(test_escape_short),
		cmocka_unit_test(test_log_one_line),
		cmocka_unit_test(test_syslog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
