// SPDX-License-Identifier: MIT
/*
 * The daemon's side of the detection rules (pipeline/rules.h): loading
 * them at start and at each reload (rules.dir's files, then the rules:
 * section of the configuration file), and sending their alerts at alert
 * priority. Rules that do not load fail the start; at a reload they leave
 * the running rules in place.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/util.h"
#include "daemon/daemon.h"
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

int daemon_baseline_config(struct daemon *d, bool starting)
{
	const struct config *c = d->cfg;
	char path[PATH_MAX];
	bool was = d->baseline.enabled;
	int ret;

	if (starting)
		baseline_init(&d->baseline, &d->ser, on_alert, d);
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
		    old->baseline.n_rules_off == c->baseline.n_rules_off;

	for (unsigned int i = 0; same && i < c->baseline.n_rules_off; i++)
		same = !strcmp(old->baseline.rules_off[i],
			       c->baseline.rules_off[i]);
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
