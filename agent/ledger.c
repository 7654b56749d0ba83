/*
 * ledger.c - the request ledger and the instance rows.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ledger.h"
#include "vcdriver/vcdriver.h"
#include "pgc.h"
#include "xmalloc.h"

/* Run SQL; 0 or -1 (WHY).  With TUPLES, the result goes there. */
static int
ledger_sql(PGconn *pg, const char *sql, int n, const char *const *params,
    PGresult **tuples, char *why, size_t wl)
{
	PGresult *r = pgc_exec(pg, sql, n, params, why, wl, NULL);

	if (r == NULL)
		return -1;
	if (tuples != NULL)
		*tuples = r;
	else
		PQclear(r);
	return 0;
}

/* SQL for the digest of the request text in parameter P: the SHA-256 of
 * its jsonb text, which is canonical (key order, spacing). */
#define LEDGER_DIGEST(p) "encode(sha256(convert_to(" p "::jsonb::text, 'UTF8')), 'hex')"

int
ledger_accept(PGconn *pg, const struct req *r, const char *topic, int partition,
    int64_t offset, const char *owner, enum ledger_state *state, char **result,
    char *why, size_t wl)
{
	char part[16], off[24], *payload = json_dumps(r->raw, JSON_COMPACT);
	const char *params[9] = { r->request_id, req_type_name(r->type), r->node,
	    r->instance_uuid[0] ? r->instance_uuid : NULL, payload, owner, topic, part,
	    off };
	PGresult *res = NULL;
	int ret = -1;

	*result = NULL;
	snprintf(part, sizeof(part), "%d", partition);
	snprintf(off, sizeof(off), "%lld", (long long)offset);
	if (ledger_sql(pg, "INSERT INTO requests (request_id, type, node, instance_uuid, "
	    "payload, payload_digest, owner, kafka_topic, kafka_partition, kafka_offset) "
	    "VALUES ($1, $2, $3, $4, $5, " LEDGER_DIGEST("$5") ", $6, $7, $8, $9) ON "
	    "CONFLICT (request_id) DO NOTHING RETURNING 1", 9, params, &res, why, wl) < 0)
		goto out;
	if (PQntuples(res) == 1) {
		*state = LEDGER_NEW;
		ret = 0;
		goto out;
	}
	PQclear(res);
	res = NULL;
	{
		const char *p2[2] = { r->request_id, payload };
		if (ledger_sql(pg, "SELECT state, result, payload_digest IS NOT DISTINCT "
		    "FROM " LEDGER_DIGEST("$2") " FROM requests WHERE request_id = $1",
		    2, p2, &res, why, wl) < 0)
			goto out;
	}
	if (PQntuples(res) != 1) {
		snprintf(why, wl, "request %s vanished from the ledger", r->request_id);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		*state = LEDGER_OTHER;	/* the id, reused for other content */
	else if (strcmp(PQgetvalue(res, 0, 0), "succeeded") == 0 ||
	    strcmp(PQgetvalue(res, 0, 0), "failed") == 0) {
		*state = LEDGER_DONE;
		if (!PQgetisnull(res, 0, 1))
			*result = xstrdup(PQgetvalue(res, 0, 1));
	} else
		*state = LEDGER_OPEN;
	ret = 0;
out:
	PQclear(res);
	free(payload);
	return ret;
}

/*
 * The batch as one statement: the items go as a jsonb array (I is the
 * item's index); the INSERT returns the rows it made, told apart by their
 * Kafka position, and the rows that were there already are read from the
 * statement's snapshot (taken before the INSERT).  An item that is in
 * neither (ok NULL) is answered by ledger_accept().
 */
int
ledger_accept_batch(PGconn *pg, struct ledger_item *items, size_t n,
    const char *owner, char *why, size_t wl)
{
	json_t *arr = json_array();
	const char *params[2];
	char *text = NULL;
	PGresult *res = NULL;
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		const struct req *r = items[i].r;

		items[i].result = NULL;
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s?, s:O, "
		    "s:s, s:i, s:I}", "i", (json_int_t)i, "request_id", r->request_id,
		    "type", req_type_name(r->type), "node", r->node, "instance_uuid",
		    r->instance_uuid[0] ? r->instance_uuid : NULL, "payload", r->raw,
		    "kafka_topic", items[i].topic, "kafka_partition", items[i].partition,
		    "kafka_offset", (json_int_t)items[i].offset));
	}
	text = json_dumps(arr, JSON_COMPACT);
	params[0] = text;
	params[1] = owner;
	if (ledger_sql(pg, "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS "
	    "x(i int, request_id text, type text, node text, instance_uuid uuid, "
	    "payload jsonb, kafka_topic text, kafka_partition int, kafka_offset "
	    "bigint)), ins AS (INSERT INTO requests (request_id, type, node, "
	    "instance_uuid, payload, payload_digest, owner, kafka_topic, "
	    "kafka_partition, kafka_offset) SELECT request_id, type, node, "
	    "instance_uuid, payload, " LEDGER_DIGEST("payload") ", $2, kafka_topic, "
	    "kafka_partition, kafka_offset FROM x ORDER BY i ON CONFLICT (request_id) "
	    "DO NOTHING RETURNING request_id, kafka_topic, kafka_partition, "
	    "kafka_offset) SELECT x.i, ins.request_id IS NOT NULL, r.state, r.result, "
	    "r.payload_digest IS NOT DISTINCT FROM " LEDGER_DIGEST("x.payload") " "
	    "FROM x LEFT JOIN ins ON ins.request_id = x.request_id AND ins.kafka_topic "
	    "= x.kafka_topic AND ins.kafka_partition = x.kafka_partition AND "
	    "ins.kafka_offset = x.kafka_offset LEFT JOIN requests r ON r.request_id = "
	    "x.request_id ORDER BY x.i", 2, params, &res, why, wl) < 0)
		goto out;
	if ((size_t)PQntuples(res) != n) {
		snprintf(why, wl, "the ledger answered %d rows for a batch of %zu",
		    PQntuples(res), n);
		goto out;
	}
	for (int k = 0; k < PQntuples(res); k++) {
		size_t i = (size_t)atol(PQgetvalue(res, k, 0));
		const char *st = PQgetvalue(res, k, 2);

		if (i >= n)
			continue;
		if (strcmp(PQgetvalue(res, k, 1), "t") == 0)
			items[i].state = LEDGER_NEW;
		else if (PQgetisnull(res, k, 2)) {
			/* not in this statement's snapshot: asked on its own */
			if (ledger_accept(pg, items[i].r, items[i].topic,
			    items[i].partition, items[i].offset, owner, &items[i].state,
			    &items[i].result, why, wl) < 0)
				goto out;
		} else if (strcmp(PQgetvalue(res, k, 4), "t") != 0)
			items[i].state = LEDGER_OTHER;
		else if (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0) {
			items[i].state = LEDGER_DONE;
			if (!PQgetisnull(res, k, 3))
				items[i].result = xstrdup(PQgetvalue(res, k, 3));
		} else
			items[i].state = LEDGER_OPEN;
	}
	ret = 0;
