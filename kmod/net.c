// SPDX-License-Identifier: GPL-2.0
/*
 * Network events: outbound connect (TCP and UDP), accepted connections and
 * listening sockets, IPv4 and IPv6.
 *
 * No hook returns through a function that can sleep: a call blocked in a
 * return probe holds one of its few instances, and a user with enough
 * blocked connects or accepts would blind the hook for everybody else.
 * Each event is taken at a point that runs to completion in the acting
 * task, where every field is known:
 *
 *   connect (TCP)  kprobe tcp_connect: the SYN is about to leave, the local
 *                  address and port are chosen. Every active open gets
 *                  there: connect(2), sendto(MSG_FASTOPEN) (which enters
 *                  __inet_stream_connect directly), TCP_FASTOPEN_CONNECT's
 *                  first write, MPTCP subflows. The handshake's outcome is
 *                  not known yet: the fields are kept in an attempt
 *                  (attempt.c) and the event is taken when the syscall
 *                  returns, RESULT its return value; -EINPROGRESS where it
 *                  cannot wait (kernel threads, io_uring, a user with
 *                  too many waiting).
 *   connect (UDP)  return probes on __ip4_datagram_connect and
 *                  __ip6_datagram_connect, which never sleep (the socket
 *                  lock is taken around them by their callers). UDP-Lite
 *                  sockets connect through them too: reported with their
 *                  own protocol (IPPROTO_UDPLITE).
 *   accept         kprobe security_sock_graft: the accepted socket is
 *                  being attached to its new file, after the wait.
 *   listen         return probe on inet_csk_listen_start, which never
 *                  sleeps (inet_listen takes the socket lock around it).
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kprobes.h>
#include <linux/net.h>
#include <linux/ptrace.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "compat.h"
#include "iotsec.h"

struct dgram_data {
	struct sock *sk;
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

/* An IPv6 socket talking to an IPv4 peer (::ffff:a.b.c.d). */
static bool v4_mapped(const struct sock *sk)
{
#if IS_ENABLED(CONFIG_IPV6)
	return sk->sk_family == AF_INET6 &&
	       ipv6_addr_v4mapped(&sk->sk_v6_daddr);
#else
	return false;
#endif
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

/*
 * Both ends of a connected socket. FAMILY is the destination's: an IPv4
 * peer of a dual-stack socket is reported with 4-byte addresses.
 */
static void both_ends(const struct sock *sk, struct iotsec_net_fields *n)
{
	const struct inet_sock *inet = inet_sk(sk);

	local_addr(sk, n);
	remote_addr(sk, n);
	if (v4_mapped(sk)) {
		n->family = AF_INET;
		memcpy(n->laddr, &inet->inet_saddr, 4);
		memset(n->laddr + 4, 0, 12);
		memcpy(n->raddr, &inet->inet_daddr, 4);
		memset(n->raddr + 4, 0, 12);
	}
}

/*
 * The destination a connect of SK asks for, from its user address SA of
 * LEN bytes, as the kernel reads it (an IPv6 address needs
 * SIN6_LEN_RFC2133 bytes, without the scope id): FAMILY, PORT and ADDR
 * (an IPv4-mapped IPv6 address as IPv4, 4 bytes). False for an address
 * the socket cannot connect to, which the kernel refuses before it names
 * any destination (-EAFNOSUPPORT, -EINVAL): an IPv6 address given to an
 * IPv4 socket, an IPv4 one to an IPv6 TCP socket (a UDP one that is not
 * IPV6_V6ONLY takes it as ::ffff:a.b.c.d), a short one. Such a call is
 * not reported.
 */
static bool dest_addr(const struct sock *sk, const struct sockaddr *sa,
		      int len, u16 *family, u16 *port, u8 *addr)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in) &&
	    (sk->sk_family == AF_INET ||
	     (sk->sk_protocol != IPPROTO_TCP && !ipv6_only_sock(sk)))) {
		const struct sockaddr_in *sin = (const void *)sa;

		*family = AF_INET;
		*port = ntohs(sin->sin_port);
		memcpy(addr, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= SIN6_LEN_RFC2133 &&
	    sk->sk_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		*port = ntohs(sin6->sin6_port);
		if (ipv6_addr_v4mapped(&sin6->sin6_addr)) {
			*family = AF_INET;
			memcpy(addr, &sin6->sin6_addr.s6_addr32[3], 4);
			memset(addr + 4, 0, 12);
		} else {
			*family = AF_INET6;
			memcpy(addr, &sin6->sin6_addr, 16);
		}
		return true;
	}
	return false;
}

