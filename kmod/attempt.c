// SPDX-License-Identifier: GPL-2.0
/*
 * Attempts whose result is what a system call returns: module loads and
 * ptrace attaches. A kprobe at the entry of the operation starts an
 * attempt for the current task and queues a task_work; the task runs it on
 * its way back to user space (or in do_exit()), where the syscall's return
 * value is in its registers. The event is taken there, with that result.
 *
 * No return probe is involved, so a call that sleeps (a module init that
 * never ends, an attach waiting for cred_guard_mutex) holds no instance of
 * a shared pool: it holds its own attempt, allocated at entry, and a
 * reference on this module so that the queued callback outlives no code.
 * Later attempts are never hidden by blocked ones.
 */
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <asm/syscall.h>

#include "compat.h"
#include "iotsec.h"

struct attempt {
	struct callback_head work;
	struct list_head list;
	struct task_struct *task;
	unsigned int type;
	u32 target_tgid;
	u32 mode;
	char name[IOTSEC_REC_NAME_MAX];
};

static LIST_HEAD(attempts);
static DEFINE_RAW_SPINLOCK(attempts_lock);

static struct attempt *find_locked(struct task_struct *task,
				   unsigned int type)
{
	struct attempt *a;

	list_for_each_entry(a, &attempts, list)
		if (a->task == task && a->type == type)
			return a;
	return NULL;
}

static void emit(struct attempt *a, int result)
{
	struct iotsec_rec *rec;

	if (!iotsec_want(a->type))
		return;
	rec = iotsec_rec_begin(a->type, IOTSEC_REC_NAME_MAX);
	if (!rec)
		return;
	if (a->type == IOTSEC_EVENT_MODULE) {
		iotsec_rec_set_str(rec, IOTSEC_S_NAME, a->name);
		rec->u.module.result = result;
	} else {
		rec->u.ptrace.target_tgid = a->target_tgid;
		rec->u.ptrace.mode = a->mode;
		rec->u.ptrace.result = result;
	}
	iotsec_rec_commit(rec);
}

/* The task is back from the syscall: its return value is the result. */
static void attempt_done(struct callback_head *cb)
{
	struct attempt *a = container_of(cb, struct attempt, work);
	unsigned long flags;
	int result;

	result = (int)syscall_get_return_value(current,
					       task_pt_regs(current));
	raw_spin_lock_irqsave(&attempts_lock, flags);
	list_del(&a->list);
	raw_spin_unlock_irqrestore(&attempts_lock, flags);
	emit(a, result);
	kfree(a);
	/* iotsec_attempt_exit() waits for the return from here. */
	module_put(THIS_MODULE);
}

/*
 * Start an attempt of TYPE for the current task, or return the one it has
 * already (the same syscall passes more than one entry point). Called from
 * kprobe handlers. NULL when none could be started: then the event is
 * taken at once, with result -ENOMEM, so that it is not lost.
 */
static struct attempt *attempt_start(unsigned int type, bool *fresh)
{
	struct attempt *a;
	unsigned long flags;

	*fresh = false;
	raw_spin_lock_irqsave(&attempts_lock, flags);
	a = find_locked(current, type);
	raw_spin_unlock_irqrestore(&attempts_lock, flags);
	if (a)
		return a;
	a = kzalloc(sizeof(*a), GFP_ATOMIC | __GFP_NOWARN);
	if (!a)
		return NULL;
	a->task = current;
	a->type = type;
	*fresh = true;
	return a;
}

/* Queue A, filled in by the caller; if that fails, report it now. */
static void attempt_queue(struct attempt *a)
{
	unsigned long flags;

	if (!try_module_get(THIS_MODULE)) {
		kfree(a);
		return;
	}
	init_task_work(&a->work, attempt_done);
	raw_spin_lock_irqsave(&attempts_lock, flags);
	list_add(&a->list, &attempts);
	raw_spin_unlock_irqrestore(&attempts_lock, flags);
	if (!task_work_add(current, &a->work, TWA_RESUME))
		return;
	/* The task is exiting: no way back to user space. */
	raw_spin_lock_irqsave(&attempts_lock, flags);
	list_del(&a->list);
	raw_spin_unlock_irqrestore(&attempts_lock, flags);
	emit(a, -ESRCH);
	kfree(a);
	module_put(THIS_MODULE);
}

void iotsec_attempt_module(const char *name, size_t len)
{
	struct attempt *a;
	bool fresh;

	a = attempt_start(IOTSEC_EVENT_MODULE, &fresh);
	if (!a) {
		struct attempt tmp = { .type = IOTSEC_EVENT_MODULE };

		if (name)
			iotsec_strcut(tmp.name, sizeof(tmp.name), name, len);
		emit(&tmp, -ENOMEM);
		return;
	}
	/* A later name is better: the file's, then the module's own. */
	if (name)
		iotsec_strcut(a->name, sizeof(a->name), name, len);
	if (fresh)
		attempt_queue(a);
}

void iotsec_attempt_ptrace(u32 target_tgid, u32 mode)
{
	struct attempt *a;
	bool fresh;

	a = attempt_start(IOTSEC_EVENT_PTRACE, &fresh);
	if (!a) {
		struct attempt tmp = {
			.type = IOTSEC_EVENT_PTRACE,
			.target_tgid = target_tgid,
			.mode = mode,
		};

		emit(&tmp, -ENOMEM);
		return;
	}
	a->target_tgid = target_tgid;
	a->mode = mode;
	if (fresh)
		attempt_queue(a);
}

/*
 * Each queued attempt holds a reference on the module, so unload can only
 * start once every callback has dropped its own; a callback may still be
 * on its way out of module_put(). RCU Tasks waits until every task has
 * passed a voluntary switch or user space: none is in our code then.
 */
void iotsec_attempt_exit(void)
{
	synchronize_rcu_tasks();
}
