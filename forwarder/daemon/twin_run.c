// SPDX-License-Identifier: MIT
/*
 * The module twin in the running daemon (docs/twin.md). The transport
 * hands over desired documents (a whole twin at each connect, PATCHes as
 * they come); each becomes a candidate (the whole desired, or the applied
 * one with the patch merged), which is laid over the YAML file's
 * configuration and, when every key is valid and allowed, put in force
 * the way SIGHUP does it (reload.c), then kept on disk. A refused
 * candidate changes nothing and raises one ConfigurationError event. The
 * reported properties are built every second and go to the transport
 * when they differ from the last ones sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/twin.h"

static void save(struct daemon *d)
{
	char path[4096], err[512];

	twin_state_path(d->cfg, path, sizeof(path));
	if (!*path)
		return;
	if (twin_save(path, d->twin_applied, d->twin_version, err,
		      sizeof(err)))
		logmsg(LOG_WARNING, "twin: keeping the applied configuration "
		       "for the next start: %s", err);
}

/* The refusal, in the log and as a ConfigurationError event. */
static void refused(struct daemon *d, const struct twin_errors *e,
		    int64_t version, const char *what)
{
	char *text;
	size_t len;

	for (unsigned int i = 0; i < e->n; i++)
		logmsg(LOG_WARNING, "twin: %s: %s (%s)", e->e[i].key,
		       e->e[i].reason, e->e[i].type);
	snprintf(d->twin_error, sizeof(d->twin_error), "%.80s: %.80s: %.80s",
		 what,
		 e->n ? e->e[0].key : "?", e->n ? e->e[0].reason : "?");
	logmsg(LOG_WARNING, "twin: %s (desired version %lld) refused: %u "
	       "error(s); the configuration in force stays", what,
	       (long long)version, e->total);
	if (!twin_config_error(&d->ser, e, version, boot_ns(), &text, &len)) {
		queue_send_texts(&d->queue, MSG_AZURE, &text, &len, 1);
		d->ops_events++;
		free(text);
	}
}

int daemon_twin_overlay(struct daemon *d, struct config *c, const char *text,
			size_t len)
{
	struct twin_errors e;

	if (!d->twin_applied || !twin_overlay(c, d->twin_applied, d->cfg, &e))
		return 0;
	refused(d, &e, d->twin_version, "the applied twin configuration, "
		"under the local configuration");
	/* the file alone, then: the hub's settings are dropped until it
	 * sends ones the file allows */
	json_object_put(d->twin_applied);
	d->twin_applied = NULL;
	d->twin_status = "refused";
	config_free(c);
	return daemon_parse_config(d->config_path, text, len, c, true);
}

void daemon_twin_boot(struct daemon *d)
{
	struct json_object *applied = NULL;
	struct config *new;
	struct twin_errors e;
	char path[4096], err[512];
	int64_t version = -1;
	int ret;

	memset(&e, 0, sizeof(e));
	d->twin_version = d->twin_refused_version = -1;
	d->twin_status = "none";
	twin_state_path(d->cfg, path, sizeof(path));
	if (!*path)
		return;
	ret = twin_load(path, &applied, &version, err, sizeof(err));
	if (ret == -ENOENT)
		return;
	if (ret) {
		logmsg(LOG_WARNING, "twin: %s; ignored, the local configuration "
		       "applies until the hub sends its own", err);
		snprintf(d->twin_error, sizeof(d->twin_error), "%.250s", err);
		return;
	}
	new = daemon_spare_config(d);
	if (daemon_parse_config(d->config_path, d->yaml, d->yaml_len, new,
				true) ||
	    twin_overlay(new, applied, d->cfg, &e)) {
		for (unsigned int i = 0; i < e.n; i++)
			logmsg(LOG_WARNING, "twin: %s: %s: %s", path,
			       e.e[i].key, e.e[i].reason);
		logmsg(LOG_WARNING, "twin: the configuration kept in %s is "
		       "refused; the local configuration applies", path);
		snprintf(d->twin_error, sizeof(d->twin_error), "%.60s: refused: "
			 "%.80s: %.80s", path, e.n ? e.e[0].key : "?",
			 e.n ? e.e[0].reason : "?");
		config_free(new);
		json_object_put(applied);
		return;
	}
	/* nothing runs yet: the swap is all there is to it */
	config_free(d->cfg);
	d->cfg = new;
	d->twin_applied = applied;
	d->twin_version = version;
	d->twin_status = "applied";
	logmsg(LOG_INFO, "twin: desired version %lld from %s in force until "
	       "the hub is reached", (long long)version, path);
}

