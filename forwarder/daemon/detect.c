// SPDX-License-Identifier: MIT
/*
 * The daemon's side of the detection rules (pipeline/rules.h): loading
 * them at start and at each reload (rules.dir's files, then the rules:
 * section of the configuration file), and sending their alerts at alert
 * priority. Rules that do not load fail the start; at a reload they leave
 * the running rules in place.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/users.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "pipeline/aggregate.h"
#include "pipeline/hash.h"
#include "pipeline/ioc.h"
#include "pipeline/rules_priv.h"

static void rules_turn_off(const struct config *c, struct ruleset *rs);

static void on_alert(void *ctx, const char *text, size_t len)
{
	struct daemon *d = ctx;
	char *t = (char *)text;

	queue_send_alerts(&d->queue, &t, &len, 1);
}

/*
 * rules.dir, or "rules" next to the configuration file (so that a
 * SYSCONFDIR that moves the file moves its rules too); NULL: none.
 */
static const char *rules_dir(const struct config *c, const char *config_path,
			     char *buf, size_t len)
{
	const char *slash;

	if (c->rules.dir)
		return *c->rules.dir ? c->rules.dir : NULL;
	slash = strrchr(config_path, '/');
	if (!slash)
		snprintf(buf, len, "rules");
	else
		snprintf(buf, len, "%.*s/rules", (int)(slash - config_path),
			 config_path);
	return buf;
}

int daemon_rules_compile(const struct config *c, const char *config_path,
			 struct ruleset **rs, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	const char *dir = rules_dir(c, config_path, buf, sizeof(buf));
	int ret;

	*rs = NULL;
	if (!c->rules.enabled)
		return 0;
	ret = rules_load(rs, dir, config_path, err, errlen);
	if (ret && !err[0])
		snprintf(err, errlen, "rules: %s", strerror(-ret));
	if (!ret && *rs)
		rules_turn_off(c, *rs);
	return ret;
}

int daemon_rules_load(struct daemon *d, bool starting)
{
	struct ruleset *rs = NULL;
	char err[512] = "";
	int ret;

	if (starting)
		rules_engine_init(&d->rules, &d->ser, on_alert, d);
	d->rules_loads++;
	daemon_detect_load(d);
	d->rules.aggregate_ms = d->cfg->rules.aggregate_ms;
	ret = daemon_rules_compile(d->cfg, d->config_path, &rs, err,
				   sizeof(err));
	if (ret) {
		logmsg(LOG_ERR, "%s", err);
		logmsg(LOG_ERR, starting ? "rules: not loaded" :
		       "rules: reload failed; keeping the running rules");
		return ret;
	}
	logmsg(LOG_INFO, "rules: %zu enabled", rules_count(rs));
	rules_engine_set(&d->rules, rs, mono_ms());
	return 0;
}

/* ---- executable hashes and indicator lists (docs/rules.md) ---- */

/*
 * An exec waiting for its hash: a copy of the event, sent when the hash
 * (or its failure) comes, or without it at its deadline; then kept until
 * the hash comes for the indicator check, which needs the event.
 */
struct pending {
	struct pending *next;
	uint64_t id, deadline_ms;
	bool sent;
	struct record *rec;
	char hex[2 * HASH_LEN + 1];
};

struct detect {
	struct ioc_engine ioc;
	struct ioc_engine twin;		/* the twin's lists: their alerts
					 * name them, not a file */
	struct hasher *hasher;
	struct hash_config hcfg;
	bool hasher_reg;		/* its fd in the epoll set */
	bool attach;			/* hashes.enabled */
	uint64_t wait_ms;
	struct pending *head, *tail;
	uint64_t next_id;
	uint64_t late;			/* sent before their hash */
	uint64_t not_queued;		/* sent without: queue full, memory */
};

static void ioc_warn(void *ctx, const char *msg)
{
	(void)ctx;
	logmsg(LOG_WARNING, "indicators: %s", msg);
}

