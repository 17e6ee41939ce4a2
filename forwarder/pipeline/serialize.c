// SPDX-License-Identifier: MIT
/*
 * JSON for Azure security messages and the project's extended message.
 *
 * Strings from the kernel are bytes, not text: a command line may hold
 * any byte. JSON text must be UTF-8, so json_bytes() keeps valid UTF-8 as
 * it is and writes every byte of an invalid sequence as the four
 * characters "\xNN" (a literal backslash, x, two hex digits); json-c then
 * escapes control characters. The result always parses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <json-c/json.h>
#include "common/clock.h"
#include "common/buf.h"
#include "common/utf8.h"
#include "pipeline/serialize.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static uint64_t rng_next(struct ser *s)
{
	uint64_t a = s->rng[0], b = s->rng[1], r = a + b;

	b ^= a;
	s->rng[0] = ((a << 55) | (a >> 9)) ^ b ^ (b << 14);
	s->rng[1] = (b << 36) | (b >> 28);
	return r;
}

void ser_uuid(struct ser *s, char out[37])
{
	uint64_t hi = rng_next(s), lo = rng_next(s);

	hi = (hi & ~0xf000ULL) | 0x4000ULL;		/* version 4 */
	lo = (lo & ~(3ULL << 62)) | (2ULL << 62);	/* variant 10 */
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx",
		 (unsigned int)(hi >> 32), (unsigned int)(hi >> 16) & 0xffff,
		 (unsigned int)hi & 0xffff, (unsigned int)(lo >> 48),
		 (unsigned long long)(lo & 0xffffffffffffULL));
}

void ser_sync_clock(struct ser *s)
{
	int64_t boot = boot_ns();

	s->boot_to_real_ns = clock_ns(CLOCK_REALTIME) - boot;
}

void ser_init(struct ser *s, const char *agent_id, const char *version)
{
	memset(s, 0, sizeof(*s));
	if (getrandom(s->rng, sizeof(s->rng), 0) != sizeof(s->rng)) {
		s->rng[0] = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		s->rng[1] = 0x9e3779b97f4a7c15ULL;
	}
	s->rng[0] |= 1;
	snprintf(s->agent_id, sizeof(s->agent_id), "%s", agent_id);
	s->agent_version = version;
	ser_sync_clock(s);
}

void ser_time(struct ser *s, uint64_t boot_ns, char utc[32], char local[40])
{
	/* INT64_MAX ns is in 2262: always a four-digit year */
	const int64_t max_ns = INT64_MAX;
	int64_t ns;
	time_t t;
	unsigned int ms;
	struct tm tm;
	long off;

	/* times come from the kernel or a file: clamp, never overflow */
	if (boot_ns > (uint64_t)max_ns ||
	    __builtin_add_overflow((int64_t)boot_ns, s->boot_to_real_ns, &ns))
		ns = s->boot_to_real_ns < 0 && boot_ns <= (uint64_t)max_ns ?
		     0 : max_ns;
	if (ns < 0)
		ns = 0;
	t = ns / 1000000000LL;
	ms = (ns % 1000000000LL) / 1000000;
	if (t != s->cache_t || !s->cache_utc_len) {
		gmtime_r(&t, &tm);
		s->cache_utc_len = strftime(s->cache_utc, sizeof(s->cache_utc),
					    "%Y-%m-%dT%H:%M:%S", &tm);
		localtime_r(&t, &tm);
		off = tm.tm_gmtoff / 60;
		s->cache_local_len = strftime(s->cache_local,
					      sizeof(s->cache_local),
					      "%Y-%m-%dT%H:%M:%S", &tm);
		/* the offset goes after the milliseconds: keep it apart */
		snprintf(s->cache_local + s->cache_local_len + 1,
			 sizeof(s->cache_local) - s->cache_local_len - 1,
			 "%c%02u:%02u", off < 0 ? '-' : '+',
			 (unsigned int)(labs(off) / 60) % 100,
			 (unsigned int)(labs(off) % 60));
		s->cache_t = t;
	}
	memcpy(utc, s->cache_utc, s->cache_utc_len);
	utc[s->cache_utc_len] = '.';
	utc[s->cache_utc_len + 1] = '0' + ms / 100;
	utc[s->cache_utc_len + 2] = '0' + ms / 10 % 10;
	utc[s->cache_utc_len + 3] = '0' + ms % 10;
	utc[s->cache_utc_len + 4] = 'Z';
	utc[s->cache_utc_len + 5] = '\0';
	memcpy(local, s->cache_local, s->cache_local_len);
	local[s->cache_local_len] = '.';
	local[s->cache_local_len + 1] = '0' + ms / 100;
	local[s->cache_local_len + 2] = '0' + ms / 10 % 10;
	local[s->cache_local_len + 3] = '0' + ms % 10;
	memcpy(local + s->cache_local_len + 4,
	       s->cache_local + s->cache_local_len + 1, 7);
}

