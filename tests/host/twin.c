// SPDX-License-Identifier: MIT
/*
 * The module twin as configuration (daemon/twin_config.c, docs/twin.md):
 * every key valid and invalid, ISO-8601 durations, the YAML's locks, all
 * or nothing, sources, merging patches, the applied document on disk
 * (round trip, corrupt files refused).
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/twin.h"
#include "pipeline/serialize.h"

static void yaml(struct config *c, const char *text)
{
	char err[512];

	if (config_parse(c, "test.yaml", text, strlen(text), err, sizeof(err)))
		fprintf(stderr, "%s\n", err);
}

/* Overlay JSON (the desired document's two objects) on a config from YAML. */
static int overlay(struct config *c, const char *y, const char *json,
		   struct twin_errors *e)
{
	struct json_object *d = json_tokener_parse(json);
	int ret;

	yaml(c, y);
	if (!d) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		return -99;
	}
	ret = twin_overlay(c, d, NULL, e);
	json_object_put(d);
	return ret;
}

static int src(const struct config *c, const char *name)
{
	int id = twin_setting_id(name);

	return id < 0 ? -1 : c->src[id];
}

#define AZ "{\"" TWIN_AZURE_KEY "\":"

TEST(iso8601_durations)
{
	static const struct { const char *s; uint64_t ms; } ok[] = {
		{ "PT7M", 420000 }, { "PT5H", 18000000 },
		{ "PT13H", 46800000 }, { "P1D", 86400000 },
		{ "P1DT12H", 129600000 }, { "PT1H2M3S", 3723000 },
		{ "PT0.5S", 500 }, { "PT1.5M", 90000 }, { "P1W", 604800000 },
		{ "P1Y", 365 * 86400000ULL }, { "P1M", 30 * 86400000ULL },
		{ "P1Y2M3DT4H5M6S", (365 + 60 + 3) * 86400000ULL +
		  4 * 3600000ULL + 5 * 60000 + 6000 }, { "PT0S", 0 },
		{ "P0D", 0 }, { "PT36H", 129600000 }, { "PT0,25S", 250 },
	};
	static const char *const bad[] = { "", "P", "PT", "P1DT", "7M",
		"PT7", "PT-7M", "-PT7M", "P1H", "PT1D", "PT1S1M", "P1D1Y",
		"PT1M1M", "P1.5DT1H", "PT1.5M3S", "PT7M ", " PT7M", "pt7m",
		"P1DTT1H", "PT1e3S", "PT99999999999999999999S", "P1X",
		"P99999999999Y", "30s", "PT.5S", "PT5.S" };
	uint64_t ms;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ms = 1;
		EXPECT_EQ(0, parse_iso8601_duration(ok[i].s, &ms))
			TH_LOG("%s", ok[i].s);
		EXPECT_EQ(ok[i].ms, ms) TH_LOG("%s", ok[i].s);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_NE(0, parse_iso8601_duration(bad[i], &ms))
			TH_LOG("'%s'", bad[i]);
	}
}

TEST(duration_format_round_trip)
{
	static const uint64_t v[] = { 0, 250, 1000, 60000, 420000, 18000000,
		86400000, 129600000, 3723004, 7 * 86400000ULL };
	char b[64];
	uint64_t ms;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		twin_format_duration(v[i], b, sizeof(b));
		ASSERT_EQ(0, parse_iso8601_duration(b, &ms)) TH_LOG("%s", b);
		EXPECT_EQ(v[i], ms) TH_LOG("%s", b);
	}
	twin_format_duration(420000, b, sizeof(b));
	EXPECT_STREQ("PT7M", b);
	twin_format_duration(129600250, b, sizeof(b));
	EXPECT_STREQ("P1DT12H0.25S", b);
}

