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
#include <unistd.h>
#include <sys/eventfd.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "common/util.h"
#include "sources/local.h"
#include "pipeline/queue.h"
#include "pipeline/serialize.h"

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

/* The strings of a local_config, owned. */
struct local_strings {
	char *sdk_path, *wtmp, *btmp, *utmp, *state;
};

struct local {
	struct local_config cfg;	/* strings point into str */
	struct local_strings str;
	struct ser *ser;
	struct queue *q;
	struct sdk_server *sdk;
	struct login_watch *login;
	uint64_t next_snapshot_ms;	/* 0: not yet scheduled */
	uint64_t last_snapshot_ms;	/* 0: none yet */
	/* ListeningPorts' collection in a thread (snapshot.h: ports_job) */
	int ports_efd;			/* its end; -1: collect in place */
	struct ports_job *ports_job;	/* the one in flight, or NULL */
	bool ports_inplace_logged;
	/* PackageInventory: sent at each snapshot and when it changes */
	uint64_t pkg_stamp, next_pkg_check_ms;
	uint8_t pkg_digest[32];
	bool pkg_sent;
	struct local_stats st;		/* st.sdk: of SDK sockets closed */
	struct batch batch[MSG_KIND_N];
	double tokens;			/* the budget of SDK + logins */
	uint64_t refill_ms;
	void (*log)(int level, const char *fmt, ...);
};

void local_config_defaults(struct local_config *c)
{
	memset(c, 0, sizeof(*c));
	c->sdk = true;
	sdk_server_config_defaults(&c->sdk_cfg);
	c->logins = true;
	c->login_cfg.state_path = "/run/iotsec/login.state";
	c->login_cfg.aggregate_ms = 60 * 1000;
	c->rate = 100;
	c->burst = 500;
	c->snapshot_ms = 3600 * 1000;
	c->first_snapshot_ms = 10 * 1000;
	c->listening_ports = c->local_users = true;
	c->system_information = c->os_baseline = true;
	snapshot_config_defaults(&c->snap_cfg);
}

static void strings_free(struct local_strings *s)
{
	free(s->sdk_path);
	free(s->wtmp);
	free(s->btmp);
	free(s->utmp);
	free(s->state);
	memset(s, 0, sizeof(*s));
}

static int dup_opt(const char *in, char **out)
{
	*out = NULL;
	if (!in)
		return 0;
	*out = strdup(in);
	return *out ? 0 : -ENOMEM;
}

/* DST = SRC with its strings copied into STR. */
static int config_copy(struct local_config *dst, struct local_strings *str,
		       const struct local_config *src)
{
	*dst = *src;
	if (dup_opt(src->sdk_cfg.path, &str->sdk_path) ||
	    dup_opt(src->login_cfg.wtmp_path, &str->wtmp) ||
	    dup_opt(src->login_cfg.btmp_path, &str->btmp) ||
	    dup_opt(src->login_cfg.utmp_path, &str->utmp) ||
	    dup_opt(src->login_cfg.state_path, &str->state)) {
		strings_free(str);
		return -ENOMEM;
	}
	dst->sdk_cfg.path = str->sdk_path;
	dst->login_cfg.wtmp_path = str->wtmp;
	dst->login_cfg.btmp_path = str->btmp;
	dst->login_cfg.utmp_path = str->utmp;
	dst->login_cfg.state_path = str->state;
	return 0;
}

static void flush_kind(struct local *l, enum msg_kind kind)
{
	struct batch *b = &l->batch[kind];
	size_t i;

	if (!b->n)
		return;
	queue_send_local_texts(l->q, kind, b->text, b->len, b->n);
	for (i = 0; i < b->n; i++)
		free(b->text[i]);
	b->n = 0;
}

void local_flush(struct local *l)
{
	int k;

	if (!l)
		return;
	login_watch_flush(l->login);
	for (k = 0; k < MSG_KIND_N; k++)
		flush_kind(l, k);
}

