// SPDX-License-Identifier: MIT
/*
 * The configuration: values, defaults, and errors that name
 * file:line:column and what was expected.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <syslog.h>
#include "daemon/config.h"

static int parse(struct config *c, const char *text, char *err)
{
	return config_parse(c, "test.yaml", text, strlen(text), err, 512);
}

TEST(durations)
{
	static const struct { const char *s; uint64_t ms; } ok[] = {
		{ "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 },
		{ "250ms", 250 }, { "2d", 172800000 }, { "1h30m", 5400000 },
		{ "1.5s", 1500 }, { "PT5M", 300000 }, { "PT30S", 30000 },
		{ "PT0.5S", 500 }, { "P1D", 86400000 },
		{ "P1DT2H", 93600000 }, { "PT1H2M3S", 3723000 }, { "P1W", 604800000 },
		/* a month counts 30 days, a year 365 (docs/twin.md) */
		{ "P5M", 5 * 30 * 86400000ULL }, { "P1Y", 365 * 86400000ULL },
	};
	static const char *const bad[] = { "", "30", "s", "5x", "-5s", "PT",
		"P", "PT5", "PT5M1H", "PT1S1S", "5 m",
		"99999999999999999999s", "PT1M1H1", "1e3s", "P1H" };
	uint64_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 0;
		EXPECT_EQ(0, parse_duration(ok[i].s, &ms)) TH_LOG("%s", ok[i].s);
		EXPECT_EQ(ok[i].ms, ms) TH_LOG("%s", ok[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_NE(0, parse_duration(bad[i], &ms)) TH_LOG("'%s'", bad[i]);
	}
}

TEST(sizes)
{
	static const struct { const char *s; uint64_t b; } ok[] = {
		{ "4096", 4096 }, { "10MiB", 10485760 }, { "64KiB", 65536 },
		{ "256KiB", 262144 }, { "1GiB", 1073741824 }, { "100kB", 100000 },
		{ "1.5KiB", 1536 }, { "12B", 12 }, { "2 MiB", 2097152 },
	};
	static const char *const bad[] = { "", "MiB", "10MB!", "-1", "1.5",
		"10mib", "99999999999999999999", "20000000000GiB", "0x10" };
	uint64_t b;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		b = 0;
		EXPECT_EQ(0, parse_size(ok[i].s, &b)) TH_LOG("%s", ok[i].s);
		EXPECT_EQ(ok[i].b, b) TH_LOG("%s", ok[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_NE(0, parse_size(bad[i], &b)) TH_LOG("'%s'", bad[i]);
	}
}

TEST(empty_config_means_local_broker)
{
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, "", err)) TH_LOG("%s", err);
	EXPECT_EQ(MQTT_MODE_BROKER, c.mqtt.mode);
	EXPECT_STREQ("localhost", c.mqtt.host);
	EXPECT_EQ(0, c.mqtt.port);	/* 1883 without TLS */
	EXPECT_FALSE(c.mqtt.tls);
	EXPECT_EQ(256 * 1024, c.max_message_size);
	EXPECT_EQ(PRIO_HIGH, c.types[IOTSEC_EVENT_EXEC].prio);
	EXPECT_EQ(PRIO_OFF, c.types[IOTSEC_EVENT_FORK].prio);
	config_free(&c);
}

