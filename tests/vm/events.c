// SPDX-License-Identifier: MIT
/*
 * Every event type the module reports, each checked field by field against
 * what the test itself did: it execs, exits, connects, accepts, listens,
 * runs a setuid helper, loads modules, attaches with ptrace and changes
 * watched files, then finds its own events in the batches.
 *
 *   test (subscribed, root) --syscalls--> kernel hooks --batches--> test
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"
#include "pipeline/hash.h"

/* The harness compares in the types given: literals against u32/u64. */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define WAIT_MS 5000

FIXTURE(ev) {
	struct iev_client c;
};

FIXTURE_SETUP(ev)
{
	/* The lab boots with lo down; the network tests need it. */
	ASSERT_EQ(0, system("ip link set dev lo up"));
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
}

FIXTURE_TEARDOWN(ev)
{
	iev_close(&self->c);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

/* Run ARGV in a child (as UID when not 0, in CWD); returns its pid. */
static pid_t spawn(char *const argv[], const char *cwd, uid_t uid)
{
	pid_t pid = fork();
	int null;

	if (pid)
		return pid;
	if (cwd && chdir(cwd))
		_exit(126);
	if (uid && (setgroups(0, NULL) || setgid(uid) || setuid(uid)))
		_exit(125);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	execv(argv[0], argv);
	_exit(127);
}

static int wait_status(pid_t pid)
{
	int status = -1;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* A number in a /proc file, as the u32 the kernel reports. */
static uint32_t read_id(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return (uint32_t)v;
}

/* The argv bytes the kernel should report: each argument and its NUL. */
static size_t argv_bytes(char *const argv[], unsigned char *out)
{
	size_t n = 0;
	int i;

	for (i = 0; argv[i]; i++) {
		memcpy(out + n, argv[i], strlen(argv[i]) + 1);
		n += strlen(argv[i]) + 1;
	}
	return n;
}

/* The device of the superblock of PATH's mount (mountinfo) */
static bool mount_dev_of(const char *path, unsigned int *ma, unsigned int *mi)
{
	char fdinfo[64], line[4096];
	int fd, mnt = -1, id;
	bool found = false;
	FILE *f;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return false;
	snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", fd);
	f = fopen(fdinfo, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "mnt_id: %d", &mnt) == 1)
			break;
	if (f)
		fclose(f);
	close(fd);
	f = fopen("/proc/self/mountinfo", "re");
	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%d %*d %u:%u", &id, ma, mi) == 3 &&
			id == mnt;
	if (f)
		fclose(f);
	return found;
}

/* The hasher's outcome for the exec E of PID (gone) at EXE */
static enum hash_outcome hash_with_id(pid_t pid, const char *exe,
				      const struct iev *e)
{
	struct hash_ident id = {
		.dev = e->exe_dev, .ino = e->exe_ino,
		.ctime_sec = e->exe_ctime_sec, .ctime_nsec = e->exe_ctime_nsec,
	};
	struct hash_config hc;
	struct hash_cache *c;
	enum hash_outcome o;
	uint8_t dg[HASH_LEN];
	bool cached;

	hash_config_defaults(&hc);
	c = hash_cache_new(4);
	if (!c)
		return HASH_NOMEM;
	o = hash_exe_id(c, &hc, (uint32_t)pid, exe, strlen(exe), e->time_ns,
			&id, dg, &cached);
	hash_cache_free(c);
	return o;
}

TEST_F_TIMEOUT(ev, exec_args_and_exit, 90)
{
	char *argv[] = {
		"/bin/true", "two words", "q\"uo'te\\", "h\xc3\xa9llo \xe2\x9c\x93",
		"bad\xff\xfe\x80utf8", "", "last", NULL,
	};
	unsigned char want[512];
	struct timespec t0, t1;
	char exe[PATH_MAX];
	const struct iev *e;
	struct stat st;
	size_t n;
	pid_t pid;

	ASSERT_NE(NULL, realpath("/bin/true", exe));
	clock_gettime(CLOCK_BOOTTIME, &t0);
	pid = spawn(argv, "/tmp", 0);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_status(pid));
	clock_gettime(CLOCK_BOOTTIME, &t1);

	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXEC, pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	n = argv_bytes(argv, want);
	ASSERT_EQ(n, e->argv_len);
	EXPECT_EQ(0, memcmp(want, e->argv, n));
	EXPECT_FALSE(e->argv_truncated);
	EXPECT_FALSE(e->secure_exec);
	EXPECT_STREQ(exe, e->exe);
	/*
	 * the identity of the file executed: stat() of it; the device is
	 * its superblock's, st_dev's unless getattr reports another (the
	 * lab's overlayfs root on two file systems): its mount's in
	 * /proc/self/mountinfo
	 */
	ASSERT_EQ(0, stat(exe, &st));
	ASSERT_TRUE(e->has_exe_id);
	if (major(st.st_dev) != major(e->exe_dev) ||
	    minor(st.st_dev) != minor(e->exe_dev)) {
		unsigned int ma = 0, mi = 0;

		ASSERT_TRUE(mount_dev_of(exe, &ma, &mi));
		EXPECT_EQ(ma, major(e->exe_dev));
		EXPECT_EQ(mi, minor(e->exe_dev));
	}
	EXPECT_EQ((uint64_t)st.st_ino, e->exe_ino);
	EXPECT_EQ((int64_t)st.st_ctim.tv_sec, e->exe_ctime_sec);
	EXPECT_EQ((uint32_t)st.st_ctim.tv_nsec, e->exe_ctime_nsec);
	/* and iotsecd's hasher takes the file at the path for that one */
	EXPECT_EQ(HASH_OK, hash_with_id(pid, exe, e));
	EXPECT_STREQ("/tmp", e->cwd);
	EXPECT_STREQ("true", e->comm);
	EXPECT_EQ(pid, e->tid);
	EXPECT_EQ(getpid(), e->ptgid);
	EXPECT_EQ(0, e->uid);
	EXPECT_EQ(0, e->euid);
	EXPECT_EQ(0, e->gid);
	EXPECT_EQ(0, e->egid);
	EXPECT_NE(0, e->seq);
	EXPECT_LT(e->cpu, sysconf(_SC_NPROCESSORS_CONF));
	EXPECT_LE(t0.tv_sec * 1000000000ULL + t0.tv_nsec, e->time_ns);
	EXPECT_GE(t1.tv_sec * 1000000000ULL + t1.tv_nsec, e->time_ns);
	EXPECT_EQ(read_id("/proc/self/loginuid"), e->loginuid);
	EXPECT_EQ(read_id("/proc/self/sessionid"), e->sessionid);

	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXIT, pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->exit_code);
	EXPECT_EQ(0, e->exit_signal);
}