out:
	if (ret < 0)
		for (size_t i = 0; i < n; i++) {
			free(items[i].result);
			items[i].result = NULL;
		}
	PQclear(res);
	free(text);
	json_decref(arr);
	return ret;
}

int
ledger_claim(PGconn *pg, const char *request_id, int *attempts, char *why,
    size_t wl)
{
	const char *params[1] = { request_id };
	PGresult *res;
	int ret;

	*attempts = 0;
	if (ledger_sql(pg, "WITH l AS (SELECT pg_try_advisory_lock("
	    PGC_LOCK_KEY("'request ' || $1") ") AS got), u AS (UPDATE requests SET state = 'running', "
	    "started_at = now(), attempts = attempts + 1 WHERE request_id = $1 AND "
	    "state IN ('accepted', 'running') AND (SELECT got FROM l) RETURNING "
	    "attempts) SELECT (SELECT got FROM l), (SELECT attempts FROM u)", 1, params,
	    &res, why, wl) < 0)
		return -1;
	ret = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (ret && PQgetisnull(res, 0, 1)) {
		/* finished meanwhile (a second copy of it queued): not again */
		ledger_release(pg, request_id);
		ret = 0;
	} else if (ret)
		*attempts = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	return ret;
}

void
ledger_release(PGconn *pg, const char *request_id)
{
	const char *params[1] = { request_id };
	char why[256];

	(void)ledger_sql(pg, "SELECT pg_advisory_unlock(" PGC_LOCK_KEY("'request ' || $1")
	    ")", 1, params, NULL, why, sizeof(why));
}