TEST(full_config)
{
	static const char *text =
		"agent:\n"
		"  id: 9c647395-b913-4997-a732-a7fe7303b649\n"
		"broker:\n"
		"  host: mqtt.example\n"
		"  port: 8883\n"
		"  tls: true\n"
		"  ca_file: /etc/ca.pem\n"
		"  topic: dev/{device_id}/{type}\n"
		"  device_id: dev1\n"
		"priorities:\n"
		"  high: PT15S\n"
		"  low: 10m\n"
		"events:\n"
		"  exec: { priority: alert, aggregate: false }\n"
		"  fork:\n"
		"    priority: low\n"
		"messages:\n"
		"  max_size: 64KiB\n"
		"  queue_limit: 2MiB\n"
		"  statistics: 1h\n"
		"kernel:\n"
		"  argv_max: 2048\n"
		"  watch: [/etc/passwd, /etc/shadow]\n"
		"log:\n"
		"  level: debug\n";
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, text, err)) TH_LOG("%s", err);
	EXPECT_STREQ("9c647395-b913-4997-a732-a7fe7303b649", c.agent_id);
	EXPECT_STREQ("mqtt.example", c.mqtt.host);
	EXPECT_EQ(8883, c.mqtt.port);
	EXPECT_TRUE(c.mqtt.tls);
	EXPECT_STREQ("dev/{device_id}/{type}", c.mqtt.topic);
	EXPECT_EQ(15000, c.interval_ms[PRIO_HIGH]);
	EXPECT_EQ(600000, c.interval_ms[PRIO_LOW]);
	EXPECT_EQ(PRIO_ALERT, c.types[IOTSEC_EVENT_EXEC].prio);
	EXPECT_FALSE(c.types[IOTSEC_EVENT_EXEC].aggregate);
	EXPECT_EQ(PRIO_LOW, c.types[IOTSEC_EVENT_FORK].prio);
	EXPECT_EQ(65536, c.max_message_size);
	EXPECT_EQ(2 << 20, c.queue_limit);
	EXPECT_EQ(2048, c.argv_max);
	ASSERT_EQ(2, c.n_watch);
	EXPECT_STREQ("/etc/shadow", c.watch[1]);
	EXPECT_EQ(LOG_DEBUG, c.log_level);
	config_free(&c);
}

TEST(hub_from_connection_string)
{
	static const char *text =
		"hub:\n"
		"  connection_string: \"HostName=h.azure-devices.net;"
		"DeviceId=d1;SharedAccessKey=dGVzdGtleQ==\"\n";
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, text, err)) TH_LOG("%s", err);
	EXPECT_EQ(MQTT_MODE_IOTHUB, c.mqtt.mode);
	EXPECT_EQ(MQTT_AUTH_SAS, c.mqtt.auth);
	EXPECT_TRUE(c.mqtt.tls);
	EXPECT_STREQ("h.azure-devices.net", c.mqtt.host);
	EXPECT_STREQ("d1", c.mqtt.device_id);
	config_free(&c);
}

TEST(hub_through_gateway_with_x509)
{
	static const char *text =
		"hub:\n"
		"  host: h.azure-devices.net\n"
		"  device_id: d1\n"
		"  module_id: iotsec\n"
		"  gateway: edge.local\n"
		"  cert_file: /etc/iotsec/d1.pem\n"
		"  key_file: /etc/iotsec/d1.key\n";
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, text, err)) TH_LOG("%s", err);
	EXPECT_EQ(MQTT_AUTH_X509, c.mqtt.auth);
	EXPECT_STREQ("edge.local", c.mqtt.host);
	EXPECT_STREQ("h.azure-devices.net", c.mqtt.hub_host);
	EXPECT_STREQ("iotsec", c.mqtt.module_id);
	config_free(&c);
}

TEST(local_sources_defaults)
{
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, "", err)) TH_LOG("%s", err);
	EXPECT_TRUE(c.sdk.enabled);
	EXPECT_EQ(NULL, c.sdk.socket);		/* IOTSEC_DEFAULT_SOCKET */
	EXPECT_EQ(0660, c.sdk.mode);
	EXPECT_EQ((gid_t)-1, c.sdk.group);
	EXPECT_EQ(64, c.sdk.max_clients);
	EXPECT_EQ(8, c.sdk.max_per_uid);
	EXPECT_EQ(20, c.sdk.rate);
	EXPECT_EQ(50, c.sdk.burst);
	EXPECT_EQ(64 * 1024, c.sdk.max_message);
	EXPECT_TRUE(c.logins.enabled);
	EXPECT_EQ(NULL, c.logins.wtmp);
	EXPECT_EQ(NULL, c.logins.state);	/* /run/iotsec/login.state */
	EXPECT_EQ(3600000, c.snapshots.interval_ms);
	EXPECT_EQ(10000, c.snapshots.first_delay_ms);
	/* Azure's module twin: PT7M, PT5H; alerts at once */
	EXPECT_EQ(7 * 60 * 1000, c.interval_ms[PRIO_HIGH]);
	EXPECT_EQ(5 * 3600 * 1000, c.interval_ms[PRIO_LOW]);
	EXPECT_EQ(0, c.interval_ms[PRIO_ALERT]);
	EXPECT_TRUE(c.snapshots.listening_ports);
	EXPECT_TRUE(c.snapshots.local_users);
	EXPECT_TRUE(c.snapshots.system_information);
	EXPECT_TRUE(c.snapshots.os_baseline);
	config_free(&c);
}

