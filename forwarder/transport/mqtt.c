// SPDX-License-Identifier: MIT
/*
 * The MQTT transport: libmosquitto driven by the daemon's epoll loop.
 *
 * States:
 *
 *   IDLE --start--> CONNECTING --CONNACK ok--> CONNECTED
 *                      |   ^                      |  \
 *        refused, TLS, |   | backoff over         |   token near expiry:
 *        timeout, lost v   |                 lost |   DISCONNECT, then
 *                    BACKOFF <--------------------+   CONNECTING at once
 *
 *   (BACKOFF or start) --name, not an address--> RESOLVING --> CONNECTING
 *
 * Nothing here blocks. The broker's name is resolved by a thread of its
 * own (getaddrinfo() may wait 10-30 s for a DNS server that does not
 * answer), and libmosquitto is then given the numeric address, which it
 * "resolves" without asking anyone. The name stays what TLS checks: the
 * server certificate is verified against cfg.host pinned on our SSL_CTX
 * (tls.c), not against the address libmosquitto connects to, and the SNI
 * sent is cfg.host too (sni_from_config()). libmosquitto reports through
 * callbacks in the middle of its loop functions; those only record what
 * happened, and the state machine moves after the loop function returned
 * (after_io()), so a reconnect never runs inside libmosquitto.
 *
 * TLS is set up in tls.c, the names on the wire are made in names.c and
 * sas.c; this file connects, keeps the connection and publishes.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <mosquitto.h>
#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/util.h"
#include "transport/mqtt_priv.h"
#include "transport/tls.h"

#define MQTT_DEFAULT_SAS_TTL	3600
#define MQTT_CONNECT_TIMEOUT_MS	30000
#define MQTT_RENEW_TIMEOUT_MS	10000
#define MQTT_TICK_MAX_MS	1000
#define MQTT_RESOLVE_POLL_MS	20
#define MQTT_RESOLVE_ADDRS	8

enum mqtt_state {
	MQTT_IDLE,
	MQTT_RESOLVING,
	MQTT_CONNECTING,
	MQTT_CONNECTED,
	MQTT_BACKOFF,
};

/*
 * One name lookup, shared by the connection and the thread that resolves:
 * whichever lets go last frees it, so a connection freed (a reload) while
 * its lookup hangs leaves the thread to finish and clean up alone.
 */
struct mqtt_lookup {
	pthread_mutex_t lock;
	int refs;
	bool done;
	int gai;			/* getaddrinfo()'s answer */
	int sys;			/* errno for EAI_SYSTEM */
	unsigned int n;
	char addr[MQTT_RESOLVE_ADDRS][INET6_ADDRSTRLEN];
	char port[8];
	char host[];
};

struct mqtt {
	struct mqtt_config cfg;		/* our own deep copy */
	struct mosquitto *mosq;
	struct mqtt_tls tls;
	mqtt_ack_fn ack;
	void *ctx;

	char *client_id;
	char *username;
	char *resource;			/* SAS: host/devices/id[/modules/m] */

	enum mqtt_state state;
	int64_t deadline;		/* CONNECTING: give up; BACKOFF: retry */
	int64_t renew_at;		/* CONNECTED with SAS: renew the token */
	time_t renew_wall;		/* the same on the wall clock */
	bool renewing;			/* our DISCONNECT is for a new token */
	unsigned int attempt;		/* failed attempts in a row */
	bool lib_ref;			/* counted in lib_users */
	struct mqtt_lookup *lookup;	/* RESOLVING */
	struct mqtt_twin *twin;		/* mqtt_set_twin(), or NULL */

	/* What libmosquitto's callbacks said during the last loop call. */
	bool ev_disconnected;
	int ev_disconnect_rc;
	int ev_connack;			/* -1: none */

	char err[512];			/* mqtt_last_error() */
	char lib_err[256];		/* the last error libmosquitto logged */
	char tls_err[384];		/* our own finding: a certificate that
					 * fails (tls.c), no answer, refused */
	char logged[512];		/* the last failure written to the log */
};

