// SPDX-License-Identifier: MIT
/*
 * Desired properties onto struct config. One table of settings (named by
 * their YAML path) says for each its type, its range and its field; the
 * iotsec object is walked against it, Azure's keys map onto its entries.
 * Every refusal is collected, so a patch is applied whole or not at all
 * (docs/twin.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include <iotsec/iotsec.h>

#include "common/util.h"
#include "daemon/twin.h"
#include "pipeline/ioc.h"
#include "pipeline/serialize.h"

enum kind {
	K_DUR,		/* duration, MIN..MAX ms */
	K_DUR0,		/* the same, or 0 for none */
	K_SIZE,		/* bytes: an integer or "64KiB" */
	K_INT,		/* an integer */
	K_BOOL,
	K_PRIO,		/* off, low, high, alert */
	K_WATCH,	/* a list of absolute paths */
	K_NAMES,	/* a list of rule names (rules.disabled) */
	K_IOC,		/* an indicator list (.max: its enum ioc_kind) */
};

struct setting {
	const char *name;
	enum kind kind;
	size_t off, size;
	uint64_t min, max;
};

#define FIELD(f) .off = offsetof(struct config, f), \
		 .size = sizeof(((struct config *)0)->f)
#define DAY_MS 86400000ULL
#define EVENT(n, t) \
	{ .name = "events." n ".priority", .kind = K_PRIO, \
	  FIELD(types[t].prio) }, \
	{ .name = "events." n ".aggregate", .kind = K_BOOL, \
	  FIELD(types[t].aggregate) }

static const struct setting settings[] = {
	{ .name = "priorities.high", .kind = K_DUR,
	  FIELD(interval_ms[PRIO_HIGH]), .min = 100, .max = 7 * DAY_MS },
	{ .name = "priorities.low", .kind = K_DUR, FIELD(interval_ms[PRIO_LOW]),
	  .min = 100, .max = 7 * DAY_MS },
	EVENT("exec", IOTSEC_EVENT_EXEC),
	EVENT("exit", IOTSEC_EVENT_EXIT),
	EVENT("fork", IOTSEC_EVENT_FORK),
	EVENT("connect", IOTSEC_EVENT_CONNECT),
	EVENT("accept", IOTSEC_EVENT_ACCEPT),
	EVENT("listen", IOTSEC_EVENT_LISTEN),
	EVENT("cred", IOTSEC_EVENT_CRED),
	EVENT("module", IOTSEC_EVENT_MODULE),
	EVENT("ptrace", IOTSEC_EVENT_PTRACE),
	EVENT("file", IOTSEC_EVENT_FILE),
	{ .name = "messages.max_size", .kind = K_SIZE, FIELD(max_message_size),
	  .min = IOTSEC_MIN_MESSAGE, .max = IOTSEC_HUB_MAX_MESSAGE },
	{ .name = "messages.statistics", .kind = K_DUR0, FIELD(statistics_ms),
	  .min = 60000, .max = 7 * DAY_MS },
	{ .name = "messages.heartbeat", .kind = K_DUR0, FIELD(heartbeat_ms),
	  .min = 60000, .max = 7 * DAY_MS },
	{ .name = "kernel.argv_max", .kind = K_SIZE, FIELD(argv_max),
	  .min = IOTSEC_ARGV_MAX_MIN, .max = IOTSEC_ARGV_MAX_MAX },
	{ .name = "kernel.watch", .kind = K_WATCH },
	{ .name = "snapshots.interval", .kind = K_DUR0,
	  FIELD(snapshots.interval_ms), .min = 1000, .max = 7 * DAY_MS },
	{ .name = "snapshots.listening_ports", .kind = K_BOOL,
	  FIELD(snapshots.listening_ports) },
	{ .name = "snapshots.local_users", .kind = K_BOOL,
	  FIELD(snapshots.local_users) },
	{ .name = "snapshots.system_information", .kind = K_BOOL,
	  FIELD(snapshots.system_information) },
	{ .name = "snapshots.os_baseline", .kind = K_BOOL,
	  FIELD(snapshots.os_baseline) },
	{ .name = "logins.enabled", .kind = K_BOOL, FIELD(logins.enabled) },
	{ .name = "sdk.enabled", .kind = K_BOOL, FIELD(sdk.enabled) },
	{ .name = "sdk.rate", .kind = K_INT, FIELD(sdk.rate),
	  .min = 1, .max = 100000 },
	{ .name = "sdk.burst", .kind = K_INT, FIELD(sdk.burst),
	  .min = 1, .max = 100000 },
	{ .name = "sdk.max_clients", .kind = K_INT, FIELD(sdk.max_clients),
	  .min = 1, .max = 4096 },
	{ .name = "sdk.max_per_uid", .kind = K_INT, FIELD(sdk.max_per_uid),
	  .min = 1, .max = 4096 },
	{ .name = "sdk.max_message_size", .kind = K_SIZE,
	  FIELD(sdk.max_message), .min = 1024, .max = IOTSEC_MAX_MESSAGE },
	{ .name = "local.rate", .kind = K_INT, FIELD(local.rate),
	  .min = 1, .max = 1000000 },
	{ .name = "local.burst", .kind = K_INT, FIELD(local.burst),
	  .min = 1, .max = 1000000 },
	{ .name = "spool.size", .kind = K_SIZE, FIELD(spool.size),
	  .min = IOTSEC_SPOOL_MIN, .max = IOTSEC_SPOOL_MAX },
	/* detection (docs/rules.md): rules on or off, by name; the baseline */
	{ .name = "rules.enabled", .kind = K_BOOL, FIELD(rules.enabled) },
	{ .name = "rules.aggregate_interval", .kind = K_DUR0,
	  FIELD(rules.aggregate_ms), .min = 1000, .max = DAY_MS },
	{ .name = "rules.disabled", .kind = K_NAMES },
	{ .name = "baseline.enabled", .kind = K_BOOL,
	  FIELD(baseline.enabled) },
	{ .name = "baseline.learning_window", .kind = K_DUR,
	  FIELD(baseline.window_ms), .min = 1000, .max = 365 * DAY_MS },
	{ .name = "baseline.max_entries", .kind = K_INT,
	  FIELD(baseline.max_entries), .min = 16, .max = 1000000 },
	/*
	 * Hashes, indicator lists, the package inventory: on or off and
	 * how often; the lists' files stay the device's (paths are never
	 * the hub's).
	 */
	{ .name = "hashes.enabled", .kind = K_BOOL, FIELD(detect.hash_enabled) },
	{ .name = "indicators.refresh", .kind = K_DUR,
	  FIELD(detect.ioc_refresh_ms), .min = 10000, .max = DAY_MS },
	{ .name = "packages.enabled", .kind = K_BOOL, FIELD(detect.packages) },
	/*
	 * Indicator lists inline, besides the files: the entries
	 * themselves, checked as a file's lines are (docs/twin.md).
	 */
	{ .name = "indicators.hashes", .kind = K_IOC, .max = IOC_HASH },
	{ .name = "indicators.addresses", .kind = K_IOC, .max = IOC_ADDRESS },
	{ .name = "indicators.domains", .kind = K_IOC, .max = IOC_DOMAIN },
	{ .name = "indicators.paths", .kind = K_IOC, .max = IOC_PATH },
};

