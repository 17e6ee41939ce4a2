// SPDX-License-Identifier: MIT
/*
 * Syncing the spool. Every spool.sync the loop hands what was written
 * since the last one to a thread (spool_sync_start()): a dup() of the
 * directory's descriptor, dup()s of the dirty current segments' and the
 * numbers of the dirty rotated ones (which hold no descriptor: the thread
 * opens them by name, one at a time, so a job holds few descriptors
 * however many segments there are). The thread fdatasync()s each
 * (fsync() for the directory) and closes what it got, however long the
 * disk takes. The loop learns the result through an eventfd in its epoll
 * set (spool_sync_fd(), spool_sync_done()); a failure then takes the way
 * a failed sync always took, spool_disk_error() and spool_settle(). One
 * job at a time: while one is in flight, the next interval's dirty
 * segments wait for the one after. At exit (spool_close()) the job in
 * flight is waited for and the last sync is done in place (spool_sync()).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "transport/spool_priv.h"

struct spool_sync_job {
	pthread_t thread;
	int efd;
	int dirfd;		/* a dup of the directory's, or -1 */
	bool sync_dir;		/* fsync() it too */
	uint64_t disk_gen;	/* the spool's when it started */
	int err;		/* the first failure, 0: none */
	const char *what;
	size_t n;
	struct {
		uint64_t no;
		int fd;		/* a dup (current), -1: open by name */
	} segs[];
};

int spool_sync_init(struct spool *s)
{
	s->sync_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return s->sync_efd < 0 ? -errno : 0;
}

int spool_sync_fd(const struct spool *s)
{
	return s ? s->sync_efd : -1;
}

static void job_fail(struct spool_sync_job *j, const char *what, int err)
{
	if (!j->err) {
		j->err = err ? err : EIO;
		j->what = what;
	}
}

static void *sync_worker(void *arg)
{
	struct spool_sync_job *j = arg;
	uint64_t one = 1;

	for (size_t i = 0; i < j->n; i++) {
		int fd = j->segs[i].fd;
		char name[32];

		if (fd < 0) {
			spool_seg_name(name, j->segs[i].no);
			fd = openat(j->dirfd, name,
				    O_RDWR | O_CLOEXEC | O_NOFOLLOW);
			/* all done and unlinked since: nothing to sync */
			if (fd < 0 && errno != ENOENT)
				job_fail(j, "syncing", errno);
		}
		if (fd >= 0 && fdatasync(fd))
			job_fail(j, "syncing", errno);
		if (fd >= 0)
			close(fd);
	}
	if (j->sync_dir && fsync(j->dirfd))
		job_fail(j, "syncing the directory", errno);
	close(j->dirfd);
	if (j->efd >= 0 && write(j->efd, &one, sizeof(one)) < 0)
		job_fail(j, "telling the loop", errno);
	return NULL;
}

/* The job's result, as a synchronous sync would have had it. */
static void job_end(struct spool *s, struct spool_sync_job *j)
{
	if (j->err && s->disk && j->disk_gen == s->disk_gen)
		spool_disk_error(s, j->what, j->err);
	free(j);
}

void spool_sync_start(struct spool *s)
{
	struct spool_sync_job *j;
	size_t n = 0;
	int fd;

	if (s->sync_job)
		return;		/* the dirty marks wait for the next one */
	for (struct seg *g = s->segs; g; g = g->next)
		n += g->dirty;
	if (!n && !s->dirty_dir)
		return;
	j = calloc(1, sizeof(*j) + n * sizeof(j->segs[0]));
	if (j)
		j->dirfd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0);
	if (!j || j->dirfd < 0) {
		free(j);
		spool_sync(s);	/* no memory or descriptor for it: here */
		return;
	}
	j->efd = s->sync_efd;
	j->disk_gen = s->disk_gen;
	j->sync_dir = s->dirty_dir;
	s->dirty_dir = false;
	for (struct seg *g = s->segs; g; g = g->next) {
		if (!g->dirty)
			continue;
		g->dirty = false;
		fd = g->fd >= 0 ? fcntl(g->fd, F_DUPFD_CLOEXEC, 0) : -1;
		if (g->fd >= 0 && fd < 0) {
			spool_disk_error(s, "syncing", errno);
			continue;
		}
		j->segs[j->n].no = g->no;
		j->segs[j->n++].fd = fd;
	}
	if (s->sync_efd < 0 ||
	    pthread_create(&j->thread, NULL, sync_worker, j)) {
		/* no thread: the job here, as it was before there were any */
		j->efd = -1;
		sync_worker(j);
		job_end(s, j);
		return;
	}
	s->sync_job = j;
}

void spool_sync_wait(struct spool *s)
{
	uint64_t x;

	if (!s->sync_job)
		return;
	pthread_join(s->sync_job->thread, NULL);
	if (read(s->sync_efd, &x, sizeof(x)) < 0)
		x = 0;
	job_end(s, s->sync_job);
	s->sync_job = NULL;
}

void spool_sync_done(struct spool *s, uint64_t now_ms)
{
	uint64_t x;

	if (!s)
		return;
	if (read(s->sync_efd, &x, sizeof(x)) != sizeof(x) || !s->sync_job)
		return;
	/* the thread wrote its last word: joining it does not wait */
	pthread_join(s->sync_job->thread, NULL);
	job_end(s, s->sync_job);
	s->sync_job = NULL;
	s->now_ms = now_ms;
	spool_settle(s, now_ms);
}

/* Everything written now, in place (exit, or no thread for it). */
void spool_sync(struct spool *s)
{
	if (!s || !s->disk)
		return;
	spool_sync_wait(s);
	for (struct seg *g = s->segs; g; g = g->next) {
		int fd;

		if (!g->dirty)
			continue;
		fd = spool_seg_open(s, g);
		if (fd < 0 || fdatasync(fd))
			spool_disk_error(s, "syncing", errno);
		spool_seg_put(g, fd);
		g->dirty = false;
	}
	if (s->dirty_dir && fsync(s->dirfd))
		spool_disk_error(s, "syncing the directory", errno);
	s->dirty_dir = false;
}
