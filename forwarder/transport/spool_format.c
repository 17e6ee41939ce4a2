// SPDX-License-Identifier: MIT
/*
 * Segment files and the records in them.
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
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "transport/spool_priv.h"

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

/* ---- records ---- */

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
 * is checked again, against the header and the CRC. False with errno set
 * when the read failed (EIO), with errno 0 when the bytes are wrong.
 */
bool spool_rec_read(const struct spool_rec *r, int fd, char *buf)
{
	uint8_t h[SPOOL_HDR_SIZE];

	errno = 0;
	return fd >= 0 && pread(fd, h, sizeof(h), r->off) == sizeof(h) &&
	       pread(fd, buf, r->len, r->off + SPOOL_HDR_SIZE) ==
	       (ssize_t)r->len && get32(h) == REC_MAGIC &&
	       get32(h + 8) == r->len && get64(h + 16) == r->seq &&
	       get32(h + OFF_CRC) == rec_crc(h, buf, r->len);
}

/* ---- segments ---- */

void spool_seg_name(char name[32], uint64_t no)
{
	snprintf(name, 32, "%016" PRIx64 ".seg", no);
}

/* NAME is a segment file: its number in *NO. */
bool spool_seg_file(const char *name, uint64_t *no)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") ||
	    strspn(name, "0123456789abcdef") != 16)
		return false;
	*no = strtoull(name, &end, 16);
	return end == name + 16;
}

/* G's descriptor: its own when current, else a new one for spool_seg_put(). */
int spool_seg_open(struct spool *s, struct seg *g)
{
	char name[32];

	if (g->fd >= 0)
		return g->fd;
	spool_seg_name(name, g->no);
	return openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
}

void spool_seg_put(struct seg *g, int fd)
{
	if (fd >= 0 && fd != g->fd)
		close(fd);
}

/* Into LIST, which is kept by number. */
void spool_seg_insert(struct seg **list, struct seg *g)
{
	struct seg **pp;

	for (pp = list; *pp && (*pp)->no < g->no; pp = &(*pp)->next)
		;
	g->next = *pp;
	*pp = g;
}

void spool_seg_unlink(struct seg **list, struct seg *g)
{
	for (struct seg **pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			return;
		}
	}
}

static bool is_current(const struct spool *s, const struct seg *g)
{
	for (int p = 0; p < PRIO_N; p++)
		if (s->cur[p] == g)
			return true;
	return false;
}

/* Unlink G and forget it. */
void spool_seg_kill(struct spool *s, struct seg *g)
{
	char name[32];

	for (int p = 0; p < PRIO_N; p++)
		if (s->cur[p] == g)
			s->cur[p] = NULL;
	spool_seg_unlink(&s->segs, g);
	if (g->fd >= 0)
		close(g->fd);
	spool_seg_name(name, g->no);
	/* one with bytes that could not be read stays, just forgotten */
	if (!g->keep) {
		if (s->dirfd >= 0 && unlinkat(s->dirfd, name, 0) &&
		    errno != ENOENT)
			spool_disk_error(s, "unlinking a segment", errno);
		s->dirty_dir = true;
	}
	s->disk_bytes -= g->size;
	free(g);
}

static struct seg *seg_new(struct spool *s)
{
	struct seg *g;
	char name[32];
	int fd = -1;

	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		spool_seg_name(name, s->next_seg++);
		fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL |
			    O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		spool_disk_error(s, "creating a segment", errno);
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		close(fd);
		unlinkat(s->dirfd, name, 0);
		spool_disk_error(s, "creating a segment", ENOMEM);
		return NULL;
	}
	g->no = s->next_seg - 1;
	g->fd = fd;
	/* the highest number yet: it goes last */
	spool_seg_insert(&s->segs, g);
	s->dirty_dir = true;
	return g;
}

/* ---- writing ---- */

