/*
 * agent.h - the vcagent daemon: its state and its main loop.
 *
 * Ownership: struct agent owns its configuration and its vCenter session;
 * agent_free() releases both.
 *
 * Threads: the main thread polls Kafka and handles the signals (one
 * signalfd; a reload swaps the configuration there); the cron thread runs
 * the periodic jobs (agent_cron); workers carry out requests; the HTTP
 * threads answer the operator endpoints.
 *
 * The configuration: a->cfg is the one the agent started with, never
 * swapped nor changed until agent_free(): any thread may read its
 * restart-only options (cfg.c's table), which are the running values.  A
 * live option is read from a snapshot: agent_cfg_get() at the start of one
 * request or one cron tick, agent_cfg_put() at its end.  A reload swaps the
 * snapshot whole; the readers holding the old one keep it until they put it.
 */
#ifndef VC_AGENT_H
#define VC_AGENT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "imagecache/imagecache.h"
#include "ledger.h"
#include "vcdriver/vcdriver.h"

struct pgc_pool;
struct httpd;
struct work_pool;
struct rd_kafka_s;
struct rd_kafka_message_s;
struct req;

struct agent_cluster {
	char			*name;		/* as configured */
	struct vcd_moref	 ref;		/* found in vCenter; value "" if not */
	char			*nodename;	/* "<moid>.<instanceUuid>" */
	int			 num_hosts;
	struct vcd_resources	 res;		/* last refresh */
	bool			 have_res;
	struct vcd_placement	 pl;		/* its pool, VM folder, datacenter */
	bool			 have_pl;
	char			*published;	/* owned: the resource record last
						 * published (JSON), or NULL */
};

struct agent_job;
struct agent_hold;
struct outbox_msg;
struct json_t;
struct agent_lease;
struct buf;

struct agent {
	struct cfg		*cfg;		/* owned: as started; never swapped */
	pthread_mutex_t		 cfg_lock;
	struct cfg		*live;		/* a reference: the newest loaded
						 * configuration (restart-only options
						 * as in cfg), swapped under cfg_lock */
	bool			 debug;		/* -d: debug logging over the file's
						 * (set by main) */
	int			 sigfd;		/* signalfd of SIGTERM, SIGINT, SIGHUP;
						 * -1: none */
	pthread_t		 cron;		/* the periodic jobs (agent_cron) */
	bool			 cron_started;
	/* agent_sd.c, on the main thread only */
	double			 sd_watchdog;	/* s between pings; 0: none */
	double			 sd_next_ping, sd_next_check;
	bool			 sd_ready;	/* READY=1 sent, or no systemd
						 * to send it to */
	pthread_mutex_t		 cron_lock;	/* with cron_cond: wakes it to stop */
	pthread_cond_t		 cron_cond;
	char			 my_ip[64];	/* the address vCenter is reached
						 * from ("": unknown), when
						 * DEFAULT.my_ip is not set */
	struct vcd_session	*vc;		/* owned */
	pthread_mutex_t		 lock;		/* clusters' res and pl: the cron
						 * writes, endpoint threads read */
	struct agent_cluster	*clusters;	/* owned, one per cluster_name */
	size_t			 nclusters;
	atomic_bool		 stop;		/* shutting down */
	atomic_bool		 failed;	/* ... and exit 1 */
	bool			 db_reached;	/* the database answered once */
	bool			 db_warm;	/* the pool's connections opened */
	int			 db_retries;	/* before that (database.max_retries) */
	time_t			 next_refresh;
	time_t			 next_purge;
	time_t			 next_db_try;	/* database down: when to retry */

	struct pgc_pool		*db;		/* owned; NULL without a database */
	struct ic_glance	 glance;	/* borrows a->cfg's strings (never
						 * swapped: they outlive reloads) */
	struct ic_cache *_Atomic cache;		/* owned; NULL without a database
						 * (the cron sets it once reachable) */
	char			*cache_folder;	/* owned */
	struct httpd		*http;		/* owned: the operator endpoints */
	pthread_mutex_t		 precache_lock;	/* with precache_cond: */
	pthread_cond_t		 precache_cond;
	int			 precaching;	/* prefetches running */

