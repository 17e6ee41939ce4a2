// SPDX-License-Identifier: MIT
/*
 * The learned baseline (baseline.h): a hash table of tuples learned in a
 * window, checked for every event after it; deviations become RuleAlerts.
 *
 * The file (docs/rules.md has it), one record a line, strings escaped
 * (%XX for '%' and every byte outside 0x21..0x7e; "%" alone is ""):
 *
 *   iotsec-baseline 2
 *   started <unix ms>
 *   learned <ms of learning counted, on the monotonic clock>
 *   ended 0|1
 *   full 0|1
 *   p <exe> <parent> <count>
 *   c <exe> <port> <protocol> in|out <count>
 *   l <exe> <port> <protocol> <count>
 *   end <records> <FNV-1a 64 of every byte before this line, hex>
 *
 * Anything else (a short file, a bad checksum, a stray byte) refuses it.
 * A version 1 file (no learned line) is read with the learning time it
 * had then (the wall clock since started) and written as version 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/fs.h"
#include "pipeline/aggregate.h"
#include "pipeline/baseline.h"
#include "pipeline/serialize.h"

#define FILE_MAGIC "iotsec-baseline 2\n"
#define FILE_MAGIC_V1 "iotsec-baseline 1\n"
/* a save at most this often while learning (and at the window's end,
 * a restart, the daemon's exit) */
#define SAVE_EVERY_MS 60000
/* learning time alone is saved less often: flash wears (exit saves it) */
#define SAVE_TIME_EVERY_MS (10 * 60000)
#define LINE_MAX_BYTES 32768

static uint64_t real_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t (*baseline_clock)(void) = real_ms;

static void save_reap(struct baseline *b, bool wait);
static void save_async(struct baseline *b);

static const char *const kind_rule[BL_KINDS] = {
	[BL_PROCESS] = "baseline-process",
	[BL_CONNECTION] = "baseline-connection",
	[BL_LISTEN] = "baseline-listen",
};

/* ---- tuples ---- */

struct bl_key {
	uint8_t kind, proto, dir;
	uint16_t port;
	struct ev_str exe, parent;
};

static struct ev_str trim(struct ev_str s)
{
	if (!s.s)
		return (struct ev_str){ "", 0 };
	while (s.len && !s.s[s.len - 1])
		s.len--;
	return s;
}

static bool key_of(const struct iotsec_event *ev, struct bl_key *k)
{
	memset(k, 0, sizeof(*k));
	switch (ev->type) {
	case IOTSEC_EVENT_EXEC:
		k->kind = BL_PROCESS;
		k->exe = trim(ev_exe(ev));
		k->parent = trim(ev->parent_exe);
		return true;
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
		if (!ev->family)
			return false;
		k->kind = BL_CONNECTION;
		k->exe = trim(ev_exe(ev));
		k->proto = ev->protocol;
		/* inbound: the service's port; the peer's is ephemeral */
		k->dir = ev->type == IOTSEC_EVENT_CONNECT ? BL_DIR_OUT :
			 BL_DIR_IN;
		k->port = k->dir == BL_DIR_OUT ? ev->rport : ev->lport;
		k->parent = (struct ev_str){ "", 0 };
		return true;
	case IOTSEC_EVENT_LISTEN:
		if (!ev->family)
			return false;
		k->kind = BL_LISTEN;
		k->exe = trim(ev_exe(ev));
		k->proto = ev->protocol;
		k->port = ev->lport;
		k->parent = (struct ev_str){ "", 0 };
		return true;
	}
	return false;
}

