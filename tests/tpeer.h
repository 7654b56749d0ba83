/*
 * tpeer.h - start and stop the real test peers (vcsim, kafka, pg, glance)
 * from a C test, through the scripts in tests/peers/.
 *
 * Ownership: tpeer_start() returns a set the caller owns and must release with
 * tpeer_stop(), which stops every peer by PID and removes the state directory.
 * Strings returned by tpeer_get() are borrowed from the set.
 */
#ifndef VC_TPEER_H
#define VC_TPEER_H

#include <sys/types.h>

struct tpeer;

/*
 * Start the peers named in SPECS (NULL-terminated), each "name" or
 * "name args...", e.g. "vcsim -cluster 2".  Returns NULL (after printing the
 * peer's log on stderr) if one fails to start; those started are stopped.
 */
struct tpeer *tpeer_start(const char *const *specs);
/* An environment value written by a peer (e.g. "VCSIM_URL"); NULL if absent. */
const char *tpeer_get(const struct tpeer *t, const char *key);
/* The state directory (a fresh temporary directory). */
const char *tpeer_dir(const struct tpeer *t);
/*
 * Stop every peer and free T.  Returns 0 when each peer's process is gone and
 * the state directory is removed, -1 otherwise.
 */
int tpeer_stop(struct tpeer *t);
/*
 * Run "tests/peers/NAME.sh VERB DIR ARGS" on this set, e.g. ("kafka", "ctl",
 * "down 1"); ARGS is shell text.  Returns the exit code.
 */
int tpeer_script(const struct tpeer *t, const char *name, const char *verb,
    const char *args);
/*
 * cmocka group fixtures: tpeer_setup() starts SPECS and keeps the set in
 * *STATE; tpeer_stop_state() stops the peers (the set stays allocated) and
 * returns tpeer_stop()'s verdict for a test to assert; tpeer_teardown()
 * stops them if no test did, frees the set and always returns 0 (a safety
 * net, not a check).
 */
int tpeer_setup(void **state, const char *const *specs);
int tpeer_teardown(void **state);
int tpeer_stop_state(void **state);
/* 1 if PID is alive (a zombie is not). */
int tpeer_alive(pid_t pid);

#include "buf.h"
#include "vcdriver/vcdriver.h"

/* Fill O (zeroed first) with the vcsim peer's address, credentials and CA
 * file from T's env; callers set the rest. */
void tpeer_vcsim_options(const struct tpeer *t, struct vcd_options *o);

/*
 * One HTTP request with libcurl: METHOD URL, optional BODY of LEN bytes with
 * CONTENT_TYPE, TLS verified against CA_FILE when given.  The answer's body
 * is appended to RESP (may be NULL).  Returns the HTTP status, or -1 on a
 * transport error.
 */
long tpeer_http(const char *method, const char *url, const void *body,
    size_t len, const char *content_type, const char *ca_file, struct buf *resp);

/* How many files of the vcsim peer's datastores match PATTERN (a glob
 * relative to a datastore, e.g. "_base/ID/ID.vmdk"). */
size_t tpeer_ds_files(const struct tpeer *t, const char *pattern);

/* The spec of a small VM (1 vCPU, 64 MB, its folder on LocalDS_0) named
 * NAME with instance uuid UUID, in FOLDER and POOL; the strings are
 * borrowed. */
struct vcd_vm_spec tpeer_vm_spec(const char *name, const char *uuid,
    struct vcd_moref folder, struct vcd_moref pool);

/*
 * An active vmdk image in the glance peer of T holding the LEN bytes of
 * DATA; PROPS (may be NULL) are more members of the create request, e.g.
 * "\"vmware_disktype\": \"sparse\"".  Returns its id (caller frees), or
 * NULL (the reason on stderr).
 */
char *tpeer_glance_image(const struct tpeer *t, const char *props, const void *data,
    size_t len);

#endif
