// SPDX-License-Identifier: MIT
/*
 * Events recorded before iotsecd subscribed (the kernel buffered them at
 * boot or while iotsecd was restarting) are marked: the decoder sets
 * before_start for an event stamped before its time of subscription, and
 * the serializer carries it as ExtraDetails "BeforeAgentStart": "true"
 * (docs/events.md), which Azure's schemas allow (a string map). A live
 * event has no such key; a decoder of a replay file (no subscription)
 * marks nothing.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <stdlib.h>
#include <json-c/json.h>
#include "intake/decode.h"
#include "intake/replay.h"
#include "pipeline/aggregate.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

#define SUBSCRIBED 2000000000ULL

struct got {
	struct iotsec_event ev[4];
	int n;
};

static void on_ev(void *ctx, struct iotsec_event *ev)
{
	struct got *g = ctx;

	if (g->n < 4)
		g->ev[g->n++] = *ev;
}

/* A batch of three execs: at 1 s, at 2 s - 1 ns and at 3 s. */
static void batch(struct buf *b)
{
	const uint64_t t[3] = { 1000000000ULL, SUBSCRIBED - 1,
				3000000000ULL };
	char argv[32];
	size_t n;

	abuf_put_u64(b, IOTSEC_A_BATCH_SEQ, 1);
	n = abuf_nest_start(b, IOTSEC_A_EVENTS);
	for (int i = 0; i < 3; i++) {
		struct iotsec_event ev;

		ev = hexec("/bin/true", hargv(argv, sizeof(argv), "true"),
			   0, 300 + i, t[i]);
		ev.cpu = 0;
		ev.seq = i + 1;
		iotsec_encode_event(b, &ev);
	}
	abuf_nest_end(b, n);
}

/* The ExtraDetails value of KEY in the serialized event, or NULL. */
static char *extra(const struct iotsec_event *ev, const char *key)
{
	struct json_object *o, *p, *x, *v;
	struct record *r = record_new(ev);
	char *text, *ret = NULL;
	size_t len;
	struct ser ser;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	if (!r || ser_record(&ser, r, &text, &len))
		abort();
	o = json_tokener_parse(text);
	if (o && json_object_object_get_ex(o, "Payload", &p) &&
	    (p = json_object_array_get_idx(p, 0)) &&
	    json_object_object_get_ex(p, "ExtraDetails", &x) &&
	    json_object_object_get_ex(x, key, &v))
		ret = strdup(json_object_get_string(v));
	json_object_put(o);
	free(text);
	record_free(r);
	return ret;
}

TEST(events_before_subscription_are_marked)
{
	struct iotsec_decoder d;
	struct buf b = { 0 };
	struct got g = { 0 };
	char *v;

	batch(&b);
	ASSERT_EQ(0, iotsec_decoder_init(&d, on_ev, NULL, &g));
	d.subscribed_ns = SUBSCRIBED;
	ASSERT_EQ(0, iotsec_decode_batch(&d, b.p, b.len));
	ASSERT_EQ(3, g.n);
	EXPECT_TRUE(g.ev[0].before_start);
	EXPECT_TRUE(g.ev[1].before_start);
	EXPECT_FALSE(g.ev[2].before_start);
	EXPECT_EQ(2, d.before_start);

	v = extra(&g.ev[0], "BeforeAgentStart");
	ASSERT_NE(NULL, v);
	EXPECT_STREQ("true", v);
	free(v);
	EXPECT_EQ(NULL, extra(&g.ev[2], "BeforeAgentStart"));
	iotsec_decoder_fini(&d);
	buf_free(&b);
}

TEST(replay_marks_nothing)
{
	struct iotsec_decoder d;
	struct buf b = { 0 };
	struct got g = { 0 };

	batch(&b);
	ASSERT_EQ(0, iotsec_decoder_init(&d, on_ev, NULL, &g));
	ASSERT_EQ(0, iotsec_decode_batch(&d, b.p, b.len));
	ASSERT_EQ(3, g.n);
	for (int i = 0; i < 3; i++)
		EXPECT_FALSE(g.ev[i].before_start);
	EXPECT_EQ(0, d.before_start);
	iotsec_decoder_fini(&d);
	buf_free(&b);
}

TEST_HARNESS_MAIN
