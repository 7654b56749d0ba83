/*
 * ic_fetch.c - an image from the image service into a datastore.
 *
 * The download runs in the caller's thread and writes into an ic_stream,
 * whose own threads hash and upload: the image goes from Glance to the
 * datastore without touching the agent's disk or being held in memory.
 * The stream checks the strongest checksum Glance gives: os_hash_value when
 * os_hash_algo is sha512, else the MD5 "checksum".
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "ic_int.h"
#include "log.h"
#include "xmalloc.h"

struct ic_dl {
	struct ic_stream	*st;
	bool			 stopped;	/* the stream refused data */
};

static size_t
ic_dl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ic_dl *dl = arg;

	if (ic_stream_write(dl->st, data, size * nmemb) < 0) {
		dl->stopped = true;
		return 0;	/* aborts the download */
	}
	return size * nmemb;
}

int
ic_fetch(struct vcd_session *s, const struct ic_fetch_req *r, struct vcd_err *err)
{
	const struct ic_image_meta *m = r->meta;
	const struct ic_glance *g = r->glance;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct ic_dl dl = { NULL, false };
	struct vcd_err serr;
	CURL *c = NULL;
	CURLcode rc = CURLE_FAILED_INIT;
	char *url = NULL;
	size_t bl;
	double t0, t1;
	int ret = -1;

	vcd_err_clear(err);
	if (strcmp(m->status, "active") != 0 || m->size <= 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, m->id, "image %s is %s with %lld "
		    "bytes: it cannot be fetched", m->id, m->status[0] ? m->status :
		    "in no state", (long long)m->size);
		return -1;
	}
	if (strcasecmp(m->disk_format, "vmdk") != 0) {
		vcd_err_set(err, VCD_E_INVALID, "InvalidDiskFormat", m->id, "image %s "
		    "has disk_format \"%s\": vSphere boots vmdk images", m->id,
		    m->disk_format);
		return -1;
	}
	if (g->nservers == 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, m->id, "no image service "
		    "configured (glance.api_servers)");
		return -1;
	}
	{
		struct ic_target t = {
			.id = m->id, .dc_name = r->dc_name, .dc = r->dc,
			.datastore = r->datastore, .path = r->path,
			.disk_type = m->vmware_disktype, .adapter = m->vmware_adaptertype,
			.pool = r->pool, .folder = r->folder, .size = m->size,
			.md5 = m->checksum,
			.sha512 = strcasecmp(m->hash_algo, "sha512") == 0 ?
			    m->hash_value : NULL,
			.progress = r->progress, .buffer = r->buffer,
		};
		t0 = ic_ms(0);
		if ((dl.st = ic_stream_open(s, &t, err)) == NULL)
			return -1;
		t1 = ic_ms(0);
	}
	bl = strlen(g->servers[0]);
	url = xasprintf("%.*s/v2/images/%s/file", (int)(bl > 0 &&
	    g->servers[0][bl - 1] == '/' ? bl - 1 : bl), g->servers[0], m->id);
	if ((c = curl_easy_init()) != NULL) {
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(r->stall_timeout > 0 ?
		    r->stall_timeout : 60));
		if (g->transfer_timeout > 0)
			curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)g->transfer_timeout);
		curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);	/* no error page as data */
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);	/* the maximum */
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ic_dl_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &dl);
		ic_glance_tls(c, g);
		rc = curl_easy_perform(c);
		curl_easy_cleanup(c);
	}
	log_debug("imagecache: image %s: target opened %.1f ms, download %.1f ms",
	    m->id, t1 - t0, ic_ms(t1));
	ret = ic_stream_close(dl.st, rc == CURLE_OK, r->info, &serr);
	if (ret < 0) {
		if (rc != CURLE_OK && !dl.stopped)	/* the download's reason first */
			vcd_err_set(err, VCD_E_TRANSPORT, NULL, m->id, "downloading "
			    "image %s from the image service failed: %s", m->id,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc));
		else
			*err = serr;
	}
	free(url);
	return ret;
}
