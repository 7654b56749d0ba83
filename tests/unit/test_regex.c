/*
 * test_regex.c - vmware.datastore_regex as vcd_regex matches it: nova's
 * re.match() (anchored at the start of the name only), PCRE2's syntax,
 * characters rather than bytes, and limits that make a runaway match an
 * error instead of a hang.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vcdriver/vcdriver.h"

/* vcd_regex_match(RE, NAME) for a fresh compile of RE; WHY gets the error. */
static int
match(const char *re, const char *name, char *why, size_t whylen)
{
	struct vcd_regex *r;
	int rc;

	if ((r = vcd_regex_compile(re, why, whylen)) == NULL)
		fail_msg("%s does not compile: %s", re, why);
	rc = vcd_regex_match(r, name, why, whylen);
	vcd_regex_free(r);
	return rc;
}

static void
test_anchored_at_start(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(match("Local", "LocalDS_0", why, sizeof(why)), 1);
	assert_int_equal(match("DS_0", "LocalDS_0", why, sizeof(why)), 0);
	assert_int_equal(match("calDS", "LocalDS_0", why, sizeof(why)), 0);
	assert_int_equal(match(".*DS_0", "LocalDS_0", why, sizeof(why)), 1);
	/* not at the end: re.match("LocalDS_0", "LocalDS_01") matches */
	assert_int_equal(match("LocalDS_0", "LocalDS_01", why, sizeof(why)), 1);
	assert_int_equal(match("LocalDS_0$", "LocalDS_01", why, sizeof(why)), 0);
	/* an alternation is anchored as a whole, as in Python */
	assert_int_equal(match("nfs|DS", "LocalDS_0", why, sizeof(why)), 0);
	assert_int_equal(match("nfs|Local", "LocalDS_0", why, sizeof(why)), 1);
}

static void
test_python_syntax(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(match("(?i)localds_\\d+$", "LocalDS_12", why, sizeof(why)), 1);
	assert_int_equal(match("(?P<k>ssd|hdd)-(?P=k)$", "ssd-ssd", why, sizeof(why)), 1);
	assert_int_equal(match("(?P<k>ssd|hdd)-(?P=k)$", "ssd-hdd", why, sizeof(why)), 0);
	assert_int_equal(match("(?!scratch)\\w+$", "scratch1", why, sizeof(why)), 0);
	assert_int_equal(match("(?!scratch)\\w+$", "vmfs1", why, sizeof(why)), 1);
	/* characters, not bytes: "." is one "é", and \w knows it */
	assert_int_equal(match("d.s$", "dés", why, sizeof(why)), 1);
	assert_int_equal(match("\\w+$", "dés", why, sizeof(why)), 1);
}

static void
test_compile_errors(void **state)
{
	char why[256], long_re[1026];

	(void)state;
	assert_null(vcd_regex_compile("(ds", why, sizeof(why)));
	assert_string_equal(why, "invalid regular expression at offset 3: "
	    "missing closing parenthesis");
	assert_null(vcd_regex_compile("ds\\", why, sizeof(why)));
	assert_string_equal(why, "invalid regular expression at offset 3: "
	    "\\ at end of pattern");
	/* \C could split a UTF-8 character: never allowed */
	assert_null(vcd_regex_compile("\\C", why, sizeof(why)));
	assert_non_null(strstr(why, "offset 2"));
	memset(long_re, 'a', 1025);
	long_re[1025] = '\0';
	assert_null(vcd_regex_compile(long_re, why, sizeof(why)));
	assert_string_equal(why, "regular expression too long (1025 bytes; at most 1024)");
}

/* A pattern that matches "LocalDS_0" after ~10^7 steps of backtracking: the
 * match limit ends it, as an error, and the name is not taken as matched. */
static void
test_match_limit(void **state)
{
	char re[128] = "", why[256] = "";

	(void)state;
	for (int i = 0; i < 9; i++)
		strcat(re, "(.?)*");
	strcat(re, "LocalDS_0");
	assert_int_equal(match(re, "LocalDS_0", why, sizeof(why)), -1);
	assert_string_equal(why, "match limit exceeded");
	/* glibc's slow compiles: PCRE2 compiles and matches them at once */
	snprintf(re, sizeof(re), "$");
	for (int i = 0; i < 40; i++)
		strcat(re, "()*");
	assert_int_equal(match(re, "LocalDS_0", why, sizeof(why)), 0);
	assert_int_equal(match(re, "", why, sizeof(why)), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchored_at_start),
		cmocka_unit_test(test_python_syntax),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_match_limit),
	};

	return cmocka_run_group_tests_name("regex", tests, NULL, NULL);
}
