/*
 * test_escape.c - libvirt's ESX escaping rules and datastore path splitting.
 *
 * Vectors marked [esxutilstest] are the datastoreItems[] and paths[] tables
 * of libvirt's tests/esxutilstest.c; [xml2vmx] and [vmx2xml] are the
 * annotation test files in libvirt's tests/xml2vmxdata and tests/vmx2xmldata;
 * [drvesx] are the examples in libvirt's docs/drvesx.rst.  The rest are ours.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vcdriver/vcd_escape.h"

struct escape_vector {
	const char *in;
	const char *out;
};

/* [esxutilstest] esxUtil_EscapeDatastoreItem(); the sources are UTF-8. */
static const struct escape_vector datastore_items[] = {
	{ "normal", "normal" },
	{ "Aä1ö2ü3ß4#5~6!7§8/9%Z",
	  "A+w6Q-1+w7Y-2+w7w-3+w58-4+Iw-5+fg-6+IQ-7+wqc-8+JQ-2f9+JQ-25Z" },
	{ "Z~6!7§8/9%0#1\"2'3`4&A",
	  "Z+fg-6+IQ-7+wqc-8+JQ-2f9+JQ-250+Iw-1_2'3+YA-4+Jg-A" },
	{ "標準語", "+5qiZ5rqW6Kqe" },
	{ "!\"#$%&'()*+,-./0123456789:;<=>?",
	  "+IQ-_+IyQl-25+Jg-'()_+Kw-,-.+JQ-2f0123456789_+Ow-_+PQ-__" },
	{ "A Z[\\]^_B", "A Z+WyU-5c+XV4-_B" },
	{ "A`B@{|}~DEL", "A+YA-B+QHs-_+fX4-DEL" },
	{ "hÀÁÂÃÄÅH", "h+w4DDgcOCw4PDhMOF-H" },
	{ "A쿀Z", "A+7L+A-Z" },
	{ "!쿀A", "+Iey,gA-A" },
	{ "~~~", "+fn5+" },
	{ "~~~A", "+fn5+-A" },
	{ "K%U/H\\Z", "K+JQ-25U+JQ-2fH+JQ-5cZ" },
	{ "vvv<A\"B\"C>zzz", "vvv_A_B_C_zzz" },
};

/*
 * [esxutilstest] the datastore items above that contain none of
 * " * < > : | ? / \ %, so only the base64 step changes them.
 */
