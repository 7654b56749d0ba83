/*
 * bench_fetch.c - Glance -> datastore streaming, against vcsim and Glance
 * started by our peer scripts on loopback.  Prints:
 *   - ic_fetch()'s time for a 1 GiB image (verified: SHA-512, temporary +
 *     move) and the same bytes through `curl GLANCE | curl -T - DATASTORE`,
 *     alternating, NROUNDS samples of each: median, p90 and their ratio;
 *   - how much this process's peak memory grew during one fetch;
 *   - the first spawn with a 16 MiB image at the driver level (the image's
 *     metadata, ic_fetch into the cache, a linked clone, power on), one
 *     fresh image per sample: median and p90, also written to
 *     $VCAGENT_BUILD/bench/first_spawn_driver.ms for bench_spawn.sh's ratio.
 * Asserts nothing (tests do that).  Usage: make bench
 * (BENCH_FETCH_MIB, BENCH_ROUNDS change the size and the rounds.)
 */
#include "config.h"

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
bench_first_spawn(struct bench *b, int rounds)
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
	{
		const char *bd = getenv("VCAGENT_BUILD");
		char *f = xasprintf("%s/bench/first_spawn_driver.ms", bd ? bd : ".");
		FILE *fp = fopen(f, "w");

		if (fp != NULL) {
			fprintf(fp, "%.1f\n", med * 1e3);
			fclose(fp);
		}
		free(f);
	}
	ret = 0;
out:
	free(v);
	free(data);
	return ret;
}

int
main(void)
{
	static const char *const specs[] = { "vcsim", "glance", NULL };
	struct bench b;
	struct vcd_cluster *cl;
	struct vcd_err err;
	size_t n;
	int rounds = env_int("BENCH_ROUNDS", 5, 1), ret = 1;

	memset(&b, 0, sizeof(b));
	if ((b.t = tpeer_start(specs)) == NULL)
		return 1;
	b.servers[0] = tpeer_get(b.t, "GLANCE_URL");
	b.g = (struct ic_glance){ b.servers, 1, 0, NULL, 0, 0 };
	printf("peers: vcsim (govmomi 0.24.2) and Glance (python3-glance) on "
	    "127.0.0.1, both stores on tmpfs\n");
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
	    bench_first_spawn(&b, rounds) < 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		printf("bench_fetch: FAILED (see above)\n");
	vcd_close(b.s);
	tpeer_stop(b.t);
	return ret;
}
