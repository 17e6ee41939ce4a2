// SPDX-License-Identifier: MIT
/*
 * Aggregation by Azure's identity rules: which events fold into one record,
 * with what hit count and first/last time, and how that is serialized.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <json-c/json.h>
#include "pipeline/aggregate.h"
#include "daemon/config.h"
#include "pipeline/queue.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

struct sink {
	char *msgs[64];
	size_t n;
};

static void out(void *ctx, enum prio prio, enum msg_kind kind,
		const char *buf, size_t len, unsigned int n)
{
	struct sink *s = ctx;

	if (s->n < 64)
		s->msgs[s->n++] = strndup(buf, len);
}

static void sink_free(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->msgs[i]);
	s->n = 0;
}

TEST(exec_same_identity_aggregates)
{
	struct agg a;
	char b1[64], b2[64];
	struct iotsec_event e1 = hexec("/bin/ls", hargv(b1, 64, "ls -l /"), 0,
				       10, 1000);
	struct iotsec_event e2 = hexec("/bin/ls", hargv(b2, 64, "ls -l /"), 0,
				       11, 5000);
	struct record *r;

	ASSERT_EQ(0, agg_init(&a, 4));
	ASSERT_EQ(NULL, agg_hit(&a, &e1));
	r = record_new(&e1);
	ASSERT_NE(NULL, r);
	agg_insert(&a, r);
	/* another pid, later: same identity */
	ASSERT_EQ(r, agg_hit(&a, &e2));
	ASSERT_EQ(r, agg_hit(&a, &e2));
	EXPECT_EQ(3, r->hits);
	EXPECT_EQ(1000, r->first_ns);
	EXPECT_EQ(5000, r->last_ns);
	record_free(r);
	agg_fini(&a);
}

TEST(exec_identity_fields)
{
	char b1[64], b2[64], b3[64];
	struct iotsec_event base = hexec("/bin/ls", hargv(b1, 64, "ls -l /"), 0,
					 10, 1);
	struct iotsec_event other_user = base, other_exe = base;
	struct iotsec_event other_args = hexec("/bin/ls",
					       hargv(b2, 64, "ls -l /tmp"), 0,
					       10, 1);
	struct iotsec_event same = hexec("/bin/ls", hargv(b3, 64, "ls -l /"),
					 0, 99, 7);

	other_user.uid = 1000;
	other_exe.exe = hs("/usr/bin/ls");
	EXPECT_TRUE(record_key_equal(&base, &same));
	EXPECT_EQ(record_key_hash(&base), record_key_hash(&same));
	EXPECT_FALSE(record_key_equal(&base, &other_user));
	EXPECT_FALSE(record_key_equal(&base, &other_exe));
	EXPECT_FALSE(record_key_equal(&base, &other_args));
	/* the cwd and pids are not part of the identity */
	same.cwd = hs("/tmp");
	same.ptgid = 42;
	EXPECT_TRUE(record_key_equal(&base, &same));
}

TEST(connection_identity_fields)
{
	struct iotsec_event a = hconnect(IOTSEC_EVENT_CONNECT, "/usr/bin/curl",
					 0, "\x01\x02\x03\x04", 40000, 443, 1);
	struct iotsec_event b = a, c = a, d = a, e = a, f = a;

	b.lport = 40001;	/* ephemeral local port: same connection kind */
	b.tgid = 7;
	EXPECT_TRUE(record_key_equal(&a, &b));
	c.rport = 80;
	EXPECT_FALSE(record_key_equal(&a, &c));
	d.raddr[3] = 5;
	EXPECT_FALSE(record_key_equal(&a, &d));
	e.type = IOTSEC_EVENT_ACCEPT;	/* direction */
	EXPECT_FALSE(record_key_equal(&a, &e));
	f.protocol = 17;
	EXPECT_FALSE(record_key_equal(&a, &f));
	f = a;
	f.proc_cmdline = hs("curl x");
	EXPECT_FALSE(record_key_equal(&a, &f));
	f = a;
	f.uid = 5;
	EXPECT_FALSE(record_key_equal(&a, &f));
}