static int lib_users;

static void log_stderr(int level, const char *line)
{
	fprintf(stderr, "iotsecd: mqtt: %s\n", line);
}

static void (*log_fn)(int level, const char *line) = log_stderr;

void mqtt_set_log(void (*fn)(int level, const char *line))
{
	log_fn = fn ? fn : log_stderr;
}

void mqtt_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_fn(level, line);
}

/* ---- backoff ------------------------------------------------------------ */

unsigned int mqtt_backoff_ms(unsigned int attempt, double rand)
{
	unsigned int d = MQTT_BACKOFF_MIN_MS;

	while (attempt-- > 1 && d < MQTT_BACKOFF_MAX_MS)
		d *= 2;
	if (d > MQTT_BACKOFF_MAX_MS)
		d = MQTT_BACKOFF_MAX_MS;
	if (rand < 0)
		rand = 0;
	if (rand > 1)
		rand = 1;
	return d / 2 + (unsigned int)(rand * (d / 2));
}

double mqtt_jitter(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)boot_ms() * 2654435761u;
	return (double)r / UINT32_MAX;
}

/* ---- libmosquitto callbacks: record only -------------------------------- */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;

	m->ev_connack = rc;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct mqtt *m = obj;

	m->ev_disconnected = true;
	m->ev_disconnect_rc = rc;
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct mqtt *m = obj;

	if (twin__on_publish(m->twin, mid))
		return;
	if (m->ack)
		m->ack(m->ctx, mid);
}

static void on_message(struct mosquitto *mosq, void *obj,
		       const struct mosquitto_message *msg)
{
	struct mqtt *m = obj;

	twin__on_message(m->twin, msg->topic, msg->payload, msg->payloadlen);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n,
			 const int *qos)
{
	struct mqtt *m = obj;

	twin__on_subscribe(m->twin, mid, n, qos);
}

static void on_log(struct mosquitto *mosq, void *obj, int level,
		   const char *str)
{
	struct mqtt *m = obj;

	/* The first error of an attempt is the cause; the rest follow. */
	if ((level & MOSQ_LOG_ERR) && !m->lib_err[0])
		snprintf(m->lib_err, sizeof(m->lib_err), "%s", str);
}

/* ---- connection state machine ------------------------------------------- */

static void schedule_retry(struct mqtt *m)
{
	unsigned int delay;
	size_t len;

	m->attempt++;
	delay = mqtt_backoff_ms(m->attempt, mqtt_jitter());
	m->state = MQTT_BACKOFF;
	m->deadline = boot_ms() + delay;
	m->renew_at = 0;
	m->renewing = false;
	/*
	 * One line per distinct failure, then only on attempts 2^n, so a
	 * broker down for a day costs a few dozen lines, not thousands.
	 */
	/* libmosquitto's words end with a full stop, ours do not */
	len = strlen(m->err);
	if (len > 1 && m->err[len - 1] == '.')
		m->err[len - 1] = '\0';
	if (strcmp(m->logged, m->err) ||
	    (m->attempt & (m->attempt - 1)) == 0) {
		mqtt_log(m->tls_err[0] ? LOG_ERR : LOG_WARNING,
			 "%s; retrying in %.1f s (attempt %u)", m->err,
			 delay / 1000.0, m->attempt);
		snprintf(m->logged, sizeof(m->logged), "%s", m->err);
	}
}