TEST_F_TIMEOUT(ev, argv_over_limit_is_truncated, 90)
{
	char big[200], *argv[] = { "/bin/true", big, "more", NULL };
	unsigned char want[512];
	const struct iev *e;
	pid_t pid;

	ASSERT_EQ(0, iev_config(&self->c, -1, IOTSEC_ARGV_MAX_MIN, NULL, -1,
				NULL, -1));
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	pid = spawn(argv, NULL, 0);
	ASSERT_EQ(0, wait_status(pid));

	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXEC, pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->argv_truncated);
	ASSERT_EQ(IOTSEC_ARGV_MAX_MIN, e->argv_len);
	argv_bytes(argv, want);
	EXPECT_EQ(0, memcmp(want, e->argv, IOTSEC_ARGV_MAX_MIN - 1));
	EXPECT_EQ(0, e->argv[IOTSEC_ARGV_MAX_MIN - 1]);
}

TEST_F_TIMEOUT(ev, exit_code_and_signal, 90)
{
	const struct iev *e;
	pid_t a, b;

	a = fork();
	if (!a)
		_exit(42);
	b = fork();
	if (!b) {
		kill(getpid(), SIGTERM);
		_exit(1);
	}
	ASSERT_EQ(42 << 8, wait_status(a));
	ASSERT_EQ(SIGTERM, wait_status(b));

	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXIT, a, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(42, e->exit_code);
	EXPECT_EQ(0, e->exit_signal);
	EXPECT_EQ(getpid(), e->ptgid);
	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXIT, b, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->exit_code);
	EXPECT_EQ(SIGTERM, e->exit_signal);
}

