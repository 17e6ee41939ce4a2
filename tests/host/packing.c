// SPDX-License-Identifier: MIT
/*
 * Message size limits: every message is at most the configured size and
 * never above IoT Hub's 256 KiB, messages are packed (a new one starts only
 * when the next event would not fit), and no event is lost on the way.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <json-c/json.h>
#include "pipeline/queue.h"
#include "host/helpers.h"

struct sink {
	size_t n, events, max_len, limit;
	size_t bad_json, over, underfilled;
	size_t biggest_event;	/* for the packing check */
	size_t *lens;
	size_t cap;
};

static void out(void *ctx, enum prio prio, enum msg_kind kind,
		const char *buf, size_t len, unsigned int n)
{
	struct sink *s = ctx;
	struct json_object *o = json_tokener_parse(buf), *evs;

	if (!o || !json_object_object_get_ex(o, "Events", &evs) ||
	    json_object_array_length(evs) != n || strlen(buf) != len)
		s->bad_json++;
	json_object_put(o);
	if (len > s->limit || len > 256 * 1024)
		s->over++;
	if (len > s->max_len)
		s->max_len = len;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->lens = realloc(s->lens, s->cap * sizeof(*s->lens));
	}
	s->lens[s->n++] = len;
	s->events += n;
}

/* N distinct execs with argv of about ARGLEN bytes through a queue. */
static void run(struct __test_metadata *_metadata, size_t limit, int n,
		size_t arglen, bool aggregate)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { .limit = limit };
	char *arg = malloc(arglen + 32);

	config_defaults(&cfg);
	cfg.max_message_size = limit;
	cfg.queue_limit = 1 << 30;
	cfg.types[IOTSEC_EVENT_EXEC].aggregate = aggregate;
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	for (int i = 0; i < n; i++) {
		struct iotsec_event ev;
		int l = snprintf(arg, arglen + 32, "/bin/x%c%d%c", 0, i, 0);

		memset(arg + l, 'a' + i % 26, arglen);
		ev = hexec("/bin/x", (struct ev_str){ arg, l + arglen }, 0, i,
			   i);
		queue_push(&q, &ev, 0);
	}
	queue_flush_all(&q, 0);
	EXPECT_EQ(0, s.bad_json);
	EXPECT_EQ(0, s.over);
	EXPECT_LE(s.max_len, limit);
	EXPECT_EQ((size_t)n, s.events + q.stats.oversize);
	EXPECT_EQ(0, q.stats.oversize);
	/*
	 * Packed: every message but the last was closed because the next
	 * event (about arglen + 700 bytes of JSON) did not fit.
	 */
	for (size_t i = 0; i + 1 < s.n; i++) {
		EXPECT_GT(s.lens[i] + arglen + 1000, limit)
			TH_LOG("message %zu of %zu bytes, limit %zu", i,
			       s.lens[i], limit);
	}
	TH_LOG("limit %zu: %zu messages, %zu events, biggest %zu", limit, s.n,
	       s.events, s.max_len);
	queue_fini(&q);
	free(s.lens);
	free(arg);
}

TEST(limit_1k_small_events)
{
	run(_metadata, 1024, 500, 10, false);
}

TEST(limit_4k)
{
	run(_metadata, 4096, 2000, 100, false);
}

TEST(limit_64k_big_argv)
{
	run(_metadata, 65536, 2000, 4000, false);
}

TEST(limit_256k_many_events)
{
	run(_metadata, 256 * 1024, 20000, 200, false);
}

TEST(config_cannot_exceed_256k)
{
	struct config c;
	char err[512];

	EXPECT_EQ(-EINVAL, config_parse(&c, "t", "messages: {max_size: 262145}",
					28, err, sizeof(err)));
	config_free(&c);
	EXPECT_EQ(0, config_parse(&c, "t", "messages: {max_size: 256KiB}", 28,
				  err, sizeof(err)));
	EXPECT_EQ(262144, c.max_message_size);
	config_free(&c);
}

/* Even a config struct set above the limit by hand is clamped. */
TEST(queue_clamps_to_256k)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { .limit = 256 * 1024 };
	char arg[2048];

	config_defaults(&cfg);
	cfg.max_message_size = 10 << 20;
	cfg.queue_limit = 1 << 30;
	cfg.types[IOTSEC_EVENT_EXEC].aggregate = false;
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	memset(arg, 'y', sizeof(arg));
	for (int i = 0; i < 2000; i++) {
		struct iotsec_event ev = hexec("/bin/x", (struct ev_str){
						       arg, sizeof(arg) }, 0, i, i);

		queue_push(&q, &ev, 0);
	}
	queue_flush_all(&q, 0);
	EXPECT_EQ(0, s.over);
	EXPECT_GT(s.n, 10);
	EXPECT_EQ(2000, s.events);
	queue_fini(&q);
	free(s.lens);
}

TEST(event_larger_than_message_is_counted_not_sent)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { .limit = 1024 };
	char arg[4096];
	struct iotsec_event ev;

	config_defaults(&cfg);
	cfg.max_message_size = 1024;
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	memset(arg, 'x', sizeof(arg));
	ev = hexec("/bin/x", (struct ev_str){ arg, sizeof(arg) }, 0, 1, 1);
	queue_push(&q, &ev, 0);
	queue_flush_all(&q, 0);
	EXPECT_EQ(0, s.n);
	EXPECT_EQ(1, q.stats.oversize);
	queue_fini(&q);
}

TEST(msgbuf_exact_fit)
{
	struct ser ser;
	struct msgbuf m = { 0 };
	size_t over;
	char ev[512];

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	over = msg_overhead(&ser, MSG_AZURE);
	memset(ev, 'e', sizeof(ev));
	ASSERT_EQ(0, msg_begin(&m, &ser, MSG_AZURE, over + 100));
	EXPECT_EQ(0, msg_add(&m, ev, 100));	/* exactly full */
	EXPECT_EQ(-ENOSPC, msg_add(&m, ev, 1));
	msg_end(&m);
	EXPECT_EQ(over + 100, m.b.len);
	ASSERT_EQ(0, msg_begin(&m, &ser, MSG_AZURE, over + 100));
	EXPECT_EQ(-ENOSPC, msg_add(&m, ev, 101));
	EXPECT_EQ(0, msg_add(&m, ev, 50));
	EXPECT_EQ(-ENOSPC, msg_add(&m, ev, 50));	/* +1 for the comma */
	EXPECT_EQ(0, msg_add(&m, ev, 49));
	msg_end(&m);
	EXPECT_EQ(over + 100, m.b.len);
	msg_free(&m);
}

TEST_HARNESS_MAIN
