/* SPDX-License-Identifier: MIT */
/*
 * Aggregation by Azure's identity rules: identical events within a window
 * become one record with a hit count and first/last time.
 *
 *   ProcessCreate    executable, command line, user
 *   ConnectionCreate executable, command line, user, direction, local and
 *                    remote address, protocol, remote port (and result)
 *   ProcessTerminate executable, exit status, user
 *   the extended events: every field but ids and times
 */
#ifndef IOTSEC_AGGREGATE_H
#define IOTSEC_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "intake/event.h"

/* An event the pipeline keeps: a deep copy, plus its aggregation. */
struct record {
	struct record *next;	/* in its queue, oldest first */
	struct record *hnext;	/* in the aggregation table */
	uint64_t hash;
	uint64_t hits;
	uint64_t first_ns, last_ns;	/* CLOCK_BOOTTIME */
	bool aggregated;	/* subject to aggregation */
	size_t size;		/* bytes held */
	struct iotsec_event ev;	/* strings point into data[] */
	char data[];
};

struct record *record_new(const struct iotsec_event *ev);
void record_free(struct record *r);
uint64_t record_key_hash(const struct iotsec_event *ev);
bool record_key_equal(const struct iotsec_event *a,
		      const struct iotsec_event *b);

struct agg {
	struct record **table;
	size_t mask;		/* buckets - 1 */
	size_t count;
};

int agg_init(struct agg *a, size_t buckets);
void agg_fini(struct agg *a);
/*
 * The record EV aggregates into, with its hit counted, or NULL when there
 * is none yet. The table does not own records; agg_insert links one,
 * agg_clear forgets all (after the queue flushed them).
 */
struct record *agg_hit(struct agg *a, const struct iotsec_event *ev);
void agg_insert(struct agg *a, struct record *r);
void agg_clear(struct agg *a);



/*
 * The executable an event is about: the one the kernel names (an exec, or
 * the credential change an exec makes: the program being executed, which
 * enrichment does not know yet), else what enrichment knew, else the
 * kernel's comm.
 */
static inline struct ev_str ev_exe(const struct iotsec_event *ev)
{
	if ((ev->type == IOTSEC_EVENT_EXEC || ev->type == IOTSEC_EVENT_CRED) &&
	    ev->exe.s)
		return ev->exe;
	if (ev->proc_exe.s)
		return ev->proc_exe;
	return ev->comm;
}

/*
 * The command line (NUL-separated argv) an event is about; none for an
 * exec's credential change: enrichment's is the replaced program's.
 */
static inline struct ev_str ev_cmdline(const struct iotsec_event *ev)
{
	if (ev->type == IOTSEC_EVENT_EXEC)
		return ev->argv;
	if (ev->type == IOTSEC_EVENT_CRED && ev->exe.s)
		return (struct ev_str){ NULL, 0 };
	return ev->proc_cmdline;
}

#endif /* IOTSEC_AGGREGATE_H */