/* Loopback of FAMILY with PORT, and its raw address bytes. */
static socklen_t loopback(int family, uint16_t port,
			  struct sockaddr_storage *ss, unsigned char *raw)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		memcpy(raw, &sin->sin_addr, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = in6addr_loopback;
	memcpy(raw, &sin6->sin6_addr, 16);
	return sizeof(*sin6);
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void tcp_case(struct __test_metadata *_metadata, struct iev_client *c,
		     int family)
{
	int alen = family == AF_INET ? 4 : 16;
	struct sockaddr_storage ss;
	unsigned char lo[16];
	uint16_t port, cport;
	int srv, fd, p[2];
	const struct iev *e;
	socklen_t len;
	pid_t pid;

	srv = socket(family, SOCK_STREAM, 0);
	ASSERT_LE(0, srv);
	len = loopback(family, 0, &ss, lo);
	ASSERT_EQ(0, bind(srv, (struct sockaddr *)&ss, len));
	ASSERT_EQ(0, listen(srv, 4));
	port = local_port(srv);
	len = loopback(family, port, &ss, lo);
	ASSERT_EQ(0, pipe(p));

	/* The connecting side is another process: its own tgid. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = socket(family, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&ss, len))
			_exit(1);
		cport = local_port(fd);
		if (write(p[1], &cport, sizeof(cport)) != sizeof(cport))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	ASSERT_EQ(sizeof(cport), read(p[0], &cport, sizeof(cport)));
	fd = accept(srv, NULL, NULL);
	ASSERT_LE(0, fd);
	close(p[0]);
	ASSERT_EQ(0, wait_status(pid));

	e = iev_wait_for(c, IOTSEC_EVENT_LISTEN, getpid(), WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(family, e->family);
	EXPECT_EQ(IPPROTO_TCP, e->protocol);
	EXPECT_EQ(port, e->lport);
	EXPECT_EQ(0, memcmp(lo, e->laddr, alen));

	e = iev_wait_for(c, IOTSEC_EVENT_CONNECT, pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(family, e->family);
	EXPECT_EQ(IPPROTO_TCP, e->protocol);
	EXPECT_EQ(port, e->rport);
	EXPECT_EQ(0, memcmp(lo, e->raddr, alen));
	EXPECT_EQ(cport, e->lport);
	EXPECT_EQ(0, memcmp(lo, e->laddr, alen));
	EXPECT_TRUE(e->has_result);
	/* reported when connect() returns: the handshake's outcome */
	EXPECT_EQ(0, e->result);
	EXPECT_EQ(getpid(), e->ptgid);

	e = iev_wait_for(c, IOTSEC_EVENT_ACCEPT, getpid(), WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(family, e->family);
	EXPECT_EQ(IPPROTO_TCP, e->protocol);
	EXPECT_EQ(port, e->lport);
	EXPECT_EQ(cport, e->rport);
	EXPECT_EQ(0, memcmp(lo, e->laddr, alen));
	EXPECT_EQ(0, memcmp(lo, e->raddr, alen));
	close(fd);
	close(srv);
}

TEST_F_TIMEOUT(ev, tcp_v4_listen_connect_accept, 90)
{
	tcp_case(_metadata, &self->c, AF_INET);
}

TEST_F_TIMEOUT(ev, tcp_v6_listen_connect_accept, 90)
{
	tcp_case(_metadata, &self->c, AF_INET6);
}

struct port_key {
	int type;
	uint32_t tgid;
	uint16_t rport;
	uint8_t protocol;
	int family;
};

static bool match_port(const struct iev *e, const void *arg)
{
	const struct port_key *k = arg;

	return e->type == k->type && e->tgid == k->tgid &&
	       e->rport == k->rport && e->protocol == k->protocol &&
	       e->family == k->family;
}

static void udp_case(struct __test_metadata *_metadata, struct iev_client *c,
		     int family, uint16_t port)
{
	struct port_key k = { IOTSEC_EVENT_CONNECT, getpid(), port,
			      IPPROTO_UDP, family };
	int alen = family == AF_INET ? 4 : 16;
	struct sockaddr_storage ss;
	unsigned char lo[16];
	const struct iev *e;
	socklen_t len;
	int fd;

	fd = socket(family, SOCK_DGRAM, 0);
	ASSERT_LE(0, fd);
	len = loopback(family, port, &ss, lo);
	ASSERT_EQ(0, connect(fd, (struct sockaddr *)&ss, len));
	e = iev_wait(c, match_port, &k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, memcmp(lo, e->raddr, alen));
	EXPECT_EQ(0, memcmp(lo, e->laddr, alen));
	EXPECT_EQ(local_port(fd), e->lport);
	EXPECT_EQ(0, e->result);
	close(fd);
}

TEST_F_TIMEOUT(ev, udp_connect_and_refused_tcp, 90)
{
	struct port_key k = { IOTSEC_EVENT_CONNECT, getpid(), 0,
			      IPPROTO_TCP, AF_INET };
	struct sockaddr_storage ss;
	unsigned char lo[16];
	const struct iev *e;
	socklen_t len;
	int fd;

	udp_case(_metadata, &self->c, AF_INET, 5353);
	udp_case(_metadata, &self->c, AF_INET6, 5354);

	/* A port nobody listens on: a port just bound and closed. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	len = loopback(AF_INET, 0, &ss, lo);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&ss, len));
	k.rport = local_port(fd);
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	len = loopback(AF_INET, k.rport, &ss, lo);
	ASSERT_EQ(-1, connect(fd, (struct sockaddr *)&ss, len));
	ASSERT_EQ(ECONNREFUSED, errno);
	close(fd);
	/* The refusal comes after the SYN: the result connect() returned. */
	e = iev_wait(&self->c, match_port, &k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(-ECONNREFUSED, e->result);
}

/* A non-blocking connect returns before the handshake: -EINPROGRESS. */
TEST_F_TIMEOUT(ev, tcp_nonblocking_connect_in_progress, 90)
{
	struct port_key k = { IOTSEC_EVENT_CONNECT, getpid(), 0,
			      IPPROTO_TCP, AF_INET };
	struct sockaddr_storage ss;
	unsigned char lo[16];
	const struct iev *e;
	socklen_t len;
	int srv, fd, a;

	srv = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, srv);
	len = loopback(AF_INET, 0, &ss, lo);
	ASSERT_EQ(0, bind(srv, (struct sockaddr *)&ss, len));
	ASSERT_EQ(0, listen(srv, 4));
	k.rport = local_port(srv);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ASSERT_LE(0, fd);
	len = loopback(AF_INET, k.rport, &ss, lo);
	ASSERT_EQ(-1, connect(fd, (struct sockaddr *)&ss, len));
	ASSERT_EQ(EINPROGRESS, errno);
	e = iev_wait(&self->c, match_port, &k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(local_port(fd), e->lport);
	EXPECT_EQ(0, memcmp(lo, e->laddr, 4));
	EXPECT_EQ(0, memcmp(lo, e->raddr, 4));
	EXPECT_TRUE(e->has_result);
	EXPECT_EQ(-EINPROGRESS, e->result);
	a = accept(srv, NULL, NULL);
	ASSERT_LE(0, a);
	close(a);
	close(fd);
	close(srv);
}

static bool match_cred_to_root(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_CRED && e->tgid == *(const pid_t *)arg &&
	       e->old_ids[1] != 0 && e->new_ids[1] == 0;
}

static bool match_cred_from_root(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_CRED && e->tgid == *(const pid_t *)arg &&
	       e->old_ids[0] == 0 && e->new_ids[0] == 65534;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(from, O_RDONLY);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0700);
	if (in < 0 || out < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			return -1;
	close(in);
	close(out);
	if (chown(to, 0, 0) || chmod(to, mode))
		return -1;
	return 0;
}

TEST_F_TIMEOUT(ev, setuid_helper_gains_root, 90)
{
	char helper[] = "/tmp/iotsec-suid-id";
	char *argv[] = { helper, NULL };
	const struct iev *e;
	pid_t pid;
	int i;

	/* A setuid-root copy of id(1), run as nobody. */
	ASSERT_EQ(0, copy_file("/usr/bin/id", helper, 04755));
	pid = spawn(argv, NULL, 65534);
	ASSERT_EQ(0, wait_status(pid));

	e = iev_wait(&self->c, match_cred_from_root, &pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_FALSE(e->from_exec);
	EXPECT_EQ(65534, e->new_ids[1]);

	e = iev_wait(&self->c, match_cred_to_root, &pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(65534, e->old_ids[i]);
	EXPECT_EQ(65534, e->new_ids[0]);	/* uid */
	EXPECT_EQ(0, e->new_ids[1]);		/* euid */
	EXPECT_EQ(65534, e->new_ids[2]);	/* gid */
	EXPECT_EQ(65534, e->new_ids[3]);	/* egid */
	EXPECT_TRUE(e->from_exec);
	/* CAP_SETUID among the capabilities gained */
	EXPECT_NE(0, e->caps_gained & (1ULL << 7));
	EXPECT_EQ(65534, e->uid);

	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXEC, pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_TRUE(e->secure_exec);
	EXPECT_STREQ(helper, e->exe);
	EXPECT_EQ(65534, e->uid);
	EXPECT_EQ(0, e->euid);
	unlink(helper);
}

static bool match_module(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_MODULE && !strcmp(e->module, arg);
}

TEST_F_TIMEOUT(ev, module_load_and_refused_load, 90)
{
	const char *dir = getenv("IOTSEC_TEST_MODULES");
	char path[PATH_MAX], junk[4096];
	const struct iev *e;
	int fd, err;

	ASSERT_NE(NULL, dir);
	snprintf(path, sizeof(path), "%s/loadme.ko", dir);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, syscall(SYS_finit_module, fd, "", 0));
	close(fd);
	e = iev_wait(&self->c, match_module, "loadme", WAIT_MS);
	if (!e) {
		size_t i;

		TH_LOG("%zu events, module gen %llu drop %llu deliv %llu lost %llu",
		       self->c.n,
		       (unsigned long long)self->c.cnt.generated[IOTSEC_EVENT_MODULE],
		       (unsigned long long)self->c.cnt.dropped[IOTSEC_EVENT_MODULE],
		       (unsigned long long)self->c.cnt.delivered[IOTSEC_EVENT_MODULE],
		       (unsigned long long)self->c.cnt.lost[IOTSEC_EVENT_MODULE]);
		for (i = 0; i < self->c.n; i++)
			if (self->c.evs[i].type == IOTSEC_EVENT_MODULE)
				TH_LOG("module event: '%s' %d",
				       self->c.evs[i].module,
				       self->c.evs[i].result);
	}
	ASSERT_NE(NULL, e);
	EXPECT_EQ(0, e->result);
	EXPECT_EQ(getpid(), e->tgid);
	EXPECT_EQ(0, syscall(SYS_delete_module, "loadme", O_NONBLOCK));

	/* Not an ELF file: the kernel refuses it. */
	memset(junk, 'x', sizeof(junk));
	fd = open("/tmp/garbage.ko", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(sizeof(junk), write(fd, junk, sizeof(junk)));
	close(fd);
	/* read-only: a file open for writing is refused before loading */
	fd = open("/tmp/garbage.ko", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-1, syscall(SYS_finit_module, fd, "", 0));
	err = errno;
	close(fd);
	unlink("/tmp/garbage.ko");
	e = iev_wait(&self->c, match_module, "garbage", WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(-err, e->result);
	EXPECT_EQ(getpid(), e->tgid);
}

static bool match_ptrace(const struct iev *e, const void *arg)
{
	const uint32_t *k = arg;

	return e->type == IOTSEC_EVENT_PTRACE && e->target_tgid == k[0] &&
	       e->ptrace_mode == k[1];
}

TEST_F_TIMEOUT(ev, ptrace_attach_and_seize, 90)
{
	uint32_t k[2];
	const struct iev *e;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (;;)
			pause();
	}
	ASSERT_EQ(0, ptrace(PTRACE_ATTACH, pid, 0, 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, pid, 0, 0));
	ASSERT_EQ(0, ptrace(PTRACE_SEIZE, pid, 0, 0));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);

	k[0] = pid;
	k[1] = IOTSEC_PTRACE_ATTACH;
	e = iev_wait(&self->c, match_ptrace, k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(getpid(), e->tgid);
	EXPECT_EQ(0, e->result);
	k[1] = IOTSEC_PTRACE_SEIZE;
	e = iev_wait(&self->c, match_ptrace, k, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(getpid(), e->tgid);
	EXPECT_EQ(0, e->result);
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	if (fd < 0)
		return -1;
	return close(fd);
}

static bool match_file_last(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_FILE && e->file_op == IOTSEC_FILE_UNLINK &&
	       !strcmp(e->path, arg);
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

/*
 * Watch BASE/iotsec-w/f and the directory BASE/iotsec-wd, change them and
 * the unwatched BASE/iotsec-u: exactly one event per change of a watched
 * path, with its path, and nothing else. Files already there (the lower
 * layer of an overlay) are used as they are: the changes copy them up.
 */
static void watch_case(struct __test_metadata *_metadata,
		       struct iev_client *c, const char *base)
{
	char w[128], f[128], f2[128], wd[128], h[128], u[128], g[128], g2[128];
	const char *watch[] = { f, wd };
	struct {
		uint32_t op;
		const char *path, *new_path;
	} want[] = {
		{ IOTSEC_FILE_WRITE, f, "" },
		{ IOTSEC_FILE_TRUNCATE, f, "" },
		{ IOTSEC_FILE_RENAME, f, f2 },
		{ IOTSEC_FILE_UNLINK, f2, "" },
		{ IOTSEC_FILE_WRITE, h, "" },
		{ IOTSEC_FILE_UNLINK, h, "" },
	};
	size_t i, n = 0;
	int fd;

	ASSERT_GT(100, strlen(base));
	snprintf(w, sizeof(w), "%.100s/iotsec-w", base);
	snprintf(f, sizeof(f), "%.100s/iotsec-w/f", base);
	snprintf(f2, sizeof(f2), "%.100s/iotsec-w/f2", base);
	snprintf(wd, sizeof(wd), "%.100s/iotsec-wd", base);
	snprintf(h, sizeof(h), "%.100s/iotsec-wd/h", base);
	snprintf(u, sizeof(u), "%.100s/iotsec-u", base);
	snprintf(g, sizeof(g), "%.100s/iotsec-u/g", base);
	snprintf(g2, sizeof(g2), "%.100s/iotsec-u/g2", base);

	mkdir(w, 0755);
	mkdir(wd, 0755);
	mkdir(u, 0755);
	if (!exists(f))
		ASSERT_EQ(0, touch(f));
	if (!exists(g))
		ASSERT_EQ(0, touch(g));
	EXPECT_EQ(-ENOENT, iev_config(c, -1, -1, NULL, -1,
				      (const char *[]){ "/tmp/nonexistent" }, 1));
	ASSERT_EQ(0, iev_config(c, -1, -1, NULL, -1, watch, 2));

	/* Unwatched: nothing. */
	ASSERT_EQ(0, touch(g));
	ASSERT_EQ(0, truncate(g, 0));
	ASSERT_EQ(0, rename(g, g2));
	ASSERT_EQ(0, unlink(g2));
	/* Watched file, read-only open: nothing either. */
	fd = open(f, O_RDONLY);
	ASSERT_LE(0, fd);
	close(fd);

	ASSERT_EQ(0, touch(f));
	ASSERT_EQ(0, truncate(f, 0));
	ASSERT_EQ(0, rename(f, f2));
	ASSERT_EQ(0, unlink(f2));
	ASSERT_EQ(0, touch(h));
	ASSERT_EQ(0, unlink(h));

	ASSERT_NE(NULL, iev_wait(c, match_file_last, h, WAIT_MS));
	for (i = 0; i < c->n; i++) {
		const struct iev *e = &c->evs[i];

		if (e->type != IOTSEC_EVENT_FILE)
			continue;
		EXPECT_EQ(NULL, strstr(e->path, "iotsec-u"));
		ASSERT_LT(n, sizeof(want) / sizeof(want[0]));
		EXPECT_EQ(want[n].op, e->file_op);
		EXPECT_STREQ(want[n].path, e->path);
		EXPECT_STREQ(want[n].new_path, e->new_path);
		EXPECT_EQ(getpid(), e->tgid);
		n++;
	}
	EXPECT_EQ(sizeof(want) / sizeof(want[0]), n);
	rmdir(w);
	rmdir(wd);
	rmdir(u);
}

/* The root of the lab is an overlay (tmpfs over the read-only host). */
TEST_F_TIMEOUT(ev, watched_paths_only, 90)
{
	watch_case(_metadata, &self->c, "/tmp");
}

#define MNT "/tmp/iotsec-mnt"

/* MNT, private to this test's process: gone when it exits. */
static int private_tmpfs(void)
{
	mkdir(MNT, 0755);
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	return mount("tmpfs", MNT, "tmpfs", 0, "mode=0755");
}

TEST_F_TIMEOUT(ev, watched_paths_only_tmpfs, 90)
{
	ASSERT_EQ(0, private_tmpfs());
	watch_case(_metadata, &self->c, MNT);
}

/*
 * An overlay whose lower layer already holds the watched file and the
 * directories: changing them copies them up first.
 */
TEST_F_TIMEOUT(ev, watched_paths_only_overlay_copy_up, 90)
{
	static const char *const dirs[] = {
		MNT "/l", MNT "/u", MNT "/w", MNT "/m", MNT "/l/iotsec-w",
		MNT "/l/iotsec-wd", MNT "/l/iotsec-u",
	};
	size_t i;

	ASSERT_EQ(0, private_tmpfs());
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ASSERT_EQ(0, mkdir(dirs[i], 0755));
	ASSERT_EQ(0, touch(MNT "/l/iotsec-w/f"));
	ASSERT_EQ(0, touch(MNT "/l/iotsec-u/g"));
	ASSERT_EQ(0, mount("overlay", MNT "/m", "overlay", 0,
			   "lowerdir=" MNT "/l,upperdir=" MNT "/u,workdir="
			   MNT "/w"));
	watch_case(_metadata, &self->c, MNT "/m");
}

static int listen_any(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || listen(fd, 1))
		return -1;
	return fd;
}

TEST_F_TIMEOUT(ev, excluded_process_is_silent, 90)
{
	uint32_t me = getpid();
	const struct iev *e;
	pid_t pid;
	int fd;

	ASSERT_EQ(0, iev_config(&self->c, -1, -1, &me, 1, NULL, -1));
	fd = listen_any();
	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(listen_any() < 0);
	ASSERT_EQ(0, wait_status(pid));

	/* The child's listen comes after ours: ours would be there by now. */
	e = iev_wait_for(&self->c, IOTSEC_EVENT_LISTEN, pid, WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(me, e->ptgid);
	EXPECT_EQ(0, iev_count(&self->c, iev_match_key,
			       &(struct iev_key){ IOTSEC_EVENT_LISTEN, me }));
	close(fd);

	/* Excluding nobody again brings our events back. */
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, 0, NULL, -1));
	fd = listen_any();
	ASSERT_NE(NULL, iev_wait_for(&self->c, IOTSEC_EVENT_LISTEN, me,
				     WAIT_MS));
	close(fd);
}

/* Send CMD on the control socket and parse the reply into TB. */
static int request(struct iev_client *c, int cmd, struct nlattr **tb,
		   unsigned char **buf)
{
	struct nl_msg *msg = iev_msg(c, cmd);
	struct sockaddr_nl peer;
	struct nlmsghdr *nlh;
	int n;

	if (!msg || nl_send_auto(c->ctl, msg) < 0)
		return -1;
	nlmsg_free(msg);
	n = nl_recv(c->ctl, &peer, buf, NULL);
	if (n <= 0)
		return -1;
	nlh = (struct nlmsghdr *)*buf;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		return -1;
	if (genlmsg_parse(nlh, 0, tb, IOTSEC_A_MAX, NULL))
		return -1;
	return nl_wait_for_ack(c->ctl);
}

TEST_F_TIMEOUT(ev, stats_and_config, 90)
{
	const char *watch[] = { "/tmp" };
	struct nlattr *tb[IOTSEC_A_MAX + 1], *a;
	unsigned char *buf = NULL;
	uint32_t ex[] = { 4242, 4343 }, got[4];
	int rem, n = 0;

	ASSERT_EQ(0, request(&self->c, IOTSEC_CMD_GET_STATS, tb, &buf));
	ASSERT_NE(NULL, tb[IOTSEC_A_CAPS]);
	/* all hooks but those this kernel is known to lack */
	EXPECT_EQ(IOTSEC_EVENT_MASK_ALL & ~iotsec_test_unavailable(),
		  nla_get_u32(tb[IOTSEC_A_CAPS]));
	EXPECT_EQ(iotsec_test_unavailable(),
		  nla_get_u32(tb[IOTSEC_A_CAPS_MISSING]));
	EXPECT_EQ(1, nla_get_u32(tb[IOTSEC_A_SUBSCRIBERS]));
	EXPECT_EQ(256, nla_get_u32(tb[IOTSEC_A_BUFFER_EVENTS]));
	/* buffer_events counts the module's nominal 512-byte events. */
	EXPECT_EQ(256 * 512, nla_get_u32(tb[IOTSEC_A_BUFFER_BYTES]));
	ASSERT_NE(NULL, tb[IOTSEC_A_MEMORY]);
	EXPECT_LE(256 * 512 * sysconf(_SC_NPROCESSORS_CONF),
		  nla_get_u64(tb[IOTSEC_A_MEMORY]));
	EXPECT_NE(NULL, tb[IOTSEC_A_COUNTERS]);
	free(buf);
	buf = NULL;

	/* Defaults, then what we set. */
	ASSERT_EQ(0, request(&self->c, IOTSEC_CMD_GET_CONFIG, tb, &buf));
	EXPECT_EQ(IOTSEC_EVENT_MASK_DEFAULT,
		  nla_get_u32(tb[IOTSEC_A_EVENT_MASK]));
	EXPECT_EQ(IOTSEC_ARGV_MAX_DEFAULT, nla_get_u32(tb[IOTSEC_A_ARGV_MAX]));
	free(buf);
	buf = NULL;

	ASSERT_EQ(0, iev_config(&self->c, IOTSEC_EVENT_MASK_ALL, 333, ex, 2,
				watch, 1));
	/* Bits of types the module does not know are ignored. */
	EXPECT_EQ(0, iev_config(&self->c, IOTSEC_EVENT_MASK_ALL | 1UL << 31,
				-1, NULL, -1, NULL, -1));
	EXPECT_NE(0, iev_config(&self->c, -1, 10, NULL, -1, NULL, -1));
	ASSERT_EQ(0, request(&self->c, IOTSEC_CMD_GET_CONFIG, tb, &buf));
	EXPECT_EQ(IOTSEC_EVENT_MASK_ALL, nla_get_u32(tb[IOTSEC_A_EVENT_MASK]));
	EXPECT_EQ(333, nla_get_u32(tb[IOTSEC_A_ARGV_MAX]));
	ASSERT_NE(NULL, tb[IOTSEC_A_EXCLUDE]);
	nla_for_each_nested(a, tb[IOTSEC_A_EXCLUDE], rem)
		if (n < 4)
			got[n++] = nla_get_u32(a);
	ASSERT_EQ(2, n);
	EXPECT_EQ(4242, got[0]);
	EXPECT_EQ(4343, got[1]);
	n = 0;
	nla_for_each_nested(a, tb[IOTSEC_A_WATCH], rem) {
		EXPECT_STREQ("/tmp", nla_data(a));
		n++;
	}
	EXPECT_EQ(1, n);
	free(buf);
}

TEST_F_TIMEOUT(ev, fork_only_when_enabled, 90)
{
	const struct iev *e;
	pid_t a, b;

	a = fork();
	if (!a)
		_exit(0);
	ASSERT_EQ(0, wait_status(a));
	ASSERT_EQ(0, iev_config(&self->c, IOTSEC_EVENT_MASK_ALL, -1, NULL, -1,
				NULL, -1));
	b = fork();
	if (!b)
		_exit(0);
	ASSERT_EQ(0, wait_status(b));
	e = iev_wait_for(&self->c, IOTSEC_EVENT_FORK, getpid(), WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(b, e->child_tgid);
	EXPECT_EQ(1, iev_count(&self->c, iev_match_key,
			       &(struct iev_key){ IOTSEC_EVENT_FORK, getpid() }));
}

/* GENERATED for TYPE in the global counters of GET_STATS. */
static uint64_t stats_generated(struct iev_client *c, int type)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1], *one, *ca[IOTSEC_CA_MAX + 1];
	unsigned char *buf = NULL;
	uint64_t n = (uint64_t)-1;
	int rem;

	if (request(c, IOTSEC_CMD_GET_STATS, tb, &buf) || !tb[IOTSEC_A_COUNTERS])
		goto out;
	nla_for_each_nested(one, tb[IOTSEC_A_COUNTERS], rem) {
		if (nla_type(one) != type)
			continue;
		nla_parse_nested(ca, IOTSEC_CA_MAX, one, NULL);
		n = IEV_U64(ca, IOTSEC_CA_GENERATED);
	}
out:
	free(buf);
	return n;
}

/*
 * A consumer that unsubscribed gets nothing more. The module goes on
 * recording (early=1, the default) for the next consumer
 * (tests/vm/early-events.c; with early=0 nothing is recorded there).
 */
TEST_F_TIMEOUT(ev, unsubscribed_gets_nothing_and_events_are_kept, 90)
{
	char *argv[] = { "/bin/true", NULL };
	struct nl_msg *msg;
	uint64_t before;
	pid_t pid;

	pid = spawn(argv, NULL, 0);
	ASSERT_EQ(0, wait_status(pid));
	ASSERT_NE(NULL, iev_wait_for(&self->c, IOTSEC_EVENT_EXEC, pid, WAIT_MS));

	msg = iev_msg(&self->c, IOTSEC_CMD_UNSUBSCRIBE);
	ASSERT_EQ(0, iev_send(self->c.ev, msg));
	iev_poll(&self->c, 300);
	before = stats_generated(&self->c, IOTSEC_EVENT_EXEC);
	ASSERT_NE((uint64_t)-1, before);
	self->c.batches = 0;

	pid = spawn(argv, NULL, 0);
	ASSERT_EQ(0, wait_status(pid));
	EXPECT_EQ(0, iev_poll(&self->c, 1000));
	EXPECT_LE(before + 1, stats_generated(&self->c, IOTSEC_EVENT_EXEC));
	/* Unsubscribing twice: not subscribed. */
	msg = iev_msg(&self->c, IOTSEC_CMD_UNSUBSCRIBE);
	EXPECT_EQ(-ENOENT, iev_send(self->c.ev, msg));
}

static bool match_file_path(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_FILE && !strcmp(e->path, arg);
}

static size_t count_file_path(struct iev_client *c, const char *path)
{
	return iev_count(c, match_file_path, path);
}

/*
 * An overlay over two filesystems without xino gives a file the inode
 * number of its real file: the lower file MNT/m/a and the upper file
 * MNT/m/b share one. Watching a must say nothing about b.
 */
TEST_F_TIMEOUT(ev, overlay_same_inode_number_is_not_watched, 90)
{
	const char *watch[] = { MNT "/m/a" };
	struct stat la, ub;
	char name[64];
	int i;

	ASSERT_EQ(0, private_tmpfs());
	ASSERT_EQ(0, mkdir(MNT "/l", 0755));
	ASSERT_EQ(0, mkdir(MNT "/u", 0755));
	ASSERT_EQ(0, mkdir(MNT "/m", 0755));
	ASSERT_EQ(0, mount("tmpfs", MNT "/l", "tmpfs", 0, "mode=0755"));
	ASSERT_EQ(0, mount("tmpfs", MNT "/u", "tmpfs", 0, "mode=0755"));
	ASSERT_EQ(0, mkdir(MNT "/u/up", 0755));
	ASSERT_EQ(0, mkdir(MNT "/u/work", 0755));
	ASSERT_EQ(0, touch(MNT "/u/up/b"));
	ASSERT_EQ(0, stat(MNT "/u/up/b", &ub));
	/* Fresh tmpfs numbers count up from 1: catch up with b's. */
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), MNT "/l/f%d", i);
		ASSERT_EQ(0, touch(name));
		ASSERT_EQ(0, stat(name, &la));
		if (la.st_ino >= ub.st_ino)
			break;
	}
	ASSERT_EQ(ub.st_ino, la.st_ino);
	ASSERT_EQ(0, rename(name, MNT "/l/a"));
	ASSERT_EQ(0, mount("overlay", MNT "/m", "overlay", 0,
			   "lowerdir=" MNT "/l,upperdir=" MNT "/u/up,workdir="
			   MNT "/u/work,xino=off"));
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch, 1));

	ASSERT_EQ(0, touch(MNT "/m/b"));
	ASSERT_EQ(0, touch(MNT "/m/a"));
	ASSERT_NE(NULL, iev_wait(&self->c, match_file_path, MNT "/m/a",
				 WAIT_MS));
	EXPECT_EQ(0, count_file_path(&self->c, MNT "/m/b"));
}

