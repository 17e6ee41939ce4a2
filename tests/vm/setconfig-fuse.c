// SPDX-License-Identifier: MIT
/*
 * A SET_CONFIG whose watched path hangs stalls only its caller.
 *
 * The test is its own FUSE server (it speaks /dev/fuse: no libfuse, no
 * fusermount): it answers INIT, and a LOOKUP it holds unanswered until
 * told to let go, like an NFS server that went away. While a SET_CONFIG
 * naming a path on that mount hangs in its lookup:
 *
 *   - another generic netlink family answers: nlctrl's GETFAMILY, from a
 *     fresh socket, within BOUND_MS (the module's family sets
 *     parallel_ops, so its handler does not hold genl_mutex);
 *   - the module's own GET_CONFIG and GET_STATS answer within BOUND_MS
 *     (the path is resolved before config_lock is taken);
 *   - events still reach the subscribed consumer (an exec);
 *
 * then the LOOKUP is answered ENOENT: the SET_CONFIG fails cleanly with
 * ENOENT, the configuration is unchanged (no watched path), the mount
 * goes and the module unloads.
 */
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

#pragma GCC diagnostic ignored "-Wsign-compare"

#define MNT "/tmp/iotsec-hang"
#define HUNG_PATH MNT "/watched"
#define BOUND_MS 5000
#define WAIT_MS 20000

/* The FUSE server's state, shared with its thread. */
struct hang {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool lookup_seen;	/* a LOOKUP is held */
	bool release;		/* answer it now */
	int lookups;
};

FIXTURE(hang) {
	struct iev_client c;
	struct hang h;
	bool mounted;
};

static int reply(int fd, uint64_t unique, int error, const void *arg,
		 size_t len)
{
	char buf[sizeof(struct fuse_out_header) + 256];
	struct fuse_out_header *out = (void *)buf;

	if (len > sizeof(buf) - sizeof(*out))
		return -1;
	out->len = sizeof(*out) + len;
	out->error = error;
	out->unique = unique;
	memcpy(buf + sizeof(*out), arg, len);
	return write(fd, buf, out->len) == out->len ? 0 : -1;
}

static void *serve(void *arg)
{
	static char buf[FUSE_MIN_READ_BUFFER + 65536];
	struct hang *h = arg;

	for (;;) {
		struct fuse_in_header *in = (void *)buf;
		ssize_t n = read(h->fd, buf, sizeof(buf));

		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in))
			break;	/* ENODEV: unmounted */
		switch (in->opcode) {
		case FUSE_INIT: {
			const struct fuse_init_in *ii = (void *)(in + 1);
			struct fuse_init_out io = { 0 };

			io.major = FUSE_KERNEL_VERSION;
			io.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
				   ii->minor : FUSE_KERNEL_MINOR_VERSION;
			io.max_readahead = ii->max_readahead;
			io.max_write = 4096;
			io.max_background = 4;
			io.congestion_threshold = 3;
			reply(h->fd, in->unique, 0, &io, sizeof(io));
			break;
		}
		case FUSE_LOOKUP:
			/* Held until the test lets go: a hung server. */
			pthread_mutex_lock(&h->lock);
			h->lookups++;
			h->lookup_seen = true;
			pthread_cond_broadcast(&h->cond);
			while (!h->release)
				pthread_cond_wait(&h->cond, &h->lock);
			pthread_mutex_unlock(&h->lock);
			reply(h->fd, in->unique, -ENOENT, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break;	/* no reply */
		default:
			reply(h->fd, in->unique, -ENOSYS, NULL, 0);
			break;
		}
	}
	return NULL;
}

FIXTURE_SETUP(hang)
{
	char opts[128];

	self->h.fd = -1;
	ASSERT_EQ(0, iotsec_test_load(NULL));
	ASSERT_EQ(0, iev_open(&self->c));
	system("modprobe fuse 2>/dev/null");
	mkdir(MNT, 0755);
	self->h.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (self->h.fd < 0)
		SKIP(return, "no /dev/fuse (CONFIG_FUSE_FS)");
	pthread_mutex_init(&self->h.lock, NULL);
	pthread_cond_init(&self->h.cond, NULL);
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0", self->h.fd);
	ASSERT_EQ(0, mount("iotsec-hang", MNT, "fuse",
			   MS_NOSUID | MS_NODEV, opts));
	self->mounted = true;
	ASSERT_EQ(0, pthread_create(&self->h.thread, NULL, serve, &self->h));
}

FIXTURE_TEARDOWN(hang)
{
	if (self->mounted) {
		pthread_mutex_lock(&self->h.lock);
		self->h.release = true;
		pthread_cond_broadcast(&self->h.cond);
		pthread_mutex_unlock(&self->h.lock);
		umount2(MNT, MNT_DETACH);
		pthread_join(self->h.thread, NULL);
	}
	if (self->h.fd >= 0)
		close(self->h.fd);
	rmdir(MNT);
	iev_close(&self->c);
	if (iotsec_test_loaded())
		iotsec_test_unload();
}

/* Wait up to MS for child PID; its exit status, or -1 if still running. */
static int wait_ms(pid_t pid, int ms)
{
	long end = mono_ms() + ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		if (r < 0 || mono_ms() >= end)
			return -1;
		usleep(10000);
	}
}

/* A child: SET_CONFIG watching HUNG_PATH; exits with the errno it got. */
static pid_t set_config_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		const char *paths[] = { HUNG_PATH };
		struct iev_client c = { 0 };
		int ret;

		c.ctl = iotsec_test_sock();
		if (!c.ctl)
			_exit(100);
		c.family = iotsec_test_family(c.ctl);
		if (c.family <= 0)
			_exit(101);
		ret = iev_config(&c, -1, -1, NULL, -1, paths, 1);
		_exit(ret == -ENOENT ? 2 : ret ? 3 : 0);
	}
	return pid;
}