static struct json_object *parse(const char *json, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, json, len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static bool same(struct json_object *a, struct json_object *b)
{
	bool ea = !a || !json_object_object_length(a);
	bool eb = !b || !json_object_object_length(b);

	if (ea || eb)
		return ea && eb;
	return json_object_equal(a, b);
}

void daemon_twin_desired(void *ctx, bool full, const char *json, size_t len)
{
	struct daemon *d = ctx;
	struct json_object *doc = parse(json, len), *desired = doc, *picked;
	struct json_object *cand;
	struct twin_errors e;
	struct config *new;
	int64_t version;

	if (!doc) {
		logmsg(LOG_WARNING, "twin: a %s that is not a JSON object; "
		       "ignored", full ? "twin document" : "desired patch");
		return;
	}
	if (full && !json_object_object_get_ex(doc, "desired", &desired)) {
		logmsg(LOG_WARNING, "twin: a twin document without desired "
		       "properties; ignored");
		json_object_put(doc);
		return;
	}
	version = twin_version(desired);
	picked = twin_pick(desired);
	cand = full ? picked ? json_object_get(picked) : NULL :
		      twin_merge(d->twin_applied, picked);
	json_object_put(picked);
	json_object_put(doc);
	if (same(cand, d->twin_applied)) {
		/* nothing of ours changed: the version in force moves on */
		if (version != d->twin_version && d->twin_applied) {
			d->twin_version = version;
			save(d);
		} else if (!d->twin_applied) {
			d->twin_version = version;
		}
		json_object_put(cand);
		return;
	}
	/* refused already, as it is: said once */
	if (d->twin_refused && same(cand, d->twin_refused)) {
		d->twin_refused_version = version;
		json_object_put(cand);
		return;
	}
	new = daemon_spare_config(d);
	if (daemon_parse_config(d->config_path, d->yaml, d->yaml_len, new,
				true)) {
		/* the file in force has gone bad under us: it is parsed
		 * from memory, so this is out of memory */
		config_free(new);
		json_object_put(cand);
		return;
	}
	if (twin_overlay(new, cand, d->cfg, &e) ||
	    daemon_apply_config(d, new)) {
		if (!e.total) {
			/* the configuration was valid; putting it in force
			 * was not (the transport could not be rebuilt) */
			e.n = e.total = 1;
			snprintf(e.e[0].key, sizeof(e.e[0].key), "%s",
				 TWIN_IOTSEC_KEY);
			e.e[0].type = TWIN_ERR_TYPE;
			snprintf(e.e[0].reason, sizeof(e.e[0].reason),
				 "could not be put in force (see the log)");
			e.e[0].used[0] = '\0';
		}
		config_free(new);
		refused(d, &e, version, full ? "the desired properties" :
			"a desired patch");
		json_object_put(d->twin_refused);
		d->twin_refused = cand;
		d->twin_refused_version = version;
		d->twin_status = "refused";
		return;
	}
	json_object_put(d->twin_applied);
	json_object_put(d->twin_refused);
	d->twin_refused = NULL;
	d->twin_applied = cand;
	d->twin_version = version;
	d->twin_status = "applied";
	d->twin_error[0] = '\0';
	save(d);
	logmsg(LOG_INFO, "twin: desired version %lld in force",
	       (long long)version);
}

/* ---- reported properties ---- */

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static struct json_object *version_json(int64_t v)
{
	return v < 0 ? NULL : json_object_new_int64(v);
}

/* the event types of MASK by name; null while the module was not asked */
static struct json_object *types_json(bool known, uint32_t mask)
{
	struct json_object *a;

	if (!known)
		return NULL;
	a = json_object_new_array();
	for (uint32_t t = 1; a && t <= IOTSEC_EVENT_MAX; t++)
		if (mask & IOTSEC_EVENT_BIT(t))
			json_object_array_add(a, json_object_new_string(
						      iotsec_event_name(t)));
	return a;
}

static struct json_object *kernel_json(struct daemon *d)
{
	struct json_object *k = json_object_new_object();
	struct json_object *on = json_object_new_array();
	bool known = d->nl_open && d->have_kstats;

	if (!k || !on) {
		json_object_put(k);
		json_object_put(on);
		return NULL;
	}
	json_object_object_add(k, "loaded", json_object_new_boolean(
		!access("/sys/module/iotsec", F_OK)));
	json_object_object_add(k, "subscribed",
			       json_object_new_boolean(d->nl_open));
	for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX; t++)
		if (d->nl_open && d->cfg->types[t].prio != PRIO_OFF)
			json_object_array_add(on, json_object_new_string(
						      iotsec_event_name(t)));
	json_object_object_add(k, "eventsEnabled", on);
	/* asked of the module once per subscription (daemon_kernel_open) */
	json_object_object_add(k, "capabilities",
			       types_json(known, d->kstats.caps));
	json_object_object_add(k, "missingHooks",
			       types_json(known, d->kstats.caps_missing));
	return k;
}

