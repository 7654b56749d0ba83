/*
 * ops_resize.c - resize, resize_confirm and resize_revert, as nova's driver
 * does them.
 *
 * A resize keeps what a revert needs until it is confirmed: the old flavor
 * and power state, and, when the root disk grows, the old disk itself.  A
 * growing disk is copied whole (CopyVirtualDisk consolidates a linked
 * clone's chain) into the VM's folder as root-<GB>g.vmdk, extended, and
 * swapped in for the old one, which is detached but not deleted.  All of
 * that is written to the instance row's resize_revert before vCenter is
 * touched, naming the request, so that the request run again after a crash
 * finds it and goes on, and any other resize, a migrate or a snapshot is
 * refused until the resize is confirmed (the old disk deleted) or reverted
 * (the old flavor, disk and power state back; the new disk deleted).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "ledger.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vcd_dspath.h"
#include "vcdriver/vcd_pc.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

/* The instance row's part in a resize. */
struct ops_rz_row {
	char	 power[16];		/* power_state */
	json_t	*flavor;		/* the row's flavor (owned; may be NULL) */
	json_t	*rv;			/* resize_revert (owned); NULL: none */
};

static void
ops_rz_row_free(struct ops_rz_row *row)
{
	json_decref(row->flavor);
	json_decref(row->rv);
	row->flavor = row->rv = NULL;
}

static int
ops_rz_row_read(PGconn *pg, const char *u, struct ops_rz_row *row, struct vcd_err *err)
{
	const char *params[1] = { u };
	char why[512];
	PGresult *res;

	memset(row, 0, sizeof(*row));
	if ((res = pgc_exec(pg, "SELECT power_state, flavor::text, resize_revert::text "
	    "FROM instances WHERE uuid = $1 AND deleted_at IS NULL", 1, params, why,
	    sizeof(why), NULL)) == NULL)
		return ops_db_err(err, u, why);
	if (PQntuples(res) == 1) {
		snprintf(row->power, sizeof(row->power), "%s", PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 1))
			row->flavor = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		if (!PQgetisnull(res, 0, 2))
			row->rv = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
	}
	PQclear(res);
	return 0;
}

/* The resize RV (a resize_revert) is of request RID. */
static bool
ops_rz_mine(const json_t *rv, const char *rid)
{
	const char *s = json_string_value(json_object_get(rv, "request_id"));

	return s != NULL && strcmp(s, rid) == 0;
}

static const char *
ops_rz_str(const json_t *rv, const char *key)
{
	return json_string_value(json_object_get(rv, key));
}

int
ops_resize_pending(PGconn *pg, const struct req *r, struct vcd_err *err)
{
	struct ops_rz_row row;
	int ret = 0;

	if (ops_rz_row_read(pg, r->instance_uuid, &row, err) < 0)
		return -1;
	if (row.rv != NULL && !ops_rz_mine(row.rv, r->request_id)) {
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", r->instance_uuid,
		    "instance %s has a resize (request %s) that is neither confirmed "
		    "nor reverted: %s cannot run until it is (resize_confirm, "
		    "resize_revert)", r->instance_uuid,
		    ops_rz_str(row.rv, "request_id") ? ops_rz_str(row.rv, "request_id") :
		    "?", req_type_name(r->type));
		ret = -1;
	}
	ops_rz_row_free(&row);
	return ret;
}

/* Write RV as the row's resize_revert (NULL: clear it). */
static int
ops_rz_store(PGconn *pg, const char *u, const json_t *rv, struct vcd_err *err)
{
	char *text = rv != NULL ? json_dumps(rv, JSON_COMPACT) : NULL;
	const char *params[2] = { u, text };
	char why[512];
	PGresult *res;
	int ret = 0;

	if ((res = pgc_exec(pg, "UPDATE instances SET resize_revert = $2::jsonb, "
	    "updated_at = now() WHERE uuid = $1", 2, params, why, sizeof(why),
	    NULL)) == NULL)
		ret = ops_db_err(err, u, why);
	PQclear(res);
	free(text);
	return ret;
}