TEST(spool)
{
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, "", err)) TH_LOG("%s", err);
	EXPECT_EQ(NULL, c.spool.path);		/* IOTSEC_SPOOL_PATH */
	EXPECT_STREQ("/var/lib/iotsec/spool", IOTSEC_SPOOL_PATH);
	EXPECT_EQ(8 << 20, c.spool.size);
	EXPECT_EQ(1000, c.spool.sync_ms);
	config_free(&c);
	ASSERT_EQ(0, parse(&c, "spool:\n  path: /data/spool\n  size: 64KiB\n"
			   "  sync: 0s\n", err)) TH_LOG("%s", err);
	EXPECT_STREQ("/data/spool", c.spool.path);
	EXPECT_EQ(65536, c.spool.size);
	EXPECT_EQ(0, c.spool.sync_ms);
	config_free(&c);
	/* "": memory only */
	ASSERT_EQ(0, parse(&c, "spool:\n  path: \"\"\n  size: 1GiB\n"
			   "  sync: PT0.25S\n", err)) TH_LOG("%s", err);
	EXPECT_STREQ("", c.spool.path);
	EXPECT_EQ(1 << 30, c.spool.size);
	EXPECT_EQ(250, c.spool.sync_ms);
	config_free(&c);
}

TEST(local_sources)
{
	static const char *text =
		"sdk:\n"
		"  socket: /run/test/sdk.sock\n"
		"  mode: \"0620\"\n"
		"  group: root\n"
		"  max_clients: 16\n"
		"  max_per_uid: 2\n"
		"  rate: 5\n"
		"  burst: 10\n"
		"  max_message_size: 16KiB\n"
		"logins:\n"
		"  wtmp: /tmp/wtmp\n"
		"  btmp: /tmp/btmp\n"
		"  utmp: /tmp/utmp\n"
		"  state_file: \"\"\n"
		"snapshots:\n"
		"  interval: PT2M\n"
		"  first_delay: 500ms\n"
		"  local_users: off\n"
		"  os_baseline: false\n";
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, text, err)) TH_LOG("%s", err);
	EXPECT_TRUE(c.sdk.enabled);
	EXPECT_STREQ("/run/test/sdk.sock", c.sdk.socket);
	EXPECT_EQ(0620, c.sdk.mode);
	EXPECT_EQ(0, c.sdk.group);
	EXPECT_EQ(16, c.sdk.max_clients);
	EXPECT_EQ(2, c.sdk.max_per_uid);
	EXPECT_EQ(5, c.sdk.rate);
	EXPECT_EQ(10, c.sdk.burst);
	EXPECT_EQ(16384, c.sdk.max_message);
	EXPECT_STREQ("/tmp/wtmp", c.logins.wtmp);
	EXPECT_STREQ("/tmp/btmp", c.logins.btmp);
	EXPECT_STREQ("/tmp/utmp", c.logins.utmp);
	EXPECT_STREQ("", c.logins.state);
	EXPECT_EQ(120000, c.snapshots.interval_ms);
	EXPECT_EQ(500, c.snapshots.first_delay_ms);
	EXPECT_TRUE(c.snapshots.listening_ports);
	EXPECT_FALSE(c.snapshots.local_users);
	EXPECT_TRUE(c.snapshots.system_information);
	EXPECT_FALSE(c.snapshots.os_baseline);
	config_free(&c);

	/* a numeric gid, unquoted mode, everything off */
	ASSERT_EQ(0, parse(&c, "sdk:\n  enabled: false\n  group: 4242\n"
			   "  mode: 600\nlogins:\n  enabled: no\n"
			   "snapshots:\n  interval: 0s\n", err))
		TH_LOG("%s", err);
	EXPECT_FALSE(c.sdk.enabled);
	EXPECT_EQ(4242, c.sdk.group);
	EXPECT_EQ(0600, c.sdk.mode);
	EXPECT_FALSE(c.logins.enabled);
	EXPECT_EQ(0, c.snapshots.interval_ms);
	config_free(&c);
}

