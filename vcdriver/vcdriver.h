/*
 * vcdriver.h - vcagent's client for the vSphere API (vim25 over SOAP).
 *
 * Everything vcagent does to vCenter goes through here.  A struct vcd_session
 * is one logged-in connection (keep-alive, TLS verified by default).
 *
 * Ownership: vcd_connect() returns a session the caller owns and releases with
 * vcd_close().  A session may be used from several threads at once: each
 * call takes one of up to pool_size connections that share the login.
 * Functions that return arrays say so and have a matching
 * *_free().  Pointers returned by accessors are borrowed from the session and
 * live as long as it does.  Errors are written into a caller-provided struct
 * vcd_err (fixed-size, nothing to free).
 */
#ifndef VCDRIVER_H
#define VCDRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum vcd_errcode {
	VCD_OK = 0,
	VCD_E_TRANSPORT,	/* connect, TLS, timeout, bad HTTP status; fault
				 * "OutcomeUnknown" when a call that must not
				 * run twice may have run (its answer was lost) */
	VCD_E_FAULT,		/* the server answered with a SOAP fault */
	VCD_E_PROTOCOL,		/* the answer could not be understood */
	VCD_E_INVALID,		/* the caller passed something unusable */
	VCD_E_NOTFOUND,		/* a named object does not exist */
	VCD_E_TIMEOUT,		/* a task did not finish in time */
	VCD_E_QUESTION,		/* a task is blocked by a question not answered */
	VCD_E_ABORTED,		/* the calling thread's abort check said stop
				 * (vcd_abort_set); msg says why */
};

struct vcd_err {
	enum vcd_errcode code;
	char	fault[64];	/* vim25 fault type, e.g. "NotAuthenticated"; "" if none */
	char	object[192];	/* object involved, "Type:value" or a name; "" if none */
	char	msg[512];	/* human-readable; never contains a secret */
};

/*
 * The calling thread's abort check: CHECK(ARG, WHY, LEN) returns nonzero,
 * with a reason in WHY, when the work this thread does must stop (e.g. the
 * lock it runs under was lost).  It is per thread (thread-local) and is
 * called only from that thread: before a method that is not idempotent
 * (`once` in vim25.spec; a paged read's ContinueRetrievePropertiesEx
 * excepted) is sent, which then fails with VCD_E_ABORTED without being
 * sent; and while vcd_task_wait waits, at most once a second, which then
 * cancels the task (CancelTask) and fails with VCD_E_ABORTED.  Idempotent
 * calls (reads, CancelTask, cleanup) are never stopped.  The caller owns
 * ARG and keeps it valid until it clears the check (CHECK NULL), which it
 * must do before the thread does other work.
 */
void vcd_abort_set(int (*check)(void *arg, char *why, size_t len), void *arg);
/* The calling thread's abort check (NULL *CHECK: none), e.g. to set it
 * aside for work that is not the check's and restore it after. */
void vcd_abort_get(int (**check)(void *arg, char *why, size_t len), void **arg);

/* CLOCK_MONOTONIC in seconds: the clock vcdriver's deadlines use, for
 * callers that time their own work against it. */
double vcd_mono(void);

/* A managed object reference: type and value kept exactly as sent. */
struct vcd_moref {
	char	type[64];
	char	value[128];
};

struct vcd_options {
	const char	*host;
	int		 port;			/* 443 */
	const char	*username;
	const char	*password;		/* copied; wiped when the session closes */
	const char	*ca_file;		/* NULL: the system's CA store */
	bool		 insecure;		/* skip TLS verification (ignored with ca_file) */
	const char	*proxy;			/* libcurl syntax; NULL: none */
	double		 connect_timeout;	/* seconds */
	double		 call_timeout;		/* seconds, per attempt of a SOAP call */
	/* Seconds a whole SOAP call may take: the wait for a connection,
	 * every attempt and the pauses between them (0: 600).  Wins over
	 * call_timeout. */
	double		 call_deadline;
	/* Seconds to wait for a free pooled connection (0: the deadline). */
	double		 pool_wait;
	/* Bytes of one answer, at most (0: VCD_MAX_RESPONSE). */
	size_t		 max_response;
	/* Retries after HTTP 503 and transport errors: of any call when the
	 * request was not sent (resolve, connect, TLS handshake), else only of
	 * the idempotent methods (vim25.spec). */
	int		 api_retry_count;
	int		 pool_size;		/* connections for concurrent calls (1) */
	double		 task_poll_interval;	/* seconds; polling is only a fallback */
	double		 task_timeout;		/* seconds a VM task may run (3600) */
	bool		 auto_answer;		/* answer VM questions with the default */
	int		 max_objects;		/* PropertyCollector page size
						 * (RetrieveOptions.maxObjects), as
						 * oslo.vmware's maximum_objects;
						 * 0: vCenter's default */
	/* Seconds: a call that must not run twice is sent on a kept-alive
	 * connection only if that connection's last answer came within this
	 * (0: VCD_REUSE_WINDOW; < 0: never, always a fresh connection).  It
	 * is never sent a second time either way (vcd_http.c). */
	double		 reuse_window;
};

