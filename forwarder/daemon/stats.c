// SPDX-License-Identifier: MIT
/*
 * Operational statistics: the counters iotsecd sends as Azure's
 * DroppedEventsStatistics and MessageStatistics events, and the stats
 * file iotsecctl and the tests read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/twin.h"

void stats_on_counters(void *ctx, const struct iotsec_counters *c)
{
	struct daemon *d = ctx;

	d->kcounters = *c;
	d->have_kcounters = true;
}

/* The ExtraDetails of a statistics event: names and decimal values. */
struct extra {
	char num[32][24];
	const char *kv[32][2];
	size_t n;
};

static void extra_add(struct extra *e, const char *name, uint64_t v)
{
	if (e->n >= ARRAY_SIZE(e->kv))
		return;
	snprintf(e->num[e->n], sizeof(e->num[e->n]), "%llu",
		 (unsigned long long)v);
	e->kv[e->n][0] = name;
	e->kv[e->n][1] = e->num[e->n];
	e->n++;
}

void stats_send(struct daemon *d)
{
	struct iotsec_type_counters k = { 0 };
	struct extra e = { .n = 0 };
	struct local_stats ls = { 0 };
	struct spool_stats ss = { 0 };
	char *t[2];
	size_t l[2];
	uint64_t dropped[2] = { d->queue.stats.dropped[0],
				d->queue.stats.dropped[1] };
	uint64_t collected[2] = { d->queue.stats.collected[0],
				  d->queue.stats.collected[1] };

	/* GENERATED = DROPPED + BEFORE + DELIVERED + LOST + in flight */
	iotsec_counters_total(&d->kcounters, &k);
	/* messages the spool could not keep, by priority like the queues */
	if (d->spool)
		spool_get_stats(d->spool, &ss);
	/* SDK events refused before any queue (invalid, over the rate) */
	if (d->local)
		local_get_stats(d->local, &ls);
	extra_add(&e, "KernelGenerated", k.generated);
	extra_add(&e, "KernelDropped", k.dropped);
	extra_add(&e, "KernelLost", k.lost);
	extra_add(&e, "KernelBefore", k.before);
	extra_add(&e, "KernelDelivered", k.delivered);
	extra_add(&e, "BatchGaps", d->nl.dec.stats.batch_gaps);
	extra_add(&e, "SequenceGaps", d->nl.dec.stats.cpu_seq_gaps);
	extra_add(&e, "ReceiveOverruns", d->nl.enobufs);
	extra_add(&e, "MalformedEvents", d->nl.dec.stats.bad_events);
	extra_add(&e, "OversizeEvents", d->queue.stats.oversize);
	extra_add(&e, "UnserializedEvents", d->queue.stats.unserialized);
	extra_add(&e, "SpoolDroppedEvents", spool_prio_sum(ss.dropped_events));
	extra_add(&e, "SpoolCorruptRecords", ss.corrupt_records);
	/* every refusal of a local event, by reason */
	extra_add(&e, "SdkRejectedEvents", ls.sdk.rejected);
	extra_add(&e, "SdkRateLimitedEvents", ls.sdk.rate_limited);
	extra_add(&e, "SdkIdentityRefusedEvents", ls.sdk.identity_refused);
	extra_add(&e, "SdkBudgetRefusedEvents", ls.sdk.budget_refused);
	extra_add(&e, "SdkDeliverFailedEvents", ls.sdk.deliver_failed);
	extra_add(&e, "SdkClientsRefused", ls.sdk.clients_refused);
	extra_add(&e, "SdkClientsRateLimited", ls.sdk.clients_rate_limited);
	extra_add(&e, "LoginBudgetRefusedEvents", ls.logins_refused);
	extra_add(&e, "LoginAggregatedEvents", ls.logins_aggregated);
	extra_add(&e, "SpoolLocalDroppedEvents", ss.local_dropped_events);
	dropped[0] += ss.dropped_events[PRIO_HIGH] +
		      ss.dropped_events[PRIO_ALERT];
	dropped[1] += ss.dropped_events[PRIO_LOW];
	/*
	 * Local and operational events reach the spool as high priority, so
	 * the spool may drop them: they count as collected there too.
	 */
	collected[0] += ls.sdk.accepted + ls.logins + ls.snapshots +
			d->ops_events;
	if (ser_dropped_events(&d->ser, boot_ns(), collected, dropped, e.kv,
			       e.n, &t[0], &l[0]))
		return;
	e.n = 0;
	extra_add(&e, "MessagesAcked", d->msgs_acked);
	extra_add(&e, "BytesSent", d->bytes_sent);
	extra_add(&e, "SpoolDroppedMessages", spool_prio_sum(ss.dropped_messages));
	if (ser_message_stats(&d->ser, boot_ns(), d->msgs_sent,
			      d->msgs_under4k,
			      d->msgs_failed + spool_prio_sum(ss.dropped_messages),
			      e.kv, e.n, &t[1], &l[1])) {
		free(t[0]);
		return;
	}
	queue_send_texts(&d->queue, MSG_AZURE, t, l, 2);
	d->ops_events += 2;
	free(t[0]);
	free(t[1]);
}

