/*
 * vcd_http.c - the HTTP transport under SOAP.
 *
 * Each struct vcd_conn is one libcurl easy handle, so its TLS connection is
 * kept alive and reused call after call.  All connections of a session share
 * (through a CURLSH) the cookie jar - libcurl echoes vmware_soap_session back
 * verbatim, quoted or not - plus TLS session ids and DNS.  Connections are
 * created on demand up to connection_pool_size; a call waits for a free one
 * up to pool_wait seconds, and never past its deadline.
 *
 * A call has a deadline (call_deadline seconds from its start, the wait for
 * a connection included); each attempt gets call_timeout seconds, or what
 * is left.  HTTP 503 and transport errors are retried api_retry_count times
 * with exponential backoff and jitter, within the deadline, and only where
 * that is safe:
 *   - an error from before the request was sent (resolve, connect, TLS
 *     handshake: libcurl never reached its pre-transfer stage) is retried
 *     for every method;
 *   - an error after it (a timeout waiting for the answer, a connection
 *     dropped mid-answer) is retried only for methods vim25.spec marks
 *     idempotent; any other fails at once with fault "OutcomeUnknown",
 *     naming the method and its object: the call may have run, and only a
 *     look at vCenter (find the VM by uuid...) can tell;
 *   - a 503 (vCenter's proxy refusing the call) is retried for every method.
 * A method that is not idempotent is never sent twice by libcurl either.
 * On a reused keep-alive connection that dies before any byte of the answer
 * came, libcurl sends the request again on a new connection by itself; the
 * server may have run the first.  Every request libcurl is about to send
 * passes vcd_http_prereq(), which refuses a second one for such a method:
 * the call fails with "OutcomeUnknown", as when its answer is lost.  Such a
 * method reuses a connection only if that connection's last answer came
 * within reuse_window (1 s), far under any server's keep-alive timeout, so
 * a server closing it as idle cannot be the cause; otherwise it gets a
 * fresh one.  (A fresh connection is a TCP and TLS handshake: 1.5-3 ms on
 * loopback, twice per spawn.)
 * Certificate errors are never retried.  An answer longer than
 * max_response bytes is refused (the transfer is stopped) and not retried.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rnd.h"
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
	struct vcd_conn *c = arg;
	size_t n = size * nmemb;

	if (n > c->max_resp - c->resp.len) {
		c->too_big = true;
		return 0;	/* CURLE_WRITE_ERROR: stop reading */
	}
	buf_append(&c->resp, data, n);
	return n;
}

int
vcd_http_init(struct vcd_session *s, struct vcd_err *err)
{
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_locks[i], NULL);
	pthread_condattr_t ca;

	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);	/* vcd_mono() */
	pthread_cond_init(&s->pool_cond, &ca);
	pthread_condattr_destroy(&ca);
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

/*
 * libcurl calls this once a connection is ready (made or reused), just
 * before it sends a request.  A second request in one attempt is libcurl
 * resending on its own after a reused connection died unanswered: refused
 * for a call that must not run twice.
 */
