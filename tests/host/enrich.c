// SPDX-License-Identifier: MIT
/*
 * Enrichment: container ids from cgroup paths, the process table that
 * names the program of exit and connect events, parents, user names.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
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

/* ---- a /proc of our own: processes that live as the test says ---- */

static void put(const char *dir, uint32_t pid, const char *name,
		const void *buf, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/%s", dir, pid, name);
	f = fopen(path, "w");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		abort();
}

/* PID runs EXE with ARGV (LEN bytes), called COMM, started at tick START. */
static void fake_proc(const char *dir, uint32_t pid, uint32_t ppid,
		      const char *comm, const char *exe, const char *argv,
		      size_t len, uint64_t start)
{
	char path[256], stat[512];
	int n;

	snprintf(path, sizeof(path), "%s/%u", dir, pid);
	mkdir(path, 0700);
	/* fields 1..22 (starttime), then vsize, rss, rsslim */
	n = snprintf(stat, sizeof(stat), "%u (%s) S %u %u %u 0 -1 4194560 0 0 "
		     "0 0 0 0 0 0 20 0 1 0 %llu 1000 100 %llu\n",
		     pid, comm, ppid, pid, pid, (unsigned long long)start,
		     (unsigned long long)UINT64_MAX);
	put(dir, pid, "stat", stat, n);
	put(dir, pid, "cmdline", argv, len);
	snprintf(path, sizeof(path), "%s/%u/exe", dir, pid);
	unlink(path);
	if (symlink(exe, path))
		abort();
}

static void fake_gone(const char *dir, uint32_t pid)
{
	static const char *const names[] = { "stat", "cmdline", "exe" };
	char path[256];

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%u/%s", dir, pid, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%u", dir, pid);
	rmdir(path);
}

static bool same(struct ev_str s, const char *want, size_t len)
{
	return s.len == len && !memcmp(s.s, want, len);
}

/*
 * Exit events off, 20,000 short processes forked by one shell (10,000
 * with pids of their own, more than the table holds, then 10,000 on 2,000
 * pids, reused in turn while the table still has them), as the kernel
 * would report them through the enrichment API: each one's fork event
 * seen or lost, an exec or not, gone or still there when its connect
 * event is enriched. The table stays at its bound, every process that
 * exec'd is named by its own program, and no event is ever named with
 * another process's program or command line.
 */
/*
 * 20000 fake /proc entries under ASan: a few seconds on a quiet machine,
 * over the harness's default 30 s on a loaded one. The bound is generous;
 * the test asserts names, not speed.
 */
FIXTURE(churn) {
	int unused;
};

FIXTURE_SETUP(churn)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(churn)
{
}

TEST_F_TIMEOUT(churn, exit_off_20000_short_processes_never_borrow_a_name, 300)
{
	const uint32_t sh = 100, first = 1000, pids = 2000;
	char dir[] = "/dev/shm/iotsec-enrich.XXXXXX", exe[64], argv[64];
	struct iotsec_event ev;
	uint64_t t = 1000000000ull, tick, seed = 42;
	unsigned int lies = 0, unnamed_exec = 0, unnamed = 0, most = 0;
	unsigned int parent_lies = 0;
	struct enrich e;

	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, enrich_init(&e, false, true, false, true));
	e.proc_root = dir;
	tick = 1000000000ull / sysconf(_SC_CLK_TCK);
	fake_proc(dir, sh, 1, "sh", "/bin/sh", "sh", 3, t / tick);
	ev = hexec("/bin/sh", hs("sh"), 0, sh, t);
	ev.comm = hs("sh");
	ev.argv.len = 3;
	enrich_event(&e, &ev);
	for (int i = 0; i < 20000; i++) {
		uint32_t pid;
		bool fork_seen, execs, gone;
		const char *want_exe = "/bin/sh", *want_argv = "sh";
		size_t want_len = 3;
		int alen;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		fork_seen = seed >> 63;
		execs = (seed >> 62) & 1;
		gone = ((seed >> 40) % 3) == 0;
		/*
		 * First more pids than the table holds, then a few, reused
		 * in turn, as the kernel hands them out.
		 */
		pid = first + (i < 10000 ? i : i % pids);
		snprintf(exe, sizeof(exe), "/usr/bin/p%d", i);
		alen = snprintf(argv, sizeof(argv), "p%d%carg", i, '\0') + 1;

		/* forked by the shell: runs its program */
		t += 1000000;
		fake_proc(dir, pid, sh, "sh", "/bin/sh", "sh", 3, t / tick);
		if (fork_seen) {
			ev = (struct iotsec_event){ .type = IOTSEC_EVENT_FORK,
				.tgid = sh, .tid = sh, .ptgid = 1,
				.comm = hs("sh"), .child_tgid = pid,
				.time_ns = t };
			enrich_event(&e, &ev);
		}
		t += 1000000;
		if (execs) {
			fake_proc(dir, pid, sh, exe + 9, exe, argv, alen,
				  (t - 1000000) / tick);
			ev = hexec(exe, (struct ev_str){ argv, alen }, 0, pid,
				   t);
			ev.ptgid = sh;
			ev.comm = hs(exe + 9);
			enrich_event(&e, &ev);
			want_exe = exe;
			want_argv = argv;
			want_len = alen;
		}
		t += 1000000;
		if (gone)
			fake_gone(dir, pid);
		ev = (struct iotsec_event){ .type = IOTSEC_EVENT_CONNECT,
			.tgid = pid, .tid = pid, .ptgid = sh, .time_ns = t,
			.comm = hs(execs ? exe + 9 : "sh") };
		enrich_event(&e, &ev);
		if (!ev.proc_exe.s) {
			unnamed++;
			unnamed_exec += execs;
		} else if (!same(ev.proc_exe, want_exe, strlen(want_exe)) ||
			   !same(ev.proc_cmdline, want_argv, want_len)) {
			if (lies < 5)
				TH_LOG("process %d (pid %u, fork %s, exec %s, "
				       "%s): named %.*s", i, pid,
				       fork_seen ? "seen" : "lost",
				       execs ? "yes" : "no",
				       gone ? "gone" : "there",
				       (int)ev.proc_exe.len, ev.proc_exe.s);
			lies++;
		}
		if (ev.parent_exe.s && !same(ev.parent_exe, "/bin/sh", 7))
			parent_lies++;
		if (e.n_procs > most)
			most = e.n_procs;
		/* it exits; no exit event */
		fake_gone(dir, pid);
	}
	TH_LOG("table: at most %u entries (bound %d); named wrongly %u, "
	       "parent named wrongly %u, unnamed %u (of which exec'd %u)",
	       most, ENRICH_MAX_PROCS, lies, parent_lies, unnamed,
	       unnamed_exec);
	EXPECT_GE(ENRICH_MAX_PROCS, most);
	EXPECT_EQ(0, lies);
	EXPECT_EQ(0, parent_lies);
	EXPECT_EQ(0, unnamed_exec);
	enrich_fini(&e);
	fake_gone(dir, sh);
	rmdir(dir);
}

TEST_HARNESS_MAIN
