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
	int			 transfer_timeout;	/* s for one image's whole
						 * download (vmware.
						 * image_transfer_timeout_secs);
						 * 0: no limit */
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

/* ---- images into the image service (ic_gwrite.c) ---- */

struct json_t;

/*
 * Create image ID, queued, from PROPS (a JSON object: name, disk_format,
 * container_format and properties; "id" is set in it).  0, 1 when it
 * exists already, or -1 with ERR.
 */
int ic_glance_create(const struct ic_glance *g, const char *id, struct json_t *props,
    struct vcd_err *err);
/* Stream image ID's data from READ (chunked; 0 ends it, -1 fails it). */
int ic_glance_upload(const struct ic_glance *g, const char *id, vcd_ds_data_fn read,
    void *arg, struct vcd_err *err);
/* Delete image ID (one that is gone already: 0). */
int ic_glance_delete(const struct ic_glance *g, const char *id, struct vcd_err *err);

/* ---- a VM's disk into the image service (ic_export.c) ---- */

struct ic_export_stats {
	int64_t	bytes;		/* streamOptimized bytes sent */
	double	first, end;	/* monotonic s: the first byte, the end */
	struct ic_progress *progress;	/* in: may be NULL; its done and total
					 * follow the export (total the disk's
					 * size, done the compressed bytes) */
};

/*
 * Export VM's first disk (VM powered off; TOTAL its size in bytes, for the
 * lease's progress) through an export lease into image ID, which the
 * caller has created: the GET and the PUT at once, joined by a pipe.  0
 * with ST, or -1 with ERR (the lease aborted).  A line of progress is
 * logged every 10 s (bytes, and percent of the disk's size).
 */
int ic_export_to_glance(struct vcd_session *s, const struct ic_glance *g,
    const struct vcd_moref *vm, const char *id, int64_t total,
    struct ic_export_stats *st, struct vcd_err *err);

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

/*
 * The text descriptor of a flat disk whose data is the file EXTENT (a name
 * in the same folder) of BYTES (a multiple of 512), for vSphere adapter
 * ADAPTER (ide and busLogic as such, the SCSI rest as lsilogic), with
 * content id CID.  Caller frees.
 */
char *ic_vmdk_descriptor(const char *extent, int64_t bytes, const char *adapter,
    bool thin, uint32_t cid);

/* ---- streaming an image into a datastore (ic_stream.c) ---- */

/* Progress of a transfer, readable from other threads (metrics, status). */
struct ic_progress {
	_Atomic int64_t	done;		/* bytes written to the datastore */
	_Atomic int64_t	total;
};

/* Where an image's data goes and what it must be.  Borrowed pointers. */
struct ic_target {
	const char		*id;		/* the image's id, for messages */
	const char		*dc_name;	/* the datacenter's name */
	const struct vcd_moref	*dc;		/* and reference */
	const char		*datastore;
	const char		*path;		/* final: "<folder>/ID/ID.vmdk" */
	const char		*disk_type;	/* vmware_disktype: preallocated
						 * (also NULL or ""), thin, sparse,
						 * streamOptimized */
	const char		*adapter;	/* NULL or "": the VMDK's own, else
						 * lsiLogic */
	const struct vcd_moref	*pool;		/* streamOptimized: where the import */
	const struct vcd_moref	*folder;	/* VM goes (cluster placement) */
	int64_t			 size;		/* bytes that will come */
	const char		*md5;		/* expected hex; NULL or "" unknown */
	const char		*sha512;	/* expected hex; NULL or "" unknown */
	struct ic_progress	*progress;	/* may be NULL */
	size_t			 buffer;	/* pipe bytes; 0: 4 MiB */
};

/* What was published. */
struct ic_disk_info {
	char	disk_type[32];		/* of the cached disk: preallocated, thin */
	char	adapter[32];		/* vSphere's name: lsiLogic, ide, ... */
	int64_t	capacity_kb;		/* the disk's size as a guest sees it */
	char	sha512[129];		/* of the data, hex ("" if MD5 was used) */
};

struct ic_stream;

