/*
 * it_vcsim.c - vcdriver against vcsim, VMware's vCenter simulator, started by
 * tests/peers/vcsim.sh: RetrieveServiceContent over verified TLS, login,
 * clusters, an invalid login, TLS verification on by default, HTTP 503
 * retries, retries only where safe (a late CreateVM_Task is not sent twice,
 * a late read is), the call deadline, the pool wait, the answer size limit,
 * and a clean stop.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "tpeer.h"
#include "vcdriver/vcdriver.h"
#include "xmalloc.h"

static void
options(const struct tpeer *peers, struct vcd_options *o)
{
	tpeer_vcsim_options(peers, o);
	o->connect_timeout = 5;
	o->call_timeout = 30;
	o->api_retry_count = 2;
}

/* A session connected and logged in with O; the caller closes it. */
static struct vcd_session *
logged_in(const struct vcd_options *o)
{
	struct vcd_session *s = NULL;
	struct vcd_err err;

	assert_int_equal(vcd_connect(o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), 0);
	return s;
}

static int
setup(void **state)
{
	static const char *const specs[] = { "vcsim -username admin -password Secret!1",
	    "proxy", NULL };

	return tpeer_setup(state, specs);
}

static void
ctl(const struct tpeer *peers, const char *what)
{
	char url[512];

	snprintf(url, sizeof(url), "%s/%s", tpeer_get(peers, "VCSIM_CTL"), what);
	assert_int_equal(tpeer_http("POST", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), NULL), 200);
}

static void
test_service_content(void **state)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;
	const struct vcd_about *a;

	const struct tpeer *peers = *state;

	options(peers, &o);
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	a = vcd_about(s);
	assert_string_equal(a->api_type, "VirtualCenter");
	assert_true(strlen(a->instance_uuid) >= 32);
	assert_true(strlen(a->api_version) > 0);
	assert_int_equal(vcd_call_count(s), 1);
	assert_false(vcd_logged_in(s));
	vcd_close(s);
}

static void
test_login_and_clusters(void **state)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	size_t n = 0;

	const struct tpeer *peers = *state;

	options(peers, &o);
	s = logged_in(&o);
	assert_true(vcd_logged_in(s));
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(cl[0].name, "DC0_C0");
	assert_string_equal(cl[0].ref.type, "ClusterComputeResource");
	assert_true(strlen(cl[0].ref.value) > 0);
	assert_int_equal(cl[0].num_hosts, 3);
	/* view, properties, destroy: three calls whatever the inventory */
	assert_int_equal(vcd_call_count(s), 5);
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

static void
test_invalid_login(void **state)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;

	const struct tpeer *peers = *state;

	options(peers, &o);
	o.password = "wrong-password-xyz";
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), -1);
	assert_int_equal(err.code, VCD_E_FAULT);
	assert_string_equal(err.fault, "InvalidLogin");
	assert_non_null(strstr(err.object, "admin@"));
	assert_null(strstr(err.msg, "wrong-password-xyz"));
	assert_false(vcd_logged_in(s));
	vcd_close(s);
}

static void
test_tls_verified_by_default(void **state)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;

	const struct tpeer *peers = *state;

	options(peers, &o);
	o.ca_file = NULL;		/* the system store does not know vcsim */
	assert_int_equal(vcd_connect(&o, &s, &err), -1);
	assert_null(s);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_non_null(strstr(err.msg, "certificate"));
	/* insecure switches verification off */
	o.insecure = true;
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	vcd_close(s);
}

