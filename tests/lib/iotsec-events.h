/* SPDX-License-Identifier: MIT */
/*
 * Test-only decoder for the module's event batches: subscribe, configure,
 * receive batches and parse them into plain structs. Small on purpose; the
 * forwarder has its own decoder.
 */
#ifndef IOTSEC_EVENTS_H
#define IOTSEC_EVENTS_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <uapi/iotsec.h>

#include "common/clock.h"
#include "iotsec-test.h"

#define IEV_NTYPES __IOTSEC_EVENT_MAX

struct iev {
	int type;
	uint32_t cpu;
	uint64_t seq, time_ns, cgroup_id;
	uint32_t tgid, tid, ptgid, uid, gid, euid, egid, loginuid, sessionid;
	char comm[IOTSEC_COMM_LEN];
	char exe[1024], cwd[1024];
	unsigned char argv[IOTSEC_ARGV_MAX_MAX];
	int argv_len;
	bool argv_truncated, secure_exec;
	bool has_exe_id;	/* exec: the file's identity */
	uint32_t exe_dev;	/* new_encode_dev() */
	uint64_t exe_ino;
	int64_t exe_ctime_sec;
	uint32_t exe_ctime_nsec;
	uint32_t exit_code, exit_signal, child_tgid;
	uint16_t family, lport, rport;
	uint8_t protocol;
	unsigned char laddr[16], raddr[16];
	bool has_result;
	int32_t result;
	uint32_t old_ids[4], new_ids[4];	/* uid, euid, gid, egid */
	uint64_t caps_gained;
	bool from_exec;
	char module[64];
	uint32_t target_tgid, ptrace_mode, file_op;
	char path[1024], new_path[1024];
};

struct iev_counters {
	uint64_t generated[IEV_NTYPES], dropped[IEV_NTYPES];
	uint64_t delivered[IEV_NTYPES], lost[IEV_NTYPES];
	uint64_t before[IEV_NTYPES];	/* batched before it subscribed */
};

struct iev_client {
	struct nl_sock *ev;	/* subscribed: batches only */
	struct nl_sock *ctl;	/* commands and their replies */
	int family;
	struct iev *evs;
	size_t n, cap;
	uint64_t received[IEV_NTYPES];
	struct iev_counters cnt;	/* of the last batch */
	uint64_t batches, last_batch_seq;
	bool seq_gap;
	int overruns;
};


