/* SPDX-License-Identifier: MIT */
/*
 * Files and directories.
 */
#ifndef IOTSEC_COMMON_FS_H
#define IOTSEC_COMMON_FS_H

#include <sys/types.h>

/* Create PATH and any missing parents with MODE; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/*
 * Create the directory that holds the file PATH (only that one: a path
 * whose grandparent is missing is more likely a typo than a wish); 0 or
 * -errno.
 */
int mkdir_parent(const char *path, mode_t mode);

#endif