struct json_object *json_bytes(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char stackbuf[512], *buf = stackbuf;
	size_t i, o = 0, n;
	struct json_object *j;

	if (!s)
		return json_object_new_string("");
	if (utf8_valid(s, len))	/* the common case: already clean */
		return json_object_new_string_len(s, len);
	if (len * 4 + 1 > sizeof(stackbuf)) {
		buf = malloc(len * 4 + 1);
		if (!buf)
			return NULL;
	}
	/* gcc cannot see that an invalid string has a byte to write */
	buf[0] = '\0';
	for (i = 0; i < len; i += n) {
		n = utf8_seq(p + i, len - i);
		if (n && p[i]) {
			memcpy(buf + o, p + i, n);
			o += n;
		} else {
			/* NUL bytes too: json-c would write \u0000 */
			o += sprintf(buf + o, "\\x%02x", p[i]);
			n = 1;
		}
	}
	j = json_object_new_string_len(buf, o);
	if (buf != stackbuf)
		free(buf);
	return j;
}

struct json_object *json_cmdline(const char *argv, size_t len)
{
	char stackbuf[512], *buf = stackbuf;
	struct json_object *j;

	if (!argv)
		return json_object_new_string("");
	while (len && argv[len - 1] == '\0')
		len--;
	if (!len)
		return json_object_new_string("");
	if (len > sizeof(stackbuf)) {
		buf = malloc(len);
		if (!buf)
			return NULL;
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = argv[i] ? argv[i] : ' ';
	j = json_bytes(buf, len);
	if (buf != stackbuf)
		free(buf);
	return j;
}

static const char *const names[IOTSEC_EVENT_MAX + 1] = {
	[IOTSEC_EVENT_EXEC] = "ProcessCreate",
	[IOTSEC_EVENT_EXIT] = "ProcessTerminate",
	[IOTSEC_EVENT_FORK] = "ProcessFork",
	[IOTSEC_EVENT_CONNECT] = "ConnectionCreate",
	[IOTSEC_EVENT_ACCEPT] = "ConnectionCreate",
	[IOTSEC_EVENT_LISTEN] = "ListenStart",
	[IOTSEC_EVENT_CRED] = "CredentialsChange",
	[IOTSEC_EVENT_MODULE] = "KernelModuleLoad",
	[IOTSEC_EVENT_PTRACE] = "ProcessTrace",
	[IOTSEC_EVENT_FILE] = "FileChange",
	[IOTSEC_EVENT_TAMPER] = "TamperAttempt",
};

const char *ser_event_name(uint32_t type)
{
	return type <= IOTSEC_EVENT_MAX && names[type] ? names[type] : "Unknown";
}

enum msg_kind ser_kind(uint32_t type)
{
	switch (type) {
	case IOTSEC_EVENT_EXEC:
	case IOTSEC_EVENT_EXIT:
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
		return MSG_AZURE;
	}
	return MSG_EXTENDED;
}

/* Add V under the constant key K; V is released when that fails. */
static int add(struct json_object *o, const char *k, struct json_object *v)
{
	if (json_object_object_add_ex(o, k, v, JSON_C_OBJECT_ADD_KEY_IS_NEW |
					       JSON_C_OBJECT_KEY_IS_CONSTANT)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static void add_str(struct json_object *o, const char *k, struct ev_str s)
{
	add(o, k, json_bytes(s.s, s.len));
}

static void add_id(struct json_object *o, const char *k, uint32_t id)
{
	char b[12];
	int n = snprintf(b, sizeof(b), "%u", id);

	add(o, k, json_object_new_string_len(b, n));
}

static void add_u64s(struct json_object *o, const char *k, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);

	add(o, k, json_object_new_string_len(b, n));
}

static const char *proto_name(uint8_t p, char buf[8])
{
	if (p == IPPROTO_TCP)
		return "TCP";
	if (p == IPPROTO_UDP)
		return "UDP";
	if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6)
		return "ICMP";
	snprintf(buf, 8, "%u", p);
	return buf;
}

static void add_addr(struct json_object *o, const char *k, uint16_t family,
		     const uint8_t *a)
{
	char b[INET6_ADDRSTRLEN] = "0.0.0.0";

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a, b, sizeof(b));
	add(o, k, json_object_new_string(b));
}

