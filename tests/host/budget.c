// SPDX-License-Identifier: MIT
/*
 * Budgets of the local sources (issue 14): nothing local can flood the
 * spool out of the kernel's records.
 *
 *   kernel records --daemon_on_message--> spool (128 KiB, memory; broker
 *                                          away: nothing is acknowledged)
 *   10,000 failed logins -> tmp/btmp --login watcher--\
 *   SDK client reconnecting in a loop --SDK socket----+-> local -> queue
 *                                                          -> daemon_on_message
 *
 *   outage_local_flood_keeps_kernel_records   every kernel record is still
 *       in the spool afterwards, the SDK client's refusals are all in the
 *       DroppedEventsStatistics event (stats_send), and the 10,000 failed
 *       logins are all counted in a few aggregated Login events
 *
 * It drives the daemon's own functions (daemon_on_message, stats_send)
 * and the local sources as iotsecd wires them, without MQTT.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <utmpx.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "daemon/daemon.h"
#include "sdk/sdk_proto.h"
#include "sources/local.h"

#define KERNEL_HIGH 40
#define KERNEL_LOW 20
#define FAILED_LOGINS 10000

static void quiet(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

/* One request on a new connection: 1 accepted, 0 refused. */
static int one_event(const char *path)
{
	static const char req[] = "{\"v\":1,\"op\":\"custom\",\"name\":"
		"\"Door.Opened\",\"payload\":{\"Door\":\"front\"}}";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[sizeof(struct sdk_reply) + SDK_REASON_MAX];
	struct sdk_reply *r = (struct sdk_reply *)buf;
	int fd, ok = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) > 0 &&
	    recv(fd, buf, sizeof(buf), 0) >= (ssize_t)sizeof(*r) &&
	    r->magic == SDK_REPLY_MAGIC && r->status == 0)
		ok = 1;
	close(fd);
	return ok;
}

static void fail_record(struct utmpx *u, const char *user, const char *ip,
			int i)
{
	struct timeval tv;

	memset(u, 0, sizeof(*u));
	u->ut_type = LOGIN_PROCESS;
	u->ut_pid = 1000 + i;
	snprintf(u->ut_line, sizeof(u->ut_line), "ssh:notty");
	strncpy(u->ut_user, user, sizeof(u->ut_user));
	strncpy(u->ut_host, ip, sizeof(u->ut_host));
	inet_pton(AF_INET, ip, u->ut_addr_v6);
	gettimeofday(&tv, NULL);
	u->ut_tv.tv_sec = tv.tv_sec;
	u->ut_tv.tv_usec = tv.tv_usec;
}

/* Login events in the message PAYLOAD into *EVENTS, failures they count. */
static long long login_hits(const char *payload, int *events)
{
	struct json_object *o = json_tokener_parse(payload), *evs, *ev, *n,
			   *pl, *x, *v;
	long long hits = 0;

	if (!o || !json_object_object_get_ex(o, "Events", &evs))
		goto out;
	for (size_t i = 0; i < json_object_array_length(evs); i++) {
		ev = json_object_array_get_idx(evs, i);
		if (!json_object_object_get_ex(ev, "Name", &n) ||
		    strcmp(json_object_get_string(n), "Login") ||
		    !json_object_object_get_ex(ev, "Payload", &pl))
			continue;
		(*events)++;
		x = json_object_array_get_idx(pl, 0);
		if (x && json_object_object_get_ex(x, "ExtraDetails", &x) &&
		    json_object_object_get_ex(x, "HitCount", &v))
			hits += atoll(json_object_get_string(v));
		else
			hits++;
	}
out:
	json_object_put(o);
	return hits;
}

/* The sum of the ExtraDetails NAMES of the statistics event in PAYLOAD. */
static long long stat_sum(const char *payload, const char *const *names)
{
	struct json_object *o = json_tokener_parse(payload), *evs, *ev, *n,
			   *pl, *x, *v;
	long long sum = -1;

	if (!o || !json_object_object_get_ex(o, "Events", &evs))
		goto out;
	for (size_t i = 0; i < json_object_array_length(evs); i++) {
		ev = json_object_array_get_idx(evs, i);
		if (!json_object_object_get_ex(ev, "Name", &n) ||
		    strcmp(json_object_get_string(n), "DroppedEventsStatistics") ||
		    !json_object_object_get_ex(ev, "Payload", &pl))
			continue;
		x = json_object_array_get_idx(pl, 0);
		if (!x || !json_object_object_get_ex(x, "ExtraDetails", &x))
			continue;
		sum = 0;
		for (const char *const *k = names; *k; k++)
			if (json_object_object_get_ex(x, *k, &v))
				sum += atoll(json_object_get_string(v));
	}
out:
	json_object_put(o);
	return sum;
}

