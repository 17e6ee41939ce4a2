// SPDX-License-Identifier: GPL-2.0
/*
 * Credential changes: every new set of credentials a task installs goes
 * through commit_creds(), setuid() and a setuid exec alike. Only changes
 * of the ids or newly gained effective capabilities are reported.
 */
#include <linux/cred.h>
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched.h>

#include "compat.h"
#include "iotsec.h"

static void ids(const struct cred *c, u32 *out)
{
	out[0] = from_kuid_munged(&init_user_ns, c->uid);
	out[1] = from_kuid_munged(&init_user_ns, c->euid);
	out[2] = from_kgid_munged(&init_user_ns, c->gid);
	out[3] = from_kgid_munged(&init_user_ns, c->egid);
}

static int commit_creds_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct cred *new = (const struct cred *)iotsec_arg(regs, 0);
	const struct cred *old = current_real_cred();
	struct iotsec_rec *rec;
	u64 gained;

	if (!iotsec_want(IOTSEC_EVENT_CRED) || !new)
		return 0;
	gained = iotsec_cap_u64(new->cap_effective) &
		 ~iotsec_cap_u64(old->cap_effective);
	if (uid_eq(old->uid, new->uid) && uid_eq(old->euid, new->euid) &&
	    gid_eq(old->gid, new->gid) && gid_eq(old->egid, new->egid) &&
	    !gained)
		return 0;
	rec = iotsec_rec_begin(IOTSEC_EVENT_CRED, 0);
	if (!rec)
		return 0;
	ids(old, rec->u.cred.old_ids);
	ids(new, rec->u.cred.new_ids);
	rec->u.cred.caps_gained = gained;
	rec->u.cred.from_exec = iotsec_in_execve(current);
	iotsec_rec_commit(rec);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("commit_creds", IOTSEC_EVENT_CRED, commit_creds_pre),
};

struct iotsec_hook_set iotsec_cred_hooks = { hooks, ARRAY_SIZE(hooks) };