static void add_port(struct json_object *o, const char *k, uint16_t port)
{
	add_id(o, k, port);
}

static const char *file_op(uint32_t op)
{
	switch (op) {
	case IOTSEC_FILE_WRITE: return "Write";
	case IOTSEC_FILE_TRUNCATE: return "Truncate";
	case IOTSEC_FILE_UNLINK: return "Unlink";
	case IOTSEC_FILE_RENAME: return "Rename";
	}
	return "Unknown";
}

static const char *ptrace_mode(uint32_t m)
{
	switch (m) {
	case IOTSEC_PTRACE_ATTACH: return "Attach";
	case IOTSEC_PTRACE_SEIZE: return "Seize";
	case IOTSEC_PTRACE_TRACEME: return "TraceMe";
	case IOTSEC_PTRACE_MEMORY: return "Memory";
	}
	return "Unknown";
}

static const char *tamper_kind(uint32_t k)
{
	switch (k) {
	case IOTSEC_TAMPER_UNLOAD: return "ModuleUnload";
	case IOTSEC_TAMPER_SIGNAL: return "AgentSignal";
	case IOTSEC_TAMPER_PTRACE: return "AgentTrace";
	case IOTSEC_TAMPER_CONFIG: return "CoverageReduced";
	case IOTSEC_TAMPER_GONE: return "AgentGone";
	case IOTSEC_TAMPER_UNLOCK: return "ModuleUnlock";
	}
	return "Unknown";
}

/* Names of the event types in MASK, space-separated, into B. */
static void type_names(char *b, size_t size, uint32_t mask)
{
	size_t n = 0;

	b[0] = '\0';
	for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX && n < size; t++)
		if (mask & IOTSEC_EVENT_BIT(t))
			n += snprintf(b + n, size - n, "%s%s", n ? " " : "",
				      iotsec_event_name(t));
}

/* TamperAttempt's own fields: what each kind says. */
static void add_tamper(struct json_object *p, const struct iotsec_event *ev)
{
	char b[160];

	add(p, "Kind", json_object_new_string(tamper_kind(ev->tamper_kind)));
	switch (ev->tamper_kind) {
	case IOTSEC_TAMPER_UNLOAD:
		add_str(p, "ModuleName", ev->module_name);
		break;
	case IOTSEC_TAMPER_SIGNAL:
		add(p, "TargetProcessId",
		    json_object_new_int64(ev->target_tgid));
		add(p, "Signal", json_object_new_int64(ev->signal));
		break;
	case IOTSEC_TAMPER_PTRACE:
		add(p, "TargetProcessId",
		    json_object_new_int64(ev->target_tgid));
		add(p, "Mode", json_object_new_string(
			    ptrace_mode(ev->ptrace_mode)));
		break;
	case IOTSEC_TAMPER_GONE:
		add(p, "TargetProcessId",
		    json_object_new_int64(ev->target_tgid));
		break;
	case IOTSEC_TAMPER_CONFIG:
		type_names(b, sizeof(b), ev->old_mask & ~ev->new_mask);
		add(p, "EventsTurnedOff", json_object_new_string(b));
		add(p, "PathsUnwatched", json_object_new_int64(ev->unwatched));
		add(p, "ProcessesExcluded",
		    json_object_new_int64(ev->excluded));
		add(p, "Result", json_object_new_int64(ev->result));
		break;
	case IOTSEC_TAMPER_UNLOCK:
		add(p, "Result", json_object_new_int64(ev->result));
		break;
	}
}

