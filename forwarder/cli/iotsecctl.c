// SPDX-License-Identifier: MIT
/*
 * iotsecctl: look at and talk to the kernel collector and iotsecd.
 *
 *   iotsecctl status          module loaded, capabilities, subscribers,
 *                             the configuration in force and its sources
 *   iotsecctl stats           kernel and forwarder counters
 *   iotsecctl tail [--json]   live events
 *   iotsecctl record FILE [--count N] [--seconds S]
 *                             write the event stream for iotsecd --replay
 *   iotsecctl baseline show [FILE] | reset | relearn
 *                             the learned baseline: its state and tuples;
 *                             a new window (empty model, or kept)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "pipeline/aggregate.h"
#include "pipeline/baseline.h"
#include "pipeline/enrich.h"
#include "intake/nl.h"
#include "intake/replay.h"
#include "pipeline/serialize.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void print_mask(const char *label, uint32_t mask)
{
	printf("%-14s", label);
	if (!mask)
		printf(" none");
	for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX; t++)
		if (mask & IOTSEC_EVENT_BIT(t))
			printf(" %s", iotsec_event_name(t));
	printf("\n");
}

static int open_kernel(struct iotsec_nl *n, iotsec_event_fn ev, void *ctx)
{
	int ret = iotsec_nl_open(n, ev, NULL, ctx);

	if (ret == -ENOENT)
		fprintf(stderr, "iotsecctl: the iotsec module is not loaded\n");
	else if (ret)
		fprintf(stderr, "iotsecctl: netlink: %s\n", strerror(-ret));
	return ret;
}

static struct json_object *forwarder_stats(const char *path)
{
	struct json_object *j = json_object_from_file(path);
	struct json_object *pid;

	if (!j)
		return NULL;
	if (json_object_object_get_ex(j, "pid", &pid) &&
	    kill(json_object_get_int(pid), 0) && errno == ESRCH) {
		json_object_put(j);
		return NULL;	/* stale file */
	}
	return j;
}

static long long jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
	       (long long)json_object_get_int64(v) : 0;
}

/*
 * "spool          disk /var/lib/iotsec/spool, 3 messages (12345 bytes),
 *  1 in flight; dropped 0 messages (0 events), 0 corrupt, 0 write errors"
 */
static void print_spool(struct json_object *sp)
{
	struct json_object *v;
	const char *mode = json_object_object_get_ex(sp, "mode", &v) ?
			   json_object_get_string(v) : "?";
	const char *path = json_object_object_get_ex(sp, "path", &v) ?
			   json_object_get_string(v) : "";

	printf("spool          %s%s%s, %lld messages (%lld bytes), %lld in "
	       "flight; dropped %lld messages (%lld events), %lld corrupt, "
	       "%lld write errors\n", mode, *path ? " " : "", path,
	       jint(sp, "records"), jint(sp, "bytes"), jint(sp, "inflight"),
	       jint(sp, "dropped_messages"), jint(sp, "dropped_events"),
	       jint(sp, "corrupt_records"), jint(sp, "write_errors"));
}

/*
 * "config         events.exec.priority     off (twin)": each value in
 * force and where it comes from, from the nested "configuration" object.
 */
static void print_config(struct json_object *o, const char *prefix)
{
	json_object_object_foreach(o, k, v) {
		struct json_object *val, *src;
		char name[128];

		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." :
			 "", k);
		if (json_object_object_get_ex(v, "value", &val) &&
		    json_object_object_get_ex(v, "source", &src)) {
			printf("config         %-30s %s (%s)\n", name,
			       json_object_get_type(val) == json_type_string ?
			       json_object_get_string(val) :
			       json_object_to_json_string_ext(val,
					JSON_C_TO_STRING_PLAIN |
					JSON_C_TO_STRING_NOSLASHESCAPE),
			       json_object_get_string(src));
		} else if (json_object_is_type(v, json_type_object)) {
			print_config(v, name);
		}
	}
}

/* "twin           applied, desired version 5; kept in /var/lib/..." */
static void print_twin(struct json_object *t)
{
	struct json_object *v;
	bool off = json_object_object_get_ex(t, "enabled", &v) &&
		   !json_object_get_boolean(v);

	printf("twin           %s", off ? "off in the local configuration, " :
	       "");
	printf("%s", json_object_object_get_ex(t, "status", &v) ?
	       json_object_get_string(v) : "?");
	if (json_object_object_get_ex(t, "desiredVersion", &v) && v)
		printf(", desired version %lld", (long long)
		       json_object_get_int64(v));
	if (json_object_object_get_ex(t, "refusedVersion", &v) && v)
		printf(", version %lld refused", (long long)
		       json_object_get_int64(v));
	if (json_object_object_get_ex(t, "stateFile", &v) &&
	    *json_object_get_string(v))
		printf("; kept in %s", json_object_get_string(v));
	printf("\n");
}

