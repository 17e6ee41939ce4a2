// SPDX-License-Identifier: MIT
/*
 * The rules stage's cost per event (not a test): the default pack
 * (config/rules/default.yaml) evaluated with rules_eval() on a mix like
 * synth.c's (execs, outbound connections, exits, and now and then a
 * watched file written, a credential change, a module load, a ptrace),
 * enriched as the daemon enriches them; alerts go to a sink that counts.
 *
 * usage: rules-bench RULES_DIR [EVENTS]
 * Prints ns/event (best of 5 runs) and the hits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pipeline/rules.h"
#include "pipeline/serialize.h"

static struct ev_str S(const char *s)
{
	return (struct ev_str){ s, strlen(s) };
}

static void sink(void *ctx, const char *t, size_t len)
{
	(void)t;
	(void)len;
	++*(unsigned long *)ctx;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static const char *const progs[] = { "/usr/bin/curl", "/bin/sh",
		"/usr/sbin/sshd", "/usr/bin/python3", "/bin/ls", "/bin/cat" };
	static const char argvbuf[] = "/usr/bin/curl\0--job\0"
				      "https://example.com/17\0";
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	unsigned long alerts = 0, hits = 0;
	struct iotsec_event *evs;
	struct rules_engine e;
	struct ruleset *rs;
	struct ser ser;
	char err[512];
	double best = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: rules-bench RULES_DIR [EVENTS]\n");
		return 2;
	}
	if (rules_load(&rs, argv[1], NULL, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	evs = calloc(4096, sizeof(*evs));
	if (!evs)
		return 1;
	for (unsigned int i = 0; i < 4096; i++) {
		struct iotsec_event *ev = &evs[i];
		unsigned int k = (i * 2654435761u) >> 7, r = k % 100;
		const char *exe = progs[k % 6];

		ev->tgid = ev->tid = 1000 + i;
		ev->ptgid = 1;
		ev->uid = ev->euid = k % 3 ? 0 : 1000;
		ev->loginuid = k % 3 ? UINT32_MAX : 1000;
		ev->time_ns = 3600ULL * 1000000000;
		ev->comm = S(strrchr(exe, '/') + 1);
		ev->proc_exe = S(exe);
		ev->parent_exe = S(k % 2 ? "/usr/lib/systemd/systemd" :
					   "/bin/bash");
		ev->user = S(ev->uid ? "pi" : "root");
		if (r < 45) {
			ev->type = IOTSEC_EVENT_EXEC;
			ev->exe = S(exe);
			ev->argv = (struct ev_str){ argvbuf, sizeof(argvbuf) - 1 };
		} else if (r < 75) {
			ev->type = IOTSEC_EVENT_CONNECT;
			ev->family = 2;
			ev->protocol = 6;
			memcpy(ev->laddr, "\x0a\x00\x00\x02", 4);
			memcpy(ev->raddr, "\x5d\xb8\xd8\x22", 4);
			ev->lport = 40000 + i;
			ev->rport = 443;
		} else if (r < 95) {
			ev->type = IOTSEC_EVENT_EXIT;
		} else if (r < 97) {
			ev->type = IOTSEC_EVENT_FILE;
			ev->path = S("/etc/passwd");
			ev->file_op = IOTSEC_FILE_WRITE;
		} else if (r < 98) {
			ev->type = IOTSEC_EVENT_CRED;
			ev->old_uid = 1000;
			ev->new_uid = 0;
			ev->from_exec = true;
		} else if (r < 99) {
			ev->type = IOTSEC_EVENT_MODULE;
			ev->module_name = S("dummy");
		} else {
			ev->type = IOTSEC_EVENT_LISTEN;
			ev->family = 2;
			ev->protocol = 6;
			ev->lport = 8080;
		}
	}
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "bench");
	rules_engine_init(&e, &ser, sink, &alerts);
	rules_engine_set(&e, rs, 0);
	for (int run = 0; run < 5; run++) {
		double t0 = now_ns(), t;

		hits = 0;
		for (unsigned long i = 0; i < n; i++)
			hits += rules_eval(&e, &evs[i & 4095], 1);
		t = (now_ns() - t0) / n;
		if (!run || t < best)
			best = t;
	}
	printf("rules: %zu enabled, %lu events a run: %.0f ns/event (best of "
	       "5); %lu hits a run, %lu alerts sent in all\n",
	       rules_count(e.rs), n, best, hits, alerts);
	rules_flush(&e, 2);
	rules_engine_fini(&e);
	free(evs);
	return 0;
}
