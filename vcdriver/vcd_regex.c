/*
 * vcd_regex.c - vmware.datastore_regex, with PCRE2.
 *
 * nova compiles the option with Python's re.compile() and keeps a datastore
 * when re.match() accepts its name: anchored at the start of the name, not
 * at its end.  PCRE2's syntax is Perl's, which Python's re follows (\d, \w,
 * (?:...), (?i), (?P<name>...), lookarounds), so nova.conf values paste;
 * PCRE2_UTF and PCRE2_UCP make "." and \w work on characters, as Python 3's
 * str patterns do.
 *
 * Both ends are bounded.  Compiling: the pattern's length and its parentheses'
 * nesting are limited, and PCRE2 refuses a compiled program past 64 KiB
 * (Debian builds it with a link size of 2), so "((a{255}){255}){255}" is
 * "regular expression is too large" at once.  Matching: the match context
 * limits backtracking (match_limit), its depth and the heap it may use; a
 * limit hit is an error, and the datastore is not used.  A name that hits
 * the match limit costs about 10 ms (a 389-byte pattern with 160 groups),
 * where a usual pattern compiles, matches and is freed in ~2 us.
 */
#include "config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vcdriver.h"
#include "xmalloc.h"

#define VCD_REGEX_NEST		64	/* parentheses nested */
#define VCD_REGEX_MATCH_LIMIT	100000	/* backtracking steps per name */
#define VCD_REGEX_DEPTH_LIMIT	10000	/* nested backtracking points */
#define VCD_REGEX_HEAP_LIMIT	16384	/* KiB of backtracking frames */

struct vcd_regex {
	pcre2_code		*code;
	pcre2_match_context	*mctx;
};

struct vcd_regex *
vcd_regex_compile(const char *pattern, char *why, size_t whylen)
{
	pcre2_compile_context *cctx = NULL;
	struct vcd_regex *re = NULL;
	pcre2_code *code = NULL;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE offset;
	size_t len = strlen(pattern);
	int rc;

	if (len > VCD_REGEX_MAXLEN) {
		snprintf(why, whylen, "regular expression too long (%zu bytes; "
		    "at most %d)", len, VCD_REGEX_MAXLEN);
		goto out;
	}
	if ((cctx = pcre2_compile_context_create(NULL)) == NULL)
		fatalx("out of memory creating a PCRE2 compile context");
	pcre2_set_max_pattern_length(cctx, VCD_REGEX_MAXLEN);
	pcre2_set_parens_nest_limit(cctx, VCD_REGEX_NEST);
	code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP |
	    PCRE2_NEVER_BACKSLASH_C, &rc, &offset, cctx);
	if (code == NULL) {
		if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "PCRE2 error %d", rc);
		snprintf(why, whylen, "invalid regular expression at offset %zu: %s",
		    (size_t)offset, (const char *)msg);
		goto out;
	}
	re = xcalloc(1, sizeof(*re));
	re->code = code;
	code = NULL;
	if ((re->mctx = pcre2_match_context_create(NULL)) == NULL)
		fatalx("out of memory creating a PCRE2 match context");
	pcre2_set_match_limit(re->mctx, VCD_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, VCD_REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, VCD_REGEX_HEAP_LIMIT);
out:
	pcre2_code_free(code);
	pcre2_compile_context_free(cctx);
	return re;
}

int
vcd_regex_match(const struct vcd_regex *re, const char *name, char *why,
    size_t whylen)
{
	pcre2_match_data *md;
	PCRE2_UCHAR msg[256];
	int rc;

	if ((md = pcre2_match_data_create(1, NULL)) == NULL)
		fatalx("out of memory creating PCRE2 match data");
	rc = pcre2_match(re->code, (PCRE2_SPTR)name, strlen(name), 0,
	    PCRE2_ANCHORED, md, re->mctx);
	pcre2_match_data_free(md);
	if (rc >= 0)		/* 0: matched, with more groups than one pair */
		rc = 1;
	else if (rc == PCRE2_ERROR_NOMATCH)
		rc = 0;
	else {			/* a limit, or a name that is not UTF-8 */
		if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "PCRE2 error %d", rc);
		snprintf(why, whylen, "%s", (const char *)msg);
		rc = -1;
	}
	return rc;
}

void
vcd_regex_free(struct vcd_regex *re)
{
	if (re == NULL)
		return;
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	free(re);
}
