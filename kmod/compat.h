/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels iotsec supports (5.10 and newer) live
 * here and only here; Kbuild probes the target's headers for features and
 * passes IOTSEC_HAVE_* defines.
 */
#ifndef _IOTSEC_COMPAT_H
#define _IOTSEC_COMPAT_H

#include <linux/capability.h>
#include <linux/dcache.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <net/netlink.h>
#include <net/sock.h>

/* Kbuild refuses kernels older than 5.10. */

/*
 * An inode's ctime: read through inode_get_ctime() since 6.6, when the
 * field became private (__i_ctime, then i_ctime_sec/i_ctime_nsec in 6.11).
 */
static inline struct timespec64 iotsec_inode_ctime(const struct inode *inode)
{
#ifdef IOTSEC_HAVE_INODE_GET_CTIME
	return inode_get_ctime(inode);
#else
	return inode->i_ctime;
#endif
}

/*
 * task_pt_regs() is a macro over task_stack_page() on 32-bit ARM (and
 * others without their own), which <linux/sched/task_stack.h> declares.
 */

/*
 * Since 6.1 generic netlink validates strictly only the operations at or
 * after resv_start_op; earlier kernels validate every operation strictly
 * unless told otherwise.
 */
#ifdef IOTSEC_HAVE_RESV_START_OP
#define IOTSEC_GENL_RESV_START_OP .resv_start_op = IOTSEC_CMD_SUBSCRIBE,
#else
#define IOTSEC_GENL_RESV_START_OP
#endif

/*
 * The Nth argument (N < 4) of the probed function, in a kprobe handler.
 * 32-bit ARM has no regs_get_kernel_argument(): arguments are in r0-r3.
 */
#if defined(IOTSEC_HAVE_REGS_ARG)
#define iotsec_arg(regs, n) regs_get_kernel_argument(regs, n)
#elif defined(CONFIG_ARM)
#define iotsec_arg(regs, n) ((regs)->uregs[n])
#else
#error "iotsec: no way to read kprobe arguments on this architecture"
#endif

/*
 * The symbol of a system call's entry, as its wrapper is named on the
 * architectures with syscall wrappers (x86-64 since 4.17, arm64 since
 * 4.19); elsewhere sys_NAME. Native calls: for 32-bit compat calls see
 * IOTSEC_COMPAT_SYSCALL_SYM.
 */
#if defined(CONFIG_X86_64)
#define IOTSEC_SYSCALL_SYM(name) "__x64_sys_" name
#elif defined(CONFIG_ARM64)
#define IOTSEC_SYSCALL_SYM(name) "__arm64_sys_" name
#else
#define IOTSEC_SYSCALL_SYM(name) "sys_" name
#endif

/*
 * The entry of a 32-bit process's system call on a 64-bit kernel, where it
 * has its own: x86-64 with IA32 emulation (int $0x80, sysenter, 32-bit
 * syscall) runs __ia32_sys_NAME. arm64's compat table points at the native
 * wrapper (__arm64_sys_NAME) for calls without a compat_sys_ version, which
 * init_module and finit_module are: the native probe sees them already.
 */
#if defined(CONFIG_X86_64) && defined(CONFIG_IA32_EMULATION)
#define IOTSEC_COMPAT_SYSCALL_SYM(name) "__ia32_sys_" name
#endif

/*
 * The entry of a 32-bit process's system call that has a compat_sys_
 * version of its own (ptrace), on the 64-bit kernels that run them.
 */
#if defined(CONFIG_X86_64) && defined(CONFIG_IA32_EMULATION)
#define IOTSEC_COMPAT_SYS_SYM(name) "__ia32_compat_sys_" name
#elif defined(CONFIG_ARM64) && defined(CONFIG_COMPAT)
#define IOTSEC_COMPAT_SYS_SYM(name) "__arm64_compat_sys_" name
#endif

