// SPDX-License-Identifier: MIT
/*
 * Hostile bytes in command lines, paths and names still give valid JSON:
 * strict parse, UTF-8-valid text, and valid UTF-8 input kept as it was.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <json-c/json.h>
#include "pipeline/aggregate.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

/* A strict UTF-8 check of a whole text (RFC 3629, no surrogates). */
static int utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
		else return 0;
		if (i + n > len)
			return 0;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n;
	}
	return 1;
}

static struct json_object *strict_parse(const char *t, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, t, len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static const struct { const char *name; const char *b; size_t len; } hostile[] = {
#define H(n, s) { n, s, sizeof(s) - 1 }
	H("quotes and backslashes", "a\"b\\c\\\"d"),
	H("control characters", "\x01\x02\t\n\r\x1b[31mred\x7f"),
	H("lone continuation", "abc\x80\x81xyz"),
	H("truncated sequence", "abc\xe2\x82"),
	H("overlong slash", "\xc0\xaf"),
	H("overlong NUL", "\xc0\x80"),
	H("surrogate half", "\xed\xa0\x80"),
	H("above U+10FFFF", "\xf4\x90\x80\x80"),
	H("0xff and 0xfe", "\xff\xfe"),
	H("embedded NUL", "a\0b"),
	H("json injection", "\",\"Executable\":\"/evil\",\"x\":\""),
	H("script and slash", "</script><script>alert(1)</script>"),
	H("U+2028 and U+2029", "a\xe2\x80\xa8" "b\xe2\x80\xa9"),
	H("valid multibyte", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
#undef H
};

TEST(json_bytes_always_valid)
{
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct json_object *j = json_bytes(hostile[i].b, hostile[i].len);
		const char *t;
		size_t n;
		struct json_object *back;

		ASSERT_NE(NULL, j);
		t = json_object_to_json_string_length(j, JSON_C_TO_STRING_PLAIN,
						      &n);
		TH_LOG("%s -> %s", hostile[i].name, t);
		EXPECT_TRUE(utf8_valid((const unsigned char *)t, n));
		back = strict_parse(t, n);
		EXPECT_NE(NULL, back);
		json_object_put(back);
		json_object_put(j);
	}
}

TEST(valid_utf8_kept_as_is)
{
	const char *s = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \"q\"";
	struct json_object *j = json_bytes(s, strlen(s));

	EXPECT_STREQ(s, json_object_get_string(j));
	json_object_put(j);
}

TEST(invalid_bytes_escaped_visibly)
{
	struct json_object *j = json_bytes("a\xff" "b\x80", 4);

	EXPECT_STREQ("a\\xffb\\x80", json_object_get_string(j));
	json_object_put(j);
}

TEST(cmdline_joins_argv)
{
	struct json_object *j = json_cmdline("ls\0-l\0/tmp\0", 11);

	EXPECT_STREQ("ls -l /tmp", json_object_get_string(j));
	json_object_put(j);
}

/* Every hostile string in every string field of every event type. */
TEST(whole_messages_with_hostile_fields)
{
	struct ser ser;
	struct msgbuf m = { 0 };

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX; t++) {
		for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
			struct ev_str h = { hostile[i].b, hostile[i].len };
			struct iotsec_event ev = { .type = t, .tgid = 1 };
			struct record *r;
			struct json_object *o;
			char *text;
			size_t len;

			ev.comm = ev.exe = ev.argv = ev.cwd = h;
			ev.module_name = ev.path = ev.new_path = h;
			ev.user = ev.parent_exe = ev.container = h;
			ev.proc_exe = ev.proc_cmdline = h;
			ev.family = 2;
			r = record_new(&ev);
			ASSERT_NE(NULL, r);
			ASSERT_EQ(0, ser_record(&ser, r, &text, &len));
			ASSERT_EQ(0, msg_begin(&m, &ser, ser_kind(t), 65536));
			ASSERT_EQ(0, msg_add(&m, text, len));
			msg_end(&m);
			EXPECT_TRUE(utf8_valid((unsigned char *)m.b.p, m.b.len));
			o = strict_parse(msg_data(&m), m.b.len);
			EXPECT_NE(NULL, o) TH_LOG("type %u, %s: %s", t,
						  hostile[i].name, msg_data(&m));
			json_object_put(o);
			free(text);
			record_free(r);
		}
	}
	msg_free(&m);
}

/* The payload of R's event, parsed. */
static struct json_object *payload_of(struct ser *s, const struct iotsec_event *ev)
{
	struct record *r = record_new(ev);
	struct json_object *o, *p = NULL;
	char *text;
	size_t len;