/* Each of Azure's keys with a valid value, and what it sets. */
TEST(azure_keys_valid)
{
	struct config c;
	struct twin_errors e;

	ASSERT_EQ(0, overlay(&c, "", AZ "{"
		"\"highPriorityMessageFrequency\":{\"value\":\"PT1M\"},"
		"\"lowPriorityMessageFrequency\":{\"value\":\"PT2H\"},"
		"\"snapshotFrequency\":{\"value\":\"P1D\"},"
		"\"maxLocalCacheSizeInBytes\":{\"value\":2560000},"
		"\"maxMessageSizeInBytes\":{\"value\":204800},"
		"\"eventPriorityProcessCreate\":{\"value\":\"Off\"},"
		"\"eventPriorityProcessTerminate\":{\"value\":\"High\"},"
		"\"eventPriorityConnectionCreate\":{\"value\":\"Low\"},"
		"\"eventPriorityListeningPorts\":{\"value\":\"Off\"},"
		"\"eventPriorityLocalUsers\":{\"value\":\"Off\"},"
		"\"eventPrioritySystemInformation\":{\"value\":\"Low\"},"
		"\"eventPriorityOSBaseline\":{\"value\":\"Off\"},"
		"\"eventPriorityLogin\":{\"value\":\"Off\"},"
		"\"eventPriorityConnectedHardware\":{\"value\":\"Low\"},"
		"\"eventPriorityFirewallConfiguration\":{\"value\":\"Off\"},"
		"\"eventPriorityDiagnostic\":{\"value\":\"Low\"},"
		"\"eventPriorityConfigurationError\":{\"value\":\"High\"},"
		"\"eventPriorityDroppedEventsStatistics\":{\"value\":\"Low\"},"
		"\"eventPriorityMessageStatistics\":{\"value\":\"Low\"},"
		"\"aggregationEnabledProcessCreate\":{\"value\":false},"
		"\"aggregationIntervalProcessCreate\":{\"value\":\"PT1H\"},"
		"\"aggregationEnabledConnectionCreate\":{\"value\":false},"
		"\"aggregationIntervalConnectionCreate\":{\"value\":\"PT1H\"},"
		"\"aggregationEnabledProcessTerminate\":{\"value\":false},"
		"\"aggregationIntervalProcessTerminate\":{\"value\":\"PT1H\"},"
		"\"$version\":3}}", &e));
	EXPECT_EQ(0, e.total);
	EXPECT_EQ(60000, c.interval_ms[PRIO_HIGH]);
	EXPECT_EQ(7200000, c.interval_ms[PRIO_LOW]);
	EXPECT_EQ(86400000, c.snapshots.interval_ms);
	EXPECT_EQ(2560000, c.spool.size);
	EXPECT_EQ(204800, c.max_message_size);
	EXPECT_EQ(PRIO_OFF, c.types[IOTSEC_EVENT_EXEC].prio);
	EXPECT_EQ(PRIO_HIGH, c.types[IOTSEC_EVENT_EXIT].prio);
	EXPECT_EQ(PRIO_LOW, c.types[IOTSEC_EVENT_CONNECT].prio);
	EXPECT_EQ(PRIO_LOW, c.types[IOTSEC_EVENT_ACCEPT].prio);
	EXPECT_FALSE(c.snapshots.listening_ports);
	EXPECT_FALSE(c.snapshots.local_users);
	EXPECT_TRUE(c.snapshots.system_information);
	EXPECT_FALSE(c.snapshots.os_baseline);
	EXPECT_FALSE(c.logins.enabled);
	EXPECT_FALSE(c.types[IOTSEC_EVENT_EXEC].aggregate);
	EXPECT_FALSE(c.types[IOTSEC_EVENT_CONNECT].aggregate);
	EXPECT_FALSE(c.types[IOTSEC_EVENT_ACCEPT].aggregate);
	EXPECT_FALSE(c.types[IOTSEC_EVENT_EXIT].aggregate);
	EXPECT_EQ(SRC_TWIN, src(&c, "events.accept.priority"));
	EXPECT_EQ(SRC_DEFAULT, src(&c, "events.fork.priority"));
	config_free(&c);
}

/* Each of Azure's keys refused, one at a time, with its reason. */
TEST(azure_keys_invalid)
{
	static const struct { const char *kv, *reason; } bad[] = {
		{ "\"highPriorityMessageFrequency\":{\"value\":\"7 minutes\"}",
		  "expected an ISO-8601 duration" },
		{ "\"highPriorityMessageFrequency\":{\"value\":\"7m\"}",
		  "expected an ISO-8601 duration" },
		{ "\"highPriorityMessageFrequency\":{\"value\":420}",
		  "expected a duration string, got int" },
		{ "\"highPriorityMessageFrequency\":\"PT7M\"",
		  "expected {\"value\": ...}" },
		{ "\"highPriorityMessageFrequency\":{\"value\":\"PT7M\",\"x\":1}",
		  "expected {\"value\": ...}" },
		{ "\"highPriorityMessageFrequency\":{\"value\":\"P8D\"}",
		  "out of range: expected PT0.1S to P7D" },
		{ "\"lowPriorityMessageFrequency\":{\"value\":\"PT0S\"}",
		  "out of range" },
		{ "\"snapshotFrequency\":{\"value\":\"PT0.5S\"}",
		  "out of range" },
		{ "\"maxLocalCacheSizeInBytes\":{\"value\":4096}",
		  "out of range: Azure's minimum is 8192" },
		{ "\"maxLocalCacheSizeInBytes\":{\"value\":10000}",
		  "out of range: expected 65536 to" },
		{ "\"maxLocalCacheSizeInBytes\":{\"value\":\"1MiB\"}",
		  "expected an integer, got string" },
		{ "\"maxMessageSizeInBytes\":{\"value\":262145}",
		  "out of range: expected 8192 to 262144" },
		{ "\"maxMessageSizeInBytes\":{\"value\":-1}",
		  "expected a non-negative integer" },
		{ "\"maxMessageSizeInBytes\":{\"value\":1.5}",
		  "expected an integer, got double" },
		{ "\"eventPriorityProcessCreate\":{\"value\":\"off\"}",
		  "expected Off, Low or High" },
		{ "\"eventPriorityConnectionCreate\":{\"value\":\"Alert\"}",
		  "expected Off, Low or High" },
		{ "\"eventPriorityDiagnostic\":{\"value\":true}",
		  "expected Off, Low or High" },
		{ "\"aggregationEnabledProcessCreate\":{\"value\":\"true\"}",
		  "expected true or false, got string" },
		{ "\"aggregationIntervalProcessTerminate\":{\"value\":\"1h\"}",
		  "expected an ISO-8601 duration" },
		{ "\"highPriorityMessageFrequncy\":{\"value\":\"PT7M\"}",
		  "unknown key" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char json[512];
		struct config c;
		struct twin_errors e;

		snprintf(json, sizeof(json), AZ "{%s}}", bad[i].kv);
		EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e)) TH_LOG("%s", json);
		ASSERT_EQ(1, e.n) TH_LOG("%s", json);
		EXPECT_STREQ(TWIN_ERR_TYPE, e.e[0].type);
		EXPECT_TRUE(strstr(e.e[0].reason, bad[i].reason) != NULL)
			TH_LOG("%s: '%s'", json, e.e[0].reason);
		EXPECT_TRUE(!strncmp(e.e[0].key, TWIN_AZURE_KEY ".", 
				     strlen(TWIN_AZURE_KEY) + 1))
			TH_LOG("%s", e.e[0].key);
		config_free(&c);
	}
}

