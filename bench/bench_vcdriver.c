/*
 * bench_vcdriver.c - vcdriver's speed against vcsim, started by our own peer
 * script on loopback.  Prints figures; asserts nothing (tests do that).
 *
 *   1. small calls (CurrentTime) per second on one keep-alive connection;
 *   2. CPU time to decode a RetrievePropertiesEx answer of 1,500 VMs x 6
 *      properties (captured once from vcsim, decoded repeatedly);
 *   3. a cluster resource refresh on 1 cluster, 8 hosts, 1,000 VMs: SOAP
 *      calls and wall time (median of 50).
 *
 * Usage: bench_vcdriver        (run by "make bench", which prints the command)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tpeer.h"
#include "vcdriver/vcd_int.h"
#include "vcdriver/vcd_pc.h"

static struct buf captured = BUF_INIT;

static double
now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
capture_post(struct vcd_session *s, struct vcd_conn *c, long *status,
    struct vcd_err *err)
{
	int rc = vcd_http_post(s, c, status, err);

	/* keep the properties' answer, not the view's creation or removal */
	if (rc == 0 && strstr(buf_cstr(&c->req), "<RetrievePropertiesEx ") != NULL) {
		buf_reset(&captured);
		buf_append(&captured, c->resp.data, c->resp.len);
	}
	return rc;
}

static struct vcd_session *
open_session(const struct tpeer *t)
{
	struct vcd_options o = { 0 };
	struct vcd_session *s;
	struct vcd_err err;

	tpeer_vcsim_options(t, &o);
	o.pool_size = 1;
	if (vcd_connect(&o, &s, &err) < 0 || vcd_login(s, &err) < 0) {
		fprintf(stderr, "bench: %s %s\n", err.fault, err.msg);
		exit(1);
	}
	return s;
}

static int
count_vms(void *arg, const struct vim_ObjectContent *oc)
{
	(void)oc;
	(*(int *)arg)++;
	return 0;
}

static void
bench_calls(struct vcd_session *s)
{
	struct vim_req_CurrentTime req;
	struct vcd_moref si = { "ServiceInstance", "ServiceInstance" };
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	double t0, t1, c0, c1;
	void *resp;
	int n = 0;

	vim_init(&req, &vim_type_req_CurrentTime);
	req._this = &si;
	t0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	while ((t1 = now(CLOCK_MONOTONIC)) - t0 < 3.0) {
		if (vcd_invoke(s, &vim_method_CurrentTime, &req, &a, &resp, &err) < 0) {
			fprintf(stderr, "bench: CurrentTime: %s\n", err.msg);
			exit(1);
		}
		vim_arena_free(&a);
		n++;
	}
	c1 = now(CLOCK_PROCESS_CPUTIME_ID);
	printf("1. small calls (CurrentTime) on one keep-alive TLS connection: "
	    "%d calls in %.2f s = %.0f calls/s (client CPU %.1f us/call)\n",
	    n, t1 - t0, n / (t1 - t0), (c1 - c0) / n * 1e6);
}

/* The least CPU time of ROUNDS decodes of BODY, reusing one arena as the
 * agent reuses a page's arena. */
static double
decode_best(const char *body, size_t len, int rounds)
{
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	double best = 1e9;

	for (int i = 0; i < rounds; i++) {
		void *resp;
		double c0 = now(CLOCK_PROCESS_CPUTIME_ID), d;

		if (vim_decode_response(body, len, &vim_method_RetrievePropertiesEx,
		    &a, &resp, NULL, &err) < 0) {
			fprintf(stderr, "bench: decode: %s\n", err.msg);
			exit(1);
		}
		d = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
		vim_arena_reset(&a);
		if (d < best)
			best = d;
	}
	vim_arena_free(&a);
	return best;
}

