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
#include <iotsec/iotsec.h>
#include "daemon/config.h"

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
	c->snapshots.interval_ms = 60 * 60 * 1000;
	c->snapshots.first_delay_ms = 10 * 1000;
	c->snapshots.listening_ports = c->snapshots.local_users = true;
	c->snapshots.system_information = c->snapshots.os_baseline = true;
	c->spool.size = IOTSEC_SPOOL_SIZE;
	c->spool.sync_ms = IOTSEC_SPOOL_SYNC_MS;
}

void config_free(struct config *c)
{
	mqtt_config_free(&c->mqtt);
	memset(&c->mqtt, 0, sizeof(c->mqtt));
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
	x = n * unit + fn * unit / fd;
	if (*acc > UINT64_MAX - x)
		return -EINVAL;
	*acc += x;
	return 0;
}

static int parse_iso8601(const char *s, uint64_t *ms)
{
	uint64_t acc = 0, n, fn, fd;
	bool in_time = false, any = false;

	s++;	/* 'P' */
	while (*s) {
		uint64_t unit;

		if (*s == 'T') {
			if (in_time)
				return -EINVAL;
			in_time = true;
			s++;
			if (!*s)
				return -EINVAL;
			continue;
		}
		if (parse_uint(&s, &n, &fn, &fd))
			return -EINVAL;
		switch (*s) {
		case 'W': unit = in_time ? 0 : 7 * 86400000ULL; break;
		case 'D': unit = in_time ? 0 : 86400000ULL; break;
		case 'H': unit = in_time ? 3600000ULL : 0; break;
		case 'M': unit = in_time ? 60000ULL : 0; break;
		case 'S': unit = in_time ? 1000ULL : 0; break;
		default: unit = 0;	/* Y and calendar months: not a duration */
		}
		if (!unit || mul_add(&acc, n, fn, fd, unit))
			return -EINVAL;
		any = true;
		s++;
	}
	if (!any)
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
		return parse_iso8601(s, ms);
	/* "1h30m", "90s", "250ms" */
	while (*s) {
		size_t i, best = 0, bestlen = 0;

		if (parse_uint(&s, &n, &fn, &fd))
			return -EINVAL;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
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
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
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
	for (size_t i = 0; i < 5; i++) {
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

typedef int (*key_fn)(struct walk *w, const char *key, yaml_node_t *v);

/* Each key of mapping N once, through FN; KEYS lists what is accepted. */
static int each_key(struct walk *w, yaml_node_t *n, const char *where,
		    const char *keys, key_fn fn)
{
	yaml_node_pair_t *p, *q;

	if (n->type != YAML_MAPPING_NODE)
		return fail(w, n, "expected a mapping for %s, got %s", where,
			    kind(n));
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
		const char *ks;
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
		ret = fn(w, ks, v);
		if (ret == -ENOENT)
			return fail(w, k, "unknown key '%s' in %s, expected "
				    "one of: %s", ks, where, keys);
		if (ret)
			return ret;
	}
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

static int agent_key(struct walk *w, const char *k, yaml_node_t *v)
{
	const char *s = NULL;
	int ret;

	if (strcmp(k, "id"))
		return -ENOENT;
	ret = scalar(w, v, "a GUID", &s);
	if (ret)
		return ret;
	if (!guid_ok(s))
		return fail(w, v, "expected a GUID like "
			    "9c647395-b913-4997-a732-a7fe7303b649, got '%s'", s);
	memcpy(w->c->agent_id, s, 37);
	return 0;
}

/* Keys common to hub and broker. */
static int tls_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct mqtt_config *m = &w->c->mqtt;
	long port = 0;
	int ret;

	if (!strcmp(k, "host"))
		return get_string(w, v, &m->host);
	if (!strcmp(k, "port")) {
		ret = get_int(w, v, &port, 1, 65535);
		m->port = port;
		return ret;
	}
	if (!strcmp(k, "ca_file"))
		return get_string(w, v, &m->ca_file);
	if (!strcmp(k, "cert_file"))
		return get_string(w, v, &m->cert_file);
	if (!strcmp(k, "key_file"))
		return get_string(w, v, &m->key_file);
	if (!strcmp(k, "keepalive"))
		return get_seconds(w, v, &m->keepalive, 5, 3600);
	if (!strcmp(k, "device_id"))
		return get_string(w, v, &m->device_id);
	return -ENOENT;
}

static int hub_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct mqtt_config *m = &w->c->mqtt;
	int ret = tls_key(w, k, v);

	if (ret != -ENOENT)
		return ret;
	if (!strcmp(k, "connection_string")) {
		w->cs_mark = v->start_mark;
		return get_string(w, v, &w->connection_string);
	}
	if (!strcmp(k, "module_id"))
		return get_string(w, v, &m->module_id);
	if (!strcmp(k, "gateway"))	/* connect here, authenticate to host */
		return get_string(w, v, &w->gateway);
	if (!strcmp(k, "shared_key"))
		return get_string(w, v, &m->shared_key);
	if (!strcmp(k, "key_name"))
		return get_string(w, v, &m->key_name);
	if (!strcmp(k, "sas_ttl"))
		return get_seconds(w, v, &m->sas_ttl, 60, 365 * 86400);
	return -ENOENT;
}

static int broker_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct mqtt_config *m = &w->c->mqtt;
	int ret = tls_key(w, k, v);

	if (ret != -ENOENT)
		return ret;
	if (!strcmp(k, "tls"))
		return get_bool(w, v, &m->tls);
	if (!strcmp(k, "client_id"))
		return get_string(w, v, &m->client_id);
	if (!strcmp(k, "username"))
		return get_string(w, v, &m->username);
	if (!strcmp(k, "password"))
		return get_string(w, v, &m->password);
	if (!strcmp(k, "topic"))
		return get_string(w, v, &m->topic);
	return -ENOENT;
}

