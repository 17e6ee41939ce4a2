// SPDX-License-Identifier: MIT
/*
 * Priority queues and message packing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pipeline/queue.h"

static inline int azure_queue(enum prio p)
{
	return p == PRIO_LOW ? 1 : 0;
}

int queue_init(struct queue *q, const struct config *cfg, struct ser *ser,
	       queue_out_fn out, void *ctx, uint64_t now_ms)
{
	memset(q, 0, sizeof(*q));
	q->cfg = cfg;
	q->ser = ser;
	q->out = out;
	q->ctx = ctx;
	for (int p = 0; p < PRIO_N; p++) {
		if (agg_init(&q->q[p].agg, 256)) {
			queue_fini(q);
			return -ENOMEM;
		}
		q->q[p].next_flush_ms = now_ms + cfg->interval_ms[p];
	}
	return 0;
}

static void drop_all(struct pq *pq)
{
	struct record *r, *next;

	for (r = pq->head; r; r = next) {
		next = r->next;
		record_free(r);
	}
	pq->head = pq->tail = NULL;
	pq->bytes = pq->records = 0;
	agg_clear(&pq->agg);
}

void queue_fini(struct queue *q)
{
	for (int p = 0; p < PRIO_N; p++) {
		drop_all(&q->q[p]);
		agg_fini(&q->q[p].agg);
	}
	for (int k = 0; k < MSG_KIND_N; k++)
		msg_free(&q->mb[k]);
}

void queue_push(struct queue *q, const struct iotsec_event *ev,
		uint64_t now_ms)
{
	const struct type_config *tc;
	struct pq *pq;
	struct record *r;
	enum prio p;

	if (ev->type == 0 || ev->type > IOTSEC_EVENT_MAX)
		return;
	tc = &q->cfg->types[ev->type];
	p = tc->prio;
	if (p == PRIO_OFF) {
		q->stats.filtered[ev->type]++;
		return;
	}
	pq = &q->q[p];
	q->stats.collected[azure_queue(p)]++;
	if (tc->aggregate && agg_hit(&pq->agg, ev))
		return;
	/*
	 * Full: send what is pending now instead of dropping. Memory stays
	 * bounded here; if the transport cannot keep up, the spool behind
	 * it drops whole messages and counts them.
	 */
	if (pq->bytes >= q->cfg->queue_limit) {
		q->stats.early_flushes++;
		queue_flush(q, p, now_ms);
		if (p == PRIO_ALERT)
			pq->next_flush_ms = now_ms;
	}
	r = record_new(ev);
	if (!r) {
		q->stats.dropped[azure_queue(p)]++;
		return;
	}
	if (tc->aggregate)
		agg_insert(&pq->agg, r);
	if (pq->tail)
		pq->tail->next = r;
	else
		pq->head = r;
	pq->tail = r;
	pq->bytes += r->size;
	pq->records++;
	if (p == PRIO_ALERT)
		pq->next_flush_ms = now_ms;
}

static void emit(struct queue *q, struct msgbuf *m)
{
	if (!m->b.p || !m->n_events)
		return;
	msg_end(m);
	q->stats.messages++;
	q->stats.events_sent += m->n_events;
	q->out(q->ctx, q->cur, m->kind, msg_data(m), m->b.len, m->n_events);
	m->n_events = 0;
	m->b.len = 0;
}

static size_t limit(struct queue *q)
{
	size_t l = q->cfg->max_message_size;

	return l > IOTSEC_HUB_MAX_MESSAGE ? IOTSEC_HUB_MAX_MESSAGE : l;
}

/* Add one event text to the message of KIND, sending a full one first. */
static void pack(struct queue *q, enum msg_kind kind, const char *t,
		 size_t len)
{
	struct msgbuf *m = &q->mb[kind];
	int ret;

	if (!m->b.p || (!m->n_events && !m->b.len))
		if (msg_begin(m, q->ser, kind, limit(q)))
			return;
	ret = msg_add(m, t, len);
	if (ret == -ENOSPC && m->n_events) {
		emit(q, m);
		if (msg_begin(m, q->ser, kind, limit(q)))
			return;
		ret = msg_add(m, t, len);
	}
	if (ret == -ENOSPC)
		q->stats.oversize++;
}

static void finish(struct queue *q)
{
	for (int k = 0; k < MSG_KIND_N; k++) {
		emit(q, &q->mb[k]);
		q->mb[k].b.len = 0;
	}
}

void queue_flush(struct queue *q, enum prio p, uint64_t now_ms)
{
	struct pq *pq = &q->q[p];
	struct record *r, *next;

	q->cur = p;
	for (r = pq->head; r; r = next) {
		char *t;
		size_t len;

		next = r->next;
		if (!ser_record(q->ser, r, &t, &len)) {
			pack(q, ser_kind(r->ev.type), t, len);
			free(t);
		} else {
			/* counted, like the events a full queue drops */
			q->stats.unserialized++;
			q->stats.dropped[azure_queue(p)]++;
		}
		record_free(r);
	}
	pq->head = pq->tail = NULL;
	pq->bytes = pq->records = 0;
	agg_clear(&pq->agg);
	finish(q);
	pq->next_flush_ms = p == PRIO_ALERT ? UINT64_MAX :
					      now_ms + q->cfg->interval_ms[p];
}

void queue_flush_all(struct queue *q, uint64_t now_ms)
{
	for (int p = PRIO_N - 1; p > PRIO_OFF; p--)
		queue_flush(q, p, now_ms);
}

uint64_t queue_tick(struct queue *q, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (int p = PRIO_N - 1; p > PRIO_OFF; p--) {
		struct pq *pq = &q->q[p];

		if (pq->next_flush_ms <= now_ms) {
			if (pq->head || p != PRIO_ALERT)
				queue_flush(q, p, now_ms);
			else
				pq->next_flush_ms = UINT64_MAX;
		}
		if (pq->next_flush_ms < next)
			next = pq->next_flush_ms;
	}
	return next == UINT64_MAX ? UINT64_MAX : next - now_ms;
}

void queue_set_config(struct queue *q, const struct config *cfg,
		      uint64_t now_ms)
{
	queue_flush_all(q, now_ms);
	q->cfg = cfg;
	for (int p = PRIO_LOW; p < PRIO_ALERT; p++)
		q->q[p].next_flush_ms = now_ms + cfg->interval_ms[p];
}

void queue_send_texts(struct queue *q, enum msg_kind kind,
		      char *const *texts, const size_t *lens, size_t n)
{
	q->cur = PRIO_HIGH;
	for (size_t i = 0; i < n; i++)
		pack(q, kind, texts[i], lens[i]);
	finish(q);
}

void queue_send_alerts(struct queue *q, char *const *texts,
		       const size_t *lens, size_t n)
{
	/* what waits in the message being packed is not an alert: out first */
	finish(q);
	q->cur = PRIO_ALERT;
	for (size_t i = 0; i < n; i++)
		pack(q, MSG_EXTENDED, texts[i], lens[i]);
	finish(q);
}

void queue_send_local_texts(struct queue *q, enum msg_kind kind,
			    char *const *texts, const size_t *lens, size_t n)
{
	/* what waits in the message being packed is not local: out first */
	finish(q);
	q->cur_local = true;
	queue_send_texts(q, kind, texts, lens, n);
	q->cur_local = false;
}
