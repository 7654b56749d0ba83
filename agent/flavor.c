/*
 * flavor.c - a flavor's extra specs: a table of the specs vcagent applies,
 * each with its parser; values as nova gives them (strings) or as JSON.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "flavor.h"
#include "imagecache/imagecache.h"
#include "netplug/netplug.h"

/* V (a string of digits or a JSON integer) into *N, within LO..HI. */
static int
fl_int(json_t *v, int64_t lo, int64_t hi, int64_t *n)
{
	const char *s;
	char *end;
	long long x;

	if (json_is_integer(v)) {
		*n = json_integer_value(v);
		return *n >= lo && *n <= hi ? 0 : -1;
	}
	if (!json_is_string(v) || (s = json_string_value(v))[0] == '\0')
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return -1;
	*n = x;
	return 0;
}

/* V (a JSON boolean, or a string as oslo's bool_from_string reads it)
 * into *B: 1 true, -1 false. */
static int
fl_bool(json_t *v, int *b)
{
	static const char *const yes[] = { "1", "t", "true", "on", "y", "yes" };
	static const char *const no[] = { "0", "f", "false", "off", "n", "no" };
	const char *s;

	if (json_is_boolean(v)) {
		*b = json_is_true(v) ? 1 : -1;
		return 0;
	}
	if ((s = json_string_value(v)) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *b = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *b = -1, 0;
	}
	return -1;
}

enum fl_kind { FL_LIMIT, FL_RESERVATION, FL_LEVEL, FL_SHARE, FL_CORES, FL_HWVER,
	FL_VRAM_MAX, FL_BOOT_MENU, FL_POLICY };

static const struct fl_spec {
	const char	*key;
	enum fl_kind	 kind;
	int		 which;		/* 0 cpu, 1 memory, 2 disk I/O, 3 NICs */
	const char	*must;		/* what a value must be */
} fl_table[] = {
	{ "quota:cpu_limit", FL_LIMIT, 0, "an integer of MHz, -1 for no limit" },
	{ "quota:cpu_reservation", FL_RESERVATION, 0, "an integer of MHz, 0 or more" },
	{ "quota:cpu_shares_level", FL_LEVEL, 0, "custom, high, normal or low" },
	{ "quota:cpu_shares_share", FL_SHARE, 0, "an integer, 0 or more" },
	{ "quota:memory_limit", FL_LIMIT, 1, "an integer of MB, -1 for no limit" },
	{ "quota:memory_reservation", FL_RESERVATION, 1, "an integer of MB, 0 or more" },
	{ "quota:memory_shares_level", FL_LEVEL, 1, "custom, high, normal or low" },
	{ "quota:memory_shares_share", FL_SHARE, 1, "an integer, 0 or more" },
	{ "quota:disk_io_limit", FL_LIMIT, 2, "an integer of IOPS, -1 for no limit" },
	{ "quota:disk_io_reservation", FL_RESERVATION, 2, "an integer of IOPS, 0 or more" },
	{ "quota:disk_io_shares_level", FL_LEVEL, 2, "custom, high, normal or low" },
	{ "quota:disk_io_shares_share", FL_SHARE, 2, "an integer, 0 or more" },
	{ "quota:vif_limit", FL_LIMIT, 3, "an integer of Mbit/s, -1 for no limit" },
	{ "quota:vif_reservation", FL_RESERVATION, 3, "an integer of Mbit/s, 0 or more" },
	{ "quota:vif_shares_level", FL_LEVEL, 3, "custom, high, normal or low" },
	{ "quota:vif_shares_share", FL_SHARE, 3, "an integer, 0 or more" },
	{ "hw:cores_per_socket", FL_CORES, 0, "an integer that divides the vCPUs" },
	{ "hw_video:ram_max_mb", FL_VRAM_MAX, 0, "an integer of MB, 0 to 2048" },
	{ "hw:boot_menu", FL_BOOT_MENU, 0, "true or false" },
	{ "vmware:hw_version", FL_HWVER, 0, "vmx-NN, a virtual hardware version 4 to 21" },
	{ "vmware:storage_policy", FL_POLICY, 0, "a storage policy's name, 1 to 255 "
	    "characters with no control character" },
};

