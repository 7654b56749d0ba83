/*
 * flavor.h - a flavor's extra specs, by nova's names (doc/requests.md):
 * quota:cpu_*, quota:memory_* and quota:disk_io_* (limit, reservation,
 * shares_level, shares_share), hw:cores_per_socket, vmware:hw_version.
 *
 * fl_parse() checks the specs vcagent applies and refuses a bad value
 * with the spec's name; keys it does not apply are other drivers' and are
 * left alone, as nova's VMware driver leaves them.  Nothing is allocated.
 */
#ifndef VC_FLAVOR_H
#define VC_FLAVOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vcdriver/vcdriver.h"

struct fl_limits {
	bool	set;			/* any of the four given */
	int64_t	limit;			/* -1: unlimited (nova's default) */
	int64_t	reservation;		/* 0 unless given */
	char	level[8];		/* "" : normal */
	int	shares;			/* custom only */
};

struct fl_specs {
	struct fl_limits cpu, mem;	/* MHz, MB */
	struct fl_limits disk;		/* IOPS, the root disk's */
	int	cores_per_socket;	/* 0: unset */
	char	hw_version[12];		/* "" or vmx-NN */
};

/*
 * EXTRA (the flavor's extra_specs object, or NULL) for a flavor of VCPUS
 * into OUT.  0, or -1 with WHY (CTX first): the spec's name, its value and
 * what it must be.
 */
int fl_parse(json_t *extra, int vcpus, struct fl_specs *out, char *why, size_t wl,
    const char *ctx);
/* L as vcdriver's allocation, into OUT; NULL when L was not given. */
const struct vcd_alloc *fl_alloc(const struct fl_limits *l, struct vcd_alloc *out);

#endif
