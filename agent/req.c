/*
 * req.c - the request contract: one table says what each type needs.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "imagecache/imagecache.h"
#include "req.h"
#include "xmalloc.h"

/* What a request type needs besides request_id, type and node. */
#define NEED_INSTANCE	0x01	/* instance.uuid (and .name for spawn) */
#define NEED_FLAVOR	0x02
#define NEED_IMAGE	0x04
#define NEED_PORTS	0x08	/* ports: a list, may be empty */
#define NEED_PORT	0x10	/* port: one */
#define NEED_DEST	0x20	/* destination.node */
#define NEED_NAME	0x40
#define NEED_SNAP	0x80	/* snapshot: an object */
#define NEED_VOLUME	0x100	/* volume_id; connection_info for attach */

static const struct req_kind {
	const char	*name;
	enum req_type	 type;
	unsigned	 need;
} req_kinds[REQ_NTYPES] = {
	{ "spawn", REQ_SPAWN, NEED_INSTANCE | NEED_NAME | NEED_FLAVOR | NEED_IMAGE | NEED_PORTS },
	{ "delete", REQ_DELETE, NEED_INSTANCE },
	{ "migrate", REQ_MIGRATE, NEED_INSTANCE | NEED_DEST },
	{ "power_on", REQ_POWER_ON, NEED_INSTANCE },
	{ "power_off", REQ_POWER_OFF, NEED_INSTANCE },
	{ "reboot", REQ_REBOOT, NEED_INSTANCE },
	{ "suspend", REQ_SUSPEND, NEED_INSTANCE },
	{ "resume", REQ_RESUME, NEED_INSTANCE },
	{ "resize", REQ_RESIZE, NEED_INSTANCE | NEED_FLAVOR },
	{ "attach_interface", REQ_ATTACH_INTERFACE, NEED_INSTANCE | NEED_PORT },
	{ "detach_interface", REQ_DETACH_INTERFACE, NEED_INSTANCE | NEED_PORT },
	{ "prefetch", REQ_PREFETCH, NEED_IMAGE },
	{ "snapshot_create", REQ_SNAPSHOT_CREATE, NEED_INSTANCE | NEED_SNAP },
	{ "snapshot_revert", REQ_SNAPSHOT_REVERT, NEED_INSTANCE | NEED_SNAP },
	{ "snapshot_delete", REQ_SNAPSHOT_DELETE, NEED_INSTANCE },
	{ "get_info", REQ_GET_INFO, NEED_INSTANCE },
	{ "get_diagnostics", REQ_GET_DIAGNOSTICS, NEED_INSTANCE },
	{ "get_console", REQ_GET_CONSOLE, NEED_INSTANCE },
	{ "resize_confirm", REQ_RESIZE_CONFIRM, NEED_INSTANCE },
	{ "resize_revert", REQ_RESIZE_REVERT, NEED_INSTANCE },
	{ "rescue", REQ_RESCUE, NEED_INSTANCE },
	{ "unrescue", REQ_UNRESCUE, NEED_INSTANCE },
	{ "snapshot_image", REQ_SNAPSHOT_IMAGE, NEED_INSTANCE },
	{ "attach_volume", REQ_ATTACH_VOLUME, NEED_INSTANCE | NEED_VOLUME },
	{ "detach_volume", REQ_DETACH_VOLUME, NEED_INSTANCE | NEED_VOLUME },
	{ "volume_create", REQ_VOLUME_CREATE, NEED_VOLUME },
	{ "volume_delete", REQ_VOLUME_DELETE, NEED_VOLUME },
};

const char *
req_type_name(enum req_type t)
{
	return (unsigned)t < REQ_NTYPES ? req_kinds[t].name : NULL;
}

