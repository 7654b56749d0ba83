/*
 * test_icpath.c - image cache layout on the datastore and image id checks.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <string.h>

#include <cmocka.h>

#include "imagecache/imagecache.h"

static void
test_layout(void **state)
{
	char *folder, *p;

	(void)state;
	folder = ic_cache_folder("node1", "_base");
	assert_string_equal(folder, "node1_base");
	p = ic_image_path("ds1", folder, "5f1b6a3e-9d2c-4c8e-a0b7-3c1d2e4f5a6b", 0);
	assert_string_equal(p, "[ds1] node1_base/5f1b6a3e-9d2c-4c8e-a0b7-3c1d2e4f5a6b/"
	    "5f1b6a3e-9d2c-4c8e-a0b7-3c1d2e4f5a6b.vmdk");
	free(p);
	p = ic_image_path("ds1", folder, "img1", 20);
	assert_string_equal(p, "[ds1] node1_base/img1/img1.20.vmdk");
	free(p);
	free(folder);
	folder = ic_cache_folder(NULL, "_base");
	assert_string_equal(folder, "_base");
	free(folder);
}

static void
test_ids_are_never_paths(void **state)
{
	(void)state;
	assert_int_equal(ic_image_id_check("5f1b6a3e-9d2c-4c8e-a0b7-3c1d2e4f5a6b"), 0);
	assert_int_equal(ic_image_id_check(""), -1);
	assert_int_equal(ic_image_id_check(".."), -1);
	assert_int_equal(ic_image_id_check(".hidden"), -1);
	assert_int_equal(ic_image_id_check("../../etc"), -1);
	assert_int_equal(ic_image_id_check("a/b"), -1);
	assert_int_equal(ic_image_id_check("a b"), -1);
	assert_int_equal(ic_image_id_check("[ds] x"), -1);
	assert_int_equal(ic_image_id_check(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), -1);
	assert_null(ic_image_path("ds1", "_base", "../x", 0));
	assert_null(ic_image_path("ds]1", "_base", "x", 0));
}

/* use_linked_clone, overridden per image by img_linked_clone */
static void
test_linked_clone_choice(void **state)
{
	struct ic_image img;

	(void)state;
	memset(&img, 0, sizeof(img));
	img.linked_clone = -1;
	assert_true(ic_linked_clone(true, &img));
	assert_false(ic_linked_clone(false, &img));
	img.linked_clone = 0;
	assert_false(ic_linked_clone(true, &img));
	img.linked_clone = 1;
	assert_true(ic_linked_clone(false, &img));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_ids_are_never_paths),
		cmocka_unit_test(test_linked_clone_choice),
	};

	return cmocka_run_group_tests_name("icpath", tests, NULL, NULL);
}
