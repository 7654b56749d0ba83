/*
 * agent_kafka.c - requests in from Kafka, results out.
 *
 * The main thread polls the consumer.  Each request is checked against the
 * contract (a bad one goes to the dead-letter topic with the reason, and an
 * error event is published), recorded in the ledger, handed to the
 * workers, and only then is its offset committed: at-least-once delivery,
 * and the ledger keyed by request id makes the effects happen once.
 *
 * PostgreSQL unreachable: the message is not committed; the partition is
 * sought back to it and consumption pauses for database.retry_interval.
 * Workers busy: consumption pauses until they catch up (backpressure).
 * A dead letter is committed only once the broker acknowledged it; one
 * that is refused (too large, broker errors) holds its message: the
 * partition is sought back to it and paused for database.retry_interval,
 * then it is tried again.
 *
 * A request's final event is published only once its end is in the ledger.
 * A worker that loses the database leaves the request running there and
 * re-arms the reconcile, which carries it out again when the database is
 * back (every operation can run twice).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "agent.h"
#include "buf.h"
#include "kbatch.h"
#include "ledger.h"
#include "outbox.h"
#include "log.h"
#include "pgc.h"
#include "req.h"
#include "work.h"
#include "xmalloc.h"

/* One request on its way through the workers. */
struct agent_job {
	struct agent	*a;
	struct req	 r;
	/* in a->flights, under a->flight_lock */
	struct agent_job *fl_next, **fl_prev;
	time_t		 since;		/* queued */
	bool		 running;
};

/* A message held: it could not be dead-lettered; its partition is paused
 * until UNTIL, then read again from it. */
struct agent_hold {
	char			*topic;
	int32_t			 partition;
	int64_t			 offset;
	time_t			 until;
	char			 why[300];
	struct agent_hold	*next;
};

/* A dead letter's delivery report, shared with the callback. */
enum { AGENT_DL_PENDING, AGENT_DL_OK, AGENT_DL_FAILED, AGENT_DL_ABANDONED };
struct agent_dl {
	atomic_int	state;
	char		err[256];
};

/* How long the poll thread waits for a dead letter's acknowledgement; the
 * dead-letter topic's message.timeout.ms is held below it (in ms), so the
 * delivery report comes first. */
#define AGENT_DL_WAIT		30
#define AGENT_DL_TIMEOUT_MS	25000

static void
agent_flight_add(struct agent *a, struct agent_job *job)
{
	pthread_mutex_lock(&a->flight_lock);
	job->since = time(NULL);
	job->fl_next = a->flights;
	if (a->flights != NULL)
		a->flights->fl_prev = &job->fl_next;
	job->fl_prev = &a->flights;
	a->flights = job;
	pthread_mutex_unlock(&a->flight_lock);
}

static void
agent_flight_remove(struct agent *a, struct agent_job *job)
{
	pthread_mutex_lock(&a->flight_lock);
	if (job->fl_prev != NULL) {
		*job->fl_prev = job->fl_next;
		if (job->fl_next != NULL)
			job->fl_next->fl_prev = job->fl_prev;
		job->fl_prev = NULL;
	}
	pthread_mutex_unlock(&a->flight_lock);
}

struct json_t *
agent_inflight(struct agent *a)
{
	json_t *arr = json_array();
	time_t now = time(NULL);

	pthread_mutex_lock(&a->flight_lock);
	for (struct agent_job *j = a->flights; j != NULL; j = j->fl_next)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s?, s:s, s:I}",
		    "request_id", j->r.request_id, "type", req_type_name(j->r.type),
		    "instance", j->r.instance_uuid[0] ? j->r.instance_uuid : NULL,
		    "state", j->running ? "running" : "queued", "seconds",
		    (json_int_t)(now - j->since)));
	pthread_mutex_unlock(&a->flight_lock);
	return arr;
}

static int
agent_kafka_set(rd_kafka_conf_t *kc, const char *k, const char *v, const char *what)
{
	char err[512];

	if (v == NULL)
		return 0;
	if (rd_kafka_conf_set(kc, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		log_warnx("kafka %s: %s: %s", what, k, err);	/* names the key, not the value */
		return -1;
	}
	return 0;
}

/* A client's configuration: DEFAULTS (key, value, ..., NULL), then what
 * the configuration file says, which overrides them. */
static rd_kafka_conf_t *
agent_kafka_conf(const struct cfg *cfg, const char *what, const char *const *defaults)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	int bad = 0;

	for (size_t i = 0; defaults[i] != NULL; i += 2)
		bad |= agent_kafka_set(kc, defaults[i], defaults[i + 1], what);
	bad |= agent_kafka_set(kc, "bootstrap.servers", cfg->kafka.bootstrap_servers, what);
	bad |= agent_kafka_set(kc, "client.id", cfg->kafka.client_id != NULL ?
	    cfg->kafka.client_id : cfg->def.host, what);
	for (size_t i = 0; i < cfg->kafka.properties.n; i++)
		bad |= agent_kafka_set(kc, cfg->kafka.properties.v[i].key,
		    cfg->kafka.properties.v[i].value, what);
	if (bad) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	return kc;
}

static void
agent_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 4)
		log_warnx("kafka: %s: %s", fac, buf);
	else
		log_debug("kafka: %s: %s", fac, buf);
}

/*
 * Delivery reports (on whichever thread polls the producer).  A dead letter
 * carries its struct agent_dl: the result goes there, and the report frees
 * it when the waiter gave up.  An event that is lost is logged.
 */
static void
agent_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct agent_dl *dl = m->_private;
	struct agent *a = opaque;

	/* a final event waited for (outbox.c); the configuration keeps the
	 * dead-letter topic apart from the results topic */
	if (dl != NULL && strcmp(rd_kafka_topic_name(m->rkt),
	    a->cfg->kafka.dead_letter_topic) != 0) {
		agent_outbox_dr(rk, m, opaque);
		return;
	}
	if (dl == NULL) {
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			log_warnx("kafka: an event to %s was not delivered: %s",
			    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		return;
	}
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		snprintf(dl->err, sizeof(dl->err), "%s", rd_kafka_err2str(m->err));
	if (atomic_exchange(&dl->state, m->err != RD_KAFKA_RESP_ERR_NO_ERROR ?
	    AGENT_DL_FAILED : AGENT_DL_OK) == AGENT_DL_ABANDONED)
		free(dl);
}

