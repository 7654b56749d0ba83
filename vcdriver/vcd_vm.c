/*
 * vcd_vm.c - virtual machine operations.
 *
 * Every operation on an existing VM first reads, in one call, whether a
 * question is pending on it or one of its tasks is still running (libvirt's
 * ESX driver does the same pre-flight): starting another task then would
 * queue behind it or fail with TaskInProgress, so we say so plainly instead.
 * Operations that return a task wait for it (vcd_task_wait).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "vcd_dspath.h"
#include "vcd_int.h"
#include "vcd_pc.h"
#include "xmalloc.h"

/* ---- listing and finding ---- */

struct vcd_vmlist_ctx {
	struct vcd_vm_info	*v;
	size_t			 n;
};

static void
vcd_vm_info_fill(struct vcd_vm_info *vi, const struct vim_ObjectContent *oc)
{
	const char *s;

	memset(vi, 0, sizeof(*vi));
	vi->ref = *oc->obj;
	if ((s = vcd_pc_str(oc, "name")) != NULL)
		snprintf(vi->name, sizeof(vi->name), "%s", s);
	if ((s = vcd_pc_str(oc, "config.instanceUuid")) != NULL)
		snprintf(vi->instance_uuid, sizeof(vi->instance_uuid), "%s", s);
	if ((s = vcd_pc_str(oc, "runtime.powerState")) != NULL)
		snprintf(vi->power_state, sizeof(vi->power_state), "%s", s);
	vi->has_question = vcd_pc_prop(oc, "runtime.question") != NULL;
	const struct vim_any *h = vcd_pc_prop(oc, "runtime.host");
	if (h != NULL && h->kind == VA_MOREF)
		vi->host = *h->moref;
}

static int
vcd_vmlist_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_vmlist_ctx *ctx = arg;

	ctx->v = xrealloc(ctx->v, (ctx->n + 1) * sizeof(*ctx->v));
	vcd_vm_info_fill(&ctx->v[ctx->n++], oc);
	return 0;
}

static char *vcd_vm_paths[] = { "name", "config.instanceUuid",
    "runtime.powerState", "runtime.question", "runtime.host" };

int
vcd_vm_list(struct vcd_session *s, struct vcd_vm_info **out, size_t *n,
    struct vcd_err *err)
{
	struct vcd_vmlist_ctx ctx = { NULL, 0 };

	*out = NULL;
	*n = 0;
	if (vcd_pc_retrieve_all(s, "VirtualMachine", vcd_vm_paths,
	    sizeof(vcd_vm_paths) / sizeof(vcd_vm_paths[0]), 0, vcd_vmlist_one,
	    &ctx, err) < 0) {
		free(ctx.v);
		return -1;
	}
	*out = ctx.v;
	*n = ctx.n;
	return 0;
}

int
vcd_vm_find(struct vcd_session *s, const char *instance_uuid,
    struct vcd_moref *vm, struct vcd_err *err)
{
	struct vim_req_FindByUuid req;
	struct vim_resp_FindByUuid *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	vim_init(&req, &vim_type_req_FindByUuid);
	req._this = &s->search_index;
	req.uuid = (char *)instance_uuid;
	req.vmSearch = VIM_BOOL(true);
	req.instanceUuid = VIM_BOOL(true);
	/* a read: a SystemError (vSphere's "internal error") is tried again */
	for (int attempt = 0;; attempt++) {
		const struct timespec pause = { 0, 100 * 1000 * 1000 };

		if (vcd_invoke(s, &vim_method_FindByUuid, &req, &a, (void **)&resp, err) == 0)
			break;
		if (attempt == 2 || strcmp(err->fault, "SystemError") != 0)
			goto out;
		nanosleep(&pause, NULL);
	}
	if (resp->returnval == NULL) {
		vcd_err_set(err, VCD_E_NOTFOUND, NULL, instance_uuid,
		    "no virtual machine has instance uuid %s", instance_uuid);
		goto out;
	}
	*vm = *resp->returnval;
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}

