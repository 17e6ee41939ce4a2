// SPDX-License-Identifier: MIT
/*
 * The device twin over the transport's MQTT connection.
 *
 * IoT Hub (topics, QoS and request ids as Azure's Node device SDK,
 * azure-iot-device-mqtt, sends them; docs/mqtt.md "Twin"):
 *
 *   connect -> SUBSCRIBE $iothub/twin/res/#                       QoS 0
 *           -> SUBSCRIBE $iothub/twin/PATCH/properties/desired/#  QoS 0
 *   both SUBACKs -> PUBLISH $iothub/twin/GET/?$rid=UUID " "       QoS 0
 *   <- $iothub/twin/res/200/?$rid=UUID  {"desired":{..},"reported":{..}}
 *   <- $iothub/twin/PATCH/properties/desired/?$version=N  {..,"$version":N}
 *   PUBLISH $iothub/twin/PATCH/properties/reported/?$rid=UUID {..} QoS 0
 *   <- $iothub/twin/res/204/?$rid=UUID&$version=M
 *
 * Broker mode: a retained full desired document on one topic (QoS 1), the
 * reported document, retained, on another (QoS 1, done at its PUBACK).
 *
 * libmosquitto's callbacks only copy what arrived into an inbox
 * (twin__on_message() and friends); twin__run(), called by mqtt.c after
 * each loop call, reads the inbox, hands documents to the caller's
 * function and sends what is due, so the caller's function may call
 * mqtt_twin_report() and never runs inside libmosquitto.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/random.h>
#include <json-c/json.h>
#include <mosquitto.h>

#include "common/clock.h"
#include "common/utf8.h"
#include "common/util.h"
#include "transport/mqtt_priv.h"

#define TOPIC_RES		"$iothub/twin/res/"
#define TOPIC_RES_SUB		"$iothub/twin/res/#"
#define TOPIC_DESIRED		"$iothub/twin/PATCH/properties/desired/"
#define TOPIC_DESIRED_SUB	"$iothub/twin/PATCH/properties/desired/#"
#define TOPIC_GET		"$iothub/twin/GET/?$rid="
#define TOPIC_REPORTED		"$iothub/twin/PATCH/properties/reported/?$rid="

#define INBOX_MAX		16	/* messages waiting for twin__run() */
#define INBOX_BYTES		(4 * MQTT_TWIN_MAX_DOC)
#define HELD_MAX		16	/* PATCHes waiting for a GET's answer */
#define GET_SPACING_MS		1000	/* at most one GET a second */
#define REFUSE_LOG_BURST	10	/* refusal lines a minute, then a count */

struct twin_msg {
	struct twin_msg *next;
	char *topic;
	char *payload;		/* NUL-terminated copy */
	size_t len;
	bool oversize;		/* LEN bytes came, none kept */
};

struct held {
	int64_t version;
	char *json;
	size_t len;
};

struct mqtt_twin {
	mqtt_twin_fn fn;
	void *ctx;
	bool hub;
	char *desired_topic;	/* broker mode */
	char *reported_topic;
	unsigned int report_ms;	/* least time between two reported */
	unsigned int timeout_ms;

	/* the connection as last seen by twin__run() */
	bool up;
	int sub_mid[2];		/* SUBSCRIBEs waiting for SUBACK; 0: none */
	bool subscribed;
	bool sub_failed;	/* a SUBACK refused: subscribe again later */
	int64_t sub_at;
	unsigned int sub_fail;
	bool first_desired;	/* broker: the next document is the whole */

	/* desired */
	bool have_version;
	int64_t version;	/* $version last handed to the caller */
	bool get_wanted;
	char get_rid[40];	/* in flight; "" none */
	int64_t get_sent;
	int64_t get_at;		/* not before */
	unsigned int get_fail;
	struct held held[HELD_MAX];
	unsigned int n_held;
	bool held_lost;		/* one was dropped: GET once more */

