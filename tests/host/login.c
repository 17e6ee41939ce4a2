// SPDX-License-Identifier: MIT
/*
 * Login events from test-owned wtmp/btmp files, written the way login(1)
 * and sshd write them: pututxline() into utmp and updwtmpx() into wtmp,
 * updwtmpx() into btmp for a failure.
 *
 *   test --updwtmpx--> tmp/wtmp, tmp/btmp --inotify--> login_watch
 *                                                     -> Login events
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <utmpx.h>
#include <json-c/json.h>

#include "kselftest_harness.h"
#include <signal.h>
#include <sys/wait.h>
#include "common/utf8.h"
#include "common/clock.h"
#include "sources/login.h"

#define MAX_EV 32

struct got {
	struct json_object *ev[MAX_EV];
	int n;
};

static void emit(void *arg, struct json_object *ev)
{
	struct got *g = arg;
	const char *dir = getenv("IOTSEC_EVENT_DUMP");

	if (dir) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/login-%d-%d.json", dir,
			 (int)getpid(), g->n);
		json_object_to_file_ext(path, ev, JSON_C_TO_STRING_PLAIN);
	}
	if (g->n == MAX_EV) {
		json_object_put(ev);
		return;
	}
	g->ev[g->n++] = ev;
}

/* Wait (by polling the inotify fd) until G holds N events or 3 s pass. */
static int wait_for(struct login_watch *w, struct got *g, int n)
{
	struct pollfd p = { .fd = login_watch_fd(w), .events = POLLIN };
	int i;

	for (i = 0; i < 300 && g->n < n; i++)
		if (poll(&p, 1, 10) > 0)
			login_watch_handle(w);
	return g->n;
}

static const char *item_str(struct json_object *ev, const char *key)
{
	struct json_object *p, *x, *v;

	if (!json_object_object_get_ex(ev, "Payload", &p))
		return NULL;
	x = json_object_array_get_idx(p, 0);
	if (!x)
		return NULL;
	if (json_object_object_get_ex(x, key, &v))
		return json_object_get_string(v);
	if (json_object_object_get_ex(x, "ExtraDetails", &x) &&
	    json_object_object_get_ex(x, key, &v))
		return json_object_get_string(v);
	return NULL;
}

static int item_int(struct json_object *ev, const char *key)
{
	struct json_object *p, *x, *v;

	if (!json_object_object_get_ex(ev, "Payload", &p))
		return -1;
	x = json_object_array_get_idx(p, 0);
	if (!x || !json_object_object_get_ex(x, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int(v);
}

static void make_rec(struct utmpx *u, short type, const char *user,
		     const char *line, const char *host, const char *ip,
		     pid_t pid)
{
	struct timeval tv;

	memset(u, 0, sizeof(*u));
	u->ut_type = type;
	u->ut_pid = pid;
	strncpy(u->ut_line, line, sizeof(u->ut_line));
	strncpy(u->ut_id, line + strlen(line) - (strlen(line) > 4 ? 4 : strlen(line)),
		sizeof(u->ut_id));
	strncpy(u->ut_user, user, sizeof(u->ut_user));
	strncpy(u->ut_host, host, sizeof(u->ut_host));
	if (ip)
		inet_pton(AF_INET, ip, u->ut_addr_v6);
	gettimeofday(&tv, NULL);
	u->ut_tv.tv_sec = tv.tv_sec;
	u->ut_tv.tv_usec = tv.tv_usec;
	u->ut_session = getsid(0);
}

static int touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0644);

	if (fd < 0)
		return -1;
	return close(fd);
}

FIXTURE(login) {
	char dir[64], wtmp[128], btmp[128], utmp[128], state[128];
	struct login_config cfg;
	struct login_watch *w;
	struct got got;
	char me[64];
	char uid[16];
	char exe[PATH_MAX];
};