#define VCD_REUSE_WINDOW	1.0

/* The default limit on an answer's size: far above the largest page of
 * properties vcagent asks for, far below what would hurt the agent. */
#define VCD_MAX_RESPONSE	(64u * 1024 * 1024)

struct vcd_about {
	char	name[128];		/* "VMware vCenter Server" */
	char	full_name[256];
	char	version[32];
	char	build[32];
	char	api_type[32];		/* "VirtualCenter" or "HostAgent" */
	char	api_version[32];
	char	instance_uuid[64];
};

struct vcd_session;

/*
 * Open a connection to OPT->host and read the ServiceContent (no login yet).
 * Returns 0 and a new session in *out, or -1 with ERR filled.
 */
int vcd_connect(const struct vcd_options *opt, struct vcd_session **out,
    struct vcd_err *err);
/* Log in with the options' credentials.  0, or -1 with ERR (InvalidLogin, ...). */
int vcd_login(struct vcd_session *s, struct vcd_err *err);
/*
 * If nothing was sent for IDLE_SECONDS, send CurrentTime so the server does
 * not expire the session (call it from a periodic job with an interval below
 * the server's idle timeout).  0, or -1 with ERR.
 */
int vcd_keepalive(struct vcd_session *s, int idle_seconds, struct vcd_err *err);
/* Log out (if logged in) and free everything.  NULL is fine. */
void vcd_close(struct vcd_session *s);

const struct vcd_about *vcd_about(const struct vcd_session *s);	/* borrowed */
bool vcd_logged_in(const struct vcd_session *s);
/* Number of SOAP calls made on this session (for tests and metrics). */
unsigned long vcd_call_count(const struct vcd_session *s);
/* Number of successful logins, the first and every re-login after expiry. */
unsigned long vcd_login_count(struct vcd_session *s);

/* Latency buckets of the statistics below: upper bounds in seconds. */
#define VCD_LAT_NB	14
extern const double vcd_lat_bounds[VCD_LAT_NB];
struct vcd_lat {
	unsigned long	count;
	double		sum;			/* seconds */
	unsigned long	bucket[VCD_LAT_NB + 1];	/* per bucket (not cumulative);
						 * the last is above every bound */
};
/* One vim25 method's calls on a session, and its tasks' durations (from
 * the call to the task's end) for methods that return a task. */
struct vcd_method_stats {
	const char	*method;		/* static */
	unsigned long	 errors;		/* calls that failed: fault, transport */
	struct vcd_lat	 call;
	unsigned long	 task_errors;		/* tasks that failed or timed out */
	struct vcd_lat	 task;
};
/* The methods called at least once on S, up to N of them into OUT (the
 * caller's array); returns how many there are. */
size_t vcd_stats(struct vcd_session *s, struct vcd_method_stats *out, size_t n);

struct vcd_cluster {
	struct vcd_moref ref;
	char	*name;
	int	 num_hosts;
};

/*
 * List every ClusterComputeResource in the inventory.  Returns 0 and a new
 * array in *out (caller frees with vcd_clusters_free), or -1 with ERR.
 */
int vcd_clusters_list(struct vcd_session *s, struct vcd_cluster **out,
    size_t *n, struct vcd_err *err);
void vcd_clusters_free(struct vcd_cluster *v, size_t n);

/*
 * A cluster as one hypervisor resource, summed as nova's VMware driver sums
 * it: CPU threads and memory of the hosts that are connected and not in
 * maintenance; capacity and free space of the datastores that are
 * accessible, not in maintenance and match datastore_regex (unlike nova, the
 * datastore's file system type is not filtered).  A datastore whose name the
 * regex could not be matched against (a PCRE2 limit, see vcd_regex_match)
 * is not used either: it is counted in datastores_regex_errors, and the
 * first one named in regex_error.
 */
