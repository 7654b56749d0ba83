/*
 * ops_pbm.c - where a new VM goes when placement follows storage policies
 * (nova's pbm_enabled, pbm_default_policy and the vmware:storage_policy
 * extra spec).
 *
 * The policy is the flavor's, else the default one.  Its id comes from the
 * PBM service (kept once found); the cluster's usable datastores (as the
 * last resource refresh saw them: accessible, not in maintenance, matching
 * datastore_regex) go to PbmQueryMatchingHub in one call, and among those
 * that comply the one with the most free space wins, as nova picks it.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "xmalloc.h"

int
ops_pbm_policy(struct agent *a, const struct cfg *cfg, const char *policy,
    const char *who, char *profile, struct vcd_err *err)
{
	profile[0] = '\0';
	if (!cfg->vmware.pbm_enabled) {
		vcd_err_set(err, VCD_E_INVALID, "PbmDisabled", policy, "%s asks for "
		    "storage policy \"%s\", but placement by storage policy is off "
		    "(vmware.pbm_enabled)", who, policy);
		return -1;
	}
	return vcd_pbm_profile(a->vc, policy, profile, err);
}

int
ops_pbm_place(struct agent *a, struct agent_cluster *c, const char *asked,
    const char *who, const struct cfg *cfg, char *ds, size_t dslen, char *profile,
    struct vcd_err *err)
{
	const char *policy = asked != NULL && asked[0] != '\0' ? asked :
	    cfg->vmware.pbm_enabled ? cfg->vmware.pbm_default_policy : NULL;
	struct vcd_res_ds *dsv = NULL;
	struct vcd_moref *refs = NULL;
	bool *ok = NULL;
	char cluster[256];
	int n = 0, best = -1, ret = -1;

	vcd_err_clear(err);
	ds[0] = profile[0] = '\0';
	if (policy == NULL)
		return 0;
	if (ops_pbm_policy(a, cfg, policy, who, profile, err) < 0)
		goto out;
	dsv = xcalloc(VCD_RES_MAXDS, sizeof(*dsv));
	pthread_mutex_lock(&a->lock);
	snprintf(cluster, sizeof(cluster), "%s", c->name);
	if (c->have_res) {
		n = c->res.nds;
		memcpy(dsv, c->res.ds, (size_t)n * sizeof(*dsv));
	}
	pthread_mutex_unlock(&a->lock);
	refs = xcalloc((size_t)n + 1, sizeof(*refs));
	ok = xcalloc((size_t)n + 1, sizeof(*ok));
	for (int i = 0; i < n; i++)
		refs[i] = dsv[i].ref;
	if (vcd_pbm_matching(a->vc, profile, refs, (size_t)n, ok, err) < 0)
		goto out;
	for (int i = 0; i < n; i++)
		if (ok[i] && (best < 0 || dsv[i].free_bytes > dsv[best].free_bytes))
			best = i;
	if (best < 0) {
		vcd_err_set(err, VCD_E_NOTFOUND, "DatastoreNotFound", policy,
		    "storage policy \"%s\" matches none of the %d usable datastores "
		    "of cluster \"%s\" (PbmQueryMatchingHub)", policy, n, cluster);
		goto out;
	}
	snprintf(ds, dslen, "%s", dsv[best].name);
	log_debug("storage policy \"%s\": datastore %s of cluster %s", policy, ds,
	    cluster);
	ret = 0;
out:
	if (ret < 0)
		profile[0] = '\0';
	free(dsv);
	free(refs);
	free(ok);
	return ret;
}
