// SPDX-License-Identifier: MIT
/*
 * The daemon's side of the detection rules (pipeline/rules.h): loading
 * them at start and at each reload (rules.dir's files, then the rules:
 * section of the configuration file), and sending their alerts at alert
 * priority. Rules that do not load fail the start; at a reload they leave
 * the running rules in place.
 */
#include <errno.h>
#include <string.h>

#include "common/clock.h"
#include "daemon/daemon.h"

static void on_alert(void *ctx, const char *text, size_t len)
{
	struct daemon *d = ctx;
	char *t = (char *)text;

	queue_send_alerts(&d->queue, &t, &len, 1);
}

int daemon_rules_load(struct daemon *d, bool starting)
{
	const struct rules_settings *s = &d->cfg->rules;
	struct ruleset *rs = NULL;
	char err[512] = "";
	const char *dir;
	int ret;

	if (starting)
		rules_engine_init(&d->rules, &d->ser, on_alert, d);
	d->rules.aggregate_ms = s->aggregate_ms;
	if (!s->enabled) {
		if (d->rules.rs)
			logmsg(LOG_INFO, "rules: off");
		rules_engine_set(&d->rules, NULL, mono_ms());
		return 0;
	}
	dir = s->dir ? (*s->dir ? s->dir : NULL) : IOTSEC_RULES_DIR;
	ret = rules_load(&rs, dir, d->config_path, err, sizeof(err));
	if (ret) {
		logmsg(LOG_ERR, "%s", err[0] ? err : strerror(-ret));
		logmsg(LOG_ERR, starting ? "rules: not loaded" :
		       "rules: reload failed; keeping the running rules");
		return ret;
	}
	logmsg(LOG_INFO, "rules: %zu enabled (%s and %s)", rules_count(rs),
	       dir ? dir : "no directory", d->config_path);
	rules_engine_set(&d->rules, rs, mono_ms());
	return 0;
}
