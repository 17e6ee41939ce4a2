// SPDX-License-Identifier: MIT
/*
 * Indicator lists (pipeline/ioc.c): parsing with file:line errors for
 * malformed lines (skipped, never fatal), hash/address/CIDR/path lookups,
 * domains resolved in the background, and the ioc:<kind> alerts.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>
#include "pipeline/ioc.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

static char warnings[8][256];
static int n_warn;

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	if (n_warn < 8)
		snprintf(warnings[n_warn], sizeof(warnings[0]), "%s", msg);
	n_warn++;
}

static int add(struct ioc_set *s, enum ioc_kind k, const char *text)
{
	n_warn = 0;
	return ioc_add_text(s, k, "list.txt", text, strlen(text), on_warn,
			    NULL);
}

static bool addr(struct ioc_set *s, const char *a)
{
	uint8_t b[16];

	if (inet_pton(AF_INET, a, b) == 1)
		return ioc_find_addr(s, AF_INET, b, NULL);
	if (inet_pton(AF_INET6, a, b) != 1)
		abort();
	return ioc_find_addr(s, AF_INET6, b, NULL);
}

TEST(hashes_and_errors_with_line)
{
	struct ioc_set *s = ioc_new();
	uint8_t d[HASH_LEN];
	struct ioc_hit h;

	ASSERT_EQ(2, add(s, IOC_HASH,
			 "# known bad\n"
			 "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\n"
			 "\n  nothex  \n"
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 # empty\n"
			 "ba7816bf\n"));
	ASSERT_EQ(2, n_warn);
	EXPECT_STREQ("list.txt:4: expected a SHA-256 digest (64 hex digits), "
		     "got 'nothex'", warnings[0]);
	EXPECT_STREQ("list.txt:6: expected a SHA-256 digest (64 hex digits), "
		     "got 'ba7816bf'", warnings[1]);
	hash_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		      64, d);
	ASSERT_TRUE(ioc_find_hash(s, d, &h));
	EXPECT_EQ(2, h.line);
	EXPECT_STREQ("list.txt", h.file);
	d[0] ^= 1;
	EXPECT_FALSE(ioc_find_hash(s, d, NULL));
	EXPECT_EQ(2, ioc_count(s, IOC_HASH));
	ioc_free(s);
}

TEST(addresses_and_cidrs)
{
	struct ioc_set *s = ioc_new();
	uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 10, 9, 8, 7 };

	ASSERT_EQ(5, add(s, IOC_ADDRESS,
			 "203.0.113.7\n10.9.0.0/16\n2001:db8::/32\n"
			 "192.0.2.1/33\n::1\n1.2.3.4/x\n300.1.1.1\n0.0.0.0/0\n"));
	EXPECT_EQ(3, n_warn);
	EXPECT_STREQ("list.txt:4: expected an IPv4 or IPv6 address or CIDR, "
		     "got '192.0.2.1/33'", warnings[0]);
	EXPECT_TRUE(addr(s, "203.0.113.7"));
	EXPECT_TRUE(addr(s, "10.9.255.1"));
	EXPECT_TRUE(addr(s, "2001:db8:1::5"));
	EXPECT_TRUE(addr(s, "::1"));
	EXPECT_TRUE(ioc_find_addr(s, AF_INET6, mapped, NULL));
	/* 0.0.0.0/0 is every IPv4 address, not IPv6 ones */
	EXPECT_TRUE(addr(s, "8.8.8.8"));
	EXPECT_FALSE(addr(s, "2001:db9::1"));
	EXPECT_FALSE(addr(s, "::2"));
	ioc_free(s);
	s = ioc_new();
	ASSERT_EQ(1, add(s, IOC_ADDRESS, "10.9.0.0/16\n"));
	EXPECT_FALSE(addr(s, "10.10.0.1"));
	EXPECT_FALSE(addr(s, "203.0.113.7"));
	ioc_free(s);
}

