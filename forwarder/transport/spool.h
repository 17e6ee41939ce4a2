/* SPDX-License-Identifier: MIT */
/*
 * The spool: a bounded, crash-safe store between serialization and MQTT.
 * Every message the pipeline accepts is written here before it is
 * published and stays until the broker acknowledges it (PUBACK), so that
 * a lost network, a broker restart or a crash of the daemon loses nothing
 * that fits in the bound. Format: spool_format.c; the rest of the rules
 * in the files spool_priv.h lists, and docs/forwarder.md.
 *
 *   spool_open() -> spool_append() ... spool_next() -> spool_payload()
 *     -> mqtt_publish() -> spool_set_inflight() ... spool_ack_mid()
 *   spool_tick() syncs on its interval and retries a failed disk;
 *   spool_close() syncs and closes (records stay for the next start).
 *
 * Pure: no MQTT, no daemon; the host tests drive it directly.
 */
#ifndef IOTSEC_SPOOL_H
#define IOTSEC_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/config.h"
#include "pipeline/serialize.h"

#define SPOOL_MIN_SIZE		IOTSEC_SPOOL_MIN
/* A failed disk is tried again this often (ms). */
#define SPOOL_RETRY_MS		30000
/* The largest payload a record may hold (the hub takes 256 KiB). */
#define SPOOL_MAX_PAYLOAD	(1 << 20)
/* Fixed bytes of a record on disk before its payload. */
#define SPOOL_HDR_SIZE		64

struct spool_config {
	const char *path;	/* directory; NULL or "": memory only */
	uint64_t size;		/* bound, bytes on disk (or in memory) */
	uint64_t sync_ms;	/* fdatasync interval; 0: every record */
	/*
	 * The share of SIZE that records of the local class (SDK, logins,
	 * snapshots, stats: spool_append_local()) may take; 0: SIZE. A
	 * local record only ever makes room by dropping older local
	 * records, never one of the kernel's.
	 */
	uint64_t local_size;
};

/* One stored message; owned by the spool. */
struct spool_rec {
	struct spool_rec *prev, *next;	/* its priority's list, seq order */
	struct seg *seg;		/* disk: where it lives; NULL: memory */
	struct seg *stale;		/* memory: the file it was read from */
	uint64_t off;			/* disk: offset of its header */
	uint64_t seq;
	char *payload;			/* memory mode: the bytes */
	uint32_t len;			/* payload bytes */
	uint32_t events;
	int mid;			/* MQTT mid while in flight */
	bool inflight;
	bool recovered;			/* left by a previous run */
	bool local;			/* spool_append_local(); not on disk */
	uint8_t prio;			/* enum prio */
	uint8_t kind;			/* enum msg_kind */
	char id[37];			/* message id, $.mid */
};

struct spool_stats {
	bool disk;			/* mode: disk or memory */
	uint64_t bytes;			/* disk: file sizes; memory: records */
	uint64_t records, pending, inflight;
	uint64_t written;		/* messages offered (refused too) */
	uint64_t acked;
	uint64_t dropped_messages[PRIO_N], dropped_events[PRIO_N];
	uint64_t corrupt_records, corrupt_bytes;
	/* loaded from the directory: at open, or another's at a retry */
	uint64_t recovered_records;
	uint64_t write_errors;
	/* local class: bytes held, messages and events dropped or refused */
	uint64_t local_bytes;
	uint64_t local_dropped_messages, local_dropped_events;
	/* reads that failed (EIO): segments at a scan, records to publish */
	uint64_t read_errors;
};

/* A per-priority counter of spool_stats summed over the priorities. */
static inline uint64_t spool_prio_sum(const uint64_t v[PRIO_N])
{
	uint64_t n = 0;

	for (int p = 0; p < PRIO_N; p++)
		n += v[p];
	return n;
}

/*
 * At any time: written + recovered_records = acked + dropped_messages
 * (all priorities) + pending + inflight. A message refused by
 * spool_append() counts as written and dropped; one that does not read
 * back intact as dropped (and in corrupt_records).
 */
struct spool;

typedef void (*spool_log_fn)(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Open (or create) the spool of CFG and load what a previous run left.
 * A directory that cannot be used is not an error: it is logged and the
 * spool keeps its records in memory (same bound), trying the disk again
 * every SPOOL_RETRY_MS. LOG may be NULL. Returns 0 or -ENOMEM/-EINVAL.
 */
int spool_open(struct spool **sp, const struct spool_config *cfg,
	       spool_log_fn log, uint64_t now_ms);
/* Sync and close; what is not acknowledged stays on disk. */
void spool_close(struct spool *s);

/*
 * Store one message of priority PRIO. When the bound is reached, older
 * records of the lowest priority make room (dropped and counted), or this
 * one is dropped when everything stored outranks it. Returns 0 when
 * stored, -ENOSPC when dropped (counted), -EMSGSIZE when LEN is above
 * SPOOL_MAX_PAYLOAD or the bound (counted as dropped too).
 */
int spool_append(struct spool *s, enum prio prio, enum msg_kind kind,
		 unsigned int events, const char id[37], const void *buf,
		 size_t len, uint64_t now_ms);
/*
 * The same for a message of local events: it is kept within
 * spool_config.local_size, dropping older local records (lowest priority,
 * oldest first) to make room, and refused (-ENOSPC, counted in the
 * local_dropped counters too) rather than drop a kernel record. The class
 * lives in memory only: a record recovered from disk counts as kernel.
 */
int spool_append_local(struct spool *s, enum prio prio, enum msg_kind kind,
		       unsigned int events, const char id[37], const void *buf,
		       size_t len, uint64_t now_ms);

/*
 * The next record to publish: what a previous run left first, then the
 * rest; each by priority (alert, high, low), oldest first.
 */
struct spool_rec *spool_next(struct spool *s);
/*
 * R's payload, R->len bytes and a NUL, valid until the next spool call.
 * NULL when it cannot be read back intact (counted as corrupt, R dropped:
 * do not use R again).
 */
const char *spool_payload(struct spool *s, struct spool_rec *r);
/*
 * R was handed to the transport as MID. -ENOMEM when it cannot be
 * tracked: R stays pending (published again later, at least once).
 */
int spool_set_inflight(struct spool *s, struct spool_rec *r, int mid);
/* The broker acknowledged MID: the record is done. -ENOENT if unknown. */
int spool_ack_mid(struct spool *s, int mid);
/* R can never be published (refused by the transport): drop, counted. */
void spool_discard(struct spool *s, struct spool_rec *r);
/* The transport is gone (not just reconnecting): publish again. */
void spool_requeue_inflight(struct spool *s);

/* Interval sync and disk retries; returns ms until it wants a call. */
uint64_t spool_tick(struct spool *s, uint64_t now_ms);
/* fdatasync everything written now, in place (clean exit). */
void spool_sync(struct spool *s);
/*
 * The interval sync runs in a thread: this eventfd (-1: none, the sync is
 * done in place) is readable when it ended; then call spool_sync_done().
 */
int spool_sync_fd(const struct spool *s);
void spool_sync_done(struct spool *s, uint64_t now_ms);

void spool_get_stats(const struct spool *s, struct spool_stats *st);
size_t spool_inflight(const struct spool *s);
uint64_t spool_records(const struct spool *s);
bool spool_on_disk(const struct spool *s);
/* The directory, "" when memory only by configuration. */
const char *spool_path(const struct spool *s);

/* CRC-32C (Castagnoli), as records carry it. */
uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* IOTSEC_SPOOL_H */
