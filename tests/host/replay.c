// SPDX-License-Identifier: MIT
/*
 * The replay format and the netlink decoder behind it: a round trip of
 * every event type through encode -> file -> reader (fed in every chunk
 * size) -> decoder, and what happens to damaged or foreign input.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <fcntl.h>
#include <linux/netlink.h>
#include "intake/decode.h"
#include "intake/replay.h"
#include "host/helpers.h"

#define NEV 12

static struct iotsec_event sample(int i)
{
	static char argv[] = "/bin/sh\0-c\0echo \xff\xfe hi\0";
	struct iotsec_event ev = { 0 };

	ev.type = 1 + i % IOTSEC_EVENT_MAX;
	ev.cpu = i % 2;
	ev.seq = i / 2 + 1;
	ev.time_ns = 1000000ULL * i;
	ev.tgid = 100 + i;
	ev.tid = 200 + i;
	ev.ptgid = 1;
	ev.uid = 1000;
	ev.gid = 1001;
	ev.euid = 0;
	ev.egid = 1002;
	ev.loginuid = 1000;
	ev.sessionid = 3;
	ev.comm = hs("sh");
	ev.cgroup_id = 0x1234567890ULL;
	switch (ev.type) {
	case IOTSEC_EVENT_EXEC:
		ev.exe = hs("/bin/sh");
		ev.argv = (struct ev_str){ argv, sizeof(argv) - 1 };
		ev.cwd = hs("/root");
		ev.argv_truncated = true;
		ev.secure_exec = true;
		break;
	case IOTSEC_EVENT_EXIT:
		ev.exit_code = 3;
		ev.exit_signal = 9;
		break;
	case IOTSEC_EVENT_FORK:
		ev.child_tgid = 555;
		break;
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
	case IOTSEC_EVENT_LISTEN:
		ev.family = i % 3 ? 10 : 2;
		ev.protocol = 6;
		memset(ev.laddr, 0, 16);
		memset(ev.raddr, 0, 16);
		memcpy(ev.laddr, "\x7f\x00\x00\x01", 4);
		ev.lport = 1234;
		if (ev.type != IOTSEC_EVENT_LISTEN) {
			if (ev.family == 10)
				ev.raddr[15] = 1;
			else
				memcpy(ev.raddr, "\x0a\x01\x02\x03", 4);
			ev.rport = 443;
			ev.result = ev.type == IOTSEC_EVENT_CONNECT ? -111 : 0;
		}
		break;
	case IOTSEC_EVENT_CRED:
		ev.old_uid = 1; ev.old_euid = 2; ev.old_gid = 3; ev.old_egid = 4;
		ev.new_uid = 5; ev.new_euid = 6; ev.new_gid = 7; ev.new_egid = 8;
		ev.caps_gained = 1ULL << 21;
		ev.from_exec = true;
		ev.exe = hs("/usr/bin/passwd");
		break;
	case IOTSEC_EVENT_MODULE:
		ev.module_name = hs("evil");
		ev.result = -1;
		break;
	case IOTSEC_EVENT_PTRACE:
		ev.target_tgid = 1;
		ev.ptrace_mode = IOTSEC_PTRACE_SEIZE;
		ev.result = -1;
		break;
	case IOTSEC_EVENT_FILE:
		ev.path = hs("/etc/passwd");
		ev.file_op = IOTSEC_FILE_RENAME;
		ev.new_path = hs("/etc/passwd-");
		break;
	case IOTSEC_EVENT_TAMPER:
		ev.tamper_kind = IOTSEC_TAMPER_CONFIG;
		ev.module_name = hs("iotsec");
		ev.target_tgid = 77;
		ev.signal = 9;
		ev.ptrace_mode = IOTSEC_PTRACE_ATTACH;
		ev.old_mask = 0xffe;
		ev.new_mask = 0xffc;
		ev.unwatched = 2;
		ev.excluded = 1;
		ev.result = -1;
		break;
	}
	return ev;
}

static bool str_eq(struct ev_str a, struct ev_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.s, b.s, a.len));
}

/* Field-by-field: strings by content, the rest by value. */
static bool event_eq(const struct iotsec_event *a, const struct iotsec_event *b)
{
	struct iotsec_event x = *a, y = *b;

#define S(f) if (!str_eq(x.f, y.f)) return false; x.f = y.f = (struct ev_str){ 0 };
	S(comm) S(exe) S(argv) S(cwd) S(module_name) S(path) S(new_path)
	S(user) S(parent_exe) S(container) S(proc_exe) S(proc_cmdline)
#undef S
	return !memcmp(&x, &y, sizeof(x));
}

