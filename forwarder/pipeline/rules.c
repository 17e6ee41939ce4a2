// SPDX-License-Identifier: MIT
/*
 * Detection rules: compiling (rules_compile.c has the YAML) and matching.
 * A compiled rule is a set of event types and an AND of conditions, each
 * an OR of values (globs, ranges, CIDRs, a flag); exceptions are ANDs of
 * conditions of their own, any of which cancels a match. Rules are kept
 * per event type, so an event meets only the rules of its type.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <json-c/json.h>
#include "pipeline/aggregate.h"
#include "pipeline/rules_priv.h"
#include "pipeline/serialize.h"

const char *rules_proc = "/proc";

bool rules_glob(const char *pat, const char *s, size_t len)
{
	const char *star = NULL;
	size_t i = 0, back = 0;

	while (i < len) {
		if (*pat == '*') {
			star = ++pat;
			back = i;
			continue;
		}
		if (*pat == '?' ||
		    (*pat == '\\' && pat[1] && pat[1] == s[i]) ||
		    (*pat && *pat != '\\' && *pat == s[i])) {
			pat += *pat == '\\' ? 2 : 1;
			i++;
			continue;
		}
		if (!star)
			return false;
		pat = star;
		i = ++back;
	}
	while (*pat == '*')
		pat++;
	return !*pat;
}

static bool glob_any(const struct cond *c, struct ev_str s)
{
	if (!s.s)
		return false;
	for (size_t i = 0; i < c->n; i++) {
		const struct glob *g = &c->v.globs[i];

		/* the literal head first: most globs fail there */
		if (s.len < g->prefix_len + g->suffix_len ||
		    memcmp(s.s, g->pat, g->prefix_len))
			continue;
		/* then the literal tail */
		if (g->suffix_len &&
		    memcmp(s.s + s.len - g->suffix_len,
			   g->pat + strlen(g->pat) - g->suffix_len,
			   g->suffix_len))
			continue;
		if (g->one_star)
			return true;
		if (g->literal ? s.len == g->prefix_len :
		    rules_glob(g->pat + g->prefix_len, s.s + g->prefix_len,
			       s.len - g->prefix_len))
			return true;
	}
	return false;
}

static bool range_any(const struct cond *c, uint64_t x)
{
	for (size_t i = 0; i < c->n; i++)
		if (x >= c->v.ranges[i].lo && x <= c->v.ranges[i].hi)
			return true;
	return false;
}

static bool cidr_one(const struct cidr *m, uint16_t family, const uint8_t *a)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	unsigned int bits = m->prefix, full = bits / 8;

	if (family == AF_INET6 && m->family == AF_INET &&
	    !memcmp(a, mapped, 12))
		a += 12;	/* ::ffff:a.b.c.d is a.b.c.d */
	else if (family != m->family)
		return false;
	if (memcmp(a, m->addr, full))
		return false;
	if (bits % 8) {
		uint8_t mask = 0xff << (8 - bits % 8);

		return (a[full] & mask) == (m->addr[full] & mask);
	}
	return true;
}

static bool cidr_any(const struct cond *c, uint16_t family, const uint8_t *a)
{
	for (size_t i = 0; i < c->n; i++)
		if (cidr_one(&c->v.cidrs[i], family, a))
			return true;
	return false;
}

/* argv's words joined by spaces, into BUF; what fits. */
static struct ev_str joined(struct ev_str argv, char *buf, size_t size)
{
	size_t n = argv.len;

	if (!argv.s)
		return argv;
	if (n && argv.s[n - 1] == '\0')
		n--;
	if (n > size)
		n = size;
	memcpy(buf, argv.s, n);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return (struct ev_str){ buf, n };
}

/* The real uid of process PID from /proc, or -1. */
static int64_t proc_uid(uint32_t pid)
{
	char path[256], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/status", rules_proc, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "\nUid:");
	return p ? strtoll(p + 5, NULL, 10) : -1;
}

static bool is_deleted(struct ev_str s)
{
	static const char tail[] = " (deleted)";

	return s.s && s.len >= sizeof(tail) - 1 &&
	       !memcmp(s.s + s.len - (sizeof(tail) - 1), tail,
		       sizeof(tail) - 1);
}

