/*
 * test_vmdk.c - VMDK sparse headers and their embedded descriptors.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imagecache/imagecache.h"

static void
le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
le64(unsigned char *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/* A header with the descriptor DESC in sector 1. */
static void
make(unsigned char *img, const char *desc, uint16_t compress)
{
	memset(img, 0, 1024);
	memcpy(img, "KDMV", 4);
	le32(img + 4, 3);			/* version */
	le32(img + 8, 0x30003);			/* flags */
	le64(img + 12, 20971520);		/* 10 GiB in sectors */
	le64(img + 20, 128);			/* grain: 64 KiB */
	le64(img + 28, 1);			/* descriptor at sector 1 */
	le64(img + 36, 1);			/* one sector long */
	img[77] = (unsigned char)compress;
	img[78] = (unsigned char)(compress >> 8);
	memcpy(img + 512, desc, strlen(desc));
}

static void
test_stream_optimized(void **state)
{
	unsigned char img[1024];
	struct ic_vmdk v;
	const char *why = NULL;

	(void)state;
	make(img, "# Disk DescriptorFile\nversion=1\nCID=fffffffe\n"
	    "createType=\"streamOptimized\"\n\n# The Disk Data Base\n"
	    "ddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"4\"\n", 1);
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), 0);
	assert_int_equal(v.version, 3);
	assert_int_equal(v.capacity_sectors, 20971520);
	assert_int_equal(v.grain_sectors, 128);
	assert_true(v.compressed);
	assert_string_equal(v.create_type, "streamOptimized");
	assert_string_equal(v.adapter, "lsiLogic");
}

static void
test_sparse_ide_and_pvscsi(void **state)
{
	unsigned char img[1024];
	struct ic_vmdk v;
	const char *why = NULL;

	(void)state;
	make(img, "createType=\"monolithicSparse\"\r\nddb.adapterType=\"ide\"\r\n", 0);
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), 0);
	assert_false(v.compressed);
	assert_string_equal(v.create_type, "monolithicSparse");
	assert_string_equal(v.adapter, "ide");
	make(img, "ddb.adapterType = \"pvscsi\"\n", 0);
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), 0);
	assert_string_equal(v.adapter, "paraVirtual");
	/* a descriptor beyond what we have: the header alone is enough */
	assert_int_equal(ic_vmdk_parse(img, 512, &v, &why), 0);
	assert_string_equal(v.adapter, "");
}

static void
test_not_a_vmdk(void **state)
{
	unsigned char img[1024];
	struct ic_vmdk v;
	const char *why = NULL;

	(void)state;
	memset(img, 0x41, sizeof(img));
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), -1);
	assert_string_equal(why, "no VMDK sparse header (the magic \"KDMV\" is missing)");
	assert_int_equal(ic_vmdk_parse(img, 100, &v, &why), -1);
	assert_string_equal(why, "shorter than a VMDK header (512 bytes)");
	make(img, "", 0);
	le32(img + 4, 9);
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), -1);
	assert_string_equal(why, "an unknown VMDK sparse header version");
	make(img, "", 0);
	le64(img + 20, 100);			/* not a power of two */
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), -1);
	/* a descriptor offset far past the data is ignored, not followed */
	make(img, "", 0);
	le64(img + 28, (uint64_t)1 << 60);
	assert_int_equal(ic_vmdk_parse(img, sizeof(img), &v, &why), 0);
	assert_string_equal(v.create_type, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_optimized),
		cmocka_unit_test(test_sparse_ide_and_pvscsi),
		cmocka_unit_test(test_not_a_vmdk),
	};

	return cmocka_run_group_tests_name("vmdk", tests, NULL, NULL);
}
