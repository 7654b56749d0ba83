/*
 * ledger.h - the request ledger and the instance rows in PostgreSQL.
 *
 * A request is recorded before its Kafka offset is committed; its id is the
 * key, so a redelivered request finds its row and is not carried out
 * again: its recorded result is published again instead.
 *
 * Ownership: strings returned through char ** are the caller's to free.
 */
#ifndef VC_LEDGER_H
#define VC_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "req.h"

enum ledger_state { LEDGER_NEW, LEDGER_OPEN, LEDGER_DONE, LEDGER_OTHER };

/*
 * Record R (received from TOPIC/PARTITION/OFFSET by agent OWNER).  *STATE:
 * LEDGER_NEW when this is its first delivery; LEDGER_OPEN when a row exists
 * and is not finished (it is taken over); LEDGER_DONE when it finished,
 * with its last event in *RESULT; LEDGER_OTHER when the row holds another
 * request under the same id (the digests of the payloads differ): nothing
 * is recorded, it must be rejected.  0, or -1 with WHY (the database).
 */
int ledger_accept(PGconn *pg, const struct req *r, const char *topic, int partition,
    int64_t offset, const char *owner, enum ledger_state *state, char **result,
    char *why, size_t wl);
/* One request of a batch for ledger_accept_batch(): what it was read as,
 * where from; the answer in STATE and RESULT (the caller frees RESULT). */
struct ledger_item {
	const struct req	*r;
	const char		*topic;
	int			 partition;
	int64_t			 offset;
	enum ledger_state	 state;
	char			*result;
};
/*
 * ledger_accept() for the N items ITEMS, in one statement (one round trip,
 * one transaction): all are recorded, or none and -1 with WHY.  Only an
 * item whose answer that statement cannot see (its id twice in the batch,
 * or recorded at the same moment by another agent) costs a ledger_accept()
 * of its own, after it.
 */
int ledger_accept_batch(PGconn *pg, struct ledger_item *items, size_t n,
    const char *owner, char *why, size_t wl);
/*
 * Claim it: take its advisory lock (one runner per request, across agents;
 * keyed by 64 bits of a SHA-256 of its id; hold PG from pgc_lease(), so the
 * lock cannot vanish in a reset) and, if that succeeded and it is not finished, mark it running (attempts
 * + 1), in one round trip.  1 claimed (this run's attempt number in
 * *ATTEMPTS), 0 when another session holds it or it is finished already,
 * -1 with WHY.
 */
int ledger_claim(PGconn *pg, const char *request_id, int *attempts, char *why,
    size_t wl);
/* Give the claim back (when it is not finished by ledger_finish). */
void ledger_release(PGconn *pg, const char *request_id);
/*
 * The instance row a request's end writes, in the end's own transaction
 * (ledger_finish): the state its operation reached.  Strings are the
 * caller's; NULL leaves a column as it is (task_state is always cleared).
 */
struct ledger_inst {
	const char	*uuid;		/* NULL: no row to write */
	const char	*vm;		/* vm_moref */
	const char	*vm_state;
	const char	*power_state;
	bool		 deleted;	/* mark it deleted instead */
};
/*
 * Finish it with its final event EVENT (JSON) and ERROR (NULL on success),
 * with INST's row (may be NULL) in the same transaction, then release every
 * advisory lock of PG (the claim outlives the commit), in one round trip
 * (pgc_exec_unlock).  0 once the end is committed; else neither is.
 */
int ledger_finish(PGconn *pg, const char *request_id, bool ok, const char *event,
    const char *error, const struct ledger_inst *inst, char *why, size_t wl);
/* The final events of the N requests IDS were acknowledged by Kafka
 * (outbox.c): one statement. */
int ledger_results_sent(PGconn *pg, char *const *ids, size_t n, char *why,
    size_t wl);
/*
 * The finished requests of NODES whose final event Kafka has not
 * acknowledged (a crash, or Kafka down, after ledger_finish), oldest first:
 * *N triples request id, instance uuid ("" if none), final event, in *OUT
 * (3 * *N strings; caller frees each and the array).
 */
int ledger_results_pending(PGconn *pg, char *const *nodes, size_t nnodes, char ***out,
    size_t *n, char *why, size_t wl);
/*
 * The unfinished requests of the nodes NODES (NNODES), oldest first, as raw
 * JSON texts in *OUT (caller frees each and the array).  For a restart:
 * their offsets were committed, Kafka will not bring them again.
 */
int ledger_unfinished(PGconn *pg, char *const *nodes, size_t nnodes, char ***out,
    size_t *n, char *why, size_t wl);

/* ---- compute nodes ---- */

struct vcd_resources;
struct cfg;

/*
 * Write NODE's resource record (cluster NAME, CLUSTER_MOREF, in vCenter
 * VCENTER, served by AGENT_HOST at HOST_IP, may be NULL): capacity from R,
 * the allocation ratios
 * and reservations from CFG, and what the instances rows use.
 */
int ledger_node_update(PGconn *pg, const char *node, const char *name,
    const char *cluster_moref, const char *vcenter, const char *agent_host,
    const char *host_ip, const struct vcd_resources *r, const struct cfg *cfg,
    char *why, size_t wl);
/* Only what the instances rows say (vcpus_used, running_vms) for NODE, with
 * no call to vCenter: after a spawn, delete, resize or migrate, as nova's
 * resource tracker counts its claims between hypervisor refreshes. */
int ledger_node_usage(PGconn *pg, const char *node, char *why, size_t wl);
/* NODE's resource record as a JSON object (the columns a scheduler reads,
 * without the time), in *JSON (caller frees); 1, 0 if there is none, -1. */
int ledger_node_json(PGconn *pg, const char *node, char **json, char *why,
    size_t wl);

/* ---- instances ---- */

/* Insert or update the row of a spawning instance, in two halves (pgc_send,
 * pgc_recv): the caller may work on another connection in between; every
 * send is followed by its recv, whose *HAD_VM says whether the row already
 * existed with a VM recorded (a respawn, a redelivery). */
int ledger_instance_spawning_send(PGconn *pg, const struct req *r,
    const char *datastore, char *why, size_t wl);
int ledger_instance_spawning_recv(PGconn *pg, bool *had_vm, char *why, size_t wl);
/* Set its VM, vm_state, power_state and task_state (NULL: NULL). */
int ledger_instance_state(PGconn *pg, const char *uuid, const char *vm,
    const char *vm_state, const char *power_state, const char *task_state,
    char *why, size_t wl);
/* Mark it deleted. */
int ledger_instance_deleted(PGconn *pg, const char *uuid, char *why, size_t wl);
/* The VM moref value recorded for UUID into VM (LEN), and its datastore
 * into DS (DSLEN, may be 0; "" if none); 1 found, 0 not, -1. */
int ledger_instance_vm(PGconn *pg, const char *uuid, char *vm, size_t len,
    char *ds, size_t dslen, char *why, size_t wl);
/* As ledger_instance_vm, and set its task_state to deleting, in the same
 * statement. */
int ledger_instance_deleting(PGconn *pg, const char *uuid, char *vm, size_t len,
    char *ds, size_t dslen, char *why, size_t wl);

#endif
