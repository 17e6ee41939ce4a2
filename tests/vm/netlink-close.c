// SPDX-License-Identifier: MIT
/*
 * Closing a generic netlink socket must not wait for the flush worker.
 * Every close of a generic netlink socket (any family, any user) runs the
 * module's NETLINK_URELEASE notifier; it must not take the lock the worker
 * holds while it sends a batch to every consumer.
 *
 *   flood (writes a watched file) --events--> worker --batches--> drainer
 *                                               |  (+ SLOW consumers whose
 *                                               |   socket filters are long)
 *   nobody: socket(NETLINK_GENERIC); close() x N, each timed
 *
 * The slow consumers make each batch take long under the lock, so that a
 * close that waits for it shows: it sleeps (a voluntary context switch
 * during close()). Figures are printed; the test fails when a close under
 * the flood slept.
 */
#include <fcntl.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

#pragma GCC diagnostic ignored "-Wsign-compare"

#define SLOW 64			/* consumers with a long filter */
#define FILTER_LEN 2000		/* classic BPF steps each (optmem_max) */
#define CLOSES 1500
#define WATCHED "/tmp/iotsec-nlclose"
#define NOBODY 65534

struct figures {
	long n, slept, over_1ms;
	long p50_us, p99_us, max_us;
};

FIXTURE(nlclose) {
	struct iev_client c;
	struct nl_sock *slow[SLOW];
	pid_t flood;
	pthread_t drainer;
	volatile bool stop;
	bool draining;
};

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/*
 * In a child as NOBODY: open and close CLOSES generic netlink sockets of
 * no family, timing each close and counting those that slept (a
 * voluntary context switch in the close). Figures come back in *F.
 */
static int time_closes(struct figures *f)
{
	struct figures *shared;
	int status = -1;
	pid_t pid;

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return -1;
	memset(shared, 0, sizeof(*shared));
	pid = fork();
	if (!pid) {
		static long us[CLOSES];
		struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
		struct rusage r0, r1;
		long t, i;
		int s;

		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(1);
		for (i = 0; i < CLOSES; i++) {
			s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
				   NETLINK_GENERIC);
			if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)))
				_exit(2);
			getrusage(RUSAGE_THREAD, &r0);
			t = now_us();
			close(s);
			us[i] = now_us() - t;
			getrusage(RUSAGE_THREAD, &r1);
			shared->slept += r1.ru_nvcsw != r0.ru_nvcsw;
			shared->over_1ms += us[i] > 1000;
		}
		qsort(us, CLOSES, sizeof(us[0]), cmp_long);
		shared->n = CLOSES;
		shared->p50_us = us[CLOSES / 2];
		shared->p99_us = us[CLOSES * 99 / 100];
		shared->max_us = us[CLOSES - 1];
		_exit(0);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid && !status)
		*f = *shared;
	munmap(shared, sizeof(*shared));
	return status ? -1 : 0;
}

static void *drain(void *arg)
{
	FIXTURE_DATA(nlclose) *self = arg;

	while (!self->stop)
		iev_poll(&self->c, 100);
	return NULL;
}

/* A subscribed socket whose filter runs FILTER_LEN steps and drops. */
static struct nl_sock *slow_consumer(struct iev_client *c)
{
	static struct sock_filter code[FILTER_LEN];
	struct sock_fprog prog = { FILTER_LEN, code };
	struct nl_sock *sk = iotsec_test_sock();
	int i;

	if (!sk)
		return NULL;
	for (i = 0; i < FILTER_LEN - 1; i++)
		code[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0);
	code[FILTER_LEN - 1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	/* The filter after the subscription: it would drop the ack. */
	if (iev_send(sk, iev_msg(c, IOTSEC_CMD_SUBSCRIBE)) ||
	    setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_ATTACH_FILTER,
		       &prog, sizeof(prog))) {
		perror("slow consumer");
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

FIXTURE_SETUP(nlclose)
{
	const char *watch[] = { WATCHED };
	int i, fd;

	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
	fd = open(WATCHED, O_WRONLY | O_CREAT, 0644);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, iev_config(&self->c, IOTSEC_EVENT_BIT(IOTSEC_EVENT_FILE),
				-1, NULL, -1, watch, 1));
	for (i = 0; i < SLOW; i++) {
		self->slow[i] = slow_consumer(&self->c);
		ASSERT_NE(NULL, self->slow[i]);
	}
}

FIXTURE_TEARDOWN(nlclose)
{
	int i;

	self->stop = true;
	if (self->flood > 0) {
		kill(self->flood, SIGKILL);
		waitpid(self->flood, NULL, 0);
	}
	if (self->draining)
		pthread_join(self->drainer, NULL);
	for (i = 0; i < SLOW; i++)
		if (self->slow[i])
			nl_socket_free(self->slow[i]);
	iev_close(&self->c);
	unlink(WATCHED);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

static uint32_t subscribers(struct iev_client *c)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1];
	struct nl_msg *msg = iev_msg(c, IOTSEC_CMD_GET_STATS);
	struct sockaddr_nl peer;
	unsigned char *buf = NULL;
	uint32_t n = UINT32_MAX;
	int len;

