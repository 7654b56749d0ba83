/*
 * ic_fetch.c - an image from the image service into a datastore, streamed.
 *
 * Three threads and a bounded ring: one downloads the image's data from
 * Glance, one hashes it and one uploads it to the datastore over vCenter's HTTP file
 * interface.  Memory stays at the pipe's size whatever the image's; nothing
 * touches the agent's disk.
 *
 * One checksum is verified, the strongest Glance gives: its os_hash_value
 * when os_hash_algo is sha512, else its MD5 "checksum".  Hashing twice would
 * cost a third of the throughput on a small machine for no extra safety.
 *
 * The data is written under a temporary name next to its final place and
 * published by a move once its length and checksums are right, so a
 * half-written or corrupt image is never found under the final name.  Any
 * failure (short read, checksum mismatch, a failed PUT or move) removes the
 * temporary file: nothing is left behind.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "ic_int.h"
#include "log.h"
#include "vcdriver/vcd_dspath.h"
#include "xmalloc.h"

#define IC_PIPE_DEFAULT	(4 * 1024 * 1024)

/*
 * The ring is addressed by absolute offsets: the download writes at
 * PRODUCED, the upload reads at CONSUMED and the hasher at HASHED; byte N
 * lives at buf[N % cap].  The download waits only while the slower reader
 * is a whole ring behind.
 */
struct ic_pipe {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	char		*buf;
	size_t		 cap;
	bool		 eof;			/* the download finished */
	bool		 failed;		/* a side gave up */
	int64_t		 produced, consumed, hashed;

	/* the download side */
	const struct ic_fetch_req *req;
	char		*url;
	EVP_MD_CTX	*md5, *sha512;
	struct vcd_err	 derr;			/* its error */
	unsigned char	 head[64 * 1024];	/* the first bytes, for the header */
	size_t		 nhead;
	long		 status;
	time_t		 next_log;
};

/* ---- the download side ---- */

static int64_t
ic_pipe_slowest(const struct ic_pipe *p)
{
	return p->consumed < p->hashed ? p->consumed : p->hashed;
}

static size_t
ic_pipe_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ic_pipe *p = arg;
	size_t n = size * nmemb, done = 0;

	if (p->nhead < sizeof(p->head)) {
		size_t k = sizeof(p->head) - p->nhead < n ? sizeof(p->head) - p->nhead : n;
		memcpy(p->head + p->nhead, data, k);
		p->nhead += k;
	}
	pthread_mutex_lock(&p->lock);
	while (done < n) {
		size_t at, chunk;

		while (p->produced - ic_pipe_slowest(p) == (int64_t)p->cap && !p->failed)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->failed)
			break;
		at = (size_t)(p->produced % (int64_t)p->cap);
		chunk = p->cap - (size_t)(p->produced - ic_pipe_slowest(p));
		if (chunk > p->cap - at)
			chunk = p->cap - at;
		if (chunk > n - done)
			chunk = n - done;
		/* the readers never touch bytes past PRODUCED: copy unlocked */
		pthread_mutex_unlock(&p->lock);
		memcpy(p->buf + at, data + done, chunk);
		pthread_mutex_lock(&p->lock);
		done += chunk;
		p->produced += (int64_t)chunk;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return done == n ? n : 0;	/* 0 aborts the download */
}

/* The hasher: follows the download through the ring on its own core. */
static void *
ic_hash(void *arg)
{
	struct ic_pipe *p = arg;
	EVP_MD_CTX *ctx = p->sha512 != NULL ? p->sha512 : p->md5;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		size_t at, n;

		while (p->hashed == p->produced && !p->eof && !p->failed)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->failed || p->hashed == p->produced)
			break;
		at = (size_t)(p->hashed % (int64_t)p->cap);
		n = (size_t)(p->produced - p->hashed);
		if (n > p->cap - at)
			n = p->cap - at;
		pthread_mutex_unlock(&p->lock);
		EVP_DigestUpdate(ctx, p->buf + at, n);
		pthread_mutex_lock(&p->lock);
		p->hashed += (int64_t)n;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void *
