// SPDX-License-Identifier: MIT
/*
 * Local sources (see local.h): the glue between the SDK server, the login
 * watcher, the snapshots and the daemon's queue.
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <json-c/json.h>

#include "local.h"
#include "queue.h"
#include "serialize.h"

/*
 * Events wait up to LOCAL_BATCH_MS (or until LOCAL_BATCH_MAX of them) so
 * that a burst (logins, a busy SDK client, the four snapshots) goes out in
 * one message rather than one message each.
 */
#define LOCAL_BATCH_MS 500
#define LOCAL_BATCH_MAX 64

struct batch {
	char *text[LOCAL_BATCH_MAX];
	size_t len[LOCAL_BATCH_MAX];
	size_t n;
	uint64_t first_ms;
};

struct local {
	struct local_config cfg;
	struct ser *ser;
	struct queue *q;
	struct sdk_server *sdk;
	struct login_watch *login;
	uint64_t next_snapshot_ms;	/* 0: not yet scheduled */
	struct local_stats st;
	struct batch batch[MSG_KIND_N];
	void (*log)(int level, const char *fmt, ...);
};

void local_config_defaults(struct local_config *c)
{
	const char *v;

	memset(c, 0, sizeof(*c));
	c->sdk = true;
	sdk_server_config_defaults(&c->sdk_cfg);
	c->logins = true;
	c->login_cfg.state_path = "/run/iotsec/login.state";
	c->snapshot_ms = 3600 * 1000;
	c->first_snapshot_ms = 10 * 1000;
	snapshot_config_defaults(&c->snap_cfg);

	v = getenv("IOTSEC_SOCKET");
	if (v) {
		c->sdk = *v;
		c->sdk_cfg.path = v;
	}
	v = getenv("IOTSEC_SOCKET_MODE");
	if (v && *v)
		c->sdk_cfg.mode = (mode_t)strtoul(v, NULL, 8) & 0777;
	v = getenv("IOTSEC_SOCKET_GROUP");
	if (v && *v) {
		struct group *g = getgrnam(v);
		char *end;
		unsigned long gid = strtoul(v, &end, 10);

		if (g)
			c->sdk_cfg.group = g->gr_gid;
		else if (!*end)
			c->sdk_cfg.group = (gid_t)gid;
	}
	if (getenv("IOTSEC_WTMP") || getenv("IOTSEC_BTMP")) {
		c->login_cfg.wtmp_path = getenv("IOTSEC_WTMP");
		c->login_cfg.btmp_path = getenv("IOTSEC_BTMP");
		c->login_cfg.state_path = NULL;
		c->logins = (c->login_cfg.wtmp_path && *c->login_cfg.wtmp_path) ||
			    (c->login_cfg.btmp_path && *c->login_cfg.btmp_path);
	}
	v = getenv("IOTSEC_SNAPSHOT_INTERVAL");
	if (v)
		c->snapshot_ms = strtoull(v, NULL, 10);
	v = getenv("IOTSEC_FIRST_SNAPSHOT");
	if (v)
		c->first_snapshot_ms = strtoull(v, NULL, 10);
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static void flush_kind(struct local *l, enum msg_kind kind)
{
	struct batch *b = &l->batch[kind];
	size_t i;

	if (!b->n)
		return;
	queue_send_texts(l->q, kind, b->text, b->len, b->n);
	for (i = 0; i < b->n; i++)
		free(b->text[i]);
	b->n = 0;
}

void local_flush(struct local *l)
{
	int k;

	if (!l)
		return;
	for (k = 0; k < MSG_KIND_N; k++)
		flush_kind(l, k);
}

/* Complete EV (taken) with Id and timestamps, and batch it. */
static int emit(struct local *l, struct json_object *ev, enum msg_kind kind)
{
	char id[37], utc[32], loc[40];
	struct batch *b;
	const char *text;
	char *copy;
	size_t len;

	ser_uuid(l->ser, id);
	ser_time(l->ser, boot_ns(), utc, loc);
	if (json_object_object_add(ev, "Id", json_object_new_string(id)) ||
	    json_object_object_add(ev, "TimestampLocal",
				   json_object_new_string(loc)) ||
	    json_object_object_add(ev, "TimestampUTC",
				   json_object_new_string(utc)))
		goto err;
	text = json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN,
						 &len);
	copy = text ? strndup(text, len) : NULL;
	if (!copy)
		goto err;
	b = &l->batch[kind];
	if (!b->n)
		b->first_ms = mono_ms();
	b->text[b->n] = copy;
	b->len[b->n] = len;
	if (++b->n == LOCAL_BATCH_MAX)
		flush_kind(l, kind);
	json_object_put(ev);
	return 0;
err:
	l->st.failed++;
	json_object_put(ev);
	return -ENOMEM;
}