/* Each bad config, and the exact place and words of its error. */
static const struct { const char *text, *err; } bad[] = {
	{ "broker:\n  port: seventy\n",
	  "test.yaml:2:9: expected an integer from 1 to 65535, got 'seventy'" },
	{ "broker:\n  host: a\n  hots: b\n",
	  "test.yaml:3:3: unknown key 'hots' in broker, expected one of: host," },
	{ "priorities:\n  high: 10 seconds\n",
	  "test.yaml:2:9: expected a duration like 30s, 5m, 1h or PT5M, got '10 seconds'" },
	{ "messages:\n  max_size: 1MiB\n",
	  "test.yaml:2:13: expected a size from 1024 to 262144 bytes, got '1MiB'" },
	{ "events:\n  exec:\n    priority: urgent\n",
	  "test.yaml:3:15: expected a priority: alert, high, low or off, got 'urgent'" },
	{ "events:\n  exex: {priority: low}\n",
	  "test.yaml:2:3: unknown key 'exex' in events" },
	{ "kernel:\n  watch: /etc/passwd\n",
	  "test.yaml:2:10: expected a list of paths, got a scalar" },
	{ "kernel:\n  watch:\n    - relative/path\n",
	  "test.yaml:3:7: expected an absolute path" },
	{ "broker:\n  tls: maybe\n",
	  "test.yaml:2:8: expected true or false, got 'maybe'" },
	{ "broker: [1, 2]\n",
	  "test.yaml:1:9: expected a mapping for broker, got a list" },
	{ "log:\n  level: loud\n",
	  "test.yaml:2:10: expected a log level" },
	{ "broker:\n  host: a\n  host: b\n",
	  "test.yaml:3:3: duplicate key 'host' in broker" },
	{ "agent:\n  id: not-a-guid\n",
	  "test.yaml:2:7: expected a GUID" },
	{ "broker:\n  host: [oops\n",
	  "test.yaml:3:1: did not find expected" },
	{ "hub:\n  host: h\n",
	  "test.yaml:2:3: hub: expected host and device_id" },
	{ "hub:\n  connection_string: \"HostName=h;SharedAccessKey=a2V5\"\n",
	  "test.yaml:2:22: " },
	{ "hub:\n  host: h\nbroker:\n  host: b\n",
	  "expected either hub or broker, not both" },
	{ "- a\n- b\n",
	  "test.yaml:1:1: expected a mapping for the top level, got a list" },
	{ "sdk:\n  sokcet: /run/x.sock\n",
	  "test.yaml:2:3: unknown key 'sokcet' in sdk, expected one of: "
	  "enabled, socket, mode, group, max_clients, max_per_uid, rate, "
	  "burst, max_message_size" },
	{ "sdk:\n  socket: run/sdk.sock\n",
	  "test.yaml:2:11: expected an absolute path of at most 107 bytes, "
	  "got 'run/sdk.sock'" },
	{ "sdk:\n  socket: /run/iotsec/a-socket-path-that-is-much-too-long-"
	  "for-sun-path-0123456789-0123456789-0123456789-0123456789.sock\n",
	  "test.yaml:2:11: expected an absolute path of at most 107 bytes" },
	{ "sdk:\n  mode: \"0668\"\n",
	  "test.yaml:2:9: expected an octal file mode from 0000 to 0777 like "
	  "\"0660\", got '0668'" },
	{ "sdk:\n  mode: \"4755\"\n",
	  "test.yaml:2:9: expected an octal file mode from 0000 to 0777" },
	{ "sdk:\n  group: no-such-group-iotsec\n",
	  "test.yaml:2:10: expected a group name or gid, got "
	  "'no-such-group-iotsec' (no such group)" },
	{ "sdk:\n  max_clients: 0\n",
	  "test.yaml:2:16: expected an integer from 1 to 4096, got '0'" },
	{ "sdk:\n  rate: fast\n",
	  "test.yaml:2:9: expected an integer from 1 to 100000, got 'fast'" },
	{ "sdk:\n  max_message_size: 1MiB\n",
	  "test.yaml:2:21: expected a size from 1024 to 65536 bytes, got '1MiB'" },
	{ "sdk:\n  enabled: maybe\n",
	  "test.yaml:2:12: expected true or false, got 'maybe'" },
	{ "sdk: /run/iotsec/sdk.sock\n",
	  "test.yaml:1:6: expected a mapping for sdk, got a scalar" },
	{ "logins:\n  wtmp: /var/log/wtmp\n  lastlog: /var/log/lastlog\n",
	  "test.yaml:3:3: unknown key 'lastlog' in logins, expected one of: "
	  "enabled, wtmp, btmp, utmp, state_file" },
	{ "logins:\n  btmp: var/log/btmp\n",
	  "test.yaml:2:9: expected an absolute path of at most 4095 bytes, "
	  "got 'var/log/btmp'" },
	{ "logins:\n  wtmp: \"\"\n",
	  "test.yaml:2:9: expected an absolute path" },
	{ "logins:\n  state_file: login.state\n",
	  "test.yaml:2:15: expected an absolute path of at most 4095 bytes "
	  "(or \"\"), got 'login.state'" },
	{ "snapshots:\n  interval: hourly\n",
	  "test.yaml:2:13: expected a duration like 30s, 5m, 1h or PT5M, got "
	  "'hourly'" },
	{ "snapshots:\n  interval: 500ms\n",
	  "test.yaml:2:13: expected an interval from 1s to 7d, or 0s for no "
	  "snapshots" },
	{ "snapshots:\n  first_delay: 2d\n",
	  "test.yaml:2:16: expected a delay from 0s to 1d" },
	{ "snapshots:\n  os_baseline: sometimes\n",
	  "test.yaml:2:16: expected true or false, got 'sometimes'" },
	{ "snapshots:\n  interval: 1h\n  firewall: true\n",
	  "test.yaml:3:3: unknown key 'firewall' in snapshots, expected one "
	  "of: interval, first_delay, listening_ports, local_users, "
	  "system_information, os_baseline" },
	{ "sdks:\n  socket: /a\n",
	  "test.yaml:1:1: unknown key 'sdks' in the top level, expected one "
	  "of: agent, hub, broker, priorities, events, messages, kernel, "
	  "enrich, log, sdk, logins, local, snapshots, spool" },
	{ "spool:\n  path: spool\n",
	  "test.yaml:2:9: expected an absolute path of at most 4095 bytes "
	  "(or \"\"), got 'spool'" },
	{ "spool:\n  size: 1KiB\n",
	  "test.yaml:2:9: expected a size from 65536 to 4294967296 bytes, "
	  "got '1KiB'" },
	{ "spool:\n  size: lots\n",
	  "test.yaml:2:9: expected a size like 4096, 64KiB or 10MiB, got "
	  "'lots'" },
	{ "spool:\n  sync: 2h\n",
	  "test.yaml:2:9: expected an interval from 0s (every message) to 1h" },
	{ "spool:\n  sync: soon\n",
	  "test.yaml:2:9: expected a duration like 30s, 5m, 1h or PT5M, got "
	  "'soon'" },
	{ "spool:\n  dir: /x\n",
	  "test.yaml:2:3: unknown key 'dir' in spool, expected one of: path, "
	  "size, sync" },
	{ "spool: /var/spool\n",
	  "test.yaml:1:8: expected a mapping for spool, got a scalar" },
	/* ids and topics with separators or wildcards: nothing would pass */
	{ "broker:\n  device_id: a/b\n",
	  "test.yaml:2:14: expected a device id without '/', '+' or '#' (a "
	  "topic level separator and MQTT wildcards), got 'a/b'" },
	{ "hub:\n  host: h\n  device_id: d\n  module_id: x+y\n"
	  "  shared_key: a2V5\n",
	  "test.yaml:4:14: expected a module id without '/', '+' or '#' (a "
	  "topic level separator and MQTT wildcards), got 'x+y'" },
	{ "hub:\n  host: h\n  device_id: \"d#\"\n  shared_key: a2V5\n",
	  "test.yaml:3:14: expected a device id without '/', '+' or '#'" },
	{ "broker:\n  topic: t/#\n",
	  "test.yaml:2:10: expected a topic without '+' or '#' (MQTT "
	  "wildcards), got 't/#'" },
	{ "broker:\n  topic: iotsec/+/{type}\n",
	  "test.yaml:2:10: expected a topic without '+' or '#'" },
};

