// SPDX-License-Identifier: MIT
/*
 * The spool: messages between serialization and MQTT, bounded, on disk.
 *
 * Layout. A directory (spool.path) of segment files "%016x.seg" (the
 * segment number, growing) and an empty "lock" file that an iotsecd holds
 * with flock() while it uses the directory. Each priority appends to its
 * own current segment, which rotates at seg_max (size / 16, from 4 KiB to
 * 1 MiB; a larger record gets a segment of its own). Keeping priorities
 * apart is what makes eviction free disk space: the oldest records of the
 * lowest priority sit together at the head of that priority's segments.
 *
 * Record (little-endian, SPOOL_HDR_SIZE = 64 bytes, then the payload):
 *
 *    0  u32  magic 0x52505349 ("ISPR")
 *    4  u8   version (1)
 *    5  u8   state: 'L' live, 'A' acknowledged, 'D' dropped
 *    6  u8   priority (enum prio, 1..3)
 *    7  u8   message kind (enum msg_kind)
 *    8  u32  payload length (<= SPOOL_MAX_PAYLOAD)
 *   12  u32  events in the message
 *   16  u64  sequence number (order of acceptance, across restarts)
 *   24  36B  message id (the UUID published as $.mid)
 *   60  u32  CRC-32C of bytes 0..59 with the state byte as 0, then the
 *            payload
 *
 * Records are written whole with one pwritev() when they are accepted
 * (so they survive a crash of the daemon in the page cache) and
 * fdatasync()ed every spool.sync (and at exit). Acknowledging or dropping
 * a record rewrites its state byte in place: the byte is outside the CRC,
 * a torn state write can only leave it 'L' (sent again: at least once).
 * A segment whose records are all done is unlinked, except a priority's
 * current segment, which is reclaimed when room is needed or it rotates.
 *
 * Recovery. Opening replays every segment: a record whose magic, version,
 * fields, length or CRC is wrong starts a corrupt region, and the scan
 * resynchronises on the next offset where a whole valid record starts, so
 * one flipped byte costs one record and a torn tail costs the tail (the
 * CRCs tried while resynchronising in one file are bounded to twice its
 * size, then the rest of it is one corrupt region). Each
 * region counts once in corrupt_records (and its bytes in corrupt_bytes).
 * Live records are indexed by priority in sequence order; the same
 * sequence number and id met twice is one record.
 *
 * Bound. spool.size caps the sum of the segment files' sizes (or, in
 * memory, of the records' would-be sizes). A record that does not fit
 * makes room by dropping the oldest record of the lowest priority stored
 * (low, then high, then alert), marked 'D' so a restart does not bring it
 * back; when everything stored outranks it, the new record is the one
 * dropped. Drops are counted per priority, messages and events.
 *
 * Memory. When the directory cannot be created, locked or written (EROFS,
 * EACCES, ENOSPC, EIO on write or fdatasync, another iotsecd holding it),
 * one error line names the path and the reason; the records on disk (at
 * the start too, when the directory can be read but not written) are
 * read into memory and the spool goes on in memory under the same bound
 * and rules, counting write_errors, and tries the disk again every
 * SPOOL_RETRY_MS. Meanwhile the directory stays open and locked: a
 * record read back from a segment left behind ("stale") that is then
 * acknowledged or dropped is marked there all the same, and a stale
 * segment with nothing live left is unlinked, so a restart brings back
 * only what is pending. When the disk works again, it says so once,
 * takes the stale segments back as they are (their records live there
 * again: nothing synced is ever only in memory), picks up the
 * directory's other records and writes back those that were only ever
 * in memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
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

struct seg {
	struct seg *next;		/* by number */
	uint64_t no;
	uint64_t size;			/* bytes in the file */
	uint32_t live;			/* indexed records in it */
	int fd;				/* current segments only, else -1 */
	bool dirty;			/* written since the last sync */
};

struct spool {
	char *path;			/* NULL: memory only by configuration */
	uint64_t size, sync_ms, seg_max;
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

static void nolog(int level, const char *fmt, ...)
{
}

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];

uint32_t spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			crc_table[i] = c;
		}
	}
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian fields ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t rec_crc(const uint8_t *hdr, const void *payload, size_t len)
{
	uint8_t h[OFF_CRC];

	memcpy(h, hdr, OFF_CRC);
	h[OFF_STATE] = 0;
	return spool_crc32c(spool_crc32c(0, h, OFF_CRC), payload, len);
}

static void rec_header(uint8_t *h, const struct spool_rec *r,
		       const void *payload)
{
	memset(h, 0, SPOOL_HDR_SIZE);
	put32(h, REC_MAGIC);
	h[4] = REC_VERSION;
	h[OFF_STATE] = ST_LIVE;
	h[6] = r->prio;
	h[7] = r->kind;
	put32(h + 8, r->len);
	put32(h + 12, r->events);
	put64(h + 16, r->seq);
	memcpy(h + 24, r->id, 36);
	put32(h + OFF_CRC, rec_crc(h, payload, r->len));
}