/*
 * Open a stream of T->size bytes to T->path on the datastore.  The data is
 * hashed and uploaded by two threads of the stream's own while the caller
 * writes it in; memory use is the pipe's size whatever the image's.  By
 * disk type:
 *   preallocated, thin   the data is the flat extent: "ID-flat.vmdk", then
 *                        a descriptor is written and moved to ID.vmdk;
 *   sparse               uploaded whole, then converted with
 *                        CopyVirtualDisk_Task into a disk vSphere can use;
 *   streamOptimized      imported through ImportVApp and its NFC lease (kept
 *                        alive with progress reports), then the disk is
 *                        moved out of the import VM, which is unregistered.
 * T's pointers are borrowed until ic_stream_close().  Returns a stream
 * (closed only by ic_stream_close) or NULL with ERR.
 */
struct ic_stream *ic_stream_open(struct vcd_session *s, const struct ic_target *t,
    struct vcd_err *err);
/*
 * Start digest NAME ("SHA512" or "MD5") in CTX, an EVP_MD_CTX: 1, or 0 when
 * libcrypto does not offer it (MD5 in FIPS mode); ic_stream_open then fails
 * the image with fault DigestUnavailable.  Tests replace it.
 */
extern int (*ic_digest_init)(void *ctx, const char *name);
/* Add data; blocks while the pipe is full.  0, or -1 when the datastore side
 * failed (ic_stream_close says why). */
int ic_stream_write(struct ic_stream *st, const void *data, size_t len);
/*
 * End the stream (COMPLETE false: the source failed, abort) and free it.
 * On success the disk is at T->path, checked (length, checksum, VMDK
 * header) and *INFO (may be NULL) describes it.  On any failure nothing is
 * left on the datastore and ERR names the image and the cause (fault
 * ChecksumMismatch for a corrupt image, InvalidDiskFormat for data that is
 * not what its disk type says).
 */
int ic_stream_close(struct ic_stream *st, bool complete, struct ic_disk_info *info,
    struct vcd_err *err);

/* ---- fetching from the image service (ic_fetch.c) ---- */

/* What to fetch where.  Borrowed pointers. */
struct ic_fetch_req {
	const struct ic_glance		*glance;
	const struct ic_image_meta	*meta;		/* from ic_glance_meta() */
	const char			*dc_name;	/* the datacenter's name */
	const struct vcd_moref		*dc;		/* and reference */
	const char			*datastore;
	const char			*path;		/* final, e.g. "_base/ID/ID.vmdk" */
	const struct vcd_moref		*pool;		/* for streamOptimized images */
	const struct vcd_moref		*folder;
	struct ic_progress		*progress;	/* may be NULL */
	size_t				 buffer;	/* pipe bytes; 0: 4 MiB */
	int				 stall_timeout;	/* s without data; 0: 60 */
	struct ic_disk_info		*info;		/* out; may be NULL */
};

/*
 * Stream the image's data from the image service into an ic_stream: its
 * disk type and adapter from the image's properties, its checksums (the
 * SHA-512 os_hash_value when there is one, else the MD5) verified.  Only
 * disk_format vmdk is taken.  0, or -1 with ERR naming the image and the
 * cause; nothing is left behind on failure.
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

/*
 * 0 if ADAPTER (NULL or "": the default, lsiLogic) is an adapter type
 * ic_root_disk_specs() takes: lsiLogic, lsiLogicsas, busLogic, paraVirtual,
 * ide.  -1 otherwise.
 */
int ic_adapter_check(const char *adapter);

struct ic_image;

/*
 * Whether an instance of IMG boots as a linked clone: the image's
 * img_linked_clone when it has one, else the agent's use_linked_clone.
 */
bool ic_linked_clone(bool use_linked_clone, const struct ic_image *img);

/*
 * A full copy of cached disk IMG_DSPATH (CAPACITY_KB) at DEST_DSPATH (its
 * folder is made), grown to ROOT_GB when that is larger: an instance's own
 * root disk when linked clones are off.  0, or -1 with ERR (fault
 * FlavorDiskSmallerThanImage when ROOT_GB is smaller than the image); a
 * failed copy is removed.
 */
int ic_full_copy(struct vcd_session *s, const struct vcd_moref *dc,
    const char *img_dspath, int64_t capacity_kb, const char *dest_dspath,
    unsigned root_gb, struct vcd_err *err);

/* ---- the cache: one download per image, whoever asks (ic_cache.c) ---- */

/*
 * The cache keeps a row per cached disk in PostgreSQL's image_cache table
 * (see agent/db.h): its type, adapter, size and last use.  A disk is in the
 * cache when its row says ready and its file is on the datastore.  Images
 * in use are the instances rows (deleted_at NULL) that name them.
 */
