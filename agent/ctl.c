/*
 * ctl.c - vcagentctl: send requests to vcagent through Kafka and read its
 * status, with the agent's own configuration file.
 *
 *   vcagentctl [-c FILE] [-w SECONDS] send FILE|-       a request as JSON
 *   vcagentctl [-c FILE] spawn NODE UUID NAME IMAGE VCPUS MEMORY_MB ROOT_GB [NETWORK...]
 *   vcagentctl [-c FILE] delete|power-on|power-off|reboot|suspend|resume NODE UUID
 *   vcagentctl [-c FILE] migrate NODE UUID DEST_NODE [DEST_HOST]
 *   vcagentctl [-c FILE] resize NODE UUID VCPUS MEMORY_MB ROOT_GB
 *   vcagentctl [-c FILE] resize-confirm|resize-revert NODE UUID
 *   vcagentctl [-c FILE] rescue NODE UUID [IMAGE] | unrescue NODE UUID
 *   vcagentctl [-c FILE] snapshot-image NODE UUID NAME
 *   vcagentctl [-c FILE] prefetch NODE IMAGE
 *   vcagentctl [-c FILE] snapshot-create NODE UUID NAME [DESCRIPTION] [--memory]
 *   vcagentctl [-c FILE] snapshot-revert NODE UUID NAME|ID
 *   vcagentctl [-c FILE] snapshot-delete NODE UUID NAME|ID|--all
 *   vcagentctl [-c FILE] info|diagnostics|console NODE UUID
 *   vcagentctl [-c FILE] attach-volume NODE UUID VOLUME_ID SHADOW_VM|"[ds] path.vmdk"
 *   vcagentctl [-c FILE] attach-fcd NODE UUID FCD_ID DATASTORE_MOID
 *   vcagentctl [-c FILE] detach-volume NODE UUID VOLUME_ID
 *   vcagentctl [-c FILE] volume-create NODE VOLUME_ID SIZE_GB [DATASTORE]
 *   vcagentctl [-c FILE] volume-delete NODE VOLUME_ID
 *   vcagentctl [-c FILE] [-u URL] status | nodes | snapshots [UUID]
 *   vcagentctl [-c FILE] [-u URL] upload FILE IMAGE_ID [datastore=NAME]
 *       [cluster=NAME] [disk_type=T] [adapter_type=A] [linked_clone=B]
 *       [checksum=md5:HEX|sha512:HEX]
 *
 * Requests get a fresh request id; the events for it are printed, one JSON
 * object a line, until the final one (succeeded, failed or rejected).  Exit
 * 0 when it succeeded, 1 otherwise (2 for a usage error).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "rnd.h"
#include "vcdriver/vcdriver.h"
#include "xmalloc.h"

#ifndef VCAGENT_CONF
#define VCAGENT_CONF "/etc/vcagent/vcagent.yaml"
#endif

/* The usage on OUT, then exit with CODE: 0 for -h, 2 for a usage error. */
static void
ctl_usage(FILE *out, int code)
{
	fprintf(out, "usage: vcagentctl [-c file] [-w seconds] [-u url] COMMAND ...\n"
	    "  send FILE|-                     a request (JSON); - reads stdin\n"
	    "  spawn NODE UUID NAME IMAGE VCPUS MEMORY_MB ROOT_GB [NETWORK...]\n"
	    "  delete|power-on|power-off|reboot|suspend|resume NODE UUID\n"
	    "  migrate NODE UUID DEST_NODE [DEST_HOST]\n"
	    "  resize NODE UUID VCPUS MEMORY_MB ROOT_GB\n"
	    "  resize-confirm|resize-revert NODE UUID  keep a resize, or undo it\n"
	    "  rescue NODE UUID [IMAGE] | unrescue NODE UUID\n"
	    "  snapshot-image NODE UUID NAME    its root disk as a new image\n"
	    "  prefetch NODE IMAGE\n"
	    "  snapshot-create NODE UUID NAME [DESCRIPTION] [--memory]\n"
	    "  snapshot-revert NODE UUID NAME|ID\n"
	    "  snapshot-delete NODE UUID NAME|ID|--all\n"
	    "  info|diagnostics NODE UUID      what the instance's VM is and does\n"
	    "  console NODE UUID               its VNC console's host and port\n"
	    "  attach-volume NODE UUID VOLUME_ID SHADOW_VM|\"[ds] path.vmdk\"\n"
	    "  attach-fcd NODE UUID FCD_ID DATASTORE_MOID  a First Class Disk\n"
	    "  detach-volume NODE UUID VOLUME_ID  the disk removed, its file kept\n"
	    "  volume-create NODE VOLUME_ID SIZE_GB [DATASTORE]  a First Class Disk\n"
	    "  volume-delete NODE VOLUME_ID\n"
	    "  status | nodes                  the agent's status (health endpoint)\n"
	    "  snapshots [UUID]                the instances' snapshots, as recorded\n"
	    "  upload FILE IMAGE_ID [datastore=NAME] [cluster=NAME] [disk_type=T]\n"
	    "         [adapter_type=A] [linked_clone=B] [checksum=md5:HEX|sha512:HEX]\n"
	    "                                  push an image into the cache, with progress\n");
	exit(code);
}

