// SPDX-License-Identifier: MIT
/*
 * The transport's pure parts: SAS tokens (against the wire reference and
 * against the openssl command line), URL encoding, the IoT Hub topic with
 * its property bag, user name and client id, connection strings and their
 * errors, broker topics, backoff, and mqtt_new()'s refusals.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <syslog.h>
#include <sys/epoll.h>
#include "kselftest_harness.h"
#include "common/util.h"
#include "transport/mqtt.h"
#include "transport/mqtt_priv.h"

/* base64("0123456789abcdef0123456789abcdef"), the wire reference's key */
#define DOC_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define DOC_KEY_NOPAD "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
#define DOC_KEY_PART "Njc4OWFiY2Rl"

TEST(sas_equals_wire_reference)
{
	char *t = sas_token("myhub.azure-devices.net/devices/dev1", DOC_KEY,
			    NULL, 1800000000);

	ASSERT_NE(NULL, t);
	/* hiXiPSkLZLkhIu/NfaU613zVD61ZzWem6SfyhHPTpy0= URL-encoded */
	EXPECT_STREQ("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1"
		     "&sig=hiXiPSkLZLkhIu%2FNfaU613zVD61ZzWem6SfyhHPTpy0%3D"
		     "&se=1800000000", t);
	free(t);
}

static void run(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	out[0] = '\0';
	if (!p)
		return;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	pclose(p);
}

static void pct(const char *in, char *out)
{
	for (; *in; in++) {
		if (*in == '+' || *in == '/' || *in == '=')
			out += sprintf(out, "%%%02X", *in);
		else
			*out++ = *in;
	}
	*out = '\0';
}

/*
 * The signature computed by the openssl command line from the same key,
 * string to sign "<encoded resource>\n<expiry>", then put in a token by hand.
 */
static void expect_like_openssl(struct __test_metadata *_metadata,
				const char *hexkey, const char *b64key,
				const char *resource, const char *sr,
				long long se, const char *keyname)
{
	char cmd[1024], sig[256], sigenc[512], want[2048];
	char *t;

	snprintf(cmd, sizeof(cmd),
		 "printf '%%s\\n%%s' '%s' '%lld' | openssl dgst -sha256 -mac HMAC "
		 "-macopt hexkey:%s -binary | openssl base64 -A", sr, se,
		 hexkey);
	run(cmd, sig, sizeof(sig));
	ASSERT_EQ(44U, strlen(sig));
	pct(sig, sigenc);
	snprintf(want, sizeof(want),
		 "SharedAccessSignature sr=%s&sig=%s%s%s&se=%lld", sr, sigenc,
		 keyname ? "&skn=" : "", keyname ? keyname : "", se);
	t = sas_token(resource, b64key, keyname, se);
	ASSERT_NE(NULL, t);
	EXPECT_STREQ(want, t);
	free(t);
}

TEST(sas_equals_openssl_dgst)
{
	char hexkey[129], b64key[128], cmd[512];

	/* The reference key, through `openssl dgst -hmac` (key as text). */
	{
		char sig[128], sigenc[256], want[512], *t;

		run("printf '%s\\n%s' 'localhost%2Fdevices%2Fdev1' 1234567890 | "
		    "openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef "
		    "-binary | openssl base64 -A", sig, sizeof(sig));
		ASSERT_EQ(44U, strlen(sig));
		pct(sig, sigenc);
		snprintf(want, sizeof(want),
			 "SharedAccessSignature sr=localhost%%2Fdevices%%2Fdev1&sig=%s&se=1234567890",
			 sigenc);
		t = sas_token("localhost/devices/dev1", DOC_KEY, NULL,
			      1234567890);
		ASSERT_NE(NULL, t);
		EXPECT_STREQ(want, t);
		free(t);
	}

	/* A random 64-byte key, as the hub issues them. */
	run("head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \\n'", hexkey,
	    sizeof(hexkey));
	ASSERT_EQ(128U, strlen(hexkey));
	snprintf(cmd, sizeof(cmd),
		 "printf '%s' | perl -pe 's/(..)/chr hex $1/ge' | openssl base64 -A",
		 hexkey);
	run(cmd, b64key, sizeof(b64key));
	ASSERT_EQ(88U, strlen(b64key));

	expect_like_openssl(_metadata, hexkey, b64key,
			    "hub.example.net/devices/dev-1",
			    "hub.example.net%2Fdevices%2Fdev-1", 1700000000LL,
			    NULL);
	expect_like_openssl(_metadata, hexkey, b64key,
			    "hub.example.net/devices/dev1/modules/sec agent",
			    "hub.example.net%2Fdevices%2Fdev1%2Fmodules%2Fsec%20agent",
			    4102444800LL, NULL);
	expect_like_openssl(_metadata, hexkey, b64key,
			    "hub.example.net/devices/dev1",
			    "hub.example.net%2Fdevices%2Fdev1", 1800000000LL,
			    "iothubowner");
}

