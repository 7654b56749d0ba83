/*
 * it_vm.c - tasks and virtual machine operations against vcsim: power,
 * suspend, reset, shutdown, reconfigure, relocate, create, find, destroy;
 * tasks that finish asynchronously (waited on through PropertyCollector
 * updates, and by polling when the collector is disabled), a task that
 * fails, a timeout, a question answered and a question refused, and many
 * tasks waited on at once; the thread's abort check (a waited task
 * cancelled, a change not sent); extraConfig at creation, and a delete that
 * unregisters the VM and removes its folder.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "tpeer.h"
#include "vcdriver/vcd_int.h"
#include "vcdriver/vcd_pc.h"
#include "xmalloc.h"

static int
setup(void **state)
{
	static const char *const specs[] = { "vcsim -cluster 1 -host 3 -vm 4", NULL };

	return tpeer_setup(state, specs);
}

static void
ctl(const struct tpeer *peers, const char *what)
{
	char *url = xasprintf("%s/%s", tpeer_get(peers, "VCSIM_CTL"), what);

	assert_int_equal(tpeer_http("POST", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), NULL), 200);
	free(url);
}

static struct vcd_session *
session(const struct tpeer *peers, bool auto_answer)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;

	tpeer_vcsim_options(peers, &o);
	o.pool_size = 4;
	o.task_poll_interval = 0.1;
	o.auto_answer = auto_answer;
	assert_int_equal(vcd_connect(&o, &s, &err), 0);
	assert_int_equal(vcd_login(s, &err), 0);
	return s;
}

/* The VM called NAME; asserts it exists. */
static struct vcd_vm_info
vm_named(struct vcd_session *s, const char *name)
{
	struct vcd_vm_info *v, found;
	struct vcd_err err;
	size_t n, i;

	assert_int_equal(vcd_vm_list(s, &v, &n, &err), 0);
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			break;
	if (i == n)
		fail_msg("no VM %s", name);
	found = v[i];
	vcd_vm_list_free(v);
	return found;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_power_suspend_reset(void **state)
{
	struct vcd_session *s = session(*state, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM0");
	struct vcd_err err;
	unsigned long calls;

	assert_string_equal(vi.power_state, "poweredOn");
	assert_true(vi.instance_uuid[0] != '\0');
	/* another instance's uuid expected: refused in the pre-check, which
	 * names the MoRef and both uuids; the VM is left on */
	calls = vcd_call_count(s);
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, "6f1c9a7e-0d2b-4c55-9e1a-00000000beef",
	    &err), -1);
	assert_int_equal(vcd_call_count(s) - calls, 1);
	assert_string_equal(err.fault, "InstanceUuidMismatch");
	assert_true(vcd_err_gone(&err));
	assert_non_null(strstr(err.object, vi.ref.value));
	assert_non_null(strstr(err.msg, vi.instance_uuid));
	assert_non_null(strstr(err.msg, "6f1c9a7e-0d2b-4c55-9e1a-00000000beef"));
	assert_string_equal(vm_named(s, "DC0_H0_VM0").power_state, "poweredOn");
	calls = vcd_call_count(s);
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, vi.instance_uuid, &err), 0);
	/* pre-check (with the uuid), PowerOffVM_Task, one read of the finished task */
	assert_int_equal(vcd_call_count(s) - calls, 3);
	assert_string_equal(vm_named(s, "DC0_H0_VM0").power_state, "poweredOff");
	/* a task that fails: InvalidPowerState, with the VM named */
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_FAULT);
	assert_string_equal(err.fault, "InvalidPowerState");
	assert_non_null(strstr(err.object, vi.ref.value));
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	assert_int_equal(vcd_vm_suspend(s, &vi.ref, NULL, &err), 0);
	assert_string_equal(vm_named(s, "DC0_H0_VM0").power_state, "suspended");
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);	/* resume */
	assert_int_equal(vcd_vm_reboot(s, &vi.ref, NULL, true, 5, &err), 0);
	assert_string_equal(vm_named(s, "DC0_H0_VM0").power_state, "poweredOn");
	assert_int_equal(vcd_vm_reboot(s, &vi.ref, NULL, false, 5, &err), 0);	/* soft */
	assert_string_equal(vm_named(s, "DC0_H0_VM0").power_state, "poweredOn");
	assert_int_equal(vcd_vm_shutdown(s, &vi.ref, NULL, 10, false, &err), 0);
	assert_string_equal(vm_named(s, "DC0_H0_VM0").power_state, "poweredOff");
	/* a soft reboot of a VM that is off */
	assert_int_equal(vcd_vm_reboot(s, &vi.ref, NULL, false, 5, &err), -1);
	assert_string_equal(err.fault, "InvalidPowerState");
	assert_non_null(strstr(err.object, vi.ref.value));
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