/* Build a command message; the caller adds attributes. */
static inline struct nl_msg *iev_msg(struct iev_client *c, int cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, c->family, 0,
				NLM_F_REQUEST, cmd, IOTSEC_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* Send MSG on SK and wait for the ack; 0 or -errno. */
static inline int iev_send(struct nl_sock *sk, struct nl_msg *msg)
{
	int ret = nl_send_sync(sk, msg);

	if (ret == -NLE_PERM)
		return -EPERM;
	if (ret == -NLE_OBJ_NOTFOUND)
		return -ENOENT;
	if (ret == -NLE_INVAL)
		return -EINVAL;
	if (ret == -NLE_RANGE)
		return -ERANGE;
	return ret < 0 ? -EIO : 0;
}

/* Connect both sockets, resolve the family and subscribe. 0 or -errno. */
static inline int iev_open(struct iev_client *c)
{
	struct nl_msg *msg;
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->ev = iotsec_test_sock();
	c->ctl = iotsec_test_sock();
	if (!c->ev || !c->ctl)
		return -ENOMEM;
	c->family = genl_ctrl_resolve(c->ctl, IOTSEC_GENL_NAME);
	if (c->family <= 0)
		return -ENOENT;
	/* Big enough that a test never loses a batch to its own slowness. */
	one = 8 << 20;
	setsockopt(nl_socket_get_fd(c->ev), SOL_SOCKET, SO_RCVBUFFORCE,
		   &one, sizeof(one));
	msg = iev_msg(c, IOTSEC_CMD_SUBSCRIBE);
	if (!msg)
		return -ENOMEM;
	return iev_send(c->ev, msg);
}

static inline void iev_close(struct iev_client *c)
{
	if (c->ev)
		nl_socket_free(c->ev);
	if (c->ctl)
		nl_socket_free(c->ctl);
	free(c->evs);
	memset(c, 0, sizeof(*c));
}

/*
 * SET_CONFIG: MASK < 0, ARGV_MAX < 0, NEX < 0 or NWATCH < 0 leave that
 * part as it is. 0 or -errno.
 */
static inline int iev_config(struct iev_client *c, long mask, long argv_max,
			     const uint32_t *ex, int nex,
			     const char *const *watch, int nwatch)
{
	struct nl_msg *msg = iev_msg(c, IOTSEC_CMD_SET_CONFIG);
	struct nlattr *list;
	int i;

	if (!msg)
		return -ENOMEM;
	if (mask >= 0)
		nla_put_u32(msg, IOTSEC_A_EVENT_MASK, mask);
	if (argv_max >= 0)
		nla_put_u32(msg, IOTSEC_A_ARGV_MAX, argv_max);
	/* libnl drops empty nests: an empty list goes as a bare header. */
	if (nex == 0)
		nla_put(msg, IOTSEC_A_EXCLUDE | NLA_F_NESTED, 0, NULL);
	if (nwatch == 0)
		nla_put(msg, IOTSEC_A_WATCH | NLA_F_NESTED, 0, NULL);
	if (nex > 0) {
		list = nla_nest_start(msg, IOTSEC_A_EXCLUDE);
		for (i = 0; i < nex; i++)
			nla_put_u32(msg, IOTSEC_LA_TGID, ex[i]);
		nla_nest_end(msg, list);
	}
	if (nwatch > 0) {
		list = nla_nest_start(msg, IOTSEC_A_WATCH);
		for (i = 0; i < nwatch; i++)
			nla_put_string(msg, IOTSEC_LA_PATH, watch[i]);
		nla_nest_end(msg, list);
	}
	return iev_send(c->ctl, msg);
}

static inline void iev_str(char *dst, size_t size, struct nlattr *a)
{
	size_t n;

	if (!a) {
		dst[0] = '\0';
		return;
	}
	n = nla_len(a) < (int)size - 1 ? (size_t)nla_len(a) : size - 1;
	memcpy(dst, nla_data(a), n);
	dst[n] = '\0';
}

#define IEV_U32(tb, a) ((tb)[a] ? nla_get_u32((tb)[a]) : 0)
#define IEV_U64(tb, a) ((tb)[a] ? nla_get_u64((tb)[a]) : 0)
#define IEV_U16(tb, a) ((tb)[a] ? nla_get_u16((tb)[a]) : 0)

static inline void iev_parse_event(struct iev *e, struct nlattr *ev)
{
	struct nlattr *tb[IOTSEC_EA_MAX + 1];
	int i, n;

	memset(e, 0, sizeof(*e));
	e->type = nla_type(ev);
	nla_parse_nested(tb, IOTSEC_EA_MAX, ev, NULL);
	e->cpu = IEV_U32(tb, IOTSEC_EA_CPU);
	e->seq = IEV_U64(tb, IOTSEC_EA_SEQ);
	e->time_ns = IEV_U64(tb, IOTSEC_EA_TIME_NS);
	e->tgid = IEV_U32(tb, IOTSEC_EA_TGID);
	e->tid = IEV_U32(tb, IOTSEC_EA_TID);
	e->ptgid = IEV_U32(tb, IOTSEC_EA_PTGID);
	e->uid = IEV_U32(tb, IOTSEC_EA_UID);
	e->gid = IEV_U32(tb, IOTSEC_EA_GID);
	e->euid = IEV_U32(tb, IOTSEC_EA_EUID);
	e->egid = IEV_U32(tb, IOTSEC_EA_EGID);
	e->loginuid = IEV_U32(tb, IOTSEC_EA_LOGINUID);
	e->sessionid = IEV_U32(tb, IOTSEC_EA_SESSIONID);
	e->cgroup_id = IEV_U64(tb, IOTSEC_EA_CGROUP_ID);
	iev_str(e->comm, sizeof(e->comm), tb[IOTSEC_EA_COMM]);
	iev_str(e->exe, sizeof(e->exe), tb[IOTSEC_EA_EXE]);
	iev_str(e->cwd, sizeof(e->cwd), tb[IOTSEC_EA_CWD]);
	if (tb[IOTSEC_EA_ARGV]) {
		n = nla_len(tb[IOTSEC_EA_ARGV]);
		if (n > (int)sizeof(e->argv))
			n = sizeof(e->argv);
		memcpy(e->argv, nla_data(tb[IOTSEC_EA_ARGV]), n);
		e->argv_len = n;
	}
	e->argv_truncated = tb[IOTSEC_EA_ARGV_TRUNCATED];
	e->secure_exec = tb[IOTSEC_EA_SECURE_EXEC];
	e->has_exe_id = tb[IOTSEC_EA_EXE_DEV] && tb[IOTSEC_EA_EXE_INO] &&
			tb[IOTSEC_EA_EXE_CTIME_SEC] &&
			tb[IOTSEC_EA_EXE_CTIME_NSEC];
	e->exe_dev = IEV_U32(tb, IOTSEC_EA_EXE_DEV);
	e->exe_ino = IEV_U64(tb, IOTSEC_EA_EXE_INO);
	e->exe_ctime_sec = (int64_t)IEV_U64(tb, IOTSEC_EA_EXE_CTIME_SEC);
	e->exe_ctime_nsec = IEV_U32(tb, IOTSEC_EA_EXE_CTIME_NSEC);
	e->exit_code = IEV_U32(tb, IOTSEC_EA_EXIT_CODE);
	e->exit_signal = IEV_U32(tb, IOTSEC_EA_EXIT_SIGNAL);
	e->child_tgid = IEV_U32(tb, IOTSEC_EA_CHILD_TGID);
	e->family = IEV_U16(tb, IOTSEC_EA_FAMILY);
	e->protocol = tb[IOTSEC_EA_PROTOCOL] ?
		      nla_get_u8(tb[IOTSEC_EA_PROTOCOL]) : 0;
	if (tb[IOTSEC_EA_LADDR] && nla_len(tb[IOTSEC_EA_LADDR]) <= 16)
		memcpy(e->laddr, nla_data(tb[IOTSEC_EA_LADDR]),
		       nla_len(tb[IOTSEC_EA_LADDR]));
	if (tb[IOTSEC_EA_RADDR] && nla_len(tb[IOTSEC_EA_RADDR]) <= 16)
		memcpy(e->raddr, nla_data(tb[IOTSEC_EA_RADDR]),
		       nla_len(tb[IOTSEC_EA_RADDR]));
	e->lport = IEV_U16(tb, IOTSEC_EA_LPORT);
	e->rport = IEV_U16(tb, IOTSEC_EA_RPORT);
	e->has_result = tb[IOTSEC_EA_RESULT];
	e->result = (int32_t)IEV_U32(tb, IOTSEC_EA_RESULT);
	for (i = 0; i < 4; i++) {
		e->old_ids[i] = IEV_U32(tb, IOTSEC_EA_OLD_UID + i);
		e->new_ids[i] = IEV_U32(tb, IOTSEC_EA_NEW_UID + i);
	}
	e->caps_gained = IEV_U64(tb, IOTSEC_EA_CAPS_GAINED);
	e->from_exec = tb[IOTSEC_EA_FROM_EXEC];
	iev_str(e->module, sizeof(e->module), tb[IOTSEC_EA_MODULE_NAME]);
	e->target_tgid = IEV_U32(tb, IOTSEC_EA_TARGET_TGID);
	e->ptrace_mode = IEV_U32(tb, IOTSEC_EA_PTRACE_MODE);
	e->file_op = IEV_U32(tb, IOTSEC_EA_FILE_OP);
	iev_str(e->path, sizeof(e->path), tb[IOTSEC_EA_PATH]);
	iev_str(e->new_path, sizeof(e->new_path), tb[IOTSEC_EA_NEW_PATH]);
}

static inline void iev_parse_counters(struct iev_counters *cnt,
				      struct nlattr *all)
{
	struct nlattr *one, *tb[IOTSEC_CA_MAX + 1];
	int rem, t;

	nla_for_each_nested(one, all, rem) {
		t = nla_type(one);
		if (t <= 0 || t >= IEV_NTYPES)
			continue;
		nla_parse_nested(tb, IOTSEC_CA_MAX, one, NULL);
		cnt->generated[t] = IEV_U64(tb, IOTSEC_CA_GENERATED);
		cnt->dropped[t] = IEV_U64(tb, IOTSEC_CA_DROPPED);
		cnt->delivered[t] = IEV_U64(tb, IOTSEC_CA_DELIVERED);
		cnt->lost[t] = IEV_U64(tb, IOTSEC_CA_LOST);
		cnt->before[t] = IEV_U64(tb, IOTSEC_CA_BEFORE);
	}
}

static inline void iev_add(struct iev_client *c, struct nlattr *ev)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->evs = realloc(c->evs, c->cap * sizeof(*c->evs));
		if (!c->evs)
			abort();
	}
	iev_parse_event(&c->evs[c->n], ev);
	c->received[c->evs[c->n].type]++;
	c->n++;
}

