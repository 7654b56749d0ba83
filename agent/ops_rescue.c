/*
 * ops_rescue.c - rescue and unrescue, as nova's driver does them.
 *
 * rescue: the VM is powered off; the rescue image (the request's image_id,
 * else the instance's own image) is put in the image cache of the root
 * disk's datastore and copied whole (a copy, so that no cached disk is the
 * parent of a disk no instance row names) into the VM's folder as
 * <image>-rescue.vmdk; that disk is added on the root disk's controller
 * and made the first in the boot order, the root disk staying attached
 * after it; the VM is powered on.  unrescue: the VM is powered off, the
 * rescue disk removed with its files, the root disk made the boot disk
 * again, and the VM powered on.  Either run again after a crash finds the
 * rescue disk there, or gone, and goes on.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "imagecache/imagecache.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vcd_dspath.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

/* BootOptions whose bootOrder is the disk KEY alone, into CS (arena AR). */
static void
ops_boot_from(struct vim_arena *ar, struct vim_VirtualMachineConfigSpec *cs, int key)
{
	struct vim_VirtualMachineBootOptions *bo =
	    vim_new(ar, &vim_type_VirtualMachineBootOptions);
	struct vim_VirtualMachineBootOptionsBootableDiskDevice *dd =
	    vim_new(ar, &vim_type_VirtualMachineBootOptionsBootableDiskDevice);

	dd->deviceKey = VIM_INT(key);
	vim_push(ar, (void ***)&bo->bootOrder.v, &bo->bootOrder.len, &dd->base);
	cs->bootOptions = bo;
}

/* The rescue disk of image ID for a VM whose root disk is ROOT: in its
 * folder.  NULL when ROOT is in no folder.  Caller frees. */
static char *
ops_rescue_path(const char *root, const char *id, char *ds, size_t dslen)
{
	struct vcd_dspath dp = { NULL, NULL };
	const char *pwhy, *slash;
	char *path = NULL;

	if (vcd_dspath_parse(root, &dp, &pwhy) == 0 &&
	    (slash = strrchr(dp.path, '/')) != NULL) {
		path = xasprintf("[%s] %.*s/%s-rescue.vmdk", dp.datastore,
		    (int)(slash - dp.path), dp.path, id);
		snprintf(ds, dslen, "%s", dp.datastore);
	}
	vcd_dspath_free(&dp);
	return path;
}

/* The rescue disk, made from image ID: into RESCUE, KB its size. */
static int
ops_rescue_copy(struct agent *a, struct agent_cluster *c, const char *id,
    const char *ds, const char *rescue, int64_t *kb, struct vcd_err *err)
{
	struct ic_place pl;
	struct ic_image img;
	char dsbuf[256];
	bool retried = false;

	if (agent_cache_place(a, c->name, ds, &pl, dsbuf, sizeof(dsbuf), err) < 0)
		return -1;
again:
	if (ic_cache_ensure(a->cache, id, &pl, &img, err) < 0)
		return -1;
	/* what a crashed attempt left, then the copy */
	if (vcd_vdisk_delete(a->vc, &c->pl.datacenter, rescue, err) < 0 &&
	    strcmp(err->fault, "FileNotFound") != 0)
		return -1;
	vcd_err_clear(err);
	if (ic_full_copy(a->vc, &c->pl.datacenter, img.dspath, img.capacity_kb, rescue, 0,
	    err) < 0) {
		/* the cached disk went missing behind the cache's back */
		if (!retried && strcmp(err->fault, "FileNotFound") == 0) {
			retried = true;
			ic_cache_suspect(a->cache, &img);
			vcd_err_clear(err);
			goto again;
		}
		return -1;
	}
	*kb = img.capacity_kb;
	return 0;
}

