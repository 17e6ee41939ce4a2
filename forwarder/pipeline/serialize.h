/* SPDX-License-Identifier: MIT */
/*
 * Azure security messages (json-c): the envelope, the Azure-defined
 * payloads (ProcessCreate, ProcessTerminate, ConnectionCreate,
 * DroppedEventsStatistics, MessageStatistics) and the extended message for
 * events Azure has no schema for (schemas/iotsec-extended-message_v1_0.json).
 */
#ifndef IOTSEC_SERIALIZE_H
#define IOTSEC_SERIALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "common/buf.h"
#include "pipeline/aggregate.h"

struct json_object;

#define IOTSEC_EXT_SCHEMA_VERSION "iotsec-1.0"

enum msg_kind { MSG_AZURE, MSG_EXTENDED, MSG_KIND_N };

struct ser {
	char agent_id[37];
	const char *agent_version;
	int64_t boot_to_real_ns;	/* CLOCK_REALTIME - CLOCK_BOOTTIME */
	uint64_t rng[2];
	/* the formatted second last asked for: most events share it */
	time_t cache_t;
	char cache_utc[24], cache_local[32];
	size_t cache_utc_len, cache_local_len;
};

void ser_init(struct ser *s, const char *agent_id, const char *version);
/* Refresh the boot-time to wall-clock offset from the running clocks. */
void ser_sync_clock(struct ser *s);
/* Which message a record goes in. */
enum msg_kind ser_kind(uint32_t type);
/* The Azure or extended event name of TYPE ("ProcessCreate", ...). */
const char *ser_event_name(uint32_t type);

/*
 * One event of the Events array, as JSON text into OUT (malloc'd, *LEN
 * bytes, NUL-terminated). Returns 0 or -ENOMEM.
 */
int ser_record(struct ser *s, const struct record *r, char **out,
	       size_t *len);

/*
 * The one home of the Azure event object: PAYLOAD (an array, taken) as
 * {EventType, Category, Name, IsEmpty, PayloadSchemaVersion, Payload}.
 * NULL when PAYLOAD is NULL or out of memory (PAYLOAD put).
 */
struct json_object *ser_event(const char *type, const char *category,
			      const char *name, struct json_object *payload);
/*
 * Complete EV with Id, TimestampLocal and TimestampUTC for BOOT_NS
 * (CLOCK_BOOTTIME); 0 or -ENOMEM.
 */
int ser_stamp(struct ser *s, struct json_object *ev, uint64_t boot_ns);

/*
 * A RuleAlert of one payload P (taken) at LAST_NS, handed to OUT(CTX,
 * text, len) as one line of JSON: the rules, the baseline and the
 * indicator lists send their alerts through it. true when sent.
 */
bool ser_rule_alert(struct ser *s, struct json_object *p, uint64_t last_ns,
		    void (*out)(void *ctx, const char *text, size_t len),
		    void *ctx);

/* The Payload object of R's event (the rules attach it to an alert). */
struct json_object *ser_payload(struct ser *s, const struct record *r);

struct queue_stats;
/* Operational events (Category Periodic). */
int ser_dropped_events(struct ser *s, uint64_t now_boot_ns,
		       const uint64_t collected[2], const uint64_t dropped[2],
		       const char *const extra[][2], size_t n_extra,
		       char **out, size_t *len);
int ser_message_stats(struct ser *s, uint64_t now_boot_ns, uint64_t sent,
		      uint64_t under4k, uint64_t failed,
		      const char *const extra[][2], size_t n_extra,
		      char **out, size_t *len);

/*
 * A message being packed: the envelope around events added one by one,
 * never longer than LIMIT bytes in all.
 */
struct msgbuf {
	struct buf b;
	size_t limit;
	unsigned int n_events;
	enum msg_kind kind;
};

int msg_begin(struct msgbuf *m, struct ser *s, enum msg_kind kind,
	      size_t limit);
/* 0 when added, -ENOSPC when EV does not fit in what is left. */
int msg_add(struct msgbuf *m, const char *ev, size_t len);
/* Close the envelope; the message is msg_data(m), m->b.len bytes. */
void msg_end(struct msgbuf *m);
void msg_free(struct msgbuf *m);

static inline const char *msg_data(const struct msgbuf *m)
{
	return (const char *)m->b.p;
}
/* The envelope's fixed bytes: what an event can at most use is limit - this. */
size_t msg_overhead(struct ser *s, enum msg_kind kind);

/* A JSON string value for bytes that need not be UTF-8 (see .c). */
struct json_object *json_bytes(const char *s, size_t len);
/* "a b c" from NUL-separated ARGV. */
struct json_object *json_cmdline(const char *argv, size_t len);

void ser_uuid(struct ser *s, char out[37]);
void ser_time(struct ser *s, uint64_t boot_ns, char utc[32], char local[40]);

#endif /* IOTSEC_SERIALIZE_H */