/* ---- the stats file ---- */

struct counter {
	const char *key;
	uint64_t v;
};

static void add_counters(struct json_object *o, const struct counter *c,
			 size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_object_add(o, c[i].key,
				       json_object_new_uint64(c[i].v));
}

static struct json_object *counters(const struct counter *c, size_t n)
{
	struct json_object *o = json_object_new_object();

	if (o)
		add_counters(o, c, n);
	return o;
}

static struct json_object *decoder_json(const struct daemon *d)
{
	const struct iotsec_decode_stats *s = &d->nl.dec.stats;
	const struct counter c[] = {
		{ "batches", s->batches },
		{ "events", s->events },
		{ "batch_gaps", s->batch_gaps },
		{ "seq_gaps", s->cpu_seq_gaps },
		{ "bad_events", s->bad_events },
		{ "bad_batches", s->bad_batches },
		{ "unknown_attrs", s->unknown_attrs },
		{ "enobufs", d->nl.enobufs },
		{ "foreign", d->nl.foreign },
		{ "own", d->own_events },
	};

	return counters(c, ARRAY_SIZE(c));
}

/*
 * The kernel's counters for this consumer, summed over the types, with
 * what they leave unaccounted: events still in the kernel's buffers.
 */
static struct json_object *kernel_counters_json(
	const struct iotsec_type_counters *k)
{
	const struct counter c[] = {
		{ "generated", k->generated },
		{ "dropped", k->dropped },
		{ "before", k->before },
		{ "delivered", k->delivered },
		{ "lost", k->lost },
	};
	struct json_object *o = counters(c, ARRAY_SIZE(c));

	if (o)
		json_object_object_add(o, "in_flight", json_object_new_int64(
			iotsec_counters_in_flight(k)));
	return o;
}

static struct json_object *kernel_json(const struct daemon *d)
{
	struct iotsec_type_counters k;

	iotsec_counters_total(&d->kcounters, &k);
	return kernel_counters_json(&k);
}

static struct json_object *queues_json(const struct daemon *d)
{
	const struct queue_stats *s = &d->queue.stats;
	const struct counter high[] = {
		{ "collected", s->collected[0] }, { "dropped", s->dropped[0] },
	};
	const struct counter low[] = {
		{ "collected", s->collected[1] }, { "dropped", s->dropped[1] },
	};
	const struct counter c[] = {
		{ "oversize", s->oversize },
		{ "unserialized", s->unserialized },
		{ "early_flushes", s->early_flushes },
	};
	struct json_object *o = json_object_new_object();
	struct json_object *f = json_object_new_array();

	if (!o || !f) {
		json_object_put(o);
		json_object_put(f);
		return NULL;
	}
	json_object_object_add(o, "high", counters(high, ARRAY_SIZE(high)));
	json_object_object_add(o, "low", counters(low, ARRAY_SIZE(low)));
	add_counters(o, c, ARRAY_SIZE(c));
	for (int i = 1; i <= IOTSEC_EVENT_MAX; i++)
		json_object_array_add(f, json_object_new_uint64(s->filtered[i]));
	json_object_object_add(o, "filtered", f);
	return o;
}

static struct json_object *messages_json(const struct daemon *d)
{
	const struct counter c[] = {
		{ "sent", d->msgs_sent },
		{ "acked", d->msgs_acked },
		{ "failed", d->msgs_failed },
		{ "under4k", d->msgs_under4k },
		{ "bytes", d->bytes_sent },
		{ "events", d->queue.stats.events_sent },
	};

	return counters(c, ARRAY_SIZE(c));
}

