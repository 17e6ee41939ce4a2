// SPDX-License-Identifier: GPL-2.0
/*
 * Tamper evidence: the moves that would blind the module or its consumer,
 * each one IOTSEC_EVENT_TAMPER recorded through the ordinary buffers, at
 * the moment the move is attempted, so that it is in the consumer's socket
 * (or kept for the next consumer) whether the move then succeeds or not:
 *
 *  - delete_module(2) naming this module: an entry probe on the system
 *    call, before the kernel looks at the module; the module's exit then
 *    flushes the buffers (main.c) before the family goes, so the event is
 *    queued to the consumer before the module is gone;
 *  - a signal from another process that ends or stops a consumer: the
 *    signal_generate tracepoint (sender's context, under the target's
 *    siglock, never sleeps);
 *  - ptrace attach to a consumer: an entry probe on ptrace_attach(), or
 *    where that is inlined on ptrace(2)'s entry (as ptrace.c);
 *  - a SET_CONFIG that reduces coverage: netlink.c asks here first;
 *  - a consumer's socket closing while it is subscribed: a netlink
 *    notifier of our own (an orderly consumer unsubscribes first).
 *
 * A consumer is known by the process that subscribed (its struct pid,
 * held) and the port id of the socket it subscribed from.
 *
 * Locked mode (lock_token=, main.c): the module holds a reference to
 * itself, so delete_module(2) is refused without --force; reductions of
 * the configuration need the token, and with it IOTSEC_A_UNLOCK drops the
 * reference. The token is compared in constant time.
 */
#include <linux/capability.h>
#include <linux/user_namespace.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/syscall.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <trace/events/signal.h>

#include "compat.h"
#include "iotsec.h"

/* Consumers known at once; more are served but not guarded. */
#define GUARDED_MAX 8

struct guarded {
	struct pid *tgid;	/* held; NULL: a free slot */
	u32 portid;
};

/* Taken with interrupts off: signals are generated from interrupts too. */
static DEFINE_RAW_SPINLOCK(guarded_lock);
static struct guarded guarded[GUARDED_MAX];
static unsigned int nr_guarded;	/* read without the lock: a fast test */

static DEFINE_MUTEX(lock_mutex);
static bool locked;
static char token[IOTSEC_TOKEN_MAX];

/* A record of KIND for the current task, or NULL. */
static struct iotsec_rec *tamper_begin(u32 kind, size_t max)
{
	struct iotsec_rec *rec;

	if (!iotsec_type_on(IOTSEC_EVENT_TAMPER))
		return NULL;
	rec = iotsec_rec_begin(IOTSEC_EVENT_TAMPER, max);
	if (rec)
		rec->u.tamper.kind = kind;
	return rec;
}

/* The consumer process TASK belongs to: its tgid, or 0 when none. */
static u32 guarded_tgid(struct task_struct *task)
{
	struct pid *tgid = task_tgid(task);
	unsigned long flags;
	u32 nr = 0;
	int i;

	if (!READ_ONCE(nr_guarded) || !tgid)
		return 0;
	raw_spin_lock_irqsave(&guarded_lock, flags);
	for (i = 0; i < GUARDED_MAX; i++) {
		if (guarded[i].tgid == tgid) {
			nr = pid_nr(tgid);
			break;
		}
	}
	raw_spin_unlock_irqrestore(&guarded_lock, flags);
	return nr;
}

/* The current process subscribed from PORTID (netlink.c, once). */
void iotsec_tamper_subscribed(u32 portid)
{
	struct pid *tgid = get_task_pid(current, PIDTYPE_TGID);
	unsigned long flags;
	int i;

	raw_spin_lock_irqsave(&guarded_lock, flags);
	for (i = 0; i < GUARDED_MAX; i++) {
		if (!guarded[i].tgid) {
			guarded[i].tgid = tgid;
			guarded[i].portid = portid;
			tgid = NULL;
			WRITE_ONCE(nr_guarded, nr_guarded + 1);
			break;
		}
	}
	raw_spin_unlock_irqrestore(&guarded_lock, flags);
	put_pid(tgid);
}