/* ---- the pre-flight check ---- */

struct vcd_pre_ctx {
	const struct vcd_moref	*vm;
	bool			 seen_vm, question, busy;
	char			 qtext[300];
	struct vcd_moref	 task;
	char			 power[16];	/* runtime.powerState, if asked */
	char			 vmx[512];	/* config.files.vmPathName, if asked */
	char			 uuid[64];	/* config.instanceUuid, if asked */
};

static int
vcd_pre_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_pre_ctx *ctx = arg;

	if (strcmp(oc->obj->type, "VirtualMachine") == 0) {
		const struct vim_any *q = vcd_pc_prop(oc, "runtime.question");
		const char *v;

		ctx->seen_vm = true;
		if ((v = vcd_pc_str(oc, "runtime.powerState")) != NULL)
			snprintf(ctx->power, sizeof(ctx->power), "%s", v);
		if ((v = vcd_pc_str(oc, "config.files.vmPathName")) != NULL)
			snprintf(ctx->vmx, sizeof(ctx->vmx), "%s", v);
		if ((v = vcd_pc_str(oc, "config.instanceUuid")) != NULL)
			snprintf(ctx->uuid, sizeof(ctx->uuid), "%s", v);
		if (q != NULL && q->kind == VA_OBJ) {
			const struct vim_VirtualMachineQuestionInfo *qi =
			    vim_cast(q->obj, &vim_type_VirtualMachineQuestionInfo);
			ctx->question = true;
			snprintf(ctx->qtext, sizeof(ctx->qtext), "%s",
			    qi != NULL && qi->text != NULL ? qi->text : "");
		}
	} else if (strcmp(oc->obj->type, "Task") == 0) {
		const char *st = vcd_pc_str(oc, "info.state");
		if (st != NULL && (strcmp(st, "running") == 0 || strcmp(st, "queued") == 0)) {
			ctx->busy = true;
			ctx->task = *oc->obj;
		}
	}
	return 0;
}

int
vcd_vm_uuid_check(const struct vcd_moref *vm, const char *have, const char *want,
    struct vcd_err *err)
{
	if (want == NULL || strcasecmp(have, want) == 0)
		return 0;
	if (have[0] == '\0')	/* cannot tell whose it is: not ours to touch */
		vcd_err_set(err, VCD_E_FAULT, "InstanceUuidMismatch", NULL,
		    "virtual machine %s carries no instance uuid, %s expected: "
		    "left alone", vm->value, want);
	else
		vcd_err_set(err, VCD_E_NOTFOUND, "InstanceUuidMismatch", NULL,
		    "virtual machine %s carries instance uuid %s, %s expected: "
		    "the MoRef names another VM", vm->value, have, want);
	vcd_moref_str(err->object, sizeof(err->object), vm);
	return -1;
}

/*
 * One call: the VM's runtime.question and the state of its recent tasks
 * (a traversal from the VM through recentTask), with UUID (not NULL) its
 * config.instanceUuid, which must be UUID, and with FULL its instance
 * uuid, power state and .vmx path too.  0 if the VM is the one expected
 * and free.
 */
static int
vcd_vm_precheck_ctx(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *op, bool full, struct vcd_pre_ctx *ctx,
    struct vcd_err *err)
{
	struct vim_PropertySpec pv, pt, *psv[2] = { &pv, &pt };
	struct vim_TraversalSpec tr;
	struct vim_SelectionSpec *sel[1] = { &tr.base };
	char *vpaths[] = { "runtime.question", "config.instanceUuid",
	    "runtime.powerState", "config.files.vmPathName" },
	    *tpaths[] = { "info.state" };