static const struct escape_vector base64_items[] = {
	{ "normal", "normal" },
	{ "標準語", "+5qiZ5rqW6Kqe" },
	{ "hÀÁÂÃÄÅH", "h+w4DDgcOCw4PDhMOF-H" },
	{ "A쿀Z", "A+7L+A-Z" },
	{ "!쿀A", "+Iey,gA-A" },
	{ "~~~", "+fn5+" },
	{ "~~~A", "+fn5+-A" },
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* A string of N copies of C; caller frees. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_hex_pipe(void **state)
{
	/* [xml2vmx] xml2vmx-annotation: <description> -> annotation */
	static const char plain[] = "Some |text| to test the \"escaping\": "
	    "||\"\"||\"| Unescaped!";
	static const char escaped[] = "Some |7ctext|7c to test the "
	    "|22escaping|22: |7c|7c|22|22|7c|7c|22|7c Unescaped!";
	/* [vmx2xml] annotation: upper case digits, escaped letters */
	static const char vmx[] = "Some |7Ctext|7C to test the |22escaping|22: "
	    "|7C|7C|22|22|7C|7C|22|7C |45|73|63|61|70|65|64|21";
	static const char xml[] = "Some |text| to test the \"escaping\": "
	    "||\"\"||\"| Escaped!";
	const char *why = NULL;
	char *s;

	(void)state;
	s = vcd_escape_hex(plain, VCD_ESCAPE_PIPE, VCD_ESCAPE_PIPE_SPECIALS, &why);
	assert_string_equal(s, escaped);
	free(s);
	s = vcd_unescape_hex(escaped, VCD_ESCAPE_PIPE, &why);
	assert_string_equal(s, plain);
	free(s);
	s = vcd_unescape_hex(vmx, VCD_ESCAPE_PIPE, &why);
	assert_string_equal(s, xml);
	free(s);
}

static void
test_hex_percent(void **state)
{
	const char *why = NULL;
	char *s;

	(void)state;
	/* the hex step of [esxutilstest] "K%U/H\Z" -> "K+JQ-25U+JQ-2fH+JQ-5cZ" */
	s = vcd_escape_hex("K%U/H\\Z", VCD_ESCAPE_PERCENT,
	    VCD_ESCAPE_PERCENT_SPECIALS, &why);
	assert_string_equal(s, "K%25U%2fH%5cZ");
	free(s);
	s = vcd_unescape_hex("K%25U%2fH%5cZ", VCD_ESCAPE_PERCENT, &why);
	assert_string_equal(s, "K%U/H\\Z");
	free(s);
	/* either case; any byte may be escaped */
	s = vcd_unescape_hex("a%2Fb%2fc%41%c3%A4", VCD_ESCAPE_PERCENT, &why);
	assert_string_equal(s, "a/b/cAä");
	free(s);
	/* only the escape character and the specials change */
	s = vcd_escape_hex("vm 1|ä\"", VCD_ESCAPE_PERCENT,
	    VCD_ESCAPE_PERCENT_SPECIALS, &why);
	assert_string_equal(s, "vm 1|ä\"");
	free(s);
	/* no specials: only the escape character */
	s = vcd_escape_hex("50% /", '%', NULL, &why);
	assert_string_equal(s, "50%25 /");
	free(s);
	/* a special above 0x7f is escaped byte by byte, in lower case */
	s = vcd_escape_hex("aäb", '%', "\xc3", &why);
	assert_string_equal(s, "a%c3\xa4" "b");
	free(s);
	s = vcd_escape_hex("", '%', "/", &why);
	assert_string_equal(s, "");
	free(s);
	s = vcd_unescape_hex("", '%', &why);
	assert_string_equal(s, "");
	free(s);
}

static void
test_hex_errors(void **state)
{
	static const char *const bad[] = {
		"%", "a%", "%4", "ab%4", "%4g", "%g4", "%zz", "% 41", "%-1",
		"%00", "a%00b",
	};
	const char *why;
	char *s, *e;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		why = NULL;
		assert_null(vcd_unescape_hex(bad[i], '%', &why));
		assert_non_null(why);
	}
	why = NULL;
	assert_null(vcd_unescape_hex("%4", '%', &why));
	assert_string_equal(why, "an escape sequence is cut short");
	assert_null(vcd_unescape_hex("%4g", '%', &why));
	assert_string_equal(why, "an escape sequence needs two hex digits");
	assert_null(vcd_unescape_hex("%00", '%', &why));
	assert_string_equal(why, "an escape sequence encodes a NUL byte");

	assert_null(vcd_escape_hex(NULL, '%', "/", &why));
	assert_string_equal(why, "the input is NULL");
	assert_null(vcd_unescape_hex(NULL, '%', &why));
	assert_string_equal(why, "the input is NULL");
	assert_null(vcd_escape_hex("a", '\0', "/", &why));
	assert_string_equal(why, "the escape character must be ASCII, not NUL");
	assert_null(vcd_unescape_hex("a", (char)0xc3, &why));
	assert_string_equal(why, "the escape character must be ASCII, not NUL");
	/* why may be NULL */
	assert_null(vcd_unescape_hex("%", '%', NULL));

	/* lengths: up to the limit, not beyond */
	s = repeat('/', VCD_ESCAPE_MAX_INPUT);
	e = vcd_escape_hex(s, '%', "/", &why);
	assert_non_null(e);
	assert_int_equal(strlen(e), 3 * VCD_ESCAPE_MAX_INPUT);
	free(e);
	free(s);
	s = repeat('/', VCD_ESCAPE_MAX_INPUT + 1);
	assert_null(vcd_escape_hex(s, '%', "/", &why));
	assert_string_equal(why, "the input is too long");
	free(s);
	s = repeat('a', VCD_ESCAPE_MAX_ESCAPED + 1);
	assert_null(vcd_unescape_hex(s, '%', &why));
	assert_string_equal(why, "the input is too long");
	free(s);
}

