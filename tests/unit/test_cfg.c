/*
 * test_cfg.c - the YAML configuration loader: types, defaults, bounds,
 * unknown and missing options, secrets, and FILE:LINE:COLUMN in errors.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cfg.h"
#include "buf.h"
#include "pgc.h"

#define BASE_VMWARE \
	"vmware:\n" \
	"  host_ip: vc.example.org\n" \
	"  host_username: administrator@vsphere.local\n" \
	"  host_password: s3cr3t-PW\n" \
	"  cluster_name: Cluster1\n"
#define BASE_REST \
	"kafka:\n" \
	"  bootstrap_servers: 127.0.0.1:9092\n" \
	"database:\n" \
	"  connection: host=/run/pg dbname=vcagent user=vc password=dbpw\n"
#define BASE BASE_VMWARE BASE_REST

static struct cfg *
load(const char *text, char **errors)
{
	return cfg_load_string("t.yaml", text, strlen(text), errors);
}

/* Load TEXT, expect failure, and expect NEEDLE in the errors. */
static void
expect_error(const char *text, const char *needle)
{
	char *errors = NULL;
	struct cfg *cfg = load(text, &errors);

	if (cfg != NULL) {
		cfg_free(cfg);
		fail_msg("expected an error containing \"%s\"", needle);
	}
	assert_non_null(errors);
	if (strstr(errors, needle) == NULL)
		fail_msg("expected \"%s\" in:\n%s", needle, errors);
	free(errors);
}

static char *
print_to_string(const struct cfg *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cfg_print(cfg, f);
	fclose(f);
	return out;
}

static void
test_minimal_and_defaults(void **state)
{
	char *errors = NULL;
	struct cfg *cfg = load(BASE, &errors);

	(void)state;
	assert_non_null(cfg);
	assert_null(errors);
	assert_string_equal(cfg->vmware.host_ip, "vc.example.org");
	assert_int_equal(cfg->vmware.host_port, 443);
	assert_false(cfg->vmware.insecure);
	assert_true(cfg->vmware.use_linked_clone);
	assert_int_equal(cfg->vmware.api_retry_count, 10);
	assert_int_equal(cfg->vmware.maximum_objects, 100);
	assert_true(cfg->vmware.task_poll_interval > 0.49 &&
	    cfg->vmware.task_poll_interval < 0.51);
	assert_string_equal(cfg->vmware.vlan_interface, "vmnic0");
	assert_null(cfg->vmware.cache_prefix);
	assert_false(cfg->vmware.auto_answer);
	assert_int_equal(cfg->vmware.cluster_name.n, 1);
	assert_string_equal(cfg->vmware.cluster_name.v[0], "Cluster1");
	assert_int_equal(cfg->image_cache.manager_interval, 2400);
	assert_string_equal(cfg->image_cache.subdirectory_name, "_base");
	assert_true(cfg->image_cache.remove_unused_base_images);
	assert_int_equal(cfg->image_cache.remove_unused_original_minimum_age_seconds, 86400);
	assert_int_equal(cfg->def.reserved_host_memory_mb, 512);
	assert_int_equal(cfg->def.max_concurrent_builds, 10);
	assert_string_equal(cfg->kafka.group_id, "vcagent");
	assert_string_equal(cfg->kafka.request_topic, "vcagent.requests");
	assert_string_equal(cfg->health.bind_host, "127.0.0.1");
	assert_string_equal(cfg->path, "t.yaml");
	cfg_free(cfg);
}

static void
test_types_and_lists(void **state)
{
	char *errors = NULL;
	struct cfg *cfg = load(BASE_REST
	    "vmware:\n"
	    "  host_ip: 10.0.0.1\n"
	    "  host_port: 8443\n"
	    "  host_username: u\n"
	    "  host_password: p\n"
	    "  insecure: yes\n"
	    "  cluster_name: [C1, \"C 2\"]\n"
	    "  task_poll_interval: 1.25\n"
	    "  cache_prefix: node1\n"
	    "image_cache:\n"
	    "  remove_unused_base_images: false\n"
	    "glance:\n"
	    "  api_servers:\n"
	    "    - http://127.0.0.1:9292\n"
	    "    - http://127.0.0.2:9292\n"
	    "DEFAULT:\n"
	    "  debug: ~\n"
	    "  ram_allocation_ratio: 1.5\n", &errors);

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(cfg->vmware.host_port, 8443);
	assert_true(cfg->vmware.insecure);
	assert_int_equal(cfg->vmware.cluster_name.n, 2);
	assert_string_equal(cfg->vmware.cluster_name.v[1], "C 2");
	assert_true(cfg->vmware.task_poll_interval == 1.25);
	assert_string_equal(cfg->vmware.cache_prefix, "node1");
	assert_false(cfg->image_cache.remove_unused_base_images);
	assert_int_equal(cfg->glance.api_servers.n, 2);
	assert_string_equal(cfg->glance.api_servers.v[1], "http://127.0.0.2:9292");
	assert_false(cfg->def.debug);		/* explicit null keeps the default */
	assert_true(cfg->def.ram_allocation_ratio == 1.5);
	cfg_free(cfg);
}

