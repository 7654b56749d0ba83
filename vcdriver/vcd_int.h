/*
 * vcd_int.h - vcdriver internals shared between its files; not public.
 */
#ifndef VCD_INT_H
#define VCD_INT_H

#include <curl/curl.h>
#include <libxml/tree.h>

#include "buf.h"
#include "vcdriver.h"

#define VCD_NS_VIM	"urn:vim25"
#define VCD_NS_SOAPENV	"http://schemas.xmlsoap.org/soap/envelope/"
#define VCD_NS_XSI	"http://www.w3.org/2001/XMLSchema-instance"

struct vcd_session {
	/* copies of the options; the password is wiped when the session closes */
	char		*host, *username, *password, *ca_file, *proxy;
	int		 port;
	bool		 insecure;
	double		 connect_timeout, call_timeout;
	int		 api_retry_count;

	char		*url;			/* https://host:port/sdk */
	char		 soap_action[64];	/* urn:vim25/<apiVersion> */
	CURL		*curl;			/* one keep-alive connection */
	struct curl_slist *headers;
	struct buf	 resp;			/* last response body */

	struct vcd_about about;
	struct vcd_moref root_folder, property_collector, view_manager,
			 session_manager, search_index, file_manager,
			 virtual_disk_manager;
	bool		 logged_in;
	unsigned long	 ncalls;
};

/* vcd_err.c */
void vcd_err_set(struct vcd_err *err, enum vcd_errcode code, const char *fault,
    const char *object, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void vcd_err_clear(struct vcd_err *err);

/* vcd_xml.c: building requests.  Strings are escaped; a string that XML 1.0
 * cannot carry (control characters) makes vcd_xml_ok() false. */
struct vcd_req {
	struct buf	 b;
	bool		 bad;		/* a string could not be encoded */
};
void vcd_req_begin(struct vcd_req *r, const char *method, const struct vcd_moref *this);
void vcd_req_end(struct vcd_req *r, const char *method);
void vcd_req_free(struct vcd_req *r);
void vcd_xml_escape(struct vcd_req *r, const char *s);
void vcd_xml_elem(struct vcd_req *r, const char *name, const char *text);
void vcd_xml_elem_int(struct vcd_req *r, const char *name, long long v);
void vcd_xml_moref(struct vcd_req *r, const char *name, const struct vcd_moref *m);
void vcd_xml_open(struct vcd_req *r, const char *name, const char *xsi_type);
void vcd_xml_close(struct vcd_req *r, const char *name);
/* 0 if S is representable in XML 1.0 (valid UTF-8 assumed), -1 if not. */
int vcd_xml_check(const char *s);

/* vcd_xml.c: reading responses (libxml2 DOM).  Returned strings are
 * xmlChar* owned by the document unless the name says "dup". */
xmlNode *vcd_xml_child(xmlNode *parent, const char *name);
xmlNode *vcd_xml_next(xmlNode *node, const char *name);
const char *vcd_xml_xsi_type(xmlNode *node);	/* borrowed or NULL */
void vcd_xml_text_copy(xmlNode *node, char *dst, size_t len);
char *vcd_xml_text_dup(xmlNode *node);		/* caller frees with free() */
void vcd_xml_moref_read(xmlNode *node, struct vcd_moref *m);

/* vcd_soap.c: one call.  On success *body is the response element inside
 * soapenv:Body and *doc owns it (caller frees with xmlFreeDoc). */
int vcd_soap_call(struct vcd_session *s, const char *method, struct vcd_req *req,
    xmlDoc **doc, xmlNode **body, struct vcd_err *err);
void vcd_fault_decode(xmlNode *fault, struct vcd_err *err);

/* vcd_http.c: POST with retries on transport errors and HTTP 503. */
int vcd_http_init(struct vcd_session *s, struct vcd_err *err);
void vcd_http_free(struct vcd_session *s);
int vcd_http_post(struct vcd_session *s, const char *body, size_t len,
    long *status, struct vcd_err *err);

#endif
