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
