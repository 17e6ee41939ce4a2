// SPDX-License-Identifier: MIT
/*
 * The MQTT settings as one table of fields: copying, comparing and
 * freeing a struct mqtt_config walk it, so a new field is added here once
 * and not in three hand-written lists that drift apart.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "transport/mqtt_priv.h"

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
