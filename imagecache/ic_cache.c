/*
 * ic_cache.c - one download per image, whoever asks.
 *
 * ic_cache_ensure() makes sure an image is in a datastore's cache.  Within
 * one agent, concurrent callers for the same image and datastore wait for
 * the first one's download (a single-flight table).  Across agents that
 * share the datastore (same cache_prefix), the one fetching holds a
 * PostgreSQL advisory lock named after the datastore and the cache path, on
 * a connection of its own for the fetch, so different images are fetched
 * in parallel;
 * the others block on it and then find the image there.  Nothing depends on
 * local files, so agents on different machines coordinate too.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "imagecache.h"
#include "log.h"
#include "xmalloc.h"

/* A download in progress in this agent. */
struct ic_flight {
	char			*key;		/* "datastore|path" */
	bool			 done;
	int			 rc;
	struct vcd_err		 err;
	int			 waiters;
	struct ic_flight	*next;
};

struct ic_cache {
	struct vcd_session	*s;
	struct ic_glance	 glance;
	char			*folder;	/* <cache_prefix><subdirectory_name> */
	char			*conninfo;	/* secret: never logged */
	pthread_mutex_t		 lock;		/* flights and counters */
	pthread_cond_t		 cond;
	struct ic_flight	*flights;
	struct ic_cache_stats	 stats;
};

struct ic_cache *
ic_cache_new(struct vcd_session *s, const struct ic_glance *g,
    const char *cache_folder, const char *pg_conninfo)
{
	struct ic_cache *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->glance = *g;
	c->folder = xstrdup(cache_folder);
	c->conninfo = xstrdup(pg_conninfo);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return c;
}

void
ic_cache_free(struct ic_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->folder);
	xfree_secret(c->conninfo);
	free(c);
}

