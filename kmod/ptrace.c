// SPDX-License-Identifier: GPL-2.0
/*
 * ptrace: attach and seize to another process, and PTRACE_TRACEME (which
 * hands the caller to its parent, reported with the parent as target).
 *
 * ptrace_attach() can sleep (it waits for the target's cred_guard_mutex,
 * held for as long as an exec of the target runs), so it gets no return
 * probe: its entry starts an attempt that ends with the return value of
 * ptrace(2) (attempt.c). security_ptrace_traceme() runs under
 * tasklist_lock and cannot sleep: a return probe there is safe.
 */
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched.h>

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

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("ptrace_attach", IOTSEC_EVENT_PTRACE, attach_pre),
	IOTSEC_KRETPROBE("security_ptrace_traceme", IOTSEC_EVENT_PTRACE,
			 traceme_entry, traceme_ret,
			 sizeof(struct traceme_data)),
};

struct iotsec_hook_set iotsec_ptrace_hooks = { hooks, ARRAY_SIZE(hooks) };
