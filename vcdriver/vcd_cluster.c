/*
 * vcd_cluster.c - clusters: finding them, and each one as a hypervisor
 * resource.
 *
 * Listing costs three calls whatever the inventory (a ContainerView, one
 * RetrievePropertiesEx, DestroyView).  A resource refresh costs one
 * RetrievePropertiesEx: a filter starting at the cluster that traverses to
 * its hosts and its datastores and asks only for the fields it sums (whole
 * host summaries carry tens of KB of sensor data each).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vcd_int.h"
#include "vcd_pc.h"
#include "xmalloc.h"

/* ---- listing ---- */

struct vcd_list_ctx {
	struct vcd_cluster	*v;
	size_t			 n;
};

static int
vcd_list_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_list_ctx *ctx = arg;
	const struct vim_any *hosts = vcd_pc_prop(oc, "host");
	const char *name = vcd_pc_str(oc, "name");
	struct vcd_cluster *c;

	ctx->v = xrealloc(ctx->v, (ctx->n + 1) * sizeof(*ctx->v));
	c = &ctx->v[ctx->n++];
	memset(c, 0, sizeof(*c));
	c->ref = *oc->obj;
	c->name = xstrdup(name != NULL ? name : "");
	c->num_hosts = hosts != NULL && hosts->kind == VA_ARRAY ? (int)hosts->nitems : 0;
	return 0;
}

int
vcd_clusters_list(struct vcd_session *s, struct vcd_cluster **out, size_t *n,
    struct vcd_err *err)
{
	struct vcd_list_ctx ctx = { NULL, 0 };
	char *paths[] = { "name", "host" };

	*out = NULL;
	*n = 0;
	if (vcd_pc_retrieve_all(s, "ClusterComputeResource", paths, 2, 0,
	    vcd_list_one, &ctx, err) < 0) {
		vcd_clusters_free(ctx.v, ctx.n);
		return -1;
	}
	*out = ctx.v;
	*n = ctx.n;
	return 0;
}

void
vcd_clusters_free(struct vcd_cluster *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* ---- resources ---- */

struct vcd_res_ctx {
	struct vcd_resources	*r;
	struct vcd_regex	*re;
};

/* Whether datastore NAME is selected by the context's regex (if any); a
 * match that hit a PCRE2 limit selects nothing and is recorded in R. */
static int
vcd_res_selected(struct vcd_res_ctx *ctx, const char *name)
{
	struct vcd_resources *r = ctx->r;
	char why[192];
	int rc;

	if (ctx->re == NULL)
		return 1;
	if (name == NULL)
		return 0;
	if ((rc = vcd_regex_match(ctx->re, name, why, sizeof(why))) < 0) {
		if (r->datastores_regex_errors++ == 0)
			snprintf(r->regex_error, sizeof(r->regex_error),
			    "datastore \"%.*s\": %s", 100, name, why);
		return 0;
	}
	return rc;
}

static int
vcd_res_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_res_ctx *ctx = arg;
	struct vcd_resources *r = ctx->r;
	const char *type = oc->obj->type;

	if (strcmp(type, "ClusterComputeResource") == 0) {
		const char *name = vcd_pc_str(oc, "name");
		snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	} else if (strcmp(type, "HostSystem") == 0) {
		const char *state = vcd_pc_str(oc, "summary.runtime.connectionState");
		int64_t threads = vcd_pc_int(oc, "summary.hardware.numCpuThreads", 0);
		int64_t mem_mb = vcd_pc_int(oc, "summary.hardware.memorySize", 0) /
		    (1024 * 1024);

		r->hosts_total++;
		/* as nova: only connected hosts not in maintenance count */
		if (state == NULL || strcmp(state, "connected") != 0 ||
		    vcd_pc_bool(oc, "summary.runtime.inMaintenanceMode", 0))
			return 0;
		r->hosts_usable++;
		r->vcpus += threads;
		if (threads > r->max_vcpus_per_host)
			r->max_vcpus_per_host = threads;
		r->memory_mb += mem_mb;
		r->memory_mb_used += vcd_pc_int(oc,
		    "summary.quickStats.overallMemoryUsage", 0);
		if (mem_mb > r->max_memory_mb_per_host)
			r->max_memory_mb_per_host = mem_mb;
	} else if (strcmp(type, "Datastore") == 0) {
		const char *name = vcd_pc_str(oc, "summary.name");
		const char *mm = vcd_pc_str(oc, "summary.maintenanceMode");
		int64_t cap = vcd_pc_int(oc, "summary.capacity", 0);
		int64_t free_ = vcd_pc_int(oc, "summary.freeSpace", 0);

		r->datastores_total++;
		if (!vcd_pc_bool(oc, "summary.accessible", 0) ||
		    (mm != NULL && strcmp(mm, "normal") != 0) ||
		    !vcd_res_selected(ctx, name))
			return 0;
		r->datastores_usable++;
		if (r->nds < VCD_RES_MAXDS) {
			struct vcd_res_ds *d = &r->ds[r->nds++];

			snprintf(d->name, sizeof(d->name), "%s", name ? name : "");
			d->ref = *oc->obj;
			d->free_bytes = free_;
		}
		r->disk_total_bytes += cap;
		r->disk_free_bytes += free_;
		if (free_ > r->max_disk_free_bytes) {
			r->max_disk_free_bytes = free_;
			snprintf(r->largest_datastore, sizeof(r->largest_datastore),
			    "%s", name ? name : "");
		}
	}
	return 0;
}