/* Words for a failed loop call or connect, best reason first. */
static void explain(struct mqtt *m, int rc, int sys_errno)
{
	const char *ssl = strstr(m->lib_err, "OpenSSL Error");

	if (m->tls_err[0]) {
		snprintf(m->err, sizeof(m->err), "%s", m->tls_err);
	} else if (m->ev_connack > 0) {
		snprintf(m->err, sizeof(m->err),
			 "%s:%d refused the connection: %s", m->cfg.host,
			 m->cfg.port, mosquitto_connack_string(m->ev_connack));
	} else if (ssl) {
		/* "OpenSSL Error[0]: error:0A000086:SSL routines::reason" */
		const char *why = strrchr(ssl, ':');

		snprintf(m->err, sizeof(m->err), "%s:%d: TLS handshake failed: %s",
			 m->cfg.host, m->cfg.port, why ? why + 1 : ssl);
	} else if (rc == MOSQ_ERR_KEEPALIVE) {
		snprintf(m->err, sizeof(m->err),
			 "%s:%d: no answer to a keep-alive ping within %u s",
			 m->cfg.host, m->cfg.port, m->cfg.keepalive);
	} else if (rc == MOSQ_ERR_EAI) {
		snprintf(m->err, sizeof(m->err), "%s: cannot resolve: %s",
			 m->cfg.host, gai_strerror(sys_errno));
	} else if ((rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_LOST) &&
		   sys_errno && sys_errno != EPROTO && sys_errno != EAGAIN) {
		snprintf(m->err, sizeof(m->err), "%s:%d: %s", m->cfg.host,
			 m->cfg.port, strerror(sys_errno));
	} else if (m->lib_err[0]) {
		snprintf(m->err, sizeof(m->err), "%s:%d: %s: %s", m->cfg.host,
			 m->cfg.port, mosquitto_strerror(rc), m->lib_err);
	} else {
		snprintf(m->err, sizeof(m->err), "%s:%d: %s", m->cfg.host,
			 m->cfg.port, mosquitto_strerror(rc));
	}
	/*
	 * TLS 1.3 servers reject a missing client certificate after the
	 * handshake, which then looks like a broken connection.
	 */
	if (m->state == MQTT_CONNECTING && m->cfg.tls && !m->cfg.cert_file &&
	    !m->tls_err[0] && m->ev_connack < 0) {
		size_t n = strlen(m->err);

		snprintf(m->err + n, sizeof(m->err) - n,
			 " (closed before CONNACK: does the broker require a client certificate?)");
	}
}

static int set_credentials(struct mqtt *m)
{
	char *token;
	time_t expiry;
	unsigned int ttl;
	int rc;

	if (m->cfg.mode != MQTT_MODE_IOTHUB || m->cfg.auth != MQTT_AUTH_SAS)
		return 0;
	ttl = m->cfg.sas_ttl ? m->cfg.sas_ttl : MQTT_DEFAULT_SAS_TTL;
	expiry = time(NULL) + ttl;
	token = sas_token(m->resource, m->cfg.shared_key, m->cfg.key_name,
			  expiry);
	if (!token) {
		snprintf(m->err, sizeof(m->err),
			 "cannot make a SAS token (is the shared key base64?)");
		return -EINVAL;
	}
	rc = mosquitto_username_pw_set(m->mosq, m->username, token);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(m->err, sizeof(m->err), "setting credentials: %s",
			 mosquitto_strerror(rc));
		return -ENOMEM;
	}
	m->renew_at = boot_ms() + (int64_t)(ttl - mqtt_sas_margin(ttl)) * 1000;
	m->renew_wall = expiry - mqtt_sas_margin(ttl);
	return 0;
}

/* ---- name resolution, off the caller's thread ------------------------ */

static void lookup_put(struct mqtt_lookup *l)
{
	bool last;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (last) {
		pthread_mutex_destroy(&l->lock);
		free(l);
	}
}

static void *lookup_run(void *arg)
{
	struct mqtt_lookup *l = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	int gai, sys;

	gai = getaddrinfo(l->host, l->port, &hints, &res);
	sys = errno;
	pthread_mutex_lock(&l->lock);
	l->gai = gai;
	l->sys = sys;
	for (ai = res; !gai && ai && l->n < MQTT_RESOLVE_ADDRS; ai = ai->ai_next)
		if (!getnameinfo(ai->ai_addr, ai->ai_addrlen, l->addr[l->n],
				 sizeof(l->addr[0]), NULL, 0, NI_NUMERICHOST))
			l->n++;
	l->done = true;
	pthread_mutex_unlock(&l->lock);
	if (res)
		freeaddrinfo(res);
	lookup_put(l);
	return NULL;
}