static void
test_hex_roundtrip(void **state)
{
	char all[256], *e, *d;
	const char *why = NULL;
	size_t i;

	(void)state;
	/* every byte but NUL, with every byte special */
	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	e = vcd_escape_hex(all, '%', all, &why);
	assert_non_null(e);
	assert_int_equal(strlen(e), 3 * 255);
	assert_int_equal(strspn(e, "%0123456789abcdef"), 3 * 255);
	d = vcd_unescape_hex(e, '%', &why);
	assert_string_equal(d, all);
	free(e);
	free(d);
	/* the pipe and percent pairs, as libvirt applies them to VMX names */
	e = vcd_escape_hex(all, VCD_ESCAPE_PIPE, VCD_ESCAPE_PIPE_SPECIALS, &why);
	d = vcd_escape_hex(e, VCD_ESCAPE_PERCENT, VCD_ESCAPE_PERCENT_SPECIALS,
	    &why);
	free(e);
	e = vcd_unescape_hex(d, VCD_ESCAPE_PERCENT, &why);
	free(d);
	d = vcd_unescape_hex(e, VCD_ESCAPE_PIPE, &why);
	assert_string_equal(d, all);
	free(e);
	free(d);
	/* the longest input and its longest escape */
	e = repeat('%', VCD_ESCAPE_MAX_INPUT);
	d = vcd_escape_hex(e, '%', NULL, &why);
	assert_int_equal(strlen(d), 3 * VCD_ESCAPE_MAX_INPUT);
	free(e);
	e = vcd_unescape_hex(d, '%', &why);
	assert_int_equal(strlen(e), VCD_ESCAPE_MAX_INPUT);
	assert_int_equal(strspn(e, "%"), VCD_ESCAPE_MAX_INPUT);
	free(e);
	free(d);
}

static void
test_windows_chars(void **state)
{
	const char *why = NULL;
	char *s;

	(void)state;
	/* the windows step of [esxutilstest] "vvv<A\"B\"C>zzz" */
	s = vcd_escape_windows_chars("vvv<A\"B\"C>zzz", &why);
	assert_string_equal(s, "vvv_A_B_C_zzz");
	free(s);
	/* all seven; '/' and '\' are left alone on purpose */
	s = vcd_escape_windows_chars("a\"*<>:|?b/c\\d%", &why);
	assert_string_equal(s, "a_______b/c\\d%");
	free(s);
	s = vcd_escape_windows_chars("", &why);
	assert_string_equal(s, "");
	free(s);
	assert_null(vcd_escape_windows_chars(NULL, &why));
	assert_string_equal(why, "the input is NULL");
}

static void
test_base64_vectors(void **state)
{
	const char *why = NULL;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(base64_items); i++) {
		s = vcd_escape_base64(base64_items[i].in, &why);
		assert_string_equal(s, base64_items[i].out);
		free(s);
		s = vcd_unescape_base64(base64_items[i].out, &why);
		assert_string_equal(s, base64_items[i].in);
		free(s);
	}
	/* the base64 step of [esxutilstest] "K%U/H\Z" */
	s = vcd_escape_base64("K%25U%2fH%5cZ", &why);
	assert_string_equal(s, "K+JQ-25U+JQ-2fH+JQ-5cZ");
	free(s);
	/* the normal characters pass; '-' after a run is doubled */
	s = vcd_escape_base64("AZaz09'(),. _-", &why);
	assert_string_equal(s, "AZaz09'(),. _-");
	free(s);
	s = vcd_escape_base64("~-", &why);
	assert_string_equal(s, "+fg--");
	free(s);
	s = vcd_unescape_base64("+fg--", &why);
	assert_string_equal(s, "~-");
	free(s);
	/* '+' and '/' are escaped themselves; ',' replaces '/' in the alphabet */
	s = vcd_escape_base64("+/?", &why);
	assert_string_equal(s, "+Ky8,");
	free(s);
	s = vcd_escape_base64("", &why);
	assert_string_equal(s, "");
	free(s);
	s = vcd_unescape_base64("", &why);
	assert_string_equal(s, "");
	free(s);
}

