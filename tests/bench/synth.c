// SPDX-License-Identifier: MIT
/*
 * Write a synthetic recording for iotsecd --replay and the benchmark: a
 * mix like a busy device's (execs of a few dozen command lines, outbound
 * connections, exits, now and then a credential change, a module load, a
 * ptrace, a watched file written).
 *
 * usage: synth FILE EVENTS [UNIQUE] [EVENTS_PER_BATCH] [hostile] [bigargv]
 *
 * "hostile" puts bytes that are not text into command lines, paths and
 * module names: invalid UTF-8, quotes, control characters.
 * "bigargv" gives every exec the largest argv the module sends
 * (IOTSEC_ARGV_MAX_MAX bytes, flagged truncated); with "hostile" its
 * arguments are mostly bytes that are not text, each of which becomes
 * four characters in JSON (the largest serialized command line).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "intake/event.h"
#include "intake/replay.h"

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)rnd_state;
}

static struct ev_str S(const char *s)
{
	return (struct ev_str){ s, strlen(s) };
}

int main(int argc, char **argv)
{
	static const char *const progs[] = { "/usr/bin/curl", "/bin/sh",
		"/usr/sbin/sshd", "/usr/bin/python3", "/bin/ls", "/bin/cat" };
	static const char hostile_arg[] = "\xff\xfe\"},{\x01\x1b[0m\xc0\xaf\xed\xa0\x80\\u0000";
	unsigned long long n, unique, per;
	bool hostile = false, bigargv = false;
	static char bigbuf[IOTSEC_ARGV_MAX_MAX];
	struct buf b = { 0 };
	uint64_t seq = 0, t = 1000000000ULL;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: synth FILE EVENTS [UNIQUE] [PER_BATCH]\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	unique = argc > 3 ? strtoull(argv[3], NULL, 10) : 64;
	per = argc > 4 ? strtoull(argv[4], NULL, 10) : 64;
	for (int a = 5; a < argc; a++) {
		if (!strcmp(argv[a], "hostile"))
			hostile = true;
		else if (!strcmp(argv[a], "bigargv"))
			bigargv = true;
	}
	if (!unique)
		unique = 1;
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || replay_write_header(fd, 1700000000LL * 1000000000LL)) {
		perror(argv[1]);
		return 1;
	}
	for (unsigned long long i = 0; i < n;) {
		size_t nest;

		buf_reset(&b);
		abuf_put_u64(&b, IOTSEC_A_BATCH_SEQ, i / per + 1);
		nest = abuf_nest_start(&b, IOTSEC_A_EVENTS);
		for (unsigned long long j = 0; j < per && i < n; j++, i++) {
			struct iotsec_event ev = { 0 };
			char argvbuf[256];
			uint32_t k = rnd() % unique, r = rnd() % 100;
			const char *exe = progs[k % 6];
			int alen;

			ev.cpu = 0;
			ev.seq = ++seq;
			ev.time_ns = (t += 1000);
			ev.tgid = ev.tid = 1000 + (i % 30000);
			ev.ptgid = 1;
			ev.uid = ev.euid = k % 3 ? 0 : 1000;
			ev.comm = S(strrchr(exe, '/') + 1);
			ev.cgroup_id = 1;
			alen = snprintf(argvbuf, sizeof(argvbuf),
					"%s%c--job%c%u%chttps://example.com/%u%s",
					exe, 0, 0, k, 0, k,
					hostile ? hostile_arg : "");
			if (r < 45) {
				ev.type = IOTSEC_EVENT_EXEC;
				ev.exe = S(exe);
				ev.argv = (struct ev_str){ argvbuf, alen + 1 };
				if (bigargv) {
					/* arguments of 63 bytes + NUL up to the limit */
					size_t o = strlen(exe) + 1;

					memcpy(bigbuf, exe, o);
					for (size_t x = o; x < sizeof(bigbuf); x++) {
						unsigned int c = 'a' + (x + k) % 26;

						if (hostile && x % 8)
							c = 0x80 | (x + k) % 0x40;
						if ((x - o) % 64 == 63)
							c = 0;
						bigbuf[x] = (char)c;
					}
					bigbuf[sizeof(bigbuf) - 1] = 0;
					ev.argv = (struct ev_str){ bigbuf, sizeof(bigbuf) };
					ev.argv_truncated = true;
				}
				ev.cwd = S("/");
			} else if (r < 75) {
				ev.type = IOTSEC_EVENT_CONNECT;
				ev.family = 2;
				ev.protocol = 6;
				memcpy(ev.laddr, "\x0a\x00\x00\x02", 4);
				memcpy(ev.raddr, "\x5d\xb8\xd8\x22", 4);
				ev.raddr[3] = k;
				ev.lport = 40000 + (i % 20000);
				ev.rport = 443;
			} else if (r < 95) {
				ev.type = IOTSEC_EVENT_EXIT;
				ev.exit_code = k % 2;
			} else if (r < 97) {
				ev.type = IOTSEC_EVENT_FILE;
				ev.path = S(hostile ? "/etc/\xff\"x" : "/etc/passwd");
				ev.file_op = IOTSEC_FILE_WRITE;
			} else if (r < 98) {
				ev.type = IOTSEC_EVENT_CRED;
				ev.old_uid = 1000;
				ev.new_uid = 0;
				ev.from_exec = true;
			} else if (r < 99) {
				ev.type = IOTSEC_EVENT_MODULE;
				ev.module_name = S(hostile ? "d\x80\n" : "dummy");
			} else {
				ev.type = IOTSEC_EVENT_PTRACE;
				ev.target_tgid = 1;
				ev.ptrace_mode = IOTSEC_PTRACE_ATTACH;
			}
			iotsec_encode_event(&b, &ev);
		}
		abuf_nest_end(&b, nest);
		if (b.err || replay_write_batch(fd, b.p, b.len)) {
			fprintf(stderr, "synth: write failed\n");
			return 1;
		}
	}
	buf_free(&b);
	return close(fd) ? 1 : 0;
}
