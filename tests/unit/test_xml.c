/*
 * test_xml.c - request encoding (escaping, characters XML cannot carry) and
 * fault decoding from recorded vCenter and vcsim answers.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "vcdriver/vcd_int.h"

static void
test_escape(void **state)
{
	struct vcd_req r = { BUF_INIT, false };

	(void)state;
	vcd_xml_elem(&r, "name", "a<b>&\"c'd\r");
	assert_string_equal(buf_cstr(&r.b),
	    "<name>a&lt;b&gt;&amp;&quot;c&apos;d&#13;</name>");
	assert_false(r.bad);
	buf_reset(&r.b);
	vcd_xml_elem(&r, "name", "tab\tand\nnewline and ünïcödé");
	assert_string_equal(buf_cstr(&r.b),
	    "<name>tab\tand\nnewline and ünïcödé</name>");
	assert_false(r.bad);
	vcd_xml_elem(&r, "name", "bell\a");
	assert_true(r.bad);
	vcd_req_free(&r);
}

static void
test_envelope_and_moref(void **state)
{
	struct vcd_req r = { BUF_INIT, false };
	const struct vcd_moref vm = { "VirtualMachine", "vm-1&<x>" };

	(void)state;
	vcd_req_begin(&r, "PowerOnVM_Task", &vm);
	vcd_req_end(&r, "PowerOnVM_Task");
	assert_non_null(strstr(buf_cstr(&r.b), "xmlns:xsi=\"" VCD_NS_XSI "\""));
	assert_non_null(strstr(buf_cstr(&r.b), "xmlns:xsd="));
	assert_non_null(strstr(buf_cstr(&r.b), "<PowerOnVM_Task xmlns=\"urn:vim25\">"
	    "<_this type=\"VirtualMachine\">vm-1&amp;&lt;x&gt;</_this></PowerOnVM_Task>"));
	/* the result is well-formed XML */
	xmlDoc *doc = xmlReadMemory(r.b.data, (int)r.b.len, "r.xml", NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	vcd_req_free(&r);
}

/* Decode the fault inside a recorded response body. */
static void
decode(const char *xml, struct vcd_err *err)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "f.xml", NULL, XML_PARSE_NONET);
	xmlNode *env, *body, *fault;

	assert_non_null(doc);
	env = xmlDocGetRootElement(doc);
	body = vcd_xml_child(env, "Body");
	fault = vcd_xml_child(body, "Fault");
	assert_non_null(fault);
	vcd_fault_decode(fault, err);
	xmlFreeDoc(doc);
}

static void
test_fault_vcenter_prefix(void **state)
{
	struct vcd_err err;

	(void)state;
	/* vCenter's shape: xsi prefix, the detail element named <XFault> */
	decode("<?xml version=\"1.0\"?><soapenv:Envelope "
	    "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
	    "<soapenv:Fault><faultcode>ServerFaultCode</faultcode>"
	    "<faultstring>The object 'vim.VirtualMachine:vm-42' has already been "
	    "deleted or has not been completely created</faultstring><detail>"
	    "<ManagedObjectNotFoundFault xmlns=\"urn:vim25\" xsi:type=\"ManagedObjectNotFound\">"
	    "<obj type=\"VirtualMachine\">vm-42</obj></ManagedObjectNotFoundFault>"
	    "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>", &err);
	assert_int_equal(err.code, VCD_E_FAULT);
	assert_string_equal(err.fault, "ManagedObjectNotFound");
	assert_string_equal(err.object, "VirtualMachine:vm-42");
	assert_non_null(strstr(err.msg, "has already been deleted"));
}

static void
test_fault_vcsim_prefix(void **state)
{
	struct vcd_err err;

	(void)state;
	/* vcsim's shape: the xsi namespace under another prefix */
	decode("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	    "<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode>"
	    "<faultstring></faultstring><detail><Fault "
	    "xmlns:XMLSchema-instance=\"http://www.w3.org/2001/XMLSchema-instance\" "
	    "XMLSchema-instance:type=\"NotAuthenticated\"><object type=\"Folder\">"
	    "group-d1</object><privilegeId>System.View</privilegeId></Fault></detail>"
	    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>", &err);
	assert_string_equal(err.fault, "NotAuthenticated");
	assert_string_equal(err.object, "Folder:group-d1");
	assert_string_equal(err.msg, "(the server gave no message)");
}

static void
test_fault_without_xsi_type(void **state)
{
	struct vcd_err err;

	(void)state;
	/* no xsi:type at all: fall back on the element name minus "Fault";
	 * a plain "type" attribute must not be mistaken for xsi:type */
	decode("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	    "<soapenv:Body><soapenv:Fault><faultstring>Cannot complete login due to an "
	    "incorrect user name or password.</faultstring><detail>"
	    "<InvalidLoginFault xmlns=\"urn:vim25\" type=\"Bogus\"/></detail>"
	    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>", &err);
	assert_string_equal(err.fault, "InvalidLogin");
	assert_string_equal(err.object, "");
	assert_non_null(strstr(err.msg, "incorrect user name"));
}

static void
test_fault_file(void **state)
{
	struct vcd_err err;
	char line[800];

	(void)state;
	decode("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
	    "<soapenv:Fault><faultstring>File [ds1] a/b.vmdk was not found</faultstring>"
	    "<detail><FileNotFoundFault xmlns=\"urn:vim25\" xsi:type=\"FileNotFound\">"
	    "<file>[ds1] a/b.vmdk</file></FileNotFoundFault></detail></soapenv:Fault>"
	    "</soapenv:Body></soapenv:Envelope>", &err);
	assert_string_equal(err.fault, "FileNotFound");
	assert_string_equal(err.object, "[ds1] a/b.vmdk");
	assert_string_equal(vcd_strerror(&err, line, sizeof(line)),
	    "FileNotFound ([ds1] a/b.vmdk): File [ds1] a/b.vmdk was not found");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_envelope_and_moref),
		cmocka_unit_test(test_fault_vcenter_prefix),
		cmocka_unit_test(test_fault_vcsim_prefix),
		cmocka_unit_test(test_fault_without_xsi_type),
		cmocka_unit_test(test_fault_file),
	};

	return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
