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
 * a shared pool: it holds its own attempt, allocated at entry. Later
 * attempts are never hidden by blocked ones, and no attempt holds the
 * module: unload gives up the queued ones (iotsec_attempt_exit()).
 */
#include <linux/atomic.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/hash.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/rcupdate_wait.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

#include "compat.h"
#include "iotsec.h"

/* An attempt's callback: not run yet, running, or given up by unload. */
enum {
	ATTEMPT_QUEUED,
	ATTEMPT_TAKEN,
	ATTEMPT_ORPHAN,
};

struct user_slot;

struct attempt {
	/* sync.head is the task_work; sync serves only an unload (below) */
	struct rcu_synchronize sync;
	struct hlist_node node;
	struct task_struct *task;	/* a reference is held */
	struct user_slot *user;		/* connect: charged to this user */
	unsigned int type;
	atomic_t state;
	bool syn;			/* connect: tcp_connect() saw it */
	union {
		struct {
			u32 target_tgid;
			u32 mode;
			char name[IOTSEC_REC_NAME_MAX];
		};
		struct iotsec_net_fields net;	/* connect */
	};
};

/*
 * Queued attempts by task, so that an entry point finds the attempt its
 * task has already in one short chain (a blocked attach or connect of one
 * user lengthens no other's), and unload finds them all. Only the task
 * itself adds and removes its attempts, and unload; each chain has its
 * lock.
 */
#define ATTEMPT_BITS 8
#define ATTEMPT_CHAINS BIT(ATTEMPT_BITS)

static struct hlist_head chains[ATTEMPT_CHAINS];
static raw_spinlock_t chain_locks[ATTEMPT_CHAINS] = {
	[0 ... ATTEMPT_CHAINS - 1] = __RAW_SPIN_LOCK_UNLOCKED(chain_locks)
};

static unsigned int chain_of(const struct task_struct *task)
{
	return hash_ptr(task, ATTEMPT_BITS);
}

/*
 * The current task's attempt of TYPE still open to the entry points (a
 * connect once tcp_connect() took it is not), or NULL.
 */
static struct attempt *find(unsigned int type)
{
	unsigned int c = chain_of(current);
	struct attempt *a, *found = NULL;
	unsigned long flags;

	if (hlist_empty(&chains[c]))
		return NULL;
	raw_spin_lock_irqsave(&chain_locks[c], flags);
	hlist_for_each_entry(a, &chains[c], node) {
		if (a->task == current && a->type == type && !a->syn) {
			found = a;
			break;
		}
	}
	raw_spin_unlock_irqrestore(&chain_locks[c], flags);
	return found;
}

static void unchain(struct attempt *a)
{
	unsigned int c = chain_of(a->task);
	unsigned long flags;

	raw_spin_lock_irqsave(&chain_locks[c], flags);
	hlist_del(&a->node);
	raw_spin_unlock_irqrestore(&chain_locks[c], flags);
}

static void emit(struct attempt *a, int result)
{
	struct iotsec_rec *rec;

	if (!iotsec_type_on(a->type))
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
		/* a memory access's syscall returns a count or an fd */
		rec->u.ptrace.result = result > 0 ? 0 : result;
	}
	iotsec_rec_commit(rec);
}

static void user_uncharge(struct user_slot *slot);

static void attempt_free(struct attempt *a)
{
	if (a->user)
		user_uncharge(a->user);
	put_task_struct(a->task);
	kfree(a);
}

/*
 * The connect's outcome from what its syscall returns: a byte count (the
 * data of a Fast Open send went) is a success, an interrupted call is
 * -EINTR whether or not it is restarted. The calls return an int's worth
 * (a 32-bit call's register may hold it zero-extended).
 */
static int connect_result(long ret)
{
	int r = (int)ret;

	if (r > 0)
		return 0;
	switch (r) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
	case -ERESTART_RESTARTBLOCK:
		return -EINTR;
	}
	return r;
}

/*
 * Whether a connect that sent no SYN is reported: only when the kernel
 * refused it (no route, no local port, a cgroup BPF program, a bad
 * address). 0 or -EINPROGRESS without a SYN is a Fast Open connect put
 * off until the first write, which reports it then.
 */
static bool refused(int result)
{
	return result < 0 && result != -EINPROGRESS && result != -EINTR;
}

