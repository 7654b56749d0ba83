/*
 * bench_first.c - the first spawn of an image at the driver level, on the
 * peers bench_spawn.sh runs the agent against, so that the two figures are
 * taken side by side (alternating), not in different runs.
 *
 * Reads image ids from stdin, one per line; for each: the image's Glance
 * metadata, ic_fetch() into _base-driver/ID/ID.vmdk of LocalDS_0, a linked
 * clone of it with the agent's spec (1 vCPU, 64 MB, no NIC), power on -
 * timed - and prints "ID MS" (stdout, flushed); then, untimed, deletes the
 * VM and the disk's folder.  One session for all, logged in before the
 * first line, as the agent's is.  On an error: "ID -1" and a message on
 * stderr.
 *
 * Environment (bench_spawn.sh's peers): VCSIM_HOST, VCSIM_PORT, VCSIM_USER,
 * VCSIM_PASSWORD, VCSIM_CA_FILE, GLANCE_URL.  Asserts nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imagecache/imagecache.h"
#include "tpeer.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "bench_first: %s is not set\n", name);
		exit(2);
	}
	return v;
}

/* One first spawn of image ID as NAME; its milliseconds, or -1 (ERR). */
static double
first_spawn(struct vcd_session *s, const struct vcd_placement *pl,
    const struct ic_glance *g, const char *id, int n, struct vcd_err *err)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct ic_image_meta m;
	struct ic_disk_info info;
	struct ic_progress prog;
	struct vcd_moref vm;
	char uuid[40], folder[512];
	char *path = xasprintf("_base-driver/%s/%s.vmdk", id, id);
	char *dspath = xasprintf("[LocalDS_0] %s", path);
	char *dir = xasprintf("[LocalDS_0] _base-driver/%s", id);
	double t0 = now(), ms = -1;
	bool made = false;

	snprintf(uuid, sizeof(uuid), "7f7f7f7f-0000-4000-8000-%012d", n);
	memset(&info, 0, sizeof(info));
	if (ic_glance_meta(g, id, &m, err) == 0) {
		struct ic_fetch_req r = { g, &m, pl->datacenter_name, &pl->datacenter,
		    "LocalDS_0", path, &pl->pool, &pl->folder, &prog, 0, 0, &info };

		if (ic_fetch(s, &r, err) == 0 && ic_root_disk_specs(&ar, dspath,
		    info.adapter, info.capacity_kb, true, NULL, &dev, err) == 0) {
			/* the agent's: named by its uuid, an empty extraConfig */
			struct vcd_vm_spec vs = tpeer_vm_spec(uuid, uuid, pl->folder,
			    pl->pool);

			vs.devices = &dev;
			vs.extra = &extra;
			if (vcd_vm_create(s, &vs, &vm, err) == 0) {
				made = true;
				if (vcd_vm_power_on_created(s, &vm, err) == 0)
					ms = (now() - t0) * 1e3;
			}
		}
	}
	if (made)
		(void)vcd_vm_delete(s, &vm, uuid, &pl->datacenter, folder, sizeof(folder),
		    err);
	(void)vcd_ds_delete(s, &pl->datacenter, dir, err);
	vim_arena_free(&ar);
	free(path);
	free(dspath);
	free(dir);
	return ms;
}

int
main(void)
{
	const char *servers[1];
	struct ic_glance g;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_placement pl;
	struct vcd_err err;
	char line[256];
	size_t n = 0;
	int i = 0, ret = 1;

	memset(&o, 0, sizeof(o));
	o.host = env("VCSIM_HOST");
	o.port = atoi(env("VCSIM_PORT"));
	o.username = env("VCSIM_USER");
	o.password = env("VCSIM_PASSWORD");
	o.ca_file = env("VCSIM_CA_FILE");
	servers[0] = env("GLANCE_URL");
	g = (struct ic_glance){ servers, 1, 0, NULL, 0, 0 };
	if (vcd_connect(&o, &s, &err) < 0 || vcd_login(s, &err) < 0 ||
	    vcd_clusters_list(s, &cl, &n, &err) < 0 || n == 0 ||
	    vcd_cluster_placement(s, &cl[0].ref, &pl, &err) < 0) {
		fprintf(stderr, "bench_first: %s\n", n == 0 && cl != NULL ? "no cluster" :
		    err.msg);
		goto out;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		double ms;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		vcd_err_clear(&err);
		if ((ms = first_spawn(s, &pl, &g, line, ++i, &err)) < 0)
			fprintf(stderr, "bench_first: %s: %s\n", line, err.msg);
		printf("%s %.1f\n", line, ms);
		fflush(stdout);
	}
	ret = 0;
out:
	if (cl != NULL)
		vcd_clusters_free(cl, n);
	if (s != NULL)
		vcd_close(s);
	return ret;
}
