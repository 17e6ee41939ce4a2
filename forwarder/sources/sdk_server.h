/* SPDX-License-Identifier: MIT */
/*
 * The SDK server: the daemon's end of libiotsec (forwarder/sdk_proto.h).
 *
 * It listens on a SOCK_SEQPACKET Unix socket and keeps its clients in an
 * epoll set of its own, whose fd the daemon adds to its loop:
 *
 *   sdk_server_open(&s, &cfg, deliver, arg);
 *   epoll_ctl(loop, EPOLL_CTL_ADD, sdk_server_fd(s), {EPOLLIN});
 *   ... on EPOLLIN: sdk_server_handle(s);
 *   sdk_server_close(s);
 *
 * sdk_server_handle() never blocks: it accepts, reads at most
 * max_per_wakeup requests per ready client (so a flooding client cannot
 * starve the others; what is left keeps the fd readable for the next
 * round) and answers each with a non-blocking send. A client whose reply
 * cannot be queued (it does not read its replies) is disconnected.
 *
 * Every accepted event is stamped with the sender's identity from
 * SO_PEERCRED (taken when it connected) and /proc/<pid>/exe when it is
 * proven to be the connecting program's (sdk_peer.h), then handed to
 * DELIVER.
 *
 * Limits: max_clients in all and max_per_uid per user (so that one user
 * cannot take every slot), a token bucket per user that reconnecting does
 * not refill (a user with an empty bucket cannot connect either).
 */
#ifndef IOTSEC_SDK_SERVER_H
#define IOTSEC_SDK_SERVER_H

#include <stdint.h>
#include <sys/types.h>
#include "sources/sdk_msg.h"

struct sdk_server;
struct json_object;

struct sdk_server_config {
	const char *path;		/* default /run/iotsec/sdk.sock */
	mode_t mode;			/* socket file mode, default 0660 */
	gid_t group;			/* socket group; (gid_t)-1 keeps ours */
	unsigned int max_clients;	/* default 64 */
	unsigned int max_per_uid;	/* connections of one user, 8 */
	unsigned int rate;		/* events per second per user, 20 */
	unsigned int burst;		/* token bucket depth, 50 */
	unsigned int max_per_wakeup;	/* requests per client per round, 8 */
	size_t max_message;		/* bytes, <= IOTSEC_MAX_MESSAGE */
};

struct sdk_server_stats {
	uint64_t accepted;		/* events delivered */
	uint64_t rejected;		/* invalid (JSON, schema, size) */
	uint64_t rate_limited;		/* the user's bucket was empty */
	uint64_t identity_refused;	/* sender executed after connect */
	uint64_t budget_refused;	/* DELIVER: -ENOBUFS (local budget) */
	uint64_t deliver_failed;	/* DELIVER refused otherwise */
	uint64_t clients_accepted;
	uint64_t clients_refused;	/* max_clients reached */
	uint64_t clients_rate_limited;	/* connected with an empty bucket */
	uint64_t identity_unproven;	/* connections whose events are refused */
	uint64_t clients_dropped;	/* did not read replies, or errors */
	unsigned int clients;		/* connected now */
};

/*
 * Takes EVENT (the caller's reference) whether it succeeds or not.
 * Returns 0 when the event is taken, or a negative errno that the client
 * gets back: -ENOBUFS when the budget of all local sources is spent.
 */
typedef int (*sdk_deliver_fn)(void *arg, struct json_object *event,
			      enum sdk_kind kind, const struct sdk_peer *peer);

void sdk_server_config_defaults(struct sdk_server_config *c);

/*
 * Create the socket at c->path (replacing a stale socket, never another
 * kind of file or a socket someone listens on: -EADDRINUSE), with its
 * mode and group set before it accepts anyone. Returns 0 or -errno.
 */
int sdk_server_open(struct sdk_server **s, const struct sdk_server_config *c,
		    sdk_deliver_fn deliver, void *arg);
/*
 * Apply C to a running server without closing anyone's connection: the
 * socket file's mode and group (group (gid_t)-1: the daemon's), the limits
 * (they apply to new requests and connections). The path cannot change live (-EINVAL): close and
 * open again. Returns 0 or -errno (then nothing changed).
 */
int sdk_server_update(struct sdk_server *s, const struct sdk_server_config *c);
/* One fd for the daemon's epoll loop (EPOLLIN). */
int sdk_server_fd(const struct sdk_server *s);
/* Serve what is ready, without blocking. Returns 0 or a fatal -errno. */
int sdk_server_handle(struct sdk_server *s);
void sdk_server_get_stats(const struct sdk_server *s,
			  struct sdk_server_stats *st);
/* Disconnect everyone, close, remove the socket file. */
void sdk_server_close(struct sdk_server *s);

#endif /* IOTSEC_SDK_SERVER_H */
