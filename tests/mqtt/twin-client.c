// SPDX-License-Identifier: MIT
/*
 * twin-client: the twin of forwarder/transport/twin.c driven from an
 * epoll loop built the way iotsecd's is, for tests/host/twin-*.sh. Not
 * installed.
 *
 *   twin-client -c CONNSTR --ca F [--cert F --key F] [options]   IoT Hub
 *   twin-client -H HOST -p PORT -d DEVICE [options]             broker
 *     --interval S        least seconds between two reported PATCHes
 *     --timeout S         seconds for the hub's answer
 *     --desired-topic T / --reported-topic T   broker-mode templates
 *     -W S                run S seconds (default 60)
 *
 * Prints "connected", "disconnected: WHY", for each document the twin
 * hands over "full JSON" or "patch JSON", and "ack MID" for an ack given
 * to the caller's callback (none should be: the twin's are its own). Reads commands on stdin:
 * "report JSON" (prints "report 0" or "report -ERRNO"), "quit".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "transport/mqtt.h"
#include "common/clock.h"

static void on_twin(void *ctx, bool full, const char *json, size_t len)
{
	printf("%s %.*s\n", full ? "full" : "patch", (int)len, json);
	fflush(stdout);
}

/* The twin's own publishes must never come here (the spool's acks). */
static void on_ack(void *ctx, int mid)
{
	printf("ack %d\n", mid);
	fflush(stdout);
}

static void watch(int ep, struct mqtt *m)
{
	static int last = -1;
	static uint32_t last_ev;
	struct epoll_event ev = { 0 };
	int fd = mqtt_fd(m);

	ev.events = EPOLLIN | (fd >= 0 && mqtt_want_write(m) ? EPOLLOUT : 0);
	ev.data.fd = fd;
	if (fd != last) {
		if (last >= 0)
			epoll_ctl(ep, EPOLL_CTL_DEL, last, NULL);
		if (fd >= 0)
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	} else if (fd >= 0 && ev.events != last_ev) {
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	}
	last = fd;
	last_ev = ev.events;
}

/* One command line from stdin; false: quit. */
static bool command(struct mqtt *m, char *line)
{
	if (!strncmp(line, "report ", 7)) {
		printf("report %d\n", mqtt_twin_report(m, line + 7));
	} else if (!strcmp(line, "quit")) {
		return false;
	} else if (line[0]) {
		printf("unknown command %s\n", line);
	}
	fflush(stdout);
	return true;
}

/*
 * What stdin has now, line by line (no stdio buffer: epoll would not wake
 * for lines already read into it). Nonzero at end of input.
 */
static int read_commands(struct mqtt *m, char *buf, size_t size,
			 size_t *have, long long *end)
{
	ssize_t n = read(0, buf + *have, size - 1 - *have);
	char *nl;

	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : 1;
	*have += (size_t)n;
	buf[*have] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		if (!command(m, buf))
			*end = 0;
		*have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *have + 1);
	}
	if (*have == size - 1)
		*have = 0;	/* a line too long: dropped */
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connstr", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "device", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "desired-topic", required_argument, NULL, 'D' },
		{ "reported-topic", required_argument, NULL, 'R' },
		{ 0 }
	};
	struct mqtt_config cfg = { .mode = MQTT_MODE_BROKER };
	long long end, run = 60000;
	bool was_connected = false, in_open = true;
	char err[512], line[65536];
	struct epoll_event sev = { .events = EPOLLIN, .data.fd = 0 };
	struct mqtt *m;
	size_t have = 0;
	int c, ep;

	while ((c = getopt_long(argc, argv, "c:H:p:d:W:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (mqtt_config_from_connection_string(&cfg, optarg, err,
							       sizeof(err))) {
				printf("error: %s\n", err);
				return 1;
			}
			break;
		case 'H':
			cfg.host = strdup(optarg);
			break;
		case 'p':
			cfg.port = atoi(optarg);
			break;
		case 'A':
			cfg.ca_file = strdup(optarg);
			break;
		case 'C':
			cfg.cert_file = strdup(optarg);
			break;
		case 'K':
			cfg.key_file = strdup(optarg);
			break;
		case 'd':
			free(cfg.device_id);
			cfg.device_id = strdup(optarg);
			break;
		case 'I':
			cfg.twin_report_interval = (unsigned int)atoi(optarg);
			break;
		case 'T':
			cfg.twin_timeout = (unsigned int)atoi(optarg);
			break;
		case 'D':
			cfg.twin_desired_topic = strdup(optarg);
			break;
		case 'R':
			cfg.twin_reported_topic = strdup(optarg);
			break;
		case 'W':
			run = atoll(optarg) * 1000;
			break;
		default:
			fprintf(stderr, "usage: twin-client (-c CONNSTR | -H HOST) [options]; see the source\n");
			return 2;
		}
	}
	if (!cfg.host)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	m = mqtt_new(&cfg, on_ack, NULL, err, sizeof(err));
	mqtt_config_free(&cfg);
	if (!m) {
		printf("error: %s\n", err);
		return 1;
	}
	mqtt_set_twin(m, on_twin, NULL);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev) || mqtt_start(m)) {
		printf("error: start: %s\n", mqtt_last_error(m));
		mqtt_free(m);
		return 1;
	}
	end = mono_ms() + run;
	while (mono_ms() < end) {
		struct epoll_event ev[4];
		struct timespec ts;
		int wait, n, i;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		wait = mqtt_tick(m, ts);
		if (mqtt_connected(m) != was_connected) {
			if (mqtt_connected(m))
				printf("connected\n");
			else
				printf("disconnected: %s\n", mqtt_last_error(m));
			fflush(stdout);
		}
		was_connected = mqtt_connected(m);
		watch(ep, m);
		n = epoll_wait(ep, ev, 4, wait);
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd != 0) {
				mqtt_handle(m, ev[i].events);
				continue;
			}
			if (!in_open)
				continue;
			if (read_commands(m, line, sizeof(line), &have, &end)) {
				in_open = false;
				epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
			}
		}
	}
	mqtt_free(m);
	close(ep);
	return 0;
}