static void
test_base64_errors(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
		{ "+", "a base64 run is empty" },
		{ "a+-b", "a base64 run is empty" },
		{ "+f", "a base64 run has an impossible length" },
		{ "+fn5+f", "a base64 run has an impossible length" },
		{ "+fh", "a base64 run has stray bits" },		/* 'h': 100001 */
		{ "+fn9", "a base64 run has stray bits" },
		{ "+AA", "a base64 run encodes a NUL byte" },
		{ "+fgAA", "a base64 run encodes a NUL byte" },
		{ "+QQ", "a base64 run encodes a character that needs no "
		  "escaping" },						/* "A" */
		{ "+fkE", "a base64 run encodes a character that needs no "
		  "escaping" },						/* "~A" */
		{ "~", "a character that must be escaped is not" },
		{ "a/b", "a character that must be escaped is not" },
		{ "\xc3\xa4", "a character that must be escaped is not" },
		{ "+fg.x", "a base64 run must end with '-' or the end of the "
		  "text" },
		{ "+fg~", "a base64 run must end with '-' or the end of the "
		  "text" },
		{ "+fg-", "a '-' that ends a base64 run must be followed by an "
		  "unescaped character" },
		{ "+fg-+fg", "a '-' that ends a base64 run must be followed by "
		  "an unescaped character" },
	};
	const char *why;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		why = NULL;
		assert_null(vcd_unescape_base64(bad[i].in, &why));
		assert_string_equal(why, bad[i].why);
	}
	assert_null(vcd_escape_base64(NULL, &why));
	assert_string_equal(why, "the input is NULL");
	assert_null(vcd_unescape_base64(NULL, &why));
	assert_string_equal(why, "the input is NULL");
	assert_null(vcd_unescape_base64("+", NULL));
	s = repeat('~', VCD_ESCAPE_MAX_INPUT + 1);
	assert_null(vcd_escape_base64(s, &why));
	assert_string_equal(why, "the input is too long");
	free(s);
	s = repeat('a', VCD_ESCAPE_MAX_ESCAPED + 1);
	assert_null(vcd_unescape_base64(s, &why));
	assert_string_equal(why, "the input is too long");
	free(s);
}

/* decode(encode(s)) == s, and encode(decode(e)) == e. */
static void
check_base64_roundtrip(const char *s)
{
	const char *why = NULL;
	char *e, *d, *e2;

	e = vcd_escape_base64(s, &why);
	assert_non_null(e);
	d = vcd_unescape_base64(e, &why);
	assert_non_null(d);
	assert_string_equal(d, s);
	e2 = vcd_escape_base64(d, &why);
	assert_string_equal(e2, e);
	free(e);
	free(d);
	free(e2);
}

