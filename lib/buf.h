/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * The buffer owns its bytes; buf_free() releases them and buf_steal() hands
 * them to the caller (who then frees them with free()).
 */
#ifndef VC_BUF_H
#define VC_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);           /* length 0, keeps the memory */
void buf_free(struct buf *b);
char *buf_steal(struct buf *b);          /* caller owns the result; b is reset */
const char *buf_cstr(const struct buf *b); /* "" when empty; borrowed */

#endif