static void
test_async_task(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM1");
	struct vcd_err err;
	double t0;

	ctl(peers, "async?method=PowerOffVM_Task&delay=1s&count=1");
	t0 = now();
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), 0);
	assert_true(now() - t0 >= 0.9);		/* it really waited */
	/* an asynchronous task that fails */
	ctl(peers, "async?method=PowerOffVM_Task&delay=500ms&count=1");
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), -1);
	assert_string_equal(err.fault, "InvalidPowerState");
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

static void
test_timeout(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM1");
	struct vim_req_PowerOffVM_Task req;
	struct vim_resp_PowerOffVM_Task *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_moref task;
	struct vcd_err err;

	ctl(peers, "async?method=PowerOffVM_Task&delay=3s&count=1");
	vim_init(&req, &vim_type_req_PowerOffVM_Task);
	req._this = &vi.ref;
	assert_int_equal(vcd_invoke(s, &vim_method_PowerOffVM_Task, &req, &a,
	    (void **)&resp, &err), 0);
	task = *resp->returnval;
	assert_int_equal(vcd_task_wait(s, &task, &vi.ref, 1.0, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_TIMEOUT);
	assert_non_null(strstr(err.msg, "did not finish within 1 s"));
	/* the same task, waited on long enough */
	assert_int_equal(vcd_task_wait(s, &task, &vi.ref, 10.0, NULL, &err), 0);
	vim_arena_free(&a);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

/* A VM task past its bound (vmware.task_timeout) is cancelled, not left
 * running in vCenter; a plain wait that times out leaves it (above). */
static void
test_task_past_bound_cancelled(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM1");
	struct vim_req_PowerOffVM_Task req;
	struct vcd_err err;
	struct buf tasks = BUF_INIT;
	char *url = xasprintf("%s/tasks", tpeer_get(peers, "VCSIM_CTL"));

	ctl(peers, "async?method=PowerOffVM_Task&delay=1h&count=1");
	vim_init(&req, &vim_type_req_PowerOffVM_Task);
	req._this = &vi.ref;
	assert_int_equal(vcd_invoke_task(s, &vim_method_PowerOffVM_Task, &req, &vi.ref,
	    "it", 1.0, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_TIMEOUT);
	/* the launcher no longer holds it: CancelTask ended it */
	assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), &tasks), 200);
	if (strstr(buf_cstr(&tasks), "held ") != NULL)
		fail_msg("the task is still running:\n%s", buf_cstr(&tasks));
	buf_free(&tasks);
	free(url);
	ctl(peers, "reset");
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

/* The thread's abort check: a task waited on is cancelled when it says stop,
 * a change (a `once` method) is not sent, reads go on. */
struct abort_ctx {
	int	stop;
	int	asked;
};

static int
abort_check(void *arg, char *why, size_t len)
{
	struct abort_ctx *ac = arg;

	ac->asked++;
	if (ac->stop)
		snprintf(why, len, "it: told to stop");
	return ac->stop;
}

static long
calls_of(const struct tpeer *peers, const char *method)
{
	char *url = xasprintf("%s/calls?method=%s", tpeer_get(peers, "VCSIM_CTL"), method);
	struct buf b = BUF_INIT;
	long n;

	assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), &b), 200);
	n = strtol(buf_cstr(&b), NULL, 10);
	buf_free(&b);
	free(url);
	return n;
}

