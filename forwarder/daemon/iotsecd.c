// SPDX-License-Identifier: MIT
/*
 * iotsecd: the forwarder daemon. One epoll loop (loop.c; only the broker's
 * name is resolved off it, docs/architecture.md):
 *
 *   netlink socket --decode--> enrich --> priority queues (aggregation)
 *   timerfd: flush due queues, operational statistics, MQTT ticks
 *   signalfd: SIGHUP reloads the config, SIGTERM/SIGINT flush and exit
 *   packed messages --> spool (spool.h, bounded, on disk) --> MQTT socket
 *   (mqtt.h), QoS 1: a PUBACK removes the message from the spool
 *   local sources (local.h): SDK socket, wtmp/btmp, periodic snapshots
 *
 * --replay FILE feeds a recording through the same pipeline instead of the
 * kernel; --output FILE writes each message as one line of JSON instead of
 * publishing (for tests and for looking at what would be sent).
 *
 * This file: the options and the start and end of the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "daemon/daemon.h"

static int replay_batch(void *ctx, const void *attrs, size_t len)
{
	struct daemon *d = ctx;

	/* the recording's clock, so that times are the original ones */
	d->ser.boot_to_real_ns = d->reader->boot_to_real_ns;
	iotsec_decode_batch(&d->nl.dec, attrs, len);
	return 0;
}

/* The transport's lines go where the daemon's go: syslog once detached. */
static void log_mqtt(int level, const char *line)
{
	logmsg(level, "mqtt: %s", line);
}

/*
 * A recording on a pipe or FIFO is read by the loop as it arrives (1);
 * 0 for a file, read whole before the loop runs; or -errno.
 */
