// SPDX-License-Identifier: MIT
/*
 * Write a recording for iotsecd --replay from events named on the command
 * line (tests/host/ioc-replay.sh):
 *
 *   rec-events FILE EVENT...
 *     exec,PID,EXE             an exec of EXE by PID (parent 1, uid 0),
 *                              with the identity stat() gives EXE now
 *     connect,PID,EXE,ADDR,PORT  an outbound TCP connect (IPv4 or IPv6)
 *     file,PID,EXE,PATH        a write of PATH
 *
 * One batch, times 1 us apart, the last one now (CLOCK_BOOTTIME): the
 * hasher checks a process's start and a file's ctime against them.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "common/clock.h"
#include "intake/event.h"
#include "intake/replay.h"

static struct ev_str S(const char *s)
{
	return (struct ev_str){ s, strlen(s) };
}

int main(int argc, char **argv)
{
	struct buf b = { 0 };
	uint64_t batch = 1;
	uint64_t now = (uint64_t)boot_ns();
	size_t nest;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: rec-events FILE EVENT...\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || replay_write_header(fd, 1700000000LL * 1000000000LL)) {
		perror(argv[1]);
		return 1;
	}
	abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, batch);
	nest = abuf_nest_start(&b, IOTSEC_A_EVENTS);
	for (int i = 2; i < argc; i++) {
		struct iotsec_event ev = { 0 };
		struct stat st;
		char *f[6] = { 0 }, *save = NULL, *s = strdup(argv[i]);
		char argvbuf[4096];
		int n = 0;

		for (char *t = strtok_r(s, ",", &save); t && n < 6;
		     t = strtok_r(NULL, ",", &save))
			f[n++] = t;
		if (n < 3) {
			fprintf(stderr, "rec-events: bad event '%s'\n", argv[i]);
			return 2;
		}
		ev.seq = (uint64_t)i - 1;
		ev.time_ns = now - (uint64_t)(argc - 1 - i) * 1000;
		ev.tgid = ev.tid = (uint32_t)strtoul(f[1], NULL, 10);
		ev.ptgid = 1;
		ev.loginuid = UINT32_MAX;
		ev.comm = S(strrchr(f[2], '/') ? strrchr(f[2], '/') + 1 : f[2]);
		if (!strcmp(f[0], "exec")) {
			size_t l = strlen(f[2]);

			ev.type = IOTSEC_EVENT_EXEC;
			ev.exe = S(f[2]);
			memcpy(argvbuf, f[2], l + 1);
			ev.argv = (struct ev_str){ argvbuf, l + 1 };
			ev.cwd = S("/");
			/* the file's identity, as the module sends it */
			if (!stat(f[2], &st)) {
				unsigned int ma = major(st.st_dev);
				unsigned int mi = minor(st.st_dev);

				ev.exe_id = true;
				ev.exe_dev = (mi & 0xff) | (ma << 8) |
					     ((mi & ~0xffu) << 12);
				ev.exe_ino = st.st_ino;
				ev.exe_ctime_sec = st.st_ctim.tv_sec;
				ev.exe_ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
			}
		} else if (!strcmp(f[0], "connect") && n == 5) {
			ev.type = IOTSEC_EVENT_CONNECT;
			ev.protocol = 6;
			ev.rport = (uint16_t)atoi(f[4]);
			ev.lport = 40000;
			if (inet_pton(AF_INET, f[3], ev.raddr) == 1) {
				ev.family = AF_INET;
				memcpy(ev.laddr, "\x0a\x00\x00\x02", 4);
			} else if (inet_pton(AF_INET6, f[3], ev.raddr) == 1) {
				ev.family = AF_INET6;
			} else {
				fprintf(stderr, "rec-events: bad address '%s'\n",
					f[3]);
				return 2;
			}
		} else if (!strcmp(f[0], "file") && n == 4) {
			ev.type = IOTSEC_EVENT_FILE;
			ev.path = S(f[3]);
			ev.file_op = IOTSEC_FILE_WRITE;
		} else {
			fprintf(stderr, "rec-events: bad event '%s'\n", argv[i]);
			return 2;
		}
		iotsec_encode_event(&b, &ev);
		free(s);
		/* a nest's length is 16 bits: a batch of its own past 60000 */
		if (b.len > 60000 && i + 1 < argc) {
			abuf_nest_end(&b, nest);
			if (b.err || replay_write_batch(fd, b.p, b.len)) {
				fprintf(stderr, "rec-events: write failed\n");
				return 1;
			}
			b.len = 0;
			abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, ++batch);
			nest = abuf_nest_start(&b, IOTSEC_A_EVENTS);
		}
	}
	abuf_nest_end(&b, nest);
	if (b.err || replay_write_batch(fd, b.p, b.len)) {
		fprintf(stderr, "rec-events: write failed\n");
		return 1;
	}
	buf_free(&b);
	return close(fd) ? 1 : 0;
}
