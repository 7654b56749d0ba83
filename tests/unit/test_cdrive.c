/*
 * test_cdrive.c - config drives: the image streams out whole, exactly as
 * long as it says, in any piece size, as ISO 9660 with the volume id
 * guests look for; a drive closed before its end (an upload that failed)
 * stops its writer and frees everything; network_data.json's shape.
 * (agent_image.sh reads the files back with isoinfo.)
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/cdrive.h"

static unsigned char *
read_all(struct cd_drive *d, size_t piece, size_t *len)
{
	unsigned char *buf = malloc((size_t)cd_size(d) + piece);
	ssize_t n;

	*len = 0;
	while ((n = cd_read(d, (char *)buf + *len, piece)) > 0)
		*len += (size_t)n;
	assert_int_equal(n, 0);
	return buf;
}

static void
test_stream(void **state)
{
	static const size_t pieces[] = { 1, 2047, 2048, 5000, 1 << 20 };
	json_t *meta = json_pack("{s:s}", "owner", "team-a");
	struct cd_content c = { "6f1e2d3c-4b5a-4978-8e7d-000000000001", "web-1", meta,
	    NULL, (const unsigned char *)"#!/bin/sh\n\0binary", 18, NULL, NULL };
	unsigned char *first = NULL;
	size_t first_len = 0;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		struct cd_drive *d = cd_open(&c, why, sizeof(why));
		unsigned char *buf;
		size_t len;

		assert_non_null(d);
		assert_true(cd_size(d) > 0 && cd_size(d) % 2048 == 0);
		buf = read_all(d, pieces[i], &len);
		assert_int_equal(len, (size_t)cd_size(d));
		/* ECMA-119: the primary volume descriptor at sector 16 */
		assert_memory_equal(buf + 16 * 2048, "\001CD001", 6);
		assert_memory_equal(buf + 16 * 2048 + 40, "config-2 ", 9);
		/* the user data's bytes are in it, NUL and all */
		assert_non_null(memmem(buf, len, "#!/bin/sh\n\0binary", 18));
		if (first == NULL) {
			first = buf, first_len = len;
		} else {
			assert_int_equal(len, first_len);
			free(buf);
		}
		cd_close(d);
	}
	free(first);
	json_decref(meta);
}

static void
test_close_early(void **state)
{
	struct cd_content c = { "u", "n", NULL, NULL, NULL, 0, NULL, NULL };
	char why[256], buf[4096];
	struct cd_drive *d;

	(void)state;
	assert_non_null(d = cd_open(&c, why, sizeof(why)));
	assert_int_equal(cd_read(d, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	cd_close(d);	/* ASan / LSan: nothing leaks, no thread left writing */
	assert_non_null(d = cd_open(&c, why, sizeof(why)));
	cd_close(d);	/* not read at all */
}

static void
test_network_data(void **state)
{
	json_t *ports = json_pack("[{s:s, s:s}, {s:s}]", "id", "p-1", "mac",
	    "fa:16:3e:00:00:01", "mac", "00:50:56:00:00:02");
	json_t *nd = cd_network_data(ports);
	json_t *l1 = json_array_get(json_object_get(nd, "links"), 1);

	(void)state;
	assert_int_equal(json_array_size(json_object_get(nd, "links")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(nd, "links"), 0), "vif_id")), "p-1");
	assert_string_equal(json_string_value(json_object_get(l1,
	    "ethernet_mac_address")), "00:50:56:00:00:02");
	assert_null(json_object_get(l1, "vif_id"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(nd, "networks"), 1), "link")), "tap1");
	assert_int_equal(json_array_size(json_object_get(nd, "services")), 0);
	json_decref(nd);
	json_decref(ports);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_close_early),
		cmocka_unit_test(test_network_data),
	};

	return cmocka_run_group_tests_name("cdrive", tests, NULL, NULL);
}
