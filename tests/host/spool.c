// SPDX-License-Identifier: MIT
/*
 * The spool (forwarder/transport/spool.c) without MQTT: records back in order and
 * with their ids across a reopen and a SIGKILL, acknowledgements removing
 * them and their segments, eviction order and exact drop counts, the
 * bound on disk, torn tails, flipped bytes, garbage files, duplicate
 * files, a directory that cannot be used, a disk that fails half way, a
 * directory held by another process.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>
#include "common/clock.h"
#include "transport/spool.h"

/* ---- helpers ---- */

/* The interval sync's thread has ended (10 s at most): its result. */
static void sync_done(struct spool *s)
{
	struct pollfd p = { .fd = spool_sync_fd(s), .events = POLLIN };

	if (p.fd >= 0 && poll(&p, 1, 10000) == 1)
		spool_sync_done(s, 2000);
}

/* fdatasync() for the spool, failing with EIO while this is set */
static bool fail_fdatasync;

int fdatasync(int fd)
{
	if (fail_fdatasync) {
		errno = EIO;
		return -1;
	}
	return syscall(SYS_fdatasync, fd);
}

static char logbuf[64][512];
static int n_logs;

static void tlog(int level, const char *fmt, ...)
{
	va_list ap;

	if (n_logs >= 64)
		return;
	va_start(ap, fmt);
	vsnprintf(logbuf[n_logs++], sizeof(logbuf[0]), fmt, ap);
	va_end(ap);
}

static int logs_with(const char *needle)
{
	int n = 0;

	for (int i = 0; i < n_logs; i++)
		if (strstr(logbuf[i], needle))
			n++;
	return n;
}

static void mkdtmp(char dir[64])
{
	snprintf(dir, 64, "/tmp/iotsec-spool.XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static void rmrf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "# cannot remove %s\n", dir);
}

/* Sum of the segment files' sizes, and how many there are. */
static uint64_t seg_bytes(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t sum = 0;
	char p[512];
	struct stat st;

	if (count)
		*count = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l != 20 || strcmp(de->d_name + 16, ".seg"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode)) {
			sum += st.st_size;
			if (count)
				(*count)++;
		}
	}
	closedir(d);
	return sum;
}

