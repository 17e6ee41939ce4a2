// SPDX-License-Identifier: MIT
/*
 * Heartbeat events carry exactly the figures they are given, as deltas
 * since the previous heartbeat.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "kselftest_harness.h"
#include "heartbeat.h"

static void dump(const char *name, struct json_object *ev)
{
	const char *dir = getenv("IOTSEC_EVENT_DUMP");
	char path[PATH_MAX];

	if (!dir || !ev)
		return;
	snprintf(path, sizeof(path), "%s/heartbeat-%s-%d.json", dir, name,
		 (int)getpid());
	json_object_to_file_ext(path, ev, JSON_C_TO_STRING_PLAIN);
}

static struct json_object *item(struct json_object *ev, int i)
{
	struct json_object *p;

	if (!json_object_object_get_ex(ev, "Payload", &p))
		return NULL;
	return json_object_array_get_idx(p, i);
}

static long long num(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return json_object_get_string(v);
}

TEST(message_statistics)
{
	struct hb_counters now = { 0 }, prev;
	struct json_object *ev;
	int i;

	for (i = 0; i < 7; i++)
		hb_count_message(&now, 1000, true);
	hb_count_message(&now, 5000, true);
	hb_count_message(&now, 300, false);
	ev = hb_message_statistics(&now, NULL);
	ASSERT_NE(NULL, ev);
	dump("msgstats", ev);
	EXPECT_STREQ("MessageStatistics", str(ev, "Name"));
	EXPECT_STREQ("Operational", str(ev, "EventType"));
	EXPECT_STREQ("Periodic", str(ev, "Category"));
	EXPECT_EQ(8, num(item(ev, 0), "MessagesSent"));
	EXPECT_EQ(7, num(item(ev, 0), "MessagesUnder4KB"));
	EXPECT_EQ(1, num(item(ev, 0), "TotalFailed"));
	json_object_put(ev);

	prev = now;
	hb_count_message(&now, 100, true);
	ev = hb_message_statistics(&now, &prev);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(1, num(item(ev, 0), "MessagesSent"));
	EXPECT_EQ(1, num(item(ev, 0), "MessagesUnder4KB"));
	EXPECT_EQ(0, num(item(ev, 0), "TotalFailed"));
	json_object_put(ev);
}

TEST(dropped_events_statistics)
{
	struct hb_counters now = { 0 }, prev;
	struct json_object *ev, *hi, *lo, *x;

	now.collected[HB_Q_ALERT] = 3;
	now.collected[HB_Q_HIGH] = 100;
	now.collected[HB_Q_LOW] = 1000;
	now.dropped[HB_Q_ALERT] = 0;
	now.dropped[HB_Q_HIGH] = 5;
	now.dropped[HB_Q_LOW] = 50;
	now.kernel_dropped = 9;
	now.sdk_rate_limited = 4;
	ev = hb_dropped_events(&now, NULL);
	ASSERT_NE(NULL, ev);
	dump("dropped", ev);
	EXPECT_STREQ("DroppedEventsStatistics", str(ev, "Name"));
	hi = item(ev, 0);
	lo = item(ev, 1);
	EXPECT_STREQ("High", str(hi, "Queue"));
	EXPECT_EQ(103, num(hi, "CollectedEvents"));
	EXPECT_EQ(5, num(hi, "DroppedEvents"));
	ASSERT_TRUE(json_object_object_get_ex(hi, "ExtraDetails", &x));
	EXPECT_STREQ("9", str(x, "KernelDroppedEvents"));
	EXPECT_STREQ("3", str(x, "AlertCollectedEvents"));
	EXPECT_STREQ("4", str(x, "SdkRateLimitedEvents"));
	EXPECT_STREQ("Low", str(lo, "Queue"));
	EXPECT_EQ(1000, num(lo, "CollectedEvents"));
	EXPECT_EQ(50, num(lo, "DroppedEvents"));
	json_object_put(ev);

	prev = now;
	now.collected[HB_Q_LOW] += 10;
	now.dropped[HB_Q_LOW] += 2;
	ev = hb_dropped_events(&now, &prev);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(0, num(item(ev, 0), "CollectedEvents"));
	EXPECT_EQ(10, num(item(ev, 1), "CollectedEvents"));
	EXPECT_EQ(2, num(item(ev, 1), "DroppedEvents"));
	json_object_put(ev);
}

TEST_HARNESS_MAIN