struct ic_cache;

struct ic_cache_stats {
	unsigned long	downloads;	/* images fetched by this agent */
	unsigned long	uploads;	/* images pushed to the upload endpoint */
	unsigned long	hits;		/* found in the cache */
	unsigned long	misses;		/* not there: this agent fetched or waited
					 * for another agent */
	unsigned long	waits;		/* waited for this agent's own download */
	unsigned long	resized;	/* resized copies made */
	unsigned long	purged;		/* disks removed by the purge policy */
	unsigned long	purge_failures;	/* disks the purge could not remove */
	int64_t		bytes;		/* downloaded and uploaded */
	int64_t		purged_bytes;
};

/* Where images are cached and instances created: a datastore of a cluster. */
struct ic_place {
	const char		*dc_name;
	const struct vcd_moref	*dc;
	const char		*datastore;
	const struct vcd_moref	*pool;		/* streamOptimized imports */
	const struct vcd_moref	*folder;
};

/* A cached disk, as ic_cache_ensure() found or made it. */
struct ic_image {
	char	id[65];
	char	dspath[512];		/* "[ds] folder/ID/ID.vmdk" */
	char	disk_type[32];
	char	adapter[32];
	int64_t	capacity_kb;
	int	linked_clone;		/* the image's img_linked_clone: 1, 0, -1 */
	unsigned root_gb;		/* 0: the original; else a resized copy */
	bool	hit;			/* it was there already */
};

/*
 * A cache in folder CACHE_FOLDER (<cache_prefix><subdirectory_name>) of the
 * datastores of session S, coordinating with other agents through
 * PostgreSQL at PG_CONNINFO (copied; never logged).  Caller frees with
 * ic_cache_free(); borrowed: S and G's strings.
 */
struct ic_cache *ic_cache_new(struct vcd_session *s, const struct ic_glance *g,
    const char *cache_folder, const char *pg_conninfo);
/* The same on the connections of POOL (borrowed: it must outlive the
 * cache), so one cap (pgc_pool_cap()) covers the cache and its caller. */
struct pgc_pool;
struct ic_cache *ic_cache_new_pool(struct vcd_session *s, const struct ic_glance *g,
    const char *cache_folder, struct pgc_pool *pool);
void ic_cache_free(struct ic_cache *c);
void ic_cache_stats(struct ic_cache *c, struct ic_cache_stats *out);

/*
 * Make sure image ID is in PL's datastore cache and record its use (the
 * purge policy ages images by it).  In this agent, concurrent callers wait
 * for one download; across agents, the fetching one holds a PostgreSQL
 * advisory lock on the path.  0 with *IMG, or -1 with ERR (an invalid id,
 * an image the service does not have, a corrupt image, PostgreSQL
 * unreachable: fault DatabaseUnavailable).
 */
int ic_cache_ensure(struct ic_cache *c, const char *id, const struct ic_place *pl,
    struct ic_image *img, struct vcd_err *err);
/*
 * The cheap half of ic_cache_ensure(), for a caller that has other work in
 * flight meanwhile: 1 with *IMG when image ID has a ready row and this
 * agent saw its file lately (the row's use recorded: one statement, no
 * call to vCenter); 0 when that is not so (call ic_cache_ensure()); -1
 * with ERR (PostgreSQL).
 */
int ic_cache_hit(struct ic_cache *c, const char *id, const struct ic_place *pl,
    struct ic_image *img, struct vcd_err *err);
/* IMG's file was found missing (a CreateVM's FileNotFound on the parent):
 * the next ic_cache_ensure() looks on the datastore, and fetches it again
 * if it is gone. */
void ic_cache_suspect(struct ic_cache *c, const struct ic_image *img);
/*
 * For a linked clone with a root disk of ROOT_GB: *IMG (from
 * ic_cache_ensure) becomes the cached copy of it resized to ROOT_GB
 * ("ID.<root_gb>.vmdk", made once, the same way), or stays the original
 * when that has the size already.  A root disk smaller than the image is
 * fault FlavorDiskSmallerThanImage.  0, or -1 with ERR.
 */
int ic_cache_ensure_resized(struct ic_cache *c, const struct ic_place *pl,
    unsigned root_gb, struct ic_image *img, struct vcd_err *err);