	if (!r || ser_record(s, r, &text, &len))
		return NULL;
	o = strict_parse(text, len);
	if (o && json_object_object_get_ex(o, "Payload", &p))
		p = json_object_get(json_object_array_get_idx(p, 0));
	json_object_put(o);
	free(text);
	record_free(r);
	return p;
}

static const char *field(struct json_object *p, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(p, k, &v) ?
	       json_object_get_string(v) : NULL;
}

/* TamperAttempt: the kind by name, and what each kind says. */
TEST(tamper_payload_names_the_kind_and_what_changed)
{
	struct iotsec_event ev = { .type = IOTSEC_EVENT_TAMPER, .tgid = 42 };
	struct json_object *p;
	struct ser ser;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	EXPECT_STREQ("TamperAttempt", ser_event_name(IOTSEC_EVENT_TAMPER));
	EXPECT_EQ(MSG_EXTENDED, ser_kind(IOTSEC_EVENT_TAMPER));

	ev.tamper_kind = IOTSEC_TAMPER_CONFIG;
	ev.old_mask = IOTSEC_EVENT_MASK_ALL;
	ev.new_mask = IOTSEC_EVENT_MASK_ALL &
		      ~IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC) &
		      ~IOTSEC_EVENT_BIT(IOTSEC_EVENT_TAMPER);
	ev.unwatched = 2;
	ev.result = -1;
	p = payload_of(&ser, &ev);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("CoverageReduced", field(p, "Kind"));
	EXPECT_STREQ("exec tamper", field(p, "EventsTurnedOff"));
	EXPECT_STREQ("2", field(p, "PathsUnwatched"));
	EXPECT_STREQ("0", field(p, "ProcessesExcluded"));
	EXPECT_STREQ("-1", field(p, "Result"));
	EXPECT_STREQ("42", field(p, "ProcessId"));
	json_object_put(p);

	memset(&ev, 0, sizeof(ev));
	ev.type = IOTSEC_EVENT_TAMPER;
	ev.tamper_kind = IOTSEC_TAMPER_SIGNAL;
	ev.target_tgid = 7;
	ev.signal = 9;
	p = payload_of(&ser, &ev);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("AgentSignal", field(p, "Kind"));
	EXPECT_STREQ("7", field(p, "TargetProcessId"));
	EXPECT_STREQ("9", field(p, "Signal"));
	EXPECT_EQ(NULL, field(p, "Result"));
	json_object_put(p);

	ev.tamper_kind = IOTSEC_TAMPER_UNLOAD;
	ev.module_name = (struct ev_str){ "iotsec", 6 };
	p = payload_of(&ser, &ev);
	ASSERT_NE(NULL, p);
	EXPECT_STREQ("ModuleUnload", field(p, "Kind"));
	EXPECT_STREQ("iotsec", field(p, "ModuleName"));
	EXPECT_EQ(NULL, field(p, "TargetProcessId"));
	json_object_put(p);
}

/* Found by the replay fuzzer: times and results from a hostile stream. */
TEST(extreme_times_and_results)
{
	static const struct { uint64_t t; int64_t off; const char *utc; } c[] = {
		{ UINT64_MAX, INT64_MAX, "2262-04-11T23:47:16.854Z" },
		{ 8247607144478339344ULL, 1795664197684735318LL,
		  "2262-04-11T23:47:16.854Z" },
		{ UINT64_MAX, -5, "2262-04-11T23:47:16.854Z" },
		{ 0, INT64_MIN, "1970-01-01T00:00:00.000Z" },
		{ 1500000000, 1700000000LL * 1000000000LL,
		  "2023-11-14T22:13:21.500Z" },
	};
	struct ser ser;

	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char utc[32], local[40];

		ser.boot_to_real_ns = c[i].off;
		ser.cache_utc_len = 0;
		ser_time(&ser, c[i].t, utc, local);
		EXPECT_STREQ(c[i].utc, utc);
		EXPECT_GE(strlen(local), 29);
	}
	for (int32_t res = INT32_MIN; ; res = res / 2) {
		struct iotsec_event ev = { .type = IOTSEC_EVENT_CONNECT,
					   .family = 2, .result = res };
		struct record *r = record_new(&ev);
		char *text;
		size_t len;
		struct json_object *o;

		ASSERT_EQ(0, ser_record(&ser, r, &text, &len));
		o = strict_parse(text, len);
		EXPECT_NE(NULL, o);
		json_object_put(o);
		free(text);
		record_free(r);
		if (!res)
			break;
	}
}

TEST_HARNESS_MAIN