int baseline_kind_of(const struct iotsec_event *ev)
{
	struct bl_key k;

	return key_of(ev, &k) ? k.kind : 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* The table's hash, eight bytes a step (in memory only: never stored). */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t w;

	for (; n >= 8; c += 8, n -= 8) {
		memcpy(&w, c, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 32;
	}
	w = (uint64_t)n << 56;
	memcpy(&w, c, n);
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static uint64_t key_hash(const struct bl_key *k)
{
	uint64_t h = (uint64_t)k->kind << 32 | (uint64_t)k->proto << 24 |
		     (uint64_t)k->dir << 16 | k->port;

	h = mix(h, k->exe.s, k->exe.len);
	return mix(h, k->parent.s, k->parent.len);
}

static bool key_is(const struct bl_entry *e, uint64_t h,
		   const struct bl_key *k)
{
	return e->hash == h && e->kind == k->kind && e->port == k->port &&
	       e->proto == k->proto && e->dir == k->dir &&
	       e->exe_len == k->exe.len && e->parent_len == k->parent.len &&
	       !memcmp(e->exe, k->exe.s, k->exe.len) &&
	       !memcmp(e->parent, k->parent.s, k->parent.len);
}

/* ---- tables ---- */

static int table_init(struct bl_table *t, size_t max)
{
	size_t cap = 16;

	while (cap < 2 * max)
		cap <<= 1;
	t->slot = calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->cap = cap;
	t->n = 0;
	return 0;
}

static void entry_free(struct bl_entry *e)
{
	if (!e)
		return;
	record_free(e->held);
	free(e->exe);
	free(e->parent);
	free(e);
}

static void table_free(struct bl_table *t)
{
	for (size_t i = 0; t->slot && i < t->cap; i++)
		entry_free(t->slot[i]);
	free(t->slot);
	t->slot = NULL;
	t->cap = t->n = 0;
}

/* The slot of K: its entry, or the empty one where it would go. */
static struct bl_entry **table_find(const struct bl_table *t, uint64_t h,
				    const struct bl_key *k)
{
	size_t i = h & (t->cap - 1);

	while (t->slot[i] && !key_is(t->slot[i], h, k))
		i = (i + 1) & (t->cap - 1);
	return &t->slot[i];
}

static struct bl_entry *entry_new(const struct bl_key *k, uint64_t h)
{
	struct bl_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->exe = strndup(k->exe.s, k->exe.len);
	e->parent = strndup(k->parent.s, k->parent.len);
	if (!e->exe || !e->parent) {
		entry_free(e);
		return NULL;
	}
	e->exe_len = k->exe.len;
	e->parent_len = k->parent.len;
	e->hash = h;
	e->kind = k->kind;
	e->proto = k->proto;
	e->dir = k->dir;
	e->port = k->port;
	return e;
}

/* ---- set up ---- */

void baseline_init(struct baseline *b, struct ser *ser, rules_out_fn out,
		   void *ctx)
{
	memset(b, 0, sizeof(*b));
	b->ser = ser;
	b->out = out;
	b->ctx = ctx;
	b->window_ms = BASELINE_WINDOW_DEFAULT_MS;
	b->max_entries = BASELINE_MAX_ENTRIES_DEFAULT;
	b->aggregate_ms = 60000;
}

/*
 * Learning time so far: what was counted up to mark_ms and the loop's
 * clock since, while on and learning (a stopped daemon, or one with the
 * baseline off, learns nothing and so counts nothing).
 */
static uint64_t learned_at(const struct baseline *b, uint64_t now_ms)
{
	uint64_t l = b->learned_ms;

	if (b->enabled && !b->ended && now_ms > b->mark_ms)
		l += now_ms - b->mark_ms;
	/* past the longest window: learning has ended whatever it is */
	return l < BASELINE_WINDOW_MAX_MS ? l : BASELINE_WINDOW_MAX_MS;
}

/*
 * Something the file lacks: a change (dirty), or learning time counted
 * since the last save. A device that restarts iotsecd more often than
 * it sees a new tuple still ends its window: the time is kept as well.
 */
static bool unsaved(const struct baseline *b, uint64_t now_ms)
{
	return b->dirty || learned_at(b, now_ms) != b->saved_learned_ms;
}

/*
 * The periodic save: a change within a minute; learning time alone every
 * 10 minutes of it (a whole model file a minute for a week of learning
 * would wear flash), and at exit (baseline_exit_save()). A crash loses at
 * most those 10 minutes of the window.
 */
static bool save_due(const struct baseline *b, uint64_t now_ms)
{
	return b->dirty ||
	       learned_at(b, now_ms) - b->saved_learned_ms >=
	       SAVE_TIME_EVERY_MS;
}

/* The window's end on the loop's clock: what is left of it from NOW. */
static void window_from(struct baseline *b, uint64_t now_ms)
{
	b->learned_ms = learned_at(b, now_ms);
	b->mark_ms = now_ms;
	b->end_mono_ms = now_ms + (b->learned_ms < b->window_ms ?
				   b->window_ms - b->learned_ms : 0);
}

/* An empty model, its window starting now. */
static int fresh(struct baseline *b, uint64_t now_ms)
{
	table_free(&b->model);
	if (table_init(&b->model, b->max_entries))
		return -ENOMEM;
	b->started_ms = baseline_clock();
	b->learned_ms = 0;
	b->mark_ms = now_ms;
	b->ended = b->full = b->full_alerted = false;
	b->dirty = true;
	b->on_disk = false;
	window_from(b, now_ms);
	return 0;
}

/* The model grown to hold MAX entries (a smaller MAX keeps what is). */
static int table_resize(struct bl_table *t, size_t max)
{
	struct bl_table n;

	if (t->cap >= 2 * max && t->slot)
		return 0;
	if (table_init(&n, max))
		return -ENOMEM;
	for (size_t i = 0; t->slot && i < t->cap; i++) {
		struct bl_entry *e = t->slot[i];
		size_t j;

		if (!e)
			continue;
		j = e->hash & (n.cap - 1);
		while (n.slot[j])
			j = (j + 1) & (n.cap - 1);
		n.slot[j] = e;
		n.n++;
	}
	free(t->slot);
	*t = n;
	return 0;
}

int baseline_configure(struct baseline *b, bool enabled, uint64_t window_ms,
		       size_t max_entries, const char *path,
		       uint64_t aggregate_ms, uint64_t now_ms)
{
	bool first = !b->model.slot, was = b->enabled;
	bool moved = !first && !((!path && !b->path) ||
				 (path && b->path && !strcmp(path, b->path)));
	int ret = 0;

	/* the time learned so far, counted as things were until now */
	if (!first) {
		b->learned_ms = learned_at(b, now_ms);
		b->mark_ms = now_ms;
	}
	b->last_now_ms = now_ms;
	b->enabled = enabled;
	b->window_ms = window_ms;
	b->aggregate_ms = aggregate_ms;
	if (max_entries > BASELINE_MAX_ENTRIES_MAX)
		max_entries = BASELINE_MAX_ENTRIES_MAX;
	b->max_entries = max_entries ? max_entries : 1;
	if (first || moved) {
		free(b->path);
		b->path = path && *path ? strdup(path) : NULL;
		if (path && *path && !b->path)
			return -ENOMEM;
		b->error[0] = '\0';
		ret = b->path ? baseline_load(b, b->path) : -ENOENT;
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			char why[sizeof(b->error)];

			memcpy(why, b->error, sizeof(why));
			if (fresh(b, now_ms))
				return -ENOMEM;
			memcpy(b->error, why, sizeof(why));
			if (ret == -ENOENT)
				ret = 0;
		} else {
			/* a version 1 file: written again as version 2 */
			b->dirty = b->migrate || b->cut;
			b->mark_ms = now_ms;	/* counted from now on */
			if (b->cut && b->note) {
				char m[200];

				snprintf(m, sizeof(m), "the model file has %zu "
					 "entries more than max_entries (%zu): "
					 "not kept; they alert as deviations",
					 (size_t)b->cut, b->max_entries);
				b->note(b->ctx, m);
			}
		}
	}
	if (table_resize(&b->model, b->max_entries) ||
	    (!b->dev.slot && table_init(&b->dev, BASELINE_DEV_MAX)))
		return -ENOMEM;
	if (b->model.n < b->max_entries)
		b->full = b->full_alerted = false;
	/* turned on with nothing learned yet: the window starts now */
	if (enabled && !was && !b->on_disk && !b->model.n) {
		b->started_ms = baseline_clock();
		b->learned_ms = 0;
	}
	window_from(b, now_ms);
	return ret;
}

void baseline_fini(struct baseline *b)
{
	save_reap(b, true);
	table_free(&b->model);
	table_free(&b->dev);
	record_free(b->over.held);
	b->over.held = NULL;
	free(b->path);
	b->path = NULL;
}

const char *baseline_state(const struct baseline *b, uint64_t now_ms)
{
	if (!b->enabled)
		return "off";
	return b->ended || now_ms >= b->end_mono_ms ? "enforcing" : "learning";
}

/* ---- alerts ---- */

static int add(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v || json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case 6: return "tcp";
	case 17: return "udp";
	case 136: return "udplite";
	case 132: return "sctp";
	}
	return NULL;
}

