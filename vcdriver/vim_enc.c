/*
 * vim_enc.c - requests from the member tables.
 *
 * An object is written member by member in its type's flattened order (base
 * members first, each type's in WSDL order).  Cardinality is checked here,
 * once, for every request: a required member that is missing is an error
 * naming it; unset optional members are left out (vCenter rejects empty
 * ones).  An object member carries xsi:type whenever its declared type has
 * subtypes or the object is of a derived type, and anyType values always do.
 * Every string is XML-escaped.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vcd_int.h"
#include "vim.h"

struct vim_enc {
	struct buf		*out;
	struct vcd_err		*err;
	const char		*method;
	int			 failed;
};

/* Generic view of a generated object list (same layout for every type). */
struct vim_objlist {
	struct vim_obj	**v;
	size_t		  len;
};

static void vim_enc_obj(struct vim_enc *e, const struct vim_obj *o);

int
vim_xml_escape(struct buf *out, const char *s)
{
	const char *run = s, *p;

	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return -1;
	}
	for (p = s; *p != '\0'; p++) {
		const char *rep;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\r': rep = "&#13;"; break;	/* would be normalised away */
		default: continue;
		}
		buf_append(out, run, (size_t)(p - run));
		buf_puts(out, rep);
		run = p + 1;
	}
	buf_append(out, run, (size_t)(p - run));
	return 0;
}

static void
vim_enc_fail(struct vim_enc *e, const struct vim_type *t,
    const struct vim_member *m, const char *what)
{
	if (e->failed++)
		return;
	vcd_err_set(e->err, VCD_E_INVALID, NULL, e->method, "%s.%s: %s",
	    t != NULL ? t->name : "?", m->name, what);
}

static void
vim_enc_text(struct vim_enc *e, const struct vim_type *t,
    const struct vim_member *m, const char *s)
{
	if (vim_xml_escape(e->out, s) < 0)
		vim_enc_fail(e, t, m, "contains characters XML cannot carry");
}

static void
vim_enc_moref(struct vim_enc *e, const struct vim_type *t,
    const struct vim_member *m, const struct vcd_moref *r, bool typed)
{
	if (typed)
		buf_printf(e->out, "<%s xsi:type=\"ManagedObjectReference\" type=\"",
		    m->name);
	else
		buf_printf(e->out, "<%s type=\"", m->name);
	vim_enc_text(e, t, m, r->type);
	buf_puts(e->out, "\">");
	vim_enc_text(e, t, m, r->value);
	buf_printf(e->out, "</%s>", m->name);
}

static void
vim_enc_any(struct vim_enc *e, const struct vim_type *t,
    const struct vim_member *m, const struct vim_any *v)
{
	switch (v->kind) {
	case VA_SCALAR:
		buf_printf(e->out, "<%s xsi:type=\"", m->name);
		vim_enc_text(e, t, m, v->xsi_type != NULL ? v->xsi_type : "xsd:string");
		buf_puts(e->out, "\">");
		vim_enc_text(e, t, m, v->text != NULL ? v->text : "");
		buf_printf(e->out, "</%s>", m->name);
		break;
	case VA_MOREF:
		vim_enc_moref(e, t, m, v->moref, true);
		break;
	case VA_OBJ:
		buf_printf(e->out, "<%s xsi:type=\"%s\">", m->name, vim_type_name(v->obj));
		vim_enc_obj(e, v->obj);
		buf_printf(e->out, "</%s>", m->name);
		break;
	case VA_ARRAY:
		vim_enc_fail(e, t, m, "arrays in anyType values are not sent");
		break;
	}
}

static void
vim_enc_child(struct vim_enc *e, const struct vim_type *t,
    const struct vim_member *m, const struct vim_obj *o)
{
	if (o->type == NULL) {
		vim_enc_fail(e, t, m, "object has no type (not initialised)");
		return;
	}
	if (!vim_type_is(o->type, m->type)) {
		vim_enc_fail(e, t, m, "object is not of the member's type");
		return;
	}
	/* an object of a type outside the spec, decoded as its base, goes
	 * back as the type it came as */
	if (m->type->polymorphic || o->type != m->type || o->xsi_type != NULL)
		buf_printf(e->out, "<%s xsi:type=\"%s\">", m->name, vim_type_name(o));
	else
		buf_printf(e->out, "<%s>", m->name);
	vim_enc_obj(e, o);
	buf_printf(e->out, "</%s>", m->name);
}

