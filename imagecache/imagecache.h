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

#include <stdint.h>
#include <stddef.h>

#include "vcdriver/vcdriver.h"

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

/* ---- the image service (ic_glance.c) ---- */

/* Where images come from: nova's [glance] options.  Borrowed strings. */
struct ic_glance {
	const char *const	*servers;	/* api_servers, tried in turn */
	size_t			 nservers;
	int			 num_retries;	/* per server, on transport errors / 5xx */
	const char		*cafile;
	int			 insecure;
};

struct ic_image_meta {
	char	id[65];
	char	name[256];
	char	status[16];		/* queued, active, ... */
	int64_t	size;			/* bytes; -1 unknown */
	char	checksum[33];		/* MD5 hex */
	char	hash_algo[16];		/* os_hash_algo, e.g. sha512 */
	char	hash_value[129];	/* os_hash_value hex */
	char	disk_format[16];	/* vmdk, raw, ... */
	char	container_format[16];	/* bare, ova, ... */
	char	vmware_disktype[32];	/* sparse, preallocated, streamOptimized, thin */
	char	vmware_adaptertype[32];	/* lsiLogic, busLogic, ide, paraVirtual, ... */
	char	vmware_ostype[64];	/* a guest id */
	char	hypervisor_type[32];
	int	linked_clone;		/* img_linked_clone: 1, 0, or -1 unset */
};

/*
 * Image ID's metadata.  0, or -1 with ERR: VCD_E_INVALID for an id that is
 * not one, VCD_E_NOTFOUND (fault "ImageNotFound") when the service does not
 * know it, VCD_E_TRANSPORT when no server answers.
 */
int ic_glance_meta(const struct ic_glance *g, const char *id,
    struct ic_image_meta *m, struct vcd_err *err);

#endif
