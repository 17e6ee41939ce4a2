// SPDX-License-Identifier: MIT
/*
 * Malformed input: every command of the family, sent by root over a plain
 * generic netlink socket with missing, oversized, wrong-typed, unknown and
 * nested-garbage attributes, is refused with an error, and a refused
 * request changes nothing. Each group of cases starts with the valid form
 * of the same request succeeding, so that an error everywhere (a command
 * that is not implemented) cannot pass for validation.
 *
 *   test (root) --raw genl--> "iotsec" --ack: 0 or -errno--> test
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-raw.h"

/*
 * A refusal: an error, and not the one that says the command does not
 * exist (which proves nothing about validation) nor EPERM (we are root).
 */
#define EXPECT_REFUSED(ret) do {					\
	int __r = (ret);						\
	EXPECT_GT(0, __r);						\
	EXPECT_NE(-EOPNOTSUPP, __r);					\
	EXPECT_NE(-EPERM, __r);						\
	if (__r >= 0 || __r == -EOPNOTSUPP || __r == -EPERM)		\
		TH_LOG("%s:%d: got %d (%s)", __FILE__, __LINE__, __r,	\
		       __r < 0 ? strerror(-__r) : "success");		\
} while (0)

static const int attr_cmds[] = {
	IOTSEC_CMD_SUBSCRIBE, IOTSEC_CMD_UNSUBSCRIBE, IOTSEC_CMD_GET_STATS,
	IOTSEC_CMD_SET_CONFIG, IOTSEC_CMD_GET_CONFIG,
};
#define N_CMDS (sizeof(attr_cmds) / sizeof(attr_cmds[0]))

FIXTURE(nl) {
	struct raw_sock s;
	int family;
	struct raw_msg *m;
	unsigned char *reply;
	char watched[64];
};

FIXTURE_SETUP(nl)
{
	int fd;

	self->s.fd = -1;
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, raw_open(&self->s, 0));
	self->family = raw_family(&self->s, IOTSEC_GENL_NAME, NULL);
	ASSERT_LT(0, self->family);
	self->m = calloc(1, sizeof(*self->m));
	self->reply = calloc(1, RAW_MSG_MAX);
	ASSERT_NE(NULL, self->m);
	ASSERT_NE(NULL, self->reply);
	strcpy(self->watched, "/tmp/iotsec-malformed.XXXXXX");
	fd = mkstemp(self->watched);
	ASSERT_LE(0, fd);
	close(fd);
}

FIXTURE_TEARDOWN(nl)
{
	unlink(self->watched);
	raw_close(&self->s);
	free(self->m);
	free(self->reply);
	EXPECT_EQ(0, iotsec_test_unload());
}

static int request(FIXTURE_DATA(nl) *self)
{
	memset(self->reply, 0, RAW_MSG_MAX);
	return raw_request(&self->s, self->m, self->reply, RAW_MSG_MAX);
}

static void start(FIXTURE_DATA(nl) *self, int cmd)
{
	raw_msg_init(self->m, self->family, cmd);
}

/* GET_CONFIG's event mask and argv limit; -errno when it fails. */
static int get_config(FIXTURE_DATA(nl) *self, uint32_t *mask,
		      uint32_t *argv_max)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)self->reply;
	int ret;

	start(self, IOTSEC_CMD_GET_CONFIG);
	ret = request(self);
	if (ret)
		return ret;
	if (raw_attr_u32(nlh, IOTSEC_A_EVENT_MASK, mask) ||
	    raw_attr_u32(nlh, IOTSEC_A_ARGV_MAX, argv_max))
		return -ENODATA;
	return 0;
}

static int set_u32(FIXTURE_DATA(nl) *self, int attr, uint32_t v)
{
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_u32(self->m, attr, v);
	return request(self);
}

static int subscribers(FIXTURE_DATA(nl) *self)
{
	uint32_t n;

	if (raw_stats(&self->s, self->family, self->reply, RAW_MSG_MAX) ||
	    raw_attr_u32((struct nlmsghdr *)self->reply, IOTSEC_A_SUBSCRIBERS,
			 &n))
		return -1;
	return n;
}

