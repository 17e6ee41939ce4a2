// SPDX-License-Identifier: MIT
/*
 * Indicator lists: parsing, lookups, the domains' resolver thread and the
 * alerts (ioc.h; docs/rules.md).
 *
 * Digests, exact addresses and paths are keys of one kind of open
 * addressing hash set (bytes, FNV-1a); CIDRs are binary tries, one over
 * the 32 bits of IPv4 addresses (and IPv4-mapped IPv6 ones), one over the
 * 128 bits of IPv6, walked bit by bit and stopped at the first listed
 * prefix.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "common/clock.h"
#include "pipeline/aggregate.h"
#include "pipeline/ioc.h"
#include "pipeline/serialize.h"

static const char *const kind_names[IOC_KIND_N] = {
	[IOC_HASH] = "hash", [IOC_ADDRESS] = "address",
	[IOC_DOMAIN] = "domain", [IOC_PATH] = "path",
};

const char *ioc_kind_name(enum ioc_kind k)
{
	return k < IOC_KIND_N ? kind_names[k] : "unknown";
}

/* ---- a set of byte strings ---- */

struct sent {
	uint64_t h;
	char *key;		/* NULL: free slot */
	uint32_t len, line;
};

struct sset {
	struct sent *e;
	size_t mask, n;		/* capacity - 1 (0: none yet), used */
};

static uint64_t fnv(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

static const struct sent *sset_find(const struct sset *s, const void *k,
				    size_t len)
{
	uint64_t h;

	if (!s->n)
		return NULL;
	h = fnv(k, len);
	for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
		const struct sent *e = &s->e[i];

		if (!e->key)
			return NULL;
		if (e->h == h && e->len == len && !memcmp(e->key, k, len))
			return e;
	}
}

static int sset_grow(struct sset *s)
{
	size_t cap = s->mask ? 2 * (s->mask + 1) : 64;
	struct sent *ne = calloc(cap, sizeof(*ne));

	if (!ne)
		return -ENOMEM;
	for (size_t i = 0; s->mask && i <= s->mask; i++) {
		size_t j;

		if (!s->e[i].key)
			continue;
		for (j = s->e[i].h & (cap - 1); ne[j].key; j = (j + 1) & (cap - 1))
			;
		ne[j] = s->e[i];
	}
	free(s->e);
	s->e = ne;
	s->mask = cap - 1;
	return 0;
}

/* 1 added, 0 already there, -ENOMEM */
static int sset_add(struct sset *s, const void *k, size_t len,
		    unsigned int line)
{
	struct sent *e;
	uint64_t h;
	size_t i;

	if (sset_find(s, k, len))
		return 0;
	if ((s->n + 1) * 2 > (s->mask ? s->mask + 1 : 0) && sset_grow(s))
		return -ENOMEM;
	h = fnv(k, len);
	for (i = h & s->mask; s->e[i].key; i = (i + 1) & s->mask)
		;
	e = &s->e[i];
	e->key = malloc(len ? len : 1);
	if (!e->key)
		return -ENOMEM;
	memcpy(e->key, k, len);
	e->h = h;
	e->len = (uint32_t)len;
	e->line = line;
	s->n++;
	return 1;
}

