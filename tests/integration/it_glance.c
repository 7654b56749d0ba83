/*
 * it_glance.c - the image service peer (OpenStack Glance v2 from Debian, no
 * keystone): create an image, upload its data, read its metadata and data
 * back, delete it, and stop clean.
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
#include <jansson.h>

#include "imagecache/imagecache.h"
#include "tpeer.h"
#include "xmalloc.h"

#define IMAGE_SIZE	(1024 * 1024 + 17)

static int
setup(void **state)
{
	static const char *const specs[] = { "glance", NULL };

	return tpeer_setup(state, specs);
}

/* GLANCE_URL + PATH + ID + TAIL; caller frees. */
static char *
url(const struct tpeer *peers, const char *path, const char *id, const char *tail)
{
	return xasprintf("%s%s%s%s", tpeer_get(peers, "GLANCE_URL"), path, id, tail);
}

static json_t *
get_json(const char *u, long want)
{
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *j;

	assert_int_equal(tpeer_http("GET", u, NULL, 0, NULL, NULL, &b), want);
	j = json_loads(buf_cstr(&b), 0, &jerr);
	buf_free(&b);
	return j;
}

static void
test_image_round_trip(void **state)
{
	const char *create = "{\"name\": \"cirros-it\", \"disk_format\": \"vmdk\", "
	    "\"container_format\": \"bare\", \"vmware_disktype\": \"sparse\", "
	    "\"vmware_adaptertype\": \"lsiLogic\", \"img_linked_clone\": \"true\"}";
	unsigned char *data = xmalloc(IMAGE_SIZE);
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *img, *meta;
	char *id, *u;

	const struct tpeer *peers = *state;

	for (size_t i = 0; i < IMAGE_SIZE; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);

	u = url(peers, "/v2/images", "", "");
	assert_int_equal(tpeer_http("POST", u, create, strlen(create),
	    "application/json", NULL, &b), 201);
	free(u);
	img = json_loads(buf_cstr(&b), 0, &jerr);
	assert_non_null(img);
	assert_string_equal(json_string_value(json_object_get(img, "status")), "queued");
	id = xstrdup(json_string_value(json_object_get(img, "id")));
	json_decref(img);
	buf_reset(&b);

	u = url(peers, "/v2/images/", id, "/file");
	assert_int_equal(tpeer_http("PUT", u, data, IMAGE_SIZE,
	    "application/octet-stream", NULL, NULL), 204);

	{
		char *mu = url(peers, "/v2/images/", id, "");
		meta = get_json(mu, 200);
		free(mu);
	}
	assert_non_null(meta);
	assert_string_equal(json_string_value(json_object_get(meta, "status")), "active");
	assert_int_equal(json_integer_value(json_object_get(meta, "size")), IMAGE_SIZE);
	assert_int_equal(strlen(json_string_value(json_object_get(meta, "checksum"))), 32);
	assert_string_equal(json_string_value(json_object_get(meta, "os_hash_algo")), "sha512");
	assert_string_equal(json_string_value(json_object_get(meta, "vmware_disktype")), "sparse");
	assert_string_equal(json_string_value(json_object_get(meta, "disk_format")), "vmdk");
	json_decref(meta);

	assert_int_equal(tpeer_http("GET", u, NULL, 0, NULL, NULL, &b), 200);
	assert_int_equal(b.len, IMAGE_SIZE);
	assert_memory_equal(b.data, data, IMAGE_SIZE);
	free(u);
	buf_free(&b);

	/* imagecache's metadata client reads what nova's driver reads */
	{
		const char *servers[2] = { "http://127.0.0.1:1", tpeer_get(peers, "GLANCE_URL") };
		struct ic_glance g = { servers, 2, 0, NULL, 0, 0 };
		struct ic_image_meta m;
		struct vcd_err err;

		/* the first server is down: the second answers */
		assert_int_equal(ic_glance_meta(&g, id, &m, &err), 0);
		assert_string_equal(m.id, id);
		assert_string_equal(m.status, "active");
		assert_int_equal(m.size, IMAGE_SIZE);
		assert_int_equal(strlen(m.checksum), 32);
		assert_string_equal(m.hash_algo, "sha512");
		assert_int_equal(strlen(m.hash_value), 128);
		assert_string_equal(m.disk_format, "vmdk");
		assert_string_equal(m.container_format, "bare");
		assert_string_equal(m.vmware_disktype, "sparse");
		assert_string_equal(m.vmware_adaptertype, "lsiLogic");
		assert_int_equal(m.linked_clone, 1);
		assert_int_equal(ic_glance_meta(&g, "0e9f4c5a-0000-4000-8000-00000000dead",
		    &m, &err), -1);
		assert_int_equal(err.code, VCD_E_NOTFOUND);
		assert_string_equal(err.fault, "ImageNotFound");
		assert_int_equal(ic_glance_meta(&g, "../../etc/passwd", &m, &err), -1);
		assert_int_equal(err.code, VCD_E_INVALID);
		g.servers = servers;
		g.nservers = 1;		/* only the one that is down */
		assert_int_equal(ic_glance_meta(&g, id, &m, &err), -1);
		assert_int_equal(err.code, VCD_E_TRANSPORT);
	}

	u = url(peers, "/v2/images/", id, "");
	assert_int_equal(tpeer_http("DELETE", u, NULL, 0, NULL, NULL, NULL), 204);
	assert_int_equal(tpeer_http("GET", u, NULL, 0, NULL, NULL, NULL), 404);
	free(u);
	free(id);
	free(data);
}

static void
test_stop_clean(void **state)
{
	char *u = url(*state, "/versions", "", "");

	assert_int_equal(tpeer_http("GET", u, NULL, 0, NULL, NULL, NULL), 200);
	assert_int_equal(tpeer_stop_state(state), 0);	/* process gone, state removed */
	assert_int_equal(tpeer_http("GET", u, NULL, 0, NULL, NULL, NULL), -1);
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_round_trip),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("glance", tests, setup, tpeer_teardown);
}
