// SPDX-License-Identifier: MIT
/*
 * An unprivileged user cannot blind the network hooks, and every way into
 * a TCP connect is seen.
 *
 * - 200 connects from uid 65534 hang in SYN_SENT in a network namespace
 *   the test makes (its only listener has a full accept queue, so their
 *   SYNs are dropped); an ordinary connect on the host's loopback is still
 *   reported with every field and RESULT 0, and the 200 are reported when
 *   their process exits and interrupts them (RESULT -EINTR).
 * - uid 65534 keeps 4200 connects hanging the same way (more than the
 *   4096 connects the module once let wait in all): uid 65533's connect
 *   meanwhile is reported with every field and RESULT 0; of the 4200,
 *   1024 (the cap of one user) are reported -EINTR when they end, the
 *   others at once, -EINPROGRESS: each exactly once, none dropped.
 * - 100 threads of uid 65534 wait in accept(); an accept on another
 *   listener is still reported.
 * - uid 65534 connects with sendto(MSG_FASTOPEN) (first without, then with
 *   a Fast Open cookie) and with TCP_FASTOPEN_CONNECT: each is reported,
 *   RESULT 0 (the call returned a byte count: the data went).
 * - an IPv6 socket's TCP and UDP connects to ::ffff:127.0.0.1 are IPv4
 *   connections: FAMILY AF_INET, 4-byte addresses.
 * - uid 65534's connects that the kernel refuses before any SYN are
 *   reported with their error: no route (in a network namespace with only
 *   loopback), and a cgroup BPF connect4 program that says no (EPERM).
 *
 * A hook that keeps a return-probe instance for each blocked call would
 * run out of them (64) in the first two cases; Fast Open never calls
 * inet_stream_connect.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <linux/bpf.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

#pragma GCC diagnostic ignored "-Wsign-compare"

#define NOBODY 65534
#define WAIT_MS 10000
#define NCONNECT 200
#define NACCEPT 100

FIXTURE(net) {
	struct iev_client c;
};

FIXTURE_SETUP(net)
{
	ASSERT_EQ(0, system("ip link set dev lo up"));
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
}

FIXTURE_TEARDOWN(net)
{
	iev_close(&self->c);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

static int drop_to(uid_t uid)
{
	if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
		return -1;
	return getuid() == uid && geteuid() == uid ? 0 : -1;
}

static int drop_privileges(void)
{
	return drop_to(NOBODY);
}

static struct sockaddr_in lo_addr(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* The local port of FD, IPv4 or IPv6 (the port is at the same offset). */
static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A TCP listener on 127.0.0.1, any port, with BACKLOG; -1 on error. */
static int listener(int backlog, int fastopen)
{
	struct sockaddr_in sa = lo_addr(0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (fastopen && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &fastopen,
				   sizeof(fastopen)))
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, backlog))
		return -1;
	return fd;
}

/* Lines of /proc/self/net/tcp (this netns) in state ST (hex). */
static int tcp_in_state(const char *st)
{
	char line[256], a[64], b[64], s[8];
	FILE *f = fopen("/proc/self/net/tcp", "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %*s %63s %63s %7s", a, b, s) == 3 &&
		    !strcmp(s, st))
			n++;
	fclose(f);
	return n;
}

/* Threads of this process that are asleep ('S'). */
static int sleeping_threads(void)
{
	char path[300], buf[256], *p;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;
	FILE *f;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

static struct sockaddr_in blocked_to;

static void *blocked_connect(void *arg)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)arg;
	if (fd >= 0)
		connect(fd, (struct sockaddr *)&blocked_to, sizeof(blocked_to));
	return NULL;
}

static int accept_fd;
static int accept_started;

static void *blocked_accept(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&accept_started, 1, __ATOMIC_SEQ_CST);
	accept(accept_fd, NULL, NULL);
	return NULL;
}

/* Wait up to MS for COND() >= WANT. */
static bool wait_until(int (*cond)(void), int want, int ms)
{
	long end = mono_ms() + ms;

	while (mono_ms() < end) {
		if (cond() >= want)
			return true;
		usleep(20000);
	}
	return false;
}

