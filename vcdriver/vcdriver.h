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

enum vcd_errcode {
	VCD_OK = 0,
	VCD_E_TRANSPORT,	/* connect, TLS, timeout, bad HTTP status */
	VCD_E_FAULT,		/* the server answered with a SOAP fault */
	VCD_E_PROTOCOL,		/* the answer could not be understood */
	VCD_E_INVALID,		/* the caller passed something unusable */
	VCD_E_NOTFOUND,		/* a named object does not exist */
};

struct vcd_err {
	enum vcd_errcode code;
	char	fault[64];	/* vim25 fault type, e.g. "NotAuthenticated"; "" if none */
	char	object[192];	/* object involved, "Type:value" or a name; "" if none */
	char	msg[512];	/* human-readable; never contains a secret */
};

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
	double		 call_timeout;		/* seconds, per SOAP call */
	int		 api_retry_count;	/* retries on transport errors and 503 */
	int		 pool_size;		/* connections for concurrent calls (1) */
};

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
 * datastore's file system type is not filtered).
 */
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
};

/*
 * Refresh CLUSTER's resources into *R with one RetrievePropertiesEx (more
 * only when the server pages).  DATASTORE_REGEX may be NULL.  0, or -1 with
 * ERR (VCD_E_NOTFOUND when the cluster does not exist).
 */
int vcd_cluster_resources(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *datastore_regex, struct vcd_resources *r, struct vcd_err *err);

/* "fault (object): message" for logs; returns BUF. */
const char *vcd_strerror(const struct vcd_err *err, char *buf, size_t len);

#endif
