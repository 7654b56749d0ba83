/*
 * it_vcsim.c - vcdriver against vcsim, VMware's vCenter simulator, started by
 * tests/peers/vcsim.sh: RetrieveServiceContent over verified TLS, login,
 * clusters, an invalid login, TLS verification on by default, HTTP 503
 * retries, and a clean stop.
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
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), 0);
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
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), 0);
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
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), 0);
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
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), 0);
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
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("vcsim", tests, setup, tpeer_teardown);
}
