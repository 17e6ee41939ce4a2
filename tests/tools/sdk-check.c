// SPDX-License-Identifier: MIT
/*
 * sdk-check FILE...: run each file, as one SDK request, through the
 * daemon's parser and validator (sdk_msg_parse). Prints "accepted FILE"
 * or "rejected FILE: reason"; exits 1 when any is rejected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>

#include "sources/sdk_msg.h"

int main(int argc, char **argv)
{
	static char buf[128 * 1024];
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		struct json_object *ev;
		enum sdk_kind kind;
		char reason[256];
		FILE *f = fopen(argv[i], "r");
		size_t n;

		if (!f) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (sdk_msg_parse(buf, n, &ev, &kind, reason, sizeof(reason))) {
			printf("rejected %s: %s\n", argv[i], reason);
			bad = 1;
			continue;
		}
		printf("accepted %s\n", argv[i]);
		json_object_put(ev);
	}
	return bad;
}