int
ledger_finish(PGconn *pg, const char *request_id, bool ok, const char *event,
    const char *error, const struct ledger_inst *inst, char *why, size_t wl)
{
	const char *params[4] = { request_id, ok ? "succeeded" : "failed", event, error };
	const char *ip[4] = { NULL, NULL, NULL, NULL };
	struct pgc_stmt st[3];
	int n = 0;

	if (inst != NULL && inst->uuid != NULL && inst->deleted) {
		ip[0] = inst->uuid;	/* its snapshots went with its VM */
		st[n++] = (struct pgc_stmt){ "DELETE FROM snapshots WHERE "
		    "instance_uuid = $1", 1, ip };
	}
	if (inst != NULL && inst->uuid != NULL) {
		ip[0] = inst->uuid, ip[1] = inst->vm, ip[2] = inst->vm_state;
		ip[3] = inst->power_state;
		st[n++] = inst->deleted ? (struct pgc_stmt){ "UPDATE instances SET "
		    "deleted_at = now(), vm_state = 'deleted', power_state = 'nostate', "
		    "task_state = NULL, updated_at = now() WHERE uuid = $1", 1, ip } :
		    (struct pgc_stmt){ "UPDATE instances SET vm_moref = coalesce($2, "
		    "vm_moref), vm_state = coalesce($3, vm_state), power_state = "
		    "coalesce($4, power_state), task_state = NULL, updated_at = now() "
		    "WHERE uuid = $1", 4, ip };
	}
	st[n++] = (struct pgc_stmt){ "UPDATE requests SET state = $2, result = "
	    "$3::jsonb, error = $4, finished_at = now(), result_pending = true "
	    "WHERE request_id = $1", 4, params };
	/* one transaction; its lock released after the commit, in the same
	 * round trip */
	return pgc_exec_unlock(pg, st, n, why, wl);
}

int
ledger_results_sent(PGconn *pg, char *const *ids, size_t n, char *why, size_t wl)
{
	json_t *arr = json_array();
	const char *params[1];
	char *text;
	int ret;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(ids[i]));
	text = json_dumps(arr, JSON_COMPACT);
	params[0] = text;
	ret = ledger_sql(pg, "UPDATE requests SET result_pending = false WHERE "
	    "request_id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND "
	    "result_pending", 1, params, NULL, why, wl);
	free(text);
	json_decref(arr);
	return ret;
}

/*
 * The rows SQL selects (NCOLS text columns) for the nodes NODES, passed as
 * $1, a jsonb array: *OUT gets the values row by row (caller frees each
 * and the array), *N the number of rows.  0, or -1 with WHY.
 */
static int
ledger_node_rows(PGconn *pg, const char *sql, char *const *nodes, size_t nnodes,
    int ncols, char ***out, size_t *n, char *why, size_t wl)
{
	PGresult *res = NULL;
	json_t *arr = json_array();
	char **v = NULL, *text;
	const char *params[1];
	size_t k = 0;
	int ret = -1;

	for (size_t i = 0; i < nnodes; i++)
		json_array_append_new(arr, json_string(nodes[i]));
	text = json_dumps(arr, JSON_COMPACT);
	params[0] = text;
	if (ledger_sql(pg, sql, 1, params, &res, why, wl) < 0)
		goto out;
	v = xcalloc((size_t)PQntuples(res) * (size_t)ncols + 1, sizeof(*v));
	for (int i = 0; i < PQntuples(res); i++)
		for (int c = 0; c < ncols; c++)
			v[k++] = xstrdup(PQgetvalue(res, i, c));
	ret = 0;
out:
	*out = v;
	*n = k / (size_t)ncols;
	PQclear(res);
	free(text);
	json_decref(arr);
	return ret;
}

int
ledger_results_pending(PGconn *pg, char *const *nodes, size_t nnodes, char ***out,
    size_t *n, char *why, size_t wl)
{
	return ledger_node_rows(pg, "SELECT request_id, coalesce(instance_uuid::text, "
	    "''), result::text FROM requests WHERE result_pending AND result IS NOT "
	    "NULL AND state IN ('succeeded', 'failed') AND node IN (SELECT "
	    "jsonb_array_elements_text($1::jsonb)) ORDER BY finished_at", nodes,
	    nnodes, 3, out, n, why, wl);
}

