/*
 * vcd_call.h - one vim25 call, for layers above vcdriver (netplug,
 * imagecache) that build their own requests from the vim25 structs.
 *
 * Ownership: the response lives in the caller's arena A.
 */
#ifndef VCD_CALL_H
#define VCD_CALL_H

#include "vim.h"

/*
 * Invoke METHOD with request REQ (whose header is vim_init'ed with METHOD's
 * request type).  On success *RESP is the response object in arena A.
 * NotAuthenticated is answered by one re-login and one retry; transport
 * errors and HTTP 503 are retried api_retry_count times where that is safe
 * (see vcd_http.c), all within call_deadline seconds; a call of a method
 * that is not idempotent whose answer was lost fails with fault
 * OutcomeUnknown.  0, or -1 with ERR.
 */
int vcd_invoke(struct vcd_session *s, const struct vim_method *method,
    const void *req, struct vim_arena *a, void **resp, struct vcd_err *err);

/*
 * Invoke METHOD, which returns a Task, and wait up to TIMEOUT seconds for
 * it (VM, may be NULL, is the VM whose questions the wait answers).  RESULT
 * (may be NULL) gets a moref result.  A fault that names no object is made
 * to name OBJECT.  0, or -1 with ERR; a task still running after TIMEOUT
 * is cancelled (CancelTask, where vCenter allows it) before VCD_E_TIMEOUT
 * is returned, so a request that gives up on it leaves nothing running.
 */
int vcd_invoke_task(struct vcd_session *s, const struct vim_method *method,
    const void *req, const struct vcd_moref *vm, const char *object,
    double timeout, struct vcd_moref *result, struct vcd_err *err);

#endif