/* R (with PAYLOAD) at the end of its priority's current segment. */
int spool_rec_write(struct spool *s, struct spool_rec *r, const void *payload)
{
	uint8_t h[SPOOL_HDR_SIZE];
	struct seg *g = s->cur[r->prio];
	struct iovec iov[2];
	uint64_t need = rec_bytes(r);
	ssize_t n;

	if (g && g->size && g->size + need > s->seg_max) {
		s->cur[r->prio] = NULL;
		if (!g->live) {
			spool_seg_kill(s, g);
		} else {
			/*
			 * Rotated: no descriptor kept (a large spool has
			 * thousands of segments); spool_sync() and marks
			 * open it for the moment they need it.
			 */
			close(g->fd);
			g->fd = -1;
		}
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
		spool_disk_error(s, "writing", errno ? errno : ENOSPC);
		/* no torn tail from us if it can be helped */
		if (ftruncate(g->fd, g->size) == 0)
			g->dirty = true;
		return -1;
	}
	/*
	 * Written whole, so it is in the file whatever the sync says: a
	 * failed sync is a disk error, and the record is read back from
	 * there (spool_go_memory()) like the others, not left untracked.
	 */
	g->dirty = s->sync_ms != 0;
	if (!s->sync_ms) {
		if (fdatasync(g->fd) || (s->dirty_dir && fsync(s->dirfd))) {
			spool_disk_error(s, "syncing", errno);
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

/* Write state byte ST of R in its segment, or unlink a finished one. */
void spool_rec_mark(struct spool *s, struct spool_rec *r, uint8_t st)
{
	struct seg *g = r->seg;
	int fd;

	if (--g->live == 0 && !is_current(s, g)) {
		spool_seg_kill(s, g);
		return;
	}
	fd = spool_seg_open(s, g);
	if (fd < 0 || pwrite(fd, &st, 1, r->off + OFF_STATE) != 1)
		spool_disk_error(s, "marking a record", errno);
	spool_seg_put(g, fd);
	g->dirty = true;
}

/* ---- recovery ---- */

/*
 * Past a corrupt byte at OFF: the next offset where a whole valid record
 * starts, or LEN. Fake headers claiming long payloads would cost a CRC of
 * up to 1 MiB each: past twice the file's size in them (*RESYNC_BYTES),
 * the rest of the file is one corrupt region.
 */
static size_t resync(const uint8_t *buf, size_t len, size_t off,
		     uint64_t *resync_bytes)
{
	size_t bad;

	for (bad = off + 1; bad < len; bad++) {
		const uint8_t *m = memmem(buf + bad, len - bad, "ISPR", 4);

		if (!m || *resync_bytes > 2 * (uint64_t)len)
			return len;
		bad = m - buf;
		if (rec_valid(buf, len, bad, resync_bytes))
			break;
	}
	return bad;
}

/*
 * The first LEN bytes of FD, read with pread(): a disk that fails gives
 * an error here, where a mapping of the file would raise SIGBUS. *GOT is
 * what was read; below LEN, errno says why (0: the file got shorter).
 * NULL when there is no memory for it.
 */
static uint8_t *seg_read(int fd, size_t len, size_t *got)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t n = 0;

	*got = 0;
	if (!buf)
		return NULL;
	errno = 0;
	while (n < len) {
		ssize_t k = pread(fd, buf + n, len - n, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += k;
	}
	*got = n;
	return buf;
}

/*
 * Index the live records of one segment file (FD, closed here). A read
 * error keeps what was read before it: those records are loaded as
 * usual, the rest of the file is skipped (the record the error cuts
 * counts as corrupt), counted in read_errors and logged, and the file
 * is never unlinked (spool_seg_kill() forgets it), so nothing that was
 * not read is deleted. The same for a file larger than SEG_FILE_MAX,
 * past that size. Such a file counts in the bound up to the end of the
 * last whole record read from it.
 */
void spool_seg_load(struct spool *s, int fd, uint64_t no, uint64_t *loaded)
{
	struct stat st;
	struct seg *g;
	uint8_t *buf = NULL;
	size_t len, got, off = 0, valid_end = 0;
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
	if (st.st_size > SEG_FILE_MAX) {
		char name[32];

		/* not one of ours: no more than the largest one is read */
		spool_seg_name(name, no);
		s->log(LOG_WARNING, "spool %s: segment %s: %jd bytes, more "
		       "than a segment holds; reading the first %d, the file "
		       "is kept as it is", s->path, name, (intmax_t)st.st_size,
		       SEG_FILE_MAX);
		len = SEG_FILE_MAX;
		g->keep = true;
	}
	buf = seg_read(fd, len, &got);
	if (!buf) {
		/* not read is not empty: never unlink it */
		spool_disk_error(s, "reading a segment", ENOMEM);
		close(fd);
		free(g);
		return;
	}
	if (got < len && errno) {
		char name[32];

		spool_seg_name(name, no);
		s->st.read_errors++;
		s->log(LOG_ERR, "spool %s: segment %s: read error at byte %zu "
		       "of %zu: %s; the messages before it are loaded, the "
		       "file is kept as it is", s->path, name, got, len,
		       strerror(errno));
		g->keep = true;
	}
	len = got;
	close(fd);
	while (off < len) {
		const uint8_t *h = buf + off;
		struct spool_rec *r;

		if (!rec_valid(buf, len, off, &crc_bytes)) {
			size_t bad = resync(buf, len, off, &resync_bytes);

			s->st.corrupt_records++;
			s->st.corrupt_bytes += bad - off;
			off = bad;
			continue;
		}
		off += SPOOL_HDR_SIZE + get32(h + 8);
		valid_end = off;
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
		if (!spool_index_insert(s, r)) {
			free(r);
			continue;
		}
		g->live++;
		(*loaded)++;
	}
	free(buf);
	/* one kept in part counts in the bound up to its last record read */
	if (g->keep)
		g->size = valid_end;
	spool_seg_insert(&s->segs, g);
	s->disk_bytes += g->size;
	if (no >= s->next_seg)
		s->next_seg = no + 1;
	if (!g->live)
		spool_seg_kill(s, g);
}
