/*
 * test_digest.c - a digest that libcrypto does not offer (MD5 in FIPS mode)
 * fails the image with fault DigestUnavailable; the process goes on.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imagecache/imagecache.h"

static int (*real_init)(void *, const char *);
static const char *refused;	/* the digest the fake libcrypto lacks */
static int asked;

static int
fake_init(void *ctx, const char *name)
{
	asked++;
	if (strcmp(name, refused) == 0)
		return 0;
	return real_init(ctx, name);
}

/* Open a stream for a 1 KiB image with the given checksums; it must fail
 * before it touches the (absent) vCenter session. */
static void
expect_unavailable(const char *md5, const char *sha512, const char *what)
{
	struct vcd_moref dc = { "Datacenter", "datacenter-2" };
	struct ic_target t = { "img-1", "DC0", &dc, "LocalDS_0", "_base/img-1/img-1.vmdk",
	    "preallocated", NULL, NULL, NULL, 1024, md5, sha512, NULL, 0 };
	struct vcd_err err;
	struct ic_stream *st;

	asked = 0;
	st = ic_stream_open(NULL, &t, &err);
	assert_null(st);
	assert_int_equal(asked, 1);
	assert_string_equal(err.fault, "DigestUnavailable");
	assert_string_equal(err.object, "img-1");
	assert_non_null(strstr(err.msg, what));
	assert_non_null(strstr(err.msg, "img-1"));
}

static void
test_md5_unavailable(void **state)
{
	(void)state;
	refused = "MD5";
	/* Glance gave only the MD5 "checksum" */
	expect_unavailable("0123456789abcdef0123456789abcdef", NULL, "MD5");
}

static void
test_sha512_unavailable(void **state)
{
	(void)state;
	refused = "SHA512";
	expect_unavailable(NULL, "00ff", "SHA-512");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_unavailable),
		cmocka_unit_test(test_sha512_unavailable),
	};

	real_init = ic_digest_init;
	ic_digest_init = fake_init;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
