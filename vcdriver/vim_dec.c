/*
 * vim_dec.c - responses into objects, from the member tables, in one pass.
 *
 * libxml2's SAX2 interface feeds elements and text to a stack of frames; no
 * DOM is built.  Objects, strings and lists go into the caller's arena.
 * Names are matched by namespace URI and local name, never by prefix (vcsim
 * writes "XMLSchema-instance:type" where vCenter writes "xsi:type").  Members
 * arrive in WSDL order, so each object frame remembers where the last member
 * matched and looks there first.  Elements we do not know (newer API
 * versions add members anywhere) are skipped with their whole subtree.  A
 * DOCTYPE is refused: SOAP has none, and entities are an attack surface.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "vcd_int.h"
#include "vim.h"

enum vim_frame_kind {
	FR_DOC,		/* before the Envelope */
	FR_ENV,		/* in soapenv:Envelope */
	FR_BODY,	/* in soapenv:Body */
	FR_OBJ,		/* in an object: children are members */
	FR_TEXT,	/* a scalar: collect text */
	FR_SKIP,	/* an unknown element: ignore its subtree */
	FR_FAULT,	/* in soapenv:Fault */
	FR_DETAIL,	/* in the fault's detail */
	FR_ARRAY,	/* an anyType ArrayOfXxx: children are items */
};

struct vim_frame {
	enum vim_frame_kind	 kind;
	struct vim_obj		*obj;		/* FR_OBJ */
	int			 next;		/* FR_OBJ: index to try first */
	const struct vim_member	*m;		/* FR_TEXT: member being read */
	char			*field;		/* FR_TEXT: where the value goes */
	struct vim_any		*any;		/* FR_TEXT/FR_ARRAY: anyType value */
	struct vcd_moref	*moref;		/* FR_TEXT of a MoRef */
	int			 faultstring;	/* FR_TEXT: the fault's message */
};

#define VIM_MAX_DEPTH	64

struct vim_dec {
	xmlParserCtxtPtr	 ctxt;
	struct vim_arena	*a;
	const struct vim_method	*method;
	struct vim_frame	 stack[VIM_MAX_DEPTH];
	int			 depth;		/* frames in use */
	int			 skip;		/* nesting inside FR_SKIP */
	struct buf		 text;
	void			*resp;		/* the response object */
	bool			 is_fault;
	struct vim_obj		*fault;
	char			*faultstring;
	struct vcd_err		*err;
	bool			 failed;
};

/* Generic view of a generated object list. */
struct vim_objlist {
	struct vim_obj	**v;
	size_t		  len;
};

static void
vim_dec_fail(struct vim_dec *d, const char *fmt, ...)
{
	va_list ap;
	char msg[400];

	if (d->failed)
		return;
	d->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vcd_err_set(d->err, VCD_E_PROTOCOL, NULL, d->method->name, "%s", msg);
	xmlStopParser(d->ctxt);
}

/*
 * Append one slot to an array held as (pointer, length) at V/LEN, elements of
 * SIZE bytes.  Capacity is implied by the length (4, then powers of two), so
 * lists need no capacity field; outgrown arrays stay in the arena.
 */
static void *
vim_dec_push(struct vim_arena *a, void **v, size_t *len, size_t size)
{
	size_t n = *len;

	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		size_t cap = n == 0 ? 4 : n * 2;
		void *nv = vim_alloc(a, cap * size);
		if (n > 0)
			memcpy(nv, *v, n * size);
		*v = nv;
	}
	(*len)++;
	return (char *)*v + n * size;
}

/*
 * The value of attribute NAME in namespace URI (NULL: no namespace), copied
 * into the arena: SAX2 hands attributes as (localname, prefix, URI, value
 * start, value end), the value not NUL-terminated.  NULL if absent.
 */
static char *
vim_dec_attr_dup(struct vim_dec *d, int nattr, const xmlChar **attrs,
    const char *uri, const char *name)
{
	for (int i = 0; i < nattr; i++) {
		const xmlChar **at = attrs + i * 5;
		if (strcmp((const char *)at[0], name) != 0)
			continue;
		if ((uri == NULL) != (at[2] == NULL))
			continue;
		if (uri != NULL && strcmp((const char *)at[2], uri) != 0)
			continue;
		return vim_strndup(d->a, (const char *)at[3], (size_t)(at[4] - at[3]));
	}
	return NULL;
}

