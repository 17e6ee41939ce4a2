// SPDX-License-Identifier: MIT
/*
 * Enrichment caches.
 *
 * Process table. A hash of entries by tgid, each with the exe and argv to
 * name the process by, and a list by last use: a new entry beyond
 * ENRICH_MAX_PROCS entries or ENRICH_MAX_PROC_BYTES of names evicts the
 * least recently used one (the table is a cache: what it misses is looked
 * up in /proc, or stays unnamed).
 *
 * Pids are reused, and exit events may be off or lost, so an entry may
 * outlive its process. What the events carry to tell two processes with
 * one pid apart is their time (CLOCK_BOOTTIME, like the start time in
 * /proc/PID/stat): each entry keeps a bound on its process's start (the
 * time of the exec or fork event it was learned from, or the start time
 * /proc gave), and before it names an event:
 *
 *  - when /proc/PID/stat can be read and shows a process that started no
 *    later than the event, that is the event's process: the entry stands
 *    if it started no later than the entry's bound, else the entry was a
 *    dead process's (dropped, counted in stale; /proc names the event);
 *  - otherwise (the process is gone, or replaying without /proc) the
 *    event's own comm (its main thread's) and parent must match those the
 *    entry was learned with, where both are known; a mismatch drops it.
 *
 * Reading /proc/PID/stat costs more than the rest of the enrichment, so
 * an entry confirmed (learnt, or checked in /proc) less than
 * ENRICH_RECHECK_NS before the event (event time) gets the second check
 * only: the kernel hands out pids in turn, so a pid comes back only after
 * the allocator went round all of pid_max (tens of thousands of forks),
 * which does not fit in that time.
 *
 * An exec or fork event replaces the entry of its pid outright. So with
 * fork events on, a reused pid is always seen; without them, the checks
 * above catch it, to the start time's resolution (one tick, 10 ms).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/users.h"
#include "pipeline/enrich.h"

#define PROC_BUCKETS 4096

struct enrich_proc {
	struct enrich_proc *next;	/* hash chain */
	struct enrich_proc *older, *newer;	/* by last use */
	uint32_t tgid;
	uint32_t ptgid;			/* parent when learned; 0: unknown */
	uint64_t start_tick;		/* its start was at or before this */
	uint64_t checked_ns;		/* event time it was last confirmed */
	char comm[16];			/* when learned; "": unknown */
	uint32_t exe_len, argv_len;
	char data[];			/* exe, then argv */
};

struct enrich_cg {
	uint64_t id;
	char container[65];	/* "" when none */
};

struct enrich_user {
	uint32_t uid;
	uint64_t gen;		/* users_generation() it was looked up in */
	char name[33];		/* "" when unknown */
};

int enrich_init(struct enrich *e, bool users, bool parent, bool container,
		bool use_proc)
{
	long hz = sysconf(_SC_CLK_TCK);

	memset(e, 0, sizeof(*e));
	e->users = users;
	e->parent = parent;
	e->container = container;
	e->use_proc = use_proc;
	e->proc_root = "/proc";
	e->tick_ns = 1000000000ull / (hz > 0 ? hz : 100);
	e->procs = calloc(PROC_BUCKETS, sizeof(*e->procs));
	e->cgroups = calloc(ENRICH_MAX_CGROUPS, sizeof(*e->cgroups));
	e->users_tab = calloc(ENRICH_MAX_USERS, sizeof(*e->users_tab));
	if (!e->procs || !e->cgroups || !e->users_tab) {
		enrich_fini(e);
		return -ENOMEM;
	}
	return 0;
}

void enrich_fini(struct enrich *e)
{
	if (e->procs) {
		for (size_t i = 0; i < PROC_BUCKETS; i++) {
			struct enrich_proc *p = e->procs[i], *n;

			for (; p; p = n) {
				n = p->next;
				free(p);
			}
		}
	}
	free(e->procs);
	free(e->cgroups);
	free(e->users_tab);
	memset(e, 0, sizeof(*e));
}

static struct enrich_proc **proc_slot(struct enrich *e, uint32_t tgid)
{
	struct enrich_proc **pp = &e->procs[(tgid * 2654435761U) %
					    PROC_BUCKETS];

