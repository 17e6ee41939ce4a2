// SPDX-License-Identifier: GPL-2.0
/*
 * Module loads, refused ones included. load_module() is where both
 * init_module(2) and finit_module(2) end up and what decides the result;
 * a kretprobe on it reports the attempt with that result. The name comes
 * from the module itself once the kernel has parsed it (the module_load
 * tracepoint), else from the file finit_module(2) read
 * (security_kernel_read_file), so that a load refused early still says
 * what it was.
 */
#include <linux/fs.h>
#include <linux/kernel_read_file.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <trace/events/module.h>

#include "compat.h"
#include "iotsec.h"

/* Names of loads in progress, by task; loads are rare and short. */
#define PENDING 16

struct pending {
	struct task_struct *task;
	u64 stamp;
	char name[IOTSEC_REC_NAME_MAX];
};

static struct pending pending[PENDING];
static DEFINE_RAW_SPINLOCK(pending_lock);
static u64 pending_stamp;

/* Remember NAME (its first LEN bytes at most) for the current task's load. */
static void pending_set(const char *name, size_t len)
{
	struct pending *p = NULL;
	unsigned long flags;
	int i;

	raw_spin_lock_irqsave(&pending_lock, flags);
	for (i = 0; i < PENDING; i++) {
		if (pending[i].task == current) {
			p = &pending[i];
			break;
		}
		if (!p || pending[i].stamp < p->stamp)
			p = &pending[i];
	}
	p->task = current;
	p->stamp = ++pending_stamp;
	iotsec_strcut(p->name, sizeof(p->name), name, len);
	raw_spin_unlock_irqrestore(&pending_lock, flags);
}

/*
 * Forget the current task's name; REC, unless the event was dropped, gets
 * it ("" when there is none).
 */
static void pending_take(struct iotsec_rec *rec)
{
	const char *name = "";
	unsigned long flags;
	int i;

	raw_spin_lock_irqsave(&pending_lock, flags);
	for (i = 0; i < PENDING; i++) {
		if (pending[i].task == current) {
			name = pending[i].name;
			pending[i].task = NULL;
			pending[i].stamp = 0;
			break;
		}
	}
	if (rec)
		iotsec_rec_set_str(rec, IOTSEC_S_NAME, name);
	raw_spin_unlock_irqrestore(&pending_lock, flags);
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
	pending_set(name, strcspn(name, "."));
	return 0;
}

static void probe_module_load(void *data, struct module *mod)
{
	IOTSEC_TIME_PROBE(data);
	if (iotsec_want(IOTSEC_EVENT_MODULE))
		pending_set(mod->name, MODULE_NAME_LEN);
}

static int load_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return iotsec_want(IOTSEC_EVENT_MODULE) ? 0 : 1;
}

static int load_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct iotsec_rec *rec;

	rec = iotsec_rec_begin(IOTSEC_EVENT_MODULE, IOTSEC_REC_NAME_MAX);
	pending_take(rec);
	if (!rec)
		return 0;
	rec->u.module.result = (int)regs_return_value(regs);
	iotsec_rec_commit(rec);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KRETPROBE("load_module", IOTSEC_EVENT_MODULE,
			 load_entry, load_ret, 0),
	IOTSEC_TP(module_load, IOTSEC_EVENT_MODULE, probe_module_load),
	IOTSEC_KPROBE("security_kernel_read_file", IOTSEC_EVENT_MODULE,
		      read_file_pre),
};

struct iotsec_hook_set iotsec_module_hooks = { hooks, ARRAY_SIZE(hooks) };