/* Publish TEXT to TOPIC with KEY (may be NULL). */
static void
agent_publish(struct agent *a, const char *topic, const char *key, const char *text)
{
	rd_kafka_resp_err_t e;
	size_t klen = key != NULL ? strlen(key) : 0;

	e = rd_kafka_producev(a->producer, RD_KAFKA_V_TOPIC(topic),
	    RD_KAFKA_V_KEY(key, klen),
	    RD_KAFKA_V_VALUE((void *)text, strlen(text)),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("kafka: cannot publish to %s: %s", topic, rd_kafka_err2str(e));
}

void
agent_event_raw(struct agent *a, const char *key, const char *text)
{
	if (a->producer != NULL)
		agent_publish(a, a->cfg->kafka.result_topic, key, text);
}

void
agent_request_raw(struct agent *a, const char *key, const char *text)
{
	if (a->producer != NULL)
		agent_publish(a, a->cfg->kafka.request_topic, key, text);
}

static void
agent_event(struct agent *a, const struct req *r, const struct req_outcome *o)
{
	char *ev = req_event(r->request_id, req_type_name(r->type), r->node,
	    r->instance_uuid, o);

	agent_publish(a, a->cfg->kafka.result_topic, r->instance_uuid[0] ?
	    r->instance_uuid : r->request_id, ev);
	free(ev);
}

/* ---- the workers ---- */

/*
 * A worker's abort check (vcd_abort_set) while its request runs: its lock
 * is held on the lease connection PG, which is never reset behind its
 * back, so a connection that no longer answers means the lock is gone and
 * another agent may run the request now.  vcdriver asks before every change
 * it sends and while it waits for a task; PG is asked at most every 2 s,
 * from the worker's own thread (a libpq connection is not shared).
 */
#define AGENT_LOCK_CHECK_SECS	2.0

struct agent_lockchk {
	PGconn		*pg;
	const struct req *r;
	struct timespec	 last;		/* last asked; 0: never */
	bool		 lost;
};

static int
agent_lock_lost(void *arg, char *why, size_t len)
{
	struct agent_lockchk *lc = arg;
	struct timespec now;

	if (!lc->lost) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (lc->last.tv_sec != 0 && (double)(now.tv_sec - lc->last.tv_sec) +
		    (now.tv_nsec - lc->last.tv_nsec) / 1e9 < AGENT_LOCK_CHECK_SECS)
			return 0;
		lc->last = now;
		if (pgc_alive(lc->pg))
			return 0;
		lc->lost = true;
		log_warnx("request %s (%s %s): the connection holding its lock was "
		    "lost: stopping its work", lc->r->request_id,
		    req_type_name(lc->r->type), lc->r->instance_uuid);
	}
	snprintf(why, len, "the lock of request %s was lost", lc->r->request_id);
	return 1;
}

