// SPDX-License-Identifier: MIT
/*
 * libFuzzer: a baseline model file (pipeline/baseline.c) through its
 * parser (a small bound, so that "full" is reached); what it takes is
 * printed as iotsecctl prints it, and never holds more than the bound.
 *   make fuzz && build/fuzz/baseline_file -max_len=65536 corpus/
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pipeline/baseline.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct baseline b;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	baseline_init(&b, NULL, NULL, NULL);
	b.max_entries = 64;
	if (!baseline_parse(&b, "fuzz", text, size)) {
		size_t n = b.model.n;
		FILE *f = tmpfile();

		/* the tuples print, whatever their bytes */
		if (f) {
			baseline_print(&b, f);
			fclose(f);
		}
		if (n > b.max_entries)
			abort();
	}
	baseline_fini(&b);
	free(text);
	return 0;
}
