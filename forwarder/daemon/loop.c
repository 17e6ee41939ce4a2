// SPDX-License-Identifier: MIT
/*
 * iotsecd's loop. One thread (the transport resolves the broker's name on
 * one of its own), one epoll set: the timerfd paces the
 * periodic work (queue flushes, statistics, MQTT ticks, retries), the
 * signalfd brings SIGHUP (reload) and SIGTERM/SIGINT (flush and exit), and
 * the netlink, local sources' and MQTT sockets bring their events. The
 * pipeline's callbacks hand packed messages to the spool and from there
 * to the transport.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <netlink/genl/ctrl.h>

#include "common/clock.h"
#include "daemon/daemon.h"

#define RETRY_MS 5000
/*
 * Messages handed to libmosquitto and not yet acknowledged, at most: a
 * reconnect after a long outage sends the spool out at this pace instead
 * of all at once.
 */
#define INFLIGHT_MAX 32

/* ---- kernel ---- */

void daemon_kernel_config(struct daemon *d)
{
	struct iotsec_kconfig kc = { 0 };
	int ret;

	kc.has_mask = kc.has_argv_max = kc.has_exclude = kc.has_watch = true;
	for (int t = 1; t <= IOTSEC_EVENT_MAX; t++)
		if (d->cfg->types[t].prio != PRIO_OFF)
			kc.event_mask |= IOTSEC_EVENT_BIT(t);
	kc.argv_max = d->cfg->argv_max;
	if (d->cfg->exclude_self)
		kc.exclude[kc.n_exclude++] = d->self_pid;
	for (unsigned int i = 0; i < d->cfg->n_watch; i++) {
		if (access(d->cfg->watch[i], F_OK)) {
			logmsg(LOG_WARNING, "not watching %s: %s",
			       d->cfg->watch[i], strerror(errno));
			continue;
		}
		kc.watch[kc.n_watch++] = d->cfg->watch[i];
	}
	ret = iotsec_nl_set_config(&d->nl, &kc);
	if (ret)
		logmsg(LOG_ERR, "setting the kernel configuration: %s",
		       strerror(-ret));
}

/*
 * Every change to the epoll set, checked: an fd that silently failed to
 * join is a source that stalls unseen. A MOD of an fd that is not there
 * (a reconnect reused the number of a closed socket, which left the set
 * when it closed) adds it; a DEL of one that is gone already is no
 * failure. 0, or -errno, logged.
 */
int daemon_epoll_set(struct daemon *d, int fd, uint32_t ev, int op)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };
	int ret;

	ret = epoll_ctl(d->epfd, op, fd, &e);
	if (ret && op == EPOLL_CTL_MOD && errno == ENOENT)
		ret = epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &e);
	if (!ret || (op == EPOLL_CTL_DEL && (errno == ENOENT ||
					     errno == EBADF)))
		return 0;
	ret = -errno;
	logmsg(LOG_ERR, "epoll: %s fd %d: %s", op == EPOLL_CTL_ADD ? "adding" :
	       op == EPOLL_CTL_MOD ? "changing" : "removing", fd,
	       strerror(-ret));
	return ret;
}

static void kernel_close(struct daemon *d);

void daemon_kernel_open(struct daemon *d)
{
	int ret;

	d->self_pid = getpid();
	ret = iotsec_nl_open(&d->nl, daemon_on_event, stats_on_counters, d);
	if (!ret) {
		d->nl.rcvbuf = d->cfg->receive_buffer;
		ret = iotsec_nl_subscribe(&d->nl);
	}
	if (ret) {
		if (d->next_nl_retry_ms == 0)
			logmsg(LOG_WARNING, "kernel collector: %s; retrying "
			       "every %d s", ret == -ENOENT ? "module not loaded"
			       : strerror(-ret), RETRY_MS / 1000);
		iotsec_nl_close(&d->nl);
		d->next_nl_retry_ms = mono_ms() + RETRY_MS;
		return;
	}
	d->nl_open = true;
	d->next_nl_retry_ms = 0;
	/*
	 * The hooks the kernel lacks do not change while the module stays:
	 * asked once per subscription, for the twin's reported properties.
	 */
	d->have_kstats = !iotsec_nl_get_stats(&d->nl, &d->kstats);
	daemon_kernel_config(d);
	if (daemon_epoll_set(d, iotsec_nl_fd(&d->nl), EPOLLIN,
			     EPOLL_CTL_ADD)) {
		/* unwatched, it would fill up unread: again later */
		kernel_close(d);
		return;
	}
	logmsg(LOG_INFO, "subscribed to the kernel collector");
}

