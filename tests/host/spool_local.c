// SPDX-License-Identifier: MIT
/*
 * The spool's local class (spool_append_local): local events keep within
 * their share and never push a kernel record out; a kernel record pushes
 * local ones out before any kernel record.
 *
 *   share_is_a_cap_and_kernel_records_stay   64 KiB spool, 16 KiB share:
 *       200 local messages leave every kernel record, hold at most 16 KiB,
 *       and the ones dropped are counted (local_dropped_*)
 *   full_spool_refuses_local   a spool full of kernel records refuses a
 *       local message rather than drop one of them
 *   kernel_pushes_local_out_first   a kernel message for a full spool
 *       drops local records before the older low-priority kernel ones
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "transport/spool.h"

static int put(struct spool *s, bool local, enum prio p, int i)
{
	char id[37], buf[1024];

	snprintf(id, sizeof(id), "00000000-0000-0000-0000-%012d", i);
	memset(buf, local ? 'l' : 'k', sizeof(buf));
	return (local ? spool_append_local : spool_append)(s, p, MSG_AZURE, 1,
							   id, buf, sizeof(buf),
							   1000);
}

/* Stored records: local ones (by payload) and kernel ones. */
static void count(struct spool *s, int *local, int *kernel)
{
	struct spool_rec *r;
	int mid = 1;

	*local = *kernel = 0;
	while ((r = spool_next(s))) {
		const char *p = spool_payload(s, r);

		if (p && p[0] == 'l')
			(*local)++;
		else if (p)
			(*kernel)++;
		if (spool_set_inflight(s, r, mid++))
			break;
	}
	spool_requeue_inflight(s);
}

TEST(share_is_a_cap_and_kernel_records_stay)
{
	struct spool_config c = { .size = 64 << 10, .local_size = 16 << 10 };
	struct spool_stats st;
	struct spool *s;
	int local, kernel, i;

	ASSERT_EQ(0, spool_open(&s, &c, NULL, 1000));
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, put(s, false, i < 10 ? PRIO_LOW : PRIO_HIGH, i));
	for (i = 0; i < 200; i++)
		ASSERT_EQ(0, put(s, true, PRIO_HIGH, 100 + i));
	spool_get_stats(s, &st);
	count(s, &local, &kernel);
	EXPECT_EQ(20, kernel);
	EXPECT_GE(16 << 10, st.local_bytes);
	EXPECT_EQ(local * (SPOOL_HDR_SIZE + 1024), st.local_bytes);
	EXPECT_EQ(200 - local, st.local_dropped_messages);
	EXPECT_EQ(200 - local, st.local_dropped_events);
	EXPECT_EQ(200 - local, spool_prio_sum(st.dropped_messages));
	spool_close(s);
}

TEST(full_spool_refuses_local)
{
	struct spool_config c = { .size = 64 << 10, .local_size = 16 << 10 };
	struct spool_stats st;
	struct spool *s;
	int local, kernel, i, stored = 0;

	ASSERT_EQ(0, spool_open(&s, &c, NULL, 1000));
	for (i = 0; i < 100; i++)
		stored += put(s, false, PRIO_LOW, i) == 0;
	count(s, &local, &kernel);
	ASSERT_EQ(0, local);
	EXPECT_EQ(-ENOSPC, put(s, true, PRIO_ALERT, 1000));
	count(s, &local, &kernel);
	EXPECT_EQ(0, local);
	spool_get_stats(s, &st);
	EXPECT_EQ(1, st.local_dropped_messages);
	spool_close(s);
}

TEST(kernel_pushes_local_out_first)
{
	struct spool_config c = { .size = 64 << 10, .local_size = 40 << 10 };
	struct spool *s;
	int local, kernel, local0, kernel0, i;

	ASSERT_EQ(0, spool_open(&s, &c, NULL, 1000));
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, put(s, false, PRIO_LOW, i));
	for (i = 0; i < 40; i++)
		ASSERT_EQ(0, put(s, true, PRIO_HIGH, 100 + i));
	count(s, &local0, &kernel0);
	ASSERT_EQ(20, kernel0);
	ASSERT_EQ(37, local0);	/* 40 KiB of 1088-byte records */
	/* nearly full: ten more kernel records take local room first */
	for (i = 0; i < 10; i++)
		ASSERT_EQ(0, put(s, false, PRIO_HIGH, 200 + i));
	count(s, &local, &kernel);
	EXPECT_EQ(30, kernel);
	EXPECT_GT(local0, local);
	spool_close(s);
}

/*
 * On disk, with messages in flight when the broker goes away: the local
 * messages dropped are one block, the oldest pending ones; the ones in
 * flight and the newest stay.
 */
TEST(disk_drops_oldest_pending_block)
{
	char dir[] = "/tmp/iotsec-spool-local-XXXXXX", cmd[64];
	struct spool_config c = { .size = 64 << 10, .local_size = 16 << 10 };
	struct spool_rec *r;
	struct spool *s;
	int i, mid = 1, seen[200] = { 0 }, lo = -1, hi = -1, n = 0;

	ASSERT_NE(NULL, mkdtemp(dir));
	c.path = dir;
	ASSERT_EQ(0, spool_open(&s, &c, NULL, 1000));
	ASSERT_TRUE(spool_on_disk(s));
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, put(s, true, PRIO_HIGH, i));
	for (i = 0; i < 5; i++) {
		r = spool_next(s);
		ASSERT_NE(NULL, r);
		ASSERT_EQ(0, spool_set_inflight(s, r, mid++));
	}
	for (i = 5; i < 200; i++)
		ASSERT_EQ(0, put(s, true, PRIO_HIGH, i));
	spool_requeue_inflight(s);
	while ((r = spool_next(s))) {
		seen[atoi(r->id + 24)] = 1;
		if (spool_set_inflight(s, r, mid++))
			break;
	}
	for (i = 0; i < 200; i++) {
		if (seen[i])
			continue;
		if (lo < 0)
			lo = i;
		hi = i;
		n++;
	}
	TH_LOG("dropped %d: %d..%d", n, lo, hi);
	for (i = 0; i < 5; i++)
		EXPECT_EQ(1, seen[i]);
	EXPECT_EQ(hi - lo + 1, n);
	EXPECT_EQ(1, seen[199]);
	spool_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("could not remove %s", dir);
}

TEST_HARNESS_MAIN
