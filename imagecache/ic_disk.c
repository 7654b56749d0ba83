/*
 * ic_disk.c - an instance's root disk from a cached image.
 *
 * A linked clone's root disk is a new delta disk in the VM's folder whose
 * parent is the cached image (as nova's VMware driver builds it): the cache
 * is only ever read.  The disk sits on the controller the image's adapter
 * type asks for: SCSI adapters get a new controller of their kind, IDE
 * disks go on the VM's first IDE controller (vSphere adds IDE controllers
 * 200 and 201 to every VM).
 */
#include "config.h"

#include <string.h>

#include <stdio.h>
#include <stdlib.h>

#include "ic_int.h"
#include "log.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

static const struct {
	const char		*adapter;	/* vmware_adaptertype / ddb.adapterType */
	const struct vim_type	*controller;	/* NULL: IDE */
} ic_adapters[] = {
	{ "lsiLogic", &vim_type_VirtualLsiLogicController },
	{ "lsiLogicsas", &vim_type_VirtualLsiLogicSASController },
	{ "busLogic", &vim_type_VirtualBusLogicController },
	{ "paraVirtual", &vim_type_ParaVirtualSCSIController },
	{ "ide", NULL },
};

#define IC_IDE_CONTROLLER	200	/* the first IDE controller's key */

static void
ic_push(struct vim_arena *a, struct vim_list_VirtualDeviceConfigSpec *l,
    struct vim_VirtualDeviceConfigSpec *ds)
{
	struct vim_VirtualDeviceConfigSpec **v = vim_alloc(a, (l->len + 1) * sizeof(*v));

	if (l->len > 0)
		memcpy(v, l->v, l->len * sizeof(*v));
	v[l->len++] = ds;
	l->v = v;
}

int
ic_adapter_check(const char *adapter)
{
	if (adapter == NULL || adapter[0] == '\0')
		return 0;
	for (size_t i = 0; i < sizeof(ic_adapters) / sizeof(ic_adapters[0]); i++)
		if (strcmp(ic_adapters[i].adapter, adapter) == 0)
			return 0;
	return -1;
}

int
ic_root_disk_specs(struct vim_arena *a, const char *cached_dspath,
    const char *adapter, int64_t capacity_kb, bool linked, const char *copy_dspath,
    struct vim_list_VirtualDeviceConfigSpec *devices, struct vcd_err *err)
{
	const struct vim_type *ctype = NULL;
	struct vim_VirtualDisk *disk;
	struct vim_VirtualDiskFlatVer2BackingInfo *b;
	struct vim_VirtualDeviceConfigSpec *ds;
	size_t i;
	int controller_key = IC_IDE_CONTROLLER;

	if (adapter == NULL || adapter[0] == '\0')
		adapter = "lsiLogic";	/* nova's default adapter type */
	for (i = 0; i < sizeof(ic_adapters) / sizeof(ic_adapters[0]); i++)
		if (strcmp(ic_adapters[i].adapter, adapter) == 0)
			break;
	if (i == sizeof(ic_adapters) / sizeof(ic_adapters[0])) {
		vcd_err_set(err, VCD_E_INVALID, NULL, adapter, "unknown disk adapter "
		    "type \"%s\" (expected lsiLogic, lsiLogicsas, busLogic, "
		    "paraVirtual or ide)", adapter);
		return -1;
	}
	if (capacity_kb <= 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, cached_dspath, "a root disk "
		    "needs a size");
		return -1;
	}
	if (!linked && copy_dspath == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, cached_dspath, "a full copy needs "
		    "the path of the copy");
		return -1;
	}
	ctype = ic_adapters[i].controller;
	if (ctype != NULL) {
		struct vim_VirtualSCSIController *c = vim_new(a, ctype);

		c->base.base.key = VIM_INT(-101);
		c->base.busNumber = VIM_INT(0);
		c->sharedBus = "noSharing";
		ds = vim_new(a, &vim_type_VirtualDeviceConfigSpec);
		ds->operation = "add";
		ds->device = &c->base.base;
		ic_push(a, devices, ds);
		controller_key = -101;
	}

	b = vim_new(a, &vim_type_VirtualDiskFlatVer2BackingInfo);
	b->diskMode = "persistent";
	b->thinProvisioned = VIM_BOOL(true);
	disk = vim_new(a, &vim_type_VirtualDisk);
	disk->base.key = VIM_INT(-102);
	disk->base.controllerKey = VIM_INT(controller_key);
	disk->base.unitNumber = VIM_INT(0);
	disk->base.backing = &b->base.base;
	disk->capacityInKB = VIM_INT(capacity_kb);
	ds = vim_new(a, &vim_type_VirtualDeviceConfigSpec);
	ds->operation = "add";
	ds->device = &disk->base;
	if (linked) {
		/* a new delta disk in the VM's folder, on top of the cached disk */
		struct vim_VirtualDiskFlatVer2BackingInfo *parent =
		    vim_new(a, &vim_type_VirtualDiskFlatVer2BackingInfo);

		parent->base.fileName = vim_strdup(a, cached_dspath);
		parent->diskMode = "persistent";
		b->base.fileName = "";
		b->parent = parent;
		ds->fileOperation = "create";
	} else {
		/* an existing full copy made beforehand (CopyVirtualDisk) */
		b->base.fileName = vim_strdup(a, copy_dspath);
	}
	ic_push(a, devices, ds);
	return 0;
}

int
ic_full_copy(struct vcd_session *s, const struct vcd_moref *dc,
    const char *img_dspath, int64_t capacity_kb, const char *dest_dspath,
    unsigned root_gb, struct vcd_err *err)
{
	int64_t kb = (int64_t)root_gb * 1024 * 1024;
	char *dir = xstrdup(dest_dspath), *slash;
	int ret = -1;

	vcd_err_clear(err);
	if (root_gb > 0 && kb < capacity_kb) {
		vcd_err_set(err, VCD_E_INVALID, "FlavorDiskSmallerThanImage", img_dspath,
		    "the flavor's root disk (%u GB) is smaller than %s (%lld KB)",
		    root_gb, img_dspath, (long long)capacity_kb);
		goto out;
	}
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (vcd_ds_mkdir(s, dc, dir, err) < 0)
			goto out;
	}
	if (vcd_vdisk_copy(s, dc, img_dspath, dest_dspath, NULL, err) < 0)
		goto out;
	if (root_gb > 0 && kb > capacity_kb &&
	    vcd_vdisk_extend(s, dc, dest_dspath, kb, err) < 0) {
		ic_remove(s, dc, dest_dspath, true);
		goto out;
	}
	ret = 0;
out:
	free(dir);
	return ret;
}

bool
ic_linked_clone(bool use_linked_clone, const struct ic_image *img)
{
	return img->linked_clone >= 0 ? img->linked_clone != 0 : use_linked_clone;
}
