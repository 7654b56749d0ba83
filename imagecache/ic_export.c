/*
 * ic_export.c - a VM's disk out through an export lease and into the image
 * service at once: the export's GET writes into a pipe on a thread of its
 * own while the image service's PUT reads from it, so the disk is never
 * whole on local disk or in memory.  The lease gets a progress report
 * every 5 s while the data comes, and is completed at the end or aborted.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ic_int.h"
#include "log.h"

#define IC_EXPORT_LOG_EVERY	10.0	/* s between progress lines */

/* The export, on a thread of its own, writing into a pipe. */
struct ic_export {
	struct vcd_session	*s;
	struct vcd_nfc_lease	*l;
	int			 fd;		/* the pipe's write end (owned) */
	int64_t			 total;		/* the disk's size, for percents */
	_Atomic int64_t		 done;
	double			 first;		/* when the first byte came */
	double			 next_log;	/* when the next progress line is due */
	const char		*id;
	struct ic_progress	*progress;	/* may be NULL */
	struct vcd_err		 err;
	int			 rc;
};

static ssize_t
ic_export_write(char *buf, size_t len, void *arg)
{
	struct ic_export *x = arg;
	size_t off = 0;

	if (x->done == 0 && x->first == 0)
		x->first = vcd_mono();
	while (off < len) {
		ssize_t n = write(x->fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;	/* the upload stopped reading */
		off += (size_t)n;
	}
	x->done += (int64_t)len;
	if (x->progress != NULL)
		atomic_store(&x->progress->done, x->done);
	if (vcd_mono() >= x->next_log) {
		x->next_log = vcd_mono() + IC_EXPORT_LOG_EVERY;
		log_info("imagecache: export into image %s: %lld MiB sent, %d%% of the "
		    "disk's %lld MiB", x->id, (long long)(x->done >> 20), x->total > 0 ?
		    (int)(100 * x->done / x->total) : 0, (long long)(x->total >> 20));
	}
	return (ssize_t)len;
}

static void *
ic_export_main(void *arg)
{
	struct ic_export *x = arg;

	x->rc = vcd_nfc_get(x->s, x->l, x->total, ic_export_write, x, &x->err);
	close(x->fd);	/* the upload's end of data */
	x->fd = -1;
	return NULL;
}

static ssize_t
ic_export_read(char *buf, size_t len, void *arg)
{
	int fd = *(int *)arg;
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

int
ic_export_to_glance(struct vcd_session *s, const struct ic_glance *g,
    const struct vcd_moref *vm, const char *id, int64_t total,
    struct ic_export_stats *st, struct vcd_err *err)
{
	struct vcd_nfc_lease l;
	struct ic_export x;
	pthread_t t;
	int p[2] = { -1, -1 }, ret = -1;
	bool started = false;

	struct ic_progress *prog = st->progress;

	memset(st, 0, sizeof(*st));
	st->progress = prog;
	if (prog != NULL) {
		atomic_store(&prog->total, total);
		atomic_store(&prog->done, 0);
	}
	if (vcd_nfc_export(s, vm, &l, err) < 0)
		return -1;
	memset(&x, 0, sizeof(x));
	x.s = s, x.l = &l, x.total = total, x.id = id, x.progress = prog;
	x.next_log = vcd_mono() + IC_EXPORT_LOG_EVERY;
	vcd_err_clear(&x.err);
	if (pipe(p) < 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, id, "cannot make a pipe: %s",
		    strerror(errno));
		goto fail;
	}
	(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	x.fd = p[1];
	if (pthread_create(&t, NULL, ic_export_main, &x) != 0) {
		vcd_err_set(err, VCD_E_INVALID, NULL, id, "cannot start a thread");
		goto fail;
	}
	started = true;
	p[1] = -1;	/* the thread's now */
	if (ic_glance_upload(g, id, ic_export_read, &p[0], err) < 0) {
		close(p[0]);	/* the export's writes fail: it stops */
		p[0] = -1;
		pthread_join(t, NULL);
		started = false;
		goto fail;
	}
	pthread_join(t, NULL);
	started = false;
	if (x.rc < 0) {
		*err = x.err;
		goto fail;
	}
	if (vcd_nfc_complete(s, &l, err) < 0)
		goto out;
	st->bytes = x.done;
	st->first = x.first;
	st->end = vcd_mono();
	log_info("imagecache: export into image %s: %lld MiB sent, done", id,
	    (long long)(x.done >> 20));
	ret = 0;
	goto out;
fail:
	if (started) {
		close(p[0]);
		p[0] = -1;
		pthread_join(t, NULL);
	}
	vcd_nfc_abort(s, &l);
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return ret;
}

