// SPDX-License-Identifier: MIT
/*
 * The SDK server (see sdk_server.h for the contract).
 *
 * Identity comes from SO_PEERCRED, which the kernel records when the
 * client connects, and the executable only when sdk_peer.c can prove it
 * is the one that connected. Nothing in a message can change either:
 * sdk_msg_stamp() overwrites the sender fields.
 *
 * The rate limit is a token bucket per user (uid), not per connection, so
 * that reconnecting does not refill it. Buckets live in a table of
 * SDK_UID_BUCKETS; a new user takes the slot of the fullest bucket, which
 * gives that user back at most what it would have had anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <json-c/json.h>

#include <iotsec/iotsec.h>
#include "sdk/sdk_proto.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/utf8.h"
#include "common/util.h"
#include "sources/sdk_peer.h"
#include "sources/sdk_server.h"

/*
 * A client's replies wait in our send buffer until it reads them; a small
 * buffer means a client that never reads is found out after a few dozen
 * replies rather than after hundreds.
 */
#define SDK_CLIENT_SNDBUF 4096
#define SDK_ACCEPT_BATCH 16
#define SDK_UID_BUCKETS 256

struct sdk_client {
	int fd;
	struct sdk_peer peer;
	struct sdk_ident ident;
	struct sdk_client *next, **pprev;
};

struct uid_bucket {
	uid_t uid;
	bool used;
	double tokens;
	int64_t refill_ms;
};

struct sdk_server {
	struct sdk_server_config cfg;
	char *path;
	int lfd, epfd;
	int spare;		/* a reserved fd, for when we run out */
	sdk_deliver_fn deliver;
	void *arg;
	struct sdk_client *clients;
	struct sdk_server_stats st;
	char *buf;		/* one request, max_message + 1 bytes */
	struct uid_bucket bucket[SDK_UID_BUCKETS];
};

void sdk_server_config_defaults(struct sdk_server_config *c)
{
	memset(c, 0, sizeof(*c));
	c->path = IOTSEC_DEFAULT_SOCKET;
	c->mode = 0660;
	c->group = (gid_t)-1;
	c->max_clients = 64;
	c->max_per_uid = 8;
	c->rate = 20;
	c->burst = 50;
	c->max_per_wakeup = 8;
	c->max_message = IOTSEC_MAX_MESSAGE;
}

/* 0 when queued, -EAGAIN when the client's queue is full, else -errno. */
static int send_reply(int fd, int status, const char *reason)
{
	char buf[sizeof(struct sdk_reply) + SDK_REASON_MAX];
	struct sdk_reply *r = (struct sdk_reply *)buf;
	size_t len;

	r->magic = SDK_REPLY_MAGIC;
	r->status = status;
	snprintf(r->reason, SDK_REASON_MAX, "%s", reason ? reason : "");
	len = sizeof(*r) + strlen(r->reason) + 1;
	if (send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

static void client_drop(struct sdk_server *s, struct sdk_client *c)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	sdk_ident_release(&c->ident);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	s->st.clients--;
	free(c);
}

static void refill(const struct sdk_server *s, struct uid_bucket *b,
		   int64_t now)
{
	b->tokens += (double)(now - b->refill_ms) * s->cfg.rate / 1000.0;
	b->refill_ms = now;
	if (b->tokens > s->cfg.burst)
		b->tokens = s->cfg.burst;
}

/* UID's bucket, refilled; a new one full, in the fullest one's slot. */
static struct uid_bucket *bucket_of(struct sdk_server *s, uid_t uid)
{
	struct uid_bucket *b, *victim = NULL;
	int64_t now = mono_ms();

	for (b = s->bucket; b < s->bucket + SDK_UID_BUCKETS; b++) {
		if (b->used && b->uid == uid) {
			refill(s, b, now);
			return b;
		}
	}
	for (b = s->bucket; b < s->bucket + SDK_UID_BUCKETS; b++) {
		if (!b->used) {
			victim = b;
			break;
		}
		refill(s, b, now);
		if (!victim || b->tokens > victim->tokens)
			victim = b;
	}
	victim->used = true;
	victim->uid = uid;
	victim->tokens = s->cfg.burst;
	victim->refill_ms = now;
	return victim;
}

static void accept_one(struct sdk_server *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct sdk_client *c, *it;
	int sndbuf = SDK_CLIENT_SNDBUF;
	unsigned int same_uid = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		goto err_close;
	for (it = s->clients; it; it = it->next)
		same_uid += it->peer.uid == cred.uid;
	if (s->st.clients >= s->cfg.max_clients ||
	    same_uid >= s->cfg.max_per_uid) {
		send_reply(fd, -EBUSY, s->st.clients >= s->cfg.max_clients ?
			   "too many clients" : "too many clients of this user");
		s->st.clients_refused++;
		goto err_close;
	}
	/* a user out of tokens gains nothing by a new connection */
	if (bucket_of(s, cred.uid)->tokens < 1.0) {
		send_reply(fd, -EAGAIN, "rate limit of this user: reconnecting "
			   "does not refill it");
		s->st.clients_rate_limited++;
		goto err_close;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto err_close;
	c->fd = fd;
	if (sdk_ident_take(&c->ident, fd, &c->peer))
		goto err_free;
	if (c->ident.refused)
		s->st.identity_unproven++;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto err_free;
	c->next = s->clients;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &s->clients;
	s->clients = c;
	s->st.clients++;
	s->st.clients_accepted++;
	return;

err_free:
	sdk_ident_release(&c->ident);
	free(c);
err_close:
	close(fd);
}

static int accept_all(struct sdk_server *s)
{
	int i, fd;

	for (i = 0; i < SDK_ACCEPT_BATCH; i++) {
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE) &&
		    s->spare >= 0) {
			/*
			 * Out of fds: the pending connection would keep the
			 * (level-triggered) listen socket ready and the loop
			 * spinning. Take it with the spare fd and close it.
			 */
			close(s->spare);
			fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				send_reply(fd, -EBUSY, "iotsecd is out of file descriptors");
				close(fd);
				s->st.clients_refused++;
			}
			s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
			continue;
		}
		if (fd < 0)
			return 0;	/* EAGAIN, ECONNABORTED, ... */
		accept_one(s, fd);
	}
	return 0;
}

