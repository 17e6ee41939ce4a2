/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every stage uses. Header-only, so that libiotsec can use
 * them without linking the forwarder.
 */
#ifndef IOTSEC_COMMON_UTIL_H
#define IOTSEC_COMMON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Two optional strings are the same: both NULL, or equal. */
static inline bool str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static inline void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Format an error message into ERR (ERRLEN bytes) when the caller wants one. */
static inline void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#endif