/* The CPUs, memory and allocation of a flavor: into CS, in arena AR. */
static void
ops_rz_flavor(struct vim_arena *ar, struct vim_VirtualMachineConfigSpec *cs,
    int vcpus, int64_t memory_mb, const struct fl_specs *specs)
{
	struct vcd_alloc ca, ma;
	struct vim_ResourceAllocationInfo *ri;

	cs->numCPUs = VIM_INT(vcpus);
	cs->memoryMB = VIM_INT(memory_mb);
	if (specs->cores_per_socket > 0)
		cs->numCoresPerSocket = VIM_INT(specs->cores_per_socket);
	ri = vim_alloc(ar, 2 * sizeof(*ri));
	vcd_alloc_info(&ri[0], vim_alloc(ar, sizeof(struct vim_SharesInfo)),
	    fl_alloc(&specs->cpu, &ca), &cs->cpuAllocation);
	vcd_alloc_info(&ri[1], vim_alloc(ar, sizeof(struct vim_SharesInfo)),
	    fl_alloc(&specs->mem, &ma), &cs->memoryAllocation);
}

/* Into CS (arena AR): DISK removed (its files too with FILEOP "destroy"),
 * and the existing disk FILE of KB added in its place. */
static void
ops_rz_swap(struct vim_arena *ar, struct vim_VirtualMachineConfigSpec *cs,
    struct vim_VirtualDisk *disk, const char *fileop, const char *file, int64_t kb)
{
	vim_device_change(ar, &cs->deviceChange, "remove", fileop, &disk->base, false);
	vim_device_change(ar, &cs->deviceChange, "add", NULL,
	    &ops_disk_at(ar, disk, -1, file, kb)->base, false);
}

/*
 * resize: a VM that is on is powered off; the CPUs, memory and the new
 * flavor's specs change; a larger root disk is copied, grown and swapped
 * in, and a smaller one refused (CannotResizeDisk); then the VM is powered
 * on again if it was on.  The instance is left "resized" until a
 * resize_confirm or resize_revert.
 */
