/*
 * vcd_session.c - connecting, reading the ServiceContent, logging in and out.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "log.h"
#include "vcd_int.h"
#include "xmalloc.h"

static const struct vcd_moref vcd_service_instance = { "ServiceInstance", "ServiceInstance" };

static void
vcd_read_about(xmlNode *about, struct vcd_about *a)
{
	vcd_xml_text_copy(vcd_xml_child(about, "name"), a->name, sizeof(a->name));
	vcd_xml_text_copy(vcd_xml_child(about, "fullName"), a->full_name, sizeof(a->full_name));
	vcd_xml_text_copy(vcd_xml_child(about, "version"), a->version, sizeof(a->version));
	vcd_xml_text_copy(vcd_xml_child(about, "build"), a->build, sizeof(a->build));
	vcd_xml_text_copy(vcd_xml_child(about, "apiType"), a->api_type, sizeof(a->api_type));
	vcd_xml_text_copy(vcd_xml_child(about, "apiVersion"), a->api_version, sizeof(a->api_version));
	vcd_xml_text_copy(vcd_xml_child(about, "instanceUuid"), a->instance_uuid, sizeof(a->instance_uuid));
}

static int
vcd_service_content(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_req req = { BUF_INIT, false };
	xmlDoc *doc = NULL;
	xmlNode *resp, *rv;
	int ret = -1;

	vcd_req_begin(&req, "RetrieveServiceContent", &vcd_service_instance);
	vcd_req_end(&req, "RetrieveServiceContent");
	if (vcd_soap_call(s, "RetrieveServiceContent", &req, &doc, &resp, err) < 0)
		goto out;
	if ((rv = vcd_xml_child(resp, "returnval")) == NULL) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, "ServiceInstance",
		    "RetrieveServiceContent answered without a returnval");
		goto out;
	}
	vcd_read_about(vcd_xml_child(rv, "about"), &s->about);
	vcd_xml_moref_read(vcd_xml_child(rv, "rootFolder"), &s->root_folder);
	vcd_xml_moref_read(vcd_xml_child(rv, "propertyCollector"), &s->property_collector);
	vcd_xml_moref_read(vcd_xml_child(rv, "viewManager"), &s->view_manager);
	vcd_xml_moref_read(vcd_xml_child(rv, "sessionManager"), &s->session_manager);
	vcd_xml_moref_read(vcd_xml_child(rv, "searchIndex"), &s->search_index);
	vcd_xml_moref_read(vcd_xml_child(rv, "fileManager"), &s->file_manager);
	vcd_xml_moref_read(vcd_xml_child(rv, "virtualDiskManager"), &s->virtual_disk_manager);
	if (s->root_folder.value[0] == '\0' || s->property_collector.value[0] == '\0' ||
	    s->session_manager.value[0] == '\0') {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, "ServiceInstance",
		    "the ServiceContent lacks rootFolder, propertyCollector or "
		    "sessionManager");
		goto out;
	}
	/* From now on speak the version the server announced. */
	if (s->about.api_version[0] != '\0')
		snprintf(s->soap_action, sizeof(s->soap_action), "urn:vim25/%s",
		    s->about.api_version);
	ret = 0;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	vcd_req_free(&req);
	return ret;
}

int
vcd_connect(const struct vcd_options *opt, struct vcd_session **out,
    struct vcd_err *err)
{
	struct vcd_session *s;

	*out = NULL;
	vcd_err_clear(err);
	if (opt->host == NULL || opt->host[0] == '\0' || opt->port < 1 ||
	    opt->port > 65535 || strpbrk(opt->host, "/@?# ") != NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, opt->host ? opt->host : "",
		    "invalid vCenter host or port");
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->host = xstrdup(opt->host);
	s->port = opt->port;
	s->username = xstrdup(opt->username);
	s->password = xstrdup(opt->password);
	s->ca_file = xstrdup(opt->ca_file);
	s->insecure = opt->insecure;
	s->proxy = xstrdup(opt->proxy);
	s->connect_timeout = opt->connect_timeout > 0 ? opt->connect_timeout : 10;
	s->call_timeout = opt->call_timeout > 0 ? opt->call_timeout : 300;
	s->api_retry_count = opt->api_retry_count >= 0 ? opt->api_retry_count : 0;
	/* An IPv6 literal needs brackets in the URL. */
	if (strchr(s->host, ':') != NULL)
		s->url = xasprintf("https://[%s]:%d/sdk", s->host, s->port);
	else
		s->url = xasprintf("https://%s:%d/sdk", s->host, s->port);
	snprintf(s->soap_action, sizeof(s->soap_action), "urn:vim25/6.5");
	if (vcd_http_init(s, err) < 0 || vcd_service_content(s, err) < 0) {
		vcd_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

int
vcd_login(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_req req = { BUF_INIT, false };
	xmlDoc *doc = NULL;
	xmlNode *resp;
	int ret = -1;

	vcd_err_clear(err);
	if (s->username == NULL || s->password == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, s->host, "no user name or "
		    "password configured");
		goto out;
	}
	vcd_req_begin(&req, "Login", &s->session_manager);
	vcd_xml_elem(&req, "userName", s->username);
	vcd_xml_elem(&req, "password", s->password);
	vcd_req_end(&req, "Login");
	if (vcd_soap_call(s, "Login", &req, &doc, &resp, err) < 0) {
		if (err->fault[0] != '\0')
			snprintf(err->object, sizeof(err->object), "%s@%s",
			    s->username, s->host);
		goto out;
	}
	s->logged_in = true;
	log_info("vcdriver: logged in to %s as %s (%s, API %s)", s->host,
	    s->username, s->about.full_name, s->about.api_version);
	ret = 0;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	/* The request held the password: wipe it. */
	if (req.b.data != NULL)
		memset(req.b.data, 0, req.b.cap);
	vcd_req_free(&req);
	return ret;
}

static void
vcd_logout(struct vcd_session *s)
{
	struct vcd_req req = { BUF_INIT, false };
	struct vcd_err err;
	xmlDoc *doc = NULL;
	xmlNode *resp;

	vcd_req_begin(&req, "Logout", &s->session_manager);
	vcd_req_end(&req, "Logout");
	if (vcd_soap_call(s, "Logout", &req, &doc, &resp, &err) < 0) {
		char msg[800];
		log_warnx("vcdriver: logout from %s failed: %s", s->host,
		    vcd_strerror(&err, msg, sizeof(msg)));
	} else {
		log_info("vcdriver: logged out of %s", s->host);
	}
	if (doc != NULL)
		xmlFreeDoc(doc);
	vcd_req_free(&req);
	s->logged_in = false;
}

void
vcd_close(struct vcd_session *s)
{
	if (s == NULL)
		return;
	if (s->logged_in)
		vcd_logout(s);
	vcd_http_free(s);
	xfree_secret(s->password);
	free(s->host);
	free(s->username);
	free(s->ca_file);
	free(s->proxy);
	free(s->url);
	free(s);
}

const struct vcd_about *
vcd_about(const struct vcd_session *s)
{
	return &s->about;
}

bool
vcd_logged_in(const struct vcd_session *s)
{
	return s->logged_in;
}

unsigned long
vcd_call_count(const struct vcd_session *s)
{
	return s->ncalls;
}