static int replay_open_stream(struct daemon *d, const char *path)
{
	struct stat st;
	int fd;

	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode)) {
		if (fd)
			close(fd);
		return 0;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	daemon_replay_stream(d, fd);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: iotsecd [options]\n"
		"  -c, --config FILE       configuration (default %s)\n"
		"      --check-config FILE check a configuration and exit\n"
		"  -f, --foreground        stay in the foreground, log to stderr\n"
		"      --replay FILE       feed a recording (iotsecctl record)\n"
		"                          instead of the kernel, then exit;\n"
		"                          a pipe or FIFO ('-': stdin) is read\n"
		"                          as it arrives\n"
		"      --output FILE       write messages to FILE ('-': stdout),\n"
		"                          one per line, instead of publishing\n"
		"      --stats-file FILE   counters for iotsecctl (default %s)\n"
		"  -v, --verbose           debug logging\n"
		"  -V, --version\n", IOTSEC_CONFIG_PATH, IOTSEC_STATS_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "replay", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "stats-file", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .config_path = IOTSEC_CONFIG_PATH,
			    .stats_path = IOTSEC_STATS_PATH, .mqtt_fd_reg = -1,
			    .replay_fd = -1 };
	const char *replay = NULL, *output = NULL;
	bool config_given = false, verbose = false;
	sigset_t mask;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:fvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; config_given = true; break;
		case 'C': {
			struct config cfg;
			char err[512];

			ret = config_load(&cfg, optarg, err, sizeof(err));
			if (ret) {
				fprintf(stderr, "%s\n", err);
			} else {
				/* the transport as a start would build it:
				 * TLS files load, a SAS token can be made */
				struct mqtt *m = mqtt_new(&cfg.mqtt, NULL, NULL,
							  err, sizeof(err));

				if (!m) {
					fprintf(stderr, "%s: %s\n", optarg, err);
					ret = -EINVAL;
				} else if (cfg.warning[0]) {
					fprintf(stderr, "warning: %s\n", cfg.warning);
				}
				mqtt_free(m);
				if (!ret) {
					struct ruleset *rs = NULL;

					err[0] = '\0';
					ret = daemon_rules_compile(
						&cfg, optarg, &rs, err,
						sizeof(err));
					if (ret)
						fprintf(stderr, "%s\n", err);
					rules_free(rs);
				}
			}
			if (!ret)
				printf("%s: OK (%s %s:%d)\n", optarg,
				       cfg.mqtt.mode == MQTT_MODE_IOTHUB ?
				       "IoT Hub" : "broker", cfg.mqtt.host,
				       cfg.mqtt.port ? cfg.mqtt.port :
				       cfg.mqtt.tls ? 8883 : 1883);
			config_free(&cfg);
			return ret ? 1 : 0;
		}
		case 'f': d.foreground = true; break;
		case 'r': replay = optarg; break;
		case 'o': output = optarg; break;
		case 's': d.stats_path = *optarg ? optarg : NULL; break;
		case 'v': verbose = true; break;
		case 'V': printf("iotsecd %s\n", IOTSEC_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init(d.foreground || replay);
	mqtt_set_log(log_mqtt);
	d.cfg = &d.cfg_store[0];
	if (daemon_load_config(d.config_path, d.cfg, config_given, &d.yaml,
			       &d.yaml_len))
		return 1;
	/* the fleet's settings last applied, also with no network yet */
	daemon_twin_boot(&d);
	log_set_level(verbose ? LOG_DEBUG : d.cfg->log_level);
	if (!d.foreground && !replay && daemon(0, 0)) {
		logmsg(LOG_ERR, "daemon: %s", strerror(errno));
		return 1;
	}
	if (d.stats_path)
		mkdir_parent(d.stats_path, 0755);
	ser_init(&d.ser, d.cfg->agent_id, IOTSEC_VERSION);
	if (enrich_init(&d.enrich, d.cfg->enrich_users, d.cfg->enrich_parent,
			d.cfg->enrich_container, !replay) ||
	    queue_init(&d.queue, d.cfg, &d.ser, daemon_on_message, &d,
		       mono_ms()) ||
	    iotsec_decoder_init(&d.nl.dec, daemon_on_event, stats_on_counters,
				&d)) {
		logmsg(LOG_ERR, "out of memory");
		return 1;
	}
	if (daemon_rules_load(&d, true) || daemon_baseline_config(&d, true))
		return 1;
	d.next_stats_ms = mono_ms() + d.cfg->statistics_ms;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);	/* iotsecctl baseline reset|relearn */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	d.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d.epfd < 0 || d.sfd < 0 || d.tfd < 0) {
		logmsg(LOG_ERR, "epoll/signalfd/timerfd: %s", strerror(errno));
		return 1;
	}
	if (daemon_epoll_set(&d, d.sfd, EPOLLIN, EPOLL_CTL_ADD) ||
	    daemon_epoll_set(&d, d.tfd, EPOLLIN, EPOLL_CTL_ADD))
		return 1;
	if (output) {
		d.output = strcmp(output, "-") ? fopen(output, "w") : stdout;
		if (!d.output) {
			logmsg(LOG_ERR, "%s: %s", output, strerror(errno));
			return 1;
		}
	} else {
		struct spool_config sc = {
			.path = d.cfg->spool.path ? d.cfg->spool.path :
				IOTSEC_SPOOL_PATH,
			.size = d.cfg->spool.size,
			.sync_ms = d.cfg->spool.sync_ms,
			.local_size = d.cfg->spool.size *
				      d.cfg->spool.local_share / 100,
		};

		if (spool_open(&d.spool, &sc, logmsg, mono_ms())) {
			logmsg(LOG_ERR, "spool: out of memory");
			return 1;
		}
		if (sc.size < SPOOL_HDR_SIZE + d.cfg->max_message_size)
			logmsg(LOG_WARNING, "spool.size (%llu bytes) is below "
			       "messages.max_size (%zu bytes): a message larger "
			       "than the spool is dropped (counted)",
			       (unsigned long long)sc.size,
			       d.cfg->max_message_size);
		if (daemon_mqtt_up(&d))
			return 1;
	}
	if (replay) {
		struct replay_reader r;

		d.replay = true;
		d.reader = &r;
		replay_init(&r, replay_batch, &d);
		ret = replay_open_stream(&d, replay);
		if (ret > 0) {
			struct local_config lc;

			/*
			 * a pipe: the loop reads it as it comes, as it reads
			 * the kernel's socket, next to the local sources
			 */
			daemon_local_config(d.cfg, &lc);
			daemon_rules_observe_logins(&d, &lc);
			if (!local_open(&d.local, &lc, &d.ser, &d.queue,
					logmsg))
				daemon_local_watch(&d, EPOLL_CTL_ADD);
			ret = daemon_run(&d, true);
			replay_free(&r);
			goto out;
		}
		if (!ret)
			ret = replay_file(&r, replay);
		if (r.have_header)
			d.ser.boot_to_real_ns = r.boot_to_real_ns;
		if (ret) {
			logmsg(LOG_ERR, "%s: %s", replay, r.error ? r.error :
			       strerror(-ret));
			replay_free(&r);
			return 1;
		}
		logmsg(LOG_INFO, "replayed %llu batches, %llu events from %s",
		       (unsigned long long)d.nl.dec.stats.batches,
		       (unsigned long long)d.nl.dec.stats.events, replay);
		replay_free(&r);
		/* keep the recording's clock for the flush */
		queue_flush_all(&d.queue, mono_ms());
		ret = daemon_run(&d, true);
	} else {
		struct local_config lc;

		iotsec_decoder_fini(&d.nl.dec);
		daemon_local_config(d.cfg, &lc);
		daemon_rules_observe_logins(&d, &lc);
		if (!local_open(&d.local, &lc, &d.ser, &d.queue, logmsg))
			daemon_local_watch(&d, EPOLL_CTL_ADD);
		daemon_kernel_open(&d);
		ret = daemon_run(&d, false);
	}
out:
	stats_write_file(&d);
	/* after the stats file, which has the local sources' counters */
	local_close(d.local);
	d.local = NULL;
	if (d.nl_open)
		iotsec_nl_close(&d.nl);
	else
		iotsec_decoder_fini(&d.nl.dec);
	rules_engine_fini(&d.rules);
	daemon_detect_fini(&d);
	if (baseline_exit_save(&d.baseline, mono_ms()))
		logmsg(LOG_WARNING, "baseline: %s", d.baseline.error);
	baseline_fini(&d.baseline);
	queue_fini(&d.queue);
	enrich_fini(&d.enrich);
	mqtt_free(d.mqtt);
	/* synced; what was not acknowledged is there at the next start */
	spool_close(d.spool);
	if (d.output && d.output != stdout)
		fclose(d.output);
	daemon_twin_fini(&d);
	config_free(d.cfg);
	config_text_free(d.yaml, d.yaml_len);
	return ret < 0 ? 1 : ret;
}
