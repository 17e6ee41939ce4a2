// SPDX-License-Identifier: MIT
/*
 * Enrichment caches.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pipeline/enrich.h"

#define PROC_BUCKETS 4096

struct enrich_proc {
	struct enrich_proc *next;
	uint32_t tgid;
	uint32_t exe_len, argv_len;
	char data[];		/* exe, then argv */
};

struct enrich_cg {
	uint64_t id;
	char container[65];	/* "" when none */
};

struct enrich_user {
	uint32_t uid;
	char name[33];		/* "" when unknown */
};

int enrich_init(struct enrich *e, bool users, bool parent, bool container,
		bool use_proc)
{
	memset(e, 0, sizeof(*e));
	e->users = users;
	e->parent = parent;
	e->container = container;
	e->use_proc = use_proc;
	e->proc_root = "/proc";
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

static void proc_forget(struct enrich *e, uint32_t tgid)
{
	struct enrich_proc **pp = proc_slot(e, tgid), *p = *pp;

	if (!p)
		return;
	*pp = p->next;
	free(p);
	e->n_procs--;
}

static struct enrich_proc *proc_set(struct enrich *e, uint32_t tgid,
				    struct ev_str exe, struct ev_str argv)
{
	struct enrich_proc *p;

	proc_forget(e, tgid);
	if (e->n_procs >= ENRICH_MAX_PROCS)
		return NULL;	/* bounded: lose enrichment, not memory */
	p = malloc(sizeof(*p) + exe.len + argv.len);
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->exe_len = exe.len;
	p->argv_len = argv.len;
	if (exe.len)
		memcpy(p->data, exe.s, exe.len);
	if (argv.len)
		memcpy(p->data + exe.len, argv.s, argv.len);
	p->next = NULL;
	*proc_slot(e, tgid) = p;
	e->n_procs++;
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

static struct enrich_proc *proc_get(struct enrich *e, uint32_t tgid)
{
	struct enrich_proc *p = *proc_slot(e, tgid);
	char path[64], exe[4096], argv[4096];
	ssize_t n, m;

	if (p || !e->use_proc || !tgid)
		return p;
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
			(struct ev_str){ argv, m });
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

static const char *user_of(struct enrich *e, uint32_t uid)
{
	struct enrich_user *u = &e->users_tab[uid % ENRICH_MAX_USERS];
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (u->uid == uid && (u->name[0] || uid))
		return u->name[0] ? u->name : NULL;
	u->uid = uid;
	u->name[0] = '\0';
	if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res)
		snprintf(u->name, sizeof(u->name), "%s", res->pw_name);
	return u->name[0] ? u->name : NULL;
}

static struct ev_str str(const char *s)
{
	return (struct ev_str){ s, s ? strlen(s) : 0 };
}

void enrich_event(struct enrich *e, struct iotsec_event *ev)
{
	struct enrich_proc *p;

	e->lookups++;
	if (ev->type == IOTSEC_EVENT_EXEC) {
		p = proc_set(e, ev->tgid, ev->exe, ev->argv);
		(void)p;
	} else {
		p = proc_get(e, ev->tgid);
		if (p) {
			ev->proc_exe = (struct ev_str){ p->data, p->exe_len };
			ev->proc_cmdline = (struct ev_str){
				p->data + p->exe_len, p->argv_len };
		}
	}
	if (ev->type == IOTSEC_EVENT_FORK) {
		/* the child runs the parent's program until it execs */
		if (p)
			proc_set(e, ev->child_tgid,
				 (struct ev_str){ p->data, p->exe_len },
				 (struct ev_str){ p->data + p->exe_len,
						  p->argv_len });
	}
	if (e->parent && ev->ptgid) {
		p = proc_get(e, ev->ptgid);
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
