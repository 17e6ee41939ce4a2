// SPDX-License-Identifier: MIT
/*
 * sdk-stream: a steady stream of numbered custom events through libiotsec,
 * for the delivery tests (tests/host/delivery*.sh).
 *
 *   sdk-stream -s SOCKET [-r RATE] [-n COUNT] [-f FIRST] [-p PAD [-V]]
 *              [-N NAME] [-t TAG] [-a ACKED_FILE] [-R RETRY_S]
 *
 * Event number SEQ (FIRST, FIRST+1, ...) is the custom event NAME (default
 * Test.Seq) with the payload {"Seq": SEQ, "Run": TAG, "Pad": "x...x"}
 * (PAD bytes of padding; with -V, (SEQ * 7919) % (PAD + 1) bytes, so that
 * sizes vary), sent at RATE events/s (default 20) until COUNT are
 * accepted or refused (0: until SIGTERM/SIGINT).
 *
 * What the daemon answered is the point of a delivery test, so each
 * accepted SEQ is written to ACKED_FILE (one a line, flushed at once: a
 * line there means iotsec_send_custom() returned 0); refusals are written
 * as "SEQ -ERRNO reason". A refused event is not retried (it counts as
 * refused), except -EAGAIN (rate limit: the same SEQ again a little later).
 * When the daemon goes away (-EPIPE, -ECONNRESET, -ECONNREFUSED, -ENOENT,
 * -ETIMEDOUT) the event's fate is unknown: it is written as "SEQ ?ERRNO"
 * and the same SEQ is sent again once a connection is made again (the
 * receiver may then see it twice), for up to RETRY_S seconds (default 60).
 *
 * At exit a summary on stdout:
 *   sent S accepted A refused R unknown U reconnects C last SEQ
 * Exit status 0, or 1 when the daemon could not be reached in time.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iotsec/iotsec.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);	/* a signal ends it early: fine */
}

static void usage(void)
{
	fprintf(stderr, "usage: sdk-stream -s SOCKET [-r RATE] [-n COUNT] "
		"[-f FIRST] [-p PAD [-V]] [-N NAME] [-t TAG] [-a ACKED_FILE] "
		"[-R RETRY_S]\n");
	exit(2);
}

static bool gone(int ret)
{
	return ret == -EPIPE || ret == -ECONNRESET || ret == -ECONNREFUSED ||
	       ret == -ENOENT || ret == -ETIMEDOUT || ret == -ENOTCONN;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *name = "Test.Seq", *tag = "run",
		   *acked_path = NULL;
	unsigned long long count = 0, first = 1, seq, sent = 0, accepted = 0,
			   refused = 0, unknown = 0, reconnects = 0;
	double rate = 20, retry_s = 60, next, lost_since = 0;
	size_t pad = 0, cap;
	struct iotsec *h = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	FILE *acked = NULL;
	char *payload, *padding;
	int opt, ret, status = 0;
	bool vary = false;

	while ((opt = getopt(argc, argv, "s:r:n:f:p:VN:t:a:R:h")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 'f': first = strtoull(optarg, NULL, 10); break;
		case 'p': pad = strtoul(optarg, NULL, 10); break;
		case 'V': vary = true; break;
		case 'N': name = optarg; break;
		case 't': tag = optarg; break;
		case 'a': acked_path = optarg; break;
		case 'R': retry_s = atof(optarg); break;
		default: usage();
		}
	}
	if (!sock || rate <= 0 || optind != argc)
		usage();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (acked_path) {
		acked = fopen(acked_path, "a");
		if (!acked) {
			perror(acked_path);
			return 1;
		}
		setvbuf(acked, NULL, _IOLBF, 0);
	}
	cap = pad + strlen(tag) + 128;
	payload = malloc(cap);
	padding = malloc(pad + 1);
	if (!payload || !padding)
		return 1;
	memset(padding, 'x', pad);
	padding[pad] = '\0';

	next = now_s();
	seq = first;
	while (!stop && (!count || accepted + refused < count)) {
		if (!h) {
			ret = iotsec_open(&h, sock);
			if (ret) {
				h = NULL;
				if (!lost_since)
					lost_since = now_s();
				if (now_s() - lost_since > retry_s) {
					fprintf(stderr, "sdk-stream: %s: %s\n",
						sock, strerror(-ret));
					status = 1;
					break;
				}
				sleep_until(now_s() + 0.05);
				continue;
			}
			if (lost_since)
				reconnects++;
			lost_since = 0;
			iotsec_set_timeout(h, 3000);
		}
		sleep_until(next);
		if (stop)
			break;
		snprintf(payload, cap, "{\"Seq\":%llu,\"Run\":\"%s\",\"Pad\":\"%s\"}",
			 seq, tag, padding + (vary ? pad - (seq * 7919) % (pad + 1) : 0));
		ret = iotsec_send_custom(h, name, payload);
		sent++;
		if (ret == 0) {
			accepted++;
			if (acked)
				fprintf(acked, "%llu\n", seq);
		} else if (ret == -EAGAIN) {
			next = now_s() + 0.02;
			continue;		/* same seq */
		} else if (gone(ret)) {
			unknown++;
			if (acked)
				fprintf(acked, "%llu ?%d\n", seq, ret);
			iotsec_close(h);
			h = NULL;
			lost_since = now_s();
			continue;		/* same seq, on a new connection */
		} else {
			refused++;
			if (acked)
				fprintf(acked, "%llu %d %s\n", seq, ret,
					iotsec_last_error(h));
		}
		seq++;
		next += 1.0 / rate;
		if (next < now_s() - 1)	/* fell behind: no burst to catch up */
			next = now_s();
	}
	if (h)
		iotsec_close(h);
	printf("sent %llu accepted %llu refused %llu unknown %llu "
	       "reconnects %llu last %llu\n", sent, accepted, refused, unknown,
	       reconnects, seq - 1);
	if (acked)
		fclose(acked);
	free(payload);
	free(padding);
	return status;
}
