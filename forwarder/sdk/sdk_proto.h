/* SPDX-License-Identifier: MIT */
/*
 * The SDK wire protocol between libiotsec and iotsecd's SDK server.
 *
 * Transport: a SOCK_SEQPACKET Unix socket, so every request and every
 * reply is one record with its boundaries kept. The client sends one
 * request and waits for its reply before sending the next.
 *
 * Request: JSON text (UTF-8, no NUL), at most IOTSEC_MAX_MESSAGE bytes:
 *   {"v": 1, "op": "event",  "event": {<Azure event>}}
 *   {"v": 1, "op": "custom", "name": "<name>", "payload": <object|array>}
 *
 * Reply: struct sdk_reply, then the reason (NUL-terminated UTF-8, at most
 * SDK_REASON_MAX bytes with the NUL; "" on success). status is 0 or a
 * negative errno (see include/iotsec/iotsec.h). Host byte order: both ends
 * are on the same machine.
 */
#ifndef IOTSEC_SDK_PROTO_H
#define IOTSEC_SDK_PROTO_H

#include <stdint.h>

#define SDK_PROTO_VERSION 1
#define SDK_REPLY_MAGIC 0x69736b31u	/* "isk1" */
#define SDK_REASON_MAX 256

struct sdk_reply {
	uint32_t magic;
	int32_t status;
	char reason[];
};

#endif /* IOTSEC_SDK_PROTO_H */