	if (!msg || nl_send_auto(c->ctl, msg) < 0)
		return n;
	nlmsg_free(msg);
	len = nl_recv(c->ctl, &peer, &buf, NULL);
	if (len > 0 &&
	    !genlmsg_parse((struct nlmsghdr *)buf, 0, tb, IOTSEC_A_MAX, NULL) &&
	    tb[IOTSEC_A_SUBSCRIBERS])
		n = nla_get_u32(tb[IOTSEC_A_SUBSCRIBERS]);
	free(buf);
	nl_wait_for_ack(c->ctl);
	return n;
}

static void print_figures(const char *what, const struct figures *f)
{
	printf("# %s: %ld closes, p50 %ld us, p99 %ld us, max %ld us, "
	       "over 1 ms %ld, slept %ld\n", what, f->n, f->p50_us,
	       f->p99_us, f->max_us, f->over_1ms, f->slept);
}

TEST_F_TIMEOUT(nlclose, unrelated_close_does_not_wait_for_batches, 300)
{
	struct figures quiet, flood;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	unsigned char buf[8192];
	struct sockaddr_nl peer;
	uint64_t batches;
	uint32_t portid;
	long end;
	int s, n, got = 0;

	ASSERT_EQ(0, pthread_create(&self->drainer, NULL, drain, self));
	self->draining = true;
	ASSERT_EQ(0, time_closes(&quiet));
	print_figures("no flood", &quiet);

	self->flood = fork();
	ASSERT_LE(0, self->flood);
	if (!self->flood) {
		/* Not a holder of the consumers' sockets: they close below. */
		for (s = 3; s < 1024; s++)
			close(s);
		for (;;) {
			int fd = open(WATCHED, O_WRONLY);

			if (fd >= 0)
				close(fd);
		}
	}
	/* The flood reaches the drainer: the worker is sending. */
	batches = self->c.batches;
	end = now_us() + 10000000L;
	while (self->c.batches < batches + 10 && now_us() < end)
		usleep(10000);
	ASSERT_LE(batches + 10, self->c.batches);

	ASSERT_EQ(0, time_closes(&flood));
	print_figures("flood", &flood);
	printf("# batches received by the drainer: %llu\n",
	       (unsigned long long)self->c.batches);

	/*
	 * A close waits for nothing: it never sleeps (for the lock). The
	 * times are printed, not asserted: with the flood, the worker and
	 * the drainer on two emulated CPUs, the closer is also preempted
	 * (involuntary switches), which a wait for the lock is not.
	 */
	EXPECT_EQ(0, flood.slept);

	/*
	 * A consumer closed under the flood is reaped, and the port id it
	 * had, bound again by nobody, gets no batch.
	 */
	ASSERT_EQ(0, getsockname(nl_socket_get_fd(self->slow[0]),
				 (struct sockaddr *)&sa, &len));
	portid = sa.nl_pid;
	nl_socket_free(self->slow[0]);
	self->slow[0] = NULL;
	end = now_us() + 5000000L;
	while (subscribers(&self->c) != 1 + SLOW - 1 && now_us() < end)
		usleep(20000);
	EXPECT_EQ(1 + SLOW - 1, subscribers(&self->c));
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	ASSERT_LE(0, s);
	sa.nl_pid = portid;
	ASSERT_EQ(0, bind(s, (struct sockaddr *)&sa, sizeof(sa)));
	end = now_us() + 1000000L;
	while (now_us() < end) {
		len = sizeof(peer);
		n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&peer, &len);
		if (n > 0 && peer.nl_pid == 0)
			got++;
		usleep(10000);
	}
	close(s);
	EXPECT_EQ(0, got);
}

TEST_HARNESS_MAIN