TEST(errors_name_line_column_and_expectation)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		char err[512] = "";

		EXPECT_EQ(-EINVAL, parse(&c, bad[i].text, err))
			TH_LOG("config %zu parsed", i);
		EXPECT_NE(NULL, strstr(err, bad[i].err))
			TH_LOG("config %zu: got \"%s\", want \"%s\"", i, err,
			       bad[i].err);
		config_free(&c);
	}
}

TEST(topic_template_levels_are_fine)
{
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, "broker:\n  device_id: dev-1.a_b\n"
			   "  topic: site/7/{device_id}/{type}\n", err))
		TH_LOG("%s", err);
	EXPECT_STREQ("site/7/{device_id}/{type}", c.mqtt.topic);
	EXPECT_STREQ("dev-1.a_b", c.mqtt.device_id);
	config_free(&c);
}

/* The twin's transport keys (docs/mqtt.md "Twin"). */
TEST(twin_transport_keys)
{
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, "broker:\n  device_id: d1\n"
			   "  twin_desired_topic: fleet/{device_id}/desired\n"
			   "  twin_reported_topic: fleet/{device_id}/reported\n"
			   "  twin_report_interval: 2m\n"
			   "  twin_timeout: 10s\n", err))
		TH_LOG("%s", err);
	EXPECT_STREQ("fleet/{device_id}/desired", c.mqtt.twin_desired_topic);
	EXPECT_STREQ("fleet/{device_id}/reported", c.mqtt.twin_reported_topic);
	EXPECT_EQ(120, c.mqtt.twin_report_interval);
	EXPECT_EQ(10, c.mqtt.twin_timeout);
	config_free(&c);

	EXPECT_EQ(-EINVAL, parse(&c, "broker:\n  twin_desired_topic: a/#\n",
				 err));
	EXPECT_NE(NULL, strstr(err, "test.yaml:2:23: expected a topic without"))
		TH_LOG("%s", err);
	config_free(&c);
	EXPECT_EQ(-EINVAL, parse(&c, "hub:\n  host: h\n  device_id: d\n"
				 "  shared_key: a2V5\n  twin_timeout: 0\n", err));
	EXPECT_NE(NULL, strstr(err, "test.yaml:5:17:")) TH_LOG("%s", err);
	config_free(&c);
}