static int prio_key(struct walk *w, const char *k, yaml_node_t *v)
{
	uint64_t ms = 0;
	int ret;

	for (int p = PRIO_LOW; p <= PRIO_HIGH; p++) {
		if (strcmp(k, prio_names[p]))
			continue;
		ret = get_duration(w, v, &ms);
		if (ret)
			return ret;
		if (ms < 100 || ms > 7 * 86400000ULL)
			return fail(w, v, "expected an interval from 100ms to "
				    "7d");
		w->c->interval_ms[p] = ms;
		return 0;
	}
	return -ENOENT;
}

static int type_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct type_config *t = &w->c->types[w->cur_type];
	const char *s = NULL;
	int ret;

	if (!strcmp(k, "aggregate"))
		return get_bool(w, v, &t->aggregate);
	if (strcmp(k, "priority"))
		return -ENOENT;
	ret = scalar(w, v, "a priority", &s);
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

static int events_key(struct walk *w, const char *k, yaml_node_t *v)
{
	uint32_t t = iotsec_event_type_from_name(k);

	if (!t)
		return -ENOENT;
	w->cur_type = t;
	return each_key(w, v, k, "priority, aggregate", type_key);
}

static int messages_key(struct walk *w, const char *k, yaml_node_t *v)
{
	uint64_t n = 0;
	int ret;

	if (!strcmp(k, "max_size")) {
		ret = get_size(w, v, &n, IOTSEC_MIN_MESSAGE,
			       IOTSEC_HUB_MAX_MESSAGE);
		w->c->max_message_size = n;
		return ret;
	}
	if (!strcmp(k, "queue_limit")) {
		ret = get_size(w, v, &n, 4096, 1ULL << 30);
		w->c->queue_limit = n;
		return ret;
	}
	if (!strcmp(k, "statistics"))
		return get_duration(w, v, &w->c->statistics_ms);
	if (!strcmp(k, "ack_timeout")) {
		unsigned int sec = 0;

		ret = get_seconds(w, v, &sec, 1, 3600);
		w->c->ack_timeout_ms = sec * 1000ULL;
		return ret;
	}
	return -ENOENT;
}

