/*
 * vcd_vdisk.c - VirtualDiskManager: virtual disks as a whole (a descriptor
 * and its extents), as opposed to FileManager's single files.  Renaming a
 * descriptor with FileManager would leave it pointing at its old extent
 * name; MoveVirtualDisk_Task rewrites it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vcd_int.h"

#define VCD_VDISK_TIMEOUT	7200.0	/* s: copies of big disks are slow */

/* A VirtualDiskSpec (or FileBackedVirtualDiskSpec with a capacity) in A. */
static struct vim_VirtualDiskSpec *
vcd_vdisk_vspec(struct vim_arena *a, const struct vcd_vdisk_spec *spec)
{
	struct vim_VirtualDiskSpec *v;

	if (spec == NULL)
		return NULL;
	if (spec->capacity_kb > 0) {
		struct vim_FileBackedVirtualDiskSpec *f =
		    vim_new(a, &vim_type_FileBackedVirtualDiskSpec);
		f->capacityKb = VIM_INT(spec->capacity_kb);
		v = &f->base;
	} else
		v = vim_new(a, &vim_type_VirtualDiskSpec);
	v->diskType = vim_strdup(a, spec->disk_type != NULL ? spec->disk_type : "thin");
	/* VirtualDiskAdapterType knows ide, busLogic and lsiLogic only */
	v->adapterType = vim_strdup(a, spec->adapter != NULL &&
	    (strcmp(spec->adapter, "ide") == 0 || strcmp(spec->adapter, "busLogic") == 0) ?
	    spec->adapter : "lsiLogic");
	return v;
}

int
vcd_vdisk_create(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, const struct vcd_vdisk_spec *spec, struct vcd_err *err)
{
	struct vim_req_CreateVirtualDisk_Task req;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret;

	vim_init(&req, &vim_type_req_CreateVirtualDisk_Task);
	req._this = &s->virtual_disk_manager;
	req.name = (char *)dspath;
	req.datacenter = (struct vcd_moref *)dc;
	req.spec = vcd_vdisk_vspec(&a, spec);
	ret = vcd_invoke_task(s, &vim_method_CreateVirtualDisk_Task, &req, NULL,
	    dspath, VCD_VDISK_TIMEOUT, NULL, err);
	vim_arena_free(&a);
	return ret;
}

int
vcd_vdisk_copy(struct vcd_session *s, const struct vcd_moref *dc,
    const char *src, const char *dst, const struct vcd_vdisk_spec *spec,
    struct vcd_err *err)
{
	struct vim_req_CopyVirtualDisk_Task req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_vdisk_spec nocap;
	int ret;

	vim_init(&req, &vim_type_req_CopyVirtualDisk_Task);
	req._this = &s->virtual_disk_manager;
	req.sourceName = (char *)src;
	req.sourceDatacenter = (struct vcd_moref *)dc;
	req.destName = (char *)dst;
	req.destDatacenter = (struct vcd_moref *)dc;
	if (spec != NULL) {
		nocap = *spec;
		nocap.capacity_kb = 0;	/* a copy has its source's size */
		req.destSpec = vcd_vdisk_vspec(&a, &nocap);
	}
	req.force = VIM_BOOL(false);
	ret = vcd_invoke_task(s, &vim_method_CopyVirtualDisk_Task, &req, NULL,
	    src, VCD_VDISK_TIMEOUT, NULL, err);
	vim_arena_free(&a);
	return ret;
}

int
vcd_vdisk_move(struct vcd_session *s, const struct vcd_moref *dc,
    const char *src, const char *dst, bool force, struct vcd_err *err)
{
	struct vim_req_MoveVirtualDisk_Task req;

	vim_init(&req, &vim_type_req_MoveVirtualDisk_Task);
	req._this = &s->virtual_disk_manager;
	req.sourceName = (char *)src;
	req.sourceDatacenter = (struct vcd_moref *)dc;
	req.destName = (char *)dst;
	req.destDatacenter = (struct vcd_moref *)dc;
	req.force = VIM_BOOL(force);
	return vcd_invoke_task(s, &vim_method_MoveVirtualDisk_Task, &req, NULL,
	    src, VCD_VDISK_TIMEOUT, NULL, err);
}

int
vcd_vdisk_delete(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, struct vcd_err *err)
{
	struct vim_req_DeleteVirtualDisk_Task req;

	vim_init(&req, &vim_type_req_DeleteVirtualDisk_Task);
	req._this = &s->virtual_disk_manager;
	req.name = (char *)dspath;
	req.datacenter = (struct vcd_moref *)dc;
	return vcd_invoke_task(s, &vim_method_DeleteVirtualDisk_Task, &req, NULL,
	    dspath, VCD_VDISK_TIMEOUT, NULL, err);
}

int
vcd_vdisk_extend(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, int64_t capacity_kb, struct vcd_err *err)
{
	struct vim_req_ExtendVirtualDisk_Task req;

	vim_init(&req, &vim_type_req_ExtendVirtualDisk_Task);
	req._this = &s->virtual_disk_manager;
	req.name = (char *)dspath;
	req.datacenter = (struct vcd_moref *)dc;
	req.newCapacityKb = VIM_INT(capacity_kb);
	req.eagerZero = VIM_BOOL(false);
	return vcd_invoke_task(s, &vim_method_ExtendVirtualDisk_Task, &req, NULL,
	    dspath, VCD_VDISK_TIMEOUT, NULL, err);
}
