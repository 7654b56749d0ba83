/*
 * test_nic.c - NIC device specs from ports: models, backings for each kind
 * of network, MAC rules (static, generated, outside VMware's ranges,
 * malformed, multicast, duplicate), port ids in externalId and extraConfig,
 * and the request they encode to.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netplug/netplug.h"
#include "vcdriver/vim.h"

static struct np_network
net_standard(void)
{
	struct np_network n;

	memset(&n, 0, sizeof(n));
	n.kind = NP_NET_STANDARD;
	snprintf(n.name, sizeof(n.name), "br100");
	snprintf(n.ref.type, sizeof(n.ref.type), "Network");
	snprintf(n.ref.value, sizeof(n.ref.value), "network-7");
	return n;
}

static const char *
extra_value(const struct vim_list_OptionValue *l, const char *key)
{
	for (size_t i = 0; i < l->len; i++)
		if (strcmp(l->v[i]->key, key) == 0)
			return l->v[i]->value->text;
	return NULL;
}

static void
test_standard_default(void **state)
{
	struct np_port p = { "br100", -1, NULL, NULL, NULL, NULL, NULL };
	struct np_network n = net_standard();
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct np_mac mac;
	struct vcd_err err;
	const struct vim_VirtualE1000 *card;
	const struct vim_VirtualEthernetCardNetworkBackingInfo *b;

	(void)state;
	assert_int_equal(np_nic_specs(&a, &p, &n, 1, "ubuntu64Guest", 0, -100,
	    &dev, &extra, &mac, &err), 0);
	assert_int_equal(dev.len, 1);
	assert_string_equal(dev.v[0]->operation, "add");
	/* nova's default model */
	card = vim_cast(dev.v[0]->device, &vim_type_VirtualE1000);
	assert_non_null(card);
	assert_int_equal(card->base.base.key.v, -100);
	assert_string_equal(card->base.addressType, "manual");
	assert_int_equal(np_mac_kind(&mac), NP_MAC_VMWARE_STATIC);
	assert_true(card->base.base.connectable->startConnected.v);
	b = vim_cast(card->base.base.backing, &vim_type_VirtualEthernetCardNetworkBackingInfo);
	assert_non_null(b);
	assert_string_equal(b->base.deviceName, "br100");
	assert_string_equal(b->network->value, "network-7");
	assert_int_equal(extra.len, 0);		/* no port id, VMware MAC */
	vim_arena_free(&a);
}

static void
test_models_and_kinds(void **state)
{
	struct np_network nets[3];
	/* quota:vif_*: a limit, the rest nova's defaults */
	static const struct vcd_alloc vif = { 100, 0, "normal", 0 };
	struct np_port p[3] = {
		{ "dvpg-1", -1, "00:50:56:00:00:01", "port-a", "vmxnet3", "17", &vif },
		{ "ls-1", -1, "00:50:56:00:00:02", "port-b", "vlance", NULL, NULL },
		{ "br100", -1, "52:54:00:12:34:56", NULL, "e1000e", NULL, NULL },
	};
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct vcd_err err;
	const struct vim_VirtualEthernetCardDistributedVirtualPortBackingInfo *db;
	const struct vim_VirtualEthernetCardOpaqueNetworkBackingInfo *ob;
	const struct vim_VirtualEthernetCard *c;

	(void)state;
	memset(nets, 0, sizeof(nets));
	nets[0].kind = NP_NET_DVS;
	snprintf(nets[0].dvs_uuid, sizeof(nets[0].dvs_uuid), "50 1c 2d");
	snprintf(nets[0].portgroup_key, sizeof(nets[0].portgroup_key), "dvportgroup-9");
	nets[1].kind = NP_NET_OPAQUE;
	snprintf(nets[1].opaque_id, sizeof(nets[1].opaque_id), "ls-1");
	snprintf(nets[1].opaque_type, sizeof(nets[1].opaque_type), "nsx.LogicalSwitch");
	nets[2] = net_standard();
	/* two NICs exist already: N starts at 2 */
	assert_int_equal(np_nic_specs(&a, p, nets, 3, NULL, 2, -200, &dev, &extra,
	    NULL, &err), 0);
	assert_int_equal(dev.len, 3);
	assert_non_null(vim_cast(dev.v[0]->device, &vim_type_VirtualVmxnet3));
	assert_non_null(vim_cast(dev.v[1]->device, &vim_type_VirtualPCNet32));
	assert_non_null(vim_cast(dev.v[2]->device, &vim_type_VirtualE1000e));
	c = vim_cast(dev.v[0]->device, &vim_type_VirtualEthernetCard);
	assert_string_equal(c->macAddress, "00:50:56:00:00:01");
	assert_string_equal(c->externalId, "port-a");
	db = vim_cast(c->base.backing,
	    &vim_type_VirtualEthernetCardDistributedVirtualPortBackingInfo);
	assert_non_null(db);
	assert_string_equal(db->port->switchUuid, "50 1c 2d");
	assert_string_equal(db->port->portgroupKey, "dvportgroup-9");
	assert_string_equal(db->port->portKey, "17");
	assert_non_null(c->resourceAllocation);
	assert_int_equal(c->resourceAllocation->limit.v, 100);
	assert_int_equal(c->resourceAllocation->reservation.v, 0);
	assert_string_equal(c->resourceAllocation->share->level, "normal");
	c = vim_cast(dev.v[1]->device, &vim_type_VirtualEthernetCard);
	assert_null(c->resourceAllocation);
	ob = vim_cast(c->base.backing, &vim_type_VirtualEthernetCardOpaqueNetworkBackingInfo);
	assert_string_equal(ob->opaqueNetworkId, "ls-1");
	assert_string_equal(ob->opaqueNetworkType, "nsx.LogicalSwitch");
	assert_int_equal(dev.v[2]->device->key.v, -202);
	/* extraConfig: port ids by NIC index, and checkMACAddress for the MAC
	 * outside VMware's ranges */
	assert_string_equal(extra_value(&extra, "nvp.iface-id.2"), "port-a");
	assert_string_equal(extra_value(&extra, "nvp.iface-id.3"), "port-b");
	assert_string_equal(extra_value(&extra, "ethernet4.checkMACAddress"), "false");
	assert_null(extra_value(&extra, "ethernet2.checkMACAddress"));
	vim_arena_free(&a);
}

