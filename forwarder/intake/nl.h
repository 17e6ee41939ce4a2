/* SPDX-License-Identifier: MIT */
/*
 * Intake from the kernel collector over generic netlink ("iotsec"): the
 * sockets. What arrives is decoded by decode.h.
 */
#ifndef IOTSEC_NL_H
#define IOTSEC_NL_H

#include <stddef.h>
#include <stdint.h>
#include "intake/decode.h"

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