int
ledger_unfinished(PGconn *pg, char *const *nodes, size_t nnodes, char ***out,
    size_t *n, char *why, size_t wl)
{
	return ledger_node_rows(pg, "SELECT payload FROM requests WHERE state IN "
	    "('accepted', 'running') AND node IN (SELECT "
	    "jsonb_array_elements_text($1::jsonb)) ORDER BY received_at, "
	    "kafka_partition, kafka_offset", nodes, nnodes, 1, out, n, why, wl);
}

#define LEDGER_SPAWNING \
	"INSERT INTO instances (uuid, name, node, flavor, image_id, " \
	"datastore, ports, metadata, image_properties, task_state) VALUES ($1, $2, " \
	"$3, $4::jsonb, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, 'spawning') " \
	"ON CONFLICT (uuid) DO UPDATE SET " \
	"name = $2, node = $3, flavor = $4::jsonb, image_id = $5, datastore = $6, " \
	"ports = $7::jsonb, metadata = $8::jsonb, image_properties = $9::jsonb, " \
	"task_state = 'spawning', " \
	"deleted_at = NULL, updated_at = now() RETURNING vm_moref IS NOT NULL"

int
ledger_instance_spawning_send(PGconn *pg, const struct req *r, const char *datastore,
    char *why, size_t wl)
{
	json_t *fl = json_object_get(r->raw, "flavor"), *ports = json_object_get(r->raw,
	    "ports"), *md = json_object_get(r->raw, "metadata"),
	    *ip = json_object_get(r->raw, "image_properties");
	char *f = fl != NULL ? json_dumps(fl, JSON_COMPACT) : xstrdup("{}");
	char *p = ports != NULL ? json_dumps(ports, JSON_COMPACT) : xstrdup("[]");
	char *m = json_is_object(md) ? json_dumps(md, JSON_COMPACT) : xstrdup("{}");
	char *i = json_is_object(ip) ? json_dumps(ip, JSON_COMPACT) : xstrdup("{}");
	const char *params[9] = { r->instance_uuid, r->instance_name, r->node, f,
	    r->image_id, datastore, p, m, i };
	int ret;

	/* libpq copies the parameters into its buffer as it sends */
	ret = pgc_send(pg, LEDGER_SPAWNING, 9, params, why, wl);
	free(f);
	free(p);
	free(m);
	free(i);
	return ret;
}

