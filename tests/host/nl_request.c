// SPDX-License-Identifier: MIT
/*
 * intake/nl.c's requests (GET_STATS, GET_CONFIG) against a fake peer: a
 * generic netlink socket of this process that answers like the module
 * (a reply, then the ACK, two datagrams). A request must leave nothing on
 * the control socket: not the ACK (the daemon's family check,
 * genl_ctrl_resolve(), took it for its answer: "kernel collector went
 * away" in a loop) nor a callback pointing at the request's frame (the
 * family check's answer was decoded into a dead frame).
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include "intake/nl.h"

#define FAKE_FAMILY 0x7ff0
#define FAKE_MISSING 0x14u

struct peer {
	int fd;
	uint32_t port;
	int requests;	/* to answer */
	int answered;
};

static void put_u32_attr(char *at, int type, uint32_t v)
{
	struct nlattr *a = (struct nlattr *)at;

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + sizeof(v);
	memcpy(at + NLA_HDRLEN, &v, sizeof(v));
}

/* Answer like the kernel: the reply, then the ACK, each a datagram. */
static void *peer_run(void *arg)
{
	struct peer *p = arg;

	for (int i = 0; i < p->requests; i++) {
		char in[4096], out[256] __attribute__((aligned(4)));
		struct nlmsghdr *q = (struct nlmsghdr *)in, *h;
		struct genlmsghdr *g;
		struct nlmsgerr *e;
		struct sockaddr_nl to = { .nl_family = AF_NETLINK };
		ssize_t r = recv(p->fd, in, sizeof(in), 0);

		if (r < (ssize_t)NLMSG_LENGTH(GENL_HDRLEN) ||
		    q->nlmsg_type != FAKE_FAMILY)
			break;
		to.nl_pid = q->nlmsg_pid;
		memset(out, 0, sizeof(out));
		h = (struct nlmsghdr *)out;
		h->nlmsg_type = FAKE_FAMILY;
		h->nlmsg_seq = q->nlmsg_seq;
		h->nlmsg_pid = q->nlmsg_pid;
		g = NLMSG_DATA(h);
		g->cmd = ((struct genlmsghdr *)NLMSG_DATA(q))->cmd;
		g->version = IOTSEC_GENL_VERSION;
		h->nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
		if (g->cmd == IOTSEC_CMD_GET_STATS) {
			put_u32_attr(out + h->nlmsg_len, IOTSEC_A_CAPS_MISSING,
				     FAKE_MISSING);
			h->nlmsg_len += NLA_HDRLEN + 4;
			put_u32_attr(out + h->nlmsg_len, IOTSEC_A_SUBSCRIBERS,
				     1);
			h->nlmsg_len += NLA_HDRLEN + 4;
		}
		if (sendto(p->fd, out, h->nlmsg_len, 0, (void *)&to,
			   sizeof(to)) < 0)
			break;
		memset(out, 0, sizeof(out));
		h->nlmsg_type = NLMSG_ERROR;
		h->nlmsg_seq = q->nlmsg_seq;
		h->nlmsg_pid = q->nlmsg_pid;
		h->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
		e = NLMSG_DATA(h);
		e->error = 0;
		memcpy(&e->msg, q, sizeof(*q));
		if (sendto(p->fd, out, h->nlmsg_len, 0, (void *)&to,
			   sizeof(to)) < 0)
			break;
		p->answered++;
	}
	return NULL;
}

FIXTURE(nl) {
	struct iotsec_nl n;
	struct peer p;
	pthread_t th;
};

FIXTURE_SETUP(nl)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK };
	socklen_t alen = sizeof(a);

	memset(&self->n, 0, sizeof(self->n));
	self->p.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			    NETLINK_GENERIC);
	if (self->p.fd < 0)
		SKIP(return, "no generic netlink socket here");
	ASSERT_EQ(0, bind(self->p.fd, (void *)&a, sizeof(a)));
	ASSERT_EQ(0, getsockname(self->p.fd, (void *)&a, &alen));
	self->p.port = a.nl_pid;
	/* iotsec_nl_open() without the module: the control socket by hand */
	self->n.ctl = nl_socket_alloc();
	ASSERT_NE(NULL, self->n.ctl);
	ASSERT_EQ(0, genl_connect(self->n.ctl));
	self->n.family = FAKE_FAMILY;
	nl_socket_set_peer_port(self->n.ctl, self->p.port);
}

FIXTURE_TEARDOWN(nl)
{
	if (self->p.fd >= 0)
		close(self->p.fd);
	if (self->n.ctl)
		nl_socket_free(self->n.ctl);
}

static int answer(struct __test_metadata *_metadata, FIXTURE_DATA(nl) *self,
		  int requests)
{
	self->p.requests = requests;
	self->p.answered = 0;
	return pthread_create(&self->th, NULL, peer_run, &self->p);
}

/* what a deeper frame leaves on the stack, where the request's was */
static __attribute__((noinline)) int scribble(void)
{
	volatile char junk[512];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)0xa5;
	return junk[7];
}

/*
 * The daemon's case: a GET_STATS on the control socket, then the family
 * check on the same socket (here the kernel's own "nlctrl" family, which
 * every host has) must get the family's answer.
 */
TEST_F(nl, stats_then_family_check)
{
	struct iotsec_kstats s;
	int fam;

	ASSERT_EQ(0, answer(_metadata, self, 1));
	ASSERT_EQ(0, iotsec_nl_get_stats(&self->n, &s));
	ASSERT_EQ(0, pthread_join(self->th, NULL));
	EXPECT_EQ(1, self->p.answered);
	EXPECT_EQ(FAKE_MISSING, s.caps_missing);
	EXPECT_EQ(1, s.subscribers);

	scribble();
	nl_socket_set_peer_port(self->n.ctl, 0);	/* the kernel */
	fam = genl_ctrl_resolve(self->n.ctl, "nlctrl");
	EXPECT_EQ(GENL_ID_CTRL, fam);
	/* and again, as the loop does every few seconds */
	fam = genl_ctrl_resolve(self->n.ctl, "nlctrl");
	EXPECT_EQ(GENL_ID_CTRL, fam);
}

/* Requests back to back each get their own answer, none left over. */
TEST_F(nl, requests_back_to_back)
{
	struct iotsec_kstats s;
	struct iotsec_kconfig c;

	ASSERT_EQ(0, answer(_metadata, self, 3));
	for (int i = 0; i < 2; i++) {
		memset(&s, 0, sizeof(s));
		ASSERT_EQ(0, iotsec_nl_get_stats(&self->n, &s));
		EXPECT_EQ(FAKE_MISSING, s.caps_missing);
	}
	memset(&c, 0, sizeof(c));
	ASSERT_EQ(0, iotsec_nl_get_config(&self->n, &c));
	ASSERT_EQ(0, pthread_join(self->th, NULL));
	EXPECT_EQ(3, self->p.answered);
	/* nothing is left to read on the control socket */
	EXPECT_EQ(-1, recv(nl_socket_get_fd(self->n.ctl), &c, sizeof(c),
			   MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_HARNESS_MAIN
