/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * iotsec: the generic netlink contract between the kernel collector
 * (kmod/) and its consumers (forwarder/).
 *
 * Family "iotsec", version IOTSEC_GENL_VERSION. Every command needs
 * CAP_NET_ADMIN in the initial user namespace (GENL_ADMIN_PERM). Events are
 * never multicast: the kernel unicasts IOTSEC_CMD_EVENTS batches to each
 * consumer that sent IOTSEC_CMD_SUBSCRIBE, and forgets a consumer whose
 * socket closes.
 *
 * Integers are in host byte order, ports included. Addresses are raw
 * network-order bytes: 4 for AF_INET, 16 for AF_INET6. Strings are
 * NUL-terminated. Unknown attributes are rejected by the kernel (strict
 * validation) and must be skipped by consumers, so that newer kernels can
 * add fields.
 *
 * Commands and their attributes:
 *
 * IOTSEC_CMD_SUBSCRIBE          consumer -> kernel, no attributes
 * IOTSEC_CMD_UNSUBSCRIBE        consumer -> kernel, no attributes
 *
 * IOTSEC_CMD_GET_STATS          request: no attributes; reply:
 *    IOTSEC_A_CAPS: u32, mask of event types whose hooks are all in place
 *    IOTSEC_A_CAPS_MISSING: u32, mask of event types with a hook that
 *                           could not be placed on the running kernel
 *    IOTSEC_A_SUBSCRIBERS: u32
 *    IOTSEC_A_BUFFER_EVENTS: u32, the module parameter buffer_events
 *                            in effect (the module's own sizing unit;
 *                            records are variable-sized: read
 *                            BUFFER_BYTES for the capacity)
 *    IOTSEC_A_BUFFER_BYTES: u32, per-CPU buffer capacity in bytes
 *    IOTSEC_A_MEMORY: u64, bytes of kernel memory the module holds
 *    IOTSEC_A_COUNTERS: NLA_NESTED, as in a batch (global figures:
 *                       DELIVERED and LOST summed over all consumers; no
 *                       BEFORE)
 *    IOTSEC_A_HOOKS: NLA_NESTED, one nest (type = index from 1) per hook:
 *       IOTSEC_HA_NAME: string, the tracepoint or probed function
 *       IOTSEC_HA_TYPE: u32, the event type it reports
 *       IOTSEC_HA_CALLS: u64, times its handler ran while timing was on
 *       IOTSEC_HA_NS: u64, nanoseconds (local_clock) spent in its
 *                     handlers (a kretprobe: entry and return) over
 *                     those calls; both stay 0 unless the module was
 *                     loaded with timing=1
 *
 * IOTSEC_CMD_SET_CONFIG         consumer -> kernel; each attribute present
 *                               replaces that part of the config, absent
 *                               ones leave it as it is:
 *    IOTSEC_A_EVENT_MASK: u32, bits (1 << enum iotsec_event_type); bits
 *                         of types the module does not know (bit 0, or
 *                         types of a newer header) are ignored, not
 *                         refused, so IOTSEC_EVENT_MASK_ALL of any version
 *                         means "every type the module has"; GET_CONFIG
 *                         returns the mask in effect
 *    IOTSEC_A_EXCLUDE: NLA_NESTED, the whole list of excluded processes
 *                      (an empty nest clears it; libnl's nla_nest_end()
 *                      drops empty nests: send nla_put(msg, attr |
 *                      NLA_F_NESTED, 0, NULL) instead)
 *       IOTSEC_LA_TGID: u32, repeated, at most IOTSEC_EXCLUDE_MAX; a
 *                       process as numbered in the sender's pid
 *                       namespace, held by the kernel until it ends (a
 *                       reused number is not excluded); the list is
 *                       dropped when the last consumer leaves
 *    IOTSEC_A_WATCH: NLA_NESTED, the whole list of watched paths, each
 *                    resolved by the kernel when set (ENOENT if missing;
 *                    empty nest: none). A file matches by inode, that
 *                    very inode, not its number (a file replaced by
 *                    rename is no longer the one watched); a directory
 *                    covers the entries directly in it.
 *       IOTSEC_LA_PATH: string, an absolute path (EINVAL otherwise),
 *                       repeated, at most IOTSEC_WATCH_MAX
 *    IOTSEC_A_ARGV_MAX: u32, bytes of argv kept per exec event,
 *                       IOTSEC_ARGV_MAX_MIN .. IOTSEC_ARGV_MAX_MAX
 *
 * IOTSEC_CMD_GET_CONFIG         request: no attributes; reply: the four
 *                               attributes of SET_CONFIG
 *
 * IOTSEC_CMD_EVENTS             kernel -> consumer, one batch of at most
 *                               IOTSEC_BATCH_MAX_BYTES (netlink header
 *                               included: receive with a buffer at least
 *                               that big); batches without events carry
 *                               counters that changed (all dropped):
 *    IOTSEC_A_BATCH_SEQ: u64, per-consumer batch number from 1; a gap
 *                        means batches were lost (also counted in LOST)
 *    IOTSEC_A_COUNTERS: NLA_NESTED
 *       [enum iotsec_event_type]: NLA_NESTED, one per event type
 *          IOTSEC_CA_GENERATED: u64, events the hooks produced
 *          IOTSEC_CA_DROPPED: u64, events dropped because a per-CPU
 *                             buffer was full
 *          IOTSEC_CA_DELIVERED: u64, events sent to this consumer,
 *                               those of this batch included
 *          IOTSEC_CA_LOST: u64, events of batches that could not be
 *                          queued to this consumer's socket
 *          IOTSEC_CA_BEFORE: u64, events that went into batches before
 *                            this consumer subscribed (never its own)
 *    IOTSEC_A_EVENTS: NLA_NESTED
 *       [enum iotsec_event_type]: NLA_NESTED, one per event, in order
 *          IOTSEC_EA_*: the fields of the event
 *
 * Accounting: counters start at zero when the module loads. With the
 * module parameter early=1 (the default) the hooks record from load and
 * while nobody is subscribed, into the buffers up to their size (the rest
 * is DROPPED), and the next consumer gets those events, oldest first;
 * with early=0 they record nothing while nobody is subscribed. Once all
 * buffered events are flushed, GENERATED = DROPPED + BEFORE + DELIVERED
 * + LOST for every type and every consumer, exactly (BEFORE is 0 for the
 * first consumer; a later one counts from its subscription, and
 * events still buffered then are its own). A consumer that lost a batch
 * gets a batch with its counters at the next flush, also when no event
 * happens any more, so the sum closes without further events (it has to
 * read its socket to make room for it).
 *
 * Fields of an event (IOTSEC_EA_*), common to all types:
 *    CPU u32, SEQ u64 (per-CPU, from 1, a gap is a drop on that CPU),
 *    TIME_NS u64 (CLOCK_BOOTTIME), TGID u32, TID u32, PTGID u32 (parent),
 *    UID, GID, EUID, EGID, LOGINUID, SESSIONID u32, COMM string,
 *    CGROUP_ID u64
 * and by type:
 *    EXEC:    EXE string, ARGV binary (arguments each NUL-terminated,
 *             back to back), ARGV_TRUNCATED flag, CWD string,
 *             SECURE_EXEC flag (setuid/setgid/file-caps exec)
 *    EXIT:    EXIT_CODE u32 (0..255), EXIT_SIGNAL u32 (0 when none)
 *    FORK:    CHILD_TGID u32
 *    CONNECT: FAMILY u16, PROTOCOL u8, LADDR, LPORT u16, RADDR,
 *             RPORT u16, RESULT s32 (0 or -errno)
 *    ACCEPT:  FAMILY, PROTOCOL, LADDR, LPORT, RADDR, RPORT
 *    LISTEN:  FAMILY, PROTOCOL, LADDR, LPORT
 *    CRED:    OLD_UID, OLD_EUID, OLD_GID, OLD_EGID, NEW_UID, NEW_EUID,
 *             NEW_GID, NEW_EGID u32, CAPS_GAINED u64 (effective
 *             capability bits newly set), FROM_EXEC flag, with it EXE
 *             string (the program the exec runs)
 *    MODULE:  MODULE_NAME string (from the module, or for a load refused
 *             before the kernel parsed it, the file name up to its first
 *             dot; "" when unknown), RESULT s32 (0 or -errno)
 *    PTRACE:  TARGET_TGID u32, PTRACE_MODE u32 (enum iotsec_ptrace_mode),
 *             RESULT s32 (0 or -errno; for TRACEME the target is the
 *             parent that will trace, the result the security check's)
 *    FILE:    PATH string, FILE_OP u32 (enum iotsec_file_op),
 *             NEW_PATH string (rename only)
 *
 * When events are taken: EXEC after a successful execve, with the ids the
 * program runs with; EXIT when the last thread of a process ends; CONNECT
 * for TCP when the call that sent the SYN returns (connect(2),
 * sendto(MSG_FASTOPEN), the first write after TCP_FASTOPEN_CONNECT), RESULT
 * its return value (0: connected, or a Fast Open send's data went;
 * -EINPROGRESS for a non-blocking socket, -EINTR when interrupted), or when
 * the SYN leaves with RESULT -EINPROGRESS where it cannot wait (kernel
 * threads, io_uring, 4096 waiting); for UDP when the connect returns, with
 * its result (FAMILY
 * is the destination's, so an IPv4 destination on a dual-stack socket has
 * 4-byte addresses); ACCEPT when the accepted connection is handed to the
 * accepting task; LISTEN when listen(2) succeeds; CRED when a task installs
 * credentials whose ids differ or that gain effective capabilities; MODULE
 * when init_module(2)/finit_module(2) returns, RESULT its return value;
 * PTRACE when ptrace(2) returns (attach, seize), RESULT its return value;
 * FILE when the operation is attempted (before the kernel decides).
 * Events of one batch are in timestamp order; paths of IOTSEC_PATH_MAX
 * bytes or more (NUL included) are sent as "".
 */
#ifndef _UAPI_IOTSEC_H
#define _UAPI_IOTSEC_H

#include <linux/types.h>

#define IOTSEC_GENL_NAME "iotsec"
#define IOTSEC_GENL_VERSION 1

enum iotsec_cmd {
	IOTSEC_CMD_UNSPEC,
	IOTSEC_CMD_SUBSCRIBE,
	IOTSEC_CMD_UNSUBSCRIBE,
	IOTSEC_CMD_GET_STATS,
	IOTSEC_CMD_SET_CONFIG,
	IOTSEC_CMD_GET_CONFIG,
	IOTSEC_CMD_EVENTS,
	__IOTSEC_CMD_MAX
};

#define IOTSEC_CMD_MAX (__IOTSEC_CMD_MAX - 1)

enum iotsec_event_type {
	IOTSEC_EVENT_UNSPEC,
	IOTSEC_EVENT_EXEC,
	IOTSEC_EVENT_EXIT,
	IOTSEC_EVENT_FORK,
	IOTSEC_EVENT_CONNECT,
	IOTSEC_EVENT_ACCEPT,
	IOTSEC_EVENT_LISTEN,
	IOTSEC_EVENT_CRED,
	IOTSEC_EVENT_MODULE,
	IOTSEC_EVENT_PTRACE,
	IOTSEC_EVENT_FILE,
	IOTSEC_EVENT_TAMPER,
	__IOTSEC_EVENT_MAX
};

#define IOTSEC_EVENT_MAX (__IOTSEC_EVENT_MAX - 1)
#define IOTSEC_EVENT_BIT(t) (1U << (t))
#define IOTSEC_EVENT_MASK_ALL \
	(((1U << __IOTSEC_EVENT_MAX) - 1) & ~IOTSEC_EVENT_BIT(IOTSEC_EVENT_UNSPEC))
/* Fork is off by default: exec and exit tell the story at a fraction. */
#define IOTSEC_EVENT_MASK_DEFAULT \
	(IOTSEC_EVENT_MASK_ALL & ~IOTSEC_EVENT_BIT(IOTSEC_EVENT_FORK))

enum iotsec_attr {
	IOTSEC_A_UNSPEC,
	IOTSEC_A_CAPS,
	IOTSEC_A_CAPS_MISSING,
	IOTSEC_A_SUBSCRIBERS,
	IOTSEC_A_BUFFER_EVENTS,
	IOTSEC_A_MEMORY,
	IOTSEC_A_COUNTERS,
	IOTSEC_A_EVENT_MASK,
	IOTSEC_A_EXCLUDE,
	IOTSEC_A_WATCH,
	IOTSEC_A_ARGV_MAX,
	IOTSEC_A_BATCH_SEQ,
	IOTSEC_A_EVENTS,
	IOTSEC_A_PAD,
	IOTSEC_A_BUFFER_BYTES,
	IOTSEC_A_HOOKS,
	IOTSEC_A_TOKEN,
	IOTSEC_A_UNLOCK,
	__IOTSEC_A_MAX
};

#define IOTSEC_A_MAX (__IOTSEC_A_MAX - 1)

/* Items of the IOTSEC_A_EXCLUDE and IOTSEC_A_WATCH lists. */
enum iotsec_list_attr {
	IOTSEC_LA_UNSPEC,
	IOTSEC_LA_TGID,
	IOTSEC_LA_PATH,
	__IOTSEC_LA_MAX
};

#define IOTSEC_LA_MAX (__IOTSEC_LA_MAX - 1)

enum iotsec_counter_attr {
	IOTSEC_CA_UNSPEC,
	IOTSEC_CA_GENERATED,
	IOTSEC_CA_DROPPED,
	IOTSEC_CA_DELIVERED,
	IOTSEC_CA_LOST,
	IOTSEC_CA_PAD,
	IOTSEC_CA_BEFORE,
	__IOTSEC_CA_MAX
};

#define IOTSEC_CA_MAX (__IOTSEC_CA_MAX - 1)

/* Items of IOTSEC_A_HOOKS: the time the module's handlers take. */
enum iotsec_hook_attr {
	IOTSEC_HA_UNSPEC,
	IOTSEC_HA_NAME,
	IOTSEC_HA_TYPE,
	IOTSEC_HA_CALLS,
	IOTSEC_HA_NS,
	IOTSEC_HA_PAD,
	__IOTSEC_HA_MAX
};

#define IOTSEC_HA_MAX (__IOTSEC_HA_MAX - 1)

enum iotsec_event_attr {
	IOTSEC_EA_UNSPEC,
	IOTSEC_EA_CPU,
	IOTSEC_EA_SEQ,
	IOTSEC_EA_TIME_NS,
	IOTSEC_EA_TGID,
	IOTSEC_EA_TID,
	IOTSEC_EA_PTGID,
	IOTSEC_EA_UID,
	IOTSEC_EA_GID,
	IOTSEC_EA_EUID,
	IOTSEC_EA_EGID,
	IOTSEC_EA_LOGINUID,
	IOTSEC_EA_SESSIONID,
	IOTSEC_EA_COMM,
	IOTSEC_EA_CGROUP_ID,
	IOTSEC_EA_EXE,
	IOTSEC_EA_ARGV,
	IOTSEC_EA_ARGV_TRUNCATED,
	IOTSEC_EA_CWD,
	IOTSEC_EA_SECURE_EXEC,
	IOTSEC_EA_EXIT_CODE,
	IOTSEC_EA_EXIT_SIGNAL,
	IOTSEC_EA_CHILD_TGID,
	IOTSEC_EA_FAMILY,
	IOTSEC_EA_PROTOCOL,
	IOTSEC_EA_LADDR,
	IOTSEC_EA_LPORT,
	IOTSEC_EA_RADDR,
	IOTSEC_EA_RPORT,
	IOTSEC_EA_RESULT,
	IOTSEC_EA_OLD_UID,
	IOTSEC_EA_OLD_EUID,
	IOTSEC_EA_OLD_GID,
	IOTSEC_EA_OLD_EGID,
	IOTSEC_EA_NEW_UID,
	IOTSEC_EA_NEW_EUID,
	IOTSEC_EA_NEW_GID,
	IOTSEC_EA_NEW_EGID,
	IOTSEC_EA_CAPS_GAINED,
	IOTSEC_EA_FROM_EXEC,
	IOTSEC_EA_MODULE_NAME,
	IOTSEC_EA_TARGET_TGID,
	IOTSEC_EA_PTRACE_MODE,
	IOTSEC_EA_PATH,
	IOTSEC_EA_FILE_OP,
	IOTSEC_EA_NEW_PATH,
	IOTSEC_EA_PAD,
	IOTSEC_EA_TAMPER_KIND,
	IOTSEC_EA_SIGNAL,
	IOTSEC_EA_OLD_MASK,
	IOTSEC_EA_NEW_MASK,
	IOTSEC_EA_UNWATCHED,
	IOTSEC_EA_EXCLUDED,
	/*
	 * exec: the identity of the file executed (bprm->file's inode), to
	 * check that a file opened later is that one: the device as
	 * new_encode_dev() (u32: major()/minor() of it equal those of
	 * st_dev), the inode number (u64) and its ctime at exec (s64
	 * seconds, u32 nanoseconds).
	 */
	IOTSEC_EA_EXE_DEV,
	IOTSEC_EA_EXE_INO,
	IOTSEC_EA_EXE_CTIME_SEC,
	IOTSEC_EA_EXE_CTIME_NSEC,
	__IOTSEC_EA_MAX
};

#define IOTSEC_EA_MAX (__IOTSEC_EA_MAX - 1)

enum iotsec_ptrace_mode {
	IOTSEC_PTRACE_ATTACH = 1,
	IOTSEC_PTRACE_SEIZE,
	IOTSEC_PTRACE_TRACEME,
	/*
	 * Another process's memory opened for access: process_vm_readv(2),
	 * process_vm_writev(2) or an open of /proc/PID/mem (mm_access() with
	 * PTRACE_MODE_ATTACH). RESULT: 0 when the call succeeded.
	 */
	IOTSEC_PTRACE_MEMORY,
};

enum iotsec_file_op {
	IOTSEC_FILE_WRITE = 1,	/* opened for writing */
	IOTSEC_FILE_TRUNCATE,
	IOTSEC_FILE_UNLINK,
	IOTSEC_FILE_RENAME,
};

/*
 * Tamper evidence (IOTSEC_EVENT_TAMPER), IOTSEC_EA_TAMPER_KIND. The common
 * fields are the acting task's (the sender of a signal, the tracer, the
 * caller of delete_module(2) or SET_CONFIG); TARGET_TGID is the consumer
 * acted on (SIGNAL, PTRACE, GONE). Fields by kind:
 *    UNLOAD:  MODULE_NAME string: delete_module(2) names this module,
 *             taken at the call's entry, whatever it returns
 *    SIGNAL:  TARGET_TGID, SIGNAL u32: another process sent a consumer a
 *             signal that ends or stops it (SIGKILL, SIGSTOP, SIGTERM,
 *             SIGINT, SIGQUIT; any other whose handler is the default
 *             and whose default is to end or stop)
 *    PTRACE:  TARGET_TGID, PTRACE_MODE u32: another process attaches to
 *             a consumer (at the attach's entry)
 *    CONFIG:  OLD_MASK u32, NEW_MASK u32 (event types turned off:
 *             OLD_MASK & ~NEW_MASK), UNWATCHED u32 (watched paths the new
 *             list drops), EXCLUDED u32 (processes other than the
 *             sender's own excluded), RESULT s32 (0, or -EPERM: refused
 *             by the locked mode): a SET_CONFIG that reduces coverage,
 *             taken before it is applied
 *    GONE:    TARGET_TGID: a consumer's socket closed while it was still
 *             subscribed (no IOTSEC_CMD_UNSUBSCRIBE first)
 *    UNLOCK:  RESULT s32: SET_CONFIG with IOTSEC_A_UNLOCK, 0 when the
 *             token matched and the module is unlocked, else -EPERM
 *
 * Locked mode (module parameter lock_token): the module holds a reference
 * to itself, so delete_module(2) fails (EWOULDBLOCK or EBUSY), and a
 * SET_CONFIG that reduces coverage (as CONFIG above) needs
 *    IOTSEC_A_TOKEN: string, the token given at load (at most
 *                    IOTSEC_TOKEN_MAX bytes, NUL included), else EPERM;
 * with the token and
 *    IOTSEC_A_UNLOCK: flag
 * it drops the reference and the lock: the module can be unloaded.
 */
enum iotsec_tamper_kind {
	IOTSEC_TAMPER_UNLOAD = 1,
	IOTSEC_TAMPER_SIGNAL,
	IOTSEC_TAMPER_PTRACE,
	IOTSEC_TAMPER_CONFIG,
	IOTSEC_TAMPER_GONE,
	IOTSEC_TAMPER_UNLOCK,
};

#define IOTSEC_TOKEN_MAX 64

/* Limits the kernel enforces on configuration. */
#define IOTSEC_EXCLUDE_MAX 64
#define IOTSEC_WATCH_MAX 1024
#define IOTSEC_ARGV_MAX_MIN 64
#define IOTSEC_ARGV_MAX_MAX 4096
#define IOTSEC_ARGV_MAX_DEFAULT 1024
/*
 * Longest path, NUL included, both ways: a watch path must be shorter, and
 * an event's path that would be longer is sent as "".
 */
#define IOTSEC_PATH_MAX 1024
#define IOTSEC_COMM_LEN 16

/* The size a consumer needs to know: its receive buffer. */
#define IOTSEC_BATCH_MAX_BYTES 16384

#endif /* _UAPI_IOTSEC_H */
