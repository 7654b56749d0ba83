/*
 * outbox.h - final events that survive a crash: a request's final event is
 * recorded in the ledger (requests.result, result_pending true) and marked
 * sent only once Kafka acknowledged it.  A kill -9, or Kafka down, between
 * the two leaves it pending, and the reconcile publishes it again: at least
 * once, never lost.
 *
 * Ownership: a handle from agent_outbox_send is given back to
 * agent_outbox_wait, which frees it (or leaves it to the delivery report).
 */
#ifndef VC_OUTBOX_H
#define VC_OUTBOX_H

#include <stddef.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

struct agent;
struct outbox_dr;

/* The producer's delivery report callback (rd_kafka_conf_set_dr_msg_cb). */
void agent_outbox_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/* Publish TEXT to the results topic with KEY; NULL if it cannot be queued. */
struct outbox_dr *agent_outbox_send(struct agent *a, const char *key, const char *text);
/*
 * Wait (a few seconds at most) for Kafka to acknowledge D, then mark
 * REQUEST_ID's final event sent on PG.  Not acknowledged: it stays pending
 * for the next reconcile.  Frees D (NULL is fine).
 */
void agent_outbox_wait(struct agent *a, PGconn *pg, struct outbox_dr *d,
    const char *request_id);
/* Forget D without waiting (the end could not be recorded). */
void agent_outbox_drop(struct outbox_dr *d);
/* Publish again the pending final events of NODES (the reconcile). */
void agent_outbox_resend(struct agent *a, PGconn *pg, char *const *nodes, size_t nn);

#endif
