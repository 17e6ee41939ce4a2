// SPDX-License-Identifier: MIT
/*
 * Login events from wtmp and btmp (see login.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <paths.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/users.h"
#include "common/utf8.h"
#include "pipeline/serialize.h"
#include "sources/login.h"

#ifndef _PATH_BTMP
#define _PATH_BTMP "/var/log/btmp"
#endif

#define LOGIN_SESSIONS 64
#define REC sizeof(struct utmpx)
#define BATCH 64		/* records per read() */

enum { F_WTMP, F_BTMP, F_UTMP, F_N };
#define UTMP_MAX 256

struct tracked {
	char *path;
	int fd;			/* -1 while the file does not exist */
	dev_t dev;
	ino_t ino;
	off_t off;		/* next record to read */
	int wd, dir_wd;
	bool failed;		/* btmp */
};

struct session {
	char line[sizeof(((struct utmpx *)0)->ut_line) + 1];
	char user[sizeof(((struct utmpx *)0)->ut_user) + 1];
	pid_t pid;
};

/* Failed logins of one (user, remote address) in the current window. */
struct fail_agg {
	bool used;
	char user[sizeof(((struct utmpx *)0)->ut_user) + 1];
	char addr[INET6_ADDRSTRLEN];
	struct utmpx last;		/* the latest record */
	struct timeval first;		/* the first record counted */
	uint64_t hits;			/* counted since the last event */
	uint64_t end_ms;		/* the window ends */
};

/* What an aggregated Login event adds to ExtraDetails. */
struct agg_info {
	uint64_t hits;
	struct timeval first, last;
};

struct login_watch {
	struct tracked f[F_N];
	uint64_t aggregate_ms;
	struct fail_agg agg[LOGIN_AGG_MAX];
	uint64_t aggregated;
	int ifd;
	char *state_path;
	bool dirty;
	login_emit_fn emit;
	void *arg;
	login_observe_fn observe;
	void *observe_arg;
	struct session sess[LOGIN_SESSIONS];
	unsigned int sess_next;
	/* utmp fallback: the sessions utmp held last time */
	struct utmpx *live;
	size_t n_live;
	bool live_known;
};

/* A fixed utmp field (N bytes, NUL-padded) as printable UTF-8 into DST. */
static void field(char *dst, const char *src, size_t n)
{
	n = strnlen(src, n);
	memcpy(dst, src, n);
	dst[n] = '\0';
	utf8_clean(dst);
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* ut_addr_v6 (or ut_host when it is an address) as text, or "". */
static void remote_addr(const struct utmpx *u, const char *host, char *out,
			size_t len)
{
	const uint32_t *a = (const uint32_t *)u->ut_addr_v6;
	unsigned char buf[16];

	out[0] = '\0';
	if (a[0] || a[1] || a[2] || a[3]) {
		if (!a[1] && !a[2] && !a[3])
			inet_ntop(AF_INET, a, out, len);
		else
			inet_ntop(AF_INET6, a, out, len);
		return;
	}
	if (strlen(host) < len && (inet_pton(AF_INET, host, buf) == 1 ||
				   inet_pton(AF_INET6, host, buf) == 1))
		memcpy(out, host, strlen(host) + 1);
}

static void add_time(struct json_object *o, const char *k, time_t sec,
		     long usec)
{
	char buf[64];
	struct tm tm;

	if (!gmtime_r(&sec, &tm))
		return;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, usec);
	add_str(o, k, buf);
}

