/* SPDX-License-Identifier: MIT */
/*
 * Indicator lists (docs/rules.md, "Indicators"): SHA-256 digests, IP
 * addresses and CIDRs, domain names (resolved by the agent in a thread of
 * their own, again every refresh interval) and file paths, one per line
 * in files named by the configuration. Every relevant event is looked up
 * (a hash set; a binary trie for CIDRs) and a hit is a RuleAlert named
 * "ioc:<kind>" (ioc:hash, ioc:address, ioc:domain, ioc:path).
 */
#ifndef IOTSEC_IOC_H
#define IOTSEC_IOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "intake/event.h"
#include "pipeline/hash.h"
#include "pipeline/rules.h"

enum ioc_kind { IOC_HASH, IOC_ADDRESS, IOC_DOMAIN, IOC_PATH, IOC_KIND_N };

/* "hash", "address", "domain", "path" */
const char *ioc_kind_name(enum ioc_kind k);

#define IOC_MAX_ENTRIES (1u << 20)	/* per list; the rest is skipped */
#define IOC_MAX_DOMAINS 1024
#define IOC_MAX_LINE 4096

/* A malformed line, "FILE:LINE: what", for the log; the line is skipped. */
typedef void (*ioc_warn_fn)(void *ctx, const char *msg);

struct ioc_set;
struct ioc_set *ioc_new(void);
void ioc_free(struct ioc_set *s);
/*
 * The lines of BUF (LEN bytes) into the list of kind K; NAME is the file
 * named in warnings and alerts. Lines: an indicator, blanks around it
 * ignored; '#' at the start or after a blank starts a comment. Returns
 * the number of indicators added, or -ENOMEM.
 */
int ioc_add_text(struct ioc_set *s, enum ioc_kind k, const char *name,
		 const char *buf, size_t len, ioc_warn_fn warn, void *ctx);
/*
 * FILES[k] (NULL: none) into a new set; an unreadable file is a warning
 * and an empty list. Files bigger than 64 MiB are refused. 0 or -ENOMEM.
 */
int ioc_load(struct ioc_set **out, const char *const files[IOC_KIND_N],
	     ioc_warn_fn warn, void *ctx);
size_t ioc_count(const struct ioc_set *s, enum ioc_kind k);

/* Where an indicator was listed: its file and line. */
struct ioc_hit {
	enum ioc_kind kind;
	const char *file;
	unsigned int line;
	const char *domain;	/* IOC_DOMAIN: the name that resolved */
};

bool ioc_find_hash(const struct ioc_set *s, const uint8_t d[HASH_LEN],
		   struct ioc_hit *hit);
/* an address of FAMILY (4 or 16 bytes at A): listed, or in a listed CIDR */
bool ioc_find_addr(const struct ioc_set *s, uint16_t family,
		   const uint8_t *a, struct ioc_hit *hit);
/* an address the listed domains resolved to (last refresh) */
bool ioc_find_resolved(struct ioc_set *s, uint16_t family, const uint8_t *a,
		       struct ioc_hit *hit);
bool ioc_find_path(const struct ioc_set *s, const char *p, size_t len,
		   struct ioc_hit *hit);

/*
 * Resolve the listed domains in a thread (getaddrinfo, never in the
 * loop), now and every REFRESH_MS; a lookup that hangs delays only the
 * next refresh. 0 or -errno (no thread: the domains match nothing).
 */
int ioc_resolve_start(struct ioc_set *s, uint64_t refresh_ms);
/* Addresses known from the domains (tests wait for the first refresh). */
size_t ioc_resolved_count(struct ioc_set *s);

/* ---- alerts ---- */

struct ser;
struct record;

struct ioc_stats {
	uint64_t events, hits, alerts, suppressed;
	uint64_t untracked;	/* hits sent alone: every slot was busy */
};

/*
 * Hit counts are kept per indicator (its kind and the value that matched:
 * the address, the path, the digest), at most IOC_TRACKED of them within
 * their interval at once; a hit of another indicator while all are busy
 * is an alert of its own (HitCount 1), never held under another one.
 */
#define IOC_TRACKED 256

struct ioc_state {
	enum ioc_kind kind;
	uint64_t key_hash;
	uint64_t window_end_ms;		/* 0 and nothing held: a free slot */
	struct record *held;
	uint64_t pending, first_ns, last_ns;
	char key[400];			/* what matched */
	char desc[512];
};

struct ioc_engine {
	struct ioc_set *set;		/* owned */
	struct ser *ser;
	uint64_t aggregate_ms;		/* rules.aggregate_interval */
	rules_out_fn out;
	void *ctx;
	struct ioc_state *st;		/* IOC_TRACKED, at the first hit */
	size_t n_busy;			/* slots in use */
	struct ioc_stats stats;
};

void ioc_engine_init(struct ioc_engine *e, struct ser *ser, rules_out_fn out,
		     void *ctx);
/* SET in place (taken; NULL: none); held hits are sent first. */
void ioc_engine_set(struct ioc_engine *e, struct ioc_set *set,
		    uint64_t now_ms);
void ioc_engine_fini(struct ioc_engine *e);
/*
 * An event, enriched: the exec's executable and a file event's paths
 * against the paths, a connect's or accept's remote address against the
 * addresses and the resolved domains. Returns the number of hits.
 */
unsigned int ioc_eval(struct ioc_engine *e, const struct iotsec_event *ev,
		      uint64_t now_ms);
/* An exec whose executable's digest is D (when its hash came). */
unsigned int ioc_eval_hash(struct ioc_engine *e, const struct iotsec_event *ev,
			   const uint8_t d[HASH_LEN], uint64_t now_ms);
uint64_t ioc_tick(struct ioc_engine *e, uint64_t now_ms);
void ioc_flush(struct ioc_engine *e, uint64_t now_ms);

#endif /* IOTSEC_IOC_H */
