/*
 * ic_path.c - where cached images live on a datastore.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ic_int.h"
#include "imagecache.h"
#include "vcdriver/vcd_dspath.h"
#include "xmalloc.h"

int
ic_image_id_check(const char *id)
{
	size_t n;

	if (id == NULL || (n = strlen(id)) == 0 || n > 64 || id[0] == '.')
		return -1;
	if (strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != n)
		return -1;
	return 0;
}

char *
ic_cache_folder(const char *cache_prefix, const char *subdirectory_name)
{
	return xasprintf("%s%s", cache_prefix ? cache_prefix : "",
	    subdirectory_name);
}

char *
ic_image_relpath(const char *cache_folder, const char *image_id, unsigned root_gb)
{
	if (root_gb == 0)
		return xasprintf("%s/%s/%s.vmdk", cache_folder, image_id, image_id);
	return xasprintf("%s/%s/%s.%u.vmdk", cache_folder, image_id, image_id, root_gb);
}

char *
ic_image_path(const char *datastore, const char *cache_folder,
    const char *image_id, unsigned root_gb)
{
	char *rel, *path;

	if (ic_image_id_check(image_id) < 0 ||
	    vcd_dspath_check_name(cache_folder) < 0 ||
	    vcd_dspath_check_name(datastore) < 0)
		return NULL;
	rel = ic_image_relpath(cache_folder, image_id, root_gb);
	path = vcd_dspath_format(datastore, rel);
	free(rel);
	return path;
}
