/* SPDX-License-Identifier: MIT */
/*
 * What the spool's files share; not part of its contract (spool.h).
 *
 *   spool.c         the public calls (open, append, next, tick, close)
 *   spool_format.c  segment files and the records in them (format, CRC,
 *                   write, read back, scan at recovery)
 *   spool_index.c   the live records: lists by priority, in flight,
 *                   bound and eviction, acknowledgements and drops
 *   spool_dir.c     the directory: take it, load it, give it up, sync
 *   spool_mem.c     memory when the disk fails, and the way back
 */
#ifndef IOTSEC_SPOOL_PRIV_H
#define IOTSEC_SPOOL_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include "transport/spool.h"

#define REC_MAGIC	0x52505349u
#define REC_VERSION	1
#define ST_LIVE		'L'
#define ST_ACKED	'A'
#define ST_DROPPED	'D'
#define OFF_STATE	5
#define OFF_CRC		60
#define DROP_LOG_MS	60000
#define SEG_MIN		(4 << 10)
#define SEG_MAX		(1 << 20)
/*
 * Past this, a file named like a segment is not one of ours (the largest
 * is one record of the largest size): the rest is not read.
 */
#define SEG_FILE_MAX	(2 * (SPOOL_HDR_SIZE + SPOOL_MAX_PAYLOAD))

struct seg {
	struct seg *next;		/* by number */
	uint64_t no;
	uint64_t size;			/* bytes in the file */
	uint32_t live;			/* indexed records in it */
	int fd;				/* current segments only, else -1 */
	bool dirty;			/* written since the last sync */
	bool keep;			/* not read whole: never unlinked */
};

struct spool {
	char *path;			/* NULL: memory only by configuration */
	uint64_t size, sync_ms, seg_max;
	uint64_t local_size;		/* bound of the local class */
	uint64_t local_bytes;		/* rec_bytes() of local records */
	spool_log_fn log;
	bool disk;
	int dirfd, lockfd;
	struct seg *segs;
	struct seg *cur[PRIO_N];
	uint64_t next_seg, next_seq;
	uint64_t disk_bytes, mem_bytes;
	struct spool_rec *head[PRIO_N], *tail[PRIO_N];
	struct spool_rec **inflight;	/* array of in-flight records */
	size_t n_inflight, inflight_cap;
	uint64_t n_records;
	char *scratch;
	size_t scratch_cap;
	uint64_t next_sync_ms, next_retry_ms;
	uint64_t now_ms;		/* the last time a caller told */
	bool dirty_dir;
	/*
	 * The interval sync runs in a thread (spool_sync.c): it gets dup()s
	 * of the dirty descriptors and says it is done on sync_efd.
	 */
	int sync_efd;
	struct spool_sync_job *sync_job;	/* in flight, else NULL */
	uint64_t disk_gen;		/* spool_disk_close() calls */
	/*
	 * Segments left behind when the disk failed. Their live records were
	 * read into memory and keep pointing at them (spool_rec.stale): when
	 * one is acknowledged or dropped in memory, its state byte is still
	 * marked there (a rewrite in place needs no free space), and a
	 * segment whose records are all done is unlinked, so a restart does
	 * not send them again. When the disk is back they are removed.
	 */
	struct seg *stale;
	bool opening;			/* loading a previous run's */
	bool retrying;			/* in a retry of the disk */
	int fail_errno;			/* a disk operation failed */
	const char *fail_what;
	int retry_errno;		/* last retry failure logged */
	uint64_t drops_logged, next_drop_log_ms;
	struct spool_stats st;
};

/* What a record takes in the bound: header and payload. */
static inline uint64_t rec_bytes(const struct spool_rec *r)
{
	return SPOOL_HDR_SIZE + (uint64_t)r->len;
}

/* spool.c */
void spool_disk_error(struct spool *s, const char *what, int err);

/* spool_format.c */
void spool_seg_name(char name[32], uint64_t no);
bool spool_seg_file(const char *name, uint64_t *no);
int spool_seg_open(struct spool *s, struct seg *g);
void spool_seg_put(struct seg *g, int fd);
void spool_seg_insert(struct seg **list, struct seg *g);
void spool_seg_unlink(struct seg **list, struct seg *g);
void spool_seg_kill(struct spool *s, struct seg *g);
void spool_seg_load(struct spool *s, int fd, uint64_t no, uint64_t *loaded);
bool spool_rec_read(const struct spool_rec *r, int fd, char *buf);
int spool_rec_write(struct spool *s, struct spool_rec *r, const void *payload);
void spool_rec_mark(struct spool *s, struct spool_rec *r, uint8_t st);

/* spool_index.c */
bool spool_index_insert(struct spool *s, struct spool_rec *r);
void spool_rec_remove(struct spool *s, struct spool_rec *r, uint8_t st);
void spool_rec_drop(struct spool *s, struct spool_rec *r);
void spool_rec_corrupt(struct spool *s, struct spool_rec *r);
void spool_note_drop(struct spool *s, enum prio p, unsigned int events);
void spool_note_local_drop(struct spool *s, unsigned int events);
void spool_log_drops(struct spool *s, uint64_t now_ms, bool force);
uint64_t spool_drops_wait(const struct spool *s, uint64_t now_ms);
bool spool_reclaim_current(struct spool *s);
bool spool_make_room(struct spool *s, int prio, uint64_t need,
		     const struct spool_rec *self);
bool spool_make_local_room(struct spool *s, int prio, uint64_t need);

/* spool_dir.c */
void spool_disk_try(struct spool *s, uint64_t now_ms, bool first);
void spool_disk_close(struct spool *s);
/* spool_sync.c: the interval sync in a thread; the eventfd; its end. */
int spool_sync_init(struct spool *s);
void spool_sync_start(struct spool *s);
void spool_sync_wait(struct spool *s);

/* spool_mem.c */
void spool_log_fallback(struct spool *s, const char *what, int err);
void spool_go_memory(struct spool *s, uint64_t now_ms);
void spool_settle(struct spool *s, uint64_t now_ms);
void spool_mem_release(struct spool *s, struct spool_rec *r);
void spool_mem_to_disk(struct spool *s);
bool spool_stale_adopt(struct spool *s, uint64_t no);
void spool_stale_mark(struct spool *s, struct spool_rec *r, uint8_t st);
void spool_stale_forget(struct spool *s);

#endif /* IOTSEC_SPOOL_PRIV_H */
