// SPDX-License-Identifier: MIT
/*
 * A small consumer of the "iotsec" family for tests and benchmarks.
 *
 *   iotsec-consume [--mask all|default|HEX] [--persist]
 *	subscribe and drain event batches until SIGTERM/SIGINT, then print
 *	"batches=N events=N bytes=N enobufs=N subscribes=N config=ok|-errno";
 *	with --persist, follow the module through unload and reload: when
 *	the family goes away or comes back, resolve it again and subscribe
 *	again (one poll every 100 ms while nothing arrives)
 *   iotsec-consume --stats [--hooks]
 *	print GET_STATS as "subscribers=N memory=N buffer_events=N"; with
 *	--hooks, then one line per hook whose handlers ran while the module
 *	timed them (insmod ... timing=1):
 *	"hook=NAME type=N calls=N ns=N ns_per_call=N"
 *   iotsec-consume --wait-subscribers N [--timeout SEC]
 *	poll GET_STATS until the family has N subscribers (status 0) or the
 *	time is up (status 1)
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lib/iotsec-raw.h"
#include "lib/tool.h"

/* The IOTSEC_A_HOOKS lines of a GET_STATS reply (hooks that ran). */
static void print_hooks(const struct nlmsghdr *nlh)
{
	struct nlattr *all = raw_attr(nlh, IOTSEC_A_HOOKS);
	unsigned char *p, *end;

	if (!all)
		return;
	p = raw_attr_data(all);
	end = (unsigned char *)all + all->nla_len;
	while (p + NLA_HDRLEN <= end) {
		struct nlattr *one = (struct nlattr *)p;
		unsigned char *q = raw_attr_data(one), *qend = p + one->nla_len;
		uint64_t calls = 0, ns = 0;
		uint32_t type = 0;
		const char *name = "";

		if (one->nla_len < NLA_HDRLEN)
			break;
		while (q + NLA_HDRLEN <= qend) {
			struct nlattr *a = (struct nlattr *)q;
			void *d = raw_attr_data(a);

			if (a->nla_len < NLA_HDRLEN)
				break;
			switch (a->nla_type & NLA_TYPE_MASK) {
			case IOTSEC_HA_NAME:
				name = d;
				break;
			case IOTSEC_HA_TYPE:
				memcpy(&type, d, sizeof(type));
				break;
			case IOTSEC_HA_CALLS:
				memcpy(&calls, d, sizeof(calls));
				break;
			case IOTSEC_HA_NS:
				memcpy(&ns, d, sizeof(ns));
				break;
			}
			q += NLA_ALIGN(a->nla_len);
		}
		if (calls)
			printf("hook=%s type=%u calls=%" PRIu64 " ns=%" PRIu64
			       " ns_per_call=%" PRIu64 "\n", name, type, calls,
			       ns, ns / calls);
		p += NLA_ALIGN(one->nla_len);
	}
}

static int stats(int wait_subs, double timeout, int hooks)
{
	static unsigned char reply[RAW_MSG_MAX];
	struct nlmsghdr *nlh = (struct nlmsghdr *)reply;
	double end = now() + timeout;
	struct raw_sock s;
	uint32_t subs = 0, bufev = 0;
	uint64_t mem = 0;
	int family, ret;

	for (;;) {
		ret = raw_open(&s, 0);
		if (ret)
			return 1;
		family = raw_family(&s, IOTSEC_GENL_NAME, NULL);
		ret = family > 0 ? raw_stats(&s, family, reply, sizeof(reply)) :
				   family;
		raw_close(&s);
		if (!ret)
			raw_attr_u32(nlh, IOTSEC_A_SUBSCRIBERS, &subs);
		if (wait_subs < 0 || (!ret && (int)subs == wait_subs) ||
		    now() > end)
			break;
		usleep(20000);
	}
	if (ret) {
		fprintf(stderr, "iotsec-consume: GET_STATS: %s\n",
			strerror(-ret));
		return 1;
	}
	raw_attr_u64(nlh, IOTSEC_A_MEMORY, &mem);
	raw_attr_u32(nlh, IOTSEC_A_BUFFER_EVENTS, &bufev);
	printf("subscribers=%u memory=%" PRIu64 " buffer_events=%u\n", subs,
	       mem, bufev);
	if (hooks)
		print_hooks(nlh);
	return wait_subs < 0 || (int)subs == wait_subs ? 0 : 1;
}