static struct json_object *loss_json(struct daemon *d)
{
	struct json_object *o = json_object_new_object();
	struct spool_stats ss = { 0 };
	uint64_t dropped = 0, lost = 0;

	if (!o)
		return NULL;
	for (int i = 1; i <= IOTSEC_EVENT_MAX; i++) {
		dropped += d->kcounters.t[i].dropped;
		lost += d->kcounters.t[i].lost;
	}
	if (d->spool)
		spool_get_stats(d->spool, &ss);
	add_u64(o, "kernelDropped", dropped);
	add_u64(o, "kernelLost", lost);
	add_u64(o, "receiveOverruns", d->nl.enobufs);
	add_u64(o, "batchGaps", d->nl.dec.stats.batch_gaps);
	add_u64(o, "queueDropped", d->queue.stats.dropped[0] +
		d->queue.stats.dropped[1]);
	add_u64(o, "spoolDroppedMessages", spool_prio_sum(ss.dropped_messages));
	add_u64(o, "spoolDroppedEvents", spool_prio_sum(ss.dropped_events));
	return o;
}

static struct json_object *spool_json(struct daemon *d)
{
	struct json_object *o = json_object_new_object();
	struct spool_stats ss = { 0 };

	if (!o)
		return NULL;
	if (d->spool)
		spool_get_stats(d->spool, &ss);
	json_object_object_add(o, "mode", json_object_new_string(
		!d->spool ? "none" : ss.disk ? "disk" : "memory"));
	json_object_object_add(o, "path", json_object_new_string(
		d->spool ? spool_path(d->spool) : ""));
	add_u64(o, "size", d->cfg->spool.size);
	add_u64(o, "corruptRecords", ss.corrupt_records);
	add_u64(o, "writeErrors", ss.write_errors);
	return o;
}

struct json_object *daemon_twin_state(struct daemon *d)
{
	struct json_object *o = json_object_new_object();
	char path[4096];

	if (!o)
		return NULL;
	twin_state_path(d->cfg, path, sizeof(path));
	json_object_object_add(o, "enabled",
			       json_object_new_boolean(d->cfg->twin.enabled));
	json_object_object_add(o, "status", json_object_new_string(
		d->twin_status ? d->twin_status : "none"));
	json_object_object_add(o, "desiredVersion",
			       version_json(d->twin_version));
	json_object_object_add(o, "refusedVersion",
			       version_json(d->twin_refused ?
					    d->twin_refused_version : -1));
	json_object_object_add(o, "stateFile", json_object_new_string(path));
	return o;
}

/* {"ms_iotn:...": Azure's object in force, "iotsec": {...}} */
static struct json_object *reported(struct daemon *d)
{
	struct json_object *r = json_object_new_object();
	struct json_object *i = json_object_new_object();

	if (!r || !i) {
		json_object_put(r);
		json_object_put(i);
		return NULL;
	}
	json_object_object_add(r, TWIN_AZURE_KEY,
			       twin_azure_effective(d->cfg));
	json_object_object_add(i, "agentVersion",
			       json_object_new_string(IOTSEC_VERSION));
	json_object_object_add(i, "agentId",
			       json_object_new_string(d->cfg->agent_id));
	json_object_object_add(i, "configuration", twin_effective(d->cfg));
	json_object_object_add(i, "twin", daemon_twin_state(d));
	json_object_object_add(i, "kernel", kernel_json(d));
	json_object_object_add(i, "loss", loss_json(d));
	json_object_object_add(i, "spool", spool_json(d));
	json_object_object_add(i, "lastError", json_object_new_string(
		d->twin_error));
	json_object_object_add(r, TWIN_IOTSEC_KEY, i);
	return r;
}

void daemon_twin_report(struct daemon *d)
{
	struct json_object *r;
	const char *text;

	if (!d->mqtt)
		return;
	r = reported(d);
	if (!r)
		return;
	text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text && (!d->twin_reported || strcmp(text, d->twin_reported)) &&
	    !mqtt_twin_report(d->mqtt, text)) {
		free(d->twin_reported);
		d->twin_reported = strdup(text);
	}
	json_object_put(r);
}

void daemon_twin_fini(struct daemon *d)
{
	json_object_put(d->twin_applied);
	json_object_put(d->twin_refused);
	free(d->twin_reported);
	d->twin_applied = d->twin_refused = NULL;
	d->twin_reported = NULL;
}
