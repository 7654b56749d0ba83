/*
 * agent_http.c - what the operator endpoints say and do: /healthz,
 * /readyz, /metrics (Prometheus text), /status (JSON), and the image
 * upload, served by httpd.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <time.h>

#include "agent.h"
#include "buf.h"
#include "httpd.h"
#include "log.h"
#include "pgc.h"
#include "req.h"
#include "work.h"
#include "xmalloc.h"

#define AGENT_MAX_TRANSFERS	64

static int
agent_http_healthz(void *arg, struct buf *out)
{
	(void)arg;
	buf_puts(out, "ok\n");
	return 200;
}

/* 0 if PostgreSQL answers; else -1 with WHY. */
static int
agent_db_ping(struct agent *a, char *why, size_t len)
{
	PGconn *pg;
	PGresult *r;

	if (a->db == NULL) {
		snprintf(why, len, "database.connection is not set");
		return -1;
	}
	if ((pg = pgc_get(a->db, why, len)) == NULL)
		return -1;
	r = pgc_exec(pg, "SELECT 1", 0, NULL, why, len, NULL);
	PQclear(r);
	pgc_put(a->db, pg, r == NULL);
	if (r != NULL && a->cache == NULL) {
		snprintf(why, len, "reachable, the image cache is starting");
		return -1;
	}
	return r != NULL ? 0 : -1;
}

int
agent_http_readyz(void *arg, struct buf *out)
{
	struct agent *a = arg;
	char why[512];
	int status = 200;

	if (a->vc == NULL || !vcd_logged_in(a->vc)) {
		buf_printf(out, "vcenter: not logged in to %s\n", a->cfg->vmware.host_ip);
		status = 503;
	} else
		buf_printf(out, "vcenter: ok\n");
	if (agent_db_ping(a, why, sizeof(why)) < 0) {
		buf_printf(out, "database: %s\n", why);
		status = 503;
	} else if (time(NULL) < a->db_wait_until) {
		buf_printf(out, "database: was unreachable, consumption paused\n");
		status = 503;
	} else
		buf_printf(out, "database: ok\n");
	if (a->consumer == NULL) {
		buf_printf(out, "kafka: not started\n");
		status = 503;
	} else if (!atomic_load(&a->kafka_up)) {
		buf_printf(out, "kafka: no partitions assigned, or brokers down (%s)\n",
		    a->cfg->kafka.bootstrap_servers);
		status = 503;
	} else
		buf_printf(out, "kafka: ok\n");
	if (agent_lease_ready(a, out) < 0)	/* another group has a cluster */
		status = 503;
	if (agent_held(a, out) > 0)	/* a partition stuck on a message */
		status = 503;
	buf_puts(out, status == 200 ? "ready\n" : "not ready\n");
	return status;
}

/* How far transfer T is, 0 to 100 (an export's compressed bytes can pass
 * its disk's size: 100 then). */
static int
agent_percent(const struct ic_transfer *t)
{
	if (t->total <= 0)
		return 0;
	return t->done >= t->total ? 100 : (int)(100 * t->done / t->total);
}

static void
agent_metric(struct buf *out, const char *name, const char *type, const char *help,
    long long value)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type,
	    name, value);
}

/* A label value with \, " and newlines escaped as Prometheus wants. */
static void
agent_label(struct buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			buf_puts(out, "\\n");
		else
			buf_append(out, v, 1);
	}
}

/*
 * One Prometheus histogram series: BUCKET[0..NB] are per bucket (the last
 * above every bound), written cumulative; LABEL is "" or "k=\"v\"," ready
 * to precede le.
 */
