// SPDX-License-Identifier: MIT
/*
 * Very short processes with distinct arguments, for the capture
 * completeness benchmark (tests/bench/peers.sh):
 *
 *   shortproc N TAG [EXE]
 *
 * starts N processes of EXE (default /bin/true) as fast as it can, the
 * i-th with the argument vector
 *
 *   EXE arg-<i>-<TAG> --n=<i> last-<TAG>
 *
 * without waiting for one before starting the next (each exits at once;
 * they are reaped as they go and at the end), and prints the elapsed
 * seconds. Status 1 when a fork failed or a child did not exit with 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/tool.h"

/* Reap what has exited; with block set, wait for all. Counts failures. */
static long reap(int block, long *failed)
{
	long n = 0;
	int status;

	for (;;) {
		pid_t pid = waitpid(-1, &status, block ? 0 : WNOHANG);

		if (pid <= 0)
			break;
		n++;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			(*failed)++;
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *exe = argc > 3 ? argv[3] : "/bin/true";
	long n, i, failed = 0, running = 0;
	char a1[64], a2[32], a3[64];
	double t0;

	if (argc < 3 || argc > 4 || (n = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: shortproc N TAG [EXE]\n");
		return 2;
	}
	t0 = now();
	for (i = 0; i < n; i++) {
		pid_t pid;

		snprintf(a1, sizeof(a1), "arg-%ld-%s", i, argv[2]);
		snprintf(a2, sizeof(a2), "--n=%ld", i);
		snprintf(a3, sizeof(a3), "last-%s", argv[2]);
		pid = fork();
		if (pid < 0) {
			if (errno == EAGAIN && running) {
				/* At the process limit: let some finish. */
				running -= reap(1, &failed);
				i--;
				continue;
			}
			perror("shortproc: fork");
			return 1;
		}
		if (pid == 0) {
			execl(exe, exe, a1, a2, a3, (char *)NULL);
			_exit(127);
		}
		running++;
		running -= reap(0, &failed);
	}
	reap(1, &failed);
	printf("%.6f\n", now() - t0);
	if (failed)
		fprintf(stderr, "shortproc: %ld of %ld did not exit with 0\n",
			failed, n);
	return failed ? 1 : 0;
}
