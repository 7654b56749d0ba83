/*
 * vcd_escape.c - hex, base64 and datastore item escaping; datastore paths
 * split into directory and file.  The rules are described in vcd_escape.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "vcd_dspath.h"
#include "vcd_escape.h"
#include "xmalloc.h"

static const char vcd_escape_hex_digits[] = "0123456789abcdef";

/* VMware's base64 alphabet: ',' takes the place of '/'. */
static const char vcd_escape_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static void
vcd_escape_fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
}

/* 0 and the length of S in *LEN if S is not NULL and at most MAX bytes. */
static int
vcd_escape_check_input(const char *s, size_t max, size_t *len,
    const char **why)
{
	if (s == NULL) {
		vcd_escape_fail(why, "the input is NULL");
		return -1;
	}
	*len = strnlen(s, max + 1);
	if (*len > max) {
		vcd_escape_fail(why, "the input is too long");
		return -1;
	}
	return 0;
}

/* 0 if C can be an escape character: ASCII, not NUL. */
static int
vcd_escape_check_char(char escape, const char **why)
{
	unsigned char c = (unsigned char)escape;

	if (c == '\0' || c > 0x7f) {
		vcd_escape_fail(why, "the escape character must be ASCII, not NUL");
		return -1;
	}
	return 0;
}

/* The value of hex digit C (either case), or -1. */
static int
vcd_escape_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of C in VMware's base64 alphabet, or -1. */
static int
vcd_escape_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* 1 if C passes through base64 escaping unchanged. */
static int
vcd_escape_b64_normal(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c == '\'' || c == '(' || c == ')' || c == ',' || c == '.' ||
	    c == ' ' || c == '_' || c == '-';
}

/* Append the N bytes at S to OUT, hex escaped. */
static void
vcd_escape_hex_buf(struct buf *out, const char *s, size_t n, char escape,
    const char *specials)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (s[i] == escape ||
		    (specials != NULL && c != '\0' && strchr(specials, c) != NULL)) {
			char seq[3];

			seq[0] = escape;
			seq[1] = vcd_escape_hex_digits[c >> 4];
			seq[2] = vcd_escape_hex_digits[c & 0x0f];
			buf_append(out, seq, sizeof(seq));
		} else
			buf_append(out, &s[i], 1);
	}
}

/* Append the N bytes at S to OUT, hex unescaped.  0, or -1 with a reason. */
static int
vcd_escape_unhex_buf(struct buf *out, const char *s, size_t n, char escape,
    const char **why)
{
	size_t i = 0;

	while (i < n) {
		int hi, lo;
		char c;

		if (s[i] != escape) {
			buf_append(out, &s[i], 1);
			i++;
			continue;
		}
		if (n - i < 3) {
			vcd_escape_fail(why, "an escape sequence is cut short");
			return -1;
		}
		hi = vcd_escape_hex_value((unsigned char)s[i + 1]);
		lo = vcd_escape_hex_value((unsigned char)s[i + 2]);
		if (hi < 0 || lo < 0) {
			vcd_escape_fail(why,
			    "an escape sequence needs two hex digits");
			return -1;
		}
		if (hi == 0 && lo == 0) {
			vcd_escape_fail(why, "an escape sequence encodes a NUL byte");
			return -1;
		}
		c = (char)(unsigned char)(hi << 4 | lo);
		buf_append(out, &c, 1);
		i += 3;
	}
	return 0;
}

/* Append one run of N bytes at P to OUT in base64, without padding. */
static void
vcd_escape_b64_run(struct buf *out, const unsigned char *p, size_t n)
{
	const char *a = vcd_escape_b64_alphabet;
	unsigned long v;
	char quad[4];
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		quad[0] = a[v >> 18 & 0x3f];
		quad[1] = a[v >> 12 & 0x3f];
		quad[2] = a[v >> 6 & 0x3f];
		quad[3] = a[v & 0x3f];
		buf_append(out, quad, 4);
	}
	if (n - i == 1) {
		v = (unsigned long)p[i] << 16;
		quad[0] = a[v >> 18 & 0x3f];
		quad[1] = a[v >> 12 & 0x3f];
		buf_append(out, quad, 2);
	} else if (n - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		quad[0] = a[v >> 18 & 0x3f];
		quad[1] = a[v >> 12 & 0x3f];
		quad[2] = a[v >> 6 & 0x3f];
		buf_append(out, quad, 3);
	}
}

