// SPDX-License-Identifier: MIT
/*
 * The delivery side of the module: batches that fit the contract, losses
 * a consumer learns without further events, exact figures for a late
 * subscriber, events only ever on the subscriber's own socket (also while
 * it closes and somebody else takes its port id), and the handler timing
 * of GET_STATS.
 *
 *   exec flood --> iotsec --batches--> consumer (16 KiB recv buffer)
 *                    |  \--counters--> consumer whose last batch was lost
 *                    \--nothing------> uid 65534 socket on a freed port id
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-raw.h"
#include "lib/iotsec-events.h"

/* The harness compares in the types given: literals against u32/u64. */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define NOBODY 65534

static double now_s(void)
{
	return mono_ms() / 1000.0;
}

static void run_true(const char *arg)
{
	pid_t pid = fork();

	if (!pid) {
		execl("/bin/true", "/bin/true", arg, NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/*
 * A child that execs /bin/true with arguments of changing length (100 ..
 * 3900 bytes) until killed; its pid.
 */
static pid_t exec_flood(void)
{
	pid_t pid = fork();

	if (!pid) {
		static char arg[4000];
		unsigned int i;

		for (i = 0;; i++) {
			size_t len = 100 + (i * 337) % 3800;

			memset(arg, 'a' + i % 26, len);
			arg[len] = '\0';
			run_true(arg);
		}
	}
	return pid;
}

/* A child that connects a UDP socket on loopback until killed. */
static pid_t connect_flood(void)
{
	pid_t pid = fork();

	if (!pid) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		unsigned int i;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		for (i = 0;; i++) {
			sa.sin_port = htons(1000 + i % 1000);
			connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		}
	}
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* SET_CONFIG with the event mask (if MASK >= 0) and argv limit. */
static int raw_config(struct raw_sock *s, int family, long mask,
		      uint32_t argv_max)
{
	struct raw_msg *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	raw_msg_init(m, family, IOTSEC_CMD_SET_CONFIG);
	if (mask >= 0)
		raw_put_u32(m, IOTSEC_A_EVENT_MASK, mask);
	raw_put_u32(m, IOTSEC_A_ARGV_MAX, argv_max);
	ret = raw_request(s, m, NULL, 0);
	free(m);
	return ret;
}

static bool settled(const struct iev_client *c)
{
	const struct iev_counters *k = &c->cnt;
	int t;

	for (t = 1; t < IEV_NTYPES; t++)
		if (k->generated[t] != k->dropped[t] + k->before[t] +
				       k->delivered[t] + k->lost[t] ||
		    c->received[t] != k->delivered[t])
			return false;
	return true;
}

static void log_counters(struct __test_metadata *_metadata,
			 const char *who, const struct iev_client *c)
{
	int t;

	for (t = 1; t < IEV_NTYPES; t++)
		if (c->cnt.generated[t])
			TH_LOG("%s type %d: generated %llu dropped %llu before %llu delivered %llu lost %llu received %llu",
			       who, t,
			       (unsigned long long)c->cnt.generated[t],
			       (unsigned long long)c->cnt.dropped[t],
			       (unsigned long long)c->cnt.before[t],
			       (unsigned long long)c->cnt.delivered[t],
			       (unsigned long long)c->cnt.lost[t],
			       (unsigned long long)c->received[t]);
}

FIXTURE(ring) {
	int unused;
};

FIXTURE_SETUP(ring)
{
}

FIXTURE_TEARDOWN(ring)
{
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

/*
 * Item 3: a consumer reading with a buffer of exactly
 * IOTSEC_BATCH_MAX_BYTES (and a socket buffer of that size) gets every
 * batch whole under a flood of long exec records, full batches included.
 */
TEST_F_TIMEOUT(ring, batches_fit_contract_buffer, 300)
{
	static unsigned char buf[IOTSEC_BATCH_MAX_BYTES];
	int rcvbuf = IOTSEC_BATCH_MAX_BYTES;
	struct timeval tv = { .tv_usec = 200000 };
	unsigned int batches = 0, truncated = 0, big = 0;
	size_t largest = 0;
	struct raw_sock s;
	double end;
	int family;
	pid_t flood;

	ASSERT_EQ(0, iotsec_test_load("buffer_events=4096 flush_ms=1000 watermark=0"));
	ASSERT_EQ(0, raw_open(&s, 0));
	family = raw_family(&s, IOTSEC_GENL_NAME, NULL);
	ASSERT_LT(0, family);
	ASSERT_EQ(0, raw_config(&s, family,
				IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC) |
				IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXIT),
				IOTSEC_ARGV_MAX_MAX));
	ASSERT_EQ(0, setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				sizeof(rcvbuf)));
	ASSERT_EQ(0, setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				sizeof(tv)));
	ASSERT_EQ(0, raw_cmd(&s, family, IOTSEC_CMD_SUBSCRIBE));

	flood = exec_flood();
	ASSERT_LT(0, flood);
	end = now_s() + 25;
	while (now_s() < end && big < 20) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		ssize_t n = recvmsg(s.fd, &mh, 0);

		if (n < 0)
			continue;	/* timeout, or ENOBUFS: lost batches */
		if (n < (ssize_t)NLMSG_HDRLEN || nlh->nlmsg_type != family)
			continue;
		batches++;
		if ((mh.msg_flags & MSG_TRUNC) || nlh->nlmsg_len > n)
			truncated++;
		if (nlh->nlmsg_len > largest)
			largest = nlh->nlmsg_len;
		/* Full batches: at most one more exec record would fit. */
		if (nlh->nlmsg_len > IOTSEC_BATCH_MAX_BYTES - 7000)
			big++;
	}
	stop_child(flood);
	TH_LOG("%u batches, %u of them nearly full, largest %zu bytes, %u truncated",
	       batches, big, largest, truncated);
	EXPECT_LT(0, big);
	EXPECT_EQ(0, truncated);
	EXPECT_GE(IOTSEC_BATCH_MAX_BYTES, largest);
	raw_close(&s);
	EXPECT_EQ(0, iotsec_test_unload());
}

