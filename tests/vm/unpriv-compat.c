// SPDX-License-Identifier: MIT
/*
 * Ways in that an unprivileged user could take past the hooks:
 *
 * - a UDP-Lite connect (IPv4 and IPv6) by uid 65534 is reported like a
 *   UDP one, PROTOCOL IPPROTO_UDPLITE (136), with both ends and RESULT 0;
 * - a 32-bit init_module(2)/finit_module(2) by uid 65534 (issued through
 *   int $0x80, the ia32 system call table, from this 64-bit process; no
 *   32-bit libraries needed) is refused with EPERM and reported with that
 *   result, like a 64-bit one. x86-64 kernels with IA32 emulation only.
 * - a 32-bit connect(2) of uid 65534 (int $0x80 again) is reported with
 *   the result the call returned, 0, not -EINPROGRESS; one through
 *   socketcall(2) that the kernel refuses before any SYN (no route) is
 *   reported with -ENETUNREACH.
 * - calls of uid 65534 that connect nothing are not reported: an IPv6
 *   address given to an IPv4 TCP or UDP socket (-EAFNOSUPPORT), a connect
 *   on a listening socket (-EISCONN).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

#pragma GCC diagnostic ignored "-Wsign-compare"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

#define NOBODY 65534
#define WAIT_MS 10000

FIXTURE(compat) {
	struct iev_client c;
};

FIXTURE_SETUP(compat)
{
	ASSERT_EQ(0, system("ip link set dev lo up"));
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
}

FIXTURE_TEARDOWN(compat)
{
	iev_close(&self->c);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return getuid() == NOBODY && geteuid() == NOBODY ? 0 : -1;
}

/* What a child reports back through its pipe. */
struct udp_report {
	int err;		/* 0, or the errno of the step that failed */
	uint16_t lport;
};

/*
 * In a child of uid 65534: a UDP-Lite socket of FAMILY connects to the
 * loopback address, port PORT (an IPv6 address of LEN6 bytes; 0: the whole
 * sockaddr_in6). The child's pid is returned, its report in R.
 */
static pid_t udplite_child(int family, uint16_t port, socklen_t len6,
			   struct udp_report *r)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int p[2], fd;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct udp_report me = { 0 };

		close(p[0]);
		if (family == AF_INET) {
			struct sockaddr_in *sin = (void *)&ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			len = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (void *)&ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			sin6->sin6_addr = in6addr_loopback;
			len = len6 ? len6 : sizeof(*sin6);
		}
		if (drop_privileges()) {
			me.err = EPERM;
		} else {
			fd = socket(family, SOCK_DGRAM, IPPROTO_UDPLITE);
			if (fd < 0 ||
			    connect(fd, (struct sockaddr *)&ss, len)) {
				me.err = errno;
			} else {
				len = sizeof(ss);
				getsockname(fd, (struct sockaddr *)&ss, &len);
				/* same offset in sockaddr_in and _in6 */
				me.lport = ntohs(((struct sockaddr_in *)&ss)
						 ->sin_port);
			}
		}
		if (write(p[1], &me, sizeof(me)) != sizeof(me))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], r, sizeof(*r)) != sizeof(*r))
		r->err = EIO;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return pid;
}

struct conn_key {
	uint32_t tgid;
	uint16_t rport;
};

static bool match_conn(const struct iev *e, const void *arg)
{
	const struct conn_key *k = arg;

	return e->type == IOTSEC_EVENT_CONNECT && e->tgid == k->tgid &&
	       e->rport == k->rport;
}

static bool match_connect_of(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_CONNECT &&
	       e->tgid == *(const uint32_t *)arg;
}

static struct sockaddr_in lo_addr(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* A TCP listener on 127.0.0.1, any port; its port into *PORT, or -1. */
static int listener(uint16_t *port)
{
	struct sockaddr_in sa = lo_addr(0);
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		return -1;
	*port = ntohs(sa.sin_port);
	return fd;
}

/*
 * In a child of uid 65534: calls that cannot connect anything, each
 * checked for its error, then a connect to 127.0.0.1:PORT, the marker.
 * Exit status: 0, or the step that went otherwise.
 */
static void impossible_child(uint16_t port)
{
	struct sockaddr_in6 six = { .sin6_family = AF_INET6,
				    .sin6_port = htons(5371),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in sa;
	uint16_t lport;
	int fd, l;

	if (drop_privileges())
		_exit(10);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || !connect(fd, (struct sockaddr *)&six, sizeof(six)) ||
	    errno != EAFNOSUPPORT)
		_exit(11);
	close(fd);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || !connect(fd, (struct sockaddr *)&six, sizeof(six)) ||
	    errno != EAFNOSUPPORT)
		_exit(12);
	close(fd);
	l = listener(&lport);
	sa = lo_addr(port);
	if (l < 0 || !connect(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    errno != EISCONN)
		_exit(13);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(14);
	_exit(0);
}

TEST_F_TIMEOUT(compat, unprivileged_impossible_connects_are_not_reported, 90)
{
	struct conn_key k = { 0, 0 };
	const struct iev *e;
	int l, status;
	uint32_t tgid;
	pid_t pid;
	size_t i;

	l = listener(&k.rport);
	ASSERT_LE(0, l);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		impossible_child(k.rport);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	k.tgid = tgid = pid;
	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no event of the marker connect");
	}
	EXPECT_EQ(0, e->result);
	iev_poll(&self->c, 500);
	for (i = 0; i < self->c.n; i++) {
		e = &self->c.evs[i];
		if (match_connect_of(e, &tgid) && e->rport != k.rport)
			TH_LOG("reported: family %u protocol %u rport %u result %d",
			       e->family, e->protocol, e->rport, e->result);
	}
	EXPECT_EQ(1, iev_count(&self->c, match_connect_of, &tgid));
	close(l);
}


