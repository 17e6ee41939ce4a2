/* SPDX-License-Identifier: MIT */
/*
 * UTF-8, strictly (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. Every producer of JSON text in the forwarder checks
 * with these, so that what one stage accepts no later stage refuses.
 */
#ifndef IOTSEC_COMMON_UTF8_H
#define IOTSEC_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at S (at most LEN bytes), or 0. */
size_t utf8_seq(const unsigned char *s, size_t len);

/* LEN bytes at S are valid UTF-8 (NUL bytes are not). */
bool utf8_valid(const char *s, size_t len);

/*
 * Make the NUL-terminated S printable UTF-8 in place: control bytes and
 * every byte that does not begin a valid sequence become '?'.
 */
void utf8_clean(char *s);

#endif
