/*
 * vcd_int.h - vcdriver internals shared between its files; not public.
 */
#ifndef VCD_INT_H
#define VCD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <curl/curl.h>

#include "buf.h"
#include "vcdriver.h"
#include "vcd_call.h"
#include "vim.h"

#define VCD_NS_VIM	"urn:vim25"
#define VCD_COOKIE	"vmware_soap_session"	/* vCenter's session cookie */
#define VCD_NS_SOAPENV	"http://schemas.xmlsoap.org/soap/envelope/"
#define VCD_NS_XSI	"http://www.w3.org/2001/XMLSchema-instance"

/*
 * One HTTP connection: a libcurl easy handle keeps its TLS connection alive
 * between calls.  A call takes a connection from the session's pool for its
 * duration, so concurrent calls never share one.
 */
struct vcd_conn {
	CURL		*curl;
	struct curl_slist *headers;
	struct buf	 req, resp;
	size_t		 max_resp;		/* cap on resp.len */
	bool		 too_big;		/* the answer passed max_resp */
	/* the call in progress (vcd_invoke_conn), for vcd_http_post */
	const struct vim_method *method;
	char		 object[192];		/* its _this, "Type:value" */
	double		 deadline;		/* vcd_mono(); 0: none set */
	bool		 once;			/* the call must not be sent twice */
	int		 sends;			/* requests libcurl began, this attempt */
	/* vcd_mono() when this handle's connection last gave a whole answer;
	 * 0: it has none, or it failed since */
	double		 answered;
	struct vcd_conn	*next;
};

/*
 * The session: shared by every connection (libcurl's share interface carries
 * the vmware_soap_session cookie, TLS sessions and DNS), so one Login serves
 * all of them.  login_gen counts logins: a call that meets NotAuthenticated
 * re-logs in only if nobody has since it started, so several calls failing
 * together cause one re-login.
 */
typedef int (*vcd_post_fn)(struct vcd_session *s, struct vcd_conn *c,
    long *status, struct vcd_err *err);

/* HTTP requests that are not SOAP calls, counted apart by kind (the
 * names vcd_stats() gives them are in vcd_session.c). */
#define VCD_HTTP_NKINDS	4

struct vcd_session {
	/*
	 * The transport: vcd_http_post, or in unit tests a function serving
	 * recorded answers for what vcsim cannot produce (paging tokens).
	 */
	vcd_post_fn	 post;
	void		*post_arg;

	/* copies of the options; the password is wiped when the session closes */
	char		*host, *username, *password, *ca_file, *proxy;
	int		 port;
	bool		 insecure;
	double		 connect_timeout, call_timeout;
	double		 call_deadline, pool_wait;
	size_t		 max_response;
	int		 api_retry_count;
	int		 pool_size;
	int		 max_objects;		/* page size; 0: vCenter's */

	char		*url;			/* https://host:port/sdk */
	char		*base;			/* https://host:port: other endpoints */
	char		 soap_action[64];	/* urn:vim25/<apiVersion> */

	CURLSH		*share;
	pthread_mutex_t	 share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t	 pool_lock;
	pthread_cond_t	 pool_cond;
	struct vcd_conn	*idle;			/* free connections */
	int		 nconns;		/* created so far */

	pthread_mutex_t	 login_lock;
	unsigned long	 login_gen;		/* under login_lock */
	atomic_bool	 logged_in;

	atomic_ulong	 ncalls;
	struct vcd_mstat {			/* per method, by vim_method.index,
						 * then HTTP requests by kind */
		atomic_ulong	calls, errors, sum_us, bucket[VCD_LAT_NB + 1];
		atomic_ulong	tasks, task_errors, tsum_us, tbucket[VCD_LAT_NB + 1];
	}		 mstat[VIM_NMETHODS + VCD_HTTP_NKINDS];
	atomic_ulong	 opid_seq;
	unsigned	 opid_tag;		/* random, per session */
	_Atomic time_t	 last_call;

	double		 task_poll_interval;
	double		 task_timeout;
	bool		 auto_answer;
	double		 reuse_window;		/* seconds; < 0: never (vcd_options) */
	struct vcd_waiter *waiter;		/* vcd_task.c; NULL until needed */
	pthread_mutex_t	 waiter_lock;		/* guards creating it */