/* Append the N bytes at S to OUT, base64 escaped. */
static void
vcd_escape_b64_buf(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start;

	while (i < n) {
		start = i;
		if (vcd_escape_b64_normal(p[i])) {
			while (i < n && vcd_escape_b64_normal(p[i]))
				i++;
			buf_append(out, &p[start], i - start);
			continue;
		}
		while (i < n && !vcd_escape_b64_normal(p[i]))
			i++;
		buf_append(out, "+", 1);
		vcd_escape_b64_run(out, &p[start], i - start);
		if (i < n)
			buf_append(out, "-", 1);
	}
}

/* Decode one run of N base64 characters at S into OUT.  0, or -1. */
static int
vcd_escape_unb64_run(struct buf *out, const char *s, size_t n,
    const char **why)
{
	unsigned char bytes[3];
	unsigned long v;
	size_t i, j, group, nbytes;

	if (n == 0) {
		vcd_escape_fail(why, "a base64 run is empty");
		return -1;
	}
	if (n % 4 == 1) {
		vcd_escape_fail(why, "a base64 run has an impossible length");
		return -1;
	}
	for (i = 0; i < n; i += group) {
		group = n - i < 4 ? n - i : 4;
		v = 0;
		for (j = 0; j < 4; j++) {
			v <<= 6;
			if (j < group)
				v |= (unsigned long)vcd_escape_b64_value(
				    (unsigned char)s[i + j]);
		}
		/* 4 characters carry 3 bytes, 3 carry 2, 2 carry 1. */
		nbytes = group - 1;
		if ((nbytes == 1 && (v & 0xffff) != 0) ||
		    (nbytes == 2 && (v & 0xff) != 0)) {
			vcd_escape_fail(why, "a base64 run has stray bits");
			return -1;
		}
		bytes[0] = (unsigned char)(v >> 16);
		bytes[1] = (unsigned char)(v >> 8);
		bytes[2] = (unsigned char)v;
		for (j = 0; j < nbytes; j++) {
			if (bytes[j] == '\0') {
				vcd_escape_fail(why,
				    "a base64 run encodes a NUL byte");
				return -1;
			}
			if (vcd_escape_b64_normal(bytes[j])) {
				vcd_escape_fail(why, "a base64 run encodes a "
				    "character that needs no escaping");
				return -1;
			}
		}
		buf_append(out, bytes, nbytes);
	}
	return 0;
}

/* Append the N bytes at S to OUT, base64 unescaped.  0, or -1. */
static int
vcd_escape_unb64_buf(struct buf *out, const char *s, size_t n,
    const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start;

	while (i < n) {
		if (vcd_escape_b64_normal(p[i])) {
			buf_append(out, &p[i], 1);
			i++;
			continue;
		}
		if (p[i] != '+') {
			vcd_escape_fail(why,
			    "a character that must be escaped is not");
			return -1;
		}
		start = ++i;
		while (i < n && vcd_escape_b64_value(p[i]) >= 0)
			i++;
		if (vcd_escape_unb64_run(out, &s[start], i - start, why) < 0)
			return -1;
		if (i == n)
			break;
		if (p[i] != '-') {
			vcd_escape_fail(why, "a base64 run must end with '-' "
			    "or the end of the text");
			return -1;
		}
		i++;
		if (i == n || p[i] == '+') {
			vcd_escape_fail(why, "a '-' that ends a base64 run "
			    "must be followed by an unescaped character");
			return -1;
		}
	}
	return 0;
}

/* Append the N bytes at S to OUT with " * < > : | ? replaced by '_'. */
static void
vcd_escape_windows_buf(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] != '\0' && strchr("\"*<>:|?", s[i]) != NULL)
			buf_append(out, "_", 1);
		else
			buf_append(out, &s[i], 1);
	}
}

char *
vcd_escape_hex(const char *s, char escape, const char *specials,
    const char **why)
{
	struct buf out = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_INPUT, &n, why) < 0 ||
	    vcd_escape_check_char(escape, why) < 0)
		goto out;
	vcd_escape_hex_buf(&out, s, n, escape, specials);
	res = buf_steal(&out);
