// SPDX-License-Identifier: GPL-2.0
/*
 * Per-CPU event rings and the flush worker.
 *
 * Each CPU owns a ring of bytes written only by hooks running on that CPU
 * (preemption off, one record at a time: a hook interrupting another on
 * the same CPU drops its event) and read only by the flush worker, so the
 * two sides share nothing but the head and tail positions. A record is
 * reserved at its largest possible size and committed at the size it
 * turned out to have. When a record does not fit before the end of the
 * ring, a padding record fills the rest and the record starts over at the
 * beginning. When the ring is full the event is dropped and counted.
 * While nobody is subscribed the worker leaves the rings alone: they fill
 * up with the oldest records, and later ones are dropped and counted,
 * until a consumer arrives and gets them (netlink.c).
 */
#include <linux/audit.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/irq_work.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/path.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/local64.h>

#include "compat.h"
#include "iotsec.h"

static unsigned int buffer_events = 256;
module_param(buffer_events, uint, 0444);
MODULE_PARM_DESC(buffer_events,
		 "per-CPU buffer size in events of 512 bytes (default 256)");

static unsigned int flush_ms = 100;
module_param(flush_ms, uint, 0444);
MODULE_PARM_DESC(flush_ms, "flush period in ms, 10..10000 (default 100)");

static unsigned int watermark = 50;
module_param(watermark, uint, 0444);
MODULE_PARM_DESC(watermark,
		 "flush early when a buffer is this % full; 0: never (default 50)");

#define RING_MIN_BYTES 16384U
#define RING_MAX_BYTES (64U << 20)

struct iotsec_ring {
	char *data;
	u32 size;
	u32 head;		/* producer: end of committed records */
	u32 tail;		/* flush worker: start of unread records */
	u32 pend;		/* producer: start of the record being written */
	u32 wmark;		/* used bytes that trigger an early flush */
	int busy;
	local64_t seq;
	local64_t generated[IOTSEC_NR_TYPES];
	local64_t dropped[IOTSEC_NR_TYPES];
};

static struct iotsec_ring __percpu *rings;
static u32 ring_bytes;
static unsigned long kick_pending;
static unsigned long flush_period;

static void flush_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(flush_dwork, flush_fn);

static void kick_fn(struct irq_work *w)
{
	mod_delayed_work(system_wq, &flush_dwork, 0);
}

static struct irq_work kick_work;

/* The acting task's fields: TASK is current, or one held by the caller. */
static void fill_common(struct iotsec_rec *rec, struct task_struct *task)
{
	const struct cred *cred;
	struct task_struct *parent;

	rec->tgid = task_tgid_nr(task);
	rec->tid = task_pid_nr(task);
	rec->loginuid = from_kuid(&init_user_ns, audit_get_loginuid(task));
	rec->sessionid = audit_get_sessionid(task);
	memcpy(rec->comm, task->comm, IOTSEC_COMM_LEN);
	rec->comm[IOTSEC_COMM_LEN - 1] = '\0';
	rcu_read_lock();
	cred = __task_cred(task);
	rec->uid = from_kuid_munged(&init_user_ns, cred->uid);
	rec->gid = from_kgid_munged(&init_user_ns, cred->gid);
	rec->euid = from_kuid_munged(&init_user_ns, cred->euid);
	rec->egid = from_kgid_munged(&init_user_ns, cred->egid);
	parent = rcu_dereference(task->real_parent);
	rec->ptgid = parent ? task_tgid_nr(parent) : 0;
#ifdef CONFIG_CGROUPS
	rec->cgroup_id = cgroup_id(task_dfl_cgroup(task));
#endif
	rcu_read_unlock();
}

/*
 * Start a record of TYPE for TASK (current, or a task the caller holds)
 * with room for MAX bytes of blobs, or return NULL
 * (counted as a drop) when the ring has no room. Preemption stays off
 * until iotsec_rec_commit().
 */
struct iotsec_rec *iotsec_rec_begin_task(unsigned int type, size_t max,
					 struct task_struct *task)
{
	struct iotsec_ring *r;
	struct iotsec_rec *rec;
	u32 need, used, off, to_end;
	u64 seq;

	need = round_up(sizeof(*rec) + max, 8);
	preempt_disable();
	r = this_cpu_ptr(rings);
	local64_inc(&r->generated[type]);
	seq = local64_inc_return(&r->seq);
	if (r->busy)
		goto drop;
	r->busy = 1;
	barrier();