	while (*pp && (*pp)->tgid != tgid)
		pp = &(*pp)->next;
	return pp;
}

static size_t proc_size(const struct enrich_proc *p)
{
	return sizeof(*p) + p->exe_len + p->argv_len;
}

static void lru_del(struct enrich *e, struct enrich_proc *p)
{
	if (p->older)
		p->older->newer = p->newer;
	else
		e->lru_old = p->newer;
	if (p->newer)
		p->newer->older = p->older;
	else
		e->lru_new = p->older;
	p->older = p->newer = NULL;
}

static void lru_add(struct enrich *e, struct enrich_proc *p)
{
	p->older = e->lru_new;
	p->newer = NULL;
	if (e->lru_new)
		e->lru_new->newer = p;
	else
		e->lru_old = p;
	e->lru_new = p;
}

static void proc_forget(struct enrich *e, uint32_t tgid)
{
	struct enrich_proc **pp = proc_slot(e, tgid), *p = *pp;

	if (!p)
		return;
	*pp = p->next;
	lru_del(e, p);
	e->n_procs--;
	e->proc_bytes -= proc_size(p);
	free(p);
}

/* Boot time in ns to start-time ticks; 0 (unknown): UINT64_MAX. */
static uint64_t ticks(const struct enrich *e, uint64_t ns)
{
	return ns ? ns / e->tick_ns : UINT64_MAX;
}

static void comm_set(char out[16], struct ev_str comm)
{
	size_t n = comm.s ? comm.len : 0;

	if (n > 15)
		n = 15;
	memcpy(out, comm.s ? comm.s : "", n);
	out[n] = '\0';
}

/*
 * TGID is named EXE and ARGV from now on: started at or before tick
 * START, child of PTGID (0: unknown), called COMM.
 */
static struct enrich_proc *proc_set(struct enrich *e, uint32_t tgid,
				    struct ev_str exe, struct ev_str argv,
				    uint64_t start, uint32_t ptgid,
				    struct ev_str comm, uint64_t now_ns)
{
	struct enrich_proc *p;
	size_t size = sizeof(*p) + exe.len + argv.len;

	/* made first: EXE and ARGV may be another entry's, evicted below */
	p = malloc(size);
	if (p) {
		p->tgid = tgid;
		p->ptgid = ptgid;
		p->start_tick = start;
		p->checked_ns = now_ns;
		comm_set(p->comm, comm);
		p->exe_len = exe.len;
		p->argv_len = argv.len;
		if (exe.len)
			memcpy(p->data, exe.s, exe.len);
		if (argv.len)
			memcpy(p->data + exe.len, argv.s, argv.len);
	}
	proc_forget(e, tgid);
	/*
	 * Not kept when large: evicting to make room for one entry then
	 * never reaches the most recently used ones (the event's own).
	 */
	if (!p || size > ENRICH_MAX_PROC_BYTES / 64) {
		free(p);
		return NULL;
	}
	/* bounded: the least recently used make room */
	while (e->lru_old && (e->n_procs >= ENRICH_MAX_PROCS ||
			      e->proc_bytes + size > ENRICH_MAX_PROC_BYTES)) {
		proc_forget(e, e->lru_old->tgid);
		e->evicted++;
	}
	p->next = NULL;
	*proc_slot(e, tgid) = p;
	lru_add(e, p);
	e->n_procs++;
	e->proc_bytes += size;
	return p;
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len);
	close(fd);
	return n;
}

struct proc_stat {
	uint64_t start;		/* ticks since boot */
	uint32_t ppid;
	char comm[16];
};

