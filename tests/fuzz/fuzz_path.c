/*
 * fuzz_path.c - libFuzzer harness: the path of an operator request, as the
 * HTTP server routes it (agent/httpd.c, httpd_image_path()) and checks the
 * image id in it (ic_image_id_check()) before an upload or a prefetch.
 *
 * Input: the path as libmicrohttpd hands it over (decoded, up to its first
 * NUL).  Besides memory errors it checks what the route promises: the id
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
	char *url = strndup((const char *)data, size), *id = NULL, *path = NULL,
	    want[256];
	const char *idp;
	size_t idlen, ul;
	enum httpd_image_route route;

	if (url == NULL)
		return 0;
	ul = strlen(url);
	route = httpd_image_path(url, &idp, &idlen);
	if (route == HTTPD_IMAGE_NONE) {
		if (idp != NULL || strncmp(url, "/v1/images/", 11) == 0)
			abort();
		goto out;
	}
	if (idp != url + 11 || idlen > ul - 11)
		abort();	/* the id is not within the path */
	if (route == HTTPD_IMAGE_PREFETCH ? strcmp(idp + idlen, "/prefetch") != 0 :
	    idp[idlen] != '\0')
		abort();	/* the id does not end where the route says */
	if ((id = strndup(idp, idlen)) == NULL || ic_image_id_check(id) < 0)
		goto out;
	/* accepted: one path component, neither "." nor "..", nor hidden */
	if (idlen == 0 || idlen > 64 || strlen(id) != idlen || id[0] == '.' ||
	    strpbrk(id, "/\\ %?#[]\"'") != NULL)
		abort();
	snprintf(want, sizeof(want), "[LocalDS_0] _base/%s/%s.vmdk", id, id);
	if ((path = ic_image_path("LocalDS_0", "_base", id, 0)) == NULL ||
	    strcmp(path, want) != 0)
		abort();
out:
	free(path);
	free(id);
	free(url);
	return 0;
}
