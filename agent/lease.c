/*
 * lease.c - one consumer group serves a cluster at a time.
 *
 * Each cluster's node has a lease row in PostgreSQL (cluster_leases) owned
 * by a consumer group (kafka.group_id), not by one agent: the agents of one
 * group split the partitions between them and share the group's clusters
 * (per-request advisory locks cover a rebalance).  Every agent of the
 * owning group renews it from the cron, every third of
 * DEFAULT.cluster_lease_time; an agent of another group is refused it until
 * it has expired, and then takes it over.  Each agent records the nodes it
 * serves (cluster_lease_agents), so a group whose agents serve different
 * clusters is noticed and reported.
 *
 * A request is ours when its node's lease is our group's and this agent
 * serves the node.  A node leased to another group is not ours (a warning,
 * counted).  A node nobody holds a live lease for, or one our group holds
 * but this agent does not serve, would be lost if committed: it is
 * dead-lettered with the reason.
 *
 * Every time is PostgreSQL's now(): the agents' clocks never meet.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "buf.h"
#include "log.h"
#include "pgc.h"
#include "xmalloc.h"

struct lease_node {
	char	*node, *cluster;	/* owned */
	time_t	 held_until;		/* local clock: our group holds it */
	char	*conflict;		/* owned: who holds it instead, or NULL */
	char	*holder;		/* owned: that group, for logging changes */
};

struct agent_lease {
	pthread_mutex_t		 lock;
	struct lease_node	*nodes;
	size_t			 nnodes;
	bool			 have_nodes;
	time_t			 next_renew;
	char			*mismatch;	/* owned: the group's agents differ */
	atomic_ulong		 not_ours;	/* requests for another group's node */
	atomic_ulong		 unserved;	/* dead-lettered: nobody serves it */
};

