/*
 * cfg.c - table-driven YAML configuration.
 *
 * Every option is one row of cfg_table: its section, name, type, where it
 * lives in struct cfg, its default (written as it would be in the YAML file,
 * and parsed by the same code), bounds, flags, and optional check and apply
 * hooks.  Loading, defaults, the required-option check, printing for
 * "vcagent -n" and applying all walk that one table, as Redis' config.c does.
 *
 * The file is read with libyaml's document loader so that every node keeps
 * its line and column; every error is reported as FILE:LINE:COLUMN and names
 * the option.  All errors in a file are reported, not just the first.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "pgc.h"
#include "vcdriver/vcdriver.h"
#include "xmalloc.h"

enum cfg_type {
	CFG_STR,	/* a scalar string; null/empty means unset */
	CFG_BOOL,
	CFG_INT,
	CFG_DOUBLE,
	CFG_STRLIST,	/* one scalar or a sequence of scalars */
	CFG_MAP,	/* a mapping of scalar to scalar */
};

#define CFG_REQUIRED	0x01	/* must be set (no default) */
#define CFG_SECRET	0x02	/* may come from {file: P} / {env: V}; masked */
#define CFG_CONNINFO	0x04	/* secret inside: mask only the password part */
#define CFG_LIVE	0x08	/* a reload applies it; without: restart-only */
#define CFG_BY_URI	0x10	/* vmware.uri can give it: refused with it */

struct cfg_opt;
typedef int (*cfg_check_fn)(const struct cfg *, const struct cfg_opt *,
    struct buf *why);
typedef void (*cfg_apply_fn)(const struct cfg *);

struct cfg_opt {
	const char	*section;
	const char	*name;
	enum cfg_type	 type;
	size_t		 off;
	const char	*def;		/* default, as YAML text; NULL: none */
	double		 min, max;	/* CFG_INT and CFG_DOUBLE */
	unsigned	 flags;
	cfg_check_fn	 check;		/* extra validation; 0 ok, -1 + why */
	cfg_apply_fn	 apply;		/* run by cfg_apply() */
};