static size_t
ctl_collect(char *p, size_t size, size_t n, void *arg)
{
	buf_append(arg, p, size * n);
	return size * n;
}

/* GET URL/status into B; 0 or -1. */
static int
ctl_status(const char *url, struct buf *b)
{
	char *u = xasprintf("%s/status", url);
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode rc;

	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || code != 200) {
		fprintf(stderr, "vcagentctl: %s: %s\n", u, rc != CURLE_OK ?
		    curl_easy_strerror(rc) : "not 200");
		free(u);
		return -1;
	}
	free(u);
	return 0;
}

/* ---- upload: PUT /v1/images/<id> with progress ---- */

struct ctl_progress {
	bool	 tty;
	double	 t0, last;
};

/* A bar on a terminal, redrawn at most 10 times a second; elsewhere a
 * line every 5 seconds (and at the end). */
static int
ctl_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct ctl_progress *p = arg;
	double now = vcd_mono(), rate;
	int pct, width = 30;

	(void)dltotal, (void)dlnow;
	if (ultotal <= 0 || (now - p->last < (p->tty ? 0.1 : 5.0) && ulnow < ultotal))
		return 0;
	if (ulnow == ultotal && p->last < 0)
		return 0;	/* the end, drawn already */
	p->last = ulnow == ultotal ? -1 : now;
	pct = (int)(100 * ulnow / ultotal);
	rate = now > p->t0 ? ulnow / (now - p->t0) / 1048576.0 : 0;
	if (p->tty) {
		char bar[64];
		int fill = width * pct / 100;

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(width - fill));
		bar[width] = '\0';
		fprintf(stderr, "\r[%s] %3d%% %.1f/%.1f MiB %.1f MiB/s%s", bar, pct,
		    ulnow / 1048576.0, ultotal / 1048576.0, rate,
		    ulnow == ultotal ? "\n" : "");
	} else
		fprintf(stderr, "upload: %d%% (%lld of %lld bytes, %.1f MiB/s)\n", pct,
		    (long long)ulnow, (long long)ultotal, rate);
	return 0;
}

