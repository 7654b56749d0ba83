/*
 * vcd_session.c - connecting, reading the ServiceContent, logging in and out,
 * and keeping an idle session alive.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "vcd_int.h"
#include "xmalloc.h"

static struct vcd_moref vcd_service_instance = { "ServiceInstance", "ServiceInstance" };

static void
vcd_copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

static void
vcd_copy_moref(struct vcd_moref *dst, const struct vcd_moref *src)
{
	if (src != NULL)
		*dst = *src;
	else
		memset(dst, 0, sizeof(*dst));
}

static int
vcd_service_content(struct vcd_session *s, struct vcd_err *err)
{
	struct vim_req_RetrieveServiceContent req;
	struct vim_resp_RetrieveServiceContent *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	const struct vim_ServiceContent *sc;
	const struct vim_AboutInfo *about;
	int ret = -1;

	vim_init(&req, &vim_type_req_RetrieveServiceContent);
	req._this = &vcd_service_instance;
	if (vcd_invoke(s, &vim_method_RetrieveServiceContent, &req, &a,
	    (void **)&resp, err) < 0)
		goto out;
	if ((sc = resp->returnval) == NULL || sc->about == NULL ||
	    sc->rootFolder == NULL || sc->propertyCollector == NULL ||
	    sc->sessionManager == NULL) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, "ServiceInstance",
		    "the ServiceContent lacks about, rootFolder, propertyCollector "
		    "or sessionManager");
		goto out;
	}
	about = sc->about;
	vcd_copy(s->about.name, sizeof(s->about.name), about->name);
	vcd_copy(s->about.full_name, sizeof(s->about.full_name), about->fullName);
	vcd_copy(s->about.version, sizeof(s->about.version), about->version);
	vcd_copy(s->about.build, sizeof(s->about.build), about->build);
	vcd_copy(s->about.api_type, sizeof(s->about.api_type), about->apiType);
	vcd_copy(s->about.api_version, sizeof(s->about.api_version), about->apiVersion);
	vcd_copy(s->about.instance_uuid, sizeof(s->about.instance_uuid), about->instanceUuid);
	vcd_copy_moref(&s->root_folder, sc->rootFolder);
	vcd_copy_moref(&s->property_collector, sc->propertyCollector);
	vcd_copy_moref(&s->view_manager, sc->viewManager);
	vcd_copy_moref(&s->session_manager, sc->sessionManager);
	vcd_copy_moref(&s->search_index, sc->searchIndex);
	vcd_copy_moref(&s->file_manager, sc->fileManager);
	vcd_copy_moref(&s->virtual_disk_manager, sc->virtualDiskManager);
	vcd_copy_moref(&s->vstorage_manager, sc->vStorageObjectManager);
	/* From now on speak the version the server announced. */
	if (s->about.api_version[0] != '\0')
		snprintf(s->soap_action, sizeof(s->soap_action), "urn:vim25/%s",
		    s->about.api_version);
	ret = 0;
