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
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
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
