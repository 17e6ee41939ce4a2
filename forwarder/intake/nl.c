// SPDX-License-Identifier: MIT
/*
 * Generic netlink intake: the pure batch decoder and the sockets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include "intake/nl.h"

/* Walk attributes without trusting a single length. */
#define for_each_attr(a, buf, len, rem)                                     \
	for (a = (const struct nlattr *)(buf), rem = (long)(len);           \
	     rem >= (long)sizeof(*a) && a->nla_len >= sizeof(*a) &&          \
	     (long)a->nla_len <= rem;                                        \
	     rem -= NLA_ALIGN(a->nla_len),                                   \
	     a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len)))

static inline const void *attr_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static inline size_t attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static inline int attr_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

enum akind { K_NONE, K_U8, K_U16, K_U32, K_S32, K_U64, K_STR, K_BIN, K_FLAG,
	     K_ADDR };

static const unsigned char ea_kind[IOTSEC_EA_MAX + 1] = {
	[IOTSEC_EA_CPU] = K_U32, [IOTSEC_EA_SEQ] = K_U64,
	[IOTSEC_EA_TIME_NS] = K_U64, [IOTSEC_EA_TGID] = K_U32,
	[IOTSEC_EA_TID] = K_U32, [IOTSEC_EA_PTGID] = K_U32,
	[IOTSEC_EA_UID] = K_U32, [IOTSEC_EA_GID] = K_U32,
	[IOTSEC_EA_EUID] = K_U32, [IOTSEC_EA_EGID] = K_U32,
	[IOTSEC_EA_LOGINUID] = K_U32, [IOTSEC_EA_SESSIONID] = K_U32,
	[IOTSEC_EA_COMM] = K_STR, [IOTSEC_EA_CGROUP_ID] = K_U64,
	[IOTSEC_EA_EXE] = K_STR, [IOTSEC_EA_ARGV] = K_BIN,
	[IOTSEC_EA_ARGV_TRUNCATED] = K_FLAG, [IOTSEC_EA_CWD] = K_STR,
	[IOTSEC_EA_SECURE_EXEC] = K_FLAG, [IOTSEC_EA_EXIT_CODE] = K_U32,
	[IOTSEC_EA_EXIT_SIGNAL] = K_U32, [IOTSEC_EA_CHILD_TGID] = K_U32,
	[IOTSEC_EA_FAMILY] = K_U16, [IOTSEC_EA_PROTOCOL] = K_U8,
	[IOTSEC_EA_LADDR] = K_ADDR, [IOTSEC_EA_LPORT] = K_U16,
	[IOTSEC_EA_RADDR] = K_ADDR, [IOTSEC_EA_RPORT] = K_U16,
	[IOTSEC_EA_RESULT] = K_S32, [IOTSEC_EA_OLD_UID] = K_U32,
	[IOTSEC_EA_OLD_EUID] = K_U32, [IOTSEC_EA_OLD_GID] = K_U32,
	[IOTSEC_EA_OLD_EGID] = K_U32, [IOTSEC_EA_NEW_UID] = K_U32,
	[IOTSEC_EA_NEW_EUID] = K_U32, [IOTSEC_EA_NEW_GID] = K_U32,
	[IOTSEC_EA_NEW_EGID] = K_U32, [IOTSEC_EA_CAPS_GAINED] = K_U64,
	[IOTSEC_EA_FROM_EXEC] = K_FLAG, [IOTSEC_EA_MODULE_NAME] = K_STR,
	[IOTSEC_EA_TARGET_TGID] = K_U32, [IOTSEC_EA_PTRACE_MODE] = K_U32,
	[IOTSEC_EA_PATH] = K_STR, [IOTSEC_EA_FILE_OP] = K_U32,
	[IOTSEC_EA_NEW_PATH] = K_STR,
};

static const size_t kind_len[] = {
	[K_U8] = 1, [K_U16] = 2, [K_U32] = 4, [K_S32] = 4, [K_U64] = 8,
	[K_FLAG] = 0,
};

