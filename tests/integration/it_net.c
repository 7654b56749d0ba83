/*
 * it_net.c - netplug against vcsim: the cluster's networks of each kind,
 * resolving ports to them, VLAN port groups made on every host (idempotent,
 * conflicts reported, two agents racing), and NICs attached to and detached
 * from a running VM, and a VM created with NICs.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "netplug/netplug.h"
#include "tpeer.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

static const struct np_config npcfg = { "vmnic0", NULL };

static int
setup(void **state)
{
	static const char *const specs[] = {
	    "vcsim -cluster 1 -host 3 -vm 2 -opaque 1 -std-pg br100", NULL };

	return tpeer_setup(state, specs);
}

static struct vcd_session *
session(const struct tpeer *peers)
{
	struct vcd_options o;
	struct vcd_session *s = NULL;
	struct vcd_err err;

	tpeer_vcsim_options(peers, &o);
	o.pool_size = 2;
	o.task_poll_interval = 0.1;
	if (vcd_connect(&o, &s, &err) < 0 || vcd_login(s, &err) < 0)
		fail_msg("%s %s", err.fault, err.msg);
	return s;
}

static struct vcd_moref
cluster(struct vcd_session *s)
{
	struct vcd_cluster *cl;
	struct vcd_moref r;
	struct vcd_err err;
	size_t n;

	assert_int_equal(vcd_clusters_list(s, &cl, &n, &err), 0);
	assert_int_equal(n, 1);
	r = cl[0].ref;
	vcd_clusters_free(cl, n);
	return r;
}

static const struct np_network *
find(const struct np_network *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static void
test_networks_of_each_kind(void **state)
{
	struct vcd_session *s = session(*state);
	struct vcd_moref c = cluster(s);
	struct np_network *nets;
	const struct np_network *n;
	struct vcd_err err;
	size_t count, opaque = 0;

	assert_int_equal(np_networks_list(s, &c, &nets, &count, &err), 0);
	n = find(nets, count, "VM Network");
	assert_non_null(n);
	assert_int_equal(n->kind, NP_NET_STANDARD);
	assert_int_equal(n->vlan, 0);
	assert_int_equal(n->hosts, 3);
	assert_non_null(n = find(nets, count, "br100"));
	assert_int_equal(n->hosts, 3);
	assert_non_null(n = find(nets, count, "DC0_DVPG0"));
	assert_int_equal(n->kind, NP_NET_DVS);
	assert_true(strlen(n->dvs_uuid) > 0);
	assert_true(strlen(n->portgroup_key) > 0);
	for (size_t i = 0; i < count; i++)
		if (nets[i].kind == NP_NET_OPAQUE) {
			assert_true(strlen(nets[i].opaque_id) > 0);
			/* from the OpaqueNetwork's summary (an OpaqueNetworkSummary) */
			assert_string_equal(nets[i].ref.type, "OpaqueNetwork");
			assert_string_equal(nets[i].opaque_type, "nsx.LogicalSwitch");
			opaque++;
		}
	assert_int_equal(opaque, 1);
	free(nets);
	vcd_close(s);
}

