// SPDX-License-Identifier: MIT
/*
 * Detection rules (pipeline/rules*.c, docs/rules.md): every condition
 * kind, lists, exceptions, errors with file:line:col, the reload that
 * keeps the running rules, alerts and their hit counts, and each rule of
 * the default pack (config/rules/default.yaml) on an event that triggers
 * it and a normal one that must not.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "daemon/daemon.h"
#include "pipeline/rules_priv.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

static struct ruleset *compile(const char *yaml, char *err, size_t len)
{
	struct rules_src s = { "t.yaml", yaml, strlen(yaml), false };
	struct ruleset *rs = NULL;

	err[0] = '\0';
	if (rules_compile(&rs, &s, 1, err, len))
		return NULL;
	return rs;
}

/* 1 when the only rule of RS matches EV */
static int m(const struct ruleset *rs, const struct iotsec_event *ev)
{
	const char *n[4];

	return rules_match(rs, ev, n, 4);
}

static struct iotsec_event ev_of(uint32_t type)
{
	struct iotsec_event ev = { 0 };

	ev.type = type;
	ev.tgid = ev.tid = 100;
	ev.ptgid = 1;
	ev.comm = hs("x");
	ev.loginuid = UINT32_MAX;
	return ev;
}

static struct iotsec_event ev_exec(const char *exe, const char *parent)
{
	struct iotsec_event ev = ev_of(IOTSEC_EVENT_EXEC);

	ev.exe = hs(exe);
	ev.argv = (struct ev_str){ "x\0-c\0id\0", 9 };
	if (parent)
		ev.parent_exe = hs(parent);
	return ev;
}

#define RULE(ev, match) \
	"rules:\n  - name: r\n    event: " ev "\n    match: " match "\n"

TEST(glob)
{
	EXPECT_TRUE(rules_glob("/tmp/*", "/tmp/a/b", 8));
	EXPECT_FALSE(rules_glob("/tmp/*", "/tmpx", 5));
	EXPECT_TRUE(rules_glob("*/sh", "/bin/sh", 7));
	EXPECT_FALSE(rules_glob("*/sh", "/bin/bash", 9));
	EXPECT_TRUE(rules_glob("a?c", "abc", 3));
	EXPECT_TRUE(rules_glob("a*b*c", "axxbyyc", 7));
	EXPECT_FALSE(rules_glob("a*b*c", "axxbyy", 6));
	EXPECT_TRUE(rules_glob("a\\*", "a*", 2));
	EXPECT_FALSE(rules_glob("a\\*", "ab", 2));
	EXPECT_TRUE(rules_glob("*", "", 0));
}