static void pending_send(struct daemon *d, struct pending *p, const char *why)
{
	struct iotsec_event *ev = &p->rec->ev;

	if (p->sent)
		return;
	if (why)
		ev->sha256_status = (struct ev_str){ why, strlen(why) };
	queue_push(&d->queue, ev, mono_ms());
	ev->sha256_status = (struct ev_str){ 0 };
	p->sent = true;
}

static void pending_drop(struct detect *x, struct pending *p)
{
	struct pending **pp = &x->head;

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	if (x->tail == p) {
		x->tail = NULL;
		for (struct pending *q = x->head; q; q = q->next)
			x->tail = q;
	}
	record_free(p->rec);
	free(p);
}

/* Every exec waiting is sent now, without its hash; the hasher stops. */
static void hasher_end(struct daemon *d, struct detect *x)
{
	while (x->head) {
		pending_send(d, x->head, x->attach ? "late" : NULL);
		pending_drop(x, x->head);
	}
	if (!x->hasher)
		return;
	if (x->hasher_reg)
		daemon_epoll_set(d, hasher_fd(x->hasher), 0, EPOLL_CTL_DEL);
	x->hasher_reg = false;
	hasher_stop(x->hasher, 1000);
	x->hasher = NULL;
}

static void on_hash(struct daemon *d, struct detect *x,
		    const struct hash_result *r)
{
	struct pending *p;

	for (p = x->head; p && p->id != r->id; p = p->next)
		;
	if (!p)
		return;
	if (r->outcome == HASH_OK) {
		hash_hex(r->digest, p->hex);
		if (x->attach && !p->sent)
			p->rec->ev.sha256 = (struct ev_str){ p->hex,
							     2 * HASH_LEN };
		/* a listed executable: not part of what is normal */
		if (ioc_eval_hash(&x->ioc, &p->rec->ev, r->digest,
				  mono_ms()) +
		    ioc_eval_hash(&x->twin, &p->rec->ev, r->digest, mono_ms()))
			baseline_forget(&d->baseline, &p->rec->ev, mono_ms());
		pending_send(d, p, NULL);
	} else {
		pending_send(d, p, x->attach ?
			     hash_outcome_name(r->outcome) : NULL);
	}
	pending_drop(x, p);
}

static void take_hashes(struct daemon *d, struct detect *x)
{
	struct hash_result r[32];
	size_t n;

	while ((n = hasher_take(x->hasher, r, 32)) > 0)
		for (size_t i = 0; i < n; i++)
			on_hash(d, x, &r[i]);
}

/*
 * The twin's indicator lists (indicators.hashes ... in the desired
 * properties, checked when they came): a set of their own, named
 * "twin:indicators.KIND" in alerts, ENTRY N its line N. NULL: none.
 */
static struct ioc_set *twin_indicators(const struct detect_settings *c)
{
	static const char *const names[IOC_KIND_N] = {
		[IOC_HASH] = "twin:indicators.hashes",
		[IOC_ADDRESS] = "twin:indicators.addresses",
		[IOC_DOMAIN] = "twin:indicators.domains",
		[IOC_PATH] = "twin:indicators.paths",
	};
	struct ioc_set *s = NULL;
	size_t total = 0;

	for (int k = 0; k < IOC_KIND_N; k++)
		total += c->n_twin_ioc[k];
	if (!total)
		return NULL;
	s = ioc_new();
	for (int k = 0; s && k < IOC_KIND_N; k++) {
		struct buf text = { 0 };

		if (!c->n_twin_ioc[k])
			continue;
		for (unsigned int i = 0; i < c->n_twin_ioc[k]; i++) {
			buf_put(&text, c->twin_ioc[k][i],
				strlen(c->twin_ioc[k][i]));
			buf_put(&text, "\n", 1);
		}
		if (text.err || ioc_add_text(s, k, names[k],
					     (const char *)text.p, text.len,
					     ioc_warn, NULL) < 0) {
			ioc_free(s);
			s = NULL;
		}
		buf_free(&text);
	}
	if (!s) {
		logmsg(LOG_ERR, "indicators: out of memory");
		return NULL;
	}
	if (ioc_count(s, IOC_DOMAIN) && ioc_resolve_start(s, c->ioc_refresh_ms))
		logmsg(LOG_WARNING, "indicators: no thread to resolve the "
		       "twin's domains; they match nothing");
	logmsg(LOG_INFO, "indicators from the twin: %zu hashes, %zu "
	       "addresses, %zu domains, %zu paths", ioc_count(s, IOC_HASH),
	       ioc_count(s, IOC_ADDRESS), ioc_count(s, IOC_DOMAIN),
	       ioc_count(s, IOC_PATH));
	return s;
}