#define VCD_RES_MAXDS	32
struct vcd_resources {
	char	nodename[256];		/* "<cluster moid>.<vCenter instanceUuid>" */
	char	name[256];		/* the cluster's name */
	char	vcenter_version[32];
	int	hosts_total, hosts_usable;
	int64_t	vcpus, max_vcpus_per_host;
	int64_t	memory_mb, memory_mb_used, max_memory_mb_per_host;
	int	datastores_total, datastores_usable;
	int64_t	disk_total_bytes, disk_free_bytes;
	int64_t	max_disk_free_bytes;	/* the largest datastore's free space */
	char	largest_datastore[256];
	int	datastores_regex_errors;
	char	regex_error[320];	/* "datastore \"NAME\": WHY"; "" if none */
	/* the usable datastores (the first VCD_RES_MAXDS), for placement by
	 * storage policy */
	int	nds;
	struct vcd_res_ds {
		char		 name[256];
		struct vcd_moref ref;
		int64_t		 free_bytes;
	}	ds[VCD_RES_MAXDS];
};

/*
 * Refresh CLUSTER's resources into *R with one RetrievePropertiesEx (more
 * only when the server pages).  DATASTORE_REGEX may be NULL (every
 * datastore); it is compiled with vcd_regex_compile() for the call.  0, or
 * -1 with ERR (VCD_E_NOTFOUND when the cluster does not exist,
 * VCD_E_INVALID when DATASTORE_REGEX does not compile).
 */
int vcd_cluster_resources(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *datastore_regex, struct vcd_resources *r, struct vcd_err *err);

/*
 * First Class Disks (vcd_fcd.c): a volume as vSphere 6.5's
 * VStorageObjectManager keeps it, on datastore DS, known by its id.
 *
 * vcd_fcd_create(): CreateDisk_Task of a thin disk named SPEC->name
 * (kept when a VM it is attached to is deleted), with a storage policy
 * when SPEC->profile_id is set; OUT describes it.  vcd_fcd_get():
 * RetrieveVStorageObject.  vcd_fcd_find(): the disk named NAME on DS
 * (ListVStorageObject, then one RetrieveVStorageObject per disk: for a
 * caller that lost a create's answer), VCD_E_NOTFOUND when none.
 * vcd_fcd_delete(): DeleteVStorageObject_Task (the disk and its file).
 * vcd_fcd_attach(): AttachDisk_Task on controller CTL (0: vCenter's
 * choice) at UNIT (-1: the first free); vcd_fcd_detach(): DetachDisk_Task,
 * the file kept.  Both check the VM as every VM operation does (UUID).
 * All: 0, or -1 with ERR (vCenter's fault: NotFound for an unknown id).
 */
struct vcd_fcd {
	char		 id[80];
	char		 name[256];
	char		 path[600];		/* "[ds] fcd/....vmdk" */
	struct vcd_moref datastore;
	int64_t		 capacity_mb;
	size_t		 consumers;		/* VMs it is attached to */
};
struct vcd_fcd_spec {
	const char	*name;
	struct vcd_moref datastore;
	int64_t		 capacity_mb;
	const char	*profile_id;		/* NULL: none */
};
int vcd_fcd_create(struct vcd_session *s, const struct vcd_fcd_spec *spec,
    struct vcd_fcd *out, struct vcd_err *err);
int vcd_fcd_get(struct vcd_session *s, const char *id, const struct vcd_moref *ds,
    struct vcd_fcd *out, struct vcd_err *err);
int vcd_fcd_find(struct vcd_session *s, const struct vcd_moref *ds, const char *name,
    struct vcd_fcd *out, struct vcd_err *err);
int vcd_fcd_delete(struct vcd_session *s, const char *id, const struct vcd_moref *ds,
    struct vcd_err *err);
int vcd_fcd_attach(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *id, const struct vcd_moref *ds, int ctl, int unit,
    struct vcd_err *err);
int vcd_fcd_detach(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *id, struct vcd_err *err);

/*
 * Storage policies (SPBM), from the PBM service on the same endpoint.
 *
 * vcd_pbm_profile(): the id (VCD_PBM_IDLEN bytes in ID) of the storage
 * requirement policy called NAME; VCD_E_NOTFOUND with fault
 * PbmProfileNotFound when vCenter has none.  Found names are kept, so
 * later lookups make no call.
 *
 * vcd_pbm_matching(): which of the N datastores DS comply with policy
 * PROFILE_ID (PbmQueryMatchingHub): OK[i] true for those.  One call.
 * Both: 0, or -1 with ERR.
 */
#define VCD_PBM_NAMELEN	256
#define VCD_PBM_IDLEN	128
int vcd_pbm_profile(struct vcd_session *s, const char *name, char *id,
    struct vcd_err *err);
