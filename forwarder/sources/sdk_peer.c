// SPDX-License-Identifier: MIT
/*
 * The SDK sender's identity and its proof (see sdk_peer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdint.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "common/fs.h"
#include "common/util.h"
#include "sources/sdk_peer.h"

/*
 * SO_PEERPIDFD came with Linux 6.5 (and its headers). Where the C library's
 * headers predate it, the asm-generic number is used on the architectures
 * that take their socket options from asm-generic; elsewhere it is left
 * out. At run time an older kernel answers ENOPROTOOPT: start time, then.
 */
#if !defined(SO_PEERPIDFD) && (defined(__x86_64__) || defined(__i386__) || \
	defined(__aarch64__) || defined(__arm__) || defined(__riscv))
#define SO_PEERPIDFD 77
#endif

static bool pidfd_seen;

bool sdk_ident_have_pidfd(void)
{
	return pidfd_seen;
}

static int take_pidfd(int fd)
{
#ifdef SO_PEERPIDFD
	socklen_t len = sizeof(int);
	int pidfd = -1;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 &&
	    pidfd >= 0) {
		pidfd_seen = true;
		fcntl(pidfd, F_SETFD, FD_CLOEXEC);
		return pidfd;
	}
#else
	(void)fd;
#endif
	return -1;
}

/* /proc/PID/stat's starttime (field 22), 0 when the process is gone. */
static unsigned long long start_time(pid_t pid)
{
	char path[32], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold anything, ')' too: the last one ends it */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* to the space before field 22 (field 3 follows ") ") */
	for (i = 3; p && i <= 22; i++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

static bool exe_id(pid_t pid, dev_t *dev, ino_t *ino)
{
	char path[32];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st) < 0)
		return false;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return true;
}

/* The inode of the other end of the Unix socket FD: 0 or -errno. */
static int peer_ino(int fd, unsigned long *peer)
{
	struct {
		struct nlmsghdr nh;
		struct unix_diag_req r;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST,
		},
		.r = {
			.sdiag_family = AF_UNIX,
			.udiag_states = ~0U,
			.udiag_show = UDIAG_SHOW_PEER,
			.udiag_cookie = { ~0U, ~0U },
		},
	};
	union {
		struct nlmsghdr nh;
		char b[4096];
	} rep;
	struct unix_diag_msg *m;
	struct rtattr *a;
	struct stat st;
	int nl, ret;
	ssize_t n;
	size_t len;

	if (fstat(fd, &st) < 0)
		return -errno;
	req.r.udiag_ino = (unsigned int)st.st_ino;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	/* the kernel answers within send(): the reply is queued already */
	if (send(nl, &req, sizeof(req), 0) < 0) {
		ret = -errno;
		goto out;
	}
	n = recv(nl, &rep, sizeof(rep), MSG_DONTWAIT);
	ret = -EPROTO;
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	if (!NLMSG_OK(&rep.nh, (size_t)n))
		goto out;
	if (rep.nh.nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(&rep.nh);

		ret = e->error ? e->error : -EPROTO;
		goto out;
	}
	if (rep.nh.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    rep.nh.nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		goto out;
	m = NLMSG_DATA(&rep.nh);
	a = (struct rtattr *)((char *)m + NLMSG_ALIGN(sizeof(*m)));
	len = rep.nh.nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*m)));
	ret = -ENOTCONN;
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == UNIX_DIAG_PEER &&
		    RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
			*peer = *(uint32_t *)RTA_DATA(a);
			ret = *peer ? 0 : -ENOTCONN;
			break;
		}
	}
out:
	close(nl);
	return ret;
}

/* The open flags of fd NAME of PID (fdinfo "flags:"), or -1. */
static long fd_flags(pid_t pid, const char *name)
{
	char path[320], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "flags:");
	return p ? strtol(p + 6, NULL, 8) : -1;
}

enum hold { HOLD_CLOEXEC, HOLD_INHERITABLE, HOLD_NOT, HOLD_UNKNOWN };

struct hold_walk {
	pid_t pid;
	unsigned long ino;
	enum hold ret;
};

