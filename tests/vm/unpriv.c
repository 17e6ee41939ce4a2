// SPDX-License-Identifier: MIT
/*
 * An unprivileged user (uid 65534, after fork) can do nothing with the
 * family: every command fails with EPERM, also as root of its own user
 * namespace; the family has no multicast group to join; and while a root
 * consumer receives events, a socket of the unprivileged user receives
 * none of them, whatever groups it joined, even bound to the port id a
 * root consumer just gave up.
 *
 *   root consumer  <--EVENTS-- iotsec --nothing--> uid 65534 socket
 *        ^                       ^                  (all groups joined)
 *        +-- SUBSCRIBE           +-- exec /bin/true, connect 127.0.0.1
 */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-raw.h"
#include "lib/tool.h"

#define NOBODY 65534

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return getuid() == NOBODY && geteuid() == NOBODY ? 0 : -1;
}

/* Events the test makes: execs of /bin/true, TCP connects on loopback. */
static void make_events(int n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int l, i;

	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/true", "true", "iotsec-unpriv", NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 16) || getsockname(l, (struct sockaddr *)&sa, &salen))
		goto out;
	for (i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c >= 0 && !connect(c, (struct sockaddr *)&sa, sizeof(sa)))
			close(accept(l, NULL, NULL));
		if (c >= 0)
			close(c);
	}
out:
	if (l >= 0)
		close(l);
}

