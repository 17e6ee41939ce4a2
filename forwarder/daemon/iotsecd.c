// SPDX-License-Identifier: MIT
/*
 * iotsecd: the forwarder daemon. One thread, one epoll loop:
 *
 *   netlink socket --decode--> enrich --> priority queues (aggregation)
 *   timerfd: flush due queues, operational statistics, MQTT ticks
 *   signalfd: SIGHUP reloads the config, SIGTERM/SIGINT flush and exit
 *   packed messages --> spool (spool.h, bounded, on disk) --> MQTT socket
 *   (mqtt.h), QoS 1: a PUBACK removes the message from the spool
 *   local sources (local.h): SDK socket, wtmp/btmp, periodic snapshots
 *
 * --replay FILE feeds a recording through the same pipeline instead of the
 * kernel; --output FILE writes each message as one line of JSON instead of
 * publishing (for tests and for looking at what would be sent).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <json-c/json.h>
#include <netlink/genl/ctrl.h>
#include "daemon/config.h"
#include "pipeline/enrich.h"
#include "sources/local.h"
#include "transport/mqtt.h"
#include "intake/nl.h"
#include "pipeline/queue.h"
#include "intake/replay.h"
#include "pipeline/serialize.h"
#include "transport/spool.h"

#define STATS_FILE "/run/iotsec/iotsecd.json"
#define RETRY_MS 5000
/*
 * Messages handed to libmosquitto and not yet acknowledged, at most: a
 * reconnect after a long outage sends the spool out at this pace instead
 * of all at once.
 */
#define INFLIGHT_MAX 32
struct daemon {
	const char *config_path;
	struct config cfg_store[2];
	struct config *cfg;
	struct ser ser;
	struct enrich enrich;
	struct queue queue;
	struct iotsec_nl nl;
	bool nl_open;
	struct local *local;
	struct mqtt *mqtt;
	int mqtt_fd_reg;
	uint32_t mqtt_events_reg;
	FILE *output;
	const char *stats_path;
	int epfd, tfd, sfd;
	bool foreground, stop, replay;
	struct replay_reader *reader;
	uint64_t next_stats_ms, next_nl_retry_ms, next_stats_file_ms;
	uint64_t next_nl_check_ms;
	uint64_t enobufs_logged, next_enobufs_log_ms;
	/* messages waiting for the broker and its acknowledgement */
	struct spool *spool;
	uint64_t last_ack_ms;		/* or since nothing was in flight */
	uint64_t ops_events;		/* operational events sent */
	uint64_t msgs_sent, msgs_acked, msgs_failed, msgs_under4k, bytes_sent;
	struct iotsec_counters kcounters;
	bool have_kcounters;
};

static int log_level = LOG_INFO;
static bool log_stderr = true;