static void udplite_case(struct __test_metadata *_metadata,
			 struct iev_client *c, int family, uint16_t port,
			 socklen_t len6)
{
	static const unsigned char lo6[16] = { [15] = 1 };
	const unsigned char lo4[4] = { 127, 0, 0, 1 };
	const void *lo = family == AF_INET ? (const void *)lo4 : lo6;
	int alen = family == AF_INET ? 4 : 16;
	struct udp_report r = { 0 };
	struct conn_key k = { 0, port };
	const struct iev *e;
	pid_t pid;

	pid = udplite_child(family, port, len6, &r);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, r.err);
	k.tgid = pid;
	e = iev_wait(c, match_conn, &k, WAIT_MS);
	if (!e)
		TH_LOG("no connect event of pid %d to port %u (%zu events)",
		       pid, port, c->n);
	ASSERT_NE(NULL, e);
	EXPECT_EQ(IPPROTO_UDPLITE, e->protocol);
	EXPECT_EQ(family, e->family);
	EXPECT_EQ(NOBODY, e->uid);
	EXPECT_EQ(0, memcmp(lo, e->raddr, alen));
	EXPECT_EQ(0, memcmp(lo, e->laddr, alen));
	EXPECT_EQ(r.lport, e->lport);
	EXPECT_TRUE(e->has_result);
	EXPECT_EQ(0, e->result);
}

TEST_F_TIMEOUT(compat, unprivileged_udplite_connect_is_reported, 90)
{
	udplite_case(_metadata, &self->c, AF_INET, 5361, 0);
	udplite_case(_metadata, &self->c, AF_INET6, 5362, 0);
}

/*
 * The kernel takes an IPv6 address of 24 bytes (SIN6_LEN_RFC2133, no
 * scope id): such a connect is reported like any other.
 */
TEST_F_TIMEOUT(compat, unprivileged_short_sockaddr_in6_connect_is_reported, 90)
{
	udplite_case(_metadata, &self->c, AF_INET6, 5363, 24);
}

#if defined(__x86_64__)
/* Numbers of the i386 table (arch/x86/entry/syscalls/syscall_32.tbl). */
#define NR32_INIT_MODULE 128
#define NR32_FINIT_MODULE 350

/* A 32-bit system call from this 64-bit process: the ia32 entry. */
static long syscall32(long nr, long a, long b, long c)
{
	long ret = nr;

	asm volatile ("int $0x80"
		      : "+a" (ret)
		      : "b" (a), "c" (b), "d" (c)
		      : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* Is there an ia32 entry at all (IA32 emulation built and enabled)? */
static bool have_ia32(void)
{
	/* getpid is 20 in the i386 table */
	return syscall32(20, 0, 0, 0) == getpid();
}

/* Results of a child's two 32-bit calls (negative errno, as returned). */
struct load_report {
	int err;
	long init_ret, finit_ret;
};

static pid_t load32_child(int fd, struct load_report *r)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct load_report me = { 0 };
		char *low;

		close(p[0]);
		/* Arguments of a 32-bit call are 32-bit pointers. */
		low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (low == MAP_FAILED || drop_privileges()) {
			me.err = errno ? errno : EPERM;
		} else {
			memcpy(low, "\177ELF", 4);
			/* init_module(image, len, args), args "" at low+64 */
			me.init_ret = syscall32(NR32_INIT_MODULE, (long)low,
						64, (long)low + 64);
			/* finit_module(fd, args, flags) */
			me.finit_ret = syscall32(NR32_FINIT_MODULE, fd,
						 (long)low + 64, 0);
		}
		if (write(p[1], &me, sizeof(me)) != sizeof(me))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], r, sizeof(*r)) != sizeof(*r))
		r->err = EIO;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return pid;
}

