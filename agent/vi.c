/*
 * vi.c - vcagent-vi: run vcdriver's operations by hand against a vCenter,
 * for operators and tests.  It reads vcagent's own configuration file, so it
 * uses the same vCenter, credentials (from the same secret sources) and TLS
 * settings as the agent.
 *
 *   vcagent-vi [-d] [-c FILE] COMMAND [ARGS...]
 *
 * A VM is named by its MoRef ("vm-42" or "VirtualMachine:vm-42"), its
 * instance uuid, or its name.  Exit 0 on success, 1 on failure with the
 * vCenter fault type and the object involved.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "cfg.h"
#include "log.h"
#include "netplug/netplug.h"
#include "vcdriver/vcdriver.h"
#include "vcdriver/vcd_pc.h"

#ifndef VCAGENT_CONF
#define VCAGENT_CONF "/etc/vcagent/vcagent.yaml"
#endif

static void
vi_usage(FILE *out)
{
	fprintf(out,
	    "usage: vcagent-vi [-d] [-c file] command [args]\n"
	    "commands:\n"
	    "  about                      the vCenter's product, version and instance\n"
	    "  clusters                   clusters and their resources\n"
	    "  vms                        every VM: MoRef, power state, host, uuid, name\n"
	    "  networks                   each cluster's networks: kind, VLAN, name, ids\n"
	    "  find UUID                  the VM with this instance uuid\n"
	    "  info VM                    its configuration: one \"property<TAB>value\" a line\n"
	    "  snapshots VM               its snapshot tree: id, parent, name, state, time\n"
	    "  volumes VM                 its disks: key, controller:unit, mode, MB, First\n"
	    "                             Class Disk id (- if none), file\n"
	    "  export VM FILE             its first disk, streamOptimized, through an export\n"
	    "                             lease (the VM off); FILE - : standard output\n"
	    "  host CLUSTER NAME          the MoRef of the cluster's host NAME\n"
	    "  power-on VM | power-off VM | suspend VM | reset VM | destroy VM\n"
	    "  unregister VM              remove it from the inventory, keep its files\n"
	    "  shutdown VM [SECONDS]      soft power off through the guest (default 60 s)\n"
	    "  reboot VM [hard]           soft reboot through the guest, or a reset\n"
	    "  relocate VM HOST|POOL|DATASTORE...  migrate (MoRefs as Type:value)\n"
	    "  create NAME UUID VCPUS MEMORY_MB DATASTORE FOLDER POOL [HOST]\n"
	    "VM is a MoRef (vm-42 or VirtualMachine:vm-42), an instance uuid or a name.\n");
}

struct vi_export_ctx {
	FILE		*out;
	int64_t		 done;
};

static ssize_t
vi_export_write(char *buf, size_t len, void *arg)
{
	struct vi_export_ctx *x = arg;

	if (fwrite(buf, 1, len, x->out) != len)
		return -1;
	x->done += (int64_t)len;
	return (ssize_t)len;
}

/* export VM FILE: its first disk through an export lease. */
static int
vi_export(struct vcd_session *s, const struct vcd_moref *vm, const char *file,
    struct vcd_err *err)
{
	struct vcd_nfc_lease l;
	struct vi_export_ctx x = { NULL, 0 };
	int ret = -1;

	if (strcmp(file, "-") == 0)
		x.out = stdout;
	else if ((x.out = fopen(file, "wb")) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, file, "cannot write %s: %s", file,
		    strerror(errno));
		return -1;
	}
	if (vcd_nfc_export(s, vm, &l, err) < 0)
		goto out;
	/* the size is the server's to tell: progress reports say 50% */
	if (vcd_nfc_get(s, &l, 0, vi_export_write, &x, err) < 0) {
		vcd_nfc_abort(s, &l);
		goto out;
	}
	if (vcd_nfc_complete(s, &l, err) < 0)
		goto out;
	fprintf(stderr, "vcagent-vi: %s: %lld bytes exported\n", vm->value,
	    (long long)x.done);
	ret = 0;
out:
	if (x.out != NULL && x.out != stdout && fclose(x.out) != 0 && ret == 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, file, "cannot write %s: %s", file,
		    strerror(errno));
		ret = -1;
	}
	return ret;
}

