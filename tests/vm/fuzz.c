// SPDX-License-Identifier: MIT
/*
 * 10,000 random and mutated messages to the "iotsec" family, as root: the
 * kernel answers every one of them, logs no warning (the lab fails the run
 * on any), is not tainted by a warning or an oops, and the module still
 * answers GET_STATS and unloads afterwards.
 *
 *   seeded PRNG --> templates (every command, valid) --mutate--> family
 *                   random attribute trees ----------------------^
 *
 * IOTSEC_FUZZ_SEED replays a run (the seed is printed), IOTSEC_FUZZ_COUNT
 * changes the number of messages.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-raw.h"

#define TAINT_DIE (1UL << 7)
#define TAINT_WARN (1UL << 9)

static uint64_t rng_state;

/* xorshift64*: small, fast, and the same sequence for the same seed. */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static unsigned long tainted(void)
{
	unsigned long t = ~0UL;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	if (f) {
		if (fscanf(f, "%lu", &t) != 1)
			t = ~0UL;
		fclose(f);
	}
	return t;
}

/* Attribute types worth hitting: the real ones, their neighbours, junk. */
static uint16_t rnd_type(uint16_t max)
{
	uint16_t t;

	switch (below(8)) {
	case 0:
		t = rnd();
		break;
	case 1:
		t = max + below(3);
		break;
	default:
		t = below(max + 1);
		break;
	}
	if (!below(4))
		t |= NLA_F_NESTED;
	return t;
}

static void put_random_payload(struct raw_msg *m, uint16_t type)
{
	static const uint32_t u32s[] = {
		0, 1, 63, 64, 4096, 4097, IOTSEC_EVENT_MASK_ALL, 0xffffffff,
		0x80000000,
	};
	static const char *const strs[] = {
		"/", "/tmp", "/etc/passwd", "", "/nonexistent", "relative",
		"/tmp/../tmp/./", "/proc/self/fd/0",
	};
	unsigned char bytes[300];
	size_t len, i;

	switch (below(5)) {
	case 0:
		raw_put_u32(m, type, u32s[below(9)]);
		break;
	case 1:
		raw_put_str(m, type, strs[below(8)]);
		break;
	default:
		len = below(4) ? below(16) : below(sizeof(bytes));
		for (i = 0; i < len; i++)
			bytes[i] = rnd();
		raw_put(m, type, bytes, len);
		break;
	}
}

/* A random tree of attributes, up to DEPTH nests deep. */
static void put_random_attrs(struct raw_msg *m, int depth, uint16_t max)
{
	int n = below(6), i;

	for (i = 0; i < n && m->len < RAW_MSG_MAX - 1024; i++) {
		uint16_t type = rnd_type(max);

		if (depth > 0 && !below(3)) {
			struct nlattr *nest = raw_nest_start(m, type);

			put_random_attrs(m, depth - 1, IOTSEC_LA_MAX);
			raw_nest_end(m, nest);
		} else {
			put_random_payload(m, type);
		}
	}
}

/* One of the valid requests the family knows. */
static void put_template(struct raw_msg *m, int family, const char *path)
{
	static const int cmds[] = {
		IOTSEC_CMD_SUBSCRIBE, IOTSEC_CMD_UNSUBSCRIBE,
		IOTSEC_CMD_GET_STATS, IOTSEC_CMD_SET_CONFIG,
		IOTSEC_CMD_GET_CONFIG, IOTSEC_CMD_EVENTS,
	};
	struct nlattr *nest;
	int cmd = cmds[below(6)];
	int i, n;

	raw_msg_init(m, family, cmd);
	if (cmd != IOTSEC_CMD_SET_CONFIG)
		return;
	if (below(2))
		raw_put_u32(m, IOTSEC_A_EVENT_MASK,
			    IOTSEC_EVENT_MASK_ALL & (uint32_t)rnd());
	if (below(2))
		raw_put_u32(m, IOTSEC_A_ARGV_MAX, IOTSEC_ARGV_MAX_MIN +
			    below(IOTSEC_ARGV_MAX_MAX - IOTSEC_ARGV_MAX_MIN));
	if (below(2)) {
		nest = raw_nest_start(m, IOTSEC_A_EXCLUDE);
		n = below(IOTSEC_EXCLUDE_MAX + 1);
		for (i = 0; i < n; i++)
			raw_put_u32(m, IOTSEC_LA_TGID, below(100000));
		raw_nest_end(m, nest);
	}
	if (below(2)) {
		nest = raw_nest_start(m, IOTSEC_A_WATCH);
		n = below(4);
		for (i = 0; i < n; i++)
			raw_put_str(m, IOTSEC_LA_PATH, path);
		raw_nest_end(m, nest);
	}
}

