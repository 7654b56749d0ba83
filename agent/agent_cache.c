/*
 * agent_cache.c - the image cache inside the daemon: the database it keeps
 * its rows in, where images go, prefetch, and the purge on the cron tick.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "db.h"
#include "log.h"
#include "pgc.h"
#include "xmalloc.h"

/*
 * Open the connections the pool keeps, each with the catalogs of the
 * tables a request touches read once, so that the first burst after
 * start-up does not pay for sessions and cold caches (measured: the first
 * round of 160 spawns at 16 workers spent ~0.9 s of CPU more in new
 * PostgreSQL backends than the next).  Once; a failure only costs that.
 */
static void
agent_cache_warm(struct agent *a)
{
	char why[512];
	int n;

	a->db_warm = true;
	n = pgc_pool_warm(a->db, "SELECT (SELECT count(*) "
	    "FROM requests WHERE request_id = '') + (SELECT count(*) FROM "
	    "instances WHERE uuid = '00000000-0000-0000-0000-000000000000') + "
	    "(SELECT count(*) FROM image_cache WHERE false) + (SELECT count(*) "
	    "FROM compute_nodes WHERE node = '')", why, sizeof(why));
	if (n < 0)
		log_warnx("database: warming the pool: %s", why);
	else
		log_info("database: %d connection(s) opened ahead of use", n);
}

int
agent_cache_start(struct agent *a)
{
	const struct cfg *cfg = a->cfg;
	char why[512];
	PGconn *pg;
	int from, to, ret = -1;

	if (cfg->database.connection == NULL) {
		log_warnx("database.connection is not set: no image cache, no state");
		return 0;
	}
	if (a->db == NULL) {
		/*
		 * Kept open: what the workers use at once (a lease each, and the
		 * image cache's connection beside it) and the main, cron and
		 * endpoint threads, or max_pool_size if more, within the cap
		 * (max_pool_size + max_overflow): no connection is closed and
		 * opened again between two requests.
		 */
		int workers = cfg->def.max_concurrent_builds > 0 ?
		    cfg->def.max_concurrent_builds : 10, keep = 2 * workers + 3;

		if (keep < cfg->database.max_pool_size)
			keep = cfg->database.max_pool_size;
		if (cfg->database.max_overflow >= 0 && keep >
		    cfg->database.max_pool_size + cfg->database.max_overflow)
			keep = cfg->database.max_pool_size + cfg->database.max_overflow;
		a->db = pgc_pool_new(cfg->database.connection, keep);
		pgc_pool_cap(a->db, keep, cfg->database.max_overflow < 0 ? -1 :
		    cfg->database.max_pool_size + cfg->database.max_overflow - keep,
		    cfg->database.pool_timeout);
	}
	a->next_db_try = time(NULL) + (cfg->database.retry_interval > 0 ?
	    cfg->database.retry_interval : 10);
	if ((pg = pgc_lease(a->db, why, sizeof(why))) == NULL) {	/* the migration's lock */
		/* oslo.db's max_retries: connection retries during start-up */
		if (!a->db_reached && cfg->database.max_retries >= 0 &&
		    a->db_retries++ >= cfg->database.max_retries) {
			log_warnx("database: %s; giving up after %d retries "
			    "(database.max_retries): stopping", why, a->db_retries - 1);
			atomic_store(&a->failed, true);
			atomic_store(&a->stop, true);
			return -1;
		}
		log_warnx("database: %s (retrying every %d s)", why,
		    cfg->database.retry_interval > 0 ? cfg->database.retry_interval : 10);
		return -1;
	}
	a->db_reached = true;
	if (db_migrate(pg, &from, &to, why, sizeof(why)) < 0) {
		log_warnx("database: %s", why);
		goto out;
	}
	log_info("database: schema version %d%s", to, from != to ? " (upgraded)" : "");
	if (a->cache != NULL) {
		ret = 0;
		goto out;
	}
	a->glance = (struct ic_glance){ (const char *const *)cfg->glance.api_servers.v,
	    cfg->glance.api_servers.n, cfg->glance.num_retries, cfg->glance.cafile,
	    cfg->glance.insecure, cfg->vmware.image_transfer_timeout_secs };
	a->cache_folder = ic_cache_folder(cfg->vmware.cache_prefix,
	    cfg->image_cache.subdirectory_name);
	a->cache = ic_cache_new_pool(a->vc, &a->glance, a->cache_folder, a->db);
	a->next_purge = 0;
	ret = 0;
out:
	pgc_put(a->db, pg, pgc_broken(pg));
	if (ret == 0 && !a->db_warm)
		agent_cache_warm(a);
	return ret;
}

void
agent_cache_stop(struct agent *a)
{
	ic_cache_free(a->cache);
	a->cache = NULL;
	pgc_pool_free(a->db);
	a->db = NULL;
	free(a->cache_folder);
	a->cache_folder = NULL;
}

/* The cluster named NAME (NULL: the first found), with its placement.
 * Called with a->lock held. */