/* Type and length check of a known attribute; 0 or -EINVAL. */
static int check_attr(const struct nlattr *a, int kind)
{
	size_t len = attr_len(a);
	const char *p = attr_data(a);

	switch (kind) {
	case K_U8: case K_U16: case K_U32: case K_S32: case K_U64:
	case K_FLAG:
		return len == kind_len[kind] ? 0 : -EINVAL;
	case K_STR:
		return len >= 1 && p[len - 1] == '\0' ? 0 : -EINVAL;
	case K_ADDR:
		return len == 4 || len == 16 ? 0 : -EINVAL;
	case K_BIN:
		return len <= 65536 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static uint64_t get_uint(const struct nlattr *a)
{
	const void *p = attr_data(a);
	uint64_t v64;
	uint32_t v32;
	uint16_t v16;

	switch (attr_len(a)) {
	case 1: return *(const uint8_t *)p;
	case 2: memcpy(&v16, p, 2); return v16;
	case 4: memcpy(&v32, p, 4); return v32;
	case 8: memcpy(&v64, p, 8); return v64;
	}
	return 0;
}

static struct ev_str get_str(const struct nlattr *a)
{
	struct ev_str s = { attr_data(a), strnlen(attr_data(a), attr_len(a)) };

	return s;
}

static int decode_event(struct iotsec_decoder *d, uint32_t type,
			const void *buf, size_t len, struct iotsec_event *ev)
{
	const struct nlattr *a;
	long rem;

	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	for_each_attr(a, buf, len, rem) {
		int t = attr_type(a);
		uint64_t v;

		if (t <= 0 || t > IOTSEC_EA_MAX || ea_kind[t] == K_NONE) {
			d->stats.unknown_attrs++;
			continue;
		}
		if (check_attr(a, ea_kind[t]))
			return -EINVAL;
		v = get_uint(a);
		switch (t) {
		case IOTSEC_EA_CPU: ev->cpu = v; break;
		case IOTSEC_EA_SEQ: ev->seq = v; break;
		case IOTSEC_EA_TIME_NS: ev->time_ns = v; break;
		case IOTSEC_EA_TGID: ev->tgid = v; break;
		case IOTSEC_EA_TID: ev->tid = v; break;
		case IOTSEC_EA_PTGID: ev->ptgid = v; break;
		case IOTSEC_EA_UID: ev->uid = v; break;
		case IOTSEC_EA_GID: ev->gid = v; break;
		case IOTSEC_EA_EUID: ev->euid = v; break;
		case IOTSEC_EA_EGID: ev->egid = v; break;
		case IOTSEC_EA_LOGINUID: ev->loginuid = v; break;
		case IOTSEC_EA_SESSIONID: ev->sessionid = v; break;
		case IOTSEC_EA_COMM: ev->comm = get_str(a); break;
		case IOTSEC_EA_CGROUP_ID: ev->cgroup_id = v; break;
		case IOTSEC_EA_EXE: ev->exe = get_str(a); break;
		case IOTSEC_EA_ARGV:
			ev->argv.s = attr_data(a);
			ev->argv.len = attr_len(a);
			break;
		case IOTSEC_EA_ARGV_TRUNCATED: ev->argv_truncated = true; break;
		case IOTSEC_EA_CWD: ev->cwd = get_str(a); break;
		case IOTSEC_EA_SECURE_EXEC: ev->secure_exec = true; break;
		case IOTSEC_EA_EXIT_CODE: ev->exit_code = v; break;
		case IOTSEC_EA_EXIT_SIGNAL: ev->exit_signal = v; break;
		case IOTSEC_EA_CHILD_TGID: ev->child_tgid = v; break;
		case IOTSEC_EA_FAMILY: ev->family = v; break;
		case IOTSEC_EA_PROTOCOL: ev->protocol = v; break;
		case IOTSEC_EA_LADDR:
			memcpy(ev->laddr, attr_data(a), attr_len(a));
			break;
		case IOTSEC_EA_LPORT: ev->lport = v; break;
		case IOTSEC_EA_RADDR:
			memcpy(ev->raddr, attr_data(a), attr_len(a));
			break;
		case IOTSEC_EA_RPORT: ev->rport = v; break;
		case IOTSEC_EA_RESULT: ev->result = (int32_t)v; break;
		case IOTSEC_EA_OLD_UID: ev->old_uid = v; break;
		case IOTSEC_EA_OLD_EUID: ev->old_euid = v; break;
		case IOTSEC_EA_OLD_GID: ev->old_gid = v; break;
		case IOTSEC_EA_OLD_EGID: ev->old_egid = v; break;
		case IOTSEC_EA_NEW_UID: ev->new_uid = v; break;
		case IOTSEC_EA_NEW_EUID: ev->new_euid = v; break;
		case IOTSEC_EA_NEW_GID: ev->new_gid = v; break;
		case IOTSEC_EA_NEW_EGID: ev->new_egid = v; break;
		case IOTSEC_EA_CAPS_GAINED: ev->caps_gained = v; break;
		case IOTSEC_EA_FROM_EXEC: ev->from_exec = true; break;
		case IOTSEC_EA_MODULE_NAME: ev->module_name = get_str(a); break;
		case IOTSEC_EA_TARGET_TGID: ev->target_tgid = v; break;
		case IOTSEC_EA_PTRACE_MODE: ev->ptrace_mode = v; break;
		case IOTSEC_EA_PATH: ev->path = get_str(a); break;
		case IOTSEC_EA_FILE_OP: ev->file_op = v; break;
		case IOTSEC_EA_NEW_PATH: ev->new_path = get_str(a); break;
		}
	}
	if (rem != 0)
		return -EINVAL;
	if (ev->family != 0 && ev->family != 2 && ev->family != 10)
		return -EINVAL;
	return 0;
}

int iotsec_decode_counters(const void *buf, size_t len,
			   struct iotsec_counters *c)
{
	const struct nlattr *a, *b;
	long rem, rem2;

	memset(c, 0, sizeof(*c));
	for_each_attr(a, buf, len, rem) {
		int t = attr_type(a);

		if (t <= 0 || t > IOTSEC_EVENT_MAX)
			continue;
		for_each_attr(b, attr_data(a), attr_len(a), rem2) {
			uint64_t v;

			if (attr_len(b) != 8)
				continue;	/* unknown or bad: not ours */
			v = get_uint(b);
			switch (attr_type(b)) {
			case IOTSEC_CA_GENERATED: c->t[t].generated = v; break;
			case IOTSEC_CA_DROPPED: c->t[t].dropped = v; break;
			case IOTSEC_CA_DELIVERED: c->t[t].delivered = v; break;
			case IOTSEC_CA_LOST: c->t[t].lost = v; break;
			}
		}
		if (rem2 != 0)
			return -EINVAL;
	}
	return rem == 0 ? 0 : -EINVAL;
}

int iotsec_decoder_init(struct iotsec_decoder *d, iotsec_event_fn ev,
			iotsec_counters_fn cnt, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->on_event = ev;
	d->on_counters = cnt;
	d->ctx = ctx;
	d->cpu_seq = calloc(IOTSEC_DEC_MAX_CPUS, sizeof(*d->cpu_seq));
	return d->cpu_seq ? 0 : -ENOMEM;
}

void iotsec_decoder_fini(struct iotsec_decoder *d)
{
	free(d->cpu_seq);
	d->cpu_seq = NULL;
}

static void track_cpu_seq(struct iotsec_decoder *d,
			  const struct iotsec_event *ev)
{
	uint64_t *last;

	if (ev->cpu >= IOTSEC_DEC_MAX_CPUS || !ev->seq)
		return;
	last = &d->cpu_seq[ev->cpu];
	if (*last && ev->seq > *last + 1)
		d->stats.cpu_seq_gaps += ev->seq - *last - 1;
	if (ev->seq > *last)
		*last = ev->seq;
}

int iotsec_decode_batch(struct iotsec_decoder *d, const void *buf,
			size_t len)
{
	const struct nlattr *a, *e;
	long rem, rem2;
	struct iotsec_event ev;
	int ret = 0;

	for_each_attr(a, buf, len, rem) {
		switch (attr_type(a)) {
		case IOTSEC_A_BATCH_SEQ: {
			uint64_t seq;

			if (attr_len(a) != 8)
				return -EINVAL;
			seq = get_uint(a);
			if (d->last_batch_seq && seq > d->last_batch_seq + 1)
				d->stats.batch_gaps += seq - d->last_batch_seq - 1;
			d->last_batch_seq = seq;
			break;
		}
		case IOTSEC_A_COUNTERS:
			if (iotsec_decode_counters(attr_data(a), attr_len(a),
						   &d->counters)) {
				ret = -EINVAL;
				break;
			}
			d->have_counters = true;
			if (d->on_counters)
				d->on_counters(d->ctx, &d->counters);
			break;
		case IOTSEC_A_EVENTS:
			for_each_attr(e, attr_data(a), attr_len(a), rem2) {
				int t = attr_type(e);

				if (t <= 0 || t > IOTSEC_EVENT_MAX) {
					d->stats.unknown_attrs++;
					continue;
				}
				if (decode_event(d, t, attr_data(e),
						 attr_len(e), &ev)) {
					d->stats.bad_events++;
					continue;
				}
				d->stats.events++;
				track_cpu_seq(d, &ev);
				if (d->on_event)
					d->on_event(d->ctx, &ev);
			}
			if (rem2 != 0)
				ret = -EINVAL;
			break;
		default:
			d->stats.unknown_attrs++;
			break;
		}
	}
	if (rem != 0)
		ret = -EINVAL;
	if (ret)
		d->stats.bad_batches++;
	else
		d->stats.batches++;
	return ret;
}

int iotsec_decode_stats(const void *buf, size_t len, struct iotsec_kstats *s)
{
	const struct nlattr *a;
	long rem;

	memset(s, 0, sizeof(*s));
	for_each_attr(a, buf, len, rem) {
		switch (attr_type(a)) {
		case IOTSEC_A_CAPS:
		case IOTSEC_A_CAPS_MISSING:
		case IOTSEC_A_SUBSCRIBERS:
		case IOTSEC_A_BUFFER_EVENTS:
			if (attr_len(a) != 4)
				return -EINVAL;
			if (attr_type(a) == IOTSEC_A_CAPS)
				s->caps = get_uint(a);
			else if (attr_type(a) == IOTSEC_A_CAPS_MISSING)
				s->caps_missing = get_uint(a);
			else if (attr_type(a) == IOTSEC_A_SUBSCRIBERS)
				s->subscribers = get_uint(a);
			else
				s->buffer_events = get_uint(a);
			break;
		case IOTSEC_A_MEMORY:
			if (attr_len(a) != 8)
				return -EINVAL;
			s->memory = get_uint(a);
			break;
		case IOTSEC_A_COUNTERS:
			if (iotsec_decode_counters(attr_data(a), attr_len(a),
						   &s->counters))
				return -EINVAL;
			break;
		}
	}
	return rem == 0 ? 0 : -EINVAL;
}

static int decode_kconfig(const void *buf, size_t len, struct iotsec_kconfig *c)
{
	const struct nlattr *a, *b;
	long rem, rem2;

	memset(c, 0, sizeof(*c));
	for_each_attr(a, buf, len, rem) {
		switch (attr_type(a)) {
		case IOTSEC_A_EVENT_MASK:
			if (attr_len(a) != 4)
				return -EINVAL;
			c->has_mask = true;
			c->event_mask = get_uint(a);
			break;
		case IOTSEC_A_ARGV_MAX:
			if (attr_len(a) != 4)
				return -EINVAL;
			c->has_argv_max = true;
			c->argv_max = get_uint(a);
			break;
		case IOTSEC_A_EXCLUDE:
			c->has_exclude = true;
			for_each_attr(b, attr_data(a), attr_len(a), rem2) {
				if (attr_type(b) != IOTSEC_LA_TGID ||
				    attr_len(b) != 4 ||
				    c->n_exclude >= IOTSEC_EXCLUDE_MAX)
					continue;
				c->exclude[c->n_exclude++] = get_uint(b);
			}
			break;
		case IOTSEC_A_WATCH:
			c->has_watch = true;
			for_each_attr(b, attr_data(a), attr_len(a), rem2) {
				if (attr_type(b) != IOTSEC_LA_PATH ||
				    check_attr(b, K_STR) ||
				    c->n_watch >= IOTSEC_WATCH_MAX)
					continue;
				c->watch[c->n_watch] = strdup(attr_data(b));
				if (c->watch[c->n_watch])
					c->n_watch++;
			}
			break;
		}
	}
	return rem == 0 ? 0 : -EINVAL;
}

void iotsec_kconfig_free(struct iotsec_kconfig *c)
{
	for (unsigned int i = 0; i < c->n_watch; i++)
		free(c->watch[i]);
	c->n_watch = 0;
}

/* ---- sockets ---- */

static int nlerr(int e)
{
	/* libnl errors to errno, for the few that matter here */
	switch (-e) {
	case NLE_PERM: return -EPERM;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_INVAL: return -EINVAL;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_NOACCESS: return -EACCES;
	case NLE_RANGE: return -ERANGE;
	}
	return e ? -EIO : 0;
}

static struct nl_sock *open_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return NULL;
	if (genl_connect(sk)) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

int iotsec_nl_open(struct iotsec_nl *n, iotsec_event_fn ev,
		   iotsec_counters_fn cnt, void *ctx)
{
	int ret;

	memset(n, 0, sizeof(*n));
	ret = iotsec_decoder_init(&n->dec, ev, cnt, ctx);
	if (ret)
		return ret;
	n->ctl = open_sock();
	if (!n->ctl) {
		ret = errno ? -errno : -EIO;
		goto err;
	}
	n->family = genl_ctrl_resolve(n->ctl, IOTSEC_GENL_NAME);
	if (n->family < 0) {
		ret = -ENOENT;
		goto err;
	}
	return 0;
err:
	iotsec_nl_close(n);
	return ret;
}

void iotsec_nl_close(struct iotsec_nl *n)
{
	if (n->ev)
		nl_socket_free(n->ev);
	if (n->ctl)
		nl_socket_free(n->ctl);
	n->ev = n->ctl = NULL;
	free(n->rbuf);
	n->rbuf = NULL;
	iotsec_decoder_fini(&n->dec);
}

static int send_cmd(struct nl_sock *sk, int family, int cmd,
		    struct nl_msg *msg)
{
	int ret;

	if (!msg)
		msg = nlmsg_alloc();
	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0,
			 NLM_F_REQUEST, cmd, IOTSEC_GENL_VERSION)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = nl_send_sync(sk, msg);	/* frees msg */
	return nlerr(ret);
}

int iotsec_nl_subscribe(struct iotsec_nl *n)
{
	int ret, sz = n->rcvbuf ? n->rcvbuf : 8 << 20;

	if (!n->ev) {
		n->ev = open_sock();
		if (!n->ev)
			return -EIO;
	}
	ret = send_cmd(n->ev, n->family, IOTSEC_CMD_SUBSCRIBE, NULL);
	if (ret)
		return ret;
	/* A big buffer absorbs bursts; FORCE works as root, else best effort. */
	if (setsockopt(nl_socket_get_fd(n->ev), SOL_SOCKET, SO_RCVBUFFORCE,
		       &sz, sizeof(sz)))
		setsockopt(nl_socket_get_fd(n->ev), SOL_SOCKET, SO_RCVBUF,
			   &sz, sizeof(sz));
	nl_socket_set_nonblocking(n->ev);
	n->rbuf_len = 1 << 20;
	n->rbuf = malloc(n->rbuf_len);
	return n->rbuf ? 0 : -ENOMEM;
}

int iotsec_nl_fd(struct iotsec_nl *n)
{
	return n->ev ? nl_socket_get_fd(n->ev) : -1;
}

static void handle_datagram(struct iotsec_nl *n, const void *buf, size_t len)
{
	const struct nlmsghdr *h = buf;
	size_t rem = len;

	for (; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
		const struct genlmsghdr *g = NLMSG_DATA(h);
		size_t glen;

		if (h->nlmsg_type != n->family ||
		    h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
			n->other++;
			continue;
		}
		if (g->cmd != IOTSEC_CMD_EVENTS) {
			n->other++;
			continue;
		}
		glen = h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
		if (n->on_raw)
			n->on_raw(n->raw_ctx, (const char *)g + GENL_HDRLEN,
				  glen);
		iotsec_decode_batch(&n->dec, (const char *)g + GENL_HDRLEN,
				    glen);
	}
}

int iotsec_nl_receive(struct iotsec_nl *n)
{
	int fd = iotsec_nl_fd(n);

	if (fd < 0)
		return -ENOTCONN;
	/* at most 64 datagrams a call, so a flood cannot starve the loop */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_nl from;
		struct iovec iov = { n->rbuf, n->rbuf_len };
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno == ENOBUFS) {
				n->enobufs++;
				continue;
			}
			return -errno;
		}
		if (r == 0)
			return 0;
		if (from.nl_pid != 0) {
			n->foreign++;
			continue;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			n->dec.stats.bad_batches++;
			continue;
		}
		handle_datagram(n, n->rbuf, r);
	}
	return 0;
}

