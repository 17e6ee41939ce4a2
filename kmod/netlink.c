// SPDX-License-Identifier: GPL-2.0
/*
 * The "iotsec" generic netlink family: commands from consumers, the list
 * of subscribed consumers, and the batches the flush worker sends them.
 *
 * A batch is built once (the events, in a scratch buffer) and sent to each
 * consumer with its own batch number and counters. Nothing leaves the
 * buffers while nobody is subscribed: with the early parameter the hooks
 * record from load, and between one consumer leaving and the next
 * arriving, into the buffers up to their size (what does not fit is
 * dropped and counted); the next consumer gets it, oldest first.
 * A consumer is its socket, not its port id: the kernel holds a reference
 * to the socket that subscribed and queues batches on that socket only,
 * so a port id given up and bound again by anybody else receives nothing.
 * A consumer whose socket is full loses that batch, counted in its LOST
 * counters, and is "dirty" until a batch reaches it: the next flush sends
 * it its counters even when nothing else moved. A consumer whose socket
 * is closed is forgotten: its close only flags it (see consumer_gone()),
 * the worker or the next command reaps it.
 */
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/rculist.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <uapi/iotsec.h>

#include "compat.h"
#include "iotsec.h"

struct consumer {
	struct list_head list;	/* RCU for consumer_gone(), else the lock */
	struct rcu_head rcu;
	struct sock *sk;	/* held: the one socket batches go to */
	u32 portid;
	bool dirty;		/* lost a batch since the last one it got */
	u64 batch_seq;
	u64 before[IOTSEC_NR_TYPES];
	u64 delivered[IOTSEC_NR_TYPES];
	u64 lost[IOTSEC_NR_TYPES];
};

/*
 * Held by commands and by the worker while it sends one batch; never by a
 * socket's close. The list changes under the lock and is read under it,
 * except by consumer_gone(), under RCU.
 */
static LIST_HEAD(consumers);
static DEFINE_MUTEX(consumers_lock);
/* A consumer's socket was closed: reap() has work. */
static unsigned long reap_pending;
static unsigned int nr_consumers;
/* Summed over all consumers, past ones too; under consumers_lock. */
static u64 total_delivered[IOTSEC_NR_TYPES];
static u64 total_lost[IOTSEC_NR_TYPES];
/* Events taken out of the buffers into batches so far; consumers_lock. */
static u64 total_batched[IOTSEC_NR_TYPES];
/* Counters in the last batch sent: a change is worth a batch of its own. */
static struct iotsec_counters last_sent;

/*
 * Room a batch keeps for its header, number and counters: netlink and
 * genetlink headers (20 bytes), the batch number (16), the counters (4 +
 * 10 types * (4 + 5 * 16) = 844 at most, with 64-bit padding) and the
 * events nest header (4). The events get the rest, so a whole batch is
 * never more than IOTSEC_BATCH_MAX_BYTES.
 */
#define BATCH_HEAD_ROOM 1024
#define BATCH_EVENTS_MAX (IOTSEC_BATCH_MAX_BYTES - BATCH_HEAD_ROOM)
/* Batches one run of the worker sends at most before yielding. */
#define FLUSH_BATCHES 64

static const struct nla_policy none_policy[IOTSEC_A_MAX + 1] = {
	[1 ... IOTSEC_A_MAX] = { .type = NLA_REJECT },
};

static const struct nla_policy exclude_policy[IOTSEC_LA_MAX + 1] = {
	[IOTSEC_LA_TGID]	= NLA_POLICY_MIN(NLA_U32, 1),
	[IOTSEC_LA_PATH]	= { .type = NLA_REJECT },
};

static const struct nla_policy watch_policy[IOTSEC_LA_MAX + 1] = {
	[IOTSEC_LA_TGID]	= { .type = NLA_REJECT },
	[IOTSEC_LA_PATH]	= { .type = NLA_NUL_STRING,
				    .len = IOTSEC_PATH_MAX - 1 },
};