static void
test_abort_check(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM3");
	struct vim_req_PowerOffVM_Task req;
	struct vim_resp_PowerOffVM_Task *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	struct abort_ctx ac = { 0, 0 };
	struct vcd_moref task;
	struct vcd_err err;
	struct buf tasks = BUF_INIT;
	char *url = xasprintf("%s/tasks", tpeer_get(peers, "VCSIM_CTL"));
	long cancels = calls_of(peers, "CancelTask"), powerons;

	ctl(peers, "async?method=PowerOffVM_Task&delay=1h&count=1");
	vcd_abort_set(abort_check, &ac);
	vim_init(&req, &vim_type_req_PowerOffVM_Task);
	req._this = &vi.ref;
	assert_int_equal(vcd_invoke(s, &vim_method_PowerOffVM_Task, &req, &a,
	    (void **)&resp, &err), 0);
	assert_int_equal(ac.asked, 1);		/* asked before the change */
	task = *resp->returnval;
	ac.stop = 1;
	assert_int_equal(vcd_task_wait(s, &task, &vi.ref, 60.0, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_ABORTED);
	assert_non_null(strstr(err.msg, "it: told to stop"));
	assert_non_null(strstr(err.object, task.value));
	/* cancelled: the launcher no longer holds it */
	assert_true(calls_of(peers, "CancelTask") > cancels);
	assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL,
	    tpeer_get(peers, "VCSIM_CA_FILE"), &tasks), 200);
	if (strstr(buf_cstr(&tasks), "held ") != NULL)
		fail_msg("the task is still running:\n%s", buf_cstr(&tasks));
	/* a change is not sent */
	powerons = calls_of(peers, "PowerOnVM_Task");
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_ABORTED);
	assert_non_null(strstr(err.msg, "PowerOnVM_Task"));
	assert_int_equal(calls_of(peers, "PowerOnVM_Task"), powerons);
	/* reads go on */
	(void)vm_named(s, "DC0_H0_VM3");
	vcd_abort_set(NULL, NULL);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	assert_int_equal(calls_of(peers, "PowerOnVM_Task"), powerons + 1);
	buf_free(&tasks);
	free(url);
	vim_arena_free(&a);
	ctl(peers, "reset");
	vcd_close(s);
}

static void
test_question_answered(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, true);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM2");
	struct vcd_err err;
	char *q;

	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), 0);
	q = xasprintf("question?vm=%s&text=moved+or+copied%%3F&choices=Cancel,"
	    "I+moved+it,I+copied+it&default=2", vi.ref.value);
	ctl(peers, q);
	free(q);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	assert_string_equal(vm_named(s, "DC0_H0_VM2").power_state, "poweredOn");
	vcd_close(s);
}

static void
test_question_refused(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM3");
	struct vcd_err err;
	char *q;

	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), 0);
	q = xasprintf("question?vm=%s&text=The+disk+is+locked&choices=Retry,Cancel",
	    vi.ref.value);
	ctl(peers, q);
	free(q);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_QUESTION);
	assert_non_null(strstr(err.msg, "The disk is locked"));
	assert_non_null(strstr(err.object, vi.ref.value));
	/* the task was cancelled and the question withdrawn: the VM is free */
	vi = vm_named(s, "DC0_H0_VM3");
	assert_string_equal(vi.power_state, "poweredOff");
	assert_false(vi.has_question);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

static void
test_question_pending_refused_first(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM3");
	struct vcd_err err;
	char *q;

	/* a question already pending: the pre-check refuses the operation */
	q = xasprintf("question?vm=%s&now=1&text=Pending", vi.ref.value);
	ctl(peers, q);
	free(q);
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_QUESTION);
	assert_non_null(strstr(err.msg, "a question is pending"));
	ctl(peers, "reset");
	vcd_close(s);
}

struct cycler {
	struct vcd_session	*s;
	struct vcd_moref	 vm;
	int			 ok;
};

static void *
cycle(void *arg)
{
	struct cycler *c = arg;
	struct vcd_err err;

	c->ok = vcd_vm_power_off(c->s, &c->vm, NULL, &err) == 0 &&
	    vcd_vm_power_on(c->s, &c->vm, NULL, &err) == 0;
	if (!c->ok)
		fprintf(stderr, "# %s: %s %s\n", c->vm.value, err.fault, err.msg);
	return NULL;
}