static void kernel_close(struct daemon *d)
{
	if (!d->nl_open)
		return;
	daemon_epoll_set(d, iotsec_nl_fd(&d->nl), 0, EPOLL_CTL_DEL);
	iotsec_nl_close(&d->nl);
	d->nl_open = false;
	d->have_kstats = false;
	d->next_nl_retry_ms = mono_ms() + RETRY_MS;
}

/* ---- messages out ---- */

/*
 * Hand the spool's messages to the transport (a previous run's first,
 * then alerts, high, low, each oldest first: spool_next()), with their
 * stored message ids (the same after a restart, so the receiver can drop
 * what it already has).
 */
static void publish_pending(struct daemon *d)
{
	struct spool_rec *r;

	if (!d->spool || !d->mqtt)
		return;
	while (mqtt_connected(d->mqtt) &&
	       spool_inflight(d->spool) < INFLIGHT_MAX &&
	       (r = spool_next(d->spool))) {
		const char *payload = spool_payload(d->spool, r);
		struct mqtt_message m = {
			.payload = payload, .len = r->len,
			.message_id = r->id,
			.content_type = "application/json",
			.content_encoding = "utf-8",
			.security = r->kind == MSG_AZURE,
			.type = r->kind == MSG_AZURE ? "security" : "extended",
		};
		int mid = -1, ret;

		if (!payload)		/* unreadable: dropped, counted */
			continue;
		ret = mqtt_publish(d->mqtt, &m, &mid);
		if (ret == -ENOTCONN || ret == -ENOMEM)
			return;		/* kept; again on the next turn */
		if (ret) {
			logmsg(LOG_WARNING, "publish of message %s refused: "
			       "%s; dropped", r->id, strerror(-ret));
			spool_discard(d->spool, r);	/* counted there */
			continue;
		}
		d->msgs_sent++;
		d->bytes_sent += r->len;
		if (r->len < 4096)
			d->msgs_under4k++;
		if (spool_set_inflight(d->spool, r, mid))
			return;		/* pending still: again later */
	}
}

void daemon_on_message(void *ctx, enum prio prio, enum msg_kind kind,
		       const char *buf, size_t len, unsigned int n_events)
{
	struct daemon *d = ctx;
	char id[37];

	if (d->output) {
		fwrite(buf, 1, len, d->output);
		fputc('\n', d->output);
		fflush(d->output);
		d->msgs_sent++;
		d->msgs_acked++;
		d->bytes_sent += len;
		if (len < 4096)
			d->msgs_under4k++;
		return;
	}
	ser_uuid(&d->ser, id);
	/* a message that does not fit is counted by the spool */
	if (queue_out_local(&d->queue))
		spool_append_local(d->spool, prio, kind, n_events, id, buf,
				   len, mono_ms());
	else
		spool_append(d->spool, prio, kind, n_events, id, buf, len,
			     mono_ms());
	logmsg(LOG_DEBUG, "message %s of %zu bytes, %u events, %s priority",
	       id, len, n_events, prio_name(prio));
	publish_pending(d);
}

static void on_ack(void *ctx, int mid)
{
	struct daemon *d = ctx;

	/* an ack of a message dropped meanwhile is not ours any more */
	if (d->spool && !spool_ack_mid(d->spool, mid))
		d->msgs_acked++;
	d->last_ack_ms = mono_ms();
}