/* IOTSEC_WATCH_MAX paths are accepted, each watched, and read back. */
TEST_F_TIMEOUT(ev, watch_max_paths, 180)
{
	static char paths[IOTSEC_WATCH_MAX][64];
	const char *watch[IOTSEC_WATCH_MAX];
	struct nlattr *tb[IOTSEC_A_MAX + 1], *a;
	unsigned char *buf = NULL;
	const struct iev *e;
	int i, rem, n = 0;

	ASSERT_LE(1000, IOTSEC_WATCH_MAX);
	ASSERT_EQ(0, private_tmpfs());
	for (i = 0; i < IOTSEC_WATCH_MAX; i++) {
		snprintf(paths[i], sizeof(paths[i]), MNT "/f%04d", i);
		ASSERT_EQ(0, touch(paths[i]));
		watch[i] = paths[i];
	}
	/* libnl's default message is one page. */
	nlmsg_set_default_size(1 << 17);
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch,
				IOTSEC_WATCH_MAX));
	ASSERT_EQ(0, touch(paths[IOTSEC_WATCH_MAX - 1]));
	ASSERT_EQ(0, touch(paths[0]));
	e = iev_wait(&self->c, match_file_path, paths[0], WAIT_MS);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(getpid(), e->tgid);
	EXPECT_EQ(1, count_file_path(&self->c, paths[IOTSEC_WATCH_MAX - 1]));

	ASSERT_EQ(0, request(&self->c, IOTSEC_CMD_GET_CONFIG, tb, &buf));
	ASSERT_NE(NULL, tb[IOTSEC_A_WATCH]);
	nla_for_each_nested(a, tb[IOTSEC_A_WATCH], rem) {
		if (n < IOTSEC_WATCH_MAX)
			EXPECT_STREQ(paths[n], nla_data(a));
		n++;
	}
	EXPECT_EQ(IOTSEC_WATCH_MAX, n);
	free(buf);
}

