/*
 * vim_core.c - the arena that owns decoded objects, and type lookups.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vim.h"
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

struct vim_any *
vim_any_str(struct vim_arena *a, const char *xsi_type, const char *text)
{
	struct vim_any *v = vim_alloc(a, sizeof(*v));

	v->kind = VA_SCALAR;
	v->xsi_type = vim_strdup(a, xsi_type);
	v->text = vim_strdup(a, text);
	return v;
}