TEST_F(nl, valid_requests_succeed)
{
	uint32_t mask, argv_max;

	EXPECT_EQ(0, subscribers(self));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ((uint32_t)IOTSEC_EVENT_MASK_DEFAULT, mask);
	EXPECT_EQ((uint32_t)IOTSEC_ARGV_MAX_DEFAULT, argv_max);
	EXPECT_EQ(0, raw_cmd(&self->s, self->family, IOTSEC_CMD_SUBSCRIBE));
	EXPECT_EQ(1, subscribers(self));
	EXPECT_EQ(0, raw_cmd(&self->s, self->family, IOTSEC_CMD_UNSUBSCRIBE));
	EXPECT_EQ(0, subscribers(self));
}

TEST_F(nl, valid_config_applies)
{
	uint32_t mask = 0, argv_max = 0;
	struct nlattr *nest;
	int i;

	EXPECT_EQ(0, set_u32(self, IOTSEC_A_EVENT_MASK, IOTSEC_EVENT_MASK_ALL));
	EXPECT_EQ(0, set_u32(self, IOTSEC_A_ARGV_MAX, IOTSEC_ARGV_MAX_MIN));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ((uint32_t)IOTSEC_EVENT_MASK_ALL, mask);
	EXPECT_EQ((uint32_t)IOTSEC_ARGV_MAX_MIN, argv_max);
	EXPECT_EQ(0, set_u32(self, IOTSEC_A_ARGV_MAX, IOTSEC_ARGV_MAX_MAX));
	EXPECT_EQ(0, set_u32(self, IOTSEC_A_EVENT_MASK, 0));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ(0U, mask);
	EXPECT_EQ((uint32_t)IOTSEC_ARGV_MAX_MAX, argv_max);

	/* The longest exclude list, and an empty one. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	for (i = 0; i < IOTSEC_EXCLUDE_MAX; i++)
		raw_put_u32(self->m, IOTSEC_LA_TGID, 1000 + i);
	raw_nest_end(self->m, nest);
	EXPECT_EQ(0, request(self));
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	raw_nest_end(self->m, nest);
	EXPECT_EQ(0, request(self));

	/* A watched path that exists, then none. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, IOTSEC_LA_PATH, self->watched);
	raw_nest_end(self->m, nest);
	EXPECT_EQ(0, request(self));
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_nest_end(self->m, nest);
	EXPECT_EQ(0, request(self));
}

TEST_F(nl, unknown_attributes_refused_by_every_command)
{
	static const uint16_t types[] = {
		IOTSEC_A_UNSPEC, __IOTSEC_A_MAX, 200, 0x3fff,
		__IOTSEC_A_MAX | NLA_F_NESTED,
	};
	static char big[60000];
	size_t c, t;

	for (c = 0; c < N_CMDS; c++) {
		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			start(self, attr_cmds[c]);
			raw_put_u32(self->m, types[t], 1);
			EXPECT_REFUSED(request(self));
		}
		/* Oversized: one attribute of almost 64 KiB. */
		start(self, attr_cmds[c]);
		raw_put(self->m, __IOTSEC_A_MAX, big, sizeof(big));
		EXPECT_REFUSED(request(self));
		/* An attribute only the kernel sends. */
		start(self, attr_cmds[c]);
		raw_put_u32(self->m, IOTSEC_A_SUBSCRIBERS, 1);
		EXPECT_REFUSED(request(self));
	}
	/* A refused SUBSCRIBE subscribed nobody. */
	EXPECT_EQ(0, subscribers(self));
}

