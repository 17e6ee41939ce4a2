// SPDX-License-Identifier: MIT
/*
 * Aggregation table and the deep copy of events the pipeline keeps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pipeline/aggregate.h"

#define STR_FIELDS(X) X(comm) X(exe) X(argv) X(cwd) X(module_name) X(path) \
	X(new_path) X(user) X(parent_exe) X(container) X(proc_exe)         \
	X(proc_cmdline) X(sha256) X(sha256_status)

struct record *record_new(const struct iotsec_event *ev)
{
	size_t n = 0;
	struct record *r;
	char *p;

#define LEN(f) n += ev->f.len;
	STR_FIELDS(LEN)
#undef LEN
	r = malloc(sizeof(*r) + n);
	if (!r)
		return NULL;
	r->next = r->hnext = NULL;
	r->hash = 0;
	r->hits = 1;
	r->first_ns = r->last_ns = ev->time_ns;
	r->aggregated = false;
	r->size = sizeof(*r) + n;
	r->ev = *ev;
	p = r->data;
#define COPY(f)                                                  \
	if (ev->f.s) {                                           \
		memcpy(p, ev->f.s, ev->f.len);                   \
		r->ev.f.s = p;                                   \
		p += ev->f.len;                                  \
	}
	STR_FIELDS(COPY)
#undef COPY
	return r;
}

void record_free(struct record *r)
{
	free(r);
}

/*
 * A small, fast 64-bit hash (wyhash-style mixing, 8 bytes a step): the
 * two halves of a 128-bit product, XORed. 32-bit targets (armhf) have no
 * 128-bit type: there the product is made of 32-bit halves, same value.
 */
static inline uint64_t mix(uint64_t h, uint64_t v)
{
	uint64_t a = h ^ v ^ 0xa0761d6478bd642fULL, b = v ^ 0xe7037ed1a0b428dbULL;
#ifdef __SIZEOF_INT128__
	unsigned __int128 m = (unsigned __int128)a * b;

	return (uint64_t)m ^ (uint64_t)(m >> 64);
#else
	uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
	uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
	uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
	uint64_t lo = (mid << 32) | (uint32_t)p00;
	uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);

	return lo ^ hi;
#endif
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t v;

	h = mix(h, len);
	while (len >= 8) {
		memcpy(&v, s, 8);
		h = mix(h, v);
		s += 8;
		len -= 8;
	}
	if (len) {
		v = 0;
		memcpy(&v, s, len);
		h = mix(h, v);
	}
	return h;
}

static inline uint64_t hash_str(uint64_t h, struct ev_str s)
{
	return hash_bytes(h, s.s ? s.s : "", s.len);
}

static inline bool str_eq(struct ev_str a, struct ev_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.s, b.s, a.len));
}

/*
 * The identity of an event: the fields that must match for two events to
 * aggregate. Strings go through hash_str/str_eq, the rest is a fixed
 * struct compared as bytes.
 */
struct ident {
	uint32_t type, uid;
	uint32_t a, b, c, d, e, f, g, h;
	uint64_t caps;
	uint8_t laddr[16], raddr[16];
	uint16_t family, port;
	int32_t result;
	uint8_t protocol, flag;
	uint16_t pad;
};

