/*
 * np_view.c - a cluster's networks, as its hosts see them.
 *
 * One RetrievePropertiesEx from the cluster reaches its hosts (their
 * vSwitches, port groups with VLANs, opaque networks and network system) and
 * its networks (standard, distributed, opaque); a second one, only when
 * there are distributed port groups, reads their switches' uuids.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "np_int.h"
#include "vcdriver/vcd_pc.h"
#include "xmalloc.h"

const char *
np_net_kind_name(enum np_net_kind kind)
{
	switch (kind) {
	case NP_NET_STANDARD: return "standard";
	case NP_NET_DVS: return "distributed";
	case NP_NET_OPAQUE: return "opaque";
	}
	return "?";
}

struct np_load {
	struct np_view		*v;
	const char		*vlan_interface;
	struct vcd_moref	*dvs;		/* a DVS per network, parallel to v->nets */
};

static struct np_network *
np_add_net(struct np_load *ld, enum np_net_kind kind, const char *name)
{
	struct np_view *v = ld->v;
	struct np_network *net;

	v->nets = xrealloc(v->nets, (v->nnets + 1) * sizeof(*v->nets));
	ld->dvs = xrealloc(ld->dvs, (v->nnets + 1) * sizeof(*ld->dvs));
	memset(&ld->dvs[v->nnets], 0, sizeof(ld->dvs[0]));
	net = &v->nets[v->nnets++];
	memset(net, 0, sizeof(*net));
	net->kind = kind;
	net->vlan = -1;
	snprintf(net->name, sizeof(net->name), "%s", name != NULL ? name : "");
	return net;
}

static void
np_load_host(struct np_load *ld, const struct vim_ObjectContent *oc)
{
	struct np_view *v = ld->v;
	const struct vim_any *a;
	struct np_host *h;
	const char *name = vcd_pc_str(oc, "name");

	v->hosts = xrealloc(v->hosts, (v->nhosts + 1) * sizeof(*v->hosts));
	h = &v->hosts[v->nhosts++];
	memset(h, 0, sizeof(*h));
	h->ref = *oc->obj;
	snprintf(h->name, sizeof(h->name), "%s", name != NULL ? name : oc->obj->value);
	if ((a = vcd_pc_prop(oc, "configManager.networkSystem")) != NULL &&
	    a->kind == VA_MOREF)
		h->netsys = *a->moref;
	/* the vSwitch whose physical NIC is vlan_interface, as nova finds it */
	if ((a = vcd_pc_prop(oc, "config.network.vswitch")) != NULL && a->kind == VA_ARRAY)
		for (size_t i = 0; i < a->nitems && h->vlan_vswitch[0] == '\0'; i++) {
			const struct vim_HostVirtualSwitch *vs = a->items[i]->kind == VA_OBJ ?
			    vim_cast(a->items[i]->obj, &vim_type_HostVirtualSwitch) : NULL;
			if (vs == NULL || ld->vlan_interface == NULL)
				continue;
			for (size_t j = 0; j < vs->pnic.len; j++) {
				const char *dash = strrchr(vs->pnic.v[j], '-');
				if (strcmp(dash != NULL ? dash + 1 : vs->pnic.v[j],
				    ld->vlan_interface) == 0) {
					snprintf(h->vlan_vswitch, sizeof(h->vlan_vswitch),
					    "%s", vs->name);
					break;
				}
			}
		}
	if ((a = vcd_pc_prop(oc, "config.network.portgroup")) != NULL && a->kind == VA_ARRAY) {
		h->pgs = xcalloc(a->nitems ? a->nitems : 1, sizeof(*h->pgs));
		for (size_t i = 0; i < a->nitems; i++) {
			const struct vim_HostPortGroup *pg = a->items[i]->kind == VA_OBJ ?
			    vim_cast(a->items[i]->obj, &vim_type_HostPortGroup) : NULL;
			struct np_hostpg *p;

			if (pg == NULL || pg->spec == NULL || pg->spec->name == NULL)
				continue;
			p = &h->pgs[h->npgs++];
			snprintf(p->name, sizeof(p->name), "%s", pg->spec->name);
			p->vlan = pg->spec->vlanId.set ? (int)pg->spec->vlanId.v : 0;
			snprintf(p->vswitch, sizeof(p->vswitch), "%s",
			    pg->spec->vswitchName ? pg->spec->vswitchName : "");
		}
	}
	/* NSX-T opaque networks as the host knows them (nova looks here) */
	if ((a = vcd_pc_prop(oc, "config.network.opaqueNetwork")) != NULL &&
	    a->kind == VA_ARRAY)
		for (size_t i = 0; i < a->nitems; i++) {
			const struct vim_HostOpaqueNetworkInfo *on = a->items[i]->kind == VA_OBJ ?
			    vim_cast(a->items[i]->obj, &vim_type_HostOpaqueNetworkInfo) : NULL;
			struct np_network *net;
			size_t k;

			if (on == NULL || on->opaqueNetworkId == NULL)
				continue;
			for (k = 0; k < v->nnets; k++)
				if (v->nets[k].kind == NP_NET_OPAQUE &&
				    strcmp(v->nets[k].opaque_id, on->opaqueNetworkId) == 0)
					break;
			if (k < v->nnets)
				continue;
			net = np_add_net(ld, NP_NET_OPAQUE, on->opaqueNetworkName);
			snprintf(net->opaque_id, sizeof(net->opaque_id), "%s", on->opaqueNetworkId);
			snprintf(net->opaque_type, sizeof(net->opaque_type), "%s",
			    on->opaqueNetworkType ? on->opaqueNetworkType : "");
		}
}