TEST(string_conditions)
{
	char err[512];
	struct ruleset *rs;
	struct iotsec_event ev = ev_exec("/tmp/x", "/usr/sbin/nginx");

	rs = compile(RULE("exec", "{ exe: [/tmp/*] }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.exe = hs("/usr/bin/tmp");
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);

	rs = compile(RULE("exec", "{ argv: '* -c *' }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.argv = (struct ev_str){ "x\0-v\0", 6 };
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);

	rs = compile(RULE("exec", "{ parent_exe: '*/nginx' }"), err,
		     sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.parent_exe = hs("/usr/sbin/sshd");
	EXPECT_EQ(0, m(rs, &ev));
	ev.parent_exe = (struct ev_str){ 0 };
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);

	rs = compile(RULE("exec", "{ comm: x, user: ro* }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(0, m(rs, &ev));
	ev.user = hs("root");
	EXPECT_EQ(1, m(rs, &ev));
	rules_free(rs);

	ev = ev_of(IOTSEC_EVENT_FILE);
	ev.path = hs("/etc/shadow+");
	ev.new_path = hs("/etc/shadow");
	ev.file_op = IOTSEC_FILE_RENAME;
	rs = compile(RULE("file", "{ path: /etc/shadow, file_op: rename }"),
		     err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));	/* by its new name */
	ev.file_op = IOTSEC_FILE_WRITE;
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);

	ev = ev_of(IOTSEC_EVENT_MODULE);
	ev.module_name = hs("evil_rk");
	rs = compile(RULE("module", "{ module: evil*, success: true }"), err,
		     sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.result = -1;
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);
}

TEST(id_ranges)
{
	char err[512];
	struct ruleset *rs;
	struct iotsec_event ev = ev_exec("/bin/x", NULL);

	rs = compile(RULE("exec", "{ uid: [0, 1000-1999], euid: '0', "
			  "gid: 5, loginuid: unset }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	ev.uid = 1500;
	ev.gid = 5;
	EXPECT_EQ(1, m(rs, &ev));
	ev.uid = 2000;
	EXPECT_EQ(0, m(rs, &ev));
	ev.uid = 0;
	ev.loginuid = 1000;
	EXPECT_EQ(0, m(rs, &ev));
	ev.loginuid = UINT32_MAX;
	ev.euid = 1;
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);

	ev = ev_of(IOTSEC_EVENT_CRED);
	ev.old_euid = 1000;
	ev.new_euid = 0;
	ev.new_uid = 1000;
	rs = compile(RULE("cred", "{ old_euid: 1-65535, new_euid: 0, "
			  "new_uid: 1000, from_exec: false }"), err,
		     sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.from_exec = true;
	EXPECT_EQ(0, m(rs, &ev));
	ev.from_exec = false;
	ev.old_euid = 0;
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);
}

static struct iotsec_event ev_net(uint32_t type, const char *raddr,
				  uint16_t rport, uint16_t lport)
{
	struct iotsec_event ev = ev_of(type);

	ev.proc_exe = hs("/usr/bin/app");
	ev.protocol = 6;
	if (strchr(raddr, ':')) {
		ev.family = AF_INET6;
		inet_pton(AF_INET6, raddr, ev.raddr);
	} else {
		ev.family = AF_INET;
		inet_pton(AF_INET, raddr, ev.raddr);
	}
	ev.rport = rport;
	ev.lport = lport;
	return ev;
}

TEST(network_conditions)
{
	char err[512];
	struct ruleset *rs;
	struct iotsec_event ev = ev_net(IOTSEC_EVENT_CONNECT, "10.1.2.3", 4444,
					40000);

	rs = compile(RULE("[connect, accept]",
			  "{ raddr: [10.0.0.0/8, 'fd00::/8'], rport: "
			  "[4444, 6000-6100], protocol: tcp, direction: out }"),
		     err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.rport = 6050;
	EXPECT_EQ(1, m(rs, &ev));
	ev.rport = 443;
	EXPECT_EQ(0, m(rs, &ev));
	ev = ev_net(IOTSEC_EVENT_CONNECT, "11.1.2.3", 4444, 1);
	EXPECT_EQ(0, m(rs, &ev));
	ev = ev_net(IOTSEC_EVENT_CONNECT, "::ffff:10.9.9.9", 4444, 1);
	EXPECT_EQ(1, m(rs, &ev));	/* v4-mapped */
	ev = ev_net(IOTSEC_EVENT_CONNECT, "fd12::1", 4444, 1);
	EXPECT_EQ(1, m(rs, &ev));
	ev.protocol = 17;
	EXPECT_EQ(0, m(rs, &ev));
	ev = ev_net(IOTSEC_EVENT_ACCEPT, "10.1.2.3", 4444, 1);
	EXPECT_EQ(0, m(rs, &ev));	/* direction in */
	rules_free(rs);

	rs = compile(RULE("listen", "{ lport: 1-1023, laddr: 0.0.0.0/0, "
			  "direction: listen }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	ev = ev_net(IOTSEC_EVENT_LISTEN, "0.0.0.0", 0, 80);
	EXPECT_EQ(1, m(rs, &ev));
	ev.lport = 8080;
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);
}

TEST(flag_conditions)
{
	char err[512], dir[] = "/tmp/iotsec-rules-proc.XXXXXX", p[256];
	struct ruleset *rs;
	struct iotsec_event ev = ev_exec("/memfd:x (deleted)", NULL);
	FILE *f;

	rs = compile(RULE("exec", "{ exe_deleted: true, container: false, "
			  "secure_exec: false }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.container = hs("abcdef");
	EXPECT_EQ(0, m(rs, &ev));
	ev.container = (struct ev_str){ 0 };
	ev.secure_exec = true;
	EXPECT_EQ(0, m(rs, &ev));
	ev = ev_exec("/bin/x", NULL);
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);

	rs = compile(RULE("module", "{ after_boot: 5m }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	ev = ev_of(IOTSEC_EVENT_MODULE);
	ev.time_ns = 299ULL * 1000000000;
	EXPECT_EQ(0, m(rs, &ev));
	ev.time_ns = 301ULL * 1000000000;
	EXPECT_EQ(1, m(rs, &ev));
	rules_free(rs);

	/* target_other_user reads the target's real uid from /proc */
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/4242", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/4242/status", dir);
	f = fopen(p, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "Name:\tvictim\nUmask:\t0022\nUid:\t1001\t1001\t1001\t1001\n");
	fclose(f);
	rules_proc = dir;
	rs = compile(RULE("ptrace", "{ target_other_user: true, "
			  "ptrace_mode: [attach, seize] }"), err, sizeof(err));
	ASSERT_NE(NULL, rs) TH_LOG("%s", err);
	ev = ev_of(IOTSEC_EVENT_PTRACE);
	ev.target_tgid = 4242;
	ev.ptrace_mode = IOTSEC_PTRACE_ATTACH;
	ev.uid = 1000;
	EXPECT_EQ(1, m(rs, &ev));
	ev.uid = 1001;
	EXPECT_EQ(0, m(rs, &ev));
	ev.uid = 1000;
	ev.target_tgid = 4243;		/* gone: not known, not held */
	EXPECT_EQ(0, m(rs, &ev));
	ev.target_tgid = 4242;
	ev.ptrace_mode = IOTSEC_PTRACE_TRACEME;
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);
	rules_proc = "/proc";
	unlink(p);
	snprintf(p, sizeof(p), "%s/4242", dir);
	rmdir(p);
	rmdir(dir);
}

TEST(lists_exceptions_and_types)
{
	char err[512];
	struct ruleset *rs;
	struct iotsec_event ev = ev_exec("/bin/sh", "/usr/sbin/nginx");
	const char *a =
		"lists:\n"
		"  shells: [/bin/sh, $more_shells]\n"
		"rules:\n"
		"  - name: shell\n"
		"    event: [exec]\n"
		"    match: { exe: $shells }\n"
		"    except:\n"
		"      - { parent_exe: '*/sshd' }\n"
		"      - { uid: 0, parent_exe: '*/cron' }\n";
	/* a list of a later source serves the rules of an earlier one */
	const char *b = "lists:\n  more_shells: [/bin/bash, '$literal']\n";
	struct rules_src src[2] = {
		{ "a.yaml", a, strlen(a), false },
		{ "b.yaml", b, strlen(b), false },
	};

	ASSERT_EQ(0, rules_compile(&rs, src, 2, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(1, m(rs, &ev));
	ev.exe = hs("/bin/bash");
	EXPECT_EQ(1, m(rs, &ev));
	ev.exe = hs("$literal");	/* quoted: not a list reference */
	EXPECT_EQ(1, m(rs, &ev));
	ev.exe = hs("/bin/zsh");
	EXPECT_EQ(0, m(rs, &ev));
	ev.exe = hs("/bin/sh");
	ev.parent_exe = hs("/usr/sbin/sshd");
	EXPECT_EQ(0, m(rs, &ev));	/* first exception */
	ev.parent_exe = hs("/usr/sbin/cron");
	ev.uid = 1000;
	EXPECT_EQ(1, m(rs, &ev));	/* the second needs both */
	ev.uid = 0;
	EXPECT_EQ(0, m(rs, &ev));
	/* other event types never meet the rule */
	ev.type = IOTSEC_EVENT_EXIT;
	ev.parent_exe = hs("/x");
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);
}

TEST(enabled_turns_a_rule_off_by_name)
{
	char err[512];
	struct ruleset *rs;
	struct iotsec_event ev = ev_exec("/tmp/x", NULL);
	const char *a = RULE("exec", "{ exe: /tmp/* }");
	const char *b = "rules:\n  - { name: r, enabled: false }\n";
	const char *c = "rules:\n  rules:\n    - { name: r, enabled: true }\n";
	struct rules_src src[3] = {
		{ "a.yaml", a, strlen(a), false },
		{ "b.yaml", b, strlen(b), false },
		{ "c.yaml", c, strlen(c), true },
	};

	ASSERT_EQ(0, rules_compile(&rs, src, 2, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(0, rules_count(rs));
	EXPECT_EQ(0, m(rs, &ev));
	rules_free(rs);
	ASSERT_EQ(0, rules_compile(&rs, src, 3, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(1, rules_count(rs));
	EXPECT_EQ(1, m(rs, &ev));
	rules_free(rs);
}

/* The error for YAML, exactly. */
static void expect_error(struct __test_metadata *_metadata, const char *yaml,
			 const char *want)
{
	char err[512];
	struct ruleset *rs = compile(yaml, err, sizeof(err));

	EXPECT_EQ(NULL, rs);
	EXPECT_STREQ(want, err);
	rules_free(rs);
}

TEST(errors_name_file_line_column)
{
	expect_error(_metadata, RULE("exec", "{ uid: abc }"),
		     "t.yaml:4:19: expected a uid or a range, got 'abc'");
	expect_error(_metadata, RULE("exec", "{ rport: 70000 }"),
		     "t.yaml:4:21: expected a port or a range, got '70000'");
	expect_error(_metadata, RULE("connect", "{ raddr: 10.0.0.0/33 }"),
		     "t.yaml:4:21: expected an address or a CIDR (10.0.0.0/8, "
		     "fd00::/8), got '10.0.0.0/33'");
	expect_error(_metadata, RULE("exec", "{ exe: $nope }"),
		     "t.yaml:4:19: no list named 'nope'");
	expect_error(_metadata, RULE("exek", "{ exe: x }"),
		     "t.yaml:3:12: expected an event type (exec, exit, fork, "
		     "connect, accept, listen, cred, module, ptrace, file, "
		     "login), got 'exek'");
	expect_error(_metadata, RULE("exec", "{ protocol: tcpx }"),
		     "t.yaml:4:24: expected tcp, udp, udplite, icmp, icmpv6, "
		     "sctp or a number, got 'tcpx'");
	expect_error(_metadata, RULE("exec", "{ container: maybe }"),
		     "t.yaml:4:25: expected true or false");
	expect_error(_metadata, "rules:\n  - name: r\n    event: exec\n"
		     "    match: { exe: x }\n  - name: r\n    event: exec\n",
		     "t.yaml:5:11: a second rule named 'r' (to turn one on or "
		     "off, give only name and enabled)");
	expect_error(_metadata, "rules:\n  - name: r\n    evnt: exec\n",
		     "t.yaml:3:5: unknown key 'evnt' in a rule, expected one "
		     "of: name, severity, description, enabled, event, match, "
		     "except, threshold, within, by");
	expect_error(_metadata, "lists:\n  a: [$b]\n  b: [$a]\n"
		     RULE("exec", "{ exe: $a }"),
		     "t.yaml:3:7: lists nested deeper than 8 (a list that "
		     "contains itself?)");
	expect_error(_metadata, "rules: [\n",
		     "t.yaml:2:1: did not find expected node content while "
		     "parsing a flow node");
	expect_error(_metadata, "rulez: []\n",
		     "t.yaml:1:1: unknown key 'rulez' in a rules file, expected "
		     "one of: lists, rules");
}

#define THRESH(extra) \
	"rules:\n  - name: r\n    event: connect\n" extra

TEST(threshold_errors)
{
	expect_error(_metadata, THRESH("    threshold: 3\n    by: raddr\n"),
		     "t.yaml:4:16: threshold, within and by go together");
	expect_error(_metadata, THRESH("    threshold: 0\n    within: 60s\n"
				       "    by: raddr\n"),
		     "t.yaml:4:16: expected a threshold from 1 to 100");
	expect_error(_metadata, THRESH("    threshold: 101\n    within: 60s\n"
				       "    by: raddr\n"),
		     "t.yaml:4:16: expected a threshold from 1 to 100");
	expect_error(_metadata, THRESH("    threshold: 3\n    within: soon\n"
				       "    by: raddr\n"),
		     "t.yaml:5:13: expected a duration (60s, 5m)");
	expect_error(_metadata, THRESH("    threshold: 3\n    within: 60s\n"
				       "    by: [raddr, colour]\n"),
		     "t.yaml:6:17: expected a field to count by (exe, "
		     "parent_exe, comm, user, path, module, uid, euid, pid, "
		     "raddr, laddr, rport, lport), got 'colour'");
	expect_error(_metadata, THRESH("    threshold: 3\n    within: 60s\n"
				       "    by: [exe, uid, pid, raddr, rport]\n"),
		     "t.yaml:6:9: expected 1 to 4 fields in by");
}

struct alerts {
	struct json_object *a[16];
	size_t n;
};

static void on_alert(void *ctx, const char *t, size_t len);
static const char *jstr(struct json_object *o, const char *path);

#define SEC 1000000000ULL

/*
 * THRESHOLD matches of one key within WITHIN: an alert, and the key
 * counts from zero again; other keys count apart; a key's old matches
 * fall out of the window; keys beyond 256 push out the least recent.
 */
TEST(threshold_counts_per_key_within_the_window)
{
	struct iotsec_event a = ev_net(IOTSEC_EVENT_CONNECT, "192.0.2.1", 22, 0),
			    b = ev_net(IOTSEC_EVENT_CONNECT, "192.0.2.2", 22, 0);
	struct alerts s = { 0 };
	struct rules_engine e;
	struct ser ser;
	char err[512];
	struct rule *r;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "t");
	rules_engine_init(&e, &ser, on_alert, &s);
	e.aggregate_ms = 0;
	rules_engine_set(&e, compile(THRESH("    match: { rport: 22 }\n"
					    "    threshold: 3\n"
					    "    within: 10s\n"
					    "    by: raddr\n"), err,
				     sizeof(err)), 0);
	ASSERT_NE(NULL, e.rs) TH_LOG("%s", err);
	r = &e.rs->rules[0];
	/* two of a, two of b: nothing yet */
	a.time_ns = 1 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	b.time_ns = 2 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &b, 0));
	a.time_ns = 3 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	b.time_ns = 4 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &b, 0));
	/* a third of a within 10 s of its first */
	a.time_ns = 10 * SEC;
	EXPECT_EQ(1, rules_eval(&e, &a, 0));
	ASSERT_EQ(1, s.n);
	EXPECT_STREQ("3", jstr(s.a[0], "Payload.0.Threshold"));
	EXPECT_STREQ("10", jstr(s.a[0], "Payload.0.WithinSeconds"));
	EXPECT_STREQ("192.0.2.1", jstr(s.a[0], "Payload.0.TriggeringEvent."
				       "Payload.RemoteAddress"));
	/* a starts from zero again */
	a.time_ns = 11 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	/* b's third comes 11 s after its first: the first fell out */
	b.time_ns = 13 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &b, 0));
	b.time_ns = 14 * SEC;		/* 2, 4 dropped; 4, 13, 14 in 10 s */
	EXPECT_EQ(1, rules_eval(&e, &b, 0));
	EXPECT_EQ(2, s.n);
	/* a rport of another rule's match: not counted at all */
	a.rport = 80;
	a.time_ns = 12 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	a.time_ns = 12 * SEC + 1;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	EXPECT_EQ(2, r->thresh.n_keys);
	/* 300 addresses: 256 keys kept, 46 pushed out, a (the least recent) too */
	a.rport = 22;
	for (int i = 0; i < 300; i++) {
		a.time_ns = (20 + i) * SEC;
		a.raddr[3] = i & 0xff;
		a.raddr[2] = 100 + (i >> 8);
		EXPECT_EQ(0, rules_eval(&e, &a, 0));
	}
	EXPECT_EQ(256, r->thresh.n_keys);
	EXPECT_EQ(46, r->thresh.evicted);
	rules_engine_fini(&e);
	for (size_t i = 0; i < s.n; i++)
		json_object_put(s.a[i]);
}

/*
 * The key table when full: a key that fired (counting nothing since)
 * makes room even within WITHIN; a live count never does: the new key
 * counts in the overflow key.
 */
TEST(threshold_table_full_keeps_live_counts)
{
	struct iotsec_event a = ev_net(IOTSEC_EVENT_CONNECT, "192.0.2.1", 22, 0);
	struct alerts s = { 0 };
	struct rules_engine e;
	struct ser ser;
	char err[512];
	struct rule *r;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "t");
	rules_engine_init(&e, &ser, on_alert, &s);
	e.aggregate_ms = 0;
	rules_engine_set(&e, compile(THRESH("    match: { rport: 22 }\n"
					    "    threshold: 2\n"
					    "    within: 60s\n"
					    "    by: raddr\n"), err,
				     sizeof(err)), 0);
	ASSERT_NE(NULL, e.rs) TH_LOG("%s", err);
	r = &e.rs->rules[0];
	/* key 0 fires; 255 others count one each */
	a.time_ns = 1 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	a.time_ns = 2 * SEC;
	EXPECT_EQ(1, rules_eval(&e, &a, 0));
	for (int i = 1; i < 256; i++) {
		a.raddr[2] = 1;
		a.raddr[3] = (uint8_t)i;
		a.time_ns = 3 * SEC + (uint64_t)i;
		EXPECT_EQ(0, rules_eval(&e, &a, 0));
	}
	EXPECT_EQ(256, r->thresh.n_keys);
	/* a new key: in the fired key's place */
	a.raddr[2] = 3;
	a.raddr[3] = 1;
	a.time_ns = 4 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	EXPECT_EQ(1, r->thresh.evicted);
	EXPECT_EQ(0, r->thresh.overflowed);
	/* two more: no room (all live), counted together, fire together */
	a.raddr[3] = 2;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	a.raddr[3] = 3;
	EXPECT_EQ(1, rules_eval(&e, &a, 0));
	EXPECT_EQ(1, r->thresh.evicted);
	EXPECT_EQ(2, r->thresh.overflowed);
	ASSERT_EQ(2, s.n);
	EXPECT_NE(NULL, strstr(jstr(s.a[1], "Payload.0.Description"),
			       "(counted together: the rule's 256 keys were "
			       "all in use)"));
	/* a minute later the LRU keys are dead: they make room again */
	a.raddr[3] = 4;
	a.time_ns = 70 * SEC;
	EXPECT_EQ(0, rules_eval(&e, &a, 0));
	EXPECT_EQ(2, r->thresh.evicted);
	EXPECT_EQ(2, r->thresh.overflowed);
	rules_engine_fini(&e);
	for (size_t i = 0; i < s.n; i++)
		json_object_put(s.a[i]);
}

/* Lists naming lists multiply: 10^5 values from a few hundred bytes. */
TEST(list_expansion_is_bounded)
{
	static const char yaml[] =
		"lists:\n"
		"  a: [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9]\n"
		"  b: [$a, $a, $a, $a, $a, $a, $a, $a, $a, $a]\n"
		"  c: [$b, $b, $b, $b, $b, $b, $b, $b, $b, $b]\n"
		"  d: [$c, $c, $c, $c, $c, $c, $c, $c, $c, $c]\n"
		"  e: [$d, $d, $d, $d, $d, $d, $d, $d, $d, $d]\n"
		RULE("exec", "{ exe: $e }");
	char err[512];
	struct ruleset *rs = compile(yaml, err, sizeof(err));

	EXPECT_EQ(NULL, rs);
	EXPECT_NE(NULL, strstr(err, "more than 65536 values in one condition"));
	TH_LOG("%s", err);
	rules_free(rs);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(reload_keeps_the_running_rules_on_error)
{
	char dir[] = "/tmp/iotsec-rules.XXXXXX", conf[256], rdir[256];
	char rfile[256], err[512];
	struct config cfg;
	struct daemon d = { 0 };
	struct ruleset *before;
	struct iotsec_event ev = ev_exec("/tmp/x", NULL);

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/iotsecd.yaml", dir);
	snprintf(rdir, sizeof(rdir), "%s/rules", dir);
	snprintf(rfile, sizeof(rfile), "%s/rules/a.yaml", dir);
	mkdir(rdir, 0755);
	write_file(conf, "rules:\n  rules:\n"
		   "    - { name: inconf, event: exec, match: { exe: /x } }\n");
	write_file(rfile, RULE("exec", "{ exe: /tmp/* }"));
	ASSERT_EQ(0, config_load(&cfg, conf, err, sizeof(err)))
		TH_LOG("%s", err);
	log_init(true);
	d.cfg = &cfg;
	d.config_path = conf;
	ASSERT_EQ(0, daemon_rules_load(&d, true));
	EXPECT_EQ(2, rules_count(d.rules.rs));
	EXPECT_EQ(1, m(d.rules.rs, &ev));
	before = d.rules.rs;

	/* a broken file: the reload fails, the rules running stay */
	write_file(rfile, RULE("exec", "{ exe: /tmp/*, uid: x }"));
	EXPECT_EQ(-EINVAL, daemon_rules_load(&d, false));
	EXPECT_EQ(before, d.rules.rs);
	EXPECT_EQ(1, m(d.rules.rs, &ev));
	EXPECT_EQ(-EINVAL, daemon_rules_compile(&cfg, conf, &before, err,
						sizeof(err)));
	EXPECT_EQ(0, strncmp(err, rfile, strlen(rfile)));
	EXPECT_STREQ(":4:32: expected a uid or a range, got 'x'",
		     err + strlen(rfile));

	/* fixed: the new rules replace them */
	write_file(rfile, RULE("exec", "{ exe: /var/tmp/* }"));
	EXPECT_EQ(0, daemon_rules_load(&d, false));
	EXPECT_EQ(0, m(d.rules.rs, &ev));
	rules_engine_fini(&d.rules);
	config_free(&cfg);
	unlink(rfile);
	unlink(conf);
	snprintf(rdir, sizeof(rdir), "%s/rules", dir);
	rmdir(rdir);
	rmdir(dir);
}

static void on_alert(void *ctx, const char *t, size_t len)
{
	struct alerts *s = ctx;
	char *copy = strndup(t, len);

	if (copy && s->n < 16)
		s->a[s->n++] = json_tokener_parse(copy);
	free(copy);
}

static const char *jstr(struct json_object *o, const char *path)
{
	char buf[128], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k && o;
	     k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			return NULL;
	}
	return o ? json_object_get_string(o) : NULL;
}

TEST(alerts_and_hit_counts)
{
	char err[512];
	struct ser ser;
	struct alerts s = { 0 };
	struct rules_engine e;
	struct iotsec_event ev = ev_exec("/tmp/x", NULL);

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "t");
	rules_engine_init(&e, &ser, on_alert, &s);
	e.aggregate_ms = 1000;
	rules_engine_set(&e, compile("rules:\n  - name: tmp\n"
				     "    severity: high\n"
				     "    description: from tmp\n"
				     "    event: exec\n"
				     "    match: { exe: /tmp/* }\n", err,
				     sizeof(err)), 0);
	ASSERT_NE(NULL, e.rs) TH_LOG("%s", err);
	ev.time_ns = 1000000000;
	EXPECT_EQ(1, rules_eval(&e, &ev, 10));
	ASSERT_EQ(1, s.n);
	EXPECT_STREQ("RuleAlert", jstr(s.a[0], "Name"));
	EXPECT_STREQ("Triggered", jstr(s.a[0], "Category"));
	EXPECT_STREQ("tmp", jstr(s.a[0], "Payload.0.RuleName"));
	EXPECT_STREQ("High", jstr(s.a[0], "Payload.0.Severity"));
	EXPECT_STREQ("from tmp", jstr(s.a[0], "Payload.0.Description"));
	EXPECT_STREQ("1", jstr(s.a[0], "Payload.0.HitCount"));
	EXPECT_STREQ("ProcessCreate",
		     jstr(s.a[0], "Payload.0.TriggeringEvent.Name"));
	EXPECT_STREQ("/tmp/x", jstr(s.a[0],
				    "Payload.0.TriggeringEvent.Payload."
				    "Executable"));
	EXPECT_STREQ("x -c id", jstr(s.a[0],
				     "Payload.0.TriggeringEvent.Payload."
				     "CommandLine"));
	/* within the interval: counted, held */
	ev.exe = hs("/tmp/y");
	for (int i = 0; i < 5; i++) {
		ev.time_ns = 2000000000ULL + i;
		rules_eval(&e, &ev, 20 + i);
	}
	EXPECT_EQ(1, s.n);
	EXPECT_EQ(990, rules_tick(&e, 20));	/* alert at 10, + 1000 */
	rules_tick(&e, 500);
	EXPECT_EQ(1, s.n);
	/* the interval ends: one alert for the five, the first attached */
	rules_tick(&e, 1010);
	ASSERT_EQ(2, s.n);
	EXPECT_STREQ("5", jstr(s.a[1], "Payload.0.HitCount"));
	EXPECT_STREQ("/tmp/y", jstr(s.a[1], "Payload.0.TriggeringEvent."
				    "Payload.Executable"));
	/* quiet for an interval: the next hit is an alert at once */
	rules_tick(&e, 2010);
	ev.time_ns = 9000000000ULL;
	rules_eval(&e, &ev, 2100);
	ASSERT_EQ(3, s.n);
	EXPECT_STREQ("1", jstr(s.a[2], "Payload.0.HitCount"));
	/* held hits go out at a flush (exit, reload) */
	rules_eval(&e, &ev, 2200);
	rules_eval(&e, &ev, 2300);
	rules_flush(&e, 2400);
	ASSERT_EQ(4, s.n);
	EXPECT_STREQ("2", jstr(s.a[3], "Payload.0.HitCount"));
	EXPECT_EQ(7, e.stats.suppressed);
	EXPECT_EQ(4, e.stats.alerts);
	rules_engine_fini(&e);
	for (size_t i = 0; i < s.n; i++)
		json_object_put(s.a[i]);
}

struct sent {
	enum prio prio;
	enum msg_kind kind;
	unsigned int n, events;
};

static void sent_out(void *ctx, enum prio prio, enum msg_kind kind,
		     const char *buf, size_t len, unsigned int n)
{
	struct sent *s = ctx;

	(void)buf;
	(void)len;
	s->prio = prio;
	s->kind = kind;
	s->n++;
	s->events += n;
}

/* the daemon sends alerts with queue_send_alerts(): at once, alert prio */
TEST(alerts_go_out_at_alert_priority)
{
	struct config cfg;
	struct queue q;
	struct ser ser;
	struct sent s = { 0 };
	struct iotsec_event ev = ev_exec("/bin/ls", NULL);
	char text[] = "{\"Name\":\"RuleAlert\"}", *t = text;
	size_t len = strlen(text);

	config_defaults(&cfg);
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, sent_out, &s, 0));
	queue_push(&q, &ev, 0);		/* high: waits for its interval */
	EXPECT_EQ(0, s.n);
	queue_send_alerts(&q, &t, &len, 1);
	EXPECT_EQ(1, s.n);
	EXPECT_EQ(PRIO_ALERT, s.prio);
	EXPECT_EQ(MSG_EXTENDED, s.kind);
	EXPECT_EQ(1, s.events);
	queue_fini(&q);
	config_free(&cfg);
}

