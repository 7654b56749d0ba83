/*
 * vcd_err.c - filling struct vcd_err and printing it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vcd_int.h"

bool
vcd_err_gone(const struct vcd_err *err)
{
	return err->code == VCD_E_NOTFOUND ||
	    (err->code == VCD_E_FAULT && strcmp(err->fault, "ManagedObjectNotFound") == 0);
}

void
vcd_err_clear(struct vcd_err *err)
{
	if (err == NULL)
		return;
	err->code = VCD_OK;
	err->fault[0] = err->object[0] = err->msg[0] = '\0';
}

void
vcd_err_set(struct vcd_err *err, enum vcd_errcode code, const char *fault,
    const char *object, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->code = code;
	snprintf(err->fault, sizeof(err->fault), "%s", fault ? fault : "");
	snprintf(err->object, sizeof(err->object), "%s", object ? object : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

const char *
vcd_strerror(const struct vcd_err *err, char *buf, size_t len)
{
	if (err->fault[0] != '\0' && err->object[0] != '\0')
		snprintf(buf, len, "%s (%s): %s", err->fault, err->object, err->msg);
	else if (err->fault[0] != '\0')
		snprintf(buf, len, "%s: %s", err->fault, err->msg);
	else if (err->object[0] != '\0')
		snprintf(buf, len, "%s: %s", err->object, err->msg);
	else
		snprintf(buf, len, "%s", err->msg);
	return buf;
}

void
vcd_moref_str(char *dst, size_t len, const struct vcd_moref *m)
{
	snprintf(dst, len, "%s:%s", m->type, m->value);
}

/* ---- the calling thread's abort check ---- */

static _Thread_local int (*vcd_abort_fn)(void *, char *, size_t);
static _Thread_local void *vcd_abort_arg;
static _Thread_local double vcd_abort_last;	/* last check from a wait */

void
vcd_abort_set(int (*check)(void *arg, char *why, size_t len), void *arg)
{
	vcd_abort_fn = check;
	vcd_abort_arg = check != NULL ? arg : NULL;
	vcd_abort_last = 0;
}

void
vcd_abort_get(int (**check)(void *arg, char *why, size_t len), void **arg)
{
	*check = vcd_abort_fn;
	*arg = vcd_abort_arg;
}

int
vcd_abort_check(bool waiting, const char *what, struct vcd_err *err)
{
	char why[256] = "";
	double now;

	if (vcd_abort_fn == NULL)
		return 0;
	if (waiting) {
		now = vcd_mono();
		if (vcd_abort_last != 0 && now - vcd_abort_last < 1.0)
			return 0;
		vcd_abort_last = now;
	}
	if (vcd_abort_fn(vcd_abort_arg, why, sizeof(why)) == 0)
		return 0;
	vcd_err_set(err, VCD_E_ABORTED, NULL, what, "stopped before %s: %s", what,
	    why[0] != '\0' ? why : "the caller's abort check said stop");
	return -1;
}