/* Attributes left out (NLA_UNSPEC) are rejected by strict validation. */
static const struct nla_policy config_policy[IOTSEC_A_MAX + 1] = {
	[IOTSEC_A_EVENT_MASK]	= { .type = NLA_U32 },
	[IOTSEC_A_EXCLUDE]	= NLA_POLICY_NESTED(exclude_policy),
	[IOTSEC_A_WATCH]	= NLA_POLICY_NESTED(watch_policy),
	[IOTSEC_A_ARGV_MAX]	= NLA_POLICY_RANGE(NLA_U32, IOTSEC_ARGV_MAX_MIN,
						   IOTSEC_ARGV_MAX_MAX),
	[IOTSEC_A_TOKEN]	= { .type = NLA_NUL_STRING,
				    .len = IOTSEC_TOKEN_MAX - 1 },
	[IOTSEC_A_UNLOCK]	= { .type = NLA_FLAG },
};

static struct genl_family iotsec_family;

static struct consumer *consumer_find(const struct sock *sk)
{
	struct consumer *c;

	list_for_each_entry(c, &consumers, list)
		if (c->sk == sk)
			return c;
	return NULL;
}

static void consumer_del(struct consumer *c)
{
	list_del_rcu(&c->list);
	sock_put(c->sk);
	/* consumer_gone() may still read its port id. */
	kfree_rcu(c, rcu);
	if (--nr_consumers)
		return;
	/* Early: keep recording, for the next consumer to get. */
	if (iotsec_early)
		iotsec_config_drop_excludes();
	else
		iotsec_config_set_active(false);
}

/*
 * Forget the consumers whose socket is closed; under consumers_lock. The
 * socket is held, so its SOCK_DEAD can be read whatever its port id is now.
 */
static void reap(void)
{
	struct consumer *c, *tmp;

	/* Full barrier: pairs with the one before set_bit() below. */
	if (!test_and_clear_bit(0, &reap_pending))
		return;
	list_for_each_entry_safe(c, tmp, &consumers, list)
		if (sock_flag(c->sk, SOCK_DEAD))
			consumer_del(c);
}

/*
 * A generic netlink socket on PORTID was closed (by anybody: any family,
 * any user). If a consumer has that port id, flag the list for reap();
 * wait for nothing, least of all for the worker sending a batch. The
 * consumer gets no batch meanwhile: deliver() checks SOCK_DEAD, which the
 * close set before it told us.
 */
static void consumer_gone(u32 portid)
{
	struct consumer *c;
	bool found = false;

	rcu_read_lock();
	list_for_each_entry_rcu(c, &consumers, list) {
		if (READ_ONCE(c->portid) == portid) {
			found = true;
			break;
		}
	}
	rcu_read_unlock();
	if (!found)
		return;
	/* The socket's SOCK_DEAD before the flag: see reap(). */
	smp_mb__before_atomic();
	set_bit(0, &reap_pending);
}

/* The socket that sent the request being handled. */
static struct sock *sender(struct sk_buff *skb)
{
	return NETLINK_CB(skb).sk;
}

static int iotsec_subscribe(struct sk_buff *skb, struct genl_info *info)
{
	struct sock *sk = sender(skb);
	struct consumer *c;
	int ret = 0;

	if (!sk)
		return -EINVAL;
	mutex_lock(&consumers_lock);
	reap();
	if (consumer_find(sk))
		goto out;
	ret = -ENOMEM;
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		goto out;
	sock_hold(sk);
	c->sk = sk;
	c->portid = info->snd_portid;
	/* Events batched before now never reach this consumer. */
	memcpy(c->before, total_batched, sizeof(c->before));
	list_add_tail_rcu(&c->list, &consumers);
	iotsec_tamper_subscribed(info->snd_portid);
	/* Early: the hooks are on already (and count their misses). */
	if (!nr_consumers++ && !iotsec_early)
		iotsec_config_set_active(true);
	iotsec_flush_start();
	ret = 0;
out:
	mutex_unlock(&consumers_lock);
	return ret;
}

static int iotsec_unsubscribe(struct sk_buff *skb, struct genl_info *info)
{
	struct consumer *c;

	mutex_lock(&consumers_lock);
	c = consumer_find(sender(skb));
	if (c) {
		iotsec_tamper_unsubscribed(c->portid);
		consumer_del(c);
	}
	mutex_unlock(&consumers_lock);
	return c ? 0 : -ENOENT;
}