static bool id_ok(const uint8_t *id)
{
	for (int i = 0; i < 36; i++)
		if (id[i] <= ' ' || id[i] >= 0x7f || id[i] == '"')
			return false;
	return true;
}

/*
 * A whole valid record at OFF of BUF (LEN bytes)? The payload bytes
 * that went through the CRC are added to *CRC_BYTES.
 */
static bool rec_valid(const uint8_t *buf, size_t len, size_t off,
		      uint64_t *crc_bytes)
{
	const uint8_t *h = buf + off;
	uint32_t plen;

	if (len - off < SPOOL_HDR_SIZE || get32(h) != REC_MAGIC ||
	    h[4] != REC_VERSION || h[6] < PRIO_LOW || h[6] > PRIO_ALERT ||
	    h[7] >= MSG_KIND_N)
		return false;
	plen = get32(h + 8);
	if (plen > SPOOL_MAX_PAYLOAD || len - off - SPOOL_HDR_SIZE < plen ||
	    !id_ok(h + 24))
		return false;
	*crc_bytes += plen;
	return get32(h + OFF_CRC) == rec_crc(h, h + SPOOL_HDR_SIZE, plen);
}

/*
 * R's payload into BUF (R->len bytes) from FD: what the disk gives back
 * is checked again, against the header and the CRC.
 */
static bool rec_read(const struct spool_rec *r, int fd, char *buf)
{
	uint8_t h[SPOOL_HDR_SIZE];

	return fd >= 0 && pread(fd, h, sizeof(h), r->off) == sizeof(h) &&
	       pread(fd, buf, r->len, r->off + SPOOL_HDR_SIZE) ==
	       (ssize_t)r->len && get32(h) == REC_MAGIC &&
	       get32(h + 8) == r->len && get64(h + 16) == r->seq &&
	       get32(h + OFF_CRC) == rec_crc(h, buf, r->len);
}

/* ---- the index ---- */

static uint64_t rec_bytes(const struct spool_rec *r)
{
	return SPOOL_HDR_SIZE + (uint64_t)r->len;
}

static uint64_t used(const struct spool *s)
{
	return s->disk ? s->disk_bytes : s->mem_bytes;
}

/*
 * Into its priority's list by sequence number (nearly always the tail).
 * False when the same record (sequence number and id) is there already.
 */
static bool index_insert(struct spool *s, struct spool_rec *r)
{
	struct spool_rec *at = s->tail[r->prio];

	while (at && at->seq >= r->seq) {
		if (at->seq == r->seq && !memcmp(at->id, r->id, 36))
			return false;
		at = at->prev;
	}
	r->prev = at;
	r->next = at ? at->next : s->head[r->prio];
	if (r->next)
		r->next->prev = r;
	else
		s->tail[r->prio] = r;
	if (at)
		at->next = r;
	else
		s->head[r->prio] = r;
	s->n_records++;
	if (r->seq >= s->next_seq)
		s->next_seq = r->seq + 1;
	return true;
}

static void inflight_del(struct spool *s, struct spool_rec *r)
{
	for (size_t i = 0; i < s->n_inflight; i++) {
		if (s->inflight[i] == r) {
			s->inflight[i] = s->inflight[--s->n_inflight];
			break;
		}
	}
	r->inflight = false;
}

/* ---- disk helpers ---- */

static void disk_error(struct spool *s, const char *what, int err)
{
	s->st.write_errors++;
	if (!s->fail_errno) {
		s->fail_errno = err ? err : EIO;
		s->fail_what = what;
	}
}

static void seg_name(char name[32], uint64_t no)
{
	snprintf(name, 32, "%016" PRIx64 ".seg", no);
}

static int seg_open(struct spool *s, struct seg *g)
{
	char name[32];

	if (g->fd >= 0)
		return g->fd;
	seg_name(name, g->no);
	return openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
}

static void seg_put(struct seg *g, int fd)
{
	if (fd >= 0 && fd != g->fd)
		close(fd);
}

static bool is_current(const struct spool *s, const struct seg *g)
{
	for (int p = 0; p < PRIO_N; p++)
		if (s->cur[p] == g)
			return true;
	return false;
}

