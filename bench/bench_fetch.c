/*
 * bench_fetch.c - Glance -> datastore streaming, against vcsim and Glance
 * started by our peer scripts on loopback.  Prints:
 *   - ic_fetch()'s time for a 1 GiB image (verified: SHA-512, temporary +
 *     move) and the same bytes through `curl GLANCE | curl -T - DATASTORE`,
 *     alternating, NROUNDS samples of each: median, p90 and their ratio;
 *   - how much this process's peak memory grew during one fetch;
 *   - the first spawn with a 16 MiB image at the driver level (the image's
 *     metadata, ic_fetch into the cache, a linked clone, power on), one
 *     fresh image per sample: median and p90 (bench_spawn.sh takes its own
 *     driver-level samples with bench_first, on its peers, for its ratio).
 *   - the SOAP floor of a cached spawn and of a delete with the agent's
 *     exact VM spec (what bench_spawn.sh's requests make: 1 vCPU, 64 MB,
 *     a linked clone of the cached disk, no NIC), through vcdriver alone:
 *     one at a time (median, p90, p99 of BENCH_SPAWN_N) and spawns/s with
 *     1, 4 and 16 threads on one session of 16 connections, as the
 *     agent's workers are (BENCH_THR_N spawns each, deleted after,
 *     untimed).  Written to $VCAGENT_BUILD/bench/spawn_driver.txt.
 *   - part 1b: a VM's disk -> Glance through an export lease and a pipe
 *     (snapshot_image's stream) against curl | curl -T - from the same
 *     lease, both timed from their first byte, and against ic_fetch.
 * Asserts nothing (tests do that).  Usage: make bench
 * (BENCH_VCSIM_FLAGS: vcsim's model, e.g. "-cluster 1 -host 8 -vm 500";
 * BENCH_FETCH_MIB, BENCH_ROUNDS change the size and the rounds of part 1,
 * BENCH_FIRST_N the samples of part 2: 9, as bench_spawn.sh's.)
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <jansson.h>

#include "imagecache/imagecache.h"
#include "vcdriver/vim.h"
#include "tpeer.h"
#include "xmalloc.h"

#define MIB		(1024 * 1024)
#define IMG_MIB		1024

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident memory (VmHWM) in KiB; reset with /proc/self/clear_refs. */
static long
peak_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kib;
}

static void
peak_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f != NULL) {
		fputs("5", f);
		fclose(f);
	}
}

static int
run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "bench: failed (%d): %s\n", rc, cmd);
	return rc;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts V; the median and the p90 (nearest rank) of its N samples. */
static void
stats(double *v, int n, double *med, double *p90)
{
	int k = (9 * n + 9) / 10;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*p90 = v[(k > 0 ? k : 1) - 1];
}

static int
env_int(const char *name, int def, int min)
{
	const char *v = getenv(name);
	int n = v != NULL ? atoi(v) : def;

	return n >= min ? n : def;
}

struct bench {
	struct tpeer		*t;
	struct vcd_options	 o;
	struct vcd_session	*s;
	struct vcd_placement	 pl;
	const char		*servers[1];
	struct ic_glance	 g;
};

/* Fetch image ID into _base/DIR/ID.vmdk of LocalDS_0; its time, or -1. */
static double
fetch_one(struct bench *b, const char *id, const char *dir, struct ic_disk_info *info,
    struct ic_image_meta *m)
{
	struct ic_progress prog;
	struct vcd_err err;
	char *path = xasprintf("_base/%s/%s.vmdk", dir, id);
	double t0 = now(), ret = -1;

	if (ic_glance_meta(&b->g, id, m, &err) == 0) {
		struct ic_fetch_req r = { &b->g, m, b->pl.datacenter_name, &b->pl.datacenter,
		    "LocalDS_0", path, &b->pl.pool, &b->pl.folder, &prog, 0, 0, info };
		if (ic_fetch(b->s, &r, &err) == 0)
			ret = now() - t0;
	}
	if (ret < 0)
		fprintf(stderr, "bench: %s\n", err.msg);
	free(path);
	return ret;
}

