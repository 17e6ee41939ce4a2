// SPDX-License-Identifier: MIT
/*
 * utmp-write FILE login|logout|failed USER LINE HOST PID: append one
 * record to a wtmp/btmp FILE with updwtmpx(), as login(1) and sshd do.
 * HOST, when an IPv4/IPv6 address, also goes in ut_addr_v6.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <utmpx.h>

int main(int argc, char **argv)
{
	struct timeval tv;
	struct utmpx u;

	if (argc != 7) {
		fprintf(stderr, "usage: utmp-write FILE login|logout|failed USER LINE HOST PID\n");
		return 2;
	}
	memset(&u, 0, sizeof(u));
	if (!strcmp(argv[2], "login"))
		u.ut_type = USER_PROCESS;
	else if (!strcmp(argv[2], "logout"))
		u.ut_type = DEAD_PROCESS;
	else
		u.ut_type = LOGIN_PROCESS;
	strncpy(u.ut_user, argv[3], sizeof(u.ut_user));
	strncpy(u.ut_line, argv[4], sizeof(u.ut_line));
	strncpy(u.ut_host, argv[5], sizeof(u.ut_host));
	if (inet_pton(AF_INET, argv[5], u.ut_addr_v6) != 1)
		inet_pton(AF_INET6, argv[5], u.ut_addr_v6);
	u.ut_pid = atoi(argv[6]);
	gettimeofday(&tv, NULL);
	u.ut_tv.tv_sec = tv.tv_sec;
	u.ut_tv.tv_usec = tv.tv_usec;
	updwtmpx(argv[1], &u);
	return 0;
}