static int
vi_parse_moref(const char *s, const char *deftype, struct vcd_moref *m)
{
	const char *colon = strchr(s, ':');

	memset(m, 0, sizeof(*m));
	if (colon != NULL) {
		if ((size_t)(colon - s) >= sizeof(m->type) ||
		    strlen(colon + 1) >= sizeof(m->value))
			return -1;
		memcpy(m->type, s, (size_t)(colon - s));
		strcpy(m->value, colon + 1);
	} else {
		if (strlen(s) >= sizeof(m->value))
			return -1;
		snprintf(m->type, sizeof(m->type), "%s", deftype);
		strcpy(m->value, s);
	}
	return m->value[0] != '\0' ? 0 : -1;
}

/* A VM by MoRef value, instance uuid or name. */
/* A VM's configuration, as vCenter reports it: the paths below, each on a
 * line with its value ("-" when vCenter has none). */
static char *vi_info_paths[] = { "name", "config.instanceUuid", "runtime.powerState",
    "config.version", "config.guestId", "config.firmware", "guest.toolsRunningStatus",
    "guest.hostName", "config.hardware.numCPU",
    "config.hardware.numCoresPerSocket", "config.hardware.memoryMB",
    "config.cpuAllocation.limit", "config.cpuAllocation.reservation",
    "config.cpuAllocation.shares.level", "config.cpuAllocation.shares.shares",
    "config.memoryAllocation.limit", "config.memoryAllocation.reservation",
    "config.memoryAllocation.shares.level", "config.memoryAllocation.shares.shares" };

static int
vi_info_one(void *arg, const struct vim_ObjectContent *oc)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(vi_info_paths) / sizeof(vi_info_paths[0]); i++) {
		const char *v = vcd_pc_str(oc, vi_info_paths[i]);
		printf("%s\t%s\n", vi_info_paths[i], v != NULL ? v : "-");
	}
	return 0;
}

static int
vi_info(struct vcd_session *s, const struct vcd_moref *vm, struct vcd_err *err)
{
	return vcd_pc_retrieve_one(s, vm, "VirtualMachine", vi_info_paths,
	    sizeof(vi_info_paths) / sizeof(vi_info_paths[0]), vi_info_one, NULL, err);
}

/* Every disk of the VM, one a line. */
static int
vi_volumes_one(void *arg, const struct vim_ObjectContent *oc)
{
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");

	(void)arg;
	for (size_t i = 0; devs != NULL && devs->kind == VA_ARRAY && i < devs->nitems; i++) {
		const struct vim_VirtualDisk *d;
		const struct vim_VirtualDiskFlatVer2BackingInfo *b;

		if (devs->items[i]->kind != VA_OBJ ||
		    (d = vim_cast(devs->items[i]->obj, &vim_type_VirtualDisk)) == NULL)
			continue;
		b = vim_cast(d->base.backing, &vim_type_VirtualDiskFlatVer2BackingInfo);
		printf("%lld\t%lld:%lld\t%s\t%lld\t%s\t%s\n", (long long)d->base.key.v,
		    (long long)d->base.controllerKey.v, (long long)d->base.unitNumber.v,
		    b != NULL && b->diskMode != NULL ? b->diskMode : "-",
		    (long long)(d->capacityInKB.v / 1024), d->vDiskId != NULL &&
		    d->vDiskId->id != NULL ? d->vDiskId->id : "-", b != NULL &&
		    b->base.fileName != NULL ? b->base.fileName : "-");
	}
	return 0;
}

static int
vi_resolve_vm(struct vcd_session *s, const char *arg, struct vcd_moref *vm,
    struct vcd_err *err)
{
	struct vcd_vm_info *v = NULL;
	size_t n = 0;
	int ret = -1;

	if (vcd_vm_find(s, arg, vm, err) == 0)
		return 0;
	if (err->code != VCD_E_NOTFOUND)
		return -1;
	if (vcd_vm_list(s, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, arg) == 0 || strcmp(v[i].ref.value, arg) == 0 ||
		    (strchr(arg, ':') != NULL && strcmp(strchr(arg, ':') + 1,
		    v[i].ref.value) == 0)) {
			*vm = v[i].ref;
			ret = 0;
			break;
		}
	if (ret < 0) {
		memset(err, 0, sizeof(*err));
		err->code = VCD_E_NOTFOUND;
		snprintf(err->object, sizeof(err->object), "%s", arg);
		snprintf(err->msg, sizeof(err->msg), "no virtual machine is called, "
		    "or has the MoRef or instance uuid, \"%s\"", arg);
	}
	vcd_vm_list_free(v);
	return ret;
}

