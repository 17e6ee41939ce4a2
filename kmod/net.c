// SPDX-License-Identifier: GPL-2.0
/*
 * Network events: outbound connect (TCP and UDP), accepted connections and
 * listening sockets, IPv4 and IPv6. The hooks sit on the inet socket
 * operations, which every AF_INET and AF_INET6 stream and datagram socket
 * goes through, and report after the call so that the result and the
 * local address the kernel chose are known.
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kprobes.h>
#include <linux/net.h>
#include <linux/ptrace.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "compat.h"
#include "iotsec.h"

struct connect_data {
	struct socket *sock;
	u16 family;
	u16 port;
	u8 addr[16];
};

static bool inet_proto(const struct sock *sk)
{
	return (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) &&
	       (sk->sk_protocol == IPPROTO_TCP ||
		sk->sk_protocol == IPPROTO_UDP);
}

/* The socket's local (or, with REMOTE, its peer's) address into ADDR. */
static void sock_addr(const struct sock *sk, bool remote, u8 *addr)
{
	const struct inet_sock *inet = inet_sk(sk);

	if (sk->sk_family == AF_INET)
		memcpy(addr, remote ? &inet->inet_daddr : &inet->inet_rcv_saddr,
		       4);
#if IS_ENABLED(CONFIG_IPV6)
	else
		memcpy(addr, remote ? &sk->sk_v6_daddr : &sk->sk_v6_rcv_saddr,
		       16);
#endif
}

static void local_addr(const struct sock *sk, struct iotsec_net_fields *n)
{
	n->family = sk->sk_family;
	n->protocol = sk->sk_protocol;
	n->lport = READ_ONCE(inet_sk(sk)->inet_num);
	sock_addr(sk, false, n->laddr);
}

static void remote_addr(const struct sock *sk, struct iotsec_net_fields *n)
{
	n->rport = ntohs(READ_ONCE(inet_sk(sk)->inet_dport));
	sock_addr(sk, true, n->raddr);
}

static int connect_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct connect_data *d = (struct connect_data *)ri->data;
	struct socket *sock = (struct socket *)iotsec_arg(regs, 0);
	const struct sockaddr *sa = (const struct sockaddr *)iotsec_arg(regs, 1);
	int len = (int)iotsec_arg(regs, 2);

	if (!iotsec_want(IOTSEC_EVENT_CONNECT))
		return 1;
	if (!sock || !sock->sk || !inet_proto(sock->sk) || !sa)
		return 1;
	d->sock = sock;
	d->family = sa->sa_family;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const void *)sa;

		d->port = ntohs(sin->sin_port);
		memcpy(d->addr, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 &&
		   len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		d->port = ntohs(sin6->sin6_port);
		memcpy(d->addr, &sin6->sin6_addr, 16);
	} else {
		/* AF_UNSPEC: a datagram socket dissolving its association */
		return 1;
	}
	return 0;
}

static int connect_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct connect_data *d = (struct connect_data *)ri->data;
	struct sock *sk = d->sock->sk;
	struct iotsec_rec *rec;

	if (!sk)
		return 0;
	rec = iotsec_rec_begin(IOTSEC_EVENT_CONNECT, 0);
	if (!rec)
		return 0;
	local_addr(sk, &rec->u.net);
	rec->u.net.family = d->family;
	if (d->family == AF_INET && sk->sk_family == AF_INET6) {
		/* an IPv4 destination on a dual-stack socket */
		memcpy(rec->u.net.laddr, &inet_sk(sk)->inet_saddr, 4);
		memset(rec->u.net.laddr + 4, 0, 12);
	}
	rec->u.net.rport = d->port;
	memcpy(rec->u.net.raddr, d->addr, sizeof(d->addr));
	rec->u.net.has_result = 1;
	rec->u.net.result = (int)regs_return_value(regs);
	iotsec_rec_commit(rec);
	return 0;
}

static int accept_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return iotsec_want(IOTSEC_EVENT_ACCEPT) ? 0 : 1;
}

static int accept_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)regs_return_value(regs);
	struct iotsec_rec *rec;

	if (!sk || IS_ERR(sk) || !inet_proto(sk))
		return 0;
	rec = iotsec_rec_begin(IOTSEC_EVENT_ACCEPT, 0);
	if (!rec)
		return 0;
	local_addr(sk, &rec->u.net);
	remote_addr(sk, &rec->u.net);
	iotsec_rec_commit(rec);
	return 0;
}

static int listen_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct socket **d = (struct socket **)ri->data;
	struct socket *sock = (struct socket *)iotsec_arg(regs, 0);

	if (!iotsec_want(IOTSEC_EVENT_LISTEN))
		return 1;
	if (!sock || !sock->sk || !inet_proto(sock->sk))
		return 1;
	*d = sock;
	return 0;
}

static int listen_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct socket *sock = *(struct socket **)ri->data;
	struct iotsec_rec *rec;

	if (regs_return_value(regs) || !sock->sk)
		return 0;
	rec = iotsec_rec_begin(IOTSEC_EVENT_LISTEN, 0);
	if (!rec)
		return 0;
	local_addr(sock->sk, &rec->u.net);
	iotsec_rec_commit(rec);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KRETPROBE("inet_stream_connect", IOTSEC_EVENT_CONNECT,
			 connect_entry, connect_ret,
			 sizeof(struct connect_data)),
	IOTSEC_KRETPROBE("inet_dgram_connect", IOTSEC_EVENT_CONNECT,
			 connect_entry, connect_ret,
			 sizeof(struct connect_data)),
	IOTSEC_KRETPROBE("inet_csk_accept", IOTSEC_EVENT_ACCEPT,
			 accept_entry, accept_ret, 0),
	IOTSEC_KRETPROBE("inet_listen", IOTSEC_EVENT_LISTEN,
			 listen_entry, listen_ret, sizeof(struct socket *)),
};

struct iotsec_hook_set iotsec_net_hooks = { hooks, ARRAY_SIZE(hooks) };
