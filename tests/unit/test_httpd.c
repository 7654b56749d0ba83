/*
 * test_httpd.c - the operator HTTP server (agent/httpd.c) on 127.0.0.1,
 * port 0, with fake routes and upload callbacks, driven by libcurl.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "agent/httpd.h"
#include "buf.h"
#include "log.h"

#define TOKEN		"s3cret-T0ken-4-tests"
#define WRONG_TOKEN	"s3cret-T0ken-4-testX"
#define MIB		(1024 * 1024)
#define NEVER		((size_t)-1)

/* ---- the fake callbacks: what the server did, under a lock ---- */

struct fake {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	int		 begins, ends, live;	/* live: handles not yet ended */
	bool		 complete;
	uint64_t	 bytes, hash;
	char		 id[128], datastore[64], cluster[64], disk_type[64];
	char		 adapter_type[64], linked_clone[16], checksum[160];
	int64_t		 content_length;
	/* knobs */
	int		 refuse;		/* upload_begin fails with this */
	size_t		 fail_after;		/* upload_data fails past this */
	bool		 block;			/* upload_data waits for !block */
	bool		 blocked;
	int		 readyz;
};

static struct fake F = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

struct fake_upload {
	uint64_t	bytes, hash;
	char		id[128];
};

#define FNV_INIT	0xcbf29ce484222325ULL

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

static void
fake_reset(void)
{
	pthread_mutex_lock(&F.lock);
	F.begins = F.ends = F.live = 0;
	F.complete = false;
	F.bytes = 0;
	F.hash = FNV_INIT;
	F.id[0] = F.datastore[0] = F.cluster[0] = F.disk_type[0] = '\0';
	F.adapter_type[0] = F.linked_clone[0] = F.checksum[0] = '\0';
	F.content_length = -1;
	F.refuse = 0;
	F.fail_after = NEVER;
	F.block = F.blocked = false;
	F.readyz = 503;
	pthread_mutex_unlock(&F.lock);
}

static void
copy(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s != NULL ? s : "(null)");
}

static void *
fake_begin(void *arg, const char *id, const struct httpd_upload_info *info,
    int *status, char *msg, size_t msglen)
{
	struct fake_upload *u;

	if (arg != &F)		/* (no cmocka asserts in the server's threads) */
		abort();
	pthread_mutex_lock(&F.lock);
	F.begins++;
	copy(F.id, sizeof(F.id), id);
	copy(F.datastore, sizeof(F.datastore), info->datastore);
	copy(F.cluster, sizeof(F.cluster), info->cluster);
	copy(F.disk_type, sizeof(F.disk_type), info->disk_type);
	copy(F.adapter_type, sizeof(F.adapter_type), info->adapter_type);
	copy(F.linked_clone, sizeof(F.linked_clone), info->linked_clone);
	copy(F.checksum, sizeof(F.checksum), info->checksum);
	F.content_length = info->content_length;
	if (F.refuse != 0) {
		*status = F.refuse;
		snprintf(msg, msglen, "image %s is \"already\" cached", id);
		pthread_mutex_unlock(&F.lock);
		return NULL;
	}
	F.live++;
	pthread_mutex_unlock(&F.lock);
	u = calloc(1, sizeof(*u));
	u->hash = FNV_INIT;
	copy(u->id, sizeof(u->id), id);
	return u;
}

static int
fake_data(void *h, const char *data, size_t len)
{
	struct fake_upload *u = h;
	int rc = 0;

	if (len == 0)
		abort();
	pthread_mutex_lock(&F.lock);
	while (F.block) {
		F.blocked = true;
		pthread_cond_broadcast(&F.cond);
		pthread_cond_wait(&F.cond, &F.lock);
	}
	if (F.fail_after != NEVER && u->bytes + len > F.fail_after)
		rc = -1;
	pthread_mutex_unlock(&F.lock);
	if (rc == 0) {
		u->bytes += len;
		u->hash = fnv(u->hash, data, len);
	}
	return rc;
}

static int
fake_end(void *h, bool complete, char *body, size_t bodylen)
{
	struct fake_upload *u = h;
	int status = complete ? 201 : 507;

	pthread_mutex_lock(&F.lock);
	F.ends++;
	F.live--;
	F.complete = complete;
	F.bytes = u->bytes;
	F.hash = u->hash;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	snprintf(body, bodylen, "{\"image\": \"%s\", \"bytes\": %llu, \"complete\": %s}",
	    u->id, (unsigned long long)u->bytes, complete ? "true" : "false");
	free(u);
	return status;
}