TEST(sas_refuses_bad_keys)
{
	EXPECT_EQ(NULL, sas_token("h/devices/d", "", NULL, 1));
	EXPECT_EQ(NULL, sas_token("h/devices/d", "not base64!", NULL, 1));
	EXPECT_EQ(NULL, sas_token("h/devices/d", "abc", NULL, 1));
	EXPECT_EQ(NULL, sas_token("h/devices/d", "ab=c", NULL, 1));
	EXPECT_EQ(NULL, sas_token("", DOC_KEY, NULL, 1));
	EXPECT_EQ(NULL, sas_token(NULL, DOC_KEY, NULL, 1));
}

TEST(sas_margin)
{
	EXPECT_EQ(900U, mqtt_sas_margin(3600));
	EXPECT_EQ(900U, mqtt_sas_margin(86400));
	EXPECT_EQ(1U, mqtt_sas_margin(4));
	EXPECT_EQ(1U, mqtt_sas_margin(1));
	EXPECT_EQ(150U, mqtt_sas_margin(600));
}

TEST(url_encode_like_encodeURIComponent)
{
	char *s = mqtt_url_encode("aZ09-_.!~*'() /?&=$:+,;@#%\xc3\xa9", false);

	ASSERT_NE(NULL, s);
	EXPECT_STREQ("aZ09-_.!~*'()%20%2F%3F%26%3D%24%3A%2B%2C%3B%40%23%25%C3%A9", s);
	free(s);
	s = mqtt_url_encode("!*'()~", true);
	ASSERT_NE(NULL, s);
	EXPECT_STREQ("%21%2a%27%28%29~", s);
	free(s);
}

TEST(hub_topic_has_sdk_property_bag)
{
	struct mqtt_config c = { .mode = MQTT_MODE_IOTHUB,
				 .host = "localhost", .device_id = "dev1" };
	struct mqtt_message msg = {
		.message_id = "mid-1", .content_type = "application/json",
		.content_encoding = "utf-8", .security = true,
	};
	char *t = mqtt_hub_topic(&c, &msg);

	ASSERT_NE(NULL, t);
	/* Byte for byte what azure-iot-device-mqtt sends (wire reference). */
	EXPECT_STREQ("devices/dev1/messages/events/%24.mid=mid-1&%24.ct=application%2Fjson"
		     "&%24.ce=utf-8&%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1", t);
	free(t);

	c.module_id = "sec";
	msg.security = false;
	msg.content_encoding = NULL;
	msg.message_id = "a b&c=d/e";
	t = mqtt_hub_topic(&c, &msg);
	ASSERT_NE(NULL, t);
	EXPECT_STREQ("devices/dev1/modules/sec/messages/events/%24.mid=a%20b%26c%3Dd%2Fe"
		     "&%24.ct=application%2Fjson", t);
	free(t);

	msg.message_id = msg.content_type = NULL;
	t = mqtt_hub_topic(&c, &msg);
	ASSERT_NE(NULL, t);
	EXPECT_STREQ("devices/dev1/modules/sec/messages/events/", t);
	free(t);
}

