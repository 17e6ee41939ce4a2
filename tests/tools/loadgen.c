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
 */
#include <arpa/inet.h>
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

#define NFILES 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int loop_exec(long n)
{
	long i;

	for (i = 0; (!n || i < n) && !stop; i++) {
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
	}
	return 0;
}

static int loop_connect(long n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	socklen_t salen = sizeof(sa);
	int l, ret = -1;
	long i;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 128) || getsockname(l, (struct sockaddr *)&sa, &salen))
		goto out;
	for (i = 0; (!n || i < n) && !stop; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a;

		if (c < 0)
			goto out;
		setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa))) {
			close(c);
			if (stop)
				break;
			goto out;
		}
		a = accept(l, NULL, NULL);
		close(c);
		if (a >= 0)
			close(a);
	}
	ret = 0;
out:
	if (l >= 0)
		close(l);
	return ret;
}

static int loop_open(long n)
{
	char dir[] = "/tmp/iotsec-loadgen.XXXXXX", path[64];
	int i, ret = -1;
	long k;

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

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	double t0;
	long n;
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: loadgen exec|connect|open N\n");
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