/*
 * In flight for messages.ack_timeout without any acknowledgement: again,
 * on a new connection. libmosquitto keeps every message it was given until
 * its PUBACK, and sends what it keeps again (DUP) after a reconnect (clean
 * session off); publishing the spool's copies once more on the same
 * connection would add one more copy per stall that libmosquitto holds for
 * good, so a broker that withholds PUBACKs could grow us without bound.
 * This way at most INFLIGHT_MAX messages are held, whatever the broker does.
 * The clock runs only while connected with something in flight: it
 * restarts at each ack and stands still while disconnected or while
 * nothing waits (so neither a reconnect nor a message published after a
 * long quiet time counts as overdue at once).
 */
static void check_stall(struct daemon *d, uint64_t now)
{
	bool c = d->mqtt && mqtt_connected(d->mqtt);

	if (!c || !d->spool || !spool_inflight(d->spool)) {
		d->last_ack_ms = now;
		return;
	}
	if (now - d->last_ack_ms < d->cfg->ack_timeout_ms)
		return;
	logmsg(LOG_WARNING, "no acknowledgement from the broker for %llu s; "
	       "reconnecting to send the %zu message(s) in flight again",
	       (unsigned long long)(d->cfg->ack_timeout_ms / 1000),
	       spool_inflight(d->spool));
	mqtt_start(d->mqtt);
	d->last_ack_ms = now;
}

void daemon_on_event(void *ctx, struct iotsec_event *ev)
{
	struct daemon *d = ctx;
	unsigned int hits;

	/*
	 * The kernel excludes iotsecd from the SET_CONFIG that follows its
	 * SUBSCRIBE on; what its other threads did in between (the broker
	 * lookup's UDP probes) comes through and is not an event of the
	 * device. Its own start, recorded before it subscribed, is.
	 */
	if (d->cfg->exclude_self && d->nl.dec.subscribed_ns &&
	    !ev->before_start && ev->tgid == (uint32_t)d->self_pid) {
		d->own_events++;
		return;
	}
	enrich_event(&d->enrich, ev);
	hits = rules_eval(&d->rules, ev, mono_ms());
	hits += daemon_detect_check(d, ev);	/* indicators */
	/* what alerted is not learned as normal */
	baseline_check(&d->baseline, ev, mono_ms(), hits > 0);
	daemon_detect_event(d, ev);	/* hashes, queue_push() */
	enrich_done(&d->enrich, ev);
}

/* ---- MQTT ---- */

static void mqtt_sync_fd(struct daemon *d)
{
	int fd = d->mqtt ? mqtt_fd(d->mqtt) : -1;
	uint32_t ev = EPOLLIN | (d->mqtt && mqtt_want_write(d->mqtt) ?
				 EPOLLOUT : 0);

	if (fd != d->mqtt_fd_reg) {
		if (d->mqtt_fd_reg >= 0)
			daemon_epoll_set(d, d->mqtt_fd_reg, 0, EPOLL_CTL_DEL);
		/* not in the set: tried again at the next sync */
		if (fd >= 0 && daemon_epoll_set(d, fd, ev, EPOLL_CTL_ADD))
			fd = -1;
		d->mqtt_fd_reg = fd;
		d->mqtt_events_reg = ev;
	} else if (fd >= 0) {
		/*
		 * A reconnect may reuse the fd number of the closed socket,
		 * which left the epoll set when it closed: MOD adds it then.
		 */
		if (daemon_epoll_set(d, fd, ev, EPOLL_CTL_MOD))
			d->mqtt_fd_reg = -1;
		d->mqtt_events_reg = ev;
	}
}

/*
 * A transport for C, built and checked (TLS files load, a SAS token can be
 * made) but not connected; NULL with the reason in ERR.
 */
struct mqtt *daemon_mqtt_new(struct daemon *d, const struct config *c,
			     char *err, size_t errlen)
{
	struct mqtt *m = mqtt_new(&c->mqtt, on_ack, d, err, errlen);

	/* desired properties from each transport (docs/twin.md) */
	if (m)
		mqtt_set_twin(m, daemon_twin_desired, d);
	return m;
}