struct got {
	struct iotsec_event ev[64];
	char store[64][256];
	int n;
	struct iotsec_counters cnt;
	int ncnt;
};

static void keep(struct got *g, struct ev_str *s, int *off)
{
	if (!s->s)
		return;
	memcpy(g->store[g->n] + *off, s->s, s->len);
	s->s = g->store[g->n] + *off;
	*off += s->len;
}

static void on_ev(void *ctx, struct iotsec_event *ev)
{
	struct got *g = ctx;
	int off = 0;

	if (g->n >= 64)
		return;
	g->ev[g->n] = *ev;
	keep(g, &g->ev[g->n].comm, &off);
	keep(g, &g->ev[g->n].exe, &off);
	keep(g, &g->ev[g->n].argv, &off);
	keep(g, &g->ev[g->n].cwd, &off);
	keep(g, &g->ev[g->n].module_name, &off);
	keep(g, &g->ev[g->n].path, &off);
	keep(g, &g->ev[g->n].new_path, &off);
	g->n++;
}

static void on_cnt(void *ctx, const struct iotsec_counters *c)
{
	struct got *g = ctx;

	g->cnt = *c;
	g->ncnt++;
}

static int to_decoder(void *ctx, const void *attrs, size_t len)
{
	return iotsec_decode_batch(ctx, attrs, len) ? -1 : 0;
}

/* A recording of NEV sample events in two batches, with counters. */
static size_t make_file(unsigned char **out)
{
	char path[] = "/tmp/iotsec-replay-XXXXXX";
	int fd = mkstemp(path);
	struct buf b = { 0 };
	off_t len;

	unlink(path);
	replay_write_header(fd, 42);
	for (int batch = 0; batch < 2; batch++) {
		size_t n, c, t;

		buf_reset(&b);
		abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, batch + 1);
		c = abuf_nest_start(&b, IOTSEC_A_COUNTERS);
		t = abuf_nest_start(&b, IOTSEC_EVENT_EXEC);
		abuf_put_u64(&b, IOTSEC_CA_GENERATED, 10 + batch);
		abuf_put_u64(&b, IOTSEC_CA_DROPPED, 1);
		abuf_put_u64(&b, IOTSEC_CA_DELIVERED, 8 + batch);
		abuf_put_u64(&b, IOTSEC_CA_LOST, 1);
		abuf_nest_end(&b, t);
		abuf_nest_end(&b, c);
		n = abuf_nest_start(&b, IOTSEC_A_EVENTS);
		for (int i = batch * NEV / 2; i < (batch + 1) * NEV / 2; i++) {
			struct iotsec_event ev = sample(i);

			iotsec_encode_event(&b, &ev);
		}
		abuf_nest_end(&b, n);
		replay_write_batch(fd, b.p, b.len);
	}
	buf_free(&b);
	len = lseek(fd, 0, SEEK_END);
	*out = malloc(len);
	pread(fd, *out, len, 0);
	close(fd);
	return len;
}

TEST(round_trip_every_chunk_size)
{
	unsigned char *file;
	size_t len = make_file(&file);
	static const size_t chunks[] = { 1, 2, 3, 7, 8, 13, 64, 4096, 1 << 20 };

	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct iotsec_decoder d;
		struct replay_reader r;
		struct got *g = calloc(1, sizeof(*g));

		ASSERT_EQ(0, iotsec_decoder_init(&d, on_ev, on_cnt, g));
		replay_init(&r, to_decoder, &d);
		for (size_t off = 0; off < len; off += chunks[c]) {
			size_t n = len - off < chunks[c] ? len - off : chunks[c];

			ASSERT_EQ(0, replay_feed(&r, file + off, n));
		}
		ASSERT_EQ(0, replay_finish(&r));
		EXPECT_EQ(42, r.boot_to_real_ns);
		EXPECT_EQ(2, r.records);
		ASSERT_EQ(NEV, g->n);
		for (int i = 0; i < NEV; i++) {
			struct iotsec_event want = sample(i);

			EXPECT_TRUE(event_eq(&want, &g->ev[i]))
				TH_LOG("event %d (%s) differs, chunk %zu", i,
				       iotsec_event_name(want.type), chunks[c]);
		}
		EXPECT_EQ(2, g->ncnt);
		EXPECT_EQ(11, g->cnt.t[IOTSEC_EVENT_EXEC].generated);
		EXPECT_EQ(9, g->cnt.t[IOTSEC_EVENT_EXEC].delivered);
		EXPECT_EQ(0, d.stats.batch_gaps);
		EXPECT_EQ(0, d.stats.cpu_seq_gaps);
		EXPECT_EQ(0, d.stats.bad_events);
		replay_free(&r);
		iotsec_decoder_fini(&d);
		free(g);
	}
	free(file);
}