static int put_counters(struct sk_buff *msg, const struct iotsec_counters *cnt,
			const u64 *delivered, const u64 *lost, const u64 *before)
{
	struct nlattr *all, *one;
	int t;

	all = nla_nest_start(msg, IOTSEC_A_COUNTERS);
	if (!all)
		return -EMSGSIZE;
	for (t = IOTSEC_EVENT_UNSPEC + 1; t < IOTSEC_NR_TYPES; t++) {
		one = nla_nest_start(msg, t);
		if (!one ||
		    nla_put_u64_64bit(msg, IOTSEC_CA_GENERATED,
				      cnt->generated[t], IOTSEC_CA_PAD) ||
		    nla_put_u64_64bit(msg, IOTSEC_CA_DROPPED,
				      cnt->dropped[t], IOTSEC_CA_PAD) ||
		    nla_put_u64_64bit(msg, IOTSEC_CA_DELIVERED,
				      delivered[t], IOTSEC_CA_PAD) ||
		    nla_put_u64_64bit(msg, IOTSEC_CA_LOST, lost[t],
				      IOTSEC_CA_PAD) ||
		    (before &&
		     nla_put_u64_64bit(msg, IOTSEC_CA_BEFORE, before[t],
				       IOTSEC_CA_PAD)))
			return -EMSGSIZE;
		nla_nest_end(msg, one);
	}
	nla_nest_end(msg, all);
	return 0;
}

size_t iotsec_netlink_memory(void)
{
	return nr_consumers * sizeof(struct consumer);
}

/*
 * Answer INFO with a CMD message of at most SIZE bytes that FILL writes
 * the attributes of.
 */
static int reply(struct genl_info *info, u8 cmd, size_t size,
		 int (*fill)(struct sk_buff *msg))
{
	struct sk_buff *msg;
	void *hdr;
	int ret = -ENOMEM;

	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		goto out;
	hdr = genlmsg_put_reply(msg, info, &iotsec_family, 0, cmd);
	if (!hdr)
		goto err_msg;
	ret = fill(msg);
	if (ret)
		goto err_msg;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_msg:
	nlmsg_free(msg);
out:
	return ret;
}

static int put_stats(struct sk_buff *msg)
{
	struct iotsec_counters cnt;
	size_t mem;
	int ret = -EMSGSIZE;

	mem = iotsec_buffer_memory() + iotsec_config_memory();
	mutex_lock(&consumers_lock);
	reap();
	mem += iotsec_netlink_memory();
	iotsec_buffer_counters(&cnt);
	if (nla_put_u32(msg, IOTSEC_A_SUBSCRIBERS, nr_consumers) ||
	    nla_put_u32(msg, IOTSEC_A_CAPS, iotsec_hooks_caps()) ||
	    nla_put_u32(msg, IOTSEC_A_CAPS_MISSING, iotsec_hooks_missing()) ||
	    nla_put_u32(msg, IOTSEC_A_BUFFER_EVENTS,
			iotsec_buffer_bytes() / IOTSEC_REC_NOMINAL) ||
	    nla_put_u32(msg, IOTSEC_A_BUFFER_BYTES, iotsec_buffer_bytes()) ||
	    nla_put_u64_64bit(msg, IOTSEC_A_MEMORY, mem, IOTSEC_A_PAD) ||
	    put_counters(msg, &cnt, total_delivered, total_lost, NULL) ||
	    iotsec_hooks_put_times(msg))
		goto out;
	ret = 0;
out:
	mutex_unlock(&consumers_lock);
	return ret;
}

static int iotsec_get_stats(struct sk_buff *skb, struct genl_info *info)
{
	return reply(info, IOTSEC_CMD_GET_STATS, NLMSG_GOODSIZE, put_stats);
}

static int iotsec_set_config(struct sk_buff *skb, struct genl_info *info)
{
	return iotsec_tamper_config(info) ?: iotsec_config_set(info);
}

