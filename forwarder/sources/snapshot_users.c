// SPDX-License-Identifier: MIT
/*
 * LocalUsers: passwd accounts and their groups.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "pipeline/serialize.h"
#include "sources/snapshot_priv.h"

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
		snap_append(ids, sizeof(ids), num);
		snap_append(names, sizeof(names), primary ? primary : num);
		for (i = 0; i < ng; i++) {
			if (g[i].gid == pw->pw_gid)
				continue;
			for (j = 0; j < g[i].n_mem; j++) {
				if (!g[i].mem[j] || strcmp(g[i].mem[j], pw->pw_name))
					continue;
				snprintf(num, sizeof(num), "%u",
					 (unsigned int)g[i].gid);
				snap_append(ids, sizeof(ids), num);
				snap_append(names, sizeof(names),
				       g[i].name ? g[i].name : num);
				break;
			}
		}
		snap_clean(names);
		snap_str(it, "GroupIds", ids);
		snap_str(it, "GroupNames", names);
		snap_fmt(it, "UserId", "%u", (unsigned int)pw->pw_uid);
		snprintf(s, sizeof(s), "%s", pw->pw_name);
		snap_clean(s);
		snap_str(it, "UserName", s);
		snprintf(s, sizeof(s), "%s", pw->pw_shell ? pw->pw_shell : "");
		snap_clean(s);
		snap_str(x, "Shell", s);
		snprintf(s, sizeof(s), "%s", pw->pw_dir ? pw->pw_dir : "");
		snap_clean(s);
		snap_str(x, "HomeDirectory", s);
		json_object_object_add(it, "ExtraDetails", x);
		json_object_array_add(payload, it);
	}
	if (f)
		fclose(f);
	free_groups(g, ng);
	return ser_event("Security", "Periodic", "LocalUsers", payload);
}
