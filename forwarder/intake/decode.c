// SPDX-License-Identifier: MIT
/*
 * The pure decoder (decode.h): libnl parses and checks the attributes of
 * a buffer against the policies below; no socket is involved.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/attr.h>
#include "intake/decode.h"

/* libnl checks only a minimum length unless maxlen is set: exact sizes. */
#define P_EXACT(t, n)	{ .type = (t), .minlen = (n), .maxlen = (n) }
#define P_U8		P_EXACT(NLA_U8, 1)
#define P_U16		P_EXACT(NLA_U16, 2)
#define P_U32		P_EXACT(NLA_U32, 4)
#define P_S32		P_EXACT(NLA_S32, 4)
#define P_U64		P_EXACT(NLA_U64, 8)
#define P_STR		{ .type = NLA_STRING }
#define P_FLAG		{ .type = NLA_FLAG }
#define P_BIN		{ .type = NLA_BINARY }
#define P_ADDR		{ .type = NLA_BINARY, .minlen = 4, .maxlen = 16 }
#define P_NEST		{ .type = NLA_NESTED }

/* Types left NLA_UNSPEC in a policy are the ones the decoder skips. */
static const struct nla_policy ea_policy[IOTSEC_EA_MAX + 1] = {
	[IOTSEC_EA_CPU] = P_U32, [IOTSEC_EA_SEQ] = P_U64,
	[IOTSEC_EA_TIME_NS] = P_U64, [IOTSEC_EA_TGID] = P_U32,
	[IOTSEC_EA_TID] = P_U32, [IOTSEC_EA_PTGID] = P_U32,
	[IOTSEC_EA_UID] = P_U32, [IOTSEC_EA_GID] = P_U32,
	[IOTSEC_EA_EUID] = P_U32, [IOTSEC_EA_EGID] = P_U32,
	[IOTSEC_EA_LOGINUID] = P_U32, [IOTSEC_EA_SESSIONID] = P_U32,
	[IOTSEC_EA_COMM] = P_STR, [IOTSEC_EA_CGROUP_ID] = P_U64,
	[IOTSEC_EA_EXE] = P_STR, [IOTSEC_EA_ARGV] = P_BIN,
	[IOTSEC_EA_ARGV_TRUNCATED] = P_FLAG, [IOTSEC_EA_CWD] = P_STR,
	[IOTSEC_EA_SECURE_EXEC] = P_FLAG, [IOTSEC_EA_EXIT_CODE] = P_U32,
	[IOTSEC_EA_EXIT_SIGNAL] = P_U32, [IOTSEC_EA_CHILD_TGID] = P_U32,
	[IOTSEC_EA_FAMILY] = P_U16, [IOTSEC_EA_PROTOCOL] = P_U8,
	[IOTSEC_EA_LADDR] = P_ADDR, [IOTSEC_EA_LPORT] = P_U16,
	[IOTSEC_EA_RADDR] = P_ADDR, [IOTSEC_EA_RPORT] = P_U16,
	[IOTSEC_EA_RESULT] = P_S32, [IOTSEC_EA_OLD_UID] = P_U32,
	[IOTSEC_EA_OLD_EUID] = P_U32, [IOTSEC_EA_OLD_GID] = P_U32,
	[IOTSEC_EA_OLD_EGID] = P_U32, [IOTSEC_EA_NEW_UID] = P_U32,
	[IOTSEC_EA_NEW_EUID] = P_U32, [IOTSEC_EA_NEW_GID] = P_U32,
	[IOTSEC_EA_NEW_EGID] = P_U32, [IOTSEC_EA_CAPS_GAINED] = P_U64,
	[IOTSEC_EA_FROM_EXEC] = P_FLAG, [IOTSEC_EA_MODULE_NAME] = P_STR,
	[IOTSEC_EA_TARGET_TGID] = P_U32, [IOTSEC_EA_PTRACE_MODE] = P_U32,
	[IOTSEC_EA_PATH] = P_STR, [IOTSEC_EA_FILE_OP] = P_U32,
	[IOTSEC_EA_NEW_PATH] = P_STR,
	/* tamper events */
	[IOTSEC_EA_TAMPER_KIND] = P_U32, [IOTSEC_EA_SIGNAL] = P_U32,
	[IOTSEC_EA_OLD_MASK] = P_U32, [IOTSEC_EA_NEW_MASK] = P_U32,
	[IOTSEC_EA_UNWATCHED] = P_U32, [IOTSEC_EA_EXCLUDED] = P_U32,
	[IOTSEC_EA_EXE_DEV] = P_U32, [IOTSEC_EA_EXE_INO] = P_U64,
	[IOTSEC_EA_EXE_CTIME_SEC] = P_U64, [IOTSEC_EA_EXE_CTIME_NSEC] = P_U32,
};