/* Copy string member KEY of O into OUT; 1 copied, 0 absent, -1 invalid. */
static int
req_str(json_t *o, const char *key, char *out, size_t len, char *why, size_t wl,
    const char *ctx)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || (s = json_string_value(v))[0] == '\0' ||
	    strlen(s) >= len) {
		snprintf(why, wl, "%s%s must be a string of 1..%zu characters", ctx, key,
		    len - 1);
		return -1;
	}
	snprintf(out, len, "%s", s);
	return 1;
}

/* An integer member within [MIN, MAX]; -1 with WHY. */
static int
req_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
    char *why, size_t wl, const char *ctx)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(why, wl, "%s%s must be an integer %lld..%lld", ctx, key,
		    (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static bool
req_uuid_ok(char *u)
{
	if (strlen(u) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)u[i]))
			return false;
		u[i] = (char)tolower((unsigned char)u[i]);
	}
	return true;
}

static bool
req_mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	return true;
}

static int
req_port_parse(json_t *o, struct req_port *p, char *why, size_t wl, const char *ctx)
{
	json_t *vlan;

	memset(p, 0, sizeof(*p));
	p->vlan = -1;
	if (!json_is_object(o)) {
		snprintf(why, wl, "%s must be an object", ctx);
		return -1;
	}
	if (req_str(o, "id", p->id, sizeof(p->id), why, wl, ctx) < 0 ||
	    req_str(o, "mac", p->mac, sizeof(p->mac), why, wl, ctx) < 0 ||
	    req_str(o, "network", p->network, sizeof(p->network), why, wl, ctx) < 0)
		return -1;
	if (p->mac[0] != '\0' && !req_mac_ok(p->mac)) {
		snprintf(why, wl, "%smac \"%s\" is not a MAC address", ctx, p->mac);
		return -1;
	}
	if ((vlan = json_object_get(o, "vlan")) != NULL && !json_is_null(vlan)) {
		int64_t v;
		if (req_int(o, "vlan", 0, 4094, &v, why, wl, ctx) < 0)
			return -1;
		p->vlan = (int)v;
	}
	return 0;
}