static int syn_sent(void)
{
	return tcp_in_state("02");
}

/*
 * The child of the blocked-connect case: its own network namespace with
 * lo up, then uid 65534: a listener whose accept queue is full (backlog 0,
 * one connection waiting), NCONNECT threads connecting to it. Writes its
 * listener's port to READY once all of them are in SYN_SENT, then waits
 * for DONE. Exit status: what failed.
 */
static void blocked_connect_child(int ready, int done)
{
	pthread_t t;
	uint16_t port;
	int l, fill, i;
	char c;

	if (unshare(CLONE_NEWNET) || system("ip link set dev lo up"))
		_exit(10);
	if (drop_privileges())
		_exit(11);
	l = listener(0, 0);
	if (l < 0)
		_exit(12);
	port = local_port(l);
	blocked_to = lo_addr(port);
	fill = socket(AF_INET, SOCK_STREAM, 0);
	if (fill < 0 || connect(fill, (struct sockaddr *)&blocked_to,
				sizeof(blocked_to)))
		_exit(13);
	for (i = 0; i < NCONNECT; i++)
		if (pthread_create(&t, NULL, blocked_connect, NULL))
			_exit(14);
	if (!wait_until(syn_sent, NCONNECT, 60000))
		_exit(15);
	if (write(ready, &port, sizeof(port)) != sizeof(port))
		_exit(16);
	if (read(done, &c, 1) < 0)
		_exit(17);
	_exit(0);
}

struct conn_key {
	int type;
	uint32_t tgid;
	uint16_t rport;
	uint8_t protocol;	/* 0: any */
	int result;		/* match_result only */
};

static bool match_conn(const struct iev *e, const void *arg)
{
	const struct conn_key *k = arg;

	return e->type == k->type && e->tgid == k->tgid &&
	       e->rport == k->rport &&
	       (!k->protocol || e->protocol == k->protocol);
}

static bool match_result(const struct iev *e, const void *arg)
{
	const struct conn_key *k = arg;

	return match_conn(e, arg) && e->has_result && e->result == k->result;
}

/*
 * Connect from a child of uid UID (0: stay root) to 127.0.0.1:PORT with
 * HOW; the child's local port into *CPORT. Returns the child's pid, after
 * it has exited with 0, or -1.
 */
enum how { PLAIN, FASTOPEN, FASTOPEN_CONNECT };

static pid_t connect_from_child(int l, uint16_t port, uid_t uid, enum how how,
				uint16_t *cport)
{
	struct sockaddr_in sa = lo_addr(port);
	int p[2], status, fd, one = 1;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (uid && drop_to(uid))
			_exit(20);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			_exit(21);
		switch (how) {
		case PLAIN:
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
				_exit(22);
			break;
		case FASTOPEN:
			if (sendto(fd, "tfo", 3, MSG_FASTOPEN,
				   (struct sockaddr *)&sa, sizeof(sa)) != 3)
				_exit(23);
			break;
		case FASTOPEN_CONNECT:
			if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT,
				       &one, sizeof(one)) ||
			    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
			    write(fd, "tfo", 3) != 3)
				_exit(24);
			break;
		}
		*cport = local_port(fd);
		if (write(p[1], cport, sizeof(*cport)) != sizeof(*cport))
			_exit(25);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], cport, sizeof(*cport)) != sizeof(*cport))
		*cport = 0;
	close(p[0]);
	close(accept(l, NULL, NULL));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) || !*cport)
		return -1;
	return pid;
}

/*
 * The CONNECT event of PID to PORT from CPORT, every field checked, and no
 * second one.
 */