static void
test_unknown_option_has_position(void **state)
{
	(void)state;
	/* line 6, column 3: the key "host_ipp" */
	expect_error(BASE_REST
	    "vmware:\n"
	    "  host_ipp: x\n", "t.yaml:6:3: vmware.host_ipp: unknown option");
	expect_error(BASE "nova:\n  x: 1\n", "t.yaml:10:1: nova: unknown section");
}

static void
test_wrong_types(void **state)
{
	(void)state;
	expect_error(BASE "health:\n  bind_port: eighty\n",
	    "t.yaml:11:14: health.bind_port: expected an integer, got \"eighty\"");
	expect_error(BASE "image_cache:\n  remove_unused_base_images: maybe\n",
	    "t.yaml:11:30: image_cache.remove_unused_base_images: expected true or false");
	expect_error(BASE "DEFAULT:\n  max_concurrent_builds: [1]\n",
	    "DEFAULT.max_concurrent_builds: expected a scalar, got a list");
	expect_error(BASE "kafka:\n  properties: x\n", "kafka: section appears twice");
	expect_error(BASE_VMWARE "kafka:\n  bootstrap_servers: a:1\n  properties: x\n"
	    "database:\n  connection: x\n",
	    "t.yaml:8:15: kafka.properties: expected a mapping, got a scalar");
	expect_error("- a\n- b\n", "t.yaml:1:1: the configuration must be a mapping");
}

static void
test_ranges(void **state)
{
	(void)state;
	expect_error(BASE_REST
	    "vmware:\n"
	    "  host_ip: a\n  host_username: u\n  host_password: p\n  cluster_name: c\n"
	    "  host_port: 70000\n",
	    "t.yaml:10:14: vmware.host_port: 70000 is out of range [1, 65535]");
	expect_error(BASE "DEFAULT:\n  cpu_allocation_ratio: 0\n",
	    "DEFAULT.cpu_allocation_ratio: 0 is out of range");
	expect_error(BASE "DEFAULT:\n  reserved_host_memory_mb: 99999999999\n",
	    "DEFAULT.reserved_host_memory_mb: 99999999999 is out of range");
}

static void
test_required(void **state)
{
	(void)state;
	expect_error(BASE_REST "vmware:\n  host_ip: a\n",
	    "t.yaml:5:1: vmware.host_username: required option is missing");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n",
	    "vmware.cluster_name: required option is missing");
	expect_error("", "kafka.bootstrap_servers: required option is missing");
}

static void
test_duplicates_and_syntax(void **state)
{
	(void)state;
	expect_error(BASE "health:\n  bind_port: 1\n  bind_port: 2\n",
	    "t.yaml:12:3: health.bind_port: set twice (first at line 11)");
	expect_error(BASE "health:\n  bind_port: [1\n",
	    "t.yaml:12:1: YAML syntax error");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: [a, a]\n",
	    "vmware.cluster_name: cluster \"a\" is listed twice");
}

