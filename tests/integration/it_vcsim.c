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

#include <cmocka.h>

#include "tpeer.h"
#include "vcdriver/vcdriver.h"
#include "xmalloc.h"

static void
options(const struct tpeer *peers, struct vcd_options *o)
{
	memset(o, 0, sizeof(*o));
	o->host = tpeer_get(peers, "VCSIM_HOST");
	o->port = atoi(tpeer_get(peers, "VCSIM_PORT"));
	o->username = tpeer_get(peers, "VCSIM_USER");
	o->password = tpeer_get(peers, "VCSIM_PASSWORD");
	o->ca_file = tpeer_get(peers, "VCSIM_CA_FILE");
	o->connect_timeout = 5;
	o->call_timeout = 30;
	o->api_retry_count = 2;
}

static int
setup(void **state)
{
	static const char *const specs[] = { "vcsim -username admin -password Secret!1", NULL };

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
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("vcsim", tests, setup, tpeer_teardown);
}
