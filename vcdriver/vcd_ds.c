/*
 * vcd_ds.c - files on datastores.
 *
 * Data goes through vCenter's HTTP file interface,
 *   https://vcenter/folder/PATH?dcPath=DATACENTER&dsName=DATASTORE
 * on a connection that shares the session's cookie, streamed through the
 * caller's callbacks (nothing is held in memory).  Directory and file
 * management (MakeDirectory, MoveDatastoreFile_Task, DeleteDatastoreFile_Task)
 * goes through the FileManager.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vcd_int.h"
#include "xmalloc.h"

#define VCD_DS_TIMEOUT	3600.0	/* s: file operations on big disks */

/* https://host:port/folder/PATH?dcPath=DC&dsName=DS, every part escaped. */
static char *
vcd_ds_url(struct vcd_session *s, CURL *c, const char *dc, const char *ds,
    const char *path)
{
	struct buf b = BUF_INIT;
	char *e, *copy = xstrdup(path), *part, *save = NULL;

	if (strchr(s->host, ':') != NULL)
		buf_printf(&b, "https://[%s]:%d/folder", s->host, s->port);
	else
		buf_printf(&b, "https://%s:%d/folder", s->host, s->port);
	for (part = strtok_r(copy, "/", &save); part != NULL;
	    part = strtok_r(NULL, "/", &save)) {
		e = curl_easy_escape(c, part, 0);
		buf_printf(&b, "/%s", e);
		curl_free(e);
	}
	e = curl_easy_escape(c, dc, 0);
	buf_printf(&b, "?dcPath=%s", e);
	curl_free(e);
	e = curl_easy_escape(c, ds, 0);
	buf_printf(&b, "&dsName=%s", e);
	curl_free(e);
	free(copy);
	return buf_steal(&b);
}

static int
vcd_ds_check(const char *dc, const char *ds, const char *path, struct vcd_err *err)
{
	if (dc == NULL || ds == NULL || path == NULL || dc[0] == '\0' ||
	    ds[0] == '\0' || path[0] == '\0' || path[0] == '/' ||
	    strstr(path, "..") != NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, path ? path : "", "a datastore "
		    "file needs a datacenter, a datastore and a relative path "
		    "without \"..\"");
		return -1;
	}
	return 0;
}

/* Map the HTTP outcome of a transfer to ERR. */
static int
vcd_ds_result(CURLcode rc, long status, const char *what, const char *obj,
    struct vcd_err *err)
{
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, obj, "%s stopped by the caller",
		    what);
		return -1;
	}
	if (rc != CURLE_OK) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, obj, "%s: %s", what,
		    curl_easy_strerror(rc));
		return -1;
	}
	if (status == 404) {
		vcd_err_set(err, VCD_E_NOTFOUND, "FileNotFound", obj, "%s: no such "
		    "file, datastore or datacenter", what);
		return -1;
	}
	if (status < 200 || status >= 300) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, obj, "%s: HTTP %ld", what, status);
		return -1;
	}
	return 0;
}

size_t
vcd_curl_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct vcd_curl_data *cb = arg;
	ssize_t n = cb->fn(buf, size * nmemb, cb->arg);

	if (n < 0) {
		cb->failed = 1;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

static size_t
vcd_ds_write_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct vcd_curl_data *cb = arg;

	if (cb->fn(buf, size * nmemb, cb->arg) < 0) {
		cb->failed = 1;
		return 0;
	}
	return size * nmemb;
}

size_t
vcd_curl_discard(char *buf, size_t size, size_t nmemb, void *arg)
{
	(void)buf; (void)arg;
	return size * nmemb;
}

/*
 * One transfer on a connection of its own that shares the session: to the
 * datastore file DS/PATH of DC, or (DC NULL) to the URL in PATH, naming
 * OBJECT in errors.
 */
