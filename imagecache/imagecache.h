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

#include <stdatomic.h>
#include <stdbool.h>
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

/* ---- VMDK headers (ic_vmdk.c) ---- */

struct ic_vmdk {
	uint32_t	version;
	uint64_t	capacity_sectors;
	uint64_t	grain_sectors;
	bool		compressed;		/* streamOptimized grains */
	char		create_type[32];	/* from the descriptor, if within HEAD */
	char		adapter[32];		/* ddb.adapterType as vSphere names it */
};

/*
 * Parse the sparse header at the start of a VMDK (LEN bytes of it; the
 * embedded descriptor is read when it lies within them).  0, or -1 with a
 * reason (static string) in *WHY: too short, no "KDMV" magic, an unknown
 * version, an impossible capacity or grain size.
 */
int ic_vmdk_parse(const unsigned char *head, size_t len, struct ic_vmdk *out,
    const char **why);

/* ---- fetching into a datastore (ic_fetch.c) ---- */

/* Progress of a transfer, readable from other threads (metrics, status). */
struct ic_progress {
	_Atomic int64_t	done;		/* bytes written to the datastore */
	_Atomic int64_t	total;
};

/* What to fetch where.  Borrowed pointers. */
struct ic_fetch_req {
	const struct ic_glance		*glance;
	const struct ic_image_meta	*meta;		/* from ic_glance_meta() */
	const char			*dc_name;	/* the datacenter's name */
	const struct vcd_moref		*dc;		/* and reference */
	const char			*datastore;
	const char			*path;		/* final, e.g. "_base/ID/ID.vmdk" */
	struct ic_progress		*progress;	/* may be NULL */
	size_t				 buffer;	/* pipe bytes; 0: 4 MiB */
	int				 stall_timeout;	/* s without data; 0: 60 */
	struct ic_vmdk			*vmdk;		/* out: the header of a sparse
							 * image; may be NULL */
};

/*
 * Stream the image's data from the image service to PATH on the datastore:
 * written under a temporary name in PATH's folder, checked (length, MD5,
 * SHA-512 when the service gives it) while streaming, then moved to PATH.
 * An image Glance calls sparse or streamOptimized must start with a valid
 * VMDK header.  Memory use is the pipe's size.  On any failure nothing is
 * left on the
 * datastore and ERR names the image and the cause (fault ChecksumMismatch
 * for a corrupt image).
 */
int ic_fetch(struct vcd_session *s, const struct ic_fetch_req *r,
    struct vcd_err *err);

/* ---- an instance's root disk (ic_disk.c) ---- */

struct vim_arena;
struct vim_list_VirtualDeviceConfigSpec;

/*
 * Device specs, in arena A, appended to DEVICES, for an instance's root disk
 * of CAPACITY_KB on the controller ADAPTER asks for (lsiLogic - the default -
 * lsiLogicsas, busLogic, paraVirtual: a new SCSI controller; ide: the VM's
 * first IDE controller).  LINKED: a new delta disk in the VM's folder whose
 * parent is CACHED_DSPATH (the cache is never written); otherwise the disk is
 * COPY_DSPATH, a full copy made beforehand.  0, or -1 with ERR for an unknown
 * adapter type.
 */
int ic_root_disk_specs(struct vim_arena *a, const char *cached_dspath,
    const char *adapter, int64_t capacity_kb, bool linked, const char *copy_dspath,
    struct vim_list_VirtualDeviceConfigSpec *devices, struct vcd_err *err);

/* ---- the cache: one download per image, whoever asks (ic_cache.c) ---- */

struct ic_cache;

struct ic_cache_stats {
	unsigned long	downloads;	/* images fetched by this agent */
	unsigned long	hits;		/* found in the cache */
	unsigned long	misses;		/* not there: this agent fetched or waited
					 * for another agent */
	unsigned long	waits;		/* waited for this agent's own download */
	int64_t		bytes;		/* downloaded */
};

/*
 * A cache on the datastores of session S, in folder CACHE_FOLDER
 * (<cache_prefix><subdirectory_name>), coordinating with other agents
 * through PostgreSQL at PG_CONNINFO (copied; never logged).  Caller frees
 * with ic_cache_free(); borrowed: S and G's strings.
 */
struct ic_cache *ic_cache_new(struct vcd_session *s, const struct ic_glance *g,
    const char *cache_folder, const char *pg_conninfo);
void ic_cache_free(struct ic_cache *c);
void ic_cache_stats(struct ic_cache *c, struct ic_cache_stats *out);

/*
 * Make sure image ID is in DATASTORE's cache (datacenter DC_NAME / DC);
 * *DSPATH gets its "[datastore] folder/ID/ID.vmdk" (caller frees).  In this
 * agent, concurrent callers wait for one download; across agents, the
 * fetching one holds a PostgreSQL advisory lock on the path.  0, or -1 with
 * ERR (an invalid id, an image the service does not have, a corrupt image,
 * PostgreSQL unreachable: fault DatabaseUnavailable).
 */
int ic_cache_ensure(struct ic_cache *c, const char *id, const char *dc_name,
    const struct vcd_moref *dc, const char *datastore, char **dspath,
    struct vcd_err *err);

#endif
