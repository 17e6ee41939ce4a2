// SPDX-License-Identifier: GPL-2.0
/*
 * Attempts whose result is what a system call returns: module loads,
 * ptrace attaches and TCP connects. A kprobe at the entry of the operation starts an
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
#include <linux/atomic.h>
#include <linux/compat.h>
#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

#include "compat.h"
#include "iotsec.h"

struct attempt {
	struct callback_head work;
	struct list_head list;
	struct task_struct *task;
	unsigned int type;
	union {
		struct {
			u32 target_tgid;
			u32 mode;
			char name[IOTSEC_REC_NAME_MAX];
		};
		struct iotsec_net_fields net;	/* connect */
	};
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
	if (a->type == IOTSEC_EVENT_CONNECT) {
		rec->u.net = a->net;
		rec->u.net.has_result = 1;
		rec->u.net.result = result;
	} else if (a->type == IOTSEC_EVENT_MODULE) {
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
	bool restarted = false;
	unsigned long flags;
	int result;

	result = (int)syscall_get_return_value(current,
					       task_pt_regs(current));
	raw_spin_lock_irqsave(&attempts_lock, flags);
	list_del(&a->list);
	raw_spin_unlock_irqrestore(&attempts_lock, flags);
	/*
	 * A signal interrupted the wait: the kernel restarts the call unless
	 * the signal kills the task, and the restarted call enters the probe
	 * anew, so it alone is reported. A call that ends here is -EINTR.
	 */
	if (result <= -ERESTARTSYS && result >= -ERESTART_RESTARTBLOCK) {
		restarted = result == -ERESTARTNOINTR &&
			    !fatal_signal_pending(current);
		result = -EINTR;
	}
	if (!restarted)
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
		/* The module is going: report now rather than lose it. */
		emit(a, -ESRCH);
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
 * TCP connects: at most this many wait for their syscall to return. One
 * more is reported at once, its outcome unknown (-EINPROGRESS).
 */
#define CONNECTS_MAX 4096
static atomic_t connects = ATOMIC_INIT(0);

/*
 * The connect's outcome from what its syscall returns: a byte count (the
 * data of a Fast Open send went) is a success, an interrupted call is
 * -EINTR whether or not it is restarted.
 */
static int connect_result(long ret)
{
	if (ret > 0)
		return 0;
	switch (ret) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
	case -ERESTART_RESTARTBLOCK:
		return -EINTR;
	}
	return (int)ret;
}

static void connect_done(struct callback_head *cb)
{
	struct attempt *a = container_of(cb, struct attempt, work);
	long ret = syscall_get_return_value(current, task_pt_regs(current));

	emit(a, connect_result(ret));
	kfree(a);
	/* Last: iotsec_attempt_exit() waits for the count to reach 0. */
	atomic_dec(&connects);
}

/*
 * Is the current task in a system call whose return value is the outcome
 * of the connect it makes: connect(2), or a send that opens a Fast Open
 * connection? Kernel threads (MPTCP subflows), io_uring workers and
 * compat syscalls are not.
 */
static bool connect_syscall(void)
{
	int nr;

	if (!in_task() || in_compat_syscall() ||
	    (current->flags &
	     (PF_KTHREAD | PF_EXITING | IOTSEC_PF_IO_WORKER)))
		return false;
	nr = syscall_get_nr(current, task_pt_regs(current));
	switch (nr) {
	case __NR_connect:
	case __NR_sendto:
	case __NR_sendmsg:
	case __NR_sendmmsg:
	case __NR_write:
	case __NR_writev:
		return true;
	}
	return false;
}

/* An attempt for a connect that can wait for its syscall, or NULL. */
static struct attempt *connect_start(void)
{
	struct attempt *a;

	if (!connect_syscall())
		return NULL;
	if (atomic_inc_return(&connects) > CONNECTS_MAX)
		goto none;
	a = kmalloc(sizeof(*a), GFP_ATOMIC | __GFP_NOWARN);
	if (a)
		return a;
none:
	atomic_dec(&connects);
	return NULL;
}

/*
 * A TCP connect whose SYN is about to leave, N its fields: reported when
 * its syscall returns, with the syscall's result. When it cannot wait for
 * that (no syscall of ours, too many waiting, no memory, no way back to
 * user space), reported now with -EINPROGRESS: never hidden.
 */
void iotsec_attempt_connect(const struct iotsec_net_fields *n)
{
	struct attempt *a = connect_start();

	if (!a) {
		struct attempt tmp = { .type = IOTSEC_EVENT_CONNECT, .net = *n };

		emit(&tmp, -EINPROGRESS);
		return;
	}
	a->type = IOTSEC_EVENT_CONNECT;
	a->net = *n;
	init_task_work(&a->work, connect_done);
	if (!task_work_add(current, &a->work, TWA_RESUME))
		return;
	/* The task is exiting: no way back to user space. */
	emit(a, -EINPROGRESS);
	kfree(a);
	atomic_dec(&connects);
}

/*
 * Each queued module or ptrace attempt holds a reference on the module, so
 * unload can only start once every callback has dropped its own; a
 * callback may still be on its way out of module_put(). Connect attempts
 * hold none (a busy machine always has connects in flight, and rmmod would
 * never find the count at 0): the hooks are gone when this runs, so no
 * connect attempt starts any more, and unload waits for the queued ones
 * to be taken (a connect that blocks keeps it waiting until it returns).
 * RCU Tasks then waits until every task has passed a voluntary switch or
 * user space: none is in our code then.
 */
void iotsec_attempt_exit(void)
{
	while (atomic_read(&connects))
		msleep(20);
	synchronize_rcu_tasks();
}
