// SPDX-License-Identifier: GPL-2.0
/*
 * Process events: exec, exit and fork, from the scheduler's tracepoints.
 */
#include <linux/binfmts.h>
#include <linux/fs_struct.h>
#include <linux/mm_types.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <trace/events/sched.h>

#include "compat.h"
#include "iotsec.h"

/* argv lives in the new process's stack, just written by execve. */
static void copy_argv(struct iotsec_rec *rec, u32 argv_max)
{
	struct mm_struct *mm = current->mm;
	unsigned long start, end, len;
	char *dst = iotsec_rec_str(rec, IOTSEC_S_ARGV);

	if (!mm)
		return;
	start = READ_ONCE(mm->arg_start);
	end = READ_ONCE(mm->arg_end);
	if (end <= start)
		return;
	len = end - start;
	if (len > argv_max) {
		len = argv_max;
		rec->u.exec.argv_truncated = 1;
	}
	if (copy_from_user_nofault(dst, (const void __user *)start, len))
		return;
	/* Every argument ends with a NUL, the cut one too. */
	dst[len - 1] = '\0';
	rec->slen[IOTSEC_S_ARGV] = len;
}

static void probe_exec(void *data, struct task_struct *p, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	IOTSEC_TIME_PROBE(data);
	struct iotsec_rec *rec;
	struct path pwd;
	u32 argv_max;

	if (!iotsec_want(IOTSEC_EVENT_EXEC))
		return;
	argv_max = iotsec_config_argv_max();
	rec = iotsec_rec_begin(IOTSEC_EVENT_EXEC,
			       2 * IOTSEC_REC_PATH_MAX + argv_max);
	if (!rec)
		return;
	rec->u.exec.secure_exec = bprm->secureexec;
	iotsec_rec_set_path(rec, IOTSEC_S_EXE, &bprm->file->f_path, NULL);
	copy_argv(rec, argv_max);
	rcu_read_lock();
	if (current->fs) {
		pwd = current->fs->pwd;
		iotsec_rec_set_path(rec, IOTSEC_S_CWD, &pwd, NULL);
	}
	rcu_read_unlock();
	iotsec_rec_commit(rec);
}

/* A record of TYPE without blobs, if anybody wants one. */
static struct iotsec_rec *want_rec(unsigned int type)
{
	return iotsec_want(type) ? iotsec_rec_begin(type, 0) : NULL;
}

static void probe_exit(void *data, struct task_struct *p)
{
	IOTSEC_TIME_PROBE(data);
	struct iotsec_rec *rec;
	u32 code;

	/* Only the last thread of a process reports its end. */
	if (atomic_read(&p->signal->live))
		return;
	rec = want_rec(IOTSEC_EVENT_EXIT);
	if (!rec)
		return;
	code = p->exit_code;
	rec->u.exit.signal = code & 0x7f;
	rec->u.exit.code = rec->u.exit.signal ? 0 : (code >> 8) & 0xff;
	iotsec_rec_commit(rec);
}

static void probe_fork(void *data, struct task_struct *parent,
		       struct task_struct *child)
{
	IOTSEC_TIME_PROBE(data);
	struct iotsec_rec *rec;

	if (child->pid != child->tgid)
		return;
	rec = want_rec(IOTSEC_EVENT_FORK);
	if (!rec)
		return;
	rec->u.fork.child_tgid = child->tgid;
	iotsec_rec_commit(rec);
}

static struct iotsec_hook hooks[] = {
	IOTSEC_TP(sched_process_exec, IOTSEC_EVENT_EXEC, probe_exec),
	IOTSEC_TP(sched_process_exit, IOTSEC_EVENT_EXIT, probe_exit),
	IOTSEC_TP(sched_process_fork, IOTSEC_EVENT_FORK, probe_fork),
};

struct iotsec_hook_set iotsec_proc_hooks = { hooks, ARRAY_SIZE(hooks) };