/*
 * A child changes a watched file in every way; each event is the child's,
 * thread and process. A read-only open is no event.
 */
TEST_F_TIMEOUT(ev, file_ops_carry_the_acting_task, 90)
{
	const char *watch[] = { MNT "/w" };
	static const uint32_t ops[] = {
		IOTSEC_FILE_WRITE, IOTSEC_FILE_TRUNCATE, IOTSEC_FILE_WRITE,
		IOTSEC_FILE_RENAME, IOTSEC_FILE_UNLINK,
	};
	size_t i, n = 0;
	pid_t pid;
	int fd;

	ASSERT_EQ(0, private_tmpfs());
	ASSERT_EQ(0, mkdir(MNT "/w", 0755));
	ASSERT_EQ(0, touch(MNT "/w/f"));
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		fd = open(MNT "/w/f", O_RDONLY);
		if (fd < 0 || close(fd))
			_exit(1);
		if (touch(MNT "/w/f") || truncate(MNT "/w/f", 0))
			_exit(2);
		fd = open(MNT "/w/f", O_RDWR);
		if (fd < 0 || close(fd))
			_exit(3);
		if (rename(MNT "/w/f", MNT "/w/g") || unlink(MNT "/w/g"))
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(0, wait_status(pid));
	ASSERT_NE(NULL, iev_wait(&self->c, match_file_path, MNT "/w/g",
				 WAIT_MS));
	for (i = 0; i < self->c.n; i++) {
		const struct iev *e = &self->c.evs[i];

		if (e->type != IOTSEC_EVENT_FILE)
			continue;
		ASSERT_LT(n, sizeof(ops) / sizeof(ops[0]));
		EXPECT_EQ(ops[n], e->file_op);
		EXPECT_EQ(pid, e->tgid);
		EXPECT_EQ(pid, e->tid);
		n++;
	}
	EXPECT_EQ(sizeof(ops) / sizeof(ops[0]), n);
}

