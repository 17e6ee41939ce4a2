/* SPDX-License-Identifier: MIT */
/*
 * The learned baseline (docs/rules.md, "Learned baseline"). During a
 * learning window the stage records what the device normally does:
 *
 *   process     (executable, parent executable)          exec
 *   connection  (executable, port, protocol, direction)  connect, accept
 *   listen      (listening port, protocol, executable)   listen
 *
 * After the window, an event whose tuple the model lacks is a deviation:
 * a RuleAlert named baseline-process, baseline-connection or
 * baseline-listen, with hit counts per tuple as rules have them per rule.
 * The model is a hash table (one probe per event, no allocation), bounded
 * (max_entries: once full, learning stops, one baseline-full alert says
 * so, the refusals are counted), and kept on disk: written atomically,
 * read back at start with its window's start; a file that does not parse
 * is reported and a new learning window starts.
 */
#ifndef IOTSEC_BASELINE_H
#define IOTSEC_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "intake/event.h"
#include "pipeline/rules.h"

struct ser;
struct json_object;
struct bl_save;

enum bl_kind { BL_PROCESS = 1, BL_CONNECTION, BL_LISTEN, BL_KINDS };
enum { BL_DIR_OUT = 1, BL_DIR_IN };

#define BASELINE_MAX_ENTRIES_DEFAULT 10000
#define BASELINE_MAX_ENTRIES_MAX 1000000
#define BASELINE_WINDOW_DEFAULT_MS (7ULL * 86400000)
/* the longest window the configuration allows (learning_window: 365d);
 * learning time is counted up to it, a file saying more is refused */
#define BASELINE_WINDOW_MAX_MS (365ULL * 86400000)
/* distinct deviations itemised per aggregation interval */
#define BASELINE_DEV_MAX 64

struct bl_entry {
	uint64_t hash;
	char *exe, *parent;		/* parent: BL_PROCESS only, else "" */
	size_t exe_len, parent_len;
	uint16_t port;
	uint8_t kind, proto, dir;
	uint64_t count;			/* events seen while learning */
	/* deviations only: hits held since the last alert */
	uint64_t window_end_ms, pending, first_ns, last_ns;
	struct record *held;
};

struct bl_table {
	struct bl_entry **slot;		/* open addressing, linear probing */
	size_t cap, n;			/* cap: a power of two, >= 2 * max */
};

struct baseline_stats {
	uint64_t events;		/* seen by the stage */
	uint64_t learned;		/* new tuples added to the model */
	uint64_t refused_full;		/* new tuples not added: model full */
	uint64_t deviations;		/* events whose tuple was not learned */
	uint64_t alerts, suppressed;	/* sent, held into a later alert */
	uint64_t untracked;		/* deviations not itemised: more
					 * distinct ones at once than the
					 * table holds (one overflow alert
					 * counts them) */
	uint64_t saves, save_errors;
	uint64_t restarts;		/* reset or re-learn requests */
	uint64_t suspect;		/* not learned: a rule or an indicator
					 * alerted on the event */
	uint64_t forgotten;		/* learned, then removed: its
					 * executable's hash is listed */
};

struct baseline {
	/* configuration */
	bool enabled;
	uint64_t window_ms;
	size_t max_entries;
	char *path;			/* model file; NULL: not kept */
	uint64_t aggregate_ms;		/* deviations, as rules' hits */
	/* the model */
	uint64_t started_ms;		/* the window's start, unix ms
					 * (shown; never the window's end) */
	uint64_t learned_ms;		/* learning time counted up to
					 * mark_ms (kept in the file) */
	uint64_t mark_ms;		/* on the loop's clock */
	uint64_t last_now_ms;		/* the loop's clock, last seen */
	bool ended;			/* the window ended (kept: a clock
					 * set back does not reopen it) */
	bool full;			/* learning stopped at max_entries */
	bool full_alerted;
	struct bl_table model;
	uint64_t end_mono_ms;		/* the window's end on the loop's clock */
	bool dirty;			/* changed since the last save */
	uint64_t saved_learned_ms;	/* the learning time last saved (or
					 * read): more since is unsaved too */
	bool on_disk;			/* read from or written to the file */
	bool migrate;			/* read from a version 1 file */
	uint64_t cut;			/* file entries over max_entries */
	uint64_t next_save_ms;
	/* deviations within their aggregation interval */
	struct bl_table dev;
	/* deviations past the table's BASELINE_DEV_MAX, counted */
	struct {
		uint64_t window_end_ms, pending, first_ns, last_ns;
		struct record *held;
	} over;
	/* the alerts */
	struct bl_save *job;		/* a save in a thread, or NULL */
	struct ser *ser;
	rules_out_fn out;
	void *ctx;
	/* a notice for the log (the model full), or NULL; CTX as OUT's */
	void (*note)(void *ctx, const char *msg);
	struct baseline_stats stats;
	char error[256];		/* the last load or save error, "" */
};

