/* SPDX-License-Identifier: MIT */
/*
 * iotsecd's own parts, private to forwarder/daemon/: the state the loop
 * (loop.c), the statistics (stats.c) and the reload (reload.c) share.
 */
#ifndef IOTSEC_DAEMON_H
#define IOTSEC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>		/* LOG_* for logmsg() */
#include "daemon/config.h"
#include "intake/nl.h"
#include "intake/replay.h"
#include "pipeline/enrich.h"
#include "pipeline/baseline.h"
#include "pipeline/queue.h"
#include "pipeline/rules.h"
#include "pipeline/serialize.h"
#include "sources/local.h"
#include "transport/mqtt.h"
#include "transport/spool.h"

struct daemon {
	const char *config_path;
	struct config cfg_store[2];
	struct config *cfg;
	struct ser ser;
	struct enrich enrich;
	struct queue queue;
	struct rules_engine rules;	/* detect.c */
	uint64_t rules_loads;		/* daemon_rules_load() calls */
	struct detect *detect;		/* detect.c: hashes, indicators */
	struct baseline baseline;	/* detect.c */
	struct iotsec_nl nl;
	bool nl_open;
	/*
	 * Its own pid, excluded in the kernel once SET_CONFIG is in force;
	 * its own events that came between SUBSCRIBE and that (a lookup
	 * thread's probe connects) are dropped here and counted.
	 */
	pid_t self_pid;
	uint64_t own_events;
	struct local *local;
	struct mqtt *mqtt;
	int mqtt_fd_reg;
	bool spool_sync_reg;	/* spool_sync_fd() is in the epoll set */
	uint32_t mqtt_events_reg;
	FILE *output;
	const char *stats_path;
	int epfd, tfd, sfd;
	bool foreground, stop, replay;
	struct replay_reader *reader;
	int replay_fd;			/* a recording on a pipe, read by the
					 * loop as it comes; -1: none or done */
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
	struct iotsec_kstats kstats;	/* for the reported properties */
	bool have_kstats;		/* asked once per subscription */
	/* the module twin (twin_run.c) */
	char *yaml;			/* the YAML file in force, its text */
	size_t yaml_len;
	struct json_object *twin_applied;	/* desired in force, or NULL */
	struct json_object *twin_refused;	/* the last one refused */
	int64_t twin_version, twin_refused_version;	/* -1: none */
	const char *twin_status;	/* none, applied, refused */
	char twin_error[256];		/* the last refusal, "" */
	char *twin_reported;		/* the last report sent */
	/* the heartbeat (heartbeat.c) */
	uint64_t start_ms;		/* monotonic, the loop's first tick */
	uint64_t heartbeat_ms;		/* the interval in force, 0: none */
	uint64_t next_heartbeat_ms, heartbeat_seq;
};

/* log.c: stderr in the foreground, syslog otherwise */
void logmsg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_init(bool to_stderr);
void log_set_level(int level);

/* loop.c */
int daemon_run(struct daemon *d, bool replay_mode);
int daemon_epoll_set(struct daemon *d, int fd, uint32_t ev, int op);
void daemon_on_message(void *ctx, enum prio prio, enum msg_kind kind,
		       const char *buf, size_t len, unsigned int n_events);
void daemon_on_event(void *ctx, struct iotsec_event *ev);
void daemon_kernel_open(struct daemon *d);
void daemon_kernel_config(struct daemon *d);
int daemon_mqtt_up(struct daemon *d);
struct mqtt *daemon_mqtt_new(struct daemon *d, const struct config *c,
			     char *err, size_t errlen);
void daemon_mqtt_replace(struct daemon *d, struct mqtt *m);
void daemon_local_config(const struct config *c, struct local_config *lc);
void daemon_local_watch(struct daemon *d, int op);
void daemon_replay_stream(struct daemon *d, int fd);

/* detect.c */
int daemon_rules_load(struct daemon *d, bool starting);
/* Login attempts of LC's watcher go to the rules (as login events). */
void daemon_rules_observe_logins(struct daemon *d, struct local_config *lc);
/* The rules configuration C (read from CONFIG_PATH) names; 0 or -errno. */
int daemon_rules_compile(const struct config *c, const char *config_path,
			 struct ruleset **rs, char *err, size_t errlen);