/* Complete EV (taken) with Id and timestamps, and batch it. */
static int emit(struct local *l, struct json_object *ev, enum msg_kind kind)
{
	struct batch *b;
	const char *text;
	char *copy;
	size_t len;

	if (ser_stamp(l->ser, ev, boot_ns()))
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

/* One token of the local budget, or false. */
static bool budget_take(struct local *l)
{
	uint64_t now = mono_ms();

	if (!l->refill_ms) {
		l->tokens = l->cfg.burst;
	} else {
		l->tokens += (double)(now - l->refill_ms) * l->cfg.rate /
			     1000.0;
		if (l->tokens > l->cfg.burst)
			l->tokens = l->cfg.burst;
	}
	l->refill_ms = now;
	if (l->tokens < 1.0)
		return false;
	l->tokens -= 1.0;
	return true;
}

static int on_sdk(void *arg, struct json_object *ev, enum sdk_kind kind,
		  const struct sdk_peer *peer)
{
	struct local *l = arg;

	(void)peer;	/* already stamped into the event */
	if (!budget_take(l)) {
		json_object_put(ev);
		return -ENOBUFS;	/* counted by the server */
	}
	return emit(l, ev, kind == SDK_KIND_CUSTOM ? MSG_EXTENDED : MSG_AZURE);
}

static void on_login(void *arg, struct json_object *ev)
{
	struct local *l = arg;

	if (!budget_take(l)) {
		json_object_put(ev);
		l->st.logins_refused++;
		return;
	}
	if (!emit(l, ev, MSG_AZURE))
		l->st.logins++;
}

/* Stop the login watcher, its pending aggregates emitted and counted. */
static void logins_stop(struct local *l)
{
	if (!l->login)
		return;
	login_watch_flush(l->login);
	l->st.logins_aggregated += login_watch_aggregated(l->login);
	login_watch_close(l->login);
	l->login = NULL;
}

static void snapshot_emit(struct local *l, struct json_object *ev)
{
	if (!ev)
		l->st.failed++;
	else if (!emit(l, ev, MSG_AZURE))
		l->st.snapshots++;
}

/*
 * ListeningPorts: its /proc walk goes to a thread, the event comes when
 * the thread is done (ports_done()). One at a time: a timer that fires
 * while one is in flight skips this round's. No thread: in place, as
 * before there was one, said once.
 */
static void ports_start(struct local *l)
{
	const char *proc = l->cfg.snap_cfg.proc;
	int ret;

	if (l->ports_job) {
		l->log(LOG_WARNING, "ListeningPorts: the last collection "
		       "(%s/*/fd) is still running; skipping this one",
		       ports_job_proc(l->ports_job));
		return;
	}
	ret = ports_job_start(&l->ports_job, proc, l->ports_efd);
	if (!ret)
		return;
	if (!l->ports_inplace_logged)
		l->log(LOG_WARNING, "ListeningPorts: no thread for the "
		       "collection (%s); collecting in the loop",
		       strerror(-ret));
	l->ports_inplace_logged = true;
	snapshot_emit(l, snapshot_listening_ports(&l->cfg.snap_cfg));
}

/*
 * The thread is done: the event, unless a reload turned ListeningPorts
 * off or moved /proc meanwhile (then the scan is dropped).
 */
static void ports_done(struct local *l)
{
	struct ports_scan *scan;
	uint64_t x;
	bool keep;

	if (read(l->ports_efd, &x, sizeof(x)) != sizeof(x) || !l->ports_job)
		return;
	keep = l->cfg.listening_ports &&
	       str_same(ports_job_proc(l->ports_job), l->cfg.snap_cfg.proc);
	/* the thread wrote its last word: joining it does not wait */
	scan = ports_job_end(l->ports_job);
	l->ports_job = NULL;
	if (keep)
		snapshot_emit(l, scan ? snapshot_ports_event(scan) : NULL);
	snapshot_ports_free(scan);
}

/*
 * PackageInventory: at the snapshot interval (FORCE), and between them
 * when the status files changed (their stat, every LOCAL_PKG_CHECK_MS)
 * and the package list with them (its digest).
 */
#define LOCAL_PKG_CHECK_MS (60 * 1000)

static void packages(struct local *l, bool force)
{
	struct json_object *evs;
	struct pkg_list pl;
	uint8_t d[32];
	uint64_t stamp = pkg_stamp(&l->cfg.snap_cfg);

	if (!force && stamp == l->pkg_stamp)
		return;
	l->pkg_stamp = stamp;
	if (pkg_collect(&l->cfg.snap_cfg, &pl)) {
		pkg_list_free(&pl);
		l->st.failed++;
		return;
	}
	pkg_digest(&pl, d);
	if (!force && l->pkg_sent && !memcmp(d, l->pkg_digest, sizeof(d))) {
		pkg_list_free(&pl);
		return;
	}
	if (pl.truncated)
		l->log(LOG_WARNING, "PackageInventory: more than %d packages; "
		       "the rest is left out", PKG_MAX);
	evs = snapshot_packages_events(&pl);
	pkg_list_free(&pl);
	if (!evs) {
		l->st.failed++;
		return;
	}
	for (size_t i = 0; i < json_object_array_length(evs); i++)
		if (!emit(l, json_object_get(json_object_array_get_idx(evs, i)),
			  MSG_EXTENDED))
			l->st.snapshots++;
	json_object_put(evs);
	memcpy(l->pkg_digest, d, sizeof(d));
	l->pkg_sent = true;
}

static void snapshots(struct local *l)
{
	const struct local_config *c = &l->cfg;

	if (c->listening_ports)
		ports_start(l);
	if (c->local_users)
		snapshot_emit(l, snapshot_local_users(&c->snap_cfg));
	if (c->system_information)
		snapshot_emit(l, snapshot_system_information(&c->snap_cfg));
	if (c->os_baseline)
		snapshot_emit(l, snapshot_os_baseline(&c->snap_cfg));
	if (c->packages)
		packages(l, true);
}

static const char *group_name(gid_t gid, char *buf, size_t len)
{
	struct group *g;

	if (gid == (gid_t)-1)
		return "the daemon's group";
	g = getgrgid(gid);
	if (g)
		snprintf(buf, len, "group %s", g->gr_name);
	else
		snprintf(buf, len, "group %u", (unsigned int)gid);
	return buf;
}

static int sdk_start(struct local *l, const struct sdk_server_config *c,
		     struct sdk_server **s)
{
	char g[64];
	int ret = sdk_server_open(s, c, on_sdk, l);

	if (ret)
		l->log(LOG_ERR, "SDK socket %s: %s", c->path, strerror(-ret));
	else
		l->log(LOG_INFO, "SDK socket %s (mode %04o, %s)", c->path,
		       (unsigned int)c->mode, group_name(c->group, g, sizeof(g)));
	return ret;
}

static void logins_start(struct local *l)
{
	int ret = login_watch_open(&l->login, &l->cfg.login_cfg, on_login, l);

	if (ret)
		l->log(LOG_ERR, "login watcher: %s", strerror(-ret));
}

int local_open(struct local **lp, const struct local_config *c,
	       struct ser *ser, struct queue *q,
	       void (*log)(int level, const char *fmt, ...))
{
	struct local *l;

	*lp = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (config_copy(&l->cfg, &l->str, c)) {
		free(l);
		return -ENOMEM;
	}
	l->ser = ser;
	l->q = q;
	l->log = log;
	/* no eventfd: ListeningPorts is collected in place (ports_start) */
	l->ports_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->cfg.sdk)
		sdk_start(l, &l->cfg.sdk_cfg, &l->sdk);
	if (l->cfg.logins)
		logins_start(l);
	*lp = l;
	return 0;
}