_Static_assert(IOC_KIND_N == TWIN_IOC_LISTS, "TWIN_IOC_LISTS");

_Static_assert(ARRAY_SIZE(settings) <= TWIN_SETTINGS_MAX,
	       "TWIN_SETTINGS_MAX too small");

/* ---- the table ---- */

int twin_setting_id(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (!strcmp(settings[i].name, path))
			return i;
	return -1;
}

const char *twin_setting_name(int id)
{
	return id >= 0 && (size_t)id < ARRAY_SIZE(settings) ?
	       settings[id].name : NULL;
}

/* NAME is PREFIX, or starts with PREFIX and a '.'. */
static bool under(const char *name, const char *prefix)
{
	size_t l = strlen(prefix);

	return !strncmp(name, prefix, l) && (!name[l] || name[l] == '.');
}

bool twin_setting_prefix(const char *prefix)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (*prefix && under(settings[i].name, prefix))
			return true;
	return false;
}

bool twin_setting_allowed(const struct config *c, int id)
{
	const char *name = settings[id].name;
	bool ok = !c->twin.has_allow;

	if (!c->twin.enabled)
		return false;
	for (unsigned int i = 0; i < c->twin.n_allow && !ok; i++)
		ok = under(name, c->twin.allow[i]);
	for (unsigned int i = 0; i < c->twin.n_lock && ok; i++)
		ok = !under(name, c->twin.lock[i]);
	return ok;
}

static void *field(struct config *c, const struct setting *s)
{
	return (char *)c + s->off;
}

static uint64_t load(const struct config *c, const struct setting *s)
{
	const void *p = (const char *)c + s->off;

	switch (s->size) {
	case 1: return *(const bool *)p;
	case 4: return *(const uint32_t *)p;
	default: return *(const uint64_t *)p;
	}
}

static void store(struct config *c, const struct setting *s, uint64_t v)
{
	void *p = field(c, s);

	switch (s->size) {
	case 1: *(bool *)p = v; break;
	case 4: *(uint32_t *)p = v; break;
	default: *(uint64_t *)p = v; break;
	}
}

/* ---- errors ---- */

static void refuse(struct twin_errors *e, const struct config *c, int id,
		   const char *key, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void refuse(struct twin_errors *e, const struct config *c, int id,
		   const char *key, const char *type, const char *fmt, ...)
{
	/* the value that stays is the running one's, when there is one */
	if (e->running)
		c = e->running;
	struct twin_error *x;
	va_list ap;

	e->total++;
	if (e->n >= TWIN_ERRORS_MAX)
		return;
	x = &e->e[e->n++];
	snprintf(x->key, sizeof(x->key), "%s", key);
	x->type = type;
	va_start(ap, fmt);
	vsnprintf(x->reason, sizeof(x->reason), fmt, ap);
	va_end(ap);
	x->used[0] = '\0';
	if (id >= 0)
		twin_setting_text(c, id, x->used, sizeof(x->used));
}

/* ---- values ---- */

static const char *const prio_names[PRIO_N] = {
	[PRIO_OFF] = "off", [PRIO_LOW] = "low", [PRIO_HIGH] = "high",
	[PRIO_ALERT] = "alert",
};

void twin_format_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t d = ms / DAY_MS, h = ms / 3600000 % 24, m = ms / 60000 % 60;
	uint64_t s = ms / 1000 % 60, f = ms % 1000;
	size_t off;

	off = snprintf(buf, len, "P");
	if (d)
		off += snprintf(buf + off, len - off, "%" PRIu64 "D", d);
	if (!h && !m && !s && !f) {
		if (!d)
			snprintf(buf + off, len - off, "T0S");
		return;
	}
	off += snprintf(buf + off, len - off, "T");
	if (h)
		off += snprintf(buf + off, len - off, "%" PRIu64 "H", h);
	if (m)
		off += snprintf(buf + off, len - off, "%" PRIu64 "M", m);
	if (s || f) {
		off += snprintf(buf + off, len - off, "%" PRIu64, s);
		if (f) {
			off += snprintf(buf + off, len - off, ".%03" PRIu64, f);
			while (buf[off - 1] == '0')
				buf[--off] = '\0';
		}
		snprintf(buf + off, len - off, "S");
	}
}