/* ---- the default pack ---- */

static struct ruleset *pack(struct __test_metadata *_metadata)
{
	const char *top = getenv("IOTSEC_TOP");
	char path[4096], err[512] = "";
	struct ruleset *rs = NULL;

	snprintf(path, sizeof(path), "%s/config/rules", top ? top : ".");
	EXPECT_EQ(0, rules_load(&rs, path, NULL, err, sizeof(err)))
		TH_LOG("%s", err);
	return rs;
}

/* the names of the rules EV triggers, space-separated */
static const char *hits(const struct ruleset *rs,
			const struct iotsec_event *ev)
{
	static char buf[512];
	const char *n[8];
	unsigned int k = rules_match(rs, ev, n, 8);
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < k && i < 8; i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s%s",
				i ? " " : "", n[i]);
	return buf;
}

#define BOOTED (600ULL * 1000000000)

TEST(default_exec_rules)
{
	struct ruleset *rs = pack(_metadata);
	struct iotsec_event ev;

	ASSERT_NE(NULL, rs);
	EXPECT_EQ(13, rules_count(rs));
	ev = ev_exec("/tmp/.x/payload", "/bin/sh");
	EXPECT_STREQ("exec-from-temporary-dir", hits(rs, &ev));
	ev = ev_exec("/dev/shm/m", "/bin/sh");
	EXPECT_STREQ("exec-from-temporary-dir", hits(rs, &ev));
	ev = ev_exec("/var/tmp/m", "/bin/sh");
	EXPECT_STREQ("exec-from-temporary-dir", hits(rs, &ev));
	ev = ev_exec("/memfd:x (deleted)", "/bin/sh");
	EXPECT_STREQ("exec-of-deleted-file", hits(rs, &ev));
	ev = ev_exec("/usr/bin/ls", "/bin/sh");
	EXPECT_STREQ("", hits(rs, &ev));

	ev = ev_exec("/bin/sh", "/usr/sbin/nginx");
	EXPECT_STREQ("shell-from-network-daemon", hits(rs, &ev));
	ev = ev_exec("/usr/bin/bash", "/usr/sbin/mosquitto");
	EXPECT_STREQ("shell-from-network-daemon", hits(rs, &ev));
	ev = ev_exec("/bin/bash", "/usr/sbin/sshd");	/* a login */
	EXPECT_STREQ("", hits(rs, &ev));
	ev = ev_exec("/usr/bin/php", "/usr/sbin/nginx");
	EXPECT_STREQ("", hits(rs, &ev));
	rules_free(rs);
}