static int cmd_status(const char *stats_path)
{
	struct iotsec_nl n;
	struct iotsec_kstats s;
	struct iotsec_kconfig kc;
	struct json_object *f;
	int ret;

	printf("module         %s\n", access("/sys/module/iotsec", F_OK) ?
	       "not loaded" : "loaded");
	ret = iotsec_nl_open(&n, NULL, NULL, NULL);
	if (!ret) {
		ret = iotsec_nl_get_stats(&n, &s);
		if (ret) {
			printf("stats          %s\n", ret == -EPERM ?
			       "permission denied (needs CAP_NET_ADMIN)" :
			       strerror(-ret));
		} else {
			print_mask("capabilities", s.caps);
			print_mask("unavailable", s.caps_missing);
			printf("subscribers    %u\n", s.subscribers);
			printf("buffer         %u events per CPU\n",
			       s.buffer_events);
			printf("memory         %llu bytes\n",
			       (unsigned long long)s.memory);
		}
		if (!iotsec_nl_get_config(&n, &kc)) {
			print_mask("enabled", kc.event_mask);
			printf("argv max       %u\n", kc.argv_max);
			printf("excluded       %u process(es)\n", kc.n_exclude);
			for (unsigned int i = 0; i < kc.n_watch; i++)
				printf("watching       %s\n", kc.watch[i]);
			iotsec_kconfig_free(&kc);
		}
		iotsec_nl_close(&n);
	} else {
		printf("family         %s\n", ret == -ENOENT ?
		       "not registered" : strerror(-ret));
	}
	f = forwarder_stats(stats_path);
	if (f) {
		struct json_object *v;

		printf("iotsecd        running, pid %d\n",
		       json_object_object_get_ex(f, "pid", &v) ?
		       json_object_get_int(v) : 0);
		if (json_object_object_get_ex(f, "mqtt", &v))
			printf("transport      %s\n", json_object_get_string(v));
		if (json_object_object_get_ex(f, "spool", &v))
			print_spool(v);
		if (json_object_object_get_ex(f, "twin", &v))
			print_twin(v);
		if (json_object_object_get_ex(f, "configuration", &v))
			print_config(v, "");
		json_object_put(f);
	} else {
		printf("iotsecd        not running\n");
	}
	return 0;
}

