/*
 * ops_disk.c - an instance's VM as resize, rescue and volumes see it: its
 * power state, its root disk, a rescue disk if it has one, its other disks
 * (volumes), its controllers and the units in use, from one read; and the
 * device changes that swap, add and remove disks.
 *
 * The root disk is the first disk that is neither a rescue disk nor a
 * volume: a First Class Disk, or a file the instance's volume_attachments
 * rows name (read with the VM, on the agent's database connection).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "pgc.h"
#include "vcdriver/vcd_pc.h"
#include "vcdriver/vim.h"

/* FILE is a rescue disk: "<anything>-rescue.vmdk", as nova names them. */
bool
ops_disk_is_rescue(const char *file)
{
	size_t n = strlen(file), k = strlen("-rescue.vmdk");

	return n >= k && strcmp(file + n - k, "-rescue.vmdk") == 0;
}

/* A disk that is a volume: a First Class Disk, a recorded volume's file,
 * or any disk after the root disk. */
static bool
ops_disk_is_volume(const struct ops_root *rt, const struct vim_VirtualDisk *disk,
    const char *file)
{
	if (disk->vDiskId != NULL || rt->disk != NULL)
		return true;
	for (size_t i = 0; i < rt->nvol_files; i++)
		if (strcmp(rt->vol_files[i], file) == 0)
			return true;
	return false;
}

static int
ops_root_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct ops_root *rt = arg;
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");
	const char *ps = vcd_pc_str(oc, "runtime.powerState");
	const char *uuid = vcd_pc_str(oc, "config.instanceUuid");

	if (ps != NULL)
		snprintf(rt->power, sizeof(rt->power), "%s", ps);
	if (uuid != NULL)
		snprintf(rt->uuid, sizeof(rt->uuid), "%s", uuid);
	for (size_t i = 0; devs != NULL && devs->kind == VA_ARRAY && i < devs->nitems; i++) {
		struct vim_VirtualDevice *d;
		struct vim_VirtualDisk *disk;
		struct vim_VirtualDiskFlatVer2BackingInfo *b;
		bool rescue;

		if (devs->items[i]->kind != VA_OBJ ||
		    (d = vim_cast(devs->items[i]->obj, &vim_type_VirtualDevice)) == NULL)
			continue;
		if (vim_cast(d, &vim_type_VirtualIDEController) != NULL &&
		    rt->nide < sizeof(rt->ide) / sizeof(rt->ide[0]))
			rt->ide[rt->nide++] = d->key.v;
		if (vim_cast(d, &vim_type_VirtualController) != NULL &&
		    rt->nctls < sizeof(rt->ctls) / sizeof(rt->ctls[0]))
			rt->ctls[rt->nctls++] = (struct ops_ctl){ (int)d->key.v,
			    (int)((struct vim_VirtualController *)d)->busNumber.v,
			    vim_type_name(d) };
		if (d->controllerKey.set && d->unitNumber.set &&
		    rt->nunits < sizeof(rt->units) / sizeof(rt->units[0])) {
			rt->units[rt->nunits][0] = d->controllerKey.v;
			rt->units[rt->nunits++][1] = d->unitNumber.v;
		}
		if (vim_cast(d, &vim_type_VirtualCdrom) != NULL && rt->cdrom_file == NULL &&
		    d->backing != NULL && vim_cast(d->backing,
		    &vim_type_VirtualCdromIsoBackingInfo) != NULL)
			rt->cdrom_file = vim_strdup(rt->a, ((struct vim_VirtualCdromIsoBackingInfo *)
			    d->backing)->base.fileName);
		if ((disk = vim_cast(d, &vim_type_VirtualDisk)) == NULL ||
		    (b = vim_cast(disk->base.backing,
		    &vim_type_VirtualDiskFlatVer2BackingInfo)) == NULL ||
		    b->base.fileName == NULL)
			continue;
		rescue = ops_disk_is_rescue(b->base.fileName);
		/* copied whole, to be sent back as read (as nova does): the
		 * decoded one goes with the retrieve's arena */
		if (!rescue && ops_disk_is_volume(rt, disk, b->base.fileName)) {
			if (rt->nothers < sizeof(rt->others) / sizeof(rt->others[0])) {
				struct ops_disk *o = &rt->others[rt->nothers++];

				o->disk = vim_dup(rt->a, disk);
				o->file = ((struct vim_VirtualDiskFlatVer2BackingInfo *)
				    o->disk->base.backing)->base.fileName;
				o->fcd = disk->vDiskId != NULL && disk->vDiskId->id != NULL ?
				    vim_strdup(rt->a, disk->vDiskId->id) : NULL;
			}
			continue;
		}
		if (rescue ? rt->rescue != NULL : rt->disk != NULL)
			continue;
		disk = vim_dup(rt->a, disk);
		b = (struct vim_VirtualDiskFlatVer2BackingInfo *)disk->base.backing;
		if (rescue) {
			rt->rescue = disk;
			rt->rescue_file = b->base.fileName;
		} else {
			rt->disk = disk;
			rt->file = b->base.fileName;
		}
	}
	return 0;
}

