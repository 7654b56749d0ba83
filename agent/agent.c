/*
 * agent.c - the daemon: connect to vCenter, find the configured clusters,
 * then run the main loop (Kafka, signals, reload) and the cron thread (the
 * periodic jobs) until told to stop.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <jansson.h>

#include "agent.h"
#include "httpd.h"
#include "ledger.h"
#include "outbox.h"
#include "req.h"
#include "pgc.h"
#include "log.h"
#include "xmalloc.h"

static void agent_cron_stop(struct agent *a);

struct agent *
agent_new(struct cfg *cfg, int sigfd)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->cfg = cfg;
	a->lease = agent_lease_new();
	a->live = cfg_ref(cfg);
	a->sigfd = sigfd;
	atomic_init(&a->stop, false);
	pthread_mutex_init(&a->cfg_lock, NULL);
	pthread_mutex_init(&a->cron_lock, NULL);
	pthread_cond_init(&a->cron_cond, NULL);
	pthread_mutex_init(&a->precache_lock, NULL);
	pthread_cond_init(&a->precache_cond, NULL);
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->flight_lock, NULL);
	agent_outbox_init(a);
	return a;
}

struct cfg *
agent_cfg_get(struct agent *a)
{
	struct cfg *cfg;

	pthread_mutex_lock(&a->cfg_lock);
	cfg = cfg_ref(a->live);
	pthread_mutex_unlock(&a->cfg_lock);
	return cfg;
}

void
agent_cfg_put(struct cfg *cfg)
{
	cfg_free(cfg);
}

void
agent_reload(struct agent *a)
{
	char *errors = NULL, *restart = NULL, *live = NULL;
	struct cfg *next, *old;

	if ((next = cfg_load(a->cfg->path, &errors)) == NULL) {
		log_warnx("reload of %s failed, keeping the running configuration:\n%s",
		    a->cfg->path, errors);
		free(errors);
		return;
	}
	if (a->debug)
		next->def.debug = true;		/* -d stays */
	pthread_mutex_lock(&a->cfg_lock);
	cfg_reload_merge(next, a->live, &restart, &live);
	old = a->live;
	a->live = next;
	pthread_mutex_unlock(&a->cfg_lock);
	cfg_apply(next);
	if (a->http != NULL)
		httpd_set_token(a->http, next->health.token);
	if (restart != NULL)
		log_warnx("reload: changed, but needs a restart (the running value "
		    "stays): %s", restart);
	log_info("configuration %s reloaded%s%s", a->cfg->path, live != NULL ?
	    "; applied: " : " (no live option changed)", live != NULL ? live : "");
	cfg_free(old);		/* readers holding it keep it until they put it */
	free(restart);
	free(live);
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
	agent_cron_stop(a);	/* first: the cron publishes and uses the cache */
	agent_kafka_stop(a);	/* then: workers and endpoints use the cache */
	agent_outbox_tick(a);	/* the last acknowledgements */
	agent_http_stop(a);
	agent_lease_stop(a);
	agent_cache_stop(a);
	agent_lease_free(a->lease);
	vcd_close(a->vc);
	agent_clusters_free(a);
	cfg_free(a->live);
	cfg_free(a->cfg);
	if (a->sigfd >= 0)
		close(a->sigfd);
	pthread_mutex_destroy(&a->cfg_lock);
	pthread_mutex_destroy(&a->cron_lock);
	pthread_cond_destroy(&a->cron_cond);
	pthread_mutex_destroy(&a->precache_lock);
	pthread_cond_destroy(&a->precache_cond);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->flight_lock);
	agent_outbox_free(a);
	free(a);
}

/*
 * Cluster F is in the datacenter vmware.uri names (any, when it names
 * none): its placement (pool, folder, datacenter), read to tell, is kept
 * in C.  A cluster whose placement cannot be read is taken as not in it.
 */
