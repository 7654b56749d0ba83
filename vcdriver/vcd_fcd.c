/*
 * vcd_fcd.c - First Class Disks (vSphere 6.5's VStorageObjectManager): the
 * volumes of cinder's FCD driver, made, found, deleted, and attached to a
 * VM (AttachDisk_Task) and detached from it (DetachDisk_Task) by their id.
 *
 * A disk is made with keepAfterDeleteVm, so that deleting a VM it is
 * attached to never deletes it, and named by the caller (a volume id), so
 * that a caller that lost CreateDisk_Task's answer can find it by name.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vcd_int.h"
#include "vcd_pc.h"
#include "vim_gen.h"

#define VCD_FCD_TIMEOUT	3600.0

static void
vcd_fcd_fill(const struct vim_VStorageObject *o, const struct vcd_moref *ds,
    struct vcd_fcd *out)
{
	const struct vim_VStorageObjectConfigInfo *c = o->config;
	const struct vim_BaseConfigInfoFileBackingInfo *fb;

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	if (c->base.id != NULL && c->base.id->id != NULL)
		snprintf(out->id, sizeof(out->id), "%s", c->base.id->id);
	if (c->base.name != NULL)
		snprintf(out->name, sizeof(out->name), "%s", c->base.name);
	out->capacity_mb = c->capacityInMB.v;
	out->datastore = *ds;
	out->consumers = c->consumerId.len;
	if (c->base.backing != NULL && (fb = vim_cast(c->base.backing,
	    &vim_type_BaseConfigInfoFileBackingInfo)) != NULL && fb->filePath != NULL)
		snprintf(out->path, sizeof(out->path), "%s", fb->filePath);
}

int
vcd_fcd_get(struct vcd_session *s, const char *id, const struct vcd_moref *ds,
    struct vcd_fcd *out, struct vcd_err *err)
{
	struct vim_req_RetrieveVStorageObject req;
	struct vim_resp_RetrieveVStorageObject *resp;
	struct vim_ID vid;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	vcd_err_clear(err);
	vim_init(&vid, &vim_type_ID);
	vid.id = (char *)id;
	vim_init(&req, &vim_type_req_RetrieveVStorageObject);
	req._this = &s->vstorage_manager;
	req.id = &vid;
	req.datastore = (struct vcd_moref *)ds;
	if (vcd_invoke(s, &vim_method_RetrieveVStorageObject, &req, &a, (void **)&resp,
	    err) < 0) {
		snprintf(err->object, sizeof(err->object), "%s", id);
		goto out;
	}
	vcd_fcd_fill(resp->returnval, ds, out);
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}

int
vcd_fcd_find(struct vcd_session *s, const struct vcd_moref *ds, const char *name,
    struct vcd_fcd *out, struct vcd_err *err)
{
	struct vim_req_ListVStorageObject req;
	struct vim_resp_ListVStorageObject *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	vcd_err_clear(err);
	vim_init(&req, &vim_type_req_ListVStorageObject);
	req._this = &s->vstorage_manager;
	req.datastore = (struct vcd_moref *)ds;
	if (vcd_invoke(s, &vim_method_ListVStorageObject, &req, &a, (void **)&resp,
	    err) < 0)
		goto out;
	for (size_t i = 0; i < resp->returnval.len; i++) {
		if (resp->returnval.v[i] == NULL || resp->returnval.v[i]->id == NULL)
			continue;
		if (vcd_fcd_get(s, resp->returnval.v[i]->id, ds, out, err) < 0) {
			if (err->code == VCD_E_FAULT)
				continue;	/* deleted meanwhile */
			goto out;
		}
		if (strcmp(out->name, name) == 0) {
			ret = 0;
			goto out;
		}
	}
	vcd_err_set(err, VCD_E_NOTFOUND, "NotFound", name, "datastore %s has no "
	    "First Class Disk named \"%s\"", ds->value, name);
out:
	vim_arena_free(&a);
	return ret;
}

/* The VStorageObject a finished CreateDisk_Task made: its info.result,
 * copied out while the answer lives. */
struct vcd_fcd_res {
	const struct vcd_moref	*ds;
	struct vcd_fcd		*out;
	bool			 found;
};

static int
vcd_fcd_result_one(void *arg, const struct vim_ObjectContent *oc)
{
	const struct vim_any *v = vcd_pc_prop(oc, "info.result");
	const struct vim_VStorageObject *o;
	struct vcd_fcd_res *r = arg;

	if (v != NULL && v->kind == VA_OBJ && v->obj != NULL &&
	    (o = vim_cast(v->obj, &vim_type_VStorageObject)) != NULL) {
		vcd_fcd_fill(o, r->ds, r->out);
		r->found = r->out->id[0] != '\0';
	}
	return 0;
}