/* Unlink G and forget it. */
static void seg_kill(struct spool *s, struct seg *g)
{
	struct seg **pp;
	char name[32];

	for (int p = 0; p < PRIO_N; p++)
		if (s->cur[p] == g)
			s->cur[p] = NULL;
	for (pp = &s->segs; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	if (g->fd >= 0)
		close(g->fd);
	seg_name(name, g->no);
	if (s->dirfd >= 0 && unlinkat(s->dirfd, name, 0) && errno != ENOENT)
		disk_error(s, "unlinking a segment", errno);
	s->dirty_dir = true;
	s->disk_bytes -= g->size;
	free(g);
}

/* Write state byte ST of R in its segment, or unlink a finished one. */
static void rec_mark(struct spool *s, struct spool_rec *r, uint8_t st)
{
	struct seg *g = r->seg;
	int fd;

	if (--g->live == 0 && !is_current(s, g)) {
		seg_kill(s, g);
		return;
	}
	fd = seg_open(s, g);
	if (fd < 0 || pwrite(fd, &st, 1, r->off + OFF_STATE) != 1)
		disk_error(s, "marking a record", errno);
	seg_put(g, fd);
	g->dirty = true;
}

/* Best effort: a stale segment is done with. */
static void stale_unlink(struct spool *s, struct seg *g)
{
	char name[32];

	seg_name(name, g->no);
	if (s->dirfd >= 0)
		unlinkat(s->dirfd, name, 0);
	free(g);
}

/* A record read from a stale segment is done: say so there too. */
static void stale_mark(struct spool *s, struct spool_rec *r, uint8_t st)
{
	struct seg *g = r->stale, **pp;
	int fd;

	r->stale = NULL;
	if (--g->live == 0) {
		for (pp = &s->stale; *pp; pp = &(*pp)->next) {
			if (*pp == g) {
				*pp = g->next;
				break;
			}
		}
		stale_unlink(s, g);
		return;
	}
	fd = s->dirfd >= 0 ? seg_open(s, g) : -1;
	if (fd >= 0) {
		if (pwrite(fd, &st, 1, r->off + OFF_STATE) != 1)
			s->st.write_errors++;
		close(fd);
	}
}

/* Forget the stale segments (their files are gone, or not ours now). */
static void stale_forget(struct spool *s)
{
	for (int p = PRIO_LOW; p < PRIO_N; p++)
		for (struct spool_rec *r = s->head[p]; r; r = r->next)
			r->stale = NULL;
	while (s->stale) {
		struct seg *g = s->stale;

		s->stale = g->next;
		free(g);
	}
}

/* Out of the index and the store; ST says why (acked or dropped). */
static void rec_remove(struct spool *s, struct spool_rec *r, uint8_t st)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		s->head[r->prio] = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		s->tail[r->prio] = r->prev;
	if (r->inflight)
		inflight_del(s, r);
	if (r->seg) {
		rec_mark(s, r, st);
	} else {
		s->mem_bytes -= rec_bytes(r);
		free(r->payload);
		if (r->stale)
			stale_mark(s, r, st);
	}
	s->n_records--;
	free(r);
}

static void note_drop(struct spool *s, enum prio p, unsigned int events)
{
	s->st.dropped_messages[p]++;
	s->st.dropped_events[p] += events;
}

static void log_drops(struct spool *s, uint64_t now_ms, bool force)
{
	uint64_t n = 0, e = 0;

	for (int p = 0; p < PRIO_N; p++) {
		n += s->st.dropped_messages[p];
		e += s->st.dropped_events[p];
	}
	if (n == s->drops_logged || (!force && now_ms < s->next_drop_log_ms))
		return;
	s->log(LOG_WARNING, "spool%s%s full (%" PRIu64 " bytes): dropped %"
	       PRIu64 " message(s) so far (%" PRIu64 " events: low %" PRIu64
	       ", high %" PRIu64 ", alert %" PRIu64 "), lowest priority and "
	       "oldest first", s->path ? " " : "", s->path ? s->path : "",
	       s->size, n, e, s->st.dropped_events[PRIO_LOW],
	       s->st.dropped_events[PRIO_HIGH],
	       s->st.dropped_events[PRIO_ALERT]);
	s->drops_logged = n;
	s->next_drop_log_ms = now_ms + DROP_LOG_MS;
}

static void rec_drop(struct spool *s, struct spool_rec *r)
{
	note_drop(s, r->prio, r->events);
	rec_remove(s, r, ST_DROPPED);
}

/* Current segments with nothing live in them give their bytes back. */
static bool reclaim_current(struct spool *s)
{
	bool any = false;

	for (int p = 0; p < PRIO_N; p++) {
		if (s->cur[p] && !s->cur[p]->live) {
			seg_kill(s, s->cur[p]);
			any = true;
		}
	}
	return any;
}

/*
 * Room for NEED more bytes for a record of priority PRIO, dropping the
 * oldest records of the lowest priority. False when the newcomer is the
 * one to go (everything left outranks it or is in flight, or SELF, the
 * record being placed, is itself the oldest of the lowest priority).
 *
 * A record in flight is never the one dropped: libmosquitto holds it and
 * sends it again on the reconnect whatever the spool does, so dropping
 * it would count as lost a message that is delivered (and its PUBACK
 * then finds nothing). At most INFLIGHT_MAX of them are in the way.
 */
static bool make_room(struct spool *s, int prio, uint64_t need,
		      const struct spool_rec *self)
{
	if (used(s) + need > s->size && s->disk)
		reclaim_current(s);
	while (used(s) + need > s->size) {
		struct spool_rec *v = NULL;

		for (int p = PRIO_LOW; p < PRIO_N && !v; p++)
			for (v = s->head[p]; v && v->inflight; v = v->next)
				;
		if (!v || v->prio > prio || v == self)
			return false;
		rec_drop(s, v);
		if (s->disk)
			reclaim_current(s);
	}
	return true;
}