TEST(hub_identity_strings)
{
	struct mqtt_config c = { .mode = MQTT_MODE_IOTHUB,
				 .host = "myhub.azure-devices.net",
				 .device_id = "dev1" };
	const char *dev = "myhub.azure-devices.net/dev1/?api-version=2021-04-12"
			  "&DeviceClientType=iotsecd%2F";
	const char *mod = "myhub.azure-devices.net/dev1/sec/?api-version=2021-04-12"
			  "&DeviceClientType=iotsecd%2F";
	char *s;

	s = mqtt_hub_username(&c);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(0, strncmp(s, dev, strlen(dev))) TH_LOG("%s", s);
	free(s);
	s = mqtt_hub_client_id(&c);
	EXPECT_STREQ("dev1", s);
	free(s);
	s = mqtt_hub_resource(&c);
	EXPECT_STREQ("myhub.azure-devices.net/devices/dev1", s);
	free(s);

	/* A module behind an IoT Edge gateway: names say the hub. */
	c.module_id = "sec";
	c.host = "edge.local";
	c.hub_host = "myhub.azure-devices.net";
	s = mqtt_hub_username(&c);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(0, strncmp(s, mod, strlen(mod))) TH_LOG("%s", s);
	free(s);
	s = mqtt_hub_client_id(&c);
	EXPECT_STREQ("dev1/sec", s);
	free(s);
	s = mqtt_hub_resource(&c);
	EXPECT_STREQ("myhub.azure-devices.net/devices/dev1/modules/sec", s);
	free(s);
}

TEST(connection_strings)
{
	struct mqtt_config c = { 0 };
	char err[256];

	ASSERT_EQ(0, mqtt_config_from_connection_string(&c,
		"HostName=h.azure-devices.net;DeviceId=dev1;SharedAccessKey=" DOC_KEY,
		err, sizeof(err)));
	EXPECT_EQ((int)MQTT_MODE_IOTHUB, (int)c.mode);
	EXPECT_EQ((int)MQTT_AUTH_SAS, (int)c.auth);
	EXPECT_TRUE(c.tls);
	EXPECT_STREQ("h.azure-devices.net", c.host);
	EXPECT_EQ(NULL, c.hub_host);
	EXPECT_STREQ("dev1", c.device_id);
	EXPECT_EQ(NULL, c.module_id);
	EXPECT_STREQ(DOC_KEY, c.shared_key);
	EXPECT_EQ(NULL, c.key_name);

	/* Parsing again replaces what was there. */
	ASSERT_EQ(0, mqtt_config_from_connection_string(&c,
		"HostName=h;DeviceId=d2;ModuleId=m;SharedAccessKey=" DOC_KEY
		";SharedAccessKeyName=iothubowner;GatewayHostName=edge;", err,
		sizeof(err)));
	EXPECT_STREQ("edge", c.host);
	EXPECT_STREQ("h", c.hub_host);
	EXPECT_STREQ("d2", c.device_id);
	EXPECT_STREQ("m", c.module_id);
	EXPECT_STREQ("iothubowner", c.key_name);

	ASSERT_EQ(0, mqtt_config_from_connection_string(&c,
		"HostName=h;DeviceId=d3;x509=true", err, sizeof(err)));
	EXPECT_EQ((int)MQTT_AUTH_X509, (int)c.auth);
	EXPECT_EQ(NULL, c.shared_key);
	EXPECT_EQ(NULL, c.module_id);
	EXPECT_STREQ("h", c.host);
	mqtt_config_free(&c);
	EXPECT_EQ(NULL, c.host);
}