static void
agent_job_run(void *arg, void *jobp)
{
	struct agent_job *job = jobp;
	struct agent *a = arg;
	struct req *r = &job->r;
	struct agent_op op;
	struct req_outcome o = { "started", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	char why[512], *ev;
	PGconn *pg = NULL;
	int rc, attempt;
	struct agent_lockchk lc;

	/* one runner per request, across agents (a takeover after a rebalance),
	 * its lock on a connection that is never reset behind our back */
	if ((pg = pgc_lease(a->db, why, sizeof(why))) == NULL ||
	    (rc = ledger_claim(pg, r->request_id, &attempt, why,
	    sizeof(why))) < 0) {
		log_warnx("request %s: cannot take its lock: %s (it stays in the ledger, "
		    "taken up again when the database is back)", r->request_id, why);
		atomic_store(&a->reconcile_again, true);
		goto out;
	}
	if (rc == 0) {
		log_info("request %s is being carried out elsewhere, or is done",
		    r->request_id);
		goto out;
	}
	memset(&lc, 0, sizeof(lc));
	lc.pg = pg;
	lc.r = r;
	clock_gettime(CLOCK_MONOTONIC, &lc.last);	/* the claim proved the lock */
	pthread_mutex_lock(&a->flight_lock);
	job->running = true;
	pthread_mutex_unlock(&a->flight_lock);
	agent_event(a, r, &o);
	{
		static const double bounds[] = AGENT_LAT_BOUNDS;
		struct timespec t0, t1;
		double secs;
		size_t b;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		vcd_abort_set(agent_lock_lost, &lc);
		rc = agent_op_run(a, pg, r, attempt, &op);
		vcd_abort_set(NULL, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		for (b = 0; b < sizeof(bounds) / sizeof(bounds[0]) && secs > bounds[b]; b++)
			;
		atomic_fetch_add(&a->req_lat_bucket[b], 1);
		atomic_fetch_add(&a->req_lat_ms_sum, (unsigned long)(secs * 1000));
		atomic_fetch_add(&a->req_count[r->type][rc == 0 ? 0 : 1], 1);
	}
	if (rc == 0) {
		o = (struct req_outcome){ "succeeded", NULL, NULL, NULL, op.vm,
		    op.power_state, op.vm_state, op.detail_key, op.detail };
		log_info("request %s (%s %s) succeeded", r->request_id,
		    req_type_name(r->type), r->instance_uuid);
	} else {
		char msg[800];
		o = (struct req_outcome){ "failed", op.err.fault[0] ? op.err.fault :
		    "Error", op.err.msg, op.err.object, op.vm, NULL, NULL, NULL, NULL };
		log_warnx("request %s (%s %s) failed: %s", r->request_id,
		    req_type_name(r->type), r->instance_uuid,
		    vcd_strerror(&op.err, msg, sizeof(msg)));
	}
	/*
	 * The final event goes out only once it is the ledger's: a failure that
	 * met a lost connection may be only that (the VM made and running, its
	 * row not written), so it is not the request's end; nor is an end the
	 * ledger did not take; nor one whose lock went with its session (another
	 * agent may run it now).  Either way the request stays running in the
	 * ledger, and the reconcile, re-armed here, carries it out again once
	 * the database is back.  A recorded end is pending in the outbox until
	 * Kafka acknowledges it (outbox.c).
	 */
	ev = req_event(r->request_id, req_type_name(r->type), r->node, r->instance_uuid,
	    &o);
	agent_op_done(&op);
	/* the end written on the lock's own session is the proof that the lock
	 * still holds: a lease connection is never reset, so a lost session
	 * fails the write */
	if (!lc.lost && !pgc_broken(pg) && ledger_finish(pg, r->request_id, rc == 0,
	    ev, rc == 0 ? NULL : op.err.msg, rc == 0 ? &op.inst : NULL, why,
	    sizeof(why)) == 0) {
		/*
		 * The cluster's record, on change: only now that the instance
		 * row's end is committed, or the cron tick could count the row
		 * as it was and, the flag taken, leave the record stale until
		 * update_resources_interval (seen as a deleted instance still
		 * counted, in a loaded CI run).
		 */
		if (rc == 0 && (r->type == REQ_SPAWN || r->type == REQ_DELETE ||
		    r->type == REQ_MIGRATE || r->type == REQ_RESIZE ||
		    r->type == REQ_RESIZE_REVERT))
			atomic_store(&a->usage_changed, true);
		/* not waited for: the acknowledgement clears it (outbox.c) */
		(void)agent_outbox_send(a, r->instance_uuid[0] ? r->instance_uuid :
		    r->request_id, ev, r->request_id);
	} else if (lc.lost || pgc_broken(pg)) {
		log_warnx("request %s (%s %s): the connection holding its lock was lost "
		    "while it ran: its end is not known, no final event: the reconcile "
		    "finishes it once the database is back", r->request_id,
		    req_type_name(r->type), r->instance_uuid);
		if (rc != 0)
			atomic_fetch_sub(&a->req_count[r->type][1], 1);	/* not its end */
		atomic_store(&a->reconcile_again, true);
	} else {
		log_warnx("request %s: cannot record its end: %s; no final event: "
		    "carried out again once the database is back", r->request_id, why);
		atomic_store(&a->reconcile_again, true);
	}
	/* ledger_finish released the lock; else pgc_put does (or it went
	 * with the session) */
	free(ev);
out:
	if (pg != NULL)
		pgc_put(a->db, pg, pgc_broken(pg));
	agent_flight_remove(a, job);
	req_free(r);
	free(job);
}

static void
agent_job_drop(void *jobp)
{
	struct agent_job *job = jobp;

	agent_flight_remove(job->a, job);
	req_free(&job->r);
	free(job);
}

static void
agent_submit(struct agent *a, struct req *r)
{
	struct agent_job *job = xcalloc(1, sizeof(*job));

	job->a = a;
	job->r = *r;		/* moved */
	memset(r, 0, sizeof(*r));
	agent_flight_add(a, job);
	work_submit(a->work, job->r.instance_uuid[0] ? job->r.instance_uuid :
	    job->r.request_id, job);
}

/* ---- the consumer ---- */

static int
agent_retry_secs(const struct agent *a)
{
	return a->cfg->database.retry_interval > 0 ? a->cfg->database.retry_interval : 10;
}

/* Pause or resume one partition. */
static void
agent_partition_pause(struct agent *a, const char *topic, int32_t partition, bool pause)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, topic, partition);
	if (pause)
		rd_kafka_pause_partitions(a->consumer, l);
	else
		rd_kafka_resume_partitions(a->consumer, l);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Read the partition again from M, later: M could not be dead-lettered
 * (WHY).  Its partition pauses for the retry interval; others go on. */
static void
agent_hold(struct agent *a, const rd_kafka_message_t *m, const char *why)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	struct agent_hold *h;

	pthread_mutex_lock(&a->flight_lock);
	for (h = a->holds; h != NULL; h = h->next)
		if (h->partition == m->partition && strcmp(h->topic, topic) == 0)
			break;
	if (h == NULL) {
		h = xcalloc(1, sizeof(*h));
		h->topic = xstrdup(topic);
		h->partition = m->partition;
		h->next = a->holds;
		a->holds = h;
	}
	h->offset = m->offset;
	h->until = time(NULL) + agent_retry_secs(a);
	snprintf(h->why, sizeof(h->why), "%s", why);
	pthread_mutex_unlock(&a->flight_lock);
	agent_partition_pause(a, topic, m->partition, true);
	if (a->reseek == NULL)
		a->reseek = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(a->reseek, topic, m->partition)->offset =
	    m->offset;
}

/*
 * Holds whose time came: their partitions resume, from the held message,
 * which is tried again; the hold stays (shown) until a message of that
 * partition is committed (agent_hold_done).  With ALL, every hold goes
 * (the partitions were revoked).
 */