static struct seg *seg_new(struct spool *s)
{
	struct seg *g, **pp;
	char name[32];
	int fd = -1;

	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		seg_name(name, s->next_seg++);
		fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL |
			    O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		disk_error(s, "creating a segment", errno);
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(fd);
		unlinkat(s->dirfd, name, 0);
		disk_error(s, "creating a segment", ENOMEM);
		return NULL;
	}
	g->no = s->next_seg - 1;
	g->fd = fd;
	for (pp = &s->segs; *pp; pp = &(*pp)->next)
		;
	*pp = g;
	s->dirty_dir = true;
	return g;
}

/* R (with PAYLOAD) at the end of its priority's current segment. */
static int rec_write(struct spool *s, struct spool_rec *r, const void *payload)
{
	uint8_t h[SPOOL_HDR_SIZE];
	struct seg *g = s->cur[r->prio];
	struct iovec iov[2];
	uint64_t need = rec_bytes(r);
	ssize_t n;

	if (g && g->size && g->size + need > s->seg_max) {
		s->cur[r->prio] = NULL;
		if (!g->live)
			seg_kill(s, g);
		g = NULL;
	}
	if (!g) {
		g = seg_new(s);
		if (!g)
			return -1;
		s->cur[r->prio] = g;
	}
	rec_header(h, r, payload);
	iov[0] = (struct iovec){ h, sizeof(h) };
	iov[1] = (struct iovec){ (void *)payload, r->len };
	n = pwritev(g->fd, iov, 2, g->size);
	if (n >= 0 && n < (ssize_t)need) {
		/* the rest, to learn why it stopped (ENOSPC, EFBIG, EIO) */
		uint8_t *all = malloc(need);

		errno = ENOSPC;
		if (all) {
			memcpy(all, h, sizeof(h));
			memcpy(all + sizeof(h), payload, r->len);
			while (n >= 0 && n < (ssize_t)need) {
				ssize_t k = pwrite(g->fd, all + n, need - n,
						   g->size + n);

				if (k <= 0)
					break;
				n += k;
			}
			free(all);
		}
	}
	if (n != (ssize_t)need) {
		disk_error(s, "writing", errno ? errno : ENOSPC);
		/* no torn tail from us if it can be helped */
		if (ftruncate(g->fd, g->size) == 0)
			g->dirty = true;
		return -1;
	}
	/*
	 * Written whole, so it is in the file whatever the sync says: a
	 * failed sync is a disk error, and the record is read back from
	 * there (go_memory()) like the others, not left untracked in it.
	 */
	g->dirty = s->sync_ms != 0;
	if (!s->sync_ms) {
		if (fdatasync(g->fd) || (s->dirty_dir && fsync(s->dirfd))) {
			disk_error(s, "syncing", errno);
			g->dirty = true;
		} else {
			s->dirty_dir = false;
		}
	}
	r->seg = g;
	r->off = g->size;
	g->size += need;
	g->live++;
	s->disk_bytes += need;
	return 0;
}

/* ---- disk on and off ---- */

static void dir_release(struct spool *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->lockfd = s->dirfd = -1;
}

static void disk_close(struct spool *s)
{
	while (s->segs) {
		struct seg *g = s->segs;

		s->segs = g->next;
		if (g->fd >= 0)
			close(g->fd);
		free(g);
	}
	memset(s->cur, 0, sizeof(s->cur));
	s->disk_bytes = 0;
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->lockfd = s->dirfd = -1;
	s->disk = false;
}

/*
 * Everything to memory after a disk failure: each record's bytes are read
 * back (those that cannot be are dropped and counted); the files stay,
 * as stale segments, with the directory open and locked.
 */
static void go_memory(struct spool *s, uint64_t now_ms)
{
	uint64_t lost = 0;

	/* a retry that fails the same way again is not news */
	if (!s->retrying || s->fail_errno != s->retry_errno)
		s->log(LOG_ERR, "spool %s: %s: %s; keeping messages in memory "
		       "(at most %" PRIu64 " bytes) and trying the disk again "
		       "every %d s", s->path, s->fail_what ? s->fail_what :
		       "error", strerror(s->fail_errno), s->size,
		       SPOOL_RETRY_MS / 1000);
	s->retry_errno = s->fail_errno;
	/* nothing is appended any more */
	memset(s->cur, 0, sizeof(s->cur));
	/*
	 * The segments stay, as stale (their records point at them from
	 * memory, see stale_mark()); those already done go.
	 */
	while (s->segs) {
		struct seg *g = s->segs;

		s->segs = g->next;
		if (g->fd >= 0)
			close(g->fd);
		g->fd = -1;
		if (!g->live) {
			stale_unlink(s, g);
			continue;
		}
		g->next = s->stale;
		s->stale = g;
	}
	for (int p = PRIO_LOW; p < PRIO_N; p++) {
		struct spool_rec *r, *next;

		for (r = s->head[p]; r; r = next) {
			int fd;

			next = r->next;
			if (!r->seg)
				continue;
			r->payload = malloc(r->len + 1);
			if (r->payload)
				r->payload[r->len] = '\0';
			fd = seg_open(s, r->seg);
			r->stale = r->seg;
			r->seg = NULL;
			s->mem_bytes += rec_bytes(r);
			if (!r->payload || !rec_read(r, fd, r->payload)) {
				if (fd >= 0)
					close(fd);
				s->st.corrupt_records++;
				s->st.corrupt_bytes += rec_bytes(r);
				rec_drop(s, r);
				lost++;
				continue;
			}
			close(fd);
		}
	}
	s->disk_bytes = 0;
	s->disk = false;
	/* dirfd and the lock stay: the directory is still ours */
	if (lost)
		s->log(LOG_ERR, "spool %s: %" PRIu64 " message(s) could not be "
		       "read back and are dropped", s->path, lost);
	make_room(s, PRIO_N, 0, NULL);
	s->fail_errno = 0;
	s->next_retry_ms = now_ms + SPOOL_RETRY_MS;
}