/* Damage M in one of several ways; the netlink header stays usable. */
static void mutate(struct raw_msg *m)
{
	size_t body = NLMSG_HDRLEN;
	struct genlmsghdr *g = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
	int n, i;

	switch (below(7)) {
	case 0:		/* flip bits after the netlink header */
		n = 1 + below(8);
		for (i = 0; i < n && m->len > body; i++)
			m->buf[body + below(m->len - body)] ^= 1 << below(8);
		break;
	case 1:		/* cut short */
		if (m->len > body)
			m->len = body + below(m->len - body);
		break;
	case 2:		/* random attributes after the valid ones */
		put_random_attrs(m, 3, IOTSEC_A_MAX);
		break;
	case 3:		/* any command at all */
		g->cmd = rnd();
		put_random_attrs(m, 2, IOTSEC_A_MAX);
		break;
	case 4:		/* overwrite an attribute length */
		if (m->len >= body + GENL_HDRLEN + NLA_HDRLEN) {
			size_t off = body + GENL_HDRLEN;
			uint16_t len = below(3) ? below(64) : rnd();

			off += below(m->len - off - 1) & ~3UL;
			memcpy(m->buf + off, &len, sizeof(len));
		}
		break;
	case 5:		/* random bytes appended */
		n = below(64);
		for (i = 0; i < n; i++) {
			unsigned char b = rnd();

			raw_put_bytes(m, &b, 1);
		}
		break;
	default:	/* odd flags and versions */
		m->nlh.nlmsg_flags |= below(2) ? NLM_F_DUMP : (rnd() & 0x0f00);
		g->version = rnd();
		g->reserved = rnd();
		break;
	}
}

FIXTURE(fuzz) {
	struct raw_sock s;
	int family;
	char path[64];
};

FIXTURE_SETUP(fuzz)
{
	int fd;

	self->s.fd = -1;
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, raw_open(&self->s, 0));
	self->family = raw_family(&self->s, IOTSEC_GENL_NAME, NULL);
	ASSERT_LT(0, self->family);
	strcpy(self->path, "/tmp/iotsec-fuzz.XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	close(fd);
}

FIXTURE_TEARDOWN(fuzz)
{
	unlink(self->path);
	raw_close(&self->s);
	EXPECT_EQ(0, iotsec_test_unload());
}

TEST_F_TIMEOUT(fuzz, random_messages, 600)
{
	const char *env = getenv("IOTSEC_FUZZ_SEED");
	const char *cnt = getenv("IOTSEC_FUZZ_COUNT");
	unsigned long taint0 = tainted();
	long count = cnt ? atol(cnt) : 10000;
	long i, ok = 0, refused = 0, timeouts = 0, other = 0;
	struct raw_msg *m = calloc(1, sizeof(*m));
	unsigned char *reply = calloc(1, RAW_MSG_MAX);
	struct raw_sock probe;
	uint64_t seed;
	uint32_t subs;

	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, reply);
	seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^
		 ((uint64_t)getpid() << 32);
	if (!seed)
		seed = 1;
	rng_state = seed;
	/* Printed to stdout as well, so that the TAP log keeps it. */
	printf("# fuzz seed: IOTSEC_FUZZ_SEED=0x%" PRIx64 "\n", seed);
	fflush(stdout);

	for (i = 0; i < count; i++) {
		int ret;

		if (below(8)) {
			put_template(m, self->family, self->path);
			if (below(5))
				mutate(m);
			if (!below(3))
				mutate(m);
		} else {
			raw_msg_init(m, self->family, rnd());
			put_random_attrs(m, 3, IOTSEC_A_MAX);
		}
		m->nlh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
		ret = raw_send(&self->s, m);
		if (!ret)
			ret = raw_wait(&self->s, self->s.seq - 1, NULL, NULL);
		if (ret == 0)
			ok++;
		else if (ret == -ETIMEDOUT)
			timeouts++;
		else if (ret < 0 && ret > -4096)
			refused++;
		else
			other++;
		/* Now and then a new socket: forgotten consumers, new ports. */
		if (i % 1000 == 999) {
			raw_close(&self->s);
			ASSERT_EQ(0, raw_open(&self->s, 0));
		}
	}
	printf("# fuzz: %ld sent, %ld accepted, %ld refused, %ld unanswered, %ld odd\n",
	       count, ok, refused, timeouts, other);
	fflush(stdout);
	EXPECT_EQ(0, timeouts);
	EXPECT_EQ(0, other);
	EXPECT_LT(0, ok);
	EXPECT_LT(0, refused);

	/* The module still answers, on a fresh socket. */
	ASSERT_EQ(0, raw_open(&probe, 0));
	EXPECT_EQ(self->family, raw_family(&probe, IOTSEC_GENL_NAME, NULL));
	EXPECT_EQ(0, raw_stats(&probe, self->family, reply, RAW_MSG_MAX));
	EXPECT_EQ(0, raw_attr_u32((struct nlmsghdr *)reply,
				  IOTSEC_A_SUBSCRIBERS, &subs));
	raw_close(&probe);
	EXPECT_EQ(0UL, tainted() & ~taint0 & (TAINT_DIE | TAINT_WARN));
	free(m);
	free(reply);
}

TEST_HARNESS_MAIN
