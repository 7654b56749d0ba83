/*
 * ic_cache.c - one download per image, whoever asks; uploads; the purge.
 *
 * A cached disk is a row in PostgreSQL's image_cache (state ready) and a
 * file on the datastore.  Using it is one UPDATE of its row's last_used,
 * which also waits on a purge that holds the row.
 *
 * Within one agent, concurrent callers for the same disk wait for the first
 * one's work (a single-flight table).  Across agents that share the
 * datastore (same cache_prefix), the one making the disk (fetch, upload,
 * resized copy) or removing it (purge) holds a PostgreSQL advisory lock
 * named after the datastore and the path, on a connection of its own, so
 * different images are fetched in parallel; the others block on it and
 * then find the disk there.  Nothing depends on local files, so agents on
 * different machines coordinate too.
 *
 * An upload is the exception: its data can stall for as long as its client
 * likes, so it holds no lock and keeps no one waiting while it streams.  It
 * writes into a folder of its own and takes the lock only to check first
 * and to move the verified disk into place at the end; a spawn meanwhile
 * fetches the image from the image service.  A failed transfer leaves no
 * folder behind.
 *
 * A hit also looks for the file (one HEAD) unless this agent saw it less
 * than IC_SEEN_TTL seconds ago: the row is the truth between agents, the
 * look guards against a file removed behind the cache's back.  A disk this
 * agent has just made counts as seen, and its maker takes what it made
 * (or the row it found under the lock) without reading the row again.  A spawn
 * that still meets a missing parent calls ic_cache_suspect() and retries.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ic_int.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vcd_dspath.h"
#include "vcdriver/vcd_pc.h"
#include "xmalloc.h"

/* Work on one disk in progress in this agent. */
struct ic_flight {
	char			*key;		/* "datastore|path" */
	char			 id[65];
	char			 datastore[128];
	bool			 done;
	int			 rc;
	struct vcd_err		 err;
	int			 waiters;
	bool			 upload;	/* an upload's: nobody waits on it */
	struct ic_progress	 progress;
	struct ic_flight	*next;
};

/* A transfer of another part of the agent, listed with the cache's. */
struct ic_track {
	char			 kind[12];
	char			 id[65];
	char			 where[128];
	struct ic_progress	*p;
	struct ic_track		*next;
};

#define IC_SEEN_TTL	60

/* A cached disk's file this agent found on its datastore, and when. */
struct ic_seen {
	char		*key;		/* "datastore|path" */
	time_t		 at;
	struct ic_seen	*next;
};

struct ic_cache {
	struct vcd_session	*s;
	struct ic_glance	 glance;
	char			*folder;	/* <cache_prefix><subdirectory_name> */
	struct pgc_pool		*pg;		/* owned if own_pg */
	bool			 own_pg;
	pthread_mutex_t		 lock;		/* flights and counters */
	pthread_cond_t		 cond;
	struct ic_flight	*flights;
	struct ic_track		*tracks;	/* others' transfers (ic_cache_track) */
	struct ic_seen		*seen;		/* owned, under lock */
	struct ic_cache_stats	 stats;
};

struct ic_cache *
ic_cache_new(struct vcd_session *s, const struct ic_glance *g,
    const char *cache_folder, const char *pg_conninfo)
{
	struct ic_cache *c = ic_cache_new_pool(s, g, cache_folder,
	    pgc_pool_new(pg_conninfo, 4));

	c->own_pg = true;
	return c;
}

struct ic_cache *
ic_cache_new_pool(struct vcd_session *s, const struct ic_glance *g,
    const char *cache_folder, struct pgc_pool *pool)
{
	struct ic_cache *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->glance = *g;
	c->folder = xstrdup(cache_folder);
	c->pg = pool;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return c;
}

void
ic_cache_free(struct ic_cache *c)
{
	if (c == NULL)
		return;
	while (c->seen != NULL) {
		struct ic_seen *n = c->seen->next;
		free(c->seen->key);
		free(c->seen);
		c->seen = n;
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->folder);
	if (c->own_pg)
		pgc_pool_free(c->pg);
	free(c);
}