static bool is_address(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

/* A thread that resolves cfg.host; 0, or -errno (m->err says why). */
static int lookup_start(struct mqtt *m)
{
	size_t len = strlen(m->cfg.host) + 1;
	struct mqtt_lookup *l = calloc(1, sizeof(*l) + len);
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int ret;

	if (!l) {
		snprintf(m->err, sizeof(m->err), "%s: resolving: out of memory",
			 m->cfg.host);
		return -ENOMEM;
	}
	memcpy(l->host, m->cfg.host, len);
	snprintf(l->port, sizeof(l->port), "%d", m->cfg.port);
	pthread_mutex_init(&l->lock, NULL);
	l->refs = 2;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* signals stay with the daemon's signalfd, never this thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&t, &attr, lookup_run, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret) {
		snprintf(m->err, sizeof(m->err), "%s: resolving: %s",
			 m->cfg.host, strerror(ret));
		pthread_mutex_destroy(&l->lock);
		free(l);
		return -ret;
	}
	m->lookup = l;
	return 0;
}

/*
 * libmosquitto sends the host it connects to as the TLS server name (SNI);
 * it connects to an address we resolved, so put the name back before the
 * ClientHello is built. The certificate's name is checked against
 * cfg.host already (tls.c pins it on the SSL_CTX).
 */
static void sni_from_config(const SSL *ssl, int where, int ret)
{
	struct mqtt *m;

	if (!(where & SSL_CB_HANDSHAKE_START))
		return;
	m = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (m && !is_address(m->cfg.host))
		SSL_set_tlsext_host_name((SSL *)ssl, m->cfg.host);
}

/* CONNACK within the keep-alive interval, but 30 s at most. */
static int connect_timeout_ms(const struct mqtt *m)
{
	int ms = (int)m->cfg.keepalive * 1000;

	return ms < MQTT_CONNECT_TIMEOUT_MS ? ms : MQTT_CONNECT_TIMEOUT_MS;
}

/* Connect to ADDR, the host or one of its addresses. */
static int connect_to(struct mqtt *m, const char *addr)
{
	int rc, ret, sys;

	m->tls_err[0] = m->lib_err[0] = '\0';
	m->ev_connack = -1;
	m->ev_disconnected = false;
	ret = set_credentials(m);
	if (ret) {
		mqtt_log(LOG_ERR, "%s", m->err);
		return ret;
	}
	errno = 0;
	m->state = MQTT_CONNECTING;
	rc = mosquitto_connect_async(m->mosq, addr, m->cfg.port,
				     (int)m->cfg.keepalive);
	sys = errno;
	m->ev_disconnected = false;
	if (rc != MOSQ_ERR_SUCCESS) {
		explain(m, rc, sys);
		schedule_retry(m);
		return 0;
	}
	m->deadline = boot_ms() + connect_timeout_ms(m);
	return 0;
}

/*
 * A new attempt: at once to an address, after a lookup to a name
 * (RESOLVING until the thread answers; mqtt_tick() takes the answer).
 */
static int do_connect(struct mqtt *m)
{
	lookup_put(m->lookup);
	m->lookup = NULL;
	if (is_address(m->cfg.host))
		return connect_to(m, m->cfg.host);
	if (lookup_start(m)) {
		schedule_retry(m);
		return 0;
	}
	m->state = MQTT_RESOLVING;
	return 0;
}

/*
 * RESOLVING: the lookup's answer, if there is one yet. The attempts go
 * round the addresses, as libmosquitto's own connect would try them.
 */