static bool
agent_cluster_in_dc(struct agent *a, struct agent_cluster *c,
    const struct vcd_cluster *f)
{
	const char *dc = a->cfg->vmware.datacenter;
	struct vcd_err err;
	char msg[800];

	if (dc == NULL)
		return true;
	if (vcd_cluster_placement(a->vc, &f->ref, &c->pl, &err) < 0) {
		log_warnx("cluster \"%s\" (%s): %s", f->name, f->ref.value,
		    vcd_strerror(&err, msg, sizeof(msg)));
		return false;
	}
	c->have_pl = strcmp(c->pl.datacenter_name, dc) == 0;
	return c->have_pl;
}

/* Match the configured cluster names against vCenter's clusters. */
static int
agent_find_clusters(struct agent *a)
{
	const struct cfg_strlist *want = &a->cfg->vmware.cluster_name;
	const char *dc = a->cfg->vmware.datacenter;
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
			if (strcmp(found[j].name, want->v[i]) == 0 &&
			    agent_cluster_in_dc(a, c, &found[j]))
				break;
		if (j == nfound) {
			log_warnx("cluster \"%s\" (%s) was not found in %s%s%svCenter %s",
			    want->v[i], dc != NULL ? "vmware.uri" : "vmware.cluster_name",
			    dc != NULL ? "datacenter \"" : "", dc != NULL ? dc : "",
			    dc != NULL ? "\" of " : "", a->cfg->vmware.host_ip);
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

/*
 * This machine's address as nova's my_ip defaults to it: the one its
 * packets to vCenter leave from (a UDP socket's connect sends nothing).
 */
static void
agent_my_ip(struct agent *a)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[16];
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	snprintf(port, sizeof(port), "%d", a->cfg->vmware.host_port);
	if (getaddrinfo(a->cfg->vmware.host_ip, port, &hints, &res) != 0 || res == NULL)
		goto out;
	if ((fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto out;
	if (getnameinfo((struct sockaddr *)&ss, sl, a->my_ip, sizeof(a->my_ip), NULL,
	    0, NI_NUMERICHOST) != 0)
		a->my_ip[0] = '\0';
out:
	if (fd >= 0)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
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
		.call_deadline = cfg->vmware.call_deadline,
		.api_retry_count = cfg->vmware.api_retry_count,
		.pool_size = cfg->vmware.connection_pool_size,
		.task_poll_interval = cfg->vmware.task_poll_interval,
		.task_timeout = cfg->vmware.task_timeout,
		.auto_answer = cfg->vmware.auto_answer,
		.max_objects = cfg->vmware.maximum_objects,
	};
	struct vcd_err err;
	char msg[800];
	const struct vcd_about *about;

	if (vcd_connect(&opt, &a->vc, &err) < 0) {
		log_warnx("cannot reach vCenter %s:%d: %s", cfg->vmware.host_ip,
		    cfg->vmware.host_port, vcd_strerror(&err, msg, sizeof(msg)));
		return -1;
	}
	agent_my_ip(a);
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
	/* nova's PbmDefaultPolicyDoesNotExist: said now, not at the first
	 * spawn (which then fails with PbmProfileNotFound, named) */
	if (cfg->vmware.pbm_enabled) {
		char id[VCD_PBM_IDLEN];

		if (vcd_pbm_profile(a->vc, cfg->vmware.pbm_default_policy, id, &err) < 0)
			log_warnx("vmware.pbm_default_policy: %s",
			    vcd_strerror(&err, msg, sizeof(msg)));
		else
			log_info("storage policy \"%s\" (vmware.pbm_default_policy) is "
			    "%s", cfg->vmware.pbm_default_policy, id);
	}
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
	struct req_outcome o = { "resources_updated", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
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
agent_node_record(struct agent *a, const struct cfg *cfg, struct agent_cluster *c)
{
	char why[512];
	PGconn *pg;

	if (a->db == NULL || a->cache == NULL || !agent_lease_held(a, c->nodename))
		return;		/* another group's record to write */
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("cluster \"%s\": resource record not written: %s", c->name, why);
		return;
	}
	if (ledger_node_update(pg, c->nodename, c->name, c->ref.value,
	    a->cfg->vmware.host_ip, a->cfg->def.host != NULL ? a->cfg->def.host :
	    "vcagent", cfg->def.my_ip != NULL ? cfg->def.my_ip : a->my_ip[0] != '\0' ?
	    a->my_ip : NULL, &c->res, cfg, why, sizeof(why)) < 0)
		log_warnx("cluster \"%s\": resource record not written: %s", c->name, why);
	else
		agent_node_publish(a, pg, c);
	pgc_put(a->db, pg, pgc_broken(pg));
}

/* Refresh every found cluster's resource record and log what changed. */
static void
agent_refresh(struct agent *a, const struct cfg *cfg)
{
	struct vcd_resources r;
	struct vcd_err err;
	char msg[800];
	bool changed;

	for (size_t i = 0; i < a->nclusters; i++) {
		struct agent_cluster *c = &a->clusters[i];

		if (c->ref.value[0] == '\0')
			continue;
		if (vcd_cluster_resources(a->vc, &c->ref, cfg->vmware.datastore_regex,
		    &r, &err) < 0) {
			log_warnx("cluster \"%s\": resource refresh failed: %s", c->name,
			    vcd_strerror(&err, msg, sizeof(msg)));
			continue;
		}
		changed = !c->have_res || memcmp(&r, &c->res, sizeof(r)) != 0;
		if (changed)
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
		if (changed && r.datastores_regex_errors > 0)
			log_warnx("cluster \"%s\": vmware.datastore_regex could "
			    "not be matched against %d datastore name(s), not used "
			    "(%s)", c->name, r.datastores_regex_errors, r.regex_error);
		pthread_mutex_lock(&a->lock);
		c->res = r;
		c->have_res = true;
		pthread_mutex_unlock(&a->lock);
		agent_node_record(a, cfg, c);
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

		if (c->nodename == NULL || !c->have_res || !agent_lease_held(a, c->nodename))
			continue;
		if (ledger_node_usage(pg, c->nodename, why, sizeof(why)) < 0) {
			log_warnx("cluster \"%s\": usage not written: %s", c->name, why);
			break;
		}
		agent_node_publish(a, pg, c);
	}
	pgc_put(a->db, pg, pgc_broken(pg));
}

/*
 * The periodic jobs, on the cron thread, one tick every 100 ms with the
 * tick's configuration snapshot CFG.  Each job checks its own deadline;
 * a new periodic job goes here, as one more block.  A job may block in a
 * slow vCenter or database call: only the next jobs wait, never Kafka.
 */
static void
agent_cron(struct agent *a, const struct cfg *cfg)
{
	struct vcd_err err;
	char msg[800];
	time_t now = time(NULL);

	agent_lease_renew(a);	/* cluster leases (lease.c) */
	agent_outbox_tick(a);	/* final events Kafka acknowledged (outbox.c) */
	/* the clusters' resource records */
	if (now >= a->next_refresh) {
		atomic_store(&a->usage_changed, false);
		agent_refresh(a, cfg);
		a->next_refresh = now + cfg->def.update_resources_interval;
	} else if (atomic_exchange(&a->usage_changed, false))
		agent_usage(a);
	/* power states from vCenter */
	if (a->cache != NULL && (!a->synced_once || (cfg->def.sync_power_state_interval > 0 &&
	    now >= a->next_sync))) {
		agent_sync(a, !a->synced_once);
		a->synced_once = true;
		a->next_sync = now + cfg->def.sync_power_state_interval;
	}
	/* nova's resize_confirm_window: resizes left unconfirmed */
	if (a->cache != NULL && cfg->def.resize_confirm_window > 0 &&
	    now >= a->next_confirm) {
		agent_resize_autoconfirm(a, cfg);
		a->next_confirm = now + (cfg->def.resize_confirm_window < 10 ?
		    cfg->def.resize_confirm_window : 10);
	}
	/* the database, until it is reachable */
	if (a->cache == NULL && a->cfg->database.connection != NULL &&
	    now >= a->next_db_try)
		(void)agent_cache_start(a);
	/* the image cache's purge policy */
	if (a->cache != NULL && cfg->image_cache.manager_interval > 0 &&
	    now >= a->next_purge) {
		if (a->next_purge != 0)	/* not at start: images were just found */
			agent_cache_purge(a, cfg);
		a->next_purge = now + cfg->image_cache.manager_interval;
	}
	/* the vCenter session */
	if (vcd_keepalive(a->vc, cfg->vmware.keepalive_interval, &err) < 0)
		log_warnx("vCenter keep-alive failed: %s",
		    vcd_strerror(&err, msg, sizeof(msg)));
}

static void
agent_cron_tick(struct agent *a)
{
	struct cfg *cfg = agent_cfg_get(a);

	agent_cron(a, cfg);
	agent_cfg_put(cfg);
}

static void *
agent_cron_main(void *arg)
{
	struct agent *a = arg;
	struct timespec until;

	pthread_mutex_lock(&a->cron_lock);
	while (!atomic_load(&a->stop)) {
		pthread_mutex_unlock(&a->cron_lock);
		agent_cron_tick(a);
		pthread_mutex_lock(&a->cron_lock);
		if (atomic_load(&a->stop))
			break;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&a->cron_cond, &a->cron_lock, &until);
	}
	pthread_mutex_unlock(&a->cron_lock);
	return NULL;
}

/* Wake the cron thread to stop and wait for it (it ends its current job). */
static void
agent_cron_stop(struct agent *a)
{
	if (!a->cron_started)
		return;
	pthread_mutex_lock(&a->cron_lock);
	atomic_store(&a->stop, true);
	pthread_cond_broadcast(&a->cron_cond);
	pthread_mutex_unlock(&a->cron_lock);
	pthread_join(a->cron, NULL);
	a->cron_started = false;
}

/* The signals, all blocked in every thread and read here only. */
static void
agent_signals(struct agent *a)
{
	struct signalfd_siginfo si;

	if (a->sigfd < 0)
		return;
	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			agent_sd_notify("RELOADING=1");
			agent_reload(a);
			if (a->sd_ready)	/* not before it was ready */
				agent_sd_notify("READY=1");
		} else {
			log_info("%s received", si.ssi_signo == SIGINT ? "SIGINT" :
			    "SIGTERM");
			agent_sd_notify("STOPPING=1");
			atomic_store(&a->stop, true);
		}
	}
}

int
agent_run(struct agent *a)
{
	int e;

	/* the first tick before any request: resources and placement known */
	agent_sd_init(a);
	agent_signals(a);
	if (!atomic_load(&a->stop))
		agent_cron_tick(a);
	if ((e = pthread_create(&a->cron, NULL, agent_cron_main, a)) != 0) {
		log_warnx("cannot start the cron thread: %s", strerror(e));
		agent_kafka_stop(a);
		return 1;
	}
	a->cron_started = true;
	while (!atomic_load(&a->stop)) {
		agent_signals(a);
		if (atomic_load(&a->stop))
			break;
		agent_sd_tick(a);
		if (a->consumer != NULL) {
			agent_kafka_poll(a, 100);
		} else {
			struct pollfd pfd = { a->sigfd, POLLIN, 0 };
			(void)poll(&pfd, a->sigfd >= 0 ? 1 : 0, 100);
		}
	}
	log_info("shutting down");
	agent_cron_stop(a);	/* first: its jobs publish through the producer */
	agent_kafka_stop(a);
	agent_outbox_tick(a);	/* the last acknowledgements */
	return atomic_load(&a->failed) ? 1 : 0;
}