static void
bench_decode(struct vcd_session *s)
{
	char *paths[] = { "name", "runtime.powerState", "config.uuid",
	    "config.instanceUuid", "summary.config.numCpu",
	    "summary.config.memorySizeMB" };
	struct vcd_err err;
	double best;
	int nvm = 0, rounds = 20;

	s->post = capture_post;
	if (vcd_pc_retrieve_all(s, "VirtualMachine", paths, 6, 0, count_vms, &nvm,
	    &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		exit(1);
	}
	s->post = vcd_http_post;
	if (getenv("VCAGENT_BENCH_SAVE") != NULL) {	/* for profiling */
		FILE *f = fopen(getenv("VCAGENT_BENCH_SAVE"), "w");
		if (f != NULL) {
			fwrite(captured.data, 1, captured.len, f);
			fclose(f);
		}
	}

	best = decode_best(captured.data, captured.len, rounds);
	printf("2. decode RetrievePropertiesEx: %d VMs x 6 properties, %.2f MB: "
	    "%.2f ms CPU (best of %d)\n", nvm, captured.len / 1e6, best * 1e3, rounds);

	/* vcsim declares the XSI namespace again on every value; vCenter
	 * declares it once on the envelope.  The same answer in that shape: */
	{
		const char *decl = " xmlns:XMLSchema-instance=\"http://www.w3.org/2001/XMLSchema-instance\"";
		struct buf v = BUF_INIT;
		const char *p = captured.data, *q;

		while ((q = strstr(p, decl)) != NULL) {
			buf_append(&v, p, (size_t)(q - p));
			p = q + strlen(decl);
		}
		buf_puts(&v, p);
		/* same length: "XMLSchema-instance:type" -> "xsi:type" */
		for (char *r = v.data; (r = strstr(r, "XMLSchema-instance:type")) != NULL; )
			memcpy(r, "               xsi:type", 23), r += 23;
		best = decode_best(v.data, v.len, rounds);
		printf("   the same answer shaped as vCenter writes it (%.2f MB): "
		    "%.2f ms CPU (best of %d)\n", v.len / 1e6, best * 1e3, rounds);
		buf_free(&v);
	}
}

static void
bench_refresh(struct vcd_session *s)
{
	struct vcd_cluster *cl;
	struct vcd_resources r;
	struct vcd_err err;
	double t[50];
	unsigned long calls0, calls;
	size_t n;

	if (vcd_clusters_list(s, &cl, &n, &err) < 0 || n < 1)
		exit(1);
	calls0 = vcd_call_count(s);
	for (int i = 0; i < 50; i++) {
		double t0 = now(CLOCK_MONOTONIC);
		if (vcd_cluster_resources(s, &cl[0].ref, NULL, &r, &err) < 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			exit(1);
		}
		t[i] = now(CLOCK_MONOTONIC) - t0;
	}
	calls = (vcd_call_count(s) - calls0) / 50;
	qsort(t, 50, sizeof(t[0]), cmp_double);
	printf("3. cluster resource refresh (%s: %d hosts, %lld vCPUs, %d "
	    "datastores): %lu SOAP call(s), median %.2f ms, p90 %.2f ms wall\n",
	    r.name, r.hosts_total, (long long)r.vcpus, r.datastores_total, calls,
	    t[25] * 1e3, t[45] * 1e3);
	vcd_clusters_free(cl, n);
}

int
main(void)
{
	/* 1,500 VMs: 750 in the cluster's pool and 750 on the standalone host */
	const char *decode_model[] = { "vcsim -cluster 1 -host 8 -vm 750", NULL };
	const char *refresh_model[] = { "vcsim -cluster 1 -host 8 -standalone 0 -vm 1000", NULL };
	struct vcd_session *s;
	struct tpeer *t;

	printf("peer: vcsim (govmomi %s simulator) on 127.0.0.1, datastore on tmpfs\n",
	    "0.24.2");
	if ((t = tpeer_start(decode_model)) == NULL)
		return 1;
	printf("model: %s\n", decode_model[0]);
	s = open_session(t);
	bench_calls(s);
	bench_decode(s);
	vcd_close(s);
	tpeer_stop(t);

	if ((t = tpeer_start(refresh_model)) == NULL)
		return 1;
	printf("model: %s\n", refresh_model[0]);
	s = open_session(t);
	bench_refresh(s);
	vcd_close(s);
	tpeer_stop(t);
	buf_free(&captured);
	return 0;
}
