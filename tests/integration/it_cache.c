/*
 * it_cache.c - one download per image, whoever asks: twenty concurrent
 * spawns in one agent, two agents (processes) sharing a datastore through
 * PostgreSQL, a second spawn that finds the image, and the errors (an
 * invalid id, an unknown image, PostgreSQL unreachable) - against vcsim,
 * Glance and PostgreSQL.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "imagecache/imagecache.h"
#include "vcdriver/vcd_pc.h"
#include "vcdriver/vim.h"
#include "tpeer.h"
#include "xmalloc.h"

#define IMG_SIZE	(2 * 1024 * 1024 + 5)
#define NSPAWN		20

static int
setup(void **state)
{
	static const char *const specs[] = { "vcsim", "glance", "pg", NULL };

	return tpeer_setup(state, specs);
}

static char *
glance_upload(const struct tpeer *t)
{
	unsigned char *data = xmalloc(IMG_SIZE);
	const char *body = "{\"name\": \"it-cache\", \"disk_format\": \"vmdk\", "
	    "\"container_format\": \"bare\"}";
	char *url = xasprintf("%s/v2/images", tpeer_get(t, "GLANCE_URL")), *id;
	struct buf b = BUF_INIT;
	json_t *j;

	for (size_t i = 0; i < IMG_SIZE; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 9));
	assert_int_equal(tpeer_http("POST", url, body, strlen(body), "application/json",
	    NULL, &b), 201);
	j = json_loads(buf_cstr(&b), 0, NULL);
	id = xstrdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	free(url);
	url = xasprintf("%s/v2/images/%s/file", tpeer_get(t, "GLANCE_URL"), id);
	assert_int_equal(tpeer_http("PUT", url, data, IMG_SIZE, "application/octet-stream",
	    NULL, NULL), 204);
	free(url);
	free(data);
	buf_free(&b);
	return id;
}

struct agent {
	struct vcd_session	*s;
	struct vcd_placement	 pl;
	const char		*servers[1];
	struct ic_glance	 g;
	struct ic_cache		*cache;
};

static void
agent_open(const struct tpeer *t, struct agent *a, const char *conninfo)
{
	struct vcd_options o;
	struct vcd_cluster *cl;
	struct vcd_err err;
	size_t n;

	tpeer_vcsim_options(t, &o);
	o.pool_size = 8;
	o.task_poll_interval = 0.1;
	if (vcd_connect(&o, &a->s, &err) < 0 || vcd_login(a->s, &err) < 0 ||
	    vcd_clusters_list(a->s, &cl, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(vcd_cluster_placement(a->s, &cl[0].ref, &a->pl, &err), 0);
	vcd_clusters_free(cl, n);
	a->servers[0] = tpeer_get(t, "GLANCE_URL");
	a->g = (struct ic_glance){ a->servers, 1, 0, NULL, 0 };
	a->cache = ic_cache_new(a->s, &a->g, "_base",
	    conninfo != NULL ? conninfo : tpeer_get(t, "PG_CONNINFO"));
}

static void
agent_close(struct agent *a)
{
	ic_cache_free(a->cache);
	vcd_close(a->s);
}

struct spawn {
	struct agent	*a;
	const char	*id;
	int		 rc;
	char		*dspath;
};

static void *
spawn_run(void *arg)
{
	struct spawn *sp = arg;
	struct vcd_err err;

	sp->rc = ic_cache_ensure(sp->a->cache, sp->id, sp->a->pl.datacenter_name,
	    &sp->a->pl.datacenter, "LocalDS_0", &sp->dspath, &err);
	if (sp->rc < 0)
		fprintf(stderr, "# %s %s\n", err.fault, err.msg);
	return NULL;
}

static void
test_twenty_spawns_one_download(void **state)
{
	struct agent a;
	struct spawn sp[NSPAWN];
	pthread_t th[NSPAWN];
	struct ic_cache_stats st;
	char *id = glance_upload(*state), *want;

	agent_open(*state, &a, NULL);
	want = xasprintf("[LocalDS_0] _base/%s/%s.vmdk", id, id);
	for (int i = 0; i < NSPAWN; i++) {
		sp[i] = (struct spawn){ &a, id, -1, NULL };
		assert_int_equal(pthread_create(&th[i], NULL, spawn_run, &sp[i]), 0);
	}
	for (int i = 0; i < NSPAWN; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(sp[i].rc, 0);
		assert_string_equal(sp[i].dspath, want);
		free(sp[i].dspath);
	}
	ic_cache_stats(a.cache, &st);
	assert_int_equal(st.downloads, 1);
	assert_int_equal(st.bytes, IMG_SIZE);
	assert_int_equal(st.misses + st.waits + st.hits, NSPAWN);
	assert_int_equal(st.misses, 1);

	/* two other images at once: fetched in parallel, one download each */
	{
		char *id2 = glance_upload(*state), *id3 = glance_upload(*state);
		struct spawn two[2] = { { &a, id2, -1, NULL }, { &a, id3, -1, NULL } };

		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&th[i], NULL, spawn_run, &two[i]), 0);
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(two[i].rc, 0);
			free(two[i].dspath);
		}
		ic_cache_stats(a.cache, &st);
		assert_int_equal(st.downloads, 3);
		free(id2);
		free(id3);
	}

	/* a later spawn finds it: a hit, no download */
	sp[0] = (struct spawn){ &a, id, -1, NULL };
	spawn_run(&sp[0]);
	assert_int_equal(sp[0].rc, 0);
	free(sp[0].dspath);
	ic_cache_stats(a.cache, &st);
	assert_int_equal(st.downloads, 3);
	assert_true(st.hits >= 1);
	free(want);
	free(id);
	agent_close(&a);
}