static bool take_token(struct sdk_server *s, struct sdk_client *c)
{
	struct uid_bucket *b = bucket_of(s, c->peer.uid);

	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

/* Handle one request of N bytes (N > max: truncated). Returns the status. */
static int serve(struct sdk_server *s, struct sdk_client *c, size_t n,
		 char *reason, size_t rlen)
{
	struct json_object *event;
	enum sdk_kind kind;
	int ret;

	if (!take_token(s, c)) {
		s->st.rate_limited++;
		errf(reason, rlen, "rate limit: %u events/s, burst %u, per "
		     "user", s->cfg.rate, s->cfg.burst);
		return -EAGAIN;
	}
	ret = sdk_ident_check(&c->ident, &c->peer, reason, rlen);
	if (ret) {
		s->st.identity_refused++;
		return ret;
	}
	if (n > s->cfg.max_message) {
		s->st.rejected++;
		errf(reason, rlen, "message larger than %zu bytes",
		     s->cfg.max_message);
		return -EMSGSIZE;
	}
	ret = sdk_msg_parse(s->buf, n, &event, &kind, reason, rlen);
	if (ret) {
		s->st.rejected++;
		return ret;
	}
	ret = sdk_msg_stamp(event, &c->peer);
	if (ret) {
		json_object_put(event);
		errf(reason, rlen, "out of memory");
		s->st.deliver_failed++;
		return ret;
	}
	ret = s->deliver(s->arg, event, kind, &c->peer);
	if (ret == -ENOBUFS) {
		errf(reason, rlen, "iotsecd takes no more local events now "
		     "(budget of all local sources); retry later");
		s->st.budget_refused++;
		return ret;
	}
	if (ret) {
		errf(reason, rlen, "iotsecd cannot take the event now: %s",
		     strerror(-ret));
		s->st.deliver_failed++;
		return ret;
	}
	s->st.accepted++;
	return 0;
}

static void client_input(struct sdk_server *s, struct sdk_client *c,
			 uint32_t events)
{
	char reason[SDK_REASON_MAX];
	unsigned int i;
	ssize_t n;
	int status;

	for (i = 0; i < s->cfg.max_per_wakeup; i++) {
		n = recv(c->fd, s->buf, s->cfg.max_message + 1,
			 MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			goto drop;
		}
		if (n == 0)
			goto gone;	/* orderly close */
		reason[0] = '\0';
		status = serve(s, c, (size_t)n, reason, sizeof(reason));
		if (send_reply(c->fd, status, reason))
			goto drop;	/* not reading its replies, or gone */
	}
	return;
drop:
	s->st.clients_dropped++;
gone:
	client_drop(s, c);
	(void)events;
}

int sdk_server_handle(struct sdk_server *s)
{
	struct epoll_event evs[32];
	int i, n;

	n = epoll_wait(s->epfd, evs, 32, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	/*
	 * A client dropped while serving an earlier entry may appear later
	 * in this batch: collect, then serve, checking it is still known.
	 */
	for (i = 0; i < n; i++) {
		struct sdk_client *c = evs[i].data.ptr, *it;

		if (!c) {
			accept_all(s);
			continue;
		}
		for (it = s->clients; it && it != c; it = it->next)
			;
		if (!it)
			continue;
		if (evs[i].events & EPOLLIN)
			client_input(s, c, evs[i].events);
		else if (evs[i].events & (EPOLLHUP | EPOLLERR))
			client_drop(s, c);
	}
	return 0;
}

int sdk_server_fd(const struct sdk_server *s)
{
	return s->epfd;
}

void sdk_server_get_stats(const struct sdk_server *s,
			  struct sdk_server_stats *st)
{
	*st = s->st;
}

/* -EADDRINUSE when someone listens on PATH, 0 when it is free or stale. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat stt;
	int fd, ret;

	if (lstat(path, &stt) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(stt.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (ret == 0 || errno == EAGAIN)
		return -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static bool config_ok(const struct sdk_server_config *c)
{
	return c->path && c->max_clients && c->max_per_uid &&
	       c->max_per_wakeup && c->rate && c->burst && c->max_message &&
	       c->max_message <= IOTSEC_MAX_MESSAGE;
}

int sdk_server_update(struct sdk_server *s, const struct sdk_server_config *c)
{
	char *buf;

	if (!config_ok(c) || strcmp(c->path, s->path))
		return -EINVAL;
	buf = malloc(c->max_message + 1);
	if (!buf)
		return -ENOMEM;
	/* no group now: back to ours, as a new socket would have */
	if (chmod(s->path, c->mode) < 0 ||
	    chown(s->path, (uid_t)-1, c->group != (gid_t)-1 ? c->group :
		  getegid()) < 0) {
		int ret = -errno;

		free(buf);
		return ret;
	}
	free(s->buf);
	s->buf = buf;
	s->cfg = *c;
	s->cfg.path = s->path;
	return 0;
}

/* S and what it holds, but for its clients and the socket file. */
static void server_free(struct sdk_server *s)
{
	if (s->spare >= 0)
		close(s->spare);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->lfd >= 0)
		close(s->lfd);
	free(s->buf);
	free(s->path);
	free(s);
}

