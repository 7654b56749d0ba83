/*
 * outbox.h - final events that survive a crash: a request's final event is
 * recorded in the ledger (requests.result, result_pending true) and marked
 * sent only once Kafka acknowledged it.  A kill -9, or Kafka down, between
 * the two leaves it pending, and the reconcile publishes it again: at least
 * once, never lost.
 *
 * A worker does not wait for the acknowledgement: it queues the event and
 * moves on.  The delivery report files the request's id as acknowledged;
 * agent_outbox_tick (the cron, every tick) clears the ids filed so far in
 * one statement.  An id filed but not cleared when the agent dies leaves
 * its row pending: published again at the next start.
 *
 * Ownership: the outbox's queue lives in struct agent (agent_outbox_init,
 * agent_outbox_free); what agent_outbox_send queues is freed by its
 * delivery report, or by agent_outbox_free.
 */
#ifndef VC_OUTBOX_H
#define VC_OUTBOX_H

#include <stddef.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

struct agent;

void agent_outbox_init(struct agent *a);
/* Drop what is filed and not cleared (their rows stay pending). */
void agent_outbox_free(struct agent *a);
/* The producer's delivery report callback for final events (m->_private set). */
void agent_outbox_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/*
 * Publish TEXT, REQUEST_ID's final event, to the results topic with KEY.
 * 0 queued; -1 not (the reconcile is re-armed: it stays pending).
 */
int agent_outbox_send(struct agent *a, const char *key, const char *text,
    const char *request_id);
/* Serve the producer's delivery reports and clear, on PG, the final events
 * Kafka acknowledged so far: how many were cleared, or -1 when the database
 * refused (they stay filed for the next call). */
long agent_outbox_clear(struct agent *a, PGconn *pg);
/* The cron's turn: agent_outbox_clear on a pooled connection, when there
 * is anything to clear (after a failure, a second later). */
void agent_outbox_tick(struct agent *a);
/* Publish again the pending final events of NODES (the reconcile). */
void agent_outbox_resend(struct agent *a, PGconn *pg, char *const *nodes, size_t nn);

#endif