/*
 * Item 4: the batches of a burst are lost to a full socket, the last one
 * too, and then nothing happens any more. Once the consumer makes room,
 * it still learns the whole story: GENERATED covers the burst and the sum
 * closes with what it lost.
 */
TEST_F_TIMEOUT(ring, last_batch_lost_still_counted, 120)
{
	struct iev_client c;
	int tiny = 0, i;
	long end;

	ASSERT_EQ(0, iotsec_test_load("flush_ms=50"));
	ASSERT_EQ(0, iev_open(&c));
	ASSERT_EQ(0, iev_config(&c, IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC) |
				IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXIT), -1,
				NULL, -1, NULL, -1));
	ASSERT_EQ(0, setsockopt(nl_socket_get_fd(c.ev), SOL_SOCKET,
				SO_RCVBUFFORCE, &tiny, sizeof(tiny)));
	/* One batch fits the socket, every later one is lost. */
	for (i = 0; i < 20; i++) {
		run_true("iotsec-lost");
		usleep(60000);
	}
	/* Nothing more happens; a few flushes go by. */
	usleep(500000);
	end = mono_ms() + 10000;
	do
		iev_poll(&c, 300);
	while (!(settled(&c) && c.cnt.generated[IOTSEC_EVENT_EXEC] >= 20) &&
	       mono_ms() < end);

	log_counters(_metadata, "consumer", &c);
	EXPECT_TRUE(c.seq_gap);
	EXPECT_LE(20, c.cnt.generated[IOTSEC_EVENT_EXEC]);
	EXPECT_LT(0, c.cnt.lost[IOTSEC_EVENT_EXEC]);
	EXPECT_TRUE(settled(&c));
	iev_close(&c);
	EXPECT_EQ(0, iotsec_test_unload());
}

/*
 * Item 4: a consumer that subscribes while events are buffered closes
 * the sum exactly with BEFORE; so does the first one.
 */