struct consumer {
	struct raw_sock s;
	int family;
	uint32_t sub_seq;
	long mask;
	int config;
	unsigned long batches, events, bytes, enobufs, subscribes;
};

/* Resolve the family, configure and subscribe; acks come in drain(). */
static int subscribe(struct consumer *c)
{
	struct raw_msg *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	/* A fresh socket: nothing of an old family's traffic is left. */
	raw_close(&c->s);
	ret = raw_open(&c->s, 0);
	if (ret)
		goto out;
	c->family = raw_family(&c->s, IOTSEC_GENL_NAME, NULL);
	ret = c->family;
	if (ret <= 0)
		goto out;
	if (c->mask >= 0) {
		raw_msg_init(m, c->family, IOTSEC_CMD_SET_CONFIG);
		raw_put_u32(m, IOTSEC_A_EVENT_MASK, c->mask);
		c->config = raw_request(&c->s, m, NULL, 0);
		if (c->config)
			fprintf(stderr, "iotsec-consume: SET_CONFIG: %s\n",
				strerror(-c->config));
	}
	raw_msg_init(m, c->family, IOTSEC_CMD_SUBSCRIBE);
	ret = raw_request(&c->s, m, NULL, 0);
	if (!ret)
		c->subscribes++;
out:
	free(m);
	return ret > 0 ? 0 : ret;
}

static void count_batch(struct consumer *c, const struct nlmsghdr *nlh)
{
	struct nlattr *events = raw_attr(nlh, IOTSEC_A_EVENTS);
	unsigned char *p, *end;

	c->batches++;
	c->bytes += nlh->nlmsg_len;
	if (!events)
		return;
	p = raw_attr_data(events);
	end = (unsigned char *)events + events->nla_len;
	while (p + NLA_HDRLEN <= end) {
		struct nlattr *e = (struct nlattr *)p;

		if (e->nla_len < NLA_HDRLEN)
			break;
		c->events++;
		p += NLA_ALIGN(e->nla_len);
	}
}

/*
 * Receive until there is nothing for a while: 0, or -ETIMEDOUT when no
 * batch came within the poll interval.
 */
static int drain(struct consumer *c)
{
	static unsigned char buf[RAW_MSG_MAX];
	struct timeval tv = { .tv_usec = 100000 };

	setsockopt(c->s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!stop) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		struct nlmsghdr *nlh;
		ssize_t n;

		n = recvfrom(c->s.fd, buf, sizeof(buf), 0,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == ENOBUFS) {
				c->enobufs++;
				continue;
			}
			if (errno == EINTR)
				continue;
			return -ETIMEDOUT;
		}
		if (from.nl_pid != 0)
			continue;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, n);
		     nlh = NLMSG_NEXT(nlh, n))
			if (nlh->nlmsg_type == c->family)
				count_batch(c, nlh);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mask", required_argument, NULL, 'm' },
		{ "persist", no_argument, NULL, 'p' },
		{ "stats", no_argument, NULL, 's' },
		{ "hooks", no_argument, NULL, 'h' },
		{ "wait-subscribers", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct consumer c = { .s.fd = -1, .mask = -1, .config = 1 };
	int persist = 0, wait_subs = -2, hooks = 0, opt;
	double timeout = 10;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (!strcmp(optarg, "all"))
				c.mask = IOTSEC_EVENT_MASK_ALL;
			else if (!strcmp(optarg, "default"))
				c.mask = IOTSEC_EVENT_MASK_DEFAULT;
			else
				c.mask = strtol(optarg, NULL, 16);
			break;
		case 'p':
			persist = 1;
			break;
		case 's':
			wait_subs = -1;
			break;
		case 'h':
			hooks = 1;
			break;
		case 'w':
			wait_subs = atoi(optarg);
			break;
		case 't':
			timeout = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (wait_subs != -2)
		return stats(wait_subs, timeout, hooks);

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (subscribe(&c) && !persist) {
		fprintf(stderr, "iotsec-consume: cannot subscribe\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		/*
		 * Quiet for a poll interval: the module may have gone or come
		 * back; subscribing again is harmless when nothing changed.
		 */
		if (drain(&c) == -ETIMEDOUT && persist && !stop)
			subscribe(&c);
	}
	printf("batches=%lu events=%lu bytes=%lu enobufs=%lu subscribes=%lu config=%d\n",
	       c.batches, c.events, c.bytes, c.enobufs, c.subscribes, c.config);
	raw_close(&c.s);
	return 0;
}
