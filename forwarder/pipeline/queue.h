/* SPDX-License-Identifier: MIT */
/*
 * Priority queues: each event type has a priority (alert: sent at once,
 * high and low: every interval, off: not collected). A queue holds records
 * (aggregated when the type says so) up to a byte limit, then is flushed
 * early. A flush packs records into messages of at most the configured
 * size (never above 256 KiB) and hands each to the output.
 */
#ifndef IOTSEC_QUEUE_H
#define IOTSEC_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include "pipeline/aggregate.h"
#include "daemon/config.h"
#include "pipeline/serialize.h"

/*
 * A packed message of N_EVENTS events, all of priority PRIO (operational
 * and local events sent by queue_send_texts count as PRIO_HIGH).
 */
typedef void (*queue_out_fn)(void *ctx, enum prio prio, enum msg_kind kind,
			     const char *buf, size_t len,
			     unsigned int n_events);

struct pq {
	struct record *head, *tail;
	size_t bytes;
	size_t records;
	struct agg agg;
	uint64_t next_flush_ms;
};

struct queue_stats {
	/* Azure's two queues: [0] High (alert + high), [1] Low */
	uint64_t collected[2], dropped[2];
	uint64_t filtered[IOTSEC_EVENT_MAX + 1];	/* priority off */
	uint64_t oversize;		/* one event larger than a message */
	uint64_t unserialized;		/* lost: no text (out of memory) */
	uint64_t early_flushes;		/* a queue reached its limit */
	uint64_t messages, events_sent;
};

struct queue {
	struct pq q[PRIO_N];
	const struct config *cfg;
	struct ser *ser;
	queue_out_fn out;
	void *ctx;
	struct msgbuf mb[MSG_KIND_N];
	enum prio cur;			/* of the messages being packed */
	bool cur_local;			/* they hold local events */
	struct queue_stats stats;
};

int queue_init(struct queue *q, const struct config *cfg, struct ser *ser,
	       queue_out_fn out, void *ctx, uint64_t now_ms);
void queue_fini(struct queue *q);
/* After a reload: flush everything under the old config, then switch. */
void queue_set_config(struct queue *q, const struct config *cfg,
		      uint64_t now_ms);
void queue_push(struct queue *q, const struct iotsec_event *ev,
		uint64_t now_ms);
/* Flush the queues that are due; returns ms until the next is due. */
uint64_t queue_tick(struct queue *q, uint64_t now_ms);
void queue_flush(struct queue *q, enum prio p, uint64_t now_ms);
void queue_flush_all(struct queue *q, uint64_t now_ms);
/* Pack and send ready-made event texts (operational events). */
void queue_send_texts(struct queue *q, enum msg_kind kind,
		      char *const *texts, const size_t *lens, size_t n);
/* Ready-made extended events at alert priority (the rules' alerts). */
void queue_send_alerts(struct queue *q, char *const *texts,
		       const size_t *lens, size_t n);
/*
 * The same for the local sources' events (SDK, logins, snapshots): while
 * the output function runs for them, queue_out_local() is true, so that
 * the daemon stores them in the spool's local class (spool_append_local).
 */
void queue_send_local_texts(struct queue *q, enum msg_kind kind,
			    char *const *texts, const size_t *lens, size_t n);
static inline bool queue_out_local(const struct queue *q)
{
	return q->cur_local;
}

#endif /* IOTSEC_QUEUE_H */
