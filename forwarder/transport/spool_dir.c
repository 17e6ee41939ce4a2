// SPDX-License-Identifier: MIT
/*
 * The spool's directory: take it (create, lock, probe, load what is
 * there, write back what memory held), give it up, sync it. Taking it
 * happens at open and at each retry after a disk failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/file.h>
#include "common/fs.h"
#include "transport/spool_priv.h"

static void dir_release(struct spool *s)
{
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->lockfd = s->dirfd = -1;
}

/* Forget the segments and give up the directory; the files stay. */
void spool_disk_close(struct spool *s)
{
	while (s->segs) {
		struct seg *g = s->segs;

		s->segs = g->next;
		if (g->fd >= 0)
			close(g->fd);
		free(g);
	}
	memset(s->cur, 0, sizeof(s->cur));
	s->disk_bytes = 0;
	dir_release(s);
	s->disk = false;
	s->disk_gen++;	/* a sync in flight was for the old one */
}

/* Create, open and lock the directory. 0, or -errno with s->fail_what. */
static int dir_take(struct spool *s)
{
	int ret;

	dir_release(s);
	ret = mkdir_p(s->path, 0700);
	if (ret) {
		s->fail_what = "cannot create the directory";
		return ret;
	}
	s->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		ret = -errno;
		s->fail_what = "cannot open the directory";
		return ret;
	}
	s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT |
			   O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB)) {
		ret = -errno;
		s->fail_what = errno == EWOULDBLOCK ?
			       "in use by another process" :
			       "cannot lock it";
		dir_release(s);
		return ret;
	}
	return 0;
}

/* A probe, so that a read-only or full disk shows now: 0 or an errno. */
static int dir_probe(struct spool *s)
{
	int fd, err = 0;

	errno = 0;
	fd = openat(s->dirfd, "probe", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1)
		err = errno ? errno : ENOSPC;
	if (fd >= 0)
		close(fd);
	unlinkat(s->dirfd, "probe", 0);
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The numbers of the segment files, sorted: records then come in order,
 * each at its list's tail. 0 or -errno; *NOS is malloc'd.
 */
static int dir_list(struct spool *s, uint64_t **nos, size_t *n_nos)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;
	int ret, fd;

	*nos = NULL;
	*n_nos = 0;
	fd = dup(s->dirfd);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	/* the dup shares the offset, at the end since the last listing */
	rewinddir(dir);
	while ((de = readdir(dir))) {
		uint64_t no, *n;

		if (!spool_seg_file(de->d_name, &no))
			continue;
		if (*n_nos == cap) {
			cap = cap ? cap * 2 : 64;
			n = realloc(*nos, cap * sizeof(**nos));
			if (!n) {
				free(*nos);
				*nos = NULL;
				closedir(dir);
				return -ENOMEM;
			}
			*nos = n;
		}
		(*nos)[(*n_nos)++] = no;
	}
	closedir(dir);
	if (*n_nos)
		qsort(*nos, *n_nos, sizeof(**nos), cmp_u64);
	return 0;
}

/*
 * Take the directory: create, lock, load what is there, then write the
 * records held in memory. 0; -errno with s->fail_what set; 1 when it
 * failed half way and went back to memory (logged).
 */
static int disk_attach(struct spool *s, uint64_t now_ms, bool first)
{
	uint64_t loaded = 0, c0 = s->st.corrupt_records;
	uint64_t cb0 = s->st.corrupt_bytes, *nos;
	size_t n_nos;
	int ret, probe_err;
	bool held;

	/*
	 * Back from memory after a write failure, the directory is still
	 * open and locked (stale segments are marked through it): keep it,
	 * also when this try fails.
	 */
	held = s->dirfd >= 0 && s->lockfd >= 0;
	if (!held) {
		ret = dir_take(s);
		if (ret)
			return ret;
	}
	/*
	 * At the start the records already there are loaded all the same
	 * when the probe fails (into memory, below); a retry just tries
	 * again later.
	 */
	probe_err = dir_probe(s);
	if (probe_err && !first) {
		ret = -probe_err;
		s->fail_what = "cannot write in it";
		goto err;
	}
	ret = dir_list(s, &nos, &n_nos);
	if (ret) {
		s->fail_what = "cannot read the directory";
		goto err;
	}
	s->disk = true;
	for (size_t i = 0; i < n_nos; i++) {
		char name[32];
		int fd;

		if (nos[i] >= s->next_seg)
			s->next_seg = nos[i] + 1;
		/* ours, still there: its records live there again */
		if (spool_stale_adopt(s, nos[i]))
			continue;
		spool_seg_name(name, nos[i]);
		fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			spool_seg_load(s, fd, nos[i], &loaded);
	}
	free(nos);
	/* stale segments whose files went: their records are memory ones */
	spool_stale_forget(s);
	/* at a retry too: records another process left are new to us */
	s->st.recovered_records += loaded;
	if (s->st.corrupt_records != c0)
		s->log(LOG_WARNING, "spool %s: recovered %" PRIu64
		       " message(s) not yet acknowledged; skipped corrupt "
		       "data in %" PRIu64
		       " place(s), %" PRIu64 " bytes", s->path, loaded,
		       s->st.corrupt_records - c0, s->st.corrupt_bytes - cb0);
	else if (loaded)
		s->log(LOG_NOTICE, "spool %s: recovered %" PRIu64 " message(s) "
		       "not yet acknowledged", s->path, loaded);
	if (probe_err)
		spool_disk_error(s, "cannot write in it", probe_err);
	/* a smaller bound than last time, or someone else's records */
	spool_make_room(s, PRIO_N, 0, NULL);
	spool_mem_to_disk(s);
	if (s->fail_errno) {
		spool_go_memory(s, now_ms);
		return 1;	/* said so already */
	}
	if (!first)
		s->log(LOG_NOTICE, "spool %s: writable again; %" PRIu64
		       " message(s) on disk", s->path, s->n_records);
	s->next_sync_ms = now_ms + s->sync_ms;
	return 0;

err:
	if (!held)
		dir_release(s);
	return ret;
}

/*
 * Take the directory (FIRST: at open, loading a previous run's records),
 * or stay in memory and try again in SPOOL_RETRY_MS.
 */
void spool_disk_try(struct spool *s, uint64_t now_ms, bool first)
{
	int ret;

	s->opening = first;
	s->retrying = !first;
	ret = disk_attach(s, now_ms, first);
	s->opening = s->retrying = false;
	if (ret < 0) {
		s->st.write_errors++;
		/* at a retry, a new reason is worth a line, the same not */
		if (first)
			spool_log_fallback(s, s->fail_what, -ret);
		else if (-ret != s->retry_errno)
			s->log(LOG_ERR, "spool %s: still not usable: %s: %s",
			       s->path, s->fail_what, strerror(-ret));
		s->retry_errno = -ret;
		s->next_retry_ms = now_ms + SPOOL_RETRY_MS;
	}
	s->fail_errno = 0;
}