static struct vim_frame *
vim_dec_push_frame(struct vim_dec *d, enum vim_frame_kind kind)
{
	struct vim_frame *f;

	if (d->depth >= VIM_MAX_DEPTH) {
		vim_dec_fail(d, "the answer nests deeper than %d elements", VIM_MAX_DEPTH);
		return NULL;
	}
	f = &d->stack[d->depth++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	return f;
}

/* A new object of type T, or of the type XSI names when that derives from T. */
static struct vim_obj *
vim_dec_new_obj(struct vim_dec *d, const struct vim_type *t, const char *xsi)
{
	const struct vim_type *actual = t;
	struct vim_obj *o;

	if (xsi != NULL) {
		const char *name = strchr(xsi, ':') ? strchr(xsi, ':') + 1 : xsi;
		const struct vim_type *x = vim_type_find(name);
		if (x != NULL && vim_type_is(x, t))
			actual = x;
		o = vim_alloc(d->a, actual->size);
		o->type = actual;
		if (strcmp(actual->name, name) != 0)
			o->xsi_type = vim_strdup(d->a, name);
		return o;
	}
	o = vim_alloc(d->a, actual->size);
	o->type = actual;
	return o;
}

/* Begin reading an anyType value into ANY from an element with xsi:type XSI. */
static void
vim_dec_any_begin(struct vim_dec *d, struct vim_any *any, const char *xsi,
    int nattr, const xmlChar **attrs)
{
	const char *name = xsi == NULL ? "string" :
	    (strchr(xsi, ':') ? strchr(xsi, ':') + 1 : xsi);
	const struct vim_type *t;
	struct vim_frame *f;

	any->xsi_type = xsi != NULL ? xsi : "xsd:string";
	if (strncmp(name, "ArrayOf", 7) == 0) {
		any->kind = VA_ARRAY;
		if ((f = vim_dec_push_frame(d, FR_ARRAY)) != NULL)
			f->any = any;
	} else if (strcmp(name, "ManagedObjectReference") == 0) {
		any->kind = VA_MOREF;
		any->moref = vim_alloc(d->a, sizeof(*any->moref));
		char *tcopy = vim_dec_attr_dup(d, nattr, attrs, NULL, "type");
		if (tcopy != NULL) {
			if (strlen(tcopy) >= sizeof(any->moref->type))
				vim_dec_fail(d, "a MoRef type is too long");
			else
				strcpy(any->moref->type, tcopy);
		}
		if ((f = vim_dec_push_frame(d, FR_TEXT)) != NULL) {
			f->any = any;
			f->moref = any->moref;
		}
		buf_reset(&d->text);
	} else if ((t = vim_type_find(name)) != NULL) {
		any->kind = VA_OBJ;
		any->obj = vim_dec_new_obj(d, t, NULL);
		if ((f = vim_dec_push_frame(d, FR_OBJ)) != NULL)
			f->obj = any->obj;
	} else {
		/* xsd scalars, enumerations, and objects of types outside our
		 * subset (their members are skipped, see FR_TEXT) */
		any->kind = VA_SCALAR;
		if ((f = vim_dec_push_frame(d, FR_TEXT)) != NULL)
			f->any = any;
		buf_reset(&d->text);
	}
}

/* A child element of an object: find the member, start reading it. */
static void
vim_dec_member(struct vim_dec *d, struct vim_frame *of, const char *name,
    int nattr, const xmlChar **attrs)
{
	const struct vim_type *t = of->obj->type;
	const struct vim_member *m = NULL;
	struct vim_frame *f;
	char *field;
	int i;

	for (i = of->next; i < t->nall; i++)
		if (strcmp(t->all[i]->name, name) == 0)
			goto found;
	for (i = 0; i < of->next && i < t->nall; i++)
		if (strcmp(t->all[i]->name, name) == 0)
			goto found;
	/* not in our subset: skip it */
	vim_dec_push_frame(d, FR_SKIP);
	d->skip = 1;
	return;
found:
	m = t->all[i];
	of->next = i;
	field = (char *)of->obj + m->off;
	switch (m->kind) {
	case VK_OBJ: {
		char *xsi = vim_dec_attr_dup(d, nattr, attrs, VCD_NS_XSI, "type");
		struct vim_obj *o = vim_dec_new_obj(d, m->type, xsi);
		if (m->card == VC_LIST) {
			struct vim_objlist *l = (void *)field;
			*(struct vim_obj **)vim_dec_push(d->a, (void **)&l->v, &l->len,
			    sizeof(void *)) = o;
		} else {
			if (*(struct vim_obj **)field != NULL) {
				vim_dec_fail(d, "%s.%s appears twice", t->name, m->name);
				return;
			}
			*(struct vim_obj **)field = o;
		}
		if ((f = vim_dec_push_frame(d, FR_OBJ)) != NULL)
			f->obj = o;
		return;
	}
	case VK_ANY: {
		struct vim_any *any = vim_alloc(d->a, sizeof(*any));
		char *xsi = vim_dec_attr_dup(d, nattr, attrs, VCD_NS_XSI, "type");
		if (m->card == VC_LIST) {
			struct vim_anys *l = (void *)field;
			*(struct vim_any **)vim_dec_push(d->a, (void **)&l->v, &l->len,
			    sizeof(void *)) = any;
		} else {
			*(struct vim_any **)field = any;
		}
		vim_dec_any_begin(d, any, xsi, nattr, attrs);
		return;
	}
	case VK_MOREF: {
		struct vcd_moref *r;
		char *type;
		if (m->card == VC_LIST) {
			struct vim_morefs *l = (void *)field;
			r = vim_dec_push(d->a, (void **)&l->v, &l->len, sizeof(*r));
		} else {
			r = vim_alloc(d->a, sizeof(*r));
			*(struct vcd_moref **)field = r;
		}
		if ((type = vim_dec_attr_dup(d, nattr, attrs, NULL, "type")) != NULL) {
			if (strlen(type) >= sizeof(r->type)) {
				vim_dec_fail(d, "%s.%s: MoRef type too long", t->name, m->name);
				return;
			}
			strcpy(r->type, type);
		}
		if ((f = vim_dec_push_frame(d, FR_TEXT)) != NULL) {
			f->m = m;
			f->moref = r;
		}
		buf_reset(&d->text);
		return;
	}
	default:
		if ((f = vim_dec_push_frame(d, FR_TEXT)) != NULL) {
			f->m = m;
			f->field = field;
		}
		buf_reset(&d->text);
		return;
	}
}

/* An item of an anyType array: the element name is the item's type. */
static void
vim_dec_array_item(struct vim_dec *d, struct vim_frame *af, const char *name,
    int nattr, const xmlChar **attrs)
{
	struct vim_any *item = vim_alloc(d->a, sizeof(*item));
	struct vim_any *arr = af->any;
	const struct vim_type *base;
	const char *aname;
	struct vim_frame *f;
	char *xsi;

	*(struct vim_any **)vim_dec_push(d->a, (void **)&arr->items, &arr->nitems,
	    sizeof(void *)) = item;
	/* an item's own xsi:type (a VirtualE1000 in an ArrayOfVirtualDevice)
	 * says more than its element name */
	if ((xsi = vim_dec_attr_dup(d, nattr, attrs, VCD_NS_XSI, "type")) == NULL)
		xsi = vim_strdup(d->a, name);
	/* A subtype we do not know (a VirtualVmxnet3Vrdma once, a device of a
	 * newer API) is read as the array's item type, VirtualDevice in an
	 * ArrayOfVirtualDevice (or the element's name), keeping its members. */
	aname = strchr(arr->xsi_type, ':') ? strchr(arr->xsi_type, ':') + 1 :
	    arr->xsi_type;
	if (vim_type_find(xsi) == NULL &&
	    ((base = vim_type_find(aname + 7)) != NULL ||
	    (base = vim_type_find(name)) != NULL)) {
		item->kind = VA_OBJ;
		item->xsi_type = xsi;
		item->obj = vim_dec_new_obj(d, base, xsi);
		if ((f = vim_dec_push_frame(d, FR_OBJ)) != NULL)
			f->obj = item->obj;
		return;
	}
	vim_dec_any_begin(d, item, xsi, nattr, attrs);
}

static int
vim_dec_scalar(struct vim_dec *d, const struct vim_member *m, char *field,
    const char *text)
{
	char *end;

	switch (m->kind) {
	case VK_STR:
		if (m->card == VC_LIST) {
			struct vim_strs *l = (void *)field;
			*(char **)vim_dec_push(d->a, (void **)&l->v, &l->len,
			    sizeof(char *)) = vim_strndup(d->a, text, d->text.len);
		} else {
			*(char **)field = vim_strndup(d->a, text, d->text.len);
		}
		return 0;
	case VK_INT: {
		long long v;
		errno = 0;
		v = strtoll(text, &end, 10);
		if (text[0] == '\0' || *end != '\0' || errno != 0)
			return -1;
		if (m->card == VC_LIST) {
			struct vim_ints *l = (void *)field;
			*(int64_t *)vim_dec_push(d->a, (void **)&l->v, &l->len,
			    sizeof(int64_t)) = v;
		} else {
			((struct vim_int *)field)->v = v;
			((struct vim_int *)field)->set = true;
		}
		return 0;
	}
	case VK_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
			((struct vim_bool *)field)->v = true;
		else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
			((struct vim_bool *)field)->v = false;
		else
			return -1;
		((struct vim_bool *)field)->set = true;
		return 0;
	case VK_DBL:
		errno = 0;
		((struct vim_dbl *)field)->v = strtod(text, &end);
		if (text[0] == '\0' || *end != '\0' || errno != 0)
			return -1;
		((struct vim_dbl *)field)->set = true;
		return 0;
	default:
		return -1;
	}
}

static void
vim_dec_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattr, int ndefaulted,
    const xmlChar **attrs)
{
	struct vim_dec *d = ctx;
	const char *name = (const char *)localname;
	const char *u = (const char *)uri;
	struct vim_frame *top, *f;
	bool soap = u != NULL && strcmp(u, VCD_NS_SOAPENV) == 0;

	(void)prefix; (void)nns; (void)ns; (void)ndefaulted;
	if (d->failed)
		return;
	if (d->skip > 0) {
		d->skip++;
		return;
	}
	top = d->depth > 0 ? &d->stack[d->depth - 1] : NULL;
	switch (top == NULL ? FR_DOC : top->kind) {
	case FR_DOC:
		if (!soap || strcmp(name, "Envelope") != 0) {
			vim_dec_fail(d, "the answer is not a SOAP envelope (<%s>)", name);
			return;
		}
		vim_dec_push_frame(d, FR_ENV);
		return;
	case FR_ENV:
		if (soap && strcmp(name, "Body") == 0)
			vim_dec_push_frame(d, FR_BODY);
		else {
			vim_dec_push_frame(d, FR_SKIP);
			d->skip = 1;
		}
		return;
	case FR_BODY:
		if (d->resp != NULL || d->is_fault) {
			vim_dec_fail(d, "the SOAP body holds more than one element");
			return;
		}
		if (soap && strcmp(name, "Fault") == 0) {
			d->is_fault = true;
			vim_dec_push_frame(d, FR_FAULT);
			return;
		}
		if (strlen(name) != strlen(d->method->name) + 8 ||
		    strncmp(name, d->method->name, strlen(d->method->name)) != 0 ||
		    strcmp(name + strlen(d->method->name), "Response") != 0) {
			vim_dec_fail(d, "expected %sResponse, got <%s>",
			    d->method->name, name);
			return;
		}
		d->resp = vim_dec_new_obj(d, d->method->resp, NULL);
		if ((f = vim_dec_push_frame(d, FR_OBJ)) != NULL)
			f->obj = d->resp;
		return;
	case FR_FAULT:
		if (strcmp(name, "faultstring") == 0) {
			if ((f = vim_dec_push_frame(d, FR_TEXT)) != NULL)
				f->faultstring = 1;
			buf_reset(&d->text);
		} else if (strcmp(name, "detail") == 0) {
			vim_dec_push_frame(d, FR_DETAIL);
		} else {
			vim_dec_push_frame(d, FR_SKIP);
			d->skip = 1;
		}
		return;
	case FR_DETAIL: {
		/* <XFault xsi:type="X">: the type from xsi:type, else the name */
		char *xsi = vim_dec_attr_dup(d, nattr, attrs, VCD_NS_XSI, "type");
		if (d->fault != NULL || xsi == NULL) {
			size_t n = strlen(name);
			if (d->fault != NULL) {
				vim_dec_push_frame(d, FR_SKIP);
				d->skip = 1;
				return;
			}
			xsi = vim_strndup(d->a, name, n > 5 &&
			    strcmp(name + n - 5, "Fault") == 0 ? n - 5 : n);
		}
		d->fault = vim_dec_new_obj(d, &vim_type_MethodFault, xsi);
		if ((f = vim_dec_push_frame(d, FR_OBJ)) != NULL)
			f->obj = d->fault;
		return;
	}
	case FR_OBJ:
		vim_dec_member(d, top, name, nattr, attrs);
		return;
	case FR_ARRAY:
		vim_dec_array_item(d, top, name, nattr, attrs);
		return;
	case FR_TEXT:
		/* an element inside a scalar: an object outside our subset in
		 * an anyType, or a malformed answer; skip the subtree */
		if (top->any != NULL || top->faultstring) {
			vim_dec_push_frame(d, FR_SKIP);
			d->skip = 1;
			return;
		}
		vim_dec_fail(d, "unexpected <%s> inside %s", name,
		    top->m != NULL ? top->m->name : "a value");
		return;
	case FR_SKIP:
		return;
	}
}

