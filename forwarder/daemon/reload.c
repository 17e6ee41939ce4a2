// SPDX-License-Identifier: MIT
/*
 * A new configuration put in force in the running daemon: SIGHUP (the
 * YAML file read again) and the module twin's desired properties
 * (twin_run.c) both come here. A configuration that does not load leaves
 * the running one in place; the transport is rebuilt only when its own
 * settings changed, so that a reload does not drop the broker connection
 * for nothing, and the new one is built and checked before the old one
 * goes: a transport that cannot be built (a CA that does not load) fails
 * the reload like a configuration that does not parse. Queued events are
 * flushed under the old configuration first (queue_set_config()), none is
 * lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "common/clock.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/twin.h"

int daemon_parse_config(const char *path, const char *text, size_t len,
			struct config *c, bool quiet)
{
	char err[512];
	int ret;

	ret = config_parse(c, path, text ? text : "", text ? len : 0, err,
			   sizeof(err));
	if (ret) {
		logmsg(LOG_ERR, "%s", err);
		return ret;
	}
	if (c->warning[0] && !quiet)
		logmsg(LOG_WARNING, "%s", c->warning);
	if (!c->agent_id[0])
		config_default_agent_id(c, "/etc/machine-id");
	return 0;
}

int daemon_load_config(const char *path, struct config *c, bool must_exist,
		       char **text, size_t *len)
{
	char err[512];
	int ret;

	*text = NULL;
	*len = 0;
	if (!must_exist && access(path, F_OK) && errno == ENOENT) {
		logmsg(LOG_NOTICE, "%s does not exist; using defaults (local "
		       "broker)", path);
	} else {
		ret = config_read(path, text, len, err, sizeof(err));
		if (ret) {
			config_defaults(c);
			logmsg(LOG_ERR, "%s", err);
			return ret;
		}
	}
	ret = daemon_parse_config(path, *text, *len, c, false);
	if (ret) {
		config_text_free(*text, *len);
		*text = NULL;
	}
	return ret;
}

struct config *daemon_spare_config(struct daemon *d)
{
	return d->cfg == &d->cfg_store[0] ? &d->cfg_store[1] :
					    &d->cfg_store[0];
}

int daemon_apply_config(struct daemon *d, struct config *new)
{
	struct config *old = d->cfg;
	struct mqtt *fresh = NULL;
	char err[512] = "";

	/*
	 * The new transport is built (TLS files loaded, credentials made)
	 * before anything changes: one that cannot be built fails the whole
	 * reload, and the running connection stays.
	 */
	if (!d->output && !mqtt_config_equal(&old->mqtt, &new->mqtt)) {
		fresh = daemon_mqtt_new(d, new, err, sizeof(err));
		if (!fresh) {
			logmsg(LOG_ERR, "%s", err);
			return -EINVAL;
		}
	}
	queue_set_config(&d->queue, new, mono_ms());
	d->cfg = new;
	log_set_level(new->log_level);
	d->enrich.users = new->enrich_users;
	d->enrich.parent = new->enrich_parent;
	d->enrich.container = new->enrich_container;
	snprintf(d->ser.agent_id, sizeof(d->ser.agent_id), "%s", new->agent_id);
	if (fresh) {
		logmsg(LOG_INFO, "transport settings changed; reconnecting");
		daemon_mqtt_replace(d, fresh);
	}
	if (d->spool && (!str_same(old->spool.path, new->spool.path) ||
			 old->spool.size != new->spool.size ||
			 old->spool.sync_ms != new->spool.sync_ms))
		logmsg(LOG_NOTICE, "spool settings changed: they take effect "
		       "at the next start");
	if (old->statistics_ms != new->statistics_ms)
		d->next_stats_ms = new->statistics_ms ?
				   mono_ms() + new->statistics_ms : UINT64_MAX;
	if (d->nl_open)
		daemon_kernel_config(d);
	if (d->local) {
		struct local_config lc;

		/* fds may be closed and reopened: out of the loop meanwhile */
		daemon_local_watch(d, EPOLL_CTL_DEL);
		daemon_local_config(new, &lc);
		daemon_rules_observe_logins(d, &lc);
		local_reconfigure(d->local, &lc);
		daemon_local_watch(d, EPOLL_CTL_ADD);
	}
	daemon_detect_apply(d, old);
	config_free(old);
	return 0;
}

void daemon_reload(struct daemon *d)
{
	struct config *new = daemon_spare_config(d);
	char *text;
	size_t len;

	if (daemon_load_config(d->config_path, new, true, &text, &len)) {
		logmsg(LOG_ERR, "reload failed; keeping the running "
		       "configuration");
		config_free(new);
		return;
	}
	/* the twin's settings stay over the new file, as far as it lets them */
	if (daemon_twin_overlay(d, new, text, len)) {
		config_free(new);
		config_text_free(text, len);
		return;
	}
	if (daemon_apply_config(d, new)) {
		logmsg(LOG_ERR, "reload failed; keeping the running "
		       "configuration and connection");
		config_free(new);
		config_text_free(text, len);
		return;
	}
	config_text_free(d->yaml, d->yaml_len);
	d->yaml = text;
	d->yaml_len = len;
	logmsg(LOG_INFO, "configuration reloaded from %s", d->config_path);
}
