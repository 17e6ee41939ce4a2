// SPDX-License-Identifier: MIT
/*
 * eiofs: a stand-in for a failing disk (an SD card with a bad block) for
 * the host tests, where device-mapper's error target is not there.
 *
 *   eiofs BACKING MOUNTPOINT NAME OFFSET
 *
 * Mounts directory BACKING at MOUNTPOINT (FUSE, in the foreground until
 * it is unmounted) as a plain passthrough, except that reading file NAME
 * (in the top directory) from byte OFFSET on fails with EIO; a read that
 * starts before OFFSET gets the bytes up to it. NAME is opened with
 * direct I/O, so no page cache hides the error: every read of it and
 * every page fault of a mapping of it comes here. Each EIO given is
 * written to stderr.
 */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static int base = -1;
static const char *bad_name;
static off_t bad_off;

/* A FUSE path ("/x/y") relative to BASE. */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static bool is_bad(const char *path)
{
	return path && !strcmp(rel(path), bad_name);
}

static int x_getattr(const char *path, struct stat *st,
		     struct fuse_file_info *fi)
{
	if (fi)
		return fstat(fi->fh, st) ? -errno : 0;
	return fstatat(base, rel(path), st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int x_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		     off_t off, struct fuse_file_info *fi,
		     enum fuse_readdir_flags flags)
{
	int fd = openat(base, rel(path), O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		fill(buf, de->d_name, NULL, 0, 0);
	closedir(d);
	return 0;
}

static int opened(const char *path, int fd, struct fuse_file_info *fi)
{
	if (fd < 0)
		return -errno;
	fi->fh = fd;
	if (is_bad(path))
		fi->direct_io = 1;
	return 0;
}

static int x_open(const char *path, struct fuse_file_info *fi)
{
	return opened(path, openat(base, rel(path), fi->flags), fi);
}

static int x_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return opened(path, openat(base, rel(path), fi->flags | O_CREAT, mode),
		      fi);
}

static int x_read(const char *path, char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	ssize_t n;

	if (is_bad(path)) {
		if (off >= bad_off) {
			fprintf(stderr, "eiofs: EIO: %s at %lld\n", bad_name,
				(long long)off);
			return -EIO;
		}
		if (off + (off_t)size > bad_off)
			size = bad_off - off;
	}
	n = pread(fi->fh, buf, size, off);
	return n < 0 ? -errno : n;
}

static int x_write(const char *path, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	ssize_t n = pwrite(fi->fh, buf, size, off);

	return n < 0 ? -errno : n;
}

static int x_release(const char *path, struct fuse_file_info *fi)
{
	close(fi->fh);
	return 0;
}

static int x_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return (datasync ? fdatasync(fi->fh) : fsync(fi->fh)) ? -errno : 0;
}

static int x_unlink(const char *path)
{
	return unlinkat(base, rel(path), 0) ? -errno : 0;
}

static int x_mkdir(const char *path, mode_t mode)
{
	return mkdirat(base, rel(path), mode) ? -errno : 0;
}

static int x_rmdir(const char *path)
{
	return unlinkat(base, rel(path), AT_REMOVEDIR) ? -errno : 0;
}

static int x_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags)
		return -EINVAL;
	return renameat(base, rel(from), base, rel(to)) ? -errno : 0;
}

static int x_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, ret = 0;

	if (fi)
		return ftruncate(fi->fh, size) ? -errno : 0;
	fd = openat(base, rel(path), O_WRONLY);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size))
		ret = -errno;
	close(fd);
	return ret;
}

static int x_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return fchmodat(base, rel(path), mode, 0) ? -errno : 0;
}

static int x_utimens(const char *path, const struct timespec ts[2],
		     struct fuse_file_info *fi)
{
	return utimensat(base, rel(path), ts, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int x_statfs(const char *path, struct statvfs *st)
{
	return fstatvfs(base, st) ? -errno : 0;
}

static void *x_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* what the backing directory says, at once */
	cfg->entry_timeout = cfg->attr_timeout = cfg->negative_timeout = 0;
	return NULL;
}

static const struct fuse_operations ops = {
	.init = x_init,
	.getattr = x_getattr,
	.readdir = x_readdir,
	.open = x_open,
	.create = x_create,
	.read = x_read,
	.write = x_write,
	.release = x_release,
	.fsync = x_fsync,
	.unlink = x_unlink,
	.mkdir = x_mkdir,
	.rmdir = x_rmdir,
	.rename = x_rename,
	.truncate = x_truncate,
	.chmod = x_chmod,
	.utimens = x_utimens,
	.statfs = x_statfs,
	/* no .flock: the kernel keeps flock() locks itself */
};

int main(int argc, char **argv)
{
	char *fargv[] = { argv[0], "-f", "-s", NULL, NULL };

	if (argc != 5) {
		fprintf(stderr,
			"usage: eiofs BACKING MOUNTPOINT NAME OFFSET\n");
		return 2;
	}
	base = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base < 0) {
		perror(argv[1]);
		return 1;
	}
	fargv[3] = argv[2];
	bad_name = argv[3];
	bad_off = strtoll(argv[4], NULL, 0);
	return fuse_main(4, fargv, &ops, NULL);
}
