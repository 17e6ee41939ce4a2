// SPDX-License-Identifier: MIT
/*
 * SHA-256 of executables (pipeline/hash.c): the digest, the cache by
 * (device, inode, mtime, size) and its bound, the outcomes of a FIFO, a
 * huge file, an unreadable one, a changed one, a process gone or running
 * another file, a binary replaced after its exec (process gone or live),
 * a reused pid, and the worker thread.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include "common/clock.h"
#include "pipeline/hash.h"

/* sha256("abc") */
static const char abc_hex[] =
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static void write_file(const char *path, const char *s, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	if (fd < 0 || write(fd, s, len) != (ssize_t)len)
		abort();
	close(fd);
}

FIXTURE(h) {
	char dir[64];
	struct hash_cache *c;
	struct hash_config cfg;
};

FIXTURE_SETUP(h)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/hash-test.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	hash_config_defaults(&self->cfg);
	self->c = hash_cache_new(4);
	ASSERT_NE(NULL, self->c);
}

FIXTURE_TEARDOWN(h)
{
	char cmd[128];

	hash_cache_free(self->c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd)) {
	}
}

TEST_F(h, digest_and_cache_hit_once_per_file)
{
	char p[128], hex[65];
	uint8_t d[HASH_LEN];
	struct hash_cache_stats st;
	bool cached;

	snprintf(p, sizeof(p), "%s/abc", self->dir);
	write_file(p, "abc", 3);
	ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d, &cached));
	EXPECT_FALSE(cached);
	hash_hex(d, hex);
	EXPECT_STREQ(abc_hex, hex);
	for (int i = 0; i < 9; i++) {
		ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d,
					     &cached));
		EXPECT_TRUE(cached);
	}
	hash_cache_stats(self->c, &st);
	EXPECT_EQ(1, st.misses);
	EXPECT_EQ(9, st.hits);
	EXPECT_EQ(1, st.entries);
}

TEST_F(h, rewritten_file_is_hashed_again)
{
	char p[128], hex[65];
	uint8_t d[HASH_LEN];
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1000, 0 } };
	bool cached;

	snprintf(p, sizeof(p), "%s/f", self->dir);
	write_file(p, "xyz", 3);
	ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d, &cached));
	write_file(p, "abc", 3);	/* same size, same inode */
	ASSERT_EQ(0, utimensat(AT_FDCWD, p, ts, 0));
	ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d, &cached));
	EXPECT_FALSE(cached);
	hash_hex(d, hex);
	EXPECT_STREQ(abc_hex, hex);
}

/* The mtime put back after a rewrite: the ctime still tells. */
TEST_F(h, rewrite_with_mtime_restored_is_hashed_again)
{
	char p[128], hex[65];
	uint8_t d[HASH_LEN];
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, 0 } };
	struct stat st;
	bool cached;

	snprintf(p, sizeof(p), "%s/f", self->dir);
	write_file(p, "xyz", 3);
	ASSERT_EQ(0, stat(p, &st));
	ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d, &cached));
	usleep(20000);		/* a ctime of its own */
	write_file(p, "abc", 3);	/* same size, same inode */
	ts[1] = st.st_mtim;
	ASSERT_EQ(0, utimensat(AT_FDCWD, p, ts, 0));
	ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d, &cached));
	EXPECT_FALSE(cached);
	hash_hex(d, hex);
	EXPECT_STREQ(abc_hex, hex);
}

TEST_F(h, cache_is_bounded_lru)
{
	char p[128];
	uint8_t d[HASH_LEN];
	struct hash_cache_stats st;
	bool cached;

	for (int i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "%s/f%d", self->dir, i);
		write_file(p, p, strlen(p));
		ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, p, d,
					     &cached));
	}
	hash_cache_stats(self->c, &st);
	EXPECT_EQ(4, st.entries);
	EXPECT_EQ(2, st.evictions);
	/* f5 is the most recent, f0 was evicted */
	snprintf(p, sizeof(p), "%s/f5", self->dir);
	hash_file(self->c, &self->cfg, p, d, &cached);
	EXPECT_TRUE(cached);
	snprintf(p, sizeof(p), "%s/f0", self->dir);
	hash_file(self->c, &self->cfg, p, d, &cached);
	EXPECT_FALSE(cached);
}