/* After a public call: a failed disk operation means memory from now. */
static void settle(struct spool *s, uint64_t now_ms)
{
	if (s->fail_errno && s->disk)
		go_memory(s, now_ms);
	s->fail_errno = 0;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* Index the live records of one segment file (FD, closed here). */
static void load_seg(struct spool *s, int fd, uint64_t no, uint64_t *loaded)
{
	struct stat st;
	struct seg *g, **pp;
	uint8_t *buf = NULL;
	size_t len, off = 0;
	uint64_t crc_bytes = 0, resync_bytes = 0;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(fd);
		return;
	}
	g->no = no;
	g->fd = -1;
	g->size = st.st_size;
	len = st.st_size;
	if (len) {
		buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (buf == MAP_FAILED) {
			/* not read is not empty: never unlink it */
			disk_error(s, "reading a segment", errno);
			close(fd);
			free(g);
			return;
		}
	}
	close(fd);
	while (buf && off < len) {
		const uint8_t *h = buf + off;
		struct spool_rec *r;
		size_t bad;

		if (!rec_valid(buf, len, off, &crc_bytes)) {
			/*
			 * Resynchronise on the next whole valid record. Fake
			 * headers claiming long payloads would cost a CRC of
			 * up to 1 MiB each: past twice the file's size in
			 * them, the rest of the file is one corrupt region.
			 */
			for (bad = off + 1; bad < len; bad++) {
				const uint8_t *m = memmem(buf + bad, len - bad,
							  "ISPR", 4);

				if (!m || resync_bytes > 2 * (uint64_t)len) {
					bad = len;
					break;
				}
				bad = m - buf;
				if (rec_valid(buf, len, bad, &resync_bytes))
					break;
			}
			s->st.corrupt_records++;
			s->st.corrupt_bytes += bad - off;
			off = bad;
			continue;
		}
		off += SPOOL_HDR_SIZE + get32(h + 8);
		if (get64(h + 16) >= s->next_seq)
			s->next_seq = get64(h + 16) + 1;
		if (h[OFF_STATE] == ST_ACKED || h[OFF_STATE] == ST_DROPPED)
			continue;
		r = calloc(1, sizeof(*r));
		if (!r)
			continue;
		r->seg = g;
		r->off = h - buf;
		r->seq = get64(h + 16);
		r->len = get32(h + 8);
		r->events = get32(h + 12);
		r->prio = h[6];
		r->kind = h[7];
		r->mid = -1;
		r->recovered = s->opening;
		memcpy(r->id, h + 24, 36);
		if (!index_insert(s, r)) {
			free(r);
			continue;
		}
		g->live++;
		(*loaded)++;
	}
	if (buf)
		munmap(buf, len);
	for (pp = &s->segs; *pp && (*pp)->no < no; pp = &(*pp)->next)
		;
	g->next = *pp;
	*pp = g;
	s->disk_bytes += g->size;
	if (no >= s->next_seg)
		s->next_seg = no + 1;
	if (!g->live)
		seg_kill(s, g);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct seg *find_stale(const struct spool *s, uint64_t no)
{
	for (struct seg *g = s->stale; g; g = g->next)
		if (g->no == no)
			return g;
	return NULL;
}

/*
 * A stale segment is back in use: its file never went, so its records
 * live there again (the memory copies go) and it counts in the bound.
 */
static void seg_adopt(struct spool *s, struct seg *g)
{
	struct seg **pp;

	for (pp = &s->stale; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	for (pp = &s->segs; *pp && (*pp)->no < g->no; pp = &(*pp)->next)
		;
	g->next = *pp;
	*pp = g;
	g->fd = -1;
	g->dirty = true;	/* perhaps never synced before it failed */
	s->dirty_dir = true;
	s->disk_bytes += g->size;
	for (int p = PRIO_LOW; p < PRIO_N; p++) {
		for (struct spool_rec *r = s->head[p]; r; r = r->next) {
			if (r->stale != g)
				continue;
			r->seg = g;
			r->stale = NULL;
			s->mem_bytes -= rec_bytes(r);
			free(r->payload);
			r->payload = NULL;
		}
	}
}

static bool seg_file(const char *name, uint64_t *no)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") ||
	    strspn(name, "0123456789abcdef") != 16)
		return false;
	*no = strtoull(name, &end, 16);
	return end == name + 16;
}

/*
 * Take the directory: create, lock, load what is there, then write the
 * records held in memory. 0; -errno with s->fail_what set; 1 when it
 * failed half way and went back to memory (logged).
 */
