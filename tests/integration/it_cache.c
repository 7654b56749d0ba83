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
#include <glob.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/db.h"
#include "imagecache/imagecache.h"
#include "pgc.h"
#include "vcdriver/vcd_pc.h"
#include "vcdriver/vim.h"
#include "tpeer.h"
#include "xmalloc.h"

#define IMG_SIZE	(2 * 1024 * 1024 + 512)
#define NSPAWN		20

static int
setup(void **state)
{
	static const char *const specs[] = { "vcsim", "glance", "pg", NULL };
	char why[512];
	PGconn *pg;
	int from, to, rc;

	if ((rc = tpeer_setup(state, specs)) != 0)
		return rc;
	/* the image cache's tables come with the agent's schema */
	pg = PQconnectdb(tpeer_get(*state, "PG_CONNINFO"));
	rc = db_migrate(pg, &from, &to, why, sizeof(why));
	if (rc < 0)
		fprintf(stderr, "# %s\n", why);
	PQfinish(pg);
	return rc;
}

/* Run SQL on the test database; returns the first value of the first row
 * (caller frees; NULL if none). */
static char *
sql(const struct tpeer *t, const char *q)
{
	PGconn *pg = PQconnectdb(tpeer_get(t, "PG_CONNINFO"));
	PGresult *r = PQexec(pg, q);
	char *v = NULL;

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(r));
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		v = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(pg);
	return v;
}

static char *
glance_upload(const struct tpeer *t)
{
	unsigned char *data = xmalloc(IMG_SIZE);
	char *id;

	for (size_t i = 0; i < IMG_SIZE; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 9));
	id = tpeer_glance_image(t, NULL, data, IMG_SIZE);
	assert_non_null(id);
	free(data);
	return id;
}

struct agent {
	struct vcd_session	*s;
	struct vcd_placement	 pl;
	const char		*servers[1];
	struct ic_glance	 g;
	struct ic_cache		*cache;
	struct ic_place		 place;
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
	a->g = (struct ic_glance){ a->servers, 1, 0, NULL, 0, 0 };
	a->cache = ic_cache_new(a->s, &a->g, "_base",
	    conninfo != NULL ? conninfo : tpeer_get(t, "PG_CONNINFO"));
	a->place = (struct ic_place){ a->pl.datacenter_name, &a->pl.datacenter,
	    "LocalDS_0", &a->pl.pool, &a->pl.folder };
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
	struct ic_image img;
	struct vcd_err err;

	sp->rc = ic_cache_ensure(sp->a->cache, sp->id, &sp->a->place, &img, &err);
	if (sp->rc < 0)
		fprintf(stderr, "# %s %s\n", err.fault, err.msg);
	else
		sp->dspath = xstrdup(img.dspath);
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
	struct ic_image img;
	char *conninfo;

