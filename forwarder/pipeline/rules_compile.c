// SPDX-License-Identifier: MIT
/*
 * Rules from YAML (docs/rules.md) into struct ruleset: every source is
 * loaded with libyaml first, the lists of all of them are gathered, then
 * the rules are compiled, their values checked and converted once. The
 * first problem is reported as "file:line:column: ..." from libyaml's
 * marks, like the configuration's.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <yaml.h>
#include "common/util.h"
#include "daemon/config.h"
#include "pipeline/aggregate.h"
#include "pipeline/rules_priv.h"

#define RULES_MAX 1024
#define LIST_DEPTH 8
/* items of one condition once lists are expanded: lists naming lists
 * multiply (8 levels of 100 would be 10^16) */
#define ITEMS_MAX 65536
#define FILE_MAX (1 << 20)

struct doc {
	const char *name;
	yaml_document_t d;
	bool loaded;
};

struct list {
	const char *name;
	struct doc *doc;
	yaml_node_t *node;
};

struct item {
	const char *s;
	yaml_node_t *node;
	struct doc *doc;
};

struct comp {
	struct doc *docs;
	size_t n_docs;
	struct list *lists;
	size_t n_lists;
	struct item *items;	/* one value's, after lists are expanded */
	size_t n_items, cap_items;
	char *err;
	size_t errlen;
	struct ruleset *rs;
};

static int fail(struct comp *c, struct doc *d, yaml_node_t *n,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct comp *c, struct doc *d, yaml_node_t *n,
		const char *fmt, ...)
{
	va_list ap;
	int off;

	off = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", d->name,
		       n ? n->start_mark.line + 1 : 1,
		       n ? n->start_mark.column + 1 : 1);
	if (off < 0 || (size_t)off >= c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static yaml_node_t *node(struct doc *d, int i)
{
	return yaml_document_get_node(&d->d, i);
}

static const char *str(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ?
	       (const char *)n->data.scalar.value : NULL;
}

/* The value of KEY in mapping M, or NULL. */
static yaml_node_t *get(struct doc *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++) {
		const char *k = str(node(d, p->key));

		if (k && !strcmp(k, key))
			return node(d, p->value);
	}
	return NULL;
}

/* Every key of mapping M is one of KEYS (NULL-terminated), once. */
static int keys_known(struct comp *c, struct doc *d, yaml_node_t *m,
		      const char *where, const char *const *keys)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(d, p->key);
		const char *k = str(kn);
		size_t i;

		if (!k)
			return fail(c, d, kn, "expected a key of %s", where);
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p;
		     q++)
			if (str(node(d, q->key)) &&
			    !strcmp(str(node(d, q->key)), k))
				return fail(c, d, kn, "duplicate key '%s' in "
					    "%s", k, where);
		for (i = 0; keys[i]; i++)
			if (!strcmp(keys[i], k))
				break;
		if (!keys[i]) {
			char all[512];
			size_t off = 0;

			all[0] = '\0';
			for (i = 0; keys[i] && off < sizeof(all); i++)
				off += snprintf(all + off, sizeof(all) - off,
						"%s%s", i ? ", " : "", keys[i]);
			return fail(c, d, kn, "unknown key '%s' in %s, expected "
				    "one of: %s", k, where, all);
		}
	}
	return 0;
}

/* ---- lists and values ---- */

static struct list *find_list(struct comp *c, const char *name)
{
	for (size_t i = 0; i < c->n_lists; i++)
		if (!strcmp(c->lists[i].name, name))
			return &c->lists[i];
	return NULL;
}

