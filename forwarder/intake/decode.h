/* SPDX-License-Identifier: MIT */
/*
 * The pure decoder of the kernel's generic netlink messages: a buffer of
 * attributes in, plain events out, so that the netlink socket, replay
 * files and fuzzers all share it. Every attribute is checked for type and
 * length; unknown attributes are skipped so that newer kernels can add
 * fields; an event with a malformed known attribute is dropped and
 * counted.
 */
#ifndef IOTSEC_DECODE_H
#define IOTSEC_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "intake/event.h"

#define IOTSEC_DEC_MAX_CPUS 1024

struct iotsec_decode_stats {
	uint64_t batches;
	uint64_t events;
	uint64_t batch_gaps;	/* batches missing by sequence number */
	uint64_t cpu_seq_gaps;	/* events missing by per-CPU sequence */
	uint64_t bad_events;	/* events with a malformed attribute */
	uint64_t bad_batches;	/* batches that could not be parsed */
	uint64_t unknown_attrs;	/* skipped, from a newer kernel */
};

typedef void (*iotsec_event_fn)(void *ctx, struct iotsec_event *ev);
typedef void (*iotsec_counters_fn)(void *ctx,
				   const struct iotsec_counters *c);

struct iotsec_decoder {
	iotsec_event_fn on_event;
	iotsec_counters_fn on_counters;
	void *ctx;
	uint64_t last_batch_seq;
	uint64_t *cpu_seq;	/* last seq seen per CPU */
	struct iotsec_counters counters;	/* from the latest batch */
	bool have_counters;
	struct iotsec_decode_stats stats;
	/*
	 * CLOCK_BOOTTIME (ns) when the consumer subscribed: an event stamped
	 * before it has before_start set; 0 (replay files): none has.
	 */
	uint64_t subscribed_ns;
	uint64_t before_start;	/* events so marked */
	/* The last event decoded: its CPU, sequence number and time. */
	uint32_t last_cpu;
	uint64_t last_seq, last_time_ns;
};

int iotsec_decoder_init(struct iotsec_decoder *d, iotsec_event_fn ev,
			iotsec_counters_fn cnt, void *ctx);
void iotsec_decoder_fini(struct iotsec_decoder *d);
/*
 * Decode the attributes of one IOTSEC_CMD_EVENTS message (the payload
 * after the generic netlink header). Returns 0 or -EINVAL when the batch
 * itself is malformed: a known attribute that fails its policy refuses it
 * whole; of a cut batch, the events before the cut were delivered.
 */
int iotsec_decode_batch(struct iotsec_decoder *d, const void *buf,
			size_t len);
/* Decode the IOTSEC_A_COUNTERS nest payload into C; 0 or -EINVAL. */
int iotsec_decode_counters(const void *buf, size_t len,
			   struct iotsec_counters *c);

/* What IOTSEC_CMD_GET_STATS answers. */
struct iotsec_kstats {
	uint32_t caps, caps_missing, subscribers, buffer_events;
	uint64_t memory;
	struct iotsec_counters counters;
};

int iotsec_decode_stats(const void *buf, size_t len, struct iotsec_kstats *s);

/* Kernel configuration (IOTSEC_CMD_SET_CONFIG / GET_CONFIG). */
struct iotsec_kconfig {
	bool has_mask, has_exclude, has_watch, has_argv_max;
	uint32_t event_mask;
	uint32_t exclude[IOTSEC_EXCLUDE_MAX];
	unsigned int n_exclude;
	char *watch[IOTSEC_WATCH_MAX];
	unsigned int n_watch;
	uint32_t argv_max;
};

/* 0 or -EINVAL; free C with iotsec_kconfig_free() after success. */
int iotsec_decode_kconfig(const void *buf, size_t len,
			  struct iotsec_kconfig *c);
void iotsec_kconfig_free(struct iotsec_kconfig *c);

#endif /* IOTSEC_DECODE_H */