static int cfg_check_regex(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_name(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_readable(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_proxy(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_bootstrap(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_clusters(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_topic(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_ip(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_text(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_telnet(const struct cfg *, const struct cfg_opt *, struct buf *);
static int cfg_check_pbm(const struct cfg *, const struct cfg_opt *, struct buf *);
static void cfg_apply_debug(const struct cfg *);
static void cfg_apply_log_file(const struct cfg *);

#define OFF(field)	offsetof(struct cfg, field)
#define NOLIM		0, 0

static const char *const cfg_sections[] = {
	"DEFAULT", "vmware", "vnc", "image_cache", "glance", "kafka", "database",
	"health", NULL
};

/*
 * The options.  Defaults follow nova (vmware, image_cache, glance, DEFAULT)
 * and oslo.db (database) where those have the option; the rest are vcagent's.
 * etc/vcagent.yaml documents each one.
 */
static const struct cfg_opt cfg_table[] = {
	{ "DEFAULT", "host", CFG_STR, OFF(def.host), NULL, NOLIM, 0, NULL, NULL },
	{ "DEFAULT", "my_ip", CFG_STR, OFF(def.my_ip), NULL, NOLIM, CFG_LIVE, cfg_check_ip, NULL },
	{ "DEFAULT", "debug", CFG_BOOL, OFF(def.debug), "false", NOLIM, CFG_LIVE, NULL, cfg_apply_debug },
	{ "DEFAULT", "log_file", CFG_STR, OFF(def.log_file), NULL, NOLIM, CFG_LIVE, NULL, cfg_apply_log_file },
	{ "DEFAULT", "max_concurrent_builds", CFG_INT, OFF(def.max_concurrent_builds), "10", 1, 1024, 0, NULL, NULL },
	{ "DEFAULT", "reserved_host_memory_mb", CFG_INT, OFF(def.reserved_host_memory_mb), "512", 0, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "reserved_host_disk_mb", CFG_INT, OFF(def.reserved_host_disk_mb), "0", 0, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "reserved_host_cpus", CFG_INT, OFF(def.reserved_host_cpus), "0", 0, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "cpu_allocation_ratio", CFG_DOUBLE, OFF(def.cpu_allocation_ratio), "4.0", 0.0001, 1000, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "ram_allocation_ratio", CFG_DOUBLE, OFF(def.ram_allocation_ratio), "1.0", 0.0001, 1000, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "disk_allocation_ratio", CFG_DOUBLE, OFF(def.disk_allocation_ratio), "1.0", 0.0001, 1000, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "update_resources_interval", CFG_INT, OFF(def.update_resources_interval), "60", 1, 86400, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "sync_power_state_interval", CFG_INT, OFF(def.sync_power_state_interval), "600", -1, 86400, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "resize_confirm_window", CFG_INT, OFF(def.resize_confirm_window), "0", 0, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "force_config_drive", CFG_BOOL, OFF(def.force_config_drive), "false", NOLIM, CFG_LIVE, NULL, NULL },
	{ "DEFAULT", "graceful_shutdown_timeout", CFG_INT, OFF(def.graceful_shutdown_timeout), "60", 0, 3600, 0, NULL, NULL },
	{ "DEFAULT", "cluster_lease_time", CFG_INT, OFF(def.cluster_lease_time), "60", 3, 3600, 0, NULL, NULL },

	{ "vmware", "uri", CFG_STR, OFF(vmware.uri), NULL, NOLIM, CFG_CONNINFO, NULL, NULL },
	{ "vmware", "host_ip", CFG_STR, OFF(vmware.host_ip), NULL, NOLIM, CFG_REQUIRED | CFG_BY_URI, NULL, NULL },
	{ "vmware", "host_port", CFG_INT, OFF(vmware.host_port), "443", 1, 65535, CFG_BY_URI, NULL, NULL },
	{ "vmware", "host_username", CFG_STR, OFF(vmware.host_username), NULL, NOLIM, CFG_REQUIRED | CFG_BY_URI, NULL, NULL },
	{ "vmware", "host_password", CFG_STR, OFF(vmware.host_password), NULL, NOLIM, CFG_REQUIRED | CFG_SECRET | CFG_BY_URI, NULL, NULL },
	{ "vmware", "ca_file", CFG_STR, OFF(vmware.ca_file), NULL, NOLIM, 0, cfg_check_readable, NULL },
	{ "vmware", "insecure", CFG_BOOL, OFF(vmware.insecure), "false", NOLIM, CFG_BY_URI, NULL, NULL },
	{ "vmware", "cluster_name", CFG_STRLIST, OFF(vmware.cluster_name), NULL, NOLIM, CFG_REQUIRED | CFG_BY_URI, cfg_check_clusters, NULL },
	{ "vmware", "datastore_regex", CFG_STR, OFF(vmware.datastore_regex), NULL, NOLIM, CFG_LIVE, cfg_check_regex, NULL },
	{ "vmware", "task_poll_interval", CFG_DOUBLE, OFF(vmware.task_poll_interval), "0.5", 0.01, 60, 0, NULL, NULL },
	{ "vmware", "task_timeout", CFG_DOUBLE, OFF(vmware.task_timeout), "3600", 1, 604800, 0, NULL, NULL },
	{ "vmware", "api_retry_count", CFG_INT, OFF(vmware.api_retry_count), "10", 0, 100, 0, NULL, NULL },
	{ "vmware", "maximum_objects", CFG_INT, OFF(vmware.maximum_objects), "100", 1, 100000, 0, NULL, NULL },
	{ "vmware", "use_linked_clone", CFG_BOOL, OFF(vmware.use_linked_clone), "true", NOLIM, CFG_LIVE, NULL, NULL },
	{ "vmware", "cache_prefix", CFG_STR, OFF(vmware.cache_prefix), NULL, NOLIM, 0, cfg_check_name, NULL },
	{ "vmware", "integration_bridge", CFG_STR, OFF(vmware.integration_bridge), NULL, NOLIM, CFG_LIVE, NULL, NULL },
	{ "vmware", "vlan_interface", CFG_STR, OFF(vmware.vlan_interface), "vmnic0", NOLIM, CFG_LIVE, NULL, NULL },
	{ "vmware", "vnc_port", CFG_INT, OFF(vmware.vnc_port), "5900", 1, 65535, CFG_LIVE, NULL, NULL },
	{ "vmware", "vnc_port_total", CFG_INT, OFF(vmware.vnc_port_total), "10000", 1, 65535, CFG_LIVE, NULL, NULL },
	{ "vmware", "vnc_keymap", CFG_STR, OFF(vmware.vnc_keymap), "en-us", NOLIM, CFG_LIVE, NULL, NULL },
	{ "vmware", "serial_port_service_uri", CFG_STR, OFF(vmware.serial_port_service_uri), NULL, NOLIM, CFG_LIVE, cfg_check_text, NULL },
	{ "vmware", "serial_port_proxy_uri", CFG_STR, OFF(vmware.serial_port_proxy_uri), NULL, NOLIM, CFG_LIVE, cfg_check_telnet, NULL },
	{ "vmware", "pbm_enabled", CFG_BOOL, OFF(vmware.pbm_enabled), "false", NOLIM, CFG_LIVE, cfg_check_pbm, NULL },
	{ "vmware", "pbm_default_policy", CFG_STR, OFF(vmware.pbm_default_policy), NULL, NOLIM, CFG_LIVE, cfg_check_text, NULL },
	{ "vnc", "enabled", CFG_BOOL, OFF(vnc.enabled), "false", NOLIM, CFG_LIVE, NULL, NULL },
	{ "vmware", "connection_pool_size", CFG_INT, OFF(vmware.connection_pool_size), "10", 1, 256, 0, NULL, NULL },
	{ "vmware", "image_transfer_timeout_secs", CFG_INT, OFF(vmware.image_transfer_timeout_secs), "7200", 1, 604800, 0, NULL, NULL },
	{ "vmware", "auto_answer", CFG_BOOL, OFF(vmware.auto_answer), "false", NOLIM, CFG_BY_URI, NULL, NULL },
	{ "vmware", "proxy", CFG_STR, OFF(vmware.proxy), NULL, NOLIM, CFG_CONNINFO | CFG_BY_URI, cfg_check_proxy, NULL },
	{ "vmware", "connect_timeout", CFG_DOUBLE, OFF(vmware.connect_timeout), "10", 0.1, 600, 0, NULL, NULL },
	{ "vmware", "call_timeout", CFG_DOUBLE, OFF(vmware.call_timeout), "300", 1, 86400, 0, NULL, NULL },
	{ "vmware", "call_deadline", CFG_DOUBLE, OFF(vmware.call_deadline), "600", 1, 86400, 0, NULL, NULL },
	{ "vmware", "keepalive_interval", CFG_INT, OFF(vmware.keepalive_interval), "300", 1, 86400, CFG_LIVE, NULL, NULL },

	{ "image_cache", "manager_interval", CFG_INT, OFF(image_cache.manager_interval), "2400", -1, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "image_cache", "subdirectory_name", CFG_STR, OFF(image_cache.subdirectory_name), "_base", NOLIM, 0, cfg_check_name, NULL },
	{ "image_cache", "remove_unused_base_images", CFG_BOOL, OFF(image_cache.remove_unused_base_images), "true", NOLIM, CFG_LIVE, NULL, NULL },
	{ "image_cache", "remove_unused_original_minimum_age_seconds", CFG_INT, OFF(image_cache.remove_unused_original_minimum_age_seconds), "86400", 0, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "image_cache", "remove_unused_resized_minimum_age_seconds", CFG_INT, OFF(image_cache.remove_unused_resized_minimum_age_seconds), "3600", 0, INT_MAX, CFG_LIVE, NULL, NULL },
	{ "image_cache", "purge_dry_run", CFG_BOOL, OFF(image_cache.purge_dry_run), "false", NOLIM, CFG_LIVE, NULL, NULL },
	{ "image_cache", "precache_concurrency", CFG_INT, OFF(image_cache.precache_concurrency), "1", 1, 64, CFG_LIVE, NULL, NULL },

	{ "glance", "api_servers", CFG_STRLIST, OFF(glance.api_servers), NULL, NOLIM, 0, NULL, NULL },
	{ "glance", "num_retries", CFG_INT, OFF(glance.num_retries), "3", 0, 100, 0, NULL, NULL },
	{ "glance", "cafile", CFG_STR, OFF(glance.cafile), NULL, NOLIM, 0, cfg_check_readable, NULL },
	{ "glance", "insecure", CFG_BOOL, OFF(glance.insecure), "false", NOLIM, 0, NULL, NULL },

	{ "kafka", "bootstrap_servers", CFG_STR, OFF(kafka.bootstrap_servers), NULL, NOLIM, CFG_REQUIRED, cfg_check_bootstrap, NULL },
	{ "kafka", "group_id", CFG_STR, OFF(kafka.group_id), "vcagent", NOLIM, 0, NULL, NULL },
	{ "kafka", "request_topic", CFG_STR, OFF(kafka.request_topic), "vcagent.requests", NOLIM, 0, cfg_check_topic, NULL },
	{ "kafka", "result_topic", CFG_STR, OFF(kafka.result_topic), "vcagent.results", NOLIM, 0, cfg_check_topic, NULL },
	{ "kafka", "dead_letter_topic", CFG_STR, OFF(kafka.dead_letter_topic), "vcagent.dead-letter", NOLIM, 0, cfg_check_topic, NULL },
	{ "kafka", "client_id", CFG_STR, OFF(kafka.client_id), NULL, NOLIM, 0, NULL, NULL },
	{ "kafka", "session_timeout_ms", CFG_INT, OFF(kafka.session_timeout_ms), "10000", 1000, 3600000, 0, NULL, NULL },
	{ "kafka", "heartbeat_interval_ms", CFG_INT, OFF(kafka.heartbeat_interval_ms), "3000", 100, 3600000, 0, NULL, NULL },
	{ "kafka", "properties", CFG_MAP, OFF(kafka.properties), NULL, NOLIM, 0, NULL, NULL },

	{ "database", "connection", CFG_STR, OFF(database.connection), NULL, NOLIM, CFG_REQUIRED | CFG_SECRET | CFG_CONNINFO, NULL, NULL },
	{ "database", "max_retries", CFG_INT, OFF(database.max_retries), "10", -1, INT_MAX, 0, NULL, NULL },
	{ "database", "retry_interval", CFG_INT, OFF(database.retry_interval), "10", 1, 3600, 0, NULL, NULL },
	{ "database", "max_pool_size", CFG_INT, OFF(database.max_pool_size), "5", 1, 1000, 0, NULL, NULL },
	{ "database", "max_overflow", CFG_INT, OFF(database.max_overflow), "50", -1, 10000, 0, NULL, NULL },
	{ "database", "pool_timeout", CFG_DOUBLE, OFF(database.pool_timeout), "30", 0.1, 3600, 0, NULL, NULL },

	{ "health", "bind_host", CFG_STR, OFF(health.bind_host), "127.0.0.1", NOLIM, 0, NULL, NULL },
	{ "health", "bind_port", CFG_INT, OFF(health.bind_port), "8799", 0, 65535, 0, NULL, NULL },
	{ "health", "token", CFG_STR, OFF(health.token), NULL, NOLIM, CFG_SECRET | CFG_LIVE, NULL, NULL },
};

#define CFG_NOPTS	(sizeof(cfg_table) / sizeof(cfg_table[0]))

/* Per-load state: the parsed document and what has been seen where. */
struct cfg_loader {
	const char	*name;
	yaml_document_t	 doc;
	struct buf	 errors;
	int		 nerrors;
	struct cfg	*cfg;
	bool		 set[CFG_NOPTS];
	yaml_mark_t	 where[CFG_NOPTS];	/* value position, when set */
	yaml_mark_t	 section_at[sizeof(cfg_sections) / sizeof(cfg_sections[0])];
	bool		 section_seen[sizeof(cfg_sections) / sizeof(cfg_sections[0])];
	yaml_mark_t	 end;
	bool		 uri_failed;	/* vmware.uri was refused: what it would
					 * give is not missing as well */
};

#define CFG_MAX_ERRORS	50

static void
cfg_error(struct cfg_loader *ld, yaml_mark_t at, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	if (ld->nerrors++ >= CFG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_printf(&ld->errors, "%s:%zu:%zu: %s\n", ld->name, at.line + 1,
	    at.column + 1, msg);
}

static void *
cfg_field(struct cfg *cfg, const struct cfg_opt *o)
{
	return (char *)cfg + o->off;
}

static const void *
cfg_cfield(const struct cfg *cfg, const struct cfg_opt *o)
{
	return (const char *)cfg + o->off;
}

static void
cfg_strlist_free(struct cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
cfg_map_free(struct cfg_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static void
cfg_opt_free(struct cfg *cfg, const struct cfg_opt *o)
{
	void *f = cfg_field(cfg, o);

	switch (o->type) {
	case CFG_STR:
		if (o->flags & (CFG_SECRET | CFG_CONNINFO))
			xfree_secret(*(char **)f);
		else
			free(*(char **)f);
		*(char **)f = NULL;
		break;
	case CFG_STRLIST:
		cfg_strlist_free(f);
		break;
	case CFG_MAP:
		cfg_map_free(f);
		break;
	default:
		break;
	}
}

struct cfg *
cfg_ref(struct cfg *cfg)
{
	atomic_fetch_add(&cfg->refs, 1);
	return cfg;
}

void
cfg_free(struct cfg *cfg)
{
	if (cfg == NULL || atomic_fetch_sub(&cfg->refs, 1) > 1)
		return;
	for (size_t i = 0; i < CFG_NOPTS; i++)
		cfg_opt_free(cfg, &cfg_table[i]);
	free(cfg->vmware.datacenter);	/* from vmware.uri, not an option */
	free(cfg->path);
	free(cfg);
}

static bool
cfg_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE)
		return false;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *
cfg_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/*
 * Parse one scalar TEXT as option O's type into FIELD.  Returns 0, or -1 with
 * a reason in WHY (never containing the text of a secret).
 */
static int
cfg_parse_scalar(const struct cfg_opt *o, const char *text, void *field,
    struct buf *why)
{
	char *end;
	long long ll;
	double d;

	switch (o->type) {
	case CFG_STR:
		*(char **)field = xstrdup(text);
		return 0;
	case CFG_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "True") ||
		    !strcmp(text, "yes") || !strcmp(text, "on")) {
			*(bool *)field = true;
			return 0;
		}
		if (!strcmp(text, "false") || !strcmp(text, "False") ||
		    !strcmp(text, "no") || !strcmp(text, "off")) {
			*(bool *)field = false;
			return 0;
		}
		buf_printf(why, "expected true or false, got \"%s\"", text);
		return -1;
	case CFG_INT:
		errno = 0;
		ll = strtoll(text, &end, 10);
		if (text[0] == '\0' || *end != '\0' || errno != 0) {
			buf_printf(why, "expected an integer, got \"%s\"", text);
			return -1;
		}
		if ((double)ll < o->min || (double)ll > o->max) {
			buf_printf(why, "%lld is out of range [%.0f, %.0f]", ll,
			    o->min, o->max);
			return -1;
		}
		*(int *)field = (int)ll;
		return 0;
	case CFG_DOUBLE:
		errno = 0;
		d = strtod(text, &end);
		if (text[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(d)) {
			buf_printf(why, "expected a number, got \"%s\"", text);
			return -1;
		}
		if (d < o->min || d > o->max) {
			buf_printf(why, "%g is out of range [%g, %g]", d, o->min,
			    o->max);
			return -1;
		}
		*(double *)field = d;
		return 0;
	case CFG_STRLIST: {
		struct cfg_strlist *l = field;
		cfg_strlist_free(l);
		l->v = xcalloc(1, sizeof(char *));
		l->v[0] = xstrdup(text);
		l->n = 1;
		return 0;
	}
	case CFG_MAP:
		buf_printf(why, "expected a mapping, got a scalar");
		return -1;
	}
	return -1;
}

/* Read a secret from a file: the first line, trailing newline removed. */
static char *
cfg_read_secret_file(const char *path, struct buf *why)
{
	FILE *f = NULL;
	char *line = NULL, *result = NULL;
	size_t cap = 0;
	ssize_t n;

	if ((f = fopen(path, "r")) == NULL) {
		buf_printf(why, "cannot read secret file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((n = getline(&line, &cap, f)) < 0) {
		buf_printf(why, "secret file %s is empty", path);
		goto out;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0) {
		buf_printf(why, "secret file %s is empty", path);
		goto out;
	}
	result = xstrdup(line);
out:
	if (line != NULL)
		xfree_secret(line);
	if (f != NULL)
		fclose(f);
	return result;
}

/*
 * A secret given indirectly: {file: PATH} or {env: NAME}.  Returns the
 * secret (caller frees) or NULL after reporting the error.
 */
static char *
cfg_load_indirect(struct cfg_loader *ld, const struct cfg_opt *o,
    yaml_node_t *map)
{
	yaml_node_pair_t *p;
	yaml_node_t *k, *v;
	const char *key, *val;
	struct buf why = BUF_INIT;
	char *secret = NULL;
	int npairs = (int)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);

	if (!(o->flags & CFG_SECRET)) {
		cfg_error(ld, map->start_mark, "%s.%s: expected a scalar, got a mapping",
		    o->section, o->name);
		goto out;
	}
	if (npairs != 1) {
		cfg_error(ld, map->start_mark, "%s.%s: expected a string, "
		    "{file: PATH} or {env: VARIABLE}", o->section, o->name);
		goto out;
	}
	p = map->data.mapping.pairs.start;
	k = yaml_document_get_node(&ld->doc, p->key);
	v = yaml_document_get_node(&ld->doc, p->value);
	if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
		cfg_error(ld, map->start_mark, "%s.%s: expected {file: PATH} or "
		    "{env: VARIABLE}", o->section, o->name);
		goto out;
	}
	key = (const char *)k->data.scalar.value;
	val = (const char *)v->data.scalar.value;
	if (strcmp(key, "file") == 0) {
		if ((secret = cfg_read_secret_file(val, &why)) == NULL)
			cfg_error(ld, v->start_mark, "%s.%s: %s", o->section,
			    o->name, buf_cstr(&why));
	} else if (strcmp(key, "env") == 0) {
		const char *e = getenv(val);
		if (e == NULL || e[0] == '\0')
			cfg_error(ld, v->start_mark, "%s.%s: environment variable "
			    "%s is not set", o->section, o->name, val);
		else
			secret = xstrdup(e);
	} else {
		cfg_error(ld, k->start_mark, "%s.%s: unknown secret source \"%s\" "
		    "(expected file or env)", o->section, o->name, key);
	}
out:
	buf_free(&why);
	return secret;
}

static void
cfg_load_list(struct cfg_loader *ld, const struct cfg_opt *o, yaml_node_t *seq,
    struct cfg_strlist *l)
{
	yaml_node_item_t *it;
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);

	cfg_strlist_free(l);
	l->v = xcalloc(n ? n : 1, sizeof(char *));
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = yaml_document_get_node(&ld->doc, *it);
		if (item->type != YAML_SCALAR_NODE || cfg_is_null(item)) {
			cfg_error(ld, item->start_mark, "%s.%s: list items must be "
			    "strings, got %s", o->section, o->name,
			    cfg_is_null(item) ? "null" : cfg_node_kind(item));
			continue;
		}
		l->v[l->n++] = xstrdup((const char *)item->data.scalar.value);
	}
}

static void
cfg_load_map(struct cfg_loader *ld, const struct cfg_opt *o, yaml_node_t *map,
    struct cfg_map *m)
{
	yaml_node_pair_t *p;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);

	cfg_map_free(m);
	m->v = xcalloc(n ? n : 1, sizeof(struct cfg_kv));
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE) {
			cfg_error(ld, k->start_mark, "%s.%s: entries must be "
			    "key: value strings", o->section, o->name);
			continue;
		}
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->v[i].key, (const char *)k->data.scalar.value)) {
				cfg_error(ld, k->start_mark, "%s.%s: duplicate key "
				    "\"%s\"", o->section, o->name, m->v[i].key);
				goto next;
			}
		m->v[m->n].key = xstrdup((const char *)k->data.scalar.value);
		m->v[m->n].value = xstrdup((const char *)v->data.scalar.value);
		m->n++;
next:		;
	}
}

static void
cfg_load_value(struct cfg_loader *ld, size_t idx, yaml_node_t *v)
{
	const struct cfg_opt *o = &cfg_table[idx];
	void *field = cfg_field(ld->cfg, o);
	struct buf why = BUF_INIT;

	if (cfg_is_null(v))
		goto out;	/* explicit null: keep the default */
	switch (v->type) {
	case YAML_SCALAR_NODE:
		if (cfg_parse_scalar(o, (const char *)v->data.scalar.value, field,
		    &why) < 0) {
			/* A secret's text never goes into an error message. */
			if (o->flags & (CFG_SECRET | CFG_CONNINFO))
				cfg_error(ld, v->start_mark, "%s.%s: invalid value",
				    o->section, o->name);
			else
				cfg_error(ld, v->start_mark, "%s.%s: %s", o->section,
				    o->name, buf_cstr(&why));
			goto out;
		}
		break;
	case YAML_SEQUENCE_NODE:
		if (o->type != CFG_STRLIST) {
			cfg_error(ld, v->start_mark, "%s.%s: expected %s, got a list",
			    o->section, o->name, o->type == CFG_MAP ? "a mapping" :
			    "a scalar");
			goto out;
		}
		cfg_load_list(ld, o, v, field);
		break;
	case YAML_MAPPING_NODE:
		if (o->type == CFG_MAP) {
			cfg_load_map(ld, o, v, field);
		} else if (o->type == CFG_STR) {
			char *s = cfg_load_indirect(ld, o, v);
			if (s == NULL)
				goto out;
			*(char **)field = s;
		} else {
			cfg_error(ld, v->start_mark, "%s.%s: expected a scalar, got "
			    "a mapping", o->section, o->name);
			goto out;
		}
		break;
	default:
		cfg_error(ld, v->start_mark, "%s.%s: empty value", o->section, o->name);
		goto out;
	}
	ld->set[idx] = true;
	ld->where[idx] = v->start_mark;
out:
	buf_free(&why);
}

static int
cfg_section_index(const char *name)
{
	for (int i = 0; cfg_sections[i] != NULL; i++)
		if (strcmp(cfg_sections[i], name) == 0)
			return i;
	return -1;
}

static void
cfg_load_section(struct cfg_loader *ld, const char *section, yaml_node_t *map)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
		const char *name;
		size_t i;

		if (k->type != YAML_SCALAR_NODE) {
			cfg_error(ld, k->start_mark, "%s: option names must be "
			    "strings", section);
			continue;
		}
		name = (const char *)k->data.scalar.value;
		for (i = 0; i < CFG_NOPTS; i++)
			if (!strcmp(cfg_table[i].section, section) &&
			    !strcmp(cfg_table[i].name, name))
				break;
		if (i == CFG_NOPTS) {
			cfg_error(ld, k->start_mark, "%s.%s: unknown option",
			    section, name);
			continue;
		}
		if (ld->set[i]) {
			cfg_error(ld, k->start_mark, "%s.%s: set twice (first at "
			    "line %zu)", section, name, ld->where[i].line + 1);
			continue;
		}
		cfg_load_value(ld, i, v);
	}
}

