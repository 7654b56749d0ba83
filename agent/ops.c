/*
 * ops.c - what each request does in vCenter and in the instance rows.
 *
 * Every operation can run again after a crash (the ledger hands unfinished
 * requests back on start): spawn adopts a VM that already carries the
 * instance's uuid, delete of a VM that is gone succeeds, power operations
 * that find the state already reached succeed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "ledger.h"
#include "log.h"
#include "netplug/netplug.h"
#include "pgc.h"
#include "vcdriver/vcd_dspath.h"
#include "vcdriver/vcd_pc.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

/* The cluster serving NODE, with its placement (under a->lock). */
struct agent_cluster *
ops_cluster(struct agent *a, const char *node, struct vcd_err *err)
{
	struct agent_cluster *c = NULL;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nclusters; i++)
		if (a->clusters[i].nodename != NULL &&
		    strcmp(a->clusters[i].nodename, node) == 0)
			c = &a->clusters[i];
	if (c != NULL && !c->have_pl) {
		if (vcd_cluster_placement(a->vc, &c->ref, &c->pl, err) == 0)
			c->have_pl = true;
		else
			c = NULL;
	} else if (c == NULL)
		vcd_err_set(err, VCD_E_NOTFOUND, "NodeNotServed", node, "node %s is not "
		    "a cluster this agent serves", node);
	pthread_mutex_unlock(&a->lock);
	return c;
}

int
ops_db_err(struct vcd_err *err, const char *uuid, const char *why)
{
	vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", uuid, "%s", why);
	return -1;
}

/* The instance's VM: the recorded one, else found by its uuid; its
 * datastore into DS (DSLEN may be 0).  DELETING: its row's task_state is
 * set to deleting by the same statement. */
static int
ops_vm_ds(struct agent *a, PGconn *pg, const char *uuid, struct vcd_moref *vm,
    char *ds, size_t dslen, bool deleting, struct vcd_err *err)
{
	char val[64], why[512];
	int rc = (deleting ? ledger_instance_deleting : ledger_instance_vm)(pg, uuid,
	    val, sizeof(val), ds, dslen, why, sizeof(why));

	if (rc < 0)
		return ops_db_err(err, uuid, why);
	if (rc == 1) {
		snprintf(vm->type, sizeof(vm->type), "VirtualMachine");
		snprintf(vm->value, sizeof(vm->value), "%s", val);
		return 0;
	}
	return vcd_vm_find(a->vc, uuid, vm, err);
}

int
ops_vm(struct agent *a, PGconn *pg, const char *uuid, struct vcd_moref *vm,
    struct vcd_err *err)
{
	return ops_vm_ds(a, pg, uuid, vm, NULL, 0, false, err);
}

/*
 * An operation on *VM failed with ERR.  When ERR says the instance's VM is
 * not there (the MoRef is stale, or names a VM with another instance uuid:
 * vcdriver checks it in each operation's first read), look the VM up by the
 * instance's uuid, once (*LOOKED_UP): true with *VM the VM found, recorded
 * in the row, to run the operation again on; false to give up with ERR (the
 * first error when no VM has the uuid, so that it names the MoRef and both
 * uuids).  One FindByUuid call, only on this path.
 */
bool
ops_vm_again(struct agent *a, PGconn *pg, const char *uuid, struct vcd_moref *vm,
    bool *looked_up, struct vcd_err *err)
{
	struct vcd_moref found;
	struct vcd_err ferr;
	char why[512];
	const char *params[2] = { uuid, found.value };
	PGresult *res;

	if (*looked_up || !vcd_err_gone(err))
		return false;
	*looked_up = true;
	vcd_err_clear(&ferr);
	if (vcd_vm_find(a->vc, uuid, &found, &ferr) < 0) {
		if (ferr.code != VCD_E_NOTFOUND)
			*err = ferr;
		return false;
	}
	if (strcmp(found.value, vm->value) == 0)
		return false;
	log_warnx("instance %s: %s: VM %s has its uuid: acting on that one",
	    uuid, vcd_strerror(err, why, sizeof(why)), found.value);
	*vm = found;
	vcd_err_clear(err);
	if ((res = pgc_exec(pg, "UPDATE instances SET vm_moref = $2, updated_at = "
	    "now() WHERE uuid = $1", 2, params, why, sizeof(why), NULL)) != NULL)
		PQclear(res);
	return true;
}