static void lookup_done(struct mqtt *m)
{
	struct mqtt_lookup *l = m->lookup;
	char addr[INET6_ADDRSTRLEN] = "";
	bool done;
	int gai, sys;

	pthread_mutex_lock(&l->lock);
	done = l->done;
	gai = l->gai;
	sys = l->sys;
	if (done && !gai && l->n)
		memcpy(addr, l->addr[m->attempt % l->n], sizeof(addr));
	pthread_mutex_unlock(&l->lock);
	if (!done)
		return;
	lookup_put(l);
	m->lookup = NULL;
	if (gai == EAI_SYSTEM) {
		snprintf(m->err, sizeof(m->err), "%s: cannot resolve: %s",
			 m->cfg.host, strerror(sys));
	} else if (gai || !addr[0]) {
		snprintf(m->err, sizeof(m->err), "%s: cannot resolve: %s",
			 m->cfg.host, gai ? gai_strerror(gai) : "no address");
	} else {
		connect_to(m, addr);
		return;
	}
	schedule_retry(m);
}

/* Move the state machine after a libmosquitto call returned RC. */
static void after_io(struct mqtt *m, int rc, int sys_errno)
{
	if (m->state == MQTT_CONNECTING && m->ev_connack == 0 &&
	    !m->ev_disconnected) {
		m->state = MQTT_CONNECTED;
		if (m->attempt || m->logged[0])
			mqtt_log(LOG_NOTICE, "connected to %s:%d as %s after %u failed attempt%s",
				 m->cfg.host, m->cfg.port, m->client_id,
				 m->attempt, m->attempt == 1 ? "" : "s");
		else
			mqtt_log(LOG_NOTICE, "connected to %s:%d as %s", m->cfg.host,
				 m->cfg.port, m->client_id);
		m->attempt = 0;
		m->err[0] = m->logged[0] = m->lib_err[0] = '\0';
		return;
	}
	if (m->renewing && m->ev_disconnected) {
		/*
		 * Reconnect on the next tick, not now: the caller must see
		 * mqtt_fd() go -1 in between, or it may take the new socket,
		 * likely with the old number, for the old registration that
		 * the kernel dropped with the old socket.
		 */
		m->renewing = false;
		m->ev_disconnected = false;
		m->state = MQTT_BACKOFF;
		m->deadline = boot_ms();
		m->renew_at = 0;
		return;
	}
	if (rc == MOSQ_ERR_SUCCESS && !m->ev_disconnected &&
	    mosquitto_socket(m->mosq) >= 0)
		return;
	if (m->state != MQTT_CONNECTING && m->state != MQTT_CONNECTED)
		return;
	if (rc == MOSQ_ERR_SUCCESS)
		rc = m->ev_disconnect_rc ? m->ev_disconnect_rc :
					   MOSQ_ERR_CONN_LOST;
	if (m->state == MQTT_CONNECTED)
		mqtt_log(LOG_WARNING, "connection to %s:%d lost", m->cfg.host, m->cfg.port);
	explain(m, rc, sys_errno);
	if (mosquitto_socket(m->mosq) >= 0)
		mosquitto_disconnect(m->mosq);
	m->ev_disconnected = false;
	schedule_retry(m);
}

