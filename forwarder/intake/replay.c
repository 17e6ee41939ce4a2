// SPDX-License-Identifier: MIT
/*
 * Replay files (format in replay.h) and the batch encoder.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include "intake/event.h"
#include "intake/replay.h"

enum { ST_HEADER, ST_HEAD, ST_PAYLOAD, ST_DEAD };

void replay_init(struct replay_reader *r, replay_batch_fn fn, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->on_batch = fn;
	r->ctx = ctx;
	r->state = ST_HEADER;
	r->need = REPLAY_HDR_LEN;
}

void replay_free(struct replay_reader *r)
{
	buf_free(&r->buf);
}

static int fail(struct replay_reader *r, const char *why)
{
	r->error = why;
	r->state = ST_DEAD;
	return -EINVAL;
}

/* A complete unit (header, record head or payload) is in r->buf. */
static int step(struct replay_reader *r)
{
	const unsigned char *b = r->buf.p;
	uint32_t v32;
	uint16_t v16;
	int64_t v64;

	switch (r->state) {
	case ST_HEADER:
		if (!r->have_header) {
			if (memcmp(b, REPLAY_MAGIC, 8))
				return fail(r, "not an iotsec recording");
			memcpy(&v16, b + 8, 2);
			r->version = le16toh(v16);
			if (r->version != REPLAY_VERSION)
				return fail(r, "unsupported recording version");
			memcpy(&v32, b + 12, 4);
			v32 = le32toh(v32);
			if (v32 < REPLAY_HDR_LEN || v32 > 4096)
				return fail(r, "bad header length");
			memcpy(&v64, b + 16, 8);
			r->boot_to_real_ns = (int64_t)le64toh(v64);
			r->have_header = true;
			if (v32 > REPLAY_HDR_LEN) {
				/* read and ignore the rest of the header */
				r->need = v32 - REPLAY_HDR_LEN;
				return 0;
			}
		}
		r->state = ST_HEAD;
		r->need = 8;
		return 0;
	case ST_HEAD:
		memcpy(&v32, b, 4);
		r->rec_len = le32toh(v32);
		memcpy(&v16, b + 4, 2);
		r->rec_kind = le16toh(v16);
		if (r->rec_len > REPLAY_MAX_RECORD)
			return fail(r, "record too long");
		r->state = ST_PAYLOAD;
		r->need = NLA_ALIGN(r->rec_len);
		return 0;
	case ST_PAYLOAD:
		r->records++;
		r->state = ST_HEAD;
		r->need = 8;
		if (r->rec_kind != REPLAY_KIND_BATCH) {
			r->skipped++;
			return 0;
		}
		if (r->on_batch && r->on_batch(r->ctx, b, r->rec_len))
			return fail(r, "stopped by the consumer");
		return 0;
	}
	return fail(r, "reader is in an error state");
}

int replay_feed(struct replay_reader *r, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (r->state == ST_DEAD)
		return -EINVAL;
	while (len || (r->need == 0 && r->state == ST_PAYLOAD)) {
		size_t n = r->need - r->buf.len;

		if (buf_reserve(&r->buf, n))
			return fail(r, "out of memory");
		if (n > len)
			n = len;
		memcpy(buf_grow(&r->buf, n), p, n);
		p += n;
		len -= n;
		if (r->buf.len < r->need)
			break;
		r->buf.len = 0;
		if (step(r))
			return -EINVAL;
	}
	return 0;
}

int replay_finish(struct replay_reader *r)
{
	if (r->state == ST_DEAD)
		return -EINVAL;
	if (!r->have_header)
		return fail(r, "truncated header");
	if (r->state != ST_HEAD || r->buf.len)
		return fail(r, "truncated record");
	return 0;
}

int replay_file(struct replay_reader *r, const char *path)
{
	unsigned char buf[65536];
	ssize_t n;
	int fd, ret = 0;

	fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ret = replay_feed(r, buf, n);
		if (ret)
			break;
	}
	if (n < 0)
		ret = -errno;
	if (fd)
		close(fd);
	return ret ? ret : replay_finish(r);
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += n;
		len -= n;
	}
	return 0;
}

int replay_write_header(int fd, int64_t boot_to_real_ns)
{
	unsigned char h[REPLAY_HDR_LEN];
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	memcpy(h, REPLAY_MAGIC, 8);
	v16 = htole16(REPLAY_VERSION);
	memcpy(h + 8, &v16, 2);
	v16 = 0;
	memcpy(h + 10, &v16, 2);
	v32 = htole32(REPLAY_HDR_LEN);
	memcpy(h + 12, &v32, 4);
	v64 = htole64((uint64_t)boot_to_real_ns);
	memcpy(h + 16, &v64, 8);
	return write_all(fd, h, sizeof(h));
}

