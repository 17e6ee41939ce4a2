// SPDX-License-Identifier: MIT
/*
 * The one UTF-8 check (forwarder/common/utf8.c). What the SDK server
 * cleans must pass the serializer unchanged: a sender whose executable
 * path holds an overlong form, a surrogate or a code point above U+10FFFF
 * must not be able to smuggle it into a batched message that a strict
 * consumer then rejects whole.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <json-c/json.h>
#include "common/utf8.h"
#include "pipeline/serialize.h"

/* Sequences a strict decoder refuses, each after a valid prefix. */
static const char *const bad[] = {
	"a\xc0\xaf",		/* overlong '/' (2 bytes) */
	"a\xe0\x80\xaf",	/* overlong '/' (3 bytes) */
	"a\xf0\x80\x80\xaf",	/* overlong '/' (4 bytes) */
	"a\xed\xa0\x80",	/* U+D800, a surrogate */
	"a\xed\xbf\xbf",	/* U+DFFF */
	"a\xf4\x90\x80\x80",	/* U+110000 */
	"a\xf5\x80\x80\x80",	/* lead byte above F4 */
	"a\xc3",		/* truncated */
	"a\x80",		/* lone continuation */
};

TEST(strict_sequences)
{
	EXPECT_EQ(1, utf8_seq((const unsigned char *)"a", 1));
	EXPECT_EQ(2, utf8_seq((const unsigned char *)"\xc3\xa9", 2));
	EXPECT_EQ(3, utf8_seq((const unsigned char *)"\xe2\x82\xac", 3));
	EXPECT_EQ(4, utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4));
	EXPECT_EQ(4, utf8_seq((const unsigned char *)"\xf4\x8f\xbf\xbf", 4));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_FALSE(utf8_valid(bad[i], strlen(bad[i]))) {
			TH_LOG("accepted case %zu", i);
		}
	}
	EXPECT_FALSE(utf8_valid("a\0b", 3));
	EXPECT_TRUE(utf8_valid("/usr/bin/caf\xc3\xa9", 14));
}

TEST(clean_replaces_what_strict_refuses)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[16];
		size_t n = strlen(bad[i]);

		memcpy(s, bad[i], n + 1);
		utf8_clean(s);
		ASSERT_EQ(n, strlen(s));	/* byte for byte */
		EXPECT_EQ('a', s[0]);
		for (size_t k = 1; k < n; k++) {
			EXPECT_EQ('?', s[k]) {
				TH_LOG("case %zu byte %zu kept", i, k);
			}
		}
		EXPECT_TRUE(utf8_valid(s, n));
	}
}

TEST(clean_keeps_valid_text_and_drops_controls)
{
	char s[] = "/opt/caf\xc3\xa9/\xf0\x9f\x98\x80\x01\x7f" "x";

	utf8_clean(s);
	EXPECT_STREQ("/opt/caf\xc3\xa9/\xf0\x9f\x98\x80??x", s);
}

/*
 * The serializer writes every byte a strict check refuses as "\xNN"; a
 * cleaned string comes out of it exactly as it went in.
 */
TEST(cleaned_string_passes_serializer_unchanged)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[16];
		struct json_object *j;

		snprintf(s, sizeof(s), "%s", bad[i]);
		j = json_bytes(s, strlen(s));
		ASSERT_NE(NULL, j);
		EXPECT_NE(0, strcmp(s, json_object_get_string(j)));
		json_object_put(j);

		utf8_clean(s);
		j = json_bytes(s, strlen(s));
		ASSERT_NE(NULL, j);
		EXPECT_STREQ(s, json_object_get_string(j));
		json_object_put(j);
	}
}

TEST_HARNESS_MAIN