static void
test_resolve(void **state)
{
	struct vcd_session *s = session(*state);
	struct vcd_moref c = cluster(s);
	struct np_network *nets, out[4];
	const struct np_network *dvpg, *op = NULL;
	struct vcd_err err;
	size_t count;

	assert_int_equal(np_networks_list(s, &c, &nets, &count, &err), 0);
	dvpg = find(nets, count, "DC0_DVPG0");
	for (size_t i = 0; i < count; i++)
		if (nets[i].kind == NP_NET_OPAQUE)
			op = &nets[i];
	{
		struct np_port ports[4] = {
			{ "VM Network", -1, NULL, NULL, NULL, NULL, NULL },
			{ "DC0_DVPG0", -1, NULL, NULL, NULL, NULL, NULL },
			{ dvpg->portgroup_key, -1, NULL, NULL, NULL, NULL, NULL },
			{ op->opaque_id, -1, NULL, NULL, NULL, NULL, NULL },
		};
		assert_int_equal(np_resolve(s, &c, &npcfg, ports, 4, out, &err), 0);
	}
	assert_int_equal(out[0].kind, NP_NET_STANDARD);
	assert_int_equal(out[1].kind, NP_NET_DVS);
	assert_string_equal(out[2].name, "DC0_DVPG0");
	assert_int_equal(out[3].kind, NP_NET_OPAQUE);
	{
		/* no network named: vmware.integration_bridge, as nova does */
		const struct np_config nsx = { "vmnic0", "br100" };
		struct np_port unnamed = { NULL, -1, NULL, "port-z", NULL, NULL, NULL };
		assert_int_equal(np_resolve(s, &c, &nsx, &unnamed, 1, out, &err), 0);
		assert_string_equal(out[0].name, "br100");
		/* and without one configured, a clear error */
		assert_int_equal(np_resolve(s, &c, &npcfg, &unnamed, 1, out, &err), -1);
		assert_non_null(strstr(err.msg, "integration_bridge is not set"));
	}
	{
		struct np_port missing = { "no-such-net", -1, NULL, NULL, NULL, NULL, NULL };
		assert_int_equal(np_resolve(s, &c, &npcfg, &missing, 1, out, &err), -1);
		assert_int_equal(err.code, VCD_E_NOTFOUND);
		assert_string_equal(err.msg, "network \"no-such-net\" was not found in "
		    "cluster \"DC0_C0\"");
	}
	free(nets);
	vcd_close(s);
}

static void
test_vlan_port_groups(void **state)
{
	struct vcd_session *s = session(*state);
	struct vcd_moref c = cluster(s);
	struct np_port p = { "vlan-100", 100, NULL, NULL, NULL, NULL, NULL };
	struct np_network out, *nets;
	const struct np_network *n;
	struct vcd_err err;
	unsigned long calls;
	size_t count;

	assert_int_equal(np_resolve(s, &c, &npcfg, &p, 1, &out, &err), 0);
	assert_int_equal(out.kind, NP_NET_STANDARD);
	assert_int_equal(out.vlan, 100);
	assert_int_equal(out.hosts, 3);		/* on every host */
	assert_int_equal(np_networks_list(s, &c, &nets, &count, &err), 0);
	assert_non_null(n = find(nets, count, "vlan-100"));
	assert_int_equal(n->vlan, 100);
	free(nets);

	/* again: nothing to create, one or two reads */
	calls = vcd_call_count(s);
	assert_int_equal(np_resolve(s, &c, &npcfg, &p, 1, &out, &err), 0);
	assert_true(vcd_call_count(s) - calls <= 2);

	/* the same name with another VLAN is a conflict, not reused */
	p.vlan = 200;
	assert_int_equal(np_resolve(s, &c, &npcfg, &p, 1, &out, &err), -1);
	assert_string_equal(err.fault, "InvalidVLANTag");
	assert_non_null(strstr(err.msg, "has VLAN 100, not 200"));
	/* an existing untagged port group asked for with a VLAN */
	p.network = "VM Network";
	p.vlan = 5;
	assert_int_equal(np_resolve(s, &c, &npcfg, &p, 1, &out, &err), -1);
	assert_string_equal(err.fault, "InvalidVLANTag");
	/* a VLAN on a DVS port group of that name: used as is, as nova does */
	p.network = "DC0_DVPG0";
	assert_int_equal(np_resolve(s, &c, &npcfg, &p, 1, &out, &err), 0);
	assert_int_equal(out.kind, NP_NET_DVS);
	/* no vSwitch for the configured physical NIC */
	{
		const struct np_config other = { "vmnic7", NULL };
		struct np_port q = { "vlan-7", 7, NULL, NULL, NULL, NULL, NULL };
		assert_int_equal(np_resolve(s, &c, &other, &q, 1, &out, &err), -1);
		assert_non_null(strstr(err.msg, "no vSwitch with the physical adapter vmnic7"));
	}
	vcd_close(s);
}