/* Parse one datagram of batches; returns the number of batches. */
static inline int iev_parse(struct iev_client *c, void *buf, int len)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1], *ev;
	struct nlmsghdr *nlh = buf;
	int rem, n = 0;
	uint64_t seq;

	for (; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type != c->family)
			continue;
		if (genlmsg_parse(nlh, 0, tb, IOTSEC_A_MAX, NULL))
			continue;
		if (((struct genlmsghdr *)nlmsg_data(nlh))->cmd !=
		    IOTSEC_CMD_EVENTS)
			continue;
		seq = IEV_U64(tb, IOTSEC_A_BATCH_SEQ);
		if (seq != c->last_batch_seq + 1)
			c->seq_gap = true;
		c->last_batch_seq = seq;
		if (tb[IOTSEC_A_COUNTERS])
			iev_parse_counters(&c->cnt, tb[IOTSEC_A_COUNTERS]);
		if (tb[IOTSEC_A_EVENTS])
			nla_for_each_nested(ev, tb[IOTSEC_A_EVENTS], rem)
				iev_add(c, ev);
		c->batches++;
		n++;
	}
	return n;
}

/* Receive for at most MS milliseconds; returns batches received. */
static inline int iev_poll(struct iev_client *c, int ms)
{
	static unsigned char buf[1 << 16];
	long end = mono_ms() + ms;
	struct sockaddr_nl peer;
	socklen_t plen;
	struct pollfd pfd;
	int n, got = 0;

	pfd.fd = nl_socket_get_fd(c->ev);
	pfd.events = POLLIN;
	for (;;) {
		long left = end - mono_ms();

		if (left < 0)
			left = 0;
		if (poll(&pfd, 1, left) <= 0)
			return got;
		plen = sizeof(peer);
		n = recvfrom(pfd.fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (errno == ENOBUFS)
				c->overruns++;
			continue;
		}
		/* Only the kernel sends batches. */
		if (peer.nl_pid != 0)
			continue;
		got += iev_parse(c, buf, n);
		if (got && left == 0)
			return got;
	}
}

