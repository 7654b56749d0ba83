/*
 * np_port.c - from a request's ports to networks and NIC device specs.
 *
 * Resolution follows nova's vif.py: a port names a network (a standard or
 * distributed port group by name, a distributed port group by key, an NSX
 * opaque network by id or name; no name means vmware.integration_bridge).
 * A VLAN port (nova's ensure_vlan_bridge) uses a distributed port group of
 * that name if there is one; otherwise the standard port group of that name
 * must carry the VLAN on the vSwitch of vmware.vlan_interface - on every host
 * of the cluster, where nova only looks at one - and is created where it is
 * missing.  Two agents creating it at once are fine: the loser's
 * AlreadyExists is checked like any existing port group.  An existing port
 * group with another VLAN or vSwitch is a conflict, never used silently.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "np_int.h"
#include "vcdriver/vcd_call.h"
#include "xmalloc.h"

/* ---- models ---- */

static const struct {
	const char		*name;
	enum np_model		 model;
	const struct vim_type	*type;
} np_models[] = {
	{ "e1000", NP_MODEL_E1000, &vim_type_VirtualE1000 },
	{ "e1000e", NP_MODEL_E1000E, &vim_type_VirtualE1000e },
	{ "vmxnet", NP_MODEL_VMXNET, &vim_type_VirtualVmxnet },
	{ "vmxnet2", NP_MODEL_VMXNET2, &vim_type_VirtualVmxnet2 },
	{ "vmxnet3", NP_MODEL_VMXNET3, &vim_type_VirtualVmxnet3 },
	{ "pcnet32", NP_MODEL_PCNET32, &vim_type_VirtualPCNet32 },
	{ "vlance", NP_MODEL_PCNET32, &vim_type_VirtualPCNet32 },
	{ "sriov", NP_MODEL_SRIOV, &vim_type_VirtualSriovEthernetCard },
};
#define NP_NMODELS	(sizeof(np_models) / sizeof(np_models[0]))

int
np_model_parse(const char *name, enum np_model *out, const char **why)
{
	for (size_t i = 0; i < NP_NMODELS; i++)
		if (strcmp(np_models[i].name, name) == 0) {
			*out = np_models[i].model;
			return 0;
		}
	*why = "unknown NIC model (expected e1000, e1000e, vmxnet, vmxnet2, "
	    "vmxnet3, pcnet32, vlance or sriov)";
	return -1;
}

const char *
np_model_name(enum np_model model)
{
	for (size_t i = 0; i < NP_NMODELS; i++)
		if (np_models[i].model == model)
			return np_models[i].name;
	return "default";
}

enum np_model
np_model_default(const char *guest_id)
{
	/* nova's DEFAULT_VIF_MODEL, whatever the guest */
	(void)guest_id;
	return NP_MODEL_E1000;
}

static const struct vim_type *
np_model_type(enum np_model model)
{
	for (size_t i = 0; i < NP_NMODELS; i++)
		if (np_models[i].model == model)
			return np_models[i].type;
	return &vim_type_VirtualE1000;
}

/* ---- device specs ---- */

static struct vim_VirtualDeviceBackingInfo *
np_backing(struct vim_arena *a, const struct np_network *net, const char *port_key)
{
	switch (net->kind) {
	case NP_NET_STANDARD: {
		struct vim_VirtualEthernetCardNetworkBackingInfo *b =
		    vim_new(a, &vim_type_VirtualEthernetCardNetworkBackingInfo);
		b->base.deviceName = vim_strdup(a, net->name);
		b->network = vim_alloc(a, sizeof(*b->network));
		*b->network = net->ref;
		return &b->base.base;
	}
	case NP_NET_DVS: {
		struct vim_VirtualEthernetCardDistributedVirtualPortBackingInfo *b =
		    vim_new(a, &vim_type_VirtualEthernetCardDistributedVirtualPortBackingInfo);
		b->port = vim_new(a, &vim_type_DistributedVirtualSwitchPortConnection);
		b->port->switchUuid = vim_strdup(a, net->dvs_uuid);
		b->port->portgroupKey = vim_strdup(a, net->portgroup_key);
		if (port_key != NULL)
			b->port->portKey = vim_strdup(a, port_key);
		return &b->base;
	}
	case NP_NET_OPAQUE: {
		struct vim_VirtualEthernetCardOpaqueNetworkBackingInfo *b =
		    vim_new(a, &vim_type_VirtualEthernetCardOpaqueNetworkBackingInfo);
		b->opaqueNetworkId = vim_strdup(a, net->opaque_id);
		b->opaqueNetworkType = vim_strdup(a, net->opaque_type[0] ?
		    net->opaque_type : "nsx.LogicalSwitch");
		return &b->base;
	}
	}
	return NULL;
}

