// SPDX-License-Identifier: GPL-2.0
/*
 * Module loads, refused ones included. An entry probe on init_module(2)
 * and finit_module(2) themselves, before any check can refuse the load
 * (may_init_module() is inlined into them), or else on the LSM hooks both
 * reach, starts an attempt; the attempt ends with the syscall's return
 * value (attempt.c): the result of the whole load, its init included,
 * without a return probe on load_module(), which sleeps for as long as the
 * module's init runs.
 *
 * The name comes from the module itself once the kernel has parsed it (the
 * module_load tracepoint), else from the file finit_module(2) read
 * (security_kernel_read_file), so that a load refused early still says
 * what it was.
 */
#include <linux/fs.h>
#include <linux/kernel_read_file.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/string.h>
#include <trace/events/module.h>

#include "compat.h"
#include "iotsec.h"

static int syscall_pre(struct kprobe *p, struct pt_regs *regs)
{
	if (iotsec_want(IOTSEC_EVENT_MODULE))
		iotsec_attempt_module(NULL, 0);
	return 0;
}

static int load_data_pre(struct kprobe *p, struct pt_regs *regs)
{
	int id = (int)iotsec_arg(regs, 0);

	if (id == LOADING_MODULE && iotsec_want(IOTSEC_EVENT_MODULE))
		iotsec_attempt_module(NULL, 0);
	return 0;
}

static int read_file_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct file *file = (struct file *)iotsec_arg(regs, 0);
	int id = (int)iotsec_arg(regs, 1);
	const char *name;

	if (id != READING_MODULE || !file ||
	    !iotsec_want(IOTSEC_EVENT_MODULE))
		return 0;
	/* "foo.ko", "foo.ko.xz": the module is most likely "foo" */
	name = file->f_path.dentry->d_name.name;
	iotsec_attempt_module(name, strcspn(name, "."));
	return 0;
}

static void probe_module_load(void *data, struct module *mod)
{
	IOTSEC_TIME_PROBE(data);
	if (iotsec_want(IOTSEC_EVENT_MODULE))
		iotsec_attempt_module(mod->name, MODULE_NAME_LEN);
}

/*
 * The syscalls of 32-bit processes on a 64-bit kernel have entries of
 * their own where the architecture has them (compat.h): probed too, so
 * that a 32-bit load refused with EPERM is reported like a 64-bit one.
 * The LSM hooks are entry points too: where the syscalls cannot be probed
 * loads are still reported, only those refused before reading (EPERM)
 * are not. They fire for other reads and
 * loads too, so their misses are not counted as lost events.
 */
static struct iotsec_hook hooks[] = {
	{ .type = IOTSEC_EVENT_MODULE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = IOTSEC_SYSCALL_SYM("finit_module"),
		  .pre_handler = syscall_pre } },
	{ .type = IOTSEC_EVENT_MODULE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = IOTSEC_SYSCALL_SYM("init_module"),
		  .pre_handler = syscall_pre } },
#ifdef IOTSEC_COMPAT_SYSCALL_SYM
	/* a 32-bit process on a 64-bit kernel (x86-64's int $0x80) */
	{ .type = IOTSEC_EVENT_MODULE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = IOTSEC_COMPAT_SYSCALL_SYM("finit_module"),
		  .pre_handler = syscall_pre } },
	{ .type = IOTSEC_EVENT_MODULE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = IOTSEC_COMPAT_SYSCALL_SYM("init_module"),
		  .pre_handler = syscall_pre } },
#endif
	IOTSEC_HELPER_KPROBE("security_kernel_load_data", IOTSEC_EVENT_MODULE,
			     load_data_pre),
	IOTSEC_HELPER_KPROBE("security_kernel_read_file", IOTSEC_EVENT_MODULE,
			     read_file_pre),
	IOTSEC_TP(module_load, IOTSEC_EVENT_MODULE, probe_module_load),
};

struct iotsec_hook_set iotsec_module_hooks = { hooks, ARRAY_SIZE(hooks) };