int
ops_rescue(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_VirtualMachineConfigSpec *cs;
	struct ops_root rt = { .a = &ar };
	struct agent_cluster *c;
	struct vcd_moref vm;
	const char *u = r->instance_uuid, *params[1] = { u };
	bool rescue = r->type == REQ_RESCUE, rescued = false;
	char why[512], image[65] = "", ds[256] = "", *path = NULL;
	PGresult *res;
	int64_t kb = 0;
	int ret = -1, unit = -1;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	if (rescue && ops_resize_pending(pg, r, err) < 0)
		return -1;
	if ((res = pgc_exec(pg, "SELECT coalesce(image_id, ''), vm_state FROM instances "
	    "WHERE uuid = $1 AND deleted_at IS NULL", 1, params, why, sizeof(why),
	    NULL)) == NULL)
		return ops_db_err(err, u, why);
	if (PQntuples(res) == 1) {
		snprintf(image, sizeof(image), "%s", r->image_id[0] != '\0' ? r->image_id :
		    PQgetvalue(res, 0, 0));
		rescued = strcmp(PQgetvalue(res, 0, 1), "rescued") == 0;
	}
	PQclear(res);
	if (ops_vm(a, pg, u, &vm, err) < 0 || ops_root_read(a, pg, u, &vm, &rt, err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if (rt.disk == NULL) {
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", vm.value,
		    "virtual machine %s has no root disk to %s", vm.value,
		    rescue ? "keep beside a rescue disk" : "boot from");
		goto out;
	}
	if (rescue && rescued && attempt <= 1) {
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", u, "instance %s "
		    "is rescued already (unrescue it first)", u);
		goto out;
	}
	if (!rescue && rt.rescue == NULL && !rescued) {
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", u, "instance %s "
		    "is not rescued", u);
		goto out;
	}
	if (rescue && image[0] == '\0') {
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", u, "instance %s "
		    "has no image to rescue it with (give image_id)", u);
		goto out;
	}
	cs = vim_new(&ar, &vim_type_VirtualMachineConfigSpec);
	/* the copy first: a rescue that cannot be made leaves the VM as it was */
	if (rescue && rt.rescue == NULL) {
		if ((path = ops_rescue_path(rt.file, image, ds, sizeof(ds))) == NULL) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", rt.file,
			    "the root disk %s is not in a folder of the VM's", rt.file);
			goto out;
		}
		if ((unit = ops_disk_free_unit(&rt)) < 0) {
			vcd_err_set(err, VCD_E_INVALID, "NoFreeUnit", vm.value, "the root "
			    "disk's controller (key %d) of virtual machine %s has no free "
			    "unit for a rescue disk", (int)rt.disk->base.controllerKey.v,
			    vm.value);
			goto out;
		}
		if (ops_rescue_copy(a, c, image, ds, path, &kb, err) < 0)
			goto out;
	}
	if (strcmp(rt.power, "poweredOn") == 0 && vcd_vm_power_off(a->vc, &vm, u, err) < 0)
		goto out;
	if (rescue && rt.rescue == NULL) {
		vim_device_change(&ar, &cs->deviceChange, "add", NULL,
		    &ops_disk_at(&ar, rt.disk, unit, path, kb)->base, false);
		if (vcd_vm_reconfigure(a->vc, &vm, u, cs, err) < 0)
			goto out;
		log_info("rescue %s: %s (image %s) attached to %s", u, path, image, vm.value);
		/* the new disk's key, for the boot order */
		if (ops_root_read(a, pg, u, &vm, &rt, err) < 0)
			goto out;
		if (rt.rescue == NULL) {
			vcd_err_set(err, VCD_E_PROTOCOL, "NotFound", vm.value, "virtual "
			    "machine %s does not list the rescue disk %s it was given",
			    vm.value, path);
			goto out;
		}
		cs = vim_new(&ar, &vim_type_VirtualMachineConfigSpec);
	}
	if (!rescue && rt.rescue != NULL) {
		vim_device_change(&ar, &cs->deviceChange, "remove", "destroy",
		    &rt.rescue->base, false);
		log_info("unrescue %s: %s removed from %s", u, rt.rescue_file, vm.value);
	}
	ops_boot_from(&ar, cs, (int)(rescue ? rt.rescue : rt.disk)->base.key.v);
	if (vcd_vm_reconfigure(a->vc, &vm, u, cs, err) < 0)
		goto out;
	if (vcd_vm_power_on(a->vc, &vm, u, err) < 0 &&
	    strcmp(err->fault, "InvalidPowerState") != 0)
		goto out;
	vcd_err_clear(err);
	params[0] = u;
	if ((res = pgc_exec(pg, rescue ? "UPDATE instances SET vm_state = 'rescued', "
	    "power_state = 'running', updated_at = now() WHERE uuid = $1" :
	    "UPDATE instances SET vm_state = 'active', power_state = 'running', "
	    "updated_at = now() WHERE uuid = $1", 1, params, why, sizeof(why),
	    NULL)) == NULL) {
		ops_db_err(err, u, why);
		goto out;
	}
	PQclear(res);
	op->power_state = "running";
	op->vm_state = rescue ? "rescued" : "active";
	ret = 0;
out:
	free(path);
	vim_arena_free(&ar);
	return ret;
}