static void
test_many_tasks_at_once(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	const char *names[] = { "DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "DC0_C0_RP0_VM2",
	    "DC0_C0_RP0_VM3" };
	struct cycler c[4];
	pthread_t th[4];
	double t0;

	ctl(peers, "async?method=PowerOffVM_Task&delay=1s");
	ctl(peers, "async?method=PowerOnVM_Task&delay=1s");
	t0 = now();
	for (int i = 0; i < 4; i++) {
		c[i].s = s;
		c[i].vm = vm_named(s, names[i]).ref;
		assert_int_equal(pthread_create(&th[i], NULL, cycle, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_true(c[i].ok);
	}
	/* 8 one-second tasks, waited on together: well under 8 s */
	assert_true(now() - t0 < 5.0);
	ctl(peers, "reset");
	vcd_close(s);
}

static void
test_polling_fallback(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s;
	struct vcd_vm_info vi;
	struct vcd_err err;

	/* no private collector: tasks are polled instead */
	ctl(peers, "fault?method=CreatePropertyCollector&fault=NotSupported&count=1");
	s = session(peers, false);
	vi = vm_named(s, "DC0_H0_VM1");
	ctl(peers, "async?method=PowerOffVM_Task&delay=700ms&count=1");
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), 0);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

/* The first object of TYPE's property PATH, as a MoRef. */
struct first_ref {
	const char		*path;
	struct vcd_moref	 ref;
	struct vcd_moref	 second;
	int			 n;
};

static int
first_ref_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct first_ref *f = arg;
	const struct vim_any *v = vcd_pc_prop(oc, f->path);

	if (v != NULL && v->kind == VA_MOREF && f->n == 0)
		f->ref = *v->moref, f->n = 1;
	if (v != NULL && v->kind == VA_ARRAY && v->nitems >= 2 && f->n == 0) {
		f->ref = *v->items[0]->moref;
		f->second = *v->items[1]->moref;
		f->n = 2;
	}
	return 0;
}

static struct first_ref
lookup(struct vcd_session *s, const char *type, const char *path)
{
	char *paths[1] = { (char *)path };
	struct first_ref f = { path, { "", "" }, { "", "" }, 0 };
	struct vcd_err err;

	assert_int_equal(vcd_pc_retrieve_all(s, type, paths, 1, 0, first_ref_one,
	    &f, &err), 0);
	assert_true(f.n > 0);
	return f;
}

static void
test_create_reconfigure_relocate_destroy(void **state)
{
	struct vcd_session *s = session(*state, false);
	const char *uuid = "6f1c9a7e-0d2b-4c55-9e1a-1b2c3d4e5f60";
	struct vcd_vm_spec vs;
	struct vim_VirtualMachineConfigSpec cs;
	struct vcd_relocate to;
	struct vcd_moref vm, found;
	struct vcd_vm_info vi;
	struct first_ref hosts;
	struct vcd_err err;

	vs = tpeer_vm_spec("it-vm-1", uuid, lookup(s, "Datacenter", "vmFolder").ref,
	    lookup(s, "ClusterComputeResource", "resourcePool").ref);
	hosts = lookup(s, "ClusterComputeResource", "host");
	assert_int_equal(hosts.n, 2);
	vs.host = hosts.ref;
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	assert_string_equal(vm.type, "VirtualMachine");
	assert_int_equal(vcd_vm_find(s, uuid, &found, &err), 0);
	assert_string_equal(found.value, vm.value);

	/* reconfigure: 2 vCPUs */
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	cs.numCPUs = VIM_INT(2);
	assert_int_equal(vcd_vm_reconfigure(s, &vm, NULL, &cs, &err), 0);

	/* cold migration to the cluster's second host */
	memset(&to, 0, sizeof(to));
	to.host = hosts.second;
	assert_int_equal(vcd_vm_relocate(s, &vm, NULL, &to, &err), 0);
	vi = vm_named(s, "it-vm-1");
	assert_string_equal(vi.host.value, hosts.second.value);
	/* live: powered on, back to the first host */
	assert_int_equal(vcd_vm_power_on(s, &vm, NULL, &err), 0);
	to.host = hosts.ref;
	assert_int_equal(vcd_vm_relocate(s, &vm, NULL, &to, &err), 0);
	assert_string_equal(vm_named(s, "it-vm-1").host.value, hosts.ref.value);
	/* nothing to migrate to */
	memset(&to, 0, sizeof(to));
	assert_int_equal(vcd_vm_relocate(s, &vm, NULL, &to, &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);

	/* its folder on the datastore (vcsim keeps datastores in directories) */
	char *pattern = xasprintf("%s/vcsim/tmp/*/it-vm-1", tpeer_dir(*state));
	glob_t g;
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	globfree(&g);

	/* destroy powers off first; the VM and its folder are gone afterwards */
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), 0);
	assert_int_equal(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
	free(pattern);
	assert_int_equal(vcd_vm_find(s, uuid, &found, &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);
	assert_int_equal(vcd_vm_power_on(s, &vm, NULL, &err), -1);
	assert_string_equal(err.fault, "ManagedObjectNotFound");
	/* an invalid spec is refused before anything is sent */
	vs.vcpus = 0;
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);
	vcd_close(s);
}

