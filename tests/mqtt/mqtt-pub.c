// SPDX-License-Identifier: MIT
/*
 * mqtt-pub: publish through forwarder/transport/mqtt.c from an epoll loop built the
 * way iotsecd's is, for the MQTT tests. Not installed.
 *
 *   mqtt-pub -c CONNSTR [--ca F] [--cert F --key F] [-n N] ...   IoT Hub
 *   mqtt-pub -H HOST -p PORT [--tls --ca F] [--topic T] ...      broker
 *   mqtt-pub -c CONNSTR --print-sas EXPIRY | --print-ids
 *
 * Prints "connected", "acked MID", "error: ..." lines and a last line
 * "published N acked M". Exit 0 when every message was acked (with
 * --expect-fail: when it never connected and said why).
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
#include "transport/mqtt_priv.h"
#include "common/clock.h"

struct run {
	int acked;
	int published;
	int pending[4096];
};

static void on_ack(void *ctx, int mid)
{
	struct run *r = ctx;
	int i;

	for (i = 0; i < r->published && i < 4096; i++) {
		if (r->pending[i] == mid) {
			r->pending[i] = -1;
			r->acked++;
			printf("acked %d\n", mid);
			fflush(stdout);
			return;
		}
	}
	printf("ack for unknown mid %d\n", mid);
}

/*
 * Follow the transport's socket as iotsecd does: register when the number
 * changes, modify when the events do. The transport must make this enough
 * (mqtt_fd() goes -1 between two sockets, even when the new one gets the
 * old number), so this is deliberately not more careful.
 */
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
		if (fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			printf("epoll add %d: %s\n", fd, strerror(errno));
	} else if (fd >= 0 && ev.events != last_ev &&
		   epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev)) {
		printf("epoll mod %d: %s\n", fd, strerror(errno));
	}
	last = fd;
	last_ev = ev.events;
}