/* A password over plain TCP loads, with a warning that says where. */
TEST(password_over_plain_tcp_warns)
{
	struct config c;
	char err[512] = "";

	ASSERT_EQ(0, parse(&c, "broker:\n  host: broker.example\n"
			   "  username: u\n  password: s3cret\n", err))
		TH_LOG("%s", err);
	EXPECT_STREQ("test.yaml:4:13: broker: the password goes to "
		     "broker.example over plain TCP, readable on the network; "
		     "set tls: true", c.warning);
	EXPECT_EQ(NULL, strstr(c.warning, "s3cret"));
	config_free(&c);

	/* not with TLS, nor to this machine */
	ASSERT_EQ(0, parse(&c, "broker:\n  host: broker.example\n"
			   "  tls: true\n  username: u\n  password: p\n",
			   err)) TH_LOG("%s", err);
	EXPECT_STREQ("", c.warning);
	config_free(&c);
	ASSERT_EQ(0, parse(&c, "broker:\n  host: 127.0.0.1\n"
			   "  username: u\n  password: p\n", err))
		TH_LOG("%s", err);
	EXPECT_STREQ("", c.warning);
	config_free(&c);
}

/*
 * The default AgentId is machine-id(5)'s application-specific id, not the
 * machine id itself. The expected value was computed apart from this
 * code, with Python's hmac:
 *   d = hmac.new(bytes.fromhex(MACHINE_ID),
 *                bytes.fromhex("88f104d57b20436f8ebc927105d76a51"),
 *                hashlib.sha256).digest()[:16]
 *   d[6] = d[6] & 0x0f | 0x40; d[8] = d[8] & 0x3f | 0x80
 */