static int cmd_stats(const char *stats_path)
{
	struct iotsec_nl n;
	struct iotsec_kstats s;
	struct json_object *f;
	int ret;

	ret = iotsec_nl_open(&n, NULL, NULL, NULL);
	if (!ret) {
		ret = iotsec_nl_get_stats(&n, &s);
		iotsec_nl_close(&n);
	}
	if (!ret) {
		printf("%-8s %12s %12s %12s %12s\n", "kernel", "generated",
		       "dropped", "delivered", "lost");
		for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX; t++) {
			struct iotsec_type_counters *c = &s.counters.t[t];

			printf("%-8s %12llu %12llu %12llu %12llu\n",
			       iotsec_event_name(t),
			       (unsigned long long)c->generated,
			       (unsigned long long)c->dropped,
			       (unsigned long long)c->delivered,
			       (unsigned long long)c->lost);
		}
	} else {
		printf("kernel: %s\n", ret == -ENOENT ? "module not loaded" :
		       strerror(-ret));
	}
	f = forwarder_stats(stats_path);
	if (f) {
		printf("iotsecd: %s\n", json_object_to_json_string_ext(
			       f, JSON_C_TO_STRING_PRETTY |
			       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(f);
	} else {
		printf("iotsecd: not running\n");
	}
	return 0;
}

struct tail {
	bool json;
	struct enrich enrich;
	struct ser ser;
	uint64_t count, max;
};

static void addr(char *buf, size_t len, uint16_t family, const uint8_t *a)
{
	if (!family) {
		snprintf(buf, len, "-");
		return;
	}
	inet_ntop(family == 10 ? AF_INET6 : AF_INET, a, buf, len);
}

static void print_str(const char *label, struct ev_str s)
{
	while (s.len && !s.s[s.len - 1])
		s.len--;	/* argv's last NUL */
	printf(" %s=", label);
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = s.s[i];

		if (!c)
			putchar(' ');
		else if (c < 0x20 || c == 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void on_tail_event(void *ctx, struct iotsec_event *ev)
{
	struct tail *t = ctx;
	char la[64], ra[64];

	enrich_event(&t->enrich, ev);
	if (t->json) {
		struct record *r = record_new(ev);
		char *text;
		size_t len;

		if (r && !ser_record(&t->ser, r, &text, &len)) {
			printf("%s\n", text);
			free(text);
		}
		record_free(r);
	} else {
		printf("%-7s pid=%u ppid=%u uid=%u", iotsec_event_name(ev->type),
		       ev->tgid, ev->ptgid, ev->uid);
		print_str("comm", ev->comm);
		switch (ev->type) {
		case IOTSEC_EVENT_EXEC:
			print_str("exe", ev->exe);
			print_str("argv", ev->argv);
			break;
		case IOTSEC_EVENT_EXIT:
			printf(" code=%u signal=%u", ev->exit_code,
			       ev->exit_signal);
			break;
		case IOTSEC_EVENT_FORK:
			printf(" child=%u", ev->child_tgid);
			break;
		case IOTSEC_EVENT_CONNECT:
		case IOTSEC_EVENT_ACCEPT:
		case IOTSEC_EVENT_LISTEN:
			addr(la, sizeof(la), ev->family, ev->laddr);
			addr(ra, sizeof(ra), ev->family, ev->raddr);
			printf(" proto=%u local=%s:%u remote=%s:%u result=%d",
			       ev->protocol, la, ev->lport, ra, ev->rport,
			       ev->result);
			break;
		case IOTSEC_EVENT_CRED:
			printf(" uid=%u->%u euid=%u->%u caps+=0x%llx",
			       ev->old_uid, ev->new_uid, ev->old_euid,
			       ev->new_euid,
			       (unsigned long long)ev->caps_gained);
			break;
		case IOTSEC_EVENT_MODULE:
			print_str("module", ev->module_name);
			printf(" result=%d", ev->result);
			break;
		case IOTSEC_EVENT_PTRACE:
			printf(" target=%u mode=%u", ev->target_tgid,
			       ev->ptrace_mode);
			break;
		case IOTSEC_EVENT_FILE:
			print_str("path", ev->path);
			printf(" op=%u", ev->file_op);
			if (ev->new_path.s)
				print_str("to", ev->new_path);
			break;
		}
		printf("\n");
	}
	fflush(stdout);
	enrich_done(&t->enrich, ev);
	if (t->max && ++t->count >= t->max)
		stop = 1;
}

struct rec {
	int fd;
	uint64_t batches, max, err;
};

static void on_raw(void *ctx, const void *attrs, size_t len)
{
	struct rec *r = ctx;

	if (replay_write_batch(r->fd, attrs, len))
		r->err++;
	r->batches++;
	if (r->max && r->batches >= r->max)
		stop = 1;
}

static int stream(struct iotsec_nl *n, unsigned int seconds)
{
	time_t end = seconds ? time(NULL) + seconds : 0;
	int ret;

	ret = iotsec_nl_subscribe(n);
	if (ret) {
		fprintf(stderr, "iotsecctl: subscribe: %s\n", ret == -EPERM ?
			"permission denied (needs CAP_NET_ADMIN)" :
			strerror(-ret));
		return ret;
	}
	while (!stop && (!end || time(NULL) < end)) {
		struct pollfd p = { iotsec_nl_fd(n), POLLIN, 0 };

		if (poll(&p, 1, 200) < 0 && errno != EINTR)
			return -errno;
		ret = iotsec_nl_receive(n);
		if (ret) {
			fprintf(stderr, "iotsecctl: receive: %s\n",
				strerror(-ret));
			return ret;
		}
	}
	if (n->enobufs)
		fprintf(stderr, "iotsecctl: %llu receive-buffer overruns\n",
			(unsigned long long)n->enobufs);
	return 0;
}

/* ---- the learned baseline ---- */

static bool forwarder_stats_exists(const char *path)
{
	struct json_object *f = forwarder_stats(path);

	json_object_put(f);
	return f != NULL;
}

/* what the daemon counts of a request: restarts, or saves and failures */
static long long baseline_done(const char *stats_path, int what, pid_t *pid)
{
	struct json_object *f = forwarder_stats(stats_path), *b;
	long long n = -1;

	if (!f)
		return -1;
	if (pid)
		*pid = jint(f, "pid");
	if (json_object_object_get_ex(f, "baseline", &b))
		n = what == BASELINE_REQ_SAVE ? jint(b, "saves") +
		    jint(b, "save_errors") : jint(b, "restarts");
	json_object_put(f);
	return n;
}

static bool is_iotsecd(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strcmp(comm, "iotsecd\n");
}

/*
 * SIGUSR1 queued to the daemon with the request WHAT; done when its
 * stats file (written at once) counts it. 0, or 1 with the reason said.
 */
static int baseline_ask(const char *stats_path, int what)
{
	union sigval sv = { .sival_int = what };
	long long before;
	pid_t pid = 0;

	before = baseline_done(stats_path, what, &pid);
	if (before < 0 || pid <= 0) {
		fprintf(stderr, "iotsecctl: iotsecd is not running (no %s)\n",
			stats_path);
		return 1;
	}
	/*
	 * The stats file outlives a daemon that crashed: its pid may be
	 * another process's now, which SIGUSR1 would end. Only a process
	 * named iotsecd is asked.
	 */
	if (!is_iotsecd(pid)) {
		fprintf(stderr, "iotsecctl: iotsecd is not running (pid %d "
			"of %s is not iotsecd)\n", (int)pid, stats_path);
		return 1;
	}
	if (sigqueue(pid, SIGUSR1, sv)) {
		fprintf(stderr, "iotsecctl: signalling iotsecd (pid %d): %s\n",
			(int)pid, strerror(errno));
		return 1;
	}
	for (int i = 0; i < 100; i++) {
		struct timespec ts = { 0, 50 * 1000000 };

		if (baseline_done(stats_path, what, NULL) > before)
			return 0;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "iotsecctl: iotsecd (pid %d) did not confirm within "
		"5 s\n", (int)pid);
	return 1;
}

/*
 * iotsecctl baseline show [FILE]: the running daemon's summary (stats
 * file) and the tuples of its model file (or of FILE).
 */
static int baseline_show(const char *stats_path, const char *file)
{
	struct json_object *f, *b = NULL, *v;
	struct baseline bl;
	const char *path = file;
	int ret;

	/*
	 * A running daemon writes its model first (it saves a learning
	 * model once a minute); one we may not signal: the file as it is.
	 */
	if (!file && forwarder_stats_exists(stats_path) &&
	    baseline_ask(stats_path, BASELINE_REQ_SAVE))
		fprintf(stderr, "iotsecctl: showing the model file as last "
			"written\n");
	f = forwarder_stats(stats_path);

	if (f && json_object_object_get_ex(f, "baseline", &b)) {
		long long left = jint(b, "learning_left_ms");
		time_t started = jint(b, "started") / 1000;
		char when[32] = "?";

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime(&started));
		printf("state          %s", json_object_object_get_ex(b, "state",
		       &v) ? json_object_get_string(v) : "?");
		if (left > 0)
			printf(", %lld s of learning left", left / 1000);
		printf("\nwindow         %lld s from %s, %lld s learned\n",
		       jint(b, "window_ms") / 1000, when,
		       jint(b, "learned_ms") / 1000);
		printf("entries        %lld of %lld (%lld processes, %lld "
		       "connections, %lld listens)%s\n", jint(b, "entries"),
		       jint(b, "max_entries"), jint(b, "processes"),
		       jint(b, "connections"), jint(b, "listens"),
		       json_object_object_get_ex(b, "full", &v) &&
		       json_object_get_boolean(v) ?
		       "; full: learning stopped" : "");
		printf("events         %lld; learned %lld, refused (full) %lld, "
		       "deviations %lld, alerts %lld\n", jint(b, "events"),
		       jint(b, "learned"), jint(b, "refused_full"),
		       jint(b, "deviations"), jint(b, "alerts"));
		printf("not learned    %lld alerted on by a rule or an "
		       "indicator, %lld with a listed hash; deviations not "
		       "itemised %lld\n", jint(b, "suspect"),
		       jint(b, "forgotten"), jint(b, "untracked"));
		if (json_object_object_get_ex(b, "error", &v) &&
		    *json_object_get_string(v))
			printf("error          %s\n", json_object_get_string(v));
		if (!path && json_object_object_get_ex(b, "path", &v) &&
		    *json_object_get_string(v))
			path = json_object_get_string(v);
	} else if (!file) {
		fprintf(stderr, "iotsecctl: iotsecd is not running (give the "
			"model file: iotsecctl baseline show FILE)\n");
		json_object_put(f);
		return 1;
	}
	ret = 0;
	if (path) {
		baseline_init(&bl, NULL, NULL, NULL);
		bl.max_entries = BASELINE_MAX_ENTRIES_MAX;
		printf("model          %s\n", path);
		ret = baseline_load(&bl, path);
		if (ret == -ENOENT)
			printf("               not written yet\n");
		else if (ret)
			fprintf(stderr, "iotsecctl: %s\n", bl.error);
		else
			baseline_print(&bl, stdout);
		baseline_fini(&bl);
		ret = ret && ret != -ENOENT;
	}
	json_object_put(f);
	return ret;
}

/* reset / relearn */
static int baseline_request(const char *stats_path, int what)
{
	if (baseline_ask(stats_path, what))
		return 1;
	printf("baseline %s: a new learning window started\n",
	       what == BASELINE_REQ_RESET ? "reset" : "re-learning");
	return 0;
}

static int cmd_baseline(const char *stats_path, const char *sub,
			const char *file)
{
	if (sub && !strcmp(sub, "show"))
		return baseline_show(stats_path, file);
	if (sub && !file && !strcmp(sub, "reset"))
		return baseline_request(stats_path, BASELINE_REQ_RESET);
	if (sub && !file && !strcmp(sub, "relearn"))
		return baseline_request(stats_path, BASELINE_REQ_RELEARN);
	fprintf(stderr, "usage: iotsecctl baseline show [FILE] | reset | "
		"relearn\n");
	return 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: iotsecctl [--stats-file F] status | stats |\n"
		"       tail [--json] [--count N] [--seconds S] |\n"
		"       record FILE [--batches N] [--seconds S] |\n"
		"       baseline show [FILE] | reset | relearn\n");
}

int main(int argc, char **argv)
{
	const char *stats_path = IOTSEC_STATS_PATH;
	struct sigaction sa = { .sa_handler = on_signal };
	struct iotsec_nl n;
	unsigned int seconds = 0;
	uint64_t count = 0;
	bool json = false;
	const char *cmd, *file = NULL, *arg2 = NULL;
	int i = 1, ret;

	if (argc > 2 && !strcmp(argv[1], "--stats-file")) {
		stats_path = argv[2];
		i = 3;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if ((!strcmp(argv[i], "--count") ||
			  !strcmp(argv[i], "--batches")) && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtoul(argv[++i], NULL, 10);
		else if (!file && argv[i][0] != '-')
			file = argv[i];
		else if (!arg2 && !strcmp(cmd, "baseline") &&
			 argv[i][0] != '-')
			arg2 = argv[i];	/* baseline show FILE */
		else {
			usage(stderr);
			return 2;
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!strcmp(cmd, "status"))
		return cmd_status(stats_path);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(stats_path);
	if (!strcmp(cmd, "baseline"))
		return cmd_baseline(stats_path, file, arg2);
	if (!strcmp(cmd, "tail")) {
		struct tail t = { .json = json, .max = count };

		if (enrich_init(&t.enrich, true, true, true, true))
			return 1;
		ser_init(&t.ser, "00000000-0000-4000-8000-000000000000",
			 IOTSEC_VERSION);
		if (open_kernel(&n, on_tail_event, &t))
			return 1;
		ret = stream(&n, seconds);
		iotsec_nl_close(&n);
		enrich_fini(&t.enrich);
		return ret ? 1 : 0;
	}
	if (!strcmp(cmd, "record") && file) {
		struct rec r = { .max = count };
		struct ser s;

		r.fd = strcmp(file, "-") ? open(file, O_WRONLY | O_CREAT |
						O_TRUNC | O_CLOEXEC, 0600) : 1;
		if (r.fd < 0) {
			fprintf(stderr, "iotsecctl: %s: %s\n", file,
				strerror(errno));
			return 1;
		}
		ser_init(&s, "", "");
		if (replay_write_header(r.fd, s.boot_to_real_ns) ||
		    open_kernel(&n, NULL, NULL))
			return 1;
		n.on_raw = on_raw;
		n.raw_ctx = &r;
		ret = stream(&n, seconds);
		fprintf(stderr, "iotsecctl: recorded %llu batches, %llu events "
			"to %s\n", (unsigned long long)r.batches,
			(unsigned long long)n.dec.stats.events, file);
		iotsec_nl_close(&n);
		if (r.fd != 1 && close(r.fd))
			ret = -errno;
		return ret || r.err ? 1 : 0;
	}
	usage(stderr);
	return 2;
}
