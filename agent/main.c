/*
 * main.c - vcagent's command line.
 *
 *   vcagent [-d] -c FILE        run the agent
 *   vcagent -n -c FILE          check FILE, print the effective configuration
 *                               with secrets masked, exit 0 (valid) or 1
 *   vcagent -c FILE db upgrade  create or upgrade the database's schema
 *                               (the agent also does this when it starts)
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "agent.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "pgc.h"

#ifndef VCAGENT_CONF
#define VCAGENT_CONF "/etc/vcagent/vcagent.yaml"
#endif

static void
usage(FILE *out)
{
	fprintf(out, "usage: vcagent [-dhnV] [-c file] [db upgrade]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -d       debug logging\n"
	    "  -n       check the configuration, print it (secrets masked), exit\n"
	    "  -V       print the version\n", VCAGENT_CONF);
}

/* vcagent db upgrade: 0, or 1 (the reason on stderr). */
static int
main_db_upgrade(const struct cfg *cfg)
{
	struct pgc_pool *pool;
	char why[512];
	PGconn *pg;
	int from, to, rc = 1;

	if (cfg->database.connection == NULL) {
		fprintf(stderr, "%s: database.connection is not set\n", cfg->path);
		return 1;
	}
	pool = pgc_pool_new(cfg->database.connection, 1);
	if ((pg = pgc_get(pool, why, sizeof(why))) == NULL)
		fprintf(stderr, "vcagent: %s\n", why);
	else if (db_migrate(pg, &from, &to, why, sizeof(why)) < 0)
		fprintf(stderr, "vcagent: %s\n", why);
	else {
		printf("database schema: version %d -> %d (newest %d)\n", from, to,
		    db_schema_latest());
		rc = 0;
	}
	pgc_put(pool, pg, true);
	pgc_pool_free(pool);
	return rc;
}

/*
 * Block SIGTERM, SIGINT and SIGHUP in this thread before any other starts
 * (libcurl's resolver, librdkafka's, libmicrohttpd's, the workers and the
 * cron inherit the mask), and hand them to one signalfd that the main loop
 * reads: no handler runs in an arbitrary thread.  SIGPIPE is ignored.
 * The descriptor, or -1 (logged).
 */
static int
main_signals(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if ((errno = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0) {
		log_warn("cannot block the signals");
		return -1;
	}
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		log_warn("signalfd");
	return fd;
}

int
main(int argc, char **argv)
{
	const char *path = VCAGENT_CONF;
	struct agent *agent;
	struct cfg *cfg;
	char *errors = NULL, *warnings;
	int ch, check = 0, debug = 0, rc = 1, sigfd;

	log_init("vcagent", LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "c:dhnV")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'd': debug = 1; break;
		case 'n': check = 1; break;
		case 'V': printf("vcagent %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc && !(argc - optind == 2 && strcmp(argv[optind], "db") == 0 &&
	    strcmp(argv[optind + 1], "upgrade") == 0)) {
		usage(stderr);
		return 1;
	}
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		fputs(errors, stderr);
		fprintf(stderr, "%s: configuration is not valid\n", path);
		free(errors);
		return 1;
	}
	if ((warnings = cfg_warnings(cfg)) != NULL) {
		char *line, *save = NULL;
		for (line = strtok_r(warnings, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "%s: warning: %s\n", path, line);
		free(warnings);
	}
	if (optind != argc) {
		rc = main_db_upgrade(cfg);
		cfg_free(cfg);
		return rc;
	}
	if (check) {
		cfg_print(cfg, stdout);
		fprintf(stderr, "%s: configuration OK\n", path);
		cfg_free(cfg);
		return 0;
	}
	if (debug)
		cfg->def.debug = true;
	cfg_apply(cfg);

	if ((sigfd = main_signals()) < 0) {
		cfg_free(cfg);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	agent = agent_new(cfg, sigfd);
	agent->debug = debug;

	log_info("vcagent %s starting with %s", PACKAGE_VERSION, path);
	if (agent_connect(agent) < 0)
		goto out;
	rc = agent_run(agent);
out:
	agent_free(agent);
	xmlCleanupParser();
	curl_global_cleanup();
	log_set_file(NULL);
	return rc;
}