void
ic_cache_stats(struct ic_cache *c, struct ic_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

/* One line of ic_cache_transfers(). */
static void
ic_transfer_fill(struct ic_transfer *t, const char *kind, const char *id,
    const char *where, struct ic_progress *p)
{
	snprintf(t->kind, sizeof(t->kind), "%s", kind);
	snprintf(t->image_id, sizeof(t->image_id), "%s", id);
	snprintf(t->datastore, sizeof(t->datastore), "%s", where);
	t->done = atomic_load(&p->done);
	t->total = atomic_load(&p->total);
}

size_t
ic_cache_transfers(struct ic_cache *c, struct ic_transfer *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	for (struct ic_flight *f = c->flights; f != NULL && n < max; f = f->next)
		if (!f->done)
			ic_transfer_fill(&out[n++], f->upload ? "upload" : "download",
			    f->id, f->datastore, &f->progress);
	for (struct ic_track *t = c->tracks; t != NULL && n < max; t = t->next)
		ic_transfer_fill(&out[n++], t->kind, t->id, t->where, t->p);
	pthread_mutex_unlock(&c->lock);
	return n;
}

struct ic_track *
ic_cache_track(struct ic_cache *c, const char *kind, const char *id,
    const char *where, struct ic_progress *p)
{
	struct ic_track *t;

	if (c == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	snprintf(t->kind, sizeof(t->kind), "%s", kind);
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->where, sizeof(t->where), "%s", where);
	t->p = p;
	pthread_mutex_lock(&c->lock);
	t->next = c->tracks;
	c->tracks = t;
	pthread_mutex_unlock(&c->lock);
	return t;
}

void
ic_cache_untrack(struct ic_cache *c, struct ic_track *t)
{
	if (c == NULL || t == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	for (struct ic_track **pp = &c->tracks; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	free(t);
}

double
ic_ms(double t0)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6 - t0;
}

/* ---- PostgreSQL ---- */

static void
ic_db_err(struct vcd_err *err, const char *object, const char *why)
{
	vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", object,
	    "the image cache's database: %s", why);
}

static PGconn *
ic_db_get(struct ic_cache *c, struct vcd_err *err)
{
	char why[512];
	PGconn *pg = pgc_get(c->pg, why, sizeof(why));

	if (pg == NULL)
		ic_db_err(err, NULL, why);	/* libpq names host and reason only */
	return pg;
}

/* A connection to hold advisory locks on: never reset behind our back. */
static PGconn *
ic_db_lease(struct ic_cache *c, struct vcd_err *err)
{
	char why[512];
	PGconn *pg = pgc_lease(c->pg, why, sizeof(why));

	if (pg == NULL)
		ic_db_err(err, NULL, why);
	return pg;
}

/* Run SQL; NULL with ERR.  Caller PQclear()s. */
static PGresult *
ic_db(PGconn *pg, const char *sql, int n, const char *const *params,
    struct vcd_err *err)
{
	char why[512];
	PGresult *r = pgc_exec(pg, sql, n, params, why, sizeof(why), NULL);

	if (r == NULL)
		ic_db_err(err, NULL, why);
	return r;
}

/* Take (TRY: try) or release KEY's lock on PG, keyed by 64 bits of a
 * SHA-256 of "image <datastore>|<path>".  1 taken, 0 busy, -1 error. */
static int
ic_lock(PGconn *pg, const char *key, const char *op, struct vcd_err *err)
{
	char sql[256];
	const char *params[1] = { key };
	PGresult *r;
	int ret;

	snprintf(sql, sizeof(sql), "SELECT %s(" PGC_LOCK_KEY("'image ' || $1") ")", op);
	if ((r = ic_db(pg, sql, 1, params, err)) == NULL)
		return -1;
	ret = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "f") != 0;
	PQclear(r);
	return ret;
}

static void
ic_unlock(PGconn *pg, const char *key)
{
	struct vcd_err err;

	if (ic_lock(pg, key, "pg_advisory_unlock", &err) < 0)
		log_warnx("imagecache: %s", err.msg);
}

/*
 * Use the row of DS/PATH: its last_used becomes now.  1 with *IMG filled
 * (when IMG is not NULL), 0 when there is no ready row, -1 with ERR.
 */
static int
ic_row_use(struct ic_cache *c, const char *ds, const char *path,
    struct ic_image *img, struct vcd_err *err)
{
	const char *params[2] = { ds, path };
	PGconn *pg;
	PGresult *r;
	int ret = -1;

	if ((pg = ic_db_get(c, err)) == NULL)
		return -1;
	r = ic_db(pg, "UPDATE image_cache SET last_used = now() WHERE datastore = $1 "
	    "AND path = $2 AND state = 'ready' RETURNING image_id, disk_type, "
	    "adapter_type, capacity_kb, linked_clone, root_gb", 2, params, err);
	if (r != NULL) {
		ret = PQntuples(r) == 1;
		if (ret && img != NULL) {
			snprintf(img->id, sizeof(img->id), "%s", PQgetvalue(r, 0, 0));
			snprintf(img->disk_type, sizeof(img->disk_type), "%s",
			    PQgetvalue(r, 0, 1));
			snprintf(img->adapter, sizeof(img->adapter), "%s", PQgetvalue(r, 0, 2));
			img->capacity_kb = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
			img->linked_clone = PQgetisnull(r, 0, 4) ? -1 :
			    atoi(PQgetvalue(r, 0, 4));
			img->root_gb = (unsigned)atoi(PQgetvalue(r, 0, 5));
		}
		PQclear(r);
	}
	pgc_put(c->pg, pg, ret < 0);
	return ret;
}