static int
vi_clusters(struct vcd_session *s, const struct cfg *cfg, struct vcd_err *err)
{
	struct vcd_cluster *cl = NULL;
	size_t n = 0;

	if (vcd_clusters_list(s, &cl, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct vcd_resources r;

		if (vcd_cluster_resources(s, &cl[i].ref, cfg->vmware.datastore_regex,
		    &r, err) < 0) {
			vcd_clusters_free(cl, n);
			return -1;
		}
		printf("%s\t%s\tnode=%s\thosts=%d/%d\tvcpus=%lld\tmemory_mb=%lld"
		    "\tmemory_mb_used=%lld\tdisk_gb=%lld\tdisk_free_gb=%lld"
		    "\tdatastores=%d/%d\n", cl[i].ref.value, cl[i].name, r.nodename,
		    r.hosts_usable, r.hosts_total, (long long)r.vcpus,
		    (long long)r.memory_mb, (long long)r.memory_mb_used,
		    (long long)(r.disk_total_bytes >> 30),
		    (long long)(r.disk_free_bytes >> 30), r.datastores_usable,
		    r.datastores_total);
		if (r.datastores_regex_errors > 0)
			fprintf(stderr, "vcagent-vi: %s: vmware.datastore_regex could "
			    "not be matched against %d datastore name(s), not used "
			    "(%s)\n", cl[i].name, r.datastores_regex_errors,
			    r.regex_error);
	}
	vcd_clusters_free(cl, n);
	return 0;
}

static int
vi_networks(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_cluster *cl = NULL;
	size_t n = 0;
	int ret = -1;

	if (vcd_clusters_list(s, &cl, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct np_network *nets = NULL;
		size_t nn = 0;

		if (np_networks_list(s, &cl[i].ref, &nets, &nn, err) < 0)
			goto out;
		for (size_t j = 0; j < nn; j++) {
			const struct np_network *w = &nets[j];
			char vlan[16] = "-";

			if (w->kind == NP_NET_STANDARD && w->vlan >= 0)
				snprintf(vlan, sizeof(vlan), "%d", w->vlan);
			printf("%s\t%s\tvlan=%s\t%s", cl[i].name,
			    np_net_kind_name(w->kind), vlan, w->name);
			if (w->kind == NP_NET_DVS)
				printf("\tkey=%s\tswitch=%s", w->portgroup_key, w->dvs_uuid);
			else if (w->kind == NP_NET_OPAQUE)
				printf("\tid=%s\ttype=%s", w->opaque_id, w->opaque_type);
			else
				printf("\thosts=%d", w->hosts);
			printf("\n");
		}
		free(nets);
	}
	ret = 0;
out:
	vcd_clusters_free(cl, n);
	return ret;
}

static int
vi_vms(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_vm_info *v = NULL;
	size_t n = 0;

	if (vcd_vm_list(s, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		printf("%s\t%s\t%s\t%s\t%s%s\n", v[i].ref.value, v[i].power_state,
		    v[i].host.value[0] ? v[i].host.value : "-",
		    v[i].instance_uuid[0] ? v[i].instance_uuid : "-", v[i].name,
		    v[i].has_question ? "\t(question pending)" : "");
	vcd_vm_list_free(v);
	return 0;
}

/* The MoRef of host NAME in the cluster named CLUSTER. */
static int
vi_host(struct vcd_session *s, const char *cluster, const char *name,
    struct vcd_err *err)
{
	struct vcd_cluster *cl = NULL;
	struct vcd_moref host;
	size_t n = 0, i;
	int ret = -1;

	if (vcd_clusters_list(s, &cl, &n, err) < 0)
		return -1;
	for (i = 0; i < n && strcmp(cl[i].name, cluster) != 0; i++)
		;
	if (i == n)
		vcd_err_set(err, VCD_E_NOTFOUND, "NotFound", cluster, "no cluster named %s",
		    cluster);
	else if (vcd_cluster_host(s, &cl[i].ref, name, &host, err) == 0) {
		printf("%s\n", host.value);
		ret = 0;
	}
	vcd_clusters_free(cl, n);
	return ret;
}

static int
vi_run(struct vcd_session *s, const struct cfg *cfg, int argc, char **argv,
    struct vcd_err *err)
{
	const char *cmd = argv[0];
	struct vcd_moref vm;

	if (strcmp(cmd, "about") == 0) {
		const struct vcd_about *a = vcd_about(s);
		printf("name\t%s\nfull_name\t%s\nversion\t%s\nbuild\t%s\napi_type\t%s\n"
		    "api_version\t%s\ninstance_uuid\t%s\n", a->name, a->full_name,
		    a->version, a->build, a->api_type, a->api_version, a->instance_uuid);
		return 0;
	}
	if (strcmp(cmd, "clusters") == 0)
		return vi_clusters(s, cfg, err);
	if (strcmp(cmd, "vms") == 0)
		return vi_vms(s, err);
	if (strcmp(cmd, "host") == 0) {
		if (argc != 3)
			goto usage;
		return vi_host(s, argv[1], argv[2], err);
	}
	if (strcmp(cmd, "networks") == 0)
		return vi_networks(s, err);
	if (strcmp(cmd, "create") == 0) {
		struct vcd_vm_spec vs;
		char *end;

		if (argc < 8 || argc > 9)
			goto usage;
		memset(&vs, 0, sizeof(vs));
		vs.name = argv[1];
		vs.instance_uuid = argv[2];
		vs.vcpus = (int)strtol(argv[3], &end, 10);
		if (*end != '\0')
			goto usage;
		vs.memory_mb = strtoll(argv[4], &end, 10);
		if (*end != '\0')
			goto usage;
		vs.datastore = argv[5];
		if (vi_parse_moref(argv[6], "Folder", &vs.folder) < 0 ||
		    vi_parse_moref(argv[7], "ResourcePool", &vs.pool) < 0 ||
		    (argc == 9 && vi_parse_moref(argv[8], "HostSystem", &vs.host) < 0))
			goto usage;
		if (vcd_vm_create(s, &vs, &vm, err) < 0)
			return -1;
		printf("%s\n", vm.value);
		return 0;
	}
	if (argc < 2)
		goto usage;
	if (strcmp(cmd, "find") == 0) {
		if (vcd_vm_find(s, argv[1], &vm, err) < 0)
			return -1;
		printf("%s\n", vm.value);
		return 0;
	}
	{
		static const char *const vm_cmds[] = { "power-on", "power-off",
		    "suspend", "reset", "destroy", "unregister", "shutdown", "reboot",
		    "relocate", "info", "snapshots", "export", "volumes", NULL };
		int i;

		for (i = 0; vm_cmds[i] != NULL; i++)
			if (strcmp(cmd, vm_cmds[i]) == 0)
				break;
		if (vm_cmds[i] == NULL)
			goto usage;
	}
	if (vi_resolve_vm(s, argv[1], &vm, err) < 0)
		return -1;
	if (strcmp(cmd, "info") == 0)
		return vi_info(s, &vm, err);
	if (strcmp(cmd, "volumes") == 0) {
		char *paths[] = { "config.hardware.device" };

		return vcd_pc_retrieve_one(s, &vm, "VirtualMachine", paths, 1,
		    vi_volumes_one, NULL, err);
	}
	if (strcmp(cmd, "export") == 0)
		return argc == 3 ? vi_export(s, &vm, argv[2], err) : (vi_usage(stderr), -1);
	if (strcmp(cmd, "snapshots") == 0) {
		struct vcd_snap *v;
		size_t n;

		if (vcd_snap_list(s, &vm, NULL, &v, &n, NULL, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			printf("%s\t%s\t%s\t%s\t%s%s%s\n", v[i].ref.value, v[i].parent >= 0 ?
			    v[v[i].parent].ref.value : "-", v[i].name,
			    v[i].state, v[i].create_time, v[i].quiesced ? "\tquiesced" : "",
			    v[i].current ? "\tcurrent" : "");
		free(v);
		return 0;
	}
	if (strcmp(cmd, "power-on") == 0)
		return vcd_vm_power_on(s, &vm, NULL, err);
	if (strcmp(cmd, "power-off") == 0)
		return vcd_vm_power_off(s, &vm, NULL, err);
	if (strcmp(cmd, "suspend") == 0)
		return vcd_vm_suspend(s, &vm, NULL, err);
	if (strcmp(cmd, "reset") == 0)
		return vcd_vm_reset(s, &vm, NULL, err);
	if (strcmp(cmd, "destroy") == 0)
		return vcd_vm_destroy(s, &vm, err);
	if (strcmp(cmd, "unregister") == 0)
		return vcd_vm_unregister(s, &vm, err);
	if (strcmp(cmd, "shutdown") == 0)
		return vcd_vm_shutdown(s, &vm, NULL, argc > 2 ? atof(argv[2]) : 60, false, err);
	if (strcmp(cmd, "reboot") == 0)
		return vcd_vm_reboot(s, &vm, NULL, argc > 2 && strcmp(argv[2], "hard") == 0,
		    60, err);
	if (strcmp(cmd, "relocate") == 0) {
		struct vcd_relocate to;

		memset(&to, 0, sizeof(to));
		for (int i = 2; i < argc; i++) {
			struct vcd_moref m;
			if (vi_parse_moref(argv[i], "HostSystem", &m) < 0)
				goto usage;
			if (strcmp(m.type, "HostSystem") == 0)
				to.host = m;
			else if (strcmp(m.type, "ResourcePool") == 0)
				to.pool = m;
			else if (strcmp(m.type, "Datastore") == 0)
				to.datastore = m;
			else
				goto usage;
		}
		return vcd_vm_relocate(s, &vm, NULL, &to, err);
	}
usage:
	vi_usage(stderr);
	snprintf(err->msg, sizeof(err->msg), "bad command line");
	err->code = VCD_E_INVALID;
	return -2;
}

int
main(int argc, char **argv)
{
	const char *path = VCAGENT_CONF;
	struct cfg *cfg = NULL;
	struct vcd_session *s = NULL;
	struct vcd_options opt;
	struct vcd_err err;
	char *errors = NULL, msg[800];
	int ch, rc = 1, r;

	log_init("vcagent-vi", LOG_LVL_WARN);
	while ((ch = getopt(argc, argv, "c:dh")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'd': log_set_level(LOG_LVL_DEBUG); break;
		case 'h': vi_usage(stdout); return 0;
		default: vi_usage(stderr); return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		vi_usage(stderr);
		return 1;
	}
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		fputs(errors, stderr);
		free(errors);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	memset(&opt, 0, sizeof(opt));
	opt.host = cfg->vmware.host_ip;
	opt.port = cfg->vmware.host_port;
	opt.username = cfg->vmware.host_username;
	opt.password = cfg->vmware.host_password;
	opt.ca_file = cfg->vmware.ca_file;
	opt.insecure = cfg->vmware.insecure;
	opt.proxy = cfg->vmware.proxy;
	opt.connect_timeout = cfg->vmware.connect_timeout;
	opt.call_timeout = cfg->vmware.call_timeout;
	opt.call_deadline = cfg->vmware.call_deadline;
	opt.api_retry_count = cfg->vmware.api_retry_count;
	opt.pool_size = 2;
	opt.task_poll_interval = cfg->vmware.task_poll_interval;
	opt.task_timeout = cfg->vmware.task_timeout;
	opt.auto_answer = cfg->vmware.auto_answer;
	opt.max_objects = cfg->vmware.maximum_objects;
	if (vcd_connect(&opt, &s, &err) < 0 || vcd_login(s, &err) < 0) {
		fprintf(stderr, "vcagent-vi: %s:%d: %s\n", cfg->vmware.host_ip,
		    cfg->vmware.host_port, vcd_strerror(&err, msg, sizeof(msg)));
		goto out;
	}
	memset(&err, 0, sizeof(err));
	if ((r = vi_run(s, cfg, argc, argv, &err)) == 0)
		rc = 0;
	else if (r == -1)
		fprintf(stderr, "vcagent-vi: %s: %s\n", argv[0],
		    vcd_strerror(&err, msg, sizeof(msg)));
out:
	vcd_close(s);
	cfg_free(cfg);
	xmlCleanupParser();
	curl_global_cleanup();
	return rc;
}