static void
agent_histogram(struct buf *out, const char *name, const char *label,
    const double *bounds, size_t nb, const unsigned long *bucket, double sum)
{
	unsigned long cum = 0;

	for (size_t b = 0; b <= nb; b++) {
		cum += bucket[b];
		if (b < nb)
			buf_printf(out, "%s_bucket{%sle=\"%g\"} %lu\n", name, label,
			    bounds[b], cum);
		else
			buf_printf(out, "%s_bucket{%sle=\"+Inf\"} %lu\n", name, label, cum);
	}
	if (label[0] != '\0')
		buf_printf(out, "%s_sum{%.*s} %.6f\n%s_count{%.*s} %lu\n", name,
		    (int)strlen(label) - 1, label, sum, name, (int)strlen(label) - 1,
		    label, cum);
	else
		buf_printf(out, "%s_sum %.6f\n%s_count %lu\n", name, sum, name, cum);
}

/* vCenter calls by method: counts, errors, latency; task durations. */
static void
agent_metrics_vcenter(struct agent *a, struct buf *out)
{
	/* room for methods first called between the two vcd_stats() */
	size_t cap = (a->vc != NULL ? vcd_stats(a->vc, NULL, 0) : 0) + 8, n;
	struct vcd_method_stats *st = xcalloc(cap, sizeof(*st));
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "vcagent_vcenter_calls_total", "counter", "Requests made to vCenter: "
		    "SOAP calls by method, other HTTP requests as http_get_folder, "
		    "http_put_folder, http_head_folder (datastore files) and http_put_nfc" },
		{ "vcagent_vcenter_call_errors_total", "counter", "Requests to vCenter "
		    "that failed: a fault, an HTTP error, or the transport" },
		{ "vcagent_vcenter_call_duration_seconds", "histogram", "Request "
		    "latency, request out to answer decoded" },
		{ "vcagent_vcenter_task_duration_seconds", "histogram", "vCenter task "
		    "durations, from the call to the task's end" },
		{ "vcagent_vcenter_task_errors_total", "counter", "vCenter tasks that "
		    "failed or timed out" },
	};
	char label[128];

	n = a->vc != NULL ? vcd_stats(a->vc, st, cap) : 0;
	if (n > cap)
		n = cap;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		buf_printf(out, "# HELP %s %s, by method\n# TYPE %s %s\n", fam[f].name,
		    fam[f].help, fam[f].name, fam[f].type);
		for (size_t i = 0; i < n; i++) {
			snprintf(label, sizeof(label), "method=\"%s\",", st[i].method);
			switch (f) {
			case 0:
				buf_printf(out, "%s{method=\"%s\"} %lu\n", fam[f].name,
				    st[i].method, st[i].call.count);
				break;
			case 1:
				buf_printf(out, "%s{method=\"%s\"} %lu\n", fam[f].name,
				    st[i].method, st[i].errors);
				break;
			case 2:
				agent_histogram(out, fam[f].name, label, vcd_lat_bounds,
				    VCD_LAT_NB, st[i].call.bucket, st[i].call.sum);
				break;
			case 3:
				if (st[i].task.count > 0)
					agent_histogram(out, fam[f].name, label,
					    vcd_lat_bounds, VCD_LAT_NB, st[i].task.bucket,
					    st[i].task.sum);
				break;
			default:
				if (st[i].task.count > 0)
					buf_printf(out, "%s{method=\"%s\"} %lu\n",
					    fam[f].name, st[i].method, st[i].task_errors);
				break;
			}
		}
	}
	free(st);
}

