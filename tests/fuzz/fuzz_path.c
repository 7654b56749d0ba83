/*
 * fuzz_path.c - libFuzzer harness: the path of an operator request, as the
 * HTTP server unescapes it (httpd_unescape()), routes it and checks the
 * image id in it (httpd_parse_path(), ic_image_id_check()) before an
 * upload or a prefetch.
 *
 * Input: the raw path (up to its first NUL).  Besides memory errors it
 * checks what the parser promises: unescaping never makes a NUL, the id
 * lies within the path, and an id that is accepted is one safe path
 * component that makes the cache path "[ds] _base/ID/ID.vmdk".
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/httpd.h"
#include "imagecache/imagecache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = strndup((const char *)data, size), *path = NULL, want[256];
	struct httpd_path p;
	size_t ul;

	if (url == NULL)
		return 0;
	if ((ul = httpd_unescape(url)) != strlen(url))
		abort();	/* "%00" made a NUL that cuts the path short */
	httpd_parse_path(url, &p);
	if (p.kind == HTTPD_PATH_ROUTE) {
		if (strncmp(url, "/v1/images/", 11) == 0 || p.id_ok)
			abort();
		goto out;
	}
	if (strncmp(url, "/v1/images/", 11) != 0 || p.idlen > ul - 11)
		abort();	/* the id is not within the path */
	if (p.kind == HTTPD_PATH_PREFETCH ? strcmp(url + 11 + p.idlen, "/prefetch") != 0 :
	    url[11 + p.idlen] != '\0')
		abort();	/* the id does not end where the route says */
	if (!p.id_ok)
		goto out;
	/* accepted: one path component, neither "." nor "..", nor hidden */
	if (p.idlen == 0 || p.idlen > HTTPD_ID_MAX || strlen(p.id) != p.idlen ||
	    memcmp(p.id, url + 11, p.idlen) != 0 || p.id[0] == '.' ||
	    strpbrk(p.id, "/\\ %?#[]\"'") != NULL)
		abort();
	snprintf(want, sizeof(want), "[LocalDS_0] _base/%s/%s.vmdk", p.id, p.id);
	if ((path = ic_image_path("LocalDS_0", "_base", p.id, 0)) == NULL ||
	    strcmp(path, want) != 0)
		abort();
out:
	free(path);
	free(url);
	return 0;
}