TEST(connection_string_errors)
{
	static const struct {
		const char *cs, *why;
	} bad[] = {
		{ "", "empty" },
		{ "HostName=h;DeviceId=d", "neither SharedAccessKey nor x509" },
		{ "DeviceId=d;SharedAccessKey=" DOC_KEY, "HostName missing" },
		{ "HostName=h;SharedAccessKey=" DOC_KEY, "DeviceId missing" },
		{ "HostName=h;DeviceID=d;SharedAccessKey=" DOC_KEY,
		  "unknown key 'DeviceID'" },
		{ "HostName=h;DeviceId=d;SharedAccessKey", "part 3 (15 characters) is not KEY=VALUE" },
		{ "HostName=h;DeviceId=;SharedAccessKey=" DOC_KEY, "DeviceId has an empty value" },
		{ "HostName=h;HostName=g;DeviceId=d;x509=true", "HostName given twice" },
		{ "HostName=h;DeviceId=d;SharedAccessKey=abc", "SharedAccessKey is not base64" },
		{ "HostName=h;DeviceId=d;SharedAccessKey=" DOC_KEY ";x509=true",
		  "both SharedAccessKey and x509=true" },
		{ "HostName=h;DeviceId=d;x509=yes", "x509 must be 'true'" },
		{ "HostName=h;DeviceId=d;SharedAccessKeyName=p;x509=true",
		  "SharedAccessKeyName without SharedAccessKey" },
		{ "HostName=h;DeviceId=a/b;x509=true", "DeviceId has '/' (character 2), not allowed there" },
		{ "HostName=h;DeviceId=a#;x509=true", "DeviceId has '#' (character 2)" },
		{ "HostName=h?x;DeviceId=d;x509=true", "HostName has '?' (character 2)" },
		{ "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x",
		  "SharedAccessSignature (a fixed token) is not supported" },
	};
	struct mqtt_config c = { 0 };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		EXPECT_EQ(-EINVAL, mqtt_config_from_connection_string(&c,
			  bad[i].cs, err, sizeof(err)));
		EXPECT_NE(NULL, strstr(err, bad[i].why))
			TH_LOG("'%s': got '%s', want '%s'", bad[i].cs, err,
			       bad[i].why);
		EXPECT_EQ(NULL, c.host);
	}
	mqtt_config_free(&c);
}

/*
 * A connection string that is malformed around its key never shows the
 * key: a lost "SharedAccessKey=", a blank for a ';', a key whose '='
 * splits it into "name" and "value".
 */
TEST(connection_string_errors_never_show_the_key)
{
	static const char *const bad[] = {
		"HostName=h;DeviceId=d;" DOC_KEY_NOPAD,
		"HostName=h;DeviceId=d;SharedAccessKey " DOC_KEY,
		"HostName=h;DeviceId=d SharedAccessKey=" DOC_KEY,
		"HostName=h;DeviceId=d;" DOC_KEY,
		"HostName=h;DeviceId=d;x509=" DOC_KEY,
		"HostName=h;DeviceId=d;SharedAccesKey=" DOC_KEY,
		"HostName=h " DOC_KEY ";DeviceId=d;x509=true",
	};
	struct mqtt_config c = { 0 };
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		EXPECT_EQ(-EINVAL, mqtt_config_from_connection_string(&c,
			  bad[i], err, sizeof(err)));
		EXPECT_NE('\0', err[0]);
		/* not even a part of it */
		EXPECT_EQ(NULL, strstr(err, DOC_KEY_PART))
			TH_LOG("'%s' gave '%s'", bad[i], err);
	}
	/* a plain typo in a key's name is still named */
	mqtt_config_from_connection_string(&c, bad[5], err, sizeof(err));
	EXPECT_NE(NULL, strstr(err, "unknown key 'SharedAccesKey'"));
	mqtt_config_free(&c);
}

TEST(broker_topic_template)
{
	struct mqtt_config c = { .mode = MQTT_MODE_BROKER, .host = "b",
				 .device_id = "dev1",
				 .topic = "site/{device_id}/sec/{type}/x" };
	struct mqtt_message msg = { .type = "ProcessCreate" };
	char *t = mqtt_broker_topic(&c, &msg);

	EXPECT_STREQ("site/dev1/sec/ProcessCreate/x", t);
	free(t);
	/* Nothing from outside adds levels or wildcards. */
	msg.type = "a/b+#";
	t = mqtt_broker_topic(&c, &msg);
	EXPECT_STREQ("site/dev1/sec/a_b__/x", t);
	free(t);
	/* the message id, for receivers that de-duplicate by topic */
	c.topic = "d/{device_id}/{type}/{message_id}";
	msg.type = "security";
	msg.message_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
	t = mqtt_broker_topic(&c, &msg);
	EXPECT_STREQ("d/dev1/security/0f8fad5b-d9cb-469f-a165-70867728950e", t);
	free(t);
	msg.message_id = "a/#";
	t = mqtt_broker_topic(&c, &msg);
	EXPECT_STREQ("d/dev1/security/a__", t);
	free(t);
	msg.message_id = NULL;
	t = mqtt_broker_topic(&c, &msg);
	EXPECT_STREQ("d/dev1/security/none", t);
	free(t);
	c.topic = NULL;
	msg.type = NULL;
	t = mqtt_broker_topic(&c, &msg);
	EXPECT_STREQ("iotsec/dev1/security", t);
	free(t);
}

