/*
 * xmalloc.h - allocation that never returns NULL.
 *
 * Like Redis' zmalloc: running out of memory is fatal, so callers carry no
 * NULL checks.  Everything returned is owned by the caller and released with
 * free().
 */
#ifndef VC_XMALLOC_H
#define VC_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);                  /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Overwrite a secret string with zeros, then free it.  NULL is fine. */
void xfree_secret(char *s);

#endif