/* The only (or first by name) segment file of DIR. */
static int first_seg(const char *dir, char out[512])
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, alphasort), found = -1;

	for (int i = 0; i < n; i++) {
		size_t l = strlen(list[i]->d_name);

		if (found < 0 && l == 20 &&
		    !strcmp(list[i]->d_name + 16, ".seg")) {
			snprintf(out, 512, "%s/%s", dir, list[i]->d_name);
			found = 0;
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return found;
}

/* Payload N: "message N" then 'x' up to LEN bytes. */
static void payload(char *buf, size_t len, int n)
{
	int k = snprintf(buf, len, "message %d", n);

	if ((size_t)k < len)
		memset(buf + k, 'x', len - k);
}

static void mkid(char id[37], int n)
{
	snprintf(id, 37, "00000000-0000-4000-8000-%012d", n);
}

static int append(struct spool *s, enum prio p, int n, size_t len,
		  unsigned int events)
{
	static char buf[70000];
	char id[37];

	payload(buf, len, n);
	mkid(id, n);
	return spool_append(s, p, MSG_AZURE, events, id, buf, len, 1000);
}

/* The number N a record's payload starts with, -1 if unreadable. */
static int rec_no(struct spool *s, struct spool_rec *r)
{
	const char *p = spool_payload(s, r);
	int n;

	if (!p || sscanf(p, "message %d", &n) != 1)
		return -1;
	return n;
}

/* Publish and acknowledge everything; the numbers in order into OUT. */
static int drain(struct spool *s, int *out, int max)
{
	struct spool_rec *r;
	int n = 0, mid = 1;

	while ((r = spool_next(s))) {
		int no = rec_no(s, r);

		if (no < 0)
			continue;	/* dropped by spool_payload */
		if (n < max)
			out[n] = no;
		n++;
		spool_set_inflight(s, r, mid);
		if (spool_ack_mid(s, mid++))
			return -1;
	}
	return n;
}

static struct spool *open_at(const char *path, uint64_t size,
			     uint64_t sync_ms)
{
	struct spool_config c = { .path = path, .size = size,
				  .sync_ms = sync_ms };
	struct spool *s = NULL;

	if (spool_open(&s, &c, tlog, 1000))
		return NULL;
	return s;
}

static struct spool_stats stats(struct spool *s)
{
	struct spool_stats st;

	spool_get_stats(s, &st);
	return st;
}

static void flip(const char *file, off_t off)
{
	int fd = open(file, O_RDWR);
	unsigned char c;

	if (fd < 0 || pread(fd, &c, 1, off) != 1)
		abort();
	c ^= 0x20;
	if (pwrite(fd, &c, 1, off) != 1)
		abort();
	close(fd);
}

#define REC(len) (SPOOL_HDR_SIZE + (len))

/* written + recovered = acked + dropped + pending + inflight */
static bool balanced(struct spool *s)
{
	struct spool_stats st = stats(s);
	uint64_t d = 0;

	for (int p = 0; p < PRIO_N; p++)
		d += st.dropped_messages[p];
	if (st.written + st.recovered_records ==
	    st.acked + d + st.pending + st.inflight)
		return true;
	fprintf(stderr, "# written %" PRIu64 " recovered %" PRIu64
		" acked %" PRIu64 " dropped %" PRIu64 " pending %" PRIu64
		" inflight %" PRIu64 "\n", st.written, st.recovered_records,
		st.acked, d, st.pending, st.inflight);
	return false;
}

/* ---- tests ---- */

TEST(crc32c_known_value)
{
	/* the check value of CRC-32C */
	EXPECT_EQ(0xe3069283u, spool_crc32c(0, "123456789", 9));
}

TEST(append_and_read_back_across_reopen)
{
	char dir[64], spath[128];
	struct spool *s;
	struct spool_rec *r;
	int order[16], want[] = { 3, 7, 1, 5, 0, 2, 4, 6, 8, 100 };
	char id[37];

	mkdtmp(dir);
	snprintf(spath, sizeof(spath), "%s/a/b", dir);	/* created */
	s = open_at(spath, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_TRUE(stats(s).disk);
	/* 0..8, priorities mixed */
	for (int i = 0; i < 9; i++) {
		enum prio p = i == 3 || i == 7 ? PRIO_ALERT :
			      i % 2 ? PRIO_HIGH : PRIO_LOW;

		ASSERT_EQ(0, append(s, p, i, 100 + i * 10, i + 1));
	}
	EXPECT_EQ(9, stats(s).records);
	EXPECT_EQ(9, stats(s).written);
	spool_close(s);

	n_logs = 0;
	s = open_at(spath, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(9, stats(s).recovered_records);
	EXPECT_EQ(9, stats(s).pending);
	EXPECT_EQ(0, stats(s).corrupt_records);
	EXPECT_EQ(1, logs_with("recovered 9 message(s)"));
	/* a new alert waits for what the previous run left */
	ASSERT_EQ(0, append(s, PRIO_ALERT, 100, 50, 1));
	/* alerts, then high, then low; oldest first; ids and sizes kept */
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	mkid(id, 3);
	EXPECT_STREQ(id, r->id);
	EXPECT_EQ(130, r->len);
	EXPECT_EQ(4, r->events);
	EXPECT_EQ(PRIO_ALERT, r->prio);
	EXPECT_EQ(MSG_AZURE, r->kind);
	ASSERT_EQ(10, drain(s, order, 16));
	for (int i = 0; i < 10; i++)
		EXPECT_EQ(want[i], order[i]);
	EXPECT_EQ(10, stats(s).acked);
	EXPECT_EQ(0, stats(s).records);
	spool_close(s);
	/* everything acknowledged: no segment left, nothing recovered */
	EXPECT_EQ(0, seg_bytes(spath, NULL));
	s = open_at(spath, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(0, stats(s).recovered_records);
	spool_close(s);
	rmrf(dir);
}

TEST(acks_remove_records_and_segments)
{
	char dir[64];
	struct spool *s;
	struct spool_rec *r;
	int segs = 0, n = 0, order[64];

	mkdtmp(dir);
	/* 64 KiB: 4 KiB segments, three 1 KiB records each */
	s = open_at(dir, 64 << 10, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 12; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 1000, 1));
	seg_bytes(dir, &segs);
	EXPECT_EQ(4, segs);
	EXPECT_EQ(12 * REC(1000), seg_bytes(dir, NULL));
	EXPECT_EQ(12 * REC(1000), stats(s).bytes);
	/* publish 5: in flight, not pending; acks by mid */
	for (int i = 0; i < 5; i++) {
		r = spool_next(s);
		ASSERT_NE(NULL, r);
		EXPECT_EQ(i, rec_no(s, r));
		spool_set_inflight(s, r, 100 + i);
	}
	EXPECT_EQ(5, stats(s).inflight);
	EXPECT_EQ(7, stats(s).pending);
	EXPECT_EQ(-ENOENT, spool_ack_mid(s, 99));
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(0, spool_ack_mid(s, 100 + i));
	EXPECT_EQ(-ENOENT, spool_ack_mid(s, 100));
	/* the first segment is all done: gone */
	seg_bytes(dir, &segs);
	EXPECT_EQ(3, segs);
	EXPECT_EQ(9 * REC(1000), seg_bytes(dir, NULL));
	/* the transport went away: 4 is published again, first */
	spool_requeue_inflight(s);
	EXPECT_EQ(0, stats(s).inflight);
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(4, rec_no(s, r));
	spool_close(s);

	/* after a restart: 4..11, acknowledged ones do not come back */
	s = open_at(dir, 64 << 10, 0);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(8, stats(s).recovered_records);
	n = drain(s, order, 64);
	ASSERT_EQ(8, n);
	for (int i = 0; i < 8; i++)
		EXPECT_EQ(4 + i, order[i]);
	spool_close(s);
	EXPECT_EQ(0, seg_bytes(dir, &segs));
	EXPECT_EQ(0, segs);
	rmrf(dir);
}

TEST(survives_sigkill_with_ids_and_acks)
{
	char dir[64], id[37];
	struct spool *s;
	struct spool_rec *r;
	int status, order[8];
	pid_t pid;

	mkdtmp(dir);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* no close, no sync: as if killed */
		s = open_at(dir, 1 << 20, 60000);
		if (!s)
			_exit(2);
		for (int i = 0; i < 4; i++)
			if (append(s, PRIO_LOW, i, 500, 1))
				_exit(3);
		r = spool_next(s);
		spool_set_inflight(s, r, 7);
		spool_ack_mid(s, 7);
		r = spool_next(s);
		spool_set_inflight(s, r, 8);	/* sent, never acked */
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(3, stats(s).recovered_records);
	EXPECT_EQ(0, stats(s).corrupt_records);
	/* the unacknowledged one again, with the id it had */
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	mkid(id, 1);
	EXPECT_STREQ(id, r->id);
	ASSERT_EQ(3, drain(s, order, 8));
	EXPECT_EQ(1, order[0]);
	EXPECT_EQ(3, order[2]);
	spool_close(s);
	rmrf(dir);
}

/*
 * Memory only, 64 KiB, records of exactly 1 KiB: 64 fit. Exact counts.
 */
TEST(eviction_lowest_priority_oldest_first)
{
	struct spool *s = open_at("", 64 << 10, 1000);
	struct spool_stats st;
	struct spool_rec *r;
	int n = 0, order[128];

	ASSERT_NE(NULL, s);
	EXPECT_FALSE(stats(s).disk);
	EXPECT_STREQ("", spool_path(s));
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(0, append(s, PRIO_ALERT, n++, 960, 2));
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, n++, 960, 2));
	for (int i = 0; i < 34; i++)		/* 30..63 */
		ASSERT_EQ(0, append(s, PRIO_LOW, n++, 960, 2));
	st = stats(s);
	EXPECT_EQ(64 << 10, st.bytes);
	EXPECT_EQ(0, st.dropped_messages[PRIO_LOW]);
	/* one more high: the oldest low (30) goes */
	ASSERT_EQ(0, append(s, PRIO_HIGH, n++, 960, 2));	/* 64 */
	st = stats(s);
	EXPECT_EQ(1, st.dropped_messages[PRIO_LOW]);
	EXPECT_EQ(2, st.dropped_events[PRIO_LOW]);
	EXPECT_EQ(64, st.records);
	r = spool_next(s);	/* alerts first: 0 */
	EXPECT_EQ(0, rec_no(s, r));
	/* 40 more high: the other 33 low, then the 7 oldest high */
	for (int i = 0; i < 40; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, n++, 960, 2));
	st = stats(s);
	EXPECT_EQ(34, st.dropped_messages[PRIO_LOW]);
	EXPECT_EQ(68, st.dropped_events[PRIO_LOW]);
	EXPECT_EQ(7, st.dropped_messages[PRIO_HIGH]);
	EXPECT_EQ(14, st.dropped_events[PRIO_HIGH]);
	EXPECT_EQ(0, st.dropped_messages[PRIO_ALERT]);
	/* a low one now is below everything stored: it is the one dropped */
	EXPECT_EQ(-ENOSPC, append(s, PRIO_LOW, 999, 960, 3));
	st = stats(s);
	EXPECT_EQ(35, st.dropped_messages[PRIO_LOW]);
	EXPECT_EQ(71, st.dropped_events[PRIO_LOW]);
	/* 70 alerts: every high goes, then the 16 oldest alerts */
	for (int i = 0; i < 70; i++)
		ASSERT_EQ(0, append(s, PRIO_ALERT, 1000 + i, 960, 1));
	st = stats(s);
	EXPECT_EQ(61, st.dropped_messages[PRIO_HIGH]);
	EXPECT_EQ(16, st.dropped_messages[PRIO_ALERT]);
	/* 10 of the first alerts had 2 events, 6 of the new ones 1 */
	EXPECT_EQ(10 * 2 + 6, st.dropped_events[PRIO_ALERT]);
	EXPECT_EQ(64, st.records);
	EXPECT_LE(st.bytes, 64 << 10);
	/* what is left: the newest 64 alerts, in order */
	ASSERT_EQ(64, drain(s, order, 128));
	for (int i = 0; i < 64; i++)
		EXPECT_EQ(1006 + i, order[i]);
	/* too large for the bound at all */
	EXPECT_EQ(-EMSGSIZE, append(s, PRIO_ALERT, 5, 65500, 1));
	EXPECT_EQ(17, stats(s).dropped_messages[PRIO_ALERT]);
	spool_close(s);
}

