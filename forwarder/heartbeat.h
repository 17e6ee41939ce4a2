/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat building blocks: Azure's operational events
 * MessageStatistics and DroppedEventsStatistics (Category "Periodic",
 * EventType "Operational") from counters the daemon keeps.
 *
 * Both report what happened since the previous heartbeat: pass the
 * counters as they were then as PREV (NULL: since start). The daemon keeps
 * monotonic totals and a copy taken at each heartbeat.
 *
 * Azure knows two queues, High and Low. iotsecd has three: alerts and
 * high-priority events are reported as High (with the split in
 * ExtraDetails), low-priority ones as Low.
 */
#ifndef IOTSEC_HEARTBEAT_H
#define IOTSEC_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

enum hb_queue { HB_Q_ALERT, HB_Q_HIGH, HB_Q_LOW, HB_Q_N };

struct hb_counters {
	/* MessageStatistics: published messages */
	uint64_t sent;			/* acknowledged by the broker */
	uint64_t under_4k;		/* of those, smaller than 4 KiB */
	uint64_t failed;		/* given up on, or refused */
	/* DroppedEventsStatistics: events entering and lost per queue */
	uint64_t collected[HB_Q_N];
	uint64_t dropped[HB_Q_N];
	/* Lost before any queue: kernel buffers, SDK refusals. */
	uint64_t kernel_dropped;
	uint64_t sdk_rejected;
	uint64_t sdk_rate_limited;
};

/* Count one message of LEN bytes that was published (OK) or failed. */
void hb_count_message(struct hb_counters *c, size_t len, bool ok);

/* New event objects (the caller puts them), NULL when out of memory. */
struct json_object *hb_message_statistics(const struct hb_counters *now,
					  const struct hb_counters *prev);
struct json_object *hb_dropped_events(const struct hb_counters *now,
				      const struct hb_counters *prev);

#endif /* IOTSEC_HEARTBEAT_H */
