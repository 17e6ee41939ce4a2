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
 * Nothing here blocks but name resolution in mosquitto_connect_async(),
 * which the hub's and a broker's names need once per attempt. libmosquitto
 * reports through callbacks in the middle of its loop functions; those
 * only record what happened, and the state machine moves after the loop
 * function returned (after_io()), so a reconnect never runs inside
 * libmosquitto.
 *
 * The server certificate is always verified, and its name: libmosquitto
 * is told so (SSL_VERIFY_PEER, tls_insecure off) and the check itself is
 * OpenSSL's, with the host name or address pinned on our SSL_CTX and a
 * chain-verify hook that keeps OpenSSL's reason, so "certificate verify
 * failed" comes with a why ("unable to get local issuer certificate",
 * "hostname mismatch").
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <mosquitto.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "transport/mqtt_priv.h"

#ifndef IOTSEC_VERSION
#define IOTSEC_VERSION "0"
#endif

#define MQTT_DEFAULT_KEEPALIVE	180	/* what Azure's SDKs use */
#define MQTT_DEFAULT_SAS_TTL	3600
#define MQTT_CONNECT_TIMEOUT_MS	30000
#define MQTT_RENEW_TIMEOUT_MS	10000
#define MQTT_TICK_MAX_MS	1000

enum mqtt_state {
	MQTT_IDLE,
	MQTT_CONNECTING,
	MQTT_CONNECTED,
	MQTT_BACKOFF,
};

struct mqtt {
	struct mqtt_config cfg;		/* our own deep copy */
	struct mosquitto *mosq;
	SSL_CTX *ssl_ctx;		/* ours; libmosquitto holds a reference */
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

	/* What libmosquitto's callbacks said during the last loop call. */
	bool ev_disconnected;
	int ev_disconnect_rc;
	int ev_connack;			/* -1: none */