void
ic_cache_stats(struct ic_cache *c, struct ic_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

/* 64-bit FNV-1a: the advisory lock's key for a cache path. */
static long long
ic_lock_key(const char *text)
{
	unsigned long long h = 1469598103934665603ULL;

	for (; *text != '\0'; text++) {
		h ^= (unsigned char)*text;
		h *= 1099511628211ULL;
	}
	return (long long)h;
}

/* A connection for one fetch's advisory lock; NULL with ERR. */
static PGconn *
ic_pg_connect(struct ic_cache *c, struct vcd_err *err)
{
	PGconn *pg = PQconnectdb(c->conninfo);

	if (PQstatus(pg) != CONNECTION_OK) {
		/* PQerrorMessage names host and reason, not the password */
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", NULL,
		    "the image cache cannot reach PostgreSQL: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

/* Run SQL with one bigint parameter. */
static int
ic_pg_lock(PGconn *pg, const char *sql, long long key, struct vcd_err *err)
{
	char keytext[32];
	const char *params[1] = { keytext };
	PGresult *r;
	int ret = -1;

	snprintf(keytext, sizeof(keytext), "%lld", key);
	r = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseError", NULL, "%s failed: %s",
		    sql, PQresultErrorMessage(r));
	else
		ret = 0;
	PQclear(r);
	return ret;
}

/* Is PATH on the datastore already?  1 yes, 0 no, -1 error. */
static int
ic_present(struct ic_cache *c, const char *dc_name, const char *datastore,
    const char *path, struct vcd_err *err)
{
	int64_t size;

	if (vcd_ds_stat(c->s, dc_name, datastore, path, &size, err) == 0)
		return 1;
	if (err->code == VCD_E_NOTFOUND) {
		vcd_err_clear(err);
		return 0;
	}
	return -1;
}

/* The fetch itself, under the cross-agent lock. */
static int
ic_fetch_locked(struct ic_cache *c, const char *id, const char *dc_name,
    const struct vcd_moref *dc, const char *datastore, const char *path,
    const char *key, struct vcd_err *err)
{
	struct ic_image_meta m;
	struct ic_progress prog;
	long long lk = ic_lock_key(key);
	int ret = -1, present;

	PGconn *pg;

	if ((pg = ic_pg_connect(c, err)) == NULL)
		return -1;
	if (ic_pg_lock(pg, "SELECT pg_advisory_lock($1::bigint)", lk, err) < 0)
		goto out;
	/* another agent may have fetched it while we waited */
	if ((present = ic_present(c, dc_name, datastore, path, err)) != 0) {
		if (present > 0) {
			log_info("imagecache: image %s arrived in [%s] %s meanwhile",
			    id, datastore, path);
			ret = 0;
		}
		goto unlock;
	}
	if (ic_glance_meta(&c->glance, id, &m, err) < 0)
		goto unlock;
	{
		struct ic_fetch_req r = { &c->glance, &m, dc_name, dc, datastore, path,
		    &prog, 0, 0, NULL };
		if (ic_fetch(c->s, &r, err) < 0)
			goto unlock;
	}
	pthread_mutex_lock(&c->lock);
	c->stats.downloads++;
	c->stats.bytes += m.size;
	pthread_mutex_unlock(&c->lock);
	ret = 0;
unlock:
	{
		struct vcd_err uerr;
		if (ic_pg_lock(pg, "SELECT pg_advisory_unlock($1::bigint)", lk, &uerr) < 0)
			log_warnx("imagecache: %s", uerr.msg);
	}
out:
	PQfinish(pg);	/* a session's advisory locks go with it, even on error */
	return ret;
}

int
ic_cache_ensure(struct ic_cache *c, const char *id, const char *dc_name,
    const struct vcd_moref *dc, const char *datastore, char **dspath,
    struct vcd_err *err)
{
	struct ic_flight *f;
	char *path = NULL, *key = NULL, *full;
	int ret = -1, present;

	*dspath = NULL;
	vcd_err_clear(err);
	if ((full = ic_image_path(datastore, c->folder, id, 0)) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, id, "\"%s\" is not a valid image "
		    "id (or the datastore or cache folder name is not valid)", id);
		return -1;
	}
	path = xasprintf("%s/%s/%s.vmdk", c->folder, id, id);
	key = xasprintf("%s|%s", datastore, path);

	/* already there: a hit, no lock needed */
	if ((present = ic_present(c, dc_name, datastore, path, err)) < 0)
		goto out;
	if (present > 0) {
		pthread_mutex_lock(&c->lock);
		c->stats.hits++;
		pthread_mutex_unlock(&c->lock);
		ret = 0;
		goto out;
	}

	/* in this agent, the first caller fetches and the others wait */
	pthread_mutex_lock(&c->lock);
	for (f = c->flights; f != NULL; f = f->next)
		if (strcmp(f->key, key) == 0)
			break;
	if (f != NULL) {
		f->waiters++;
		c->stats.waits++;
		while (!f->done)
			pthread_cond_wait(&c->cond, &c->lock);
		ret = f->rc;
		if (ret < 0)
			*err = f->err;
		if (--f->waiters == 0 && f->done) {
			struct ic_flight **pp;
			for (pp = &c->flights; *pp != f; pp = &(*pp)->next)
				;
			*pp = f->next;
			free(f->key);
			free(f);
		}
		pthread_mutex_unlock(&c->lock);
		goto out;
	}
	f = xcalloc(1, sizeof(*f));
	f->key = xstrdup(key);
	f->waiters = 1;
	f->next = c->flights;
	c->flights = f;
	c->stats.misses++;
	pthread_mutex_unlock(&c->lock);

	ret = ic_fetch_locked(c, id, dc_name, dc, datastore, path, key, err);

	pthread_mutex_lock(&c->lock);
	f->rc = ret;
	if (ret < 0)
		f->err = *err;
	f->done = true;
	pthread_cond_broadcast(&c->cond);
	if (--f->waiters == 0) {
		struct ic_flight **pp;
		for (pp = &c->flights; *pp != f; pp = &(*pp)->next)
			;
		*pp = f->next;
		free(f->key);
		free(f);
	}
	pthread_mutex_unlock(&c->lock);
out:
	if (ret == 0)
		*dspath = full;
	else
		free(full);
	free(path);
	free(key);
	return ret;
}
