// SPDX-License-Identifier: MIT
/*
 * Periodic snapshots (see snapshot.h): the defaults and the helpers the
 * collectors share. Each event has its own file: snapshot_ports.c
 * (ListeningPorts), snapshot_users.c (LocalUsers), snapshot_sysinfo.c
 * (SystemInformation), snapshot_baseline.c (OSBaseline).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>

#include "common/util.h"
#include "sources/snapshot_priv.h"

void snapshot_config_defaults(struct snapshot_config *c)
{
	static const char *const roots[] = {
		"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin",
		"/usr/local/sbin", "/lib", "/usr/lib", "/etc", "/boot",
	};
	size_t i;

	memset(c, 0, sizeof(*c));
	c->proc = "/proc";
	c->passwd = "/etc/passwd";
	c->group = "/etc/group";
	c->shadow = "/etc/shadow";
	c->os_release = "/etc/os-release";
	c->sshd_config = "/etc/ssh/sshd_config";
	c->sys_module = "/sys/module";
	c->module_name = "iotsec";
	for (i = 0; i < ARRAY_SIZE(roots); i++)
		c->ww_roots[i] = roots[i];
	c->ww_max_entries = 50000;
	snprintf(c->pkg_status[0], PKG_PATH_MAX, "/var/lib/dpkg/status");
	snprintf(c->pkg_status[1], PKG_PATH_MAX, "/usr/lib/opkg/status");
	snprintf(c->pkg_status[2], PKG_PATH_MAX, "/var/lib/opkg/status");
	c->ww_max_ms = 250;
}

void snap_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

void snap_fmt(struct json_object *o, const char *k, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snap_str(o, k, buf);
}

void snap_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

void snap_append(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? ";" : "", s);
}

bool snap_read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	if (ok) {
		out[strcspn(out, "\n")] = '\0';
		snap_clean(out);
	}
	return ok;
}