TEST_F(h, fifo_is_not_read)
{
	char p[128];
	uint8_t d[HASH_LEN];
	bool cached;
	int64_t t0 = mono_ms();

	snprintf(p, sizeof(p), "%s/fifo", self->dir);
	ASSERT_EQ(0, mkfifo(p, 0600));
	EXPECT_EQ(HASH_NOT_REGULAR, hash_file(self->c, &self->cfg, p, d,
					      &cached));
	EXPECT_LT(mono_ms() - t0, 1000);
	snprintf(p, sizeof(p), "%s", self->dir);
	EXPECT_EQ(HASH_NOT_REGULAR, hash_file(self->c, &self->cfg, p, d,
					      &cached));
}

TEST_F(h, huge_file_too_large_without_reading)
{
	char p[128];
	uint8_t d[HASH_LEN];
	bool cached;
	int fd;

	snprintf(p, sizeof(p), "%s/huge", self->dir);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1LL << 40));	/* sparse, 1 TiB */
	close(fd);
	EXPECT_EQ(HASH_TOO_LARGE, hash_file(self->c, &self->cfg, p, d,
					    &cached));
	/* within the size but not the time: a timeout, bounded */
	self->cfg.max_size = 1ULL << 41;
	self->cfg.max_ms = 50;
	{
		int64_t t0 = mono_ms();

		EXPECT_EQ(HASH_TIMEOUT, hash_file(self->c, &self->cfg, p, d,
						  &cached));
		EXPECT_LT(mono_ms() - t0, 1000);
	}
}

TEST_F(h, missing_and_unreadable)
{
	char p[128];
	uint8_t d[HASH_LEN];
	bool cached;

	snprintf(p, sizeof(p), "%s/none", self->dir);
	EXPECT_EQ(HASH_GONE, hash_file(self->c, &self->cfg, p, d, &cached));
	if (geteuid() != 0) {
		snprintf(p, sizeof(p), "%s/secret", self->dir);
		write_file(p, "x", 1);
		chmod(p, 0);
		EXPECT_EQ(HASH_UNREADABLE, hash_file(self->c, &self->cfg, p,
						     d, &cached));
	}
}

/* A child running a copy of /bin/sleep whose file is then deleted. */
TEST_F(h, process_exe_also_deleted_and_gone)
{
	char p[128], link[64], want[65], hex[65], cmd[512];
	uint8_t d[HASH_LEN];
	bool cached;
	pid_t pid;
	FILE *f;

	snprintf(p, sizeof(p), "%s/sleeper", self->dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep %s && sha256sum %s", p, p);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(want, sizeof(want), f));
	pclose(f);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		execl(p, p, "100", (char *)NULL);
		_exit(127);
	}
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	for (int i = 0; i < 200; i++) {
		char t[256];
		ssize_t n = readlink(link, t, sizeof(t) - 1);

		if (n > 0 && (t[n] = '\0', !strcmp(t, p)))
			break;
		usleep(10000);
	}
	ASSERT_EQ(HASH_OK, hash_exe(self->c, &self->cfg, pid, p, strlen(p), 0,
				    d, &cached));
	hash_hex(d, hex);
	EXPECT_STREQ(want, hex);
	/* another path than the process runs (pid reused): not its file */
	EXPECT_EQ(HASH_GONE, hash_exe(self->c, &self->cfg, pid, "/none/x",
				      7, 0, d, &cached));
	/* deleted: still hashed through /proc/PID/exe */
	ASSERT_EQ(0, unlink(p));
	hash_cache_free(self->c);
	self->c = hash_cache_new(4);
	ASSERT_EQ(HASH_OK, hash_exe(self->c, &self->cfg, pid, p, strlen(p), 0,
				    d, &cached));
	EXPECT_FALSE(cached);
	hash_hex(d, hex);
	EXPECT_STREQ(want, hex);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* gone, and its path too: no digest */
	EXPECT_EQ(HASH_GONE, hash_exe(self->c, &self->cfg, pid, p, strlen(p),
				      0, d, &cached));
}

/* A short-lived process, gone before its hash: the file at its path. */
TEST_F(h, process_gone_file_at_path)
{
	char p[128], hex[65];
	uint8_t d[HASH_LEN];
	bool cached;
	static const char del[] = "/tmp/x (deleted)";

	snprintf(p, sizeof(p), "%s/abc", self->dir);
	write_file(p, "abc", 3);
	ASSERT_EQ(HASH_OK, hash_exe(self->c, &self->cfg, 0x7ffffff0, p,
				    strlen(p), 0, d, &cached));
	hash_hex(d, hex);
	EXPECT_STREQ(abc_hex, hex);
	/* the kernel named it deleted: the path is another file's now */
	EXPECT_EQ(HASH_GONE, hash_exe(self->c, &self->cfg, 0x7ffffff0, del,
				      sizeof(del) - 1, 0, d, &cached));
	EXPECT_EQ(HASH_GONE, hash_exe(self->c, &self->cfg, 0x7ffffff0,
				      "relative", 8, 0, d, &cached));
}