TEST_F_TIMEOUT(ring, late_subscriber_sum_exact, 120)
{
	struct iev_client first, late;
	long end;
	int i;

	ASSERT_EQ(0, iotsec_test_load("flush_ms=1000 watermark=0"));
	ASSERT_EQ(0, iev_open(&first));
	ASSERT_EQ(0, iev_config(&first, IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC) |
				IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXIT), -1,
				NULL, -1, NULL, -1));
	/* Events before, some batched already, some still buffered. */
	for (i = 0; i < 10; i++) {
		run_true("iotsec-early");
		usleep(150000);
	}
	ASSERT_EQ(0, iev_open(&late));
	for (i = 0; i < 10; i++)
		run_true("iotsec-late");
	end = mono_ms() + 15000;
	do {
		iev_poll(&first, 200);
		iev_poll(&late, 200);
	} while (!(settled(&first) && settled(&late) &&
		   late.cnt.generated[IOTSEC_EVENT_EXEC] >= 20) &&
		 mono_ms() < end);

	log_counters(_metadata, "first", &first);
	log_counters(_metadata, "late", &late);
	EXPECT_TRUE(settled(&first));
	EXPECT_TRUE(settled(&late));
	EXPECT_LE(20, late.cnt.generated[IOTSEC_EVENT_EXEC]);
	/* The late one saw the late execs and not all the early ones. */
	EXPECT_LT(0, late.cnt.before[IOTSEC_EVENT_EXEC]);
	EXPECT_EQ(0, first.cnt.before[IOTSEC_EVENT_EXEC]);
	iev_close(&first);
	iev_close(&late);
	EXPECT_EQ(0, iotsec_test_unload());
}

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return getuid() == NOBODY && geteuid() == NOBODY ? 0 : -1;
}

/*
 * An unprivileged process that binds PORT as soon as it is free, then
 * counts the messages of FAMILY it gets for a while; the count is its
 * exit status (200 and up: it could not do its part). SUBSCRIBER is the
 * parent's socket on PORT, closed in the child.
 */
static pid_t spy_start(int family, uint32_t port, int ready, int subscriber)
{
	pid_t pid = fork();

	if (pid == 0) {
		static unsigned char buf[RAW_MSG_MAX];
		struct sockaddr_nl sa = {
			.nl_family = AF_NETLINK, .nl_pid = port,
		};
		struct timeval tv = { .tv_usec = 100000 };
		double end;
		int fd, count = 0;
		ssize_t n;

		/* Only the parent holds the subscriber's socket. */
		close(subscriber);
		if (drop_privileges())
			_exit(200);
		if (write(ready, "r", 1) != 1)
			_exit(202);
		end = now_s() + 20;
		/* A socket whose bind failed keeps the port id it tried. */
		for (;;) {
			fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
			if (fd < 0)
				_exit(201);
			if (!bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
				break;
			if (errno != EADDRINUSE || now_s() > end)
				_exit(203);
			close(fd);
		}
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
			_exit(201);
		end = now_s() + 2;
		while (now_s() < end) {
			const struct nlmsghdr *nlh = (void *)buf;

			n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && errno == ENOBUFS)
				count++;
			for (; n > 0 && NLMSG_OK(nlh, n);
			     nlh = NLMSG_NEXT(nlh, n))
				if (nlh->nlmsg_type == family)
					count++;
		}
		_exit(count > 100 ? 100 : count);
	}
	return pid;
}

#define EXTRA 48

/*
 * Item 6: a subscriber closes its socket while the worker drains a flush
 * of many batches, and an unprivileged process binds the freed port id at
 * once: it must receive nothing, round after round.
 */