static void
test_bad_ports(void **state)
{
	struct np_network n[2];
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_list_VirtualDeviceConfigSpec dev = { NULL, 0 };
	struct vim_list_OptionValue extra = { NULL, 0 };
	struct vcd_err err;

	(void)state;
	n[0] = net_standard();
	n[1] = net_standard();
#define BAD(p0, p1, count, needle) do { \
	struct np_port ps[2] = { p0, p1 }; \
	dev.len = 0; extra.len = 0; \
	assert_int_equal(np_nic_specs(&a, ps, n, count, NULL, 0, -100, &dev, \
	    &extra, NULL, &err), -1); \
	assert_int_equal(err.code, VCD_E_INVALID); \
	if (strstr(err.msg, needle) == NULL) fail_msg("%s", err.msg); } while (0)
	BAD(((struct np_port){ "br100", -1, "01:00:5e:00:00:01", NULL, NULL, NULL, NULL }),
	    ((struct np_port){ 0 }), 1, "multicast");
	BAD(((struct np_port){ "br100", -1, "00:50:56:zz:00:01", NULL, NULL, NULL, NULL }),
	    ((struct np_port){ 0 }), 1, "invalid MAC address \"00:50:56:zz:00:01\"");
	BAD(((struct np_port){ "br100", -1, "00:50:56:00:00:09", NULL, NULL, NULL, NULL }),
	    ((struct np_port){ "br100", -1, "00:50:56:00:00:09", NULL, NULL, NULL, NULL }),
	    2, "ports 0 and 1 have the same MAC address 00:50:56:00:00:09");
	BAD(((struct np_port){ "br100", -1, NULL, NULL, "rtl8139", NULL, NULL }),
	    ((struct np_port){ 0 }), 1, "unknown NIC model");
	BAD(((struct np_port){ "br100", -1, NULL, NULL, "sriov", NULL, NULL }),
	    ((struct np_port){ 0 }), 1, "physical function");
	vim_arena_free(&a);
}

static void
test_encodes_with_types(void **state)
{
	struct np_port p = { "br100", -1, "00:50:56:00:00:0a", "port-x", "vmxnet3", NULL, NULL };
	struct np_network n = net_standard();
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_req_ReconfigVM_Task req;
	struct vim_VirtualMachineConfigSpec cs;
	struct vcd_moref vm = { "VirtualMachine", "vm-1" };
	struct buf b = BUF_INIT;
	struct vcd_err err;

	(void)state;
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	assert_int_equal(np_nic_specs(&a, &p, &n, 1, NULL, 0, -100, &cs.deviceChange,
	    &cs.extraConfig, NULL, &err), 0);
	vim_init(&req, &vim_type_req_ReconfigVM_Task);
	req._this = &vm;
	req.spec = &cs;
	assert_int_equal(vim_encode_request(&b, &vim_method_ReconfigVM_Task, &req, &err), 0);
	assert_non_null(strstr(buf_cstr(&b), "<device xsi:type=\"VirtualVmxnet3\"><key>-100</key>"));
	assert_non_null(strstr(buf_cstr(&b), "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\">"
	    "<deviceName>br100</deviceName><network type=\"Network\">network-7</network></backing>"));
	assert_non_null(strstr(buf_cstr(&b), "<addressType>manual</addressType>"
	    "<macAddress>00:50:56:00:00:0a</macAddress><wakeOnLanEnabled>true</wakeOnLanEnabled>"
	    "<externalId>port-x</externalId>"));
	assert_non_null(strstr(buf_cstr(&b), "<extraConfig><key>nvp.iface-id.0</key>"
	    "<value xsi:type=\"xsd:string\">port-x</value></extraConfig>"));
	buf_free(&b);
	vim_arena_free(&a);
}

static void
test_model_names(void **state)
{
	enum np_model m;
	const char *why;

	(void)state;
	assert_int_equal(np_model_parse("vmxnet2", &m, &why), 0);
	assert_string_equal(np_model_name(m), "vmxnet2");
	assert_int_equal(np_model_parse("pcnet32", &m, &why), 0);
	assert_int_equal(m, NP_MODEL_PCNET32);
	assert_int_equal(np_model_default("windows9Server64Guest"), NP_MODEL_E1000);
	assert_string_equal(np_net_kind_name(NP_NET_OPAQUE), "opaque");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_default),
		cmocka_unit_test(test_models_and_kinds),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_encodes_with_types),
		cmocka_unit_test(test_model_names),
	};

	return cmocka_run_group_tests_name("nic", tests, NULL, NULL);
}