TEST(default_kernel_rules)
{
	struct ruleset *rs = pack(_metadata);
	struct iotsec_event ev;

	ASSERT_NE(NULL, rs);
	ev = ev_of(IOTSEC_EVENT_MODULE);
	ev.module_name = hs("rootkit");
	ev.proc_exe = hs("/sbin/insmod");
	ev.time_ns = BOOTED;
	EXPECT_STREQ("module-loaded-after-boot", hits(rs, &ev));
	ev.time_ns = 20ULL * 1000000000;	/* systemd-modules-load */
	EXPECT_STREQ("", hits(rs, &ev));
	ev.time_ns = BOOTED;
	ev.result = -1;				/* refused: not loaded */
	EXPECT_STREQ("", hits(rs, &ev));

	ev = ev_of(IOTSEC_EVENT_PTRACE);
	ev.proc_exe = hs("/tmp/inject");
	ev.ptrace_mode = IOTSEC_PTRACE_ATTACH;
	ev.target_tgid = UINT32_MAX - 1;	/* gone: uid not known */
	EXPECT_STREQ("ptrace-by-non-debugger", hits(rs, &ev));
	ev.proc_exe = hs("/usr/bin/gdb");
	EXPECT_STREQ("", hits(rs, &ev));
	ev.ptrace_mode = IOTSEC_PTRACE_TRACEME;
	ev.proc_exe = hs("/usr/bin/app");
	EXPECT_STREQ("", hits(rs, &ev));
	/* a debugger on a process of another user (our pid 1: root) */
	ev.ptrace_mode = IOTSEC_PTRACE_SEIZE;
	ev.proc_exe = hs("/usr/bin/gdb");
	ev.target_tgid = 1;
	ev.uid = 4321;
	EXPECT_STREQ("ptrace-of-other-user", hits(rs, &ev));
	ev.uid = 0;
	EXPECT_STREQ("", hits(rs, &ev));

	ev = ev_of(IOTSEC_EVENT_CRED);
	ev.old_euid = 1000;
	ev.new_euid = 0;
	ev.proc_exe = hs("/home/u/exploit");
	EXPECT_STREQ("euid-0-unexpected", hits(rs, &ev));
	ev.exe = hs("/usr/bin/sudo");		/* a setuid exec */
	ev.from_exec = true;
	EXPECT_STREQ("", hits(rs, &ev));
	ev.exe = (struct ev_str){ 0 };
	ev.from_exec = false;
	ev.proc_exe = hs("/usr/sbin/sshd");	/* takes root back */
	EXPECT_STREQ("", hits(rs, &ev));
	ev.proc_exe = hs("/home/u/exploit");
	ev.old_euid = 0;			/* was root already */
	EXPECT_STREQ("", hits(rs, &ev));
	rules_free(rs);
}

