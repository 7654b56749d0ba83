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

#define IMG_SIZE	(5 * 1024 * 1024 + 3 * 512)	/* whole sectors: a flat disk */

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

/* DATA as an image of DISKTYPE in Glance; returns its id (caller frees). */
static char *
glance_upload_data(const struct tpeer *t, const char *disktype,
    const unsigned char *data, size_t len)
{
	char *props = xasprintf("\"vmware_disktype\": \"%s\"", disktype);
	char *id = tpeer_glance_image(t, props, data, len);

	assert_non_null(id);
	free(props);
	return id;
}

static char *
glance_upload(const struct tpeer *t, const char *disktype)
{
	return glance_upload_data(t, disktype, image, IMG_SIZE);
}

static void
le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * IMAGE with a hosted sparse VMDK header in front: 10 MiB capacity, the
 * descriptor in sector 1 naming CREATE_TYPE and ADAPTER; COMPRESSED sets
 * compressAlgorithm (deflate), as streamOptimized disks have.  Caller frees.
 */
static unsigned char *
sparse_image(const char *create_type, const char *adapter, bool compressed)
{
	unsigned char *d = xmalloc(IMG_SIZE);
	char desc[512];

	memcpy(d, image, IMG_SIZE);
	memset(d, 0, 1024);
	memcpy(d, "KDMV", 4);
	d[4] = compressed ? 3 : 1;		/* version */
	le64(d + 12, 20480);			/* capacity, sectors */
	le64(d + 20, 128);			/* grain */
	le64(d + 28, 1);			/* descriptor at sector 1 */
	le64(d + 36, 1);			/* one sector long */
	d[77] = compressed ? 1 : 0;		/* compressAlgorithm */
	snprintf(desc, sizeof(desc), "# Disk DescriptorFile\nversion=1\n"
	    "createType=\"%s\"\nddb.adapterType = \"%s\"\n", create_type, adapter);
	memcpy(d + 512, desc, strlen(desc));
	return d;
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
	c->g = (struct ic_glance){ c->servers, 1, 0, NULL, 0, 0 };
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

static ssize_t
collect(char *buf, size_t len, void *arg)
{
	buf_append(arg, buf, len);
	return (ssize_t)len;
}

static void
test_fetch_whole_and_verified(void **state)
{
	const struct tpeer *t = *state;
	struct ctx c;
	struct ic_image_meta m;
	struct ic_progress prog;
	struct ic_disk_info info;
	struct vcd_err err;
	char *id = glance_upload(t, "preallocated"), *path, *flat;
	struct buf desc = BUF_INIT;
	int64_t size;
	size_t pos = 0;

	ctx_open(t, &c);
	assert_int_equal(ic_glance_meta(&c.g, id, &m, &err), 0);
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	{
		/* a small pipe: the image streams through 64 KiB */
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "LocalDS_0", path, &c.pl.pool, &c.pl.folder, &prog, 64 * 1024, 0, &info };
		assert_int_equal(ic_fetch(c.s, &r, &err), 0);
	}
	assert_int_equal(atomic_load(&prog.done), IMG_SIZE);
	assert_int_equal(atomic_load(&prog.total), IMG_SIZE);
	assert_string_equal(info.disk_type, "preallocated");
	assert_string_equal(info.adapter, "lsiLogic");
	assert_int_equal(info.capacity_kb, IMG_SIZE / 1024);
	assert_int_equal(strlen(info.sha512), 128);
	/* the data is the flat extent, whole */
	flat = xasprintf("_base/%s/%s-flat.vmdk", id, id);
	assert_int_equal(vcd_ds_stat(c.s, c.pl.datacenter_name, "LocalDS_0", flat,
	    &size, &err), 0);
	assert_int_equal(size, IMG_SIZE);
	assert_int_equal(vcd_ds_get(c.s, c.pl.datacenter_name, "LocalDS_0", flat,
	    compare, &pos, &err), 0);
	assert_int_equal(pos, IMG_SIZE);
	/* and the final name is its descriptor */
	assert_int_equal(vcd_ds_get(c.s, c.pl.datacenter_name, "LocalDS_0", path,
	    collect, &desc, &err), 0);
	{
		char *rw = xasprintf("RW %d VMFS \"%s-flat.vmdk\"", IMG_SIZE / 512, id);
		assert_non_null(strstr(buf_cstr(&desc), "# Disk DescriptorFile"));
		assert_non_null(strstr(buf_cstr(&desc), rw));
		assert_non_null(strstr(buf_cstr(&desc), "ddb.adapterType = \"lsilogic\""));
		assert_null(strstr(buf_cstr(&desc), "thinProvisioned"));
		free(rw);
	}
	buf_free(&desc);
	free(flat);
	assert_int_equal(tpeer_ds_files(t, "_base/*/*.part-*"), 0);	/* no temporary left */
	free(path);
	free(id);
	vcd_close(c.s);
}

