/*
 * httpd.c - the operator's HTTP endpoints on libmicrohttpd (a well-kept
 * HTTP/1.1 server in Debian: parsing, keep-alive and timeouts are its job,
 * not ours).
 *
 * A request's life, in MHD's access handler: the first call sees the
 * headers; a GET route or a refusal is answered right there.  An upload
 * that passes every check gets a struct httpd_req, MHD then sends
 * "100 Continue" (when asked) and hands over the body in pieces, and the
 * last call (no data) answers.  The completion callback runs after every
 * request that reached the handler, answered or cut short: an upload still
 * open there ends with complete=false.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "httpd.h"
#include "imagecache/imagecache.h"
#include "log.h"
#include "xmalloc.h"

#define HTTPD_IMAGES		"/v1/images/"
#define HTTPD_PREFETCH		"/prefetch"
#define HTTPD_CONN_LIMIT	64
#define HTTPD_TIMEOUT		300	/* s of silence before a connection goes */
#define HTTPD_BODY_MAX		4096	/* the JSON of upload_end and prefetch */
#define HTTPD_ID_SHOWN		64	/* bytes of a bad id named in an answer */
/*
 * When upload_data fails, MHD (0.9) can only answer once the whole request
 * is read, so the rest of the body is read and dropped; past this many
 * bytes still to come the connection is closed instead, unanswered.
 */
#define HTTPD_DRAIN_MAX		((int64_t)64 << 20)

#if MHD_VERSION < 0x00097002
typedef int MHD_Result;			/* before 0.9.71 handlers returned int */
#else
typedef enum MHD_Result MHD_Result;
#endif

struct httpd {
	struct MHD_Daemon	*d;
	struct httpd_conf	 conf;		/* routes and token below, not these */
	struct httpd_route	*routes;	/* owned copy */
	char			*token;		/* owned, secret; NULL: none */
	int			 port;
};

/* An upload's state across the handler's calls; owned by MHD's con_cls. */
struct httpd_req {
	void		*upload;	/* begin's handle, until upload_end */
	char		 id[HTTPD_ID_SHOWN + 1];
	int64_t		 expected;	/* Content-Length */
	int64_t		 received;
	int		 status;	/* the answer, once upload_end ran */
	char		*body;		/* its JSON, owned */
};

/* con_cls of a request answered on its first call: nothing to keep. */
static char httpd_answered;

static void
httpd_log(void *arg, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)arg;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warnx("httpd: %s", line);
}

/* A callback's status, or 500 when it is not one a server sends. */
static unsigned
httpd_status(int status)
{
	return status >= 200 && status <= 599 ? (unsigned)status : 500;
}

static MHD_Result
httpd_send(struct MHD_Connection *c, int status, const char *ctype, const char *body,
    size_t len, const char *allow)
{
	struct MHD_Response *r;
	MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    (allow != NULL && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
	    allow) != MHD_YES))
		ret = MHD_NO;
	else
		ret = MHD_queue_response(c, httpd_status(status), r);
	MHD_destroy_response(r);
	return ret;
}

static MHD_Result
httpd_text(struct MHD_Connection *c, int status, const char *text, const char *allow)
{
	return httpd_send(c, status, "text/plain; charset=utf-8", text, strlen(text),
	    allow);
}

/* S as the inside of a JSON string: only printable ASCII kept as is. */
static void
httpd_json_chars(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			buf_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			buf_printf(b, "\\u%04x", ch);
		else
			buf_append(b, &s[i], 1);
	}
}

/* {"error": MSG} */
static MHD_Result
httpd_error(struct MHD_Connection *c, int status, const char *msg)
{
	struct buf b = BUF_INIT;
	MHD_Result ret;

	buf_puts(&b, "{\"error\": \"");
	httpd_json_chars(&b, msg, strlen(msg));
	buf_puts(&b, "\"}\n");
	ret = httpd_send(c, status, "application/json", buf_cstr(&b), b.len, NULL);
	buf_free(&b);
	return ret;
}

