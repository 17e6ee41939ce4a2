/* SPDX-License-Identifier: MIT */
/*
 * Users from the local file only: /etc/passwd read with fgetpwent(), never
 * through NSS. An NSS module (LDAP, SSSD) can wait on the network, and the
 * loop that calls these must never wait; a user who is only in a
 * directory service has a uid and no name here.
 *
 * The file is read again when its inode, size or mtime changed, looked at
 * (stat) at most once a second. Not thread-safe: the loop's.
 */
#ifndef IOTSEC_COMMON_USERS_H
#define IOTSEC_COMMON_USERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Read from PATH instead of /etc/passwd (tests); NULL: the default. */
void users_set_path(const char *path);
/*
 * The name of UID, NULL when the file has none. Valid until the next
 * call of a users_*() function.
 */
const char *users_name(uid_t uid);
/* The uid of NAME into *UID; false when the file has none. */
bool users_uid(const char *name, uid_t *uid);
/* Changes each time the file is read again (caches of names compare it). */
uint64_t users_generation(void);
/* Free the table (exit, tests). */
void users_free(void);

#endif
