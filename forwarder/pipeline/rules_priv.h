/* SPDX-License-Identifier: MIT */
/* The compiled rules, shared by rules.c (matching) and rules_compile.c. */
#ifndef IOTSEC_RULES_PRIV_H
#define IOTSEC_RULES_PRIV_H

#include "pipeline/rules.h"

struct record;

/* where target_other_user reads /proc/PID/status (tests move it) */
extern const char *rules_proc;

enum cond_kind {
	/* globs */
	C_EXE, C_ARGV, C_PARENT, C_COMM, C_PATH, C_MODULE, C_USER,
	/* ranges */
	C_UID, C_EUID, C_GID, C_LOGINUID, C_OLD_EUID, C_NEW_EUID, C_NEW_UID,
	C_LPORT, C_RPORT, C_PROTOCOL, C_DIRECTION, C_FILE_OP, C_PTRACE_MODE,
	/* CIDRs */
	C_RADDR, C_LADDR,
	/* flags */
	C_CONTAINER, C_EXE_DELETED, C_SECURE_EXEC, C_FROM_EXEC, C_SUCCESS,
	C_TARGET_OTHER_USER,
	/* a duration */
	C_AFTER_BOOT,
};

enum { DIR_IN = 1, DIR_OUT, DIR_LISTEN };
enum severity { SEV_LOW, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL };

struct glob {
	char *pat;
	size_t prefix_len;	/* bytes before the first * ? or \ */
	size_t suffix_len;	/* literal bytes after the last *, when the
				 * pattern ends so (no ? or \ there) */
	bool literal;		/* none of them */
	bool one_star;		/* prefix * suffix, nothing else */
};

struct range {
	uint64_t lo, hi;
};

struct cidr {
	uint16_t family;
	uint8_t prefix;
	uint8_t addr[16];
};

struct cond {
	enum cond_kind kind;
	size_t n;
	union {
		struct glob *globs;
		struct range *ranges;
		struct cidr *cidrs;
		bool flag;
		uint64_t after_ns;
	} v;
};

/*
 * A threshold rule counts its matches per key (the values of its `by`
 * fields) and fires when THRESHOLD of them fell within WITHIN_NS: each key
 * keeps the times of its last THRESHOLD matches (a ring), cleared when it
 * fires. At most THRESH_KEYS keys per rule; a new key beyond them takes
 * the place of the one seen least recently if that one is dead (its last
 * match older than WITHIN_NS), else it counts in the rule's overflow key
 * (keys[THRESH_KEYS]), shared by every key that found no room.
 */
#define THRESH_MAX 100
#define THRESH_KEYS 256
#define THRESH_KEY_LEN 128
#define THRESH_BY_MAX 4

enum by_field {
	BY_EXE, BY_PARENT, BY_COMM, BY_USER, BY_PATH, BY_MODULE, BY_UID,
	BY_EUID, BY_PID, BY_RADDR, BY_LADDR, BY_RPORT, BY_LPORT,
};

struct thresh_key {
	uint64_t hash;
	uint64_t seen_ns;	/* the last match: for the LRU */
	uint32_t len, n, head;	/* n times in the ring, head: the oldest */
	uint8_t key[THRESH_KEY_LEN];
};

struct thresh {
	uint32_t count;		/* 0: not a threshold rule */
	uint64_t within_ns;
	enum by_field by[THRESH_BY_MAX];
	size_t n_by;
	struct thresh_key *keys;	/* allocated at the first match;
					 * THRESH_KEYS + 1: the overflow key */
	uint64_t *times;		/* (THRESH_KEYS + 1) * count */
	size_t n_keys;
	uint64_t evicted;		/* dead keys that made room */
	uint64_t overflowed;		/* matches counted in the overflow */
};

struct except {
	struct cond *conds;
	size_t n;
};

struct rule {
	char *name, *desc;
	enum severity severity;
	bool enabled;
	uint32_t types;		/* IOTSEC_EVENT_BIT()s */
	struct cond *conds;
	size_t n_conds;
	struct except *except;
	size_t n_except;
	struct thresh thresh;
	/* the engine's: hits held since the last alert */
	uint64_t window_end_ms;	/* 0: no alert in the last interval */
	uint64_t pending, first_ns, last_ns;
	struct record *held;
	bool held_overflow;	/* a held hit of the threshold's overflow */
};

struct ruleset {
	struct rule *rules;
	size_t n_rules;
	struct rule **by_type[RULES_EVENT_MAX + 1];
	size_t n_by_type[RULES_EVENT_MAX + 1];
};

#endif /* IOTSEC_RULES_PRIV_H */
