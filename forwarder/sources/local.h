/* SPDX-License-Identifier: MIT */
/*
 * Local sources: everything iotsecd collects other than the kernel's
 * stream, behind one small interface for the daemon's loop:
 *
 *   SDK socket (sdk_server.h)   -> accepted events, at once
 *   wtmp/btmp (login.h)         -> Login events, at once
 *   snapshot timer (snapshot.h) -> ListeningPorts, LocalUsers,
 *                                  SystemInformation, OSBaseline
 *                                  (ListeningPorts' /proc walk in a
 *                                  thread; its end is one of local_fds())
 *
 * Each event gets its Id and timestamps here; events are batched (at most
 * half a second, 64 events) and packed by the queue
 * (queue_send_local_texts, so that the spool keeps them within the local
 * share): Azure kinds in the security message, SDK custom events in the
 * extended message.
 *
 * Budget. SDK and login events together pass one token bucket (rate,
 * burst): beyond it an SDK event gets -ENOBUFS and a login event is
 * refused, both counted. Failed logins are aggregated by (user, remote
 * address) first (login.h), so a brute force costs a few events. The
 * snapshots, a handful an hour set by the configuration, are not charged.
 *
 *   local_open(&l, &cfg, &ser, &queue, log);
 *   for each of local_fds(): epoll_ctl(ADD, fd, EPOLLIN)
 *   on EPOLLIN: local_handle(l, fd)       (false: not ours)
 *   periodic:   next = min(next, local_tick(l, now_ms))
 *   stopping:   local_flush(l) before the queues' last flush
 *   local_close(l);
 */
#ifndef IOTSEC_LOCAL_H
#define IOTSEC_LOCAL_H

#include <stdbool.h>
#include <stdint.h>
#include "sources/login.h"
#include "sources/sdk_server.h"
#include "sources/snapshot.h"

struct ser;
struct queue;
struct local;

struct local_config {
	bool sdk;			/* serve the SDK socket */
	struct sdk_server_config sdk_cfg;
	bool logins;			/* watch wtmp/btmp */
	struct login_config login_cfg;
	unsigned int rate, burst;	/* SDK + logins: events/s, bucket */
	uint64_t snapshot_ms;		/* 0: no snapshots */
	uint64_t first_snapshot_ms;	/* after start */
	/* which snapshots */
	bool listening_ports, local_users, system_information, os_baseline;
	bool packages;			/* PackageInventory, and on a change */
	struct snapshot_config snap_cfg;
};

struct local_stats {
	struct sdk_server_stats sdk;
	uint64_t logins;		/* Login events */
	uint64_t logins_refused;	/* over the budget */
	uint64_t logins_aggregated;	/* failed logins counted in others */
	uint64_t snapshots;		/* snapshot events */
	uint64_t failed;		/* events that could not be serialized */
};

/*
 * Defaults: all on, SDK socket /run/iotsec/sdk.sock, system wtmp/btmp with
 * offsets in /run/iotsec/login.state, failed logins aggregated for 60 s,
 * a budget of 100 events/s (burst 500), snapshots hourly, the first one
 * 10 s after start. iotsecd fills the rest in from its configuration
 * (config.h: sdk, logins, snapshots). Strings are the caller's; local_open
 * and local_reconfigure copy what they keep.
 */
void local_config_defaults(struct local_config *c);

/* A source that cannot start is logged through LOG and left off. */
int local_open(struct local **l, const struct local_config *c,
	       struct ser *ser, struct queue *q,
	       void (*log)(int level, const char *fmt, ...));
/*
 * Apply a new configuration (SIGHUP). Snapshot settings and the SDK
 * socket's mode, group and limits apply live; a new SDK socket path opens
 * the new socket (the old one and its clients are closed once it works,
 * else the old one stays); changed login files restart the watcher. The
 * fds may change: take them out of the loop before, put them back after.
 */
void local_reconfigure(struct local *l, const struct local_config *c);
/* The fds to watch for EPOLLIN; returns how many (at most MAX). */
int local_fds(const struct local *l, int *fds, int max);
bool local_handle(struct local *l, int fd);
/*
 * Run what is due (snapshots, batches to hand to the queue); ms until the
 * next thing is due. NOW_MS is CLOCK_MONOTONIC in ms, like the daemon's.
 */
uint64_t local_tick(struct local *l, uint64_t now_ms);
/* Hand every waiting event to the queue now. */
void local_flush(struct local *l);
void local_get_stats(const struct local *l, struct local_stats *st);
void local_close(struct local *l);

#endif /* IOTSEC_LOCAL_H */