	pthread_mutex_t	 pbm_lock;		/* guards the two below */
	struct vcd_moref pbm_profile_manager, pbm_placement_solver;	/* vcd_pbm.c */

	struct vcd_about about;
	struct vcd_moref root_folder, property_collector, view_manager,
			 session_manager, search_index, file_manager,
			 virtual_disk_manager, vstorage_manager;
};


/* vcd_task.c: stop the task waiter (before the session goes). */
void vcd_task_shutdown(struct vcd_session *s);


/* vcd_http.c: connections and one HTTP POST (with retries on transport
 * errors and HTTP 503). */
int vcd_http_init(struct vcd_session *s, struct vcd_err *err);
void vcd_http_cleanup(struct vcd_session *s);
/* A pooled connection, waiting for one until UNTIL (vcd_mono(); 0: for
 * pool_wait seconds) at most. */
struct vcd_conn *vcd_conn_get(struct vcd_session *s, double until,
    struct vcd_err *err);
/* A connection outside the pool (the task waiter's own); vcd_conn_free(). */
struct vcd_conn *vcd_conn_new(struct vcd_session *s, struct vcd_err *err);
void vcd_conn_free(struct vcd_conn *c);
void vcd_conn_put(struct vcd_session *s, struct vcd_conn *c);
int vcd_http_post(struct vcd_session *s, struct vcd_conn *c, long *status,
    struct vcd_err *err);

/* vcd_ds.c: one streamed HTTP transfer sharing the session, to a datastore
 * file, or (DC NULL) to the URL PATH, labelled DS in errors. */
int vcd_http_transfer(struct vcd_session *s, const char *method, const char *dc,
    const char *ds, const char *path, const char *ctype, int64_t size,
    vcd_ds_data_fn fn, void *arg, int64_t *length, struct vcd_err *err);

/* vcd_soap.c: vcd_invoke() is declared in vcd_call.h. */
/* The same on a connection the caller holds (with the re-login), within
 * call_deadline seconds. */
int vcd_invoke_with(struct vcd_session *s, struct vcd_conn *c,
    const struct vim_method *method, const void *req, struct vim_arena *a,
    void **resp, struct vcd_err *err);
/* The same on connection C, without the re-login (used by it), until
 * c->deadline (0: call_deadline seconds from now). */
int vcd_invoke_conn(struct vcd_session *s, struct vcd_conn *c,
    const struct vim_method *method, const void *req, struct vim_arena *a,
    void **resp, struct vcd_err *err);
/*
 * A session that is not connected: calls go to POST (with ARG in
 * s->post_arg) instead of the network.  For unit tests; free with vcd_close.
 */
struct vcd_session *vcd_session_fake(vcd_post_fn post, void *arg);
/* Log in on connection C (used by vcd_login and the re-login). */
int vcd_login_conn(struct vcd_session *s, struct vcd_conn *c, struct vcd_err *err);

/* Count one call of M (TASK: its task) that took SECS; FAILED if it failed. */
void vcd_stat_record(struct vcd_session *s, const struct vim_method *m, bool task,
    double secs, bool failed);
/* Count one HTTP request other than SOAP (METHOD "GET", "PUT" or "HEAD";
 * NFC: to an NFC lease's URL, else to /folder) that took SECS. */
void vcd_stat_http(struct vcd_session *s, const char *method, bool nfc,
    double secs, bool failed);
/*
 * Ask the calling thread's abort check (vcd_abort_set) whether to stop
 * before WHAT (a method's or a task's name): -1 with ERR (VCD_E_ABORTED,
 * object WHAT) if it says stop, else 0.  WAITING: from a wait, where the
 * check runs at most once a second (0 in between).
 */
int vcd_abort_check(bool waiting, const char *what, struct vcd_err *err);


/* vcd_vm.c, for the VM operations in other files (vcd_snap.c): the
 * pre-check of vcdriver.h's VM operations (OP names the operation in its
 * error); a method on VM that returns a task, waited for (*RESULT: the
 * task's result MoRef, when not NULL). */
int vcd_vm_precheck(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, const char *op, struct vcd_err *err);
int vcd_vm_task(struct vcd_session *s, const struct vim_method *m, const void *req,
    const struct vcd_moref *vm, struct vcd_moref *result, struct vcd_err *err);


#endif
