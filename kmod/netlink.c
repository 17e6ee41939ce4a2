// SPDX-License-Identifier: GPL-2.0
/*
 * The "iotsec" generic netlink family: commands from consumers and the
 * list of subscribed consumers.
 */
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <uapi/iotsec.h>

#include "compat.h"
#include "iotsec.h"

struct consumer {
	struct list_head list;
	u32 portid;
};

static LIST_HEAD(consumers);
static DEFINE_MUTEX(consumers_lock);
static unsigned int nr_consumers;

static const struct nla_policy iotsec_policy[IOTSEC_A_MAX + 1] = {
	[IOTSEC_A_EVENT_MASK]	= NLA_POLICY_MASK(NLA_U32, IOTSEC_EVENT_MASK_ALL),
	[IOTSEC_A_ARGV_MAX]	= NLA_POLICY_RANGE(NLA_U32, IOTSEC_ARGV_MAX_MIN,
						   IOTSEC_ARGV_MAX_MAX),
};

static struct genl_family iotsec_family;

static struct consumer *consumer_find(u32 portid)
{
	struct consumer *c;

	list_for_each_entry(c, &consumers, list)
		if (c->portid == portid)
			return c;
	return NULL;
}

static int iotsec_subscribe(struct sk_buff *skb, struct genl_info *info)
{
	struct consumer *c;
	int ret = 0;

	mutex_lock(&consumers_lock);
	if (consumer_find(info->snd_portid))
		goto out;
	ret = -ENOMEM;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		goto out;
	c->portid = info->snd_portid;
	list_add_tail(&c->list, &consumers);
	nr_consumers++;
	ret = 0;
out:
	mutex_unlock(&consumers_lock);
	return ret;
}

static bool consumer_remove(u32 portid)
{
	struct consumer *c;

	mutex_lock(&consumers_lock);
	c = consumer_find(portid);
	if (c) {
		list_del(&c->list);
		nr_consumers--;
	}
	mutex_unlock(&consumers_lock);
	kfree(c);
	return c;
}

static int iotsec_unsubscribe(struct sk_buff *skb, struct genl_info *info)
{
	return consumer_remove(info->snd_portid) ? 0 : -ENOENT;
}

static int iotsec_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int ret = -ENOMEM;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		goto out;
	hdr = genlmsg_put_reply(msg, info, &iotsec_family, 0,
				IOTSEC_CMD_GET_STATS);
	if (!hdr)
		goto err_msg;
	mutex_lock(&consumers_lock);
	ret = nla_put_u32(msg, IOTSEC_A_SUBSCRIBERS, nr_consumers);
	mutex_unlock(&consumers_lock);
	if (ret ||
	    nla_put_u32(msg, IOTSEC_A_CAPS, 0) ||
	    nla_put_u32(msg, IOTSEC_A_CAPS_MISSING, 0)) {
		ret = -EMSGSIZE;
		goto err_msg;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_msg:
	nlmsg_free(msg);
out:
	return ret;
}

static int iotsec_not_yet(struct sk_buff *skb, struct genl_info *info)
{
	return -EOPNOTSUPP;
}

static const struct genl_ops iotsec_ops[] = {
	{
		.cmd = IOTSEC_CMD_SUBSCRIBE,
		.doit = iotsec_subscribe,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_UNSUBSCRIBE,
		.doit = iotsec_unsubscribe,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_GET_STATS,
		.doit = iotsec_get_stats,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_SET_CONFIG,
		.doit = iotsec_not_yet,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_GET_CONFIG,
		.doit = iotsec_not_yet,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family iotsec_family __ro_after_init = {
	.name = IOTSEC_GENL_NAME,
	.version = IOTSEC_GENL_VERSION,
	.maxattr = IOTSEC_A_MAX,
	.policy = iotsec_policy,
	.module = THIS_MODULE,
	.ops = iotsec_ops,
	.n_ops = ARRAY_SIZE(iotsec_ops),
	IOTSEC_GENL_RESV_START_OP
};

/* A consumer whose socket closes is forgotten. */
static int iotsec_netlink_notify(struct notifier_block *nb,
				 unsigned long state, void *data)
{
	struct netlink_notify *n = data;

	if (state == NETLINK_URELEASE && n->protocol == NETLINK_GENERIC)
		consumer_remove(n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block iotsec_netlink_nb = {
	.notifier_call = iotsec_netlink_notify,
};

int __init iotsec_netlink_init(void)
{
	int ret;

	ret = netlink_register_notifier(&iotsec_netlink_nb);
	if (ret)
		goto err_notifier;
	ret = genl_register_family(&iotsec_family);
	if (ret)
		goto err_family;
	return 0;

err_family:
	netlink_unregister_notifier(&iotsec_netlink_nb);
err_notifier:
	return ret;
}

void iotsec_netlink_exit(void)
{
	struct consumer *c, *tmp;

	genl_unregister_family(&iotsec_family);
	netlink_unregister_notifier(&iotsec_netlink_nb);
	list_for_each_entry_safe(c, tmp, &consumers, list) {
		list_del(&c->list);
		kfree(c);
	}
	nr_consumers = 0;
}