static int
np_load_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct np_load *ld = arg;
	const char *type = oc->obj->type;
	struct np_network *net;
	const char *s;

	if (strcmp(type, "ClusterComputeResource") == 0) {
		s = vcd_pc_str(oc, "name");
		snprintf(ld->v->cluster_name, sizeof(ld->v->cluster_name), "%s",
		    s != NULL ? s : "");
	} else if (strcmp(type, "HostSystem") == 0) {
		np_load_host(ld, oc);
	} else if (strcmp(type, "Network") == 0) {
		net = np_add_net(ld, NP_NET_STANDARD, vcd_pc_str(oc, "name"));
		net->ref = *oc->obj;
	} else if (strcmp(type, "DistributedVirtualPortgroup") == 0) {
		const struct vim_any *sw = vcd_pc_prop(oc, "config.distributedVirtualSwitch");
		net = np_add_net(ld, NP_NET_DVS, vcd_pc_str(oc, "name"));
		net->ref = *oc->obj;
		s = vcd_pc_str(oc, "key");
		snprintf(net->portgroup_key, sizeof(net->portgroup_key), "%s",
		    s != NULL ? s : oc->obj->value);
		if (sw != NULL && sw->kind == VA_MOREF)
			ld->dvs[ld->v->nnets - 1] = *sw->moref;
	} else if (strcmp(type, "OpaqueNetwork") == 0) {
		/* summary is declared a NetworkSummary: vCenter resolves no path
		 * into its subtype, so it comes whole, an OpaqueNetworkSummary */
		const struct vim_any *sa = vcd_pc_prop(oc, "summary");
		const struct vim_OpaqueNetworkSummary *sum = sa != NULL &&
		    sa->kind == VA_OBJ ? vim_cast(sa->obj, &vim_type_OpaqueNetworkSummary) :
		    NULL;
		const char *id = sum != NULL ? sum->opaqueNetworkId : NULL;

		/* the hosts may have listed it already (config.network.opaqueNetwork) */
		net = NULL;
		for (size_t i = 0; i < ld->v->nnets && id != NULL; i++)
			if (ld->v->nets[i].kind == NP_NET_OPAQUE &&
			    strcmp(ld->v->nets[i].opaque_id, id) == 0)
				net = &ld->v->nets[i];
		if (net == NULL) {
			net = np_add_net(ld, NP_NET_OPAQUE, vcd_pc_str(oc, "name"));
			snprintf(net->opaque_id, sizeof(net->opaque_id), "%s", id ? id : "");
		}
		net->ref = *oc->obj;
		if (sum != NULL && sum->opaqueNetworkType != NULL)
			snprintf(net->opaque_type, sizeof(net->opaque_type), "%s",
			    sum->opaqueNetworkType);
	}
	return 0;
}

struct np_dvs_ctx {
	struct np_load	*ld;
};

static int
np_dvs_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct np_load *ld = arg;
	const char *uuid = vcd_pc_str(oc, "uuid");

	for (size_t i = 0; i < ld->v->nnets; i++)
		if (ld->v->nets[i].kind == NP_NET_DVS &&
		    strcmp(ld->dvs[i].value, oc->obj->value) == 0)
			snprintf(ld->v->nets[i].dvs_uuid, sizeof(ld->v->nets[i].dvs_uuid),
			    "%s", uuid != NULL ? uuid : "");
	return 0;
}

/* Read the uuids of the switches behind the distributed port groups. */
static int
np_load_dvs(struct vcd_session *s, struct np_load *ld, struct vcd_err *err)
{
	struct vim_PropertyFilterSpec spec;
	struct vim_PropertySpec ps, *psv[1] = { &ps };
	struct vim_ObjectSpec *os = NULL, **osv = NULL;
	char *paths[] = { "uuid" };
	size_t n = 0;
	int ret = 0;

	os = xcalloc(ld->v->nnets + 1, sizeof(*os));
	osv = xcalloc(ld->v->nnets + 1, sizeof(*osv));
	for (size_t i = 0; i < ld->v->nnets; i++) {
		bool dup = false;
		if (ld->v->nets[i].kind != NP_NET_DVS || ld->dvs[i].value[0] == '\0')
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(os[j].obj->value, ld->dvs[i].value) == 0;
		if (dup)
			continue;
		vim_init(&os[n], &vim_type_ObjectSpec);
		os[n].obj = &ld->dvs[i];
		osv[n] = &os[n];
		n++;
	}
	if (n > 0) {
		vcd_pc_propspec(&ps, "DistributedVirtualSwitch", paths, 1);
		vim_init(&spec, &vim_type_PropertyFilterSpec);
		spec.propSet.v = psv;
		spec.propSet.len = 1;
		spec.objectSet.v = osv;
		spec.objectSet.len = n;
		ret = vcd_pc_retrieve(s, &spec, 0, np_dvs_one, ld, err);
	}
	free(os);
	free(osv);
	return ret;
}

