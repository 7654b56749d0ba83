/*
 * vcd_http.c - the HTTP transport under SOAP: one libcurl easy handle per
 * session, so the TLS connection is kept alive and reused for every call.
 * libcurl's cookie engine keeps the vmware_soap_session cookie and echoes it
 * back verbatim (vcsim sends it bare, vCenter quoted with Path and Secure).
 *
 * Transport errors and HTTP 503 are retried api_retry_count times with
 * exponential backoff and jitter; every other answer is returned as is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vcd_int.h"
#include "xmalloc.h"

static size_t
vcd_http_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;

	buf_append(b, data, size * nmemb);
	return size * nmemb;
}

int
vcd_http_init(struct vcd_session *s, struct vcd_err *err)
{
	static bool global_done;
	CURL *c;

	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	if ((c = curl_easy_init()) == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->host,
		    "cannot create a libcurl handle");
		return -1;
	}
	s->curl = c;
	s->headers = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
	s->headers = curl_slist_append(s->headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_COOKIEFILE, "");	/* enable the engine */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->connect_timeout * 1000));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->call_timeout * 1000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, vcd_http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->resp);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vcagent/" PACKAGE_VERSION);
	if (s->ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	} else if (s->insecure) {
		log_warnx("vmware.insecure is set: not verifying the TLS "
		    "certificate of %s", s->host);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (s->proxy != NULL)
		curl_easy_setopt(c, CURLOPT_PROXY, s->proxy);
	return 0;
}

void
vcd_http_free(struct vcd_session *s)
{
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	curl_slist_free_all(s->headers);
	s->curl = NULL;
	s->headers = NULL;
	buf_free(&s->resp);
}

/* Sleep 2^attempt * 100 ms, capped at 10 s, with +-50% jitter. */
static void
vcd_http_backoff(int attempt)
{
	double ms = 100.0 * (double)(1u << (attempt < 7 ? attempt : 7));
	struct timespec ts;

	if (ms > 10000)
		ms = 10000;
	ms = ms * (0.5 + (double)rand() / RAND_MAX);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	nanosleep(&ts, NULL);
}

int
vcd_http_post(struct vcd_session *s, const char *body, size_t len, long *status,
    struct vcd_err *err)
{
	struct curl_slist *hdrs = NULL, *h;
	char action[96];
	CURLcode rc = CURLE_OK;
	int attempt, ret = -1;

	snprintf(action, sizeof(action), "SOAPAction: %s", s->soap_action);
	for (h = s->headers; h != NULL; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	hdrs = curl_slist_append(hdrs, action);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE, (long)len);

	for (attempt = 0; ; attempt++) {
		buf_reset(&s->resp);
		*status = 0;
		rc = curl_easy_perform(s->curl);
		if (rc == CURLE_OK)
			curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
		if (rc == CURLE_OK && *status != 503)
			break;
		/* Certificate problems do not go away by retrying. */
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
		    rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_URL_MALFORMAT ||
		    attempt >= s->api_retry_count)
			break;
		log_debug("%s: %s, retrying (%d of %d)", s->url,
		    rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP 503",
		    attempt + 1, s->api_retry_count);
		vcd_http_backoff(attempt);
	}
	if (rc != CURLE_OK) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "%s%s",
		    curl_easy_strerror(rc),
		    attempt > 0 ? " (after retries)" : "");
		goto out;
	}
	if (*status == 503) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "HTTP 503 Service "
		    "Unavailable after %d attempts", attempt + 1);
		goto out;
	}
	s->ncalls++;
	ret = 0;
out:
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return ret;
}