static void describe(const struct bl_entry *e, char *buf, size_t len)
{
	const char *pn = proto_name(e->proto);
	char proto[8];

	if (!pn) {
		snprintf(proto, sizeof(proto), "%u", e->proto);
		pn = proto;
	}
	switch (e->kind) {
	case BL_PROCESS:
		snprintf(buf, len, "%s started by %s: not in the learned "
			 "baseline", e->exe, *e->parent ? e->parent :
			 "an unknown parent");
		break;
	case BL_CONNECTION:
		snprintf(buf, len, "%s %s %s port %u: not in the learned "
			 "baseline", e->exe, e->dir == BL_DIR_OUT ?
			 "connected out to" : "accepted a connection on", pn,
			 e->port);
		break;
	case BL_LISTEN:
		snprintf(buf, len, "%s listening on %s port %u: not in the "
			 "learned baseline", e->exe, pn, e->port);
		break;
	default:
		snprintf(buf, len, "the baseline is full (%s entries): "
			 "learning stopped; what it did not learn is reported "
			 "as deviations", e->exe);
	}
}

/* One RuleAlert: NAME, HITS hits from FIRST to LAST, the event of REC. */
static void alert(struct baseline *b, const char *name, const char *sev,
		  const char *desc, const struct record *rec, uint64_t hits,
		  uint64_t first_ns, uint64_t last_ns)
{
	struct json_object *p = json_object_new_object(), *trig;
	char utc[32], local[40];

	if (!p)
		return;
	add(p, "RuleName", json_object_new_string(name));
	add(p, "Severity", json_object_new_string(sev));
	add(p, "Description", json_object_new_string(desc));
	add(p, "HitCount", json_object_new_int64(hits));
	ser_time(b->ser, first_ns, utc, local);
	add(p, "FirstTime", json_object_new_string(utc));
	ser_time(b->ser, last_ns, utc, local);
	add(p, "LastTime", json_object_new_string(utc));
	trig = json_object_new_object();
	if (trig) {
		add(trig, "Name", json_object_new_string(
			    ser_event_name(rec->ev.type)));
		add(trig, "Payload", ser_payload(b->ser, rec));
		add(p, "TriggeringEvent", trig);
	}
	if (ser_rule_alert(b->ser, p, last_ns, b->out, b->ctx))
		b->stats.alerts++;
}

static void dev_alert(struct baseline *b, const struct bl_entry *e,
		      const struct record *rec, uint64_t hits,
		      uint64_t first_ns, uint64_t last_ns)
{
	char desc[1024];

	describe(e, desc, sizeof(desc));
	alert(b, kind_rule[e->kind], "Medium", desc, rec, hits, first_ns,
	      last_ns);
}

/* The deviations past the table, in one alert with their count. */
static void over_release(struct baseline *b)
{
	char desc[256];

	if (!b->over.held)
		return;
	snprintf(desc, sizeof(desc), "%" PRIu64 " deviation(s) from the "
		 "learned baseline not itemised: more than %d distinct "
		 "deviations within the aggregation interval (the first "
		 "attached)",
		 b->over.pending, BASELINE_DEV_MAX);
	alert(b, "baseline-overflow", "Medium", desc, b->over.held,
	      b->over.pending, b->over.first_ns, b->over.last_ns);
	record_free(b->over.held);
	b->over.held = NULL;
	b->over.pending = b->over.window_end_ms = 0;
}