static void logmsg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logmsg(int level, const char *fmt, ...)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
		"warning", "notice", "info", "debug" };
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_stderr) {
		fprintf(stderr, "iotsecd: %s: ", names[level & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

static uint64_t boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- output ---- */

/* A spool counter over every priority. */
static uint64_t all_prios(const uint64_t v[PRIO_N])
{
	uint64_t sum = 0;

	for (int p = 0; p < PRIO_N; p++)
		sum += v[p];
	return sum;
}

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

static void on_message(void *ctx, enum prio prio, enum msg_kind kind,
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
	spool_append(d->spool, prio, kind, n_events, id, buf, len, now_ms());
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
	d->last_ack_ms = now_ms();
}

/*
 * In flight for messages.ack_timeout without any acknowledgement: again.
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
	       "publishing the %zu message(s) in flight again",
	       (unsigned long long)(d->cfg->ack_timeout_ms / 1000),
	       spool_inflight(d->spool));
	spool_requeue_inflight(d->spool);
	d->last_ack_ms = now;
}

/* ---- pipeline ---- */

static void on_event(void *ctx, struct iotsec_event *ev)
{
	struct daemon *d = ctx;

	enrich_event(&d->enrich, ev);
	queue_push(&d->queue, ev, now_ms());
	enrich_done(&d->enrich, ev);
}

static void on_counters(void *ctx, const struct iotsec_counters *c)
{
	struct daemon *d = ctx;

	d->kcounters = *c;
	d->have_kcounters = true;
}

static void send_statistics(struct daemon *d)
{
	struct iotsec_type_counters k = { 0 };
	char b[16][24];
	const char *extra[16][2];
	struct local_stats ls = { 0 };
	struct spool_stats ss = { 0 };
	char *t[2];
	size_t l[2], n = 0;
	uint64_t dropped[2] = { d->queue.stats.dropped[0],
				d->queue.stats.dropped[1] };
	uint64_t collected[2] = { d->queue.stats.collected[0],
				  d->queue.stats.collected[1] };

	for (int i = 1; i <= IOTSEC_EVENT_MAX; i++) {
		k.generated += d->kcounters.t[i].generated;
		k.dropped += d->kcounters.t[i].dropped;
		k.lost += d->kcounters.t[i].lost;
	}
#define EXTRA(name, v)                                                    \
	do {                                                              \
		snprintf(b[n], sizeof(b[n]), "%llu", (unsigned long long)(v)); \
		extra[n][0] = name;                                       \
		extra[n][1] = b[n];                                       \
		n++;                                                      \
	} while (0)
	EXTRA("KernelGenerated", k.generated);
	EXTRA("KernelDropped", k.dropped);
	EXTRA("KernelLost", k.lost);
	EXTRA("BatchGaps", d->nl.dec.stats.batch_gaps);
	EXTRA("SequenceGaps", d->nl.dec.stats.cpu_seq_gaps);
	EXTRA("ReceiveOverruns", d->nl.enobufs);
	EXTRA("MalformedEvents", d->nl.dec.stats.bad_events);
	EXTRA("OversizeEvents", d->queue.stats.oversize);
	/* messages the spool could not keep, by priority like the queues */
	if (d->spool)
		spool_get_stats(d->spool, &ss);
	EXTRA("SpoolDroppedEvents", all_prios(ss.dropped_events));
	EXTRA("SpoolCorruptRecords", ss.corrupt_records);
	/* SDK events refused before any queue (invalid, over the rate) */
	if (d->local)
		local_get_stats(d->local, &ls);
	EXTRA("SdkRejectedEvents", ls.sdk.rejected);
	EXTRA("SdkRateLimitedEvents", ls.sdk.rate_limited);
	dropped[0] += ss.dropped_events[PRIO_HIGH] +
		      ss.dropped_events[PRIO_ALERT];
	dropped[1] += ss.dropped_events[PRIO_LOW];
	/*
	 * Local and operational events reach the spool as high priority, so
	 * the spool may drop them: they count as collected there too.
	 */
	collected[0] += ls.sdk.accepted + ls.logins + ls.snapshots +
			d->ops_events;
	if (ser_dropped_events(&d->ser, boot_ns(), collected, dropped, extra,
			       n, &t[0], &l[0]))
		return;
	n = 0;
	EXTRA("MessagesAcked", d->msgs_acked);
	EXTRA("BytesSent", d->bytes_sent);
	EXTRA("SpoolDroppedMessages", all_prios(ss.dropped_messages));
#undef EXTRA
	if (ser_message_stats(&d->ser, boot_ns(), d->msgs_sent,
			      d->msgs_under4k,
			      d->msgs_failed + all_prios(ss.dropped_messages),
			      extra, n,
			      &t[1], &l[1])) {
		free(t[0]);
		return;
	}
	queue_send_texts(&d->queue, MSG_AZURE, t, l, 2);
	d->ops_events += 2;
	free(t[0]);
	free(t[1]);
}

static void write_stats_file(struct daemon *d)
{
	char tmp[4200];
	FILE *f;
	int i;

	if (!d->stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->stats_path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "{\"pid\":%d,\"module\":%s,\"mqtt\":\"%s\",",
		getpid(), d->nl_open ? "true" : "false",
		d->output ? "output file" :
		d->mqtt && mqtt_connected(d->mqtt) ? "connected" :
		"disconnected");
	fprintf(f, "\"decoder\":{\"batches\":%llu,\"events\":%llu,"
		"\"batch_gaps\":%llu,\"seq_gaps\":%llu,\"bad_events\":%llu,"
		"\"bad_batches\":%llu,\"unknown_attrs\":%llu,"
		"\"enobufs\":%llu,\"foreign\":%llu},",
		(unsigned long long)d->nl.dec.stats.batches,
		(unsigned long long)d->nl.dec.stats.events,
		(unsigned long long)d->nl.dec.stats.batch_gaps,
		(unsigned long long)d->nl.dec.stats.cpu_seq_gaps,
		(unsigned long long)d->nl.dec.stats.bad_events,
		(unsigned long long)d->nl.dec.stats.bad_batches,
		(unsigned long long)d->nl.dec.stats.unknown_attrs,
		(unsigned long long)d->nl.enobufs,
		(unsigned long long)d->nl.foreign);
	fprintf(f, "\"queues\":{\"high\":{\"collected\":%llu,\"dropped\":%llu},"
		"\"low\":{\"collected\":%llu,\"dropped\":%llu},"
		"\"oversize\":%llu,\"early_flushes\":%llu,\"filtered\":[",
		(unsigned long long)d->queue.stats.collected[0],
		(unsigned long long)d->queue.stats.dropped[0],
		(unsigned long long)d->queue.stats.collected[1],
		(unsigned long long)d->queue.stats.dropped[1],
		(unsigned long long)d->queue.stats.oversize,
		(unsigned long long)d->queue.stats.early_flushes);
	for (i = 1; i <= IOTSEC_EVENT_MAX; i++)
		fprintf(f, "%s%llu", i > 1 ? "," : "",
			(unsigned long long)d->queue.stats.filtered[i]);
	fprintf(f, "]},\"messages\":{\"sent\":%llu,\"acked\":%llu,"
		"\"failed\":%llu,\"under4k\":%llu,\"bytes\":%llu,"
		"\"events\":%llu}",
		(unsigned long long)d->msgs_sent,
		(unsigned long long)d->msgs_acked,
		(unsigned long long)d->msgs_failed,
		(unsigned long long)d->msgs_under4k,
		(unsigned long long)d->bytes_sent,
		(unsigned long long)d->queue.stats.events_sent);
	if (d->spool) {
		struct spool_stats ss;
		struct json_object *p;

		spool_get_stats(d->spool, &ss);
		p = json_object_new_string(spool_path(d->spool));
		fprintf(f, ",\"spool\":{\"mode\":\"%s\",\"path\":%s,"
			"\"bytes\":%llu,\"records\":%llu,\"pending\":%llu,"
			"\"inflight\":%llu,\"written\":%llu,\"acked\":%llu,"
			"\"dropped_messages\":%llu,\"dropped_events\":%llu,"
			"\"corrupt_records\":%llu,\"recovered_records\":%llu,"
			"\"write_errors\":%llu}",
			ss.disk ? "disk" : "memory",
			p ? json_object_to_json_string_ext(p,
				JSON_C_TO_STRING_NOSLASHESCAPE) : "\"\"",
			(unsigned long long)ss.bytes,
			(unsigned long long)ss.records,
			(unsigned long long)ss.pending,
			(unsigned long long)ss.inflight,
			(unsigned long long)ss.written,
			(unsigned long long)ss.acked,
			(unsigned long long)all_prios(ss.dropped_messages),
			(unsigned long long)all_prios(ss.dropped_events),
			(unsigned long long)ss.corrupt_records,
			(unsigned long long)ss.recovered_records,
			(unsigned long long)ss.write_errors);
		json_object_put(p);
	}
	fputs("}\n", f);
	if (fclose(f) == 0)
		rename(tmp, d->stats_path);
}

/* ---- kernel ---- */

static void kernel_config(struct daemon *d)
{
	struct iotsec_kconfig kc = { 0 };
	int ret;

	kc.has_mask = kc.has_argv_max = kc.has_exclude = kc.has_watch = true;
	for (int t = 1; t <= IOTSEC_EVENT_MAX; t++)
		if (d->cfg->types[t].prio != PRIO_OFF)
			kc.event_mask |= IOTSEC_EVENT_BIT(t);
	kc.argv_max = d->cfg->argv_max;
	if (d->cfg->exclude_self)
		kc.exclude[kc.n_exclude++] = getpid();
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

static void epoll_set(struct daemon *d, int fd, uint32_t ev, int op)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };

	epoll_ctl(d->epfd, op, fd, &e);
}

static void kernel_open(struct daemon *d)
{
	int ret;

	ret = iotsec_nl_open(&d->nl, on_event, on_counters, d);
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
		d->next_nl_retry_ms = now_ms() + RETRY_MS;
		return;
	}
	d->nl_open = true;
	d->next_nl_retry_ms = 0;
	kernel_config(d);
	epoll_set(d, iotsec_nl_fd(&d->nl), EPOLLIN, EPOLL_CTL_ADD);
	logmsg(LOG_INFO, "subscribed to the kernel collector");
}

static void kernel_close(struct daemon *d)
{
	if (!d->nl_open)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, iotsec_nl_fd(&d->nl), NULL);
	iotsec_nl_close(&d->nl);
	d->nl_open = false;
	d->next_nl_retry_ms = now_ms() + RETRY_MS;
}