static void check_connect(struct __test_metadata *_metadata,
			  struct iev_client *c, pid_t pid, uint16_t port,
			  uint16_t cport, uid_t uid)
{
	struct conn_key k = { IOTSEC_EVENT_CONNECT, pid, port, IPPROTO_TCP, 0 };
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	const struct iev *e;

	e = iev_wait(c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no connect event of %d to port %u", pid, port);
	}
	EXPECT_EQ(AF_INET, e->family);
	EXPECT_EQ(IPPROTO_TCP, e->protocol);
	EXPECT_EQ(0, memcmp(&lo, e->laddr, 4));
	EXPECT_EQ(cport, e->lport);
	EXPECT_EQ(0, memcmp(&lo, e->raddr, 4));
	EXPECT_EQ(port, e->rport);
	EXPECT_TRUE(e->has_result);
	/* taken when the call returns: connected (or the data went) */
	EXPECT_EQ(0, e->result);
	EXPECT_EQ(pid, e->tid);
	EXPECT_EQ(getpid(), e->ptgid);
	EXPECT_EQ(uid, e->uid);
	EXPECT_EQ(uid, e->euid);
	/* one connect, one event (a Fast Open connect passes two syscalls) */
	iev_poll(c, 500);
	EXPECT_EQ(1, iev_count(c, match_conn, &k));
}

TEST_F_TIMEOUT(net, blocked_connects_do_not_hide_a_connect, 240)
{
	int ready[2], done[2], l, status;
	struct conn_key k = { IOTSEC_EVENT_CONNECT, 0, 0, IPPROTO_TCP, 0 };
	uint16_t port, bport = 0, cport;
	pid_t child, pid;
	int i;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		close(ready[0]);
		close(done[1]);
		blocked_connect_child(ready[1], done[0]);
	}
	close(ready[1]);
	close(done[0]);
	ASSERT_EQ(sizeof(bport), read(ready[0], &bport, sizeof(bport))) {
		waitpid(child, &status, 0);
		TH_LOG("child failed: status %d", WEXITSTATUS(status));
	}
	TH_LOG("%d connects of uid %d hang in SYN_SENT", NCONNECT, NOBODY);

	l = listener(4, 0);
	ASSERT_LE(0, l);
	port = local_port(l);
	pid = connect_from_child(l, port, 0, PLAIN, &cport);
	ASSERT_LT(0, pid);
	check_connect(_metadata, &self->c, pid, port, cport, 0);

	EXPECT_EQ(0, self->c.cnt.dropped[IOTSEC_EVENT_CONNECT]);

	/*
	 * The hanging connects are reported when they return: the child's
	 * exit interrupts them (-EINTR); its first connect succeeded (0).
	 */
	close(done[1]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	k.tgid = child;
	k.rport = bport;
	k.result = -EINTR;
	for (i = 0; i < 100 && iev_count(&self->c, match_result, &k) <
			       NCONNECT; i++)
		iev_poll(&self->c, 100);
	EXPECT_EQ(NCONNECT, iev_count(&self->c, match_result, &k));
	k.result = 0;
	EXPECT_EQ(1, iev_count(&self->c, match_result, &k));
	EXPECT_EQ(NCONNECT + 1, iev_count(&self->c, match_conn, &k));
	EXPECT_EQ(0, self->c.cnt.dropped[IOTSEC_EVENT_CONNECT]);
	close(l);
}

/* One user's connects that may wait for their syscall (kmod/attempt.c). */
#define CONNECTS_PER_USER 1024
#define NFLOOD 4200
#define OTHER_USER 65533

/*
 * The flooding child: like blocked_connect_child(), with NFLOOD threads
 * (small stacks, limits raised while still root).
 */
