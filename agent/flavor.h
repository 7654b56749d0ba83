/*
 * flavor.h - a flavor's extra specs and an image's properties, by nova's
 * names (doc/requests.md).  Extra specs: quota:cpu_*, quota:memory_*,
 * quota:disk_io_* and quota:vif_* (limit, reservation, shares_level,
 * shares_share), hw:cores_per_socket, vmware:hw_version,
 * hw_video:ram_max_mb, hw:boot_menu, vmware:storage_policy.  Image properties: vmware_ostype,
 * hw_vif_model, vmware_adaptertype, hw_firmware_type, os_secure_boot,
 * hw_video_ram, hw_boot_menu.
 *
 * fl_parse() and fl_image_parse() check what vcagent applies and refuse a
 * bad value with the spec's or property's name; keys it does not apply are
 * other drivers' and are left alone, as nova's VMware driver leaves them.
 * fl_check() refuses what is wrong only in combination.  Nothing is
 * allocated.
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
	struct fl_limits vif;		/* Mbit/s, each NIC's */
	int	cores_per_socket;	/* 0: unset */
	char	hw_version[12];		/* "" or vmx-NN */
	int	video_ram_max_mb;	/* hw_video:ram_max_mb; 0: none allowed */
	int	boot_menu;		/* hw:boot_menu: 0 unset, 1 yes, -1 no */
	char	storage_policy[256];	/* vmware:storage_policy; "" unset */
};

/* os_secure_boot */
enum fl_secure_boot { FL_SB_UNSET, FL_SB_REQUIRED, FL_SB_OPTIONAL, FL_SB_DISABLED };

struct fl_image {
	char	os_type[64];		/* vmware_ostype (a guest id); "" unset */
	char	vif_model[16];		/* hw_vif_model; "" : by guest */
	char	adapter[32];		/* vmware_adaptertype; "" : the cached disk's */
	char	firmware[8];		/* hw_firmware_type: "", "bios", "efi" */
	enum fl_secure_boot secure_boot;
	int	video_ram_mb;		/* hw_video_ram; 0 unset */
	int	boot_menu;		/* hw_boot_menu: 0 unset, 1 yes, -1 no */
};

/* The boot delay hw:boot_menu asks for: time to open the boot menu. */
#define FL_BOOT_MENU_DELAY_MS	5000

/*
 * EXTRA (the flavor's extra_specs object, or NULL) for a flavor of VCPUS
 * into OUT.  0, or -1 with WHY (CTX first): the spec's name, its value and
 * what it must be.
 */
int fl_parse(json_t *extra, int vcpus, struct fl_specs *out, char *why, size_t wl,
    const char *ctx);
/* PROPS (the request's image_properties, or NULL) into OUT; as fl_parse(). */
int fl_image_parse(json_t *props, struct fl_image *out, char *why, size_t wl,
    const char *ctx);
/*
 * What is wrong only in combination: hw_video_ram over the flavor's
 * hw_video:ram_max_mb (nova's RequestedVRamTooHigh), os_secure_boot
 * required without UEFI firmware or below vmx-13, quota:vif_* on SR-IOV
 * NICs.  0, or -1 with WHY as fl_parse().
 */
int fl_check(const struct fl_specs *fl, const struct fl_image *im, char *why,
    size_t wl, const char *ctx);
/* Whether the boot menu is on: the flavor's hw:boot_menu, else the image's. */
bool fl_boot_menu(const struct fl_specs *fl, const struct fl_image *im);
/* Secure boot as vcdriver takes it (1 on, -1 off, 0 vCenter's): required
 * on, disabled off, optional on when the firmware is efi, the flavor's
 * hardware version (if set) is vmx-13 or later and the guest id supports
 * it (GUEST_SB: 1, 0, or -1 not told: on), off otherwise. */
int fl_secure_boot(const struct fl_specs *fl, const struct fl_image *im,
    int guest_sb);

/* L as vcdriver's allocation, into OUT; NULL when L was not given. */
const struct vcd_alloc *fl_alloc(const struct fl_limits *l, struct vcd_alloc *out);

#endif