/* Remove "[LocalDS_0] _base/DIR" (a sample's copy). */
static void
remove_dir(struct bench *b, const char *dir)
{
	struct vcd_err err;
	char *p = xasprintf("[LocalDS_0] _base/%s", dir);

	if (vcd_ds_delete(b->s, &b->pl.datacenter, p, &err) < 0)
		fprintf(stderr, "bench: removing %s: %s\n", p, err.msg);
	free(p);
}

/*
 * 1b. A VM's disk -> Glance through an export lease and a pipe, as
 * snapshot_image streams it, ROUNDS samples: timed from the first byte to
 * the end of the upload (the launcher converts the disk with qemu-img
 * before it sends the first byte; vCenter compresses as it sends).  Its
 * speed against ic_fetch's median, FETCH_MBS.
 */
static int
bench_export(struct bench *b, const char *id, int mib, int rounds, double fetch_mbs)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct ic_image_meta m;
	struct ic_disk_info info;
	struct vcd_vm_spec vs;
	struct vcd_moref vm = { "", "" };
	struct vcd_err err;
	double *v = xcalloc((size_t)rounds, sizeof(double)), med, p90;
	double *c = xcalloc((size_t)rounds, sizeof(double)), cmed, cp90;
	char *dspath = xasprintf("[LocalDS_0] _base/export-src/%s.vmdk", id);
	char *tfile = xasprintf("%s/export-ttfb", tpeer_dir(b->t));
	int64_t bytes = 0;
	int ret = -1;

	if (fetch_one(b, id, "export-src", &info, &m) < 0 ||
	    ic_root_disk_specs(&ar, dspath, info.adapter, info.capacity_kb, true, NULL,
	    &dev, &err) < 0)
		goto out;
	vs = tpeer_vm_spec("bench-export", "5e5e5e5e-0000-4000-8000-000000000001",
	    b->pl.folder, b->pl.pool);
	vs.devices = &dev;
	if (vcd_vm_create(b->s, &vs, &vm, &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		goto out;
	}
	for (int i = 0; i < rounds; i++) {
		struct ic_export_stats st = { 0, 0, 0, NULL };
		char gid[40];
		json_t *props = json_pack("{s:s, s:s, s:s, s:s}", "name", "bench-export",
		    "disk_format", "vmdk", "container_format", "bare", "vmware_disktype",
		    "streamOptimized");

		snprintf(gid, sizeof(gid), "5e5e5e5e-0000-4000-8000-%012d", i);
		if (ic_glance_create(&b->g, gid, props, &err) < 0 ||
		    ic_export_to_glance(b->s, &b->g, &vm, gid, (int64_t)mib * MIB, &st,
		    &err) < 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			json_decref(props);
			goto out;
		}
		json_decref(props);
		v[i] = st.end - st.first;
		bytes = st.bytes;
		(void)ic_glance_delete(&b->g, gid, &err);
		/* the same with curl | curl -T -, timed from its first byte too */
		{
			struct vcd_nfc_lease l;
			char *cmd;
			double t0, ttfb = 0;
			FILE *f;

			props = json_pack("{s:s, s:s, s:s}", "name", "bench-export-curl",
			    "disk_format", "vmdk", "container_format", "bare");
			snprintf(gid, sizeof(gid), "5e5e5e5e-0000-4000-8000-1%011d", i);
			if (ic_glance_create(&b->g, gid, props, &err) < 0 ||
			    vcd_nfc_export(b->s, &vm, &l, &err) < 0) {
				fprintf(stderr, "bench: %s\n", err.msg);
				json_decref(props);
				goto out;
			}
			json_decref(props);
			cmd = xasprintf("curl -sS -f --cacert '%s' -w '%%{stderr}%%{time_starttransfer}' "
			    "'%s' 2>'%s' | curl -sS -f -T - -H 'Content-Type: application/octet-stream' "
			    "'%s/v2/images/%s/file'", tpeer_get(b->t, "VCSIM_CA_FILE"), l.url,
			    tfile, b->servers[0], gid);
			t0 = now();
			if (run(cmd) != 0) {
				free(cmd);
				vcd_nfc_abort(b->s, &l);
				goto out;
			}
			c[i] = now() - t0;
			free(cmd);
			if ((f = fopen(tfile, "r")) != NULL) {
				if (fscanf(f, "%lf", &ttfb) != 1)
					ttfb = 0;
				fclose(f);
			}
			c[i] -= ttfb;
			(void)vcd_nfc_complete(b->s, &l, &err);
			(void)ic_glance_delete(&b->g, gid, &err);
		}
	}
	stats(v, rounds, &med, &p90);
	stats(c, rounds, &cmed, &cp90);
	printf("1b. VM disk -> Glance through an export lease (ExportVm, GET | pipe | "
	    "PUT, as snapshot_image streams it), %d MiB image, %.0f MiB streamOptimized, "
	    "%d samples, from the first byte (the launcher's qemu-img conversion before "
	    "it excluded; vCenter compresses as it sends): median %.2f s = %.0f MB/s, "
	    "p90 %.2f s | %.0f%% of ic_fetch's %.0f MB/s | target >= 80%%: %s\n", mib,
	    (double)bytes / MIB, rounds, med, (double)bytes / 1e6 / med, p90,
	    100.0 * ((double)bytes / 1e6 / med) / fetch_mbs, fetch_mbs,
	    ((double)bytes / 1e6 / med) >= 0.8 * fetch_mbs ? "met" : "NOT MET");
	printf("    curl | curl -T - from the same lease into Glance, from its first byte: "
	    "median %.2f s = %.0f MB/s, p90 %.2f s: ours reaches %.0f%% of it (what "
	    "bounds both is Glance's upload, not the agent's stream)\n", cmed,
	    (double)bytes / 1e6 / cmed, cp90, 100.0 * cmed / med);
	ret = 0;
out:
	if (vm.value[0] != '\0')
		(void)vcd_vm_destroy(b->s, &vm, &err);
	remove_dir(b, "export-src");
	vim_arena_free(&ar);
	free(dspath);
	free(tfile);
	free(v);
	free(c);
	return ret;
}

