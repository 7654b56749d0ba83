/*
 * ic_stream.c - an image's data into a datastore, streamed.
 *
 * The caller (a Glance download, an upload to the operator endpoint) writes
 * the data into a bounded ring; one thread hashes it and one uploads it,
 * each on its own core.  Memory stays at the ring's size whatever the
 * image's; nothing touches the agent's disk.
 *
 * One checksum is computed: SHA-512, unless only an MD5 is expected.
 * Hashing twice would cost a third of the throughput on a small machine
 * for no extra safety.
 *
 * Nothing appears under the final name until the data is whole and
 * verified: flat extents are written next to it and published by moving a
 * descriptor into place; sparse and streamOptimized images become a disk
 * under a temporary name first (see imagecache.h).  Any failure removes
 * what was written.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "ic_int.h"
#include "log.h"
#include "rnd.h"
#include "vcdriver/vcd_dspath.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

#define IC_PIPE_DEFAULT		(4 * 1024 * 1024)
#define IC_LOG_EVERY		10	/* s between progress lines */
#define IC_LEASE_EVERY		30	/* s between NFC lease progress reports */

enum ic_kind { IC_FLAT, IC_SPARSE, IC_STREAMOPT };

/*
 * The ring is addressed by absolute offsets: the writer writes at PRODUCED,
 * the upload reads at CONSUMED and the hasher at HASHED; byte N lives at
 * buf[N % cap].  The writer waits only while the slower reader is a whole
 * ring behind.
 */
struct ic_stream {
	struct vcd_session	*s;
	struct ic_target	 t;
	enum ic_kind		 kind;
	bool			 thin;
	unsigned		 rnd;

	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	char			*buf;
	size_t			 cap;
	bool			 eof, failed, overflow;
	int64_t			 produced, consumed, hashed;

	EVP_MD_CTX		*md;
	bool			 sha512;
	unsigned char		 head[64 * 1024];	/* the first bytes */
	size_t			 nhead;

	pthread_t		 up_th, hash_th;
	bool			 up_started, hash_started;
	int			 up_rc;
	struct vcd_err		 up_err;

	char			*dir_ds;		/* "[ds] folder/ID" */
	char			*data_path;		/* where the PUT goes (relative) */
	char			*data_ds;
	struct vcd_nfc_lease	 lease;
	bool			 leased;
	time_t			 next_log, next_lease;
};

/* ---- the writer ---- */

static int64_t
ic_slowest(const struct ic_stream *st)
{
	return st->consumed < st->hashed ? st->consumed : st->hashed;
}

