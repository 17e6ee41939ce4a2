// SPDX-License-Identifier: MIT
/*
 * The SDK end to end on the host: libiotsec clients (the example program
 * and forked children) against an SDK server in the test process.
 *
 *   child: send_event / libiotsec --SOCK_SEQPACKET--> test: sdk_server
 *                                                      -> deliver() -> events[]
 *
 * Events the server delivers are also written to $IOTSEC_EVENT_DUMP
 * (when set) for tests/host/sdk-schema.sh to check with ajv.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "kselftest_harness.h"
#include <iotsec/iotsec.h>
#include "sdk/sdk_proto.h"
#include "sources/sdk_peer.h"
#include "sources/sdk_server.h"

#define MAX_EVENTS 256

struct got {
	struct json_object *ev[MAX_EVENTS];
	enum sdk_kind kind[MAX_EVENTS];
	struct sdk_peer peer[MAX_EVENTS];
	int n;
	int refuse;		/* deliver returns this when non-zero */
};

static int deliver(void *arg, struct json_object *ev, enum sdk_kind kind,
		   const struct sdk_peer *peer)
{
	struct got *g = arg;
	const char *dir = getenv("IOTSEC_EVENT_DUMP");

	if (g->refuse) {
		json_object_put(ev);
		return g->refuse;
	}
	if (dir) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/sdk-%s-%d-%d.json", dir,
			 kind == SDK_KIND_CUSTOM ? "custom" : "azure",
			 (int)getpid(), g->n);
		json_object_to_file_ext(path, ev, JSON_C_TO_STRING_PLAIN);
	}
	if (g->n == MAX_EVENTS) {
		json_object_put(ev);
		return -ENOBUFS;
	}
	g->ev[g->n] = ev;
	g->kind[g->n] = kind;
	g->peer[g->n] = *peer;
	g->n++;
	return 0;
}

static const char *build_dir(void)
{
	const char *b = getenv("IOTSEC_BUILD");

	return b ? b : "build";
}