/* Put M in place of the running transport, which is freed, and start it. */
void daemon_mqtt_replace(struct daemon *d, struct mqtt *m)
{
	if (d->mqtt) {
		/* the new connection knows nothing of the old one's mids */
		spool_requeue_inflight(d->spool);
		if (d->mqtt_fd_reg >= 0)
			daemon_epoll_set(d, d->mqtt_fd_reg, 0, EPOLL_CTL_DEL);
		d->mqtt_fd_reg = -1;
		mqtt_free(d->mqtt);
	}
	d->mqtt = m;
	/* the new one has reported nothing yet */
	free(d->twin_reported);
	d->twin_reported = NULL;
	mqtt_start(d->mqtt);
}

int daemon_mqtt_up(struct daemon *d)
{
	char err[256] = "";
	struct mqtt *m = daemon_mqtt_new(d, d->cfg, err, sizeof(err));

	if (!m) {
		logmsg(LOG_ERR, "%s", err);
		return -EINVAL;
	}
	daemon_mqtt_replace(d, m);
	return 0;
}

/* ---- local sources ---- */

/* The local sources' settings of C (strings borrowed from C). */
void daemon_local_config(const struct config *c, struct local_config *lc)
{
	local_config_defaults(lc);
	lc->sdk = c->sdk.enabled;
	if (c->sdk.socket)
		lc->sdk_cfg.path = c->sdk.socket;
	lc->sdk_cfg.mode = c->sdk.mode;
	lc->sdk_cfg.group = c->sdk.group;
	lc->sdk_cfg.max_clients = c->sdk.max_clients;
	lc->sdk_cfg.max_per_uid = c->sdk.max_per_uid;
	lc->sdk_cfg.rate = c->sdk.rate;
	lc->sdk_cfg.burst = c->sdk.burst;
	lc->sdk_cfg.max_message = c->sdk.max_message;
	lc->logins = c->logins.enabled;
	lc->login_cfg.wtmp_path = c->logins.wtmp;
	lc->login_cfg.btmp_path = c->logins.btmp;
	lc->login_cfg.utmp_path = c->logins.utmp;
	lc->login_cfg.aggregate_ms = c->logins.aggregate_ms;
	lc->rate = c->local.rate;
	lc->burst = c->local.burst;
	if (c->logins.state)
		lc->login_cfg.state_path = *c->logins.state ? c->logins.state :
					   NULL;
	lc->snapshot_ms = c->snapshots.interval_ms;
	lc->first_snapshot_ms = c->snapshots.first_delay_ms;
	lc->listening_ports = c->snapshots.listening_ports;
	lc->local_users = c->snapshots.local_users;
	lc->system_information = c->snapshots.system_information;
	lc->os_baseline = c->snapshots.os_baseline;
	/* PackageInventory (packages:, docs/rules.md) */
	lc->packages = c->detect.packages;
	if (c->detect.dpkg_status)
		snprintf(lc->snap_cfg.pkg_status[0], PKG_PATH_MAX, "%s",
			 c->detect.dpkg_status);
	if (c->detect.opkg_status) {
		snprintf(lc->snap_cfg.pkg_status[1], PKG_PATH_MAX, "%s",
			 c->detect.opkg_status);
		lc->snap_cfg.pkg_status[2][0] = '\0';
	}
}

void daemon_local_watch(struct daemon *d, int op)
{
	int fds[4], i, n;

	if (!d->local)
		return;
	n = local_fds(d->local, fds, 4);
	for (i = 0; i < n; i++) {
		daemon_epoll_set(d, fds[i], EPOLLIN, op);
	}
}

/* ---- a recording on a pipe ---- */

/*
 * A recording that comes through a pipe (iotsecd --replay - or a FIFO)
 * is read by the loop as it arrives, as the netlink socket is: a writer
 * that does not wait for a full pipe (tests/lib/replay-feed.py) then sees
 * what the kernel sees when the daemon does not keep up.
 */
void daemon_replay_stream(struct daemon *d, int fd)
{
	d->replay_fd = fd;
	daemon_epoll_set(d, fd, EPOLLIN, EPOLL_CTL_ADD);
}

static void replay_stream_end(struct daemon *d, int ret)
{
	if (!ret)
		ret = replay_finish(d->reader);
	if (ret)
		logmsg(LOG_ERR, "replay: %s", d->reader->error ?
		       d->reader->error : strerror(-ret));
	logmsg(LOG_INFO, "replayed %llu batches, %llu events from a pipe",
	       (unsigned long long)d->nl.dec.stats.batches,
	       (unsigned long long)d->nl.dec.stats.events);
	daemon_epoll_set(d, d->replay_fd, 0, EPOLL_CTL_DEL);
	if (d->replay_fd)
		close(d->replay_fd);
	d->replay_fd = -1;
}

