/*
 * vcd_soap.c - one vim25 call: the envelope (with an operationID header so
 * the call can be found in vCenter's logs), the POST, and the decoding; and
 * the transparent re-login when a session has expired.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "vcd_int.h"

/*
 * The session's cookie in the header, as the other services on vCenter's
 * endpoint (PBM) take it: <vcSessionCookie>VALUE</vcSessionCookie>.  The
 * value is a secret: it goes nowhere else.  Nothing when there is none yet
 * (the service then answers NotAuthenticated, which re-logs in).
 */
static void
vcd_soap_cookie(struct vcd_conn *c)
{
	struct curl_slist *list = NULL, *l;
	const char *f, *name;
	int field;

	if (curl_easy_getinfo(c->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
		return;
	for (l = list; l != NULL; l = l->next) {
		/* host, subdomains, path, secure, expiry, name, value: tabs */
		name = NULL;
		for (f = l->data, field = 0; f != NULL && field < 6; field++) {
			if (field == 5)
				name = f;
			if ((f = strchr(f, '\t')) != NULL)
				f++;
		}
		if (name == NULL || f == NULL ||
		    strncmp(name, VCD_COOKIE "\t", sizeof(VCD_COOKIE)) != 0)
			continue;
		buf_puts(&c->req, "<vcSessionCookie>");
		if (vim_xml_escape(&c->req, f) < 0)
			log_warn("vcdriver: the session cookie cannot be sent in XML");
		buf_puts(&c->req, "</vcSessionCookie>");
		break;
	}
	curl_slist_free_all(list);
}

int
vcd_invoke_conn(struct vcd_session *s, struct vcd_conn *c,
    const struct vim_method *method, const void *req, struct vim_arena *a,
    void **resp, struct vcd_err *err)
{
	char opid[48];
	long status = 0;
	double t0 = vcd_mono();
	int ret = -1;

	*resp = NULL;
	snprintf(opid, sizeof(opid), "vcagent-%08x-%lu", s->opid_tag,
	    atomic_fetch_add(&s->opid_seq, 1) + 1);
	buf_reset(&c->req);
	buf_puts(&c->req, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<soapenv:Envelope xmlns:soapenv=\"" VCD_NS_SOAPENV "\" "
	    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
	    "xmlns:xsi=\"" VCD_NS_XSI "\"><soapenv:Header><operationID>");
	buf_puts(&c->req, opid);
	buf_puts(&c->req, "</operationID>");
	if (strcmp(method->ns, VCD_NS_VIM) != 0)
		vcd_soap_cookie(c);
	buf_puts(&c->req, "</soapenv:Header><soapenv:Body>");
	if (vim_encode_request(&c->req, method, req, err) < 0)
		return -1;	/* nothing was sent */
	buf_puts(&c->req, "</soapenv:Body></soapenv:Envelope>");

	log_debug("vcdriver: %s opID=%s", method->name, opid);
	c->method = method;
	c->object[0] = '\0';
	if (method->req->nmembers > 0 && method->req->members[0].kind == VK_MOREF) {
		const struct vcd_moref *this = *(struct vcd_moref *const *)
		    ((const char *)req + method->req->members[0].off);
		if (this != NULL)
			vcd_moref_str(c->object, sizeof(c->object), this);
	}
	if (s->post(s, c, &status, err) < 0)
		goto out;
	if (status != 200 && status != 500) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "%s: HTTP %ld",
		    method->name, status);
		goto out;
	}
	if (vim_decode_response(c->resp.data != NULL ? c->resp.data : "",
	    c->resp.len, method, a, resp, NULL, err) < 0) {
		if (err->code == VCD_E_FAULT)
			log_debug("vcdriver: %s opID=%s fault %s: %s", method->name,
			    opid, err->fault, err->msg);
		else if (status != 200)
			/* a 500 that is not a SOAP fault */
			vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url,
			    "%s: HTTP %ld without a SOAP fault", method->name, status);
		goto out;
	}
	if (status != 200) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, method->name,
		    "HTTP %ld with a normal answer", status);
		goto out;
	}
	ret = 0;
out:
	vcd_stat_record(s, method, false, vcd_mono() - t0, ret < 0);
	return ret;
}

/* vcd_invoke_with() until DEADLINE (vcd_mono()). */
static int
vcd_invoke_until(struct vcd_session *s, struct vcd_conn *c, double deadline,
    const struct vim_method *method, const void *req, struct vim_arena *a,
    void **resp, struct vcd_err *err)
{
	unsigned long gen;
	int ret;

	vcd_err_clear(err);
	c->deadline = deadline;
	pthread_mutex_lock(&s->login_lock);
	gen = s->login_gen;
	pthread_mutex_unlock(&s->login_lock);

	ret = vcd_invoke_conn(s, c, method, req, a, resp, err);
	if (ret < 0 && err->code == VCD_E_FAULT &&
	    strcmp(err->fault, "NotAuthenticated") == 0 &&
	    atomic_load(&s->logged_in) && method != &vim_method_Login &&
	    method != &vim_method_Logout) {
		struct vcd_err lerr;
		int relogin = 0;

		/* One re-login per expiry, however many calls noticed it. */
		pthread_mutex_lock(&s->login_lock);
		if (s->login_gen == gen) {
			log_info("vcdriver: the session with %s expired, logging "
			    "in again", s->host);
			relogin = vcd_login_conn(s, c, &lerr) < 0 ? -1 : 1;
		}
		pthread_mutex_unlock(&s->login_lock);
		if (relogin < 0)
			*err = lerr;
		else
			ret = vcd_invoke_conn(s, c, method, req, a, resp, err);
	}
	c->deadline = 0;
	return ret;
}

int
vcd_invoke_with(struct vcd_session *s, struct vcd_conn *c,
    const struct vim_method *method, const void *req, struct vim_arena *a,
    void **resp, struct vcd_err *err)
{
	return vcd_invoke_until(s, c, vcd_mono() + s->call_deadline, method, req,
	    a, resp, err);
}

int
vcd_invoke(struct vcd_session *s, const struct vim_method *method,
    const void *req, struct vim_arena *a, void **resp, struct vcd_err *err)
{
	double deadline = vcd_mono() + s->call_deadline;
	struct vcd_conn *c;
	int ret;

	vcd_err_clear(err);
	/* a change is not sent for work that must stop; reads always are (a
	 * paged read's continuation is `once` only in that it cannot be resent) */
	if (!method->idempotent && method != &vim_method_ContinueRetrievePropertiesEx &&
	    vcd_abort_check(false, method->name, err) < 0)
		return -1;
	if ((c = vcd_conn_get(s, deadline, err)) == NULL) {
		snprintf(err->object, sizeof(err->object), "%s", method->name);
		return -1;
	}
	ret = vcd_invoke_until(s, c, deadline, method, req, a, resp, err);
	vcd_conn_put(s, c);
	return ret;
}
