/*
 * vcd_guest.c - guest ids, as a cluster's environment browser knows them.
 *
 * QueryConfigOptionEx with spec.guestId = [ID] answers with ID's
 * GuestOsDescriptor alone when the id is one the hosts know, and with every
 * descriptor when it is not (the vSphere API reference says so of the
 * filter), so one call tells a valid id from an invalid one.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vcd_int.h"
#include "vim_gen.h"

#define VCD_GUEST_CACHE	64

static struct vcd_guest_known {
	char			 env[80];
	char			 id[64];
	struct vcd_guest_os	 os;
} vcd_guest_cache[VCD_GUEST_CACHE];
static size_t vcd_guest_next;
static pthread_mutex_t vcd_guest_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
vcd_guest_cached(const char *env, const char *id, struct vcd_guest_os *out)
{
	bool hit = false;

	pthread_mutex_lock(&vcd_guest_lock);
	for (size_t i = 0; i < VCD_GUEST_CACHE && !hit; i++)
		if (strcmp(vcd_guest_cache[i].env, env) == 0 &&
		    strcmp(vcd_guest_cache[i].id, id) == 0 && id[0] != '\0') {
			*out = vcd_guest_cache[i].os;
			hit = true;
		}
	pthread_mutex_unlock(&vcd_guest_lock);
	return hit;
}

static void
vcd_guest_keep(const char *env, const char *id, const struct vcd_guest_os *os)
{
	struct vcd_guest_known *k;

	if (strlen(env) >= sizeof(k->env) || strlen(id) >= sizeof(k->id))
		return;
	pthread_mutex_lock(&vcd_guest_lock);
	k = &vcd_guest_cache[vcd_guest_next++ % VCD_GUEST_CACHE];
	snprintf(k->env, sizeof(k->env), "%s", env);
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->os = *os;
	pthread_mutex_unlock(&vcd_guest_lock);
}

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
	if (vcd_guest_cached(env->value, guest_id, out)) {
		ret = 0;
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
	vcd_guest_keep(env->value, guest_id, out);
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}