static void
test_base64_roundtrip(void **state)
{
	/* normal and not, including the alphabet's own '+' and ',' */
	static const char sample[] = "A-+,~/\xff\x01 ";
	char s[16], all[256];
	size_t i, a, b, c, n = strlen(sample);

	(void)state;
	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	check_base64_roundtrip(all);
	/* every string of one to three characters from SAMPLE: runs of 1 to 3
	 * bytes at the start, middle and end */
	for (a = 0; a < n; a++) {
		s[0] = sample[a];
		s[1] = '\0';
		check_base64_roundtrip(s);
		for (b = 0; b < n; b++) {
			s[1] = sample[b];
			s[2] = '\0';
			check_base64_roundtrip(s);
			for (c = 0; c < n; c++) {
				s[2] = sample[c];
				s[3] = '\0';
				check_base64_roundtrip(s);
			}
		}
	}
	/* runs of every length up to 7, alone and followed by more text */
	for (i = 1; i <= 7; i++) {
		memset(s, '~', i);
		s[i] = '\0';
		check_base64_roundtrip(s);
		s[i] = 'x';
		s[i + 1] = '\0';
		check_base64_roundtrip(s);
	}
	check_base64_roundtrip("~~~~~~~x~~~~~~");
}

static void
test_datastore_item(void **state)
{
	const char *why = NULL;
	char *s, *w;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(datastore_items); i++) {
		s = vcd_escape_datastore_item(datastore_items[i].in, &why);
		assert_string_equal(s, datastore_items[i].out);
		free(s);
		/* back to the name after the lossy '_' replacement */
		s = vcd_unescape_datastore_item(datastore_items[i].out, &why);
		w = vcd_escape_windows_chars(datastore_items[i].in, &why);
		assert_string_equal(s, w);
		free(s);
		free(w);
	}
	s = vcd_escape_datastore_item("", &why);
	assert_string_equal(s, "");
	free(s);
	s = vcd_unescape_datastore_item("", &why);
	assert_string_equal(s, "");
	free(s);
	/* the worst case: 6 bytes out for 1 in, and back */
	w = repeat('/', VCD_ESCAPE_MAX_INPUT);
	s = vcd_escape_datastore_item(w, &why);
	assert_int_equal(strlen(s), VCD_ESCAPE_MAX_ESCAPED);
	free(w);
	w = vcd_unescape_datastore_item(s, &why);
	assert_int_equal(strlen(w), VCD_ESCAPE_MAX_INPUT);
	assert_int_equal(strspn(w, "/"), VCD_ESCAPE_MAX_INPUT);
	free(w);
	free(s);
}

static void
test_datastore_item_errors(void **state)
{
	const char *why = NULL;
	char *s;

	(void)state;
	assert_null(vcd_escape_datastore_item(NULL, &why));
	assert_string_equal(why, "the input is NULL");
	assert_null(vcd_unescape_datastore_item(NULL, &why));
	assert_string_equal(why, "the input is NULL");
	/* a bad base64 step */
	assert_null(vcd_unescape_datastore_item("a/b", &why));
	assert_string_equal(why, "a character that must be escaped is not");
	/* a good base64 step hiding a bad hex step: "%" then "zz" */
	assert_null(vcd_unescape_datastore_item("+JQ-zz", &why));
	assert_string_equal(why, "an escape sequence needs two hex digits");
	assert_null(vcd_unescape_datastore_item("a+JQ", &why));
	assert_string_equal(why, "an escape sequence is cut short");
	assert_null(vcd_unescape_datastore_item("+JQ-00", &why));
	assert_string_equal(why, "an escape sequence encodes a NUL byte");
	s = repeat('x', VCD_ESCAPE_MAX_INPUT + 1);
	assert_null(vcd_escape_datastore_item(s, &why));
	assert_string_equal(why, "the input is too long");
	free(s);
}

struct dspath_vector {
	const char *text;
	const char *datastore, *directory, *dir_and_file, *file;
};

