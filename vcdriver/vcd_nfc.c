/*
 * vcd_nfc.c - disks through an HttpNfcLease: imported through ImportVApp,
 * the way vSphere takes a streamOptimized VMDK, which no datastore file
 * upload can turn into a usable disk, and exported through ExportVm, the
 * way it gives one out.  The lease hands out one URL per disk; the data
 * goes there with an HTTP PUT or comes from it with a GET, progress reports
 * keep the lease alive, and HttpNfcLeaseComplete ends it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vcd_int.h"
#include "vcd_pc.h"

#define VCD_NFC_READY_TIMEOUT	120	/* s for the lease to become ready */

struct vcd_nfc_ctx {
	char			 state[32];
	char			 fault[64], msg[256];
	struct vcd_nfc_lease	*l;
	const char		*host;
	int			 port;
};

/* A URL whose host is "*" names the server we talk to: fill it in. */
static void
vcd_nfc_url(struct vcd_nfc_ctx *ctx, const char *url)
{
	const char *star = strstr(url, "://*");

	if (star == NULL) {
		snprintf(ctx->l->url, sizeof(ctx->l->url), "%s", url);
		return;
	}
	snprintf(ctx->l->url, sizeof(ctx->l->url), strchr(ctx->host, ':') != NULL ?
	    "https://[%s]:%d%s" : "https://%s:%d%s", ctx->host, ctx->port, star + 4);
}

static int
vcd_nfc_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_nfc_ctx *ctx = arg;
	const struct vim_any *info = vcd_pc_prop(oc, "info");
	const struct vim_any *e = vcd_pc_prop(oc, "error");
	const char *st = vcd_pc_str(oc, "state");

	snprintf(ctx->state, sizeof(ctx->state), "%s", st != NULL ? st : "");
	if (e != NULL && e->kind == VA_OBJ && e->obj != NULL) {
		const struct vim_LocalizedMethodFault *f =
		    vim_cast(e->obj, &vim_type_LocalizedMethodFault);
		if (f != NULL) {
			snprintf(ctx->fault, sizeof(ctx->fault), "%s",
			    f->fault != NULL ? f->fault->hdr.type->name : "SystemError");
			snprintf(ctx->msg, sizeof(ctx->msg), "%s",
			    f->localizedMessage != NULL ? f->localizedMessage : "");
		}
	}
	if (info != NULL && info->kind == VA_OBJ && info->obj != NULL) {
		const struct vim_HttpNfcLeaseInfo *li =
		    vim_cast(info->obj, &vim_type_HttpNfcLeaseInfo);
		if (li != NULL) {
			if (li->entity != NULL)
				ctx->l->vm = *li->entity;
			for (size_t i = 0; i < li->deviceUrl.len; i++) {
				const struct vim_HttpNfcLeaseDeviceUrl *d = li->deviceUrl.v[i];
				if (d->url != NULL && (d->disk.set ? d->disk.v : true)) {
					vcd_nfc_url(ctx, d->url);
					break;
				}
			}
		}
	}
	return 0;
}

/* Wait (up to VCD_NFC_READY_TIMEOUT s) for L's lease to be ready, and read
 * its first disk's URL and its entity; WHAT names it in errors. */
static int
vcd_nfc_ready(struct vcd_session *s, struct vcd_nfc_lease *l, const char *what,
    struct vcd_err *err)
{
	struct vcd_nfc_ctx ctx;
	char *paths[] = { "state", "info", "error" };
	const struct timespec pause = { 0, 100 * 1000 * 1000 };
	time_t deadline = time(NULL) + VCD_NFC_READY_TIMEOUT;

	memset(&ctx, 0, sizeof(ctx));
	ctx.l = l;
	ctx.host = s->host;
	ctx.port = s->port;
	for (;;) {
		ctx.state[0] = '\0';
		if (vcd_pc_retrieve_one(s, &l->lease, "HttpNfcLease", paths, 3,
		    vcd_nfc_one, &ctx, err) < 0)
			return -1;
		if (strcmp(ctx.state, "ready") == 0)
			break;
		if (strcmp(ctx.state, "error") == 0) {
			vcd_err_set(err, VCD_E_FAULT, ctx.fault[0] ? ctx.fault : "SystemError",
			    what, "%s failed: %s", what, ctx.msg);
			return -1;
		}
		if (time(NULL) >= deadline) {
			vcd_err_set(err, VCD_E_TIMEOUT, NULL, what, "the lease for %s "
			    "was not ready after %d s", what, VCD_NFC_READY_TIMEOUT);
			vcd_nfc_abort(s, l);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	if (l->url[0] == '\0' || l->vm.value[0] == '\0') {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, what, "the lease for %s has no "
		    "disk URL or no VM", what);
		vcd_nfc_abort(s, l);
		return -1;
	}
	return 0;
}

int
vcd_nfc_import(struct vcd_session *s, const struct vcd_moref *pool,
    const struct vcd_moref *folder, struct vim_VirtualMachineConfigSpec *spec,
    struct vcd_nfc_lease *l, struct vcd_err *err)
{
	struct vim_req_ImportVApp req;
	struct vim_resp_ImportVApp *resp;
	struct vim_VirtualMachineImportSpec is;
	struct vim_arena a = VIM_ARENA_INIT;
	char what[300];
	int ret = -1;

