// SPDX-License-Identifier: MIT
/*
 * SHA-256 of executed binaries: the cache, the reading, the worker thread
 * (hash.h; docs/rules.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <openssl/evp.h>

#include "common/clock.h"
#include "pipeline/hash.h"

static const char *const outcome_names[HASH_OUTCOME_N] = {
	[HASH_OK] = "ok", [HASH_GONE] = "process-gone",
	[HASH_NOT_REGULAR] = "not-regular", [HASH_TOO_LARGE] = "too-large",
	[HASH_UNREADABLE] = "unreadable", [HASH_CHANGED] = "changed",
	[HASH_TIMEOUT] = "timeout", [HASH_NOMEM] = "no-memory",
	[HASH_UNVERIFIED] = "unverified",
};

const char *hash_outcome_name(enum hash_outcome o)
{
	return o < HASH_OUTCOME_N ? outcome_names[o] : "unknown";
}

void hash_config_defaults(struct hash_config *c)
{
	/* padding too: detect.c compares two settings with memcmp() */
	memset(c, 0, sizeof(*c));
	c->cache_max = 4096;
	c->max_size = 64ULL << 20;
	c->max_ms = 2000;
	c->proc = "/proc";
}

/* ---- the cache: a chained hash table and an LRU list ---- */

/*
 * ctime too: a user can put a file's mtime back (utimensat) after
 * rewriting it at the same size, but not its ctime.
 */
struct hkey {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
};

struct hent {
	struct hkey k;
	uint8_t digest[HASH_LEN];
	struct hent *hnext;		/* bucket chain */
	struct hent *prev, *next;	/* LRU: head most recent */
};

struct hash_cache {
	struct hent **table;
	size_t mask;
	struct hent *head, *tail;
	size_t n, max;
	struct hash_cache_stats st;
};

struct hash_cache *hash_cache_new(unsigned int max)
{
	struct hash_cache *c = calloc(1, sizeof(*c));
	size_t buckets = 16;

	if (!c)
		return NULL;
	if (!max)
		max = 1;
	while (buckets < max)
		buckets <<= 1;
	c->table = calloc(buckets, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return NULL;
	}
	c->mask = buckets - 1;
	c->max = max;
	return c;
}

void hash_cache_free(struct hash_cache *c)
{
	struct hent *e, *n;

	if (!c)
		return;
	for (e = c->head; e; e = n) {
		n = e->next;
		free(e);
	}
	free(c->table);
	free(c);
}

void hash_cache_stats(const struct hash_cache *c, struct hash_cache_stats *s)
{
	*s = c->st;
	s->entries = c->n;
}

static size_t bucket(const struct hash_cache *c, const struct hkey *k)
{
	uint64_t h = k->ino * 0x9e3779b97f4a7c15ULL ^ k->dev ^
		     (uint64_t)k->mtime_ns * 31 ^ k->size;

	return (size_t)(h ^ h >> 29) & c->mask;
}

