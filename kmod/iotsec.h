/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iotsec internals shared by the files of the module.
 *
 * Hooks fill fixed-layout records in a per-CPU ring (buffer.c); the flush
 * worker turns them into netlink batches (netlink.c). A record is a header
 * with every scalar field followed by up to three variable-length blobs
 * (strings or argv), so a record costs what it carries, not its maximum.
 */
#ifndef _IOTSEC_H
#define _IOTSEC_H

#include <linux/jump_label.h>
#include <linux/kprobes.h>
#include <linux/sched/clock.h>
#include <linux/tracepoint.h>
#include <linux/types.h>
#include <uapi/iotsec.h>

#define IOTSEC_NR_TYPES __IOTSEC_EVENT_MAX

/* Longest path a record keeps (exe, cwd, file paths); longer ones are cut. */
#define IOTSEC_REC_PATH_MAX IOTSEC_PATH_MAX
#define IOTSEC_REC_NAME_MAX 64
/* Bytes of ring one "event" of the buffer_events parameter stands for. */
#define IOTSEC_REC_NOMINAL 512

/* The blobs of a record, by type. */
enum {
	IOTSEC_S_EXE = 0, IOTSEC_S_ARGV = 1, IOTSEC_S_CWD = 2,	/* exec */
	IOTSEC_S_PATH = 0, IOTSEC_S_NEW_PATH = 1,		/* file */
	IOTSEC_S_NAME = 0,					/* module */
	IOTSEC_NR_STR = 3,
};

struct iotsec_net_fields {
	u16 family;
	u8 protocol;
	u8 has_result;
	u16 lport;
	u16 rport;
	s32 result;
	u8 laddr[16];
	u8 raddr[16];
};

struct iotsec_rec {
	u32 len;		/* bytes, header included, 8-aligned */
	u16 type;		/* 0: padding up to the end of the ring */
	u16 slen[IOTSEC_NR_STR];
	u32 cpu;
	u32 tgid, tid, ptgid;
	u32 uid, gid, euid, egid, loginuid, sessionid;
	u64 seq;
	u64 time_ns;
	u64 cgroup_id;
	char comm[IOTSEC_COMM_LEN];
	union {
		struct {
			u8 argv_truncated;
			u8 secure_exec;
			u32 dev;	/* new_encode_dev() */
			u64 ino;
			s64 ctime_sec;
			u32 ctime_nsec;
		} exec;
		struct {
			u32 code;
			u32 signal;
		} exit;
		struct {
			u32 child_tgid;
		} fork;
		struct iotsec_net_fields net;
		struct {
			u32 old_ids[4];	/* uid, euid, gid, egid */
			u32 new_ids[4];
			u64 caps_gained;
			u8 from_exec;
		} cred;
		struct {
			s32 result;
		} module;
		struct {
			u32 target_tgid;
			u32 mode;
			s32 result;
		} ptrace;
		struct {
			u32 op;
		} file;
		struct {
			u32 kind;	/* enum iotsec_tamper_kind */
			u32 target_tgid;
			u32 signal;
			u32 mode;	/* ptrace */
			u32 old_mask, new_mask;
			u32 unwatched, excluded;
			s32 result;
		} tamper;
	} u;
	char str[];
};

/* buffer.c: reserve room for a record of at most MAX bytes, then commit. */
struct iotsec_rec *iotsec_rec_begin_task(unsigned int type, size_t max,
					 struct task_struct *task);

/* A record of the current task's. */
static inline struct iotsec_rec *iotsec_rec_begin(unsigned int type,
						  size_t max)
{
	return iotsec_rec_begin_task(type, max, current);
}

void iotsec_rec_commit(struct iotsec_rec *rec);
char *iotsec_rec_str(struct iotsec_rec *rec, unsigned int idx);
void iotsec_rec_set_str(struct iotsec_rec *rec, unsigned int idx,
			const char *s);
void iotsec_rec_set_path(struct iotsec_rec *rec, unsigned int idx,
			 const struct path *path, const char *last);
size_t iotsec_strcut(char *dst, size_t size, const char *s, size_t len);

struct iotsec_counters {
	u64 generated[IOTSEC_NR_TYPES];
	u64 dropped[IOTSEC_NR_TYPES];
};

