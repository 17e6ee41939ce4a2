// SPDX-License-Identifier: GPL-2.0
/*
 * Placing and removing the hooks of every event family. A hook that the
 * running kernel does not offer is left out and its event type reported
 * as a missing capability; the module works with what it has.
 */
#include <linux/jump_label.h>
#include <linux/kprobes.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/sched/clock.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <net/netlink.h>

#include "compat.h"
#include "iotsec.h"

static struct iotsec_hook_set *sets[] = {
	&iotsec_proc_hooks, &iotsec_net_hooks, &iotsec_cred_hooks,
	&iotsec_module_hooks, &iotsec_ptrace_hooks, &iotsec_file_hooks,
	&iotsec_tamper_hooks,
};

static u32 caps, missing;

static bool timing;
module_param(timing, bool, 0444);
MODULE_PARM_DESC(timing,
		 "account the time each hook's handlers take (default off)");

DEFINE_STATIC_KEY_FALSE(iotsec_timing);

/* Add one run of H's handler, started at START, and CALLS calls. */
void iotsec_time_add(struct iotsec_hook *h, u64 start, unsigned int calls)
{
	struct iotsec_hook_time *t = this_cpu_ptr(h->time);

	t->ns += local_clock() - start;
	t->calls += calls;
}

static int timed_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct iotsec_hook *h = container_of(p, struct iotsec_hook, kp);
	u64 start = local_clock();
	int ret = h->pre(p, regs);

	iotsec_time_add(h, start, 1);
	return ret;
}

static struct iotsec_hook *rp_hook(struct kretprobe_instance *ri)
{
	return container_of(iotsec_kretprobe_of(ri), struct iotsec_hook, rp);
}

/* A kretprobe's call is counted once, at entry (or return without one). */
static int timed_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct iotsec_hook *h = rp_hook(ri);
	u64 start = local_clock();
	int ret = h->entry(ri, regs);

	iotsec_time_add(h, start, 1);
	return ret;
}

static int timed_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct iotsec_hook *h = rp_hook(ri);
	u64 start = local_clock();
	int ret = h->ret(ri, regs);

	iotsec_time_add(h, start, h->entry ? 0 : 1);
	return ret;
}

/* Before H is placed: give it per-CPU figures and wrap its handlers. */
static int time_hook(struct iotsec_hook *h)
{
	h->time = alloc_percpu(struct iotsec_hook_time);
	if (!h->time)
		return -ENOMEM;
	switch (h->kind) {
	case IOTSEC_HOOK_KPROBE:
		h->pre = h->kp.pre_handler;
		h->kp.pre_handler = timed_pre;
		break;
	case IOTSEC_HOOK_KRETPROBE:
		h->entry = h->rp.entry_handler;
		h->ret = h->rp.handler;
		if (h->entry)
			h->rp.entry_handler = timed_entry;
		h->rp.handler = timed_ret;
		break;
	}
	return 0;
}

/*
 * A kretprobe with all its instances in use, or a kprobe hit while another
 * probe runs on the CPU, misses its event. The kernel counts those misses;
 * they are added to GENERATED and DROPPED for the hook's type, counting
 * only the misses while somebody is subscribed, like every other event.
 */
static DEFINE_MUTEX(missed_lock);
static bool missed_active;
static u64 missed_base[IOTSEC_NR_TYPES];
static u64 missed_acc[IOTSEC_NR_TYPES];

static const char *hook_name(const struct iotsec_hook *h)
{
	switch (h->kind) {
	case IOTSEC_HOOK_KPROBE:
		return h->kp.symbol_name;
	case IOTSEC_HOOK_KRETPROBE:
		return h->rp.kp.symbol_name;
	}
	return h->tp.name;
}

struct tp_lookup {
	const char *name;
	struct tracepoint *tp;
};

static void tp_match(struct tracepoint *tp, void *priv)
{
	struct tp_lookup *l = priv;

	if (!strcmp(tp->name, l->name))
		l->tp = tp;
}

static int hook_place(struct iotsec_hook *h)
{
	struct tp_lookup l = { .name = hook_name(h) };

	switch (h->kind) {
	case IOTSEC_HOOK_TP:
		for_each_kernel_tracepoint(tp_match, &l);
		if (!l.tp)
			return -ENOENT;
		h->tp.point = l.tp;
		return tracepoint_probe_register(h->tp.point, h->tp.probe, h);
	case IOTSEC_HOOK_KPROBE:
		return register_kprobe(&h->kp);
	case IOTSEC_HOOK_KRETPROBE:
		/* Blocking calls (accept, connect) hold an instance each. */
		h->rp.maxactive = max_t(int, 64, 4 * num_possible_cpus());
		return register_kretprobe(&h->rp);
	}
	return -EINVAL;
}

static void missed_now(u64 *m)
{
	struct iotsec_hook *h;
	unsigned int s, i;

	memset(m, 0, sizeof(u64) * IOTSEC_NR_TYPES);
	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			if (!h->placed || h->helper)
				continue;
			if (h->kind == IOTSEC_HOOK_KPROBE)
				m[h->type] += READ_ONCE(h->kp.nmissed);
			else if (h->kind == IOTSEC_HOOK_KRETPROBE)
				m[h->type] += READ_ONCE(h->rp.nmissed) +
					      READ_ONCE(h->rp.kp.nmissed);
		}
	}
}