static void
test_checks(void **state)
{
	(void)state;
	expect_error(BASE "vmware:\n  datastore_regex: \"(\"\n", "section appears twice");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  datastore_regex: \"(ds\"\n",
	    "t.yaml:10:20: vmware.datastore_regex: invalid regular expression at "
	    "offset 3: missing closing parenthesis");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  cache_prefix: a/b\n",
	    "vmware.cache_prefix: \"a/b\" must not contain");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  proxy: ftp://p:1\n",
	    "vmware.proxy: unsupported proxy scheme \"ftp\"");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  serial_port_service_uri: "
	    "vspc://c:13370\n  serial_port_proxy_uri: http://p:8080\n",
	    "t.yaml:11:26: vmware.serial_port_proxy_uri: \"http://p:8080\" is not a "
	    "telnet:// or telnets:// URI");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  serial_port_proxy_uri: telnets://\n",
	    "vmware.serial_port_proxy_uri: \"telnets://\" has no host name");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  serial_port_service_uri: \"\"\n",
	    "vmware.serial_port_service_uri: is empty");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n  ca_file: /nonexistent/ca.pem\n",
	    "vmware.ca_file: cannot read /nonexistent/ca.pem");
	expect_error(BASE_VMWARE "kafka:\n  bootstrap_servers: localhost\n"
	    "database:\n  connection: x\n",
	    "kafka.bootstrap_servers: \"localhost\" is not host:port");
	expect_error(BASE "glance:\n  insecure: true\n  num_retries: -1\n",
	    "glance.num_retries: -1 is out of range");
	/* dead letters' delivery reports are told from final events' by topic */
	expect_error(BASE_VMWARE "kafka:\n  bootstrap_servers: 127.0.0.1:9092\n"
	    "  dead_letter_topic: vcagent.results\ndatabase:\n  connection: x\n",
	    "kafka.dead_letter_topic: \"vcagent.results\" is also the request or the "
	    "result topic");
	expect_error(BASE_VMWARE "kafka:\n  bootstrap_servers: 127.0.0.1:9092\n"
	    "  request_topic: rq\n  dead_letter_topic: rq\ndatabase:\n  connection: x\n",
	    "kafka.dead_letter_topic: \"rq\" is also the request or the result topic");
}

#define RE_VMWARE BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n" \
	"  host_password: p\n  cluster_name: c\n  datastore_regex: "

/* Load RE_VMWARE followed by the regex RE single-quoted; the errors, or NULL. */
static char *
load_regex(const char *re)
{
	char text[2048], *errors = NULL;
	struct cfg *cfg;

	snprintf(text, sizeof(text), RE_VMWARE "'%s'\n", re);
	if ((cfg = load(text, &errors)) != NULL)
		cfg_free(cfg);
	return errors;
}

static void
expect_regex_loads(const char *re)
{
	char *errors = load_regex(re);

	if (errors != NULL)
		fail_msg("%s refused: %s", re, errors);
}

/* PRE, UNIT N times, then POST, into BUF (LEN bytes); BUF. */
static char *
repeat(char *buf, size_t len, const char *pre, const char *unit, int n,
    const char *post)
{
	snprintf(buf, len, "%s", pre);
	for (int i = 0; i < n; i++)
		strncat(buf, unit, len - strlen(buf) - 1);
	strncat(buf, post, len - strlen(buf) - 1);
	return buf;
}

/*
 * Regular expressions that glibc's regcomp() took gigabytes or minutes to
 * compile (found by tests/fuzz/fuzz_cfg): PCRE2 refuses the ones whose
 * program would be too large and compiles the others at once; usual ones
 * load.  Errors say where PCRE2 stopped.
 */
static void
test_regex_too_complex(void **state)
{
	static const char *const ok[] = {
		"^(LocalDS_[0-9]+|nfs-.*)$", "^ds[[:digit:]]{1,3}-(ssd|hdd)+$",
		"(ab){100}", "a{1000}", "[]+]+x+", "^(ds|nfs)-[a-z]{2,}-[0-9]+$",
		"(?i)^nfs\\d+", "(?P<kind>ssd|hdd)-(?P=kind)", "\\w+-é",
	};
	char re[1100], half[200], *errors;

	(void)state;
	/* stacked and nested repetitions: gigabytes in glibc */
	expect_error(RE_VMWARE "\"^(LocalDS_++++++++++++++++++++++++++++++++++++++++0)$\"\n",
	    "vmware.datastore_regex: invalid regular expression at offset 12: "
	    "quantifier does not follow a repeatable item");
	expect_error(RE_VMWARE "\"((a{255}){255}){255}\"\n",
	    "vmware.datastore_regex: invalid regular expression at offset 20: "
	    "regular expression is too large");
	expect_error(RE_VMWARE "\"a{2,}++++++++++++++++++++++++++++++++++++++++\"\n",
	    "vmware.datastore_regex: invalid regular expression at offset 6: "
	    "quantifier does not follow a repeatable item");
	/* nesting and length are bounded */
	expect_error(repeat(re, sizeof(re), RE_VMWARE "\"", "(", 65, "a\"\n"),
	    "vmware.datastore_regex: invalid regular expression at offset 65: "
	    "parentheses are too deeply nested");
	expect_regex_loads(repeat(half, sizeof(half), repeat(re, sizeof(re), "",
	    "(", 64, "a"), ")", 64, ""));
	memset(re, 'a', 1025);
	re[1025] = '\0';
	errors = load_regex(re);
	assert_non_null(errors);
	if (strstr(errors, "vmware.datastore_regex: regular expression too long "
	    "(1025 bytes; at most 1024)") == NULL)
		fail_msg("unexpected: %s", errors);
	free(errors);
	/* glibc's epsilon closures grow exponentially with the empty groups
	 * around an anchor or a word boundary ("$" and 22 "()*" took it 12 s,
	 * twice as long per group; the "^...$" and "\b...\<" ones over 30 s),
	 * and 2,000 "()*" took 25 s; PCRE2 compiles them at once (a hang here
	 * ends in the test's timeout) */
	expect_regex_loads(repeat(re, sizeof(re), "$", "()*", 40, ""));
	expect_regex_loads(repeat(re, sizeof(re), "^", "()*", 60, "$"));
	expect_regex_loads(repeat(re, sizeof(re), "()*()*\\b", "()*", 30, "\\<()*()*"));
	repeat(half, sizeof(half), "", "(a?)", 20, "$");
	expect_regex_loads(repeat(re, sizeof(re), half, "(a?)", 20, ""));
	expect_regex_loads(repeat(re, sizeof(re), "", "()*", 341, ""));
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		expect_regex_loads(ok[i]);
}

