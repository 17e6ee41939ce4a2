// SPDX-License-Identifier: MIT
/*
 * The YAML configuration. libyaml loads the document; a small walker
 * checks every key and value against what is expected and reports the
 * first problem as "file:line:column: ...".
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <grp.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <yaml.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <iotsec/iotsec.h>
#include "common/util.h"
#include "daemon/config.h"
#include "daemon/twin.h"

static const char *const prio_names[PRIO_N] = {
	[PRIO_OFF] = "off", [PRIO_LOW] = "low", [PRIO_HIGH] = "high",
	[PRIO_ALERT] = "alert",
};

const char *prio_name(enum prio p)
{
	return p < PRIO_N ? prio_names[p] : "?";
}

void config_defaults(struct config *c)
{
	static const struct type_config def[IOTSEC_EVENT_MAX + 1] = {
		[IOTSEC_EVENT_EXEC] = { PRIO_HIGH, true },
		[IOTSEC_EVENT_EXIT] = { PRIO_LOW, true },
		[IOTSEC_EVENT_FORK] = { PRIO_OFF, true },
		[IOTSEC_EVENT_CONNECT] = { PRIO_HIGH, true },
		[IOTSEC_EVENT_ACCEPT] = { PRIO_HIGH, true },
		[IOTSEC_EVENT_LISTEN] = { PRIO_LOW, true },
		[IOTSEC_EVENT_CRED] = { PRIO_ALERT, false },
		[IOTSEC_EVENT_MODULE] = { PRIO_ALERT, false },
		[IOTSEC_EVENT_PTRACE] = { PRIO_ALERT, false },
		[IOTSEC_EVENT_FILE] = { PRIO_HIGH, true },
		[IOTSEC_EVENT_TAMPER] = { PRIO_ALERT, false },
	};

	memset(c, 0, sizeof(*c));
	c->mqtt.mode = MQTT_MODE_BROKER;
	c->mqtt.auth = MQTT_AUTH_NONE;
	c->mqtt.keepalive = 60;
	c->mqtt.sas_ttl = 3600;
	c->interval_ms[PRIO_ALERT] = 0;
	/* Azure's module twin defaults: PT7M and PT5H */
	c->interval_ms[PRIO_HIGH] = 7 * 60 * 1000;
	c->interval_ms[PRIO_LOW] = 5 * 60 * 60 * 1000;
	memcpy(c->types, def, sizeof(def));
	c->max_message_size = IOTSEC_HUB_MAX_MESSAGE;
	c->queue_limit = 1 << 20;
	c->statistics_ms = 60 * 60 * 1000;
	/* Defender for IoT micro agent's High priority interval: 30 min */
	c->heartbeat_ms = 30 * 60 * 1000;
	c->ack_timeout_ms = 120 * 1000;
	c->argv_max = IOTSEC_ARGV_MAX_DEFAULT;
	c->receive_buffer = 8 << 20;
	c->exclude_self = true;
	c->enrich_users = c->enrich_parent = c->enrich_container = true;
	c->log_level = LOG_INFO;
	c->sdk.enabled = true;
	c->sdk.mode = 0660;
	c->sdk.group = (gid_t)-1;
	c->sdk.max_clients = 64;
	c->sdk.max_per_uid = 8;
	c->sdk.rate = 20;
	c->sdk.burst = 50;
	c->sdk.max_message = IOTSEC_MAX_MESSAGE;
	c->logins.enabled = true;
	c->logins.aggregate_ms = 60 * 1000;
	c->local.rate = 100;
	c->local.burst = 500;
	c->snapshots.interval_ms = 60 * 60 * 1000;
	c->snapshots.first_delay_ms = 10 * 1000;
	c->snapshots.listening_ports = c->snapshots.local_users = true;
	c->snapshots.system_information = c->snapshots.os_baseline = true;
	c->spool.size = IOTSEC_SPOOL_SIZE;
	c->spool.sync_ms = IOTSEC_SPOOL_SYNC_MS;
	c->spool.local_share = 25;
	c->twin.enabled = true;
	c->rules.enabled = true;
	c->rules.aggregate_ms = 60 * 1000;
	/* hashes, indicators, packages (docs/rules.md) */
	c->detect.hash_cache = 4096;
	c->detect.hash_max_size = 64ULL << 20;
	c->detect.hash_max_ms = 2000;
	c->detect.hash_wait_ms = 500;
	c->detect.ioc_refresh_ms = 10 * 60 * 1000;
	c->detect.packages = true;
	/* the learned baseline: off until a device runs what it should */
	c->baseline.window_ms = 7 * 24 * 3600 * 1000ULL;
	c->baseline.max_entries = 10000;
}

void config_free(struct config *c)
{
	mqtt_config_free(&c->mqtt);
	for (unsigned int i = 0; i < c->n_watch; i++)
		free(c->watch[i]);
	c->n_watch = 0;
	free(c->sdk.socket);
	c->sdk.socket = NULL;
	free(c->logins.wtmp);
	free(c->logins.btmp);
	free(c->logins.utmp);
	free(c->logins.state);
	c->logins.wtmp = c->logins.btmp = c->logins.utmp = NULL;
	c->logins.state = NULL;
	free(c->spool.path);
	c->spool.path = NULL;
	for (unsigned int i = 0; i < c->twin.n_allow; i++)
		free(c->twin.allow[i]);
	for (unsigned int i = 0; i < c->twin.n_lock; i++)
		free(c->twin.lock[i]);
	c->twin.n_allow = c->twin.n_lock = 0;
	free(c->twin.state);
	c->twin.state = NULL;
	free(c->rules.dir);
	c->rules.dir = NULL;
	free(c->detect.ioc_hashes);
	free(c->detect.ioc_addresses);
	free(c->detect.ioc_domains);
	free(c->detect.ioc_paths);
	free(c->detect.dpkg_status);
	free(c->detect.opkg_status);
	c->detect.ioc_hashes = c->detect.ioc_addresses = NULL;
	c->detect.ioc_domains = c->detect.ioc_paths = NULL;
	c->detect.dpkg_status = c->detect.opkg_status = NULL;
	/* the twin's indicator lists (twin_config.c) */
	for (unsigned int k = 0; k < TWIN_IOC_LISTS; k++) {
		for (unsigned int i = 0; i < c->detect.n_twin_ioc[k]; i++)
			free(c->detect.twin_ioc[k][i]);
		free(c->detect.twin_ioc[k]);
		c->detect.twin_ioc[k] = NULL;
		c->detect.n_twin_ioc[k] = 0;
	}
	free(c->baseline.state);
	c->baseline.state = NULL;
	for (unsigned int i = 0; i < c->baseline.n_rules_off; i++)
		free(c->baseline.rules_off[i]);
	c->baseline.n_rules_off = 0;
	c->warning[0] = '\0';
}

