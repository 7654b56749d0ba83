/*
 * it_fetch.c - an image from Glance into a vcsim datastore, streamed: the
 * bytes arrive whole and verified under the final name; a corrupt image, a
 * truncated one, a failed upload and an image that is not active are each
 * refused with a clear error and leave nothing on the datastore.
 */
#include "config.h"

#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "imagecache/imagecache.h"
#include "tpeer.h"
#include "xmalloc.h"

#define IMG_SIZE	(5 * 1024 * 1024 + 123)

static unsigned char *image;

static int
setup(void **state)
{
	static const char *const specs[] = { "vcsim", "glance", NULL };

	image = xmalloc(IMG_SIZE);
	for (size_t i = 0; i < IMG_SIZE; i++)
		image[i] = (unsigned char)((i * 2246822519u) >> 13);
	return tpeer_setup(state, specs);
}

static int
teardown(void **state)
{
	free(image);
	return tpeer_teardown(state);
}

/* Upload IMAGE to Glance; returns its id (caller frees). */
static char *
glance_upload(const struct tpeer *t, const char *disktype)
{
	struct buf b = BUF_INIT;
	char *body = xasprintf("{\"name\": \"it-fetch\", \"disk_format\": \"vmdk\", "
	    "\"container_format\": \"bare\", \"vmware_disktype\": \"%s\"}", disktype);
	char *url = xasprintf("%s/v2/images", tpeer_get(t, "GLANCE_URL"));
	json_t *j;
	char *id;

	assert_int_equal(tpeer_http("POST", url, body, strlen(body), "application/json",
	    NULL, &b), 201);
	j = json_loads(buf_cstr(&b), 0, NULL);
	id = xstrdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	free(url);
	url = xasprintf("%s/v2/images/%s/file", tpeer_get(t, "GLANCE_URL"), id);
	assert_int_equal(tpeer_http("PUT", url, image, IMG_SIZE,
	    "application/octet-stream", NULL, NULL), 204);
	free(url);
	free(body);
	buf_free(&b);
	return id;
}

struct ctx {
	struct vcd_session	*s;
	struct vcd_placement	 pl;
	struct ic_glance	 g;
	const char		*servers[1];
};

static void
ctx_open(const struct tpeer *t, struct ctx *c)
{
	struct vcd_options o;
	struct vcd_cluster *cl;
	struct vcd_err err;
	size_t n;

	tpeer_vcsim_options(t, &o);
	o.pool_size = 2;
	o.task_poll_interval = 0.1;
	assert_int_equal(vcd_connect(&o, &c->s, &err), 0);
	assert_int_equal(vcd_login(c->s, &err), 0);
	assert_int_equal(vcd_clusters_list(c->s, &cl, &n, &err), 0);
	assert_int_equal(vcd_cluster_placement(c->s, &cl[0].ref, &c->pl, &err), 0);
	vcd_clusters_free(cl, n);
	c->servers[0] = tpeer_get(t, "GLANCE_URL");
	c->g = (struct ic_glance){ c->servers, 1, 0, NULL, 0 };
}

/* Files under the datastore's directory matching PATTERN. */
static size_t
ds_files(const struct tpeer *t, const char *pattern)
{
	char *p = xasprintf("%s/vcsim/tmp/*/%s", tpeer_dir(t), pattern);
	glob_t g;
	size_t n = glob(p, 0, NULL, &g) == 0 ? g.gl_pathc : 0;

	if (n > 0)
		globfree(&g);
	free(p);
	return n;
}

static ssize_t
compare(char *buf, size_t len, void *arg)
{
	size_t *pos = arg;

	if (*pos + len > IMG_SIZE || memcmp(buf, image + *pos, len) != 0)
		return -1;
	*pos += len;
	return (ssize_t)len;
}

static void
test_fetch_whole_and_verified(void **state)
{
	const struct tpeer *t = *state;
	struct ctx c;
	struct ic_image_meta m;
	struct ic_progress prog;
	struct vcd_err err;
	char *id = glance_upload(t, "preallocated"), *path;
	int64_t size;
	size_t pos = 0;

	ctx_open(t, &c);
	assert_int_equal(ic_glance_meta(&c.g, id, &m, &err), 0);
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	{
		/* a small pipe: the image streams through 64 KiB */
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "LocalDS_0", path, &prog, 64 * 1024, 0, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), 0);
	}
	assert_int_equal(atomic_load(&prog.done), IMG_SIZE);
	assert_int_equal(atomic_load(&prog.total), IMG_SIZE);
	assert_int_equal(vcd_ds_stat(c.s, c.pl.datacenter_name, "LocalDS_0", path,
	    &size, &err), 0);
	assert_int_equal(size, IMG_SIZE);
	assert_int_equal(vcd_ds_get(c.s, c.pl.datacenter_name, "LocalDS_0", path,
	    compare, &pos, &err), 0);
	assert_int_equal(pos, IMG_SIZE);
	assert_int_equal(ds_files(t, "_base/*/*.part-*"), 0);	/* no temporary left */
	free(path);
	free(id);
	vcd_close(c.s);
}