TEST(default_file_and_network_rules)
{
	struct ruleset *rs = pack(_metadata);
	struct iotsec_event ev;

	ASSERT_NE(NULL, rs);
	ev = ev_of(IOTSEC_EVENT_FILE);
	ev.file_op = IOTSEC_FILE_WRITE;
	ev.proc_exe = hs("/usr/bin/vi");
	ev.path = hs("/etc/shadow");
	EXPECT_STREQ("account-file-write", hits(rs, &ev));
	ev.path = hs("/root/.ssh/authorized_keys");
	EXPECT_STREQ("account-file-write", hits(rs, &ev));
	ev.path = hs("/etc/sudoers");
	EXPECT_STREQ("account-file-write", hits(rs, &ev));
	ev.proc_exe = hs("/usr/sbin/visudo");
	EXPECT_STREQ("", hits(rs, &ev));
	ev.path = hs("/etc/passwd");
	ev.proc_exe = hs("/usr/sbin/useradd");
	EXPECT_STREQ("", hits(rs, &ev));
	ev.path = hs("/etc/hosts");
	ev.proc_exe = hs("/usr/bin/vi");
	EXPECT_STREQ("", hits(rs, &ev));

	ev = ev_net(IOTSEC_EVENT_LISTEN, "0.0.0.0", 0, 4444);
	memset(ev.raddr, 0, 16);
	ev.time_ns = BOOTED;
	EXPECT_STREQ("new-listening-port", hits(rs, &ev));
	ev.lport = 22;
	EXPECT_STREQ("", hits(rs, &ev));
	ev.lport = 4444;
	ev.time_ns = 30ULL * 1000000000;	/* boot services */
	EXPECT_STREQ("", hits(rs, &ev));
	ev.time_ns = BOOTED;
	inet_pton(AF_INET, "127.0.0.1", ev.laddr);
	EXPECT_STREQ("", hits(rs, &ev));

	ev = ev_net(IOTSEC_EVENT_CONNECT, "203.0.113.9", 4444, 40000);
	ev.euid = 0;
	EXPECT_STREQ("root-daemon-unexpected-port", hits(rs, &ev));
	ev.rport = 443;
	EXPECT_STREQ("", hits(rs, &ev));
	ev.rport = 4444;
	ev.loginuid = 1000;			/* an admin's session */
	EXPECT_STREQ("", hits(rs, &ev));
	ev.loginuid = UINT32_MAX;
	ev.euid = 1000;				/* not root */
	EXPECT_STREQ("", hits(rs, &ev));
	ev = ev_net(IOTSEC_EVENT_CONNECT, "127.0.0.1", 4444, 40000);
	EXPECT_STREQ("", hits(rs, &ev));
	rules_free(rs);
}

