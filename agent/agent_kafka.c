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
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "agent.h"
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

static void
agent_job_run(void *arg, void *jobp)
{
	struct agent_job *job = jobp;
	struct agent *a = arg;
	struct req *r = &job->r;
	struct agent_op op;
	struct req_outcome o = { "started", NULL, NULL, NULL, NULL, NULL, NULL };
	char why[512], *ev;
	PGconn *pg = NULL;
	struct outbox_dr *dr;
	int rc, attempt;

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
		rc = agent_op_run(a, pg, r, attempt, &op);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		for (b = 0; b < sizeof(bounds) / sizeof(bounds[0]) && secs > bounds[b]; b++)
			;
		atomic_fetch_add(&a->req_lat_bucket[b], 1);
		atomic_fetch_add(&a->req_lat_ms_sum, (unsigned long)(secs * 1000));
		atomic_fetch_add(&a->req_count[r->type][rc == 0 ? 0 : 1], 1);
	}
	if (rc == 0) {
		if (r->type == REQ_SPAWN || r->type == REQ_DELETE || r->type == REQ_MIGRATE ||
		    r->type == REQ_RESIZE)
			atomic_store(&a->usage_changed, true);	/* the record, on change */
		o = (struct req_outcome){ "succeeded", NULL, NULL, NULL, op.vm,
		    op.power_state, op.vm_state };
		log_info("request %s (%s %s) succeeded", r->request_id,
		    req_type_name(r->type), r->instance_uuid);
	} else {
		char msg[800];
		o = (struct req_outcome){ "failed", op.err.fault[0] ? op.err.fault :
		    "Error", op.err.msg, op.err.object, op.vm, NULL, NULL };
		log_warnx("request %s (%s %s) failed: %s", r->request_id,
		    req_type_name(r->type), r->instance_uuid,
		    vcd_strerror(&op.err, msg, sizeof(msg)));
	}
	if (!pgc_alive(pg)) {
		/* its lock went with the session: another agent may run it now */
		log_warnx("request %s (%s %s): the connection holding its lock was lost "
		    "while it ran: abandoned with no final event, the reconcile finishes "
		    "it", r->request_id, req_type_name(r->type), r->instance_uuid);
		atomic_store(&a->reconcile_again, true);
		goto out;
	}
	ev = req_event(r->request_id, req_type_name(r->type), r->node, r->instance_uuid,
	    &o);
	dr = agent_outbox_send(a, r->instance_uuid[0] ? r->instance_uuid :
	    r->request_id, ev);
	if (ledger_finish(pg, r->request_id, rc == 0, ev, rc == 0 ? NULL : op.err.msg,
	    why, sizeof(why)) < 0) {
		log_warnx("request %s: cannot record its end: %s", r->request_id, why);
		agent_outbox_drop(dr);
	} else
		agent_outbox_wait(a, pg, dr, r->request_id);
	free(ev);
	ledger_release(pg, r->request_id);
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

/* A message that cannot be a request: dead-letter it, say why. */
static void
agent_reject(struct agent *a, const rd_kafka_message_t *m, const char *why)
{
	struct req_outcome o = { "rejected", "InvalidRequest", why, NULL, NULL, NULL,
	    NULL };
	char *ev;
	rd_kafka_headers_t *h = rd_kafka_headers_new(2);
	rd_kafka_resp_err_t e;

	log_warnx("kafka: %s [%d] offset %lld: %s (to %s)", rd_kafka_topic_name(m->rkt),
	    m->partition, (long long)m->offset, why, a->cfg->kafka.dead_letter_topic);
	rd_kafka_header_add(h, "vcagent-reason", -1, why, -1);
	rd_kafka_header_add(h, "vcagent-source", -1, rd_kafka_topic_name(m->rkt), -1);
	e = rd_kafka_producev(a->producer,
	    RD_KAFKA_V_TOPIC(a->cfg->kafka.dead_letter_topic),
	    RD_KAFKA_V_KEY(m->key, m->key_len),
	    RD_KAFKA_V_VALUE(m->payload, m->len),
	    RD_KAFKA_V_HEADERS(h),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_headers_destroy(h);
		log_warnx("kafka: cannot dead-letter: %s", rd_kafka_err2str(e));
	}
	ev = req_event(NULL, NULL, NULL, NULL, &o);
	agent_publish(a, a->cfg->kafka.result_topic, NULL, ev);
	free(ev);
	atomic_fetch_add(&a->req_count[REQ_NTYPES][2], 1);	/* type unknown */
}