/* 400 naming the id (its first HTTPD_ID_SHOWN bytes, escaped). */
static MHD_Result
httpd_bad_id(struct MHD_Connection *c, const char *id, size_t idlen)
{
	struct buf b = BUF_INIT;
	MHD_Result ret;

	buf_puts(&b, "{\"error\": \"\\\"");
	httpd_json_chars(&b, id, idlen < HTTPD_ID_SHOWN ? idlen : HTTPD_ID_SHOWN);
	buf_printf(&b, "%s\\\" is not a valid image id (1 to 64 of A-Z a-z 0-9 . _ -, "
	    "not starting with .)\"}\n", idlen > HTTPD_ID_SHOWN ? "..." : "");
	ret = httpd_send(c, 400, "application/json", buf_cstr(&b), b.len, NULL);
	buf_free(&b);
	return ret;
}

/* Time depends on the secret's length only, never on where GIVEN differs. */
static bool
httpd_token_equal(const char *secret, const char *given)
{
	size_t sl = strlen(secret), gl = strlen(given);
	unsigned char diff = (unsigned char)(sl != gl);

	for (size_t i = 0; i < sl; i++)
		diff |= (unsigned char)(secret[i] ^ given[i < gl ? i : 0]);
	return diff == 0;
}

/* 0 if the request carries the token; else the status, with WHY. */
static int
httpd_auth(const struct httpd *h, struct MHD_Connection *c, const char **why)
{
	const char *t, *auth;

	if (h->token == NULL) {
		*why = "no token configured (health.token): this endpoint is off";
		return 403;
	}
	t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Auth-Token");
	if (t == NULL && (auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION)) != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
		for (t = auth + 7; *t == ' '; t++)
			;
	}
	if (t == NULL || *t == '\0') {
		*why = "a token is needed (X-Auth-Token or Authorization: Bearer)";
		return 401;
	}
	if (!httpd_token_equal(h->token, t)) {
		*why = "the token is not valid";
		return 403;
	}
	return 0;
}

static MHD_Result
httpd_get(const struct httpd *h, struct MHD_Connection *c, const char *url,
    const char *method)
{
	const struct httpd_route *rt = NULL;
	struct buf b = BUF_INIT;
	const char *why;
	MHD_Result ret;
	int status;

	for (size_t i = 0; i < h->conf.nroutes && rt == NULL; i++)
		if (strcmp(h->routes[i].path, url) == 0)
			rt = &h->routes[i];
	if (rt == NULL)
		return httpd_text(c, 404, "not found\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return httpd_text(c, 405, "method not allowed\n", "GET, HEAD");
	if (rt->need_token && (status = httpd_auth(h, c, &why)) != 0)
		return httpd_error(c, status, why);
	status = rt->fn(rt->arg, &b);
	ret = httpd_send(c, status, rt->content_type, buf_cstr(&b), b.len, NULL);
	buf_free(&b);
	return ret;
}

/*
 * The first call of PUT /v1/images/<id>: every check before any data is
 * read.  *RQ is set when the upload started.
 */
static MHD_Result
httpd_upload_start(const struct httpd *h, struct MHD_Connection *c, const char *id,
    struct httpd_req **rqp)
{
	const char *why, *cl;
	struct httpd_upload_info info;
	struct httpd_req *rq;
	char msg[512] = "", *end;
	long long n;
	void *u;
	int status;

	if ((status = httpd_auth(h, c, &why)) != 0)
		return httpd_error(c, status, why);
	if (ic_image_id_check(id) < 0)
		return httpd_bad_id(c, id, strlen(id));
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL || MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)
		return httpd_error(c, 411, "an upload needs a Content-Length (chunked "
		    "uploads are not taken)");
	errno = 0;
	n = strtoll(cl, &end, 10);
	if (end == cl || *end != '\0' || errno != 0 || n <= 0)
		return httpd_error(c, 400, "the Content-Length is not a positive number");
	info = (struct httpd_upload_info){
		.content_length = n,
		.datastore = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "datastore"),
		.cluster = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "cluster"),
		.disk_type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "disk_type"),
		.adapter_type = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "adapter_type"),
		.linked_clone = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
		    "linked_clone"),
		.checksum = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "X-Image-Checksum"),
	};
	status = 500;
	u = h->conf.upload_begin(h->conf.upload_arg, id, &info, &status, msg, sizeof(msg));
	if (u == NULL)
		return httpd_error(c, status, msg[0] != '\0' ? msg : "the upload was refused");
	rq = xcalloc(1, sizeof(*rq));
	rq->upload = u;
	snprintf(rq->id, sizeof(rq->id), "%s", id);
	rq->expected = n;
	*rqp = rq;
	return MHD_YES;		/* MHD reads the body now */
}