static void
test_two_agents_one_download(void **state)
{
	const struct tpeer *t = *state;
	char *id = glance_upload(t);
	int pfd[2], status = -1;
	unsigned long child_downloads = 99;
	pid_t child;

	assert_int_equal(pipe(pfd), 0);
	child = fork();
	assert_true(child >= 0);
	{
		/* each process is an agent with its own session and cache */
		struct agent a;
		struct spawn sp = { NULL, id, -1, NULL };
		struct ic_cache_stats st;

		agent_open(t, &a, NULL);
		sp.a = &a;
		spawn_run(&sp);
		free(sp.dspath);
		ic_cache_stats(a.cache, &st);
		agent_close(&a);
		if (child == 0) {
			ssize_t w = write(pfd[1], &st.downloads, sizeof(st.downloads));
			_exit(sp.rc == 0 && w == (ssize_t)sizeof(st.downloads) ? 0 : 1);
		}
		assert_int_equal(sp.rc, 0);
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(read(pfd[0], &child_downloads, sizeof(child_downloads)),
		    sizeof(child_downloads));
		/* between the two agents: exactly one download */
		assert_int_equal(st.downloads + child_downloads, 1);
	}
	close(pfd[0]);
	close(pfd[1]);
	free(id);
}

static void
test_errors(void **state)
{
	const struct tpeer *t = *state;
	struct agent a, bad;
	struct vcd_err err;
	char *dspath, *conninfo;

	agent_open(t, &a, NULL);
	assert_int_equal(ic_cache_ensure(a.cache, "../../etc", a.pl.datacenter_name,
	    &a.pl.datacenter, "LocalDS_0", &dspath, &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);
	assert_int_equal(ic_cache_ensure(a.cache, "0e9f4c5a-0000-4000-8000-00000000dead",
	    a.pl.datacenter_name, &a.pl.datacenter, "LocalDS_0", &dspath, &err), -1);
	assert_string_equal(err.fault, "ImageNotFound");
	agent_close(&a);

	/* PostgreSQL unreachable: a clear error without the password */
	conninfo = xasprintf("host=%s/nowhere port=1 dbname=x user=x password=pg-secret-9",
	    tpeer_dir(t));
	agent_open(t, &bad, conninfo);
	{
		char *id = glance_upload(t);
		assert_int_equal(ic_cache_ensure(bad.cache, id, bad.pl.datacenter_name,
		    &bad.pl.datacenter, "LocalDS_0", &dspath, &err), -1);
		assert_string_equal(err.fault, "DatabaseUnavailable");
		assert_null(strstr(err.msg, "pg-secret-9"));
		free(id);
	}
	agent_close(&bad);
	free(conninfo);
}

struct disks {
	char	parent[256];
	char	controller[64];
	int	ndisks;
};

static int
disks_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct disks *d = arg;
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");

	for (size_t i = 0; devs != NULL && i < devs->nitems; i++) {
		const struct vim_VirtualDisk *disk = vim_cast(devs->items[i]->obj,
		    &vim_type_VirtualDisk);
		const struct vim_VirtualDiskFlatVer2BackingInfo *b;

		if (vim_cast(devs->items[i]->obj, &vim_type_VirtualSCSIController))
			snprintf(d->controller, sizeof(d->controller), "%s",
			    vim_type_name(devs->items[i]->obj));
		if (disk == NULL)
			continue;
		d->ndisks++;
		b = vim_cast(disk->base.backing, &vim_type_VirtualDiskFlatVer2BackingInfo);
		if (b != NULL && b->parent != NULL)
			snprintf(d->parent, sizeof(d->parent), "%s", b->parent->base.fileName);
	}
	return 0;
}