int
vcd_cluster_resources(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *datastore_regex, struct vcd_resources *r, struct vcd_err *err)
{
	struct vim_PropertySpec pc, ph, pd, *psv[3] = { &pc, &ph, &pd };
	struct vim_TraversalSpec th, td;
	struct vim_SelectionSpec *sel[2] = { &th.base, &td.base };
	char *cpaths[] = { "name" };
	char *hpaths[] = { "summary.hardware.numCpuThreads",
	    "summary.hardware.memorySize", "summary.quickStats.overallMemoryUsage",
	    "summary.runtime.connectionState", "summary.runtime.inMaintenanceMode" };
	char *dpaths[] = { "summary.name", "summary.capacity", "summary.freeSpace",
	    "summary.accessible", "summary.maintenanceMode" };
	struct vcd_res_ctx ctx = { r, NULL };
	char why[320];
	int ret = -1;

	memset(r, 0, sizeof(*r));
	vcd_err_clear(err);
	if (datastore_regex != NULL &&
	    (ctx.re = vcd_regex_compile(datastore_regex, why, sizeof(why))) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, "datastore_regex", "%s", why);
		return -1;
	}
	vcd_pc_propspec(&pc, "ClusterComputeResource", cpaths, 1);
	vcd_pc_propspec(&ph, "HostSystem", hpaths,
	    sizeof(hpaths) / sizeof(hpaths[0]));
	vcd_pc_propspec(&pd, "Datastore", dpaths,
	    sizeof(dpaths) / sizeof(dpaths[0]));
	vcd_pc_traversal(&th, "clusterHosts", "ClusterComputeResource", "host");
	vcd_pc_traversal(&td, "clusterDatastores", "ClusterComputeResource", "datastore");
	if (vcd_pc_retrieve_from(s, cluster, psv, 3, sel, 2, vcd_res_one, &ctx, err) < 0)
		goto out;
	if (r->name[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, NULL, cluster->value,
		    "cluster %s:%s was not found", cluster->type, cluster->value);
		goto out;
	}
	snprintf(r->nodename, sizeof(r->nodename), "%s.%s", cluster->value,
	    s->about.instance_uuid);
	snprintf(r->vcenter_version, sizeof(r->vcenter_version), "%s",
	    s->about.version);
	ret = 0;
out:
	vcd_regex_free(ctx.re);
	return ret;
}

/* ---- where a cluster's VMs go ---- */