struct mqtt *mqtt_new(const struct mqtt_config *cfg, mqtt_ack_fn ack,
		      void *ctx, char *err, size_t errlen)
{
	struct mqtt *m;
	struct mqtt_config *c;
	const char *user = NULL, *pass = NULL;
	int rc;

	m = calloc(1, sizeof(*m));
	if (!m || mqtt_config_copy(&m->cfg, cfg)) {
		errf(err, errlen, "mqtt: out of memory");
		goto fail;
	}
	c = &m->cfg;
	m->ack = ack;
	m->ctx = ctx;
	m->ev_connack = -1;
	if (mqtt_config_check(c, err, errlen))
		goto fail;
	if (lib_users++ == 0)
		mosquitto_lib_init();
	m->lib_ref = true;

	if (c->mode == MQTT_MODE_IOTHUB) {
		m->client_id = mqtt_hub_client_id(c);
		m->username = mqtt_hub_username(c);
		m->resource = mqtt_hub_resource(c);
		if (!m->client_id || !m->username || !m->resource) {
			errf(err, errlen, "mqtt: out of memory");
			goto fail;
		}
		if (c->auth == MQTT_AUTH_SAS) {
			char *t = sas_token(m->resource, c->shared_key,
					    c->key_name, 0);

			if (!t) {
				errf(err, errlen,
				     "mqtt: the shared access key is not valid base64");
				goto fail;
			}
			free(t);
		}
	} else {
		m->client_id = mqtt_broker_client_id(c);
		if (!m->client_id) {
			errf(err, errlen, "mqtt: out of memory");
			goto fail;
		}
	}

	/* Clean session off, as Azure's SDKs: QoS 1 survives a reconnect. */
	m->mosq = mosquitto_new(m->client_id, false, m);
	if (!m->mosq) {
		errf(err, errlen, "mqtt: mosquitto_new: %s", strerror(errno));
		goto fail;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     MQTT_PROTOCOL_V311);
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	mosquitto_message_callback_set(m->mosq, on_message);
	mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
	mosquitto_log_callback_set(m->mosq, on_log);

	/* SAS tokens are set before each connect (set_credentials()). */
	if (c->mode == MQTT_MODE_BROKER && c->auth == MQTT_AUTH_PASSWORD) {
		user = c->username;
		pass = c->password;
	} else if (c->mode == MQTT_MODE_IOTHUB && c->auth == MQTT_AUTH_X509) {
		user = m->username;
	}
	if (user) {
		rc = mosquitto_username_pw_set(m->mosq, user, pass);
		if (rc != MOSQ_ERR_SUCCESS) {
			errf(err, errlen, "mqtt: user name: %s",
			     mosquitto_strerror(rc));
			goto fail;
		}
	}
	if (c->tls) {
		char tlserr[384] = "";

		m->tls.cfg = c;
		m->tls.why = m->tls_err;
		m->tls.whylen = sizeof(m->tls_err);
		if (mqtt_tls_setup(&m->tls, m->mosq, tlserr, sizeof(tlserr))) {
			errf(err, errlen, "mqtt: %s", tlserr);
			goto fail;
		}
		SSL_CTX_set_app_data(m->tls.ctx, m);
		SSL_CTX_set_info_callback(m->tls.ctx, sni_from_config);
	}
	return m;
fail:
	mqtt_free(m);
	return NULL;
}

void mqtt_free(struct mqtt *m)
{
	if (!m)
		return;
	lookup_put(m->lookup);
	if (m->mosq) {
		if (mosquitto_socket(m->mosq) >= 0)
			mosquitto_disconnect(m->mosq);
		mosquitto_destroy(m->mosq);
	}
	mqtt_tls_free(&m->tls);
	twin__free(m->twin);
	if (m->lib_ref && --lib_users == 0)
		mosquitto_lib_cleanup();
	free(m->client_id);
	free(m->username);
	free(m->resource);
	mqtt_config_free(&m->cfg);
	free(m);
}

int mqtt_start(struct mqtt *m)
{
	if (!m)
		return -EINVAL;
	m->attempt = 0;
	m->renewing = false;
	if (m->state == MQTT_CONNECTING || m->state == MQTT_CONNECTED) {
		/* Again from the next tick, so that mqtt_fd() shows -1. */
		mosquitto_disconnect(m->mosq);
		m->ev_disconnected = false;
		m->state = MQTT_BACKOFF;
		m->deadline = boot_ms();
		return 0;
	}
	lookup_put(m->lookup);
	m->lookup = NULL;
	m->state = MQTT_IDLE;
	mqtt_log(LOG_INFO, "connecting to %s:%d as %s (%s%s)", m->cfg.host, m->cfg.port,
		 m->client_id,
		 m->cfg.mode == MQTT_MODE_IOTHUB ? "IoT Hub, " : "broker, ",
		 m->cfg.auth == MQTT_AUTH_SAS ? "SAS token" :
		 m->cfg.auth == MQTT_AUTH_X509 ? "X.509 certificate" :
		 m->cfg.auth == MQTT_AUTH_PASSWORD ? "password" :
		 m->cfg.tls ? "TLS" : "no TLS");
	return do_connect(m);
}