/*
 * A record in flight is with libmosquitto, which sends it again on a
 * reconnect whatever the spool does: eviction passes it by (dropping it
 * would count as lost a message that is delivered), and its ack still
 * finds it. With only records in flight left, the newcomer goes.
 */
TEST(eviction_skips_records_in_flight)
{
	struct spool *s = open_at("", 64 << 10, 1000);
	struct spool_stats st;
	struct spool_rec *r;
	int order[128];

	ASSERT_NE(NULL, s);
	for (int i = 0; i < 64; i++)		/* 64 x 1 KiB: full */
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 960, 2));
	for (int mid = 1; mid <= 3; mid++) {	/* 0, 1, 2 in flight */
		r = spool_next(s);
		ASSERT_NE(NULL, r);
		EXPECT_EQ(mid - 1, rec_no(s, r));
		spool_set_inflight(s, r, mid);
	}
	/* one more: 3, the oldest not in flight, goes */
	ASSERT_EQ(0, append(s, PRIO_HIGH, 64, 960, 2));
	st = stats(s);
	EXPECT_EQ(1, st.dropped_messages[PRIO_HIGH]);
	EXPECT_EQ(3, st.inflight);
	EXPECT_EQ(0, spool_ack_mid(s, 1));	/* 0 was still there */
	EXPECT_EQ(0, spool_ack_mid(s, 2));
	/* next to publish: 4 (3 was dropped) */
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(4, rec_no(s, r));
	spool_close(s);

	/* everything in flight: the newcomer is the one dropped */
	s = open_at("", 64 << 10, 1000);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 64; i++)
		ASSERT_EQ(0, append(s, PRIO_LOW, i, 960, 1));
	for (int mid = 1; (r = spool_next(s)); mid++)
		spool_set_inflight(s, r, mid);
	EXPECT_EQ(64, stats(s).inflight);
	EXPECT_EQ(-ENOSPC, append(s, PRIO_ALERT, 99, 960, 1));
	st = stats(s);
	EXPECT_EQ(1, st.dropped_messages[PRIO_ALERT]);
	EXPECT_EQ(0, st.dropped_messages[PRIO_LOW]);
	spool_requeue_inflight(s);
	EXPECT_EQ(64, drain(s, order, 128));
	spool_close(s);
}

TEST(eviction_on_disk_keeps_the_bound)
{
	char dir[64];
	struct spool *s;
	struct spool_stats st;
	uint64_t max = 0, added[PRIO_N] = { 0 };
	int n = 0;

	mkdtmp(dir);
	s = open_at(dir, 64 << 10, 1000);
	ASSERT_NE(NULL, s);
	/* fill with low, then high, then alerts, all 1 KiB */
	for (int i = 0; i < 200; i++) {
		enum prio p = i < 60 ? PRIO_LOW : i < 130 ? PRIO_HIGH :
			      PRIO_ALERT;
		uint64_t b;

		ASSERT_EQ(0, append(s, p, n++, 960, 1));
		added[p]++;
		b = seg_bytes(dir, NULL);
		ASSERT_LE(b, 64 << 10);
		EXPECT_EQ(b, stats(s).bytes);
		if (b > max)
			max = b;
		st = stats(s);
		/* high only goes once no low is left, alerts after high */
		if (st.dropped_messages[PRIO_HIGH])
			ASSERT_EQ(added[PRIO_LOW],
				  st.dropped_messages[PRIO_LOW]);
		if (st.dropped_messages[PRIO_ALERT])
			ASSERT_EQ(added[PRIO_HIGH],
				  st.dropped_messages[PRIO_HIGH]);
	}
	st = stats(s);
	EXPECT_EQ(60, st.dropped_messages[PRIO_LOW]);
	EXPECT_EQ(70, st.dropped_messages[PRIO_HIGH]);
	EXPECT_LT(0, st.dropped_messages[PRIO_ALERT]);
	/* every record is either stored or counted */
	EXPECT_EQ(200, st.records + st.dropped_messages[PRIO_LOW] +
		  st.dropped_messages[PRIO_HIGH] +
		  st.dropped_messages[PRIO_ALERT]);
	EXPECT_LE(max, 64 << 10);
	EXPECT_GE(max, 56 << 10);	/* and it is used */
	spool_close(s);
	/* a restart does not bring back what was dropped */
	s = open_at(dir, 64 << 10, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(st.records, stats(s).recovered_records);
	spool_close(s);
	rmrf(dir);
}

TEST(random_load_never_exceeds_the_bound_on_disk)
{
	char dir[64];
	struct spool *s;
	struct spool_stats st;
	unsigned int seed = 12345;
	int mid = 1, accepted = 0;

	mkdtmp(dir);
	s = open_at(dir, 96 << 10, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 3000; i++) {
		int op = rand_r(&seed) % 10;

		if (op < 6) {
			enum prio p = 1 + rand_r(&seed) % 3;

			if (!append(s, p, i, 50 + rand_r(&seed) % 6000, 1))
				accepted++;
		} else if (op < 9) {
			struct spool_rec *r = spool_next(s);

			if (r && rec_no(s, r) >= 0)
				spool_set_inflight(s, r, mid++);
		} else {
			spool_ack_mid(s, mid - 1 - rand_r(&seed) % 4);
		}
		ASSERT_LE(seg_bytes(dir, NULL), 96 << 10);
		if (i % 500 == 0) {		/* a restart now and then */
			spool_close(s);
			s = open_at(dir, 96 << 10, 0);
			ASSERT_NE(NULL, s);
		}
	}
	st = stats(s);
	EXPECT_EQ(0, st.corrupt_records);
	EXPECT_EQ(0, st.write_errors);
	EXPECT_EQ(seg_bytes(dir, NULL), st.bytes);
	spool_close(s);
	rmrf(dir);
}

TEST(torn_tail_is_skipped_and_counted)
{
	char dir[64], seg[512];
	struct spool *s;
	struct spool_stats st;
	int order[8];

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 300, 1));
	spool_close(s);
	ASSERT_EQ(0, first_seg(dir, seg));
	/* the last record cut in its payload */
	ASSERT_EQ(0, truncate(seg, 5 * REC(300) - 10));
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	st = stats(s);
	EXPECT_EQ(4, st.recovered_records);
	EXPECT_EQ(1, st.corrupt_records);
	EXPECT_EQ(REC(300) - 10, st.corrupt_bytes);
	EXPECT_EQ(1, logs_with("skipped corrupt data in 1 place(s)"));
	ASSERT_EQ(4, drain(s, order, 8));
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(i, order[i]);
	spool_close(s);
	/* cut in a header */
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, 10 + i, 300, 1));
	spool_close(s);
	ASSERT_EQ(0, first_seg(dir, seg));
	ASSERT_EQ(0, truncate(seg, 2 * REC(300) + 20));
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(2, stats(s).recovered_records);
	EXPECT_EQ(1, stats(s).corrupt_records);
	EXPECT_EQ(20, stats(s).corrupt_bytes);
	spool_close(s);
	rmrf(dir);
}