/* ---- MQTT ---- */

static void mqtt_sync_fd(struct daemon *d)
{
	int fd = d->mqtt ? mqtt_fd(d->mqtt) : -1;
	uint32_t ev = EPOLLIN | (d->mqtt && mqtt_want_write(d->mqtt) ?
				 EPOLLOUT : 0);

	if (fd != d->mqtt_fd_reg) {
		if (d->mqtt_fd_reg >= 0)
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->mqtt_fd_reg, NULL);
		if (fd >= 0)
			epoll_set(d, fd, ev, EPOLL_CTL_ADD);
		d->mqtt_fd_reg = fd;
		d->mqtt_events_reg = ev;
	} else if (fd >= 0) {
		/*
		 * A reconnect may reuse the fd number of the closed socket,
		 * which left the epoll set when it closed: MOD says so.
		 */
		struct epoll_event e = { .events = ev, .data.fd = fd };

		if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &e) && errno == ENOENT)
			epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &e);
		d->mqtt_events_reg = ev;
	}
}

static int mqtt_up(struct daemon *d)
{
	char err[256] = "";

	d->mqtt = mqtt_new(&d->cfg->mqtt, on_ack, d, err, sizeof(err));
	if (!d->mqtt) {
		logmsg(LOG_ERR, "%s", err);
		return -EINVAL;
	}
	mqtt_start(d->mqtt);
	return 0;
}