int
vcd_http_transfer(struct vcd_session *s, const char *method, const char *dc,
    const char *ds, const char *path, const char *ctype, int64_t size,
    vcd_ds_data_fn fn, void *arg, int64_t *length, struct vcd_err *err)
{
	struct vcd_curl_data cb = { fn, arg, 0 };
	struct curl_slist *hdrs = NULL;
	struct vcd_conn *c;
	char *url = NULL, *ct = NULL, obj[400];
	CURLcode rc;
	long status = 0;
	double t0;
	int ret = -1;

	vcd_err_clear(err);
	if (dc != NULL && vcd_ds_check(dc, ds, path, err) < 0)
		return -1;
	if ((c = vcd_conn_new(s, err)) == NULL)
		return -1;
	url = dc != NULL ? vcd_ds_url(s, c->curl, dc, ds, path) : xstrdup(path);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POST, 0L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 0L);	/* large files */
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (strcmp(method, "PUT") == 0) {
		ct = xasprintf("Content-Type: %s", ctype != NULL ? ctype :
		    "application/octet-stream");
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->curl, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
		curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, vcd_curl_read);
		curl_easy_setopt(c->curl, CURLOPT_READDATA, &cb);
		if (size >= 0)
			curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, vcd_curl_discard);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, vcd_ds_write_cb);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &cb);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	t0 = vcd_mono();
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (cb.failed && rc != CURLE_OK)
		rc = CURLE_ABORTED_BY_CALLBACK;
	if (dc != NULL)
		snprintf(obj, sizeof(obj), "[%s] %s", ds, path);
	else	/* a URL may carry a ticket: name it by the label in DS */
		snprintf(obj, sizeof(obj), "%s", ds != NULL ? ds : "upload");
	if (vcd_ds_result(rc, status, method, obj, err) < 0)
		goto out;
	if (length != NULL) {
		curl_off_t cl = -1;
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		*length = (int64_t)cl;
	}
	ret = 0;
out:
	/* every request to vCenter counts, as SOAP calls do */
	vcd_stat_http(s, method, dc == NULL, vcd_mono() - t0, ret < 0);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	vcd_conn_free(c);
	free(url);
	free(ct);
	return ret;
}

int
vcd_ds_put(struct vcd_session *s, const char *dc, const char *ds,
    const char *path, int64_t size, vcd_ds_data_fn read, void *arg,
    struct vcd_err *err)
{
	return vcd_http_transfer(s, "PUT", dc, ds, path, NULL, size, read, arg, NULL,
	    err);
}

int
vcd_ds_get(struct vcd_session *s, const char *dc, const char *ds,
    const char *path, vcd_ds_data_fn write, void *arg, struct vcd_err *err)
{
	return vcd_http_transfer(s, "GET", dc, ds, path, NULL, -1, write, arg, NULL,
	    err);
}

int
vcd_ds_stat(struct vcd_session *s, const char *dc, const char *ds,
    const char *path, int64_t *size, struct vcd_err *err)
{
	return vcd_http_transfer(s, "HEAD", dc, ds, path, NULL, -1, NULL, NULL, size,
	    err);
}

/* ---- the FileManager ---- */

int
vcd_ds_mkdir(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, struct vcd_err *err)
{
	struct vim_req_MakeDirectory req;
	struct vim_arena a = VIM_ARENA_INIT;
	void *resp;
	int ret;

	vim_init(&req, &vim_type_req_MakeDirectory);
	req._this = &s->file_manager;
	req.name = (char *)dspath;
	req.datacenter = (struct vcd_moref *)dc;
	req.createParentDirectories = VIM_BOOL(true);
	ret = vcd_invoke(s, &vim_method_MakeDirectory, &req, &a, &resp, err);
	/* an existing directory is what was asked for */
	if (ret < 0 && err->code == VCD_E_FAULT && strcmp(err->fault, "FileAlreadyExists") == 0)
		ret = 0;
	vim_arena_free(&a);
	return ret;
}

int
vcd_ds_move(struct vcd_session *s, const struct vcd_moref *dc, const char *from,
    const char *to, bool force, struct vcd_err *err)
{
	struct vim_req_MoveDatastoreFile_Task req;

	vim_init(&req, &vim_type_req_MoveDatastoreFile_Task);
	req._this = &s->file_manager;
	req.sourceName = (char *)from;
	req.sourceDatacenter = (struct vcd_moref *)dc;
	req.destinationName = (char *)to;
	req.destinationDatacenter = (struct vcd_moref *)dc;
	req.force = VIM_BOOL(force);
	return vcd_invoke_task(s, &vim_method_MoveDatastoreFile_Task, &req, NULL,
	    from, VCD_DS_TIMEOUT, NULL, err);
}

int
vcd_ds_delete(struct vcd_session *s, const struct vcd_moref *dc,
    const char *dspath, struct vcd_err *err)
{
	struct vim_req_DeleteDatastoreFile_Task req;

	vim_init(&req, &vim_type_req_DeleteDatastoreFile_Task);
	req._this = &s->file_manager;
	req.name = (char *)dspath;
	req.datacenter = (struct vcd_moref *)dc;
	return vcd_invoke_task(s, &vim_method_DeleteDatastoreFile_Task, &req, NULL,
	    dspath, VCD_DS_TIMEOUT, NULL, err);
}
