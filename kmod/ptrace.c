// SPDX-License-Identifier: GPL-2.0
/*
 * ptrace: attach and seize to another process, and PTRACE_TRACEME (which
 * hands the caller to its parent, reported with the parent as target).
 */
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched.h>

#include "compat.h"
#include "iotsec.h"

struct ptrace_data {
	u32 target_tgid;
	u32 mode;
};

static int attach_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ptrace_data *d = (struct ptrace_data *)ri->data;
	struct task_struct *task = (struct task_struct *)iotsec_arg(regs, 0);
	long request = (long)iotsec_arg(regs, 1);

	if (!iotsec_want(IOTSEC_EVENT_PTRACE) || !task)
		return 1;
	d->target_tgid = task_tgid_nr(task);
	d->mode = request == PTRACE_SEIZE ? IOTSEC_PTRACE_SEIZE :
					    IOTSEC_PTRACE_ATTACH;
	return 0;
}

static int traceme_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ptrace_data *d = (struct ptrace_data *)ri->data;
	struct task_struct *parent = (struct task_struct *)iotsec_arg(regs, 0);

	if (!iotsec_want(IOTSEC_EVENT_PTRACE) || !parent)
		return 1;
	d->target_tgid = task_tgid_nr(parent);
	d->mode = IOTSEC_PTRACE_TRACEME;
	return 0;
}

static int ptrace_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ptrace_data *d = (struct ptrace_data *)ri->data;
	struct iotsec_rec *rec;

	rec = iotsec_rec_begin(IOTSEC_EVENT_PTRACE, 0);
	if (!rec)
		return 0;
	rec->u.ptrace.target_tgid = d->target_tgid;
	rec->u.ptrace.mode = d->mode;
	rec->u.ptrace.result = (int)regs_return_value(regs);
	iotsec_rec_commit(rec);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KRETPROBE("ptrace_attach", IOTSEC_EVENT_PTRACE,
			 attach_entry, ptrace_ret, sizeof(struct ptrace_data)),
	IOTSEC_KRETPROBE("security_ptrace_traceme", IOTSEC_EVENT_PTRACE,
			 traceme_entry, ptrace_ret, sizeof(struct ptrace_data)),
};

struct iotsec_hook_set iotsec_ptrace_hooks = { hooks, ARRAY_SIZE(hooks) };