static struct agent_cluster *
agent_cache_cluster(struct agent *a, const char *name, struct vcd_err *err)
{
	for (size_t i = 0; i < a->nclusters; i++) {
		struct agent_cluster *c = &a->clusters[i];

		if (c->ref.value[0] == '\0' || (name != NULL && strcmp(c->name, name) != 0))
			continue;
		if (!c->have_pl) {
			if (vcd_cluster_placement(a->vc, &c->ref, &c->pl, err) < 0)
				return NULL;
			c->have_pl = true;
		}
		return c;
	}
	vcd_err_set(err, VCD_E_NOTFOUND, NULL, name != NULL ? name : "", name != NULL ?
	    "cluster \"%s\" is not one this agent serves" : "%sno cluster is "
	    "available", name != NULL ? name : "");
	return NULL;
}

int
agent_cache_place(struct agent *a, const char *cluster, const char *datastore,
    struct ic_place *pl, char *dsbuf, size_t dslen, struct vcd_err *err)
{
	struct agent_cluster *c;
	int ret = -1;

	vcd_err_clear(err);
	if (a->cache == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", NULL, "the image "
		    "cache needs its database (database.connection), not reachable yet");
		return -1;
	}
	pthread_mutex_lock(&a->lock);
	if ((c = agent_cache_cluster(a, cluster, err)) == NULL)
		goto out;
	if (datastore == NULL || datastore[0] == '\0') {
		if (!c->have_res || c->res.largest_datastore[0] == '\0') {
			vcd_err_set(err, VCD_E_NOTFOUND, NULL, c->name, "cluster \"%s\" has "
			    "no usable datastore (datastore_regex, maintenance)", c->name);
			goto out;
		}
		datastore = c->res.largest_datastore;
	}
	snprintf(dsbuf, dslen, "%s", datastore);
	*pl = (struct ic_place){ c->pl.datacenter_name, &c->pl.datacenter, dsbuf,
	    &c->pl.pool, &c->pl.folder };
	ret = 0;
out:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

int
agent_cache_prefetch(struct agent *a, const char *id, const char *cluster,
    const char *datastore, struct ic_image *img, struct vcd_err *err)
{
	struct ic_place pl;
	struct cfg *cfg = agent_cfg_get(a);
	char ds[256];
	int limit = cfg->image_cache.precache_concurrency, ret = -1;

	agent_cfg_put(cfg);
	/* image_cache.precache_concurrency: prefetches at once (queued and HTTP) */
	pthread_mutex_lock(&a->precache_lock);
	if (a->precaching >= limit)
		log_info("prefetch of image %s waits: %d running "
		    "(image_cache.precache_concurrency %d)", id, a->precaching, limit);
	while (a->precaching >= limit)
		pthread_cond_wait(&a->precache_cond, &a->precache_lock);
	a->precaching++;
	pthread_mutex_unlock(&a->precache_lock);
	if (agent_cache_place(a, cluster, datastore, &pl, ds, sizeof(ds), err) == 0)
		ret = ic_cache_ensure(a->cache, id, &pl, img, err);
	pthread_mutex_lock(&a->precache_lock);
	a->precaching--;
	pthread_cond_broadcast(&a->precache_cond);
	pthread_mutex_unlock(&a->precache_lock);
	return ret;
}

void
agent_cache_purge(struct agent *a, const struct cfg *cfg)
{
	struct ic_purge_conf pc = {
		cfg->image_cache.remove_unused_original_minimum_age_seconds,
		cfg->image_cache.remove_unused_resized_minimum_age_seconds,
		cfg->image_cache.purge_dry_run || !cfg->image_cache.remove_unused_base_images,
	};
	struct vcd_err err;
	char msg[800];

	for (size_t i = 0; i < a->nclusters; i++) {
		struct agent_cluster *c = &a->clusters[i];
		char **names = NULL;
		size_t n = 0;
		bool seen = false;

		pthread_mutex_lock(&a->lock);
		c = agent_cache_cluster(a, c->name, &err);
		pthread_mutex_unlock(&a->lock);
		if (c == NULL)
			continue;
		/* one pass per datacenter */
		for (size_t j = 0; j < i; j++)
			if (a->clusters[j].have_pl && strcmp(a->clusters[j].pl.datacenter_name,
			    c->pl.datacenter_name) == 0)
				seen = true;
		if (seen)
			continue;
		if (ic_cache_datastores(a->cache, c->pl.datacenter_name, &names, &n,
		    &err) < 0) {
			log_warnx("imagecache: purge: %s", vcd_strerror(&err, msg, sizeof(msg)));
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			struct ic_place pl = { c->pl.datacenter_name, &c->pl.datacenter,
			    names[k], &c->pl.pool, &c->pl.folder };
			struct ic_purged *list = NULL;
			size_t np = 0;

			if (ic_cache_purge(a->cache, &pl, &pc, &list, &np, &err) < 0)
				log_warnx("imagecache: purge of [%s]: %s", names[k],
				    vcd_strerror(&err, msg, sizeof(msg)));
			else if (np > 0)
				log_info("imagecache: purge of [%s]: %zu disk(s) %s", names[k],
				    np, pc.dry_run ? "would go (dry run)" : "removed");
			free(list);
			free(names[k]);
		}
		free(names);
	}
}
