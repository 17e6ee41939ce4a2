// SPDX-License-Identifier: MIT
/*
 * Periodic snapshots: the test changes the system (opens sockets) or
 * points the snapshot at files it wrote (passwd, group, shadow,
 * sshd_config, os-release, a tree to walk) and checks what comes out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <json-c/json.h>

#include "kselftest_harness.h"
#include "sources/snapshot.h"

static void dump(const char *name, struct json_object *ev)
{
	const char *dir = getenv("IOTSEC_EVENT_DUMP");
	char path[PATH_MAX];

	if (!dir || !ev)
		return;
	snprintf(path, sizeof(path), "%s/snapshot-%s-%d.json", dir, name,
		 (int)getpid());
	json_object_to_file_ext(path, ev, JSON_C_TO_STRING_PLAIN);
}

static const char *get(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *extra_of(struct json_object *it)
{
	struct json_object *x;

	return json_object_object_get_ex(it, "ExtraDetails", &x) ? x : NULL;
}

static struct json_object *payload(struct json_object *ev)
{
	struct json_object *p;

	return json_object_object_get_ex(ev, "Payload", &p) ? p : NULL;
}

/* The payload item whose KEY is VALUE (and KEY2 VALUE2 if given). */
static struct json_object *find(struct json_object *ev, const char *key,
				const char *value, const char *key2,
				const char *value2)
{
	struct json_object *p = payload(ev);
	size_t i;

	for (i = 0; p && i < json_object_array_length(p); i++) {
		struct json_object *it = json_object_array_get_idx(p, i);
		const char *v = get(it, key), *v2;

		if (!v || strcmp(v, value))
			continue;
		if (key2) {
			v2 = get(it, key2);
			if (!v2 || strcmp(v2, value2))
				continue;
		}
		return it;
	}
	return NULL;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	chmod(path, mode);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int bound(int family, int type, const char *addr, int do_listen)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		in->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &in->sin_addr);
		len = sizeof(*in);
	} else {
		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
		len = sizeof(*in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) ||
	    (do_listen && listen(fd, 4))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Sockets the test opens appear with port, address and our pid. */
TEST(listening_ports_show_our_sockets)
{
	struct snapshot_config c;
	struct json_object *ev, *it;
	char port[3][16], pid[16], exe[PATH_MAX];
	int fd[3], i, have6;
	ssize_t n;

	snapshot_config_defaults(&c);
	fd[0] = bound(AF_INET, SOCK_STREAM, "127.0.0.1", 1);
	ASSERT_LE(0, fd[0]);
	fd[1] = bound(AF_INET, SOCK_DGRAM, "127.0.0.1", 0);
	ASSERT_LE(0, fd[1]);
	fd[2] = bound(AF_INET6, SOCK_STREAM, "::1", 1);
	have6 = fd[2] >= 0;
	for (i = 0; i < 3; i++)
		snprintf(port[i], sizeof(port[i]), "%d",
			 fd[i] >= 0 ? port_of(fd[i]) : -1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';

	ev = snapshot_listening_ports(&c);
	ASSERT_NE(NULL, ev);
	dump("ports", ev);
	EXPECT_STREQ("ListeningPorts", get(ev, "Name"));
	EXPECT_STREQ("Periodic", get(ev, "Category"));

	it = find(ev, "LocalPort", port[0], "Protocol", "TCP");
	ASSERT_NE(NULL, it);
	EXPECT_STREQ("127.0.0.1", get(it, "LocalAddress"));
	EXPECT_STREQ(pid, get(extra_of(it), "ProcessId"));
	EXPECT_STREQ(exe, get(extra_of(it), "Executable"));

	it = find(ev, "LocalPort", port[1], "Protocol", "UDP");
	ASSERT_NE(NULL, it);
	EXPECT_STREQ("127.0.0.1", get(it, "LocalAddress"));
	EXPECT_STREQ(pid, get(extra_of(it), "ProcessId"));

	if (have6) {
		it = find(ev, "LocalPort", port[2], "Protocol", "TCP");
		ASSERT_NE(NULL, it);
		EXPECT_STREQ("::1", get(it, "LocalAddress"));
		EXPECT_STREQ("IPv6", get(extra_of(it), "Family"));
		EXPECT_STREQ(pid, get(extra_of(it), "ProcessId"));
	} else {
		TH_LOG("no IPv6 loopback here: IPv6 part skipped");
	}
	json_object_put(ev);

	/* Closed: gone from the next snapshot. */
	for (i = 0; i < 3; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	ev = snapshot_listening_ports(&c);
	ASSERT_NE(NULL, ev);
	it = find(ev, "LocalPort", port[0], "Protocol", "TCP");
	EXPECT_TRUE(!it || strcmp(get(extra_of(it), "ProcessId") ?: "", pid));
	json_object_put(ev);
}

/* A connected TCP socket is not listening. */
TEST(connected_socket_is_not_listed)
{
	struct snapshot_config c;
	struct json_object *ev;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char port[16];
	int l, s, a;

	snapshot_config_defaults(&c);
	l = bound(AF_INET, SOCK_STREAM, "127.0.0.1", 1);
	ASSERT_LE(0, l);
	sa.sin_port = htons(port_of(l));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	s = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_EQ(0, connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	a = accept(l, NULL, NULL);
	ASSERT_LE(0, a);
	snprintf(port, sizeof(port), "%d", port_of(s));
	ev = snapshot_listening_ports(&c);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(NULL, find(ev, "LocalPort", port, "Protocol", "TCP"));
	json_object_put(ev);
	close(a);
	close(s);
	close(l);
}

FIXTURE(files) {
	char dir[64];
	char path[8][160];
	struct snapshot_config c;
};

enum { P_PASSWD, P_GROUP, P_SHADOW, P_SSHD, P_OSREL, P_TREE, P_SYSMOD, P_INC };

FIXTURE_SETUP(files)
{
	static const char *const names[] = {
		"passwd", "group", "shadow", "sshd_config", "os-release",
		"tree", "sys_module", "sshd_config.d",
	};
	int i;

	strcpy(self->dir, "/tmp/iotsec-snap-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	for (i = 0; i < 8; i++)
		snprintf(self->path[i], sizeof(self->path[i]), "%s/%s",
			 self->dir, names[i]);
	snapshot_config_defaults(&self->c);
	self->c.passwd = self->path[P_PASSWD];
	self->c.group = self->path[P_GROUP];
	self->c.shadow = self->path[P_SHADOW];
	self->c.sshd_config = self->path[P_SSHD];
	self->c.os_release = self->path[P_OSREL];
	self->c.sys_module = self->path[P_SYSMOD];
	memset(self->c.ww_roots, 0, sizeof(self->c.ww_roots));
	self->c.ww_roots[0] = self->path[P_TREE];

	ASSERT_EQ(0, write_file(self->path[P_PASSWD],
		"root:x:0:0:root:/root:/bin/sh\n"
		"alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
		"bob:x:1001:100::/home/bob:/bin/false\n", 0644));
	ASSERT_EQ(0, write_file(self->path[P_GROUP],
		"root:x:0:\nwheel:x:10:alice,bob\nusers:x:100:\n"
		"alice:x:1000:\nvideo:x:44:alice\n", 0644));
	ASSERT_EQ(0, write_file(self->path[P_SHADOW],
		"root:$6$abc$def:19000:0:99999:7:::\n"
		"alice:!:19000:0:99999:7:::\n", 0640));
	ASSERT_EQ(0, write_file(self->path[P_OSREL],
		"NAME=\"Yocto Test\"\nID=poky\nVERSION_ID=\"4.0\"\n"
		"PRETTY_NAME=\"Yocto Test 4.0\"\n", 0644));
	ASSERT_EQ(0, mkdir(self->path[P_TREE], 0755));
	ASSERT_EQ(0, mkdir(self->path[P_SYSMOD], 0755));
}

FIXTURE_TEARDOWN(files)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("cleanup failed");
}

TEST_F(files, local_users_with_groups)
{
	struct json_object *ev = snapshot_local_users(&self->c), *it;

	ASSERT_NE(NULL, ev);
	dump("users", ev);
	EXPECT_EQ(3, (int)json_object_array_length(payload(ev)));
	it = find(ev, "UserName", "alice", NULL, NULL);
	ASSERT_NE(NULL, it);
	EXPECT_STREQ("1000", get(it, "UserId"));
	EXPECT_STREQ("1000;10;44", get(it, "GroupIds"));
	EXPECT_STREQ("alice;wheel;video", get(it, "GroupNames"));
	EXPECT_STREQ("/home/alice", get(extra_of(it), "HomeDirectory"));
	it = find(ev, "UserName", "bob", NULL, NULL);
	ASSERT_NE(NULL, it);
	EXPECT_STREQ("100;10", get(it, "GroupIds"));
	EXPECT_STREQ("users;wheel", get(it, "GroupNames"));
	json_object_put(ev);
}

TEST_F(files, system_information)
{
	struct json_object *ev = snapshot_system_information(&self->c), *it, *v;
	long long memtotal = 0;
	struct utsname u;
	char line[256];
	FILE *f;

	ASSERT_NE(NULL, ev);
	dump("sysinfo", ev);
	it = json_object_array_get_idx(payload(ev), 0);
	ASSERT_NE(NULL, it);
	ASSERT_EQ(0, uname(&u));
	EXPECT_STREQ("Yocto Test", get(it, "OSName"));
	EXPECT_STREQ("4.0", get(it, "OSVersion"));
	EXPECT_STREQ("poky", get(it, "OSVendor"));
	EXPECT_STREQ(u.machine, get(it, "OsArchitecture"));
	EXPECT_STREQ(u.nodename, get(it, "HostName"));
	EXPECT_STREQ(u.release, get(extra_of(it), "KernelRelease"));
	f = fopen("/proc/meminfo", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lld", &memtotal) == 1)
			break;
	fclose(f);
	ASSERT_TRUE(json_object_object_get_ex(it, "TotalPhysicalMemoryInKB", &v));
	EXPECT_TRUE(json_object_is_type(v, json_type_int));
	EXPECT_EQ(memtotal, json_object_get_int64(v));
	ASSERT_TRUE(json_object_object_get_ex(it, "FreePhysicalMemoryInKB", &v));
	EXPECT_LT(0, json_object_get_int64(v));
	EXPECT_GE(memtotal, json_object_get_int64(v));
	json_object_put(ev);
}

static const char *result_of(struct json_object *ev, const char *id)
{
	return get(find(ev, "CceId", id, NULL, NULL), "Result");
}

/* A device that gets every check wrong, then one that gets them right. */
TEST_F(files, baseline_checks_fail_then_pass)
{
	struct json_object *ev, *it;
	char path[256], inc[256];

	/* Root over SSH in an included file, which sshd reads first. */
	ASSERT_EQ(0, mkdir(self->path[P_INC], 0755));
	snprintf(inc, sizeof(inc), "%s/10-root.conf", self->path[P_INC]);
	ASSERT_EQ(0, write_file(inc, "PermitRootLogin yes\n", 0644));
	snprintf(path, sizeof(path), "Include %s/*.conf\nPermitRootLogin no\n"
		 "PermitEmptyPasswords yes\n", self->path[P_INC]);
	ASSERT_EQ(0, write_file(self->path[P_SSHD], path, 0644));
	ASSERT_EQ(0, write_file(self->path[P_SHADOW],
		"root:$6$abc$def:19000:0:99999:7:::\neve::19000:0:99999:7:::\n",
		0644));
	ASSERT_EQ(0, write_file(self->path[P_PASSWD],
		"root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n", 0666));
	snprintf(path, sizeof(path), "%s/bin", self->path[P_TREE]);
	ASSERT_EQ(0, mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/bin/tool", self->path[P_TREE]);
	ASSERT_EQ(0, write_file(path, "#!/bin/sh\n", 0777));
	snprintf(path, sizeof(path), "%s/tmp", self->path[P_TREE]);
	ASSERT_EQ(0, mkdir(path, 0755));
	ASSERT_EQ(0, chmod(path, 01777));	/* sticky: fine */

	ev = snapshot_os_baseline(&self->c);
	ASSERT_NE(NULL, ev);
	dump("baseline-fail", ev);
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-001"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-002"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-003"));	/* default yes */
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-004"));
	it = find(ev, "CceId", "iotsec-bl-004", NULL, NULL);
	EXPECT_STREQ("eve", get(extra_of(it), "Accounts"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-005"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-006"));
	it = find(ev, "CceId", "iotsec-bl-006", NULL, NULL);
	snprintf(path, sizeof(path), "%s/bin/tool", self->path[P_TREE]);
	EXPECT_STREQ(path, get(extra_of(it), "Paths"));
	EXPECT_STREQ("1", get(extra_of(it), "Count"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-007"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-008"));
	EXPECT_STREQ("Fail", result_of(ev, "iotsec-bl-009"));
	json_object_put(ev);

	/* Fixed. */
	unlink(inc);
	ASSERT_EQ(0, write_file(self->path[P_SSHD],
		"# hardened\nPermitRootLogin no\nPasswordAuthentication no\n"
		"Match User backup\n  PermitRootLogin yes\n", 0644));
	ASSERT_EQ(0, write_file(self->path[P_SHADOW],
		"root:$6$abc$def:19000:0:99999:7:::\neve:!:19000:0:99999:7:::\n",
		0640));
	ASSERT_EQ(0, write_file(self->path[P_PASSWD],
		"root:x:0:0::/root:/bin/sh\n", 0644));
	snprintf(path, sizeof(path), "%s/bin/tool", self->path[P_TREE]);
	ASSERT_EQ(0, chmod(path, 0755));
	snprintf(path, sizeof(path), "%s/iotsec", self->path[P_SYSMOD]);
	ASSERT_EQ(0, mkdir(path, 0755));

	ev = snapshot_os_baseline(&self->c);
	ASSERT_NE(NULL, ev);
	dump("baseline-pass", ev);
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-001"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-002"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-003"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-004"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-005"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-006"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-007"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-008"));
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-009"));
	json_object_put(ev);
}

/* Checks that cannot run say Err with a reason, never Pass. */
TEST_F(files, baseline_errors)
{
	struct json_object *ev, *it;

	self->c.shadow = "/nonexistent/shadow";
	ev = snapshot_os_baseline(&self->c);
	ASSERT_NE(NULL, ev);
	it = find(ev, "CceId", "iotsec-bl-004", NULL, NULL);
	EXPECT_STREQ("Err", get(it, "Result"));
	EXPECT_NE(NULL, strstr(get(it, "Error"), "No such file"));
	/* No sshd_config: sshd is not there, nothing to fail. */
	EXPECT_STREQ("Pass", result_of(ev, "iotsec-bl-001"));
	json_object_put(ev);
}

/* The walk stays within its budget and says when it stopped early. */
TEST_F(files, world_writable_walk_is_bounded)
{
	struct json_object *ev, *it;
	char path[256];
	int i;

	for (i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "%s/f%02d", self->path[P_TREE], i);
		ASSERT_EQ(0, write_file(path, "", 0644));
	}
	snprintf(path, sizeof(path), "%s/zz-ww", self->path[P_TREE]);
	ASSERT_EQ(0, write_file(path, "", 0666));
	self->c.ww_max_entries = 5;
	ev = snapshot_os_baseline(&self->c);
	ASSERT_NE(NULL, ev);
	it = find(ev, "CceId", "iotsec-bl-006", NULL, NULL);
	ASSERT_NE(NULL, it);
	EXPECT_NE(NULL, get(extra_of(it), "Truncated"));
	json_object_put(ev);

	self->c.ww_max_entries = 1000;
	ev = snapshot_os_baseline(&self->c);
	ASSERT_NE(NULL, ev);
	it = find(ev, "CceId", "iotsec-bl-006", NULL, NULL);
	EXPECT_EQ(NULL, get(extra_of(it), "Truncated"));
	EXPECT_STREQ("Fail", get(it, "Result"));
	EXPECT_STREQ(path, get(extra_of(it), "Paths"));
	json_object_put(ev);
}

/* The real system's snapshots are well-formed (for the ajv check too). */
TEST(real_system_snapshots)
{
	struct snapshot_config c;
	struct json_object *ev[4];
	int i;

	snapshot_config_defaults(&c);
	ev[0] = snapshot_listening_ports(&c);
	ev[1] = snapshot_local_users(&c);
	ev[2] = snapshot_system_information(&c);
	ev[3] = snapshot_os_baseline(&c);
	for (i = 0; i < 4; i++) {
		ASSERT_NE(NULL, ev[i]);
		EXPECT_STREQ("Periodic", get(ev[i], "Category"));
	}
	EXPECT_LT(0, (int)json_object_array_length(payload(ev[1])));
	EXPECT_EQ(10, (int)json_object_array_length(payload(ev[3])));
	dump("real-ports", ev[0]);
	dump("real-users", ev[1]);
	dump("real-sysinfo", ev[2]);
	dump("real-baseline", ev[3]);
	for (i = 0; i < 4; i++)
		json_object_put(ev[i]);
}

TEST_HARNESS_MAIN
