/* SPDX-License-Identifier: MIT */
/*
 * Publishing over MQTT (libmosquitto): to Azure IoT Hub (device or module
 * identity, SAS token or X.509) or to any broker. The daemon's epoll loop
 * drives it; it never blocks: the broker's name is resolved on a thread of
 * its own (the one thread it starts, per attempt, sharing nothing but the
 * answer).
 *
 * Contract between the pipeline (which owns config parsing and message
 * building) and the transport: mqtt.c (the connection), tls.c, names.c
 * and sas.c (what goes on the wire), connstr.c, mqtt_config.c.
 */
#ifndef IOTSEC_MQTT_H
#define IOTSEC_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum mqtt_mode {
	MQTT_MODE_BROKER,	/* any broker, topic from a template */
	MQTT_MODE_IOTHUB,	/* Azure IoT Hub device or module identity */
};

enum mqtt_auth {
	MQTT_AUTH_NONE,
	MQTT_AUTH_PASSWORD,	/* broker mode: username + password */
	MQTT_AUTH_SAS,		/* IoT Hub: shared access key -> SAS token */
	MQTT_AUTH_X509,		/* client certificate + key */
};

/* A new field goes into the field table in mqtt_config.c too. */
struct mqtt_config {
	enum mqtt_mode mode;
	enum mqtt_auth auth;
	char *host;		/* where to connect (a gateway, or the hub) */
	char *hub_host;		/* IoT Hub name for user name and SAS when
				 * host is a gateway; NULL: host */
	int port;		/* 0: 8883 with TLS, 1883 without */
	bool tls;		/* IoT Hub: always true */
	char *ca_file;		/* NULL: system trust store */
	char *cert_file;	/* X.509 */
	char *key_file;
	char *client_id;	/* broker mode; IoT Hub derives it */
	char *username;		/* broker mode */
	char *password;		/* broker mode */
	char *topic;		/* broker mode template: {device_id}, {type},
				 * {message_id} */
	char *device_id;
	char *module_id;	/* IoT Hub module identity, or NULL */
	char *shared_key;	/* base64, IoT Hub SAS */
	char *key_name;		/* SAS policy name (skn), or NULL */
	unsigned int sas_ttl;	/* seconds a token lives */
	unsigned int keepalive;	/* seconds */
	/* the twin (twin.c) */
	char *twin_desired_topic;	/* broker mode templates: {device_id} */
	char *twin_reported_topic;
	unsigned int twin_report_interval; /* s between reported; 0: 30 */
	unsigned int twin_timeout;	/* s for the hub's answer; 0: 30 */
};

/*
 * Fill HUB fields of CFG from an IoT Hub connection string
 * ("HostName=...;DeviceId=...;[ModuleId=...;]SharedAccessKey=..." or
 * "...;x509=true"). Returns 0, or -EINVAL with a reason in ERR.
 */
int mqtt_config_from_connection_string(struct mqtt_config *cfg,
				       const char *cs, char *err,
				       size_t errlen);
void mqtt_config_free(struct mqtt_config *cfg);
/* Every field of A and B the same (strings by content). */
bool mqtt_config_equal(const struct mqtt_config *a,
		       const struct mqtt_config *b);

/* Properties of one message; IoT Hub puts them in the topic. */
struct mqtt_message {
	const char *payload;
	size_t len;
	const char *message_id;		/* $.mid */
	const char *content_type;	/* $.ct, e.g. application/json */
	const char *content_encoding;	/* $.ce, e.g. utf-8 */
	bool security;			/* $.ifid=urn:azureiot:Security:... */
	const char *type;		/* broker-mode topic {type} */
};

struct mqtt;

/* Called when the broker acknowledged (PUBACK) a message. */
typedef void (*mqtt_ack_fn)(void *ctx, int mid);

struct mqtt *mqtt_new(const struct mqtt_config *cfg, mqtt_ack_fn ack,
		      void *ctx, char *err, size_t errlen);
void mqtt_free(struct mqtt *m);