int
np_nic_specs(struct vim_arena *a, const struct np_port *ports,
    const struct np_network *nets, size_t nports, const char *guest_id,
    int first_index, int first_key, struct vim_list_VirtualDeviceConfigSpec *devices,
    struct vim_list_OptionValue *extra, struct np_mac *macs, struct vcd_err *err)
{
	struct np_mac *seen = xcalloc(nports ? nports : 1, sizeof(*seen));
	char key[64], macs_text[18];
	int ret = -1;

	for (size_t i = 0; i < nports; i++) {
		const struct np_port *p = &ports[i];
		enum np_model model = np_model_default(guest_id);
		struct vim_VirtualEthernetCard *card;
		const char *why = NULL;
		int index = first_index + (int)i;

		if (p->model != NULL && np_model_parse(p->model, &model, &why) < 0) {
			vcd_err_set(err, VCD_E_INVALID, NULL, p->model, "port %zu: %s",
			    i, why);
			goto out;
		}
		if (model == NP_MODEL_SRIOV) {
			vcd_err_set(err, VCD_E_INVALID, "NotSupported", "sriov",
			    "port %zu: SR-IOV NICs need a physical function backing, "
			    "which netplug does not choose", i);
			goto out;
		}
		if (p->mac != NULL) {
			if (np_mac_parse(p->mac, &seen[i], &why) < 0) {
				vcd_err_set(err, VCD_E_INVALID, NULL, p->mac,
				    "port %zu: invalid MAC address \"%s\": %s", i,
				    p->mac, why);
				goto out;
			}
		} else if (np_mac_generate(&seen[i]) < 0) {
			vcd_err_set(err, VCD_E_INVALID, NULL, NULL, "cannot generate "
			    "a MAC address: no randomness");
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (memcmp(&seen[j], &seen[i], sizeof(seen[i])) == 0) {
				vcd_err_set(err, VCD_E_INVALID, NULL,
				    np_mac_format(&seen[i], macs_text, sizeof(macs_text)),
				    "ports %zu and %zu have the same MAC address %s", j, i,
				    macs_text);
				goto out;
			}
		np_mac_format(&seen[i], macs_text, sizeof(macs_text));

		card = vim_new(a, np_model_type(model));
		card->base.key = VIM_INT(first_key - (int)i);
		card->base.backing = np_backing(a, &nets[i], p->dvs_port_key);
		card->addressType = "manual";
		card->macAddress = vim_strdup(a, macs_text);
		card->wakeOnLanEnabled = VIM_BOOL(true);
		if (p->alloc != NULL) {
			struct vim_VirtualEthernetCardResourceAllocation *ra =
			    vim_new(a, &vim_type_VirtualEthernetCardResourceAllocation);
			struct vim_SharesInfo *sh = vim_new(a, &vim_type_SharesInfo);

			ra->limit = VIM_INT(p->alloc->limit);
			ra->reservation = VIM_INT(p->alloc->reservation);
			sh->level = (char *)(p->alloc->level != NULL ? p->alloc->level : "normal");
			sh->shares = VIM_INT(p->alloc->shares);
			ra->share = sh;
			card->resourceAllocation = ra;
		}
		if (p->port_id != NULL) {
			card->externalId = vim_strdup(a, p->port_id);
			snprintf(key, sizeof(key), "nvp.iface-id.%d", index);
			vim_option_add(a, extra, key, p->port_id);
		}
		if (np_mac_kind(&seen[i]) == NP_MAC_OTHER) {
			/* allowed, as the libvirt ESX driver allows it */
			snprintf(key, sizeof(key), "ethernet%d.checkMACAddress", index);
			vim_option_add(a, extra, key, "false");
		}
		vim_device_change(a, devices, "add", NULL, &card->base, true);
	}
	if (macs != NULL)
		memcpy(macs, seen, nports * sizeof(*seen));
	ret = 0;
out:
	free(seen);
	return ret;
}

/* ---- resolution ---- */

/* One VLAN port group operation at a time in this process; other agents
 * are handled by tolerating AlreadyExists. */
static pthread_mutex_t np_vlan_lock = PTHREAD_MUTEX_INITIALIZER;

static int
np_add_portgroup(struct vcd_session *s, const struct np_host *h, const char *name,
    int vlan, struct vcd_err *err)
{
	struct vim_req_AddPortGroup req;
	struct vim_HostPortGroupSpec spec;
	struct vim_HostNetworkPolicy policy;
	struct vim_arena a = VIM_ARENA_INIT;
	void *resp;
	int ret;

	vim_init(&policy, &vim_type_HostNetworkPolicy);
	vim_init(&spec, &vim_type_HostPortGroupSpec);
	spec.name = (char *)name;
	spec.vlanId = VIM_INT(vlan);
	spec.vswitchName = (char *)h->vlan_vswitch;
	spec.policy = &policy;
	vim_init(&req, &vim_type_req_AddPortGroup);
	req._this = (struct vcd_moref *)&h->netsys;
	req.portgrp = &spec;
	ret = vcd_invoke(s, &vim_method_AddPortGroup, &req, &a, &resp, err);
	vim_arena_free(&a);
	if (ret == 0)
		log_info("netplug: created port group \"%s\" (VLAN %d) on %s of %s",
		    name, vlan, h->vlan_vswitch, h->name);
	return ret;
}

/* Check every host's port group NAME; create it where missing (CREATE).
 * Returns how many hosts changed (created, or raced by another agent), or
 * -1. */
static int
np_vlan_pass(struct vcd_session *s, const struct np_view *v, const char *name,
    int vlan, bool create, const struct np_config *cfg, struct vcd_err *err)
{
	int created = 0;

	for (size_t i = 0; i < v->nhosts; i++) {
		const struct np_host *h = &v->hosts[i];
		const struct np_hostpg *pg = NULL;

		if (h->vlan_vswitch[0] == '\0') {
			vcd_err_set(err, VCD_E_NOTFOUND, NULL, h->name, "host %s of "
			    "cluster \"%s\" has no vSwitch with the physical adapter %s "
			    "(vmware.vlan_interface)", h->name, v->cluster_name,
			    cfg->vlan_interface);
			return -1;
		}
		for (size_t p = 0; p < h->npgs; p++)
			if (strcmp(h->pgs[p].name, name) == 0)
				pg = &h->pgs[p];
		if (pg != NULL) {
			if (strcmp(pg->vswitch, h->vlan_vswitch) != 0) {
				vcd_err_set(err, VCD_E_INVALID, "InvalidVLANPortGroup", name,
				    "port group \"%s\" on host %s is on vSwitch %s, not on "
				    "%s of %s", name, h->name, pg->vswitch, h->vlan_vswitch,
				    cfg->vlan_interface);
				return -1;
			}
			if (pg->vlan != vlan) {
				vcd_err_set(err, VCD_E_INVALID, "InvalidVLANTag", name,
				    "port group \"%s\" on host %s has VLAN %d, not %d",
				    name, h->name, pg->vlan, vlan);
				return -1;
			}
			continue;
		}
		if (!create) {
			vcd_err_set(err, VCD_E_NOTFOUND, NULL, name, "port group \"%s\" "
			    "is still missing on host %s", name, h->name);
			return -1;
		}
		if (np_add_portgroup(s, h, name, vlan, err) < 0) {
			/* someone else made it meanwhile: counted as a change, so
			 * the next pass re-reads and checks its VLAN */
			if (err->code == VCD_E_FAULT && (!strcmp(err->fault, "AlreadyExists") ||
			    !strcmp(err->fault, "DuplicateName"))) {
				log_info("netplug: port group \"%s\" on %s was created by "
				    "someone else meanwhile; checking it", name, h->name);
				vcd_err_clear(err);
				created++;
				continue;
			}
			/* host names are at most 255 bytes; keep what fits */
			snprintf(err->object, sizeof(err->object), "%.*s",
			    (int)sizeof(err->object) - 1, h->name);
			return -1;
		}
		created++;
	}
	return created;
}

static int
np_ensure_vlan(struct vcd_session *s, const struct vcd_moref *cluster,
    const struct np_config *cfg, struct np_view *v, const char *name, int vlan,
    struct vcd_err *err)
{
	const struct np_network *net = np_view_find(v, name);
	int ret = -1, rc;