static struct json_object *event(const struct utmpx *u, bool failed,
				  const char *user, const char *source,
				  const struct agg_info *agg)
{
	char name[sizeof(u->ut_user) + 1], line[sizeof(u->ut_line) + 1],
	     host[sizeof(u->ut_host) + 1], addr[INET6_ADDRSTRLEN], exe[PATH_MAX],
	     buf[64];
	struct json_object *item, *payload, *extra;
	uid_t uid;
	bool logout;

	if (u->ut_type == USER_PROCESS || (failed && u->ut_type == LOGIN_PROCESS))
		logout = false;
	else if (u->ut_type == DEAD_PROCESS && !failed)
		logout = true;
	else
		return NULL;

	field(name, u->ut_user, sizeof(u->ut_user));
	if (!name[0] && user)
		snprintf(name, sizeof(name), "%s", user);
	field(line, u->ut_line, sizeof(u->ut_line));
	field(host, u->ut_host, sizeof(u->ut_host));
	remote_addr(u, host, addr, sizeof(addr));

	/* The handling process: still running for a login in progress. */
	proc_exe(u->ut_pid, exe, sizeof(exe));

	payload = json_object_new_array();
	item = json_object_new_object();
	extra = json_object_new_object();
	if (!payload || !item || !extra) {
		json_object_put(payload);
		json_object_put(item);
		json_object_put(extra);
		return NULL;
	}
	json_object_object_add(item, "ProcessId",
			       json_object_new_int(u->ut_pid));
	add_str(item, "UserName", name);
	/* /etc/passwd only (common/users.h): NSS could wait on the network */
	if (name[0] && users_uid(name, &uid)) {
		snprintf(buf, sizeof(buf), "%u", (unsigned int)uid);
		add_str(item, "UserId", buf);
	}
	add_str(item, "Operation", logout ? "Logout" : "Login");
	add_str(item, "Executable", exe);
	if (addr[0])
		add_str(item, "RemoteAddress", addr);
	add_str(item, "Result", failed ? "Fail" : "Success");

	add_str(extra, "Terminal", line);
	if (host[0])
		add_str(extra, "RemoteHost", host);
	snprintf(buf, sizeof(buf), "%d", (int)u->ut_session);
	add_str(extra, "SessionId", buf);
	add_time(extra, "RecordTime", u->ut_tv.tv_sec, u->ut_tv.tv_usec);
	add_str(extra, "Source", source);
	if (agg) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)agg->hits);
		add_str(extra, "HitCount", buf);
		add_time(extra, "FirstTime", agg->first.tv_sec,
			 agg->first.tv_usec);
		add_time(extra, "LastTime", agg->last.tv_sec, agg->last.tv_usec);
	}
	json_object_object_add(item, "ExtraDetails", extra);
	json_object_array_add(payload, item);
	return ser_event("Security", "Triggered", "Login", payload);
}

struct json_object *login_event(const struct utmpx *u, bool failed,
				const char *user)
{
	return event(u, failed, user, failed ? "btmp" : "wtmp", NULL);
}

static void agg_emit(struct login_watch *w, struct fail_agg *a)
{
	struct agg_info info = { .hits = a->hits, .first = a->first };
	struct json_object *ev;

	info.last.tv_sec = a->last.ut_tv.tv_sec;
	info.last.tv_usec = a->last.ut_tv.tv_usec;
	ev = event(&a->last, true, NULL, "btmp", &info);
	if (ev)
		w->emit(w->arg, ev);
	a->hits = 0;
}

/*
 * A failed login: true when it was counted into an aggregate (no event
 * now), false when it is to be an event of its own.
 */
static bool aggregate_failed(struct login_watch *w, const struct utmpx *u)
{
	char user[sizeof(u->ut_user) + 1], host[sizeof(u->ut_host) + 1],
	     addr[INET6_ADDRSTRLEN];
	struct fail_agg *a, *free_slot = NULL;
	uint64_t now = mono_ms();

	if (!w->aggregate_ms || (u->ut_type != USER_PROCESS &&
				 u->ut_type != LOGIN_PROCESS))
		return false;
	field(user, u->ut_user, sizeof(u->ut_user));
	field(host, u->ut_host, sizeof(u->ut_host));
	remote_addr(u, host, addr, sizeof(addr));
	for (a = w->agg; a < w->agg + LOGIN_AGG_MAX; a++) {
		if (!a->used) {
			if (!free_slot)
				free_slot = a;
			continue;
		}
		if (strcmp(a->user, user) || strcmp(a->addr, addr))
			continue;
		if (!a->hits) {
			a->first.tv_sec = u->ut_tv.tv_sec;
			a->first.tv_usec = u->ut_tv.tv_usec;
		}
		a->hits++;
		a->last = *u;
		w->aggregated++;
		return true;
	}
	/* the first of its pair: an event now, and a window opens */
	if (free_slot) {
		a = free_slot;
		memset(a, 0, sizeof(*a));
		a->used = true;
		memcpy(a->user, user, sizeof(user));
		memcpy(a->addr, addr, sizeof(addr));
		a->last = *u;
		a->end_ms = now + w->aggregate_ms;
	}
	return false;
}

