// SPDX-License-Identifier: MIT
/*
 * Heartbeat events (see heartbeat.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "heartbeat.h"

void hb_count_message(struct hb_counters *c, size_t len, bool ok)
{
	if (!ok) {
		c->failed++;
		return;
	}
	c->sent++;
	if (len < 4096)
		c->under_4k++;
}

/* NOW - PREV, never negative (counters reset by a restart). */
static uint64_t delta(uint64_t now, const struct hb_counters *prev,
		      size_t off)
{
	uint64_t p;

	if (!prev)
		return now;
	memcpy(&p, (const char *)prev + off, sizeof(p));
	return now >= p ? now - p : now;
}

#define D(field) delta(now->field, prev, offsetof(struct hb_counters, field))

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	/* Azure's integers; json-c's int64 keeps the figures exact. */
	json_object_object_add(o, k, json_object_new_int64(
		v > INT64_MAX ? INT64_MAX : (int64_t)v));
}

static void add_u64_str(struct json_object *o, const char *k, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	json_object_object_add(o, k, json_object_new_string(buf));
}

static struct json_object *operational(const char *name,
				       struct json_object *payload)
{
	struct json_object *ev = json_object_new_object();

	if (!ev) {
		json_object_put(payload);
		return NULL;
	}
	json_object_object_add(ev, "EventType",
			       json_object_new_string("Operational"));
	json_object_object_add(ev, "Category",
			       json_object_new_string("Periodic"));
	json_object_object_add(ev, "Name", json_object_new_string(name));
	json_object_object_add(ev, "IsEmpty", json_object_new_boolean(0));
	json_object_object_add(ev, "PayloadSchemaVersion",
			       json_object_new_string("1.0"));
	json_object_object_add(ev, "Payload", payload);
	return ev;
}

struct json_object *hb_message_statistics(const struct hb_counters *now,
					  const struct hb_counters *prev)
{
	struct json_object *payload = json_object_new_array();
	struct json_object *it = json_object_new_object();

	if (!payload || !it) {
		json_object_put(payload);
		json_object_put(it);
		return NULL;
	}
	add_u64(it, "MessagesSent", D(sent));
	add_u64(it, "MessagesUnder4KB", D(under_4k));
	add_u64(it, "TotalFailed", D(failed));
	json_object_array_add(payload, it);
	return operational("MessageStatistics", payload);
}

struct json_object *hb_dropped_events(const struct hb_counters *now,
				      const struct hb_counters *prev)
{
	struct json_object *payload = json_object_new_array();
	struct json_object *hi = json_object_new_object();
	struct json_object *lo = json_object_new_object();
	struct json_object *hx = json_object_new_object();

	if (!payload || !hi || !lo || !hx) {
		json_object_put(payload);
		json_object_put(hi);
		json_object_put(lo);
		json_object_put(hx);
		return NULL;
	}
	json_object_object_add(hi, "Queue", json_object_new_string("High"));
	add_u64(hi, "CollectedEvents",
		D(collected[HB_Q_ALERT]) + D(collected[HB_Q_HIGH]));
	add_u64(hi, "DroppedEvents",
		D(dropped[HB_Q_ALERT]) + D(dropped[HB_Q_HIGH]));
	add_u64_str(hx, "AlertCollectedEvents", D(collected[HB_Q_ALERT]));
	add_u64_str(hx, "AlertDroppedEvents", D(dropped[HB_Q_ALERT]));
	add_u64_str(hx, "KernelDroppedEvents", D(kernel_dropped));
	add_u64_str(hx, "SdkRejectedEvents", D(sdk_rejected));
	add_u64_str(hx, "SdkRateLimitedEvents", D(sdk_rate_limited));
	json_object_object_add(hi, "ExtraDetails", hx);

	json_object_object_add(lo, "Queue", json_object_new_string("Low"));
	add_u64(lo, "CollectedEvents", D(collected[HB_Q_LOW]));
	add_u64(lo, "DroppedEvents", D(dropped[HB_Q_LOW]));

	json_object_array_add(payload, hi);
	json_object_array_add(payload, lo);
	return operational("DroppedEventsStatistics", payload);
}
