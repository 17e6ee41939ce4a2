// SPDX-License-Identifier: MIT
/*
 * The learned baseline (pipeline/baseline.c, docs/rules.md): what the
 * window records, deviations after it (alerts, hit counts), the model and
 * the window's start across a restart, reset and re-learn, the bound
 * (learning stops, one baseline-full alert), corrupt and truncated model
 * files (a clear error, a new window, no crash), and rules.disabled
 * through the daemon's rules loading.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "daemon/daemon.h"
#include "pipeline/baseline.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

#define HOUR_MS 3600000ULL

static uint64_t fake_now = 1800000000000ULL;	/* unix ms */

static uint64_t fake_clock(void)
{
	return fake_now;
}

#define ALERTS_MAX 512

struct alerts {
	char *rule[ALERTS_MAX];
	uint64_t hits[ALERTS_MAX];
	char *desc[ALERTS_MAX];
	size_t n;
};

static void on_alert(void *ctx, const char *t, size_t len)
{
	struct alerts *s = ctx;
	struct json_object *o = json_tokener_parse(t), *p, *v;

	(void)len;
	if (o && s->n < ALERTS_MAX &&
	    json_object_object_get_ex(o, "Payload", &p) &&
	    (p = json_object_array_get_idx(p, 0))) {
		json_object_object_get_ex(p, "RuleName", &v);
		s->rule[s->n] = strdup(json_object_get_string(v));
		json_object_object_get_ex(p, "Description", &v);
		s->desc[s->n] = strdup(json_object_get_string(v));
		json_object_object_get_ex(p, "HitCount", &v);
		s->hits[s->n++] = json_object_get_int64(v);
	}
	json_object_put(o);
}

static void alerts_clear(struct alerts *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->rule[i]);
		free(s->desc[i]);
	}
	s->n = 0;
}

static struct iotsec_event ev_exec(const char *exe, const char *parent)
{
	struct iotsec_event ev = { 0 };

	ev.type = IOTSEC_EVENT_EXEC;
	ev.exe = hs(exe);
	ev.argv = (struct ev_str){ "x\0", 2 };
	ev.tgid = ev.tid = 100;
	ev.ptgid = 1;
	ev.comm = hs("x");
	ev.time_ns = 5000000000ULL;
	if (parent)
		ev.parent_exe = hs(parent);
	return ev;
}

static struct iotsec_event ev_net(uint32_t type, const char *exe,
				  uint16_t lport, uint16_t rport)
{
	struct iotsec_event ev = { 0 };

	ev.type = type;
	ev.proc_exe = hs(exe);
	ev.tgid = ev.tid = 100;
	ev.comm = hs("x");
	ev.family = 2;
	ev.protocol = 6;
	ev.lport = lport;
	ev.rport = rport;
	ev.time_ns = 5000000000ULL;
	return ev;
}

FIXTURE(bl)
{
	char dir[64], path[128];
	struct ser ser;
	struct alerts a;
	struct baseline b;
};

FIXTURE_SETUP(bl)
{
	snprintf(self->dir, sizeof(self->dir), "/tmp/iotsec-bl.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/baseline", self->dir);
	memset(&self->a, 0, sizeof(self->a));
	ser_init(&self->ser, "9c647395-b913-4997-a732-a7fe7303b649", "t");
	baseline_clock = fake_clock;
	fake_now = 1800000000000ULL;
	baseline_init(&self->b, &self->ser, on_alert, &self->a);
}

FIXTURE_TEARDOWN(bl)
{
	char tmp[160];

	baseline_fini(&self->b);
	alerts_clear(&self->a);
	unlink(self->path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", self->path);
	unlink(tmp);
	rmdir(self->dir);
}

/* a fresh stage on the same file: what a restart of iotsecd does */
static int restart(struct __test_metadata *_metadata, FIXTURE_DATA(bl) *self,
		   uint64_t window_ms, size_t max, uint64_t now_ms)
{
	int ret;

	baseline_fini(&self->b);
	baseline_init(&self->b, &self->ser, on_alert, &self->a);
	ret = baseline_configure(&self->b, true, window_ms, max, self->path,
				 60000, now_ms);
	EXPECT_EQ(0, self->b.stats.events);
	return ret;
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	fwrite(text, 1, len, f);
	fclose(f);
}

static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);

	*len = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

