/*
 * outbox.c - final events that survive a crash (see outbox.h).
 *
 * Each final event carries a small heap object naming its request.  Its
 * delivery report (on whichever thread polls the producer) files it on
 * a->outbox_acked when Kafka acknowledged the event, or frees it and
 * re-arms the reconcile when Kafka refused it.  agent_outbox_clear takes
 * the filed ones and clears their rows' result_pending in one statement.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"
#include "pgc.h"
#include "xmalloc.h"

#define OUTBOX_RETRY	1	/* seconds between clears that failed */

struct outbox_msg {
	struct outbox_msg	*next;
	char			 request_id[];
};

void
agent_outbox_init(struct agent *a)
{
	pthread_mutex_init(&a->outbox_lock, NULL);
	a->outbox_acked = NULL;
}

static void
outbox_list_free(struct outbox_msg *m)
{
	struct outbox_msg *next;

	for (; m != NULL; m = next) {
		next = m->next;
		free(m);
	}
}

void
agent_outbox_free(struct agent *a)
{
	outbox_list_free(a->outbox_acked);
	a->outbox_acked = NULL;
	pthread_mutex_destroy(&a->outbox_lock);
}

void
agent_outbox_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct outbox_msg *o = m->_private;
	struct agent *a = opaque;

	(void)rk;
	if (o == NULL)
		return;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warnx("request %s: Kafka refused its final event (%s): it stays in "
		    "the ledger and is published again by the reconcile", o->request_id,
		    rd_kafka_err2str(m->err));
		free(o);
		atomic_store(&a->reconcile_again, true);
		return;
	}
	pthread_mutex_lock(&a->outbox_lock);
	o->next = a->outbox_acked;
	a->outbox_acked = o;
	pthread_mutex_unlock(&a->outbox_lock);
}

int
agent_outbox_send(struct agent *a, const char *key, const char *text,
    const char *request_id)
{
	struct outbox_msg *o;
	rd_kafka_resp_err_t e;
	size_t klen = key != NULL ? strlen(key) : 0, il = strlen(request_id);

	if (a->producer == NULL) {
		atomic_store(&a->reconcile_again, true);
		return -1;
	}
	o = xmalloc(sizeof(*o) + il + 1);
	o->next = NULL;
	memcpy(o->request_id, request_id, il + 1);
	e = rd_kafka_producev(a->producer, RD_KAFKA_V_TOPIC(a->cfg->kafka.result_topic),
	    RD_KAFKA_V_KEY(key, klen),
	    RD_KAFKA_V_VALUE((void *)text, strlen(text)),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(o),
	    RD_KAFKA_V_END);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warnx("kafka: cannot publish request %s's final event to %s: %s "
		    "(it stays in the ledger and is published again by the reconcile)",
		    request_id, a->cfg->kafka.result_topic, rd_kafka_err2str(e));
		free(o);
		atomic_store(&a->reconcile_again, true);
		return -1;
	}
	return 0;
}

long
agent_outbox_clear(struct agent *a, PGconn *pg)
{
	struct outbox_msg *list, *m, **tail;
	char **ids = NULL, why[512];
	long n = 0;

	if (a->producer != NULL)
		rd_kafka_poll(a->producer, 0);	/* the reports due */
	pthread_mutex_lock(&a->outbox_lock);
	list = a->outbox_acked;
	a->outbox_acked = NULL;
	pthread_mutex_unlock(&a->outbox_lock);
	if (list == NULL)
		return 0;
	for (m = list; m != NULL; m = m->next)
		n++;
	ids = xcalloc((size_t)n, sizeof(*ids));
	n = 0;
	for (m = list; m != NULL; m = m->next)
		ids[n++] = m->request_id;
	if (ledger_results_sent(pg, ids, (size_t)n, why, sizeof(why)) == 0) {
		outbox_list_free(list);
		goto out;
	}
	log_warnx("cannot record that %ld final event(s) were sent (tried again; "
	    "should the agent stop first, they are published again): %s", n, why);
	n = -1;
	/* filed again, for the next turn */
	for (tail = &list; *tail != NULL; tail = &(*tail)->next)
		;
	pthread_mutex_lock(&a->outbox_lock);
	*tail = a->outbox_acked;
	a->outbox_acked = list;
	pthread_mutex_unlock(&a->outbox_lock);
out:
	free(ids);
	return n;
}

void
agent_outbox_tick(struct agent *a)
{
	time_t now = time(NULL);
	bool any;
	char why[512];
	PGconn *pg;

	if (a->producer != NULL)
		rd_kafka_poll(a->producer, 0);
	pthread_mutex_lock(&a->outbox_lock);
	any = a->outbox_acked != NULL;
	pthread_mutex_unlock(&a->outbox_lock);
	if (!any || a->db == NULL || now < a->outbox_retry_at)
		return;
	if ((pg = pgc_get(a->db, why, sizeof(why))) == NULL) {
		log_warnx("cannot record that final events were sent (tried again): %s",
		    why);
		a->outbox_retry_at = now + OUTBOX_RETRY;
		return;
	}
	if (agent_outbox_clear(a, pg) < 0)
		a->outbox_retry_at = now + OUTBOX_RETRY;
	pgc_put(a->db, pg, pgc_broken(pg));
}

void
agent_outbox_resend(struct agent *a, PGconn *pg, char *const *nodes, size_t nn)
{
	char **v = NULL, why[512];
	size_t n = 0, queued = 0;
	long sent;

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
	/* and what Kafka acknowledged but is not cleared yet */
	(void)agent_outbox_clear(a, pg);
	if (ledger_results_pending(pg, nodes, nn, &v, &n, why, sizeof(why)) < 0) {
		log_warnx("reconcile: final events not yet sent: %s", why);
		goto out;
	}
	if (n == 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (agent_outbox_send(a, v[3 * i + 1][0] ? v[3 * i + 1] : v[3 * i],
		    v[3 * i + 2], v[3 * i]) == 0)
			queued++;
		log_info("reconcile: request %s finished before, its final event was not "
		    "acknowledged: published again", v[3 * i]);
	}
	rd_kafka_flush(a->producer, 5000);
	sent = agent_outbox_clear(a, pg);
	if (sent < (long)n) {
		log_warnx("reconcile: %zu of %zu final events not acknowledged yet "
		    "(%zu queued): tried again at the next turn", sent < 0 ? n :
		    n - (size_t)sent, n, queued);
		atomic_store(&a->reconcile_again, true);
	}
out:
	for (size_t i = 0; i < 3 * n; i++)
		free(v[i]);
	free(v);
}