/* 1. ic_fetch against curl | curl, alternating. */
static int
bench_stream(struct bench *b, int mib, int rounds)
{
	struct buf resp = BUF_INIT;
	struct ic_image_meta m;
	double *ours = xcalloc((size_t)rounds, sizeof(double));
	double *theirs = xcalloc((size_t)rounds, sizeof(double));
	double om, op, tm, tp, t0;
	char *file, *cmd, *id = NULL, *curl;
	long base = 0, peak = 0;
	int ret = -1;
	json_t *j;

	/* the image: random bytes, uploaded by curl (never in our memory) */
	file = xasprintf("%s/image.bin", tpeer_dir(b->t));
	cmd = xasprintf("head -c %d </dev/urandom >'%s'", mib * MIB, file);
	run(cmd);
	free(cmd);
	{
		const char *body = "{\"name\": \"bench\", \"disk_format\": \"vmdk\", "
		    "\"container_format\": \"bare\"}";
		char *url = xasprintf("%s/v2/images", b->servers[0]);
		long st = tpeer_http("POST", url, body, strlen(body), "application/json",
		    NULL, &resp);
		free(url);
		if (st != 201)
			goto out;
	}
	j = json_loads(buf_cstr(&resp), 0, NULL);
	id = xstrdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	cmd = xasprintf("curl -sS -f -T '%s' -H 'Content-Type: application/octet-stream' "
	    "'%s/v2/images/%s/file'", file, b->servers[0], id);
	run(cmd);
	free(cmd);
	unlink(file);

	/* the same transfer with two curl processes and a pipe */
	curl = xasprintf("curl -sS -f '%s/v2/images/%s/file' | curl -sS -f -T - "
	    "--cacert '%s' 'https://%s:%s/folder/_base/curl-copy.bin?dcPath=%s"
	    "&dsName=LocalDS_0' -o /dev/null", b->servers[0], id,
	    tpeer_get(b->t, "VCSIM_CA_FILE"), b->o.host, tpeer_get(b->t, "VCSIM_PORT"),
	    b->pl.datacenter_name);
	for (int i = 0; i < rounds; i++) {
		char dir[32];
		struct ic_disk_info info;

		/* alternate which goes first, so neither always meets a warm cache */
		for (int k = 0; k < 2; k++) {
			if ((i + k) % 2 == 0) {
				snprintf(dir, sizeof(dir), "fetch-%d", i);
				if (i == 0) {
					peak_reset();
					base = peak_kib();
				}
				if ((ours[i] = fetch_one(b, id, dir, &info, &m)) < 0)
					goto out_curl;
				if (i == 0)
					peak = peak_kib();
				remove_dir(b, dir);
			} else {
				t0 = now();
				if (run(curl) != 0)
					goto out_curl;
				theirs[i] = now() - t0;
			}
		}
	}
	stats(ours, rounds, &om, &op);
	stats(theirs, rounds, &tm, &tp);
	printf("1. Glance -> datastore, %d MiB, %d alternating samples of each:\n", mib, rounds);
	printf("   ic_fetch (SHA-512 verified while streaming, temporary name + move): "
	    "median %.2f s = %.0f MB/s, p90 %.2f s\n", om, mib * 1.048576 / om, op);
	printf("   curl | curl -T - on the same peers: median %.2f s = %.0f MB/s, p90 %.2f s\n",
	    tm, mib * 1.048576 / tm, tp);
	printf("   ic_fetch reaches %.0f%% of the curl pipe's speed (medians; p90s: %.0f%%)\n",
	    100.0 * tm / om, 100.0 * tp / op);
	printf("   this process's peak memory grew by %.1f MiB during the first fetch "
	    "(pipe: 4 MiB)\n", (double)(peak - base) / 1024.0);
	if (bench_export(b, id, mib, rounds < 3 ? rounds : 3, mib * 1.048576 / om) < 0)
		goto out_curl;
	ret = 0;
out_curl:
	free(curl);
out:
	free(ours);
	free(theirs);
	free(id);
	free(file);
	buf_free(&resp);
	return ret;
}