/* Serve S until PID exits (or 30 s pass); its exit status, or -1. */
static int serve_until_exit(struct sdk_server *s, pid_t pid)
{
	struct pollfd p = { .fd = sdk_server_fd(s), .events = POLLIN };
	int status, i;

	for (i = 0; i < 3000; i++) {
		if (poll(&p, 1, 10) > 0 && sdk_server_handle(s))
			return -1;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void serve_for_ms(struct sdk_server *s, int ms)
{
	struct pollfd p = { .fd = sdk_server_fd(s), .events = POLLIN };
	int i;

	for (i = 0; i < ms / 5; i++)
		if (poll(&p, 1, 5) > 0)
			sdk_server_handle(s);
}

static const char *extra(struct json_object *ev, int item, const char *key)
{
	struct json_object *p, *x, *v;

	if (!json_object_object_get_ex(ev, "Payload", &p))
		return NULL;
	x = json_object_array_get_idx(p, item);
	if (!x || !json_object_object_get_ex(x, "ExtraDetails", &x) ||
	    !json_object_object_get_ex(x, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#define LOGIN_OK \
	"{\"EventType\":\"Security\",\"Category\":\"Triggered\"," \
	"\"Name\":\"Login\",\"Payload\":[{\"ProcessId\":4242," \
	"\"UserName\":\"alice\",\"Operation\":\"PAM:authentication\"," \
	"\"Executable\":\"/usr/sbin/sshd\",\"Result\":\"Fail\"," \
	"\"RemoteAddress\":\"192.0.2.7\",\"RemotePort\":\"50022\"}]}"

FIXTURE(sdk) {
	char dir[64];
	char path[128];
	struct sdk_server_config cfg;
	struct sdk_server *s;
	struct got got;
};

FIXTURE_SETUP(sdk)
{
	strcpy(self->dir, "/tmp/iotsec-sdk-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/sdk.sock", self->dir);
	sdk_server_config_defaults(&self->cfg);
	self->cfg.path = self->path;
	memset(&self->got, 0, sizeof(self->got));
	self->s = NULL;
}

FIXTURE_TEARDOWN(sdk)
{
	int i;

	sdk_server_close(self->s);
	for (i = 0; i < self->got.n; i++)
		json_object_put(self->got.ev[i]);
	rmdir(self->dir);
}

static void start(struct __test_metadata *_metadata,
		  FIXTURE_DATA(sdk) *self)
{
	ASSERT_EQ(0, sdk_server_open(&self->s, &self->cfg, deliver,
				     &self->got));
}

/* The example program's event arrives stamped with its real identity. */
TEST_F(sdk, example_program_event_is_stamped)
{
	char exe[PATH_MAX], want_exe[PATH_MAX], pidbuf[16], uidbuf[16];
	struct json_object *name;
	pid_t pid;

	start(_metadata, self);
	snprintf(exe, sizeof(exe), "%s/examples/send_event", build_dir());
	ASSERT_NE(NULL, realpath(exe, want_exe));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		execl(exe, "send_event", "-s", self->path, "-c", "Example.Hello",
		      "{\"Message\":\"hi\",\"ExtraDetails\":{\"k\":\"v\"}}",
		      (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
	ASSERT_EQ(1, self->got.n);
	EXPECT_EQ((int)SDK_KIND_CUSTOM, (int)self->got.kind[0]);
	ASSERT_TRUE(json_object_object_get_ex(self->got.ev[0], "Name", &name));
	EXPECT_STREQ("Example.Hello", json_object_get_string(name));
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	snprintf(uidbuf, sizeof(uidbuf), "%u", (unsigned int)getuid());
	EXPECT_STREQ(pidbuf, extra(self->got.ev[0], 0, "SenderProcessId"));
	EXPECT_STREQ(uidbuf, extra(self->got.ev[0], 0, "SenderUserId"));
	EXPECT_STREQ(want_exe, extra(self->got.ev[0], 0, "SenderExecutable"));
	EXPECT_STREQ("v", extra(self->got.ev[0], 0, "k"));
	EXPECT_EQ(pid, self->got.peer[0].pid);
}

/* An executable whose name is not UTF-8 still gives valid JSON. */
TEST_F(sdk, odd_executable_name_is_cleaned)
{
	char src[PATH_MAX], dst[PATH_MAX], cmd[2 * PATH_MAX + 16];
	const char *exe;
	pid_t pid;

	start(_metadata, self);
	snprintf(src, sizeof(src), "%s/examples/send_event", build_dir());
	snprintf(dst, sizeof(dst), "%s/send\xff\x01" "event\xc3\xa9", self->dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	ASSERT_EQ(0, system(cmd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char lib[PATH_MAX];

		/* the copy cannot find libiotsec through its rpath */
		if (realpath(build_dir(), lib))
			setenv("LD_LIBRARY_PATH", lib, 1);
		execl(dst, "send_event", "-s", self->path, "-c", "Odd", "{}",
		      (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
	unlink(dst);
	ASSERT_EQ(1, self->got.n);
	exe = extra(self->got.ev[0], 0, "SenderExecutable");
	ASSERT_NE(NULL, exe);
	/* \xff and \x01 replaced, the valid UTF-8 e-acute kept */
	EXPECT_NE(NULL, strstr(exe, "/send??event\xc3\xa9"));
}

/* A client that claims someone else's identity is overwritten. */
TEST_F(sdk, claimed_identity_is_overwritten)
{
	char pidbuf[16], gidbuf[16];
	pid_t pid;

	start(_metadata, self);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iotsec *h;

		if (iotsec_open(&h, self->path))
			_exit(10);
		if (iotsec_send_event(h,
			"{\"EventType\":\"Security\",\"Category\":\"Triggered\","
			"\"Name\":\"Login\",\"Payload\":[{\"ProcessId\":1,"
			"\"UserId\":\"0\",\"Operation\":\"PAM\","
			"\"Executable\":\"/sbin/init\",\"Result\":\"Success\","
			"\"ExtraDetails\":{\"SenderProcessId\":\"1\","
			"\"SenderUserId\":\"0\",\"SenderGroupId\":\"0\","
			"\"SenderExecutable\":\"/sbin/init\"}}]}"))
			_exit(11);
		iotsec_close(h);
		_exit(0);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
	ASSERT_EQ(1, self->got.n);
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	snprintf(gidbuf, sizeof(gidbuf), "%u", (unsigned int)getgid());
	EXPECT_STREQ(pidbuf, extra(self->got.ev[0], 0, "SenderProcessId"));
	EXPECT_STRNE("/sbin/init",
		     extra(self->got.ev[0], 0, "SenderExecutable"));
	EXPECT_STREQ(gidbuf, extra(self->got.ev[0], 0, "SenderGroupId"));
	if (getuid() != 0)
		EXPECT_STRNE("0", extra(self->got.ev[0], 0, "SenderUserId"));
}

struct bad_case {
	const char *json;	/* the whole event, or NULL for custom */
	const char *name, *payload;
	const char *reason;	/* a substring of the daemon's reason */
};

static const struct bad_case bad_cases[] = {
	{ "{\"EventType\":", NULL, NULL, "invalid JSON" },
	{ "[1,2]", NULL, NULL, "expected an object" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Triggered\",\"Name\":\"Login\","
	  "\"Payload\":[{\"ProcessId\":1,\"UserName\":\"a\",\"Operation\":\"x\","
	  "\"Executable\":\"/x\"}]}", NULL, NULL,
	  "missing required field \"Result\"" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Triggered\",\"Name\":\"Login\","
	  "\"Payload\":[{\"ProcessId\":1,\"Operation\":\"x\",\"Result\":\"Fail\","
	  "\"Executable\":\"/x\"}]}", NULL, NULL, "needs \"UserId\" or \"UserName\"" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Triggered\",\"Name\":\"Login\","
	  "\"Payload\":[{\"ProcessId\":\"1\",\"UserName\":\"a\",\"Operation\":\"x\","
	  "\"Result\":\"Fail\",\"Executable\":\"/x\"}]}", NULL, NULL,
	  "ProcessId: expected an integer" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Triggered\",\"Name\":\"Login\","
	  "\"Payload\":[{\"ProcessId\":1,\"UserName\":\"a\",\"Operation\":\"x\","
	  "\"Result\":\"Maybe\",\"Executable\":\"/x\"}]}", NULL, NULL,
	  "Result: not an allowed value" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Triggered\",\"Name\":\"Login\","
	  "\"Payload\":[{\"ProcessId\":1,\"UserName\":\"a\",\"Operation\":\"x\","
	  "\"Result\":\"Fail\",\"Executable\":\"/x\",\"RemoteAddress\":\"300.1.1.1\"}]}",
	  NULL, NULL, "expected an IPv4 or IPv6 address" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Name\":\"Login\","
	  "\"Payload\":[]}", NULL, NULL, "Category must be \"Triggered\"" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Triggered\",\"Name\":\"Login\","
	  "\"Payload\":[]}", NULL, NULL, "Payload: empty" },
	{ "{\"EventType\":\"Security\",\"Category\":\"Periodic\",\"Name\":\"ListeningPorts\","
	  "\"Payload\":[{\"LocalPort\":\"22\",\"Protocol\":\"TCP\",\"Owner\":\"x\"}]}",
	  NULL, NULL, "unknown field \"Owner\"" },
	{ "{\"EventType\":\"Operational\",\"Category\":\"Periodic\","
	  "\"Name\":\"MessageStatistics\",\"Payload\":[{}]}", NULL, NULL,
	  "agent's own event" },
	{ "{\"Id\":\"x\",\"EventType\":\"Security\",\"Category\":\"Triggered\","
	  "\"Name\":\"Login\",\"Payload\":[{}]}", NULL, NULL, "unknown field \"Id\"" },
	{ NULL, "Login", "{}", "is an Azure event name" },
	{ NULL, "KernelModuleLoad", "{\"ModuleName\":\"x\",\"Result\":0}",
	  "is an iotsec kernel event name" },
	{ NULL, "filechange", "{}", "is an iotsec kernel event name" },
	{ NULL, "9lives", "{}", "name must be a letter" },
	{ NULL, "Ok.Name", "[]", "Payload: empty" },
	{ NULL, "Ok.Name", "42", "expected an array" },
	{ NULL, "Ok.Name", "{\"ExtraDetails\":{\"a\":1}}",
	  "ExtraDetails.a: expected a string" },
	{ NULL, "Ok.Name", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  "invalid JSON" },
};

/*
 * Malformed and schema-breaking events are refused with a reason, the
 * connection stays usable, and nothing reaches the daemon's queue.
 */
TEST_F(sdk, malformed_events_rejected_with_reason)
{
	pid_t pid;
	size_t i;

	start(_metadata, self);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iotsec *h;
		int ret;

		if (iotsec_open(&h, self->path))
			_exit(100);
		for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
			const struct bad_case *b = &bad_cases[i];

			ret = b->json ? iotsec_send_event(h, b->json) :
				iotsec_send_custom(h, b->name, b->payload);
			if (ret != -EINVAL ||
			    !strstr(iotsec_last_error(h), b->reason)) {
				fprintf(stderr, "case %zu: %d \"%s\"\n", i, ret,
					iotsec_last_error(h));
				_exit(1 + i);
			}
		}
		if (iotsec_send_event(h, LOGIN_OK) ||
		    strcmp(iotsec_last_error(h), ""))
			_exit(99);
		iotsec_close(h);
		_exit(0);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
	ASSERT_EQ(1, self->got.n);
	EXPECT_EQ((int)SDK_KIND_AZURE, (int)self->got.kind[0]);
}

/* Oversized requests: refused by the library, and by the server. */
TEST_F(sdk, oversized_rejected)
{
	struct { struct sdk_reply r; char reason[SDK_REASON_MAX]; } rep;
	size_t big = IOTSEC_MAX_MESSAGE + 100;
	char *buf = malloc(big + 1);
	struct iotsec *h;
	int fd;
	ssize_t n;

	ASSERT_NE(NULL, buf);
	self->cfg.max_message = 2048;
	start(_metadata, self);

	/* Library: over IOTSEC_MAX_MESSAGE never leaves the process. */
	ASSERT_EQ(0, iotsec_open(&h, self->path));
	memset(buf, 'a', big);
	buf[big] = '\0';
	EXPECT_EQ(-EMSGSIZE, iotsec_send_custom(h, "Big", buf));
	iotsec_close(h);

	/* Server: a raw record above its limit gets -EMSGSIZE back. */
	fd = raw_connect(self->path);
	ASSERT_LE(0, fd);
	serve_for_ms(self->s, 20);
	ASSERT_EQ(4000, send(fd, buf, 4000, 0));
	serve_for_ms(self->s, 50);
	n = recv(fd, &rep, sizeof(rep), MSG_DONTWAIT);
	ASSERT_LT((ssize_t)sizeof(rep.r), n);
	EXPECT_EQ(SDK_REPLY_MAGIC, rep.r.magic);
	EXPECT_EQ(-EMSGSIZE, rep.r.status);
	EXPECT_NE(NULL, strstr(rep.r.reason, "larger than 2048"));
	close(fd);
	free(buf);
	EXPECT_EQ(0, self->got.n);
}

/*
 * A client flooding as fast as it can is rate limited (-EAGAIN) while a
 * well-behaved client at the same time gets every event through.
 */
TEST_F(sdk, flooding_client_limited_others_unaffected)
{
	struct pollfd p;
	pid_t flood, polite;
	int st, i, done = 0, flood_rc = -1, polite_rc = -1, polite_n = 0;

	self->cfg.rate = 20;
	self->cfg.burst = 10;
	self->cfg.mode = 0666;
	start(_metadata, self);
	ASSERT_EQ(0, chmod(self->dir, 0755));
	flood = fork();
	ASSERT_LE(0, flood);
	if (flood == 0) {
		struct iotsec *h;
		int limited = 0, ok = 0;

		if (iotsec_open(&h, self->path))
			_exit(100);
		for (i = 0; i < 300; i++) {
			int ret = iotsec_send_custom(h, "Flood", "{\"i\":1}");

			if (ret == -EAGAIN &&
			    strstr(iotsec_last_error(h), "rate limit"))
				limited++;
			else if (ret == 0)
				ok++;
			else
				_exit(101);
		}
		/* Burst 10 + 20/s over the run: far fewer than 300 pass. */
		_exit(limited >= 200 && ok >= 10 && ok < 100 ? 0 : 1);
	}
	polite = fork();
	ASSERT_LE(0, polite);
	if (polite == 0) {
		struct iotsec *h;

		/* the bucket is the user's: the polite client is another */
		if (getuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(99);
		if (iotsec_open(&h, self->path))
			_exit(100);
		for (i = 0; i < 5; i++) {
			if (iotsec_send_event(h, LOGIN_OK))
				_exit(1 + i);
			usleep(20000);
		}
		_exit(0);
	}
	p.fd = sdk_server_fd(self->s);
	p.events = POLLIN;
	for (i = 0; i < 3000 && done < 2; i++) {
		if (poll(&p, 1, 10) > 0)
			sdk_server_handle(self->s);
		if (flood_rc < 0 && waitpid(flood, &st, WNOHANG) == flood) {
			flood_rc = WEXITSTATUS(st);
			done++;
		}
		if (polite_rc < 0 && waitpid(polite, &st, WNOHANG) == polite) {
			polite_rc = WEXITSTATUS(st);
			done++;
		}
	}
	EXPECT_EQ(0, flood_rc);
	EXPECT_EQ(0, polite_rc);
	for (i = 0; i < self->got.n; i++)
		if (self->got.peer[i].pid == polite)
			polite_n++;
	EXPECT_EQ(5, polite_n);
}

/*
 * A hostile client that sends without ever reading its replies is
 * disconnected; the server never blocks on it, and serves others.
 */
TEST_F(sdk, client_not_reading_replies_is_dropped)
{
	struct sdk_server_stats st;
	const char *req = "{\"v\":1,\"op\":\"custom\",\"name\":\"X\",\"payload\":{}}";
	struct iotsec *h;
	int fd, i, sent = 0;
	pid_t pid;

	self->cfg.rate = 100000;
	self->cfg.burst = 100000;
	start(_metadata, self);
	fd = raw_connect(self->path);
	ASSERT_LE(0, fd);
	for (i = 0; i < 5000; i++) {
		if (send(fd, req, strlen(req), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			serve_for_ms(self->s, 5);
			continue;
		}
		sent++;
		if (i % 16 == 0)
			serve_for_ms(self->s, 5);
		sdk_server_get_stats(self->s, &st);
		if (st.clients_dropped)
			break;
	}
	serve_for_ms(self->s, 20);
	sdk_server_get_stats(self->s, &st);
	EXPECT_EQ(1, (int)st.clients_dropped);
	EXPECT_EQ(0, (int)st.clients);
	EXPECT_LT(sent, 5000);
	close(fd);

	/* Someone else still gets served. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (iotsec_open(&h, self->path) || iotsec_send_event(h, LOGIN_OK))
			_exit(1);
		_exit(0);
	}
	EXPECT_EQ(0, serve_until_exit(self->s, pid));
}

/* Beyond max_clients a connection gets -EBUSY; the others keep going. */
TEST_F(sdk, max_clients)
{
	struct iotsec *h[3];
	pid_t pid;
	int i;

	self->cfg.max_clients = 2;
	start(_metadata, self);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (i = 0; i < 3; i++)
			if (iotsec_open(&h[i], self->path))
				_exit(10 + i);
		/* Connections are accepted in order; the third is refused. */
		if (iotsec_send_custom(h[2], "Third", "{}") != -EBUSY)
			_exit(2);
		if (!strstr(iotsec_last_error(h[2]), "too many clients"))
			_exit(3);
		if (iotsec_send_custom(h[0], "First", "{}") ||
		    iotsec_send_custom(h[1], "Second", "{}"))
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
	EXPECT_EQ(2, self->got.n);
}

/* One user cannot take every slot: max_per_uid. */
TEST_F(sdk, max_per_user)
{
	struct iotsec *h[3];
	pid_t pid;
	int i;

	self->cfg.max_per_uid = 2;
	start(_metadata, self);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (i = 0; i < 3; i++)
			if (iotsec_open(&h[i], self->path))
				_exit(10 + i);
		if (iotsec_send_custom(h[2], "Third", "{}") != -EBUSY)
			_exit(2);
		if (!strstr(iotsec_last_error(h[2]), "of this user"))
			_exit(3);
		iotsec_close(h[2]);
		if (iotsec_send_custom(h[0], "First", "{}"))
			_exit(4);
		/* A slot freed is a slot again. */
		iotsec_close(h[1]);
		usleep(50000);
		if (iotsec_open(&h[1], self->path) ||
		    iotsec_send_custom(h[1], "Again", "{}"))
			_exit(5);
		_exit(0);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
	EXPECT_EQ(2, self->got.n);
}

/*
 * Out of file descriptors: a connection is refused with a reason instead
 * of staying in the backlog and keeping the loop busy.
 */
TEST_F(sdk, out_of_fds_refuses_and_does_not_spin)
{
	struct pollfd p;
	struct rlimit rl, low;
	pid_t pid;
	int fd, status, i;

	start(_metadata, self);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	fd = open("/dev/null", O_RDONLY);
	ASSERT_LE(0, fd);
	close(fd);
	low = rl;
	low.rlim_cur = fd;	/* every fd below is taken: no new one */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iotsec *h;
		int ret;

		if (iotsec_open(&h, self->path))
			_exit(10);
		ret = iotsec_send_custom(h, "NoFd", "{}");
		if (ret != -EBUSY)
			_exit(11);
		_exit(strstr(iotsec_last_error(h), "file descriptors") ? 0 : 12);
	}
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	p.fd = sdk_server_fd(self->s);
	p.events = POLLIN;
	for (i = 0; i < 1000; i++) {
		if (poll(&p, 1, 10) > 0)
			sdk_server_handle(self->s);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* Nothing left pending: the server's fd is quiet. */
	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(0, self->got.n);
}

/* The daemon refusing an event (queue full) reaches the caller. */
TEST_F(sdk, deliver_refusal_returned)
{
	pid_t pid;

	self->got.refuse = -ENOBUFS;
	start(_metadata, self);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iotsec *h;

		if (iotsec_open(&h, self->path))
			_exit(10);
		if (iotsec_send_event(h, LOGIN_OK) != -ENOBUFS)
			_exit(1);
		_exit(strstr(iotsec_last_error(h), "no more local events") ?
		      0 : 2);
	}
	ASSERT_EQ(0, serve_until_exit(self->s, pid));
}

/* Socket file: mode from config; stale sockets replaced; others kept. */
TEST_F(sdk, socket_file_handling)
{
	struct sdk_server *s2;
	struct stat st;
	int fd;

	self->cfg.mode = 0620;
	start(_metadata, self);
	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(0620, (int)(st.st_mode & 07777));
	/* Someone listens there: refuse to steal it. */
	EXPECT_EQ(-EADDRINUSE, sdk_server_open(&s2, &self->cfg, deliver,
					       &self->got));
	sdk_server_close(self->s);
	self->s = NULL;
	/* A stale socket (nobody listens) is replaced. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, self->path);
		ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	}
	close(fd);
	start(_metadata, self);
	sdk_server_close(self->s);
	self->s = NULL;
	/* A regular file is never removed. */
	fd = open(self->path, O_CREAT | O_WRONLY, 0600);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-EEXIST, sdk_server_open(&s2, &self->cfg, deliver,
					   &self->got));
	unlink(self->path);
}

/* Send REQ on FD, serve, and return the reply's status (or 1: none). */
static int ask(struct sdk_server *s, int fd, const char *req, size_t len)
{
	struct { struct sdk_reply r; char reason[SDK_REASON_MAX]; } rep;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i;

	if (send(fd, req, len, 0) != (ssize_t)len)
		return 1;
	for (i = 0; i < 200; i++) {
		sdk_server_handle(s);
		if (poll(&p, 1, 10) == 1) {
			if (recv(fd, &rep, sizeof(rep), 0) < (ssize_t)sizeof(rep.r))
				return 1;
			return rep.r.status;
		}
	}
	return 1;
}

/*
 * SIGHUP's path: mode, group and limits change on the running socket, a
 * connected client stays connected and gets the new limits; the path
 * cannot change live.
 */
TEST_F(sdk, live_update)
{
	static const char req[] =
		"{\"v\":1,\"op\":\"custom\",\"name\":\"A.B\",\"payload\":{}}";
	struct sdk_server_config c;
	char big[2048];
	struct stat st;
	int fd, fd2, i;

	self->cfg.mode = 0600;
	start(_metadata, self);
	fd = raw_connect(self->path);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ask(self->s, fd, req, strlen(req)));

	c = self->cfg;
	c.mode = 0640;
	c.group = getgid();
	c.rate = 1;
	c.burst = 1;
	c.max_message = 1024;
	ASSERT_EQ(0, sdk_server_update(self->s, &c));
	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_EQ(0640, (int)(st.st_mode & 07777));
	EXPECT_EQ(getgid(), st.st_gid);
	/* the same connection, now with a bucket of one */
	EXPECT_EQ(0, ask(self->s, fd, req, strlen(req)));
	EXPECT_EQ(-EAGAIN, ask(self->s, fd, req, strlen(req)));
	/* a new one (once the user has a token again): 1 KiB is the most */
	usleep(1100 * 1000);
	fd2 = raw_connect(self->path);
	ASSERT_LE(0, fd2);
	i = snprintf(big, sizeof(big), "{\"v\":1,\"op\":\"custom\","
		     "\"name\":\"A.B\",\"payload\":{\"x\":\"");
	memset(big + i, 'a', 1500);
	strcpy(big + i + 1500, "\"}}");
	EXPECT_EQ(-EMSGSIZE, ask(self->s, fd2, big, strlen(big)));
	EXPECT_EQ(2, self->got.n);

	/* another path: close and open instead; nothing changes */
	c.path = "/tmp/iotsec-elsewhere.sock";
	c.mode = 0666;
	EXPECT_EQ(-EINVAL, sdk_server_update(self->s, &c));
	ASSERT_EQ(0, stat(self->path, &st));
	EXPECT_EQ(0640, (int)(st.st_mode & 07777));
	close(fd);
	close(fd2);
}

/* A scripted peer: a listening socket the test drives by hand. */
static int fake_daemon(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 4))
		return -1;
	return fd;
}

/*
 * The library against a daemon that misbehaves: a reply that is not one
 * gives -EPROTO, no reply gives -ETIMEDOUT within the timeout, and a
 * handle is unusable (-EPIPE) after either.
 */
TEST_F(sdk, library_timeout_and_bad_reply)
{
	char buf[256];
	pid_t pid;
	int l, c, c2, status;

	l = fake_daemon(self->path);
	ASSERT_LE(0, l);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct timespec a, b;
		struct iotsec *h;
		long ms;

		/* 1: garbage for a reply */
		if (iotsec_open(&h, self->path))
			_exit(10);
		if (iotsec_send_custom(h, "A", "{}") != -EPROTO)
			_exit(11);
		if (iotsec_send_custom(h, "A", "{}") != -EPIPE)
			_exit(12);
		iotsec_close(h);
		/* 2: silence */
		if (iotsec_open(&h, self->path) || iotsec_set_timeout(h, 300))
			_exit(20);
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (iotsec_send_custom(h, "B", "{}") != -ETIMEDOUT)
			_exit(21);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
		if (ms < 250 || ms > 3000)
			_exit(22);
		if (iotsec_send_custom(h, "B", "{}") != -EPIPE)
			_exit(23);
		iotsec_close(h);
		_exit(0);
	}
	c = accept(l, NULL, NULL);
	ASSERT_LE(0, c);
	ASSERT_LT(0, recv(c, buf, sizeof(buf), 0));
	ASSERT_EQ(5, send(c, "hello", 5, 0));
	c2 = accept(l, NULL, NULL);	/* accepted, never answered */
	ASSERT_LE(0, c2);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(c2);
	close(c);
	close(l);
	unlink(self->path);
}

/* No daemon: the library says so. */
TEST(no_daemon)
{
	struct iotsec *h;

	EXPECT_EQ(-ENOENT, iotsec_open(&h, "/tmp/iotsec-no-such-dir/sock"));
	EXPECT_EQ(NULL, h);
}

/*
 * Reconnecting does not refill the bucket: the user's, not the
 * connection's. 40 connections in a row, one event each, at rate 1/s and
 * burst 5: about 5 get through (plus one a second), not 40.
 */
TEST_F(sdk, reconnect_does_not_refill)
{
	pid_t pid;

	self->cfg.rate = 1;
	self->cfg.burst = 5;
	start(_metadata, self);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int i, ok = 0;

		for (i = 0; i < 40; i++) {
			struct iotsec *h;

			if (iotsec_open(&h, self->path))
				continue;
			ok += iotsec_send_custom(h, "Loop", "{}") == 0;
			iotsec_close(h);
		}
		_exit(ok);
	}
	EXPECT_GE(8, serve_until_exit(self->s, pid));
}

/*
 * The connect-then-exec client. A helper in the test binary itself (run
 * when IOTSEC_TEST_HELPER_FD is set): it says it runs, then sends one
 * event over the connection it inherited and exits 0 when accepted, 1
 * when refused with -EPERM, 2 otherwise.
 */
static void __attribute__((constructor)) exec_helper(void)
{
	static const char req[] =
		"{\"v\":1,\"op\":\"custom\",\"name\":\"Trusted.Says\","
		"\"payload\":{}}";
	struct { struct sdk_reply r; char reason[SDK_REASON_MAX]; } rep;
	const char *fd_s = getenv("IOTSEC_TEST_HELPER_FD");
	const char *ready_s = getenv("IOTSEC_TEST_HELPER_READY");
	int fd, ready;

	if (!fd_s || !ready_s)
		return;
	fd = atoi(fd_s);
	ready = atoi(ready_s);
	if (write(ready, "x", 1) != 1)
		_exit(3);
	close(ready);
	if (send(fd, req, sizeof(req) - 1, 0) < 0 ||
	    recv(fd, &rep, sizeof(rep), 0) < (ssize_t)sizeof(rep.r))
		_exit(2);
	_exit(rep.r.status == 0 ? 0 : rep.r.status == -EPERM ? 1 : 2);
}

/* A copy of this binary at DST: the "trusted" helper. */
static int copy_self(const char *dst)
{
	char cmd[2 * PATH_MAX + 16], self_exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n <= 0)
		return -1;
	self_exe[n] = '\0';
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", self_exe, dst);
	return system(cmd);
}

/*
 * Run the helper HELPER in a child that connected first (CLOEXEC: with
 * close-on-exec, cleared before the exec; ASK_FIRST: sends one event
 * itself before it executes). The server runs only once the helper does
 * (ASK_FIRST: also while the child waits for its reply). Returns the
 * helper's exit status.
 */
static int connect_then_exec(struct __test_metadata *_metadata,
			     FIXTURE_DATA(sdk) *self, const char *helper,
			     bool ask_first)
{
	struct pollfd p;
	int ready[2], status;
	char c;
	pid_t pid;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char fd_s[16], ready_s[16], lib[PATH_MAX];
		int fd = socket(AF_UNIX, SOCK_SEQPACKET |
				(ask_first ? SOCK_CLOEXEC : 0), 0);

		close(ready[0]);
		strcpy(sa.sun_path, self->path);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(10);
		if (ask_first) {
			static const char req[] =
				"{\"v\":1,\"op\":\"custom\",\"name\":"
				"\"Untrusted.Says\",\"payload\":{}}";
			struct sdk_reply r[2];

			if (send(fd, req, sizeof(req) - 1, 0) < 0 ||
			    recv(fd, r, sizeof(r), 0) < (ssize_t)sizeof(r[0]) ||
			    r[0].status)
				_exit(11);
			/* keep the connection across the exec */
			fcntl(fd, F_SETFD, 0);
		}
		snprintf(fd_s, sizeof(fd_s), "%d", fd);
		snprintf(ready_s, sizeof(ready_s), "%d", ready[1]);
		setenv("IOTSEC_TEST_HELPER_FD", fd_s, 1);
		setenv("IOTSEC_TEST_HELPER_READY", ready_s, 1);
		if (realpath(build_dir(), lib))
			setenv("LD_LIBRARY_PATH", lib, 1);
		execl(helper, "trusted-helper", (char *)NULL);
		_exit(12);
	}
	close(ready[1]);
	if (ask_first) {
		/* serve the first event while waiting for the exec */
		p = (struct pollfd){ .fd = ready[0], .events = POLLIN };
		while (poll(&p, 1, 0) == 0)
			serve_for_ms(self->s, 10);
	}
	/* the helper runs: only now does the server look */
	EXPECT_EQ(1, read(ready[0], &c, 1));
	close(ready[0]);
	status = serve_until_exit(self->s, pid);
	(void)_metadata;
	return status;
}

/*
 * Connect, then exec a trusted program that sends over the inherited
 * connection: its event must not carry the trusted program as the
 * sender; it is refused (-EPERM), and counted.
 */
TEST_F(sdk, connect_then_exec_not_trusted)
{
	char helper[PATH_MAX];
	int i, status;

	snprintf(helper, sizeof(helper), "%s/trusted-helper", self->dir);
	ASSERT_EQ(0, copy_self(helper));
	start(_metadata, self);
	status = connect_then_exec(_metadata, self, helper, false);
	unlink(helper);
	for (i = 0; i < self->got.n; i++) {
		const char *exe = extra(self->got.ev[i], 0, "SenderExecutable");

		EXPECT_STRNE(helper, exe ? exe : "");
	}
	EXPECT_EQ(1, status);
	EXPECT_EQ(0, self->got.n);
}

/*
 * Connect with close-on-exec, send (accepted: the sender is this test),
 * then clear it and exec the trusted helper, which sends too: once the
 * process executed another program its events are refused.
 */
TEST_F(sdk, exec_after_accept_refused)
{
	char helper[PATH_MAX], me[PATH_MAX];
	ssize_t n;
	int status;

	n = readlink("/proc/self/exe", me, sizeof(me) - 1);
	ASSERT_LT(0, n);
	me[n] = '\0';
	snprintf(helper, sizeof(helper), "%s/trusted-helper", self->dir);
	ASSERT_EQ(0, copy_self(helper));
	start(_metadata, self);
	status = connect_then_exec(_metadata, self, helper, true);
	unlink(helper);
	TH_LOG("same process checked by %s", sdk_ident_have_pidfd() ?
	       "pidfd (SO_PEERPIDFD)" : "start time (no SO_PEERPIDFD)");
	ASSERT_LE(1, self->got.n);
	EXPECT_STREQ(me, extra(self->got.ev[0], 0, "SenderExecutable"));
	EXPECT_EQ(1, status);
	EXPECT_EQ(1, self->got.n);
}

TEST_HARNESS_MAIN
