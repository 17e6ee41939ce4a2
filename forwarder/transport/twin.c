// SPDX-License-Identifier: MIT
/*
 * The device twin over the MQTT connection (IoT Hub twin topics, or the
 * broker-mode topics). Interface only for now: the twin is off.
 */
#include <errno.h>
#include <stddef.h>

#include "transport/mqtt.h"

void mqtt_set_twin(struct mqtt *m, mqtt_twin_fn fn, void *ctx)
{
	(void)m;
	(void)fn;
	(void)ctx;
}

int mqtt_twin_report(struct mqtt *m, const char *json)
{
	if (!m || !json)
		return -EINVAL;
	return 0;
}
