// SPDX-License-Identifier: GPL-2.0
/*
 * What the consumers asked for: event mask, excluded processes, watched
 * paths, argv limit. Hooks read it under RCU; SET_CONFIG replaces it as a
 * whole. The watched paths (file.c: their fsnotify marks) are a separate
 * object, resolved and marked before config_lock is taken, swapped under
 * it and torn down after it, since both ends may sleep for long. Two plain
 * flags let a hook skip the lookups when the lists are empty.
 *
 * An excluded process is held by its struct pid, looked up in the pid
 * namespace of the consumer that named it: the exclusion ends with the
 * process, whatever later reuses its number, and a consumer in a pid
 * namespace excludes the process it sees. Excludes live in their own RCU
 * object and are dropped when the last consumer leaves.
 */
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "compat.h"
#include "iotsec.h"

struct config {
	struct rcu_head rcu;
	u32 mask;
	u32 argv_max;
};

struct exclude {
	struct pid *pid;	/* NULL: no such process when it was set */
	u32 nr;			/* as the consumer named it */
};

struct excludes {
	struct rcu_head rcu;
	u32 n;
	struct exclude e[IOTSEC_EXCLUDE_MAX];
};

u32 iotsec_active_mask __read_mostly;
bool iotsec_have_watches __read_mostly;
bool iotsec_have_excludes __read_mostly;

static struct config __rcu *config;
static struct excludes __rcu *excludes;
static struct iotsec_watches __rcu *watches;
static DEFINE_MUTEX(config_lock);
static bool active;
/* Module exit has removed the watches: a late SET_CONFIG adds none. */
static bool watches_closed;

static void config_free_rcu(struct rcu_head *head)
{
	kfree(container_of(head, struct config, rcu));
}

static void excludes_free(struct excludes *x)
{
	u32 i;

	if (!x)
		return;
	for (i = 0; i < x->n; i++)
		put_pid(x->e[i].pid);
	kfree(x);
}

static void excludes_free_rcu(struct rcu_head *head)
{
	excludes_free(container_of(head, struct excludes, rcu));
}

static struct excludes *excludes_cur(void)
{
	return rcu_dereference_protected(excludes,
					 lockdep_is_held(&config_lock));
}

/* Replace the excludes by X (NULL: none). */
static void excludes_publish(struct excludes *x)
{
	struct excludes *old = excludes_cur();

	rcu_assign_pointer(excludes, x);
	WRITE_ONCE(iotsec_have_excludes, x && x->n > 0);
	if (old)
		call_rcu(&old->rcu, excludes_free_rcu);
}

static struct config *config_cur(void)
{
	return rcu_dereference_protected(config, lockdep_is_held(&config_lock));
}

static struct iotsec_watches *watches_cur(void)
{
	return rcu_dereference_protected(watches,
					 lockdep_is_held(&config_lock));
}

/* Publish W; returns the set it replaces, for the caller to free. */
static struct iotsec_watches *watches_swap(struct iotsec_watches *w)
{
	struct iotsec_watches *old = watches_cur();

	rcu_assign_pointer(watches, w);
	WRITE_ONCE(iotsec_have_watches, !!w);
	return old;
}

/* After the kprobes' RCU readers are done with it. */
static void watches_release(struct iotsec_watches *w)
{
	if (!w)
		return;
	synchronize_rcu();
	iotsec_watches_free(w);
}

static void config_publish(struct config *c)
{
	struct config *old = config_cur();

	rcu_assign_pointer(config, c);
	WRITE_ONCE(iotsec_active_mask, active ? c->mask : 0);
	if (old)
		call_rcu(&old->rcu, config_free_rcu);
}

/*
 * Hooks record while somebody is subscribed, and from load on with the
 * early parameter (main.c). When the last consumer
 * leaves, its excludes go with it: they named the consumer's own
 * processes, which the next consumer may not want hidden.
 */
