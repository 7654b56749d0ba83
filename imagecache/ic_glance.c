/*
 * ic_glance.c - image metadata from the image service (Glance v2 API).
 *
 * GET /v2/images/{id} gives the status, size, checksums, formats and the
 * image properties nova's VMware driver reads (vmware_disktype,
 * vmware_adaptertype, vmware_ostype, img_linked_clone / vmware_linked_clone,
 * hypervisor_type).  Servers are tried in turn; transport errors and 5xx are
 * retried num_retries times per server.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "ic_int.h"
#include "log.h"
#include "xmalloc.h"

void
ic_glance_tls(CURL *c, const struct ic_glance *g)
{
	if (g->cafile != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, g->cafile);
	else if (g->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static size_t
ic_glance_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	/* metadata is small: refuse anything absurd rather than grow forever */
	if (b->len + size * nmemb > 4 * 1024 * 1024)
		return 0;
	buf_append(b, data, size * nmemb);
	return size * nmemb;
}

static void
ic_json_str(json_t *o, const char *key, char *dst, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", s != NULL ? s : "");
}

/* "true"/"false" (Glance properties are strings), or a JSON boolean. */
static int
ic_json_bool(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (json_is_boolean(v))
		return json_is_true(v);
	if ((s = json_string_value(v)) == NULL)
		return -1;
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcmp(s, "1"))
		return 1;
	if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcmp(s, "0"))
		return 0;
	return -1;
}

static int
ic_glance_parse(const char *body, const char *id, struct ic_image_meta *m,
    struct vcd_err *err)
{
	json_error_t jerr;
	json_t *o = json_loads(body, 0, &jerr);
	int ret = -1;

	if (o == NULL || !json_is_object(o)) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, id, "image %s: the image "
		    "service answered with something that is not a JSON object", id);
		goto out;
	}
	memset(m, 0, sizeof(*m));
	ic_json_str(o, "id", m->id, sizeof(m->id));
	ic_json_str(o, "name", m->name, sizeof(m->name));
	ic_json_str(o, "status", m->status, sizeof(m->status));
	m->size = json_is_integer(json_object_get(o, "size")) ?
	    json_integer_value(json_object_get(o, "size")) : -1;
	ic_json_str(o, "checksum", m->checksum, sizeof(m->checksum));
	ic_json_str(o, "os_hash_algo", m->hash_algo, sizeof(m->hash_algo));
	ic_json_str(o, "os_hash_value", m->hash_value, sizeof(m->hash_value));
	ic_json_str(o, "disk_format", m->disk_format, sizeof(m->disk_format));
	ic_json_str(o, "container_format", m->container_format,
	    sizeof(m->container_format));
	ic_json_str(o, "vmware_disktype", m->vmware_disktype, sizeof(m->vmware_disktype));
	ic_json_str(o, "vmware_adaptertype", m->vmware_adaptertype,
	    sizeof(m->vmware_adaptertype));
	ic_json_str(o, "vmware_ostype", m->vmware_ostype, sizeof(m->vmware_ostype));
	ic_json_str(o, "hypervisor_type", m->hypervisor_type, sizeof(m->hypervisor_type));
	/* nova reads img_linked_clone; vmware_linked_clone is the older name */
	m->linked_clone = ic_json_bool(o, "img_linked_clone");
	if (m->linked_clone < 0)
		m->linked_clone = ic_json_bool(o, "vmware_linked_clone");
	if (strcmp(m->id, id) != 0) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, id, "the image service "
		    "answered for image \"%s\" when asked for %s", m->id, id);
		goto out;
	}
	ret = 0;
out:
	json_decref(o);
	return ret;
}

int
ic_glance_meta(const struct ic_glance *g, const char *id, struct ic_image_meta *m,
    struct vcd_err *err)
{
	struct buf body = BUF_INIT;
	char *url = NULL, errbuf[CURL_ERROR_SIZE];
	CURL *c = NULL;
	long status = 0;
	int ret = -1;

	vcd_err_clear(err);
	if (ic_image_id_check(id) < 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, id, "\"%s\" is not a valid "
		    "image id", id);
		return -1;
	}
	if (g->nservers == 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, id, "no image service "
		    "configured (glance.api_servers)");
		return -1;
	}
	if ((c = curl_easy_init()) == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, id, "cannot create a libcurl handle");
		return -1;
	}
	for (size_t srv = 0; srv < g->nservers; srv++) {
		const char *base = g->servers[srv];
		size_t bl = strlen(base);

		free(url);
		url = xasprintf("%.*s/v2/images/%s", (int)(bl > 0 && base[bl - 1] == '/' ?
		    bl - 1 : bl), base, id);
		for (int attempt = 0; attempt <= g->num_retries; attempt++) {
			CURLcode rc;

			buf_reset(&body);
			errbuf[0] = '\0';
			curl_easy_reset(c);
			curl_easy_setopt(c, CURLOPT_URL, url);
			curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
			curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
			curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
			curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ic_glance_write);
			curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
			ic_glance_tls(c, g);
			rc = curl_easy_perform(c);
			status = 0;
			if (rc == CURLE_OK)
				curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
			if (rc == CURLE_OK && status < 500)
				break;
			log_debug("imagecache: %s: %s", url, rc != CURLE_OK ?
			    (errbuf[0] ? errbuf : curl_easy_strerror(rc)) : "HTTP 5xx");
			if (attempt == g->num_retries)
				vcd_err_set(err, VCD_E_TRANSPORT, NULL, url, "%s",
				    rc != CURLE_OK ? (errbuf[0] ? errbuf :
				    curl_easy_strerror(rc)) : "the image service answered 5xx");
		}
		if (status == 200) {
			ret = ic_glance_parse(buf_cstr(&body), id, m, err);
			goto out;
		}
		if (status == 404) {
			vcd_err_set(err, VCD_E_NOTFOUND, "ImageNotFound", id, "image %s "
			    "was not found in the image service", id);
			goto out;
		}
		if (status == 401 || status == 403) {
			vcd_err_set(err, VCD_E_TRANSPORT, "NotAuthorized", id, "the image "
			    "service refused access to image %s (HTTP %ld)", id, status);
			goto out;
		}
		if (status != 0 && status < 500) {
			vcd_err_set(err, VCD_E_PROTOCOL, NULL, url, "HTTP %ld for image %s",
			    status, id);
			goto out;
		}
		/* transport error or 5xx after retries: next server */
	}
out:
	free(url);
	buf_free(&body);
	curl_easy_cleanup(c);
	return ret;
}