TEST_F(bl, learning_records_the_three_tuples)
{
	struct iotsec_event e1 = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event e2 = ev_net(IOTSEC_EVENT_CONNECT, "/usr/sbin/app",
					40000, 8883);
	struct iotsec_event e3 = ev_net(IOTSEC_EVENT_ACCEPT, "/usr/sbin/app",
					8080, 51234);
	struct iotsec_event e4 = ev_net(IOTSEC_EVENT_LISTEN, "/usr/sbin/app",
					8080, 0);
	struct iotsec_event other = ev_exec("/bin/ls", NULL);

	other.type = IOTSEC_EVENT_EXIT;
	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	EXPECT_STREQ("learning", baseline_state(&self->b, 1000));
	EXPECT_EQ(0, baseline_eval(&self->b, &e1, 1000));
	EXPECT_EQ(0, baseline_eval(&self->b, &e1, 1001));
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 1002));
	EXPECT_EQ(0, baseline_eval(&self->b, &e3, 1003));
	EXPECT_EQ(0, baseline_eval(&self->b, &e4, 1004));
	EXPECT_EQ(0, baseline_eval(&self->b, &other, 1005));
	EXPECT_EQ(4, self->b.model.n);
	EXPECT_EQ(4, self->b.stats.learned);
	EXPECT_EQ(0, self->a.n);
	/* inbound: the service's port, not the peer's ephemeral one */
	e3.rport = 60001;
	EXPECT_EQ(0, baseline_eval(&self->b, &e3, 1006));
	EXPECT_EQ(4, self->b.model.n);
	/* the tick saves while learning, in a thread a later tick reaps */
	EXPECT_EQ(100, baseline_tick(&self->b, 1007));
	EXPECT_NE(NULL, self->b.job);
	EXPECT_FALSE(self->b.dirty);
	for (int i = 0; i < 500 && self->b.job; i++) {
		usleep(10000);
		baseline_tick(&self->b, 1008);
	}
	EXPECT_EQ(NULL, self->b.job);
	EXPECT_EQ(1, self->b.stats.saves);
	EXPECT_EQ(0, access(self->path, R_OK));
	/* nothing new: no save; a new tuple: the next one a minute on */
	baseline_tick(&self->b, 1009);
	EXPECT_EQ(NULL, self->b.job);
	e1.exe = hs("/usr/sbin/new");
	baseline_eval(&self->b, &e1, 1010);
	baseline_tick(&self->b, 1011);
	EXPECT_EQ(NULL, self->b.job);
	baseline_tick(&self->b, 1007 + 60000);
	EXPECT_NE(NULL, self->b.job);
}

TEST_F(bl, deviations_alert_after_the_window_with_hit_counts)
{
	struct iotsec_event known = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event shell = ev_exec("/bin/sh", "/usr/sbin/app");
	struct iotsec_event out = ev_net(IOTSEC_EVENT_CONNECT, "/usr/sbin/app",
					 40000, 8883);
	struct iotsec_event lis = ev_net(IOTSEC_EVENT_LISTEN, "/usr/sbin/app",
					 8080, 0);

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &known, 1000);
	baseline_eval(&self->b, &out, 1000);
	baseline_eval(&self->b, &lis, 1000);
	/* still in the window: a new tuple is learned, no alert */
	EXPECT_EQ(0, baseline_eval(&self->b, &shell, 1000 + HOUR_MS - 1));
	EXPECT_EQ(4, self->b.model.n);
	shell.exe = hs("/bin/bash");
	/* the window is over: known tuples pass, new ones alert */
	EXPECT_EQ(0, baseline_eval(&self->b, &known, 1000 + HOUR_MS));
	EXPECT_STREQ("enforcing", baseline_state(&self->b, 1000 + HOUR_MS));
	EXPECT_EQ(1, baseline_eval(&self->b, &shell, 1000 + HOUR_MS));
	out.rport = 4444;
	EXPECT_EQ(1, baseline_eval(&self->b, &out, 1000 + HOUR_MS));
	lis.lport = 31337;
	EXPECT_EQ(1, baseline_eval(&self->b, &lis, 1000 + HOUR_MS));
	ASSERT_EQ(3, self->a.n);
	EXPECT_STREQ("baseline-process", self->a.rule[0]);
	EXPECT_STREQ("baseline-connection", self->a.rule[1]);
	EXPECT_STREQ("baseline-listen", self->a.rule[2]);
	EXPECT_EQ(4, self->b.model.n);	/* deviations are not learned */
	/* the same deviation again: held, then one alert with the count */
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(1, baseline_eval(&self->b, &shell,
					   2000 + HOUR_MS + i));
	EXPECT_EQ(3, self->a.n);
	EXPECT_EQ(5, self->b.stats.suppressed);
	baseline_tick(&self->b, 1000 + HOUR_MS + 60000);
	ASSERT_EQ(4, self->a.n);
	EXPECT_STREQ("baseline-process", self->a.rule[3]);
	EXPECT_EQ(5, self->a.hits[3]);
	EXPECT_EQ(8, self->b.stats.deviations);
}

