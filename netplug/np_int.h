/*
 * np_int.h - netplug internals: what a cluster's hosts know of networks.
 *
 * Ownership: np_view_load() fills a struct np_view that owns its arrays;
 * np_view_free() releases them.
 */
#ifndef NP_INT_H
#define NP_INT_H

#include "netplug.h"

struct np_hostpg {
	char	name[256];
	int	vlan;
	char	vswitch[64];
};

struct np_host {
	struct vcd_moref	 ref, netsys;	/* the host, its HostNetworkSystem */
	char			 name[256];
	char			 vlan_vswitch[64];	/* vSwitch of vlan_interface */
	struct np_hostpg	*pgs;
	size_t			 npgs;
};

struct np_view {
	char			 cluster_name[256];
	struct np_host		*hosts;
	size_t			 nhosts;
	struct np_network	*nets;
	size_t			 nnets;
};

/* Load CLUSTER's hosts and networks; VLAN_INTERFACE (may be NULL) names the
 * physical NIC whose vSwitch takes VLAN port groups. */
int np_view_load(struct vcd_session *s, const struct vcd_moref *cluster,
    const char *vlan_interface, struct np_view *v, struct vcd_err *err);
void np_view_free(struct np_view *v);
/* The network a port names: name, DVS port group key or opaque id. */
const struct np_network *np_view_find(const struct np_view *v, const char *name);

#endif
