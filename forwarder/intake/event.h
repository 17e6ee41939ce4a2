/* SPDX-License-Identifier: MIT */
/*
 * The plain event model: what the kernel's netlink batches (or a replay
 * file) decode into. Nothing past the decoder ever sees a netlink
 * attribute.
 *
 * Strings are pointer + length and do not own their memory: they point
 * into the buffer that was decoded (a netlink message, a replay record) or
 * into an enrichment cache, and stay valid only during the callback that
 * receives the event. A stage that keeps an event copies what it needs.
 */
#ifndef IOTSEC_EVENT_H
#define IOTSEC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uapi/iotsec.h>

struct ev_str {
	const char *s;		/* NULL when absent; not NUL-terminated */
	size_t len;
};

struct iotsec_event {
	uint32_t type;		/* enum iotsec_event_type */
	uint32_t cpu;
	uint64_t seq;
	uint64_t time_ns;	/* CLOCK_BOOTTIME */
	uint32_t tgid, tid, ptgid;
	uint32_t uid, gid, euid, egid;
	uint32_t loginuid, sessionid;
	uint64_t cgroup_id;
	struct ev_str comm;
	/*
	 * Recorded before this consumer subscribed: buffered by the kernel
	 * while nobody was (boot, an iotsecd restart). Set by the decoder
	 * from its time of subscription, not sent by the kernel.
	 */
	bool before_start;

	/* exec */
	struct ev_str exe, argv, cwd;	/* argv: NUL-separated */
	bool argv_truncated, secure_exec;
	/*
	 * The identity of the file executed (the kernel's, at exec; absent
	 * from modules before it and from SDK events): its device as
	 * new_encode_dev() (compare with major()/minor()), inode, ctime.
	 */
	bool exe_id;
	uint32_t exe_dev;
	uint64_t exe_ino;
	int64_t exe_ctime_sec;
	uint32_t exe_ctime_nsec;
	/* exit */
	uint32_t exit_code, exit_signal;
	/* fork */
	uint32_t child_tgid;
	/* connect, accept, listen */
	uint16_t family;
	uint8_t protocol;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	/* connect, module */
	int32_t result;
	/* cred */
	uint32_t old_uid, old_euid, old_gid, old_egid;
	uint32_t new_uid, new_euid, new_gid, new_egid;
	uint64_t caps_gained;
	bool from_exec;
	/* module */
	struct ev_str module_name;
	/* ptrace */
	uint32_t target_tgid, ptrace_mode;
	/* file */
	struct ev_str path, new_path;
	uint32_t file_op;
	/* tamper (and module_name, target_tgid, ptrace_mode, result) */
	uint32_t tamper_kind;		/* enum iotsec_tamper_kind */
	uint32_t signal;
	uint32_t old_mask, new_mask;
	uint32_t unwatched, excluded;

	/* Filled by enrichment (enrich.c), may stay empty. */
	struct ev_str user;		/* name of uid */
	struct ev_str parent_exe;
	struct ev_str container;	/* container id from the cgroup */
	struct ev_str proc_exe;		/* exe of tgid (exit, connect, ...) */
	struct ev_str proc_cmdline;	/* argv of tgid's last exec */
	/* Filled by the hash stage (pipeline/hash.h), exec only. */
	struct ev_str sha256;		/* 64 hex digits */
	struct ev_str sha256_status;	/* why there is none */
};

/*
 * Counters of one event type, as the kernel reports them to its consumer
 * (include/uapi/iotsec.h): once the kernel has flushed what it buffered,
 * GENERATED = DROPPED + BEFORE + DELIVERED + LOST exactly. BEFORE: events
 * batched before this consumer subscribed (0 in GET_STATS, which is not
 * one consumer's).
 */
struct iotsec_type_counters {
	uint64_t generated, dropped, before, delivered, lost;
};

struct iotsec_counters {
	struct iotsec_type_counters t[IOTSEC_EVENT_MAX + 1];
};

/*
 * Events generated but not in any of the other counters: still in the
 * kernel's buffers (or in a batch on its way). 0 once everything is
 * flushed; negative only if the counters break the identity above.
 */
int64_t iotsec_counters_in_flight(const struct iotsec_type_counters *c);
/* The sum of every type's counters into SUM. */
void iotsec_counters_total(const struct iotsec_counters *c,
			   struct iotsec_type_counters *sum);

const char *iotsec_event_name(uint32_t type);
/* "exec" -> IOTSEC_EVENT_EXEC, or 0 */
uint32_t iotsec_event_type_from_name(const char *name);

#endif /* IOTSEC_EVENT_H */
