/*
 * vcd_snap.c - a VM's snapshots: its tree read in one call, and the four
 * tasks that make, revert to and remove them.  Every operation pre-checks
 * the VM as the other VM operations do (its instance uuid, no pending
 * question, no running task); faults name the VM or the snapshot.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcd_int.h"
#include "vcd_pc.h"
#include "vim_gen.h"
#include "xmalloc.h"

struct vcd_snap_ctx {
	bool			 seen;
	char			 uuid[64];
	bool			 tools;
	struct vcd_snap		*v;
	size_t			 n;
	struct vcd_moref	 current;
};

static void
vcd_snap_walk(struct vcd_snap_ctx *ctx, const struct vim_list_VirtualMachineSnapshotTree *l,
    int parent)
{
	for (size_t i = 0; i < l->len; i++) {
		const struct vim_VirtualMachineSnapshotTree *t = l->v[i];
		struct vcd_snap *sn;
		int me;

		if (t == NULL || t->snapshot == NULL)
			continue;
		ctx->v = xrealloc(ctx->v, (ctx->n + 1) * sizeof(*ctx->v));
		me = (int)ctx->n++;
		sn = &ctx->v[me];
		memset(sn, 0, sizeof(*sn));
		sn->ref = *t->snapshot;
		snprintf(sn->name, sizeof(sn->name), "%s", t->name ? t->name : "");
		snprintf(sn->description, sizeof(sn->description), "%s",
		    t->description ? t->description : "");
		sn->id = t->id.set ? t->id.v : 0;
		snprintf(sn->create_time, sizeof(sn->create_time), "%s",
		    t->createTime ? t->createTime : "");
		snprintf(sn->state, sizeof(sn->state), "%s", t->state ? t->state : "");
		sn->quiesced = t->quiesced.v;
		sn->parent = parent;
		vcd_snap_walk(ctx, &t->childSnapshotList, me);
	}
}

static int
vcd_snap_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_snap_ctx *ctx = arg;
	const struct vim_any *v = vcd_pc_prop(oc, "snapshot");
	const char *s;

	ctx->seen = true;
	if ((s = vcd_pc_str(oc, "config.instanceUuid")) != NULL)
		snprintf(ctx->uuid, sizeof(ctx->uuid), "%s", s);
	s = vcd_pc_str(oc, "guest.toolsRunningStatus");
	ctx->tools = s != NULL && strcmp(s, "guestToolsRunning") == 0;
	if (v != NULL && v->kind == VA_OBJ) {
		const struct vim_VirtualMachineSnapshotInfo *si =
		    vim_cast(v->obj, &vim_type_VirtualMachineSnapshotInfo);

		if (si != NULL) {
			if (si->currentSnapshot != NULL)
				ctx->current = *si->currentSnapshot;
			vcd_snap_walk(ctx, &si->rootSnapshotList, -1);
		}
	}
	return 0;
}

int
vcd_snap_list(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_snap **out, size_t *n, bool *tools,
    struct vcd_err *err)
{
	char *paths[] = { "snapshot", "config.instanceUuid", "guest.toolsRunningStatus" };
	struct vcd_snap_ctx ctx;
	int ret = -1;

	memset(&ctx, 0, sizeof(ctx));
	*out = NULL;
	*n = 0;
	vcd_err_clear(err);
	if (vcd_pc_retrieve_one(s, vm, "VirtualMachine", paths, 3, vcd_snap_one,
	    &ctx, err) < 0)
		goto out;
	if (!ctx.seen) {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
		    "virtual machine %s does not exist", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		goto out;
	}
	if (vcd_vm_uuid_check(vm, ctx.uuid, uuid, err) < 0)
		goto out;
	for (size_t i = 0; i < ctx.n; i++)
		ctx.v[i].current = strcmp(ctx.v[i].ref.value, ctx.current.value) == 0;
	if (tools != NULL)
		*tools = ctx.tools;
	*out = ctx.v;
	*n = ctx.n;
	ctx.v = NULL;
	ret = 0;
out:
	free(ctx.v);
	return ret;
}

int
vcd_snap_create(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *name, const char *description, bool memory,
    bool quiesce, struct vcd_moref *snap, struct vcd_err *err)
{
	struct vim_req_CreateSnapshot_Task req;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "snapshot", err) < 0)
		return -1;
	vim_init(&req, &vim_type_req_CreateSnapshot_Task);
	req._this = (struct vcd_moref *)vm;
	req.name = (char *)name;
	req.description = (char *)description;
	req.memory = (struct vim_bool){ memory, true };
	req.quiesce = (struct vim_bool){ quiesce, true };
	return vcd_vm_task(s, &vim_method_CreateSnapshot_Task, &req, vm, snap, err);
}

/* A task on VM's snapshot SNAP (a question VM asks meanwhile is VM's):
 * faults that name no object name the snapshot. */
static int
vcd_snap_task(struct vcd_session *s, const struct vim_method *m, const void *req,
    const struct vcd_moref *vm, const struct vcd_moref *snap, struct vcd_err *err)
{
	char label[300];

	vcd_moref_str(label, sizeof(label), snap);
	return vcd_invoke_task(s, m, req, vm, label, s->task_timeout, NULL, err);
}

int
vcd_snap_revert(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_moref *snap, struct vcd_err *err)
{
	struct vim_req_RevertToSnapshot_Task req;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "revert to a snapshot", err) < 0)
		return -1;
	vim_init(&req, &vim_type_req_RevertToSnapshot_Task);
	req._this = (struct vcd_moref *)snap;
	return vcd_snap_task(s, &vim_method_RevertToSnapshot_Task, &req, vm, snap, err);
}

int
vcd_snap_remove(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_moref *snap, bool children,
    struct vcd_err *err)
{
	struct vim_req_RemoveSnapshot_Task req;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "remove a snapshot", err) < 0)
		return -1;
	vim_init(&req, &vim_type_req_RemoveSnapshot_Task);
	req._this = (struct vcd_moref *)snap;
	req.removeChildren = (struct vim_bool){ children, true };
	req.consolidate = (struct vim_bool){ true, true };
	return vcd_snap_task(s, &vim_method_RemoveSnapshot_Task, &req, vm, snap, err);
}

int
vcd_snap_remove_all(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_err *err)
{
	struct vim_req_RemoveAllSnapshots_Task req;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "remove all snapshots", err) < 0)
		return -1;
	vim_init(&req, &vim_type_req_RemoveAllSnapshots_Task);
	req._this = (struct vcd_moref *)vm;
	req.consolidate = (struct vim_bool){ true, true };
	return vcd_vm_task(s, &vim_method_RemoveAllSnapshots_Task, &req, vm, NULL, err);
}