static struct json_object *setting_json(const struct config *c, int id)
{
	const struct setting *s = &settings[id];
	struct json_object *a;
	char b[64];

	switch (s->kind) {
	case K_DUR:
	case K_DUR0:
		twin_format_duration(load(c, s), b, sizeof(b));
		return json_object_new_string(b);
	case K_SIZE:
	case K_INT:
		return json_object_new_uint64(load(c, s));
	case K_BOOL:
		return json_object_new_boolean(load(c, s));
	case K_PRIO:
		return json_object_new_string(prio_names[load(c, s) % PRIO_N]);
	case K_WATCH:
		a = json_object_new_array();
		for (unsigned int i = 0; a && i < c->n_watch; i++)
			json_object_array_add(a, json_object_new_string(
						      c->watch[i]));
		return a;
	case K_NAMES:
		a = json_object_new_array();
		for (unsigned int i = 0; a && i < c->baseline.n_rules_off; i++)
			json_object_array_add(a, json_object_new_string(
					c->baseline.rules_off[i]));
		return a;
	case K_IOC:
		a = json_object_new_array();
		for (unsigned int i = 0; a && i < c->detect.n_twin_ioc[s->max];
		     i++)
			json_object_array_add(a, json_object_new_string(
					c->detect.twin_ioc[s->max][i]));
		return a;
	}
	return NULL;
}

void twin_setting_text(const struct config *c, int id, char *buf, size_t len)
{
	struct json_object *j = setting_json(c, id);
	const char *t = j ? json_object_get_type(j) == json_type_string ?
			json_object_get_string(j) :
			json_object_to_json_string_ext(j,
				JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE) : "";

	snprintf(buf, len, "%s", t);
	json_object_put(j);
}

/* V as JSON text, for messages */
static const char *jtext(struct json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

static const char *jtype(struct json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* A duration in ms from V: ISO-8601 only (Azure) or any (iotsec). */
static int get_ms(struct json_object *v, bool iso_only, uint64_t *ms,
		  char *why, size_t wl)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, wl, "expected a duration string, got %s",
			 jtype(v));
		return -EINVAL;
	}
	s = json_object_get_string(v);
	if (iso_only ? parse_iso8601_duration(s, ms) : parse_duration(s, ms)) {
		snprintf(why, wl, "expected %s, got '%.60s'", iso_only ?
			 "an ISO-8601 duration like PT7M or P1DT12H" :
			 "a duration like PT7M, 30s or 5m", s);
		return -EINVAL;
	}
	return 0;
}

/* A non-negative JSON integer (no fraction, no string). */
static int get_uint(struct json_object *v, uint64_t *n, char *why,
		    size_t wl)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int)) {
		snprintf(why, wl, "expected an integer, got %s", jtype(v));
		return -EINVAL;
	}
	errno = 0;
	x = json_object_get_int64(v);
	if (x < 0 || errno) {
		snprintf(why, wl, "expected a non-negative integer, got %s",
			 jtext(v));
		return -EINVAL;
	}
	*n = x;
	return 0;
}

static int in_range(const struct setting *s, uint64_t v, char *why,
		    size_t wl)
{
	char lo[48], hi[48];

	if (s->kind == K_DUR0 && !v)
		return 0;
	if (v >= s->min && v <= s->max)
		return 0;
	if (s->kind == K_DUR || s->kind == K_DUR0) {
		twin_format_duration(s->min, lo, sizeof(lo));
		twin_format_duration(s->max, hi, sizeof(hi));
		snprintf(why, wl, "out of range: expected %s to %s%s", lo, hi,
			 s->kind == K_DUR0 ? ", or PT0S for none" : "");
	} else {
		snprintf(why, wl, "out of range: expected %" PRIu64 " to %"
			 PRIu64, s->min, s->max);
	}
	return -ERANGE;
}

static int set_watch(struct config *c, struct json_object *v,
		     char *why, size_t wl)
{
	char *paths[IOTSEC_WATCH_MAX];
	size_t n, i;

	if (!json_object_is_type(v, json_type_array)) {
		snprintf(why, wl, "expected a list of absolute paths, got %s",
			 jtype(v));
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (n > IOTSEC_WATCH_MAX) {
		snprintf(why, wl, "out of range: expected at most %d paths",
			 IOTSEC_WATCH_MAX);
		return -ERANGE;
	}
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(p);

		if (!json_object_is_type(p, json_type_string) || s[0] != '/' ||
		    strlen(s) >= IOTSEC_PATH_MAX ||
		    strlen(s) != (size_t)json_object_get_string_len(p)) {
			snprintf(why, wl, "expected absolute paths, got %.60s "
				 "at [%zu]", jtext(p), i);
			while (i--)
				free(paths[i]);
			return -EINVAL;
		}
		paths[i] = strdup(s);
		if (!paths[i]) {
			snprintf(why, wl, "out of memory");
			while (i--)
				free(paths[i]);
			return -ENOMEM;
		}
	}
	for (i = 0; i < c->n_watch; i++)
		free(c->watch[i]);
	memcpy(c->watch, paths, n * sizeof(*paths));
	c->n_watch = n;
	return 0;
}