static bool str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* ---- local sources ---- */

/* The local sources' settings of C (strings borrowed from C). */
static void local_config_of(const struct config *c, struct local_config *lc)
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
	if (c->logins.state)
		lc->login_cfg.state_path = *c->logins.state ? c->logins.state :
					   NULL;
	lc->snapshot_ms = c->snapshots.interval_ms;
	lc->first_snapshot_ms = c->snapshots.first_delay_ms;
	lc->listening_ports = c->snapshots.listening_ports;
	lc->local_users = c->snapshots.local_users;
	lc->system_information = c->snapshots.system_information;
	lc->os_baseline = c->snapshots.os_baseline;
}

static void local_watch(struct daemon *d, int op)
{
	int fds[4], i, n;

	if (!d->local)
		return;
	n = local_fds(d->local, fds, 4);
	for (i = 0; i < n; i++) {
		if (op == EPOLL_CTL_DEL)
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, fds[i], NULL);
		else
			epoll_set(d, fds[i], EPOLLIN, EPOLL_CTL_ADD);
	}
}

/* ---- configuration ---- */

static void agent_id_default(char id[37])
{
	char m[64] = "";
	FILE *f = fopen("/etc/machine-id", "r");

	if (f) {
		if (!fgets(m, sizeof(m), f))
			m[0] = '\0';
		fclose(f);
	}
	if (strlen(m) >= 32) {
		snprintf(id, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", m, m + 8, m + 12,
			 m + 16, m + 20);
		return;
	}
	snprintf(id, 37, "00000000-0000-4000-8000-000000000000");
}