TEST(paths_and_domains_syntax)
{
	struct ioc_set *s = ioc_new();

	ASSERT_EQ(2, add(s, IOC_PATH, "/tmp/evil\nrelative/x\n/usr/bin/nc#x\n"));
	EXPECT_EQ(1, n_warn);
	EXPECT_TRUE(ioc_find_path(s, "/tmp/evil", 9, NULL));
	EXPECT_TRUE(ioc_find_path(s, "/usr/bin/nc#x", 13, NULL));
	EXPECT_FALSE(ioc_find_path(s, "/tmp/evi", 8, NULL));
	ASSERT_EQ(2, add(s, IOC_DOMAIN, "Evil.Example.COM.\nbad..name\n"
			 "localhost\nwith space\n"));
	EXPECT_EQ(2, n_warn);
	EXPECT_STREQ("list.txt:2: expected a domain name, got 'bad..name'",
		     warnings[0]);
	ioc_free(s);
}

/* garbage: every byte value, long lines, no newline at the end */
TEST(garbage_never_crashes)
{
	struct ioc_set *s = ioc_new();
	char *buf = malloc(200000);
	unsigned int seed = 1;

	for (int k = 0; k < IOC_KIND_N; k++) {
		for (size_t i = 0; i < 200000; i++) {
			seed = seed * 1103515245 + 12345;
			buf[i] = (char)(seed >> 16);
			if (i % 97 == 0)
				buf[i] = '\n';
		}
		EXPECT_LE(0, ioc_add_text(s, (enum ioc_kind)k, "g", buf, 200000,
					  NULL, NULL));
		EXPECT_LE(0, ioc_add_text(s, (enum ioc_kind)k, "g", buf, 5000,
					  NULL, NULL));
	}
	memset(buf, 'a', 10000);
	n_warn = 0;
	ioc_add_text(s, IOC_PATH, "g", buf, 10000, on_warn, NULL);
	EXPECT_EQ(1, n_warn);
	EXPECT_STREQ("g:1: line longer than 4096 bytes", warnings[0]);
	free(buf);
	ioc_free(s);
}

TEST(load_files)
{
	char dir[] = "/tmp/ioc-test.XXXXXX", p[64];
	const char *files[IOC_KIND_N] = { 0 };
	struct ioc_set *s;
	FILE *f;

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/a", dir);
	f = fopen(p, "w");
	fputs("198.51.100.0/24\nnot-an-ip\n", f);
	fclose(f);
	files[IOC_ADDRESS] = p;
	files[IOC_PATH] = "/nonexistent/paths";
	n_warn = 0;
	ASSERT_EQ(0, ioc_load(&s, files, on_warn, NULL));
	EXPECT_EQ(2, n_warn);
	EXPECT_NE(NULL, strstr(warnings[0], "/a:2: expected an IPv4"));
	EXPECT_STREQ("/nonexistent/paths: No such file or directory; the "
		     "list is empty", warnings[1]);
	EXPECT_TRUE(addr(s, "198.51.100.9"));
	ioc_free(s);
	unlink(p);
	rmdir(dir);
}

TEST(domains_resolve_in_background)
{
	struct ioc_set *s = ioc_new();
	uint8_t lo[4] = { 127, 0, 0, 1 };
	struct ioc_hit h;

	ASSERT_EQ(1, add(s, IOC_DOMAIN, "# ours\nlocalhost\n"));
	EXPECT_FALSE(ioc_find_resolved(s, AF_INET, lo, NULL));
	ASSERT_EQ(0, ioc_resolve_start(s, 60000));
	for (int i = 0; i < 500 && !ioc_resolved_count(s); i++)
		usleep(10000);
	ASSERT_LT(0, ioc_resolved_count(s));
	ASSERT_TRUE(ioc_find_resolved(s, AF_INET, lo, &h));
	EXPECT_EQ(IOC_DOMAIN, h.kind);
	EXPECT_EQ(2, h.line);
	EXPECT_STREQ("localhost", h.domain);
	ioc_free(s);
}

static char *alerts[8];
static int n_alerts;

static void on_alert(void *ctx, const char *t, size_t len)
{
	(void)ctx;
	if (n_alerts < 8)
		alerts[n_alerts] = strndup(t, len);
	n_alerts++;
}

