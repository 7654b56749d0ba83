/*
 * vim.h - the vim25 data model: the subset of the vSphere API that vcagent
 * speaks, described once in vim25.spec and turned into C structs and member
 * tables (vim_gen.h, vim_gen.c) by vimgen.awk.
 *
 * Every data object starts with a struct vim_obj header (through its chain of
 * base structs), so a generic encoder and decoder can walk any object by its
 * type's member tables: base members first, then the type's own, in WSDL
 * order, each with its cardinality (1 required, ? optional, * list).
 *
 * Ownership: decoded objects, and every string and list inside them, live in
 * a struct vim_arena that the caller owns; vim_arena_free() releases them all
 * at once.  Requests are built by the caller from any memory it likes (often
 * the stack or an arena); the encoder only reads them.
 */
#ifndef VIM_H
#define VIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "vcdriver.h"

/* ---- arena ---- */

struct vim_arena_block;
struct vim_arena {
	struct vim_arena_block	*head;
	size_t			 used;		/* bytes used in head */
	size_t			 total;		/* bytes allocated, for tests */
};

#define VIM_ARENA_INIT { NULL, 0, 0 }

void *vim_alloc(struct vim_arena *a, size_t size);	/* zeroed; never NULL */
char *vim_strndup(struct vim_arena *a, const char *s, size_t n);
char *vim_strdup(struct vim_arena *a, const char *s);
void vim_arena_free(struct vim_arena *a);		/* reusable afterwards */
/* Forget every allocation but keep one block for the next use. */
void vim_arena_reset(struct vim_arena *a);

/* ---- scalar members ---- */

struct vim_int {
	int64_t	v;
	bool	set;
};

struct vim_bool {
	bool	v;
	bool	set;
};

struct vim_dbl {
	double	v;
	bool	set;
};

struct vim_strs {
	char	**v;
	size_t	  len;
};

struct vim_ints {
	int64_t	*v;
	size_t	 len;
};

struct vim_morefs {
	struct vcd_moref *v;
	size_t		  len;
};

#define VIM_INT(x)	((struct vim_int){ (x), true })
#define VIM_BOOL(x)	((struct vim_bool){ (x), true })

/* ---- types ---- */

enum vim_kind { VK_STR, VK_INT, VK_BOOL, VK_DBL, VK_MOREF, VK_ANY, VK_OBJ };
enum vim_card { VC_ONE, VC_OPT, VC_LIST };

struct vim_type;

struct vim_member {
	const char		*name;
	enum vim_kind		 kind;
	enum vim_card		 card;
	const struct vim_type	*type;		/* VK_OBJ: declared type */
	const char		*spec_type;	/* as written in the spec */
	size_t			 off;
};

struct vim_type {
	const char		*name;		/* WSDL name */
	const struct vim_type	*base;		/* NULL for a root */
	const struct vim_member	*members;	/* own members, NULL-terminated */
	int			 nmembers;
	size_t			 size;		/* of the C struct */
	int			 polymorphic;	/* has subtypes: xsi:type needed */
	const struct vim_member	*const *all;	/* base members first, then own */
	int			 nall;
};

/* The header every object starts with. */
struct vim_obj {
	const struct vim_type	*type;		/* the most derived type we know */
	const char		*xsi_type;	/* the type as sent, when unknown to us */
};

/*
 * An anyType value (DynamicProperty.val, OptionValue.value, TaskInfo.result):
 * a scalar (its text), a MoRef, an object of a type we know, or an array
 * (ArrayOfXxx) of such values.
 */
enum vim_any_kind { VA_SCALAR, VA_MOREF, VA_OBJ, VA_ARRAY };

struct vim_any {
	enum vim_any_kind	 kind;
	const char		*xsi_type;	/* "xsd:int", "ArrayOfManagedObjectReference", ... */
	char			*text;		/* VA_SCALAR */
	struct vcd_moref	*moref;		/* VA_MOREF */
	struct vim_obj		*obj;		/* VA_OBJ (NULL if the type is unknown) */
	struct vim_any		**items;	/* VA_ARRAY */
	size_t			 nitems;
};

struct vim_anys {
	struct vim_any	**v;
	size_t		  len;
};