/* sha256sum of PATH into WANT (65 bytes) */
static void sha256sum(const char *path, char *want)
{
	char cmd[300];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	f = popen(cmd, "r");
	if (!f || !fgets(want, 65, f))
		abort();
	pclose(f);
}

/* PATH's identity as the kernel sends it with an exec event */
static void ident_of(const char *path, struct hash_ident *id)
{
	struct stat st;
	unsigned int ma, mi;

	if (stat(path, &st))
		abort();
	ma = major(st.st_dev);
	mi = minor(st.st_dev);
	/* the kernel's new_encode_dev() */
	id->dev = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
	id->ino = st.st_ino;
	id->ctime_sec = st.st_ctim.tv_sec;
	id->ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
}

/* SRC copied to DST, APPEND (a line) added to it unless NULL */
static void copy_bin(const char *src, const char *dst, const char *append)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp %s %s", src, dst);
	if (system(cmd))
		abort();
	if (append) {
		snprintf(cmd, sizeof(cmd), "echo %s >> %s", append, dst);
		if (system(cmd))
			abort();
	}
}

/* A line from FD (a child's "ready") */
static bool read_line(int fd)
{
	char ch;

	while (read(fd, &ch, 1) == 1)
		if (ch == '\n')
			return true;
	return false;
}

/* Run PATH (a copy of /bin/true) to its end; its pid. */
static pid_t run_to_end(const char *path)
{
	pid_t pid = fork();

	if (!pid) {
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	return pid;
}

/*
 * A short-lived process, gone before its hash, whose binary is replaced
 * after its exec (a file made before the exec, renamed onto the path
 * after it): the file now at the path is not the one executed, so no
 * digest (it used to be the new file's); unchanged, it is verified and
 * hashed. A path that now leads through a symlink is not verified either.
 */
TEST_F(h, process_gone_binary_replaced_after_exec)
{
	char p[128], other[128], dir2[128], via[160], want[65], hex[65];
	struct hash_ident id;
	uint8_t d[HASH_LEN];
	uint64_t exec_ns;
	bool cached;
	pid_t pid;

	snprintf(p, sizeof(p), "%s/prog", self->dir);
	snprintf(other, sizeof(other), "%s/other", self->dir);
	write_file(other, "not the program", 15);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "cp /bin/true %s", p);
		ASSERT_EQ(0, system(cmd));
	}
	sha256sum(p, want);
	usleep(50 * 1000);	/* the files' ctimes well before the exec */
	exec_ns = (uint64_t)boot_ns();
	ident_of(p, &id);
	pid = run_to_end(p);
	/* unchanged since: verified by the kernel's identity, the digest */
	ASSERT_EQ(HASH_OK, hash_exe_id(self->c, &self->cfg, (uint32_t)pid,
				       p, strlen(p), exec_ns, &id, d,
				       &cached));
	hash_hex(d, hex);
	EXPECT_STREQ(want, hex);
	/* without an identity nothing shows the file is the one executed */
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe(self->c, &self->cfg,
					    (uint32_t)pid, p, strlen(p),
					    exec_ns, d, &cached));
	/* replaced after the exec: not the executed file */
	usleep(50 * 1000);
	ASSERT_EQ(0, rename(other, p));
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe_id(self->c, &self->cfg,
					       (uint32_t)pid, p, strlen(p),
					       exec_ns, &id, d, &cached));
	/* a directory of the path swapped for a symlink to another one */
	snprintf(dir2, sizeof(dir2), "%s/d", self->dir);
	ASSERT_EQ(0, mkdir(dir2, 0755));
	snprintf(via, sizeof(via), "%s/prog", dir2);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "cp -p /bin/true %s", via);
		ASSERT_EQ(0, system(cmd));
	}
	snprintf(via, sizeof(via), "%s/l", self->dir);
	ASSERT_EQ(0, symlink(dir2, via));
	usleep(50 * 1000);
	exec_ns = (uint64_t)boot_ns();
	snprintf(via, sizeof(via), "%s/l/prog", self->dir);
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe(self->c, &self->cfg, 0x7ffffff0,
					    via, strlen(via), exec_ns, d,
					    &cached));
	/* an exec time not of this boot: nothing can be verified */
	exec_ns = (uint64_t)boot_ns() + 3600 * 1000000000ULL;
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe(self->c, &self->cfg, 0x7ffffff0,
					    p, strlen(p), exec_ns, d,
					    &cached));
}

