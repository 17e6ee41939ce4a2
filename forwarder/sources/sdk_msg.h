/* SPDX-License-Identifier: MIT */
/*
 * SDK requests: parse, validate and stamp (forwarder/sdk_proto.h). Pure
 * functions over a buffer, no I/O, so that they can be fuzzed
 * (tests/fuzz/sdk_msg.c) and unit tested without a socket.
 */
#ifndef IOTSEC_SDK_MSG_H
#define IOTSEC_SDK_MSG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct json_object;

#define SDK_MAX_PAYLOAD_ITEMS 64
#define SDK_MAX_DEPTH 16		/* JSON nesting, envelope included */
#define SDK_MAX_STRING 4096		/* bytes in any one string value */
#define SDK_MAX_EXTRA 32		/* ExtraDetails entries a sender may set */

enum sdk_kind {
	SDK_KIND_AZURE,		/* an event of one of Azure's schemas */
	SDK_KIND_CUSTOM,	/* goes in the extended message */
};

/* Who sent a message, from the kernel, never from the message. */
struct sdk_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char exe[PATH_MAX];	/* "" when /proc/<pid>/exe is unreadable */
};

/*
 * Parse one request of LEN bytes at BUF (need not be NUL-terminated) and
 * validate it. On success returns 0, *EVENT is a new event object
 * {EventType, Category, Name, IsEmpty, PayloadSchemaVersion, Payload}
 * (the caller puts it) and *KIND says which message it goes in. On
 * failure returns -EINVAL or -EMSGSIZE with a human-readable reason in
 * REASON (REASON_LEN bytes), which the SDK hands back to the caller.
 */
int sdk_msg_parse(const char *buf, size_t len, struct json_object **event,
		  enum sdk_kind *kind, char *reason, size_t reason_len);

/*
 * Write PEER into every payload item's ExtraDetails (SenderProcessId,
 * SenderUserId, SenderGroupId, SenderExecutable), replacing whatever the
 * sender wrote there. Returns 0 or -ENOMEM.
 */
int sdk_msg_stamp(struct json_object *event, const struct sdk_peer *peer);

/* True when NAME is one of Azure's event names (any event type). */
bool sdk_azure_name(const char *name);

#endif /* IOTSEC_SDK_MSG_H */
