/*
 * imagecache.h - the datastore VMDK image cache.
 *
 * Layout, as nova's VMware driver lays it out:
 *   [datastore] <cache_prefix><subdirectory_name>/<image_id>/<image_id>.vmdk
 * and a copy resized to a flavor's root disk:
 *   [datastore] <cache_prefix><subdirectory_name>/<image_id>/<image_id>.<root_gb>.vmdk
 *
 * Ownership: functions returning char * return a string the caller frees.
 */
#ifndef IMAGECACHE_H
#define IMAGECACHE_H

/*
 * 0 if ID is acceptable as an image id: 1 to 64 characters of [A-Za-z0-9._-],
 * not starting with '.', so it can never be read as a path.  -1 otherwise.
 */
int ic_image_id_check(const char *id);

/* "<cache_prefix><subdirectory_name>"; PREFIX may be NULL.  Caller frees. */
char *ic_cache_folder(const char *cache_prefix, const char *subdirectory_name);

/*
 * The datastore path of an image's cached disk; ROOT_GB 0 for the original,
 * otherwise the copy resized to that size.  NULL if the id or a name is not
 * acceptable.  Caller frees.
 */
char *ic_image_path(const char *datastore, const char *cache_folder,
    const char *image_id, unsigned root_gb);

#endif
