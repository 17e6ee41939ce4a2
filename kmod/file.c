// SPDX-License-Identifier: GPL-2.0
/*
 * Changes to watched files: open for writing, truncate, unlink, rename.
 * A watched file is its inode (the one its path resolved to when the list
 * was set); a watched directory also covers the entries directly in it.
 *
 * Every watched inode carries an fsnotify mark of the current watch set's
 * group, as nfsd and audit use them. Opens are seen through the mark (and
 * FS_EVENT_ON_CHILD on a directory for its entries), so an open of a file
 * nobody watches runs none of our code. The handler runs in the opening
 * task; the event's data is the opened file's f_path, which tells a
 * write-open from a read-only one.
 *
 * The event is the one every open sends, the kernel's own opens included
 * (a core dump, nfsd, ksmbd, kernel_file_open(), swapon): since 6.8,
 * FS_OPEN from do_dentry_open(); before, FS_OPEN came only from open(2),
 * open_by_handle_at(2) and exec, and the event every open sends is
 * FS_OPEN_PERM, from security_file_open() in do_dentry_open() (see
 * IOTSEC_FS_OPEN in compat.h). Either way one event per open, sent when
 * the open is granted, just before the filesystem's ->open().
 *
 * Opens made with FMODE_NONOTIFY send neither. Before 6.8 the one such
 * open that writes to files users name is overlayfs's open of the real
 * file behind an overlay file (open_with_fake_path() to 6.5,
 * backing_file_open() in 6.6 and 6.7): a kprobe there, armed only while a
 * watch list is set, reports the write-open of a watched real (upper)
 * file, with the overlay path the task opened.
 *
 * Truncate, unlink and rename keep their LSM hooks (kprobes on
 * security_path_*): they are rare, they give both paths of a rename with
 * its mount, and fsnotify cannot tell a truncate (FS_MODIFY from
 * notify_change()) from a change of mtime alone. They match the inode
 * against the set's marked inodes by identity, never by inode number.
 *
 * On overlayfs the truncate, unlink and rename hooks see the overlay's
 * paths and inodes, once per user operation: overlayfs reaches the real
 * upper and lower files below the security_path_* hooks (vfs_rename(),
 * vfs_unlink(), notify_change()).
 */
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/kprobes.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/ptrace.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <net/genetlink.h>

#include "compat.h"
#include "iotsec.h"

struct watch_mark {
	struct fsnotify_mark mark;
	/* Identity only: the mark holds the inode while it is attached. */
	struct inode *inode;
	/* The kernel dropped the mark: the inode was deleted or unmounted. */
	bool dead;
};

/*
 * One watch list as set by SET_CONFIG: the paths as given, one mark per
 * distinct inode (sorted by inode for the hooks' lookup), and the group
 * that owns the marks. Replaced as a whole, never changed.
 */
struct iotsec_watches {
	struct fsnotify_group *group;
	u32 n_paths;
	u32 n_marks;
	size_t path_bytes;
	bool armed;		/* counted in nr_armed */
	char **paths;
	struct watch_mark **marks;
};

/*
 * The cheap test every file kprobe makes first. Whether the process is
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

	if (iotsec_watched(d_inode(dentry)))
		return true;
	rcu_read_lock();
	parent = READ_ONCE(dentry->d_parent);
	ret = parent != dentry && iotsec_watched(d_inode(parent));
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

/*
 * GROUP's list is the one in force. While SET_CONFIG replaces a list, both
 * lists' marks are in place: the new ones report nothing until the new list
 * is published, the old ones nothing after, so a file in both lists gives
 * one event per open.
 */
static bool group_current(const struct fsnotify_group *group)
{
	const struct iotsec_watches *w;
	bool ret;

	rcu_read_lock();
	w = iotsec_config_watches();
	ret = w && w->group == group;
	rcu_read_unlock();
	return ret;
}

/*
 * IOTSEC_FS_OPEN from one of our marks: the watched file itself, or an
 * entry of a watched directory. Both marks may come in one call; one event
 * either way. Returns 0: a permission event is never refused.
 */
static int watch_handle_event(struct fsnotify_group *group, u32 mask,
			      const void *data, int data_type,
			      struct inode *dir, const struct qstr *name,
			      u32 cookie, struct fsnotify_iter_info *iter_info)
{
	const struct path *path = fsnotify_data_path(data, data_type);
	struct file *file;

	if (!(mask & IOTSEC_FS_OPEN) || !path ||
	    !iotsec_type_on(IOTSEC_EVENT_FILE))
		return 0;
	/* Both events pass &file->f_path (5.10 .. 6.12). */
	file = container_of(path, struct file, f_path);
	if (!(file->f_mode & FMODE_WRITE) || iotsec_file_is_backing(file) ||
	    !group_current(group))
		return 0;
	file_event(IOTSEC_FILE_WRITE, path, NULL, NULL, NULL);
	return 0;
}

