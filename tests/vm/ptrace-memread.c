// SPDX-License-Identifier: MIT
/*
 * Reading another process's memory (ptrace event, mode MEMORY): what the
 * module reports (process_vm_readv, /proc/PID/mem) and what it must not
 * (the /proc files ps, top and lsof read, a process's own memory), the
 * result of a refused access, and one report per second for a reader that
 * samples the same target in a loop.
 *
 *   test (root) --process_vm_readv / open(/proc/PID/mem)--> child
 *        ^                                                    |
 *        +------ batches <-- mm_access() kprobe <--------------+
 */
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

#pragma GCC diagnostic ignored "-Wsign-compare"

#define WAIT_MS 5000

FIXTURE(mem) {
	struct iev_client c;
	pid_t child, other;
};

/* A child that waits to be killed; its memory holds SECRET. */
static char secret[64] = "iotsec-memread-secret";

static pid_t sleeper(uid_t uid)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	/* never outlive a test that stops early */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
		_exit(125);
	for (;;)
		pause();
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

FIXTURE_SETUP(mem)
{
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
	self->other = 0;
	self->child = sleeper(0);
	ASSERT_LT(0, self->child);
}

FIXTURE_TEARDOWN(mem)
{
	reap(self->child);
	if (self->other > 0)
		reap(self->other);
	iev_close(&self->c);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

struct mem_key {
	uint32_t tgid, target;
};

static bool match_mem(const struct iev *e, const void *arg)
{
	const struct mem_key *k = arg;

	return e->type == IOTSEC_EVENT_PTRACE &&
	       e->ptrace_mode == IOTSEC_PTRACE_MEMORY &&
	       e->target_tgid == k->target && (!k->tgid || e->tgid == k->tgid);
}

static ssize_t vm_read(pid_t pid, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { secret, len };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/* Read the start of /proc/PID/NAME, as ps, top or lsof do. */
static int read_proc(pid_t pid, const char *name)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n < 0 ? -1 : 0;
}

TEST_F_TIMEOUT(mem, process_vm_readv_is_reported, 60)
{
	struct mem_key k = { getpid(), self->child };
	const struct iev *e;
	char buf[sizeof(secret)];

	ASSERT_EQ(sizeof(buf), vm_read(self->child, buf, sizeof(buf)));
	ASSERT_STREQ(secret, buf);
	e = iev_wait(&self->c, match_mem, &k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->result);
	EXPECT_EQ(getuid(), e->uid);
}

TEST_F_TIMEOUT(mem, proc_pid_mem_open_is_reported, 60)
{
	struct mem_key k = { getpid(), self->child };
	const struct iev *e;
	char path[64], buf[sizeof(secret)];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", self->child);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(sizeof(buf), pread(fd, buf, sizeof(buf), (off_t)(uintptr_t)secret));
	close(fd);
	ASSERT_STREQ(secret, buf);
	e = iev_wait(&self->c, match_mem, &k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->result);
}

/*
 * What ps, top, pmap and lsof read, and a process's own memory: no MEMORY
 * event. A second child takes them; a reported access to the first
 * afterwards shows the batches came in up to that point.
 */
TEST_F_TIMEOUT(mem, proc_readers_and_own_memory_are_not_reported, 60)
{
	static const char *const files[] = {
		"stat", "status", "cmdline", "maps", "smaps", "environ",
		"auxv", "pagemap", "wchan",
	};
	struct mem_key quiet, k = { getpid(), self->child };
	char buf[sizeof(secret)];
	pid_t other = self->other = sleeper(0);
	int fd;

	ASSERT_LT(0, other);
	quiet = (struct mem_key){ 0, other };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		EXPECT_EQ(0, read_proc(other, files[i])) {
			TH_LOG("/proc/PID/%s", files[i]);
		}
	}
	/* the own process: /proc/self/mem and process_vm_readv on itself */
	fd = open("/proc/self/mem", O_RDONLY);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(sizeof(buf), vm_read(getpid(), buf, sizeof(buf)));
	/* the marker */
	ASSERT_EQ(sizeof(buf), vm_read(self->child, buf, sizeof(buf)));
	ASSERT_NE(NULL, iev_wait(&self->c, match_mem, &k, WAIT_MS));
	iev_poll(&self->c, 500);
	EXPECT_EQ(0, iev_count(&self->c, match_mem, &quiet));
	k.target = getpid();
	EXPECT_EQ(0, iev_count(&self->c, match_mem, &k));
}

/* An unprivileged reader of root's process: refused, and reported so. */
TEST_F_TIMEOUT(mem, refused_access_is_reported_with_its_error, 60)
{
	struct mem_key k = { 0, self->child };
	const struct iev *e;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char buf[sizeof(secret)];

		if (setgroups(0, NULL) || setgid(1000) || setuid(1000))
			_exit(125);
		_exit(vm_read(self->child, buf, sizeof(buf)) < 0 &&
		      errno == EPERM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	k.tgid = pid;
	e = iev_wait(&self->c, match_mem, &k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(-EPERM, e->result);
	EXPECT_EQ(1000, e->uid);
}

/* 200 reads of one target in well under a second: at most one per CPU. */
TEST_F_TIMEOUT(mem, a_sampling_loop_is_reported_once_a_second, 60)
{
	struct mem_key k = { getpid(), self->child };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char buf[sizeof(secret)];
	struct timespec t0, t1;
	size_t n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 200; i++)
		ASSERT_EQ(sizeof(buf), vm_read(self->child, buf, sizeof(buf)));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_NE(NULL, iev_wait(&self->c, match_mem, &k, WAIT_MS));
	iev_poll(&self->c, 500);
	n = iev_count(&self->c, match_mem, &k);
	TH_LOG("200 reads in %ld ms: %zu events (%ld CPUs)",
	       (t1.tv_sec - t0.tv_sec) * 1000 +
	       (t1.tv_nsec - t0.tv_nsec) / 1000000, n, cpus);
	if (t1.tv_sec - t0.tv_sec < 1)
		EXPECT_GE(cpus, n);
	/* a second later the same pair is reported again */
	usleep(1100 * 1000);
	ASSERT_EQ(sizeof(buf), vm_read(self->child, buf, sizeof(buf)));
	for (int i = 0; i < 50 && iev_count(&self->c, match_mem, &k) == n; i++)
		iev_poll(&self->c, 100);
	EXPECT_EQ(n + 1, iev_count(&self->c, match_mem, &k));
}

TEST_HARNESS_MAIN
