/*
 * vcd_task.c - waiting for tasks.
 *
 * A waited task is first read once (RetrievePropertiesEx of its info and its
 * VM's runtime.question): a task that already finished costs that one call.
 * Otherwise a PropertyFilter on the task and its VM is created on the
 * session's private PropertyCollector, the state is read again (so a task
 * that finished while the filter was being created is not missed: a
 * collector that is already waiting does not report a new filter's initial
 * state everywhere), and the caller sleeps until the waiter thread - one per
 * session, on its own connection, in one WaitForUpdatesEx for all tasks -
 * reports a change.  If the server cannot do that (no CreatePropertyCollector
 * or WaitForUpdatesEx), tasks are polled every task_poll_interval instead.
 *
 * A question on the VM (runtime.question) is answered with its default
 * choice when auto_answer is on; otherwise it is the error, and the task is
 * cancelled if it can be.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vcd_int.h"
#include "vcd_pc.h"
#include "xmalloc.h"

#define VCD_WAIT_SECONDS	5	/* each WaitForUpdatesEx */

enum vcd_task_state { VT_RUNNING, VT_SUCCESS, VT_ERROR };

/* One waited task; fields below "state" are guarded by the waiter's lock. */
struct vcd_wait {
	struct vcd_moref	 task, vm, filter;
	bool			 has_vm, registered;
	enum vcd_task_state	 state;
	bool			 changed;
	struct vcd_err		 error;		/* VT_ERROR */
	struct vcd_moref	 result;
	bool			 has_result;
	bool			 has_question;
	char			 qid[128], qtext[400], qchoice[64];
	struct vcd_wait		*next;
};

struct vcd_waiter {
	struct vcd_session	*s;
	struct vcd_conn		*conn;		/* its own, outside the pool */
	struct vcd_moref	 pc;		/* its private PropertyCollector */
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* waits changed, or list grew */
	struct vcd_wait		*list;
	char			*version;
	bool			 stop, broken;
};

/* ---- reading task and question state ---- */

static bool
vcd_moref_eq(const struct vcd_moref *a, const struct vcd_moref *b)
{
	return strcmp(a->value, b->value) == 0 && strcmp(a->type, b->type) == 0;
}

/* Apply one property value (NULL: unset) of OBJ to W.  Caller holds the lock
 * (or owns W alone). */
static void
vcd_wait_apply(struct vcd_wait *w, const struct vcd_moref *obj, const char *name,
    const struct vim_any *val)
{
	if (vcd_moref_eq(obj, &w->task)) {
		if (strcmp(name, "info.state") == 0 && val != NULL && val->text != NULL) {
			if (strcmp(val->text, "success") == 0)
				w->state = VT_SUCCESS;
			else if (strcmp(val->text, "error") == 0)
				w->state = VT_ERROR;
			else
				w->state = VT_RUNNING;
		} else if (strcmp(name, "info.error") == 0 && val != NULL &&
		    val->kind == VA_OBJ) {
			const struct vim_LocalizedMethodFault *lf =
			    vim_cast(val->obj, &vim_type_LocalizedMethodFault);
			if (lf != NULL && lf->fault != NULL)
				vim_fault_to_err(&lf->fault->hdr, lf->localizedMessage,
				    &w->error);
		} else if (strcmp(name, "info.result") == 0 && val != NULL &&
		    val->kind == VA_MOREF) {
			w->result = *val->moref;
			w->has_result = true;
		}
	} else if (w->has_vm && vcd_moref_eq(obj, &w->vm) &&
	    strcmp(name, "runtime.question") == 0) {
		const struct vim_VirtualMachineQuestionInfo *q = NULL;

		if (val != NULL && val->kind == VA_OBJ)
			q = vim_cast(val->obj, &vim_type_VirtualMachineQuestionInfo);
		w->has_question = q != NULL && q->id != NULL;
		if (w->has_question) {
			const struct vim_ChoiceOption *c = q->choice;
			size_t d = c != NULL && c->defaultIndex.set ?
			    (size_t)c->defaultIndex.v : 0;

			snprintf(w->qid, sizeof(w->qid), "%s", q->id);
			snprintf(w->qtext, sizeof(w->qtext), "%s", q->text ? q->text : "");
			w->qchoice[0] = '\0';
			if (c != NULL && d < c->choiceInfo.len && c->choiceInfo.v[d]->key)
				snprintf(w->qchoice, sizeof(w->qchoice), "%s",
				    c->choiceInfo.v[d]->key);
		}
	}
	w->changed = true;
}