int iotsec_buffer_init(void);
void iotsec_buffer_exit(void);
void iotsec_buffer_counters(struct iotsec_counters *c);
u32 iotsec_buffer_bytes(void);
size_t iotsec_buffer_memory(void);
void iotsec_flush_start(void);
void iotsec_flush_stop(void);
struct iotsec_rec *iotsec_buffer_peek(void);
void iotsec_buffer_consume(struct iotsec_rec *rec);

/* config.c */
extern u32 iotsec_active_mask;
extern bool iotsec_have_watches;
extern bool iotsec_have_excludes;

int iotsec_config_init(void);
void iotsec_config_watches_exit(void);
void iotsec_config_exit(void);
void iotsec_config_set_active(bool active);
void iotsec_config_drop_excludes(void);
bool iotsec_excluded(struct pid *tgid);
bool iotsec_watched(const struct inode *inode);
struct iotsec_watches;
const struct iotsec_watches *iotsec_config_watches(void);
u32 iotsec_config_argv_max(void);
u32 iotsec_config_mask(void);
struct sk_buff;
struct genl_info;
int iotsec_config_set(struct genl_info *info);
int iotsec_config_put(struct sk_buff *msg);
size_t iotsec_config_reply_size(void);
size_t iotsec_config_memory(void);

static inline bool iotsec_type_on(unsigned int type)
{
	return READ_ONCE(iotsec_active_mask) & IOTSEC_EVENT_BIT(type);
}

/*
 * Fast test a hook makes first: is anybody listening for TYPE, and is the
 * current process not excluded.
 */
static inline bool iotsec_want(unsigned int type)
{
	if (likely(!iotsec_type_on(type)))
		return false;
	if (READ_ONCE(iotsec_have_excludes) &&
	    iotsec_excluded(task_tgid(current)))
		return false;
	return true;
}

/* hooks.c */
enum iotsec_hook_kind {
	IOTSEC_HOOK_TP,
	IOTSEC_HOOK_KPROBE,
	IOTSEC_HOOK_KRETPROBE,
};

struct iotsec_hook_time {
	u64 calls;
	u64 ns;
};

/* A hook is one of three kinds; KIND says which member of the union. */
struct iotsec_hook {
	u8 type;
	u8 kind;
	bool optional;		/* not on every kernel: no missing capability */
	bool helper;		/* fires for non-events too: misses not counted */
	/*
	 * Placed only where the last hook before it that is no fallback
	 * could not be placed (then that one's failure is not reported
	 * unless this one fails too).
	 */
	bool fallback;
	bool placed;
	/* With timing on: the per-CPU figures, and the handlers wrapped. */
	struct iotsec_hook_time __percpu *time;
	kprobe_pre_handler_t pre;
	kretprobe_handler_t entry, ret;
	union {
		struct {
			const char *name;
			void *probe;
			struct tracepoint *point;	/* once placed */
		} tp;
		struct kprobe kp;
		struct kretprobe rp;
	};
};

/*
 * A tracepoint hook: NAME is the tracepoint's identifier (its header
 * included), and PROBE must have its prototype, checked at compile time
 * against the one the kernel's TP_PROTO declares (an incompatible pointer
 * is an error in kernel builds). The probe's data pointer is its hook.
 */