TEST_F(bl, restart_keeps_the_model_and_the_window)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event e2 = ev_exec("/usr/sbin/other", "/sbin/init");
	uint64_t started;

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	started = self->b.started_ms;
	baseline_eval(&self->b, &e, 1000);
	/* learning for 30 minutes of the loop's clock, then saved */
	baseline_eval(&self->b, &e, 1000 + HOUR_MS / 2);
	ASSERT_EQ(0, baseline_save(&self->b));

	/* a day later, a new daemon (its own monotonic clock) */
	fake_now += 24 * HOUR_MS;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(started, self->b.started_ms);
	EXPECT_EQ(1, self->b.model.n);
	EXPECT_STREQ("learning", baseline_state(&self->b, 5));
	/* half the window is left (the time it learned), not a new one */
	EXPECT_EQ(5 + HOUR_MS / 2, self->b.end_mono_ms);
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 6));
	ASSERT_EQ(0, baseline_save(&self->b));

	/* after the window's end: enforcing at once, with what was learned */
	baseline_tick(&self->b, 5 + HOUR_MS / 2);
	ASSERT_EQ(0, baseline_save(&self->b));
	fake_now += HOUR_MS;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(2, self->b.model.n);
	EXPECT_STREQ("enforcing", baseline_state(&self->b, 5));
	EXPECT_EQ(0, baseline_eval(&self->b, &e, 5));
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 5));
	e2.exe = hs("/usr/sbin/new");
	EXPECT_EQ(1, baseline_eval(&self->b, &e2, 5));
	ASSERT_EQ(0, baseline_save(&self->b));

	/* a clock set back does not reopen an ended window */
	fake_now -= 10 * HOUR_MS;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_STREQ("enforcing", baseline_state(&self->b, 5));
}

/* FNV-1a 64, as the model file's end record has it */
static uint64_t fnv64(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

TEST_F(bl, a_clock_change_neither_ends_nor_extends_learning)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event e2 = ev_exec("/usr/sbin/late", "/sbin/init");
	char v1[512], *t;
	size_t len;
	int n;

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &e, 1000);
	/* the date set ten days on (NTP, date -s), then a reload */
	fake_now += 240 * HOUR_MS;
	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000 + HOUR_MS / 4));
	EXPECT_STREQ("learning", baseline_state(&self->b,
						1000 + HOUR_MS / 4));
	EXPECT_EQ(1000 + HOUR_MS, self->b.end_mono_ms);
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 1001 + HOUR_MS / 4));
	EXPECT_EQ(2, self->b.model.n);
	EXPECT_EQ(0, self->a.n);
	/* 30 minutes learned on the loop's clock: so the file says */
	baseline_eval(&self->b, &e, 1000 + HOUR_MS / 2);
	ASSERT_EQ(0, baseline_save(&self->b));
	t = read_text(self->path, &len);
	EXPECT_EQ(0, strncmp(t, "iotsec-baseline 2\n", 18));
	EXPECT_NE(NULL, strstr(t, "\nlearned 1800000\n"));
	free(t);

	/* the date set twenty days back, a new daemon: 30 minutes left */
	fake_now -= 480 * HOUR_MS;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_STREQ("learning", baseline_state(&self->b, 5));
	EXPECT_EQ(5 + HOUR_MS / 2, self->b.end_mono_ms);
	/* a year on: still the same 30 minutes, no fewer */
	fake_now += 365 * 24 * HOUR_MS;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 7));
	EXPECT_STREQ("learning", baseline_state(&self->b, 6 + HOUR_MS / 2));
	EXPECT_STREQ("enforcing", baseline_state(&self->b, 7 + HOUR_MS / 2));
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 8));

	/* a version 1 file: its learning time as it counted it, then v2 */
	n = snprintf(v1, sizeof(v1), "iotsec-baseline 1\nstarted %llu\n"
		     "ended 0\nfull 0\np /usr/sbin/app /sbin/init 3\n",
		     (unsigned long long)(fake_now - HOUR_MS / 4));
	n += snprintf(v1 + n, sizeof(v1) - n, "end 1 %016llx\n",
		      (unsigned long long)fnv64(v1, n));
	write_text(self->path, v1, n);
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 9));
	EXPECT_EQ(1, self->b.model.n);
	EXPECT_STREQ("learning", baseline_state(&self->b, 9));
	EXPECT_EQ(9 + 3 * HOUR_MS / 4, self->b.end_mono_ms);
	EXPECT_TRUE(self->b.dirty);
	ASSERT_EQ(0, baseline_save(&self->b));
	t = read_text(self->path, &len);
	EXPECT_EQ(0, strncmp(t, "iotsec-baseline 2\n", 18));
	EXPECT_NE(NULL, strstr(t, "\nlearned 900000\n"));
	free(t);
}

