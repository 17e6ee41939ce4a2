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
	/* the engine's: hits held since the last alert */
	uint64_t window_end_ms;	/* 0: no alert in the last interval */
	uint64_t pending, first_ns, last_ns;
	struct record *held;
};

struct ruleset {
	struct rule *rules;
	size_t n_rules;
	struct rule **by_type[IOTSEC_EVENT_MAX + 1];
	size_t n_by_type[IOTSEC_EVENT_MAX + 1];
};

#endif /* IOTSEC_RULES_PRIV_H */