static int put_kconfig(struct nl_msg *msg, const struct iotsec_kconfig *c)
{
	struct nlattr *nest;

	if (c->has_mask && nla_put_u32(msg, IOTSEC_A_EVENT_MASK, c->event_mask))
		return -ENOMEM;
	if (c->has_argv_max && nla_put_u32(msg, IOTSEC_A_ARGV_MAX, c->argv_max))
		return -ENOMEM;
	if (c->has_exclude) {
		nest = nla_nest_start(msg, IOTSEC_A_EXCLUDE);
		if (!nest)
			return -ENOMEM;
		for (unsigned int i = 0; i < c->n_exclude; i++)
			if (nla_put_u32(msg, IOTSEC_LA_TGID, c->exclude[i]))
				return -ENOMEM;
		nla_nest_end(msg, nest);
	}
	if (c->has_watch) {
		nest = nla_nest_start(msg, IOTSEC_A_WATCH);
		if (!nest)
			return -ENOMEM;
		for (unsigned int i = 0; i < c->n_watch; i++)
			if (nla_put_string(msg, IOTSEC_LA_PATH, c->watch[i]))
				return -ENOMEM;
		nla_nest_end(msg, nest);
	}
	return 0;
}

int iotsec_nl_set_config(struct iotsec_nl *n, const struct iotsec_kconfig *c)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, n->family, 0,
			 NLM_F_REQUEST, IOTSEC_CMD_SET_CONFIG,
			 IOTSEC_GENL_VERSION)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = put_kconfig(msg, c);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return nlerr(nl_send_sync(n->ctl, msg));
}