/* Requests, latency, consumer lag and instances: the agent's own job. */
static void
agent_metrics_requests(struct agent *a, struct buf *out)
{
	static const double bounds[] = AGENT_LAT_BOUNDS;
	static const char *const outcomes[] = { "succeeded", "failed", "rejected" };
	unsigned long lat[sizeof(bounds) / sizeof(bounds[0]) + 1];
	rd_kafka_topic_partition_list_t *as = NULL;
	long long lag = 0;

	buf_puts(out, "# HELP vcagent_requests_total requests by type and outcome\n"
	    "# TYPE vcagent_requests_total counter\n");
	for (int t = 0; t <= REQ_NTYPES; t++)
		for (int o = 0; o < 3; o++) {
			unsigned long n = atomic_load(&a->req_count[t][o]);
			if (n > 0 || (t < REQ_NTYPES && o < 2))
				buf_printf(out, "vcagent_requests_total{type=\"%s\",outcome="
				    "\"%s\"} %lu\n", t < REQ_NTYPES ? req_type_name(t) :
				    "unknown", outcomes[o], n);
		}
	buf_puts(out, "# HELP vcagent_request_duration_seconds time to carry out a "
	    "request\n# TYPE vcagent_request_duration_seconds histogram\n");
	for (size_t b = 0; b < sizeof(lat) / sizeof(lat[0]); b++)
		lat[b] = atomic_load(&a->req_lat_bucket[b]);
	agent_histogram(out, "vcagent_request_duration_seconds", "", bounds,
	    sizeof(bounds) / sizeof(bounds[0]), lat,
	    atomic_load(&a->req_lat_ms_sum) / 1000.0);
	agent_metric(out, "vcagent_requests_in_flight", "gauge",
	    "requests queued or running", a->work != NULL ? (long long)work_pending(a->work) : 0);
	if (a->db != NULL) {
		int open, peak;

		pgc_pool_count(a->db, &open, &peak);
		agent_metric(out, "vcagent_db_connections", "gauge", "PostgreSQL "
		    "connections open (idle and in use)", open);
		agent_metric(out, "vcagent_db_connections_peak", "gauge", "the most "
		    "PostgreSQL connections open at once", peak);
		agent_metric(out, "vcagent_db_connects_total", "counter", "PostgreSQL "
		    "sessions opened", (long long)pgc_pool_connects(a->db));
	}
	if (a->consumer != NULL && rd_kafka_assignment(a->consumer, &as) == 0 && as != NULL) {
		rd_kafka_position(a->consumer, as);
		for (int i = 0; i < as->cnt; i++) {
			int64_t lo = 0, hi = 0;
			if (rd_kafka_get_watermark_offsets(a->consumer, as->elems[i].topic,
			    as->elems[i].partition, &lo, &hi) == 0 && as->elems[i].offset >= 0 &&
			    hi > as->elems[i].offset)
				lag += hi - as->elems[i].offset;
		}
		rd_kafka_topic_partition_list_destroy(as);
	}
	agent_metric(out, "vcagent_kafka_consumer_lag", "gauge",
	    "messages on the assigned partitions not yet consumed", lag);
	agent_metric(out, "vcagent_unknown_vms", "gauge", "VMs carrying an instance "
	    "uuid the database does not know (reported at start, left alone)",
	    (long long)a->unknown_vms);
	agent_metric(out, "vcagent_kafka_up", "gauge", "1 when partitions are assigned "
	    "and brokers reachable", atomic_load(&a->kafka_up) ? 1 : 0);
	{
		unsigned long other, nobody;
		agent_lease_counts(a, &other, &nobody);
		agent_metric(out, "vcagent_requests_not_ours_total", "counter", "requests "
		    "for a node another consumer group serves (left to it)", (long long)other);
		agent_metric(out, "vcagent_requests_unserved_total", "counter", "requests "
		    "for a node nobody serves (dead-lettered)", (long long)nobody);
	}
	{
		struct buf held = BUF_INIT;
		agent_metric(out, "vcagent_kafka_messages_held", "gauge", "messages that "
		    "could not be dead-lettered, kept uncommitted (their partitions wait)",
		    (long long)agent_held(a, &held));
		buf_free(&held);
	}
	agent_metric(out, "vcagent_dead_letter_failures_total", "counter", "dead "
	    "letters the broker did not take (the message kept, tried again)",
	    (long long)atomic_load(&a->dl_failures));
	if (a->db != NULL) {
		char why[256];
		PGconn *pg = pgc_get(a->db, why, sizeof(why));
		PGresult *r = pg != NULL ? pgc_exec(pg, "SELECT vm_state, power_state, "
		    "count(*) FROM instances WHERE deleted_at IS NULL GROUP BY 1, 2 ORDER "
		    "BY 1, 2", 0, NULL, why, sizeof(why), NULL) : NULL;
		buf_puts(out, "# HELP vcagent_instances instances by state\n"
		    "# TYPE vcagent_instances gauge\n");
		for (int i = 0; r != NULL && i < PQntuples(r); i++) {
			buf_puts(out, "vcagent_instances{vm_state=\"");
			agent_label(out, PQgetvalue(r, i, 0));
			buf_puts(out, "\",power_state=\"");
			agent_label(out, PQgetvalue(r, i, 1));
			buf_printf(out, "\"} %s\n", PQgetvalue(r, i, 2));
		}
		PQclear(r);
		if (pg != NULL)
			pgc_put(a->db, pg, pgc_broken(pg));
	}
}

