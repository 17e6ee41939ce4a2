// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/utf8.h"

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