/*
 * The indicator lists from their files and the hasher as configured;
 * at start and at each SIGHUP. A list that cannot be read is logged and
 * empty; nothing here stops the daemon.
 */
void daemon_detect_load(struct daemon *d)
{
	const struct detect_settings *c = &d->cfg->detect;
	const char *files[IOC_KIND_N] = {
		[IOC_HASH] = c->ioc_hashes, [IOC_ADDRESS] = c->ioc_addresses,
		[IOC_DOMAIN] = c->ioc_domains, [IOC_PATH] = c->ioc_paths,
	};
	struct detect *x = d->detect;
	struct hash_config hc;
	struct ioc_set *set = NULL, *twin_set;
	bool want;

	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x) {
			logmsg(LOG_ERR, "indicators: out of memory");
			return;
		}
		ioc_engine_init(&x->ioc, &d->ser, on_alert, d);
		ioc_engine_init(&x->twin, &d->ser, on_alert, d);
		d->detect = x;
	}
	x->ioc.aggregate_ms = d->cfg->rules.aggregate_ms;
	x->twin.aggregate_ms = d->cfg->rules.aggregate_ms;
	if (ioc_load(&set, files, ioc_warn, NULL))
		logmsg(LOG_ERR, "indicators: out of memory");
	if (set && ioc_resolve_start(set, c->ioc_refresh_ms))
		logmsg(LOG_WARNING, "indicators: no thread to resolve the "
		       "domains; they match nothing");
	if (set && (ioc_count(set, IOC_HASH) || ioc_count(set, IOC_ADDRESS) ||
		    ioc_count(set, IOC_DOMAIN) || ioc_count(set, IOC_PATH)))
		logmsg(LOG_INFO, "indicators: %zu hashes, %zu addresses, "
		       "%zu domains, %zu paths", ioc_count(set, IOC_HASH),
		       ioc_count(set, IOC_ADDRESS), ioc_count(set, IOC_DOMAIN),
		       ioc_count(set, IOC_PATH));
	ioc_engine_set(&x->ioc, set, mono_ms());
	twin_set = twin_indicators(c);
	ioc_engine_set(&x->twin, twin_set, mono_ms());

	/* hashes are computed for ProcessCreate or for a hash list */
	want = c->hash_enabled || (set && ioc_count(set, IOC_HASH)) ||
	       (twin_set && ioc_count(twin_set, IOC_HASH));
	hash_config_defaults(&hc);
	hc.cache_max = c->hash_cache;
	hc.max_size = c->hash_max_size;
	hc.max_ms = c->hash_max_ms;
	x->attach = c->hash_enabled;
	x->wait_ms = c->hash_wait_ms;
	if (x->hasher && (!want || memcmp(&hc, &x->hcfg, sizeof(hc))))
		hasher_end(d, x);
	if (want && !x->hasher) {
		int ret = hasher_start(&x->hasher, &hc);

		if (ret)
			logmsg(LOG_ERR, "hashes: no worker thread (%s); "
			       "executables are not hashed", strerror(-ret));
		x->hcfg = hc;
	}
}

unsigned int daemon_detect_check(struct daemon *d,
				 const struct iotsec_event *ev)
{
	struct detect *x = d->detect;

	return x ? ioc_eval(&x->ioc, ev, mono_ms()) +
		   ioc_eval(&x->twin, ev, mono_ms()) : 0;
}