TEST_F(nl, wrong_length_u32_refused)
{
	static const unsigned char bytes[64];
	static const size_t lens[] = { 0, 1, 2, 3, 5, 8, 64 };
	static const int attrs[] = { IOTSEC_A_EVENT_MASK, IOTSEC_A_ARGV_MAX };
	uint32_t mask = 0, argv_max = 0;
	size_t c, a, l;

	EXPECT_EQ(0, set_u32(self, IOTSEC_A_ARGV_MAX, 100));
	for (c = 0; c < N_CMDS; c++)
		for (a = 0; a < 2; a++)
			for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				start(self, attr_cmds[c]);
				raw_put(self->m, attrs[a], bytes, lens[l]);
				EXPECT_REFUSED(request(self));
			}
	/* The wrong type altogether: a string, a nest. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_str(self->m, IOTSEC_A_ARGV_MAX, "128");
	EXPECT_REFUSED(request(self));
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_nest_end(self->m, raw_nest_start(self->m, IOTSEC_A_EVENT_MASK));
	EXPECT_REFUSED(request(self));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ((uint32_t)IOTSEC_EVENT_MASK_DEFAULT, mask);
	EXPECT_EQ(100U, argv_max);
}

/*
 * Bits of types the module does not know (bit 0, a newer header's types)
 * are not refused, so that a newer consumer's IOTSEC_EVENT_MASK_ALL works
 * with this module: they are ignored, and GET_CONFIG shows the mask in
 * effect.
 */
TEST_F(nl, event_mask_unknown_bits_ignored)
{
	static const uint32_t unknown[] = {
		IOTSEC_EVENT_BIT(IOTSEC_EVENT_UNSPEC),
		IOTSEC_EVENT_BIT(__IOTSEC_EVENT_MAX),
		1U << 31,
	};
	uint32_t mask = 0, argv_max = 0;
	size_t i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		EXPECT_EQ(0, set_u32(self, IOTSEC_A_EVENT_MASK,
				     IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC) |
				     unknown[i]));
		EXPECT_EQ(0, get_config(self, &mask, &argv_max));
		EXPECT_EQ((uint32_t)IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC), mask);
	}
	EXPECT_EQ(0, set_u32(self, IOTSEC_A_EVENT_MASK, 0xffffffff));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ((uint32_t)IOTSEC_EVENT_MASK_ALL, mask);
}

TEST_F(nl, argv_max_out_of_range_refused)
{
	static const uint32_t bad[] = {
		0, 1, IOTSEC_ARGV_MAX_MIN - 1, IOTSEC_ARGV_MAX_MAX + 1,
		0x7fffffff, 0xffffffff,
	};
	uint32_t mask = 0, argv_max = 0;
	size_t i;

	EXPECT_EQ(0, set_u32(self, IOTSEC_A_ARGV_MAX, 200));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_REFUSED(set_u32(self, IOTSEC_A_ARGV_MAX, bad[i]));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ(200U, argv_max);
}