FIXTURE_SETUP(login)
{
	struct passwd *pw = getpwuid(getuid());
	ssize_t n;

	strcpy(self->dir, "/tmp/iotsec-login-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->wtmp, sizeof(self->wtmp), "%s/wtmp", self->dir);
	snprintf(self->btmp, sizeof(self->btmp), "%s/btmp", self->dir);
	snprintf(self->utmp, sizeof(self->utmp), "%s/utmp", self->dir);
	snprintf(self->state, sizeof(self->state), "%s/state", self->dir);
	ASSERT_EQ(0, touch(self->wtmp));
	ASSERT_EQ(0, touch(self->utmp));
	memset(&self->cfg, 0, sizeof(self->cfg));
	self->cfg.wtmp_path = self->wtmp;
	self->cfg.btmp_path = self->btmp;
	memset(&self->got, 0, sizeof(self->got));
	self->w = NULL;
	ASSERT_NE(NULL, pw);
	snprintf(self->me, sizeof(self->me), "%s", pw->pw_name);
	snprintf(self->uid, sizeof(self->uid), "%u", (unsigned int)getuid());
	n = readlink("/proc/self/exe", self->exe, sizeof(self->exe) - 1);
	ASSERT_LT(0, n);
	self->exe[n] = '\0';
}

FIXTURE_TEARDOWN(login)
{
	char cmd[128];
	int i;

	login_watch_close(self->w);
	for (i = 0; i < self->got.n; i++)
		json_object_put(self->got.ev[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cleanup failed");
}

/* login(1)'s way: utmp with pututxline, wtmp with updwtmpx. */
static void write_login(const char *utmp, const char *wtmp, struct utmpx *u)
{
	utmpxname(utmp);
	setutxent();
	pututxline(u);
	endutxent();
	updwtmpx(wtmp, u);
}

TEST_F(login, login_and_logout_from_wtmp)
{
	struct utmpx u;

	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	make_rec(&u, USER_PROCESS, self->me, "pts/7", "192.0.2.10", "192.0.2.10",
		 getpid());
	write_login(self->utmp, self->wtmp, &u);
	ASSERT_EQ(1, wait_for(self->w, &self->got, 1));

	EXPECT_STREQ("Login", item_str(self->got.ev[0], "Operation"));
	EXPECT_STREQ("Success", item_str(self->got.ev[0], "Result"));
	EXPECT_STREQ(self->me, item_str(self->got.ev[0], "UserName"));
	EXPECT_STREQ(self->uid, item_str(self->got.ev[0], "UserId"));
	EXPECT_STREQ("192.0.2.10", item_str(self->got.ev[0], "RemoteAddress"));
	EXPECT_STREQ("pts/7", item_str(self->got.ev[0], "Terminal"));
	EXPECT_EQ(getpid(), item_int(self->got.ev[0], "ProcessId"));
	EXPECT_STREQ(self->exe, item_str(self->got.ev[0], "Executable"));
	EXPECT_STREQ("Triggered",
		     json_object_get_string(json_object_object_get(self->got.ev[0],
								   "Category")));

	/* logout(3) clears the name; the event keeps the login's. */
	make_rec(&u, DEAD_PROCESS, "", "pts/7", "", NULL, getpid());
	write_login(self->utmp, self->wtmp, &u);
	ASSERT_EQ(2, wait_for(self->w, &self->got, 2));
	EXPECT_STREQ("Logout", item_str(self->got.ev[1], "Operation"));
	EXPECT_STREQ("Success", item_str(self->got.ev[1], "Result"));
	EXPECT_STREQ(self->me, item_str(self->got.ev[1], "UserName"));
	EXPECT_STREQ("pts/7", item_str(self->got.ev[1], "Terminal"));

	/* Records that are not logins (boot, run level) make no event. */
	make_rec(&u, BOOT_TIME, "reboot", "~", "", NULL, 0);
	updwtmpx(self->wtmp, &u);
	usleep(100000);
	login_watch_handle(self->w);
	EXPECT_EQ(2, self->got.n);
}

TEST_F(login, failed_login_from_btmp_created_later)
{
	struct utmpx u;

	/* No btmp yet: it appears later, as logrotate's "create" does. */
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	ASSERT_EQ(0, touch(self->btmp));
	make_rec(&u, LOGIN_PROCESS, "nosuchuser-iotsec", "ssh:notty",
		 "2001:db8::5", NULL, 4242);
	inet_pton(AF_INET6, "2001:db8::5", u.ut_addr_v6);
	updwtmpx(self->btmp, &u);
	ASSERT_EQ(1, wait_for(self->w, &self->got, 1));
	EXPECT_STREQ("Fail", item_str(self->got.ev[0], "Result"));
	EXPECT_STREQ("Login", item_str(self->got.ev[0], "Operation"));
	EXPECT_STREQ("nosuchuser-iotsec", item_str(self->got.ev[0], "UserName"));
	EXPECT_EQ(NULL, item_str(self->got.ev[0], "UserId"));
	EXPECT_STREQ("2001:db8::5", item_str(self->got.ev[0], "RemoteAddress"));
	EXPECT_STREQ("ssh:notty", item_str(self->got.ev[0], "Terminal"));
	EXPECT_STREQ("btmp", item_str(self->got.ev[0], "Source"));
	EXPECT_EQ(4242, item_int(self->got.ev[0], "ProcessId"));
}

TEST_F(login, only_new_records_unless_from_start)
{
	struct utmpx u;

	make_rec(&u, USER_PROCESS, self->me, "tty1", "", NULL, 1);
	updwtmpx(self->wtmp, &u);
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	usleep(100000);
	login_watch_handle(self->w);
	EXPECT_EQ(0, self->got.n);
	login_watch_close(self->w);

	self->cfg.from_start = true;
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	EXPECT_EQ(1, self->got.n);
	EXPECT_STREQ("tty1", item_str(self->got.ev[0], "Terminal"));
}

TEST_F(login, rotation_and_partial_records)
{
	char old[160];
	struct utmpx u;
	int fd;

	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	/* Half a record: nothing until the writer completes it. */
	make_rec(&u, USER_PROCESS, self->me, "pts/1", "", NULL, 77);
	fd = open(self->wtmp, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ(100, write(fd, &u, 100));
	usleep(100000);
	login_watch_handle(self->w);
	EXPECT_EQ(0, self->got.n);
	ASSERT_EQ((ssize_t)sizeof(u) - 100,
		  write(fd, (char *)&u + 100, sizeof(u) - 100));
	close(fd);
	ASSERT_EQ(1, wait_for(self->w, &self->got, 1));

	/* Rotation: wtmp -> wtmp.1, a fresh wtmp gets the next login. */
	snprintf(old, sizeof(old), "%s.1", self->wtmp);
	ASSERT_EQ(0, rename(self->wtmp, old));
	ASSERT_EQ(0, touch(self->wtmp));
	make_rec(&u, USER_PROCESS, self->me, "pts/2", "", NULL, 78);
	updwtmpx(self->wtmp, &u);
	ASSERT_EQ(2, wait_for(self->w, &self->got, 2));
	EXPECT_STREQ("pts/2", item_str(self->got.ev[1], "Terminal"));
	usleep(100000);
	login_watch_handle(self->w);
	EXPECT_EQ(2, self->got.n);
}

/* A device without wtmp: sessions appearing in and leaving utmp. */
TEST_F(login, utmp_when_there_is_no_wtmp)
{
	struct utmpx u;

	ASSERT_EQ(0, unlink(self->wtmp));
	self->cfg.utmp_path = self->utmp;
	/* A session from before we started is not news. */
	make_rec(&u, USER_PROCESS, "old", "tty1", "", NULL, 11);
	utmpxname(self->utmp);
	setutxent();
	ASSERT_NE(NULL, pututxline(&u));
	endutxent();
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	EXPECT_EQ(0, self->got.n);

	make_rec(&u, USER_PROCESS, self->me, "pts/5", "192.0.2.44", "192.0.2.44",
		 getpid());
	utmpxname(self->utmp);
	setutxent();
	ASSERT_NE(NULL, pututxline(&u));
	endutxent();
	ASSERT_EQ(1, wait_for(self->w, &self->got, 1));
	EXPECT_STREQ("Login", item_str(self->got.ev[0], "Operation"));
	EXPECT_STREQ("Success", item_str(self->got.ev[0], "Result"));
	EXPECT_STREQ(self->me, item_str(self->got.ev[0], "UserName"));
	EXPECT_STREQ("pts/5", item_str(self->got.ev[0], "Terminal"));
	EXPECT_STREQ("192.0.2.44", item_str(self->got.ev[0], "RemoteAddress"));
	EXPECT_STREQ("utmp", item_str(self->got.ev[0], "Source"));

	/* logout(3): the entry turns DEAD_PROCESS, the name is cleared. */
	make_rec(&u, DEAD_PROCESS, "", "pts/5", "", NULL, getpid());
	utmpxname(self->utmp);
	setutxent();
	ASSERT_NE(NULL, pututxline(&u));
	endutxent();
	ASSERT_EQ(2, wait_for(self->w, &self->got, 2));
	EXPECT_STREQ("Logout", item_str(self->got.ev[1], "Operation"));
	EXPECT_STREQ(self->me, item_str(self->got.ev[1], "UserName"));
	EXPECT_STREQ("pts/5", item_str(self->got.ev[1], "Terminal"));
	usleep(100000);
	login_watch_handle(self->w);
	EXPECT_EQ(2, self->got.n);
}

/* The offset survives a restart: records written meanwhile, once. */
TEST_F(login, offsets_survive_restart)
{
	struct utmpx u;

	self->cfg.state_path = self->state;
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	make_rec(&u, USER_PROCESS, self->me, "pts/3", "", NULL, 3);
	updwtmpx(self->wtmp, &u);
	ASSERT_EQ(1, wait_for(self->w, &self->got, 1));
	login_watch_close(self->w);
	self->w = NULL;

	make_rec(&u, USER_PROCESS, self->me, "pts/4", "", NULL, 4);
	updwtmpx(self->wtmp, &u);
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	ASSERT_EQ(2, self->got.n);
	EXPECT_STREQ("pts/4", item_str(self->got.ev[1], "Terminal"));
}

/* Text fields keep valid UTF-8; control bytes and broken sequences are '?'. */
/*
 * The Executable comes from /proc/PID/exe: a path, so bytes. A program
 * whose file name is not UTF-8 must not make the event invalid JSON.
 */
TEST_F(login, executable_path_that_is_not_utf8)
{
	char bin[192], cmd[512];
	const char *exe;
	struct utmpx u;
	pid_t pid;
	int status;

	snprintf(bin, sizeof(bin), "%s/sl\xc0\xaf" "eep", self->dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", bin);
	ASSERT_EQ(0, system(cmd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		execl(bin, "sleep", "10", (char *)NULL);
		_exit(127);
	}
	usleep(200000);		/* the exec has happened */
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	make_rec(&u, USER_PROCESS, self->me, "pts/8", "", NULL, pid);
	write_login(self->utmp, self->wtmp, &u);
	EXPECT_EQ(1, wait_for(self->w, &self->got, 1));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ASSERT_EQ(1, self->got.n);
	exe = item_str(self->got.ev[0], "Executable");
	ASSERT_NE(NULL, exe);
	EXPECT_TRUE(utf8_valid(exe, strlen(exe)));
	EXPECT_NE(NULL, strstr(exe, "/sl??eep")) {
		TH_LOG("Executable %s", exe);
	}
}

TEST(fields_are_printable_utf8)
{
	struct json_object *ev;
	struct utmpx u;

	make_rec(&u, USER_PROCESS, "j\xc3\xbcrgen", "pts/\x01",
		 "h\xc3", NULL, 0);
	ev = login_event(&u, false, NULL);
	ASSERT_NE(NULL, ev);
	EXPECT_STREQ("j\xc3\xbcrgen", item_str(ev, "UserName"));
	EXPECT_STREQ("pts/?", item_str(ev, "Terminal"));
	EXPECT_STREQ("h?", item_str(ev, "RemoteHost"));
	json_object_put(ev);
}

/*
 * Failed logins aggregate by (user, remote address): 1,000 failures of
 * root from one address and 10 of alice from another are two events at
 * once, then one event per pair when the window ends, with HitCount,
 * FirstTime and LastTime in ExtraDetails; every failure is counted once.
 */
TEST_F(login, failed_logins_aggregated_by_user_and_address)
{
	struct utmpx *u;
	uint64_t hits = 0;
	int fd, i, n;

	self->cfg.aggregate_ms = 300;
	ASSERT_EQ(0, touch(self->btmp));
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	u = calloc(1010, sizeof(*u));
	ASSERT_NE(NULL, u);
	for (i = 0; i < 1010; i++) {
		if (i < 1000)
			make_rec(&u[i], LOGIN_PROCESS, "root", "ssh:notty",
				 "203.0.113.9", "203.0.113.9", 100 + i);
		else
			make_rec(&u[i], LOGIN_PROCESS, "alice", "ssh:notty",
				 "198.51.100.4", "198.51.100.4", 100 + i);
	}
	fd = open(self->btmp, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(1010 * sizeof(*u)), write(fd, u, 1010 * sizeof(*u)));
	close(fd);
	free(u);
	EXPECT_EQ(2, wait_for(self->w, &self->got, 2));
	/* nothing more until the window ends */
	n = wait_for(self->w, &self->got, 3);
	EXPECT_EQ(2, n);
	EXPECT_EQ(1008, (int)login_watch_aggregated(self->w));
	usleep(310 * 1000);
	login_watch_tick(self->w, (uint64_t)mono_ms());
	ASSERT_EQ(4, self->got.n);
	for (i = 0; i < self->got.n; i++) {
		struct json_object *ev = self->got.ev[i];
		const char *hc = item_str(ev, "HitCount");

		EXPECT_STREQ("Fail", item_str(ev, "Result"));
		hits += hc ? strtoull(hc, NULL, 10) : 1;
		if (i < 2) {
			EXPECT_EQ(NULL, hc);
			continue;
		}
		ASSERT_NE(NULL, hc);
		EXPECT_NE(NULL, item_str(ev, "FirstTime"));
		EXPECT_NE(NULL, item_str(ev, "LastTime"));
		if (!strcmp(item_str(ev, "UserName"), "root")) {
			EXPECT_STREQ("999", hc);
			EXPECT_STREQ("203.0.113.9", item_str(ev, "RemoteAddress"));
		} else {
			EXPECT_STREQ("9", hc);
			EXPECT_STREQ("alice", item_str(ev, "UserName"));
		}
	}
	EXPECT_EQ(1010, (int)hits);
	/* a quiet pair is forgotten: its next failure is an event at once */
	usleep(310 * 1000);
	login_watch_tick(self->w, (uint64_t)mono_ms());
	login_watch_tick(self->w, (uint64_t)mono_ms() + 1000);
	EXPECT_EQ(4, self->got.n);
}

struct seen {
	int n, failed, from_addr, alice;
	struct timeval first;	/* the time of the first record seen */
};

static void observe(void *arg, const struct login_record *r)
{
	struct seen *s = arg;

	if (!s->n++)
		s->first = r->tv;
	s->failed += r->failed;
	s->from_addr += !strcmp(r->addr, "203.0.113.9");
	s->alice += !strcmp(r->user, "alice") && !r->failed && !r->addr[0];
}

/*
 * The rules' observer sees every attempt as it is read, failures that the
 * watcher aggregates included: 6 failures, 1 login, one logout (not an
 * attempt), while only 2 Login events leave at once.
 */
TEST_F(login, observer_sees_every_attempt_before_aggregation)
{
	struct seen seen = { 0 };
	struct utmpx u[8];
	int fd, i;

	self->cfg.aggregate_ms = 60000;
	self->cfg.observe = observe;
	self->cfg.observe_arg = &seen;
	ASSERT_EQ(0, touch(self->btmp));
	ASSERT_EQ(0, login_watch_open(&self->w, &self->cfg, emit, &self->got));
	for (i = 0; i < 6; i++)
		make_rec(&u[i], LOGIN_PROCESS, "root", "ssh:notty",
			 "203.0.113.9", "203.0.113.9", 100 + i);
	fd = open(self->btmp, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(6 * sizeof(*u)), write(fd, u, 6 * sizeof(*u)));
	close(fd);
	make_rec(&u[6], USER_PROCESS, "alice", "pts/7", "", NULL, 200);
	make_rec(&u[7], DEAD_PROCESS, "", "pts/7", "", NULL, 200);
	fd = open(self->wtmp, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(2 * sizeof(*u)), write(fd, &u[6], 2 * sizeof(*u)));
	close(fd);
	wait_for(self->w, &self->got, 3);
	for (i = 0; i < 50 && seen.n < 7; i++)
		wait_for(self->w, &self->got, 4);
	EXPECT_EQ(7, seen.n);
	EXPECT_EQ(6, seen.failed);
	EXPECT_EQ(6, seen.from_addr);
	EXPECT_EQ(1, seen.alice);
	/* the record's own time, not the time it was read */
	EXPECT_TRUE((seen.first.tv_sec == u[0].ut_tv.tv_sec &&
		     seen.first.tv_usec == u[0].ut_tv.tv_usec) ||
		    (seen.first.tv_sec == u[6].ut_tv.tv_sec &&
		     seen.first.tv_usec == u[6].ut_tv.tv_usec));
	/* one failure event (5 held), the login, its logout */
	EXPECT_EQ(3, self->got.n);
}

TEST_HARNESS_MAIN