TEST(outage_local_flood_keeps_kernel_records)
{
	static const char *const sdk_refusals[] = {
		"SdkRejectedEvents", "SdkRateLimitedEvents",
		"SdkIdentityRefusedEvents", "SdkBudgetRefusedEvents",
		"SdkDeliverFailedEvents", "SdkClientsRefused",
		"SdkClientsRateLimited", NULL,
	};
	char dir[] = "/tmp/iotsec-budget-XXXXXX", sock[128], btmp[128],
	     wtmp[128], utmp[128], payload[1200], cmd[160];
	struct spool_config sc = { .path = NULL, .size = 512 << 10 };
	static struct daemon d;
	static struct config cfg;
	struct local_config lc;
	struct spool_rec *r;
	struct utmpx *u;
	int kernel = 0, attempts = 0, accepted = 0, status, pipefd[2], fd, mid;
	long long counted = -1, failed = 0;
	int logins = 0;
	int res[2] = { 0, 0 };
	pid_t child;
	int64_t end;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/sdk.sock", dir);
	snprintf(btmp, sizeof(btmp), "%s/btmp", dir);
	snprintf(wtmp, sizeof(wtmp), "%s/wtmp", dir);
	snprintf(utmp, sizeof(utmp), "%s/utmp", dir);
	ASSERT_EQ(0, close(open(btmp, O_CREAT | O_WRONLY, 0600)));
	ASSERT_EQ(0, close(open(wtmp, O_CREAT | O_WRONLY, 0600)));
	ASSERT_EQ(0, close(open(utmp, O_CREAT | O_WRONLY, 0600)));

	config_defaults(&cfg);
	d.cfg = &cfg;
	ser_init(&d.ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&d.queue, &cfg, &d.ser, daemon_on_message, &d,
				mono_ms()));
	ASSERT_EQ(0, spool_open(&d.spool, &sc, NULL, mono_ms()));

	/* the kernel's records, waiting for a broker that is away */
	for (int i = 0; i < KERNEL_HIGH + KERNEL_LOW; i++) {
		int n = snprintf(payload, sizeof(payload),
				 "{\"Events\":[],\"KERNEL-MARK-%d\":\"", i);

		memset(payload + n, 'k', 1000);
		strcpy(payload + n + 1000, "\"}");
		daemon_on_message(&d, i < KERNEL_HIGH ? PRIO_HIGH : PRIO_LOW,
				  MSG_AZURE, payload, strlen(payload), 1);
	}

	local_config_defaults(&lc);
	lc.sdk_cfg.path = sock;
	lc.login_cfg.btmp_path = btmp;
	lc.login_cfg.wtmp_path = wtmp;
	lc.login_cfg.utmp_path = utmp;
	lc.login_cfg.state_path = NULL;
	lc.snapshot_ms = 0;
	ASSERT_EQ(0, local_open(&d.local, &lc, &d.ser, &d.queue, quiet));

	/* 10,000 failed logins: 50 users from one address, root from 50 */
	u = calloc(FAILED_LOGINS, sizeof(*u));
	ASSERT_NE(NULL, u);
	for (int i = 0; i < FAILED_LOGINS; i++) {
		char user[16], ip[32];

		snprintf(user, sizeof(user), i % 2 ? "user%d" : "root",
			 i / 2 % 50);
		snprintf(ip, sizeof(ip), i % 2 ? "198.51.100.7" :
			 "203.0.113.%d", i / 2 % 50 + 1);
		fail_record(&u[i], user, ip, i);
	}
	fd = open(btmp, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(FAILED_LOGINS * sizeof(*u)),
		  write(fd, u, FAILED_LOGINS * sizeof(*u)));
	close(fd);
	free(u);

	/* an SDK client reconnecting at full speed for 3 s */
	ASSERT_EQ(0, pipe(pipefd));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		close(pipefd[0]);
		end = mono_ms() + 3000;
		while (mono_ms() < end) {
			int ok = one_event(sock);

			res[0]++;
			res[1] += ok > 0;
		}
		if (write(pipefd[1], res, sizeof(res)) != sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(pipefd[1]);
	end = mono_ms() + 60000;
	while (mono_ms() < end) {
		int fds[4], n = local_fds(d.local, fds, 4);
		struct pollfd p[4];

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(p, n, 10) > 0)
			for (int i = 0; i < n; i++)
				if (p[i].revents)
					local_handle(d.local, fds[i]);
		local_tick(d.local, mono_ms());
		if (waitpid(child, &status, WNOHANG) == child)
			break;
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(sizeof(res), read(pipefd[0], res, sizeof(res)));
	attempts = res[0];
	accepted = res[1];
	close(pipefd[0]);
	local_flush(d.local);
	stats_send(&d);

	/* walk the spool: every kernel record, and the statistics */
	mid = 1;
	while ((r = spool_next(d.spool))) {
		const char *pl = spool_payload(d.spool, r);

		if (pl && strstr(pl, "KERNEL-MARK-"))
			kernel++;
		if (pl && strstr(pl, "\"Login\""))
			failed += login_hits(pl, &logins);
		if (pl && strstr(pl, "DroppedEventsStatistics"))
			counted = stat_sum(pl, sdk_refusals);
		if (spool_set_inflight(d.spool, r, mid++))
			break;
	}
	TH_LOG("SDK: %d attempts, %d accepted; kernel records kept %d of %d; "
	       "SDK refusals in the statistics %lld; %d Login events count "
	       "%lld failed logins", attempts, accepted, kernel,
	       KERNEL_HIGH + KERNEL_LOW, counted, logins, failed);
	EXPECT_LT(100, attempts);
	EXPECT_EQ(KERNEL_HIGH + KERNEL_LOW, kernel);
	EXPECT_EQ(attempts - accepted, counted);
	/* 100 pairs: one event at once, one aggregate each */
	EXPECT_GE(200, logins);
	EXPECT_EQ(FAILED_LOGINS, failed);

	local_close(d.local);
	spool_close(d.spool);
	queue_fini(&d.queue);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		TH_LOG("could not remove %s", dir);
}

TEST_HARNESS_MAIN