int
ledger_instance_spawning_recv(PGconn *pg, bool *had_vm, char *why, size_t wl)
{
	PGresult *res = pgc_recv(pg, why, wl);

	/* vm_moref is not updated: RETURNING shows the row's earlier one */
	*had_vm = res == NULL || PQntuples(res) != 1 ||
	    strcmp(PQgetvalue(res, 0, 0), "f") != 0;
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

int
ledger_instance_state(PGconn *pg, const char *uuid, const char *vm,
    const char *vm_state, const char *power_state, const char *task_state,
    char *why, size_t wl)
{
	const char *params[5] = { uuid, vm, vm_state, power_state, task_state };

	return ledger_sql(pg, "UPDATE instances SET vm_moref = coalesce($2, vm_moref), "
	    "vm_state = coalesce($3, vm_state), power_state = coalesce($4, power_state), "
	    "task_state = $5, updated_at = now() WHERE uuid = $1", 5, params, NULL, why,
	    wl);
}

int
ledger_instance_deleted(PGconn *pg, const char *uuid, char *why, size_t wl)
{
	const char *params[1] = { uuid };

	return ledger_sql(pg, "UPDATE instances SET deleted_at = now(), vm_state = "
	    "'deleted', power_state = 'nostate', task_state = NULL, updated_at = now() "
	    "WHERE uuid = $1", 1, params, NULL, why, wl);
}

/* ledger_instance_vm, with SQL selecting vm_moref, datastore of row $1 */
static int
ledger_instance_vm_sql(PGconn *pg, const char *sql, const char *uuid, char *vm,
    size_t len, char *ds, size_t dslen, char *why, size_t wl)
{
	const char *params[1] = { uuid };
	PGresult *res;
	int ret;

	vm[0] = '\0';
	if (dslen > 0)
		ds[0] = '\0';
	if (ledger_sql(pg, sql, 1, params, &res, why, wl) < 0)
		return -1;
	ret = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
	if (ret)
		snprintf(vm, len, "%s", PQgetvalue(res, 0, 0));
	if (PQntuples(res) == 1 && dslen > 0)
		snprintf(ds, dslen, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return ret;
}

int
ledger_instance_vm(PGconn *pg, const char *uuid, char *vm, size_t len, char *ds,
    size_t dslen, char *why, size_t wl)
{
	return ledger_instance_vm_sql(pg, "SELECT vm_moref, datastore FROM instances "
	    "WHERE uuid = $1 AND deleted_at IS NULL", uuid, vm, len, ds, dslen, why, wl);
}

int
ledger_instance_deleting(PGconn *pg, const char *uuid, char *vm, size_t len,
    char *ds, size_t dslen, char *why, size_t wl)
{
	return ledger_instance_vm_sql(pg, "UPDATE instances SET task_state = "
	    "'deleting', updated_at = now() WHERE uuid = $1 AND deleted_at IS NULL "
	    "RETURNING vm_moref, datastore", uuid, vm, len, ds, dslen, why, wl);
}

int
ledger_node_update(PGconn *pg, const char *node, const char *name,
    const char *cluster_moref, const char *vcenter, const char *agent_host,
    const char *host_ip, const struct vcd_resources *r, const struct cfg *cfg,
    char *why, size_t wl)
{
	/*
	 * The reserved amounts count as used, as nova's resource tracker counts
	 * them: memory_mb_used + reserved_host_memory_mb, local_gb_used +
	 * reserved_host_disk_mb / 1024 (free_disk_gb = local_gb - local_gb_used),
	 * vcpus_used = reserved_host_cpus + the instances' vCPUs; the reserved
	 * columns carry them as the inventory's "reserved".
	 */
	const long long local_gb = r->disk_total_bytes >> 30,
	    local_gb_used = ((r->disk_total_bytes - r->disk_free_bytes) >> 30) +
	    cfg->def.reserved_host_disk_mb / 1024;
	/* $7..$18, in the INSERT's order */
	const long long nums[] = { r->vcpus, r->max_vcpus_per_host, r->memory_mb,
	    r->memory_mb_used + cfg->def.reserved_host_memory_mb,
	    r->max_memory_mb_per_host, local_gb, local_gb_used, local_gb - local_gb_used,
	    r->max_disk_free_bytes >> 30, r->hosts_total, r->hosts_usable,
	    r->datastores_usable };
	const double ratios[] = { cfg->def.cpu_allocation_ratio,
	    cfg->def.ram_allocation_ratio, cfg->def.disk_allocation_ratio };
	/* $22..$24 */
	const int reserved[] = { cfg->def.reserved_host_memory_mb,
	    cfg->def.reserved_host_disk_mb, cfg->def.reserved_host_cpus };
	char text[18][32];
	const char *params[25] = { node, name, r->vcenter_version, vcenter,
	    cluster_moref, agent_host };
	int k = 6;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++, k++) {
		snprintf(text[k - 6], sizeof(text[0]), "%lld", nums[i]);
		params[k] = text[k - 6];
	}
	for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++, k++) {
		snprintf(text[k - 6], sizeof(text[0]), "%g", ratios[i]);
		params[k] = text[k - 6];
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++, k++) {
		snprintf(text[k - 6], sizeof(text[0]), "%d", reserved[i]);
		params[k] = text[k - 6];
	}
	params[k++] = host_ip;	/* $25 */
	return ledger_sql(pg, "INSERT INTO compute_nodes (node, hypervisor_hostname, "
	    "hypervisor_version, vcenter, cluster_moref, agent_host, vcpus, "
	    "max_vcpus_per_host, memory_mb, memory_mb_used, max_memory_mb_per_host, "
	    "local_gb, local_gb_used, free_disk_gb, max_free_disk_gb, hosts_total, "
	    "hosts_usable, datastores_usable, cpu_allocation_ratio, "
	    "ram_allocation_ratio, disk_allocation_ratio, reserved_host_memory_mb, "
	    "reserved_host_disk_mb, reserved_host_cpus, host_ip, vcpus_used, "
	    "running_vms, updated_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
	    "$14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $24::int + "
	    "coalesce(sum((i.flavor->>'vcpus')::bigint), 0), count(i.uuid), now() "
	    "FROM instances i WHERE i.node = $1 AND "
	    "i.deleted_at IS NULL ON CONFLICT (node) DO UPDATE SET hypervisor_hostname = "
	    "EXCLUDED.hypervisor_hostname, hypervisor_version = "
	    "EXCLUDED.hypervisor_version, vcenter = EXCLUDED.vcenter, cluster_moref = "
	    "EXCLUDED.cluster_moref, agent_host = EXCLUDED.agent_host, vcpus = "
	    "EXCLUDED.vcpus, max_vcpus_per_host = EXCLUDED.max_vcpus_per_host, "
	    "memory_mb = EXCLUDED.memory_mb, memory_mb_used = EXCLUDED.memory_mb_used, "
	    "max_memory_mb_per_host = EXCLUDED.max_memory_mb_per_host, local_gb = "
	    "EXCLUDED.local_gb, local_gb_used = EXCLUDED.local_gb_used, free_disk_gb = "
	    "EXCLUDED.free_disk_gb, max_free_disk_gb = EXCLUDED.max_free_disk_gb, "
	    "hosts_total = EXCLUDED.hosts_total, hosts_usable = EXCLUDED.hosts_usable, "
	    "datastores_usable = EXCLUDED.datastores_usable, cpu_allocation_ratio = "
	    "EXCLUDED.cpu_allocation_ratio, ram_allocation_ratio = "
	    "EXCLUDED.ram_allocation_ratio, disk_allocation_ratio = "
	    "EXCLUDED.disk_allocation_ratio, reserved_host_memory_mb = "
	    "EXCLUDED.reserved_host_memory_mb, reserved_host_disk_mb = "
	    "EXCLUDED.reserved_host_disk_mb, reserved_host_cpus = "
	    "EXCLUDED.reserved_host_cpus, host_ip = EXCLUDED.host_ip, "
	    "vcpus_used = EXCLUDED.vcpus_used, "
	    "running_vms = EXCLUDED.running_vms, updated_at = now()", k, params, NULL,
	    why, wl);
}