/*
 * A stable device: every tuple learned at the first start, iotsecd
 * restarted every 10 minutes (its own loop clock each time), a tick a
 * minute, the exit save. The learning time is kept across the restarts
 * though no new tuple makes the model dirty: enforcing after the window.
 */
TEST_F(bl, restarts_with_no_new_tuple_still_end_the_window)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event odd = ev_exec("/usr/sbin/new", "/sbin/init");
	int boots = 0;

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &e, 1000);
	for (;;) {
		/* 10 minutes up: the same tuple, ticks, then the exit */
		for (uint64_t t = 1000; t <= 1000 + HOUR_MS / 6; t += 60000) {
			baseline_eval(&self->b, &e, t);
			baseline_tick(&self->b, t);
		}
		ASSERT_EQ(0, baseline_exit_save(&self->b,
						1000 + HOUR_MS / 6));
		fake_now += HOUR_MS / 6;
		ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 1000));
		if (!strcmp(baseline_state(&self->b, 1000), "enforcing"))
			break;
		ASSERT_LT(++boots, 12) TH_LOG("still learning after %d "
					       "restarts", boots);
	}
	EXPECT_EQ(5, boots);	/* 6 x 10 minutes = the hour */
	EXPECT_EQ(1, self->b.model.n);
	EXPECT_EQ(1, baseline_eval(&self->b, &odd, 1001));
	EXPECT_EQ(0, baseline_eval(&self->b, &e, 1001));
}

/* No tick at all before the exit (a crash loop of short lives): the
 * exit save alone keeps the time; and a learned model, ended, is not
 * written again at every exit. */
TEST_F(bl, the_exit_save_keeps_the_learning_time)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", "/sbin/init");
	struct stat st;
	char *t;
	size_t len;

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &e, 1000);
	ASSERT_EQ(0, baseline_save(&self->b));
	baseline_eval(&self->b, &e, 1000 + HOUR_MS / 4);
	EXPECT_FALSE(self->b.dirty);	/* nothing new: the count only */
	ASSERT_EQ(0, baseline_exit_save(&self->b, 1000 + HOUR_MS / 2));
	t = read_text(self->path, &len);
	EXPECT_NE(NULL, strstr(t, "\nlearned 1800000\n")) TH_LOG("%s", t);
	free(t);
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(5 + HOUR_MS / 2, self->b.end_mono_ms);

	/* the window's end, saved; then exits write nothing more */
	baseline_tick(&self->b, 5 + HOUR_MS / 2);
	ASSERT_EQ(0, baseline_exit_save(&self->b, 5 + HOUR_MS / 2));
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_STREQ("enforcing", baseline_state(&self->b, 5));
	ASSERT_EQ(0, unlink(self->path));
	ASSERT_EQ(0, baseline_exit_save(&self->b, 5 + HOUR_MS));
	EXPECT_NE(0, stat(self->path, &st));
}

