// SPDX-License-Identifier: MIT
/*
 * Growable byte buffer (buf.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common/buf.h"

#define BUF_MIN_CAP 4096

int buf_reserve(struct buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
	unsigned char *p;

	if (b->err)
		return b->err;
	if (b->p && n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		goto nomem;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		goto nomem;
	b->p = p;
	b->cap = cap;
	return 0;
nomem:
	b->err = -ENOMEM;
	return b->err;
}

void *buf_grow(struct buf *b, size_t n)
{
	if (buf_reserve(b, n))
		return NULL;
	b->len += n;
	return b->p + b->len - n;
}

int buf_put(struct buf *b, const void *data, size_t n)
{
	void *p = buf_grow(b, n);

	if (!p)
		return b->err;
	if (n)
		memcpy(p, data, n);
	return 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->err = 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
