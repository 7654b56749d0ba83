/*
 * ops_volume.c - volumes, as nova's VMware driver attaches them: the
 * block storage service's disks given by a connection_info in nova's shape
 * (doc/requests.md), and First Class Disks this agent makes itself.
 *
 * attach_volume: a vmdk volume's disk is its shadow VM's first disk (as
 * nova's get_vmdk_info finds it) or the "[ds] path.vmdk" given; it is added
 * to the instance's VM at a free unit, without any file operation, in the
 * mode asked (persistent unless said), with the volume's storage policy.
 * A First Class Disk (vstorageobject) is attached with AttachDisk_Task.
 * The controller is the root disk's, or one of the adapter type asked; a
 * new one is added when none has a free unit (IDE only on a VM that is
 * off: IDE has no hot plug).  The attachment is recorded in
 * volume_attachments after vCenter has it: a second attach, or the same
 * request run again after a crash, finds the disk on the VM and records
 * it without attaching it twice.
 *
 * detach_volume: the device is removed and the file kept (DetachDisk_Task
 * for a First Class Disk); then the row goes.  delete detaches every
 * volume before the VM goes (ops_volumes_release), and migrate names each
 * volume's disk in RelocateVM_Task's disk locators, on the datastore it is
 * on, with its policy (ops_volume_locators).
 *
 * volume_create / volume_delete: a thin First Class Disk named by the
 * volume id, on the datastore asked, the one a storage policy picks, or the
 * cluster's largest; recorded in volumes before it is made, so that a run
 * after a crash finds it by name instead of making a second one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vcd_pc.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

/* The controller type of a nova adapter type. */
static const struct ops_adapter {
	const char		*adapter;
	const char		*ctl;
	const struct vim_type	*type;
} ops_adapters[] = {
	{ "lsiLogic", "VirtualLsiLogicController", &vim_type_VirtualLsiLogicController },
	{ "busLogic", "VirtualBusLogicController", &vim_type_VirtualBusLogicController },
	{ "lsiLogicsas", "VirtualLsiLogicSASController",
	    &vim_type_VirtualLsiLogicSASController },
	{ "paraVirtual", "ParaVirtualSCSIController", &vim_type_ParaVirtualSCSIController },
	{ "ide", "VirtualIDEController", &vim_type_VirtualIDEController },
};

static const struct ops_adapter *
ops_adapter(const char *adapter)
{
	for (size_t i = 0; i < sizeof(ops_adapters) / sizeof(ops_adapters[0]); i++)
		if (strcmp(ops_adapters[i].adapter, adapter) == 0)
			return &ops_adapters[i];
	return NULL;
}

/* The adapter type of a controller object, or NULL. */
static const char *
ops_adapter_of(const void *ctl)
{
	for (size_t i = 0; i < sizeof(ops_adapters) / sizeof(ops_adapters[0]); i++)
		if (vim_cast(ctl, ops_adapters[i].type) != NULL &&
		    strcmp(vim_type_name(ctl), ops_adapters[i].ctl) == 0)
			return ops_adapters[i].adapter;
	return NULL;
}

/* What a volume is on the VM: the disk of a vmdk volume, or a First Class
 * Disk. */
struct ops_vol {
	const char	*id;		/* the volume id */
	bool		 fcd;
	char		 path[600];	/* vmdk: its file */
	char		 fcd_id[80];
	struct vcd_moref ds;		/* fcd: its datastore */
	int64_t		 kb;		/* vmdk from a shadow VM: its size */
	bool		 thin;
	const char	*adapter;	/* vmdk from a shadow VM: its controller's
					 * adapter type, or NULL */
};

/* Disk D is the volume whose First Class Disk id is FCD or whose file is
 * PATH (either "" : not known). */
static bool
ops_disk_is(const struct ops_disk *d, const char *path, const char *fcd)
{
	return (fcd[0] != '\0' && d->fcd != NULL && strcmp(d->fcd, fcd) == 0) ||
	    (path[0] != '\0' && d->file != NULL && strcmp(d->file, path) == 0);
}

/* The volume's disk on the VM as RT read it, or NULL. */
static struct ops_disk *
ops_vol_on_vm(struct ops_root *rt, const struct ops_vol *v)
{
	for (size_t i = 0; i < rt->nothers; i++)
		if (ops_disk_is(&rt->others[i], v->path, v->fcd ? v->fcd_id : ""))
			return &rt->others[i];
	return NULL;
}

/* A shadow VM's disk, as nova's get_vmdk_info takes it: the first
 * (lowest controller key, then unit) with a flat backing. */