/* A learned time past the longest window (365 days) is refused. */
TEST_F(bl, a_learned_time_past_the_longest_window_is_refused)
{
	char text[256];
	int n;
	static const char *const learned[] = {
		"31536000000", "31536000001", "18446744073709551615" };

	for (int i = 0; i < 3; i++) {
		n = snprintf(text, sizeof(text), "iotsec-baseline 2\n"
			     "started 1800000000000\nlearned %s\nended 0\n"
			     "full 0\np /usr/sbin/app /sbin/init 3\n",
			     learned[i]);
		n += snprintf(text + n, sizeof(text) - n, "end 1 %016llx\n",
			      (unsigned long long)fnv64(text, n));
		write_text(self->path, text, n);
		if (!i) {
			/* 365 days: read, and the window (an hour) is over */
			ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100,
					     5));
			EXPECT_EQ(1, self->b.model.n);
			EXPECT_STREQ("enforcing",
				     baseline_state(&self->b, 5));
			continue;
		}
		EXPECT_EQ(-EINVAL, restart(_metadata, self, HOUR_MS, 100, 5))
			TH_LOG("learned %s read", learned[i]);
		EXPECT_EQ(0, self->b.model.n);
		EXPECT_STREQ("learning", baseline_state(&self->b, 5));
		EXPECT_NE(NULL, strstr(self->b.error, ":3: learned: more "
				       "than the longest window"))
			TH_LOG("%s", self->b.error);
	}
}

TEST_F(bl, many_distinct_deviations_stay_bounded_and_counted)
{
	struct iotsec_event known = ev_exec("/usr/sbin/app", "/sbin/init");
	uint64_t t = 1000 + HOUR_MS, sum = 0;
	size_t itemised = 0, over = 0;
	char exe[32];

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &known, 1000);
	/* 300 distinct deviations, each three times, in one interval */
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < 300; i++) {
			struct iotsec_event e;

			snprintf(exe, sizeof(exe), "/tmp/x%d", i);
			e = ev_exec(exe, "/sbin/init");
			EXPECT_EQ(1, baseline_eval(&self->b, &e, t + r));
		}
	EXPECT_EQ(900, self->b.stats.deviations);
	/* within the interval: one alert per itemised tuple, no more */
	EXPECT_EQ(BASELINE_DEV_MAX, self->a.n);
	baseline_tick(&self->b, t + 60000);
	baseline_tick(&self->b, t + 120000);
	/* after it: the held hits, and one overflow alert counting the rest */
	for (size_t i = 0; i < self->a.n; i++) {
		sum += self->a.hits[i];
		if (!strcmp(self->a.rule[i], "baseline-process"))
			itemised++;
		else if (!strcmp(self->a.rule[i], "baseline-overflow")) {
			over++;
			EXPECT_EQ(3 * (300 - BASELINE_DEV_MAX),
				  self->a.hits[i]);
			EXPECT_NE(NULL, strstr(self->a.desc[i],
				  "708 deviation(s) from the learned baseline "
				  "not itemised"))
				TH_LOG("%s", self->a.desc[i]);
		}
	}
	EXPECT_EQ(1, over);
	EXPECT_EQ(2 * BASELINE_DEV_MAX, itemised);
	EXPECT_LE(self->a.n, 2 * BASELINE_DEV_MAX + 1);
	/* no deviation lost: every one is in some alert's hit count */
	EXPECT_EQ(900, sum);
	EXPECT_EQ(708, self->b.stats.untracked);
	/* the next interval: itemised again */
	alerts_clear(&self->a);
	{
		struct iotsec_event e = ev_exec("/tmp/x299", "/sbin/init");

		EXPECT_EQ(1, baseline_eval(&self->b, &e, t + 3 * 60000));
	}
	ASSERT_EQ(1, self->a.n);
	EXPECT_STREQ("baseline-process", self->a.rule[0]);
}