static void
test_http_503_retried(void **state)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;

	const struct tpeer *peers = *state;

	options(peers, &o);
	o.api_retry_count = 3;
	ctl(peers, "status?code=503&count=2");
	assert_int_equal(vcd_connect(&o, &s, &err), 0);	/* third try answers */
	vcd_close(s);
	s = NULL;
	o.api_retry_count = 1;
	ctl(peers, "status?code=503&count=2");
	assert_int_equal(vcd_connect(&o, &s, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_non_null(strstr(err.msg, "HTTP 503"));
	ctl(peers, "status?code=200");
}

static void
test_unreachable(void **state)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;

	const struct tpeer *peers = *state;

	options(peers, &o);
	o.port = 1;		/* nothing listens there */
	o.api_retry_count = 0;
	assert_int_equal(vcd_connect(&o, &s, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_non_null(strstr(err.object, ":1/sdk"));
}

static void
test_cluster_resources(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_resources r;
	struct vcd_err err;
	unsigned long before;
	size_t n = 0;

	options(peers, &o);
	s = logged_in(&o);
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(n, 1);
	before = vcd_call_count(s);
	assert_int_equal(vcd_cluster_resources(s, &cl[0].ref, NULL, &r, &err), 0);
	assert_int_equal(vcd_call_count(s) - before, 1);	/* one call */
	assert_string_equal(r.name, "DC0_C0");
	/* vcsim's hosts: 2 CPU threads and 4294430720 bytes each */
	assert_int_equal(r.hosts_total, 3);
	assert_int_equal(r.hosts_usable, 3);
	assert_int_equal(r.vcpus, 6);
	assert_int_equal(r.max_vcpus_per_host, 2);
	assert_int_equal(r.memory_mb, 3 * (4294430720LL / (1024 * 1024)));
	assert_int_equal(r.max_memory_mb_per_host, 4294430720LL / (1024 * 1024));
	assert_int_equal(r.datastores_usable, 1);
	assert_string_equal(r.largest_datastore, "LocalDS_0");
	assert_true(r.disk_total_bytes > 0 && r.disk_free_bytes > 0);
	assert_true(r.max_disk_free_bytes == r.disk_free_bytes);
	assert_true(strncmp(r.nodename, cl[0].ref.value, strlen(cl[0].ref.value)) == 0);
	assert_string_equal(r.nodename + strlen(cl[0].ref.value) + 1,
	    vcd_about(s)->instance_uuid);
	/* datastore_regex filters datastores out */
	assert_int_equal(vcd_cluster_resources(s, &cl[0].ref, "^Shared", &r, &err), 0);
	assert_int_equal(r.datastores_total, 1);
	assert_int_equal(r.datastores_usable, 0);
	assert_int_equal(r.disk_total_bytes, 0);
	/* as nova's re.match(): anchored at the start of the name only */
	assert_int_equal(vcd_cluster_resources(s, &cl[0].ref, "DS_0", &r, &err), 0);
	assert_int_equal(r.datastores_usable, 0);
	assert_int_equal(vcd_cluster_resources(s, &cl[0].ref, "Local", &r, &err), 0);
	assert_int_equal(r.datastores_usable, 1);
	assert_string_equal(r.largest_datastore, "LocalDS_0");
	assert_int_equal(r.datastores_regex_errors, 0);
	/* a match that hits PCRE2's match limit selects nothing, and says so */
	assert_int_equal(vcd_cluster_resources(s, &cl[0].ref,
	    "(.?)*(.?)*(.?)*(.?)*(.?)*(.?)*(.?)*(.?)*(.?)*LocalDS_0", &r, &err), 0);
	assert_int_equal(r.datastores_usable, 0);
	assert_int_equal(r.datastores_regex_errors, 1);
	assert_string_equal(r.regex_error, "datastore \"LocalDS_0\": match limit exceeded");
	/* a regex that does not compile */
	assert_int_equal(vcd_cluster_resources(s, &cl[0].ref, "(ds", &r, &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);
	assert_string_equal(err.msg, "invalid regular expression at offset 3: "
	    "missing closing parenthesis");
	/* a cluster that does not exist */
	struct vcd_moref bogus = { "ClusterComputeResource", "domain-c999999" };
	assert_int_equal(vcd_cluster_resources(s, &bogus, NULL, &r, &err), -1);
	assert_string_equal(err.fault, "ManagedObjectNotFound");
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

struct lister {
	struct vcd_session	*s;
	int			 ok;
};

static void *
lister_run(void *arg)
{
	struct lister *l = arg;
	struct vcd_cluster *cl;
	struct vcd_err err;
	size_t n;

	for (int i = 0; i < 5; i++) {
		if (vcd_clusters_list(l->s, &cl, &n, &err) < 0) {
			fprintf(stderr, "# %s: %s\n", err.fault, err.msg);
			continue;
		}
		l->ok += n == 1;
		vcd_clusters_free(cl, n);
	}
	return NULL;
}

static void
test_relogin_after_expiry(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	struct lister l[8];
	pthread_t th[8];
	size_t n;

	options(peers, &o);
	o.pool_size = 4;
	ctl(peers, "idle-timeout?d=1s");
	s = logged_in(&o);
	assert_int_equal(vcd_login_count(s), 1);

	/* idle past the timeout: the next call meets NotAuthenticated, logs
	 * in again and succeeds */
	sleep(3);
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	vcd_clusters_free(cl, n);
	assert_int_equal(vcd_login_count(s), 2);

	/* eight threads meet the expiry together: one re-login */
	sleep(3);
	for (int i = 0; i < 8; i++) {
		l[i].s = s;
		l[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, lister_run, &l[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(l[i].ok, 5);
	}
	assert_int_equal(vcd_login_count(s), 3);

	/* the keep-alive keeps an idle session from expiring */
	for (int i = 0; i < 10; i++) {
		usleep(400 * 1000);
		assert_int_equal(vcd_keepalive(s, 0, &err), 0);
	}
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	vcd_clusters_free(cl, n);
	assert_int_equal(vcd_login_count(s), 3);
	ctl(peers, "idle-timeout?d=0");
	vcd_close(s);
}

static void
test_through_proxy(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	char line[512];
	FILE *log;
	int connects = 0;
	size_t n;

	options(peers, &o);
	o.proxy = tpeer_get(peers, "PROXY_URL");
	s = logged_in(&o);
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	vcd_clusters_free(cl, n);
	vcd_close(s);
	/* the proxy saw the tunnel to vcsim (TLS still verified end to end) */
	log = fopen(tpeer_get(peers, "PROXY_LOG"), "r");
	if (log == NULL)
		fail_msg("%s: %s", tpeer_get(peers, "PROXY_LOG"), strerror(errno));
	while (fgets(line, sizeof(line), log) != NULL)
		if (strstr(line, "CONNECT") != NULL &&
		    strstr(line, tpeer_get(peers, "VCSIM_PORT")) != NULL)
			connects++;
	fclose(log);
	assert_true(connects >= 1);
	/* a proxy that is not there is a transport error naming vCenter */
	o.proxy = "http://127.0.0.1:1";
	o.api_retry_count = 0;
	assert_int_equal(vcd_connect(&o, &s, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
}

/* GET /ctl/calls?method=M: how many calls of M vcsim has seen */
static long
calls(const struct tpeer *peers, const char *method)
{
	struct buf b = BUF_INIT;
	char url[512];
	long n;

	snprintf(url, sizeof(url), "%s/calls?method=%s", tpeer_get(peers, "VCSIM_CTL"),
	    method);
	assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), &b), 200);
	n = strtol(buf_cstr(&b), NULL, 10);
	buf_free(&b);
	return n;
}

/* VMs named NAME in the inventory */
static int
vms_named(struct vcd_session *s, const char *name)
{
	struct vcd_vm_info *v = NULL;
	struct vcd_err err;
	size_t n = 0;
	int count = 0;

	assert_int_equal(vcd_vm_list(s, &v, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		count += strcmp(v[i].name, name) == 0;
	vcd_vm_list_free(v);
	return count;
}

/*
 * CreateVM_Task whose answer comes after the client gave up: it ran in
 * vCenter, so it is not sent again; the VM is found by its uuid instead.
 * Destroy_Task likewise: not sent again, and the error says it may have
 * run, naming the method and its object.
 */
static void
test_create_timeout_not_repeated(void **state)
{
	const struct tpeer *peers = *state;
	const char *uuid = "2b7d0c1e-6a3f-4e8b-9c2d-7f1e0a9b8c11";
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_placement pl;
	struct vcd_vm_spec vs;
	struct vcd_moref vm, found;
	struct vcd_err err;
	char object[300];
	long before;
	size_t n;

	options(peers, &o);
	o.call_timeout = 2;
	o.api_retry_count = 3;
	s = logged_in(&o);
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(vcd_cluster_placement(s, &cl[0].ref, &pl, &err), 0);
	vs = tpeer_vm_spec("it-retry-create", uuid, pl.folder, pl.pool);
	before = calls(peers, "CreateVM_Task");
	ctl(peers, "delay?method=CreateVM_Task&delay=5s&count=1");
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	assert_int_equal(calls(peers, "CreateVM_Task"), before + 1);
	/* one VM, the one returned */
	assert_int_equal(vcd_vm_find(s, uuid, &found, &err), 0);
	assert_string_equal(found.value, vm.value);
	assert_int_equal(vms_named(s, "it-retry-create"), 1);

	before = calls(peers, "Destroy_Task");
	ctl(peers, "delay?method=Destroy_Task&delay=5s&count=1");
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_string_equal(err.fault, "OutcomeUnknown");
	assert_non_null(strstr(err.msg, "Destroy_Task"));
	assert_non_null(strstr(err.msg, "may have run"));
	snprintf(object, sizeof(object), "VirtualMachine:%s", vm.value);
	assert_string_equal(err.object, object);
	assert_int_equal(calls(peers, "Destroy_Task"), before + 1);
	/* it ran: the VM is gone */
	assert_int_equal(vcd_vm_find(s, uuid, &found, &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);
	assert_int_equal(vms_named(s, "it-retry-create"), 0);
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

/*
 * An error from before the request was sent (here the TLS handshake of
 * the fresh connection a CreateVM_Task gets with reuse_window < 0) is retried even for a
 * method that must not run twice; within api_retry_count.
 */
static void
test_presend_retried(void **state)
{
	const struct tpeer *peers = *state;
	const char *uuid = "2b7d0c1e-6a3f-4e8b-9c2d-7f1e0a9b8c12";
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_placement pl;
	struct vcd_vm_spec vs;
	struct vcd_moref vm;
	struct vcd_err err;
	long before;
	size_t n;

	options(peers, &o);
	o.api_retry_count = 2;
	o.reuse_window = -1;	/* each CreateVM_Task on a fresh connection */
	s = logged_in(&o);
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(vcd_cluster_placement(s, &cl[0].ref, &pl, &err), 0);
	vs = tpeer_vm_spec("it-retry-presend", uuid, pl.folder, pl.pool);
	before = calls(peers, "CreateVM_Task");
	ctl(peers, "tls-fail?count=2");
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);	/* third try */
	assert_int_equal(calls(peers, "CreateVM_Task"), before + 1);
	assert_int_equal(vms_named(s, "it-retry-presend"), 1);
	/* more failures than retries: an error, not OutcomeUnknown (it did
	 * not run), and nothing reached vCenter */
	vcd_close(s);
	s = NULL;
	o.api_retry_count = 1;
	s = logged_in(&o);
	ctl(peers, "tls-fail?count=2");
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_string_equal(err.fault, "");
	assert_non_null(strstr(err.msg, "Destroy_Task"));
	assert_int_equal(vms_named(s, "it-retry-presend"), 1);
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), 0);
	assert_int_equal(vms_named(s, "it-retry-presend"), 0);
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

/* the power state of the VM named NAME */
static void
power_state_of(struct vcd_session *s, const char *name, char *out, size_t len)
{
	struct vcd_vm_info *v = NULL;
	struct vcd_err err;
	size_t n = 0;

	out[0] = '\0';
	assert_int_equal(vcd_vm_list(s, &v, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			snprintf(out, len, "%s", v[i].power_state);
	vcd_vm_list_free(v);
}

/*
 * A call that must not run twice reuses a connection that answered within
 * reuse_window (no TLS handshake), and gets a fresh one otherwise.  When
 * the reused connection closes unanswered after the call ran (the
 * launcher's /ctl/drop), libcurl would send it again on a new connection:
 * it is not sent again, and the call fails with OutcomeUnknown (a
 * CreateVM_Task then finds its VM by uuid, as after a lost answer).
 */
static void
test_reused_conn_not_resent(void **state)
{
	const struct tpeer *peers = *state;
	const char *uuid = "2b7d0c1e-6a3f-4e8b-9c2d-7f1e0a9b8c13";
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_placement pl;
	struct vcd_vm_spec vs;
	struct vcd_moref vm, vm2, found;
	struct vcd_err err;
	char power[16], object[300];
	long before, tls, own;
	size_t n;

	options(peers, &o);
	o.reuse_window = 30;	/* a slow machine is not a stale connection */
	s = logged_in(&o);
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(vcd_cluster_placement(s, &cl[0].ref, &pl, &err), 0);
	vs = tpeer_vm_spec("it-reuse", uuid, pl.folder, pl.pool);
	/* the first: the task waiter's own connection is made */
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), 0);

	/* reused: only calls()'s own handshakes are counted */
	tls = calls(peers, "TLS");
	own = calls(peers, "TLS") - tls;
	tls = calls(peers, "TLS");
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	assert_int_equal(calls(peers, "TLS"), tls + own);

	/* dropped after it ran: sent once, and the VM found by its uuid */
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), 0);
	before = calls(peers, "CreateVM_Task");
	(void)vms_named(s, "it-reuse");	/* an answer just now */
	ctl(peers, "drop?method=CreateVM_Task");
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	assert_int_equal(calls(peers, "CreateVM_Task"), before + 1);
	assert_int_equal(vms_named(s, "it-reuse"), 1);
	assert_int_equal(vcd_vm_find(s, uuid, &found, &err), 0);
	assert_string_equal(found.value, vm.value);

	/* a power on likewise: once, and the error says it may have run */
	before = calls(peers, "PowerOnVM_Task");
	ctl(peers, "drop?method=PowerOnVM_Task");
	assert_int_equal(vcd_vm_power_on_created(s, &vm, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_string_equal(err.fault, "OutcomeUnknown");
	assert_non_null(strstr(err.msg, "PowerOnVM_Task"));
	assert_non_null(strstr(err.msg, "may have run"));
	snprintf(object, sizeof(object), "VirtualMachine:%s", vm.value);
	assert_string_equal(err.object, object);
	assert_int_equal(calls(peers, "PowerOnVM_Task"), before + 1);
	power_state_of(s, "it-reuse", power, sizeof(power));
	assert_string_equal(power, "poweredOn");	/* it had run */
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), 0);
	vcd_close(s);

	/* reuse_window < 0: a fresh connection for each such call */
	o.reuse_window = -1;
	s = logged_in(&o);
	assert_int_equal(vcd_vm_create(s, &vs, &vm2, &err), 0);
	tls = calls(peers, "TLS");
	assert_int_equal(vcd_vm_destroy(s, &vm2, &err), 0);
	assert_true(calls(peers, "TLS") > tls + own);
	assert_int_equal(vms_named(s, "it-reuse"), 0);
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

/* A read whose answer is late is asked again, and the retry answers. */
static void
test_read_timeout_retried(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	long before;
	size_t n;

	options(peers, &o);
	o.call_timeout = 3;
	o.api_retry_count = 3;
	s = logged_in(&o);
	before = calls(peers, "RetrievePropertiesEx");
	ctl(peers, "delay?method=RetrievePropertiesEx&delay=8s&count=1");
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(n, 1);
	/* the late one and at least one more (more only if the machine is
	 * so loaded that an undelayed answer takes 3 s) */
	assert_in_range(calls(peers, "RetrievePropertiesEx") - before, 2, 4);
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

/* However many retries are allowed, a call ends at its deadline. */
static void
test_deadline(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	long before;
	size_t n;

	options(peers, &o);
	o.call_timeout = 1;
	o.call_deadline = 3;
	o.api_retry_count = 20;
	s = logged_in(&o);
	before = calls(peers, "RetrievePropertiesEx");
	ctl(peers, "delay?method=RetrievePropertiesEx&delay=2s");
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), -1);
	ctl(peers, "delay?method=RetrievePropertiesEx&delay=0");
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_non_null(strstr(err.msg, "RetrievePropertiesEx"));
	assert_non_null(strstr(err.msg, "call deadline of 3 s"));
	/* 1 s attempts and pauses within 3 s: at most 3 of the 21 allowed */
	assert_in_range(calls(peers, "RetrievePropertiesEx") - before, 1, 3);
	vcd_close(s);
}

struct holder {
	struct vcd_session	*s;
	int			 ret;
};

static void *
holder_run(void *arg)
{
	struct holder *h = arg;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	size_t n;

	h->ret = vcd_clusters_list(h->s, &cl, &n, &err);
	if (h->ret == 0)
		vcd_clusters_free(cl, n);
	return NULL;
}

/* With every connection busy, a call waits pool_wait seconds, then fails. */
static void
test_pool_wait(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;
	struct holder h;
	pthread_t th;
	long before;

	options(peers, &o);
	o.pool_size = 1;
	o.pool_wait = 1;
	s = logged_in(&o);
	before = calls(peers, "RetrievePropertiesEx");
	/* long enough for the wait below to end first, whatever the load */
	ctl(peers, "delay?method=RetrievePropertiesEx&delay=8s&count=1");
	h.s = s;
	h.ret = -2;
	assert_int_equal(pthread_create(&th, NULL, holder_run, &h), 0);
	for (int i = 0; i < 200 && calls(peers, "RetrievePropertiesEx") == before; i++)
		usleep(50 * 1000);
	assert_int_equal(calls(peers, "RetrievePropertiesEx"), before + 1);
	/* the only connection is held by the slow call */
	assert_int_equal(vcd_keepalive(s, 0, &err), -1);
	assert_int_equal(err.code, VCD_E_TRANSPORT);
	assert_non_null(strstr(err.msg, "no free vCenter connection"));
	assert_string_equal(err.object, "CurrentTime");
	pthread_join(th, NULL);
	assert_int_equal(h.ret, 0);
	/* free again */
	assert_int_equal(vcd_keepalive(s, 0, &err), 0);
	vcd_close(s);
}

/* An answer larger than max_response is refused, not buffered, not retried. */
static void
test_oversized_answer(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_cluster *cl = NULL;
	struct vcd_err err;
	long before;
	size_t n;

	options(peers, &o);
	o.max_response = 1024 * 1024;
	s = logged_in(&o);
	before = calls(peers, "RetrievePropertiesEx");
	ctl(peers, "pad?method=RetrievePropertiesEx&bytes=3000000&count=1");
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), -1);
	assert_int_equal(err.code, VCD_E_PROTOCOL);
	assert_string_equal(err.object, "RetrievePropertiesEx");
	assert_non_null(strstr(err.msg, "larger than 1048576 bytes"));
	assert_int_equal(calls(peers, "RetrievePropertiesEx"), before + 1);
	/* the same answer under the limit is fine */
	ctl(peers, "pad?method=RetrievePropertiesEx&bytes=500000&count=1");
	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	vcd_clusters_free(cl, n);
	vcd_close(s);
}

static void
test_stop_clean(void **state)
{
	const struct tpeer *peers = *state;
	char *url = xasprintf("%s/healthz", tpeer_get(peers, "VCSIM_CTL"));

	assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), NULL), 200);
	assert_int_equal(tpeer_stop_state(state), 0);	/* process gone, state removed */
	assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL, NULL, NULL), -1);
	free(url);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_content),
		cmocka_unit_test(test_login_and_clusters),
		cmocka_unit_test(test_invalid_login),
		cmocka_unit_test(test_tls_verified_by_default),
		cmocka_unit_test(test_http_503_retried),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_cluster_resources),
		cmocka_unit_test(test_relogin_after_expiry),
		cmocka_unit_test(test_through_proxy),
		cmocka_unit_test(test_create_timeout_not_repeated),
		cmocka_unit_test(test_presend_retried),
		cmocka_unit_test(test_reused_conn_not_resent),
		cmocka_unit_test(test_read_timeout_retried),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_pool_wait),
		cmocka_unit_test(test_oversized_answer),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("vcsim", tests, setup, tpeer_teardown);
}