	*ctx = (struct vcd_pre_ctx){ vm, false, false, false, "", { "", "" }, "", "",
	    "" };
	vcd_pc_propspec(&pv, "VirtualMachine", vpaths, full ? 4 : uuid != NULL ? 2 : 1);
	vcd_pc_propspec(&pt, "Task", tpaths, 1);
	vcd_pc_traversal(&tr, "vmTasks", "VirtualMachine", "recentTask");
	if (vcd_pc_retrieve_from(s, vm, psv, 2, sel, 1, vcd_pre_one, ctx, err) < 0)
		return -1;
	if (!ctx->seen_vm) {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
		    "virtual machine %s does not exist", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	if (vcd_vm_uuid_check(vm, ctx->uuid, uuid, err) < 0)
		return -1;
	if (ctx->question) {
		vcd_err_set(err, VCD_E_QUESTION, "VmQuestion", NULL, "cannot %s: "
		    "a question is pending on %s: \"%s\"", op, vm->value, ctx->qtext);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	if (ctx->busy) {
		vcd_err_set(err, VCD_E_FAULT, "TaskInProgress", NULL, "cannot %s: "
		    "task %s is still running on %s", op, ctx->task.value, vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	return 0;
}

int
vcd_vm_precheck(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *op, struct vcd_err *err)
{
	struct vcd_pre_ctx ctx;

	return vcd_vm_precheck_ctx(s, vm, uuid, op, false, &ctx, err);
}

/* Name the VM in a fault that does not name an object. */
static void
vcd_vm_err_object(struct vcd_err *err, const struct vcd_moref *vm)
{
	if (err->object[0] == '\0')
		vcd_moref_str(err->object, sizeof(err->object), vm);
}

/* Run a method on VM that returns a task; faults name the VM. */
int
vcd_vm_task(struct vcd_session *s, const struct vim_method *m, const void *req,
    const struct vcd_moref *vm, struct vcd_moref *result, struct vcd_err *err)
{
	char label[300] = "";

	if (vm != NULL)
		vcd_moref_str(label, sizeof(label), vm);
	return vcd_invoke_task(s, m, req, vm, vm != NULL ? label : NULL,
	    s->task_timeout, result, err);
}

#define VCD_VM_SIMPLE(fn, method, what)						\
int										\
fn(struct vcd_session *s, const struct vcd_moref *vm, const char *uuid,	\
    struct vcd_err *err)							\
{										\
	struct vim_req_##method req;						\
										\
	vcd_err_clear(err);							\
	if (vcd_vm_precheck(s, vm, uuid, what, err) < 0)			\
		return -1;							\
	vim_init(&req, &vim_type_req_##method);					\
	req._this = (struct vcd_moref *)vm;					\
	return vcd_vm_task(s, &vim_method_##method, &req, vm, NULL, err);	\
}

/* PowerOffVM_Task without the pre-check: the caller has just made it. */
static int
vcd_vm_power_off_now(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err)
{
	struct vim_req_PowerOffVM_Task req;

	vim_init(&req, &vim_type_req_PowerOffVM_Task);
	req._this = (struct vcd_moref *)vm;
	return vcd_vm_task(s, &vim_method_PowerOffVM_Task, &req, vm, NULL, err);
}

int
vcd_vm_power_on_created(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err)
{
	struct vim_req_PowerOnVM_Task req;

	vcd_err_clear(err);
	vim_init(&req, &vim_type_req_PowerOnVM_Task);
	req._this = (struct vcd_moref *)vm;
	return vcd_vm_task(s, &vim_method_PowerOnVM_Task, &req, vm, NULL, err);
}

VCD_VM_SIMPLE(vcd_vm_power_on, PowerOnVM_Task, "power on")
VCD_VM_SIMPLE(vcd_vm_power_off, PowerOffVM_Task, "power off")
VCD_VM_SIMPLE(vcd_vm_reset, ResetVM_Task, "reset")
VCD_VM_SIMPLE(vcd_vm_suspend, SuspendVM_Task, "suspend")

/* ---- guest operations: no task; wait for the power state ---- */

int
vcd_vm_power_state(struct vcd_session *s, const struct vcd_moref *vm,
    char *state, size_t len, struct vcd_err *err)
{
	struct vcd_vmlist_ctx ctx = { NULL, 0 };
	int ret = -1;

	if (vcd_pc_retrieve_one(s, vm, "VirtualMachine", vcd_vm_paths,
	    sizeof(vcd_vm_paths) / sizeof(vcd_vm_paths[0]), vcd_vmlist_one, &ctx,
	    err) < 0)
		goto out;
	if (ctx.n == 0) {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
		    "virtual machine %s does not exist", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		goto out;
	}
	snprintf(state, len, "%s", ctx.v[0].power_state);
	ret = 0;
out:
	free(ctx.v);
	return ret;
}

int
vcd_vm_shutdown(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, double timeout, bool hard_after, struct vcd_err *err)
{
	struct vim_req_ShutdownGuest req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct timespec tick = { 0, 250 * 1000 * 1000 };
	time_t until = time(NULL) + (time_t)timeout;
	char state[32];
	void *resp;
	int ret = -1;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "shut down", err) < 0)
		return -1;
	vim_init(&req, &vim_type_req_ShutdownGuest);
	req._this = (struct vcd_moref *)vm;
	if (vcd_invoke(s, &vim_method_ShutdownGuest, &req, &a, &resp, err) < 0) {
		/* no tools in the guest: fall back to a hard power off */
		if (hard_after && err->code == VCD_E_FAULT) {
			log_info("vcdriver: soft shutdown of %s failed (%s), powering "
			    "off", vm->value, err->fault);
			ret = vcd_vm_power_off(s, vm, uuid, err);
		} else {
			vcd_vm_err_object(err, vm);
		}
		goto out;
	}
	for (;;) {
		if (vcd_vm_power_state(s, vm, state, sizeof(state), err) < 0)
			goto out;
		if (strcmp(state, "poweredOff") == 0) {
			ret = 0;
			goto out;
		}
		if (time(NULL) >= until)
			break;
		nanosleep(&tick, NULL);
	}
	if (hard_after) {
		log_info("vcdriver: %s did not shut down within %.0f s, powering off",
		    vm->value, timeout);
		ret = vcd_vm_power_off(s, vm, uuid, err);
	} else {
		vcd_err_set(err, VCD_E_TIMEOUT, NULL, NULL, "the guest of %s did "
		    "not shut down within %.0f s", vm->value, timeout);
		vcd_moref_str(err->object, sizeof(err->object), vm);
	}
out:
	vim_arena_free(&a);
	return ret;
}

#define VCD_TOOLS_LEN	32

static int
vcd_tools_one(void *arg, const struct vim_ObjectContent *oc)
{
	const char *v = vcd_pc_str(oc, "guest.toolsRunningStatus");

	snprintf(arg, VCD_TOOLS_LEN, "%s", v != NULL ? v : "");
	return 0;
}

/* The guest's guest.toolsRunningStatus into TOOLS ("" when vCenter has
 * none). */
static int
vcd_vm_tools(struct vcd_session *s, const struct vcd_moref *vm,
    char tools[VCD_TOOLS_LEN], struct vcd_err *err)
{
	char *paths[] = { "guest.toolsRunningStatus" };

	tools[0] = '\0';
	return vcd_pc_retrieve_one(s, vm, "VirtualMachine", paths, 1, vcd_tools_one,
	    tools, err);
}

/*
 * Soft: through VMware Tools (RebootGuest), as nova's driver does when the
 * guest's tools run, else at once a reset.  The reboot is under way when
 * the tools stop within TIMEOUT s; when they do not (a guest that ignores
 * the request), a reset follows, as libvirt's soft reboot falls back.
 */
int
vcd_vm_reboot(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, bool hard, double timeout, struct vcd_err *err)
{
	struct vim_req_RebootGuest req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct timespec tick = { 0, 250 * 1000 * 1000 };
	double until = vcd_mono() + timeout;
	char tools[VCD_TOOLS_LEN];
	void *resp;
	int ret = -1;

	if (hard)
		return vcd_vm_reset(s, vm, uuid, err);
	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "reboot", err) < 0 ||
	    vcd_vm_tools(s, vm, tools, err) < 0)
		goto out;
	if (strcmp(tools, "guestToolsRunning") != 0) {
		log_info("vcdriver: no VMware Tools run in the guest of %s (%s): "
		    "hard reboot (reset)", vm->value, tools[0] ? tools : "unknown");
		ret = vcd_vm_reset(s, vm, uuid, err);
		goto out;
	}
	vim_init(&req, &vim_type_req_RebootGuest);
	req._this = (struct vcd_moref *)vm;
	if (vcd_invoke(s, &vim_method_RebootGuest, &req, &a, &resp, err) < 0) {
		if (strcmp(err->fault, "ToolsUnavailable") == 0) {
			log_info("vcdriver: RebootGuest of %s: ToolsUnavailable: hard "
			    "reboot (reset)", vm->value);
			ret = vcd_vm_reset(s, vm, uuid, err);
		} else
			vcd_vm_err_object(err, vm);
		goto out;
	}
	for (;;) {
		if (vcd_vm_tools(s, vm, tools, err) < 0)
			goto out;
		if (strcmp(tools, "guestToolsRunning") != 0) {
			ret = 0;	/* the guest is going down: rebooting */
			goto out;
		}
		if (vcd_mono() >= until)
			break;
		nanosleep(&tick, NULL);
	}
	log_info("vcdriver: the guest of %s did not begin to reboot within %.0f s: "
	    "hard reboot (reset)", vm->value, timeout);
	ret = vcd_vm_reset(s, vm, uuid, err);
out:
	vim_arena_free(&a);
	return ret;
}

/* ---- reconfigure, destroy, relocate, create ---- */

int
vcd_vm_reconfigure(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vim_VirtualMachineConfigSpec *spec,
    struct vcd_err *err)
{
	struct vim_req_ReconfigVM_Task req;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "reconfigure", err) < 0)
		return -1;
	vim_init(&req, &vim_type_req_ReconfigVM_Task);
	req._this = (struct vcd_moref *)vm;
	req.spec = spec;
	return vcd_vm_task(s, &vim_method_ReconfigVM_Task, &req, vm, NULL, err);
}