TEST(flipped_bytes_cost_one_record_each)
{
	static const off_t where[] = {
		SPOOL_HDR_SIZE + 100,	/* payload */
		0,			/* magic */
		9,			/* length */
		30,			/* message id */
		61,			/* the CRC itself */
	};
	char dir[64], seg[512];
	struct spool *s;
	int order[8];

	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
		mkdtmp(dir);
		s = open_at(dir, 1 << 20, 0);
		ASSERT_NE(NULL, s);
		for (int i = 0; i < 5; i++)
			ASSERT_EQ(0, append(s, PRIO_LOW, i, 300, 1));
		spool_close(s);
		ASSERT_EQ(0, first_seg(dir, seg));
		/* in record 1 of 0..4 */
		flip(seg, REC(300) + where[w]);
		s = open_at(dir, 1 << 20, 0);
		ASSERT_NE(NULL, s);
		EXPECT_EQ(4, stats(s).recovered_records);
		EXPECT_EQ(1, stats(s).corrupt_records);
		EXPECT_EQ(REC(300), stats(s).corrupt_bytes);
		ASSERT_EQ(4, drain(s, order, 8));
		EXPECT_EQ(0, order[0]);
		EXPECT_EQ(2, order[1]);
		EXPECT_EQ(3, order[2]);
		EXPECT_EQ(4, order[3]);
		spool_close(s);
		rmrf(dir);
	}
}

TEST(state_byte_is_outside_the_crc)
{
	char dir[64], seg[512];
	struct spool *s;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, append(s, PRIO_LOW, i, 300, 1));
	spool_close(s);
	ASSERT_EQ(0, first_seg(dir, seg));
	/* an unknown state is taken as live: sent again, never lost */
	flip(seg, 5);
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(2, stats(s).recovered_records);
	EXPECT_EQ(0, stats(s).corrupt_records);
	spool_close(s);
	rmrf(dir);
}

TEST(garbage_files)
{
	char dir[64], p[512], buf[20000];
	struct spool *s;
	unsigned int seed = 7;
	int fd, segs, order[4];

	mkdtmp(dir);
	/* random bytes, and "ISPR" over and over */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rand_r(&seed);
	snprintf(p, sizeof(p), "%s/0000000000000009.seg", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	ASSERT_EQ(sizeof(buf), write(fd, buf, sizeof(buf)));
	close(fd);
	for (size_t i = 0; i + 4 <= sizeof(buf); i += 4)
		memcpy(buf + i, "ISPR", 4);
	snprintf(p, sizeof(p), "%s/000000000000000a.seg", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	ASSERT_EQ(sizeof(buf), write(fd, buf, sizeof(buf)));
	close(fd);
	/* not ours: left alone */
	snprintf(p, sizeof(p), "%s/notes.seg", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(p, sizeof(p), "%s/000000000000000b.seg", dir);
	ASSERT_EQ(0, mkdir(p, 0700));

	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	EXPECT_TRUE(stats(s).disk);
	EXPECT_EQ(0, stats(s).recovered_records);
	EXPECT_EQ(2, stats(s).corrupt_records);
	EXPECT_EQ(2 * sizeof(buf), stats(s).corrupt_bytes);
	/* nothing live in them: unlinked */
	EXPECT_EQ(0, seg_bytes(dir, &segs));
	snprintf(p, sizeof(p), "%s/notes.seg", dir);
	EXPECT_EQ(0, access(p, F_OK));
	/* and the spool works, numbering after the garbage */
	ASSERT_EQ(0, append(s, PRIO_HIGH, 1, 100, 1));
	snprintf(p, sizeof(p), "%s/000000000000000c.seg", dir);
	EXPECT_EQ(0, access(p, F_OK));
	ASSERT_EQ(1, drain(s, order, 4));
	spool_close(s);
	rmrf(dir);
}

TEST(duplicate_segment_is_one_copy)
{
	char dir[64], seg[512], cmd[1200];
	struct spool *s;
	int order[8];

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 200, 1));
	spool_close(s);
	ASSERT_EQ(0, first_seg(dir, seg));
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/00000000000000ff.seg'", seg,
		 dir);
	ASSERT_EQ(0, system(cmd));
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(3, stats(s).recovered_records);
	ASSERT_EQ(3, drain(s, order, 8));
	spool_close(s);
	rmrf(dir);
}