	struct rd_kafka_s	*consumer;	/* owned: requests in */
	struct rd_kafka_s	*producer;	/* owned: results, dead letters */
	struct work_pool	*work;		/* owned: the workers */
	pthread_mutex_t		 flight_lock;
	struct agent_job	*flights;	/* requests queued or running (the
						 * jobs, owned by the pool) */
	struct agent_hold	*holds;		/* owned, under flight_lock:
						 * messages that could not be
						 * dead-lettered, their partitions
						 * paused until a retry */
	atomic_ulong		 dl_failures;	/* dead letters not acknowledged */
	struct rd_kafka_topic_partition_list_s *reseek;	/* owned: messages to
						 * read again, seek pending */
	bool			 reconciled;	/* unfinished requests resumed */
	atomic_bool		 reconcile_again;	/* a worker could not claim one */
	pthread_mutex_t		 outbox_lock;
	struct outbox_msg	*outbox_acked;	/* owned, under outbox_lock: final
						 * events Kafka acknowledged, their
						 * rows not cleared yet (outbox.c) */
	time_t			 outbox_retry_at;	/* the cron's: a clear failed */
	time_t			 next_reconcile;	/* database down: try again then */
	bool			 paused;	/* consumption paused */
	bool			 kafka_ok;	/* a message was handled */
	unsigned		 rebalances;	/* assignments and revocations
						 * seen (the poll thread's) */
	long long		 full_since_ms;	/* the workers' queue full since
						 * (monotonic ms); 0: not full */
	time_t			 db_wait_until;	/* database down: paused until */
	atomic_bool		 usage_changed;	/* a worker changed what a cluster holds: recount */
	atomic_bool		 kafka_up;	/* assigned, and brokers reachable */
	time_t			 next_sync;	/* power state sync */
	time_t			 next_confirm;	/* resize_confirm_window's look */
	bool			 synced_once;
	size_t			 unknown_vms;	/* VMs with an instance uuid we lack */
	struct agent_lease	*lease;		/* owned: the clusters' leases */

	/* metrics: requests by type and outcome (succeeded, failed, rejected),
	 * and the latency of carried-out requests, as a histogram */
	atomic_ulong		 req_count[REQ_NTYPES + 1][3];
	atomic_ulong		 req_lat_bucket[12];	/* AGENT_LAT_BOUNDS, +Inf */
	atomic_ulong		 req_lat_ms_sum;
};

#define AGENT_LAT_BOUNDS	{ 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

/* What a request's operation did (agent_op_run). */
struct agent_op {
	struct vcd_err	 err;
	char		 vm[128];		/* the VM's moref value */
	const char	*power_state;		/* static strings, or NULL */
	const char	*vm_state;
	/* the instance row its success leaves (uuid NULL: none, or written
	 * already), written with the request's end in one transaction */
	struct ledger_inst inst;
	const struct cfg *cfg;			/* the run's snapshot, set and
						 * released by agent_op_run */
	const char	*detail_key;		/* the event's member for */
	json_t		*detail;		/* DETAIL (owned; freed by
						 * agent_op_done): "snapshot",
						 * "info", "diagnostics" */
};

/* Takes ownership of CFG; SIGFD (signalfd of SIGTERM, SIGINT and SIGHUP,
 * or -1) is the agent's to close. */
struct agent *agent_new(struct cfg *cfg, int sigfd);
/* A reference to the live configuration snapshot (never NULL); release it
 * with agent_cfg_put() when the request or tick is over. */
struct cfg *agent_cfg_get(struct agent *a);
void agent_cfg_put(struct cfg *cfg);
/* Read the configuration file again; swap in what loaded (live options
 * applied, restart-only ones kept and named in the log). */