/* ---- value parsers ---- */

static int parse_uint(const char **p, uint64_t *v, uint64_t *frac_num,
		      uint64_t *frac_den)
{
	const char *s = *p;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		if (n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (*s++ - '0');
	}
	*frac_num = 0;
	*frac_den = 1;
	if (*s == '.' || *s == ',') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		while (isdigit((unsigned char)*s)) {
			if (*frac_den < 1000000000ULL) {
				*frac_num = *frac_num * 10 + (*s - '0');
				*frac_den *= 10;
			}
			s++;
		}
	}
	*v = n;
	*p = s;
	return 0;
}

static int mul_add(uint64_t *acc, uint64_t n, uint64_t fn, uint64_t fd,
		   uint64_t unit)
{
	uint64_t x;

	if (unit && n > UINT64_MAX / unit)
		return -EINVAL;
	/*
	 * fn * unit / fd without the product, which can pass 64 bits (fn <
	 * fd <= 10^9, unit up to a year's ms) and 32-bit targets have no
	 * 128-bit type: with unit = q * fd + r, it is fn * q + fn * r / fd,
	 * exactly; fn * q < unit and fn * r < 10^18.
	 */
	x = n * unit + fn * (unit / fd) + fn * (unit % fd) / fd;
	if (x < n * unit)
		return -EINVAL;
	if (*acc > UINT64_MAX - x)
		return -EINVAL;
	*acc += x;
	return 0;
}

/*
 * ISO 8601 durations, PnYnMnWnDTnHnMnS: the designators in this order,
 * each at most once, a fraction only on the last one, at least one
 * component and one after a T. A year counts 365 days and a month 30
 * (a duration has no calendar to count them on; .NET's TimeSpan, which
 * Azure's agents used, counts them so).
 */
int parse_iso8601_duration(const char *s, uint64_t *ms)
{
	static const struct { char d; bool time; uint64_t ms; } units[] = {
		{ 'Y', false, 365 * 86400000ULL }, { 'M', false, 30 * 86400000ULL },
		{ 'W', false, 7 * 86400000ULL }, { 'D', false, 86400000ULL },
		{ 'H', true, 3600000ULL }, { 'M', true, 60000ULL },
		{ 'S', true, 1000ULL },
	};
	uint64_t acc = 0, n, fn, fd;
	size_t next = 0;
	bool in_time = false, any = false, frac = false;

	if (!s || *s++ != 'P' || !*s)
		return -EINVAL;
	while (*s) {
		size_t i;

		if (*s == 'T') {
			if (in_time || !s[1])
				return -EINVAL;
			in_time = true;
			s++;
			continue;
		}
		if (frac || parse_uint(&s, &n, &fn, &fd))
			return -EINVAL;
		for (i = next; i < ARRAY_SIZE(units); i++)
			if (units[i].d == *s && units[i].time == in_time)
				break;
		if (i == ARRAY_SIZE(units) || mul_add(&acc, n, fn, fd,
						      units[i].ms))
			return -EINVAL;
		frac = fd > 1;
		next = i + 1;
		any = true;
		s++;
	}
	/* "P1DT": a T with nothing after it */
	if (!any || (in_time && next <= 4))
		return -EINVAL;
	*ms = acc;
	return 0;
}

int parse_duration(const char *s, uint64_t *ms)
{
	static const struct { const char *u; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t acc = 0, n, fn, fd;
	bool any = false;

	if (!s || !*s)
		return -EINVAL;
	if (*s == 'P')
		return parse_iso8601_duration(s, ms);
	/* "1h30m", "90s", "250ms" */
	while (*s) {
		size_t i, best = 0, bestlen = 0;

		if (parse_uint(&s, &n, &fn, &fd))
			return -EINVAL;
		for (i = 0; i < ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].u);

			if (!strncmp(s, units[i].u, l) && l > bestlen &&
			    !isalpha((unsigned char)s[l])) {
				best = i;
				bestlen = l;
			}
		}
		if (!bestlen)
			return -EINVAL;
		if (mul_add(&acc, n, fn, fd, units[best].ms))
			return -EINVAL;
		s += bestlen;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ms = acc;
	return 0;
}

int parse_size(const char *s, uint64_t *bytes)
{
	static const struct { const char *u; uint64_t m; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "KiB", 1ULL << 10 }, { "MiB", 1ULL << 20 },
		{ "GiB", 1ULL << 30 },
		{ "kB", 1000 }, { "KB", 1000 }, { "MB", 1000000 },
		{ "GB", 1000000000 },
	};
	uint64_t n, fn, fd, acc = 0;

	if (!s || parse_uint(&s, &n, &fn, &fd))
		return -EINVAL;
	while (*s == ' ')
		s++;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(s, units[i].u))
			continue;
		if (mul_add(&acc, n, fn, fd, units[i].m))
			return -EINVAL;
		if (fn && units[i].m == 1)
			return -EINVAL;	/* half a byte */
		*bytes = acc;
		return 0;
	}
	return -EINVAL;
}

/* ---- the walker ---- */

struct walk {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errlen;
	struct config *c;
	bool has_hub, has_broker;
	char *connection_string;
	yaml_mark_t cs_mark;
	yaml_mark_t section;	/* the hub: or broker: mapping */
	uint32_t cur_type;	/* the events: entry being walked */
	char *gateway;
	yaml_mark_t password_mark;
	char path[160];		/* of the key being walked: "events.exec" */
};