static void
cfg_load_root(struct cfg_loader *ld, yaml_node_t *root)
{
	yaml_node_pair_t *p;

	if (root == NULL)
		return;		/* empty file: the required check reports */
	if (root->type != YAML_MAPPING_NODE) {
		cfg_error(ld, root->start_mark, "the configuration must be a mapping "
		    "of sections (DEFAULT, vmware, ...), got %s", cfg_node_kind(root));
		return;
	}
	for (p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
		const char *name;
		int s;

		if (k->type != YAML_SCALAR_NODE) {
			cfg_error(ld, k->start_mark, "section names must be strings");
			continue;
		}
		name = (const char *)k->data.scalar.value;
		if ((s = cfg_section_index(name)) < 0) {
			cfg_error(ld, k->start_mark, "%s: unknown section (expected "
			    "DEFAULT, vmware, image_cache, glance, kafka, database "
			    "or health)", name);
			continue;
		}
		if (ld->section_seen[s]) {
			cfg_error(ld, k->start_mark, "%s: section appears twice", name);
			continue;
		}
		ld->section_seen[s] = true;
		ld->section_at[s] = k->start_mark;
		if (cfg_is_null(v))
			continue;
		if (v->type != YAML_MAPPING_NODE) {
			cfg_error(ld, v->start_mark, "%s: expected a mapping of "
			    "options, got %s", name, cfg_node_kind(v));
			continue;
		}
		cfg_load_section(ld, name, v);
	}
}