/* The twin's documents: what twin.c hands over, and what it refuses. */
TEST(twin_documents)
{
	static const struct {
		const char *json;
		bool full;
		int ret;
		int64_t version;	/* -1: none */
		const char *why;
	} cases[] = {
		{ "{\"a\":1,\"$version\":7}", false, 0, 7, NULL },
		{ " {\"a\":1} \n", false, 0, -1, NULL },
		{ "{\"desired\":{\"$version\":3},\"reported\":{\"$version\":1}}",
		  true, 0, 3, NULL },
		{ "{\"desired\":{\"$version\":3}}", true, 0, 3, NULL },
		{ "{\"reported\":{}}", true, -EINVAL, 0, "no \"desired\" object" },
		{ "{\"desired\":[],\"reported\":{}}", true, -EINVAL, 0,
		  "no \"desired\" object" },
		{ "{\"desired\":{},\"reported\":1}", true, -EINVAL, 0,
		  "\"reported\" is not an object" },
		{ "{\"$version\":\"7\"}", false, -EINVAL, 0, "not a whole number" },
		{ "{\"$version\":-1}", false, -EINVAL, 0, "not a whole number" },
		{ "{\"$version\":1.5}", false, -EINVAL, 0, "not a whole number" },
		{ "[1]", false, -EINVAL, 0, "not a JSON object" },
		{ "\"s\"", false, -EINVAL, 0, "not a JSON object" },
		{ "{\"a\":", false, -EINVAL, 0, "not JSON: unterminated" },
		{ "{\"a\":1}{\"b\":2}", false, -EINVAL, 0, "text after" },
		{ "{\"a\":1} x", false, -EINVAL, 0, "text after" },
		{ "", false, -EINVAL, 0, "not JSON" },
		{ "nope", false, -EINVAL, 0, "not JSON" },
		{ "{\"a\":\"\xc3\x28\"}", false, -EINVAL, 0, "not UTF-8" },
	};
	char why[128], *big;
	int64_t v;
	bool hv;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		why[0] = '\0';
		v = -1;
		EXPECT_EQ(cases[i].ret,
			  mqtt_twin_parse_doc(cases[i].json, strlen(cases[i].json),
					      cases[i].full, &v, &hv, why,
					      sizeof(why)))
			TH_LOG("case %zu: %s", i, why);
		if (!cases[i].ret) {
			EXPECT_EQ(cases[i].version >= 0, hv) TH_LOG("case %zu", i);
			if (hv)
				EXPECT_EQ(cases[i].version, v);
		} else {
			EXPECT_NE(NULL, strstr(why, cases[i].why))
				TH_LOG("case %zu: \"%s\"", i, why);
		}
	}
	/* a NUL inside: not text */
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_doc("{\"a\":1}\0x", 9, false, &v,
					       &hv, why, sizeof(why)));
	big = malloc(MQTT_TWIN_MAX_DOC + 2);
	ASSERT_NE(NULL, big);
	memset(big, ' ', MQTT_TWIN_MAX_DOC + 1);
	big[0] = '{';
	big[MQTT_TWIN_MAX_DOC - 1] = '}';
	EXPECT_EQ(0, mqtt_twin_parse_doc(big, MQTT_TWIN_MAX_DOC, false, &v, &hv,
					 why, sizeof(why))) TH_LOG("%s", why);
	EXPECT_EQ(-EMSGSIZE, mqtt_twin_parse_doc(big, MQTT_TWIN_MAX_DOC + 1,
						 false, &v, &hv, why,
						 sizeof(why)));
	free(big);
}