TEST_F(bl, what_alerted_while_learning_is_not_learned)
{
	struct iotsec_event app = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event drop = ev_exec("/tmp/dropper", "/usr/sbin/app");
	struct iotsec_event c2 = ev_net(IOTSEC_EVENT_CONNECT, "/tmp/dropper",
					40000, 4444);
	struct iotsec_event bad = ev_exec("/opt/listed", "/sbin/init");
	char exe[32];

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	/* many tuples, so the one forgotten sits inside probe runs */
	for (int i = 0; i < 40; i++) {
		struct iotsec_event e;

		snprintf(exe, sizeof(exe), "/opt/p%d", i);
		e = ev_exec(exe, "/sbin/init");
		baseline_check(&self->b, &e, 1000, false);
		if (i == 20)
			baseline_check(&self->b, &bad, 1000, false);
	}
	EXPECT_EQ(0, baseline_check(&self->b, &app, 1000, false));
	/* a rule (or an indicator) alerted on these: not normal */
	EXPECT_EQ(0, baseline_check(&self->b, &drop, 1001, true));
	EXPECT_EQ(0, baseline_check(&self->b, &c2, 1002, true));
	EXPECT_EQ(42, self->b.model.n);
	EXPECT_EQ(2, self->b.stats.suspect);
	/* an executable whose hash came back listed: out again */
	EXPECT_EQ(1, baseline_forget(&self->b, &bad, 1003));
	EXPECT_EQ(0, baseline_forget(&self->b, &bad, 1003));
	EXPECT_EQ(41, self->b.model.n);
	EXPECT_EQ(0, self->a.n);

	/* after the window: the intruder is reported, the rest is not */
	EXPECT_EQ(1, baseline_eval(&self->b, &drop, 1000 + HOUR_MS));
	EXPECT_EQ(1, baseline_eval(&self->b, &c2, 1000 + HOUR_MS));
	EXPECT_EQ(1, baseline_eval(&self->b, &bad, 1000 + HOUR_MS));
	EXPECT_EQ(0, baseline_eval(&self->b, &app, 1000 + HOUR_MS));
	for (int i = 0; i < 40; i++) {
		struct iotsec_event e;

		snprintf(exe, sizeof(exe), "/opt/p%d", i);
		e = ev_exec(exe, "/sbin/init");
		EXPECT_EQ(0, baseline_eval(&self->b, &e, 1000 + HOUR_MS))
			TH_LOG("%s lost", exe);
	}
	ASSERT_EQ(3, self->a.n);
	EXPECT_STREQ("baseline-process", self->a.rule[0]);
	EXPECT_STREQ("baseline-connection", self->a.rule[1]);
	EXPECT_STREQ("baseline-process", self->a.rule[2]);
	/* after the window, forget changes nothing */
	EXPECT_EQ(0, baseline_forget(&self->b, &app, 1000 + HOUR_MS));
	EXPECT_EQ(41, self->b.model.n);
}

TEST_F(bl, reset_and_relearn)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event e2 = ev_exec("/usr/sbin/two", "/sbin/init");

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &e, 1000);
	EXPECT_EQ(1, baseline_eval(&self->b, &e2, 1000 + HOUR_MS));

	/* re-learn: the model stays, a new window adds to it */
	fake_now += 2 * HOUR_MS;
	ASSERT_EQ(0, baseline_restart(&self->b, false, 2000 + HOUR_MS));
	EXPECT_STREQ("learning", baseline_state(&self->b, 2000 + HOUR_MS));
	EXPECT_EQ(fake_now, self->b.started_ms);
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 2001 + HOUR_MS));
	EXPECT_EQ(2, self->b.model.n);
	EXPECT_EQ(0, baseline_eval(&self->b, &e, 2000 + 2 * HOUR_MS));
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 2000 + 2 * HOUR_MS));

	/* reset: empty, learning again; saved at once */
	ASSERT_EQ(0, baseline_restart(&self->b, true, 3000 + 2 * HOUR_MS));
	EXPECT_EQ(0, self->b.model.n);
	EXPECT_STREQ("learning", baseline_state(&self->b, 3000 + 2 * HOUR_MS));
	EXPECT_EQ(2, self->b.stats.restarts);
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(0, self->b.model.n);
	EXPECT_STREQ("learning", baseline_state(&self->b, 5));
}

static char notes[4][256];
static int n_notes;

static void on_note(void *ctx, const char *msg)
{
	(void)ctx;
	if (n_notes < 4)
		snprintf(notes[n_notes], sizeof(notes[0]), "%s", msg);
	n_notes++;
}

