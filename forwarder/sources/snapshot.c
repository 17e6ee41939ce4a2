// SPDX-License-Identifier: MIT
/*
 * Periodic snapshots (see snapshot.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <shadow.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "sources/snapshot.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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
	c->ww_max_ms = 250;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_fmt(struct json_object *o, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_fmt(struct json_object *o, const char *k, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	add_str(o, k, buf);
}

/* A Periodic Security event around PAYLOAD (taken). */
static struct json_object *periodic(const char *name, struct json_object *payload)
{
	struct json_object *ev;

	if (!payload)
		return NULL;
	ev = json_object_new_object();
	if (!ev) {
		json_object_put(payload);
		return NULL;
	}
	add_str(ev, "EventType", "Security");
	add_str(ev, "Category", "Periodic");
	add_str(ev, "Name", name);
	json_object_object_add(ev, "IsEmpty",
		json_object_new_boolean(json_object_array_length(payload) == 0));
	add_str(ev, "PayloadSchemaVersion", "1.0");
	json_object_object_add(ev, "Payload", payload);
	return ev;
}

/* Printable ASCII copy (values from files may hold anything). */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* ---- ListeningPorts ---------------------------------------------------- */

struct sock_ent {
	unsigned long inode;
	char addr[INET6_ADDRSTRLEN];
	unsigned int port;
	unsigned int uid;
	const char *proto;
	const char *family;
	pid_t pid;
};

struct sock_tab {
	struct sock_ent *e;
	size_t n, cap;
};

static int parse_addr(const char *hex, bool v6, char *out, size_t len)
{
	uint32_t a[4];
	size_t i;
	char w[9];

	if (strlen(hex) != (v6 ? 32 : 8))
		return -EINVAL;
	for (i = 0; i < (v6 ? 4 : 1); i++) {
		memcpy(w, hex + 8 * i, 8);
		w[8] = '\0';
		/* The kernel prints each native 32-bit word of the address. */
		a[i] = (uint32_t)strtoul(w, NULL, 16);
	}
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, out, len))
		return -EINVAL;
	return 0;
}

static void read_net(struct sock_tab *t, const char *proc, const char *file,
		     const char *proto, bool v6, bool udp)
{
	char path[PATH_MAX], line[512], local[64], remote[64];
	unsigned int st, uid;
	unsigned long inode;
	char *colon;
	FILE *f;

	snprintf(path, sizeof(path), "%s/net/%s", proc, file);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {	/* header */
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		struct sock_ent *e;

		if (sscanf(line, " %*u: %63s %63s %x %*s %*s %*s %u %*d %lu",
			   local, remote, &st, &uid, &inode) != 5)
			continue;
		/* TCP: LISTEN. UDP: bound and not connected (CLOSE, *:0). */
		if (!udp && st != 0x0a)
			continue;
		if (udp && (st != 0x07 || !strstr(remote, ":0000") ||
			    strspn(remote, "0") != strlen(remote) - 5))
			continue;
		colon = strchr(local, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 64;
			struct sock_ent *ne = realloc(t->e, cap * sizeof(*ne));

			if (!ne)
				break;
			t->e = ne;
			t->cap = cap;
		}
		e = &t->e[t->n];
		if (parse_addr(local, v6, e->addr, sizeof(e->addr)))
			continue;
		e->port = (unsigned int)strtoul(colon + 1, NULL, 16);
		e->uid = uid;
		e->inode = inode;
		e->proto = proto;
		e->family = v6 ? "IPv6" : "IPv4";
		e->pid = 0;
		t->n++;
	}
	fclose(f);
}

static int cmp_inode(const void *a, const void *b)
{
	const struct sock_ent *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Who holds each socket: the fds of every process. */
static void find_owners(struct sock_tab *t, const char *proc)
{
	char path[PATH_MAX], link[64];
	struct dirent *de, *fe;
	DIR *d, *fd;

	qsort(t->e, t->n, sizeof(*t->e), cmp_inode);
	d = opendir(proc);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "%s/%s/fd", proc, de->d_name);
		fd = opendir(path);
		if (!fd)
			continue;	/* gone, or not ours to see */
		while ((fe = readdir(fd))) {
			struct sock_ent key, *hit;
			char fpath[PATH_MAX + 300];
			ssize_t n;

			if (fe->d_name[0] == '.')
				continue;
			snprintf(fpath, sizeof(fpath), "%s/%s", path, fe->d_name);
			n = readlink(fpath, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (sscanf(link, "socket:[%lu]", &key.inode) != 1)
				continue;
			hit = bsearch(&key, t->e, t->n, sizeof(*t->e), cmp_inode);
			if (!hit)
				continue;
			/* Equal inodes sit together: mark them all. */
			while (hit > t->e && hit[-1].inode == key.inode)
				hit--;
			for (; hit < t->e + t->n && hit->inode == key.inode; hit++)
				if (!hit->pid)
					hit->pid = atoi(de->d_name);
		}
		closedir(fd);
	}
	closedir(d);
}