int replay_write_batch(int fd, const void *attrs, size_t len)
{
	unsigned char h[8] = { 0 };
	static const unsigned char pad[4];
	uint32_t v32 = htole32(len);
	uint16_t v16 = htole16(REPLAY_KIND_BATCH);
	int ret;

	if (len > REPLAY_MAX_RECORD)
		return -EMSGSIZE;
	memcpy(h, &v32, 4);
	memcpy(h + 4, &v16, 2);
	ret = write_all(fd, h, 8);
	if (!ret)
		ret = write_all(fd, attrs, len);
	if (!ret && NLA_ALIGN(len) != len)
		ret = write_all(fd, pad, NLA_ALIGN(len) - len);
	return ret;
}

/* ---- encoder ---- */

/* An attribute of TYPE with LEN bytes of payload, zeroed, padded. */
static void *put_zeroed(struct buf *b, uint16_t type, size_t len)
{
	size_t total = NLA_ALIGN(NLA_HDRLEN + len);
	struct nlattr *a;

	if (NLA_HDRLEN + len > 0xffff) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	a = buf_grow(b, total);
	if (!a)
		return NULL;
	a->nla_len = NLA_HDRLEN + len;
	a->nla_type = type;
	memset((char *)a + NLA_HDRLEN, 0, total - NLA_HDRLEN);
	return (char *)a + NLA_HDRLEN;
}

void abuf_put(struct buf *b, uint16_t type, const void *data, size_t len)
{
	void *p = put_zeroed(b, type, len);

	if (p && len)
		memcpy(p, data, len);
}

void abuf_put_u32(struct buf *b, uint16_t type, uint32_t v)
{
	abuf_put(b, type, &v, 4);
}

void abuf_put_u64(struct buf *b, uint16_t type, uint64_t v)
{
	abuf_put(b, type, &v, 8);
}

size_t abuf_nest_start(struct buf *b, uint16_t type)
{
	size_t off = b->len;

	abuf_put(b, type | NLA_F_NESTED, NULL, 0);
	return off;
}

void abuf_nest_end(struct buf *b, size_t off)
{
	struct nlattr *a;

	if (b->err)
		return;
	a = (struct nlattr *)(b->p + off);
	if (b->len - off > 0xffff) {
		b->err = -EMSGSIZE;
		return;
	}
	a->nla_len = b->len - off;
}

/* A NUL-terminated string attribute; absent when S is. */
static void put_str(struct buf *b, uint16_t type, struct ev_str s)
{
	void *p;

	if (!s.s)
		return;
	p = put_zeroed(b, type, s.len + 1);
	if (p)
		memcpy(p, s.s, s.len);
}