void daemon_detect_event(struct daemon *d, const struct iotsec_event *ev)
{
	struct detect *x = d->detect;
	uint64_t now = mono_ms();
	struct hash_ident exe_id = {
		.dev = ev->exe_dev, .ino = ev->exe_ino,
		.ctime_sec = ev->exe_ctime_sec,
		.ctime_nsec = ev->exe_ctime_nsec,
	};
	struct pending *p;
	int ret;

	if (!x || !x->hasher || ev->type != IOTSEC_EVENT_EXEC) {
		queue_push(&d->queue, ev, now);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p)
		p->rec = record_new(ev);
	ret = p && p->rec ? hasher_submit(x->hasher, x->next_id, ev->tgid,
					  ev->exe.s, ev->exe.len, ev->time_ns,
					  ev->exe_id ? &exe_id : NULL) :
			    -ENOMEM;
	if (ret) {
		/*
		 * The hasher's queue full (a flood of execs) or no memory:
		 * no hash, and the event says so (with hashes.enabled)
		 */
		struct iotsec_event copy = *ev;
		const char *why = ret == -EAGAIN ? "queue-full" :
				  hash_outcome_name(HASH_NOMEM);

		if (p)
			record_free(p->rec);
		free(p);
		x->not_queued++;
		if (x->attach)
			copy.sha256_status = (struct ev_str){ why,
							      strlen(why) };
		queue_push(&d->queue, &copy, now);
		return;
	}
	p->id = x->next_id++;
	p->deadline_ms = now + x->wait_ms;
	if (x->tail)
		x->tail->next = p;
	else
		x->head = p;
	x->tail = p;
}

bool daemon_detect_handle(struct daemon *d, int fd)
{
	struct detect *x = d->detect;

	if (!x || !x->hasher || fd != hasher_fd(x->hasher))
		return false;
	take_hashes(d, x);
	return true;
}

uint64_t daemon_detect_tick(struct daemon *d, uint64_t now_ms)
{
	struct detect *x = d->detect;
	uint64_t next, t;

	if (!x)
		return UINT64_MAX;
	/* the epoll set exists only after the first load */
	if (x->hasher && !x->hasher_reg && d->epfd > 0)
		x->hasher_reg = !daemon_epoll_set(d, hasher_fd(x->hasher),
						  EPOLLIN, EPOLL_CTL_ADD);
	next = ioc_tick(&x->ioc, now_ms);
	t = ioc_tick(&x->twin, now_ms);
	if (t < next)
		next = t;
	for (struct pending *p = x->head; p; p = p->next) {
		if (p->sent)
			continue;
		if (p->deadline_ms <= now_ms) {
			pending_send(d, p, x->attach ? "late" : NULL);
			x->late++;
		} else if (p->deadline_ms - now_ms < next) {
			next = p->deadline_ms - now_ms;
		}
	}
	return next;
}

void daemon_detect_flush(struct daemon *d)
{
	struct detect *x = d->detect;
	uint64_t end;

	if (!x)
		return;
	/* the execs waiting get their wait, at most, then go */
	end = mono_ms() + x->wait_ms;
	while (x->hasher && x->head) {
		struct pollfd pfd = { hasher_fd(x->hasher), POLLIN, 0 };
		uint64_t now = mono_ms();

		/* computed once: END - NOW never wraps to a poll forever */
		if (now >= end)
			break;
		if (poll(&pfd, 1, (int)(end - now)) < 0 && errno != EINTR)
			break;
		take_hashes(d, x);
	}
	while (x->head) {
		pending_send(d, x->head, x->attach ? "late" : NULL);
		pending_drop(x, x->head);
	}
	ioc_flush(&x->ioc, mono_ms());
	ioc_flush(&x->twin, mono_ms());
}

void daemon_detect_fini(struct daemon *d)
{
	struct detect *x = d->detect;
	struct hasher_stats st;

	if (!x)
		return;
	if (x->hasher) {
		hasher_stats(x->hasher, &st);
		logmsg(LOG_INFO, "hashes: %llu executables, %llu from the "
		       "cache (%llu read), %llu without a hash in time, "
		       "%llu not queued", (unsigned long long)st.submitted,
		       (unsigned long long)st.cache.hits,
		       (unsigned long long)st.cache.misses,
		       (unsigned long long)x->late,
		       (unsigned long long)x->not_queued);
	}
	hasher_end(d, x);
	ioc_engine_fini(&x->ioc);
	ioc_engine_fini(&x->twin);
	free(x);
	d->detect = NULL;
}