/* Transfers in progress in this agent, for metrics and status. */
struct ic_transfer {
	char	kind[12];		/* download, upload, export */
	char	image_id[65];
	char	datastore[128];		/* an export: the VM's moref value */
	int64_t	done, total;
};
/* Up to MAX of them in OUT; returns how many. */
size_t ic_cache_transfers(struct ic_cache *c, struct ic_transfer *out, size_t max);
/* A transfer the cache does not make itself (an export into the image
 * service) listed with its own while it runs: KIND, image ID, WHERE, its
 * progress P (the caller's, until ic_cache_untrack).  A handle, or NULL
 * when C is NULL. */
struct ic_track;
struct ic_track *ic_cache_track(struct ic_cache *c, const char *kind, const char *id,
    const char *where, struct ic_progress *p);
void ic_cache_untrack(struct ic_cache *c, struct ic_track *t);

/*
 * The datastores of datacenter DC_NAME that hold disks of this cache
 * (recorded in PostgreSQL): *NAMES (caller frees each and the array).
 * 0, or -1 with ERR.
 */
int ic_cache_datastores(struct ic_cache *c, const char *dc_name, char ***names,
    size_t *n, struct vcd_err *err);

/* ---- pushing an image into the cache (ic_cache.c) ---- */

struct ic_upload;

/* What an upload pipeline says about the image it pushes. */
struct ic_upload_req {
	const char	*id;
	int64_t		 size;
	const char	*disk_type;	/* as vmware_disktype; NULL: preallocated */
	const char	*adapter;	/* NULL: the VMDK's, else lsiLogic */
	const char	*md5;		/* expected, hex; may be NULL */
	const char	*sha512;
	int		 linked_clone;	/* -1 unset */
};

/*
 * Start an upload of R into PL's datastore cache (R's and PL's strings
 * are copied; PL's morefs are borrowed until ic_upload_end).  The data goes
 * to a folder of its own, "<folder>/ID.upload-XXXXXXXX", and moves into
 * place only once whole and verified, under the image's lock: meanwhile a
 * spawn of the image does not wait for the upload but fetches from the
 * image service, and whichever ends second finds the image cached.  NULL
 * with ERR: an invalid id or adapter type (VCD_E_INVALID), fault
 * NoDiskSpace when the datastore has less free space than R->size, fault
 * TaskInProgress when the image is being fetched, uploaded or purged,
 * fault AlreadyExists when it is cached already (a cached image is never
 * replaced under its linked clones), PostgreSQL unreachable.
 */
struct ic_upload *ic_cache_upload_begin(struct ic_cache *c, const struct ic_place *pl,
    const struct ic_upload_req *r, struct vcd_err *err);
/* Add data.  0, or -1 when the datastore side failed. */
int ic_upload_write(struct ic_upload *u, const void *data, size_t len);
/*
 * Finish (COMPLETE false: abort) and free U.  0 with *IMG, or -1 with ERR
 * (fault AlreadyExists or TaskInProgress when the image was fetched, or is
 * being fetched, meanwhile); nothing is left behind on failure, not even
 * an empty folder.
 */
int ic_upload_end(struct ic_upload *u, bool complete, struct ic_image *img,
    struct vcd_err *err);

/* ---- the purge policy (ic_cache.c) ---- */

struct ic_purge_conf {
	int	original_age;	/* remove_unused_original_minimum_age_seconds */
	int	resized_age;	/* remove_unused_resized_minimum_age_seconds */
	bool	dry_run;	/* list, remove nothing */
};

struct ic_purged {
	char	image_id[65];
	char	path[512];	/* in the datastore */
	unsigned root_gb;
	int64_t	size;
	bool	removed;	/* false in a dry run, or when it failed */
};

/*
 * Remove the cached disks in PL's datastore that no instance uses (an
 * instances row, from any agent) and that were not used for longer than
 * their age.  A disk being fetched, uploaded or taken by a spawn at that
 * moment is left alone: the purge takes the same lock as a fetch and marks
 * the row before it deletes, and a spawn's use of a row waits for that
 * mark.  *LIST (caller frees) gets what was (or, in a dry run, would be)
 * removed.  0, or -1 with ERR.
 */
int ic_cache_purge(struct ic_cache *c, const struct ic_place *pl,
    const struct ic_purge_conf *pc, struct ic_purged **list, size_t *n,
    struct vcd_err *err);

#endif