TEST(table_grows_and_counts)
{
	struct agg a;
	struct record *recs[1000];
	char bufs[1000][32];

	ASSERT_EQ(0, agg_init(&a, 16));
	for (int i = 0; i < 1000; i++) {
		char w[32];
		struct iotsec_event ev;

		snprintf(w, sizeof(w), "prog %d", i);
		ev = hexec("/bin/prog", hargv(bufs[i], 32, w), 0, i, i);
		ASSERT_EQ(NULL, agg_hit(&a, &ev));
		recs[i] = record_new(&ev);
		agg_insert(&a, recs[i]);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 1000; i++) {
			char b[32], w[32];
			struct iotsec_event ev;

			snprintf(w, sizeof(w), "prog %d", i);
			ev = hexec("/bin/prog", hargv(b, 32, w), 0, 5000, 9);
			ASSERT_EQ(recs[i], agg_hit(&a, &ev));
		}
	for (int i = 0; i < 1000; i++) {
		EXPECT_EQ(4, recs[i]->hits);
		record_free(recs[i]);
	}
	agg_fini(&a);
}

static struct json_object *first_payload(const char *msg, int event)
{
	struct json_object *m = json_tokener_parse(msg), *evs, *e, *p;

	if (!m)
		return NULL;
	if (!json_object_object_get_ex(m, "Events", &evs) ||
	    !(e = json_object_array_get_idx(evs, event)) ||
	    !json_object_object_get_ex(e, "Payload", &p)) {
		json_object_put(m);
		return NULL;
	}
	p = json_object_get(json_object_array_get_idx(p, 0));
	json_object_put(m);
	return p;
}

static const char *detail(struct json_object *p, const char *key)
{
	struct json_object *x, *v;

	if (!json_object_object_get_ex(p, "ExtraDetails", &x) ||
	    !json_object_object_get_ex(x, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

TEST(queue_aggregates_and_serializes_hit_counts)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { 0 };
	char b[64];
	struct json_object *p;

	config_defaults(&cfg);
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ser.boot_to_real_ns = 1700000000LL * 1000000000LL;
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	for (int i = 0; i < 5; i++) {
		struct iotsec_event ev = hexec("/bin/ls", hargv(b, 64, "ls -l"),
					       0, 100 + i,
					       (uint64_t)(i + 1) * 1000000000);

		queue_push(&q, &ev, 0);
	}
	/* nothing before the high interval */
	queue_tick(&q, cfg.interval_ms[PRIO_HIGH] - 1);
	EXPECT_EQ(0, s.n);
	queue_tick(&q, cfg.interval_ms[PRIO_HIGH]);
	ASSERT_EQ(1, s.n);
	p = first_payload(s.msgs[0], 0);
	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, detail(p, "HitCount"));
	EXPECT_STREQ("5", detail(p, "HitCount"));
	EXPECT_STREQ("2023-11-14T22:13:21.000Z", detail(p, "FirstTime"));
	EXPECT_STREQ("2023-11-14T22:13:25.000Z", detail(p, "LastTime"));
	json_object_put(p);
	EXPECT_EQ(5, q.stats.collected[0]);
	queue_fini(&q);
	sink_free(&s);
}

TEST(aggregation_off_keeps_every_event)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { 0 };
	char b[64];
	struct json_object *m, *evs;

	config_defaults(&cfg);
	cfg.types[IOTSEC_EVENT_EXEC].aggregate = false;
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	for (int i = 0; i < 4; i++) {
		struct iotsec_event ev = hexec("/bin/ls", hargv(b, 64, "ls"), 0,
					       i, i);

		queue_push(&q, &ev, 0);
	}
	queue_flush_all(&q, 0);
	ASSERT_EQ(1, s.n);
	m = json_tokener_parse(s.msgs[0]);
	ASSERT_NE(NULL, m);
	ASSERT_TRUE(json_object_object_get_ex(m, "Events", &evs));
	EXPECT_EQ(4, json_object_array_length(evs));
	json_object_put(m);
	queue_fini(&q);
	sink_free(&s);
}