int
np_view_load(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *vlan_interface, struct np_view *v, struct vcd_err *err)
{
	struct vim_PropertySpec pc, ph, pn, pd, po, *psv[5] = { &pc, &ph, &pn, &pd, &po };
	struct vim_TraversalSpec th, tn;
	struct vim_SelectionSpec *sel[2] = { &th.base, &tn.base };
	char *cpaths[] = { "name" };
	char *hpaths[] = { "name", "configManager.networkSystem",
	    "config.network.vswitch", "config.network.portgroup",
	    "config.network.opaqueNetwork" };
	char *npaths[] = { "name" };
	char *dpaths[] = { "key", "config.distributedVirtualSwitch" };
	char *opaths[] = { "name", "summary" };
	struct np_load ld = { v, vlan_interface, NULL };
	int ret = -1;

	memset(v, 0, sizeof(*v));
#define NP_PS(p, t, paths) \
	vcd_pc_propspec(&(p), (t), (paths), sizeof(paths) / sizeof((paths)[0]))
	NP_PS(pc, "ClusterComputeResource", cpaths);
	NP_PS(ph, "HostSystem", hpaths);
	NP_PS(pn, "Network", npaths);
	NP_PS(pd, "DistributedVirtualPortgroup", dpaths);
	NP_PS(po, "OpaqueNetwork", opaths);
#undef NP_PS
	vim_init(&th, &vim_type_TraversalSpec);
	th.base.name = "clusterHosts";
	th.type = "ClusterComputeResource";
	th.path = "host";
	vim_init(&tn, &vim_type_TraversalSpec);
	tn.base.name = "clusterNetworks";
	tn.type = "ClusterComputeResource";
	tn.path = "network";
	if (vcd_pc_retrieve_from(s, cluster, psv, 5, sel, 2, np_load_one, &ld, err) < 0)
		goto out;
	if (v->cluster_name[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound",
		    cluster->value, "cluster %s was not found", cluster->value);
		goto out;
	}
	if (np_load_dvs(s, &ld, err) < 0)
		goto out;
	/* a standard network's VLAN: the same on every host that has it */
	for (size_t i = 0; i < v->nnets; i++) {
		struct np_network *net = &v->nets[i];
		bool mixed = false;
		int vlan = -1;

		if (net->kind != NP_NET_STANDARD)
			continue;
		for (size_t h = 0; h < v->nhosts; h++)
			for (size_t p = 0; p < v->hosts[h].npgs; p++) {
				const struct np_hostpg *pg = &v->hosts[h].pgs[p];
				if (strcmp(pg->name, net->name) != 0)
					continue;
				net->hosts++;
				if (vlan >= 0 && vlan != pg->vlan)
					mixed = true;
				vlan = pg->vlan;
			}
		net->vlan = mixed ? -1 : vlan;
	}
	ret = 0;
out:
	free(ld.dvs);
	if (ret < 0)
		np_view_free(v);
	return ret;
}

void
np_view_free(struct np_view *v)
{
	for (size_t i = 0; i < v->nhosts; i++)
		free(v->hosts[i].pgs);
	free(v->hosts);
	free(v->nets);
	memset(v, 0, sizeof(*v));
}

const struct np_network *
np_view_find(const struct np_view *v, const char *name)
{
	for (size_t i = 0; i < v->nnets; i++) {
		const struct np_network *n = &v->nets[i];
		if (strcmp(n->name, name) == 0 ||
		    (n->kind == NP_NET_DVS && strcmp(n->portgroup_key, name) == 0) ||
		    (n->kind == NP_NET_OPAQUE && strcmp(n->opaque_id, name) == 0))
			return n;
	}
	return NULL;
}

int
np_networks_list(struct vcd_session *s, const struct vcd_moref *cluster,
    struct np_network **out, size_t *n, struct vcd_err *err)
{
	struct np_view v;

	*out = NULL;
	*n = 0;
	if (np_view_load(s, cluster, NULL, &v, err) < 0)
		return -1;
	*out = v.nets;
	*n = v.nnets;
	v.nets = NULL;
	v.nnets = 0;
	np_view_free(&v);
	return 0;
}
