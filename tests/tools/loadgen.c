// SPDX-License-Identifier: MIT
/*
 * Load for tests and benchmarks: the three loops the module's overhead is
 * measured on. Prints the elapsed seconds of the loop.
 *
 *   loadgen exec N      fork + exec /bin/true, N times
 *   loadgen connect N   TCP connect to a listener on 127.0.0.1 and accept,
 *                       N times (the client resets: no TIME_WAIT pile-up)
 *   loadgen open N      open for writing and close, N times, over a few
 *                       files in a fresh directory nobody watches
 *
 * N = 0 loops until SIGTERM.
 *
 * Paced load with its own exact count, for the device benchmark:
 *
 *   loadgen --rate RATE connect|exec SECONDS WORKERS [PORT]
 *
 * WORKERS processes share RATE operations per second (0: as fast as they
 * go) for SECONDS. Each keeps an absolute schedule (operation k of a
 * worker is due at k * WORKERS / RATE s), so a late worker catches up and
 * the mean rate is the one asked for until the machine cannot keep up.
 * connect uses the worker's own listener on 127.0.0.1:PORT+i (default
 * PORT 7700): one connect and one accept event per operation; exec: one
 * exec and one exit event.
 *
 * Prints "ops=N seconds=S rate=R" with N the operations every worker
 * completed (counted by the workers, summed through a pipe); exit status 1
 * if an operation failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/tool.h"

#define NFILES 16
#define MAX_WORKERS 64

static void sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/*
 * fork + exec /bin/true + wait: 0 when it ran and exited 0. LOADGEN_TRUE
 * names another program run as "true" (bench-kmod.sh under -icount: a
 * static busybox on tmpfs, so that the loop does no 9p I/O).
 */
static int op_exec(void)
{
	const char *prog = getenv("LOADGEN_TRUE");
	int status;
	pid_t pid;

	if (!prog || !*prog)
		prog = "/bin/true";
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(prog, "true", NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	return 0;
}

/* A listener on 127.0.0.1:PORT (0: any free port), its address in *sa. */
static int listen_on(int port, struct sockaddr_in *sa)
{
	socklen_t salen = sizeof(*sa);
	int one = 1, l;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)sa, sizeof(*sa)) || listen(l, 128) ||
	    getsockname(l, (struct sockaddr *)sa, &salen)) {
		close(l);
		return -1;
	}
	return l;
}

/*
 * Connect to listener L at SA and accept. The client resets (linger 0) so
 * that no TIME_WAIT piles up.
 */
static int op_connect(int l, const struct sockaddr_in *sa)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c, a;

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -1;
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(c, (const struct sockaddr *)sa, sizeof(*sa))) {
		close(c);
		return -1;
	}
	a = accept(l, NULL, NULL);
	close(c);
	if (a < 0)
		return -1;
	close(a);
	return 0;
}

static int loop_exec(long n)
{
	long i;

	for (i = 0; (!n || i < n) && !stop; i++)
		if (op_exec())
			return -1;
	return 0;
}

static int loop_connect(long n)
{
	struct sockaddr_in sa;
	int l, ret = 0;
	long i;

	l = listen_on(0, &sa);
	if (l < 0)
		return -1;
	for (i = 0; (!n || i < n) && !stop; i++) {
		if (op_connect(l, &sa)) {
			/* SIGTERM interrupts it: the end, not a failure */
			if (!stop)
				ret = -1;
			break;
		}
	}
	close(l);
	return ret;
}

/*
 * LOADGEN_DIR: where the loop's directory is made (default /tmp;
 * bench-kmod.sh under -icount: /dev/shm, plain tmpfs, as a new name in the
 * lab's overlay /tmp is looked up in its 9p lower layer).
 */
static int loop_open(long n)
{
	const char *base = getenv("LOADGEN_DIR");
	char dir[128], path[160];
	int i, ret = -1;
	long k;

	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof(dir), "%s/iotsec-loadgen.XXXXXX", base);
	if (!mkdtemp(dir))
		return -1;
	for (k = 0; (!n || k < n) && !stop; k++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%ld", dir, k % NFILES);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			goto out;
		close(fd);
	}
	ret = 0;
out:
	for (i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	return ret;
}

/* One paced worker: returns the operations done, negative after a failure. */
static long paced_worker(int is_exec, double rate, double secs, int port)
{
	struct sockaddr_in sa;
	double t0, end, t;
	int l = -1;
	long k;

	if (!is_exec) {
		l = listen_on(port, &sa);
		if (l < 0)
			return -1;
	}
	t0 = now();
	end = t0 + secs;
	for (k = 0;; k++) {
		if (rate > 0) {
			t = t0 + k / rate;
			if (t >= end)
				break;
			sleep_until(t);
		} else if (now() >= end) {
			break;
		}
		if (is_exec ? op_exec() : op_connect(l, &sa)) {
			perror("loadgen");
			k = -k - 1;
			break;
		}
	}
	if (l >= 0)
		close(l);
	return k;
}

/* loadgen --rate RATE connect|exec SECONDS WORKERS [PORT] */
static int paced(int argc, char **argv)
{
	long total = 0, n;
	double rate, secs, t0, el;
	int workers, port = 7700, is_exec, fd[2], i, fail = 0;

	if (argc < 6 || argc > 7 ||
	    (strcmp(argv[3], "connect") && strcmp(argv[3], "exec"))) {
		fprintf(stderr,
			"usage: loadgen --rate RATE connect|exec SECONDS WORKERS [PORT]\n");
		return 2;
	}
	rate = atof(argv[2]);
	is_exec = !strcmp(argv[3], "exec");
	secs = atof(argv[4]);
	workers = atoi(argv[5]);
	if (argc == 7)
		port = atoi(argv[6]);
	if (workers < 1 || workers > MAX_WORKERS || secs <= 0 || rate < 0)
		return 2;
	if (pipe(fd))
		return 1;
	t0 = now();
	for (i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(fd[0]);
			n = paced_worker(is_exec, rate / workers, secs,
					 port + i);
			if (write(fd[1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
	}
	close(fd[1]);
	while (read(fd[0], &n, sizeof(n)) == sizeof(n)) {
		if (n < 0) {
			fail = 1;
			n = -n - 1;
		}
		total += n;
	}
	while (wait(NULL) > 0)
		;
	el = now() - t0;
	printf("ops=%ld seconds=%.3f rate=%.1f\n", total, el, total / el);
	return fail;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	double t0;
	long n;
	int ret;

	if (argc > 1 && !strcmp(argv[1], "--rate"))
		return paced(argc, argv);
	if (argc != 3) {
		fprintf(stderr,
			"usage: loadgen exec|connect|open N\n"
			"       loadgen --rate RATE connect|exec SECONDS WORKERS [PORT]\n");
		return 2;
	}
	n = atol(argv[2]);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	t0 = now();
	if (!strcmp(argv[1], "exec"))
		ret = loop_exec(n);
	else if (!strcmp(argv[1], "connect"))
		ret = loop_connect(n);
	else if (!strcmp(argv[1], "open"))
		ret = loop_open(n);
	else
		return 2;
	if (ret) {
		perror("loadgen");
		return 1;
	}
	printf("%.6f\n", now() - t0);
	return 0;
}
