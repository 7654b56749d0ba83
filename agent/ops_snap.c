/*
 * ops_snap.c - an instance's VM snapshots: snapshot_create,
 * snapshot_revert, snapshot_delete (doc/requests.md).
 *
 * vCenter holds the tree; the snapshots table holds what the last request
 * read of it, with what vCenter does not keep (whether the guest's memory
 * was asked for, the request that made each).  Every operation reads the
 * tree first (one call), acts, and records the tree it leaves.  Each can
 * run again after a crash: a create finds a snapshot of its name that no
 * row knows and takes it as its own; a delete of a snapshot that is gone
 * from vCenter but recorded succeeds.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "log.h"
#include "pgc.h"
#include "xmalloc.h"

static json_t *
ops_snap_json(const struct vcd_snap *sn, int memory)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", sn->ref.value,
	    "name", sn->name, "description", sn->description, "power_state",
	    sn->state, "quiesced", sn->quiesced);

	if (sn->create_time[0] != '\0')
		json_object_set_new(j, "create_time", json_string(sn->create_time));
	if (memory >= 0)
		json_object_set_new(j, "memory", json_boolean(memory));
	return j;
}

/*
 * Replace the instance's rows with the tree V (N): one statement.  MADE
 * (may be NULL) is the snapshot this request made, with MEMORY and the
 * request's id; the other rows keep what they had.
 */
static int
ops_snap_record(PGconn *pg, const struct req *r, const struct vcd_snap *v,
    size_t n, const char *made, bool memory, struct vcd_err *err)
{
	json_t *arr = json_array();
	const char *params[5];
	char *text;
	char why[512];
	PGresult *res;
	int ret = -1;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s?, "
		    "s:s?, s:b}", "snapshot", v[i].ref.value, "name", v[i].name,
		    "description", v[i].description, "power_state", v[i].state,
		    "parent", v[i].parent >= 0 ?
		    v[v[i].parent].ref.value : NULL, "create_time",
		    v[i].create_time[0] ? v[i].create_time : NULL, "quiesced",
		    v[i].quiesced));
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	params[0] = r->instance_uuid;
	params[1] = text;
	params[2] = made;
	params[3] = r->request_id;
	params[4] = memory ? "true" : "false";
	res = pgc_exec(pg, "WITH x AS (SELECT * FROM jsonb_to_recordset($2::jsonb) "
	    "AS x(snapshot text, name text, description text, power_state text, "
	    "parent text, create_time timestamptz, quiesced boolean)), old AS "
	    "(DELETE FROM snapshots WHERE instance_uuid = $1 RETURNING *) INSERT "
	    "INTO snapshots (instance_uuid, snapshot, name, description, memory, "
	    "quiesced, power_state, parent, create_time, request_id, created_at) "
	    "SELECT $1, x.snapshot, x.name, x.description, CASE WHEN x.snapshot = "
	    "$3 THEN $5::boolean ELSE coalesce(old.memory, x.power_state <> "
	    "'poweredOff') END, x.quiesced, x.power_state, x.parent, x.create_time, "
	    "CASE WHEN x.snapshot = $3 THEN $4 ELSE old.request_id END, "
	    "coalesce(old.created_at, now()) FROM x LEFT JOIN old ON old.snapshot = "
	    "x.snapshot", 5, params, why, sizeof(why), NULL);
	if (res == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", r->instance_uuid,
		    "instance %s: cannot record its snapshots: %s", r->instance_uuid, why);
		goto out;
	}
	PQclear(res);
	ret = 0;
out:
	free(text);
	return ret;
}

/* Is a snapshot of the instance named so (NAME, or ID) in its rows? */
static int
ops_snap_known(PGconn *pg, const struct req *r, const char *id, bool *known,
    bool *memory, struct vcd_err *err)
{
	const char *params[3] = { r->instance_uuid, id, id == NULL ? r->snap.name : NULL };
	char why[512];
	PGresult *res = pgc_exec(pg, "SELECT memory FROM snapshots WHERE "
	    "instance_uuid = $1 AND (snapshot = $2 OR name = $3) LIMIT 1", 3, params,
	    why, sizeof(why), NULL);

	if (res == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", r->instance_uuid,
		    "instance %s: cannot read its snapshots: %s", r->instance_uuid, why);
		return -1;
	}
	*known = PQntuples(res) > 0;
	if (memory != NULL)
		*memory = *known && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