static void
test_secret_from_env_and_file(void **state)
{
	char path[] = "/tmp/vcagent-secret-XXXXXX", *errors = NULL, *printed;
	struct cfg *cfg;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "from-file-pw\n", 13), 13);
	close(fd);
	setenv("VCAGENT_TEST_DBCONN", "host=/x dbname=d password=envpw", 1);
	char *text = NULL;
	assert_true(asprintf(&text, BASE_REST
	    "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: {file: %s}\n  cluster_name: c\n"
	    "health:\n  token: {env: VCAGENT_TEST_DBCONN}\n", path) > 0);
	cfg = load(text, &errors);
	free(text);
	assert_non_null(cfg);
	assert_string_equal(cfg->vmware.host_password, "from-file-pw");
	assert_string_equal(cfg->health.token, "host=/x dbname=d password=envpw");

	/* printing masks every secret */
	printed = print_to_string(cfg);
	assert_null(strstr(printed, "from-file-pw"));
	assert_null(strstr(printed, "envpw"));
	assert_null(strstr(printed, "dbpw"));
	assert_non_null(strstr(printed, "host_password: \"********\""));
	assert_non_null(strstr(printed,
	    "connection: \"host=/run/pg dbname=vcagent user=vc password=********\""));
	free(printed);
	cfg_free(cfg);
	unlink(path);

	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: {env: VCAGENT_TEST_UNSET_VAR}\n  cluster_name: c\n",
	    "t.yaml:8:24: vmware.host_password: environment variable "
	    "VCAGENT_TEST_UNSET_VAR is not set");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: {file: /nonexistent/pw}\n  cluster_name: c\n",
	    "vmware.host_password: cannot read secret file /nonexistent/pw");
	expect_error(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: {vault: x}\n  cluster_name: c\n",
	    "unknown secret source \"vault\"");
	/* a non-secret option cannot come from a file */
	expect_error(BASE "health:\n  bind_host: {file: /etc/hostname}\n",
	    "health.bind_host: expected a scalar, got a mapping");
}

static void
test_secret_never_in_errors(void **state)
{
	char *errors = NULL;
	struct cfg *cfg;

	(void)state;
	/* a secret of the wrong shape: the message names the option only */
	cfg = load(BASE_REST "vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: [hunter2]\n  cluster_name: c\n", &errors);
	assert_null(cfg);
	assert_non_null(strstr(errors, "vmware.host_password"));
	assert_null(strstr(errors, "hunter2"));
	free(errors);
}

static void
test_uri_password_masked(void **state)
{
	char *errors = NULL, *printed;
	struct cfg *cfg = load(BASE_VMWARE "kafka:\n  bootstrap_servers: a:1\n"
	    "  properties:\n    sasl.password: kpw\n    linger.ms: \"5\"\n"
	    "database:\n  connection: postgresql://vc:uripw@db:5432/vcagent\n"
	    "health:\n  token: tok\n", &errors);

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(cfg->kafka.properties.n, 2);
	assert_string_equal(cfg->kafka.properties.v[1].key, "linger.ms");
	printed = print_to_string(cfg);
	assert_null(strstr(printed, "uripw"));
	assert_null(strstr(printed, "kpw"));
	assert_null(strstr(printed, "tok\""));
	assert_non_null(strstr(printed, "postgresql://vc:********@db:5432/vcagent"));
	assert_non_null(strstr(printed, "\"linger.ms\": \"5\""));
	free(printed);
	cfg_free(cfg);
}

