// SPDX-License-Identifier: GPL-2.0
/*
 * Changes to watched files: open for writing, truncate, unlink, rename.
 * A watched file matches by inode; a watched directory covers the entries
 * directly in it, which also catches a file replaced by rename. Hooks
 * return at once while no path is watched.
 *
 * On overlayfs the hooks see the overlay's paths and inodes, which the
 * watches were resolved to, once per user operation: the real upper and
 * lower files are reached below the security_path_* hooks (vfs_rename(),
 * vfs_unlink(), notify_change()), except for opens. Overlayfs opens the
 * real file for every file opened on it, and copy-up opens its temporary
 * copy in the work directory; the former is skipped here, the latter is
 * outside any watched directory unless the work directory itself is
 * watched.
 */
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/kprobes.h>
#include <linux/path.h>
#include <linux/ptrace.h>

#include "compat.h"
#include "iotsec.h"

/*
 * The cheap test every file hook makes first. Whether the process is
 * excluded (a list walk) is asked only for watched files, in file_event().
 */
static bool file_on(void)
{
	return READ_ONCE(iotsec_have_watches) &&
	       iotsec_type_on(IOTSEC_EVENT_FILE);
}

/* The entry DENTRY or the directory holding it is watched. */
static bool dentry_watched(struct dentry *dentry)
{
	struct dentry *parent;
	bool ret;

	if (iotsec_watched(d_backing_inode(dentry)))
		return true;
	rcu_read_lock();
	parent = READ_ONCE(dentry->d_parent);
	ret = parent != dentry && iotsec_watched(d_backing_inode(parent));
	rcu_read_unlock();
	return ret;
}

static void file_event(u32 op, const struct path *path, const char *last,
		       const struct path *new_path, const char *new_last)
{
	struct iotsec_rec *rec;

	if (!iotsec_want(IOTSEC_EVENT_FILE))
		return;
	rec = iotsec_rec_begin(IOTSEC_EVENT_FILE, 2 * IOTSEC_REC_PATH_MAX);
	if (!rec)
		return;
	rec->u.file.op = op;
	iotsec_rec_set_path(rec, IOTSEC_S_PATH, path, last);
	if (new_path)
		iotsec_rec_set_path(rec, IOTSEC_S_NEW_PATH, new_path, new_last);
	iotsec_rec_commit(rec);
}

static int file_open_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct file *file = (struct file *)iotsec_arg(regs, 0);

	if (!(file->f_mode & FMODE_WRITE) || !file_on())
		return 0;
	if (iotsec_file_is_backing(file))
		return 0;
	if (!dentry_watched(file->f_path.dentry))
		return 0;
	file_event(IOTSEC_FILE_WRITE, &file->f_path, NULL, NULL, NULL);
	return 0;
}

static int truncate_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *path = (const struct path *)iotsec_arg(regs, 0);

	if (!file_on() || !dentry_watched(path->dentry))
		return 0;
	file_event(IOTSEC_FILE_TRUNCATE, path, NULL, NULL, NULL);
	return 0;
}

/* Since 6.2, ftruncate(2) and open(O_TRUNC) check here instead. */
static int file_truncate_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct file *file = (struct file *)iotsec_arg(regs, 0);

	if (!file_on() || !dentry_watched(file->f_path.dentry))
		return 0;
	file_event(IOTSEC_FILE_TRUNCATE, &file->f_path, NULL, NULL, NULL);
	return 0;
}

static int unlink_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *dir = (const struct path *)iotsec_arg(regs, 0);
	struct dentry *dentry = (struct dentry *)iotsec_arg(regs, 1);

	if (!file_on() || !dentry_watched(dentry))
		return 0;
	file_event(IOTSEC_FILE_UNLINK, dir, dentry->d_name.name, NULL, NULL);
	return 0;
}

static int rename_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *old_dir = (const struct path *)iotsec_arg(regs, 0);
	struct dentry *old = (struct dentry *)iotsec_arg(regs, 1);
	const struct path *new_dir = (const struct path *)iotsec_arg(regs, 2);
	struct dentry *new = (struct dentry *)iotsec_arg(regs, 3);

	if (!file_on())
		return 0;
	if (!dentry_watched(old) && !dentry_watched(new))
		return 0;
	file_event(IOTSEC_FILE_RENAME, old_dir, old->d_name.name,
		   new_dir, new->d_name.name);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("security_file_open", IOTSEC_EVENT_FILE, file_open_pre),
	IOTSEC_KPROBE("security_path_truncate", IOTSEC_EVENT_FILE,
		      truncate_pre),
	{ .type = IOTSEC_EVENT_FILE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = "security_file_truncate",
		  .pre_handler = file_truncate_pre } },
	IOTSEC_KPROBE("security_path_unlink", IOTSEC_EVENT_FILE, unlink_pre),
	IOTSEC_KPROBE("security_path_rename", IOTSEC_EVENT_FILE, rename_pre),
};

struct iotsec_hook_set iotsec_file_hooks = { hooks, ARRAY_SIZE(hooks) };