static int
vcd_http_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
	struct vcd_conn *c = arg;

	(void)ip; (void)local_ip; (void)port; (void)local_port;
	if (++c->sends > 1 && c->once)
		return CURL_PREREQFUNC_ABORT;
	return CURL_PREREQFUNC_OK;
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
	c->max_resp = s->max_response > 0 ? s->max_response : VCD_MAX_RESPONSE;
	c->headers = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
	c->headers = curl_slist_append(c->headers, "Expect:");
	curl_easy_setopt(h, CURLOPT_SHARE, s->share);
	curl_easy_setopt(h, CURLOPT_URL, s->url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");	/* enable the engine */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* one connection per handle: a fresh one replaces the old, which is
	 * closed */
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->connect_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(s->call_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, vcd_http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "vcagent/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, vcd_http_prereq);
	curl_easy_setopt(h, CURLOPT_PREREQDATA, c);
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
vcd_conn_get(struct vcd_session *s, double until, struct vcd_err *err)
{
	struct vcd_conn *c = NULL;
	bool create = false;
	double t0 = vcd_mono(), limit = t0 + s->pool_wait;
	struct timespec ts;

	if (until > 0 && until < limit)
		limit = until;
	ts.tv_sec = (time_t)limit;
	ts.tv_nsec = (long)((limit - (double)ts.tv_sec) * 1e9);
	pthread_mutex_lock(&s->pool_lock);
	while (s->idle == NULL && s->nconns >= s->pool_size)
		if (pthread_cond_timedwait(&s->pool_cond, &s->pool_lock, &ts) != 0 &&
		    vcd_mono() >= limit)
			break;
	if (s->idle == NULL && s->nconns >= s->pool_size) {
		pthread_mutex_unlock(&s->pool_lock);
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->host, "no free vCenter "
		    "connection within %.1f s (all %d busy: raise "
		    "vmware.connection_pool_size?)", vcd_mono() - t0, s->pool_size);
		return NULL;
	}
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

/* 2^attempt * 100 ms, capped at 10 s, with +-50% jitter, in seconds. */
static double
vcd_http_backoff(int attempt)
{
	double ms = 100.0 * (double)(1u << (attempt < 7 ? attempt : 7));
	unsigned short r = (unsigned short)vc_rand32();

	if (ms > 10000)
		ms = 10000;
	return ms * (0.5 + (double)r / 65535.0) / 1000;
}

static void
vcd_http_sleep(double secs)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Errors a retry cannot cure. */
static bool
vcd_http_fatal(CURLcode rc)
{
	return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_URL_MALFORMAT ||
	    rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_NOT_BUILT_IN;
}

/*
 * Whether the attempt that failed with RC may have reached the server:
 * libcurl records the pre-transfer time just before it writes the request,
 * and the request size once it did.  Both 0 only when it failed resolving,
 * connecting (through the proxy too) or in the TLS handshake.
 */
static bool
vcd_http_maybe_sent(CURL *h, CURLcode rc)
{
	curl_off_t pre = 0;
	long reqsize = 0;

	if (rc == CURLE_OK)
		return true;
	if (curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK ||
	    curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &reqsize) != CURLE_OK)
		return true;
	return pre > 0 || reqsize > 0;
}

/* ERR: the call may have run (WHY came after its request was sent), and
 * it is not sent again: fault OutcomeUnknown, naming the method and its
 * object. */
static void
vcd_http_unknown(const struct vcd_session *s, const struct vcd_conn *c,
    const char *mname, const char *why, struct vcd_err *err)
{
	vcd_err_set(err, VCD_E_TRANSPORT, "OutcomeUnknown", c->object[0] != '\0' ?
	    c->object : s->url, "%s on %s may have run in vCenter: %s after the "
	    "request was sent; not sent again, as it must not run twice: check "
	    "its effect (e.g. find the VM by its uuid) before repeating it", mname,
	    c->object[0] != '\0' ? c->object : s->host, why);
}

int
vcd_http_post(struct vcd_session *s, struct vcd_conn *c, long *status,
    struct vcd_err *err)
{
	struct curl_slist *hdrs = NULL, *h;
	const char *mname = c->method != NULL ? c->method->name : "the call";
	bool idem = c->method == NULL || c->method->idempotent;
	double t0 = vcd_mono(), deadline = c->deadline > 0 ? c->deadline :
	    t0 + s->call_deadline, left, per, pause;
	char action[96], *url = NULL;
	CURLcode rc = CURLE_OK;
	int attempt, ret = -1;
	bool sent = false;

	snprintf(action, sizeof(action), "SOAPAction: %s", c->method != NULL &&
	    c->method->action != NULL ? c->method->action : s->soap_action);
	/* another service on the same endpoint (PBM at /pbm/sdk) */
	if (c->method != NULL && strcmp(c->method->path, "/sdk") != 0) {
		url = xasprintf("%s%s", s->base, c->method->path);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
	}
	for (h = c->headers; h != NULL; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	hdrs = curl_slist_append(hdrs, action);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->req.data);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)c->req.len);
	/* a call that must not run twice never meets a stale connection */
	c->once = !idem;
	curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, !idem && (s->reuse_window < 0 ||
	    c->answered == 0 || t0 - c->answered > s->reuse_window) ? 1L : 0L);

	for (attempt = 0; ; attempt++) {
		if ((left = deadline - vcd_mono()) <= 0.001) {
			vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "%s: no answer "
			    "within the call deadline of %.0f s (%d attempt%s)%s%s",
			    mname, s->call_deadline, attempt, attempt == 1 ? "" : "s",
			    attempt > 0 ? ": " : "", attempt == 0 ? "" :
			    rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP 503");
			goto out;
		}
		per = left < s->call_timeout ? left : s->call_timeout;
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)(per * 1000) + 1);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
		    (long)((per < s->connect_timeout ? per : s->connect_timeout) * 1000) + 1);
		buf_reset(&c->resp);
		c->too_big = false;
		c->sends = 0;
		*status = 0;
		rc = curl_easy_perform(c->curl);
		c->answered = rc == CURLE_OK ? vcd_mono() : 0;
		if (rc == CURLE_OK)
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
		if (rc == CURLE_ABORTED_BY_CALLBACK && c->once && c->sends > 1) {
			vcd_http_unknown(s, c, mname, "the kept-alive connection "
			    "closed with no answer", err);
			goto out;
		}
		if (rc == CURLE_OK && *status != 503)
			break;
		if (c->too_big) {
			vcd_err_set(err, VCD_E_PROTOCOL, NULL, mname, "the answer is "
			    "larger than %zu bytes: refused", c->max_resp);
			goto out;
		}
		if (rc != CURLE_OK && (sent = vcd_http_maybe_sent(c->curl, rc)) && !idem) {
			vcd_http_unknown(s, c, mname, curl_easy_strerror(rc), err);
			goto out;
		}
		if (vcd_http_fatal(rc) || attempt >= s->api_retry_count)
			break;
		pause = vcd_http_backoff(attempt);
		if (pause > deadline - vcd_mono())
			pause = deadline - vcd_mono();
		log_debug("vcdriver: %s %s: %s%s, retrying (%d of %d)", s->url, mname,
		    rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP 503",
		    rc != CURLE_OK && !sent ? " before sending" : "",
		    attempt + 1, s->api_retry_count);
		if (pause > 0)
			vcd_http_sleep(pause);
	}
	if (rc != CURLE_OK) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "%s: %s%s", mname,
		    curl_easy_strerror(rc), attempt > 0 ? " (after retries)" : "");
		goto out;
	}
	if (*status == 503) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, s->url, "%s: HTTP 503 Service "
		    "Unavailable after %d attempts", mname, attempt + 1);
		goto out;
	}
	atomic_fetch_add(&s->ncalls, 1);
	atomic_store(&s->last_call, time(NULL));
	ret = 0;
out:
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (url != NULL) {
		curl_easy_setopt(c->curl, CURLOPT_URL, s->url);
		free(url);
	}
	return ret;
}
