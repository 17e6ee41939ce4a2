// SPDX-License-Identifier: MIT
/*
 * Paced load with its own exact count, for the device benchmark:
 *
 *   evrate connect|exec RATE SECONDS WORKERS [PORT]
 *
 * WORKERS processes share RATE operations per second (0: as fast as they
 * go) for SECONDS. Each keeps an absolute schedule (operation k of a
 * worker is due at k * WORKERS / RATE s), so a late worker catches up and
 * the mean rate is the one asked for until the machine cannot keep up.
 *
 *   connect   TCP connect to the worker's own listener on 127.0.0.1:PORT+i
 *             (default PORT 7700) and accept: one connect and one accept
 *             event per operation (the client resets: no TIME_WAIT)
 *   exec      fork + exec /bin/true + wait: one exec and one exit event
 *
 * Prints "ops=N seconds=S rate=R" with N the operations every worker
 * completed (counted by the workers, summed through a pipe); exit status 1
 * if an operation failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t };

	ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static int op_exec(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/true", "true", NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -1;
	return 0;
}

static int listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int one = 1, l;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 128)) {
		close(l);
		return -1;
	}
	return l;
}

static int op_connect(int l, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c, a;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -1;
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa))) {
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

/* One worker: returns the operations done, negative after a failure. */
static long worker(int is_exec, double rate, double secs, int port)
{
	double t0, end, t;
	int l = -1;
	long k;

	if (!is_exec) {
		l = listen_on(port);
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
		if (is_exec ? op_exec() : op_connect(l, port)) {
			perror("evrate");
			k = -k - 1;
			break;
		}
	}
	if (l >= 0)
		close(l);
	return k;
}

int main(int argc, char **argv)
{
	long total = 0, n;
	double rate, secs, t0, el;
	int workers, port = 7700, is_exec, fd[2], i, fail = 0;

	if (argc < 5 || argc > 6 ||
	    (strcmp(argv[1], "connect") && strcmp(argv[1], "exec"))) {
		fprintf(stderr,
			"usage: evrate connect|exec RATE SECONDS WORKERS [PORT]\n");
		return 2;
	}
	is_exec = !strcmp(argv[1], "exec");
	rate = atof(argv[2]);
	secs = atof(argv[3]);
	workers = atoi(argv[4]);
	if (argc == 6)
		port = atoi(argv[5]);
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
			n = worker(is_exec, rate / workers, secs, port + i);
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
