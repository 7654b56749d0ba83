/*
 * ic_int.h - imagecache internals shared between its files.
 */
#ifndef IC_INT_H
#define IC_INT_H

#include <curl/curl.h>

#include "imagecache.h"

/* TLS settings for the image service on handle C: cafile, or insecure. */
void ic_glance_tls(CURL *c, const struct ic_glance *g);

/* Milliseconds since T0 (an ic_ms(0) of before), CLOCK_MONOTONIC: for the
 * debug log's stage timings. */
double ic_ms(double t0);
/* "CACHE_FOLDER/ID/ID.vmdk", or ID.<ROOT_GB>.vmdk for a resized copy:
 * where an image lives in a datastore (unchecked: ic_image_path checks).
 * Caller frees. */
char *ic_image_relpath(const char *cache_folder, const char *image_id,
    unsigned root_gb);

/*
 * Remove DSPATH (DISK: a virtual disk with its extents, else a file or a
 * folder); already gone is fine, any other failure is logged.  For cleanup
 * paths that go on whatever happens.
 */
void ic_remove(struct vcd_session *s, const struct vcd_moref *dc, const char *dspath,
    bool disk);

#endif