static bool login_same(const struct login_config *a,
		       const struct login_config *b)
{
	return str_same(a->wtmp_path, b->wtmp_path) &&
	       str_same(a->btmp_path, b->btmp_path) &&
	       str_same(a->utmp_path, b->utmp_path) &&
	       str_same(a->state_path, b->state_path) &&
	       a->from_start == b->from_start &&
	       a->aggregate_ms == b->aggregate_ms;
}

/* FROM's counters into TO; the clients connected now are the caller's. */
static void sdk_stats_add(struct sdk_server_stats *to,
			  const struct sdk_server_stats *from)
{
	to->accepted += from->accepted;
	to->rejected += from->rejected;
	to->rate_limited += from->rate_limited;
	to->identity_refused += from->identity_refused;
	to->budget_refused += from->budget_refused;
	to->deliver_failed += from->deliver_failed;
	to->clients_accepted += from->clients_accepted;
	to->clients_refused += from->clients_refused;
	to->clients_rate_limited += from->clients_rate_limited;
	to->identity_unproven += from->identity_unproven;
	to->clients_dropped += from->clients_dropped;
}

/* Close the SDK socket, keeping its counters. */
static void sdk_stop(struct local *l)
{
	struct sdk_server_stats st;

	if (!l->sdk)
		return;
	sdk_server_get_stats(l->sdk, &st);
	sdk_stats_add(&l->st.sdk, &st);
	l->st.sdk.clients_dropped += st.clients;
	sdk_server_close(l->sdk);
	l->sdk = NULL;
}

