/*
 * test_vim.c - the vim25 layer on recorded answers: request encoding (WSDL
 * order, xsi:type, escaping, required members), response decoding (by
 * namespace, unknown members skipped, anyType values), faults in vCenter's
 * and vcsim's shapes, hostile input, and the PropertyCollector paging loop
 * (tokens, cancel on early exit), which vcsim cannot produce.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vcdriver/vcd_int.h"
#include "vcdriver/vcd_pc.h"

#define ENV_OPEN "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope " \
	"xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" " \
	"xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" " \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
#define ENV_CLOSE "</soapenv:Body></soapenv:Envelope>"

static struct vcd_moref pc = { "PropertyCollector", "propertyCollector" };

/* ---- encoding ---- */

static void
test_escape(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(vim_xml_escape(&b, "a<b>&\"c'd\r"), 0);
	assert_string_equal(buf_cstr(&b), "a&lt;b&gt;&amp;&quot;c&apos;d&#13;");
	buf_reset(&b);
	assert_int_equal(vim_xml_escape(&b, "tab\tünï"), 0);
	assert_string_equal(buf_cstr(&b), "tab\tünï");
	buf_reset(&b);
	assert_int_equal(vim_xml_escape(&b, "bell\a"), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_encode_retrieve(void **state)
{
	struct vim_req_RetrievePropertiesEx req;
	struct vim_PropertyFilterSpec spec, *specs[1] = { &spec };
	struct vim_PropertySpec ps, *psv[1] = { &ps };
	struct vim_ObjectSpec os, *osv[1] = { &os };
	struct vim_TraversalSpec tv;
	struct vim_SelectionSpec *sel[1] = { &tv.base };
	struct vim_RetrieveOptions opts;
	struct vcd_moref view = { "ContainerView", "session[52&]view" };
	char *paths[] = { "name", "runtime.powerState" };
	struct buf b = BUF_INIT;
	struct vcd_err err;

	(void)state;
	vim_init(&ps, &vim_type_PropertySpec);
	ps.type = "VirtualMachine";
	ps.pathSet.v = paths;
	ps.pathSet.len = 2;
	vim_init(&tv, &vim_type_TraversalSpec);
	tv.base.name = "traverseView";
	tv.type = "ContainerView";
	tv.path = "view";
	tv.skip = VIM_BOOL(false);
	vim_init(&os, &vim_type_ObjectSpec);
	os.obj = &view;
	os.skip = VIM_BOOL(true);
	os.selectSet.v = sel;
	os.selectSet.len = 1;
	vim_init(&spec, &vim_type_PropertyFilterSpec);
	spec.propSet.v = psv;
	spec.propSet.len = 1;
	spec.objectSet.v = osv;
	spec.objectSet.len = 1;
	vim_init(&opts, &vim_type_RetrieveOptions);
	opts.maxObjects = VIM_INT(100);
	vim_init(&req, &vim_type_req_RetrievePropertiesEx);
	req._this = &pc;
	req.specSet.v = specs;
	req.specSet.len = 1;
	req.options = &opts;

	assert_int_equal(vim_encode_request(&b, &vim_method_RetrievePropertiesEx,
	    &req, &err), 0);
	/* WSDL order; xsi:type on the polymorphic selectSet; escaping */
	assert_string_equal(buf_cstr(&b),
	    "<RetrievePropertiesEx xmlns=\"urn:vim25\">"
	    "<_this type=\"PropertyCollector\">propertyCollector</_this>"
	    "<specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet>"
	    "<pathSet>runtime.powerState</pathSet></propSet>"
	    "<objectSet><obj type=\"ContainerView\">session[52&amp;]view</obj>"
	    "<skip>true</skip><selectSet xsi:type=\"TraversalSpec\">"
	    "<name>traverseView</name><type>ContainerView</type><path>view</path>"
	    "<skip>false</skip></selectSet></objectSet></specSet>"
	    "<options><maxObjects>100</maxObjects></options>"
	    "</RetrievePropertiesEx>");

	/* a required member missing is an error naming it */
	buf_reset(&b);
	ps.type = NULL;
	assert_int_equal(vim_encode_request(&b, &vim_method_RetrievePropertiesEx,
	    &req, &err), -1);
	assert_int_equal(err.code, VCD_E_INVALID);
	assert_string_equal(err.msg, "PropertySpec.type: required member is missing");
	/* a string XML cannot carry is refused */
	buf_reset(&b);
	ps.type = "Virtual\x01Machine";
	assert_int_equal(vim_encode_request(&b, &vim_method_RetrievePropertiesEx,
	    &req, &err), -1);
	assert_non_null(strstr(err.msg, "PropertySpec.type: contains characters"));
	buf_free(&b);
}

static void
test_encode_config_spec(void **state)
{
	struct vim_req_ReconfigVM_Task req;
	struct vim_VirtualMachineConfigSpec cs;
	struct vim_VirtualDeviceConfigSpec dcs, *dcsv[1] = { &dcs };
	struct vim_VirtualDisk disk;
	struct vim_VirtualDiskFlatVer2BackingInfo bk;
	struct vim_OptionValue ov, *ovv[1] = { &ov };
	struct vim_any val = { VA_SCALAR, "xsd:string", "4f2a-<uuid>", NULL, NULL, NULL, 0 };
	struct vcd_moref vm = { "VirtualMachine", "vm-42" };
	struct buf b = BUF_INIT;
	struct vcd_err err;

	(void)state;
	vim_init(&bk, &vim_type_VirtualDiskFlatVer2BackingInfo);
	bk.base.fileName = "[ds1] vm/vm.vmdk";
	bk.diskMode = "persistent";
	bk.thinProvisioned = VIM_BOOL(true);
	vim_init(&disk, &vim_type_VirtualDisk);
	disk.base.key = VIM_INT(-100);
	disk.base.backing = &bk.base.base;
	disk.base.controllerKey = VIM_INT(1000);
	disk.base.unitNumber = VIM_INT(0);
	disk.capacityInKB = VIM_INT(1048576);
	vim_init(&dcs, &vim_type_VirtualDeviceConfigSpec);
	dcs.operation = "add";
	dcs.fileOperation = "create";
	dcs.device = &disk.base;
	vim_init(&ov, &vim_type_OptionValue);
	ov.key = "nvp.vm-uuid";
	ov.value = &val;
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	cs.numCPUs = VIM_INT(2);
	cs.memoryMB = VIM_INT(2048);
	cs.deviceChange.v = dcsv;
	cs.deviceChange.len = 1;
	cs.extraConfig.v = ovv;
	cs.extraConfig.len = 1;
	vim_init(&req, &vim_type_req_ReconfigVM_Task);
	req._this = &vm;
	req.spec = &cs;
	assert_int_equal(vim_encode_request(&b, &vim_method_ReconfigVM_Task, &req, &err), 0);
	assert_string_equal(buf_cstr(&b),
	    "<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">vm-42</_this>"
	    "<spec><numCPUs>2</numCPUs><memoryMB>2048</memoryMB>"
	    "<deviceChange><operation>add</operation><fileOperation>create</fileOperation>"
	    "<device xsi:type=\"VirtualDisk\"><key>-100</key>"
	    "<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\">"
	    "<fileName>[ds1] vm/vm.vmdk</fileName><diskMode>persistent</diskMode>"
	    "<thinProvisioned>true</thinProvisioned></backing>"
	    "<controllerKey>1000</controllerKey><unitNumber>0</unitNumber>"
	    "<capacityInKB>1048576</capacityInKB></device></deviceChange>"
	    "<extraConfig><key>nvp.vm-uuid</key>"
	    "<value xsi:type=\"xsd:string\">4f2a-&lt;uuid&gt;</value></extraConfig>"
	    "</spec></ReconfigVM_Task>");
	buf_free(&b);
}

/* A method of pbm.spec: its namespace, endpoint and SOAPAction; its
 * request in urn:pbm. */
static void
test_encode_pbm(void **state)
{
	struct vim_req_PbmQueryMatchingHub req;
	struct vim_PbmPlacementHub h1, h2, *hv[2] = { &h1, &h2 };
	struct vim_PbmProfileId pid;
	struct vcd_moref ps = { "PbmPlacementSolver", "placementSolver" };
	struct buf b = BUF_INIT;
	struct vcd_err err;

	(void)state;
	assert_string_equal(vim_method_PbmQueryMatchingHub.ns, "urn:pbm");
	assert_string_equal(vim_method_PbmQueryMatchingHub.path, "/pbm/sdk");
	assert_string_equal(vim_method_PbmQueryMatchingHub.action, "urn:pbm/2.0");
	assert_string_equal(vim_method_ReconfigVM_Task.ns, "urn:vim25");
	assert_string_equal(vim_method_ReconfigVM_Task.path, "/sdk");
	assert_null(vim_method_ReconfigVM_Task.action);
	vim_init(&h1, &vim_type_PbmPlacementHub);
	h1.hubType = "Datastore";
	h1.hubId = "datastore-1";
	vim_init(&h2, &vim_type_PbmPlacementHub);
	h2.hubType = "Datastore";
	h2.hubId = "datastore-2";
	vim_init(&pid, &vim_type_PbmProfileId);
	pid.uniqueId = "aa6d5a82-1c88-45da-85d3-3d74b91a5bad";
	vim_init(&req, &vim_type_req_PbmQueryMatchingHub);
	req._this = &ps;
	req.hubsToSearch.v = hv;
	req.hubsToSearch.len = 2;
	req.profile = &pid;
	assert_int_equal(vim_encode_request(&b, &vim_method_PbmQueryMatchingHub, &req,
	    &err), 0);
	assert_string_equal(buf_cstr(&b),
	    "<PbmQueryMatchingHub xmlns=\"urn:pbm\"><_this type=\"PbmPlacementSolver\">"
	    "placementSolver</_this><hubsToSearch><hubType>Datastore</hubType><hubId>"
	    "datastore-1</hubId></hubsToSearch><hubsToSearch><hubType>Datastore</hubType>"
	    "<hubId>datastore-2</hubId></hubsToSearch><profile><uniqueId>"
	    "aa6d5a82-1c88-45da-85d3-3d74b91a5bad</uniqueId></profile>"
	    "</PbmQueryMatchingHub>");
	buf_free(&b);
}

/* ---- decoding ---- */

static void *
decode_ok(const char *xml, const struct vim_method *m, struct vim_arena *a)
{
	struct vcd_err err;
	void *out = NULL;

	if (vim_decode_response(xml, strlen(xml), m, a, &out, NULL, &err) < 0)
		fail_msg("decode failed: %s %s", err.fault, err.msg);
	return out;
}

/* PbmRetrieveContent's profiles come as PbmCapabilityProfile, with rules
 * (constraints) this agent does not read. */
static void
test_decode_pbm_profiles(void **state)
{
	const char *xml = ENV_OPEN "<PbmRetrieveContentResponse xmlns=\"urn:pbm\">"
	    "<returnval xsi:type=\"PbmCapabilityProfile\"><profileId><uniqueId>u-1"
	    "</uniqueId></profileId><name>gold</name><creationTime>2026-01-01T00:00:00Z"
	    "</creationTime><createdBy>x</createdBy><lastUpdatedTime>2026-01-01T00:00:00Z"
	    "</lastUpdatedTime><lastUpdatedBy>x</lastUpdatedBy><profileCategory>"
	    "REQUIREMENT</profileCategory><resourceType><resourceType>STORAGE"
	    "</resourceType></resourceType><constraints xsi:type=\"PbmCapabilitySubProfileConstraints\">"
	    "<subProfiles><name>r</name></subProfiles></constraints><isDefault>false"
	    "</isDefault></returnval></PbmRetrieveContentResponse>" ENV_CLOSE;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_resp_PbmRetrieveContent *r;
	struct vim_PbmCapabilityProfile *p;

	(void)state;
	r = decode_ok(xml, &vim_method_PbmRetrieveContent, &a);
	assert_int_equal(r->returnval.len, 1);
	assert_string_equal(r->returnval.v[0]->name, "gold");
	assert_string_equal(r->returnval.v[0]->profileId->uniqueId, "u-1");
	p = vim_cast(r->returnval.v[0], &vim_type_PbmCapabilityProfile);
	assert_non_null(p);
	assert_string_equal(p->profileCategory, "REQUIREMENT");
	assert_false(p->isDefault.v);
	vim_arena_free(&a);
}

static void
test_decode_service_content(void **state)
{
	/* vCenter 8 shape: members we do not know, anywhere, are skipped */
	const char *xml = ENV_OPEN "<RetrieveServiceContentResponse xmlns=\"urn:vim25\">"
	    "<returnval><rootFolder type=\"Folder\">group-d1</rootFolder>"
	    "<propertyCollector type=\"PropertyCollector\">propertyCollector</propertyCollector>"
	    "<viewManager type=\"ViewManager\">ViewManager</viewManager>"
	    "<about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 8.0.2 "
	    "build-22385739</fullName><vendor>VMware, Inc.</vendor><version>8.0.2</version>"
	    "<patchLevel></patchLevel><build>22385739</build><localeVersion>INTL</localeVersion>"
	    "<localeBuild>000</localeBuild><osType>linux-x64</osType>"
	    "<productLineId>vpx</productLineId><apiType>VirtualCenter</apiType>"
	    "<apiVersion>8.0.2.0</apiVersion><instanceUuid>3b2c4f0e-1c2d-4e5f-8a9b-"
	    "0c1d2e3f4a5b</instanceUuid><licenseProductName>VMware VirtualCenter Server"
	    "</licenseProductName><licenseProductVersion>8.0</licenseProductVersion></about>"
	    "<setting type=\"OptionManager\">VpxSettings</setting>"
	    "<sessionManager type=\"SessionManager\">SessionManager</sessionManager>"
	    "<searchIndex type=\"SearchIndex\">SearchIndex</searchIndex>"
	    "<fileManager type=\"FileManager\">FileManager</fileManager>"
	    "<virtualDiskManager type=\"VirtualDiskManager\">virtualDiskManager</virtualDiskManager>"
	    "<unknownManager type=\"X\"><nested><deeper>1</deeper></nested></unknownManager>"
	    "</returnval></RetrieveServiceContentResponse>" ENV_CLOSE;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_resp_RetrieveServiceContent *r;

	(void)state;
	r = decode_ok(xml, &vim_method_RetrieveServiceContent, &a);
	assert_non_null(r->returnval);
	assert_string_equal(r->returnval->rootFolder->type, "Folder");
	assert_string_equal(r->returnval->rootFolder->value, "group-d1");
	assert_string_equal(r->returnval->about->apiVersion, "8.0.2.0");
	assert_string_equal(r->returnval->about->instanceUuid,
	    "3b2c4f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
	assert_string_equal(r->returnval->virtualDiskManager->value, "virtualDiskManager");
	vim_arena_free(&a);
}

static void
test_decode_properties(void **state)
{
	/* vcsim writes the XSI namespace under another prefix */
	const char *xml = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	    "xmlns:X=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:q=\"urn:vim25\">"
	    "<soapenv:Body><q:RetrievePropertiesExResponse><q:returnval>"
	    "<q:token>tok-1</q:token><q:objects><q:obj type=\"VirtualMachine\">vm-1</q:obj>"
	    "<q:propSet><q:name>config.hardware.numCPU</q:name><q:val X:type=\"xsd:int\">4</q:val></q:propSet>"
	    "<q:propSet><q:name>runtime.powerState</q:name><q:val X:type=\"VirtualMachinePowerState\">"
	    "poweredOn</q:val></q:propSet>"
	    "<q:propSet><q:name>datastore</q:name><q:val X:type=\"ArrayOfManagedObjectReference\">"
	    "<q:ManagedObjectReference type=\"Datastore\">datastore-1</q:ManagedObjectReference>"
	    "<q:ManagedObjectReference type=\"Datastore\">datastore-2</q:ManagedObjectReference>"
	    "</q:val></q:propSet>"
	    "<q:propSet><q:name>runtime.question</q:name><q:val X:type=\"VirtualMachineQuestionInfo\">"
	    "<q:id>q-1</q:id><q:text>Did you move it?</q:text><q:choice>"
	    "<q:choiceInfo X:type=\"ElementDescription\"><q:label>Cancel</q:label><q:summary>Cancel</q:summary>"
	    "<q:key>0</q:key></q:choiceInfo><q:choiceInfo X:type=\"ElementDescription\"><q:label>"
	    "I moved it</q:label><q:summary>I moved it</q:summary><q:key>1</q:key></q:choiceInfo>"
	    "<q:defaultIndex>1</q:defaultIndex></q:choice></q:val></q:propSet>"
	    "<q:propSet><q:name>summary.hardware</q:name><q:val X:type=\"HostHardwareSummary\">"
	    "<q:vendor>VMware</q:vendor><q:numCpuThreads>2</q:numCpuThreads></q:val></q:propSet>"
	    "</q:objects><q:objects><q:obj type=\"VirtualMachine\">vm-2</q:obj>"
	    "<q:missingSet><q:path>config</q:path><q:fault><q:fault X:type=\"NoPermission\">"
	    "<q:object type=\"VirtualMachine\">vm-2</q:object><q:privilegeId>System.Read</q:privilegeId>"
	    "</q:fault><q:localizedMessage>no</q:localizedMessage></q:fault></q:missingSet>"
	    "</q:objects></q:returnval></q:RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>";
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_resp_RetrievePropertiesEx *r;
	const struct vim_ObjectContent *oc;
	const struct vim_any *v;
	const struct vim_VirtualMachineQuestionInfo *q;

	(void)state;
	r = decode_ok(xml, &vim_method_RetrievePropertiesEx, &a);
	assert_string_equal(r->returnval->token, "tok-1");
	assert_int_equal(r->returnval->objects.len, 2);
	oc = r->returnval->objects.v[0];
	assert_string_equal(oc->obj->value, "vm-1");
	assert_int_equal(oc->propSet.len, 5);
	assert_int_equal(vcd_pc_int(oc, "config.hardware.numCPU", -1), 4);
	assert_string_equal(vcd_pc_str(oc, "runtime.powerState"), "poweredOn");
	v = vcd_pc_prop(oc, "datastore");
	assert_int_equal(v->kind, VA_ARRAY);
	assert_int_equal(v->nitems, 2);
	assert_int_equal(v->items[1]->kind, VA_MOREF);
	assert_string_equal(v->items[1]->moref->type, "Datastore");
	assert_string_equal(v->items[1]->moref->value, "datastore-2");
	v = vcd_pc_prop(oc, "runtime.question");
	assert_int_equal(v->kind, VA_OBJ);
	q = vim_cast(v->obj, &vim_type_VirtualMachineQuestionInfo);
	assert_non_null(q);
	assert_string_equal(q->text, "Did you move it?");
	assert_int_equal(q->choice->choiceInfo.len, 2);
	assert_string_equal(q->choice->choiceInfo.v[1]->key, "1");
	assert_string_equal(q->choice->choiceInfo.v[1]->base.label, "I moved it");
	assert_int_equal(q->choice->defaultIndex.v, 1);
	/* a type outside our subset: kept as a value, its members skipped */
	v = vcd_pc_prop(oc, "summary.hardware");
	assert_int_equal(v->kind, VA_SCALAR);
	assert_string_equal(v->xsi_type, "HostHardwareSummary");
	/* missingSet with its fault */
	oc = r->returnval->objects.v[1];
	assert_int_equal(oc->missingSet.len, 1);
	assert_string_equal(vim_type_name(oc->missingSet.v[0]->fault->fault), "NoPermission");
	vim_arena_free(&a);
}

static void
test_decode_device_array(void **state)
{
	/* items of an ArrayOfVirtualDevice carry their own xsi:type */
	const char *xml = ENV_OPEN "<RetrievePropertiesExResponse xmlns=\"urn:vim25\">"
	    "<returnval><objects><obj type=\"VirtualMachine\">vm-1</obj><propSet>"
	    "<name>config.hardware.device</name><val xsi:type=\"ArrayOfVirtualDevice\">"
	    "<VirtualDevice xsi:type=\"VirtualIDEController\"><key>200</key><busNumber>0"
	    "</busNumber></VirtualDevice><VirtualDevice xsi:type=\"VirtualVmxnet3\">"
	    "<key>4000</key><backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\">"
	    "<deviceName>VM Network</deviceName><network type=\"Network\">network-7"
	    "</network></backing><macAddress>00:50:56:00:00:01</macAddress>"
	    "</VirtualDevice></val></propSet></objects></returnval>"
	    "</RetrievePropertiesExResponse>" ENV_CLOSE;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vim_resp_RetrievePropertiesEx *r;
	const struct vim_any *v;
	const struct vim_VirtualEthernetCard *c;

	(void)state;
	r = decode_ok(xml, &vim_method_RetrievePropertiesEx, &a);
	v = vcd_pc_prop(r->returnval->objects.v[0], "config.hardware.device");
	assert_int_equal(v->nitems, 2);
	assert_non_null(vim_cast(v->items[0]->obj, &vim_type_VirtualIDEController));
	assert_non_null(vim_cast(v->items[1]->obj, &vim_type_VirtualVmxnet3));
	c = vim_cast(v->items[1]->obj, &vim_type_VirtualEthernetCard);
	assert_string_equal(c->macAddress, "00:50:56:00:00:01");
	assert_non_null(vim_cast(c->base.backing,
	    &vim_type_VirtualEthernetCardNetworkBackingInfo));
	vim_arena_free(&a);
}

/*
 * Devices of subtypes: a VirtualVmxnet3Vrdma NIC and an RDM disk, which the
 * spec describes, keep every member; a device and a backing of types it
 * does not describe are read as the declared type (VirtualDevice in an
 * ArrayOfVirtualDevice, VirtualDeviceBackingInfo for a backing) with that
 * type's members, and go back as the type they came as.
 */
static void
test_decode_device_subtypes(void **state)
{
	const char *xml = ENV_OPEN "<RetrievePropertiesExResponse xmlns=\"urn:vim25\">"
	    "<returnval><objects><obj type=\"VirtualMachine\">vm-1</obj><propSet>"
	    "<name>config.hardware.device</name><val xsi:type=\"ArrayOfVirtualDevice\">"
	    "<VirtualDevice xsi:type=\"VirtualVmxnet3Vrdma\"><key>4000</key>"
	    "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\"><deviceName>"
	    "VM Network</deviceName></backing><controllerKey>100</controllerKey>"
	    "<unitNumber>7</unitNumber><macAddress>00:50:56:00:00:02</macAddress>"
	    "<deviceProtocol>rocev2</deviceProtocol></VirtualDevice>"
	    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2001</key>"
	    "<backing xsi:type=\"VirtualDiskRawDiskMappingVer1BackingInfo\">"
	    "<fileName>[ds1] vm/vm_1.vmdk</fileName><datastore type=\"Datastore\">"
	    "datastore-1</datastore><lunUuid>0200000000600a</lunUuid><deviceName>"
	    "vml.0200000000600a</deviceName><compatibilityMode>physicalMode"
	    "</compatibilityMode><diskMode>independent_persistent</diskMode></backing>"
	    "<controllerKey>1000</controllerKey><unitNumber>1</unitNumber>"
	    "<capacityInKB>1048576</capacityInKB></VirtualDevice>"
	    "<VirtualDevice xsi:type=\"VirtualPrecisionClock\"><key>19000</key>"
	    "<deviceInfo><label>Precision Clock 1</label><summary>ptp</summary>"
	    "</deviceInfo><backing xsi:type=\"VirtualPrecisionClockSystemClockBackingInfo\">"
	    "<protocol>ptp</protocol></backing><controllerKey>100</controllerKey>"
	    "<unitNumber>20</unitNumber><futureMember>x</futureMember></VirtualDevice>"
	    "<VirtualDevice xsi:type=\"VirtualDisk\"><key>2002</key>"
	    "<backing xsi:type=\"VirtualDiskFutureBackingInfo\"><fileName>[ds1] vm/f.vmdk"
	    "</fileName></backing><controllerKey>1000</controllerKey>"
	    "<capacityInKB>2048</capacityInKB></VirtualDevice>"
	    "</val></propSet></objects></returnval>"
	    "</RetrievePropertiesExResponse>" ENV_CLOSE;
	struct vim_arena a = VIM_ARENA_INIT, a2 = VIM_ARENA_INIT;
	struct vim_resp_RetrievePropertiesEx *r;
	struct vim_req_ReconfigVM_Task req;
	struct vim_VirtualMachineConfigSpec cs;
	struct vim_VirtualDeviceConfigSpec ds, *dsv[1] = { &ds };
	struct vcd_moref vm = { "VirtualMachine", "vm-1" };
	const struct vim_any *v;
	const struct vim_VirtualEthernetCard *nic;
	const struct vim_VirtualDisk *disk;
	const struct vim_VirtualDiskRawDiskMappingVer1BackingInfo *rdm;
	const struct vim_VirtualDevice *dev;
	struct buf b = BUF_INIT;
	struct vcd_err err;

	(void)state;
	r = decode_ok(xml, &vim_method_RetrievePropertiesEx, &a);
	v = vcd_pc_prop(r->returnval->objects.v[0], "config.hardware.device");
	assert_int_equal(v->nitems, 4);
	/* the RDMA NIC is a NIC, with its MAC and backing */
	nic = vim_cast(v->items[0]->obj, &vim_type_VirtualEthernetCard);
	assert_non_null(nic);
	assert_string_equal(vim_type_name(nic), "VirtualVmxnet3Vrdma");
	assert_string_equal(nic->macAddress, "00:50:56:00:00:02");
	assert_int_equal(nic->base.key.v, 4000);
	assert_non_null(vim_cast(nic->base.backing,
	    &vim_type_VirtualEthernetCardNetworkBackingInfo));
	assert_string_equal(((const struct vim_VirtualVmxnet3Vrdma *)nic)->deviceProtocol,
	    "rocev2");
	/* the RDM disk keeps its file and LUN */
	disk = vim_cast(v->items[1]->obj, &vim_type_VirtualDisk);
	assert_non_null(disk);
	rdm = vim_cast(disk->base.backing, &vim_type_VirtualDiskRawDiskMappingVer1BackingInfo);
	assert_non_null(rdm);
	assert_string_equal(rdm->base.fileName, "[ds1] vm/vm_1.vmdk");
	assert_string_equal(rdm->base.datastore->value, "datastore-1");
	assert_string_equal(rdm->lunUuid, "0200000000600a");
	assert_string_equal(rdm->compatibilityMode, "physicalMode");
	assert_int_equal(disk->capacityInKB.v, 1048576);
	/* an unknown device: a VirtualDevice with its members, and its name */
	assert_int_equal(v->items[2]->kind, VA_OBJ);
	dev = vim_cast(v->items[2]->obj, &vim_type_VirtualDevice);
	assert_non_null(dev);
	assert_string_equal(vim_type_name(dev), "VirtualPrecisionClock");
	assert_int_equal(dev->key.v, 19000);
	assert_string_equal(dev->deviceInfo->label, "Precision Clock 1");
	assert_int_equal(dev->controllerKey.v, 100);
	assert_int_equal(dev->unitNumber.v, 20);
	assert_string_equal(vim_type_name(dev->backing),
	    "VirtualPrecisionClockSystemClockBackingInfo");
	/* an unknown backing of a known disk: the declared base type */
	disk = vim_cast(v->items[3]->obj, &vim_type_VirtualDisk);
	assert_non_null(disk);
	assert_int_equal(disk->capacityInKB.v, 2048);
	assert_string_equal(vim_type_name(disk->base.backing), "VirtualDiskFutureBackingInfo");

	/* sent back (removing the unknown device) as the type it came as,
	 * from a deep copy that outlives the answer (ASan sees the rest) */
	dev = vim_dup(&a2, dev);
	vim_arena_free(&a);
	vim_init(&req, &vim_type_req_ReconfigVM_Task);
	vim_init(&cs, &vim_type_VirtualMachineConfigSpec);
	vim_init(&ds, &vim_type_VirtualDeviceConfigSpec);
	ds.operation = "remove";
	ds.device = (struct vim_VirtualDevice *)dev;
	cs.deviceChange.v = dsv;
	cs.deviceChange.len = 1;
	req._this = &vm;
	req.spec = &cs;
	assert_int_equal(vim_encode_request(&b, &vim_method_ReconfigVM_Task, &req, &err), 0);
	assert_non_null(strstr(buf_cstr(&b), "<device xsi:type=\"VirtualPrecisionClock\">"
	    "<key>19000</key><deviceInfo xsi:type=\"Description\"><label>Precision Clock 1"
	    "</label>"));
	assert_non_null(strstr(buf_cstr(&b),
	    "<backing xsi:type=\"VirtualPrecisionClockSystemClockBackingInfo\"></backing>"));
	assert_null(strstr(buf_cstr(&b), "futureMember"));
	buf_free(&b);
	vim_arena_free(&a2);
}

/*
 * What may be sent twice (vim25.spec): reads and cancels; never a task, nor
 * a call that makes, changes or answers something.
 */
static void
test_idempotent_marks(void **state)
{
	const struct vim_method *safe[] = { &vim_method_RetrieveServiceContent,
	    &vim_method_RetrievePropertiesEx, &vim_method_FindByUuid,
	    &vim_method_WaitForUpdatesEx, &vim_method_CurrentTime,
	    &vim_method_CancelTask, &vim_method_CreateContainerView,
	    &vim_method_CreateFilter };
	const struct vim_method *once[] = { &vim_method_ContinueRetrievePropertiesEx,
	    &vim_method_AnswerVM, &vim_method_MakeDirectory,
	    &vim_method_AddPortGroup, &vim_method_ImportVApp,
	    &vim_method_HttpNfcLeaseComplete, &vim_method_UnregisterVM,
	    &vim_method_ShutdownGuest, &vim_method_RebootGuest };

	(void)state;
	for (size_t i = 0; i < vim_nmethods; i++) {
		size_t n = strlen(vim_methods[i]->name);
		if (n > 5 && strcmp(vim_methods[i]->name + n - 5, "_Task") == 0 &&
		    vim_methods[i]->idempotent)
			fail_msg("%s returns a task: it must not be sent twice",
			    vim_methods[i]->name);
	}
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (!safe[i]->idempotent)
			fail_msg("%s is safe to repeat", safe[i]->name);
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (once[i]->idempotent)
			fail_msg("%s must not be sent twice", once[i]->name);
}

static void
test_decode_rejects(void **state)
{
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	void *out;
	char deep[4096];
	size_t n = 0;

	(void)state;
#define REJECT(xml, what) do { \
	assert_int_equal(vim_decode_response(xml, strlen(xml), \
	    &vim_method_CurrentTime, &a, &out, NULL, &err), -1); \
	assert_int_equal(err.code, VCD_E_PROTOCOL); \
	if (strstr(err.msg, what) == NULL) fail_msg("%s", err.msg); } while (0)
	REJECT("<html>503</html>", "not a SOAP envelope");
	REJECT("", "empty");
	REJECT(ENV_OPEN "<CurrentTimeResponse xmlns=\"urn:vim25\"><returnval>x", "malformed XML");
	REJECT("<!DOCTYPE x [<!ENTITY e \"boom\">]>" ENV_OPEN ENV_CLOSE, "DOCTYPE");
	REJECT(ENV_OPEN "<LoginResponse xmlns=\"urn:vim25\"/>" ENV_CLOSE,
	    "expected CurrentTimeResponse, got <LoginResponse>");
	REJECT(ENV_OPEN ENV_CLOSE, "the SOAP body is empty");
	n += (size_t)snprintf(deep, sizeof(deep), ENV_OPEN "<CurrentTimeResponse xmlns=\"urn:vim25\">");
	for (int i = 0; i < 80; i++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "<returnval>");
	REJECT(deep, "");	/* unknown nesting below a scalar */
	/* a non-integer where an integer belongs */
	assert_int_equal(vim_decode_response(ENV_OPEN "<RetrievePropertiesExResponse "
	    "xmlns=\"urn:vim25\"><returnval><objects><obj type=\"A\">a</obj></objects>"
	    "</returnval></RetrievePropertiesExResponse>" ENV_CLOSE, 200,
	    &vim_method_RetrievePropertiesEx, &a, &out, NULL, &err), -1);
	vim_arena_free(&a);
}

/* ---- faults ---- */

static void
decode_fault(const char *xml, struct vcd_err *err)
{
	struct vim_arena a = VIM_ARENA_INIT;
	void *out;

	assert_int_equal(vim_decode_response(xml, strlen(xml), &vim_method_Login,
	    &a, &out, NULL, err), -1);
	assert_int_equal(err->code, VCD_E_FAULT);
	vim_arena_free(&a);
}

static void
test_faults(void **state)
{
	struct vcd_err err;
	char line[800];

	(void)state;
	decode_fault(ENV_OPEN "<soapenv:Fault><faultcode>ServerFaultCode</faultcode>"
	    "<faultstring>The object 'vim.VirtualMachine:vm-42' has already been deleted"
	    "</faultstring><detail><ManagedObjectNotFoundFault xmlns=\"urn:vim25\" "
	    "xsi:type=\"ManagedObjectNotFound\"><obj type=\"VirtualMachine\">vm-42</obj>"
	    "</ManagedObjectNotFoundFault></detail></soapenv:Fault>" ENV_CLOSE, &err);
	assert_string_equal(err.fault, "ManagedObjectNotFound");
	assert_string_equal(err.object, "VirtualMachine:vm-42");
	assert_non_null(strstr(err.msg, "already been deleted"));

	/* vcsim: another prefix for XSI, empty faultstring */
	decode_fault("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	    "<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode>"
	    "<faultstring></faultstring><detail><Fault xmlns:XMLSchema-instance="
	    "\"http://www.w3.org/2001/XMLSchema-instance\" XMLSchema-instance:type="
	    "\"NotAuthenticated\"><object type=\"Folder\">group-d1</object>"
	    "<privilegeId>System.View</privilegeId></Fault></detail></soapenv:Fault>"
	    "</soapenv:Body></soapenv:Envelope>", &err);
	assert_string_equal(err.fault, "NotAuthenticated");
	assert_string_equal(err.object, "Folder:group-d1");
	assert_string_equal(err.msg, "(the server gave no message)");

	/* no xsi:type: the element name minus "Fault"; a plain "type" is no xsi:type */
	decode_fault(ENV_OPEN "<soapenv:Fault><faultstring>Cannot complete login due to "
	    "an incorrect user name or password.</faultstring><detail><InvalidLoginFault "
	    "xmlns=\"urn:vim25\" type=\"Bogus\"/></detail></soapenv:Fault>" ENV_CLOSE, &err);
	assert_string_equal(err.fault, "InvalidLogin");

	decode_fault(ENV_OPEN "<soapenv:Fault><faultstring>File [ds1] a/b.vmdk was not found"
	    "</faultstring><detail><FileNotFoundFault xmlns=\"urn:vim25\" xsi:type="
	    "\"FileNotFound\"><file>[ds1] a/b.vmdk</file></FileNotFoundFault></detail>"
	    "</soapenv:Fault>" ENV_CLOSE, &err);
	assert_string_equal(vcd_strerror(&err, line, sizeof(line)),
	    "FileNotFound ([ds1] a/b.vmdk): File [ds1] a/b.vmdk was not found");

	decode_fault(ENV_OPEN "<soapenv:Fault><faultstring></faultstring><detail>"
	    "<InvalidPowerStateFault xmlns=\"urn:vim25\" xsi:type=\"InvalidPowerState\">"
	    "<requestedState>poweredOn</requestedState><existingState>poweredOff</existingState>"
	    "</InvalidPowerStateFault></detail></soapenv:Fault>" ENV_CLOSE, &err);
	assert_string_equal(err.fault, "InvalidPowerState");
	assert_string_equal(err.msg, "the virtual machine is poweredOff, not poweredOn");

	/* a fault type outside our subset keeps its name */
	decode_fault(ENV_OPEN "<soapenv:Fault><faultstring>busy</faultstring><detail>"
	    "<HostCommunicationFault xmlns=\"urn:vim25\" xsi:type=\"HostCommunication\"/>"
	    "</detail></soapenv:Fault>" ENV_CLOSE, &err);
	assert_string_equal(err.fault, "HostCommunication");

	decode_fault(ENV_OPEN "<soapenv:Fault><faultstring>x</faultstring><detail>"
	    "<DuplicateNameFault xmlns=\"urn:vim25\" xsi:type=\"DuplicateName\"><name>vm1</name>"
	    "<object type=\"VirtualMachine\">vm-7</object></DuplicateNameFault></detail>"
	    "</soapenv:Fault>" ENV_CLOSE, &err);
	assert_string_equal(err.fault, "DuplicateName");
	assert_string_equal(err.object, "vm1");
}

/* Every fault type the issue names, as vCenter sends it. */
static void
test_fault_table(void **state)
{
	static const struct {
		const char *detail;	/* inside <XFault xsi:type="T"> */
		const char *type, *object;
	} t[] = {
		{ "<object type=\"Folder\">group-d1</object><privilegeId>System.View</privilegeId>",
		    "NotAuthenticated", "Folder:group-d1" },
		{ "<invalidProperty>spec.numCPUs</invalidProperty>",
		    "InvalidArgument", "spec.numCPUs" },
		{ "<obj type=\"VirtualMachine\">vm-9</obj>",
		    "ManagedObjectNotFound", "VirtualMachine:vm-9" },
		{ "<file>[ds1] a.vmdk</file>", "FileNotFound", "[ds1] a.vmdk" },
		{ "<file>[ds1] _base/x</file>", "FileAlreadyExists", "[ds1] _base/x" },
		{ "<name>web-1</name><object type=\"VirtualMachine\">vm-3</object>",
		    "DuplicateName", "web-1" },
		{ "<requestedState>poweredOn</requestedState><existingState>poweredOn"
		    "</existingState>", "InvalidPowerState", "" },
		{ "<task type=\"Task\">task-77</task>", "TaskInProgress", "Task:task-77" },
		{ "<file>[ds1] vm/vm.vmdk</file><datastore>ds1</datastore>",
		    "NoDiskSpace", "ds1" },
		{ "", "InvalidLogin", "" },
		{ "<datastore type=\"Datastore\">datastore-1</datastore><name>ds1</name>"
		    "<datastorePath>[ds1 x</datastorePath>", "InvalidDatastorePath", "[ds1 x" },
		{ "<receiver type=\"VirtualMachine\">vm-1</receiver><method>AnswerVM</method>",
		    "MethodNotFound", "AnswerVM" },
		{ "<source>vcagent</source>", "MethodDisabled", "" },
		{ "", "RequestCanceled", "" },
		{ "<name>summary.opaqueNetworkId</name>", "InvalidProperty",
		    "summary.opaqueNetworkId" },
	};
	char xml[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct vcd_err err;

		snprintf(xml, sizeof(xml), ENV_OPEN "<soapenv:Fault><faultcode>"
		    "ServerFaultCode</faultcode><faultstring>msg %zu</faultstring><detail>"
		    "<%sFault xmlns=\"urn:vim25\" xsi:type=\"%s\">%s</%sFault></detail>"
		    "</soapenv:Fault>" ENV_CLOSE, i, t[i].type, t[i].type, t[i].detail,
		    t[i].type);
		decode_fault(xml, &err);
		if (strcmp(err.fault, t[i].type) != 0 || strcmp(err.object, t[i].object) != 0)
			fail_msg("%s: got fault \"%s\" object \"%s\"", t[i].type,
			    err.fault, err.object);
		assert_true(strncmp(err.msg, "msg ", 4) == 0);
	}
}

/* ---- paging, on recorded answers ---- */

struct pager {
	const char	*pages[4];
	int		 next;
	char		 calls[8][64];
	int		 ncalls;
	char		 tokens[8][32];
};

static int
pager_post(struct vcd_session *s, struct vcd_conn *c, long *status,
    struct vcd_err *err)
{
	struct pager *p = s->post_arg;
	const char *body = buf_cstr(&c->req), *m, *t;

	(void)err;
	m = strstr(body, "<soapenv:Body><") + 15;
	snprintf(p->calls[p->ncalls], sizeof(p->calls[0]), "%.*s",
	    (int)strcspn(m, " >"), m);
	if ((t = strstr(body, "<token>")) != NULL)
		snprintf(p->tokens[p->ncalls], sizeof(p->tokens[0]), "%.*s",
		    (int)strcspn(t + 7, "<"), t + 7);
	p->ncalls++;
	buf_reset(&c->resp);
	if (strncmp(m, "CancelRetrievePropertiesEx", 26) == 0)
		buf_puts(&c->resp, ENV_OPEN "<CancelRetrievePropertiesExResponse "
		    "xmlns=\"urn:vim25\"/>" ENV_CLOSE);
	else
		buf_puts(&c->resp, p->pages[p->next++]);
	*status = 200;
	return 0;
}

#define PAGE(method, token, a, b) ENV_OPEN "<" method "Response xmlns=\"urn:vim25\">" \
	"<returnval>" token "<objects><obj type=\"VirtualMachine\">" a "</obj></objects>" \
	"<objects><obj type=\"VirtualMachine\">" b "</obj></objects></returnval></" \
	method "Response>" ENV_CLOSE

static int
collect(void *arg, const struct vim_ObjectContent *oc)
{
	struct buf *seen = arg;

	buf_printf(seen, "%s ", oc->obj->value);
	return strcmp(oc->obj->value, "stop-here") == 0;
}

static void
test_paging(void **state)
{
	struct pager p = { { PAGE("RetrievePropertiesEx", "<token>t1</token>", "vm-1", "vm-2"),
	    PAGE("ContinueRetrievePropertiesEx", "<token>t2</token>", "vm-3", "vm-4"),
	    PAGE("ContinueRetrievePropertiesEx", "", "vm-5", "vm-6"), NULL }, 0, {{0}}, 0, {{0}} };
	struct vcd_session *s = vcd_session_fake(pager_post, &p);
	struct vim_PropertyFilterSpec spec;
	struct buf seen = BUF_INIT;
	struct vcd_err err;

	(void)state;
	vim_init(&spec, &vim_type_PropertyFilterSpec);
	assert_int_equal(vcd_pc_retrieve(s, &spec, 2, collect, &seen, &err), 0);
	assert_string_equal(buf_cstr(&seen), "vm-1 vm-2 vm-3 vm-4 vm-5 vm-6 ");
	assert_int_equal(p.ncalls, 3);
	assert_string_equal(p.calls[0], "RetrievePropertiesEx");
	assert_string_equal(p.calls[1], "ContinueRetrievePropertiesEx");
	assert_string_equal(p.tokens[1], "t1");
	assert_string_equal(p.tokens[2], "t2");
	vcd_close(s);
	buf_free(&seen);
}

static void
test_paging_cancel_on_early_exit(void **state)
{
	struct pager p = { { PAGE("RetrievePropertiesEx", "<token>t1</token>", "vm-1", "stop-here"),
	    NULL, NULL, NULL }, 0, {{0}}, 0, {{0}} };
	struct vcd_session *s = vcd_session_fake(pager_post, &p);
	struct vim_PropertyFilterSpec spec;
	struct buf seen = BUF_INIT;
	struct vcd_err err;

	(void)state;
	vim_init(&spec, &vim_type_PropertyFilterSpec);
	assert_int_equal(vcd_pc_retrieve(s, &spec, 2, collect, &seen, &err), 0);
	assert_string_equal(buf_cstr(&seen), "vm-1 stop-here ");
	assert_int_equal(p.ncalls, 2);
	assert_string_equal(p.calls[1], "CancelRetrievePropertiesEx");
	assert_string_equal(p.tokens[1], "t1");
	vcd_close(s);
	buf_free(&seen);
}

/* vmware.maximum_objects: the session's page size goes out as maxObjects */
struct pagesize {
	bool	 sent;
	int	 ncalls;
};

static int
pagesize_post(struct vcd_session *s, struct vcd_conn *c, long *status,
    struct vcd_err *err)
{
	struct pagesize *p = s->post_arg;

	(void)err;
	p->ncalls++;
	p->sent = strstr(buf_cstr(&c->req), "<options><maxObjects>3</maxObjects>"
	    "</options>") != NULL;
	buf_reset(&c->resp);
	buf_puts(&c->resp, PAGE("RetrievePropertiesEx", "", "vm-1", "vm-2"));
	*status = 200;
	return 0;
}

static void
test_page_size_from_session(void **state)
{
	struct pagesize p = { false, 0 };
	struct vcd_session *s = vcd_session_fake(pagesize_post, &p);
	struct vim_PropertyFilterSpec spec;
	struct buf seen = BUF_INIT;
	struct vcd_err err;

	(void)state;
	s->max_objects = 3;
	vim_init(&spec, &vim_type_PropertyFilterSpec);
	assert_int_equal(vcd_pc_retrieve(s, &spec, 0, collect, &seen, &err), 0);
	assert_int_equal(p.ncalls, 1);
	assert_true(p.sent);
	assert_string_equal(buf_cstr(&seen), "vm-1 vm-2 ");
	vcd_close(s);
	buf_free(&seen);
}

static void
test_types(void **state)
{
	struct vim_VirtualDisk d;

	(void)state;
	assert_ptr_equal(vim_type_find("VirtualDisk"), &vim_type_VirtualDisk);
	assert_ptr_equal(vim_type_find("vim25:TraversalSpec"), &vim_type_TraversalSpec);
	assert_null(vim_type_find("NoSuchType"));
	vim_init(&d, &vim_type_VirtualDisk);
	assert_non_null(vim_cast(&d, &vim_type_VirtualDevice));
	assert_null(vim_cast(&d, &vim_type_VirtualEthernetCard));
	/* flattened members: base first */
	assert_string_equal(vim_type_VirtualDisk.all[0]->name, "key");
	assert_string_equal(vim_type_VirtualDisk.all[vim_type_VirtualDisk.nall - 1]->name,
	    "vDiskId");
	/* pbm.spec's types share the table */
	assert_ptr_equal(vim_type_find("PbmCapabilityProfile"), &vim_type_PbmCapabilityProfile);
	for (size_t i = 1; i < vim_ntypes; i++)
		assert_true(strcmp(vim_types[i - 1]->name, vim_types[i]->name) < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_encode_retrieve),
		cmocka_unit_test(test_encode_config_spec),
		cmocka_unit_test(test_encode_pbm),
		cmocka_unit_test(test_decode_pbm_profiles),
		cmocka_unit_test(test_decode_service_content),
		cmocka_unit_test(test_decode_properties),
		cmocka_unit_test(test_decode_device_array),
		cmocka_unit_test(test_decode_device_subtypes),
		cmocka_unit_test(test_idempotent_marks),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_fault_table),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_paging_cancel_on_early_exit),
		cmocka_unit_test(test_page_size_from_session),
		cmocka_unit_test(test_types),
	};

	return cmocka_run_group_tests_name("vim", tests, NULL, NULL);
}