/* Events of TYPE in the netlink messages of BUF that came from FAMILY. */
static int count_events(const unsigned char *buf, ssize_t n, int family,
			int type)
{
	const struct nlmsghdr *nlh;
	int count = 0;

	for (nlh = (const struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
	     nlh = NLMSG_NEXT(nlh, n)) {
		struct nlattr *events, *e;
		unsigned char *p, *end;

		if (nlh->nlmsg_type != family)
			continue;
		events = raw_attr(nlh, IOTSEC_A_EVENTS);
		if (!events)
			continue;
		p = raw_attr_data(events);
		end = (unsigned char *)events + events->nla_len;
		while (p + NLA_HDRLEN <= end) {
			e = (struct nlattr *)p;
			if (e->nla_len < NLA_HDRLEN)
				break;
			if ((e->nla_type & NLA_TYPE_MASK) == type)
				count++;
			p += NLA_ALIGN(e->nla_len);
		}
	}
	return count;
}

/*
 * Make events until the root consumer S has received exec events, then
 * once more, so that a batch was flushed after the unprivileged socket
 * was in place. Returns the exec events seen, or 0 after TIMEOUT seconds.
 */
static int events_reach_root(struct raw_sock *s, int family, double timeout)
{
	static unsigned char buf[RAW_MSG_MAX];
	struct timeval tv = { .tv_usec = 100000 };
	double end = now() + timeout;
	int seen = 0, rounds = 0;

	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (now() < end && rounds < 2) {
		ssize_t n;
		int got = 0;

		make_events(3);
		while ((n = recv(s->fd, buf, sizeof(buf), 0)) > 0 ||
		       (n < 0 && errno == ENOBUFS))
			if (n > 0)
				got += count_events(buf, n, family,
						    IOTSEC_EVENT_EXEC);
		seen += got;
		if (got)
			rounds++;
	}
	return rounds == 2 ? seen : 0;
}

/*
 * The unprivileged side: a socket bound to PORTID (0: any), member of
 * every multicast group it is allowed to join; after the parent's go, the
 * number of messages from FAMILY it holds is its exit status (capped).
 */
struct spy {
	pid_t pid;
	int ready[2], go[2];
};

static int spy_start(struct spy *spy, int family, uint32_t portid)
{
	if (pipe(spy->ready) || pipe(spy->go))
		return -1;
	spy->pid = fork();
	if (spy->pid < 0)
		return -1;
	if (spy->pid == 0) {
		static unsigned char buf[RAW_MSG_MAX];
		struct raw_sock s;
		int count = 0, joined = 0;
		unsigned int g;
		ssize_t n;
		char c;

		if (drop_privileges())
			_exit(200);
		if (raw_open(&s, portid))
			_exit(201);
		if (raw_cmd(&s, family, IOTSEC_CMD_SUBSCRIBE) != -EPERM)
			_exit(202);
		for (g = 1; g < 1024; g++)
			if (!setsockopt(s.fd, SOL_NETLINK,
					NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)))
				joined++;
		if (write(spy->ready[1], &joined, sizeof(joined)) < 0)
			_exit(203);
		if (read(spy->go[0], &c, 1) != 1)
			_exit(204);
		while ((n = recv(s.fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0 ||
		       (n < 0 && errno == ENOBUFS)) {
			const struct nlmsghdr *nlh = (void *)buf;

			/* ENOBUFS means something overflowed it: count it. */
			if (n < 0)
				count++;
			for (; n > 0 && NLMSG_OK(nlh, n);
			     nlh = NLMSG_NEXT(nlh, n))
				if (nlh->nlmsg_type == family)
					count++;
		}
		_exit(count > 100 ? 100 : count);
	}
	close(spy->ready[1]);
	close(spy->go[0]);
	return 0;
}

/* Let the spy count; its count of family messages, or -1. */
static int spy_finish(struct spy *spy)
{
	int status;

	if (write(spy->go[1], "g", 1) != 1)
		return -1;
	close(spy->go[1]);
	close(spy->ready[0]);
	if (waitpid(spy->pid, &status, 0) != spy->pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

FIXTURE(priv) {
	struct raw_sock root;
	int family;
};

FIXTURE_SETUP(priv)
{
	self->root.fd = -1;
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, raw_open(&self->root, 0));
	self->family = raw_family(&self->root, IOTSEC_GENL_NAME, NULL);
	ASSERT_LT(0, self->family);
}

FIXTURE_TEARDOWN(priv)
{
	raw_close(&self->root);
	EXPECT_EQ(0, iotsec_test_unload());
}

/* Every command with a valid body; bit N of the result: command N passed. */
static int try_commands(int family, int want)
{
	static const int cmds[] = {
		IOTSEC_CMD_SUBSCRIBE, IOTSEC_CMD_UNSUBSCRIBE,
		IOTSEC_CMD_GET_STATS, IOTSEC_CMD_SET_CONFIG,
		IOTSEC_CMD_GET_CONFIG,
	};
	struct raw_msg *m = calloc(1, sizeof(*m));
	struct raw_sock s;
	int bad = 0;
	size_t i;

	if (!m || raw_open(&s, 0))
		return 0xff;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		raw_msg_init(m, family, cmds[i]);
		if (cmds[i] == IOTSEC_CMD_SET_CONFIG)
			raw_put_u32(m, IOTSEC_A_EVENT_MASK, 0);
		if (raw_request(&s, m, NULL, 0) != want)
			bad |= 1 << i;
	}
	raw_close(&s);
	free(m);
	return bad;
}

static void stats_unchanged(struct __test_metadata *_metadata,
			    FIXTURE_DATA(priv) *self)
{
	unsigned char reply[4096];
	uint32_t subs = ~0U;

	ASSERT_EQ(0, raw_stats(&self->root, self->family, reply,
			       sizeof(reply)));
	EXPECT_EQ(0, raw_attr_u32((struct nlmsghdr *)reply,
				  IOTSEC_A_SUBSCRIBERS, &subs));
	EXPECT_EQ(0U, subs);
}

TEST_F(priv, every_command_eperm)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (drop_privileges())
			_exit(100);
		_exit(try_commands(self->family, -EPERM));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) {
		TH_LOG("commands not refused with EPERM: mask 0x%x",
		       WEXITSTATUS(status));
	}
	stats_unchanged(_metadata, self);
}

