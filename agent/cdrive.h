/*
 * cdrive.h - a config drive: an ISO 9660 image (Rock Ridge and Joliet,
 * volume id "config-2") in the OpenStack metadata layout that cloud-init
 * and other guests read, as nova's configdrive builds it:
 *
 *   openstack/latest/meta_data.json
 *   openstack/latest/user_data          (when there is user data)
 *   openstack/latest/network_data.json
 *   openstack/latest/vendor_data.json
 *
 * The image is made by libisofs, which writes it as a stream read in
 * sectors: cd_read() hands it out in pieces (to an HTTP upload), so the
 * image is never whole in memory beyond the files' own bytes.
 *
 * Ownership: cd_open() returns a drive the caller closes with cd_close();
 * the content's strings and JSON are copied.
 */
#ifndef VC_CDRIVE_H
#define VC_CDRIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* What goes on the drive.  Borrowed. */
struct cd_content {
	const char		*uuid;
	const char		*name;		/* hostname and name */
	const json_t		*meta;		/* the instance's metadata: "meta" */
	const json_t		*public_keys;	/* name -> key, or NULL */
	const unsigned char	*user_data;	/* decoded; NULL: none */
	size_t			 user_data_len;
	const json_t		*network_data;	/* network_data.json; NULL: {} */
	const json_t		*vendor_data;	/* vendor_data.json; NULL: {} */
};

struct cd_drive;

/* The drive of C, or NULL with WHY (libisofs's error). */
struct cd_drive *cd_open(const struct cd_content *c, char *why, size_t wl);
/* Its size in bytes (a multiple of 2048). */
int64_t cd_size(const struct cd_drive *d);
/* Up to LEN bytes of the image into BUF: how many (0 at its end), or -1. */
ssize_t cd_read(struct cd_drive *d, char *buf, size_t len);
void cd_close(struct cd_drive *d);

/* nova's network_data.json for PORTS ({"id", "mac"} objects): a link per
 * port, DHCP on each.  Caller decrefs. */
json_t *cd_network_data(const json_t *ports);

#endif