struct json_object *snapshot_listening_ports(const struct snapshot_config *c)
{
	struct sock_tab t = { 0 };
	struct json_object *payload;
	size_t i;

	read_net(&t, c->proc, "tcp", "TCP", false, false);
	read_net(&t, c->proc, "tcp6", "TCP", true, false);
	read_net(&t, c->proc, "udp", "UDP", false, true);
	read_net(&t, c->proc, "udp6", "UDP", true, true);
	find_owners(&t, c->proc);

	payload = json_object_new_array();
	for (i = 0; payload && i < t.n; i++) {
		struct sock_ent *e = &t.e[i];
		struct json_object *it = json_object_new_object();
		struct json_object *x = json_object_new_object();
		char path[PATH_MAX], exe[PATH_MAX];
		ssize_t n;

		if (!it || !x) {
			json_object_put(it);
			json_object_put(x);
			break;
		}
		add_str(it, "LocalAddress", e->addr);
		add_fmt(it, "LocalPort", "%u", e->port);
		add_str(it, "Protocol", e->proto);
		add_str(x, "Family", e->family);
		add_fmt(x, "UserId", "%u", e->uid);
		add_fmt(x, "Inode", "%lu", e->inode);
		if (e->pid) {
			add_fmt(x, "ProcessId", "%d", (int)e->pid);
			snprintf(path, sizeof(path), "%s/%d/exe", c->proc,
				 (int)e->pid);
			n = readlink(path, exe, sizeof(exe) - 1);
			if (n > 0) {
				exe[n] = '\0';
				clean(exe);
				add_str(x, "Executable", exe);
			}
		}
		json_object_object_add(it, "ExtraDetails", x);
		json_object_array_add(payload, it);
	}
	free(t.e);
	return periodic("ListeningPorts", payload);
}

/* ---- LocalUsers --------------------------------------------------------- */

struct grp_ent {
	gid_t gid;
	char *name;
	char **mem;
	size_t n_mem;
};

static void free_groups(struct grp_ent *g, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(g[i].name);
		for (j = 0; j < g[i].n_mem; j++)
			free(g[i].mem[j]);
		free(g[i].mem);
	}
	free(g);
}

static struct grp_ent *load_groups(const char *path, size_t *count)
{
	struct grp_ent *g = NULL, *ng;
	size_t n = 0, cap = 0, k;
	struct group *gr;
	FILE *f;

	*count = 0;
	f = fopen(path, "re");
	if (!f)
		return NULL;
	while ((gr = fgetgrent(f))) {
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			ng = realloc(g, cap * sizeof(*g));
			if (!ng)
				break;
			g = ng;
		}
		memset(&g[n], 0, sizeof(g[n]));
		g[n].gid = gr->gr_gid;
		g[n].name = strdup(gr->gr_name);
		for (k = 0; gr->gr_mem && gr->gr_mem[k]; k++)
			;
		g[n].mem = calloc(k + 1, sizeof(char *));
		if (g[n].mem)
			for (k = 0; gr->gr_mem && gr->gr_mem[k]; k++)
				g[n].mem[g[n].n_mem++] = strdup(gr->gr_mem[k]);
		n++;
	}
	fclose(f);
	*count = n;
	return g;
}

static void append(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? ";" : "", s);
}

struct json_object *snapshot_local_users(const struct snapshot_config *c)
{
	struct json_object *payload;
	struct grp_ent *g;
	struct passwd *pw;
	size_t ng, i, j;
	FILE *f;