static void usage(void)
{
	fprintf(stderr, "usage: mqtt-pub (-c CONNSTR | -H HOST) [options]; see the source\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connstr", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'n' },
		{ "tls", no_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'A' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'P' },
		{ "client-id", required_argument, NULL, 'i' },
		{ "device", required_argument, NULL, 'd' },
		{ "topic", required_argument, NULL, 'T' },
		{ "type", required_argument, NULL, 'y' },
		{ "ttl", required_argument, NULL, 'L' },
		{ "keepalive", required_argument, NULL, 'k' },
		{ "interval", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'W' },
		{ "mid", required_argument, NULL, 'm' },
		{ "payload", required_argument, NULL, 'D' },
		{ "expect-fail", no_argument, NULL, 'F' },
		{ "print-sas", required_argument, NULL, 'S' },
		{ "print-ids", no_argument, NULL, 'N' },
		{ 0 }
	};
	struct mqtt_config cfg = { .mode = MQTT_MODE_BROKER };
	struct run run = { 0 };
	const char *mid_prefix = "mid", *payload = "{\"hello\":\"iotsec\"}";
	const char *type = "security";
	long long interval = 0, timeout = 10000, end, next_pub = 0;
	long long print_sas = -1;
	bool expect_fail = false, print_ids = false, was_connected = false;
	int count = 1, c, ep, ret = 1;
	char err[512];
	struct mqtt *m;

	while ((c = getopt_long(argc, argv, "c:H:p:n:", opts, NULL)) != -1) {
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
		case 'n':
			count = atoi(optarg);
			break;
		case 't':
			cfg.tls = true;
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
		case 'u':
			cfg.username = strdup(optarg);
			cfg.auth = MQTT_AUTH_PASSWORD;
			break;
		case 'P':
			cfg.password = strdup(optarg);
			break;
		case 'i':
			cfg.client_id = strdup(optarg);
			break;
		case 'd':
			free(cfg.device_id);
			cfg.device_id = strdup(optarg);
			break;
		case 'T':
			cfg.topic = strdup(optarg);
			break;
		case 'y':
			type = optarg;
			break;
		case 'L':
			cfg.sas_ttl = (unsigned int)atoi(optarg);
			break;
		case 'k':
			cfg.keepalive = (unsigned int)atoi(optarg);
			break;
		case 'I':
			interval = atoll(optarg);
			break;
		case 'W':
			timeout = atoll(optarg) * 1000;
			break;
		case 'm':
			mid_prefix = optarg;
			break;
		case 'D':
			payload = optarg;
			break;
		case 'F':
			expect_fail = true;
			break;
		case 'S':
			print_sas = atoll(optarg);
			break;
		case 'N':
			print_ids = true;
			break;
		default:
			usage();
		}
	}
	if (!cfg.host || count < 0 || count > 4096)
		usage();
	if (cfg.mode == MQTT_MODE_BROKER && cfg.cert_file)
		cfg.auth = MQTT_AUTH_X509;
	if (cfg.mode == MQTT_MODE_IOTHUB && cfg.cert_file &&
	    cfg.auth != MQTT_AUTH_X509)
		fprintf(stderr, "note: client certificate with a SAS key\n");

	if (print_sas >= 0 || print_ids) {
		struct mqtt_message msg = {
			.message_id = "mid-1", .content_type = "application/json",
			.content_encoding = "utf-8", .security = true,
		};
		char *res = mqtt_hub_resource(&cfg), *s;

		if (print_sas >= 0) {
			s = sas_token(res, cfg.shared_key, cfg.key_name,
				      (time_t)print_sas);
			printf("%s\n", s ? s : "(null)");
			free(s);
		} else {
			s = mqtt_hub_client_id(&cfg);
			printf("client_id %s\n", s);
			free(s);
			s = mqtt_hub_username(&cfg);
			printf("username %s\n", s);
			free(s);
			s = mqtt_hub_topic(&cfg, &msg);
			printf("topic %s\n", s);
			free(s);
		}
		free(res);
		mqtt_config_free(&cfg);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	m = mqtt_new(&cfg, on_ack, &run, err, sizeof(err));
	mqtt_config_free(&cfg);
	if (!m) {
		printf("error: %s\n", err);
		return expect_fail ? 0 : 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || mqtt_start(m)) {
		printf("error: start: %s\n", mqtt_last_error(m));
		goto out;
	}
	end = mono_ms() + timeout;
	while (mono_ms() < end) {
		struct epoll_event ev[4];
		struct timespec ts;
		int wait, n, i;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		wait = mqtt_tick(m, ts);
		if (mqtt_connected(m) && !was_connected) {
			printf("connected\n");
			fflush(stdout);
		}
		if (!mqtt_connected(m) && was_connected) {
			printf("disconnected: %s\n", mqtt_last_error(m));
			fflush(stdout);
		}
		was_connected = mqtt_connected(m);
		if (expect_fail && mqtt_last_error(m)[0]) {
			printf("error: %s\n", mqtt_last_error(m));
			ret = 0;
			goto out;
		}
		if (was_connected && run.published < count &&
		    mono_ms() >= next_pub) {
			struct mqtt_message msg = {
				.payload = payload, .len = strlen(payload),
				.content_type = "application/json",
				.content_encoding = "utf-8",
				.security = true, .type = type,
			};
			char mid[64];
			int r;

			snprintf(mid, sizeof(mid), "%s-%d", mid_prefix,
				 run.published + 1);
			msg.message_id = mid;
			r = mqtt_publish(m, &msg, &run.pending[run.published]);
			if (r == 0) {
				printf("published %s as %d\n", mid,
				       run.pending[run.published]);
				run.published++;
				next_pub = mono_ms() + interval;
			} else {
				printf("publish %s: %s\n", mid, strerror(-r));
			}
			fflush(stdout);
			continue;
		}
		if (run.published == count && run.acked == count)
			break;
		if (was_connected && run.published < count &&
		    next_pub - mono_ms() < wait)
			wait = (int)(next_pub - mono_ms());
		if (wait < 0)
			wait = 0;
		watch(ep, m);
		n = epoll_wait(ep, ev, 4, wait);
		for (i = 0; i < n; i++)
			mqtt_handle(m, ev[i].events);
	}
	if (expect_fail) {
		printf("error: none, %s\n", was_connected ? "it connected" :
		       "timed out");
	} else {
		if (mqtt_last_error(m)[0])
			printf("error: %s\n", mqtt_last_error(m));
		ret = run.acked == count ? 0 : 1;
	}
	printf("published %d acked %d\n", run.published, run.acked);
out:
	mqtt_free(m);
	if (ep >= 0)
		close(ep);
	return ret;
}
