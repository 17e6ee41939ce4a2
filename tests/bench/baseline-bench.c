// SPDX-License-Identifier: MIT
/*
 * The learned baseline's cost per event (not a test): baseline_eval() on
 * a mix like synth.c's (execs, outbound connections, exits, a listen now
 * and then), enriched as the daemon enriches them, against a model
 * holding MODEL tuples (the mix's own and filler up to MODEL). Measured
 * twice: enforcing (every tuple known: one hash and one probe, no
 * alert) and learning (the same, counting the hit).
 *
 * usage: baseline-bench [EVENTS] [MODEL]
 * Prints ns/event (best of 5 runs) for each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pipeline/baseline.h"
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

static double run(struct baseline *b, const struct iotsec_event *evs,
		  unsigned long n, uint64_t now_ms, unsigned long *dev)
{
	double best = 0;

	for (int r = 0; r < 5; r++) {
		double t0 = now_ns(), t;

		*dev = 0;
		for (unsigned long i = 0; i < n; i++)
			*dev += baseline_eval(b, &evs[i & 4095], now_ms);
		t = (now_ns() - t0) / n;
		if (!r || t < best)
			best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const char *const progs[] = { "/usr/bin/curl", "/bin/sh",
		"/usr/sbin/sshd", "/usr/bin/python3", "/bin/ls", "/bin/cat" };
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
	unsigned long model = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	unsigned long alerts = 0, dev = 0;
	struct iotsec_event *evs, filler = { 0 };
	struct baseline b;
	struct ser ser;
	char exe[32];
	double learn, enforce;

	evs = calloc(4096, sizeof(*evs));
	if (!evs)
		return 1;
	for (unsigned int i = 0; i < 4096; i++) {
		struct iotsec_event *ev = &evs[i];
		unsigned int k = (i * 2654435761u) >> 7, r = k % 100;
		const char *x = progs[k % 6];

		ev->tgid = ev->tid = 1000 + i;
		ev->ptgid = 1;
		ev->comm = S(strrchr(x, '/') + 1);
		ev->proc_exe = S(x);
		ev->parent_exe = S(k % 2 ? "/usr/lib/systemd/systemd" :
					   "/bin/bash");
		if (r < 45) {
			ev->type = IOTSEC_EVENT_EXEC;
			ev->exe = S(x);
		} else if (r < 75) {
			ev->type = IOTSEC_EVENT_CONNECT;
			ev->family = 2;
			ev->protocol = 6;
			ev->lport = 40000 + i;
			ev->rport = 443 + k % 4;
		} else if (r < 99) {
			ev->type = IOTSEC_EVENT_EXIT;
		} else {
			ev->type = IOTSEC_EVENT_LISTEN;
			ev->family = 2;
			ev->protocol = 6;
			ev->lport = 8080;
		}
	}
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "bench");
	baseline_init(&b, &ser, sink, &alerts);
	if (baseline_configure(&b, true, 3600000, model, NULL, 60000, 0))
		return 1;
	/* the mix's tuples, then filler up to MODEL */
	for (unsigned int i = 0; i < 4096; i++)
		baseline_eval(&b, &evs[i], 0);
	filler.type = IOTSEC_EVENT_EXEC;
	filler.parent_exe = S("/sbin/init");
	for (unsigned long i = 0; b.model.n < model; i++) {
		snprintf(exe, sizeof(exe), "/opt/filler/%lu", i);
		filler.exe = S(exe);
		baseline_eval(&b, &filler, 0);
	}
	learn = run(&b, evs, n, 1, &dev);
	enforce = run(&b, evs, n, 3600000 + 1, &dev);
	printf("baseline: %zu tuples, %lu events a run: enforcing %.1f "
	       "ns/event, learning %.1f ns/event (best of 5); %lu deviations, "
	       "%lu alerts\n", b.model.n, n, enforce, learn, dev, alerts);
	baseline_fini(&b);
	free(evs);
	return 0;
}