/* The filter spec for W: the task's info and the VM's question. */
struct vcd_wait_spec {
	struct vim_PropertyFilterSpec	 spec;
	struct vim_PropertySpec		 pt, pv, *ps[2];
	struct vim_ObjectSpec		 ot, ov, *os[2];
	char				*tpaths[3], *vpaths[1];
};

static void
vcd_wait_spec_init(struct vcd_wait_spec *sp, struct vcd_wait *w)
{
	sp->tpaths[0] = "info.state";
	sp->tpaths[1] = "info.error";
	sp->tpaths[2] = "info.result";
	sp->vpaths[0] = "runtime.question";
	vcd_pc_propspec(&sp->pt, "Task", sp->tpaths, 3);
	vcd_pc_propspec(&sp->pv, "VirtualMachine", sp->vpaths, 1);
	vim_init(&sp->ot, &vim_type_ObjectSpec);
	sp->ot.obj = &w->task;
	vim_init(&sp->ov, &vim_type_ObjectSpec);
	sp->ov.obj = &w->vm;
	sp->ps[0] = &sp->pt;
	sp->ps[1] = &sp->pv;
	sp->os[0] = &sp->ot;
	sp->os[1] = &sp->ov;
	vim_init(&sp->spec, &vim_type_PropertyFilterSpec);
	sp->spec.propSet.v = sp->ps;
	sp->spec.propSet.len = w->has_vm ? 2 : 1;
	sp->spec.objectSet.v = sp->os;
	sp->spec.objectSet.len = w->has_vm ? 2 : 1;
}

struct vcd_read_ctx {
	struct vcd_wait		*w;
	pthread_mutex_t		*lock;		/* NULL when W is not shared yet */
	bool			 seen_task;
};

static int
vcd_read_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_read_ctx *ctx = arg;
	bool question = false;

	if (ctx->lock != NULL)
		pthread_mutex_lock(ctx->lock);
	if (vcd_moref_eq(oc->obj, &ctx->w->task))
		ctx->seen_task = true;
	for (size_t i = 0; i < oc->propSet.len; i++) {
		vcd_wait_apply(ctx->w, oc->obj, oc->propSet.v[i]->name,
		    oc->propSet.v[i]->val);
		question |= strcmp(oc->propSet.v[i]->name, "runtime.question") == 0;
	}
	/* an unset property is simply absent: no question */
	if (!question && ctx->w->has_vm && vcd_moref_eq(oc->obj, &ctx->w->vm))
		vcd_wait_apply(ctx->w, oc->obj, "runtime.question", NULL);
	if (ctx->lock != NULL)
		pthread_mutex_unlock(ctx->lock);
	return 0;
}

/* Read the task's (and question's) current state into W: one call. */
static int
vcd_wait_read(struct vcd_session *s, struct vcd_wait *w, pthread_mutex_t *lock,
    struct vcd_err *err)
{
	struct vcd_wait_spec sp;
	struct vcd_read_ctx ctx = { w, lock, false };

	vcd_wait_spec_init(&sp, w);
	if (vcd_pc_retrieve(s, &sp.spec, 0, vcd_read_one, &ctx, err) < 0)
		return -1;
	if (!ctx.seen_task) {
		vcd_err_set(err, VCD_E_NOTFOUND, NULL, w->task.value,
		    "task %s was not found", w->task.value);
		return -1;
	}
	return 0;
}

/* ---- the waiter thread ---- */

static void
vcd_waiter_apply(struct vcd_waiter *wt, const struct vim_UpdateSet *set)
{
	for (size_t f = 0; f < set->filterSet.len; f++) {
		const struct vim_PropertyFilterUpdate *fu = set->filterSet.v[f];
		struct vcd_wait *w;

		for (w = wt->list; w != NULL; w = w->next)
			if (vcd_moref_eq(&w->filter, fu->filter))
				break;
		if (w == NULL)
			continue;	/* a filter already removed */
		for (size_t o = 0; o < fu->objectSet.len; o++) {
			const struct vim_ObjectUpdate *ou = fu->objectSet.v[o];
			for (size_t c = 0; c < ou->changeSet.len; c++) {
				const struct vim_PropertyChange *pc = ou->changeSet.v[c];
				vcd_wait_apply(w, ou->obj, pc->name,
				    strcmp(pc->op, "remove") == 0 ? NULL : pc->val);
			}
		}
	}
}