TEST_F(bl, a_full_model_stops_learning_and_says_so)
{
	struct iotsec_event more;
	struct json_object *j, *v;
	char exe[32];

	n_notes = 0;
	self->b.note = on_note;
	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 16,
					self->path, 60000, 1000));
	for (int i = 0; i < 100; i++) {
		struct iotsec_event e;

		snprintf(exe, sizeof(exe), "/opt/p%d", i);
		e = ev_exec(exe, NULL);
		EXPECT_EQ(0, baseline_eval(&self->b, &e, 1000 + i));
	}
	EXPECT_EQ(16, self->b.model.n);
	EXPECT_EQ(84, self->b.stats.refused_full);
	EXPECT_TRUE(self->b.full);
	/* one alert, not one per refusal; one notice for the log */
	ASSERT_EQ(1, self->a.n);
	EXPECT_STREQ("baseline-full", self->a.rule[0]);
	ASSERT_EQ(1, n_notes);
	EXPECT_NE(NULL, strstr(notes[0], "the baseline is full (16 entries)"))
		TH_LOG("%s", notes[0]);
	/* the status says so (iotsecctl baseline show prints it) */
	j = baseline_json(&self->b, 2000);
	ASSERT_TRUE(json_object_object_get_ex(j, "full", &v));
	EXPECT_TRUE(json_object_get_boolean(v));
	ASSERT_TRUE(json_object_object_get_ex(j, "refused_full", &v));
	EXPECT_EQ(84, json_object_get_int64(v));
	json_object_put(j);
	n_notes = 0;
	ASSERT_EQ(0, baseline_save(&self->b));
	/* kept as full across a restart: no second alert */
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 16, 5));
	EXPECT_TRUE(self->b.full);
	EXPECT_EQ(16, self->b.model.n);
	more = ev_exec("/opt/more", NULL);
	baseline_eval(&self->b, &more, 6);
	EXPECT_EQ(1, self->a.n);
	EXPECT_EQ(16, self->b.model.n);
	/* a model larger than a new, lower bound: as many as it holds */
	EXPECT_EQ(0, n_notes);
	baseline_fini(&self->b);
	baseline_init(&self->b, &self->ser, on_alert, &self->a);
	self->b.note = on_note;
	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 8,
					self->path, 60000, 5));
	EXPECT_EQ(8, self->b.model.n);
	EXPECT_TRUE(self->b.full);
	/* said, not silent (the full alert was sent when it filled) */
	ASSERT_EQ(1, n_notes);
	EXPECT_NE(NULL, strstr(notes[0], "8 entries more than max_entries"))
		TH_LOG("%s", notes[0]);
	more = ev_exec("/opt/more2", NULL);
	baseline_eval(&self->b, &more, 6);
	ASSERT_EQ(1, self->a.n);
	/* after the window, what could not be stored alerts */
	for (int i = 95; i < 100; i++) {
		struct iotsec_event e;

		snprintf(exe, sizeof(exe), "/opt/p%d", i);
		e = ev_exec(exe, NULL);
		EXPECT_EQ(1, baseline_eval(&self->b, &e, 5 + HOUR_MS));
	}
	ASSERT_EQ(6, self->a.n);
	EXPECT_STREQ("baseline-process", self->a.rule[5]);
}