	/* reported */
	char *queued;		/* newest document not yet sent */
	char *inflight;		/* sent, no answer yet */
	char rep_rid[40];	/* hub */
	int rep_mid;		/* broker, QoS 1; 0: none */
	int pub_mid;		/* our last PUBLISH: libmosquitto may say it
				 * is sent (QoS 0) inside mosquitto_publish() */
	int old_mids[8];	/* ours, not the caller's: QoS 0 requests,
				 * reports we gave up waiting for */
	int64_t rep_sent;
	int64_t rep_at;		/* not before (rate limit, backoff) */
	unsigned int rep_fail;

	/* from libmosquitto's callbacks */
	struct twin_msg *in_head, **in_tail;
	size_t in_count, in_bytes;
	unsigned int in_dropped;
	int ev_suback[2];	/* SUBACKs seen: mid, or -mid when refused */
	int ev_puback;

	/* refusals: a hostile hub must not fill the log */
	int64_t refuse_window;
	unsigned int refuse_logged, refuse_quiet;
	bool in_fn;
};

/* ---- small helpers -------------------------------------------------- */

static void refuse(struct mqtt_twin *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void refuse(struct mqtt_twin *t, const char *fmt, ...)
{
	int64_t now = boot_ms();
	char line[512];
	va_list ap;

	if (now - t->refuse_window >= 60000) {
		if (t->refuse_quiet)
			mqtt_log(LOG_WARNING, "twin: %u more refused message(s) not logged",
				 t->refuse_quiet);
		t->refuse_window = now;
		t->refuse_logged = t->refuse_quiet = 0;
	}
	if (t->refuse_logged >= REFUSE_LOG_BURST) {
		t->refuse_quiet++;
		return;
	}
	t->refuse_logged++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mqtt_log(LOG_WARNING, "twin: %s", line);
}

/* A version 4 UUID, as the Node SDK's crypto.randomUUID() makes. */
static void new_rid(char out[40])
{
	unsigned char r[16];
	size_t i, n = 0;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		uint64_t x = (uint64_t)boot_ns() * 0x9e3779b97f4a7c15ull;

		for (i = 0; i < sizeof(r); i++, x = x * 6364136223846793005ull + 1)
			r[i] = (unsigned char)(x >> 56);
	}
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	for (i = 0; i < sizeof(r); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		n += (size_t)snprintf(out + n, 40 - n, "%02x", r[i]);
	}
	out[n] = '\0';
}

/* When to try again after N failures in a row (mqtt.c's backoff). */
static int64_t backoff_at(int64_t now, unsigned int n)
{
	return now + mqtt_backoff_ms(n, mqtt_jitter());
}

/* The printable start of a payload for a log line. */
static const char *excerpt(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = len < size - 4 ? len : size - 4, i;

	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	strcpy(buf + n, len > n ? "..." : "");
	return buf;
}

int mqtt_twin_parse_doc(const char *json, size_t len, bool full,
			int64_t *version, bool *has_version, char *why,
			size_t whylen)
{
	struct json_tokener *tok;
	json_object *o = NULL, *d = NULL, *v = NULL;
	int ret = -EINVAL;

	*has_version = false;
	if (len > MQTT_TWIN_MAX_DOC) {
		errf(why, whylen, "%zu bytes, more than %d", len,
		     MQTT_TWIN_MAX_DOC);
		return -EMSGSIZE;
	}
	if (!utf8_valid(json, len)) {
		errf(why, whylen, "not UTF-8 text (or a NUL byte)");
		return -EINVAL;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		errf(why, whylen, "not JSON: %s",
		     e == json_tokener_continue ? "unterminated" :
		     json_tokener_error_desc(e));
		goto out;
	}
	if (json_tokener_get_parse_end(tok) < len &&
	    json[json_tokener_get_parse_end(tok) +
		 strspn(json + json_tokener_get_parse_end(tok), " \t\r\n")]) {
		errf(why, whylen, "not JSON: text after the document");
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		errf(why, whylen, "not a JSON object");
		goto out;
	}
	d = o;
	if (full) {
		if (!json_object_object_get_ex(o, "desired", &d) ||
		    !json_object_is_type(d, json_type_object)) {
			errf(why, whylen, "no \"desired\" object");
			goto out;
		}
		if (json_object_object_get_ex(o, "reported", &v) &&
		    !json_object_is_type(v, json_type_object)) {
			errf(why, whylen, "\"reported\" is not an object");
			goto out;
		}
	}
	if (json_object_object_get_ex(d, "$version", &v)) {
		/* INT64_MAX: json-c's clamp, and no room for version + 1 */
		if (!json_object_is_type(v, json_type_int) ||
		    json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) == INT64_MAX) {
			errf(why, whylen, "\"$version\" is not a whole number below 2^63 - 1");
			goto out;
		}
		*version = json_object_get_int64(v);
		*has_version = true;
	}
	ret = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return ret;
}

