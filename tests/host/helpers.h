/* SPDX-License-Identifier: MIT */
/* Event builders shared by the host tests. */
#ifndef IOTSEC_HOST_HELPERS_H
#define IOTSEC_HOST_HELPERS_H

#include <string.h>
#include "intake/event.h"

static inline struct ev_str hs(const char *s)
{
	return (struct ev_str){ s, strlen(s) };
}

/* argv "a\0b\0c\0" from a string with spaces */
static inline struct ev_str hargv(char *buf, size_t len, const char *words)
{
	size_t n = strlen(words);

	if (n + 1 > len)
		n = len - 1;
	memcpy(buf, words, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == ' ')
			buf[i] = '\0';
	return (struct ev_str){ buf, n + 1 };
}

static inline struct iotsec_event hexec(const char *exe, struct ev_str argv,
					uint32_t uid, uint32_t pid,
					uint64_t t)
{
	struct iotsec_event ev = { 0 };

	ev.type = IOTSEC_EVENT_EXEC;
	ev.exe = hs(exe);
	ev.argv = argv;
	ev.uid = ev.euid = uid;
	ev.tgid = ev.tid = pid;
	ev.ptgid = 1;
	ev.time_ns = t;
	ev.comm = hs("x");
	return ev;
}

static inline struct iotsec_event hconnect(uint32_t type, const char *exe,
					   uint32_t uid, const char *raddr4,
					   uint16_t lport, uint16_t rport,
					   uint64_t t)
{
	struct iotsec_event ev = { 0 };

	ev.type = type;
	ev.proc_exe = hs(exe);
	ev.uid = uid;
	ev.tgid = 100;
	ev.family = 2;
	ev.protocol = 6;
	memcpy(ev.laddr, "\x0a\x00\x00\x02", 4);
	memcpy(ev.raddr, raddr4, 4);
	ev.lport = lport;
	ev.rport = rport;
	ev.time_ns = t;
	ev.comm = hs("x");
	return ev;
}

#endif