static struct json_object *extra_details(struct ser *s, const struct record *r)
{
	const struct iotsec_event *ev = &r->ev;
	struct json_object *x = json_object_new_object();
	char utc[32], local[40];

	if (r->aggregated) {
		add_u64s(x, "HitCount", r->hits);
		ser_time(s, r->first_ns, utc, local);
		add(x, "FirstTime", json_object_new_string(utc));
		ser_time(s, r->last_ns, utc, local);
		add(x, "LastTime", json_object_new_string(utc));
	}
	/* Azure's connection and exit payloads have no UserName field */
	if (ev->user.s && ser_kind(ev->type) == MSG_AZURE &&
	    ev->type != IOTSEC_EVENT_EXEC)
		add_str(x, "UserName", ev->user);
	if (ev->parent_exe.s)
		add_str(x, "ParentExecutable", ev->parent_exe);
	if (ev->container.s)
		add_str(x, "ContainerId", ev->container);
	/* docs/events.md: recorded before iotsecd subscribed */
	if (ev->before_start)
		add(x, "BeforeAgentStart", json_object_new_string("true"));
	switch (ev->type) {
	case IOTSEC_EVENT_EXEC:
		if (ev->cwd.s)
			add_str(x, "WorkingDirectory", ev->cwd);
		if (ev->secure_exec)
			add(x, "SecureExec", json_object_new_string("true"));
		if (ev->argv_truncated)
			add(x, "CommandLineTruncated",
			    json_object_new_string("true"));
		/* the hash stage's (pipeline/hash.h, docs/rules.md) */
		if (ev->sha256.s)
			add_str(x, "Sha256", ev->sha256);
		if (ev->sha256_status.s)
			add_str(x, "Sha256Status", ev->sha256_status);
		break;
	case IOTSEC_EVENT_EXIT:
		if (ev->exit_signal)
			add_id(x, "Signal", ev->exit_signal);
		break;
	case IOTSEC_EVENT_CONNECT:
		if (ev->result) {
			const char *e = ev->result < 0 && ev->result > -4096 ?
					strerrorname_np(-ev->result) : NULL;
			char b[16];

			if (!e) {
				snprintf(b, sizeof(b), "%d", ev->result);
				e = b;
			}
			add(x, "Result", json_object_new_string(e));
		}
		break;
	}
	return x;
}

/* ProcessCreate's fields, which the extended events carry too. */
static void add_process(struct json_object *p, const struct iotsec_event *ev)
{
	add_str(p, "Executable", ev_exe(ev));
	add(p, "ProcessId", json_object_new_int64(ev->tgid));
	add(p, "ParentProcessId", json_object_new_int64(ev->ptgid));
	add_id(p, "UserId", ev->uid);
	if (ev->user.s)
		add_str(p, "UserName", ev->user);
}

/* The pid fields of an aggregated record are those of its first event. */
static struct json_object *payload(struct ser *s, const struct record *r)
{
	const struct iotsec_event *ev = &r->ev;
	struct json_object *p = json_object_new_object();
	char pb[8];