static int push_item(struct comp *c, struct doc *d, yaml_node_t *n)
{
	if (c->n_items >= ITEMS_MAX)
		return fail(c, d, n, "more than %d values in one condition "
			    "(its lists expanded)", ITEMS_MAX);
	if (c->n_items == c->cap_items) {
		size_t cap = c->cap_items ? c->cap_items * 2 : 32;
		struct item *p = realloc(c->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->items = p;
		c->cap_items = cap;
	}
	c->items[c->n_items++] = (struct item){ str(n), n, d };
	return 0;
}

/* The scalars of N (a scalar or a sequence), "$list" expanded. */
static int expand(struct comp *c, struct doc *d, yaml_node_t *n, int depth)
{
	const char *s;
	int ret;

	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			yaml_node_t *e = node(d, *i);

			if (!e || e->type != YAML_SCALAR_NODE)
				return fail(c, d, e ? e : n, "expected a "
					    "scalar in the list");
			ret = expand(c, d, e, depth);
			if (ret)
				return ret;
		}
		return 0;
	}
	s = str(n);
	if (!s)
		return fail(c, d, n, "expected a scalar or a list of them");
	if (strlen(s) != n->data.scalar.length)
		return fail(c, d, n, "a string with a NUL byte");
	if (s[0] == '$' && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		struct list *l = find_list(c, s + 1);

		if (!l)
			return fail(c, d, n, "no list named '%s'", s + 1);
		if (depth >= LIST_DEPTH)
			return fail(c, d, n, "lists nested deeper than %d "
				    "(a list that contains itself?)",
				    LIST_DEPTH);
		return expand(c, l->doc, l->node, depth + 1);
	}
	return push_item(c, d, n);
}