/*
 * Executable hashes and indicator lists: (re)load them as configured
 * (daemon_rules_load() does, first); every event after the rules
 * (queued now, or an exec once its hash came or its wait ended); the
 * hasher's fd; deadlines (ms to the next); at exit, the waiting execs.
 */
void daemon_detect_load(struct daemon *d);
/* the indicator lists (before the baseline): the number of hits */
unsigned int daemon_detect_check(struct daemon *d,
				 const struct iotsec_event *ev);
void daemon_detect_event(struct daemon *d, const struct iotsec_event *ev);
bool daemon_detect_handle(struct daemon *d, int fd);
uint64_t daemon_detect_tick(struct daemon *d, uint64_t now_ms);
void daemon_detect_flush(struct daemon *d);
void daemon_detect_fini(struct daemon *d);

/*
 * The learned baseline from d->cfg (start: BASELINE's init and its model
 * read); 0 or -ENOMEM.
 */
int daemon_baseline_config(struct daemon *d, bool starting);
/* After a new configuration (SIGHUP, the twin) replaced OLD. */
void daemon_detect_apply(struct daemon *d, const struct config *old);
/* iotsecctl baseline reset|relearn: SIGUSR1 with BASELINE_REQ_* */
void daemon_baseline_request(struct daemon *d, int what);

/* stats.c */
void stats_on_counters(void *ctx, const struct iotsec_counters *c);
void stats_send(struct daemon *d);
void stats_write_file(struct daemon *d);

/* heartbeat.c: what one heartbeat says (docs/events.md) */
struct heartbeat_info {
	uint64_t seq, now_boot_ns, uptime_s, agent_uptime_s;
	bool module_loaded, subscribed, have_config, have_stats;
	uint32_t event_mask, caps_missing, subscribers;
	struct iotsec_type_counters kernel;	/* the module's, all types */
	uint64_t events_received, last_cpu, last_seq, last_time_ns;
	uint64_t seq_gaps, batch_gaps, events_sent;
};
/* The Heartbeat event of H, stamped, as text; 0 or -ENOMEM. */
int heartbeat_text(struct ser *s, const struct heartbeat_info *h,
		   char **out, size_t *len);
/* Send the heartbeat when due; ms until the next one (UINT64_MAX: none). */
uint64_t heartbeat_tick(struct daemon *d, uint64_t now);

/* reload.c */
/* C from the YAML file PATH, its text in *TEXT (NULL: no file) */
int daemon_load_config(const char *path, struct config *c, bool must_exist,
		       char **text, size_t *len);
/* C from TEXT, as daemon_load_config() does (QUIET: no warning logged) */
int daemon_parse_config(const char *path, const char *text, size_t len,
			struct config *c, bool quiet);
/* The store a new configuration is built in (not the running one). */
struct config *daemon_spare_config(struct daemon *d);
/*
 * Put NEW in force the way SIGHUP does; the running one is freed. -EINVAL
 * (logged) when it cannot be (a transport that cannot be built): nothing
 * changed, NEW is the caller's.
 */
int daemon_apply_config(struct daemon *d, struct config *new);
void daemon_reload(struct daemon *d);

/* twin_run.c */
struct json_object;
/* the applied twin configuration from disk over the YAML's, at start */
void daemon_twin_boot(struct daemon *d);
/*
 * Over C (from the YAML TEXT), the twin configuration in force; when the
 * new file refuses it, the file alone (C parsed again). 0 or -errno.
 */
int daemon_twin_overlay(struct daemon *d, struct config *c, const char *text,
			size_t len);
/* mqtt_twin_fn: a desired document from the transport */
void daemon_twin_desired(void *ctx, bool full, const char *json, size_t len);
/* the reported properties, to the transport when they changed */
void daemon_twin_report(struct daemon *d);
/* {"enabled", "status", "desiredVersion", ...} for reports and iotsecctl */
struct json_object *daemon_twin_state(struct daemon *d);
void daemon_twin_fini(struct daemon *d);

#endif
