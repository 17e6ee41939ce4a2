/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer. The first failure sticks in err and every later
 * call fails too, so a builder can check once at the end.
 */
#ifndef IOTSEC_COMMON_BUF_H
#define IOTSEC_COMMON_BUF_H

#include <stddef.h>

struct buf {
	unsigned char *p;
	size_t len, cap;
	int err;	/* 0, or the first failure (-ENOMEM, ...) */
};

/*
 * Room for N bytes past len; 0 or -ENOMEM. After success p is never NULL,
 * even for N == 0.
 */
int buf_reserve(struct buf *b, size_t n);
/* Extend len by N bytes and return them (not initialised), or NULL. */
void *buf_grow(struct buf *b, size_t n);
/* Append N bytes from DATA; 0 or the sticky error. */
int buf_put(struct buf *b, const void *data, size_t n);
/* Empty it and clear err; keeps the memory. */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