/* the value of extraConfig KEY on a VM (from one retrieve) */
struct extra_ctx {
	const char	*key;
	char		 value[128];
	int		 found;
};

static int
extra_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct extra_ctx *x = arg;
	const struct vim_any *l = vcd_pc_prop(oc, "config.extraConfig");

	for (size_t i = 0; l != NULL && l->kind == VA_ARRAY && i < l->nitems; i++) {
		const struct vim_OptionValue *ov = l->items[i]->kind == VA_OBJ ?
		    vim_cast(l->items[i]->obj, &vim_type_OptionValue) : NULL;

		if (ov != NULL && ov->key != NULL && strcmp(ov->key, x->key) == 0 &&
		    ov->value != NULL && ov->value->kind == VA_SCALAR) {
			snprintf(x->value, sizeof(x->value), "%s", ov->value->text);
			x->found = 1;
		}
	}
	return 0;
}

static const char *
extra_of(struct vcd_session *s, const struct vcd_moref *vm, struct extra_ctx *x)
{
	char *paths[] = { "config.extraConfig" };
	struct vcd_err err;

	x->found = 0;
	assert_int_equal(vcd_pc_retrieve_one(s, vm, "VirtualMachine", paths, 1,
	    extra_one, x, &err), 0);
	return x->found ? x->value : NULL;
}

static int
obj_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_moref *r = arg;

	if (r->value[0] == '\0')
		*r = *oc->obj;
	return 0;
}

/* extraConfig from the caller reaches CreateVM; vcd_vm_delete() powers off,
 * unregisters and removes the VM's folder, and leaves other files alone */