static void
test_dspath_split(void **state)
{
	static const struct dspath_vector good[] = {
		/* [esxutilstest] paths[] with result 0 */
		{ "[datastore] directory/file", "datastore", "directory",
		  "directory/file", "file" },
		{ "[datastore] directory1/directory2/file", "datastore",
		  "directory1/directory2", "directory1/directory2/file", "file" },
		{ "[datastore] file", "datastore", "file", "file", "file" },
		{ "[datastore] directory/", "datastore", "directory",
		  "directory/", "" },
		{ "[datastore]", "datastore", "", "", "" },
		/* [drvesx] "Datastore references" and the disk examples */
		{ "[datastore] directory/filename", "datastore", "directory",
		  "directory/filename", "filename" },
		{ "[local-storage] Fedora11/Fedora11.vmdk", "local-storage",
		  "Fedora11", "Fedora11/Fedora11.vmdk", "Fedora11.vmdk" },
		/* ours: spaces, and an escaped item as the file name */
		{ "[Local DS 2] a b/c d.vmx", "Local DS 2", "a b", "a b/c d.vmx",
		  "c d.vmx" },
		{ "[ds] vm+fg-1/vm+fg-1.vmx", "ds", "vm+fg-1",
		  "vm+fg-1/vm+fg-1.vmx", "vm+fg-1.vmx" },
	};
	struct vcd_escape_dspath p;
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(good); i++) {
		assert_int_equal(vcd_escape_dspath_split(good[i].text, &p, &why),
		    0);
		assert_string_equal(p.datastore, good[i].datastore);
		assert_string_equal(p.directory, good[i].directory);
		assert_string_equal(p.dir_and_file, good[i].dir_and_file);
		assert_string_equal(p.file, good[i].file);
		vcd_escape_dspath_free(&p);
		assert_null(p.datastore);
		assert_null(p.file);
	}
	vcd_escape_dspath_free(NULL);
}

static void
test_dspath_split_errors(void **state)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
		/* [esxutilstest] paths[] with result -1 */
		{ "[] directory/file", "the datastore name is empty" },
		{ "directory/file", "a datastore path must start with '['" },
		/* libvirt's strtok_r() parsing lets these through;
		 * vcd_dspath_parse() does not */
		{ "[datastore", "a datastore path needs a closing ']'" },
		{ "[datastore]file", "a space must follow the datastore name" },
		{ "[datastore] /etc/passwd",
		  "the path after the datastore must be relative" },
		/* ours */
		{ "", "a datastore path must start with '['" },
		{ "[", "a datastore path needs a closing ']'" },
	};
	struct vcd_escape_dspath p;
	const char *why;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		why = NULL;
		assert_int_equal(vcd_escape_dspath_split(bad[i].text, &p, &why),
		    -1);
		assert_string_equal(why, bad[i].why);
		assert_null(p.datastore);
		assert_null(p.directory);
		assert_null(p.dir_and_file);
		assert_null(p.file);
	}
	assert_int_equal(vcd_escape_dspath_split(NULL, &p, &why), -1);
	assert_string_equal(why, "the input is NULL");
	assert_null(p.datastore);
	assert_int_equal(vcd_escape_dspath_split("[ds] a", NULL, &why), -1);
	assert_string_equal(why, "no place for the result");
	assert_int_equal(vcd_escape_dspath_split("ds", &p, NULL), -1);
	/* the longest path and one byte more */
	s = repeat('a', VCD_ESCAPE_MAX_INPUT);
	memcpy(s, "[ds] ", 5);
	assert_int_equal(vcd_escape_dspath_split(s, &p, &why), 0);
	assert_int_equal(strlen(p.file), VCD_ESCAPE_MAX_INPUT - 5);
	vcd_escape_dspath_free(&p);
	free(s);
	s = repeat('a', VCD_ESCAPE_MAX_INPUT + 1);
	memcpy(s, "[ds] ", 5);
	assert_int_equal(vcd_escape_dspath_split(s, &p, &why), -1);
	assert_string_equal(why, "the input is too long");
	assert_null(p.datastore);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_pipe),
		cmocka_unit_test(test_hex_percent),
		cmocka_unit_test(test_hex_errors),
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_windows_chars),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_errors),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_datastore_item),
		cmocka_unit_test(test_datastore_item_errors),
		cmocka_unit_test(test_dspath_split),
		cmocka_unit_test(test_dspath_split_errors),
	};

	return cmocka_run_group_tests_name("escape", tests, NULL, NULL);
}