static void *
vcd_waiter_run(void *arg)
{
	struct vcd_waiter *wt = arg;
	struct vcd_session *s = wt->s;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_req_WaitForUpdatesEx req;
	struct vim_WaitOptions opts;
	struct vcd_err err;
	char msg[800];

	vim_init(&opts, &vim_type_WaitOptions);
	opts.maxWaitSeconds = VIM_INT(VCD_WAIT_SECONDS);
	pthread_mutex_lock(&wt->lock);
	while (!wt->stop) {
		struct vim_resp_WaitForUpdatesEx *resp;
		int rc;

		if (wt->list == NULL) {
			pthread_cond_wait(&wt->cond, &wt->lock);
			continue;
		}
		vim_init(&req, &vim_type_req_WaitForUpdatesEx);
		req._this = &wt->pc;
		req.version = wt->version;
		req.options = &opts;
		pthread_mutex_unlock(&wt->lock);
		rc = vcd_invoke_with(s, wt->conn, &vim_method_WaitForUpdatesEx, &req,
		    &a, (void **)&resp, &err);
		pthread_mutex_lock(&wt->lock);
		if (rc < 0) {
			if (wt->stop)
				break;
			/* Without updates, waiting callers poll instead. */
			log_warnx("vcdriver: waiting for task updates failed, polling "
			    "every %.2f s instead: %s", s->task_poll_interval,
			    vcd_strerror(&err, msg, sizeof(msg)));
			wt->broken = true;
			pthread_cond_broadcast(&wt->cond);
			break;
		}
		if (resp->returnval != NULL) {	/* NULL: maxWaitSeconds passed */
			free(wt->version);
			wt->version = xstrdup(resp->returnval->version);
			vcd_waiter_apply(wt, resp->returnval);
			pthread_cond_broadcast(&wt->cond);
		}
		vim_arena_reset(&a);
	}
	pthread_mutex_unlock(&wt->lock);
	vim_arena_free(&a);
	return NULL;
}

/* The session's waiter, started on first use; NULL if the server cannot. */
static struct vcd_waiter *
vcd_waiter_get(struct vcd_session *s)
{
	struct vcd_waiter *wt = NULL;
	struct vim_req_CreatePropertyCollector req;
	struct vim_resp_CreatePropertyCollector *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	char msg[800];

	pthread_mutex_lock(&s->waiter_lock);
	if (s->waiter != NULL) {
		wt = s->waiter->broken ? NULL : s->waiter;
		goto out;
	}
	wt = xcalloc(1, sizeof(*wt));
	wt->s = s;
	pthread_mutex_init(&wt->lock, NULL);
	pthread_cond_init(&wt->cond, NULL);
	s->waiter = wt;
	vim_init(&req, &vim_type_req_CreatePropertyCollector);
	req._this = &s->property_collector;
	if (vcd_invoke(s, &vim_method_CreatePropertyCollector, &req, &a,
	    (void **)&resp, &err) < 0 ||
	    (wt->conn = vcd_conn_new(s, &err)) == NULL) {
		log_warnx("vcdriver: no property collector for task updates, "
		    "polling tasks every %.2f s: %s", s->task_poll_interval,
		    vcd_strerror(&err, msg, sizeof(msg)));
		wt->broken = true;
		wt = NULL;
		goto out;
	}
	wt->pc = *resp->returnval;
	if (pthread_create(&wt->thread, NULL, vcd_waiter_run, wt) != 0) {
		log_warnx("vcdriver: cannot start the task waiter, polling tasks");
		wt->broken = true;
		wt->pc.value[0] = '\0';
		vcd_conn_free(wt->conn);
		wt->conn = NULL;
		wt = NULL;
	}
out:
	pthread_mutex_unlock(&s->waiter_lock);
	vim_arena_free(&a);
	return wt;
}

void
vcd_task_shutdown(struct vcd_session *s)
{
	struct vcd_waiter *wt = s->waiter;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	void *resp;

	if (wt == NULL)
		return;
	if (wt->conn != NULL) {
		struct vim_req_CancelWaitForUpdates creq;
		struct vim_req_DestroyPropertyCollector dreq;

		pthread_mutex_lock(&wt->lock);
		wt->stop = true;
		pthread_cond_broadcast(&wt->cond);
		pthread_mutex_unlock(&wt->lock);
		/* interrupt a WaitForUpdatesEx in progress */
		vim_init(&creq, &vim_type_req_CancelWaitForUpdates);
		creq._this = &wt->pc;
		(void)vcd_invoke(s, &vim_method_CancelWaitForUpdates, &creq, &a, &resp, &err);
		pthread_join(wt->thread, NULL);
		vim_init(&dreq, &vim_type_req_DestroyPropertyCollector);
		dreq._this = &wt->pc;
		(void)vcd_invoke(s, &vim_method_DestroyPropertyCollector, &dreq, &a,
		    &resp, &err);
		vcd_conn_free(wt->conn);
	}
	vim_arena_free(&a);
	free(wt->version);
	pthread_mutex_destroy(&wt->lock);
	pthread_cond_destroy(&wt->cond);
	free(wt);
	s->waiter = NULL;
}

