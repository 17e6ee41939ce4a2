/* SPDX-License-Identifier: MIT */
/*
 * The module twin's desired properties as configuration (docs/twin.md):
 * Azure's agent-configuration object and iotsec's own, mapped onto
 * struct config over what the YAML file set; the applied document kept
 * on disk; the values in force and their sources as JSON for the
 * reported properties and iotsecctl. No daemon state here: twin_run.c
 * connects it to the loop. (twin_config.c: not twin.c, which the
 * transport has: libcore.a keeps one member per file name.)
 */
#ifndef IOTSEC_TWIN_H
#define IOTSEC_TWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/config.h"

struct json_object;
struct ser;

/* The desired property Azure's agents read their configuration from. */
#define TWIN_AZURE_KEY "ms_iotn:urn_azureiot_Security_SecurityAgentConfiguration"
/* iotsec's own settings, shaped as the YAML file */
#define TWIN_IOTSEC_KEY "iotsec"

/* The index of setting PATH ("events.exec.priority") or -1. */
int twin_setting_id(const char *path);
/* PREFIX is a setting or a prefix of some, on a '.' boundary. */
bool twin_setting_prefix(const char *prefix);
/* The name of setting ID, NULL past the last. */
const char *twin_setting_name(int id);
/* The hub may change setting ID under C's twin: section. */
bool twin_setting_allowed(const struct config *c, int id);

/* Azure's ConfigurationError types */
#define TWIN_ERR_TYPE "TypeMismatch"	/* the value cannot be used */
#define TWIN_ERR_CONFLICT "Conflict"	/* the local YAML does not allow it */
#define TWIN_ERRORS_MAX 16

struct twin_error {
	char key[160];		/* the desired property, e.g. iotsec.events.exec.priority */
	const char *type;	/* TWIN_ERR_* */
	char reason[200];
	char used[128];		/* the value that stays in force */
};

struct twin_errors {
	struct twin_error e[TWIN_ERRORS_MAX];
	unsigned int n;		/* kept */
	unsigned int total;	/* found, also past TWIN_ERRORS_MAX */
	const struct config *running;	/* for UsedConfiguration */
};

/*
 * Set on C (fresh from the YAML) what DESIRED (the two objects, as
 * twin_pick() returns them) asks. All or nothing: 0 when every key was
 * valid and allowed, else -EINVAL with every refusal in ERRS; C is then
 * partly changed and is to be thrown away. RUNNING (may be NULL) is the
 * configuration in force, whose values the errors name as the ones used.
 */
int twin_overlay(struct config *c, struct json_object *desired,
		 const struct config *running, struct twin_errors *errs);
/* A new object with only the desired keys iotsec reads; NULL: none. */
struct json_object *twin_pick(struct json_object *desired);
/*
 * BASE (may be NULL) with PATCH applied as the hub applies a desired
 * PATCH: objects merge key by key, a null removes the key. New object.
 */
struct json_object *twin_merge(struct json_object *base,
			       struct json_object *patch);
/* "$version" of a desired document, or -1. */
int64_t twin_version(struct json_object *desired);

/*
 * The applied document: written to PATH.tmp, synced, renamed over PATH,
 * the directory synced. 0 or -errno with the reason in ERR.
 */
int twin_save(const char *path, struct json_object *applied,
	      int64_t version, char *err, size_t errlen);
/*
 * Read it back: 0, -ENOENT when there is none, -EINVAL for a file that
 * is not one twin_save() wrote (the reason in ERR).
 */
int twin_load(const char *path, struct json_object **applied,
	      int64_t *version, char *err, size_t errlen);
/* Where C keeps it: twin.state_file, or twin.json next to the spool. */
void twin_state_path(const struct config *c, char *buf, size_t len);

/*
 * The values in force: {"events":{"exec":{"priority":{"value":"high",
 * "source":"default"}}},...} (nested: a twin key holds no '.').
 */
struct json_object *twin_effective(const struct config *c);
/* Azure's object as reported: {"highPriorityMessageFrequency":{"value":"PT7M"},...} */
struct json_object *twin_azure_effective(const struct config *c);
/* "PT7M", "P1DT2H", "PT0.25S", "PT0S" */
void twin_format_duration(uint64_t ms, char *buf, size_t len);
/* A setting's value in C as text, for UsedConfiguration. */
void twin_setting_text(const struct config *c, int id, char *buf, size_t len);

/*
 * One ConfigurationError event (Azure's schema) with an entry per error
 * of ERRS, as text in *OUT (malloc'd); VERSION goes in each entry's
 * ExtraDetails. 0 or -ENOMEM.
 */
int twin_config_error(struct ser *s, const struct twin_errors *errs,
		      int64_t version, uint64_t boot_ns, char **out,
		      size_t *len);

#endif /* IOTSEC_TWIN_H */