static int to_glob(struct comp *c, struct item *it, struct glob *g)
{
	const char *s = it->s;

	if (!*s)
		return fail(c, it->doc, it->node, "expected a glob, got an "
			    "empty string");
	g->pat = strdup(s);
	if (!g->pat)
		return -ENOMEM;
	g->prefix_len = strcspn(s, "*?\\");
	g->literal = !s[g->prefix_len];
	if (!g->literal) {
		const char *star = strrchr(s, '*');

		if (star && !strpbrk(star + 1, "?\\") &&
		    (star == s || star[-1] != '\\')) {
			g->suffix_len = strlen(star + 1);
			g->one_star = (size_t)(star - s) == g->prefix_len;
		}
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end || *v > max ? -EINVAL : 0;
}

struct name_val {
	const char *name;
	uint64_t v;
};

static const struct name_val protocols[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
	{ "udplite", IPPROTO_UDPLITE }, { "icmp", IPPROTO_ICMP },
	{ "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP }, { NULL, 0 }
};
static const struct name_val directions[] = {
	{ "in", DIR_IN }, { "out", DIR_OUT }, { "listen", DIR_LISTEN },
	{ NULL, 0 }
};
static const struct name_val file_ops[] = {
	{ "write", IOTSEC_FILE_WRITE }, { "truncate", IOTSEC_FILE_TRUNCATE },
	{ "unlink", IOTSEC_FILE_UNLINK }, { "rename", IOTSEC_FILE_RENAME },
	{ NULL, 0 }
};
static const struct name_val ptrace_modes[] = {
	{ "attach", IOTSEC_PTRACE_ATTACH }, { "seize", IOTSEC_PTRACE_SEIZE },
	{ "traceme", IOTSEC_PTRACE_TRACEME }, { "memory", IOTSEC_PTRACE_MEMORY },
	{ NULL, 0 }
};
static const struct name_val ids[] = {
	{ "unset", UINT32_MAX }, { NULL, 0 }
};

/* "N", "N-M", or a name of NAMES (may be NULL); numbers up to MAX. */
static int to_range(struct comp *c, struct item *it, uint64_t max,
		    const struct name_val *names, const char *what,
		    struct range *r)
{
	const char *s = it->s, *dash;
	char lo[32];

	for (size_t i = 0; names && names[i].name; i++)
		if (!strcasecmp(s, names[i].name)) {
			r->lo = r->hi = names[i].v;
			return 0;
		}
	dash = strchr(s, '-');
	if (!dash) {
		if (!parse_u64(s, max, &r->lo)) {
			r->hi = r->lo;
			return 0;
		}
	} else if ((size_t)(dash - s) < sizeof(lo)) {
		memcpy(lo, s, dash - s);
		lo[dash - s] = '\0';
		if (!parse_u64(lo, max, &r->lo) &&
		    !parse_u64(dash + 1, max, &r->hi) && r->lo <= r->hi)
			return 0;
	}
	return fail(c, it->doc, it->node, "expected %s, got '%s'", what, s);
}

static int to_cidr(struct comp *c, struct item *it, struct cidr *m)
{
	char a[INET6_ADDRSTRLEN + 8], *slash;
	uint64_t bits;

	if (strlen(it->s) >= sizeof(a))
		goto bad;
	strcpy(a, it->s);
	slash = strchr(a, '/');
	if (slash)
		*slash++ = '\0';
	memset(m, 0, sizeof(*m));
	if (inet_pton(AF_INET, a, m->addr) == 1)
		m->family = AF_INET;
	else if (inet_pton(AF_INET6, a, m->addr) == 1)
		m->family = AF_INET6;
	else
		goto bad;
	bits = m->family == AF_INET ? 32 : 128;
	if (slash && parse_u64(slash, bits, &bits))
		goto bad;
	m->prefix = bits;
	return 0;
bad:
	return fail(c, it->doc, it->node, "expected an address or a CIDR "
		    "(10.0.0.0/8, fd00::/8), got '%s'", it->s);
}

enum vclass { V_GLOB, V_RANGE, V_CIDR, V_FLAG, V_DURATION };

static const struct cond_def {
	const char *name;
	enum cond_kind kind;
	enum vclass cls;
	uint64_t max;
	const struct name_val *names;
	const char *what;
} cond_defs[] = {
	{ "exe", C_EXE, V_GLOB, 0, NULL, NULL },
	{ "argv", C_ARGV, V_GLOB, 0, NULL, NULL },
	{ "parent_exe", C_PARENT, V_GLOB, 0, NULL, NULL },
	{ "comm", C_COMM, V_GLOB, 0, NULL, NULL },
	{ "path", C_PATH, V_GLOB, 0, NULL, NULL },
	{ "module", C_MODULE, V_GLOB, 0, NULL, NULL },
	{ "user", C_USER, V_GLOB, 0, NULL, NULL },
	{ "uid", C_UID, V_RANGE, UINT32_MAX, ids, "a uid or a range" },
	{ "euid", C_EUID, V_RANGE, UINT32_MAX, ids, "a uid or a range" },
	{ "gid", C_GID, V_RANGE, UINT32_MAX, ids, "a gid or a range" },
	{ "loginuid", C_LOGINUID, V_RANGE, UINT32_MAX, ids,
	  "a uid, a range or unset" },
	{ "old_euid", C_OLD_EUID, V_RANGE, UINT32_MAX, ids, "a uid or a range" },
	{ "new_euid", C_NEW_EUID, V_RANGE, UINT32_MAX, ids, "a uid or a range" },
	{ "new_uid", C_NEW_UID, V_RANGE, UINT32_MAX, ids, "a uid or a range" },
	{ "lport", C_LPORT, V_RANGE, 65535, NULL, "a port or a range" },
	{ "rport", C_RPORT, V_RANGE, 65535, NULL, "a port or a range" },
	{ "protocol", C_PROTOCOL, V_RANGE, 255, protocols,
	  "tcp, udp, udplite, icmp, icmpv6, sctp or a number" },
	{ "direction", C_DIRECTION, V_RANGE, 0, directions,
	  "in, out or listen" },
	{ "file_op", C_FILE_OP, V_RANGE, 0, file_ops,
	  "write, truncate, unlink or rename" },
	{ "ptrace_mode", C_PTRACE_MODE, V_RANGE, 0, ptrace_modes,
	  "attach, seize, traceme or memory" },
	{ "raddr", C_RADDR, V_CIDR, 0, NULL, NULL },
	{ "laddr", C_LADDR, V_CIDR, 0, NULL, NULL },
	{ "container", C_CONTAINER, V_FLAG, 0, NULL, NULL },
	{ "exe_deleted", C_EXE_DELETED, V_FLAG, 0, NULL, NULL },
	{ "secure_exec", C_SECURE_EXEC, V_FLAG, 0, NULL, NULL },
	{ "from_exec", C_FROM_EXEC, V_FLAG, 0, NULL, NULL },
	{ "success", C_SUCCESS, V_FLAG, 0, NULL, NULL },
	{ "target_other_user", C_TARGET_OTHER_USER, V_FLAG, 0, NULL, NULL },
	{ "after_boot", C_AFTER_BOOT, V_DURATION, 0, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL }
};

static void cond_free(struct cond *cd)
{
	if (cd->kind <= C_USER)
		for (size_t i = 0; i < cd->n; i++)
			free(cd->v.globs[i].pat);
	if (cd->kind <= C_LADDR)
		free(cd->v.globs);	/* the one array, whatever its type */
}

static int get_flag(struct comp *c, struct doc *d, yaml_node_t *n, bool *b)
{
	const char *s = str(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "yes") ||
		  !strcmp(s, "on"))) {
		*b = true;
		return 0;
	}
	if (s && (!strcmp(s, "false") || !strcmp(s, "no") ||
		  !strcmp(s, "off"))) {
		*b = false;
		return 0;
	}
	return fail(c, d, n, "expected true or false");
}