/*
 * Unlink of a file whose path is longer than a record keeps: the path is
 * cut like any other, but it is the file's, not its directory's.
 */
TEST_F_TIMEOUT(ev, unlink_long_name_reports_the_file, 90)
{
	char dir[1024] = MNT, file[1400], want[1024], seg[251];
	const char *watch[] = { dir };
	const struct iev *e;
	int i;

	ASSERT_EQ(0, private_tmpfs());
	memset(seg, 'd', 200);
	seg[200] = '\0';
	for (i = 0; i < 4; i++) {
		strcat(dir, "/");
		strcat(dir, seg);
		ASSERT_EQ(0, mkdir(dir, 0755));
	}
	memset(seg, 'f', 250);
	seg[250] = '\0';
	snprintf(file, sizeof(file), "%s/%s", dir, seg);
	ASSERT_LT(1023, strlen(file));
	ASSERT_EQ(0, touch(file));
	snprintf(want, sizeof(want), "%s", file);
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch, 1));
	ASSERT_EQ(0, unlink(file));
	e = iev_wait(&self->c, match_file_last, want, WAIT_MS);
	EXPECT_NE(NULL, e);
	if (!e && self->c.n)
		TH_LOG("got %s", self->c.evs[self->c.n - 1].path);
}

/*
 * Watch lists replaced, then the module removed, while another process
 * keeps write-opening, truncating and renaming watched files: the old
 * marks go while their handlers may run (the lab fails on any kernel
 * warning).
 */