TEST_F_TIMEOUT(ring, closing_subscriber_port_reuse_race, 300)
{
	static unsigned char buf[RAW_MSG_MAX];
	int rounds = 10, round, spied = 0, bad = 0, big = 8 << 20, i;
	struct raw_sock ctl, extra[EXTRA];
	int family, status;
	pid_t flood;

	ASSERT_EQ(0, iotsec_test_load("buffer_events=4096 flush_ms=1000 watermark=0"));
	ASSERT_EQ(0, raw_open(&ctl, 0));
	family = raw_family(&ctl, IOTSEC_GENL_NAME, NULL);
	ASSERT_LT(0, family);
	ASSERT_EQ(0, raw_config(&ctl, family,
				IOTSEC_EVENT_BIT(IOTSEC_EVENT_CONNECT),
				IOTSEC_ARGV_MAX_MIN));
	/*
	 * Other consumers, subscribed first: each batch goes to them before
	 * the subscriber under test, which makes a drain last long enough
	 * for the race to be run, not just possible.
	 */
	for (i = 0; i < EXTRA; i++) {
		ASSERT_EQ(0, raw_open(&extra[i], 0));
		ASSERT_EQ(0, raw_cmd(&extra[i], family, IOTSEC_CMD_SUBSCRIBE));
	}
	flood = connect_flood();
	ASSERT_LT(0, flood);

	for (round = 0; round < rounds; round++) {
		uint32_t port = 0x7e580000 | ((getpid() & 0xff) << 8) | round;
		struct raw_sock s;
		int pipefd[2];
		pid_t spy;
		char c;

		ASSERT_EQ(0, raw_open(&s, port));
		setsockopt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		ASSERT_EQ(0, raw_cmd(&s, family, IOTSEC_CMD_SUBSCRIBE));
		ASSERT_EQ(0, pipe(pipefd));
		spy = spy_start(family, port, pipefd[1], s.fd);
		ASSERT_LT(0, spy);
		ASSERT_EQ(1, read(pipefd[0], &c, 1));
		close(pipefd[0]);
		close(pipefd[1]);
		/* The first batch of a flush: the worker is draining now. */
		for (;;) {
			ssize_t n = recv(s.fd, buf, sizeof(buf), 0);
			const struct nlmsghdr *nlh = (void *)buf;

			if (n > 0 && nlh->nlmsg_type == family &&
			    nlh->nlmsg_seq == 0)
				break;
		}
		raw_close(&s);
		ASSERT_EQ(spy, waitpid(spy, &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_GT(200, WEXITSTATUS(status));
		spied += WEXITSTATUS(status);
		if (WEXITSTATUS(status))
			bad++;
	}
	stop_child(flood);
	for (i = 0; i < EXTRA; i++)
		raw_close(&extra[i]);
	TH_LOG("%d rounds: the port id's new owner got %d messages in %d of them",
	       rounds, spied, bad);
	EXPECT_EQ(0, spied);
	raw_close(&ctl);
	EXPECT_EQ(0, iotsec_test_unload());
}

struct hook_time {
	char name[64];
	uint32_t type;
	uint64_t calls, ns;
};

/* The IOTSEC_A_HOOKS of GET_STATS into H; the number of hooks, or -1. */
static int hook_times(struct hook_time *h, int max)
{
	static unsigned char reply[16384];
	struct raw_sock s;
	struct nlattr *all;
	unsigned char *p, *end;
	int family, n = 0;

	if (raw_open(&s, 0))
		return -1;
	family = raw_family(&s, IOTSEC_GENL_NAME, NULL);
	if (family <= 0 || raw_stats(&s, family, reply, sizeof(reply))) {
		raw_close(&s);
		return -1;
	}
	raw_close(&s);
	all = raw_attr((struct nlmsghdr *)reply, IOTSEC_A_HOOKS);
	if (!all)
		return -1;
	p = raw_attr_data(all);
	end = (unsigned char *)all + all->nla_len;
	while (p + NLA_HDRLEN <= end && n < max) {
		struct nlattr *one = (struct nlattr *)p, *a;
		unsigned char *q = raw_attr_data(one);
		unsigned char *qend = p + one->nla_len;

		if (one->nla_len < NLA_HDRLEN)
			break;
		memset(&h[n], 0, sizeof(h[n]));
		while (q + NLA_HDRLEN <= qend) {
			a = (struct nlattr *)q;
			if (a->nla_len < NLA_HDRLEN)
				break;
			switch (a->nla_type & NLA_TYPE_MASK) {
			case IOTSEC_HA_NAME:
				snprintf(h[n].name, sizeof(h[n].name), "%.*s",
					 (int)(a->nla_len - NLA_HDRLEN),
					 (char *)raw_attr_data(a));
				break;
			case IOTSEC_HA_TYPE:
				memcpy(&h[n].type, raw_attr_data(a), 4);
				break;
			case IOTSEC_HA_CALLS:
				memcpy(&h[n].calls, raw_attr_data(a), 8);
				break;
			case IOTSEC_HA_NS:
				memcpy(&h[n].ns, raw_attr_data(a), 8);
				break;
			}
			q += NLA_ALIGN(a->nla_len);
		}
		n++;
		p += NLA_ALIGN(one->nla_len);
	}
	return n;
}

static const struct hook_time *hook_find(const struct hook_time *h, int n,
					 const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(h[i].name, name))
			return &h[i];
	return NULL;
}

/* Events on, execs made; returns the hooks' figures in H. */
static int time_execs(struct hook_time *h, int max)
{
	struct iev_client c;
	int i, n;

	if (iev_open(&c))
		return -1;
	for (i = 0; i < 10; i++)
		run_true("iotsec-timing");
	iev_poll(&c, 300);
	n = hook_times(h, max);
	iev_close(&c);
	return n;
}

/*
 * Handler timing: with timing=1, GET_STATS reports for each hook the
 * calls and the time its handlers took (a tracepoint, sched_process_exec,
 * and a kprobe, commit_creds, both run at every exec); without it, the
 * same hooks with zeros.
 */
TEST_F_TIMEOUT(ring, handler_timing_reported, 120)
{
	const struct hook_time *exec, *creds;
	struct hook_time h[64];
	int n, i;

	ASSERT_EQ(0, iotsec_test_load("timing=1"));
	n = time_execs(h, 64);
	ASSERT_LT(0, n);
	for (i = 0; i < n; i++)
		TH_LOG("%-28s type %2u: %8llu calls %12llu ns %8llu ns/call",
		       h[i].name, h[i].type, (unsigned long long)h[i].calls,
		       (unsigned long long)h[i].ns,
		       (unsigned long long)(h[i].calls ?
					    h[i].ns / h[i].calls : 0));
	exec = hook_find(h, n, "sched_process_exec");
	creds = hook_find(h, n, "commit_creds");
	ASSERT_NE(NULL, exec);
	ASSERT_NE(NULL, creds);
	EXPECT_EQ(IOTSEC_EVENT_EXEC, exec->type);
	EXPECT_LE(10, exec->calls);
	EXPECT_LE(10, creds->calls);
	EXPECT_LT(0, exec->ns);
	EXPECT_LT(0, creds->ns);
	/* Plausible: under 10 ms a call even in an emulated guest. */
	EXPECT_GT(10000000ULL, exec->ns / exec->calls);
	EXPECT_GT(10000000ULL, creds->ns / creds->calls);
	EXPECT_EQ(0, iotsec_test_unload());

	ASSERT_EQ(0, iotsec_test_load(NULL));
	EXPECT_EQ(n, time_execs(h, 64));
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0, h[i].calls);
		EXPECT_EQ(0, h[i].ns);
	}
	EXPECT_EQ(0, iotsec_test_unload());
}