static int
ctl_upload(const char *url, const struct cfg *cfg, int argc, char **argv)
{
	static const char *const keys[] = { "datastore", "cluster", "disk_type",
	    "adapter_type", "linked_clone", NULL };
	struct ctl_progress prog = { isatty(2) != 0, vcd_mono(), 0 };
	struct curl_slist *hdrs = NULL;
	struct buf u = BUF_INIT, body = BUF_INIT;
	char *tok = NULL, *cks = NULL, *id = NULL;
	CURL *c = curl_easy_init();
	struct stat st;
	FILE *f = NULL;
	long code = 0;
	CURLcode rc;
	int ret = 1;

	if ((f = fopen(argv[1], "rb")) == NULL || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "vcagentctl: %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	id = curl_easy_escape(c, argv[2], 0);
	buf_printf(&u, "%s/v1/images/%s", url, id);
	for (int i = 3; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t k;

		if (eq != NULL && strncmp(argv[i], "checksum=", 9) == 0) {
			free(cks);
			cks = xasprintf("X-Image-Checksum: %s", eq + 1);
			continue;
		}
		for (k = 0; eq != NULL && keys[k] != NULL; k++)
			if (strlen(keys[k]) == (size_t)(eq - argv[i]) &&
			    strncmp(keys[k], argv[i], (size_t)(eq - argv[i])) == 0)
				break;
		if (eq == NULL || keys[k] == NULL) {
			fprintf(stderr, "vcagentctl: upload: \"%s\" is not one of "
			    "datastore=, cluster=, disk_type=, adapter_type=, "
			    "linked_clone=, checksum=\n", argv[i]);
			ret = 2;
			goto out;
		}
		{
			char *v = curl_easy_escape(c, eq + 1, 0);
			buf_printf(&u, "%c%s=%s", strchr(buf_cstr(&u), '?') ? '&' : '?',
			    keys[k], v);
			curl_free(v);
		}
	}
	if (cfg->health.token != NULL) {
		tok = xasprintf("X-Auth-Token: %s", cfg->health.token);
		hdrs = curl_slist_append(hdrs, tok);
	}
	if (cks != NULL)
		hdrs = curl_slist_append(hdrs, cks);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, buf_cstr(&u));
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READDATA, f);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, ctl_progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &prog);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (prog.tty && prog.last > 0)
		fputc('\n', stderr);
	if (rc != CURLE_OK) {
		fprintf(stderr, "vcagentctl: upload to %s/v1/images/%s: %s\n", url, id,
		    curl_easy_strerror(rc));
		goto out;
	}
	fputs(buf_cstr(&body), code / 100 == 2 ? stdout : stderr);
	if (body.len > 0 && buf_cstr(&body)[body.len - 1] != '\n')
		fputc('\n', code / 100 == 2 ? stdout : stderr);
	if (code / 100 != 2) {
		fprintf(stderr, "vcagentctl: upload of %s: HTTP %ld\n", argv[2], code);
		goto out;
	}
	ret = 0;
out:
	if (f != NULL)
		fclose(f);
	curl_slist_free_all(hdrs);
	if (tok != NULL)
		xfree_secret(tok);
	free(cks);
	curl_free(id);
	buf_free(&u);
	buf_free(&body);
	curl_easy_cleanup(c);
	return ret;
}

static rd_kafka_t *
ctl_kafka(const struct cfg *cfg, rd_kafka_type_t type)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(kc, "bootstrap.servers", cfg->kafka.bootstrap_servers, err,
	    sizeof(err)) != RD_KAFKA_CONF_OK)
		fatalx("kafka: %s", err);
	for (size_t i = 0; i < cfg->kafka.properties.n; i++)
		if (rd_kafka_conf_set(kc, cfg->kafka.properties.v[i].key,
		    cfg->kafka.properties.v[i].value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
			fatalx("kafka: %s: %s", cfg->kafka.properties.v[i].key, err);
	if (type == RD_KAFKA_CONSUMER) {
		char gid[64];
		snprintf(gid, sizeof(gid), "vcagentctl-%u-%08x", (unsigned)getpid(),
		    (unsigned)vc_rand32());
		rd_kafka_conf_set(kc, "group.id", gid, err, sizeof(err));
		rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err));
	}
	if ((rk = rd_kafka_new(type, kc, err, sizeof(err))) == NULL)
		fatalx("kafka: %s", err);
	return rk;
}