static int
fl_one(const struct fl_spec *sp, json_t *v, int vcpus, struct fl_specs *out)
{
	struct fl_limits *l = sp->which == 0 ? &out->cpu : sp->which == 1 ? &out->mem :
	    sp->which == 2 ? &out->disk : &out->vif;
	static const char *const levels[] = { "custom", "high", "normal", "low" };
	const char *s;
	int64_t n;
	size_t i;

	switch (sp->kind) {
	case FL_LIMIT:
		if (fl_int(v, -1, INT32_MAX, &n) < 0)
			return -1;
		l->limit = n, l->set = true;
		return 0;
	case FL_RESERVATION:
		if (fl_int(v, 0, INT32_MAX, &n) < 0)
			return -1;
		l->reservation = n, l->set = true;
		return 0;
	case FL_SHARE:
		if (fl_int(v, 0, INT32_MAX, &n) < 0)
			return -1;
		l->shares = (int)n, l->set = true;
		return 0;
	case FL_LEVEL:
		if ((s = json_string_value(v)) == NULL)
			return -1;
		for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
			if (strcmp(s, levels[i]) == 0) {
				snprintf(l->level, sizeof(l->level), "%s", s);
				l->set = true;
				return 0;
			}
		return -1;
	case FL_CORES:
		if (fl_int(v, 1, vcpus > 0 ? vcpus : 1, &n) < 0 || vcpus % n != 0)
			return -1;
		out->cores_per_socket = (int)n;
		return 0;
	case FL_HWVER:
		if ((s = json_string_value(v)) == NULL || strncmp(s, "vmx-", 4) != 0 ||
		    strlen(s) != 6 || s[4] < '0' || s[4] > '9' || s[5] < '0' ||
		    s[5] > '9' || (n = (s[4] - '0') * 10 + (s[5] - '0')) < 4 || n > 21)
			return -1;
		snprintf(out->hw_version, sizeof(out->hw_version), "vmx-%02d", (int)n);
		return 0;
	case FL_VRAM_MAX:
		if (fl_int(v, 0, 2048, &n) < 0)
			return -1;
		out->video_ram_max_mb = (int)n;
		return 0;
	case FL_BOOT_MENU:
		return fl_bool(v, &out->boot_menu);
	case FL_POLICY:
		if ((s = json_string_value(v)) == NULL || *s == '\0' ||
		    strlen(s) >= sizeof(out->storage_policy))
			return -1;
		for (i = 0; s[i] != '\0'; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return -1;
		snprintf(out->storage_policy, sizeof(out->storage_policy), "%s", s);
		return 0;
	}
	return -1;
}

int
fl_parse(json_t *extra, int vcpus, struct fl_specs *out, char *why, size_t wl,
    const char *ctx)
{
	const char *key;
	json_t *v;
	int w;

	memset(out, 0, sizeof(*out));
	out->cpu.limit = out->mem.limit = out->disk.limit = out->vif.limit = -1;
	if (extra == NULL || json_is_null(extra))
		return 0;
	if (!json_is_object(extra)) {
		snprintf(why, wl, "%sflavor.extra_specs must be an object", ctx);
		return -1;
	}
	json_object_foreach(extra, key, v) {
		for (size_t i = 0; i < sizeof(fl_table) / sizeof(fl_table[0]); i++) {
			char *text;

			if (strcmp(fl_table[i].key, key) != 0)
				continue;
			if (fl_one(&fl_table[i], v, vcpus, out) == 0)
				break;
			text = json_dumps(v, JSON_ENCODE_ANY);
			snprintf(why, wl, "%sflavor.extra_specs \"%s\": %s is not %s%s", ctx,
			    key, text != NULL ? text : "?", fl_table[i].must,
			    fl_table[i].kind == FL_CORES ? " (a whole number of sockets)" : "");
			free(text);
			return -1;
		}
	}
	/* nova's rule: a share belongs to the custom level only */
	for (w = 0; w < 4; w++) {
		static const char *const names[] = { "cpu", "memory", "disk_io", "vif" };
		const struct fl_limits *l = w == 0 ? &out->cpu : w == 1 ? &out->mem :
		    w == 2 ? &out->disk : &out->vif;
		const char *name = names[w];

		if (l->shares > 0 && strcmp(l->level, "custom") != 0) {
			snprintf(why, wl, "%sflavor.extra_specs \"quota:%s_shares_share\" "
			    "needs \"quota:%s_shares_level\": \"custom\" (it is %s%s%s)", ctx,
			    name, name, l->level[0] ? "\"" : "unset", l->level,
			    l->level[0] ? "\"" : "");
			return -1;
		}
	}
	return 0;
}

/* ---- image properties ---- */

enum fl_ikind { FI_OSTYPE, FI_VIF_MODEL, FI_ADAPTER, FI_FIRMWARE, FI_SECURE_BOOT,
	FI_VRAM, FI_BOOT_MENU };

static const struct fl_prop {
	const char	*key;
	enum fl_ikind	 kind;
	const char	*must;
} fl_props[] = {
	{ "vmware_ostype", FI_OSTYPE, "a guest id (letters and digits, at most 63)" },
	{ "hw_vif_model", FI_VIF_MODEL, "e1000, e1000e, vmxnet, vmxnet2, vmxnet3, "
	    "pcnet32 (vlance) or sriov" },
	{ "vmware_adaptertype", FI_ADAPTER, "lsiLogic, lsiLogicsas, busLogic, "
	    "paraVirtual or ide" },
	{ "hw_firmware_type", FI_FIRMWARE, "bios or uefi" },
	{ "os_secure_boot", FI_SECURE_BOOT, "required, optional or disabled" },
	{ "hw_video_ram", FI_VRAM, "an integer of MB, 0 to 2048" },
	{ "hw_boot_menu", FI_BOOT_MENU, "true or false" },
};

static int
fl_prop_one(const struct fl_prop *pp, json_t *v, struct fl_image *out)
{
	const char *s = json_string_value(v);
	enum np_model m;
	const char *why;
	int64_t n;
	size_t i;

	switch (pp->kind) {
	case FI_OSTYPE:
		if (s == NULL || s[0] == '\0' || strlen(s) >= sizeof(out->os_type))
			return -1;
		for (i = 0; s[i] != '\0'; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
				return -1;
		snprintf(out->os_type, sizeof(out->os_type), "%s", s);
		return 0;
	case FI_VIF_MODEL:
		if (s == NULL || np_model_parse(s, &m, &why) < 0)
			return -1;
		snprintf(out->vif_model, sizeof(out->vif_model), "%s", s);
		return 0;
	case FI_ADAPTER:
		if (s == NULL || s[0] == '\0' || ic_adapter_check(s) < 0)
			return -1;
		snprintf(out->adapter, sizeof(out->adapter), "%s", s);
		return 0;
	case FI_FIRMWARE:
		if (s == NULL || (strcmp(s, "bios") != 0 && strcmp(s, "uefi") != 0))
			return -1;
		snprintf(out->firmware, sizeof(out->firmware), "%s",
		    strcmp(s, "uefi") == 0 ? "efi" : "bios");
		return 0;
	case FI_SECURE_BOOT:
		if (s == NULL)
			return -1;
		out->secure_boot = strcmp(s, "required") == 0 ? FL_SB_REQUIRED :
		    strcmp(s, "optional") == 0 ? FL_SB_OPTIONAL :
		    strcmp(s, "disabled") == 0 ? FL_SB_DISABLED : FL_SB_UNSET;
		return out->secure_boot == FL_SB_UNSET ? -1 : 0;
	case FI_VRAM:
		if (fl_int(v, 0, 2048, &n) < 0)
			return -1;
		out->video_ram_mb = (int)n;
		return 0;
	case FI_BOOT_MENU:
		return fl_bool(v, &out->boot_menu);
	}
	return -1;
}

int
fl_image_parse(json_t *props, struct fl_image *out, char *why, size_t wl,
    const char *ctx)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (props == NULL || json_is_null(props))
		return 0;
	if (!json_is_object(props)) {
		snprintf(why, wl, "%simage_properties must be an object", ctx);
		return -1;
	}
	json_object_foreach(props, key, v) {
		for (size_t i = 0; i < sizeof(fl_props) / sizeof(fl_props[0]); i++) {
			char *text;

			if (strcmp(fl_props[i].key, key) != 0)
				continue;
			if (fl_prop_one(&fl_props[i], v, out) == 0)
				break;
			text = json_dumps(v, JSON_ENCODE_ANY);
			snprintf(why, wl, "%simage_properties \"%s\": %s is not %s", ctx,
			    key, text != NULL ? text : "?", fl_props[i].must);
			free(text);
			return -1;
		}
	}
	return 0;
}

int
fl_check(const struct fl_specs *fl, const struct fl_image *im, char *why,
    size_t wl, const char *ctx)
{
	enum np_model m = NP_MODEL_DEFAULT;
	const char *mwhy;

	if (im->video_ram_mb > fl->video_ram_max_mb) {
		snprintf(why, wl, "%simage_properties \"hw_video_ram\": %d MB is more "
		    "than the flavor allows (\"hw_video:ram_max_mb\": %d)", ctx,
		    im->video_ram_mb, fl->video_ram_max_mb);
		return -1;
	}
	if (im->secure_boot == FL_SB_REQUIRED && strcmp(im->firmware, "efi") != 0) {
		snprintf(why, wl, "%simage_properties \"os_secure_boot\": \"required\" "
		    "needs \"hw_firmware_type\": \"uefi\" (it is %s)", ctx,
		    im->firmware[0] ? im->firmware : "unset");
		return -1;
	}
	if (im->secure_boot == FL_SB_REQUIRED && fl->hw_version[0] != '\0' &&
	    strcmp(fl->hw_version, "vmx-13") < 0) {
		snprintf(why, wl, "%simage_properties \"os_secure_boot\": \"required\" "
		    "needs virtual hardware vmx-13 or later (the flavor's "
		    "\"vmware:hw_version\" is %s)", ctx, fl->hw_version);
		return -1;
	}
	if (im->vif_model[0] != '\0')
		(void)np_model_parse(im->vif_model, &m, &mwhy);
	if (fl->vif.set && m == NP_MODEL_SRIOV) {
		snprintf(why, wl, "%sflavor.extra_specs \"quota:vif_*\" cannot apply "
		    "to SR-IOV NICs (image_properties \"hw_vif_model\": \"sriov\"): "
		    "a passthrough NIC has no shares, limit or reservation", ctx);
		return -1;
	}
	return 0;
}

bool
fl_boot_menu(const struct fl_specs *fl, const struct fl_image *im)
{
	return fl->boot_menu != 0 ? fl->boot_menu > 0 : im->boot_menu > 0;
}

int
fl_secure_boot(const struct fl_specs *fl, const struct fl_image *im, int guest_sb)
{
	switch (im->secure_boot) {
	case FL_SB_REQUIRED:
		return 1;
	case FL_SB_DISABLED:
		return -1;
	case FL_SB_OPTIONAL:
		return strcmp(im->firmware, "efi") == 0 && guest_sb != 0 &&
		    (fl->hw_version[0] == '\0' || strcmp(fl->hw_version, "vmx-13") >= 0) ?
		    1 : -1;
	case FL_SB_UNSET:
		break;
	}
	return 0;
}

const struct vcd_alloc *
fl_alloc(const struct fl_limits *l, struct vcd_alloc *out)
{
	if (!l->set)
		return NULL;
	*out = (struct vcd_alloc){ l->limit, l->reservation, l->level[0] ? l->level :
	    "normal", strcmp(l->level, "custom") == 0 ? l->shares : 0 };
	return out;
}
