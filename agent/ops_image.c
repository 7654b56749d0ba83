/*
 * ops_image.c - snapshot_image: the instance's root disk as a new image in
 * the image service, as nova's driver makes one.
 *
 * A VM snapshot (its disk quiesced when the guest's tools run) is taken, a
 * linked clone of it made (powered off, which an export lease needs), and
 * the clone exported through an HttpNfcLease (ExportVm) as a
 * streamOptimized VMDK.  The export's GET and the image service's PUT run
 * at once, joined by a pipe: the disk is never whole on local disk or in
 * memory.  The image gets nova's properties (disk_format vmdk,
 * container_format bare, vmware_disktype streamOptimized,
 * vmware_adaptertype, vmware_ostype, image_type snapshot, instance_uuid).
 * Then the lease is completed, the clone destroyed and the snapshot removed.
 *
 * The image's id is the request's image.id, or one derived from the
 * request id and the run's number.  The request run again after a crash
 * finds an image an earlier run finished (active: done), deletes the
 * others, destroys the clone an earlier run left and takes its snapshot.
 * A failed upload deletes the image it made.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "agent.h"
#include "imagecache/imagecache.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

/*
 * The image id of run ATTEMPT of request RID: a UUID from the SHA-256 of
 * the request id (and, after the first run, of the run's number: an image
 * id the image service has seen is not given out again, even deleted).
 */
static void
ops_image_id(const char *rid, int attempt, char *out, size_t len)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char *key = attempt > 1 ? xasprintf("%s#%d", rid, attempt) : xstrdup(rid);

	SHA256((const unsigned char *)key, strlen(key), d);
	free(key);
	d[6] = (unsigned char)((d[6] & 0x0f) | 0x50);	/* as a name-based UUID */
	d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
	snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5], d[6],
	    d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
}

/* The image's properties as nova sets them, from the instance row. */
static json_t *
ops_image_props(PGconn *pg, const struct req *r, const char *name)
{
	struct fl_specs specs;
	struct fl_image im;
	struct vcd_err err;

	(void)ops_row_props(pg, r->instance_uuid, &specs, &im, &err);	/* else nova's defaults */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name,
	    "disk_format", "vmdk", "container_format", "bare", "vmware_disktype",
	    "streamOptimized", "vmware_adaptertype", im.adapter[0] ? im.adapter :
	    "lsiLogic", "vmware_ostype", im.os_type[0] ? im.os_type : "otherGuest64",
	    "image_type", "snapshot", "instance_uuid", r->instance_uuid);
}