	switch (ev->type) {
	case IOTSEC_EVENT_EXEC:
		add_process(p, ev);
		add(p, "CommandLine", json_cmdline(ev->argv.s, ev->argv.len));
		break;
	case IOTSEC_EVENT_EXIT:
		add_str(p, "Executable", ev_exe(ev));
		add(p, "ProcessId", json_object_new_int64(ev->tgid));
		add(p, "ExitStatus", json_object_new_int64(
			    ev->exit_signal ? 128 + ev->exit_signal :
					      ev->exit_code));
		break;
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
		add_addr(p, "RemoteAddress", ev->family, ev->raddr);
		add_port(p, "RemotePort", ev->rport);
		add_addr(p, "LocalAddress", ev->family, ev->laddr);
		add_port(p, "LocalPort", ev->lport);
		add(p, "Direction", json_object_new_string(
			    ev->type == IOTSEC_EVENT_CONNECT ? "Out" : "In"));
		add(p, "Protocol", json_object_new_string(
			    proto_name(ev->protocol, pb)));
		add(p, "ProcessId", json_object_new_int64(ev->tgid));
		add_id(p, "UserId", ev->uid);
		add_str(p, "Executable", ev_exe(ev));
		add(p, "CommandLine", json_cmdline(ev->proc_cmdline.s,
						   ev->proc_cmdline.len));
		break;
	default:
		/* extended events: the common part, then their own */
		add_process(p, ev);
		if (ev_cmdline(ev).s)
			add(p, "CommandLine",
			    json_cmdline(ev_cmdline(ev).s,
					 ev_cmdline(ev).len));
		break;
	}
	switch (ev->type) {
	case IOTSEC_EVENT_FORK:
		add(p, "ChildProcessId", json_object_new_int64(ev->child_tgid));
		break;
	case IOTSEC_EVENT_LISTEN:
		add_addr(p, "LocalAddress", ev->family, ev->laddr);
		add_port(p, "LocalPort", ev->lport);
		add(p, "Protocol", json_object_new_string(
			    proto_name(ev->protocol, pb)));
		break;
	case IOTSEC_EVENT_CRED:
		add_id(p, "OldUserId", ev->old_uid);
		add_id(p, "OldEffectiveUserId", ev->old_euid);
		add_id(p, "OldGroupId", ev->old_gid);
		add_id(p, "OldEffectiveGroupId", ev->old_egid);
		add_id(p, "NewUserId", ev->new_uid);
		add_id(p, "NewEffectiveUserId", ev->new_euid);
		add_id(p, "NewGroupId", ev->new_gid);
		add_id(p, "NewEffectiveGroupId", ev->new_egid);
		{
			char b[24];

			snprintf(b, sizeof(b), "0x%llx",
				 (unsigned long long)ev->caps_gained);
			add(p, "CapabilitiesGained", json_object_new_string(b));
		}
		add(p, "FromExec", json_object_new_boolean(ev->from_exec));
		break;
	case IOTSEC_EVENT_MODULE:
		add_str(p, "ModuleName", ev->module_name);
		add(p, "Result", json_object_new_int64(ev->result));
		break;
	case IOTSEC_EVENT_PTRACE:
		add(p, "TargetProcessId",
		    json_object_new_int64(ev->target_tgid));
		add(p, "Mode", json_object_new_string(
			    ptrace_mode(ev->ptrace_mode)));
		break;
	case IOTSEC_EVENT_FILE:
		add_str(p, "Path", ev->path);
		add(p, "Operation", json_object_new_string(
			    file_op(ev->file_op)));
		if (ev->new_path.s)
			add_str(p, "NewPath", ev->new_path);
		break;
	case IOTSEC_EVENT_TAMPER:
		add_tamper(p, ev);
		break;
	}
	add(p, "ExtraDetails", extra_details(s, r));
	return p;
}