static void
test_vlan_race_between_agents(void **state)
{
	const struct tpeer *peers = *state;
	struct np_port p = { "vlan-300", 300, NULL, NULL, NULL, NULL, NULL };
	int status = -1;
	pid_t child;

	/* two processes - two agents - create the same port group at once */
	child = fork();
	assert_true(child >= 0);
	{
		struct vcd_session *s = session(peers);
		struct vcd_moref c = cluster(s);
		struct np_network out;
		struct vcd_err err;
		int rc = np_resolve(s, &c, &npcfg, &p, 1, &out, &err);

		if (rc < 0)
			fprintf(stderr, "# %s: %s %s\n", child == 0 ? "child" : "parent",
			    err.fault, err.msg);
		if (child == 0) {
			vcd_close(s);
			_exit(rc == 0 && out.vlan == 300 ? 0 : 1);
		}
		assert_int_equal(rc, 0);
		assert_int_equal(out.hosts, 3);
		vcd_close(s);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static struct vcd_moref
vm_named(struct vcd_session *s, const char *name)
{
	struct vcd_vm_info *v;
	struct vcd_moref r = { "", "" };
	struct vcd_err err;
	size_t n;

	assert_int_equal(vcd_vm_list(s, &v, &n, &err), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			r = v[i].ref;
	vcd_vm_list_free(v);
	assert_true(r.value[0] != '\0');
	return r;
}

static const struct np_nic *
nic_for(const struct np_nic *v, size_t n, const char *port)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].port_id, port) == 0)
			return &v[i];
	return NULL;
}

static void
test_attach_detach(void **state)
{
	struct vcd_session *s = session(*state);
	struct vcd_moref c = cluster(s), vm = vm_named(s, "DC0_C0_RP0_VM0");
	struct np_port p1 = { "br100", -1, NULL, "port-1", "vmxnet3", NULL, NULL };
	struct np_port p2 = { "DC0_DVPG0", -1, "00:50:56:01:02:03", "port-2", NULL, NULL, NULL };
	struct np_nic *nics, added;
	const struct np_nic *nic;
	struct vcd_err err;
	size_t n0, n;

	assert_int_equal(np_vm_nics(s, &vm, &nics, &n0, &err), 0);
	free(nics);
	/* hot: the VM is powered on */
	assert_int_equal(np_attach(s, &c, &npcfg, &vm, NULL, &p1, NULL, &added, &err), 0);
	assert_int_equal(added.index, (int)n0);
	assert_int_equal(np_attach(s, &c, &npcfg, &vm, NULL, &p2, NULL, NULL, &err), 0);
	assert_int_equal(np_vm_nics(s, &vm, &nics, &n, &err), 0);
	assert_int_equal(n, n0 + 2);
	assert_non_null(nic = nic_for(nics, n, "port-1"));
	assert_string_equal(nic->model, "vmxnet3");
	assert_string_equal(nic->network, "br100");
	assert_string_equal(nic->mac, added.mac);
	assert_non_null(nic = nic_for(nics, n, "port-2"));
	assert_string_equal(nic->mac, "00:50:56:01:02:03");
	free(nics);

	/* the same port twice, or a MAC the VM already has */
	assert_int_equal(np_attach(s, &c, &npcfg, &vm, NULL, &p1, NULL, NULL, &err), -1);
	assert_string_equal(err.fault, "AlreadyExists");
	p2.port_id = "port-9";
	assert_int_equal(np_attach(s, &c, &npcfg, &vm, NULL, &p2, NULL, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "already has a NIC with MAC address 00:50:56:01:02:03"));

	/* the VM is another instance's: nothing is detached, the error names both uuids */
	assert_int_equal(np_detach(s, &vm, "6f1c9a7e-0d2b-4c55-9e1a-00000000beef", "port-1",
	    &err), -1);
	assert_string_equal(err.fault, "InstanceUuidMismatch");
	assert_non_null(strstr(err.msg, "6f1c9a7e-0d2b-4c55-9e1a-00000000beef expected"));
	assert_int_equal(np_detach(s, &vm, NULL, "port-1", &err), 0);
	/* the NIC went as read back from the VM (as nova sends it), not as a
	 * hand-made key: its type, MAC, backing and connection state */
	{
		struct buf b = BUF_INIT;
		char url[512], mac[64];
		const char *body, *dev;

		snprintf(url, sizeof(url), "%s/last?method=ReconfigVM_Task",
		    tpeer_get(*state, "VCSIM_CTL"));
		assert_int_equal(tpeer_http("GET", url, NULL, 0, NULL,
		    tpeer_get(*state, "VCSIM_CA_FILE"), &b), 200);
		body = buf_cstr(&b);
		assert_non_null(dev = strstr(body, "<operation>remove</operation>"
		    "<device xsi:type=\"VirtualVmxnet3\">"));
		snprintf(mac, sizeof(mac), "<macAddress>%s</macAddress>", added.mac);
		assert_non_null(strstr(dev, mac));
		assert_non_null(strstr(dev, "<deviceName>br100</deviceName>"));
		assert_non_null(strstr(dev, "<connectable>"));
		buf_free(&b);
	}
	assert_int_equal(np_vm_nics(s, &vm, &nics, &n, &err), 0);
	assert_int_equal(n, n0 + 1);
	assert_null(nic_for(nics, n, "port-1"));
	free(nics);
	assert_int_equal(np_detach(s, &vm, NULL, "00:50:56:01:02:03", &err), 0);	/* by MAC */
	assert_int_equal(np_detach(s, &vm, NULL, "port-1", &err), -1);
	assert_int_equal(err.code, VCD_E_NOTFOUND);
	vcd_close(s);
}