int vcd_pbm_matching(struct vcd_session *s, const char *profile_id,
    const struct vcd_moref *ds, size_t n, bool *ok, struct vcd_err *err);

/*
 * vmware.datastore_regex as nova applies it: Python's re.match() on the
 * datastore's name, i.e. anchored at its start and not at its end.  The
 * pattern is PCRE2's (Perl's syntax, which Python's re follows), in UTF-8
 * with Unicode character properties.  Compiling and matching are both
 * bounded: at most VCD_REGEX_MAXLEN bytes and limited nesting; a match that
 * backtracks too much or too deep fails instead of running on.
 *
 * vcd_regex_compile() returns a regex the caller owns and frees with
 * vcd_regex_free(), or NULL with why in WHY ("regular expression too long
 * (N bytes; at most 1024)" or "invalid regular expression at offset N:
 * PCRE2's message").  A compiled regex is read-only: several threads may
 * match with it at once.  vcd_regex_match() returns 1 when NAME matches,
 * 0 when it does not, -1 with PCRE2's message in WHY when a limit was hit.
 */
#define VCD_REGEX_MAXLEN	1024
struct vcd_regex;
struct vcd_regex *vcd_regex_compile(const char *pattern, char *why, size_t whylen);
int vcd_regex_match(const struct vcd_regex *re, const char *name, char *why,
    size_t whylen);
void vcd_regex_free(struct vcd_regex *re);

/*
 * Wait for TASK to finish.  VM (may be NULL) is the virtual machine the task
 * works on: a question it raises (runtime.question) is answered with its
 * default choice when auto_answer is on; otherwise the question's text is
 * the error (VCD_E_QUESTION) and the task is cancelled if it can be.
 * Waiting uses PropertyCollector updates (one WaitForUpdatesEx serves every
 * task waited on in the session); polling every task_poll_interval is the
 * fallback.  A task that already finished costs one call.
 *
 * Returns 0 when the task succeeded (its result, when it is a MoRef, in
 * *RESULT if RESULT is not NULL), or -1 with ERR: the task's fault
 * (VCD_E_FAULT with the fault type and message), VCD_E_TIMEOUT after
 * TIMEOUT seconds (the task left running: it may be waited on again),
 * VCD_E_QUESTION, VCD_E_ABORTED (the thread's abort check said stop:
 * the task cancelled), or a transport error.
 */
int vcd_task_wait(struct vcd_session *s, const struct vcd_moref *task,
    const struct vcd_moref *vm, double timeout, struct vcd_moref *result,
    struct vcd_err *err);

/* Where a cluster's VMs go: its root resource pool and its datacenter's VM
 * folder.  One call. */
struct vcd_placement {
	struct vcd_moref pool, folder, datacenter;
	struct vcd_moref env_browser;	/* the cluster's; may be empty */
	char	datacenter_name[256];
};
int vcd_cluster_placement(struct vcd_session *s, const struct vcd_moref *cluster,
    struct vcd_placement *p, struct vcd_err *err);
/* The host of CLUSTER named NAME (case-insensitive, as DNS names are), in
 * *HOST.  One call.  VCD_E_NOTFOUND (fault NotFound) if it has none. */
int vcd_cluster_host(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *name, struct vcd_moref *host, struct vcd_err *err);

/* ---- guest operating systems (vcd_guest.c) ---- */

/* What vCenter says of a guest id (a GuestOsDescriptor). */
struct vcd_guest_os {
	char	full_name[128];
	char	family[32];
	int	firmware;		/* bit 0 bios, bit 1 efi; 0: not told */
	int	secure_boot;		/* 1 supported, 0 not, -1 not told */
};

/*
 * Is GUEST_ID a guest id the cluster whose environment browser is ENV
 * knows (QueryConfigOptionEx, filtered by the id: vCenter returns the id's
 * descriptor, or every descriptor when it has none of that id)?  0 with
 * OUT filled; -1 with ERR: VCD_E_NOTFOUND (fault InvalidGuestId, naming the
 * id and the cluster CLUSTER) when it is not one, else the call's error.
 * One call; none for an id already found valid on ENV (they are kept).
 */
int vcd_guest_os(struct vcd_session *s, const struct vcd_moref *env,
    const char *cluster, const char *guest_id, struct vcd_guest_os *out,
    struct vcd_err *err);

/* ---- virtual machines (vcd_vm.c) ---- */

struct vim_VirtualMachineConfigSpec;
struct vim_list_VirtualDeviceConfigSpec;
struct vim_list_OptionValue;
struct vim_ResourceAllocationInfo;
struct vim_SharesInfo;

