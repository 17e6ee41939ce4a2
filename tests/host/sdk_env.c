// SPDX-License-Identifier: MIT
/*
 * libiotsec reads $IOTSEC_SOCKET with secure_getenv(): a set-user-ID
 * program that links it cannot be pointed at a socket of the caller's
 * choosing (to feed it a fake daemon, or to make it talk to another one
 * with its privileges).
 *
 *   this test (root) -- listens on DIR/sock (anyone may connect)
 *     '-- DIR/helper: a copy of this binary, set-user-ID "nobody",
 *         run with IOTSEC_SOCKET=DIR/sock: iotsec_open(NULL) must not
 *         connect there; the same helper without the set-user-ID bit
 *         does (the variable works for ordinary programs).
 */
#include "kselftest_harness.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <iotsec/iotsec.h>

#define NOBODY 65534

/* The helper: one iotsec_open() through the environment, and out. */
__attribute__((constructor)) static void helper(void)
{
	struct iotsec *h = NULL;
	int ret;

	if (!getenv("IOTSEC_ENV_HELPER"))
		return;
	ret = iotsec_open(&h, NULL);
	if (!ret)
		iotsec_close(h);
	_exit(ret ? 1 : 0);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	ssize_t n;
	int in, out, ret = 0;

	in = open(from, O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (in < 0 || out < 0)
		ret = -1;
	while (!ret && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			ret = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out))
		ret = -1;
	/* chown first: it clears the set-user-ID bit */
	if (!ret && (chown(to, NOBODY, NOBODY) || chmod(to, mode)))
		ret = -1;
	return ret;
}

/* Run HELPER with IOTSEC_SOCKET=SOCK; did it connect to LFD's socket? */
static int connected_through_env(const char *helper_path, const char *sock,
				 int lfd)
{
	char env_sock[256];
	char *const argv[] = { (char *)helper_path, NULL };
	char *const envp[] = { env_sock, "IOTSEC_ENV_HELPER=1",
			       "ASAN_OPTIONS=detect_leaks=0", NULL };
	int status, c;
	pid_t pid;

	snprintf(env_sock, sizeof(env_sock), "IOTSEC_SOCKET=%s", sock);
	pid = fork();
	if (pid == 0) {
		execve(helper_path, argv, envp);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return 0;
	close(c);
	return 1;
}

TEST(iotsec_socket_ignored_by_setuid_programs)
{
	char dir[] = "/tmp/iotsec-sdk-env.XXXXXX", sock[64], plain[64];
	char setuid_helper[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd;

	if (geteuid() != 0)
		SKIP(return, "needs root to make a set-user-ID helper");
	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, chmod(dir, 0755));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(plain, sizeof(plain), "%s/plain", dir);
	snprintf(setuid_helper, sizeof(setuid_helper), "%s/helper", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);

	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, chmod(sock, 0777));
	ASSERT_EQ(0, listen(lfd, 4));
	ASSERT_EQ(0, copy_file("/proc/self/exe", plain, 0755));
	ASSERT_EQ(0, copy_file("/proc/self/exe", setuid_helper, 04755));

	/* an ordinary program follows the variable */
	EXPECT_EQ(1, connected_through_env(plain, sock, lfd));
	/* a set-user-ID one does not */
	EXPECT_EQ(0, connected_through_env(setuid_helper, sock, lfd));

	close(lfd);
	unlink(sock);
	unlink(plain);
	unlink(setuid_helper);
	rmdir(dir);
}

TEST_HARNESS_MAIN
