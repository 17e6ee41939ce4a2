// SPDX-License-Identifier: GPL-2.0
/*
 * What the consumers asked for: event mask, excluded processes, watched
 * paths, argv limit. Hooks read it under RCU; SET_CONFIG replaces it as a
 * whole. Two plain flags let a hook skip the lookups when the lists are
 * empty.
 */
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "compat.h"
#include "iotsec.h"

struct watch {
	dev_t dev;
	unsigned long ino;
	char *path;
};

struct config {
	struct rcu_head rcu;
	u32 mask;
	u32 argv_max;
	u32 n_exclude;
	u32 n_watch;
	u32 exclude[IOTSEC_EXCLUDE_MAX];
	struct watch watch[IOTSEC_WATCH_MAX];
};

u32 iotsec_active_mask __read_mostly;
bool iotsec_have_watches __read_mostly;
bool iotsec_have_excludes __read_mostly;

static struct config __rcu *config;
static DEFINE_MUTEX(config_lock);
static bool active;

static void config_free(struct config *c)
{
	u32 i;

	if (!c)
		return;
	for (i = 0; i < c->n_watch; i++)
		kfree(c->watch[i].path);
	kfree(c);
}

static void config_free_rcu(struct rcu_head *head)
{
	config_free(container_of(head, struct config, rcu));
}

static struct config *config_cur(void)
{
	return rcu_dereference_protected(config, lockdep_is_held(&config_lock));
}

static void config_publish(struct config *c)
{
	struct config *old = config_cur();

	rcu_assign_pointer(config, c);
	WRITE_ONCE(iotsec_have_excludes, c->n_exclude > 0);
	WRITE_ONCE(iotsec_have_watches, c->n_watch > 0);
	WRITE_ONCE(iotsec_active_mask, active ? c->mask : 0);
	if (old)
		call_rcu(&old->rcu, config_free_rcu);
}

/* Hooks record only while somebody is subscribed. */
void iotsec_config_set_active(bool on)
{
	mutex_lock(&config_lock);
	active = on;
	iotsec_hooks_set_active(on);
	WRITE_ONCE(iotsec_active_mask, on ? config_cur()->mask : 0);
	mutex_unlock(&config_lock);
}

bool iotsec_excluded(u32 tgid)
{
	struct config *c;
	bool ret = false;
	u32 i;

	rcu_read_lock();
	c = rcu_dereference(config);
	for (i = 0; i < c->n_exclude; i++) {
		if (c->exclude[i] == tgid) {
			ret = true;
			break;
		}
	}
	rcu_read_unlock();
	return ret;
}

bool iotsec_watched(const struct inode *inode)
{
	struct config *c;
	bool ret = false;
	u32 i;

	if (!inode)
		return false;
	rcu_read_lock();
	c = rcu_dereference(config);
	for (i = 0; i < c->n_watch; i++) {
		if (c->watch[i].ino == inode->i_ino &&
		    c->watch[i].dev == inode->i_sb->s_dev) {
			ret = true;
			break;
		}
	}
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

static int parse_exclude(struct config *c, const struct nlattr *list,
			 struct netlink_ext_ack *extack)
{
	const struct nlattr *a;
	int rem;

	c->n_exclude = 0;
	nla_for_each_nested(a, list, rem) {
		if (c->n_exclude >= IOTSEC_EXCLUDE_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "too many excluded tgids");
			return -E2BIG;
		}
		c->exclude[c->n_exclude++] = nla_get_u32(a);
	}
	return 0;
}

static int parse_watch(struct config *c, const struct nlattr *list,
		       struct netlink_ext_ack *extack)
{
	const struct nlattr *a;
	struct path path;
	struct inode *inode;
	char *name;
	int rem, ret;