/* ---- the caller's side ---- */

static int
vcd_wait_register(struct vcd_session *s, struct vcd_waiter *wt,
    struct vcd_wait *w, struct vcd_err *err)
{
	struct vim_req_CreateFilter req;
	struct vim_resp_CreateFilter *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_wait_spec sp;
	int ret = -1;

	vcd_wait_spec_init(&sp, w);
	vim_init(&req, &vim_type_req_CreateFilter);
	req._this = &wt->pc;
	req.spec = &sp.spec;
	req.partialUpdates = VIM_BOOL(false);
	if (vcd_invoke(s, &vim_method_CreateFilter, &req, &a, (void **)&resp, err) < 0)
		goto out;
	w->filter = *resp->returnval;
	pthread_mutex_lock(&wt->lock);
	w->next = wt->list;
	wt->list = w;
	w->registered = true;
	pthread_cond_broadcast(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}

static void
vcd_wait_unregister(struct vcd_session *s, struct vcd_waiter *wt, struct vcd_wait *w)
{
	struct vim_req_DestroyPropertyFilter req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_wait **pp;
	struct vcd_err err;
	void *resp;

	pthread_mutex_lock(&wt->lock);
	for (pp = &wt->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&wt->lock);
	vim_init(&req, &vim_type_req_DestroyPropertyFilter);
	req._this = &w->filter;
	if (vcd_invoke(s, &vim_method_DestroyPropertyFilter, &req, &a, &resp, &err) < 0)
		log_debug("vcdriver: DestroyPropertyFilter %s: %s", w->filter.value,
		    err.msg);
	vim_arena_free(&a);
}

static void
vcd_task_cancel(struct vcd_session *s, const struct vcd_moref *task)
{
	struct vim_req_CancelTask req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	void *resp;
	char msg[800];

	vim_init(&req, &vim_type_req_CancelTask);
	req._this = (struct vcd_moref *)task;
	if (vcd_invoke(s, &vim_method_CancelTask, &req, &a, &resp, &err) < 0)
		log_warnx("vcdriver: cannot cancel task %s: %s", task->value,
		    vcd_strerror(&err, msg, sizeof(msg)));
	vim_arena_free(&a);
}

static int
vcd_task_answer(struct vcd_session *s, const struct vcd_wait *w, const char *qid,
    const char *choice, struct vcd_err *err)
{
	struct vim_req_AnswerVM req;
	struct vim_arena a = VIM_ARENA_INIT;
	void *resp;
	int ret;

	vim_init(&req, &vim_type_req_AnswerVM);
	req._this = (struct vcd_moref *)&w->vm;
	req.questionId = (char *)qid;
	req.answerChoice = (char *)choice;
	ret = vcd_invoke(s, &vim_method_AnswerVM, &req, &a, &resp, err);
	vim_arena_free(&a);
	return ret;
}


int
vcd_task_wait(struct vcd_session *s, const struct vcd_moref *task,
    const struct vcd_moref *vm, double timeout, struct vcd_moref *result,
    struct vcd_err *err)
{
	struct vcd_wait w;
	struct vcd_waiter *wt = NULL;
	pthread_mutex_t *lock = NULL;
	double deadline = vcd_mono() + timeout;
	char answered[128] = "";
	int ret = -1;

