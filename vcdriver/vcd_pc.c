/*
 * vcd_pc.c - the PropertyCollector: RetrievePropertiesEx with paging, and
 * container views.
 *
 * Each page is decoded into its own arena and handed to the caller's
 * callback, then freed, so memory stays bounded by one page whatever the
 * inventory's size.  A callback that stops early makes us send
 * CancelRetrievePropertiesEx so the server can drop the rest.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vcd_int.h"
#include "vcd_pc.h"
#include "xmalloc.h"

static void
vcd_pc_cancel(struct vcd_session *s, const char *token)
{
	struct vim_req_CancelRetrievePropertiesEx req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	void *resp;

	vim_init(&req, &vim_type_req_CancelRetrievePropertiesEx);
	req._this = &s->property_collector;
	req.token = (char *)token;
	if (vcd_invoke(s, &vim_method_CancelRetrievePropertiesEx, &req, &a,
	    &resp, &err) < 0)
		log_debug("vcdriver: CancelRetrievePropertiesEx: %s", err.msg);
	vim_arena_free(&a);
}

int
vcd_pc_retrieve(struct vcd_session *s, struct vim_PropertyFilterSpec *spec,
    int max_objects, vcd_pc_fn fn, void *arg, struct vcd_err *err)
{
	struct vim_req_RetrievePropertiesEx req;
	struct vim_req_ContinueRetrievePropertiesEx creq;
	struct vim_RetrieveOptions opts;
	struct vim_PropertyFilterSpec *specs[1] = { spec };
	struct vim_arena a = VIM_ARENA_INIT;
	const struct vim_RetrieveResult *rr;
	char *token = NULL;
	int ret = -1, stop = 0;

	vcd_err_clear(err);
	vim_init(&opts, &vim_type_RetrieveOptions);
	if (max_objects <= 0)
		max_objects = s->max_objects;	/* vmware.maximum_objects */
	if (max_objects > 0)
		opts.maxObjects = VIM_INT(max_objects);
	vim_init(&req, &vim_type_req_RetrievePropertiesEx);
	req._this = &s->property_collector;
	req.specSet.v = specs;
	req.specSet.len = 1;
	req.options = &opts;
	{
		struct vim_resp_RetrievePropertiesEx *resp;
		if (vcd_invoke(s, &vim_method_RetrievePropertiesEx, &req, &a,
		    (void **)&resp, err) < 0)
			goto out;
		rr = resp->returnval;	/* NULL: nothing matched */
	}
	for (;;) {
		if (rr != NULL)
			for (size_t i = 0; i < rr->objects.len && !stop; i++)
				if ((stop = fn(arg, rr->objects.v[i])) < 0)
					goto out;
		free(token);
		token = rr != NULL && rr->token != NULL ? xstrdup(rr->token) : NULL;
		vim_arena_reset(&a);	/* the next page reuses the memory */
		if (token == NULL)
			break;
		if (stop) {
			vcd_pc_cancel(s, token);
			break;
		}
		struct vim_resp_ContinueRetrievePropertiesEx *cresp;
		vim_init(&creq, &vim_type_req_ContinueRetrievePropertiesEx);
		creq._this = &s->property_collector;
		creq.token = token;
		if (vcd_invoke(s, &vim_method_ContinueRetrievePropertiesEx, &creq,
		    &a, (void **)&cresp, err) < 0)
			goto out;
		rr = cresp->returnval;
	}
	ret = 0;
out:
	free(token);
	vim_arena_free(&a);
	return ret;
}

int
vcd_view_create(struct vcd_session *s, const char *type, struct vcd_moref *view,
    struct vcd_err *err)
{
	struct vim_req_CreateContainerView req;
	struct vim_resp_CreateContainerView *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	char *types[1] = { (char *)type };
	int ret = -1;

	vim_init(&req, &vim_type_req_CreateContainerView);
	req._this = &s->view_manager;
	req.container = &s->root_folder;
	req.type.v = types;
	req.type.len = 1;
	req.recursive = VIM_BOOL(true);
	if (vcd_invoke(s, &vim_method_CreateContainerView, &req, &a,
	    (void **)&resp, err) < 0)
		goto out;
	*view = *resp->returnval;
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}

void
vcd_view_destroy(struct vcd_session *s, struct vcd_moref *view)
{
	struct vim_req_DestroyView req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	void *resp;

	vim_init(&req, &vim_type_req_DestroyView);
	req._this = view;
	if (vcd_invoke(s, &vim_method_DestroyView, &req, &a, &resp, &err) < 0)
		log_debug("vcdriver: DestroyView %s: %s", view->value, err.msg);
	vim_arena_free(&a);
}

