/*
 * cdrive.c - config drives, with libisofs (see cdrive.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* struct burn_source, from libisofs's copy of it: no libburn here */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "cdrive.h"
#include "xmalloc.h"

#define CD_SECTOR	2048

struct cd_drive {
	IsoImage		*image;
	struct burn_source	*src;
	int64_t			 size;
	unsigned char		 sector[CD_SECTOR];	/* the one being handed out */
	size_t			 off, have;
};

static pthread_once_t cd_once = PTHREAD_ONCE_INIT;
static int cd_init_rc;

static void
cd_fini(void)
{
	iso_finish();
}

static void
cd_init(void)
{
	if ((cd_init_rc = iso_init()) >= 0) {
		/* its messages are ours to report, not stderr's */
		(void)iso_set_msgs_severities("NEVER", "NEVER", "libisofs");
		atexit(cd_fini);
	}
}

/* Add file NAME with the LEN bytes of DATA (copied) to DIR. */
static int
cd_file(IsoImage *img, IsoDir *dir, const char *name, const void *data, size_t len)
{
	unsigned char *copy = xmalloc(len > 0 ? len : 1);
	IsoStream *st = NULL;
	int rc;

	memcpy(copy, data, len);
	if ((rc = iso_memory_stream_new(copy, len, &st)) < 0) {
		free(copy);
		return rc;
	}
	if ((rc = iso_image_add_new_file(img, dir, name, st, NULL)) < 0)
		iso_stream_unref(st);
	return rc < 0 ? rc : 0;
}

/* Add NAME, the JSON J (NULL: {}), to DIR. */
static int
cd_json(IsoImage *img, IsoDir *dir, const char *name, const json_t *j)
{
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) :
	    xstrdup("{}");
	int rc;

	if (text == NULL)
		return ISO_OUT_OF_MEM;
	rc = cd_file(img, dir, name, text, strlen(text));
	free(text);
	return rc;
}

struct cd_drive *
cd_open(const struct cd_content *c, char *why, size_t wl)
{
	struct cd_drive *d = xcalloc(1, sizeof(*d));
	IsoWriteOpts *opts = NULL;
	IsoDir *os = NULL, *latest = NULL;
	json_t *meta = NULL;
	const char *step = "starting libisofs";
	int rc;

	pthread_once(&cd_once, cd_init);
	if ((rc = cd_init_rc) < 0)
		goto fail;
	step = "making the image";
	if ((rc = iso_image_new("config-2", &d->image)) < 0)
		goto fail;
	iso_image_set_application_id(d->image, "vcagent");
	if ((rc = iso_image_add_new_dir(d->image, iso_image_get_root(d->image),
	    "openstack", &os)) < 0 ||
	    (rc = iso_image_add_new_dir(d->image, os, "latest", &latest)) < 0)
		goto fail;
	/* nova's meta_data.json: what cloud-init reads first */
	meta = json_pack("{s:s, s:s, s:s, s:i, s:o, s:n}", "uuid", c->uuid, "name",
	    c->name, "hostname", c->name, "launch_index", 0, "meta", c->meta != NULL ?
	    json_deep_copy(c->meta) : json_object(), "availability_zone");
	if (meta == NULL) {
		rc = ISO_OUT_OF_MEM;
		goto fail;
	}
	if (c->public_keys != NULL && json_object_size(c->public_keys) > 0) {
		json_t *keys = json_array();
		const char *k;
		json_t *v;

		json_object_set(meta, "public_keys", (json_t *)c->public_keys);
		json_object_foreach((json_t *)c->public_keys, k, v)
			json_array_append_new(keys, json_pack("{s:s, s:s, s:O}", "name", k,
			    "type", "ssh", "data", v));
		json_object_set_new(meta, "keys", keys);
	}
	step = "adding its files";
	if ((rc = cd_json(d->image, latest, "meta_data.json", meta)) < 0 ||
	    (rc = cd_json(d->image, latest, "network_data.json", c->network_data)) < 0 ||
	    (rc = cd_json(d->image, latest, "vendor_data.json", c->vendor_data)) < 0)
		goto fail;
	if (c->user_data != NULL && (rc = cd_file(d->image, latest, "user_data",
	    c->user_data, c->user_data_len)) < 0)
		goto fail;
	/* as nova's genisoimage -J -r -V config-2 */
	step = "writing it";
	if ((rc = iso_write_opts_new(&opts, 1)) < 0)
		goto fail;
	(void)iso_write_opts_set_rockridge(opts, 1);
	(void)iso_write_opts_set_joliet(opts, 1);
	/* the volume id as written, "config-2", which guests look for by label
	 * (ECMA-119's d-characters would make it CONFIG_2) */
	(void)iso_write_opts_set_relaxed_vol_atts(opts, 1);
	if ((rc = iso_image_create_burn_source(d->image, opts, &d->src)) < 0)
		goto fail;
	d->size = (int64_t)d->src->get_size(d->src);
	iso_write_opts_free(opts);
	json_decref(meta);
	return d;
fail:
	snprintf(why, wl, "config drive: %s: libisofs error %d (%s)", step, rc,
	    iso_error_to_msg(rc));
	if (opts != NULL)
		iso_write_opts_free(opts);
	json_decref(meta);
	cd_close(d);
	return NULL;
}

int64_t
cd_size(const struct cd_drive *d)
{
	return d->size;
}

ssize_t
cd_read(struct cd_drive *d, char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n;

		if (d->off == d->have) {
			int rc = d->src->read_xt(d->src, d->sector, CD_SECTOR);

			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
			d->off = 0;
			d->have = (size_t)rc;
		}
		n = d->have - d->off < len - done ? d->have - d->off : len - done;
		memcpy(buf + done, d->sector + d->off, n);
		d->off += n;
		done += n;
	}
	return (ssize_t)done;
}

void
cd_close(struct cd_drive *d)
{
	if (d == NULL)
		return;
	if (d->src != NULL) {
		/* a reader that stops early ends the writer thread first */
		if (d->src->cancel != NULL)
			d->src->cancel(d->src);
		d->src->free_data(d->src);
		free(d->src);
	}
	if (d->image != NULL)
		iso_image_unref(d->image);
	free(d);
}

json_t *
cd_network_data(const json_t *ports)
{
	json_t *links = json_array(), *nets = json_array();
	size_t i;
	json_t *p;

	json_array_foreach((json_t *)ports, i, p) {
		const char *id = json_string_value(json_object_get(p, "id"));
		const char *mac = json_string_value(json_object_get(p, "mac"));
		char link[40], net[40];

		snprintf(link, sizeof(link), "tap%zu", i);
		snprintf(net, sizeof(net), "network%zu", i);
		json_array_append_new(links, json_pack("{s:s, s:s, s:s*, s:s*}", "id",
		    link, "type", "vif", "ethernet_mac_address", mac, "vif_id", id));
		json_array_append_new(nets, json_pack("{s:s, s:s, s:s, s:s*}", "id", net,
		    "type", "ipv4_dhcp", "link", link, "network_id", id));
	}
	return json_pack("{s:o, s:o, s:[]}", "links", links, "networks", nets,
	    "services");
}