static bool key_eq(const struct hkey *a, const struct hkey *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static void lru_unlink(struct hash_cache *c, struct hent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct hash_cache *c, struct hent *e)
{
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static struct hent *cache_find(struct hash_cache *c, const struct hkey *k)
{
	struct hent *e;

	for (e = c->table[bucket(c, k)]; e; e = e->hnext)
		if (key_eq(&e->k, k))
			break;
	if (e) {
		lru_unlink(c, e);
		lru_front(c, e);
	}
	return e;
}

static void cache_drop(struct hash_cache *c, struct hent *e)
{
	struct hent **pp = &c->table[bucket(c, &e->k)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	free(e);
	c->n--;
}

static void cache_add(struct hash_cache *c, const struct hkey *k,
		      const uint8_t d[HASH_LEN])
{
	struct hent *e;
	size_t b;

	if (c->n >= c->max) {
		cache_drop(c, c->tail);
		c->st.evictions++;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	e->k = *k;
	memcpy(e->digest, d, HASH_LEN);
	b = bucket(c, k);
	e->hnext = c->table[b];
	c->table[b] = e;
	lru_front(c, e);
	c->n++;
}

/* ---- reading ---- */

static void key_of(const struct stat *st, struct hkey *k)
{
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = (uint64_t)st->st_size;
	k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
		      st->st_mtim.tv_nsec;
	k->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 +
		      st->st_ctim.tv_nsec;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static enum hash_outcome digest_fd(int fd, const struct hash_config *cfg,
				   uint8_t out[HASH_LEN])
{
	static __thread unsigned char buf[64 * 1024];
	uint64_t deadline = (uint64_t)mono_ms() + cfg->max_ms, total = 0;
	enum hash_outcome ret = HASH_OK;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int mdlen = 0;
	ssize_t n;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return HASH_NOMEM;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = HASH_UNREADABLE;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > cfg->max_size) {
			ret = HASH_TOO_LARGE;
			break;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		if ((uint64_t)mono_ms() > deadline) {
			ret = HASH_TIMEOUT;
			break;
		}
	}
	if (ret == HASH_OK && !EVP_DigestFinal_ex(md, out, &mdlen))
		ret = HASH_NOMEM;
	EVP_MD_CTX_free(md);
	return ret;
}

/*
 * The device of the superblock FD's file is on, as the kernel has it
 * (/proc/self/mountinfo's major:minor of the fd's mount): what the
 * exec event sends where getattr reports another st_dev (overlayfs on
 * several file systems, btrfs subvolumes). False when not found (a mount
 * of another namespace).
 */
static bool mount_dev(int fd, unsigned int *ma, unsigned int *mi)
{
	char path[64], line[4096];
	int mnt = -1, id;
	bool found = false, start = true;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "mnt_id: %d", &mnt) == 1)
			break;
	fclose(f);
	if (mnt < 0)
		return false;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* a line longer than LINE: its rest is no line of its own */
		found = start && sscanf(line, "%d %*d %u:%u", &id, ma, mi) == 3 &&
			id == mnt;
		start = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return found;
}

/* The opened file FD (ST) is the one ID names (the kernel's, at exec). */
static bool ident_eq(int fd, const struct stat *st,
		     const struct hash_ident *id)
{
	unsigned int ma, mi;

	if ((uint64_t)st->st_ino != id->ino ||
	    (int64_t)st->st_ctim.tv_sec != id->ctime_sec ||
	    (uint64_t)st->st_ctim.tv_nsec != id->ctime_nsec)
		return false;
	if (major(st->st_dev) == major(id->dev) &&
	    minor(st->st_dev) == minor(id->dev))
		return true;
	return mount_dev(fd, &ma, &mi) && ma == major(id->dev) &&
	       mi == minor(id->dev);
}

/*
 * The digest of the file at PATH; NOLINK: only if PATH resolves to itself
 * (no symlink on the way); ID: only if the file is that one. Else
 * HASH_UNVERIFIED.
 */
static enum hash_outcome hash_path(struct hash_cache *c,
				   const struct hash_config *cfg,
				   const char *path, bool nolink,
				   const struct hash_ident *id,
				   uint8_t out[HASH_LEN], bool *cached)
{
	enum hash_outcome ret;
	struct stat before, after;
	struct hent *e;
	struct hkey k;
	char self[64];
	int pfd, fd;

	*cached = false;
	/*
	 * O_PATH first: what is at PATH may be anything a user put there
	 * (a symlink to a device whose open acts: a watchdog, a tty); only
	 * a regular file is opened for reading, through the same inode.
	 */
	pfd = open(path, O_PATH | O_CLOEXEC | (nolink ? O_NOFOLLOW : 0));
	if (pfd < 0)
		return errno == ENOENT || errno == ESRCH ? HASH_GONE :
		       errno == ELOOP ? HASH_UNVERIFIED : HASH_UNREADABLE;
	if (fstat(pfd, &before)) {
		close(pfd);
		return HASH_UNREADABLE;
	}
	if (id && !ident_eq(pfd, &before, id)) {
		close(pfd);
		return HASH_UNVERIFIED;
	}
	if (!S_ISREG(before.st_mode)) {
		close(pfd);
		return HASH_NOT_REGULAR;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	if (nolink) {
		char real[PATH_MAX];
		ssize_t n = readlink(self, real, sizeof(real));

		if (n < 0 || (size_t)n != strlen(path) ||
		    memcmp(real, path, (size_t)n)) {
			close(pfd);
			return HASH_UNVERIFIED;
		}
	}
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return errno == ENOENT ? HASH_GONE : HASH_UNREADABLE;
	if (fstat(fd, &after) || !same_file(&before, &after)) {
		ret = HASH_CHANGED;
		goto out;
	}
	key_of(&before, &k);
	e = cache_find(c, &k);
	if (e) {
		c->st.hits++;
		memcpy(out, e->digest, HASH_LEN);
		*cached = true;
		ret = HASH_OK;
		goto out;
	}
	c->st.misses++;
	if ((uint64_t)before.st_size > cfg->max_size) {
		ret = HASH_TOO_LARGE;
		goto out;
	}
	ret = digest_fd(fd, cfg, out);
	if (ret == HASH_OK &&
	    (fstat(fd, &after) || !same_file(&before, &after)))
		ret = HASH_CHANGED;
	if (ret == HASH_OK)
		cache_add(c, &k, out);
out:
	close(fd);
	return ret;
}

enum hash_outcome hash_file(struct hash_cache *c, const struct hash_config *cfg,
			    const char *path, uint8_t out[HASH_LEN],
			    bool *cached)
{
	return hash_path(c, cfg, path, false, NULL, out, cached);
}

/*
 * When process PID started, in ns since boot (/proc/PID/stat's
 * starttime, in clock ticks); 0 when it cannot be read (gone).
 */
static uint64_t proc_start_ns(const char *proc, uint32_t pid)
{
	char path[PATH_MAX], buf[1024], *p, *end;
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "%s/%u/stat", proc, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || hz <= 0)
		return 0;
	buf[n] = '\0';
	/* after the comm (which may hold anything): state is field 3 */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	ticks = strtoull(p + 1, &end, 10);
	if (end == p + 1)
		return 0;
	return ticks * (1000000000ULL / (unsigned long long)hz);
}

/* S without a trailing " (deleted)" */
static size_t undeleted(const char *s, size_t len)
{
	static const char del[] = " (deleted)";

	if (len >= sizeof(del) - 1 &&
	    !memcmp(s + len - (sizeof(del) - 1), del, sizeof(del) - 1))
		len -= sizeof(del) - 1;
	return len;
}

enum hash_outcome hash_exe_id(struct hash_cache *c,
			      const struct hash_config *cfg, uint32_t pid,
			      const char *exe, size_t len, uint64_t exec_ns,
			      const struct hash_ident *id,
			      uint8_t out[HASH_LEN], bool *cached)
{
	char link[64], target[PATH_MAX];
	enum hash_outcome ret;
	struct stat st;
	uint64_t start;
	ssize_t n;
	size_t a, b;

	*cached = false;
	snprintf(link, sizeof(link), "%s/%u/exe", cfg->proc, pid);
	if (id) {
		/*
		 * The identity says which file: whatever process now has
		 * this pid, its exe is hashed only if it is that file.
		 */
		ret = hash_path(c, cfg, link, false, id, out, cached);
		if (ret != HASH_GONE && ret != HASH_UNVERIFIED &&
		    ret != HASH_UNREADABLE)
			return ret;
		*cached = false;
	} else if (!exe) {
		return hash_file(c, cfg, link, out, cached);
	} else {
		n = readlink(link, target, sizeof(target));
		if (n < 0 && errno != ENOENT && errno != ESRCH)
			return HASH_UNREADABLE;
		a = n >= 0 ? undeleted(target, (size_t)n) : 0;
		b = undeleted(exe, len);
		if (n >= 0 && a == b && !memcmp(target, exe, a)) {
			ret = hash_file(c, cfg, link, out, cached);
			if (!exec_ns)
				return ret;
			/*
			 * read after the file was opened: a process that
			 * started after the exec has its pid reused
			 */
			start = proc_start_ns(cfg->proc, pid);
			if (start && start <= exec_ns)
				return ret;
			*cached = false;
		}
		/* else the pid was reused, or the process exec'd again */
	}
	/*
	 * The process is gone (most short-lived ones are before the worker
	 * comes to them), or runs another file: the file at its path, if it
	 * is still there and was not deleted when the kernel named it, and
	 * only if its identity is the one executed. Without an identity
	 * nothing shows that (a directory renamed over the path's, a
	 * chroot, a file replaced since): unverified.
	 */
	b = exe ? undeleted(exe, len) : 0;
	if (!exe || b != len || !len || exe[0] != '/' || len >= sizeof(target))
		return HASH_GONE;
	memcpy(target, exe, len);
	target[len] = '\0';
	if (id)
		return hash_path(c, cfg, target, true, id, out, cached);
	if (!exec_ns)
		return hash_file(c, cfg, target, out, cached);
	/* nothing there: gone, as with an identity */
	if (lstat(target, &st) && (errno == ENOENT || errno == ENOTDIR))
		return HASH_GONE;
	return HASH_UNVERIFIED;
}

enum hash_outcome hash_exe(struct hash_cache *c, const struct hash_config *cfg,
			   uint32_t pid, const char *exe, size_t len,
			   uint64_t exec_ns, uint8_t out[HASH_LEN],
			   bool *cached)
{
	return hash_exe_id(c, cfg, pid, exe, len, exec_ns, NULL, out, cached);
}

void hash_hex(const uint8_t d[HASH_LEN], char out[2 * HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < HASH_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * HASH_LEN] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool hash_from_hex(const char *s, size_t len, uint8_t out[HASH_LEN])
{
	if (len != 2 * HASH_LEN)
		return false;
	for (int i = 0; i < HASH_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* ---- the worker ---- */

struct job {
	uint64_t id, exec_ns;
	uint32_t pid;
	bool has_id;
	struct hash_ident exe_id;
	char *exe;
	size_t len;
	struct hash_result res;
	bool done;
};

/*
 * Shared by the loop and the thread: a ring of jobs (taken in order,
 * done in order), the thread's cache, counters. Freed by the last of the
 * two to let go (refs), so that a thread stuck in a read can be left.
 */
struct hasher {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int refs;
	bool stop;
	int efd;
	struct hash_config cfg;
	char proc[PATH_MAX];
	struct hash_cache *cache;	/* the thread's */
	struct job ring[HASHER_QUEUE];
	size_t head, n, next;		/* oldest, count, next to run */
	struct hasher_stats st;
	bool thread_done;
};

static void hasher_put(struct hasher *h)
{
	bool last;

	pthread_mutex_lock(&h->lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&h->lock);
	if (!last)
		return;
	for (size_t i = 0; i < HASHER_QUEUE; i++)
		free(h->ring[i].exe);
	hash_cache_free(h->cache);
	if (h->efd >= 0)
		close(h->efd);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void *hasher_run(void *arg)
{
	struct hasher *h = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct job *j;
		size_t idx;
		char *exe;
		size_t len;
		uint32_t pid;
		uint64_t exec_ns;
		struct hash_ident exe_id;
		bool has_id;
		struct hash_result r = { 0 };

		while (!h->stop && h->next == h->n)
			pthread_cond_wait(&h->wake, &h->lock);
		if (h->stop)
			break;
		idx = (h->head + h->next) % HASHER_QUEUE;
		j = &h->ring[idx];
		exe = j->exe;
		j->exe = NULL;
		len = j->len;
		pid = j->pid;
		exec_ns = j->exec_ns;
		exe_id = j->exe_id;
		has_id = j->has_id;
		r.id = j->id;
		pthread_mutex_unlock(&h->lock);

		r.outcome = hash_exe_id(h->cache, &h->cfg, pid, exe, len,
					exec_ns, has_id ? &exe_id : NULL,
					r.digest, &r.cached);
		free(exe);

		pthread_mutex_lock(&h->lock);
		/* the slot is ours until done: the loop takes done ones only */
		j->res = r;
		j->done = true;
		h->next++;
		h->st.outcomes[r.outcome]++;
		hash_cache_stats(h->cache, &h->st.cache);
		if (write(h->efd, &one, sizeof(one)) < 0) {
			/* the counter is only a wake-up: it is set already */
		}
	}
	h->thread_done = true;
	pthread_mutex_unlock(&h->lock);
	hasher_put(h);
	return NULL;
}

int hasher_start(struct hasher **out, const struct hash_config *cfg)
{
	struct hasher *h = calloc(1, sizeof(*h));
	sigset_t all, old;
	int ret;

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	snprintf(h->proc, sizeof(h->proc), "%s", cfg->proc ? cfg->proc :
		 "/proc");
	h->cfg.proc = h->proc;
	h->cache = hash_cache_new(cfg->cache_max);
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!h->cache || h->efd < 0) {
		ret = h->efd < 0 ? -errno : -ENOMEM;
		hash_cache_free(h->cache);
		if (h->efd >= 0)
			close(h->efd);
		free(h);
		return ret;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	h->refs = 2;
	/* signals stay with the loop's signalfd */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&h->thread, NULL, hasher_run, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		h->refs = 1;
		hasher_put(h);
		return ret;
	}
	*out = h;
	return 0;
}

int hasher_fd(const struct hasher *h)
{
	return h->efd;
}

int hasher_submit(struct hasher *h, uint64_t id, uint32_t pid,
		  const char *exe, size_t len, uint64_t exec_ns,
		  const struct hash_ident *exe_id)
{
	struct job *j;
	char *copy = NULL;

	if (exe) {
		copy = malloc(len + 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, exe, len);
		copy[len] = '\0';
	}
	pthread_mutex_lock(&h->lock);
	if (h->n == HASHER_QUEUE) {
		h->st.rejected++;
		pthread_mutex_unlock(&h->lock);
		free(copy);
		return -EAGAIN;
	}
	j = &h->ring[(h->head + h->n) % HASHER_QUEUE];
	free(j->exe);
	memset(j, 0, sizeof(*j));
	j->id = id;
	j->exec_ns = exec_ns;
	if (exe_id) {
		j->has_id = true;
		j->exe_id = *exe_id;
	}
	j->pid = pid;
	j->exe = copy;
	j->len = len;
	h->n++;
	h->st.submitted++;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

size_t hasher_take(struct hasher *h, struct hash_result *out, size_t max)
{
	uint64_t v;
	size_t n = 0;

	if (read(h->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing signalled, there may be results still */
	}
	pthread_mutex_lock(&h->lock);
	while (n < max && h->next > 0) {
		struct job *j = &h->ring[h->head];

		out[n++] = j->res;
		j->done = false;
		h->head = (h->head + 1) % HASHER_QUEUE;
		h->n--;
		h->next--;
	}
	/* more left than MAX: wake the loop again */
	if (h->next > 0 && write(h->efd, &(uint64_t){ 1 }, sizeof(v)) < 0) {
		/* set already */
	}
	pthread_mutex_unlock(&h->lock);
	return n;
}

size_t hasher_pending(struct hasher *h)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	n = h->n;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void hasher_stats(struct hasher *h, struct hasher_stats *s)
{
	pthread_mutex_lock(&h->lock);
	*s = h->st;
	pthread_mutex_unlock(&h->lock);
}

void hasher_stop(struct hasher *h, unsigned int wait_ms)
{
	uint64_t end;
	bool done;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	end = (uint64_t)mono_ms() + wait_ms;
	for (;;) {
		pthread_mutex_lock(&h->lock);
		done = h->thread_done;
		pthread_mutex_unlock(&h->lock);
		if (done || (uint64_t)mono_ms() >= end)
			break;
		nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
	}
	if (done)
		pthread_join(h->thread, NULL);
	else
		pthread_detach(h->thread);
	hasher_put(h);
}