static const struct nla_policy batch_policy[IOTSEC_A_MAX + 1] = {
	[IOTSEC_A_BATCH_SEQ] = P_U64,
	[IOTSEC_A_COUNTERS] = P_NEST,
	[IOTSEC_A_EVENTS] = P_NEST,
};

static const struct nla_policy stats_policy[IOTSEC_A_MAX + 1] = {
	[IOTSEC_A_CAPS] = P_U32,
	[IOTSEC_A_CAPS_MISSING] = P_U32,
	[IOTSEC_A_SUBSCRIBERS] = P_U32,
	[IOTSEC_A_BUFFER_EVENTS] = P_U32,
	[IOTSEC_A_MEMORY] = P_U64,
	[IOTSEC_A_COUNTERS] = P_NEST,
};

static const struct nla_policy kconfig_policy[IOTSEC_A_MAX + 1] = {
	[IOTSEC_A_EVENT_MASK] = P_U32,
	[IOTSEC_A_ARGV_MAX] = P_U32,
	[IOTSEC_A_EXCLUDE] = P_NEST,
	[IOTSEC_A_WATCH] = P_NEST,
};

static const struct nla_policy list_policy[IOTSEC_LA_MAX + 1] = {
	[IOTSEC_LA_TGID] = P_U32,
	[IOTSEC_LA_PATH] = P_STR,
};

/*
 * What a policy cannot say: a flag has no payload, an address is IPv4 or
 * IPv6 and nothing between. N is the payload length.
 */
static bool attr_ok_more(int n, const struct nla_policy *p)
{
	if (p->type == NLA_FLAG)
		return n == 0;
	if (p == &ea_policy[IOTSEC_EA_LADDR] ||
	    p == &ea_policy[IOTSEC_EA_RADDR])
		return n == 4 || n == 16;
	return true;
}

/* One attribute against POL, alone. */
static bool attr_ok(const struct nlattr *a, int max,
		    const struct nla_policy *pol)
{
	return !nla_validate(a, a->nla_len, max, pol) &&
	       attr_ok_more(nla_len(a), &pol[nla_type(a)]);
}

/*
 * nla_parse() and what it lets pass. The attributes POL knows are
 * checked in wire order and the first bad one refuses the buffer
 * (-EINVAL), and so does a known one that comes twice (nla_parse() keeps
 * only the last); the others are counted in *UNKNOWN, up to a bad one, for
 * a newer kernel may send them. Bytes after the last whole attribute mean
 * the buffer was cut: -EMSGSIZE, with TB filled all the same. A NULL POL
 * checks only for the cut.
 *
 * The pass after nla_parse() reads the headers itself: it runs over every
 * attribute of every event, and libnl's walkers are calls.
 */