static void flood_child(int ready, int done)
{
	struct rlimit rl = { NFLOOD + 256, NFLOOD + 256 };
	pthread_attr_t attr;
	pthread_t t;
	uint16_t port;
	int l, fill, i;
	char c;

	if (unshare(CLONE_NEWNET) || system("ip link set dev lo up"))
		_exit(10);
	if (setrlimit(RLIMIT_NOFILE, &rl) || setrlimit(RLIMIT_NPROC, &rl) ||
	    drop_privileges())
		_exit(11);
	l = listener(0, 0);
	if (l < 0)
		_exit(12);
	port = local_port(l);
	blocked_to = lo_addr(port);
	fill = socket(AF_INET, SOCK_STREAM, 0);
	if (fill < 0 || connect(fill, (struct sockaddr *)&blocked_to,
				sizeof(blocked_to)))
		_exit(13);
	if (pthread_attr_init(&attr) ||
	    pthread_attr_setstacksize(&attr, 64 * 1024))
		_exit(14);
	for (i = 0; i < NFLOOD; i++)
		if (pthread_create(&t, &attr, blocked_connect, NULL))
			_exit(14);
	if (!wait_until(syn_sent, NFLOOD, 240000))
		_exit(15);
	if (write(ready, &port, sizeof(port)) != sizeof(port))
		_exit(16);
	if (read(done, &c, 1) < 0)
		_exit(17);
	_exit(0);
}

TEST_F_TIMEOUT(net, flooding_user_starves_no_other_user, 600)
{
	struct conn_key k = { IOTSEC_EVENT_CONNECT, 0, 0, IPPROTO_TCP, 0 };
	int ready[2], done[2], l, status, i;
	uint16_t port, bport = 0, cport;
	size_t intr, unknown, n;
	pid_t child, pid;

	/* room for the 1024 reports at the flooder's exit, in one burst */
	iev_close(&self->c);
	ASSERT_EQ(0, iotsec_test_unload());
	ASSERT_EQ(0, iotsec_test_load("buffer_events=4096"));
	ASSERT_EQ(0, iev_open(&self->c));

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		close(ready[0]);
		close(done[1]);
		flood_child(ready[1], done[0]);
	}
	close(ready[1]);
	close(done[0]);
	ASSERT_EQ(sizeof(bport), read(ready[0], &bport, sizeof(bport))) {
		waitpid(child, &status, 0);
		TH_LOG("child failed: status %d", WEXITSTATUS(status));
	}
	TH_LOG("%d connects of uid %d hang in SYN_SENT", NFLOOD, NOBODY);

	l = listener(4, 0);
	ASSERT_LE(0, l);
	port = local_port(l);
	pid = connect_from_child(l, port, OTHER_USER, PLAIN, &cport);
	ASSERT_LT(0, pid);
	check_connect(_metadata, &self->c, pid, port, cport, OTHER_USER);

	/*
	 * The flooder's connects: those over its cap reported at once, its
	 * first CONNECTS_PER_USER when its exit interrupts them, its first
	 * connect (which succeeded) with 0. Each once, none dropped.
	 */
	close(done[1]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	k.tgid = child;
	k.rport = bport;
	for (i = 0; i < 300 && iev_count(&self->c, match_conn, &k) <
			       NFLOOD + 1; i++)
		iev_poll(&self->c, 100);
	iev_poll(&self->c, 500);
	n = iev_count(&self->c, match_conn, &k);
	k.result = -EINTR;
	intr = iev_count(&self->c, match_result, &k);
	k.result = -EINPROGRESS;
	unknown = iev_count(&self->c, match_result, &k);
	TH_LOG("flooder: %zu events, %zu -EINTR, %zu -EINPROGRESS; generated %llu dropped %llu lost %llu",
	       n, intr, unknown,
	       (unsigned long long)self->c.cnt.generated[IOTSEC_EVENT_CONNECT],
	       (unsigned long long)self->c.cnt.dropped[IOTSEC_EVENT_CONNECT],
	       (unsigned long long)self->c.cnt.lost[IOTSEC_EVENT_CONNECT]);
	EXPECT_EQ(NFLOOD + 1, n);
	EXPECT_EQ(CONNECTS_PER_USER, intr);
	EXPECT_EQ(NFLOOD - CONNECTS_PER_USER, unknown);
	k.result = 0;
	EXPECT_EQ(1, iev_count(&self->c, match_result, &k));
	EXPECT_EQ(0, self->c.cnt.dropped[IOTSEC_EVENT_CONNECT]);
	EXPECT_EQ(0, self->c.cnt.lost[IOTSEC_EVENT_CONNECT]);
	close(l);
}