	payload = json_object_new_array();
	if (!payload)
		return NULL;
	g = load_groups(c->group, &ng);
	f = fopen(c->passwd, "re");
	while (f && (pw = fgetpwent(f))) {
		char ids[1024] = "", names[2048] = "", num[16], s[256];
		struct json_object *it = json_object_new_object();
		struct json_object *x = json_object_new_object();
		const char *primary = NULL;

		if (!it || !x) {
			json_object_put(it);
			json_object_put(x);
			break;
		}
		for (i = 0; i < ng; i++)
			if (g[i].gid == pw->pw_gid)
				primary = g[i].name;
		snprintf(num, sizeof(num), "%u", (unsigned int)pw->pw_gid);
		append(ids, sizeof(ids), num);
		append(names, sizeof(names), primary ? primary : num);
		for (i = 0; i < ng; i++) {
			if (g[i].gid == pw->pw_gid)
				continue;
			for (j = 0; j < g[i].n_mem; j++) {
				if (!g[i].mem[j] || strcmp(g[i].mem[j], pw->pw_name))
					continue;
				snprintf(num, sizeof(num), "%u",
					 (unsigned int)g[i].gid);
				append(ids, sizeof(ids), num);
				append(names, sizeof(names),
				       g[i].name ? g[i].name : num);
				break;
			}
		}
		clean(names);
		add_str(it, "GroupIds", ids);
		add_str(it, "GroupNames", names);
		add_fmt(it, "UserId", "%u", (unsigned int)pw->pw_uid);
		snprintf(s, sizeof(s), "%s", pw->pw_name);
		clean(s);
		add_str(it, "UserName", s);
		snprintf(s, sizeof(s), "%s", pw->pw_shell ? pw->pw_shell : "");
		clean(s);
		add_str(x, "Shell", s);
		snprintf(s, sizeof(s), "%s", pw->pw_dir ? pw->pw_dir : "");
		clean(s);
		add_str(x, "HomeDirectory", s);
		json_object_object_add(it, "ExtraDetails", x);
		json_object_array_add(payload, it);
	}
	if (f)
		fclose(f);
	free_groups(g, ng);
	return periodic("LocalUsers", payload);
}

/* ---- SystemInformation -------------------------------------------------- */

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
		clean(out);
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

static bool read_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	if (ok) {
		out[strcspn(out, "\n")] = '\0';
		clean(out);
	}
	return ok;
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
	add_str(it, "OSName", os_release(osr, "NAME", buf, sizeof(buf)) ?
		buf : u.sysname);
	if (os_release(osr, "VERSION_ID", buf, sizeof(buf)) ||
	    os_release(osr, "VERSION", buf, sizeof(buf)))
		add_str(it, "OSVersion", buf);
	else
		add_str(it, "OSVersion", u.release);
	if (os_release(osr, "ID", buf, sizeof(buf)))
		add_str(it, "OSVendor", buf);
	add_str(it, "OsArchitecture", u.machine);
	add_str(it, "HostName", u.nodename);
	if (read_line("/sys/class/dmi/id/bios_version", buf, sizeof(buf)))
		add_str(it, "BIOSVersion", buf);
	snprintf(path, sizeof(path), "%s/cmdline", c->proc);
	if (read_line(path, line, sizeof(line))) {
		char *r = strstr(line, "root=");

		if (r && (r == line || r[-1] == ' ')) {
			r += 5;
			r[strcspn(r, " ")] = '\0';
			add_str(it, "BootDevice", r);
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

	add_str(x, "KernelName", u.sysname);
	add_str(x, "KernelRelease", u.release);
	add_str(x, "KernelVersion", u.version);
	if (os_release(osr, "PRETTY_NAME", buf, sizeof(buf)))
		add_str(x, "PrettyName", buf);
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
				clean(buf);
			}
		}
	}
	if (f)
		fclose(f);
	if (buf[0])
		add_str(x, "CpuModel", buf);
	add_fmt(x, "CpuCount", "%ld", cpus ? (long)cpus : sysconf(_SC_NPROCESSORS_ONLN));
	snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", c->proc);
	if (read_line(path, buf, sizeof(buf)))
		add_str(x, "BootId", buf);
	snprintf(path, sizeof(path), "%s/uptime", c->proc);
	if (read_line(path, buf, sizeof(buf)))
		add_fmt(x, "UptimeSeconds", "%lld", atoll(buf));
	json_object_object_add(it, "ExtraDetails", x);
	json_object_array_add(payload, it);
	return periodic("SystemInformation", payload);
}

/* ---- OSBaseline --------------------------------------------------------- */

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
	add_str(it, "Description", desc);
	add_str(it, "CceId", id);
	add_str(it, "Result", bl_results[r]);
	add_str(it, "Error", error ? error : "");
	add_str(it, "Severity", severity);
	if (extra)
		json_object_object_add(it, "ExtraDetails", extra);
	json_object_array_add(payload, it);
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

static void check_sshd(struct json_object *payload, const struct snapshot_config *c,
		       const char *id, const char *key, const char *def,
		       const char *good, const char *desc, const char *sev)
{
	char val[128], err[256];
	struct json_object *x;
	int ret;

	ret = sshd_value(c->sshd_config, key, val, sizeof(val), 0);
	if (ret == -ENOENT) {
		x = json_object_new_object();
		add_str(x, "Reason", "sshd is not installed");
		bl_add(payload, id, desc, sev, BL_PASS, NULL, x);
		return;
	}
	if (ret < 0) {
		snprintf(err, sizeof(err), "%.200s: %s", c->sshd_config,
			 strerror(-ret));
		bl_add(payload, id, desc, sev, BL_ERR, err, NULL);
		return;
	}
	if (!ret)
		snprintf(val, sizeof(val), "%s", def);
	clean(val);
	x = json_object_new_object();
	add_fmt(x, key, "%s%s", val, ret ? "" : " (default)");
	bl_add(payload, id, desc, sev,
	       strcasecmp(val, good) ? BL_FAIL : BL_PASS, NULL, x);
}

