// SPDX-License-Identifier: MIT
/*
 * ListeningPorts: the sockets of /proc/net and who holds them.
 *
 * Two steps (snapshot.h): the collection (snapshot_ports_collect(): the
 * /proc/net tables, then every process's fds for the owners, then their
 * exe links) touches no JSON and no state of the daemon, so that a thread
 * can run it (ports_job_start()) while the loop goes on; the event is then
 * built on the loop (snapshot_ports_event()). The walk of /proc/<pid>/fd
 * costs one readlink() per fd on the device, and /proc can be slow (a
 * process in D state, a contended mm lock): the loop must not wait for it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "common/fs.h"
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
	char *exe;		/* the owner's, cleaned; NULL: none known */
};

/* What snapshot_ports_collect() found: plain data, no JSON. */
struct ports_scan {
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

static void read_net(struct ports_scan *t, const char *proc, const char *file,
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
		e->exe = NULL;
		t->n++;
	}
	fclose(f);
}

static int cmp_inode(const void *a, const void *b)
{
	const struct sock_ent *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

struct owner_walk {
	struct ports_scan *t;
	pid_t pid;
};

static int mark_owner(void *arg, const char *fd, unsigned long ino)
{
	struct owner_walk *w = arg;
	struct ports_scan *t = w->t;
	struct sock_ent key = { .inode = ino }, *hit;

	(void)fd;
	hit = bsearch(&key, t->e, t->n, sizeof(*t->e), cmp_inode);
	if (!hit)
		return 0;
	/* Equal inodes sit together: mark them all. */
	while (hit > t->e && hit[-1].inode == ino)
		hit--;
	for (; hit < t->e + t->n && hit->inode == ino; hit++)
		if (!hit->pid)
			hit->pid = w->pid;
	return 0;
}

/* Who holds each socket: the fds of every process. */
static void find_owners(struct ports_scan *t, const char *proc)
{
	struct owner_walk w = { .t = t };
	struct dirent *de;
	DIR *d;

	qsort(t->e, t->n, sizeof(*t->e), cmp_inode);
	d = opendir(proc);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		w.pid = atoi(de->d_name);
		/* gone, or not ours to see: skipped */
		proc_fd_sockets(proc, w.pid, mark_owner, &w);
	}
	closedir(d);
}

/* The owners' executables: one readlink() per owned socket. */
static void find_exes(struct ports_scan *t, const char *proc)
{
	char path[PATH_MAX], exe[PATH_MAX];
	ssize_t n;
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct sock_ent *e = &t->e[i];

		if (!e->pid)
			continue;
		snprintf(path, sizeof(path), "%s/%d/exe", proc, (int)e->pid);
		n = readlink(path, exe, sizeof(exe) - 1);
		if (n <= 0)
			continue;
		exe[n] = '\0';
		snap_clean(exe);
		e->exe = strdup(exe);	/* NULL: left out, as unreadable */
	}
}

struct ports_scan *snapshot_ports_collect(const char *proc)
{
	struct ports_scan *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	read_net(t, proc, "tcp", "TCP", false, false);
	read_net(t, proc, "tcp6", "TCP", true, false);
	read_net(t, proc, "udp", "UDP", false, true);
	read_net(t, proc, "udp6", "UDP", true, true);
	find_owners(t, proc);
	find_exes(t, proc);
	return t;
}

void snapshot_ports_free(struct ports_scan *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		free(t->e[i].exe);
	free(t->e);
	free(t);
}

struct json_object *snapshot_ports_event(const struct ports_scan *t)
{
	struct json_object *payload;
	size_t i;

	payload = json_object_new_array();
	for (i = 0; payload && i < t->n; i++) {
		const struct sock_ent *e = &t->e[i];
		struct json_object *it = json_object_new_object();
		struct json_object *x = json_object_new_object();

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
		if (e->pid)
			snap_fmt(x, "ProcessId", "%d", (int)e->pid);
		if (e->exe)
			snap_str(x, "Executable", e->exe);
		json_object_object_add(it, "ExtraDetails", x);
		json_object_array_add(payload, it);
	}
	return ser_event("Security", "Periodic", "ListeningPorts", payload);
}

struct json_object *snapshot_listening_ports(const struct snapshot_config *c)
{
	struct ports_scan *t = snapshot_ports_collect(c->proc);
	struct json_object *ev;

	if (!t)
		return NULL;
	ev = snapshot_ports_event(t);
	snapshot_ports_free(t);
	return ev;
}

/* ---- the collection in a thread ---- */

struct ports_job {
	pthread_t thread;
	int efd;		/* written once the scan is there, -1: none */
	char *proc;		/* the job's own copy */
	struct ports_scan *scan;
};

static void *ports_worker(void *arg)
{
	struct ports_job *j = arg;
	uint64_t one = 1;

	j->scan = snapshot_ports_collect(j->proc);
	/* (an eventfd's counter cannot overflow from one write a job) */
	if (write(j->efd, &one, sizeof(one)) < 0)
		return NULL;
	return NULL;
}

int ports_job_start(struct ports_job **jp, const char *proc, int efd)
{
	struct ports_job *j;
	int ret;

	*jp = NULL;
	if (efd < 0)
		return -EBADF;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->proc = strdup(proc);
	j->efd = efd;
	if (!j->proc) {
		free(j);
		return -ENOMEM;
	}
	ret = pthread_create(&j->thread, NULL, ports_worker, j);
	if (ret) {
		free(j->proc);
		free(j);
		return -ret;
	}
	*jp = j;
	return 0;
}

const char *ports_job_proc(const struct ports_job *j)
{
	return j->proc;
}

struct ports_scan *ports_job_end(struct ports_job *j)
{
	struct ports_scan *t;

	if (!j)
		return NULL;
	pthread_join(j->thread, NULL);
	t = j->scan;
	free(j->proc);
	free(j);
	return t;
}
