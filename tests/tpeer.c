/*
 * tpeer.c - peers for tests, started by the project's own scripts.
 */
#include "config.h"

#include <errno.h>
#include <glob.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "tpeer.h"
#include "xmalloc.h"

#define TPEER_MAX	8
#define TPEER_MAXENV	64

struct tpeer {
	char	*dir;
	char	*names[TPEER_MAX];
	size_t	 npeers;
	char	*keys[TPEER_MAXENV], *values[TPEER_MAXENV];
	size_t	 nenv;
	bool	 halted;	/* peers stopped, memory not yet freed */
	int	 verdict;	/* of the halt: 0 clean, -1 not */
};

static const char *
tpeer_src(void)
{
	const char *s = getenv("VCAGENT_SRC");

	return s != NULL ? s : ".";
}

static void
tpeer_read_env(struct tpeer *t, const char *name)
{
	char path[1024], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.env", t->dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL && t->nenv < TPEER_MAXENV) {
		char *eq = strchr(line, '=');
		size_t n = strlen(line);

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (eq == NULL || line[0] == '#')
			continue;
		*eq = '\0';
		/* values are shell words: strip one level of quotes */
		char *v = eq + 1;
		size_t vn = strlen(v);
		if (vn >= 2 && (v[0] == '\'' || v[0] == '"') && v[vn - 1] == v[0]) {
			v[vn - 1] = '\0';
			v++;
		}
		t->keys[t->nenv] = xstrdup(line);
		t->values[t->nenv] = xstrdup(v);
		t->nenv++;
	}
	fclose(f);
}

int
tpeer_script(const struct tpeer *t, const char *name, const char *verb,
    const char *args)
{
	char *cmd = xasprintf("bash '%s/tests/peers/%s.sh' %s '%s' %s "
	    ">>'%s/%s.out' 2>&1", tpeer_src(), name, verb, t->dir, args, t->dir,
	    name);
	int rc = system(cmd);

	free(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void
tpeer_dump(const struct tpeer *t, const char *name)
{
	char *cmd = xasprintf("cat '%s/%s.out' >&2", t->dir, name);

	if (system(cmd) != 0)
		fprintf(stderr, "# (no output from %s)\n", name);
	free(cmd);
}

struct tpeer *
tpeer_start(const char *const *specs)
{
	struct tpeer *t = xcalloc(1, sizeof(*t));
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char tmpl[256];

	snprintf(tmpl, sizeof(tmpl), "%s/vcagent-test-XXXXXX", base);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		free(t);
		return NULL;
	}
	chmod(tmpl, 0755);	/* the postgres user must reach its data */
	t->dir = xstrdup(tmpl);
	for (size_t i = 0; specs[i] != NULL && i < TPEER_MAX; i++) {
		const char *sp = strchr(specs[i], ' ');
		char *name = sp ? xstrndup(specs[i], (size_t)(sp - specs[i])) :
		    xstrdup(specs[i]);
		char *args = xasprintf("start '%s' %s", t->dir, sp ? sp + 1 : "");
		char *cmd = xasprintf("bash '%s/tests/peers/%s.sh' %s >>'%s/%s.out' 2>&1",
		    tpeer_src(), name, args, t->dir, name);
		int rc = system(cmd);

		free(cmd);
		free(args);
		t->names[t->npeers++] = name;
		if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
			fprintf(stderr, "# peer %s failed to start:\n", name);
			tpeer_dump(t, name);
			tpeer_stop(t);
			return NULL;
		}
		tpeer_read_env(t, name);
	}
	return t;
}

const char *
tpeer_get(const struct tpeer *t, const char *key)
{
	for (size_t i = 0; i < t->nenv; i++)
		if (strcmp(t->keys[i], key) == 0)
			return t->values[i];
	return NULL;
}

const char *
tpeer_dir(const struct tpeer *t)
{
	return t->dir;
}

/*
 * A zombie is not alive: peers are orphans once their script exits, and
 * init may reap them a second or so after they exit.
 */
int
tpeer_alive(pid_t pid)
{
	char path[64], line[512], *close;
	FILE *f;
	int alive = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	/* "pid (comm) S ...": the state follows the last ')' */
	if (fgets(line, sizeof(line), f) != NULL &&
	    (close = strrchr(line, ')')) != NULL && close[1] == ' ')
		alive = close[2] != 'Z' && close[2] != 'X';
	fclose(f);
	return alive;
}