int sdk_server_open(struct sdk_server **sp, const struct sdk_server_config *c,
		    sdk_deliver_fn deliver, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct sdk_server *s;
	int ret;

	*sp = NULL;
	if (!config_ok(c) || strlen(c->path) >= sizeof(sa.sun_path) || !deliver)
		return -EINVAL;
	strcpy(sa.sun_path, c->path);

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *c;
	s->deliver = deliver;
	s->arg = arg;
	s->lfd = s->epfd = -1;
	s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->path = strdup(c->path);
	s->buf = malloc(c->max_message + 1);
	ret = -ENOMEM;
	if (!s->path || !s->buf)
		goto err;
	s->cfg.path = s->path;

	/* The directory: /run/iotsec on a fresh boot. */
	ret = mkdir_parent(s->path, 0755);
	if (ret)
		goto err;
	ret = clear_stale(s->path, &sa);
	if (ret)
		goto err;

	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);
	if (s->lfd < 0) {
		ret = -errno;
		goto err;
	}
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto err;
	}
	/* Until listen() nobody can connect: set the permissions first. */
	if (chmod(s->path, c->mode) < 0 ||
	    (c->group != (gid_t)-1 && chown(s->path, (uid_t)-1, c->group) < 0)) {
		ret = -errno;
		goto err_unlink;
	}
	if (listen(s->lfd, 64) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	*sp = s;
	return 0;

err_unlink:
	unlink(s->path);
err:
	server_free(s);
	return ret;
}

void sdk_server_close(struct sdk_server *s)
{
	if (!s)
		return;
	while (s->clients)
		client_drop(s, s->clients);
	unlink(s->path);
	server_free(s);
}