int mqtt_twin_parse_res(const char *topic, int *status, char *rid,
			size_t ridlen)
{
	const char *p, *q;
	char *end;
	long st;

	if (strncmp(topic, TOPIC_RES, strlen(TOPIC_RES)))
		return -EINVAL;
	p = topic + strlen(TOPIC_RES);
	st = strtol(p, &end, 10);
	if (end == p || *p < '0' || *p > '9' || st < 100 || st > 999 ||
	    strncmp(end, "/?", 2))
		return -EINVAL;
	*status = (int)st;
	rid[0] = '\0';
	for (q = end + 2; *q; ) {
		size_t n = strcspn(q, "&");

		if (!strncmp(q, "$rid=", 5)) {
			if (n - 5 == 0 || n - 5 >= ridlen)
				return -EINVAL;
			memcpy(rid, q + 5, n - 5);
			rid[n - 5] = '\0';
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return rid[0] ? 0 : -EINVAL;
}

/* ---- the inbox, filled by libmosquitto's callbacks -------------------- */

void twin__on_message(struct mqtt_twin *t, const char *topic,
		     const void *payload, int len)
{
	bool oversize = len > MQTT_TWIN_MAX_DOC;
	size_t keep = oversize || len < 0 ? 0 : (size_t)len;
	struct twin_msg *msg;

	if (!t || !t->fn || len < 0)
		return;
	if (t->in_count >= INBOX_MAX || t->in_bytes + keep > INBOX_BYTES) {
		t->in_dropped++;	/* said in twin__run() */
		return;
	}
	msg = calloc(1, sizeof(*msg));
	if (!msg)
		goto nomem;
	msg->topic = strdup(topic);
	msg->payload = malloc(keep + 1);
	if (!msg->topic || !msg->payload)
		goto nomem;
	/* too big: only its size is kept, for the log line */
	msg->oversize = oversize;
	msg->len = oversize ? (size_t)len : keep;
	if (keep)
		memcpy(msg->payload, payload, keep);
	msg->payload[keep] = '\0';
	t->in_bytes += keep;
	*t->in_tail = msg;
	t->in_tail = &msg->next;
	t->in_count++;
	return;
nomem:
	if (msg) {
		free(msg->topic);
		free(msg->payload);
		free(msg);
	}
	t->in_dropped++;
}

void twin__on_subscribe(struct mqtt_twin *t, int mid, int n, const int *qos)
{
	int i, j;
	bool refused = false;

	if (!t)
		return;
	for (j = 0; j < n; j++)
		if (qos[j] == 0x80)
			refused = true;
	for (i = 0; i < 2; i++)
		if (t->sub_mid[i] && t->sub_mid[i] == mid)
			t->ev_suback[i] = refused ? -mid : mid;
}

bool twin__on_publish(struct mqtt_twin *t, int mid)
{
	size_t i;

	if (!t || !mid)
		return false;
	if (t->pub_mid == mid && !t->rep_mid)
		return true;
	if (t->rep_mid == mid) {
		t->ev_puback = mid;
		return true;
	}
	for (i = 0; i < ARRAY_SIZE(t->old_mids); i++) {
		if (t->old_mids[i] == mid) {
			t->old_mids[i] = 0;
			return true;
		}
	}
	return false;
}

static void inbox_clear(struct mqtt_twin *t)
{
	struct twin_msg *msg;

	while ((msg = t->in_head)) {
		t->in_head = msg->next;
		free(msg->topic);
		free(msg->payload);
		free(msg);
	}
	t->in_tail = &t->in_head;
	t->in_count = t->in_bytes = 0;
}

/* ---- life --------------------------------------------------------------- */

struct mqtt_twin *twin__new(const struct mqtt_config *cfg)
{
	struct mqtt_twin *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->hub = cfg->mode == MQTT_MODE_IOTHUB;
	t->report_ms = (cfg->twin_report_interval ? cfg->twin_report_interval :
			MQTT_TWIN_REPORT_INTERVAL) * 1000;
	t->timeout_ms = (cfg->twin_timeout ? cfg->twin_timeout :
			 MQTT_TWIN_TIMEOUT) * 1000;
	t->in_tail = &t->in_head;
	if (!t->hub) {
		t->desired_topic = mqtt_broker_twin_topic(cfg, true);
		t->reported_topic = mqtt_broker_twin_topic(cfg, false);
		if (!t->desired_topic || !t->reported_topic) {
			twin__free(t);
			return NULL;
		}
	}
	return t;
}

static void held_clear(struct mqtt_twin *t)
{
	unsigned int i;

	for (i = 0; i < t->n_held; i++)
		free(t->held[i].json);
	t->n_held = 0;
}

void twin__free(struct mqtt_twin *t)
{
	if (!t)
		return;
	inbox_clear(t);
	held_clear(t);
	free(t->queued);
	free(t->inflight);
	free(t->desired_topic);
	free(t->reported_topic);
	free(t);
}

/* The connection is gone: what was asked is asked again on the next. */
static void went_down(struct mqtt_twin *t)
{
	t->up = false;
	t->subscribed = t->sub_failed = false;
	t->sub_mid[0] = t->sub_mid[1] = 0;
	t->ev_suback[0] = t->ev_suback[1] = 0;
	t->get_rid[0] = '\0';
	t->get_fail = 0;
	if (t->hub && t->inflight) {
		/* a QoS 0 request lost with the connection: send it again */
		if (!t->queued)
			t->queued = t->inflight;
		else
			free(t->inflight);
		t->inflight = NULL;
		t->rep_rid[0] = '\0';
	}
	/* broker mode: libmosquitto sends the QoS 1 PUBLISH again itself */
}

int twin__set(struct mqtt_twin *t, mqtt_twin_fn fn, void *ctx)
{
	t->fn = fn;
	t->ctx = ctx;
	/* from inside fn: what is being walked is let go by twin__free() */
	if (!fn && !t->in_fn) {
		inbox_clear(t);
		held_clear(t);
		free(t->queued);
		t->queued = NULL;
	}
	/* subscribe (or not) anew on the next twin__run() */
	if (t->up)
		went_down(t);
	return 0;
}

int twin__report(struct mqtt_twin *t, const char *json)
{
	char why[128];
	int64_t v;
	bool hv;
	size_t len = strlen(json);
	char *copy;
	int ret;

	if (!t->fn)
		return -EOPNOTSUPP;
	if (len > MQTT_TWIN_MAX_REPORT)
		return -EMSGSIZE;
	ret = mqtt_twin_parse_doc(json, len, false, &v, &hv, why, sizeof(why));
	if (ret)
		return ret;
	copy = strdup(json);
	if (!copy)
		return -ENOMEM;
	free(t->queued);
	t->queued = copy;
	return 0;
}

/* ---- desired -------------------------------------------------------- */

static void deliver(struct mqtt_twin *t, bool full, const char *json,
		    size_t len)
{
	t->in_fn = true;
	if (t->fn)
		t->fn(t->ctx, full, json, len);
	t->in_fn = false;
}

static void want_get(struct mqtt_twin *t)
{
	t->get_wanted = true;
}

static void hold(struct mqtt_twin *t, int64_t version, const char *json,
		 size_t len)
{
	unsigned int i;
	char *copy;

	for (i = 0; i < t->n_held; i++)
		if (t->held[i].version == version)
			return;
	copy = t->n_held < HELD_MAX ? malloc(len + 1) : NULL;
	if (!copy) {
		t->held_lost = true;
		return;
	}
	memcpy(copy, json, len + 1);
	/* sorted by version */
	for (i = t->n_held; i > 0 && t->held[i - 1].version > version; i--)
		t->held[i] = t->held[i - 1];
	t->held[i] = (struct held){ version, copy, len };
	t->n_held++;
}

/* The held PATCHes that follow the version in hand, in order. */
static void apply_held(struct mqtt_twin *t)
{
	unsigned int i = 0, j;

	while (i < t->n_held && t->fn) {
		struct held *h = &t->held[i];

		if (h->version > t->version + 1)
			break;
		if (h->version == t->version + 1) {
			t->version = h->version;
			deliver(t, false, h->json, h->len);
		}
		free(h->json);
		i++;
	}
	for (j = 0; i + j < t->n_held; j++)
		t->held[j] = t->held[i + j];
	t->n_held = j;
	if (t->n_held || t->held_lost) {
		mqtt_log(LOG_INFO, "twin: desired $version %" PRId64 " applied, %s: asking for the whole twin",
			 t->version, t->held_lost ? "a PATCH was dropped" :
			 "PATCHes after a gap");
		t->held_lost = false;
		held_clear(t);
		want_get(t);
	}
}

static void on_patch(struct mqtt_twin *t, const char *json, size_t len)
{
	char why[160], ex[64];
	int64_t v = 0;
	bool hv;

	if (mqtt_twin_parse_doc(json, len, false, &v, &hv, why, sizeof(why))) {
		refuse(t, "desired PATCH refused: %s: %s", why,
		       excerpt(json, len, ex, sizeof(ex)));
		return;
	}
	if (!hv) {
		refuse(t, "desired PATCH refused: no \"$version\": %s",
		       excerpt(json, len, ex, sizeof(ex)));
		return;
	}
	if (t->have_version && v <= t->version) {
		mqtt_log(LOG_INFO, "twin: desired PATCH $version %" PRId64 " ignored: not newer than %" PRId64,
			 v, t->version);
		return;
	}
	if (!t->have_version || t->get_rid[0] || t->get_wanted ||
	    v != t->version + 1) {
		/* before the GET's answer, or after a gap */
		hold(t, v, json, len);
		if (t->have_version && !t->get_rid[0] && !t->get_wanted) {
			mqtt_log(LOG_INFO, "twin: desired PATCH $version %" PRId64 " after %" PRId64 ": asking for the whole twin",
				 v, t->version);
			want_get(t);
		}
		return;
	}
	t->version = v;
	deliver(t, false, json, len);
}

static void on_full(struct mqtt_twin *t, const char *json, size_t len)
{
	char why[160], ex[64];
	int64_t v = 0;
	bool hv;

	if (mqtt_twin_parse_doc(json, len, true, &v, &hv, why, sizeof(why))) {
		refuse(t, "twin document refused: %s: %s", why,
		       excerpt(json, len, ex, sizeof(ex)));
		t->get_fail++;
		t->get_at = backoff_at(boot_ms(), t->get_fail);
		want_get(t);
		return;
	}
	if (!hv) {
		refuse(t, "twin document refused: no desired \"$version\"");
		t->get_fail++;
		t->get_at = backoff_at(boot_ms(), t->get_fail);
		want_get(t);
		return;
	}
	t->get_fail = 0;
	t->have_version = true;
	t->version = v;
	deliver(t, true, json, len);
	apply_held(t);
}

/* Broker mode: the whole desired document, retained on its topic. */
static void on_broker_desired(struct mqtt_twin *t, const char *json,
			      size_t len)
{
	char why[160], ex[64], *full;
	int64_t v = 0;
	bool hv, first = t->first_desired;
	int n;

	t->first_desired = false;
	if (!len)
		return;		/* the retained document was cleared */
	if (mqtt_twin_parse_doc(json, len, false, &v, &hv, why, sizeof(why))) {
		refuse(t, "desired document on %s refused: %s: %s",
		       t->desired_topic, why, excerpt(json, len, ex, sizeof(ex)));
		return;
	}
	if (hv && t->have_version && v <= t->version && !first) {
		mqtt_log(LOG_INFO, "twin: desired document $version %" PRId64 " ignored: not newer than %" PRId64,
			 v, t->version);
		return;
	}
	if (hv) {
		t->have_version = true;
		t->version = v;
	}
	n = asprintf(&full, "{\"desired\":%s,\"reported\":{}}", json);
	if (n < 0)
		return;
	deliver(t, true, full, (size_t)n);
	free(full);
}

/* A response on $iothub/twin/res/: to our GET, our PATCH, or nothing. */
static void on_response(struct mqtt_twin *t, const char *topic,
			const char *body, size_t len)
{
	char rid[64], ex[96];
	int status;

	if (mqtt_twin_parse_res(topic, &status, rid, sizeof(rid))) {
		refuse(t, "response refused: malformed topic %s",
		       excerpt(topic, strlen(topic), ex, sizeof(ex)));
		return;
	}
	if (t->get_rid[0] && !strcmp(rid, t->get_rid)) {
		t->get_rid[0] = '\0';
		if (status == 200) {
			on_full(t, body, len);
			return;
		}
		t->get_fail++;
		t->get_at = backoff_at(boot_ms(), t->get_fail);
		want_get(t);
		mqtt_log(LOG_WARNING, "twin: GET answered %d%s%s: asking again in %.1f s",
			 status, len ? ": " : "", excerpt(body, len, ex, sizeof(ex)),
			 (double)(t->get_at - boot_ms()) / 1000);
		return;
	}
	if (t->rep_rid[0] && !strcmp(rid, t->rep_rid)) {
		t->rep_rid[0] = '\0';
		if (status >= 200 && status < 300) {
			free(t->inflight);
			t->inflight = NULL;
			t->rep_fail = 0;
			return;
		}
		if (status == 429 || status >= 500) {
			t->rep_fail++;
			t->rep_at = backoff_at(boot_ms(), t->rep_fail);
			if (t->rep_at < t->rep_sent + t->report_ms)
				t->rep_at = t->rep_sent + t->report_ms;
			if (!t->queued)
				t->queued = t->inflight;
			else
				free(t->inflight);
			t->inflight = NULL;
			mqtt_log(LOG_WARNING, "twin: reported properties answered %d: sending again in %.1f s",
				 status, (double)(t->rep_at - boot_ms()) / 1000);
			return;
		}
		mqtt_log(LOG_ERR, "twin: reported properties refused (%d%s%s): dropped",
			 status, len ? ": " : "", excerpt(body, len, ex, sizeof(ex)));
		free(t->inflight);
		t->inflight = NULL;
		return;
	}
	refuse(t, "response %d for an unknown request id %s: ignored", status,
	       excerpt(rid, strlen(rid), ex, sizeof(ex)));
}

static void handle_msg(struct mqtt_twin *t, struct twin_msg *msg)
{
	char ex[96];

	if (msg->oversize) {
		refuse(t, "%zu bytes on %s refused: more than %d", msg->len,
		       excerpt(msg->topic, strlen(msg->topic), ex, sizeof(ex)),
		       MQTT_TWIN_MAX_DOC);
		if (t->hub && t->get_rid[0] &&
		    !strncmp(msg->topic, TOPIC_RES, strlen(TOPIC_RES)))
			want_get(t);
		return;
	}
	if (t->hub && !strncmp(msg->topic, TOPIC_RES, strlen(TOPIC_RES)))
		on_response(t, msg->topic, msg->payload, msg->len);
	else if (t->hub &&
		 !strncmp(msg->topic, TOPIC_DESIRED, strlen(TOPIC_DESIRED)))
		on_patch(t, msg->payload, msg->len);
	else if (!t->hub && !strcmp(msg->topic, t->desired_topic))
		on_broker_desired(t, msg->payload, msg->len);
}

/* ---- sending -------------------------------------------------------- */

static int subscribe(struct mqtt_twin *t, struct mosquitto *mosq)
{
	const char *topic[2];
	int i, rc, qos = t->hub ? 0 : 1, n = t->hub ? 2 : 1;

	topic[0] = t->hub ? TOPIC_RES_SUB : t->desired_topic;
	topic[1] = TOPIC_DESIRED_SUB;
	t->first_desired = true;
	for (i = 0; i < n; i++) {
		rc = mosquitto_subscribe(mosq, &t->sub_mid[i], topic[i], qos);
		if (rc != MOSQ_ERR_SUCCESS) {
			mqtt_log(LOG_WARNING, "twin: subscribing to %s: %s",
				 topic[i], mosquitto_strerror(rc));
			return -EIO;
		}
	}
	return 0;
}

static void forget_mid(struct mqtt_twin *t, int mid)
{
	memmove(t->old_mids + 1, t->old_mids,
		sizeof(t->old_mids) - sizeof(t->old_mids[0]));
	t->old_mids[0] = mid;
}

static void send_get(struct mqtt_twin *t, struct mosquitto *mosq, int64_t now)
{
	char topic[sizeof(TOPIC_GET) + 40];
	int rc;

	new_rid(t->get_rid);
	snprintf(topic, sizeof(topic), TOPIC_GET "%s", t->get_rid);
	/* the SDK's GET has a body of one space */
	rc = mosquitto_publish(mosq, &t->pub_mid, topic, 1, " ", 0, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		t->get_rid[0] = '\0';
		t->get_at = now + GET_SPACING_MS;
		return;
	}
	forget_mid(t, t->pub_mid);
	t->get_wanted = false;
	t->get_sent = now;
	t->get_at = now + GET_SPACING_MS;
}

static void send_report(struct mqtt_twin *t, struct mosquitto *mosq,
			int64_t now)
{
	char topic[sizeof(TOPIC_REPORTED) + 40];
	const char *doc = t->queued;
	int rc, mid = 0;

	if (t->hub) {
		new_rid(t->rep_rid);
		snprintf(topic, sizeof(topic), TOPIC_REPORTED "%s", t->rep_rid);
		rc = mosquitto_publish(mosq, &t->pub_mid, topic,
				       (int)strlen(doc), doc, 0, false);
		if (rc == MOSQ_ERR_SUCCESS)
			forget_mid(t, t->pub_mid);
	} else {
		/* its PUBACK comes from a later read, never from in here */
		rc = mosquitto_publish(mosq, &mid, t->reported_topic,
				       (int)strlen(doc), doc, 1, true);
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		t->rep_rid[0] = '\0';
		mqtt_log(LOG_WARNING, "twin: publishing reported properties: %s",
			 mosquitto_strerror(rc));
		t->rep_at = now + 1000;
		return;
	}
	t->inflight = t->queued;
	t->queued = NULL;
	t->rep_mid = mid;
	t->rep_sent = now;
	t->rep_at = now + t->report_ms;
}

/* SUBACKs and PUBACKs libmosquitto told of. */
static void take_acks(struct mqtt_twin *t, int64_t now)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (!t->ev_suback[i])
			continue;
		if (t->ev_suback[i] < 0) {
			t->sub_failed = true;
			t->sub_fail++;
			t->sub_at = backoff_at(now, t->sub_fail);
			mqtt_log(LOG_WARNING, "twin: the broker refused a subscription; again in %.1f s",
				 (double)(t->sub_at - now) / 1000);
		}
		t->sub_mid[i] = 0;
		t->ev_suback[i] = 0;
	}
	if (!t->subscribed && !t->sub_mid[0] && !t->sub_mid[1] &&
	    !t->sub_failed) {
		t->subscribed = true;
		t->sub_fail = 0;
		if (t->hub)
			want_get(t);
	}
	if (t->ev_puback && t->ev_puback == t->rep_mid) {
		free(t->inflight);
		t->inflight = NULL;
		t->rep_mid = 0;
		t->rep_fail = 0;
	}
	t->ev_puback = 0;
}

