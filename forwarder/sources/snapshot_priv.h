/* SPDX-License-Identifier: MIT */
/*
 * What the snapshot collectors (snapshot_*.c, one per event) share.
 */
#ifndef IOTSEC_SNAPSHOT_PRIV_H
#define IOTSEC_SNAPSHOT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include "sources/snapshot.h"

void snap_str(struct json_object *o, const char *k, const char *v);
void snap_fmt(struct json_object *o, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Printable ASCII in place: values from files may hold anything. */
void snap_clean(char *s);
/* Append S to the ';'-separated list in BUF (LEN bytes). */
void snap_append(char *buf, size_t len, const char *s);
/* The first line of PATH, cleaned, into OUT; false when unreadable. */
bool snap_read_line(const char *path, char *out, size_t len);

#endif /* IOTSEC_SNAPSHOT_PRIV_H */