/*
 * The snapshot R names in V: its index, or -1 with ERR (fault NotFound,
 * or AmbiguousSnapshotName when the name is on more than one: the id
 * must say which).
 */
static int
ops_snap_find(const struct req *r, const struct vcd_moref *vm,
    const struct vcd_snap *v, size_t n, struct vcd_err *err)
{
	int found = -1, count = 0;
	char ids[256] = "";

	for (size_t i = 0; i < n; i++) {
		bool hit = r->snap.id[0] ? strcmp(v[i].ref.value, r->snap.id) == 0 :
		    strcmp(v[i].name, r->snap.name) == 0;

		if (!hit)
			continue;
		if (count++ < 4) {
			size_t l = strlen(ids);
			snprintf(ids + l, sizeof(ids) - l, "%s%s", l ? ", " : "",
			    v[i].ref.value);
		}
		found = (int)i;
	}
	if (count == 1)
		return found;
	if (count == 0)
		vcd_err_set(err, VCD_E_NOTFOUND, "NotFound", NULL, "virtual machine %s "
		    "has no snapshot %s \"%s\"", vm->value, r->snap.id[0] ? "with id" :
		    "named", r->snap.id[0] ? r->snap.id : r->snap.name);
	else
		vcd_err_set(err, VCD_E_INVALID, "AmbiguousSnapshotName", NULL,
		    "virtual machine %s has %d snapshots named \"%s\" (%s): name "
		    "one by its id", vm->value, count, r->snap.name, ids);
	vcd_moref_str(err->object, sizeof(err->object), vm);
	return -1;
}

/* The instance's VM and its tree, looked up again by uuid once when the
 * recorded MoRef is stale. */
static int
ops_snap_vm(struct agent *a, PGconn *pg, const struct req *r, struct vcd_moref *vm,
    struct vcd_snap **v, size_t *n, bool *tools, struct vcd_err *err)
{
	bool looked_up = false;

	if (ops_vm(a, pg, r->instance_uuid, vm, err) < 0)
		return -1;
	while (vcd_snap_list(a->vc, vm, r->instance_uuid, v, n, tools, err) < 0)
		if (!ops_vm_again(a, pg, r->instance_uuid, vm, &looked_up, err))
			return -1;
	return 0;
}