/* Forget the consumer of PORTID; returns its tgid, 0 if none. */
static u32 guarded_del(u32 portid)
{
	struct pid *tgid = NULL;
	unsigned long flags;
	u32 nr = 0;
	int i;

	if (!READ_ONCE(nr_guarded))
		return 0;
	raw_spin_lock_irqsave(&guarded_lock, flags);
	for (i = 0; i < GUARDED_MAX; i++) {
		if (guarded[i].tgid && guarded[i].portid == portid) {
			tgid = guarded[i].tgid;
			guarded[i].tgid = NULL;
			WRITE_ONCE(nr_guarded, nr_guarded - 1);
			break;
		}
	}
	raw_spin_unlock_irqrestore(&guarded_lock, flags);
	if (tgid) {
		nr = pid_nr(tgid);
		put_pid(tgid);
	}
	return nr;
}

/* An orderly UNSUBSCRIBE from PORTID (netlink.c). */
void iotsec_tamper_unsubscribed(u32 portid)
{
	guarded_del(portid);
}

/*
 * A generic netlink socket closed: if a consumer still subscribed from it,
 * it went away without unsubscribing. Runs before netlink.c forgets the
 * consumer (that waits for the worker or the next command), so the event
 * is recorded while the hooks still record.
 */
static int tamper_netlink_notify(struct notifier_block *nb,
				 unsigned long state, void *data)
{
	struct netlink_notify *n = data;
	struct iotsec_rec *rec;
	u32 tgid;

	if (state != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !net_eq(n->net, &init_net))
		return NOTIFY_DONE;
	tgid = guarded_del(n->portid);
	if (!tgid)
		return NOTIFY_DONE;
	rec = tamper_begin(IOTSEC_TAMPER_GONE, 0);
	if (rec) {
		rec->u.tamper.target_tgid = tgid;
		iotsec_rec_commit(rec);
	}
	return NOTIFY_DONE;
}

static struct notifier_block tamper_netlink_nb = {
	.notifier_call = tamper_netlink_notify,
};

/*
 * SIG ends or stops TASK: SIGKILL and SIGSTOP always; SIGTERM, SIGINT and
 * SIGQUIT, which a daemon handles by ending; any other left to its
 * default action when that is not to ignore it. Under TASK's siglock.
 */
static bool ends_or_stops(int sig, struct task_struct *task)
{
	/* The siglock we run under is the one of this very sighand. */
	struct sighand_struct *sh = rcu_dereference_raw(task->sighand);

	if (sig == SIGKILL || sig == SIGSTOP || sig == SIGTERM ||
	    sig == SIGINT || sig == SIGQUIT)
		return true;
	if (sig <= 0 || sig > _NSIG || sig_kernel_ignore(sig))
		return false;
	/*
	 * A signal the target blocks does not act while it stays blocked:
	 * iotsecd takes SIGHUP and SIGUSR1 through a signalfd (a reload,
	 * iotsecctl's requests), which is no move against it.
	 */
	if (sigismember(&task->blocked, sig))
		return false;
	return sh->action[sig - 1].sa.sa_handler == SIG_DFL;
}

static void probe_signal_generate(void *data, int sig,
				  struct kernel_siginfo *info,
				  struct task_struct *task, int group,
				  int result)
{
	struct iotsec_rec *rec;
	u32 target;

	IOTSEC_TIME_PROBE(data);
	if (!READ_ONCE(nr_guarded) || result == TRACE_SIGNAL_IGNORED ||
	    same_thread_group(current, task) || !ends_or_stops(sig, task))
		return;
	/* PTRACE_ATTACH's own SIGSTOP: the attach is reported already */
	if (sig == SIGSTOP && task->ptrace &&
	    rcu_access_pointer(task->parent) == current)
		return;
	target = guarded_tgid(task);
	if (!target)
		return;
	rec = tamper_begin(IOTSEC_TAMPER_SIGNAL, 0);
	if (!rec)
		return;
	rec->u.tamper.target_tgid = target;
	rec->u.tamper.signal = sig;
	iotsec_rec_commit(rec);
}

static void tamper_attach(struct task_struct *task, long request)
{
	struct iotsec_rec *rec;
	u32 target;

	if (!task || same_thread_group(current, task))
		return;
	target = guarded_tgid(task);
	if (!target)
		return;
	rec = tamper_begin(IOTSEC_TAMPER_PTRACE, 0);
	if (!rec)
		return;
	rec->u.tamper.target_tgid = target;
	rec->u.tamper.mode = request == PTRACE_SEIZE ? IOTSEC_PTRACE_SEIZE :
						       IOTSEC_PTRACE_ATTACH;
	iotsec_rec_commit(rec);
}