/* Assign every partition of TOPIC at its current end: we read what comes. */
static void
ctl_listen(rd_kafka_t *c, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *t = rd_kafka_topic_new(c, topic, NULL);
	rd_kafka_topic_partition_list_t *as;

	if (rd_kafka_metadata(c, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1 || md->topics[0].partition_cnt == 0)
		fatalx("kafka: no partitions for %s", topic);
	as = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
	for (int i = 0; i < md->topics[0].partition_cnt; i++) {
		int64_t lo = 0, hi = 0;
		int32_t p = md->topics[0].partitions[i].id;
		if (rd_kafka_query_watermark_offsets(c, topic, p, &lo, &hi, 10000) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR)
			fatalx("kafka: cannot read the end of %s [%d]", topic, p);
		rd_kafka_topic_partition_list_add(as, topic, p)->offset = hi;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(t);
	rd_kafka_assign(c, as);
	rd_kafka_topic_partition_list_destroy(as);
}

/* Send J (adding version and a request id), print its events.  Exit code. */
static int
ctl_send(const struct cfg *cfg, json_t *j, int wait_s)
{
	rd_kafka_t *p = ctl_kafka(cfg, RD_KAFKA_PRODUCER);
	rd_kafka_t *c = ctl_kafka(cfg, RD_KAFKA_CONSUMER);
	json_t *inst = json_object_get(j, "instance");
	const char *key = json_is_object(inst) ?
	    json_string_value(json_object_get(inst, "uuid")) : NULL;
	char id[130], *text;
	unsigned r = vc_rand32();
	time_t until = time(NULL) + wait_s;
	int rc = 1;
	size_t klen;

	if (!json_is_object(j)) {
		fprintf(stderr, "vcagentctl: a request must be a JSON object\n");
		goto out;
	}
	if (json_object_get(j, "request_id") != NULL &&
	    (!json_is_string(json_object_get(j, "request_id")) ||
	    json_string_length(json_object_get(j, "request_id")) == 0 ||
	    json_string_length(json_object_get(j, "request_id")) >= sizeof(id) - 1)) {
		/* the agent would reject it with no id to find its event by */
		fprintf(stderr, "vcagentctl: request_id must be a string of 1..%zu "
		    "characters\n", sizeof(id) - 2);
		goto out;
	}
	if (json_object_get(j, "request_id") == NULL) {
		snprintf(id, sizeof(id), "ctl-%lld-%08x", (long long)time(NULL), r);
		json_object_set_new(j, "request_id", json_string(id));
	} else
		snprintf(id, sizeof(id), "%s",
		    json_string_value(json_object_get(j, "request_id")));
	if (json_object_get(j, "version") == NULL)
		json_object_set_new(j, "version", json_integer(1));
	ctl_listen(c, cfg->kafka.result_topic);
	text = json_dumps(j, JSON_COMPACT);
	klen = key != NULL ? strlen(key) : 0;
	if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(cfg->kafka.request_topic),
	    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(text, strlen(text)),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
		fatalx("kafka: cannot send the request");
	if (rd_kafka_flush(p, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fatalx("kafka: the request was not delivered");
	fprintf(stderr, "sent %s to %s\n", id, cfg->kafka.request_topic);
	while (time(NULL) < until) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
		json_t *ev;
		const char *e;

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    (ev = json_loadb(m->payload, m->len, 0, NULL)) != NULL) {
			const char *rid = json_string_value(json_object_get(ev, "request_id"));
			if (rid != NULL && strcmp(rid, id) == 0) {
				printf("%.*s\n", (int)m->len, (const char *)m->payload);
				fflush(stdout);
				e = json_string_value(json_object_get(ev, "event"));
				if (e != NULL && (strcmp(e, "succeeded") == 0 ||
				    strcmp(e, "failed") == 0 || strcmp(e, "rejected") == 0)) {
					rc = strcmp(e, "succeeded") == 0 ? 0 : 1;
					until = 0;
					if (strcmp(e, "rejected") == 0)
						fprintf(stderr, "vcagentctl: %s was rejected: "
						    "%s\n", id, json_string_value(json_object_get(
						    json_object_get(ev, "error"), "message")) ?
						    json_string_value(json_object_get(json_object_get(
						    ev, "error"), "message")) : "(no reason given)");
				}
			}
			json_decref(ev);
		}
		rd_kafka_message_destroy(m);
	}
	if (until != 0)
		fprintf(stderr, "vcagentctl: no final event for %s within %d s\n", id,
		    wait_s);
	free(text);
out:
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	rd_kafka_destroy(p);
	return rc;
}

static json_t *
ctl_simple(const char *type, const char *node, const char *uuid)
{
	return json_pack("{s:s, s:s, s:{s:s}}", "type", type, "node", node, "instance",
	    "uuid", uuid);
}

int
main(int argc, char **argv)
{
	const char *path = VCAGENT_CONF, *url = NULL;
	char *errors = NULL, *dflt = NULL;
	struct cfg *cfg;
	json_t *j = NULL;
	int ch, wait_s = 600, rc = 1;
	const char *cmd;

	log_init("vcagentctl", LOG_LVL_WARN);
	while ((ch = getopt(argc, argv, "c:u:w:h")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'u': url = optarg; break;
		case 'w': wait_s = atoi(optarg); break;
		case 'h': ctl_usage(stdout, 0); break;
		default: ctl_usage(stderr, 2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ctl_usage(stderr, 2);
	cmd = argv[0];
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		fputs(errors, stderr);
		free(errors);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "nodes") == 0 ||
	    (strcmp(cmd, "snapshots") == 0 && argc <= 2)) {
		struct buf b = BUF_INIT;
		if (url == NULL)
			url = dflt = xasprintf("http://%s:%d", cfg->health.bind_host,
			    cfg->health.bind_port);
		if (ctl_status(url, &b) == 0) {
			rc = 0;
			if (strcmp(cmd, "status") == 0)
				fputs(buf_cstr(&b), stdout);
			else if (strcmp(cmd, "snapshots") == 0) {
				json_t *s = json_loads(buf_cstr(&b), 0, NULL), *sn;
				size_t i;
				json_array_foreach(json_object_get(s, "snapshots"), i, sn) {
					const char *u = json_string_value(json_object_get(sn,
					    "instance"));
					if (argc == 2 && (u == NULL || strcmp(u, argv[1]) != 0))
						continue;
					printf("%s %s \"%s\" %s%s%s\n", u ? u : "-",
					    json_string_value(json_object_get(sn, "id")),
					    json_string_value(json_object_get(sn, "name")),
					    json_string_value(json_object_get(sn, "create_time")) ?
					    json_string_value(json_object_get(sn, "create_time")) : "-",
					    json_is_true(json_object_get(sn, "memory")) ?
					    " memory" : "", json_is_true(json_object_get(sn,
					    "quiesced")) ? " quiesced" : "");
				}
				json_decref(s);
			} else {
				json_t *s = json_loads(buf_cstr(&b), 0, NULL), *cl;
				size_t i;
				json_array_foreach(json_object_get(s, "clusters"), i, cl)
					printf("%s %s\n", json_string_value(json_object_get(cl,
					    "name")), json_string_value(json_object_get(cl, "node")) ?
					    json_string_value(json_object_get(cl, "node")) : "-");
				json_decref(s);
			}
		}
		buf_free(&b);
		goto out;
	}
	if (strcmp(cmd, "upload") == 0 && argc >= 3) {
		if (url == NULL)
			url = dflt = xasprintf("http://%s:%d", cfg->health.bind_host,
			    cfg->health.bind_port);
		rc = ctl_upload(url, cfg, argc, argv);
		if (rc == 2)
			ctl_usage(stderr, 2);
		goto out;
	}
	if (strcmp(cmd, "send") == 0 && argc == 2) {
		json_error_t je;
		j = strcmp(argv[1], "-") == 0 ? json_loadf(stdin, 0, &je) :
		    json_load_file(argv[1], 0, &je);
		if (j == NULL) {
			fprintf(stderr, "vcagentctl: %s: %s (line %d)\n", argv[1], je.text,
			    je.line);
			goto out;
		}
	} else if (strcmp(cmd, "spawn") == 0 && argc >= 8) {
		json_t *ports = json_array();
		for (int i = 8; i < argc; i++)
			json_array_append_new(ports, json_pack("{s:s}", "network", argv[i]));
		j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i}, s:s, s:o}",
		    "type", "spawn", "node", argv[1], "instance", "uuid", argv[2], "name",
		    argv[3], "flavor", "vcpus", atoi(argv[5]), "memory_mb", atoi(argv[6]),
		    "root_gb", atoi(argv[7]), "image_id", argv[4], "ports", ports);
	} else if (strcmp(cmd, "migrate") == 0 && (argc == 4 || argc == 5)) {
		j = ctl_simple("migrate", argv[1], argv[2]);
		json_object_set_new(j, "destination", json_pack("{s:s, s:s?}", "node",
		    argv[3], "host", argc == 5 ? argv[4] : NULL));
	} else if (strcmp(cmd, "resize") == 0 && argc == 6) {
		j = ctl_simple("resize", argv[1], argv[2]);
		json_object_set_new(j, "flavor", json_pack("{s:i, s:i, s:i}", "vcpus",
		    atoi(argv[3]), "memory_mb", atoi(argv[4]), "root_gb", atoi(argv[5])));
	} else if (strcmp(cmd, "snapshot-create") == 0 && argc >= 4 && argc <= 6) {
		bool memory = strcmp(argv[argc - 1], "--memory") == 0;
		int nd = argc - (memory ? 1 : 0);
		j = ctl_simple("snapshot_create", argv[1], argv[2]);
		json_object_set_new(j, "snapshot", json_pack("{s:s, s:s?, s:b}", "name",
		    argv[3], "description", nd == 5 ? argv[4] : NULL, "memory", memory));
	} else if ((strcmp(cmd, "snapshot-revert") == 0 ||
	    strcmp(cmd, "snapshot-delete") == 0) && argc == 4) {
		bool del = strcmp(cmd, "snapshot-delete") == 0;
		/* vCenter's ids are snapshot-N: a name of that shape goes by its id */
		bool id = strncmp(argv[3], "snapshot-", 9) == 0 &&
		    argv[3][9] != '\0' && strspn(argv[3] + 9, "0123456789") ==
		    strlen(argv[3] + 9);
		j = ctl_simple(del ? "snapshot_delete" : "snapshot_revert", argv[1], argv[2]);
		if (del && strcmp(argv[3], "--all") == 0)
			json_object_set_new(j, "all", json_true());
		else
			json_object_set_new(j, "snapshot", json_pack("{s:s}", id ? "id" :
			    "name", argv[3]));
	} else if (strcmp(cmd, "snapshot-image") == 0 && argc == 4) {
		j = ctl_simple("snapshot_image", argv[1], argv[2]);
		json_object_set_new(j, "image", json_pack("{s:s}", "name", argv[3]));
	} else if (strcmp(cmd, "rescue") == 0 && argc == 4) {
		j = ctl_simple("rescue", argv[1], argv[2]);
		json_object_set_new(j, "image_id", json_string(argv[3]));
	} else if (strcmp(cmd, "attach-volume") == 0 && argc == 5) {
		j = ctl_simple("attach_volume", argv[1], argv[2]);
		json_object_set_new(j, "volume_id", json_string(argv[3]));
		json_object_set_new(j, "connection_info", json_pack("{s:s, s:{s:s, s:s}}",
		    "driver_volume_type", "vmdk", "data", "volume", argv[4], "volume_id",
		    argv[3]));
	} else if (strcmp(cmd, "attach-fcd") == 0 && argc == 5) {
		j = ctl_simple("attach_volume", argv[1], argv[2]);
		json_object_set_new(j, "connection_info", json_pack("{s:s, s:{s:s, s:s}}",
		    "driver_volume_type", "vstorageobject", "data", "id", argv[3],
		    "ds_ref_val", argv[4]));
	} else if (strcmp(cmd, "detach-volume") == 0 && argc == 4) {
		j = ctl_simple("detach_volume", argv[1], argv[2]);
		json_object_set_new(j, "volume_id", json_string(argv[3]));
	} else if (strcmp(cmd, "volume-create") == 0 && (argc == 4 || argc == 5)) {
		j = json_pack("{s:s, s:s, s:s, s:I}", "type", "volume_create", "node",
		    argv[1], "volume_id", argv[2], "size_gb", (json_int_t)atoll(argv[3]));
		if (argc == 5)
			json_object_set_new(j, "datastore", json_string(argv[4]));
	} else if (strcmp(cmd, "volume-delete") == 0 && argc == 3) {
		j = json_pack("{s:s, s:s, s:s}", "type", "volume_delete", "node", argv[1],
		    "volume_id", argv[2]);
	} else if (strcmp(cmd, "prefetch") == 0 && argc == 3) {
		j = json_pack("{s:s, s:s, s:s}", "type", "prefetch", "node", argv[1],
		    "image_id", argv[2]);
	} else if (argc == 3) {
		static const char *const simple[][2] = { { "delete", "delete" },
		    { "power-on", "power_on" }, { "power-off", "power_off" },
		    { "reboot", "reboot" }, { "suspend", "suspend" }, { "resume", "resume" },
		    { "info", "get_info" }, { "diagnostics", "get_diagnostics" },
		    { "console", "get_console" }, { "resize-confirm", "resize_confirm" },
		    { "resize-revert", "resize_revert" }, { "rescue", "rescue" },
		    { "unrescue", "unrescue" } };
		for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
			if (strcmp(cmd, simple[i][0]) == 0)
				j = ctl_simple(simple[i][1], argv[1], argv[2]);
	}
	if (j == NULL)
		ctl_usage(stderr, 2);
	rc = ctl_send(cfg, j, wait_s);
out:
	json_decref(j);
	free(dflt);
	cfg_free(cfg);
	curl_global_cleanup();
	return rc;
}