/* Call upload_end, once; keep its answer for the end of the request. */
static void
httpd_upload_end(const struct httpd *h, struct httpd_req *rq, bool complete)
{
	char body[HTTPD_BODY_MAX] = "";

	rq->status = h->conf.upload_end(rq->upload, complete, body, sizeof(body));
	rq->upload = NULL;
	free(rq->body);
	rq->body = xstrdup(body[0] != '\0' ? body : "{}");
}

/* A piece of the body: to upload_data, or dropped after it failed. */
static MHD_Result
httpd_upload_data(const struct httpd *h, struct httpd_req *rq, const char *data,
    size_t len)
{
	rq->received += (int64_t)len;
	if (rq->upload == NULL)		/* failed before: draining */
		return MHD_YES;
	if (h->conf.upload_data(rq->upload, data, len) == 0)
		return MHD_YES;
	httpd_upload_end(h, rq, false);
	if (rq->expected - rq->received > HTTPD_DRAIN_MAX) {
		log_warnx("httpd: upload of image %s stopped with %lld bytes still to "
		    "come: closing the connection unanswered (%d)", rq->id,
		    (long long)(rq->expected - rq->received), rq->status);
		return MHD_NO;
	}
	return MHD_YES;
}

/* POST /v1/images/<id>/prefetch: runs in this connection's thread. */
static MHD_Result
httpd_prefetch(const struct httpd *h, struct MHD_Connection *c, const char *id,
    size_t idlen)
{
	const char *why;
	char idbuf[HTTPD_ID_SHOWN + 2], body[HTTPD_BODY_MAX] = "";
	int status;

	if ((status = httpd_auth(h, c, &why)) != 0)
		return httpd_error(c, status, why);
	snprintf(idbuf, sizeof(idbuf), "%.*s",
	    (int)(idlen < sizeof(idbuf) - 1 ? idlen : sizeof(idbuf) - 1), id);
	if (idlen > HTTPD_ID_SHOWN || ic_image_id_check(idbuf) < 0)
		return httpd_bad_id(c, id, idlen);
	if (h->conf.prefetch == NULL)
		return httpd_text(c, 404, "not found\n", NULL);
	status = h->conf.prefetch(h->conf.upload_arg, idbuf,
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cluster"),
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "datastore"),
	    body, sizeof(body));
	if (body[0] == '\0')
		snprintf(body, sizeof(body), "{}");
	return httpd_send(c, status, "application/json", body, strlen(body), NULL);
}

enum httpd_image_route
httpd_image_path(const char *url, const char **id, size_t *idlen)
{
	size_t ul = strlen(url), il = strlen(HTTPD_IMAGES), pl = strlen(HTTPD_PREFETCH);

	*id = NULL;
	*idlen = 0;
	if (strncmp(url, HTTPD_IMAGES, il) != 0)
		return HTTPD_IMAGE_NONE;
	*id = url + il;
	if (ul > il + pl && strcmp(url + ul - pl, HTTPD_PREFETCH) == 0) {
		*idlen = ul - il - pl;
		return HTTPD_IMAGE_PREFETCH;
	}
	*idlen = ul - il;
	return HTTPD_IMAGE_UPLOAD;
}

/* The first call of a request: answer it, or start an upload. */
static MHD_Result
httpd_first(const struct httpd *h, struct MHD_Connection *c, const char *url,
    const char *method, struct httpd_req **rqp)
{
	const char *id;
	size_t idlen;

	switch (httpd_image_path(url, &id, &idlen)) {
	case HTTPD_IMAGE_NONE:
		return httpd_get(h, c, url, method);
	case HTTPD_IMAGE_PREFETCH:
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return httpd_text(c, 405, "method not allowed\n", "POST");
		return httpd_prefetch(h, c, id, idlen);
	case HTTPD_IMAGE_UPLOAD:
		break;
	}
	if (strcmp(method, MHD_HTTP_METHOD_PUT) != 0)
		return httpd_text(c, 405, "method not allowed\n", "PUT");
	return httpd_upload_start(h, c, id, rqp);
}