TEST(agent_id_is_app_specific_machine_id)
{
	char path[] = "/tmp/iotsec-machine-id.XXXXXX", id[37] = "";
	struct config c;
	FILE *f;
	int fd;

	ASSERT_EQ(0, config_agent_id("0123456789abcdef0123456789abcdef\n",
				     id));
	EXPECT_STREQ("c2839fbe-edd3-445e-b906-e521e25dcd0c", id);
	EXPECT_EQ(-EINVAL, config_agent_id("0123456789abcdef", id));
	EXPECT_EQ(-EINVAL, config_agent_id(
			  "0123456789abcdef0123456789abcdeg", id));

	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	f = fdopen(fd, "w");
	ASSERT_NE(NULL, f);
	fputs("0123456789ABCDEF0123456789ABCDEF\n", f);
	fclose(f);
	memset(&c, 0, sizeof(c));
	config_default_agent_id(&c, path);
	EXPECT_STREQ("c2839fbe-edd3-445e-b906-e521e25dcd0c", c.agent_id);
	/* stable for one machine id */
	config_default_agent_id(&c, path);
	EXPECT_STREQ("c2839fbe-edd3-445e-b906-e521e25dcd0c", c.agent_id);
	unlink(path);
	config_default_agent_id(&c, path);
	EXPECT_STREQ("00000000-0000-4000-8000-000000000000", c.agent_id);
}

TEST(load_reports_missing_file)
{
	struct config c;
	char err[512] = "";

	EXPECT_EQ(-ENOENT, config_load(&c, "/nonexistent/iotsecd.yaml", err,
				       sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "/nonexistent/iotsecd.yaml"));
	config_free(&c);
}

TEST(shipped_default_config_parses)
{
	const char *top = getenv("IOTSEC_TOP");
	char path[4096], err[512] = "";
	struct config c;

	snprintf(path, sizeof(path), "%s/config/iotsecd.yaml",
		 top ? top : ".");
	ASSERT_EQ(0, config_load(&c, path, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(MQTT_MODE_BROKER, c.mqtt.mode);
	EXPECT_STREQ("localhost", c.mqtt.host);
	/* what it spells out is the defaults */
	EXPECT_STREQ("/run/iotsec/sdk.sock", c.sdk.socket);
	EXPECT_EQ(0660, c.sdk.mode);
	EXPECT_EQ(64 * 1024, c.sdk.max_message);
	EXPECT_STREQ("/run/iotsec/login.state", c.logins.state);
	EXPECT_EQ(3600000, c.snapshots.interval_ms);
	EXPECT_EQ(10000, c.snapshots.first_delay_ms);
	config_free(&c);
}

TEST_HARNESS_MAIN