static int parse(struct nlattr **tb, int max, const void *buf, size_t len,
		 const struct nla_policy *pol, uint64_t *unknown)
{
	const struct nlattr *a = buf;
	long rem = len;
	bool bad;

	if (len > INT_MAX)
		return -EINVAL;
	/* when it fails, the pass below finds which attribute did */
	bad = nla_parse(tb, max, (struct nlattr *)buf, len, pol) != 0;
	for (; rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= rem;
	     rem -= NLA_ALIGN(a->nla_len),
	     a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len))) {
		int t = a->nla_type & NLA_TYPE_MASK;

		if (!pol)
			continue;
		if (t > max || pol[t].type == NLA_UNSPEC) {
			if (unknown)
				(*unknown)++;
		} else if (bad ? !attr_ok(a, max, pol) :
				 !attr_ok_more(a->nla_len - NLA_HDRLEN,
					       &pol[t])) {
			return -EINVAL;
		} else if (!bad && tb[t] != a) {
			/* nla_parse() kept a later copy: never silently lose one */
			return -EINVAL;
		}
	}
	if (bad)
		return -EINVAL;
	return rem ? -EMSGSIZE : 0;
}

static uint32_t get_u32(struct nlattr **tb, int t)
{
	return tb[t] ? nla_get_u32(tb[t]) : 0;
}

static uint64_t get_u64(struct nlattr **tb, int t)
{
	return tb[t] ? nla_get_u64(tb[t]) : 0;
}

/* Checked by the policy: NUL-terminated; the NUL is not part of it. */
static struct ev_str get_str(struct nlattr **tb, int t)
{
	struct ev_str s = { NULL, 0 };

	if (tb[t]) {
		s.s = nla_data(tb[t]);
		s.len = strnlen(s.s, nla_len(tb[t]));
	}
	return s;
}