/* Wait until an upload callback blocks (F.block set). */
static void
fake_wait_blocked(void)
{
	pthread_mutex_lock(&F.lock);
	while (!F.blocked)
		pthread_cond_wait(&F.cond, &F.lock);
	pthread_mutex_unlock(&F.lock);
}

/* Let the blocked upload callback go on. */
static void
fake_unblock(void)
{
	pthread_mutex_lock(&F.lock);
	F.block = false;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
}

/* Wait until upload_end was called N times (or 5 s went). */
static int
fake_wait_ends(int n)
{
	struct timespec ts;
	int ends;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&F.lock);
	while (F.ends < n && pthread_cond_timedwait(&F.cond, &F.lock, &ts) == 0)
		;
	ends = F.ends;
	pthread_mutex_unlock(&F.lock);
	return ends;
}

static int
route_healthz(void *arg, struct buf *out)
{
	(void)arg;
	buf_puts(out, "ok\n");
	return 200;
}

static int
route_readyz(void *arg, struct buf *out)
{
	struct fake *f = arg;
	int status;

	pthread_mutex_lock(&f->lock);
	status = f->readyz;
	pthread_mutex_unlock(&f->lock);
	buf_puts(out, status == 200 ? "ready\n" : "not ready\n");
	return status;
}

static int
route_secret(void *arg, struct buf *out)
{
	(void)arg;
	buf_puts(out, "{\"secret\": \"data\"}\n");
	return 200;
}

static const struct httpd_route routes[] = {
	{ "/healthz", "text/plain; charset=utf-8", route_healthz, NULL, false },
	{ "/readyz", "text/plain; charset=utf-8", route_readyz, &F, false },
	{ "/secret", "application/json", route_secret, NULL, true },
};

static struct httpd *
server_timeouts(const char *host, const char *token, int timeout, int upload_timeout,
    char *why, size_t len)
{
	struct httpd_conf hc = {
		.bind_host = host,
		.timeout = timeout,
		.upload_timeout = upload_timeout,
		.bind_port = 0,
		.token = token,
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.upload_begin = fake_begin,
		.upload_data = fake_data,
		.upload_end = fake_end,
		.upload_arg = &F,
		.prefetch = NULL,
	};

	return httpd_start(&hc, why, len);
}

static struct httpd *
server(const char *host, const char *token, char *why, size_t len)
{
	return server_timeouts(host, token, 0, 0, why, len);
}

/* ---- the client ---- */

struct resp {
	CURLcode	rc;
	long		status;
	struct buf	body;
	struct buf	hdrs;
};

/* A request body: TOTAL announced bytes of a fixed pattern. */
struct src {
	size_t		 total;		/* announced (Content-Length) */
	size_t		 sent;
	size_t		 abort_at;	/* the client gives up here; NEVER */
	bool		 chunked;	/* no Content-Length */
	volatile bool	*hold;		/* while *hold, stop sending at hold_at */
	size_t		 hold_at;
	uint64_t	 hash;
};

static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 11 ^ i);
}

static size_t
src_read(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct src *s = arg;
	size_t n = size * nmemb, i;

	if (s->abort_at != NEVER && s->sent >= s->abort_at)
		return CURL_READFUNC_ABORT;
	while (s->hold != NULL && *s->hold && s->sent >= s->hold_at)
		usleep(10000);
	if (n > s->total - s->sent)
		n = s->total - s->sent;
	if (s->abort_at != NEVER && n > s->abort_at - s->sent)
		n = s->abort_at - s->sent;
	for (i = 0; i < n; i++)
		ptr[i] = (char)pattern(s->sent + i);
	s->hash = fnv(s->hash, ptr, n);
	s->sent += n;
	return n;
}

static size_t
sink(char *ptr, size_t size, size_t nmemb, void *arg)
{
	buf_append(arg, ptr, size * nmemb);
	return size * nmemb;
}

static int srv_port;
static const char *http_source;		/* the client's address; NULL: any */

/* METHOD PATH on PORT with HEADERS (NULL-terminated, may be NULL). */
static void
http_on(int port, const char *host, const char *method, const char *path,
    const char *const *headers, struct src *body, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	char url[1024];

	memset(r, 0, sizeof(*r));
	if (http_source != NULL)
		curl_easy_setopt(c, CURLOPT_INTERFACE, http_source);
	snprintf(url, sizeof(url), "http://%s:%d%s", host, port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->hdrs);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (body != NULL) {
		body->hash = FNV_INIT;
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, src_read);
		curl_easy_setopt(c, CURLOPT_READDATA, body);
		if (!body->chunked)
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
			    (curl_off_t)body->total);
		if (strcmp(method, "PUT") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	for (; headers != NULL && *headers != NULL; headers++)
		hl = curl_slist_append(hl, *headers);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	buf_append(&r->body, "", 0);
	buf_append(&r->hdrs, "", 0);
}

