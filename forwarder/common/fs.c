// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/utf8.h"
#include "common/util.h"

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	char *p, c;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (p = buf + 1; ; p++) {
		if (*p != '/' && *p)
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

int mkdir_parent(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	char *slash;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

void proc_exe(pid_t pid, char *buf, size_t size)
{
	char link[32];
	ssize_t n = -1;

	if (!size)
		return;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	if (pid > 0)
		n = readlink(link, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
	utf8_clean(buf);
}

int proc_fd_sockets(const char *proc, pid_t pid,
		    int (*fn)(void *arg, const char *fd, unsigned long ino),
		    void *arg)
{
	char path[PATH_MAX], link[64];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%d/fd", proc, (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		char fpath[PATH_MAX + 260];
		unsigned long ino;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fpath, sizeof(fpath), "%s/%s", path, de->d_name);
		n = readlink(fpath, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		ret = fn(arg, de->d_name, ino);
	}
	closedir(d);
	return ret;
}

int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *what = tmp, *slash;
	size_t off = 0;
	int fd, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		errf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += n;
	}
	if (fsync(fd))
		goto fail;
	ret = close(fd);
	fd = -1;
	if (ret)
		goto fail;
	what = path;
	if (rename(tmp, path))
		goto fail;
	/* the rename itself, durable */
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
			 (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
fail:
	ret = -errno;
	errf(err, errlen, "%s: %s", what, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}