static MHD_Result
httpd_handle(void *arg, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *data_size,
    void **con_cls)
{
	const struct httpd *h = arg;
	struct httpd_req *rq = NULL;
	MHD_Result ret;
	size_t n;

	(void)version;
	if (*con_cls == NULL) {
		ret = httpd_first(h, c, url, method, &rq);
		*con_cls = rq != NULL ? (void *)rq : (void *)&httpd_answered;
		return ret;
	}
	if (*con_cls == (void *)&httpd_answered) {	/* not expected: drop */
		*data_size = 0;
		return MHD_YES;
	}
	rq = *con_cls;
	if ((n = *data_size) > 0) {
		*data_size = 0;
		return httpd_upload_data(h, rq, data, n);
	}
	/* the last call: the whole body was read */
	if (rq->upload != NULL)
		httpd_upload_end(h, rq, rq->received == rq->expected);
	return httpd_send(c, rq->status, "application/json", rq->body,
	    strlen(rq->body), NULL);
}

/* After every request that reached the handler, answered or cut short. */
static void
httpd_completed(void *arg, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode code)
{
	const struct httpd *h = arg;
	struct httpd_req *rq = *con_cls;

	(void)c;
	(void)code;
	*con_cls = NULL;
	if (rq == NULL || (void *)rq == (void *)&httpd_answered)
		return;
	if (rq->upload != NULL) {
		httpd_upload_end(h, rq, false);
		log_warnx("httpd: upload of image %s cut short after %lld of %lld bytes",
		    rq->id, (long long)rq->received, (long long)rq->expected);
	}
	free(rq->body);
	free(rq);
}

struct httpd *
httpd_start(const struct httpd_conf *conf, char *errbuf, size_t len)
{
	struct httpd *h = NULL;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const char *host = conf->bind_host != NULL ? conf->bind_host : "127.0.0.1";
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;

	memset(&ss, 0, sizeof(ss));
	if (conf->bind_port < 0 || conf->bind_port > 65535) {
		snprintf(errbuf, len, "bind_port %d is not a port", conf->bind_port);
		goto fail;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)conf->bind_port);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)conf->bind_port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(errbuf, len, "bind_host \"%.64s\" is not an IPv4 or IPv6 address",
		    host);
		goto fail;
	}
	if (conf->upload_begin == NULL || conf->upload_data == NULL ||
	    conf->upload_end == NULL) {
		snprintf(errbuf, len, "the upload callbacks are not set");
		goto fail;
	}
	h = xcalloc(1, sizeof(*h));
	h->conf = *conf;
	h->conf.token = NULL;			/* only h->token holds it */
	h->routes = xcalloc(conf->nroutes + 1, sizeof(*h->routes));
	if (conf->nroutes > 0)
		memcpy(h->routes, conf->routes, conf->nroutes * sizeof(*h->routes));
	h->conf.routes = h->routes;
	h->token = conf->token != NULL && conf->token[0] != '\0' ?
	    xstrdup(conf->token) : NULL;
	h->d = MHD_start_daemon(flags, (uint16_t)conf->bind_port, NULL, NULL,
	    httpd_handle, h,
	    MHD_OPTION_EXTERNAL_LOGGER, httpd_log, NULL,	/* first, as MHD asks */
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTPD_CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTPD_TIMEOUT,
	    MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(errbuf, len, "cannot listen on %s port %d (in use, or not "
		    "an address of this machine)", host, conf->bind_port);
		goto fail;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di != NULL && di->port != 0 ? (int)di->port : conf->bind_port;
	return h;
fail:
	httpd_stop(h);
	return NULL;
}

int
httpd_port(const struct httpd *h)
{
	return h->port;
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL)
		MHD_stop_daemon(h->d);	/* joins the connection threads */
	free(h->routes);
	xfree_secret(h->token);
	free(h);
}