static int
ops_shadow_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct ops_vol *v = arg;
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");
	int64_t best_ctl = 0, best_unit = 0;
	bool found = false;
	size_t i;

	for (i = 0; devs != NULL && devs->kind == VA_ARRAY && i < devs->nitems; i++) {
		struct vim_VirtualDisk *d;
		struct vim_VirtualDiskFlatVer2BackingInfo *b;

		if (devs->items[i]->kind != VA_OBJ ||
		    (d = vim_cast(devs->items[i]->obj, &vim_type_VirtualDisk)) == NULL ||
		    (b = vim_cast(d->base.backing,
		    &vim_type_VirtualDiskFlatVer2BackingInfo)) == NULL ||
		    b->base.fileName == NULL)
			continue;
		if (found && (d->base.controllerKey.v > best_ctl ||
		    (d->base.controllerKey.v == best_ctl &&
		    d->base.unitNumber.v >= best_unit)))
			continue;
		found = true;
		best_ctl = d->base.controllerKey.v;
		best_unit = d->base.unitNumber.v;
		snprintf(v->path, sizeof(v->path), "%s", b->base.fileName);
		v->kb = d->capacityInKB.v;
		v->thin = b->thinProvisioned.set && b->thinProvisioned.v;
	}
	/* its controller's type: the volume's adapter type, as nova reads it */
	for (i = 0; found && devs->kind == VA_ARRAY && i < devs->nitems; i++) {
		const struct vim_VirtualDevice *c = devs->items[i]->kind == VA_OBJ ?
		    vim_cast(devs->items[i]->obj, &vim_type_VirtualController) : NULL;

		if (c != NULL && c->key.v == best_ctl)
			v->adapter = ops_adapter_of(c);
	}
	return 0;
}

/* The volume R's connection_info names, into V. */
static int
ops_vol_resolve(struct agent *a, const struct req *r, struct ops_vol *v,
    struct vcd_err *err)
{
	const struct req_volume *rv = &r->vol;
	char *paths[] = { "config.hardware.device" };
	struct vcd_moref shadow;

	memset(v, 0, sizeof(*v));
	v->id = rv->id;
	if (rv->kind == REQ_VOL_FCD) {
		v->fcd = true;
		snprintf(v->fcd_id, sizeof(v->fcd_id), "%s", rv->fcd_id);
		snprintf(v->ds.type, sizeof(v->ds.type), "Datastore");
		snprintf(v->ds.value, sizeof(v->ds.value), "%s", rv->ds_ref);
		return 0;
	}
	if (rv->volume[0] == '[') {
		snprintf(v->path, sizeof(v->path), "%s", rv->volume);
		return 0;
	}
	snprintf(shadow.type, sizeof(shadow.type), "VirtualMachine");
	snprintf(shadow.value, sizeof(shadow.value), "%.127s", rv->volume);
	if (vcd_pc_retrieve_one(a->vc, &shadow, "VirtualMachine", paths, 1,
	    ops_shadow_one, v, err) < 0) {
		if (err->object[0] == '\0')
			snprintf(err->object, sizeof(err->object), "%.127s", rv->volume);
		return -1;
	}
	if (v->path[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "DiskNotFound", rv->volume, "volume %s: "
		    "its shadow virtual machine %s has no disk", rv->id, rv->volume);
		return -1;
	}
	return 0;
}

/* Where a new disk goes: a controller of ADAPTER's type ("" : the root
 * disk's) with a free unit, or a new one added to CS (key -101).  *CTL and
 * *UNIT; 0, or -1 with ERR. */
static int
ops_vol_slot(struct vim_arena *ar, const struct ops_root *rt, const char *adapter,
    struct vim_VirtualMachineConfigSpec *cs, int *ctl, int *unit,
    struct vcd_err *err, const char *vm)
{
	const struct ops_adapter *ad = adapter[0] != '\0' ? ops_adapter(adapter) : NULL;
	const char *want = NULL;
	int bus = 0;

	if (ad != NULL)
		want = ad->ctl;
	else
		for (size_t i = 0; rt->disk != NULL && i < rt->nctls; i++)
			if (rt->ctls[i].key == rt->disk->base.controllerKey.v)
				want = rt->ctls[i].type;
	for (size_t i = 0; i < rt->nctls; i++) {
		if (want != NULL && strcmp(rt->ctls[i].type, want) != 0)
			continue;
		if (want == NULL && strcmp(rt->ctls[i].type, "VirtualIDEController") == 0)
			continue;
		if ((*unit = ops_unit_free(rt, rt->ctls[i].key)) >= 0) {
			*ctl = rt->ctls[i].key;
			return 0;
		}
	}
	if (want == NULL)
		want = "VirtualLsiLogicController";
	if (strcmp(want, "VirtualIDEController") == 0) {
		vcd_err_set(err, VCD_E_INVALID, "NoFreeUnit", vm, "virtual machine %s "
		    "has no free IDE unit for the volume", vm);
		return -1;
	}
	/* a new SCSI controller, on the first free bus, as nova adds one */
	for (bus = 0; bus < 4; bus++) {
		bool used = false;

		for (size_t i = 0; i < rt->nctls; i++)
			if (strcmp(rt->ctls[i].type, "VirtualIDEController") != 0 &&
			    rt->ctls[i].bus == bus)
				used = true;
		if (!used)
			break;
	}
	if (bus == 4) {
		vcd_err_set(err, VCD_E_INVALID, "NoFreeUnit", vm, "virtual machine %s "
		    "has no free unit for the volume and four SCSI controllers", vm);
		return -1;
	}
	for (size_t i = 0; i < sizeof(ops_adapters) / sizeof(ops_adapters[0]); i++)
		if (strcmp(ops_adapters[i].ctl, want) == 0) {
			struct vim_VirtualSCSIController *sc = vim_new(ar, ops_adapters[i].type);

			sc->base.base.key = VIM_INT(-101);
			sc->base.busNumber = VIM_INT(bus);
			sc->sharedBus = "noSharing";
			vim_device_change(ar, &cs->deviceChange, "add", NULL,
			    &sc->base.base, false);
			*ctl = -101;
			*unit = 0;
			return 0;
		}
	vcd_err_set(err, VCD_E_INVALID, "NoFreeUnit", vm, "virtual machine %s has no "
	    "free unit for the volume on its %s", vm, want);
	return -1;
}