static ssize_t
cfg_index(const char *section, const char *name)
{
	for (size_t i = 0; i < CFG_NOPTS; i++)
		if (strcmp(cfg_table[i].section, section) == 0 &&
		    strcmp(cfg_table[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Option SECTION.NAME as given by vmware.uri (at AT): set, there. */
static void
cfg_by_uri(struct cfg_loader *ld, const char *name, yaml_mark_t at)
{
	ssize_t i = cfg_index("vmware", name);

	ld->set[i] = true;
	ld->where[i] = at;
}

/*
 * vmware.uri: what it gives goes into the options it stands for (host_ip,
 * host_port, cluster_name, and host_username, host_password, insecure,
 * auto_answer, proxy when it says them), which then count as set there;
 * one of those given too is refused where it is, naming both.
 */
static void
cfg_finish_uri(struct cfg_loader *ld)
{
	ssize_t u = cfg_index("vmware", "uri");
	struct cfg *c = ld->cfg;
	struct cfg_vpx v;
	struct buf why = BUF_INIT;
	yaml_mark_t at;
	bool clash = false;

	if (u < 0 || !ld->set[u])
		return;
	at = ld->where[u];
	for (size_t i = 0; i < CFG_NOPTS; i++) {
		const struct cfg_opt *o = &cfg_table[i];

		if (!(o->flags & CFG_BY_URI) || !ld->set[i])
			continue;
		/* the three that name the vCenter and cluster, always; the
		 * others only when the URI says them too (below) */
		if (strcmp(o->name, "host_ip") == 0 || strcmp(o->name, "host_port") == 0 ||
		    strcmp(o->name, "cluster_name") == 0) {
			cfg_error(ld, ld->where[i], "vmware.%s: vmware.uri (line %zu) names "
			    "the vCenter and the cluster: give one or the other", o->name,
			    at.line + 1);
			clash = true;
		}
	}
	ld->uri_failed = true;	/* until it is applied */
	if (cfg_vpx_parse(c->vmware.uri, &v, &why) < 0) {
		cfg_error(ld, at, "vmware.uri: %s", buf_cstr(&why));
		goto out;
	}
	if (clash)
		goto out;
#define CFG_URI_CLASH(name, given)						\
	if ((given) && ld->set[cfg_index("vmware", name)]) {			\
		cfg_error(ld, ld->where[cfg_index("vmware", name)], "vmware.%s: "	\
		    "vmware.uri (line %zu) says it too: give it once", name,	\
		    at.line + 1);						\
		goto out;							\
	}
	CFG_URI_CLASH("host_username", v.user != NULL);
	CFG_URI_CLASH("host_password", v.password != NULL);
	CFG_URI_CLASH("insecure", v.no_verify >= 0);
	CFG_URI_CLASH("auto_answer", v.auto_answer >= 0);
	CFG_URI_CLASH("proxy", v.proxy != NULL);
#undef CFG_URI_CLASH
	c->vmware.host_ip = v.host, v.host = NULL;
	c->vmware.host_port = v.port;
	c->vmware.datacenter = v.datacenter, v.datacenter = NULL;
	c->vmware.cluster_name.v = xcalloc(1, sizeof(char *));
	c->vmware.cluster_name.v[0] = v.cluster, v.cluster = NULL;
	c->vmware.cluster_name.n = 1;
	cfg_by_uri(ld, "host_ip", at);
	cfg_by_uri(ld, "host_port", at);
	cfg_by_uri(ld, "cluster_name", at);
	if (v.user != NULL) {
		c->vmware.host_username = v.user, v.user = NULL;
		cfg_by_uri(ld, "host_username", at);
	}
	if (v.password != NULL) {
		c->vmware.host_password = v.password, v.password = NULL;
		cfg_by_uri(ld, "host_password", at);
	}
	if (v.no_verify >= 0) {
		c->vmware.insecure = v.no_verify == 1;
		cfg_by_uri(ld, "insecure", at);
	}
	if (v.auto_answer >= 0) {
		c->vmware.auto_answer = v.auto_answer == 1;
		cfg_by_uri(ld, "auto_answer", at);
	}
	if (v.proxy != NULL) {
		c->vmware.proxy = v.proxy, v.proxy = NULL;
		cfg_by_uri(ld, "proxy", at);
	}
	ld->uri_failed = false;
out:
	cfg_vpx_free(&v);
	buf_free(&why);
}

/* Defaults for unset options, then vmware.uri, then required options, then
 * check hooks. */
static void
cfg_finish(struct cfg_loader *ld)
{
	struct buf why = BUF_INIT;

	for (size_t i = 0; i < CFG_NOPTS; i++) {
		const struct cfg_opt *o = &cfg_table[i];
		if (ld->set[i] || o->def == NULL)
			continue;
		if (cfg_parse_scalar(o, o->def, cfg_field(ld->cfg, o), &why) < 0)
			fatalx("built-in default of %s.%s is invalid: %s",
			    o->section, o->name, buf_cstr(&why));
	}
	cfg_finish_uri(ld);
	for (size_t i = 0; i < CFG_NOPTS; i++) {
		const struct cfg_opt *o = &cfg_table[i];
		int s = cfg_section_index(o->section);

		if ((o->flags & CFG_REQUIRED) && !ld->set[i] &&
		    !((o->flags & CFG_BY_URI) && ld->uri_failed)) {
			cfg_error(ld, ld->section_seen[s] ? ld->section_at[s] : ld->end,
			    "%s.%s: required option is missing", o->section, o->name);
			continue;
		}
		if (o->check == NULL || !ld->set[i])
			continue;
		buf_reset(&why);
		if (o->check(ld->cfg, o, &why) < 0)
			cfg_error(ld, ld->where[i], "%s.%s: %s", o->section, o->name,
			    buf_cstr(&why));
	}
	buf_free(&why);
}

static struct cfg *
cfg_load_parser(const char *name, yaml_parser_t *parser, char **errors)
{
	struct cfg_loader *ld = xcalloc(1, sizeof(*ld));
	struct cfg *cfg = NULL;
	bool have_doc = false;

	ld->name = name;
	ld->cfg = xcalloc(1, sizeof(struct cfg));
	atomic_init(&ld->cfg->refs, 1);
	if (!yaml_parser_load(parser, &ld->doc)) {
		yaml_mark_t at = parser->problem_mark;
		cfg_error(ld, at, "YAML syntax error: %s%s%s",
		    parser->problem ? parser->problem : "unknown",
		    parser->context ? " " : "", parser->context ? parser->context : "");
		goto out;
	}
	have_doc = true;
	ld->end = ld->doc.end_mark;
	cfg_load_root(ld, yaml_document_get_root_node(&ld->doc));
	cfg_finish(ld);
out:
	if (have_doc)
		yaml_document_delete(&ld->doc);
	if (ld->nerrors > CFG_MAX_ERRORS)
		buf_printf(&ld->errors, "%s: %d more errors not shown\n", name,
		    ld->nerrors - CFG_MAX_ERRORS);
	if (ld->nerrors == 0) {
		cfg = ld->cfg;
		cfg->path = xstrdup(name);
		*errors = NULL;
		buf_free(&ld->errors);
	} else {
		cfg_free(ld->cfg);
		*errors = buf_steal(&ld->errors);
	}
	free(ld);
	return cfg;
}

struct cfg *
cfg_load_string(const char *name, const char *text, size_t len, char **errors)
{
	yaml_parser_t parser;
	struct cfg *cfg;

	if (!yaml_parser_initialize(&parser))
		fatalx("out of memory initialising the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	cfg = cfg_load_parser(name, &parser, errors);
	yaml_parser_delete(&parser);
	return cfg;
}

struct cfg *
cfg_load(const char *path, char **errors)
{
	yaml_parser_t parser;
	struct cfg *cfg = NULL;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		*errors = xasprintf("%s: cannot open: %s\n", path, strerror(errno));
		return NULL;
	}
	if (!yaml_parser_initialize(&parser))
		fatalx("out of memory initialising the YAML parser");
	yaml_parser_set_input_file(&parser, f);
	cfg = cfg_load_parser(path, &parser, errors);
	yaml_parser_delete(&parser);
	fclose(f);
	return cfg;
}

/* ---- check hooks ---- */

static const char *
cfg_str(const struct cfg *cfg, const struct cfg_opt *o)
{
	return *(char *const *)cfg_cfield(cfg, o);
}

/* A datastore_regex as the driver will use it: vcd_regex_compile() says
 * what it refuses (too long, or PCRE2's error and where). */
static int
cfg_check_regex(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	struct vcd_regex *re;
	char msg[320];

	if ((re = vcd_regex_compile(cfg_str(cfg, o), msg, sizeof(msg))) == NULL) {
		buf_printf(why, "%s", msg);
		return -1;
	}
	vcd_regex_free(re);
	return 0;
}

/* 0 if S has no control character, else -1 saying so in WHY. */
static int
cfg_no_cntrl(const char *s, struct buf *why)
{
	for (; *s != '\0'; s++)
		if (iscntrl((unsigned char)*s)) {
			buf_printf(why, "contains a control character");
			return -1;
		}
	return 0;
}

/* A name that becomes part of a datastore path: no separators or brackets. */
static int
cfg_check_name(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const char *s = cfg_str(cfg, o);

	if (strpbrk(s, "/\\[]") != NULL || strstr(s, "..") != NULL) {
		buf_printf(why, "\"%s\" must not contain '/', '\\', '[', ']' or '..' "
		    "(it names a datastore folder)", s);
		return -1;
	}
	return cfg_no_cntrl(s, why);
}

static int
cfg_check_readable(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const char *path = cfg_str(cfg, o);

	if (access(path, R_OK) != 0) {
		buf_printf(why, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* libcurl's proxy syntax: [scheme://][user:password@]host[:port]. */
static int
cfg_check_proxy(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	static const char *const schemes[] = { "http", "https", "socks4",
	    "socks4a", "socks5", "socks5h", NULL };
	const char *s = cfg_str(cfg, o), *sep = strstr(s, "://");

	if (sep != NULL) {
		size_t n = (size_t)(sep - s);
		int i;
		for (i = 0; schemes[i] != NULL; i++)
			if (strlen(schemes[i]) == n && !strncmp(s, schemes[i], n))
				break;
		if (schemes[i] == NULL) {
			buf_printf(why, "unsupported proxy scheme \"%.*s\" (expected "
			    "http, https, socks4, socks4a, socks5 or socks5h)",
			    (int)n, s);
			return -1;
		}
		s = sep + 3;
	}
	if (*s == '\0' || *s == ':' || *s == '@') {
		buf_printf(why, "the proxy has no host name");
		return -1;
	}
	return 0;
}

/* One line of text that goes into a VM's configuration: not empty, no
 * control characters. */
static int
cfg_check_text(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const char *s = cfg_str(cfg, o);

	if (*s == '\0') {
		buf_printf(why, "is empty (leave it out for none)");
		return -1;
	}
	return cfg_no_cntrl(s, why);
}

/* nova's serial_port_proxy_uri: a URI of scheme telnet or telnets. */
static int
cfg_check_telnet(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const char *s = cfg_str(cfg, o), *rest;

	if (cfg_check_text(cfg, o, why) < 0)
		return -1;
	if (strncmp(s, "telnet://", 9) == 0)
		rest = s + 9;
	else if (strncmp(s, "telnets://", 10) == 0)
		rest = s + 10;
	else {
		buf_printf(why, "\"%s\" is not a telnet:// or telnets:// URI", s);
		return -1;
	}
	if (*rest == '\0' || *rest == ':' || *rest == '/') {
		buf_printf(why, "\"%s\" has no host name", s);
		return -1;
	}
	return 0;
}

/* nova's PbmDefaultPolicyUnspecified: placement by policy needs a policy
 * for the flavors that name none. */
static int
cfg_check_pbm(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	(void)o;
	if (cfg->vmware.pbm_enabled && cfg->vmware.pbm_default_policy == NULL) {
		buf_printf(why, "is true, but vmware.pbm_default_policy is not set: "
		    "the storage policy for flavors without vmware:storage_policy");
		return -1;
	}
	return 0;
}

static int
cfg_check_bootstrap(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	char *copy = xstrdup(cfg_str(cfg, o)), *tok, *save = NULL;
	int rc = 0, n = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':'), *end;
		long port;

		while (isspace((unsigned char)*tok))
			tok++;
		if (colon == NULL || colon == tok) {
			buf_printf(why, "\"%s\" is not host:port", tok);
			rc = -1;
			goto out;
		}
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535) {
			buf_printf(why, "\"%s\" has an invalid port", tok);
			rc = -1;
			goto out;
		}
		n++;
	}
	if (n == 0) {
		buf_printf(why, "no broker given");
		rc = -1;
	}
out:
	free(copy);
	return rc;
}

static int
cfg_check_clusters(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const struct cfg_strlist *l = cfg_cfield(cfg, o);

	if (l->n == 0) {
		buf_printf(why, "at least one cluster is required");
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i][0] == '\0') {
			buf_printf(why, "cluster names must not be empty");
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(l->v[i], l->v[j])) {
				buf_printf(why, "cluster \"%s\" is listed twice", l->v[i]);
				return -1;
			}
	}
	return 0;
}

/* Kafka's legal topic names: [a-zA-Z0-9._-], 1 to 249 characters. */
static int
cfg_check_topic(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const char *s = cfg_str(cfg, o);
	size_t n = strlen(s);

	if (n == 0 || n > 249 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ||
	    !strcmp(s, ".") || !strcmp(s, "..")) {
		buf_printf(why, "\"%s\" is not a legal Kafka topic name "
		    "(letters, digits, '.', '_' and '-', at most 249)", s);
		return -1;
	}
	/* dead letters, results and requests each need a topic of their own */
	if (strcmp(o->name, "dead_letter_topic") == 0 && cfg->kafka.result_topic != NULL &&
	    cfg->kafka.request_topic != NULL && (strcmp(s, cfg->kafka.result_topic) == 0 ||
	    strcmp(s, cfg->kafka.request_topic) == 0)) {
		buf_printf(why, "\"%s\" is also the request or the result topic: dead "
		    "letters need a topic of their own", s);
		return -1;
	}
	return 0;
}

static int
cfg_check_ip(const struct cfg *cfg, const struct cfg_opt *o, struct buf *why)
{
	const char *s = cfg_str(cfg, o);
	unsigned char addr[16];

	if (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1) {
		buf_printf(why, "\"%s\" is not an IPv4 or IPv6 address", s);
		return -1;
	}
	return 0;
}

/* ---- reload ---- */

int
cfg_option_live(const char *section, const char *name)
{
	for (size_t i = 0; i < CFG_NOPTS; i++)
		if (!strcmp(cfg_table[i].section, section) &&
		    !strcmp(cfg_table[i].name, name))
			return (cfg_table[i].flags & CFG_LIVE) != 0;
	return -1;
}

static bool
cfg_str_equal(const char *x, const char *y)
{
	return x == NULL ? y == NULL : y != NULL && strcmp(x, y) == 0;
}

/* Do option O's values in X and Y differ? */
static bool
cfg_opt_differs(const struct cfg *x, const struct cfg *y, const struct cfg_opt *o)
{
	const void *fx = cfg_cfield(x, o), *fy = cfg_cfield(y, o);

	switch (o->type) {
	case CFG_STR:
		return !cfg_str_equal(*(char *const *)fx, *(char *const *)fy);
	case CFG_BOOL:
		return *(const bool *)fx != *(const bool *)fy;
	case CFG_INT:
		return *(const int *)fx != *(const int *)fy;
	case CFG_DOUBLE:
		return *(const double *)fx != *(const double *)fy;
	case CFG_STRLIST: {
		const struct cfg_strlist *lx = fx, *ly = fy;
		if (lx->n != ly->n)
			return true;
		for (size_t i = 0; i < lx->n; i++)
			if (strcmp(lx->v[i], ly->v[i]) != 0)
				return true;
		return false;
	}
	case CFG_MAP: {
		const struct cfg_map *mx = fx, *my = fy;
		if (mx->n != my->n)
			return true;
		for (size_t i = 0; i < mx->n; i++)
			if (strcmp(mx->v[i].key, my->v[i].key) != 0 ||
			    strcmp(mx->v[i].value, my->v[i].value) != 0)
				return true;
		return false;
	}
	}
	return true;
}

/* Option O of DST becomes a copy of SRC's. */
static void
cfg_opt_copy(struct cfg *dst, const struct cfg *src, const struct cfg_opt *o)
{
	const void *fs = cfg_cfield(src, o);
	void *fd = cfg_field(dst, o);

	cfg_opt_free(dst, o);
	switch (o->type) {
	case CFG_STR: {
		const char *s = *(char *const *)fs;
		*(char **)fd = s != NULL ? xstrdup(s) : NULL;
		break;
	}
	case CFG_BOOL:
		*(bool *)fd = *(const bool *)fs;
		break;
	case CFG_INT:
		*(int *)fd = *(const int *)fs;
		break;
	case CFG_DOUBLE:
		*(double *)fd = *(const double *)fs;
		break;
	case CFG_STRLIST: {
		const struct cfg_strlist *ls = fs;
		struct cfg_strlist *ld = fd;
		ld->v = xcalloc(ls->n > 0 ? ls->n : 1, sizeof(*ld->v));
		for (ld->n = 0; ld->n < ls->n; ld->n++)
			ld->v[ld->n] = xstrdup(ls->v[ld->n]);
		break;
	}
	case CFG_MAP: {
		const struct cfg_map *ms = fs;
		struct cfg_map *md = fd;
		md->v = xcalloc(ms->n > 0 ? ms->n : 1, sizeof(*md->v));
		for (md->n = 0; md->n < ms->n; md->n++) {
			md->v[md->n].key = xstrdup(ms->v[md->n].key);
			md->v[md->n].value = xstrdup(ms->v[md->n].value);
		}
		break;
	}
	}
}

void
cfg_reload_merge(struct cfg *next, const struct cfg *running, char **restart,
    char **live)
{
	struct buf r = BUF_INIT, l = BUF_INIT;

	for (size_t i = 0; i < CFG_NOPTS; i++) {
		const struct cfg_opt *o = &cfg_table[i];

		if (!cfg_opt_differs(next, running, o))
			continue;
		if (o->flags & CFG_LIVE) {
			buf_printf(&l, "%s%s.%s", l.len > 0 ? ", " : "", o->section, o->name);
			continue;
		}
		buf_printf(&r, "%s%s.%s", r.len > 0 ? ", " : "", o->section, o->name);
		cfg_opt_copy(next, running, o);
	}
	*restart = r.len > 0 ? buf_steal(&r) : NULL;
	*live = l.len > 0 ? buf_steal(&l) : NULL;
	buf_free(&r);
	buf_free(&l);
}

/* ---- apply hooks ---- */

static void
cfg_apply_debug(const struct cfg *cfg)
{
	log_set_level(cfg->def.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
}

static void
cfg_apply_log_file(const struct cfg *cfg)
{
	if (log_set_file(cfg->def.log_file) < 0)
		log_warn("cannot open log file %s", cfg->def.log_file);
}

void
cfg_apply(const struct cfg *cfg)
{
	for (size_t i = 0; i < CFG_NOPTS; i++)
		if (cfg_table[i].apply != NULL)
			cfg_table[i].apply(cfg);
}

/* ---- printing ---- */

static void
cfg_print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static bool
cfg_key_is_secret(const char *key)
{
	return strstr(key, "password") != NULL || strstr(key, "secret") != NULL ||
	    strstr(key, "token") != NULL || strstr(key, "key") != NULL;
}

/*
 * Mask the secrets of a libpq conninfo or URI (pgc_mask: password,
 * sslpassword, quoted or not) or of a proxy URL, with or without its
 * scheme ([scheme://][user:password@]host[:port]).  Caller frees.
 */
static char *
cfg_mask_conninfo(const char *s)
{
	const char *at = strrchr(s, '@'), *colon = strchr(s, ':');

	if (strstr(s, "://") != NULL || strchr(s, '=') != NULL)
		return pgc_mask(s);
	if (at != NULL && colon != NULL && colon < at)
		return xasprintf("%.*s********%s", (int)(colon + 1 - s), s, at);
	return xstrdup(s);
}

static void
cfg_print_value(FILE *out, const struct cfg *cfg, const struct cfg_opt *o)
{
	const void *f = cfg_cfield(cfg, o);

	switch (o->type) {
	case CFG_STR: {
		const char *s = *(char *const *)f;
		if (s == NULL) {
			fputs("null", out);
		} else if (o->flags & CFG_CONNINFO) {
			char *m = cfg_mask_conninfo(s);
			cfg_print_quoted(out, m);
			free(m);
		} else if (o->flags & CFG_SECRET) {
			fputs("\"********\"", out);
		} else {
			cfg_print_quoted(out, s);
		}
		break;
	}
	case CFG_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		break;
	case CFG_INT:
		fprintf(out, "%d", *(const int *)f);
		break;
	case CFG_DOUBLE:
		fprintf(out, "%g", *(const double *)f);
		break;
	case CFG_STRLIST: {
		const struct cfg_strlist *l = f;
		fputc('[', out);
		for (size_t i = 0; i < l->n; i++) {
			if (i > 0)
				fputs(", ", out);
			cfg_print_quoted(out, l->v[i]);
		}
		fputc(']', out);
		break;
	}
	case CFG_MAP: {
		const struct cfg_map *m = f;
		fputc('{', out);
		for (size_t i = 0; i < m->n; i++) {
			if (i > 0)
				fputs(", ", out);
			cfg_print_quoted(out, m->v[i].key);
			fputs(": ", out);
			if (cfg_key_is_secret(m->v[i].key))
				fputs("\"********\"", out);
			else
				cfg_print_quoted(out, m->v[i].value);
		}
		fputc('}', out);
		break;
	}
	}
}

void
cfg_print(const struct cfg *cfg, FILE *out)
{
	fprintf(out, "# effective configuration of %s (secrets masked)\n",
	    cfg->path != NULL ? cfg->path : "(none)");
	for (int s = 0; cfg_sections[s] != NULL; s++) {
		fprintf(out, "%s:\n", cfg_sections[s]);
		for (size_t i = 0; i < CFG_NOPTS; i++) {
			if (strcmp(cfg_table[i].section, cfg_sections[s]) != 0)
				continue;
			fprintf(out, "  %s: ", cfg_table[i].name);
			cfg_print_value(out, cfg, &cfg_table[i]);
			fputc('\n', out);
		}
	}
}

char *
cfg_warnings(const struct cfg *cfg)
{
	struct buf b = BUF_INIT;

	if (cfg->vmware.insecure && cfg->vmware.ca_file != NULL)
		buf_printf(&b, "vmware.insecure is ignored because vmware.ca_file "
		    "is set (as in nova)\n");
	else if (cfg->vmware.insecure)
		buf_printf(&b, "vmware.insecure is true: the vCenter TLS "
		    "certificate will not be verified\n");
	if (cfg->glance.insecure && cfg->glance.cafile == NULL)
		buf_printf(&b, "glance.insecure is true: the image service's TLS "
		    "certificate will not be verified\n");
	if (cfg->health.token == NULL)
		buf_printf(&b, "health.token is not set: operator endpoints that "
		    "change state are disabled\n");
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}