/* The kernel detaches our mark itself when the inode is deleted. */
static void watch_freeing_mark(struct fsnotify_mark *mark,
			       struct fsnotify_group *group)
{
	WRITE_ONCE(container_of(mark, struct watch_mark, mark)->dead, true);
}

static void watch_free_mark(struct fsnotify_mark *mark)
{
	kfree(container_of(mark, struct watch_mark, mark));
}

static const struct fsnotify_ops watch_ops = {
	.handle_event = watch_handle_event,
	.freeing_mark = watch_freeing_mark,
	.free_mark = watch_free_mark,
};

static void arm_nonotify(bool on);

static int cmp_mark(const void *a, const void *b)
{
	const struct inode *x = (*(struct watch_mark * const *)a)->inode;
	const struct inode *y = (*(struct watch_mark * const *)b)->inode;

	return x < y ? -1 : x > y;
}

/* W's mark on INODE, live or not, or NULL. */
static struct watch_mark *watch_find(const struct iotsec_watches *w,
				     const struct inode *inode)
{
	u32 lo = 0, hi = w->n_marks;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct inode *m = w->marks[mid]->inode;

		if (m == inode)
			return w->marks[mid];
		if (m < inode)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Under rcu_read_lock(). A dead mark's inode may be freed and its memory
 * reused, but not before its mark was marked dead (the kernel destroys
 * marks before it frees the inode, and frees inodes after a grace period).
 */
bool iotsec_watches_has(const struct iotsec_watches *w,
			const struct inode *inode)
{
	struct watch_mark *m;

	if (!inode || !READ_ONCE(inode->i_fsnotify_marks))
		return false;
	m = watch_find(w, inode);
	return m && !READ_ONCE(m->dead);
}

static int watch_mark_inode(struct iotsec_watches *w, struct inode *inode)
{
	struct watch_mark *m;
	u32 i;
	int ret;

	/* Two paths to one inode share its mark (one per group). */
	for (i = 0; i < w->n_marks; i++)
		if (w->marks[i]->inode == inode)
			return 0;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	fsnotify_init_mark(&m->mark, w->group);
	m->inode = inode;
	m->mark.mask = IOTSEC_FS_OPEN;
	if (S_ISDIR(inode->i_mode))
		m->mark.mask |= FS_EVENT_ON_CHILD;
	ret = fsnotify_add_inode_mark(&m->mark, inode, 0);
	if (ret) {
		/* Never attached: this put frees it at once. */
		fsnotify_put_mark(&m->mark);
		return ret;
	}
	w->marks[w->n_marks++] = m;
	return 0;
}

/*
 * Resolve the paths of LIST and mark their inodes. Called without any of
 * our locks: a path on a hung NFS or FUSE mount stalls only this caller.
 * Returns the new set, NULL for an empty list, or an ERR_PTR.
 */
struct iotsec_watches *iotsec_watches_new(const struct nlattr *list,
					  struct netlink_ext_ack *extack)
{
	struct iotsec_watches *w;
	const struct nlattr *a;
	struct path path;
	int rem, n = 0, ret;
	char *name;

	nla_for_each_nested(a, list, rem) {
		if (n++ >= IOTSEC_WATCH_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "too many watched paths");
			return ERR_PTR(-E2BIG);
		}
		/*
		 * A relative path (or "") would resolve against the caller's
		 * working directory and watch something it did not name.
		 */
		if (*(const char *)nla_data(a) != '/') {
			NL_SET_ERR_MSG_ATTR(extack, a,
					    "watched paths must be absolute");
			return ERR_PTR(-EINVAL);
		}
	}
	if (!n)
		return NULL;

	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return ERR_PTR(-ENOMEM);
	ret = -ENOMEM;
	w->paths = kvcalloc(n, sizeof(*w->paths), GFP_KERNEL);
	w->marks = kvcalloc(n, sizeof(*w->marks), GFP_KERNEL);
	if (!w->paths || !w->marks)
		goto err;
	w->group = iotsec_fsnotify_alloc_group(&watch_ops);
	if (IS_ERR(w->group)) {
		NL_SET_ERR_MSG(extack, "cannot watch paths");
		ret = PTR_ERR(w->group);
		w->group = NULL;
		goto err;
	}
	nla_for_each_nested(a, list, rem) {
		ret = -ENOMEM;
		name = kstrdup(nla_data(a), GFP_KERNEL);
		if (!name)
			goto err;
		w->paths[w->n_paths++] = name;
		w->path_bytes += strlen(name) + 1;
		ret = kern_path(name, LOOKUP_FOLLOW, &path);
		if (ret) {
			NL_SET_ERR_MSG_ATTR(extack, a, "cannot resolve path");
			goto err;
		}
		ret = watch_mark_inode(w, d_inode(path.dentry));
		path_put(&path);
		if (ret) {
			NL_SET_ERR_MSG_ATTR(extack, a, "cannot watch path");
			goto err;
		}
	}
	sort(w->marks, w->n_marks, sizeof(*w->marks), cmp_mark, NULL);
	w->armed = true;
	arm_nonotify(true);
	return w;

err:
	iotsec_watches_free(w);
	return ERR_PTR(ret);
}