/* A login record as daemon/detect.c makes it for the rules. */
static struct iotsec_event ev_login(const char *addr, bool failed,
				    uint64_t t)
{
	struct iotsec_event ev = ev_of(RULES_EVENT_LOGIN);

	ev.comm = (struct ev_str){ 0 };
	ev.user = hs("UNKNOWN");
	ev.proc_exe = hs("/usr/bin/login");
	ev.uid = ev.euid = UINT32_MAX;
	ev.result = failed ? -EACCES : 0;
	ev.time_ns = t;
	if (addr) {
		ev.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
		inet_pton(ev.family, addr, ev.raddr);
	}
	return ev;
}

TEST(default_failed_logins_and_memory_rules)
{
	struct iotsec_event ev;
	struct alerts s = { 0 };
	struct rules_engine e;
	struct ser ser;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "t");
	rules_engine_init(&e, &ser, on_alert, &s);
	e.aggregate_ms = 0;
	rules_engine_set(&e, pack(_metadata), 0);
	ASSERT_NE(NULL, e.rs);
	/* four failures from one address, successes between: no alert */
	for (int i = 0; i < 4; i++) {
		ev = ev_login("198.51.100.7", true, BOOTED + i * SEC);
		EXPECT_EQ(0, rules_eval(&e, &ev, 0));
		ev = ev_login("198.51.100.7", false, BOOTED + i * SEC + 1);
		EXPECT_EQ(0, rules_eval(&e, &ev, 0));
	}
	/* one failure each from five other addresses: no alert */
	for (int i = 0; i < 5; i++) {
		char a[32];

		snprintf(a, sizeof(a), "2001:db8::%d", i + 1);
		ev = ev_login(a, true, BOOTED + 5 * SEC + i);
		EXPECT_EQ(0, rules_eval(&e, &ev, 0));
	}
	EXPECT_EQ(0, s.n);
	/* the fifth from the first address, within the minute */
	ev = ev_login("198.51.100.7", true, BOOTED + 50 * SEC);
	EXPECT_EQ(1, rules_eval(&e, &ev, 0));
	ASSERT_EQ(1, s.n);
	EXPECT_STREQ("repeated-failed-logins",
		     jstr(s.a[0], "Payload.0.RuleName"));
	EXPECT_STREQ("Login", jstr(s.a[0], "Payload.0.TriggeringEvent.Name"));
	EXPECT_STREQ("198.51.100.7", jstr(s.a[0], "Payload.0.TriggeringEvent."
					  "Payload.RemoteAddress"));
	EXPECT_STREQ("Fail", jstr(s.a[0], "Payload.0.TriggeringEvent."
				  "Payload.Result"));
	EXPECT_STREQ("/usr/bin/login", jstr(s.a[0], "Payload.0."
					    "TriggeringEvent.Payload."
					    "Executable"));
	/* five failures spread over more than a minute: none */
	for (int i = 0; i < 5; i++) {
		ev = ev_login("198.51.100.8", true, BOOTED + i * 20 * SEC);
		EXPECT_EQ(0, rules_eval(&e, &ev, 0));
	}
	EXPECT_EQ(1, s.n);

	/* another process's memory */
	ev = ev_of(IOTSEC_EVENT_PTRACE);
	ev.proc_exe = hs("/usr/bin/python3");
	ev.ptrace_mode = IOTSEC_PTRACE_MEMORY;
	ev.target_tgid = 1;
	EXPECT_STREQ("process-memory-read", hits(e.rs, &ev));
	ev.result = -EPERM;			/* refused: reported too */
	EXPECT_STREQ("process-memory-read", hits(e.rs, &ev));
	ev.result = 0;
	ev.proc_exe = hs("/usr/bin/gdb");
	EXPECT_STREQ("", hits(e.rs, &ev));
	ev.ptrace_mode = IOTSEC_PTRACE_TRACEME;
	ev.proc_exe = hs("/usr/bin/python3");
	EXPECT_STREQ("", hits(e.rs, &ev));
	rules_engine_fini(&e);
	for (size_t i = 0; i < s.n; i++)
		json_object_put(s.a[i]);
}