/*
 * iotsecctl baseline reset|relearn|show: SIGUSR1 queued (sigqueue(3))
 * to iotsecd with one of these; done when the stats file's
 * baseline.restarts (reset, relearn) or .saves + .save_errors (save:
 * the model written now, for show) grows.
 */
enum { BASELINE_REQ_RESET = 1, BASELINE_REQ_RELEARN = 2,
       BASELINE_REQ_SAVE = 3 };

/*
 * The wall clock, unix ms (tests set another): the window's start as
 * shown, and a version 1 file's learning time. The window itself is
 * counted on the loop's clock (the NOW_MS arguments), so setting the
 * date neither ends nor extends it.
 */
extern uint64_t (*baseline_clock)(void);

/* Everything off and empty; OUT gets the alerts. */
void baseline_init(struct baseline *b, struct ser *ser, rules_out_fn out,
		   void *ctx);
/*
 * Settings (PATH copied). At the first call, and whenever the path
 * changes, the model is read from PATH: a missing file starts a new
 * window; one that does not parse too, with the reason in b->error
 * (returned as -EINVAL, logged by the caller). A shorter or longer window
 * applies to the window under way.
 */
int baseline_configure(struct baseline *b, bool enabled, uint64_t window_ms,
		       size_t max_entries, const char *path,
		       uint64_t aggregate_ms, uint64_t now_ms);
/* Held hits are dropped (baseline_flush() sends them); not saved. */
void baseline_fini(struct baseline *b);

/* Every event, enriched: learns or checks. 1 for a deviation, else 0. */
unsigned int baseline_eval(struct baseline *b, const struct iotsec_event *ev,
			   uint64_t now_ms);
/*
 * The same, SUSPECT when a rule or an indicator alerted on EV: while
 * learning such an event is not learned (an intruder active during the
 * window is still reported after it); after, it is checked as any.
 */
unsigned int baseline_check(struct baseline *b, const struct iotsec_event *ev,
			    uint64_t now_ms, bool suspect);
/*
 * While learning, EV's tuple out of the model again (an exec whose
 * executable's hash turned out listed: the hash comes after the event
 * was learned). 1 if it was there, else 0.
 */
unsigned int baseline_forget(struct baseline *b, const struct iotsec_event *ev,
			     uint64_t now_ms);
/* The window's end, held deviations due, a save due; ms until the next. */
uint64_t baseline_tick(struct baseline *b, uint64_t now_ms);
/* Send every held hit now. */
void baseline_flush(struct baseline *b, uint64_t now_ms);

/*
 * A new learning window from now: RESET empties the model first,
 * otherwise what was learned stays and the new window adds to it
 * (re-learn). Saved at once.
 */
int baseline_restart(struct baseline *b, bool reset, uint64_t now_ms);

/*
 * The model to b->path (atomically), now; 0 or -errno, the reason in
 * b->error. The saves baseline_tick() makes while learning and at the
 * window's end run in a thread (the disk's waits are not the loop's);
 * this one waits for such a save in flight first.
 */
int baseline_save(struct baseline *b);
/*
 * At the daemon's exit (NOW_MS its loop's clock): the model written if
 * the file lacks anything, the learning time counted up to now included
 * (so always while learning). 0, or as baseline_save.
 */
int baseline_exit_save(struct baseline *b, uint64_t now_ms);
/*
 * Read the model file PATH into B (its model only; the settings stay).
 * 0, -ENOENT, or -EINVAL with "PATH:LINE: reason" in b->error.
 */
int baseline_load(struct baseline *b, const char *path);

/*
 * The same from the text BUF (LEN bytes and a NUL after them; changed in
 * place), PATH naming it in errors: the parser alone, for the fuzzer.
 */
int baseline_parse(struct baseline *b, const char *path, char *buf,
		   size_t len);

/* "learning", "enforcing", "off" */
const char *baseline_state(const struct baseline *b, uint64_t now_ms);
/* The summary for the stats file and iotsecctl. */
struct json_object *baseline_json(const struct baseline *b, uint64_t now_ms);
/* One line per learned tuple, for iotsecctl baseline show. */
void baseline_print(const struct baseline *b, void *file);

/* The tuple of EV, for tests: 0 when EV has none. */
int baseline_kind_of(const struct iotsec_event *ev);

#endif /* IOTSEC_BASELINE_H */
