/* SPDX-License-Identifier: MIT */
/*
 * Intake from the kernel collector over generic netlink ("iotsec").
 *
 * The decoder is pure (a buffer of attributes in, plain events out) so
 * that the netlink socket, replay files and fuzzers all share it. Every
 * attribute is checked for type and length; unknown attributes are
 * skipped so that newer kernels can add fields; an event with a malformed
 * known attribute is dropped and counted.
 */
#ifndef IOTSEC_NL_H
#define IOTSEC_NL_H

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
};

int iotsec_decoder_init(struct iotsec_decoder *d, iotsec_event_fn ev,
			iotsec_counters_fn cnt, void *ctx);
void iotsec_decoder_fini(struct iotsec_decoder *d);
/*
 * Decode the attributes of one IOTSEC_CMD_EVENTS message (the payload
 * after the generic netlink header). Returns 0 or -EINVAL when the batch
 * itself is malformed (events decoded before the damage were delivered).
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

void iotsec_kconfig_free(struct iotsec_kconfig *c);

/* The socket side. */
struct iotsec_nl {
	struct nl_sock *ctl;	/* commands */
	struct nl_sock *ev;	/* subscribed, receives batches */
	int family;
	struct iotsec_decoder dec;
	uint64_t enobufs;	/* receive-buffer overruns */
	uint64_t foreign;	/* messages not from the kernel, ignored */
	uint64_t other;		/* messages that are not event batches */
	unsigned char *rbuf;
	size_t rbuf_len;
	int rcvbuf;		/* set before subscribing; 0: 8 MiB */
	/* Optional: each batch's raw attributes before decoding (record). */
	void (*on_raw)(void *ctx, const void *attrs, size_t len);
	void *raw_ctx;
};

/* 0, -ENOENT when the family is not registered (module not loaded). */
int iotsec_nl_open(struct iotsec_nl *n, iotsec_event_fn ev,
		   iotsec_counters_fn cnt, void *ctx);
void iotsec_nl_close(struct iotsec_nl *n);
int iotsec_nl_subscribe(struct iotsec_nl *n);
int iotsec_nl_fd(struct iotsec_nl *n);
/*
 * Read what is pending on the event socket (non-blocking, at most 64
 * datagrams: the socket stays readable if there is more). Returns 0,
 * or a negative errno for a fatal socket error. ENOBUFS is counted, not
 * returned.
 */
int iotsec_nl_receive(struct iotsec_nl *n);
int iotsec_nl_set_config(struct iotsec_nl *n, const struct iotsec_kconfig *c);
int iotsec_nl_get_config(struct iotsec_nl *n, struct iotsec_kconfig *c);
int iotsec_nl_get_stats(struct iotsec_nl *n, struct iotsec_kstats *s);

#endif /* IOTSEC_NL_H */
