// SPDX-License-Identifier: MIT
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/users.h"

struct user_ent {
	uid_t uid;
	char *name;
};

static struct {
	const char *path;
	struct user_ent *tab;	/* sorted by uid, the first of a uid kept */
	size_t n;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool loaded;
	int64_t checked_ms;
	uint64_t gen;
} u;

void users_free(void)
{
	for (size_t i = 0; i < u.n; i++)
		free(u.tab[i].name);
	free(u.tab);
	u.tab = NULL;
	u.n = 0;
	u.loaded = false;
}

void users_set_path(const char *path)
{
	users_free();
	u.path = path;
	u.checked_ms = 0;
}

static int by_uid(const void *a, const void *b)
{
	const struct user_ent *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x < y ? -1 : x > y;	/* stable: the file's first wins */
}

static void load(const struct stat *st)
{
	struct user_ent *tab = NULL, *nt;
	size_t n = 0, cap = 0, k;
	struct passwd *pw;
	FILE *f;

	users_free();
	u.loaded = true;
	u.gen++;
	if (st) {
		u.dev = st->st_dev;
		u.ino = st->st_ino;
		u.size = st->st_size;
		u.mtime = st->st_mtim;
	} else {
		u.ino = 0;
		u.size = -1;
	}
	f = st ? fopen(u.path ? u.path : "/etc/passwd", "re") : NULL;
	while (f && (pw = fgetpwent(f))) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			nt = realloc(tab, cap * sizeof(*tab));
			if (!nt)
				break;
			tab = nt;
		}
		tab[n].uid = pw->pw_uid;
		tab[n].name = strdup(pw->pw_name);
		if (tab[n].name)
			n++;
	}
	if (f)
		fclose(f);
	if (!n) {
		free(tab);
		return;
	}
	qsort(tab, n, sizeof(*tab), by_uid);
	/* one entry a uid: the first line of the file that has it */
	for (k = 1, cap = 1; k < n; k++) {
		if (tab[k].uid == tab[cap - 1].uid)
			free(tab[k].name);
		else
			tab[cap++] = tab[k];
	}
	u.tab = tab;
	u.n = cap;
}

static void refresh(void)
{
	int64_t now = mono_ms();
	struct stat st;
	bool ok;

	if (u.loaded && now - u.checked_ms < 1000)
		return;
	u.checked_ms = now;
	ok = !stat(u.path ? u.path : "/etc/passwd", &st);
	if (u.loaded && (ok ? st.st_dev == u.dev && st.st_ino == u.ino &&
			      st.st_size == u.size &&
			      st.st_mtim.tv_sec == u.mtime.tv_sec &&
			      st.st_mtim.tv_nsec == u.mtime.tv_nsec
			    : u.size < 0))
		return;
	load(ok ? &st : NULL);
}

const char *users_name(uid_t uid)
{
	size_t lo = 0, hi;

	refresh();
	hi = u.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u.tab[mid].uid == uid)
			return u.tab[mid].name;
		if (u.tab[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool users_uid(const char *name, uid_t *uid)
{
	refresh();
	for (size_t i = 0; i < u.n; i++) {
		if (!strcmp(u.tab[i].name, name)) {
			*uid = u.tab[i].uid;
			return true;
		}
	}
	return false;
}

uint64_t users_generation(void)
{
	refresh();
	return u.gen;
}