static int decode_event(struct iotsec_decoder *d, uint32_t type,
			const struct nlattr *nest, struct iotsec_event *ev)
{
	struct nlattr *tb[IOTSEC_EA_MAX + 1];

	memset(ev, 0, sizeof(*ev));
	if (parse(tb, IOTSEC_EA_MAX, nla_data(nest), nla_len(nest), ea_policy,
		  &d->stats.unknown_attrs))
		return -EINVAL;
	ev->type = type;
	ev->cpu = get_u32(tb, IOTSEC_EA_CPU);
	ev->seq = get_u64(tb, IOTSEC_EA_SEQ);
	ev->time_ns = get_u64(tb, IOTSEC_EA_TIME_NS);
	ev->tgid = get_u32(tb, IOTSEC_EA_TGID);
	ev->tid = get_u32(tb, IOTSEC_EA_TID);
	ev->ptgid = get_u32(tb, IOTSEC_EA_PTGID);
	ev->uid = get_u32(tb, IOTSEC_EA_UID);
	ev->gid = get_u32(tb, IOTSEC_EA_GID);
	ev->euid = get_u32(tb, IOTSEC_EA_EUID);
	ev->egid = get_u32(tb, IOTSEC_EA_EGID);
	ev->loginuid = get_u32(tb, IOTSEC_EA_LOGINUID);
	ev->sessionid = get_u32(tb, IOTSEC_EA_SESSIONID);
	ev->comm = get_str(tb, IOTSEC_EA_COMM);
	ev->cgroup_id = get_u64(tb, IOTSEC_EA_CGROUP_ID);
	if (ev->time_ns < d->subscribed_ns) {
		ev->before_start = true;
		d->before_start++;
	}

	ev->exe = get_str(tb, IOTSEC_EA_EXE);
	if (tb[IOTSEC_EA_ARGV]) {
		ev->argv.s = nla_data(tb[IOTSEC_EA_ARGV]);
		ev->argv.len = nla_len(tb[IOTSEC_EA_ARGV]);
	}
	ev->argv_truncated = nla_get_flag(tb[IOTSEC_EA_ARGV_TRUNCATED]);
	ev->cwd = get_str(tb, IOTSEC_EA_CWD);
	ev->secure_exec = nla_get_flag(tb[IOTSEC_EA_SECURE_EXEC]);
	/* all four or none: a partial identity identifies nothing */
	ev->exe_id = tb[IOTSEC_EA_EXE_DEV] && tb[IOTSEC_EA_EXE_INO] &&
		     tb[IOTSEC_EA_EXE_CTIME_SEC] && tb[IOTSEC_EA_EXE_CTIME_NSEC];
	if (ev->exe_id) {
		ev->exe_dev = get_u32(tb, IOTSEC_EA_EXE_DEV);
		ev->exe_ino = get_u64(tb, IOTSEC_EA_EXE_INO);
		ev->exe_ctime_sec = (int64_t)get_u64(tb,
						     IOTSEC_EA_EXE_CTIME_SEC);
		ev->exe_ctime_nsec = get_u32(tb, IOTSEC_EA_EXE_CTIME_NSEC);
	}

	ev->exit_code = get_u32(tb, IOTSEC_EA_EXIT_CODE);
	ev->exit_signal = get_u32(tb, IOTSEC_EA_EXIT_SIGNAL);
	ev->child_tgid = get_u32(tb, IOTSEC_EA_CHILD_TGID);

	if (tb[IOTSEC_EA_FAMILY])
		ev->family = nla_get_u16(tb[IOTSEC_EA_FAMILY]);
	if (ev->family != 0 && ev->family != 2 && ev->family != 10)
		return -EINVAL;
	if (tb[IOTSEC_EA_PROTOCOL])
		ev->protocol = nla_get_u8(tb[IOTSEC_EA_PROTOCOL]);
	nla_memcpy(ev->laddr, tb[IOTSEC_EA_LADDR], sizeof(ev->laddr));
	if (tb[IOTSEC_EA_LPORT])
		ev->lport = nla_get_u16(tb[IOTSEC_EA_LPORT]);
	nla_memcpy(ev->raddr, tb[IOTSEC_EA_RADDR], sizeof(ev->raddr));
	if (tb[IOTSEC_EA_RPORT])
		ev->rport = nla_get_u16(tb[IOTSEC_EA_RPORT]);
	ev->result = (int32_t)get_u32(tb, IOTSEC_EA_RESULT);

	ev->old_uid = get_u32(tb, IOTSEC_EA_OLD_UID);
	ev->old_euid = get_u32(tb, IOTSEC_EA_OLD_EUID);
	ev->old_gid = get_u32(tb, IOTSEC_EA_OLD_GID);
	ev->old_egid = get_u32(tb, IOTSEC_EA_OLD_EGID);
	ev->new_uid = get_u32(tb, IOTSEC_EA_NEW_UID);
	ev->new_euid = get_u32(tb, IOTSEC_EA_NEW_EUID);
	ev->new_gid = get_u32(tb, IOTSEC_EA_NEW_GID);
	ev->new_egid = get_u32(tb, IOTSEC_EA_NEW_EGID);
	ev->caps_gained = get_u64(tb, IOTSEC_EA_CAPS_GAINED);
	ev->from_exec = nla_get_flag(tb[IOTSEC_EA_FROM_EXEC]);

	ev->module_name = get_str(tb, IOTSEC_EA_MODULE_NAME);
	ev->target_tgid = get_u32(tb, IOTSEC_EA_TARGET_TGID);
	ev->ptrace_mode = get_u32(tb, IOTSEC_EA_PTRACE_MODE);
	ev->path = get_str(tb, IOTSEC_EA_PATH);
	ev->file_op = get_u32(tb, IOTSEC_EA_FILE_OP);
	ev->new_path = get_str(tb, IOTSEC_EA_NEW_PATH);

	/* tamper events: which move, and what it changed */
	ev->tamper_kind = get_u32(tb, IOTSEC_EA_TAMPER_KIND);
	ev->signal = get_u32(tb, IOTSEC_EA_SIGNAL);
	ev->old_mask = get_u32(tb, IOTSEC_EA_OLD_MASK);
	ev->new_mask = get_u32(tb, IOTSEC_EA_NEW_MASK);
	ev->unwatched = get_u32(tb, IOTSEC_EA_UNWATCHED);
	ev->excluded = get_u32(tb, IOTSEC_EA_EXCLUDED);
	return 0;
}