static struct json_object *spool_json(const struct spool_stats *ss,
				       const char *path)
{
	const struct counter c[] = {
		{ "bytes", ss->bytes },
		{ "records", ss->records },
		{ "pending", ss->pending },
		{ "inflight", ss->inflight },
		{ "written", ss->written },
		{ "acked", ss->acked },
		{ "dropped_messages", spool_prio_sum(ss->dropped_messages) },
		{ "dropped_events", spool_prio_sum(ss->dropped_events) },
		{ "corrupt_records", ss->corrupt_records },
		{ "recovered_records", ss->recovered_records },
		{ "write_errors", ss->write_errors },
		{ "read_errors", ss->read_errors },
	};
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "mode", json_object_new_string(ss->disk ?
						"disk" : "memory"));
	json_object_object_add(o, "path", json_object_new_string(path));
	add_counters(o, c, ARRAY_SIZE(c));
	return o;
}

/* The local sources' counters: what they took and every refusal. */
static struct json_object *local_counters(const struct local_stats *l,
					  const struct spool_stats *sp)
{
	const struct local_stats ls = *l;
	const struct spool_stats ss = *sp;
	const struct counter c[] = {
		{ "sdk_accepted", ls.sdk.accepted },
		{ "sdk_rejected", ls.sdk.rejected },
		{ "sdk_rate_limited", ls.sdk.rate_limited },
		{ "sdk_identity_refused", ls.sdk.identity_refused },
		{ "sdk_budget_refused", ls.sdk.budget_refused },
		{ "sdk_deliver_failed", ls.sdk.deliver_failed },
		{ "sdk_clients_accepted", ls.sdk.clients_accepted },
		{ "sdk_clients_refused", ls.sdk.clients_refused },
		{ "sdk_clients_rate_limited", ls.sdk.clients_rate_limited },
		{ "sdk_clients_dropped", ls.sdk.clients_dropped },
		{ "sdk_identity_unproven", ls.sdk.identity_unproven },
		{ "logins", ls.logins },
		{ "logins_refused", ls.logins_refused },
		{ "logins_aggregated", ls.logins_aggregated },
		{ "snapshots", ls.snapshots },
		{ "failed", ls.failed },
		{ "spool_bytes", ss.local_bytes },
		{ "spool_dropped_messages", ss.local_dropped_messages },
		{ "spool_dropped_events", ss.local_dropped_events },
	};

	return counters(c, ARRAY_SIZE(c));
}

static struct json_object *local_json(const struct daemon *d)
{
	struct local_stats ls = { 0 };
	struct spool_stats ss = { 0 };

	if (d->local)
		local_get_stats(d->local, &ls);
	if (d->spool)
		spool_get_stats(d->spool, &ss);
	return local_counters(&ls, &ss);
}

static struct json_object *stats_json(struct daemon *d)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "module", json_object_new_boolean(d->nl_open));
	json_object_object_add(o, "mqtt", json_object_new_string(
		d->output ? "output file" :
		d->mqtt && mqtt_connected(d->mqtt) ? "connected" :
		"disconnected"));
	json_object_object_add(o, "decoder", decoder_json(d));
	if (d->have_kcounters)
		json_object_object_add(o, "kernel", kernel_json(d));
	json_object_object_add(o, "queues", queues_json(d));
	json_object_object_add(o, "messages", messages_json(d));
	json_object_object_add(o, "local", local_json(d));
	/* the values in force and their sources (daemon/twin_config.c) */
	json_object_object_add(o, "configuration", twin_effective(d->cfg));
	json_object_object_add(o, "twin", daemon_twin_state(d));
	json_object_object_add(o, "baseline", baseline_json(&d->baseline,
							    mono_ms()));
	if (d->spool) {
		struct spool_stats ss;

		spool_get_stats(d->spool, &ss);
		json_object_object_add(o, "spool",
				       spool_json(&ss, spool_path(d->spool)));
	}
	return o;
}

/* Written whole and renamed, so that a reader never sees half a file. */
void stats_write_file(struct daemon *d)
{
	struct json_object *j;
	char tmp[4200];
	FILE *f;
	int ret;

	if (!d->stats_path)
		return;
	j = stats_json(d);
	if (!j)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->stats_path);
	f = fopen(tmp, "w");
	if (!f) {
		json_object_put(j);
		return;
	}
	fprintf(f, "%s\n", json_object_to_json_string_ext(j,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	ret = fclose(f);
	if (ret == 0)
		rename(tmp, d->stats_path);
}