/*
 * Remove W's marks and free it; may sleep. The caller has unpublished W and
 * waited for the RCU readers of the kprobes. A handler still running on a
 * mark holds fsnotify's SRCU, which the mark's release waits for:
 * fsnotify_wait_marks_destroyed() returns once every mark is freed, so no
 * handler of ours runs after this.
 */
void iotsec_watches_free(struct iotsec_watches *w)
{
	u32 i;

	if (!w)
		return;
	if (w->armed)
		arm_nonotify(false);
	for (i = 0; i < w->n_marks; i++) {
		fsnotify_destroy_mark(&w->marks[i]->mark, w->group);
		fsnotify_put_mark(&w->marks[i]->mark);
	}
	fsnotify_wait_marks_destroyed();
	if (w->group)
		fsnotify_put_group(w->group);
	for (i = 0; i < w->n_paths; i++)
		kfree(w->paths[i]);
	kvfree(w->paths);
	kvfree(w->marks);
	kfree(w);
}

u32 iotsec_watches_count(const struct iotsec_watches *w)
{
	return w ? w->n_paths : 0;
}

const char *iotsec_watches_path(const struct iotsec_watches *w, u32 i)
{
	return w->paths[i];
}

/* Bytes of the paths with their NULs, for the size of a reply. */
size_t iotsec_watches_path_bytes(const struct iotsec_watches *w)
{
	return w ? w->path_bytes : 0;
}

size_t iotsec_watches_memory(const struct iotsec_watches *w)
{
	if (!w)
		return 0;
	return sizeof(*w) + w->path_bytes +
	       w->n_paths * sizeof(*w->paths) +
	       w->n_marks * (sizeof(*w->marks) + sizeof(struct watch_mark));
}

#ifndef IOTSEC_HAVE_FSNOTIFY_OPEN_PERM
/*
 * INODE, or the directory of one of its names, is watched. The names are
 * looked at under the inode's lock, which keeps them; a directory is
 * looked up only for a name whose parent some fsnotify group watches.
 */
static bool inode_watched(struct inode *inode)
{
	struct dentry *alias;
	bool ret = false;

	if (!inode)
		return false;
	if (iotsec_watched(inode))
		return true;
	spin_lock(&inode->i_lock);
	hlist_for_each_entry(alias, &inode->i_dentry, d_u.d_alias) {
		if ((READ_ONCE(alias->d_flags) &
		     DCACHE_FSNOTIFY_PARENT_WATCHED) &&
		    dentry_watched(alias)) {
			ret = true;
			break;
		}
	}
	spin_unlock(&inode->i_lock);
	return ret;
}

/*
 * overlayfs opens the real file behind an overlay file with FLAGS (the
 * user's, plus FMODE_NONOTIFY): no fsnotify event reaches the real
 * inode's marks. Report a write-open of a watched real file, with USER,
 * the overlay path the task opened. An open without FMODE_NONOTIFY (as
 * cachefiles makes) sends IOTSEC_FS_OPEN already.
 */
static void nonotify_open(const struct path *user, int flags,
			  struct inode *real)
{
	const struct cred *cred = current_real_cred();
	struct iotsec_rec *rec;

	if (!(flags & __FMODE_NONOTIFY) ||
	    !(OPEN_FMODE(flags) & FMODE_WRITE) || !file_on() ||
	    !inode_watched(real) || !iotsec_want(IOTSEC_EVENT_FILE))
		return;
	rec = iotsec_rec_begin(IOTSEC_EVENT_FILE, 2 * IOTSEC_REC_PATH_MAX);
	if (!rec)
		return;
	/*
	 * overlayfs opens with the mounter's credentials in force: the
	 * task's own are its real_cred.
	 */
	rec->uid = from_kuid_munged(&init_user_ns, cred->uid);
	rec->gid = from_kgid_munged(&init_user_ns, cred->gid);
	rec->euid = from_kuid_munged(&init_user_ns, cred->euid);
	rec->egid = from_kgid_munged(&init_user_ns, cred->egid);
	rec->u.file.op = IOTSEC_FILE_WRITE;
	iotsec_rec_set_path(rec, IOTSEC_S_PATH, user, NULL);
	iotsec_rec_commit(rec);
}

