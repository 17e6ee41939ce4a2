// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the attributes of one IOTSEC_CMD_EVENTS message, and of the
 * GET_STATS and GET_CONFIG replies, straight into the decoders.
 *   make fuzz && build/fuzz/netlink -max_len=8192 corpus/
 */
#include <stdlib.h>
#include "intake/decode.h"

static void on_event(void *c, struct iotsec_event *ev)
{
	/* touch every string the decoder handed out */
	volatile char sink = 0;
	const struct ev_str *s[] = { &ev->comm, &ev->exe, &ev->argv, &ev->cwd,
				     &ev->module_name, &ev->path,
				     &ev->new_path };

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		for (size_t j = 0; j < s[i]->len; j++)
			sink ^= s[i]->s[j];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct iotsec_decoder d;
	struct iotsec_kstats st;
	struct iotsec_kconfig kc;

	iotsec_decoder_init(&d, on_event, NULL, NULL);
	iotsec_decode_batch(&d, data, len);
	iotsec_decoder_fini(&d);
	iotsec_decode_stats(data, len, &st);
	if (!iotsec_decode_kconfig(data, len, &kc))
		iotsec_kconfig_free(&kc);
	return 0;
}