int
vcd_fcd_create(struct vcd_session *s, const struct vcd_fcd_spec *spec,
    struct vcd_fcd *out, struct vcd_err *err)
{
	struct vim_req_CreateDisk_Task req;
	struct vim_resp_CreateDisk_Task *resp;
	struct vim_VslmCreateSpec cs;
	struct vim_VslmCreateSpecDiskFileBackingSpec bs;
	struct vim_VirtualMachineDefinedProfileSpec prof;
	struct vim_VirtualMachineProfileSpec *profv[1] = { &prof.base };
	struct vcd_fcd_res res = { &spec->datastore, out, false };
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_moref task;
	char *paths[] = { "info.result" };
	double t0 = vcd_mono();
	int ret = -1;

	vcd_err_clear(err);
	vim_init(&bs, &vim_type_VslmCreateSpecDiskFileBackingSpec);
	bs.base.datastore = (struct vcd_moref *)&spec->datastore;
	bs.provisioningType = "thin";
	vim_init(&cs, &vim_type_VslmCreateSpec);
	cs.name = (char *)spec->name;
	cs.keepAfterDeleteVm = VIM_BOOL(true);
	cs.backingSpec = &bs.base;
	cs.capacityInMB = VIM_INT(spec->capacity_mb);
	if (spec->profile_id != NULL) {
		vim_init(&prof, &vim_type_VirtualMachineDefinedProfileSpec);
		prof.profileId = (char *)spec->profile_id;
		cs.profile.v = profv;
		cs.profile.len = 1;
	}
	vim_init(&req, &vim_type_req_CreateDisk_Task);
	req._this = &s->vstorage_manager;
	req.spec = &cs;
	if (vcd_invoke(s, &vim_method_CreateDisk_Task, &req, &a, (void **)&resp,
	    err) < 0)
		goto out;
	task = *resp->returnval;
	if (vcd_task_wait(s, &task, NULL, VCD_FCD_TIMEOUT, NULL, err) < 0) {
		vcd_stat_record(s, &vim_method_CreateDisk_Task, true, vcd_mono() - t0, true);
		goto out;
	}
	vcd_stat_record(s, &vim_method_CreateDisk_Task, true, vcd_mono() - t0, false);
	if (vcd_pc_retrieve_one(s, &task, "Task", paths, 1, vcd_fcd_result_one, &res,
	    err) < 0)
		goto out;
	if (!res.found) {
		/* the task is gone from vCenter's list: look it up by name */
		ret = vcd_fcd_find(s, &spec->datastore, spec->name, out, err);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0 && err->object[0] == '\0')
		snprintf(err->object, sizeof(err->object), "%s", spec->name);
	vim_arena_free(&a);
	return ret;
}

int
vcd_fcd_delete(struct vcd_session *s, const char *id, const struct vcd_moref *ds,
    struct vcd_err *err)
{
	struct vim_req_DeleteVStorageObject_Task req;
	struct vim_ID vid;

	vcd_err_clear(err);
	vim_init(&vid, &vim_type_ID);
	vid.id = (char *)id;
	vim_init(&req, &vim_type_req_DeleteVStorageObject_Task);
	req._this = &s->vstorage_manager;
	req.id = &vid;
	req.datastore = (struct vcd_moref *)ds;
	return vcd_invoke_task(s, &vim_method_DeleteVStorageObject_Task, &req, NULL, id,
	    VCD_FCD_TIMEOUT, NULL, err);
}

int
vcd_fcd_attach(struct vcd_session *s, const struct vcd_moref *vm, const char *uuid,
    const char *id, const struct vcd_moref *ds, int ctl, int unit,
    struct vcd_err *err)
{
	struct vim_req_AttachDisk_Task req;
	struct vim_ID vid;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "attach a disk to", err) < 0)
		return -1;
	vim_init(&vid, &vim_type_ID);
	vid.id = (char *)id;
	vim_init(&req, &vim_type_req_AttachDisk_Task);
	req._this = (struct vcd_moref *)vm;
	req.diskId = &vid;
	req.datastore = (struct vcd_moref *)ds;
	if (ctl != 0)
		req.controllerKey = VIM_INT(ctl);
	if (unit >= 0)
		req.unitNumber = VIM_INT(unit);
	return vcd_vm_task(s, &vim_method_AttachDisk_Task, &req, vm, NULL, err);
}

int
vcd_fcd_detach(struct vcd_session *s, const struct vcd_moref *vm, const char *uuid,
    const char *id, struct vcd_err *err)
{
	struct vim_req_DetachDisk_Task req;
	struct vim_ID vid;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "detach a disk from", err) < 0)
		return -1;
	vim_init(&vid, &vim_type_ID);
	vid.id = (char *)id;
	vim_init(&req, &vim_type_req_DetachDisk_Task);
	req._this = (struct vcd_moref *)vm;
	req.diskId = &vid;
	return vcd_vm_task(s, &vim_method_DetachDisk_Task, &req, vm, NULL, err);
}