/* Every iotsec setting: a valid value, then an invalid one. */
TEST(iotsec_keys)
{
	static const struct { const char *json; const char *bad; } k[] = {
		{ "{\"priorities\":{\"high\":\"PT1M\"}}",
		  "{\"priorities\":{\"high\":\"soon\"}}" },
		{ "{\"priorities\":{\"low\":\"30m\"}}",
		  "{\"priorities\":{\"low\":\"P8D\"}}" },
		{ "{\"events\":{\"exec\":{\"priority\":\"off\"}}}",
		  "{\"events\":{\"exec\":{\"priority\":\"loud\"}}}" },
		{ "{\"events\":{\"exec\":{\"aggregate\":false}}}",
		  "{\"events\":{\"exec\":{\"aggregate\":0}}}" },
		{ "{\"events\":{\"fork\":{\"priority\":\"Low\"}}}",
		  "{\"events\":{\"fork\":\"low\"}}" },
		{ "{\"events\":{\"file\":{\"priority\":\"alert\"}}}",
		  "{\"events\":{\"files\":{\"priority\":\"alert\"}}}" },
		{ "{\"messages\":{\"max_size\":\"64KiB\"}}",
		  "{\"messages\":{\"max_size\":1000000}}" },
		{ "{\"messages\":{\"statistics\":\"PT0S\"}}",
		  "{\"messages\":{\"statistics\":\"PT1S\"}}" },
		{ "{\"kernel\":{\"argv_max\":1024}}",
		  "{\"kernel\":{\"argv_max\":1}}" },
		{ "{\"kernel\":{\"watch\":[\"/etc/passwd\",\"/etc/shadow\"]}}",
		  "{\"kernel\":{\"watch\":[\"etc/passwd\"]}}" },
		{ "{\"snapshots\":{\"interval\":\"PT0S\"}}",
		  "{\"snapshots\":{\"interval\":\"P8D\"}}" },
		{ "{\"snapshots\":{\"listening_ports\":false}}",
		  "{\"snapshots\":{\"listening_ports\":\"no\"}}" },
		{ "{\"snapshots\":{\"local_users\":false}}",
		  "{\"snapshots\":{\"local_users\":null,\"x\":1}}" },
		{ "{\"snapshots\":{\"system_information\":false}}",
		  "{\"snapshots\":{\"system_information\":1}}" },
		{ "{\"snapshots\":{\"os_baseline\":false}}",
		  "{\"snapshots\":{\"os_baseline\":[]}}" },
		{ "{\"logins\":{\"enabled\":false}}",
		  "{\"logins\":{\"enabled\":\"false\"}}" },
		{ "{\"sdk\":{\"enabled\":false}}",
		  "{\"sdk\":true}" },
		{ "{\"sdk\":{\"rate\":5}}", "{\"sdk\":{\"rate\":0}}" },
		{ "{\"sdk\":{\"burst\":5}}", "{\"sdk\":{\"burst\":100001}}" },
		{ "{\"sdk\":{\"max_clients\":5}}",
		  "{\"sdk\":{\"max_clients\":\"5\"}}" },
		{ "{\"sdk\":{\"max_per_uid\":5}}",
		  "{\"sdk\":{\"max_per_uid\":-5}}" },
		{ "{\"sdk\":{\"max_message_size\":2048}}",
		  "{\"sdk\":{\"max_message_size\":\"2 GiB\"}}" },
		{ "{\"local\":{\"rate\":5}}", "{\"local\":{\"rate\":5.5}}" },
		{ "{\"local\":{\"burst\":5}}", "{\"local\":{\"burst\":0}}" },
		{ "{\"spool\":{\"size\":\"16MiB\"}}",
		  "{\"spool\":{\"size\":\"1KiB\"}}" },
		{ "{\"messages\":{\"heartbeat\":\"PT30M\"}}",
		  "{\"messages\":{\"heartbeat\":\"PT1S\"}}" },
		{ "{\"hashes\":{\"enabled\":true}}",
		  "{\"hashes\":{\"enabled\":1}}" },
		{ "{\"indicators\":{\"refresh\":\"PT1H\"}}",
		  "{\"indicators\":{\"refresh\":\"PT1S\"}}" },
		{ "{\"packages\":{\"enabled\":false}}",
		  "{\"packages\":{\"enabled\":\"no\"}}" },
		/* the lists themselves; never a file's name */
		{ "{\"indicators\":{\"paths\":[\"/tmp/x\"]}}",
		  "{\"indicators\":{\"hashes\":\"/tmp/x\"}}" },
		{ "{\"spool\":{\"path\":\"/tmp\"}}", NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(k); i++) {
		char json[512];
		struct config c;
		struct twin_errors e;

		snprintf(json, sizeof(json), "{\"iotsec\":%s}", k[i].json);
		if (!k[i].bad) {
			/*
			 * not a twin setting: the hub cannot move the spool
			 * nor name files for the indicator lists
			 */
			EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e));
			EXPECT_TRUE(!strncmp(e.e[0].key, "iotsec.", 7) &&
				    strstr(json, strrchr(e.e[0].key, '.') + 1))
				TH_LOG("%s: %s", json, e.e[0].key);
			EXPECT_STREQ("unknown key", e.e[0].reason);
			config_free(&c);
			continue;
		}
		EXPECT_EQ(0, overlay(&c, "", json, &e)) TH_LOG("%s: %s", json,
							       e.e[0].reason);
		config_free(&c);
		snprintf(json, sizeof(json), "{\"iotsec\":%s}", k[i].bad);
		EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e)) TH_LOG("%s", json);
		EXPECT_LE(1, e.n) TH_LOG("%s", json);
		EXPECT_STREQ(TWIN_ERR_TYPE, e.e[0].type) TH_LOG("%s", json);
		EXPECT_TRUE(!strncmp(e.e[0].key, "iotsec.", 7));
		TH_LOG("%s -> %s: %s (used %s)", k[i].bad, e.e[0].key,
		       e.e[0].reason, e.e[0].used);
		config_free(&c);
	}
}