TEST(truncated_and_foreign_files_fail)
{
	unsigned char *file;
	size_t len = make_file(&file);
	struct replay_reader r;

	/* every truncation point but the record boundaries fails */
	uint32_t len1;
	size_t rec1_end;
	int passed = 0, wrong = 0;

	memcpy(&len1, file + REPLAY_HDR_LEN, 4);
	rec1_end = REPLAY_HDR_LEN + 8 + NLA_ALIGN(len1);
	for (size_t cut = 0; cut < len; cut++) {
		bool boundary = cut == REPLAY_HDR_LEN || cut == rec1_end;
		int ret;

		replay_init(&r, NULL, NULL);
		replay_feed(&r, file, cut);
		ret = replay_finish(&r);
		if (ret == 0)
			passed++;
		if ((ret == 0) != boundary)
			wrong++;
		replay_free(&r);
	}
	EXPECT_EQ(2, passed);
	EXPECT_EQ(0, wrong);
	file[0] = 'X';
	replay_init(&r, NULL, NULL);
	EXPECT_EQ(-EINVAL, replay_feed(&r, file, len));
	EXPECT_STREQ("not an iotsec recording", r.error);
	replay_free(&r);
	file[0] = 'I';
	file[8] = 2;	/* version 2 */
	replay_init(&r, NULL, NULL);
	EXPECT_EQ(-EINVAL, replay_feed(&r, file, len));
	EXPECT_STREQ("unsupported recording version", r.error);
	replay_free(&r);
	file[8] = 1;
	/* a record claiming 16 MiB */
	file[REPLAY_HDR_LEN + 3] = 1;
	replay_init(&r, NULL, NULL);
	EXPECT_EQ(-EINVAL, replay_feed(&r, file, len));
	EXPECT_STREQ("record too long", r.error);
	replay_free(&r);
	free(file);
}

TEST(unknown_record_kinds_and_header_tail_skipped)
{
	unsigned char buf[256] = { 0 };
	struct replay_reader r;
	size_t o = 0;
	uint32_t v;

	memcpy(buf, REPLAY_MAGIC, 8);
	buf[8] = 1;
	v = 32;	/* header with 8 bytes of a future field */
	memcpy(buf + 12, &v, 4);
	o = 32;
	v = 5;	/* kind 9, 5 bytes + 3 padding */
	memcpy(buf + o, &v, 4);
	buf[o + 4] = 9;
	o += 8 + 8;
	replay_init(&r, NULL, NULL);
	EXPECT_EQ(0, replay_feed(&r, buf, o));
	EXPECT_EQ(0, replay_finish(&r));
	EXPECT_EQ(1, r.records);
	EXPECT_EQ(1, r.skipped);
	replay_free(&r);
}