/* /proc/TGID/stat: false when the process is not there (or no /proc). */
static bool proc_stat(struct enrich *e, uint32_t tgid, struct proc_stat *ps)
{
	char path[64], buf[1024], *p, *c;
	unsigned long long start;
	unsigned int ppid;
	ssize_t n;

	if (!e->use_proc || !tgid)
		return false;
	snprintf(path, sizeof(path), "%s/%u/stat", e->proc_root, tgid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold ") ", the last ends it */
	c = strchr(buf, '(');
	p = strrchr(buf, ')');
	if (!c || !p || p < c)
		return false;
	*p = '\0';
	comm_set(ps->comm, (struct ev_str){ c + 1, strlen(c + 1) });
	/* field 4 ppid, field 22 starttime */
	if (sscanf(p + 2, "%*c %u %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
		   "%*s %*s %*s %*s %*s %*s %llu", &ppid, &start) != 2)
		return false;
	ps->ppid = ppid;
	ps->start = start;
	return true;
}

/* TGID from /proc (PS: its stat, read already), for event EV. */
static struct enrich_proc *proc_read(struct enrich *e, uint32_t tgid,
				     const struct proc_stat *ps,
				     const struct iotsec_event *ev)
{
	char path[64], exe[4096], argv[4096];
	ssize_t n, m;

	/* a process that started after the event is not the event's */
	if (ps->start > ticks(e, ev->time_ns))
		return NULL;
	e->proc_reads++;
	snprintf(path, sizeof(path), "%s/%u/exe", e->proc_root, tgid);
	n = readlink(path, exe, sizeof(exe));
	if (n <= 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%u/cmdline", e->proc_root, tgid);
	m = read_file(path, argv, sizeof(argv));
	if (m < 0)
		m = 0;
	return proc_set(e, tgid, (struct ev_str){ exe, n },
			(struct ev_str){ argv, m }, ps->start, ps->ppid,
			(struct ev_str){ ps->comm, strlen(ps->comm) },
			ev->time_ns);
}

/* Confirmed less than ENRICH_RECHECK_NS from EV's time (either side). */
static bool recent(const struct enrich_proc *p, const struct iotsec_event *ev)
{
	uint64_t d = ev->time_ns > p->checked_ns ? ev->time_ns - p->checked_ns :
						    p->checked_ns - ev->time_ns;

	return ev->time_ns && p->checked_ns && d < ENRICH_RECHECK_NS;
}

/* EV's comm and parent disagree with those P was learnt with. */
static bool mismatch(const struct enrich_proc *p, const struct iotsec_event *ev)
{
	char comm[16];

	comm_set(comm, ev->comm);
	return (ev->ptgid && p->ptgid && ev->ptgid != p->ptgid) ||
	       (ev->tid == ev->tgid && comm[0] && p->comm[0] &&
		strcmp(comm, p->comm));
}

/*
 * The entry of TGID for event EV, checked (see the top of the file);
 * OWN: TGID is EV's process (not its parent), whose comm and parent EV
 * carries.
 */
static struct enrich_proc *proc_get(struct enrich *e, uint32_t tgid,
				    const struct iotsec_event *ev, bool own)
{
	struct enrich_proc *p = *proc_slot(e, tgid);
	struct proc_stat ps;
	bool asked = false, live = false;

	if (!tgid)
		return NULL;
	if (!p || !recent(p, ev)) {
		asked = true;
		live = proc_stat(e, tgid, &ps) &&
		       ps.start <= ticks(e, ev->time_ns);
	}
	if (p && live) {
		if (ps.start > p->start_tick) {
			/* /proc has a later process than the entry's */
			e->stale++;
			proc_forget(e, tgid);
			p = NULL;
		} else {
			/* it is the one: as it is now */
			p->start_tick = ps.start;
			p->checked_ns = ev->time_ns;
			p->ptgid = ps.ppid;
			memcpy(p->comm, ps.comm, sizeof(p->comm));
		}
	} else if (p && own && mismatch(p, ev)) {
		e->stale++;
		proc_forget(e, tgid);
		p = NULL;
		if (!asked)
			live = proc_stat(e, tgid, &ps) &&
			       ps.start <= ticks(e, ev->time_ns);
	}
	if (p) {
		lru_del(e, p);
		lru_add(e, p);
		return p;
	}
	return live ? proc_read(e, tgid, &ps, ev) : NULL;
}

const char *enrich_container_id(const char *text, char out[65])
{
	/*
	 * Runtimes name a container's cgroup after its 64-hex id:
	 * .../docker-<id>.scope, /docker/<id>, .../cri-containerd-<id>.scope,
	 * /libpod-<id>.scope, /kubepods/.../<id>. The last such run wins.
	 */
	const char *p = text, *found = NULL;
	size_t run = 0;

	for (; ; p++) {
		if (*p && isxdigit((unsigned char)*p) &&
		    !isupper((unsigned char)*p)) {
			run++;
			continue;
		}
		if (run == 64 && (p - run == text || !isalnum((unsigned char)
							       p[-run - 1])))
			found = p - run;
		run = 0;
		if (!*p)
			break;
	}
	if (!found)
		return NULL;
	memcpy(out, found, 64);
	out[64] = '\0';
	return out;
}

static const char *container_of(struct enrich *e, const struct iotsec_event *ev)
{
	struct enrich_cg *c;
	char path[64], buf[4096], id[65];
	ssize_t n;

	if (!ev->cgroup_id)
		return NULL;
	c = &e->cgroups[ev->cgroup_id % ENRICH_MAX_CGROUPS];
	if (c->id == ev->cgroup_id)
		return c->container[0] ? c->container : NULL;
	if (!e->use_proc)
		return NULL;
	snprintf(path, sizeof(path), "%s/%u/cgroup", e->proc_root, ev->tgid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;	/* gone: try again with the next event */
	buf[n] = '\0';
	c->id = ev->cgroup_id;
	if (enrich_container_id(buf, id))
		memcpy(c->container, id, 65);
	else
		c->container[0] = '\0';
	return c->container[0] ? c->container : NULL;
}

/* From /etc/passwd only (common/users.h): NSS could wait on the network. */
static const char *user_of(struct enrich *e, uint32_t uid)
{
	struct enrich_user *u = &e->users_tab[uid % ENRICH_MAX_USERS];
	uint64_t gen = users_generation();
	const char *name;

	if (u->gen == gen && u->uid == uid)
		return u->name[0] ? u->name : NULL;
	u->uid = uid;
	u->gen = gen;
	name = users_name(uid);
	snprintf(u->name, sizeof(u->name), "%s", name ? name : "");
	return u->name[0] ? u->name : NULL;
}

static struct ev_str str(const char *s)
{
	return (struct ev_str){ s, s ? strlen(s) : 0 };
}

void enrich_event(struct enrich *e, struct iotsec_event *ev)
{
	struct enrich_proc *p;
	uint64_t now = ticks(e, ev->time_ns);

	e->lookups++;
	if (ev->type == IOTSEC_EVENT_EXEC) {
		/* this process, whatever the table had for its pid */
		p = proc_set(e, ev->tgid, ev->exe, ev->argv,
			     now, ev->ptgid, ev->comm, ev->time_ns);
	} else {
		p = proc_get(e, ev->tgid, ev, true);
		if (p) {
			ev->proc_exe = (struct ev_str){ p->data, p->exe_len };
			ev->proc_cmdline = (struct ev_str){
				p->data + p->exe_len, p->argv_len };
		}
	}
	if (ev->type == IOTSEC_EVENT_FORK) {
		/*
		 * A new process: whatever the table had for its pid is gone.
		 * It runs the parent's program until it execs.
		 */
		if (p)
			proc_set(e, ev->child_tgid,
				 (struct ev_str){ p->data, p->exe_len },
				 (struct ev_str){ p->data + p->exe_len,
						  p->argv_len },
				 now, ev->tgid, ev->comm, ev->time_ns);
		else
			proc_forget(e, ev->child_tgid);
	}
	if (e->parent && ev->ptgid) {
		p = proc_get(e, ev->ptgid, ev, false);
		if (p)
			ev->parent_exe = (struct ev_str){ p->data, p->exe_len };
	}
	if (e->users)
		ev->user = str(user_of(e, ev->uid));
	if (e->container)
		ev->container = str(container_of(e, ev));
}

void enrich_done(struct enrich *e, const struct iotsec_event *ev)
{
	if (ev->type == IOTSEC_EVENT_EXIT)
		proc_forget(e, ev->tgid);
}
