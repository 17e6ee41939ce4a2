// SPDX-License-Identifier: MIT
/*
 * Early events (issue 18, part 1): the module records from load, and
 * between one consumer leaving and the next arriving, into its buffers;
 * the next subscriber gets those events, oldest first, with the counters
 * exact (GENERATED = DROPPED + BEFORE + DELIVERED + LOST per type). What
 * overflowed the buffers meanwhile is counted as dropped, per type. With
 * early=0 nothing is recorded while nobody listens (the old behaviour).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

/* The harness compares in the types given: literals against u32/u64. */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define DIR "/tmp/iotsec-early"

/* Every buffered event flushed and reported? */
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

/* Poll until the counters close and the buffers are drained. */
static bool settle(struct iev_client *c, int ms)
{
	long end = mono_ms() + ms;

	do
		iev_poll(c, 300);
	while (!(c->batches && settled(c)) && mono_ms() < end);
	return settled(c);
}

/* A child that execs /bin/true ARG; returns its pid once it ended. */
static pid_t run_exec(const char *arg)
{
	pid_t pid = fork();

	if (!pid) {
		execl("/bin/true", "/bin/true", arg, NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

/* A child that connects to 127.0.0.1:PORT; its pid once it ended. */
static pid_t run_connect(uint16_t port)
{
	pid_t pid = fork();

	if (!pid) {
		struct sockaddr_in a = {
			.sin_family = AF_INET,
			.sin_port = htons(port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		};
		int s = socket(AF_INET, SOCK_STREAM, 0);

		_exit(connect(s, (struct sockaddr *)&a, sizeof(a)) ? 1 : 0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

/* A child that opens PATH for writing and writes to it. */
static pid_t run_write(const char *path)
{
	pid_t pid = fork();

	if (!pid) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		_exit(fd < 0 || write(fd, "x", 1) != 1);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

/* A listening TCP socket on the loopback; its port in *PORT. */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s, 8) || getsockname(s, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return s;
}

/* Index in C's events of the first of TYPE by TGID, or -1. */
static long find(const struct iev_client *c, int type, pid_t tgid)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->evs[i].type == type && c->evs[i].tgid == (uint32_t)tgid)
			return i;
	return -1;
}

static void check_counters(struct __test_metadata *_metadata,
			   const struct iev_client *c)
{
	int t;

	for (t = 1; t < IEV_NTYPES; t++) {
		EXPECT_EQ(c->cnt.generated[t], c->cnt.dropped[t] +
			  c->cnt.before[t] + c->cnt.delivered[t] +
			  c->cnt.lost[t]) {
			TH_LOG("type %d: generated %llu dropped %llu before %llu delivered %llu lost %llu",
			       t, (unsigned long long)c->cnt.generated[t],
			       (unsigned long long)c->cnt.dropped[t],
			       (unsigned long long)c->cnt.before[t],
			       (unsigned long long)c->cnt.delivered[t],
			       (unsigned long long)c->cnt.lost[t]);
		}
		EXPECT_EQ(0, c->cnt.lost[t]);
		EXPECT_EQ(c->received[t], c->cnt.delivered[t]);
	}
	EXPECT_FALSE(c->seq_gap);
	EXPECT_EQ(0, c->overruns);
}

/* Events of one batch stream come oldest first. */
static void check_order(struct __test_metadata *_metadata,
			const struct iev_client *c)
{
	size_t i;

	for (i = 1; i < c->n; i++)
		EXPECT_LE(c->evs[i - 1].time_ns, c->evs[i].time_ns) {
			TH_LOG("event %zu (type %d) older than event %zu",
			       i, c->evs[i].type, i - 1);
			break;
		}
}

FIXTURE(early) {
	int unused;
};

FIXTURE_SETUP(early)
{
	mkdir(DIR, 0700);
}

FIXTURE_TEARDOWN(early)
{
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

/*
 * Load, run an exec and a connect with nobody subscribed, then subscribe:
 * both arrive with their fields, in the order they happened, and the
 * counters close with nothing BEFORE (this is the first consumer).
 */
TEST_F_TIMEOUT(early, events_before_first_subscribe_arrive, 120)
{
	const struct iev *ex, *co;
	struct iev_client c;
	char exe[1024];
	uint16_t port;
	pid_t pe, pc;
	long ie, ic;
	int l, t;

	ASSERT_EQ(0, iotsec_test_load(NULL));
	l = listener(&port);
	ASSERT_LE(0, l);
	pe = run_exec("early-before-subscribe");
	pc = run_connect(port);
	ASSERT_LT(0, pe);
	ASSERT_LT(0, pc);
	/* Longer than a flush period: nothing may flush them to nobody. */
	usleep(500 * 1000);

	ASSERT_EQ(0, iev_open(&c));
	EXPECT_TRUE(settle(&c, 20000));
	ie = find(&c, IOTSEC_EVENT_EXEC, pe);
	ic = find(&c, IOTSEC_EVENT_CONNECT, pc);
	ASSERT_LE(0, ie) TH_LOG("exec before subscribe not delivered (%zu events)", c.n);
	ASSERT_LE(0, ic) TH_LOG("connect before subscribe not delivered");
	ex = &c.evs[ie];
	co = &c.evs[ic];
	ASSERT_NE(NULL, realpath("/bin/true", exe));
	EXPECT_STREQ(exe, ex->exe);
	EXPECT_EQ(0, memcmp(ex->argv, "/bin/true\0early-before-subscribe", 33));
	EXPECT_EQ(getpid(), ex->ptgid);
	EXPECT_EQ(AF_INET, co->family);
	EXPECT_EQ(port, co->rport);
	EXPECT_TRUE(co->has_result);
	EXPECT_EQ(0, co->result);
	/* Oldest first: the exec happened first. */
	EXPECT_LT(ie, ic);
	EXPECT_LT(ex->time_ns, co->time_ns);
	check_order(_metadata, &c);
	check_counters(_metadata, &c);
	for (t = 1; t < IEV_NTYPES; t++)
		EXPECT_EQ(0, c.cnt.before[t]);
	close(l);
	iev_close(&c);
}

/*
 * Buffers too small for what happens before anyone subscribes: the
 * oldest events are kept, the rest dropped and counted per type. Pinned
 * to one CPU, the execs kept are exactly the first ones.
 */
TEST_F_TIMEOUT(early, overflow_before_subscribe_counted_as_dropped, 300)
{
	enum { N = 60 };
	pid_t pids[N];
	bool kept[N];
	struct iev_client c;
	char arg[1100];
	cpu_set_t cpus;
	int i, k;

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	ASSERT_EQ(0, iotsec_test_load("buffer_events=32"));
	memset(arg, 'x', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	for (i = 0; i < N; i++) {
		pids[i] = run_exec(arg);
		ASSERT_LT(0, pids[i]);
	}

	ASSERT_EQ(0, iev_open(&c));
	EXPECT_TRUE(settle(&c, 30000));
	check_counters(_metadata, &c);
	for (i = 0; i < N; i++)
		kept[i] = find(&c, IOTSEC_EVENT_EXEC, pids[i]) >= 0;
	for (k = 0; k < N && kept[k]; k++)
		;
	TH_LOG("%d of %d execs kept, exec dropped %llu, exit dropped %llu", k,
	       N, (unsigned long long)c.cnt.dropped[IOTSEC_EVENT_EXEC],
	       (unsigned long long)c.cnt.dropped[IOTSEC_EVENT_EXIT]);
	EXPECT_LT(0, k);
	EXPECT_GT(N, k);
	/* The first K kept, none after: the buffer keeps the oldest. */
	for (i = k; i < N; i++)
		EXPECT_FALSE(kept[i]) TH_LOG("exec %d kept after a drop", i);
	EXPECT_LE(N - k, c.cnt.dropped[IOTSEC_EVENT_EXEC]);
	EXPECT_LT(0, c.cnt.dropped[IOTSEC_EVENT_EXIT]);
	check_order(_metadata, &c);
	iev_close(&c);
	CPU_ZERO(&cpus);
	for (i = 0; i < CPU_SETSIZE && i < 64; i++)
		CPU_SET(i, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
}

/*
 * A consumer leaves (its socket closes, as when iotsecd is killed); an
 * exec, a connect and a write to a watched file happen; the next consumer
 * gets them, and the first consumer's own events count as BEFORE.
 */
TEST_F_TIMEOUT(early, gap_between_consumers_goes_to_next, 120)
{
	const char *watch[] = { DIR };
	struct iev_client a, b;
	pid_t pa, pe, pc, pw;
	long ie, ic, iw;
	uint16_t port;
	int l, t;
	uint64_t before = 0;

	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&a));
	ASSERT_EQ(0, iev_config(&a, -1, -1, NULL, -1, watch, 1));
	pa = run_exec("early-first-consumer");
	ASSERT_NE(NULL, iev_wait_for(&a, IOTSEC_EVENT_EXEC, pa, 10000));
	iev_close(&a);

	l = listener(&port);
	ASSERT_LE(0, l);
	pe = run_exec("early-in-the-gap");
	pc = run_connect(port);
	pw = run_write(DIR "/gap");
	usleep(500 * 1000);

	ASSERT_EQ(0, iev_open(&b));
	EXPECT_TRUE(settle(&b, 20000));
	EXPECT_GT(0, find(&b, IOTSEC_EVENT_EXEC, pa));
	ie = find(&b, IOTSEC_EVENT_EXEC, pe);
	ic = find(&b, IOTSEC_EVENT_CONNECT, pc);
	iw = find(&b, IOTSEC_EVENT_FILE, pw);
	ASSERT_LE(0, ie) TH_LOG("exec in the gap not delivered");
	ASSERT_LE(0, ic) TH_LOG("connect in the gap not delivered");
	ASSERT_LE(0, iw) TH_LOG("file write in the gap not delivered");
	EXPECT_EQ(0, memcmp(b.evs[ie].argv, "/bin/true\0early-in-the-gap", 27));
	EXPECT_EQ(port, b.evs[ic].rport);
	EXPECT_STREQ(DIR "/gap", b.evs[iw].path);
	EXPECT_EQ(IOTSEC_FILE_WRITE, b.evs[iw].file_op);
	EXPECT_LT(ie, ic);
	EXPECT_LT(ic, iw);
	check_order(_metadata, &b);
	check_counters(_metadata, &b);
	for (t = 1; t < IEV_NTYPES; t++)
		before += b.cnt.before[t];
	/* What went to the first consumer is not the second's. */
	EXPECT_LE(1, b.cnt.before[IOTSEC_EVENT_EXEC]);
	TH_LOG("second consumer: %zu events, %llu before it", b.n,
	       (unsigned long long)before);
	close(l);
	unlink(DIR "/gap");
	iev_close(&b);
}

/* early=0: nothing is recorded while nobody is subscribed. */
TEST_F_TIMEOUT(early, early_off_records_nothing_unsubscribed, 120)
{
	struct iev_client c;
	pid_t pe, p2;

	ASSERT_EQ(0, iotsec_test_load("early=0"));
	pe = run_exec("early-off");
	usleep(300 * 1000);
	ASSERT_EQ(0, iev_open(&c));
	p2 = run_exec("early-off-subscribed");
	ASSERT_NE(NULL, iev_wait_for(&c, IOTSEC_EVENT_EXEC, p2, 10000));
	EXPECT_TRUE(settle(&c, 10000));
	EXPECT_GT(0, find(&c, IOTSEC_EVENT_EXEC, pe));
	check_counters(_metadata, &c);
	iev_close(&c);
}

TEST_HARNESS_MAIN
