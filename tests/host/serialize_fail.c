// SPDX-License-Identifier: MIT
/*
 * An event that cannot be turned into text (json-c out of memory) is lost:
 * it is counted (UnserializedEvents, and dropped in its Azure queue) so the
 * statistics event says so, not silently skipped.
 *
 * json_object_to_json_string_length() is interposed here: this program's
 * definition wins over libjson-c's, and fails while fail_text is set.
 */
/* the harness compares literals with unsigned counters */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <dlfcn.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "pipeline/queue.h"
#include "pipeline/serialize.h"
#include "host/helpers.h"

static bool fail_text;

const char *json_object_to_json_string_length(struct json_object *o,
					      int flags, size_t *len)
{
	static const char *(*real)(struct json_object *, int, size_t *);

	if (fail_text)
		return NULL;
	if (!real)
		real = (const char *(*)(struct json_object *, int, size_t *))
			dlsym(RTLD_NEXT, "json_object_to_json_string_length");
	return real ? real(o, flags, len) : NULL;
}

static unsigned int sent;

static void out(void *ctx, enum prio prio, enum msg_kind kind,
		const char *buf, size_t len, unsigned int n)
{
	sent += n;
}

TEST(unserializable_events_are_counted)
{
	struct config cfg;
	struct ser ser;
	struct queue q;
	struct iotsec_event ev;
	char b[64];

	config_defaults(&cfg);
	cfg.types[IOTSEC_EVENT_EXEC].aggregate = false;
	ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "1.0");
	ASSERT_EQ(0, queue_init(&q, &cfg, &ser, out, NULL, 0));
	for (int i = 0; i < 3; i++) {
		ev = hexec("/bin/ls", hargv(b, 64, "ls"), 0, 100 + i,
			   1000000000);
		queue_push(&q, &ev, 0);
	}
	fail_text = true;
	queue_flush(&q, PRIO_HIGH, 0);
	fail_text = false;
	EXPECT_EQ(0, sent);
	EXPECT_EQ(3, q.stats.collected[0]);
	EXPECT_EQ(3, q.stats.unserialized);
	EXPECT_EQ(3, q.stats.dropped[0]);

	/* the next ones go out as usual */
	ev = hexec("/bin/ls", hargv(b, 64, "ls"), 0, 200, 1000000000);
	queue_push(&q, &ev, 0);
	queue_flush(&q, PRIO_HIGH, 0);
	EXPECT_EQ(1, sent);
	EXPECT_EQ(3, q.stats.unserialized);
	queue_fini(&q);
}

TEST_HARNESS_MAIN
