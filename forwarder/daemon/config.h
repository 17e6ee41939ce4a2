/* SPDX-License-Identifier: MIT */
/*
 * iotsecd's configuration: one YAML file, /etc/iotsec/iotsecd.yaml.
 * Every error names file:line:column and what was expected there.
 */
#ifndef IOTSEC_CONFIG_H
#define IOTSEC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "intake/event.h"
#include "transport/mqtt.h"

#define IOTSEC_CONFIG_PATH "/etc/iotsec/iotsecd.yaml"
/* iotsecd's counters, for iotsecctl (daemon/stats.c) */
#define IOTSEC_STATS_PATH "/run/iotsec/iotsecd.json"
#define IOTSEC_HUB_MAX_MESSAGE (256 * 1024)
#define IOTSEC_MIN_MESSAGE 1024

enum prio { PRIO_OFF, PRIO_LOW, PRIO_HIGH, PRIO_ALERT, PRIO_N };

struct type_config {
	enum prio prio;
	bool aggregate;
};

/* The SDK socket (sdk_server.h); strings owned, NULL: the default. */
struct sdk_settings {
	bool enabled;
	char *socket;			/* NULL: IOTSEC_DEFAULT_SOCKET */
	mode_t mode;			/* socket file mode */
	gid_t group;			/* (gid_t)-1: the daemon's */
	unsigned int max_clients, max_per_uid;
	unsigned int rate, burst;	/* events/s per user, bucket */
	size_t max_message;		/* bytes, <= IOTSEC_MAX_MESSAGE */
};

/* The login watcher (login.h); strings owned, NULL: the system's. */
struct login_settings {
	bool enabled;
	char *wtmp, *btmp, *utmp;
	char *state;			/* offsets across restarts; NULL: */
					/* /run/iotsec/login.state, "": none */
	uint64_t aggregate_ms;		/* failed logins, by user+address */
};

/* The budget all local sources share (local.h), events/s and bucket. */
struct local_settings {
	unsigned int rate, burst;
};

struct snapshot_settings {
	uint64_t interval_ms;		/* 0: no snapshots */
	uint64_t first_delay_ms;	/* after start */
	bool listening_ports, local_users, system_information, os_baseline;
};

/* The spool (spool.h) between the queues and MQTT. */
#define IOTSEC_SPOOL_PATH	"/var/lib/iotsec/spool"
#define IOTSEC_SPOOL_SIZE	(8ULL << 20)
#define IOTSEC_SPOOL_MIN	(64ULL << 10)
#define IOTSEC_SPOOL_MAX	(4ULL << 30)
#define IOTSEC_SPOOL_SYNC_MS	1000

struct spool_settings {
	char *path;			/* NULL: IOTSEC_SPOOL_PATH, "": memory */
	uint64_t size;			/* bytes, on disk or in memory */
	uint64_t sync_ms;		/* fdatasync interval, 0: each record */
	unsigned int local_share;	/* percent of size for local events */
};

/*
 * Where a value in force comes from (docs/twin.md): the default, the YAML
 * file, or the module twin's desired properties (daemon/twin.c).
 */
enum cfg_source { SRC_DEFAULT, SRC_YAML, SRC_TWIN };
/* the settings the twin can set, at most (twin.c's table) */
#define TWIN_SETTINGS_MAX 64

/*
 * The YAML's twin: section, what the hub may change. ALLOW and LOCK hold
 * setting names or their prefixes ("events", "events.exec.priority").
 */
struct twin_settings {
	bool enabled;
	bool has_allow;			/* allow: given; else everything */
	char *allow[TWIN_SETTINGS_MAX];
	unsigned int n_allow;
	char *lock[TWIN_SETTINGS_MAX];
	unsigned int n_lock;
	char *state;			/* the applied twin configuration;
					 * NULL: twin.json next to the
					 * spool, "": not kept */
};

/* Detection rules (pipeline/rules.h, docs/rules.md). */
struct rules_settings {
	bool enabled;
	char *dir;			/* NULL: rules/ next to the config
				 * file, "": none */
	uint64_t aggregate_ms;		/* hits of a rule after its alert */
};

/*
 * Executable hashes and indicator lists (pipeline/hash.h, ioc.h,
 * docs/rules.md); paths owned, NULL: no list. Packages: the SBoM
 * snapshot's status files (NULL: the system's).
 */