/*
 * tcp_connect(sk): the socket is hashed, its route and ports are set. The
 * event waits for the syscall's return (attempt.c) for its result.
 */
static int tcp_connect_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)iotsec_arg(regs, 0);
	struct iotsec_net_fields n = { 0 };

	if (!iotsec_want(IOTSEC_EVENT_CONNECT))
		return 0;
	if (!sk || !inet_proto(sk) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	both_ends(sk, &n);
	iotsec_attempt_connect(&n);
	return 0;
}

/* UDP and UDP-Lite, which connects through the same functions. */
static bool udp_proto(const struct sock *sk)
{
	return (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) &&
	       (sk->sk_protocol == IPPROTO_UDP ||
		sk->sk_protocol == IPPROTO_UDPLITE);
}

/*
 * __inet_stream_connect(sock, uaddr, addr_len, flags, is_sendmsg), socket
 * locked: a TCP connect (connect(2), or a Fast Open send) starts. On an
 * unconnected socket its destination is in UADDR: the attempt starts here,
 * so that a refusal before any SYN (no route, no free local port, a cgroup
 * BPF program) is reported with its error; tcp_connect() fills in the
 * rest when the SYN goes. A socket that is not closed (a listening one)
 * is refused with -EISCONN before anything happens: not reported.
 */
static int stream_connect_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct socket *sock = (struct socket *)iotsec_arg(regs, 0);
	const struct sockaddr *sa = (const struct sockaddr *)iotsec_arg(regs, 1);
	int len = (int)iotsec_arg(regs, 2);
	struct iotsec_net_fields n = { 0 };
	struct sock *sk;

	if (!iotsec_want(IOTSEC_EVENT_CONNECT))
		return 0;
	if (!sock || !sa || READ_ONCE(sock->state) != SS_UNCONNECTED)
		return 0;
	sk = sock->sk;
	if (!sk || !inet_proto(sk) || sk->sk_protocol != IPPROTO_TCP ||
	    READ_ONCE(sk->sk_state) != TCP_CLOSE)
		return 0;
	local_addr(sk, &n);
	if (!dest_addr(sk, sa, len, &n.family, &n.rport, n.raddr))
		return 0;
	if (n.family == AF_INET && sk->sk_family == AF_INET6) {
		memcpy(n.laddr, &inet_sk(sk)->inet_saddr, 4);
		memset(n.laddr + 4, 0, 12);
	}
	iotsec_attempt_connect_start(&n);
	return 0;
}

/* __ip{4,6}_datagram_connect(sk, uaddr, addr_len) */
static int dgram_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dgram_data *d = (struct dgram_data *)ri->data;
	struct sock *sk = (struct sock *)iotsec_arg(regs, 0);
	const struct sockaddr *sa = (const struct sockaddr *)iotsec_arg(regs, 1);
	int len = (int)iotsec_arg(regs, 2);

	if (!iotsec_want(IOTSEC_EVENT_CONNECT))
		return 1;
	if (!sk || !udp_proto(sk) || !sa)
		return 1;
	d->sk = sk;
	return dest_addr(sk, sa, len, &d->family, &d->port, d->addr) ? 0 : 1;
}

/*
 * __ip6_datagram_connect() hands an IPv4 peer to __ip4_datagram_connect():
 * that inner call on an IPv6 socket is left to the outer one.
 */
static int dgram4_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)iotsec_arg(regs, 0);

	if (!sk || sk->sk_family != AF_INET)
		return 1;
	return dgram_entry(ri, regs);
}