int
vcd_pc_retrieve_from(struct vcd_session *s, const struct vcd_moref *obj,
    struct vim_PropertySpec **props, size_t nprops, struct vim_SelectionSpec **sel,
    size_t nsel, vcd_pc_fn fn, void *arg, struct vcd_err *err)
{
	struct vim_PropertyFilterSpec spec;
	struct vim_ObjectSpec os, *osv[1] = { &os };
	struct vcd_moref o = *obj;

	vim_init(&os, &vim_type_ObjectSpec);
	os.obj = &o;
	os.skip = VIM_BOOL(false);
	os.selectSet.v = sel;
	os.selectSet.len = nsel;
	vim_init(&spec, &vim_type_PropertyFilterSpec);
	spec.propSet.v = props;
	spec.propSet.len = nprops;
	spec.objectSet.v = osv;
	spec.objectSet.len = 1;
	return vcd_pc_retrieve(s, &spec, 0, fn, arg, err);
}

void
vcd_pc_propspec(struct vim_PropertySpec *ps, const char *type, char **paths,
    size_t npaths)
{
	vim_init(ps, &vim_type_PropertySpec);
	ps->type = (char *)type;
	ps->pathSet.v = paths;
	ps->pathSet.len = npaths;
}

void
vcd_pc_traversal(struct vim_TraversalSpec *t, const char *name, const char *type,
    const char *path)
{
	vim_init(t, &vim_type_TraversalSpec);
	t->base.name = (char *)name;
	t->type = (char *)type;
	t->path = (char *)path;
	t->skip = VIM_BOOL(false);
}

/* A filter for PATHS of TYPE from OBJ, optionally through SEL. */
struct vcd_pc_one {
	struct vim_PropertyFilterSpec	 spec;
	struct vim_PropertySpec		 ps, *psv[1];
	struct vim_ObjectSpec		 os, *osv[1];
};

static void
vcd_pc_one_init(struct vcd_pc_one *f, struct vcd_moref *obj, const char *type,
    char **paths, size_t npaths)
{
	vcd_pc_propspec(&f->ps, type, paths, npaths);
	vim_init(&f->os, &vim_type_ObjectSpec);
	f->os.obj = obj;
	f->psv[0] = &f->ps;
	f->osv[0] = &f->os;
	vim_init(&f->spec, &vim_type_PropertyFilterSpec);
	f->spec.propSet.v = f->psv;
	f->spec.propSet.len = 1;
	f->spec.objectSet.v = f->osv;
	f->spec.objectSet.len = 1;
}

int
vcd_pc_retrieve_all(struct vcd_session *s, const char *type, char **paths,
    size_t npaths, int max_objects, vcd_pc_fn fn, void *arg, struct vcd_err *err)
{
	struct vcd_pc_one f;
	struct vim_TraversalSpec tv;
	struct vim_SelectionSpec *sel[1] = { &tv.base };
	struct vcd_moref view;
	int ret;

	if (vcd_view_create(s, type, &view, err) < 0)
		return -1;
	vcd_pc_one_init(&f, &view, type, paths, npaths);
	vcd_pc_traversal(&tv, "traverseView", "ContainerView", "view");
	f.os.skip = VIM_BOOL(true);
	f.os.selectSet.v = sel;
	f.os.selectSet.len = 1;
	ret = vcd_pc_retrieve(s, &f.spec, max_objects, fn, arg, err);
	vcd_view_destroy(s, &view);
	return ret;
}

int
vcd_pc_retrieve_one(struct vcd_session *s, const struct vcd_moref *obj,
    const char *type, char **paths, size_t npaths, vcd_pc_fn fn, void *arg,
    struct vcd_err *err)
{
	struct vim_PropertySpec ps, *psv[1] = { &ps };

	vcd_pc_propspec(&ps, type, paths, npaths);
	return vcd_pc_retrieve_from(s, obj, psv, 1, NULL, 0, fn, arg, err);
}

/* ---- reading property values ---- */

const struct vim_any *
vcd_pc_prop(const struct vim_ObjectContent *oc, const char *name)
{
	for (size_t i = 0; i < oc->propSet.len; i++)
		if (strcmp(oc->propSet.v[i]->name, name) == 0)
			return oc->propSet.v[i]->val;
	return NULL;
}

const char *
vcd_pc_str(const struct vim_ObjectContent *oc, const char *name)
{
	const struct vim_any *v = vcd_pc_prop(oc, name);

	return v != NULL && v->kind == VA_SCALAR ? v->text : NULL;
}

int64_t
vcd_pc_int(const struct vim_ObjectContent *oc, const char *name, int64_t def)
{
	const char *t = vcd_pc_str(oc, name);
	char *end;
	long long v;

	if (t == NULL)
		return def;
	v = strtoll(t, &end, 10);
	return *end == '\0' && end != t ? v : def;
}

int
vcd_pc_bool(const struct vim_ObjectContent *oc, const char *name, int def)
{
	const char *t = vcd_pc_str(oc, name);

	if (t == NULL)
		return def;
	return strcmp(t, "true") == 0 || strcmp(t, "1") == 0;
}