/* rules.disabled: rule names (as a rules file spells them), the whole list */
static int set_names(struct config *c, struct json_object *v, char *why,
		     size_t wl)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
	struct baseline_settings *b = &c->baseline;
	char *names[RULES_OFF_MAX];
	size_t n, i;

	if (!json_object_is_type(v, json_type_array)) {
		snprintf(why, wl, "expected a list of rule names, got %s",
			 jtype(v));
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (n > RULES_OFF_MAX) {
		snprintf(why, wl, "out of range: expected at most %d names",
			 RULES_OFF_MAX);
		return -ERANGE;
	}
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(p);

		if (!json_object_is_type(p, json_type_string) || !*s ||
		    strlen(s) > 128 || strspn(s, ok) != strlen(s) ||
		    strlen(s) != (size_t)json_object_get_string_len(p)) {
			snprintf(why, wl, "expected rule names (letters, "
				 "digits, - _ .), got %.60s at [%zu]",
				 jtext(p), i);
			while (i--)
				free(names[i]);
			return -EINVAL;
		}
		names[i] = strdup(s);
		if (!names[i]) {
			snprintf(why, wl, "out of memory");
			while (i--)
				free(names[i]);
			return -ENOMEM;
		}
	}
	for (i = 0; i < b->n_rules_off; i++)
		free(b->rules_off[i]);
	memcpy(b->rules_off, names, n * sizeof(*names));
	b->n_rules_off = n;
	return 0;
}

/* the first complaint of the indicator parser, for the reason */
static void ioc_why(void *ctx, const char *msg)
{
	char *why = ctx;
	const char *p = strstr(msg, ": ");

	/* "NAME:LINE: what": the what */
	if (!*why)
		snprintf(why, 128, "%s", p ? p + 2 : msg);
}

static void free_list(char **v, size_t n)
{
	while (n--)
		free(v[n]);
	free(v);
}

/*
 * indicators.KIND: the whole list, each entry as a line of the list's
 * file would be (the indicator parser says what is wrong), bounded.
 */
static int set_ioc(struct config *c, enum ioc_kind k, struct json_object *v,
		   char *why, size_t wl)
{
	struct detect_settings *d = &c->detect;
	size_t n, i, total = 0;
	char **list;

	if (!json_object_is_type(v, json_type_array)) {
		snprintf(why, wl, "expected a list of %s indicators, got %s",
			 ioc_kind_name(k), jtype(v));
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (n > TWIN_IOC_MAX) {
		snprintf(why, wl, "out of range: expected at most %d entries",
			 TWIN_IOC_MAX);
		return -ERANGE;
	}
	for (unsigned int j = 0; j < TWIN_IOC_LISTS; j++)
		for (unsigned int x = 0; j != k && x < d->n_twin_ioc[j]; x++)
			total += strlen(d->twin_ioc[j][x]);
	list = calloc(n ? n : 1, sizeof(*list));
	if (!list) {
		snprintf(why, wl, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(v, i);
		const char *s = json_object_get_string(p);
		size_t len = s ? strlen(s) : 0;
		struct ioc_set *one;
		char msg[128] = "";
		int ret;

		if (!json_object_is_type(p, json_type_string) || !len ||
		    len > TWIN_IOC_LEN ||
		    len != (size_t)json_object_get_string_len(p)) {
			snprintf(why, wl, "expected %s indicators of 1 to %d "
				 "bytes, got %.60s at [%zu]", ioc_kind_name(k),
				 TWIN_IOC_LEN, jtext(p), i);
			free_list(list, i);
			return -EINVAL;
		}
		total += len;
		if (total > TWIN_IOC_TOTAL) {
			snprintf(why, wl, "out of range: the four lists hold "
				 "at most %d bytes", TWIN_IOC_TOTAL);
			free_list(list, i);
			return -ERANGE;
		}
		/* one line, as is: no comment, no blank around, no break */
		for (const char *q = s; *q && !*msg; q++)
			if ((unsigned char)*q < 0x20 || *q == '#' ||
			    (*q == ' ' && (q == s || !q[1])))
				snprintf(msg, sizeof(msg), "a control "
					 "character, '#' or a blank at an end");
		one = ioc_new();
		ret = !one ? -ENOMEM : *msg ? 0 :
		      ioc_add_text(one, k, "", s, len, ioc_why, msg);
		ioc_free(one);
		if (ret != 1 || *msg) {
			if (ret == -ENOMEM)
				snprintf(msg, sizeof(msg), "out of memory");
			snprintf(why, wl, "%s at [%zu]", *msg ? msg :
				 "not an indicator", i);
			free_list(list, i);
			return ret == -ENOMEM ? ret : -EINVAL;
		}
		list[i] = strdup(s);
		if (!list[i]) {
			snprintf(why, wl, "out of memory");
			free_list(list, i);
			return -ENOMEM;
		}
	}
	free_list(d->twin_ioc[k], d->n_twin_ioc[k]);
	d->twin_ioc[k] = list;
	d->n_twin_ioc[k] = n;
	return 0;
}

/* Setting ID from V, an iotsec value; the reason in WHY when not. */
static int set_value(struct config *c, int id, struct json_object *v,
		     char *why, size_t wl)
{
	const struct setting *s = &settings[id];
	uint64_t n = 0;
	int ret;

	switch (s->kind) {
	case K_DUR:
	case K_DUR0:
		ret = get_ms(v, false, &n, why, wl);
		break;
	case K_SIZE:
		if (json_object_is_type(v, json_type_string)) {
			ret = parse_size(json_object_get_string(v), &n);
			if (ret)
				snprintf(why, wl, "expected a size like 65536 "
					 "or \"64KiB\", got '%.60s'",
					 json_object_get_string(v));
			break;
		}
		/* fallthrough */
	case K_INT:
		ret = get_uint(v, &n, why, wl);
		break;
	case K_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, wl, "expected true or false, got %s",
				 jtype(v));
			return -EINVAL;
		}
		store(c, s, json_object_get_boolean(v));
		return 0;
	case K_PRIO:
		for (n = 0; n < PRIO_N; n++)
			if (json_object_is_type(v, json_type_string) &&
			    !strcasecmp(json_object_get_string(v),
					prio_names[n]))
				break;
		if (n == PRIO_N) {
			snprintf(why, wl, "expected off, low, high or alert, "
				 "got %.60s", jtext(v));
			return -EINVAL;
		}
		store(c, s, n);
		return 0;
	case K_WATCH:
		return set_watch(c, v, why, wl);
	case K_NAMES:
		return set_names(c, v, why, wl);
	case K_IOC:
		return set_ioc(c, (enum ioc_kind)s->max, v, why, wl);
	default:
		return -EINVAL;
	}
	if (!ret)
		ret = in_range(s, n, why, wl);
	if (!ret)
		store(c, s, n);
	return ret;
}