static void
vim_dec_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri)
{
	struct vim_dec *d = ctx;
	struct vim_frame *f;
	const char *text;

	(void)localname; (void)prefix; (void)uri;
	if (d->failed)
		return;
	if (d->skip > 0) {
		if (--d->skip > 0)
			return;
		d->depth--;		/* the FR_SKIP frame */
		return;
	}
	if (d->depth == 0)
		return;
	f = &d->stack[--d->depth];
	if (f->kind != FR_TEXT)
		return;
	text = buf_cstr(&d->text);
	if (f->faultstring) {
		d->faultstring = vim_strndup(d->a, text, d->text.len);
	} else if (f->moref != NULL) {
		if (d->text.len >= sizeof(f->moref->value)) {
			vim_dec_fail(d, "a MoRef value is too long (%zu bytes)", d->text.len);
			return;
		}
		memcpy(f->moref->value, text, d->text.len + 1);
	} else if (f->any != NULL) {
		f->any->text = vim_strndup(d->a, text, d->text.len);
	} else if (f->m != NULL && vim_dec_scalar(d, f->m, f->field, text) < 0) {
		vim_dec_fail(d, "%s: \"%.40s\" is not a valid %s", f->m->name, text,
		    f->m->spec_type);
	}
	buf_reset(&d->text);
}