static int
agent_http_metrics(void *arg, struct buf *out)
{
	struct agent *a = arg;
	struct ic_cache_stats st;
	struct ic_transfer tr[AGENT_MAX_TRANSFERS];
	struct buf why = BUF_INIT;
	size_t n = 0;

	/* what /readyz says, for alerting on it */
	agent_metric(out, "vcagent_ready", "gauge", "1 when /readyz says ready "
	    "(vCenter, the database, Kafka, the cluster leases, no held partition)",
	    agent_http_readyz(a, &why) == 200 ? 1 : 0);
	buf_free(&why);
	memset(&st, 0, sizeof(st));
	if (a->cache != NULL) {
		ic_cache_stats(a->cache, &st);
		n = ic_cache_transfers(a->cache, tr, AGENT_MAX_TRANSFERS);
	}
	agent_metrics_vcenter(a, out);
	agent_metric(out, "vcagent_vcenter_logins_total", "counter",
	    "logins to vCenter, the first and every re-login", a->vc != NULL ?
	    (long long)vcd_login_count(a->vc) : 0);
	agent_metric(out, "vcagent_imagecache_downloads_total", "counter",
	    "images fetched from the image service", (long long)st.downloads);
	agent_metric(out, "vcagent_imagecache_uploads_total", "counter",
	    "images pushed to the upload endpoint", (long long)st.uploads);
	agent_metric(out, "vcagent_imagecache_hits_total", "counter",
	    "spawns that found their image cached", (long long)st.hits);
	agent_metric(out, "vcagent_imagecache_misses_total", "counter",
	    "spawns that fetched or waited for another agent", (long long)st.misses);
	agent_metric(out, "vcagent_imagecache_resized_total", "counter",
	    "resized copies made", (long long)st.resized);
	agent_metric(out, "vcagent_imagecache_purged_total", "counter",
	    "cached disks removed by the purge policy", (long long)st.purged);
	agent_metric(out, "vcagent_imagecache_purge_failures_total", "counter",
	    "cached disks the purge policy could not remove (vCenter or database "
	    "errors)", (long long)st.purge_failures);
	agent_metric(out, "vcagent_imagecache_bytes_total", "counter",
	    "bytes downloaded and uploaded into the cache", (long long)st.bytes);
	agent_metric(out, "vcagent_imagecache_transfers", "gauge",
	    "image transfers in progress", (long long)n);
	buf_puts(out, "# HELP vcagent_imagecache_transfer_bytes bytes of an image "
	    "transfer in progress (download, upload, export), done and total\n"
	    "# TYPE vcagent_imagecache_transfer_bytes gauge\n");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			buf_puts(out, "vcagent_imagecache_transfer_bytes{image=\"");
			agent_label(out, tr[i].image_id);
			buf_puts(out, "\",datastore=\"");
			agent_label(out, tr[i].datastore);
			buf_printf(out, "\",kind=\"%s\",part=\"%s\"} %lld\n", tr[i].kind,
			    k == 0 ? "done" : "total",
			    (long long)(k == 0 ? tr[i].done : tr[i].total));
		}
	buf_puts(out, "# HELP vcagent_imagecache_transfer_percent how far an image "
	    "transfer in progress is, 0 to 100\n"
	    "# TYPE vcagent_imagecache_transfer_percent gauge\n");
	for (size_t i = 0; i < n; i++) {
		buf_puts(out, "vcagent_imagecache_transfer_percent{image=\"");
		agent_label(out, tr[i].image_id);
		buf_puts(out, "\",datastore=\"");
		agent_label(out, tr[i].datastore);
		buf_printf(out, "\",kind=\"%s\"} %d\n", tr[i].kind, agent_percent(&tr[i]));
	}
	agent_metrics_requests(a, out);
	return 200;
}

