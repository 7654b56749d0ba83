/*
 * agent.c - the daemon: connect to vCenter, find the configured clusters,
 * then run the main loop with its periodic tick until told to stop.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "ledger.h"
#include "req.h"
#include "pgc.h"
#include "log.h"
#include "xmalloc.h"

struct agent *
agent_new(struct cfg *cfg)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->cfg = cfg;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->flight_lock, NULL);
	return a;
}

static void
agent_clusters_free(struct agent *a)
{
	for (size_t i = 0; i < a->nclusters; i++) {
		free(a->clusters[i].name);
		free(a->clusters[i].nodename);
		free(a->clusters[i].published);
	}
	free(a->clusters);
	a->clusters = NULL;
	a->nclusters = 0;
}

void
agent_free(struct agent *a)
{
	if (a == NULL)
		return;
	agent_kafka_stop(a);	/* first: workers and endpoints use the cache */
	agent_http_stop(a);
	agent_cache_stop(a);
	vcd_close(a->vc);
	agent_clusters_free(a);
	cfg_free(a->cfg);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->flight_lock);
	free(a);
}

/* Match the configured cluster names against vCenter's clusters. */
static int
agent_find_clusters(struct agent *a)
{
	const struct cfg_strlist *want = &a->cfg->vmware.cluster_name;
	struct vcd_cluster *found = NULL;
	struct vcd_err err;
	size_t nfound = 0;
	char msg[800];
	int missing = 0, ret = -1;

	if (vcd_clusters_list(a->vc, &found, &nfound, &err) < 0) {
		log_warnx("cannot list the clusters of %s: %s", a->cfg->vmware.host_ip,
		    vcd_strerror(&err, msg, sizeof(msg)));
		goto out;
	}
	agent_clusters_free(a);
	a->clusters = xcalloc(want->n, sizeof(*a->clusters));
	a->nclusters = want->n;
	for (size_t i = 0; i < want->n; i++) {
		struct agent_cluster *c = &a->clusters[i];
		size_t j;

		c->name = xstrdup(want->v[i]);
		for (j = 0; j < nfound; j++)
			if (strcmp(found[j].name, want->v[i]) == 0)
				break;
		if (j == nfound) {
			log_warnx("cluster \"%s\" (vmware.cluster_name) was not found "
			    "in vCenter %s", want->v[i], a->cfg->vmware.host_ip);
			missing++;
			continue;
		}
		c->ref = found[j].ref;
		c->num_hosts = found[j].num_hosts;
		c->nodename = xasprintf("%s.%s", c->ref.value,
		    vcd_about(a->vc)->instance_uuid);
		log_info("cluster \"%s\": %s, %d hosts, node %s", c->name,
		    c->ref.value, c->num_hosts, c->nodename);
	}
	if (missing == 0)
		log_info("serving %zu cluster(s) of %zu in vCenter %s", want->n,
		    nfound, a->cfg->vmware.host_ip);
	ret = 0;
out:
	vcd_clusters_free(found, nfound);
	return ret;
}

int
agent_connect(struct agent *a)
{
	const struct cfg *cfg = a->cfg;
	struct vcd_options opt = {
		.host = cfg->vmware.host_ip,
		.port = cfg->vmware.host_port,
		.username = cfg->vmware.host_username,
		.password = cfg->vmware.host_password,
		.ca_file = cfg->vmware.ca_file,
		.insecure = cfg->vmware.insecure,
		.proxy = cfg->vmware.proxy,
		.connect_timeout = cfg->vmware.connect_timeout,
		.call_timeout = cfg->vmware.call_timeout,
		.api_retry_count = cfg->vmware.api_retry_count,
		.pool_size = cfg->vmware.connection_pool_size,
		.task_poll_interval = cfg->vmware.task_poll_interval,
		.task_timeout = cfg->vmware.task_timeout,
		.auto_answer = cfg->vmware.auto_answer,
	};
	struct vcd_err err;
	char msg[800];
	const struct vcd_about *about;

	if (vcd_connect(&opt, &a->vc, &err) < 0) {
		log_warnx("cannot reach vCenter %s:%d: %s", cfg->vmware.host_ip,
		    cfg->vmware.host_port, vcd_strerror(&err, msg, sizeof(msg)));
		return -1;
	}
	about = vcd_about(a->vc);
	log_info("connected to %s (%s %s, API %s, instance %s)",
	    cfg->vmware.host_ip, about->name, about->version, about->api_version,
	    about->instance_uuid);
	if (strcmp(about->api_type, "VirtualCenter") != 0)
		log_warnx("%s is a %s, not a vCenter: clusters may be missing",
		    cfg->vmware.host_ip, about->api_type);
	if (vcd_login(a->vc, &err) < 0) {
		log_warnx("cannot log in to vCenter %s: %s", cfg->vmware.host_ip,
		    vcd_strerror(&err, msg, sizeof(msg)));
		return -1;
	}
	if (agent_find_clusters(a) < 0)
		return -1;
	(void)agent_cache_start(a);	/* retried by the cron tick */
	if (agent_http_start(a) < 0)
		return -1;
	return agent_kafka_start(a);
}

