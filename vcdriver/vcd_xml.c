/*
 * vcd_xml.c - writing SOAP requests with careful escaping, and small helpers
 * to read a libxml2 response by namespace (never by prefix: vcsim writes
 * "XMLSchema-instance:type" where vCenter writes "xsi:type").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "vcd_int.h"
#include "xmalloc.h"

int
vcd_xml_check(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return -1;
	}
	return 0;
}

void
vcd_xml_escape(struct vcd_req *r, const char *s)
{
	const char *run = s;

	if (vcd_xml_check(s) < 0) {
		r->bad = true;
		return;
	}
	for (; *s != '\0'; s++) {
		const char *rep;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\r': rep = "&#13;"; break;	/* would be normalised away */
		default: continue;
		}
		buf_append(&r->b, run, (size_t)(s - run));
		buf_puts(&r->b, rep);
		run = s + 1;
	}
	buf_append(&r->b, run, (size_t)(s - run));
}

void
vcd_req_begin(struct vcd_req *r, const char *method, const struct vcd_moref *this)
{
	buf_reset(&r->b);
	r->bad = false;
	buf_puts(&r->b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<soapenv:Envelope xmlns:soapenv=\"" VCD_NS_SOAPENV "\" "
	    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
	    "xmlns:xsi=\"" VCD_NS_XSI "\"><soapenv:Body>");
	buf_printf(&r->b, "<%s xmlns=\"" VCD_NS_VIM "\">", method);
	vcd_xml_moref(r, "_this", this);
}

void
vcd_req_end(struct vcd_req *r, const char *method)
{
	buf_printf(&r->b, "</%s></soapenv:Body></soapenv:Envelope>", method);
}

void
vcd_req_free(struct vcd_req *r)
{
	buf_free(&r->b);
}

void
vcd_xml_open(struct vcd_req *r, const char *name, const char *xsi_type)
{
	if (xsi_type != NULL)
		buf_printf(&r->b, "<%s xsi:type=\"%s\">", name, xsi_type);
	else
		buf_printf(&r->b, "<%s>", name);
}

void
vcd_xml_close(struct vcd_req *r, const char *name)
{
	buf_printf(&r->b, "</%s>", name);
}

void
vcd_xml_elem(struct vcd_req *r, const char *name, const char *text)
{
	buf_printf(&r->b, "<%s>", name);
	vcd_xml_escape(r, text);
	buf_printf(&r->b, "</%s>", name);
}

void
vcd_xml_elem_int(struct vcd_req *r, const char *name, long long v)
{
	buf_printf(&r->b, "<%s>%lld</%s>", name, v, name);
}

void
vcd_xml_moref(struct vcd_req *r, const char *name, const struct vcd_moref *m)
{
	buf_printf(&r->b, "<%s type=\"", name);
	vcd_xml_escape(r, m->type);
	buf_puts(&r->b, "\">");
	vcd_xml_escape(r, m->value);
	buf_printf(&r->b, "</%s>", name);
}

/* ---- reading ---- */

static bool
vcd_xml_is(xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	    (name == NULL || strcmp((const char *)n->name, name) == 0);
}

xmlNode *
vcd_xml_child(xmlNode *parent, const char *name)
{
	xmlNode *n;

	if (parent == NULL)
		return NULL;
	for (n = parent->children; n != NULL; n = n->next)
		if (vcd_xml_is(n, name))
			return n;
	return NULL;
}

xmlNode *
vcd_xml_next(xmlNode *node, const char *name)
{
	xmlNode *n;

	for (n = node->next; n != NULL; n = n->next)
		if (vcd_xml_is(n, name))
			return n;
	return NULL;
}

const char *
vcd_xml_xsi_type(xmlNode *node)
{
	xmlAttr *a;

	for (a = node->properties; a != NULL; a = a->next)
		if (a->ns != NULL && a->ns->href != NULL &&
		    strcmp((const char *)a->ns->href, VCD_NS_XSI) == 0 &&
		    strcmp((const char *)a->name, "type") == 0 &&
		    a->children != NULL && a->children->type == XML_TEXT_NODE)
			return (const char *)a->children->content;
	return NULL;
}

void
vcd_xml_text_copy(xmlNode *node, char *dst, size_t len)
{
	xmlChar *t;

	dst[0] = '\0';
	if (node == NULL)
		return;
	if ((t = xmlNodeGetContent(node)) != NULL) {
		snprintf(dst, len, "%s", (const char *)t);
		xmlFree(t);
	}
}

char *
vcd_xml_text_dup(xmlNode *node)
{
	xmlChar *t;
	char *s;

	if (node == NULL || (t = xmlNodeGetContent(node)) == NULL)
		return xstrdup("");
	s = xstrdup((const char *)t);
	xmlFree(t);
	return s;
}

/* A MoRef: the plain (un-namespaced) "type" attribute and the text. */
void
vcd_xml_moref_read(xmlNode *node, struct vcd_moref *m)
{
	xmlAttr *a;

	m->type[0] = m->value[0] = '\0';
	if (node == NULL)
		return;
	for (a = node->properties; a != NULL; a = a->next)
		if (a->ns == NULL && strcmp((const char *)a->name, "type") == 0 &&
		    a->children != NULL)
			snprintf(m->type, sizeof(m->type), "%s",
			    (const char *)a->children->content);
	vcd_xml_text_copy(node, m->value, sizeof(m->value));
}