uint64_t login_watch_tick(struct login_watch *w, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	struct fail_agg *a;

	for (a = w->agg; a < w->agg + LOGIN_AGG_MAX; a++) {
		if (!a->used)
			continue;
		if (a->end_ms <= now_ms) {
			if (!a->hits) {
				a->used = false;	/* quiet: forget it */
				continue;
			}
			agg_emit(w, a);
			a->end_ms = now_ms + w->aggregate_ms;
		}
		if (a->end_ms - now_ms < next)
			next = a->end_ms - now_ms;
	}
	return next;
}

void login_watch_flush(struct login_watch *w)
{
	struct fail_agg *a;

	if (!w)
		return;
	for (a = w->agg; a < w->agg + LOGIN_AGG_MAX; a++) {
		if (a->used && a->hits)
			agg_emit(w, a);
		a->used = false;
	}
}

uint64_t login_watch_aggregated(const struct login_watch *w)
{
	return w->aggregated;
}

/* Logout records of wtmp have no user: remember logins by line. */
static const char *session_user(struct login_watch *w, const struct utmpx *u)
{
	char line[sizeof(u->ut_line) + 1];
	unsigned int i;

	field(line, u->ut_line, sizeof(u->ut_line));
	for (i = 0; i < LOGIN_SESSIONS; i++) {
		struct session *s = &w->sess[i];

		if (!s->line[0] || strcmp(s->line, line))
			continue;
		if (u->ut_type == USER_PROCESS) {
			field(s->user, u->ut_user, sizeof(u->ut_user));
			s->pid = u->ut_pid;
			return NULL;
		}
		return s->user;
	}
	if (u->ut_type == USER_PROCESS && line[0]) {
		struct session *s = &w->sess[w->sess_next++ % LOGIN_SESSIONS];

		snprintf(s->line, sizeof(s->line), "%s", line);
		field(s->user, u->ut_user, sizeof(u->ut_user));
		s->pid = u->ut_pid;
	}
	return NULL;
}

static void forget_session(struct login_watch *w, const struct utmpx *u)
{
	char line[sizeof(u->ut_line) + 1];
	unsigned int i;

	field(line, u->ut_line, sizeof(u->ut_line));
	for (i = 0; i < LOGIN_SESSIONS; i++)
		if (w->sess[i].line[0] && !strcmp(w->sess[i].line, line))
			w->sess[i].line[0] = '\0';
}

/* A login or a failure, to the observer. */
static void observe(struct login_watch *w, const struct utmpx *u, bool failed)
{
	char user[sizeof(u->ut_user) + 1], host[sizeof(u->ut_host) + 1],
	     addr[INET6_ADDRSTRLEN], exe[PATH_MAX];
	struct login_record r = { user, addr, exe, u->ut_pid, failed,
				  { u->ut_tv.tv_sec, u->ut_tv.tv_usec } };

	if (!w->observe || !(u->ut_type == USER_PROCESS ||
			     (failed && u->ut_type == LOGIN_PROCESS)))
		return;
	field(user, u->ut_user, sizeof(u->ut_user));
	field(host, u->ut_host, sizeof(u->ut_host));
	remote_addr(u, host, addr, sizeof(addr));
	exe[0] = '\0';
	proc_exe(u->ut_pid, exe, sizeof(exe));
	w->observe(w->observe_arg, &r);
}

static void record(struct login_watch *w, struct tracked *t,
		   const struct utmpx *u)
{
	struct json_object *ev;
	const char *user = NULL;

	observe(w, u, t->failed);

	if (!t->failed && (u->ut_type == USER_PROCESS ||
			   u->ut_type == DEAD_PROCESS)) {
		user = session_user(w, u);
		/*
		 * A logout keeps the name of its login; the copy lives in the
		 * table until forget_session(), after the event is built.
		 */
	}
	if (t->failed && aggregate_failed(w, u))
		return;
	ev = login_event(u, t->failed, user);
	if (!t->failed && u->ut_type == DEAD_PROCESS)
		forget_session(w, u);
	if (ev)
		w->emit(w->arg, ev);
}