/* Damage the image's file in Glance's own store, then fetch it. */
static void
fetch_damaged(void **state, bool truncate_it, const char *needle)
{
	const struct tpeer *t = *state;
	struct ctx c;
	struct ic_image_meta m;
	struct vcd_err err;
	char *id = glance_upload(t, "preallocated"), *path, *store;
	FILE *f;

	ctx_open(t, &c);
	assert_int_equal(ic_glance_meta(&c.g, id, &m, &err), 0);
	store = xasprintf("%s/glance/images/%s", tpeer_dir(t), id);
	if (truncate_it) {
		assert_int_equal(truncate(store, IMG_SIZE / 2), 0);
	} else {
		assert_non_null(f = fopen(store, "r+"));
		fseek(f, IMG_SIZE / 3, SEEK_SET);
		fputc(image[IMG_SIZE / 3] ^ 0x5a, f);
		fclose(f);
	}
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	{
		/* Glance announces the whole length, then stalls: 2 s is enough */
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "LocalDS_0", path, NULL, 0, 2, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
	}
	fprintf(stderr, "# %s: %s\n", needle, err.msg);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("expected \"%s\" in: %s %s", needle, err.fault, err.msg);
	assert_non_null(strstr(err.object, id));
	/* nothing under the final name, nothing temporary */
	{
		char *pat = xasprintf("_base/%s/*", id);
		assert_int_equal(ds_files(t, pat), 0);
		free(pat);
	}
	free(store);
	free(path);
	free(id);
	vcd_close(c.s);
}

static void
test_corrupt_image(void **state)
{
	fetch_damaged(state, false, "is corrupt: its SHA-512 is");
}

static void
test_truncated_image(void **state)
{
	fetch_damaged(state, true, "downloading image");
}

static void
test_failed_upload_and_inactive(void **state)
{
	const struct tpeer *t = *state;
	struct ctx c;
	struct ic_image_meta m;
	struct vcd_err err;
	char *id = glance_upload(t, "preallocated"), *path;

	ctx_open(t, &c);
	assert_int_equal(ic_glance_meta(&c.g, id, &m, &err), 0);
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	{
		/* a datastore that does not exist */
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "NoSuchDS", path, NULL, 0, 0, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
		assert_non_null(strstr(err.object, "NoSuchDS"));
	}
	{
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "LocalDS_0", path, NULL, 0, 0, NULL };
		snprintf(m.status, sizeof(m.status), "queued");
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
		assert_int_equal(err.code, VCD_E_INVALID);
		assert_non_null(strstr(err.msg, "is queued"));
	}
	free(path);
	free(id);
	vcd_close(c.s);
}

static void
test_sparse_without_header(void **state)
{
	const struct tpeer *t = *state;
	struct ctx c;
	struct ic_image_meta m;
	struct vcd_err err;
	char *id = glance_upload(t, "sparse"), *path, *pat;

	ctx_open(t, &c);
	assert_int_equal(ic_glance_meta(&c.g, id, &m, &err), 0);
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	{
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "LocalDS_0", path, NULL, 0, 0, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
	}
	assert_string_equal(err.fault, "InvalidDiskFormat");
	assert_non_null(strstr(err.msg, "is said to be a sparse VMDK but has no VMDK "
	    "sparse header"));
	pat = xasprintf("_base/%s/*", id);
	assert_int_equal(ds_files(t, pat), 0);
	free(pat);
	free(path);
	free(id);
	vcd_close(c.s);
}

static void
test_stop_clean(void **state)
{
	assert_int_equal(tpeer_stop_state(state), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_whole_and_verified),
		cmocka_unit_test(test_corrupt_image),
		cmocka_unit_test(test_truncated_image),
		cmocka_unit_test(test_failed_upload_and_inactive),
		cmocka_unit_test(test_sparse_without_header),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("fetch", tests, setup, teardown);
}