static int disk_attach(struct spool *s, uint64_t now_ms, bool first)
{
	uint64_t loaded = 0, c0 = s->st.corrupt_records;
	uint64_t cb0 = s->st.corrupt_bytes, *nos = NULL;
	size_t n_nos = 0, cap_nos = 0;
	struct dirent *de;
	int ret, fd, probe_err = 0;
	bool held;
	DIR *dir;

	/*
	 * Back from memory after a write failure, the directory is still
	 * open and locked (stale segments are marked through it): keep it,
	 * also when this try fails.
	 */
	held = s->dirfd >= 0 && s->lockfd >= 0;
	if (!held) {
		dir_release(s);
		ret = mkdir_p(s->path);
		if (ret) {
			s->fail_what = "cannot create the directory";
			return ret;
		}
		s->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->dirfd < 0) {
			ret = -errno;
			s->fail_what = "cannot open the directory";
			return ret;
		}
		s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT |
				   O_CLOEXEC | O_NOFOLLOW, 0600);
		if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB)) {
			ret = -errno;
			s->fail_what = errno == EWOULDBLOCK ?
				       "in use by another process" :
				       "cannot lock it";
			dir_release(s);
			return ret;
		}
	}
	/*
	 * A probe, so that a read-only or full disk shows now. At the start
	 * the records already there are loaded all the same (into memory,
	 * below); a retry just tries again later.
	 */
	errno = 0;
	fd = openat(s->dirfd, "probe", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1) {
		probe_err = errno ? errno : ENOSPC;
		if (fd >= 0)
			close(fd);
		unlinkat(s->dirfd, "probe", 0);
		if (!first) {
			s->fail_what = "cannot write in it";
			if (!held)
				dir_release(s);
			return -probe_err;
		}
	} else {
		close(fd);
		unlinkat(s->dirfd, "probe", 0);
	}
	fd = dup(s->dirfd);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	/* the dup shares the offset, at the end since the last listing */
	if (dir)
		rewinddir(dir);
	if (!dir) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		s->fail_what = "cannot read the directory";
		if (!held)
			dir_release(s);
		return ret;
	}
	/* by number: records then come in order, each at its list's tail */
	while ((de = readdir(dir))) {
		uint64_t no, *n;

		if (!seg_file(de->d_name, &no))
			continue;
		if (n_nos == cap_nos) {
			cap_nos = cap_nos ? cap_nos * 2 : 64;
			n = realloc(nos, cap_nos * sizeof(*nos));
			if (!n) {
				free(nos);
				closedir(dir);
				s->fail_what = "cannot read the directory";
				if (!held)
					dir_release(s);
				return -ENOMEM;
			}
			nos = n;
		}
		nos[n_nos++] = no;
	}
	closedir(dir);
	if (n_nos)
		qsort(nos, n_nos, sizeof(*nos), cmp_u64);
	s->disk = true;
	for (size_t i = 0; i < n_nos; i++) {
		struct seg *g = find_stale(s, nos[i]);
		char name[32];

		seg_name(name, nos[i]);
		if (nos[i] >= s->next_seg)
			s->next_seg = nos[i] + 1;
		if (g) {
			/* ours, still there: its records live there again */
			seg_adopt(s, g);
			continue;
		}
		fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			load_seg(s, fd, nos[i], &loaded);
	}
	free(nos);
	/* stale segments whose files went: their records are memory ones */
	stale_forget(s);
	/* at a retry too: records another process left are new to us */
	s->st.recovered_records += loaded;
	if (s->st.corrupt_records != c0)
		s->log(LOG_WARNING, "spool %s: recovered %" PRIu64
		       " message(s) not yet acknowledged; skipped corrupt "
		       "data in %" PRIu64
		       " place(s), %" PRIu64 " bytes", s->path, loaded,
		       s->st.corrupt_records - c0, s->st.corrupt_bytes - cb0);
	else if (loaded)
		s->log(LOG_NOTICE, "spool %s: recovered %" PRIu64 " message(s) "
		       "not yet acknowledged", s->path, loaded);
	if (probe_err)
		disk_error(s, "cannot write in it", probe_err);
	/* a smaller bound than last time, or someone else's records */
	make_room(s, PRIO_N, 0, NULL);
	/* what was held in memory goes to disk, highest priority first */
	for (int p = PRIO_ALERT; p >= PRIO_LOW && !s->fail_errno; p--) {
		struct spool_rec *r, *next;

		/*
		 * make_room() may free any other record of this list (R's
		 * next too): R's neighbour is read only once it is done.
		 */
		for (r = s->head[p]; r && !s->fail_errno; r = next) {
			if (r->seg) {
				next = r->next;
				continue;
			}
			if (!make_room(s, r->prio, rec_bytes(r), r)) {
				next = r->next;
				/* in flight: never dropped, stays in memory */
				if (!r->inflight)
					rec_drop(s, r);
				continue;
			}
			if (rec_write(s, r, r->payload))
				break;
			s->mem_bytes -= rec_bytes(r);
			free(r->payload);
			r->payload = NULL;
			next = r->next;
		}
	}
	if (s->fail_errno) {
		go_memory(s, now_ms);
		return 1;	/* said so already */
	}
	if (!first)
		s->log(LOG_NOTICE, "spool %s: writable again; %" PRIu64
		       " message(s) on disk", s->path, s->n_records);
	s->next_sync_ms = now_ms + s->sync_ms;
	return 0;
}

