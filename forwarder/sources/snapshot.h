/* SPDX-License-Identifier: MIT */
/*
 * Periodic snapshots of the device's state as Azure security events
 * (Category "Periodic"): ListeningPorts, LocalUsers, SystemInformation
 * and OSBaseline. Each call reads the system once and returns a new event
 * object {EventType, Category, Name, IsEmpty, PayloadSchemaVersion,
 * Payload} for the daemon to wrap (Id, timestamps) and queue, or NULL when
 * out of memory.
 *
 * They run on the daemon's snapshot timer, in the loop, but for the
 * ListeningPorts collection (below), which runs in a thread: every read
 * is of /proc, /sys or small files in /etc, and the one walk of a file
 * tree (world-writable files, OSBaseline) is bounded by ww_max_entries
 * and ww_max_ms, so that a slow file system (9p, NFS, an SD card) cannot
 * hold the loop; a walk cut short says so in the check's ExtraDetails.
 *
 * Every path is in struct snapshot_config so that tests (and systems
 * with another layout) can point them elsewhere.
 */
#ifndef IOTSEC_SNAPSHOT_H
#define IOTSEC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define SNAPSHOT_WW_ROOTS_MAX 16
/* PackageInventory: dpkg's status, opkg's (two usual places; the first) */
#define PKG_SOURCES 3
#define PKG_PATH_MAX 256

struct snapshot_config {
	const char *proc;		/* "/proc" */
	const char *passwd;		/* "/etc/passwd" */
	const char *group;		/* "/etc/group" */
	const char *shadow;		/* "/etc/shadow" */
	const char *os_release;		/* "/etc/os-release" (else /usr/lib/) */
	const char *sshd_config;	/* "/etc/ssh/sshd_config" */
	const char *sys_module;		/* "/sys/module" */
	const char *module_name;	/* "iotsec" */
	/* Trees where no file or directory may be world-writable. */
	const char *ww_roots[SNAPSHOT_WW_ROOTS_MAX];
	unsigned int ww_max_entries;	/* walk budget, default 50000 */
	unsigned int ww_max_ms;		/* and in time, default 250 ms */
	/*
	 * Package status files (copied with the struct): dpkg's
	 * (/var/lib/dpkg/status), opkg's (/usr/lib/opkg/status, else
	 * /var/lib/opkg/status); "": none.
	 */
	char pkg_status[PKG_SOURCES][PKG_PATH_MAX];
};

void snapshot_config_defaults(struct snapshot_config *c);

/*
 * TCP sockets in LISTEN and unconnected bound UDP sockets, IPv4 and IPv6,
 * from <proc>/net/{tcp,tcp6,udp,udp6}. The owner, found by the socket
 * inode among <proc>/<pid>/fd, goes in ExtraDetails: ProcessId,
 * Executable, UserId (the socket's), Inode.
 */
struct json_object *snapshot_listening_ports(const struct snapshot_config *c);

/*
 * The same in two steps. snapshot_ports_collect() reads <PROC>/net and
 * walks <PROC>/<pid>/fd and the owners' exe links, into plain data (NULL:
 * no memory); it uses nothing else, so any thread may run it.
 * snapshot_ports_event() builds the event from it (the loop's part).
 */
struct ports_scan;
struct ports_scan *snapshot_ports_collect(const char *proc);
struct json_object *snapshot_ports_event(const struct ports_scan *s);
void snapshot_ports_free(struct ports_scan *s);

/*
 * snapshot_ports_collect() in a thread of its own, on a copy of PROC.
 * When the scan is there the thread writes 1 to the eventfd EFD (the
 * caller's, in its epoll set) and ends; ports_job_end() then joins it
 * without waiting and hands over the scan (NULL: no memory; free it with
 * snapshot_ports_free()). ports_job_end() before the end waits for it
 * (exit). Returns 0, or -errno when no thread could start (*J NULL):
 * then collect in place.
 */
struct ports_job;
int ports_job_start(struct ports_job **j, const char *proc, int efd);
const char *ports_job_proc(const struct ports_job *j);
struct ports_scan *ports_job_end(struct ports_job *j);

/* Every passwd account with its primary and supplementary groups. */
struct json_object *snapshot_local_users(const struct snapshot_config *c);

/* uname, os-release, memory, CPU, boot device, BIOS. */
struct json_object *snapshot_system_information(const struct snapshot_config *c);

/*
 * The baseline checks, one payload item each, Result Pass/Fail/Err.
 * CceId carries the check's stable iotsec id (iotsec-bl-NNN; see the table
 * in snapshot_baseline.c), since most have no CCE number of their own.
 */
struct json_object *snapshot_os_baseline(const struct snapshot_config *c);

/*
 * PackageInventory (snapshot_packages.c): the installed packages of the
 * status files, sorted, at most PKG_MAX; each file read up to
 * PKG_FILE_MAX bytes. rpm is not supported.
 */
#define PKG_MAX 20000
#define PKG_FILE_MAX (32u << 20)
#define PKG_PER_EVENT 200

struct pkg {
	char name[128], version[128], arch[32], source[8];
};

struct pkg_list {
	struct pkg *p;
	size_t n, cap;
	bool truncated;		/* more than PKG_MAX */
};

/* The installed packages of BUF (a status file) appended to L; -ENOMEM. */
int pkg_parse(struct pkg_list *l, const char *buf, size_t len,
	      const char *source);
int pkg_collect(const struct snapshot_config *c, struct pkg_list *l);
void pkg_list_free(struct pkg_list *l);
/* SHA-256 of the list: the content, to send it again only on a change */
void pkg_digest(const struct pkg_list *l, uint8_t out[32]);
/* The status files' identity (inode, size, mtime): cheap to look at. */
uint64_t pkg_stamp(const struct snapshot_config *c);
/* An array of PackageInventory events, PKG_PER_EVENT packages each. */
struct json_object *snapshot_packages_events(const struct pkg_list *l);

#endif /* IOTSEC_SNAPSHOT_H */
