// SPDX-License-Identifier: MIT
/*
 * Generic netlink intake: resolve the family, subscribe, receive batches
 * (decoded by decode.c) and the configuration commands.
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
#include "common/clock.h"
#include "intake/nl.h"

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

static struct nl_msg *cmd_msg(int family, int cmd);

void iotsec_nl_close(struct iotsec_nl *n)
{
	struct nl_msg *msg;

	/*
	 * An orderly leave: a subscribed socket that just closes is reported
	 * by the kernel as a tamper event (the consumer went away). The
	 * kernel handles the request within the send: no ack is awaited.
	 */
	if (n->ev && n->rbuf) {
		msg = cmd_msg(n->family, IOTSEC_CMD_UNSUBSCRIBE);
		if (msg) {
			nl_send_auto(n->ev, msg);
			nlmsg_free(msg);
		}
	}
	if (n->ev)
		nl_socket_free(n->ev);
	if (n->ctl)
		nl_socket_free(n->ctl);
	n->ev = n->ctl = NULL;
	free(n->rbuf);
	n->rbuf = NULL;
	iotsec_decoder_fini(&n->dec);
}

/*
 * A request for CMD with room for SIZE bytes of attributes (0: libnl's
 * default, a page), ready for them; NULL without memory.
 */
static struct nl_msg *cmd_msg_size(int family, int cmd, size_t size)
{
	struct nl_msg *msg = size ? nlmsg_alloc_size(NLMSG_HDRLEN +
						     GENL_HDRLEN + size)
				  : nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0,
				NLM_F_REQUEST, cmd, IOTSEC_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static struct nl_msg *cmd_msg(int family, int cmd)
{
	return cmd_msg_size(family, cmd, 0);
}

int iotsec_nl_subscribe(struct iotsec_nl *n)
{
	struct nl_msg *msg;
	int ret, sz = n->rcvbuf ? n->rcvbuf : 8 << 20;

	if (!n->ev) {
		n->ev = open_sock();
		if (!n->ev)
			return -EIO;
	}
	msg = cmd_msg(n->family, IOTSEC_CMD_SUBSCRIBE);
	if (!msg)
		return -ENOMEM;
	/*
	 * What the kernel stamped before now it recorded while nobody was
	 * subscribed (boot, a restart): marked before_start. Taken before the
	 * request, so a live event is never marked.
	 */
	n->dec.subscribed_ns = boot_ns();
	ret = nlerr(nl_send_sync(n->ev, msg));	/* frees msg */
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
	/* Up to IOTSEC_WATCH_MAX paths do not fit libnl's one page. */
	size_t size = 1024;
	struct nl_msg *msg;
	int ret;

	for (unsigned int i = 0; c->has_watch && i < c->n_watch; i++)
		size += NLA_HDRLEN + NLA_ALIGN(strlen(c->watch[i]) + 1);
	msg = cmd_msg_size(n->family, IOTSEC_CMD_SET_CONFIG, size);

	if (!msg)
		return -ENOMEM;
	ret = put_kconfig(msg, c);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return nlerr(nl_send_sync(n->ctl, msg));
}

struct reply_ctx {
	int cmd;
	void *out;
	int ret;
	bool got;	/* the reply came and was decoded */
	bool done;	/* the kernel's ACK or error came */
	int err;	/* the kernel's error, -errno */
};

static int reply_cb(struct nl_msg *msg, void *arg)
{
	struct reply_ctx *r = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	const void *attrs;
	size_t len;

	if (h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return NL_SKIP;
	attrs = genlmsg_attrdata(nlmsg_data(h), 0);
	len = genlmsg_attrlen(nlmsg_data(h), 0);
	if (r->cmd == IOTSEC_CMD_GET_STATS)
		r->ret = iotsec_decode_stats(attrs, len, r->out);
	else
		r->ret = iotsec_decode_kconfig(attrs, len, r->out);
	r->got = true;
	return NL_OK;
}

static int ack_cb(struct nl_msg *msg, void *arg)
{
	((struct reply_ctx *)arg)->done = true;
	return NL_STOP;
}

static int error_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct reply_ctx *r = arg;

	r->err = e->error < 0 ? e->error : -EIO;
	r->done = true;
	return NL_STOP;
}

/*
 * Send CMD and decode its answer into OUT. The request reads up to the
 * kernel's ACK (or error) with callbacks of its own, on an nl_cb cloned
 * for it and dropped before it returns: nothing of it stays on the
 * control socket, neither a callback pointing at this frame nor the ACK,
 * which the next reader of the socket (the daemon's family check,
 * genl_ctrl_resolve()) would otherwise take for its own answer.
 */
static int request(struct iotsec_nl *n, int cmd, void *out)
{
	struct reply_ctx r = { .cmd = cmd, .out = out };
	struct nl_msg *msg = cmd_msg(n->family, cmd);
	struct nl_cb *cb, *own;
	int ret;

	if (!msg)
		return -ENOMEM;
	/* nl_socket_get_cb() takes a reference: the clone does not keep it */
	own = nl_socket_get_cb(n->ctl);
	cb = nl_cb_clone(own);
	nl_cb_put(own);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, reply_cb, &r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ack_cb, &r);
	nl_cb_err(cb, NL_CB_CUSTOM, error_cb, &r);
	ret = nl_send_auto(n->ctl, msg);	/* asks for an ACK */
	nlmsg_free(msg);
	while (ret >= 0 && !r.done)
		ret = nl_recvmsgs(n->ctl, cb);
	nl_cb_put(cb);
	if (ret < 0)
		return nlerr(ret);
	if (r.err)
		return r.err;
	return r.got ? r.ret : -EIO;
}

int iotsec_nl_get_stats(struct iotsec_nl *n, struct iotsec_kstats *s)
{
	return request(n, IOTSEC_CMD_GET_STATS, s);
}

int iotsec_nl_get_config(struct iotsec_nl *n, struct iotsec_kconfig *c)
{
	return request(n, IOTSEC_CMD_GET_CONFIG, c);
}