ic_download(void *arg)
{
	struct ic_pipe *p = arg;
	const struct ic_glance *g = p->req->glance;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;
	long status = 0;

	if (c != NULL) {
		curl_easy_setopt(c, CURLOPT_URL, p->url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(p->req->stall_timeout > 0 ?
		    p->req->stall_timeout : 60));
		curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);	/* no error page as data */
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);	/* the maximum */
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ic_pipe_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
		ic_glance_tls(c, g);
		rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
	}
	pthread_mutex_lock(&p->lock);
	if (rc == CURLE_OK) {
		p->eof = true;
	} else {
		if (!p->failed)	/* not the upload side that stopped us */
			vcd_err_set(&p->derr, VCD_E_TRANSPORT, NULL, p->req->meta->id,
			    "downloading image %s from the image service failed: %s",
			    p->req->meta->id, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		p->failed = true;
	}
	p->status = status;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the upload side ---- */

static void
ic_progress_log(struct ic_pipe *p, bool last)
{
	const struct ic_fetch_req *r = p->req;
	time_t now = time(NULL);

	if (r->progress != NULL)
		atomic_store(&r->progress->done, p->consumed);
	if (!last && now < p->next_log)
		return;
	p->next_log = now + 10;
	log_info("imagecache: image %s -> [%s] %s: %lld of %lld MiB (%d%%)",
	    r->meta->id, r->datastore, r->path, (long long)(p->consumed >> 20),
	    (long long)(r->meta->size >> 20), r->meta->size > 0 ?
	    (int)(100 * p->consumed / r->meta->size) : 100);
}

static ssize_t
ic_pipe_read(char *buf, size_t len, void *arg)
{
	struct ic_pipe *p = arg;
	size_t at, n;

	pthread_mutex_lock(&p->lock);
	while (p->consumed == p->produced && !p->eof && !p->failed)
		pthread_cond_wait(&p->cond, &p->lock);
	if (p->failed || (p->consumed == p->produced && p->produced != p->req->meta->size)) {
		/* the download failed, or ended short of the image's size */
		if (!p->failed && p->derr.code == VCD_OK)
			vcd_err_set(&p->derr, VCD_E_PROTOCOL, NULL, p->req->meta->id,
			    "image %s: the image service sent %lld of %lld bytes",
			    p->req->meta->id, (long long)p->produced,
			    (long long)p->req->meta->size);
		p->failed = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		return -1;
	}
	at = (size_t)(p->consumed % (int64_t)p->cap);
	n = (size_t)(p->produced - p->consumed);
	if (n > len)
		n = len;
	if (n > p->cap - at)
		n = p->cap - at;
	pthread_mutex_unlock(&p->lock);
	memcpy(buf, p->buf + at, n);
	pthread_mutex_lock(&p->lock);
	p->consumed += (int64_t)n;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	ic_progress_log(p, false);
	return (ssize_t)n;
}

static void
ic_hex(const unsigned char *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Remove a temporary file; a failure is logged, not fatal. */
static void
ic_remove(struct vcd_session *s, const struct vcd_moref *dc, const char *dspath)
{
	struct vcd_err err;
	char msg[800];

	if (vcd_ds_delete(s, dc, dspath, &err) < 0 && err.code != VCD_E_NOTFOUND &&
	    strcmp(err.fault, "FileNotFound") != 0)
		log_warnx("imagecache: cannot remove %s: %s", dspath,
		    vcd_strerror(&err, msg, sizeof(msg)));
}

int
ic_fetch(struct vcd_session *s, const struct ic_fetch_req *r, struct vcd_err *err)
{
	struct ic_pipe p;
	pthread_t th, hth;
	bool started = false, hashing = false, uploaded = false;
	char *dir = NULL, *tmp = NULL, *tmp_ds = NULL, *final_ds = NULL, *dir_ds = NULL;
	char got[2 * EVP_MAX_MD_SIZE + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, rnd = 0;
	const char *slash, *base;
	size_t bl;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	vcd_err_clear(err);
	if (strcmp(r->meta->status, "active") != 0 || r->meta->size <= 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, r->meta->id, "image %s is %s "
		    "with %lld bytes: it cannot be fetched", r->meta->id,
		    r->meta->status[0] ? r->meta->status : "in no state",
		    (long long)r->meta->size);
		return -1;
	}
	if ((slash = strrchr(r->path, '/')) == NULL) {
		vcd_err_set(err, VCD_E_INVALID, NULL, r->path, "an image's path needs "
		    "a folder");
		return -1;
	}
	if (r->glance->nservers == 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, r->meta->id, "no image service "
		    "configured (glance.api_servers)");
		return -1;
	}
	(void)getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
	dir = xstrndup(r->path, (size_t)(slash - r->path));
	tmp = xasprintf("%s.part-%08x", r->path, rnd);
	dir_ds = vcd_dspath_format(r->datastore, dir);
	tmp_ds = vcd_dspath_format(r->datastore, tmp);
	final_ds = vcd_dspath_format(r->datastore, r->path);
	base = r->glance->servers[0];
	bl = strlen(base);
	p.url = xasprintf("%.*s/v2/images/%s/file", (int)(bl > 0 && base[bl - 1] == '/' ?
	    bl - 1 : bl), base, r->meta->id);
	p.req = r;
	p.cap = r->buffer > 0 ? r->buffer : IC_PIPE_DEFAULT;
	p.buf = xmalloc(p.cap);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	p.md5 = EVP_MD_CTX_new();
	if (p.md5 == NULL || !EVP_DigestInit_ex(p.md5, EVP_md5(), NULL))
		fatalx("imagecache: MD5 is not available from libcrypto");
	if (strcasecmp(r->meta->hash_algo, "sha512") == 0) {
		p.sha512 = EVP_MD_CTX_new();
		if (p.sha512 == NULL || !EVP_DigestInit_ex(p.sha512, EVP_sha512(), NULL))
			fatalx("imagecache: SHA-512 is not available from libcrypto");
	}
	if (r->progress != NULL) {
		atomic_store(&r->progress->total, r->meta->size);
		atomic_store(&r->progress->done, 0);
	}

	if (vcd_ds_mkdir(s, r->dc, dir_ds, err) < 0)
		goto out;
	log_info("imagecache: fetching image %s (%lld MiB) into %s", r->meta->id,
	    (long long)(r->meta->size >> 20), final_ds);
	if (pthread_create(&hth, NULL, ic_hash, &p) != 0) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, r->meta->id, "cannot start "
		    "the hashing thread");
		goto out;
	}
	hashing = true;
	if (pthread_create(&th, NULL, ic_download, &p) != 0) {
		vcd_err_set(err, VCD_E_TRANSPORT, NULL, r->meta->id, "cannot start "
		    "the download thread");
		goto out;
	}
	started = true;
	if (vcd_ds_put(s, r->dc_name, r->datastore, tmp, r->meta->size, ic_pipe_read,
	    &p, err) < 0) {
		pthread_mutex_lock(&p.lock);
		p.failed = true;			/* stop the download */
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
		pthread_join(th, NULL);
		started = false;
		if (p.derr.code != VCD_OK)
			*err = p.derr;		/* the download's reason comes first */
		uploaded = true;		/* something may be there: remove it */
		goto out;
	}
	uploaded = true;
	pthread_join(th, NULL);
	started = false;
	pthread_join(hth, NULL);
	hashing = false;
	if (p.derr.code != VCD_OK) {
		*err = p.derr;
		goto out;
	}
	if (p.produced != r->meta->size || p.consumed != r->meta->size ||
	    p.hashed != r->meta->size) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, r->meta->id, "image %s: %lld "
		    "bytes read and %lld written, but the image has %lld",
		    r->meta->id, (long long)p.produced, (long long)p.consumed,
		    (long long)r->meta->size);
		goto out;
	}
	if (p.sha512 != NULL) {
		EVP_DigestFinal_ex(p.sha512, md, &mdlen);
		ic_hex(md, mdlen, got);
		if (strcasecmp(got, r->meta->hash_value) != 0) {
			vcd_err_set(err, VCD_E_PROTOCOL, "ChecksumMismatch", r->meta->id,
			    "image %s is corrupt: its SHA-512 is %.16s..., the image "
			    "service says %.16s...", r->meta->id, got, r->meta->hash_value);
			goto out;
		}
	} else if (r->meta->checksum[0] != '\0') {
		EVP_DigestFinal_ex(p.md5, md, &mdlen);
		ic_hex(md, mdlen, got);
	}
	if (p.sha512 == NULL && r->meta->checksum[0] != '\0' &&
	    strcasecmp(got, r->meta->checksum) != 0) {
		vcd_err_set(err, VCD_E_PROTOCOL, "ChecksumMismatch", r->meta->id,
		    "image %s is corrupt: its MD5 is %s, the image service says %s",
		    r->meta->id, got, r->meta->checksum);
		goto out;
	}
	if (strcasecmp(r->meta->vmware_disktype, "sparse") == 0 ||
	    strcasecmp(r->meta->vmware_disktype, "streamOptimized") == 0) {
		struct ic_vmdk v;
		const char *why = NULL;

		if (ic_vmdk_parse(p.head, p.nhead, &v, &why) < 0) {
			vcd_err_set(err, VCD_E_PROTOCOL, "InvalidDiskFormat", r->meta->id,
			    "image %s is said to be a %s VMDK but has %s", r->meta->id,
			    r->meta->vmware_disktype, why);
			goto out;
		}
		if (r->vmdk != NULL)
			*r->vmdk = v;
	}
	/* publish: only now does the final name exist */
	if (vcd_ds_move(s, r->dc, tmp_ds, final_ds, true, err) < 0)
		goto out;
	ic_progress_log(&p, true);
	log_info("imagecache: image %s is in %s (%s verified)", r->meta->id,
	    final_ds, p.sha512 != NULL ? "SHA-512" : "MD5");
	uploaded = false;
	ret = 0;
out:
	if (started || hashing) {
		pthread_mutex_lock(&p.lock);
		p.failed = true;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
		if (started)
			pthread_join(th, NULL);
		if (hashing)
			pthread_join(hth, NULL);
	}
	if (ret < 0 && uploaded)
		ic_remove(s, r->dc, tmp_ds);
	if (p.md5 != NULL)
		EVP_MD_CTX_free(p.md5);
	if (p.sha512 != NULL)
		EVP_MD_CTX_free(p.sha512);
	if (p.buf != NULL) {
		pthread_mutex_destroy(&p.lock);
		pthread_cond_destroy(&p.cond);
	}
	free(p.buf);
	free(p.url);
	free(dir);
	free(tmp);
	free(dir_ds);
	free(tmp_ds);
	free(final_ds);
	return ret;
}