TEST_F(priv, user_namespace_root_eperm)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/*
		 * Every capability, but in a user namespace of its own: what
		 * an unprivileged user gets where user namespaces are open to
		 * all. Root can always create one; its sockets, opened after,
		 * carry the new namespace's credentials.
		 */
		if (unshare(CLONE_NEWUSER))
			_exit(99);
		_exit(try_commands(self->family, -EPERM));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 99)
		SKIP(return,
		     "cannot create a user namespace (refused in a chroot, as in the lab)");
	EXPECT_EQ(0, WEXITSTATUS(status)) {
		TH_LOG("commands not refused with EPERM: mask 0x%x",
		       WEXITSTATUS(status));
	}
	stats_unchanged(_metadata, self);
}

TEST_F(priv, socket_opened_by_root_is_no_pass)
{
	int status;
	pid_t pid;

	/* Root opens the socket; a child that dropped privileges uses it. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int bad = 0;

		if (drop_privileges())
			_exit(100);
		if (raw_cmd(&self->root, self->family,
			    IOTSEC_CMD_SUBSCRIBE) != -EPERM)
			bad |= 1;
		if (raw_cmd(&self->root, self->family,
			    IOTSEC_CMD_GET_STATS) != -EPERM)
			bad |= 2;
		if (raw_cmd(&self->root, self->family,
			    IOTSEC_CMD_GET_CONFIG) != -EPERM)
			bad |= 4;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	stats_unchanged(_metadata, self);
}

TEST_F(priv, root_commands_succeed)
{
	/* The same requests as root: they work, so EPERM above meant it. */
	EXPECT_EQ(0, try_commands(self->family, 0));
}

TEST_F(priv, family_has_no_multicast_group)
{
	int groups = -1;

	EXPECT_EQ(self->family, raw_family(&self->root, IOTSEC_GENL_NAME,
					   &groups));
	EXPECT_EQ(0, groups);
	/* The controller's own group shows that groups would be counted. */
	EXPECT_EQ(GENL_ID_CTRL, raw_family(&self->root, "nlctrl", &groups));
	EXPECT_LT(0, groups);
}

TEST_F_TIMEOUT(priv, unprivileged_socket_receives_no_events, 90)
{
	struct spy spy;
	int joined = 0;

	ASSERT_EQ(0, raw_cmd(&self->root, self->family,
			     IOTSEC_CMD_SUBSCRIBE));
	ASSERT_EQ(0, spy_start(&spy, self->family, 0));
	ASSERT_EQ((ssize_t)sizeof(joined),
		  read(spy.ready[0], &joined, sizeof(joined)));
	TH_LOG("the unprivileged socket joined %d multicast groups", joined);
	EXPECT_LT(0, events_reach_root(&self->root, self->family, 20));
	EXPECT_EQ(0, spy_finish(&spy));
}

TEST_F_TIMEOUT(priv, reused_port_id_receives_no_events, 90)
{
	uint32_t port = 0x7e570000 | (getpid() & 0xffff);
	struct raw_sock gone;
	struct spy spy;
	int joined = 0;

	/* A root consumer subscribes on a known port id, then goes away. */
	ASSERT_EQ(0, raw_open(&gone, port));
	ASSERT_EQ(0, raw_cmd(&gone, self->family, IOTSEC_CMD_SUBSCRIBE));
	raw_close(&gone);
	/* The unprivileged user takes that port id at once. */
	ASSERT_EQ(0, spy_start(&spy, self->family, port));
	ASSERT_EQ((ssize_t)sizeof(joined),
		  read(spy.ready[0], &joined, sizeof(joined)));
	ASSERT_EQ(0, raw_cmd(&self->root, self->family,
			     IOTSEC_CMD_SUBSCRIBE));
	EXPECT_LT(0, events_reach_root(&self->root, self->family, 20));
	EXPECT_EQ(0, spy_finish(&spy));
}

TEST_HARNESS_MAIN