int
ops_resize(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_VirtualMachineConfigSpec *cs;
	struct ops_root rt = { .a = &ar };
	struct ops_rz_row row = { "", NULL, NULL };
	struct agent_cluster *c;
	struct vcd_moref vm;
	const char *u = r->instance_uuid;
	char why[512], *flavor = NULL, *resized = NULL;
	int64_t want_kb = (int64_t)r->root_gb << 20;
	bool was_on, vm_on, grow, off = false, mine = false, done = false;
	const char *params[3];
	PGresult *res;
	int ret = -1;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	if (ops_vm(a, pg, u, &vm, err) < 0)
		return -1;
	if (ops_root_read(a, pg, u, &vm, &rt, err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if (ops_rz_row_read(pg, u, &row, err) < 0)
		goto out;
	if (row.rv != NULL && !ops_rz_mine(row.rv, r->request_id)) {
		ops_rz_row_free(&row);
		(void)ops_resize_pending(pg, r, err);
		goto out;
	}
	if (rt.rescue != NULL) {	/* as nova: a rescued instance is unrescued first */
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", u, "instance %s "
		    "is rescued (%s attached): unrescue it before a resize", u,
		    rt.rescue_file);
		goto out;
	}
	if (rt.disk != NULL && r->root_gb > 0 && want_kb < rt.disk->capacityInKB.v) {
		vcd_err_set(err, VCD_E_INVALID, "CannotResizeDisk", rt.file, "the root "
		    "disk is %lld KB; a flavor's root_gb of %u would shrink it",
		    (long long)rt.disk->capacityInKB.v, r->root_gb);
		goto out;
	}
	vm_on = strcmp(rt.power, "poweredOn") == 0;
	if (row.rv == NULL) {
		/*
		 * On again at the end if the instance was running before this
		 * request, as nova's finish_migration powers on what was
		 * running.  What a revert needs is written first.
		 */
		was_on = vm_on || strcmp(row.power, "running") == 0;
		grow = rt.disk != NULL && r->root_gb > 0 && want_kb > rt.disk->capacityInKB.v;
		if (grow) {
			struct vcd_dspath dp = { NULL, NULL };
			const char *pwhy, *slash;

			if (vcd_dspath_parse(rt.file, &dp, &pwhy) < 0 ||
			    (slash = strrchr(dp.path, '/')) == NULL) {
				vcd_err_set(err, VCD_E_INVALID, "CannotResizeDisk", rt.file,
				    "the root disk %s is not in a folder of the VM's: %s",
				    rt.file, pwhy != NULL ? pwhy : "no folder");
				vcd_dspath_free(&dp);
				goto out;
			}
			resized = xasprintf("[%s] %.*s/root-%ug.vmdk", dp.datastore,
			    (int)(slash - dp.path), dp.path, r->root_gb);
			vcd_dspath_free(&dp);
		}
		row.rv = json_pack("{s:s, s:O?, s:s, s:s?, s:I, s:s?}", "request_id",
		    r->request_id, "flavor", row.flavor, "power_state", was_on ?
		    "running" : row.power[0] ? row.power : "shutdown", "disk", rt.file,
		    "disk_kb", (json_int_t)(rt.disk != NULL ? rt.disk->capacityInKB.v : 0),
		    "new_disk", resized);
		if (row.rv == NULL) {
			vcd_err_set(err, VCD_E_INVALID, NULL, u, "cannot record the resize");
			goto out;
		}
		if (ops_rz_store(pg, u, row.rv, err) < 0)
			goto out;
	} else {
		/* this request, run again: what it recorded stands */
		was_on = strcmp(ops_rz_str(row.rv, "power_state") ?
		    ops_rz_str(row.rv, "power_state") : "", "running") == 0;
		if (ops_rz_str(row.rv, "new_disk") != NULL)
			resized = xstrdup(ops_rz_str(row.rv, "new_disk"));
		grow = resized != NULL && rt.disk != NULL && strcmp(rt.file, resized) != 0;
	}
	mine = true;
	(void)ledger_instance_state(pg, u, NULL, NULL, NULL, "resizing", why, sizeof(why));
	if (vm_on && vcd_vm_power_off(a->vc, &vm, u, err) < 0)
		goto fail;
	off = was_on;
	cs = vim_new(&ar, &vim_type_VirtualMachineConfigSpec);
	/* the new flavor's extra specs, as nova's resize applies them; a
	 * version upgrade is not a resize's to make */
	ops_rz_flavor(&ar, cs, r->vcpus, r->memory_mb, &r->specs);
	if (grow) {
		/* what a crashed attempt left, then a whole copy, grown */
		if (vcd_vdisk_delete(a->vc, &c->pl.datacenter, resized, err) < 0 &&
		    strcmp(err->fault, "FileNotFound") != 0)
			goto fail;
		if (ic_full_copy(a->vc, &c->pl.datacenter, rt.file,
		    rt.disk->capacityInKB.v, resized, r->root_gb, err) < 0)
			goto fail;
		/* the old disk is detached, its files kept for a revert */
		ops_rz_swap(&ar, cs, rt.disk, NULL, resized, want_kb);
	}
	if (vcd_vm_reconfigure(a->vc, &vm, u, cs, err) < 0)
		goto fail;
	if (grow)
		log_info("resize %s: root disk %s replaced by %s, %u GB (the old one "
		    "kept until the resize is confirmed)", u, rt.file, resized, r->root_gb);
	/* done: the resize stands whatever the power-on says */
	done = true;
	flavor = json_dumps(json_object_get(r->raw, "flavor"), JSON_COMPACT);
	params[0] = u;
	params[1] = flavor;
	params[2] = was_on ? "running" : NULL;	/* else as it was */
	if ((res = pgc_exec(pg, "UPDATE instances SET flavor = $2::jsonb, power_state = "
	    "coalesce($3, power_state), vm_state = 'resized', task_state = NULL, "
	    "resize_revert = resize_revert || jsonb_build_object('done_at', "
	    "extract(epoch FROM now())::bigint), updated_at = now() WHERE uuid = $1",
	    3, params, why, sizeof(why), NULL)) == NULL) {
		ops_db_err(err, u, why);
		goto out;
	}
	PQclear(res);
	if (was_on && vcd_vm_power_on(a->vc, &vm, u, err) < 0)
		goto fail;
	off = false;
	op->power_state = was_on ? "running" : "shutdown";
	op->vm_state = "resized";
	ret = 0;
	goto out;
fail:
	if (off) {	/* as it was, if it can be */
		struct vcd_err e2;
		if (vcd_vm_power_on(a->vc, &vm, u, &e2) < 0)
			log_warnx("resize %s: %s stays off: %s", u, vm.value,
			    vcd_strerror(&e2, why, sizeof(why)));
	}
	/* nothing changed in vCenter: nothing to confirm or revert */
	if (mine && !done) {
		struct vcd_err e3;

		if (ops_rz_store(pg, u, NULL, &e3) < 0)
			log_warnx("resize %s: %s", u, e3.msg);
	}
	(void)ledger_instance_state(pg, u, NULL, NULL, NULL, NULL, why, sizeof(why));
out:
	ops_rz_row_free(&row);
	free(flavor);
	free(resized);
	vim_arena_free(&ar);
	return ret;
}

/*
 * resize_confirm: the old disk goes (when the resize replaced it) and the
 * instance is no longer "resized".  resize_revert: the old flavor's CPUs,
 * memory and specs, the old disk in place of the new (whose files go) in
 * one ReconfigVM_Task, and the power state from before the resize.  Either,
 * run again after a crash that came after its row was cleared, finds no
 * resize and succeeds.
 */
int
ops_resize_end(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	struct ops_rz_row row = { "", NULL, NULL };
	struct agent_cluster *c;
	struct vcd_moref vm;
	const char *u = r->instance_uuid, *old_disk, *new_disk, *power;
	bool revert = r->type == REQ_RESIZE_REVERT, swapped, was_on;
	char why[512], *flavor = NULL;
	const char *params[3];
	PGresult *res;
	int ret = -1;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	if (ops_rz_row_read(pg, u, &row, err) < 0)
		goto out;
	if (row.rv == NULL) {
		if (attempt > 1) {	/* this request's crashed run finished it */
			log_info("%s %s: no resize left (done by an earlier run)",
			    req_type_name(r->type), u);
			op->power_state = ops_state_name(row.power);
			ret = 0;
			goto out;
		}
		vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", u, "instance %s "
		    "has no resize to %s", u, revert ? "revert" : "confirm");
		goto out;
	}
	old_disk = ops_rz_str(row.rv, "disk");
	new_disk = ops_rz_str(row.rv, "new_disk");
	power = ops_rz_str(row.rv, "power_state");
	was_on = power != NULL && strcmp(power, "running") == 0;
	if (ops_vm(a, pg, u, &vm, err) < 0 || ops_root_read(a, pg, u, &vm, &rt, err) < 0)
		goto out;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	swapped = new_disk != NULL && old_disk != NULL && rt.file != NULL &&
	    strcmp(rt.file, new_disk) == 0;
	if (!revert) {
		if (swapped && vcd_vdisk_delete(a->vc, &c->pl.datacenter, old_disk, err) < 0 &&
		    strcmp(err->fault, "FileNotFound") != 0)
			goto out;
		vcd_err_clear(err);
		if (swapped)
			log_info("resize_confirm %s: old root disk %s deleted", u, old_disk);
		params[0] = u;
		if ((res = pgc_exec(pg, "UPDATE instances SET resize_revert = NULL, "
		    "vm_state = CASE power_state WHEN 'shutdown' THEN 'stopped' WHEN "
		    "'suspended' THEN 'suspended' ELSE 'active' END, updated_at = now() "
		    "WHERE uuid = $1 RETURNING power_state, vm_state", 1, params, why,
		    sizeof(why), NULL)) == NULL) {
			ops_db_err(err, u, why);
			goto out;
		}
		if (PQntuples(res) == 1) {
			op->power_state = ops_state_name(PQgetvalue(res, 0, 0));
			op->vm_state = ops_state_name(PQgetvalue(res, 0, 1));
		}
		PQclear(res);
		ret = 0;
		goto out;
	}
	{
		json_t *fl = json_object_get(row.rv, "flavor");
		struct vim_VirtualMachineConfigSpec *cs;
			struct fl_specs specs;
		json_int_t vcpus = json_integer_value(json_object_get(fl, "vcpus"));
		json_int_t mem = json_integer_value(json_object_get(fl, "memory_mb"));

		if (vcpus < 1 || mem < 4 || fl_parse(json_object_get(fl, "extra_specs"),
		    (int)vcpus, &specs, why, sizeof(why), "") < 0) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidInstanceState", u, "instance "
			    "%s: the flavor recorded before its resize cannot be used", u);
			goto out;
		}
		if (strcmp(rt.power, "poweredOn") == 0 &&
		    vcd_vm_power_off(a->vc, &vm, u, err) < 0)
			goto out;
		cs = vim_new(&ar, &vim_type_VirtualMachineConfigSpec);
		ops_rz_flavor(&ar, cs, (int)vcpus, mem, &specs);
		if (swapped) {
			json_int_t kb = json_integer_value(json_object_get(row.rv, "disk_kb"));

			ops_rz_swap(&ar, cs, rt.disk, "destroy", old_disk, kb);
		}
		if (vcd_vm_reconfigure(a->vc, &vm, u, cs, err) < 0)
			goto out;
		if (swapped)
			log_info("resize_revert %s: root disk %s back in place of %s (deleted)",
			    u, old_disk, new_disk);
		flavor = json_dumps(fl, JSON_COMPACT);
	}
	params[0] = u;
	params[1] = flavor;
	params[2] = was_on ? "running" : "shutdown";
	if ((res = pgc_exec(pg, "UPDATE instances SET flavor = $2::jsonb, "
	    "resize_revert = NULL, power_state = $3, vm_state = CASE $3 WHEN 'running' "
	    "THEN 'active' ELSE 'stopped' END, updated_at = now() WHERE uuid = $1", 3,
	    params, why, sizeof(why), NULL)) == NULL) {
		ops_db_err(err, u, why);
		goto out;
	}
	PQclear(res);
	if (was_on && vcd_vm_power_on(a->vc, &vm, u, err) < 0 &&
	    strcmp(err->fault, "InvalidPowerState") != 0)
		goto out;
	vcd_err_clear(err);
	op->power_state = was_on ? "running" : "shutdown";
	op->vm_state = was_on ? "active" : "stopped";
	ret = 0;