void iotsec_encode_event(struct buf *b, const struct iotsec_event *ev)
{
	size_t n = abuf_nest_start(b, ev->type);
	size_t alen = ev->family == 10 ? 16 : 4;
	uint16_t v16;
	uint8_t v8;

	abuf_put_u32(b, IOTSEC_EA_CPU, ev->cpu);
	abuf_put_u64(b, IOTSEC_EA_SEQ, ev->seq);
	abuf_put_u64(b, IOTSEC_EA_TIME_NS, ev->time_ns);
	abuf_put_u32(b, IOTSEC_EA_TGID, ev->tgid);
	abuf_put_u32(b, IOTSEC_EA_TID, ev->tid);
	abuf_put_u32(b, IOTSEC_EA_PTGID, ev->ptgid);
	abuf_put_u32(b, IOTSEC_EA_UID, ev->uid);
	abuf_put_u32(b, IOTSEC_EA_GID, ev->gid);
	abuf_put_u32(b, IOTSEC_EA_EUID, ev->euid);
	abuf_put_u32(b, IOTSEC_EA_EGID, ev->egid);
	abuf_put_u32(b, IOTSEC_EA_LOGINUID, ev->loginuid);
	abuf_put_u32(b, IOTSEC_EA_SESSIONID, ev->sessionid);
	put_str(b, IOTSEC_EA_COMM, ev->comm);
	abuf_put_u64(b, IOTSEC_EA_CGROUP_ID, ev->cgroup_id);
	switch (ev->type) {
	case IOTSEC_EVENT_EXEC:
		put_str(b, IOTSEC_EA_EXE, ev->exe);
		if (ev->argv.s)
			abuf_put(b, IOTSEC_EA_ARGV, ev->argv.s, ev->argv.len);
		if (ev->argv_truncated)
			abuf_put(b, IOTSEC_EA_ARGV_TRUNCATED, NULL, 0);
		put_str(b, IOTSEC_EA_CWD, ev->cwd);
		if (ev->secure_exec)
			abuf_put(b, IOTSEC_EA_SECURE_EXEC, NULL, 0);
		if (ev->exe_id) {
			abuf_put_u32(b, IOTSEC_EA_EXE_DEV, ev->exe_dev);
			abuf_put_u64(b, IOTSEC_EA_EXE_INO, ev->exe_ino);
			abuf_put_u64(b, IOTSEC_EA_EXE_CTIME_SEC,
				     (uint64_t)ev->exe_ctime_sec);
			abuf_put_u32(b, IOTSEC_EA_EXE_CTIME_NSEC,
				     ev->exe_ctime_nsec);
		}
		break;
	case IOTSEC_EVENT_EXIT:
		abuf_put_u32(b, IOTSEC_EA_EXIT_CODE, ev->exit_code);
		abuf_put_u32(b, IOTSEC_EA_EXIT_SIGNAL, ev->exit_signal);
		break;
	case IOTSEC_EVENT_FORK:
		abuf_put_u32(b, IOTSEC_EA_CHILD_TGID, ev->child_tgid);
		break;
	case IOTSEC_EVENT_CONNECT:
	case IOTSEC_EVENT_ACCEPT:
	case IOTSEC_EVENT_LISTEN:
		v16 = ev->family;
		abuf_put(b, IOTSEC_EA_FAMILY, &v16, 2);
		v8 = ev->protocol;
		abuf_put(b, IOTSEC_EA_PROTOCOL, &v8, 1);
		abuf_put(b, IOTSEC_EA_LADDR, ev->laddr, alen);
		v16 = ev->lport;
		abuf_put(b, IOTSEC_EA_LPORT, &v16, 2);
		if (ev->type == IOTSEC_EVENT_LISTEN)
			break;
		abuf_put(b, IOTSEC_EA_RADDR, ev->raddr, alen);
		v16 = ev->rport;
		abuf_put(b, IOTSEC_EA_RPORT, &v16, 2);
		if (ev->type == IOTSEC_EVENT_CONNECT)
			abuf_put_u32(b, IOTSEC_EA_RESULT, ev->result);
		break;
	case IOTSEC_EVENT_CRED:
		abuf_put_u32(b, IOTSEC_EA_OLD_UID, ev->old_uid);
		abuf_put_u32(b, IOTSEC_EA_OLD_EUID, ev->old_euid);
		abuf_put_u32(b, IOTSEC_EA_OLD_GID, ev->old_gid);
		abuf_put_u32(b, IOTSEC_EA_OLD_EGID, ev->old_egid);
		abuf_put_u32(b, IOTSEC_EA_NEW_UID, ev->new_uid);
		abuf_put_u32(b, IOTSEC_EA_NEW_EUID, ev->new_euid);
		abuf_put_u32(b, IOTSEC_EA_NEW_GID, ev->new_gid);
		abuf_put_u32(b, IOTSEC_EA_NEW_EGID, ev->new_egid);
		abuf_put_u64(b, IOTSEC_EA_CAPS_GAINED, ev->caps_gained);
		if (ev->from_exec) {
			abuf_put(b, IOTSEC_EA_FROM_EXEC, NULL, 0);
			put_str(b, IOTSEC_EA_EXE, ev->exe);
		}
		break;
	case IOTSEC_EVENT_MODULE:
		put_str(b, IOTSEC_EA_MODULE_NAME, ev->module_name);
		abuf_put_u32(b, IOTSEC_EA_RESULT, ev->result);
		break;
	case IOTSEC_EVENT_PTRACE:
		abuf_put_u32(b, IOTSEC_EA_TARGET_TGID, ev->target_tgid);
		abuf_put_u32(b, IOTSEC_EA_PTRACE_MODE, ev->ptrace_mode);
		abuf_put_u32(b, IOTSEC_EA_RESULT, ev->result);
		break;
	case IOTSEC_EVENT_FILE:
		put_str(b, IOTSEC_EA_PATH, ev->path);
		abuf_put_u32(b, IOTSEC_EA_FILE_OP, ev->file_op);
		put_str(b, IOTSEC_EA_NEW_PATH, ev->new_path);
		break;
	case IOTSEC_EVENT_TAMPER:
		/* every field of every kind: a recording keeps what came */
		abuf_put_u32(b, IOTSEC_EA_TAMPER_KIND, ev->tamper_kind);
		put_str(b, IOTSEC_EA_MODULE_NAME, ev->module_name);
		abuf_put_u32(b, IOTSEC_EA_TARGET_TGID, ev->target_tgid);
		abuf_put_u32(b, IOTSEC_EA_SIGNAL, ev->signal);
		abuf_put_u32(b, IOTSEC_EA_PTRACE_MODE, ev->ptrace_mode);
		abuf_put_u32(b, IOTSEC_EA_OLD_MASK, ev->old_mask);
		abuf_put_u32(b, IOTSEC_EA_NEW_MASK, ev->new_mask);
		abuf_put_u32(b, IOTSEC_EA_UNWATCHED, ev->unwatched);
		abuf_put_u32(b, IOTSEC_EA_EXCLUDED, ev->excluded);
		abuf_put_u32(b, IOTSEC_EA_RESULT, ev->result);
		break;
	}
	abuf_nest_end(b, n);
}