TEST(decoder_skips_unknown_and_refuses_malformed)
{
	struct buf b = { 0 };
	struct iotsec_decoder d;
	struct got *g = calloc(1, sizeof(*g));
	struct iotsec_event ev = sample(0);
	size_t n, e;
	uint16_t bad16 = 1;

	ASSERT_EQ(0, iotsec_decoder_init(&d, on_ev, NULL, g));
	abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, 1);
	abuf_put_u32(&b, 200, 7);		/* unknown top-level */
	n = abuf_nest_start(&b, IOTSEC_A_EVENTS);
	/* a good event with an unknown attribute added */
	e = abuf_nest_start(&b, IOTSEC_EVENT_EXEC);
	abuf_put_u32(&b, IOTSEC_EA_TGID, 77);
	abuf_put_u32(&b, IOTSEC_EA_MAX + 5, 1);
	abuf_nest_end(&b, e);
	/* a u32 field with two bytes: refused */
	e = abuf_nest_start(&b, IOTSEC_EVENT_EXEC);
	abuf_put(&b, IOTSEC_EA_TGID, &bad16, 2);
	abuf_nest_end(&b, e);
	/* a string without its NUL: refused */
	e = abuf_nest_start(&b, IOTSEC_EVENT_EXEC);
	abuf_put(&b, IOTSEC_EA_EXE, "/bin/sh", 7);
	abuf_nest_end(&b, e);
	/* an unknown event type: skipped */
	e = abuf_nest_start(&b, IOTSEC_EVENT_MAX + 1);
	abuf_nest_end(&b, e);
	iotsec_encode_event(&b, &ev);
	abuf_nest_end(&b, n);
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(0, iotsec_decode_batch(&d, b.p, b.len));
	ASSERT_EQ(2, g->n);
	EXPECT_EQ(77, g->ev[0].tgid);
	EXPECT_EQ(2, d.stats.bad_events);
	EXPECT_EQ(3, d.stats.unknown_attrs);
	/* a batch cut in the middle of an attribute */
	EXPECT_EQ(-EINVAL, iotsec_decode_batch(&d, b.p, b.len - 3));
	EXPECT_EQ(1, d.stats.bad_batches);
	iotsec_decoder_fini(&d);
	buf_free(&b);
	free(g);
}

/*
 * nla_parse() keeps the last of a repeated attribute: a batch with two
 * event lists (or an event with a field twice) is refused and counted,
 * never half-delivered in silence.
 */
TEST(repeated_attributes_refused_and_counted)
{
	struct iotsec_event ev = sample(0);
	struct buf b = { 0 };
	struct iotsec_decoder d;
	struct got *g = calloc(1, sizeof(*g));
	size_t n, e;

	ASSERT_NE(NULL, g);
	ASSERT_EQ(0, iotsec_decoder_init(&d, on_ev, NULL, g));
	for (int i = 0; i < 2; i++) {
		n = abuf_nest_start(&b, IOTSEC_A_EVENTS);
		iotsec_encode_event(&b, &ev);
		abuf_nest_end(&b, n);
	}
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(-EINVAL, iotsec_decode_batch(&d, b.p, b.len));
	EXPECT_EQ(0, g->n);
	EXPECT_EQ(1, d.stats.bad_batches);
	EXPECT_EQ(0, d.stats.batches);

	buf_reset(&b);
	n = abuf_nest_start(&b, IOTSEC_A_EVENTS);
	e = abuf_nest_start(&b, IOTSEC_EVENT_EXEC);
	abuf_put_u32(&b, IOTSEC_EA_TGID, 77);
	abuf_put_u32(&b, IOTSEC_EA_TGID, 78);
	abuf_nest_end(&b, e);
	iotsec_encode_event(&b, &ev);
	abuf_nest_end(&b, n);
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(0, iotsec_decode_batch(&d, b.p, b.len));
	EXPECT_EQ(1, g->n);		/* the good one */
	EXPECT_EQ(1, d.stats.bad_events);
	iotsec_decoder_fini(&d);
	buf_free(&b);
	free(g);
}

TEST(sequence_gaps_counted)
{
	struct buf b = { 0 };
	struct iotsec_decoder d;
	static const uint64_t batch_seq[] = { 1, 2, 5 };	/* 2 lost */
	static const uint64_t cpu_seq[] = { 1, 2, 10 };	/* 7 lost */

	ASSERT_EQ(0, iotsec_decoder_init(&d, NULL, NULL, NULL));
	for (int i = 0; i < 3; i++) {
		struct iotsec_event ev = sample(0);
		size_t n;

		ev.cpu = 1;
		ev.seq = cpu_seq[i];
		buf_reset(&b);
		abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, batch_seq[i]);
		n = abuf_nest_start(&b, IOTSEC_A_EVENTS);
		iotsec_encode_event(&b, &ev);
		abuf_nest_end(&b, n);
		EXPECT_EQ(0, iotsec_decode_batch(&d, b.p, b.len));
	}
	EXPECT_EQ(2, d.stats.batch_gaps);
	EXPECT_EQ(7, d.stats.cpu_seq_gaps);
	EXPECT_EQ(3, d.stats.events);
	iotsec_decoder_fini(&d);
	buf_free(&b);
}

TEST_HARNESS_MAIN
