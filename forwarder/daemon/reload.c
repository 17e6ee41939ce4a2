// SPDX-License-Identifier: MIT
/*
 * SIGHUP: read the configuration again and apply it to the running
 * daemon. A configuration that does not load leaves the running one in
 * place; the transport is rebuilt only when its own settings changed, so
 * that a reload does not drop the broker connection for nothing, and the
 * new one is built and checked before the old one goes: a transport that
 * cannot be built (a CA that does not load) fails the reload like a
 * configuration that does not parse.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "common/clock.h"
#include "common/util.h"
#include "daemon/daemon.h"

int daemon_load_config(const char *path, struct config *c, bool must_exist)
{
	char err[512];
	int ret;

	if (!must_exist && access(path, F_OK) && errno == ENOENT) {
		logmsg(LOG_NOTICE, "%s does not exist; using defaults (local "
		       "broker)", path);
		ret = config_parse(c, path, "", 0, err, sizeof(err));
	} else {
		ret = config_load(c, path, err, sizeof(err));
	}
	if (ret) {
		logmsg(LOG_ERR, "%s", err);
		return ret;
	}
	if (c->warning[0])
		logmsg(LOG_WARNING, "%s", c->warning);
	if (!c->agent_id[0])
		config_default_agent_id(c, "/etc/machine-id");
	return 0;
}

void daemon_reload(struct daemon *d)
{
	struct config *old = d->cfg;
	struct config *new = old == &d->cfg_store[0] ? &d->cfg_store[1] :
						      &d->cfg_store[0];

	struct mqtt *fresh = NULL;
	char err[512] = "";

	if (daemon_load_config(d->config_path, new, true)) {
		logmsg(LOG_ERR, "reload failed; keeping the running "
		       "configuration");
		config_free(new);
		return;
	}
	/*
	 * The new transport is built (TLS files loaded, credentials made)
	 * before anything changes: one that cannot be built fails the whole
	 * reload, and the running connection stays.
	 */
	if (!d->output && !mqtt_config_equal(&old->mqtt, &new->mqtt)) {
		fresh = daemon_mqtt_new(d, new, err, sizeof(err));
		if (!fresh) {
			logmsg(LOG_ERR, "%s", err);
			logmsg(LOG_ERR, "reload failed; keeping the running "
			       "configuration and connection");
			config_free(new);
			return;
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
	if (d->nl_open)
		daemon_kernel_config(d);
	if (d->local) {
		struct local_config lc;

		/* fds may be closed and reopened: out of the loop meanwhile */
		daemon_local_watch(d, EPOLL_CTL_DEL);
		daemon_local_config(new, &lc);
		local_reconfigure(d->local, &lc);
		daemon_local_watch(d, EPOLL_CTL_ADD);
	}
	config_free(old);
	logmsg(LOG_INFO, "configuration reloaded from %s", d->config_path);
}