/*
 * The new VM's devices as the flavor, image and configuration ask:
 * quota:disk_io_* on the root disk (its storageIOAllocation), nova's
 * defaults for what is not given, as nova's driver sets them; a video card
 * of hw_video_ram MB; a serial port to vmware.serial_port_service_uri.
 * (quota:vif_* goes on each NIC as netplug makes it.)
 */
static void
ops_dev_specs(struct vim_arena *ar, struct vim_list_VirtualDeviceConfigSpec *dev,
    const struct fl_specs *fl, const struct fl_image *im, const struct cfg *cfg)
{
	struct vcd_alloc dal;
	const struct vcd_alloc *d = fl_alloc(&fl->disk, &dal);

	for (size_t i = 0; d != NULL && i < dev->len; i++) {
		struct vim_VirtualDisk *disk = vim_cast(dev->v[i]->device,
		    &vim_type_VirtualDisk);
		struct vim_StorageIOAllocationInfo *io;
		struct vim_SharesInfo *sh;

		if (disk == NULL)
			continue;
		io = vim_new(ar, &vim_type_StorageIOAllocationInfo);
		sh = vim_new(ar, &vim_type_SharesInfo);
		sh->level = (char *)d->level;
		sh->shares = VIM_INT(d->shares);
		io->limit = VIM_INT(d->limit);
		io->reservation = VIM_INT(d->reservation);
		io->shares = sh;
		disk->storageIOAllocation = io;
	}
	if (im->video_ram_mb > 0) {
		struct vim_VirtualMachineVideoCard *vc =
		    vim_new(ar, &vim_type_VirtualMachineVideoCard);

		vc->base.key = VIM_INT(-200);
		vc->videoRamSizeInKB = VIM_INT((int64_t)im->video_ram_mb * 1024);
		vim_device_change(ar, dev, "add", NULL, &vc->base, false);
	}
	if (cfg->vmware.serial_port_service_uri != NULL) {
		/* nova's: the guest's console to a concentrator, connected at
		 * power-on, the VM the server end */
		struct vim_VirtualSerialPort *sp = vim_new(ar, &vim_type_VirtualSerialPort);
		struct vim_VirtualSerialPortURIBackingInfo *b =
		    vim_new(ar, &vim_type_VirtualSerialPortURIBackingInfo);

		b->base.serviceURI = cfg->vmware.serial_port_service_uri;
		b->base.direction = "server";
		b->base.proxyURI = cfg->vmware.serial_port_proxy_uri;
		sp->base.key = VIM_INT(-201);
		sp->base.backing = &b->base.base;
		sp->yieldOnPoll = VIM_BOOL(true);
		vim_device_change(ar, dev, "add", NULL, &sp->base, true);
	}
}

/*
 * What the image's guest id, firmware and secure boot need of vCenter:
 * vmware_ostype must be a guest id the cluster's hosts know (one call,
 * only when it is given), and the guest must support the firmware and
 * secure boot asked for, where vCenter tells.  *SECURE as vcd_vm_spec's.
 */
static int
ops_guest(struct agent *a, const struct agent_cluster *c, const struct req *r,
    int *secure, struct vcd_err *err)
{
	struct vcd_guest_os g = { "", "", 0, -1 };
	const char *fw = r->image.firmware;

	if (r->image.os_type[0] != '\0' && vcd_guest_os(a->vc, &c->pl.env_browser,
	    c->name, r->image.os_type, &g, err) < 0)
		return -1;
	if (fw[0] != '\0' && g.firmware != 0 &&
	    (g.firmware & (strcmp(fw, "efi") == 0 ? 2 : 1)) == 0) {
		vcd_err_set(err, VCD_E_INVALID, "FirmwareUnsupported", r->image.os_type,
		    "guest id \"%s\" (%s) does not boot with %s firmware "
		    "(image_properties \"hw_firmware_type\")", r->image.os_type,
		    g.full_name, strcmp(fw, "efi") == 0 ? "uefi" : "bios");
		return -1;
	}
	if (r->image.secure_boot == FL_SB_REQUIRED && g.secure_boot == 0) {
		vcd_err_set(err, VCD_E_INVALID, "SecureBootUnsupported", r->image.os_type,
		    "guest id \"%s\" (%s) does not support secure boot "
		    "(image_properties \"os_secure_boot\": \"required\")",
		    r->image.os_type, g.full_name);
		return -1;
	}
	*secure = fl_secure_boot(&r->specs, &r->image, g.secure_boot);
	return 0;
}

/* The config drive, with the VM's NICs (their MACs as vCenter has them,
 * generated ones too) in its network_data.json. */