int
vcd_vm_destroy(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err)
{
	struct vim_req_Destroy_Task req;
	struct vcd_pre_ctx ctx;

	vcd_err_clear(err);
	if (vcd_vm_precheck_ctx(s, vm, NULL, "destroy", true, &ctx, err) < 0)
		return -1;
	if (strcmp(ctx.power, "poweredOff") != 0 && vcd_vm_power_off_now(s, vm, err) < 0)
		return -1;
	/* Destroy_Task removes the VM and the files in its folder. */
	vim_init(&req, &vim_type_req_Destroy_Task);
	req._this = (struct vcd_moref *)vm;
	return vcd_vm_task(s, &vim_method_Destroy_Task, &req, NULL, NULL, err);
}

/*
 * Delete VM as nova's driver does: power off, UnregisterVM, then remove the
 * VM's folder with DeleteDatastoreFile_Task.  The folder holds what the VM
 * owns (its .vmx, logs, and a linked clone's delta or a full copy); the
 * cached parent disk lives outside it, so it is never touched, whatever
 * the VM's disk chain says.  Calls: 1 read (with UUID, the instance uuid
 * checked in it), 2 for a power off if on, 1 unregister, 2 for the folder.
 * A VM whose .vmx is at the datastore's root has no folder of its own: it
 * is destroyed instead.
 */