static void
vim_dec_chars(void *ctx, const xmlChar *ch, int len)
{
	struct vim_dec *d = ctx;

	if (d->failed || d->skip > 0 || d->depth == 0 ||
	    d->stack[d->depth - 1].kind != FR_TEXT)
		return;
	buf_append(&d->text, ch, (size_t)len);
}

static void
vim_dec_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
    const xmlChar *sys)
{
	(void)name; (void)ext; (void)sys;
	vim_dec_fail(ctx, "the answer has a DOCTYPE, which SOAP forbids");
}

static void
vim_dec_error(void *ctx, const char *msg, ...)
{
	struct vim_dec *d = ctx;
	char text[256];
	va_list ap;
	size_t n;

	va_start(ap, msg);
	vsnprintf(text, sizeof(text), msg, ap);
	va_end(ap);
	n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	vim_dec_fail(d, "malformed XML: %s", text);
}

int
vim_decode_response(const char *body, size_t len,
    const struct vim_method *method, struct vim_arena *a, void **out,
    struct vim_obj **fault, struct vcd_err *err)
{
	xmlSAXHandler sax;
	struct vim_dec d;
	int ret = -1;

	*out = NULL;
	if (fault != NULL)
		*fault = NULL;
	if (len == 0) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, method->name,
		    "the answer is empty");
		return -1;
	}
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = vim_dec_start;
	sax.endElementNs = vim_dec_end;
	sax.characters = vim_dec_chars;
	sax.cdataBlock = vim_dec_chars;
	sax.internalSubset = vim_dec_subset;
	sax.error = vim_dec_error;
	sax.fatalError = vim_dec_error;

	memset(&d, 0, sizeof(d));
	d.a = a;
	d.method = method;
	d.err = err;
	/* The whole answer is in memory: a memory parser avoids the push
	 * parser's per-chunk bookkeeping. */
	if (len > INT_MAX || (d.ctxt = xmlCreateMemoryParserCtxt(body, (int)len)) == NULL) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, method->name,
		    "cannot create an XML parser");
		goto out;
	}
	xmlCtxtUseOptions(d.ctxt, XML_PARSE_NONET);
	memcpy(d.ctxt->sax, &sax, sizeof(sax));
	d.ctxt->userData = &d;
	if (xmlParseDocument(d.ctxt) != 0 && !d.failed)
		vim_dec_fail(&d, "malformed XML");
	if (d.failed)
		goto out;
	if (d.is_fault) {
		if (d.fault == NULL)
			d.fault = vim_dec_new_obj(&d, &vim_type_MethodFault, "SoapFault");
		vim_fault_to_err(d.fault, d.faultstring, err);
		if (fault != NULL)
			*fault = d.fault;
		goto out;
	}
	if (d.resp == NULL) {
		vcd_err_set(err, VCD_E_PROTOCOL, NULL, method->name,
		    "the SOAP body is empty");
		goto out;
	}
	*out = d.resp;
	ret = 0;