/*
 * A file path of exactly LEN bytes (NUL not counted) under /tmp, made of
 * directories of at most 200 bytes; the file exists. Returns it (static).
 */
static const char *long_path(size_t len)
{
	static char path[4096];
	size_t n;

	snprintf(path, sizeof(path), "/tmp/iotsec-plen-%d", getpid());
	mkdir(path, 0755);
	n = strlen(path);
	while (len - n > 202) {
		path[n] = '/';
		memset(path + n + 1, 'd', 200);
		path[n + 201] = '\0';
		n += 201;
		mkdir(path, 0755);
	}
	path[n] = '/';
	memset(path + n + 1, 'f', len - n - 1);
	path[len] = '\0';
	close(open(path, O_CREAT | O_WRONLY, 0644));
	return path;
}

/*
 * Item 10: the watch path limit is the event path limit. A watched file
 * whose path takes IOTSEC_PATH_MAX - 1 bytes is reported with its path;
 * a longer one, whose events could only say "", is refused.
 */
TEST_F_TIMEOUT(ring, watch_path_limit_is_event_path_limit, 60)
{
	struct iev_client c;
	const struct iev *e;
	const char *paths[1];
	char longest[IOTSEC_PATH_MAX];
	int fd;

	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&c));
	paths[0] = long_path(IOTSEC_PATH_MAX + 100);
	EXPECT_NE(0, iev_config(&c, IOTSEC_EVENT_BIT(IOTSEC_EVENT_FILE), -1,
				NULL, -1, paths, 1));
	paths[0] = long_path(IOTSEC_PATH_MAX - 1);
	snprintf(longest, sizeof(longest), "%s", paths[0]);
	ASSERT_EQ(IOTSEC_PATH_MAX - 1, strlen(longest));
	ASSERT_EQ(0, iev_config(&c, IOTSEC_EVENT_BIT(IOTSEC_EVENT_FILE), -1,
				NULL, -1, paths, 1));
	fd = open(longest, O_WRONLY);
	ASSERT_LE(0, fd);
	close(fd);
	e = iev_wait_for(&c, IOTSEC_EVENT_FILE, getpid(), 5000);
	ASSERT_NE(NULL, e);
	EXPECT_STREQ(longest, e->path);
	iev_close(&c);
	EXPECT_EQ(0, iotsec_test_unload());
}

TEST_HARNESS_MAIN