struct vcd_vm_info {
	struct vcd_moref ref;
	char	name[256];
	char	instance_uuid[64];
	char	power_state[16];	/* poweredOn, poweredOff, suspended */
	bool	has_question;
	struct vcd_moref host;
};

/* Every VM in the inventory; caller frees *OUT with vcd_vm_list_free(). */
int vcd_vm_list(struct vcd_session *s, struct vcd_vm_info **out, size_t *n,
    struct vcd_err *err);
void vcd_vm_list_free(struct vcd_vm_info *v);
/* The VM with INSTANCE_UUID (FindByUuid); VCD_E_NOTFOUND if none. */
int vcd_vm_find(struct vcd_session *s, const char *instance_uuid,
    struct vcd_moref *vm, struct vcd_err *err);

/*
 * What a new VM is made of.  Borrowed pointers: they must live until
 * vcd_vm_create() returns.
 */
/* A ResourceAllocationInfo (CPU in MHz, memory in MB): nova's shape. */
struct vcd_alloc {
	int64_t		 limit;		/* -1: unlimited */
	int64_t		 reservation;
	const char	*level;		/* low, normal, high, custom */
	int		 shares;	/* with custom */
};

/* A as a ResourceAllocationInfo in RI and SH (the caller's storage), with
 * *OUT pointing at RI; *OUT NULL when A is NULL. */
void vcd_alloc_info(struct vim_ResourceAllocationInfo *ri, struct vim_SharesInfo *sh,
    const struct vcd_alloc *a, struct vim_ResourceAllocationInfo **out);

struct vcd_vm_spec {
	const char	*name;
	const char	*instance_uuid;	/* also in extraConfig nvp.vm-uuid */
	const char	*guest_id;	/* NULL: otherGuest64 */
	const char	*firmware;	/* NULL, "bios" or "efi" */
	int		 secure_boot;	/* 0: vCenter's; 1 on (efi), -1 off */
	int64_t		 boot_delay_ms;	/* 0: none */
	int		 vcpus;
	int		 cores_per_socket;	/* 0: vCenter's default */
	int64_t		 memory_mb;
	const char	*hw_version;	/* NULL, or "vmx-NN" */
	const struct vcd_alloc *cpu_alloc, *mem_alloc;	/* NULL: vCenter's */
	const char	*datastore;	/* where the VM's folder is made */
	struct vcd_moref folder, pool, host;	/* host may be empty */
	const struct vim_list_VirtualDeviceConfigSpec *devices;	/* NULL: none */
	const struct vim_list_OptionValue *extra;	/* more extraConfig, or NULL */
	const char	*profile_id;	/* a storage policy (vcd_pbm_profile) for the
					 * VM and each disk DEVICES adds; NULL: none
					 * (DEVICES' disk changes get it set) */
};

/* Every operation waits for its task; a VM with a pending question or a
 * running task is refused (VCD_E_QUESTION, or fault TaskInProgress).  None
 * is sent twice: when the answer is lost after the request was sent, the
 * error is fault OutcomeUnknown; vcd_vm_create() then looks for the VM by
 * its instance uuid and, when it is there, returns it as made.
 *
 * UUID (NULL: no check): the instance uuid VM must carry.  A MoRef is only
 * a name, which a vCenter restored from a backup can give another VM: each
 * operation reads the VM's config.instanceUuid in its pre-check (no call
 * of its own) and acts only when it is UUID, else fails as
 * vcd_vm_uuid_check() says. */
/*
 * 0 if HAVE (a VM's config.instanceUuid, "" if it has none) is WANT, or WANT
 * is NULL; else -1 with ERR naming VM, HAVE and WANT, fault
 * InstanceUuidMismatch: code VCD_E_NOTFOUND (vcd_err_gone(): the instance's
 * VM is not at that MoRef) when VM carries another uuid, VCD_E_FAULT when it
 * carries none (whose it is cannot be told).  Makes no call.
 */
int vcd_vm_uuid_check(const struct vcd_moref *vm, const char *have,
    const char *want, struct vcd_err *err);
int vcd_vm_create(struct vcd_session *s, const struct vcd_vm_spec *spec,
    struct vcd_moref *vm, struct vcd_err *err);
int vcd_vm_power_on(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_err *err);
/* Power on a VM the caller has just created: no pre-check (it can have no
 * question and no other task yet). */
int vcd_vm_power_on_created(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err);
int vcd_vm_power_off(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_err *err);
/* Soft: ShutdownGuest, then wait up to TIMEOUT s for poweredOff; with
 * HARD_AFTER a hard power off follows a timeout or missing guest tools. */