/* vmware.uri, libvirt's vpx:// form: what it gives, its parameters. */
static void
test_vpx_uri(void **state)
{
	struct cfg_vpx v;
	struct buf why = BUF_INIT;

	(void)state;
	assert_int_equal(cfg_vpx_parse("vpx://administrator%40vsphere.local@vc.example."
	    "org/DC%201/Prod/Cluster1?no_verify=1&auto_answer=0&proxy=socks://p.example:"
	    "1080&transport=https", &v, &why), 0);
	assert_string_equal(v.user, "administrator@vsphere.local");
	assert_null(v.password);
	assert_string_equal(v.host, "vc.example.org");
	assert_int_equal(v.port, 443);
	assert_string_equal(v.datacenter, "DC 1");
	assert_string_equal(v.cluster, "Cluster1");
	assert_int_equal(v.no_verify, 1);
	assert_int_equal(v.auto_answer, 0);
	assert_string_equal(v.proxy, "socks5://p.example:1080");
	cfg_vpx_free(&v);
	assert_int_equal(cfg_vpx_parse("vpx://[fd00::5]:8443/DC/C/", &v, &why), 0);
	assert_string_equal(v.host, "fd00::5");
	assert_int_equal(v.port, 8443);
	assert_null(v.user);
	assert_int_equal(v.no_verify, -1);
	assert_int_equal(v.auto_answer, -1);
	assert_null(v.proxy);
	cfg_vpx_free(&v);
	assert_int_equal(cfg_vpx_parse("vpx://u:p%3Aw@h/D/C?proxy=h2:3128", &v, &why), 0);
	assert_string_equal(v.password, "p:w");
	assert_string_equal(v.proxy, "http://h2:3128");
	cfg_vpx_free(&v);
	{
		static const char *const bad[][2] = {
			{ "esx://h/D/C", "names a single host" },
			{ "https://h/D/C", "is not a vpx:// URI" },
			{ "vpx://h", "has no /datacenter/cluster path" },
			{ "vpx://h/D", "path must be /datacenter[/folder...]/cluster" },
			{ "vpx://h//C", "has an empty path segment" },
			{ "vpx://h:0/D/C", "port \"0\" is not 1 to 65535" },
			{ "vpx://h:x/D/C", "port \"x\" is not 1 to 65535" },
			{ "vpx://[::1/D/C", "unterminated [IPv6 address]" },
			{ "vpx://@h/D/C", "bad user part" },
			{ "vpx://u%zz@h/D/C", "bad user part" },
			{ "vpx://h o/D/C", "has a character a host name cannot" },
			{ "vpx://h/D/C%0a", "bad percent-escape in its path" },
			{ "vpx://h/D/C?no_verify=2", "no_verify must be 0 or 1" },
			{ "vpx://h/D/C?auto_answer", "has no value" },
			{ "vpx://h/D/C?transport=http", "https only" },
			{ "vpx://h/D/C?proxy=ftp://p:1", "proxy type \"ftp\"" },
			{ "vpx://h/D/C?proxy=", "is not [type://]host[:port]" },
			{ "vpx://h/D/C?x=1", "unknown parameter \"x\"" },
			{ "vpx://h/D/C#f", "has a fragment" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			buf_reset(&why);
			if (cfg_vpx_parse(bad[i][0], &v, &why) == 0)
				fail_msg("%s: accepted", bad[i][0]);
			if (strstr(buf_cstr(&why), bad[i][1]) == NULL)
				fail_msg("%s: \"%s\", not \"%s\"", bad[i][0], buf_cstr(&why),
				    bad[i][1]);
		}
	}
	buf_free(&why);
}

/* vmware.uri in a file: the options it stands for are filled, its
 * password masked in vcagent -n, and an option it stands for given too is
 * refused at FILE:LINE:COLUMN. */
static void
test_vpx_uri_config(void **state)
{
	char *errors = NULL, *printed;
	struct cfg *cfg = load("vmware:\n  uri: vpx://ops:uri-pw@vc.example.org:8443/DC0/"
	    "C7?no_verify=1\n" BASE_REST, &errors);

	(void)state;
	assert_non_null(cfg);
	assert_string_equal(cfg->vmware.host_ip, "vc.example.org");
	assert_int_equal(cfg->vmware.host_port, 8443);
	assert_string_equal(cfg->vmware.host_username, "ops");
	assert_string_equal(cfg->vmware.host_password, "uri-pw");
	assert_string_equal(cfg->vmware.datacenter, "DC0");
	assert_int_equal(cfg->vmware.cluster_name.n, 1);
	assert_string_equal(cfg->vmware.cluster_name.v[0], "C7");
	assert_true(cfg->vmware.insecure);
	printed = print_to_string(cfg);
	assert_null(strstr(printed, "uri-pw"));
	assert_non_null(strstr(printed, "vpx://ops:********@vc.example.org:8443/DC0/C7"));
	free(printed);
	cfg_free(cfg);
	expect_error("vmware:\n  uri: vpx://u@h/D/C\n  host_password: p\n"
	    "  host_ip: other\n" BASE_REST, "t.yaml:4:12: vmware.host_ip: vmware.uri "
	    "(line 2) names the vCenter and the cluster: give one or the other");
	expect_error("vmware:\n  uri: vpx://u@h/D/C\n  host_password: p\n"
	    "  cluster_name: [X]\n" BASE_REST, "t.yaml:4:17: vmware.cluster_name: "
	    "vmware.uri (line 2) names");
	expect_error("vmware:\n  uri: vpx://u@h/D/C?auto_answer=1\n  host_password: p\n"
	    "  auto_answer: false\n" BASE_REST, "t.yaml:4:16: vmware.auto_answer: "
	    "vmware.uri (line 2) says it too");
	expect_error("vmware:\n  uri: vpx://h/D/C\n  host_password: p\n" BASE_REST,
	    "vmware.host_username: required option is missing");
	expect_error("vmware:\n  uri: vpx://u@h:70000/D/C\n  host_password: p\n"
	    BASE_REST, "t.yaml:2:8: vmware.uri: port \"70000\" is not 1 to 65535");
	/* a refused URI is the one error: not the options it stands for too */
	cfg = load("vmware:\n  uri: vpx://u@h:0/D/C\n  host_password: p\n" BASE_REST,
	    &errors);
	assert_null(cfg);
	assert_null(strstr(errors, "required option is missing"));
	free(errors);
}

/* pgc_mask(): every secret of a conninfo or URI, quoted or not. */
static void
test_conninfo_mask(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "host=/run/pg dbname=vc password=dbpw",
		  "host=/run/pg dbname=vc password=********" },
		{ "host=h password=a\\ b dbname=d",
		  "host=h password=******** dbname=d" },
		{ "host=h password='a b\\' c' dbname=d",
		  "host=h password=******** dbname=d" },
		{ "host=h password = 'x\\\\' dbname=d",
		  "host=h password = ******** dbname=d" },
		{ "sslpassword=kp host=h", "sslpassword=******** host=h" },
		{ "host=h   PASSWORD=up", "host=h   PASSWORD=********" },
		{ "host=h mypassword=notakey user=password",
		  "host=h mypassword=notakey user=password" },
		{ "host=h password=", "host=h password=********" },
		{ "host=h garbage secret", "host=h ********" },
		{ "postgresql://vc:uripw@db:5432/vcagent",
		  "postgresql://vc:********@db:5432/vcagent" },
		{ "postgres://vc:p%40ss@db/vcagent?sslmode=require&password=qp"
		  "&sslpassword=sp&application_name=a",
		  "postgres://vc:********@db/vcagent?sslmode=require&password=********"
		  "&sslpassword=********&application_name=a" },
		{ "postgresql://vc@db/x?user=u", "postgresql://vc@db/x?user=u" },
		{ "postgresql://db/x", "postgresql://db/x" },
		{ "  postgresql://u:p@h", "  postgresql://u:********@h" },
		{ "http://user:pw@proxy:3128", "http://user:********@proxy:3128" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *m = pgc_mask(v[i].in);
		if (strcmp(m, v[i].out) != 0)
			fail_msg("pgc_mask(\"%s\") = \"%s\", expected \"%s\"", v[i].in,
			    m, v[i].out);
		free(m);
	}
}