TEST_F(bl, corrupt_or_truncated_files_start_a_new_window)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", "/sbin/init");
	struct iotsec_event odd = ev_exec("/tmp/a b%\xff\n", "");
	struct stat st;
	char *text;
	size_t len;

	ASSERT_EQ(0, baseline_configure(&self->b, true, HOUR_MS, 100,
					self->path, 60000, 1000));
	baseline_eval(&self->b, &e, 1000);
	/* bytes that are not text survive the round trip */
	baseline_eval(&self->b, &odd, 1000);
	ASSERT_EQ(0, baseline_save(&self->b));
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(2, self->b.model.n);
	fake_now += 2 * HOUR_MS;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(0, baseline_eval(&self->b, &odd, 5));
	text = read_text(self->path, &len);
	ASSERT_GT(len, 40);

	/* every truncation: refused with a reason, a new window, no crash */
	for (size_t cut = 0; cut < len; cut++) {
		write_text(self->path, text, cut);
		EXPECT_EQ(-EINVAL, restart(_metadata, self, HOUR_MS, 100, 5));
		EXPECT_EQ(0, self->b.model.n);
		EXPECT_STREQ("learning", baseline_state(&self->b, 5));
		EXPECT_EQ(0, strncmp(self->b.error, self->path,
				     strlen(self->path)));
	}
	write_text(self->path, text, len);
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(2, self->b.model.n);

	/* one byte changed anywhere: refused by the checksum or the parse */
	for (size_t i = 0; i < len; i += 3) {
		char saved = text[i];

		text[i] = text[i] == 'x' ? 'y' : 'x';
		write_text(self->path, text, len);
		EXPECT_EQ(-EINVAL, restart(_metadata, self, HOUR_MS, 100, 5));
		EXPECT_EQ(0, self->b.model.n);
		text[i] = saved;
	}
	/* the message says what is wrong */
	write_text(self->path, text, len - 10);
	EXPECT_EQ(-EINVAL, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_NE(NULL, strstr(self->b.error, ": truncated: no end record"))
		TH_LOG("%s", self->b.error);
	text[strlen("iotsec-baseline 1\nstarted 1")] ^= 1;
	write_text(self->path, text, len);
	EXPECT_EQ(-EINVAL, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_NE(NULL, strstr(self->b.error, ": bad end record (checksum)"))
		TH_LOG("%s", self->b.error);
	write_text(self->path, "garbage\n", 8);
	EXPECT_EQ(-EINVAL, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_NE(NULL, strstr(self->b.error, ":1: not a baseline file"));
	/* a link at the model's place is not followed */
	unlink(self->path);
	ASSERT_EQ(0, symlink("/etc/hostname", self->path));
	EXPECT_NE(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(0, self->b.model.n);
	/* the new window is written over it, as a file */
	ASSERT_EQ(0, baseline_save(&self->b));
	ASSERT_EQ(0, lstat(self->path, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 0777);
	free(text);
}

TEST_F(bl, off_does_nothing)
{
	struct iotsec_event e = ev_exec("/usr/sbin/app", NULL);

	ASSERT_EQ(0, baseline_configure(&self->b, false, 1000, 100,
					self->path, 60000, 1000));
	EXPECT_EQ(0, baseline_eval(&self->b, &e, 1000 + HOUR_MS));
	EXPECT_EQ(0, self->b.model.n);
	baseline_tick(&self->b, 2000 + HOUR_MS);
	EXPECT_NE(0, access(self->path, F_OK));
	/* turned on later: its window starts then, not at the start */
	fake_now += 5 * HOUR_MS;
	ASSERT_EQ(0, baseline_configure(&self->b, true, 1000, 100,
					self->path, 60000, 5000 + HOUR_MS));
	EXPECT_STREQ("learning", baseline_state(&self->b, 5000 + HOUR_MS));
}

TEST(rules_disabled_by_name)
{
	char dir[] = "/tmp/iotsec-bl-rules.XXXXXX", conf[256], err[512];
	struct config cfg;
	struct daemon d = { 0 };
	const char *names[4];
	struct iotsec_event e = ev_exec("/tmp/x", NULL);

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/iotsecd.yaml", dir);
	write_text(conf, "rules:\n  dir: \"\"\n  rules:\n"
		   "    - { name: a, event: exec, match: { exe: /tmp/* } }\n"
		   "    - { name: b, event: exec, match: { exe: /tmp/* } }\n",
		   strlen("rules:\n  dir: \"\"\n  rules:\n"
			  "    - { name: a, event: exec, match: { exe: /tmp/* } }\n"
			  "    - { name: b, event: exec, match: { exe: /tmp/* } }\n"));
	ASSERT_EQ(0, config_load(&cfg, conf, err, sizeof(err)))
		TH_LOG("%s", err);
	log_init(true);
	d.cfg = &cfg;
	d.config_path = conf;
	ASSERT_EQ(0, daemon_rules_load(&d, true));
	EXPECT_EQ(2, rules_match(d.rules.rs, &e, names, 4));
	cfg.baseline.rules_off[0] = strdup("a");
	cfg.baseline.rules_off[1] = strdup("nosuchrule");
	cfg.baseline.n_rules_off = 2;
	ASSERT_EQ(0, daemon_rules_load(&d, false));
	EXPECT_EQ(1, rules_count(d.rules.rs));
	ASSERT_EQ(1, rules_match(d.rules.rs, &e, names, 4));
	EXPECT_STREQ("b", names[0]);
	rules_engine_fini(&d.rules);
	config_free(&cfg);
	unlink(conf);
	rmdir(dir);
}

TEST_HARNESS_MAIN