int
ic_stream_write(struct ic_stream *st, const void *data, size_t n)
{
	const char *d = data;
	size_t done = 0;

	if (st->nhead < sizeof(st->head)) {
		size_t k = sizeof(st->head) - st->nhead < n ? sizeof(st->head) - st->nhead : n;
		memcpy(st->head + st->nhead, d, k);
		st->nhead += k;
	}
	pthread_mutex_lock(&st->lock);
	if (st->produced + (int64_t)n > st->t.size) {
		st->overflow = st->failed = true;	/* more than the image's size */
		pthread_cond_broadcast(&st->cond);
	}
	while (done < n) {
		size_t at, chunk;

		while (st->produced - ic_slowest(st) == (int64_t)st->cap && !st->failed)
			pthread_cond_wait(&st->cond, &st->lock);
		if (st->failed)
			break;
		at = (size_t)(st->produced % (int64_t)st->cap);
		chunk = st->cap - (size_t)(st->produced - ic_slowest(st));
		if (chunk > st->cap - at)
			chunk = st->cap - at;
		if (chunk > n - done)
			chunk = n - done;
		/* the readers never touch bytes past PRODUCED: copy unlocked */
		pthread_mutex_unlock(&st->lock);
		memcpy(st->buf + at, d + done, chunk);
		pthread_mutex_lock(&st->lock);
		done += chunk;
		st->produced += (int64_t)chunk;
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
	return done == n ? 0 : -1;
}

/* ---- the hasher ---- */

static void *
ic_hash_main(void *arg)
{
	struct ic_stream *st = arg;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		size_t at, n;

		while (st->hashed == st->produced && !st->eof && !st->failed)
			pthread_cond_wait(&st->cond, &st->lock);
		if (st->failed || st->hashed == st->produced)
			break;
		at = (size_t)(st->hashed % (int64_t)st->cap);
		n = (size_t)(st->produced - st->hashed);
		if (n > st->cap - at)
			n = st->cap - at;
		pthread_mutex_unlock(&st->lock);
		EVP_DigestUpdate(st->md, st->buf + at, n);
		pthread_mutex_lock(&st->lock);
		st->hashed += (int64_t)n;
		pthread_cond_broadcast(&st->cond);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* ---- the upload ---- */

static void
ic_progress(struct ic_stream *st, bool last)
{
	const struct ic_target *t = &st->t;
	time_t now = time(NULL);

	if (t->progress != NULL)
		atomic_store(&t->progress->done, st->consumed);
	if (st->leased && now >= st->next_lease) {
		struct vcd_err err;
		char msg[600];

		st->next_lease = now + IC_LEASE_EVERY;
		if (vcd_nfc_progress(st->s, &st->lease, t->size > 0 ?
		    (int)(100 * st->consumed / t->size) : 0, &err) < 0)
			log_warnx("imagecache: image %s: lease progress: %s", t->id,
			    vcd_strerror(&err, msg, sizeof(msg)));
	}
	if (!last && now < st->next_log)
		return;
	st->next_log = now + IC_LOG_EVERY;
	log_info("imagecache: image %s -> [%s] %s: %lld of %lld MiB (%d%%)", t->id,
	    t->datastore, t->path, (long long)(st->consumed >> 20),
	    (long long)(t->size >> 20), t->size > 0 ?
	    (int)(100 * st->consumed / t->size) : 100);
}

static ssize_t
ic_pipe_read(char *buf, size_t len, void *arg)
{
	struct ic_stream *st = arg;
	size_t at, n;

	pthread_mutex_lock(&st->lock);
	while (st->consumed == st->produced && !st->eof && !st->failed)
		pthread_cond_wait(&st->cond, &st->lock);
	if (st->failed) {
		pthread_mutex_unlock(&st->lock);
		return -1;
	}
	if (st->consumed == st->produced) {	/* the end */
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	at = (size_t)(st->consumed % (int64_t)st->cap);
	n = (size_t)(st->produced - st->consumed);
	if (n > len)
		n = len;
	if (n > st->cap - at)
		n = st->cap - at;
	pthread_mutex_unlock(&st->lock);
	memcpy(buf, st->buf + at, n);
	pthread_mutex_lock(&st->lock);
	st->consumed += (int64_t)n;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	ic_progress(st, false);
	return (ssize_t)n;
}

static void *
ic_upload_main(void *arg)
{
	struct ic_stream *st = arg;
	int rc;

	if (st->kind == IC_STREAMOPT)
		rc = vcd_nfc_put(st->s, &st->lease, st->t.size, ic_pipe_read, st,
		    &st->up_err);
	else
		rc = vcd_ds_put(st->s, st->t.dc_name, st->t.datastore, st->data_path,
		    st->t.size, ic_pipe_read, st, &st->up_err);
	pthread_mutex_lock(&st->lock);
	st->up_rc = rc;
	if (rc < 0)
		st->failed = true;	/* stop the writer */
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* ---- open ---- */

void
ic_remove(struct vcd_session *s, const struct vcd_moref *dc, const char *dspath,
    bool disk)
{
	struct vcd_err err;
	char msg[800];
	int rc = disk ? vcd_vdisk_delete(s, dc, dspath, &err) :
	    vcd_ds_delete(s, dc, dspath, &err);

	if (rc < 0 && err.code != VCD_E_NOTFOUND && strcmp(err.fault, "FileNotFound") != 0)
		log_warnx("imagecache: cannot remove %s: %s", dspath,
		    vcd_strerror(&err, msg, sizeof(msg)));
}

/* The import VM of a streamOptimized image: one new disk, nothing else. */
static struct vim_VirtualMachineConfigSpec *
ic_import_spec(struct vim_arena *a, struct ic_stream *st, struct vcd_err *err)
{
	struct vim_VirtualMachineConfigSpec *cs = vim_new(a,
	    &vim_type_VirtualMachineConfigSpec);
	struct vim_VirtualMachineFileInfo *files = vim_new(a,
	    &vim_type_VirtualMachineFileInfo);
	int64_t kb = st->t.size / 1024 > 0 ? st->t.size / 1024 : 1;
	char name[128];

	snprintf(name, sizeof(name), "image-%s-%08x", st->t.id, st->rnd);
	cs->name = vim_strdup(a, name);
	cs->guestId = "otherGuest";
	cs->numCPUs = VIM_INT(1);
	cs->memoryMB = VIM_INT(128);
	{
		char *vmpath = vcd_dspath_format(st->t.datastore, "");
		files->vmPathName = vim_strdup(a, vmpath);
		free(vmpath);
	}
	cs->files = files;
	/* the lease's stream sets the real capacity; nova sizes it the same */
	if (ic_root_disk_specs(a, NULL, st->t.adapter, kb, false, "", &cs->deviceChange,
	    err) < 0)
		return NULL;
	cs->deviceChange.v[cs->deviceChange.len - 1]->fileOperation = "create";
	return cs;
}

static int
ic_open_target(struct ic_stream *st, struct vcd_err *err)
{
	const struct ic_target *t = &st->t;
	const char *slash = strrchr(t->path, '/');
	char *dir = xstrndup(t->path, (size_t)(slash - t->path)), *base;
	const char *dt = t->disk_type != NULL ? t->disk_type : "";
	int ret = -1;

	st->dir_ds = vcd_dspath_format(t->datastore, dir);
	base = xstrndup(slash + 1, strlen(slash + 1) - 5);	/* without .vmdk */
	if (dt[0] == '\0' || strcasecmp(dt, "preallocated") == 0 ||
	    strcasecmp(dt, "thin") == 0) {
		st->kind = IC_FLAT;
		st->thin = strcasecmp(dt, "thin") == 0;
		st->data_path = xasprintf("%s/%s-flat.vmdk", dir, base);
	} else if (strcasecmp(dt, "sparse") == 0) {
		st->kind = IC_SPARSE;
		st->data_path = xasprintf("%s/%s-sparse-%08x.vmdk", dir, base, st->rnd);
	} else if (strcasecmp(dt, "streamOptimized") == 0) {
		st->kind = IC_STREAMOPT;
		if (t->pool == NULL || t->folder == NULL) {
			vcd_err_set(err, VCD_E_INVALID, NULL, t->id, "image %s is "
			    "streamOptimized: importing it needs a resource pool and "
			    "a VM folder", t->id);
			goto out;
		}
	} else {
		vcd_err_set(err, VCD_E_INVALID, "InvalidDiskFormat", t->id, "image %s: "
		    "unknown vmware_disktype \"%s\" (expected preallocated, thin, "
		    "sparse or streamOptimized)", t->id, dt);
		goto out;
	}
	if (st->data_path != NULL)
		st->data_ds = vcd_dspath_format(t->datastore, st->data_path);
	if (vcd_ds_mkdir(st->s, t->dc, st->dir_ds, err) < 0)
		goto out;
	if (st->kind == IC_STREAMOPT) {
		struct vim_arena a = VIM_ARENA_INIT;
		struct vim_VirtualMachineConfigSpec *cs = ic_import_spec(&a, st, err);

		if (cs != NULL && vcd_nfc_import(st->s, t->pool, t->folder, cs,
		    &st->lease, err) == 0)
			st->leased = true;
		vim_arena_free(&a);
		if (!st->leased)
			goto out;
		st->next_lease = time(NULL) + IC_LEASE_EVERY;
	}
	ret = 0;
out:
	free(dir);
	free(base);
	return ret;
}

static int
ic_digest_init_libcrypto(void *ctx, const char *name)
{
	return EVP_DigestInit_ex(ctx, strcmp(name, "MD5") == 0 ? EVP_md5() :
	    EVP_sha512(), NULL);
}

int (*ic_digest_init)(void *ctx, const char *name) = ic_digest_init_libcrypto;

struct ic_stream *
ic_stream_open(struct vcd_session *s, const struct ic_target *t, struct vcd_err *err)
{
	struct ic_stream *st;
	const char *slash;
	size_t plen;

	vcd_err_clear(err);
	plen = t->path != NULL ? strlen(t->path) : 0;
	slash = t->path != NULL ? strrchr(t->path, '/') : NULL;
	if (slash == NULL || slash == t->path || plen < 6 ||
	    strcmp(t->path + plen - 5, ".vmdk") != 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, t->path != NULL ? t->path : "",
		    "an image's path needs a folder and a .vmdk name");
		return NULL;
	}
	if (t->size <= 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, t->id, "image %s has no data "
		    "(size %lld)", t->id, (long long)t->size);
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->s = s;
	st->t = *t;
	st->rnd = vc_rand32();
	st->cap = t->buffer > 0 ? t->buffer : IC_PIPE_DEFAULT;
	st->buf = xmalloc(st->cap);
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->sha512 = t->sha512 != NULL && t->sha512[0] != '\0' ? true :
	    !(t->md5 != NULL && t->md5[0] != '\0');
	st->md = EVP_MD_CTX_new();
	if (st->md == NULL || !ic_digest_init(st->md, st->sha512 ? "SHA512" : "MD5")) {
		/* e.g. MD5 in FIPS mode: this image fails, the agent goes on */
		vcd_err_set(err, VCD_E_INVALID, "DigestUnavailable", t->id, "image %s: "
		    "its %s checksum cannot be verified: libcrypto does not offer %s "
		    "(FIPS mode?)", t->id, st->sha512 ? "SHA-512" : "MD5",
		    st->sha512 ? "SHA-512" : "MD5");
		goto fail;
	}
	if (t->progress != NULL) {
		atomic_store(&t->progress->total, t->size);
		atomic_store(&t->progress->done, 0);
	}
	st->next_log = time(NULL) + IC_LOG_EVERY;
	if (ic_open_target(st, err) < 0)
		goto fail;
	log_info("imagecache: streaming image %s (%lld MiB, %s) into [%s] %s", t->id,
	    (long long)(t->size >> 20), st->kind == IC_FLAT ? (st->thin ? "thin" :
	    "preallocated") : st->kind == IC_SPARSE ? "sparse" : "streamOptimized",
	    t->datastore, t->path);
	if (pthread_create(&st->hash_th, NULL, ic_hash_main, st) != 0) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, t->id, "cannot start a thread");
		goto fail;
	}
	st->hash_started = true;
	if (pthread_create(&st->up_th, NULL, ic_upload_main, st) != 0) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, t->id, "cannot start a thread");
		goto fail;
	}
	st->up_started = true;
	return st;
