/* SPDX-License-Identifier: MIT */
/*
 * Plain-socket generic netlink for tests and tools that must build any
 * message, well-formed or not, byte by byte: libnl would refuse to send
 * most of what the malformed-input and fuzz tests need.
 *
 *   struct raw_msg m;
 *   raw_msg_init(&m, family, IOTSEC_CMD_SET_CONFIG);
 *   raw_put_u32(&m, IOTSEC_A_EVENT_MASK, mask);
 *   ret = raw_request(&sock, &m, reply, sizeof(reply));   0 or -errno
 */
#ifndef IOTSEC_RAW_H
#define IOTSEC_RAW_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <uapi/iotsec.h>

#define RAW_MSG_MAX 65536

struct raw_sock {
	int fd;
	uint32_t portid;
	uint32_t seq;
};

struct raw_msg {
	size_t len;
	union {
		struct nlmsghdr nlh;
		unsigned char buf[RAW_MSG_MAX];
	};
};

/* A generic netlink socket bound to PORTID (0: the kernel picks one). */
static inline int raw_open(struct raw_sock *s, uint32_t portid)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = portid };
	struct timeval tv = { .tv_sec = 10 };
	socklen_t salen = sizeof(sa);
	int one = 1;

	s->seq = 1;
	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s->fd < 0)
		return -errno;
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(s->fd, (struct sockaddr *)&sa, &salen) ||
	    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		int ret = -errno;

		close(s->fd);
		s->fd = -1;
		return ret;
	}
	/* Extended acks would only make the replies longer. */
	setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	s->portid = sa.nl_pid;
	return 0;
}