static int
ops_spawn_drive(struct agent *a, PGconn *pg, struct agent_cluster *c,
    const struct req *r, struct vcd_moref *vm, const char *ds, struct vcd_err *err)
{
	struct np_nic *nics = NULL;
	json_t *list = json_array();
	size_t n = 0;
	int ret = -1;

	if (np_vm_nics(a->vc, vm, &nics, &n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s?, s:s}", "id", nics[i].port_id[0] ?
		    nics[i].port_id : NULL, "mac", nics[i].mac));
	ret = ops_config_drive(a, pg, c, r, vm, ds, list, err);
out:
	free(nics);
	json_decref(list);
	return ret;
}

/*
 * A first attempt at a spawn whose instance row had no VM (the common case)
 * cannot have made one: it goes straight to CreateVM and powers the new VM
 * on without a pre-check, 4 calls.  Any other run first looks for a VM with
 * the instance uuid and adopts it.
 */
static int
ops_spawn(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct vcd_err *err = &op->err;
	struct agent_cluster *c;
	struct ic_place pl;
	struct ic_image img;
	struct vcd_moref vm;
	struct np_network *nets = NULL;
	struct np_port *ports = NULL;
	struct np_mac *macs = NULL;
	struct vcd_err herr;
	char ds[256], pds[256], profile[VCD_PBM_IDLEN], why[512], *copy = NULL;
	const char *adapter;
	struct vcd_alloc vif;
	bool had_vm, fresh = false, retried = false, hit = false, drive;
	int ret = -1, secure = 0;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	drive = r->config_drive || op->cfg->def.force_config_drive;
	if (r->user_data != NULL && !drive) {
		vcd_err_set(err, VCD_E_INVALID, "ConfigDriveRequired", r->instance_uuid,
		    "instance %s: user_data reaches a guest on its config drive: ask for "
		    "one (config_drive: true) or set DEFAULT.force_config_drive",
		    r->instance_uuid);
		return -1;
	}
	/* a guest id vCenter does not know: refused before anything is made */
	if (ops_guest(a, c, r, &secure, err) < 0)
		return -1;
	/* a storage policy picks the datastore, before anything is made */
	if (ops_pbm_place(a, c, r->specs.storage_policy, "the flavor "
	    "(vmware:storage_policy)", op->cfg, pds, sizeof(pds), profile, err) < 0)
		return -1;
	if (agent_cache_place(a, c->name, pds[0] != '\0' ? pds : NULL, &pl, ds,
	    sizeof(ds), err) < 0)
		return -1;
	/*
	 * The instance row, which a purge counts as a user of the image, is
	 * written while a first attempt looks for the image in the cache on
	 * the cache's own connection (one round trip for both).  Either order
	 * keeps the image from a purge: the cache row's use makes it recent,
	 * and a row a purge has marked is no hit (ic_cache_ensure then waits
	 * for the purge and fetches the image again).
	 */
	if (ledger_instance_spawning_send(pg, r, ds, why, sizeof(why)) < 0)
		return ops_db_err(err, r->instance_uuid, why);
	if (attempt == 1 && ic_cache_hit(a->cache, r->image_id, &pl, &img, &herr) == 1)
		hit = true;
	if (ledger_instance_spawning_recv(pg, &had_vm, why, sizeof(why)) < 0)
		return ops_db_err(err, r->instance_uuid, why);
	if (attempt != 1 || had_vm) {
		if (vcd_vm_find(a->vc, r->instance_uuid, &vm, err) == 0) {
			log_info("spawn %s: VM %s already exists (attempt %d): adopting it",
			    r->instance_uuid, vm.value, attempt);
			goto power;
		}
		if (err->code != VCD_E_NOTFOUND)
			goto out;
		vcd_err_clear(err);
	}
again:
	if (!hit && ic_cache_ensure(a->cache, r->image_id, &pl, &img, err) < 0)
		goto out;
	hit = false;	/* a retry (a parent gone) looks again */
	/* vmware_adaptertype in the request's image properties: the root
	 * disk's controller, over the cached disk's own */
	adapter = r->image.adapter[0] != '\0' ? r->image.adapter : img.adapter;
	if (ic_linked_clone(op->cfg->vmware.use_linked_clone, &img)) {
		if (r->root_gb > 0 && ic_cache_ensure_resized(a->cache, &pl, r->root_gb,
		    &img, err) < 0)
			goto out;
		if (ic_root_disk_specs(&ar, img.dspath, adapter, img.capacity_kb, true,
		    NULL, &dev, err) < 0)
			goto out;
	} else {
		copy = xasprintf("[%s] %s/%s.vmdk", ds, r->instance_uuid, r->instance_uuid);
		if (ic_full_copy(a->vc, &c->pl.datacenter, img.dspath, img.capacity_kb, copy,
		    r->root_gb, err) < 0)
			goto parent;
		if (ic_root_disk_specs(&ar, img.dspath, adapter, r->root_gb > 0 ?
		    (int64_t)r->root_gb << 20 : img.capacity_kb, false, copy, &dev, err) < 0)
			goto out;
	}
	if (r->nports > 0) {
		struct np_config npc = { op->cfg->vmware.vlan_interface,
		    op->cfg->vmware.integration_bridge };
		ports = xcalloc(r->nports, sizeof(*ports));
		nets = xcalloc(r->nports, sizeof(*nets));
		macs = xcalloc(r->nports, sizeof(*macs));
		for (size_t i = 0; i < r->nports; i++)
			ports[i] = (struct np_port){ r->ports[i].network[0] ?
			    r->ports[i].network : NULL, r->ports[i].vlan, r->ports[i].mac[0] ?
			    r->ports[i].mac : NULL, r->ports[i].id[0] ? r->ports[i].id : NULL,
			    r->image.vif_model[0] ? r->image.vif_model : NULL, NULL,
			    fl_alloc(&r->specs.vif, &vif) };
		if (np_resolve(a->vc, &c->ref, &npc, ports, r->nports, nets, err) < 0 ||
		    np_nic_specs(&ar, ports, nets, r->nports, r->image.os_type[0] ?
		    r->image.os_type : NULL, 0, -300, &dev, &extra, macs, err) < 0)
			goto out;
	}
	if (ops_vnc_spawn(op->cfg, pg, r->instance_uuid, &ar, &extra, err) < 0)
		goto out;
	ops_dev_specs(&ar, &dev, &r->specs, &r->image, op->cfg);
	{
		struct vcd_alloc ca, ma;
		struct vcd_vm_spec vs = {
			.name = r->instance_uuid, .instance_uuid = r->instance_uuid,
			.guest_id = r->image.os_type[0] ? r->image.os_type : NULL,
			.firmware = r->image.firmware[0] ? r->image.firmware : NULL,
			.secure_boot = secure,
			.boot_delay_ms = fl_boot_menu(&r->specs, &r->image) ?
			    FL_BOOT_MENU_DELAY_MS : 0,
			.vcpus = r->vcpus,
			.cores_per_socket = r->specs.cores_per_socket,
			.hw_version = r->specs.hw_version[0] ? r->specs.hw_version : NULL,
			.cpu_alloc = fl_alloc(&r->specs.cpu, &ca),
			.mem_alloc = fl_alloc(&r->specs.mem, &ma),
			.memory_mb = r->memory_mb, .datastore = ds,
			.folder = c->pl.folder, .pool = c->pl.pool,
			.host = { "", "" }, .devices = &dev,
			.extra = &extra,
			.profile_id = profile[0] != '\0' ? profile : NULL,
		};
		if (vcd_vm_create(a->vc, &vs, &vm, err) < 0)
			goto parent;
		fresh = true;
	}
	/*
	 * The new VM is not recorded before it is powered on: its row says
	 * spawning, and whoever finds no VM recorded looks it up by the
	 * instance uuid (a crash here: the spawn again adopts it, a delete
	 * finds it).  Its end records it, in the end's own transaction.
	 */
power:
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if (drive && ops_spawn_drive(a, pg, c, r, &vm, ds, err) < 0)
		goto out;
	if ((fresh ? vcd_vm_power_on_created(a->vc, &vm, err) :
	    vcd_vm_power_on(a->vc, &vm, r->instance_uuid, err)) < 0 &&
	    strcmp(err->fault, "InvalidPowerState") != 0)
		goto out;
	vcd_err_clear(err);
	op->vm_state = "active";
	op->power_state = "running";
	op->inst = (struct ledger_inst){ r->instance_uuid, op->vm, op->vm_state,
	    op->power_state, false };
	ret = 0;
	goto out;
parent:
	/* the cached disk went missing behind the cache's back: once more */
	if (!retried && strcmp(err->fault, "FileNotFound") == 0) {
		char msg[800];

		log_warnx("spawn %s: %s: looking for image %s in the cache again",
		    r->instance_uuid, vcd_strerror(err, msg, sizeof(msg)), r->image_id);
		retried = true;
		ic_cache_suspect(a->cache, &img);
		vim_arena_free(&ar);
		dev = (struct vim_list_VirtualDeviceConfigSpec){ NULL, 0 };
		extra = (struct vim_list_OptionValue){ NULL, 0 };
		free(copy);
		free(ports);
		free(nets);
		free(macs);
		copy = NULL, ports = NULL, nets = NULL, macs = NULL;
		vcd_err_clear(err);
		goto again;
	}
out:
	if (ret < 0 && pgc_broken(pg) == false)
		(void)ledger_instance_state(pg, r->instance_uuid, op->vm[0] != '\0' ?
		    op->vm : NULL, "error", NULL, NULL, why, sizeof(why));
	free(copy);
	free(ports);
	free(nets);
	free(macs);
	vim_arena_free(&ar);
	return ret;
}