int
vcd_vm_delete(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_moref *dc, char *folder, size_t flen,
    struct vcd_err *err)
{
	struct vim_req_Destroy_Task req;
	struct vcd_pre_ctx ctx;
	struct vcd_dspath p = { NULL, NULL };
	const char *why, *slash;
	int ret = -1;

	vcd_err_clear(err);
	if (flen > 0)
		folder[0] = '\0';
	if (vcd_vm_precheck_ctx(s, vm, uuid, "delete", true, &ctx, err) < 0)
		goto out;
	if (vcd_dspath_parse(ctx.vmx, &p, &why) < 0) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, NULL, "%s has an unusable "
		    "vmPathName \"%s\": %s", vm->value, ctx.vmx, why);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		goto out;
	}
	/* a VM that powered itself off meanwhile is what we want */
	if (strcmp(ctx.power, "poweredOff") != 0 && vcd_vm_power_off_now(s, vm, err) < 0) {
		if (strcmp(err->fault, "InvalidPowerState") != 0)
			goto out;
		vcd_err_clear(err);
	}
	if ((slash = strrchr(p.path, '/')) == NULL) {
		log_warn("vcdriver: %s has no folder of its own (%s): destroying it",
		    vm->value, ctx.vmx);
		vim_init(&req, &vim_type_req_Destroy_Task);
		req._this = (struct vcd_moref *)vm;
		ret = vcd_vm_task(s, &vim_method_Destroy_Task, &req, NULL, NULL, err);
		goto out;
	}
	if (vcd_vm_unregister(s, vm, err) < 0)
		goto out;
	snprintf(folder, flen, "[%s] %.*s", p.datastore, (int)(slash - p.path), p.path);
	if (vcd_ds_delete(s, dc, folder, err) < 0) {
		if (strcmp(err->fault, "FileNotFound") != 0)
			goto out;
		vcd_err_clear(err);
	}
	ret = 0;