/* ---- public ---- */

int spool_open(struct spool **sp, const struct spool_config *cfg,
	       spool_log_fn log, uint64_t now_ms)
{
	struct spool *s;
	int ret;

	*sp = NULL;
	if (cfg->size < SPOOL_MIN_SIZE)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->log = log ? log : nolog;
	s->size = cfg->size;
	s->sync_ms = cfg->sync_ms;
	s->seg_max = cfg->size / 16;
	if (s->seg_max < SEG_MIN)
		s->seg_max = SEG_MIN;
	if (s->seg_max > SEG_MAX)
		s->seg_max = SEG_MAX;
	s->dirfd = s->lockfd = -1;
	s->now_ms = now_ms;
	s->next_seq = 1;
	s->next_seg = 1;
	if (cfg->path && *cfg->path) {
		s->path = strdup(cfg->path);
		if (!s->path) {
			free(s);
			return -ENOMEM;
		}
		s->opening = true;
		ret = disk_attach(s, now_ms, true);
		s->opening = false;
		if (ret < 0) {
			s->st.write_errors++;
			s->log(LOG_ERR, "spool %s: %s: %s; keeping messages in "
			       "memory (at most %" PRIu64 " bytes) and trying "
			       "the disk again every %d s", s->path,
			       s->fail_what, strerror(-ret), s->size,
			       SPOOL_RETRY_MS / 1000);
			s->retry_errno = -ret;
			s->next_retry_ms = now_ms + SPOOL_RETRY_MS;
		}
	}
	s->fail_errno = 0;
	*sp = s;
	return 0;
}

void spool_sync(struct spool *s)
{
	if (!s || !s->disk)
		return;
	for (struct seg *g = s->segs; g; g = g->next) {
		int fd;

		if (!g->dirty)
			continue;
		fd = seg_open(s, g);
		if (fd < 0 || fdatasync(fd))
			disk_error(s, "syncing", errno);
		seg_put(g, fd);
		g->dirty = false;
	}
	if (s->dirty_dir && fsync(s->dirfd))
		disk_error(s, "syncing the directory", errno);
	s->dirty_dir = false;
}

void spool_close(struct spool *s)
{
	struct spool_rec *r, *next;
	uint64_t mem = 0;

	if (!s)
		return;
	if (s->disk) {
		reclaim_current(s);
		spool_sync(s);
	}
	log_drops(s, 0, true);
	/* in memory and nowhere else (a stale file still has the others) */
	for (int p = 0; p < PRIO_N; p++)
		for (r = s->head[p]; r; r = r->next)
			if (!r->seg && !r->stale)
				mem++;
	stale_forget(s);
	for (int p = 0; p < PRIO_N; p++) {
		for (r = s->head[p]; r; r = next) {
			next = r->next;
			free(r->payload);
			free(r);
		}
	}
	if (mem)
		s->log(LOG_WARNING, "spool%s%s: %" PRIu64 " message(s) held "
		       "in memory are lost at exit", s->path ? " " : "",
		       s->path ? s->path : "", mem);
	disk_close(s);
	free(s->inflight);
	free(s->scratch);
	free(s->path);
	free(s);
}

int spool_append(struct spool *s, enum prio prio, enum msg_kind kind,
		 unsigned int events, const char id[37], const void *buf,
		 size_t len, uint64_t now_ms)
{
	struct spool_rec *r;
	uint64_t need = SPOOL_HDR_SIZE + (uint64_t)len;

	s->now_ms = now_ms;
	if (prio < PRIO_LOW || prio > PRIO_ALERT)
		prio = PRIO_HIGH;
	/* every message offered, refused ones too (they count as dropped) */
	s->st.written++;
	if (len > SPOOL_MAX_PAYLOAD || need > s->size) {
		note_drop(s, prio, events);
		log_drops(s, now_ms, false);
		return -EMSGSIZE;
	}
	if (!make_room(s, prio, need, NULL)) {
		note_drop(s, prio, events);
		log_drops(s, now_ms, false);
		settle(s, now_ms);
		return -ENOSPC;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		note_drop(s, prio, events);
		return -ENOSPC;
	}
	r->seq = s->next_seq;
	r->len = len;
	r->events = events;
	r->prio = prio;
	r->kind = kind;
	r->mid = -1;
	memcpy(r->id, id, 36);
	if (!s->disk || rec_write(s, r, buf)) {
		r->payload = malloc(len + 1);
		if (!r->payload) {
			free(r);
			note_drop(s, prio, events);
			settle(s, now_ms);
			return -ENOSPC;
		}
		memcpy(r->payload, buf, len);
		r->payload[len] = '\0';
		s->mem_bytes += need;
	}
	index_insert(s, r);
	log_drops(s, now_ms, false);
	settle(s, now_ms);
	return 0;
}