out:
	vim_arena_free(&a);
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
	s->post = vcd_http_post;
	s->host = xstrdup(opt->host);
	s->port = opt->port;
	s->username = xstrdup(opt->username);
	s->password = xstrdup(opt->password);
	s->ca_file = xstrdup(opt->ca_file);
	s->insecure = opt->insecure;
	s->proxy = xstrdup(opt->proxy);
	s->connect_timeout = opt->connect_timeout > 0 ? opt->connect_timeout : 10;
	s->call_timeout = opt->call_timeout > 0 ? opt->call_timeout : 300;
	s->call_deadline = opt->call_deadline > 0 ? opt->call_deadline : 600;
	s->pool_wait = opt->pool_wait > 0 ? opt->pool_wait : s->call_deadline;
	s->max_response = opt->max_response > 0 ? opt->max_response : VCD_MAX_RESPONSE;
	s->api_retry_count = opt->api_retry_count >= 0 ? opt->api_retry_count : 0;
	s->pool_size = opt->pool_size > 0 ? opt->pool_size : 1;
	s->max_objects = opt->max_objects > 0 ? opt->max_objects : 0;
	s->task_poll_interval = opt->task_poll_interval > 0 ? opt->task_poll_interval : 0.5;
	s->task_timeout = opt->task_timeout > 0 ? opt->task_timeout : 3600;
	s->auto_answer = opt->auto_answer;
	s->reuse_window = opt->reuse_window > 0 ? opt->reuse_window :
	    opt->reuse_window < 0 ? -1 : VCD_REUSE_WINDOW;
	pthread_mutex_init(&s->login_lock, NULL);
	pthread_mutex_init(&s->waiter_lock, NULL);
	pthread_mutex_init(&s->pbm_lock, NULL);
	if (getrandom(&s->opid_tag, sizeof(s->opid_tag), GRND_NONBLOCK) < 0)
		s->opid_tag = (unsigned)time(NULL);
	/* An IPv6 literal needs brackets in the URL. */
	if (strchr(s->host, ':') != NULL)
		s->base = xasprintf("https://[%s]:%d", s->host, s->port);
	else
		s->base = xasprintf("https://%s:%d", s->host, s->port);
	s->url = xasprintf("%s/sdk", s->base);
	snprintf(s->soap_action, sizeof(s->soap_action), "urn:vim25/6.5");
	if (vcd_http_init(s, err) < 0 || vcd_service_content(s, err) < 0) {
		vcd_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

struct vcd_session *
vcd_session_fake(vcd_post_fn post, void *arg)
{
	struct vcd_session *s = xcalloc(1, sizeof(*s));
	struct vcd_err err;

	s->post = post;
	s->post_arg = arg;
	s->host = xstrdup("fake");
	s->base = xstrdup("https://fake");
	s->url = xstrdup("https://fake/sdk");
	s->pool_size = 1;
	s->call_deadline = s->pool_wait = 600;
	s->max_response = VCD_MAX_RESPONSE;
	s->task_poll_interval = 0.5;
	pthread_mutex_init(&s->login_lock, NULL);
	pthread_mutex_init(&s->waiter_lock, NULL);
	pthread_mutex_init(&s->pbm_lock, NULL);
	snprintf(s->soap_action, sizeof(s->soap_action), "urn:vim25/6.5");
	snprintf(s->property_collector.type, sizeof(s->property_collector.type),
	    "PropertyCollector");
	snprintf(s->property_collector.value, sizeof(s->property_collector.value),
	    "propertyCollector");
	if (vcd_http_init(s, &err) < 0) {
		vcd_close(s);
		return NULL;
	}
	return s;
}

/* Caller holds s->login_lock. */
int
vcd_login_conn(struct vcd_session *s, struct vcd_conn *c, struct vcd_err *err)
{
	struct vim_req_Login req;
	struct vim_resp_Login *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	vcd_err_clear(err);
	if (s->username == NULL || s->password == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, s->host, "no user name or "
		    "password configured");
		goto out;
	}
	vim_init(&req, &vim_type_req_Login);
	req._this = &s->session_manager;
	req.userName = s->username;
	req.password = s->password;
	if (vcd_invoke_conn(s, c, &vim_method_Login, &req, &a, (void **)&resp,
	    err) < 0) {
		if (err->fault[0] != '\0')
			snprintf(err->object, sizeof(err->object), "%s@%s",
			    s->username, s->host);
		goto out;
	}
	s->login_gen++;
	atomic_store(&s->logged_in, true);
	ret = 0;
out:
	/* The request held the password: wipe it now. */
	if (c->req.data != NULL)
		memset(c->req.data, 0, c->req.len);
	vim_arena_free(&a);
	return ret;
}

int
vcd_login(struct vcd_session *s, struct vcd_err *err)
{
	struct vcd_conn *c;
	int ret;

	if ((c = vcd_conn_get(s, 0, err)) == NULL)
		return -1;
	pthread_mutex_lock(&s->login_lock);
	ret = vcd_login_conn(s, c, err);
	pthread_mutex_unlock(&s->login_lock);
	vcd_conn_put(s, c);
	if (ret == 0)
		log_info("vcdriver: logged in to %s as %s (%s, API %s)", s->host,
		    s->username, s->about.full_name, s->about.api_version);
	return ret;
}

int
vcd_keepalive(struct vcd_session *s, int idle_seconds, struct vcd_err *err)
{
	struct vim_req_CurrentTime req;
	struct vim_resp_CurrentTime *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret;

	vcd_err_clear(err);
	if (!atomic_load(&s->logged_in) ||
	    time(NULL) - atomic_load(&s->last_call) < idle_seconds)
		return 0;
	/* CurrentTime needs a session (RetrieveServiceContent does not), so
	 * it refreshes the session's idle timer - and re-logs in if the
	 * session has expired after all. */
	vim_init(&req, &vim_type_req_CurrentTime);
	req._this = &vcd_service_instance;
	ret = vcd_invoke(s, &vim_method_CurrentTime, &req, &a, (void **)&resp, err);
	vim_arena_free(&a);
	return ret;
}