/* One read per wake-up, so the other fds get their turn. */
static void replay_stream_read(struct daemon *d)
{
	static unsigned char buf[65536];
	ssize_t n = read(d->replay_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		replay_stream_end(d, -errno);
		return;
	}
	if (n == 0) {
		replay_stream_end(d, 0);
		return;
	}
	if (replay_feed(d->reader, buf, (size_t)n))
		replay_stream_end(d, -EINVAL);
}

/* ---- loop ---- */

static void arm_timer(struct daemon *d, uint64_t ms)
{
	struct itimerspec its = { 0 };

	if (ms < 1)
		ms = 1;
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000;
	timerfd_settime(d->tfd, 0, &its, NULL);
}

static uint64_t periodic(struct daemon *d)
{
	uint64_t now = mono_ms(), next, t;
	struct timespec ts;

	if (now >= d->next_stats_ms) {
		if (d->cfg->statistics_ms) {
			stats_send(d);
			d->next_stats_ms = now + d->cfg->statistics_ms;
		} else {
			d->next_stats_ms = UINT64_MAX;
		}
	}
	if (!d->replay)
		ser_sync_clock(&d->ser);
	next = rules_tick(&d->rules, now);
	t = daemon_detect_tick(d, now);
	if (t < next)
		next = t;
	t = baseline_tick(&d->baseline, now);
	if (t < next)
		next = t;
	t = queue_tick(&d->queue, now);
	if (t < next)
		next = t;
	t = local_tick(d->local, now);
	if (t < next)
		next = t;
	t = heartbeat_tick(d, now);
	if (t < next)
		next = t;
	if (d->next_stats_ms - now < next)
		next = d->next_stats_ms - now;
	if (d->spool) {
		/* the end of the interval sync (in a thread) wakes the loop */
		if (!d->spool_sync_reg && spool_sync_fd(d->spool) >= 0)
			d->spool_sync_reg = !daemon_epoll_set(d,
				spool_sync_fd(d->spool), EPOLLIN,
				EPOLL_CTL_ADD);
		t = spool_tick(d->spool, now);
		if (t < next)
			next = t;
		check_stall(d, now);
	}
	if (d->mqtt) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = mqtt_tick(d->mqtt, ts);
		if (t < next)
			next = t;
	}
	/*
	 * The module can be unloaded and loaded again under us: the socket
	 * then just goes quiet. Check that the family is still the one we
	 * subscribed to, and start over when it is not.
	 */
	if (d->nl_open && now >= d->next_nl_check_ms) {
		int fam = genl_ctrl_resolve(d->nl.ctl, IOTSEC_GENL_NAME);

		d->next_nl_check_ms = now + RETRY_MS;
		if (fam != d->nl.family) {
			logmsg(LOG_WARNING, "kernel collector went away; "
			       "waiting for it to come back");
			kernel_close(d);
		}
	}
	/* overruns are counted and reported, at most every 5 s */
	if (d->nl_open && d->nl.enobufs != d->enobufs_logged &&
	    now >= d->next_enobufs_log_ms) {
		logmsg(LOG_WARNING, "netlink receive buffer overrun (%llu so "
		       "far): batches were lost; the kernel counts them "
		       "(KernelLost in DroppedEventsStatistics)",
		       (unsigned long long)d->nl.enobufs);
		d->enobufs_logged = d->nl.enobufs;
		d->next_enobufs_log_ms = now + RETRY_MS;
	}
	if (!d->nl_open && d->next_nl_retry_ms) {
		if (now >= d->next_nl_retry_ms)
			daemon_kernel_open(d);
		if (!d->nl_open && d->next_nl_retry_ms - now < next)
			next = d->next_nl_retry_ms - now;
	}
	if (now >= d->next_stats_file_ms) {
		stats_write_file(d);
		daemon_twin_report(d);
		d->next_stats_file_ms = now + 1000;
	}
	if (d->next_stats_file_ms - now < next)
		next = d->next_stats_file_ms - now;
	return next;
}