static void
agent_holds_release(struct agent *a, bool all)
{
	struct agent_hold **pp, *h;
	time_t now = time(NULL);

	pthread_mutex_lock(&a->flight_lock);
	for (pp = &a->holds; (h = *pp) != NULL; ) {
		if (!all) {
			if (h->until != 0 && now >= h->until) {
				agent_partition_pause(a, h->topic, h->partition, false);
				h->until = 0;	/* retrying */
			}
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		free(h->topic);
		free(h);
	}
	pthread_mutex_unlock(&a->flight_lock);
}

/* A message of TOPIC [PARTITION] was committed: its hold, if any, is over. */
static void
agent_hold_done(struct agent *a, const char *topic, int32_t partition)
{
	struct agent_hold **pp, *h;

	pthread_mutex_lock(&a->flight_lock);
	for (pp = &a->holds; (h = *pp) != NULL; pp = &h->next)
		if (h->partition == partition && strcmp(h->topic, topic) == 0) {
			*pp = h->next;
			log_info("kafka: %s [%d]: the held message is handled, consuming "
			    "on", topic, partition);
			free(h->topic);
			free(h);
			break;
		}
	pthread_mutex_unlock(&a->flight_lock);
}

/* After a resume of every partition: the held ones pause again. */
static void
agent_holds_repause(struct agent *a)
{
	pthread_mutex_lock(&a->flight_lock);
	for (struct agent_hold *h = a->holds; h != NULL; h = h->next)
		if (h->until != 0)	/* waiting for its retry */
			agent_partition_pause(a, h->topic, h->partition, true);
	pthread_mutex_unlock(&a->flight_lock);
}

size_t
agent_held(struct agent *a, struct buf *out)
{
	size_t n = 0;

	pthread_mutex_lock(&a->flight_lock);
	for (struct agent_hold *h = a->holds; h != NULL; h = h->next, n++)
		buf_printf(out, "kafka: %s [%d] offset %lld cannot be dead-lettered to "
		    "%s: %s (held, not committed)\n", h->topic, h->partition,
		    (long long)h->offset, a->cfg->kafka.dead_letter_topic, h->why);
	pthread_mutex_unlock(&a->flight_lock);
	return n;
}

/* Wait for the delivery report of DL (the poll thread serves the
 * producer's callbacks meanwhile).  0 acknowledged, -1 with WHY. */
static int
agent_dl_wait(struct agent *a, struct agent_dl *dl, char *why, size_t wl)
{
	time_t until = time(NULL) + AGENT_DL_WAIT;
	int st;

	while ((st = atomic_load(&dl->state)) == AGENT_DL_PENDING && time(NULL) < until)
		rd_kafka_poll(a->producer, 100);
	if (st == AGENT_DL_PENDING &&
	    (st = atomic_exchange(&dl->state, AGENT_DL_ABANDONED)) == AGENT_DL_PENDING) {
		/* the report frees it when it comes */
		snprintf(why, wl, "not acknowledged within %d s", AGENT_DL_WAIT);
		return -1;
	}
	if (st == AGENT_DL_FAILED)
		snprintf(why, wl, "%s", dl->err);
	free(dl);
	return st == AGENT_DL_OK ? 0 : -1;
}

/*
 * The dead-letter topic's handle (the caller destroys it): the producer's
 * topic configuration, with message.timeout.ms at most AGENT_DL_TIMEOUT_MS.
 * The first handle made sets the configuration.
 */
static rd_kafka_topic_t *
agent_dl_topic(struct agent *a)
{
	rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(a->producer);
	char v[32], err[256];
	size_t len = sizeof(v);

	if (rd_kafka_topic_conf_get(tc, "message.timeout.ms", v, &len) !=
	    RD_KAFKA_CONF_OK || atol(v) <= 0 || atol(v) > AGENT_DL_TIMEOUT_MS) {
		snprintf(v, sizeof(v), "%d", AGENT_DL_TIMEOUT_MS);
		(void)rd_kafka_topic_conf_set(tc, "message.timeout.ms", v, err,
		    sizeof(err));
	}
	return rd_kafka_topic_new(a->producer, a->cfg->kafka.dead_letter_topic, tc);
}

int
agent_dead_letter(struct agent *a, const rd_kafka_message_t *m, const char *fault,
    const char *why)
{
	struct req_outcome o = { "rejected", fault, why, NULL, NULL, NULL, NULL, NULL, NULL };
	struct req_ident id;
	struct agent_dl *dl = xcalloc(1, sizeof(*dl));
	rd_kafka_headers_t *h = rd_kafka_headers_new(3);
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t e;
	char err[300], *ev;
	int ret = -1;

	log_warnx("kafka: %s [%d] offset %lld: %s (to %s)", rd_kafka_topic_name(m->rkt),
	    m->partition, (long long)m->offset, why, a->cfg->kafka.dead_letter_topic);
	atomic_init(&dl->state, AGENT_DL_PENDING);
	rd_kafka_header_add(h, "vcagent-reason", -1, why, -1);
	rd_kafka_header_add(h, "vcagent-fault", -1, fault, -1);
	rd_kafka_header_add(h, "vcagent-source", -1, rd_kafka_topic_name(m->rkt), -1);
	if ((rkt = agent_dl_topic(a)) == NULL) {
		rd_kafka_headers_destroy(h);
		free(dl);
		snprintf(err, sizeof(err), "%s", rd_kafka_err2str(rd_kafka_last_error()));
		goto out;
	}
	e = rd_kafka_producev(a->producer,
	    RD_KAFKA_V_RKT(rkt),
	    RD_KAFKA_V_KEY(m->key, m->key_len),
	    RD_KAFKA_V_VALUE(m->payload, m->len),
	    RD_KAFKA_V_HEADERS(h),
	    RD_KAFKA_V_OPAQUE(dl),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	rd_kafka_topic_destroy(rkt);	/* the message holds its own */
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_headers_destroy(h);
		free(dl);
		snprintf(err, sizeof(err), "%s", rd_kafka_err2str(e));
		goto out;
	}
	if (agent_dl_wait(a, dl, err, sizeof(err)) < 0)
		goto out;
	req_ident(m->payload, m->len, &id);
	ev = req_event(id.request_id[0] ? id.request_id : NULL, id.type[0] ? id.type :
	    NULL, id.node, NULL, &o);
	agent_publish(a, a->cfg->kafka.result_topic, id.request_id[0] ? id.request_id :
	    NULL, ev);
	free(ev);
	atomic_fetch_add(&a->req_count[REQ_NTYPES][2], 1);	/* type unknown */
	ret = 0;
out:
	if (ret < 0) {
		atomic_fetch_add(&a->dl_failures, 1);
		log_warnx("kafka: %s [%d] offset %lld: cannot dead-letter to %s: %s; the "
		    "message is kept (not committed) and tried again in %d s",
		    rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset,
		    a->cfg->kafka.dead_letter_topic, err, agent_retry_secs(a));
		agent_hold(a, m, err);
	}
	return ret;
}
/*
 * ---- one poll's messages as a batch ----
 *
 * The messages one poll brings (up to AGENT_BATCH_MAX, and no more than
 * the workers' queue has room for) are handled together: each is parsed
 * and its node's lease checked (once per node and batch); the requests
 * that are ours are recorded in the ledger in one statement (one round
 * trip, one transaction); then, in the order they came, each is handled
 * as it was recorded, the events of the batch go out in one produce and
 * the requests to the workers, and the offsets are committed once, per
 * partition up to the first message that was not handled.  A message that
 * is not handled (the database failed, a dead letter not acknowledged)
 * stops its partition there: it is sought back to it, and the messages
 * after it in the batch are read again with it.  A failed ledger statement
 * records none of the batch, so none of its requests is committed.
 */
#define AGENT_BATCH_MAX		64
/* How long a full workers' queue holds the consumer before it pauses. */
#define AGENT_FULL_WAIT_MS	2000

enum agent_kind { AGENT_M_ERROR, AGENT_M_BAD, AGENT_M_REQ };

struct agent_msg {
	rd_kafka_message_t	*m;		/* owned */
	enum agent_kind		 kind;
	struct req		 r;		/* AGENT_M_REQ: owned until moved */
	enum lease_verdict	 lease;
	char			 why[600];	/* AGENT_M_BAD, or the lease's */
	struct ledger_item	*item;		/* LEASE_OURS: its ledger answer */
	int			 rc;		/* agent_message()'s; 1 not
						 * asked (its partition stopped) */
};

/* kb_walk()'s handler: one message of the batch (struct agent_walk). */
struct agent_walk {
	struct agent		*a;
	struct agent_msg	*b;
	const char		*ledger_why;
	struct agent_out	*out;
};

/* A node that is ours, asked once per batch. */
struct agent_node_verdict {
	const char		*node;		/* a request's */
};

/* What goes out once the batch is walked (or before a dead letter, which
 * publishes on its own): events to the results topic, in order, and then
 * the requests to the workers. */
struct agent_out {
	rd_kafka_message_t	 ev[AGENT_BATCH_MAX];
	size_t			 nev;
	struct req		 jobs[AGENT_BATCH_MAX];
	size_t			 njobs;
};

static void
agent_out_event(struct agent_out *o, const char *key, char *text)
{
	rd_kafka_message_t *e = &o->ev[o->nev++];

	memset(e, 0, sizeof(*e));
	e->key = xstrdup(key);
	e->key_len = strlen(key);
	e->payload = text;		/* owned here until the flush */
	e->len = strlen(text);
}

/* The events in one produce, then the jobs: a request's accepted event is
 * queued before its worker can publish "started". */
static void
agent_out_flush(struct agent *a, struct agent_out *o)
{
	rd_kafka_topic_t *rkt;
	int sent;

	if (o->nev > 0 && (rkt = rd_kafka_topic_new(a->producer,
	    a->cfg->kafka.result_topic, NULL)) != NULL) {
		sent = rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA,
		    RD_KAFKA_MSG_F_COPY, o->ev, (int)o->nev);
		if (sent != (int)o->nev)
			for (size_t i = 0; i < o->nev; i++)
				if (o->ev[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
					log_warnx("kafka: cannot publish to %s: %s",
					    a->cfg->kafka.result_topic,
					    rd_kafka_err2str(o->ev[i].err));
		rd_kafka_topic_destroy(rkt);
	} else if (o->nev > 0)
		log_warnx("kafka: cannot publish to %s: %s", a->cfg->kafka.result_topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
	for (size_t i = 0; i < o->nev; i++) {
		free(o->ev[i].key);
		free(o->ev[i].payload);
	}
	o->nev = 0;
	for (size_t i = 0; i < o->njobs; i++)
		agent_submit(a, &o->jobs[i]);
	o->njobs = 0;
}

/* 0: handled (commit); -1: the database failed (do not commit, retry);
 * -2: it could not be dead-lettered (held: do not commit).  LEDGER_WHY:
 * the ledger statement of the batch failed. */
static int
agent_message(struct agent *a, struct agent_msg *bm, const char *ledger_why,
    struct agent_out *out)
{
	const rd_kafka_message_t *m = bm->m;
	struct req *r = &bm->r;
	char why[600];

	if (bm->kind == AGENT_M_BAD) {
		agent_out_flush(a, out);
		return agent_dead_letter(a, m, "InvalidRequest", bm->why) == 0 ? 0 : -2;
	}
	switch (bm->lease) {
	case LEASE_OURS:
		break;
	case LEASE_OTHER:	/* that group's agents carry it out */
		log_warnx("request %s is not ours: %s", r->request_id, bm->why);
		return 0;
	case LEASE_NOBODY:	/* would be lost: keep it where it can be seen */
		agent_out_flush(a, out);
		return agent_dead_letter(a, m, "NodeNotServed", bm->why) == 0 ? 0 : -2;
	default:
		log_warnx("request %s: the ledger is unreachable (cluster leases): %s",
		    r->request_id, bm->why);
		return -1;
	}
	if (ledger_why != NULL) {
		log_warnx("request %s: the ledger: %s", r->request_id, ledger_why);
		return -1;
	}
	switch (bm->item->state) {
	case LEDGER_OTHER:
		/* never run under another request's record */
		snprintf(why, sizeof(why), "request %s (%s): request_id was used already "
		    "for a different request: the payload differs from the one in the "
		    "ledger", r->request_id, req_type_name(r->type));
		agent_out_flush(a, out);
		return agent_dead_letter(a, m, "RequestIdReused", why) == 0 ? 0 : -2;
	case LEDGER_DONE:
		log_info("request %s was carried out already: its result again",
		    r->request_id);
		if (bm->item->result != NULL) {
			agent_out_event(out, r->instance_uuid[0] ? r->instance_uuid :
			    r->request_id, bm->item->result);
			bm->item->result = NULL;
		}
		return 0;
	default: {
		struct req_outcome o = { "accepted", NULL, NULL, NULL, NULL, NULL,
		    NULL, NULL, NULL };
		agent_out_event(out, r->instance_uuid[0] ? r->instance_uuid :
		    r->request_id, req_event(r->request_id, req_type_name(r->type),
		    r->node, r->instance_uuid, &o));
		out->jobs[out->njobs++] = *r;	/* moved */
		memset(r, 0, sizeof(*r));
		bm->kind = AGENT_M_ERROR;	/* nothing of it left to free */
		return 0;
	}
	}
}

/* BM's lease verdict; a node found ours is not asked again in the batch
 * (V, *NV). */
static void
agent_msg_lease(struct agent *a, struct agent_msg *bm, struct agent_node_verdict *v,
    size_t *nv)
{
	size_t i;

	for (i = 0; i < *nv; i++)
		if (strcmp(v[i].node, bm->r.node) == 0) {
			bm->lease = LEASE_OURS;
			return;
		}
	/* only ours is remembered: the others are counted per request */
	if ((bm->lease = agent_lease_check(a, bm->r.node, bm->why,
	    sizeof(bm->why))) == LEASE_OURS)
		v[(*nv)++].node = bm->r.node;
}

static int
agent_walk_one(void *arg, size_t i)
{
	struct agent_walk *w = arg;

	return w->b[i].rc = agent_message(w->a, &w->b[i], w->ledger_why, w->out);
}

static bool agent_kafka_reseek(struct agent *a);

/* Handle the N messages MS (they are freed here). */
static void
agent_batch(struct agent *a, rd_kafka_message_t **ms, size_t n, time_t now)
{
	struct agent_msg *b = xcalloc(n, sizeof(*b));
	struct ledger_item *items = xcalloc(n, sizeof(*items));
	struct agent_node_verdict *nodes = xcalloc(n, sizeof(*nodes));
	struct kb_part *parts = xcalloc(n, sizeof(*parts));
	struct kb_msg *km = xcalloc(n, sizeof(*km));
	struct agent_out *out = xcalloc(1, sizeof(*out));
	struct agent_walk w = { a, b, NULL, out };
	rd_kafka_topic_partition_list_t *commit = NULL;
	const char *ledger_why = NULL;
	char why[600];
	size_t ni = 0, nv = 0, np = 0;
	bool db_failed = false, held = false;
	PGconn *pg;

	/* what each one is, and whose */
	for (size_t i = 0; i < n; i++) {
		struct agent_msg *bm = &b[i];

		bm->m = ms[i];
		bm->kind = AGENT_M_ERROR;
		bm->rc = 1;		/* not handled (yet) */
		if (bm->m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		if (req_parse(bm->m->payload, bm->m->len, &bm->r, bm->why,
		    sizeof(bm->why)) < 0) {
			bm->kind = AGENT_M_BAD;
			continue;
		}
		bm->kind = AGENT_M_REQ;
		agent_msg_lease(a, bm, nodes, &nv);
		if (bm->lease == LEASE_OURS) {
			bm->item = &items[ni++];
			bm->item->r = &bm->r;
			bm->item->topic = rd_kafka_topic_name(bm->m->rkt);
			bm->item->partition = bm->m->partition;
			bm->item->offset = bm->m->offset;
		}
	}
	/* recorded, all in one statement */
	if (ni > 0) {
		if (a->db == NULL || (pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
			if (a->db == NULL)
				snprintf(why, sizeof(why), "no database");
			ledger_why = why;
		} else if (ledger_accept_batch(pg, items, ni, a->cfg->def.host != NULL ?
		    a->cfg->def.host : "vcagent", why, sizeof(why)) < 0) {
			pgc_put(a->db, pg, true);
			ledger_why = why;
		} else
			pgc_put(a->db, pg, false);
	}
	w.ledger_why = ledger_why;
	/* in order; a partition stops at its first message not handled */
	for (size_t i = 0; i < n; i++) {
		km[i].topic = rd_kafka_topic_name(b[i].m->rkt);
		km[i].partition = b[i].m->partition;
		km[i].offset = b[i].m->offset;
		if ((km[i].skip = b[i].m->err != RD_KAFKA_RESP_ERR_NO_ERROR) &&
		    b[i].m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warnx("kafka: %s", rd_kafka_message_errstr(b[i].m));
	}
	np = kb_walk(km, n, agent_walk_one, &w, parts);
	/* each stopped partition: by its message that was not handled */
	for (size_t k = 0; k < n; k++) {
		if (b[k].rc == -2)
			held = true;	/* agent_hold: sought back, paused */
		else if (b[k].rc == -1) {
			/* not recorded: read it again once the database is back */
			db_failed = true;
			if (a->reseek == NULL)
				a->reseek = rd_kafka_topic_partition_list_new(1);
			rd_kafka_topic_partition_list_add(a->reseek, km[k].topic,
			    km[k].partition)->offset = km[k].offset;
		}
	}
	agent_out_flush(a, out);
	/* committed once, per partition up to what was handled */
	for (size_t i = 0; i < np; i++) {
		if (parts[i].next < 0)
			continue;
		if (commit == NULL)
			commit = rd_kafka_topic_partition_list_new((int)np);
		rd_kafka_topic_partition_list_add(commit, parts[i].topic,
		    parts[i].partition)->offset = parts[i].next;
		if (a->holds != NULL)
			agent_hold_done(a, parts[i].topic, parts[i].partition);
	}
	if (commit != NULL) {
		rd_kafka_commit(a->consumer, commit, 1);
		rd_kafka_topic_partition_list_destroy(commit);
		a->kafka_ok = true;
		atomic_store(&a->kafka_up, true);
	}
	if (held || db_failed)
		agent_kafka_reseek(a);
	if (db_failed)
		a->db_wait_until = now + agent_retry_secs(a);
	for (size_t i = 0; i < n; i++) {
		if (b[i].kind == AGENT_M_REQ)
			req_free(&b[i].r);
		rd_kafka_message_destroy(b[i].m);
	}
	for (size_t i = 0; i < ni; i++)
		free(items[i].result);
	free(out);
	free(km);
	free(parts);
	free(nodes);
	free(items);
	free(b);
}

/* Brokers all down: not ready until a message or an assignment comes. */
static void
agent_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct agent *a = opaque;

	(void)rk;
	log_warnx("kafka: %s", reason);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		atomic_store(&a->kafka_up, false);
}

static void
agent_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct agent *a = opaque;

	a->rebalances++;	/* a batch being read stops there */
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		log_info("kafka: assigned %d partition(s)", parts->cnt);
		atomic_store(&a->kafka_up, true);
		rd_kafka_assign(rk, parts);
	} else {
		log_info("kafka: %d partition(s) revoked", parts->cnt);
		/* their unrecorded messages are not committed: the next owner reads them */
		agent_holds_release(a, true);
		if (a->reseek != NULL) {
			rd_kafka_topic_partition_list_destroy(a->reseek);
			a->reseek = NULL;
		}
		rd_kafka_assign(rk, NULL);
	}
}

int
agent_kafka_start(struct agent *a)
{
	/*
	 * Defaults that kafka.properties may override.  A broker answers a
	 * fetch as soon as fetch.min.bytes (1) are there, so fetch.wait.max.ms
	 * only bounds how often an idle consumer asks: 500 ms costs no latency
	 * and about 2 fetches a second.  (At 10 ms the idle agent's consumer
	 * thread woke 100 times a second: 12-14 ms of CPU per second, 9 of 10
	 * of it there.  librdkafka's mock cluster, the tests' broker, holds an
	 * empty fetch for its whole wait: the tests set 10 ms.)  The producer
	 * waits at most 2 ms to batch events, and every event is acknowledged
	 * by all replicas.
	 */
	static const char *const cdef[] = { "fetch.wait.max.ms", "500",
	    "fetch.min.bytes", "1", NULL };
	static const char *const pdef[] = { "acks", "all", "linger.ms", "2", NULL };
	const struct cfg *cfg = a->cfg;
	rd_kafka_conf_t *cc = agent_kafka_conf(cfg, "consumer", cdef), *pc;
	rd_kafka_topic_partition_list_t *topics;
	char err[512], num[16];

	if (cc == NULL)
		return -1;
	snprintf(num, sizeof(num), "%d", cfg->kafka.session_timeout_ms);
	agent_kafka_set(cc, "session.timeout.ms", num, "consumer");
	snprintf(num, sizeof(num), "%d", cfg->kafka.heartbeat_interval_ms);
	agent_kafka_set(cc, "heartbeat.interval.ms", num, "consumer");
	agent_kafka_set(cc, "group.id", cfg->kafka.group_id, "consumer");
	agent_kafka_set(cc, "enable.auto.commit", "false", "consumer");
	agent_kafka_set(cc, "enable.auto.offset.store", "false", "consumer");
	agent_kafka_set(cc, "auto.offset.reset", "earliest", "consumer");
	rd_kafka_conf_set_log_cb(cc, agent_kafka_log);
	rd_kafka_conf_set_rebalance_cb(cc, agent_rebalance);
	rd_kafka_conf_set_error_cb(cc, agent_kafka_error);
	rd_kafka_conf_set_opaque(cc, a);
	if ((pc = agent_kafka_conf(cfg, "producer", pdef)) == NULL) {
		rd_kafka_conf_destroy(cc);
		return -1;
	}
	rd_kafka_conf_set_log_cb(pc, agent_kafka_log);
	rd_kafka_conf_set_opaque(pc, a);
	rd_kafka_conf_set_dr_msg_cb(pc, agent_delivered);
	if ((a->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err))) == NULL) {
		log_warnx("kafka producer: %s", err);
		rd_kafka_conf_destroy(pc);
		rd_kafka_conf_destroy(cc);
		return -1;
	}
	if ((a->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err))) == NULL) {
		log_warnx("kafka consumer: %s", err);
		rd_kafka_conf_destroy(cc);
		return -1;
	}
	rd_kafka_poll_set_consumer(a->consumer);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, cfg->kafka.request_topic,
	    RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(a->consumer, topics) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("kafka: cannot subscribe to %s", cfg->kafka.request_topic);
	rd_kafka_topic_partition_list_destroy(topics);
	a->work = work_new(cfg->def.max_concurrent_builds > 0 ?
	    cfg->def.max_concurrent_builds : 10, agent_job_run, a);
	log_info("kafka: consuming %s in group %s, results to %s",
	    cfg->kafka.request_topic, cfg->kafka.group_id, cfg->kafka.result_topic);
	return 0;
}