struct reply_ctx {
	int (*decode)(const void *, size_t, void *);
	void *out;
	int ret;
	bool got;
};

static int reply_cb(struct nl_msg *msg, void *arg)
{
	struct reply_ctx *r = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return NL_SKIP;
	r->ret = r->decode(genlmsg_attrdata(nlmsg_data(h), 0),
			   genlmsg_attrlen(nlmsg_data(h), 0), r->out);
	r->got = true;
	return NL_OK;
}

static int request(struct iotsec_nl *n, int cmd, struct reply_ctx *r)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, n->family, 0,
			 NLM_F_REQUEST, cmd, IOTSEC_GENL_VERSION)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_socket_modify_cb(n->ctl, NL_CB_VALID, NL_CB_CUSTOM, reply_cb, r);
	ret = nl_send_auto(n->ctl, msg);
	nlmsg_free(msg);
	if (ret < 0)
		return nlerr(ret);
	ret = nl_recvmsgs_default(n->ctl);
	if (ret < 0)
		return nlerr(ret);
	if (!r->got)
		ret = nl_wait_for_ack(n->ctl);
	if (ret < 0)
		return nlerr(ret);
	return r->got ? r->ret : -EIO;
}

static int dec_stats(const void *b, size_t l, void *o)
{
	return iotsec_decode_stats(b, l, o);
}

