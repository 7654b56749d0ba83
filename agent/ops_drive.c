/*
 * ops_drive.c - a spawn's config drive (nova's force_config_drive, or the
 * request's config_drive): built by cdrive.c, streamed to the datastore as
 * configdrive.iso in the VM's folder (its root disk's, wherever an earlier
 * attempt of the spawn put it; so it goes with the VM), and attached as a
 * CD-ROM on a free IDE unit, as nova's driver attaches it.  A VM that has
 * it already (a spawn run again) is left alone.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "cdrive.h"
#include "log.h"
#include "vcdriver/vcd_dspath.h"
#include "vcdriver/vim.h"
#include "xmalloc.h"

static ssize_t
ops_drive_read(char *buf, size_t len, void *arg)
{
	return cd_read(arg, buf, len);
}

/* A free (IDE controller key, unit), or -1. */
static int
ops_drive_unit(const struct ops_root *rt, int *unit)
{
	for (size_t c = 0; c < rt->nide; c++)
		if ((*unit = ops_unit_free(rt, rt->ide[c])) >= 0)
			return rt->ide[c];
	return -1;
}

int
ops_config_drive(struct agent *a, PGconn *pg, struct agent_cluster *c,
    const struct req *r, struct vcd_moref *vm, const char *ds, json_t *nics,
    struct vcd_err *err)
{
	struct vim_arena ar = VIM_ARENA_INIT;
	struct ops_root rt = { .a = &ar };
	struct cd_drive *d = NULL;
	json_t *keys = NULL, *net = NULL, *kp = json_object_get(r->raw, "key_pair");
	char why[512], dsname[256], *rel = NULL, *iso = NULL;
	int ret = -1, ctl, unit = 0;

	if (ops_root_read(a, pg, r->instance_uuid, vm, &rt, err) < 0)
		goto out;
	if (rt.file != NULL) {
		struct vcd_dspath dp = { NULL, NULL };
		const char *pwhy, *slash;

		if (vcd_dspath_parse(rt.file, &dp, &pwhy) == 0 &&
		    (slash = strrchr(dp.path, '/')) != NULL) {
			rel = xasprintf("%.*s/configdrive.iso", (int)(slash - dp.path),
			    dp.path);
			snprintf(dsname, sizeof(dsname), "%s", dp.datastore);
		}
		vcd_dspath_free(&dp);
	}
	if (rel == NULL) {	/* no disk in a folder: where the VM was made */
		rel = xasprintf("%s/configdrive.iso", r->instance_uuid);
		snprintf(dsname, sizeof(dsname), "%s", ds);
	}
	iso = xasprintf("[%s] %s", dsname, rel);
	if (rt.cdrom_file != NULL && strcmp(rt.cdrom_file, iso) == 0) {
		ret = 0;	/* attached by an earlier run */
		goto out;
	}
	if ((ctl = ops_drive_unit(&rt, &unit)) < 0) {
		vcd_err_set(err, VCD_E_INVALID, "NoFreeUnit", vm->value, "virtual machine "
		    "%s has no free IDE unit for its config drive", vm->value);
		goto out;
	}
	if (json_is_object(kp))
		keys = json_pack("{s:O}", json_string_value(json_object_get(kp, "name")),
		    json_object_get(kp, "public_key"));
	net = cd_network_data(nics);
	{
		struct cd_content cc = { r->instance_uuid, r->instance_name,
		    json_object_get(r->raw, "metadata"), keys, r->user_data,
		    r->user_data_len, net, json_object_get(r->raw, "vendor_data") };

		if ((d = cd_open(&cc, why, sizeof(why))) == NULL) {
			vcd_err_set(err, VCD_E_INVALID, "ConfigDriveFailed", r->instance_uuid,
			    "instance %s: %s", r->instance_uuid, why);
			goto out;
		}
	}
	if (vcd_ds_put(a->vc, c->pl.datacenter_name, dsname, rel, cd_size(d), ops_drive_read,
	    d, err) < 0)
		goto out;
	{
		struct vim_VirtualMachineConfigSpec *cs =
		    vim_new(&ar, &vim_type_VirtualMachineConfigSpec);
		struct vim_VirtualCdrom *cd = vim_new(&ar, &vim_type_VirtualCdrom);
		struct vim_VirtualCdromIsoBackingInfo *b = vim_new(&ar,
		    &vim_type_VirtualCdromIsoBackingInfo);

		b->base.fileName = iso;
		cd->base.key = VIM_INT(-1);
		cd->base.controllerKey = VIM_INT(ctl);
		cd->base.unitNumber = VIM_INT(unit);
		cd->base.backing = &b->base.base;
		vim_device_change(&ar, &cs->deviceChange, "add", NULL, &cd->base, true);
		if (vcd_vm_reconfigure(a->vc, vm, r->instance_uuid, cs, err) < 0)
			goto out;
	}
	log_info("spawn %s: config drive %s (%lld bytes) attached", r->instance_uuid,
	    iso, (long long)cd_size(d));
	ret = 0;
out:
	cd_close(d);
	json_decref(keys);
	json_decref(net);
	free(rel);
	free(iso);
	vim_arena_free(&ar);
	return ret;
}
