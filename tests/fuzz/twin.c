// SPDX-License-Identifier: MIT
/*
 * libFuzzer: what a hub or a broker can send the twin (transport/twin.c).
 * The input is a run of records, each a selector byte, a 16-bit length
 * and that many bytes: a desired PATCH (IoT Hub), a response topic (IoT
 * Hub), a broker-mode desired document, or a turn of the loop. Whatever
 * comes, a document handed over parses as one, and nothing leaks or
 * crashes, also when the caller turns the twin off from its callback;
 * the parsers see the raw bytes too.
 *   make fuzz && build/fuzz/twin -max_len=4096
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "transport/mqtt.h"
#include "transport/mqtt_priv.h"

static void handed(void *ctx, bool full, const char *json, size_t len)
{
	char why[128];
	int64_t v;
	bool hv;

	if (json[len] || mqtt_twin_parse_doc(json, len, full, &v, &hv, why,
					     sizeof(why)))
		abort();
	/* the caller may turn the twin off from here */
	if (len % 7 == 0)
		twin__set(ctx, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct mqtt_config hc = { .mode = MQTT_MODE_IOTHUB, .device_id = "d" };
	struct mqtt_config bc = { .mode = MQTT_MODE_BROKER, .device_id = "d" };
	struct mqtt_twin *hub = twin__new(&hc), *brk = twin__new(&bc);
	char why[128], rid[64], *topic, *desired = mqtt_broker_twin_topic(&bc, true);
	int64_t v;
	bool hv;
	int st;

	if (!hub || !brk || !desired)
		abort();
	twin__set(hub, handed, hub);
	twin__set(brk, handed, brk);
	mqtt_twin_parse_doc((const char *)data, len, len & 1, &v, &hv, why,
			    sizeof(why));
	while (len >= 3) {
		unsigned int sel = data[0], n = (unsigned int)data[1] << 8 | data[2];

		data += 3;
		len -= 3;
		if (n > len)
			n = (unsigned int)len;
		switch (sel % 4) {
		case 0:
			twin__on_message(hub, "$iothub/twin/PATCH/properties/desired/?$version=1",
					 data, (int)n);
			break;
		case 1:
			topic = strndup((const char *)data, n);
			if (!topic)
				abort();
			mqtt_twin_parse_res(topic, &st, rid, sizeof(rid));
			twin__on_message(hub, topic, "{}", 2);
			free(topic);
			break;
		case 2:
			twin__on_message(brk, desired, data, (int)n);
			break;
		default:
			twin__run(hub, NULL, false);
			twin__run(brk, NULL, false);
		}
		data += n;
		len -= n;
	}
	twin__run(hub, NULL, false);
	twin__run(brk, NULL, false);
	twin__free(hub);
	twin__free(brk);
	free(desired);
	return 0;
}