TEST_F_TIMEOUT(net, blocked_accepts_do_not_hide_an_accept, 180)
{
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct conn_key k = { IOTSEC_EVENT_ACCEPT, getpid(), 0, IPPROTO_TCP, 0 };
	int ready[2], done[2], l, status, fd, a;
	struct sockaddr_in sa;
	const struct iev *e;
	uint16_t port;
	pthread_t t;
	pid_t child;
	char c;
	int i;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		close(ready[0]);
		close(done[1]);
		if (drop_privileges())
			_exit(30);
		accept_fd = listener(16, 0);
		if (accept_fd < 0)
			_exit(31);
		for (i = 0; i < NACCEPT; i++)
			if (pthread_create(&t, NULL, blocked_accept, NULL))
				_exit(32);
		while (__atomic_load_n(&accept_started, __ATOMIC_SEQ_CST) <
		       NACCEPT)
			usleep(10000);
		if (!wait_until(sleeping_threads, NACCEPT, 60000))
			_exit(33);
		if (write(ready[1], "r", 1) != 1)
			_exit(34);
		if (read(done[0], &c, 1) < 0)
			_exit(35);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1)) {
		waitpid(child, &status, 0);
		TH_LOG("child failed: status %d", WEXITSTATUS(status));
	}
	TH_LOG("%d threads of uid %d wait in accept()", NACCEPT, NOBODY);

	l = listener(4, 0);
	ASSERT_LE(0, l);
	port = local_port(l);
	sa = lo_addr(port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_EQ(0, connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
	a = accept(l, NULL, NULL);
	ASSERT_LE(0, a);
	k.rport = local_port(fd);

	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no accept event for port %u", port);
	}
	EXPECT_EQ(AF_INET, e->family);
	EXPECT_EQ(IPPROTO_TCP, e->protocol);
	EXPECT_EQ(port, e->lport);
	EXPECT_EQ(0, memcmp(&lo, e->laddr, 4));
	EXPECT_EQ(0, memcmp(&lo, e->raddr, 4));
	EXPECT_EQ(gettid(), e->tid);
	EXPECT_EQ(0, self->c.cnt.dropped[IOTSEC_EVENT_ACCEPT]);

	close(a);
	close(fd);
	close(l);
	close(done[1]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
}

static bool write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fputs(s, f) >= 0;
	return fclose(f) == 0 && ok;
}

#define TFO_SYSCTL "/proc/sys/net/ipv4/tcp_fastopen"