/* A boolean member KEY of O, DEF when absent; -1 with WHY if not one. */
static int
req_bool(json_t *o, const char *key, bool def, bool *out, char *why, size_t wl,
    const char *ctx)
{
	json_t *v = json_object_get(o, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(why, wl, "%s%s must be true or false", ctx, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* nova's limits on what a guest is given: the API's 65535 characters of
 * base64 user data, the metadata quota's 128 items of 255 characters. */
#define REQ_USER_DATA_MAX	65535
#define REQ_META_ITEMS		128
#define REQ_META_LEN		255
#define REQ_VENDOR_MAX		65536

/*
 * spawn's boot data: config_drive, user_data (base64), metadata (strings),
 * key_pair ({name, public_key}) and vendor_data (an object), within nova's
 * limits.
 */
static int
req_boot_data(json_t *root, struct req *r, char *why, size_t wl, const char *ctx)
{
	json_t *v, *item;
	const char *k;
	size_t n;

	if (req_bool(root, "config_drive", false, &r->config_drive, why, wl, ctx) < 0)
		return -1;
	if ((v = json_object_get(root, "user_data")) != NULL && !json_is_null(v)) {
		const char *s = json_string_value(v);
		int len;

		n = s != NULL ? strlen(s) : 0;
		if (s == NULL || n == 0 || n > REQ_USER_DATA_MAX || n % 4 != 0 ||
		    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/=") != n || (strchr(s, '=') != NULL &&
		    strspn(strchr(s, '='), "=") != strlen(strchr(s, '=')))) {
			snprintf(why, wl, "%suser_data must be base64, at most %d "
			    "characters (it is %s%zu)", ctx, REQ_USER_DATA_MAX,
			    s == NULL ? "not a string, " : "", n);
			return -1;
		}
		r->user_data = xmalloc(n / 4 * 3 + 1);
		if ((len = EVP_DecodeBlock(r->user_data, (const unsigned char *)s,
		    (int)n)) < 0) {
			snprintf(why, wl, "%suser_data must be base64", ctx);
			return -1;
		}
		/* EVP_DecodeBlock counts the padding's bytes in */
		r->user_data_len = (size_t)len - (s[n - 1] == '=') - (s[n - 2] == '=');
	}
	if ((v = json_object_get(root, "metadata")) != NULL && !json_is_null(v)) {
		if (!json_is_object(v) || json_object_size(v) > REQ_META_ITEMS) {
			snprintf(why, wl, "%smetadata must be an object of at most %d "
			    "items", ctx, REQ_META_ITEMS);
			return -1;
		}
		json_object_foreach(v, k, item) {
			if (strlen(k) == 0 || strlen(k) > REQ_META_LEN ||
			    !json_is_string(item) ||
			    strlen(json_string_value(item)) > REQ_META_LEN) {
				snprintf(why, wl, "%smetadata \"%.40s\": keys and values are "
				    "strings of at most %d characters, keys not empty", ctx,
				    k, REQ_META_LEN);
				return -1;
			}
		}
	}
	return 0;
}

static int
req_key_vendor(json_t *root, char *why, size_t wl, const char *ctx)
{
	json_t *v;

	if ((v = json_object_get(root, "key_pair")) != NULL && !json_is_null(v)) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *key = json_string_value(json_object_get(v, "public_key"));

		if (name == NULL || key == NULL || name[0] == '\0' || strlen(name) > 255 ||
		    key[0] == '\0' || strlen(key) > 16384) {
			snprintf(why, wl, "%skey_pair must be {\"name\": 1-255 characters, "
			    "\"public_key\": 1-16384 characters}", ctx);
			return -1;
		}
	}
	if ((v = json_object_get(root, "vendor_data")) != NULL && !json_is_null(v)) {
		char *text = json_is_object(v) ? json_dumps(v, JSON_COMPACT) : NULL;
		size_t n = text != NULL ? strlen(text) : 0;

		free(text);
		if (!json_is_object(v) || n > REQ_VENDOR_MAX) {
			snprintf(why, wl, "%svendor_data must be an object of at most %d "
			    "bytes as JSON", ctx, REQ_VENDOR_MAX);
			return -1;
		}
	}
	return 0;
}

/*
 * snapshot: {name, description, memory, quiesce} to make one; {name} or
 * {id} to name one; snapshot_delete takes "all": true instead.
 */
static int
req_snap_parse(json_t *root, struct req *r, char *why, size_t wl, const char *ctx)
{
	struct req_snap *sn = &r->snap;
	json_t *o = json_object_get(root, "snapshot");
	char sctx[240];
	int hn, hi;

	snprintf(sctx, sizeof(sctx), "%ssnapshot.", ctx);
	if (r->type == REQ_SNAPSHOT_DELETE) {
		if (req_bool(root, "all", false, &sn->all, why, wl, ctx) < 0)
			return -1;
		if (sn->all && o != NULL) {
			snprintf(why, wl, "%sgive snapshot or \"all\": true, not both", ctx);
			return -1;
		}
		if (sn->all)
			return 0;
	}
	if (!json_is_object(o)) {
		snprintf(why, wl, "%ssnapshot must be an object%s", ctx,
		    r->type == REQ_SNAPSHOT_DELETE ? " (or \"all\": true)" : "");
		return -1;
	}
	if ((hn = req_str(o, "name", sn->name, sizeof(sn->name), why, wl, sctx)) < 0 ||
	    (hi = req_str(o, "id", sn->id, sizeof(sn->id), why, wl, sctx)) < 0)
		return -1;
	if (r->type == REQ_SNAPSHOT_CREATE) {
		if (hn == 0 || sn->name[0] == '\0') {
			snprintf(why, wl, "%sname is missing (1-80 characters)", sctx);
			return -1;
		}
		if (hi > 0) {
			snprintf(why, wl, "%sid is vCenter's to give", sctx);
			return -1;
		}
		if (req_str(o, "description", sn->description, sizeof(sn->description),
		    why, wl, sctx) < 0 ||
		    req_bool(o, "memory", false, &sn->memory, why, wl, sctx) < 0 ||
		    req_bool(o, "quiesce", true, &sn->quiesce, why, wl, sctx) < 0)
			return -1;
		return 0;
	}
	if ((hn > 0) == (hi > 0)) {
		snprintf(why, wl, "%sname or id, one of the two, names the snapshot", sctx);
		return -1;
	}
	if (r->type == REQ_SNAPSHOT_DELETE &&
	    req_bool(o, "children", false, &sn->children, why, wl, sctx) < 0)
		return -1;
	return 0;
}

/* A volume id, an FCD id: letters, digits, '-', '_', '.' (a volume id
 * names a First Class Disk). */
static bool
req_vol_name_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

/* A moref value (a shadow VM's, a datastore's): printable, at most 127
 * bytes (vcsim's datastores have paths for values). */
static bool
req_moref_ok(const char *s)
{
	if (strlen(s) > 127)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f)
			return false;
	return true;
}