/* 2. The first spawn of a fresh 16 MiB image, at the driver level. */
static int
bench_first_spawn(struct bench *b, int rounds, char **last, struct ic_disk_info *last_info)
{
	const size_t len = 16 * MIB;
	unsigned char *data = xmalloc(len);
	double *v = xcalloc((size_t)rounds, sizeof(double)), med, p90;
	unsigned long calls = 0;
	int ret = -1;

	for (int i = 0; i < rounds; i++) {
		struct vim_arena ar = VIM_ARENA_INIT;
		struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
		struct ic_image_meta m;
		struct ic_disk_info info;
		struct vcd_vm_spec vs;
		struct vcd_moref vm;
		struct vcd_err err;
		char name[64], uuid[40], *id, *dspath, dir[80];
		unsigned long c0;
		double t0;
		int rc;

		if (getrandom(data, len, 0) < 0)	/* short reads leave old bytes: fine */
			memset(data, i, len);
		if ((id = tpeer_glance_image(b->t, NULL, data, len)) == NULL)
			goto out;
		snprintf(dir, sizeof(dir), "%s", id);
		snprintf(name, sizeof(name), "bench-first-%d", i);
		snprintf(uuid, sizeof(uuid), "5f5f5f5f-0000-4000-8000-%012d", i);
		dspath = xasprintf("[LocalDS_0] _base/%s/%s.vmdk", id, id);
		c0 = vcd_call_count(b->s);
		t0 = now();
		rc = fetch_one(b, id, dir, &info, &m) < 0 ||
		    ic_root_disk_specs(&ar, dspath, info.adapter, info.capacity_kb, true,
		    NULL, &dev, &err) < 0;
		if (rc == 0) {
			vs = tpeer_vm_spec(name, uuid, b->pl.folder, b->pl.pool);
			vs.devices = &dev;
			rc = vcd_vm_create(b->s, &vs, &vm, &err) < 0 ||
			    vcd_vm_power_on_created(b->s, &vm, &err) < 0;
			if (rc != 0)
				fprintf(stderr, "bench: %s\n", err.msg);
		}
		v[i] = now() - t0;
		calls += vcd_call_count(b->s) - c0;
		vim_arena_free(&ar);
		if (rc == 0 && i == rounds - 1) {	/* the cached disk part 3 uses */
			*last = dspath;
			*last_info = info;
		} else
			free(dspath);
		free(id);
		if (rc != 0)
			goto out;
	}
	stats(v, rounds, &med, &p90);
	printf("2. first spawn with a 16 MiB image from Glance, driver level (metadata, "
	    "ic_fetch into the cache, linked clone, power on; a fresh image each, %d "
	    "samples): median %.1f ms, p90 %.1f ms, %.1f SOAP calls\n", rounds, med * 1e3,
	    p90 * 1e3, (double)calls / rounds);
	ret = 0;
out:
	free(v);
	free(data);
	return ret;
}

