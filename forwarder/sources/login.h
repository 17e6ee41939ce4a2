/* SPDX-License-Identifier: MIT */
/*
 * Login events (Azure's Login schema) from the accounting files every
 * login path writes through the utmp API, with or without systemd:
 *
 *   wtmp  every login (USER_PROCESS) and logout (DEAD_PROCESS) record,
 *         appended by login(1), sshd, getty, su -l, ... -> Result Success
 *   btmp  every failed attempt, appended by login(1) and sshd -> Fail
 *
 * Both files are read incrementally from the last offset, so only new
 * records become events; inotify says when (on the files, and on their
 * directories for creation and rotation).
 *
 * Failed logins are aggregated by (user, remote address), as Azure
 * aggregates its other events: the first failure of a pair is an event at
 * once; the next ones within aggregate_ms become one event when the window
 * ends, carrying ExtraDetails HitCount, FirstTime and LastTime (UTC, the
 * records' own times) and the fields of the last record. A pair still
 * failing opens the next window, so a brute force costs one event per
 * window and pair. At most LOGIN_AGG_MAX pairs are tracked; a new pair
 * beyond them is an event of its own.
 *
 * utmp holds only the current sessions, rewritten in place. It is used
 * only on a device without wtmp (busybox can be built so): logins and
 * logouts are then the sessions that appear in or leave utmp between two
 * readings (Source "utmp" in ExtraDetails).
 *
 *   login_watch_open(&w, &cfg, emit, arg);
 *   epoll_ctl(loop, EPOLL_CTL_ADD, login_watch_fd(w), {EPOLLIN});
 *   ... on EPOLLIN: login_watch_handle(w);
 *   login_watch_close(w);
 */
#ifndef IOTSEC_LOGIN_H
#define IOTSEC_LOGIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <utmpx.h>

struct json_object;
struct login_watch;

/*
 * A login attempt as the accounting file recorded it, for an observer (the
 * detection rules): every successful login of wtmp and every failure of
 * btmp, before any aggregation. Strings are "" when absent; they live
 * during the call.
 */
struct login_record {
	const char *user;
	const char *addr;	/* the remote address as text */
	const char *exe;	/* the handling process's, while it runs */
	pid_t pid;
	bool failed;
	struct timeval tv;	/* the record's time (CLOCK_REALTIME) */
};

typedef void (*login_observe_fn)(void *arg, const struct login_record *r);

struct login_config {
	const char *wtmp_path;	/* NULL: _PATH_WTMP (/var/log/wtmp) */
	const char *btmp_path;	/* NULL: /var/log/btmp */
	const char *utmp_path;	/* NULL: _PATH_UTMPX; used without wtmp */
	/*
	 * Where the read offsets survive a restart (NULL: nowhere). Without
	 * it, or when a file's inode changed, reading starts at the end of
	 * what exists (from_start: at its beginning).
	 */
	const char *state_path;
	bool from_start;
	uint64_t aggregate_ms;	/* failed logins; 0: no aggregation */
	login_observe_fn observe;	/* NULL: none */
	void *observe_arg;
};

#define LOGIN_AGG_MAX 128

/* Takes EVENT, one Login event with one payload item. */
typedef void (*login_emit_fn)(void *arg, struct json_object *event);

int login_watch_open(struct login_watch **w, const struct login_config *c,
		     login_emit_fn emit, void *arg);
/* The inotify fd for the daemon's loop (EPOLLIN). */
int login_watch_fd(const struct login_watch *w);
/* Drain inotify and turn every new record into an event. 0 or -errno. */
int login_watch_handle(struct login_watch *w);
/* Rescan both files without waiting for inotify (timer fallback). */
int login_watch_scan(struct login_watch *w);
/*
 * Emit the aggregates whose window ended by NOW_MS (CLOCK_MONOTONIC ms);
 * returns ms until the next one ends (UINT64_MAX: none).
 */
uint64_t login_watch_tick(struct login_watch *w, uint64_t now_ms);
/* Emit every pending aggregate now (stop, reconfiguration). */
void login_watch_flush(struct login_watch *w);
/* Failed logins counted into an aggregate rather than emitted alone. */
uint64_t login_watch_aggregated(const struct login_watch *w);
void login_watch_close(struct login_watch *w);

/*
 * One record as a Login event, or NULL when the record is not a login or
 * logout (boot, run level, ...). FAILED: the record comes from btmp. The
 * logout records of wtmp carry no user name: USER (may be NULL) is the
 * name from the matching login, which the watcher remembers per line.
 */
struct json_object *login_event(const struct utmpx *u, bool failed,
				const char *user);

#endif /* IOTSEC_LOGIN_H */