TEST_F_TIMEOUT(ev, watches_replaced_and_removed_under_load, 120)
{
	const char *a[] = { MNT "/w" }, *b[] = { MNT "/x", MNT "/w" };
	pid_t pid;
	int i;

	ASSERT_EQ(0, private_tmpfs());
	ASSERT_EQ(0, mkdir(MNT "/w", 0755));
	ASSERT_EQ(0, touch(MNT "/w/f"));
	ASSERT_EQ(0, touch(MNT "/x"));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (;;) {
			if (touch(MNT "/w/f") || truncate(MNT "/w/f", 0) ||
			    touch(MNT "/x") ||
			    rename(MNT "/w/f", MNT "/w/g") ||
			    rename(MNT "/w/g", MNT "/w/f"))
				_exit(1);
		}
	}
	for (i = 0; i < 200; i++)
		ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1,
					i % 2 ? a : b, i % 3 ? 2 - i % 2 : 0));
	ASSERT_NE(NULL, iev_wait(&self->c, match_file_path, MNT "/w/f",
				 WAIT_MS));
	iev_close(&self->c);
	EXPECT_EQ(0, iotsec_test_unload());
	kill(pid, SIGKILL);
	EXPECT_EQ(SIGKILL, WTERMSIG(wait_status(pid)));
}

TEST_HARNESS_MAIN
