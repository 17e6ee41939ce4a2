// SPDX-License-Identifier: MIT
/*
 * What the transport is called and where it publishes: IoT Hub's client
 * id, user name, SAS resource and topic with its property bag, as Azure's
 * SDKs write them; the broker mode's client id and topic template.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/buf.h"
#include "transport/mqtt_priv.h"

#ifndef IOTSEC_VERSION
#define IOTSEC_VERSION "0"
#endif
static const char *hub_name(const struct mqtt_config *cfg)
{
	return cfg->hub_host ? cfg->hub_host : cfg->host;
}

char *mqtt_hub_client_id(const struct mqtt_config *cfg)
{
	char *s;

	if (!cfg->device_id)
		return NULL;
	if (cfg->module_id) {
		if (asprintf(&s, "%s/%s", cfg->device_id, cfg->module_id) < 0)
			return NULL;
		return s;
	}
	return strdup(cfg->device_id);
}

/*
 * Who we are, in the SDK's form ("azure-iot-device/1.18.4 (node v20.20.2;
 * Debian 12; x64)"): "iotsecd/<version> (Linux <release>; <machine>)".
 */
static const char *client_type(void)
{
	static char s[256];
	struct utsname u;

	if (!s[0]) {
		if (uname(&u) == 0)
			snprintf(s, sizeof(s), "iotsecd/%.32s (%.16s %.64s; %.16s)",
				 IOTSEC_VERSION, u.sysname, u.release, u.machine);
		else
			snprintf(s, sizeof(s), "iotsecd/%s", IOTSEC_VERSION);
	}
	return s;
}

char *mqtt_hub_username(const struct mqtt_config *cfg)
{
	char *client, *s = NULL;
	int n;

	client = mqtt_url_encode(client_type(), false);
	if (!client || !cfg->device_id || !hub_name(cfg))
		goto out;
	if (cfg->module_id)
		n = asprintf(&s, "%s/%s/%s/?api-version=%s&DeviceClientType=%s",
			     hub_name(cfg), cfg->device_id, cfg->module_id,
			     MQTT_HUB_API_VERSION, client);
	else
		n = asprintf(&s, "%s/%s/?api-version=%s&DeviceClientType=%s",
			     hub_name(cfg), cfg->device_id,
			     MQTT_HUB_API_VERSION, client);
	if (n < 0)
		s = NULL;
out:
	free(client);
	return s;
}

char *mqtt_hub_resource(const struct mqtt_config *cfg)
{
	char *s;
	int n;

	if (!cfg->device_id || !hub_name(cfg))
		return NULL;
	if (cfg->module_id)
		n = asprintf(&s, "%s/devices/%s/modules/%s", hub_name(cfg),
			     cfg->device_id, cfg->module_id);
	else
		n = asprintf(&s, "%s/devices/%s", hub_name(cfg),
			     cfg->device_id);
	return n < 0 ? NULL : s;
}

/* A string built in a buffer whose first failure sticks (common/buf.h). */
static void sb_add(struct buf *b, const char *s)
{
	if (s)
		buf_put(b, s, strlen(s));
}

static void sb_prop(struct buf *b, const char *key, const char *value)
{
	char *k, *v;

	if (!value)
		return;
	k = mqtt_url_encode(key, false);
	v = mqtt_url_encode(value, false);
	if (!k || !v) {
		b->err = -ENOMEM;
	} else {
		if (b->len && b->p[b->len - 1] != '/')
			sb_add(b, "&");
		sb_add(b, k);
		sb_add(b, "=");
		sb_add(b, v);
	}
	free(k);
	free(v);
}

static char *sb_done(struct buf *b)
{
	if (!b->len || buf_put(b, "", 1)) {	/* nothing written: no name */
		buf_free(b);
		return NULL;
	}
	return (char *)b->p;
}

/*
 * "devices/{id}[/modules/{m}]/messages/events/" and the property bag, in
 * the order and encoding of Azure's Node SDK (querystring.stringify):
 * $.mid, $.ct, $.ce, $.ifid.
 */
char *mqtt_hub_topic(const struct mqtt_config *cfg,
		     const struct mqtt_message *msg)
{
	struct buf b = { 0 };

	if (!cfg->device_id)
		return NULL;
	sb_add(&b, "devices/");
	sb_add(&b, cfg->device_id);
	if (cfg->module_id) {
		sb_add(&b, "/modules/");
		sb_add(&b, cfg->module_id);
	}
	sb_add(&b, "/messages/events/");
	sb_prop(&b, "$.mid", msg->message_id);
	sb_prop(&b, "$.ct", msg->content_type);
	sb_prop(&b, "$.ce", msg->content_encoding);
	if (msg->security)
		sb_prop(&b, "$.ifid", MQTT_SECURITY_IFID);
	return sb_done(&b);
}

/* A topic level from outside must not add levels or wildcards. */
static char *topic_level(const char *s)
{
	char *t = strdup(s), *p;

	if (!t)
		return NULL;
	for (p = t; *p; p++)
		if (*p == '/' || *p == '+' || *p == '#')
			*p = '_';
	return t;
}

static char *broker_expand(const char *tpl, const struct mqtt_config *cfg,
			   const struct mqtt_message *msg)
{
	const char *p;
	struct buf b = { 0 };
	char one[2] = { 0 };

	for (p = tpl; *p; ) {
		char *lvl = NULL;

		if (!strncmp(p, "{device_id}", 11)) {
			lvl = topic_level(cfg->device_id ? cfg->device_id :
					  "unknown");
			p += 11;
		} else if (!strncmp(p, "{type}", 6)) {
			lvl = topic_level(msg->type ? msg->type : "security");
			p += 6;
		} else if (!strncmp(p, "{message_id}", 12)) {
			/* for receivers that de-duplicate by topic */
			lvl = topic_level(msg->message_id && *msg->message_id ?
					  msg->message_id : "none");
			p += 12;
		} else {
			one[0] = *p++;
			sb_add(&b, one);
			continue;
		}
		if (!lvl)
			b.err = -ENOMEM;
		sb_add(&b, lvl);
		free(lvl);
	}
	return sb_done(&b);
}

char *mqtt_broker_topic(const struct mqtt_config *cfg,
			const struct mqtt_message *msg)
{
	return broker_expand(cfg->topic ? cfg->topic :
			     "iotsec/{device_id}/{type}", cfg, msg);
}

char *mqtt_broker_twin_topic(const struct mqtt_config *cfg, bool desired)
{
	const struct mqtt_message none = { .type = "twin" };

	if (desired)
		return broker_expand(cfg->twin_desired_topic ?
				     cfg->twin_desired_topic :
				     "iotsec-twin/{device_id}/desired",
				     cfg, &none);
	return broker_expand(cfg->twin_reported_topic ?
			     cfg->twin_reported_topic :
			     "iotsec-twin/{device_id}/reported", cfg, &none);
}

/* The configured client id, else the device id, else iotsecd-<hostname>. */
char *mqtt_broker_client_id(const struct mqtt_config *cfg)
{
	char hostname[64], *s = NULL;

	if (cfg->client_id)
		s = strdup(cfg->client_id);
	else if (cfg->device_id)
		s = strdup(cfg->device_id);
	else if (gethostname(hostname, sizeof(hostname)) == 0 &&
		 asprintf(&s, "iotsecd-%.*s", (int)sizeof(hostname),
			  hostname) < 0)
		s = NULL;
	if (!s)
		s = strdup("iotsecd");
	return s;
}