int vcd_vm_shutdown(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, double timeout, bool hard_after, struct vcd_err *err);
/* Hard: ResetVM_Task.  Soft: RebootGuest when the guest's VMware Tools
 * run, else a reset; a reset too when the tools have not stopped (the
 * reboot begun) within TIMEOUT s. */
int vcd_vm_reboot(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, bool hard, double timeout, struct vcd_err *err);
int vcd_vm_reset(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_err *err);
int vcd_vm_suspend(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_err *err);
int vcd_vm_reconfigure(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vim_VirtualMachineConfigSpec *spec,
    struct vcd_err *err);
/* CloneVM_Task: a linked clone of VM (its disks children of SNAPSHOT's,
 * or of the VM's current state when SNAPSHOT is NULL), powered off, named
 * NAME, in FOLDER and POOL, into *CLONE. */
int vcd_vm_clone_linked(struct vcd_session *s, const struct vcd_moref *vm,
    const struct vcd_moref *snapshot, const struct vcd_moref *folder,
    const struct vcd_moref *pool, const char *name, struct vcd_moref *clone,
    struct vcd_err *err);
/* Power off if needed, then Destroy_Task (which removes the VM's files). */
int vcd_vm_destroy(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err);
/*
 * Power off if needed, UnregisterVM, and remove the VM's folder (in
 * datacenter DC) with DeleteDatastoreFile_Task; the folder removed is put in
 * FOLDER ("[ds] name", caller's buffer).  Disks outside the folder, such as
 * a linked clone's cached parent, are left alone.  0, or -1 with ERR.
 */
int vcd_vm_delete(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_moref *dc, char *folder, size_t flen,
    struct vcd_err *err);

/* A migration's destination: any of host, pool, datastore (empty: keep). */
/* A disk of the VM named in the move: it goes to DATASTORE (its own, to
 * stay where it is) with policy PROFILE_ID ("" : none). */
struct vcd_disk_locator {
	int		 key;			/* the VirtualDisk's device key */
	struct vcd_moref datastore;
	char		 profile_id[VCD_PBM_IDLEN];
};
struct vcd_relocate {
	struct vcd_moref host, pool, datastore;
	const struct vcd_disk_locator *disks;	/* NULL: none */
	size_t		 ndisks;
};
/* VM's runtime.powerState (poweredOn, poweredOff, suspended) into STATE. */
int vcd_vm_power_state(struct vcd_session *s, const struct vcd_moref *vm,
    char *state, size_t len, struct vcd_err *err);
/* RelocateVM_Task: cold when the VM is off, live (vMotion) when on. */
int vcd_vm_relocate(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_relocate *to, struct vcd_err *err);

/* ---- what a VM is and does (vcd_inspect.c) ---- */

struct vcd_vm_disk {
	int	 key;
	char	 label[80];
	char	 file[512];		/* "" when not a file-backed disk */
	char	 mode[32];		/* persistent, independent_persistent, ... */
	int64_t	 capacity_kb;
	bool	 linked;		/* a delta over a parent disk */
};
struct vcd_vm_nic {
	int	 key;
	char	 label[80];
	char	 type[48];		/* VirtualVmxnet3, VirtualE1000, ... */
	char	 mac[18];
	bool	 connected;
	char	 network[256];		/* as the guest's tools report it */
	char	 ips[256];		/* the guest's addresses, comma-separated */
};
/* Numbers are -1 when vCenter has none. */
struct vcd_vm_detail {
	char	 power[16];
	int	 vcpus, cores_per_socket;
	int64_t	 memory_mb;
	char	 guest_id[64];
	char	 version[16];
	char	 tools[32];		/* guestToolsRunning, guestToolsNotRunning */
	char	 hostname[256];
	char	 ip[64];		/* the guest's primary address */
	int64_t	 cpu_usage_mhz, max_cpu_mhz;
	int64_t	 guest_memory_mb, host_memory_mb, max_memory_mb;
	int64_t	 uptime_s;
	char	 boot_time[40];
	struct vcd_vm_disk *disks;	/* owned: vcd_vm_detail_free() */
	size_t	 ndisks;
	struct vcd_vm_nic *nics;	/* owned */
	size_t	 nnics;
};
/*
 * VM's configuration, guest information, devices and quick statistics, one
 * call, into D (release with vcd_vm_detail_free()); the instance uuid is
 * checked as the VM operations check it.
 */
int vcd_vm_inspect(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_vm_detail *d, struct vcd_err *err);
void vcd_vm_detail_free(struct vcd_vm_detail *d);
/* The name of the host VM runs on (runtime.host's name): two calls. */
int vcd_vm_host_name(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, char *name, size_t len, struct vcd_err *err);

