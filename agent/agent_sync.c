/*
 * agent_sync.c - vCenter's truth into the instance rows: power states (a VM
 * powered off in vCenter shows as off) and, on start, VMs that carry an
 * instance uuid the database does not know (reported, never deleted).
 *
 * One SELECT over the served nodes' instances, then one RetrievePropertiesEx
 * over every VM.  Instances with a task in progress are left to it, and a
 * row is written only if it is still as read (its updated_at).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "agent.h"
#include "ledger.h"
#include "log.h"
#include "pgc.h"
#include "req.h"
#include "xmalloc.h"

const char *
agent_power_name(const char *vsphere)
{
	if (strcmp(vsphere, "poweredOn") == 0)
		return "running";
	if (strcmp(vsphere, "suspended") == 0)
		return "suspended";
	return "shutdown";
}

static const struct vcd_vm_info *
agent_vm_by_uuid(const struct vcd_vm_info *v, size_t n, const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i].instance_uuid, uuid) == 0)
			return &v[i];
	return NULL;
}

void
agent_sync(struct agent *a, bool report_unknown)
{
	struct vcd_vm_info *vms = NULL;
	struct vcd_err err;
	char why[512], msg[800], *ntext = NULL;
	const char *params[1];
	PGconn *pg = NULL;
	PGresult *r = NULL;
	size_t n = 0, changed = 0, unknown = 0;

	if (a->db == NULL || a->cache == NULL)
		goto out;
	ntext = agent_lease_held_json(a);	/* not another group's */
	params[0] = ntext;
	/*
	 * The rows first, then vCenter, then each write only if its row is as
	 * read: a worker that set a task_state or a power state in between (it
	 * touches updated_at) keeps it, and a stale vCenter answer is never
	 * written over a change made after it.
	 */
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL ||
	    (r = pgc_exec(pg, "SELECT uuid, power_state, updated_at::text, node "
	    "FROM instances WHERE deleted_at IS NULL AND task_state IS NULL AND node IN "
	    "(SELECT jsonb_array_elements_text($1::jsonb))", 1, params, why, sizeof(why),
	    NULL)) == NULL) {
		log_warnx("power state sync: %s", why);
		goto out;
	}
	if (vcd_vm_list(a->vc, &vms, &n, &err) < 0) {
		log_warnx("power state sync: %s", vcd_strerror(&err, msg, sizeof(msg)));
		goto out;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		const char *uuid = PQgetvalue(r, i, 0), *have = PQgetvalue(r, i, 1);
		const struct vcd_vm_info *vm = agent_vm_by_uuid(vms, n, uuid);
		const char *now;
		PGresult *u;

		if (vm == NULL)
			continue;	/* a request will find it gone */
		now = agent_power_name(vm->power_state);
		if (strcmp(now, have) == 0)
			continue;
		{
			const char *up[5] = { uuid, vm->ref.value, now, have,
			    PQgetvalue(r, i, 2) };
			u = pgc_exec(pg, "UPDATE instances SET vm_moref = $2, power_state = "
			    "$3, updated_at = now() WHERE uuid = $1 AND deleted_at IS NULL AND "
			    "task_state IS NULL AND power_state = $4 AND updated_at = "
			    "$5::timestamptz RETURNING 1", 5, up, why, sizeof(why), NULL);
		}
		if (u == NULL) {
			log_warnx("power state sync: %s: %s", uuid, why);
			continue;
		}
		if (PQntuples(u) == 0) {
			PQclear(u);
			log_debug("power state sync: instance %s changed meanwhile: left to "
			    "its task and the next sync", uuid);
			continue;
		}
		PQclear(u);
		log_info("instance %s: power state %s in vCenter (was %s)", uuid, now, have);
		if (a->producer != NULL) {
			struct req_outcome o = { "state_changed", NULL, NULL, NULL,
			    vm->ref.value, now, NULL, NULL, NULL };
			char *ev = req_event(NULL, "power_state_sync", PQgetvalue(r, i, 3),
			    uuid, &o);
			agent_event_raw(a, uuid, ev);
			free(ev);
		}
		changed++;
	}
	if (report_unknown) {
		PGresult *all = pgc_exec(pg, "SELECT uuid::text FROM instances", 0, NULL,
		    why, sizeof(why), NULL);
		for (size_t i = 0; all != NULL && i < n; i++) {
			bool known = false;
			if (vms[i].instance_uuid[0] == '\0')
				continue;
			for (int k = 0; k < PQntuples(all) && !known; k++)
				known = strcasecmp(PQgetvalue(all, k, 0), vms[i].instance_uuid) == 0;
			if (!known) {
				log_warnx("reconcile: VM %s (\"%s\") carries instance uuid %s, "
				    "unknown to the database: left alone", vms[i].ref.value,
				    vms[i].name, vms[i].instance_uuid);
				unknown++;
			}
		}
		PQclear(all);
		a->unknown_vms = unknown;
	}
	if (changed > 0)
		log_info("power state sync: %zu instance(s) changed", changed);
out:
	PQclear(r);
	if (pg != NULL)
		pgc_put(a->db, pg, pgc_broken(pg));
	free(ntext);
	free(vms);
}