static int fail(struct walk *w, yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct walk *w, yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off;

	off = snprintf(w->err, w->errlen, "%s:%zu:%zu: ", w->name,
		       n ? n->start_mark.line + 1 : 1,
		       n ? n->start_mark.column + 1 : 1);
	if (off < 0 || (size_t)off >= w->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(w->err + off, w->errlen - off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *kind(yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

static int scalar(struct walk *w, yaml_node_t *n, const char *what,
		  const char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return fail(w, n, "expected %s, got %s", what, kind(n));
	*out = (const char *)n->data.scalar.value;
	if (strlen(*out) != n->data.scalar.length)
		return fail(w, n, "expected %s, got a string with a NUL byte",
			    what);
	return 0;
}

static int get_string(struct walk *w, yaml_node_t *n, char **dst)
{
	const char *s = NULL;
	int ret = scalar(w, n, "a string", &s);

	if (ret)
		return ret;
	free(*dst);
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

static int get_bool(struct walk *w, yaml_node_t *n, bool *dst)
{
	static const char *const t[] = { "true", "yes", "on", "True", "TRUE" };
	static const char *const f[] = { "false", "no", "off", "False",
					 "FALSE" };
	const char *s = NULL;
	int ret = scalar(w, n, "true or false", &s);

	if (ret)
		return ret;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (!strcmp(s, t[i])) {
			*dst = true;
			return 0;
		}
		if (!strcmp(s, f[i])) {
			*dst = false;
			return 0;
		}
	}
	return fail(w, n, "expected true or false, got '%s'", s);
}

static int get_duration(struct walk *w, yaml_node_t *n, uint64_t *ms)
{
	const char *s = NULL;
	int ret = scalar(w, n, "a duration", &s);

	if (ret)
		return ret;
	if (parse_duration(s, ms))
		return fail(w, n, "expected a duration like 30s, 5m, 1h or "
			    "PT5M, got '%s'", s);
	return 0;
}

static int get_seconds(struct walk *w, yaml_node_t *n, unsigned int *sec,
		       unsigned int min, unsigned int max)
{
	uint64_t ms = 0;
	int ret = get_duration(w, n, &ms);

	if (ret)
		return ret;
	if (ms / 1000 < min || ms / 1000 > max)
		return fail(w, n, "expected a duration from %us to %us", min,
			    max);
	*sec = ms / 1000;
	return 0;
}

static int get_size(struct walk *w, yaml_node_t *n, uint64_t *v,
		    uint64_t min, uint64_t max)
{
	const char *s = NULL;
	int ret = scalar(w, n, "a size", &s);

	if (ret)
		return ret;
	if (parse_size(s, v))
		return fail(w, n, "expected a size like 4096, 64KiB or 10MiB, "
			    "got '%s'", s);
	if (*v < min || *v > max)
		return fail(w, n, "expected a size from %llu to %llu bytes, "
			    "got '%s'", (unsigned long long)min,
			    (unsigned long long)max, s);
	return 0;
}

static int get_int(struct walk *w, yaml_node_t *n, long *v, long min,
		   long max)
{
	const char *s = NULL;
	char *end;
	int ret = scalar(w, n, "an integer", &s);

	if (ret)
		return ret;
	errno = 0;
	*v = strtol(s, &end, 10);
	if (errno || end == s || *end || *v < min || *v > max)
		return fail(w, n, "expected an integer from %ld to %ld, got "
			    "'%s'", min, max, s);
	return 0;
}

/* An absolute path of at most MAX - 1 bytes; "" too when EMPTY_OK. */
static int get_path(struct walk *w, yaml_node_t *n, char **dst, size_t max,
		    bool empty_ok)
{
	const char *s = NULL;
	int ret = scalar(w, n, "an absolute path", &s);

	if (ret)
		return ret;
	if (!(empty_ok && !*s) && (s[0] != '/' || strlen(s) >= max))
		return fail(w, n, "expected an absolute path of at most %zu "
			    "bytes%s, got '%s'", max - 1,
			    empty_ok ? " (or \"\")" : "", s);
	return get_string(w, n, dst);
}

/*
 * The keys of each mapping, as tables: a key names the field of struct
 * config it sets and the getter that checks its value. Keys whose value
 * needs more than a type and a range have getters of their own.
 */
struct key;
typedef int (*get_fn)(struct walk *w, yaml_node_t *v, const struct key *k);

struct key {
	const char *name;
	get_fn get;
	size_t off, size;	/* the field in struct config */
	uint64_t min, max;
	const char *range;	/* what a duration out of range gets */
	const struct section *sub;	/* key_section() */
};

struct section {
	const struct key *keys;
	size_t n;
	const struct section *also;	/* keys shared with another section */
	/* a key not in the tables: -ENOENT, or the key's whole value */
	int (*other)(struct walk *w, const char *k, yaml_node_t *v);
	const char *other_keys;		/* what OTHER accepts, for errors */
};

#define FIELD(f) .off = offsetof(struct config, f), \
		 .size = sizeof(((struct config *)0)->f)
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define SECTION(tbl) .keys = tbl, .n = ARRAY_SIZE(tbl)

static void *field(struct walk *w, const struct key *k)
{
	return (char *)w->c + k->off;
}

/*
 * Integer fields are 32 bits (int, unsigned int, mode_t, gid_t, size_t on
 * 32-bit targets) or 64 bits wide.
 */
static void store(struct walk *w, const struct key *k, uint64_t v)
{
	void *p = field(w, k);

	if (k->size == sizeof(uint64_t))
		*(uint64_t *)p = v;
	else
		*(uint32_t *)p = v;
}

static int key_string(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_string(w, v, field(w, k));
}

static int key_bool(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_bool(w, v, field(w, k));
}

/* An absolute path shorter than MAX bytes. */
static int key_path(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_path(w, v, field(w, k), k->max, false);
}

/* The same, or "" for none. */
static int key_path_or_none(struct walk *w, yaml_node_t *v,
			    const struct key *k)
{
	return get_path(w, v, field(w, k), k->max, true);
}

static int key_int(struct walk *w, yaml_node_t *v, const struct key *k)
{
	long n = 0;
	int ret = get_int(w, v, &n, k->min, k->max);

	if (!ret)
		store(w, k, n);
	return ret;
}

static int key_size(struct walk *w, yaml_node_t *v, const struct key *k)
{
	uint64_t n = 0;
	int ret = get_size(w, v, &n, k->min, k->max);

	if (!ret)
		store(w, k, n);
	return ret;
}

static int key_seconds(struct walk *w, yaml_node_t *v, const struct key *k)
{
	unsigned int sec = 0;
	int ret = get_seconds(w, v, &sec, k->min, k->max);

	if (!ret)
		store(w, k, sec);
	return ret;
}

/* Whole seconds, kept in milliseconds. */
static int key_seconds_ms(struct walk *w, yaml_node_t *v, const struct key *k)
{
	unsigned int sec = 0;
	int ret = get_seconds(w, v, &sec, k->min, k->max);

	if (!ret)
		store(w, k, sec * 1000ULL);
	return ret;
}

static int key_duration(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_duration(w, v, field(w, k));
}

/* A duration from MIN to MAX ms; RANGE says so when it is not. */
static int key_interval(struct walk *w, yaml_node_t *v, const struct key *k)
{
	uint64_t ms = 0;
	int ret = get_duration(w, v, &ms);

	if (ret)
		return ret;
	if (ms < k->min || ms > k->max)
		return fail(w, v, "expected %s", k->range);
	store(w, k, ms);
	return 0;
}

/* The snapshot interval: as key_interval(), and 0 for none. */
static int key_snapshots(struct walk *w, yaml_node_t *v, const struct key *k)
{
	uint64_t ms = 0;
	int ret = get_duration(w, v, &ms);

	if (ret)
		return ret;
	if (ms && (ms < k->min || ms > k->max))
		return fail(w, v, "expected %s", k->range);
	store(w, k, ms);
	return 0;
}

static int guid_ok(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static int key_guid(struct walk *w, yaml_node_t *v, const struct key *k)
{
	const char *s = NULL;
	int ret = scalar(w, v, "a GUID", &s);

	if (ret)
		return ret;
	if (!guid_ok(s))
		return fail(w, v, "expected a GUID like "
			    "9c647395-b913-4997-a732-a7fe7303b649, got '%s'", s);
	memcpy(field(w, k), s, 37);
	return 0;
}

static int key_prio(struct walk *w, yaml_node_t *v, const struct key *k)
{
	struct type_config *t = &w->c->types[w->cur_type];
	const char *s = NULL;
	int ret = scalar(w, v, "a priority", &s);

	if (ret)
		return ret;
	for (int p = 0; p < PRIO_N; p++) {
		if (!strcmp(s, prio_names[p])) {
			t->prio = p;
			return 0;
		}
	}
	return fail(w, v, "expected a priority: alert, high, low or off, "
		    "got '%s'", s);
}

static int key_aggregate(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_bool(w, v, &w->c->types[w->cur_type].aggregate);
}

static int key_watch(struct walk *w, yaml_node_t *v, const struct key *k)
{
	struct config *c = w->c;
	yaml_node_item_t *i;

	if (v->type != YAML_SEQUENCE_NODE)
		return fail(w, v, "expected a list of paths, got %s", kind(v));
	for (i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *p = yaml_document_get_node(w->doc, *i);
		char *path = NULL;
		int ret;

		if (!p)
			return fail(w, v, "broken document");
		if (c->n_watch >= IOTSEC_WATCH_MAX)
			return fail(w, p, "expected at most %d watched paths",
				    IOTSEC_WATCH_MAX);
		ret = get_string(w, p, &path);
		if (ret)
			return ret;
		if (path[0] != '/' || strlen(path) >= IOTSEC_PATH_MAX) {
			free(path);
			return fail(w, p, "expected an absolute path");
		}
		c->watch[c->n_watch++] = path;
	}
	return 0;
}

static int key_log_level(struct walk *w, yaml_node_t *v, const struct key *k)
{
	static const struct { const char *n; int l; } levels[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	const char *s = NULL;
	int ret = scalar(w, v, "a log level", &s);

	if (ret)
		return ret;
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		if (!strcmp(s, levels[i].n)) {
			store(w, k, levels[i].l);
			return 0;
		}
	}
	return fail(w, v, "expected a log level: error, warning, notice, "
		    "info or debug, got '%s'", s);
}

static int key_mode(struct walk *w, yaml_node_t *v, const struct key *k)
{
	const char *s = NULL;
	unsigned long m;
	char *end;
	int ret = scalar(w, v, "a file mode", &s);

	if (ret)
		return ret;
	m = strtoul(s, &end, 8);
	if (!*s || *end || strspn(s, "01234567") != strlen(s) ||
	    strlen(s) > 4 || m > 0777)
		return fail(w, v, "expected an octal file mode from 0000 to "
			    "0777 like \"0660\", got '%s'", s);
	store(w, k, m);
	return 0;
}

static int key_group(struct walk *w, yaml_node_t *v, const struct key *k)
{
	const char *s = NULL;
	struct group *g;
	unsigned long gid;
	char *end;
	int ret = scalar(w, v, "a group name or gid", &s);

	if (ret)
		return ret;
	errno = 0;
	gid = strtoul(s, &end, 10);
	if (*s && !*end && !errno && isdigit((unsigned char)*s) &&
	    gid < (gid_t)-1) {
		store(w, k, gid);
		return 0;
	}
	g = *s ? getgrnam(s) : NULL;
	if (!g)
		return fail(w, v, "expected a group name or gid, got '%s' (no "
			    "such group)", s);
	store(w, k, g->gr_gid);
	return 0;
}

static int each_key(struct walk *w, yaml_node_t *n, const char *where,
		    const struct section *sec);

static int key_section(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return each_key(w, v, k->name, k->sub);
}

/* hub: and broker: exclude each other; finish() tells which it was. */
static int key_transport(struct walk *w, yaml_node_t *v, const struct key *k)
{
	if (!strcmp(k->name, "hub"))
		w->has_hub = true;
	else
		w->has_broker = true;
	w->section = v->start_mark;
	return each_key(w, v, k->name, k->sub);
}

static int key_connection_string(struct walk *w, yaml_node_t *v,
				 const struct key *k)
{
	w->cs_mark = v->start_mark;
	return get_string(w, v, &w->connection_string);
}

/* An IoT Edge gateway: connect there, authenticate to the hub's host. */
static int key_gateway(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_string(w, v, &w->gateway);
}

/*
 * Names that go into MQTT topics as they are (device and module ids in IoT
 * Hub's, the broker's topic template): a '/' would add a level, '+' and
 * '#' are wildcards that no broker accepts in a PUBLISH, so every message
 * would be refused. FORBIDDEN is what this key must not hold.
 */
static int get_topic_part(struct walk *w, yaml_node_t *v, char **dst,
			  const char *what, const char *forbidden)
{
	const char *s = NULL;
	int ret = scalar(w, v, what, &s);

	if (ret)
		return ret;
	if (!*s || strpbrk(s, forbidden))
		return fail(w, v, "expected %s without %s, got '%s'", what,
			    forbidden[0] == '/' ? "'/', '+' or '#' (a topic "
			    "level separator and MQTT wildcards)" :
			    "'+' or '#' (MQTT wildcards)", s);
	return get_string(w, v, dst);
}

static int key_id(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_topic_part(w, v, field(w, k), !strcmp(k->name, "device_id") ?
			      "a device id" : "a module id", "/+#");
}

static int key_topic(struct walk *w, yaml_node_t *v, const struct key *k)
{
	return get_topic_part(w, v, field(w, k), "a topic", "+#");
}

/* Where the broker password was, for the warning in finish(). */
static int key_password(struct walk *w, yaml_node_t *v, const struct key *k)
{
	w->password_mark = v->start_mark;
	return get_string(w, v, field(w, k));
}

/* twin.allow and twin.lock: names of twin settings or their prefixes */
static int key_twin_list(struct walk *w, yaml_node_t *v, const struct key *k)
{
	bool allow = !strcmp(k->name, "allow");
	char **list = allow ? w->c->twin.allow : w->c->twin.lock;
	unsigned int *n = allow ? &w->c->twin.n_allow : &w->c->twin.n_lock;
	yaml_node_item_t *i;

	if (v->type != YAML_SEQUENCE_NODE)
		return fail(w, v, "expected a list of twin settings, got %s",
			    kind(v));
	if (allow)
		w->c->twin.has_allow = true;
	for (i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *p = yaml_document_get_node(w->doc, *i);
		const char *name = NULL;
		int ret;

		if (!p)
			return fail(w, v, "broken document");
		ret = scalar(w, p, "a twin setting", &name);
		if (ret)
			return ret;
		if (!twin_setting_prefix(name))
			return fail(w, p, "expected a twin setting or a prefix "
				    "of some (docs/twin.md: events, "
				    "events.exec.priority, kernel.watch, "
				    "...), got '%s'", name);
		if (*n >= TWIN_SETTINGS_MAX)
			return fail(w, p, "expected at most %d entries",
				    TWIN_SETTINGS_MAX);
		list[*n] = strdup(name);
		if (!list[*n])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

#define DAY_MS 86400000ULL

static const struct key agent_keys[] = {
	{ "id", key_guid, FIELD(agent_id) },
};

/* Keys common to hub and broker. */
static const struct key tls_keys[] = {
	{ "host", key_string, FIELD(mqtt.host) },
	{ "port", key_int, FIELD(mqtt.port), RANGE(1, 65535) },
	{ "ca_file", key_string, FIELD(mqtt.ca_file) },
	{ "cert_file", key_string, FIELD(mqtt.cert_file) },
	{ "key_file", key_string, FIELD(mqtt.key_file) },
	{ "keepalive", key_seconds, FIELD(mqtt.keepalive), RANGE(5, 3600) },
	{ "device_id", key_id, FIELD(mqtt.device_id) },
	/* the twin's transport (docs/mqtt.md "Twin"); twin: is docs/twin.md */
	{ "twin_report_interval", key_seconds,
	  FIELD(mqtt.twin_report_interval), RANGE(1, 86400) },
	{ "twin_timeout", key_seconds, FIELD(mqtt.twin_timeout),
	  RANGE(1, 600) },
};

static const struct key hub_keys[] = {
	{ "connection_string", .get = key_connection_string },
	{ "module_id", key_id, FIELD(mqtt.module_id) },
	{ "shared_key", key_string, FIELD(mqtt.shared_key) },
	{ "key_name", key_string, FIELD(mqtt.key_name) },
	{ "sas_ttl", key_seconds, FIELD(mqtt.sas_ttl),
	  RANGE(60, 365 * 86400) },
	{ "gateway", .get = key_gateway },
};

static const struct key broker_keys[] = {
	{ "tls", key_bool, FIELD(mqtt.tls) },
	{ "client_id", key_string, FIELD(mqtt.client_id) },
	{ "username", key_string, FIELD(mqtt.username) },
	{ "password", key_password, FIELD(mqtt.password) },
	{ "topic", key_topic, FIELD(mqtt.topic) },
	{ "twin_desired_topic", key_topic, FIELD(mqtt.twin_desired_topic) },
	{ "twin_reported_topic", key_topic, FIELD(mqtt.twin_reported_topic) },
};

static const struct key priorities_keys[] = {
	{ "high", key_interval, FIELD(interval_ms[PRIO_HIGH]),
	  RANGE(100, 7 * DAY_MS), .range = "an interval from 100ms to 7d" },
	{ "low", key_interval, FIELD(interval_ms[PRIO_LOW]),
	  RANGE(100, 7 * DAY_MS), .range = "an interval from 100ms to 7d" },
};

/* One entry of events:, for the type in walk.cur_type. */
static const struct key type_keys[] = {
	{ "priority", .get = key_prio },
	{ "aggregate", .get = key_aggregate },
};

static const struct key messages_keys[] = {
	{ "max_size", key_size, FIELD(max_message_size),
	  RANGE(IOTSEC_MIN_MESSAGE, IOTSEC_HUB_MAX_MESSAGE) },
	{ "queue_limit", key_size, FIELD(queue_limit),
	  RANGE(4096, 1ULL << 30) },
	{ "statistics", key_duration, FIELD(statistics_ms) },
	{ "heartbeat", key_duration, FIELD(heartbeat_ms) },
	{ "ack_timeout", key_seconds_ms, FIELD(ack_timeout_ms),
	  RANGE(1, 3600) },
};

static const struct key kernel_keys[] = {
	{ "argv_max", key_size, FIELD(argv_max),
	  RANGE(IOTSEC_ARGV_MAX_MIN, IOTSEC_ARGV_MAX_MAX) },
	{ "exclude_self", key_bool, FIELD(exclude_self) },
	{ "watch", .get = key_watch },
	{ "receive_buffer", key_size, FIELD(receive_buffer),
	  RANGE(4096, 256 << 20) },
};

static const struct key enrich_keys[] = {
	{ "users", key_bool, FIELD(enrich_users) },
	{ "parent", key_bool, FIELD(enrich_parent) },
	{ "container", key_bool, FIELD(enrich_container) },
};

static const struct key log_keys[] = {
	{ "level", key_log_level, FIELD(log_level) },
};

static const struct key sdk_keys[] = {
	{ "enabled", key_bool, FIELD(sdk.enabled) },
	{ "socket", key_path, FIELD(sdk.socket),
	  .max = sizeof(((struct sockaddr_un *)0)->sun_path) },
	{ "mode", key_mode, FIELD(sdk.mode) },
	{ "group", key_group, FIELD(sdk.group) },
	{ "max_clients", key_int, FIELD(sdk.max_clients), RANGE(1, 4096) },
	{ "max_per_uid", key_int, FIELD(sdk.max_per_uid), RANGE(1, 4096) },
	{ "rate", key_int, FIELD(sdk.rate), RANGE(1, 100000) },
	{ "burst", key_int, FIELD(sdk.burst), RANGE(1, 100000) },
	{ "max_message_size", key_size, FIELD(sdk.max_message),
	  RANGE(1024, IOTSEC_MAX_MESSAGE) },
};

static const struct key logins_keys[] = {
	{ "enabled", key_bool, FIELD(logins.enabled) },
	{ "wtmp", key_path, FIELD(logins.wtmp), .max = PATH_MAX },
	{ "btmp", key_path, FIELD(logins.btmp), .max = PATH_MAX },
	{ "utmp", key_path, FIELD(logins.utmp), .max = PATH_MAX },
	{ "state_file", key_path_or_none, FIELD(logins.state),
	  .max = PATH_MAX },
	{ "aggregate_interval", key_interval, FIELD(logins.aggregate_ms),
	  RANGE(0, DAY_MS), .range = "an interval from 0s (none) to 1d" },
};

static const struct key local_keys[] = {
	{ "rate", key_int, FIELD(local.rate), RANGE(1, 1000000) },
	{ "burst", key_int, FIELD(local.burst), RANGE(1, 1000000) },
};

static const struct key snapshots_keys[] = {
	{ "interval", key_snapshots, FIELD(snapshots.interval_ms),
	  RANGE(1000, 7 * DAY_MS),
	  .range = "an interval from 1s to 7d, or 0s for no snapshots" },
	{ "first_delay", key_interval, FIELD(snapshots.first_delay_ms),
	  RANGE(0, DAY_MS), .range = "a delay from 0s to 1d" },
	{ "listening_ports", key_bool, FIELD(snapshots.listening_ports) },
	{ "local_users", key_bool, FIELD(snapshots.local_users) },
	{ "system_information", key_bool,
	  FIELD(snapshots.system_information) },
	{ "os_baseline", key_bool, FIELD(snapshots.os_baseline) },
};

static const struct key spool_keys[] = {
	{ "path", key_path_or_none, FIELD(spool.path), .max = PATH_MAX },
	{ "size", key_size, FIELD(spool.size),
	  RANGE(IOTSEC_SPOOL_MIN, IOTSEC_SPOOL_MAX) },
	{ "sync", key_interval, FIELD(spool.sync_ms), RANGE(0, 3600000),
	  .range = "an interval from 0s (every message) to 1h" },
	{ "local_share", key_int, FIELD(spool.local_share), RANGE(1, 100) },
};

static const struct key twin_keys[] = {
	{ "enabled", key_bool, FIELD(twin.enabled) },
	{ "allow", .get = key_twin_list },
	{ "lock", .get = key_twin_list },
	{ "state_file", key_path_or_none, FIELD(twin.state), .max = PATH_MAX },
};

/* rules.disabled: names of rules turned off (a name no rule has: none) */
static int key_rules_off(struct walk *w, yaml_node_t *v, const struct key *k)
{
	struct baseline_settings *b = &w->c->baseline;
	yaml_node_item_t *i;

	(void)k;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(w, v, "expected a list of rule names, got %s",
			    kind(v));
	for (unsigned int j = 0; j < b->n_rules_off; j++)
		free(b->rules_off[j]);
	b->n_rules_off = 0;
	for (i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *p = yaml_document_get_node(w->doc, *i);
		const char *name = NULL;
		int ret;

		if (!p)
			return fail(w, v, "broken document");
		ret = scalar(w, p, "a rule name", &name);
		if (ret)
			return ret;
		if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz"
				     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
		    strlen(name))
			return fail(w, p, "expected a rule name (letters, "
				    "digits, - _ .), got '%s'", name);
		if (b->n_rules_off >= RULES_OFF_MAX)
			return fail(w, p, "expected at most %d names",
				    RULES_OFF_MAX);
		b->rules_off[b->n_rules_off] = strdup(name);
		if (!b->rules_off[b->n_rules_off])
			return -ENOMEM;
		b->n_rules_off++;
	}
	return 0;
}

static const struct key baseline_keys[] = {
	{ "enabled", key_bool, FIELD(baseline.enabled) },
	{ "learning_window", key_interval, FIELD(baseline.window_ms),
	  RANGE(1000, 365 * DAY_MS),
	  .range = "a duration from 1s to 365d" },
	{ "max_entries", key_size, FIELD(baseline.max_entries),
	  RANGE(16, 1000000) },
	{ "state_file", key_path_or_none, FIELD(baseline.state),
	  .max = PATH_MAX },
};

static const struct key rules_keys[] = {
	{ "enabled", key_bool, FIELD(rules.enabled) },
	{ "dir", key_path_or_none, FIELD(rules.dir), .max = PATH_MAX },
	{ "aggregate_interval", key_interval, FIELD(rules.aggregate_ms),
	  RANGE(0, DAY_MS), .range = "an interval from 0s (none) to 1d" },
	{ "disabled", .get = key_rules_off },
};

/* rules: and lists: of the rules: section are the rules' (rules_compile.c) */
static int rules_key(struct walk *w, const char *k, yaml_node_t *v)
{
	(void)w;
	(void)v;
	return strcmp(k, "rules") && strcmp(k, "lists") ? -ENOENT : 0;
}

/* hashes:, indicators:, packages: (docs/rules.md) */
static const struct key hashes_keys[] = {
	{ "enabled", key_bool, FIELD(detect.hash_enabled) },
	{ "cache_entries", key_int, FIELD(detect.hash_cache),
	  RANGE(16, 1000000) },
	{ "max_size", key_size, FIELD(detect.hash_max_size),
	  RANGE(4096, 4ULL << 30) },
	{ "max_time", key_interval, FIELD(detect.hash_max_ms),
	  RANGE(10, 60000), .range = "an interval from 10ms to 60s" },
	{ "max_wait", key_interval, FIELD(detect.hash_wait_ms),
	  RANGE(0, 10000), .range = "an interval from 0s to 10s" },
};

static const struct key indicators_keys[] = {
	{ "hashes", key_path_or_none, FIELD(detect.ioc_hashes),
	  .max = PATH_MAX },
	{ "addresses", key_path_or_none, FIELD(detect.ioc_addresses),
	  .max = PATH_MAX },
	{ "domains", key_path_or_none, FIELD(detect.ioc_domains),
	  .max = PATH_MAX },
	{ "paths", key_path_or_none, FIELD(detect.ioc_paths),
	  .max = PATH_MAX },
	{ "refresh", key_interval, FIELD(detect.ioc_refresh_ms),
	  RANGE(10000, DAY_MS), .range = "an interval from 10s to 1d" },
};

static const struct key packages_keys[] = {
	{ "enabled", key_bool, FIELD(detect.packages) },
	{ "dpkg_status", key_path_or_none, FIELD(detect.dpkg_status),
	  .max = 256 },	/* PKG_PATH_MAX */
	{ "opkg_status", key_path_or_none, FIELD(detect.opkg_status),
	  .max = 256 },	/* PKG_PATH_MAX */
};

static const struct section hashes_sec = { SECTION(hashes_keys) };
static const struct section indicators_sec = { SECTION(indicators_keys) };
static const struct section packages_sec = { SECTION(packages_keys) };

static const struct section tls_sec = { SECTION(tls_keys) };
static const struct section type_sec = { SECTION(type_keys) };

static int event_key(struct walk *w, const char *k, yaml_node_t *v)
{
	uint32_t t = iotsec_event_type_from_name(k);

	if (!t)
		return -ENOENT;
	w->cur_type = t;
	return each_key(w, v, k, &type_sec);
}

static const struct section agent_sec = { SECTION(agent_keys) };
static const struct section hub_sec = { SECTION(hub_keys), .also = &tls_sec };
static const struct section broker_sec = { SECTION(broker_keys), .also = &tls_sec };
static const struct section priorities_sec = { SECTION(priorities_keys) };
static const struct section events_sec = {
	.other = event_key,
	.other_keys = "exec, exit, fork, connect, accept, listen, cred, "
		      "module, ptrace, file",
};
static const struct section messages_sec = { SECTION(messages_keys) };
static const struct section kernel_sec = { SECTION(kernel_keys) };
static const struct section enrich_sec = { SECTION(enrich_keys) };
static const struct section logs_sec = { SECTION(log_keys) };
static const struct section sdk_sec = { SECTION(sdk_keys) };
static const struct section logins_sec = { SECTION(logins_keys) };
static const struct section local_sec = { SECTION(local_keys) };
static const struct section snapshots_sec = { SECTION(snapshots_keys) };
static const struct section spool_sec = { SECTION(spool_keys) };
static const struct section twin_sec = { SECTION(twin_keys) };
static const struct section baseline_sec = { SECTION(baseline_keys) };
static const struct section rules_sec = {
	SECTION(rules_keys), .other = rules_key,
	.other_keys = "enabled, dir, aggregate_interval, disabled, rules, "
		      "lists",
};

static const struct key root_keys[] = {
	{ "agent", key_section, .sub = &agent_sec },
	{ "hub", key_transport, .sub = &hub_sec },
	{ "broker", key_transport, .sub = &broker_sec },
	{ "priorities", key_section, .sub = &priorities_sec },
	{ "events", key_section, .sub = &events_sec },
	{ "messages", key_section, .sub = &messages_sec },
	{ "kernel", key_section, .sub = &kernel_sec },
	{ "enrich", key_section, .sub = &enrich_sec },
	{ "log", key_section, .sub = &logs_sec },
	{ "sdk", key_section, .sub = &sdk_sec },
	{ "logins", key_section, .sub = &logins_sec },
	{ "local", key_section, .sub = &local_sec },
	{ "snapshots", key_section, .sub = &snapshots_sec },
	{ "spool", key_section, .sub = &spool_sec },
	{ "twin", key_section, .sub = &twin_sec },
	{ "rules", key_section, .sub = &rules_sec },
	{ "hashes", key_section, .sub = &hashes_sec },
	{ "indicators", key_section, .sub = &indicators_sec },
	{ "packages", key_section, .sub = &packages_sec },
	{ "baseline", key_section, .sub = &baseline_sec },
};

static const struct section top_sec = { SECTION(root_keys) };

static const struct key *find_key(const struct section *sec, const char *k)
{
	if (!sec)
		return NULL;
	for (size_t i = 0; i < sec->n; i++)
		if (!strcmp(k, sec->keys[i].name))
			return &sec->keys[i];
	return find_key(sec->also, k);
}

/* "host, port, ...": the shared keys first, as find_key() does not. */
static void key_list(const struct section *sec, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (sec->other_keys) {
		snprintf(buf, len, "%s", sec->other_keys);
		return;
	}
	for (int part = 0; part < 2; part++) {
		const struct section *s = part ? sec : sec->also;

		for (size_t i = 0; s && i < s->n && off < len; i++)
			off += snprintf(buf + off, len - off, "%s%s",
					off ? ", " : "", s->keys[i].name);
	}
}

/* Each key of mapping N once, as SEC says. */
static int each_key(struct walk *w, yaml_node_t *n, const char *where,
		    const struct section *sec)
{
	yaml_node_pair_t *p, *q;

	if (n->type != YAML_MAPPING_NODE)
		return fail(w, n, "expected a mapping for %s, got %s", where,
			    kind(n));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const struct key *key;
		const char *ks;
		char keys[512];
		size_t plen;
		int ret;

		if (!k || !v)
			return fail(w, n, "broken document");
		if (k->type != YAML_SCALAR_NODE)
			return fail(w, k, "expected a key of %s, got %s",
				    where, kind(k));
		ks = (const char *)k->data.scalar.value;
		for (q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(w->doc,
								 q->key);

			if (k2 && k2->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k2->data.scalar.value, ks))
				return fail(w, k, "duplicate key '%s' in %s",
					    ks, where);
		}
		plen = strlen(w->path);
		snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s",
			 plen ? "." : "", ks);
		key = find_key(sec, ks);
		if (key)
			ret = key->get(w, v, key);
		else
			ret = sec->other ? sec->other(w, ks, v) : -ENOENT;
		if (!ret) {
			/* the value in force comes from the file now */
			int id = twin_setting_id(w->path);

			if (id >= 0)
				w->c->src[id] = SRC_YAML;
		}
		w->path[plen] = '\0';
		if (ret == -ENOENT) {
			key_list(sec, keys, sizeof(keys));
			return fail(w, k, "unknown key '%s' in %s, expected "
				    "one of: %s", ks, where, keys);
		}
		if (ret)
			return ret;
	}
	return 0;
}

static int failm(struct walk *w, yaml_mark_t m, const char *msg)
{
	snprintf(w->err, w->errlen, "%s:%zu:%zu: %s", w->name, m.line + 1,
		 m.column + 1, msg);
	return -EINVAL;
}

/* A password to this host stays on the machine. */
static bool loopback(const char *host)
{
	return !strcmp(host, "localhost") || !strcmp(host, "::1") ||
	       !strncmp(host, "127.", 4);
}

/* Settle the transport: hub or broker, or the local broker default. */
static int finish(struct walk *w, yaml_node_t *root)
{
	struct mqtt_config *m = &w->c->mqtt;
	char cserr[256];
	yaml_mark_t zero = w->section;

	if (w->has_hub && w->has_broker)
		return fail(w, root, "expected either hub or broker, not both");
	if (w->has_hub) {
		m->mode = MQTT_MODE_IOTHUB;
		m->tls = true;
		if (w->connection_string) {
			if (mqtt_config_from_connection_string(
				    m, w->connection_string, cserr,
				    sizeof(cserr)))
				return failm(w, w->cs_mark, cserr);
		}
		if (w->gateway && m->host) {
			/* an IoT Edge gateway: the hub name stays for auth */
			free(m->hub_host);
			m->hub_host = m->host;
			m->host = w->gateway;
			w->gateway = NULL;
		}
		if (!m->host || !m->device_id)
			return failm(w, w->connection_string ? w->cs_mark : zero,
				     "hub: expected host and device_id (or a "
				     "connection_string)");
		if (m->cert_file || m->key_file) {
			if (!m->cert_file || !m->key_file)
				return failm(w, zero, "hub: expected both "
					     "cert_file and key_file");
			m->auth = MQTT_AUTH_X509;
		} else if (m->shared_key) {
			m->auth = MQTT_AUTH_SAS;
		} else {
			return failm(w, zero, "hub: expected shared_key (or "
				     "SharedAccessKey in connection_string) or "
				     "cert_file and key_file");
		}
		return 0;
	}
	m->mode = MQTT_MODE_BROKER;
	if (!m->host) {
		m->host = strdup("localhost");
		if (!m->host)
			return -ENOMEM;
	}
	if (!m->topic) {
		m->topic = strdup("iotsec/{device_id}/{type}");
		if (!m->topic)
			return -ENOMEM;
	}
	if (!m->device_id) {
		char host[256] = "iotsec";

		gethostname(host, sizeof(host) - 1);
		m->device_id = strdup(host);
		if (!m->device_id)
			return -ENOMEM;
	}
	if (m->cert_file || m->key_file) {
		if (!m->cert_file || !m->key_file)
			return failm(w, zero, "broker: expected both cert_file "
				     "and key_file");
		m->auth = MQTT_AUTH_X509;
		if (!m->tls)
			return failm(w, zero, "broker: a client certificate "
				     "needs tls: true");
	} else if (m->username) {
		m->auth = MQTT_AUTH_PASSWORD;
	}
	if (m->ca_file && !m->tls)
		return failm(w, zero, "broker: ca_file needs tls: true");
	if (m->password && !m->tls && !loopback(m->host))
		snprintf(w->c->warning, sizeof(w->c->warning),
			 "%s:%zu:%zu: broker: the password goes to %s over "
			 "plain TCP, readable on the network; set tls: true",
			 w->name, w->password_mark.line + 1,
			 w->password_mark.column + 1, m->host);
	return 0;
}

/*
 * The libyaml copies of the file: every scalar of the document (keys and
 * passwords among them) and the parser's input buffers.
 */
static void wipe_yaml(yaml_parser_t *parser, yaml_document_t *doc)
{
	yaml_node_t *n;

	if (doc)
		for (n = doc->nodes.start; n < doc->nodes.top; n++)
			if (n->type == YAML_SCALAR_NODE)
				OPENSSL_cleanse(n->data.scalar.value,
						n->data.scalar.length);
	if (parser->buffer.start)
		OPENSSL_cleanse(parser->buffer.start,
				parser->buffer.end - parser->buffer.start);
	if (parser->raw_buffer.start)
		OPENSSL_cleanse(parser->raw_buffer.start,
				parser->raw_buffer.end -
				parser->raw_buffer.start);
}

static void free_secret(char *s)
{
	if (s)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

int config_parse(struct config *c, const char *name, const char *buf,
		 size_t len, char *err, size_t errlen)
{
	struct walk w = { .name = name, .err = err, .errlen = errlen, .c = c };
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	int ret;

	config_defaults(c);
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_mark_t m = parser.problem_mark;

		snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", name, m.line + 1,
			 m.column + 1, parser.problem ? parser.problem :
			 "malformed YAML", parser.context ? " " : "",
			 parser.context ? parser.context : "");
		wipe_yaml(&parser, NULL);
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	w.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		/* an empty file: all defaults */
		ret = finish(&w, NULL);
	} else if (root->type == YAML_SCALAR_NODE &&
		   !root->data.scalar.length) {
		ret = finish(&w, root);
	} else {
		ret = each_key(&w, root, "the top level", &top_sec);
		if (!ret)
			ret = finish(&w, root);
	}
	free_secret(w.connection_string);
	free(w.gateway);
	wipe_yaml(&parser, &doc);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int config_read(const char *path, char **text, size_t *len, char *err,
		size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t off = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		snprintf(err, errlen, "%s: expected a regular file of at most "
			 "1 MiB", path);
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size &&
	       (n = read(fd, buf + off, st.st_size - off)) > 0)
		off += n;
	close(fd);
	buf[off] = '\0';
	*text = buf;
	*len = off;
	return 0;
}

void config_text_free(char *text, size_t len)
{
	if (text)
		OPENSSL_cleanse(text, len);
	free(text);
}

int config_load(struct config *c, const char *path, char *err,
		size_t errlen)
{
	char *buf;
	size_t len;
	int ret;

	config_defaults(c);
	ret = config_read(path, &buf, &len, err, errlen);
	if (ret)
		return ret;
	ret = config_parse(c, path, buf, len, err, errlen);
	config_text_free(buf, len);
	return ret;
}

/*
 * iotsec's application id for machine-id(5)'s application-specific ids,
 * chosen at random once: 88f104d5-7b20-436f-8ebc-927105d76a51.
 */
static const unsigned char agent_app_id[16] = {
	0x88, 0xf1, 0x04, 0xd5, 0x7b, 0x20, 0x43, 0x6f,
	0x8e, 0xbc, 0x92, 0x71, 0x05, 0xd7, 0x6a, 0x51,
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int config_agent_id(const char *machine_id, char id[37])
{
	unsigned char key[16], mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t len = strcspn(machine_id, "\n");
	int i, ret = -EINVAL;

	if (len != 32)
		return -EINVAL;
	for (i = 0; i < 16; i++) {
		int hi = hexval(machine_id[2 * i]);
		int lo = hexval(machine_id[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto out;
		key[i] = hi << 4 | lo;
	}
	if (!HMAC(EVP_sha256(), key, sizeof(key), agent_app_id,
		  sizeof(agent_app_id), mac, &maclen) || maclen < 16)
		goto out;
	/* RFC 4122: version 4, variant 10xx */
	mac[6] = (mac[6] & 0x0f) | 0x40;
	mac[8] = (mac[8] & 0x3f) | 0x80;
	snprintf(id, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5], mac[6], mac[7], mac[8], mac[9], mac[10],
		 mac[11], mac[12], mac[13], mac[14], mac[15]);
	ret = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

void config_default_agent_id(struct config *c, const char *machine_id_path)
{
	char m[64] = "";
	FILE *f = fopen(machine_id_path, "re");

	if (f) {
		if (!fgets(m, sizeof(m), f))
			m[0] = '\0';
		fclose(f);
	}
	if (config_agent_id(m, c->agent_id))
		snprintf(c->agent_id, sizeof(c->agent_id),
			 "00000000-0000-4000-8000-000000000000");
	OPENSSL_cleanse(m, sizeof(m));
}
