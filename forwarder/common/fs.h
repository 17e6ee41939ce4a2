/* SPDX-License-Identifier: MIT */
/*
 * Files and directories.
 */
#ifndef IOTSEC_COMMON_FS_H
#define IOTSEC_COMMON_FS_H

#include <stddef.h>
#include <sys/types.h>

/* Create PATH and any missing parents with MODE; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/*
 * Create the directory that holds the file PATH (only that one: a path
 * whose grandparent is missing is more likely a typo than a wish); 0 or
 * -errno.
 */
int mkdir_parent(const char *path, mode_t mode);

/*
 * The executable of process PID (/proc/PID/exe) into BUF of SIZE bytes, as
 * printable UTF-8 (a path is bytes; JSON text is not); "" when unknown.
 */
void proc_exe(pid_t pid, char *buf, size_t size);

#endif
