/*
 * ledger.c - the request ledger and the instance rows.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
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
	    "payload, owner, kafka_topic, kafka_partition, kafka_offset) VALUES ($1, $2, "
	    "$3, $4, $5, $6, $7, $8, $9) ON CONFLICT (request_id) DO NOTHING "
	    "RETURNING 1", 9, params, &res, why, wl) < 0)
		goto out;
	if (PQntuples(res) == 1) {
		*state = LEDGER_NEW;
		ret = 0;
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (ledger_sql(pg, "SELECT state, result FROM requests WHERE request_id = $1",
	    1, params, &res, why, wl) < 0)
		goto out;
	if (PQntuples(res) != 1) {
		snprintf(why, wl, "request %s vanished from the ledger", r->request_id);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "succeeded") == 0 ||
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

int
ledger_start(PGconn *pg, const char *request_id, char *why, size_t wl)
{
	const char *params[1] = { request_id };

	return ledger_sql(pg, "UPDATE requests SET state = 'running', started_at = "
	    "now(), attempts = attempts + 1 WHERE request_id = $1", 1, params, NULL,
	    why, wl);
}

int
ledger_finish(PGconn *pg, const char *request_id, bool ok, const char *event,
    const char *error, char *why, size_t wl)
{
	const char *params[4] = { request_id, ok ? "succeeded" : "failed", event, error };

	return ledger_sql(pg, "UPDATE requests SET state = $2, result = $3::jsonb, "
	    "error = $4, finished_at = now() WHERE request_id = $1", 4, params, NULL,
	    why, wl);
}

int
ledger_unfinished(PGconn *pg, char *const *nodes, size_t nnodes, char ***out,
    size_t *n, char *why, size_t wl)
{
	struct buf_list { char **v; size_t n; } l = { NULL, 0 };
	PGresult *res = NULL;
	json_t *arr = json_array();
	char *text;
	const char *params[1];
	int ret = -1;

	for (size_t i = 0; i < nnodes; i++)
		json_array_append_new(arr, json_string(nodes[i]));
	text = json_dumps(arr, JSON_COMPACT);
	params[0] = text;
	if (ledger_sql(pg, "SELECT payload FROM requests WHERE state IN ('accepted', "
	    "'running') AND node IN (SELECT jsonb_array_elements_text($1::jsonb)) "
	    "ORDER BY received_at, kafka_partition, kafka_offset", 1, params, &res,
	    why, wl) < 0)
		goto out;
	l.v = xcalloc((size_t)PQntuples(res) + 1, sizeof(*l.v));
	for (int i = 0; i < PQntuples(res); i++)
		l.v[l.n++] = xstrdup(PQgetvalue(res, i, 0));
	ret = 0;
out:
	*out = l.v;
	*n = l.n;
	PQclear(res);
	free(text);
	json_decref(arr);
	return ret;
}

int
ledger_instance_spawning(PGconn *pg, const struct req *r, const char *datastore,
    char *why, size_t wl)
{
	json_t *fl = json_object_get(r->raw, "flavor"), *ports = json_object_get(r->raw,
	    "ports"), *md = json_object_get(r->raw, "metadata");
	char *f = fl != NULL ? json_dumps(fl, JSON_COMPACT) : xstrdup("{}");
	char *p = ports != NULL ? json_dumps(ports, JSON_COMPACT) : xstrdup("[]");
	char *m = json_is_object(md) ? json_dumps(md, JSON_COMPACT) : xstrdup("{}");
	const char *params[8] = { r->instance_uuid, r->instance_name, r->node, f,
	    r->image_id, datastore, p, m };
	int ret;

	ret = ledger_sql(pg, "INSERT INTO instances (uuid, name, node, flavor, image_id, "
	    "datastore, ports, metadata, task_state) VALUES ($1, $2, $3, $4::jsonb, $5, "
	    "$6, $7::jsonb, $8::jsonb, 'spawning') ON CONFLICT (uuid) DO UPDATE SET "
	    "name = $2, node = $3, flavor = $4::jsonb, image_id = $5, datastore = $6, "
	    "ports = $7::jsonb, metadata = $8::jsonb, task_state = 'spawning', "
	    "deleted_at = NULL, updated_at = now()", 8, params, NULL, why, wl);
	free(f);
	free(p);
	free(m);
	return ret;
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

int
ledger_instance_vm(PGconn *pg, const char *uuid, char *vm, size_t len, char *why,
    size_t wl)
{
	const char *params[1] = { uuid };
	PGresult *res;
	int ret;

	vm[0] = '\0';
	if (ledger_sql(pg, "SELECT vm_moref FROM instances WHERE uuid = $1 AND "
	    "deleted_at IS NULL AND vm_moref IS NOT NULL", 1, params, &res, why, wl) < 0)
		return -1;
	ret = PQntuples(res) == 1;
	if (ret)
		snprintf(vm, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return ret;
}