/*
 * Alerts of repeated-failed-logins counted, those naming one address and
 * those of the overflow key (ctx: struct addr_count); and the alerts of
 * failed-logins-many-sources.
 */
struct addr_count {
	const char *addr;
	uint64_t all, named, overflow, many;
};

static void count_alert(void *ctx, const char *t, size_t len)
{
	struct addr_count *c = ctx;
	char *copy = strndup(t, len);

	if (!copy)
		abort();
	if (strstr(copy, "\"RuleName\":\"failed-logins-many-sources\"")) {
		c->many++;
	} else if (strstr(copy, "\"RuleName\":\"repeated-failed-logins\"")) {
		c->all++;
		if (strstr(copy, c->addr))
			c->named++;
		if (strstr(copy, "counted together"))
			c->overflow++;
	}
	free(copy);
}

/*
 * repeated-failed-logins against an attacker who fills the rule's 256
 * keys: (1) one failure of the attacker's address, then 256 failures from
 * fresh addresses, five times within the minute: every key is live, the
 * attacker's count must not be pushed out (it was, by the least recently
 * seen eviction: no alert at all), and the fresh addresses that find no
 * room are counted together and alert too; (2) 300 addresses, one failure
 * each, within the minute (rotation): the ones past 256 alert together;
 * (3) 100 addresses, 4 failures each (rotation within the table): the
 * per-address rule cannot see it, failed-logins-many-sources does.
 */