#define IOTSEC_TP(_name, _type, _probe) \
	{ .type = _type, .kind = IOTSEC_HOOK_TP, \
	  .tp = { .name = #_name, .probe = IOTSEC_TP_PROBE(_name, _probe) } }
#define IOTSEC_TP_PROBE(_name, _probe) \
	((void *)(_probe) + \
	 0 * sizeof((check_trace_callback_type_##_name( \
			     (typeof(_probe) *)NULL), 0)))
#define IOTSEC_KPROBE(_sym, _type, _pre) \
	{ .type = _type, .kind = IOTSEC_HOOK_KPROBE, \
	  .kp = { .symbol_name = _sym, .pre_handler = _pre } }
/* A kprobe that feeds events but fires for other calls too. */
#define IOTSEC_HELPER_KPROBE(_sym, _type, _pre) \
	{ .type = _type, .kind = IOTSEC_HOOK_KPROBE, .helper = true, \
	  .kp = { .symbol_name = _sym, .pre_handler = _pre } }
#define IOTSEC_KRETPROBE(_sym, _type, _entry, _ret, _data) \
	{ .type = _type, .kind = IOTSEC_HOOK_KRETPROBE, \
	  .rp = { .kp.symbol_name = _sym, .entry_handler = _entry, \
		  .handler = _ret, .data_size = _data } }

struct iotsec_hook_set {
	struct iotsec_hook *hooks;
	unsigned int n;
};

extern struct iotsec_hook_set iotsec_proc_hooks, iotsec_net_hooks,
	iotsec_cred_hooks, iotsec_module_hooks, iotsec_ptrace_hooks,
	iotsec_file_hooks, iotsec_tamper_hooks;

int iotsec_hooks_init(void);
void iotsec_hooks_exit(void);
u32 iotsec_hooks_caps(void);
u32 iotsec_hooks_missing(void);
void iotsec_hooks_set_active(bool on);
void iotsec_hooks_missed(struct iotsec_counters *c);
int iotsec_hooks_put_times(struct sk_buff *msg);

/*
 * Handler timing (module parameter timing=1): hooks.c wraps kprobe and
 * kretprobe handlers; a tracepoint probe starts with IOTSEC_TIME_PROBE(data)
 * (DATA is the probe's first argument), which times the whole probe, every
 * return included. Off, it costs a patched-out jump.
 */
DECLARE_STATIC_KEY_FALSE(iotsec_timing);
void iotsec_time_add(struct iotsec_hook *h, u64 start, unsigned int calls);

struct iotsec_timer {
	struct iotsec_hook *hook;
	u64 start;
};

static __always_inline struct iotsec_timer iotsec_time_begin(void *hook)
{
	struct iotsec_timer t = { NULL, 0 };

	if (static_branch_unlikely(&iotsec_timing)) {
		t.hook = hook;
		t.start = local_clock();
	}
	return t;
}

static __always_inline void iotsec_time_end(struct iotsec_timer *t)
{
	if (static_branch_unlikely(&iotsec_timing) && t->hook)
		iotsec_time_add(t->hook, t->start, 1);
}

#define IOTSEC_TIME_PROBE(data) \
	struct iotsec_timer __iotsec_timer \
		__attribute__((__cleanup__(iotsec_time_end))) = \
		iotsec_time_begin(data)

/* attempt.c: events whose result is the syscall's return value */
void iotsec_attempt_module(const char *name, size_t len);
void iotsec_attempt_ptrace(u32 target_tgid, u32 mode);
/* ptrace.c: at ptrace(2)'s entry, where ptrace_attach() is inlined */
struct task_struct *iotsec_ptrace_sys_target(long *request);
void iotsec_attempt_connect_start(const struct iotsec_net_fields *n);
void iotsec_attempt_connect(const struct iotsec_net_fields *n);
void iotsec_attempt_exit(void);
/* file.c: the watched paths and their fsnotify marks */
struct nlattr;
struct netlink_ext_ack;
struct iotsec_watches *iotsec_watches_new(const struct nlattr *list,
					  struct netlink_ext_ack *extack);
void iotsec_watches_free(struct iotsec_watches *w);
bool iotsec_watches_has(const struct iotsec_watches *w,
			const struct inode *inode);
u32 iotsec_watches_count(const struct iotsec_watches *w);
const char *iotsec_watches_path(const struct iotsec_watches *w, u32 i);
size_t iotsec_watches_path_bytes(const struct iotsec_watches *w);
size_t iotsec_watches_memory(const struct iotsec_watches *w);

/* tamper.c: evidence of attempts to blind the module, and locked mode */
int iotsec_tamper_init(char *token);
void iotsec_tamper_exit(void);
void iotsec_tamper_subscribed(u32 portid);
void iotsec_tamper_unsubscribed(u32 portid);
int iotsec_tamper_config(struct genl_info *info);
int iotsec_tamper_put_fields(struct sk_buff *skb, struct iotsec_rec *rec);

/* main.c: hooks record while nobody is subscribed (module parameter). */
extern bool iotsec_early;

/* netlink.c */
int iotsec_netlink_init(void);
void iotsec_netlink_exit(void);
bool iotsec_netlink_flush(void);
size_t iotsec_netlink_memory(void);

#endif /* _IOTSEC_H */