/* 3. The cached spawn and the delete at the driver level, the agent's spec. */
struct floor {
	struct bench		*b;
	struct vcd_session	*s;
	const char		*dspath;	/* the cached disk */
	const struct ic_disk_info *info;
	int			 base, n;	/* uuids base .. base + n - 1 */
	atomic_int		 next;
	atomic_int		 failed;
	struct vcd_moref	*vms;		/* [n] */
};

static void
floor_uuid(char *buf, size_t len, int i)
{
	snprintf(buf, len, "6f6f6f6f-0000-4000-8000-%012d", i);
}

/* One spawn as ops_spawn makes it on a cache hit, first attempt: 0 or -1. */
static int
floor_spawn(struct floor *f, int i, struct vcd_moref *vm)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct vcd_err err;
	char uuid[40];
	int ret = -1;

	floor_uuid(uuid, sizeof(uuid), f->base + i);
	if (ic_root_disk_specs(&ar, f->dspath, f->info->adapter, f->info->capacity_kb,
	    true, NULL, &dev, &err) == 0) {
		/* the agent's: named by its uuid, an empty extraConfig list */
		struct vcd_vm_spec vs = tpeer_vm_spec(uuid, uuid, f->b->pl.folder,
		    f->b->pl.pool);

		vs.devices = &dev;
		vs.extra = &extra;
		if (vcd_vm_create(f->s, &vs, vm, &err) == 0 &&
		    vcd_vm_power_on_created(f->s, vm, &err) == 0)
			ret = 0;
	}
	if (ret < 0)
		fprintf(stderr, "bench: spawn %s: %s\n", uuid, err.msg);
	vim_arena_free(&ar);
	return ret;
}

static int
floor_delete(struct floor *f, int i)
{
	struct vcd_err err;
	char uuid[40], folder[512];

	floor_uuid(uuid, sizeof(uuid), f->base + i);
	if (vcd_vm_delete(f->s, &f->vms[i], uuid, &f->b->pl.datacenter, folder,
	    sizeof(folder), &err) < 0) {
		fprintf(stderr, "bench: delete %s: %s\n", uuid, err.msg);
		return -1;
	}
	return 0;
}