struct vim_method {
	const char		*name;		/* SOAP element, e.g. "RetrievePropertiesEx" */
	const struct vim_type	*req;
	const struct vim_type	*resp;
	unsigned		 index;		/* in vim_methods[], 0..vim_nmethods-1 */
	bool			 idempotent;	/* safe to send twice (vim25.spec) */
	const char		*ns;		/* the body's namespace: "urn:vim25" */
	const char		*path;		/* the endpoint: "/sdk", "/pbm/sdk" */
	const char		*action;	/* SOAPAction; NULL: the session's */
};

#include "vim_gen.h"

/* The type named NAME (a prefix like "vim25:" is ignored), or NULL. */
const struct vim_type *vim_type_find(const char *name);
/* True if T is BASE or derives from it. */
bool vim_type_is(const struct vim_type *t, const struct vim_type *base);
/* OBJ if it is of type T (or derived), else NULL. */
void *vim_cast(const void *obj, const struct vim_type *t);
/* The name of OBJ's type as the server sent it. */
const char *vim_type_name(const void *obj);
/* Initialise an object's header: obj->type = T.  Returns OBJ. */
void *vim_init(void *obj, const struct vim_type *t);
/* A zeroed object of type T in arena A. */
void *vim_new(struct vim_arena *a, const struct vim_type *t);

/*
 * A deep copy of object O in arena A: every member, list, string and object
 * inside, and the type it was sent as.  For sending back an object as it
 * was read (a device to remove or edit) after its answer's arena is gone.
 */
void *vim_dup(struct vim_arena *a, const void *o);
struct vim_any *vim_any_dup(struct vim_arena *a, const struct vim_any *v);

/* anyType helpers for requests (allocated in A). */
struct vim_any *vim_any_str(struct vim_arena *a, const char *xsi_type, const char *text);
/* Append P to a list of pointers (*V, *LEN), its new array in A. */
void vim_push(struct vim_arena *a, void ***v, size_t *len, void *p);
struct vim_list_OptionValue;
/* Append the string option KEY = VALUE (an extraConfig entry), copied
 * into A, to L. */
void vim_option_add(struct vim_arena *a, struct vim_list_OptionValue *l,
    const char *key, const char *value);
struct vim_VirtualDevice;
struct vim_list_VirtualDeviceConfigSpec;
/* Append to L a device change (in A): OP ("add", "remove", "edit") of DEV,
 * FILEOP NULL, "create" or "destroy"; the change is returned.  With
 * CONNECT, DEV is first made connected, at power-on too, the guest allowed
 * to disconnect it (a NIC, a CD-ROM, a serial port as nova adds them). */
struct vim_VirtualDeviceConfigSpec *vim_device_change(struct vim_arena *a,
    struct vim_list_VirtualDeviceConfigSpec *l, const char *op, const char *fileop,
    struct vim_VirtualDevice *dev, bool connect);

/* ---- encoding (vim_enc.c) ---- */

/*
 * Append the SOAP envelope for METHOD with request REQ to OUT.  Returns 0, or
 * -1 with ERR naming the member (a required member missing, a string XML
 * cannot carry).
 */
int vim_encode_request(struct buf *out, const struct vim_method *method,
    const void *req, struct vcd_err *err);
/* Append S escaped for XML text or attribute content.  -1 if S holds
 * characters XML 1.0 cannot carry (nothing is appended then). */
int vim_xml_escape(struct buf *out, const char *s);

/* ---- decoding (vim_dec.c) ---- */

/*
 * Decode a SOAP response body (LEN bytes).  On success *OUT is the response
 * object (of METHOD's response type) allocated in A, and 0 is returned.  A
 * SOAP fault gives -1 with ERR->code VCD_E_FAULT, the fault type, the
 * object involved and the message, and *FAULT (when FAULT is not NULL) the
 * decoded fault object in A.  Anything else that is not a valid answer gives
 * -1 with VCD_E_PROTOCOL.
 */
int vim_decode_response(const char *body, size_t len,
    const struct vim_method *method, struct vim_arena *a, void **out,
    struct vim_obj **fault, struct vcd_err *err);

/* Fill ERR (code VCD_E_FAULT) from a decoded fault object and a message. */
void vim_fault_to_err(const struct vim_obj *fault, const char *message,
    struct vcd_err *err);

#endif
