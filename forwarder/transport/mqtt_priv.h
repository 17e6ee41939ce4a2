/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the transport's files (mqtt.c, names.c, sas.c,
 * connstr.c, mqtt_config.c), and visible to the host tests; not part of
 * the pipeline's contract (mqtt.h).
 */
#ifndef IOTSEC_MQTT_PRIV_H
#define IOTSEC_MQTT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "transport/mqtt.h"

#define MQTT_HUB_API_VERSION	"2021-04-12"
#define MQTT_SECURITY_IFID	"urn:azureiot:Security:SecurityAgent:1"
#define MQTT_HUB_MAX_MESSAGE	(256 * 1024)

/*
 * Percent-encode S the way JavaScript's encodeURIComponent() does (unreserved:
 * A-Z a-z 0-9 - _ . ! ~ * ' ( )); STRICT also encodes ! ' ( ) *, in lower
 * case hex as the Azure SDK's encodeUriComponentStrict() does for SAS
 * tokens. Returns a malloc'd string or NULL.
 */
char *mqtt_url_encode(const char *s, bool strict);

/* The IoT Hub topic for MSG, property bag included; malloc'd or NULL. */
char *mqtt_hub_topic(const struct mqtt_config *cfg,
		     const struct mqtt_message *msg);
/* The broker-mode topic from the template; malloc'd or NULL. */
char *mqtt_broker_topic(const struct mqtt_config *cfg,
			const struct mqtt_message *msg);
/* IoT Hub MQTT user name and client id; malloc'd or NULL. */
char *mqtt_hub_username(const struct mqtt_config *cfg);
char *mqtt_hub_client_id(const struct mqtt_config *cfg);
/* SAS resource URI "host/devices/id[/modules/m]" (not encoded). */
char *mqtt_hub_resource(const struct mqtt_config *cfg);
/* Broker mode: the client id from CFG, the device id or the host name. */
char *mqtt_broker_client_id(const struct mqtt_config *cfg);

/*
 * Standard base64 with padding, strictly: OpenSSL's EVP_DecodeBlock()
 * alone takes surrounding blanks and '=' in the middle. Decoding returns
 * the decoded length, or -1 (also when OUTLEN is short).
 */
bool mqtt_base64_valid(const char *s);
int mqtt_base64_decode(const char *in, unsigned char *out, size_t outlen);

/* A deep copy of S into D; -ENOMEM (D then partly filled: free it). */
int mqtt_config_copy(struct mqtt_config *d, const struct mqtt_config *s);
/* Fill in C's defaults (port, keep-alive); -EINVAL with why in ERR. */
int mqtt_config_check(struct mqtt_config *c, char *err, size_t errlen);

/*
 * Backoff before reconnect attempt number ATTEMPT (1, 2, ...): exponential
 * from MQTT_BACKOFF_MIN_MS, capped at MQTT_BACKOFF_MAX_MS, with RAND
 * (0..1) choosing a point in the upper half ("equal jitter").
 */
#define MQTT_BACKOFF_MIN_MS	1000
#define MQTT_BACKOFF_MAX_MS	60000
unsigned int mqtt_backoff_ms(unsigned int attempt, double rand);
/* A random number from 0 to 1 for it. */
double mqtt_jitter(void);

/* Seconds before expiry when a SAS token of lifetime TTL is renewed. */
unsigned int mqtt_sas_margin(unsigned int ttl);

/* A line for the transport's log (mqtt_set_log()). */
void mqtt_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- the twin (twin.c) ---- */

#define MQTT_TWIN_MAX_DOC		(128 * 1024)	/* a document received */
#define MQTT_TWIN_MAX_REPORT		(32 * 1024)	/* IoT Hub's reported limit */
#define MQTT_TWIN_REPORT_INTERVAL	30	/* s between two reported */
#define MQTT_TWIN_TIMEOUT		30	/* s for the hub's answer */

/* Broker mode: the desired (DESIRED) or reported topic; malloc'd or NULL. */
char *mqtt_broker_twin_topic(const struct mqtt_config *cfg, bool desired);

/*
 * A twin document received: a JSON object of at most MQTT_TWIN_MAX_DOC
 * bytes of UTF-8, whole (nothing after it), with FULL: a "desired" object
 * (and "reported", if there, an object). *VERSION: the desired
 * "$version" when *HAS_VERSION. 0, or -EINVAL/-EMSGSIZE with why in WHY.
 */
int mqtt_twin_parse_doc(const char *json, size_t len, bool full,
			int64_t *version, bool *has_version, char *why,
			size_t whylen);
/*
 * "$iothub/twin/res/{status}/?$rid={rid}[&...]": the status and the
 * request id (at most RIDLEN - 1 bytes). 0, or -EINVAL.
 */
int mqtt_twin_parse_res(const char *topic, int *status, char *rid,
			size_t ridlen);

struct mosquitto;
struct mqtt_twin;
struct mqtt_twin *twin__new(const struct mqtt_config *cfg);
void twin__free(struct mqtt_twin *t);
int twin__set(struct mqtt_twin *t, mqtt_twin_fn fn, void *ctx);
int twin__report(struct mqtt_twin *t, const char *json);
/* libmosquitto's callbacks: these only record. */
void twin__on_message(struct mqtt_twin *t, const char *topic,
		     const void *payload, int len);
void twin__on_subscribe(struct mqtt_twin *t, int mid, int n, const int *qos);
bool twin__on_publish(struct mqtt_twin *t, int mid);	/* true: the twin's */
/*
 * After each loop call: hand over what arrived, (re)subscribe after a
 * connect, send what is due. Returns the ms until it wants to run again.
 */
int twin__run(struct mqtt_twin *t, struct mosquitto *mosq, bool connected);

#endif /* IOTSEC_MQTT_PRIV_H */