/* The task is back from the syscall: its return value is the result. */
static void attempt_done(struct callback_head *cb)
{
	struct attempt *a = container_of(cb, struct attempt, sync.head);
	bool restarted = false;
	long ret;
	int result;

	/* Given up by an unload: that reported it, and keeps the memory. */
	if (atomic_cmpxchg(&a->state, ATTEMPT_QUEUED, ATTEMPT_TAKEN) !=
	    ATTEMPT_QUEUED)
		return;
	ret = syscall_get_return_value(current, task_pt_regs(current));
	if (a->type == IOTSEC_EVENT_CONNECT) {
		result = connect_result(ret);
		if (a->syn || refused(result))
			emit(a, result);
		goto out;
	}
	result = (int)ret;
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
out:
	/* Unload waits for the chains to empty: after the event. */
	unchain(a);
	attempt_free(a);
}

/* A new attempt of TYPE for the current task, or NULL. */
static struct attempt *attempt_new(unsigned int type)
{
	struct attempt *a;

	a = kmalloc(sizeof(*a), GFP_ATOMIC | __GFP_NOWARN);
	if (!a)
		return NULL;
	a->type = type;
	a->syn = false;
	a->user = NULL;
	return a;
}

/*
 * Queue A, filled in by the caller, to be taken when the task returns to
 * user space; false when the task cannot queue it (it is exiting): then
 * the caller reports it and frees it.
 */
static bool attempt_queue(struct attempt *a)
{
	unsigned int c = chain_of(current);
	unsigned long flags;

	a->task = current;
	get_task_struct(current);
	atomic_set(&a->state, ATTEMPT_QUEUED);
	init_task_work(&a->sync.head, attempt_done);
	raw_spin_lock_irqsave(&chain_locks[c], flags);
	hlist_add_head(&a->node, &chains[c]);
	raw_spin_unlock_irqrestore(&chain_locks[c], flags);
	if (!task_work_add(current, &a->sync.head, TWA_RESUME))
		return true;
	unchain(a);
	return false;
}

/*
 * Start an attempt of TYPE for the current task, or return the one it has
 * already (the same syscall passes more than one entry point): *FRESH
 * says which. NULL when none could be started: then the caller reports the
 * event at once, with result -ENOMEM, so that it is not lost.
 */
static struct attempt *attempt_start(unsigned int type, bool *fresh)
{
	struct attempt *a = find(type);

	*fresh = !a;
	return a ? a : attempt_new(type);
}

/* Queue a fresh attempt; if the task is exiting, report it now. */
static void attempt_go(struct attempt *a)
{
	if (attempt_queue(a))
		return;
	emit(a, -ESRCH);
	attempt_free(a);
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
	if (fresh)
		a->name[0] = 0;
	/* A later name is better: the file's, then the module's own. */
	if (name)
		iotsec_strcut(a->name, sizeof(a->name), name, len);
	if (fresh)
		attempt_go(a);
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
		attempt_go(a);
}

/*
 * TCP connects waiting for their syscall to return, counted per user: at
 * most CONNECTS_PER_USER each (a blocked connect is a blocked thread, so
 * this is far above what a program does, and what one user may keep
 * waiting cannot keep another's connects from waiting). A user's next
 * connect is reported at once with its outcome unknown (-EINPROGRESS).
 *
 * The user is the real uid, except in a user namespace that an
 * unprivileged user made: there every uid counts as that namespace's
 * owner (the outermost such owner), since newuidmap gives an ordinary
 * user thousands of uids there. A namespace made by root (a container
 * with its own uid range) keeps its uids apart.
 *
 * Users with waiting connects are kept in USER_SHARDS tables of
 * USER_SLOTS slots, a uid always in the same one; a slot is free when
 * its count is 0. Nothing is allocated, and a connect scans 4 slots (32
 * cost about 300 instructions more per connect): a table with no slot
 * left (4 other users with connects waiting, whose uids hash to the same
 * of 256 tables) reports the next connect of a new user at once too.
 */
#define CONNECTS_PER_USER 1024
#define USER_SHARD_BITS 8
#define USER_SHARDS BIT(USER_SHARD_BITS)
#define USER_SLOTS 4

struct user_slot {
	kuid_t uid;
	unsigned int n;		/* connects waiting, 0: free */
};

static struct user_shard {
	raw_spinlock_t lock;
	struct user_slot slot[USER_SLOTS];
} users[USER_SHARDS] = {
	[0 ... USER_SHARDS - 1] = {
		.lock = __RAW_SPIN_LOCK_UNLOCKED(users.lock),
	},
};

static struct user_shard *shard_of(kuid_t uid)
{
	return &users[hash_32(__kuid_val(uid), USER_SHARD_BITS)];
}

/* The user the current task's connects are charged to (above). */
static kuid_t connect_owner(void)
{
	const struct cred *cred = current_cred();
	const struct user_namespace *ns, *top = NULL;

	for (ns = cred->user_ns; ns != &init_user_ns; ns = ns->parent)
		if (!uid_eq(ns->owner, GLOBAL_ROOT_UID))
			top = ns;
	return top ? top->owner : cred->uid;
}