static int attach_pre(struct kprobe *p, struct pt_regs *regs)
{
	if (READ_ONCE(nr_guarded))
		tamper_attach((struct task_struct *)iotsec_arg(regs, 0),
			      (long)iotsec_arg(regs, 1));
	return 0;
}

/* ptrace(2)'s entry, where ptrace_attach() is inlined (ptrace.c) */
static int sys_attach_pre(struct kprobe *p, struct pt_regs *regs)
{
	long request;

	if (!READ_ONCE(nr_guarded))
		return 0;
	rcu_read_lock();
	tamper_attach(iotsec_ptrace_sys_target(&request), request);
	rcu_read_unlock();
	return 0;
}

/*
 * An unload of this module was recorded while it was not locked (so it
 * will proceed): the exit does not record it again.
 */
static bool unload_seen;

static void record_unload(void)
{
	struct iotsec_rec *rec;

	rec = tamper_begin(IOTSEC_TAMPER_UNLOAD, MODULE_NAME_LEN);
	if (!rec)
		return;
	iotsec_rec_set_str(rec, IOTSEC_S_NAME, THIS_MODULE->name);
	iotsec_rec_commit(rec);
	if (!READ_ONCE(locked))
		WRITE_ONCE(unload_seen, true);
}

/*
 * delete_module(2)'s entry, before it looks the name up: the name is read
 * from the caller's registers (its system call's, whatever the wrapper
 * passes) without faulting, just our name's bytes and its NUL. A name in
 * a page not faulted in yet cannot be read here: a refused unload of such
 * a name goes unseen, a successful one is recorded by the exit.
 */
static int delete_pre(struct kprobe *p, struct pt_regs *regs)
{
	const char *ours = THIS_MODULE->name;
	char name[MODULE_NAME_LEN];
	size_t len = strlen(ours) + 1;
	unsigned long args[6];

	/*
	 * Without CAP_SYS_MODULE the call fails before it looks at the
	 * name: no unload, and no event an ordinary user could flood or use
	 * to stand in for the real unload (unload_seen).
	 */
	if (!iotsec_type_on(IOTSEC_EVENT_TAMPER) ||
	    !ns_capable_noaudit(&init_user_ns, CAP_SYS_MODULE))
		return 0;
	syscall_get_arguments(current, current_pt_regs(), args);
	if (copy_from_user_nofault(name, (const void __user *)args[0], len) ||
	    memcmp(name, ours, len))
		return 0;
	record_unload();
	return 0;
}

/*
 * The probes fire for every signal, attach and unload: they are helpers,
 * their misses are not counted as lost tamper events.
 */
static struct iotsec_hook hooks[] = {
	IOTSEC_TP(signal_generate, IOTSEC_EVENT_TAMPER, probe_signal_generate),
	IOTSEC_HELPER_KPROBE("ptrace_attach", IOTSEC_EVENT_TAMPER, attach_pre),
	{ .type = IOTSEC_EVENT_TAMPER, .kind = IOTSEC_HOOK_KPROBE,
	  .helper = true, .fallback = true,
	  .kp = { .symbol_name = IOTSEC_SYSCALL_SYM("ptrace"),
		  .pre_handler = sys_attach_pre } },
#ifdef IOTSEC_COMPAT_SYS_SYM
	{ .type = IOTSEC_EVENT_TAMPER, .kind = IOTSEC_HOOK_KPROBE,
	  .helper = true, .fallback = true, .optional = true,
	  .kp = { .symbol_name = IOTSEC_COMPAT_SYS_SYM("ptrace"),
		  .pre_handler = sys_attach_pre } },
#endif
	IOTSEC_HELPER_KPROBE(IOTSEC_SYSCALL_SYM("delete_module"),
			     IOTSEC_EVENT_TAMPER, delete_pre),
#ifdef IOTSEC_COMPAT_SYSCALL_SYM
	{ .type = IOTSEC_EVENT_TAMPER, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true, .helper = true,
	  .kp = { .symbol_name = IOTSEC_COMPAT_SYSCALL_SYM("delete_module"),
		  .pre_handler = delete_pre } },
#endif
};

struct iotsec_hook_set iotsec_tamper_hooks = { hooks, ARRAY_SIZE(hooks) };

/* A is the token given at load; every byte compared, whatever differs. */
static bool token_ok(const struct nlattr *a)
{
	char got[IOTSEC_TOKEN_MAX] = { 0 };
	u8 diff = 0;
	int i;

	if (!a)
		return false;
	memcpy(got, nla_data(a), min_t(int, nla_len(a), sizeof(got)));
	for (i = 0; i < IOTSEC_TOKEN_MAX; i++)
		diff |= got[i] ^ token[i];
	memzero_explicit(got, sizeof(got));
	return !diff;
}

