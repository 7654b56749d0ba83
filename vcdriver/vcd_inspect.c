/*
 * vcd_inspect.c - what a VM is and does, in one property read: its
 * configuration, what its guest's tools report (host name, addresses),
 * its disks and NICs, and vCenter's quick statistics (nova's
 * get_info and get_diagnostics read the same).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vcd_int.h"
#include "vcd_pc.h"
#include "vim_gen.h"
#include "xmalloc.h"

static char *vcd_inspect_paths[] = { "runtime.powerState", "config.instanceUuid",
    "config.hardware.numCPU", "config.hardware.numCoresPerSocket",
    "config.hardware.memoryMB", "config.guestId", "config.version",
    "guest.toolsRunningStatus", "guest.hostName", "guest.ipAddress", "guest.net",
    "config.hardware.device", "summary.quickStats.overallCpuUsage",
    "summary.quickStats.guestMemoryUsage", "summary.quickStats.hostMemoryUsage",
    "summary.quickStats.uptimeSeconds", "runtime.bootTime", "runtime.maxCpuUsage",
    "runtime.maxMemoryUsage" };

struct vcd_inspect_ctx {
	struct vcd_vm_detail	*d;
	bool			 seen;
	char			 uuid[64];
};

static void
vcd_inspect_str(const struct vim_ObjectContent *oc, const char *path, char *dst,
    size_t len)
{
	const char *v = vcd_pc_str(oc, path);

	snprintf(dst, len, "%s", v != NULL ? v : "");
}

static const char *
vcd_inspect_label(const struct vim_VirtualDevice *dev)
{
	return dev->deviceInfo != NULL && dev->deviceInfo->label != NULL ?
	    dev->deviceInfo->label : "";
}

static void
vcd_inspect_device(struct vcd_vm_detail *d, const struct vim_any *item)
{
	struct vim_VirtualDisk *disk;
	struct vim_VirtualEthernetCard *nic;

	if (item->kind != VA_OBJ)
		return;
	if ((disk = vim_cast(item->obj, &vim_type_VirtualDisk)) != NULL) {
		struct vcd_vm_disk *x;
		struct vim_VirtualDiskFlatVer2BackingInfo *b = disk->base.backing != NULL ?
		    vim_cast(disk->base.backing, &vim_type_VirtualDiskFlatVer2BackingInfo) :
		    NULL;

		d->disks = xrealloc(d->disks, (d->ndisks + 1) * sizeof(*d->disks));
		x = &d->disks[d->ndisks++];
		memset(x, 0, sizeof(*x));
		x->key = (int)disk->base.key.v;
		snprintf(x->label, sizeof(x->label), "%s", vcd_inspect_label(&disk->base));
		x->capacity_kb = disk->capacityInKB.set ? disk->capacityInKB.v : -1;
		if (b != NULL) {
			snprintf(x->file, sizeof(x->file), "%s", b->base.fileName ?
			    b->base.fileName : "");
			snprintf(x->mode, sizeof(x->mode), "%s", b->diskMode ? b->diskMode : "");
			x->linked = b->parent != NULL;
		}
	} else if ((nic = vim_cast(item->obj, &vim_type_VirtualEthernetCard)) != NULL) {
		struct vcd_vm_nic *x;

		d->nics = xrealloc(d->nics, (d->nnics + 1) * sizeof(*d->nics));
		x = &d->nics[d->nnics++];
		memset(x, 0, sizeof(*x));
		x->key = (int)nic->base.key.v;
		snprintf(x->label, sizeof(x->label), "%s", vcd_inspect_label(&nic->base));
		snprintf(x->type, sizeof(x->type), "%s", vim_type_name(item->obj));
		snprintf(x->mac, sizeof(x->mac), "%s", nic->macAddress ? nic->macAddress : "");
		x->connected = nic->base.connectable != NULL &&
		    nic->base.connectable->connected.v;
	}
}

/* The guest's view of each NIC (guest.net), matched by device key. */
static void
vcd_inspect_guest_net(struct vcd_vm_detail *d, const struct vim_any *net)
{
	for (size_t i = 0; net != NULL && net->kind == VA_ARRAY && i < net->nitems; i++) {
		const struct vim_GuestNicInfo *g = net->items[i]->kind == VA_OBJ ?
		    vim_cast(net->items[i]->obj, &vim_type_GuestNicInfo) : NULL;

		if (g == NULL)
			continue;
		for (size_t k = 0; k < d->nnics; k++) {
			struct vcd_vm_nic *x = &d->nics[k];
			size_t len = 0;

			if (x->key != (int)g->deviceConfigId.v)
				continue;
			snprintf(x->network, sizeof(x->network), "%s", g->network ?
			    g->network : "");
			for (size_t j = 0; j < g->ipAddress.len && len < sizeof(x->ips); j++) {
				snprintf(x->ips + len, sizeof(x->ips) - len, "%s%s",
				    len ? "," : "", g->ipAddress.v[j]);
				len = strlen(x->ips);
			}
		}
	}
}