out:
	vcd_dspath_free(&p);
	return ret;
}

int
vcd_vm_relocate(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_relocate *to, struct vcd_err *err)
{
	struct vim_req_RelocateVM_Task req;
	struct vim_VirtualMachineRelocateSpec spec;
	struct vcd_moref host, pool, ds;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret;

	vcd_err_clear(err);
	if (vcd_vm_precheck(s, vm, uuid, "migrate", err) < 0)
		return -1;
	vim_init(&spec, &vim_type_VirtualMachineRelocateSpec);
	if (to->host.value[0] != '\0') {
		host = to->host;
		spec.host = &host;
	}
	if (to->pool.value[0] != '\0') {
		pool = to->pool;
		spec.pool = &pool;
	}
	if (to->datastore.value[0] != '\0') {
		ds = to->datastore;
		spec.datastore = &ds;
	}
	if (spec.host == NULL && spec.pool == NULL && spec.datastore == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, vm->value, "a migration needs "
		    "a destination host, resource pool or datastore");
		return -1;
	}
	for (size_t i = 0; i < to->ndisks; i++) {
		const struct vcd_disk_locator *d = &to->disks[i];
		struct vim_VirtualMachineRelocateSpecDiskLocator *l =
		    vim_new(&a, &vim_type_VirtualMachineRelocateSpecDiskLocator);

		l->diskId = VIM_INT(d->key);
		l->datastore = (struct vcd_moref *)&d->datastore;
		if (d->profile_id[0] != '\0') {
			struct vim_VirtualMachineDefinedProfileSpec *p =
			    vim_new(&a, &vim_type_VirtualMachineDefinedProfileSpec);

			p->profileId = (char *)d->profile_id;
			vim_push(&a, (void ***)&l->profile.v, &l->profile.len, &p->base);
		}
		vim_push(&a, (void ***)&spec.disk.v, &spec.disk.len, l);
	}
	vim_init(&req, &vim_type_req_RelocateVM_Task);
	req._this = (struct vcd_moref *)vm;
	req.spec = &spec;
	req.priority = "defaultPriority";
	ret = vcd_vm_task(s, &vim_method_RelocateVM_Task, &req, vm, NULL, err);
	vim_arena_free(&a);
	return ret;
}

/* A's ResourceAllocationInfo in RI and SH, *OUT pointing at it; *OUT
 * NULL when A is NULL. */