/* Watched paths the new list LIST drops; under rcu_read_lock(). */
static u32 count_unwatched(const struct nlattr *list)
{
	const struct iotsec_watches *w = iotsec_config_watches();
	const struct nlattr *a;
	u32 i, n = 0;
	bool kept;
	int rem;

	for (i = 0; i < iotsec_watches_count(w); i++) {
		kept = false;
		nla_for_each_nested(a, list, rem) {
			if (!nla_strcmp(a, iotsec_watches_path(w, i))) {
				kept = true;
				break;
			}
		}
		n += !kept;
	}
	return n;
}

/*
 * Processes LIST excludes. A consumer excluding itself (iotsecd, after its
 * SUBSCRIBE) is no reduction; any other sender excluding itself is one:
 * the tgid outlives an execve, so a process that excluded itself could
 * then do anything unseen.
 */
static u32 count_excluded(const struct nlattr *list)
{
	u32 self = task_tgid_vnr(current), n = 0;
	bool consumer = guarded_tgid(current);
	const struct nlattr *a;
	int rem;

	nla_for_each_nested(a, list, rem)
		n += nla_len(a) == sizeof(u32) &&
		     (nla_get_u32(a) != self || !consumer);
	return n;
}

/*
 * SET_CONFIG's first step (netlink.c): a request that turns event types
 * off, drops watched paths or excludes other processes is recorded, with
 * its sender, before it is applied; in locked mode it is refused (EPERM)
 * without the token. IOTSEC_A_UNLOCK with the token ends the locked mode.
 * Returns 0 to go on, or the error to answer.
 */
int iotsec_tamper_config(struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	u32 old_mask, new_mask, unwatched = 0, excluded = 0;
	bool reduces, ok, argv_cut = false;
	struct iotsec_rec *rec;
	int ret = 0;

	mutex_lock(&lock_mutex);
	ok = locked && token_ok(attrs[IOTSEC_A_TOKEN]);
	if (attrs[IOTSEC_A_UNLOCK] && locked) {
		ret = ok ? 0 : -EPERM;
		rec = tamper_begin(IOTSEC_TAMPER_UNLOCK, 0);
		if (rec) {
			rec->u.tamper.result = ret;
			iotsec_rec_commit(rec);
		}
		if (ok) {
			locked = false;
			memzero_explicit(token, sizeof(token));
			module_put(THIS_MODULE);
		}
		if (ret)
			goto out;
	}

	old_mask = iotsec_config_mask();
	new_mask = old_mask;
	if (attrs[IOTSEC_A_EVENT_MASK])
		new_mask = nla_get_u32(attrs[IOTSEC_A_EVENT_MASK]) &
			   IOTSEC_EVENT_MASK_ALL;
	if (attrs[IOTSEC_A_WATCH]) {
		const struct nlattr *a;
		int rem, n = 0;

		/* bounded before the O(old x new) walk below */
		nla_for_each_nested(a, attrs[IOTSEC_A_WATCH], rem)
			if (++n > IOTSEC_WATCH_MAX) {
				ret = -E2BIG;
				goto out;
			}
		rcu_read_lock();
		unwatched = count_unwatched(attrs[IOTSEC_A_WATCH]);
		rcu_read_unlock();
	}
	if (attrs[IOTSEC_A_EXCLUDE])
		excluded = count_excluded(attrs[IOTSEC_A_EXCLUDE]);
	/* fewer argv bytes per exec hide what runs as well */
	if (attrs[IOTSEC_A_ARGV_MAX] &&
	    nla_get_u32(attrs[IOTSEC_A_ARGV_MAX]) < iotsec_config_argv_max())
		argv_cut = true;
	reduces = (old_mask & ~new_mask) || unwatched || excluded || argv_cut;
	if (!reduces)
		goto out;
	if (locked && !ok)
		ret = -EPERM;
	rec = tamper_begin(IOTSEC_TAMPER_CONFIG, 0);
	if (rec) {
		rec->u.tamper.old_mask = old_mask;
		rec->u.tamper.new_mask = new_mask;
		rec->u.tamper.unwatched = unwatched;
		rec->u.tamper.excluded = excluded;
		rec->u.tamper.result = ret;
		iotsec_rec_commit(rec);
	}
	if (ret)
		NL_SET_ERR_MSG(info->extack,
			       "locked: reducing coverage needs the token");
out:
	mutex_unlock(&lock_mutex);
	return ret;
}