static void
test_create_extra_delete(void **state)
{
	struct vcd_session *s = session(*state, false);
	const char *uuid = "6f1c9a7e-0d2b-4c55-9e1a-1b2c3d4e5f61";
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_OptionValue *ov = vim_new(&ar, &vim_type_OptionValue);
	struct vim_any *val = vim_alloc(&ar, sizeof(*val));
	struct vim_OptionValue *ovv[1] = { ov };
	struct vim_list_OptionValue extra = { ovv, 1 };
	struct vcd_vm_spec vs;
	struct vcd_placement pl;
	struct vcd_moref vm, cluster;
	struct extra_ctx x = { NULL, "", 0 };
	unsigned long calls;
	char folder[600], *pattern;
	glob_t g;
	struct vcd_err err;

	*val = (struct vim_any){ VA_SCALAR, "xsd:string", "port-4711", NULL, NULL, NULL, 0 };
	ov->key = "nvp.iface-id.0";
	ov->value = val;
	char *name[] = { "name" };

	memset(&cluster, 0, sizeof(cluster));
	assert_int_equal(vcd_pc_retrieve_all(s, "ClusterComputeResource", name, 1, 0,
	    obj_one, &cluster, &err), 0);
	assert_int_equal(vcd_cluster_placement(s, &cluster, &pl, &err), 0);
	vs = tpeer_vm_spec("it-vm-2", uuid, pl.folder, pl.pool);
	vs.extra = &extra;
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	x.key = "nvp.iface-id.0";
	assert_non_null(extra_of(s, &vm, &x));
	assert_string_equal(x.value, "port-4711");
	x.key = "nvp.vm-uuid";
	assert_non_null(extra_of(s, &vm, &x));
	assert_string_equal(x.value, uuid);

	assert_int_equal(vcd_vm_power_on(s, &vm, NULL, &err), 0);
	pattern = xasprintf("%s/vcsim/tmp/*/it-vm-2", tpeer_dir(*state));
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	globfree(&g);
	/* the MoRef of another instance's VM: nothing is done */
	calls = vcd_call_count(s);
	assert_int_equal(vcd_vm_delete(s, &vm, "6f1c9a7e-0d2b-4c55-9e1a-00000000beef",
	    &pl.datacenter, folder, sizeof(folder), &err), -1);
	assert_int_equal(vcd_call_count(s) - calls, 1);
	assert_string_equal(err.fault, "InstanceUuidMismatch");
	assert_true(vcd_err_gone(&err));
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	globfree(&g);
	/* its own uuid: 1 read, 2 for the power off, 1 unregister, 2 for the folder */
	calls = vcd_call_count(s);
	assert_int_equal(vcd_vm_delete(s, &vm, uuid, &pl.datacenter, folder, sizeof(folder),
	    &err), 0);
	assert_int_equal(vcd_call_count(s) - calls, 6);
	assert_string_equal(folder, "[LocalDS_0] it-vm-2");
	assert_int_equal(glob(pattern, 0, NULL, &g), GLOB_NOMATCH);
	assert_int_equal(vcd_vm_find(s, uuid, &vm, &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);
	/* deleting it again says the VM is gone, in either of vCenter's ways */
	assert_int_equal(vcd_vm_delete(s, &vm, NULL, &pl.datacenter, folder, sizeof(folder),
	    &err), -1);
	assert_true(vcd_err_gone(&err));
	free(pattern);
	vim_arena_free(&ar);
	vcd_close(s);
}

static void
test_disabled_method(void **state)
{
	const struct tpeer *peers = *state;
	struct vcd_session *s = session(peers, false);
	struct vcd_vm_info vi = vm_named(s, "DC0_H0_VM0");
	struct vcd_err err;
	char *q = xasprintf("disable?moid=%s&method=PowerOffVM_Task", vi.ref.value);

	ctl(peers, q);
	free(q);
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), -1);
	assert_int_equal(err.code, VCD_E_FAULT);
	assert_string_equal(err.fault, "MethodDisabled");
	assert_non_null(strstr(err.object, vi.ref.value));
	q = xasprintf("enable?moid=%s&method=PowerOffVM_Task", vi.ref.value);
	ctl(peers, q);
	free(q);
	assert_int_equal(vcd_vm_power_off(s, &vi.ref, NULL, &err), 0);
	assert_int_equal(vcd_vm_power_on(s, &vi.ref, NULL, &err), 0);
	vcd_close(s);
}

/* A 3 MiB pattern, streamed in odd-sized pieces. */
#define DSFILE_SIZE	(3 * 1024 * 1024 + 7)

struct stream {
	size_t	pos;
	size_t	fail_at;	/* 0: never */
	int	mismatch;
};

static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 11);
}

static ssize_t
produce(char *buf, size_t len, void *arg)
{
	struct stream *st = arg;
	size_t n = 0;

	if (st->fail_at != 0 && st->pos >= st->fail_at)
		return -1;
	while (n < len && n < 1000 && st->pos < DSFILE_SIZE)
		buf[n++] = (char)pattern(st->pos++);
	return (ssize_t)n;
}

static ssize_t
consume(char *buf, size_t len, void *arg)
{
	struct stream *st = arg;

	for (size_t i = 0; i < len; i++)
		st->mismatch |= (unsigned char)buf[i] != pattern(st->pos++);
	return (ssize_t)len;
}