void agent_reload(struct agent *a);
void agent_free(struct agent *a);
/* Log in to vCenter and find the configured clusters.  0, or -1 (logged). */
int agent_connect(struct agent *a);
/* Start the cron thread, then poll Kafka and handle signals until SIGTERM or
 * SIGINT; 0 on a clean shutdown, 1 when the agent gave up (the database
 * unreachable at start-up past database.max_retries). */
int agent_run(struct agent *a);

/* ---- the image cache in the agent (agent_cache.c) ---- */

/*
 * Open the database (migrating it) and the image cache.  0, or -1 (logged)
 * when the database cannot be reached or migrated: the cron tick tries
 * again after database.retry_interval.  Without database.connection there
 * is no cache.
 */
int agent_cache_start(struct agent *a);
void agent_cache_stop(struct agent *a);
/*
 * Where images go for cluster CLUSTER (its name; NULL: the first one found)
 * and DATASTORE (NULL: the cluster's datastore with most free space).  The
 * datastore's name is copied to DSBUF (DSLEN bytes), which *PL points to;
 * its other strings are the agent's.  0, or -1 with ERR.
 */
int agent_cache_place(struct agent *a, const char *cluster, const char *datastore,
    struct ic_place *pl, char *dsbuf, size_t dslen, struct vcd_err *err);
/* Put image ID into the cache of CLUSTER/DATASTORE now, waiting while
 * image_cache.precache_concurrency prefetches run.  0, or -1 with ERR. */
int agent_cache_prefetch(struct agent *a, const char *id, const char *cluster,
    const char *datastore, struct ic_image *img, struct vcd_err *err);
/* The purge policy over every datastore the cache uses (cron), with the
 * tick's configuration CFG. */
void agent_cache_purge(struct agent *a, const struct cfg *cfg);

/* ---- requests (ops.c, agent_kafka.c) ---- */

/* Carry out R against vCenter and the instance rows (through PG, the
 * worker's connection; ATTEMPT is this run's number, 0 if unknown).  0, or
 * -1 with OP->err.  Runs on a worker thread. */
/* vSphere's runtime.powerState as the instance rows name it: running,
 * suspended, shutdown (agent_sync.c). */
const char *agent_power_name(const char *vsphere);
/* ops.c, for the operations in other files: the instance's VM (the
 * recorded one, else found by its uuid); after a failure that says the
 * VM is not at its MoRef, look it up by uuid once (true: run again on
 * *VM). */
int ops_vm(struct agent *a, PGconn *pg, const char *uuid, struct vcd_moref *vm,
    struct vcd_err *err);
bool ops_vm_again(struct agent *a, PGconn *pg, const char *uuid,
    struct vcd_moref *vm, bool *looked_up, struct vcd_err *err);
/* ops.c: the cluster serving NODE (under a->lock), or NULL with ERR;
 * ERR as a database error naming UUID (-1); STATE (a power_state or
 * vm_state read from a row) as a static string for an event, NULL when it is
 * none of those the agent writes. */
struct agent_cluster *ops_cluster(struct agent *a, const char *node,
    struct vcd_err *err);
int ops_db_err(struct vcd_err *err, const char *uuid, const char *why);
const char *ops_state_name(const char *state);
/*
 * ops.c: what instance U was spawned with, from its row: its flavor's
 * extra specs (*SPECS) and its image's properties (*IM), as nova's
 * operations after a spawn take them from the instance (attach_interface's
 * NIC model and quota:vif_*, snapshot_image's properties).  Values the
 * row holds were checked when it was written; a row from before they were
 * kept has none.  0, or -1 with ERR (both then empty).
 */
int ops_row_props(PGconn *pg, const char *u, struct fl_specs *specs,
    struct fl_image *im, struct vcd_err *err);