/* ---- Azure's agent configuration ---- */

enum akind { A_DUR, A_INT, A_PRIO, A_BOOL };

/*
 * Azure's keys, each onto up to two settings (a ConnectionCreate is
 * iotsec's connect and accept). A key without settings is validated and
 * has no effect (docs/twin.md says why for each).
 */
struct azure_key {
	const char *name;
	enum akind kind;
	const char *set[2];
	uint64_t min, max;	/* A_INT: Azure's own range, besides ours */
};

static const struct azure_key azure_keys[] = {
	{ .name = "highPriorityMessageFrequency", .kind = A_DUR,
	  .set = { "priorities.high" } },
	{ .name = "lowPriorityMessageFrequency", .kind = A_DUR,
	  .set = { "priorities.low" } },
	{ .name = "snapshotFrequency", .kind = A_DUR,
	  .set = { "snapshots.interval" } },
	{ .name = "maxLocalCacheSizeInBytes", .kind = A_INT,
	  .set = { "spool.size" }, .min = 8192, .max = UINT64_MAX },
	{ .name = "maxMessageSizeInBytes", .kind = A_INT,
	  .set = { "messages.max_size" }, .min = 8192, .max = 262144 },
	{ .name = "eventPriorityProcessCreate", .kind = A_PRIO,
	  .set = { "events.exec.priority" } },
	{ .name = "eventPriorityProcessTerminate", .kind = A_PRIO,
	  .set = { "events.exit.priority" } },
	{ .name = "eventPriorityConnectionCreate", .kind = A_PRIO,
	  .set = { "events.connect.priority", "events.accept.priority" } },
	{ .name = "eventPriorityListeningPorts", .kind = A_PRIO,
	  .set = { "snapshots.listening_ports" } },
	{ .name = "eventPriorityLocalUsers", .kind = A_PRIO,
	  .set = { "snapshots.local_users" } },
	{ .name = "eventPrioritySystemInformation", .kind = A_PRIO,
	  .set = { "snapshots.system_information" } },
	{ .name = "eventPriorityOSBaseline", .kind = A_PRIO,
	  .set = { "snapshots.os_baseline" } },
	{ .name = "eventPriorityLogin", .kind = A_PRIO,
	  .set = { "logins.enabled" } },
	{ .name = "eventPriorityConnectedHardware", .kind = A_PRIO },
	{ .name = "eventPriorityFirewallConfiguration", .kind = A_PRIO },
	{ .name = "eventPriorityDiagnostic", .kind = A_PRIO },
	{ .name = "eventPriorityConfigurationError", .kind = A_PRIO },
	{ .name = "eventPriorityDroppedEventsStatistics", .kind = A_PRIO },
	{ .name = "eventPriorityMessageStatistics", .kind = A_PRIO },
	{ .name = "aggregationEnabledProcessCreate", .kind = A_BOOL,
	  .set = { "events.exec.aggregate" } },
	{ .name = "aggregationEnabledConnectionCreate", .kind = A_BOOL,
	  .set = { "events.connect.aggregate", "events.accept.aggregate" } },
	{ .name = "aggregationEnabledProcessTerminate", .kind = A_BOOL,
	  .set = { "events.exit.aggregate" } },
	{ .name = "aggregationIntervalProcessCreate", .kind = A_DUR },
	{ .name = "aggregationIntervalConnectionCreate", .kind = A_DUR },
	{ .name = "aggregationIntervalProcessTerminate", .kind = A_DUR },
};