TEST(twin_response_topics)
{
	char rid[40];
	int st = 0;

	EXPECT_EQ(0, mqtt_twin_parse_res("$iothub/twin/res/204/?$rid=ab-1&$version=5",
					 &st, rid, sizeof(rid)));
	EXPECT_EQ(204, st);
	EXPECT_STREQ("ab-1", rid);
	EXPECT_EQ(0, mqtt_twin_parse_res("$iothub/twin/res/200/?$version=1&$rid=x",
					 &st, rid, sizeof(rid)));
	EXPECT_STREQ("x", rid);
	EXPECT_EQ(200, st);
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res("$iothub/twin/res/200/?$rid=",
					       &st, rid, sizeof(rid)));
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res("$iothub/twin/res/200/", &st,
					       rid, sizeof(rid)));
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res("$iothub/twin/res/abc/?$rid=1",
					       &st, rid, sizeof(rid)));
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res("$iothub/twin/res/-200/?$rid=1",
					       &st, rid, sizeof(rid)));
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res("$iothub/twin/res/99/?$rid=1",
					       &st, rid, sizeof(rid)));
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res("$iothub/twin/PATCH/?$rid=1",
					       &st, rid, sizeof(rid)));
	/* a request id longer than ours can be is nobody's */
	EXPECT_EQ(-EINVAL, mqtt_twin_parse_res(
			  "$iothub/twin/res/200/?$rid=0123456789012345678901234567890123456789",
			  &st, rid, sizeof(rid)));
}

TEST(twin_broker_topics_and_checks)
{
	struct mqtt_config c = { .mode = MQTT_MODE_BROKER, .host = "b",
				 .device_id = "dev/1" };
	char err[256] = "", *t;

	t = mqtt_broker_twin_topic(&c, true);
	EXPECT_STREQ("iotsec-twin/dev_1/desired", t);
	free(t);
	t = mqtt_broker_twin_topic(&c, false);
	EXPECT_STREQ("iotsec-twin/dev_1/reported", t);
	free(t);
	c.twin_desired_topic = "f/{device_id}/cfg";
	t = mqtt_broker_twin_topic(&c, true);
	EXPECT_STREQ("f/dev_1/cfg", t);
	free(t);
	EXPECT_EQ(0, mqtt_config_check(&c, err, sizeof(err))) TH_LOG("%s", err);
	c.twin_reported_topic = "f/{device_id}/cfg";
	EXPECT_EQ(-EINVAL, mqtt_config_check(&c, err, sizeof(err)));
	EXPECT_STREQ("mqtt: the twin's desired and reported topics are the same", err);
	c.twin_reported_topic = "f/{type}/x";
	EXPECT_EQ(-EINVAL, mqtt_config_check(&c, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "only {device_id}")) TH_LOG("%s", err);
	c.twin_reported_topic = "f/+/x";
	EXPECT_EQ(-EINVAL, mqtt_config_check(&c, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "wildcard")) TH_LOG("%s", err);
}

/* Without a twin, or with a document that is not an object: refused. */
TEST(twin_report_refusals)
{
	struct mqtt_config c = { .mode = MQTT_MODE_BROKER, .host = "127.0.0.1",
				 .device_id = "d" };
	char err[256];
	struct mqtt *m = mqtt_new(&c, NULL, NULL, err, sizeof(err));

	ASSERT_NE(NULL, m) TH_LOG("%s", err);
	EXPECT_EQ(-EOPNOTSUPP, mqtt_twin_report(m, "{}"));
	mqtt_set_twin(m, (mqtt_twin_fn)abort, NULL);
	EXPECT_EQ(0, mqtt_twin_report(m, "{\"a\":1}"));
	EXPECT_EQ(0, mqtt_twin_report(m, "{\"a\":2}"));	/* replaces */
	EXPECT_EQ(-EINVAL, mqtt_twin_report(m, "[1]"));
	EXPECT_EQ(-EINVAL, mqtt_twin_report(m, "{\"a\":"));
	EXPECT_EQ(-EINVAL, mqtt_twin_report(m, NULL));
	mqtt_set_twin(m, NULL, NULL);
	EXPECT_EQ(-EOPNOTSUPP, mqtt_twin_report(m, "{}"));
	mqtt_free(m);
}