static int compile_cond(struct comp *c, struct doc *d, const char *key,
			yaml_node_t *v, struct cond *cd)
{
	const struct cond_def *def;
	size_t elem;
	int ret;

	for (def = cond_defs; def->name; def++)
		if (!strcmp(def->name, key))
			break;
	memset(cd, 0, sizeof(*cd));
	if (!def->name)
		return -ENOENT;
	cd->kind = def->kind;
	if (def->cls == V_FLAG)
		return get_flag(c, d, v, &cd->v.flag);
	if (def->cls == V_DURATION) {
		uint64_t ms;

		if (!str(v) || parse_duration(str(v), &ms))
			return fail(c, d, v, "expected a duration (300s, 5m)");
		cd->v.after_ns = ms * 1000000ULL;
		return 0;
	}
	c->n_items = 0;
	ret = expand(c, d, v, 0);
	if (ret)
		return ret;
	if (!c->n_items)
		return fail(c, d, v, "expected at least one value");
	elem = def->cls == V_GLOB ? sizeof(struct glob) :
	       def->cls == V_RANGE ? sizeof(struct range) :
				     sizeof(struct cidr);
	cd->v.globs = calloc(c->n_items, elem);
	if (!cd->v.globs)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_items; i++) {
		struct item *it = &c->items[i];

		if (def->cls == V_GLOB)
			ret = to_glob(c, it, &cd->v.globs[i]);
		else if (def->cls == V_RANGE)
			ret = to_range(c, it, def->max, def->names,
				       def->what, &cd->v.ranges[i]);
		else
			ret = to_cidr(c, it, &cd->v.cidrs[i]);
		if (ret)
			return ret;
		cd->n++;
	}
	return 0;
}

/* The conditions of mapping M into *OUT / *N. */
static int compile_conds(struct comp *c, struct doc *d, yaml_node_t *m,
			 const char *where, struct cond **out, size_t *n)
{
	size_t cnt;

	*out = NULL;
	*n = 0;
	if (!m || m->type != YAML_MAPPING_NODE)
		return fail(c, d, m, "expected a mapping of conditions for %s",
			    where);
	cnt = m->data.mapping.pairs.top - m->data.mapping.pairs.start;
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(d, p->key), *vn = node(d, p->value);
		const char *k = str(kn);
		int ret;

		if (!k || !vn)
			return fail(c, d, kn ? kn : m, "expected a condition "
				    "name");
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p;
		     q++)
			if (str(node(d, q->key)) &&
			    !strcmp(str(node(d, q->key)), k))
				return fail(c, d, kn, "duplicate condition "
					    "'%s' in %s", k, where);
		ret = compile_cond(c, d, k, vn, &(*out)[*n]);
		if (ret == -ENOENT) {
			char all[640];
			size_t off = 0;

			all[0] = '\0';
			for (const struct cond_def *def = cond_defs; def->name;
			     def++)
				off += snprintf(all + off, sizeof(all) - off,
						"%s%s", off ? ", " : "",
						def->name);
			return fail(c, d, kn, "unknown condition '%s' in %s, "
				    "expected one of: %s", k, where, all);
		}
		(*n)++;	/* freed with the rest, also when half-built */
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- rules ---- */