static int dgram_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct dgram_data *d = (struct dgram_data *)ri->data;
	struct sock *sk = d->sk;
	struct iotsec_rec *rec;

	rec = iotsec_rec_begin(IOTSEC_EVENT_CONNECT, 0);
	if (!rec)
		return 0;
	local_addr(sk, &rec->u.net);
	rec->u.net.family = d->family;
	if (d->family == AF_INET && sk->sk_family == AF_INET6) {
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

/*
 * security_sock_graft(sk, parent): accept attaches the new connection to
 * its socket, in the accepting task once it has its connection. Other
 * families (unix, sctp, ...) graft too; they are not ours.
 */
static int graft_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)iotsec_arg(regs, 0);
	struct iotsec_rec *rec;

	if (!iotsec_want(IOTSEC_EVENT_ACCEPT))
		return 0;
	/*
	 * An MPTCP connection is grafted as its MPTCP socket, whose addresses
	 * are its first subflow's: reported as the TCP it is on the wire.
	 */
	if (!sk || (sk->sk_family != AF_INET && sk->sk_family != AF_INET6) ||
	    (sk->sk_protocol != IPPROTO_TCP &&
	     sk->sk_protocol != IPPROTO_MPTCP) ||
	    READ_ONCE(sk->sk_state) == TCP_LISTEN)
		return 0;
	rec = iotsec_rec_begin(IOTSEC_EVENT_ACCEPT, 0);
	if (!rec)
		return 0;
	local_addr(sk, &rec->u.net);
	remote_addr(sk, &rec->u.net);
	rec->u.net.protocol = IPPROTO_TCP;
	iotsec_rec_commit(rec);
	return 0;
}

/* inet_csk_listen_start(sk): 0 once the socket listens on its port. */
static int listen_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock **d = (struct sock **)ri->data;
	struct sock *sk = (struct sock *)iotsec_arg(regs, 0);

	if (!iotsec_want(IOTSEC_EVENT_LISTEN))
		return 1;
	if (!sk || !inet_proto(sk))
		return 1;
	*d = sk;
	return 0;
}

static int listen_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = *(struct sock **)ri->data;
	struct iotsec_rec *rec;

	if (regs_return_value(regs))
		return 0;
	rec = iotsec_rec_begin(IOTSEC_EVENT_LISTEN, 0);
	if (!rec)
		return 0;
	local_addr(sk, &rec->u.net);
	iotsec_rec_commit(rec);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("tcp_connect", IOTSEC_EVENT_CONNECT, tcp_connect_pre),
	/*
	 * A helper: a miss loses no event (tcp_connect() reports a connect
	 * that sends its SYN), and where it cannot be placed only refusals
	 * before a SYN go unseen, so it is neither charged nor "missing".
	 */
	{ .type = IOTSEC_EVENT_CONNECT, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true, .helper = true,
	  .kp = { .symbol_name = "__inet_stream_connect",
		  .pre_handler = stream_connect_pre } },
	IOTSEC_KRETPROBE("__ip4_datagram_connect", IOTSEC_EVENT_CONNECT,
			 dgram4_entry, dgram_ret, sizeof(struct dgram_data)),
#if IS_ENABLED(CONFIG_IPV6)
	/* in the ipv6 module where IPv6 is modular: optional */
	{ .type = IOTSEC_EVENT_CONNECT, .kind = IOTSEC_HOOK_KRETPROBE,
	  .optional = true,
	  .rp = { .kp.symbol_name = "__ip6_datagram_connect",
		  .entry_handler = dgram_entry, .handler = dgram_ret,
		  .data_size = sizeof(struct dgram_data) } },
#endif
	IOTSEC_KPROBE("security_sock_graft", IOTSEC_EVENT_ACCEPT, graft_pre),
	IOTSEC_KRETPROBE("inet_csk_listen_start", IOTSEC_EVENT_LISTEN,
			 listen_entry, listen_ret, sizeof(struct sock *)),
};

struct iotsec_hook_set iotsec_net_hooks = { hooks, ARRAY_SIZE(hooks) };
