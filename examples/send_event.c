// SPDX-License-Identifier: MIT
/*
 * send_event: send one security event to iotsecd with libiotsec.
 *
 *   send_event [-s SOCKET] [-t TIMEOUT_MS] EVENT_JSON
 *       an Azure security event, e.g.
 *       '{"EventType":"Security","Category":"Triggered","Name":"Login",
 *         "Payload":[{"ProcessId":42,"UserName":"alice","Operation":"PAM",
 *                     "Executable":"/usr/sbin/sshd","Result":"Fail"}]}'
 *   send_event [-s SOCKET] [-t TIMEOUT_MS] -c NAME [PAYLOAD_JSON]
 *       a custom event (default payload {"Message": "hello"})
 *
 * Build against an installed SDK:
 *   cc -o send_event send_event.c $(pkg-config --cflags --libs libiotsec)
 *
 * Exit status: 0 accepted, 1 rejected or failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iotsec/iotsec.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: send_event [-s SOCKET] [-t MS] EVENT_JSON\n"
		"       send_event [-s SOCKET] [-t MS] -c NAME [PAYLOAD_JSON]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *custom = NULL, *json;
	struct iotsec *h;
	int opt, timeout = 0, ret;

	while ((opt = getopt(argc, argv, "s:t:c:h")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		case 'c':
			custom = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind < argc)
		json = argv[optind];
	else if (custom)
		json = "{\"Message\": \"hello\"}";
	else
		usage();

	ret = iotsec_open(&h, sock);
	if (ret) {
		fprintf(stderr, "send_event: cannot reach iotsecd: %s\n",
			strerror(-ret));
		return 1;
	}
	if (timeout > 0)
		iotsec_set_timeout(h, timeout);
	if (custom)
		ret = iotsec_send_custom(h, custom, json);
	else
		ret = iotsec_send_event(h, json);
	if (ret)
		fprintf(stderr, "send_event: rejected (%s): %s\n",
			strerror(-ret), iotsec_last_error(h));
	else
		printf("send_event: accepted\n");
	iotsec_close(h);
	return ret ? 1 : 0;
}
