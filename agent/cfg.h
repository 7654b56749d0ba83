/*
 * cfg.h - vcagent's configuration: one YAML file, nova.conf-like.
 *
 * Sections: DEFAULT, vmware, image_cache, glance, kafka, database, health.
 * Option names and defaults follow nova where nova has the option.  Every
 * option is one row of the table in cfg.c: loading, checking, defaults and
 * printing all read that table.
 *
 * Ownership: cfg_load() returns a struct cfg the caller owns and releases with
 * cfg_free(); every string inside belongs to the struct.  A struct cfg is
 * reference-counted: a thread that reads it keeps a reference (cfg_ref)
 * and releases it with cfg_free.  Reload works the relayd way: load a whole
 * new struct cfg, and swap it in only if it loaded; readers keep the
 * snapshot they hold until they release it.
 */
#ifndef VC_CFG_H
#define VC_CFG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cfg_strlist {
	char	**v;
	size_t	  n;
};

struct cfg_kv {
	char	*key;
	char	*value;
};

struct cfg_map {
	struct cfg_kv	*v;
	size_t		 n;
};

struct cfg {
	char	*path;			/* file it was read from */
	atomic_int refs;		/* cfg_ref(), cfg_free() */

	struct {
		char	*host;		/* NULL: the machine's host name */
		char	*my_ip;
		bool	 debug;
		char	*log_file;
		int	 max_concurrent_builds;
		int	 reserved_host_memory_mb;
		int	 reserved_host_disk_mb;
		int	 reserved_host_cpus;
		double	 cpu_allocation_ratio;
		double	 ram_allocation_ratio;
		double	 disk_allocation_ratio;
		int	 update_resources_interval;
		int	 sync_power_state_interval;
		bool	 force_config_drive;	/* every spawn gets a config drive */
		int	 resize_confirm_window;	/* s; 0: resizes wait for a confirm */
		int	 graceful_shutdown_timeout;
		int	 cluster_lease_time;	/* seconds */
	} def;

	struct {
		char	*uri;				/* vpx://...: the five below */
		char	*datacenter;			/* from uri; NULL: any */
		char	*host_ip;
		int	 host_port;
		char	*host_username;
		char	*host_password;		/* secret */
		char	*ca_file;
		bool	 insecure;
		struct cfg_strlist cluster_name;
		char	*datastore_regex;
		double	 task_poll_interval;
		double	 task_timeout;
		int	 api_retry_count;
		int	 maximum_objects;
		bool	 use_linked_clone;
		char	*cache_prefix;
		char	*integration_bridge;
		char	*vlan_interface;
		int	 connection_pool_size;
		int	 image_transfer_timeout_secs;
		bool	 auto_answer;
		char	*proxy;
		double	 connect_timeout;
		double	 call_timeout;
		double	 call_deadline;
		int	 keepalive_interval;
		int	 vnc_port;		/* the first VNC port */
		int	 vnc_port_total;	/* how many, from vnc_port */
		char	*vnc_keymap;
		char	*serial_port_service_uri;	/* a virtual serial port's
							 * concentrator; NULL: none */
		char	*serial_port_proxy_uri;		/* telnet(s):// */
		bool	 pbm_enabled;			/* placement by storage policy */
		char	*pbm_default_policy;		/* its name */
	} vmware;

	struct {
		bool	 enabled;		/* a VNC console per instance */
	} vnc;

	struct {
		int	 manager_interval;
		char	*subdirectory_name;
		bool	 remove_unused_base_images;
		int	 remove_unused_original_minimum_age_seconds;
		int	 remove_unused_resized_minimum_age_seconds;
		bool	 purge_dry_run;		/* log what would go, remove nothing */
		int	 precache_concurrency;
	} image_cache;

	struct {
		struct cfg_strlist api_servers;
		int	 num_retries;
		char	*cafile;
		bool	 insecure;
	} glance;

	struct {
		char	*bootstrap_servers;
		char	*group_id;
		char	*request_topic;
		char	*result_topic;
		char	*dead_letter_topic;
		char	*client_id;
		int	 session_timeout_ms;
		int	 heartbeat_interval_ms;
		struct cfg_map properties;	/* passed to librdkafka as is */
	} kafka;

	struct {
		char	*connection;		/* libpq conninfo or URI; secret */
		int	 max_retries;
		int	 retry_interval;
		int	 max_pool_size;		/* connections kept open */
		int	 max_overflow;		/* more while busy; -1: no cap */
		double	 pool_timeout;		/* seconds to wait for one */
	} database;

	struct {
		char	*bind_host;
		int	 bind_port;
		char	*token;			/* secret */
	} health;
};

/*
 * Load and check FILE.  On success returns a new struct cfg (caller frees with
 * cfg_free) and sets *errors to NULL.  On failure returns NULL and sets
 * *errors to a malloc'd text, one "FILE:LINE:COLUMN: message" per line, that
 * the caller frees.  No secret value ever appears in an error.
 */
struct cfg *cfg_load(const char *path, char **errors);
/* The same for a buffer; NAME is used in the messages. */
struct cfg *cfg_load_string(const char *name, const char *text, size_t len,
    char **errors);
/* Another reference to CFG (a reader's snapshot); cfg_free() releases it. */
struct cfg *cfg_ref(struct cfg *cfg);
/* Release one reference; the last one frees CFG and every string in it. */
void cfg_free(struct cfg *cfg);

/*
 * vmware.uri (cfg_uri.c), libvirt's vpx:// form: vpx://[user[:password]@]
 * vcenter[:port]/datacenter[/folder...]/cluster[?no_verify=0|1]
 * [&auto_answer=0|1][&proxy=[http|socks|socks4|socks4a|socks5://]host[:port]]
 * [&transport=https].  cfg_vpx_parse() fills V (strings owned; free with
 * cfg_vpx_free(); no_verify and auto_answer -1 when not given, port 443
 * when not given; proxy as curl takes it, "socks" as socks5) or returns -1
 * with WHY.
 */
struct cfg_vpx {
	char	*user, *password, *host, *datacenter, *cluster, *proxy;
	int	 port, no_verify, auto_answer;
};
struct buf;
int cfg_vpx_parse(const char *uri, struct cfg_vpx *v, struct buf *why);
void cfg_vpx_free(struct cfg_vpx *v);

/*
 * Reload.  Every option is live (a reload applies it) or restart-only (it
 * keeps the value the agent started with until a restart).
 * cfg_option_live(): 1 live, 0 restart-only, -1 no such option.
 */
int cfg_option_live(const char *section, const char *name);
/*
 * Make NEXT, just loaded, fit to replace RUNNING: every restart-only option
 * whose value differs takes RUNNING's value back.  *RESTART lists those
 * options ("section.name, ..."), *LIVE the live options that changed; each
 * is NULL when empty, otherwise the caller frees it.  Never a value: names.
 */
void cfg_reload_merge(struct cfg *next, const struct cfg *running, char **restart,
    char **live);

/* Print the effective configuration as YAML, secrets masked. */
void cfg_print(const struct cfg *cfg, FILE *out);
/*
 * Warnings about a configuration that loads but deserves attention
 * (insecure TLS, options that cancel each other); one line each, caller frees.
 */
char *cfg_warnings(const struct cfg *cfg);
/* Run the apply hooks of every option (log level, log file). */
void cfg_apply(const struct cfg *cfg);

#endif