/* ---- rules turned off by name; the learned baseline ---- */

/*
 * rules.disabled (the YAML's or the twin's): each named rule off, then
 * the per-type index without them. A name no rule has is logged, not an
 * error: a fleet's list may name rules some devices do not have.
 */
static void rules_turn_off(const struct config *c, struct ruleset *rs)
{
	for (unsigned int i = 0; i < c->baseline.n_rules_off; i++) {
		const char *name = c->baseline.rules_off[i];
		bool found = false;

		for (size_t j = 0; j < rs->n_rules; j++) {
			if (strcmp(rs->rules[j].name, name))
				continue;
			rs->rules[j].enabled = false;
			found = true;
		}
		if (!found)
			logmsg(LOG_NOTICE, "rules.disabled: no rule named %s",
			       name);
	}
	/* every type the index has (rules may add types of their own) */
	for (size_t t = 0; t < ARRAY_SIZE(rs->n_by_type); t++) {
		size_t k = 0;

		for (size_t j = 0; j < rs->n_by_type[t]; j++)
			if (rs->by_type[t][j]->enabled)
				rs->by_type[t][k++] = rs->by_type[t][j];
		rs->n_by_type[t] = k;
	}
}

/* baseline.state_file, or baseline next to the spool; "" not kept */
static void baseline_path(const struct config *c, char *buf, size_t len)
{
	const char *spool = c->spool.path ? c->spool.path : IOTSEC_SPOOL_PATH;
	const char *slash;

	if (c->baseline.state) {
		snprintf(buf, len, "%s", c->baseline.state);
		return;
	}
	slash = strrchr(spool, '/');
	if (!*spool || !slash)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%.*s/baseline", (int)(slash - spool),
			 spool);
}

static void baseline_note(void *ctx, const char *msg)
{
	(void)ctx;
	logmsg(LOG_WARNING, "baseline: %s", msg);
}

int daemon_baseline_config(struct daemon *d, bool starting)
{
	const struct config *c = d->cfg;
	char path[PATH_MAX];
	bool was = d->baseline.enabled;
	int ret;

	if (starting) {
		baseline_init(&d->baseline, &d->ser, on_alert, d);
		d->baseline.note = baseline_note;
	}
	baseline_path(c, path, sizeof(path));
	ret = baseline_configure(&d->baseline, c->baseline.enabled,
				 c->baseline.window_ms,
				 c->baseline.max_entries, path,
				 c->rules.aggregate_ms, mono_ms());
	if (ret == -ENOMEM) {
		logmsg(LOG_ERR, "baseline: out of memory");
		return ret;
	}
	if (ret)
		logmsg(LOG_WARNING, "baseline: %s; a new learning window "
		       "starts", d->baseline.error);
	if (c->baseline.enabled && (starting || !was))
		logmsg(LOG_INFO, "baseline: %s, %zu entries%s%s",
		       baseline_state(&d->baseline, mono_ms()),
		       d->baseline.model.n, *path ? ", kept in " : "", path);
	return 0;
}

void daemon_detect_apply(struct daemon *d, const struct config *old)
{
	const struct config *c = d->cfg;
	bool same = old->rules.enabled == c->rules.enabled &&
		    old->rules.aggregate_ms == c->rules.aggregate_ms &&
		    str_same(old->rules.dir, c->rules.dir) &&
		    old->baseline.n_rules_off == c->baseline.n_rules_off &&
		    old->detect.hash_enabled == c->detect.hash_enabled &&
		    old->detect.ioc_refresh_ms == c->detect.ioc_refresh_ms;

	for (unsigned int i = 0; same && i < c->baseline.n_rules_off; i++)
		same = !strcmp(old->baseline.rules_off[i],
			       c->baseline.rules_off[i]);
	/* the twin's indicator lists */
	for (int k = 0; same && k < TWIN_IOC_LISTS; k++) {
		same = old->detect.n_twin_ioc[k] == c->detect.n_twin_ioc[k];
		for (unsigned int i = 0; same && i < c->detect.n_twin_ioc[k];
		     i++)
			same = !strcmp(old->detect.twin_ioc[k][i],
				       c->detect.twin_ioc[k][i]);
	}
	/* SIGHUP reloads the rules anyway; the twin needs this */
	if (!same)
		daemon_rules_load(d, false);
	daemon_baseline_config(d, false);
}

