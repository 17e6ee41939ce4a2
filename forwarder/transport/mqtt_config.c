// SPDX-License-Identifier: MIT
/*
 * The MQTT settings: one table of fields that copying, comparing and
 * freeing a struct mqtt_config walk, so a new field is added here once
 * and not in three hand-written lists that drift apart; and the check
 * that fills in defaults and refuses what cannot work.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "transport/mqtt_priv.h"

#define MQTT_DEFAULT_KEEPALIVE	180	/* what Azure's SDKs use */

#define STR(f, secret)	{ offsetof(struct mqtt_config, f), secret }
#define VAL(f)		{ offsetof(struct mqtt_config, f), \
			  sizeof(((struct mqtt_config *)0)->f) }

/* Strings are owned by the struct; SECRET ones are wiped when freed. */
static const struct {
	size_t off;
	bool secret;
} str_fields[] = {
	STR(host, false),
	STR(hub_host, false),
	STR(ca_file, false),
	STR(cert_file, false),
	STR(key_file, false),
	STR(client_id, false),
	STR(username, false),
	STR(password, true),
	STR(topic, false),
	STR(device_id, false),
	STR(module_id, false),
	STR(shared_key, true),
	STR(key_name, false),
	STR(twin_desired_topic, false),
	STR(twin_reported_topic, false),
};

static const struct {
	size_t off, size;
} val_fields[] = {
	VAL(mode),
	VAL(auth),
	VAL(port),
	VAL(tls),
	VAL(sas_ttl),
	VAL(keepalive),
	VAL(twin_report_interval),
	VAL(twin_timeout),
};

static char **str_at(const struct mqtt_config *c, size_t i)
{
	return (char **)((char *)c + str_fields[i].off);
}

static const void *val_at(const struct mqtt_config *c, size_t i)
{
	return (const char *)c + val_fields[i].off;
}

int mqtt_config_copy(struct mqtt_config *d, const struct mqtt_config *s)
{
	int ret = 0;
	size_t i;

	*d = *s;
	for (i = 0; i < ARRAY_SIZE(str_fields); i++) {
		const char *src = *str_at(s, i);
		char **dst = str_at(d, i);

		*dst = src ? strdup(src) : NULL;
		if (src && !*dst)
			ret = -ENOMEM;
	}
	return ret;
}

bool mqtt_config_equal(const struct mqtt_config *a,
		       const struct mqtt_config *b)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(val_fields); i++)
		if (memcmp(val_at(a, i), val_at(b, i), val_fields[i].size))
			return false;
	for (i = 0; i < ARRAY_SIZE(str_fields); i++)
		if (!str_same(*str_at(a, i), *str_at(b, i)))
			return false;
	return true;
}

void mqtt_config_free(struct mqtt_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < ARRAY_SIZE(str_fields); i++) {
		char *s = *str_at(cfg, i);

		if (s && str_fields[i].secret)
			OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
	memset(cfg, 0, sizeof(*cfg));
}

/*
 * Broker mode's twin topics: only {device_id} means something there, and
 * a device that received its own reported document as desired would
 * feed itself.
 */
static int twin_check(const struct mqtt_config *c, char *err, size_t errlen)
{
	const char *tpl[2] = { c->twin_desired_topic, c->twin_reported_topic };
	char *d, *r;
	bool same;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tpl); i++) {
		if (tpl[i] && (strstr(tpl[i], "{type}") ||
			       strstr(tpl[i], "{message_id}"))) {
			errf(err, errlen,
			     "mqtt: twin topic '%s': only {device_id} is replaced there",
			     tpl[i]);
			return -EINVAL;
		}
		if (tpl[i] && (!*tpl[i] || strpbrk(tpl[i], "+#"))) {
			errf(err, errlen,
			     "mqtt: twin topic '%s' is empty or has a wildcard",
			     tpl[i]);
			return -EINVAL;
		}
	}
	if (c->mode != MQTT_MODE_BROKER)
		return 0;
	d = mqtt_broker_twin_topic(c, true);
	r = mqtt_broker_twin_topic(c, false);
	same = d && r && !strcmp(d, r);
	free(d);
	free(r);
	if (same) {
		errf(err, errlen,
		     "mqtt: the twin's desired and reported topics are the same");
		return -EINVAL;
	}
	return 0;
}

int mqtt_config_check(struct mqtt_config *c, char *err, size_t errlen)
{
	if (!c->host || !*c->host) {
		errf(err, errlen, "mqtt: no host");
		return -EINVAL;
	}
	if (c->mode == MQTT_MODE_IOTHUB) {
		c->tls = true;
		if (!c->device_id || !*c->device_id) {
			errf(err, errlen, "mqtt: IoT Hub needs a device id");
			return -EINVAL;
		}
		if (c->auth != MQTT_AUTH_SAS && c->auth != MQTT_AUTH_X509) {
			errf(err, errlen,
			     "mqtt: IoT Hub needs a shared access key or an X.509 certificate");
			return -EINVAL;
		}
	}
	if (c->auth == MQTT_AUTH_SAS && (!c->shared_key || !*c->shared_key)) {
		errf(err, errlen, "mqtt: SAS authentication without a shared access key");
		return -EINVAL;
	}
	if (c->auth == MQTT_AUTH_X509) {
		if (!c->cert_file || !c->key_file) {
			errf(err, errlen,
			     "mqtt: X.509 authentication needs a certificate and a key file");
			return -EINVAL;
		}
		if (!c->tls) {
			errf(err, errlen, "mqtt: X.509 authentication needs TLS");
			return -EINVAL;
		}
	}
	if (c->auth == MQTT_AUTH_PASSWORD && !c->username) {
		errf(err, errlen, "mqtt: password authentication without a user name");
		return -EINVAL;
	}
	if (c->port == 0)
		c->port = c->tls ? 8883 : 1883;
	if (c->port < 0 || c->port > 65535) {
		errf(err, errlen, "mqtt: port %d out of range", c->port);
		return -EINVAL;
	}
	if (c->auth == MQTT_AUTH_SAS && c->sas_ttl && c->sas_ttl < 4) {
		errf(err, errlen,
		     "mqtt: a SAS token must live at least 4 s, not %u",
		     c->sas_ttl);
		return -EINVAL;
	}
	if (twin_check(c, err, errlen))
		return -EINVAL;
	if (!c->keepalive)
		c->keepalive = MQTT_DEFAULT_KEEPALIVE;
	if (c->keepalive < 5 || c->keepalive > 65535) {
		errf(err, errlen, "mqtt: keep-alive %u s out of range (5..65535)",
		     c->keepalive);
		return -EINVAL;
	}
	return 0;
}