static int iotsec_get_config(struct sk_buff *skb, struct genl_info *info)
{
	return reply(info, IOTSEC_CMD_GET_CONFIG, iotsec_config_reply_size(),
		     iotsec_config_put);
}

static int put_blob(struct sk_buff *skb, int attr, struct iotsec_rec *rec,
		    unsigned int idx)
{
	if (!rec->slen[idx])
		return nla_put_string(skb, attr, "");
	return nla_put(skb, attr, rec->slen[idx], iotsec_rec_str(rec, idx));
}

static int put_addr(struct sk_buff *skb, int attr, u16 family, const u8 *a)
{
	return nla_put(skb, attr, family == AF_INET ? 4 : 16, a);
}

static int put_sock_fields(struct sk_buff *skb, struct iotsec_rec *rec)
{
	const struct iotsec_net_fields *n = &rec->u.net;

	if (nla_put_u16(skb, IOTSEC_EA_FAMILY, n->family) ||
	    nla_put_u8(skb, IOTSEC_EA_PROTOCOL, n->protocol) ||
	    put_addr(skb, IOTSEC_EA_LADDR, n->family, n->laddr) ||
	    nla_put_u16(skb, IOTSEC_EA_LPORT, n->lport))
		return -EMSGSIZE;
	if (rec->type == IOTSEC_EVENT_LISTEN)
		return 0;
	if (put_addr(skb, IOTSEC_EA_RADDR, n->family, n->raddr) ||
	    nla_put_u16(skb, IOTSEC_EA_RPORT, n->rport))
		return -EMSGSIZE;
	if (n->has_result && nla_put_s32(skb, IOTSEC_EA_RESULT, n->result))
		return -EMSGSIZE;
	return 0;
}

static int put_fields(struct sk_buff *skb, struct iotsec_rec *rec)
{
	int i;

	switch (rec->type) {
	case IOTSEC_EVENT_EXEC:
		if (put_blob(skb, IOTSEC_EA_EXE, rec, IOTSEC_S_EXE) ||
		    nla_put(skb, IOTSEC_EA_ARGV, rec->slen[IOTSEC_S_ARGV],
			    iotsec_rec_str(rec, IOTSEC_S_ARGV)) ||
		    put_blob(skb, IOTSEC_EA_CWD, rec, IOTSEC_S_CWD) ||
		    (rec->u.exec.argv_truncated &&
		     nla_put_flag(skb, IOTSEC_EA_ARGV_TRUNCATED)) ||
		    (rec->u.exec.secure_exec &&
		     nla_put_flag(skb, IOTSEC_EA_SECURE_EXEC)) ||
		    nla_put_u32(skb, IOTSEC_EA_EXE_DEV, rec->u.exec.dev) ||
		    nla_put_u64_64bit(skb, IOTSEC_EA_EXE_INO, rec->u.exec.ino,
				      IOTSEC_EA_PAD) ||
		    nla_put_s64(skb, IOTSEC_EA_EXE_CTIME_SEC,
				rec->u.exec.ctime_sec, IOTSEC_EA_PAD) ||
		    nla_put_u32(skb, IOTSEC_EA_EXE_CTIME_NSEC,
				rec->u.exec.ctime_nsec))
			return -EMSGSIZE;
		return 0;
	case IOTSEC_EVENT_EXIT:
		return nla_put_u32(skb, IOTSEC_EA_EXIT_CODE, rec->u.exit.code) ||
		       nla_put_u32(skb, IOTSEC_EA_EXIT_SIGNAL,
				   rec->u.exit.signal) ? -EMSGSIZE : 0;
	case IOTSEC_EVENT_FORK:
		return nla_put_u32(skb, IOTSEC_EA_CHILD_TGID,
				   rec->u.fork.child_tgid);
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
	case IOTSEC_EVENT_LISTEN:
		return put_sock_fields(skb, rec);
	case IOTSEC_EVENT_CRED:
		for (i = 0; i < 4; i++)
			if (nla_put_u32(skb, IOTSEC_EA_OLD_UID + i,
					rec->u.cred.old_ids[i]) ||
			    nla_put_u32(skb, IOTSEC_EA_NEW_UID + i,
					rec->u.cred.new_ids[i]))
				return -EMSGSIZE;
		if (nla_put_u64_64bit(skb, IOTSEC_EA_CAPS_GAINED,
				      rec->u.cred.caps_gained, IOTSEC_EA_PAD) ||
		    (rec->u.cred.from_exec &&
		     (nla_put_flag(skb, IOTSEC_EA_FROM_EXEC) ||
		      put_blob(skb, IOTSEC_EA_EXE, rec, IOTSEC_S_EXE))))
			return -EMSGSIZE;
		return 0;
	case IOTSEC_EVENT_MODULE:
		return put_blob(skb, IOTSEC_EA_MODULE_NAME, rec, IOTSEC_S_NAME) ||
		       nla_put_s32(skb, IOTSEC_EA_RESULT,
				   rec->u.module.result) ? -EMSGSIZE : 0;
	case IOTSEC_EVENT_PTRACE:
		return nla_put_u32(skb, IOTSEC_EA_TARGET_TGID,
				   rec->u.ptrace.target_tgid) ||
		       nla_put_u32(skb, IOTSEC_EA_PTRACE_MODE,
				   rec->u.ptrace.mode) ||
		       nla_put_s32(skb, IOTSEC_EA_RESULT,
				   rec->u.ptrace.result) ? -EMSGSIZE : 0;
	case IOTSEC_EVENT_FILE:
		if (put_blob(skb, IOTSEC_EA_PATH, rec, IOTSEC_S_PATH) ||
		    nla_put_u32(skb, IOTSEC_EA_FILE_OP, rec->u.file.op) ||
		    (rec->u.file.op == IOTSEC_FILE_RENAME &&
		     put_blob(skb, IOTSEC_EA_NEW_PATH, rec, IOTSEC_S_NEW_PATH)))
			return -EMSGSIZE;
		return 0;
	case IOTSEC_EVENT_TAMPER:
		return iotsec_tamper_put_fields(skb, rec);
	}
	return 0;
}