static const char *const azure_prio[] = { "Off", "Low", "High" };

static void azure_key(struct config *c, const struct azure_key *ak,
		      const char *key, struct json_object *w,
		      struct twin_errors *e)
{
	struct json_object *v = NULL;
	int ids[2] = { -1, -1 };
	char why[160] = "";
	uint64_t n = 0;
	int ret = 0;

	for (int i = 0; i < 2 && ak->set[i]; i++)
		ids[i] = twin_setting_id(ak->set[i]);
	/* Azure's shape: {"value": X} */
	if (!json_object_is_type(w, json_type_object) ||
	    !json_object_object_get_ex(w, "value", &v) ||
	    json_object_object_length(w) != 1) {
		refuse(e, c, ids[0], key, TWIN_ERR_TYPE, "expected "
		       "{\"value\": ...} as in Azure's schema, got %.60s",
		       jtext(w));
		return;
	}
	switch (ak->kind) {
	case A_DUR:
		ret = get_ms(v, true, &n, why, sizeof(why));
		break;
	case A_INT:
		ret = get_uint(v, &n, why, sizeof(why));
		if (!ret && (n < ak->min || n > ak->max)) {
			snprintf(why, sizeof(why), ak->max == UINT64_MAX ?
				 "out of range: Azure's minimum is %" PRIu64 :
				 "out of range: expected %" PRIu64 " to %"
				 PRIu64, ak->min, ak->max);
			ret = -ERANGE;
		}
		break;
	case A_PRIO:
		ret = -EINVAL;
		for (n = 0; n < ARRAY_SIZE(azure_prio) && ret; n++)
			if (json_object_is_type(v, json_type_string) &&
			    !strcmp(json_object_get_string(v), azure_prio[n]))
				ret = 0;
		n--;
		if (ret)
			snprintf(why, sizeof(why), "expected Off, Low or High, "
				 "got %.60s", jtext(v));
		break;
	case A_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, sizeof(why), "expected true or false, "
				 "got %s", jtype(v));
			ret = -EINVAL;
		}
		n = json_object_get_boolean(v);
		break;
	}
	if (ret) {
		refuse(e, c, ids[0], key, TWIN_ERR_TYPE, "%s", why);
		return;
	}
	for (int i = 0; i < 2 && ids[i] >= 0; i++) {
		const struct setting *s = &settings[ids[i]];
		uint64_t x = n;

		if (!twin_setting_allowed(c, ids[i])) {
			refuse(e, c, ids[i], key, TWIN_ERR_CONFLICT,
			       "%s is locked by the local configuration",
			       s->name);
			continue;
		}
		/* Azure's priorities switch what has no priority here */
		if (ak->kind == A_PRIO && s->kind == K_BOOL)
			x = n != PRIO_OFF;
		if (s->kind != K_BOOL && s->kind != K_PRIO &&
		    in_range(s, x, why, sizeof(why))) {
			refuse(e, c, ids[i], key, TWIN_ERR_TYPE, "%s", why);
			continue;
		}
		store(c, s, x);
		c->src[ids[i]] = SRC_TWIN;
	}
}

static void azure_object(struct config *c, struct json_object *o,
			 struct twin_errors *e)
{
	char key[160];

	if (!json_object_is_type(o, json_type_object)) {
		refuse(e, c, -1, TWIN_AZURE_KEY, TWIN_ERR_TYPE,
		       "expected an object, got %s", jtype(o));
		return;
	}
	json_object_object_foreach(o, k, v) {
		const struct azure_key *ak = NULL;

		if (k[0] == '$' || !v)
			continue;	/* the hub's metadata; removed keys */
		snprintf(key, sizeof(key), "%s.%s", TWIN_AZURE_KEY, k);
		for (size_t i = 0; i < ARRAY_SIZE(azure_keys) && !ak; i++)
			if (!strcmp(k, azure_keys[i].name))
				ak = &azure_keys[i];
		if (!ak) {
			refuse(e, c, -1, key, TWIN_ERR_TYPE, "unknown key");
			continue;
		}
		azure_key(c, ak, key, v, e);
	}
}

/* ---- iotsec's object ---- */

/* PATH (a setting or a prefix) within the iotsec object O */
static void iotsec_walk(struct config *c, const char *path,
			struct json_object *o, struct twin_errors *e)
{
	char name[128], key[160], why[160];

	json_object_object_foreach(o, k, v) {
		int id;

		if (k[0] == '$' || !v)
			continue;
		snprintf(name, sizeof(name), "%s%s%s", path, *path ? "." : "",
			 k);
		snprintf(key, sizeof(key), "%s.%s", TWIN_IOTSEC_KEY, name);
		id = twin_setting_id(name);
		if (id < 0 && strchr(k, '.') == NULL &&
		    twin_setting_prefix(name)) {
			if (!json_object_is_type(v, json_type_object)) {
				refuse(e, c, -1, key, TWIN_ERR_TYPE, "expected "
				       "an object, got %s", jtype(v));
				continue;
			}
			iotsec_walk(c, name, v, e);
			continue;
		}
		if (id < 0) {
			refuse(e, c, -1, key, TWIN_ERR_TYPE, "unknown key");
			continue;
		}
		if (!twin_setting_allowed(c, id)) {
			refuse(e, c, id, key, TWIN_ERR_CONFLICT, "%s is locked "
			       "by the local configuration", name);
			continue;
		}
		why[0] = '\0';
		if (set_value(c, id, v, why, sizeof(why))) {
			refuse(e, c, id, key, TWIN_ERR_TYPE, "%s", why);
			continue;
		}
		c->src[id] = SRC_TWIN;
	}
}