int mqtt_fd(struct mqtt *m)
{
	if (!m || (m->state != MQTT_CONNECTING && m->state != MQTT_CONNECTED))
		return -1;
	return mosquitto_socket(m->mosq);
}

bool mqtt_want_write(struct mqtt *m)
{
	return mqtt_fd(m) >= 0 && mosquitto_want_write(m->mosq);
}

bool mqtt_connected(struct mqtt *m)
{
	return m && m->state == MQTT_CONNECTED;
}

/* The twin's turn, after each loop call: ms until it wants the next. */
static int twin_step(struct mqtt *m)
{
	if (!m->twin)
		return MQTT_TICK_MAX_MS;
	return twin__run(m->twin, m->mosq,
			m->state == MQTT_CONNECTED && !m->renewing);
}

int mqtt_handle(struct mqtt *m, uint32_t events)
{
	int fd = mqtt_fd(m), rc = MOSQ_ERR_SUCCESS, soerr = 0, sys = 0;
	socklen_t len = sizeof(soerr);
	SSL *ssl;

	if (fd < 0)
		return 0;
	/* A refused TCP connect shows as an error on the socket. */
	if (m->state == MQTT_CONNECTING &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr) {
		explain(m, MOSQ_ERR_ERRNO, soerr);
		after_io(m, MOSQ_ERR_ERRNO, soerr);
		return 0;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		rc = mosquitto_loop_read(m->mosq, 1);
		sys = errno;
		/* TLS may hold whole records it already read off the socket. */
		while (rc == MOSQ_ERR_SUCCESS && !m->ev_disconnected &&
		       (ssl = mosquitto_ssl_get(m->mosq)) && SSL_pending(ssl) > 0) {
			rc = mosquitto_loop_read(m->mosq, 1);
			sys = errno;
		}
	}
	if (rc == MOSQ_ERR_SUCCESS && !m->ev_disconnected &&
	    (events & EPOLLOUT) && mosquitto_socket(m->mosq) >= 0) {
		rc = mosquitto_loop_write(m->mosq, 1);
		sys = errno;
	}
	/*
	 * A hung-up socket the library did not notice (it happens while the
	 * TLS handshake is pending) would wake epoll forever: end it here.
	 */
	if (rc == MOSQ_ERR_SUCCESS && !m->ev_disconnected &&
	    (events & (EPOLLERR | EPOLLHUP)) && mosquitto_socket(m->mosq) >= 0) {
		if (m->state == MQTT_CONNECTING && !m->tls_err[0])
			snprintf(m->tls_err, sizeof(m->tls_err),
				 "%s:%d: cannot connect: refused or closed by the peer (%s)",
				 m->cfg.host, m->cfg.port,
				 strerror(sys ? sys : ECONNRESET));
		rc = MOSQ_ERR_CONN_LOST;
	}
	after_io(m, rc, sys);
	twin_step(m);
	return 0;
}