static int put_event(struct sk_buff *skb, struct iotsec_rec *rec)
{
	struct nlattr *ev = nla_nest_start(skb, rec->type);

	if (!ev)
		return -EMSGSIZE;
	if (nla_put_u32(skb, IOTSEC_EA_CPU, rec->cpu) ||
	    nla_put_u64_64bit(skb, IOTSEC_EA_SEQ, rec->seq, IOTSEC_EA_PAD) ||
	    nla_put_u64_64bit(skb, IOTSEC_EA_TIME_NS, rec->time_ns,
			      IOTSEC_EA_PAD) ||
	    nla_put_u32(skb, IOTSEC_EA_TGID, rec->tgid) ||
	    nla_put_u32(skb, IOTSEC_EA_TID, rec->tid) ||
	    nla_put_u32(skb, IOTSEC_EA_PTGID, rec->ptgid) ||
	    nla_put_u32(skb, IOTSEC_EA_UID, rec->uid) ||
	    nla_put_u32(skb, IOTSEC_EA_GID, rec->gid) ||
	    nla_put_u32(skb, IOTSEC_EA_EUID, rec->euid) ||
	    nla_put_u32(skb, IOTSEC_EA_EGID, rec->egid) ||
	    nla_put_u32(skb, IOTSEC_EA_LOGINUID, rec->loginuid) ||
	    nla_put_u32(skb, IOTSEC_EA_SESSIONID, rec->sessionid) ||
	    nla_put_string(skb, IOTSEC_EA_COMM, rec->comm) ||
	    nla_put_u64_64bit(skb, IOTSEC_EA_CGROUP_ID, rec->cgroup_id,
			      IOTSEC_EA_PAD) ||
	    put_fields(skb, rec)) {
		nla_nest_cancel(skb, ev);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, ev);
	return 0;
}

/*
 * Queue MSG on the consumer's own socket, never on whatever socket holds
 * its port id now. A full socket refuses it and gets ENOBUFS, as from
 * netlink_unicast(); a closed one refuses it too.
 */