	memset(&w, 0, sizeof(w));
	w.task = *task;
	if (vm != NULL) {
		w.vm = *vm;
		w.has_vm = true;
	}
	vcd_err_clear(&w.error);
	if (vcd_wait_read(s, &w, NULL, err) < 0)
		goto out;
	for (;;) {
		char qid[128], qtext[400], qchoice[64];
		bool question;

		if (lock != NULL)
			pthread_mutex_lock(lock);
		question = w.has_question && strcmp(w.qid, answered) != 0;
		memcpy(qid, w.qid, sizeof(qid));
		memcpy(qtext, w.qtext, sizeof(qtext));
		memcpy(qchoice, w.qchoice, sizeof(qchoice));
		if (w.state == VT_SUCCESS) {
			if (result != NULL && w.has_result)
				*result = w.result;
			ret = 0;
		} else if (w.state == VT_ERROR) {
			*err = w.error;
			if (err->code == VCD_OK)
				vcd_err_set(err, VCD_E_FAULT, "SystemError", NULL,
				    "the task failed without a reason");
		}
		if (lock != NULL)
			pthread_mutex_unlock(lock);
		if (w.state != VT_RUNNING)
			goto done;

		if (question && s->auto_answer && qchoice[0] != '\0') {
			log_info("vcdriver: answering question %s on %s (\"%s\") with "
			    "its default choice %s", qid, w.vm.value, qtext, qchoice);
			if (vcd_task_answer(s, &w, qid, qchoice, err) < 0)
				goto done;
			snprintf(answered, sizeof(answered), "%s", qid);
			continue;
		}
		if (question) {
			vcd_err_set(err, VCD_E_QUESTION, "VmQuestion", NULL,
			    "%s asks \"%s\" (question %s) and auto_answer is off",
			    w.vm.value, qtext, qid);
			snprintf(err->object, sizeof(err->object), "%s:%s",
			    w.vm.type, w.vm.value);
			vcd_task_cancel(s, task);
			goto done;
		}
		if (vcd_abort_check(true, task->value, err) < 0) {
			/* its work must stop: the task is not left running */
			log_warnx("vcdriver: cancelling task %s: %s", task->value,
			    err->msg);
			snprintf(err->object, sizeof(err->object), "%s:%s",
			    task->type, task->value);
			vcd_task_cancel(s, task);
			goto done;
		}
		if (vcd_mono() >= deadline) {
			vcd_err_set(err, VCD_E_TIMEOUT, NULL, NULL, "task %s did not "
			    "finish within %.0f s", task->value, timeout);
			snprintf(err->object, sizeof(err->object), "%s:%s",
			    task->type, task->value);
			goto done;
		}

		if (!w.registered && wt == NULL && (wt = vcd_waiter_get(s)) != NULL) {
			if (vcd_wait_register(s, wt, &w, err) < 0)
				goto done;
			lock = &wt->lock;
			/* what finished before the filter existed */
			if (vcd_wait_read(s, &w, lock, err) < 0)
				goto done;
			continue;
		}
		if (w.registered && !wt->broken) {
			struct timespec until;
			double t = deadline - vcd_mono();

			/* wake at least every second; the deadline is checked above */
			if (t > 1.0)
				t = 1.0;
			if (t < 0)
				t = 0;
			/* pthread_cond_timedwait wants CLOCK_REALTIME */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += (time_t)t;
			until.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(lock);
			while (!w.changed && !wt->broken &&
			    pthread_cond_timedwait(&wt->cond, lock, &until) != ETIMEDOUT)
				;
			w.changed = false;
			pthread_mutex_unlock(lock);
			continue;
		}
		/* the fallback: poll */
		{
			struct timespec ts;
			double p = s->task_poll_interval;

			ts.tv_sec = (time_t)p;
			ts.tv_nsec = (long)((p - (double)ts.tv_sec) * 1e9);
			nanosleep(&ts, NULL);
			if (vcd_wait_read(s, &w, lock, err) < 0)
				goto done;
		}
	}
done:
	if (w.registered)
		vcd_wait_unregister(s, wt, &w);
out:
	return ret;
}

int
vcd_invoke_task(struct vcd_session *s, const struct vim_method *method,
    const void *req, const struct vcd_moref *vm, const char *object,
    double timeout, struct vcd_moref *result, struct vcd_err *err)
{
	struct vim_arena a = VIM_ARENA_INIT;
	struct { struct vim_obj hdr; struct vcd_moref *returnval; } *resp;
	struct vcd_moref task;
	double t0 = vcd_mono();
	int ret = -1;

	if (vcd_invoke(s, method, req, &a, (void **)&resp, err) < 0)
		goto out;
	task = *resp->returnval;
	ret = vcd_task_wait(s, &task, vm, timeout, result, err);
	if (ret < 0 && err->code == VCD_E_TIMEOUT)
		vcd_task_cancel(s, &task);	/* past its bound: not left running */
	vcd_stat_record(s, method, true, vcd_mono() - t0, ret < 0);
out:
	if (ret < 0 && err->object[0] == '\0' && object != NULL)
		snprintf(err->object, sizeof(err->object), "%s", object);
	vim_arena_free(&a);
	return ret;
}