out:
	if (d.ctxt != NULL)
		xmlFreeParserCtxt(d.ctxt);
	buf_free(&d.text);
	return ret;
}

/* ---- faults ---- */

static void
vim_fault_moref(char *dst, size_t len, const struct vcd_moref *r)
{
	if (r != NULL)
		snprintf(dst, len, "%s:%s", r->type, r->value);
}

void
vim_fault_to_err(const struct vim_obj *f, const char *message, struct vcd_err *err)
{
	const struct vim_NoPermission *np;
	const struct vim_ManagedObjectNotFound *nf;
	const struct vim_FileFault *ff;
	const struct vim_DuplicateName *dn;
	const struct vim_InvalidName *in;
	const struct vim_AlreadyExists *ae;
	const struct vim_TaskInProgress *tp;
	const struct vim_InvalidDatastorePath *idp;
	const struct vim_InvalidDatastore *ids;
	const struct vim_InvalidArgument *ia;
	const struct vim_InvalidPowerState *ips;
	const struct vim_NoDiskSpace *nds;
	const struct vim_MethodNotFound *mnf;
	const struct vim_InvalidProperty *ip;

	vcd_err_set(err, VCD_E_FAULT, vim_type_name(f), NULL, "%s",
	    message != NULL && message[0] != '\0' ? message :
	    "(the server gave no message)");
	if ((np = vim_cast(f, &vim_type_NoPermission)) != NULL)
		vim_fault_moref(err->object, sizeof(err->object), np->object);
	else if ((nf = vim_cast(f, &vim_type_ManagedObjectNotFound)) != NULL)
		vim_fault_moref(err->object, sizeof(err->object), nf->obj);
	else if ((nds = vim_cast(f, &vim_type_NoDiskSpace)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s",
		    nds->datastore ? nds->datastore : "");
	else if ((ff = vim_cast(f, &vim_type_FileFault)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", ff->file ? ff->file : "");
	else if ((dn = vim_cast(f, &vim_type_DuplicateName)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", dn->name ? dn->name : "");
	else if ((in = vim_cast(f, &vim_type_InvalidName)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", in->name ? in->name : "");
	else if ((ae = vim_cast(f, &vim_type_AlreadyExists)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", ae->name ? ae->name : "");
	else if ((tp = vim_cast(f, &vim_type_TaskInProgress)) != NULL)
		vim_fault_moref(err->object, sizeof(err->object), tp->task);
	else if ((idp = vim_cast(f, &vim_type_InvalidDatastorePath)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s",
		    idp->datastorePath ? idp->datastorePath : "");
	else if ((ids = vim_cast(f, &vim_type_InvalidDatastore)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", ids->name ? ids->name : "");
	else if ((ia = vim_cast(f, &vim_type_InvalidArgument)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s",
		    ia->invalidProperty ? ia->invalidProperty : "");
	else if ((mnf = vim_cast(f, &vim_type_MethodNotFound)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", mnf->method ? mnf->method : "");
	else if ((ip = vim_cast(f, &vim_type_InvalidProperty)) != NULL)
		snprintf(err->object, sizeof(err->object), "%s", ip->name ? ip->name : "");
	if ((ips = vim_cast(f, &vim_type_InvalidPowerState)) != NULL &&
	    (message == NULL || message[0] == '\0'))
		snprintf(err->msg, sizeof(err->msg), "the virtual machine is %s%s%s",
		    ips->existingState ? ips->existingState : "in another state",
		    ips->requestedState ? ", not " : "",
		    ips->requestedState ? ips->requestedState : "");
}