out:
	buf_free(&out);
	return res;
}

char *
vcd_unescape_hex(const char *s, char escape, const char **why)
{
	struct buf out = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_ESCAPED, &n, why) < 0 ||
	    vcd_escape_check_char(escape, why) < 0 ||
	    vcd_escape_unhex_buf(&out, s, n, escape, why) < 0)
		goto out;
	res = buf_steal(&out);
out:
	buf_free(&out);
	return res;
}

char *
vcd_escape_windows_chars(const char *s, const char **why)
{
	struct buf out = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_INPUT, &n, why) < 0)
		goto out;
	vcd_escape_windows_buf(&out, s, n);
	res = buf_steal(&out);
out:
	buf_free(&out);
	return res;
}

char *
vcd_escape_base64(const char *s, const char **why)
{
	struct buf out = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_INPUT, &n, why) < 0)
		goto out;
	vcd_escape_b64_buf(&out, s, n);
	res = buf_steal(&out);
out:
	buf_free(&out);
	return res;
}

char *
vcd_unescape_base64(const char *s, const char **why)
{
	struct buf out = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_ESCAPED, &n, why) < 0 ||
	    vcd_escape_unb64_buf(&out, s, n, why) < 0)
		goto out;
	res = buf_steal(&out);
out:
	buf_free(&out);
	return res;
}

char *
vcd_escape_datastore_item(const char *s, const char **why)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_INPUT, &n, why) < 0)
		goto out;
	vcd_escape_windows_buf(&a, s, n);
	vcd_escape_hex_buf(&b, buf_cstr(&a), a.len, VCD_ESCAPE_PERCENT,
	    VCD_ESCAPE_PERCENT_SPECIALS);
	buf_reset(&a);
	vcd_escape_b64_buf(&a, buf_cstr(&b), b.len);
	res = buf_steal(&a);
out:
	buf_free(&a);
	buf_free(&b);
	return res;
}

char *
vcd_unescape_datastore_item(const char *s, const char **why)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	char *res = NULL;
	size_t n;

	if (vcd_escape_check_input(s, VCD_ESCAPE_MAX_ESCAPED, &n, why) < 0 ||
	    vcd_escape_unb64_buf(&a, s, n, why) < 0 ||
	    vcd_escape_unhex_buf(&b, buf_cstr(&a), a.len, VCD_ESCAPE_PERCENT,
	    why) < 0)
		goto out;
	res = buf_steal(&b);
out:
	buf_free(&a);
	buf_free(&b);
	return res;
}

int
vcd_escape_dspath_split(const char *text, struct vcd_escape_dspath *out,
    const char **why)
{
	struct vcd_dspath dp = { NULL, NULL };
	const char *reason = NULL, *slash;
	size_t n;
	int rc = -1;

	if (out == NULL) {
		vcd_escape_fail(why, "no place for the result");
		return -1;
	}
	out->datastore = out->directory = out->dir_and_file = out->file = NULL;
	if (vcd_escape_check_input(text, VCD_ESCAPE_MAX_INPUT, &n, why) < 0)
		goto out;
	if (vcd_dspath_parse(text, &dp, &reason) < 0) {
		vcd_escape_fail(why, reason);
		goto out;
	}
	if ((slash = strrchr(dp.path, '/')) != NULL) {
		out->directory = xstrndup(dp.path, (size_t)(slash - dp.path));
		out->file = xstrdup(slash + 1);
	} else {
		out->directory = xstrdup(dp.path);
		out->file = xstrdup(dp.path);
	}
	out->datastore = dp.datastore;
	out->dir_and_file = dp.path;
	dp.datastore = dp.path = NULL;
	rc = 0;
out:
	vcd_dspath_free(&dp);
	return rc;
}

void
vcd_escape_dspath_free(struct vcd_escape_dspath *p)
{
	if (p == NULL)
		return;
	free(p->datastore);
	free(p->directory);
	free(p->dir_and_file);
	free(p->file);
	p->datastore = p->directory = p->dir_and_file = p->file = NULL;
}