static int
vcd_inspect_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_inspect_ctx *ctx = arg;
	struct vcd_vm_detail *d = ctx->d;
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");

	ctx->seen = true;
	vcd_inspect_str(oc, "config.instanceUuid", ctx->uuid, sizeof(ctx->uuid));
	vcd_inspect_str(oc, "runtime.powerState", d->power, sizeof(d->power));
	vcd_inspect_str(oc, "config.guestId", d->guest_id, sizeof(d->guest_id));
	vcd_inspect_str(oc, "config.version", d->version, sizeof(d->version));
	vcd_inspect_str(oc, "guest.toolsRunningStatus", d->tools, sizeof(d->tools));
	vcd_inspect_str(oc, "guest.hostName", d->hostname, sizeof(d->hostname));
	vcd_inspect_str(oc, "guest.ipAddress", d->ip, sizeof(d->ip));
	vcd_inspect_str(oc, "runtime.bootTime", d->boot_time, sizeof(d->boot_time));
	d->vcpus = (int)vcd_pc_int(oc, "config.hardware.numCPU", -1);
	d->cores_per_socket = (int)vcd_pc_int(oc, "config.hardware.numCoresPerSocket", -1);
	d->memory_mb = vcd_pc_int(oc, "config.hardware.memoryMB", -1);
	d->cpu_usage_mhz = vcd_pc_int(oc, "summary.quickStats.overallCpuUsage", -1);
	d->guest_memory_mb = vcd_pc_int(oc, "summary.quickStats.guestMemoryUsage", -1);
	d->host_memory_mb = vcd_pc_int(oc, "summary.quickStats.hostMemoryUsage", -1);
	d->uptime_s = vcd_pc_int(oc, "summary.quickStats.uptimeSeconds", -1);
	d->max_cpu_mhz = vcd_pc_int(oc, "runtime.maxCpuUsage", -1);
	d->max_memory_mb = vcd_pc_int(oc, "runtime.maxMemoryUsage", -1);
	for (size_t i = 0; devs != NULL && devs->kind == VA_ARRAY && i < devs->nitems; i++)
		vcd_inspect_device(d, devs->items[i]);
	vcd_inspect_guest_net(d, vcd_pc_prop(oc, "guest.net"));
	return 0;
}

int
vcd_vm_inspect(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, struct vcd_vm_detail *d, struct vcd_err *err)
{
	struct vcd_inspect_ctx ctx = { d, false, "" };

	memset(d, 0, sizeof(*d));
	vcd_err_clear(err);
	if (vcd_pc_retrieve_one(s, vm, "VirtualMachine", vcd_inspect_paths,
	    sizeof(vcd_inspect_paths) / sizeof(vcd_inspect_paths[0]), vcd_inspect_one,
	    &ctx, err) < 0)
		goto fail;
	if (!ctx.seen) {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
		    "virtual machine %s does not exist", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		goto fail;
	}
	if (vcd_vm_uuid_check(vm, ctx.uuid, uuid, err) < 0)
		goto fail;
	return 0;
fail:
	vcd_vm_detail_free(d);
	return -1;
}

void
vcd_vm_detail_free(struct vcd_vm_detail *d)
{
	free(d->disks);
	free(d->nics);
	d->disks = NULL, d->nics = NULL;
	d->ndisks = d->nnics = 0;
}

struct vcd_host_ctx {
	bool			 seen;
	char			 uuid[64];
	struct vcd_moref	 host;
	char			 name[256];
};

static int
vcd_host_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_host_ctx *ctx = arg;
	const struct vim_any *h = vcd_pc_prop(oc, "runtime.host");

	ctx->seen = true;
	vcd_inspect_str(oc, "config.instanceUuid", ctx->uuid, sizeof(ctx->uuid));
	vcd_inspect_str(oc, "name", ctx->name, sizeof(ctx->name));
	if (h != NULL && h->kind == VA_MOREF)
		ctx->host = *h->moref;
	return 0;
}

int
vcd_vm_host_name(struct vcd_session *s, const struct vcd_moref *vm,
    const char *uuid, char *name, size_t len, struct vcd_err *err)
{
	char *vpaths[] = { "runtime.host", "config.instanceUuid" }, *hpaths[] = { "name" };
	struct vcd_host_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	vcd_err_clear(err);
	if (vcd_pc_retrieve_one(s, vm, "VirtualMachine", vpaths, 2, vcd_host_one, &ctx,
	    err) < 0)
		return -1;
	if (!ctx.seen) {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
		    "virtual machine %s does not exist", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	if (vcd_vm_uuid_check(vm, ctx.uuid, uuid, err) < 0)
		return -1;
	if (ctx.host.value[0] == '\0') {
		vcd_err_set(err, VCD_E_FAULT, "InvalidState", NULL, "virtual machine %s "
		    "runs on no host", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	ctx.seen = false;
	ctx.name[0] = '\0';
	if (vcd_pc_retrieve_one(s, &ctx.host, "HostSystem", hpaths, 1, vcd_host_one,
	    &ctx, err) < 0)
		return -1;
	if (ctx.name[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "ManagedObjectNotFound", NULL,
		    "host %s of virtual machine %s has no name", ctx.host.value, vm->value);
		vcd_moref_str(err->object, sizeof(err->object), &ctx.host);
		return -1;
	}
	snprintf(name, len, "%s", ctx.name);
	return 0;
}