/* A child: nlctrl's GETFAMILY for "nlctrl" itself; 0 when answered. */
static pid_t nlctrl_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct nl_sock *sk = iotsec_test_sock();

		_exit(sk && genl_ctrl_resolve(sk, "nlctrl") == GENL_ID_CTRL ?
		      0 : 1);
	}
	return pid;
}

/* A child: the module's GET_CONFIG and GET_STATS; 0 when both answered. */
static pid_t iotsec_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct nl_sock *sk = iotsec_test_sock();
		int fam = sk ? iotsec_test_family(sk) : -1;

		if (fam <= 0)
			_exit(1);
		if (iotsec_test_cmd(sk, fam, IOTSEC_CMD_GET_CONFIG))
			_exit(2);
		_exit(iotsec_test_cmd(sk, fam, IOTSEC_CMD_GET_STATS) ? 3 : 0);
	}
	return pid;
}

/* The watched paths of the configuration in force, counted. */
static int watched_paths(struct iev_client *c)
{
	struct nl_msg *msg = iev_msg(c, IOTSEC_CMD_GET_CONFIG);
	struct nlattr *tb[IOTSEC_A_MAX + 1], *a;
	struct nlmsghdr *nlh;
	unsigned char *buf = NULL;
	struct sockaddr_nl peer;
	int n, rem, count = -1;

	if (!msg || nl_send_auto(c->ctl, msg) < 0)
		return -1;
	nlmsg_free(msg);
	n = nl_recv(c->ctl, &peer, &buf, NULL);
	if (n <= 0)
		return -1;
	nlh = (struct nlmsghdr *)buf;
	if (nlmsg_ok(nlh, n) && nlh->nlmsg_type == c->family &&
	    !genlmsg_parse(nlh, 0, tb, IOTSEC_A_MAX, NULL)) {
		count = 0;
		if (tb[IOTSEC_A_WATCH])
			nla_for_each_nested(a, tb[IOTSEC_A_WATCH], rem)
				count++;
	}
	free(buf);
	/* the ack */
	nl_wait_for_ack(c->ctl);
	return count;
}

static bool lookup_held(struct hang *h, int ms)
{
	struct timespec ts;
	bool seen;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	pthread_mutex_lock(&h->lock);
	while (!h->lookup_seen)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &ts))
			break;
	seen = h->lookup_seen;
	pthread_mutex_unlock(&h->lock);
	return seen;
}

TEST_F_TIMEOUT(hang, hung_watch_path_stalls_no_other_family, 180)
{
	int st_set, st_ctrl, st_iotsec;
	pid_t set, ctrl, iot, ex;
	long t0, ms_ctrl, ms_iotsec;
	const struct iev *e;

	set = set_config_child();
	ASSERT_LT(0, set);
	/* The SET_CONFIG is in its lookup, and stays there. */
	ASSERT_TRUE(lookup_held(&self->h, WAIT_MS));
	ASSERT_EQ(-1, wait_ms(set, 200));

	t0 = mono_ms();
	ctrl = nlctrl_child();
	ASSERT_LT(0, ctrl);
	st_ctrl = wait_ms(ctrl, BOUND_MS);
	ms_ctrl = mono_ms() - t0;

	t0 = mono_ms();
	iot = iotsec_child();
	ASSERT_LT(0, iot);
	st_iotsec = wait_ms(iot, BOUND_MS);
	ms_iotsec = mono_ms() - t0;

	/* Events still flow to the consumer: an exec. */
	ex = fork();
	ASSERT_LE(0, ex);
	if (ex == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	waitpid(ex, NULL, 0);
	e = iev_wait_for(&self->c, IOTSEC_EVENT_EXEC, ex, BOUND_MS);

	/* Let go: the lookup fails, and so does the SET_CONFIG, cleanly. */
	pthread_mutex_lock(&self->h.lock);
	self->h.release = true;
	pthread_cond_broadcast(&self->h.cond);
	pthread_mutex_unlock(&self->h.lock);
	st_set = wait_ms(set, WAIT_MS);
	/* whatever was stuck behind it finishes now */
	if (st_ctrl < 0)
		TH_LOG("nlctrl GETFAMILY still waiting after %ld ms: status %d after the release",
		       ms_ctrl, wait_ms(ctrl, WAIT_MS));
	else
		TH_LOG("nlctrl GETFAMILY answered in %ld ms", ms_ctrl);
	if (st_iotsec < 0)
		TH_LOG("iotsec GET_CONFIG/GET_STATS still waiting after %ld ms: status %d after the release",
		       ms_iotsec, wait_ms(iot, WAIT_MS));
	else
		TH_LOG("iotsec GET_CONFIG/GET_STATS answered in %ld ms",
		       ms_iotsec);

	EXPECT_EQ(0, st_ctrl);
	EXPECT_EQ(0, st_iotsec);
	EXPECT_NE(NULL, e);
	/* 2: ENOENT, the lookup's answer */
	EXPECT_EQ(2, st_set);
	EXPECT_EQ(1, self->h.lookups);
	EXPECT_EQ(0, watched_paths(&self->c));

	/* The mount goes, the module unloads. */
	ASSERT_EQ(0, umount2(MNT, MNT_DETACH));
	self->mounted = false;
	pthread_join(self->h.thread, NULL);
	iev_close(&self->c);
	EXPECT_EQ(0, iotsec_test_unload());
	EXPECT_FALSE(iotsec_test_loaded());
}

TEST_HARNESS_MAIN