/* Read the whole records after t->off. */
static bool same_session(const struct utmpx *a, const struct utmpx *b)
{
	return a->ut_pid == b->ut_pid &&
	       !strncmp(a->ut_line, b->ut_line, sizeof(a->ut_line)) &&
	       !strncmp(a->ut_id, b->ut_id, sizeof(a->ut_id));
}

/*
 * utmp holds the current sessions, rewritten in place: compare them with
 * the last reading. Only when there is no wtmp (busybox built without
 * it), which would report the same logins.
 */
static void read_utmp(struct login_watch *w, struct tracked *t, bool emit)
{
	struct utmpx *now, rec;
	size_t n = 0, i, j;
	off_t off = 0;

	if (t->fd < 0 || w->f[F_WTMP].fd >= 0)
		return;
	now = calloc(UTMP_MAX, sizeof(*now));
	if (!now)
		return;
	while (n < UTMP_MAX && pread(t->fd, &rec, REC, off) == (ssize_t)REC) {
		off += REC;
		if (rec.ut_type == USER_PROCESS)
			now[n++] = rec;
	}
	for (i = 0; emit && w->live_known && i < n; i++) {
		for (j = 0; j < w->n_live; j++)
			if (same_session(&now[i], &w->live[j]))
				break;
		if (j == w->n_live) {
			struct json_object *ev = event(&now[i], false, NULL,
							"utmp", NULL);

			if (ev)
				w->emit(w->arg, ev);
		}
	}
	for (j = 0; emit && w->live_known && j < w->n_live; j++) {
		for (i = 0; i < n; i++)
			if (same_session(&now[i], &w->live[j]))
				break;
		if (i == n) {
			struct utmpx gone = w->live[j];
			struct json_object *ev;
			char user[sizeof(gone.ut_user) + 1];

			/* The logout keeps the name of its login. */
			memcpy(user, gone.ut_user, sizeof(gone.ut_user));
			user[sizeof(gone.ut_user)] = '\0';
			memset(gone.ut_user, 0, sizeof(gone.ut_user));
			gone.ut_type = DEAD_PROCESS;
			ev = event(&gone, false, user, "utmp", NULL);
			if (ev)
				w->emit(w->arg, ev);
		}
	}
	free(w->live);
	w->live = now;
	w->n_live = n;
	w->live_known = true;
}

static void read_new(struct login_watch *w, struct tracked *t)
{
	struct utmpx buf[BATCH];
	struct stat st;
	ssize_t n;
	size_t i;

	if (t->fd < 0)
		return;
	if (t == &w->f[F_UTMP]) {
		read_utmp(w, t, true);
		return;
	}
	if (fstat(t->fd, &st) == 0 && st.st_size < t->off)
		t->off = 0;	/* truncated in place */
	for (;;) {
		n = pread(t->fd, buf, sizeof(buf), t->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < (ssize_t)REC)
			break;
		/* A partial record stays until its writer finishes it. */
		for (i = 0; i < (size_t)n / REC; i++)
			record(w, t, &buf[i]);
		t->off += (off_t)((size_t)n / REC * REC);
		w->dirty = true;
	}
}

static void watch_file(struct login_watch *w, struct tracked *t)
{
	if (t->wd >= 0)
		inotify_rm_watch(w->ifd, t->wd);
	t->wd = inotify_add_watch(w->ifd, t->path,
				  IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF);
}

/* Open T if it (re)appeared; ATSTART: read it from its beginning. */
static void reopen(struct login_watch *w, struct tracked *t, bool atstart)
{
	struct stat st;
	int fd;

	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = fd;
	if (st.st_dev != t->dev || st.st_ino != t->ino)
		t->off = atstart ? 0 : st.st_size / REC * REC;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	watch_file(w, t);
	w->dirty = true;
}

static void check(struct login_watch *w, struct tracked *t)
{
	struct stat st;

	if (t->fd < 0) {
		/* Created since: everything in it is new. */
		reopen(w, t, true);
		read_new(w, t);
		return;
	}
	read_new(w, t);
	if (stat(t->path, &st) == 0 &&
	    (st.st_dev != t->dev || st.st_ino != t->ino)) {
		/* Rotated: the old file is finished, the new one is new. */
		reopen(w, t, true);
		read_new(w, t);
	}
}