/* ops_resize.c: resize; resize_confirm and resize_revert (ops_resize_end);
 * and -1 with ERR (InvalidInstanceState) when the instance of R has a
 * resize of another request that is neither confirmed nor reverted, for
 * the requests that must wait for one (migrate, snapshot_create). */
int ops_resize(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op);
int ops_resize_end(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op);
int ops_resize_pending(PGconn *pg, const struct req *r, struct vcd_err *err);
struct vim_arena;
struct vim_VirtualDisk;
struct vim_VirtualDeviceConfigSpec;
/* ops_disk.c: an instance's VM as resize and rescue see it, from one read
 * (the disks are copies in A, to be sent back as read). */
struct ops_root {
	struct vim_arena	*a;
	char			 power[16];
	char			 uuid[64];	/* config.instanceUuid */
	struct vim_VirtualDisk	*disk;		/* the root disk: the first that
						 * is no rescue disk; NULL if none */
	char			*file;		/* its backing's file (in A) */
	struct vim_VirtualDisk	*rescue;	/* a rescue disk, or NULL */
	char			*rescue_file;
	char			*cdrom_file;	/* the first CD-ROM's ISO, or NULL */
	int			 units[64][2];	/* (controller key, unit) in use */
	size_t			 nunits;
	int			 ide[4];	/* the IDE controllers' keys */
	size_t			 nide;
	/* the other disks: volumes (a First Class Disk's fcd is its id),
	 * and the files of those recorded as volumes, never the root disk */
	struct ops_disk {
		struct vim_VirtualDisk	*disk;	/* a copy in A */
		char			*file;
		char			*fcd;	/* vDiskId, or NULL */
	}			 others[16];
	size_t			 nothers;
	char			*vol_files[16];	/* in A */
	size_t			 nvol_files;
	/* the controllers: key, bus number and type name */
	struct ops_ctl {
		int		 key, bus;
		const char	*type;		/* "VirtualLsiLogicController", ... */
	}			 ctls[16];
	size_t			 nctls;
};
/* Read the instance U's VM (*VM, looked up again by uuid when the recorded
 * one is not it) into RT, whose arena RT->a is set.  0, or -1 with ERR. */
int ops_root_read(struct agent *a, PGconn *pg, const char *u, struct vcd_moref *vm,
    struct ops_root *rt, struct vcd_err *err);
/* FILE is a rescue disk ("...-rescue.vmdk", nova's name). */
bool ops_disk_is_rescue(const char *file);
/* A free unit on controller CTL (IDE: 2 units; SCSI: 16, 7 the
 * controller's own), or -1; on the root disk's controller. */
int ops_unit_free(const struct ops_root *rt, int ctl);
int ops_disk_free_unit(const struct ops_root *rt);
/* A disk of FILE (which exists) of KB on OLD's controller, at UNIT (-1:
 * OLD's unit), in arena AR. */
struct vim_VirtualDisk *ops_disk_at(struct vim_arena *ar,
    const struct vim_VirtualDisk *old, int unit, const char *file, int64_t kb);
/* ops_drive.c: the config drive of spawn R on VM (on datastore DS; NICS
 * its ports as [{id, mac}]). */
int ops_config_drive(struct agent *a, PGconn *pg, struct agent_cluster *c,
    const struct req *r, struct vcd_moref *vm, const char *ds, json_t *nics,
    struct vcd_err *err);
/* ops_pbm.c: the id (PROFILE, VCD_PBM_IDLEN bytes) of storage policy
 * POLICY that WHO ("the flavor (vmware:storage_policy)") asks for.  0, or
 * -1 with ERR: PbmDisabled when vmware.pbm_enabled is off,
 * PbmProfileNotFound, or the PBM service's fault. */
int ops_pbm_policy(struct agent *a, const struct cfg *cfg, const char *policy,
    const char *who, char *profile, struct vcd_err *err);
