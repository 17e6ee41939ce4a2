// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: wtmp/btmp records (forwarder/sources/login.c). Any program
 * that can write those files, or a corrupted file, decides their bytes;
 * every record must give a valid event or none, never a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <utmpx.h>
#include <json-c/json.h>

#include "common/utf8.h"
#include "sources/login.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *ev;
	struct utmpx u;
	const char *s;

	if (size < sizeof(u) + 1)
		return 0;
	memcpy(&u, data + 1, sizeof(u));
	ev = login_event(&u, data[0] & 1, (data[0] & 2) ? "someone" : NULL);
	if (!ev)
		return 0;
	s = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN);
	/* Only printable UTF-8 goes out: the strings come from raw bytes. */
	if (s && !utf8_valid(s, strlen(s)))
		__builtin_trap();
	for (; s && *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			__builtin_trap();
	json_object_put(ev);
	return 0;
}
