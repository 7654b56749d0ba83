/*
 * ic_gwrite.c - images into the image service (Glance v2 API): create one
 * (POST /v2/images, with its id, so that a request run again finds it),
 * stream its data in (PUT /v2/images/{id}/file, chunked, never whole on
 * local disk or in memory), and delete it (DELETE /v2/images/{id}).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ic_int.h"
#include "log.h"
#include "xmalloc.h"

/*
 * One call: METHOD on SUFFIX of the first server that answers (or only the
 * first, with a body from READ: a stream is not sent twice), with the JSON
 * BODY or the data of READ.  The HTTP status in *STATUS.  0, or -1 with ERR
 * for a transport error.
 */
static int
ic_gw_call(const struct ic_glance *g, const char *method, const char *suffix,
    const char *ctype, const char *body, vcd_ds_data_fn read, void *arg,
    long *status, struct vcd_err *err)
{
	struct vcd_curl_data rd = { read, arg, 0 };
	char errbuf[CURL_ERROR_SIZE], *url = NULL, *ct = NULL;
	struct curl_slist *hdrs = NULL;
	CURL *c;
	int ret = -1;

	*status = 0;
	if (g->nservers == 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, suffix, "no image service "
		    "configured (glance.api_servers)");
		return -1;
	}
	if ((c = curl_easy_init()) == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, suffix, "cannot create a libcurl handle");
		return -1;
	}
	ct = xasprintf("Content-Type: %s", ctype);
	hdrs = curl_slist_append(hdrs, ct);
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (size_t srv = 0; srv < (read != NULL ? 1 : g->nservers); srv++) {
		const char *base = g->servers[srv];
		size_t bl = strlen(base);
		CURLcode rc;

		free(url);
		url = xasprintf("%.*s/v2/images%s", (int)(bl > 0 && base[bl - 1] == '/' ?
		    bl - 1 : bl), base, suffix);
		errbuf[0] = '\0';
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, vcd_curl_discard);
		if (read != NULL) {
			curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(c, CURLOPT_READFUNCTION, vcd_curl_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &rd);
			curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
			if (g->transfer_timeout > 0)
				curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)g->transfer_timeout);
		} else {
			curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
			if (body != NULL) {
				curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
				curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
			}
		}
		ic_glance_tls(c, g);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
			if (*status < 500) {
				ret = 0;
				break;
			}
		}
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, suffix, "the image service at %s: %s",
		    base, rd.failed ? "the data stopped coming" : rc != CURLE_OK ?
		    (errbuf[0] ? errbuf : curl_easy_strerror(rc)) : "HTTP 5xx");
		if (rd.failed)
			break;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(url);
	free(ct);
	return ret;
}

int
ic_glance_create(const struct ic_glance *g, const char *id, json_t *props,
    struct vcd_err *err)
{
	char *body = NULL;
	long status;
	int ret = -1;

	vcd_err_clear(err);
	json_object_set_new(props, "id", json_string(id));
	if ((body = json_dumps(props, JSON_COMPACT)) == NULL ||
	    ic_gw_call(g, "POST", "", "application/json", body, NULL, NULL, &status,
	    err) < 0)
		goto out;
	if (status == 201)
		ret = 0;
	else if (status == 409)
		ret = 1;	/* made already: a request run again */
	else
		vcd_err_set(err, VCD_E_PROTOCOL, "ImageCreateFailed", id, "the image "
		    "service refused to create image %s (HTTP %ld)", id, status);
out:
	free(body);
	return ret;
}

int
ic_glance_upload(const struct ic_glance *g, const char *id, vcd_ds_data_fn read,
    void *arg, struct vcd_err *err)
{
	char suffix[100];
	long status;

	vcd_err_clear(err);
	snprintf(suffix, sizeof(suffix), "/%s/file", id);
	if (ic_gw_call(g, "PUT", suffix, "application/octet-stream", NULL, read, arg,
	    &status, err) < 0)
		return -1;
	if (status != 204 && status != 200) {
		vcd_err_set(err, VCD_E_PROTOCOL, "ImageUploadFailed", id, "the image "
		    "service refused the data of image %s (HTTP %ld)", id, status);
		return -1;
	}
	return 0;
}

int
ic_glance_delete(const struct ic_glance *g, const char *id, struct vcd_err *err)
{
	char suffix[100];
	long status;

	vcd_err_clear(err);
	snprintf(suffix, sizeof(suffix), "/%s", id);
	if (ic_gw_call(g, "DELETE", suffix, "application/json", NULL, NULL, NULL,
	    &status, err) < 0)
		return -1;
	if (status != 204 && status != 404) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, id, "the image service refused "
		    "to delete image %s (HTTP %ld)", id, status);
		return -1;
	}
	return 0;
}