/* ops_pbm.c: with a storage policy (ASKED by WHO, else, when it is NULL
 * or "", vmware.pbm_default_policy when vmware.pbm_enabled), the datastore
 * of cluster C a new VM or disk goes to (DS, DSLEN bytes) and the policy's
 * id (PROFILE, VCD_PBM_IDLEN bytes); both "" when no policy applies.  0,
 * or -1 with ERR: as ops_pbm_policy(), or DatastoreNotFound (naming the
 * policy and the cluster). */
int ops_pbm_place(struct agent *a, struct agent_cluster *c, const char *asked,
    const char *who, const struct cfg *cfg, char *ds, size_t dslen,
    char *profile, struct vcd_err *err);
/* ops_volume.c: attach_volume, detach_volume, volume_create,
 * volume_delete. */
int ops_volume(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op);
/* ops_volume.c: before instance U's VM (VM; NULL when it has none) goes,
 * detach its recorded volumes (files kept) and forget them.  0, or -1
 * with ERR. */
int ops_volumes_release(struct agent *a, PGconn *pg, const char *u,
    const struct vcd_moref *vm, struct vcd_err *err);
/* ops_volume.c: a disk locator for each of instance U's recorded volumes
 * on VM, keeping it on its datastore with its policy, for a move: *OUT
 * (caller frees; NULL when none), *N.  0, or -1 with ERR. */
int ops_volume_locators(struct agent *a, PGconn *pg, const char *u,
    struct vcd_moref *vm, struct vcd_disk_locator **out, size_t *n,
    struct vcd_err *err);
/* ops_image.c: snapshot_image. */
int ops_snapshot_image(struct agent *a, PGconn *pg, const struct req *r,
    int attempt, struct agent_op *op);
/* ops_rescue.c: rescue, unrescue. */
int ops_rescue(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op);
/* ops_snap.c: snapshot_create, snapshot_revert, snapshot_delete. */
int ops_snapshot(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op);
/* ops_info.c: get_info, get_diagnostics. */
int ops_info(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op);
struct vim_arena;
/* ops_console.c: get_console; and a new VM's VNC port into EXTRA (its
 * RemoteDisplay.vnc.* options, allocated in AR) when vnc.enabled. */
int ops_console(struct agent *a, PGconn *pg, const struct req *r,
    struct agent_op *op);
int ops_vnc_spawn(const struct cfg *cfg, PGconn *pg, const char *uuid,
    struct vim_arena *ar, struct vim_list_OptionValue *extra, struct vcd_err *err);
/* Release what OP owns. */
void agent_op_done(struct agent_op *op);
int agent_op_run(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op);
/* The requests queued or running, as a JSON array of {request_id, type,
 * instance, state (queued, running), seconds}; the caller owns it. */
struct json_t *agent_inflight(struct agent *a);
/* Connect the consumer (group, manual commits) and the producer, start the
 * workers.  0, or -1 (logged). */
int agent_kafka_start(struct agent *a);
/* One turn of the main loop: wait up to TIMEOUT_MS for a request. */
void agent_kafka_poll(struct agent *a, int timeout_ms);
/* Resume the requests a crash left unfinished (a->reconciled once done;
 * a database that is down is tried again later). */
void agent_kafka_reconcile(struct agent *a);
/* Publish the event TEXT to the results topic, keyed KEY. */
void agent_event_raw(struct agent *a, const char *key, const char *text);
/* A request (TEXT) onto the requests topic, keyed KEY: the agent asking
 * itself, or its group, through the same path as every request. */
void agent_request_raw(struct agent *a, const char *key, const char *text);
/* ops_resize.c, on the cron thread: the resizes older than
 * DEFAULT.resize_confirm_window on the clusters this agent leases get a
 * resize_confirm request (nova's automatic confirm). */