static void ident(const struct iotsec_event *ev, struct ident *k,
		  struct ev_str s[3])
{
	memset(k, 0, sizeof(*k));
	k->type = ev->type;
	k->uid = ev->uid;
	s[0] = ev_exe(ev);
	s[1] = s[2] = (struct ev_str){ NULL, 0 };
	switch (ev->type) {
	case IOTSEC_EVENT_EXEC:
		s[1] = ev->argv;
		/* another file at the same path is another program */
		s[2] = ev->sha256;
		break;
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
		s[1] = ev->proc_cmdline;
		memcpy(k->raddr, ev->raddr, 16);
		k->result = ev->result;
		/* fallthrough */
	case IOTSEC_EVENT_LISTEN:
		k->family = ev->family;
		memcpy(k->laddr, ev->laddr, 16);
		k->protocol = ev->protocol;
		/* Outbound: their port identifies it; else ours. */
		k->port = ev->type == IOTSEC_EVENT_CONNECT ? ev->rport :
							     ev->lport;
		break;
	case IOTSEC_EVENT_EXIT:
		k->a = ev->exit_code;
		k->b = ev->exit_signal;
		break;
	case IOTSEC_EVENT_CRED:
		k->a = ev->old_uid; k->b = ev->old_euid;
		k->c = ev->old_gid; k->d = ev->old_egid;
		k->e = ev->new_uid; k->f = ev->new_euid;
		k->g = ev->new_gid; k->h = ev->new_egid;
		k->caps = ev->caps_gained;
		k->flag = ev->from_exec;
		break;
	case IOTSEC_EVENT_MODULE:
		s[1] = ev->module_name;
		k->result = ev->result;
		break;
	case IOTSEC_EVENT_PTRACE:
		k->a = ev->target_tgid;
		k->b = ev->ptrace_mode;
		break;
	case IOTSEC_EVENT_FILE:
		s[1] = ev->path;
		s[2] = ev->new_path;
		k->a = ev->file_op;
		break;
	}
}

uint64_t record_key_hash(const struct iotsec_event *ev)
{
	struct ident k;
	struct ev_str s[3];
	uint64_t h;

	ident(ev, &k, s);
	h = hash_bytes(0x9e3779b97f4a7c15ULL, &k, sizeof(k));
	for (int i = 0; i < 3; i++)
		h = hash_str(h, s[i]);
	return h;
}

bool record_key_equal(const struct iotsec_event *a,
		      const struct iotsec_event *b)
{
	struct ident ka, kb;
	struct ev_str sa[3], sb[3];

	if (a->type != b->type || a->uid != b->uid)
		return false;
	ident(a, &ka, sa);
	ident(b, &kb, sb);
	if (memcmp(&ka, &kb, sizeof(ka)))
		return false;
	for (int i = 0; i < 3; i++)
		if (!str_eq(sa[i], sb[i]))
			return false;
	return true;
}

int agg_init(struct agg *a, size_t buckets)
{
	size_t n = 16;

	while (n < buckets)
		n <<= 1;
	a->table = calloc(n, sizeof(*a->table));
	if (!a->table)
		return -ENOMEM;
	a->mask = n - 1;
	a->count = 0;
	return 0;
}

void agg_fini(struct agg *a)
{
	free(a->table);
	a->table = NULL;
}

struct record *agg_hit(struct agg *a, const struct iotsec_event *ev)
{
	uint64_t h = record_key_hash(ev);
	struct record *r;

	for (r = a->table[h & a->mask]; r; r = r->hnext) {
		if (r->hash != h || !record_key_equal(&r->ev, ev))
			continue;
		r->hits++;
		if (ev->time_ns < r->first_ns)
			r->first_ns = ev->time_ns;
		if (ev->time_ns > r->last_ns)
			r->last_ns = ev->time_ns;
		return r;
	}
	return NULL;
}

static void grow(struct agg *a)
{
	size_t n = (a->mask + 1) * 2;
	struct record **t = calloc(n, sizeof(*t));

	if (!t)
		return;	/* longer chains, still correct */
	for (size_t i = 0; i <= a->mask; i++) {
		struct record *r = a->table[i], *next;

		for (; r; r = next) {
			next = r->hnext;
			r->hnext = t[r->hash & (n - 1)];
			t[r->hash & (n - 1)] = r;
		}
	}
	free(a->table);
	a->table = t;
	a->mask = n - 1;
}

void agg_insert(struct agg *a, struct record *r)
{
	r->hash = record_key_hash(&r->ev);
	r->aggregated = true;
	if (a->count >= a->mask + 1)
		grow(a);
	r->hnext = a->table[r->hash & a->mask];
	a->table[r->hash & a->mask] = r;
	a->count++;
}

void agg_clear(struct agg *a)
{
	if (a->count)
		memset(a->table, 0, (a->mask + 1) * sizeof(*a->table));
	a->count = 0;
}
