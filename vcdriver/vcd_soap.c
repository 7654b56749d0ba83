/*
 * vcd_soap.c - one SOAP call: send the envelope, parse the answer, and turn a
 * soapenv:Fault into a typed struct vcd_err (the fault's xsi:type from the
 * detail, never guessed from the text).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>

#include "log.h"
#include "vcd_int.h"

static bool
vcd_soap_is(xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    n->ns->href != NULL && strcmp((const char *)n->ns->href, ns) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The object a fault is about, from the members the vim25 faults use. */
static void
vcd_fault_object(xmlNode *detail, struct vcd_err *err)
{
	static const char *const morefs[] = { "obj", "object", "entity", "host", "vm", NULL };
	static const char *const names[] = { "file", "datastore", "name",
	    "invalidProperty", NULL };
	struct vcd_moref m;
	xmlNode *n;

	for (int i = 0; morefs[i] != NULL; i++)
		if ((n = vcd_xml_child(detail, morefs[i])) != NULL) {
			vcd_xml_moref_read(n, &m);
			snprintf(err->object, sizeof(err->object), "%s:%s",
			    m.type[0] ? m.type : "?", m.value);
			return;
		}
	for (int i = 0; names[i] != NULL; i++)
		if ((n = vcd_xml_child(detail, names[i])) != NULL) {
			vcd_xml_text_copy(n, err->object, sizeof(err->object));
			return;
		}
}

void
vcd_fault_decode(xmlNode *fault, struct vcd_err *err)
{
	xmlNode *detail, *d;
	const char *type = NULL;
	char text[400];
	size_t n;

	vcd_err_set(err, VCD_E_FAULT, "", "", "%s", "");
	vcd_xml_text_copy(vcd_xml_child(fault, "faultstring"), text, sizeof(text));
	detail = vcd_xml_child(fault, "detail");
	if ((d = vcd_xml_child(detail, NULL)) != NULL) {
		if ((type = vcd_xml_xsi_type(d)) != NULL) {
			const char *colon = strchr(type, ':');
			if (colon != NULL)
				type = colon + 1;	/* "vim25:X" -> "X" */
			snprintf(err->fault, sizeof(err->fault), "%s", type);
		} else {
			/* <NotAuthenticatedFault> without xsi:type */
			snprintf(err->fault, sizeof(err->fault), "%s", (const char *)d->name);
			n = strlen(err->fault);
			if (n > 5 && strcmp(err->fault + n - 5, "Fault") == 0)
				err->fault[n - 5] = '\0';
		}
		vcd_fault_object(d, err);
	}
	if (err->fault[0] == '\0')
		snprintf(err->fault, sizeof(err->fault), "SoapFault");
	snprintf(err->msg, sizeof(err->msg), "%s",
	    text[0] != '\0' ? text : "(the server gave no message)");
}

int
vcd_soap_call(struct vcd_session *s, const char *method, struct vcd_req *req,
    xmlDoc **docp, xmlNode **bodyp, struct vcd_err *err)
{
	xmlDoc *doc = NULL;
	xmlNode *env, *body, *first;
	long status = 0;
	int ret = -1;

	*docp = NULL;
	*bodyp = NULL;
	if (req->bad) {
		vcd_err_set(err, VCD_E_INVALID, NULL, method, "a string in the "
		    "request contains characters XML cannot carry");
		goto out;
	}
	log_debug("vcdriver: %s -> %s", method, s->url);
	if (vcd_http_post(s, req->b.data, req->b.len, &status, err) < 0)
		goto out;
	doc = xmlReadMemory(s->resp.data != NULL ? s->resp.data : "",
	    (int)s->resp.len, "response.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_HUGE);
	if (doc == NULL) {
		vcd_err_set(err, status == 200 ? VCD_E_PROTOCOL : VCD_E_TRANSPORT,
		    NULL, method, "HTTP %ld with %s", status,
		    s->resp.len ? "a body that is not XML" : "an empty body");
		goto out;
	}
	env = xmlDocGetRootElement(doc);
	if (!vcd_soap_is(env, VCD_NS_SOAPENV, "Envelope") ||
	    (body = vcd_xml_child(env, "Body")) == NULL ||
	    (first = vcd_xml_child(body, NULL)) == NULL) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, method, "HTTP %ld: the "
		    "answer is not a SOAP envelope", status);
		goto out;
	}
	if (vcd_soap_is(first, VCD_NS_SOAPENV, "Fault")) {
		vcd_fault_decode(first, err);
		log_debug("vcdriver: %s fault %s: %s", method, err->fault, err->msg);
		goto out;
	}
	if (status != 200) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, method, "HTTP %ld", status);
		goto out;
	}
	*docp = doc;
	*bodyp = first;
	doc = NULL;
	ret = 0;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	return ret;
}
