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
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/users.h"
#include "daemon/daemon.h"

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
