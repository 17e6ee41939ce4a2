// SPDX-License-Identifier: MIT
/*
 * SystemInformation: uname, os-release, memory, CPU, boot device, BIOS.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <json-c/json.h>

#include "pipeline/serialize.h"
#include "sources/snapshot_priv.h"

/* KEY=value or KEY="value" from an os-release file, into OUT. */
static bool os_release(const char *path, const char *key, char *out,
		       size_t len)
{
	char line[512];
	size_t kl = strlen(key);
	FILE *f = fopen(path, "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *v, *e;

		if (strncmp(line, key, kl) || line[kl] != '=')
			continue;
		v = line + kl + 1;
		v[strcspn(v, "\n")] = '\0';
		if (*v == '"' || *v == '\'') {
			e = strrchr(v + 1, *v);
			if (e)
				*e = '\0';
			v++;
		}
		snprintf(out, len, "%s", v);
		snap_clean(out);
		found = true;
	}
	fclose(f);
	return found;
}

static long long meminfo(const char *proc, const char *key)
{
	char path[PATH_MAX], line[256];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/meminfo", proc);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = atoll(line + kl + 1);
			break;
		}
	fclose(f);
	return v;
}

struct json_object *snapshot_system_information(const struct snapshot_config *c)
{
	struct json_object *payload, *it, *x;
	char buf[512], path[PATH_MAX], line[512];
	const char *osr = c->os_release;
	long long total, freemem, swap, swapfree;
	struct utsname u;
	int cpus = 0;
	FILE *f;

	payload = json_object_new_array();
	it = json_object_new_object();
	x = json_object_new_object();
	if (!payload || !it || !x) {
		json_object_put(payload);
		json_object_put(it);
		json_object_put(x);
		return NULL;
	}
	if (access(osr, R_OK))
		osr = "/usr/lib/os-release";
	uname(&u);
	snap_str(it, "OSName", os_release(osr, "NAME", buf, sizeof(buf)) ?
		buf : u.sysname);
	if (os_release(osr, "VERSION_ID", buf, sizeof(buf)) ||
	    os_release(osr, "VERSION", buf, sizeof(buf)))
		snap_str(it, "OSVersion", buf);
	else
		snap_str(it, "OSVersion", u.release);
	if (os_release(osr, "ID", buf, sizeof(buf)))
		snap_str(it, "OSVendor", buf);
	snap_str(it, "OsArchitecture", u.machine);
	snap_str(it, "HostName", u.nodename);
	if (snap_read_line("/sys/class/dmi/id/bios_version", buf, sizeof(buf)))
		snap_str(it, "BIOSVersion", buf);
	snprintf(path, sizeof(path), "%s/cmdline", c->proc);
	if (snap_read_line(path, line, sizeof(line))) {
		char *r = strstr(line, "root=");

		if (r && (r == line || r[-1] == ' ')) {
			r += 5;
			r[strcspn(r, " ")] = '\0';
			snap_str(it, "BootDevice", r);
		}
	}
	total = meminfo(c->proc, "MemTotal");
	freemem = meminfo(c->proc, "MemFree");
	swap = meminfo(c->proc, "SwapTotal");
	swapfree = meminfo(c->proc, "SwapFree");
	if (total >= 0) {
		json_object_object_add(it, "TotalPhysicalMemoryInKB",
				       json_object_new_int64(total));
		json_object_object_add(it, "TotalVirtualMemoryInKB",
				       json_object_new_int64(total + (swap > 0 ? swap : 0)));
	}
	if (freemem >= 0) {
		json_object_object_add(it, "FreePhysicalMemoryInKB",
				       json_object_new_int64(freemem));
		json_object_object_add(it, "FreeVirtualMemoryInKB",
				       json_object_new_int64(freemem + (swapfree > 0 ? swapfree : 0)));
	}

	snap_str(x, "KernelName", u.sysname);
	snap_str(x, "KernelRelease", u.release);
	snap_str(x, "KernelVersion", u.version);
	if (os_release(osr, "PRETTY_NAME", buf, sizeof(buf)))
		snap_str(x, "PrettyName", buf);
	snprintf(path, sizeof(path), "%s/cpuinfo", c->proc);
	f = fopen(path, "re");
	buf[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "processor", 9))
			cpus++;
		if (!buf[0] && (!strncmp(line, "model name", 10) ||
				!strncmp(line, "Model", 5))) {
			char *v = strchr(line, ':');

			if (v) {
				v += 1 + strspn(v + 1, " \t");
				v[strcspn(v, "\n")] = '\0';
				snprintf(buf, sizeof(buf), "%s", v);
				snap_clean(buf);
			}
		}
	}
	if (f)
		fclose(f);
	if (buf[0])
		snap_str(x, "CpuModel", buf);
	snap_fmt(x, "CpuCount", "%ld",
		 cpus ? (long)cpus : sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", c->proc);
	if (snap_read_line(path, buf, sizeof(buf)))
		snap_str(x, "BootId", buf);
	snprintf(path, sizeof(path), "%s/uptime", c->proc);
	if (snap_read_line(path, buf, sizeof(buf)))
		snap_fmt(x, "UptimeSeconds", "%lld", atoll(buf));
	json_object_object_add(it, "ExtraDetails", x);
	json_object_array_add(payload, it);
	return ser_event("Security", "Periodic", "SystemInformation", payload);
}
