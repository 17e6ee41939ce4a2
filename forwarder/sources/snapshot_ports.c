// SPDX-License-Identifier: MIT
/*
 * ListeningPorts: the sockets of /proc/net and who holds them.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "pipeline/serialize.h"
#include "sources/snapshot_priv.h"

struct sock_ent {
	unsigned long inode;
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;
	unsigned int uid;
	const char *proto;
	const char *family;
	pid_t pid;
};

struct sock_tab {
	struct sock_ent *e;
	size_t n, cap;
};

static int parse_addr(const char *hex, bool v6, char *out, size_t len)
{
	uint32_t a[4];
	size_t i;
	char w[9];

	if (strlen(hex) != (v6 ? 32 : 8))
		return -EINVAL;
	for (i = 0; i < (v6 ? 4 : 1); i++) {
		memcpy(w, hex + 8 * i, 8);
		w[8] = '\0';
		/* The kernel prints each native 32-bit word of the address. */
		a[i] = (uint32_t)strtoul(w, NULL, 16);
	}
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, out, len))
		return -EINVAL;
	return 0;
}

static void read_net(struct sock_tab *t, const char *proc, const char *file,
		     const char *proto, bool v6, bool udp)
{
	char path[PATH_MAX], line[512], local[64], remote[64];
	unsigned int st, uid;
	unsigned long inode;
	char *colon;
	FILE *f;

	snprintf(path, sizeof(path), "%s/net/%s", proc, file);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {	/* header */
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		struct sock_ent *e;

		if (sscanf(line, " %*u: %63s %63s %x %*s %*s %*s %u %*d %lu",
			   local, remote, &st, &uid, &inode) != 5)
			continue;
		/* TCP: LISTEN. UDP: bound and not connected (CLOSE, *:0). */
		if (!udp && st != 0x0a)
			continue;
		if (udp && (st != 0x07 || !strstr(remote, ":0000") ||
			    strspn(remote, "0") != strlen(remote) - 5))
			continue;
		colon = strchr(local, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 64;
			struct sock_ent *ne = realloc(t->e, cap * sizeof(*ne));

			if (!ne)
				break;
			t->e = ne;
			t->cap = cap;
		}
		e = &t->e[t->n];
		if (parse_addr(local, v6, e->addr, sizeof(e->addr)))
			continue;
		e->port = (unsigned int)strtoul(colon + 1, NULL, 16);
		e->uid = uid;
		e->inode = inode;
		e->proto = proto;
		e->family = v6 ? "IPv6" : "IPv4";
		e->pid = 0;
		t->n++;
	}
	fclose(f);
}

static int cmp_inode(const void *a, const void *b)
{
	const struct sock_ent *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Who holds each socket: the fds of every process. */
static void find_owners(struct sock_tab *t, const char *proc)
{
	char path[PATH_MAX], link[64];
	struct dirent *de, *fe;
	DIR *d, *fd;

	qsort(t->e, t->n, sizeof(*t->e), cmp_inode);
	d = opendir(proc);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/fd", proc, de->d_name);
		fd = opendir(path);
		if (!fd)
			continue;	/* gone, or not ours to see */
		while ((fe = readdir(fd))) {
			struct sock_ent key, *hit;
			char fpath[PATH_MAX + 300];
			ssize_t n;

			if (fe->d_name[0] == '.')
				continue;
			snprintf(fpath, sizeof(fpath), "%s/%s", path, fe->d_name);
			n = readlink(fpath, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (sscanf(link, "socket:[%lu]", &key.inode) != 1)
				continue;
			hit = bsearch(&key, t->e, t->n, sizeof(*t->e), cmp_inode);
			if (!hit)
				continue;
			/* Equal inodes sit together: mark them all. */
			while (hit > t->e && hit[-1].inode == key.inode)
				hit--;
			for (; hit < t->e + t->n && hit->inode == key.inode; hit++)
				if (!hit->pid)
					hit->pid = atoi(de->d_name);
		}
		closedir(fd);
	}
	closedir(d);
}

struct json_object *snapshot_listening_ports(const struct snapshot_config *c)
{
	struct sock_tab t = { 0 };
	struct json_object *payload;
	size_t i;

	read_net(&t, c->proc, "tcp", "TCP", false, false);
	read_net(&t, c->proc, "tcp6", "TCP", true, false);
	read_net(&t, c->proc, "udp", "UDP", false, true);
	read_net(&t, c->proc, "udp6", "UDP", true, true);
	find_owners(&t, c->proc);

	payload = json_object_new_array();
	for (i = 0; payload && i < t.n; i++) {
		struct sock_ent *e = &t.e[i];
		struct json_object *it = json_object_new_object();
		struct json_object *x = json_object_new_object();
		char path[PATH_MAX], exe[PATH_MAX];
		ssize_t n;

		if (!it || !x) {
			json_object_put(it);
			json_object_put(x);
			break;
		}
		snap_str(it, "LocalAddress", e->addr);
		snap_fmt(it, "LocalPort", "%u", e->port);
		snap_str(it, "Protocol", e->proto);
		snap_str(x, "Family", e->family);
		snap_fmt(x, "UserId", "%u", e->uid);
		snap_fmt(x, "Inode", "%lu", e->inode);
		if (e->pid) {
			snap_fmt(x, "ProcessId", "%d", (int)e->pid);
			snprintf(path, sizeof(path), "%s/%d/exe", c->proc,
				 (int)e->pid);
			n = readlink(path, exe, sizeof(exe) - 1);
			if (n > 0) {
				exe[n] = '\0';
				snap_clean(exe);
				snap_str(x, "Executable", exe);
			}
		}
		json_object_object_add(it, "ExtraDetails", x);
		json_object_array_add(payload, it);
	}
	free(t.e);
	return ser_event("Security", "Periodic", "ListeningPorts", payload);
}