static void rule_free(struct rule *r)
{
	for (size_t i = 0; i < r->n_conds; i++)
		cond_free(&r->conds[i]);
	free(r->conds);
	for (size_t e = 0; e < r->n_except; e++) {
		for (size_t i = 0; i < r->except[e].n; i++)
			cond_free(&r->except[e].conds[i]);
		free(r->except[e].conds);
	}
	free(r->except);
	free(r->thresh.keys);
	free(r->thresh.times);
	free(r->name);
	free(r->desc);
	if (r->held)
		record_free(r->held);
}

static struct rule *find_rule(struct ruleset *rs, const char *name)
{
	for (size_t i = 0; i < rs->n_rules; i++)
		if (!strcmp(rs->rules[i].name, name))
			return &rs->rules[i];
	return NULL;
}

static bool name_ok(const char *s)
{
	if (!*s || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '.'))
			return false;
	return true;
}

static int compile_types(struct comp *c, struct doc *d, yaml_node_t *v,
			 uint32_t *types)
{
	int ret;

	c->n_items = 0;
	ret = expand(c, d, v, 0);
	if (ret)
		return ret;
	*types = 0;
	for (size_t i = 0; i < c->n_items; i++) {
		uint32_t t = iotsec_event_type_from_name(c->items[i].s);

		if (!strcmp(c->items[i].s, "login"))
			t = RULES_EVENT_LOGIN;
		if (!t)
			return fail(c, d, c->items[i].node, "expected an event "
				    "type (exec, exit, fork, connect, accept, "
				    "listen, cred, module, ptrace, file, login), "
				    "got '%s'", c->items[i].s);
		*types |= IOTSEC_EVENT_BIT(t);
	}
	if (!*types)
		return fail(c, d, v, "expected at least one event type");
	return 0;
}

static const char *const rule_keys[] = {
	"name", "severity", "description", "enabled", "event", "match",
	"except", "threshold", "within", "by", NULL
};

static const struct name_val by_fields[] = {
	{ "exe", BY_EXE }, { "parent_exe", BY_PARENT }, { "comm", BY_COMM },
	{ "user", BY_USER }, { "path", BY_PATH }, { "module", BY_MODULE },
	{ "uid", BY_UID }, { "euid", BY_EUID }, { "pid", BY_PID },
	{ "raddr", BY_RADDR }, { "laddr", BY_LADDR }, { "rport", BY_RPORT },
	{ "lport", BY_LPORT }, { NULL, 0 }
};

/* threshold: N, within: DURATION, by: FIELD or [FIELDS] (all three). */
static int compile_threshold(struct comp *c, struct doc *d, yaml_node_t *m,
			     struct rule *r)
{
	yaml_node_t *n = get(d, m, "threshold"), *w = get(d, m, "within"),
		    *b = get(d, m, "by");
	uint64_t v, ms;
	int ret;

	if (!n && !w && !b)
		return 0;
	if (!n || !w || !b)
		return fail(c, d, n ? n : w ? w : b, "threshold, within and by "
			    "go together");
	if (!str(n) || parse_u64(str(n), THRESH_MAX, &v) || v < 1)
		return fail(c, d, n, "expected a threshold from 1 to %d",
			    THRESH_MAX);
	if (!str(w) || parse_duration(str(w), &ms) || !ms)
		return fail(c, d, w, "expected a duration (60s, 5m)");
	r->thresh.count = v;
	r->thresh.within_ns = ms * 1000000ULL;
	c->n_items = 0;
	ret = expand(c, d, b, 0);
	if (ret)
		return ret;
	if (!c->n_items || c->n_items > THRESH_BY_MAX)
		return fail(c, d, b, "expected 1 to %d fields in by",
			    THRESH_BY_MAX);
	for (size_t i = 0; i < c->n_items; i++) {
		const struct name_val *f;

		for (f = by_fields; f->name; f++)
			if (!strcmp(f->name, c->items[i].s))
				break;
		if (!f->name)
			return fail(c, d, c->items[i].node, "expected a field to "
				    "count by (exe, parent_exe, comm, user, "
				    "path, module, uid, euid, pid, raddr, laddr, "
				    "rport, lport), got '%s'", c->items[i].s);
		r->thresh.by[r->thresh.n_by++] = f->v;
	}
	return 0;
}