/* pgc_scrub(): libpq's messages lose what they quote of a secret. */
static void
test_pg_message_scrubbed(void **state)
{
	static const struct {
		const char *conninfo, *msg, *out;
	} v[] = {
		{ "postgresql://u:secret@[::1/db", "end of string reached when "
		  "looking for matching \"]\" in IPv6 host address in URI: "
		  "\"postgresql://u:secret@[::1/db\"",
		  "end of string reached when looking for matching \"]\" in IPv6 "
		  "host address in URI: \"postgresql://u:********@[::1/db\"" },
		{ "postgresql://u:s3cr%zzet@h/db",
		  "invalid percent-encoded token: \"s3cr%zzet\"",
		  "invalid percent-encoded token: \"********\"" },
		{ "postgresql://u:p%40ss@h/db", "said p@ss and p%40ss",
		  "said ******** and ********" },
		{ "host=h password='a b'", "no: a b", "no: ********" },
		{ NULL, "bad URI \"postgres://x:y@h\" and http://a:b@c/d here",
		  "bad URI \"postgres://x:********@h\" and http://a:********@c/d here" },
		{ "host=h password=pw", "connection to server at \"h\" failed",
		  "connection to server at \"h\" failed" },
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", v[i].msg);
		pgc_scrub(buf, sizeof(buf), v[i].conninfo, NULL);
		if (strcmp(buf, v[i].out) != 0)
			fail_msg("scrubbed \"%s\" is \"%s\", expected \"%s\"", v[i].msg,
			    buf, v[i].out);
	}
}