void agent_resize_autoconfirm(struct agent *a, const struct cfg *cfg);
/*
 * The one way a consumed message M is refused (poll thread only): it goes
 * unchanged to the dead-letter topic with headers vcagent-reason (WHY),
 * vcagent-fault (FAULT, e.g. InvalidRequest) and vcagent-source, and this
 * waits for the broker's acknowledgement (the delivery report); then a
 * rejected event (with the request_id, type and node, when readable) is
 * published.  0: M is durably dead-lettered and its offset may be
 * committed.  -1: it is not (logged, counted): M must not be committed; the
 * caller keeps it and tries again later.
 */
int agent_dead_letter(struct agent *a, const struct rd_kafka_message_s *m,
    const char *fault, const char *why);
/* The messages held (not dead-lettered yet) as text lines for /readyz,
 * appended to OUT; how many. */
struct buf;
size_t agent_held(struct agent *a, struct buf *out);
/* Power states from vCenter into the instance rows; with REPORT_UNKNOWN,
 * log the VMs whose instance uuid the database does not know. */
void agent_sync(struct agent *a, bool report_unknown);
/* Stop consuming, let the workers finish (graceful_shutdown_timeout),
 * commit, close. */
void agent_kafka_stop(struct agent *a);

/* ---- cluster leases (lease.c) ---- */

/*
 * One consumer group serves a cluster at a time: a lease per node in
 * PostgreSQL, owned by kafka.group_id, renewed by each agent of the group
 * and refused to other groups until it expired.
 */
enum lease_verdict {
	LEASE_OURS,		/* this agent serves the node, our group holds it */
	LEASE_OTHER,		/* another consumer group serves it: not ours */
	LEASE_NOBODY,		/* nobody does, or our group but not this agent */
	LEASE_ERROR		/* the database: try again later */
};

/* The agent's lease state; the caller frees it with agent_lease_free(). */
struct agent_lease *agent_lease_new(void);
void agent_lease_free(struct agent_lease *l);
/* The cron's hook: take or renew the leases when due (every third of
 * DEFAULT.cluster_lease_time), record this agent's nodes. */
void agent_lease_renew(struct agent *a);
/* Does our group hold NODE's lease now (as of the last renewal)? */
bool agent_lease_held(struct agent *a, const char *node);
/* The nodes this agent's group holds now, as the text of a JSON array
 * (for "node IN (SELECT jsonb_array_elements_text($n::jsonb))").  Caller
 * frees. */
char *agent_lease_held_json(struct agent *a);
/* Whose is a request for NODE?  WHY (WL bytes) says why it is not ours. */
enum lease_verdict agent_lease_check(struct agent *a, const char *node, char *why,
    size_t wl);
/* /readyz lines ("clusters: ..."); -1 when a cluster is not leased to us. */
int agent_lease_ready(struct agent *a, struct buf *out);
/* Requests found to be another group's (NOT_OURS) or nobody's (UNSERVED). */
void agent_lease_counts(struct agent *a, unsigned long *not_ours,
    unsigned long *unserved);
/* At a clean shutdown: this agent leaves its group's record; the last live
 * agent of the group serving a node ends the group's lease of it now. */
void agent_lease_stop(struct agent *a);

/* ---- the operator endpoints (agent_http.c) ---- */

/* Serve /healthz, /readyz, /metrics, /status and the image upload on
 * health.bind_host:bind_port.  0, or -1 (logged). */
int agent_http_start(struct agent *a);
void agent_http_stop(struct agent *a);

/* agent_http.c: /readyz's answer into OUT (a database round trip): 200
 * ready, 503 not. */
int agent_http_readyz(void *arg, struct buf *out);
/* agent_sd.c: systemd's notifications (Type=notify), nothing without
 * libsystemd or NOTIFY_SOCKET.  agent_sd_init() reads the watchdog's
 * period; agent_sd_tick(), from the main loop, pings it and sends READY=1
 * once /readyz says ready; agent_sd_notify() sends STATE as it is. */
void agent_sd_init(struct agent *a);
void agent_sd_tick(struct agent *a);
void agent_sd_notify(const char *state);

#endif