	char err[512];			/* mqtt_last_error() */
	char lib_err[256];		/* the last error libmosquitto logged */
	char tls_err[384];		/* why the server certificate failed */
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

static void mqtt_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mqtt_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_fn(level, line);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	/* BOOTTIME: a device that slept still knows its token aged. */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- names, topics ---------------------------------------------------- */

static const char *hub_name(const struct mqtt_config *cfg)
{
	return cfg->hub_host ? cfg->hub_host : cfg->host;
}

char *mqtt_hub_client_id(const struct mqtt_config *cfg)
{
	char *s;

	if (!cfg->device_id)
		return NULL;
	if (cfg->module_id) {
		if (asprintf(&s, "%s/%s", cfg->device_id, cfg->module_id) < 0)
			return NULL;
		return s;
	}
	return strdup(cfg->device_id);
}

/*
 * Who we are, in the SDK's form ("azure-iot-device/1.18.4 (node v20.20.2;
 * Debian 12; x64)"): "iotsecd/<version> (Linux <release>; <machine>)".
 */
static const char *client_type(void)
{
	static char s[256];
	struct utsname u;

	if (!s[0]) {
		if (uname(&u) == 0)
			snprintf(s, sizeof(s), "iotsecd/%.32s (%.16s %.64s; %.16s)",
				 IOTSEC_VERSION, u.sysname, u.release, u.machine);
		else
			snprintf(s, sizeof(s), "iotsecd/%s", IOTSEC_VERSION);
	}
	return s;
}

char *mqtt_hub_username(const struct mqtt_config *cfg)
{
	char *client, *s = NULL;
	int n;

	client = mqtt_url_encode(client_type(), false);
	if (!client || !cfg->device_id || !hub_name(cfg))
		goto out;
	if (cfg->module_id)
		n = asprintf(&s, "%s/%s/%s/?api-version=%s&DeviceClientType=%s",
			     hub_name(cfg), cfg->device_id, cfg->module_id,
			     MQTT_HUB_API_VERSION, client);
	else
		n = asprintf(&s, "%s/%s/?api-version=%s&DeviceClientType=%s",
			     hub_name(cfg), cfg->device_id,
			     MQTT_HUB_API_VERSION, client);
	if (n < 0)
		s = NULL;
out:
	free(client);
	return s;
}

char *mqtt_hub_resource(const struct mqtt_config *cfg)
{
	char *s;
	int n;

	if (!cfg->device_id || !hub_name(cfg))
		return NULL;
	if (cfg->module_id)
		n = asprintf(&s, "%s/devices/%s/modules/%s", hub_name(cfg),
			     cfg->device_id, cfg->module_id);
	else
		n = asprintf(&s, "%s/devices/%s", hub_name(cfg),
			     cfg->device_id);
	return n < 0 ? NULL : s;
}

/* A growing string; on allocation failure it turns NULL and stays so. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n;

	if (b->failed || !s)
		return;
	n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->s, cap);

		if (!p) {
			b->failed = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static void sb_prop(struct sbuf *b, const char *key, const char *value)
{
	char *k, *v;

	if (!value)
		return;
	k = mqtt_url_encode(key, false);
	v = mqtt_url_encode(value, false);
	if (!k || !v) {
		b->failed = true;
	} else {
		if (b->len && b->s[b->len - 1] != '/')
			sb_add(b, "&");
		sb_add(b, k);
		sb_add(b, "=");
		sb_add(b, v);
	}
	free(k);
	free(v);
}

static char *sb_done(struct sbuf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	return b->s;
}

/*
 * "devices/{id}[/modules/{m}]/messages/events/" and the property bag, in
 * the order and encoding of Azure's Node SDK (querystring.stringify):
 * $.mid, $.ct, $.ce, $.ifid.
 */
char *mqtt_hub_topic(const struct mqtt_config *cfg,
		     const struct mqtt_message *msg)
{
	struct sbuf b = { 0 };

	if (!cfg->device_id)
		return NULL;
	sb_add(&b, "devices/");
	sb_add(&b, cfg->device_id);
	if (cfg->module_id) {
		sb_add(&b, "/modules/");
		sb_add(&b, cfg->module_id);
	}
	sb_add(&b, "/messages/events/");
	sb_prop(&b, "$.mid", msg->message_id);
	sb_prop(&b, "$.ct", msg->content_type);
	sb_prop(&b, "$.ce", msg->content_encoding);
	if (msg->security)
		sb_prop(&b, "$.ifid", MQTT_SECURITY_IFID);
	return sb_done(&b);
}

/* A topic level from outside must not add levels or wildcards. */
static char *topic_level(const char *s)
{
	char *t = strdup(s), *p;

	if (!t)
		return NULL;
	for (p = t; *p; p++)
		if (*p == '/' || *p == '+' || *p == '#')
			*p = '_';
	return t;
}

char *mqtt_broker_topic(const struct mqtt_config *cfg,
			const struct mqtt_message *msg)
{
	const char *tpl = cfg->topic ? cfg->topic : "iotsec/{device_id}/{type}";
	const char *p;
	struct sbuf b = { 0 };
	char one[2] = { 0 };

	for (p = tpl; *p; ) {
		char *lvl = NULL;

		if (!strncmp(p, "{device_id}", 11)) {
			lvl = topic_level(cfg->device_id ? cfg->device_id :
					  "unknown");
			p += 11;
		} else if (!strncmp(p, "{type}", 6)) {
			lvl = topic_level(msg->type ? msg->type : "security");
			p += 6;
		} else if (!strncmp(p, "{message_id}", 12)) {
			/* for receivers that de-duplicate by topic */
			lvl = topic_level(msg->message_id && *msg->message_id ?
					  msg->message_id : "none");
			p += 12;
		} else {
			one[0] = *p++;
			sb_add(&b, one);
			continue;
		}
		if (!lvl)
			b.failed = true;
		sb_add(&b, lvl);
		free(lvl);
	}
	return sb_done(&b);
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

static double jitter(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)mono_ms() * 2654435761u;
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

	if (m->ack)
		m->ack(m->ctx, mid);
}

static void on_log(struct mosquitto *mosq, void *obj, int level,
		   const char *str)
{
	struct mqtt *m = obj;

	/* The first error of an attempt is the cause; the rest follow. */
	if ((level & MOSQ_LOG_ERR) && !m->lib_err[0])
		snprintf(m->lib_err, sizeof(m->lib_err), "%s", str);
}

static int keep_verdict(int preverify_ok, X509_STORE_CTX *xs)
{
	return preverify_ok;
}

/*
 * The whole-chain verification: OpenSSL's own X509_verify_cert() with the
 * expected host name or address set on the context (setup_tls()), keeping
 * the reason when it fails. libmosquitto's per-certificate callback is set
 * aside: it looks its client up through SSL ex_data that libmosquitto
 * 2.0.11 never indexes when given an SSL_CTX, and then fails every
 * certificate as "unspecified".
 */
static int verify_chain(X509_STORE_CTX *xs, void *arg)
{
	struct mqtt *m = arg;
	X509 *cert;
	char subject[256] = "?";
	int ok, e;

	X509_STORE_CTX_set_verify_cb(xs, keep_verdict);
	ok = X509_verify_cert(xs);
	if (ok > 0)
		return ok;
	e = X509_STORE_CTX_get_error(xs);
	cert = X509_STORE_CTX_get_current_cert(xs);
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject,
				  sizeof(subject));
	snprintf(m->tls_err, sizeof(m->tls_err),
		 "server certificate of %s:%d does not verify: %s (certificate %s, depth %d)",
		 m->cfg.host, m->cfg.port, X509_verify_cert_error_string(e),
		 subject, X509_STORE_CTX_get_error_depth(xs));
	return ok;
}