static inline void raw_close(struct raw_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static inline void raw_msg_init(struct raw_msg *m, uint16_t type, uint8_t cmd)
{
	struct genlmsghdr *g;

	memset(&m->nlh, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	m->nlh.nlmsg_type = type;
	m->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	g = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
	g->cmd = cmd;
	g->version = IOTSEC_GENL_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

/* Append raw bytes (no alignment): the caller builds anything it likes. */
static inline void *raw_put_bytes(struct raw_msg *m, const void *data,
				  size_t len)
{
	void *p = m->buf + m->len;

	if (m->len + len > sizeof(m->buf))
		return NULL;
	if (data)
		memcpy(p, data, len);
	else
		memset(p, 0, len);
	m->len += len;
	return p;
}

/* An attribute whose header says nla_len = 4 + LEN, padded to 4 bytes. */
static inline struct nlattr *raw_put(struct raw_msg *m, uint16_t type,
				     const void *data, size_t len)
{
	struct nlattr *a;
	size_t pad = NLA_ALIGN(len) - len;

	if (m->len + NLA_HDRLEN + len + pad > sizeof(m->buf))
		return NULL;
	a = raw_put_bytes(m, NULL, NLA_HDRLEN);
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	raw_put_bytes(m, data, len);
	raw_put_bytes(m, NULL, pad);
	return a;
}

static inline struct nlattr *raw_put_u32(struct raw_msg *m, uint16_t type,
					 uint32_t v)
{
	return raw_put(m, type, &v, sizeof(v));
}

static inline struct nlattr *raw_put_str(struct raw_msg *m, uint16_t type,
					 const char *s)
{
	return raw_put(m, type, s, strlen(s) + 1);
}

static inline struct nlattr *raw_nest_start(struct raw_msg *m, uint16_t type)
{
	return raw_put(m, type | NLA_F_NESTED, NULL, 0);
}

static inline void raw_nest_end(struct raw_msg *m, struct nlattr *nest)
{
	nest->nla_len = m->buf + m->len - (unsigned char *)nest;
}

static inline int raw_send(struct raw_sock *s, struct raw_msg *m)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	m->nlh.nlmsg_len = m->len;
	m->nlh.nlmsg_seq = s->seq++;
	m->nlh.nlmsg_pid = s->portid;
	if (sendto(s->fd, m->buf, m->len, 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/*
 * Wait for the kernel's answer to the message with sequence number SEQ:
 * the ack's error (0 or -errno), with the last non-error reply (if any)
 * copied to REPLY. Messages for other sequence numbers are skipped, and so
 * is anything not sent by the kernel.
 */
static inline int raw_wait(struct raw_sock *s, uint32_t seq, void *reply,
			   size_t *replylen)
{
	static unsigned char buf[RAW_MSG_MAX];

	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		struct nlmsghdr *nlh;
		ssize_t n;

		n = recvfrom(s->fd, buf, sizeof(buf), 0,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			return -errno == -EAGAIN ? -ETIMEDOUT : -errno;
		}
		if (from.nl_pid != 0)
			continue;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nlh);

				return e->error;
			}
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (reply && replylen) {
				size_t l = nlh->nlmsg_len;

				if (l > *replylen)
					l = *replylen;
				memcpy(reply, nlh, l);
				*replylen = l;
			}
		}
	}
}

/* Send M asking for an ack; 0 or -errno. REPLY may be NULL. */
static inline int raw_request(struct raw_sock *s, struct raw_msg *m,
			      void *reply, size_t replysize)
{
	size_t len = replysize;
	int ret;

	m->nlh.nlmsg_flags |= NLM_F_ACK;
	ret = raw_send(s, m);
	if (ret)
		return ret;
	return raw_wait(s, s->seq - 1, reply, &len);
}

/* The first attribute of TYPE in the genl message NLH, or NULL. */
static inline struct nlattr *raw_attr(const struct nlmsghdr *nlh,
				      uint16_t type)
{
	const unsigned char *p = (const unsigned char *)nlh + NLMSG_HDRLEN +
				 GENL_HDRLEN;
	const unsigned char *end = (const unsigned char *)nlh + nlh->nlmsg_len;

	while (p + NLA_HDRLEN <= end) {
		struct nlattr *a = (struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		p += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

static inline void *raw_attr_data(struct nlattr *a)
{
	return (unsigned char *)a + NLA_HDRLEN;
}

static inline int raw_attr_u32(const struct nlmsghdr *nlh, uint16_t type,
			       uint32_t *v)
{
	struct nlattr *a = raw_attr(nlh, type);

	if (!a || a->nla_len != NLA_HDRLEN + sizeof(*v))
		return -1;
	memcpy(v, raw_attr_data(a), sizeof(*v));
	return 0;
}

static inline int raw_attr_u64(const struct nlmsghdr *nlh, uint16_t type,
			       uint64_t *v)
{
	struct nlattr *a = raw_attr(nlh, type);

	if (!a || a->nla_len != NLA_HDRLEN + sizeof(*v))
		return -1;
	memcpy(v, raw_attr_data(a), sizeof(*v));
	return 0;
}

/*
 * Ask the generic netlink controller about family NAME: its id (> 0) or
 * -errno; the number of its multicast groups in *NGROUPS when asked.
 */
static inline int raw_family(struct raw_sock *s, const char *name,
			     int *ngroups)
{
	unsigned char reply[8192];
	struct nlmsghdr *nlh = (struct nlmsghdr *)reply;
	struct raw_msg *m;
	uint32_t id32 = 0;
	struct nlattr *a;
	uint16_t id;
	int ret;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	raw_msg_init(m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
	raw_put_str(m, CTRL_ATTR_FAMILY_NAME, name);
	memset(reply, 0, sizeof(reply));
	ret = raw_request(s, m, reply, sizeof(reply));
	free(m);
	if (ret)
		return ret;
	a = raw_attr(nlh, CTRL_ATTR_FAMILY_ID);
	if (!a || a->nla_len < NLA_HDRLEN + sizeof(id))
		return -EPROTO;
	memcpy(&id, raw_attr_data(a), sizeof(id));
	id32 = id;
	if (ngroups) {
		*ngroups = 0;
		a = raw_attr(nlh, CTRL_ATTR_MCAST_GROUPS);
		if (a) {
			unsigned char *p = raw_attr_data(a);
			unsigned char *end = (unsigned char *)a + a->nla_len;

			while (p + NLA_HDRLEN <= end) {
				struct nlattr *g = (struct nlattr *)p;

				if (g->nla_len < NLA_HDRLEN)
					break;
				(*ngroups)++;
				p += NLA_ALIGN(g->nla_len);
			}
		}
	}
	return (int)id32;
}

/* GET_STATS: 0 with the reply in REPLY, or -errno. */
static inline int raw_stats(struct raw_sock *s, int family, void *reply,
			    size_t size)
{
	struct raw_msg *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	memset(reply, 0, size);
	raw_msg_init(m, family, IOTSEC_CMD_GET_STATS);
	ret = raw_request(s, m, reply, size);
	if (!ret && ((struct nlmsghdr *)reply)->nlmsg_len == 0)
		ret = -ENODATA;
	free(m);
	return ret;
}

/* Send CMD with no attributes; 0 or -errno. */
static inline int raw_cmd(struct raw_sock *s, int family, uint8_t cmd)
{
	struct raw_msg *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	raw_msg_init(m, family, cmd);
	ret = raw_request(s, m, NULL, 0);
	free(m);
	return ret;
}

#endif /* IOTSEC_RAW_H */