/* -n prints sslpassword and quoted passwords masked, proxies too. */
static void
test_print_masks_conninfo(void **state)
{
	char *errors = NULL, *printed;
	struct cfg *cfg = load("vmware:\n  host_ip: a\n  host_username: u\n"
	    "  host_password: p\n  cluster_name: c\n"
	    "  proxy: \"puser:proxypw@proxy.example:3128\"\n"
	    "kafka:\n  bootstrap_servers: a:1\n"
	    "database:\n  connection: \"host=h sslpassword=sslpw password=a\\\\ b "
	    "dbname=d\"\n", &errors);

	(void)state;
	if (cfg == NULL)
		fail_msg("%s", errors);
	printed = print_to_string(cfg);
	assert_null(strstr(printed, "sslpw"));
	assert_null(strstr(printed, " b dbname"));
	assert_null(strstr(printed, "proxypw"));
	if (strstr(printed, "connection: \"host=h sslpassword=******** "
	    "password=******** dbname=d\"") == NULL)
		fail_msg("%s", printed);
	assert_non_null(strstr(printed, "proxy: \"puser:********@proxy.example:3128\""));
	free(printed);
	cfg_free(cfg);
}

static void
test_all_errors_reported(void **state)
{
	char *errors = NULL;
	struct cfg *cfg = load(BASE "health:\n  bind_port: x\n  bind_host: [a]\n"
	    "  nope: 1\n", &errors);
	int lines = 0;

	(void)state;
	assert_null(cfg);
	for (char *p = errors; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3);
	free(errors);
}

static void
test_sample_config_loads(void **state)
{
	const char *src = getenv("VCAGENT_SRC");
	char *path, *errors = NULL;
	struct cfg *cfg;

	(void)state;
	assert_true(asprintf(&path, "%s/etc/vcagent.yaml", src ? src : ".") > 0);
	setenv("VCAGENT_VMWARE_PASSWORD", "sample", 1);
	cfg = cfg_load(path, &errors);
	if (cfg == NULL)
		fail_msg("%s does not load:\n%s", path, errors);
	assert_string_equal(cfg->vmware.host_password, "sample");
	cfg_free(cfg);
	free(path);
}