	memset(l, 0, sizeof(*l));
	vim_init(&is, &vim_type_VirtualMachineImportSpec);
	is.configSpec = spec;
	vim_init(&req, &vim_type_req_ImportVApp);
	req._this = (struct vcd_moref *)pool;
	req.spec = &is.base;
	req.folder = (struct vcd_moref *)folder;
	if (vcd_invoke(s, &vim_method_ImportVApp, &req, &a, (void **)&resp, err) < 0)
		goto out;
	l->lease = *resp->returnval;
	snprintf(what, sizeof(what), "importing %s", spec->name);
	ret = vcd_nfc_ready(s, l, what, err);
out:
	vim_arena_free(&a);
	return ret;
}

int
vcd_nfc_export(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_nfc_lease *l, struct vcd_err *err)
{
	struct vim_req_ExportVm req;
	struct vim_resp_ExportVm *resp;
	struct vim_arena a = VIM_ARENA_INIT;
	char what[300];
	int ret = -1;

	memset(l, 0, sizeof(*l));
	vim_init(&req, &vim_type_req_ExportVm);
	req._this = (struct vcd_moref *)vm;
	if (vcd_invoke(s, &vim_method_ExportVm, &req, &a, (void **)&resp, err) < 0) {
		if (err->object[0] == '\0')
			snprintf(err->object, sizeof(err->object), "%s", vm->value);
		goto out;
	}
	l->lease = *resp->returnval;
	snprintf(what, sizeof(what), "exporting virtual machine %s", vm->value);
	ret = vcd_nfc_ready(s, l, what, err);
out:
	vim_arena_free(&a);
	return ret;
}

/* A download's data on its way to the caller, with the lease kept alive. */
struct vcd_nfc_get_ctx {
	struct vcd_session		*s;
	const struct vcd_nfc_lease	*l;
	int64_t				 total, done;
	time_t				 next;
	vcd_ds_data_fn			 write;
	void				*arg;
};

static ssize_t
vcd_nfc_get_write(char *buf, size_t len, void *arg)
{
	struct vcd_nfc_get_ctx *g = arg;
	ssize_t n = g->write(buf, len, g->arg);

	if (n < 0)
		return n;
	g->done += n;
	/* a progress report every 5 s while the data comes (errors: the
	 * transfer tells) */
	if (time(NULL) >= g->next) {
		struct vcd_err e;
		int pct = g->total > 0 ? (int)(g->done * 100 / g->total) : 50;

		g->next = time(NULL) + 5;
		(void)vcd_nfc_progress(g->s, g->l, pct > 99 ? 99 : pct, &e);
	}
	return n;
}

int
vcd_nfc_get(struct vcd_session *s, const struct vcd_nfc_lease *l, int64_t total,
    vcd_ds_data_fn write, void *arg, struct vcd_err *err)
{
	struct vcd_nfc_get_ctx g = { s, l, total, 0, time(NULL) + 5, write, arg };
	char label[160];

	snprintf(label, sizeof(label), "the disk of export lease %s", l->lease.value);
	return vcd_http_transfer(s, "GET", NULL, label, l->url, NULL, -1,
	    vcd_nfc_get_write, &g, NULL, err);
}

int
vcd_nfc_put(struct vcd_session *s, const struct vcd_nfc_lease *l, int64_t size,
    vcd_ds_data_fn read, void *arg, struct vcd_err *err)
{
	char label[160];

	snprintf(label, sizeof(label), "the disk of import lease %s", l->lease.value);
	return vcd_http_transfer(s, "PUT", NULL, label, l->url,
	    "application/x-vnd.vmware-streamVmdk", size, read, arg, NULL, err);
}

int
vcd_nfc_progress(struct vcd_session *s, const struct vcd_nfc_lease *l,
    int percent, struct vcd_err *err)
{
	struct vim_req_HttpNfcLeaseProgress req;
	struct vim_arena a = VIM_ARENA_INIT;
	void *resp;
	int ret;

	vim_init(&req, &vim_type_req_HttpNfcLeaseProgress);
	req._this = (struct vcd_moref *)&l->lease;
	req.percent = VIM_INT(percent < 0 ? 0 : percent > 100 ? 100 : percent);
	ret = vcd_invoke(s, &vim_method_HttpNfcLeaseProgress, &req, &a, &resp, err);
	vim_arena_free(&a);
	return ret;
}

int
vcd_nfc_complete(struct vcd_session *s, const struct vcd_nfc_lease *l,
    struct vcd_err *err)
{
	struct vim_req_HttpNfcLeaseComplete req;
	struct vim_arena a = VIM_ARENA_INIT;
	void *resp;
	int ret;

