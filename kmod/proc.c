// SPDX-License-Identifier: GPL-2.0
/*
 * Process events: exec, exit and fork, from the scheduler's tracepoints,
 * and the end of a process from the thread that ends it.
 */
#include <linux/binfmts.h>
#include <linux/kprobes.h>
#include <linux/fs_struct.h>
#include <linux/kdev_t.h>
#include <linux/mm_types.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seqlock.h>
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

/*
 * The working directory, read as get_fs_pwd() does but without its
 * spinlock: fs->seq says whether a chdir() in a task sharing FS (CLONE_FS)
 * changed it meanwhile. RCU keeps the dentry and mount alive for d_path().
 */
static void set_cwd(struct iotsec_rec *rec)
{
	struct fs_struct *fs;
	struct path pwd;
	unsigned int seq;

	rcu_read_lock();
	fs = READ_ONCE(current->fs);
	if (fs) {
		do {
			seq = read_seqcount_begin(&fs->seq);
			pwd = fs->pwd;
		} while (read_seqcount_retry(&fs->seq, seq));
		iotsec_rec_set_path(rec, IOTSEC_S_CWD, &pwd, NULL);
	}
	rcu_read_unlock();
}

/*
 * The identity of the file executed, for userspace to check that the file
 * it opens to hash is this one (a plain read of the inode: no lock, no
 * sleep; a ctime torn by a concurrent change only fails that check).
 */
static void set_exe_id(struct iotsec_rec *rec, struct file *file)
{
	struct inode *inode = file_inode(file);
	struct timespec64 ct = iotsec_inode_ctime(inode);

	rec->u.exec.dev = new_encode_dev(inode->i_sb->s_dev);
	rec->u.exec.ino = inode->i_ino;
	rec->u.exec.ctime_sec = ct.tv_sec;
	rec->u.exec.ctime_nsec = ct.tv_nsec;
}

static void probe_exec(void *data, struct task_struct *p, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	IOTSEC_TIME_PROBE(data);
	struct iotsec_rec *rec;
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
	set_exe_id(rec, bprm->file);
	copy_argv(rec, argv_max);
	set_cwd(rec);
	iotsec_rec_commit(rec);
}

/* A record of TYPE without blobs, if anybody wants one. */
static struct iotsec_rec *want_rec(unsigned int type)
{
	return iotsec_want(type) ? iotsec_rec_begin(type, 0) : NULL;
}

static void report_exit(struct task_struct *p)
{
	struct iotsec_rec *rec;
	u32 code;

	rec = want_rec(IOTSEC_EVENT_EXIT);
	if (!rec)
		return;
	code = p->exit_code;
	rec->u.exit.signal = code & 0x7f;
	rec->u.exit.code = rec->u.exit.signal ? 0 : (code >> 8) & 0xff;
	iotsec_rec_commit(rec);
}

/*
 * do_exit() tells taskstats_exit() whether this thread is the one whose
 * atomic_dec_and_test() of signal->live ended the process (group_dead),
 * once exit_code is set: exactly one thread per process. Reading
 * signal->live later, at the tracepoint, is not enough: two threads
 * exiting together can both find it 0.
 */
static int taskstats_exit_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct task_struct *p = (struct task_struct *)iotsec_arg(regs, 0);
	int group_dead = (int)iotsec_arg(regs, 1);

	if (group_dead && p == current)
		report_exit(p);
	return 0;
}

enum { HOOK_GROUP_EXIT, HOOK_EXEC, HOOK_EXIT, HOOK_FORK, NR_HOOKS };
static struct iotsec_hook hooks[NR_HOOKS];

/* Without CONFIG_TASKSTATS: the tracepoint, which can report twice. */
static void probe_exit(void *data, struct task_struct *p)
{
	IOTSEC_TIME_PROBE(data);
	if (READ_ONCE(hooks[HOOK_GROUP_EXIT].placed))
		return;
	if (atomic_read(&p->signal->live))
		return;
	report_exit(p);
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

static struct iotsec_hook hooks[NR_HOOKS] = {
	[HOOK_GROUP_EXIT] = {
		.type = IOTSEC_EVENT_EXIT, .kind = IOTSEC_HOOK_KPROBE,
		.optional = true,
		.kp = { .symbol_name = "taskstats_exit",
			.pre_handler = taskstats_exit_pre } },
	[HOOK_EXEC] = IOTSEC_TP(sched_process_exec, IOTSEC_EVENT_EXEC,
				probe_exec),
	[HOOK_EXIT] = IOTSEC_TP(sched_process_exit, IOTSEC_EVENT_EXIT,
				probe_exit),
	[HOOK_FORK] = IOTSEC_TP(sched_process_fork, IOTSEC_EVENT_FORK,
				probe_fork),
};

struct iotsec_hook_set iotsec_proc_hooks = { hooks, ARRAY_SIZE(hooks) };
