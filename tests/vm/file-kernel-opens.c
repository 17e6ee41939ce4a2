// SPDX-License-Identifier: MIT
/*
 * Watched files written through opens the kernel makes itself, not
 * open(2): before 6.8 those send no FS_OPEN. A core dump into a watched
 * directory (do_coredump() -> filp_open()) and a watched upper file of an
 * overlay written through the overlay (overlayfs opens the real file with
 * FMODE_NONOTIFY) are each a write-open of the acting task.
 *
 *   child --crash / write through overlay--> kernel's open --> event
 */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

/* The harness compares in the types given: literals against u32/u64. */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define WAIT_MS 5000
#define MNT "/tmp/iotsec-kopen"
#define CORE_PATTERN "/proc/sys/kernel/core_pattern"
#define NOBODY 65534

FIXTURE(kopen) {
	struct iev_client c;
	char core_pattern[256];
};

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	int ret = -1;

	if (!f)
		return -1;
	if (fgets(buf, size, f)) {
		buf[strcspn(buf, "\n")] = '\0';
		ret = 0;
	}
	fclose(f);
	return ret;
}

static int write_line(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fputs(s, f) < 0;
	return fclose(f) || ret ? -1 : 0;
}

FIXTURE_SETUP(kopen)
{
	ASSERT_EQ(0, read_line(CORE_PATTERN, self->core_pattern,
			       sizeof(self->core_pattern)));
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
	/* MNT, private to this test's process: gone when it exits. */
	mkdir(MNT, 0755);
	ASSERT_EQ(0, unshare(CLONE_NEWNS));
	ASSERT_EQ(0, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	ASSERT_EQ(0, mount("tmpfs", MNT, "tmpfs", 0, "mode=0755"));
}

FIXTURE_TEARDOWN(kopen)
{
	write_line(CORE_PATTERN, self->core_pattern);
	iev_close(&self->c);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

static int wait_status(pid_t pid)
{
	int status = -1;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

struct want {
	uint32_t tgid;
	const char *path;	/* exact, or a prefix ending in '/' */
};

static bool match_write(const struct iev *e, const void *arg)
{
	const struct want *w = arg;
	size_t n = strlen(w->path);

	if (e->type != IOTSEC_EVENT_FILE || e->file_op != IOTSEC_FILE_WRITE ||
	    e->tgid != w->tgid)
		return false;
	if (n && w->path[n - 1] == '/')
		return !strncmp(e->path, w->path, n);
	return !strcmp(e->path, w->path);
}

static size_t count_file_events(struct iev_client *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		n += c->evs[i].type == IOTSEC_EVENT_FILE;
	return n;
}

/*
 * core_pattern names a file in a watched directory; a child that crashes
 * has the kernel create and write its core there, in the child's name.
 */
TEST_F_TIMEOUT(kopen, core_dump_into_watched_dir_is_a_write_open, 90)
{
	const char *watch[] = { MNT "/cores" };
	struct want w = { 0, MNT "/cores/" };
	const struct iev *e;
	char name[64];
	struct stat st;
	int status;
	pid_t pid;

	ASSERT_EQ(0, mkdir(MNT "/cores", 0755));
	ASSERT_EQ(0, write_line(CORE_PATTERN, MNT "/cores/core.%p"));
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

		if (setrlimit(RLIMIT_CORE, &rl) ||
		    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			_exit(1);
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		_exit(2);
	}
	status = wait_status(pid);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGSEGV, WTERMSIG(status));
	/* The kernel did write the core. */
	ASSERT_TRUE(WCOREDUMP(status));
	snprintf(name, sizeof(name), MNT "/cores/core.%d", pid);
	ASSERT_EQ(0, stat(name, &st));

	w.tgid = pid;
	e = iev_wait(&self->c, match_write, &w, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_STREQ(name, e->path);
	EXPECT_EQ(pid, e->tid);
	/* One open, one event. */
	iev_poll(&self->c, 500);
	EXPECT_EQ(1, count_file_events(&self->c));
}

/*
 * An overlay over a tmpfs upper layer; the upper file MNT/u/f and the
 * upper directory MNT/u/d are watched, through their real paths. A child
 * writes MNT/m/f and MNT/m/d/x through the overlay: overlayfs opens the
 * real files for writing, and each is the child's write-open, reported
 * with the overlay path the child opened, and the child's user (nobody),
 * not the mounter's whose credentials overlayfs opens with. Read-only
 * opens through the overlay and a write of an unwatched upper file are
 * not events.
 */
TEST_F_TIMEOUT(kopen, overlay_write_of_watched_upper_file_is_a_write_open, 90)
{
	static const char *const dirs[] = {
		MNT "/l", MNT "/u", MNT "/w", MNT "/m", MNT "/u/d",
	};
	static const char *const files[] = {
		MNT "/u/f", MNT "/u/d/x", MNT "/u/g",
	};
	const char *watch[] = { MNT "/u/f", MNT "/u/d" };
	struct want wf = { 0, MNT "/m/f" }, wx = { 0, MNT "/m/d/x" };
	const struct iev *e;
	size_t i;
	pid_t pid;
	int fd;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ASSERT_EQ(0, mkdir(dirs[i], 0755));
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		fd = open(files[i], O_WRONLY | O_CREAT, 0666);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, fchmod(fd, 0666));
		close(fd);
	}
	ASSERT_EQ(0, mount("overlay", MNT "/m", "overlay", 0,
			   "lowerdir=" MNT "/l,upperdir=" MNT "/u,workdir="
			   MNT "/w"));
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch, 2));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		static const char *const paths[] = {
			MNT "/m/f", MNT "/m/d/x", MNT "/m/g",
		};

		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(3);

		for (i = 0; i < 3; i++) {
			fd = open(paths[i], O_RDONLY);
			if (fd < 0 || close(fd))
				_exit(1);
		}
		for (i = 0; i < 3; i++) {
			fd = open(paths[i], O_WRONLY | O_APPEND);
			if (fd < 0 || write(fd, "x", 1) != 1 || close(fd))
				_exit(2);
		}
		_exit(0);
	}
	ASSERT_EQ(0, wait_status(pid));

	wf.tgid = pid;
	wx.tgid = pid;
	e = iev_wait(&self->c, match_write, &wf, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(pid, e->tid);
	EXPECT_EQ(NOBODY, e->uid);
	EXPECT_EQ(NOBODY, e->euid);
	e = iev_wait(&self->c, match_write, &wx, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(pid, e->tid);
	EXPECT_EQ(NOBODY, e->uid);
	iev_poll(&self->c, 500);
	/* Nothing for the read-only opens, nothing for g. */
	EXPECT_EQ(2, count_file_events(&self->c));
}

TEST_HARNESS_MAIN