static int kernel_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct config *c = w->c;
	long n;
	int ret;

	if (!strcmp(k, "argv_max")) {
		uint64_t sz = 0;

		ret = get_size(w, v, &sz, IOTSEC_ARGV_MAX_MIN,
			       IOTSEC_ARGV_MAX_MAX);
		c->argv_max = sz;
		return ret;
	}
	if (!strcmp(k, "receive_buffer")) {
		uint64_t sz = 0;

		ret = get_size(w, v, &sz, 4096, 256 << 20);
		c->receive_buffer = sz;
		return ret;
	}
	if (!strcmp(k, "exclude_self"))
		return get_bool(w, v, &c->exclude_self);
	if (!strcmp(k, "watch")) {
		yaml_node_item_t *i;

		if (v->type != YAML_SEQUENCE_NODE)
			return fail(w, v, "expected a list of paths, got %s",
				    kind(v));
		for (i = v->data.sequence.items.start;
		     i < v->data.sequence.items.top; i++) {
			yaml_node_t *p = yaml_document_get_node(w->doc, *i);
			char *path = NULL;

			if (!p)
				return fail(w, v, "broken document");
			n = c->n_watch;
			if (n >= IOTSEC_WATCH_MAX)
				return fail(w, p, "expected at most %d watched "
					    "paths", IOTSEC_WATCH_MAX);
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
	return -ENOENT;
}

static int enrich_key(struct walk *w, const char *k, yaml_node_t *v)
{
	if (!strcmp(k, "users"))
		return get_bool(w, v, &w->c->enrich_users);
	if (!strcmp(k, "parent"))
		return get_bool(w, v, &w->c->enrich_parent);
	if (!strcmp(k, "container"))
		return get_bool(w, v, &w->c->enrich_container);
	return -ENOENT;
}

static int log_key(struct walk *w, const char *k, yaml_node_t *v)
{
	static const struct { const char *n; int l; } levels[] = {
		{ "error", LOG_ERR }, { "warning", LOG_WARNING },
		{ "notice", LOG_NOTICE }, { "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	const char *s = NULL;
	int ret;

	if (strcmp(k, "level"))
		return -ENOENT;
	ret = scalar(w, v, "a log level", &s);
	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (!strcmp(s, levels[i].n)) {
			w->c->log_level = levels[i].l;
			return 0;
		}
	}
	return fail(w, v, "expected a log level: error, warning, notice, "
		    "info or debug, got '%s'", s);
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

static int get_uint(struct walk *w, yaml_node_t *n, unsigned int *v,
		    long min, long max)
{
	long l = 0;
	int ret = get_int(w, n, &l, min, max);

	if (!ret)
		*v = l;
	return ret;
}

static int sdk_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct sdk_settings *sdk = &w->c->sdk;
	struct sockaddr_un sa;
	const char *s = NULL;
	uint64_t n = 0;
	int ret;

	if (!strcmp(k, "enabled"))
		return get_bool(w, v, &sdk->enabled);
	if (!strcmp(k, "socket"))
		return get_path(w, v, &sdk->socket, sizeof(sa.sun_path), false);
	if (!strcmp(k, "mode")) {
		char *end;
		unsigned long m;

		ret = scalar(w, v, "a file mode", &s);
		if (ret)
			return ret;
		m = strtoul(s, &end, 8);
		if (!*s || *end || strspn(s, "01234567") != strlen(s) ||
		    strlen(s) > 4 || m > 0777)
			return fail(w, v, "expected an octal file mode from 0000 "
				    "to 0777 like \"0660\", got '%s'", s);
		sdk->mode = m;
		return 0;
	}
	if (!strcmp(k, "group")) {
		struct group *g;
		char *end;
		unsigned long gid;

		ret = scalar(w, v, "a group name or gid", &s);
		if (ret)
			return ret;
		errno = 0;
		gid = strtoul(s, &end, 10);
		if (*s && !*end && !errno && isdigit((unsigned char)*s) &&
		    gid < (gid_t)-1) {
			sdk->group = gid;
			return 0;
		}
		g = *s ? getgrnam(s) : NULL;
		if (!g)
			return fail(w, v, "expected a group name or gid, got "
				    "'%s' (no such group)", s);
		sdk->group = g->gr_gid;
		return 0;
	}
	if (!strcmp(k, "max_clients"))
		return get_uint(w, v, &sdk->max_clients, 1, 4096);
	if (!strcmp(k, "max_per_uid"))
		return get_uint(w, v, &sdk->max_per_uid, 1, 4096);
	if (!strcmp(k, "rate"))
		return get_uint(w, v, &sdk->rate, 1, 100000);
	if (!strcmp(k, "burst"))
		return get_uint(w, v, &sdk->burst, 1, 100000);
	if (!strcmp(k, "max_message_size")) {
		ret = get_size(w, v, &n, 1024, IOTSEC_MAX_MESSAGE);
		sdk->max_message = n;
		return ret;
	}
	return -ENOENT;
}

static int logins_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct login_settings *l = &w->c->logins;

	if (!strcmp(k, "enabled"))
		return get_bool(w, v, &l->enabled);
	if (!strcmp(k, "wtmp"))
		return get_path(w, v, &l->wtmp, PATH_MAX, false);
	if (!strcmp(k, "btmp"))
		return get_path(w, v, &l->btmp, PATH_MAX, false);
	if (!strcmp(k, "utmp"))
		return get_path(w, v, &l->utmp, PATH_MAX, false);
	if (!strcmp(k, "state_file"))
		return get_path(w, v, &l->state, PATH_MAX, true);
	return -ENOENT;
}

static int snapshots_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct snapshot_settings *sn = &w->c->snapshots;
	uint64_t ms = 0;
	int ret;

	if (!strcmp(k, "interval")) {
		ret = get_duration(w, v, &ms);
		if (ret)
			return ret;
		if (ms && (ms < 1000 || ms > 7 * 86400000ULL))
			return fail(w, v, "expected an interval from 1s to 7d, "
				    "or 0s for no snapshots");
		sn->interval_ms = ms;
		return 0;
	}
	if (!strcmp(k, "first_delay")) {
		ret = get_duration(w, v, &ms);
		if (ret)
			return ret;
		if (ms > 86400000ULL)
			return fail(w, v, "expected a delay from 0s to 1d");
		sn->first_delay_ms = ms;
		return 0;
	}
	if (!strcmp(k, "listening_ports"))
		return get_bool(w, v, &sn->listening_ports);
	if (!strcmp(k, "local_users"))
		return get_bool(w, v, &sn->local_users);
	if (!strcmp(k, "system_information"))
		return get_bool(w, v, &sn->system_information);
	if (!strcmp(k, "os_baseline"))
		return get_bool(w, v, &sn->os_baseline);
	return -ENOENT;
}