/* Record a disk made ready. */
static int
ic_row_ready(struct ic_cache *c, PGconn *pg, const struct ic_place *pl,
    const char *path, const struct ic_image *img, int64_t size, struct vcd_err *err)
{
	char gb[16], cap[24], sz[24], lc[8];
	const char *params[10] = { pl->datastore, path, img->id, gb, sz, img->disk_type,
	    img->adapter, cap, img->linked_clone < 0 ? NULL : lc, pl->dc_name };
	PGresult *r;

	(void)c;
	snprintf(gb, sizeof(gb), "%u", img->root_gb);
	snprintf(cap, sizeof(cap), "%lld", (long long)img->capacity_kb);
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	snprintf(lc, sizeof(lc), "%d", img->linked_clone);
	r = ic_db(pg, "INSERT INTO image_cache (datastore, path, image_id, root_gb, "
	    "size, disk_type, adapter_type, capacity_kb, linked_clone, datacenter) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (datastore, "
	    "path) DO UPDATE SET image_id = $3, root_gb = $4, size = $5, disk_type = $6, "
	    "adapter_type = $7, capacity_kb = $8, linked_clone = $9, datacenter = $10, "
	    "state = 'ready', last_used = now()", 10, params, err);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
ic_cache_datastores(struct ic_cache *c, const char *dc_name, char ***names,
    size_t *n, struct vcd_err *err)
{
	char *like = xasprintf("%s/%%", c->folder);
	const char *params[2] = { dc_name, like };
	PGconn *pg;
	PGresult *r = NULL;
	int ret = -1;

	*names = NULL;
	*n = 0;
	vcd_err_clear(err);
	if ((pg = ic_db_get(c, err)) == NULL)
		goto out;
	if ((r = ic_db(pg, "SELECT DISTINCT datastore FROM image_cache WHERE "
	    "datacenter = $1 AND path LIKE $2 ORDER BY 1", 2, params, err)) != NULL) {
		*names = xcalloc((size_t)PQntuples(r) + 1, sizeof(**names));
		for (int i = 0; i < PQntuples(r); i++)
			(*names)[(*n)++] = xstrdup(PQgetvalue(r, i, 0));
		PQclear(r);
		ret = 0;
	}
	pgc_put(c->pg, pg, ret < 0 && pgc_broken(pg));
out:
	free(like);
	return ret;
}

/* ---- the datastore ---- */

/* Is PATH on the datastore?  1 yes, 0 no, -1 error. */
static int
ic_present(struct ic_cache *c, const struct ic_place *pl, const char *path,
    struct vcd_err *err)
{
	int64_t size;

	if (vcd_ds_stat(c->s, pl->dc_name, pl->datastore, path, &size, err) == 0)
		return 1;
	if (err->code == VCD_E_NOTFOUND) {
		vcd_err_clear(err);
		return 0;
	}
	return -1;
}

/* Was KEY's file seen lately? */
static bool
ic_seen_fresh(struct ic_cache *c, const char *key)
{
	time_t now = time(NULL);
	bool fresh = false;

	pthread_mutex_lock(&c->lock);
	for (struct ic_seen *e = c->seen; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			fresh = now - e->at < IC_SEEN_TTL && now >= e->at;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return fresh;
}

/* Note KEY's file seen now (SEEN), or forget it. */
static void
ic_seen_set(struct ic_cache *c, const char *key, bool seen)
{
	struct ic_seen **pp, *e;

	pthread_mutex_lock(&c->lock);
	for (pp = &c->seen; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->key, key) == 0)
			break;
	if (seen) {
		if (e == NULL) {
			e = xcalloc(1, sizeof(*e));
			e->key = xstrdup(key);
			e->next = c->seen;
			c->seen = e;
		}
		e->at = time(NULL);
	} else if (e != NULL) {
		*pp = e->next;
		free(e->key);
		free(e);
	}
	pthread_mutex_unlock(&c->lock);
}

void
ic_cache_suspect(struct ic_cache *c, const struct ic_image *img)
{
	struct vcd_dspath p = { NULL, NULL };
	const char *why;

	if (vcd_dspath_parse(img->dspath, &p, &why) == 0) {
		char *key = xasprintf("%s|%s", p.datastore, p.path);
		ic_seen_set(c, key, false);
		free(key);
	}
	vcd_dspath_free(&p);
}

/*
 * After a failed transfer of image ID into PL's datastore: its folder goes
 * unless a disk of the cache is in it (a row names it), so no empty
 * "<folder>/ID/" stays behind.  Called under the image's lock; errors are
 * logged.
 */
static void
ic_dir_cleanup(struct ic_cache *c, PGconn *pg, const struct ic_place *pl,
    const char *id)
{
	char *dir = xasprintf("%s/%s", c->folder, id);
	char *like = xasprintf("%s/%%", dir);
	const char *q[2] = { pl->datastore, like };
	struct vcd_err err;
	PGresult *r;

	if ((r = ic_db(pg, "SELECT 1 FROM image_cache WHERE datastore = $1 AND "
	    "path LIKE $2 LIMIT 1", 2, q, &err)) == NULL)
		log_warnx("imagecache: cannot tell whether [%s] %s is empty: %s",
		    pl->datastore, dir, err.msg);
	else if (PQntuples(r) == 0) {
		char *dir_ds = vcd_dspath_format(pl->datastore, dir);
		ic_remove(c->s, pl->dc, dir_ds, false);
		free(dir_ds);
	}
	PQclear(r);
	free(dir);
	free(like);
}

/* ---- single flight ---- */

/* Join KEY's flight (waiting for it: 1 and its result) or start one (0). */
static int
ic_flight_join(struct ic_cache *c, const char *key, const char *id, const char *ds,
    struct ic_flight **out, int *rc, struct vcd_err *err)
{
	struct ic_flight *f;

	pthread_mutex_lock(&c->lock);
	for (f = c->flights; f != NULL; f = f->next)
		if (!f->upload && strcmp(f->key, key) == 0)
			break;
	if (f == NULL) {
		f = xcalloc(1, sizeof(*f));
		f->key = xstrdup(key);
		snprintf(f->id, sizeof(f->id), "%s", id);
		snprintf(f->datastore, sizeof(f->datastore), "%s", ds);
		f->waiters = 1;
		f->next = c->flights;
		c->flights = f;
		pthread_mutex_unlock(&c->lock);
		*out = f;
		return 0;
	}
	f->waiters++;
	c->stats.waits++;
	while (!f->done)
		pthread_cond_wait(&c->cond, &c->lock);
	*rc = f->rc;
	if (f->rc < 0)
		*err = f->err;
	pthread_mutex_unlock(&c->lock);
	*out = f;
	return 1;
}

/* Leave a flight (the owner sets RC first); the last one out frees it. */
static void
ic_flight_leave(struct ic_cache *c, struct ic_flight *f, bool owner, int rc,
    const struct vcd_err *err)
{
	pthread_mutex_lock(&c->lock);
	if (owner) {
		f->rc = rc;
		if (rc < 0)
			f->err = *err;
		f->done = true;
		pthread_cond_broadcast(&c->cond);
	}
	if (--f->waiters == 0) {
		struct ic_flight **pp;
		for (pp = &c->flights; *pp != f; pp = &(*pp)->next)
			;
		*pp = f->next;
		free(f->key);
		free(f);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- making a disk: from Glance, or resized from the original ---- */

typedef int (*ic_make_fn)(struct ic_cache *c, const struct ic_place *pl,
    const char *path, struct ic_image *img, struct ic_progress *prog,
    int64_t *size, struct vcd_err *err);

static int
ic_make_fetch(struct ic_cache *c, const struct ic_place *pl, const char *path,
    struct ic_image *img, struct ic_progress *prog, int64_t *size,
    struct vcd_err *err)
{
	struct ic_image_meta m;
	struct ic_disk_info info;
	double t0 = ic_ms(0), t1;

	if (ic_glance_meta(&c->glance, img->id, &m, err) < 0)
		return -1;
	t1 = ic_ms(0);
	{
		struct ic_fetch_req r = { &c->glance, &m, pl->dc_name, pl->dc,
		    pl->datastore, path, pl->pool, pl->folder, prog, 0, 0, &info };
		if (ic_fetch(c->s, &r, err) < 0)
			return -1;
	}
	log_debug("imagecache: image %s: Glance metadata %.1f ms, fetch %.1f ms",
	    img->id, t1 - t0, ic_ms(t1));
	snprintf(img->disk_type, sizeof(img->disk_type), "%s", info.disk_type);
	snprintf(img->adapter, sizeof(img->adapter), "%s", info.adapter);
	img->capacity_kb = info.capacity_kb;
	img->linked_clone = m.linked_clone;
	*size = m.size;
	pthread_mutex_lock(&c->lock);
	c->stats.downloads++;
	c->stats.bytes += m.size;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* IMG is the original on entry; a copy of it grown to img->root_gb. */
static int
ic_make_resized(struct ic_cache *c, const struct ic_place *pl, const char *path,
    struct ic_image *img, struct ic_progress *prog, int64_t *size,
    struct vcd_err *err)
{
	char *tmp = xasprintf("%.*s-tmp.vmdk", (int)(strlen(path) - 5), path);
	char *tmp_ds = vcd_dspath_format(pl->datastore, tmp);
	char *final_ds = vcd_dspath_format(pl->datastore, path);
	int64_t kb = (int64_t)img->root_gb * 1024 * 1024;
	int ret = -1;

	(void)prog;
	log_info("imagecache: making %s, image %s resized to %u GB", final_ds, img->id,
	    img->root_gb);
	if (vcd_vdisk_copy(c->s, pl->dc, img->dspath, tmp_ds, NULL, err) < 0)
		goto fail;
	if (vcd_vdisk_extend(c->s, pl->dc, tmp_ds, kb, err) < 0 ||
	    vcd_vdisk_move(c->s, pl->dc, tmp_ds, final_ds, false, err) < 0)
		goto fail;
	img->capacity_kb = kb;
	*size = 0;	/* thin: what it takes on the datastore is not known */
	pthread_mutex_lock(&c->lock);
	c->stats.resized++;
	pthread_mutex_unlock(&c->lock);
	ret = 0;
	goto out;
fail:
	ic_remove(c->s, pl->dc, tmp_ds, true);
out:
	free(tmp);
	free(tmp_ds);
	free(final_ds);
	return ret;
}

/* Under the cross-agent lock: another agent may have made it meanwhile. */
static int
ic_make_locked(struct ic_cache *c, const struct ic_place *pl, const char *path,
    const char *key, struct ic_image *img, ic_make_fn make,
    struct ic_progress *prog, struct vcd_err *err)
{
	PGconn *pg;
	int64_t size = 0;
	double t[6] = { 0 };
	int ret = -1, present, locked;
	int (*check)(void *, char *, size_t);
	void *check_arg;

	/* the disk is made under the image's lock, not the caller's: a
	 * caller's abort check (a request whose lock was lost) does not stop
	 * it half-way, nor its cleanup; the caller stops after it */
	vcd_abort_get(&check, &check_arg);
	vcd_abort_set(NULL, NULL);
	t[0] = ic_ms(0);
	if ((pg = ic_db_lease(c, err)) == NULL)
		goto restore;
	t[1] = ic_ms(0);
	if ((locked = ic_lock(pg, key, "pg_advisory_lock", err)) <= 0)
		goto out;
	t[2] = ic_ms(0);
	if ((present = ic_row_use(c, pl->datastore, path, img, err)) < 0)
		goto unlock;
	t[3] = ic_ms(0);
	if (present && (present = ic_present(c, pl, path, err)) < 0)
		goto unlock;
	if (present) {
		log_info("imagecache: [%s] %s arrived meanwhile", pl->datastore, path);
		ret = 0;
		goto unlock;
	}
	if (make(c, pl, path, img, prog, &size, err) < 0) {
		ic_dir_cleanup(c, pg, pl, img->id);
		goto unlock;
	}
	t[4] = ic_ms(0);
	ret = ic_row_ready(c, pg, pl, path, img, size, err);
	t[5] = ic_ms(0);
unlock:
	ic_unlock(pg, key);
	if (ret == 0 && t[5] > 0)
		log_debug("imagecache: [%s] %s made: connection %.1f ms, lock %.1f ms, "
		    "row %.1f ms, making %.1f ms, row written %.1f ms, unlock %.1f ms",
		    pl->datastore, path, t[1] - t[0], t[2] - t[1], t[3] - t[2],
		    t[4] - t[3], t[5] - t[4], ic_ms(t[5]));
out:
	pgc_put(c->pg, pg, ret < 0 && pgc_broken(pg));
restore:
	vcd_abort_set(check, check_arg);
	return ret;
}

/* Find PATH's disk in the cache, or make it once. */
static int
ic_ensure_path(struct ic_cache *c, const struct ic_place *pl, const char *path,
    struct ic_image *img, ic_make_fn make, struct vcd_err *err)
{
	struct ic_flight *f;
	char *key = xasprintf("%s|%s", pl->datastore, path);
	struct ic_image want = *img;
	int ret = -1, found;

	for (int round = 0; round < 2; round++) {
		/* a ready row and its file: a hit */
		if ((found = ic_row_use(c, pl->datastore, path, img, err)) < 0)
			goto out;
		if (found && !ic_seen_fresh(c, key)) {
			if ((found = ic_present(c, pl, path, err)) < 0)
				goto out;
			ic_seen_set(c, key, found == 1);
		}
		if (found) {
			img->hit = round == 0;
			pthread_mutex_lock(&c->lock);
			if (round == 0)
				c->stats.hits++;
			pthread_mutex_unlock(&c->lock);
			ret = 0;
			goto out;
		}
		if (round == 1) {
			vcd_err_set(err, VCD_E_NOTFOUND, "FileNotFound", path, "[%s] %s "
			    "was made but is gone again", pl->datastore, path);
			goto out;
		}
		*img = want;
		if (ic_flight_join(c, key, img->id, pl->datastore, &f, &ret, err) == 1) {
			ic_flight_leave(c, f, false, 0, NULL);
			if (ret < 0)
				goto out;
			continue;
		}
		pthread_mutex_lock(&c->lock);
		c->stats.misses++;
		pthread_mutex_unlock(&c->lock);
		ret = ic_make_locked(c, pl, path, key, img, make, &f->progress, err);
		if (ret == 0)	/* made (or found) just now: no HEAD for it */
			ic_seen_set(c, key, true);
		img->hit = false;
		ic_flight_leave(c, f, true, ret, err);
		/* IMG is what was made or what its row says: no second look */
		goto out;
	}
out:
	free(key);
	return ret;
}

int
ic_cache_hit(struct ic_cache *c, const char *id, const struct ic_place *pl,
    struct ic_image *img, struct vcd_err *err)
{
	char *full, *path = NULL, *key = NULL;
	int ret = 0;

	vcd_err_clear(err);
	memset(img, 0, sizeof(*img));
	if ((full = ic_image_path(pl->datastore, c->folder, id, 0)) == NULL)
		return 0;	/* ic_cache_ensure names what is wrong */
	path = ic_image_relpath(c->folder, id, 0);
	key = xasprintf("%s|%s", pl->datastore, path);
	/* only a file seen lately: anything else is ic_cache_ensure's (HEAD) */
	if (!ic_seen_fresh(c, key))
		goto out;
	snprintf(img->id, sizeof(img->id), "%s", id);
	img->linked_clone = -1;
	if ((ret = ic_row_use(c, pl->datastore, path, img, err)) == 1) {
		snprintf(img->dspath, sizeof(img->dspath), "%s", full);
		img->hit = true;
		pthread_mutex_lock(&c->lock);
		c->stats.hits++;
		pthread_mutex_unlock(&c->lock);
	}
out:
	if (ret != 1)
		memset(img, 0, sizeof(*img));
	free(key);
	free(path);
	free(full);
	return ret;
}

int
ic_cache_ensure(struct ic_cache *c, const char *id, const struct ic_place *pl,
    struct ic_image *img, struct vcd_err *err)
{
	char *full, *path;
	int ret;

	vcd_err_clear(err);
	memset(img, 0, sizeof(*img));
	if ((full = ic_image_path(pl->datastore, c->folder, id, 0)) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, id, "\"%s\" is not a valid image "
		    "id (or the datastore or cache folder name is not valid)", id);
		return -1;
	}
	snprintf(img->id, sizeof(img->id), "%s", id);
	img->linked_clone = -1;
	path = ic_image_relpath(c->folder, id, 0);
	ret = ic_ensure_path(c, pl, path, img, ic_make_fetch, err);
	if (ret == 0)
		snprintf(img->dspath, sizeof(img->dspath), "%s", full);
	free(path);
	free(full);
	return ret;
}

int
ic_cache_ensure_resized(struct ic_cache *c, const struct ic_place *pl,
    unsigned root_gb, struct ic_image *img, struct vcd_err *err)
{
	int64_t kb = (int64_t)root_gb * 1024 * 1024;
	struct ic_image r = *img;
	char *full, *path;
	int ret;

	vcd_err_clear(err);
	if (kb < img->capacity_kb) {
		vcd_err_set(err, VCD_E_INVALID, "FlavorDiskSmallerThanImage", img->id,
		    "the flavor's root disk (%u GB) is smaller than image %s "
		    "(%lld KB)", root_gb, img->id, (long long)img->capacity_kb);
		return -1;
	}
	if (root_gb == 0 || kb == img->capacity_kb)
		return 0;
	if ((full = ic_image_path(pl->datastore, c->folder, img->id, root_gb)) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, img->id, "no resized path for "
		    "image %s", img->id);
		return -1;
	}
	path = ic_image_relpath(c->folder, img->id, root_gb);
	r.root_gb = root_gb;
	if ((ret = ic_ensure_path(c, pl, path, &r, ic_make_resized, err)) == 0) {
		snprintf(r.dspath, sizeof(r.dspath), "%s", full);
		*img = r;
	}
	free(path);
	free(full);
	return ret;
}

/* ---- uploads ---- */

struct ic_upload {
	struct ic_cache		*c;
	struct ic_place		 pl;
	struct ic_image		 img;
	int64_t			 size;
	char			*key, *path, *full;	/* the cached disk's */
	char			*stage_dir, *stage;	/* where the data goes first */
	struct ic_flight	*f;			/* upload flight: progress */
	struct ic_stream	*st;
	/* the request's strings, which the stream borrows until it closes */
	char			 disk_type[32], adapter[32], md5[33], sha512[129];
	char			 datastore[256], dc_name[256];
};

/* What a Datastore's summary says; the one named NAME. */
struct ic_ds_space {
	const char	*name;
	int64_t		 free;		/* -1 not found */
};

static int
ic_ds_space_cb(void *arg, const struct vim_ObjectContent *oc)
{
	struct ic_ds_space *sp = arg;
	const char *name = vcd_pc_str(oc, "summary.name");

	if (name == NULL || strcmp(name, sp->name) != 0)
		return 0;
	sp->free = vcd_pc_int(oc, "summary.freeSpace", -1);
	return 1;
}

/* Refuse SIZE bytes that PL's datastore has no room for (fault NoDiskSpace). */
static int
ic_space_check(struct ic_cache *c, const struct ic_place *pl, const char *id,
    int64_t size, struct vcd_err *err)
{
	char *paths[] = { "summary.name", "summary.freeSpace" };
	struct ic_ds_space sp = { pl->datastore, -1 };

	if (vcd_pc_retrieve_all(c->s, "Datastore", paths, 2, 0, ic_ds_space_cb, &sp,
	    err) < 0)
		return -1;
	if (sp.free < 0) {
		vcd_err_set(err, VCD_E_NOTFOUND, NULL, pl->datastore, "datastore "
		    "\"%s\" was not found", pl->datastore);
		return -1;
	}
	if (sp.free < size) {
		vcd_err_set(err, VCD_E_FAULT, "NoDiskSpace", pl->datastore, "image %s "
		    "has %lld bytes, but datastore [%s] has only %lld bytes free", id,
		    (long long)size, pl->datastore, (long long)sp.free);
		return -1;
	}
	return 0;
}

/* Register U's upload flight, unless the image is being uploaded already. */
static int
ic_upload_flight(struct ic_upload *u, struct vcd_err *err)
{
	struct ic_cache *c = u->c;
	struct ic_flight *f;

	pthread_mutex_lock(&c->lock);
	for (f = c->flights; f != NULL; f = f->next)
		if (f->upload && strcmp(f->key, u->key) == 0)
			break;
	if (f == NULL) {
		f = xcalloc(1, sizeof(*f));
		f->key = xstrdup(u->key);
		snprintf(f->id, sizeof(f->id), "%s", u->img.id);
		snprintf(f->datastore, sizeof(f->datastore), "%s", u->pl.datastore);
		f->waiters = 1;
		f->upload = true;
		atomic_store(&f->progress.total, u->size);
		f->next = c->flights;
		c->flights = f;
		u->f = f;
	}
	pthread_mutex_unlock(&c->lock);
	if (u->f == NULL)
		vcd_err_set(err, VCD_E_FAULT, "TaskInProgress", u->img.id, "image %s is "
		    "being uploaded into [%s] right now", u->img.id, u->pl.datastore);
	return u->f != NULL ? 0 : -1;
}

/*
 * Under the image's lock (TRY: refuse rather than wait): is the image
 * cached?  0 no (with the lock held on *PGP when KEEP), -1 with ERR:
 * TaskInProgress when the lock is busy, AlreadyExists when cached.
 */
static int
ic_upload_lock(struct ic_upload *u, bool keep, PGconn **pgp, struct vcd_err *err)
{
	struct ic_cache *c = u->c;
	PGconn *pg;
	int rc, present;

	*pgp = NULL;
	if ((pg = ic_db_lease(c, err)) == NULL)	/* its lock must not vanish */
		return -1;
	if ((rc = ic_lock(pg, u->key, "pg_try_advisory_lock", err)) <= 0) {
		if (rc == 0)
			vcd_err_set(err, VCD_E_FAULT, "TaskInProgress", u->img.id, "image "
			    "%s is being fetched, uploaded or purged in [%s] right now",
			    u->img.id, u->pl.datastore);
		pgc_put(c->pg, pg, rc < 0);
		return -1;
	}
	if ((present = ic_row_use(c, u->pl.datastore, u->path, NULL, err)) == 1)
		present = ic_present(c, &u->pl, u->path, err);
	if (present == 1)
		vcd_err_set(err, VCD_E_FAULT, "AlreadyExists", u->img.id, "image %s is "
		    "cached in [%s] already; a cached image is never replaced",
		    u->img.id, u->pl.datastore);
	if (present != 0 || !keep) {
		ic_unlock(pg, u->key);
		pgc_put(c->pg, pg, pgc_broken(pg));
		return present != 0 ? -1 : 0;
	}
	*pgp = pg;
	return 0;
}

static void
ic_upload_free(struct ic_upload *u, int rc, const struct vcd_err *err)
{
	if (u->f != NULL)
		ic_flight_leave(u->c, u->f, true, rc, err);
	free(u->key);
	free(u->path);
	free(u->full);
	free(u->stage_dir);
	free(u->stage);
	free(u);
}

struct ic_upload *
ic_cache_upload_begin(struct ic_cache *c, const struct ic_place *pl,
    const struct ic_upload_req *r, struct vcd_err *err)
{
	struct ic_upload *u = xcalloc(1, sizeof(*u));
	unsigned rnd = 0;
	PGconn *pg;

	vcd_err_clear(err);
	u->c = c;
	snprintf(u->datastore, sizeof(u->datastore), "%s", pl->datastore);
	snprintf(u->dc_name, sizeof(u->dc_name), "%s", pl->dc_name);
	u->pl = *pl;
	u->pl.datastore = u->datastore;
	u->pl.dc_name = u->dc_name;
	pl = &u->pl;
	u->size = r->size;
	if ((u->full = ic_image_path(pl->datastore, c->folder, r->id, 0)) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, r->id, "\"%s\" is not a valid image "
		    "id", r->id);
		goto fail;
	}
	if (ic_adapter_check(r->adapter) < 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, r->id, "image %s: unknown "
		    "adapter_type \"%s\" (expected lsiLogic, lsiLogicsas, busLogic, "
		    "paraVirtual or ide)", r->id, r->adapter);
		goto fail;
	}
	u->path = ic_image_relpath(c->folder, r->id, 0);
	u->key = xasprintf("%s|%s", pl->datastore, u->path);
	snprintf(u->img.id, sizeof(u->img.id), "%s", r->id);
	u->img.linked_clone = r->linked_clone;
	if (ic_upload_flight(u, err) < 0)
		goto fail;
	/* refuse at once what could only fail at the end */
	if (ic_upload_lock(u, false, &pg, err) < 0 ||
	    ic_space_check(c, pl, r->id, r->size, err) < 0)
		goto fail;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)u;
	u->stage_dir = xasprintf("%s/%s.upload-%08x", c->folder, r->id, rnd);
	u->stage = xasprintf("%s/%s.vmdk", u->stage_dir, r->id);
	snprintf(u->disk_type, sizeof(u->disk_type), "%s", r->disk_type ? r->disk_type : "");
	snprintf(u->adapter, sizeof(u->adapter), "%s", r->adapter ? r->adapter : "");
	snprintf(u->md5, sizeof(u->md5), "%s", r->md5 ? r->md5 : "");
	snprintf(u->sha512, sizeof(u->sha512), "%s", r->sha512 ? r->sha512 : "");
	{
		struct ic_target t = {
			.id = u->img.id, .dc_name = pl->dc_name, .dc = pl->dc,
			.datastore = pl->datastore, .path = u->stage,
			.disk_type = u->disk_type, .adapter = u->adapter,
			.pool = pl->pool, .folder = pl->folder, .size = r->size,
			.md5 = u->md5, .sha512 = u->sha512,
			.progress = &u->f->progress, .buffer = 0,
		};
		if ((u->st = ic_stream_open(c->s, &t, err)) == NULL) {
			char *dir_ds = vcd_dspath_format(pl->datastore, u->stage_dir);
			ic_remove(c->s, pl->dc, dir_ds, false);
			free(dir_ds);
			goto fail;
		}
	}
	return u;