struct detect_settings {
	bool hash_enabled;		/* Sha256 in ProcessCreate */
	unsigned int hash_cache;	/* entries */
	uint64_t hash_max_size;		/* bytes read at most */
	uint64_t hash_max_ms;		/* reading one file, at most */
	uint64_t hash_wait_ms;		/* an exec waits for its hash */
	char *ioc_hashes, *ioc_addresses, *ioc_domains, *ioc_paths;
	uint64_t ioc_refresh_ms;	/* domains resolved again */
	bool packages;			/* the SoftwareInventory snapshot */
	char *dpkg_status, *opkg_status;
	/*
	 * indicators.{hashes,addresses,domains,paths} from the twin's
	 * desired properties (docs/twin.md): entries, in enum ioc_kind's
	 * order, checked with the files' lists (their own alerts' source)
	 */
#define TWIN_IOC_LISTS 4
#define TWIN_IOC_MAX 128		/* entries per list */
#define TWIN_IOC_LEN 255		/* bytes per entry */
#define TWIN_IOC_TOTAL 16384		/* bytes of the four lists */
	char **twin_ioc[TWIN_IOC_LISTS];
	unsigned int n_twin_ioc[TWIN_IOC_LISTS];
};

/*
 * The learned baseline (pipeline/baseline.h, docs/rules.md) and rules
 * turned off by name (the twin's rules.disabled).
 */
#define RULES_OFF_MAX 256
struct baseline_settings {
	bool enabled;
	uint64_t window_ms;		/* the learning window */
	uint64_t max_entries;		/* tuples the model holds */
	char *state;			/* the model; NULL: baseline next to
					 * the spool, "": not kept */
	char *rules_off[RULES_OFF_MAX];	/* rules.disabled */
	unsigned int n_rules_off;
};

struct config {
	struct mqtt_config mqtt;
	char agent_id[37];		/* GUID */
	uint64_t interval_ms[PRIO_N];	/* flush period per priority */
	struct type_config types[IOTSEC_EVENT_MAX + 1];
	size_t max_message_size;	/* <= 256 KiB */
	size_t queue_limit;		/* bytes of pending events per queue */
	uint64_t statistics_ms;		/* operational events period */
	uint64_t heartbeat_ms;		/* heartbeat period, 0: none */
	uint64_t ack_timeout_ms;	/* in flight this long without a
					 * PUBACK: published again */
	uint32_t argv_max;
	size_t receive_buffer;		/* netlink socket, bytes */
	char *watch[IOTSEC_WATCH_MAX];
	unsigned int n_watch;
	bool exclude_self;
	bool enrich_users, enrich_parent, enrich_container;
	int log_level;			/* syslog LOG_* */
	struct sdk_settings sdk;
	struct login_settings logins;
	struct local_settings local;
	struct snapshot_settings snapshots;
	struct spool_settings spool;
	struct twin_settings twin;
	/* per twin setting (twin_setting_id()): an enum cfg_source */
	unsigned char src[TWIN_SETTINGS_MAX];
	struct rules_settings rules;
	struct detect_settings detect;
	struct baseline_settings baseline;
	/* "NAME:LINE:COL: ..." when it loads but is probably not meant so */
	char warning[256];
};

void config_defaults(struct config *c);
void config_free(struct config *c);
/*
 * Parse a configuration from BUF (LEN bytes) into C (which the caller
 * frees with config_free, also on error). NAME is the file name used in
 * errors. Returns 0, or -EINVAL with "NAME:LINE:COL: ..." in ERR.
 */
int config_parse(struct config *c, const char *name, const char *buf,
		 size_t len, char *err, size_t errlen);
int config_load(struct config *c, const char *path, char *err,
		size_t errlen);
/*
 * The file's text for config_parse() (at most 1 MiB, NUL-terminated),
 * freed (and wiped: it may hold keys) with config_text_free().
 */
int config_read(const char *path, char **text, size_t *len, char *err,
		size_t errlen);
void config_text_free(char *text, size_t len);

/* "30s", "5m", "250ms", "1h", "2d", ISO-8601 "PT5M"; 0 or -EINVAL. */
int parse_duration(const char *s, uint64_t *ms);
/* ISO-8601 only, PnYnMnWnDTnHnMnS (a year 365 days, a month 30). */
int parse_iso8601_duration(const char *s, uint64_t *ms);
/* "4096", "64KiB", "10MiB", "1GiB", "100kB"; 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *bytes);
const char *prio_name(enum prio p);

/*
 * The default AgentId: this machine's id from MACHINE_ID_PATH (32 hex
 * digits, machine-id(5)) made application-specific, never the raw id:
 * HMAC-SHA256 keyed by the 16 bytes of the machine id over iotsec's
 * application id, the first 16 bytes as a UUID version 4. Without a
 * machine id, a fixed "00000000-0000-4000-8000-000000000000".
 * config_agent_id() does it for the text of a machine id; -EINVAL when
 * that is not 32 hex digits.
 */
int config_agent_id(const char *machine_id, char id[37]);
void config_default_agent_id(struct config *c, const char *machine_id_path);

#endif /* IOTSEC_CONFIG_H */