static int on_sdk(void *arg, struct json_object *ev, enum sdk_kind kind,
		  const struct sdk_peer *peer)
{
	struct local *l = arg;

	(void)peer;	/* already stamped into the event */
	return emit(l, ev, kind == SDK_KIND_CUSTOM ? MSG_EXTENDED : MSG_AZURE);
}

static void on_login(void *arg, struct json_object *ev)
{
	struct local *l = arg;

	if (!emit(l, ev, MSG_AZURE))
		l->st.logins++;
}

static void snapshots(struct local *l)
{
	struct json_object *ev[4];
	size_t i;

	ev[0] = snapshot_listening_ports(&l->cfg.snap_cfg);
	ev[1] = snapshot_local_users(&l->cfg.snap_cfg);
	ev[2] = snapshot_system_information(&l->cfg.snap_cfg);
	ev[3] = snapshot_os_baseline(&l->cfg.snap_cfg);
	for (i = 0; i < 4; i++) {
		if (!ev[i]) {
			l->st.failed++;
			continue;
		}
		if (!emit(l, ev[i], MSG_AZURE))
			l->st.snapshots++;
	}
}

int local_open(struct local **lp, const struct local_config *c,
	       struct ser *ser, struct queue *q,
	       void (*log)(int level, const char *fmt, ...))
{
	struct local *l;
	int ret;

	*lp = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = *c;
	l->ser = ser;
	l->q = q;
	l->log = log;
	if (c->sdk) {
		ret = sdk_server_open(&l->sdk, &c->sdk_cfg, on_sdk, l);
		if (ret)
			log(LOG_ERR, "SDK socket %s: %s", c->sdk_cfg.path,
			    strerror(-ret));
		else
			log(LOG_INFO, "SDK socket %s", c->sdk_cfg.path);
	}
	if (c->logins) {
		ret = login_watch_open(&l->login, &c->login_cfg, on_login, l);
		if (ret)
			log(LOG_ERR, "login watcher: %s", strerror(-ret));
	}
	*lp = l;
	return 0;
}

int local_fds(const struct local *l, int *fds, int max)
{
	int n = 0;

	if (l->sdk && n < max)
		fds[n++] = sdk_server_fd(l->sdk);
	if (l->login && n < max)
		fds[n++] = login_watch_fd(l->login);
	return n;
}

bool local_handle(struct local *l, int fd)
{
	int ret;

	if (l->sdk && fd == sdk_server_fd(l->sdk)) {
		ret = sdk_server_handle(l->sdk);
		if (ret)
			l->log(LOG_ERR, "SDK socket: %s", strerror(-ret));
		return true;
	}
	if (l->login && fd == login_watch_fd(l->login)) {
		ret = login_watch_handle(l->login);
		if (ret)
			l->log(LOG_ERR, "login watcher: %s", strerror(-ret));
		return true;
	}
	return false;
}

uint64_t local_tick(struct local *l, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	int k;

	if (!l)
		return next;
	if (l->cfg.snapshot_ms) {
		if (!l->next_snapshot_ms)
			l->next_snapshot_ms = now_ms + l->cfg.first_snapshot_ms;
		if (now_ms >= l->next_snapshot_ms) {
			snapshots(l);
			l->next_snapshot_ms = now_ms + l->cfg.snapshot_ms;
		}
		next = l->next_snapshot_ms - now_ms;
	}
	for (k = 0; k < MSG_KIND_N; k++) {
		struct batch *b = &l->batch[k];

		if (!b->n)
			continue;
		if (now_ms >= b->first_ms + LOCAL_BATCH_MS)
			flush_kind(l, k);
		else if (b->first_ms + LOCAL_BATCH_MS - now_ms < next)
			next = b->first_ms + LOCAL_BATCH_MS - now_ms;
	}
	return next;
}

void local_get_stats(const struct local *l, struct local_stats *st)
{
	*st = l->st;
	if (l->sdk)
		sdk_server_get_stats(l->sdk, &st->sdk);
}

void local_close(struct local *l)
{
	if (!l)
		return;
	local_flush(l);
	sdk_server_close(l->sdk);
	login_watch_close(l->login);
	free(l);
}
