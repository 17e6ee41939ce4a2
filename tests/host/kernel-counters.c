// SPDX-License-Identifier: MIT
/*
 * The kernel's per-consumer counters, IOTSEC_CA_BEFORE included, from the
 * batch to iotsecd's reports: a recording whose counters say that some
 * events went into batches before the forwarder subscribed goes through
 * iotsecd --replay, and
 *
 *   - the decoder reads BEFORE;
 *   - the stats file's "kernel" object has generated, dropped, before,
 *     delivered and lost, summed over the types, and in_flight =
 *     generated - (dropped + before + delivered + lost) is 0: the identity
 *     of include/uapi/iotsec.h closes exactly;
 *   - DroppedEventsStatistics carries KernelBefore and KernelDelivered
 *     beside KernelGenerated, KernelDropped and KernelLost.
 *
 * Without BEFORE, the five events batched before the subscription would
 * look like events still in flight (or lost) forever.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <json-c/json.h>
#include "intake/decode.h"
#include "intake/replay.h"
#include "host/helpers.h"

/* exec: 20 = 2 dropped + 5 before + 12 delivered + 1 lost */
#define GEN 20
#define DROP 2
#define BEFORE 5
#define DELIV 12
#define LOST 1
/* exit: 3 = 3 before */
#define EXIT_GEN 3

static void put_type(struct buf *b, int type, uint64_t gen, uint64_t drop,
		     uint64_t before, uint64_t deliv, uint64_t lost)
{
	size_t t = abuf_nest_start(b, type);

	abuf_put_u64(b, IOTSEC_CA_GENERATED, gen);
	abuf_put_u64(b, IOTSEC_CA_DROPPED, drop);
	abuf_put_u64(b, IOTSEC_CA_DELIVERED, deliv);
	abuf_put_u64(b, IOTSEC_CA_LOST, lost);
	abuf_put_u64(b, IOTSEC_CA_BEFORE, before);
	abuf_nest_end(b, t);
}

/* One batch: DELIV execs and the counters after them. */
static void write_recording(const char *path)
{
	struct buf b = { 0 };
	char argv[64];
	size_t c, n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	replay_write_header(fd, 0);
	abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, 1);
	c = abuf_nest_start(&b, IOTSEC_A_COUNTERS);
	put_type(&b, IOTSEC_EVENT_EXEC, GEN, DROP, BEFORE, DELIV, LOST);
	put_type(&b, IOTSEC_EVENT_EXIT, EXIT_GEN, 0, EXIT_GEN, 0, 0);
	abuf_nest_end(&b, c);
	n = abuf_nest_start(&b, IOTSEC_A_EVENTS);
	for (int i = 0; i < DELIV; i++) {
		struct iotsec_event ev;

		ev = hexec("/bin/true", hargv(argv, sizeof(argv), "true x"),
			   1000, 300 + i, 1000000ULL * (i + 1));
		ev.cpu = 0;
		ev.seq = i + 1;
		iotsec_encode_event(&b, &ev);
	}
	abuf_nest_end(&b, n);
	replay_write_batch(fd, b.p, b.len);
	buf_free(&b);
	close(fd);
}

static int64_t get_i64(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v))
		return -1000;
	return json_object_get_int64(v);
}

static void on_cnt(void *ctx, const struct iotsec_counters *c)
{
	*(struct iotsec_counters *)ctx = *c;
}

static int to_decoder(void *ctx, const void *attrs, size_t len)
{
	return iotsec_decode_batch(ctx, attrs, len) ? -1 : 0;
}

TEST(before_is_decoded)
{
	char path[] = "/tmp/iotsec-kc-XXXXXX";
	struct iotsec_counters cnt = { 0 };
	struct iotsec_decoder d;
	struct replay_reader r;
	int fd = mkstemp(path);

	ASSERT_LE(0, fd);
	close(fd);
	write_recording(path);
	ASSERT_EQ(0, iotsec_decoder_init(&d, NULL, on_cnt, &cnt));
	replay_init(&r, to_decoder, &d);
	ASSERT_EQ(0, replay_file(&r, path));
	unlink(path);
	EXPECT_EQ(BEFORE, cnt.t[IOTSEC_EVENT_EXEC].before);
	EXPECT_EQ(EXIT_GEN, cnt.t[IOTSEC_EVENT_EXIT].before);
	EXPECT_EQ(0, iotsec_counters_in_flight(&cnt.t[IOTSEC_EVENT_EXEC]));
	EXPECT_EQ(0, iotsec_counters_in_flight(&cnt.t[IOTSEC_EVENT_EXIT]));
	replay_free(&r);
	iotsec_decoder_fini(&d);
}

TEST(stats_file_and_statistics_close_the_identity)
{
	const char *build = getenv("IOTSEC_BUILD");
	char dir[] = "/tmp/iotsec-kc-XXXXXX";
	char cmd[2048], rec[256], cfg[256], out[256], st[256], line[8192];
	struct json_object *j, *k = NULL;
	bool seen = false;
	FILE *f;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(rec, sizeof(rec), "%s/k.rec", dir);
	snprintf(cfg, sizeof(cfg), "%s/k.yaml", dir);
	snprintf(out, sizeof(out), "%s/out.jsonl", dir);
	snprintf(st, sizeof(st), "%s/stats.json", dir);
	write_recording(rec);
	f = fopen(cfg, "w");
	ASSERT_NE(NULL, f);
	fputs("agent:\n  id: 9c647395-b913-4997-a732-a7fe7303b649\n"
	      "messages:\n  statistics: 1h\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "%s/iotsecd -c %s --replay %s --output %s --stats-file %s "
		 "2>%s/log", build ? build : "build", cfg, rec, out, st, dir);
	ASSERT_EQ(0, system(cmd));

	j = json_object_from_file(st);
	ASSERT_NE(NULL, j);
	json_object_object_get_ex(j, "kernel", &k);
	if (!k)
		TH_LOG("stats file: %s", json_object_to_json_string(j));
	ASSERT_NE(NULL, k);
	EXPECT_EQ(GEN + EXIT_GEN, get_i64(k, "generated"));
	EXPECT_EQ(DROP, get_i64(k, "dropped"));
	EXPECT_EQ(BEFORE + EXIT_GEN, get_i64(k, "before"));
	EXPECT_EQ(DELIV, get_i64(k, "delivered"));
	EXPECT_EQ(LOST, get_i64(k, "lost"));
	EXPECT_EQ(0, get_i64(k, "in_flight"));
	json_object_put(j);

	f = fopen(out, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "\"DroppedEventsStatistics\""))
			continue;
		seen = true;
		EXPECT_NE(NULL, strstr(line, "\"KernelGenerated\":\"23\""));
		EXPECT_NE(NULL, strstr(line, "\"KernelBefore\":\"8\""))
			TH_LOG("%s", line);
		EXPECT_NE(NULL, strstr(line, "\"KernelDelivered\":\"12\""));
	}
	fclose(f);
	EXPECT_TRUE(seen);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	system(cmd);
}

TEST_HARNESS_MAIN