/*
 * Publish C's resource record on the results topic (event resources_updated)
 * when it differs from the one last published: the scheduler learns of a
 * change without polling compute_nodes.
 */
static void
agent_node_publish(struct agent *a, PGconn *pg, struct agent_cluster *c)
{
	struct req_outcome o = { "resources_updated", NULL, NULL, NULL, NULL, NULL, NULL };
	char why[512], *rec = NULL, *ev = NULL, *text = NULL;
	json_t *j = NULL, *res = NULL;

	if (a->producer == NULL || ledger_node_json(pg, c->nodename, &rec, why,
	    sizeof(why)) != 1)
		goto out;
	if (c->published != NULL && strcmp(c->published, rec) == 0)
		goto out;
	ev = req_event(NULL, "resource_update", c->nodename, NULL, &o);
	if ((j = json_loads(ev, 0, NULL)) == NULL ||
	    (res = json_loads(rec, 0, NULL)) == NULL)
		goto out;
	json_object_set_new(j, "resources", res);
	res = NULL;
	text = json_dumps(j, JSON_COMPACT);
	agent_event_raw(a, c->nodename, text);
	free(c->published);
	c->published = rec;
	rec = NULL;
out:
	json_decref(res);
	json_decref(j);
	free(text);
	free(ev);
	free(rec);
}

/* The cluster's resource record in compute_nodes, where the scheduler reads
 * it; a database that is down is retried at the next refresh. */
static void
agent_node_record(struct agent *a, struct agent_cluster *c)
{
	char why[512];
	PGconn *pg;

	if (a->db == NULL || a->cache == NULL)
		return;
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("cluster \"%s\": resource record not written: %s", c->name, why);
		return;
	}
	if (ledger_node_update(pg, c->nodename, c->name, c->ref.value,
	    a->cfg->vmware.host_ip, a->cfg->def.host != NULL ? a->cfg->def.host :
	    "vcagent", &c->res, a->cfg, why, sizeof(why)) < 0)
		log_warnx("cluster \"%s\": resource record not written: %s", c->name, why);
	else
		agent_node_publish(a, pg, c);
	pgc_put(a->db, pg, pgc_broken(pg));
}

/* Refresh every found cluster's resource record and log what changed. */
static void
agent_refresh(struct agent *a)
{
	struct vcd_resources r;
	struct vcd_err err;
	char msg[800];

	for (size_t i = 0; i < a->nclusters; i++) {
		struct agent_cluster *c = &a->clusters[i];

		if (c->ref.value[0] == '\0')
			continue;
		if (vcd_cluster_resources(a->vc, &c->ref, a->cfg->vmware.datastore_regex,
		    &r, &err) < 0) {
			log_warnx("cluster \"%s\": resource refresh failed: %s", c->name,
			    vcd_strerror(&err, msg, sizeof(msg)));
			continue;
		}
		if (!c->have_res || memcmp(&r, &c->res, sizeof(r)) != 0)
			log_info("cluster \"%s\": %lld vCPUs on %d/%d hosts (largest "
			    "%lld), %lld MB memory (%lld used), %lld GB disk (%lld GB "
			    "free, largest %s with %lld GB) on %d/%d datastores",
			    c->name, (long long)r.vcpus, r.hosts_usable, r.hosts_total,
			    (long long)r.max_vcpus_per_host, (long long)r.memory_mb,
			    (long long)r.memory_mb_used,
			    (long long)(r.disk_total_bytes >> 30),
			    (long long)(r.disk_free_bytes >> 30),
			    r.largest_datastore[0] ? r.largest_datastore : "-",
			    (long long)(r.max_disk_free_bytes >> 30),
			    r.datastores_usable, r.datastores_total);
		pthread_mutex_lock(&a->lock);
		c->res = r;
		c->have_res = true;
		pthread_mutex_unlock(&a->lock);
		agent_node_record(a, c);
	}
}