TEST(alerts_and_hit_counts)
{
	struct ser ser;
	struct ioc_engine e;
	struct ioc_set *s = ioc_new();
	struct iotsec_event c = hconnect(IOTSEC_EVENT_CONNECT, "/usr/bin/curl",
					 0, "\xcb\x00\x71\x07", 40000, 443,
					 1000);
	struct iotsec_event ok = hconnect(IOTSEC_EVENT_CONNECT,
					  "/usr/bin/curl", 0,
					  "\x08\x08\x08\x08", 40000, 443, 1000);
	uint8_t d[HASH_LEN];
	struct json_object *j, *p;

	ser_init(&ser, "00000000-0000-4000-8000-000000000000", "t");
	ioc_engine_init(&e, &ser, on_alert, NULL);
	e.aggregate_ms = 1000;
	ASSERT_EQ(1, add(s, IOC_ADDRESS, "203.0.113.7\n"));
	ASSERT_EQ(1, add(s, IOC_HASH, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"));
	ioc_engine_set(&e, s, 0);
	n_alerts = 0;
	EXPECT_EQ(0, ioc_eval(&e, &ok, 10));
	EXPECT_EQ(0, n_alerts);
	EXPECT_EQ(1, ioc_eval(&e, &c, 10));
	ASSERT_EQ(1, n_alerts);
	j = json_tokener_parse(alerts[0]);
	ASSERT_NE(NULL, j);
	p = json_object_array_get_idx(json_object_object_get(j, "Payload"), 0);
	EXPECT_STREQ("ioc:address", json_object_get_string(
			     json_object_object_get(p, "RuleName")));
	EXPECT_STREQ("remote address 203.0.113.7 is listed in list.txt:1",
		     json_object_get_string(
			     json_object_object_get(p, "Description")));
	json_object_put(j);
	/* within the interval: held, then one alert with HitCount 2 */
	ioc_eval(&e, &c, 20);
	ioc_eval(&e, &c, 30);
	EXPECT_EQ(1, n_alerts);
	ioc_tick(&e, 2000);
	ASSERT_EQ(2, n_alerts);
	EXPECT_NE(NULL, strstr(alerts[1], "\"HitCount\":2"));
	/* a hash */
	hash_from_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		      64, d);
	{
		char av[16];
		struct iotsec_event x = hexec("/tmp/x", hargv(av, sizeof(av),
							    "x"), 0, 5, 1);

		EXPECT_EQ(1, ioc_eval_hash(&e, &x, d, 3000));
		ASSERT_EQ(3, n_alerts);
		EXPECT_NE(NULL, strstr(alerts[2], "\"RuleName\":\"ioc:hash\""));
		EXPECT_NE(NULL, strstr(alerts[2], "\"Severity\":\"Critical\""));
	}
	ioc_engine_fini(&e);
	for (int i = 0; i < 3; i++)
		free(alerts[i]);
}

/* A rename onto a listed path: the description names the listed path. */
TEST(file_alert_names_the_listed_path)
{
	struct ser ser;
	struct ioc_engine e;
	struct ioc_set *s = ioc_new();
	struct iotsec_event f = { 0 };

	ser_init(&ser, "00000000-0000-4000-8000-000000000000", "t");
	ioc_engine_init(&e, &ser, on_alert, NULL);
	ASSERT_EQ(1, add(s, IOC_PATH, "/usr/bin/nc\n"));
	ioc_engine_set(&e, s, 0);
	f.type = IOTSEC_EVENT_FILE;
	f.path = hs("/tmp/stage");
	f.new_path = hs("/usr/bin/nc");
	f.proc_exe = hs("/bin/mv");
	f.tgid = f.tid = 7;
	f.time_ns = 1;
	n_alerts = 0;
	EXPECT_EQ(1, ioc_eval(&e, &f, 10));
	ASSERT_EQ(1, n_alerts);
	EXPECT_NE(NULL, strstr(alerts[0], "file /usr/bin/nc is listed in"))
		TH_LOG("%s", alerts[0]);
	ioc_engine_fini(&e);
	free(alerts[0]);
}

/*
 * Hits are aggregated per indicator, not per list: a second listed
 * address hit within the interval of the first one's alert is an alert
 * of its own at once (it used to be held under the first one's alert,
 * with the first one's description), each held count goes out with its
 * own indicator, and a flood of distinct indicators (a listed CIDR) has
 * every one of them alerted, with memory bounded.
 */
TEST(each_indicator_alerts_on_its_own)
{
	struct ser ser;
	struct ioc_engine e;
	struct ioc_set *s = ioc_new();
	struct iotsec_event a = hconnect(IOTSEC_EVENT_CONNECT, "/usr/bin/curl",
					 0, "\xcb\x00\x71\x07", 40000, 443,
					 1000);
	struct iotsec_event b = hconnect(IOTSEC_EVENT_CONNECT, "/usr/bin/curl",
					 0, "\xcb\x00\x71\x08", 40000, 443,
					 1000);
	bool seen_a = false, seen_b = false;

	ser_init(&ser, "00000000-0000-4000-8000-000000000000", "t");
	ioc_engine_init(&e, &ser, on_alert, NULL);
	e.aggregate_ms = 1000;
	ASSERT_EQ(3, add(s, IOC_ADDRESS,
			 "203.0.113.7\n203.0.113.8\n10.0.0.0/8\n"));
	ioc_engine_set(&e, s, 0);
	n_alerts = 0;
	EXPECT_EQ(1, ioc_eval(&e, &a, 10));
	ASSERT_EQ(1, n_alerts);
	/* another indicator of the same list: its own alert, at once */
	EXPECT_EQ(1, ioc_eval(&e, &b, 20));
	ASSERT_EQ(2, n_alerts);
	EXPECT_NE(NULL, strstr(alerts[1], "remote address 203.0.113.8 is "
			       "listed in list.txt:2")) TH_LOG("%s", alerts[1]);
	/* repeats: held per indicator, one alert each with its count */
	ioc_eval(&e, &a, 30);
	ioc_eval(&e, &a, 40);
	ioc_eval(&e, &b, 50);
	EXPECT_EQ(2, n_alerts);
	ioc_tick(&e, 2000);
	ASSERT_EQ(4, n_alerts);
	for (int i = 2; i < 4; i++) {
		if (strstr(alerts[i], "203.0.113.7 is listed in list.txt:1"))
			seen_a = strstr(alerts[i], "\"HitCount\":2") != NULL;
		if (strstr(alerts[i], "203.0.113.8 is listed in list.txt:2"))
			seen_b = strstr(alerts[i], "\"HitCount\":1") != NULL;
	}
	EXPECT_TRUE(seen_a) TH_LOG("%s | %s", alerts[2], alerts[3]);
	EXPECT_TRUE(seen_b) TH_LOG("%s | %s", alerts[2], alerts[3]);
	for (int i = 0; i < 8; i++) {
		free(alerts[i]);
		alerts[i] = NULL;
	}
	/*
	 * 1000 distinct addresses of a listed CIDR within one interval:
	 * 1000 alerts at once (past the tracked ones, each alone), then
	 * their repeats come back as held counts of the tracked ones or
	 * alerts of their own; no hit is lost.
	 */
	n_alerts = 0;
	e.stats.hits = e.stats.suppressed = 0;
	for (int i = 0; i < 1000; i++) {
		struct iotsec_event x = a;

		x.raddr[0] = 10;
		x.raddr[2] = (uint8_t)(i >> 8);
		x.raddr[3] = (uint8_t)i;
		EXPECT_EQ(1, ioc_eval(&e, &x, 3000));
	}
	EXPECT_EQ(1000, n_alerts);
	EXPECT_EQ(0, e.stats.suppressed);
	/* the first ones are tracked: their repeats are held and counted */
	for (int i = 0; i < 10; i++) {
		struct iotsec_event x = a;

		x.raddr[0] = 10;
		x.raddr[2] = 0;
		x.raddr[3] = (uint8_t)i;
		EXPECT_EQ(1, ioc_eval(&e, &x, 3100));
	}
	EXPECT_EQ(1000, n_alerts);
	EXPECT_EQ(10, e.stats.suppressed);
	ioc_tick(&e, 5000);
	EXPECT_EQ(1010, n_alerts);
	ioc_engine_fini(&e);
	for (int i = 0; i < 8; i++)
		free(alerts[i]);
}

TEST_HARNESS_MAIN