TEST(unusable_directory_falls_back_to_memory)
{
	char dir[64], file[128], path[192];
	struct spool *s;
	struct spool_stats st;
	int fd, order[200], n;

	mkdtmp(dir);
	snprintf(file, sizeof(file), "%s/file", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	/* a path under a regular file: ENOTDIR, even for root */
	snprintf(path, sizeof(path), "%s/spool", file);
	n_logs = 0;
	s = open_at(path, 64 << 10, 1000);
	ASSERT_NE(NULL, s);
	st = stats(s);
	EXPECT_FALSE(st.disk);
	EXPECT_EQ(1, st.write_errors);
	ASSERT_EQ(1, n_logs);
	EXPECT_NE(NULL, strstr(logbuf[0], path));
	EXPECT_NE(NULL, strstr(logbuf[0], strerror(ENOTDIR)));
	EXPECT_STREQ(path, spool_path(s));
	/* same bound and rules in memory */
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 960, 1));
	st = stats(s);
	EXPECT_EQ(64 << 10, st.bytes);
	EXPECT_EQ(36, st.dropped_messages[PRIO_HIGH]);
	/* the first drop at once, the rest a minute later in one line */
	EXPECT_EQ(2, n_logs);
	EXPECT_EQ(1, logs_with("dropped 1 message(s)"));
	/* retries: the same failure is not logged again */
	spool_tick(s, 1000 + SPOOL_RETRY_MS);
	spool_tick(s, 1000 + 2 * SPOOL_RETRY_MS);
	EXPECT_EQ(1, logs_with(strerror(ENOTDIR)));
	EXPECT_EQ(1, logs_with("dropped 36 message(s)"));
	EXPECT_EQ(3, n_logs);
	EXPECT_EQ(3, stats(s).write_errors);
	EXPECT_FALSE(stats(s).disk);
	/* the way is clear: next retry writes everything to disk, once */
	ASSERT_EQ(0, unlink(file));
	spool_tick(s, 1000 + 2 * SPOOL_RETRY_MS + 1);	/* not yet */
	EXPECT_FALSE(stats(s).disk);
	spool_tick(s, 1000 + 3 * SPOOL_RETRY_MS);
	EXPECT_TRUE(stats(s).disk);
	EXPECT_EQ(1, logs_with("writable again"));
	EXPECT_EQ(64, stats(s).records);
	EXPECT_EQ(64 * REC(960), seg_bytes(path, NULL));
	spool_close(s);
	s = open_at(path, 64 << 10, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(64, stats(s).recovered_records);
	n = drain(s, order, 200);
	ASSERT_EQ(64, n);
	EXPECT_EQ(36, order[0]);
	EXPECT_EQ(99, order[63]);
	spool_close(s);
	rmrf(dir);
}

TEST(write_failure_half_way_keeps_everything_in_memory)
{
	char dir[64];
	struct spool *s;
	struct spool_stats st;
	struct rlimit old, lim;
	int order[64], n;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	/* a disk that takes 10 KiB per file and no more (EFBIG) */
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 10 << 10;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	n_logs = 0;
	for (int i = 0; i < 30; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 1000, 1));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	st = stats(s);
	EXPECT_FALSE(st.disk);
	EXPECT_EQ(1, st.write_errors);
	EXPECT_EQ(30, st.records);
	EXPECT_EQ(0, st.dropped_messages[PRIO_HIGH]);
	/* one line, naming the path and the reason */
	EXPECT_EQ(1, logs_with(dir));
	EXPECT_EQ(1, logs_with(strerror(EFBIG)));
	/* all 30 readable, in order: 9 from disk, the rest from memory */
	for (int i = 0; i < 30; i++) {
		struct spool_rec *r = spool_next(s);

		ASSERT_NE(NULL, r);
		EXPECT_EQ(i, rec_no(s, r));
		spool_set_inflight(s, r, 1 + i);
	}
	/* the first 20 acknowledged while in memory */
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(0, spool_ack_mid(s, 1 + i));
	/* the disk is back: the old segment goes, the 10 left are written */
	spool_tick(s, 1000 + SPOOL_RETRY_MS);
	st = stats(s);
	EXPECT_TRUE(st.disk);
	EXPECT_EQ(10, st.records);
	EXPECT_EQ(10 * REC(1000), seg_bytes(dir, NULL));
	EXPECT_EQ(1, logs_with("writable again"));
	spool_close(s);
	/* and nothing acknowledged comes back */
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(10, stats(s).recovered_records);
	n = drain(s, order, 64);
	ASSERT_EQ(10, n);
	for (int i = 0; i < 10; i++)
		EXPECT_EQ(20 + i, order[i]);
	spool_close(s);
	rmrf(dir);
}

/*
 * The disk fails and stays failed; what was read back from it into memory
 * and is acknowledged there is marked in its old file all the same, so a
 * restart brings back only what was still pending.
 */
TEST(restart_after_disk_failure_brings_back_only_pending)
{
	char dir[64];
	struct spool *s;
	struct rlimit old, lim;
	int order[64], n, segs;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 10 << 10;	/* 9 records of 1064 bytes fit */
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	for (int i = 0; i < 12; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 1000, 1));
	EXPECT_FALSE(stats(s).disk);
	/* 0..5 published and acknowledged in memory, 6 dropped */
	for (int i = 0; i < 7; i++) {
		struct spool_rec *r = spool_next(s);

		ASSERT_NE(NULL, r);
		ASSERT_EQ(i, rec_no(s, r));
		if (i == 6) {
			spool_discard(s, r);
			break;
		}
		spool_set_inflight(s, r, 1 + i);
		ASSERT_EQ(0, spool_ack_mid(s, 1 + i));
	}
	EXPECT_EQ(1, stats(s).dropped_messages[PRIO_HIGH]);
	spool_close(s);		/* 9..11 only in memory: lost, logged */
	EXPECT_EQ(1, logs_with("3 message(s) held in memory are lost"));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	/* from the old file: 7 and 8, not the acknowledged or dropped */
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(2, stats(s).recovered_records);
	n = drain(s, order, 64);
	ASSERT_EQ(2, n);
	EXPECT_EQ(7, order[0]);
	EXPECT_EQ(8, order[1]);
	spool_close(s);
	EXPECT_EQ(0, seg_bytes(dir, &segs));
	EXPECT_EQ(0, segs);
	rmrf(dir);
}