fail:
	ic_upload_free(u, -1, err);
	return NULL;
}

int
ic_upload_write(struct ic_upload *u, const void *data, size_t len)
{
	return ic_stream_write(u->st, data, len);
}

/* The verified disk at U's stage becomes the cached one, under the lock. */
static int
ic_upload_publish(struct ic_upload *u, struct vcd_err *err)
{
	struct ic_cache *c = u->c;
	char *dir = xasprintf("%s/%s", c->folder, u->img.id);
	char *dir_ds = vcd_dspath_format(u->pl.datastore, dir);
	char *stage_ds = vcd_dspath_format(u->pl.datastore, u->stage);
	PGconn *pg = NULL;
	int ret = -1;

	/* a spawn fetched it meanwhile, or is fetching it: this copy goes */
	if (ic_upload_lock(u, true, &pg, err) < 0)
		goto out;
	if (vcd_ds_mkdir(c->s, u->pl.dc, dir_ds, err) < 0 ||
	    vcd_vdisk_move(c->s, u->pl.dc, stage_ds, u->full, false, err) < 0) {
		ic_dir_cleanup(c, pg, &u->pl, u->img.id);
		goto unlock;
	}
	if ((ret = ic_row_ready(c, pg, &u->pl, u->path, &u->img, u->size, err)) < 0) {
		ic_remove(c->s, u->pl.dc, u->full, true);
		ic_dir_cleanup(c, pg, &u->pl, u->img.id);
	}
unlock:
	ic_unlock(pg, u->key);
	pgc_put(c->pg, pg, ret < 0 && pgc_broken(pg));
out:
	free(dir);
	free(dir_ds);
	free(stage_ds);
	return ret;
}

