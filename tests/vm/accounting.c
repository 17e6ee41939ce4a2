// SPDX-License-Identifier: MIT
/*
 * Exact loss accounting. With per-CPU buffers far too small for a burst of
 * execs and a slow flush, events must be dropped, and every one of them
 * must show up in the counters: for every type, the events dropped, those
 * batched before the consumer subscribed (BEFORE, 0 here) and those
 * delivered (and lost) equal those generated, and what the test received
 * is exactly what the kernel says it delivered.
 */
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

/* The harness compares in the types given: literals against u32/u64. */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define BURST 100

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

FIXTURE(acct) {
	int unused;
};

FIXTURE_SETUP(acct)
{
}

FIXTURE_TEARDOWN(acct)
{
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

TEST_F_TIMEOUT(acct, small_buffer_burst_of_execs, 300)
{
	struct iev_client c;
	uint64_t max_seq[1024] = { 0 };
	uint64_t dropped = 0;
	char arg[3000];
	long end, start;
	size_t i;
	int t;

	ASSERT_EQ(0, iotsec_test_load("buffer_events=32 flush_ms=2000 watermark=0"));
	ASSERT_EQ(0, iev_open(&c));
	/* Big exec records: a handful fill a 16 KiB buffer. */
	ASSERT_EQ(0, iev_config(&c, -1, IOTSEC_ARGV_MAX_MAX, NULL, -1, NULL, -1));
	memset(arg, 'x', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	start = mono_ms();

	for (i = 0; i < BURST; i++) {
		pid_t pid = fork();
		int status;

		ASSERT_LE(0, pid);
		if (!pid) {
			execl("/bin/true", "/bin/true", arg, NULL);
			_exit(127);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		/* keep the socket drained while the burst runs */
		iev_poll(&c, 0);
	}

	TH_LOG("burst of %d execs took %ld ms", BURST, (long)(mono_ms() - start));
	/* The last events go out with the next flush, their counters too. */
	end = mono_ms() + 30000;
	do
		iev_poll(&c, 500);
	while (!(settled(&c) && c.cnt.generated[IOTSEC_EVENT_EXEC] >= BURST &&
		 c.cnt.generated[IOTSEC_EVENT_EXIT] >= BURST) &&
	       mono_ms() < end);

	for (t = 1; t < IEV_NTYPES; t++) {
		EXPECT_EQ(c.cnt.generated[t], c.cnt.dropped[t] +
			  c.cnt.before[t] + c.cnt.delivered[t]) {
			TH_LOG("type %d: generated %llu delivered %llu dropped %llu lost %llu",
			       t, (unsigned long long)c.cnt.generated[t],
			       (unsigned long long)c.cnt.delivered[t],
			       (unsigned long long)c.cnt.dropped[t],
			       (unsigned long long)c.cnt.lost[t]);
		}
		EXPECT_EQ(0, c.cnt.lost[t]);
		EXPECT_EQ(c.received[t], c.cnt.delivered[t]);
		dropped += c.cnt.dropped[t];
	}
	EXPECT_LE(BURST, c.cnt.generated[IOTSEC_EVENT_EXEC]);
	EXPECT_LE(BURST, c.cnt.generated[IOTSEC_EVENT_EXIT]);
	/* The buffer was too small on purpose. */
	EXPECT_LT(0, c.cnt.dropped[IOTSEC_EVENT_EXEC]);
	EXPECT_FALSE(c.seq_gap);
	EXPECT_EQ(0, c.overruns);

	/* Per-CPU sequence numbers only grow; gaps are the drops. */
	for (i = 0; i < c.n; i++) {
		const struct iev *e = &c.evs[i];

		ASSERT_GT(1024, e->cpu);
		EXPECT_LT(max_seq[e->cpu], e->seq);
		max_seq[e->cpu] = e->seq;
	}
	TH_LOG("%zu events received, %llu dropped", c.n,
	       (unsigned long long)dropped);

	iev_close(&c);
	EXPECT_EQ(0, iotsec_test_unload());
}

static void run_true(void)
{
	pid_t pid = fork();

	if (!pid) {
		execl("/bin/true", "/bin/true", NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
}

/*
 * A consumer that does not read loses batches; they are counted as LOST
 * for it alone, and the consumer that reads gets everything.
 */
TEST_F_TIMEOUT(acct, full_socket_loses_batches_counted, 300)
{
	struct iev_client slow, fast;
	int tiny = 0, t, i;
	long end;

	ASSERT_EQ(0, iotsec_test_load("flush_ms=50"));
	ASSERT_EQ(0, iev_open(&slow));
	ASSERT_EQ(0, iev_open(&fast));
	ASSERT_EQ(0, setsockopt(nl_socket_get_fd(slow.ev), SOL_SOCKET,
				SO_RCVBUFFORCE, &tiny, sizeof(tiny)));

	for (i = 0; i < 30; i++) {
		run_true();
		iev_poll(&fast, 0);
		usleep(60000);	/* one batch per exec or so */
	}
	/* Room again: the next batch tells the slow consumer what it lost. */
	iev_poll(&slow, 200);
	end = mono_ms() + 20000;
	do {
		run_true();
		iev_poll(&slow, 300);
		iev_poll(&fast, 0);
	} while (!(settled(&slow) && slow.cnt.lost[IOTSEC_EVENT_EXEC]) &&
		 mono_ms() < end);

	EXPECT_TRUE(slow.seq_gap);
	EXPECT_LT(0, slow.cnt.lost[IOTSEC_EVENT_EXEC]);
	for (t = 1; t < IEV_NTYPES; t++) {
		EXPECT_EQ(slow.cnt.generated[t], slow.cnt.dropped[t] +
			  slow.cnt.before[t] + slow.cnt.delivered[t] +
			  slow.cnt.lost[t]);
		EXPECT_EQ(slow.received[t], slow.cnt.delivered[t]);
	}
	TH_LOG("slow consumer: %llu exec delivered, %llu lost",
	       (unsigned long long)slow.cnt.delivered[IOTSEC_EVENT_EXEC],
	       (unsigned long long)slow.cnt.lost[IOTSEC_EVENT_EXEC]);

	/* The reading consumer lost nothing. */
	end = mono_ms() + 10000;
	do
		iev_poll(&fast, 300);
	while (!settled(&fast) && mono_ms() < end);
	for (t = 1; t < IEV_NTYPES; t++) {
		EXPECT_EQ(0, fast.cnt.lost[t]);
		EXPECT_EQ(0, fast.cnt.dropped[t]);
		EXPECT_EQ(fast.cnt.generated[t], fast.cnt.before[t] +
			  fast.cnt.delivered[t]);
		EXPECT_EQ(fast.received[t], fast.cnt.delivered[t]);
	}
	EXPECT_FALSE(fast.seq_gap);

	iev_close(&slow);
	iev_close(&fast);
	EXPECT_EQ(0, iotsec_test_unload());
}

TEST_HARNESS_MAIN
