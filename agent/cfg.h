/*
 * cfg.h - vcagent's configuration: one YAML file, nova.conf-like.
 *
 * Sections: DEFAULT, vmware, image_cache, glance, kafka, database, health.
 * Option names and defaults follow nova where nova has the option.  Every
 * option is one row of the table in cfg.c: loading, checking, defaults and
 * printing all read that table.
 *
 * Ownership: cfg_load() returns a struct cfg the caller owns and releases with
 * cfg_free(); every string inside belongs to the struct.  Reload works the
 * relayd way: load a whole new struct cfg, and swap it in only if it loaded.
 */
#ifndef VC_CFG_H
#define VC_CFG_H

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
		int	 graceful_shutdown_timeout;
	} def;

	struct {
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
		int	 keepalive_interval;
	} vmware;

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
void cfg_free(struct cfg *cfg);

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