int
ops_snapshot_image(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vcd_err *err = &op->err, e2;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	struct agent_cluster *c;
	struct vcd_moref vm, snap, clone = { "", "" };
	struct ic_image_meta meta;
	struct vcd_snap *v = NULL;
	const char *u = r->instance_uuid;
	char id[65], base[65], done[65] = "", sname[100], cname[120], msg[800];
	json_t *props = NULL;
	int64_t bytes = 0;
	bool tools = false, made = false, have_snap = false, interrupted = false;
	size_t n = 0;
	int ret = -1;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	if (ops_resize_pending(pg, r, err) < 0)
		return -1;
	/* the snapshot's and the clone's names stay the same from run to run */
	if (r->image_id[0] != '\0')
		snprintf(base, sizeof(base), "%s", r->image_id);
	else
		ops_image_id(r->request_id, 1, base, sizeof(base));
	snprintf(sname, sizeof(sname), "image-%s", base);
	snprintf(cname, sizeof(cname), "%s-image-%.8s", u, base);
	if (r->image_id[0] != '\0')
		snprintf(id, sizeof(id), "%s", r->image_id);
	else
		ops_image_id(r->request_id, attempt > 1 ? attempt : 1, id, sizeof(id));
	if (ops_vm(a, pg, u, &vm, err) < 0 || ops_root_read(a, pg, u, &vm, &rt, err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if (rt.disk == NULL) {
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", vm.value,
		    "virtual machine %s has no root disk to make an image of", vm.value);
		goto out;
	}
	/*
	 * A run again after a crash: an image an earlier run finished is the
	 * request's end; the others are deleted (an id is not given twice, so
	 * this run makes its own), and so is the clone an earlier run left.
	 * The caller's image, half-uploaded, cannot be made again: deleted, the
	 * request fails.
	 */
	if (attempt > 1) {
		struct vcd_vm_info *vms = NULL;
		size_t nv = 0;

		for (int k = 1; k <= attempt && done[0] == '\0'; k++) {
			char old[65];

			if (r->image_id[0] != '\0')
				snprintf(old, sizeof(old), "%s", r->image_id);
			else
				ops_image_id(r->request_id, k, old, sizeof(old));
			if (ic_glance_meta(&a->glance, old, &meta, &e2) < 0)
				continue;
			if (strcmp(meta.status, "active") == 0)
				snprintf(done, sizeof(done), "%s", old);
			else if (r->image_id[0] == '\0' || strcmp(meta.status, "queued") != 0) {
				(void)ic_glance_delete(&a->glance, old, &e2);
				if (r->image_id[0] != '\0') {
					vcd_err_set(err, VCD_E_INVALID, "ImageUploadInterrupted",
					    old, "image %s was %s when the agent stopped; it is "
					    "deleted: ask again with another image", old,
					    meta.status);
					interrupted = true;
				}
			}
			if (r->image_id[0] != '\0')
				break;
		}
		if (vcd_vm_list(a->vc, &vms, &nv, &e2) == 0) {
			for (size_t i = 0; i < nv; i++)
				if (strcmp(vms[i].name, cname) == 0)
					(void)vcd_vm_destroy(a->vc, &vms[i].ref, &e2);
			vcd_vm_list_free(vms);
		}
	}
	if (vcd_snap_list(a->vc, &vm, u, &v, &n, &tools, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, sname) == 0) {
			snap = v[i].ref;
			have_snap = true;
		}
	if (done[0] != '\0' || interrupted) {
		if (done[0] != '\0') {
			log_info("snapshot_image %s: image %s was made by an earlier run", u,
			    done);
			snprintf(id, sizeof(id), "%s", done);
			ret = 0;
		}
		goto fail;	/* its snapshot goes */
	}
	if (!have_snap) {
		if (vcd_snap_create(a->vc, &vm, u, sname, "vcagent: snapshot_image", false,
		    tools, &snap, err) < 0)
			goto out;
		have_snap = true;
	}
	if (vcd_vm_clone_linked(a->vc, &vm, &snap, &c->pl.folder, &c->pl.pool, cname,
	    &clone, err) < 0)
		goto fail;
	props = ops_image_props(pg, r, r->image_name[0] ? r->image_name : sname);
	if (ic_glance_create(&a->glance, id, props, err) < 0)
		goto fail;
	made = true;
	{
		struct ic_progress prog = { 0, 0 };
		struct ic_export_stats st = { .progress = &prog };
		/* listed with the cache's transfers while it runs (/status,
		 * the gauges) */
		struct ic_track *tr = ic_cache_track(a->cache, "export", id,
		    clone.value, &prog);
		int rc = ic_export_to_glance(a->vc, &a->glance, &clone, id,
		    rt.disk->capacityInKB.v * 1024, &st, err);

		ic_cache_untrack(a->cache, tr);
		if (rc < 0)
			goto fail;
		bytes = st.bytes;
	}
	log_info("snapshot_image %s: image %s: %lld bytes, streamOptimized, from VM %s",
	    u, id, (long long)bytes, vm.value);
	made = false;	/* it stays */
	ret = 0;
fail:
	if (made && ic_glance_delete(&a->glance, id, &e2) < 0)
		log_warnx("snapshot_image %s: the half-made image %s stays: %s", u, id,
		    vcd_strerror(&e2, msg, sizeof(msg)));
	if (clone.value[0] != '\0' && vcd_vm_destroy(a->vc, &clone, &e2) < 0)
		log_warnx("snapshot_image %s: clone %s stays: %s", u, clone.value,
		    vcd_strerror(&e2, msg, sizeof(msg)));
	if (have_snap && vcd_snap_remove(a->vc, &vm, u, &snap, false, &e2) < 0)
		log_warnx("snapshot_image %s: snapshot %s stays: %s", u, snap.value,
		    vcd_strerror(&e2, msg, sizeof(msg)));
	if (ret == 0) {
		op->detail_key = "image";
		op->detail = json_pack("{s:s, s:s}", "id", id, "name",
		    r->image_name[0] ? r->image_name : sname);
	}
out:
	json_decref(props);
	free(v);
	vim_arena_free(&ar);
	return ret;
}