int twin_overlay(struct config *c, struct json_object *desired,
		 const struct config *running, struct twin_errors *e)
{
	struct json_object *a = NULL, *i = NULL;

	memset(e, 0, sizeof(*e));
	e->running = running;
	if (!desired)
		return 0;
	json_object_object_get_ex(desired, TWIN_AZURE_KEY, &a);
	json_object_object_get_ex(desired, TWIN_IOTSEC_KEY, &i);
	if ((a || i) && !c->twin.enabled) {
		refuse(e, c, -1, a ? TWIN_AZURE_KEY : TWIN_IOTSEC_KEY,
		       TWIN_ERR_CONFLICT, "configuration through the twin is "
		       "off in the local configuration (twin.enabled)");
		return -EINVAL;
	}
	/* Azure's first: iotsec's own object is the more precise */
	if (a)
		azure_object(c, a, e);
	if (i && !json_object_is_type(i, json_type_object))
		refuse(e, c, -1, TWIN_IOTSEC_KEY, TWIN_ERR_TYPE,
		       "expected an object, got %s", jtype(i));
	else if (i)
		iotsec_walk(c, "", i, e);
	return e->total ? -EINVAL : 0;
}

/* ---- documents ---- */

struct json_object *twin_pick(struct json_object *desired)
{
	static const char *const keys[] = { TWIN_AZURE_KEY, TWIN_IOTSEC_KEY };
	struct json_object *o = NULL, *v;

	if (!desired || !json_object_is_type(desired, json_type_object))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!json_object_object_get_ex(desired, keys[i], &v))
			continue;
		if (!o)
			o = json_object_new_object();
		if (!o)
			return NULL;
		json_object_object_add(o, keys[i], v ? json_object_get(v) :
				       NULL);
	}
	return o;
}

static struct json_object *copy(struct json_object *o)
{
	struct json_object *c = NULL;

	if (o && json_object_deep_copy(o, &c, NULL))
		return NULL;
	return c;
}

struct json_object *twin_merge(struct json_object *base,
			       struct json_object *patch)
{
	struct json_object *m = base ? copy(base) : json_object_new_object();

	if (!m || !patch)
		return m;
	json_object_object_foreach(patch, k, v) {
		struct json_object *old = NULL;

		if (!v) {
			json_object_object_del(m, k);
		} else if (json_object_is_type(v, json_type_object) &&
			   json_object_object_get_ex(m, k, &old) &&
			   json_object_is_type(old, json_type_object)) {
			json_object_object_add(m, k, twin_merge(old, v));
		} else if (json_object_is_type(v, json_type_object)) {
			/* nulls inside a new object mean nothing either */
			json_object_object_add(m, k, twin_merge(NULL, v));
		} else {
			json_object_object_add(m, k, copy(v));
		}
	}
	return m;
}

int64_t twin_version(struct json_object *desired)
{
	struct json_object *v;

	if (!desired || !json_object_object_get_ex(desired, "$version", &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* ---- on disk ---- */

/* The directory of PATH into DIR ("." without a '/'). */
static void dir_of(const char *path, char *dir, size_t len)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (!n)
		snprintf(dir, len, ".");
	else
		snprintf(dir, len, "%.*s", (int)n, path);
}

void twin_state_path(const struct config *c, char *buf, size_t len)
{
	const char *spool = c->spool.path ? c->spool.path : IOTSEC_SPOOL_PATH;
	char dir[PATH_MAX];

	if (c->twin.state) {
		snprintf(buf, len, "%s", c->twin.state);
		return;
	}
	if (!*spool) {		/* a spool in memory: nowhere to keep it */
		buf[0] = '\0';
		return;
	}
	dir_of(spool, dir, sizeof(dir));
	snprintf(buf, len, "%s%stwin.json", dir, strcmp(dir, "/") ? "/" : "");
}

int twin_save(const char *path, struct json_object *applied,
	      int64_t version, char *err, size_t errlen)
{
	struct json_object *o = json_object_new_object();
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *text;
	size_t len, off = 0;
	int fd = -1, ret;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "version", json_object_new_int64(version));
	json_object_object_add(o, "desired", applied ? copy(applied) :
			       json_object_new_object());
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	/* a link planted at the temporary name is not followed */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd))
		goto fail;
	ret = close(fd);
	fd = -1;
	if (ret || rename(tmp, path))
		goto fail;
	/* the rename itself, durable */
	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
		fd = -1;
	}
	ret = 0;
	goto out;
fail:
	ret = -errno;
	snprintf(err, errlen, "%s: %s", fd >= 0 || off < len ? tmp : path,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	json_object_put(o);
	return ret;
}