TEST_F(nl, watch_path_invalid_refused)
{
	char *longpath = malloc(IOTSEC_PATH_MAX + 100);
	struct nlattr *nest;
	int i;

	ASSERT_NE(NULL, longpath);
	/* Valid first. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, IOTSEC_LA_PATH, self->watched);
	raw_nest_end(self->m, nest);
	EXPECT_EQ(0, request(self));

	/* Missing: the contract says ENOENT. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, IOTSEC_LA_PATH, "/nonexistent/iotsec/file");
	raw_nest_end(self->m, nest);
	EXPECT_EQ(-ENOENT, request(self));

	/* Too long: longer than IOTSEC_PATH_MAX with its NUL. */
	memset(longpath, 'a', IOTSEC_PATH_MAX + 10);
	longpath[0] = '/';
	longpath[IOTSEC_PATH_MAX + 10] = '\0';
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, IOTSEC_LA_PATH, longpath);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	/* Not NUL-terminated: the existing path's bytes without the NUL. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put(self->m, IOTSEC_LA_PATH, self->watched, strlen(self->watched));
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	/* Empty. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, IOTSEC_LA_PATH, "");
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	/* One path more than IOTSEC_WATCH_MAX. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	for (i = 0; i <= IOTSEC_WATCH_MAX; i++)
		raw_put_str(self->m, IOTSEC_LA_PATH, self->watched);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	/* A tgid where a path belongs, and an unknown item. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_u32(self->m, IOTSEC_LA_TGID, 1);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));
	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, __IOTSEC_LA_MAX, self->watched);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));
	free(longpath);
}

TEST_F(nl, exclude_invalid_refused)
{
	struct nlattr *nest;
	uint64_t v64 = 1;
	uint16_t v16 = 1;
	int i;

	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	raw_put_u32(self->m, IOTSEC_LA_TGID, 1);
	raw_nest_end(self->m, nest);
	EXPECT_EQ(0, request(self));

	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	for (i = 0; i <= IOTSEC_EXCLUDE_MAX; i++)
		raw_put_u32(self->m, IOTSEC_LA_TGID, 1000 + i);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	raw_put_str(self->m, IOTSEC_LA_PATH, self->watched);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	raw_put(self->m, IOTSEC_LA_TGID, &v16, sizeof(v16));
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	raw_put(self->m, IOTSEC_LA_TGID, &v64, sizeof(v64));
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	start(self, IOTSEC_CMD_SET_CONFIG);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	raw_put_u32(self->m, 99, 1);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));

	/* A list given as a plain u32, not a nest. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_u32(self->m, IOTSEC_A_EXCLUDE, 1);
	EXPECT_REFUSED(request(self));
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_str(self->m, IOTSEC_A_WATCH, self->watched);
	EXPECT_REFUSED(request(self));
}

TEST_F(nl, nested_garbage_refused)
{
	static const int lists[] = { IOTSEC_A_EXCLUDE, IOTSEC_A_WATCH };
	unsigned char garbage[37];
	struct nlattr *nest, *inner;
	size_t l;
	int i;

	for (i = 0; i < (int)sizeof(garbage); i++)
		garbage[i] = 0xa5 ^ (i * 37);
	for (l = 0; l < 2; l++) {
		/* Bytes that are no attributes at all. */
		start(self, IOTSEC_CMD_SET_CONFIG);
		raw_put(self->m, lists[l] | NLA_F_NESTED, garbage,
			sizeof(garbage));
		EXPECT_REFUSED(request(self));

		/* An inner attribute longer than its nest. */
		start(self, IOTSEC_CMD_SET_CONFIG);
		nest = raw_nest_start(self->m, lists[l]);
		inner = raw_put_u32(self->m, IOTSEC_LA_TGID, 1);
		raw_nest_end(self->m, nest);
		inner->nla_len = 200;
		EXPECT_REFUSED(request(self));

		/* An inner attribute shorter than its own header. */
		start(self, IOTSEC_CMD_SET_CONFIG);
		nest = raw_nest_start(self->m, lists[l]);
		inner = raw_put_u32(self->m, IOTSEC_LA_TGID, 1);
		raw_nest_end(self->m, nest);
		inner->nla_len = 2;
		EXPECT_REFUSED(request(self));

		/* Nests within the nest. */
		start(self, IOTSEC_CMD_SET_CONFIG);
		nest = raw_nest_start(self->m, lists[l]);
		inner = raw_nest_start(self->m, l ? IOTSEC_LA_PATH :
						    IOTSEC_LA_TGID);
		raw_put_u32(self->m, IOTSEC_LA_TGID, 1);
		raw_nest_end(self->m, inner);
		raw_nest_end(self->m, nest);
		EXPECT_REFUSED(request(self));
	}
	/* Garbage counters/events sent to the kernel. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put(self->m, IOTSEC_A_COUNTERS | NLA_F_NESTED, garbage,
		sizeof(garbage));
	EXPECT_REFUSED(request(self));
}

TEST_F(nl, broken_framing_refused)
{
	struct nlattr *a;

	/* The last attribute runs past the end of the message. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	a = raw_put_u32(self->m, IOTSEC_A_EVENT_MASK, IOTSEC_EVENT_MASK_ALL);
	a->nla_len = 64;
	EXPECT_REFUSED(request(self));

	/* An attribute header shorter than a header. */
	start(self, IOTSEC_CMD_GET_STATS);
	a = raw_put_u32(self->m, IOTSEC_A_EVENT_MASK, 0);
	a->nla_len = 3;
	EXPECT_REFUSED(request(self));

	/* Trailing bytes that are not a whole attribute. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_u32(self->m, IOTSEC_A_ARGV_MAX, 128);
	raw_put_bytes(self->m, "\x01\x02", 2);
	EXPECT_REFUSED(request(self));

	/* Missing: a message too short for the generic netlink header. */
	start(self, IOTSEC_CMD_GET_STATS);
	self->m->len = NLMSG_HDRLEN + 2;
	EXPECT_GT(0, request(self));
}