void
vcd_alloc_info(struct vim_ResourceAllocationInfo *ri, struct vim_SharesInfo *sh,
    const struct vcd_alloc *a, struct vim_ResourceAllocationInfo **out)
{
	*out = NULL;
	if (a == NULL)
		return;
	vim_init(ri, &vim_type_ResourceAllocationInfo);
	vim_init(sh, &vim_type_SharesInfo);
	ri->limit = VIM_INT(a->limit);
	ri->reservation = VIM_INT(a->reservation);
	sh->level = (char *)(a->level != NULL ? a->level : "normal");
	sh->shares = VIM_INT(a->shares);
	ri->shares = sh;
	*out = ri;
}

int
vcd_vm_create(struct vcd_session *s, const struct vcd_vm_spec *vs,
    struct vcd_moref *vm, struct vcd_err *err)
{
	struct vim_req_CreateVM_Task req;
	struct vim_VirtualMachineConfigSpec cs;
	struct vim_VirtualMachineFileInfo files;
	struct vim_ResourceAllocationInfo cpu, mem;
	struct vim_SharesInfo cpu_sh, mem_sh;
	struct vim_VirtualMachineBootOptions boot;
	struct vim_OptionValue ov0, **ovv = NULL;
	struct vim_VirtualMachineDefinedProfileSpec prof;
	struct vim_VirtualMachineProfileSpec *profv[1] = { &prof.base };
	struct vim_any v0;
	size_t nextra = vs->extra != NULL ? vs->extra->len : 0;
	char *vmx = NULL;
	int ret = -1;

	vcd_err_clear(err);
	if (vs->name == NULL || vs->instance_uuid == NULL || vs->datastore == NULL ||
	    vs->folder.value[0] == '\0' || vs->pool.value[0] == '\0' ||
	    vs->vcpus < 1 || vs->memory_mb < 4) {
		vcd_err_set(err, VCD_E_INVALID, NULL, vs->name ? vs->name : "",
		    "a VM needs a name, an instance uuid, a datastore, a folder, a "
		    "resource pool, at least 1 vCPU and 4 MB of memory");
		return -1;
	}
	vim_init(&files, &vim_type_VirtualMachineFileInfo);
	vmx = xasprintf("[%s]", vs->datastore);
	files.vmPathName = vmx;
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	cs.name = (char *)vs->name;
	cs.instanceUuid = (char *)vs->instance_uuid;
	cs.guestId = (char *)(vs->guest_id != NULL ? vs->guest_id : "otherGuest64");
	cs.files = &files;
	cs.numCPUs = VIM_INT(vs->vcpus);
	cs.memoryMB = VIM_INT(vs->memory_mb);
	if (vs->firmware != NULL)
		cs.firmware = (char *)vs->firmware;
	if (vs->boot_delay_ms > 0 || vs->secure_boot != 0) {
		vim_init(&boot, &vim_type_VirtualMachineBootOptions);
		if (vs->boot_delay_ms > 0)
			boot.bootDelay = VIM_INT(vs->boot_delay_ms);
		if (vs->secure_boot != 0)
			boot.efiSecureBootEnabled = VIM_BOOL(vs->secure_boot == 1);
		cs.bootOptions = &boot;
	}
	if (vs->cores_per_socket > 0)
		cs.numCoresPerSocket = VIM_INT(vs->cores_per_socket);
	cs.version = (char *)vs->hw_version;
	vcd_alloc_info(&cpu, &cpu_sh, vs->cpu_alloc, &cs.cpuAllocation);
	vcd_alloc_info(&mem, &mem_sh, vs->mem_alloc, &cs.memoryAllocation);
	if (vs->devices != NULL)
		cs.deviceChange = *vs->devices;
	if (vs->profile_id != NULL) {
		/* the VM's home and each new disk carry the policy */
		vim_init(&prof, &vim_type_VirtualMachineDefinedProfileSpec);
		prof.profileId = (char *)vs->profile_id;
		cs.vmProfile.v = profv;
		cs.vmProfile.len = 1;
		for (size_t i = 0; i < cs.deviceChange.len; i++)
			if (vim_cast(cs.deviceChange.v[i]->device, &vim_type_VirtualDisk)) {
				cs.deviceChange.v[i]->profile.v = profv;
				cs.deviceChange.v[i]->profile.len = 1;
			}
	}
	/* the instance uuid also goes into extraConfig, as nova does; then
	 * the caller's (netplug's nvp.iface-id.N, ...) */
	v0 = (struct vim_any){ VA_SCALAR, "xsd:string", (char *)vs->instance_uuid,
	    NULL, NULL, NULL, 0 };
	vim_init(&ov0, &vim_type_OptionValue);
	ov0.key = "nvp.vm-uuid";
	ov0.value = &v0;
	ovv = xcalloc(1 + nextra, sizeof(*ovv));
	ovv[0] = &ov0;
	for (size_t i = 0; i < nextra; i++)
		ovv[1 + i] = vs->extra->v[i];
	cs.extraConfig.v = ovv;
	cs.extraConfig.len = 1 + nextra;
	vim_init(&req, &vim_type_req_CreateVM_Task);
	req._this = (struct vcd_moref *)&vs->folder;
	req.config = &cs;
	req.pool = (struct vcd_moref *)&vs->pool;
	if (vs->host.value[0] != '\0')
		req.host = (struct vcd_moref *)&vs->host;
	if (vcd_vm_task(s, &vim_method_CreateVM_Task, &req, NULL, vm, err) < 0) {
		/* the answer was lost: the VM, if there, is known by its uuid */
		if (strcmp(err->fault, "OutcomeUnknown") == 0) {
			struct vcd_err ferr;
			size_t len = strlen(err->msg);

			if (vcd_vm_find(s, vs->instance_uuid, vm, &ferr) == 0) {
				log_warnx("vcdriver: the answer to CreateVM_Task for %s "
				    "was lost, but it ran: VM %s has instance uuid %s",
				    vs->name, vm->value, vs->instance_uuid);
				vcd_err_clear(err);
				ret = 0;
				goto out;
			}
			snprintf(err->msg + len, sizeof(err->msg) - len, " (no VM has "
			    "instance uuid %s yet)", vs->instance_uuid);
		}
		if (err->object[0] == '\0')
			snprintf(err->object, sizeof(err->object), "%s", vs->name);
		goto out;
	}
	ret = 0;
out:
	/* the caller's device changes point at nothing of ours afterwards */
	for (size_t i = 0; vs->profile_id != NULL && i < cs.deviceChange.len; i++)
		cs.deviceChange.v[i]->profile = (struct vim_list_VirtualMachineProfileSpec){
		    NULL, 0 };
	free(ovv);
	free(vmx);
	return ret;
}

