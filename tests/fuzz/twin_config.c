// SPDX-License-Identifier: MIT
/*
 * libFuzzer: what a hub can put in the desired properties, laid over the
 * configuration (daemon/twin_config.c): any document is applied or
 * refused with every refusal named, never a crash or a leak; any string
 * is an ISO-8601 duration or not, and a duration read back from its own
 * text is the same.
 *   make fuzz && build/fuzz/twin_config -max_len=4096 corpus/
 */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/twin.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static struct json_object *base;
	struct json_object *doc, *picked, *merged, *eff;
	struct json_tokener *tok;
	struct twin_errors e;
	struct config c;
	char *s, err[512], text[64];
	uint64_t ms, again;

	s = strndup((const char *)data, len);
	if (s && !parse_iso8601_duration(s, &ms)) {
		twin_format_duration(ms, text, sizeof(text));
		if (parse_iso8601_duration(text, &again) || again != ms)
			abort();
	}
	free(s);
	if (!base)
		base = json_tokener_parse("{\"iotsec\":{\"events\":{\"exec\":"
					  "{\"priority\":\"off\"}}}}");
	tok = json_tokener_new();
	if (!tok)
		return 0;
	doc = json_tokener_parse_ex(tok, (const char *)data, len);
	json_tokener_free(tok);
	if (!doc)
		return 0;
	twin_version(doc);
	picked = twin_pick(doc);
	merged = twin_merge(base, picked);
	if (config_parse(&c, "fuzz.yaml", "twin:\n  lock: [kernel]\n", 22,
			 err, sizeof(err)))
		abort();
	if (twin_overlay(&c, merged, NULL, &e)) {
		if (!e.n || e.n > e.total)
			abort();
		for (unsigned int i = 0; i < e.n; i++)
			if (!e.e[i].key[0] || !e.e[i].reason[0] || !e.e[i].type)
				abort();
	} else {
		eff = twin_effective(&c);
		json_object_put(eff);
		eff = twin_azure_effective(&c);
		json_object_put(eff);
	}
	config_free(&c);
	json_object_put(merged);
	json_object_put(picked);
	json_object_put(doc);
	return 0;
}