static int load_config(const char *path, struct config *c, bool must_exist)
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
	if (!c->agent_id[0])
		agent_id_default(c->agent_id);
	return 0;
}

static void reload(struct daemon *d)
{
	struct config *old = d->cfg;
	struct config *new = old == &d->cfg_store[0] ? &d->cfg_store[1] :
						      &d->cfg_store[0];

	if (load_config(d->config_path, new, true)) {
		logmsg(LOG_ERR, "reload failed; keeping the running "
		       "configuration");
		config_free(new);
		return;
	}
	queue_set_config(&d->queue, new, now_ms());
	d->cfg = new;
	log_level = new->log_level;
	d->enrich.users = new->enrich_users;
	d->enrich.parent = new->enrich_parent;
	d->enrich.container = new->enrich_container;
	snprintf(d->ser.agent_id, sizeof(d->ser.agent_id), "%s", new->agent_id);
	if (!d->output && !mqtt_config_equal(&old->mqtt, &new->mqtt)) {
		logmsg(LOG_INFO, "transport settings changed; reconnecting");
		/* the new connection knows nothing of the old one's mids */
		spool_requeue_inflight(d->spool);
		if (d->mqtt_fd_reg >= 0)
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->mqtt_fd_reg, NULL);
		d->mqtt_fd_reg = -1;
		mqtt_free(d->mqtt);
		d->mqtt = NULL;
		mqtt_up(d);
	}
	if (d->spool && (!str_same(old->spool.path, new->spool.path) ||
			 old->spool.size != new->spool.size ||
			 old->spool.sync_ms != new->spool.sync_ms))
		logmsg(LOG_NOTICE, "spool settings changed: they take effect "
		       "at the next start");
	if (d->nl_open)
		kernel_config(d);
	if (d->local) {
		struct local_config lc;

		/* fds may be closed and reopened: out of the loop meanwhile */
		local_watch(d, EPOLL_CTL_DEL);
		local_config_of(new, &lc);
		local_reconfigure(d->local, &lc);
		local_watch(d, EPOLL_CTL_ADD);
	}
	config_free(old);
	logmsg(LOG_INFO, "configuration reloaded from %s", d->config_path);
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
	uint64_t now = now_ms(), next, t;
	struct timespec ts;

	if (now >= d->next_stats_ms) {
		if (d->cfg->statistics_ms) {
			send_statistics(d);
			d->next_stats_ms = now + d->cfg->statistics_ms;
		} else {
			d->next_stats_ms = UINT64_MAX;
		}
	}
	if (!d->replay)
		ser_sync_clock(&d->ser);
	next = queue_tick(&d->queue, now);
	t = local_tick(d->local, now);
	if (t < next)
		next = t;
	if (d->next_stats_ms - now < next)
		next = d->next_stats_ms - now;
	if (d->spool) {
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
			kernel_open(d);
		if (!d->nl_open && d->next_nl_retry_ms - now < next)
			next = d->next_nl_retry_ms - now;
	}
	if (now >= d->next_stats_file_ms) {
		write_stats_file(d);
		d->next_stats_file_ms = now + 1000;
	}
	if (d->next_stats_file_ms - now < next)
		next = d->next_stats_file_ms - now;
	return next;
}

