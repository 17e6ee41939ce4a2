/* SPDX-License-Identifier: MIT */
/*
 * TLS for the MQTT transport: libmosquitto's settings applied to an
 * SSL_CTX of ours, with the server's name pinned and a chain check that
 * says why a certificate fails. Private to mqtt.c.
 */
#ifndef IOTSEC_TRANSPORT_TLS_H
#define IOTSEC_TRANSPORT_TLS_H

#include <stddef.h>
#include <mosquitto.h>
#include <openssl/ssl.h>

#include "transport/mqtt.h"

struct mqtt_tls {
	SSL_CTX *ctx;		/* ours; libmosquitto holds a reference */
	const struct mqtt_config *cfg;	/* the server: host and port */
	char *why;		/* a failed chain check says why here */
	size_t whylen;
};

/*
 * Check the files of T->cfg and set up TLS on MOSQ; T->cfg and T->why
 * must outlive the connection. 0, or -errno with the reason in ERR.
 */
int mqtt_tls_setup(struct mqtt_tls *t, struct mosquitto *mosq, char *err,
		   size_t errlen);
void mqtt_tls_free(struct mqtt_tls *t);

#endif /* IOTSEC_TRANSPORT_TLS_H */