int
ic_upload_end(struct ic_upload *u, bool complete, struct ic_image *img,
    struct vcd_err *err)
{
	struct ic_disk_info info;
	char *stage_dir_ds = vcd_dspath_format(u->pl.datastore, u->stage_dir);
	int ret;

	ret = ic_stream_close(u->st, complete, &info, err);
	if (ret == 0) {
		snprintf(u->img.disk_type, sizeof(u->img.disk_type), "%s", info.disk_type);
		snprintf(u->img.adapter, sizeof(u->img.adapter), "%s", info.adapter);
		u->img.capacity_kb = info.capacity_kb;
		ret = ic_upload_publish(u, err);
	}
	/* the stage folder goes, whatever happened: its disk has moved or failed */
	ic_remove(u->c->s, u->pl.dc, stage_dir_ds, false);
	if (ret == 0) {
		snprintf(u->img.dspath, sizeof(u->img.dspath), "%s", u->full);
		if (img != NULL)
			*img = u->img;
		pthread_mutex_lock(&u->c->lock);
		u->c->stats.uploads++;
		u->c->stats.bytes += u->size;
		pthread_mutex_unlock(&u->c->lock);
		log_info("imagecache: image %s uploaded into %s", u->img.id, u->full);
	}
	free(stage_dir_ds);
	ic_upload_free(u, ret, err);
	return ret;
}

