// SPDX-License-Identifier: MIT
/*
 * Memory when the disk fails, and the way back.
 *
 * When the directory cannot be created, locked or written (EROFS,
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
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "transport/spool_priv.h"

void spool_log_fallback(struct spool *s, const char *what, int err)
{
	s->log(LOG_ERR, "spool %s: %s: %s; keeping messages in memory "
	       "(at most %" PRIu64 " bytes) and trying the disk again "
	       "every %d s", s->path, what, strerror(err), s->size,
	       SPOOL_RETRY_MS / 1000);
}

/* R's bytes are no longer held in memory (on disk now, or gone). */
void spool_mem_release(struct spool *s, struct spool_rec *r)
{
	s->mem_bytes -= rec_bytes(r);
	free(r->payload);
	r->payload = NULL;
}

/* ---- stale segments ---- */

/* Best effort: a stale segment is done with (one not read whole stays). */
static void stale_unlink(struct spool *s, struct seg *g)
{
	char name[32];

	spool_seg_name(name, g->no);
	if (s->dirfd >= 0 && !g->keep)
		unlinkat(s->dirfd, name, 0);
	free(g);
}

/*
 * A record read from a stale segment is done: say so there too. Unlike
 * spool_rec_mark(), a failure here is counted and nothing more: the
 * spool is in memory already.
 */
void spool_stale_mark(struct spool *s, struct spool_rec *r, uint8_t st)
{
	struct seg *g = r->stale;
	int fd;

	r->stale = NULL;
	if (--g->live == 0) {
		spool_seg_unlink(&s->stale, g);
		stale_unlink(s, g);
		return;
	}
	fd = s->dirfd >= 0 ? spool_seg_open(s, g) : -1;
	if (fd >= 0) {
		if (pwrite(fd, &st, 1, r->off + OFF_STATE) != 1)
			s->st.write_errors++;
		close(fd);
	}
}

/* Forget the stale segments (their files are gone, or not ours now). */
void spool_stale_forget(struct spool *s)
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

/*
 * Stale segment NO, if there is one, is back in use: its file never
 * went, so its records live there again (the memory copies go) and it
 * counts in the bound. False when NO is not one of them.
 */
bool spool_stale_adopt(struct spool *s, uint64_t no)
{
	struct seg *g;

	for (g = s->stale; g && g->no != no; g = g->next)
		;
	if (!g)
		return false;
	spool_seg_unlink(&s->stale, g);
	spool_seg_insert(&s->segs, g);
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
			spool_mem_release(s, r);
		}
	}
	return true;
}

/* ---- to memory and back ---- */

/*
 * Everything to memory after a disk failure: each record's bytes are read
 * back (those that cannot be are dropped and counted); the files stay,
 * as stale segments, with the directory open and locked.
 */
void spool_go_memory(struct spool *s, uint64_t now_ms)
{
	uint64_t lost = 0;

	/* a retry that fails the same way again is not news */
	if (!s->retrying || s->fail_errno != s->retry_errno)
		spool_log_fallback(s, s->fail_what ? s->fail_what : "error",
				   s->fail_errno);
	s->retry_errno = s->fail_errno;
	/* nothing is appended any more */
	memset(s->cur, 0, sizeof(s->cur));
	/*
	 * The segments stay, as stale (their records point at them from
	 * memory, see spool_stale_mark()); those already done go.
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
			fd = spool_seg_open(s, r->seg);
			r->stale = r->seg;
			r->seg = NULL;
			s->mem_bytes += rec_bytes(r);
			if (!r->payload || !spool_rec_read(r, fd, r->payload)) {
				if (fd >= 0)
					close(fd);
				spool_rec_corrupt(s, r);
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
	spool_make_room(s, PRIO_N, 0, NULL);
	s->fail_errno = 0;
	s->next_retry_ms = now_ms + SPOOL_RETRY_MS;
}

/* After a public call: a failed disk operation means memory from now. */
void spool_settle(struct spool *s, uint64_t now_ms)
{
	if (s->fail_errno && s->disk)
		spool_go_memory(s, now_ms);
	s->fail_errno = 0;
}

/*
 * The disk is back: what was held in memory only goes to it, highest
 * priority first, until a write fails (s->fail_errno).
 */
void spool_mem_to_disk(struct spool *s)
{
	for (int p = PRIO_ALERT; p >= PRIO_LOW && !s->fail_errno; p--) {
		struct spool_rec *r, *next;

		/*
		 * spool_make_room() may free any other record of this list
		 * (R's next too): R's neighbour is read only once it is done.
		 */
		for (r = s->head[p]; r && !s->fail_errno; r = next) {
			if (r->seg) {
				next = r->next;
				continue;
			}
			if (!spool_make_room(s, r->prio, rec_bytes(r), r)) {
				next = r->next;
				/* in flight: never dropped, stays in memory */
				if (!r->inflight)
					spool_rec_drop(s, r);
				continue;
			}
			if (spool_rec_write(s, r, r->payload))
				break;
			spool_mem_release(s, r);
			next = r->next;
		}
	}
}