static void full_alert(struct baseline *b, const struct iotsec_event *ev)
{
	struct bl_entry e = { .kind = 0 };
	struct record *rec = record_new(ev);
	char n[24], desc[256];

	b->full_alerted = true;
	snprintf(n, sizeof(n), "%zu", b->max_entries);
	e.exe = n;
	describe(&e, desc, sizeof(desc));
	if (b->note)
		b->note(b->ctx, desc);
	if (!rec)
		return;
	alert(b, "baseline-full", "Medium", desc, rec, 1, ev->time_ns,
	      ev->time_ns);
	record_free(rec);
}

/* ---- the event path ---- */

static void learn(struct baseline *b, const struct bl_key *k, uint64_t h,
		  const struct iotsec_event *ev)
{
	struct bl_entry **s = table_find(&b->model, h, k);

	if (*s) {
		(*s)->count++;
		return;
	}
	if (b->model.n >= b->max_entries) {
		b->stats.refused_full++;
		if (!b->full)
			b->full = b->dirty = true;
		if (!b->full_alerted)
			full_alert(b, ev);
		return;
	}
	*s = entry_new(k, h);
	if (!*s)
		return;
	(*s)->count = 1;
	b->model.n++;
	b->stats.learned++;
	b->dirty = true;
}

/* The deviations of one tuple have a hit count as a rule's hits do. */
static void deviate(struct baseline *b, const struct bl_key *k, uint64_t h,
		    const struct iotsec_event *ev, uint64_t now_ms)
{
	struct bl_entry **s, *e;
	struct record *rec;

	b->stats.deviations++;
	s = table_find(&b->dev, h, k);
	e = *s;
	if (!e && b->dev.n < BASELINE_DEV_MAX) {
		e = entry_new(k, h);
		if (e) {
			*s = e;
			b->dev.n++;
		}
	}
	if (e && b->aggregate_ms && e->window_end_ms > now_ms) {
		if (!e->held) {
			e->held = record_new(ev);
			e->first_ns = ev->time_ns;
		}
		e->pending++;
		e->last_ns = ev->time_ns;
		b->stats.suppressed++;
		return;
	}
	if (!e && b->aggregate_ms) {
		/*
		 * More distinct deviations within the interval than are
		 * itemised: counted, and one overflow alert (the first
		 * such event attached) says how many when it ends.
		 */
		if (!b->over.held) {
			b->over.held = record_new(ev);
			if (!b->over.held)
				return;
			b->over.first_ns = ev->time_ns;
			b->over.window_end_ms = now_ms + b->aggregate_ms;
		}
		b->over.pending++;
		b->over.last_ns = ev->time_ns;
		b->stats.untracked++;
		return;
	}
	rec = record_new(ev);
	if (!rec)
		return;
	if (e) {
		dev_alert(b, e, rec, 1, ev->time_ns, ev->time_ns);
		e->window_end_ms = b->aggregate_ms ? now_ms + b->aggregate_ms :
				   0;
	} else {
		/* every hit an alert (aggregate_interval 0): as told */
		struct bl_entry tmp = { .kind = k->kind, .port = k->port,
					.proto = k->proto, .dir = k->dir };
		char *exe = strndup(k->exe.s, k->exe.len);
		char *par = strndup(k->parent.s, k->parent.len);

		if (exe && par) {
			tmp.exe = exe;
			tmp.parent = par;
			dev_alert(b, &tmp, rec, 1, ev->time_ns, ev->time_ns);
		}
		free(exe);
		free(par);
		b->stats.untracked++;
	}
	record_free(rec);
}

unsigned int baseline_eval(struct baseline *b, const struct iotsec_event *ev,
			   uint64_t now_ms)
{
	return baseline_check(b, ev, now_ms, false);
}

unsigned int baseline_check(struct baseline *b, const struct iotsec_event *ev,
			    uint64_t now_ms, bool suspect)
{
	struct bl_key k;
	uint64_t h;

	if (!b->enabled || !b->model.slot || !key_of(ev, &k))
		return 0;
	b->last_now_ms = now_ms;
	b->stats.events++;
	h = key_hash(&k);
	if (!b->ended && now_ms < b->end_mono_ms) {
		if (suspect)
			b->stats.suspect++;
		else
			learn(b, &k, h, ev);
		return 0;
	}
	if (!b->ended) {
		window_from(b, now_ms);
		b->ended = b->dirty = true;
		b->next_save_ms = 0;
	}
	if (*table_find(&b->model, h, &k))
		return 0;
	deviate(b, &k, h, ev, now_ms);
	return 1;
}

unsigned int baseline_forget(struct baseline *b, const struct iotsec_event *ev,
			     uint64_t now_ms)
{
	struct bl_entry **s, *e;
	struct bl_key k;
	size_t i, j;

	if (!b->enabled || !b->model.slot || b->ended ||
	    now_ms >= b->end_mono_ms || !key_of(ev, &k))
		return 0;
	s = table_find(&b->model, key_hash(&k), &k);
	if (!*s)
		return 0;
	entry_free(*s);
	*s = NULL;
	b->model.n--;
	/* the entries after it in its run: in again, none lost to the gap */
	i = s - b->model.slot;
	for (j = (i + 1) & (b->model.cap - 1); (e = b->model.slot[j]);
	     j = (j + 1) & (b->model.cap - 1)) {
		size_t at = e->hash & (b->model.cap - 1);

		b->model.slot[j] = NULL;
		while (b->model.slot[at])
			at = (at + 1) & (b->model.cap - 1);
		b->model.slot[at] = e;
	}
	b->stats.forgotten++;
	b->dirty = true;
	return 1;
}