bool ser_rule_alert(struct ser *s, struct json_object *p, uint64_t last_ns,
		    void (*out)(void *ctx, const char *text, size_t len),
		    void *ctx)
{
	struct json_object *arr, *ev;
	const char *t;
	size_t len;

	arr = json_object_new_array();
	if (!arr || json_object_array_add(arr, p)) {
		json_object_put(arr);
		json_object_put(p);
		return false;
	}
	ev = ser_event("Security", "Triggered", "RuleAlert", arr);
	if (!ev || ser_stamp(s, ev, last_ns)) {
		json_object_put(ev);
		return false;
	}
	t = json_object_to_json_string_length(ev, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE,
					      &len);
	if (t && out)
		out(ctx, t, len);
	json_object_put(ev);
	return t && out;
}

struct json_object *ser_payload(struct ser *s, const struct record *r)
{
	return payload(s, r);
}

static int to_text(struct json_object *e, char **out, size_t *len)
{
	size_t n;
	const char *t = json_object_to_json_string_length(e, JSON_FLAGS, &n);

	*out = t ? malloc(n + 1) : NULL;
	if (*out) {
		memcpy(*out, t, n + 1);
		*len = n;
	}
	json_object_put(e);
	return *out ? 0 : -ENOMEM;
}

struct json_object *ser_event(const char *type, const char *category,
			      const char *name, struct json_object *payload)
{
	struct json_object *e;

	if (!payload)
		return NULL;
	e = json_object_new_object();
	if (!e) {
		json_object_put(payload);
		return NULL;
	}
	add(e, "EventType", json_object_new_string(type));
	add(e, "Category", json_object_new_string(category));
	add(e, "Name", json_object_new_string(name));
	add(e, "IsEmpty", json_object_new_boolean(
		    json_object_array_length(payload) == 0));
	add(e, "PayloadSchemaVersion", json_object_new_string("1.0"));
	add(e, "Payload", payload);
	return e;
}

static int add_text(struct json_object *o, const char *k, const char *v)
{
	struct json_object *j = json_object_new_string(v);

	return j ? add(o, k, j) : -ENOMEM;
}

int ser_stamp(struct ser *s, struct json_object *ev, uint64_t boot_ns)
{
	char id[37], utc[32], local[40];

	ser_uuid(s, id);
	ser_time(s, boot_ns, utc, local);
	if (add_text(ev, "Id", id) || add_text(ev, "TimestampLocal", local) ||
	    add_text(ev, "TimestampUTC", utc))
		return -ENOMEM;
	return 0;
}

/* ser_event(), stamped, as text. */
static int event_text(struct ser *s, const char *type, const char *category,
		      const char *name, uint64_t boot_ns,
		      struct json_object *payload_arr, char **out, size_t *len)
{
	struct json_object *e = ser_event(type, category, name, payload_arr);

	if (!e || ser_stamp(s, e, boot_ns)) {
		json_object_put(e);
		return -ENOMEM;
	}
	return to_text(e, out, len);
}

int ser_record(struct ser *s, const struct record *r, char **out, size_t *len)
{
	struct json_object *arr = json_object_new_array();

	json_object_array_add(arr, payload(s, r));
	return event_text(s, "Security", "Triggered",
			  ser_event_name(r->ev.type), r->first_ns, arr,
			  out, len);
}

static void add_extra(struct json_object *p, const char *const extra[][2],
		      size_t n)
{
	struct json_object *x;

	if (!n)
		return;
	x = json_object_new_object();
	for (size_t i = 0; i < n; i++)
		json_object_object_add(x, extra[i][0],
				       json_object_new_string(extra[i][1]));
	add(p, "ExtraDetails", x);
}

int ser_dropped_events(struct ser *s, uint64_t now_boot_ns,
		       const uint64_t collected[2], const uint64_t dropped[2],
		       const char *const extra[][2], size_t n_extra,
		       char **out, size_t *len)
{
	static const char *const q[2] = { "High", "Low" };
	struct json_object *arr = json_object_new_array();

	for (int i = 0; i < 2; i++) {
		struct json_object *p = json_object_new_object();

		add(p, "Queue", json_object_new_string(q[i]));
		add(p, "CollectedEvents", json_object_new_int64(collected[i]));
		add(p, "DroppedEvents", json_object_new_int64(dropped[i]));
		if (i == 0)
			add_extra(p, extra, n_extra);
		json_object_array_add(arr, p);
	}
	return event_text(s, "Operational", "Periodic",
			  "DroppedEventsStatistics", now_boot_ns, arr, out, len);
}

