/*
 * ops_info.c - get_info and get_diagnostics: what an instance's VM is and
 * does, read from vCenter in one call (vcd_vm_inspect), as nova's driver
 * returns them (doc/requests.md).  Read only: nothing is changed, and the
 * request runs again as it ran.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "log.h"

/* vCenter's power state as the instance rows name it; nostate when it
 * gave none. */
static const char *
ops_info_power(const char *p)
{
	return p[0] != '\0' ? agent_power_name(p) : "nostate";
}

/* A comma-separated list as a JSON array. */
static json_t *
ops_info_list(const char *csv)
{
	json_t *l = json_array();
	char *dup = strdup(csv), *save = NULL;

	for (char *t = strtok_r(dup, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
		json_array_append_new(l, json_string(t));
	free(dup);
	return l;
}

/* A number, or null when vCenter has none (-1). */
static json_t *
ops_info_num(int64_t n)
{
	return n >= 0 ? json_integer(n) : json_null();
}

static json_t *
ops_info_json(const struct vcd_vm_detail *d)
{
	json_t *disks = json_array(), *nics = json_array(), *ips = json_array(), *j;

	for (size_t i = 0; i < d->ndisks; i++)
		json_array_append_new(disks, json_pack("{s:i, s:s, s:s, s:o, s:s, s:b}",
		    "key", d->disks[i].key, "label", d->disks[i].label, "file",
		    d->disks[i].file, "capacity_kb", ops_info_num(d->disks[i].capacity_kb),
		    "mode", d->disks[i].mode, "linked_clone", d->disks[i].linked));
	for (size_t i = 0; i < d->nnics; i++) {
		json_t *l = ops_info_list(d->nics[i].ips);
		size_t k;
		json_t *ip;

		json_array_foreach(l, k, ip)
			json_array_append(ips, ip);
		json_array_append_new(nics, json_pack("{s:i, s:s, s:s, s:s, s:b, s:s, "
		    "s:o}", "key", d->nics[i].key, "label", d->nics[i].label, "model",
		    d->nics[i].type, "mac", d->nics[i].mac, "connected", d->nics[i].connected,
		    "network", d->nics[i].network, "ip_addresses", l));
	}
	if (json_array_size(ips) == 0 && d->ip[0] != '\0')
		json_array_append_new(ips, json_string(d->ip));
	j = json_pack("{s:s, s:o, s:o, s:o, s:s, s:s, s:{s:s, s:s?, s:o}, s:o, s:o}",
	    "power_state", ops_info_power(d->power), "vcpus", ops_info_num(d->vcpus),
	    "cores_per_socket", ops_info_num(d->cores_per_socket), "memory_mb",
	    ops_info_num(d->memory_mb), "guest_id", d->guest_id, "hw_version",
	    d->version, "guest", "tools", d->tools[0] ? d->tools : "unknown",
	    "hostname", d->hostname[0] ? d->hostname : NULL, "ip_addresses", ips,
	    "disks", disks, "nics", nics);
	return j;
}

/* nova's Diagnostics, as its VMware driver fills them, and vCenter's
 * quick statistics besides. */
static json_t *
ops_diag_json(const struct vcd_vm_detail *d)
{
	json_t *disks = json_array(), *nics = json_array();

	for (size_t i = 0; i < d->ndisks; i++)
		json_array_append_new(disks, json_pack("{s:s, s:o}", "id", d->disks[i].label,
		    "capacity_kb", ops_info_num(d->disks[i].capacity_kb)));
	for (size_t i = 0; i < d->nnics; i++)
		json_array_append_new(nics, json_pack("{s:s}", "mac_address", d->nics[i].mac));
	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:i, s:i, s:o, s:o, s:{s:o, "
	    "s:o}, s:o, s:o, s:o, s:s?}", "state", ops_info_power(d->power), "driver",
	    "vcagent", "hypervisor_os", "esxi", "uptime", ops_info_num(d->uptime_s),
	    "config_drive", 0, "num_cpus", ops_info_num(d->vcpus), "num_nics",
	    (int)d->nnics, "num_disks", (int)d->ndisks, "cpu_usage_mhz",
	    ops_info_num(d->cpu_usage_mhz), "max_cpu_mhz", ops_info_num(d->max_cpu_mhz),
	    "memory_details", "maximum", ops_info_num(d->memory_mb), "used",
	    ops_info_num(d->guest_memory_mb), "host_memory_mb",
	    ops_info_num(d->host_memory_mb), "nic_details", nics, "disk_details", disks,
	    "boot_time", d->boot_time[0] ? d->boot_time : NULL);
}

int
ops_info(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vcd_vm_detail d;
	struct vcd_moref vm;
	bool looked_up = false;

	if (ops_vm(a, pg, r->instance_uuid, &vm, err) < 0)
		return -1;
	while (vcd_vm_inspect(a->vc, &vm, r->instance_uuid, &d, err) < 0)
		if (!ops_vm_again(a, pg, r->instance_uuid, &vm, &looked_up, err))
			return -1;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	op->power_state = ops_info_power(d.power);
	if (r->type == REQ_GET_DIAGNOSTICS)
		op->detail_key = "diagnostics", op->detail = ops_diag_json(&d);
	else
		op->detail_key = "info", op->detail = ops_info_json(&d);
	vcd_vm_detail_free(&d);
	log_debug("instance %s: %s of VM %s read", r->instance_uuid,
	    req_type_name(r->type), vm.value);
	return 0;
}