TEST(backoff_is_bounded_exponential_with_jitter)
{
	unsigned int a, prev_hi = 0;

	for (a = 1; a < 40; a++) {
		unsigned int lo = mqtt_backoff_ms(a, 0.0);
		unsigned int hi = mqtt_backoff_ms(a, 1.0);

		EXPECT_LE(hi, (unsigned int)MQTT_BACKOFF_MAX_MS);
		EXPECT_GE(lo, (unsigned int)MQTT_BACKOFF_MIN_MS / 2);
		EXPECT_EQ(lo * 2, hi);
		EXPECT_GE(hi, prev_hi);
		prev_hi = hi;
	}
	EXPECT_EQ(1000U, mqtt_backoff_ms(1, 1.0));
	EXPECT_EQ(2000U, mqtt_backoff_ms(2, 1.0));
	EXPECT_EQ(32000U, mqtt_backoff_ms(6, 1.0));
	EXPECT_EQ(60000U, mqtt_backoff_ms(7, 1.0));
	EXPECT_EQ(60000U, mqtt_backoff_ms(1000, 1.0));
	EXPECT_EQ(750U, mqtt_backoff_ms(1, 0.5));
}

TEST(mqtt_new_refuses_bad_configs)
{
	struct mqtt_config c = { .mode = MQTT_MODE_IOTHUB, .auth = MQTT_AUTH_SAS,
				 .host = "localhost", .device_id = "dev1",
				 .shared_key = "not base64" };
	struct mqtt_message msg = { .payload = "{}", .len = 2 };
	char err[256] = "";
	struct mqtt *m;
	int mid;

	EXPECT_EQ(NULL, mqtt_new(&c, NULL, NULL, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "base64")) TH_LOG("%s", err);
	c.device_id = NULL;
	EXPECT_EQ(NULL, mqtt_new(&c, NULL, NULL, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "device id")) TH_LOG("%s", err);
	c.device_id = "dev1";
	c.shared_key = DOC_KEY;
	c.sas_ttl = 3;
	EXPECT_EQ(NULL, mqtt_new(&c, NULL, NULL, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "at least 4 s")) TH_LOG("%s", err);
	c.sas_ttl = 0;
	c.auth = MQTT_AUTH_X509;
	EXPECT_EQ(NULL, mqtt_new(&c, NULL, NULL, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "certificate")) TH_LOG("%s", err);
	c.cert_file = "/nonexistent/cert.pem";
	c.key_file = "/nonexistent/key.pem";
	EXPECT_EQ(NULL, mqtt_new(&c, NULL, NULL, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "/nonexistent/cert.pem")) TH_LOG("%s", err);
	c.host = NULL;
	EXPECT_EQ(NULL, mqtt_new(&c, NULL, NULL, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "no host")) TH_LOG("%s", err);

	/* A good one: nothing happens before mqtt_start(). */
	c = (struct mqtt_config){ .mode = MQTT_MODE_IOTHUB,
				  .auth = MQTT_AUTH_SAS, .host = "localhost",
				  .device_id = "dev1", .shared_key = DOC_KEY };
	m = mqtt_new(&c, NULL, NULL, err, sizeof(err));
	ASSERT_NE(NULL, m) TH_LOG("%s", err);
	EXPECT_EQ(-1, mqtt_fd(m));
	EXPECT_FALSE(mqtt_connected(m));
	EXPECT_FALSE(mqtt_want_write(m));
	EXPECT_EQ(-ENOTCONN, mqtt_publish(m, &msg, &mid));
	EXPECT_STREQ("", mqtt_last_error(m));
	mqtt_free(m);
}