/* ---- the purge ---- */

/* What "unused and old enough" means, for the SELECT and the UPDATE. */
#define IC_PURGEABLE \
	"state = 'ready' AND datastore = $1 AND " \
	"last_used < now() - make_interval(secs => CASE WHEN root_gb = 0 " \
	"THEN $2::int ELSE $3::int END) AND NOT EXISTS (SELECT 1 FROM " \
	"instances i WHERE i.deleted_at IS NULL AND i.image_id = " \
	"image_cache.image_id AND (i.datastore IS NULL OR i.datastore = " \
	"image_cache.datastore))"

/* Remove one candidate: 1 removed, 0 left alone, -1 error (logged). */
static int
ic_purge_one(struct ic_cache *c, PGconn *pg, const struct ic_place *pl,
    const char *const params[4], struct ic_purged *p)
{
	char *key = xasprintf("%s|%s", pl->datastore, p->path);
	char *dspath = vcd_dspath_format(pl->datastore, p->path);
	char msg[800];
	struct vcd_err err;
	PGresult *r;
	int ret = -1, locked;

	vcd_err_clear(&err);
	/* a fetch, an upload or a resize holds it: busy, leave it */
	if ((locked = ic_lock(pg, key, "pg_try_advisory_lock", &err)) <= 0) {
		ret = locked == 0 ? 0 : -1;
		goto out;
	}
	/* mark it: a spawn's use of the row now waits, then finds it gone */
	r = ic_db(pg, "UPDATE image_cache SET state = 'purging' WHERE path = $4 AND "
	    IC_PURGEABLE " RETURNING 1", 4, params, &err);
	if (r == NULL)
		goto unlock;
	if (PQntuples(r) == 0) {	/* used meanwhile */
		PQclear(r);
		ret = 0;
		goto unlock;
	}
	PQclear(r);
	if (!pgc_alive(pg)) {	/* the lock went with the session: hands off */
		ic_db_err(&err, dspath, "the connection holding the purge's lock was lost");
		goto unlock;
	}
	if (vcd_vdisk_delete(c->s, pl->dc, dspath, &err) < 0 &&
	    strcmp(err.fault, "FileNotFound") != 0) {
		const char *back[2] = { pl->datastore, p->path };
		log_warnx("imagecache: purge: cannot remove %s: %s", dspath,
		    vcd_strerror(&err, msg, sizeof(msg)));
		if ((r = ic_db(pg, "UPDATE image_cache SET state = 'ready' WHERE "
		    "datastore = $1 AND path = $2", 2, back, &err)) != NULL)
			PQclear(r);
		goto unlock;
	}
	{
		const char *del[2] = { pl->datastore, p->path };
		if ((r = ic_db(pg, "DELETE FROM image_cache WHERE datastore = $1 AND "
		    "path = $2", 2, del, &err)) == NULL)
			goto unlock;
		PQclear(r);
	}
	/* the image's folder goes with its last disk */
	{
		char *dir = xasprintf("%s/%s", c->folder, p->image_id);
		char *like = xasprintf("%s/%%", dir);
		const char *q[2] = { pl->datastore, like };
		if ((r = ic_db(pg, "SELECT 1 FROM image_cache WHERE datastore = $1 AND "
		    "path LIKE $2", 2, q, &err)) != NULL) {
			if (PQntuples(r) == 0) {
				char *dir_ds = vcd_dspath_format(pl->datastore, dir);
				ic_remove(c->s, pl->dc, dir_ds, false);
				free(dir_ds);
			}
			PQclear(r);
		}
		free(dir);
		free(like);
	}
	log_info("imagecache: purged %s (image %s%s, unused for longer than %s s)",
	    dspath, p->image_id, p->root_gb ? ", resized copy" : "",
	    p->root_gb ? params[2] : params[1]);
	p->removed = true;
	ic_seen_set(c, key, false);
	pthread_mutex_lock(&c->lock);
	c->stats.purged++;
	c->stats.purged_bytes += p->size;
	pthread_mutex_unlock(&c->lock);
	ret = 1;
unlock:
	ic_unlock(pg, key);
out:
	if (ret < 0 && err.msg[0] != '\0')
		log_warnx("imagecache: purge of %s: %s", dspath, err.msg);
	if (ret < 0) {
		pthread_mutex_lock(&c->lock);
		c->stats.purge_failures++;
		pthread_mutex_unlock(&c->lock);
	}
	free(key);
	free(dspath);
	return ret;
}

