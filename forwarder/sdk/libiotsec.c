// SPDX-License-Identifier: MIT
/*
 * libiotsec: the client side of the SDK protocol (forwarder/sdk_proto.h).
 * No dependency beyond libc: device makers link it into small programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <iotsec/iotsec.h>
#include "sdk/sdk_proto.h"
/* header-only: the library still links nothing but libc */
#include "common/clock.h"
#include "common/util.h"

#define IOTSEC_API __attribute__((visibility("default")))

struct iotsec {
	int fd;
	int timeout_ms;
	int broken;		/* a reply may still be in flight: unusable */
	char err[SDK_REASON_MAX];
};

#define set_err(h, ...) errf((h)->err, sizeof((h)->err), __VA_ARGS__)

/* Wait for EVENTS on h->fd until DEADLINE; 0, -ETIMEDOUT or -errno. */
static int wait_fd(struct iotsec *h, short events, int64_t deadline)
{
	struct pollfd p = { .fd = h->fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

IOTSEC_API int iotsec_open(struct iotsec **hp, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv;
	struct iotsec *h;
	int ret;

	if (!hp)
		return -EINVAL;
	*hp = NULL;
	if (!path)
		path = secure_getenv("IOTSEC_SOCKET");
	if (!path || !*path)
		path = IOTSEC_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->timeout_ms = IOTSEC_DEFAULT_TIMEOUT_MS;
	h->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	/* connect() on a Unix socket honours the send timeout. */
	tv.tv_sec = h->timeout_ms / 1000;
	tv.tv_usec = (h->timeout_ms % 1000) * 1000;
	setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto err_close;
	}
	if (fcntl(h->fd, F_SETFL, O_NONBLOCK) < 0) {
		ret = -errno;
		goto err_close;
	}
	*hp = h;
	return 0;

err_close:
	close(h->fd);
err_free:
	free(h);
	return ret;
}

IOTSEC_API int iotsec_set_timeout(struct iotsec *h, int timeout_ms)
{
	if (!h || timeout_ms <= 0)
		return -EINVAL;
	h->timeout_ms = timeout_ms;
	return 0;
}

IOTSEC_API const char *iotsec_last_error(const struct iotsec *h)
{
	return h ? h->err : "no handle";
}

IOTSEC_API void iotsec_close(struct iotsec *h)
{
	if (!h)
		return;
	close(h->fd);
	free(h);
}

/* One request, one reply. */
static int transact(struct iotsec *h, const char *req, size_t len)
{
	char buf[sizeof(struct sdk_reply) + SDK_REASON_MAX];
	struct sdk_reply *rep = (struct sdk_reply *)buf;
	int64_t deadline = mono_ms() + h->timeout_ms;
	bool closed = false, reset = false;
	ssize_t n;
	int ret;

	h->err[0] = '\0';
	if (h->broken) {
		set_err(h, "connection unusable after an earlier error");
		return -EPIPE;
	}
	if (len > IOTSEC_MAX_MESSAGE) {
		set_err(h, "message of %zu bytes exceeds %d", len,
			IOTSEC_MAX_MESSAGE);
		return -EMSGSIZE;
	}

	for (;;) {
		n = send(h->fd, req, len, MSG_NOSIGNAL);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET) {
			/* The daemon may have said why before closing. */
			closed = true;
			break;
		}
		if (errno != EAGAIN) {
			ret = -errno;
			set_err(h, "send: %s", strerror(errno));
			goto broken;
		}
		ret = wait_fd(h, POLLOUT, deadline);
		if (ret) {
			set_err(h, "send: %s", strerror(-ret));
			goto broken;
		}
	}

	for (;;) {
		n = recv(h->fd, buf, sizeof(buf) - 1, MSG_TRUNC);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		/*
		 * A daemon that closes with our request unread resets the
		 * connection, which recv() reports once, before the reply
		 * (e.g. "too many clients") that is still queued.
		 */
		if (errno == ECONNRESET && !reset) {
			reset = closed = true;
			continue;
		}
		if (errno != EAGAIN) {
			ret = -errno;
			set_err(h, "recv: %s", strerror(errno));
			goto broken;
		}
		if (closed) {
			ret = -EPIPE;
			set_err(h, "iotsecd closed the connection");
			goto broken;
		}
		ret = wait_fd(h, POLLIN, deadline);
		if (ret) {
			set_err(h, "no reply from iotsecd: %s", strerror(-ret));
			goto broken;
		}
	}
	if (n == 0) {
		ret = -ECONNRESET;
		set_err(h, "iotsecd closed the connection");
		goto broken;
	}
	if ((size_t)n < sizeof(*rep) || (size_t)n > sizeof(buf) - 1 ||
	    rep->magic != SDK_REPLY_MAGIC || rep->status > 0 ||
	    rep->status < -4095) {
		ret = -EPROTO;
		set_err(h, "malformed reply from iotsecd");
		goto broken;
	}
	buf[n] = '\0';
	set_err(h, "%s", rep->reason);
	return rep->status;

broken:
	h->broken = 1;
	return ret;
}

static int build_and_send(struct iotsec *h, const char *a, const char *b,
			  const char *c, const char *d, const char *e)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c), ld = strlen(d),
	       le = strlen(e), len = la + lb + lc + ld + le;
	char *req;
	int ret;

	if (len > IOTSEC_MAX_MESSAGE) {
		set_err(h, "message of %zu bytes exceeds %d", len,
			IOTSEC_MAX_MESSAGE);
		return -EMSGSIZE;
	}
	req = malloc(len + 1);
	if (!req) {
		set_err(h, "out of memory");
		return -ENOMEM;
	}
	memcpy(req, a, la);
	memcpy(req + la, b, lb);
	memcpy(req + la + lb, c, lc);
	memcpy(req + la + lb + lc, d, ld);
	memcpy(req + la + lb + lc + ld, e, le);
	req[len] = '\0';
	ret = transact(h, req, len);
	free(req);
	return ret;
}

IOTSEC_API int iotsec_send_event(struct iotsec *h, const char *event_json)
{
	if (!h)
		return -EINVAL;
	if (!event_json) {
		set_err(h, "no event");
		return -EINVAL;
	}
	return build_and_send(h, "{\"v\":1,\"op\":\"event\",\"event\":",
			      event_json, "}", "", "");
}

IOTSEC_API int iotsec_send_custom(struct iotsec *h, const char *name,
				  const char *payload_json)
{
	const char *p;

	if (!h)
		return -EINVAL;
	if (!name || !payload_json) {
		set_err(h, "no name or payload");
		return -EINVAL;
	}
	/* The daemon checks the name; only keep it from breaking the JSON. */
	for (p = name; *p; p++) {
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
			set_err(h, "invalid character in event name");
			return -EINVAL;
		}
	}
	return build_and_send(h, "{\"v\":1,\"op\":\"custom\",\"name\":\"", name,
			      "\",\"payload\":", payload_json, "}");
}