static int spool_key(struct walk *w, const char *k, yaml_node_t *v)
{
	struct spool_settings *sp = &w->c->spool;
	uint64_t ms = 0;
	int ret;

	if (!strcmp(k, "path"))
		return get_path(w, v, &sp->path, PATH_MAX, true);
	if (!strcmp(k, "size"))
		return get_size(w, v, &sp->size, IOTSEC_SPOOL_MIN,
				IOTSEC_SPOOL_MAX);
	if (!strcmp(k, "sync")) {
		ret = get_duration(w, v, &ms);
		if (ret)
			return ret;
		if (ms > 3600000)
			return fail(w, v, "expected an interval from 0s (every "
				    "message) to 1h");
		sp->sync_ms = ms;
		return 0;
	}
	return -ENOENT;
}

#define TLS_KEYS "host, port, ca_file, cert_file, key_file, keepalive, device_id"

static int root_key(struct walk *w, const char *k, yaml_node_t *v)
{
	if (!strcmp(k, "agent"))
		return each_key(w, v, "agent", "id", agent_key);
	if (!strcmp(k, "hub")) {
		w->has_hub = true;
		w->section = v->start_mark;
		return each_key(w, v, "hub", TLS_KEYS ", connection_string, "
				"module_id, shared_key, key_name, sas_ttl, gateway",
				hub_key);
	}
	if (!strcmp(k, "broker")) {
		w->has_broker = true;
		w->section = v->start_mark;
		return each_key(w, v, "broker", TLS_KEYS ", tls, client_id, "
				"username, password, topic", broker_key);
	}
	if (!strcmp(k, "priorities"))
		return each_key(w, v, "priorities", "high, low", prio_key);
	if (!strcmp(k, "events"))
		return each_key(w, v, "events", "exec, exit, fork, connect, "
				"accept, listen, cred, module, ptrace, file",
				events_key);
	if (!strcmp(k, "messages"))
		return each_key(w, v, "messages",
				"max_size, queue_limit, statistics, ack_timeout",
				messages_key);
	if (!strcmp(k, "kernel"))
		return each_key(w, v, "kernel", "argv_max, exclude_self, watch, "
				"receive_buffer",
				kernel_key);
	if (!strcmp(k, "enrich"))
		return each_key(w, v, "enrich", "users, parent, container",
				enrich_key);
	if (!strcmp(k, "log"))
		return each_key(w, v, "log", "level", log_key);
	if (!strcmp(k, "sdk"))
		return each_key(w, v, "sdk", "enabled, socket, mode, group, "
				"max_clients, max_per_uid, rate, burst, "
				"max_message_size", sdk_key);
	if (!strcmp(k, "logins"))
		return each_key(w, v, "logins", "enabled, wtmp, btmp, utmp, "
				"state_file", logins_key);
	if (!strcmp(k, "snapshots"))
		return each_key(w, v, "snapshots", "interval, first_delay, "
				"listening_ports, local_users, "
				"system_information, os_baseline",
				snapshots_key);
	if (!strcmp(k, "spool"))
		return each_key(w, v, "spool", "path, size, sync", spool_key);
	return -ENOENT;
}

static int failm(struct walk *w, yaml_mark_t m, const char *msg)
{
	snprintf(w->err, w->errlen, "%s:%zu:%zu: %s", w->name, m.line + 1,
		 m.column + 1, msg);
	return -EINVAL;
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
	return 0;
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
		ret = each_key(&w, root, "the top level", "agent, hub, broker, "
			       "priorities, events, messages, kernel, enrich, "
			       "log, sdk, logins, snapshots, spool",
			       root_key);
		if (!ret)
			ret = finish(&w, root);
	}
	free(w.connection_string);
	free(w.gateway);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return ret;
}

int config_load(struct config *c, const char *path, char *err,
		size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t off = 0;
	int fd, ret;

	config_defaults(c);
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
	ret = config_parse(c, path, buf, off, err, errlen);
	free(buf);
	return ret;
}
