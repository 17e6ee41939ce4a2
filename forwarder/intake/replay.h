/* SPDX-License-Identifier: MIT */
/*
 * Recorded event streams: `iotsecctl record FILE` writes what the kernel
 * sends, `iotsecd --replay FILE` feeds it back through the same decoder.
 *
 * Format, version 1 (integers little-endian):
 *
 *   header   "IOTSECRP"        8 bytes, magic
 *            version  u16      1
 *            flags    u16      0
 *            hdr_len  u32      bytes of the whole header (>= 24); a reader
 *                              skips what it does not know
 *            boot_to_real s64  CLOCK_REALTIME - CLOCK_BOOTTIME in ns at
 *                              recording, so replayed times are the
 *                              original wall-clock times
 *   records  len      u32      payload bytes, at most REPLAY_MAX_RECORD
 *            kind     u16      1: an event batch, the attributes of one
 *                              IOTSEC_CMD_EVENTS message (netlink
 *                              attributes as in include/uapi/iotsec.h)
 *            flags    u16      0
 *            payload, then zero padding to a multiple of 4
 *
 * Records of unknown kind are skipped. The reader is incremental (init,
 * feed any chunks, finish) so files, pipes and fuzzers drive it alike.
 */
#ifndef IOTSEC_REPLAY_H
#define IOTSEC_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/buf.h"

#define REPLAY_MAGIC "IOTSECRP"
#define REPLAY_VERSION 1
#define REPLAY_HDR_LEN 24
#define REPLAY_MAX_RECORD (1U << 20)
#define REPLAY_KIND_BATCH 1

typedef int (*replay_batch_fn)(void *ctx, const void *attrs, size_t len);

struct replay_reader {
	replay_batch_fn on_batch;
	void *ctx;
	int state;		/* header, record head, payload */
	struct buf buf;		/* the unit being read: len bytes of need */
	size_t need;
	uint32_t rec_len;
	uint16_t rec_kind;
	uint16_t version;
	int64_t boot_to_real_ns;
	bool have_header;
	uint64_t records, skipped;
	const char *error;
};

void replay_init(struct replay_reader *r, replay_batch_fn fn, void *ctx);
/* 0, or -EINVAL with r->error set; a callback's error stops it too. */
int replay_feed(struct replay_reader *r, const void *data, size_t len);
/* 0 when the stream ended on a record boundary, else -EINVAL. */
int replay_finish(struct replay_reader *r);
void replay_free(struct replay_reader *r);
/* Read a whole file (or "-" for stdin) through the reader. */
int replay_file(struct replay_reader *r, const char *path);

int replay_write_header(int fd, int64_t boot_to_real_ns);
int replay_write_batch(int fd, const void *attrs, size_t len);

/*
 * Building batches (tests, benchmarks, synthetic streams) in a struct buf;
 * an attribute too long for netlink sets err to -EMSGSIZE.
 */
struct iotsec_event;
/* Open a nest: returns its offset for abuf_nest_end. */
size_t abuf_nest_start(struct buf *b, uint16_t type);
void abuf_nest_end(struct buf *b, size_t off);
void abuf_put(struct buf *b, uint16_t type, const void *data, size_t len);
void abuf_put_u32(struct buf *b, uint16_t type, uint32_t v);
void abuf_put_u64(struct buf *b, uint16_t type, uint64_t v);
/* One event, as the kernel encodes it, inside an open IOTSEC_A_EVENTS. */
void iotsec_encode_event(struct buf *b, const struct iotsec_event *ev);

#endif /* IOTSEC_REPLAY_H */