TEST(failed_logins_not_hidden_by_a_key_flood)
{
	struct addr_count c = { .addr = "198.51.100.66" };
	struct iotsec_event ev;
	struct rules_engine e;
	struct ser ser;
	uint64_t t = BOOTED;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "t");
	rules_engine_init(&e, &ser, count_alert, &c);
	e.aggregate_ms = 0;
	rules_engine_set(&e, pack(_metadata), 0);
	ASSERT_NE(NULL, e.rs);
	for (int round = 0; round < 5; round++) {
		ev = ev_login(c.addr, true, t += SEC / 100);
		rules_eval(&e, &ev, 0);
		for (int i = 0; i < 256; i++) {
			char a[64];

			snprintf(a, sizeof(a), "2001:db8:%x::%x", round + 1,
				 i + 1);
			ev = ev_login(a, true, t += SEC / 100);
			rules_eval(&e, &ev, 0);
		}
	}
	ASSERT_LT(t, BOOTED + 60 * SEC);
	EXPECT_EQ(1, c.named);
	EXPECT_LT(c.named, c.all);
	EXPECT_EQ(c.all - c.named, c.overflow);
	rules_engine_fini(&e);

	/* rotation: one failure each from 300 addresses in 30 s */
	c = (struct addr_count){ .addr = "198.51.100.66" };
	rules_engine_init(&e, &ser, count_alert, &c);
	e.aggregate_ms = 0;
	rules_engine_set(&e, pack(_metadata), 0);
	ASSERT_NE(NULL, e.rs);
	for (int i = 0; i < 300; i++) {
		char a[64];

		snprintf(a, sizeof(a), "203.0.%d.%d", 100 + i / 200, i % 200);
		ev = ev_login(a, true, BOOTED + i * (SEC / 10));
		rules_eval(&e, &ev, 0);
	}
	/* 44 past the 256 keys: 8 alerts of 5 */
	EXPECT_EQ(8, c.all);
	EXPECT_EQ(8, c.overflow);
	rules_engine_fini(&e);

	/*
	 * rotation within the table: 100 addresses, 4 failures each, in a
	 * minute: no address reaches 5, all of them are counted together
	 * by failed-logins-many-sources (20 within a minute, one service)
	 */
	c = (struct addr_count){ .addr = "198.51.100.66" };
	rules_engine_init(&e, &ser, count_alert, &c);
	e.aggregate_ms = 0;
	rules_engine_set(&e, pack(_metadata), 0);
	ASSERT_NE(NULL, e.rs);
	for (int i = 0; i < 400; i++) {
		char a[64];

		snprintf(a, sizeof(a), "203.0.113.%d", i % 100);
		ev = ev_login(a, true, BOOTED + i * (SEC / 10));
		rules_eval(&e, &ev, 0);
	}
	EXPECT_EQ(0, c.all);
	EXPECT_EQ(20, c.many);
	/* a few failures from a few places (mistyped passwords): none */
	c.many = 0;
	for (int i = 0; i < 19; i++) {
		char a[64];

		snprintf(a, sizeof(a), "192.0.2.%d", i % 7);
		ev = ev_login(a, true, BOOTED + 100 * SEC + i * SEC);
		rules_eval(&e, &ev, 0);
	}
	EXPECT_EQ(0, c.many);
	rules_engine_fini(&e);
}

TEST_HARNESS_MAIN