TEST(values_reach_config)
{
	struct config c;
	struct twin_errors e;

	ASSERT_EQ(0, overlay(&c, "kernel:\n  watch: [/etc/hosts]\n",
		"{\"iotsec\":{\"kernel\":{\"watch\":[\"/a\",\"/b\"],"
		"\"argv_max\":\"2KiB\"},\"sdk\":{\"rate\":7},"
		"\"messages\":{\"max_size\":65536}}}", &e));
	ASSERT_EQ(2, c.n_watch);
	EXPECT_STREQ("/a", c.watch[0]);
	EXPECT_STREQ("/b", c.watch[1]);
	EXPECT_EQ(2048, c.argv_max);
	EXPECT_EQ(7, c.sdk.rate);
	EXPECT_EQ(65536, c.max_message_size);
	config_free(&c);

	ASSERT_EQ(0, overlay(&c, "", "{\"iotsec\":{\"hashes\":{\"enabled\":"
		"true},\"indicators\":{\"refresh\":\"PT2H\"},\"packages\":"
		"{\"enabled\":false},\"messages\":{\"heartbeat\":\"PT5M\"}}}",
		&e));
	EXPECT_TRUE(c.detect.hash_enabled);
	EXPECT_EQ(2 * 3600 * 1000, c.detect.ioc_refresh_ms);
	EXPECT_FALSE(c.detect.packages);
	EXPECT_EQ(5 * 60 * 1000, c.heartbeat_ms);
	config_free(&c);
}