	if (vlan > 4094) {
		vcd_err_set(err, VCD_E_INVALID, NULL, name, "VLAN %d of network \"%s\" "
		    "is out of range (0-4094)", vlan, name);
		return -1;
	}
	if (net != NULL && net->kind == NP_NET_DVS)
		return 0;	/* as nova: a distributed port group is used as is */
	pthread_mutex_lock(&np_vlan_lock);
	if ((rc = np_vlan_pass(s, v, name, vlan, true, cfg, err)) < 0)
		goto out;
	if (rc == 0 && np_view_find(v, name) != NULL) {
		ret = 0;	/* everything was there already */
		goto out;
	}
	/* read again: the new port groups, and any a racing agent made */
	np_view_free(v);
	if (np_view_load(s, cluster, cfg->vlan_interface, v, err) < 0)
		goto out;
	if (np_vlan_pass(s, v, name, vlan, false, cfg, err) < 0)
		goto out;
	ret = 0;
out:
	pthread_mutex_unlock(&np_vlan_lock);
	return ret;
}

int
np_resolve(struct vcd_session *s, const struct vcd_moref *cluster,
    const struct np_config *cfg, const struct np_port *ports, size_t nports,
    struct np_network *out, struct vcd_err *err)
{
	struct np_view v;
	int ret = -1;