static void check_shadow(struct json_object *payload,
			 const struct snapshot_config *c)
{
	static const char id[] = "iotsec-bl-004";
	static const char desc[] = "No account has an empty password";
	char list[1024] = "", err[256];
	struct json_object *x;
	struct spwd *sp;
	FILE *f;

	f = fopen(c->shadow, "re");
	if (!f) {
		snprintf(err, sizeof(err), "%.200s: %s", c->shadow, strerror(errno));
		bl_add(payload, id, desc, "Critical", BL_ERR, err, NULL);
		return;
	}
	while ((sp = fgetspent(f)))
		if (sp->sp_pwdp && !sp->sp_pwdp[0])
			append(list, sizeof(list), sp->sp_namp);
	fclose(f);
	clean(list);
	x = json_object_new_object();
	if (list[0])
		add_str(x, "Accounts", list);
	bl_add(payload, id, desc, "Critical", list[0] ? BL_FAIL : BL_PASS,
	       NULL, x);
}

static void check_uid0(struct json_object *payload,
		       const struct snapshot_config *c)
{
	static const char id[] = "iotsec-bl-005";
	static const char desc[] = "Only root has user id 0";
	char list[1024] = "", err[256];
	struct json_object *x;
	struct passwd *pw;
	FILE *f;

	f = fopen(c->passwd, "re");
	if (!f) {
		snprintf(err, sizeof(err), "%.200s: %s", c->passwd, strerror(errno));
		bl_add(payload, id, desc, "Critical", BL_ERR, err, NULL);
		return;
	}
	while ((pw = fgetpwent(f)))
		if (pw->pw_uid == 0 && strcmp(pw->pw_name, "root"))
			append(list, sizeof(list), pw->pw_name);
	fclose(f);
	clean(list);
	x = json_object_new_object();
	if (list[0])
		add_str(x, "Accounts", list);
	bl_add(payload, id, desc, "Critical", list[0] ? BL_FAIL : BL_PASS,
	       NULL, x);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
				append(w->list, sizeof(w->list), path);
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
	clean(w.list);
	x = json_object_new_object();
	add_fmt(x, "Count", "%u", w.found);
	if (w.list[0])
		add_str(x, "Paths", w.list);
	if (w.truncated)
		add_fmt(x, "Truncated", "walk stopped after %u entries or %u ms",
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
	char err[300];
	struct stat st;
	struct json_object *x;

	if (stat(path, &st)) {
		snprintf(err, sizeof(err), "%.200s: %s", path, strerror(errno));
		bl_add(payload, id, desc, "Critical", BL_ERR, err, NULL);
		return;
	}
	x = json_object_new_object();
	add_fmt(x, "Mode", "%04o", (unsigned int)(st.st_mode & 07777));
	bl_add(payload, id, desc, "Critical",
	       st.st_mode & forbidden ? BL_FAIL : BL_PASS, NULL, x);
}

static void check_aslr(struct json_object *payload,
		       const struct snapshot_config *c)
{
	char path[PATH_MAX], buf[16], err[300];
	struct json_object *x;

	snprintf(path, sizeof(path), "%s/sys/kernel/randomize_va_space",
		 c->proc);
	if (!read_line(path, buf, sizeof(buf))) {
		snprintf(err, sizeof(err), "%.200s: %s", path, strerror(errno));
		bl_add(payload, "iotsec-bl-010", "Address space layout randomisation is full (2)",
		       "Important", BL_ERR, err, NULL);
		return;
	}
	x = json_object_new_object();
	add_str(x, "randomize_va_space", buf);
	bl_add(payload, "iotsec-bl-010",
	       "Address space layout randomisation is full (2)", "Important",
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
	check_shadow(payload, c);
	check_uid0(payload, c);
	check_world_writable(payload, c);
	check_module(payload, c);
	check_file_mode(payload, "iotsec-bl-008", c->shadow,
			S_IROTH | S_IWOTH | S_IWGRP,
			"The shadow file is not readable by others");
	check_file_mode(payload, "iotsec-bl-009", c->passwd,
			S_IWOTH | S_IWGRP,
			"The passwd file is writable by its owner only");
	check_aslr(payload, c);
	return periodic("OSBaseline", payload);
}
