/*
 * agent.h - the vcagent daemon: its state and its main loop.
 *
 * Ownership: struct agent owns its configuration and its vCenter session;
 * agent_free() releases both.
 */
#ifndef VC_AGENT_H
#define VC_AGENT_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "vcdriver/vcdriver.h"

struct agent_cluster {
	char			*name;		/* as configured */
	struct vcd_moref	 ref;		/* found in vCenter; value "" if not */
	char			*nodename;	/* "<moid>.<instanceUuid>" */
	int			 num_hosts;
	struct vcd_resources	 res;		/* last refresh */
	bool			 have_res;
};

struct agent {
	struct cfg		*cfg;		/* owned; swapped whole on reload */
	struct vcd_session	*vc;		/* owned */
	struct agent_cluster	*clusters;	/* owned, one per cluster_name */
	size_t			 nclusters;
	volatile sig_atomic_t	 stop, reload;
	time_t			 next_refresh;
};

/* Takes ownership of CFG. */
struct agent *agent_new(struct cfg *cfg);
void agent_free(struct agent *a);
/* Log in to vCenter and find the configured clusters.  0, or -1 (logged). */
int agent_connect(struct agent *a);
/* Run until a->stop; 0 on a clean shutdown. */
int agent_run(struct agent *a);

#endif
