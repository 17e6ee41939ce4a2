/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 of executed binaries (docs/rules.md, "Executable hashes").
 *
 * The hashing is a worker thread's: the loop submits a job per exec
 * (hasher_submit(), never waits) and takes results when the eventfd
 * hasher_fd() is readable. The worker opens /proc/<pid>/exe (the file the
 * process runs, even if its path was deleted or replaced), checks that it
 * is the file the event named (the kernel's device, inode and ctime of
 * it; a process already gone: the file at that path, if it has them;
 * hash_exe_id()), and looks it up in a cache keyed by
 * (device, inode, mtime, size): a binary is read once while it stays the
 * same. The cache is bounded (least recently used entry evicted).
 *
 * Every job ends with an outcome: a digest, or why there is none. A file
 * is never read beyond max_size bytes nor for longer than max_ms (checked
 * between 64 KiB reads), a non-regular file is not read at all, and a file
 * that changed while it was read (mtime, size, inode, ctime) gives no
 * digest and no cache entry.
 */
#ifndef IOTSEC_HASH_H
#define IOTSEC_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_LEN 32

enum hash_outcome {
	HASH_OK,
	HASH_GONE,		/* the process ended, or runs another file */
	HASH_NOT_REGULAR,	/* a FIFO, a device, a directory */
	HASH_TOO_LARGE,		/* bigger than max_size */
	HASH_UNREADABLE,	/* open or read failed */
	HASH_CHANGED,		/* modified while being read */
	HASH_TIMEOUT,		/* took longer than max_ms */
	HASH_NOMEM,
	HASH_UNVERIFIED,	/* the process gone, and the file at its path
				 * not shown to be the one it executed */
	HASH_OUTCOME_N
};

const char *hash_outcome_name(enum hash_outcome o);

struct hash_config {
	unsigned int cache_max;		/* entries, default 4096 */
	uint64_t max_size;		/* bytes, default 64 MiB */
	uint64_t max_ms;		/* per file, default 2000 */
	const char *proc;		/* "/proc" */
};

void hash_config_defaults(struct hash_config *c);

/* The cache alone (the worker's; tests use it directly). */
struct hash_cache;
struct hash_cache *hash_cache_new(unsigned int max);
void hash_cache_free(struct hash_cache *c);

struct hash_cache_stats {
	uint64_t hits, misses, evictions;
	size_t entries;
};
void hash_cache_stats(const struct hash_cache *c, struct hash_cache_stats *s);

/*
 * The digest of the file at PATH (opened without following nothing
 * special: O_NONBLOCK, so a FIFO never blocks). *CACHED: from the cache.
 */
enum hash_outcome hash_file(struct hash_cache *c, const struct hash_config *cfg,
			    const char *path, uint8_t out[HASH_LEN],
			    bool *cached);
/*
 * The identity of the file an exec ran, as the kernel saw it (struct
 * iotsec_event's exe_*): DEV new_encode_dev()-encoded (compared with
 * st_dev through major()/minor()), the inode number, the inode's ctime.
 */
struct hash_ident {
	uint32_t dev;
	uint64_t ino;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
};

/*
 * The digest of what process PID executed at EXEC_NS (CLOCK_BOOTTIME),
 * path EXE (LEN bytes; a " (deleted)" suffix ignored on either side; EXE
 * NULL: not checked).
 *
 * ID given (the kernel's): only a file whose fstat() of the opened fd has
 * that device, inode and ctime is read: <proc>/PID/exe, else the file at
 * EXE's path (no symlink followed; HASH_GONE when the kernel named it
 * deleted or it is not there); neither: HASH_UNVERIFIED. A file moved,
 * replaced, written, chmod'ed or linked since the exec no longer matches.
 *
 * ID NULL (recordings of modules before it, SDK events): <proc>/PID/exe
 * only, when it is EXE and the process started no later than EXEC_NS
 * (else the pid was reused); a process gone or running another file:
 * HASH_UNVERIFIED, as the file at its path cannot be shown to be the one
 * executed. EXEC_NS 0: none of these checks, the path is hashed when the
 * process is gone (tests, tools).
 */
enum hash_outcome hash_exe_id(struct hash_cache *c,
			      const struct hash_config *cfg, uint32_t pid,
			      const char *exe, size_t len, uint64_t exec_ns,
			      const struct hash_ident *id,
			      uint8_t out[HASH_LEN], bool *cached);
/* hash_exe_id() without an identity */
enum hash_outcome hash_exe(struct hash_cache *c, const struct hash_config *cfg,
			   uint32_t pid, const char *exe, size_t len,
			   uint64_t exec_ns, uint8_t out[HASH_LEN],
			   bool *cached);

/* "ab01..." (64 hex digits and a NUL) */
void hash_hex(const uint8_t d[HASH_LEN], char out[2 * HASH_LEN + 1]);
/* 64 hex digits (either case) to bytes; false otherwise */
bool hash_from_hex(const char *s, size_t len, uint8_t out[HASH_LEN]);

/* ---- the worker ---- */

#define HASHER_QUEUE 256	/* jobs waiting or done, not yet taken */

struct hash_result {
	uint64_t id;
	enum hash_outcome outcome;
	bool cached;
	uint8_t digest[HASH_LEN];
};

struct hasher_stats {
	uint64_t submitted, rejected;	/* rejected: queue full */
	uint64_t outcomes[HASH_OUTCOME_N];
	struct hash_cache_stats cache;
};

struct hasher;
/* 0, or -errno (no thread, no eventfd): then no hashing. */
int hasher_start(struct hasher **h, const struct hash_config *cfg);
/* Readable when results wait. */
int hasher_fd(const struct hasher *h);
/*
 * 0, or -EAGAIN when HASHER_QUEUE jobs are pending (not hashed).
 * EXEC_NS, EXE_ID (NULL: none): the exec's time and file (hash_exe_id()).
 */
int hasher_submit(struct hasher *h, uint64_t id, uint32_t pid,
		  const char *exe, size_t len, uint64_t exec_ns,
		  const struct hash_ident *exe_id);
/* Results done so far, at most MAX, oldest first; the eventfd is reset. */
size_t hasher_take(struct hasher *h, struct hash_result *out, size_t max);
/* Jobs submitted and not yet taken. */
size_t hasher_pending(struct hasher *h);
void hasher_stats(struct hasher *h, struct hasher_stats *s);
/*
 * Stop: jobs not started are dropped; a job still reading (a hung file
 * system) is waited for at most WAIT_MS, then left to end on its own
 * (the thread frees what it shares). NULL is fine.
 */
void hasher_stop(struct hasher *h, unsigned int wait_ms);

#endif /* IOTSEC_HASH_H */