/* The files of instance U's recorded volumes into RT. */
static int
ops_vol_files(PGconn *pg, const char *u, struct ops_root *rt, struct vcd_err *err)
{
	const char *params[1] = { u };
	char why[512];
	PGresult *res;

	if ((res = pgc_exec(pg, "SELECT path FROM volume_attachments WHERE "
	    "instance_uuid = $1 AND path IS NOT NULL ORDER BY attached_at", 1, params,
	    why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, u, why);
	for (int i = 0; i < PQntuples(res) &&
	    rt->nvol_files < sizeof(rt->vol_files) / sizeof(rt->vol_files[0]); i++)
		rt->vol_files[rt->nvol_files++] = vim_strdup(rt->a, PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

int
ops_root_read(struct agent *a, PGconn *pg, const char *u, struct vcd_moref *vm,
    struct ops_root *rt, struct vcd_err *err)
{
	char *paths[] = { "config.hardware.device", "runtime.powerState",
	    "config.instanceUuid" };
	struct vim_arena *ar = rt->a;
	bool looked_up = false;
	int rc;

again:
	memset(rt, 0, sizeof(*rt));
	rt->a = ar;
	if (ops_vol_files(pg, u, rt, err) < 0)
		return -1;
	rc = vcd_pc_retrieve_one(a->vc, vm, "VirtualMachine", paths, 3, ops_root_one,
	    rt, err);
	if (rc == 0 && rt->power[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", vm->value,
		    "virtual machine %s does not exist", vm->value);
		rc = -1;
	}
	if (rc == 0)
		rc = vcd_vm_uuid_check(vm, rt->uuid, u, err);
	if (rc < 0 && ops_vm_again(a, pg, u, vm, &looked_up, err)) {
		vim_arena_free(ar);
		goto again;
	}
	return rc;
}

int
ops_unit_free(const struct ops_root *rt, int ctl)
{
	int max = 16;	/* SCSI: 16 units, 7 the controller's own; IDE: 2 */

	for (size_t i = 0; i < rt->nide; i++)
		if (rt->ide[i] == ctl)
			max = 2;
	for (int u = 0; u < max; u++) {
		bool used = max == 16 && u == 7;

		for (size_t i = 0; i < rt->nunits && !used; i++)
			used = rt->units[i][0] == ctl && rt->units[i][1] == u;
		if (!used)
			return u;
	}
	return -1;
}

int
ops_disk_free_unit(const struct ops_root *rt)
{
	return rt->disk != NULL ? ops_unit_free(rt, rt->disk->base.controllerKey.v) : -1;
}

struct vim_VirtualDisk *
ops_disk_at(struct vim_arena *ar, const struct vim_VirtualDisk *old, int unit,
    const char *file, int64_t kb)
{
	struct vim_VirtualDisk *nd = vim_new(ar, &vim_type_VirtualDisk);
	struct vim_VirtualDiskFlatVer2BackingInfo *nb =
	    vim_new(ar, &vim_type_VirtualDiskFlatVer2BackingInfo);

	nb->base.fileName = vim_strdup(ar, file);
	nb->diskMode = "persistent";
	nd->base.key = VIM_INT(-1);
	nd->base.controllerKey = old->base.controllerKey;
	nd->base.unitNumber = unit >= 0 ? VIM_INT(unit) : old->base.unitNumber;
	nd->base.backing = &nb->base.base;
	nd->capacityInKB = VIM_INT(kb);
	return nd;
}