static void *
floor_worker(void *arg)
{
	struct floor *f = arg;
	int i;

	while ((i = atomic_fetch_add(&f->next, 1)) < f->n)
		if (floor_spawn(f, i, &f->vms[i]) < 0)
			atomic_fetch_add(&f->failed, 1);
	return NULL;
}

static void *
floor_deleter(void *arg)
{
	struct floor *f = arg;
	int i;

	while ((i = atomic_fetch_add(&f->next, 1)) < f->n)
		if (floor_delete(f, i) < 0)
			atomic_fetch_add(&f->failed, 1);
	return NULL;
}

/* Run FN on THREADS threads over f's n items; wall seconds. */
static double
floor_run(struct floor *f, int threads, void *(*fn)(void *))
{
	pthread_t tid[16];
	double t0 = now();

	atomic_store(&f->next, 0);
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, fn, f);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	return now() - t0;
}

static int
bench_floor(struct bench *b, const char *dspath, const struct ic_disk_info *info)
{
	int lat_n = env_int("BENCH_SPAWN_N", 40, 1), thr_n = env_int("BENCH_THR_N", 160, 1);
	static const int threads[] = { 1, 4, 16 };
	struct vcd_options o = b->o;
	struct floor f;
	double *ts = xcalloc((size_t)lat_n, sizeof(double));
	double *td = xcalloc((size_t)lat_n, sizeof(double));
	double rate[3], m[3], p90[3], p99[3];
	unsigned long c0, c1, c2;
	struct vcd_err err;
	char line[3][512];
	int ret = -1;

	memset(&f, 0, sizeof(f));
	o.pool_size = 16;	/* as bench_spawn.sh's agent: connection_pool_size 16 */
	if (vcd_connect(&o, &f.s, &err) < 0 || vcd_login(f.s, &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		goto out;
	}
	f.b = b, f.dspath = dspath, f.info = info;
	f.vms = xcalloc((size_t)(lat_n > thr_n ? lat_n : thr_n) + 1, sizeof(*f.vms));
	/* one at a time, after a warm-up (not counted) */
	f.base = 0, f.n = lat_n;
	if (floor_spawn(&f, lat_n, &f.vms[lat_n]) < 0 || floor_delete(&f, lat_n) < 0)
		goto out;
	c0 = vcd_call_count(f.s);
	for (int i = 0; i < lat_n; i++) {
		double t0 = now();

		if (floor_spawn(&f, i, &f.vms[i]) < 0)
			goto out;
		ts[i] = now() - t0;
	}
	c1 = vcd_call_count(f.s);
	for (int i = 0; i < lat_n; i++) {
		double t0 = now();

		if (floor_delete(&f, i) < 0)
			goto out;
		td[i] = now() - t0;
	}
	c2 = vcd_call_count(f.s);
	for (int k = 0; k < 2; k++) {
		double *v = k == 0 ? ts : td;

		qsort(v, (size_t)lat_n, sizeof(double), cmp_double);
		m[k] = v[lat_n / 2] * 1e3, p90[k] = v[(int)(lat_n * 0.9)] * 1e3;
		p99[k] = v[(int)(lat_n * 0.99)] * 1e3;
	}
	snprintf(line[0], sizeof(line[0]), "3a. cached spawn at the driver level, the "
	    "agent's spec (CreateVM_Task of a linked clone, PowerOnVM_Task, their task "
	    "reads), %d one at a time: median %.1f ms, p90 %.1f ms, p99 %.1f ms, %.1f "
	    "SOAP calls", lat_n, m[0], p90[0], p99[0], (double)(c1 - c0) / lat_n);
	snprintf(line[1], sizeof(line[1]), "3b. delete at the driver level "
	    "(vcd_vm_delete, as the agent), %d one at a time: median %.1f ms, p90 %.1f "
	    "ms, p99 %.1f ms, %.1f SOAP calls", lat_n, m[1], p90[1], p99[1],
	    (double)(c2 - c1) / lat_n);
	/* spawns/s with 1, 4, 16 threads */
	f.n = thr_n;
	for (int k = 0; k < 3; k++) {
		f.base = 1000 * (k + 1);
		atomic_store(&f.failed, 0);
		rate[k] = thr_n / floor_run(&f, threads[k], floor_worker);
		if (atomic_load(&f.failed) > 0)
			goto out;
		floor_run(&f, threads[k], floor_deleter);
		if (atomic_load(&f.failed) > 0)
			goto out;
	}
	snprintf(line[2], sizeof(line[2]), "3c. cached spawns/s at the driver level, "
	    "the agent's spec, %d spawns on 1 / 4 / 16 threads (one session, 16 "
	    "connections; deleted after, untimed): %.1f / %.1f / %.1f", thr_n, rate[0],
	    rate[1], rate[2]);
	for (int k = 0; k < 3; k++)
		printf("%s\n", line[k]);
	if (getenv("BENCH_VCSIM_FLAGS") == NULL) {	/* bench_spawn.sh's, default model */
		const char *bd = getenv("VCAGENT_BUILD");
		char *fn = xasprintf("%s/bench/spawn_driver.txt", bd ? bd : ".");
		FILE *fp = fopen(fn, "w");

		if (fp != NULL) {
			fprintf(fp, "spawn_ms %.1f %.1f %.1f\ndelete_ms %.1f %.1f %.1f\n"
			    "spawns_per_s %.1f %.1f %.1f\n", m[0], p90[0], p99[0], m[1],
			    p90[1], p99[1], rate[0], rate[1], rate[2]);
			fclose(fp);
		}
		free(fn);
	}
	ret = 0;
out:
	if (f.s != NULL)
		vcd_close(f.s);
	free(f.vms);
	free(ts);
	free(td);
	return ret;
}

int
main(void)
{
	const char *flags = getenv("BENCH_VCSIM_FLAGS");
	char *vcsim = xasprintf("vcsim%s%s", flags != NULL ? " " : "", flags != NULL ?
	    flags : "");
	const char *const specs[] = { vcsim, "glance", NULL };
	struct bench b;
	struct vcd_cluster *cl;
	struct vcd_err err;
	struct ic_disk_info info;
	char *cached = NULL;
	size_t n;
	int rounds = env_int("BENCH_ROUNDS", 5, 1), ret = 1;

	memset(&b, 0, sizeof(b));
	if ((b.t = tpeer_start(specs)) == NULL) {
		free(vcsim);
		return 1;
	}
	b.servers[0] = tpeer_get(b.t, "GLANCE_URL");
	b.g = (struct ic_glance){ b.servers, 1, 0, NULL, 0, 0 };
	printf("peers: vcsim (govmomi 0.24.2; model: %s) and Glance (python3-glance) "
	    "on 127.0.0.1, both stores on tmpfs\n", flags != NULL ? flags : "default");
	printf("command: make bench  (bench/bench_fetch)\n");
	tpeer_vcsim_options(b.t, &b.o);
	b.o.pool_size = 2;
	if (vcd_connect(&b.o, &b.s, &err) < 0 || vcd_login(b.s, &err) < 0 ||
	    vcd_clusters_list(b.s, &cl, &n, &err) < 0 ||
	    vcd_cluster_placement(b.s, &cl[0].ref, &b.pl, &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		goto out;
	}
	vcd_clusters_free(cl, n);
	if (bench_stream(&b, env_int("BENCH_FETCH_MIB", IMG_MIB, 1), rounds) < 0 ||
	    bench_first_spawn(&b, env_int("BENCH_FIRST_N", 9, 1), &cached, &info) < 0 ||
	    bench_floor(&b, cached, &info) < 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		printf("bench_fetch: FAILED (see above)\n");
	free(cached);
	free(vcsim);
	vcd_close(b.s);
	tpeer_stop(b.t);
	return ret;
}