static void save_state(struct login_watch *w)
{
	char tmp[PATH_MAX];
	FILE *f;
	int i;

	if (!w->state_path || !w->dirty)
		return;
	w->dirty = false;
	snprintf(tmp, sizeof(tmp), "%s.tmp", w->state_path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	for (i = 0; i < F_UTMP; i++)
		if (w->f[i].fd >= 0)
			fprintf(f, "%s %llu %llu %lld\n", w->f[i].path,
				(unsigned long long)w->f[i].dev,
				(unsigned long long)w->f[i].ino,
				(long long)w->f[i].off);
	if (fclose(f) == 0)
		rename(tmp, w->state_path);
	else
		unlink(tmp);
}

static void load_state(struct login_watch *w)
{
	char path[PATH_MAX + 1];
	unsigned long long dev, ino;
	long long off;
	FILE *f;
	int i;

	if (!w->state_path)
		return;
	f = fopen(w->state_path, "re");
	if (!f)
		return;
	while (fscanf(f, "%4096s %llu %llu %lld", path, &dev, &ino, &off) == 4) {
		for (i = 0; i < F_N; i++) {
			if (strcmp(path, w->f[i].path) || off < 0)
				continue;
			w->f[i].dev = dev;
			w->f[i].ino = ino;
			w->f[i].off = off;
		}
	}
	fclose(f);
}

int login_watch_scan(struct login_watch *w)
{
	int i;

	for (i = 0; i < F_N; i++)
		check(w, &w->f[i]);
	save_state(w);
	return 0;
}

int login_watch_handle(struct login_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	/* Which file changed does not matter: both are checked cheaply. */
	do {
		n = read(w->ifd, buf, sizeof(buf));
	} while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return login_watch_scan(w);
}

int login_watch_fd(const struct login_watch *w)
{
	return w->ifd;
}

int login_watch_open(struct login_watch **wp, const struct login_config *c,
		     login_emit_fn emit, void *arg)
{
	const char *paths[F_N] = {
		c->wtmp_path ? c->wtmp_path : _PATH_WTMP,
		c->btmp_path ? c->btmp_path : _PATH_BTMP,
		c->utmp_path ? c->utmp_path : _PATH_UTMPX,
	};
	struct login_watch *w;
	struct stat st;
	int i, ret = -ENOMEM;

	*wp = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->emit = emit;
	w->arg = arg;
	w->ifd = -1;
	w->aggregate_ms = c->aggregate_ms;
	w->observe = c->observe;
	w->observe_arg = c->observe_arg;
	for (i = 0; i < F_N; i++) {
		w->f[i].fd = -1;
		w->f[i].wd = w->f[i].dir_wd = -1;
		w->f[i].failed = i == F_BTMP;
		w->f[i].path = strdup(paths[i]);
		if (!w->f[i].path)
			goto err;
	}
	if (c->state_path) {
		w->state_path = strdup(c->state_path);
		if (!w->state_path)
			goto err;
	}
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		ret = -errno;
		goto err;
	}
	load_state(w);
	for (i = 0; i < F_N; i++) {
		struct tracked *t = &w->f[i];
		char *dir = strdup(t->path), *slash;

		if (!dir)
			goto err;
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		/* Creation and rotation show up on the directory. */
		t->dir_wd = inotify_add_watch(w->ifd, slash ? dir : ".",
					      IN_CREATE | IN_MOVED_TO);
		free(dir);
		if (stat(t->path, &st) == 0) {
			bool known = st.st_dev == t->dev && st.st_ino == t->ino &&
				     t->off <= st.st_size;

			if (!known)
				t->dev = t->ino = 0;
			reopen(w, t, c->from_start);
			if (known)
				t->off = t->off / REC * REC;
		}
	}
	/* The sessions at start are not news (unless from_start). */
	if (!c->from_start)
		read_utmp(w, &w->f[F_UTMP], false);
	*wp = w;
	/* Records written while we were away (state file), or all of them. */
	login_watch_scan(w);
	return 0;
err:
	login_watch_close(w);
	return ret;
}

void login_watch_close(struct login_watch *w)
{
	int i;

	if (!w)
		return;
	for (i = 0; i < F_N; i++) {
		if (w->f[i].fd >= 0)
			close(w->f[i].fd);
		free(w->f[i].path);
	}
	if (w->ifd >= 0)
		close(w->ifd);
	free(w->live);
	free(w->state_path);
	free(w);
}