int
ic_cache_purge(struct ic_cache *c, const struct ic_place *pl,
    const struct ic_purge_conf *pc, struct ic_purged **list, size_t *n,
    struct vcd_err *err)
{
	char orig[16], resized[16], *like = xasprintf("%s/%%", c->folder);
	const char *params[4] = { pl->datastore, orig, resized, like };
	struct ic_purged *v = NULL;
	size_t nv = 0;
	PGconn *pg;
	PGresult *r = NULL;
	int ret = -1;

	*list = NULL;
	*n = 0;
	vcd_err_clear(err);
	snprintf(orig, sizeof(orig), "%d", pc->original_age);
	snprintf(resized, sizeof(resized), "%d", pc->resized_age);
	if ((pg = ic_db_lease(c, err)) == NULL)	/* ic_purge_one's locks */
		goto out;
	r = ic_db(pg, "SELECT image_id, path, root_gb, size FROM image_cache WHERE "
	    "path LIKE $4 AND " IC_PURGEABLE " ORDER BY path", 4, params, err);
	if (r == NULL)
		goto put;
	v = xcalloc((size_t)PQntuples(r) + 1, sizeof(*v));
	for (int i = 0; i < PQntuples(r); i++) {
		struct ic_purged *p = &v[nv++];
		const char *one[4] = { pl->datastore, orig, resized, PQgetvalue(r, i, 1) };

		snprintf(p->image_id, sizeof(p->image_id), "%s", PQgetvalue(r, i, 0));
		snprintf(p->path, sizeof(p->path), "%s", PQgetvalue(r, i, 1));
		p->root_gb = (unsigned)atoi(PQgetvalue(r, i, 2));
		p->size = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		if (pc->dry_run) {
			log_info("imagecache: purge (dry run): would remove [%s] %s "
			    "(image %s)", pl->datastore, p->path, p->image_id);
			continue;
		}
		if (ic_purge_one(c, pg, pl, one, p) == 0)
			nv--;	/* in use or busy after all: not a candidate */
	}
	ret = 0;
put:
	PQclear(r);
	pgc_put(c->pg, pg, pgc_broken(pg));
out:
	if (ret == 0) {
		*list = v;
		*n = nv;
	} else
		free(v);
	free(like);
	return ret;
}