int ser_message_stats(struct ser *s, uint64_t now_boot_ns, uint64_t sent,
		      uint64_t under4k, uint64_t failed,
		      const char *const extra[][2], size_t n_extra,
		      char **out, size_t *len)
{
	struct json_object *arr = json_object_new_array();
	struct json_object *p = json_object_new_object();

	add(p, "MessagesSent", json_object_new_int64(sent));
	add(p, "MessagesUnder4KB", json_object_new_int64(under4k));
	add(p, "TotalFailed", json_object_new_int64(failed));
	add_extra(p, extra, n_extra);
	json_object_array_add(arr, p);
	return event_text(s, "Operational", "Periodic", "MessageStatistics",
			  now_boot_ns, arr, out, len);
}

/* ---- packing ---- */

/*
 * The message up to its first event: the header object with an empty
 * Events array, less the "]}" that closes both. Like snprintf(), writes at
 * most LEN bytes and returns the length of the whole; or -ENOMEM.
 */
static int header(struct ser *s, enum msg_kind kind, char *buf, size_t len)
{
	struct json_object *h = json_object_new_object();
	const char *t;
	size_t n;
	int ret = -ENOMEM;

	if (!h)
		return -ENOMEM;
	add(h, "AgentVersion", json_object_new_string(s->agent_version ?
						       s->agent_version : ""));
	add(h, "AgentId", json_object_new_string(s->agent_id));
	add(h, "MessageSchemaVersion", json_object_new_string(
		    kind == MSG_AZURE ? "1.0" : IOTSEC_EXT_SCHEMA_VERSION));
	add(h, "Events", json_object_new_array());
	t = json_object_to_json_string_length(h, JSON_FLAGS, &n);
	if (t && n >= 2 && !strcmp(t + n - 2, "]}")) {
		n -= 2;
		snprintf(buf, len, "%.*s", (int)n, t);
		ret = n;
	}
	json_object_put(h);
	return ret;
}

size_t msg_overhead(struct ser *s, enum msg_kind kind)
{
	char b[256];
	int n = header(s, kind, b, sizeof(b));

	return n < 0 ? 0 : (size_t)n + 2;	/* "]}" */
}

int msg_begin(struct msgbuf *m, struct ser *s, enum msg_kind kind,
	      size_t limit)
{
	char b[256];
	int n = header(s, kind, b, sizeof(b));

	if (n < 0 || (size_t)n >= sizeof(b) || (size_t)n + 2 > limit)
		return -EINVAL;
	buf_reset(&m->b);
	if (buf_reserve(&m->b, n + 3) || buf_put(&m->b, b, n))
		return -ENOMEM;
	m->limit = limit;
	m->n_events = 0;
	m->kind = kind;
	return 0;
}

int msg_add(struct msgbuf *m, const char *ev, size_t len)
{
	size_t need = m->b.len + (m->n_events ? 1 : 0) + len;

	if (need + 2 > m->limit)
		return -ENOSPC;
	/* room for the event and the closing "]}" and NUL */
	if (buf_reserve(&m->b, need + 3 - m->b.len)) {
		m->b.err = 0;	/* the message so far is still good */
		return -ENOMEM;
	}
	if (m->n_events)
		buf_put(&m->b, ",", 1);
	buf_put(&m->b, ev, len);
	m->n_events++;
	return 0;
}

void msg_end(struct msgbuf *m)
{
	/* msg_begin() and msg_add() reserved these three bytes */
	buf_put(&m->b, "]}", 2);
	m->b.p[m->b.len] = '\0';
}

void msg_free(struct msgbuf *m)
{
	buf_free(&m->b);
}
