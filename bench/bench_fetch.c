/*
 * bench_fetch.c - Glance -> datastore streaming of a 1 GiB image, against
 * vcsim and Glance started by our peer scripts on loopback.  Prints:
 *   - ic_fetch()'s throughput (verified: MD5 + SHA-512, temporary + move),
 *   - the same bytes through `curl GLANCE | curl -T - DATASTORE`,
 *   - how much this process's peak memory grew during the fetch.
 * Asserts nothing (tests do that).  Usage: make bench
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "imagecache/imagecache.h"
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

int
main(void)
{
	static const char *const specs[] = { "vcsim", "glance", NULL };
	struct tpeer *t = tpeer_start(specs);
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl;
	struct vcd_placement pl;
	struct ic_image_meta m;
	struct ic_progress prog;
	struct vcd_err err;
	struct buf b = BUF_INIT;
	const char *servers[1];
	char *file, *cmd, *id, *path;
	double t0, ours, theirs;
	long base, peak;
	size_t n;
	json_t *j;

	if (t == NULL)
		return 1;
	servers[0] = tpeer_get(t, "GLANCE_URL");
	printf("peers: vcsim (govmomi 0.24.2) and Glance (python3-glance) on "
	    "127.0.0.1, both stores on tmpfs\n");

	/* the image: random bytes, uploaded by curl (never in our memory) */
	file = xasprintf("%s/image.bin", tpeer_dir(t));
	cmd = xasprintf("head -c %d </dev/urandom >'%s'", IMG_MIB * MIB, file);
	run(cmd);
	free(cmd);
	{
		const char *body = "{\"name\": \"bench\", \"disk_format\": \"vmdk\", "
		    "\"container_format\": \"bare\"}";
		char *url = xasprintf("%s/v2/images", servers[0]);
		if (tpeer_http("POST", url, body, strlen(body), "application/json",
		    NULL, &b) != 201)
			return 1;
		free(url);
	}
	j = json_loads(buf_cstr(&b), 0, NULL);
	id = xstrdup(json_string_value(json_object_get(j, "id")));
	json_decref(j);
	cmd = xasprintf("curl -sS -f -T '%s' -H 'Content-Type: application/octet-stream' "
	    "'%s/v2/images/%s/file'", file, servers[0], id);
	run(cmd);
	free(cmd);

	tpeer_vcsim_options(t, &o);
	o.pool_size = 2;
	if (vcd_connect(&o, &s, &err) < 0 || vcd_login(s, &err) < 0 ||
	    vcd_clusters_list(s, &cl, &n, &err) < 0 ||
	    vcd_cluster_placement(s, &cl[0].ref, &pl, &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	vcd_clusters_free(cl, n);
	{
		struct ic_glance g = { servers, 1, 0, NULL, 0, 0 };
		if (ic_glance_meta(&g, id, &m, &err) < 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			return 1;
		}
		path = xasprintf("_base/%s/%s.vmdk", id, id);
		struct ic_fetch_req r = { &g, &m, pl.datacenter_name, &pl.datacenter,
		    "LocalDS_0", path, &pl.pool, &pl.folder, &prog, 0, 0, NULL };
		peak_reset();
		base = peak_kib();
		t0 = now();
		if (ic_fetch(s, &r, &err) < 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			return 1;
		}
		ours = now() - t0;
		peak = peak_kib();
	}

	/* the same transfer with two curl processes and a pipe */
	cmd = xasprintf("curl -sS -f '%s/v2/images/%s/file' | curl -sS -f -T - "
	    "--cacert '%s' 'https://%s:%s/folder/_base/curl-copy.bin?dcPath=%s"
	    "&dsName=LocalDS_0' -o /dev/null", servers[0], id,
	    tpeer_get(t, "VCSIM_CA_FILE"), o.host, tpeer_get(t, "VCSIM_PORT"),
	    pl.datacenter_name);
	t0 = now();
	run(cmd);
	theirs = now() - t0;
	free(cmd);

	printf("command: make bench  (bench/bench_fetch)\n");
	printf("4. Glance -> datastore, %d MiB: ic_fetch %.2f s = %.0f MB/s "
	    "(SHA-512 verified while streaming, temporary name + move)\n", IMG_MIB, ours,
	    IMG_MIB * 1.048576 / ours);
	printf("   curl | curl -T - on the same peers: %.2f s = %.0f MB/s; "
	    "ic_fetch reaches %.0f%% of it\n", theirs, IMG_MIB * 1.048576 / theirs,
	    100.0 * theirs / ours);
	printf("   this process's peak memory grew by %.1f MiB during the fetch "
	    "(pipe: 4 MiB)\n", (double)(peak - base) / 1024.0);
	free(path);
	free(id);
	free(file);
	buf_free(&b);
	vcd_close(s);
	tpeer_stop(t);
	return 0;
}