struct spool_rec *spool_next(struct spool *s)
{
	/* a previous run's records first: they sit at the heads */
	for (int p = PRIO_ALERT; p >= PRIO_LOW; p--)
		for (struct spool_rec *r = s->head[p]; r && r->recovered;
		     r = r->next)
			if (!r->inflight)
				return r;
	for (int p = PRIO_ALERT; p >= PRIO_LOW; p--)
		for (struct spool_rec *r = s->head[p]; r; r = r->next)
			if (!r->inflight)
				return r;
	return NULL;
}

const char *spool_payload(struct spool *s, struct spool_rec *r)
{
	const char *ret = NULL;
	int fd;

	if (!r->seg)
		return r->payload ? r->payload : "";
	if (s->scratch_cap < r->len + 1) {
		char *n = realloc(s->scratch, r->len + 1);

		if (!n)
			return NULL;
		s->scratch = n;
		s->scratch_cap = r->len + 1;
	}
	fd = seg_open(s, r->seg);
	if (rec_read(r, fd, s->scratch))
		ret = s->scratch;
	seg_put(r->seg, fd);
	if (!ret) {
		s->log(LOG_ERR, "spool %s: a stored message (sequence %" PRIu64
		       ") does not read back intact; dropped", s->path, r->seq);
		s->st.corrupt_records++;
		s->st.corrupt_bytes += rec_bytes(r);
		rec_drop(s, r);
		settle(s, s->now_ms);
		return NULL;
	}
	s->scratch[r->len] = '\0';
	return ret;
}

int spool_set_inflight(struct spool *s, struct spool_rec *r, int mid)
{
	if (!r->inflight) {
		if (s->n_inflight == s->inflight_cap) {
			size_t cap = s->inflight_cap ? s->inflight_cap * 2 : 32;
			struct spool_rec **n = realloc(s->inflight,
						       cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			s->inflight = n;
			s->inflight_cap = cap;
		}
		s->inflight[s->n_inflight++] = r;
	}
	r->inflight = true;
	r->mid = mid;
	return 0;
}

int spool_ack_mid(struct spool *s, int mid)
{
	for (size_t i = 0; i < s->n_inflight; i++) {
		struct spool_rec *r = s->inflight[i];

		if (r->mid != mid)
			continue;
		s->st.acked++;
		rec_remove(s, r, ST_ACKED);
		settle(s, s->now_ms);
		return 0;
	}
	return -ENOENT;
}

void spool_discard(struct spool *s, struct spool_rec *r)
{
	rec_drop(s, r);
	settle(s, s->now_ms);
}

void spool_requeue_inflight(struct spool *s)
{
	while (s->n_inflight) {
		struct spool_rec *r = s->inflight[--s->n_inflight];

		r->inflight = false;
		r->mid = -1;
	}
}

uint64_t spool_tick(struct spool *s, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	s->now_ms = now_ms;
	log_drops(s, now_ms, false);
	if (s->disk && (!s->sync_ms || now_ms >= s->next_sync_ms)) {
		/* sync 0: records were synced as written, marks are now */
		spool_sync(s);
		s->next_sync_ms = now_ms + s->sync_ms;
		settle(s, now_ms);
	}
	if (s->disk && s->sync_ms)
		next = s->next_sync_ms - now_ms;
	if (!s->disk && s->path) {
		if (now_ms >= s->next_retry_ms) {
			int ret;

			s->retrying = true;
			ret = disk_attach(s, now_ms, false);
			s->retrying = false;

			if (ret < 0) {
				/* a new reason is worth a line, the same not */
				s->st.write_errors++;
				if (-ret != s->retry_errno)
					s->log(LOG_ERR, "spool %s: still not "
					       "usable: %s: %s", s->path,
					       s->fail_what, strerror(-ret));
				s->retry_errno = -ret;
				s->next_retry_ms = now_ms + SPOOL_RETRY_MS;
			}
			s->fail_errno = 0;
		}
		if (!s->disk && s->next_retry_ms - now_ms < next)
			next = s->next_retry_ms - now_ms;
	}
	if (s->drops_logged != s->st.dropped_messages[0] +
	    s->st.dropped_messages[1] + s->st.dropped_messages[2] +
	    s->st.dropped_messages[3] && s->next_drop_log_ms > now_ms &&
	    s->next_drop_log_ms - now_ms < next)
		next = s->next_drop_log_ms - now_ms;
	return next;
}

void spool_get_stats(const struct spool *s, struct spool_stats *st)
{
	*st = s->st;
	st->disk = s->disk;
	st->bytes = s->disk_bytes + s->mem_bytes;
	st->records = s->n_records;
	st->inflight = s->n_inflight;
	st->pending = s->n_records - s->n_inflight;
}

size_t spool_inflight(const struct spool *s)
{
	return s->n_inflight;
}

uint64_t spool_records(const struct spool *s)
{
	return s->n_records;
}

bool spool_on_disk(const struct spool *s)
{
	return s->disk;
}

const char *spool_path(const struct spool *s)
{
	return s->path ? s->path : "";
}
