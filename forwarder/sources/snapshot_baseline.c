// SPDX-License-Identifier: MIT
/*
 * OSBaseline: the baseline checks, iotsec-bl-001 to iotsec-bl-010.
 */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <shadow.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "common/util.h"
#include "pipeline/serialize.h"
#include "sources/snapshot_priv.h"

enum bl_result { BL_PASS, BL_FAIL, BL_ERR };

static const char *const bl_results[] = { "Pass", "Fail", "Err" };

static void bl_add(struct json_object *payload, const char *id,
		   const char *desc, const char *severity, enum bl_result r,
		   const char *error, struct json_object *extra)
{
	struct json_object *it = json_object_new_object();

	if (!it) {
		json_object_put(extra);
		return;
	}
	snap_str(it, "Description", desc);
	snap_str(it, "CceId", id);
	snap_str(it, "Result", bl_results[r]);
	snap_str(it, "Error", error ? error : "");
	snap_str(it, "Severity", severity);
	if (extra)
		json_object_object_add(it, "ExtraDetails", extra);
	json_object_array_add(payload, it);
}

/* The check could not be made: PATH gave ERR. */
static void bl_error(struct json_object *payload, const char *id,
		     const char *desc, const char *severity, const char *path,
		     int err)
{
	char msg[300];

	errf(msg, sizeof(msg), "%.200s: %s", path, strerror(err));
	bl_add(payload, id, desc, severity, BL_ERR, msg, NULL);
}

/*
 * sshd_config keyword KEY: sshd takes the first value it reads, following
 * Include lines (globs, relative to /etc/ssh) where they stand. Match
 * blocks only narrow what follows, so they end the global section.
 */
static int sshd_value(const char *path, const char *key, char *out,
		      size_t len, int depth)
{
	char line[1024], *k, *v;
	FILE *f;
	int ret = 0;

	if (depth > 8)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		k = line + strspn(line, " \t");
		if (*k == '#' || *k == '\n' || !*k)
			continue;
		v = k + strcspn(k, " \t=");
		if (!*v)
			continue;
		*v++ = '\0';
		v += strspn(v, " \t=");
		v[strcspn(v, " \t\r\n")] = '\0';
		if (!strcasecmp(k, "Match"))
			break;
		if (!strcasecmp(k, "Include")) {
			char pat[PATH_MAX];
			glob_t gl;
			size_t i;

			if (*v == '/')
				snprintf(pat, sizeof(pat), "%s", v);
			else
				snprintf(pat, sizeof(pat), "/etc/ssh/%s", v);
			if (glob(pat, 0, NULL, &gl) == 0) {
				for (i = 0; !ret && i < gl.gl_pathc; i++)
					ret = sshd_value(gl.gl_pathv[i], key,
							 out, len, depth + 1) > 0;
				globfree(&gl);
			}
			continue;
		}
		if (!strcasecmp(k, key)) {
			snprintf(out, len, "%s", v);
			ret = 1;
		}
	}
	fclose(f);
	return ret;
}

static void check_sshd(struct json_object *payload,
		       const struct snapshot_config *c, const char *id,
		       const char *key, const char *def, const char *good,
		       const char *desc, const char *sev)
{
	char val[128];
	struct json_object *x;
	int ret;

	ret = sshd_value(c->sshd_config, key, val, sizeof(val), 0);
	if (ret == -ENOENT) {
		x = json_object_new_object();
		snap_str(x, "Reason", "sshd is not installed");
		bl_add(payload, id, desc, sev, BL_PASS, NULL, x);
		return;
	}
	if (ret < 0) {
		bl_error(payload, id, desc, sev, c->sshd_config, -ret);
		return;
	}
	if (!ret)
		snprintf(val, sizeof(val), "%s", def);
	snap_clean(val);
	x = json_object_new_object();
	snap_fmt(x, key, "%s%s", val, ret ? "" : " (default)");
	bl_add(payload, id, desc, sev,
	       strcasecmp(val, good) ? BL_FAIL : BL_PASS, NULL, x);
}

/* The next account in F that fails the check, or NULL at the end. */
static const char *empty_password(FILE *f)
{
	struct spwd *sp;

	while ((sp = fgetspent(f)))
		if (sp->sp_pwdp && !sp->sp_pwdp[0])
			return sp->sp_namp;
	return NULL;
}

static const char *uid0_not_root(FILE *f)
{
	struct passwd *pw;

	while ((pw = fgetpwent(f)))
		if (pw->pw_uid == 0 && strcmp(pw->pw_name, "root"))
			return pw->pw_name;
	return NULL;
}

/* Fails with the accounts of PATH that NEXT finds, passes without any. */
static void check_accounts(struct json_object *payload, const char *id,
			   const char *desc, const char *path,
			   const char *(*next)(FILE *f))
{
	char list[1024] = "";
	struct json_object *x;
	const char *name;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		bl_error(payload, id, desc, "Critical", path, errno);
		return;
	}
	while ((name = next(f)))
		snap_append(list, sizeof(list), name);
	fclose(f);
	snap_clean(list);
	x = json_object_new_object();
	if (list[0])
		snap_str(x, "Accounts", list);
	bl_add(payload, id, desc, "Critical", list[0] ? BL_FAIL : BL_PASS,
	       NULL, x);
}

struct ww_walk {
	unsigned int budget;
	int64_t deadline_ms;
	unsigned int found;
	char list[1024];
	bool truncated;
};