/* ---- connection state machine ------------------------------------------- */

static void schedule_retry(struct mqtt *m)
{
	unsigned int delay;
	size_t len;

	m->attempt++;
	delay = mqtt_backoff_ms(m->attempt, jitter());
	m->state = MQTT_BACKOFF;
	m->deadline = mono_ms() + delay;
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
	m->renew_at = mono_ms() + (int64_t)(ttl - mqtt_sas_margin(ttl)) * 1000;
	m->renew_wall = expiry - mqtt_sas_margin(ttl);
	return 0;
}

/* CONNACK within the keep-alive interval, but 30 s at most. */
static int connect_timeout_ms(const struct mqtt *m)
{
	int ms = (int)m->cfg.keepalive * 1000;

	return ms < MQTT_CONNECT_TIMEOUT_MS ? ms : MQTT_CONNECT_TIMEOUT_MS;
}

static int do_connect(struct mqtt *m)
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
	rc = mosquitto_connect_async(m->mosq, m->cfg.host, m->cfg.port,
				     (int)m->cfg.keepalive);
	sys = errno;
	m->ev_disconnected = false;
	if (rc != MOSQ_ERR_SUCCESS) {
		explain(m, rc, sys);
		schedule_retry(m);
		return 0;
	}
	m->deadline = mono_ms() + connect_timeout_ms(m);
	return 0;
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
		m->deadline = mono_ms();
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

/*
 * TLS through libmosquitto's own settings (CA, client certificate and key,
 * SSL_VERIFY_PEER, tls_insecure off), applied to an SSL_CTX of ours so
 * that the expected name and the verification hook are in place before
 * the first handshake, which over loopback can finish inside
 * mosquitto_connect_async().
 */
/* Never prompt on a terminal for a key's passphrase: refuse the key. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	return 0;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown reason";
}

/*
 * Load the CA file, client certificate and key once here, so that a bad
 * file is a configuration error with its reason now, not a TLS failure
 * retried forever later.
 */
