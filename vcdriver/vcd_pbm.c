/*
 * vcd_pbm.c - storage policies (SPBM), as nova's pbm_enabled uses them: a
 * policy found by name, and which of a cluster's datastores comply with it.
 *
 * The PBM service is on vCenter's own endpoint (/pbm/sdk, pbm.spec); its
 * service content is read once per session.  A name is looked up as
 * oslo.vmware does it: PbmQueryProfile lists the storage requirement
 * profiles' ids, PbmRetrieveContent gives their names.  A found name is
 * kept (a policy's id never changes; a policy deleted later makes the
 * vCenter call that uses it fail, naming it).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vcd_int.h"
#include "vim_gen.h"

#define VCD_PBM_CACHE	32

static struct vcd_pbm_known {
	char	base[300];		/* the vCenter's https://host:port */
	char	name[VCD_PBM_NAMELEN];
	char	id[VCD_PBM_IDLEN];
} vcd_pbm_cache[VCD_PBM_CACHE];
static size_t vcd_pbm_next;
static pthread_mutex_t vcd_pbm_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
vcd_pbm_cached(const struct vcd_session *s, const char *name, char *id)
{
	bool hit = false;

	pthread_mutex_lock(&vcd_pbm_lock);
	for (size_t i = 0; i < VCD_PBM_CACHE && !hit; i++)
		if (strcmp(vcd_pbm_cache[i].base, s->base) == 0 &&
		    strcmp(vcd_pbm_cache[i].name, name) == 0) {
			memcpy(id, vcd_pbm_cache[i].id, VCD_PBM_IDLEN);
			hit = true;
		}
	pthread_mutex_unlock(&vcd_pbm_lock);
	return hit;
}

static void
vcd_pbm_keep(const struct vcd_session *s, const char *name, const char *id)
{
	struct vcd_pbm_known *k;

	if (strlen(s->base) >= sizeof(k->base) || strlen(name) >= sizeof(k->name) ||
	    strlen(id) >= sizeof(k->id))
		return;
	pthread_mutex_lock(&vcd_pbm_lock);
	k = &vcd_pbm_cache[vcd_pbm_next++ % VCD_PBM_CACHE];
	snprintf(k->base, sizeof(k->base), "%s", s->base);
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->id, sizeof(k->id), "%s", id);
	pthread_mutex_unlock(&vcd_pbm_lock);
}

/* The PBM service's managers, read once per session. */
static int
vcd_pbm_content(struct vcd_session *s, struct vcd_err *err)
{
	struct vim_req_PbmRetrieveServiceContent req;
	struct vim_resp_PbmRetrieveServiceContent *resp;
	struct vcd_moref si = { "PbmServiceInstance", "ServiceInstance" };
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	pthread_mutex_lock(&s->pbm_lock);
	if (s->pbm_profile_manager.value[0] != '\0') {
		ret = 0;
		goto out;
	}
	vim_init(&req, &vim_type_req_PbmRetrieveServiceContent);
	req._this = &si;
	if (vcd_invoke(s, &vim_method_PbmRetrieveServiceContent, &req, &a,
	    (void **)&resp, err) < 0)
		goto out;
	if (resp->returnval == NULL || resp->returnval->profileManager == NULL ||
	    resp->returnval->placementSolver == NULL) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, "PbmServiceInstance",
		    "the storage policy service named no profile manager or "
		    "placement solver");
		goto out;
	}
	s->pbm_profile_manager = *resp->returnval->profileManager;
	s->pbm_placement_solver = *resp->returnval->placementSolver;
	ret = 0;
out:
	pthread_mutex_unlock(&s->pbm_lock);
	vim_arena_free(&a);
	return ret;
}