static void
test_linked_clone_keeps_the_cache(void **state)
{
	struct agent a;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vcd_vm_spec vs;
	struct vcd_moref vm;
	struct vcd_err err;
	struct disks d;
	char *id = glance_upload(*state), *dspath, *path, *paths[] = { "config.hardware.device" };
	int64_t size;

	agent_open(*state, &a, NULL);
	assert_int_equal(ic_cache_ensure(a.cache, id, a.pl.datacenter_name,
	    &a.pl.datacenter, "LocalDS_0", &dspath, &err), 0);
	assert_int_equal(ic_root_disk_specs(&ar, dspath, "paraVirtual", 2 * 1024 * 1024,
	    true, NULL, &dev, &err), 0);
	memset(&vs, 0, sizeof(vs));
	vs.name = "it-linked-1";
	vs.instance_uuid = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d";
	vs.vcpus = 1;
	vs.memory_mb = 64;
	vs.datastore = "LocalDS_0";
	vs.pool = a.pl.pool;
	vs.folder = a.pl.folder;
	vs.devices = &dev;
	assert_int_equal(vcd_vm_create(a.s, &vs, &vm, &err), 0);
	/* the root disk's parent is exactly the cached image */
	memset(&d, 0, sizeof(d));
	assert_int_equal(vcd_pc_retrieve_one(a.s, &vm, "VirtualMachine", paths, 1,
	    disks_one, &d, &err), 0);
	assert_int_equal(d.ndisks, 1);
	assert_string_equal(d.parent, dspath);
	assert_string_equal(d.controller, "ParaVirtualSCSIController");
	/* destroying the instance leaves the cached parent alone */
	assert_int_equal(vcd_vm_destroy(a.s, &vm, &err), 0);
	path = xasprintf("_base/%s/%s.vmdk", id, id);
	assert_int_equal(vcd_ds_stat(a.s, a.pl.datacenter_name, "LocalDS_0", path,
	    &size, &err), 0);
	assert_int_equal(size, IMG_SIZE);
	/* an adapter type nobody knows */
	assert_int_equal(ic_root_disk_specs(&ar, dspath, "scsi9000", 1024, true, NULL,
	    &dev, &err), -1);
	assert_non_null(strstr(err.msg, "unknown disk adapter type \"scsi9000\""));
	free(path);
	free(dspath);
	free(id);
	vim_arena_free(&ar);
	agent_close(&a);
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
		cmocka_unit_test(test_twenty_spawns_one_download),
		cmocka_unit_test(test_two_agents_one_download),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_linked_clone_keeps_the_cache),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("cache", tests, setup, tpeer_teardown);
}