/* sk_error_report() came in 5.12; before, the socket's own callback. */
static inline void iotsec_sk_error_report(struct sock *sk)
{
#ifdef IOTSEC_HAVE_SK_ERROR_REPORT
	sk_error_report(sk);
#else
	sk->sk_error_report(sk);
#endif
}

/* The kretprobe of an instance: get_kretprobe() since 5.11. */
#ifdef IOTSEC_HAVE_GET_KRETPROBE
#define iotsec_kretprobe_of(ri) get_kretprobe(ri)
#else
#define iotsec_kretprobe_of(ri) ((ri)->rp)
#endif

/* kernel_cap_t became a single u64 in 6.3. */
static inline u64 iotsec_cap_u64(kernel_cap_t c)
{
#ifdef IOTSEC_HAVE_CAP_U64
	return c.val;
#else
	return c.cap[0] | ((u64)c.cap[1] << 32);
#endif
}

/*
 * FILE is a stacking filesystem's internal open of the real file behind a
 * file the user opened (overlayfs, later also FUSE passthrough); the
 * user's own open was seen already. Since 6.5 such files carry
 * FMODE_BACKING (and since 6.8 their f_path is the real path). Before,
 * overlayfs opened them with open_with_fake_path(): the overlay's path over
 * the real inode, so the path's inode is not the file's.
 */
static inline bool iotsec_file_is_backing(const struct file *file)
{
#ifdef FMODE_BACKING
	if (file->f_mode & FMODE_BACKING)
		return true;
#endif
	return d_inode(file->f_path.dentry) != file_inode(file);
}

/*
 * fsnotify_alloc_group() takes flags since 5.19. A kernel without fsnotify
 * (CONFIG_FSNOTIFY=n) has no marks: no group, so a watch list is refused
 * with EOPNOTSUPP and the rest of the mark API is never reached.
 */
#ifdef CONFIG_FSNOTIFY
static inline struct fsnotify_group *
iotsec_fsnotify_alloc_group(const struct fsnotify_ops *ops)
{
#ifdef IOTSEC_HAVE_FSNOTIFY_GROUP_FLAGS
	return fsnotify_alloc_group(ops, 0);
#else
	return fsnotify_alloc_group(ops);
#endif
}
#else
static inline struct fsnotify_group *
iotsec_fsnotify_alloc_group(const struct fsnotify_ops *ops)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void fsnotify_init_mark(struct fsnotify_mark *mark,
				      struct fsnotify_group *group) {}
static inline int fsnotify_add_inode_mark(struct fsnotify_mark *mark,
					  struct inode *inode, int flags)
{
	return -EOPNOTSUPP;
}

static inline void fsnotify_put_mark(struct fsnotify_mark *mark) {}
static inline void fsnotify_destroy_mark(struct fsnotify_mark *mark,
					 struct fsnotify_group *group) {}
static inline void fsnotify_wait_marks_destroyed(void) {}
static inline void fsnotify_put_group(struct fsnotify_group *group) {}
#endif

/*
 * The fsnotify event every open of a file sends, the kernel's own opens
 * included. Since 6.8 (where fsnotify_open_perm() came) do_dentry_open()
 * sends FS_OPEN; before, only open(2), open_by_handle_at(2) and exec sent
 * FS_OPEN, and every open sent FS_OPEN_PERM from security_file_open().
 * A mark on one of them only: one event per open.
 */
#ifdef IOTSEC_HAVE_FSNOTIFY_OPEN_PERM
#define IOTSEC_FS_OPEN FS_OPEN
#else
#define IOTSEC_FS_OPEN FS_OPEN_PERM
#endif

/* io_uring's workers (5.12 and newer) never return to user space. */
#ifdef PF_IO_WORKER
#define IOTSEC_PF_IO_WORKER PF_IO_WORKER
#else
#define IOTSEC_PF_IO_WORKER 0
#endif

#endif /* _IOTSEC_COMPAT_H */
