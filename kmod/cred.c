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
#include <linux/atomic.h>
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
 *
 * A slot is the exec's alone: it names the credentials replaced (OLD) and
 * the exec's generation (self_exec_id, stepped just before) as well, and
 * the task's next commit_creds() clears it whatever it reports. A slot
 * left behind (the event type switched off between the two calls, or the
 * commit_creds() probe not placed yet) therefore never matches a later
 * change whose new credentials reuse the address of the exec's.
 */
#define EXEC_SLOTS 16

static struct {
	const struct task_struct *task;
	const struct cred *cred;
	const struct cred *old;
	u64 gen;
} exec_slots[EXEC_SLOTS];
static unsigned int exec_next;
static atomic_t exec_used = ATOMIC_INIT(0);
static DEFINE_RAW_SPINLOCK(exec_lock);

static void exec_remember(const struct cred *new)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&exec_lock, flags);
	if (!exec_slots[exec_next].task)
		atomic_inc(&exec_used);
	WRITE_ONCE(exec_slots[exec_next].task, current);
	exec_slots[exec_next].cred = new;
	exec_slots[exec_next].old = current_real_cred();
	exec_slots[exec_next].gen = READ_ONCE(current->self_exec_id);
	exec_next = (exec_next + 1) % EXEC_SLOTS;
	raw_spin_unlock_irqrestore(&exec_lock, flags);
}

/*
 * Whether NEW is what an exec of the current task reported already; the
 * task's slots are cleared either way.
 */
static bool exec_forget(const struct cred *new)
{
	const struct cred *old = current_real_cred();
	u64 gen = READ_ONCE(current->self_exec_id);
	unsigned long flags;
	bool found = false;
	int i;

	if (!atomic_read(&exec_used))
		return false;
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
		found |= exec_slots[i].cred == new &&
			 exec_slots[i].old == old && exec_slots[i].gen == gen;
		WRITE_ONCE(exec_slots[i].task, NULL);
		atomic_dec(&exec_used);
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

	if (!new)
		return 0;
	/* first, whatever is wanted: no slot of this task outlives it */
	if (exec_forget(new) || !iotsec_want(IOTSEC_EVENT_CRED))
		return 0;
	report(current_real_cred(), new, NULL);
	return 0;
}

/*
 * commit_creds() runs for every change, most of them not events (no id
 * changes): its misses are not counted as lost events.
 */
static struct iotsec_hook hooks[] = {
	/* placed first, so that no exec fills a slot it would not clear */
	IOTSEC_HELPER_KPROBE("commit_creds", IOTSEC_EVENT_CRED,
			     commit_creds_pre),
	IOTSEC_KPROBE("security_bprm_committing_creds", IOTSEC_EVENT_CRED,
		      committing_pre),
};

struct iotsec_hook_set iotsec_cred_hooks = { hooks, ARRAY_SIZE(hooks) };