static int
ops_snap_create(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct vcd_moref *vm, struct vcd_snap **v, size_t *n, bool tools,
    struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vcd_moref snap = { "", "" };
	int i;

	/* a run again: a snapshot of this name no row knows is this
	 * request's own, made before the crash */
	if (attempt > 1) {
		for (size_t k = 0; k < *n && snap.value[0] == '\0'; k++) {
			bool known;
			if (strcmp((*v)[k].name, r->snap.name) != 0)
				continue;
			if (ops_snap_known(pg, r, (*v)[k].ref.value, &known, NULL, err) < 0)
				return -1;
			if (!known)
				snap = (*v)[k].ref;
		}
	}
	if (snap.value[0] == '\0') {
		if (vcd_snap_create(a->vc, vm, r->instance_uuid, r->snap.name,
		    r->snap.description[0] ? r->snap.description : NULL, r->snap.memory,
		    r->snap.quiesce && tools, &snap, err) < 0)
			return -1;
		free(*v);
		*v = NULL;
		if (vcd_snap_list(a->vc, vm, r->instance_uuid, v, n, NULL, err) < 0)
			return -1;
	}
	for (i = 0; i < (int)*n && strcmp((*v)[i].ref.value, snap.value) != 0; i++)
		;
	if (i == (int)*n) {
		vcd_err_set(err, VCD_E_FAULT, "NotFound", NULL, "snapshot %s of virtual "
		    "machine %s is not in its snapshot tree", snap.value, vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	if (ops_snap_record(pg, r, *v, *n, snap.value, r->snap.memory, err) < 0)
		return -1;
	op->detail_key = "snapshot", op->detail = ops_snap_json(&(*v)[i], r->snap.memory);
	log_info("instance %s: snapshot %s \"%s\" of VM %s made (memory %s, "
	    "quiesced %s)", r->instance_uuid, snap.value, r->snap.name, vm->value,
	    r->snap.memory ? "yes" : "no", (*v)[i].quiesced ? "yes" : "no");
	return 0;
}

static int
ops_snap_revert(struct agent *a, PGconn *pg, const struct req *r,
    struct vcd_moref *vm, struct vcd_snap *v, size_t n, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	char power[16];
	bool known, memory;
	int i;

	if ((i = ops_snap_find(r, vm, v, n, err)) < 0)
		return -1;
	if (vcd_snap_revert(a->vc, vm, r->instance_uuid, &v[i].ref, err) < 0 ||
	    vcd_vm_power_state(a->vc, vm, power, sizeof(power), err) < 0)
		return -1;
	op->power_state = agent_power_name(power);
	op->vm_state = strcmp(op->power_state, "running") == 0 ? "active" :
	    strcmp(op->power_state, "suspended") == 0 ? "suspended" : "stopped";
	op->inst = (struct ledger_inst){ r->instance_uuid, op->vm, op->vm_state,
	    op->power_state, false };
	if (ops_snap_known(pg, r, v[i].ref.value, &known, &memory, err) < 0 ||
	    ops_snap_record(pg, r, v, n, NULL, false, err) < 0)
		return -1;
	op->detail_key = "snapshot", op->detail = ops_snap_json(&v[i], known ? memory : -1);
	log_info("instance %s: VM %s reverted to snapshot %s \"%s\": %s",
	    r->instance_uuid, vm->value, v[i].ref.value, v[i].name, power);
	return 0;
}

static int
ops_snap_delete(struct agent *a, PGconn *pg, const struct req *r,
    struct vcd_moref *vm, struct vcd_snap **v, size_t *n, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vcd_snap gone;
	bool known;
	int i;

	if (r->snap.all) {
		if (*n > 0 && vcd_snap_remove_all(a->vc, vm, r->instance_uuid, err) < 0)
			return -1;
		log_info("instance %s: all %zu snapshot(s) of VM %s removed",
		    r->instance_uuid, *n, vm->value);
		op->detail_key = "snapshot", op->detail = json_pack("{s:b, s:i}", "all", 1, "removed", (int)*n);
		free(*v);
		*v = NULL;
		*n = 0;
		return ops_snap_record(pg, r, NULL, 0, NULL, false, err);
	}
	if ((i = ops_snap_find(r, vm, *v, *n, err)) < 0) {
		/* gone from vCenter, still in a row: removed before (a run
		 * again), or outside; either way what was asked holds */
		if (err->code != VCD_E_NOTFOUND || ops_snap_known(pg, r,
		    r->snap.id[0] ? r->snap.id : NULL, &known, NULL, err) < 0 || !known)
			return -1;
		vcd_err_clear(err);
		op->detail_key = "snapshot", op->detail = json_pack("{s:s?, s:s?, s:b}", "id", r->snap.id[0] ?
		    r->snap.id : NULL, "name", r->snap.name[0] ? r->snap.name : NULL,
		    "removed_before", 1);
		return ops_snap_record(pg, r, *v, *n, NULL, false, err);
	}
	gone = (*v)[i];
	if (vcd_snap_remove(a->vc, vm, r->instance_uuid, &gone.ref, r->snap.children,
	    err) < 0)
		return -1;
	free(*v);
	*v = NULL;
	if (vcd_snap_list(a->vc, vm, r->instance_uuid, v, n, NULL, err) < 0 ||
	    ops_snap_record(pg, r, *v, *n, NULL, false, err) < 0)
		return -1;
	op->detail_key = "snapshot", op->detail = ops_snap_json(&gone, -1);
	log_info("instance %s: snapshot %s \"%s\" of VM %s removed%s", r->instance_uuid,
	    gone.ref.value, gone.name, vm->value, r->snap.children ?
	    " with its children" : "");
	return 0;
}

int
ops_snapshot(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vcd_moref vm;
	struct vcd_snap *v = NULL;
	size_t n = 0;
	bool tools = false;
	int ret = -1;

	/* a snapshot of a resized VM would hold the disk a revert deletes */
	if (r->type == REQ_SNAPSHOT_CREATE && ops_resize_pending(pg, r, &op->err) < 0)
		return -1;
	if (ops_snap_vm(a, pg, r, &vm, &v, &n, &tools, &op->err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	switch (r->type) {
	case REQ_SNAPSHOT_CREATE:
		ret = ops_snap_create(a, pg, r, attempt, &vm, &v, &n, tools, op);
		break;
	case REQ_SNAPSHOT_REVERT:
		ret = ops_snap_revert(a, pg, r, &vm, v, n, op);
		break;
	default:
		ret = ops_snap_delete(a, pg, r, &vm, &v, &n, op);
		break;
	}
out:
	free(v);
	return ret;
}
