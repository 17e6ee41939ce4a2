/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests: load and unload the module, talk to the family.
 * Include after kselftest_harness.h.
 */
#ifndef IOTSEC_TEST_H
#define IOTSEC_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <uapi/iotsec.h>

static inline const char *iotsec_test_ko(void)
{
	const char *ko = getenv("IOTSEC_KO");

	return ko ? ko : "kmod/iotsec.ko";
}

/*
 * The event types the kernel under test is known to lack a hook for, as a
 * mask of IOTSEC_EVENT_BIT()s: IOTSEC_UNAVAILABLE="file module" (names as
 * in the configuration's events section), set per kernel by
 * scripts/kernels.sh (UNAVAILABLE=) through tests/run-kernels.sh. The
 * module must report exactly these in IOTSEC_A_CAPS_MISSING (events
 * stats_and_config asserts it); a test of such an event skips with
 * IOTSEC_SKIP_UNAVAILABLE, saying so, instead of passing quietly.
 */
static inline unsigned int iotsec_test_unavailable(void)
{
	static const char *const names[] = {
		[IOTSEC_EVENT_EXEC] = "exec", [IOTSEC_EVENT_EXIT] = "exit",
		[IOTSEC_EVENT_FORK] = "fork", [IOTSEC_EVENT_CONNECT] = "connect",
		[IOTSEC_EVENT_ACCEPT] = "accept", [IOTSEC_EVENT_LISTEN] = "listen",
		[IOTSEC_EVENT_CRED] = "cred", [IOTSEC_EVENT_MODULE] = "module",
		[IOTSEC_EVENT_PTRACE] = "ptrace", [IOTSEC_EVENT_FILE] = "file",
	};
	const char *env = getenv("IOTSEC_UNAVAILABLE");
	char buf[256], *tok, *save = NULL;
	unsigned int mask = 0, t;

	if (!env)
		return 0;
	snprintf(buf, sizeof(buf), "%s", env);
	for (tok = strtok_r(buf, " ,", &save); tok;
	     tok = strtok_r(NULL, " ,", &save))
		for (t = 0; t < sizeof(names) / sizeof(names[0]); t++)
			if (names[t] && !strcmp(names[t], tok))
				mask |= IOTSEC_EVENT_BIT(t);
	return mask;
}

#define IOTSEC_SKIP_UNAVAILABLE(type) do { \
	if (iotsec_test_unavailable() & IOTSEC_EVENT_BIT(type)) \
		SKIP(return, "event type %d unavailable on this kernel " \
		     "(reported missing in its capabilities)", (type)); \
} while (0)

/* Whether the running kernel is MAJOR.MINOR or newer (uname -r). */
static inline int iotsec_test_kernel_at_least(int major, int minor)
{
	FILE *f = fopen("/proc/sys/kernel/osrelease", "r");
	int ma = 0, mi = 0;

	if (f) {
		if (fscanf(f, "%d.%d", &ma, &mi) != 2)
			ma = mi = 0;
		fclose(f);
	}
	return ma > major || (ma == major && mi >= minor);
}

/* insmod the module under test with PARAMS; returns insmod's status. */
static inline int iotsec_test_load(const char *params)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "insmod %s %s", iotsec_test_ko(),
		 params ? params : "");
	return system(cmd);
}

static inline int iotsec_test_unload(void)
{
	return system("rmmod iotsec");
}

static inline int iotsec_test_loaded(void)
{
	return access("/sys/module/iotsec", F_OK) == 0;
}

/* A connected generic netlink socket, or NULL. */
static inline struct nl_sock *iotsec_test_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return NULL;
	if (genl_connect(sk)) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/* The family id (> 0) or a negative libnl error. */
static inline int iotsec_test_family(struct nl_sock *sk)
{
	return genl_ctrl_resolve(sk, IOTSEC_GENL_NAME);
}

/*
 * Send CMD with no attributes and wait for the kernel's answer; returns 0
 * or a negative libnl error (-NLE_PERM for EPERM).
 */
static inline int iotsec_test_cmd(struct nl_sock *sk, int family, int cmd)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg)
		return -NLE_NOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0,
			 NLM_F_REQUEST, cmd, IOTSEC_GENL_VERSION)) {
		nlmsg_free(msg);
		return -NLE_NOMEM;
	}
	ret = nl_send_sync(sk, msg);
	return ret;
}

#endif /* IOTSEC_TEST_H */