static void
http(const char *method, const char *path, const char *const *headers,
    struct src *body, struct resp *r)
{
	http_on(srv_port, "127.0.0.1", method, path, headers, body, r);
}

static void
resp_free(struct resp *r)
{
	buf_free(&r->body);
	buf_free(&r->hdrs);
}

/* The "error" of a JSON body, or "" (the string lives in a static). */
static const char *
json_error(const struct resp *r)
{
	static char out[512];
	json_error_t e;
	json_t *j = json_loads(buf_cstr(&r->body), 0, &e);
	const char *s;

	out[0] = '\0';
	if (j != NULL && (s = json_string_value(json_object_get(j, "error"))) != NULL)
		snprintf(out, sizeof(out), "%s", s);
	json_decref(j);
	return out;
}

/* Nothing the server said may carry either token. */
static void
assert_no_token(const struct resp *r)
{
	assert_null(strstr(buf_cstr(&r->body), TOKEN));
	assert_null(strstr(buf_cstr(&r->body), WRONG_TOKEN));
	assert_null(strstr(buf_cstr(&r->hdrs), TOKEN));
	assert_null(strstr(buf_cstr(&r->hdrs), WRONG_TOKEN));
}

static const char *const good_token[] = { "X-Auth-Token: " TOKEN, NULL };
static const char *const good_bearer[] = { "Authorization: Bearer " TOKEN, NULL };
static const char *const bad_token[] = { "X-Auth-Token: " WRONG_TOKEN, NULL };
static const char *const bad_bearer[] = { "Authorization: Bearer " WRONG_TOKEN, NULL };

/* ---- tests ---- */

static struct httpd *srv;
static char logpath[] = "/tmp/test_httpd.XXXXXX";

static int
group_setup(void **state)
{
	char why[256];
	int fd;

	(void)state;
	log_init("test_httpd", LOG_LVL_DEBUG);
	if ((fd = mkstemp(logpath)) >= 0)
		close(fd);
	log_set_file(logpath);
	fake_reset();
	if ((srv = server("127.0.0.1", TOKEN, why, sizeof(why))) == NULL) {
		fprintf(stderr, "# httpd_start: %s\n", why);
		return -1;
	}
	srv_port = httpd_port(srv);
	return srv_port > 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	httpd_stop(srv);
	log_set_file(NULL);
	unlink(logpath);
	return 0;
}

static int
test_setup(void **state)
{
	(void)state;
	fake_reset();
	return 0;
}

