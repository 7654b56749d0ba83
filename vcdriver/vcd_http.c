/*
 * vcd_http.c - the HTTP transport under SOAP.
 *
 * Each struct vcd_conn is one libcurl easy handle, so its TLS connection is
 * kept alive and reused call after call.  All connections of a session share
 * (through a CURLSH) the cookie jar - libcurl echoes vmware_soap_session back
 * verbatim, quoted or not - plus TLS session ids and DNS.  Connections are
 * created on demand up to connection_pool_size; a call waits for a free one.
 *
 * Transport errors and HTTP 503 are retried api_retry_count times with
 * exponential backoff and jitter; certificate errors never are.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "vcd_int.h"
#include "xmalloc.h"

static void
vcd_share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct vcd_session *s = arg;

	(void)h; (void)access;
	pthread_mutex_lock(&s->share_locks[data]);
}

static void
vcd_share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct vcd_session *s = arg;

	(void)h;
	pthread_mutex_unlock(&s->share_locks[data]);
}

static size_t
vcd_http_write(char *data, size_t size, size_t nmemb, void *arg)
{
	buf_append(arg, data, size * nmemb);
	return size * nmemb;
}

int
vcd_http_init(struct vcd_session *s, struct vcd_err *err)
{
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_locks[i], NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->pool_cond, NULL);
	if ((s->share = curl_share_init()) == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->host,
		    "cannot create a libcurl share handle");
		return -1;
	}
	curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, vcd_share_lock);
	curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, vcd_share_unlock);
	curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if (s->insecure && s->ca_file == NULL)
		log_warnx("vmware.insecure is set: not verifying the TLS "
		    "certificate of %s", s->host);
	return 0;
}

struct vcd_conn *
vcd_conn_new(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_conn *c = xcalloc(1, sizeof(*c));
	CURL *h;

	if ((h = curl_easy_init()) == NULL) {
		free(c);
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->host,
		    "cannot create a libcurl handle");
		return NULL;
	}
	c->curl = h;
	c->headers = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
	c->headers = curl_slist_append(c->headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_SHARE, s->share);
	curl_easy_setopt(h, CURLOPT_URL, s->url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");	/* enable the engine */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->connect_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(s->call_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, vcd_http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "vcagent/" PACKAGE_VERSION);
	if (s->ca_file != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
	} else if (s->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (s->proxy != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, s->proxy);
	return c;
}

void
vcd_conn_free(struct vcd_conn *c)
{
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	buf_free(&c->req);
	buf_free(&c->resp);
	free(c);
}

struct vcd_conn *
vcd_conn_get(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_conn *c = NULL;
	bool create = false;

	pthread_mutex_lock(&s->pool_lock);
	while (s->idle == NULL && s->nconns >= s->pool_size)
		pthread_cond_wait(&s->pool_cond, &s->pool_lock);
	if (s->idle != NULL) {
		c = s->idle;
		s->idle = c->next;
	} else {
		s->nconns++;
		create = true;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (create && (c = vcd_conn_new(s, err)) == NULL) {
		pthread_mutex_lock(&s->pool_lock);
		s->nconns--;
		pthread_cond_signal(&s->pool_cond);
		pthread_mutex_unlock(&s->pool_lock);
	}
	return c;
}

void
vcd_conn_put(struct vcd_session *s, struct vcd_conn *c)
{
	/* Keep the buffers' memory, but not their content: the request may
	 * have held a password, and big answers should not pin memory. */
	if (c->req.data != NULL)
		memset(c->req.data, 0, c->req.len);
	if (c->req.cap > 1024 * 1024)
		buf_free(&c->req);
	if (c->resp.cap > 1024 * 1024)
		buf_free(&c->resp);
	buf_reset(&c->req);
	buf_reset(&c->resp);
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->idle;
	s->idle = c;
	pthread_cond_signal(&s->pool_cond);
	pthread_mutex_unlock(&s->pool_lock);
}

void
vcd_http_cleanup(struct vcd_session *s)
{
	struct vcd_conn *c, *next;

	for (c = s->idle; c != NULL; c = next) {
		next = c->next;
		vcd_conn_free(c);
	}
	s->idle = NULL;
	if (s->share != NULL)
		curl_share_cleanup(s->share);
	s->share = NULL;
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->pool_cond);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_locks[i]);
}

/* Sleep 2^attempt * 100 ms, capped at 10 s, with +-50% jitter. */
static void
vcd_http_backoff(int attempt)
{
	double ms = 100.0 * (double)(1u << (attempt < 7 ? attempt : 7));
	unsigned short r = 0;
	struct timespec ts;

	if (ms > 10000)
		ms = 10000;
	(void)getrandom(&r, sizeof(r), GRND_NONBLOCK);
	ms = ms * (0.5 + (double)r / 65535.0);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
	nanosleep(&ts, NULL);
}

int
vcd_http_post(struct vcd_session *s, struct vcd_conn *c, long *status,
    struct vcd_err *err)
{
	struct curl_slist *hdrs = NULL, *h;
	char action[96];
	CURLcode rc = CURLE_OK;
	int attempt, ret = -1;

	snprintf(action, sizeof(action), "SOAPAction: %s", s->soap_action);
	for (h = c->headers; h != NULL; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	hdrs = curl_slist_append(hdrs, action);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->req.data);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)c->req.len);

	for (attempt = 0; ; attempt++) {
		buf_reset(&c->resp);
		*status = 0;
		rc = curl_easy_perform(c->curl);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
		if (rc == CURLE_OK && *status != 503)
			break;
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
		    rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_URL_MALFORMAT ||
		    attempt >= s->api_retry_count)
			break;
		log_debug("vcdriver: %s: %s, retrying (%d of %d)", s->url,
		    rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP 503",
		    attempt + 1, s->api_retry_count);
		vcd_http_backoff(attempt);
	}
	if (rc != CURLE_OK) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "%s%s",
		    curl_easy_strerror(rc), attempt > 0 ? " (after retries)" : "");
		goto out;
	}
	if (*status == 503) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "HTTP 503 Service "
		    "Unavailable after %d attempts", attempt + 1);
		goto out;
	}
	atomic_fetch_add(&s->ncalls, 1);
	atomic_store(&s->last_call, time(NULL));
	ret = 0;
out:
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return ret;
}