TEST_F_TIMEOUT(net, unprivileged_fast_open_is_reported, 120)
{
	static const enum how hows[] = { FASTOPEN, FASTOPEN, FASTOPEN_CONNECT };
	static const char *const names[] = {
		"sendto(MSG_FASTOPEN), no cookie yet",
		"sendto(MSG_FASTOPEN) with the cookie",
		"TCP_FASTOPEN_CONNECT, connect() and write()",
	};
	char old[32] = "1\n";
	uint16_t port, cport;
	unsigned int i;
	FILE *f;
	pid_t pid;
	int l;

	f = fopen(TFO_SYSCTL, "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(old, sizeof(old), f));
	fclose(f);
	/* client and server */
	ASSERT_TRUE(write_file(TFO_SYSCTL, "3"));

	l = listener(16, 16);
	ASSERT_LE(0, l);
	port = local_port(l);
	for (i = 0; i < ARRAY_SIZE(hows); i++) {
		pid = connect_from_child(l, port, NOBODY, hows[i], &cport);
		EXPECT_LT(0, pid);
		if (pid <= 0)
			continue;
		TH_LOG("%s: pid %d, port %u", names[i], pid, cport);
		check_connect(_metadata, &self->c, pid, port, cport, NOBODY);
	}
	close(l);
	write_file(TFO_SYSCTL, old);
}

/*
 * An IPv6 socket connecting to an IPv4 peer (::ffff:127.0.0.1) is an IPv4
 * connection: TCP and UDP report FAMILY AF_INET with 4-byte addresses.
 */
TEST_F_TIMEOUT(net, dual_stack_socket_to_ipv4_peer, 60)
{
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6 };
	int types[] = { SOCK_STREAM, SOCK_DGRAM };
	struct conn_key k = { IOTSEC_EVENT_CONNECT, getpid(), 0, 0, 0 };
	const struct iev *e;
	unsigned int i;
	int l, fd, a;

	l = listener(4, 0);
	ASSERT_LE(0, l);
	k.rport = local_port(l);
	sa6.sin6_port = htons(k.rport);
	ASSERT_EQ(1, inet_pton(AF_INET6, "::ffff:127.0.0.1", &sa6.sin6_addr));
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		fd = socket(AF_INET6, types[i], 0);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, connect(fd, (struct sockaddr *)&sa6,
				     sizeof(sa6)));
		if (types[i] == SOCK_STREAM) {
			a = accept(l, NULL, NULL);
			ASSERT_LE(0, a);
			close(a);
		}
		k.protocol = types[i] == SOCK_STREAM ? IPPROTO_TCP :
						       IPPROTO_UDP;
		e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
		ASSERT_NE(NULL, e);
		EXPECT_EQ(AF_INET, e->family);
		EXPECT_EQ(0, memcmp(&lo, e->raddr, 4));
		EXPECT_EQ(0, memcmp(&lo, e->laddr, 4));
		EXPECT_EQ(local_port(fd), e->lport);
		EXPECT_EQ(0, e->result);
		close(fd);
	}
	close(l);
}


#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

/*
 * An MPTCP connection is grafted onto the accepting socket as its MPTCP
 * socket (sk_protocol IPPROTO_MPTCP), not as a TCP one: an accept filtered
 * on IPPROTO_TCP alone let an unprivileged MPTCP server accept unseen.
 */
TEST_F_TIMEOUT(net, unprivileged_mptcp_accept_is_reported, 60)
{
	struct conn_key k = { IOTSEC_EVENT_ACCEPT, 0, 0, IPPROTO_TCP, 0 };
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	int ready[2], status, l, fd, a;
	struct sockaddr_in sa;
	const struct iev *e;
	uint16_t ports[2];
	pid_t child;

	l = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (l < 0)
		SKIP(return, "no MPTCP in this kernel (%s)", strerror(errno));
	close(l);
	write_file("/proc/sys/net/mptcp/enabled", "1");
	ASSERT_EQ(0, pipe(ready));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		close(ready[0]);
		if (drop_privileges())
			_exit(30);
		l = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
		sa = lo_addr(0);
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(l, 4))
			_exit(31);
		sa = lo_addr(local_port(l));
		fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(32);
		a = accept(l, NULL, NULL);
		if (a < 0)
			_exit(33);
		ports[0] = local_port(l);
		ports[1] = local_port(fd);
		if (write(ready[1], ports, sizeof(ports)) != sizeof(ports))
			_exit(34);
		_exit(0);
	}
	close(ready[1]);
	ASSERT_EQ(sizeof(ports), read(ready[0], ports, sizeof(ports)));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
		TH_LOG("child failed: status %d", WEXITSTATUS(status));
	}
	k.tgid = child;
	k.rport = ports[1];
	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no accept event for the MPTCP connection to port %u",
		       ports[0]);
	}
	EXPECT_EQ(AF_INET, e->family);
	EXPECT_EQ(ports[0], e->lport);
	EXPECT_EQ(0, memcmp(&lo, e->laddr, 4));
	EXPECT_EQ(0, memcmp(&lo, e->raddr, 4));
	EXPECT_EQ(NOBODY, e->uid);
}

/*
 * A connect from uid 65534 to 10.255.0.1:PORT in a new network namespace
 * (loopback only), in cgroup CG when not NULL (BPF attached there). The
 * child's exit status is connect(2)'s errno, 99 when it connected, more on
 * other failures.
 */