out:
	ops_rz_row_free(&row);
	free(flavor);
	vim_arena_free(&ar);
	return ret;
}

/*
 * nova's resize_confirm_window: a resize done more than that many seconds
 * ago and neither confirmed nor reverted is confirmed.  The confirm is a
 * request like any other, put on the requests topic under the instance's
 * key: it is ordered with the instance's other requests, carried out by
 * whichever agent of the group holds the partition, and done once (its id,
 * "auto-confirm-<uuid>-<when the resize was done>", and its payload are the
 * same each time it is sent, and the ledger takes a request once).  It is
 * sent by the agent that leases the instance's cluster, and again after 5
 * minutes if the resize is still there.
 */
void
agent_resize_autoconfirm(struct agent *a, const struct cfg *cfg)
{
	char why[512], window[24], *nodes = agent_lease_held_json(a);
	const char *params[2] = { window, nodes };
	PGconn *pg = NULL;
	PGresult *res;

	if (strcmp(nodes, "[]") == 0 || (pg = pgc_get(a->db, why, sizeof(why))) == NULL)
		goto out;
	snprintf(window, sizeof(window), "%d", cfg->def.resize_confirm_window);
	/* marked as sent (confirm_sent_at) in the statement that finds them */
	res = pgc_exec(pg, "UPDATE instances SET resize_revert = resize_revert || "
	    "jsonb_build_object('confirm_sent_at', extract(epoch FROM now())::bigint) "
	    "WHERE deleted_at IS NULL AND resize_revert ? 'done_at' AND "
	    "(resize_revert->>'done_at')::bigint < extract(epoch FROM now()) - $1::int "
	    "AND coalesce((resize_revert->>'confirm_sent_at')::bigint, 0) < "
	    "extract(epoch FROM now()) - 300 AND node IN (SELECT "
	    "jsonb_array_elements_text($2::jsonb)) RETURNING uuid, node, "
	    "resize_revert->>'request_id', resize_revert->>'done_at'", 2, params, why,
	    sizeof(why), NULL);
	if (res == NULL) {
		log_warnx("resize_confirm_window: %s", why);
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *u = PQgetvalue(res, i, 0), *node = PQgetvalue(res, i, 1);
		char rid[80], *text;
		json_t *j;

		snprintf(rid, sizeof(rid), "auto-confirm-%s-%s", u, PQgetvalue(res, i, 3));
		j = json_pack("{s:i, s:s, s:s, s:s, s:{s:s}}", "version", REQ_VERSION,
		    "request_id", rid, "type", "resize_confirm", "node", node, "instance",
		    "uuid", u);
		if (j == NULL || (text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
			json_decref(j);
			continue;
		}
		log_info("instance %s: its resize (request %s) is older than "
		    "resize_confirm_window (%d s): %s confirms it", u, PQgetvalue(res, i, 2),
		    cfg->def.resize_confirm_window, rid);
		agent_request_raw(a, u, text);
		free(text);
		json_decref(j);
	}
	PQclear(res);
out:
	if (pg != NULL)
		pgc_put(a->db, pg, pgc_broken(pg));
	free(nodes);
}