static void sset_free(struct sset *s)
{
	for (size_t i = 0; s->mask && i <= s->mask; i++)
		free(s->e[i].key);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

/* ---- a binary trie of CIDRs ---- */

struct tnode {
	uint32_t child[2];	/* 0: none (the root is never a child) */
	uint32_t line;		/* 0: no prefix ends here */
};

struct trie {
	struct tnode *n;
	size_t used, cap;
};

static int trie_add(struct trie *t, const uint8_t *a, unsigned int bits,
		    unsigned int line)
{
	uint32_t cur = 0;

	if (!t->cap) {
		t->n = calloc(64, sizeof(*t->n));
		if (!t->n)
			return -ENOMEM;
		t->cap = 64;
		t->used = 1;
	}
	for (unsigned int i = 0; i < bits; i++) {
		unsigned int b = a[i / 8] >> (7 - i % 8) & 1;

		if (t->n[cur].line)
			return 0;	/* a shorter prefix covers it */
		if (!t->n[cur].child[b]) {
			if (t->used == t->cap) {
				struct tnode *nn = realloc(t->n, 2 * t->cap *
							   sizeof(*nn));

				if (!nn)
					return -ENOMEM;
				memset(nn + t->cap, 0, t->cap * sizeof(*nn));
				t->n = nn;
				t->cap *= 2;
			}
			t->n[cur].child[b] = (uint32_t)t->used++;
		}
		cur = t->n[cur].child[b];
	}
	if (!t->n[cur].line)
		t->n[cur].line = line;
	return 1;
}

static unsigned int trie_find(const struct trie *t, const uint8_t *a,
			      unsigned int max)
{
	uint32_t cur = 0;

	if (!t->cap)
		return 0;
	for (unsigned int i = 0; i < max; i++) {
		if (t->n[cur].line)
			return t->n[cur].line;
		cur = t->n[cur].child[a[i / 8] >> (7 - i % 8) & 1];
		if (!cur)
			return 0;
	}
	return t->n[cur].line;
}

/* ---- the resolver: shared with its thread, freed by the last ---- */

struct resolver {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int refs;
	bool stop;
	uint64_t refresh_ms;
	char **names;		/* the domains, a copy */
	size_t n_names;
	struct sset addrs;	/* 16-byte keys, line: 1 + index in names */
};

static void resolver_put(struct resolver *r)
{
	bool last;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	for (size_t i = 0; i < r->n_names; i++)
		free(r->names[i]);
	free(r->names);
	sset_free(&r->addrs);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct ioc_list {
	char *file;
	size_t count;
};

struct ioc_set {
	struct ioc_list list[IOC_KIND_N];
	struct sset hashes, addrs, paths, domains;
	struct trie cidrs4, cidrs6;	/* IPv4 (and v4-mapped), IPv6 */
	struct resolver *res;
};

static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

/* A 16-byte key: IPv4 as ::ffff:a.b.c.d */
static bool addr_key(uint16_t family, const uint8_t *a, uint8_t k[16])
{
	if (family == AF_INET) {
		memset(k, 0, 10);
		k[10] = k[11] = 0xff;
		memcpy(k + 12, a, 4);
		return true;
	}
	if (family == AF_INET6) {
		memcpy(k, a, 16);
		return true;
	}
	return false;
}

static void *resolve_run(void *arg)
{
	struct resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct sset found = { 0 };
		struct timespec until;

		pthread_mutex_unlock(&r->lock);
		for (size_t i = 0; i < r->n_names; i++) {
			struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
			struct addrinfo *ai = NULL, *p;
			uint8_t k[16];

			if (getaddrinfo(r->names[i], NULL, &hints, &ai))
				continue;
			for (p = ai; p; p = p->ai_next) {
				const void *a = NULL;

				if (p->ai_family == AF_INET)
					a = &((struct sockaddr_in *)
					      p->ai_addr)->sin_addr;
				else if (p->ai_family == AF_INET6)
					a = &((struct sockaddr_in6 *)
					      p->ai_addr)->sin6_addr;
				if (a && addr_key((uint16_t)p->ai_family, a, k))
					sset_add(&found, k, 16,
						 (unsigned int)i + 1);
			}
			freeaddrinfo(ai);
		}
		pthread_mutex_lock(&r->lock);
		sset_free(&r->addrs);
		r->addrs = found;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(r->refresh_ms / 1000);
		until.tv_nsec += (long)(r->refresh_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!r->stop &&
		       pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&r->lock);
	resolver_put(r);
	return NULL;
}

int ioc_resolve_start(struct ioc_set *s, uint64_t refresh_ms)
{
	struct resolver *r;
	sigset_t all, old;
	pthread_t t;
	size_t j = 0;
	int ret;

	if (s->res || !s->domains.n)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->names = calloc(s->domains.n, sizeof(char *));
	if (!r->names) {
		free(r);
		return -ENOMEM;
	}
	/* in the order of their lines: line i+1 names names[i] */
	for (size_t i = 0; i <= s->domains.mask; i++) {
		const struct sent *e = &s->domains.e[i];

		if (e->key)
			r->names[j++] = strndup(e->key, e->len);
	}
	r->n_names = j;
	r->refresh_ms = refresh_ms ? refresh_ms : 600000;
	r->refs = 2;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&t, NULL, resolve_run, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		r->refs = 1;
		resolver_put(r);
		return -ret;
	}
	pthread_detach(t);
	s->res = r;
	return 0;
}

size_t ioc_resolved_count(struct ioc_set *s)
{
	size_t n;

	if (!s->res)
		return 0;
	pthread_mutex_lock(&s->res->lock);
	n = s->res->addrs.n;
	pthread_mutex_unlock(&s->res->lock);
	return n;
}

/* ---- loading ---- */

struct ioc_set *ioc_new(void)
{
	return calloc(1, sizeof(struct ioc_set));
}

void ioc_free(struct ioc_set *s)
{
	if (!s)
		return;
	if (s->res) {
		pthread_mutex_lock(&s->res->lock);
		s->res->stop = true;
		pthread_cond_signal(&s->res->wake);
		pthread_mutex_unlock(&s->res->lock);
		resolver_put(s->res);
	}
	for (int k = 0; k < IOC_KIND_N; k++)
		free(s->list[k].file);
	sset_free(&s->hashes);
	sset_free(&s->addrs);
	sset_free(&s->paths);
	sset_free(&s->domains);
	free(s->cidrs4.n);
	free(s->cidrs6.n);
	free(s);
}

size_t ioc_count(const struct ioc_set *s, enum ioc_kind k)
{
	return s && k < IOC_KIND_N ? s->list[k].count : 0;
}

static void warn(ioc_warn_fn fn, void *ctx, const char *file,
		 unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void warn(ioc_warn_fn fn, void *ctx, const char *file,
		 unsigned int line, const char *fmt, ...)
{
	char msg[512], what[400];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(msg, sizeof(msg), "%s:%u: %s", file, line, what);
	else
		snprintf(msg, sizeof(msg), "%s: %s", file, what);
	fn(ctx, msg);
}

/* letters, digits, '-', '_' in labels of 1..63, 253 in all */
static bool domain_ok(char *d, size_t len)
{
	size_t label = 0;

	if (!len || len > 253 || d[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)d[i];

		if (ch == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(ch) && ch != '-' && ch != '_')
			return false;
		d[i] = (char)tolower(ch);
		if (++label > 63)
			return false;
	}
	return true;
}

/* One indicator (a NUL-terminated line); 1, 0 (a duplicate), -EINVAL. */
static int add_one(struct ioc_set *s, enum ioc_kind k, char *v, size_t len,
		   unsigned int line, const char **why)
{
	uint8_t d[HASH_LEN], a[16], key[16];
	unsigned int bits;
	char *slash;
	int fam;

	switch (k) {
	case IOC_HASH:
		*why = "expected a SHA-256 digest (64 hex digits)";
		if (!hash_from_hex(v, len, d))
			return -EINVAL;
		return sset_add(&s->hashes, d, HASH_LEN, line);
	case IOC_ADDRESS:
		*why = "expected an IPv4 or IPv6 address or CIDR";
		slash = strchr(v, '/');
		if (slash)
			*slash = '\0';
		fam = strchr(v, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, v, a) != 1)
			return -EINVAL;
		bits = fam == AF_INET ? 32 : 128;
		if (slash) {
			char *end;
			unsigned long n;

			*slash = '/';
			if (!isdigit((unsigned char)slash[1]))
				return -EINVAL;
			n = strtoul(slash + 1, &end, 10);
			if (*end || n > bits)
				return -EINVAL;
			bits = (unsigned int)n;
		}
		addr_key((uint16_t)fam, a, key);
		if (fam == AF_INET)
			bits += 96;
		if (bits == 128)
			return sset_add(&s->addrs, key, 16, line);
		/* IPv4 (::ffff:0:0/96 and longer): a trie of 32 bits */
		if (bits >= 96 && !memcmp(key, v4mapped, 12))
			return trie_add(&s->cidrs4, key + 12, bits - 96, line);
		return trie_add(&s->cidrs6, key, bits, line);
	case IOC_DOMAIN:
		*why = "expected a domain name";
		if (len && v[len - 1] == '.')
			v[--len] = '\0';
		if (!domain_ok(v, len))
			return -EINVAL;
		if (s->domains.n >= IOC_MAX_DOMAINS) {
			*why = "more than 1024 domains, skipped";
			return -EINVAL;
		}
		return sset_add(&s->domains, v, len, line);
	case IOC_PATH:
		*why = "expected an absolute path";
		if (v[0] != '/' || len >= 4096)
			return -EINVAL;
		return sset_add(&s->paths, v, len, line);
	default:
		return -EINVAL;
	}
}

int ioc_add_text(struct ioc_set *s, enum ioc_kind k, const char *name,
		 const char *buf, size_t len, ioc_warn_fn wfn, void *ctx)
{
	char line[IOC_MAX_LINE + 1];
	unsigned int lineno = 0;
	size_t pos = 0, added = 0;
	bool full_said = false;

	if (k >= IOC_KIND_N)
		return -EINVAL;
	if (!s->list[k].file) {
		s->list[k].file = strdup(name ? name : "-");
		if (!s->list[k].file)
			return -ENOMEM;
	}
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
		const char *why = NULL;
		char *v, *c;
		size_t vlen;
		int ret;

		lineno++;
		if (n > IOC_MAX_LINE) {
			warn(wfn, ctx, name, lineno, "line longer than %d bytes",
			     IOC_MAX_LINE);
			pos = end + 1;
			continue;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos = end + 1;
		if (strlen(line) != n) {
			warn(wfn, ctx, name, lineno, "a NUL byte in the line");
			continue;
		}
		/* a comment: '#' first or after a blank */
		for (c = line; (c = strchr(c, '#')); c++)
			if (c == line || isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		v = line;
		while (isspace((unsigned char)*v))
			v++;
		vlen = strlen(v);
		while (vlen && isspace((unsigned char)v[vlen - 1]))
			v[--vlen] = '\0';
		if (!vlen)
			continue;
		if (s->list[k].count >= IOC_MAX_ENTRIES) {
			if (!full_said)
				warn(wfn, ctx, name, lineno, "more than %u "
				     "indicators: the rest is skipped",
				     IOC_MAX_ENTRIES);
			full_said = true;
			continue;
		}
		ret = add_one(s, k, v, vlen, lineno, &why);
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			char shown[80];

			snprintf(shown, sizeof(shown), "%.*s%s", 64, v,
				 vlen > 64 ? "..." : "");
			for (c = shown; *c; c++)
				if ((unsigned char)*c < 0x20 ||
				    (unsigned char)*c >= 0x7f)
					*c = '?';
			warn(wfn, ctx, name, lineno, "%s, got '%s'", why, shown);
			continue;
		}
		s->list[k].count += (size_t)ret;
		added += (size_t)ret;
	}
	return (int)added;
}

#define IOC_FILE_MAX ((off_t)64 << 20)

int ioc_load(struct ioc_set **out, const char *const files[IOC_KIND_N],
	     ioc_warn_fn wfn, void *ctx)
{
	struct ioc_set *s = ioc_new();
	int ret = 0;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	for (int k = 0; k < IOC_KIND_N && !ret; k++) {
		struct stat st;
		char *buf = NULL;
		ssize_t n = 0;
		int fd;

		if (!files[k] || !*files[k])
			continue;
		fd = open(files[k], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
		    st.st_size > IOC_FILE_MAX) {
			warn(wfn, ctx, files[k], 0, "%s; the list is empty",
			     fd < 0 ? strerror(errno) :
			     "not a regular file of at most 64 MiB");
			if (fd >= 0)
				close(fd);
			continue;
		}
		buf = malloc((size_t)st.st_size + 1);
		if (buf)
			n = read(fd, buf, (size_t)st.st_size);
		close(fd);
		if (!buf) {
			ret = -ENOMEM;
			break;
		}
		if (n < 0) {
			warn(wfn, ctx, files[k], 0, "%s; the list is empty",
			     strerror(errno));
		} else {
			ret = ioc_add_text(s, (enum ioc_kind)k, files[k], buf,
					   (size_t)n, wfn, ctx);
			ret = ret < 0 ? ret : 0;
		}
		free(buf);
	}
	if (ret) {
		ioc_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* ---- lookups ---- */

static bool found(const struct ioc_set *s, enum ioc_kind k, unsigned int line,
		  struct ioc_hit *hit)
{
	if (hit) {
		hit->kind = k;
		hit->file = s->list[k].file;
		hit->line = line;
		hit->domain = NULL;
	}
	return true;
}

bool ioc_find_hash(const struct ioc_set *s, const uint8_t d[HASH_LEN],
		   struct ioc_hit *hit)
{
	const struct sent *e = s ? sset_find(&s->hashes, d, HASH_LEN) : NULL;

	return e && found(s, IOC_HASH, e->line, hit);
}

bool ioc_find_addr(const struct ioc_set *s, uint16_t family,
		   const uint8_t *a, struct ioc_hit *hit)
{
	const struct sent *e;
	uint8_t k[16];
	unsigned int line;

	if (!s || !addr_key(family, a, k))
		return false;
	e = sset_find(&s->addrs, k, 16);
	if (e)
		return found(s, IOC_ADDRESS, e->line, hit);
	line = !memcmp(k, v4mapped, 12) ? trie_find(&s->cidrs4, k + 12, 32) :
					   trie_find(&s->cidrs6, k, 128);
	if (!line)	/* an IPv6 prefix shorter than /96 may hold it too */
		line = trie_find(&s->cidrs6, k, 128);
	return line && found(s, IOC_ADDRESS, line, hit);
}

bool ioc_find_resolved(struct ioc_set *s, uint16_t family, const uint8_t *a,
		       struct ioc_hit *hit)
{
	const struct sent *e;
	uint8_t k[16];
	bool ret = false;

	if (!s || !s->res || !addr_key(family, a, k))
		return false;
	pthread_mutex_lock(&s->res->lock);
	e = sset_find(&s->res->addrs, k, 16);
	if (e) {
		const char *name = s->res->names[e->line - 1];
		const struct sent *d = sset_find(&s->domains, name,
						 strlen(name));

		ret = found(s, IOC_DOMAIN, d ? d->line : 0, hit);
		if (hit)
			hit->domain = name;	/* lives as long as S */
	}
	pthread_mutex_unlock(&s->res->lock);
	return ret;
}

bool ioc_find_path(const struct ioc_set *s, const char *p, size_t len,
		   struct ioc_hit *hit)
{
	const struct sent *e = s && p ? sset_find(&s->paths, p, len) : NULL;

	return e && found(s, IOC_PATH, e->line, hit);
}

/* ---- alerts ---- */

static const char *const severity[IOC_KIND_N] = {
	[IOC_HASH] = "Critical", [IOC_ADDRESS] = "High",
	[IOC_DOMAIN] = "High", [IOC_PATH] = "High",
};

static int add(struct json_object *o, const char *k, struct json_object *v)
{
	if (!v || json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* A RuleAlert "ioc:KIND" (the shape of rules.c's) for REC. */
static void alert(struct ioc_engine *e, enum ioc_kind k, const char *desc,
		  const struct record *rec, uint64_t hits, uint64_t first_ns,
		  uint64_t last_ns)
{
	struct json_object *p = json_object_new_object(), *trig;
	char utc[32], local[40], name[16];

	if (!p)
		return;
	snprintf(name, sizeof(name), "ioc:%s", kind_names[k]);
	add(p, "RuleName", json_object_new_string(name));
	add(p, "Severity", json_object_new_string(severity[k]));
	add(p, "Description", json_object_new_string(desc));
	add(p, "HitCount", json_object_new_int64((int64_t)hits));
	ser_time(e->ser, first_ns, utc, local);
	add(p, "FirstTime", json_object_new_string(utc));
	ser_time(e->ser, last_ns, utc, local);
	add(p, "LastTime", json_object_new_string(utc));
	trig = json_object_new_object();
	if (trig) {
		add(trig, "Name", json_object_new_string(
			    ser_event_name(rec->ev.type)));
		add(trig, "Payload", ser_payload(e->ser, rec));
		add(p, "TriggeringEvent", trig);
	}
	if (ser_rule_alert(e->ser, p, last_ns, e->out, e->ctx))
		e->stats.alerts++;
}

/* ST's held hits as one alert (a new interval), or ST free again. */
static void release(struct ioc_engine *e, struct ioc_state *st,
		    uint64_t now_ms)
{
	if (st->held) {
		alert(e, st->kind, st->desc, st->held, st->pending,
		      st->first_ns, st->last_ns);
		record_free(st->held);
		st->held = NULL;
		st->pending = 0;
		st->window_end_ms = now_ms + e->aggregate_ms;
	} else if (st->window_end_ms) {
		st->window_end_ms = 0;
		e->n_busy--;
	}
}

static uint64_t key_hash(enum ioc_kind k, const char *what)
{
	return fnv(what, strlen(what)) ^ (uint64_t)k;
}

/*
 * The slot of indicator (K, WHAT), or a free one for it (NULL: none, or
 * no memory). A slot whose interval ended is released first.
 */
static struct ioc_state *slot(struct ioc_engine *e, enum ioc_kind k,
			      const char *what, uint64_t now_ms)
{
	uint64_t h = key_hash(k, what);
	struct ioc_state *free_st = NULL;

	if (!e->st) {
		e->st = calloc(IOC_TRACKED, sizeof(*e->st));
		if (!e->st)
			return NULL;
	}
	for (size_t i = 0; i < IOC_TRACKED; i++) {
		struct ioc_state *st = &e->st[i];

		if (st->window_end_ms && st->window_end_ms <= now_ms)
			release(e, st, now_ms);
		if (!st->window_end_ms) {
			if (!free_st)
				free_st = st;
			continue;
		}
		if (st->key_hash == h && st->kind == k &&
		    !strcmp(st->key, what))
			return st;
	}
	if (free_st) {
		free_st->kind = k;
		free_st->key_hash = h;
		snprintf(free_st->key, sizeof(free_st->key), "%s", what);
		free_st->desc[0] = '\0';
	}
	return free_st;
}

/*
 * As a rule's hit (docs/rules.md, "Hit counts"), per indicator: the kind
 * and WHAT, the value that matched.
 */
static void hit(struct ioc_engine *e, const struct ioc_hit *h,
		const struct iotsec_event *ev, const char *what,
		uint64_t now_ms)
{
	struct ioc_state *st = NULL;
	struct record *rec;
	char desc[sizeof(st->desc)];

	e->stats.hits++;
	if (e->aggregate_ms)
		st = slot(e, h->kind, what, now_ms);
	if (st && st->window_end_ms > now_ms) {
		/* within the interval of this indicator's last alert */
		if (!st->held) {
			st->held = record_new(ev);
			st->first_ns = ev->time_ns;
		}
		st->pending++;
		st->last_ns = ev->time_ns;
		e->stats.suppressed++;
		return;
	}
	if (h->domain)
		snprintf(desc, sizeof(desc),
			 "%s resolves from %s, listed in %s:%u", what,
			 h->domain, h->file, h->line);
	else
		snprintf(desc, sizeof(desc), "%s is listed in %s:%u",
			 what, h->file, h->line);
	rec = record_new(ev);
	if (rec) {
		alert(e, h->kind, desc, rec, 1, ev->time_ns, ev->time_ns);
		record_free(rec);
	}
	if (!st) {
		if (e->aggregate_ms)
			e->stats.untracked++;
		return;
	}
	memcpy(st->desc, desc, sizeof(desc));
	st->window_end_ms = now_ms + e->aggregate_ms;
	e->n_busy++;
}

static void what_str(char *out, size_t len, const char *label,
		     const char *s, size_t n)
{
	snprintf(out, len, "%s %.*s", label, (int)(n > 300 ? 300 : n), s);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
}

unsigned int ioc_eval(struct ioc_engine *e, const struct iotsec_event *ev,
		      uint64_t now_ms)
{
	struct ioc_set *s = e->set;
	unsigned int hits = 0;
	struct ioc_hit h;
	char what[400];

	e->stats.events++;
	if (!s)
		return 0;
	switch (ev->type) {
	case IOTSEC_EVENT_EXEC:
		if (ioc_find_path(s, ev->exe.s, ev->exe.len, &h)) {
			what_str(what, sizeof(what), "executable", ev->exe.s,
				 ev->exe.len);
			hit(e, &h, ev, what, now_ms);
			hits++;
		}
		break;
	case IOTSEC_EVENT_FILE:
		if (ioc_find_path(s, ev->path.s, ev->path.len, &h)) {
			what_str(what, sizeof(what), "file", ev->path.s,
				 ev->path.len);
			hit(e, &h, ev, what, now_ms);
			hits++;
		} else if (ioc_find_path(s, ev->new_path.s, ev->new_path.len,
					 &h)) {
			/* the name the description gives is the listed one */
			what_str(what, sizeof(what), "file", ev->new_path.s,
				 ev->new_path.len);
			hit(e, &h, ev, what, now_ms);
			hits++;
		}
		break;
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
		if (ioc_find_addr(s, ev->family, ev->raddr, &h) ||
		    ioc_find_resolved(s, ev->family, ev->raddr, &h)) {
			char a[INET6_ADDRSTRLEN] = "?";

			inet_ntop(ev->family, ev->raddr, a, sizeof(a));
			snprintf(what, sizeof(what), "remote address %s", a);
			hit(e, &h, ev, what, now_ms);
			hits++;
		}
		break;
	}
	return hits;
}

unsigned int ioc_eval_hash(struct ioc_engine *e, const struct iotsec_event *ev,
			   const uint8_t d[HASH_LEN], uint64_t now_ms)
{
	struct ioc_hit h;
	char hex[2 * HASH_LEN + 1], what[400];

	if (!ioc_find_hash(e->set, d, &h))
		return 0;
	hash_hex(d, hex);
	snprintf(what, sizeof(what), "SHA-256 %s of %.*s", hex,
		 (int)(ev->exe.len > 300 ? 300 : ev->exe.len),
		 ev->exe.s ? ev->exe.s : "");
	for (char *c = what; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	hit(e, &h, ev, what, now_ms);
	return 1;
}

uint64_t ioc_tick(struct ioc_engine *e, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; e->n_busy && i < IOC_TRACKED; i++) {
		struct ioc_state *st = &e->st[i];

		if (st->window_end_ms && st->window_end_ms <= now_ms)
			release(e, st, now_ms);
		if (st->window_end_ms && st->window_end_ms - now_ms < next)
			next = st->window_end_ms - now_ms;
	}
	return next;
}

void ioc_flush(struct ioc_engine *e, uint64_t now_ms)
{
	for (size_t i = 0; e->st && i < IOC_TRACKED; i++)
		if (e->st[i].held)
			release(e, &e->st[i], now_ms);
}

void ioc_engine_init(struct ioc_engine *e, struct ser *ser, rules_out_fn out,
		     void *ctx)
{
	memset(e, 0, sizeof(*e));
	e->ser = ser;
	e->out = out;
	e->ctx = ctx;
	e->aggregate_ms = 60 * 1000;
}

void ioc_engine_set(struct ioc_engine *e, struct ioc_set *set,
		    uint64_t now_ms)
{
	ioc_flush(e, now_ms);
	ioc_free(e->set);
	e->set = set;
}

void ioc_engine_fini(struct ioc_engine *e)
{
	for (size_t i = 0; e->st && i < IOC_TRACKED; i++)
		record_free(e->st[i].held);
	free(e->st);
	e->st = NULL;
	e->n_busy = 0;
	ioc_free(e->set);
	e->set = NULL;
}
