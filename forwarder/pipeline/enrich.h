/* SPDX-License-Identifier: MIT */
/*
 * Enrichment: user names from uids, the executable and command line of a
 * process and of its parent, the container a process runs in.
 *
 * A process table learns exe and argv from exec events (a forked child
 * inherits its parent's) and forgets a process after its exit event, so
 * exit and connect events name the executable even for short-lived
 * processes. Processes that started before iotsecd are looked up once in
 * /proc (not when replaying).
 *
 * The table is bounded (ENRICH_MAX_PROCS entries, ENRICH_MAX_PROC_BYTES
 * of exe and argv): a new process evicts the least recently used one. It
 * does not rely on exit events (they may be off or lost): an entry is
 * checked before it names an event, so a dead process never lends its
 * identity to a new one with the same pid (see enrich.c, and "Process
 * table" in docs/forwarder.md).
 */
#ifndef IOTSEC_ENRICH_H
#define IOTSEC_ENRICH_H

#include <stdbool.h>
#include <stdint.h>
#include "intake/event.h"

#define ENRICH_MAX_PROCS 8192
#define ENRICH_MAX_PROC_BYTES (4 << 20)
/* An entry confirmed this recently (event time) is not checked in /proc. */
#define ENRICH_RECHECK_NS 100000000ull
#define ENRICH_MAX_CGROUPS 1024
#define ENRICH_MAX_USERS 256

struct enrich_proc;
struct enrich_cg;
struct enrich_user;

struct enrich {
	bool users, parent, container;
	bool use_proc;		/* look in /proc for what the table misses */
	const char *proc_root;	/* "/proc" */
	struct enrich_proc **procs;
	size_t n_procs, proc_bytes;
	struct enrich_proc *lru_old, *lru_new;	/* least, most recently used */
	uint64_t tick_ns;	/* of /proc/PID/stat's start time */
	struct enrich_cg *cgroups;
	size_t n_cgroups;
	struct enrich_user *users_tab;
	size_t n_users;
	uint64_t lookups, proc_reads;
	uint64_t evicted;	/* made room for another */
	uint64_t stale;		/* found to be another process's (pid reuse) */
};

int enrich_init(struct enrich *e, bool users, bool parent, bool container,
		bool use_proc);
void enrich_fini(struct enrich *e);
/* Fill EV's enrichment fields (pointers stay valid until the next call). */
void enrich_event(struct enrich *e, struct iotsec_event *ev);
/* After the pipeline took EV: forget an exited process. */
void enrich_done(struct enrich *e, const struct iotsec_event *ev);
/* The container id in a /proc/PID/cgroup text, or NULL. */
const char *enrich_container_id(const char *cgroup_text, char out[65]);

#endif /* IOTSEC_ENRICH_H */