/*
 * The volume members: volume_id (else connection_info.data.volume_id, else
 * an FCD's data.id); connection_info for attach_volume (detach_volume may
 * carry it too); size_gb or size_mb, datastore, storage_policy for
 * volume_create.
 */
static int
req_volume_parse(json_t *root, struct req *r, char *why, size_t wl, const char *ctx)
{
	static const char *const modes[] = { "persistent", "independent_persistent",
	    "independent_nonpersistent" };
	static const char *const adapters[] = { "lsiLogic", "busLogic", "lsiLogicsas",
	    "paraVirtual", "ide" };
	struct req_volume *v = &r->vol;
	json_t *ci = json_object_get(root, "connection_info"), *data = NULL;
	char type[32], dctx[260];
	int64_t n;
	size_t i;

	if (req_str(root, "volume_id", v->id, sizeof(v->id), why, wl, ctx) < 0)
		return -1;
	if (r->type == REQ_ATTACH_VOLUME && ci == NULL) {
		snprintf(why, wl, "%sconnection_info is missing", ctx);
		return -1;
	}
	if (ci != NULL && !json_is_null(ci) && (r->type == REQ_ATTACH_VOLUME ||
	    r->type == REQ_DETACH_VOLUME)) {
		snprintf(dctx, sizeof(dctx), "%sconnection_info.", ctx);
		if (!json_is_object(ci) || req_str(ci, "driver_volume_type", type,
		    sizeof(type), why, wl, dctx) <= 0 ||
		    (strcmp(type, "vmdk") != 0 && strcmp(type, "vstorageobject") != 0)) {
			snprintf(why, wl, "%sdriver_volume_type must be \"vmdk\" or "
			    "\"vstorageobject\" (the two vSphere volume drivers)", dctx);
			return -1;
		}
		v->kind = strcmp(type, "vmdk") == 0 ? REQ_VOL_VMDK : REQ_VOL_FCD;
		if (!json_is_object(data = json_object_get(ci, "data"))) {
			snprintf(why, wl, "%sdata must be an object", dctx);
			return -1;
		}
		snprintf(dctx, sizeof(dctx), "%sconnection_info.data.", ctx);
		if (v->id[0] == '\0' && req_str(data, "volume_id", v->id, sizeof(v->id),
		    why, wl, dctx) < 0)
			return -1;
		if (req_str(data, "profile_id", v->profile_id, sizeof(v->profile_id),
		    why, wl, dctx) < 0 || req_str(data, "adapter_type", v->adapter,
		    sizeof(v->adapter), why, wl, dctx) < 0 || req_str(data, "disk_mode",
		    v->disk_mode, sizeof(v->disk_mode), why, wl, dctx) < 0)
			return -1;
		if (v->kind == REQ_VOL_VMDK && req_str(data, "volume", v->volume,
		    sizeof(v->volume), why, wl, dctx) <= 0) {
			if (why[0] == '\0')
				snprintf(why, wl, "%svolume is missing (the shadow VM's "
				    "moref value, or the disk's \"[datastore] path.vmdk\")",
				    dctx);
			return -1;
		}
		if (v->kind == REQ_VOL_VMDK && v->volume[0] != '[' &&
		    !req_moref_ok(v->volume)) {
			snprintf(why, wl, "%svolume \"%s\" is neither a moref value nor "
			    "a \"[datastore] path.vmdk\"", dctx, v->volume);
			return -1;
		}
		if (v->kind == REQ_VOL_FCD && (req_str(data, "id", v->fcd_id,
		    sizeof(v->fcd_id), why, wl, dctx) <= 0 || req_str(data, "ds_ref_val",
		    v->ds_ref, sizeof(v->ds_ref), why, wl, dctx) <= 0 ||
		    !req_vol_name_ok(v->fcd_id) || !req_moref_ok(v->ds_ref))) {
			snprintf(why, wl, "%sid and ds_ref_val must name the First Class "
			    "Disk and its datastore", dctx);
			return -1;
		}
		if (v->kind == REQ_VOL_FCD && v->id[0] == '\0')
			snprintf(v->id, sizeof(v->id), "%.64s", v->fcd_id);
		for (i = 0; v->disk_mode[0] != '\0' && i < 3; i++)
			if (strcmp(v->disk_mode, modes[i]) == 0)
				break;
		if (i == 3 || (v->kind == REQ_VOL_FCD && v->disk_mode[0] != '\0' &&
		    strcmp(v->disk_mode, "persistent") != 0)) {
			snprintf(why, wl, "%sdisk_mode \"%s\" must be %s", dctx,
			    v->disk_mode, v->kind == REQ_VOL_FCD ? "persistent (a First "
			    "Class Disk is attached so)" : "persistent, "
			    "independent_persistent or independent_nonpersistent");
			return -1;
		}
		for (i = 0; v->adapter[0] != '\0' && i < 5; i++)
			if (strcmp(v->adapter, adapters[i]) == 0)
				break;
		if (i == 5) {
			snprintf(why, wl, "%sadapter_type \"%s\" must be lsiLogic, "
			    "busLogic, lsiLogicsas, paraVirtual or ide", dctx, v->adapter);
			return -1;
		}
	}
	if (v->id[0] == '\0' || !req_vol_name_ok(v->id)) {
		snprintf(why, wl, "%svolume_id must be given (letters, digits, '-', "
		    "'_' and '.')", ctx);
		return -1;
	}
	if (r->type == REQ_VOLUME_CREATE) {
		if (json_object_get(root, "size_gb") != NULL) {
			if (req_int(root, "size_gb", 1, 65536, &n, why, wl, ctx) < 0)
				return -1;
			v->size_mb = n * 1024;
		} else if (json_object_get(root, "size_mb") != NULL) {
			if (req_int(root, "size_mb", 1, 65536LL * 1024, &n, why, wl, ctx) < 0)
				return -1;
			v->size_mb = n;
		} else {
			snprintf(why, wl, "%ssize_gb (or size_mb) is missing", ctx);
			return -1;
		}
		if (req_str(root, "datastore", v->datastore, sizeof(v->datastore), why,
		    wl, ctx) < 0 || req_str(root, "storage_policy", v->policy,
		    sizeof(v->policy), why, wl, ctx) < 0)
			return -1;
	}
	return 0;
}