void daemon_baseline_request(struct daemon *d, int what)
{
	bool reset = what == BASELINE_REQ_RESET;
	int ret;

	if (what == BASELINE_REQ_SAVE) {
		if (d->baseline.path && baseline_save(&d->baseline))
			logmsg(LOG_WARNING, "baseline: %s", d->baseline.error);
		stats_write_file(d);
		return;
	}
	if (what != BASELINE_REQ_RESET && what != BASELINE_REQ_RELEARN) {
		logmsg(LOG_WARNING, "SIGUSR1 without a baseline request "
		       "(iotsecctl baseline reset|relearn sends one); ignored");
		return;
	}
	baseline_flush(&d->baseline, mono_ms());
	ret = baseline_restart(&d->baseline, reset, mono_ms());
	if (ret)
		logmsg(LOG_WARNING, "baseline: %s", d->baseline.error);
	logmsg(LOG_NOTICE, "baseline: %s; learning for %llu s from now%s",
	       reset ? "reset, the model emptied" :
	       "re-learning, the model kept",
	       (unsigned long long)(d->baseline.window_ms / 1000),
	       d->baseline.enabled ? "" : " (baseline.enabled is false: "
	       "nothing is learned until it is on)");
	/* iotsecctl waits for the counter in the stats file */
	stats_write_file(d);
}

static struct ev_str ev_string(const char *s)
{
	return (struct ev_str){ s, strlen(s) };
}

/*
 * The boot time of a record's wall-clock time: attempts read late (after a
 * restart, from the saved offset) keep their spacing for `within`; a time
 * ahead of now, or before boot, is now.
 */
static uint64_t record_boot_ns(const struct timeval *tv)
{
	int64_t now = boot_ns(), real = clock_ns(CLOCK_REALTIME),
		t = (int64_t)tv->tv_sec * 1000000000LL +
		    (int64_t)tv->tv_usec * 1000LL,
		ago = real - t;

	return ago > 0 && ago < now ? (uint64_t)(now - ago) : (uint64_t)now;
}

/*
 * A login attempt (sources/login.h) as an event of type RULES_EVENT_LOGIN
 * (pipeline/rules.h), at the record's time.
 */
static void on_login_record(void *arg, const struct login_record *r)
{
	struct daemon *d = arg;
	struct iotsec_event ev = {
		.type = RULES_EVENT_LOGIN,
		.time_ns = record_boot_ns(&r->tv),
		.tgid = r->pid,
		.tid = r->pid,
		.uid = UINT32_MAX,
		.euid = UINT32_MAX,
		.gid = UINT32_MAX,
		.loginuid = UINT32_MAX,
		.result = r->failed ? -EACCES : 0,
	};
	uid_t uid;

	if (r->user[0]) {
		ev.user = ev_string(r->user);
		if (users_uid(r->user, &uid))
			ev.uid = ev.euid = uid;
	}
	if (r->exe[0])
		ev.proc_exe = ev_string(r->exe);
	if (inet_pton(AF_INET, r->addr, ev.raddr) == 1)
		ev.family = AF_INET;
	else if (inet_pton(AF_INET6, r->addr, ev.raddr) == 1)
		ev.family = AF_INET6;
	rules_eval(&d->rules, &ev, mono_ms());
}

void daemon_rules_observe_logins(struct daemon *d, struct local_config *lc)
{
	lc->login_cfg.observe = on_login_record;
	lc->login_cfg.observe_arg = d;
}
