// SPDX-License-Identifier: MIT
/*
 * A process monitor the way agents built on the kernel's proc connector
 * work (Azure's micro agent did for processes): listen to the connector's
 * process events and, on each exec, read /proc/<pid>/cmdline and the
 * /proc/<pid>/exe link. A peer for the benchmarks (tests/bench/peers.sh),
 * not part of iotsec.
 *
 *   procconn [--output FILE]
 *
 * One line per exec event:
 *
 *   exec <pid> <exe> <argc> <arg0> <arg1> ...
 *
 * with "-" for an exe link that could not be read and argc 0 for a
 * cmdline that was gone or empty (the process had exited, or was a
 * zombie, before we looked). Bytes outside printable ASCII, space and
 * backslash are written as \xNN. "ready" on stderr once the listen request
 * is acknowledged; on SIGTERM or SIGINT a summary on stderr:
 * "events=N exec=N unreadable=N enobufs=N".
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "lib/tool.h"

struct counters {
	unsigned long events, exec, unreadable, enobufs;
};

static int listen_request(int fd, enum proc_cn_mcast_op op)
{
	struct {
		struct nlmsghdr nlh;
		struct cn_msg cn;
		enum proc_cn_mcast_op op;
	} __attribute__((packed)) req;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = NLMSG_DONE;
	req.nlh.nlmsg_pid = getpid();
	req.cn.id.idx = CN_IDX_PROC;
	req.cn.id.val = CN_VAL_PROC;
	req.cn.len = sizeof(op);
	req.op = op;
	return send(fd, &req, sizeof(req), 0) == sizeof(req) ? 0 : -errno;
}

static void put_escaped(FILE *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c > ' ' && c < 0x7f && c != '\\')
			fputc(c, out);
		else
			fprintf(out, "\\x%02x", c);
	}
}

static void report_exec(FILE *out, pid_t pid, struct counters *cnt)
{
	static char cmdline[65536];
	char path[64], exe[PATH_MAX];
	ssize_t elen, clen = 0, n;
	size_t start, i;
	int fd, argc = 0;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	elen = readlink(path, exe, sizeof(exe));
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (clen < (ssize_t)sizeof(cmdline) &&
		       (n = read(fd, cmdline + clen,
				 sizeof(cmdline) - clen)) > 0)
			clen += n;
		close(fd);
	}
	for (i = 0; i < (size_t)clen; i++)
		if (!cmdline[i])
			argc++;
	if (clen > 0 && cmdline[clen - 1])
		argc++;
	if (elen <= 0 || !argc)
		cnt->unreadable++;

	fprintf(out, "exec %d ", pid);
	if (elen > 0)
		put_escaped(out, exe, elen);
	else
		fputc('-', out);
	fprintf(out, " %d", argc);
	for (start = 0, i = 0; i <= (size_t)clen && argc; i++) {
		if (i == (size_t)clen || !cmdline[i]) {
			if (i == start && i == (size_t)clen)
				break;
			fputc(' ', out);
			put_escaped(out, cmdline + start, i - start);
			start = i + 1;
		}
	}
	fputc('\n', out);
}

static void handle(FILE *out, const struct nlmsghdr *nlh, struct counters *cnt)
{
	const struct cn_msg *cn = NLMSG_DATA(nlh);
	const struct proc_event *ev;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*cn) + sizeof(*ev)))
		return;
	if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC)
		return;
	ev = (const struct proc_event *)cn->data;
	cnt->events++;
	if (ev->what != PROC_EVENT_EXEC)
		return;
	cnt->exec++;
	report_exec(out, ev->event_data.exec.process_tgid, cnt);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct sigaction sig = { .sa_handler = on_signal };
	static char buf[65536];
	struct counters cnt = { 0 };
	int fd, opt, rcvbuf = 4 << 20, ready = 0, ret = 1;
	FILE *out = stdout;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out = fopen(optarg, "w");
			if (!out) {
				perror(optarg);
				return 1;
			}
			break;
		default:
			fprintf(stderr, "usage: procconn [--output FILE]\n");
			return 2;
		}
	}
	sigaction(SIGTERM, &sig, NULL);
	sigaction(SIGINT, &sig, NULL);

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_CONNECTOR);
	if (fd < 0) {
		perror("procconn: socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sa.nl_groups = CN_IDX_PROC;
	sa.nl_pid = getpid();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("procconn: bind");
		goto out;
	}
	if (listen_request(fd, PROC_CN_MCAST_LISTEN)) {
		perror("procconn: listen request");
		goto out;
	}

	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct nlmsghdr *nlh;
		ssize_t n;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == ENOBUFS) {
				cnt.enobufs++;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				perror("procconn: recv");
				goto out;
			}
			/* Nothing pending: a good moment to write out. */
			fflush(out);
			if (!ready) {
				fprintf(stderr, "ready\n");
				ready = 1;
			}
			poll(&pfd, 1, 200);
			continue;
		}
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n))
			if (nlh->nlmsg_type == NLMSG_DONE)
				handle(out, nlh, &cnt);
	}
	listen_request(fd, PROC_CN_MCAST_IGNORE);
	ret = 0;
out:
	fflush(out);
	fprintf(stderr, "events=%lu exec=%lu unreadable=%lu enobufs=%lu\n",
		cnt.events, cnt.exec, cnt.unreadable, cnt.enobufs);
	close(fd);
	if (out != stdout)
		fclose(out);
	return ret;
}
