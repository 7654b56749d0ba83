/*
 * vim_core.c - the arena that owns decoded objects, and type lookups.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vim.h"
#include "vim_gen.h"
#include "xmalloc.h"

/*
 * Blocks grow from 16 KiB to 1 MiB so a small answer costs one malloc and a
 * 1.7 MB one a handful; anything larger than a block gets its own.
 */
struct vim_arena_block {
	struct vim_arena_block	*next;
	size_t			 size;
	max_align_t		 data[];
};

#define VIM_ARENA_MIN	(16 * 1024)
#define VIM_ARENA_MAX	(1024 * 1024)
#define VIM_ALIGN	(sizeof(max_align_t))

/* SIZE bytes, not zeroed. */
static void *
vim_alloc_raw(struct vim_arena *a, size_t size)
{
	struct vim_arena_block *b = a->head;
	void *p;

	size = (size + VIM_ALIGN - 1) & ~(VIM_ALIGN - 1);
	if (b == NULL || a->used + size > b->size) {
		size_t want = b == NULL ? VIM_ARENA_MIN : b->size * 2;

		if (want > VIM_ARENA_MAX)
			want = VIM_ARENA_MAX;
		if (want < size)
			want = size;
		b = xmalloc(sizeof(*b) + want);
		b->size = want;
		b->next = a->head;
		a->head = b;
		a->used = 0;
		a->total += want;
	}
	p = (char *)b->data + a->used;
	a->used += size;
	return p;
}

void *
vim_alloc(struct vim_arena *a, size_t size)
{
	return memset(vim_alloc_raw(a, size), 0, size);
}

char *
vim_strndup(struct vim_arena *a, const char *s, size_t n)
{
	char *p = vim_alloc_raw(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
vim_strdup(struct vim_arena *a, const char *s)
{
	return s == NULL ? NULL : vim_strndup(a, s, strlen(s));
}

void
vim_arena_reset(struct vim_arena *a)
{
	struct vim_arena_block *b, *next;

	if (a->head == NULL)
		return;
	/* keep the newest (largest) block, free the others */
	for (b = a->head->next; b != NULL; b = next) {
		next = b->next;
		a->total -= b->size;
		free(b);
	}
	a->head->next = NULL;
	a->used = 0;
}

void
vim_arena_free(struct vim_arena *a)
{
	struct vim_arena_block *b, *next;

	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
	a->used = 0;
	a->total = 0;
}

static int
vim_type_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct vim_type *const *)elem)->name);
}

const struct vim_type *
vim_type_find(const char *name)
{
	const struct vim_type *const *t;
	const char *colon;

	if (name == NULL)
		return NULL;
	if ((colon = strchr(name, ':')) != NULL)
		name = colon + 1;
	/* vim25 type names are capitalised; xsd:string, xsd:int... are not */
	if (name[0] < 'A' || name[0] > 'Z')
		return NULL;
	t = bsearch(name, vim_types, vim_ntypes, sizeof(vim_types[0]), vim_type_cmp);
	return t != NULL ? *t : NULL;
}

bool
vim_type_is(const struct vim_type *t, const struct vim_type *base)
{
	for (; t != NULL; t = t->base)
		if (t == base)
			return true;
	return false;
}

void *
vim_cast(const void *obj, const struct vim_type *t)
{
	const struct vim_obj *o = obj;

	return o != NULL && vim_type_is(o->type, t) ? (void *)o : NULL;
}

const char *
vim_type_name(const void *obj)
{
	const struct vim_obj *o = obj;

	if (o == NULL)
		return "";
	return o->xsi_type != NULL ? o->xsi_type : o->type->name;
}

void *
vim_init(void *obj, const struct vim_type *t)
{
	memset(obj, 0, t->size);
	((struct vim_obj *)obj)->type = t;
	return obj;
}

void *
vim_new(struct vim_arena *a, const struct vim_type *t)
{
	struct vim_obj *o = vim_alloc(a, t->size);

	o->type = t;
	return o;
}

/* Generic views of the generated list structs. */
struct vim_dup_list {
	void	*v;
	size_t	 len;
};

static void *
vim_dup_mem(struct vim_arena *a, const void *p, size_t size)
{
	void *q = vim_alloc(a, size ? size : 1);

	if (size > 0)
		memcpy(q, p, size);
	return q;
}

struct vim_any *
vim_any_dup(struct vim_arena *a, const struct vim_any *v)
{
	struct vim_any *c;

	if (v == NULL)
		return NULL;
	c = vim_dup_mem(a, v, sizeof(*v));
	c->xsi_type = vim_strdup(a, v->xsi_type);
	c->text = vim_strdup(a, v->text);
	if (v->moref != NULL)
		c->moref = vim_dup_mem(a, v->moref, sizeof(*v->moref));
	c->obj = vim_dup(a, v->obj);
	if (v->nitems > 0) {
		c->items = vim_alloc(a, v->nitems * sizeof(*c->items));
		for (size_t i = 0; i < v->nitems; i++)
			c->items[i] = vim_any_dup(a, v->items[i]);
	}
	return c;
}

