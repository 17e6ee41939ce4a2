// SPDX-License-Identifier: GPL-2.0
/*
 * ptrace: attach and seize to another process, and PTRACE_TRACEME (which
 * hands the caller to its parent, reported with the parent as target).
 *
 * ptrace_attach() can sleep (it waits for the target's cred_guard_mutex,
 * held for as long as an exec of the target runs), so it gets no return
 * probe: its entry starts an attempt that ends with the return value of
 * ptrace(2) (attempt.c). Where ptrace_attach() cannot be probed (32-bit
 * ARM without CONFIG_COMPAT: sys_ptrace() is its only caller and gcc
 * inlines it), an entry probe on ptrace(2) itself (and its compat entry)
 * does the same for PTRACE_ATTACH and PTRACE_SEIZE, with the target
 * ptrace(2) hands ptrace_attach(). security_ptrace_traceme() runs under
 * tasklist_lock and cannot sleep: a return probe there is safe.
 *
 * Memory of another process: mm_access() hands out the mm of a task after
 * a ptrace access check, for /proc/PID/mem (PTRACE_MODE_ATTACH) and
 * process_vm_readv/writev (PTRACE_MODE_ATTACH_REALCREDS). The other /proc
 * files that call it (maps, smaps, pagemap, environ, auxv) ask for
 * PTRACE_MODE_READ, and ps's stat, status and cmdline do not call it: the
 * ATTACH bit alone tells a memory access. mm_access() can sleep (it takes
 * the target's exec_update_lock): its entry starts an attempt, as
 * ptrace_attach() does.
 */
#include <linux/kprobes.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <asm/syscall.h>

#include "compat.h"
#include "iotsec.h"

static int attach_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct task_struct *task = (struct task_struct *)iotsec_arg(regs, 0);
	long request = (long)iotsec_arg(regs, 1);

	if (!iotsec_want(IOTSEC_EVENT_PTRACE) || !task)
		return 0;
	iotsec_attempt_ptrace(task_tgid_nr(task),
			      request == PTRACE_SEIZE ? IOTSEC_PTRACE_SEIZE :
							IOTSEC_PTRACE_ATTACH);
	return 0;
}

/*
 * At ptrace(2)'s entry: its request, read from the registers the task
 * entered the syscall with (the same whatever the architecture's wrapper
 * passes the syscall function, native or compat), and for PTRACE_ATTACH
 * and PTRACE_SEIZE the task ptrace(2) will hand ptrace_attach(): the
 * pid's in the caller's namespace. NULL for another request, or no such
 * task (ptrace(2) fails with ESRCH without an attach). Under
 * rcu_read_lock().
 */
struct task_struct *iotsec_ptrace_sys_target(long *request)
{
	unsigned long args[6];

	syscall_get_arguments(current, current_pt_regs(), args);
	*request = (long)args[0];
	if (*request != PTRACE_ATTACH && *request != PTRACE_SEIZE)
		return NULL;
	return pid_task(find_vpid((pid_t)args[1]), PIDTYPE_PID);
}

static int sys_attach_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct task_struct *task;
	long request;

	if (!iotsec_want(IOTSEC_EVENT_PTRACE))
		return 0;
	rcu_read_lock();
	task = iotsec_ptrace_sys_target(&request);
	if (task)
		iotsec_attempt_ptrace(task_tgid_nr(task),
				      request == PTRACE_SEIZE ?
				      IOTSEC_PTRACE_SEIZE :
				      IOTSEC_PTRACE_ATTACH);
	rcu_read_unlock();
	return 0;
}

struct traceme_data {
	u32 target_tgid;
};

static int traceme_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct traceme_data *d = (struct traceme_data *)ri->data;
	struct task_struct *parent = (struct task_struct *)iotsec_arg(regs, 0);

	if (!iotsec_want(IOTSEC_EVENT_PTRACE) || !parent)
		return 1;
	d->target_tgid = task_tgid_nr(parent);
	return 0;
}

static int traceme_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct traceme_data *d = (struct traceme_data *)ri->data;
	struct iotsec_rec *rec;

	rec = iotsec_rec_begin(IOTSEC_EVENT_PTRACE, 0);
	if (!rec)
		return 0;
	rec->u.ptrace.target_tgid = d->target_tgid;
	rec->u.ptrace.mode = IOTSEC_PTRACE_TRACEME;
	rec->u.ptrace.result = (int)regs_return_value(regs);
	iotsec_rec_commit(rec);
	return 0;
}

/*
 * The last memory access reported on this CPU. A reader that samples a
 * target in a loop (a profiler calling process_vm_readv() a hundred times
 * a second) is reported once per second and CPU, not once per call.
 */
struct mem_last {
	u32 reader, target;
	unsigned long until;	/* jiffies */
};

static DEFINE_PER_CPU(struct mem_last, mem_last);

/* Whether READER's access to TARGET was reported here in the last second. */
static bool mem_repeat(u32 reader, u32 target)
{
	struct mem_last *l = this_cpu_ptr(&mem_last);

	if (l->reader == reader && l->target == target &&
	    time_before(jiffies, l->until))
		return true;
	l->reader = reader;
	l->target = target;
	l->until = jiffies + HZ;
	return false;
}

static int mem_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct task_struct *task = (struct task_struct *)iotsec_arg(regs, 0);
	unsigned int mode = (unsigned int)iotsec_arg(regs, 1);
	struct iotsec_rec *rec;
	u32 target;

	if (!iotsec_want(IOTSEC_EVENT_PTRACE) || !(mode & PTRACE_MODE_ATTACH) ||
	    !task || same_thread_group(task, current))
		return 0;
	target = task_tgid_nr(task);
	if (mem_repeat(task_tgid_nr(current), target))
		return 0;
	if (!(current->flags & (PF_KTHREAD | IOTSEC_PF_IO_WORKER))) {
		iotsec_attempt_ptrace(target, IOTSEC_PTRACE_MEMORY);
		return 0;
	}
	/* an io_uring open: no syscall of this task returns its result */
	rec = iotsec_rec_begin(IOTSEC_EVENT_PTRACE, 0);
	if (!rec)
		return 0;
	rec->u.ptrace.target_tgid = target;
	rec->u.ptrace.mode = IOTSEC_PTRACE_MEMORY;
	rec->u.ptrace.result = -EINPROGRESS;
	iotsec_rec_commit(rec);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("ptrace_attach", IOTSEC_EVENT_PTRACE, attach_pre),
	/* where ptrace_attach() is inlined */
	{ .type = IOTSEC_EVENT_PTRACE, .kind = IOTSEC_HOOK_KPROBE,
	  .fallback = true,
	  .kp = { .symbol_name = IOTSEC_SYSCALL_SYM("ptrace"),
		  .pre_handler = sys_attach_pre } },
#ifdef IOTSEC_COMPAT_SYS_SYM
	{ .type = IOTSEC_EVENT_PTRACE, .kind = IOTSEC_HOOK_KPROBE,
	  .fallback = true, .optional = true,
	  .kp = { .symbol_name = IOTSEC_COMPAT_SYS_SYM("ptrace"),
		  .pre_handler = sys_attach_pre } },
#endif
	IOTSEC_HELPER_KPROBE("mm_access", IOTSEC_EVENT_PTRACE, mem_pre),
	IOTSEC_KRETPROBE("security_ptrace_traceme", IOTSEC_EVENT_PTRACE,
			 traceme_entry, traceme_ret,
			 sizeof(struct traceme_data)),
};

struct iotsec_hook_set iotsec_ptrace_hooks = { hooks, ARRAY_SIZE(hooks) };