static int conn_tick(struct mqtt *m)
{
	int64_t t = boot_ms(), next = t + MQTT_TICK_MAX_MS;
	int rc;

	if (!m)
		return MQTT_TICK_MAX_MS;
	switch (m->state) {
	case MQTT_IDLE:
		break;
	case MQTT_RESOLVING:
		lookup_done(m);
		if (m->state == MQTT_RESOLVING)
			return MQTT_RESOLVE_POLL_MS;
		return mqtt_fd(m) >= 0 ? 0 : MQTT_TICK_MAX_MS;
	case MQTT_BACKOFF:
		if (t >= m->deadline) {
			do_connect(m);
			if (m->state == MQTT_RESOLVING)
				return MQTT_RESOLVE_POLL_MS;
			return mqtt_fd(m) >= 0 ? 0 : MQTT_TICK_MAX_MS;
		}
		if (m->deadline < next)
			next = m->deadline;
		break;
	case MQTT_CONNECTING:
		if (t >= m->deadline) {
			snprintf(m->tls_err, sizeof(m->tls_err),
				 "%s:%d: no answer to %s within %d s",
				 m->cfg.host, m->cfg.port,
				 m->cfg.tls ? "the TLS handshake or CONNECT" :
				 "CONNECT", connect_timeout_ms(m) / 1000);
			after_io(m, MOSQ_ERR_CONN_LOST, 0);
			break;
		}
		if (m->deadline < next)
			next = m->deadline;
		break;
	case MQTT_CONNECTED:
		rc = mosquitto_loop_misc(m->mosq);
		after_io(m, rc, errno);
		if (m->state != MQTT_CONNECTED)
			break;
		if (m->renew_at && t >= m->renew_at && m->renewing) {
			/* The broker never let us go: cut it off. */
			m->renewing = false;
			after_io(m, MOSQ_ERR_CONN_LOST, 0);
			return 0;
		}
		/*
		 * Also when the wall clock says so: the hub judges expiry by
		 * its clock, and ours may have been set (NTP) since.
		 */
		if (m->renew_at && !m->renewing &&
		    (t >= m->renew_at || time(NULL) >= m->renew_wall)) {
			mqtt_log(LOG_INFO, "SAS token for %s expires soon: reconnecting with a new one",
				 m->client_id);
			m->renewing = true;
			m->renew_at = t + MQTT_RENEW_TIMEOUT_MS;
			rc = mosquitto_disconnect(m->mosq);
			after_io(m, rc, errno);
			return m->state == MQTT_BACKOFF ? 1 : 0;
		}
		if (m->renew_at && m->renew_at < next)
			next = m->renew_at;
		break;
	}
	return next > t ? (int)(next - t) : 0;
}

int mqtt_publish(struct mqtt *m, const struct mqtt_message *msg, int *mid)
{
	char *topic;
	int rc, sys;

	if (!m || !msg || !mid || (!msg->payload && msg->len))
		return -EINVAL;
	if (m->state != MQTT_CONNECTED || m->renewing)
		return -ENOTCONN;
	if (msg->len > (m->cfg.mode == MQTT_MODE_IOTHUB ?
			MQTT_HUB_MAX_MESSAGE : 256 * 1024 * 1024 - 1))
		return -EMSGSIZE;
	if (m->cfg.mode == MQTT_MODE_IOTHUB)
		topic = mqtt_hub_topic(&m->cfg, msg);
	else
		topic = mqtt_broker_topic(&m->cfg, msg);
	if (!topic)
		return -ENOMEM;
	errno = 0;
	rc = mosquitto_publish(m->mosq, mid, topic, (int)msg->len,
			       msg->payload, 1, false);
	sys = errno;
	free(topic);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -EMSGSIZE;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		return -EINVAL;
	default:
		after_io(m, rc, sys);
		return -ENOTCONN;
	}
}

int mqtt_tick(struct mqtt *m, struct timespec now)
{
	int a, b;

	if (!m)
		return MQTT_TICK_MAX_MS;
	a = conn_tick(m);
	b = twin_step(m);
	return a < b ? a : b;
}

void mqtt_set_twin(struct mqtt *m, mqtt_twin_fn fn, void *ctx)
{
	if (!m)
		return;
	if (!m->twin && fn) {
		m->twin = twin__new(&m->cfg);
		if (!m->twin) {
			mqtt_log(LOG_ERR, "twin: out of memory: the twin is off");
			return;
		}
	}
	if (m->twin)
		twin__set(m->twin, fn, ctx);
}

int mqtt_twin_report(struct mqtt *m, const char *json)
{
	if (!m || !json)
		return -EINVAL;
	if (!m->twin)
		return -EOPNOTSUPP;
	return twin__report(m->twin, json);
}

/* "" while nothing went wrong since the last successful connect. */
const char *mqtt_last_error(struct mqtt *m)
{
	if (!m)
		return "no transport";
	return m->err;
}
