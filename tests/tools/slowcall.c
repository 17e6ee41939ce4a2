// SPDX-License-Identifier: MIT
/*
 * slowcall.so: an LD_PRELOAD shim that makes chosen libc calls slow, the
 * way a call stuck on a directory server (NSS with LDAP or SSSD) or a
 * congested disk (fdatasync) is slow. For tests that show such a call
 * never runs in iotsecd's loop (tests/host/loop-stall.sh).
 *
 *   SLOWCALL="getpwuid_r fdatasync ..."  the calls to slow down (names
 *                                        below); unset: none
 *   SLOWCALL_MS=5000                     how long each call first sleeps
 *   SLOWCALL_LOG=FILE                    one line "NAME tid" a slowed call
 *   SLOWCALL_PATH=/proc                  calls that take a path (opendir):
 *                                        only on this one, exactly
 *                                        (unset or empty: on any)
 *
 * Slowed: getpwuid_r getpwnam_r getpwuid getpwnam getgrgid getgrnam
 * getgrgid_r getgrnam_r (every NSS entry the forwarder ever used),
 * fdatasync fsync, opendir (a /proc walk held up by a process in D state).
 * Each sleeps, then does what libc does.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static void slow(const char *name)
{
	const char *which = getenv("SLOWCALL"), *log = getenv("SLOWCALL_LOG");
	const char *ms = getenv("SLOWCALL_MS");
	size_t len = strlen(name);
	struct timespec ts;
	long n;

	if (!which)
		return;
	for (const char *p = which; (p = strstr(p, name)); p += len) {
		if ((p == which || p[-1] == ' ' || p[-1] == ',') &&
		    (!p[len] || p[len] == ' ' || p[len] == ','))
			goto hit;
	}
	return;
hit:
	if (log) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			      0644);
		char line[128];
		int k;

		if (fd >= 0) {
			k = snprintf(line, sizeof(line), "%s %ld\n", name,
				     (long)syscall(SYS_gettid));
			if (write(fd, line, k) < 0)
				k = 0;
			close(fd);
		}
	}
	n = ms ? atol(ms) : 5000;
	ts.tv_sec = n / 1000;
	ts.tv_nsec = n % 1000 * 1000000;
	while (nanosleep(&ts, &ts))
		;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
	       struct passwd **res)
{
	slow("getpwuid_r");
	return NEXT(getpwuid_r)(uid, pw, buf, len, res);
}

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t len,
	       struct passwd **res)
{
	slow("getpwnam_r");
	return NEXT(getpwnam_r)(name, pw, buf, len, res);
}

struct passwd *getpwuid(uid_t uid)
{
	slow("getpwuid");
	return NEXT(getpwuid)(uid);
}

struct passwd *getpwnam(const char *name)
{
	slow("getpwnam");
	return NEXT(getpwnam)(name);
}

struct group *getgrgid(gid_t gid)
{
	slow("getgrgid");
	return NEXT(getgrgid)(gid);
}

struct group *getgrnam(const char *name)
{
	slow("getgrnam");
	return NEXT(getgrnam)(name);
}

int getgrgid_r(gid_t gid, struct group *g, char *buf, size_t len,
	       struct group **res)
{
	slow("getgrgid_r");
	return NEXT(getgrgid_r)(gid, g, buf, len, res);
}

int getgrnam_r(const char *name, struct group *g, char *buf, size_t len,
	       struct group **res)
{
	slow("getgrnam_r");
	return NEXT(getgrnam_r)(name, g, buf, len, res);
}

int fdatasync(int fd)
{
	slow("fdatasync");
	return NEXT(fdatasync)(fd);
}

int fsync(int fd)
{
	slow("fsync");
	return NEXT(fsync)(fd);
}

DIR *opendir(const char *path)
{
	const char *only = getenv("SLOWCALL_PATH");

	if (!only || !*only || !strcmp(path, only))
		slow("opendir");
	return NEXT(opendir)(path);
}