	vim_init(&req, &vim_type_req_HttpNfcLeaseComplete);
	req._this = (struct vcd_moref *)&l->lease;
	ret = vcd_invoke(s, &vim_method_HttpNfcLeaseComplete, &req, &a, &resp, err);
	if (ret < 0 && err->object[0] == '\0')
		vcd_moref_str(err->object, sizeof(err->object), &l->lease);
	vim_arena_free(&a);
	return ret;
}

void
vcd_nfc_abort(struct vcd_session *s, const struct vcd_nfc_lease *l)
{
	struct vim_req_HttpNfcLeaseAbort req;
	struct vim_arena a = VIM_ARENA_INIT;
	struct vcd_err err;
	char msg[600];
	void *resp;

	vim_init(&req, &vim_type_req_HttpNfcLeaseAbort);
	req._this = (struct vcd_moref *)&l->lease;
	if (vcd_invoke(s, &vim_method_HttpNfcLeaseAbort, &req, &a, &resp, &err) < 0)
		log_warnx("cannot abort lease %s: %s", l->lease.value,
		    vcd_strerror(&err, msg, sizeof(msg)));
	vim_arena_free(&a);
}

int
vcd_vm_unregister(struct vcd_session *s, const struct vcd_moref *vm,
    struct vcd_err *err)
{
	struct vim_req_UnregisterVM req;
	struct vim_arena a = VIM_ARENA_INIT;
	void *resp;
	int ret;

	vim_init(&req, &vim_type_req_UnregisterVM);
	req._this = (struct vcd_moref *)vm;
	ret = vcd_invoke(s, &vim_method_UnregisterVM, &req, &a, &resp, err);
	if (ret < 0 && err->object[0] == '\0')
		vcd_moref_str(err->object, sizeof(err->object), vm);
	vim_arena_free(&a);
	return ret;
}

struct vcd_disk_ctx {
	char	*out;
	size_t	 len;
	bool	 found;
};

static int
vcd_disk_one(void *arg, const struct vim_ObjectContent *oc)
{
	struct vcd_disk_ctx *ctx = arg;
	const struct vim_any *devs = vcd_pc_prop(oc, "config.hardware.device");

	if (devs == NULL || devs->kind != VA_ARRAY)
		return 0;
	for (size_t i = 0; i < devs->nitems && !ctx->found; i++) {
		const struct vim_VirtualDisk *d;
		const struct vim_VirtualDeviceFileBackingInfo *b;

		if (devs->items[i]->kind != VA_OBJ ||
		    (d = vim_cast(devs->items[i]->obj, &vim_type_VirtualDisk)) == NULL ||
		    d->base.backing == NULL ||
		    (b = vim_cast(d->base.backing, &vim_type_VirtualDeviceFileBackingInfo)) == NULL ||
		    b->fileName == NULL)
			continue;
		snprintf(ctx->out, ctx->len, "%s", b->fileName);
		ctx->found = true;
	}
	return 0;
}

int
vcd_vm_disk_path(struct vcd_session *s, const struct vcd_moref *vm, char *out,
    size_t len, struct vcd_err *err)
{
	char *paths[] = { "config.hardware.device" };
	struct vcd_disk_ctx ctx = { out, len, false };

	if (vcd_pc_retrieve_one(s, vm, "VirtualMachine", paths, 1, vcd_disk_one, &ctx,
	    err) < 0)
		return -1;
	if (!ctx.found) {
		vcd_err_set(err, VCD_E_NOTFOUND, "FileNotFound", NULL, "virtual machine "
		    "%s has no virtual disk", vm->value);
		vcd_moref_str(err->object, sizeof(err->object), vm);
		return -1;
	}
	return 0;
}