/* default < YAML < twin, and each value's source */
TEST(sources)
{
	struct config c;
	struct twin_errors e;
	struct json_object *eff, *v;

	ASSERT_EQ(0, overlay(&c, "priorities:\n  high: 1m\n  low: 2h\n"
			     "events:\n  exec:\n    priority: low\n",
			     "{\"iotsec\":{\"priorities\":{\"low\":\"PT3H\"}}}",
			     &e));
	EXPECT_EQ(SRC_YAML, src(&c, "priorities.high"));
	EXPECT_EQ(SRC_TWIN, src(&c, "priorities.low"));
	EXPECT_EQ(SRC_YAML, src(&c, "events.exec.priority"));
	EXPECT_EQ(SRC_DEFAULT, src(&c, "events.exit.priority"));
	EXPECT_EQ(60000, c.interval_ms[PRIO_HIGH]);
	EXPECT_EQ(3 * 3600000, c.interval_ms[PRIO_LOW]);
	eff = twin_effective(&c);
	ASSERT_TRUE(eff != NULL);
	ASSERT_TRUE(json_pointer_get(eff, "/priorities/low/value", &v) == 0);
	EXPECT_STREQ("PT3H", json_object_get_string(v));
	ASSERT_TRUE(json_pointer_get(eff, "/priorities/low/source", &v) == 0);
	EXPECT_STREQ("twin", json_object_get_string(v));
	ASSERT_TRUE(json_pointer_get(eff, "/priorities/high/source", &v) == 0);
	EXPECT_STREQ("yaml", json_object_get_string(v));
	ASSERT_TRUE(json_pointer_get(eff, "/events/exec/priority/value",
				     &v) == 0);
	EXPECT_STREQ("low", json_object_get_string(v));
	ASSERT_TRUE(json_pointer_get(eff, "/events/exit/priority/source",
				     &v) == 0);
	EXPECT_STREQ("default", json_object_get_string(v));
	ASSERT_TRUE(json_pointer_get(eff, "/kernel/watch/value", &v) == 0);
	EXPECT_TRUE(json_object_is_type(v, json_type_array));
	json_object_put(eff);
	eff = twin_azure_effective(&c);
	ASSERT_TRUE(json_pointer_get(eff, "/lowPriorityMessageFrequency/value",
				     &v) == 0);
	EXPECT_STREQ("PT3H", json_object_get_string(v));
	ASSERT_TRUE(json_pointer_get(eff, "/eventPriorityProcessCreate/value",
				     &v) == 0);
	EXPECT_STREQ("Low", json_object_get_string(v));
	json_object_put(eff);
	config_free(&c);
}

/* The iotsec object wins over Azure's for the same setting. */
TEST(iotsec_object_wins)
{
	struct config c;
	struct twin_errors e;

	ASSERT_EQ(0, overlay(&c, "", "{\"iotsec\":{\"priorities\":{\"high\":"
		"\"PT2M\"}}," "\"" TWIN_AZURE_KEY "\":{"
		"\"highPriorityMessageFrequency\":{\"value\":\"PT9M\"}}}", &e));
	EXPECT_EQ(120000, c.interval_ms[PRIO_HIGH]);
	config_free(&c);
}

TEST(locks)
{
	struct config c, run;
	struct twin_errors e;
	const char *y = "twin:\n  lock: [events.exec, kernel.watch]\n"
			"events:\n  exec:\n    priority: high\n";

	/* Azure's key onto a locked setting: a Conflict */
	EXPECT_EQ(-EINVAL, overlay(&c, y, AZ
		"{\"eventPriorityProcessCreate\":{\"value\":\"Off\"}}}", &e));
	ASSERT_EQ(1, e.n);
	EXPECT_STREQ(TWIN_ERR_CONFLICT, e.e[0].type);
	EXPECT_STREQ(TWIN_AZURE_KEY ".eventPriorityProcessCreate", e.e[0].key);
	EXPECT_STREQ("events.exec.priority is locked by the local "
		     "configuration", e.e[0].reason);
	EXPECT_STREQ("high", e.e[0].used);
	config_free(&c);
	EXPECT_EQ(-EINVAL, overlay(&c, y, "{\"iotsec\":{\"kernel\":{\"watch\":"
				   "[\"/x\"]}}}", &e));
	EXPECT_STREQ(TWIN_ERR_CONFLICT, e.e[0].type);
	EXPECT_STREQ("iotsec.kernel.watch", e.e[0].key);
	config_free(&c);
	/* what is not locked goes */
	EXPECT_EQ(0, overlay(&c, y, "{\"iotsec\":{\"events\":{\"exit\":"
			     "{\"priority\":\"off\"}}}}", &e));
	config_free(&c);

	/* allow: only what it names */
	y = "twin:\n  allow: [priorities, events.exec.priority]\n"
	    "  lock: [priorities.low]\n";
	EXPECT_EQ(0, overlay(&c, y, "{\"iotsec\":{\"priorities\":{\"high\":"
			     "\"PT1M\"},\"events\":{\"exec\":{\"priority\":"
			     "\"off\"}}}}", &e));
	config_free(&c);
	EXPECT_EQ(-EINVAL, overlay(&c, y, "{\"iotsec\":{\"priorities\":{\"low\":"
				   "\"PT1M\"},\"events\":{\"exec\":{"
				   "\"aggregate\":false}}}}", &e));
	EXPECT_EQ(2, e.n);
	EXPECT_STREQ(TWIN_ERR_CONFLICT, e.e[0].type);
	EXPECT_STREQ(TWIN_ERR_CONFLICT, e.e[1].type);
	config_free(&c);

	/* twin off: the whole object is refused */
	EXPECT_EQ(-EINVAL, overlay(&c, "twin:\n  enabled: false\n",
		"{\"iotsec\":{\"sdk\":{\"rate\":5}}}", &e));
	EXPECT_STREQ(TWIN_ERR_CONFLICT, e.e[0].type);
	EXPECT_TRUE(strstr(e.e[0].reason, "twin.enabled") != NULL);
	config_free(&c);

	/* the value named as used is the running one's */
	yaml(&run, "priorities:\n  high: 3m\n");
	yaml(&c, "");
	{
		struct json_object *d = json_tokener_parse(
			"{\"iotsec\":{\"priorities\":{\"high\":\"PT0S\"}}}");

		EXPECT_EQ(-EINVAL, twin_overlay(&c, d, &run, &e));
		EXPECT_STREQ("PT3M", e.e[0].used);
		json_object_put(d);
	}
	config_free(&c);
	config_free(&run);
}