/* Every field counts in mqtt_config_equal(); the copy owns its strings. */
TEST(config_copy_equal_free)
{
	struct mqtt_config a = {
		.mode = MQTT_MODE_IOTHUB, .auth = MQTT_AUTH_SAS, .host = "h",
		.hub_host = "hub", .port = 8883, .tls = true, .ca_file = "ca",
		.cert_file = "crt", .key_file = "key", .client_id = "c",
		.username = "u", .password = "p", .topic = "t",
		.device_id = "d", .module_id = "m", .shared_key = DOC_KEY,
		.key_name = "k", .sas_ttl = 60, .keepalive = 30,
	}, b;
	char **strs[] = {
		&b.host, &b.hub_host, &b.ca_file, &b.cert_file, &b.key_file,
		&b.client_id, &b.username, &b.password, &b.topic, &b.device_id,
		&b.module_id, &b.shared_key, &b.key_name,
	};
	struct mqtt_config s;
	size_t i;

	ASSERT_EQ(0, mqtt_config_copy(&b, &a));
	EXPECT_TRUE(mqtt_config_equal(&a, &b));
	for (i = 0; i < ARRAY_SIZE(strs); i++) {
		char *own = *strs[i];
		char *src = *(char **)((char *)&a + ((char *)strs[i] -
						     (char *)&b));

		EXPECT_NE(src, own);
		EXPECT_STREQ(src, own);
		*strs[i] = "other";
		EXPECT_FALSE(mqtt_config_equal(&a, &b)) TH_LOG("string %zu", i);
		*strs[i] = NULL;
		EXPECT_FALSE(mqtt_config_equal(&a, &b)) TH_LOG("string %zu", i);
		*strs[i] = own;
	}
	EXPECT_TRUE(mqtt_config_equal(&a, &b));
#define DIFFERS(f, v) do {						\
		s = b;							\
		b.f = v;						\
		EXPECT_FALSE(mqtt_config_equal(&a, &b)) TH_LOG(#f);	\
		b = s;							\
	} while (0)
	DIFFERS(mode, MQTT_MODE_BROKER);
	DIFFERS(auth, MQTT_AUTH_X509);
	DIFFERS(port, 1883);
	DIFFERS(tls, false);
	DIFFERS(sas_ttl, 61);
	DIFFERS(keepalive, 31);
#undef DIFFERS
	EXPECT_TRUE(mqtt_config_equal(&a, &b));
	mqtt_config_free(&b);
	EXPECT_EQ(NULL, b.host);
	EXPECT_EQ(NULL, b.shared_key);
}

static char logged[4096];
static int logged_level = -1;

static void capture_log(int level, const char *line)
{
	size_t n = strlen(logged);

	snprintf(logged + n, sizeof(logged) - n, "%d %s\n", level, line);
	if (logged_level < 0 || level < logged_level)
		logged_level = level;
}

/* Nobody listens on 127.0.0.1:1: a warning through the hook, a retry. */
TEST(log_hook_and_refused_connection)
{
	struct mqtt_config c = { .mode = MQTT_MODE_BROKER, .host = "127.0.0.1",
				 .port = 1, .device_id = "dev1" };
	char err[256];
	struct mqtt *m;
	int i;

	mqtt_set_log(capture_log);
	m = mqtt_new(&c, NULL, NULL, err, sizeof(err));
	ASSERT_NE(NULL, m) TH_LOG("%s", err);
	EXPECT_EQ(0, mqtt_start(m));
	for (i = 0; i < 50 && !strstr(logged, "retrying in"); i++) {
		struct pollfd p = { .fd = mqtt_fd(m), .events = POLLIN };
		struct timespec ts = { 0 };

		if (p.fd >= 0 && poll(&p, 1, 100) > 0)
			mqtt_handle(m, p.revents & POLLIN ? EPOLLIN : EPOLLERR);
		mqtt_tick(m, ts);
	}
	mqtt_set_log(NULL);
	EXPECT_NE(NULL, strstr(logged, "connecting to 127.0.0.1:1 as dev1"))
		TH_LOG("%s", logged);
	EXPECT_NE(NULL, strstr(logged, "; retrying in ")) TH_LOG("%s", logged);
	EXPECT_NE(NULL, strstr(mqtt_last_error(m), "127.0.0.1:1"));
	EXPECT_EQ(LOG_WARNING, logged_level);
	EXPECT_EQ(-1, mqtt_fd(m));
	EXPECT_FALSE(mqtt_connected(m));
	mqtt_free(m);
}

TEST_HARNESS_MAIN