static int
ops_delete(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct agent_cluster *c;
	struct vcd_moref vm;
	char ds[256], folder[600];
	bool looked_up = false;
	int ret = -1;

	if ((c = ops_cluster(a, r->node, err)) == NULL)
		return -1;
	/* its row says deleting from here on, until it is deleted */
	if (ops_vm_ds(a, pg, r->instance_uuid, &vm, ds, sizeof(ds), true, err) < 0) {
		if (err->code != VCD_E_NOTFOUND)
			goto out;
		goto gone;
	}
again:
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	/* as nova: its volumes are detached first, their files kept */
	if (ops_volumes_release(a, pg, r->instance_uuid, &vm, err) < 0)
		goto out;
	if (vcd_vm_delete(a->vc, &vm, r->instance_uuid, &c->pl.datacenter, folder,
	    sizeof(folder), err) < 0) {
		if (!vcd_err_gone(err))
			goto out;
		/*
		 * the recorded VM is gone, or is another instance's (a MoRef
		 * given again); another may carry the uuid (re-registered)
		 */
		if (ops_vm_again(a, pg, r->instance_uuid, &vm, &looked_up, err))
			goto again;
		if (!vcd_err_gone(err))
			goto out;
		if (strcmp(err->fault, "InstanceUuidMismatch") == 0) {
			char msg[800];

			log_warnx("delete %s: %s; no VM has the uuid", r->instance_uuid,
			    vcd_strerror(err, msg, sizeof(msg)));
		}
		goto gone;
	}
	log_info("delete %s: VM %s unregistered, %s removed", r->instance_uuid,
	    vm.value, folder);
	goto done;
gone:
	/* no VM: what a crash after UnregisterVM, or a failed spawn, left */
	vcd_err_clear(err);
	if (ops_volumes_release(a, pg, r->instance_uuid, NULL, err) < 0)
		goto out;
	log_info("delete %s: no VM (gone already)", r->instance_uuid);
	if (ds[0] != '\0') {
		snprintf(folder, sizeof(folder), "[%s] %s", ds, r->instance_uuid);
		if (vcd_ds_delete(a->vc, &c->pl.datacenter, folder, err) < 0 &&
		    strcmp(err->fault, "FileNotFound") != 0)
			goto out;
		vcd_err_clear(err);
	}
done:
	op->vm_state = "deleted";
	op->power_state = "nostate";
	op->inst = (struct ledger_inst){ r->instance_uuid, NULL, NULL, NULL, true };
	ret = 0;
out:
	return ret;
}