/* After a worker changed what the clusters hold: their records' usage from
 * the instances rows (the vCenter figures wait for the next refresh). */
static void
agent_usage(struct agent *a)
{
	char why[512];
	PGconn *pg;

	if (a->db == NULL || a->cache == NULL)
		return;
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("resource records' usage not written: %s", why);
		return;
	}
	for (size_t i = 0; i < a->nclusters; i++) {
		struct agent_cluster *c = &a->clusters[i];

		if (c->nodename == NULL || !c->have_res)
			continue;
		if (ledger_node_usage(pg, c->nodename, why, sizeof(why)) < 0) {
			log_warnx("cluster \"%s\": usage not written: %s", c->name, why);
			break;
		}
		agent_node_publish(a, pg, c);
	}
	pgc_put(a->db, pg, pgc_broken(pg));
}

/* The one place for periodic work; later issues hang their jobs here. */
static void
agent_cron(struct agent *a, unsigned long tick)
{
	struct vcd_err err;
	char msg[800];
	time_t now = time(NULL);

	(void)tick;
	if (now >= a->next_refresh) {
		atomic_store(&a->usage_changed, false);
		agent_refresh(a);
		a->next_refresh = now + a->cfg->def.update_resources_interval;
	} else if (atomic_exchange(&a->usage_changed, false))
		agent_usage(a);
	if (a->cache != NULL && (!a->synced_once || (a->cfg->def.sync_power_state_interval > 0 &&
	    now >= a->next_sync))) {
		agent_sync(a, !a->synced_once);
		a->synced_once = true;
		a->next_sync = now + a->cfg->def.sync_power_state_interval;
	}
	if (a->cache == NULL && a->cfg->database.connection != NULL &&
	    now >= a->next_db_try)
		(void)agent_cache_start(a);
	if (a->cache != NULL && a->cfg->image_cache.manager_interval > 0 &&
	    now >= a->next_purge) {
		if (a->next_purge != 0)	/* not at start: images were just found */
			agent_cache_purge(a);
		a->next_purge = now + a->cfg->image_cache.manager_interval;
	}
	if (vcd_keepalive(a->vc, a->cfg->vmware.keepalive_interval, &err) < 0)
		log_warnx("vCenter keep-alive failed: %s",
		    vcd_strerror(&err, msg, sizeof(msg)));
}

int
agent_run(struct agent *a)
{
	const struct timespec period = { 0, 100 * 1000 * 1000 };	/* 100 ms */
	unsigned long tick = 0;

	while (!a->stop) {
		if (a->reload) {
			char *errors = NULL;
			struct cfg *next;

			a->reload = 0;
			if ((next = cfg_load(a->cfg->path, &errors)) == NULL) {
				log_warnx("reload of %s failed, keeping the running "
				    "configuration:\n%s", a->cfg->path, errors);
				free(errors);
			} else {
				cfg_free(a->cfg);
				a->cfg = next;
				cfg_apply(a->cfg);
				log_info("configuration %s reloaded", a->cfg->path);
			}
		}
		agent_cron(a, tick++);
		if (a->consumer != NULL)
			agent_kafka_poll(a, 100);
		else
			nanosleep(&period, NULL);
	}
	log_info("shutting down");
	agent_kafka_stop(a);
	return 0;
}