int
ledger_node_usage(PGconn *pg, const char *node, char *why, size_t wl)
{
	const char *params[1] = { node };

	return ledger_sql(pg, "UPDATE compute_nodes n SET vcpus_used = "
	    "n.reserved_host_cpus + u.vcpus, "
	    "running_vms = u.vms, updated_at = now() FROM (SELECT coalesce(sum(("
	    "flavor->>'vcpus')::bigint), 0) AS vcpus, count(*) AS vms FROM instances "
	    "WHERE node = $1 AND deleted_at IS NULL) u WHERE n.node = $1", 1, params,
	    NULL, why, wl);
}

int
ledger_node_json(PGconn *pg, const char *node, char **json, char *why, size_t wl)
{
	const char *params[1] = { node };
	PGresult *res;
	int ret;

	*json = NULL;
	if (ledger_sql(pg, "SELECT json_build_object('hypervisor_hostname', "
	    "hypervisor_hostname, 'vcpus', vcpus, 'vcpus_used', vcpus_used, "
	    "'memory_mb', memory_mb, 'memory_mb_used', memory_mb_used, 'local_gb', "
	    "local_gb, 'local_gb_used', local_gb_used, 'free_disk_gb', free_disk_gb, "
	    "'max_free_disk_gb', max_free_disk_gb, 'hosts_usable', hosts_usable, "
	    "'datastores_usable', datastores_usable, 'running_vms', running_vms, "
	    "'cpu_allocation_ratio', cpu_allocation_ratio, 'ram_allocation_ratio', "
	    "ram_allocation_ratio, 'disk_allocation_ratio', disk_allocation_ratio, "
	    "'reserved_host_memory_mb', reserved_host_memory_mb, "
	    "'reserved_host_disk_mb', reserved_host_disk_mb, 'reserved_host_cpus', "
	    "reserved_host_cpus)::text "
	    "FROM compute_nodes WHERE node = $1", 1, params, &res, why, wl) < 0)
		return -1;
	if ((ret = PQntuples(res) == 1))
		*json = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return ret;
}
