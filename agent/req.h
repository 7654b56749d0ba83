/*
 * req.h - the request contract (version 1), described in doc/requests.md.
 *
 * A request is one JSON object on the requests topic, keyed by the
 * instance's uuid so that one instance's requests share a partition.
 * req_parse() checks it against the table of request types in req.c: what
 * each type needs is written once there.
 *
 * Ownership: req_parse() fills a struct req the caller releases with
 * req_free(); its strings and JSON belong to it.  req_event() returns a
 * string the caller frees.
 */
#ifndef VC_REQ_H
#define VC_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "flavor.h"

#define REQ_VERSION	1

enum req_type {
	REQ_SPAWN, REQ_DELETE, REQ_MIGRATE, REQ_POWER_ON, REQ_POWER_OFF,
	REQ_REBOOT, REQ_SUSPEND, REQ_RESUME, REQ_RESIZE, REQ_ATTACH_INTERFACE,
	REQ_DETACH_INTERFACE, REQ_PREFETCH, REQ_SNAPSHOT_CREATE,
	REQ_SNAPSHOT_REVERT, REQ_SNAPSHOT_DELETE, REQ_GET_INFO, REQ_GET_DIAGNOSTICS,
	REQ_GET_CONSOLE, REQ_RESIZE_CONFIRM, REQ_RESIZE_REVERT,
	REQ_RESCUE, REQ_UNRESCUE, REQ_SNAPSHOT_IMAGE, REQ_ATTACH_VOLUME,
	REQ_DETACH_VOLUME, REQ_VOLUME_CREATE, REQ_VOLUME_DELETE, REQ_NTYPES
};

/* attach_volume, detach_volume (connection_info in nova's shape),
 * volume_create, volume_delete */
enum req_vol_kind { REQ_VOL_VMDK, REQ_VOL_FCD };
struct req_volume {
	char	id[65];			/* the volume's id */
	enum req_vol_kind kind;		/* driver_volume_type vmdk, vstorageobject */
	char	volume[300];		/* vmdk: data.volume, a shadow VM's moref
					 * value or a disk's "[ds] path.vmdk" */
	char	fcd_id[80];		/* vstorageobject: data.id */
	char	ds_ref[128];		/* vstorageobject: data.ds_ref_val */
	char	adapter[32];		/* data.adapter_type; "" : the VM's */
	char	disk_mode[32];		/* data.disk_mode; "" : persistent */
	char	profile_id[128];	/* data.profile_id; "" : none */
	int64_t	size_mb;		/* volume_create */
	char	datastore[256];		/* volume_create: a name; "" : the largest */
	char	policy[256];		/* volume_create: storage policy name */
};

struct req_port {
	char	id[64];			/* the port's id (Neutron's), may be "" */
	char	network[256];		/* port group, DVS port group, opaque network */
	int	vlan;			/* -1: the network must exist */
	char	mac[18];		/* "" : generated */
};

/* snapshot_create, snapshot_revert, snapshot_delete */
struct req_snap {
	char	name[81];		/* create: required; else name or id */
	char	id[80];			/* a VirtualMachineSnapshot moref value */
	char	description[513];
	bool	memory;			/* create: the guest's memory too */
	bool	quiesce;		/* create: quiesced when its tools run */
	bool	all;			/* delete: every snapshot of the VM */
	bool	children;		/* delete: the snapshot's children too */
};

struct req {
	int		 version;
	char		 request_id[129];
	enum req_type	 type;
	char		 node[300];		/* "<cluster moid>.<vCenter uuid>" */
	char		 instance_uuid[37];	/* lower case */
	char		 instance_name[81];
	int		 vcpus;			/* spawn, resize */
	int64_t		 memory_mb;
	unsigned	 root_gb;
	struct fl_specs	 specs;			/* flavor.extra_specs */
	char		 image_id[65];		/* spawn, prefetch; rescue,
						 * snapshot_image: optional */
	char		 image_name[256];	/* snapshot_image */
	struct fl_image	 image;			/* spawn: image_properties */
	bool		 config_drive;		/* spawn: asked for one */
	unsigned char	*user_data;		/* spawn: decoded (owned); NULL */
	size_t		 user_data_len;
	char		 datastore[256];	/* prefetch: optional */
	struct req_port	*ports;			/* spawn */
	size_t		 nports;
	struct req_port	 port;			/* attach/detach_interface */
	char		 dest_node[300];	/* migrate */
	char		 dest_host[256];	/* migrate: optional */
	bool		 hard;			/* power_off, reboot */
	int		 timeout;		/* power_off soft: seconds */
	struct req_snap	 snap;			/* snapshot_* */
	struct req_volume vol;			/* *_volume, volume_* */
	json_t		*raw;			/* the whole request (owned) */
};

/* "spawn", ...; NULL for a type out of range. */
const char *req_type_name(enum req_type t);

/*
 * Parse and check BUF.  0, or -1 with the reason in WHY ("spawn: flavor.vcpus
 * must be 1..4096"), naming the request id when it was readable.
 */
int req_parse(const char *buf, size_t len, struct req *r, char *why, size_t whylen);
void req_free(struct req *r);

/*
 * What can be read of a message that may break the contract, for its
 * rejected event: its request_id, its type (only one of the types in the
 * table) and its node, each "" when absent or not valid.
 */
struct req_ident {
	char	request_id[129];
	char	type[32];
	char	node[300];
};
void req_ident(const char *buf, size_t len, struct req_ident *id);

/* What an event says besides the request. */
struct req_outcome {
	const char	*event;		/* accepted, started, succeeded, failed,
					 * rejected */
	const char	*fault;		/* failed: vCenter's fault type, or ours */
	const char	*message;
	const char	*object;
	const char	*vm;		/* the VM's moref value, when known */
	const char	*power_state;	/* running, shutdown, suspended */
	const char	*vm_state;	/* active, stopped, deleted, error, ... */
	const char	*detail_key;	/* a member the request type adds: */
	const json_t	*detail;	/* "snapshot", "info", "diagnostics" */
};

/*
 * The result event for REQUEST_ID (TYPE, NODE, INSTANCE may be NULL when a
 * request could not be read): one JSON object.  Caller frees.
 */
char *req_event(const char *request_id, const char *type, const char *node,
    const char *instance, const struct req_outcome *o);

#endif