/* open_with_fake_path(path, flags, inode, cred), to 6.5. */
static int fake_path_open_pre(struct kprobe *p, struct pt_regs *regs)
{
	nonotify_open((const struct path *)iotsec_arg(regs, 0),
		      (int)iotsec_arg(regs, 1),
		      (struct inode *)iotsec_arg(regs, 2));
	return 0;
}

/* backing_file_open(user_path, flags, real_path, cred), 6.6 and 6.7. */
static int backing_open_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *real = (const struct path *)iotsec_arg(regs, 2);

	nonotify_open((const struct path *)iotsec_arg(regs, 0),
		      (int)iotsec_arg(regs, 1), d_inode(real->dentry));
	return 0;
}
#endif

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

/*
 * The names are read through snapshots: the callers hold the directories'
 * locks, but a snapshot is what makes a name safe to read, not a lock
 * someone else takes.
 */
static int unlink_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *dir = (const struct path *)iotsec_arg(regs, 0);
	struct dentry *dentry = (struct dentry *)iotsec_arg(regs, 1);
	struct name_snapshot name;

	if (!file_on() || !dentry_watched(dentry))
		return 0;
	take_dentry_name_snapshot(&name, dentry);
	file_event(IOTSEC_FILE_UNLINK, dir, name.name.name, NULL, NULL);
	release_dentry_name_snapshot(&name);
	return 0;
}

static int rename_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *old_dir = (const struct path *)iotsec_arg(regs, 0);
	struct dentry *old = (struct dentry *)iotsec_arg(regs, 1);
	const struct path *new_dir = (const struct path *)iotsec_arg(regs, 2);
	struct dentry *new = (struct dentry *)iotsec_arg(regs, 3);
	struct name_snapshot old_name, new_name;

	if (!file_on())
		return 0;
	if (!dentry_watched(old) && !dentry_watched(new))
		return 0;
	take_dentry_name_snapshot(&old_name, old);
	take_dentry_name_snapshot(&new_name, new);
	file_event(IOTSEC_FILE_RENAME, old_dir, old_name.name.name,
		   new_dir, new_name.name.name);
	release_dentry_name_snapshot(&new_name);
	release_dentry_name_snapshot(&old_name);
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("security_path_truncate", IOTSEC_EVENT_FILE,
		      truncate_pre),
	{ .type = IOTSEC_EVENT_FILE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = "security_file_truncate",
		  .pre_handler = file_truncate_pre } },
	IOTSEC_KPROBE("security_path_unlink", IOTSEC_EVENT_FILE, unlink_pre),
	IOTSEC_KPROBE("security_path_rename", IOTSEC_EVENT_FILE, rename_pre),
#ifndef IOTSEC_HAVE_FSNOTIFY_OPEN_PERM
	/* Armed while a watch list is set: see arm_nonotify(). */
	{ .type = IOTSEC_EVENT_FILE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true, .helper = true,
	  .kp = { .symbol_name = "open_with_fake_path",
		  .pre_handler = fake_path_open_pre,
		  .flags = KPROBE_FLAG_DISABLED } },
	{ .type = IOTSEC_EVENT_FILE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true, .helper = true,
	  .kp = { .symbol_name = "backing_file_open",
		  .pre_handler = backing_open_pre,
		  .flags = KPROBE_FLAG_DISABLED } },
#endif
};

struct iotsec_hook_set iotsec_file_hooks = { hooks, ARRAY_SIZE(hooks) };

#ifndef IOTSEC_HAVE_FSNOTIFY_OPEN_PERM
/*
 * Watch sets in place (two while SET_CONFIG replaces one); the probes on
 * the FMODE_NONOTIFY opens are armed while there is one, so that without
 * a watch list an open on overlayfs runs none of our code.
 */
static DEFINE_MUTEX(arm_lock);
static unsigned int nr_armed;

static void arm_nonotify(bool on)
{
	struct iotsec_hook *h;
	unsigned int i;

	mutex_lock(&arm_lock);
	if (on ? nr_armed++ : --nr_armed)
		goto out;
	for (i = 0; i < ARRAY_SIZE(hooks); i++) {
		h = &hooks[i];
		if (h->kind != IOTSEC_HOOK_KPROBE || !h->placed ||
		    (strcmp(h->kp.symbol_name, "open_with_fake_path") &&
		     strcmp(h->kp.symbol_name, "backing_file_open")))
			continue;
		if (on)
			enable_kprobe(&h->kp);
		else
			disable_kprobe(&h->kp);
	}
out:
	mutex_unlock(&arm_lock);
}
#else
static void arm_nonotify(bool on)
{
}
#endif
