// SPDX-License-Identifier: MIT
/*
 * The "iotsec" generic netlink family exists exactly while the module is
 * loaded, and only a privileged process may use it.
 */
#include <grp.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"

static int stats_subscribers(struct nl_sock *sk, int family)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1];
	struct nl_msg *msg = nlmsg_alloc();
	struct sockaddr_nl peer;
	unsigned char *buf = NULL;
	struct nlmsghdr *nlh;
	int n, ret = -1;

	genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST,
		    IOTSEC_CMD_GET_STATS, IOTSEC_GENL_VERSION);
	if (nl_send_auto(sk, msg) < 0)
		goto out;
	n = nl_recv(sk, &peer, &buf, NULL);
	if (n <= 0)
		goto out;
	nlh = (struct nlmsghdr *)buf;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		goto out;
	if (genlmsg_parse(nlh, 0, tb, IOTSEC_A_MAX, NULL) ||
	    !tb[IOTSEC_A_SUBSCRIBERS])
		goto out;
	ret = nla_get_u32(tb[IOTSEC_A_SUBSCRIBERS]);
	if (nl_wait_for_ack(sk))
		ret = -1;
out:
	free(buf);
	nlmsg_free(msg);
	return ret;
}

TEST(family_follows_module)
{
	struct nl_sock *sk;

	ASSERT_FALSE(iotsec_test_loaded());
	sk = iotsec_test_sock();
	ASSERT_NE(NULL, sk);
	EXPECT_GT(0, iotsec_test_family(sk));

	ASSERT_EQ(0, iotsec_test_load(NULL));
	EXPECT_LT(0, iotsec_test_family(sk));

	ASSERT_EQ(0, iotsec_test_unload());
	EXPECT_EQ(-NLE_OBJ_NOTFOUND, iotsec_test_family(sk));
	nl_socket_free(sk);
}

TEST(unprivileged_user_gets_eperm)
{
	static const int cmds[] = {
		IOTSEC_CMD_SUBSCRIBE, IOTSEC_CMD_UNSUBSCRIBE,
		IOTSEC_CMD_GET_STATS, IOTSEC_CMD_SET_CONFIG,
		IOTSEC_CMD_GET_CONFIG,
	};
	int status;
	pid_t pid;

	ASSERT_EQ(0, iotsec_test_load(NULL));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct nl_sock *sk;
		int family;
		size_t i;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		sk = iotsec_test_sock();
		if (!sk)
			_exit(11);
		/* Resolving a family is allowed to anyone; using it is not. */
		family = iotsec_test_family(sk);
		if (family <= 0)
			_exit(12);
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (iotsec_test_cmd(sk, family, cmds[i]) != -NLE_PERM)
				_exit(20 + i);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, iotsec_test_unload());
}

TEST(closed_consumer_is_forgotten)
{
	struct nl_sock *sk, *probe;
	int family;

	ASSERT_EQ(0, iotsec_test_load(NULL));
	probe = iotsec_test_sock();
	sk = iotsec_test_sock();
	ASSERT_NE(NULL, probe);
	ASSERT_NE(NULL, sk);
	family = iotsec_test_family(probe);
	ASSERT_LT(0, family);

	EXPECT_EQ(0, stats_subscribers(probe, family));
	EXPECT_EQ(0, iotsec_test_cmd(sk, family, IOTSEC_CMD_SUBSCRIBE));
	EXPECT_EQ(1, stats_subscribers(probe, family));
	nl_socket_free(sk);
	EXPECT_EQ(0, stats_subscribers(probe, family));

	nl_socket_free(probe);
	ASSERT_EQ(0, iotsec_test_unload());
}

TEST_HARNESS_MAIN