/* The fields of a tamper event (netlink.c's put_fields()). */
int iotsec_tamper_put_fields(struct sk_buff *skb, struct iotsec_rec *rec)
{
	const typeof(rec->u.tamper) *t = &rec->u.tamper;

	if (nla_put_u32(skb, IOTSEC_EA_TAMPER_KIND, t->kind))
		return -EMSGSIZE;
	switch (t->kind) {
	case IOTSEC_TAMPER_UNLOAD:
		if (nla_put(skb, IOTSEC_EA_MODULE_NAME,
			    rec->slen[IOTSEC_S_NAME],
			    iotsec_rec_str(rec, IOTSEC_S_NAME)))
			return -EMSGSIZE;
		break;
	case IOTSEC_TAMPER_SIGNAL:
		if (nla_put_u32(skb, IOTSEC_EA_TARGET_TGID, t->target_tgid) ||
		    nla_put_u32(skb, IOTSEC_EA_SIGNAL, t->signal))
			return -EMSGSIZE;
		break;
	case IOTSEC_TAMPER_PTRACE:
		if (nla_put_u32(skb, IOTSEC_EA_TARGET_TGID, t->target_tgid) ||
		    nla_put_u32(skb, IOTSEC_EA_PTRACE_MODE, t->mode))
			return -EMSGSIZE;
		break;
	case IOTSEC_TAMPER_CONFIG:
		if (nla_put_u32(skb, IOTSEC_EA_OLD_MASK, t->old_mask) ||
		    nla_put_u32(skb, IOTSEC_EA_NEW_MASK, t->new_mask) ||
		    nla_put_u32(skb, IOTSEC_EA_UNWATCHED, t->unwatched) ||
		    nla_put_u32(skb, IOTSEC_EA_EXCLUDED, t->excluded) ||
		    nla_put_s32(skb, IOTSEC_EA_RESULT, t->result))
			return -EMSGSIZE;
		break;
	case IOTSEC_TAMPER_GONE:
		if (nla_put_u32(skb, IOTSEC_EA_TARGET_TGID, t->target_tgid))
			return -EMSGSIZE;
		break;
	case IOTSEC_TAMPER_UNLOCK:
		if (nla_put_s32(skb, IOTSEC_EA_RESULT, t->result))
			return -EMSGSIZE;
		break;
	}
	return 0;
}

/*
 * TOKEN (the lock_token parameter, may be NULL or ""): locked mode when
 * given. The caller's copy is wiped.
 */
int iotsec_tamper_init(char *tok)
{
	int ret;

	if (tok && *tok) {
		if (strlen(tok) >= IOTSEC_TOKEN_MAX) {
			pr_err("lock_token longer than %d bytes\n",
			       IOTSEC_TOKEN_MAX - 1);
			return -EINVAL;
		}
		strscpy(token, tok, sizeof(token));
		memzero_explicit(tok, strlen(tok));
	}
	ret = netlink_register_notifier(&tamper_netlink_nb);
	if (ret)
		return ret;
	if (token[0]) {
		/* Not live yet, but not going either: a plain reference. */
		__module_get(THIS_MODULE);
		locked = true;
		pr_info("locked: unload refused until unlocked with the token\n");
	}
	return 0;
}

/*
 * The module's exit, in the unloading task, after the hooks are gone and
 * before the family goes: the unload is recorded if its entry was not
 * seen, and the buffers are flushed to the consumers once more, so the
 * unload's event is queued on their sockets before the module is gone.
 * The notifier goes first: nothing of ours records during that flush.
 */
void iotsec_tamper_exit(void)
{
	unsigned long flags;
	struct pid *tgid;
	int i;

	netlink_unregister_notifier(&tamper_netlink_nb);
	if (!READ_ONCE(unload_seen))
		record_unload();
	iotsec_flush_stop();
	iotsec_netlink_flush();
	for (i = 0; i < GUARDED_MAX; i++) {
		raw_spin_lock_irqsave(&guarded_lock, flags);
		tgid = guarded[i].tgid;
		guarded[i].tgid = NULL;
		raw_spin_unlock_irqrestore(&guarded_lock, flags);
		put_pid(tgid);
	}
	nr_guarded = 0;
	memzero_explicit(token, sizeof(token));
}