void *
vim_dup(struct vim_arena *a, const void *obj)
{
	const struct vim_obj *o = obj;
	struct vim_obj *c;

	if (o == NULL)
		return NULL;
	/* scalars (struct vim_int, vim_bool, vim_dbl) come with the copy;
	 * what pointers reach is copied below */
	c = vim_dup_mem(a, o, o->type->size);
	c->xsi_type = vim_strdup(a, o->xsi_type);
	for (int i = 0; i < o->type->nall; i++) {
		const struct vim_member *m = o->type->all[i];
		char *f = (char *)c + m->off;

		if (m->card == VC_LIST) {
			struct vim_dup_list *l = (void *)f;
			size_t n = l->len;

			switch (m->kind) {
			case VK_STR:
				l->v = vim_dup_mem(a, l->v, n * sizeof(char *));
				for (size_t k = 0; k < n; k++)
					((char **)l->v)[k] = vim_strdup(a, ((char **)l->v)[k]);
				break;
			case VK_INT:
				l->v = vim_dup_mem(a, l->v, n * sizeof(int64_t));
				break;
			case VK_MOREF:
				l->v = vim_dup_mem(a, l->v, n * sizeof(struct vcd_moref));
				break;
			case VK_ANY:
				l->v = vim_dup_mem(a, l->v, n * sizeof(void *));
				for (size_t k = 0; k < n; k++)
					((struct vim_any **)l->v)[k] =
					    vim_any_dup(a, ((struct vim_any **)l->v)[k]);
				break;
			case VK_OBJ:
				l->v = vim_dup_mem(a, l->v, n * sizeof(void *));
				for (size_t k = 0; k < n; k++)
					((void **)l->v)[k] = vim_dup(a, ((void **)l->v)[k]);
				break;
			default:
				break;
			}
			continue;
		}
		switch (m->kind) {
		case VK_STR:
			*(char **)f = vim_strdup(a, *(char **)f);
			break;
		case VK_MOREF:
			if (*(struct vcd_moref **)f != NULL)
				*(struct vcd_moref **)f = vim_dup_mem(a,
				    *(struct vcd_moref **)f, sizeof(struct vcd_moref));
			break;
		case VK_ANY:
			*(struct vim_any **)f = vim_any_dup(a, *(struct vim_any **)f);
			break;
		case VK_OBJ:
			*(void **)f = vim_dup(a, *(void **)f);
			break;
		default:
			break;
		}
	}
	return c;
}

struct vim_any *
vim_any_str(struct vim_arena *a, const char *xsi_type, const char *text)
{
	struct vim_any *v = vim_alloc(a, sizeof(*v));

	v->kind = VA_SCALAR;
	v->xsi_type = vim_strdup(a, xsi_type);
	v->text = vim_strdup(a, text);
	return v;
}

void
vim_push(struct vim_arena *a, void ***v, size_t *len, void *p)
{
	void **nv = vim_alloc(a, (*len + 1) * sizeof(void *));

	if (*len > 0)
		memcpy(nv, *v, *len * sizeof(void *));
	nv[(*len)++] = p;
	*v = nv;
}

void
vim_option_add(struct vim_arena *a, struct vim_list_OptionValue *l,
    const char *key, const char *value)
{
	struct vim_OptionValue *ov = vim_new(a, &vim_type_OptionValue);

	ov->key = vim_strdup(a, key);
	ov->value = vim_any_str(a, "xsd:string", value);
	vim_push(a, (void ***)&l->v, &l->len, ov);
}

struct vim_VirtualDeviceConfigSpec *
vim_device_change(struct vim_arena *a, struct vim_list_VirtualDeviceConfigSpec *l,
    const char *op, const char *fileop, struct vim_VirtualDevice *dev, bool connect)
{
	struct vim_VirtualDeviceConfigSpec *ds = vim_new(a, &vim_type_VirtualDeviceConfigSpec);

	if (connect) {
		struct vim_VirtualDeviceConnectInfo *ci =
		    vim_new(a, &vim_type_VirtualDeviceConnectInfo);

		ci->startConnected = VIM_BOOL(true);
		ci->allowGuestControl = VIM_BOOL(true);
		ci->connected = VIM_BOOL(true);
		dev->connectable = ci;
	}
	ds->operation = (char *)op;
	ds->fileOperation = (char *)fileop;
	ds->device = dev;
	if (l != NULL)
		vim_push(a, (void ***)&l->v, &l->len, ds);
	return ds;
}