TEST(yaml_twin_section_errors)
{
	struct config c;
	char err[512];
	const char *t = "twin:\n  lock: [events.exe]\n";

	EXPECT_EQ(-EINVAL, config_parse(&c, "test.yaml", t, strlen(t), err,
					sizeof(err)));
	EXPECT_TRUE(strstr(err, "test.yaml:2:10: expected a twin setting") ==
		    err) TH_LOG("%s", err);
	config_free(&c);
	t = "twin:\n  allow: events\n";
	EXPECT_EQ(-EINVAL, config_parse(&c, "test.yaml", t, strlen(t), err,
					sizeof(err)));
	config_free(&c);
	t = "twin:\n  enabled: false\n  state_file: /var/lib/x/twin.json\n"
	    "  allow: []\n";
	EXPECT_EQ(0, config_parse(&c, "test.yaml", t, strlen(t), err,
				  sizeof(err)));
	EXPECT_FALSE(c.twin.enabled);
	EXPECT_TRUE(c.twin.has_allow);
	EXPECT_EQ(0, c.twin.n_allow);
	config_free(&c);
}

/* One bad key refuses the whole document, and every bad key is named. */
#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* what the twin may say in indicators.* and what it may not */
TEST(indicator_lists)
{
	static const struct { const char *json, *key, *why; } bad[] = {
		{ "{\"hashes\":[\"" H64 "\",\"xyz\"]}",
		  "iotsec.indicators.hashes", "expected a SHA-256 digest "
		  "(64 hex digits), got 'xyz' at [1]" },
		{ "{\"addresses\":[\"10.0.0.0/33\"]}",
		  "iotsec.indicators.addresses", "at [0]" },
		{ "{\"domains\":[\"bad domain\"]}", "iotsec.indicators.domains",
		  "at [0]" },
		{ "{\"paths\":[\"relative/x\"]}", "iotsec.indicators.paths",
		  "at [0]" },
		{ "{\"paths\":[\"/a #b\"]}", "iotsec.indicators.paths",
		  "a control character, '#' or a blank at an end at [0]" },
		{ "{\"paths\":[\" /a\"]}", "iotsec.indicators.paths",
		  "a blank at an end at [0]" },
		{ "{\"paths\":[\"/a\\n/b\"]}", "iotsec.indicators.paths",
		  "a control character" },
		{ "{\"paths\":[\"\"]}", "iotsec.indicators.paths",
		  "of 1 to 255 bytes, got \"\" at [0]" },
		{ "{\"paths\":[7]}", "iotsec.indicators.paths",
		  "of 1 to 255 bytes, got 7 at [0]" },
		{ "{\"paths\":{}}", "iotsec.indicators.paths",
		  "expected a list of path indicators, got object" },
	};
	struct config c;
	struct twin_errors e;
	struct json_object *eff, *v;
	char *json = malloc(65536);
	size_t n;
	int id;

	ASSERT_EQ(0, overlay(&c, "", "{\"iotsec\":{\"indicators\":{"
		"\"hashes\":[\"" H64 "\"],\"addresses\":[\"203.0.113.7\","
		"\"198.51.100.0/24\"],\"domains\":[\"evil.example\"],"
		"\"paths\":[\"/tmp/dropper\",\"/usr/bin/x y\"]}}}", &e))
		TH_LOG("%s: %s", e.e[0].key, e.e[0].reason);
	EXPECT_EQ(1, c.detect.n_twin_ioc[0]);
	EXPECT_EQ(2, c.detect.n_twin_ioc[1]);
	EXPECT_EQ(1, c.detect.n_twin_ioc[2]);
	ASSERT_EQ(2, c.detect.n_twin_ioc[3]);
	EXPECT_STREQ("/usr/bin/x y", c.detect.twin_ioc[3][1]);
	EXPECT_EQ(SRC_TWIN, src(&c, "indicators.paths"));
	/* reported as in force */
	eff = twin_effective(&c);
	ASSERT_TRUE(json_object_object_get_ex(eff, "indicators", &v));
	ASSERT_TRUE(json_object_object_get_ex(v, "addresses", &v));
	EXPECT_STREQ("{\"value\":[\"203.0.113.7\",\"198.51.100.0/24\"],"
		     "\"source\":\"twin\"}",
		     json_object_to_json_string_ext(v,
			JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(eff);
	config_free(&c);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(json, 65536, "{\"iotsec\":{\"indicators\":%s}}",
			 bad[i].json);
		EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e))
			TH_LOG("%s", json);
		EXPECT_STREQ(bad[i].key, e.e[0].key);
		EXPECT_NE(NULL, strstr(e.e[0].reason, bad[i].why))
			TH_LOG("%s: %s", json, e.e[0].reason);
		EXPECT_EQ(0, c.detect.n_twin_ioc[3]);
		config_free(&c);
	}
	/* bounded: entries per list, bytes per entry, bytes in all */