/* One ready fd: the timer, a signal, or one of the sockets. */
static void dispatch(struct daemon *d, const struct epoll_event *e)
{
	int fd = e->data.fd;

	if (fd == d->tfd) {
		uint64_t x;

		if (read(d->tfd, &x, sizeof(x)) < 0)
			return;
	} else if (fd == d->sfd) {
		struct signalfd_siginfo si;

		if (read(d->sfd, &si, sizeof(si)) != sizeof(si))
			return;
		if (si.ssi_signo == SIGHUP) {
			uint64_t loads = d->rules_loads;

			/*
			 * The rule files and indicator lists read again, once:
			 * a changed rules or indicators setting has the reload
			 * load them already (daemon_detect_apply()).
			 */
			daemon_reload(d);
			if (d->rules_loads == loads)
				daemon_rules_load(d, false);
		} else if (si.ssi_signo == SIGUSR1) {
			daemon_baseline_request(d, si.ssi_code == SI_QUEUE ?
						si.ssi_int : 0);
		} else {
			logmsg(LOG_INFO, "signal %d: flushing and exiting",
			       si.ssi_signo);
			d->stop = true;
		}
	} else if (d->replay_fd >= 0 && fd == d->replay_fd) {
		replay_stream_read(d);
	} else if (d->nl_open && fd == iotsec_nl_fd(&d->nl)) {
		int ret = iotsec_nl_receive(&d->nl);

		if (ret) {
			logmsg(LOG_ERR, "netlink: %s; resubscribing",
			       strerror(-ret));
			kernel_close(d);
		}
	} else if (d->local && local_handle(d->local, fd)) {
		/* SDK socket, wtmp/btmp */
	} else if (d->mqtt && fd == d->mqtt_fd_reg) {
		mqtt_handle(d->mqtt, e->events);
	} else if (d->spool && fd == spool_sync_fd(d->spool)) {
		spool_sync_done(d->spool, mono_ms());
	} else if (daemon_detect_handle(d, fd)) {
		/* executable hashes */
	}
}

int daemon_run(struct daemon *d, bool replay_mode)
{
	struct epoll_event evs[8];
	int64_t stop_deadline = 0;

	for (;;) {
		uint64_t next = periodic(d);
		int n, i;

		/*
		 * No re-queueing when the connection drops: libmosquitto sends
		 * what it holds again on the reconnect (clean session off).
		 */
		publish_pending(d);
		mqtt_sync_fd(d);
		if (d->stop || (replay_mode && d->replay_fd < 0)) {
			/* leave when everything is out, or after a grace time */
			if (!stop_deadline) {
				local_flush(d->local);
				daemon_detect_flush(d);
				rules_flush(&d->rules, mono_ms());
				baseline_flush(&d->baseline, mono_ms());
				queue_flush_all(&d->queue, mono_ms());
				if (d->cfg->statistics_ms)
					stats_send(d);
				stop_deadline = mono_ms() +
					(replay_mode && !d->stop ? 30000 : 5000);
			}
			if (!d->spool || !spool_records(d->spool))
				return 0;
			/*
			 * On disk, what is not delivered waits for the next
			 * start: no reason to wait for a broker that is away.
			 */
			if (mono_ms() >= stop_deadline ||
			    (d->stop && spool_on_disk(d->spool) &&
			     !mqtt_connected(d->mqtt))) {
				logmsg(spool_on_disk(d->spool) ? LOG_NOTICE :
				       LOG_WARNING, "exiting with %llu message(s) "
				       "not acknowledged%s%s",
				       (unsigned long long)spool_records(d->spool),
				       spool_on_disk(d->spool) ? "; kept in " : "",
				       spool_on_disk(d->spool) ?
				       spool_path(d->spool) : "");
				return d->stop ? 0 : 1;
			}
			if (next > 200)
				next = 200;
		}
		arm_timer(d, next);
		n = epoll_wait(d->epfd, evs, 8, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++)
			dispatch(d, &evs[i]);
	}
}