/* Damage the image's file in Glance's own store, then fetch it, with
 * STALL s without data and LIMIT s in all (0: none) allowed. */
static void
fetch_damaged(void **state, bool truncate_it, const char *needle, int stall,
    int limit)
{
	const struct tpeer *t = *state;
	struct ctx c;
	struct ic_image_meta m;
	struct vcd_err err;
	char *id = glance_upload(t, "preallocated"), *path, *store;
	FILE *f;

	ctx_open(t, &c);
	c.g.transfer_timeout = limit;
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
		    "LocalDS_0", path, &c.pl.pool, &c.pl.folder, NULL, 0, stall, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
	}
	fprintf(stderr, "# %s: %s\n", needle, err.msg);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("expected \"%s\" in: %s %s", needle, err.fault, err.msg);
	assert_non_null(strstr(err.object, id));
	/* nothing under the final name, nothing temporary */
	{
		char *pat = xasprintf("_base/%s/*", id);
		assert_int_equal(tpeer_ds_files(t, pat), 0);
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
	fetch_damaged(state, false, "is corrupt: its SHA-512 is", 2, 0);
}

static void
test_truncated_image(void **state)
{
	fetch_damaged(state, true, "downloading image", 2, 0);
}

/* vmware.image_transfer_timeout_secs: a transfer that takes longer is cut,
 * however slowly data still came */
static void
test_transfer_timeout(void **state)
{
	fetch_damaged(state, true, "timed out after", 600, 2);
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
		    "NoSuchDS", path, &c.pl.pool, &c.pl.folder, NULL, 0, 0, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
		assert_non_null(strstr(err.object, "NoSuchDS"));
	}
	{
		struct ic_fetch_req r = { &c.g, &m, c.pl.datacenter_name, &c.pl.datacenter,
		    "LocalDS_0", path, &c.pl.pool, &c.pl.folder, NULL, 0, 0, NULL };
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
		    "LocalDS_0", path, &c.pl.pool, &c.pl.folder, NULL, 0, 0, NULL };
		assert_int_equal(ic_fetch(c.s, &r, &err), -1);
	}
	assert_string_equal(err.fault, "InvalidDiskFormat");
	assert_non_null(strstr(err.msg, "is said to be a sparse VMDK but has no VMDK "
	    "sparse header"));
	pat = xasprintf("_base/%s/*", id);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	free(path);
	free(id);
	vcd_close(c.s);
}

/* Fetch a sparse image built by sparse_image() as DISKTYPE. */
static int
fetch_sparse(const struct tpeer *t, struct ctx *c, const char *disktype,
    const char *create_type, bool compressed, char **idp, struct ic_disk_info *info,
    struct vcd_err *err)
{
	unsigned char *d = sparse_image(create_type, "ide", compressed);
	char *id = glance_upload_data(t, disktype, d, IMG_SIZE), *path;
	struct ic_image_meta m;
	int rc;

	assert_int_equal(ic_glance_meta(&c->g, id, &m, err), 0);
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	{
		struct ic_fetch_req r = { &c->g, &m, c->pl.datacenter_name,
		    &c->pl.datacenter, "LocalDS_0", path, &c->pl.pool, &c->pl.folder,
		    NULL, 0, 0, info };
		rc = ic_fetch(c->s, &r, err);
	}
	free(path);
	free(d);
	*idp = id;
	return rc;
}

