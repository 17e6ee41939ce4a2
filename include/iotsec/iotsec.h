/* SPDX-License-Identifier: MIT */
/*
 * libiotsec: send security events to the iotsec agent (iotsecd).
 *
 * A program opens a connection to the daemon's Unix socket, sends events
 * and closes it. Every send is one request and one reply: the call returns
 * once the daemon has accepted the event (it is then queued for the hub) or
 * rejected it, in which case iotsec_last_error() tells why. Calls block for
 * at most the handle's timeout (default IOTSEC_DEFAULT_TIMEOUT_MS).
 *
 * Accepted means in the daemon's memory, batched with other events; the
 * batch goes to the on-disk spool within 500 ms (or at 64 events). A
 * clean stop flushes; a crash of the daemon or a power loss within that
 * window loses what was not yet written. From the spool on, delivery is
 * at least once.
 *
 * The daemon stamps every event with the sender's process id, user id,
 * group id and executable, taken from the kernel (SO_PEERCRED and
 * /proc/<pid>/exe), in the ExtraDetails keys SenderProcessId,
 * SenderUserId, SenderGroupId and SenderExecutable of every payload item.
 * Values a program puts there itself are overwritten.
 *
 * Two kinds of event:
 *  - an Azure security event, as Azure's schema defines it (Login,
 *    ConnectionCreate, ProcessCreate, ...):
 *      {"EventType": "Security", "Category": "Triggered", "Name": "Login",
 *       "PayloadSchemaVersion": "1.0", "Payload": [{...}]}
 *    Id and timestamps are the daemon's; do not send them.
 *  - a custom event: a NAME (a letter, then up to 63 letters, digits, '_',
 *    '-' or '.'; not one of Azure's event names) and a JSON object, or an
 *    array of up to 64 objects, as payload. ExtraDetails in a payload
 *    object, when present, maps strings to strings.
 *
 * Return codes: 0 on success, or a negative errno:
 *   -ENOENT, -ECONNREFUSED  the daemon is not running (iotsec_open)
 *   -ENAMETOOLONG           the socket path does not fit (iotsec_open)
 *   -EACCES                 the socket's permissions exclude this process
 *   -ETIMEDOUT              no reply within the timeout; the handle must be
 *                           closed (a late reply would be misattributed)
 *   -EINVAL                 the daemon rejected the event (bad JSON, schema,
 *                           or name); or a NULL/invalid argument
 *   -EMSGSIZE               the event is larger than IOTSEC_MAX_MESSAGE
 *   -EAGAIN                 this user's rate limit exceeded (a token
 *                           bucket per uid: reconnecting does not refill
 *                           it); retry later
 *   -EBUSY                  the daemon has too many clients (of this user)
 *   -ENOBUFS                the daemon takes no more local events now (the
 *                           budget all local sources share is spent);
 *                           retry later
 *   -EPERM                  the sender's identity cannot stand: the
 *                           process executed another program after it
 *                           connected, or does not hold the connection
 *                           with close-on-exec; reconnect
 *   -EPIPE, -ECONNRESET     the daemon closed the connection; reopen
 *   -EPROTO                 the daemon's reply could not be understood
 *   -ENOMEM                 out of memory
 *
 * A handle is not thread-safe: use one per thread, or a lock.
 */
#ifndef IOTSEC_IOTSEC_H
#define IOTSEC_IOTSEC_H

#ifdef __cplusplus
extern "C" {
#endif

#define IOTSEC_DEFAULT_SOCKET "/run/iotsec/sdk.sock"
#define IOTSEC_DEFAULT_TIMEOUT_MS 5000
/* The largest request the daemon accepts, envelope included. */
#define IOTSEC_MAX_MESSAGE (64 * 1024)

struct iotsec;

/*
 * Connect to the daemon at PATH (NULL: IOTSEC_DEFAULT_SOCKET, or the
 * IOTSEC_SOCKET environment variable when set). On success *H is the new
 * handle and 0 is returned; otherwise a negative errno and *H is NULL.
 */
int iotsec_open(struct iotsec **h, const char *path);

/* Per-call timeout in milliseconds (> 0). Returns 0 or -EINVAL. */
int iotsec_set_timeout(struct iotsec *h, int timeout_ms);

/* Send one Azure security event, EVENT_JSON as above. */
int iotsec_send_event(struct iotsec *h, const char *event_json);

/* Send one custom event NAME with PAYLOAD_JSON (object or array). */
int iotsec_send_custom(struct iotsec *h, const char *name,
		       const char *payload_json);

/*
 * Why the last call on H failed: the daemon's reason when it rejected the
 * event, a description of the local error otherwise, "" after a success.
 * The string stays valid until the next call on H.
 */
const char *iotsec_last_error(const struct iotsec *h);

void iotsec_close(struct iotsec *h);

#ifdef __cplusplus
}
#endif

#endif /* IOTSEC_IOTSEC_H */