static void
test_datastore_files(void **state)
{
	struct vcd_session *s = session(*state, false);
	struct vcd_placement pl;
	struct stream st;
	struct vcd_err err;
	int64_t size;
	const char *dc;

	{
		struct vcd_cluster *c;
		size_t n;
		assert_int_equal(vcd_clusters_list(s, &c, &n, &err), 0);
		assert_int_equal(vcd_cluster_placement(s, &c[0].ref, &pl, &err), 0);
		vcd_clusters_free(c, n);
	}
	dc = pl.datacenter_name;
	memset(&st, 0, sizeof(st));
	assert_int_equal(vcd_ds_put(s, dc, "LocalDS_0", "vcagent test/d1/file.bin",
	    DSFILE_SIZE, produce, &st, &err), 0);
	assert_int_equal(vcd_ds_stat(s, dc, "LocalDS_0", "vcagent test/d1/file.bin",
	    &size, &err), 0);
	assert_int_equal(size, DSFILE_SIZE);
	memset(&st, 0, sizeof(st));
	assert_int_equal(vcd_ds_get(s, dc, "LocalDS_0", "vcagent test/d1/file.bin",
	    consume, &st, &err), 0);
	assert_int_equal(st.pos, DSFILE_SIZE);
	assert_false(st.mismatch);

	assert_int_equal(vcd_ds_mkdir(s, &pl.datacenter, "[LocalDS_0] vcagent test/d2", &err), 0);
	assert_int_equal(vcd_ds_mkdir(s, &pl.datacenter, "[LocalDS_0] vcagent test/d2", &err), 0);
	assert_int_equal(vcd_ds_move(s, &pl.datacenter, "[LocalDS_0] vcagent test/d1/file.bin",
	    "[LocalDS_0] vcagent test/d2/moved.bin", false, &err), 0);
	assert_int_equal(vcd_ds_stat(s, dc, "LocalDS_0", "vcagent test/d1/file.bin",
	    &size, &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);
	assert_string_equal(err.object, "[LocalDS_0] vcagent test/d1/file.bin");
	assert_int_equal(vcd_ds_stat(s, dc, "LocalDS_0", "vcagent test/d2/moved.bin",
	    &size, &err), 0);
	assert_int_equal(size, DSFILE_SIZE);
	assert_int_equal(vcd_ds_delete(s, &pl.datacenter, "[LocalDS_0] vcagent test", &err), 0);
	assert_int_equal(vcd_ds_stat(s, dc, "LocalDS_0", "vcagent test/d2/moved.bin",
	    &size, &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);

	/* an unknown datastore, a source that fails, a path that climbs */
	memset(&st, 0, sizeof(st));
	assert_int_equal(vcd_ds_put(s, dc, "NoSuchDS", "x.bin", DSFILE_SIZE, produce,
	    &st, &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);
	assert_string_equal(err.object, "[NoSuchDS] x.bin");
	memset(&st, 0, sizeof(st));
	st.fail_at = 100000;
	assert_int_equal(vcd_ds_put(s, dc, "LocalDS_0", "x.bin", DSFILE_SIZE, produce,
	    &st, &err), -1);
	assert_non_null(strstr(err.msg, "stopped by the caller"));
	assert_int_equal(vcd_ds_put(s, dc, "LocalDS_0", "../x.bin", 1, produce, &st,
	    &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);
	vcd_close(s);
}

static void
test_stop_clean(void **state)
{
	assert_int_equal(tpeer_stop_state(state), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_suspend_reset),
		cmocka_unit_test(test_async_task),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_task_past_bound_cancelled),
		cmocka_unit_test(test_abort_check),
		cmocka_unit_test(test_question_answered),
		cmocka_unit_test(test_question_refused),
		cmocka_unit_test(test_question_pending_refused_first),
		cmocka_unit_test(test_many_tasks_at_once),
		cmocka_unit_test(test_polling_fallback),
		cmocka_unit_test(test_create_reconfigure_relocate_destroy),
		cmocka_unit_test(test_create_extra_delete),
		cmocka_unit_test(test_disabled_method),
		cmocka_unit_test(test_datastore_files),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("vm", tests, setup, tpeer_teardown);
}