void iotsec_config_set_active(bool on)
{
	mutex_lock(&config_lock);
	active = on;
	iotsec_hooks_set_active(on);
	WRITE_ONCE(iotsec_active_mask, on ? config_cur()->mask : 0);
	if (!on)
		excludes_publish(NULL);
	mutex_unlock(&config_lock);
}

/* The last consumer left but hooks keep recording (early): its excludes go. */
void iotsec_config_drop_excludes(void)
{
	mutex_lock(&config_lock);
	excludes_publish(NULL);
	mutex_unlock(&config_lock);
}

/* TGID is task_tgid() of the task asking: compared, not dereferenced. */
bool iotsec_excluded(struct pid *tgid)
{
	struct excludes *x;
	bool ret = false;
	u32 i;

	rcu_read_lock();
	x = rcu_dereference(excludes);
	for (i = 0; x && i < x->n; i++) {
		if (x->e[i].pid == tgid) {
			ret = true;
			break;
		}
	}
	rcu_read_unlock();
	return ret;
}

/* The watch list in force, or NULL; under rcu_read_lock(). */
const struct iotsec_watches *iotsec_config_watches(void)
{
	return rcu_dereference(watches);
}

/* INODE is watched: the very inode, by identity, not by its number. */
bool iotsec_watched(const struct inode *inode)
{
	const struct iotsec_watches *w;
	bool ret;

	rcu_read_lock();
	w = iotsec_config_watches();
	ret = w && iotsec_watches_has(w, inode);
	rcu_read_unlock();
	return ret;
}

u32 iotsec_config_argv_max(void)
{
	u32 n;

	rcu_read_lock();
	n = rcu_dereference(config)->argv_max;
	rcu_read_unlock();
	return n;
}

/* The event mask configured, in force or not (tamper.c compares it). */
u32 iotsec_config_mask(void)
{
	u32 m;

	rcu_read_lock();
	m = rcu_dereference(config)->mask;
	rcu_read_unlock();
	return m;
}

/*
 * The processes LIST names, as numbers in the pid namespace of the task
 * that sent it (SET_CONFIG runs in its context). A number with no process
 * behind it is kept, to be reported back, but excludes nothing.
 */
static int parse_exclude(struct excludes **out, const struct nlattr *list,
			 struct netlink_ext_ack *extack)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	const struct nlattr *a;
	struct excludes *x;
	struct pid *pid;
	int rem;

	x = kzalloc(sizeof(*x), GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	nla_for_each_nested(a, list, rem) {
		if (x->n >= IOTSEC_EXCLUDE_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "too many excluded tgids");
			excludes_free(x);
			return -E2BIG;
		}
		x->e[x->n].nr = nla_get_u32(a);
		rcu_read_lock();
		pid = get_pid(find_pid_ns(x->e[x->n].nr, ns));
		rcu_read_unlock();
		/* A thread's number: its process is not excluded by it. */
		if (pid && !pid_has_task(pid, PIDTYPE_TGID)) {
			put_pid(pid);
			pid = NULL;
		}
		x->e[x->n++].pid = pid;
	}
	*out = x;
	return 0;
}

int iotsec_config_set(struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct iotsec_watches *w = NULL;
	bool set_watches = attrs[IOTSEC_A_WATCH];
	struct excludes *x = NULL;
	struct config *c;
	int ret;

	if (set_watches) {
		w = iotsec_watches_new(attrs[IOTSEC_A_WATCH], info->extack);
		if (IS_ERR(w))
			return PTR_ERR(w);
	}

	mutex_lock(&config_lock);
	ret = -ENOMEM;
	c = kmemdup(config_cur(), sizeof(*c), GFP_KERNEL);
	if (!c)
		goto out;
	if (attrs[IOTSEC_A_EVENT_MASK]) {
		/* Types of a newer header than ours are not refused: off. */
		c->mask = nla_get_u32(attrs[IOTSEC_A_EVENT_MASK]) &
			  IOTSEC_EVENT_MASK_ALL;
	}
	if (attrs[IOTSEC_A_ARGV_MAX])
		c->argv_max = nla_get_u32(attrs[IOTSEC_A_ARGV_MAX]);
	if (attrs[IOTSEC_A_EXCLUDE]) {
		ret = parse_exclude(&x, attrs[IOTSEC_A_EXCLUDE], info->extack);
		if (ret)
			goto err;
	}
	ret = -ESHUTDOWN;
	if (set_watches && watches_closed)
		goto err;
	config_publish(c);
	if (attrs[IOTSEC_A_EXCLUDE])
		excludes_publish(x);
	/* From here on W holds what this call replaced. */
	if (set_watches)
		w = watches_swap(w);
	ret = 0;
	goto out;

err:
	excludes_free(x);
	kfree(c);
out:
	mutex_unlock(&config_lock);
	watches_release(w);
	return ret;
}

