// SPDX-License-Identifier: MIT
/*
 * The indicator lists' cost per event, and the hashing's (not a test).
 *
 * Lists of 100,000 digests, 100,000 addresses, 10,000 CIDRs (IPv4 /16 to
 * /30 and IPv6 /32 to /64) and 10,000 paths; ioc_eval() on a mix like
 * synth.c's (execs, outbound connections to random addresses, exits,
 * file writes) plus ioc_eval_hash() for each exec (its hash came), best
 * of 5 runs. Then the worker's side: hash_exe() of this program through
 * /proc/self/exe from the cache (a hit) and cold (read and hashed).
 *
 * usage: ioc-bench [EVENTS]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "common/clock.h"
#include "pipeline/hash.h"
#include "pipeline/ioc.h"
#include "pipeline/serialize.h"

static uint64_t st = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	st ^= st << 13;
	st ^= st >> 7;
	st ^= st << 17;
	return (uint32_t)st;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void sink(void *ctx, const char *t, size_t len)
{
	(void)t;
	(void)len;
	++*(unsigned long *)ctx;
}

static void add_lines(struct ioc_set *s, enum ioc_kind k, unsigned int n,
		      void (*line)(char *buf, size_t len, unsigned int i))
{
	size_t cap = (size_t)n * 80, used = 0;
	char *buf = malloc(cap);

	for (unsigned int i = 0; i < n; i++) {
		line(buf + used, cap - used, i);
		used += strlen(buf + used);
	}
	ioc_add_text(s, k, "bench", buf, used, NULL, NULL);
	free(buf);
}

static void hash_line(char *b, size_t len, unsigned int i)
{
	(void)i;
	for (int k = 0; k < 8; k++)
		snprintf(b + 8 * k, len - 8 * k, "%08x", rnd());
	snprintf(b + 64, len - 64, "\n");
}

static void addr_line(char *b, size_t len, unsigned int i)
{
	uint32_t a = rnd();

	if (i % 10 == 0)
		snprintf(b, len, "2001:db8:%x::%x\n", rnd() & 0xffff, i);
	else
		snprintf(b, len, "%u.%u.%u.%u\n", a >> 24, a >> 16 & 255,
			 a >> 8 & 255, a & 255);
}

static void cidr_line(char *b, size_t len, unsigned int i)
{
	uint32_t a = rnd();

	if (i % 4 == 0)
		snprintf(b, len, "2001:%x:%x::/%u\n", rnd() & 0xffff,
			 rnd() & 0xffff, 32 + rnd() % 33);
	else
		snprintf(b, len, "%u.%u.%u.0/%u\n", a >> 24, a >> 16 & 255,
			 a >> 8 & 255, 16 + rnd() % 15);
}

static void path_line(char *b, size_t len, unsigned int i)
{
	snprintf(b, len, "/opt/bad/%08x/bin-%u\n", rnd(), i);
}

int main(int argc, char **argv)
{
	static const char *const progs[] = { "/usr/bin/curl", "/bin/sh",
		"/usr/sbin/sshd", "/usr/bin/python3", "/bin/ls", "/bin/cat" };
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	unsigned long alerts = 0, hits = 0;
	static struct iotsec_event evs[4096];
	static uint8_t digests[4096][HASH_LEN];
	struct ioc_engine e;
	struct ioc_set *s = ioc_new();
	struct hash_config hc;
	struct hash_cache *c;
	struct ser ser;
	double best = 0;
	uint8_t d[HASH_LEN];
	bool cached;

	add_lines(s, IOC_HASH, 100000, hash_line);
	add_lines(s, IOC_ADDRESS, 100000, addr_line);
	add_lines(s, IOC_ADDRESS, 10000, cidr_line);
	add_lines(s, IOC_PATH, 10000, path_line);
	for (unsigned int i = 0; i < 4096; i++) {
		struct iotsec_event *ev = &evs[i];
		unsigned int r = rnd() % 100;
		uint32_t a = rnd();

		ev->tgid = 1000 + i;
		ev->exe = ev->proc_exe = (struct ev_str){ progs[i % 6],
			strlen(progs[i % 6]) };
		for (int k = 0; k < HASH_LEN; k++)
			digests[i][k] = (uint8_t)rnd();
		if (r < 45) {
			ev->type = IOTSEC_EVENT_EXEC;
		} else if (r < 75) {
			ev->type = IOTSEC_EVENT_CONNECT;
			ev->family = AF_INET;
			memcpy(ev->raddr, &a, 4);
			ev->rport = 443;
		} else if (r < 95) {
			ev->type = IOTSEC_EVENT_EXIT;
		} else {
			ev->type = IOTSEC_EVENT_FILE;
			ev->path = (struct ev_str){ "/etc/passwd", 11 };
		}
	}
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "bench");
	ioc_engine_init(&e, &ser, sink, &alerts);
	ioc_engine_set(&e, s, 0);
	for (int run = 0; run < 5; run++) {
		double t0 = now_ns(), t;

		hits = 0;
		for (unsigned long i = 0; i < n; i++) {
			const struct iotsec_event *ev = &evs[i & 4095];

			hits += ioc_eval(&e, ev, 1);
			if (ev->type == IOTSEC_EVENT_EXEC)
				hits += ioc_eval_hash(&e, ev, digests[i & 4095],
						      1);
		}
		t = (now_ns() - t0) / n;
		if (!run || t < best)
			best = t;
	}
	printf("indicators: %zu hashes, %zu addresses/CIDRs, %zu paths; "
	       "%lu events a run: %.0f ns/event (best of 5); %lu hits a run\n",
	       ioc_count(s, IOC_HASH), ioc_count(s, IOC_ADDRESS),
	       ioc_count(s, IOC_PATH), n, best, hits);
	ioc_engine_fini(&e);

	/* the worker's side, per exec */
	hash_config_defaults(&hc);
	c = hash_cache_new(hc.cache_max);
	{
		double t0 = now_ns(), cold, warm;
		char self[256];
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
		struct hash_cache_stats cs;
		struct stat sb;

		/* as the worker has it: the process started before the exec */
		uint64_t exec_ns = (uint64_t)boot_ns();

		if (l < 0)
			return 1;
		hash_exe(c, &hc, (uint32_t)getpid(), self, (size_t)l, exec_ns,
			 d, &cached);
		cold = now_ns() - t0;
		t0 = now_ns();
		for (int i = 0; i < 20000; i++)
			hash_exe(c, &hc, (uint32_t)getpid(), self, (size_t)l,
				 exec_ns, d, &cached);
		warm = (now_ns() - t0) / 20000;
		hash_cache_stats(c, &cs);
		printf("hashing (worker thread): a cache hit %.1f us/exec "
		       "(readlink, open, fstat of /proc/PID/exe, its stat); "
		       "cold: %.0f us "
		       "for this program's %ld KiB; cache hit rate %.4f\n",
		       warm / 1000, cold / 1000,
		       stat(self, &sb) ? 0L : (long)(sb.st_size >> 10),
		       (double)cs.hits / (double)(cs.hits + cs.misses));
	}
	hash_cache_free(c);
	return 0;
}