static int
ops_power(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vcd_moref vm;
	const char *power = NULL, *state = NULL, *u = r->instance_uuid;
	bool looked_up = false;
	int rc;

	if (ops_vm(a, pg, r->instance_uuid, &vm, err) < 0)
		return -1;
again:
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	switch (r->type) {
	case REQ_POWER_ON:
	case REQ_RESUME:
		rc = vcd_vm_power_on(a->vc, &vm, u, err);
		power = "running", state = "active";
		break;
	case REQ_POWER_OFF:
		rc = r->hard ? vcd_vm_power_off(a->vc, &vm, u, err) :
		    vcd_vm_shutdown(a->vc, &vm, u, r->timeout, true, err);
		power = "shutdown", state = "stopped";
		break;
	case REQ_REBOOT:
		rc = vcd_vm_reboot(a->vc, &vm, u, r->hard, r->timeout, err);
		power = "running", state = "active";
		break;
	case REQ_SUSPEND:
		rc = vcd_vm_suspend(a->vc, &vm, u, err);
		power = "suspended", state = "suspended";
		break;
	default:
		vcd_err_set(err, VCD_E_INVALID, "NotImplemented", r->request_id,
		    "%s is not carried out by this agent yet", req_type_name(r->type));
		return -1;
	}
	if (rc < 0 && ops_vm_again(a, pg, u, &vm, &looked_up, err))
		goto again;
	/*
	 * InvalidPowerState from PowerOnVM_Task (power_on, resume) means the VM
	 * is on, and from a power-off that it is off: the state asked for,
	 * reached already (a run again after a crash), so done.  For a reboot
	 * or a suspend it means the VM is in a state the request cannot start
	 * from (a powered-off VM rebooted): a failure, the row left as it is.
	 */
	if (rc < 0 && (strcmp(err->fault, "InvalidPowerState") != 0 ||
	    (r->type != REQ_POWER_ON && r->type != REQ_RESUME &&
	    r->type != REQ_POWER_OFF)))
		return -1;
	vcd_err_clear(err);
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	op->power_state = power;
	op->vm_state = state;
	op->inst = (struct ledger_inst){ r->instance_uuid, op->vm, state, power, false };
	return 0;
}