static void
test_vm_created_with_nics(void **state)
{
	struct vcd_session *s = session(*state);
	struct vcd_moref c = cluster(s), vm;
	struct np_port ports[2] = {
		{ "VM Network", -1, NULL, "port-a", NULL, NULL, NULL },
		{ "vlan-100", 100, NULL, "port-b", "e1000e", NULL, NULL },
	};
	struct np_network nets[2];
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct vcd_placement pl;
	struct vcd_vm_spec vs;
	struct np_nic *nics;
	const struct np_nic *nic;
	struct vcd_err err;
	size_t n;

	assert_int_equal(np_resolve(s, &c, &npcfg, ports, 2, nets, &err), 0);
	assert_int_equal(np_nic_specs(&a, ports, nets, 2, NULL, 0, -100, &dev, &extra,
	    NULL, &err), 0);
	assert_int_equal(vcd_cluster_placement(s, &c, &pl, &err), 0);
	assert_string_equal(pl.datacenter_name, "DC0");
	vs = tpeer_vm_spec("it-net-vm", "0b7e2c3a-1111-4d2e-9f00-123456789abc",
	    pl.folder, pl.pool);
	vs.devices = &dev;
	assert_int_equal(vcd_vm_create(s, &vs, &vm, &err), 0);
	assert_int_equal(np_vm_nics(s, &vm, &nics, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_non_null(nic = nic_for(nics, n, "port-a"));
	assert_string_equal(nic->network, "VM Network");
	assert_string_equal(nic->model, "e1000");
	assert_non_null(nic = nic_for(nics, n, "port-b"));
	assert_string_equal(nic->network, "vlan-100");
	assert_string_equal(nic->model, "e1000e");
	free(nics);
	assert_int_equal(vcd_vm_destroy(s, &vm, &err), 0);
	vim_arena_free(&a);
	vcd_close(s);
}

static void
test_stop_clean(void **state)
{
	assert_int_equal(tpeer_stop_state(state), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_networks_of_each_kind),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_vlan_port_groups),
		cmocka_unit_test(test_vlan_race_between_agents),
		cmocka_unit_test(test_attach_detach),
		cmocka_unit_test(test_vm_created_with_nics),
		cmocka_unit_test(test_stop_clean),
	};

	return cmocka_run_group_tests_name("net", tests, setup, tpeer_teardown);
}
