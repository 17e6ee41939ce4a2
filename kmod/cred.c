// SPDX-License-Identifier: GPL-2.0
/*
 * Credential changes: every new set of credentials a task installs goes
 * through commit_creds(), setuid() and a setuid exec alike. Only changes
 * of the ids or newly gained effective capabilities are reported.
 *
 * An exec installs its credentials right after
 * security_bprm_committing_creds(bprm), which knows the file being
 * executed: the change is reported there, with that file as EXE and
 * FROM_EXEC set, and commit_creds() skips the credentials it just saw.
 */
#include <linux/binfmts.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/spinlock.h>

#include "compat.h"
#include "iotsec.h"

/*
 * Credentials an exec is about to commit, by task: compared, never
 * dereferenced. The two calls follow each other, so few are ever here; an
 * entry pushed out early only costs a second report of that change.
 */
#define EXEC_SLOTS 16

static struct {
	const struct task_struct *task;
	const struct cred *cred;
} exec_slots[EXEC_SLOTS];
static unsigned int exec_next;
static DEFINE_RAW_SPINLOCK(exec_lock);

static void exec_remember(const struct cred *new)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&exec_lock, flags);
	WRITE_ONCE(exec_slots[exec_next].task, current);
	exec_slots[exec_next].cred = new;
	exec_next = (exec_next + 1) % EXEC_SLOTS;
	raw_spin_unlock_irqrestore(&exec_lock, flags);
}

/* Whether NEW is what an exec of the current task reported already. */
static bool exec_forget(const struct cred *new)
{
	unsigned long flags;
	bool found = false;
	int i;

	/* Only this task fills its slots: a slot of ours is seen unlocked. */
	for (i = 0; i < EXEC_SLOTS; i++)
		if (READ_ONCE(exec_slots[i].task) == current)
			break;
	if (i == EXEC_SLOTS)
		return false;
	raw_spin_lock_irqsave(&exec_lock, flags);
	for (i = 0; i < EXEC_SLOTS; i++) {
		if (exec_slots[i].task != current)
			continue;
		found |= exec_slots[i].cred == new;
		WRITE_ONCE(exec_slots[i].task, NULL);
		exec_slots[i].cred = NULL;
	}
	raw_spin_unlock_irqrestore(&exec_lock, flags);
	return found;
}

static void ids(const struct cred *c, u32 *out)
{
	out[0] = from_kuid_munged(&init_user_ns, c->uid);
	out[1] = from_kuid_munged(&init_user_ns, c->euid);
	out[2] = from_kgid_munged(&init_user_ns, c->gid);
	out[3] = from_kgid_munged(&init_user_ns, c->egid);
}

/* Report OLD -> NEW if it is a change; EXE when an exec makes it. */
static void report(const struct cred *old, const struct cred *new,
		   const struct file *exe)
{
	struct iotsec_rec *rec;
	u64 gained;

	gained = iotsec_cap_u64(new->cap_effective) &
		 ~iotsec_cap_u64(old->cap_effective);
	if (uid_eq(old->uid, new->uid) && uid_eq(old->euid, new->euid) &&
	    gid_eq(old->gid, new->gid) && gid_eq(old->egid, new->egid) &&
	    !gained)
		return;
	rec = iotsec_rec_begin(IOTSEC_EVENT_CRED,
			       exe ? IOTSEC_REC_PATH_MAX : 0);
	if (!rec)
		return;
	ids(old, rec->u.cred.old_ids);
	ids(new, rec->u.cred.new_ids);
	rec->u.cred.caps_gained = gained;
	if (exe) {
		rec->u.cred.from_exec = 1;
		iotsec_rec_set_path(rec, IOTSEC_S_EXE, &exe->f_path, NULL);
	}
	iotsec_rec_commit(rec);
}

static int committing_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct linux_binprm *bprm =
		(const struct linux_binprm *)iotsec_arg(regs, 0);

	if (!iotsec_want(IOTSEC_EVENT_CRED) || !bprm || !bprm->cred ||
	    !bprm->file)
		return 0;
	exec_remember(bprm->cred);
	report(current_real_cred(), bprm->cred, bprm->file);
	return 0;
}

static int commit_creds_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct cred *new = (const struct cred *)iotsec_arg(regs, 0);

	if (!iotsec_want(IOTSEC_EVENT_CRED) || !new)
		return 0;
	if (exec_forget(new))
		return 0;
	report(current_real_cred(), new, NULL);
	return 0;
}

/*
 * commit_creds() runs for every change, most of them not events (no id
 * changes): its misses are not counted as lost events.
 */
static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("security_bprm_committing_creds", IOTSEC_EVENT_CRED,
		      committing_pre),
	IOTSEC_HELPER_KPROBE("commit_creds", IOTSEC_EVENT_CRED,
			     commit_creds_pre),
};

struct iotsec_hook_set iotsec_cred_hooks = { hooks, ARRAY_SIZE(hooks) };