struct agent_lease *
agent_lease_new(void)
{
	struct agent_lease *l = xcalloc(1, sizeof(*l));

	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void
agent_lease_free(struct agent_lease *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nnodes; i++) {
		free(l->nodes[i].node);
		free(l->nodes[i].cluster);
		free(l->nodes[i].conflict);
		free(l->nodes[i].holder);
	}
	free(l->nodes);
	free(l->mismatch);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static const char *
lease_agent_name(const struct agent *a)
{
	return a->cfg->def.host != NULL ? a->cfg->def.host : "vcagent";
}

static int
lease_time(const struct agent *a)
{
	return a->cfg->def.cluster_lease_time > 0 ? a->cfg->def.cluster_lease_time : 60;
}

/* The nodes found in vCenter, once (the clusters do not change after the
 * agent connected).  Called with l->lock held. */
static void
lease_nodes(struct agent *a, struct agent_lease *l)
{
	if (l->have_nodes)
		return;
	l->nodes = xcalloc(a->nclusters + 1, sizeof(*l->nodes));
	for (size_t i = 0; i < a->nclusters; i++)
		if (a->clusters[i].nodename != NULL) {
			l->nodes[l->nnodes].node = xstrdup(a->clusters[i].nodename);
			l->nodes[l->nnodes++].cluster = xstrdup(a->clusters[i].name);
		}
	l->have_nodes = true;
}

static struct lease_node *
lease_find(struct agent_lease *l, const char *node)
{
	for (size_t i = 0; i < l->nnodes; i++)
		if (strcmp(l->nodes[i].node, node) == 0)
			return &l->nodes[i];
	return NULL;
}

/*
 * Who holds NODE, in words, into WHY: "consumer group G (agents x, y)
 * until T", with *LIVE (the lease has not expired) and *OURS (it is our
 * group's).  1 when a lease row exists, 0 none, -1 (WHY: the database).
 */
static int
lease_holder(PGconn *pg, const char *node, const char *group, bool *live,
    bool *ours, char **holder, char *why, size_t wl)
{
	const char *params[2] = { node, group };
	PGresult *r;
	int ret;

	*live = *ours = false;
	if ((r = pgc_exec(pg, "SELECT l.group_id, l.expires_at > now(), "
	    "to_char(l.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	    "coalesce((SELECT string_agg(g.agent, ', ' ORDER BY g.agent) FROM "
	    "cluster_lease_agents g WHERE g.group_id = l.group_id AND g.expires_at > "
	    "now() AND g.nodes ? l.node), 'none alive'), l.group_id = $2 FROM "
	    "cluster_leases l WHERE l.node = $1", 2, params, why, wl, NULL)) == NULL)
		return -1;
	if ((ret = PQntuples(r) == 1)) {
		*live = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
		*ours = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
		snprintf(why, wl, "consumer group \"%s\" (agents: %s) %s %s",
		    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 3), *live ? "until" :
		    "whose lease expired at", PQgetvalue(r, 0, 2));
		if (holder != NULL)
			*holder = xstrdup(PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return ret;
}

/*
 * Take or renew N's lease for our group: it is ours, or it expired.  1
 * held (now until the lease time from now), 0 another group holds it
 * (N->conflict says who), -1 (WHY).  Called with l->lock held.
 */
static int
lease_take(struct agent *a, PGconn *pg, struct lease_node *n, char *why, size_t wl)
{
	char secs[16], who[512];
	const char *params[4] = { n->node, n->cluster, a->cfg->kafka.group_id, secs };
	PGresult *r;
	bool live, ours, was = time(NULL) < n->held_until;
	char *holder = NULL;
	int ret = -1;

	snprintf(secs, sizeof(secs), "%d", lease_time(a));
	if ((r = pgc_exec(pg, "INSERT INTO cluster_leases AS l (node, cluster, "
	    "group_id, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => "
	    "$4::int)) ON CONFLICT (node) DO UPDATE SET cluster = EXCLUDED.cluster, "
	    "group_id = EXCLUDED.group_id, acquired_at = CASE WHEN l.group_id = "
	    "EXCLUDED.group_id AND l.expires_at > now() THEN l.acquired_at ELSE now() "
	    "END, renewed_at = now(), expires_at = EXCLUDED.expires_at WHERE "
	    "l.group_id = EXCLUDED.group_id OR l.expires_at <= now() RETURNING "
	    "acquired_at = now()", 4, params, why, wl, NULL)) == NULL)
		return -1;
	if (PQntuples(r) == 1) {
		bool fresh = strcmp(PQgetvalue(r, 0, 0), "t") == 0;

		if (!was || n->conflict != NULL)
			log_info("cluster \"%s\" (node %s): %s by consumer group \"%s\" for "
			    "%s s", n->cluster, n->node, fresh ? "leased" : "lease held",
			    a->cfg->kafka.group_id, secs);
		if (!was)	/* its unfinished requests are ours now */
			atomic_store(&a->reconcile_again, true);
		n->held_until = time(NULL) + lease_time(a) - 1;
		free(n->conflict);
		free(n->holder);
		n->conflict = n->holder = NULL;
		ret = 1;
		goto out;
	}
	if (lease_holder(pg, n->node, a->cfg->kafka.group_id, &live, &ours, &holder,
	    who, sizeof(who)) < 0) {
		snprintf(why, wl, "%s", who);
		goto out;
	}
	n->held_until = 0;
	if (n->holder == NULL || holder == NULL || strcmp(n->holder, holder) != 0)
		log_warnx("cluster \"%s\" (node %s) is leased to %s: this agent (%s, "
		    "consumer group \"%s\") is refused it and serves it only after that "
		    "lease expired", n->cluster, n->node, who, lease_agent_name(a),
		    a->cfg->kafka.group_id);
	free(n->conflict);
	n->conflict = xasprintf("cluster \"%s\" (node %s) is leased to %s; this "
	    "agent's consumer group \"%s\" is refused it", n->cluster, n->node, who,
	    a->cfg->kafka.group_id);
	free(n->holder);
	n->holder = holder;
	holder = NULL;
	ret = 0;
out:
	PQclear(r);
	free(holder);
	return ret;
}

/* Record this agent and its nodes; notice agents of our group that serve
 * other nodes.  Called with l->lock held. */
static void
lease_agents(struct agent *a, struct agent_lease *l, PGconn *pg)
{
	json_t *arr = json_array();
	char secs[16], why[512], *nodes;
	const char *params[4] = { a->cfg->kafka.group_id, lease_agent_name(a), NULL, secs };
	PGresult *r;

	/* sorted, so equal sets compare equal */
	for (size_t i = 0; i < l->nnodes; i++) {
		size_t k = 0;
		while (k < json_array_size(arr) && strcmp(json_string_value(
		    json_array_get(arr, k)), l->nodes[i].node) < 0)
			k++;
		json_array_insert_new(arr, k, json_string(l->nodes[i].node));
	}
	nodes = json_dumps(arr, JSON_COMPACT);
	params[2] = nodes;
	snprintf(secs, sizeof(secs), "%d", lease_time(a));
	r = pgc_exec(pg, "INSERT INTO cluster_lease_agents (group_id, agent, nodes, "
	    "expires_at) VALUES ($1, $2, $3::jsonb, now() + make_interval(secs => "
	    "$4::int)) ON CONFLICT (group_id, agent) DO UPDATE SET nodes = "
	    "EXCLUDED.nodes, renewed_at = now(), expires_at = EXCLUDED.expires_at", 4,
	    params, why, sizeof(why), NULL);
	if (r == NULL) {
		log_warnx("cluster leases: cannot record this agent: %s", why);
		goto out;
	}
	PQclear(r);
	r = pgc_exec(pg, "SELECT string_agg(agent || ' serves ' || nodes::text, '; ' "
	    "ORDER BY agent) FROM cluster_lease_agents WHERE group_id = $1 AND agent "
	    "<> $2 AND expires_at > now() AND nodes <> $3::jsonb", 3, params, why,
	    sizeof(why), NULL);
	if (r == NULL) {
		log_warnx("cluster leases: %s", why);
		goto out;
	}
	if (PQgetisnull(r, 0, 0)) {
		if (l->mismatch != NULL)
			log_info("cluster leases: the agents of consumer group \"%s\" "
			    "serve the same clusters again", a->cfg->kafka.group_id);
		free(l->mismatch);
		l->mismatch = NULL;
	} else {
		char *m = xasprintf("the agents of consumer group \"%s\" serve different "
		    "clusters: %s; this agent (%s) serves %s: requests for a node only "
		    "some of them serve are dead-lettered", a->cfg->kafka.group_id,
		    PQgetvalue(r, 0, 0), lease_agent_name(a), nodes);
		if (l->mismatch == NULL || strcmp(l->mismatch, m) != 0)
			log_warnx("cluster leases: %s", m);
		free(l->mismatch);
		l->mismatch = m;
	}
	PQclear(r);
out:
	free(nodes);
	json_decref(arr);
}

void
agent_lease_renew(struct agent *a)
{
	struct agent_lease *l = a->lease;
	time_t now = time(NULL);
	char why[512];
	PGconn *pg;

	if (l == NULL || a->db == NULL || a->cache == NULL || now < l->next_renew)
		return;
	l->next_renew = now + (lease_time(a) / 3 > 0 ? lease_time(a) / 3 : 1);
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("cluster leases: not renewed: %s", why);
		return;
	}
	pthread_mutex_lock(&l->lock);
	lease_nodes(a, l);
	/* first this agent's record: a last agent of our group stopping now
	 * sees it and leaves the lease to us (agent_lease_stop) */
	lease_agents(a, l, pg);
	for (size_t i = 0; i < l->nnodes; i++)
		if (lease_take(a, pg, &l->nodes[i], why, sizeof(why)) < 0) {
			log_warnx("cluster \"%s\": lease not renewed: %s",
			    l->nodes[i].cluster, why);
			break;
		}
	pthread_mutex_unlock(&l->lock);
	pgc_put(a->db, pg, pgc_broken(pg));
}

bool
agent_lease_held(struct agent *a, const char *node)
{
	struct agent_lease *l = a->lease;
	struct lease_node *n;
	bool held = false;

	if (l == NULL || node == NULL)
		return false;
	pthread_mutex_lock(&l->lock);
	if ((n = lease_find(l, node)) != NULL)
		held = time(NULL) < n->held_until;
	pthread_mutex_unlock(&l->lock);
	return held;
}

char *
agent_lease_held_json(struct agent *a)
{
	json_t *nodes = json_array();
	char *text;

	for (size_t i = 0; i < a->nclusters; i++)
		if (agent_lease_held(a, a->clusters[i].nodename))
			json_array_append_new(nodes, json_string(a->clusters[i].nodename));
	text = json_dumps(nodes, JSON_COMPACT);
	json_decref(nodes);
	return text != NULL ? text : xstrdup("[]");
}

enum lease_verdict
agent_lease_check(struct agent *a, const char *node, char *why, size_t wl)
{
	struct agent_lease *l = a->lease;
	enum lease_verdict v = LEASE_ERROR;
	struct lease_node *n;
	bool live, ours;
	char who[512];
	PGconn *pg;
	int rc;

	if (l == NULL || a->db == NULL) {
		snprintf(why, wl, "no database");
		return LEASE_ERROR;
	}
	if ((pg = pgc_get(a->db, why, wl)) == NULL)
		return LEASE_ERROR;
	pthread_mutex_lock(&l->lock);
	lease_nodes(a, l);
	if ((n = lease_find(l, node)) != NULL) {
		/* ours to serve: take or renew its lease, or learn who has it */
		if ((rc = lease_take(a, pg, n, why, wl)) == 1)
			v = LEASE_OURS;
		else if (rc == 0) {
			snprintf(why, wl, "%s", n->conflict);
			v = LEASE_OTHER;
		}
		goto out;
	}
	if ((rc = lease_holder(pg, node, a->cfg->kafka.group_id, &live, &ours, NULL,
	    who, sizeof(who))) < 0) {
		snprintf(why, wl, "%s", who);
		goto out;
	}
	if (rc == 0 || !live) {
		snprintf(why, wl, "no agent serves node %s: %s", node, rc == 0 ?
		    "no consumer group ever leased it" : who);
		v = LEASE_NOBODY;
	} else if (ours) {
		snprintf(why, wl, "node %s is served by %s, but not by this agent (%s): "
		    "the agents of a consumer group must serve the same clusters "
		    "(vmware.cluster_name)", node, who, lease_agent_name(a));
		v = LEASE_NOBODY;
	} else {
		snprintf(why, wl, "node %s is served by %s, not by this agent's "
		    "consumer group \"%s\"", node, who, a->cfg->kafka.group_id);
		v = LEASE_OTHER;
	}
out:
	pthread_mutex_unlock(&l->lock);
	pgc_put(a->db, pg, v == LEASE_ERROR && pgc_broken(pg));
	if (v == LEASE_OTHER)
		atomic_fetch_add(&l->not_ours, 1);
	else if (v == LEASE_NOBODY)
		atomic_fetch_add(&l->unserved, 1);
	return v;
}

int
agent_lease_ready(struct agent *a, struct buf *out)
{
	struct agent_lease *l = a->lease;
	time_t now = time(NULL);
	int ret = 0, held = 0;

	if (l == NULL)
		return 0;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->nnodes; i++) {
		struct lease_node *n = &l->nodes[i];

		if (now < n->held_until)
			held++;
		else if (n->conflict != NULL) {
			buf_printf(out, "clusters: %s\n", n->conflict);
			ret = -1;
		} else {
			buf_printf(out, "clusters: cluster \"%s\" (node %s): lease not "
			    "taken yet\n", n->cluster, n->node);
			ret = -1;
		}
	}
	if (l->mismatch != NULL)
		buf_printf(out, "clusters: warning: %s\n", l->mismatch);
	if (ret == 0)
		buf_printf(out, "clusters: ok (%d leased by consumer group \"%s\")\n",
		    held, a->cfg->kafka.group_id);
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void
agent_lease_counts(struct agent *a, unsigned long *not_ours, unsigned long *unserved)
{
	*not_ours = a->lease != NULL ? atomic_load(&a->lease->not_ours) : 0;
	*unserved = a->lease != NULL ? atomic_load(&a->lease->unserved) : 0;
}

/*
 * At a clean stop: this agent leaves its group's record; when it was the
 * last live agent of its group serving a node, the group's lease of that
 * node ends now (it expires at once), so that another group takes the
 * cluster over without waiting for it.  A killed agent leaves the lease to
 * expire.  The work this agent left unfinished stays in the ledger: the
 * next group reconciles it, as after an expired lease.
 */
void
agent_lease_stop(struct agent *a)
{
	const char *params[2];
	char why[512];
	PGconn *pg;
	PGresult *r;
	bool broken = false;

	if (a->lease == NULL || a->db == NULL || a->cache == NULL)
		return;
	params[0] = a->cfg->kafka.group_id;
	params[1] = lease_agent_name(a);
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("cluster leases: not released: %s", why);
		return;
	}
	if ((r = pgc_exec(pg, "DELETE FROM cluster_lease_agents WHERE group_id = $1 "
	    "AND agent = $2", 2, params, why, sizeof(why), NULL)) == NULL) {
		log_warnx("cluster leases: not released: %s", why);
		broken = true;
		goto out;
	}
	PQclear(r);
	/* a separate statement: it must see the row deleted above gone, and
	 * any agent of the group that recorded itself meanwhile */
	if ((r = pgc_exec(pg, "UPDATE cluster_leases AS l SET expires_at = now(), "
	    "renewed_at = now() WHERE l.group_id = $1 AND l.expires_at > now() AND "
	    "NOT EXISTS (SELECT 1 FROM cluster_lease_agents g WHERE g.group_id = "
	    "l.group_id AND g.expires_at > now() AND g.nodes ? l.node) RETURNING "
	    "l.cluster, l.node", 1, params, why, sizeof(why), NULL)) == NULL) {
		log_warnx("cluster leases: not released: %s", why);
		broken = true;
		goto out;
	}
	for (int i = 0; i < PQntuples(r); i++)
		log_info("cluster \"%s\" (node %s): lease released by consumer group "
		    "\"%s\": this agent (%s) was its last live agent serving it",
		    PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), a->cfg->kafka.group_id,
		    lease_agent_name(a));
	PQclear(r);
out:
	pgc_put(a->db, pg, broken && pgc_broken(pg));
}
