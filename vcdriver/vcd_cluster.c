/*
 * vcd_cluster.c - finding the clusters in the inventory.
 *
 * One ContainerView over the root folder, one RetrievePropertiesEx for the
 * properties wanted (continued with ContinueRetrievePropertiesEx while the
 * server hands back a token), then DestroyView: a handful of calls whatever
 * the inventory's size.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "vcd_int.h"
#include "xmalloc.h"

#define VCD_CLUSTER_PAGE	100

static int
vcd_view_create(struct vcd_session *s, const char *type, struct vcd_moref *view,
    struct vcd_err *err)
{
	struct vcd_req req = { BUF_INIT, false };
	xmlDoc *doc = NULL;
	xmlNode *resp;
	int ret = -1;

	vcd_req_begin(&req, "CreateContainerView", &s->view_manager);
	vcd_xml_moref(&req, "container", &s->root_folder);
	vcd_xml_elem(&req, "type", type);
	vcd_xml_elem(&req, "recursive", "true");
	vcd_req_end(&req, "CreateContainerView");
	if (vcd_soap_call(s, "CreateContainerView", &req, &doc, &resp, err) < 0)
		goto out;
	vcd_xml_moref_read(vcd_xml_child(resp, "returnval"), view);
	if (view->value[0] == '\0') {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, "ViewManager",
		    "CreateContainerView returned no view");
		goto out;
	}
	ret = 0;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	vcd_req_free(&req);
	return ret;
}

static void
vcd_view_destroy(struct vcd_session *s, const struct vcd_moref *view)
{
	struct vcd_req req = { BUF_INIT, false };
	struct vcd_err err;
	xmlDoc *doc = NULL;
	xmlNode *resp;

	vcd_req_begin(&req, "DestroyView", view);
	vcd_req_end(&req, "DestroyView");
	(void)vcd_soap_call(s, "DestroyView", &req, &doc, &resp, &err);
	if (doc != NULL)
		xmlFreeDoc(doc);
	vcd_req_free(&req);
}

/* Append the clusters of one RetrieveResult; return its token (or NULL). */
static char *
vcd_clusters_page(xmlNode *result, struct vcd_cluster **v, size_t *n)
{
	xmlNode *obj, *ps;

	for (obj = vcd_xml_child(result, "objects"); obj != NULL;
	    obj = vcd_xml_next(obj, "objects")) {
		struct vcd_cluster *c;

		*v = xrealloc(*v, (*n + 1) * sizeof(**v));
		c = &(*v)[(*n)++];
		memset(c, 0, sizeof(*c));
		vcd_xml_moref_read(vcd_xml_child(obj, "obj"), &c->ref);
		for (ps = vcd_xml_child(obj, "propSet"); ps != NULL;
		    ps = vcd_xml_next(ps, "propSet")) {
			char name[64], val[32];
			xmlNode *vn = vcd_xml_child(ps, "val");

			vcd_xml_text_copy(vcd_xml_child(ps, "name"), name, sizeof(name));
			if (strcmp(name, "name") == 0) {
				free(c->name);
				c->name = vcd_xml_text_dup(vn);
			} else if (strcmp(name, "summary.numHosts") == 0) {
				vcd_xml_text_copy(vn, val, sizeof(val));
				c->num_hosts = atoi(val);
			} else if (strcmp(name, "summary.numEffectiveHosts") == 0) {
				vcd_xml_text_copy(vn, val, sizeof(val));
				c->num_effective_hosts = atoi(val);
			}
		}
		if (c->name == NULL)
			c->name = xstrdup("");
	}
	if (vcd_xml_child(result, "token") == NULL)
		return NULL;
	return vcd_xml_text_dup(vcd_xml_child(result, "token"));
}

int
vcd_clusters_list(struct vcd_session *s, struct vcd_cluster **out, size_t *n,
    struct vcd_err *err)
{
	struct vcd_req req = { BUF_INIT, false };
	struct vcd_moref view;
	struct vcd_cluster *v = NULL;
	size_t nv = 0;
	xmlDoc *doc = NULL;
	xmlNode *resp;
	char *token = NULL;
	bool have_view = false;
	int ret = -1;

	*out = NULL;
	*n = 0;
	vcd_err_clear(err);
	if (vcd_view_create(s, "ClusterComputeResource", &view, err) < 0)
		goto out;
	have_view = true;

	vcd_req_begin(&req, "RetrievePropertiesEx", &s->property_collector);
	vcd_xml_open(&req, "specSet", NULL);
	vcd_xml_open(&req, "propSet", NULL);
	vcd_xml_elem(&req, "type", "ClusterComputeResource");
	vcd_xml_elem(&req, "all", "false");
	vcd_xml_elem(&req, "pathSet", "name");
	vcd_xml_elem(&req, "pathSet", "summary.numHosts");
	vcd_xml_elem(&req, "pathSet", "summary.numEffectiveHosts");
	vcd_xml_close(&req, "propSet");
	vcd_xml_open(&req, "objectSet", NULL);
	vcd_xml_moref(&req, "obj", &view);
	vcd_xml_elem(&req, "skip", "true");
	vcd_xml_open(&req, "selectSet", "TraversalSpec");
	vcd_xml_elem(&req, "name", "traverseView");
	vcd_xml_elem(&req, "type", "ContainerView");
	vcd_xml_elem(&req, "path", "view");
	vcd_xml_elem(&req, "skip", "false");
	vcd_xml_close(&req, "selectSet");
	vcd_xml_close(&req, "objectSet");
	vcd_xml_close(&req, "specSet");
	vcd_xml_open(&req, "options", NULL);
	vcd_xml_elem_int(&req, "maxObjects", VCD_CLUSTER_PAGE);
	vcd_xml_close(&req, "options");
	vcd_req_end(&req, "RetrievePropertiesEx");
	if (vcd_soap_call(s, "RetrievePropertiesEx", &req, &doc, &resp, err) < 0)
		goto out;
	/* No returnval means no object matched. */
	token = vcd_clusters_page(vcd_xml_child(resp, "returnval"), &v, &nv);
	while (token != NULL) {
		xmlFreeDoc(doc);
		doc = NULL;
		vcd_req_begin(&req, "ContinueRetrievePropertiesEx", &s->property_collector);
		vcd_xml_elem(&req, "token", token);
		vcd_req_end(&req, "ContinueRetrievePropertiesEx");
		free(token);
		token = NULL;
		if (vcd_soap_call(s, "ContinueRetrievePropertiesEx", &req, &doc,
		    &resp, err) < 0)
			goto out;
		token = vcd_clusters_page(vcd_xml_child(resp, "returnval"), &v, &nv);
	}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
	ret = 0;
out:
	if (have_view)
		vcd_view_destroy(s, &view);
	if (doc != NULL)
		xmlFreeDoc(doc);
	free(token);
	vcd_clusters_free(v, nv);
	vcd_req_free(&req);
	return ret;
}

void
vcd_clusters_free(struct vcd_cluster *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}