static int check_tls_files(const struct mqtt_config *c, char *err,
			   size_t errlen)
{
	const char *const files[3] = { c->ca_file, c->cert_file, c->key_file };
	SSL_CTX *ctx;
	int ret = -EINVAL;
	size_t i;

	if (!!c->cert_file != !!c->key_file) {
		set_err(err, errlen,
			"a client certificate needs its key, and a key its certificate");
		return -EINVAL;
	}
	for (i = 0; i < 3; i++) {
		if (files[i] && access(files[i], R_OK)) {
			set_err(err, errlen, "%s: %s", files[i], strerror(errno));
			return -EINVAL;
		}
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		set_err(err, errlen, "cannot create a TLS context");
		return -ENOMEM;
	}
	ERR_clear_error();
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (c->ca_file && SSL_CTX_load_verify_locations(ctx, c->ca_file,
							NULL) != 1) {
		set_err(err, errlen, "CA file %s: no PEM certificate (%s)",
			c->ca_file, ssl_reason());
		goto out;
	}
	if (c->cert_file &&
	    SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
		set_err(err, errlen, "certificate %s: no PEM certificate (%s)",
			c->cert_file, ssl_reason());
		goto out;
	}
	if (c->key_file &&
	    SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			set_err(err, errlen,
				"key %s does not belong to certificate %s",
				c->key_file, c->cert_file);
		else
			set_err(err, errlen,
				"key %s: no PEM private key, or an encrypted one, which is not supported (%s)",
				c->key_file, ssl_reason());
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ret;
}

static int setup_tls(struct mqtt *m, char *err, size_t errlen)
{
	const struct mqtt_config *c = &m->cfg;
	X509_VERIFY_PARAM *param;
	unsigned char addr[16];
	int rc;

	rc = check_tls_files(c, err, errlen);
	if (rc)
		return rc;
	m->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!m->ssl_ctx) {
		set_err(err, errlen, "cannot create a TLS context");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(m->ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_cert_verify_callback(m->ssl_ctx, verify_chain, m);
	param = SSL_CTX_get0_param(m->ssl_ctx);
	X509_VERIFY_PARAM_set_hostflags(param,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, c->host, addr) == 1 ||
	    inet_pton(AF_INET6, c->host, addr) == 1)
		rc = X509_VERIFY_PARAM_set1_ip_asc(param, c->host);
	else
		rc = X509_VERIFY_PARAM_set1_host(param, c->host, 0);
	if (rc != 1) {
		set_err(err, errlen, "cannot expect server name %s", c->host);
		return -EINVAL;
	}
	rc = mosquitto_void_option(m->mosq, MOSQ_OPT_SSL_CTX, m->ssl_ctx);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_int_option(m->mosq,
					  MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		set_err(err, errlen, "TLS context: %s", mosquitto_strerror(rc));
		return -EINVAL;
	}

	/* No CA file: the system's trust store, as OpenSSL keeps it. */
	rc = mosquitto_tls_set(m->mosq, c->ca_file,
			       c->ca_file ? NULL : "/etc/ssl/certs",
			       c->cert_file, c->key_file, no_passphrase);
	if (rc != MOSQ_ERR_SUCCESS) {
		set_err(err, errlen, "TLS files (ca %s, cert %s, key %s): %s",
			c->ca_file ? c->ca_file : "system",
			c->cert_file ? c->cert_file : "none",
			c->key_file ? c->key_file : "none",
			rc == MOSQ_ERR_INVAL ? "missing or unreadable" :
			mosquitto_strerror(rc));
		return -EINVAL;
	}
	rc = mosquitto_tls_opts_set(m->mosq, SSL_VERIFY_PEER, "tlsv1.2", NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_insecure_set(m->mosq, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		set_err(err, errlen, "TLS options: %s", mosquitto_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

static int copy_str(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int copy_config(struct mqtt_config *d, const struct mqtt_config *s)
{
	int ret = 0;

	*d = *s;
	d->host = d->hub_host = d->ca_file = d->cert_file = d->key_file = NULL;
	d->client_id = d->username = d->password = d->topic = NULL;
	d->device_id = d->module_id = d->shared_key = d->key_name = NULL;
	ret |= copy_str(&d->host, s->host);
	ret |= copy_str(&d->hub_host, s->hub_host);
	ret |= copy_str(&d->ca_file, s->ca_file);
	ret |= copy_str(&d->cert_file, s->cert_file);
	ret |= copy_str(&d->key_file, s->key_file);
	ret |= copy_str(&d->client_id, s->client_id);
	ret |= copy_str(&d->username, s->username);
	ret |= copy_str(&d->password, s->password);
	ret |= copy_str(&d->topic, s->topic);
	ret |= copy_str(&d->device_id, s->device_id);
	ret |= copy_str(&d->module_id, s->module_id);
	ret |= copy_str(&d->shared_key, s->shared_key);
	ret |= copy_str(&d->key_name, s->key_name);
	return ret ? -ENOMEM : 0;
}

static int check_config(struct mqtt_config *c, char *err, size_t errlen)
{
	if (!c->host || !*c->host) {
		set_err(err, errlen, "mqtt: no host");
		return -EINVAL;
	}
	if (c->mode == MQTT_MODE_IOTHUB) {
		c->tls = true;
		if (!c->device_id || !*c->device_id) {
			set_err(err, errlen, "mqtt: IoT Hub needs a device id");
			return -EINVAL;
		}
		if (c->auth != MQTT_AUTH_SAS && c->auth != MQTT_AUTH_X509) {
			set_err(err, errlen,
				"mqtt: IoT Hub needs a shared access key or an X.509 certificate");
			return -EINVAL;
		}
	}
	if (c->auth == MQTT_AUTH_SAS && (!c->shared_key || !*c->shared_key)) {
		set_err(err, errlen, "mqtt: SAS authentication without a shared access key");
		return -EINVAL;
	}
	if (c->auth == MQTT_AUTH_X509) {
		if (!c->cert_file || !c->key_file) {
			set_err(err, errlen,
				"mqtt: X.509 authentication needs a certificate and a key file");
			return -EINVAL;
		}
		if (!c->tls) {
			set_err(err, errlen, "mqtt: X.509 authentication needs TLS");
			return -EINVAL;
		}
	}
	if (c->auth == MQTT_AUTH_PASSWORD && !c->username) {
		set_err(err, errlen, "mqtt: password authentication without a user name");
		return -EINVAL;
	}
	if (c->port == 0)
		c->port = c->tls ? 8883 : 1883;
	if (c->port < 0 || c->port > 65535) {
		set_err(err, errlen, "mqtt: port %d out of range", c->port);
		return -EINVAL;
	}
	if (c->auth == MQTT_AUTH_SAS && c->sas_ttl && c->sas_ttl < 4) {
		set_err(err, errlen,
			"mqtt: a SAS token must live at least 4 s, not %u",
			c->sas_ttl);
		return -EINVAL;
	}
	if (!c->keepalive)
		c->keepalive = MQTT_DEFAULT_KEEPALIVE;
	if (c->keepalive < 5 || c->keepalive > 65535) {
		set_err(err, errlen, "mqtt: keep-alive %u s out of range (5..65535)",
			c->keepalive);
		return -EINVAL;
	}
	return 0;
}

struct mqtt *mqtt_new(const struct mqtt_config *cfg, mqtt_ack_fn ack,
		      void *ctx, char *err, size_t errlen)
{
	struct mqtt *m;
	struct mqtt_config *c;
	char hostname[64];
	int rc;

	m = calloc(1, sizeof(*m));
	if (!m || copy_config(&m->cfg, cfg)) {
		set_err(err, errlen, "mqtt: out of memory");
		goto fail;
	}
	c = &m->cfg;
	m->ack = ack;
	m->ctx = ctx;
	m->ev_connack = -1;
	if (check_config(c, err, errlen))
		goto fail;
	if (lib_users++ == 0)
		mosquitto_lib_init();
	m->lib_ref = true;

	if (c->mode == MQTT_MODE_IOTHUB) {
		m->client_id = mqtt_hub_client_id(c);
		m->username = mqtt_hub_username(c);
		m->resource = mqtt_hub_resource(c);
		if (!m->client_id || !m->username || !m->resource) {
			set_err(err, errlen, "mqtt: out of memory");
			goto fail;
		}
		if (c->auth == MQTT_AUTH_SAS) {
			char *t = sas_token(m->resource, c->shared_key,
					    c->key_name, 0);

			if (!t) {
				set_err(err, errlen,
					"mqtt: the shared access key is not valid base64");
				goto fail;
			}
			free(t);
		}
	} else {
		if (c->client_id)
			m->client_id = strdup(c->client_id);
		else if (c->device_id)
			m->client_id = strdup(c->device_id);
		else if (gethostname(hostname, sizeof(hostname)) == 0 &&
			 asprintf(&m->client_id, "iotsecd-%.*s",
				  (int)sizeof(hostname), hostname) < 0)
			m->client_id = NULL;
		if (!m->client_id)
			m->client_id = strdup("iotsecd");
		if (!m->client_id) {
			set_err(err, errlen, "mqtt: out of memory");
			goto fail;
		}
	}

	/* Clean session off, as Azure's SDKs: QoS 1 survives a reconnect. */
	m->mosq = mosquitto_new(m->client_id, false, m);
	if (!m->mosq) {
		set_err(err, errlen, "mqtt: mosquitto_new: %s", strerror(errno));
		goto fail;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     MQTT_PROTOCOL_V311);
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	mosquitto_log_callback_set(m->mosq, on_log);

	if (c->mode == MQTT_MODE_BROKER && c->auth == MQTT_AUTH_PASSWORD) {
		rc = mosquitto_username_pw_set(m->mosq, c->username,
					       c->password);
		if (rc != MOSQ_ERR_SUCCESS) {
			set_err(err, errlen, "mqtt: user name: %s",
				mosquitto_strerror(rc));
			goto fail;
		}
	} else if (c->mode == MQTT_MODE_IOTHUB && c->auth == MQTT_AUTH_X509) {
		rc = mosquitto_username_pw_set(m->mosq, m->username, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			set_err(err, errlen, "mqtt: user name: %s",
				mosquitto_strerror(rc));
			goto fail;
		}
	}
	if (c->tls) {
		char tlserr[384] = "";

		if (setup_tls(m, tlserr, sizeof(tlserr))) {
			set_err(err, errlen, "mqtt: %s", tlserr);
			goto fail;
		}
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
	if (m->mosq) {
		if (mosquitto_socket(m->mosq) >= 0)
			mosquitto_disconnect(m->mosq);
		mosquitto_destroy(m->mosq);
	}
	SSL_CTX_free(m->ssl_ctx);
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
		m->deadline = mono_ms();
		return 0;
	}
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
	return 0;
}

int mqtt_tick(struct mqtt *m, struct timespec now)
{
	int64_t t = mono_ms(), next = t + MQTT_TICK_MAX_MS;
	int rc;

	if (!m)
		return MQTT_TICK_MAX_MS;
	switch (m->state) {
	case MQTT_IDLE:
		break;
	case MQTT_BACKOFF:
		if (t >= m->deadline) {
			do_connect(m);
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

/* "" while nothing went wrong since the last successful connect. */
const char *mqtt_last_error(struct mqtt *m)
{
	if (!m)
		return "no transport";
	return m->err;
}
