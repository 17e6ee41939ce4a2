// SPDX-License-Identifier: MIT
/*
 * Enrichment: container ids from cgroup paths, the process table that
 * names the program of exit and connect events, parents, user names.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <unistd.h>
#include "pipeline/enrich.h"
#include "host/helpers.h"

#define ID "4f7f1a4b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789ab"

TEST(container_ids)
{
	static const struct { const char *cg, *id; } t[] = {
		{ "0::/system.slice/docker-" ID ".scope\n", ID },
		{ "12:pids:/docker/" ID "\n0::/docker/" ID "\n", ID },
		{ "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-" ID ".scope\n", ID },
		{ "0::/machine.slice/libpod-" ID ".scope/container\n", ID },
		{ "0::/user.slice/user-1000.slice/session-2.scope\n", NULL },
		{ "0::/\n", NULL },
		/* 65 hex digits is not an id */
		{ "0::/docker/" ID "0\n", NULL },
		{ "", NULL },
	};
	char out[65];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *got = enrich_container_id(t[i].cg, out);

		if (t[i].id) {
			ASSERT_NE(NULL, got) TH_LOG("case %zu", i);
			EXPECT_STREQ(t[i].id, got);
		} else {
			EXPECT_EQ(NULL, got) TH_LOG("case %zu: %s", i, got);
		}
	}
}

TEST(process_table_names_exit_and_connect)
{
	struct enrich e;
	char b[64];
	struct iotsec_event ex = hexec("/usr/bin/curl",
				       hargv(b, 64, "curl https://x"), 1000,
				       4242, 1);
	struct iotsec_event conn = { .type = IOTSEC_EVENT_CONNECT,
				     .tgid = 4242, .ptgid = 1, .uid = 1000 };
	struct iotsec_event ch = { .type = IOTSEC_EVENT_EXEC, .tgid = 4343,
				   .ptgid = 4242 };
	struct iotsec_event end = { .type = IOTSEC_EVENT_EXIT, .tgid = 4242 };
	struct iotsec_event after = { .type = IOTSEC_EVENT_EXIT, .tgid = 4242 };

	ASSERT_EQ(0, enrich_init(&e, false, true, false, false));
	enrich_event(&e, &ex);
	enrich_done(&e, &ex);
	enrich_event(&e, &conn);
	ASSERT_NE(NULL, conn.proc_exe.s);
	EXPECT_EQ(0, strncmp("/usr/bin/curl", conn.proc_exe.s,
			     conn.proc_exe.len));
	EXPECT_EQ(15, conn.proc_cmdline.len);	/* "curl\0https://x\0" */
	/* a child's parent is the table's curl */
	ch.exe = hs("/bin/sh");
	enrich_event(&e, &ch);
	ASSERT_NE(NULL, ch.parent_exe.s);
	EXPECT_EQ(0, strncmp("/usr/bin/curl", ch.parent_exe.s,
			     ch.parent_exe.len));
	/* the exit is named, then the process is forgotten */
	enrich_event(&e, &end);
	ASSERT_NE(NULL, end.proc_exe.s);
	EXPECT_EQ(13, end.proc_exe.len);
	enrich_done(&e, &end);
	enrich_event(&e, &after);
	EXPECT_EQ(NULL, after.proc_exe.s);
	enrich_fini(&e);
}

TEST(fork_inherits_program)
{
	struct enrich e;
	char b[64];
	struct iotsec_event ex = hexec("/usr/sbin/sshd", hargv(b, 64, "sshd -D"),
				       0, 10, 1);
	struct iotsec_event fk = { .type = IOTSEC_EVENT_FORK, .tgid = 10,
				   .child_tgid = 11 };
	struct iotsec_event c = { .type = IOTSEC_EVENT_CONNECT, .tgid = 11 };

	ASSERT_EQ(0, enrich_init(&e, false, false, false, false));
	enrich_event(&e, &ex);
	enrich_event(&e, &fk);
	enrich_event(&e, &c);
	ASSERT_NE(NULL, c.proc_exe.s);
	EXPECT_EQ(0, strncmp("/usr/sbin/sshd", c.proc_exe.s, c.proc_exe.len));
	enrich_fini(&e);
}

TEST(proc_lookup_for_processes_started_before)
{
	struct enrich e;
	struct iotsec_event ev = { .type = IOTSEC_EVENT_CONNECT,
				   .tgid = getpid(), .ptgid = getppid() };
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self));

	ASSERT_GT(n, 0);
	ASSERT_EQ(0, enrich_init(&e, true, true, false, true));
	enrich_event(&e, &ev);
	ASSERT_NE(NULL, ev.proc_exe.s);
	EXPECT_EQ(n, ev.proc_exe.len);
	EXPECT_EQ(0, memcmp(self, ev.proc_exe.s, n));
	EXPECT_NE(NULL, ev.parent_exe.s);
	enrich_fini(&e);
}

TEST(user_names)
{
	struct enrich e;
	struct iotsec_event root = { .type = IOTSEC_EVENT_EXIT, .uid = 0 };
	struct iotsec_event nobody = { .type = IOTSEC_EVENT_EXIT,
				       .uid = 4000000000U };

	ASSERT_EQ(0, enrich_init(&e, true, false, false, false));
	enrich_event(&e, &root);
	ASSERT_NE(NULL, root.user.s);
	EXPECT_EQ(0, strncmp("root", root.user.s, root.user.len));
	enrich_event(&e, &nobody);
	EXPECT_EQ(NULL, nobody.user.s);
	/* cached: same answer */
	enrich_event(&e, &root);
	EXPECT_EQ(4, root.user.len);
	enrich_fini(&e);
}

TEST_HARNESS_MAIN