int twin_load(const char *path, struct json_object **applied,
	      int64_t *version, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o = NULL, *d, *v;
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fd, ret = -EINVAL;

	*applied = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 20) ||
	    !(buf = malloc(st.st_size + 1))) {
		snprintf(err, errlen, "%s: expected a regular file of at most "
			 "1 MiB", path);
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, st.st_size - off);

		if (n <= 0)
			break;
		off += n;
	}
	buf[off] = '\0';
	tok = json_tokener_new();
	if (tok) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		o = json_tokener_parse_ex(tok, buf, off);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) < off - (off &&
						buf[off - 1] == '\n')) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    !json_object_object_get_ex(o, "desired", &d) ||
	    !json_object_is_type(d, json_type_object) ||
	    json_object_object_length(o) != 2) {
		snprintf(err, errlen, "%s: not a saved twin configuration "
			 "(corrupt?)", path);
		goto out;
	}
	*version = json_object_get_int64(v);
	*applied = twin_pick(d);
	if (!*applied)
		*applied = json_object_new_object();
	ret = *applied ? 0 : -ENOMEM;
out:
	json_object_put(o);
	free(buf);
	close(fd);
	return ret;
}

/* ---- what is in force ---- */

static const char *const source_names[] = {
	[SRC_DEFAULT] = "default", [SRC_YAML] = "yaml", [SRC_TWIN] = "twin",
};

/* O's member for "a.b.c", the objects on the way made */
static struct json_object *nest(struct json_object *o, const char *name,
				const char **leaf)
{
	char part[64];
	const char *dot;

	while ((dot = strchr(name, '.'))) {
		struct json_object *sub;

		snprintf(part, sizeof(part), "%.*s", (int)(dot - name), name);
		if (!json_object_object_get_ex(o, part, &sub)) {
			sub = json_object_new_object();
			if (!sub)
				return NULL;
			json_object_object_add(o, part, sub);
		}
		o = sub;
		name = dot + 1;
	}
	*leaf = name;
	return o;
}

struct json_object *twin_effective(const struct config *c)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < ARRAY_SIZE(settings); i++) {
		struct json_object *e = json_object_new_object(), *at;
		const char *leaf;

		if (!e)
			break;
		json_object_object_add(e, "value", setting_json(c, i));
		json_object_object_add(e, "source", json_object_new_string(
			source_names[c->src[i] % ARRAY_SIZE(source_names)]));
		at = nest(o, settings[i].name, &leaf);
		if (!at) {
			json_object_put(e);
			break;
		}
		json_object_object_add(at, leaf, e);
	}
	return o;
}

struct json_object *twin_azure_effective(const struct config *c)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; o && i < ARRAY_SIZE(azure_keys); i++) {
		const struct azure_key *ak = &azure_keys[i];
		int id = ak->set[0] ? twin_setting_id(ak->set[0]) : -1;
		struct json_object *w, *v;
		uint64_t x;

		if (id < 0)
			continue;	/* no such setting here: not reported */
		x = load(c, &settings[id]);
		switch (ak->kind) {
		case A_PRIO:
			if (settings[id].kind == K_BOOL)
				v = json_object_new_string(x ? "High" : "Off");
			else
				v = json_object_new_string(x == PRIO_OFF ?
					"Off" : x == PRIO_LOW ? "Low" : "High");
			break;
		default:
			v = setting_json(c, id);
		}
		w = json_object_new_object();
		if (!w) {
			json_object_put(v);
			break;
		}
		json_object_object_add(w, "value", v);
		json_object_object_add(o, ak->name, w);
	}
	return o;
}

/* ---- ConfigurationError ---- */

int twin_config_error(struct ser *s, const struct twin_errors *errs,
		      int64_t version, uint64_t boot_ns, char **out,
		      size_t *len)
{
	struct json_object *arr = json_object_new_array(), *ev;
	char ver[24];
	const char *t;

	snprintf(ver, sizeof(ver), "%" PRId64, version);
	for (unsigned int i = 0; arr && i < errs->n; i++) {
		const struct twin_error *x = &errs->e[i];
		struct json_object *p = json_object_new_object();
		struct json_object *xd = json_object_new_object();

		if (!p || !xd) {
			json_object_put(p);
			json_object_put(xd);
			json_object_put(arr);
			return -ENOMEM;
		}
		json_object_object_add(p, "ConfigurationName",
				       json_object_new_string(x->key));
		json_object_object_add(p, "ErrorType",
				       json_object_new_string(x->type));
		json_object_object_add(p, "UsedConfiguration",
				       json_object_new_string(x->used));
		json_object_object_add(p, "Message", json_object_new_string(
					       x->reason));
		json_object_object_add(xd, "DesiredVersion",
				       json_object_new_string(ver));
		json_object_object_add(xd, "Refused", json_object_new_string(
					       "the whole patch; the last "
					       "good configuration stays"));
		if (errs->total > errs->n && i == 0) {
			char more[24];

			snprintf(more, sizeof(more), "%u", errs->total);
			json_object_object_add(xd, "ErrorsFound",
					       json_object_new_string(more));
		}
		json_object_object_add(p, "ExtraDetails", xd);
		json_object_array_add(arr, p);
	}
	ev = ser_event("Operational", "Triggered", "ConfigurationError", arr);
	if (!ev || ser_stamp(s, ev, boot_ns)) {
		json_object_put(ev);
		return -ENOMEM;
	}
	t = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	*out = t ? strdup(t) : NULL;
	*len = *out ? strlen(*out) : 0;
	json_object_put(ev);
	return *out ? 0 : -ENOMEM;
}
