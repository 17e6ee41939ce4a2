// SPDX-License-Identifier: MIT
/*
 * libFuzzer: IoT Hub connection strings (from the configuration file) and
 * what is built from them: SAS token, user name, client id, topic. Any
 * input either parses into a usable identity or fails with a reason;
 * nothing leaks or crashes.
 *   make fuzz-mqtt && build/fuzz/connstr -max_len=1024 corpus/
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "transport/mqtt.h"
#include "transport/mqtt_priv.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct mqtt_config c = { 0 };
	struct mqtt_message msg = { .message_id = "m", .security = true };
	char err[512] = "", *cs, *s;
	int ret;

	cs = malloc(len + 1);
	if (!cs)
		return 0;
	memcpy(cs, data, len);
	cs[len] = '\0';
	ret = mqtt_config_from_connection_string(&c, cs, err, sizeof(err));
	if (ret && (ret != -EINVAL || !err[0]))
		abort();	/* every refusal says why */
	if (!ret) {
		if (!c.host || !c.device_id || c.mode != MQTT_MODE_IOTHUB)
			abort();
		if (c.auth == MQTT_AUTH_SAS) {
			char *res = mqtt_hub_resource(&c);

			s = sas_token(res, c.shared_key, c.key_name, 1800000000);
			if (!s)
				abort();	/* the key was checked */
			free(s);
			free(res);
		}
		free(mqtt_hub_username(&c));
		free(mqtt_hub_client_id(&c));
		free(mqtt_hub_topic(&c, &msg));
	}
	/* The raw bytes as a key and a resource: refused or signed. */
	free(sas_token(cs, cs, cs, 1));
	free(mqtt_url_encode(cs, true));
	mqtt_config_free(&c);
	free(cs);
	return 0;
}