/* Charge one waiting connect to the current user; NULL if over the cap. */
static struct user_slot *user_charge(void)
{
	kuid_t uid = connect_owner();
	struct user_shard *s = shard_of(uid);
	struct user_slot *slot, *free = NULL;
	unsigned long flags;

	raw_spin_lock_irqsave(&s->lock, flags);
	for (slot = s->slot; slot < s->slot + USER_SLOTS; slot++) {
		if (slot->n && uid_eq(slot->uid, uid))
			goto found;
		if (!slot->n && !free)
			free = slot;
	}
	slot = free;
	if (slot)
		slot->uid = uid;
found:
	if (slot && slot->n < CONNECTS_PER_USER)
		slot->n++;
	else
		slot = NULL;
	raw_spin_unlock_irqrestore(&s->lock, flags);
	return slot;
}

static void user_uncharge(struct user_slot *slot)
{
	struct user_shard *s = shard_of(slot->uid);
	unsigned long flags;

	raw_spin_lock_irqsave(&s->lock, flags);
	slot->n--;
	raw_spin_unlock_irqrestore(&s->lock, flags);
}

/*
 * 32-bit calls of a 64-bit kernel, by their numbers in the 32-bit table:
 * x86's ia32 table (socketcall(2) carries connect and the sends), arm64's
 * AArch32 (EABI) one.
 */
static bool compat_connect_nr(int nr)
{
#if defined(CONFIG_X86_64) && defined(CONFIG_IA32_EMULATION)
	switch (nr) {
	case __NR_ia32_connect:
	case __NR_ia32_socketcall:
	case __NR_ia32_sendto:
	case __NR_ia32_sendmsg:
	case __NR_ia32_sendmmsg:
	case __NR_ia32_write:
	case __NR_ia32_writev:
		return true;
	}
#elif defined(CONFIG_ARM64) && defined(CONFIG_COMPAT)
	/* arch/arm/tools/syscall.tbl: write, writev, connect, send... */
	switch (nr) {
	case 4: case 146: case 283: case 289: case 290: case 296: case 374:
		return true;
	}
#endif
	return false;
}

/*
 * Is the current task in a system call whose return value is the outcome
 * of the connect it makes: connect(2), or a send that opens a Fast Open
 * connection, 64-bit or 32-bit? Kernel threads (MPTCP subflows) and
 * io_uring are not.
 */