/* ---- snapshots (vcd_snap.c) ---- */

/* One snapshot of a VM's tree, flattened depth first (parents first). */
struct vcd_snap {
	struct vcd_moref ref;		/* VirtualMachineSnapshot */
	char	name[256];
	char	description[1024];
	int64_t	id;			/* vCenter's id within the VM; 0: none */
	char	create_time[40];	/* xsd:dateTime */
	char	state[16];		/* the VM's power state it holds */
	bool	quiesced;
	bool	current;		/* the VM's currentSnapshot */
	int	parent;			/* index in the list; -1: a root */
};
/*
 * VM's snapshots, one call (its snapshot, config.instanceUuid, which must
 * be UUID as for the VM operations below, and guest.toolsRunningStatus):
 * *OUT (caller frees with free(); NULL when none), *N; *TOOLS (may be
 * NULL): the guest's tools are running.
 */
int vcd_snap_list(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_snap **out, size_t *n, bool *tools,
    struct vcd_err *err);
/* CreateSnapshot_Task; *SNAP: the new snapshot.  DESCRIPTION may be NULL. */
int vcd_snap_create(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *name, const char *description, bool memory,
    bool quiesce, struct vcd_moref *snap, struct vcd_err *err);
/* RevertToSnapshot_Task on SNAP, a snapshot of VM (pre-checked as VM's). */
int vcd_snap_revert(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_moref *snap, struct vcd_err *err);
/* RemoveSnapshot_Task (consolidating), with its children when CHILDREN. */
int vcd_snap_remove(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const struct vcd_moref *snap, bool children,
    struct vcd_err *err);
/* RemoveAllSnapshots_Task (consolidating). */
int vcd_snap_remove_all(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_err *err);

/* ---- datastore files (vcd_ds.c) ---- */

/*
 * Data callback: for a PUT, fill BUF with up to LEN bytes and return how
 * many (0 at the end); for a GET, take LEN bytes from BUF and return LEN.
 * Return -1 to stop the transfer (it then fails).
 */
typedef ssize_t (*vcd_ds_data_fn)(char *buf, size_t len, void *arg);

/* libcurl adapters, for this and other HTTP peers (the image service): a
 * CURLOPT_READFUNCTION that runs FN (its data a struct vcd_curl_data, whose
 * FAILED is set when FN refused), and a CURLOPT_WRITEFUNCTION that drops a
 * body. */
struct vcd_curl_data {
	vcd_ds_data_fn	 fn;
	void		*arg;
	int		 failed;
};
size_t vcd_curl_read(char *buf, size_t size, size_t nmemb, void *arg);
size_t vcd_curl_discard(char *buf, size_t size, size_t nmemb, void *arg);

/*
 * Stream a file to / from datastore DS of datacenter DC (names) at PATH
 * (relative, "folder/file.vmdk") through vCenter's HTTP file interface, on a
 * connection sharing the session.  SIZE is the upload's length (-1 unknown:
 * chunked).  0, or -1 with ERR (VCD_E_NOTFOUND, fault FileNotFound, for a
 * missing file, datastore or datacenter).
 */
int vcd_ds_put(struct vcd_session *s, const char *dc, const char *ds,
    const char *path, int64_t size, vcd_ds_data_fn read, void *arg,
    struct vcd_err *err);
int vcd_ds_get(struct vcd_session *s, const char *dc, const char *ds,
    const char *path, vcd_ds_data_fn write, void *arg, struct vcd_err *err);
/* The file's size in *SIZE (-1 if the server does not say). */
int vcd_ds_stat(struct vcd_session *s, const char *dc, const char *ds,
    const char *path, int64_t *size, struct vcd_err *err);
/* FileManager operations on "[ds] path" names in datacenter DC: make a
 * directory (with its parents; an existing one is fine), move a file or
 * directory, delete one (directories recursively). */
int vcd_ds_mkdir(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, struct vcd_err *err);
int vcd_ds_move(struct vcd_session *s, const struct vcd_moref *dc,
    const char *from, const char *to, bool force, struct vcd_err *err);
int vcd_ds_delete(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, struct vcd_err *err);

/* ---- virtual disks (vcd_vdisk.c): VirtualDiskManager ---- */

/*
 * A disk's type and adapter as vSphere names them: DISK_TYPE "thin",
 * "preallocated", "eagerZeroedThick", ...; ADAPTER "lsiLogic", "busLogic",
 * "ide" (a VirtualDiskAdapterType: paraVirtual and lsiLogicsas disks are
 * made as lsiLogic, the controller decides).
 */