void
vcd_vm_list_free(struct vcd_vm_info *v)
{
	free(v);
}

int
vcd_vm_clone_linked(struct vcd_session *s, const struct vcd_moref *vm,
    const struct vcd_moref *snapshot, const struct vcd_moref *folder,
    const struct vcd_moref *pool, const char *name, struct vcd_moref *clone,
    struct vcd_err *err)
{
	struct vim_req_CloneVM_Task req;
	struct vim_VirtualMachineCloneSpec spec;
	struct vim_VirtualMachineRelocateSpec loc;

	vcd_err_clear(err);
	vim_init(&loc, &vim_type_VirtualMachineRelocateSpec);
	loc.pool = (struct vcd_moref *)pool;
	loc.diskMoveType = "createNewChildDiskBacking";
	vim_init(&spec, &vim_type_VirtualMachineCloneSpec);
	spec.location = &loc;
	spec.template = VIM_BOOL(false);
	spec.powerOn = VIM_BOOL(false);
	spec.snapshot = (struct vcd_moref *)snapshot;
	vim_init(&req, &vim_type_req_CloneVM_Task);
	req._this = (struct vcd_moref *)vm;
	req.folder = (struct vcd_moref *)folder;
	req.name = (char *)name;
	req.spec = &spec;
	return vcd_vm_task(s, &vim_method_CloneVM_Task, &req, vm, clone, err);
}
