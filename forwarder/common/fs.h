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

/*
 * Call FN for each socket that process PID holds, as listed in PROC/PID/fd
 * (PROC is "/proc" or a test's copy): with the fd's name in that directory
 * and the socket's inode. FN returns non-zero to stop the walk. Returns 0,
 * FN's non-zero value, or -errno when the directory cannot be read (ENOENT
 * or ESRCH: the process is gone; EACCES: not ours to see).
 */
int proc_fd_sockets(const char *proc, pid_t pid,
		    int (*fn)(void *arg, const char *fd, unsigned long ino),
		    void *arg);

/*
 * Replace the file PATH with LEN bytes of DATA, atomically: written to
 * PATH.tmp (a link planted there is not followed: O_EXCL|O_NOFOLLOW
 * after an unlink), synced, renamed over PATH, the directory synced.
 * A reader sees the old file or the new one, never a part. 0 or -errno,
 * with the file that failed and why in ERR.
 */
int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, char *err, size_t errlen);

#endif