static bool connect_syscall(void)
{
	int nr;

	if (!in_task() ||
	    (current->flags &
	     (PF_KTHREAD | PF_EXITING | IOTSEC_PF_IO_WORKER)))
		return false;
	nr = syscall_get_nr(current, task_pt_regs(current));
	if (in_compat_syscall())
		return compat_connect_nr(nr);
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

/* A new connect attempt that can wait for its syscall, or NULL. */
static struct attempt *connect_new(void)
{
	struct user_slot *user;
	struct attempt *a;

	if (!connect_syscall())
		return NULL;
	user = user_charge();
	if (!user)
		return NULL;
	a = attempt_new(IOTSEC_EVENT_CONNECT);
	if (!a) {
		user_uncharge(user);
		return NULL;
	}
	a->user = user;
	return a;
}

/*
 * A TCP connect on an unconnected socket starts, N the fields known so far
 * (the destination asked for): if the kernel refuses it before a SYN is
 * sent (no route, no free port, a cgroup BPF program), its syscall's error
 * is reported; otherwise tcp_connect() takes the attempt over. A connect
 * that cannot wait is left to tcp_connect(): a refusal is not seen then.
 */
void iotsec_attempt_connect_start(const struct iotsec_net_fields *n)
{
	struct attempt *a;

	if (find(IOTSEC_EVENT_CONNECT))
		return;
	a = connect_new();
	if (!a)
		return;
	a->net = *n;
	if (attempt_queue(a))
		return;
	/* exiting: no syscall result to wait for, nothing to report */
	attempt_free(a);
}

/*
 * A TCP connect whose SYN is about to leave, N its fields: reported when
 * its syscall returns, with the syscall's result. When it cannot wait for
 * that (no syscall of ours, its user has too many waiting, no memory, no
 * way back to user space), reported now with -EINPROGRESS: never hidden.
 */
void iotsec_attempt_connect(const struct iotsec_net_fields *n)
{
	struct attempt *a = find(IOTSEC_EVENT_CONNECT);

	if (a) {
		/* started at the connect's entry: the fields are final now */
		a->net = *n;
		WRITE_ONCE(a->syn, true);
		return;
	}
	a = connect_new();
	if (!a) {
		struct attempt tmp = { .type = IOTSEC_EVENT_CONNECT, .net = *n };

		emit(&tmp, -EINPROGRESS);
		return;
	}
	a->net = *n;
	a->syn = true;
	if (attempt_queue(a))
		return;
	emit(a, -EINPROGRESS);
	attempt_free(a);
}

/*
 * task_work_cancel() is not exported: the same steps, under the lock that
 * task_work_run() synchronizes with (the task's pi_lock). Unlinks CB from
 * TASK's queue; false when the task has taken its queue already.
 */
static bool unqueue(struct task_struct *task, struct callback_head *cb)
{
	struct callback_head **pprev = &task->task_works;
	struct callback_head *work;
	unsigned long flags;

	raw_spin_lock_irqsave(&task->pi_lock, flags);
	while ((work = READ_ONCE(*pprev))) {
		if (work != cb)
			pprev = &work->next;
		else if (cmpxchg(pprev, work, work->next) == work)
			break;
	}
	raw_spin_unlock_irqrestore(&task->pi_lock, flags);
	return work == cb;
}

/*
 * An attempt still open when the collector goes: its outcome is unknown.
 * Reported (as its task's) with -EINPROGRESS; a connect that sent no SYN
 * yet is not reported.
 */
static void report_open(struct attempt *a)
{
	struct iotsec_rec *rec;

	if (a->type == IOTSEC_EVENT_CONNECT && !a->syn)
		return;
	if (!iotsec_type_on(a->type))
		return;
	rec = iotsec_rec_begin_task(a->type, IOTSEC_REC_NAME_MAX, a->task);
	if (!rec)
		return;
	if (a->type == IOTSEC_EVENT_CONNECT) {
		rec->u.net = a->net;
		rec->u.net.has_result = 1;
		rec->u.net.result = -EINPROGRESS;
	} else if (a->type == IOTSEC_EVENT_MODULE) {
		iotsec_rec_set_str(rec, IOTSEC_S_NAME, a->name);
		rec->u.module.result = -EINPROGRESS;
	} else {
		rec->u.ptrace.target_tgid = a->target_tgid;
		rec->u.ptrace.mode = a->mode;
		rec->u.ptrace.result = -EINPROGRESS;
	}
	iotsec_rec_commit(rec);
}

/*
 * Give up every queued attempt, the hooks being gone (no attempt starts
 * any more). An attempt holds no module reference, so no user can keep
 * rmmod from starting, and none can make it wait: a call that blocks for
 * ever (an attach waiting for the cred_guard_mutex of an exec that never
 * ends, a module init that sleeps) is reported now with -EINPROGRESS and
 * its callback leaves the task's queue, which is how it is freed. A task
 * that has taken its queue already runs the callback shortly: if the
 * callback has started it finishes (waited for below); if not, it is
 * turned into wakeme_after_rcu() (kernel code, which completes the
 * attempt's own completion) and the attempt is left allocated, as that
 * call may still come. RCU Tasks then waits until every task has passed
 * a voluntary switch or user space: none is in our code then.
 */
void iotsec_attempt_exit(void)
{
	struct attempt *a;
	struct hlist_node *tmp;
	HLIST_HEAD(mine);
	HLIST_HEAD(left);
	unsigned long flags;
	unsigned int c;

	for (c = 0; c < ATTEMPT_CHAINS; c++) {
		raw_spin_lock_irqsave(&chain_locks[c], flags);
		hlist_for_each_entry_safe(a, tmp, &chains[c], node) {
			if (unqueue(a->task, &a->sync.head)) {
				hlist_del(&a->node);
				hlist_add_head(&a->node, &mine);
				continue;
			}
			init_completion(&a->sync.completion);
			/* the completion is ready before the call can come */
			smp_store_release(&a->sync.head.func, wakeme_after_rcu);
			if (atomic_cmpxchg(&a->state, ATTEMPT_QUEUED,
					   ATTEMPT_ORPHAN) == ATTEMPT_QUEUED) {
				hlist_del(&a->node);
				hlist_add_head(&a->node, &left);
			}
			/* else its callback runs: it unchains it */
		}
		raw_spin_unlock_irqrestore(&chain_locks[c], flags);
	}
	hlist_for_each_entry_safe(a, tmp, &mine, node) {
		report_open(a);
		attempt_free(a);
	}
	hlist_for_each_entry_safe(a, tmp, &left, node) {
		report_open(a);
		put_task_struct(a->task);
	}
	/* callbacks under way take their attempts out of the chains */
	for (c = 0; c < ATTEMPT_CHAINS; c++)
		while (!hlist_empty(&chains[c]))
			msleep(20);
	/* the reports go out before the family does */
	iotsec_flush_stop();
	iotsec_netlink_flush();
	synchronize_rcu_tasks();
}