TEST(stale_segment_all_done_is_removed_in_memory)
{
	char dir[64];
	struct spool *s;
	struct rlimit old, lim;
	int segs;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 10 << 10;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(0, append(s, PRIO_LOW, i, 1000, 1));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	EXPECT_FALSE(stats(s).disk);
	seg_bytes(dir, &segs);
	EXPECT_EQ(1, segs);
	for (int i = 0; i < 9; i++) {
		struct spool_rec *r = spool_next(s);

		ASSERT_NE(NULL, r);
		spool_set_inflight(s, r, 1 + i);
		ASSERT_EQ(0, spool_ack_mid(s, 1 + i));
	}
	/* the nine from disk are done: their file is gone (space back) */
	seg_bytes(dir, &segs);
	EXPECT_EQ(0, segs);
	EXPECT_EQ(1, stats(s).records);
	spool_close(s);
	rmrf(dir);
}

/* The disk fails, and what it held cannot be read back either. */
TEST(unreadable_records_at_fallback_are_dropped_and_counted)
{
	char dir[64], seg[512];
	struct spool *s;
	struct spool_stats st;
	struct rlimit old, lim;
	int segs, order[4];

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 9; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 1000, 2));
	ASSERT_EQ(0, first_seg(dir, seg));
	ASSERT_EQ(0, truncate(seg, 0));
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 10 << 10;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	n_logs = 0;
	/* at 10 KiB: EFBIG, to memory; the nine do not read back */
	ASSERT_EQ(0, append(s, PRIO_HIGH, 9, 1000, 2));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	st = stats(s);
	EXPECT_FALSE(st.disk);
	EXPECT_EQ(1, st.records);
	EXPECT_EQ(9, st.dropped_messages[PRIO_HIGH]);
	EXPECT_EQ(18, st.dropped_events[PRIO_HIGH]);
	EXPECT_EQ(9, st.corrupt_records);
	EXPECT_EQ(1, logs_with("9 message(s) could not be read back"));
	/* nothing live in the old segment: gone */
	seg_bytes(dir, &segs);
	EXPECT_EQ(0, segs);
	ASSERT_EQ(1, drain(s, order, 4));
	EXPECT_EQ(9, order[0]);
	spool_close(s);
	rmrf(dir);
}

/* Unwritable at the start: what is there is still loaded and sent. */
TEST(unwritable_at_start_loads_what_is_there_into_memory)
{
	char dir[64];
	struct spool *s;
	struct spool_stats st;
	struct rlimit old, lim;
	int order[16];

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, append(s, i == 2 ? PRIO_ALERT : PRIO_LOW, i, 500,
				    1));
	spool_close(s);
	/* no byte can be written any more (EFBIG for every write) */
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 0;
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	n_logs = 0;
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	st = stats(s);
	EXPECT_FALSE(st.disk);
	EXPECT_EQ(5, st.recovered_records);
	EXPECT_EQ(5, st.records);
	EXPECT_LE(1, st.write_errors);
	EXPECT_EQ(1, logs_with(strerror(EFBIG)));
	EXPECT_EQ(1, logs_with("recovered 5 message(s)"));
	/* more in memory, the old ones first */
	ASSERT_EQ(0, append(s, PRIO_ALERT, 10, 100, 1));
	ASSERT_EQ(6, drain(s, order, 16));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	EXPECT_EQ(2, order[0]);
	EXPECT_EQ(0, order[1]);
	EXPECT_EQ(4, order[4]);
	EXPECT_EQ(10, order[5]);
	spool_close(s);
	rmrf(dir);
}

TEST(directory_held_by_another_process)
{
	char dir[64];
	struct spool *a, *b;

	mkdtmp(dir);
	a = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, a);
	EXPECT_TRUE(stats(a).disk);
	n_logs = 0;
	b = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, b);
	EXPECT_FALSE(stats(b).disk);
	EXPECT_EQ(1, logs_with("in use by another process"));
	ASSERT_EQ(0, append(a, PRIO_HIGH, 1, 100, 1));
	ASSERT_EQ(0, append(b, PRIO_HIGH, 2, 100, 1));
	spool_close(a);
	/* free now: b takes it over and keeps a's record as well */
	spool_tick(b, 1000 + SPOOL_RETRY_MS);
	EXPECT_TRUE(stats(b).disk);
	EXPECT_EQ(2, stats(b).records);
	spool_close(b);
	rmrf(dir);
}

TEST(smaller_bound_at_start_evicts_to_fit)
{
	char dir[64];
	struct spool *s;
	struct spool_stats st;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 0);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(0, append(s, i < 50 ? PRIO_LOW : PRIO_ALERT, i, 960,
				    1));
	spool_close(s);
	s = open_at(dir, 64 << 10, 0);
	ASSERT_NE(NULL, s);
	st = stats(s);
	EXPECT_LE(seg_bytes(dir, NULL), 64 << 10);
	EXPECT_EQ(50, st.dropped_messages[PRIO_LOW]);
	EXPECT_EQ(0, st.dropped_messages[PRIO_ALERT]);
	EXPECT_EQ(50, st.records);
	spool_close(s);
	rmrf(dir);
}

/*
 * Back from memory onto a directory full of someone else's records: the
 * write-back makes room by dropping the oldest low record, which is the
 * next one in its loop (no use after free), and never the one in flight.
 */
TEST(retry_write_back_drops_safely_and_keeps_in_flight)
{
	char dir[64];
	struct spool *s, *other;
	struct spool_rec *r;
	struct spool_stats st;

	mkdtmp(dir);
	other = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, other);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(0, append(other, PRIO_HIGH, 100 + i, 4000, 1));
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_FALSE(stats(s).disk);
	ASSERT_EQ(0, append(s, PRIO_LOW, 1, 1000, 1));
	ASSERT_EQ(0, append(s, PRIO_LOW, 2, 1000, 1));
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(1, rec_no(s, r));
	spool_set_inflight(s, r, 7);
	spool_close(other);
	spool_tick(s, 1000 + SPOOL_RETRY_MS);
	st = stats(s);
	EXPECT_TRUE(st.disk);
	EXPECT_EQ(1, st.inflight);
	EXPECT_LE(seg_bytes(dir, NULL), 65536);
	/* 1 is still there and its acknowledgement finds it */
	EXPECT_EQ(0, spool_ack_mid(s, 7));
	EXPECT_EQ(1, stats(s).acked);
	spool_close(s);
	rmrf(dir);
}

/*
 * The disk fails, then works again: the retry lists the directory again
 * and takes the old segment back, so what is acknowledged after it is
 * marked there and a restart brings nothing back; the bytes on disk
 * are counted once.
 */