int
req_parse(const char *buf, size_t len, struct req *r, char *why, size_t wl)
{
	json_error_t je;
	json_t *root, *inst, *fl, *v;
	const struct req_kind *k = NULL;
	char type[32], ctx[200] = "";
	int64_t n;

	memset(r, 0, sizeof(*r));
	why[0] = '\0';
	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(why, wl, "not JSON: %s at line %d column %d", je.text, je.line,
		    je.column);
		return -1;
	}
	r->raw = root;
	if (!json_is_object(root)) {
		snprintf(why, wl, "a request must be a JSON object");
		goto bad;
	}
	if (req_str(root, "request_id", r->request_id, sizeof(r->request_id), why, wl,
	    "") <= 0) {
		if (why[0] == '\0')
			snprintf(why, wl, "request_id is missing");
		goto bad;
	}
	snprintf(ctx, sizeof(ctx), "request %s: ", r->request_id);
	if (req_int(root, "version", 1, 1000, &n, why, wl, ctx) < 0)
		goto bad;
	r->version = (int)n;
	if (r->version != REQ_VERSION) {
		snprintf(why, wl, "%sversion %d is not supported (this agent speaks %d)",
		    ctx, r->version, REQ_VERSION);
		goto bad;
	}
	if (req_str(root, "type", type, sizeof(type), why, wl, ctx) <= 0) {
		if (why[0] == '\0')
			snprintf(why, wl, "%stype is missing", ctx);
		goto bad;
	}
	for (size_t i = 0; i < REQ_NTYPES; i++)
		if (strcmp(req_kinds[i].name, type) == 0)
			k = &req_kinds[i];
	if (k == NULL) {
		snprintf(why, wl, "%sunknown type \"%s\"", ctx, type);
		goto bad;
	}
	r->type = k->type;
	snprintf(ctx, sizeof(ctx), "request %s (%s): ", r->request_id, k->name);
	if (req_str(root, "node", r->node, sizeof(r->node), why, wl, ctx) <= 0) {
		if (why[0] == '\0')
			snprintf(why, wl, "%snode is missing", ctx);
		goto bad;
	}
	if (k->need & NEED_INSTANCE) {
		inst = json_object_get(root, "instance");
		if (!json_is_object(inst) || req_str(inst, "uuid", r->instance_uuid,
		    sizeof(r->instance_uuid), why, wl, ctx) <= 0 ||
		    !req_uuid_ok(r->instance_uuid)) {
			snprintf(why, wl, "%sinstance.uuid must be a UUID", ctx);
			goto bad;
		}
		if (req_str(inst, "name", r->instance_name, sizeof(r->instance_name),
		    why, wl, ctx) < 0)
			goto bad;
		if ((k->need & NEED_NAME) && r->instance_name[0] == '\0') {
			snprintf(why, wl, "%sinstance.name is missing", ctx);
			goto bad;
		}
	}
	if (k->need & NEED_FLAVOR) {
		snprintf(ctx, sizeof(ctx), "request %s (%s): flavor.", r->request_id,
		    k->name);
		if (!json_is_object(fl = json_object_get(root, "flavor"))) {
			snprintf(why, wl, "request %s (%s): flavor is missing", r->request_id,
			    k->name);
			goto bad;
		}
		if (req_int(fl, "vcpus", 1, 768, &n, why, wl, ctx) < 0)
			goto bad;
		r->vcpus = (int)n;
		if (req_int(fl, "memory_mb", 4, 24LL * 1024 * 1024, &n, why, wl, ctx) < 0)
			goto bad;
		r->memory_mb = n;
		if (req_int(fl, "root_gb", 0, 62 * 1024, &n, why, wl, ctx) < 0)
			goto bad;
		r->root_gb = (unsigned)n;
		snprintf(ctx, sizeof(ctx), "request %s (%s): ", r->request_id, k->name);
		if (fl_parse(json_object_get(fl, "extra_specs"), r->vcpus, &r->specs,
		    why, wl, ctx) < 0)
			goto bad;
	}
	if (k->need & NEED_IMAGE) {
		if (req_str(root, "image_id", r->image_id, sizeof(r->image_id), why, wl,
		    ctx) <= 0 || ic_image_id_check(r->image_id) < 0) {
			snprintf(why, wl, "%simage_id must be an image id", ctx);
			goto bad;
		}
		if (req_str(root, "datastore", r->datastore, sizeof(r->datastore), why,
		    wl, ctx) < 0)
			goto bad;
	}
	if (r->type == REQ_SNAPSHOT_IMAGE) {
		json_t *im = json_object_get(root, "image");
		const char *nm = json_string_value(json_object_get(im, "name"));
		json_t *iv = json_object_get(im, "id");

		if (!json_is_object(im) || nm == NULL || nm[0] == '\0' || strlen(nm) > 255) {
			snprintf(why, wl, "%simage must be {\"name\": 1-255 characters, "
			    "\"id\": an image id (optional)}", ctx);
			goto bad;
		}
		snprintf(r->image_name, sizeof(r->image_name), "%s", nm);
		if (iv != NULL && (!json_is_string(iv) || strlen(json_string_value(iv)) >=
		    sizeof(r->image_id) || ic_image_id_check(json_string_value(iv)) < 0)) {
			snprintf(why, wl, "%simage.id must be an image id", ctx);
			goto bad;
		}
		if (iv != NULL)
			snprintf(r->image_id, sizeof(r->image_id), "%s", json_string_value(iv));
	}
	if (r->type == REQ_RESCUE && json_object_get(root, "image_id") != NULL &&
	    (req_str(root, "image_id", r->image_id, sizeof(r->image_id), why, wl,
	    ctx) <= 0 || ic_image_id_check(r->image_id) < 0)) {
		snprintf(why, wl, "%simage_id must be an image id", ctx);
		goto bad;
	}
	if (r->type == REQ_SPAWN && (req_boot_data(root, r, why, wl, ctx) < 0 ||
	    req_key_vendor(root, why, wl, ctx) < 0))
		goto bad;
	if (r->type == REQ_SPAWN && (fl_image_parse(json_object_get(root,
	    "image_properties"), &r->image, why, wl, ctx) < 0 ||
	    fl_check(&r->specs, &r->image, why, wl, ctx) < 0))
		goto bad;
	if (k->need & NEED_PORTS) {
		v = json_object_get(root, "ports");
		if (v != NULL && !json_is_array(v)) {
			snprintf(why, wl, "%sports must be a list", ctx);
			goto bad;
		}
		r->nports = json_array_size(v);
		if (r->nports > 10) {
			snprintf(why, wl, "%sat most 10 ports", ctx);
			goto bad;
		}
		r->ports = xcalloc(r->nports + 1, sizeof(*r->ports));
		for (size_t i = 0; i < r->nports; i++) {
			char pctx[240];
			snprintf(pctx, sizeof(pctx), "%sports[%zu].", ctx, i);
			if (req_port_parse(json_array_get(v, i), &r->ports[i], why, wl,
			    pctx) < 0)
				goto bad;
		}
	}
	if (k->need & NEED_PORT) {
		char pctx[240];
		snprintf(pctx, sizeof(pctx), "%sport.", ctx);
		if (req_port_parse(json_object_get(root, "port"), &r->port, why, wl,
		    pctx) < 0)
			goto bad;
	}
	if (k->need & NEED_DEST) {
		v = json_object_get(root, "destination");
		if (!json_is_object(v) || req_str(v, "node", r->dest_node,
		    sizeof(r->dest_node), why, wl, ctx) <= 0) {
			snprintf(why, wl, "%sdestination.node is missing", ctx);
			goto bad;
		}
		if (req_str(v, "host", r->dest_host, sizeof(r->dest_host), why, wl,
		    ctx) < 0)
			goto bad;
	}
	if ((k->need & NEED_VOLUME) && req_volume_parse(root, r, why, wl, ctx) < 0)
		goto bad;
	if ((k->need & NEED_SNAP) || r->type == REQ_SNAPSHOT_DELETE) {
		if (req_snap_parse(root, r, why, wl, ctx) < 0)
			goto bad;
	}
	if (r->type == REQ_GET_CONSOLE && (v = json_object_get(root, "console_type")) !=
	    NULL && (!json_is_string(v) || strcmp(json_string_value(v), "vnc") != 0)) {
		snprintf(why, wl, "%sconsole_type must be \"vnc\" (the one this agent "
		    "serves)", ctx);
		goto bad;
	}
	if (r->type == REQ_POWER_OFF || r->type == REQ_REBOOT) {
		if (req_bool(root, "hard", false, &r->hard, why, wl, ctx) < 0)
			goto bad;
		r->timeout = 60;
		if (json_object_get(root, "timeout") != NULL) {
			if (req_int(root, "timeout", 0, 3600, &n, why, wl, ctx) < 0)
				goto bad;
			r->timeout = (int)n;
		}
	}
	return 0;