fail:
	{
		struct vcd_err ignored;	/* ERR keeps the reason */
		(void)ic_stream_close(st, false, NULL, &ignored);
	}
	return NULL;
}

/* ---- close: check, publish, or clean up ---- */

static void
ic_hex(const unsigned char *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

struct ic_text {
	const char	*p;
	size_t		 left;
};

static ssize_t
ic_text_read(char *buf, size_t len, void *arg)
{
	struct ic_text *tx = arg;
	size_t n = tx->left < len ? tx->left : len;

	memcpy(buf, tx->p, n);
	tx->p += n;
	tx->left -= n;
	return (ssize_t)n;
}

static int
ic_publish_flat(struct ic_stream *st, struct ic_disk_info *info, struct vcd_err *err)
{
	const struct ic_target *t = &st->t;
	const char *ext = strrchr(st->data_path, '/') + 1;
	char *desc = ic_vmdk_descriptor(ext, t->size, info->adapter, st->thin, st->rnd);
	char *tmp = xasprintf("%s.part-%08x", t->path, st->rnd);
	char *tmp_ds = vcd_dspath_format(t->datastore, tmp);
	char *final_ds = vcd_dspath_format(t->datastore, t->path);
	struct ic_text tx = { desc, strlen(desc) };
	int ret = -1;

	if (vcd_ds_put(st->s, t->dc_name, t->datastore, tmp, (int64_t)tx.left,
	    ic_text_read, &tx, err) < 0)
		goto out;
	/* a text file: a plain move keeps its extent name right */
	if (vcd_ds_move(st->s, t->dc, tmp_ds, final_ds, true, err) < 0) {
		ic_remove(st->s, t->dc, tmp_ds, false);
		goto out;
	}
	snprintf(info->disk_type, sizeof(info->disk_type), "%s", st->thin ? "thin" :
	    "preallocated");
	info->capacity_kb = t->size / 1024;
	ret = 0;
out:
	free(desc);
	free(tmp);
	free(tmp_ds);
	free(final_ds);
	return ret;
}

/* A disk at SRC_DS becomes the final one: through a temporary disk name. */
static int
ic_publish_disk(struct ic_stream *st, const char *src_ds, bool copy,
    struct vcd_err *err)
{
	const struct ic_target *t = &st->t;
	char *tmp = xasprintf("%.*s-tmp-%08x.vmdk", (int)(strlen(t->path) - 5), t->path,
	    st->rnd);
	char *tmp_ds = vcd_dspath_format(t->datastore, tmp);
	char *final_ds = vcd_dspath_format(t->datastore, t->path);
	int ret = -1;

	if (copy) {
		/* no destSpec: vCenter does not take one (nova passes none) */
		if (vcd_vdisk_copy(st->s, t->dc, src_ds, tmp_ds, NULL, err) < 0) {
			ic_remove(st->s, t->dc, tmp_ds, true);
			goto out;
		}
		if (vcd_vdisk_move(st->s, t->dc, tmp_ds, final_ds, false, err) < 0) {
			ic_remove(st->s, t->dc, tmp_ds, true);
			goto out;
		}
	} else if (vcd_vdisk_move(st->s, t->dc, src_ds, final_ds, false, err) < 0)
		goto out;
	ret = 0;
out:
	free(tmp);
	free(tmp_ds);
	free(final_ds);
	return ret;
}

static int
ic_publish_import(struct ic_stream *st, struct vcd_err *err)
{
	char disk[1024], *vmdir = NULL, *slash = NULL;
	int ret = -1;

	if (vcd_nfc_complete(st->s, &st->lease, err) < 0)
		return -1;
	st->leased = false;
	if (vcd_vm_disk_path(st->s, &st->lease.vm, disk, sizeof(disk), err) < 0 ||
	    vcd_vm_unregister(st->s, &st->lease.vm, err) < 0) {
		struct vcd_err derr;
		char msg[600];
		if (vcd_vm_destroy(st->s, &st->lease.vm, &derr) < 0)
			log_warnx("imagecache: cannot remove import VM %s: %s",
			    st->lease.vm.value, vcd_strerror(&derr, msg, sizeof(msg)));
		return -1;
	}
	vmdir = xstrdup(disk);
	if ((slash = strrchr(vmdir, '/')) != NULL)
		*slash = '\0';
	if (ic_publish_disk(st, disk, false, err) < 0)
		goto out;
	ret = 0;
out:
	/* the import VM's own files (.vmx, logs); the disk has moved */
	if (slash != NULL)
		ic_remove(st->s, st->t.dc, vmdir, false);
	free(vmdir);
	return ret;
}

int
ic_stream_close(struct ic_stream *st, bool complete, struct ic_disk_info *info,
    struct vcd_err *err)
{
	const struct ic_target *t = &st->t;
	struct ic_disk_info di;
	struct ic_vmdk v;
	const char *why = NULL;
	char got[2 * EVP_MAX_MD_SIZE + 1] = "";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	bool data_written = st->up_started;
	double t0 = 0;
	int ret = -1;

	memset(&di, 0, sizeof(di));
	pthread_mutex_lock(&st->lock);
	if (complete)
		st->eof = true;
	else
		st->failed = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	if (st->up_started)
		pthread_join(st->up_th, NULL);
	if (st->hash_started)
		pthread_join(st->hash_th, NULL);
	st->up_started = st->hash_started = false;
	t0 = ic_ms(0);
	vcd_err_clear(err);
	if (st->overflow || (complete && st->produced != t->size)) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, t->id, "image %s: %s bytes came, "
		    "but the image has %lld", t->id, st->overflow ? "more" : "fewer",
		    (long long)t->size);
		goto out;
	}
	if (st->up_rc < 0) {
		*err = st->up_err;
		goto out;
	}
	if (!complete || st->produced != t->size || st->consumed != t->size ||
	    st->hashed != t->size) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, t->id, "image %s: %lld bytes "
		    "came and %lld were written, but the image has %lld", t->id,
		    (long long)st->produced, (long long)st->consumed, (long long)t->size);
		goto out;
	}
	EVP_DigestFinal_ex(st->md, md, &mdlen);
	ic_hex(md, mdlen, got);
	if (st->sha512 && t->sha512 != NULL && t->sha512[0] != '\0' &&
	    strcasecmp(got, t->sha512) != 0) {
		vcd_err_set(err, VCD_E_PROTOCOL, "ChecksumMismatch", t->id, "image %s "
		    "is corrupt: its SHA-512 is %.16s..., expected %.16s...", t->id, got,
		    t->sha512);
		goto out;
	}
	if (!st->sha512 && strcasecmp(got, t->md5) != 0) {
		vcd_err_set(err, VCD_E_PROTOCOL, "ChecksumMismatch", t->id, "image %s "
		    "is corrupt: its MD5 is %s, expected %s", t->id, got, t->md5);
		goto out;
	}
	if (st->sha512)
		snprintf(di.sha512, sizeof(di.sha512), "%s", got);

	/* the data must be what its disk type says */
	if (st->kind == IC_FLAT) {
		if (ic_vmdk_parse(st->head, st->nhead, &v, &why) == 0) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidDiskFormat", t->id, "image "
			    "%s is a sparse VMDK (%s), but its disk type says flat: set "
			    "vmware_disktype to sparse or streamOptimized", t->id,
			    v.compressed ? "compressed" : "not compressed");
			goto out;
		}
		if (t->size % 512 != 0) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidDiskFormat", t->id, "image "
			    "%s: a flat disk of %lld bytes is not a whole number of "
			    "512-byte sectors", t->id, (long long)t->size);
			goto out;
		}
		snprintf(di.adapter, sizeof(di.adapter), "%s", t->adapter != NULL &&
		    t->adapter[0] ? t->adapter : "lsiLogic");
	} else {
		if (ic_vmdk_parse(st->head, st->nhead, &v, &why) < 0) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidDiskFormat", t->id, "image "
			    "%s is said to be a %s VMDK but has %s", t->id, t->disk_type,
			    why);
			goto out;
		}
		if ((st->kind == IC_STREAMOPT) != v.compressed) {
			vcd_err_set(err, VCD_E_INVALID, "InvalidDiskFormat", t->id, "image "
			    "%s is said to be %s but its VMDK is %scompressed", t->id,
			    t->disk_type, v.compressed ? "" : "not ");
			goto out;
		}
		snprintf(di.adapter, sizeof(di.adapter), "%s", t->adapter != NULL &&
		    t->adapter[0] ? t->adapter : v.adapter[0] ? v.adapter : "lsiLogic");
		snprintf(di.disk_type, sizeof(di.disk_type), "thin");
		di.capacity_kb = (int64_t)(v.capacity_sectors / 2);
	}

	/* publish */
	if (st->kind == IC_FLAT)
		ret = ic_publish_flat(st, &di, err);
	else if (st->kind == IC_SPARSE) {
		ret = ic_publish_disk(st, st->data_ds, true, err);
		ic_remove(st->s, t->dc, st->data_ds, false);
	} else
		ret = ic_publish_import(st, err);
	if (ret == 0) {
		log_debug("imagecache: image %s: publishing %.1f ms", t->id, ic_ms(t0));
		ic_progress(st, true);
		log_info("imagecache: image %s is in [%s] %s (%s verified, %s, %s)",
		    t->id, t->datastore, t->path, st->sha512 ? "SHA-512" : "MD5",
		    di.disk_type, di.adapter);
		if (info != NULL)
			*info = di;
	}
out:
	if (ret < 0) {
		/* nothing left behind */
		if (st->leased) {
			struct vcd_err derr;
			char msg[600];
			vcd_nfc_abort(st->s, &st->lease);
			if (st->lease.vm.value[0] != '\0' &&
			    vcd_vm_destroy(st->s, &st->lease.vm, &derr) < 0)
				log_warnx("imagecache: cannot remove import VM %s: %s",
				    st->lease.vm.value, vcd_strerror(&derr, msg, sizeof(msg)));
		}
		if (data_written && st->data_ds != NULL)
			ic_remove(st->s, t->dc, st->data_ds, false);
	}
	EVP_MD_CTX_free(st->md);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	free(st->buf);
	free(st->dir_ds);
	free(st->data_path);
	free(st->data_ds);
	free(st);
	return ret;
}