static int
vcd_place_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_placement *p = arg;
	const struct vim_any *v;
	const char *name;

	if (strcmp(oc->obj->type, "ClusterComputeResource") == 0) {
		if ((v = vcd_pc_prop(oc, "resourcePool")) != NULL && v->kind == VA_MOREF)
			p->pool = *v->moref;
		if ((v = vcd_pc_prop(oc, "environmentBrowser")) != NULL &&
		    v->kind == VA_MOREF)
			p->env_browser = *v->moref;
	} else if (strcmp(oc->obj->type, "Datacenter") == 0) {
		p->datacenter = *oc->obj;
		if ((v = vcd_pc_prop(oc, "vmFolder")) != NULL && v->kind == VA_MOREF)
			p->folder = *v->moref;
		if ((name = vcd_pc_str(oc, "name")) != NULL)
			snprintf(p->datacenter_name, sizeof(p->datacenter_name), "%s", name);
	}
	return 0;
}

int
vcd_cluster_placement(struct vcd_session *s, const struct vcd_moref *cluster,
    struct vcd_placement *p, struct vcd_err *err)
{
	struct vim_PropertySpec pc, pd, *psv[2] = { &pc, &pd };
	struct vim_TraversalSpec up, fup;
	struct vim_SelectionSpec again, *sel[1] = { &up.base }, *fsel[1] = { &again };
	struct vim_SelectionSpec *upsel[1] = { &fup.base };
	char *cpaths[] = { "resourcePool", "environmentBrowser" };
	char *dpaths[] = { "vmFolder", "name" };

	memset(p, 0, sizeof(*p));
	vcd_pc_propspec(&pc, "ClusterComputeResource", cpaths, 2);
	vcd_pc_propspec(&pd, "Datacenter", dpaths, 2);
	/* cluster -> its folder -> ... folders ... -> the datacenter */
	vim_init(&again, &vim_type_SelectionSpec);
	again.name = "folderUp";
	vcd_pc_traversal(&fup, "folderUp", "Folder", "parent");
	fup.selectSet.v = fsel;
	fup.selectSet.len = 1;
	vcd_pc_traversal(&up, "clusterUp", "ClusterComputeResource", "parent");
	up.selectSet.v = upsel;
	up.selectSet.len = 1;
	if (vcd_pc_retrieve_from(s, cluster, psv, 2, sel, 1, vcd_place_one, p, err) < 0)
		return -1;
	if (p->pool.value[0] == '\0' || p->folder.value[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, NULL, cluster->value, "cannot find the "
		    "resource pool and VM folder of cluster %s", cluster->value);
		return -1;
	}
	return 0;
}

/* ---- one of a cluster's hosts, by name ---- */

struct vcd_host_ctx {
	const char	*name;
	struct vcd_moref host;
	int		 hosts;
};

static int
vcd_host_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_host_ctx *h = arg;
	const char *name;

	if (strcmp(oc->obj->type, "HostSystem") != 0)
		return 0;
	h->hosts++;
	if ((name = vcd_pc_str(oc, "name")) != NULL && strcasecmp(name, h->name) == 0)
		h->host = *oc->obj;
	return 0;
}

int
vcd_cluster_host(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *name, struct vcd_moref *host, struct vcd_err *err)
{
	struct vim_PropertySpec ph, *psv[1] = { &ph };
	struct vim_TraversalSpec th;
	struct vim_SelectionSpec *sel[1] = { &th.base };
	char *hpaths[] = { "name" };
	struct vcd_host_ctx h = { name, { "", "" }, 0 };

	vcd_pc_propspec(&ph, "HostSystem", hpaths, 1);
	vcd_pc_traversal(&th, "clusterHosts", "ClusterComputeResource", "host");
	if (vcd_pc_retrieve_from(s, cluster, psv, 1, sel, 1, vcd_host_one, &h, err) < 0)
		return -1;
	if (h.host.value[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "NotFound", name, "cluster %s has no host "
		    "named %s (of its %d)", cluster->value, name, h.hosts);
		return -1;
	}
	*host = h.host;
	return 0;
}