/* World-writable and not sticky: anyone may replace what is there. */
static void ww_walk(struct ww_walk *w, const char *dir, dev_t dev, int depth)
{
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX];
	DIR *d;

	if (depth > 16)
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!w->budget || (!(w->budget % 256) &&
				   mono_ms() > w->deadline_ms)) {
			w->truncated = true;
			w->budget = 0;
			break;
		}
		w->budget--;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (lstat(path, &st) || S_ISLNK(st.st_mode))
			continue;
		if ((st.st_mode & S_IWOTH) &&
		    !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))) {
			w->found++;
			if (strlen(w->list) + strlen(path) + 2 < sizeof(w->list))
				snap_append(w->list, sizeof(w->list), path);
		}
		if (S_ISDIR(st.st_mode) && st.st_dev == dev)
			ww_walk(w, path, dev, depth + 1);
	}
	closedir(d);
}

static void check_world_writable(struct json_object *payload,
				 const struct snapshot_config *c)
{
	struct ww_walk w = {
		.budget = c->ww_max_entries,
		.deadline_ms = mono_ms() + c->ww_max_ms,
	};
	struct json_object *x;
	struct stat st;
	size_t i;

	for (i = 0; i < SNAPSHOT_WW_ROOTS_MAX && c->ww_roots[i]; i++) {
		/* /bin -> usr/bin on merged-/usr systems: walk it once. */
		if (lstat(c->ww_roots[i], &st) || S_ISLNK(st.st_mode))
			continue;
		ww_walk(&w, c->ww_roots[i], st.st_dev, 0);
	}
	snap_clean(w.list);
	x = json_object_new_object();
	snap_fmt(x, "Count", "%u", w.found);
	if (w.list[0])
		snap_str(x, "Paths", w.list);
	if (w.truncated)
		snap_fmt(x, "Truncated",
			 "walk stopped after %u entries or %u ms",
			 c->ww_max_entries, c->ww_max_ms);
	bl_add(payload, "iotsec-bl-006",
	       "No world-writable files or directories (without sticky bit) in system paths",
	       "Important", w.found ? BL_FAIL : BL_PASS, NULL, x);
}

static void check_module(struct json_object *payload,
			 const struct snapshot_config *c)
{
	char path[PATH_MAX];
	bool loaded;

	snprintf(path, sizeof(path), "%s/%s", c->sys_module, c->module_name);
	loaded = access(path, F_OK) == 0;
	bl_add(payload, "iotsec-bl-007",
	       "The iotsec kernel module is loaded", "Important",
	       loaded ? BL_PASS : BL_FAIL, NULL, NULL);
}

static void check_file_mode(struct json_object *payload, const char *id,
			    const char *path, mode_t forbidden, const char *desc)
{
	struct stat st;
	struct json_object *x;

	if (stat(path, &st)) {
		bl_error(payload, id, desc, "Critical", path, errno);
		return;
	}
	x = json_object_new_object();
	snap_fmt(x, "Mode", "%04o", (unsigned int)(st.st_mode & 07777));
	bl_add(payload, id, desc, "Critical",
	       st.st_mode & forbidden ? BL_FAIL : BL_PASS, NULL, x);
}

static void check_aslr(struct json_object *payload,
		       const struct snapshot_config *c)
{
	static const char id[] = "iotsec-bl-010";
	static const char desc[] =
		"Address space layout randomisation is full (2)";
	char path[PATH_MAX], buf[16];
	struct json_object *x;

	snprintf(path, sizeof(path), "%s/sys/kernel/randomize_va_space",
		 c->proc);
	if (!snap_read_line(path, buf, sizeof(buf))) {
		bl_error(payload, id, desc, "Important", path, errno);
		return;
	}
	x = json_object_new_object();
	snap_str(x, "randomize_va_space", buf);
	bl_add(payload, id, desc, "Important",
	       strcmp(buf, "2") ? BL_FAIL : BL_PASS, NULL, x);
}

struct json_object *snapshot_os_baseline(const struct snapshot_config *c)
{
	struct json_object *payload = json_object_new_array();

	if (!payload)
		return NULL;
	check_sshd(payload, c, "iotsec-bl-001", "PermitRootLogin",
		   "prohibit-password", "no",
		   "Root cannot log in over SSH (PermitRootLogin no)",
		   "Critical");
	check_sshd(payload, c, "iotsec-bl-002", "PermitEmptyPasswords", "no",
		   "no", "SSH refuses empty passwords (PermitEmptyPasswords no)",
		   "Critical");
	check_sshd(payload, c, "iotsec-bl-003", "PasswordAuthentication",
		   "yes", "no",
		   "SSH accepts keys only (PasswordAuthentication no)",
		   "Warning");
	check_accounts(payload, "iotsec-bl-004",
		       "No account has an empty password", c->shadow,
		       empty_password);
	check_accounts(payload, "iotsec-bl-005", "Only root has user id 0",
		       c->passwd, uid0_not_root);
	check_world_writable(payload, c);
	check_module(payload, c);
	check_file_mode(payload, "iotsec-bl-008", c->shadow,
			S_IROTH | S_IWOTH | S_IWGRP,
			"The shadow file is not readable by others");
	check_file_mode(payload, "iotsec-bl-009", c->passwd,
			S_IWOTH | S_IWGRP,
			"The passwd file is writable by its owner only");
	check_aslr(payload, c);
	return ser_event("Security", "Periodic", "OSBaseline", payload);
}