	/* Pairs with the worker's release: it is done with what it freed. */
	used = r->head - smp_load_acquire(&r->tail);
	off = r->head & (r->size - 1);
	to_end = r->size - off;
	if (to_end < need) {
		if (r->size - used < to_end + need)
			goto drop_busy;
		rec = (struct iotsec_rec *)(r->data + off);
		rec->type = IOTSEC_EVENT_UNSPEC;
		rec->len = to_end;
		r->pend = r->head + to_end;
		off = 0;
	} else {
		if (r->size - used < need)
			goto drop_busy;
		r->pend = r->head;
	}

	rec = (struct iotsec_rec *)(r->data + off);
	memset(rec, 0, sizeof(*rec));
	rec->len = need;
	rec->type = type;
	rec->cpu = smp_processor_id();
	rec->seq = seq;
	rec->time_ns = ktime_get_boot_fast_ns();
	fill_common(rec, task);
	return rec;

drop_busy:
	barrier();
	r->busy = 0;
drop:
	local64_inc(&r->dropped[type]);
	preempt_enable();
	return NULL;
}

static u32 rec_used(const struct iotsec_rec *rec)
{
	u32 n = 0;
	int i;

	for (i = 0; i < IOTSEC_NR_STR; i++)
		n += rec->slen[i];
	return n;
}

void iotsec_rec_commit(struct iotsec_rec *rec)
{
	struct iotsec_ring *r = this_cpu_ptr(rings);
	u32 used;

	rec->len = round_up(sizeof(*rec) + rec_used(rec), 8);
	/* Publish the record: pairs with the worker's acquire of head. */
	smp_store_release(&r->head, r->pend + rec->len);
	barrier();
	r->busy = 0;
	used = r->head - READ_ONCE(r->tail);
	if (r->wmark && used >= r->wmark &&
	    !test_and_set_bit(0, &kick_pending))
		irq_work_queue(&kick_work);
	preempt_enable();
}

/* Where blob IDX starts; blobs are written in index order. */
char *iotsec_rec_str(struct iotsec_rec *rec, unsigned int idx)
{
	u32 n = 0;
	unsigned int i;

	for (i = 0; i < idx; i++)
		n += rec->slen[i];
	return rec->str + n;
}

/* Where blob IDX starts and how many bytes it may take. */
static char *rec_slot(struct iotsec_rec *rec, unsigned int idx, size_t *room)
{
	*room = min_t(size_t, rec->len - sizeof(*rec) - rec_used(rec),
		      IOTSEC_REC_PATH_MAX);
	return iotsec_rec_str(rec, idx);
}

/*
 * Copy S, at most its first LEN bytes, to DST of SIZE bytes, cut to fit and
 * NUL-terminated. Returns the length of what DST holds.
 */
size_t iotsec_strcut(char *dst, size_t size, const char *s, size_t len)
{
	len = min(strnlen(s, len), size - 1);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return len;
}

void iotsec_rec_set_str(struct iotsec_rec *rec, unsigned int idx,
			const char *s)
{
	size_t room;
	char *dst = rec_slot(rec, idx, &room);

	if (room)
		rec->slen[idx] = iotsec_strcut(dst, room, s, room) + 1;
}

/*
 * Blob IDX becomes the path of PATH, followed by "/LAST" when LAST is
 * given (the name of an entry in the directory PATH). Safe in atomic
 * context: d_path takes no sleeping lock and the caller holds references.
 */
void iotsec_rec_set_path(struct iotsec_rec *rec, unsigned int idx,
			 const struct path *path, const char *last)
{
	size_t room, n;
	char *dst = rec_slot(rec, idx, &room);
	char *p;

	if (room < 2)
		return;
	p = d_path(path, dst, room);
	if (IS_ERR(p)) {
		dst[0] = '\0';
		n = 0;
	} else {
		n = strlen(p);
		memmove(dst, p, n + 1);
	}
	if (last) {
		if (n == 1 && dst[0] == '/')
			n = 0;
		/* Cut like any long path, but name the entry, not PATH. */
		if (n + 2 < room) {
			dst[n] = '/';
			n += 1 + iotsec_strcut(dst + n + 1, room - n - 1, last,
					       room);
		}
	}
	rec->slen[idx] = n + 1;
}

