/*
 * np_vm.c - the NICs of a virtual machine: listing, attaching, detaching.
 *
 * A NIC's port id is its externalId, or else extraConfig nvp.iface-id.N
 * (N counts the VM's NICs in device order), as nova writes both.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "np_int.h"
#include "vcdriver/vcd_call.h"
#include "vcdriver/vcd_pc.h"
#include "xmalloc.h"

static const struct {
	const struct vim_type	*type;
	const char		*model;
} np_nic_types[] = {
	{ &vim_type_VirtualE1000e, "e1000e" },
	{ &vim_type_VirtualE1000, "e1000" },
	{ &vim_type_VirtualVmxnet3, "vmxnet3" },
	{ &vim_type_VirtualVmxnet2, "vmxnet2" },
	{ &vim_type_VirtualVmxnet, "vmxnet" },
	{ &vim_type_VirtualPCNet32, "pcnet32" },
	{ &vim_type_VirtualSriovEthernetCard, "sriov" },
};

struct np_nics_ctx {
	struct np_nic		*v;
	size_t			 n;
	bool			 seen;
	struct vim_arena	*a;	/* if not NULL: copy each NIC into devs */
	struct vim_VirtualEthernetCard **devs;	/* parallel to v, in a */
	char			 uuid[64];	/* config.instanceUuid, if asked */
};

static void
np_nic_network(struct np_nic *nic, const struct vim_VirtualDeviceBackingInfo *b)
{
	const struct vim_VirtualEthernetCardNetworkBackingInfo *nb;
	const struct vim_VirtualEthernetCardDistributedVirtualPortBackingInfo *db;
	const struct vim_VirtualEthernetCardOpaqueNetworkBackingInfo *ob;
	const char *name = NULL;

	nb = vim_cast(b, &vim_type_VirtualEthernetCardNetworkBackingInfo);
	db = vim_cast(b, &vim_type_VirtualEthernetCardDistributedVirtualPortBackingInfo);
	ob = vim_cast(b, &vim_type_VirtualEthernetCardOpaqueNetworkBackingInfo);
	if (nb != NULL)
		name = nb->base.deviceName;
	else if (db != NULL)
		name = db->port != NULL ? db->port->portgroupKey : NULL;
	else if (ob != NULL)
		name = ob->opaqueNetworkId;
	snprintf(nic->network, sizeof(nic->network), "%s", name != NULL ? name : "");
}

static int
np_nics_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct np_nics_ctx *ctx = arg;
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");
	const struct vim_any *extra = vcd_pc_prop(oc, "config.extraConfig");
	const char *uuid = vcd_pc_str(oc, "config.instanceUuid");

	ctx->seen = true;
	if (uuid != NULL)
		snprintf(ctx->uuid, sizeof(ctx->uuid), "%s", uuid);
	if (devs == NULL || devs->kind != VA_ARRAY)
		return 0;
	for (size_t i = 0; i < devs->nitems; i++) {
		const struct vim_VirtualEthernetCard *card;
		struct np_nic *nic;
		char key[64];

		if (devs->items[i]->kind != VA_OBJ ||
		    (card = vim_cast(devs->items[i]->obj, &vim_type_VirtualEthernetCard)) == NULL)
			continue;
		ctx->v = xrealloc(ctx->v, (ctx->n + 1) * sizeof(*ctx->v));
		if (ctx->a != NULL) {
			ctx->devs = xrealloc(ctx->devs, (ctx->n + 1) * sizeof(*ctx->devs));
			ctx->devs[ctx->n] = vim_dup(ctx->a, card);
		}
		nic = &ctx->v[ctx->n];
		memset(nic, 0, sizeof(*nic));
		nic->index = (int)ctx->n++;
		nic->key = (int)card->base.key.v;
		snprintf(nic->mac, sizeof(nic->mac), "%s",
		    card->macAddress != NULL ? card->macAddress : "");
		snprintf(nic->model, sizeof(nic->model), "%s", "ethernet");
		for (size_t t = 0; t < sizeof(np_nic_types) / sizeof(np_nic_types[0]); t++)
			if (vim_cast(card, np_nic_types[t].type) != NULL) {
				snprintf(nic->model, sizeof(nic->model), "%s",
				    np_nic_types[t].model);
				break;
			}
		np_nic_network(nic, card->base.backing);
		nic->connected = card->base.connectable != NULL &&
		    card->base.connectable->connected.v;
		if (card->externalId != NULL)
			snprintf(nic->port_id, sizeof(nic->port_id), "%s", card->externalId);
		snprintf(key, sizeof(key), "nvp.iface-id.%d", nic->index);
		if (nic->port_id[0] == '\0' && extra != NULL && extra->kind == VA_ARRAY)
			for (size_t e = 0; e < extra->nitems; e++) {
				const struct vim_OptionValue *ov = extra->items[e]->kind == VA_OBJ ?
				    vim_cast(extra->items[e]->obj, &vim_type_OptionValue) : NULL;
				if (ov != NULL && ov->key != NULL && strcmp(ov->key, key) == 0 &&
				    ov->value != NULL && ov->value->text != NULL)
					snprintf(nic->port_id, sizeof(nic->port_id), "%s",
					    ov->value->text);
			}
	}
	return 0;
}

/* np_vm_nics(), and with A not NULL each NIC's device as read in *DEVS
 * (caller frees the array; the devices are in A); with UUID not NULL, the
 * VM's instance uuid read too, and checked (vcd_vm_uuid_check()). */
static int
np_vm_nics_devs(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct np_nic **out, size_t *n, struct vim_arena *a,
    struct vim_VirtualEthernetCard ***devs, struct vcd_err *err)
{
	char *paths[] = { "config.hardware.device", "config.extraConfig",
	    "config.instanceUuid" };
	struct np_nics_ctx ctx = { NULL, 0, false, a, NULL, "" };