const char *
ops_state_name(const char *state)
{
	static const char *const known[] = { "running", "shutdown", "suspended",
	    "nostate", "active", "stopped", "building", "error", "deleted",
	    "resized", "rescued" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i], state) == 0)
			return known[i];
	return NULL;
}

/* To another cluster (its root pool, where DRS places the VM) or to one of
 * its hosts by name; live when the VM is on. */
static int
ops_migrate_run(struct agent *a, PGconn *pg, const struct req *r,
    struct agent_op *op, struct vcd_disk_locator **locs)
{
	struct vcd_err *err = &op->err;
	struct agent_cluster *dest;
	struct vcd_relocate rl;
	struct vcd_moref vm;
	PGresult *res;
	char why[512], kind[8] = "cold";
	const char *power = NULL, *state = NULL;
	bool looked_up = false;
	/* uuid, request, source, destination, kind, host */
	const char *params[6] = { r->instance_uuid, r->request_id, r->node, r->dest_node,
	    kind, r->dest_host[0] != '\0' ? r->dest_host : NULL };

	if ((dest = ops_cluster(a, r->dest_node, err)) == NULL)
		return -1;
	/* an unconfirmed resize's old disk stays where it is: not moved */
	if (ops_resize_pending(pg, r, err) < 0)
		return -1;
	memset(&rl, 0, sizeof(rl));
	rl.pool = dest->pl.pool;
	if (r->dest_host[0] != '\0' && vcd_cluster_host(a->vc, &dest->ref, r->dest_host,
	    &rl.host, err) < 0)
		return -1;
	if (ops_vm(a, pg, r->instance_uuid, &vm, err) < 0)
		return -1;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if ((res = pgc_exec(pg, "SELECT power_state, vm_state FROM instances WHERE "
	    "uuid = $1", 1, params, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, r->instance_uuid, why);
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), "running") == 0)
			snprintf(kind, sizeof(kind), "live");
		/* a move keeps them: the succeeded event says what they are */
		power = ops_state_name(PQgetvalue(res, 0, 0));
		state = ops_state_name(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	if ((res = pgc_exec(pg, "INSERT INTO migrations (instance_uuid, request_id, "
	    "source_node, dest_node, kind, dest_host) VALUES ($1, $2, $3, $4, $5, $6)",
	    6, params, why, sizeof(why), NULL)) == NULL)
		return ops_db_err(err, r->instance_uuid, why);
	PQclear(res);
	(void)ledger_instance_state(pg, r->instance_uuid, NULL, NULL, NULL, "migrating",
	    why, sizeof(why));
	/* its volumes move with it, each named, on its own datastore */
	if (ops_volume_locators(a, pg, r->instance_uuid, &vm, locs, &rl.ndisks,
	    err) < 0)
		return -1;
	rl.disks = *locs;
	while (vcd_vm_relocate(a->vc, &vm, r->instance_uuid, &rl, err) < 0) {
		if (ops_vm_again(a, pg, r->instance_uuid, &vm, &looked_up, err)) {
			snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
			continue;
		}
		if ((res = pgc_exec(pg, "UPDATE migrations SET status = 'failed', "
		    "updated_at = now() WHERE request_id = $1", 1, &params[1], why,
		    sizeof(why), NULL)) != NULL)
			PQclear(res);
		(void)ledger_instance_state(pg, r->instance_uuid, NULL, NULL, NULL, NULL,
		    why, sizeof(why));
		return -1;
	}
	/*
	 * The event says the power state the VM has, read from vCenter: the
	 * row's may be none the agent knows (a spawn that ended in error left
	 * "nostate" over a VM that is there), and a move keeps the VM's.
	 */
	{
		char ps[16];
		struct vcd_err perr;

		if (vcd_vm_power_state(a->vc, &vm, ps, sizeof(ps), &perr) == 0)
			power = agent_power_name(ps);
		else if (power == NULL || strcmp(power, "nostate") == 0)
			power = NULL;	/* not known: not said */
	}
	{
		const char *moved[4] = { r->instance_uuid, r->dest_node,
		    r->dest_host[0] != '\0' ? r->dest_host : NULL, power };
		if ((res = pgc_exec(pg, "UPDATE instances SET node = $2, host = $3, "
		    "power_state = coalesce($4, power_state), task_state = NULL, "
		    "updated_at = now() WHERE uuid = $1", 4, moved, why, sizeof(why),
		    NULL)) == NULL)
			return ops_db_err(err, r->instance_uuid, why);
		PQclear(res);
	}
	if ((res = pgc_exec(pg, "UPDATE migrations SET status = 'done', updated_at = "
	    "now() WHERE request_id = $1", 1, &params[1], why, sizeof(why), NULL)) != NULL)
		PQclear(res);
	log_info("instance %s moved to %s%s%s (%s migration)", r->instance_uuid,
	    dest->name, r->dest_host[0] != '\0' ? ", host " : "", r->dest_host, kind);
	op->power_state = power;
	op->vm_state = state;
	return 0;
}

