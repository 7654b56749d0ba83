/*
 * ops_console.c - VNC consoles, as nova's VMware driver gives them: a
 * port per instance from [vmware] vnc_port .. vnc_port + vnc_port_total - 1,
 * set in the VM's RemoteDisplay.vnc.* extraConfig when it is made, and
 * get_console, which names the host the VM runs on and the port.
 *
 * The port is allocated in the instance's row: a unique index over the
 * live rows keeps two spawns (of any agent sharing the database) from
 * taking one port; the loser takes the next.  A spawn run again keeps the
 * port its row has.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vim.h"
#include "vcdriver/vim_gen.h"

int
ops_vnc_spawn(const struct cfg *cfg, PGconn *pg, const char *uuid,
    struct vim_arena *ar, struct vim_list_OptionValue *extra, struct vcd_err *err)
{
	int lo = cfg->vmware.vnc_port, hi = lo + cfg->vmware.vnc_port_total - 1;
	char los[16], his[16], why[512], state[6];
	const char *params[3] = { uuid, los, his };
	PGresult *res = NULL;
	int ret = -1, attempt;

	if (!cfg->vnc.enabled)
		return 0;
	if (hi > 65535)
		hi = 65535;
	snprintf(los, sizeof(los), "%d", lo);
	snprintf(his, sizeof(his), "%d", hi);
	/* a port another spawn took at the same moment: the next one */
	for (attempt = 0; attempt < 8; attempt++) {
		res = pgc_exec(pg, "UPDATE instances SET vnc_port = coalesce(vnc_port, "
		    "(SELECT p FROM generate_series($2::int, $3::int) p WHERE NOT EXISTS "
		    "(SELECT 1 FROM instances i WHERE i.vnc_port = p AND i.deleted_at IS "
		    "NULL) ORDER BY p LIMIT 1)) WHERE uuid = $1 RETURNING vnc_port", 3,
		    params, why, sizeof(why), state);
		if (res != NULL || strcmp(state, "23505") != 0)
			break;
	}
	if (res == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", uuid,
		    "instance %s: cannot allocate its VNC port: %s", uuid, why);
		goto out;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		vcd_err_set(err, VCD_E_INVALID, "ConsolePortRangeExhausted", uuid,
		    "instance %s: no free VNC port in %d-%d (vmware.vnc_port, "
		    "vmware.vnc_port_total): every one is an instance's", uuid, lo, hi);
		goto out;
	}
	vim_option_add(ar, extra, "RemoteDisplay.vnc.enabled", "true");
	vim_option_add(ar, extra, "RemoteDisplay.vnc.port", PQgetvalue(res, 0, 0));
	if (cfg->vmware.vnc_keymap != NULL && cfg->vmware.vnc_keymap[0] != '\0')
		vim_option_add(ar, extra, "RemoteDisplay.vnc.keyMap", cfg->vmware.vnc_keymap);
	ret = 0;
out:
	PQclear(res);
	return ret;
}

int
ops_console(struct agent *a, PGconn *pg, const struct req *r, struct agent_op *op)
{
	struct vcd_err *err = &op->err;
	struct vcd_moref vm;
	char why[512], host[256];
	const char *params[1] = { r->instance_uuid };
	bool looked_up = false;
	PGresult *res;
	int port = -1;

	if ((res = pgc_exec(pg, "SELECT vnc_port FROM instances WHERE uuid = $1 AND "
	    "deleted_at IS NULL", 1, params, why, sizeof(why), NULL)) == NULL) {
		vcd_err_set(err, VCD_E_TRANSPORT, "DatabaseUnavailable", r->instance_uuid,
		    "%s", why);
		return -1;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		port = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (port < 0) {
		vcd_err_set(err, VCD_E_INVALID, "ConsoleTypeUnavailable", r->instance_uuid,
		    "instance %s has no VNC console (vnc.enabled was off when it was "
		    "spawned, or it is not an instance of this database)", r->instance_uuid);
		return -1;
	}
	if (ops_vm(a, pg, r->instance_uuid, &vm, err) < 0)
		return -1;
	while (vcd_vm_host_name(a->vc, &vm, r->instance_uuid, host, sizeof(host),
	    err) < 0)
		if (!ops_vm_again(a, pg, r->instance_uuid, &vm, &looked_up, err))
			return -1;
	snprintf(op->vm, sizeof(op->vm), "%s", vm.value);
	op->detail_key = "console";
	op->detail = json_pack("{s:s, s:s, s:i}", "type", "vnc", "host", host, "port",
	    port);
	log_debug("instance %s: VNC console on %s:%d", r->instance_uuid, host, port);
	return 0;
}
