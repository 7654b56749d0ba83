/*
 * agent_sd.c - telling systemd how the agent is (Type=notify), with
 * libsystemd's sd_notify when the build has it:
 *
 *   READY=1     once, when the agent is ready as /readyz defines it
 *               (vCenter, the database, Kafka's partitions, the cluster
 *               leases, no held partition), checked at most once a second
 *               from the main loop until then;
 *   WATCHDOG=1  from the main loop, every half of WatchdogSec
 *               (sd_watchdog_enabled), so an agent whose loop hangs is
 *               restarted;
 *   STOPPING=1  when SIGTERM or SIGINT came;
 *   RELOADING=1 and READY=1 around a reload (SIGHUP).
 *
 * Without NOTIFY_SOCKET (not run by systemd) sd_notify does nothing, and
 * readiness is not polled.  A build without libsystemd does nothing either.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "agent.h"
#include "buf.h"
#include "log.h"

void
agent_sd_init(struct agent *a)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;

	/* not run by systemd: nobody to tell, so /readyz (a database round
	 * trip on the main loop) is not asked every second until ready */
	if (getenv("NOTIFY_SOCKET") == NULL)
		a->sd_ready = true;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		a->sd_watchdog = (double)usec / 1e6 / 2;
		log_info("systemd watchdog: a ping every %.1f s", a->sd_watchdog);
	}
#else
	(void)a;
#endif
}

void
agent_sd_tick(struct agent *a)
{
#ifdef HAVE_SYSTEMD
	double now = vcd_mono();

	if (a->sd_watchdog > 0 && now >= a->sd_next_ping) {
		a->sd_next_ping = now + a->sd_watchdog;
		(void)sd_notify(0, "WATCHDOG=1");
	}
	if (!a->sd_ready && now >= a->sd_next_check) {
		struct buf why = BUF_INIT;

		a->sd_next_check = now + 1;
		if (agent_http_readyz(a, &why) == 200) {
			a->sd_ready = true;
			(void)sd_notifyf(0, "READY=1\nSTATUS=serving %zu cluster(s)",
			    a->nclusters);
			log_info("systemd: ready");
		}
		buf_free(&why);
	}
#else
	(void)a;
#endif
}

void
agent_sd_notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	(void)sd_notify(0, state);
#else
	(void)state;
#endif
}