struct vcd_vdisk_spec {
	const char	*disk_type;
	const char	*adapter;
	int64_t		 capacity_kb;	/* create only */
};

/*
 * Create the disk DSPATH ("[ds] folder/name.vmdk": descriptor and extent),
 * copy SRC to DST (SPEC may be NULL: vSphere's default type), move a disk
 * with its extents, delete one with its extents, or grow one to
 * CAPACITY_KB.  Each is one task in datacenter DC; 0, or -1 with ERR naming
 * the disk (FileNotFound, FileAlreadyExists, ...).
 */
int vcd_vdisk_create(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, const struct vcd_vdisk_spec *spec, struct vcd_err *err);
int vcd_vdisk_copy(struct vcd_session *s, const struct vcd_moref *dc,
    const char *src, const char *dst, const struct vcd_vdisk_spec *spec,
    struct vcd_err *err);
int vcd_vdisk_move(struct vcd_session *s, const struct vcd_moref *dc,
    const char *src, const char *dst, bool force, struct vcd_err *err);
int vcd_vdisk_delete(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, struct vcd_err *err);
int vcd_vdisk_extend(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, int64_t capacity_kb, struct vcd_err *err);

/* ---- disks through an NFC lease (vcd_nfc.c) ---- */

struct vim_VirtualMachineConfigSpec;

/* An HttpNfcLease from ImportVApp or ExportVm, ready for its disk's data. */
struct vcd_nfc_lease {
	struct vcd_moref lease;
	struct vcd_moref vm;		/* the VM being imported or exported */
	char		 url[1024];	/* the first disk's upload URL: a
					 * capability, never logged */
};

/*
 * ImportVApp a VM described by SPEC (a name, files.vmPathName and one new
 * disk) into resource pool POOL and VM folder FOLDER, and wait (up to 120 s)
 * for its lease to be ready.  0, or -1 with ERR (the lease's error fault).
 */
int vcd_nfc_import(struct vcd_session *s, const struct vcd_moref *pool,
    const struct vcd_moref *folder, struct vim_VirtualMachineConfigSpec *spec,
    struct vcd_nfc_lease *l, struct vcd_err *err);
/*
 * ExportVm: a lease on VM's disks (VM powered off, else fault
 * InvalidPowerState), waited for as the import's is; the first disk's
 * download URL in L.  0, or -1 with ERR.
 */
int vcd_nfc_export(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_nfc_lease *l, struct vcd_err *err);
/* Stream the lease's disk (a streamOptimized VMDK) to WRITE, reporting
 * progress every 5 s (percent of TOTAL bytes; 0: not known, 50). */
int vcd_nfc_get(struct vcd_session *s, const struct vcd_nfc_lease *l,
    int64_t total, vcd_ds_data_fn write, void *arg, struct vcd_err *err);
/* Stream SIZE bytes of a streamOptimized VMDK to the lease's disk. */
int vcd_nfc_put(struct vcd_session *s, const struct vcd_nfc_lease *l,
    int64_t size, vcd_ds_data_fn read, void *arg, struct vcd_err *err);
/* Report PERCENT done: keeps the lease from timing out. */
int vcd_nfc_progress(struct vcd_session *s, const struct vcd_nfc_lease *l,
    int percent, struct vcd_err *err);
int vcd_nfc_complete(struct vcd_session *s, const struct vcd_nfc_lease *l,
    struct vcd_err *err);
/* Abort the lease (errors are logged, not returned). */
void vcd_nfc_abort(struct vcd_session *s, const struct vcd_nfc_lease *l);

/* Remove VM from the inventory, keeping its files.  0, or -1 with ERR. */
int vcd_vm_unregister(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err);
/* The datastore path of VM's first virtual disk, in OUT. */
int vcd_vm_disk_path(struct vcd_session *s, const struct vcd_moref *vm,
    char *out, size_t len, struct vcd_err *err);

/* Fill ERR (for layers above vcdriver that report in the same terms). */
void vcd_err_set(struct vcd_err *err, enum vcd_errcode code, const char *fault,
    const char *object, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "Type:value" (a fault's object) into DST. */
void vcd_moref_str(char *dst, size_t len, const struct vcd_moref *m);
void vcd_err_clear(struct vcd_err *err);
/* ERR says the object is gone: VCD_E_NOTFOUND, or vCenter's fault
 * ManagedObjectNotFound (a stale MoRef). */
bool vcd_err_gone(const struct vcd_err *err);

/* "fault (object): message" for logs; returns BUF. */
const char *vcd_strerror(const struct vcd_err *err, char *buf, size_t len);

#endif