int
vcd_pbm_profile(struct vcd_session *s, const char *name, char *id,
    struct vcd_err *err)
{
	struct vim_req_PbmQueryProfile q;
	struct vim_resp_PbmQueryProfile *qr;
	struct vim_req_PbmRetrieveContent rc;
	struct vim_resp_PbmRetrieveContent *rr;
	struct vim_PbmProfileResourceType rt;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	vcd_err_clear(err);
	id[0] = '\0';
	if (vcd_pbm_cached(s, name, id))
		return 0;
	if (vcd_pbm_content(s, err) < 0)
		goto out;
	vim_init(&rt, &vim_type_PbmProfileResourceType);
	rt.resourceType = "STORAGE";
	vim_init(&q, &vim_type_req_PbmQueryProfile);
	q._this = &s->pbm_profile_manager;
	q.resourceType = &rt;
	q.profileCategory = "REQUIREMENT";
	if (vcd_invoke(s, &vim_method_PbmQueryProfile, &q, &a, (void **)&qr, err) < 0)
		goto out;
	if (qr->returnval.len > 0) {
		vim_init(&rc, &vim_type_req_PbmRetrieveContent);
		rc._this = &s->pbm_profile_manager;
		rc.profileIds = qr->returnval;
		if (vcd_invoke(s, &vim_method_PbmRetrieveContent, &rc, &a,
		    (void **)&rr, err) < 0)
			goto out;
		for (size_t i = 0; i < rr->returnval.len; i++) {
			const struct vim_PbmProfile *p = rr->returnval.v[i];

			if (p != NULL && p->name != NULL && strcmp(p->name, name) == 0 &&
			    p->profileId != NULL && p->profileId->uniqueId != NULL &&
			    strlen(p->profileId->uniqueId) < VCD_PBM_IDLEN) {
				snprintf(id, VCD_PBM_IDLEN, "%s", p->profileId->uniqueId);
				break;
			}
		}
	}
	if (id[0] == '\0') {
		vcd_err_set(err, VCD_E_NOTFOUND, "PbmProfileNotFound", name,
		    "storage policy \"%s\" is not one of the %zu storage policies "
		    "vCenter has (PbmQueryProfile, PbmRetrieveContent)", name,
		    qr->returnval.len);
		goto out;
	}
	vcd_pbm_keep(s, name, id);
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}

int
vcd_pbm_matching(struct vcd_session *s, const char *profile_id,
    const struct vcd_moref *ds, size_t n, bool *ok, struct vcd_err *err)
{
	struct vim_req_PbmQueryMatchingHub req;
	struct vim_resp_PbmQueryMatchingHub *resp;
	struct vim_PbmProfileId pid;
	struct vim_PbmPlacementHub *hubs = NULL, **hubv = NULL;
	struct vim_arena a = VIM_ARENA_INIT;
	int ret = -1;

	vcd_err_clear(err);
	for (size_t i = 0; i < n; i++)
		ok[i] = false;
	if (n == 0)
		return 0;
	if (vcd_pbm_content(s, err) < 0)
		goto out;
	hubs = vim_alloc(&a, n * sizeof(*hubs));
	hubv = vim_alloc(&a, n * sizeof(*hubv));
	for (size_t i = 0; i < n; i++) {
		vim_init(&hubs[i], &vim_type_PbmPlacementHub);
		hubs[i].hubType = "Datastore";
		hubs[i].hubId = (char *)ds[i].value;
		hubv[i] = &hubs[i];
	}
	vim_init(&pid, &vim_type_PbmProfileId);
	pid.uniqueId = (char *)profile_id;
	vim_init(&req, &vim_type_req_PbmQueryMatchingHub);
	req._this = &s->pbm_placement_solver;
	req.hubsToSearch.v = hubv;
	req.hubsToSearch.len = n;
	req.profile = &pid;
	if (vcd_invoke(s, &vim_method_PbmQueryMatchingHub, &req, &a, (void **)&resp,
	    err) < 0)
		goto out;
	for (size_t j = 0; j < resp->returnval.len; j++) {
		const struct vim_PbmPlacementHub *h = resp->returnval.v[j];

		for (size_t i = 0; h != NULL && h->hubId != NULL && i < n; i++)
			if (strcmp(h->hubId, ds[i].value) == 0 &&
			    (h->hubType == NULL || strcmp(h->hubType, "Datastore") == 0))
				ok[i] = true;
	}
	ret = 0;
out:
	vim_arena_free(&a);
	return ret;
}
