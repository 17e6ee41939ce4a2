// SPDX-License-Identifier: MIT
/*
 * The heartbeat: a periodic extended event (EventType Operational,
 * Category Periodic, Name Heartbeat; docs/events.md) by which the hub
 * tells a silent device from a blinded one. Every messages.heartbeat
 * (default 30 min, 0: none) iotsecd sends, at once and not through the
 * priority queues' intervals:
 *
 *   - its sequence number from 1 (a missing heartbeat is a gap), the
 *     device's uptime and its own;
 *   - the module's state as the module reports it now: loaded, this
 *     iotsecd subscribed, the event mask in force (GET_CONFIG: a mask
 *     somebody else turned down shows here), the hooks missing, the
 *     subscribers, and its loss counters (GET_STATS, summed over the types
 *     and over every consumer);
 *   - the events this iotsecd received from the kernel since it subscribed
 *     and the CPU, sequence number and time of the last one, and the
 *     events it has put into messages since it started: the hub compares
 *     them with what it got, and a gap is visible.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "daemon/daemon.h"

/* The first one soon after the start: the hub learns of a restart. */
#define HEARTBEAT_FIRST_MS 5000

static void add_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static void add_bool(struct json_object *o, const char *k, bool v)
{
	json_object_object_add(o, k, json_object_new_boolean(v));
}

static struct json_object *payload(struct ser *s,
				   const struct heartbeat_info *h)
{
	struct json_object *p = json_object_new_object();
	char utc[32], local[40];

	if (!p)
		return NULL;
	add_int(p, "Sequence", h->seq);
	add_int(p, "Uptime", h->uptime_s);
	add_int(p, "AgentUptime", h->agent_uptime_s);
	add_bool(p, "ModuleLoaded", h->module_loaded);
	add_bool(p, "Subscribed", h->subscribed);
	if (h->have_config)
		add_int(p, "EventMask", h->event_mask);
	if (h->have_stats) {
		add_int(p, "HooksMissing", h->caps_missing);
		add_int(p, "Subscribers", h->subscribers);
		add_int(p, "KernelGenerated", h->kernel.generated);
		add_int(p, "KernelDropped", h->kernel.dropped);
		add_int(p, "KernelDelivered", h->kernel.delivered);
		add_int(p, "KernelLost", h->kernel.lost);
	}
	add_int(p, "EventsReceived", h->events_received);
	if (h->last_seq) {
		add_int(p, "LastEventCpu", h->last_cpu);
		add_int(p, "LastEventSequence", h->last_seq);
		ser_time(s, h->last_time_ns, utc, local);
		json_object_object_add(p, "LastEventTime",
				       json_object_new_string(utc));
	}
	add_int(p, "SequenceGaps", h->seq_gaps);
	add_int(p, "BatchGaps", h->batch_gaps);
	add_int(p, "EventsSent", h->events_sent);
	return p;
}

int heartbeat_text(struct ser *s, const struct heartbeat_info *h,
		   char **out, size_t *len)
{
	struct json_object *arr = json_object_new_array();
	struct json_object *p = payload(s, h), *e;
	const char *t;
	size_t n;

	if (!arr || !p || json_object_array_add(arr, p)) {
		json_object_put(arr);
		json_object_put(p);
		return -ENOMEM;
	}
	e = ser_event("Operational", "Periodic", "Heartbeat", arr);
	if (!e || ser_stamp(s, e, h->now_boot_ns)) {
		json_object_put(e);
		return -ENOMEM;
	}
	t = json_object_to_json_string_length(e, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE,
					      &n);
	*out = t ? malloc(n + 1) : NULL;
	if (*out) {
		memcpy(*out, t, n + 1);
		*len = n;
	}
	json_object_put(e);
	return *out ? 0 : -ENOMEM;
}

/* What the heartbeat says now: the module asked, the counters read. */
static void gather(struct daemon *d, struct heartbeat_info *h)
{
	const struct iotsec_decoder *dec = &d->nl.dec;
	struct iotsec_kconfig kc;
	struct iotsec_kstats ks;
	uint64_t now = boot_ns();

	memset(h, 0, sizeof(*h));
	h->seq = ++d->heartbeat_seq;
	h->now_boot_ns = now;
	h->uptime_s = now / 1000000000ULL;
	h->agent_uptime_s = (mono_ms() - d->start_ms) / 1000;
	h->module_loaded = access("/sys/module/iotsec", F_OK) == 0;
	h->subscribed = d->nl_open;
	if (d->nl_open) {
		memset(&kc, 0, sizeof(kc));
		if (!iotsec_nl_get_config(&d->nl, &kc)) {
			h->have_config = kc.has_mask;
			h->event_mask = kc.event_mask;
			iotsec_kconfig_free(&kc);
		}
		if (!iotsec_nl_get_stats(&d->nl, &ks)) {
			h->have_stats = true;
			h->caps_missing = ks.caps_missing;
			h->subscribers = ks.subscribers;
			iotsec_counters_total(&ks.counters, &h->kernel);
		}
		h->events_received = dec->stats.events;
		h->last_cpu = dec->last_cpu;
		h->last_seq = dec->last_seq;
		h->last_time_ns = dec->last_time_ns;
		h->seq_gaps = dec->stats.cpu_seq_gaps;
		h->batch_gaps = dec->stats.batch_gaps;
	}
	h->events_sent = d->queue.stats.events_sent;
}

static void heartbeat_send(struct daemon *d)
{
	struct heartbeat_info h;
	char *t;
	size_t l;

	gather(d, &h);
	if (heartbeat_text(&d->ser, &h, &t, &l)) {
		logmsg(LOG_WARNING, "heartbeat: out of memory");
		return;
	}
	queue_send_texts(&d->queue, MSG_EXTENDED, &t, &l, 1);
	d->ops_events++;
	free(t);
}

uint64_t heartbeat_tick(struct daemon *d, uint64_t now)
{
	uint64_t every = d->cfg->heartbeat_ms;

	if (!d->start_ms)
		d->start_ms = now;
	if (d->replay || !every) {
		d->heartbeat_ms = 0;
		return UINT64_MAX;
	}
	/* Started, or the interval changed (SIGHUP, the twin): from now. */
	if (every != d->heartbeat_ms) {
		d->next_heartbeat_ms = now + (d->heartbeat_ms ? every :
			every < HEARTBEAT_FIRST_MS ? every : HEARTBEAT_FIRST_MS);
		d->heartbeat_ms = every;
	}
	if (now >= d->next_heartbeat_ms) {
		heartbeat_send(d);
		d->next_heartbeat_ms = now + every;
	}
	return d->next_heartbeat_ms - now;
}