/* Stop every peer and remove the state directory; T stays allocated. */
static int
tpeer_halt(struct tpeer *t)
{
	pid_t pids[TPEER_MAXENV];
	size_t npids = 0;
	struct stat st;
	int ret = 0;
	char *cmd;

	if (t->halted)
		return t->verdict;
	for (size_t i = 0; i < t->nenv; i++) {
		size_t n = strlen(t->keys[i]);
		if (n > 4 && strcmp(t->keys[i] + n - 4, "_PID") == 0)
			pids[npids++] = (pid_t)atol(t->values[i]);
	}
	for (size_t i = t->npeers; i-- > 0; ) {
		if (tpeer_script(t, t->names[i], "stop", "") != 0) {
			fprintf(stderr, "# peer %s did not stop cleanly:\n", t->names[i]);
			tpeer_dump(t, t->names[i]);
			ret = -1;
		}
	}
	for (size_t i = 0; i < npids; i++)
		if (tpeer_alive(pids[i])) {
			fprintf(stderr, "# pid %ld still alive after stop\n", (long)pids[i]);
			ret = -1;
		}
	for (size_t i = 0; i < t->npeers; i++) {
		char *p = xasprintf("%s/%s", t->dir, t->names[i]);
		if (stat(p, &st) == 0) {
			fprintf(stderr, "# %s left behind\n", p);
			ret = -1;
		}
		free(p);
	}
	cmd = xasprintf("rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		ret = -1;
	free(cmd);
	t->halted = true;
	t->verdict = ret;
	return ret;
}

static void
tpeer_free(struct tpeer *t)
{
	for (size_t i = 0; i < t->npeers; i++)
		free(t->names[i]);
	for (size_t i = 0; i < t->nenv; i++) {
		free(t->keys[i]);
		free(t->values[i]);
	}
	free(t->dir);
	free(t);
}

int
tpeer_stop(struct tpeer *t)
{
	int ret;

	if (t == NULL)
		return 0;
	ret = tpeer_halt(t);
	tpeer_free(t);
	return ret;
}

static size_t
tpeer_http_write(char *data, size_t size, size_t nmemb, void *arg)
{
	if (arg != NULL)
		buf_append(arg, data, size * nmemb);
	return size * nmemb;
}

long
tpeer_http(const char *method, const char *url, const void *body, size_t len,
    const char *content_type, const char *ca_file, struct buf *resp)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char *ct = NULL;
	long status = -1;

	if (c == NULL)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tpeer_http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	if (ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	h = curl_slist_append(h, "Expect:");
	if (content_type != NULL) {
		ct = xasprintf("Content-Type: %s", content_type);
		h = curl_slist_append(h, ct);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(ct);
	return status;
}

int
tpeer_setup(void **state, const char *const *specs)
{
	*state = tpeer_start(specs);
	return *state == NULL ? -1 : 0;
}

/*
 * cmocka gives each test a copy of the group's state pointer, so a test
 * cannot clear it: tpeer_stop_state() only halts, and the group teardown
 * frees.
 */
int
tpeer_teardown(void **state)
{
	(void)tpeer_stop(*state);
	return 0;
}

int
tpeer_stop_state(void **state)
{
	return tpeer_halt(*state);
}

void
tpeer_vcsim_options(const struct tpeer *t, struct vcd_options *o)
{
	memset(o, 0, sizeof(*o));
	o->host = tpeer_get(t, "VCSIM_HOST");
	o->port = atoi(tpeer_get(t, "VCSIM_PORT"));
	o->username = tpeer_get(t, "VCSIM_USER");
	o->password = tpeer_get(t, "VCSIM_PASSWORD");
	o->ca_file = tpeer_get(t, "VCSIM_CA_FILE");
}

char *
tpeer_glance_image(const struct tpeer *t, const char *props, const void *data,
    size_t len)
{
	const char *base = tpeer_get(t, "GLANCE_URL");
	char *body = NULL, *url = NULL, *id = NULL;
	struct buf b = BUF_INIT;
	json_t *j = NULL;

	if (base == NULL) {
		fprintf(stderr, "tpeer: no glance peer\n");
		return NULL;
	}
	body = xasprintf("{\"name\": \"tpeer\", \"disk_format\": \"vmdk\", "
	    "\"container_format\": \"bare\"%s%s}", props != NULL ? ", " : "",
	    props != NULL ? props : "");
	url = xasprintf("%s/v2/images", base);
	if (tpeer_http("POST", url, body, strlen(body), "application/json", NULL,
	    &b) != 201 || (j = json_loads(buf_cstr(&b), 0, NULL)) == NULL ||
	    !json_is_string(json_object_get(j, "id"))) {
		fprintf(stderr, "tpeer: glance did not create the image: %s\n",
		    buf_cstr(&b));
		goto out;
	}
	id = xstrdup(json_string_value(json_object_get(j, "id")));
	free(url);
	url = xasprintf("%s/v2/images/%s/file", base, id);
	if (tpeer_http("PUT", url, data, len, "application/octet-stream", NULL,
	    NULL) != 204) {
		fprintf(stderr, "tpeer: glance did not take image %s's data\n", id);
		free(id);
		id = NULL;
	}
out:
	json_decref(j);
	buf_free(&b);
	free(body);
	free(url);
	return id;
}

size_t
tpeer_ds_files(const struct tpeer *t, const char *pattern)
{
	char *p = xasprintf("%s/vcsim/tmp/*/%s", tpeer_dir(t), pattern);
	glob_t g;
	size_t n = glob(p, 0, NULL, &g) == 0 ? g.gl_pathc : 0;

	if (n > 0)
		globfree(&g);
	free(p);
	return n;
}

struct vcd_vm_spec
tpeer_vm_spec(const char *name, const char *uuid, struct vcd_moref folder,
    struct vcd_moref pool)
{
	struct vcd_vm_spec vs = {
		.name = name, .instance_uuid = uuid, .guest_id = NULL, .firmware = NULL,
		.vcpus = 1, .memory_mb = 64, .datastore = "LocalDS_0",
		.folder = folder, .pool = pool, .host = { "", "" }, .devices = NULL,
		.extra = NULL,
	};

	return vs;
}