/* Requests a crash left unfinished: their offsets are committed already. */
void
agent_kafka_reconcile(struct agent *a)
{
	char **nodes = xcalloc(a->nclusters + 1, sizeof(*nodes)), **texts = NULL, why[512];
	size_t nn = 0, n = 0;
	PGconn *pg;

	if (a->db == NULL || a->work == NULL)
		goto out;
	for (size_t i = 0; i < a->nclusters; i++)
		if (agent_lease_held(a, a->clusters[i].nodename))	/* not another group's */
			nodes[nn++] = a->clusters[i].nodename;
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("reconcile: %s (tried again at the next turn)", why);
		goto out;
	}
	if (ledger_unfinished(pg, nodes, nn, &texts, &n, why, sizeof(why)) < 0) {
		log_warnx("reconcile: %s (tried again at the next turn)", why);
		pgc_put(a->db, pg, true);
		goto out;
	}
	agent_outbox_resend(a, pg, nodes, nn);
	pgc_put(a->db, pg, pgc_broken(pg));
	a->reconciled = true;
	for (size_t i = 0; i < n; i++) {
		struct req r;
		if (req_parse(texts[i], strlen(texts[i]), &r, why, sizeof(why)) == 0) {
			log_info("reconcile: request %s (%s %s) was left unfinished: "
			    "carrying it out", r.request_id, req_type_name(r.type),
			    r.instance_uuid);
			agent_submit(a, &r);
		}
		free(texts[i]);
	}