TEST(retry_takes_back_the_old_segment)
{
	char dir[64];
	struct spool *s;
	struct rlimit old, lim;
	int order[64], n, segs;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 10 << 10;	/* 9 records of 1064 bytes fit */
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	for (int i = 0; i < 12; i++)
		ASSERT_EQ(0, append(s, PRIO_HIGH, i, 1000, 1));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	EXPECT_FALSE(stats(s).disk);
	spool_tick(s, 1000 + SPOOL_RETRY_MS);
	EXPECT_TRUE(stats(s).disk);
	EXPECT_EQ(12, stats(s).records);
	/* the old file as it was, plus the three only in memory */
	EXPECT_EQ(12 * REC(1000), seg_bytes(dir, &segs));
	EXPECT_EQ(12 * REC(1000), stats(s).bytes);
	EXPECT_EQ(2, segs);
	n = drain(s, order, 64);
	ASSERT_EQ(12, n);
	for (int i = 0; i < 12; i++)
		EXPECT_EQ(i, order[i]);
	spool_close(s);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(0, stats(s).recovered_records);
	EXPECT_EQ(0, stats(s).records);
	spool_close(s);
	EXPECT_EQ(0, seg_bytes(dir, &segs));
	EXPECT_EQ(0, segs);
	rmrf(dir);
}

/*
 * A retry whose write-back fails again: the records that were synced in
 * the old segment are still there at the next start (only those that
 * were only ever in memory are lost).
 */
TEST(failed_retry_keeps_the_old_segment)
{
	char dir[64];
	struct spool *s;
	struct rlimit old, lim;
	int order[64], n;

	mkdtmp(dir);
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, append(s, PRIO_LOW, 1, 1000, 1));
	ASSERT_EQ(0, append(s, PRIO_LOW, 2, 1000, 1));
	spool_sync(s);
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	lim = old;
	lim.rlim_cur = 500;	/* the probe's byte passes, a record not */
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &lim));
	ASSERT_EQ(0, append(s, PRIO_LOW, 3, 1000, 1));
	EXPECT_FALSE(stats(s).disk);
	spool_tick(s, 1000 + SPOOL_RETRY_MS);
	EXPECT_FALSE(stats(s).disk);
	EXPECT_EQ(3, stats(s).records);
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));
	spool_close(s);		/* 3 only in memory: lost */
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(2, stats(s).recovered_records);
	n = drain(s, order, 64);
	ASSERT_EQ(2, n);
	EXPECT_EQ(1, order[0]);
	EXPECT_EQ(2, order[1]);
	spool_close(s);
	rmrf(dir);
}

/*
 * A hostile segment: fake headers every 64 bytes, each claiming a payload
 * up to 1 MiB with a wrong CRC. Resynchronising stops checking CRCs past
 * twice the file's size (the rest is one corrupt region), so opening
 * stays fast; the valid record before it is recovered.
 */
TEST(fake_headers_do_not_make_the_scan_quadratic)
{
	size_t n = 1 << 20;
	uint8_t *b = calloc(1, n);
	char dir[64], seg[512];
	struct spool *s;
	int64_t t0;
	int order[4], fd;
	double secs;

	ASSERT_NE(NULL, b);
	mkdtmp(dir);
	s = open_at(dir, 4 << 20, 1000);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, append(s, PRIO_LOW, 0, 100, 1));
	spool_close(s);
	ASSERT_EQ(0, first_seg(dir, seg));
	for (size_t off = 0; off + 64 < n; off += 64) {
		uint8_t *h = b + off;
		size_t plen = n - off - 64;

		if (plen > SPOOL_MAX_PAYLOAD)
			plen = SPOOL_MAX_PAYLOAD;
		memcpy(h, "ISPR", 4);
		h[4] = 1;
		h[5] = 'L';
		h[6] = PRIO_LOW;
		h[7] = 0;
		for (int i = 0; i < 4; i++)
			h[8 + i] = plen >> (8 * i);
		for (int i = 0; i < 8; i++)
			h[16 + i] = (uint64_t)(off + 100) >> (8 * i);
		memset(h + 24, 'a', 36);
	}
	fd = open(seg, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(n, write(fd, b, n));
	close(fd);
	free(b);
	t0 = clock_ns(CLOCK_MONOTONIC);
	s = open_at(dir, 4 << 20, 1000);
	secs = (clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
	ASSERT_NE(NULL, s);
	EXPECT_GT(3.0, secs);
	EXPECT_EQ(1, stats(s).recovered_records);
	EXPECT_EQ(1, stats(s).corrupt_records);
	EXPECT_EQ(n, stats(s).corrupt_bytes);
	ASSERT_EQ(1, drain(s, order, 4));
	EXPECT_EQ(0, order[0]);
	spool_close(s);
	rmrf(dir);
}

/* The counters add up: refused, evicted, acknowledged, recovered. */
TEST(counters_add_up)
{
	static char big[SPOOL_MAX_PAYLOAD + 1];
	char dir[64], id[37];
	struct spool *s, *other;
	struct spool_rec *r;
	int mid = 1;

	mkdtmp(dir);
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 40; i++)
		append(s, i % 3 ? PRIO_LOW : PRIO_HIGH, i, 3000, 1);
	EXPECT_TRUE(balanced(s));
	/* too large: refused */
	mkid(id, 99);
	EXPECT_EQ(-EMSGSIZE, spool_append(s, PRIO_LOW, MSG_AZURE, 1, id, big,
					  sizeof(big), 1000));
	EXPECT_EQ(41, stats(s).written);
	EXPECT_TRUE(balanced(s));
	/* everything outranks a low one: refused */
	for (int i = 0; i < 30; i++)
		append(s, PRIO_ALERT, 100 + i, 3000, 1);
	EXPECT_EQ(-ENOSPC, append(s, PRIO_LOW, 200, 3000, 1));
	EXPECT_TRUE(balanced(s));
	for (int i = 0; i < 5 && (r = spool_next(s)); i++) {
		ASSERT_LE(0, rec_no(s, r));
		spool_set_inflight(s, r, mid);
		if (i % 2)
			ASSERT_EQ(0, spool_ack_mid(s, mid));
		mid++;
	}
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	spool_discard(s, r);
	EXPECT_TRUE(balanced(s));
	spool_close(s);
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_TRUE(balanced(s));
	spool_close(s);
	rmrf(dir);
	/* records another process left, picked up at a retry */
	mkdtmp(dir);
	other = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, other);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, append(other, PRIO_HIGH, 100 + i, 1000, 1));
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, append(s, PRIO_LOW, 1, 1000, 1));
	spool_close(other);
	spool_tick(s, 1000 + SPOOL_RETRY_MS);
	EXPECT_TRUE(stats(s).disk);
	EXPECT_EQ(6, stats(s).records);
	EXPECT_TRUE(balanced(s));
	spool_close(s);
	rmrf(dir);
}

