// SPDX-License-Identifier: GPL-2.0
/*
 * Placing and removing the hooks of every event family. A hook that the
 * running kernel does not offer is left out and its event type reported
 * as a missing capability; the module works with what it has.
 */
#include <linux/kprobes.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "compat.h"
#include "iotsec.h"

static struct iotsec_hook_set *sets[] = {
	&iotsec_proc_hooks, &iotsec_net_hooks, &iotsec_cred_hooks,
	&iotsec_module_hooks, &iotsec_ptrace_hooks, &iotsec_file_hooks,
};

static u32 caps, missing;

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
		return tracepoint_probe_register(h->tp.point, h->tp.probe,
						 NULL);
	case IOTSEC_HOOK_KPROBE:
		return register_kprobe(&h->kp);
	case IOTSEC_HOOK_KRETPROBE:
		/* Blocking calls (accept, connect) hold an instance each. */
		h->rp.maxactive = max_t(int, 64, 4 * num_possible_cpus());
		return register_kretprobe(&h->rp);
	}
	return -EINVAL;
}

static void hook_remove(struct iotsec_hook *h)
{
	switch (h->kind) {
	case IOTSEC_HOOK_TP:
		tracepoint_probe_unregister(h->tp.point, h->tp.probe, NULL);
		break;
	case IOTSEC_HOOK_KPROBE:
		unregister_kprobe(&h->kp);
		break;
	case IOTSEC_HOOK_KRETPROBE:
		unregister_kretprobe(&h->rp);
		break;
	}
	h->placed = false;
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
	struct iotsec_hook *h;
	unsigned int s, i;
	int ret;

	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			ret = hook_place(h);
			if (ret) {
				if (h->optional)
					continue;
				pr_info("cannot hook %s (%d)\n",
					hook_name(h), ret);
				missing |= IOTSEC_EVENT_BIT(h->type);
				continue;
			}
			h->placed = true;
			caps |= IOTSEC_EVENT_BIT(h->type);
		}
	}
	return 0;
}

void iotsec_hooks_exit(void)
{
	struct iotsec_hook *h;
	unsigned int s, i;

	for (s = 0; s < ARRAY_SIZE(sets); s++) {
		for (i = 0; i < sets[s]->n; i++) {
			h = &sets[s]->hooks[i];
			if (h->placed)
				hook_remove(h);
		}
	}
	/* No probe of ours runs any more once this returns. */
	tracepoint_synchronize_unregister();
	caps = 0;
	missing = 0;
}

u32 iotsec_hooks_caps(void)
{
	return caps & ~missing;
}

u32 iotsec_hooks_missing(void)
{
	return missing;
}