static void
test_get_routes(void **state)
{
	struct resp r;

	(void)state;
	http("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "ok\n");
	assert_non_null(strstr(buf_cstr(&r.hdrs), "Content-Type: text/plain; charset=utf-8"));
	resp_free(&r);

	http("HEAD", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "");
	resp_free(&r);

	http("GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(buf_cstr(&r.body), "not ready\n");
	resp_free(&r);
	F.readyz = 200;
	http("GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "ready\n");
	resp_free(&r);

	http("GET", "/nope", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_true(r.body.len > 0 && r.body.len < 64);
	assert_non_null(strstr(buf_cstr(&r.hdrs), "Content-Type: text/plain"));
	resp_free(&r);
	http("GET", "/healthz/", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	http("GET", "/v1/images", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	http("POST", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(buf_cstr(&r.hdrs), "Allow: GET, HEAD"));
	resp_free(&r);
	http("DELETE", "/metrics-nope", NULL, NULL, &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	/* the upload path takes PUT only */
	http("GET", "/v1/images/abc", good_token, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(buf_cstr(&r.hdrs), "Allow: PUT"));
	resp_free(&r);
	/* and the server still answers after all of these */
	http("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_get_token(void **state)
{
	struct resp r;

	(void)state;
	http("GET", "/secret", NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_not_equal(json_error(&r), "");
	assert_no_token(&r);
	resp_free(&r);
	http("GET", "/secret", bad_token, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_no_token(&r);
	resp_free(&r);
	http("GET", "/secret", bad_bearer, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_no_token(&r);
	resp_free(&r);
	{
		static const char *const h[] = { "X-Auth-Token: " TOKEN "x", NULL };
		static const char *const p[] = { "X-Auth-Token: s3cret", NULL };
		static const char *const e[] = { "X-Auth-Token;", NULL };	/* empty */
		static const char *const basic[] = { "Authorization: Basic " TOKEN, NULL };

		http("GET", "/secret", h, NULL, &r);
		assert_int_equal(r.status, 403);
		assert_no_token(&r);
		resp_free(&r);
		http("GET", "/secret", p, NULL, &r);
		assert_int_equal(r.status, 403);
		resp_free(&r);
		http("GET", "/secret", e, NULL, &r);
		assert_int_equal(r.status, 401);
		resp_free(&r);
		http("GET", "/secret", basic, NULL, &r);
		assert_int_equal(r.status, 401);
		assert_no_token(&r);
		resp_free(&r);
	}
	http("GET", "/secret", good_token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "{\"secret\": \"data\"}\n");
	assert_non_null(strstr(buf_cstr(&r.hdrs), "Content-Type: application/json"));
	resp_free(&r);
	http("GET", "/secret", good_bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_no_token_configured(void **state)
{
	struct httpd *h;
	struct resp r;
	struct src s = { 1000, 0, NEVER, false, NULL, 0, 0 };
	char why[256];
	int port;

	(void)state;
	assert_non_null(h = server("127.0.0.1", NULL, why, sizeof(why)));
	port = httpd_port(h);
	assert_true(port > 0 && port != srv_port);
	http_on(port, "127.0.0.1", "GET", "/secret", good_token, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(json_error(&r), "no token configured"));
	resp_free(&r);
	http_on(port, "127.0.0.1", "PUT", "/v1/images/img1", good_token, &s, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(json_error(&r), "no token configured"));
	resp_free(&r);
	http_on(port, "127.0.0.1", "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	httpd_stop(h);
	assert_int_equal(F.begins, 0);

	/* an empty token is no token */
	assert_non_null(h = server("127.0.0.1", "", why, sizeof(why)));
	http_on(httpd_port(h), "127.0.0.1", "GET", "/secret", NULL, NULL, &r);
	assert_int_equal(r.status, 403);
	resp_free(&r);
	httpd_stop(h);
}

static void
test_upload_auth(void **state)
{
	struct resp r;
	struct src small = { 1000, 0, NEVER, false, NULL, 0, 0 };
	struct src big = { 3 * MIB, 0, NEVER, false, NULL, 0, 0 };

	(void)state;
	http("PUT", "/v1/images/img1", NULL, &small, &r);
	assert_int_equal(r.status, 401);
	assert_string_not_equal(json_error(&r), "");
	assert_no_token(&r);
	resp_free(&r);
	http("PUT", "/v1/images/img1", bad_token, &small, &r);
	assert_int_equal(r.status, 403);
	assert_no_token(&r);
	resp_free(&r);
	http("PUT", "/v1/images/img1", bad_bearer, &big, &r);
	assert_int_equal(r.status, 403);
	assert_no_token(&r);
	resp_free(&r);
	http("PUT", "/v1/images/img1", NULL, &big, &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	assert_int_equal(F.begins, 0);
	assert_int_equal(F.ends, 0);
}

static void
test_upload_bad_id(void **state)
{
	static const struct {
		const char *path, *id;
	} bad[] = {
		{ "/v1/images/a/b", "a/b" },
		{ "/v1/images/../etc", "../etc" },
		{ "/v1/images/%2e%2e%2fetc", "../etc" },
		{ "/v1/images/.hidden", ".hidden" },
		{ "/v1/images/", "" },
		{ "/v1/images/a%20b", "a b" },
		{ "/v1/images/a%22b%5c", "a\"b\\" },
		{ "/v1/images/a%0ab", "a\nb" },
		{ "/v1/images/abc%00def", "abc%00def" },	/* not "abc" */
		{ "/v1/images/abc%00", "abc%00" },
		{ "/v1/images/a%01b", "a\001b" },
		{ "/v1/images/a%7fb", "a\177b" },
	};
	struct resp r;
	struct src s = { 1000, 0, NEVER, false, NULL, 0, 0 };
	char path[256], id[101];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.sent = 0;
		http("PUT", bad[i].path, good_token, &s, &r);
		assert_int_equal(r.status, 400);
		assert_non_null(strstr(json_error(&r), bad[i].id));
		resp_free(&r);
	}
	/* a long id is named, truncated */
	memset(id, 'x', 100);
	id[100] = '\0';
	snprintf(path, sizeof(path), "/v1/images/%s", id);
	s.sent = 0;
	http("PUT", path, good_token, &s, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(json_error(&r), "xxxxxxxx"));
	assert_null(strstr(json_error(&r), id));
	resp_free(&r);
	/* prefetch checks its id the same way, %00 included */
	http("POST", "/v1/images/abc%00def/prefetch", good_token, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(json_error(&r), "abc%00def"));
	resp_free(&r);
	assert_int_equal(F.begins, 0);
}

/* The path functions on their own: what the server would make of a URL. */
static void
test_path_parse(void **state)
{
	static const struct {
		const char *in, *out;
	} un[] = {
		{ "a%20b", "a b" }, { "%41%4a%4A", "AJJ" }, { "a%00b", "a%00b" },
		{ "%", "%" }, { "%4", "%4" }, { "%zz", "%zz" }, { "%%41", "%A" },
		{ "a+b", "a+b" }, { "%2f", "/" }, { "", "" },
	};
	static const struct {
		const char *url;
		enum httpd_path_kind kind;
		bool ok;
		const char *id;
	} v[] = {
		{ "/healthz", HTTPD_PATH_ROUTE, false, "" },
		{ "/v1/images", HTTPD_PATH_ROUTE, false, "" },
		{ "/v1/images/", HTTPD_PATH_UPLOAD, false, "" },
		{ "/v1/images/img-1", HTTPD_PATH_UPLOAD, true, "img-1" },
		{ "/v1/images/img-1/prefetch", HTTPD_PATH_PREFETCH, true, "img-1" },
		{ "/v1/images//prefetch", HTTPD_PATH_UPLOAD, false, "/prefetch" },
		{ "/v1/images/x/prefetch", HTTPD_PATH_PREFETCH, true, "x" },
		{ "/v1/images/prefetch", HTTPD_PATH_UPLOAD, true, "prefetch" },
		{ "/v1/images/a/b", HTTPD_PATH_UPLOAD, false, "a/b" },
		{ "/v1/images/a%00b", HTTPD_PATH_UPLOAD, false, "a%00b" },
		{ "/v1/images/a\tb", HTTPD_PATH_UPLOAD, false, "a\tb" },
		{ "/v1/images/1f2e3d4c-0000-4000-8000-00000000a001/prefetch",
		  HTTPD_PATH_PREFETCH, true, "1f2e3d4c-0000-4000-8000-00000000a001" },
	};
	struct httpd_path p;
	char buf[64], long_url[200];

	(void)state;
	for (size_t i = 0; i < sizeof(un) / sizeof(un[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", un[i].in);
		assert_int_equal(httpd_unescape(buf), strlen(un[i].out));
		assert_string_equal(buf, un[i].out);
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		httpd_parse_path(v[i].url, &p);
		assert_int_equal(p.kind, v[i].kind);
		assert_int_equal(p.id_ok, v[i].ok);
		assert_string_equal(p.id, v[i].id);
	}
	/* 65 characters: too long, named by its first 64 */
	snprintf(long_url, sizeof(long_url), "/v1/images/%0*d", 65, 0);
	httpd_parse_path(long_url, &p);
	assert_false(p.id_ok);
	assert_int_equal(p.idlen, 65);
	assert_int_equal(strlen(p.id), 64);
}

static void
test_upload_no_length(void **state)
{
	struct resp r;
	struct src s = { 5000, 0, NEVER, true, NULL, 0, 0 };

	(void)state;
	http("PUT", "/v1/images/img1", good_token, NULL, &r);	/* no body at all */
	assert_int_equal(r.status, 411);
	assert_string_not_equal(json_error(&r), "");
	resp_free(&r);
	http("PUT", "/v1/images/img1", good_token, &s, &r);	/* chunked */
	assert_int_equal(r.status, 411);
	resp_free(&r);
	{
		static const char *const h[] = { "X-Auth-Token: " TOKEN,
		    "Content-Length: 0", NULL };
		http("PUT", "/v1/images/img1", h, NULL, &r);
		assert_int_equal(r.status, 400);
		resp_free(&r);
	}
	assert_int_equal(F.begins, 0);
}

static void
test_upload_good(void **state)
{
	static const char *const h[] = {
		"Authorization: Bearer " TOKEN,
		"X-Image-Checksum: sha512:0123abcd",
		NULL,
	};
	struct src s = { 3 * MIB, 0, NEVER, false, NULL, 0, 0 };
	struct resp r;
	json_t *j;

	(void)state;
	http("PUT", "/v1/images/img-1.2_3?datastore=ds%201&disk_type=thin&"
	    "adapter_type=lsiLogic&cluster=c1&linked_clone=true", h, &s, &r);
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(buf_cstr(&r.hdrs), "Content-Type: application/json"));
	assert_non_null(j = json_loads(buf_cstr(&r.body), 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "image")), "img-1.2_3");
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 3 * MIB);
	json_decref(j);
	resp_free(&r);
	assert_int_equal(fake_wait_ends(1), 1);
	assert_int_equal(F.begins, 1);
	assert_int_equal(F.live, 0);
	assert_true(F.complete);
	assert_int_equal(F.bytes, 3 * MIB);
	assert_int_equal(F.hash, s.hash);
	assert_int_equal(F.content_length, 3 * MIB);
	assert_string_equal(F.id, "img-1.2_3");
	assert_string_equal(F.datastore, "ds 1");
	assert_string_equal(F.disk_type, "thin");
	assert_string_equal(F.adapter_type, "lsiLogic");
	assert_string_equal(F.cluster, "c1");
	assert_string_equal(F.linked_clone, "true");
	assert_string_equal(F.checksum, "sha512:0123abcd");

	/* a %00 in an argument is kept, not a cut */
	fake_reset();
	s.sent = 0;
	http("PUT", "/v1/images/img-1?datastore=ds%00x&adapter_type=ide%00",
	    good_bearer, &s, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	assert_int_equal(fake_wait_ends(1), 1);
	assert_string_equal(F.datastore, "ds%00x");
	assert_string_equal(F.adapter_type, "ide%00");

	/* absent parameters are NULL; X-Auth-Token works too; one byte is fine */
	fake_reset();
	s.total = 1;
	s.sent = 0;
	http("PUT", "/v1/images/img2", good_token, &s, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	assert_int_equal(fake_wait_ends(1), 1);
	assert_true(F.complete);
	assert_int_equal(F.bytes, 1);
	assert_int_equal(F.hash, s.hash);
	assert_string_equal(F.datastore, "(null)");
	assert_string_equal(F.disk_type, "(null)");
	assert_string_equal(F.adapter_type, "(null)");
	assert_string_equal(F.checksum, "(null)");
}

static void
test_upload_refused(void **state)
{
	struct src s = { 2 * MIB, 0, NEVER, false, NULL, 0, 0 };
	struct resp r;

	(void)state;
	F.refuse = 409;
	http("PUT", "/v1/images/img1?datastore=ds1", good_token, &s, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(json_error(&r), "image img1 is \"already\" cached");
	resp_free(&r);
	assert_int_equal(F.begins, 1);
	assert_int_equal(F.ends, 0);
	assert_string_equal(F.datastore, "ds1");
}

static void
test_upload_disconnect(void **state)
{
	struct src s = { 3 * MIB, 0, MIB, false, NULL, 0, 0 };
	struct resp r;

	(void)state;
	http("PUT", "/v1/images/img1", good_token, &s, &r);
	assert_int_equal(r.rc, CURLE_ABORTED_BY_CALLBACK);
	resp_free(&r);
	assert_int_equal(fake_wait_ends(1), 1);
	usleep(200 * 1000);
	assert_int_equal(F.begins, 1);
	assert_int_equal(F.ends, 1);		/* once, not twice */
	assert_int_equal(F.live, 0);
	assert_false(F.complete);
	assert_true(F.bytes <= MIB);
	/* the server goes on */
	http("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_upload_data_fails(void **state)
{
	struct src s = { 3 * MIB, 0, NEVER, false, NULL, 0, 0 };
	struct resp r;

	(void)state;
	F.fail_after = 256 * 1024;
	http("PUT", "/v1/images/img1", good_token, &s, &r);
	/* answered through upload_end */
	assert_int_equal(r.status, 507);
	assert_non_null(strstr(buf_cstr(&r.body), "\"complete\": false"));
	resp_free(&r);
	assert_int_equal(fake_wait_ends(1), 1);
	usleep(100 * 1000);
	assert_int_equal(F.ends, 1);
	assert_int_equal(F.live, 0);
	assert_false(F.complete);
	assert_true(F.bytes <= 256 * 1024);
}

/* A failure with more than 64 MiB still to come closes the connection. */
static void
test_upload_data_fails_big(void **state)
{
	struct src s = { 200 * (size_t)MIB, 0, NEVER, false, NULL, 0, 0 };
	struct resp r;

	(void)state;
	F.fail_after = 0;
	http("PUT", "/v1/images/img1", good_token, &s, &r);
	assert_int_not_equal(r.rc, CURLE_OK);
	assert_true(s.sent < 100 * (size_t)MIB);	/* not read to the end */
	resp_free(&r);
	assert_int_equal(fake_wait_ends(1), 1);
	usleep(100 * 1000);
	assert_int_equal(F.ends, 1);
	assert_int_equal(F.live, 0);
	assert_false(F.complete);
	assert_int_equal(F.bytes, 0);
	http("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

struct bg {
	pthread_t	 t;
	int		 port;
	struct src	 s;
	struct resp	 r;
};

static void *
bg_upload(void *arg)
{
	struct bg *b = arg;

	http_on(b->port, "127.0.0.1", "PUT", "/v1/images/slow", good_token, &b->s,
	    &b->r);
	return NULL;
}

/* A blocked upload does not hold up the other endpoints. */
static void
test_upload_blocked(void **state)
{
	struct bg b = { .port = srv_port, .s = { 2 * MIB, 0, NEVER, false, NULL, 0, 0 } };
	struct resp r;

	(void)state;
	F.block = true;
	assert_int_equal(pthread_create(&b.t, NULL, bg_upload, &b), 0);
	fake_wait_blocked();
	http("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	fake_unblock();
	pthread_join(b.t, NULL);
	assert_int_equal(b.r.status, 201);
	resp_free(&b.r);
	assert_int_equal(fake_wait_ends(1), 1);
	assert_true(F.complete);
	assert_int_equal(F.bytes, 2 * MIB);
	assert_int_equal(F.hash, b.s.hash);
}

/* Stopping the server ends an upload in flight, once, incomplete. */
static void
test_stop_mid_upload(void **state)
{
	static volatile bool hold = true;
	struct bg b = { .s = { 3 * MIB, 0, NEVER, false, &hold, MIB, 0 } };
	struct httpd *h;
	char why[256];

	(void)state;
	assert_non_null(h = server("127.0.0.1", TOKEN, why, sizeof(why)));
	b.port = httpd_port(h);
	assert_int_equal(pthread_create(&b.t, NULL, bg_upload, &b), 0);
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&F.lock);
		bool started = F.begins > 0;
		pthread_mutex_unlock(&F.lock);
		if (started && b.s.sent >= MIB)
			break;
		usleep(10000);
	}
	usleep(100 * 1000);
	httpd_stop(h);
	assert_int_equal(F.begins, 1);
	assert_int_equal(F.ends, 1);
	assert_int_equal(F.live, 0);
	assert_false(F.complete);
	hold = false;
	pthread_join(b.t, NULL);
	assert_int_not_equal(b.r.rc, CURLE_OK);
	resp_free(&b.r);
	assert_int_equal(F.ends, 1);
}

/* A connection that half-sent its request and went quiet; -1 if none. */
static int
half_sent(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Has the server closed FD (waiting up to MS)? */
static bool
closed_by_server(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && recv(fd, &c, 1, 0) <= 0;
}

#define SLOWLORIS	64

/*
 * 64 half-sent requests from one address: another address is still
 * answered at once (a limit per address), and the server drops the
 * silent ones after its timeout, so the same address is answered again.
 */
static void
test_slowloris(void **state)
{
	int fd[SLOWLORIS], n = 0, open_ = 0;
	struct httpd *h;
	struct resp r;
	char why[256];

	(void)state;
	assert_non_null(h = server_timeouts("127.0.0.1", TOKEN, 2, 0, why, sizeof(why)));
	for (int i = 0; i < SLOWLORIS; i++)
		if ((fd[n] = half_sent(httpd_port(h))) >= 0)
			n++;
	assert_int_equal(n, SLOWLORIS);
	/* another address of the loopback: answered while they hang */
	http_source = "127.0.0.2";
	http_on(httpd_port(h), "127.0.0.1", "GET", "/healthz", NULL, NULL, &r);
	http_source = NULL;
	assert_int_equal(r.rc, CURLE_OK);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* the server closes every one of them (refused, or timed out) */
	for (int i = 0; i < n; i++)
		if (!closed_by_server(fd[i], 30 * 1000))
			open_++;
	assert_int_equal(open_, 0);
	/* (the server counts a closed one out just after closing it) */
	for (int i = 0; i < 100; i++) {
		http_on(httpd_port(h), "127.0.0.1", "GET", "/healthz", NULL, NULL, &r);
		if (r.status == 200)
			break;
		resp_free(&r);
		usleep(100 * 1000);
	}
	assert_int_equal(r.status, 200);
	resp_free(&r);
	for (int i = 0; i < n; i++)
		close(fd[i]);
	httpd_stop(h);
}

/* An upload whose client stops sending ends, incomplete, on its timeout. */
static void
test_upload_stalled(void **state)
{
	static volatile bool hold = true;
	struct bg b = { .s = { 3 * MIB, 0, NEVER, false, &hold, MIB, 0 } };
	struct httpd *h;
	char why[256];
	int ends = 0;

	(void)state;
	assert_non_null(h = server_timeouts("127.0.0.1", TOKEN, 1, 2, why, sizeof(why)));
	b.port = httpd_port(h);
	assert_int_equal(pthread_create(&b.t, NULL, bg_upload, &b), 0);
	/* while the client still holds the connection open */
	for (int i = 0; i < 3000 && ends == 0; i++) {
		pthread_mutex_lock(&F.lock);
		ends = F.ends;
		pthread_mutex_unlock(&F.lock);
		if (ends == 0)
			usleep(10000);
	}
	assert_int_equal(ends, 1);
	assert_true(hold);
	assert_false(F.complete);
	assert_int_equal(F.live, 0);
	assert_true(F.bytes >= MIB / 2 && F.bytes <= 2 * MIB);
	hold = false;
	pthread_join(b.t, NULL);
	assert_int_not_equal(b.r.status, 201);
	resp_free(&b.r);
	httpd_stop(h);
	assert_int_equal(F.ends, 1);
}

/* A callback that blocks longer than the timeouts does not lose the upload. */
static void
test_upload_slow_datastore(void **state)
{
	struct bg b = { .s = { 2 * MIB, 0, NEVER, false, NULL, 0, 0 } };
	struct httpd *h;
	char why[256];

	(void)state;
	assert_non_null(h = server_timeouts("127.0.0.1", TOKEN, 1, 1, why, sizeof(why)));
	b.port = httpd_port(h);
	F.block = true;
	assert_int_equal(pthread_create(&b.t, NULL, bg_upload, &b), 0);
	fake_wait_blocked();
	sleep(3);	/* longer than both timeouts, while the callback blocks */
	fake_unblock();
	pthread_join(b.t, NULL);
	assert_int_equal(b.r.status, 201);
	resp_free(&b.r);
	assert_int_equal(fake_wait_ends(1), 1);
	assert_true(F.complete);
	assert_int_equal(F.bytes, 2 * MIB);
	httpd_stop(h);
}

static void
test_start(void **state)
{
	struct httpd *h;
	struct resp r;
	char why[256];
	struct httpd_conf hc = {
		.bind_host = "127.0.0.1",
		.bind_port = srv_port,		/* taken */
		.token = TOKEN,
		.routes = routes,
		.nroutes = 1,
		.upload_begin = fake_begin,
		.upload_data = fake_data,
		.upload_end = fake_end,
		.upload_arg = &F,
		.prefetch = NULL,
	};

	(void)state;
	why[0] = '\0';
	assert_null(server("localhost", TOKEN, why, sizeof(why)));
	assert_non_null(strstr(why, "localhost"));
	assert_null(server("1.2.3.4.5", TOKEN, why, sizeof(why)));
	why[0] = '\0';
	assert_null(httpd_start(&hc, why, sizeof(why)));
	assert_string_not_equal(why, "");
	assert_null(strstr(why, TOKEN));
	httpd_stop(NULL);

	/* the default address is 127.0.0.1 */
	assert_non_null(h = server(NULL, TOKEN, why, sizeof(why)));
	http_on(httpd_port(h), "127.0.0.1", "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	httpd_stop(h);

	/* IPv6, where the machine has it */
	if ((h = server("::1", TOKEN, why, sizeof(why))) == NULL) {
		fprintf(stderr, "# no IPv6 loopback here: %s\n", why);
		return;
	}
	http_on(httpd_port(h), "[::1]", "GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	httpd_stop(h);
}

/* Runs last: whatever was logged, the token is not in it. */
static void
test_log_has_no_token(void **state)
{
	FILE *f;
	char line[2048];
	int n = 0;

	(void)state;
	assert_non_null(f = fopen(logpath, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		assert_null(strstr(line, TOKEN));
		assert_null(strstr(line, WRONG_TOKEN));
	}
	fclose(f);
	fprintf(stderr, "# %d log lines checked\n", n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_routes, test_setup),
		cmocka_unit_test_setup(test_get_token, test_setup),
		cmocka_unit_test_setup(test_no_token_configured, test_setup),
		cmocka_unit_test_setup(test_upload_auth, test_setup),
		cmocka_unit_test_setup(test_upload_bad_id, test_setup),
		cmocka_unit_test_setup(test_upload_no_length, test_setup),
		cmocka_unit_test_setup(test_upload_good, test_setup),
		cmocka_unit_test_setup(test_upload_refused, test_setup),
		cmocka_unit_test_setup(test_upload_disconnect, test_setup),
		cmocka_unit_test_setup(test_upload_data_fails, test_setup),
		cmocka_unit_test_setup(test_upload_data_fails_big, test_setup),
		cmocka_unit_test_setup(test_upload_blocked, test_setup),
		cmocka_unit_test_setup(test_stop_mid_upload, test_setup),
		cmocka_unit_test_setup(test_path_parse, test_setup),
		cmocka_unit_test_setup(test_slowloris, test_setup),
		cmocka_unit_test_setup(test_upload_stalled, test_setup),
		cmocka_unit_test_setup(test_upload_slow_datastore, test_setup),
		cmocka_unit_test_setup(test_start, test_setup),
		cmocka_unit_test(test_log_has_no_token),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("httpd", tests, group_setup, group_teardown);
	curl_global_cleanup();
	return rc;
}