/*
 * A live process whose binary was replaced at its path after the exec:
 * /proc/PID/exe is still the executed file, its digest is given; a pid
 * whose process started after the exec (reused) is not trusted.
 */
TEST_F(h, live_process_binary_replaced)
{
	char p[128], tmp[128], want[65], hex[65], cmd[300];
	uint8_t d[HASH_LEN];
	uint64_t exec_ns;
	bool cached;
	pid_t pid;

	snprintf(p, sizeof(p), "%s/sleeper", self->dir);
	snprintf(tmp, sizeof(tmp), "%s/new", self->dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep %s", p);
	ASSERT_EQ(0, system(cmd));
	sha256sum(p, want);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		execl(p, p, "100", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		char t[256], link[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", pid);
		n = readlink(link, t, sizeof(t) - 1);
		if (n > 0 && (t[n] = '\0', !strcmp(t, p)))
			break;
		usleep(10000);
	}
	exec_ns = (uint64_t)boot_ns();	/* just after its exec */
	usleep(50 * 1000);
	write_file(tmp, "replacement", 11);
	ASSERT_EQ(0, rename(tmp, p));
	ASSERT_EQ(HASH_OK, hash_exe(self->c, &self->cfg, (uint32_t)pid, p,
				    strlen(p), exec_ns, d, &cached));
	hash_hex(d, hex);
	EXPECT_STREQ(want, hex);
	/* the same process as the one of an exec before it started */
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe(self->c, &self->cfg,
					    (uint32_t)pid, p, strlen(p),
					    exec_ns / 2, d, &cached));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Review finding A: a process runs DIR/d/x and ends; DIR/d is renamed
 * away and a prepared directory holding a harmless copy (its ctime older
 * than the exec) renamed to DIR/d. The file now at the path is not the
 * one executed: no digest of it, with the kernel's identity or without.
 */
TEST_F(h, process_gone_directory_swapped)
{
	char d1[128], x[160], h1[128], hx[160], gone[128], want[65], hex[65];
	struct hash_ident id;
	uint8_t dg[HASH_LEN];
	uint64_t exec_ns;
	bool cached;
	pid_t pid;

	snprintf(d1, sizeof(d1), "%s/d", self->dir);
	snprintf(x, sizeof(x), "%s/x", d1);
	snprintf(h1, sizeof(h1), "%s/h", self->dir);
	snprintf(hx, sizeof(hx), "%s/x", h1);
	snprintf(gone, sizeof(gone), "%s/gone", self->dir);
	ASSERT_EQ(0, mkdir(d1, 0755));
	ASSERT_EQ(0, mkdir(h1, 0755));
	/* the "malware": /bin/true with bytes appended; the harmless copy */
	copy_bin("/bin/true", x, "malware");
	copy_bin("/bin/true", hx, NULL);
	sha256sum(hx, want);
	usleep(50 * 1000);	/* the harmless copy's ctime before the exec */
	exec_ns = (uint64_t)boot_ns();
	ident_of(x, &id);
	pid = run_to_end(x);
	ASSERT_EQ(0, rename(d1, gone));
	ASSERT_EQ(0, rename(h1, d1));
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe_id(self->c, &self->cfg,
					       (uint32_t)pid, x, strlen(x),
					       exec_ns, &id, dg, &cached));
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe(self->c, &self->cfg,
					    (uint32_t)pid, x, strlen(x),
					    exec_ns, dg, &cached));
	/* the harmless file hashes fine when asked for as itself */
	ASSERT_EQ(HASH_OK, hash_file(self->c, &self->cfg, x, dg, &cached));
	hash_hex(dg, hex);
	EXPECT_STREQ(want, hex);
}

/*
 * Review finding C: a live process execs DIR/p, the file is replaced at
 * that path and the process execs DIR/p again. /proc/PID/exe is now the
 * second file: with the first exec's identity it is not that exec's,
 * and neither is the file at the path (no digest); the second exec's
 * identity gives the second file's digest.
 */