static int run(struct daemon *d, bool replay_mode)
{
	struct epoll_event evs[8];
	uint64_t stop_deadline = 0;

	for (;;) {
		uint64_t next = periodic(d);
		int n, i;

		/*
		 * No re-queueing when the connection drops: libmosquitto sends
		 * what it holds again on the reconnect (clean session off).
		 */
		publish_pending(d);
		mqtt_sync_fd(d);
		if (d->stop || replay_mode) {
			/* leave when everything is out, or after a grace time */
			if (!stop_deadline) {
				local_flush(d->local);
				queue_flush_all(&d->queue, now_ms());
				if (d->cfg->statistics_ms)
					send_statistics(d);
				stop_deadline = now_ms() +
					(replay_mode && !d->stop ? 30000 : 5000);
			}
			if (!d->spool || !spool_records(d->spool))
				return 0;
			/*
			 * On disk, what is not delivered waits for the next
			 * start: no reason to wait for a broker that is away.
			 */
			if (now_ms() >= stop_deadline ||
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
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == d->tfd) {
				uint64_t x;

				if (read(d->tfd, &x, sizeof(x)) < 0)
					continue;
			} else if (fd == d->sfd) {
				struct signalfd_siginfo si;

				if (read(d->sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					reload(d);
				} else {
					logmsg(LOG_INFO, "signal %d: flushing and "
					       "exiting", si.ssi_signo);
					d->stop = true;
				}
			} else if (d->nl_open && fd == iotsec_nl_fd(&d->nl)) {
				int ret = iotsec_nl_receive(&d->nl);

				if (ret) {
					logmsg(LOG_ERR, "netlink: %s; "
					       "resubscribing", strerror(-ret));
					kernel_close(d);
				}
			} else if (d->local && local_handle(d->local, fd)) {
				/* SDK socket, wtmp/btmp */
			} else if (d->mqtt && fd == d->mqtt_fd_reg) {
				mqtt_handle(d->mqtt, evs[i].events);
			}
		}
	}
}

static int replay_batch(void *ctx, const void *attrs, size_t len)
{
	struct daemon *d = ctx;

	/* the recording's clock, so that times are the original ones */
	d->ser.boot_to_real_ns = d->reader->boot_to_real_ns;
	iotsec_decode_batch(&d->nl.dec, attrs, len);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iotsecd [options]\n"
		"  -c, --config FILE       configuration (default %s)\n"
		"      --check-config FILE check a configuration and exit\n"
		"  -f, --foreground        stay in the foreground, log to stderr\n"
		"      --replay FILE       feed a recording (iotsecctl record)\n"
		"                          instead of the kernel, then exit\n"
		"      --output FILE       write messages to FILE ('-': stdout),\n"
		"                          one per line, instead of publishing\n"
		"      --stats-file FILE   counters for iotsecctl (default %s)\n"
		"  -v, --verbose           debug logging\n"
		"  -V, --version\n", IOTSEC_CONFIG_PATH, STATS_FILE);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "replay", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "stats-file", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .config_path = IOTSEC_CONFIG_PATH,
			    .stats_path = STATS_FILE, .mqtt_fd_reg = -1 };
	const char *replay = NULL, *output = NULL;
	bool config_given = false, verbose = false;
	sigset_t mask;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:fvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; config_given = true; break;
		case 'C': {
			struct config cfg;
			char err[512];

			ret = config_load(&cfg, optarg, err, sizeof(err));
			if (ret)
				fprintf(stderr, "%s\n", err);
			else
				printf("%s: OK (%s %s:%d)\n", optarg,
				       cfg.mqtt.mode == MQTT_MODE_IOTHUB ?
				       "IoT Hub" : "broker", cfg.mqtt.host,
				       cfg.mqtt.port ? cfg.mqtt.port :
				       cfg.mqtt.tls ? 8883 : 1883);
			config_free(&cfg);
			return ret ? 1 : 0;
		}
		case 'f': d.foreground = true; break;
		case 'r': replay = optarg; break;
		case 'o': output = optarg; break;
		case 's': d.stats_path = *optarg ? optarg : NULL; break;
		case 'v': verbose = true; break;
		case 'V': printf("iotsecd %s\n", IOTSEC_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_stderr = d.foreground || replay;
	if (!log_stderr)
		openlog("iotsecd", LOG_PID, LOG_DAEMON);
	d.cfg = &d.cfg_store[0];
	if (load_config(d.config_path, d.cfg, config_given))
		return 1;
	log_level = verbose ? LOG_DEBUG : d.cfg->log_level;
	if (!d.foreground && !replay && daemon(0, 0)) {
		logmsg(LOG_ERR, "daemon: %s", strerror(errno));
		return 1;
	}
	if (d.stats_path) {
		char dir[4096];
		char *slash;

		snprintf(dir, sizeof(dir), "%s", d.stats_path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			mkdir(dir, 0755);
		}
	}
	ser_init(&d.ser, d.cfg->agent_id, IOTSEC_VERSION);
	if (enrich_init(&d.enrich, d.cfg->enrich_users, d.cfg->enrich_parent,
			d.cfg->enrich_container, !replay) ||
	    queue_init(&d.queue, d.cfg, &d.ser, on_message, &d, now_ms()) ||
	    iotsec_decoder_init(&d.nl.dec, on_event, on_counters, &d)) {
		logmsg(LOG_ERR, "out of memory");
		return 1;
	}
	d.next_stats_ms = now_ms() + d.cfg->statistics_ms;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	d.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d.epfd < 0 || d.sfd < 0 || d.tfd < 0) {
		logmsg(LOG_ERR, "epoll/signalfd/timerfd: %s", strerror(errno));
		return 1;
	}
	epoll_set(&d, d.sfd, EPOLLIN, EPOLL_CTL_ADD);
	epoll_set(&d, d.tfd, EPOLLIN, EPOLL_CTL_ADD);
	if (output) {
		d.output = strcmp(output, "-") ? fopen(output, "w") : stdout;
		if (!d.output) {
			logmsg(LOG_ERR, "%s: %s", output, strerror(errno));
			return 1;
		}
	} else {
		struct spool_config sc = {
			.path = d.cfg->spool.path ? d.cfg->spool.path :
				IOTSEC_SPOOL_PATH,
			.size = d.cfg->spool.size,
			.sync_ms = d.cfg->spool.sync_ms,
		};

		if (spool_open(&d.spool, &sc, logmsg, now_ms())) {
			logmsg(LOG_ERR, "spool: out of memory");
			return 1;
		}
		if (sc.size < SPOOL_HDR_SIZE + d.cfg->max_message_size)
			logmsg(LOG_WARNING, "spool.size (%llu bytes) is below "
			       "messages.max_size (%zu bytes): a message larger "
			       "than the spool is dropped (counted)",
			       (unsigned long long)sc.size,
			       d.cfg->max_message_size);
		if (mqtt_up(&d))
			return 1;
	}
	if (replay) {
		struct replay_reader r;

		d.replay = true;
		d.reader = &r;
		replay_init(&r, replay_batch, &d);
		ret = replay_file(&r, replay);
		if (r.have_header)
			d.ser.boot_to_real_ns = r.boot_to_real_ns;
		if (ret) {
			logmsg(LOG_ERR, "%s: %s", replay, r.error ? r.error :
			       strerror(-ret));
			replay_free(&r);
			return 1;
		}
		logmsg(LOG_INFO, "replayed %llu batches, %llu events from %s",
		       (unsigned long long)d.nl.dec.stats.batches,
		       (unsigned long long)d.nl.dec.stats.events, replay);
		replay_free(&r);
		/* keep the recording's clock for the flush */
		queue_flush_all(&d.queue, now_ms());
		ret = run(&d, true);
	} else {
		struct local_config lc;

		iotsec_decoder_fini(&d.nl.dec);
		local_config_of(d.cfg, &lc);
		if (!local_open(&d.local, &lc, &d.ser, &d.queue, logmsg))
			local_watch(&d, EPOLL_CTL_ADD);
		kernel_open(&d);
		ret = run(&d, false);
		local_close(d.local);
	}
	write_stats_file(&d);
	if (d.nl_open)
		iotsec_nl_close(&d.nl);
	else
		iotsec_decoder_fini(&d.nl.dec);
	queue_fini(&d.queue);
	enrich_fini(&d.enrich);
	mqtt_free(d.mqtt);
	/* synced; what was not acknowledged is there at the next start */
	spool_close(d.spool);
	if (d.output && d.output != stdout)
		fclose(d.output);
	config_free(d.cfg);
	return ret < 0 ? 1 : ret;
}
