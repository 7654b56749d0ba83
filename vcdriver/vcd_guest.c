/*
 * vcd_guest.c - guest ids, as a cluster's environment browser knows them.
 *
 * QueryConfigOptionEx with spec.guestId = [ID] answers with ID's
 * GuestOsDescriptor alone when the id is one the hosts know, and with every
 * descriptor when it is not (the vSphere API reference says so of the
 * filter), so one call tells a valid id from an invalid one.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vcd_int.h"
#include "vim_gen.h"

int
vcd_guest_os(struct vcd_session *s, const struct vcd_moref *env,
    const char *cluster, const char *guest_id, struct vcd_guest_os *out,
    struct vcd_err *err)
{
	struct vim_req_QueryConfigOptionEx req;
	struct vim_resp_QueryConfigOptionEx *resp;
	struct vim_EnvironmentBrowserConfigOptionQuerySpec spec;
	struct vim_arena a = VIM_ARENA_INIT;
	const struct vim_GuestOsDescriptor *d = NULL;
	char *ids[1] = { (char *)guest_id };
	int ret = -1;

	vcd_err_clear(err);
	memset(out, 0, sizeof(*out));
	out->secure_boot = -1;
	if (env == NULL || env->value[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "NotFound", cluster, "cluster %s has no "
		    "environment browser to check guest id \"%s\" against", cluster,
		    guest_id);
		goto out;
	}
	vim_init(&spec, &vim_type_EnvironmentBrowserConfigOptionQuerySpec);
	spec.guestId.v = ids;
	spec.guestId.len = 1;
	vim_init(&req, &vim_type_req_QueryConfigOptionEx);
	req._this = (struct vcd_moref *)env;
	req.spec = &spec;
	if (vcd_invoke(s, &vim_method_QueryConfigOptionEx, &req, &a, (void **)&resp,
	    err) < 0) {
		if (err->object[0] == '\0')
			snprintf(err->object, sizeof(err->object), "%s", cluster);
		goto out;
	}
	for (size_t i = 0; resp->returnval != NULL &&
	    i < resp->returnval->guestOSDescriptor.len; i++) {
		const struct vim_GuestOsDescriptor *g =
		    resp->returnval->guestOSDescriptor.v[i];

		if (g != NULL && g->id != NULL && strcmp(g->id, guest_id) == 0) {
			d = g;
			break;
		}
	}
	if (d == NULL) {
		vcd_err_set(err, VCD_E_NOTFOUND, "InvalidGuestId", guest_id,
		    "guest id \"%s\" is not one the hosts of cluster %s know "
		    "(QueryConfigOptionEx lists no such GuestOsDescriptor)", guest_id,
		    cluster);
		goto out;
	}
	snprintf(out->full_name, sizeof(out->full_name), "%s",
	    d->fullName != NULL ? d->fullName : "");
	snprintf(out->family, sizeof(out->family), "%s",
	    d->family != NULL ? d->family : "");
	for (size_t i = 0; i < d->supportedFirmware.len; i++) {
		if (strcmp(d->supportedFirmware.v[i], "bios") == 0)
			out->firmware |= 1;
		else if (strcmp(d->supportedFirmware.v[i], "efi") == 0)
			out->firmware |= 2;
	}
	if (d->supportsSecureBoot.set)
		out->secure_boot = d->supportsSecureBoot.v ? 1 : 0;
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}