/* The instances' snapshots as recorded (ops_snap.c), newest first, at
 * most 1000; an empty list without a database. */
static json_t *
agent_http_snapshots(struct agent *a)
{
	json_t *l = json_array();
	char why[256];
	PGconn *pg;
	PGresult *r;

	if (a->db == NULL || (pg = pgc_get(a->db, why, sizeof(why))) == NULL)
		return l;
	r = pgc_exec(pg, "SELECT instance_uuid::text, snapshot, name, description, "
	    "memory, quiesced, power_state, coalesce(parent, ''), coalesce(to_char("
	    "create_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
	    "coalesce(request_id, '') FROM snapshots ORDER BY create_time DESC NULLS "
	    "LAST, created_at DESC LIMIT 1000", 0, NULL, why, sizeof(why), NULL);
	for (int i = 0; r != NULL && i < PQntuples(r); i++) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s}", "instance",
		    PQgetvalue(r, i, 0), "id", PQgetvalue(r, i, 1), "name",
		    PQgetvalue(r, i, 2), "description", PQgetvalue(r, i, 3), "memory",
		    strcmp(PQgetvalue(r, i, 4), "t") == 0, "quiesced",
		    strcmp(PQgetvalue(r, i, 5), "t") == 0, "power_state",
		    PQgetvalue(r, i, 6));
		for (int k = 7; k <= 9; k++)
			if (PQgetvalue(r, i, k)[0] != '\0')
				json_object_set_new(o, k == 7 ? "parent" : k == 8 ?
				    "create_time" : "request_id", json_string(PQgetvalue(r, i, k)));
		json_array_append_new(l, o);
	}
	PQclear(r);
	pgc_put(a->db, pg, pgc_broken(pg));
	return l;
}

static int
agent_http_status(void *arg, struct buf *out)
{
	struct agent *a = arg;
	struct ic_cache_stats st;
	struct ic_transfer tr[AGENT_MAX_TRANSFERS];
	json_t *root = json_object(), *cl = json_array(), *xf = json_array();
	size_t n = 0;
	char *text;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nclusters; i++) {
		const struct agent_cluster *c = &a->clusters[i];
		json_t *o = json_pack("{s:s, s:s?, s:b}", "name", c->name, "node",
		    c->nodename, "found", c->ref.value[0] != '\0');
		if (c->have_res)
			json_object_set_new(o, "resources", json_pack("{s:I, s:I, s:I, "
			    "s:I, s:I, s:i, s:i, s:s}", "vcpus", (json_int_t)c->res.vcpus,
			    "memory_mb", (json_int_t)c->res.memory_mb, "memory_mb_used",
			    (json_int_t)c->res.memory_mb_used, "local_gb",
			    (json_int_t)(c->res.disk_total_bytes >> 30), "free_disk_gb",
			    (json_int_t)(c->res.disk_free_bytes >> 30), "hosts_usable",
			    c->res.hosts_usable, "datastores_usable",
			    c->res.datastores_usable, "largest_datastore",
			    c->res.largest_datastore));
		json_array_append_new(cl, o);
	}
	pthread_mutex_unlock(&a->lock);
	json_object_set_new(root, "clusters", cl);
	json_object_set_new(root, "requests_in_flight", agent_inflight(a));
	memset(&st, 0, sizeof(st));
	if (a->cache != NULL) {
		ic_cache_stats(a->cache, &st);
		n = ic_cache_transfers(a->cache, tr, AGENT_MAX_TRANSFERS);
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(xf, json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}",
		    "kind", tr[i].kind, "image", tr[i].image_id, "datastore",
		    tr[i].datastore, "done", (json_int_t)tr[i].done, "total",
		    (json_int_t)tr[i].total, "percent", agent_percent(&tr[i])));
	json_object_set_new(root, "image_cache", json_pack("{s:b, s:s?, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:o}", "enabled", a->cache != NULL, "folder",
	    a->cache_folder, "downloads", (json_int_t)st.downloads, "uploads",
	    (json_int_t)st.uploads, "hits", (json_int_t)st.hits, "misses",
	    (json_int_t)st.misses, "resized", (json_int_t)st.resized, "purged",
	    (json_int_t)st.purged, "bytes", (json_int_t)st.bytes, "transfers", xf));
	json_object_set_new(root, "snapshots", agent_http_snapshots(a));
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	buf_puts(out, text);
	buf_puts(out, "\n");
	free(text);
	json_decref(root);
	return 200;
}