/* ---- timed work ---- */

/* Drop the deviations whose interval ended with nothing held. */
static void dev_prune(struct baseline *b, uint64_t now_ms)
{
	struct bl_table n;

	if (table_init(&n, b->dev.cap / 2))
		return;
	for (size_t i = 0; i < b->dev.cap; i++) {
		struct bl_entry *e = b->dev.slot[i];
		size_t j;

		if (!e)
			continue;
		if (e->window_end_ms <= now_ms && !e->held) {
			entry_free(e);
			continue;
		}
		j = e->hash & (n.cap - 1);
		while (n.slot[j])
			j = (j + 1) & (n.cap - 1);
		n.slot[j] = e;
		n.n++;
	}
	free(b->dev.slot);
	b->dev = n;
}

static void release(struct baseline *b, struct bl_entry *e, uint64_t now_ms)
{
	if (e->held) {
		dev_alert(b, e, e->held, e->pending, e->first_ns, e->last_ns);
		record_free(e->held);
		e->held = NULL;
		e->pending = 0;
		e->window_end_ms = now_ms + b->aggregate_ms;
	} else {
		e->window_end_ms = 0;
	}
}

uint64_t baseline_tick(struct baseline *b, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	bool prune = false;

	if (!b->model.slot)
		return next;
	save_reap(b, false);
	b->last_now_ms = now_ms;
	if (b->enabled && !b->ended && now_ms >= b->end_mono_ms) {
		window_from(b, now_ms);
		b->ended = b->dirty = true;
		b->next_save_ms = 0;
	}
	for (size_t i = 0; i < b->dev.cap; i++) {
		struct bl_entry *e = b->dev.slot[i];

		if (!e || !e->window_end_ms)
			continue;
		if (e->window_end_ms <= now_ms)
			release(b, e, now_ms);
		if (!e->window_end_ms)
			prune = true;
		else if (e->window_end_ms - now_ms < next)
			next = e->window_end_ms - now_ms;
	}
	if (prune || b->dev.n > b->dev.cap / 4)
		dev_prune(b, now_ms);
	if (b->over.held && b->over.window_end_ms <= now_ms)
		over_release(b);
	if (b->over.held && b->over.window_end_ms - now_ms < next)
		next = b->over.window_end_ms - now_ms;
	if (b->enabled && save_due(b, now_ms) && b->path &&
	    now_ms >= b->next_save_ms && !b->job) {
		save_async(b);
		b->next_save_ms = now_ms + SAVE_EVERY_MS;
	}
	if (b->enabled && !b->ended && b->end_mono_ms - now_ms < next)
		next = b->end_mono_ms - now_ms;
	if (b->enabled && save_due(b, now_ms) && b->path &&
	    b->next_save_ms > now_ms &&
	    b->next_save_ms - now_ms < next)
		next = b->next_save_ms - now_ms;
	if (b->job && next > 100)
		next = 100;	/* to see the save end */
	return next;
}

void baseline_flush(struct baseline *b, uint64_t now_ms)
{
	for (size_t i = 0; i < b->dev.cap; i++)
		if (b->dev.slot[i] && b->dev.slot[i]->held)
			release(b, b->dev.slot[i], now_ms);
	over_release(b);
}

int baseline_restart(struct baseline *b, bool reset, uint64_t now_ms)
{
	if (reset) {
		if (fresh(b, now_ms))
			return -ENOMEM;
	} else {
		b->started_ms = baseline_clock();
		b->learned_ms = 0;
		b->mark_ms = now_ms;
		b->ended = b->full_alerted = false;
		b->dirty = true;
		window_from(b, now_ms);
	}
	b->last_now_ms = now_ms;
	b->error[0] = '\0';
	b->stats.restarts++;
	b->next_save_ms = now_ms + SAVE_EVERY_MS;
	return b->path ? baseline_save(b) : 0;
}

/* ---- the file ---- */