/* IDE takes no hot plug (nova checks it too): a disk on IDE controller
 * CTL is WHAT the VM only when it is off.  0, or -1 with ERR. */
static int
ops_vol_ide_off(const struct ops_root *rt, int ctl, const char *id,
    const char *what, const struct vcd_moref *vm, struct vcd_err *err)
{
	for (size_t i = 0; i < rt->nide; i++)
		if (rt->ide[i] == ctl && strcmp(rt->power, "poweredOff") != 0) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidPowerState", vm->value,
			    "volume %s: an IDE disk cannot be %s a running VM: power "
			    "virtual machine %s off first (it is %s)", id, what, vm->value,
			    rt->power);
			return -1;
		}
	return 0;
}

/* The volume's disk of V for a ReconfigVM at CTL/UNIT (arena AR). */
static struct vim_VirtualDisk *
ops_vol_disk(struct vim_arena *ar, const struct ops_vol *v, const char *mode,
    int ctl, int unit)
{
	struct vim_VirtualDisk *nd = vim_new(ar, &vim_type_VirtualDisk);
	struct vim_VirtualDiskFlatVer2BackingInfo *nb =
	    vim_new(ar, &vim_type_VirtualDiskFlatVer2BackingInfo);

	nb->base.fileName = vim_strdup(ar, v->path);
	nb->diskMode = vim_strdup(ar, mode[0] != '\0' ? mode : "persistent");
	if (v->thin)
		nb->thinProvisioned = VIM_BOOL(true);
	nd->base.key = VIM_INT(-100);
	nd->base.controllerKey = VIM_INT(ctl);
	nd->base.unitNumber = VIM_INT(unit);
	nd->base.backing = &nb->base.base;
	nd->capacityInKB = VIM_INT(v->kb);
	return nd;
}

/* What an attachment is: the disk as read from the VM, or as just
 * attached (its device key unknown then: -1). */
struct ops_att {
	const char	*path;		/* NULL: not known (a First Class Disk) */
	const char	*fcd;
	const char	*mode;
	int		 key, ctl, unit;	/* -1: not known */
};

static void
ops_att_of(const struct ops_disk *d, struct ops_att *at)
{
	const struct vim_VirtualDiskFlatVer2BackingInfo *b =
	    (const void *)d->disk->base.backing;

	*at = (struct ops_att){ d->file, d->fcd, b->diskMode != NULL ? b->diskMode :
	    "persistent", (int)d->disk->base.key.v, (int)d->disk->base.controllerKey.v,
	    (int)d->disk->base.unitNumber.v };
}

static json_t *
ops_vol_json(const char *id, bool fcd, const struct ops_att *at, bool already)
{
	json_t *j = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:b}", "volume_id", id,
	    "driver_volume_type", fcd ? "vstorageobject" : "vmdk", "path", at->path,
	    "fcd_id", at->fcd, "disk_mode", at->mode, "already_attached", already);

	json_object_set_new(j, "device_key", at->key >= 0 ? json_integer(at->key) :
	    json_null());
	json_object_set_new(j, "controller_key", at->ctl >= 0 ?
	    json_integer(at->ctl) : json_null());
	json_object_set_new(j, "unit_number", at->unit >= 0 ? json_integer(at->unit) :
	    json_null());
	return j;
}