static int compile_rule(struct comp *c, struct doc *d, yaml_node_t *m)
{
	struct ruleset *rs = c->rs;
	yaml_node_t *name, *v;
	struct rule *r, *old;
	const char *sev;
	int ret;

	if (m->type != YAML_MAPPING_NODE)
		return fail(c, d, m, "expected a rule (a mapping)");
	ret = keys_known(c, d, m, "a rule", rule_keys);
	if (ret)
		return ret;
	name = get(d, m, "name");
	if (!name)
		return fail(c, d, m, "a rule without a name");
	if (!str(name) || !name_ok(str(name)))
		return fail(c, d, name, "expected a rule name of letters, "
			    "digits, '-', '_' and '.'");
	old = find_rule(rs, str(name));
	if (old) {
		/* name: and enabled: only: turn an earlier rule on or off */
		v = get(d, m, "enabled");
		if (!v || m->data.mapping.pairs.top -
			  m->data.mapping.pairs.start != 2)
			return fail(c, d, name, "a second rule named '%s' (to "
				    "turn one on or off, give only name and "
				    "enabled)", str(name));
		return get_flag(c, d, v, &old->enabled);
	}
	if (rs->n_rules >= RULES_MAX)
		return fail(c, d, m, "more than %d rules", RULES_MAX);
	r = &rs->rules[rs->n_rules++];
	memset(r, 0, sizeof(*r));
	r->enabled = true;
	r->severity = SEV_MEDIUM;
	r->name = strdup(str(name));
	if (!r->name)
		return -ENOMEM;
	v = get(d, m, "description");
	if (v) {
		if (!str(v))
			return fail(c, d, v, "expected a description");
		r->desc = strdup(str(v));
		if (!r->desc)
			return -ENOMEM;
	}
	v = get(d, m, "severity");
	if (v) {
		sev = str(v);
		if (sev && !strcmp(sev, "low"))
			r->severity = SEV_LOW;
		else if (sev && !strcmp(sev, "medium"))
			r->severity = SEV_MEDIUM;
		else if (sev && !strcmp(sev, "high"))
			r->severity = SEV_HIGH;
		else if (sev && !strcmp(sev, "critical"))
			r->severity = SEV_CRITICAL;
		else
			return fail(c, d, v, "expected a severity: low, medium, "
				    "high or critical");
	}
	v = get(d, m, "enabled");
	if (v && (ret = get_flag(c, d, v, &r->enabled)))
		return ret;
	v = get(d, m, "event");
	if (!v)
		return fail(c, d, m, "rule '%s' without an event type",
			    r->name);
	ret = compile_types(c, d, v, &r->types);
	if (ret)
		return ret;
	v = get(d, m, "match");
	if (v) {
		ret = compile_conds(c, d, v, "match", &r->conds, &r->n_conds);
		if (ret)
			return ret;
	}
	ret = compile_threshold(c, d, m, r);
	if (ret)
		return ret;
	v = get(d, m, "except");
	if (v) {
		size_t n;

		if (v->type != YAML_SEQUENCE_NODE)
			return fail(c, d, v, "expected a list of exceptions "
				    "(each a mapping of conditions)");
		n = v->data.sequence.items.top - v->data.sequence.items.start;
		r->except = calloc(n ? n : 1, sizeof(*r->except));
		if (!r->except)
			return -ENOMEM;
		for (yaml_node_item_t *i = v->data.sequence.items.start;
		     i < v->data.sequence.items.top; i++) {
			struct except *e = &r->except[r->n_except++];

			ret = compile_conds(c, d, node(d, *i), "an exception",
					    &e->conds, &e->n);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* The lists: of one source's mapping M, for the rules of all. */
static int gather_lists(struct comp *c, struct doc *d, yaml_node_t *m)
{
	yaml_node_t *l = get(d, m, "lists");

	if (!l)
		return 0;
	if (l->type != YAML_MAPPING_NODE)
		return fail(c, d, l, "expected a mapping of lists (name: [...])");
	for (yaml_node_pair_t *p = l->data.mapping.pairs.start;
	     p < l->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(d, p->key), *vn = node(d, p->value);
		struct list *nl;

		if (!str(kn) || !name_ok(str(kn)))
			return fail(c, d, kn, "expected a list name of "
				    "letters, digits, '-', '_' and '.'");
		if (find_list(c, str(kn)))
			return fail(c, d, kn, "a second list named '%s'",
				    str(kn));
		if (!vn || vn->type != YAML_SEQUENCE_NODE)
			return fail(c, d, vn ? vn : kn, "expected a list for "
				    "'%s'", str(kn));
		nl = realloc(c->lists, (c->n_lists + 1) * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		c->lists = nl;
		c->lists[c->n_lists++] = (struct list){ str(kn), d, vn };
	}
	return 0;
}

static int compile_rules(struct comp *c, struct doc *d, yaml_node_t *m)
{
	yaml_node_t *l = get(d, m, "rules");
	int ret;

	if (!l)
		return 0;
	if (l->type != YAML_SEQUENCE_NODE)
		return fail(c, d, l, "expected a list of rules");
	for (yaml_node_item_t *i = l->data.sequence.items.start;
	     i < l->data.sequence.items.top; i++) {
		ret = compile_rule(c, d, node(d, *i));
		if (ret)
			return ret;
	}
	return 0;
}

static const char *const file_keys[] = { "lists", "rules", NULL };

/* The mapping that holds lists: and rules: in D, or NULL. */
static int section(struct comp *c, struct doc *d, bool in_config,
		   yaml_node_t **out)
{
	yaml_node_t *root = yaml_document_get_root_node(&d->d);

	*out = NULL;
	if (!root || (root->type == YAML_SCALAR_NODE &&
		      !root->data.scalar.length))
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, d, root, "expected a mapping");
	if (in_config) {
		/* config.c checked the rest of the rules: section */
		*out = get(d, root, "rules");
		return 0;
	}
	*out = root;
	return keys_known(c, d, root, "a rules file", file_keys);
}

static void index_rules(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->n_rules; i++) {
		struct rule *r = &rs->rules[i];

		if (!r->enabled)
			continue;
		for (uint32_t t = 1; t <= RULES_EVENT_MAX; t++)
			if (r->types & IOTSEC_EVENT_BIT(t))
				rs->by_type[t][rs->n_by_type[t]++] = r;
	}
}

void rules_free(struct ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n_rules; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	for (uint32_t t = 0; t <= RULES_EVENT_MAX; t++)
		free(rs->by_type[t]);
	free(rs);
}

int rules_compile(struct ruleset **out, const struct rules_src *src,
		  size_t n, char *err, size_t errlen)
{
	struct comp c = { .err = err, .errlen = errlen };
	yaml_node_t **sec = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	c.docs = calloc(n ? n : 1, sizeof(*c.docs));
	sec = calloc(n ? n : 1, sizeof(*sec));
	c.rs = calloc(1, sizeof(*c.rs));
	if (!c.docs || !sec || !c.rs)
		goto out;
	c.rs->rules = calloc(RULES_MAX, sizeof(*c.rs->rules));
	if (!c.rs->rules)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct doc *d = &c.docs[i];
		yaml_parser_t p;

		d->name = src[i].name;
		if (!yaml_parser_initialize(&p))
			goto out;
		yaml_parser_set_input_string(&p, (const unsigned char *)
					     src[i].buf, src[i].len);
		if (!yaml_parser_load(&p, &d->d)) {
			yaml_mark_t mk = p.problem_mark;

			snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", d->name,
				 mk.line + 1, mk.column + 1, p.problem ?
				 p.problem : "malformed YAML", p.context ?
				 " " : "", p.context ? p.context : "");
			yaml_parser_delete(&p);
			ret = -EINVAL;
			goto out;
		}
		yaml_parser_delete(&p);
		d->loaded = true;
		c.n_docs++;
		ret = section(&c, d, src[i].in_config, &sec[i]);
		if (!ret && sec[i])
			ret = gather_lists(&c, d, sec[i]);
		if (ret)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ret = sec[i] ? compile_rules(&c, &c.docs[i], sec[i]) : 0;
		if (ret)
			goto out;
	}
	ret = -ENOMEM;
	for (uint32_t t = 1; t <= RULES_EVENT_MAX; t++) {
		c.rs->by_type[t] = calloc(c.rs->n_rules ? c.rs->n_rules : 1,
					  sizeof(struct rule *));
		if (!c.rs->by_type[t])
			goto out;
	}
	index_rules(c.rs);
	*out = c.rs;
	c.rs = NULL;
	ret = 0;
out:
	if (ret == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "rules: out of memory");
	rules_free(c.rs);
	for (size_t i = 0; i < c.n_docs; i++)
		yaml_document_delete(&c.docs[i].d);
	free(c.docs);
	free(sec);
	free(c.lists);
	free(c.items);
	return ret;
}