void local_reconfigure(struct local *l, const struct local_config *c)
{
	struct local_config old = l->cfg, cfg;
	struct local_strings old_str = l->str, str = { 0 };
	struct sdk_server *s = NULL;
	int ret;

	if (config_copy(&cfg, &str, c)) {
		l->log(LOG_ERR, "local sources: out of memory; keeping their "
		       "configuration");
		return;
	}
	l->cfg = cfg;
	l->str = str;

	/* SDK socket */
	if (!cfg.sdk && l->sdk) {
		sdk_stop(l);
		l->log(LOG_INFO, "SDK socket %s closed", old.sdk_cfg.path);
	} else if (cfg.sdk && l->sdk &&
		   !strcmp(old.sdk_cfg.path, cfg.sdk_cfg.path)) {
		ret = sdk_server_update(l->sdk, &cfg.sdk_cfg);
		if (ret)
			l->log(LOG_ERR, "SDK socket %s: applying mode, group "
			       "and limits: %s", cfg.sdk_cfg.path,
			       strerror(-ret));
	} else if (cfg.sdk) {
		if (!sdk_start(l, &cfg.sdk_cfg, &s)) {
			if (l->sdk)
				l->log(LOG_INFO, "SDK socket %s closed, its "
				       "clients disconnected", old.sdk_cfg.path);
			sdk_stop(l);
			l->sdk = s;
		} else if (l->sdk) {
			l->log(LOG_ERR, "keeping the SDK socket %s",
			       old.sdk_cfg.path);
			/* the strings of the running socket */
			free(l->str.sdk_path);
			l->str.sdk_path = old_str.sdk_path;
			old_str.sdk_path = NULL;
			l->cfg.sdk_cfg = old.sdk_cfg;
		}
	}

	/* login watcher: restarted when its files changed */
	if (!cfg.logins || !old.logins ||
	    !login_same(&old.login_cfg, &cfg.login_cfg)) {
		if (l->login && !cfg.logins)
			l->log(LOG_INFO, "login watcher stopped");
		logins_stop(l);
		if (cfg.logins)
			logins_start(l);
	}

	/* snapshots: the new interval counts from the last one */
	if (!cfg.snapshot_ms) {
		l->next_snapshot_ms = 0;
	} else if (cfg.snapshot_ms != old.snapshot_ms && l->last_snapshot_ms) {
		uint64_t now = mono_ms();

		l->next_snapshot_ms = l->last_snapshot_ms + cfg.snapshot_ms;
		if (l->next_snapshot_ms < now)
			l->next_snapshot_ms = now;
	}
	strings_free(&old_str);
}

int local_fds(const struct local *l, int *fds, int max)
{
	int n = 0;

	if (l->sdk && n < max)
		fds[n++] = sdk_server_fd(l->sdk);
	if (l->login && n < max)
		fds[n++] = login_watch_fd(l->login);
	if (l->ports_efd >= 0 && n < max)
		fds[n++] = l->ports_efd;
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
	if (l->ports_efd >= 0 && fd == l->ports_efd) {
		ports_done(l);
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
	if (l->login) {
		uint64_t t = login_watch_tick(l->login, now_ms);

		if (t < next)
			next = t;
	}
	if (l->cfg.snapshot_ms) {
		if (!l->next_snapshot_ms)
			l->next_snapshot_ms = now_ms + l->cfg.first_snapshot_ms;
		if (now_ms >= l->next_snapshot_ms) {
			snapshots(l);
			l->last_snapshot_ms = now_ms;
			l->next_snapshot_ms = now_ms + l->cfg.snapshot_ms;
		}
		if (l->next_snapshot_ms - now_ms < next)
			next = l->next_snapshot_ms - now_ms;
	}
	if (l->cfg.packages && l->pkg_sent) {
		if (now_ms >= l->next_pkg_check_ms) {
			packages(l, false);
			l->next_pkg_check_ms = now_ms + LOCAL_PKG_CHECK_MS;
		}
		if (l->next_pkg_check_ms - now_ms < next)
			next = l->next_pkg_check_ms - now_ms;
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
	struct sdk_server_stats s = { 0 };

	*st = l->st;
	if (l->login)
		st->logins_aggregated += login_watch_aggregated(l->login);
	if (l->sdk)
		sdk_server_get_stats(l->sdk, &s);
	sdk_stats_add(&st->sdk, &s);
	st->sdk.clients = s.clients;
}

void local_close(struct local *l)
{
	if (!l)
		return;
	logins_stop(l);
	/* a collection in flight: waited for, its scan dropped */
	snapshot_ports_free(ports_job_end(l->ports_job));
	if (l->ports_efd >= 0)
		close(l->ports_efd);
	local_flush(l);
	sdk_server_close(l->sdk);
	strings_free(&l->str);
	free(l);
}