static void put_str(struct buf *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (!*s) {
		buf_put(o, "%", 1);
		return;
	}
	for (; *s; s++) {
		unsigned char c = *s;

		if (c > 0x20 && c < 0x7f && c != '%') {
			buf_put(o, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			buf_put(o, e, 3);
		}
	}
}

static void put_fmt(struct buf *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put_fmt(struct buf *o, const char *fmt, ...)
{
	char t[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_put(o, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

static void put_entry(struct buf *o, const struct bl_entry *e)
{
	switch (e->kind) {
	case BL_PROCESS:
		buf_put(o, "p ", 2);
		put_str(o, e->exe);
		buf_put(o, " ", 1);
		put_str(o, e->parent);
		break;
	case BL_CONNECTION:
		buf_put(o, "c ", 2);
		put_str(o, e->exe);
		put_fmt(o, " %u %u %s", e->port, e->proto,
			e->dir == BL_DIR_IN ? "in" : "out");
		break;
	case BL_LISTEN:
		buf_put(o, "l ", 2);
		put_str(o, e->exe);
		put_fmt(o, " %u %u", e->port, e->proto);
		break;
	}
	put_fmt(o, " %" PRIu64 "\n", e->count);
}

/* The file's text: 0 or -ENOMEM. */
static int model_text(const struct baseline *b, struct buf *o)
{
	buf_put(o, FILE_MAGIC, sizeof(FILE_MAGIC) - 1);
	put_fmt(o, "started %" PRIu64 "\nlearned %" PRIu64 "\nended %d\n"
		"full %d\n", b->started_ms, learned_at(b, b->last_now_ms),
		b->ended, b->full);
	for (size_t i = 0; i < b->model.cap; i++)
		if (b->model.slot[i])
			put_entry(o, b->model.slot[i]);
	if (!o->err)
		put_fmt(o, "end %zu %016" PRIx64 "\n", b->model.n,
			fnv(FNV_INIT, o->p, o->len));
	return o->err;
}

/* A save in a thread: its own copy of the path and of the text. */
struct bl_save {
	pthread_t thread;
	char *path;
	struct buf text;
	int ret;
	char error[256];
	atomic_bool done;
};

static void *save_worker(void *arg)
{
	struct bl_save *j = arg;

	mkdir_parent(j->path, 0755);
	j->ret = write_file_atomic(j->path, j->text.p, j->text.len, 0600,
				   j->error, sizeof(j->error));
	atomic_store(&j->done, true);
	return NULL;
}

/* The save in flight, waited for (WAIT) or only if it ended: its result. */
static void save_reap(struct baseline *b, bool wait)
{
	struct bl_save *j = b->job;

	if (!j || (!wait && !atomic_load(&j->done)))
		return;
	pthread_join(j->thread, NULL);
	if (j->ret) {
		b->stats.save_errors++;
		b->dirty = true;	/* again at the next tick */
		memcpy(b->error, j->error, sizeof(b->error));
	} else {
		b->stats.saves++;
		b->on_disk = true;
		b->error[0] = '\0';
	}
	buf_free(&j->text);
	free(j->path);
	free(j);
	b->job = NULL;
}

/* A save in a thread; in place when there is no thread to be had. */
static void save_async(struct baseline *b)
{
	struct bl_save *j;

	if (b->job)
		return;		/* one at a time: again at the next tick */
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(b->path)) || model_text(b, &j->text)) {
		if (j) {
			buf_free(&j->text);
			free(j->path);
			free(j);
		}
		baseline_save(b);
		return;
	}
	atomic_init(&j->done, false);
	if (pthread_create(&j->thread, NULL, save_worker, j)) {
		buf_free(&j->text);
		free(j->path);
		free(j);
		baseline_save(b);
		return;
	}
	b->job = j;
	b->dirty = false;
	b->saved_learned_ms = learned_at(b, b->last_now_ms);
}

int baseline_save(struct baseline *b)
{
	struct buf o = { 0 };
	int ret;

	save_reap(b, true);
	if (!b->path)
		return 0;
	ret = model_text(b, &o);
	if (!ret) {
		mkdir_parent(b->path, 0755);
		ret = write_file_atomic(b->path, o.p, o.len, 0600, b->error,
					sizeof(b->error));
	}
	buf_free(&o);
	if (ret) {
		b->stats.save_errors++;
		if (ret == -ENOMEM)
			snprintf(b->error, sizeof(b->error), "%s: out of memory",
				 b->path);
		return ret;
	}
	b->stats.saves++;
	b->dirty = false;
	b->saved_learned_ms = learned_at(b, b->last_now_ms);
	b->on_disk = true;
	b->error[0] = '\0';
	return 0;
}

int baseline_exit_save(struct baseline *b, uint64_t now_ms)
{
	if (!b->model.slot || !b->enabled || !b->path)
		return 0;
	save_reap(b, true);
	b->last_now_ms = now_ms;
	return unsaved(b, now_ms) ? baseline_save(b) : 0;
}

static int unhex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ?
	       c - 'A' + 10 : -1;
}

/* A %-escaped word in place; false when malformed. */
static bool get_str(char *w)
{
	char *o = w;

	if (!strcmp(w, "%")) {
		*w = '\0';
		return true;
	}
	for (; *w; w++) {
		int hi, lo;

		if (*w != '%') {
			*o++ = *w;
			continue;
		}
		hi = unhex(w[1]);
		lo = hi < 0 ? -1 : unhex(w[2]);
		if (lo < 0 || (hi << 4 | lo) == 0)
			return false;
		*o++ = (char)(hi << 4 | lo);
		w += 2;
	}
	*o = '\0';
	return true;
}

static bool get_u64(const char *w, uint64_t max, uint64_t *v)
{
	char *end;

	if (!w || *w < '0' || *w > '9')
		return false;
	errno = 0;
	*v = strtoull(w, &end, 10);
	return !errno && !*end && *v <= max;
}

/* The words of LINE (in place), at most MAX; their number. */
static int words(char *line, char **w, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return max + 1;
		w[n++] = t;
	}
	return n;
}

/* One record line into T; false when malformed. */
static bool get_entry(struct bl_table *t, char *line)
{
	struct bl_key k = { 0 };
	struct bl_entry **s;
	uint64_t port = 0, proto = 0, count;
	char *w[6];
	int n = words(line, w, 6);

	if (n < 3 || strlen(w[0]) != 1)
		return false;
	switch (w[0][0]) {
	case 'p':
		if (n != 4 || !get_str(w[1]) || !get_str(w[2]))
			return false;
		k.kind = BL_PROCESS;
		k.parent = (struct ev_str){ w[2], strlen(w[2]) };
		break;
	case 'c':
		if (n != 6 || !get_str(w[1]) || !get_u64(w[2], 65535, &port) ||
		    !get_u64(w[3], 255, &proto) ||
		    (strcmp(w[4], "in") && strcmp(w[4], "out")))
			return false;
		k.kind = BL_CONNECTION;
		k.dir = strcmp(w[4], "in") ? BL_DIR_OUT : BL_DIR_IN;
		break;
	case 'l':
		if (n != 5 || !get_str(w[1]) || !get_u64(w[2], 65535, &port) ||
		    !get_u64(w[3], 255, &proto))
			return false;
		k.kind = BL_LISTEN;
		break;
	default:
		return false;
	}
	if (!get_u64(w[n - 1], UINT64_MAX, &count))
		return false;
	k.exe = (struct ev_str){ w[1], strlen(w[1]) };
	if (!k.parent.s)
		k.parent = (struct ev_str){ "", 0 };
	k.port = port;
	k.proto = proto;
	s = table_find(t, key_hash(&k), &k);
	if (*s)
		return false;		/* twice: not ours */
	*s = entry_new(&k, key_hash(&k));
	if (!*s)
		return false;
	(*s)->count = count;
	t->n++;
	return true;
}

static int read_all(const char *path, char **out, size_t *len, char *err,
		    size_t errlen)
{
	struct stat st;
	size_t off = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	/* at most every entry at its longest */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > (uint64_t)BASELINE_MAX_ENTRIES_MAX * 1024) {
		snprintf(err, errlen, "%s: not a regular file of a baseline's "
			 "size", path);
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return 0;
}

int baseline_load(struct baseline *b, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = read_all(path, &buf, &len, b->error, sizeof(b->error));
	if (ret)
		return ret;
	ret = baseline_parse(b, path, buf, len);
	free(buf);
	return ret;
}

int baseline_parse(struct baseline *b, const char *path, char *buf,
		   size_t len)
{
	struct bl_table t = { 0 };
	uint64_t started = 0, learned = 0, ended = 0, full = 0, n_end = 0;
	uint64_t sum = 0, records = 0;
	bool cut = false;
	char *line, *nl, *w[4];
	size_t lineno = 0, max, head;
	const char *why = NULL;
	bool v1;
	int ret;

	/* a model larger than allowed now: as many as allowed, then full */
	max = b->max_entries ? b->max_entries : 1;
	ret = -ENOMEM;
	if (table_init(&t, max))
		goto out;
	ret = -EINVAL;
	v1 = len >= sizeof(FILE_MAGIC_V1) - 1 &&
	     !memcmp(buf, FILE_MAGIC_V1, sizeof(FILE_MAGIC_V1) - 1);
	if ((!v1 && (len < sizeof(FILE_MAGIC) - 1 ||
		     memcmp(buf, FILE_MAGIC, sizeof(FILE_MAGIC) - 1))) ||
	    memchr(buf, '\0', len)) {
		lineno = 1;
		why = "not a baseline file (iotsec-baseline 2 or 1)";
		goto out;
	}
	head = v1 ? 4 : 5;	/* the magic, then started (learned) ... */
	line = buf;
	sum = FNV_INIT;
	for (;;) {
		lineno++;
		nl = strchr(line, '\n');
		if (!nl || nl - line > LINE_MAX_BYTES) {
			why = "truncated: no end record";
			goto out;
		}
		/* the checksum covers every line before the end record */
		if (strncmp(line, "end ", 4))
			sum = fnv(sum, line, nl - line + 1);
		*nl = '\0';
		if (lineno == 1) {
			/* the magic, checked */
		} else if (lineno <= head) {
			static const char *const names[] = {
				"started", "learned", "ended", "full" };
			uint64_t *dst[] = { &started, &learned, &ended, &full };
			/* version 1 has no learned line */
			int i = lineno - 2 + (v1 && lineno > 2);
			/* learned: at most the longest window */
			uint64_t top = i > 1 ? 1 : i == 1 ?
				       BASELINE_WINDOW_MAX_MS : UINT64_MAX;
			int nw = words(line, w, 2);

			if (nw == 2 && i == 1 && !strcmp(w[0], names[i]) &&
			    !get_u64(w[1], top, dst[i]) &&
			    get_u64(w[1], UINT64_MAX, dst[i])) {
				why = "learned: more than the longest window "
				      "(365 days)";
				goto out;
			}
			if (nw != 2 || strcmp(w[0], names[i]) ||
			    !get_u64(w[1], top, dst[i])) {
				why = v1 ? "expected started, ended and full" :
				      "expected started, learned, ended and "
				      "full";
				goto out;
			}
		} else if (!strncmp(line, "end ", 4)) {
			if (words(line, w, 3) != 3 ||
			    !get_u64(w[1], UINT64_MAX, &n_end) ||
			    strtoull(w[2], NULL, 16) != sum ||
			    strlen(w[2]) != 16) {
				why = "bad end record (checksum)";
				goto out;
			}
			if (n_end != records) {
				why = "bad end record (count)";
				goto out;
			}
			if (nl + 1 != buf + len) {
				lineno++;
				why = "data after the end record";
				goto out;
			}
			break;
		} else if (records++, t.n >= max) {
			cut = true;	/* the rest: not kept */
		} else if (!get_entry(&t, line)) {
			why = "malformed record";
			goto out;
		}
		line = nl + 1;
	}
	table_free(&b->model);
	b->model = t;
	t.slot = NULL;
	b->started_ms = started;
	if (v1) {
		/* as version 1 counted it: the wall clock since the start */
		uint64_t real = baseline_clock();

		learned = real > started ? real - started : 0;
		if (learned > BASELINE_WINDOW_MAX_MS)
			learned = BASELINE_WINDOW_MAX_MS;
	}
	b->learned_ms = b->saved_learned_ms = learned;
	b->migrate = v1;
	b->ended = ended;
	/* full by the file: said so then; cut to a lower bound: not yet */
	b->full = full || cut;
	b->full_alerted = full;
	b->cut = cut ? records - t.n : 0;
	b->on_disk = true;
	b->error[0] = '\0';
	ret = 0;
out:
	if (why)
		snprintf(b->error, sizeof(b->error), "%s:%zu: %s", path, lineno,
			 why);
	table_free(&t);
	return ret;
}

/* ---- looking at it ---- */

struct json_object *baseline_json(const struct baseline *b, uint64_t now_ms)
{
	struct json_object *o = json_object_new_object();
	const struct baseline_stats *s = &b->stats;
	uint64_t n[BL_KINDS] = { 0 };
	int64_t left;

	if (!o)
		return NULL;
	for (size_t i = 0; i < b->model.cap; i++)
		if (b->model.slot[i])
			n[b->model.slot[i]->kind]++;
	left = b->ended || now_ms >= b->end_mono_ms ? 0 :
	       (int64_t)(b->end_mono_ms - now_ms);
	add(o, "state", json_object_new_string(baseline_state(b, now_ms)));
	add(o, "path", json_object_new_string(b->path ? b->path : ""));
	add(o, "started", json_object_new_int64(b->started_ms));
	add(o, "window_ms", json_object_new_int64(b->window_ms));
	add(o, "learning_left_ms", json_object_new_int64(left));
	add(o, "learned_ms", json_object_new_int64(
		    learned_at(b, now_ms) < b->window_ms ?
		    learned_at(b, now_ms) : b->window_ms));
	add(o, "entries", json_object_new_int64(b->model.n));
	add(o, "max_entries", json_object_new_int64(b->max_entries));
	add(o, "processes", json_object_new_int64(n[BL_PROCESS]));
	add(o, "connections", json_object_new_int64(n[BL_CONNECTION]));
	add(o, "listens", json_object_new_int64(n[BL_LISTEN]));
	add(o, "full", json_object_new_boolean(b->full));
	add(o, "events", json_object_new_int64(s->events));
	add(o, "learned", json_object_new_int64(s->learned));
	add(o, "refused_full", json_object_new_int64(s->refused_full));
	add(o, "deviations", json_object_new_int64(s->deviations));
	add(o, "alerts", json_object_new_int64(s->alerts));
	add(o, "suppressed", json_object_new_int64(s->suppressed));
	add(o, "untracked", json_object_new_int64(s->untracked));
	add(o, "saves", json_object_new_int64(s->saves));
	add(o, "save_errors", json_object_new_int64(s->save_errors));
	add(o, "restarts", json_object_new_int64(s->restarts));
	add(o, "suspect", json_object_new_int64(s->suspect));
	add(o, "forgotten", json_object_new_int64(s->forgotten));
	add(o, "error", json_object_new_string(b->error));
	return o;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct bl_entry *x = *(const struct bl_entry *const *)a;
	const struct bl_entry *y = *(const struct bl_entry *const *)b;
	int c = x->kind - y->kind;

	if (!c)
		c = strcmp(x->exe, y->exe);
	if (!c)
		c = strcmp(x->parent, y->parent);
	if (!c)
		c = x->port - y->port;
	if (!c)
		c = x->proto - y->proto;
	return c ? c : x->dir - y->dir;
}

/* S as the file has it: %XX for what is not printable */
static const char *esc(struct buf *o, const char *s)
{
	buf_reset(o);
	put_str(o, s);
	buf_put(o, "", 1);
	return o->err ? "?" : (const char *)o->p;
}

void baseline_print(const struct baseline *b, void *file)
{
	struct buf e1 = { 0 }, e2 = { 0 };
	struct bl_entry **v = calloc(b->model.n ? b->model.n : 1, sizeof(*v));
	FILE *f = file;
	size_t n = 0;

	if (!v)
		return;
	for (size_t i = 0; i < b->model.cap; i++)
		if (b->model.slot[i])
			v[n++] = b->model.slot[i];
	qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 0; i < n; i++) {
		const struct bl_entry *e = v[i];
		const char *pn = proto_name(e->proto);
		char proto[8];

		if (!pn) {
			snprintf(proto, sizeof(proto), "%u", e->proto);
			pn = proto;
		}
		if (e->kind == BL_PROCESS)
			fprintf(f, "process     %s parent=%s seen=%" PRIu64 "\n",
				esc(&e1, e->exe), *e->parent ?
				esc(&e2, e->parent) : "-", e->count);
		else if (e->kind == BL_CONNECTION)
			fprintf(f, "connection  %s %s %s/%u seen=%" PRIu64 "\n",
				esc(&e1, e->exe), e->dir == BL_DIR_IN ? "in" :
				"out", pn, e->port, e->count);
		else
			fprintf(f, "listen      %s %s/%u seen=%" PRIu64 "\n",
				esc(&e1, e->exe), pn, e->port, e->count);
	}
	buf_free(&e1);
	buf_free(&e2);
	free(v);
}
