/*
 * flavor.c - a flavor's extra specs: a table of the specs vcagent applies,
 * each with its parser; values as nova gives them (strings) or as JSON.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flavor.h"

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

enum fl_kind { FL_LIMIT, FL_RESERVATION, FL_LEVEL, FL_SHARE, FL_CORES, FL_HWVER };

static const struct fl_spec {
	const char	*key;
	enum fl_kind	 kind;
	int		 which;		/* 0 cpu, 1 memory, 2 disk I/O */
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
	{ "hw:cores_per_socket", FL_CORES, 0, "an integer that divides the vCPUs" },
	{ "vmware:hw_version", FL_HWVER, 0, "vmx-NN, a virtual hardware version 4 to 21" },
};

static int
fl_one(const struct fl_spec *sp, json_t *v, int vcpus, struct fl_specs *out)
{
	struct fl_limits *l = sp->which == 0 ? &out->cpu : sp->which == 1 ? &out->mem :
	    &out->disk;
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
	out->cpu.limit = out->mem.limit = out->disk.limit = -1;
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
	for (w = 0; w < 3; w++) {
		const struct fl_limits *l = w == 0 ? &out->cpu : w == 1 ? &out->mem :
		    &out->disk;
		const char *name = w == 0 ? "cpu" : w == 1 ? "memory" : "disk_io";

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

const struct vcd_alloc *
fl_alloc(const struct fl_limits *l, struct vcd_alloc *out)
{
	if (!l->set)
		return NULL;
	*out = (struct vcd_alloc){ l->limit, l->reservation, l->level[0] ? l->level :
	    "normal", strcmp(l->level, "custom") == 0 ? l->shares : 0 };
	return out;
}