TEST_F(h, live_process_reexec_after_replace)
{
	char p[128], tmp[128], link[64], t[256], want2[65], hex[65];
	struct hash_ident id1, id2;
	uint8_t d[HASH_LEN];
	uint64_t exec_ns;
	int go[2], ready[2];
	bool cached;
	pid_t pid;

	snprintf(p, sizeof(p), "%s/sh", self->dir);
	snprintf(tmp, sizeof(tmp), "%s/new", self->dir);
	copy_bin("/bin/sh", p, NULL);
	ident_of(p, &id1);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	exec_ns = (uint64_t)boot_ns();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char script[300];

		dup2(go[0], 0);
		dup2(ready[1], 1);
		/* tell, wait, exec the same path again (the new file) */
		snprintf(script, sizeof(script),
			 "echo r; read a; exec %s -c 'echo r; read b'", p);
		execl(p, p, "-c", script, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(true, read_line(ready[0]));
	/* the first exec, live: its own file */
	ASSERT_EQ(HASH_OK, hash_exe_id(self->c, &self->cfg, (uint32_t)pid,
				       p, strlen(p), exec_ns, &id1, d,
				       &cached));
	/* replaced (another binary at the same path), then exec'd again */
	copy_bin("/bin/sh", tmp, "other");
	ASSERT_EQ(0, rename(tmp, p));
	sha256sum(p, want2);
	ident_of(p, &id2);
	ASSERT_EQ(2, write(go[1], "x\n", 2));
	ASSERT_EQ(true, read_line(ready[0]));	/* the new one's "r" */
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	ASSERT_LT(0, readlink(link, t, sizeof(t) - 1));
	EXPECT_EQ(HASH_UNVERIFIED, hash_exe_id(self->c, &self->cfg,
					       (uint32_t)pid, p, strlen(p),
					       exec_ns, &id1, d, &cached));
	ASSERT_EQ(HASH_OK, hash_exe_id(self->c, &self->cfg, (uint32_t)pid,
				       p, strlen(p), exec_ns, &id2, d,
				       &cached));
	hash_hex(d, hex);
	EXPECT_STREQ(want2, hex);
	ASSERT_EQ(2, write(go[1], "x\n", 2));
	waitpid(pid, NULL, 0);
}

TEST(worker_answers_in_order)
{
	struct hash_config cfg;
	struct hasher *h;
	struct hash_result r[8];
	struct hasher_stats st;
	char self_exe[256];
	ssize_t n;
	size_t got = 0;

	hash_config_defaults(&cfg);
	ASSERT_EQ(0, hasher_start(&h, &cfg));
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	ASSERT_LT(0, n);
	ASSERT_EQ(0, hasher_submit(h, 1, getpid(), self_exe, (size_t)n, 0,
				   NULL));
	ASSERT_EQ(0, hasher_submit(h, 2, getpid(), self_exe, (size_t)n, 0,
				   NULL));
	ASSERT_EQ(0, hasher_submit(h, 3, 0x7ffffff0, "/none/x", 7, 0,
				   NULL));
	for (int i = 0; i < 500 && got < 3; i++) {
		got += hasher_take(h, r + got, 8 - got);
		if (got < 3)
			usleep(10000);
	}
	ASSERT_EQ(3, got);
	EXPECT_EQ(1, r[0].id);
	EXPECT_EQ(HASH_OK, r[0].outcome);
	EXPECT_FALSE(r[0].cached);
	EXPECT_EQ(2, r[1].id);
	EXPECT_TRUE(r[1].cached);
	EXPECT_EQ(0, memcmp(r[0].digest, r[1].digest, HASH_LEN));
	EXPECT_EQ(3, r[2].id);
	EXPECT_EQ(HASH_GONE, r[2].outcome);
	hasher_stats(h, &st);
	EXPECT_EQ(3, st.submitted);
	EXPECT_EQ(1, st.cache.hits);
	EXPECT_EQ(0, hasher_pending(h));
	hasher_stop(h, 1000);
}

TEST(worker_queue_is_bounded)
{
	struct hash_config cfg;
	struct hasher *h;
	int rejected = 0;

	hash_config_defaults(&cfg);
	ASSERT_EQ(0, hasher_start(&h, &cfg));
	for (int i = 0; i < HASHER_QUEUE + 10; i++)
		if (hasher_submit(h, (uint64_t)i, 0x7ffffff0, "/x", 2, 0,
				  NULL))
			rejected++;
	/* the worker may have finished a few, never taken: still queued */
	EXPECT_EQ(10, rejected);
	hasher_stop(h, 1000);
}

TEST_HARNESS_MAIN