static int64_t earliest(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int twin__run(struct mqtt_twin *t, struct mosquitto *mosq, bool connected)
{
	int64_t now = boot_ms(), next = now + 1000;
	struct twin_msg *msg;

	if (!t)
		return 1000;
	/* what arrived, in order, before looking at the connection */
	while ((msg = t->in_head)) {
		t->in_head = msg->next;
		if (!t->in_head)
			t->in_tail = &t->in_head;
		t->in_count--;
		t->in_bytes -= msg->oversize ? 0 : msg->len;
		if (t->fn)
			handle_msg(t, msg);
		free(msg->topic);
		free(msg->payload);
		free(msg);
	}
	if (t->in_dropped) {
		refuse(t, "%u message(s) dropped: more arrived than the twin can hold at once",
		       t->in_dropped);
		t->in_dropped = 0;
		if (t->hub)
			want_get(t);
	}
	if (!t->fn) {
		t->up = connected;
		return 1000;
	}
	if (connected != t->up) {
		if (!connected) {
			went_down(t);
			return 1000;
		}
		t->up = true;
		t->sub_at = 0;
		/* broker mode: libmosquitto sends it again; wait anew */
		if (t->inflight)
			t->rep_sent = now;
		if (subscribe(t, mosq)) {
			t->sub_failed = true;
			t->sub_at = now + 1000;
		}
	}
	if (!connected)
		return 1000;
	take_acks(t, now);
	if (t->sub_failed && now >= t->sub_at) {
		t->sub_failed = false;
		if (subscribe(t, mosq)) {
			t->sub_failed = true;
			t->sub_at = now + 1000;
		}
	}
	if (!t->subscribed)
		return t->sub_failed ? (int)(t->sub_at - now) : 1000;

	if (t->hub) {
		if (t->get_rid[0] && now - t->get_sent >= t->timeout_ms) {
			mqtt_log(LOG_WARNING, "twin: no answer to GET within %u s: asking again",
				 t->timeout_ms / 1000);
			t->get_rid[0] = '\0';
			t->get_fail++;
			t->get_at = now;
			want_get(t);
		}
		if (t->get_wanted && !t->get_rid[0] && now >= t->get_at)
			send_get(t, mosq, now);
		if (t->get_rid[0])
			next = earliest(next, t->get_sent + t->timeout_ms);
		else if (t->get_wanted)
			next = earliest(next, t->get_at);
	}

	if (t->inflight && now - t->rep_sent >= t->timeout_ms) {
		mqtt_log(LOG_WARNING, "twin: no answer to reported properties within %u s: sending again",
			 t->timeout_ms / 1000);
		if (t->rep_mid)
			forget_mid(t, t->rep_mid);
		t->rep_mid = 0;
		t->rep_rid[0] = '\0';
		if (!t->queued)
			t->queued = t->inflight;
		else
			free(t->inflight);
		t->inflight = NULL;
		t->rep_fail++;
		t->rep_at = backoff_at(now, t->rep_fail);
	}
	if (t->queued && !t->inflight && now >= t->rep_at)
		send_report(t, mosq, now);
	if (t->inflight)
		next = earliest(next, t->rep_sent + t->timeout_ms);
	else if (t->queued)
		next = earliest(next, t->rep_at);
	return next > now ? (int)(next - now) : 0;
}
