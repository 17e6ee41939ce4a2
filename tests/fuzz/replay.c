// SPDX-License-Identifier: MIT
/*
 * libFuzzer: a replay file through the incremental reader (fed in chunks
 * whose sizes come from the input), the netlink decoder, aggregation and
 * the serializer; every message produced must be within its size limit.
 *   make fuzz && build/fuzz/replay -max_len=65536 corpus/
 */
#include <stdlib.h>
#include <string.h>
#include "intake/decode.h"
#include "pipeline/queue.h"
#include "intake/replay.h"

struct ctx {
	struct iotsec_decoder dec;
	struct queue q;
};

static void out(void *c, enum prio prio, enum msg_kind kind,
		const char *buf, size_t len, unsigned int n)
{
	if (len > 4096 || strlen(buf) != len)
		abort();
}

static void on_event(void *c, struct iotsec_event *ev)
{
	struct ctx *x = c;

	queue_push(&x->q, ev, 0);
}

static int on_batch(void *c, const void *attrs, size_t len)
{
	struct ctx *x = c;

	iotsec_decode_batch(&x->dec, attrs, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static struct config cfg;
	static struct ser ser;
	static int init;
	struct replay_reader r;
	struct ctx x;
	size_t off = 0, step;

	if (!init) {
		config_defaults(&cfg);
		cfg.max_message_size = 4096;
		for (int t = 1; t <= IOTSEC_EVENT_MAX; t++)
			cfg.types[t].prio = PRIO_HIGH;
		ser_init(&ser, "9c647395-b913-4997-a732-a7fe7303b649", "f");
		init = 1;
	}
	if (len < 1)
		return 0;
	step = 1 + data[0] % 64;	/* chunking from the first byte */
	data++;
	len--;
	iotsec_decoder_init(&x.dec, on_event, NULL, &x);
	queue_init(&x.q, &cfg, &ser, out, NULL, 0);
	replay_init(&r, on_batch, &x);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		if (replay_feed(&r, data + off, n))
			break;
		off += n;
	}
	replay_finish(&r);
	queue_flush_all(&x.q, 0);
	replay_free(&r);
	queue_fini(&x.q);
	iotsec_decoder_fini(&x.dec);
	return 0;
}