static bool cond_holds(const struct cond *c, const struct iotsec_event *ev)
{
	char buf[1024];

	switch (c->kind) {
	case C_EXE:
		return glob_any(c, ev_exe(ev));
	case C_ARGV:
		return glob_any(c, joined(ev_cmdline(ev), buf, sizeof(buf)));
	case C_PARENT:
		return glob_any(c, ev->parent_exe);
	case C_COMM:
		return glob_any(c, ev->comm);
	case C_PATH:
		return glob_any(c, ev->path) || glob_any(c, ev->new_path);
	case C_MODULE:
		return glob_any(c, ev->module_name);
	case C_USER:
		return glob_any(c, ev->user);
	case C_UID:
		return range_any(c, ev->uid);
	case C_EUID:
		return range_any(c, ev->euid);
	case C_GID:
		return range_any(c, ev->gid);
	case C_LOGINUID:
		return range_any(c, ev->loginuid);
	case C_OLD_EUID:
		return ev->type == IOTSEC_EVENT_CRED &&
		       range_any(c, ev->old_euid);
	case C_NEW_EUID:
		return ev->type == IOTSEC_EVENT_CRED &&
		       range_any(c, ev->new_euid);
	case C_NEW_UID:
		return ev->type == IOTSEC_EVENT_CRED &&
		       range_any(c, ev->new_uid);
	case C_LPORT:
		return ev->family && range_any(c, ev->lport);
	case C_RPORT:
		return ev->family && ev->type != IOTSEC_EVENT_LISTEN &&
		       range_any(c, ev->rport);
	case C_PROTOCOL:
		return ev->family && range_any(c, ev->protocol);
	case C_DIRECTION:
		return range_any(c, ev->type == IOTSEC_EVENT_CONNECT ? DIR_OUT :
				 ev->type == IOTSEC_EVENT_ACCEPT ? DIR_IN :
				 ev->type == IOTSEC_EVENT_LISTEN ? DIR_LISTEN :
				 0);
	case C_FILE_OP:
		return ev->type == IOTSEC_EVENT_FILE &&
		       range_any(c, ev->file_op);
	case C_PTRACE_MODE:
		return ev->type == IOTSEC_EVENT_PTRACE &&
		       range_any(c, ev->ptrace_mode);
	case C_RADDR:
		return ev->family && ev->type != IOTSEC_EVENT_LISTEN &&
		       cidr_any(c, ev->family, ev->raddr);
	case C_LADDR:
		return ev->family && cidr_any(c, ev->family, ev->laddr);
	case C_CONTAINER:
		return (ev->container.s && ev->container.len) == c->v.flag;
	case C_EXE_DELETED:
		return is_deleted(ev_exe(ev)) == c->v.flag;
	case C_SECURE_EXEC:
		return ev->secure_exec == c->v.flag;
	case C_FROM_EXEC:
		return ev->from_exec == c->v.flag;
	case C_SUCCESS:
		return (ev->result == 0) == c->v.flag;
	case C_TARGET_OTHER_USER: {
		int64_t u;

		if (ev->type != IOTSEC_EVENT_PTRACE ||
		    ev->ptrace_mode == IOTSEC_PTRACE_TRACEME)
			return false;
		u = proc_uid(ev->target_tgid);
		/* a target gone already: not known, not held */
		return u >= 0 && (u != ev->uid) == c->v.flag;
	}
	case C_AFTER_BOOT:
		return ev->time_ns >= c->v.after_ns;
	}
	return false;
}

static bool all_hold(const struct cond *c, size_t n,
		     const struct iotsec_event *ev)
{
	for (size_t i = 0; i < n; i++)
		if (!cond_holds(&c[i], ev))
			return false;
	return true;
}

static bool rule_matches(const struct rule *r, const struct iotsec_event *ev)
{
	if (!all_hold(r->conds, r->n_conds, ev))
		return false;
	for (size_t i = 0; i < r->n_except; i++)
		if (all_hold(r->except[i].conds, r->except[i].n, ev))
			return false;
	return true;
}

unsigned int rules_match(const struct ruleset *rs,
			 const struct iotsec_event *ev, const char **names,
			 unsigned int max)
{
	unsigned int hits = 0;

	if (!rs || ev->type > RULES_EVENT_MAX)
		return 0;
	for (size_t i = 0; i < rs->n_by_type[ev->type]; i++) {
		const struct rule *r = rs->by_type[ev->type][i];

		if (rule_matches(r, ev)) {
			if (hits < max)
				names[hits] = r->name;
			hits++;
		}
	}
	return hits;
}