/* ---- uploads ---- */

struct agent_upload {
	struct agent		*a;
	struct ic_upload	*u;
	char			 id[65];
};

/* Map a vcdriver error to an HTTP status. */
static int
agent_http_code(const struct vcd_err *err)
{
	if (strcmp(err->fault, "AlreadyExists") == 0 ||
	    strcmp(err->fault, "TaskInProgress") == 0)
		return 409;
	if (strcmp(err->fault, "ChecksumMismatch") == 0 ||
	    strcmp(err->fault, "InvalidDiskFormat") == 0 || err->code == VCD_E_INVALID)
		return 400;
	if (err->code == VCD_E_NOTFOUND)
		return 404;
	if (strcmp(err->fault, "NoDiskSpace") == 0)
		return 507;
	return 503;
}

static void *
agent_upload_begin(void *arg, const char *id, const struct httpd_upload_info *info,
    int *status, char *msg, size_t msglen)
{
	struct agent *a = arg;
	struct agent_upload *au;
	struct ic_place pl;
	struct vcd_err err;
	char md5[33] = "", sha[129] = "", ds[256];
	const char *ck = info->checksum;
	int lc = -1;

	if (ck != NULL && strncmp(ck, "md5:", 4) == 0)
		snprintf(md5, sizeof(md5), "%s", ck + 4);
	else if (ck != NULL && strncmp(ck, "sha512:", 7) == 0)
		snprintf(sha, sizeof(sha), "%s", ck + 7);
	else if (ck != NULL) {
		*status = 400;
		snprintf(msg, msglen, "X-Image-Checksum must be md5:<hex> or sha512:<hex>");
		return NULL;
	}
	if (agent_cache_place(a, info->cluster, info->datastore, &pl, ds, sizeof(ds),
	    &err) < 0) {
		*status = agent_http_code(&err);
		snprintf(msg, msglen, "%s%s%s", err.fault, err.fault[0] ? ": " : "", err.msg);
		return NULL;
	}
	if (info->linked_clone != NULL)
		lc = strcmp(info->linked_clone, "true") == 0 ? 1 :
		    strcmp(info->linked_clone, "false") == 0 ? 0 : -1;
	{
		struct ic_upload_req r = { id, info->content_length, info->disk_type,
		    info->adapter_type, md5[0] ? md5 : NULL, sha[0] ? sha : NULL, lc };
		au = xcalloc(1, sizeof(*au));
		au->a = a;
		snprintf(au->id, sizeof(au->id), "%s", id);
		if ((au->u = ic_cache_upload_begin(a->cache, &pl, &r, &err)) == NULL) {
			*status = agent_http_code(&err);
			snprintf(msg, msglen, "%s%s%s", err.fault, err.fault[0] ? ": " : "",
			    err.msg);
			free(au);
			return NULL;
		}
	}
	log_info("imagecache: upload of image %s into [%s] started (%lld bytes)", id,
	    pl.datastore, (long long)info->content_length);
	return au;
}