	agent_open(t, &a, NULL);
	assert_int_equal(ic_cache_ensure(a.cache, "../../etc", &a.place, &img, &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);
	assert_int_equal(ic_cache_ensure(a.cache, "0e9f4c5a-0000-4000-8000-00000000dead",
	    &a.place, &img, &err), -1);
	assert_string_equal(err.fault, "ImageNotFound");
	agent_close(&a);

	/* PostgreSQL unreachable: a clear error without the password */
	conninfo = xasprintf("host=%s/nowhere port=1 dbname=x user=x password=pg-secret-9",
	    tpeer_dir(t));
	agent_open(t, &bad, conninfo);
	{
		char *id = glance_upload(t);
		assert_int_equal(ic_cache_ensure(bad.cache, id, &bad.place, &img, &err), -1);
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
	struct ic_image img;
	int64_t size;

	agent_open(*state, &a, NULL);
	assert_int_equal(ic_cache_ensure(a.cache, id, &a.place, &img, &err), 0);
	dspath = xstrdup(img.dspath);
	assert_int_equal(ic_root_disk_specs(&ar, dspath, "paraVirtual", 2 * 1024 * 1024,
	    true, NULL, &dev, &err), 0);
	vs = tpeer_vm_spec("it-linked-1", "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
	    a.pl.folder, a.pl.pool);
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
	path = xasprintf("_base/%s/%s-flat.vmdk", id, id);
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
test_resized_copy_and_full_copy(void **state)
{
	const struct tpeer *t = *state;
	struct agent a;
	struct ic_image img, big, again, small;
	struct ic_cache_stats st;
	struct vcd_err err;
	char *id = glance_upload(t), *want, *pat, *dest;

	agent_open(t, &a, NULL);
	assert_int_equal(ic_cache_ensure(a.cache, id, &a.place, &img, &err), 0);
	assert_int_equal(img.capacity_kb, IMG_SIZE / 1024);
	assert_int_equal(img.linked_clone, -1);
	/* a 1 GB root disk: a resized copy in the cache, made once */
	big = img;
	if (ic_cache_ensure_resized(a.cache, &a.place, 1, &big, &err) < 0)
		fail_msg("%s: %s", err.fault, err.msg);
	want = xasprintf("[LocalDS_0] _base/%s/%s.1.vmdk", id, id);
	assert_string_equal(big.dspath, want);
	assert_int_equal(big.capacity_kb, 1024 * 1024);
	assert_int_equal(big.root_gb, 1);
	pat = xasprintf("_base/%s/%s.1-flat.vmdk", id, id);
	assert_int_equal(tpeer_ds_files(t, pat), 1);
	free(pat);
	pat = xasprintf("_base/%s/*tmp*", id);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	again = img;
	assert_int_equal(ic_cache_ensure_resized(a.cache, &a.place, 1, &again, &err), 0);
	assert_string_equal(again.dspath, want);
	assert_true(again.hit);
	ic_cache_stats(a.cache, &st);
	assert_int_equal(st.resized, 1);
	/* a root disk smaller than the image is refused */
	small = img;
	small.capacity_kb = 3LL * 1024 * 1024;
	assert_int_equal(ic_cache_ensure_resized(a.cache, &a.place, 2, &small, &err), -1);
	assert_string_equal(err.fault, "FlavorDiskSmallerThanImage");
	/* a full copy into an instance's folder, grown to the root size */
	dest = xasprintf("[LocalDS_0] inst-full/inst-full.vmdk");
	if (ic_full_copy(a.s, &a.pl.datacenter, img.dspath, img.capacity_kb, dest, 1,
	    &err) < 0)
		fail_msg("%s: %s", err.fault, err.msg);
	assert_int_equal(tpeer_ds_files(t, "inst-full/inst-full-flat.vmdk"), 1);
	{
		/* the extend is real: the flat extent has the root disk's size */
		char *flat = xasprintf("%s/vcsim/tmp", tpeer_dir(t));
		glob_t g;
		char *gp = xasprintf("%s/*/inst-full/inst-full-flat.vmdk", flat);
		struct stat sb;
		assert_int_equal(glob(gp, 0, NULL, &g), 0);
		assert_int_equal(stat(g.gl_pathv[0], &sb), 0);
		assert_int_equal(sb.st_size, 1024LL * 1024 * 1024);
		globfree(&g);
		free(gp);
		free(flat);
	}
	assert_int_equal(ic_full_copy(a.s, &a.pl.datacenter, img.dspath,
	    3LL * 1024 * 1024, "[LocalDS_0] inst-small/x.vmdk", 1, &err), -1);
	assert_string_equal(err.fault, "FlavorDiskSmallerThanImage");
	free(dest);
	free(want);
	free(id);
	agent_close(&a);
}

/* An instance row that uses image ID (deleted: DELETED). */
static void
instance_row(const struct tpeer *t, const char *uuid, const char *id, bool deleted)
{
	char *q = xasprintf("INSERT INTO instances (uuid, name, node, image_id, "
	    "datastore, deleted_at) VALUES ('%s', 'it', 'node-1', '%s', 'LocalDS_0', "
	    "%s) ON CONFLICT (uuid) DO UPDATE SET deleted_at = EXCLUDED.deleted_at",
	    uuid, id, deleted ? "now()" : "NULL");
	free(sql(t, q));
	free(q);
}

static void
age_image(const struct tpeer *t, const char *id, int seconds)
{
	char *q = xasprintf("UPDATE image_cache SET last_used = now() - "
	    "interval '%d seconds' WHERE image_id = '%s'", seconds, id);
	free(sql(t, q));
	free(q);
}

static void
test_purge(void **state)
{
	const struct tpeer *t = *state;
	struct agent a;
	struct ic_image img;
	struct ic_purged *list;
	struct ic_cache_stats st;
	struct vcd_err err;
	size_t n;
	char *used = glance_upload(t), *old = glance_upload(t), *fresh = glance_upload(t);
	char *pat, *v;
	struct ic_purge_conf dry = { 3600, 600, true }, real = { 3600, 600, false };

	agent_open(t, &a, NULL);
	free(sql(t, "UPDATE image_cache SET last_used = now()"));	/* older tests' */
	assert_int_equal(ic_cache_ensure(a.cache, used, &a.place, &img, &err), 0);
	assert_int_equal(ic_cache_ensure(a.cache, old, &a.place, &img, &err), 0);
	assert_int_equal(ic_cache_ensure_resized(a.cache, &a.place, 1, &img, &err), 0);
	assert_int_equal(ic_cache_ensure(a.cache, fresh, &a.place, &img, &err), 0);
	instance_row(t, "11111111-1111-4111-8111-111111111111", used, false);
	{
		/* the agent purges where the cache has disks */
		char **names;
		assert_int_equal(ic_cache_datastores(a.cache, a.pl.datacenter_name, &names,
		    &n, &err), 0);
		assert_int_equal(n, 1);
		assert_string_equal(names[0], "LocalDS_0");
		free(names[0]);
		free(names);
		assert_int_equal(ic_cache_datastores(a.cache, "OtherDC", &names, &n,
		    &err), 0);
		assert_int_equal(n, 0);
		free(names);
	}
	age_image(t, used, 7200);	/* old, but in use */
	age_image(t, old, 7200);	/* old and unused: the original and its copy */
	/* a dry run lists, removes nothing */
	assert_int_equal(ic_cache_purge(a.cache, &a.place, &dry, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].image_id, old);
	assert_string_equal(list[1].image_id, old);
	assert_false(list[0].removed);
	free(list);
	pat = xasprintf("_base/%s/*.vmdk", old);
	assert_int_equal(tpeer_ds_files(t, pat), 4);	/* two disks, two extents */
	/* the real one removes both, the folder with them, and the rows */
	assert_int_equal(ic_cache_purge(a.cache, &a.place, &real, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_true(list[0].removed && list[1].removed);
	free(list);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	pat = xasprintf("_base/%s", old);
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	free(pat);
	{
		char *q = xasprintf("SELECT count(*) FROM image_cache WHERE image_id = '%s'",
		    old);
		v = sql(t, q);
		assert_string_equal(v, "0");
		free(v);
		free(q);
	}
	/* in use and fresh ones stay */
	pat = xasprintf("_base/%s/%s.vmdk", used, used);
	assert_int_equal(tpeer_ds_files(t, pat), 1);
	free(pat);
	pat = xasprintf("_base/%s/%s.vmdk", fresh, fresh);
	assert_int_equal(tpeer_ds_files(t, pat), 1);
	free(pat);
	ic_cache_stats(a.cache, &st);
	assert_int_equal(st.purged, 2);
	/* the instance goes: the image goes on the next purge */
	instance_row(t, "11111111-1111-4111-8111-111111111111", used, true);
	assert_int_equal(ic_cache_purge(a.cache, &a.place, &real, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].image_id, used);
	free(list);
	/* and a spawn after a purge fetches it again */
	assert_int_equal(ic_cache_ensure(a.cache, used, &a.place, &img, &err), 0);
	assert_false(img.hit);
	free(used);
	free(old);
	free(fresh);
	agent_close(&a);
}

/* The purge never takes a disk from under a spawn. */
struct race {
	struct agent		*a;
	const struct tpeer	*t;
	const char		*id;
	int			 n;
	int			 missing;	/* parents not there after ensure */
	atomic_bool		*stop;
};

static void *
race_spawn(void *arg)
{
	struct race *r = arg;
	struct ic_image img;
	struct vcd_err err;
	char uuid[40], *path = xasprintf("_base/%s/%s.vmdk", r->id, r->id);
	int64_t size;

	for (int i = 0; i < r->n; i++) {
		snprintf(uuid, sizeof(uuid), "22222222-2222-4222-8222-%012d",
		    (int)(pthread_self() % 1000) * 1000 + i);
		/* as the agent does: the instance row first, then the image */
		instance_row(r->t, uuid, r->id, false);
		if (ic_cache_ensure(r->a->cache, r->id, &r->a->place, &img, &err) < 0 ||
		    vcd_ds_stat(r->a->s, r->a->pl.datacenter_name, "LocalDS_0", path,
		    &size, &err) < 0)
			r->missing++;
		instance_row(r->t, uuid, r->id, true);
	}
	free(path);
	atomic_store(r->stop, true);
	return NULL;
}

static void
test_purge_never_races_a_spawn(void **state)
{
	const struct tpeer *t = *state;
	struct agent a;
	struct ic_purged *list;
	struct ic_cache_stats st;
	struct vcd_err err;
	atomic_bool stop = false;
	struct ic_purge_conf now = { 0, 0, false };
	char *id = glance_upload(t);
	struct race r = { &a, t, id, 12, 0, &stop };
	pthread_t th;
	size_t n;
	unsigned long purges = 0;

	agent_open(t, &a, NULL);
	assert_int_equal(pthread_create(&th, NULL, race_spawn, &r), 0);
	while (!atomic_load(&stop)) {
		assert_int_equal(ic_cache_purge(a.cache, &a.place, &now, &list, &n, &err), 0);
		for (size_t i = 0; i < n; i++)
			if (strcmp(list[i].image_id, id) == 0 && list[i].removed)
				purges++;
		free(list);
	}
	pthread_join(th, NULL);
	assert_int_equal(r.missing, 0);
	ic_cache_stats(a.cache, &st);
	fprintf(stderr, "# %lu purges of the image, %lu downloads\n", purges,
	    st.downloads);
	/* the purge did run between the spawns, and they fetched again */
	assert_true(purges >= 1);
	assert_true(st.downloads >= 2);
	free(id);
	agent_close(&a);
}

static void
test_upload_into_the_cache(void **state)
{
	const struct tpeer *t = *state;
	struct agent a;
	struct ic_image img;
	struct ic_upload *u;
	struct ic_cache_stats st;
	struct vcd_err err;
	unsigned char *data = xmalloc(IMG_SIZE);
	const char *id = "4b1f2e3d-aaaa-4bbb-8ccc-0123456789ab";
	struct ic_upload_req r = { id, IMG_SIZE, "thin", "busLogic", NULL, NULL, 0 };
	char *pat, *any;

	for (size_t i = 0; i < IMG_SIZE; i++)
		data[i] = (unsigned char)(i * 13 + 1);
	agent_open(t, &a, NULL);
	any = xasprintf("_base/%s*", id);	/* its folder, or an upload's */
	/* a wrong checksum: refused, nothing left */
	r.md5 = "00000000000000000000000000000000";
	assert_non_null(u = ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	for (size_t off = 0; off < IMG_SIZE; off += 65536)
		assert_int_equal(ic_upload_write(u, data + off, IMG_SIZE - off < 65536 ?
		    IMG_SIZE - off : 65536), 0);
	assert_int_equal(ic_upload_end(u, true, &img, &err), -1);
	assert_string_equal(err.fault, "ChecksumMismatch");
	pat = xasprintf("_base/%s/*", id);
	assert_int_equal(tpeer_ds_files(t, "_base"), 1);	/* the layout is right */
	assert_int_equal(tpeer_ds_files(t, any), 0);		/* not even a folder */
	/* an aborted one: nothing left */
	r.md5 = NULL;
	assert_non_null(u = ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_int_equal(ic_upload_write(u, data, 4096), 0);
	assert_int_equal(tpeer_ds_files(t, any), 1);		/* its own folder */
	assert_int_equal(tpeer_ds_files(t, pat), 0);
	assert_int_equal(ic_upload_end(u, false, &img, &err), -1);
	assert_int_equal(tpeer_ds_files(t, any), 0);
	/* a good one: in the cache, and a spawn finds it without a download */
	assert_non_null(u = ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_int_equal(ic_upload_write(u, data, IMG_SIZE), 0);
	if (ic_upload_end(u, true, &img, &err) < 0)
		fail_msg("%s: %s", err.fault, err.msg);
	assert_string_equal(img.disk_type, "thin");
	assert_string_equal(img.adapter, "busLogic");
	assert_int_equal(img.linked_clone, 0);
	assert_int_equal(tpeer_ds_files(t, pat), 2);	/* descriptor and extent */
	assert_int_equal(ic_cache_ensure(a.cache, id, &a.place, &img, &err), 0);
	assert_true(img.hit);
	assert_int_equal(img.linked_clone, 0);
	assert_string_equal(img.adapter, "busLogic");
	ic_cache_stats(a.cache, &st);
	assert_int_equal(st.uploads, 1);
	assert_int_equal(st.downloads, 0);
	/* a second upload of a cached image is refused */
	assert_null(ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_string_equal(err.fault, "AlreadyExists");
	/* and so is an id that is a path */
	r.id = "../etc";
	assert_null(ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_int_equal(err.code, VCD_E_INVALID);
	free(any);
	free(pat);
	free(data);
	agent_close(&a);
}

/*
 * Refused before any data: an adapter type no spawn can use, more bytes
 * than the datastore has free.  A stalled upload holds up no spawn: the
 * spawn's ensure fetches from Glance, and the upload, ending second, finds
 * the image cached.  A failed fetch leaves no folder.
 */
static void
test_upload_beside_a_fetch(void **state)
{
	const struct tpeer *t = *state;
	struct agent a;
	struct ic_image img;
	struct ic_upload *u;
	struct ic_cache_stats st;
	struct vcd_err err;
	unsigned char *data = xmalloc(IMG_SIZE);
	char *id = glance_upload(t), *any = xasprintf("_base/%s*", id);
	char *stage = xasprintf("_base/%s.upload-*", id);
	struct ic_upload_req r = { id, IMG_SIZE, "thin", "scsi", NULL, NULL, -1 };

	memset(data, 0x5a, IMG_SIZE);
	agent_open(t, &a, NULL);
	assert_null(ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_int_equal(err.code, VCD_E_INVALID);
	assert_non_null(strstr(err.msg, "adapter_type \"scsi\""));
	r.adapter = "paraVirtual";
	r.size = (int64_t)1 << 62;
	assert_null(ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_string_equal(err.fault, "NoDiskSpace");
	assert_int_equal(tpeer_ds_files(t, any), 0);
	/* half an upload, then a spawn's ensure: from Glance, at once */
	r.size = IMG_SIZE;
	assert_non_null(u = ic_cache_upload_begin(a.cache, &a.place, &r, &err));
	assert_int_equal(ic_upload_write(u, data, IMG_SIZE / 2), 0);
	assert_int_equal(tpeer_ds_files(t, stage), 1);
	if (ic_cache_ensure(a.cache, id, &a.place, &img, &err) < 0)
		fail_msg("%s: %s", err.fault, err.msg);
	assert_false(img.hit);
	ic_cache_stats(a.cache, &st);
	assert_int_equal(st.downloads, 1);
	/* the upload ends second: refused, its copy gone, the fetched disk kept */
	assert_int_equal(ic_upload_write(u, data + IMG_SIZE / 2, IMG_SIZE / 2), 0);
	assert_int_equal(ic_upload_end(u, true, &img, &err), -1);
	assert_string_equal(err.fault, "AlreadyExists");
	assert_int_equal(tpeer_ds_files(t, stage), 0);
	{
		char *disk = xasprintf("_base/%s/%s.vmdk", id, id);
		assert_int_equal(tpeer_ds_files(t, disk), 1);
		free(disk);
	}
	assert_int_equal(ic_cache_ensure(a.cache, id, &a.place, &img, &err), 0);
	assert_true(img.hit);
	free(any);
	free(stage);
	free(id);
	free(data);
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
		cmocka_unit_test(test_resized_copy_and_full_copy),
		cmocka_unit_test(test_purge),
		cmocka_unit_test(test_purge_never_races_a_spawn),
		cmocka_unit_test(test_upload_into_the_cache),
		cmocka_unit_test(test_upload_beside_a_fetch),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("cache", tests, setup, tpeer_teardown);
}
