// SPDX-License-Identifier: MIT
/*
 * PackageInventory: the installed packages (an SBoM) from dpkg's and
 * opkg's status files, which share one format: stanzas of "Field: value"
 * lines separated by blank lines; a package is installed when its Status
 * is "<want> <flag> installed". rpm's database is not read (no librpm is
 * linked and the rpm CLI is not run from the daemon): not supported.
 *
 * The files are untrusted input: at most PKG_FILE_MAX bytes each,
 * PKG_MAX packages in all, fields cut at their field's size, bytes that
 * are not printable ASCII replaced. An extended event of at most
 * PKG_PER_EVENT packages, as many events as needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "pipeline/serialize.h"
#include "sources/snapshot_priv.h"

void pkg_list_free(struct pkg_list *l)
{
	free(l->p);
	memset(l, 0, sizeof(*l));
}

static void field(char *dst, size_t size, const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
		       v[len - 1] == '\r'))
		len--;
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)v[i] < 0x20 ||
			 (unsigned char)v[i] >= 0x7f ? '?' : v[i];
	dst[len] = '\0';
}

static int stanza_end(struct pkg_list *l, struct pkg *cur, bool installed)
{
	struct pkg *np;

	if (!installed || !cur->name[0])
		return 0;
	if (l->n >= PKG_MAX) {
		l->truncated = true;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		np = realloc(l->p, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		l->p = np;
		l->cap = cap;
	}
	l->p[l->n++] = *cur;
	return 0;
}

/* "install ok installed", "install user installed", "hold ok installed" */
static bool status_installed(const char *v, size_t len)
{
	static const char w[] = " installed";

	while (len && (v[len - 1] == ' ' || v[len - 1] == '\r' ||
		       v[len - 1] == '\t'))
		len--;
	return len >= sizeof(w) - 1 &&
	       !memcmp(v + len - (sizeof(w) - 1), w, sizeof(w) - 1);
}

int pkg_parse(struct pkg_list *l, const char *buf, size_t len,
	      const char *source)
{
	struct pkg cur = { 0 };
	bool installed = false;
	size_t pos = 0;
	int ret;

	snprintf(cur.source, sizeof(cur.source), "%s", source);
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
		const char *line = buf + pos, *colon;

		pos = end + 1;
		if (!n || (n == 1 && line[0] == '\r')) {
			ret = stanza_end(l, &cur, installed);
			if (ret)
				return ret;
			memset(&cur, 0, sizeof(cur));
			snprintf(cur.source, sizeof(cur.source), "%s", source);
			installed = false;
			continue;
		}
		/* continuation lines (descriptions, conffiles) */
		if (line[0] == ' ' || line[0] == '\t')
			continue;
		colon = memchr(line, ':', n);
		if (!colon)
			continue;
#define IS(k) ((size_t)(colon - line) == sizeof(k) - 1 && \
	       !memcmp(line, k, sizeof(k) - 1))
		if (IS("Package"))
			field(cur.name, sizeof(cur.name), colon + 1,
			      n - (size_t)(colon - line) - 1);
		else if (IS("Version"))
			field(cur.version, sizeof(cur.version), colon + 1,
			      n - (size_t)(colon - line) - 1);
		else if (IS("Architecture"))
			field(cur.arch, sizeof(cur.arch), colon + 1,
			      n - (size_t)(colon - line) - 1);
		else if (IS("Status"))
			installed = status_installed(colon + 1,
					n - (size_t)(colon - line) - 1);
#undef IS
	}
	return stanza_end(l, &cur, installed);
}

/* The file at PATH, at most PKG_FILE_MAX bytes; NULL: none/unreadable. */
static char *read_file(const char *path, size_t *len, struct stat *st)
{
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		return NULL;
	}
	buf = malloc(PKG_FILE_MAX);
	while (buf && got < PKG_FILE_MAX &&
	       (n = read(fd, buf + got, PKG_FILE_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return buf;
}

static int pkg_cmp(const void *a, const void *b)
{
	const struct pkg *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (!c)
		c = strcmp(x->arch, y->arch);
	if (!c)
		c = strcmp(x->source, y->source);
	return c ? c : strcmp(x->version, y->version);
}

int pkg_collect(const struct snapshot_config *c, struct pkg_list *l)
{
	static const char *const names[] = { "dpkg", "opkg", "opkg" };
	bool have_opkg = false;

	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < PKG_SOURCES; i++) {
		const char *src = names[i < 3 ? i : 2];
		struct stat st;
		size_t len = 0;
		char *buf;
		int ret;

		if (!c->pkg_status[i][0] || (i == 2 && have_opkg))
			continue;
		buf = read_file(c->pkg_status[i], &len, &st);
		if (!buf)
			continue;
		have_opkg |= i == 1;
		ret = pkg_parse(l, buf, len, src);
		free(buf);
		if (ret)
			return ret;
	}
	if (l->n)
		qsort(l->p, l->n, sizeof(*l->p), pkg_cmp);
	return 0;
}

void pkg_digest(const struct pkg_list *l, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;

	memset(out, 0, 32);
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		EVP_DigestUpdate(md, &l->p[i], sizeof(l->p[i]));
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
}

struct json_object *snapshot_packages_events(const struct pkg_list *l)
{
	struct json_object *all = json_object_new_array(), *payload = NULL;
	size_t i = 0;

	if (!all)
		return NULL;
	do {
		struct json_object *ev;

		payload = json_object_new_array();
		if (!payload)
			break;
		for (size_t k = 0; k < PKG_PER_EVENT && i < l->n; k++, i++) {
			struct json_object *it = json_object_new_object();

			if (!it)
				break;
			snap_str(it, "Name", l->p[i].name);
			snap_str(it, "Version", l->p[i].version);
			snap_str(it, "Architecture", l->p[i].arch);
			snap_str(it, "Source", l->p[i].source);
			json_object_array_add(payload, it);
		}
		/* a device without packages known: one event, IsEmpty */
		ev = ser_event("Security", "Periodic", "PackageInventory",
			       payload);
		if (!ev)
			break;
		json_object_array_add(all, ev);
	} while (i < l->n);
	return all;
}

uint64_t pkg_stamp(const struct snapshot_config *c)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < PKG_SOURCES; i++) {
		struct stat st;
		uint64_t v[4] = { 0 };

		if (c->pkg_status[i][0] && !stat(c->pkg_status[i], &st)) {
			v[0] = st.st_ino;
			v[1] = (uint64_t)st.st_size;
			v[2] = (uint64_t)st.st_mtim.tv_sec;
			v[3] = (uint64_t)st.st_mtim.tv_nsec;
		}
		for (size_t k = 0; k < 4; k++)
			h = (h ^ v[k]) * 0x100000001b3ULL;
	}
	return h;
}