static int
agent_upload_data(void *h, const char *data, size_t len)
{
	struct agent_upload *au = h;

	return ic_upload_write(au->u, data, len);
}

static int
agent_upload_end(void *h, bool complete, char *body, size_t bodylen)
{
	struct agent_upload *au = h;
	struct ic_image img;
	struct vcd_err err;
	int status = 201;

	if (ic_upload_end(au->u, complete, &img, &err) < 0) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "error", err.msg, "fault",
		    err.fault, "image", au->id);
		char *t = json_dumps(j, 0);
		status = agent_http_code(&err);
		snprintf(body, bodylen, "%s", t);
		log_warnx("imagecache: upload of image %s failed: %s", au->id, err.msg);
		free(t);
		json_decref(j);
	} else {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I}", "image", img.id,
		    "path", img.dspath, "disk_type", img.disk_type, "adapter_type",
		    img.adapter, "capacity_kb", (json_int_t)img.capacity_kb);
		char *t = json_dumps(j, 0);
		snprintf(body, bodylen, "%s", t);
		free(t);
		json_decref(j);
	}
	free(au);
	return status;
}

static int
agent_prefetch(void *arg, const char *id, const char *cluster, const char *datastore,
    char *body, size_t bodylen)
{
	struct agent *a = arg;
	struct ic_image img;
	struct vcd_err err;
	json_t *j;
	char *t;
	int status = 200;

	if (agent_cache_prefetch(a, id, cluster, datastore, &img, &err) < 0) {
		status = agent_http_code(&err);
		j = json_pack("{s:s, s:s, s:s}", "error", err.msg, "fault", err.fault,
		    "image", id);
	} else
		j = json_pack("{s:s, s:s, s:b, s:s, s:s, s:I}", "image", img.id, "path",
		    img.dspath, "cached_before", img.hit, "disk_type", img.disk_type,
		    "adapter_type", img.adapter, "capacity_kb", (json_int_t)img.capacity_kb);
	t = json_dumps(j, 0);
	snprintf(body, bodylen, "%s", t);
	free(t);
	json_decref(j);
	return status;
}

int
agent_http_start(struct agent *a)
{
	const struct cfg *cfg = a->cfg;
	static const char *const text = "text/plain; charset=utf-8";
	struct httpd_route routes[] = {
		{ "/healthz", text, agent_http_healthz, a, false },
		{ "/readyz", text, agent_http_readyz, a, false },
		{ "/metrics", "text/plain; version=0.0.4", agent_http_metrics, a, false },
		{ "/status", "application/json", agent_http_status, a, false },
	};
	struct httpd_conf hc = {
		.bind_host = cfg->health.bind_host,
		.bind_port = cfg->health.bind_port,
		.token = cfg->health.token,
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.upload_begin = agent_upload_begin,
		.upload_data = agent_upload_data,
		.upload_end = agent_upload_end,
		.upload_arg = a,
		.prefetch = agent_prefetch,
	};
	char why[512];

	if ((a->http = httpd_start(&hc, why, sizeof(why))) == NULL) {
		log_warnx("operator endpoints on %s:%d: %s", cfg->health.bind_host,
		    cfg->health.bind_port, why);
		return -1;
	}
	log_info("operator endpoints on http://%s:%d/ (healthz, readyz, metrics, "
	    "status, PUT /v1/images/<id>)", cfg->health.bind_host, httpd_port(a->http));
	return 0;
}

void
agent_http_stop(struct agent *a)
{
	httpd_stop(a->http);
	a->http = NULL;
}