bad:
	req_free(r);
	return -1;
}

void
req_ident(const char *buf, size_t len, struct req_ident *id)
{
	json_t *root = json_loadb(buf, len, 0, NULL);
	char why[200], type[32];

	memset(id, 0, sizeof(*id));
	if (!json_is_object(root))
		goto out;
	if (req_str(root, "request_id", id->request_id, sizeof(id->request_id), why,
	    sizeof(why), "") < 0)
		id->request_id[0] = '\0';
	if (req_str(root, "type", type, sizeof(type), why, sizeof(why), "") > 0)
		for (size_t i = 0; i < REQ_NTYPES; i++)
			if (strcmp(req_kinds[i].name, type) == 0)
				snprintf(id->type, sizeof(id->type), "%s", type);
	if (req_str(root, "node", id->node, sizeof(id->node), why, sizeof(why), "") < 0)
		id->node[0] = '\0';
out:
	json_decref(root);
}

void
req_free(struct req *r)
{
	json_decref(r->raw);
	free(r->ports);
	free(r->user_data);
	r->raw = NULL;
	r->ports = NULL;
	r->user_data = NULL;
}

char *
req_event(const char *request_id, const char *type, const char *node,
    const char *instance, const struct req_outcome *o)
{
	json_t *j = json_object(), *e;
	char ts[64];
	struct timespec now;
	struct tm tm;
	char *text;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, now.tv_nsec / 1000000);
	json_object_set_new(j, "version", json_integer(REQ_VERSION));
	json_object_set_new(j, "request_id", request_id != NULL ?
	    json_string(request_id) : json_null());
	if (type != NULL)
		json_object_set_new(j, "type", json_string(type));
	if (node != NULL && node[0] != '\0')
		json_object_set_new(j, "node", json_string(node));
	json_object_set_new(j, "event", json_string(o->event));
	json_object_set_new(j, "time", json_string(ts));
	if (instance != NULL && instance[0] != '\0') {
		e = json_pack("{s:s}", "uuid", instance);
		if (o->vm != NULL && o->vm[0] != '\0')
			json_object_set_new(e, "vm", json_string(o->vm));
		if (o->power_state != NULL)
			json_object_set_new(e, "power_state", json_string(o->power_state));
		if (o->vm_state != NULL)
			json_object_set_new(e, "vm_state", json_string(o->vm_state));
		json_object_set_new(j, "instance", e);
	}
	if (o->detail_key != NULL && o->detail != NULL)
		json_object_set(j, o->detail_key, (json_t *)o->detail);
	if (o->fault != NULL || o->message != NULL) {
		e = json_object();
		if (o->fault != NULL && o->fault[0] != '\0')
			json_object_set_new(e, "fault", json_string(o->fault));
		if (o->message != NULL)
			json_object_set_new(e, "message", json_string(o->message));
		if (o->object != NULL && o->object[0] != '\0')
			json_object_set_new(e, "object", json_string(o->object));
		json_object_set_new(j, "error", e);
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}