#define PATHS "{\"iotsec\":{\"indicators\":{\"paths\":["
	n = snprintf(json, 65536, PATHS);
	for (int i = 0; i < TWIN_IOC_MAX + 1; i++)
		n += snprintf(json + n, 65536 - n, "%s\"/p%d\"", i ? "," : "",
			      i);
	snprintf(json + n, 65536 - n, "]}}}");
	EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e));
	EXPECT_STREQ("out of range: expected at most 128 entries",
		     e.e[0].reason);
	config_free(&c);
	n = snprintf(json, 65536, PATHS "\"/");
	memset(json + n, 'a', 255);
	snprintf(json + n + 255, 65536 - n - 255, "\"]}}}");
	EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e));
	EXPECT_NE(NULL, strstr(e.e[0].reason, "of 1 to 255 bytes"));
	config_free(&c);
	n = snprintf(json, 65536, PATHS);
	for (int i = 0; i < 100; i++)
		n += snprintf(json + n, 65536 - n, "%s\"/%0200d\"",
			      i ? "," : "", i);
	snprintf(json + n, 65536 - n, "]}}}");
	EXPECT_EQ(-EINVAL, overlay(&c, "", json, &e));
	EXPECT_STREQ("out of range: the four lists hold at most 16384 bytes",
		     e.e[0].reason);
	config_free(&c);
	/* locked by the YAML: refused as any setting */
	EXPECT_EQ(-EINVAL, overlay(&c, "twin:\n  lock: [indicators]\n",
		"{\"iotsec\":{\"indicators\":{\"paths\":[\"/x\"]}}}", &e));
	EXPECT_STREQ(TWIN_ERR_CONFLICT, e.e[0].type);
	config_free(&c);
	id = twin_setting_id("indicators.domains");
	EXPECT_LE(0, id);
	free(json);
}

TEST(all_or_nothing)
{
	struct config c;
	struct twin_errors e;

	EXPECT_EQ(-EINVAL, overlay(&c, "", "{\"iotsec\":{\"events\":{\"exec\":"
		"{\"priority\":\"off\"}},\"priorities\":{\"high\":\"PT7X\"},"
		"\"sdk\":{\"rate\":0}}}", &e));
	EXPECT_EQ(2, e.n);
	EXPECT_EQ(2, e.total);
	EXPECT_STREQ("iotsec.priorities.high", e.e[0].key);
	EXPECT_STREQ("iotsec.sdk.rate", e.e[1].key);
	config_free(&c);
}

TEST(merge_patches)
{
	struct json_object *base = json_tokener_parse(
		"{\"iotsec\":{\"events\":{\"exec\":{\"priority\":\"off\"},"
		"\"exit\":{\"priority\":\"low\"}},\"sdk\":{\"rate\":5}}}");
	struct json_object *patch = json_tokener_parse(
		"{\"iotsec\":{\"events\":{\"exec\":null,\"fork\":{\"priority\":"
		"\"low\",\"aggregate\":null}},\"sdk\":null},\"other\":1,"
		"\"$version\":9}");
	struct json_object *p = twin_pick(patch), *m, *want;

	ASSERT_TRUE(p != NULL);
	EXPECT_EQ(9, twin_version(patch));
	m = twin_merge(base, p);
	want = json_tokener_parse("{\"iotsec\":{\"events\":{\"exit\":"
		"{\"priority\":\"low\"},\"fork\":{\"priority\":\"low\"}}}}");
	EXPECT_TRUE(json_object_equal(m, want))
		TH_LOG("%s", json_object_to_json_string(m));
	/* the base is not changed */
	EXPECT_EQ(3, json_object_object_length(json_object_object_get(
		json_object_object_get(base, "iotsec"), "events")) + 1);
	json_object_put(m);
	json_object_put(want);
	json_object_put(p);
	json_object_put(patch);
	json_object_put(base);
	/* only the two objects iotsec reads */
	patch = json_tokener_parse("{\"other\":{\"a\":1},\"$version\":2}");
	EXPECT_TRUE(twin_pick(patch) == NULL);
	json_object_put(patch);
}

/* each test runs in a process of its own: a directory each */
static char dir[64];

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/twin-test.XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