/* Room GET_CONFIG's reply needs (it may grow before it is filled). */
size_t iotsec_config_reply_size(void)
{
	size_t n;

	mutex_lock(&config_lock);
	n = iotsec_watches_path_bytes(watches_cur()) +
	    iotsec_watches_count(watches_cur()) * (NLA_HDRLEN + NLA_ALIGNTO);
	mutex_unlock(&config_lock);
	return NLMSG_GOODSIZE + n;
}

int iotsec_config_put(struct sk_buff *msg)
{
	struct nlattr *list;
	struct excludes *x;
	struct config *c;
	int ret = -EMSGSIZE;
	u32 i;

	mutex_lock(&config_lock);
	c = config_cur();
	x = excludes_cur();
	if (nla_put_u32(msg, IOTSEC_A_EVENT_MASK, c->mask) ||
	    nla_put_u32(msg, IOTSEC_A_ARGV_MAX, c->argv_max))
		goto out;
	list = nla_nest_start(msg, IOTSEC_A_EXCLUDE);
	if (!list)
		goto out;
	for (i = 0; x && i < x->n; i++)
		if (nla_put_u32(msg, IOTSEC_LA_TGID, x->e[i].nr))
			goto out;
	nla_nest_end(msg, list);
	list = nla_nest_start(msg, IOTSEC_A_WATCH);
	if (!list)
		goto out;
	for (i = 0; i < iotsec_watches_count(watches_cur()); i++)
		if (nla_put_string(msg, IOTSEC_LA_PATH,
				   iotsec_watches_path(watches_cur(), i)))
			goto out;
	nla_nest_end(msg, list);
	ret = 0;
out:
	mutex_unlock(&config_lock);
	return ret;
}

size_t iotsec_config_memory(void)
{
	size_t n = sizeof(struct config);

	mutex_lock(&config_lock);
	if (excludes_cur())
		n += sizeof(struct excludes);
	n += iotsec_watches_memory(watches_cur());
	mutex_unlock(&config_lock);
	return n;
}

int iotsec_config_init(void)
{
	struct config *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return -ENOMEM;
	c->mask = IOTSEC_EVENT_MASK_DEFAULT;
	c->argv_max = IOTSEC_ARGV_MAX_DEFAULT;
	mutex_lock(&config_lock);
	config_publish(c);
	mutex_unlock(&config_lock);
	return 0;
}

/*
 * Remove every mark before the buffers go: an open of a watched file would
 * otherwise record into them. Any later SET_CONFIG fails with ESHUTDOWN.
 */
void iotsec_config_watches_exit(void)
{
	struct iotsec_watches *w;

	mutex_lock(&config_lock);
	watches_closed = true;
	w = watches_swap(NULL);
	mutex_unlock(&config_lock);
	watches_release(w);
}

void iotsec_config_exit(void)
{
	struct excludes *x;
	struct config *c;

	mutex_lock(&config_lock);
	c = config_cur();
	x = excludes_cur();
	RCU_INIT_POINTER(config, NULL);
	RCU_INIT_POINTER(excludes, NULL);
	mutex_unlock(&config_lock);
	synchronize_rcu();
	kfree(c);
	excludes_free(x);
	/* Earlier configs are freed by call_rcu callbacks: wait for them. */
	rcu_barrier();
}