/* One member of object O (of type T, where M is declared). */
static void
vim_enc_member(struct vim_enc *e, const struct vim_type *t,
    const struct vim_member *m, const void *o)
{
	const char *f = (const char *)o + m->off;
	size_t i;

	switch (m->kind) {
	case VK_STR:
		if (m->card == VC_LIST) {
			const struct vim_strs *l = (const void *)f;
			for (i = 0; i < l->len; i++) {
				buf_printf(e->out, "<%s>", m->name);
				vim_enc_text(e, t, m, l->v[i]);
				buf_printf(e->out, "</%s>", m->name);
			}
		} else if (*(char *const *)f != NULL) {
			buf_printf(e->out, "<%s>", m->name);
			vim_enc_text(e, t, m, *(char *const *)f);
			buf_printf(e->out, "</%s>", m->name);
		} else if (m->card == VC_ONE) {
			vim_enc_fail(e, t, m, "required member is missing");
		}
		break;
	case VK_INT:
		if (m->card == VC_LIST) {
			const struct vim_ints *l = (const void *)f;
			for (i = 0; i < l->len; i++)
				buf_printf(e->out, "<%s>%" PRId64 "</%s>", m->name,
				    l->v[i], m->name);
		} else if (((const struct vim_int *)f)->set) {
			buf_printf(e->out, "<%s>%" PRId64 "</%s>", m->name,
			    ((const struct vim_int *)f)->v, m->name);
		} else if (m->card == VC_ONE) {
			vim_enc_fail(e, t, m, "required member is missing");
		}
		break;
	case VK_BOOL:
		if (((const struct vim_bool *)f)->set)
			buf_printf(e->out, "<%s>%s</%s>", m->name,
			    ((const struct vim_bool *)f)->v ? "true" : "false", m->name);
		else if (m->card == VC_ONE)
			vim_enc_fail(e, t, m, "required member is missing");
		break;
	case VK_DBL:
		if (((const struct vim_dbl *)f)->set)
			buf_printf(e->out, "<%s>%.17g</%s>", m->name,
			    ((const struct vim_dbl *)f)->v, m->name);
		else if (m->card == VC_ONE)
			vim_enc_fail(e, t, m, "required member is missing");
		break;
	case VK_MOREF:
		if (m->card == VC_LIST) {
			const struct vim_morefs *l = (const void *)f;
			for (i = 0; i < l->len; i++)
				vim_enc_moref(e, t, m, &l->v[i], false);
		} else if (*(struct vcd_moref *const *)f != NULL) {
			vim_enc_moref(e, t, m, *(struct vcd_moref *const *)f, false);
		} else if (m->card == VC_ONE) {
			vim_enc_fail(e, t, m, "required member is missing");
		}
		break;
	case VK_ANY:
		if (m->card == VC_LIST) {
			const struct vim_anys *l = (const void *)f;
			for (i = 0; i < l->len; i++)
				vim_enc_any(e, t, m, l->v[i]);
		} else if (*(struct vim_any *const *)f != NULL) {
			vim_enc_any(e, t, m, *(struct vim_any *const *)f);
		} else if (m->card == VC_ONE) {
			vim_enc_fail(e, t, m, "required member is missing");
		}
		break;
	case VK_OBJ:
		if (m->card == VC_LIST) {
			const struct vim_objlist *l = (const void *)f;
			for (i = 0; i < l->len; i++)
				vim_enc_child(e, t, m, l->v[i]);
		} else if (*(struct vim_obj *const *)f != NULL) {
			vim_enc_child(e, t, m, *(struct vim_obj *const *)f);
		} else if (m->card == VC_ONE) {
			vim_enc_fail(e, t, m, "required member is missing");
		}
		break;
	}
}

static void
vim_enc_obj(struct vim_enc *e, const struct vim_obj *o)
{
	const struct vim_type *t = o->type, *owner;

	for (int i = 0; i < t->nall && !e->failed; i++) {
		const struct vim_member *m = t->all[i];
		/* the type that declares m, for messages */
		for (owner = t; owner != NULL; owner = owner->base)
			if (m >= owner->members && m < owner->members + owner->nmembers)
				break;
		vim_enc_member(e, owner, m, o);
	}
}

int
vim_encode_request(struct buf *out, const struct vim_method *method,
    const void *req, struct vcd_err *err)
{
	struct vim_enc e = { out, err, method->name, 0 };
	const struct vim_obj *o = req;

	if (o->type != method->req) {
		vcd_err_set(err, VCD_E_INVALID, NULL, method->name,
		    "the request is not a %s request", method->name);
		return -1;
	}
	buf_printf(out, "<%s xmlns=\"%s\">", method->name, method->ns);
	vim_enc_obj(&e, o);
	buf_printf(out, "</%s>", method->name);
	return e.failed ? -1 : 0;
}