static int hold_fd(void *arg, const char *fd, unsigned long ino)
{
	struct hold_walk *w = arg;
	long fl;

	if (ino != w->ino)
		return 0;
	fl = fd_flags(w->pid, fd);
	if (fl < 0) {
		w->ret = HOLD_UNKNOWN;
		return 1;
	}
	if (!(fl & O_CLOEXEC)) {
		w->ret = HOLD_INHERITABLE;
		return 1;
	}
	w->ret = HOLD_CLOEXEC;
	return 0;
}

/* How PID holds the socket of inode INO. */
static enum hold holds(pid_t pid, unsigned long ino)
{
	struct hold_walk w = { .pid = pid, .ino = ino, .ret = HOLD_NOT };
	int err = proc_fd_sockets("/proc", pid, hold_fd, &w);

	if (err < 0)
		return err == -ENOENT || err == -ESRCH ? HOLD_NOT :
							 HOLD_UNKNOWN;
	return w.ret;
}

static bool same_process(const struct sdk_ident *id, pid_t pid)
{
	struct pollfd p = { .fd = id->pidfd, .events = POLLIN };

	if (id->pidfd >= 0)
		/* a pidfd becomes readable when its process exits */
		return poll(&p, 1, 0) == 0;
	return id->start && start_time(pid) == id->start;
}

static void refuse(struct sdk_ident *id, const char *why)
{
	id->refused = true;
	snprintf(id->reason, sizeof(id->reason), "%s", why);
}

int sdk_ident_take(struct sdk_ident *id, int fd, struct sdk_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned long ino = 0;
	dev_t dev;
	ino_t eino;

	memset(id, 0, sizeof(*id));
	id->pidfd = -1;
	peer->exe[0] = '\0';
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	peer->pid = cred.pid;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	id->pidfd = take_pidfd(fd);
	id->start = start_time(cred.pid);
	id->have_exe = exe_id(cred.pid, &id->exe_dev, &id->exe_ino);
	proc_exe(cred.pid, peer->exe, sizeof(peer->exe));

	if (!id->have_exe || !id->start || !same_process(id, cred.pid)) {
		refuse(id, "the connecting process has exited");
		goto unproven;
	}
	if (peer_ino(fd, &ino))
		goto unproven;		/* no sock_diag: cannot tell */
	switch (holds(cred.pid, ino)) {
	case HOLD_CLOEXEC:
		break;
	case HOLD_INHERITABLE:
		refuse(id, "the connection is open without close-on-exec, so "
		       "the connecting program may have executed another; "
		       "open it with SOCK_CLOEXEC (libiotsec does)");
		goto unproven;
	case HOLD_NOT:
		refuse(id, "the connecting process does not hold the "
		       "connection (it executed another program, exited or "
		       "passed it on)");
		goto unproven;
	case HOLD_UNKNOWN:
		goto unproven;
	}
	/* nothing changed while we looked */
	if (!exe_id(cred.pid, &dev, &eino) || dev != id->exe_dev ||
	    eino != id->exe_ino || !same_process(id, cred.pid)) {
		refuse(id, "the connecting process executed another program "
		       "after it connected");
		goto unproven;
	}
	return 0;

unproven:
	peer->exe[0] = '\0';
	id->have_exe = id->have_exe && !id->refused;
	return 0;
}

int sdk_ident_check(struct sdk_ident *id, const struct sdk_peer *peer,
		    char *reason, size_t rlen)
{
	dev_t dev;
	ino_t ino;

	if (!id->refused && peer->exe[0]) {
		if (!same_process(id, peer->pid))
			refuse(id, "the connecting process has exited; the "
			       "connection is held by another");
		else if (!exe_id(peer->pid, &dev, &ino) ||
			 dev != id->exe_dev || ino != id->exe_ino)
			refuse(id, "the connecting process executed another "
			       "program after it connected");
	}
	if (!id->refused)
		return 0;
	snprintf(reason, rlen, "sender identity: %s", id->reason);
	return -EPERM;
}

void sdk_ident_release(struct sdk_ident *id)
{
	if (id->pidfd >= 0)
		close(id->pidfd);
	id->pidfd = -1;
}
