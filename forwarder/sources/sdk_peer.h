/* SPDX-License-Identifier: MIT */
/*
 * Who sent an SDK event, and the proof that it is still the one that
 * connected (see docs/sdk.md, "Identity", for what is guaranteed).
 *
 * SO_PEERCRED names the process that called connect(), but /proc/<pid>/exe
 * can only be read later: a process may connect and then execve() a
 * trusted program that inherits the connection (or sends what was queued
 * before the exec). The executable is therefore reported only when it is
 * proven:
 *
 *   at accept   the pid holds the client end of this very connection
 *               (found through sock_diag's UNIX_DIAG_PEER and its
 *               /proc/<pid>/fd), and only in fds with FD_CLOEXEC: such
 *               an fd cannot have survived an exec, so the process has
 *               run its present executable since it made the socket;
 *   per message the process is the same one (its pidfd from SO_PEERPIDFD
 *               where the kernel has it, else /proc/<pid>/stat's start
 *               time) and its executable is the same file (device and
 *               inode of /proc/<pid>/exe) as at accept.
 *
 * Evidence of an exec (or of a connection handed to another process) makes
 * the events refused (-EPERM); when the proof cannot be made at all (no
 * sock_diag for Unix sockets, /proc/<pid>/fd unreadable) the events are
 * accepted with an empty SenderExecutable.
 */
#ifndef IOTSEC_SDK_PEER_H
#define IOTSEC_SDK_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "sources/sdk_msg.h"

struct sdk_ident {
	int pidfd;			/* SO_PEERPIDFD; -1 without */
	unsigned long long start;	/* /proc/<pid>/stat starttime */
	dev_t exe_dev;
	ino_t exe_ino;
	bool have_exe;			/* exe_dev/exe_ino are known */
	bool refused;			/* evidence against: see reason */
	char reason[160];
};

/*
 * Take the identity of the client on FD: PEER gets pid, uid, gid and,
 * when proven, exe ("" otherwise). ID records what later checks compare.
 * Returns 0, or -errno when FD is not a Unix socket with a peer.
 */
int sdk_ident_take(struct sdk_ident *id, int fd, struct sdk_peer *peer);
/* Before each event: 0, or -EPERM with REASON (the event is refused). */
int sdk_ident_check(struct sdk_ident *id, const struct sdk_peer *peer,
		    char *reason, size_t rlen);
void sdk_ident_release(struct sdk_ident *id);

/* Whether this kernel gave a pidfd for the peers so far (tests, docs). */
bool sdk_ident_have_pidfd(void);

#endif /* IOTSEC_SDK_PEER_H */