/* A counter of another width is skipped, not refused: no policy here. */
static uint64_t counter(struct nlattr **ca, int t)
{
	return ca[t] && nla_len(ca[t]) == 8 ? nla_get_u64(ca[t]) : 0;
}

int iotsec_decode_counters(const void *buf, size_t len,
			   struct iotsec_counters *c)
{
	struct nlattr *tb[IOTSEC_EVENT_MAX + 1], *ca[IOTSEC_CA_MAX + 1];

	memset(c, 0, sizeof(*c));
	if (parse(tb, IOTSEC_EVENT_MAX, buf, len, NULL, NULL))
		return -EINVAL;
	for (int t = 1; t <= IOTSEC_EVENT_MAX; t++) {
		if (!tb[t])
			continue;
		if (parse(ca, IOTSEC_CA_MAX, nla_data(tb[t]), nla_len(tb[t]),
			  NULL, NULL))
			return -EINVAL;
		c->t[t].generated = counter(ca, IOTSEC_CA_GENERATED);
		c->t[t].dropped = counter(ca, IOTSEC_CA_DROPPED);
		c->t[t].before = counter(ca, IOTSEC_CA_BEFORE);
		c->t[t].delivered = counter(ca, IOTSEC_CA_DELIVERED);
		c->t[t].lost = counter(ca, IOTSEC_CA_LOST);
	}
	return 0;
}

int iotsec_decoder_init(struct iotsec_decoder *d, iotsec_event_fn ev,
			iotsec_counters_fn cnt, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->on_event = ev;
	d->on_counters = cnt;
	d->ctx = ctx;
	d->cpu_seq = calloc(IOTSEC_DEC_MAX_CPUS, sizeof(*d->cpu_seq));
	return d->cpu_seq ? 0 : -ENOMEM;
}

void iotsec_decoder_fini(struct iotsec_decoder *d)
{
	free(d->cpu_seq);
	d->cpu_seq = NULL;
}

static void track_cpu_seq(struct iotsec_decoder *d,
			  const struct iotsec_event *ev)
{
	uint64_t *last;

	if (ev->cpu >= IOTSEC_DEC_MAX_CPUS || !ev->seq)
		return;
	last = &d->cpu_seq[ev->cpu];
	if (*last && ev->seq > *last + 1)
		d->stats.cpu_seq_gaps += ev->seq - *last - 1;
	if (ev->seq > *last)
		*last = ev->seq;
}

/* The events of a batch are a list, several of one type: walked, not parsed. */
static int decode_events(struct iotsec_decoder *d, const struct nlattr *list)
{
	struct iotsec_event ev;
	struct nlattr *e;
	int rem;

	nla_for_each_nested(e, list, rem) {
		int t = nla_type(e);

		if (t <= 0 || t > IOTSEC_EVENT_MAX) {
			d->stats.unknown_attrs++;
			continue;
		}
		if (decode_event(d, t, e, &ev)) {
			d->stats.bad_events++;
			continue;
		}
		d->stats.events++;
		track_cpu_seq(d, &ev);
		d->last_cpu = ev.cpu;
		d->last_seq = ev.seq;
		d->last_time_ns = ev.time_ns;
		if (d->on_event)
			d->on_event(d->ctx, &ev);
	}
	return rem ? -EINVAL : 0;
}

/*
 * What comes before damage is still delivered: the parts that parsed are
 * handled, in the order the kernel sends them, before a cut is refused.
 */