TEST(priorities_alert_now_off_filtered)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { 0 };
	struct iotsec_event cred = { .type = IOTSEC_EVENT_CRED, .uid = 1 };
	struct iotsec_event fork = { .type = IOTSEC_EVENT_FORK };
	struct iotsec_event exit = { .type = IOTSEC_EVENT_EXIT };

	config_defaults(&cfg);
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	queue_push(&q, &fork, 0);
	EXPECT_EQ(1, q.stats.filtered[IOTSEC_EVENT_FORK]);
	queue_push(&q, &exit, 0);	/* low: minutes */
	queue_push(&q, &cred, 0);	/* alert: due now */
	EXPECT_EQ(0, queue_tick(&q, 1) > 0 ? 0 : 1);
	ASSERT_EQ(1, s.n);
	EXPECT_NE(NULL, strstr(s.msgs[0], "\"CredentialsChange\""));
	EXPECT_EQ(NULL, strstr(s.msgs[0], "ProcessTerminate"));
	queue_tick(&q, cfg.interval_ms[PRIO_LOW]);
	ASSERT_EQ(2, s.n);
	EXPECT_NE(NULL, strstr(s.msgs[1], "\"ProcessTerminate\""));
	EXPECT_EQ(1, q.stats.collected[1]);
	queue_fini(&q);
	sink_free(&s);
}

/*
 * A credential change made by an exec names the program executed (EXE
 * from the kernel), not the one enrichment knew for the process, and does
 * not borrow that one's command line.
 */
TEST(cred_of_an_exec_names_the_new_program)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { 0 };
	struct json_object *p, *v;
	struct iotsec_event cred = {
		.type = IOTSEC_EVENT_CRED, .tgid = 7, .old_euid = 65534,
		.from_exec = true,
		.exe = { "/usr/bin/helper", 15 },
		.comm = { "helper", 6 },
		.proc_exe = { "/usr/bin/setpriv", 16 },
		.proc_cmdline = { "setpriv\0helper", 15 },
	};

	config_defaults(&cfg);
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	EXPECT_EQ(0, memcmp("/usr/bin/helper", ev_exe(&cred).s, 15));
	queue_push(&q, &cred, 0);
	queue_tick(&q, 1);
	ASSERT_EQ(1, s.n);
	p = first_payload(s.msgs[0], 0);
	ASSERT_NE(NULL, p);
	ASSERT_TRUE(json_object_object_get_ex(p, "Executable", &v));
	EXPECT_STREQ("/usr/bin/helper", json_object_get_string(v));
	EXPECT_FALSE(json_object_object_get_ex(p, "CommandLine", &v));
	json_object_put(p);
	queue_fini(&q);
	sink_free(&s);
}

TEST(queue_limit_flushes_early)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct sink s = { 0 };
	struct iotsec_event ev;
	uint64_t d;
	char b[64];

	config_defaults(&cfg);
	cfg.queue_limit = 4096;
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, &s, 0));
	for (int i = 0; i < 1000; i++) {
		char w[32];

		snprintf(w, sizeof(w), "job %d", i);
		ev = hexec("/bin/job", hargv(b, 64, w), 0, i, i);
		queue_push(&q, &ev, 0);
	}
	EXPECT_EQ(1000, q.stats.collected[0]);
	EXPECT_EQ(0, q.stats.dropped[0]);
	/* sent before the interval, memory kept under the limit */
	EXPECT_GT(q.stats.early_flushes, 10);
	EXPECT_GT(s.n, 10);
	EXPECT_LE(q.q[PRIO_HIGH].bytes, 4096 + 1024);
	/* an event that aggregates into a pending record costs nothing */
	ev = hexec("/bin/job", hargv(b, 64, "job 999"), 0, 1, 1);
	d = q.stats.early_flushes;
	queue_push(&q, &ev, 0);
	EXPECT_EQ(d, q.stats.early_flushes);
	EXPECT_EQ(2, q.q[PRIO_HIGH].tail->hits);
	queue_fini(&q);
	sink_free(&s);
}

TEST_HARNESS_MAIN
