/*
 * outbox.c - final events that survive a crash (see outbox.h).
 *
 * The delivery report of a final event comes through a small heap object
 * shared by the worker that waits for it and the thread that serves the
 * report (whichever polls the producer).  Its state says who frees it: a
 * waiter that gives up marks it abandoned and the report frees it; a report
 * that finds its waiter still there leaves it to the waiter.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"
#include "xmalloc.h"

#define OUTBOX_WAIT	5.0	/* seconds a worker waits for the acknowledgement */

enum { DR_WAITING, DR_OK, DR_FAILED, DR_ABANDONED };

struct outbox_dr {
	atomic_int	 state;
};

void
agent_outbox_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct outbox_dr *d = m->_private;
	int want = DR_WAITING;

	(void)rk;
	(void)opaque;
	if (d == NULL)
		return;
	if (!atomic_compare_exchange_strong(&d->state, &want,
	    m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? DR_OK : DR_FAILED))
		free(d);	/* its waiter gave up */
}

struct outbox_dr *
agent_outbox_send(struct agent *a, const char *key, const char *text)
{
	struct outbox_dr *d;
	rd_kafka_resp_err_t e;
	size_t klen = key != NULL ? strlen(key) : 0;

	if (a->producer == NULL)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	atomic_init(&d->state, DR_WAITING);
	e = rd_kafka_producev(a->producer, RD_KAFKA_V_TOPIC(a->cfg->kafka.result_topic),
	    RD_KAFKA_V_KEY(key, klen),
	    RD_KAFKA_V_VALUE((void *)text, strlen(text)),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(d),
	    RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warnx("kafka: cannot publish to %s: %s", a->cfg->kafka.result_topic,
		    rd_kafka_err2str(e));
		free(d);
		return NULL;
	}
	return d;
}

static double
outbox_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* DR_OK, DR_FAILED, or DR_ABANDONED (then the report frees D). */
static int
outbox_settle(struct outbox_dr *d)
{
	int st = DR_WAITING;

	if (atomic_compare_exchange_strong(&d->state, &st, DR_ABANDONED))
		return DR_ABANDONED;
	free(d);
	return st;
}

void
agent_outbox_drop(struct outbox_dr *d)
{
	if (d != NULL)
		(void)outbox_settle(d);
}

void
agent_outbox_wait(struct agent *a, PGconn *pg, struct outbox_dr *d,
    const char *request_id)
{
	double until = outbox_now() + OUTBOX_WAIT;
	char why[512];
	int st;

	if (d == NULL) {
		atomic_store(&a->reconcile_again, true);
		return;
	}
	while (atomic_load(&d->state) == DR_WAITING && outbox_now() < until)
		rd_kafka_poll(a->producer, 10);
	if ((st = outbox_settle(d)) == DR_OK) {
		if (ledger_result_sent(pg, request_id, why, sizeof(why)) < 0)
			log_warnx("request %s: cannot record that its final event was "
			    "sent (it may be published again): %s", request_id, why);
		return;
	}
	log_warnx("request %s: Kafka %s its final event: it stays in the ledger and "
	    "is published again by the reconcile", request_id,
	    st == DR_FAILED ? "refused" : "has not acknowledged yet");
	if (st == DR_FAILED)
		atomic_store(&a->reconcile_again, true);
}

void
agent_outbox_resend(struct agent *a, PGconn *pg, char *const *nodes, size_t nn)
{
	struct outbox_dr **d = NULL;
	char **v = NULL, why[512];
	size_t n = 0, sent = 0;

	if (a->producer == NULL)
		return;
	/* what is still queued would be delivered twice */
	if (rd_kafka_outq_len(a->producer) > 0) {
		rd_kafka_flush(a->producer, 2000);
		if (rd_kafka_outq_len(a->producer) > 0) {
			atomic_store(&a->reconcile_again, true);
			return;
		}
	}
	if (ledger_results_pending(pg, nodes, nn, &v, &n, why, sizeof(why)) < 0) {
		log_warnx("reconcile: final events not yet sent: %s", why);
		goto out;
	}
	if (n == 0)
		goto out;
	d = xcalloc(n, sizeof(*d));
	for (size_t i = 0; i < n; i++)
		d[i] = agent_outbox_send(a, v[3 * i + 1][0] ? v[3 * i + 1] : v[3 * i],
		    v[3 * i + 2]);
	rd_kafka_flush(a->producer, (int)(OUTBOX_WAIT * 1000));
	for (size_t i = 0; i < n; i++) {
		if (d[i] == NULL || outbox_settle(d[i]) != DR_OK)
			continue;
		if (ledger_result_sent(pg, v[3 * i], why, sizeof(why)) == 0)
			sent++;
		log_info("reconcile: request %s finished before, its final event was not "
		    "acknowledged: published again", v[3 * i]);
	}
	if (sent < n) {
		log_warnx("reconcile: %zu of %zu final events not acknowledged yet: "
		    "tried again at the next turn", n - sent, n);
		atomic_store(&a->reconcile_again, true);
	}
out:
	for (size_t i = 0; i < 3 * n; i++)
		free(v[i]);
	free(v);
	free(d);
}