/* Record V on R's instance as AT. */
static int
ops_vol_record(PGconn *pg, const struct req *r, const struct ops_vol *v,
    const struct ops_att *at, struct vcd_err *err)
{
	char key[16], why[512];
	const char *params[10] = { r->instance_uuid, v->id, v->fcd ? "vstorageobject" :
	    "vmdk", at->path, v->fcd ? v->fcd_id : NULL, v->fcd ? v->ds.value : NULL,
	    at->mode, at->key >= 0 ? key : NULL,
	    r->vol.profile_id[0] != '\0' ? r->vol.profile_id : NULL, r->request_id };
	PGresult *res;

	snprintf(key, sizeof(key), "%d", at->key);
	if ((res = pgc_exec(pg, "INSERT INTO volume_attachments (instance_uuid, "
	    "volume_id, kind, path, fcd_id, datastore, disk_mode, device_key, "
	    "profile_id, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
	    "ON CONFLICT (instance_uuid, volume_id) DO UPDATE SET kind = $3, path = $4, "
	    "fcd_id = $5, datastore = $6, disk_mode = $7, device_key = $8",
	    10, params, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, r->instance_uuid, why);
	PQclear(res);
	return 0;
}

/* Disk D on instance U's VM is recorded as a volume other than ID:
 * -1 with ERR (DiskInUse). */
static int
ops_vol_other(PGconn *pg, const char *u, const char *id, const struct ops_disk *d,
    struct vcd_err *err)
{
	const char *params[4] = { u, id, d->file != NULL ? d->file : "",
	    d->fcd != NULL ? d->fcd : "" };
	char why[512];
	PGresult *res;
	int ret = 0;

	if ((res = pgc_exec(pg, "SELECT volume_id FROM volume_attachments WHERE "
	    "instance_uuid = $1 AND volume_id <> $2 AND (path = $3 OR fcd_id = $4)",
	    4, params, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, u, why);
	if (PQntuples(res) > 0) {
		vcd_err_set(err, VCD_E_INVALID, "DiskInUse", d->file, "volume %s: the "
		    "disk %s is volume %s's on instance %s", id, d->file,
		    PQgetvalue(res, 0, 0), u);
		ret = -1;
	}
	PQclear(res);
	return ret;
}

/* A vmdk volume in instance U's own folder (its root disk's, as RT read it)
 * would go with the folder when the instance is deleted: -1 with ERR. */
static int
ops_vol_own_folder(const struct ops_root *rt, const struct ops_vol *v,
    const char *u, struct vcd_err *err)
{
	const char *slash;

	if (v->fcd || v->path[0] == '\0' || rt->file == NULL ||
	    (slash = strrchr(rt->file, '/')) == NULL ||
	    strncmp(v->path, rt->file, (size_t)(slash - rt->file) + 1) != 0)
		return 0;
	vcd_err_set(err, VCD_E_INVALID, "VolumeInInstanceFolder", v->path, "volume "
	    "%s: %s is in instance %s's own folder, which deleting the instance "
	    "removes: a volume must live outside it", v->id, v->path, u);
	return -1;
}

static int
ops_vol_attach(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	struct vim_VirtualMachineConfigSpec *cs;
	struct ops_disk *d;
	struct ops_att at;
	struct ops_vol v;
	struct vcd_moref vm;
	const char *u = r->instance_uuid, *params[2] = { r->vol.id, u };
	char why[512];
	PGresult *res;
	bool already = false;
	int ret = -1, ctl = 0, unit = -1;

	if (ops_cluster(a, r->node, err) == NULL)
		return -1;
	/* one instance at a time: a vmdk or First Class Disk is not shared */
	if ((res = pgc_exec(pg, "SELECT instance_uuid FROM volume_attachments WHERE "
	    "volume_id = $1 AND instance_uuid <> $2", 2, params, why, sizeof(why),
	    NULL)) == NULL)
		return ops_db_err(err, u, why);
	if (PQntuples(res) > 0) {
		vcd_err_set(err, VCD_E_INVALID, "VolumeInUse", r->vol.id, "volume %s is "
		    "attached to instance %s: detach it there first", r->vol.id,
		    PQgetvalue(res, 0, 0));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (ops_vol_resolve(a, r, &v, err) < 0)
		return -1;
	if (ops_vm(a, pg, u, &vm, err) < 0 || ops_root_read(a, pg, u, &vm, &rt, err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if (ops_vol_own_folder(&rt, &v, u, err) < 0)
		goto out;
	if ((d = ops_vol_on_vm(&rt, &v)) != NULL &&
	    ops_vol_other(pg, u, v.id, d, err) < 0)
		goto out;
	if (d != NULL) {
		/* a second attach, or this one run again after a crash */
		already = true;
		log_info("attach_volume %s: volume %s is on %s already (%s)", u, v.id,
		    vm.value, d->file);
		goto found;
	}
	cs = vim_new(&ar, &vim_type_VirtualMachineConfigSpec);
	/* the adapter type asked, else the shadow VM's disk's, as nova's */
	if (ops_vol_slot(&ar, &rt, r->vol.adapter[0] != '\0' || v.adapter == NULL ?
	    r->vol.adapter : v.adapter, cs, &ctl, &unit, err, vm.value) < 0 ||
	    ops_vol_ide_off(&rt, ctl, v.id, "added to", &vm, err) < 0)
		goto out;
	if (v.fcd) {
		if (ctl == -101) {
			/* AttachDisk_Task takes an existing controller */
			if (vcd_vm_reconfigure(a->vc, &vm, u, cs, err) < 0 ||
			    ops_root_read(a, pg, u, &vm, &rt, err) < 0)
				goto out;
			for (size_t i = rt.nctls; i-- > 0; )
				if ((unit = ops_unit_free(&rt, rt.ctls[i].key)) == 0) {
					ctl = rt.ctls[i].key;
					break;
				}
		}
		if (vcd_fcd_attach(a->vc, &vm, u, v.fcd_id, &v.ds, ctl, unit, err) < 0)
			goto out;
	} else {
		struct vim_VirtualDeviceConfigSpec *dc = vim_device_change(&ar,
		    &cs->deviceChange, "add", NULL, &ops_vol_disk(&ar, &v,
		    r->vol.disk_mode, ctl, unit)->base, false);

		if (r->vol.profile_id[0] != '\0') {
			struct vim_VirtualMachineDefinedProfileSpec *p =
			    vim_new(&ar, &vim_type_VirtualMachineDefinedProfileSpec);

			p->profileId = vim_strdup(&ar, r->vol.profile_id);
			vim_push(&ar, (void ***)&dc->profile.v, &dc->profile.len, &p->base);
		}
		if (vcd_vm_reconfigure(a->vc, &vm, u, cs, err) < 0)
			goto out;
	}
	log_info("attach_volume %s: volume %s (%s) attached to %s", u, v.id,
	    v.fcd ? v.fcd_id : v.path, vm.value);
	/* recorded as attached, without reading it back (a First Class Disk's
	 * file and the device's key are not known then) */
	at = (struct ops_att){ v.fcd ? NULL : v.path, v.fcd ? v.fcd_id : NULL,
	    r->vol.disk_mode[0] != '\0' ? r->vol.disk_mode : "persistent", -1,
	    ctl >= 0 ? ctl : -1, unit };
	goto record;
found:
	ops_att_of(d, &at);
record:
	if (ops_vol_record(pg, r, &v, &at, err) < 0)
		goto out;
	op->detail_key = "volume";
	op->detail = ops_vol_json(v.id, v.fcd, &at, already);
	ret = 0;
out:
	vim_arena_free(&ar);
	return ret;
}

/* Remove the volume disks VOLS (N of them) from VM (on RT as read): one
 * ReconfigVM_Task for the vmdk ones, DetachDisk_Task for each First Class
 * Disk; files kept. */
static int
ops_vol_remove(struct agent *a, const char *u, const struct vcd_moref *vm,
    struct ops_disk **vols, size_t n, struct vim_arena *ar, struct vcd_err *err)
{
	struct vim_VirtualMachineConfigSpec *cs =
	    vim_new(ar, &vim_type_VirtualMachineConfigSpec);

	for (size_t i = 0; i < n; i++) {
		if (vols[i]->fcd != NULL) {
			if (vcd_fcd_detach(a->vc, vm, u, vols[i]->fcd, err) < 0)
				return -1;
			continue;
		}
		vim_device_change(ar, &cs->deviceChange, "remove", NULL,
		    &vols[i]->disk->base, false);
	}
	if (cs->deviceChange.len > 0 && vcd_vm_reconfigure(a->vc, vm, u, cs, err) < 0)
		return -1;
	return 0;
}

static int
ops_vol_detach(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	struct ops_disk *d = NULL;
	struct ops_vol v;
	struct vcd_moref vm;
	const char *u = r->instance_uuid, *params[2] = { u, r->vol.id };
	char why[512];
	PGresult *res;
	bool recorded;
	int ret = -1;

	if (ops_cluster(a, r->node, err) == NULL)
		return -1;
	if ((res = pgc_exec(pg, "SELECT kind, path, coalesce(fcd_id, ''), "
	    "coalesce(datastore, '') FROM volume_attachments WHERE instance_uuid = $1 "
	    "AND volume_id = $2", 2, params, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, u, why);
	memset(&v, 0, sizeof(v));
	v.id = r->vol.id;
	if ((recorded = PQntuples(res) == 1)) {
		v.fcd = strcmp(PQgetvalue(res, 0, 0), "vstorageobject") == 0;
		snprintf(v.path, sizeof(v.path), "%s", PQgetvalue(res, 0, 1));
		snprintf(v.fcd_id, sizeof(v.fcd_id), "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	/* a recorded First Class Disk: DetachDisk_Task at once (NotFound: it
	 * is not on the VM, detached already) */
	if (recorded && v.fcd && ops_vm(a, pg, u, &vm, err) == 0) {
		bool was = true;

		snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
		if (vcd_fcd_detach(a->vc, &vm, u, v.fcd_id, err) < 0) {
			if (strcmp(err->fault, "NotFound") != 0 && !vcd_err_gone(err))
				goto out;
			if ((was = vcd_err_gone(err)))
				goto slow;	/* the VM moved: look it up */
			vcd_err_clear(err);
		}
		log_info("detach_volume %s: First Class Disk %s %s %s, file kept", u,
		    v.fcd_id, was ? "detached from" : "is not on", vm.value);
		op->detail = json_pack("{s:s, s:s, s:s, s:b}", "volume_id", v.id,
		    "driver_volume_type", "vstorageobject", "fcd_id", v.fcd_id,
		    "was_attached", was);
		goto forget;
	}
slow:
	vcd_err_clear(err);
	/* not recorded: what the connection_info names (an attach that
	 * crashed before its record) */
	if (!recorded && r->raw != NULL && json_object_get(r->raw, "connection_info") !=
	    NULL && ops_vol_resolve(a, r, &v, err) < 0)
		goto out;
	if (ops_vm(a, pg, u, &vm, err) < 0 || ops_root_read(a, pg, u, &vm, &rt, err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	d = ops_vol_on_vm(&rt, &v);
	if (d == NULL && !recorded && attempt <= 1) {
		vcd_err_set(err, VCD_E_NOTFOUND, "VolumeNotAttached", r->vol.id, "volume "
		    "%s is not attached to instance %s", r->vol.id, u);
		goto out;
	}
	if (d != NULL && ops_vol_ide_off(&rt, (int)d->disk->base.controllerKey.v, v.id,
	    "removed from", &vm, err) < 0)
		goto out;
	if (d != NULL) {
		struct ops_att at;

		ops_att_of(d, &at);
		op->detail = ops_vol_json(v.id, v.fcd, &at, false);
		if (ops_vol_remove(a, u, &vm, &d, 1, &ar, err) < 0)
			goto out;
		log_info("detach_volume %s: volume %s (%s) detached from %s, file kept",
		    u, v.id, d->file, vm.value);
	} else
		log_info("detach_volume %s: volume %s is not on %s (detached already)",
		    u, v.id, vm.value);
forget:
	if ((res = pgc_exec(pg, "DELETE FROM volume_attachments WHERE instance_uuid = "
	    "$1 AND volume_id = $2", 2, params, why, sizeof(why), NULL)) == NULL) {
		ops_db_err(err, u, why);
		goto out;
	}
	PQclear(res);
	op->detail_key = "volume";
	if (op->detail == NULL)
		op->detail = json_pack("{s:s, s:b}", "volume_id", v.id, "was_attached", 0);
	else if (json_object_get(op->detail, "was_attached") == NULL)
		json_object_set_new(op->detail, "was_attached", json_true());
	ret = 0;
out:
	if (ret < 0) {
		json_decref(op->detail);
		op->detail = NULL;
	}
	vim_arena_free(&ar);
	return ret;
}

int
ops_volumes_release(struct agent *a, PGconn *pg, const char *u,
    const struct vcd_moref *vm0, struct vcd_err *err)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	struct ops_disk *vols[16];
	struct vcd_moref vm;
	const char *params[1] = { u };
	char why[512];
	PGresult *res;
	size_t n = 0;
	int ret = -1, rows;

	if ((res = pgc_exec(pg, "SELECT coalesce(path, ''), coalesce(fcd_id, '') FROM "
	    "volume_attachments WHERE instance_uuid = $1", 1, params, why, sizeof(why),
	    NULL)) == NULL)
		return ops_db_err(err, u, why);
	if ((rows = PQntuples(res)) == 0) {
		PQclear(res);
		return 0;
	}
	if (vm0 != NULL) {
		vm = *vm0;
		if (ops_root_read(a, pg, u, &vm, &rt, err) < 0) {
			if (!vcd_err_gone(err))
				goto out;
			vcd_err_clear(err);	/* no VM: nothing to detach */
		}
		/* the recorded volumes only (others may hold disks that are
		 * none: what a crashed attach left is the next attach's) */
		for (size_t i = 0; i < rt.nothers && n < 16; i++)
			for (int j = 0; j < rows; j++)
				if (ops_disk_is(&rt.others[i], PQgetvalue(res, j, 0),
				    PQgetvalue(res, j, 1))) {
					vols[n++] = &rt.others[i];
					break;
				}
		if (n > 0 && ops_vol_remove(a, u, &vm, vols, n, &ar, err) < 0)
			goto out;
		if (n > 0)
			log_info("delete %s: %zu volume%s detached from %s first, files "
			    "kept", u, n, n == 1 ? "" : "s", vm.value);
	}
	PQclear(res);
	if ((res = pgc_exec(pg, "DELETE FROM volume_attachments WHERE instance_uuid = $1",
	    1, params, why, sizeof(why), NULL)) == NULL) {
		ops_db_err(err, u, why);
		goto out;
	}
	ret = 0;
out:
	PQclear(res);
	vim_arena_free(&ar);
	return ret;
}

int
ops_volume_locators(struct agent *a, PGconn *pg, const char *u, struct vcd_moref *vm,
    struct vcd_disk_locator **out, size_t *n, struct vcd_err *err)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	const char *params[1] = { u };
	char why[512];
	PGresult *res = NULL;
	int ret = -1;

	*out = NULL;
	*n = 0;
	if ((res = pgc_exec(pg, "SELECT coalesce(path, ''), coalesce(profile_id, ''), "
	    "coalesce(fcd_id, '') FROM volume_attachments WHERE instance_uuid = $1", 1,
	    params, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, u, why);
	if (PQntuples(res) == 0) {
		ret = 0;
		goto out;
	}
	if (ops_root_read(a, pg, u, vm, &rt, err) < 0)
		goto out;
	*out = xcalloc((size_t)PQntuples(res), sizeof(**out));
	for (int i = 0; i < PQntuples(res); i++)
		for (size_t j = 0; j < rt.nothers; j++) {
			const struct vim_VirtualDeviceFileBackingInfo *b =
			    (const void *)rt.others[j].disk->base.backing;
			struct vcd_disk_locator *l = &(*out)[*n];

			if (!ops_disk_is(&rt.others[j], PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 2)) || b->datastore == NULL)
				continue;
			l->key = (int)rt.others[j].disk->base.key.v;
			l->datastore = *b->datastore;
			snprintf(l->profile_id, sizeof(l->profile_id), "%s",
			    PQgetvalue(res, i, 1));
			(*n)++;
			break;
		}
	ret = 0;
out:
	PQclear(res);
	vim_arena_free(&ar);
	return ret;
}

/* ---- First Class Disks made by volume_create ---- */

/* The datastore of cluster C a new volume goes on: NAME, else the one a
 * storage POLICY picks, else the largest; into *DS and DSNAME. */
static int
ops_vol_place(struct agent *a, struct agent_cluster *c, const struct req *r,
    const struct cfg *cfg, struct vcd_moref *ds, char *dsname, size_t dlen,
    char *profile, struct vcd_err *err)
{
	const char *who = "the request (storage_policy)";
	char want[256];
	int ret = -1;

	profile[0] = '\0';
	snprintf(want, sizeof(want), "%s", r->vol.datastore);
	/* a policy without a datastore picks it; with one, only its id */
	if (r->vol.policy[0] != '\0' && (want[0] == '\0' ?
	    ops_pbm_place(a, c, r->vol.policy, who, cfg, want, sizeof(want), profile,
	    err) : ops_pbm_policy(a, cfg, r->vol.policy, who, profile, err)) < 0)
		return -1;
	pthread_mutex_lock(&a->lock);
	for (int i = 0; c->have_res && i < c->res.nds; i++)
		if (want[0] != '\0' ? strcmp(c->res.ds[i].name, want) == 0 :
		    strcmp(c->res.ds[i].name, c->res.largest_datastore) == 0) {
			*ds = c->res.ds[i].ref;
			snprintf(dsname, dlen, "%s", c->res.ds[i].name);
			ret = 0;
			break;
		}
	if (ret < 0)
		vcd_err_set(err, VCD_E_NOTFOUND, "DatastoreNotFound", want[0] != '\0' ?
		    want : c->name, want[0] != '\0' ? "datastore \"%s\" is not one "
		    "cluster \"%s\" can use (accessible, not in maintenance, "
		    "datastore_regex)" : "%scluster \"%s\" has no usable datastore",
		    want, c->name);
	pthread_mutex_unlock(&a->lock);
	return ret;
}

static json_t *
ops_fcd_json(const char *vid, const struct vcd_fcd *f, const char *dsname)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:{s:s, s:{s:s, s:s, s:s}}}",
	    "volume_id", vid, "id", f->id, "datastore", f->datastore.value,
	    "datastore_name", dsname, "path", f->path, "capacity_mb",
	    (json_int_t)f->capacity_mb, "connection_info", "driver_volume_type",
	    "vstorageobject", "data", "id", f->id, "ds_ref_val", f->datastore.value,
	    "volume_id", vid);
}

static int
ops_vol_create(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct agent_cluster *c;
	struct vcd_fcd f;
	struct vcd_moref ds;
	char dsname[256], profile[VCD_PBM_IDLEN], mb[24], why[512];
	const char *vid = r->vol.id, *p1[1] = { vid };
	PGresult *res;
	bool made_before = false;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	if ((res = pgc_exec(pg, "SELECT coalesce(fcd_id, ''), datastore, datastore_name, "
	    "deleted_at IS NOT NULL, coalesce(request_id, '') FROM volumes WHERE "
	    "volume_id = $1", 1, p1, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, vid, why);
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 3), "f") == 0) {
		if (strcmp(PQgetvalue(res, 0, 4), r->request_id) != 0) {
			vcd_err_set(err, VCD_E_INVALID, "VolumeExists", vid, "volume %s "
			    "exists already (made by request %s)", vid,
			    PQgetvalue(res, 0, 4));
			PQclear(res);
			return -1;
		}
		/* this request, run again: its disk may be there */
		made_before = true;
		snprintf(ds.type, sizeof(ds.type), "Datastore");
		snprintf(ds.value, sizeof(ds.value), "%s", PQgetvalue(res, 0, 1));
		snprintf(dsname, sizeof(dsname), "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	profile[0] = '\0';
	if (made_before) {
		if (vcd_fcd_find(a->vc, &ds, vid, &f, err) == 0)
			goto record;
		if (err->code != VCD_E_NOTFOUND)
			return -1;
		vcd_err_clear(err);
		if (r->vol.policy[0] != '\0' && vcd_pbm_profile(a->vc, r->vol.policy,
		    profile, err) < 0)
			return -1;
	} else {
		const char *p[6] = { vid, NULL, NULL, mb, r->request_id, NULL };

		if (ops_vol_place(a, c, r, op->cfg, &ds, dsname, sizeof(dsname), profile,
		    err) < 0)
			return -1;
		p[1] = ds.value;
		p[2] = dsname;
		snprintf(mb, sizeof(mb), "%lld", (long long)r->vol.size_mb);
		/* recorded before it is made: a crash then finds it by name */
		if ((res = pgc_exec(pg, "INSERT INTO volumes (volume_id, datastore, "
		    "datastore_name, capacity_mb, request_id) VALUES ($1, $2, $3, $4, $5) "
		    "ON CONFLICT (volume_id) DO UPDATE SET fcd_id = NULL, path = NULL, "
		    "datastore = $2, datastore_name = $3, capacity_mb = $4, request_id = "
		    "$5, created_at = now(), deleted_at = NULL", 5, p, why, sizeof(why),
		    NULL)) == NULL)
			return ops_db_err(err, vid, why);
		PQclear(res);
	}
	{
		struct vcd_fcd_spec spec = { vid, ds, r->vol.size_mb,
		    profile[0] != '\0' ? profile : NULL };

		if (vcd_fcd_create(a->vc, &spec, &f, err) < 0)
			return -1;
	}
	log_info("volume_create %s: First Class Disk %s (%lld MB) on %s", vid, f.id,
	    (long long)f.capacity_mb, dsname);
record:
	{
		const char *p[3] = { vid, f.id, f.path };

		if ((res = pgc_exec(pg, "UPDATE volumes SET fcd_id = $2, path = $3 WHERE "
		    "volume_id = $1", 3, p, why, sizeof(why), NULL)) == NULL)
			return ops_db_err(err, vid, why);
		PQclear(res);
	}
	op->detail_key = "volume";
	op->detail = ops_fcd_json(vid, &f, dsname);
	return 0;
}

static int
ops_vol_delete(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vcd_fcd f;
	struct vcd_moref ds = { "Datastore", "" };
	const char *vid = r->vol.id, *p1[1] = { vid };
	char fcd[80], why[512];
	PGresult *res;

	if (ops_cluster(a, r->node, err) == NULL)
		return -1;
	if ((res = pgc_exec(pg, "SELECT instance_uuid FROM volume_attachments WHERE "
	    "volume_id = $1", 1, p1, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, vid, why);
	if (PQntuples(res) > 0) {
		vcd_err_set(err, VCD_E_INVALID, "VolumeInUse", vid, "volume %s is attached "
		    "to instance %s: detach it first", vid, PQgetvalue(res, 0, 0));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if ((res = pgc_exec(pg, "SELECT coalesce(fcd_id, ''), datastore FROM volumes "
	    "WHERE volume_id = $1 AND deleted_at IS NULL", 1, p1, why, sizeof(why),
	    NULL)) == NULL)
		return ops_db_err(err, vid, why);
	if (PQntuples(res) == 0) {
		PQclear(res);
		if (attempt > 1)
			goto done;	/* deleted by the run a crash cut short */
		vcd_err_set(err, VCD_E_NOTFOUND, "VolumeNotFound", vid, "volume %s is not "
		    "one volume_create made (or it is deleted)", vid);
		return -1;
	}
	snprintf(fcd, sizeof(fcd), "%s", PQgetvalue(res, 0, 0));
	snprintf(ds.value, sizeof(ds.value), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	if (fcd[0] == '\0') {
		/* a create cut short: made or not, by name */
		if (vcd_fcd_find(a->vc, &ds, vid, &f, err) == 0)
			snprintf(fcd, sizeof(fcd), "%s", f.id);
		else if (err->code != VCD_E_NOTFOUND)
			return -1;
		vcd_err_clear(err);
	}
	if (fcd[0] != '\0' && vcd_fcd_delete(a->vc, fcd, &ds, err) < 0) {
		if (strcmp(err->fault, "NotFound") != 0)
			return -1;
		vcd_err_clear(err);	/* gone already */
	}
	if ((res = pgc_exec(pg, "UPDATE volumes SET deleted_at = now() WHERE volume_id "
	    "= $1", 1, p1, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, vid, why);
	PQclear(res);
	log_info("volume_delete %s: First Class Disk %s deleted", vid, fcd);
done:
	op->detail_key = "volume";
	op->detail = json_pack("{s:s, s:b}", "volume_id", vid, "deleted", 1);
	return 0;
}

/*
 * Requests on one volume run one at a time, across workers and agents: each
 * holds a session advisory lock keyed by the volume id on PG, the lease
 * connection that holds its request's lock, from before its checks until
 * its record is written.  Without it, two attaches of one volume to two
 * instances (other instances: other workers) both passed the VolumeInUse
 * check, and a vmdk ended up on both VMs; an attach and a volume_delete
 * could pass each other's checks the same way.  A lock lost with its
 * connection fails the next statement, as the request's own does.
 */
#define OPS_VOL_WAIT_SECS	600	/* then VolumeBusy */

/* 0 with the lock of volume VID on PG, or -1 with ERR. */
static int
ops_vol_lock(PGconn *pg, const char *vid, const char *u, struct vcd_err *err)
{
	const char *params[1] = { vid };
	int (*check)(void *, char *, size_t);
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	char why[512];
	PGresult *res;
	void *carg;
	bool got;

	vcd_abort_get(&check, &carg);
	for (int i = 0; ; i++) {
		if ((res = pgc_exec(pg, "SELECT pg_try_advisory_lock(" PGC_LOCK_KEY(
		    "'volume ' || $1") ")", 1, params, why, sizeof(why), NULL)) == NULL)
			return ops_db_err(err, u, why);
		got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (got)
			return 0;
		if (i == 0)
			log_info("volume %s: another request on it is running: waiting "
			    "for it", vid);
		if (check != NULL && check(carg, why, sizeof(why))) {
			vcd_err_set(err, VCD_E_ABORTED, NULL, vid, "%s", why);
			return -1;
		}
		if (i >= OPS_VOL_WAIT_SECS * 10) {
			vcd_err_set(err, VCD_E_TIMEOUT, "VolumeBusy", vid, "volume %s: "
			    "another request on it has run for over %d s: not waiting "
			    "longer", vid, OPS_VOL_WAIT_SECS);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
}

static void
ops_vol_unlock(PGconn *pg, const char *vid)
{
	const char *params[1] = { vid };
	char why[512];
	PGresult *res;

	/* a lost connection took the lock with it */
	if ((res = pgc_exec(pg, "SELECT pg_advisory_unlock(" PGC_LOCK_KEY(
	    "'volume ' || $1") ")", 1, params, why, sizeof(why), NULL)) != NULL)
		PQclear(res);
}

int
ops_volume(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	int ret = -1;

	if (ops_vol_lock(pg, r->vol.id, r->instance_uuid[0] != '\0' ?
	    r->instance_uuid : r->vol.id, &op->err) < 0)
		return -1;
	switch (r->type) {
	case REQ_ATTACH_VOLUME:
		ret = ops_vol_attach(a, pg, r, op);
		break;
	case REQ_DETACH_VOLUME:
		ret = ops_vol_detach(a, pg, r, attempt, op);
		break;
	case REQ_VOLUME_CREATE:
		ret = ops_vol_create(a, pg, r, op);
		break;
	case REQ_VOLUME_DELETE:
		ret = ops_vol_delete(a, pg, r, attempt, op);
		break;
	default:
		vcd_err_set(&op->err, VCD_E_INVALID, NULL, NULL, "not a volume request");
		break;
	}
	ops_vol_unlock(pg, r->vol.id);
	return ret;
}
