// SPDX-License-Identifier: MIT
/*
 * Write a recording for iotsecd --replay from a few lines of text, one
 * event a line (tests/host/baseline-replay.sh):
 *
 *   exec PID PPID EXE          PID executes EXE (its parent: PPID)
 *   connect PID PORT tcp|udp   PID connects out to PORT
 *   accept PID PORT            PID accepts a TCP connection on PORT
 *   listen PID PORT            PID listens on TCP PORT
 *
 * Enrichment learns each PID's executable from its exec, so the network
 * events name it (they carry the PPID of that exec). Events are 1 ms apart, in one batch each.
 *
 * usage: evgen FILE < LINES
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "intake/event.h"
#include "intake/replay.h"

int main(int argc, char **argv)
{
	char line[4096], what[16], arg[4096], proto[8];
	unsigned int pid, a, n = 0;
	uint64_t t = 1000000000ULL, seq = 0;
	static unsigned int ppid[65536];	/* of each pid's exec */
	struct buf b = { 0 };
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: evgen FILE < LINES\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || replay_write_header(fd, 1700000000LL * 1000000000LL)) {
		perror(argv[1]);
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		struct iotsec_event ev = { 0 };
		size_t nest;
		int k;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		proto[0] = '\0';
		k = sscanf(line, "%15s %u %u %4095s", what, &pid, &a, arg);
		ev.tgid = ev.tid = pid;
		ev.ptgid = ppid[pid & 0xffff] ? ppid[pid & 0xffff] : 1;
		ev.seq = ++seq;
		ev.time_ns = (t += 1000000);
		ev.comm = (struct ev_str){ "evgen", 5 };
		ev.loginuid = ev.sessionid = 4294967295u;
		if (!strcmp(what, "exec") && k == 4) {
			ev.type = IOTSEC_EVENT_EXEC;
			ev.ptgid = ppid[pid & 0xffff] = a;
			ev.exe = (struct ev_str){ arg, strlen(arg) };
			ev.argv = (struct ev_str){ arg, strlen(arg) + 1 };
			ev.cwd = (struct ev_str){ "/", 1 };
		} else if ((!strcmp(what, "connect") || !strcmp(what, "accept") ||
			    !strcmp(what, "listen")) && k >= 3) {
			if (k == 4)
				snprintf(proto, sizeof(proto), "%.7s", arg);
			ev.type = !strcmp(what, "connect") ?
				  IOTSEC_EVENT_CONNECT : !strcmp(what, "accept") ?
				  IOTSEC_EVENT_ACCEPT : IOTSEC_EVENT_LISTEN;
			ev.family = 2;
			ev.protocol = !strcmp(proto, "udp") ? 17 : 6;
			memcpy(ev.laddr, "\x0a\x00\x00\x02", 4);
			memcpy(ev.raddr, "\x5d\xb8\xd8\x22", 4);
			if (ev.type == IOTSEC_EVENT_CONNECT) {
				ev.lport = 40000 + n;
				ev.rport = a;
			} else {
				ev.lport = a;
				ev.rport = ev.type == IOTSEC_EVENT_ACCEPT ?
					   50000 + n : 0;
			}
		} else {
			fprintf(stderr, "evgen: cannot read '%s'\n", line);
			return 2;
		}
		buf_reset(&b);
		abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, ++n);
		nest = abuf_nest_start(&b, IOTSEC_A_EVENTS);
		iotsec_encode_event(&b, &ev);
		abuf_nest_end(&b, nest);
		if (b.err || replay_write_batch(fd, b.p, b.len)) {
			fprintf(stderr, "evgen: write failed\n");
			return 1;
		}
	}
	buf_free(&b);
	return close(fd) ? 1 : 0;
}