static bool match_module_of(const struct iev *e, const void *arg)
{
	return e->type == IOTSEC_EVENT_MODULE &&
	       e->tgid == *(const uint32_t *)arg;
}

#define NR32_SOCKETCALL 102
#define NR32_CONNECT 362
#define SYS_CONNECT_32 3

/*
 * In a child of uid 65534: a 32-bit connect(2) to 127.0.0.1:PORT, then
 * in a network namespace of its own (no route but loopback's, which is
 * down) a 32-bit socketcall(SYS_CONNECT) to 10.255.0.1:4713. The two
 * results (negative errno) go to the pipe W.
 */
static void connect32_child(uint16_t port, int w)
{
	struct sockaddr_in sa = lo_addr(port);
	long res[2] = { 1, 1 };
	uint32_t *args;
	int here, there;
	char *low;

	/* a socket of this namespace, then one of a new, empty one */
	here = socket(AF_INET, SOCK_STREAM, 0);
	low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (here < 0 || low == MAP_FAILED || unshare(CLONE_NEWNET) ||
	    drop_privileges())
		_exit(10);
	there = socket(AF_INET, SOCK_STREAM, 0);
	if (there < 0)
		_exit(11);
	memcpy(low, &sa, sizeof(sa));
	res[0] = syscall32(NR32_CONNECT, here, (long)low, sizeof(sa));
	sa.sin_addr.s_addr = htonl(0x0aff0001);
	sa.sin_port = htons(4713);
	memcpy(low, &sa, sizeof(sa));
	args = (uint32_t *)(low + 64);
	args[0] = there;
	args[1] = (uint32_t)(long)low;
	args[2] = sizeof(sa);
	res[1] = syscall32(NR32_SOCKETCALL, SYS_CONNECT_32, (long)args, 0);
	if (write(w, res, sizeof(res)) != sizeof(res))
		_exit(12);
	_exit(0);
}

TEST_F_TIMEOUT(compat, unprivileged_ia32_connect_is_reported, 90)
{
	struct conn_key k = { 0, 0 };
	const struct iev *e;
	long res[2] = { 1, 1 };
	int l, p[2], status;
	pid_t pid;

	if (!have_ia32())
		SKIP(return, "no IA32 emulation in this kernel");
	l = listener(&k.rport);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		connect32_child(k.rport, p[1]);
	close(p[1]);
	EXPECT_EQ(sizeof(res), read(p[0], res, sizeof(res)));
	close(p[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, res[0]);
	ASSERT_EQ(-ENETUNREACH, res[1]);

	k.tgid = pid;
	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no event of the 32-bit connect");
	}
	EXPECT_TRUE(e->has_result);
	EXPECT_EQ(0, e->result);
	EXPECT_EQ(NOBODY, e->uid);
	k.rport = 4713;
	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no event of the refused 32-bit socketcall connect");
	}
	EXPECT_TRUE(e->has_result);
	EXPECT_EQ(-ENETUNREACH, e->result);
	close(l);
}

TEST_F_TIMEOUT(compat, unprivileged_ia32_module_load_is_reported, 90)
{
	const char *dir = getenv("IOTSEC_TEST_MODULES");
	struct load_report r = { 0 };
	char path[PATH_MAX];
	uint32_t tgid;
	size_t n;
	pid_t pid;
	int fd;

	if (!have_ia32())
		SKIP(return, "no IA32 emulation in this kernel");
	ASSERT_NE(NULL, dir);
	snprintf(path, sizeof(path), "%s/loadme.ko", dir);
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	pid = load32_child(fd, &r);
	close(fd);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, r.err);
	/* may_init_module() refuses both before reading anything */
	ASSERT_EQ(-EPERM, r.init_ret);
	ASSERT_EQ(-EPERM, r.finit_ret);

	tgid = pid;
	iev_wait(&self->c, match_module_of, &tgid, 2000);
	/* both calls, each reported once */
	while (iev_count(&self->c, match_module_of, &tgid) < 2 &&
	       iev_poll(&self->c, WAIT_MS))
		;
	n = iev_count(&self->c, match_module_of, &tgid);
	TH_LOG("%zu module events of pid %d (generated %llu)", n, pid,
	       (unsigned long long)self->c.cnt.generated[IOTSEC_EVENT_MODULE]);
	ASSERT_EQ(2, n);
	for (n = 0; n < self->c.n; n++) {
		const struct iev *e = &self->c.evs[n];

		if (!match_module_of(e, &tgid))
			continue;
		EXPECT_EQ(-EPERM, e->result);
		EXPECT_EQ(NOBODY, e->uid);
		EXPECT_EQ(NOBODY, e->euid);
	}
	/* the module was not loaded */
	EXPECT_NE(0, access("/sys/module/loadme", F_OK));
}
#endif

TEST_HARNESS_MAIN