TEST(persistence_round_trip)
{
	struct json_object *a = json_tokener_parse(
		"{\"iotsec\":{\"events\":{\"exec\":{\"priority\":\"off\"}}},"
		"\"" TWIN_AZURE_KEY "\":{\"snapshotFrequency\":"
		"{\"value\":\"PT1H\"}}}"), *b = NULL;
	char path[256], tmp[300], err[512];
	int64_t v = 0;
	struct stat st;

	mkdir_tmp();
	snprintf(path, sizeof(path), "%s/twin.json", dir);
	EXPECT_EQ(-ENOENT, twin_load(path, &b, &v, err, sizeof(err)));
	ASSERT_EQ(0, twin_save(path, a, 42, err, sizeof(err))) TH_LOG("%s", err);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	EXPECT_NE(0, stat(tmp, &st));	/* renamed, none left */
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(0600, st.st_mode & 0777);
	ASSERT_EQ(0, twin_load(path, &b, &v, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(42, v);
	EXPECT_TRUE(json_object_equal(a, b));
	json_object_put(b);
	/* saved again over it */
	ASSERT_EQ(0, twin_save(path, NULL, 43, err, sizeof(err)));
	ASSERT_EQ(0, twin_load(path, &b, &v, err, sizeof(err)));
	EXPECT_EQ(43, v);
	EXPECT_EQ(0, json_object_object_length(b));
	json_object_put(b);
	json_object_put(a);
	unlink(path);
	rmdir(dir);
}

TEST(persistence_corrupt_refused)
{
	static const char *const bad[] = {
		"",
		"{\"version\":4,\"desired\":{\"iotsec\":{\"events\"",
		"{\"version\":4,\"desired\":{}}garbage",
		"{\"version\":\"4\",\"desired\":{}}",
		"{\"version\":4,\"desired\":[]}",
		"{\"version\":4}",
		"{\"version\":4,\"desired\":{},\"x\":1}",
		"[1,2]",
		"\x01\x02\x03",
	};
	char path[256], err[512];
	struct json_object *b;
	int64_t v;

	mkdir_tmp();
	snprintf(path, sizeof(path), "%s/bad.json", dir);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		put(path, bad[i]);
		b = (void *)1;
		EXPECT_EQ(-EINVAL, twin_load(path, &b, &v, err, sizeof(err)))
			TH_LOG("%s", bad[i]);
		EXPECT_TRUE(b == NULL);
		EXPECT_TRUE(strstr(err, path) == err) TH_LOG("%s", err);
	}
	/* a saved document's keys other than the two are not kept */
	put(path, "{\"version\":4,\"desired\":{\"iotsec\":{},\"x\":{}}}\n");
	ASSERT_EQ(0, twin_load(path, &b, &v, err, sizeof(err)));
	EXPECT_EQ(1, json_object_object_length(b));
	json_object_put(b);
	unlink(path);
	rmdir(dir);
}

TEST(state_path)
{
	struct config c;
	char p[256];

	yaml(&c, "");
	twin_state_path(&c, p, sizeof(p));
	EXPECT_STREQ("/var/lib/iotsec/twin.json", p);
	config_free(&c);
	yaml(&c, "spool:\n  path: /data/iotsec/spool/\n");
	twin_state_path(&c, p, sizeof(p));
	EXPECT_STREQ("/data/iotsec/twin.json", p);
	config_free(&c);
	yaml(&c, "spool:\n  path: \"\"\n");
	twin_state_path(&c, p, sizeof(p));
	EXPECT_STREQ("", p);
	config_free(&c);
	yaml(&c, "spool:\n  path: \"\"\ntwin:\n  state_file: /x/t.json\n");
	twin_state_path(&c, p, sizeof(p));
	EXPECT_STREQ("/x/t.json", p);
	config_free(&c);
}

TEST(configuration_error_event)
{
	struct config c;
	struct twin_errors e;
	struct ser s;
	struct json_object *ev, *v;
	char *text;
	size_t len;

	EXPECT_EQ(-EINVAL, overlay(&c, "", AZ "{\"highPriorityMessageFrequency"
				   "\":{\"value\":\"PT7Q\"}}}", &e));
	ser_init(&s, "9c647395-b913-4997-a732-a7fe7303b649", "test");
	ASSERT_EQ(0, twin_config_error(&s, &e, 12, 0, &text, &len));
	ev = json_tokener_parse(text);
	ASSERT_TRUE(ev != NULL);
	ASSERT_EQ(0, json_pointer_get(ev, "/Name", &v));
	EXPECT_STREQ("ConfigurationError", json_object_get_string(v));
	ASSERT_EQ(0, json_pointer_get(ev, "/EventType", &v));
	EXPECT_STREQ("Operational", json_object_get_string(v));
	ASSERT_EQ(0, json_pointer_get(ev, "/Payload/0/ConfigurationName", &v));
	EXPECT_STREQ(TWIN_AZURE_KEY ".highPriorityMessageFrequency",
		     json_object_get_string(v));
	ASSERT_EQ(0, json_pointer_get(ev, "/Payload/0/ErrorType", &v));
	EXPECT_STREQ("TypeMismatch", json_object_get_string(v));
	ASSERT_EQ(0, json_pointer_get(ev, "/Payload/0/UsedConfiguration", &v));
	EXPECT_STREQ("PT7M", json_object_get_string(v));
	ASSERT_EQ(0, json_pointer_get(ev, "/Payload/0/ExtraDetails/"
				      "DesiredVersion", &v));
	EXPECT_STREQ("12", json_object_get_string(v));
	json_object_put(ev);
	free(text);
	config_free(&c);
}

TEST_HARNESS_MAIN
