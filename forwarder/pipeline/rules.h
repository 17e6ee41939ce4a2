/* SPDX-License-Identifier: MIT */
/*
 * Detection rules (docs/rules.md): YAML rules compiled once at load (globs
 * split, CIDRs parsed, lists resolved) and evaluated for every event
 * between enrichment and the queues. A rule that matches emits a RuleAlert
 * extended event at alert priority, with the triggering event attached;
 * the hits of one rule within the aggregation interval after an alert
 * become one more alert with their HitCount, sent when the interval ends.
 */
#ifndef IOTSEC_RULES_H
#define IOTSEC_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "intake/event.h"

struct ser;
struct ruleset;

/*
 * Rules see one event type the kernel does not send: a login record from
 * wtmp/btmp (sources/login.c), as an iotsec_event of this type with uid,
 * tgid (the handling process), exe, user, raddr (the remote address, when
 * the record has one; family 0 else) and result (0: success, -EACCES: a
 * failure). Its alerts attach a Login event.
 */
#define RULES_EVENT_LOGIN (IOTSEC_EVENT_MAX + 1)
#define RULES_EVENT_MAX RULES_EVENT_LOGIN

/* One YAML text: a rules file, or the configuration file (its rules:). */
struct rules_src {
	const char *name;	/* in errors: NAME:LINE:COL */
	const char *buf;
	size_t len;
	bool in_config;		/* the rules are under the top-level rules: */
};

/*
 * Compile the sources, in order (lists of all of them are shared; a rule
 * named again with only `enabled:` turns an earlier one on or off).
 * 0 and *OUT, or -EINVAL with "NAME:LINE:COL: ..." in ERR (or -ENOMEM).
 */
int rules_compile(struct ruleset **out, const struct rules_src *src,
		  size_t n, char *err, size_t errlen);
/*
 * The rules of every *.yaml / *.yml file of DIR (sorted by name; NULL or a
 * missing directory: none) then those of the configuration file CONFIG
 * (NULL: none).
 */
int rules_load(struct ruleset **out, const char *dir, const char *config,
	       char *err, size_t errlen);
void rules_free(struct ruleset *rs);
size_t rules_count(const struct ruleset *rs);	/* enabled rules */

/* An alert's text (an event of the Events array) and its length. */
typedef void (*rules_out_fn)(void *ctx, const char *text, size_t len);

struct rules_stats {
	uint64_t events, hits, alerts, suppressed;
};

struct rules_engine {
	struct ruleset *rs;		/* owned */
	struct ser *ser;
	uint64_t aggregate_ms;		/* 0: every hit an alert */
	rules_out_fn out;
	void *ctx;
	struct rules_stats stats;
};

void rules_engine_init(struct rules_engine *e, struct ser *ser,
		       rules_out_fn out, void *ctx);
/*
 * Put RS in place (taken): the hits the running set holds are sent first.
 * RS may be NULL (no rules).
 */
void rules_engine_set(struct rules_engine *e, struct ruleset *rs,
		      uint64_t now_ms);
/* Free the rules; held hits are dropped (rules_flush() sends them). */
void rules_engine_fini(struct rules_engine *e);
/* Every event, enriched; returns the number of rules that matched. */
unsigned int rules_eval(struct rules_engine *e, const struct iotsec_event *ev,
			uint64_t now_ms);
/* Aggregated hits whose interval ended go out; ms until the next ends. */
uint64_t rules_tick(struct rules_engine *e, uint64_t now_ms);
/* Send every held hit now (exit). */
void rules_flush(struct rules_engine *e, uint64_t now_ms);

/*
 * Only the matching, for tests and the benchmark: the rules that match EV
 * (their names into NAMES, at most MAX), no alert, no state (a threshold
 * rule counts as matching whenever its conditions hold).
 */
unsigned int rules_match(const struct ruleset *rs,
			 const struct iotsec_event *ev, const char **names,
			 unsigned int max);

/* '*' any bytes ('/' too), '?' one byte, '\' quotes the next. */
bool rules_glob(const char *pat, const char *s, size_t len);

#endif /* IOTSEC_RULES_H */
