/*
 * vcdriver.h - vcagent's client for the vSphere API (vim25 over SOAP).
 *
 * Everything vcagent does to vCenter goes through here.  A struct vcd_session
 * is one logged-in connection (keep-alive, TLS verified by default).
 *
 * Ownership: vcd_connect() returns a session the caller owns and releases with
 * vcd_close().  Functions that return arrays say so and have a matching
 * *_free().  Pointers returned by accessors are borrowed from the session and
 * live as long as it does.  Errors are written into a caller-provided struct
 * vcd_err (fixed-size, nothing to free).
 */
#ifndef VCDRIVER_H
#define VCDRIVER_H

#include <stdbool.h>
#include <stddef.h>

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
/* Log out (if logged in) and free everything.  NULL is fine. */
void vcd_close(struct vcd_session *s);

const struct vcd_about *vcd_about(const struct vcd_session *s);	/* borrowed */
bool vcd_logged_in(const struct vcd_session *s);
/* Number of SOAP calls made on this session (for tests and metrics). */
unsigned long vcd_call_count(const struct vcd_session *s);

struct vcd_cluster {
	struct vcd_moref ref;
	char	*name;
	int	 num_hosts;
	int	 num_effective_hosts;
};

/*
 * List every ClusterComputeResource in the inventory.  Returns 0 and a new
 * array in *out (caller frees with vcd_clusters_free), or -1 with ERR.
 */
int vcd_clusters_list(struct vcd_session *s, struct vcd_cluster **out,
    size_t *n, struct vcd_err *err);
void vcd_clusters_free(struct vcd_cluster *v, size_t n);

/* "fault (object): message" for logs; returns BUF. */
const char *vcd_strerror(const struct vcd_err *err, char *buf, size_t len);

#endif