/*
 * The interval sync runs in a thread: the tick does not wait for it, and
 * its failure, learnt through the eventfd, takes the way a failed sync
 * always took (the records are read into memory, the disk is retried).
 */
TEST(interval_sync_failure_learnt_from_its_thread)
{
	char dir[64];
	struct spool *s;
	struct spool_stats st;

	mkdtmp(dir);
	s = open_at(dir, 65536, 1000);
	ASSERT_NE(NULL, s);
	ASSERT_LE(0, spool_sync_fd(s));
	ASSERT_EQ(0, append(s, PRIO_LOW, 1, 1000, 1));
	ASSERT_EQ(0, append(s, PRIO_LOW, 2, 1000, 1));
	fail_fdatasync = true;
	spool_tick(s, 2000);
	sync_done(s);
	fail_fdatasync = false;
	st = stats(s);
	EXPECT_FALSE(st.disk);
	EXPECT_EQ(1, st.write_errors);
	EXPECT_EQ(2, st.records);
	EXPECT_EQ(1, logs_with("syncing"));
	/* the disk is back at the retry, the records with it */
	spool_tick(s, 2000 + SPOOL_RETRY_MS);
	st = stats(s);
	EXPECT_TRUE(st.disk);
	EXPECT_EQ(2, st.records);
	spool_close(s);
	rmrf(dir);
}

/*
 * sync 0, and the fdatasync after a whole write fails: the record is in
 * the file, so it is tracked there (read back into memory as stale, then
 * marked when acknowledged) and a restart does not bring it back.
 */
TEST(failed_sync_after_a_whole_write_is_tracked)
{
	char dir[64];
	struct spool *s;
	struct spool_rec *r;
	struct spool_stats st;

	mkdtmp(dir);
	s = open_at(dir, 65536, 0);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, append(s, PRIO_LOW, 1, 1000, 1));
	fail_fdatasync = true;
	ASSERT_EQ(0, append(s, PRIO_LOW, 2, 1000, 1));
	fail_fdatasync = false;
	st = stats(s);
	EXPECT_FALSE(st.disk);
	EXPECT_EQ(1, st.write_errors);
	EXPECT_EQ(2, st.records);
	/* 2 acknowledged, 1 still pending at exit */
	for (int i = 1; i <= 2; i++) {
		r = spool_next(s);
		ASSERT_NE(NULL, r);
		ASSERT_EQ(i, rec_no(s, r));
		spool_set_inflight(s, r, i);
	}
	ASSERT_EQ(0, spool_ack_mid(s, 2));
	spool_close(s);
	EXPECT_EQ(0, logs_with("lost at exit"));
	s = open_at(dir, 65536, 0);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(1, stats(s).recovered_records);
	r = spool_next(s);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(1, rec_no(s, r));
	spool_close(s);
	rmrf(dir);
}

/* Descriptors this process holds (the listing's own not counted). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/*
 * A spool of many segments (each record over half of the 1 MiB segment
 * size, so one per segment) with few descriptors allowed: a rotated
 * segment keeps no descriptor, so the spool stays on disk and holds
 * the directory, its lock, a current segment and the sync's eventfd,
 * whatever its length. The interval sync (a thread) holds a dup of the
 * directory's and of the current segment's while it runs, and opens the
 * rotated ones one at a time.
 */
TEST(rotated_segments_hold_no_descriptor)
{
	const size_t len = 600000;
	const int n = 64;
	char dir[64], id[37], *buf = malloc(len);
	struct rlimit old, lim;
	struct spool_stats st;
	struct spool *s;
	int base, most = 0, segs = 0, *order = calloc(n, sizeof(int));

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, order);
	mkdtmp(dir);
	base = count_fds();
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	lim = old;
	lim.rlim_cur = base + 16;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &lim));
	s = open_at(dir, 48 << 20, 1000);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < n; i++) {
		int k;

		payload(buf, len, i);
		mkid(id, i);
		ASSERT_EQ(0, spool_append(s, PRIO_HIGH, MSG_AZURE, 1, id, buf,
					  len, 1000));
		k = count_fds() - base;
		if (k > most)
			most = k;
	}
	st = stats(s);
	seg_bytes(dir, &segs);
	TH_LOG("%d segments, at most %d descriptors held (limit %d)", segs,
	       most, (int)(lim.rlim_cur - base));
	EXPECT_TRUE(st.disk);
	EXPECT_EQ(0, st.write_errors);
	EXPECT_EQ(n, st.records);
	EXPECT_EQ(n, segs);
	/* the directory, its lock, the current segment, the eventfd */
	EXPECT_GE(4, most);
	/* a sync of every rotated segment opens each for the moment */
	spool_tick(s, 2000);
	sync_done(s);
	EXPECT_TRUE(stats(s).disk);
	EXPECT_EQ(0, stats(s).write_errors);
	EXPECT_GE(4, count_fds() - base);
	spool_close(s);
	EXPECT_EQ(0, count_fds() - base);
	/* all there at the next start, in order */
	s = open_at(dir, 48 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(n, stats(s).recovered_records);
	EXPECT_GE(3, count_fds() - base);
	EXPECT_EQ(n, drain(s, order, n));
	for (int i = 0; i < n; i++)
		EXPECT_EQ(i, order[i]);
	spool_close(s);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	rmrf(dir);
	free(order);
	free(buf);
}

/*
 * A file named like a segment but larger than any segment can be: only
 * the first SPOOL_HDR_SIZE + SPOOL_MAX_PAYLOAD bytes are read (no 100
 * MiB read into memory), its records there are loaded, and it is never
 * unlinked.
 */
TEST(oversized_segment_file_is_read_in_part_and_kept)
{
	char dir[64], seg[512];
	struct spool *s;
	int order[4], fd;

	mkdtmp(dir);
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, append(s, PRIO_HIGH, 7, 100, 1));
	spool_close(s);
	ASSERT_EQ(0, first_seg(dir, seg));
	fd = open(seg, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 100 << 20));
	close(fd);
	n_logs = 0;
	s = open_at(dir, 1 << 20, 1000);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(1, logs_with("more than a segment holds"));
	EXPECT_EQ(1, stats(s).recovered_records);
	EXPECT_TRUE(stats(s).disk);
	ASSERT_EQ(1, drain(s, order, 4));
	EXPECT_EQ(7, order[0]);
	spool_close(s);
	EXPECT_EQ(0, access(seg, F_OK));
	rmrf(dir);
}

TEST_HARNESS_MAIN