/* ---- files ---- */

static int read_file(const char *path, char **buf, size_t *len, char *err,
		     size_t errlen)
{
	struct stat st;
	size_t off = 0;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
		snprintf(err, errlen, "%s: expected a regular file of at most "
			 "1 MiB", path);
		close(fd);
		return -EINVAL;
	}
	*buf = malloc(st.st_size + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size &&
	       (r = read(fd, *buf + off, st.st_size - off)) > 0)
		off += r;
	close(fd);
	(*buf)[off] = '\0';
	*len = off;
	return 0;
}

static bool yaml_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' &&
	       ((l > 5 && !strcmp(n + l - 5, ".yaml")) ||
		(l > 4 && !strcmp(n + l - 4, ".yml")));
}

int rules_load(struct ruleset **out, const char *dir, const char *config,
	       char *err, size_t errlen)
{
	struct dirent **names = NULL;
	struct rules_src *src = NULL;
	char **paths = NULL, **bufs = NULL;
	int n = 0, ret = 0;
	size_t k = 0;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (dir) {
		n = scandir(dir, &names, NULL, alphasort);
		if (n < 0) {
			if (errno != ENOENT) {
				snprintf(err, errlen, "%s: %s", dir,
					 strerror(errno));
				return -errno;
			}
			n = 0;
		}
	}
	src = calloc(n + 1, sizeof(*src));
	paths = calloc(n + 1, sizeof(*paths));
	bufs = calloc(n + 1, sizeof(*bufs));
	if (!src || !paths || !bufs) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		size_t len;

		if (!yaml_name(names[i]->d_name))
			continue;
		if (asprintf(&paths[k], "%s/%s", dir, names[i]->d_name) < 0) {
			paths[k] = NULL;
			ret = -ENOMEM;
			goto out;
		}
		ret = read_file(paths[k], &bufs[k], &len, err, errlen);
		if (ret)
			goto out;
		src[k] = (struct rules_src){ paths[k], bufs[k], len, false };
		k++;
	}
	if (config && !access(config, F_OK)) {
		size_t len;

		ret = read_file(config, &bufs[k], &len, err, errlen);
		if (ret)
			goto out;
		src[k] = (struct rules_src){ config, bufs[k], len, true };
		k++;
	}
	ret = rules_compile(out, src, k, err, errlen);
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	for (int i = 0; paths && bufs && i <= n; i++) {
		free(paths[i]);
		free(bufs[i]);
	}
	free(paths);
	free(bufs);
	free(src);
	return ret;
}