/* Each option is live or restart-only; the ones a reload must apply are live. */
static void
test_live_flags(void **state)
{
	static const char *const live[] = { "DEFAULT.debug", "DEFAULT.log_file",
	    "DEFAULT.my_ip", "DEFAULT.reserved_host_memory_mb",
	    "DEFAULT.reserved_host_disk_mb", "DEFAULT.reserved_host_cpus",
	    "DEFAULT.cpu_allocation_ratio", "DEFAULT.update_resources_interval",
	    "vmware.datastore_regex", "vmware.use_linked_clone",
	    "vmware.keepalive_interval", "image_cache.manager_interval",
	    "image_cache.purge_dry_run", "image_cache.precache_concurrency",
	    "health.token", NULL };
	static const char *const restart[] = { "DEFAULT.host",
	    "DEFAULT.max_concurrent_builds", "vmware.host_ip", "vmware.host_password",
	    "vmware.cluster_name", "vmware.maximum_objects", "vmware.cache_prefix",
	    "vmware.image_transfer_timeout_secs", "image_cache.subdirectory_name",
	    "glance.api_servers", "kafka.bootstrap_servers", "kafka.group_id",
	    "kafka.properties", "database.connection", "database.max_retries",
	    "health.bind_host", "health.bind_port", NULL };
	char sec[32];

	(void)state;
	for (int i = 0; live[i] != NULL; i++) {
		const char *dot = strchr(live[i], '.');
		snprintf(sec, sizeof(sec), "%.*s", (int)(dot - live[i]), live[i]);
		if (cfg_option_live(sec, dot + 1) != 1)
			fail_msg("%s should be live", live[i]);
	}
	for (int i = 0; restart[i] != NULL; i++) {
		const char *dot = strchr(restart[i], '.');
		snprintf(sec, sizeof(sec), "%.*s", (int)(dot - restart[i]), restart[i]);
		if (cfg_option_live(sec, dot + 1) != 0)
			fail_msg("%s should be restart-only", restart[i]);
	}
	assert_int_equal(cfg_option_live("health", "nope"), -1);
	assert_int_equal(cfg_option_live("nope", "token"), -1);
}

/* A reload keeps restart-only values, names them, and lists the live ones. */
static void
test_reload_merge(void **state)
{
	char *errors = NULL, *restart = NULL, *live = NULL;
	struct cfg *run = load(BASE "health:\n  token: old-T\n", &errors);
	struct cfg *next = load("vmware:\n  host_ip: vc.example.org\n"
	    "  host_username: administrator@vsphere.local\n"
	    "  host_password: s3cr3t-PW\n  cluster_name: [Cluster1, Cluster2]\n"
	    BASE_REST
	    "  max_retries: 3\n"
	    "health:\n  token: new-T\n  bind_port: 9000\n"
	    "DEFAULT:\n  reserved_host_cpus: 2\n", &errors);

	(void)state;
	assert_non_null(run);
	if (next == NULL)
		fail_msg("%s", errors);
	cfg_reload_merge(next, run, &restart, &live);
	assert_non_null(restart);
	assert_non_null(live);
	assert_string_equal(restart, "vmware.cluster_name, database.max_retries, "
	    "health.bind_port");
	assert_string_equal(live, "DEFAULT.reserved_host_cpus, health.token");
	/* restart-only: the running values stay */
	assert_int_equal(next->vmware.cluster_name.n, 1);
	assert_string_equal(next->vmware.cluster_name.v[0], "Cluster1");
	assert_int_equal(next->database.max_retries, 10);
	assert_int_equal(next->health.bind_port, 8799);
	/* live: the new values */
	assert_string_equal(next->health.token, "new-T");
	assert_int_equal(next->def.reserved_host_cpus, 2);
	assert_null(strstr(restart, "T"));	/* names, never values */
	free(restart);
	free(live);

	/* the same file again: nothing to say */
	cfg_reload_merge(next, next, &restart, &live);
	assert_null(restart);
	assert_null(live);
	cfg_free(run);
	cfg_free(next);
}

/* A snapshot outlives the reference it was taken from. */
static void
test_refcount(void **state)
{
	char *errors = NULL;
	struct cfg *cfg = load(BASE, &errors), *snap;

	(void)state;
	assert_non_null(cfg);
	snap = cfg_ref(cfg);
	assert_ptr_equal(snap, cfg);
	cfg_free(cfg);		/* the reload drops the agent's reference */
	assert_string_equal(snap->vmware.cluster_name.v[0], "Cluster1");
	cfg_free(snap);		/* the last one frees (ASan checks) */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_types_and_lists),
		cmocka_unit_test(test_unknown_option_has_position),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_duplicates_and_syntax),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_regex_too_complex),
		cmocka_unit_test(test_secret_from_env_and_file),
		cmocka_unit_test(test_secret_never_in_errors),
		cmocka_unit_test(test_uri_password_masked),
		cmocka_unit_test(test_conninfo_mask),
		cmocka_unit_test(test_pg_message_scrubbed),
		cmocka_unit_test(test_print_masks_conninfo),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_sample_config_loads),
		cmocka_unit_test(test_live_flags),
		cmocka_unit_test(test_reload_merge),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_vpx_uri),
		cmocka_unit_test(test_vpx_uri_config),
	};

	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
