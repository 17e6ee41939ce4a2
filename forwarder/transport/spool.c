// SPDX-License-Identifier: MIT
/*
 * The spool: messages between serialization and MQTT, bounded, on disk.
 * This file has the public calls; the jobs behind them are in the files
 * spool_priv.h lists (the format in spool_format.c, the bound in
 * spool_index.c, the memory fallback in spool_mem.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "transport/spool_priv.h"

static void nolog(int level, const char *fmt, ...)
{
}

/* A disk operation failed: spool_settle() goes to memory. */
void spool_disk_error(struct spool *s, const char *what, int err)
{
	s->st.write_errors++;
	if (!s->fail_errno) {
		s->fail_errno = err ? err : EIO;
		s->fail_what = what;
	}
}

int spool_open(struct spool **sp, const struct spool_config *cfg,
	       spool_log_fn log, uint64_t now_ms)
{
	struct spool *s;

	*sp = NULL;
	if (cfg->size < SPOOL_MIN_SIZE)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->log = log ? log : nolog;
	s->size = cfg->size;
	s->sync_ms = cfg->sync_ms;
	s->local_size = cfg->local_size && cfg->local_size < cfg->size ?
			cfg->local_size : cfg->size;
	s->seg_max = cfg->size / 16;
	if (s->seg_max < SEG_MIN)
		s->seg_max = SEG_MIN;
	if (s->seg_max > SEG_MAX)
		s->seg_max = SEG_MAX;
	s->dirfd = s->lockfd = -1;
	s->now_ms = now_ms;
	s->sync_efd = -1;
	s->next_seq = 1;
	s->next_seg = 1;
	if (cfg->path && *cfg->path) {
		s->path = strdup(cfg->path);
		if (!s->path) {
			free(s);
			return -ENOMEM;
		}
		spool_disk_try(s, now_ms, true);
	}
	spool_sync_init(s);	/* none: spool_sync_start() syncs in place */
	*sp = s;
	return 0;
}

void spool_close(struct spool *s)
{
	struct spool_rec *r, *next;
	uint64_t mem = 0;

	if (!s)
		return;
	spool_sync_wait(s);
	if (s->disk) {
		spool_reclaim_current(s);
		spool_sync(s);
	}
	spool_log_drops(s, 0, true);
	/* in memory and nowhere else (a stale file still has the others) */
	for (int p = 0; p < PRIO_N; p++)
		for (r = s->head[p]; r; r = r->next)
			if (!r->seg && !r->stale)
				mem++;
	spool_stale_forget(s);
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
	spool_disk_close(s);
	free(s->inflight);
	free(s->scratch);
	free(s->path);
	if (s->sync_efd >= 0)
		close(s->sync_efd);
	free(s);
}

static int append(struct spool *s, enum prio prio, enum msg_kind kind,
		  unsigned int events, const char id[37], const void *buf,
		  size_t len, uint64_t now_ms, bool local)
{
	struct spool_rec *r;
	uint64_t need = SPOOL_HDR_SIZE + (uint64_t)len;

	s->now_ms = now_ms;
	if (prio < PRIO_LOW || prio > PRIO_ALERT)
		prio = PRIO_HIGH;
	/* every message offered, refused ones too (they count as dropped) */
	s->st.written++;
	if (len > SPOOL_MAX_PAYLOAD || need > (local ? s->local_size : s->size)) {
		spool_note_drop(s, prio, events);
		if (local)
			spool_note_local_drop(s, events);
		spool_log_drops(s, now_ms, false);
		return -EMSGSIZE;
	}
	if (local ? !spool_make_local_room(s, prio, need) :
		    !spool_make_room(s, prio, need, NULL)) {
		spool_note_drop(s, prio, events);
		if (local)
			spool_note_local_drop(s, events);
		spool_log_drops(s, now_ms, false);
		spool_settle(s, now_ms);
		return -ENOSPC;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		spool_note_drop(s, prio, events);
		return -ENOSPC;
	}
	r->local = local;
	r->seq = s->next_seq;
	r->len = len;
	r->events = events;
	r->prio = prio;
	r->kind = kind;
	r->mid = -1;
	memcpy(r->id, id, 36);
	if (!s->disk || spool_rec_write(s, r, buf)) {
		r->payload = malloc(len + 1);
		if (!r->payload) {
			free(r);
			spool_note_drop(s, prio, events);
			spool_settle(s, now_ms);
			return -ENOSPC;
		}
		memcpy(r->payload, buf, len);
		r->payload[len] = '\0';
		s->mem_bytes += need;
	}
	spool_index_insert(s, r);
	spool_log_drops(s, now_ms, false);
	spool_settle(s, now_ms);
	return 0;
}

int spool_append(struct spool *s, enum prio prio, enum msg_kind kind,
		 unsigned int events, const char id[37], const void *buf,
		 size_t len, uint64_t now_ms)
{
	return append(s, prio, kind, events, id, buf, len, now_ms, false);
}

int spool_append_local(struct spool *s, enum prio prio, enum msg_kind kind,
		       unsigned int events, const char id[37], const void *buf,
		       size_t len, uint64_t now_ms)
{
	return append(s, prio, kind, events, id, buf, len, now_ms, true);
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
	int fd, err;

	if (!r->seg)
		return r->payload ? r->payload : "";
	if (s->scratch_cap < r->len + 1) {
		char *n = realloc(s->scratch, r->len + 1);

		if (!n)
			return NULL;
		s->scratch = n;
		s->scratch_cap = r->len + 1;
	}
	fd = spool_seg_open(s, r->seg);
	if (spool_rec_read(r, fd, s->scratch))
		ret = s->scratch;
	err = fd < 0 ? 0 : errno;
	spool_seg_put(r->seg, fd);
	if (!ret && err) {
		s->st.read_errors++;
		s->log(LOG_ERR, "spool %s: a stored message (sequence %" PRIu64
		       ") cannot be read: %s; dropped", s->path, r->seq,
		       strerror(err));
	} else if (!ret) {
		s->log(LOG_ERR, "spool %s: a stored message (sequence %" PRIu64
		       ") does not read back intact; dropped", s->path, r->seq);
	}
	if (!ret) {
		spool_rec_corrupt(s, r);
		spool_settle(s, s->now_ms);
		return NULL;
	}
	s->scratch[r->len] = '\0';
	return ret;
}

uint64_t spool_tick(struct spool *s, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX, wait;

	s->now_ms = now_ms;
	spool_log_drops(s, now_ms, false);
	if (s->disk && (!s->sync_ms || now_ms >= s->next_sync_ms)) {
		/*
		 * sync 0: records were synced as written, marks are now; in a
		 * thread, the result comes through spool_sync_done()
		 */
		spool_sync_start(s);
		s->next_sync_ms = now_ms + s->sync_ms;
		spool_settle(s, now_ms);
	}
	if (s->disk && s->sync_ms)
		next = s->next_sync_ms - now_ms;
	if (!s->disk && s->path) {
		if (now_ms >= s->next_retry_ms)
			spool_disk_try(s, now_ms, false);
		if (!s->disk && s->next_retry_ms - now_ms < next)
			next = s->next_retry_ms - now_ms;
	}
	wait = spool_drops_wait(s, now_ms);
	if (wait < next)
		next = wait;
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
	st->local_bytes = s->local_bytes;
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