size_t rules_count(const struct ruleset *rs)
{
	size_t n = 0;

	for (size_t i = 0; rs && i < rs->n_rules; i++)
		n += rs->rules[i].enabled;
	return n;
}

/* ---- thresholds ---- */

static size_t key_put(uint8_t *k, size_t off, const void *p, size_t len)
{
	if (off < THRESH_KEY_LEN) {
		if (len > THRESH_KEY_LEN - off)
			len = THRESH_KEY_LEN - off;
		memcpy(k + off, p, len);
		off += len;
	}
	if (off < THRESH_KEY_LEN)
		k[off++] = 0;	/* between fields: "a" "bc" is not "ab" "c" */
	return off;
}

static size_t key_str(uint8_t *k, size_t off, struct ev_str s)
{
	return key_put(k, off, s.s ? s.s : "", s.s ? s.len : 0);
}

/* The values of T's by fields in EV, as bytes (the first 128). */
static size_t thresh_key(const struct thresh *t, const struct iotsec_event *ev,
			 uint8_t *k)
{
	size_t off = 0;

	for (size_t i = 0; i < t->n_by; i++) {
		uint32_t u;

		switch (t->by[i]) {
		case BY_EXE:
			off = key_str(k, off, ev_exe(ev));
			break;
		case BY_PARENT:
			off = key_str(k, off, ev->parent_exe);
			break;
		case BY_COMM:
			off = key_str(k, off, ev->comm);
			break;
		case BY_USER:
			off = key_str(k, off, ev->user);
			break;
		case BY_PATH:
			off = key_str(k, off, ev->path);
			break;
		case BY_MODULE:
			off = key_str(k, off, ev->module_name);
			break;
		case BY_UID:
		case BY_EUID:
		case BY_PID:
		case BY_RPORT:
		case BY_LPORT:
			u = t->by[i] == BY_UID ? ev->uid :
			    t->by[i] == BY_EUID ? ev->euid :
			    t->by[i] == BY_PID ? ev->tgid :
			    t->by[i] == BY_RPORT ? ev->rport : ev->lport;
			off = key_put(k, off, &u, sizeof(u));
			break;
		case BY_RADDR:
		case BY_LADDR:
			/* no address (a local login): the family 0 key */
			off = key_put(k, off, &ev->family, sizeof(ev->family));
			off = key_put(k, off, t->by[i] == BY_RADDR ? ev->raddr :
				      ev->laddr, ev->family == AF_INET ? 4 :
				      ev->family ? 16 : 0);
			break;
		}
	}
	return off;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

enum { THRESH_NO, THRESH_FIRED, THRESH_FIRED_OVERFLOW };

/*
 * A match of threshold rule R: counted under its key; THRESH_FIRED when
 * it is the THRESHOLD-th within WITHIN (the key's count starts again).
 * A new key finds room among the THRESH_KEYS only by taking the place of
 * a dead one (none of its matches within WITHIN of this one: dropping it
 * loses nothing); when every key is live, the match counts in the rule's
 * overflow key, shared by all the keys that found no room, which fires as
 * any key (THRESH_FIRED_OVERFLOW). So neither a flood of new keys nor a
 * rotation of them can push out or hide a count that could still fire.
 */
static int thresh_hit(struct rule *r, const struct iotsec_event *ev)
{
	struct thresh *t = &r->thresh;
	uint8_t k[THRESH_KEY_LEN];
	struct thresh_key *key = NULL;
	uint64_t h, *times, now = ev->time_ns;
	size_t len = thresh_key(t, ev, k), i;

	if (!t->keys) {
		/* the last one: the overflow key */
		t->keys = calloc(THRESH_KEYS + 1, sizeof(*t->keys));
		t->times = calloc((size_t)(THRESH_KEYS + 1) * t->count,
				  sizeof(*t->times));
		if (!t->keys || !t->times) {
			free(t->keys);
			free(t->times);
			t->keys = NULL;
			t->times = NULL;
			return THRESH_NO;
		}
	}
	h = fnv1a(k, len);
	for (i = 0; i < t->n_keys; i++)
		if (t->keys[i].hash == h && t->keys[i].len == len &&
		    !memcmp(t->keys[i].key, k, len)) {
			key = &t->keys[i];
			break;
		}
	if (!key) {
		if (t->n_keys < THRESH_KEYS) {
			i = t->n_keys++;
		} else {
			/*
			 * a key that fired and counts nothing since, else
			 * the key seen least recently, if it is dead
			 */
			i = 0;
			for (size_t j = 1; j < THRESH_KEYS && t->keys[i].n;
			     j++)
				if (!t->keys[j].n ||
				    t->keys[j].seen_ns < t->keys[i].seen_ns)
					i = j;
			if (!t->keys[i].n || (now >= t->keys[i].seen_ns &&
			    now - t->keys[i].seen_ns > t->within_ns)) {
				t->evicted++;
			} else {
				i = THRESH_KEYS;
				t->overflowed++;
			}
		}
		key = &t->keys[i];
		if (i < THRESH_KEYS) {
			memset(key, 0, sizeof(*key));
			key->hash = h;
			key->len = len;
			memcpy(key->key, k, len);
		}
	}
	times = t->times + i * t->count;
	key->seen_ns = now;
	/* the oldest of the last COUNT drops out of a full ring */
	if (key->n == t->count) {
		key->head = (key->head + 1) % t->count;
		key->n--;
	}
	times[(key->head + key->n) % t->count] = now;
	key->n++;
	if (key->n < t->count || now - times[key->head] > t->within_ns)
		return THRESH_NO;
	key->n = 0;
	key->head = 0;
	return i == THRESH_KEYS ? THRESH_FIRED_OVERFLOW : THRESH_FIRED;
}

/* ---- alerts ---- */

static const char *const severity_names[] = {
	[SEV_LOW] = "Low", [SEV_MEDIUM] = "Medium", [SEV_HIGH] = "High",
	[SEV_CRITICAL] = "Critical",
};

static int add(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v || json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static struct ev_str str_or_empty(struct ev_str s)
{
	return s.s ? s : (struct ev_str){ "", 0 };
}

/* A login's payload as sources/login.c sends it (Azure's Login). */
static struct json_object *login_payload(const struct iotsec_event *ev)
{
	struct json_object *p = json_object_new_object();
	struct ev_str exe = str_or_empty(ev_exe(ev)),
		      user = str_or_empty(ev->user);
	char buf[INET6_ADDRSTRLEN];

	if (!p)
		return NULL;
	add(p, "ProcessId", json_object_new_int64(ev->tgid));
	add(p, "UserName", json_object_new_string_len(user.s, user.len));
	if (ev->uid != UINT32_MAX) {
		snprintf(buf, sizeof(buf), "%u", ev->uid);
		add(p, "UserId", json_object_new_string(buf));
	}
	add(p, "Operation", json_object_new_string("Login"));
	add(p, "Executable", json_object_new_string_len(exe.s, exe.len));
	if (ev->family && inet_ntop(ev->family, ev->raddr, buf, sizeof(buf)))
		add(p, "RemoteAddress", json_object_new_string(buf));
	add(p, "Result", json_object_new_string(ev->result ? "Fail" :
						   "Success"));
	add(p, "ExtraDetails", json_object_new_object());
	return p;
}

/*
 * One RuleAlert for R: HITS hits from FIRST to LAST, the event of REC;
 * OVERFLOW: some were counted in a threshold's overflow key.
 */
static void alert(struct rules_engine *e, const struct rule *r,
		  const struct record *rec, uint64_t hits, uint64_t first_ns,
		  uint64_t last_ns, bool overflow)
{
	struct json_object *p = json_object_new_object(), *trig;
	char utc[32], local[40], *desc = NULL;

	if (!p)
		return;
	add(p, "RuleName", json_object_new_string(r->name));
	add(p, "Severity", json_object_new_string(severity_names[r->severity]));
	if (overflow && asprintf(&desc, "%s%s(counted together: the "
				 "rule's %d keys were all in use)",
				 r->desc ? r->desc : "",
				 r->desc ? " " : "", THRESH_KEYS) < 0)
		desc = NULL;
	add(p, "Description", json_object_new_string(
		    desc ? desc : r->desc ? r->desc : ""));
	free(desc);
	add(p, "HitCount", json_object_new_int64(hits));
	ser_time(e->ser, first_ns, utc, local);
	add(p, "FirstTime", json_object_new_string(utc));
	ser_time(e->ser, last_ns, utc, local);
	add(p, "LastTime", json_object_new_string(utc));
	if (r->thresh.count) {
		add(p, "Threshold", json_object_new_int64(r->thresh.count));
		add(p, "WithinSeconds", json_object_new_int64(
			    r->thresh.within_ns / 1000000000ULL));
	}
	trig = json_object_new_object();
	if (trig) {
		bool login = rec->ev.type == RULES_EVENT_LOGIN;

		add(trig, "Name", json_object_new_string(
			    login ? "Login" : ser_event_name(rec->ev.type)));
		add(trig, "Payload", login ? login_payload(&rec->ev) :
		    ser_payload(e->ser, rec));
		add(p, "TriggeringEvent", trig);
	}
	if (ser_rule_alert(e->ser, p, last_ns, e->out, e->ctx))
		e->stats.alerts++;
}

/* The hits R held, as one alert; R's interval starts again at NOW. */
static void release(struct rules_engine *e, struct rule *r, uint64_t now_ms)
{
	if (r->held) {
		alert(e, r, r->held, r->pending, r->first_ns, r->last_ns,
		      r->held_overflow);
		record_free(r->held);
		r->held = NULL;
		r->pending = 0;
		r->held_overflow = false;
		r->window_end_ms = now_ms + e->aggregate_ms;
	} else {
		r->window_end_ms = 0;
	}
}

static void hit(struct rules_engine *e, struct rule *r,
		const struct iotsec_event *ev, uint64_t now_ms, bool overflow)
{
	struct record *rec;

	e->stats.hits++;
	if (e->aggregate_ms && r->window_end_ms > now_ms) {
		/* within the interval of the last alert: counted, held */
		if (!r->held) {
			r->held = record_new(ev);
			r->first_ns = ev->time_ns;
		}
		r->pending++;
		r->held_overflow |= overflow;
		r->last_ns = ev->time_ns;
		e->stats.suppressed++;
		return;
	}
	rec = record_new(ev);
	if (rec) {
		alert(e, r, rec, 1, ev->time_ns, ev->time_ns, overflow);
		record_free(rec);
	}
	r->window_end_ms = e->aggregate_ms ? now_ms + e->aggregate_ms : 0;
}

unsigned int rules_eval(struct rules_engine *e, const struct iotsec_event *ev,
			uint64_t now_ms)
{
	struct ruleset *rs = e->rs;
	unsigned int hits = 0;

	e->stats.events++;
	if (!rs || ev->type > RULES_EVENT_MAX)
		return 0;
	for (size_t i = 0; i < rs->n_by_type[ev->type]; i++) {
		struct rule *r = rs->by_type[ev->type][i];
		int th;

		if (!rule_matches(r, ev))
			continue;
		th = r->thresh.count ? thresh_hit(r, ev) : THRESH_FIRED;
		if (th != THRESH_NO) {
			hit(e, r, ev, now_ms, th == THRESH_FIRED_OVERFLOW);
			hits++;
		}
	}
	return hits;
}

uint64_t rules_tick(struct rules_engine *e, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; e->rs && i < e->rs->n_rules; i++) {
		struct rule *r = &e->rs->rules[i];

		if (r->window_end_ms && r->window_end_ms <= now_ms)
			release(e, r, now_ms);
		if (r->window_end_ms && r->window_end_ms - now_ms < next)
			next = r->window_end_ms - now_ms;
	}
	return next;
}

void rules_flush(struct rules_engine *e, uint64_t now_ms)
{
	for (size_t i = 0; e->rs && i < e->rs->n_rules; i++)
		if (e->rs->rules[i].held)
			release(e, &e->rs->rules[i], now_ms);
}

void rules_engine_init(struct rules_engine *e, struct ser *ser,
		       rules_out_fn out, void *ctx)
{
	memset(e, 0, sizeof(*e));
	e->ser = ser;
	e->out = out;
	e->ctx = ctx;
	e->aggregate_ms = 60 * 1000;
}

void rules_engine_set(struct rules_engine *e, struct ruleset *rs,
		      uint64_t now_ms)
{
	rules_flush(e, now_ms);
	rules_free(e->rs);
	e->rs = rs;
}

void rules_engine_fini(struct rules_engine *e)
{
	rules_free(e->rs);
	e->rs = NULL;
}