void iotsec_buffer_counters(struct iotsec_counters *c)
{
	int cpu, t;

	memset(c, 0, sizeof(*c));
	for_each_possible_cpu(cpu) {
		struct iotsec_ring *r = per_cpu_ptr(rings, cpu);

		for (t = 0; t < IOTSEC_NR_TYPES; t++) {
			c->generated[t] += local64_read(&r->generated[t]);
			c->dropped[t] += local64_read(&r->dropped[t]);
		}
	}
	iotsec_hooks_missed(c);
}

static struct iotsec_ring *peeked;

/*
 * The oldest unread record over all CPUs (by timestamp), or NULL. Only the
 * flush worker calls this and iotsec_buffer_consume().
 */
struct iotsec_rec *iotsec_buffer_peek(void)
{
	struct iotsec_rec *best = NULL;
	int cpu;

	peeked = NULL;
	for_each_possible_cpu(cpu) {
		struct iotsec_ring *r = per_cpu_ptr(rings, cpu);
		struct iotsec_rec *rec;

		for (;;) {
			/* Pairs with the release in iotsec_rec_commit(). */
			u32 head = smp_load_acquire(&r->head);

			if (r->tail == head) {
				rec = NULL;
				break;
			}
			rec = (struct iotsec_rec *)(r->data +
						    (r->tail & (r->size - 1)));
			if (rec->type != IOTSEC_EVENT_UNSPEC)
				break;
			/* Hand the padding back: pairs with the producer. */
			smp_store_release(&r->tail, r->tail + rec->len);
		}
		if (rec && (!best || rec->time_ns < best->time_ns)) {
			best = rec;
			peeked = r;
		}
	}
	return best;
}

void iotsec_buffer_consume(struct iotsec_rec *rec)
{
	/* Done reading: pairs with the acquire in iotsec_rec_begin(). */
	smp_store_release(&peeked->tail, peeked->tail + rec->len);
	peeked = NULL;
}

/*
 * With nobody to flush to, the buffers keep their records (early events)
 * and kick_pending stays set: a full buffer kicks nobody until a consumer
 * subscribes.
 */
static void flush_fn(struct work_struct *work)
{
	clear_bit(0, &kick_pending);
	if (iotsec_netlink_flush())
		queue_delayed_work(system_wq, &flush_dwork, flush_period);
	else
		set_bit(0, &kick_pending);
}

/* A consumer came: flush soon and keep flushing while there are any. */
void iotsec_flush_start(void)
{
	clear_bit(0, &kick_pending);
	mod_delayed_work(system_wq, &flush_dwork, flush_period);
}

void iotsec_flush_stop(void)
{
	irq_work_sync(&kick_work);
	cancel_delayed_work_sync(&flush_dwork);
}

u32 iotsec_buffer_bytes(void)
{
	return ring_bytes;
}

size_t iotsec_buffer_memory(void)
{
	return (size_t)num_possible_cpus() *
		(ring_bytes + sizeof(struct iotsec_ring));
}

int iotsec_buffer_init(void)
{
	u64 bytes = (u64)buffer_events * IOTSEC_REC_NOMINAL;
	int cpu;

	bytes = clamp_t(u64, bytes, RING_MIN_BYTES, RING_MAX_BYTES);
	ring_bytes = roundup_pow_of_two(bytes);
	buffer_events = ring_bytes / IOTSEC_REC_NOMINAL;
	flush_ms = clamp(flush_ms, 10U, 10000U);
	flush_period = msecs_to_jiffies(flush_ms);
	init_irq_work(&kick_work, kick_fn);

	rings = alloc_percpu(struct iotsec_ring);
	if (!rings)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct iotsec_ring *r = per_cpu_ptr(rings, cpu);

		r->data = vzalloc_node(ring_bytes, cpu_to_node(cpu));
		if (!r->data)
			goto err_ring;
		r->size = ring_bytes;
		if (watermark && watermark < 100)
			r->wmark = (u64)ring_bytes * watermark / 100;
	}
	return 0;

err_ring:
	iotsec_buffer_exit();
	return -ENOMEM;
}

void iotsec_buffer_exit(void)
{
	int cpu;

	if (!rings)
		return;
	for_each_possible_cpu(cpu)
		vfree(per_cpu_ptr(rings, cpu)->data);
	free_percpu(rings);
	rings = NULL;
}