static int
ops_migrate(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_disk_locator *locs = NULL;
	int ret = ops_migrate_run(a, pg, r, op, &locs);

	free(locs);
	return ret;
}

int
ops_row_props(PGconn *pg, const char *u, struct fl_specs *specs, struct fl_image *im,
    struct vcd_err *err)
{
	const char *params[1] = { u };
	char why[512];
	PGresult *res;
	json_t *fl = NULL, *ip = NULL;

	memset(specs, 0, sizeof(*specs));
	memset(im, 0, sizeof(*im));
	if ((res = pgc_exec(pg, "SELECT flavor::text, image_properties::text FROM "
	    "instances WHERE uuid = $1 AND deleted_at IS NULL", 1, params, why,
	    sizeof(why), NULL)) == NULL)
		return ops_db_err(err, u, why);
	if (PQntuples(res) == 1) {
		fl = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		ip = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	}
	PQclear(res);
	if (fl_parse(json_object_get(fl, "extra_specs"), (int)json_integer_value(
	    json_object_get(fl, "vcpus")), specs, why, sizeof(why), "") < 0)
		memset(specs, 0, sizeof(*specs));
	if (fl_image_parse(ip, im, why, sizeof(why), "") < 0)
		memset(im, 0, sizeof(*im));
	json_decref(fl);
	json_decref(ip);
	return 0;
}

/* attach_interface / detach_interface: one port, hot when the VM is on. */
static int
ops_interface(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct agent_cluster *c;
	struct vcd_moref vm;
	struct fl_specs specs;
	struct fl_image im;
	struct vcd_alloc vif;
	PGresult *res;
	char why[512];
	bool looked_up = false;
	int ret;

	if ((c = ops_cluster(a, r->node, err)) == NULL ||
	    ops_vm(a, pg, r->instance_uuid, &vm, err) < 0)
		return -1;
	if (r->type == REQ_ATTACH_INTERFACE &&
	    ops_row_props(pg, r->instance_uuid, &specs, &im, err) < 0)
		return -1;
again:
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	if (r->type == REQ_ATTACH_INTERFACE) {
		struct np_config npc = { op->cfg->vmware.vlan_interface,
		    op->cfg->vmware.integration_bridge };
		struct np_port p = { r->port.network[0] ? r->port.network : NULL,
		    r->port.vlan, r->port.mac[0] ? r->port.mac : NULL,
		    r->port.id[0] ? r->port.id : NULL, im.vif_model[0] ? im.vif_model :
		    NULL, NULL, fl_alloc(&specs.vif, &vif) };
		struct np_nic added;
		json_t *pj = json_object_get(r->raw, "port");
		char *ptext = json_dumps(pj, JSON_COMPACT);
		const char *params[2] = { r->instance_uuid, ptext };

		if ((ret = np_attach(a->vc, &c->ref, &npc, &vm, r->instance_uuid, &p,
		    im.os_type[0] ? im.os_type : NULL, &added, err)) < 0 && ops_vm_again(a, pg, r->instance_uuid, &vm,
		    &looked_up, err)) {
			free(ptext);
			goto again;
		}
		if (ret == 0) {
			/* the port as attached, with its MAC, appended to the row's ports */
			json_t *stored = json_deep_copy(pj);
			json_object_set_new(stored, "mac", json_string(added.mac));
			free(ptext);
			ptext = json_dumps(stored, JSON_COMPACT);
			params[1] = ptext;
			json_decref(stored);
			if ((res = pgc_exec(pg, "UPDATE instances SET ports = ports || "
			    "jsonb_build_array($2::jsonb), updated_at = now() WHERE uuid = $1",
			    2, params, why, sizeof(why), NULL)) == NULL)
				ret = ops_db_err(err, r->instance_uuid, why);
			PQclear(res);
		}
		free(ptext);
		return ret;
	}
	/* detach: by the port's id, or by its MAC */
	if ((ret = np_detach(a->vc, &vm, r->instance_uuid, r->port.id[0] ? r->port.id :
	    r->port.mac, err)) < 0 && ops_vm_again(a, pg, r->instance_uuid, &vm,
	    &looked_up, err))
		goto again;
	if (ret == 0) {
		const char *params[2] = { r->instance_uuid, r->port.id[0] ? r->port.id :
		    r->port.mac };
		if ((res = pgc_exec(pg, "UPDATE instances SET ports = coalesce((SELECT "
		    "jsonb_agg(p) FROM jsonb_array_elements(ports) p WHERE coalesce(p->>'id', "
		    "'') <> $2 AND coalesce(p->>'mac', '') <> $2), '[]'::jsonb), updated_at = "
		    "now() WHERE uuid = $1", 2, params, why, sizeof(why), NULL)) == NULL)
			ret = ops_db_err(err, r->instance_uuid, why);
		PQclear(res);
	}
	return ret;
}