/*
 * Start (or restart: the connection is dropped, and what libmosquitto holds
 * goes out again on the new one) connecting; non-blocking. A failed attempt is not an error here: it is logged, kept for
 * mqtt_last_error() and retried with backoff by mqtt_tick(). Negative only
 * when no attempt can ever work (no SAS token can be made).
 */
int mqtt_start(struct mqtt *m);
/*
 * The socket to poll, or -1 while disconnected. It changes with every
 * reconnect: ask again after each mqtt_start()/mqtt_handle()/mqtt_tick()/
 * mqtt_publish() and register it anew when it differs from the last answer,
 * with EPOLLOUT while mqtt_want_write(). Between two sockets it is -1 for
 * at least one mqtt_tick(), so a new socket that reuses the old number is
 * still seen as new.
 */
int mqtt_fd(struct mqtt *m);
bool mqtt_want_write(struct mqtt *m);
bool mqtt_connected(struct mqtt *m);
/*
 * Service the socket after epoll said EVENTS (EPOLLIN/EPOLLOUT/EPOLLERR/
 * EPOLLHUP). Returns 0; a lost connection is handled here (backoff) and
 * shows in mqtt_connected() and mqtt_last_error().
 */
int mqtt_handle(struct mqtt *m, uint32_t events);
/*
 * Periodic work: keep-alive, token refresh, reconnect with jittered
 * exponential backoff. Returns the ms until it wants to be called again
 * (at most 1000). Timing runs on CLOCK_BOOTTIME (and token expiry on
 * the wall clock), read here; NOW is not needed.
 */
int mqtt_tick(struct mqtt *m, struct timespec now);
/*
 * QoS 1 publish; *MID identifies the later ack. -ENOTCONN while not
 * connected (keep the message and try again), -EMSGSIZE above the hub's
 * 256 KiB. A message once accepted stays with libmosquitto until its
 * PUBACK, across reconnects of the same struct mqtt (clean session off),
 * so its ack may come after a reconnect; an ack for a mid the caller no
 * longer tracks is to be ignored.
 */
int mqtt_publish(struct mqtt *m, const struct mqtt_message *msg, int *mid);
/*
 * The device twin (IoT Hub) or its broker-mode equivalent (twin.c,
 * docs/mqtt.md "Twin").
 *
 * Called in the daemon loop's thread (from mqtt_handle/mqtt_tick):
 * full=true: the whole twin document from a GET response,
 *   {"desired":{...,"$version":N},"reported":{...,"$version":M}};
 * full=false: a desired-properties PATCH body, {...,"$version":N}.
 */
typedef void (*mqtt_twin_fn)(void *ctx, bool full, const char *json, size_t len);
void mqtt_set_twin(struct mqtt *m, mqtt_twin_fn fn, void *ctx); /* fn NULL: twin off */
/*
 * Queue a reported-properties PATCH (a JSON object). While one is in
 * flight or within the rate limit, the newest document replaces the
 * queued one (documents are merged-patch objects: the caller sends the
 * whole reported state each time, so latest wins). 0 or -errno.
 */
int mqtt_twin_report(struct mqtt *m, const char *json);

/*
 * The last error in words, for logs and iotsecctl status; "" since the
 * last successful connect.
 */
const char *mqtt_last_error(struct mqtt *m);

/*
 * Where the transport's log lines go: LEVEL is a syslog priority (LOG_ERR
 * for a certificate that does not verify, LOG_WARNING for other failures,
 * LOG_NOTICE/LOG_INFO for connects and token renewals); LINE has no
 * newline. NULL, and the default: stderr, "iotsecd: mqtt: LINE".
 */
void mqtt_set_log(void (*fn)(int level, const char *line));

/*
 * SAS token for RESOURCE (already the URI "host/devices/id[/modules/m]"),
 * signed with base64 KEY, valid until EXPIRY (epoch seconds), optional
 * policy KEY_NAME. Returns a malloc'd "SharedAccessSignature sr=..." or
 * NULL.
 */
char *sas_token(const char *resource, const char *key, const char *key_name,
		time_t expiry);

#endif /* IOTSEC_MQTT_H */