	if (np_view_load(s, cluster, cfg->vlan_interface, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < nports; i++) {
		const char *name = ports[i].network != NULL && ports[i].network[0] ?
		    ports[i].network : cfg->integration_bridge;
		const struct np_network *net;

		if (name == NULL) {
			vcd_err_set(err, VCD_E_INVALID, NULL, NULL, "port %zu names no "
			    "network and vmware.integration_bridge is not set", i);
			goto out;
		}
		if (ports[i].vlan >= 0 &&
		    np_ensure_vlan(s, cluster, cfg, &v, name, ports[i].vlan, err) < 0)
			goto out;
		if ((net = np_view_find(&v, name)) == NULL) {
			vcd_err_set(err, VCD_E_NOTFOUND, NULL, name, "network \"%s\" "
			    "was not found in cluster \"%s\"", name, v.cluster_name);
			goto out;
		}
		if (net->kind == NP_NET_STANDARD && net->hosts < (int)v.nhosts) {
			vcd_err_set(err, VCD_E_NOTFOUND, NULL, name, "port group \"%s\" "
			    "is on %d of the %zu hosts of cluster \"%s\"", name, net->hosts,
			    v.nhosts, v.cluster_name);
			goto out;
		}
		if (net->kind == NP_NET_DVS && net->dvs_uuid[0] == '\0') {
			vcd_err_set(err, VCD_E_NOTFOUND, NULL, name, "the distributed "
			    "switch of port group \"%s\" has no uuid", name);
			goto out;
		}
		out[i] = *net;
	}
	ret = 0;
out:
	np_view_free(&v);
	return ret;
}
