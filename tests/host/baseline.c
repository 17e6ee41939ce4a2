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

struct alerts {
	char *rule[64];
	uint64_t hits[64];
	size_t n;
};

static void on_alert(void *ctx, const char *t, size_t len)
{
	struct alerts *s = ctx;
	struct json_object *o = json_tokener_parse(t), *p, *v;

	(void)len;
	if (o && s->n < 64 &&
	    json_object_object_get_ex(o, "Payload", &p) &&
	    (p = json_object_array_get_idx(p, 0))) {
		json_object_object_get_ex(p, "RuleName", &v);
		s->rule[s->n] = strdup(json_object_get_string(v));
		json_object_object_get_ex(p, "HitCount", &v);
		s->hits[s->n++] = json_object_get_int64(v);
	}
	json_object_put(o);
}

static void alerts_clear(struct alerts *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->rule[i]);
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
	ASSERT_EQ(0, baseline_save(&self->b));

	/* 30 minutes later, a new daemon (its own monotonic clock) */
	fake_now += HOUR_MS / 2;
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 100, 5));
	EXPECT_EQ(started, self->b.started_ms);
	EXPECT_EQ(1, self->b.model.n);
	EXPECT_STREQ("learning", baseline_state(&self->b, 5));
	/* half the window is left, not a whole new one */
	EXPECT_EQ(5 + HOUR_MS / 2, self->b.end_mono_ms);
	EXPECT_EQ(0, baseline_eval(&self->b, &e2, 6));
	ASSERT_EQ(0, baseline_save(&self->b));

	/* after the window's end: enforcing at once, with what was learned */
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

TEST_F(bl, a_full_model_stops_learning_and_says_so)
{
	struct iotsec_event more;
	char exe[32];

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
	/* one alert, not one per refusal */
	ASSERT_EQ(1, self->a.n);
	EXPECT_STREQ("baseline-full", self->a.rule[0]);
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
	ASSERT_EQ(0, restart(_metadata, self, HOUR_MS, 8, 5));
	EXPECT_EQ(8, self->b.model.n);
	EXPECT_TRUE(self->b.full);
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