out:
	free(texts);
	free(nodes);
}

/*
 * Seek back to the messages the ledger could not record.  A seek that fails
 * (the partition not fetching yet) is kept and tried again: consumption
 * waits for it, or the message would be skipped.  librdkafka hands us its
 * error object to free.
 */
static bool
agent_kafka_reseek(struct agent *a)
{
	rd_kafka_error_t *e;

	if (a->reseek == NULL)
		return true;
	if ((e = rd_kafka_seek_partitions(a->consumer, a->reseek, 2000)) != NULL) {
		log_warnx("kafka: cannot seek back to %s [%d] offset %lld yet: %s",
		    a->reseek->elems[0].topic, a->reseek->elems[0].partition,
		    (long long)a->reseek->elems[0].offset, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return false;
	}
	rd_kafka_topic_partition_list_destroy(a->reseek);
	a->reseek = NULL;
	return true;
}

/* One turn of the main loop: up to TIMEOUT_MS waiting for a message. */
void
agent_kafka_poll(struct agent *a, int timeout_ms)
{
	rd_kafka_message_t *m, *ms[AGENT_BATCH_MAX];
	size_t n = 1, room;
	unsigned rebalances;
	/* bounded, but deep enough that a burst does not pause and resume the
	 * partitions (each resume costs a fetch round trip) at every request */
	size_t high = (size_t)(a->cfg->def.max_concurrent_builds > 0 ?
	    a->cfg->def.max_concurrent_builds : 10) * 16;
	time_t now = time(NULL);

	if (high < 64)
		high = 64;

	rd_kafka_poll(a->producer, 0);
	agent_holds_release(a, false);
	if (atomic_exchange(&a->reconcile_again, false))
		a->reconciled = false;	/* run it again: claims skip what is done */
	if (!a->reconciled && a->db != NULL && now >= a->next_reconcile) {
		agent_kafka_reconcile(a);
		a->next_reconcile = now + (a->cfg->database.retry_interval > 0 ?
		    a->cfg->database.retry_interval : 10);
	}
	/*
	 * A full queue first waits, without fetching more, until it is half
	 * empty (a batch of half the mark then) or AGENT_FULL_WAIT_MS have
	 * passed; only then do the partitions pause: a resume costs
	 * librdkafka up to a second before it fetches again (its broker thread
	 * learns of it at its next wake-up), and a burst drains in less.
	 */
	if (work_pending(a->work) >= (a->full_since_ms != 0 ? high / 2 : high) &&
	    !a->paused && now >= a->db_wait_until) {
		struct timespec ts;
		long long t;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (a->full_since_ms == 0)
			a->full_since_ms = t;
		if (t - a->full_since_ms < AGENT_FULL_WAIT_MS) {
			struct timespec nap = { 0, 5 * 1000000L };
			nanosleep(&nap, NULL);
			return;
		}
	} else
		a->full_since_ms = 0;
	/* backpressure, and waiting out the database */
	if ((work_pending(a->work) >= high || now < a->db_wait_until) && !a->paused) {
		rd_kafka_topic_partition_list_t *as = NULL;
		if (rd_kafka_assignment(a->consumer, &as) == 0 && as != NULL) {
			rd_kafka_pause_partitions(a->consumer, as);
			rd_kafka_topic_partition_list_destroy(as);
		}
		a->paused = true;
		log_info("kafka: paused (%s)", now < a->db_wait_until ? "the database is "
		    "unreachable" : "the workers are busy");
	} else if (a->paused && work_pending(a->work) < high / 2 && now >= a->db_wait_until) {
		rd_kafka_topic_partition_list_t *as = NULL;
		if (rd_kafka_assignment(a->consumer, &as) == 0 && as != NULL) {
			rd_kafka_resume_partitions(a->consumer, as);
			rd_kafka_topic_partition_list_destroy(as);
		}
		agent_holds_repause(a);
		a->paused = false;
		log_info("kafka: resumed");
	}
	if (!agent_kafka_reseek(a)) {
		struct timespec pause = { 0, (long)timeout_ms * 1000000L };
		nanosleep(&pause, NULL);
		return;
	}
	if ((m = rd_kafka_consumer_poll(a->consumer, timeout_ms)) == NULL)
		return;
	/* and what else is there already, as far as the workers have room */
	ms[0] = m;
	room = work_pending(a->work) < high ? high - work_pending(a->work) : 1;
	if (room > AGENT_BATCH_MAX)
		room = AGENT_BATCH_MAX;
	rebalances = a->rebalances;
	while (n < room && a->rebalances == rebalances &&
	    (m = rd_kafka_consumer_poll(a->consumer, 0)) != NULL)
		ms[n++] = m;
	agent_batch(a, ms, n, now);
}

void
agent_kafka_stop(struct agent *a)
{
	size_t left;

	if (a->consumer != NULL) {
		/* no new requests; the ones in flight get the deadline */
		rd_kafka_topic_partition_list_t *as = NULL;
		if (rd_kafka_assignment(a->consumer, &as) == 0 && as != NULL) {
			rd_kafka_pause_partitions(a->consumer, as);
			rd_kafka_topic_partition_list_destroy(as);
		}
	}
	if (a->work != NULL) {
		left = work_drain(a->work, a->cfg->def.graceful_shutdown_timeout > 0 ?
		    a->cfg->def.graceful_shutdown_timeout : 60);
		if (left > 0)
			log_warnx("shutdown: %zu request(s) not finished; they stay in the "
			    "ledger and run at the next start", left);
		work_free(a->work, agent_job_drop);
		a->work = NULL;
	}
	if (a->reseek != NULL) {
		rd_kafka_topic_partition_list_destroy(a->reseek);
		a->reseek = NULL;
	}
	agent_holds_release(a, true);
	if (a->consumer != NULL) {
		rd_kafka_consumer_close(a->consumer);
		rd_kafka_destroy(a->consumer);
		a->consumer = NULL;
	}
	if (a->producer != NULL) {
		rd_kafka_flush(a->producer, 5000);
		rd_kafka_destroy(a->producer);
		a->producer = NULL;
	}
}