TEST_F(nl, refused_set_config_changes_nothing)
{
	uint32_t mask = 0, argv_max = 0;
	struct nlattr *nest;

	EXPECT_EQ(0, set_u32(self, IOTSEC_A_EVENT_MASK,
			     IOTSEC_EVENT_BIT(IOTSEC_EVENT_CONNECT)));
	EXPECT_EQ(0, set_u32(self, IOTSEC_A_ARGV_MAX, 300));
	/* Valid mask and argv limit, but a watched path that is missing. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_u32(self->m, IOTSEC_A_EVENT_MASK, IOTSEC_EVENT_MASK_ALL);
	raw_put_u32(self->m, IOTSEC_A_ARGV_MAX, 400);
	nest = raw_nest_start(self->m, IOTSEC_A_WATCH);
	raw_put_str(self->m, IOTSEC_LA_PATH, self->watched);
	raw_put_str(self->m, IOTSEC_LA_PATH, "/nonexistent/iotsec/file");
	raw_nest_end(self->m, nest);
	EXPECT_EQ(-ENOENT, request(self));
	/* Valid mask, too many exclusions. */
	start(self, IOTSEC_CMD_SET_CONFIG);
	raw_put_u32(self->m, IOTSEC_A_EVENT_MASK, IOTSEC_EVENT_MASK_ALL);
	nest = raw_nest_start(self->m, IOTSEC_A_EXCLUDE);
	for (int i = 0; i <= IOTSEC_EXCLUDE_MAX; i++)
		raw_put_u32(self->m, IOTSEC_LA_TGID, 1000 + i);
	raw_nest_end(self->m, nest);
	EXPECT_REFUSED(request(self));
	EXPECT_EQ(0, get_config(self, &mask, &argv_max));
	EXPECT_EQ((uint32_t)IOTSEC_EVENT_BIT(IOTSEC_EVENT_CONNECT), mask);
	EXPECT_EQ(300U, argv_max);
}

TEST_F(nl, events_and_unknown_commands_refused)
{
	static const int cmds[] = {
		IOTSEC_CMD_EVENTS, IOTSEC_CMD_UNSPEC, __IOTSEC_CMD_MAX, 99, 255,
	};
	size_t i;

	EXPECT_EQ(0, raw_cmd(&self->s, self->family, IOTSEC_CMD_GET_STATS));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_GT(0, raw_cmd(&self->s, self->family, cmds[i]));
		/* An EVENTS batch that looks real. */
		start(self, cmds[i]);
		raw_put(self->m, IOTSEC_A_BATCH_SEQ, "\1\0\0\0\0\0\0\0", 8);
		EXPECT_GT(0, request(self));
	}
	/* Even from a subscribed consumer. */
	EXPECT_EQ(0, raw_cmd(&self->s, self->family, IOTSEC_CMD_SUBSCRIBE));
	EXPECT_GT(0, raw_cmd(&self->s, self->family, IOTSEC_CMD_EVENTS));
	EXPECT_EQ(0, raw_cmd(&self->s, self->family, IOTSEC_CMD_UNSUBSCRIBE));
}

TEST_HARNESS_MAIN