void iotsec_hooks_set_active(bool on)
{
	u64 now[IOTSEC_NR_TYPES];
	int t;

	mutex_lock(&missed_lock);
	missed_now(now);
	for (t = 0; t < IOTSEC_NR_TYPES; t++) {
		if (on)
			missed_base[t] = now[t];
		else if (missed_active && now[t] >= missed_base[t])
			missed_acc[t] += now[t] - missed_base[t];
	}
	missed_active = on;
	mutex_unlock(&missed_lock);
}

/* Add the events the hooks missed while somebody listened to C. */
void iotsec_hooks_missed(struct iotsec_counters *c)
{
	u64 now[IOTSEC_NR_TYPES], n;
	int t;

	mutex_lock(&missed_lock);
	missed_now(now);
	for (t = 0; t < IOTSEC_NR_TYPES; t++) {
		n = missed_acc[t];
		if (missed_active && now[t] >= missed_base[t])
			n += now[t] - missed_base[t];
		c->generated[t] += n;
		c->dropped[t] += n;
	}
	mutex_unlock(&missed_lock);
}

int iotsec_hooks_init(void)
{
	struct iotsec_hook *h, *primary = NULL;
	unsigned int s, i;
	int ret;

	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			if (h->fallback && (!primary || primary->placed))
				continue;
			if (!h->fallback)
				primary = h;
			if (timing) {
				ret = time_hook(h);
				if (ret)
					goto err;
			}
			ret = hook_place(h);
			if (ret) {
				if (h->optional)
					continue;
				/* a fallback follows: its result counts */
				if (i + 1 < sets[s]->n &&
				    sets[s]->hooks[i + 1].fallback) {
					pr_info("cannot hook %s (%d), hooking %s instead\n",
						hook_name(h), ret,
						hook_name(h + 1));
					continue;
				}
				pr_info("cannot hook %s (%d)\n",
					hook_name(h), ret);
				missing |= IOTSEC_EVENT_BIT(h->type);
				continue;
			}
			h->placed = true;
			caps |= IOTSEC_EVENT_BIT(h->type);
		}
	}
	if (timing)
		static_branch_enable(&iotsec_timing);
	return 0;

err:
	iotsec_hooks_exit();
	return ret;
}

/*
 * Remove every placed hook: the kprobes and the kretprobes each in one
 * call (one RCU wait for all), then the tracepoints, with one wait for
 * their probes.
 */
void iotsec_hooks_exit(void)
{
	struct kretprobe **rps = NULL;
	struct kprobe **kps = NULL;
	struct iotsec_hook *h;
	unsigned int s, i, n = 0, nk = 0, nr = 0;

	for (s = 0; s < ARRAY_SIZE(sets); s++)
		n += sets[s]->n;
	kps = kcalloc(n, sizeof(*kps), GFP_KERNEL);
	rps = kcalloc(n, sizeof(*rps), GFP_KERNEL);
	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			if (!h->placed)
				continue;
			switch (h->kind) {
			case IOTSEC_HOOK_TP:
				tracepoint_probe_unregister(h->tp.point,
							    h->tp.probe, h);
				break;
			case IOTSEC_HOOK_KPROBE:
				if (kps)
					kps[nk++] = &h->kp;
				else
					unregister_kprobe(&h->kp);
				break;
			case IOTSEC_HOOK_KRETPROBE:
				if (rps)
					rps[nr++] = &h->rp;
				else
					unregister_kretprobe(&h->rp);
				break;
			}
			h->placed = false;
		}
	}
	if (nk)
		unregister_kprobes(kps, nk);
	if (nr)
		unregister_kretprobes(rps, nr);
	kfree(kps);
	kfree(rps);
	/* No probe of ours runs any more once this returns. */
	tracepoint_synchronize_unregister();
	static_branch_disable(&iotsec_timing);
	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			free_percpu(h->time);
			h->time = NULL;
		}
	}
	caps = 0;
	missing = 0;
}

/* IOTSEC_A_HOOKS of GET_STATS: every hook with its handler time. */
int iotsec_hooks_put_times(struct sk_buff *msg)
{
	struct nlattr *all, *one;
	struct iotsec_hook *h;
	unsigned int s, i, idx = 0;
	u64 calls, ns;
	int cpu;

	all = nla_nest_start(msg, IOTSEC_A_HOOKS);
	if (!all)
		return -EMSGSIZE;
	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			calls = 0;
			ns = 0;
			if (h->time) {
				for_each_possible_cpu(cpu) {
					calls += per_cpu_ptr(h->time, cpu)->calls;
					ns += per_cpu_ptr(h->time, cpu)->ns;
				}
			}
			one = nla_nest_start(msg, ++idx);
			if (!one ||
			    nla_put_string(msg, IOTSEC_HA_NAME, hook_name(h)) ||
			    nla_put_u32(msg, IOTSEC_HA_TYPE, h->type) ||
			    nla_put_u64_64bit(msg, IOTSEC_HA_CALLS, calls,
					      IOTSEC_HA_PAD) ||
			    nla_put_u64_64bit(msg, IOTSEC_HA_NS, ns,
					      IOTSEC_HA_PAD))
				return -EMSGSIZE;
			nla_nest_end(msg, one);
		}
	}
	nla_nest_end(msg, all);
	return 0;
}

u32 iotsec_hooks_caps(void)
{
	return caps & ~missing;
}

u32 iotsec_hooks_missing(void)
{
	return missing;
}