static int
ops_prefetch(struct agent *a, const struct req *r, struct agent_op *op)
{
	struct agent_cluster *c;
	struct ic_image img;

	if ((c = ops_cluster(a, r->node, &op->err)) == NULL)
		return -1;
	return agent_cache_prefetch(a, r->image_id, c->name, r->datastore[0] ?
	    r->datastore : NULL, &img, &op->err);
}

void
agent_op_done(struct agent_op *op)
{
	json_decref(op->detail);
	op->detail = NULL;
}

int
agent_op_run(struct agent *a, PGconn *pg, const struct req *r, int attempt,
    struct agent_op *op)
{
	struct cfg *cfg;
	int ret;

	memset(op, 0, sizeof(*op));
	vcd_err_clear(&op->err);
	op->cfg = cfg = agent_cfg_get(a);	/* this run's live options */
	switch (r->type) {
	case REQ_SPAWN:
		ret = ops_spawn(a, pg, r, attempt, op);
		break;
	case REQ_DELETE:
		ret = ops_delete(a, pg, r, op);
		break;
	case REQ_PREFETCH:
		ret = ops_prefetch(a, r, op);
		break;
	case REQ_MIGRATE:
		ret = ops_migrate(a, pg, r, op);
		break;
	case REQ_ATTACH_INTERFACE:
	case REQ_DETACH_INTERFACE:
		ret = ops_interface(a, pg, r, op);
		break;
	case REQ_RESIZE:
		ret = ops_resize(a, pg, r, op);
		break;
	case REQ_RESIZE_CONFIRM:
	case REQ_RESIZE_REVERT:
		ret = ops_resize_end(a, pg, r, attempt, op);
		break;
	case REQ_RESCUE:
	case REQ_UNRESCUE:
		ret = ops_rescue(a, pg, r, attempt, op);
		break;
	case REQ_SNAPSHOT_IMAGE:
		ret = ops_snapshot_image(a, pg, r, attempt, op);
		break;
	case REQ_ATTACH_VOLUME:
	case REQ_DETACH_VOLUME:
	case REQ_VOLUME_CREATE:
	case REQ_VOLUME_DELETE:
		ret = ops_volume(a, pg, r, attempt, op);
		break;
	case REQ_SNAPSHOT_CREATE:
	case REQ_SNAPSHOT_REVERT:
	case REQ_SNAPSHOT_DELETE:
		ret = ops_snapshot(a, pg, r, attempt, op);
		break;
	case REQ_GET_INFO:
	case REQ_GET_DIAGNOSTICS:
		ret = ops_info(a, pg, r, op);
		break;
	case REQ_GET_CONSOLE:
		ret = ops_console(a, pg, r, op);
		break;
	default:
		ret = ops_power(a, pg, r, op);
		break;
	}
	op->cfg = NULL;
	agent_cfg_put(cfg);
	return ret;
}