static int deliver(struct consumer *c, struct sk_buff *msg)
{
	struct sock *sk = c->sk;
	int ret;

	if (sock_flag(sk, SOCK_DEAD)) {
		kfree_skb(msg);
		return -ECONNREFUSED;
	}
	ret = sock_queue_rcv_skb(sk, msg);
	if (ret) {
		kfree_skb(msg);
		if (ret == -ENOMEM && !READ_ONCE(sk->sk_err)) {
			WRITE_ONCE(sk->sk_err, ENOBUFS);
			iotsec_sk_error_report(sk);
		}
	}
	return ret;
}

/* Send one batch to C; what cannot be queued is counted as lost. */
static void send_batch(struct consumer *c, struct sk_buff *events,
		       const u64 *n, const struct iotsec_counters *cnt)
{
	u64 delivered[IOTSEC_NR_TYPES];
	struct sk_buff *msg;
	void *hdr;
	int t, ret = -ENOMEM;

	for (t = 0; t < IOTSEC_NR_TYPES; t++)
		delivered[t] = c->delivered[t] + n[t];
	c->batch_seq++;
	msg = genlmsg_new(events->len + BATCH_HEAD_ROOM, GFP_KERNEL);
	if (!msg)
		goto lost;
	hdr = genlmsg_put(msg, 0, 0, &iotsec_family, 0, IOTSEC_CMD_EVENTS);
	if (!hdr ||
	    nla_put_u64_64bit(msg, IOTSEC_A_BATCH_SEQ, c->batch_seq,
			      IOTSEC_A_PAD) ||
	    put_counters(msg, cnt, delivered, c->lost, c->before) ||
	    nla_put(msg, IOTSEC_A_EVENTS | NLA_F_NESTED, events->len,
		    events->data)) {
		nlmsg_free(msg);
		goto lost;
	}
	genlmsg_end(msg, hdr);
	WARN_ON_ONCE(msg->len > IOTSEC_BATCH_MAX_BYTES);
	ret = deliver(c, msg);
	if (ret)
		goto lost;
	for (t = 0; t < IOTSEC_NR_TYPES; t++) {
		c->delivered[t] += n[t];
		total_delivered[t] += n[t];
	}
	c->dirty = false;
	return;

lost:
	for (t = 0; t < IOTSEC_NR_TYPES; t++) {
		c->lost[t] += n[t];
		total_lost[t] += n[t];
	}
	c->dirty = true;
	if (ret == -ECONNREFUSED)
		consumer_del(c);
}

/* Somebody to send to: a consumer whose socket is still open. */
static bool consumer_alive(void)
{
	struct consumer *c;

	list_for_each_entry(c, &consumers, list)
		if (!sock_flag(c->sk, SOCK_DEAD))
			return true;
	return false;
}

static bool counters_changed(const struct iotsec_counters *cnt)
{
	return memcmp(cnt, &last_sent, sizeof(*cnt));
}

/*
 * Fill EVENTS with the oldest buffered events, at most BATCH_EVENTS_MAX
 * bytes of them, counting them by type in N (and in BAD those that could
 * not be put). Returns how many, and in *MORE whether some are left. Only
 * the worker runs this, under consumers_lock with a consumer subscribed.
 */
static unsigned int fill_batch(struct sk_buff *events, u64 *n, u64 *bad,
			       bool *more)
{
	struct iotsec_rec *rec;
	unsigned int count = 0;
	unsigned int mark;

	skb_trim(events, 0);
	memset(n, 0, sizeof(u64) * IOTSEC_NR_TYPES);
	memset(bad, 0, sizeof(u64) * IOTSEC_NR_TYPES);
	while ((rec = iotsec_buffer_peek())) {
		mark = events->len;
		if (put_event(events, rec) || events->len > BATCH_EVENTS_MAX) {
			skb_trim(events, mark);
			if (count)
				break;
			/* Cannot happen: any record fits a batch. */
			WARN_ON_ONCE(1);
			bad[rec->type]++;
			iotsec_buffer_consume(rec);
			continue;
		}
		n[rec->type]++;
		count++;
		iotsec_buffer_consume(rec);
	}
	*more = rec;
	return count;
}