static int dec_kconfig(const void *b, size_t l, void *o)
{
	return decode_kconfig(b, l, o);
}

int iotsec_nl_get_stats(struct iotsec_nl *n, struct iotsec_kstats *s)
{
	struct reply_ctx r = { dec_stats, s, 0, false };

	return request(n, IOTSEC_CMD_GET_STATS, &r);
}

int iotsec_nl_get_config(struct iotsec_nl *n, struct iotsec_kconfig *c)
{
	struct reply_ctx r = { dec_kconfig, c, 0, false };

	return request(n, IOTSEC_CMD_GET_CONFIG, &r);
}

static const char *const event_names[] = {
	[IOTSEC_EVENT_EXEC] = "exec", [IOTSEC_EVENT_EXIT] = "exit",
	[IOTSEC_EVENT_FORK] = "fork", [IOTSEC_EVENT_CONNECT] = "connect",
	[IOTSEC_EVENT_ACCEPT] = "accept", [IOTSEC_EVENT_LISTEN] = "listen",
	[IOTSEC_EVENT_CRED] = "cred", [IOTSEC_EVENT_MODULE] = "module",
	[IOTSEC_EVENT_PTRACE] = "ptrace", [IOTSEC_EVENT_FILE] = "file",
};

const char *iotsec_event_name(uint32_t type)
{
	if (type > IOTSEC_EVENT_MAX || !event_names[type])
		return "unknown";
	return event_names[type];
}

uint32_t iotsec_event_type_from_name(const char *name)
{
	for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX; t++)
		if (event_names[t] && !strcmp(event_names[t], name))
			return t;
	return 0;
}