static void
vcd_logout(struct vcd_session *s)
{
	struct vim_req_Logout req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	void *resp;
	char msg[800];

	vim_init(&req, &vim_type_req_Logout);
	req._this = &s->session_manager;
	if (vcd_invoke(s, &vim_method_Logout, &req, &a, &resp, &err) < 0)
		log_warnx("vcdriver: logout from %s failed: %s", s->host,
		    vcd_strerror(&err, msg, sizeof(msg)));
	else
		log_info("vcdriver: logged out of %s", s->host);
	vim_arena_free(&a);
	atomic_store(&s->logged_in, false);
}

void
vcd_close(struct vcd_session *s)
{
	if (s == NULL)
		return;
	vcd_task_shutdown(s);
	if (atomic_load(&s->logged_in))
		vcd_logout(s);
	vcd_http_cleanup(s);
	pthread_mutex_destroy(&s->login_lock);
	pthread_mutex_destroy(&s->waiter_lock);
	pthread_mutex_destroy(&s->pbm_lock);
	xfree_secret(s->password);
	free(s->host);
	free(s->username);
	free(s->ca_file);
	free(s->proxy);
	free(s->url);
	free(s->base);
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
	return atomic_load(&s->logged_in);
}

unsigned long
vcd_call_count(const struct vcd_session *s)
{
	return atomic_load(&s->ncalls);
}

const double vcd_lat_bounds[VCD_LAT_NB] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600 };

double
vcd_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
vcd_stat_record(struct vcd_session *s, const struct vim_method *m, bool task,
    double secs, bool failed)
{
	struct vcd_mstat *ms;
	size_t b;

	if (m->index >= VIM_NMETHODS + VCD_HTTP_NKINDS)
		return;
	ms = &s->mstat[m->index];
	for (b = 0; b < VCD_LAT_NB && secs > vcd_lat_bounds[b]; b++)
		;
	if (task) {
		atomic_fetch_add(&ms->tasks, 1);
		atomic_fetch_add(&ms->tsum_us, (unsigned long)(secs * 1e6));
		atomic_fetch_add(&ms->tbucket[b], 1);
		if (failed)
			atomic_fetch_add(&ms->task_errors, 1);
	} else {
		atomic_fetch_add(&ms->calls, 1);
		atomic_fetch_add(&ms->sum_us, (unsigned long)(secs * 1e6));
		atomic_fetch_add(&ms->bucket[b], 1);
		if (failed)
			atomic_fetch_add(&ms->errors, 1);
	}
}

/* The names of HTTP requests outside SOAP, after the methods in mstat[]:
 * lower case, so no SOAP method's, and no spaces, for naive parsers. */
static const char *const vcd_http_kinds[VCD_HTTP_NKINDS] = {
	"http_get_folder", "http_put_folder", "http_head_folder", "http_put_nfc",
};

void
vcd_stat_http(struct vcd_session *s, const char *method, bool nfc, double secs,
    bool failed)
{
	struct vim_method m = { .name = method };

	m.index = VIM_NMETHODS + (nfc ? 3 : strcmp(method, "PUT") == 0 ? 1 :
	    strcmp(method, "HEAD") == 0 ? 2 : 0);
	vcd_stat_record(s, &m, false, secs, failed);
}

size_t
vcd_stats(struct vcd_session *s, struct vcd_method_stats *out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < VIM_NMETHODS + VCD_HTTP_NKINDS; i++) {
		struct vcd_mstat *ms = &s->mstat[i];
		struct vcd_method_stats *o;

		if (atomic_load(&ms->calls) == 0)
			continue;
		if (k >= n) {
			k++;
			continue;
		}
		o = &out[k++];
		memset(o, 0, sizeof(*o));
		o->method = i < VIM_NMETHODS ? vim_methods[i]->name :
		    vcd_http_kinds[i - VIM_NMETHODS];
		o->errors = atomic_load(&ms->errors);
		o->call.count = atomic_load(&ms->calls);
		o->call.sum = (double)atomic_load(&ms->sum_us) / 1e6;
		o->task_errors = atomic_load(&ms->task_errors);
		o->task.count = atomic_load(&ms->tasks);
		o->task.sum = (double)atomic_load(&ms->tsum_us) / 1e6;
		for (size_t b = 0; b <= VCD_LAT_NB; b++) {
			o->call.bucket[b] = atomic_load(&ms->bucket[b]);
			o->task.bucket[b] = atomic_load(&ms->tbucket[b]);
		}
	}
	return k;
}

unsigned long
vcd_login_count(struct vcd_session *s)
{
	unsigned long n;

	pthread_mutex_lock(&s->login_lock);
	n = s->login_gen;
	pthread_mutex_unlock(&s->login_lock);
	return n;
}