int iotsec_decode_batch(struct iotsec_decoder *d, const void *buf,
			size_t len)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1];
	int cut, ret = 0;

	cut = parse(tb, IOTSEC_A_MAX, buf, len, batch_policy,
		    &d->stats.unknown_attrs);
	if (cut == -EINVAL) {
		d->stats.bad_batches++;
		return -EINVAL;
	}
	if (tb[IOTSEC_A_BATCH_SEQ]) {
		uint64_t seq = nla_get_u64(tb[IOTSEC_A_BATCH_SEQ]);

		if (d->last_batch_seq && seq > d->last_batch_seq + 1)
			d->stats.batch_gaps += seq - d->last_batch_seq - 1;
		d->last_batch_seq = seq;
	}
	if (tb[IOTSEC_A_COUNTERS]) {
		if (iotsec_decode_counters(nla_data(tb[IOTSEC_A_COUNTERS]),
					   nla_len(tb[IOTSEC_A_COUNTERS]),
					   &d->counters)) {
			ret = -EINVAL;
		} else {
			d->have_counters = true;
			if (d->on_counters)
				d->on_counters(d->ctx, &d->counters);
		}
	}
	if (tb[IOTSEC_A_EVENTS] && decode_events(d, tb[IOTSEC_A_EVENTS]))
		ret = -EINVAL;
	if (cut)
		ret = -EINVAL;
	if (ret)
		d->stats.bad_batches++;
	else
		d->stats.batches++;
	return ret;
}

int iotsec_decode_stats(const void *buf, size_t len, struct iotsec_kstats *s)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1];

	memset(s, 0, sizeof(*s));
	if (parse(tb, IOTSEC_A_MAX, buf, len, stats_policy, NULL))
		return -EINVAL;
	s->caps = get_u32(tb, IOTSEC_A_CAPS);
	s->caps_missing = get_u32(tb, IOTSEC_A_CAPS_MISSING);
	s->subscribers = get_u32(tb, IOTSEC_A_SUBSCRIBERS);
	s->buffer_events = get_u32(tb, IOTSEC_A_BUFFER_EVENTS);
	s->memory = get_u64(tb, IOTSEC_A_MEMORY);
	if (tb[IOTSEC_A_COUNTERS] &&
	    iotsec_decode_counters(nla_data(tb[IOTSEC_A_COUNTERS]),
				   nla_len(tb[IOTSEC_A_COUNTERS]),
				   &s->counters))
		return -EINVAL;
	return 0;
}

/* An item of a list that is not of TYPE or not valid is skipped. */
static bool list_item_ok(const struct nlattr *a, int type)
{
	return nla_type(a) == type && attr_ok(a, IOTSEC_LA_MAX, list_policy);
}

int iotsec_decode_kconfig(const void *buf, size_t len,
			  struct iotsec_kconfig *c)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1], *a;
	int rem;

	memset(c, 0, sizeof(*c));
	if (parse(tb, IOTSEC_A_MAX, buf, len, kconfig_policy, NULL))
		return -EINVAL;
	if (tb[IOTSEC_A_EVENT_MASK]) {
		c->has_mask = true;
		c->event_mask = nla_get_u32(tb[IOTSEC_A_EVENT_MASK]);
	}
	if (tb[IOTSEC_A_ARGV_MAX]) {
		c->has_argv_max = true;
		c->argv_max = nla_get_u32(tb[IOTSEC_A_ARGV_MAX]);
	}
	if (tb[IOTSEC_A_EXCLUDE]) {
		c->has_exclude = true;
		nla_for_each_nested(a, tb[IOTSEC_A_EXCLUDE], rem)
			if (list_item_ok(a, IOTSEC_LA_TGID) &&
			    c->n_exclude < IOTSEC_EXCLUDE_MAX)
				c->exclude[c->n_exclude++] = nla_get_u32(a);
	}
	if (tb[IOTSEC_A_WATCH]) {
		c->has_watch = true;
		nla_for_each_nested(a, tb[IOTSEC_A_WATCH], rem) {
			if (!list_item_ok(a, IOTSEC_LA_PATH) ||
			    c->n_watch >= IOTSEC_WATCH_MAX)
				continue;
			c->watch[c->n_watch] = strdup(nla_data(a));
			if (c->watch[c->n_watch])
				c->n_watch++;
		}
	}
	return 0;
}

void iotsec_kconfig_free(struct iotsec_kconfig *c)
{
	for (unsigned int i = 0; i < c->n_watch; i++)
		free(c->watch[i]);
	c->n_watch = 0;
}
