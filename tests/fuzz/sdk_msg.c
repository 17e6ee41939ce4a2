// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the SDK request parser and validator, and stamping of
 * what it accepts (forwarder/sources/sdk_msg.c). Anything an SDK client can send
 * goes through exactly these two calls in the daemon.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>

#include "sources/sdk_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sdk_peer peer = { .pid = 1, .uid = 2, .gid = 3, .exe = "/x" };
	struct json_object *ev;
	enum sdk_kind kind;
	char reason[256];

	if (sdk_msg_parse((const char *)data, size, &ev, &kind, reason,
			  sizeof(reason)) == 0) {
		if (sdk_msg_stamp(ev, &peer))
			__builtin_trap();
		/* Serialising must not fail on anything we accepted. */
		if (!json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN))
			__builtin_trap();
		json_object_put(ev);
	} else if (!reason[0] || !memchr(reason, '\0', sizeof(reason))) {
		__builtin_trap();	/* every rejection has a reason */
	}
	return 0;
}
