// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the YAML configuration parser. Any input either parses or
 * fails with a "name:line:column: " error; nothing leaks or crashes.
 *   make fuzz && build/fuzz/config -max_len=4096 corpus/
 */
#include <stdlib.h>
#include <string.h>
#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct config c;
	char err[512];

	if (config_parse(&c, "fuzz.yaml", (const char *)data, len, err,
			 sizeof(err)) && strncmp(err, "fuzz.yaml:", 10))
		abort();	/* every error names the file */
	config_free(&c);
	return 0;
}