typedef bool (*iev_match_fn)(const struct iev *e, const void *arg);

/* The first event from index *FROM on that matches, waiting up to MS. */
static inline const struct iev *iev_wait(struct iev_client *c,
					 iev_match_fn match, const void *arg,
					 int ms)
{
	long end = mono_ms() + ms;
	size_t i = 0;

	for (;;) {
		for (; i < c->n; i++)
			if (match(&c->evs[i], arg))
				return &c->evs[i];
		if (mono_ms() >= end)
			return NULL;
		iev_poll(c, 50);
	}
}

/* Count events matching. */
static inline size_t iev_count(struct iev_client *c, iev_match_fn match,
			       const void *arg)
{
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		if (match(&c->evs[i], arg))
			n++;
	return n;
}

/* Matchers on (type, tgid). */
struct iev_key {
	int type;
	uint32_t tgid;
};

static inline bool iev_match_key(const struct iev *e, const void *arg)
{
	const struct iev_key *k = arg;

	return e->type == k->type && (!k->tgid || e->tgid == k->tgid);
}

static inline const struct iev *iev_wait_for(struct iev_client *c, int type,
					     uint32_t tgid, int ms)
{
	struct iev_key k = { type, tgid };

	return iev_wait(c, iev_match_key, &k, ms);
}

#endif /* IOTSEC_EVENTS_H */