	*out = NULL;
	*n = 0;
	if (devs != NULL)
		*devs = NULL;
	if (vcd_pc_retrieve_one(s, vm, "VirtualMachine", paths, uuid != NULL ? 3 : 2,
	    np_nics_one, &ctx, err) < 0) {
		free(ctx.v);
		free(ctx.devs);
		return -1;
	}
	if (!ctx.seen || vcd_vm_uuid_check(vm, ctx.uuid, uuid, err) < 0) {
		if (!ctx.seen) {
			vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
			    "virtual machine %s does not exist", vm->value);
			snprintf(err->object, sizeof(err->object), "%s:%s", vm->type,
			    vm->value);
		}
		free(ctx.v);
		free(ctx.devs);
		return -1;
	}
	*out = ctx.v;
	*n = ctx.n;
	if (devs != NULL)
		*devs = ctx.devs;
	else
		free(ctx.devs);
	return 0;
}

int
np_vm_nics(struct vcd_session *s, const struct vcd_moref *vm,
    struct np_nic **out, size_t *n, struct vcd_err *err)
{
	return np_vm_nics_devs(s, vm, NULL, out, n, NULL, NULL, err);
}

int
np_attach(struct vcd_session *s, const struct vcd_moref *cluster,
    const struct np_config *cfg, const struct vcd_moref *vm, const char *uuid,
    const struct np_port *port, const char *guest_id, struct np_nic *added,
    struct vcd_err *err)
{
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_VirtualMachineConfigSpec cs;
	struct np_network net;
	struct np_nic *nics = NULL;
	struct np_mac mac, have;
	size_t n = 0;
	const char *why;
	int ret = -1;

	if (np_vm_nics_devs(s, vm, uuid, &nics, &n, NULL, NULL, err) < 0)
		goto out;
	if (port->port_id != NULL)
		for (size_t i = 0; i < n; i++)
			if (strcmp(nics[i].port_id, port->port_id) == 0) {
				vcd_err_set(err, VCD_E_INVALID, "AlreadyExists", port->port_id,
				    "%s already has a NIC for port %s", vm->value,
				    port->port_id);
				goto out;
			}
	if (np_resolve(s, cluster, cfg, port, 1, &net, err) < 0)
		goto out;
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	if (np_nic_specs(&a, port, &net, 1, guest_id, (int)n, -100 - (int)n,
	    &cs.deviceChange, &cs.extraConfig, &mac, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (np_mac_parse(nics[i].mac, &have, &why) == 0 &&
		    memcmp(&have, &mac, sizeof(mac)) == 0) {
			vcd_err_set(err, VCD_E_INVALID, NULL, nics[i].mac, "%s already "
			    "has a NIC with MAC address %s", vm->value, nics[i].mac);
			goto out;
		}
	if (vcd_vm_reconfigure(s, vm, uuid, &cs, err) < 0)
		goto out;
	if (added != NULL) {
		memset(added, 0, sizeof(*added));
		added->index = (int)n;
		np_mac_format(&mac, added->mac, sizeof(added->mac));
		snprintf(added->network, sizeof(added->network), "%s", net.name);
		snprintf(added->port_id, sizeof(added->port_id), "%s",
		    port->port_id != NULL ? port->port_id : "");
	}
	log_info("netplug: attached a NIC for %s to %s on \"%s\"",
	    port->port_id != NULL ? port->port_id : "a port", vm->value, net.name);
	ret = 0;
out:
	free(nics);
	vim_arena_free(&a);
	return ret;
}

int
np_detach(struct vcd_session *s, const struct vcd_moref *vm, const char *uuid,
    const char *port_id, struct vcd_err *err)
{
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_VirtualMachineConfigSpec cs;
	struct vim_VirtualDeviceConfigSpec *ds, *dsv[1];
	struct vim_OptionValue *ov, *ovv[1];
	struct vim_VirtualEthernetCard **devs = NULL, *card = NULL;
	struct np_nic *nics = NULL, *nic = NULL;
	size_t n = 0;
	char key[64];
	int ret = -1;

	if (np_vm_nics_devs(s, vm, uuid, &nics, &n, &a, &devs, err) < 0)
		goto out;
	for (size_t i = 0; i < n && nic == NULL; i++)
		if (strcmp(nics[i].port_id, port_id) == 0 ||
		    strcasecmp(nics[i].mac, port_id) == 0) {
			nic = &nics[i];
			card = devs[i];
		}
	if (nic == NULL) {
		vcd_err_set(err, VCD_E_NOTFOUND, NULL, port_id, "%s has no NIC for "
		    "port or MAC %s", vm->value, port_id);
		goto out;
	}
	/* the device to remove goes as read from the VM, as nova sends it */
	ds = vim_new(&a, &vim_type_VirtualDeviceConfigSpec);
	ds->operation = "remove";
	ds->device = &card->base;
	dsv[0] = ds;
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	cs.deviceChange.v = dsv;
	cs.deviceChange.len = 1;
	/* an empty value removes the key */
	snprintf(key, sizeof(key), "nvp.iface-id.%d", nic->index);
	ov = vim_new(&a, &vim_type_OptionValue);
	ov->key = key;
	ov->value = vim_any_str(&a, "xsd:string", "");
	ovv[0] = ov;
	cs.extraConfig.v = ovv;
	cs.extraConfig.len = 1;
	if (vcd_vm_reconfigure(s, vm, uuid, &cs, err) < 0)
		goto out;
	log_info("netplug: detached the NIC of %s (%s) from %s", port_id, nic->mac,
	    vm->value);
	ret = 0;
out:
	free(nics);
	free(devs);
	vim_arena_free(&a);
	return ret;
}