/*
 * Drain the per-CPU buffers into batches for every consumer. Also sends a
 * batch without events when only the counters moved (everything dropped),
 * and one to each consumer that lost its last batch, so that a consumer
 * always learns the final figures. The consumer list is locked for the
 * building and sending of one batch at a time. With nobody subscribed the
 * buffers are left as they are, for the next consumer, and the worker
 * stops (returns false) until one subscribes.
 */
bool iotsec_netlink_flush(void)
{
	u64 n[IOTSEC_NR_TYPES], bad[IOTSEC_NR_TYPES];
	struct iotsec_counters cnt;
	struct consumer *c, *tmp;
	struct sk_buff *events;
	unsigned int batches, count;
	bool more = true, left, changed;
	int t;

	events = alloc_skb(IOTSEC_BATCH_MAX_BYTES, GFP_KERNEL);
	if (!events)
		return true;
	for (batches = 0; batches < FLUSH_BATCHES; batches++) {
		mutex_lock(&consumers_lock);
		reap();
		/* A closed socket not reaped yet would lose the events. */
		if (!consumer_alive()) {
			mutex_unlock(&consumers_lock);
			more = false;
			break;
		}
		count = fill_batch(events, n, bad, &left);
		iotsec_buffer_counters(&cnt);
		changed = count || counters_changed(&cnt) ||
			  memchr_inv(bad, 0, sizeof(bad));
		last_sent = cnt;
		for (t = 0; t < IOTSEC_NR_TYPES; t++)
			total_batched[t] += n[t];
		for (t = 0; t < IOTSEC_NR_TYPES; t++) {
			total_batched[t] += bad[t];
			total_lost[t] += bad[t];
		}
		list_for_each_entry_safe(c, tmp, &consumers, list) {
			for (t = 0; t < IOTSEC_NR_TYPES; t++)
				c->lost[t] += bad[t];
			if (changed || c->dirty)
				send_batch(c, events, n, &cnt);
		}
		more = nr_consumers > 0;
		mutex_unlock(&consumers_lock);
		if (!count || !left)
			break;
	}
	consume_skb(events);
	return more;
}

static const struct genl_ops iotsec_ops[] = {
	{
		.cmd = IOTSEC_CMD_SUBSCRIBE,
		.doit = iotsec_subscribe,
		.policy = none_policy,
		.maxattr = IOTSEC_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_UNSUBSCRIBE,
		.doit = iotsec_unsubscribe,
		.policy = none_policy,
		.maxattr = IOTSEC_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_GET_STATS,
		.doit = iotsec_get_stats,
		.policy = none_policy,
		.maxattr = IOTSEC_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_SET_CONFIG,
		.doit = iotsec_set_config,
		.policy = config_policy,
		.maxattr = IOTSEC_A_MAX,
		.flags = GENL_ADMIN_PERM,
	}, {
		.cmd = IOTSEC_CMD_GET_CONFIG,
		.doit = iotsec_get_config,
		.policy = none_policy,
		.maxattr = IOTSEC_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family iotsec_family __ro_after_init = {
	.name = IOTSEC_GENL_NAME,
	.version = IOTSEC_GENL_VERSION,
	.maxattr = IOTSEC_A_MAX,
	.module = THIS_MODULE,
	/* Handlers lock what they touch: none waits for another family. */
	.parallel_ops = true,
	.ops = iotsec_ops,
	.n_ops = ARRAY_SIZE(iotsec_ops),
	IOTSEC_GENL_RESV_START_OP
};

MODULE_ALIAS_GENL_FAMILY(IOTSEC_GENL_NAME);

/* A consumer whose socket closes is forgotten. */
static int iotsec_netlink_notify(struct notifier_block *nb,
				 unsigned long state, void *data)
{
	struct netlink_notify *n = data;

	if (state == NETLINK_URELEASE && n->protocol == NETLINK_GENERIC &&
	    net_eq(n->net, &init_net))
		consumer_gone(n->portid);
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
	iotsec_flush_stop();
	mutex_lock(&consumers_lock);
	list_for_each_entry_safe(c, tmp, &consumers, list)
		consumer_del(c);
	mutex_unlock(&consumers_lock);
}
