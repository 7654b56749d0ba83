/*
 * ic_int.h - imagecache internals shared between its files.
 */
#ifndef IC_INT_H
#define IC_INT_H

#include <curl/curl.h>

#include "imagecache.h"

/* TLS settings for the image service on handle C: cafile, or insecure. */
void ic_glance_tls(CURL *c, const struct ic_glance *g);

#endif