	c->n_watch = 0;
	nla_for_each_nested(a, list, rem) {
		if (c->n_watch >= IOTSEC_WATCH_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "too many watched paths");
			return -E2BIG;
		}
		/*
		 * A relative path (or "") would resolve against the caller's
		 * working directory and watch something it did not name.
		 */
		if (*(const char *)nla_data(a) != '/') {
			NL_SET_ERR_MSG_ATTR(extack, a,
					    "watched paths must be absolute");
			return -EINVAL;
		}
		name = kstrdup(nla_data(a), GFP_KERNEL);
		if (!name)
			return -ENOMEM;
		ret = kern_path(name, LOOKUP_FOLLOW, &path);
		if (ret) {
			kfree(name);
			NL_SET_ERR_MSG_ATTR(extack, a, "cannot resolve path");
			return ret;
		}
		inode = d_backing_inode(path.dentry);
		c->watch[c->n_watch].ino = inode->i_ino;
		c->watch[c->n_watch].dev = inode->i_sb->s_dev;
		c->watch[c->n_watch].path = name;
		c->n_watch++;
		path_put(&path);
	}
	return 0;
}

int iotsec_config_set(struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct config *old, *c;
	int ret = -ENOMEM;
	u32 i;

	mutex_lock(&config_lock);
	old = config_cur();
	c = kmemdup(old, sizeof(*c), GFP_KERNEL);
	if (!c)
		goto out;
	/* The copy shares no path strings until we have our own. */
	for (i = 0; i < c->n_watch; i++)
		c->watch[i].path = NULL;
	c->n_watch = 0;

	if (attrs[IOTSEC_A_EVENT_MASK]) {
		/* Types of a newer header than ours are not refused: off. */
		c->mask = nla_get_u32(attrs[IOTSEC_A_EVENT_MASK]) &
			  IOTSEC_EVENT_MASK_ALL;
	}
	if (attrs[IOTSEC_A_ARGV_MAX])
		c->argv_max = nla_get_u32(attrs[IOTSEC_A_ARGV_MAX]);
	if (attrs[IOTSEC_A_EXCLUDE]) {
		ret = parse_exclude(c, attrs[IOTSEC_A_EXCLUDE], info->extack);
		if (ret)
			goto err;
	}
	if (attrs[IOTSEC_A_WATCH]) {
		ret = parse_watch(c, attrs[IOTSEC_A_WATCH], info->extack);
		if (ret)
			goto err;
	} else {
		ret = -ENOMEM;
		for (i = 0; i < old->n_watch; i++) {
			c->watch[i] = old->watch[i];
			c->watch[i].path = kstrdup(old->watch[i].path,
						   GFP_KERNEL);
			if (!c->watch[i].path)
				goto err;
			c->n_watch++;
		}
	}
	config_publish(c);
	ret = 0;
	goto out;

err:
	config_free(c);
out:
	mutex_unlock(&config_lock);
	return ret;
}

int iotsec_config_put(struct sk_buff *msg)
{
	struct nlattr *list;
	struct config *c;
	int ret = -EMSGSIZE;
	u32 i;

	mutex_lock(&config_lock);
	c = config_cur();
	if (nla_put_u32(msg, IOTSEC_A_EVENT_MASK, c->mask) ||
	    nla_put_u32(msg, IOTSEC_A_ARGV_MAX, c->argv_max))
		goto out;
	list = nla_nest_start(msg, IOTSEC_A_EXCLUDE);
	if (!list)
		goto out;
	for (i = 0; i < c->n_exclude; i++)
		if (nla_put_u32(msg, IOTSEC_LA_TGID, c->exclude[i]))
			goto out;
	nla_nest_end(msg, list);
	list = nla_nest_start(msg, IOTSEC_A_WATCH);
	if (!list)
		goto out;
	for (i = 0; i < c->n_watch; i++)
		if (nla_put_string(msg, IOTSEC_LA_PATH, c->watch[i].path))
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
	u32 i;

	mutex_lock(&config_lock);
	for (i = 0; i < config_cur()->n_watch; i++)
		n += strlen(config_cur()->watch[i].path) + 1;
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

void iotsec_config_exit(void)
{
	struct config *c;

	mutex_lock(&config_lock);
	c = config_cur();
	RCU_INIT_POINTER(config, NULL);
	mutex_unlock(&config_lock);
	synchronize_rcu();
	config_free(c);
	/* Earlier configs are freed by call_rcu callbacks: wait for them. */
	rcu_barrier();
}