static pid_t refused_connect(uint16_t port, const char *cg)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(0x0aff0001),
	};
	char pid[16];
	pid_t child;
	int fd;

	child = fork();
	if (child)
		return child;
	if (cg) {
		snprintf(pid, sizeof(pid), "%d", getpid());
		if (!write_file(cg, pid))
			_exit(110);
	}
	if (unshare(CLONE_NEWNET) || system("ip link set dev lo up"))
		_exit(111);
	if (drop_privileges())
		_exit(112);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		_exit(113);
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		_exit(99);
	_exit(errno);
}

static int refused_status(pid_t child)
{
	int status;

	if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Refused for want of a route: reported once, with -ENETUNREACH. */
TEST_F_TIMEOUT(net, unprivileged_connect_without_route_is_reported, 60)
{
	struct conn_key k = { IOTSEC_EVENT_CONNECT, 0, 4711, IPPROTO_TCP, 0 };
	const struct iev *e;
	uint8_t to[4] = { 10, 255, 0, 1 };
	pid_t child;

	child = refused_connect(4711, NULL);
	ASSERT_LT(0, child);
	ASSERT_EQ(ENETUNREACH, refused_status(child));
	k.tgid = child;
	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	ASSERT_NE(NULL, e) {
		TH_LOG("no connect event for a connect without a route");
	}
	EXPECT_TRUE(e->has_result);
	EXPECT_EQ(-ENETUNREACH, e->result);
	EXPECT_EQ(AF_INET, e->family);
	EXPECT_EQ(0, memcmp(to, e->raddr, 4));
	EXPECT_EQ(NOBODY, e->uid);
	iev_poll(&self->c, 1000);
	EXPECT_EQ(1, iev_count(&self->c, match_conn, &k));
}

/* A cgroup BPF connect4 program that returns 0 ("refuse"); fd or -1. */
static int bpf_refuse_connect4(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
	attr.expected_attach_type = BPF_CGROUP_INET4_CONNECT;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uintptr_t)"GPL";
	return syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

/* Refused by a cgroup BPF program: reported once, with -EPERM. */
TEST_F_TIMEOUT(net, unprivileged_connect_refused_by_bpf_is_reported, 60)
{
	struct conn_key k = { IOTSEC_EVENT_CONNECT, 0, 4712, IPPROTO_TCP, 0 };
	const char *root = "/tmp/iotsec-cg2";
	char cg[256], procs[300];
	union bpf_attr attr;
	const struct iev *e;
	int prog, cgfd;
	pid_t child;

	mkdir(root, 0755);
	if (mount("cgroup2", root, "cgroup2", 0, NULL) && errno != EBUSY)
		SKIP(return, "no cgroup2 (%s)", strerror(errno));
	snprintf(cg, sizeof(cg), "%s/iotsec-refuse", root);
	mkdir(cg, 0755);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	prog = bpf_refuse_connect4();
	if (prog < 0)
		SKIP(return, "cannot load a BPF program (%s)", strerror(errno));
	cgfd = open(cg, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, cgfd);
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cgfd;
	attr.attach_bpf_fd = prog;
	attr.attach_type = BPF_CGROUP_INET4_CONNECT;
	ASSERT_EQ(0, syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)));

	child = refused_connect(4712, procs);
	ASSERT_LT(0, child);
	EXPECT_EQ(EPERM, refused_status(child));
	k.tgid = child;
	e = iev_wait(&self->c, match_conn, &k, WAIT_MS);
	EXPECT_NE(NULL, e) {
		TH_LOG("no connect event for a connect BPF refused");
	}
	if (e) {
		EXPECT_TRUE(e->has_result);
		EXPECT_EQ(-EPERM, e->result);
	}
	iev_poll(&self->c, 1000);
	EXPECT_EQ(1, iev_count(&self->c, match_conn, &k));
	syscall(SYS_bpf, BPF_PROG_DETACH, &attr, sizeof(attr));
	close(prog);
	close(cgfd);
	rmdir(cg);
	umount(root);
}

TEST_HARNESS_MAIN