/* How many VMs' names start with PREFIX. */
static size_t
vms_named(struct vcd_session *s, const char *prefix)
{
	struct vcd_vm_info *v;
	struct vcd_err err;
	size_t n, k = 0;

	assert_int_equal(vcd_vm_list(s, &v, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (strncmp(v[i].name, prefix, strlen(prefix)) == 0)
			k++;
	free(v);
	return k;
}

static void
test_sparse_converted(void **state)
{
	const struct tpeer *t = *state;
	struct ic_disk_info info;
	struct vcd_err err;
	struct ctx c;
	char *id, *pat;

	ctx_open(t, &c);
	if (fetch_sparse(t, &c, "sparse", "monolithicSparse", false, &id, &info, &err) < 0)
		fail_msg("%s: %s", err.fault, err.msg);
	/* converted by CopyVirtualDisk: a disk (descriptor and extent), thin */
	assert_string_equal(info.disk_type, "thin");
	assert_string_equal(info.adapter, "ide");	/* from ddb.adapterType */
	assert_int_equal(info.capacity_kb, 10240);
	pat = xasprintf("_base/%s/%s.vmdk", id, id);
	assert_int_equal(tpeer_ds_files(t, pat), 1);
	free(pat);
	pat = xasprintf("_base/%s/%s-flat.vmdk", id, id);
	assert_int_equal(tpeer_ds_files(t, pat), 1);
	free(pat);
	/* the uploaded sparse file and the temporary disk are gone */
	pat = xasprintf("_base/%s/*-sparse-*", id);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	pat = xasprintf("_base/%s/*-tmp-*", id);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	free(id);
	vcd_close(c.s);
}

static void
test_stream_optimized_imported(void **state)
{
	const struct tpeer *t = *state;
	struct ic_disk_info info;
	struct vcd_err err;
	struct ctx c;
	char *id, *pat, *vmname;

	ctx_open(t, &c);
	if (fetch_sparse(t, &c, "streamOptimized", "streamOptimized", true, &id, &info,
	    &err) < 0)
		fail_msg("%s: %s", err.fault, err.msg);
	assert_string_equal(info.disk_type, "thin");
	assert_int_equal(info.capacity_kb, 10240);
	/* the imported disk moved into the cache, the import VM is gone */
	pat = xasprintf("_base/%s/%s.vmdk", id, id);
	assert_int_equal(tpeer_ds_files(t, pat), 1);
	free(pat);
	vmname = xasprintf("image-%s-", id);
	assert_int_equal(vms_named(c.s, vmname), 0);
	pat = xasprintf("%s*", vmname);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	free(vmname);
	free(id);
	vcd_close(c.s);
}

static void
test_wrong_disk_types(void **state)
{
	const struct tpeer *t = *state;
	struct vcd_err err;
	struct ctx c;
	char *id, *pat, *vmname;

	ctx_open(t, &c);
	/* a sparse VMDK that says it is flat */
	assert_int_equal(fetch_sparse(t, &c, "preallocated", "monolithicSparse", false,
	    &id, NULL, &err), -1);
	assert_string_equal(err.fault, "InvalidDiskFormat");
	assert_non_null(strstr(err.msg, "is a sparse VMDK"));
	pat = xasprintf("_base/%s/*", id);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	free(id);
	/* streamOptimized that is not compressed: the import is undone */
	assert_int_equal(fetch_sparse(t, &c, "streamOptimized", "monolithicSparse",
	    false, &id, NULL, &err), -1);
	assert_string_equal(err.fault, "InvalidDiskFormat");
	assert_non_null(strstr(err.msg, "not compressed"));
	vmname = xasprintf("image-%s-", id);
	assert_int_equal(vms_named(c.s, vmname), 0);
	pat = xasprintf("_base/%s/*", id);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	free(vmname);
	free(id);
	/* a disk type nobody knows */
	assert_int_equal(fetch_sparse(t, &c, "qcow9", "x", false, &id, NULL, &err), -1);
	assert_string_equal(err.fault, "InvalidDiskFormat");
	assert_non_null(strstr(err.msg, "qcow9"));
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
		cmocka_unit_test(test_transfer_timeout),
		cmocka_unit_test(test_failed_upload_and_inactive),
		cmocka_unit_test(test_sparse_without_header),
		cmocka_unit_test(test_sparse_converted),
		cmocka_unit_test(test_stream_optimized_imported),
		cmocka_unit_test(test_wrong_disk_types),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("fetch", tests, setup, teardown);
}
