// SPDX-License-Identifier: MIT
/*
 * The live records: a list per priority in sequence order, the records in
 * flight, and the bound.
 *
 * Bound. spool.size caps the sum of the segment files' sizes (or, in
 * memory, of the records' would-be sizes). A record that does not fit
 * makes room by dropping the oldest record of the lowest priority stored
 * (low, then high, then alert), marked 'D' so a restart does not bring it
 * back; when everything stored outranks it, the new record is the one
 * dropped. Drops are counted per priority, messages and events.
 *
 * Local class (spool_append_local: SDK, logins, snapshots). Its records
 * take at most local_size together and make room only by dropping older
 * local records; a kernel record makes room by dropping local records (of
 * its priority or lower) before any kernel record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include "transport/spool_priv.h"

/*
 * Into its priority's list by sequence number (nearly always the tail).
 * False when the same record (sequence number and id) is there already.
 */
bool spool_index_insert(struct spool *s, struct spool_rec *r)
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
	if (r->local)
		s->local_bytes += rec_bytes(r);
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

/* Out of the index and the store; ST says why (acked or dropped). */
void spool_rec_remove(struct spool *s, struct spool_rec *r, uint8_t st)
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
	if (r->local)
		s->local_bytes -= rec_bytes(r);
	if (r->seg) {
		spool_rec_mark(s, r, st);
	} else {
		spool_mem_release(s, r);
		if (r->stale)
			spool_stale_mark(s, r, st);
	}
	s->n_records--;
	free(r);
}

/* ---- drops ---- */

void spool_note_drop(struct spool *s, enum prio p, unsigned int events)
{
	s->st.dropped_messages[p]++;
	s->st.dropped_events[p] += events;
}

/* The first drop at once, then a summary at most every DROP_LOG_MS. */
void spool_log_drops(struct spool *s, uint64_t now_ms, bool force)
{
	uint64_t n = spool_prio_sum(s->st.dropped_messages);
	uint64_t e = spool_prio_sum(s->st.dropped_events);

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

/* ms until spool_log_drops() has a summary to write; UINT64_MAX: none. */
uint64_t spool_drops_wait(const struct spool *s, uint64_t now_ms)
{
	if (s->drops_logged == spool_prio_sum(s->st.dropped_messages) ||
	    s->next_drop_log_ms <= now_ms)
		return UINT64_MAX;
	return s->next_drop_log_ms - now_ms;
}

void spool_note_local_drop(struct spool *s, unsigned int events)
{
	s->st.local_dropped_messages++;
	s->st.local_dropped_events += events;
}

void spool_rec_drop(struct spool *s, struct spool_rec *r)
{
	spool_note_drop(s, r->prio, r->events);
	if (r->local)
		spool_note_local_drop(s, r->events);
	spool_rec_remove(s, r, ST_DROPPED);
}

/* R does not read back intact: dropped, and counted as corrupt too. */
void spool_rec_corrupt(struct spool *s, struct spool_rec *r)
{
	s->st.corrupt_records++;
	s->st.corrupt_bytes += rec_bytes(r);
	spool_rec_drop(s, r);
}

/* ---- the bound ---- */

static uint64_t used(const struct spool *s)
{
	return s->disk ? s->disk_bytes : s->mem_bytes;
}

/* Current segments with nothing live in them give their bytes back. */
bool spool_reclaim_current(struct spool *s)
{
	bool any = false;

	for (int p = 0; p < PRIO_N; p++) {
		if (s->cur[p] && !s->cur[p]->live) {
			spool_seg_kill(s, s->cur[p]);
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
bool spool_make_room(struct spool *s, int prio, uint64_t need,
		     const struct spool_rec *self)
{
	if (used(s) + need > s->size && s->disk)
		spool_reclaim_current(s);
	while (used(s) + need > s->size) {
		struct spool_rec *v = NULL;

		/* local records (spool_append_local) go first */
		for (int p = PRIO_LOW; p < PRIO_N && p <= prio && !v; p++)
			for (v = s->head[p]; v && (v->inflight || !v->local);
			     v = v->next)
				;
		for (int p = PRIO_LOW; p < PRIO_N && !v; p++)
			for (v = s->head[p]; v && v->inflight; v = v->next)
				;
		if (!v || v->prio > prio || v == self)
			return false;
		spool_rec_drop(s, v);
		if (s->disk)
			spool_reclaim_current(s);
	}
	return true;
}

/*
 * The same for a local record (spool_append_local()): room within
 * local_size and within size, made by dropping only older local records
 * of at most PRIO, lowest priority and oldest first. A kernel record is
 * never dropped for a local one.
 */
bool spool_make_local_room(struct spool *s, int prio, uint64_t need)
{
	if (used(s) + need > s->size && s->disk)
		spool_reclaim_current(s);
	while (s->local_bytes + need > s->local_size ||
	       used(s) + need > s->size) {
		struct spool_rec *v = NULL;

		for (int p = PRIO_LOW; p <= prio && !v; p++)
			for (v = s->head[p]; v && (v->inflight || !v->local);
			     v = v->next)
				;
		if (!v)
			return false;
		spool_rec_drop(s, v);
		if (s->disk)
			spool_reclaim_current(s);
	}
	return true;
}

/* ---- in flight ---- */

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
		spool_rec_remove(s, r, ST_ACKED);
		spool_settle(s, s->now_ms);
		return 0;
	}
	return -ENOENT;
}

void spool_discard(struct spool *s, struct spool_rec *r)
{
	spool_rec_drop(s, r);
	spool_settle(s, s->now_ms);
}

void spool_requeue_inflight(struct spool *s)
{
	while (s->n_inflight) {
		struct spool_rec *r = s->inflight[--s->n_inflight];

		r->inflight = false;
		r->mid = -1;
	}
}