/* 0: handled (commit); -1: the database failed (do not commit, retry). */
static int
agent_message(struct agent *a, const rd_kafka_message_t *m)
{
	struct req r;
	enum ledger_state st;
	char why[600], *result = NULL;
	PGconn *pg;
	int ret = -1;

	if (req_parse(m->payload, m->len, &r, why, sizeof(why)) < 0) {
		agent_reject(a, m, why);
		return 0;
	}
	switch (agent_lease_check(a, r.node, why, sizeof(why))) {
	case LEASE_OURS:
		break;
	case LEASE_OTHER:	/* that group's agents carry it out */
		log_warnx("request %s is not ours: %s", r.request_id, why);
		req_free(&r);
		return 0;
	case LEASE_NOBODY:	/* would be lost: keep it where it can be seen */
		agent_reject(a, m, why);
		req_free(&r);
		return 0;
	default:
		log_warnx("request %s: the ledger is unreachable (cluster leases): %s",
		    r.request_id, why);
		req_free(&r);
		return -1;
	}
	if (a->db == NULL || (pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("request %s: the ledger is unreachable: %s", r.request_id,
		    a->db == NULL ? "no database" : why);
		req_free(&r);
		return -1;
	}
	if (ledger_accept(pg, &r, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
	    a->cfg->def.host != NULL ? a->cfg->def.host : "vcagent", &st, &result, why,
	    sizeof(why)) < 0) {
		log_warnx("request %s: the ledger: %s", r.request_id, why);
		pgc_put(a->db, pg, true);
		req_free(&r);
		return -1;
	}
	pgc_put(a->db, pg, false);
	if (st == LEDGER_DONE) {
		log_info("request %s was carried out already: its result again",
		    r.request_id);
		if (result != NULL)
			agent_publish(a, a->cfg->kafka.result_topic, r.instance_uuid[0] ?
			    r.instance_uuid : r.request_id, result);
		free(result);
		req_free(&r);
		return 0;
	}
	{
		struct req_outcome o = { "accepted", NULL, NULL, NULL, NULL, NULL, NULL };
		agent_event(a, &r, &o);
	}
	agent_submit(a, &r);
	ret = 0;
	return ret;
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

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		log_info("kafka: assigned %d partition(s)", parts->cnt);
		atomic_store(&a->kafka_up, true);
		rd_kafka_assign(rk, parts);
	} else {
		log_info("kafka: %d partition(s) revoked", parts->cnt);
		/* their unrecorded messages are not committed: the next owner reads them */
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
	 * Defaults that kafka.properties may override.  fetch.wait.max.ms: a
	 * broker that holds an empty fetch for its whole wait (librdkafka's
	 * mock cluster does) would add up to 500 ms to every request; a control
	 * plane wants the request now.  The producer waits at most 2 ms to
	 * batch events, and every event is acknowledged by all replicas.
	 */
	static const char *const cdef[] = { "fetch.wait.max.ms", "10", NULL };
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
	rd_kafka_conf_set_dr_msg_cb(pc, agent_outbox_dr);
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
	rd_kafka_message_t *m;
	/* bounded, but deep enough that a burst does not pause and resume the
	 * partitions (each resume costs a fetch round trip) at every request */
	size_t high = (size_t)(a->cfg->def.max_concurrent_builds > 0 ?
	    a->cfg->def.max_concurrent_builds : 10) * 16;
	time_t now = time(NULL);

	if (high < 64)
		high = 64;

	rd_kafka_poll(a->producer, 0);
	if (atomic_exchange(&a->reconcile_again, false))
		a->reconciled = false;	/* run it again: claims skip what is done */
	if (!a->reconciled && a->db != NULL && now >= a->next_reconcile) {
		agent_kafka_reconcile(a);
		a->next_reconcile = now + (a->cfg->database.retry_interval > 0 ?
		    a->cfg->database.retry_interval : 10);
	}
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
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warnx("kafka: %s", rd_kafka_message_errstr(m));
	} else if (agent_message(a, m) == 0) {
		rd_kafka_commit_message(a->consumer, m, 1);
		a->kafka_ok = true;
		atomic_store(&a->kafka_up, true);
	} else {
		/* not recorded: read it again once the database is back */
		if (a->reseek == NULL)
			a->reseek = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(a->reseek, rd_kafka_topic_name(m->rkt),
		    m->partition)->offset = m->offset;
		agent_kafka_reseek(a);
		a->db_wait_until = now + (a->cfg->database.retry_interval > 0 ?
		    a->cfg->database.retry_interval : 10);
	}
	rd_kafka_message_destroy(m);
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
