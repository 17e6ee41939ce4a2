// SPDX-License-Identifier: MIT
/*
 * Tamper evidence and locked mode. A child subscribes and stands for
 * iotsecd (the guarded consumer); the test, subscribed too, acts on it
 * and on the module and finds exactly one tamper event per action, with
 * the acting process, then checks the accounting of the batches.
 *
 *   test (subscribed) --kill/ptrace/SET_CONFIG/rmmod--> kernel
 *        |                                                |
 *        +-- child (subscribed: "iotsecd") <--acted on----+
 *   test <--batches: TAMPER events-- kernel
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/iotsec-test.h"
#include "lib/iotsec-events.h"

#pragma GCC diagnostic ignored "-Wsign-compare"

#define WAIT_MS 5000
/* After the awaited event: how long more to see that no second one came. */
#define QUIET_MS 500
#define TOKEN "s3cret-token"

/* A tamper event as the batches carry it. */
struct tev {
	uint32_t kind, tgid, target_tgid, signal, ptrace_mode;
	uint32_t old_mask, new_mask, unwatched, excluded;
	int32_t result;
	bool has_result;
	char comm[IOTSEC_COMM_LEN], module[64];
};

struct tlog {
	struct tev ev[256];
	size_t n;
};

static void tparse(struct iev_client *c, struct tlog *l, void *buf, int len)
{
	struct nlattr *tb[IOTSEC_A_MAX + 1], *ea[IOTSEC_EA_MAX + 1], *ev;
	struct nlmsghdr *nlh = buf;
	struct tev *t;
	int rem;

	for (; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type != c->family ||
		    genlmsg_parse(nlh, 0, tb, IOTSEC_A_MAX, NULL) ||
		    !tb[IOTSEC_A_EVENTS])
			continue;
		nla_for_each_nested(ev, tb[IOTSEC_A_EVENTS], rem) {
			if (nla_type(ev) != IOTSEC_EVENT_TAMPER ||
			    l->n == sizeof(l->ev) / sizeof(l->ev[0]))
				continue;
			t = &l->ev[l->n++];
			memset(t, 0, sizeof(*t));
			nla_parse_nested(ea, IOTSEC_EA_MAX, ev, NULL);
			t->kind = IEV_U32(ea, IOTSEC_EA_TAMPER_KIND);
			t->tgid = IEV_U32(ea, IOTSEC_EA_TGID);
			t->target_tgid = IEV_U32(ea, IOTSEC_EA_TARGET_TGID);
			t->signal = IEV_U32(ea, IOTSEC_EA_SIGNAL);
			t->ptrace_mode = IEV_U32(ea, IOTSEC_EA_PTRACE_MODE);
			t->old_mask = IEV_U32(ea, IOTSEC_EA_OLD_MASK);
			t->new_mask = IEV_U32(ea, IOTSEC_EA_NEW_MASK);
			t->unwatched = IEV_U32(ea, IOTSEC_EA_UNWATCHED);
			t->excluded = IEV_U32(ea, IOTSEC_EA_EXCLUDED);
			t->has_result = ea[IOTSEC_EA_RESULT];
			t->result = (int32_t)IEV_U32(ea, IOTSEC_EA_RESULT);
			iev_str(t->comm, sizeof(t->comm), ea[IOTSEC_EA_COMM]);
			iev_str(t->module, sizeof(t->module),
				ea[IOTSEC_EA_MODULE_NAME]);
		}
	}
}

/* Receive for MS milliseconds: the generic decoder and ours. */
static void tpoll(struct iev_client *c, struct tlog *l, int ms)
{
	static unsigned char buf[1 << 16];
	long end = mono_ms() + ms, left;
	struct sockaddr_nl peer;
	struct pollfd pfd = { .fd = nl_socket_get_fd(c->ev), .events = POLLIN };
	socklen_t plen;
	int n;

	while ((left = end - mono_ms()) > 0) {
		if (poll(&pfd, 1, left) <= 0)
			continue;
		plen = sizeof(peer);
		n = recvfrom(pfd.fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&peer, &plen);
		if (n <= 0 || peer.nl_pid != 0)
			continue;
		iev_parse(c, buf, n);
		tparse(c, l, buf, n);
	}
}

static size_t tcount(const struct tlog *l, uint32_t kind)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += l->ev[i].kind == kind;
	return n;
}

/* The first tamper event of KIND, waiting up to WAIT_MS, then QUIET_MS. */
static const struct tev *twait(struct iev_client *c, struct tlog *l,
			       uint32_t kind)
{
	long end = mono_ms() + WAIT_MS;
	size_t i;

	while (!tcount(l, kind) && mono_ms() < end)
		tpoll(c, l, 50);
	tpoll(c, l, QUIET_MS);
	for (i = 0; i < l->n; i++)
		if (l->ev[i].kind == kind)
			return &l->ev[i];
	return NULL;
}

/*
 * Once the kernel flushed everything: GENERATED = DROPPED + BEFORE +
 * DELIVERED + LOST for every type, and what this consumer counted as
 * delivered of tamper events is what it received.
 */
static bool accounting_holds(struct iev_client *c, struct tlog *l)
{
	const struct iev_counters *k = &c->cnt;
	long end = mono_ms() + WAIT_MS;
	bool ok;
	int t;

	for (;;) {
		ok = true;
		for (t = 1; t < IEV_NTYPES; t++)
			ok &= k->generated[t] == k->dropped[t] + k->before[t] +
			      k->delivered[t] + k->lost[t];
		ok &= k->delivered[IOTSEC_EVENT_TAMPER] ==
		      c->received[IOTSEC_EVENT_TAMPER];
		ok &= c->received[IOTSEC_EVENT_TAMPER] == l->n;
		if (ok || mono_ms() >= end)
			return ok;
		tpoll(c, l, 100);
	}
}

/* A child that subscribes (the stand-in for iotsecd) and waits. */
struct guarded {
	pid_t pid;
	int ready[2];	/* the child writes one byte once subscribed */
};

static void on_usr1(int sig)
{
	(void)sig;
}

/* UNSUB: unsubscribe and exit at once, as an orderly consumer. */
static int guarded_start(struct guarded *g, bool unsub)
{
	struct iev_client c;
	char b = 1;

	if (pipe(g->ready))
		return -1;
	g->pid = fork();
	if (g->pid < 0)
		return -1;
	if (!g->pid) {
		sigset_t hup;

		signal(SIGUSR1, on_usr1);
		/* as iotsecd: SIGHUP (reload) taken through a signalfd */
		sigemptyset(&hup);
		sigaddset(&hup, SIGHUP);
		sigprocmask(SIG_BLOCK, &hup, NULL);
		if (iev_open(&c))
			_exit(1);
		if (unsub) {
			if (iev_send(c.ev, iev_msg(&c, IOTSEC_CMD_UNSUBSCRIBE)))
				_exit(2);
			_exit(0);
		}
		if (write(g->ready[1], &b, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(g->ready[1]);
	if (unsub)
		return 0;
	return read(g->ready[0], &b, 1) == 1 ? 0 : -1;
}

static int reap(pid_t pid)
{
	int status = -1;

	waitpid(pid, &status, 0);
	return status;
}

/* SET_CONFIG with a mask (or none: MASK < 0), a token, unlock. */
static int config_token(struct iev_client *c, long mask, const char *token,
			bool unlock)
{
	struct nl_msg *msg = iev_msg(c, IOTSEC_CMD_SET_CONFIG);

	if (!msg)
		return -ENOMEM;
	if (mask >= 0)
		nla_put_u32(msg, IOTSEC_A_EVENT_MASK, mask);
	if (token)
		nla_put_string(msg, IOTSEC_A_TOKEN, token);
	if (unlock)
		nla_put_flag(msg, IOTSEC_A_UNLOCK);
	return iev_send(c->ctl, msg);
}

FIXTURE(tamper) {
	struct iev_client c;
	struct tlog log;
};

FIXTURE_SETUP(tamper)
{
	memset(&self->log, 0, sizeof(self->log));
}

FIXTURE_TEARDOWN(tamper)
{
	iev_close(&self->c);
	if (iotsec_test_loaded()) {
		/* a locked module first: unlock it, or rmmod cannot */
		if (!iev_open(&self->c))
			config_token(&self->c, -1, TOKEN, true);
		iev_close(&self->c);
		iotsec_test_unload();
	}
}

static int start(struct iev_client *c, const char *params)
{
	if (iotsec_test_load(params))
		return -1;
	return iev_open(c);
}

TEST_F_TIMEOUT(tamper, unload_is_queued_before_the_module_goes, 90)
{
	const struct tev *t;

	ASSERT_EQ(0, start(&self->c, NULL));
	/* an ordinary user's delete_module fails: no unload, no event */
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		/* on the stack: a page the probe can read without faulting */
		char name[] = "iotsec";

		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(syscall(SYS_delete_module, name, O_NONBLOCK) == -1 &&
		      errno == EPERM ? 0 : 1);
	}
	ASSERT_EQ(0, reap(pid));
	ASSERT_EQ(0, system("rmmod iotsec"));
	ASSERT_FALSE(iotsec_test_loaded());
	/* The module is gone; its last batch waits in our socket. */
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_UNLOAD);
	ASSERT_NE(NULL, t);
	EXPECT_STREQ("iotsec", t->module);
	EXPECT_STREQ("rmmod", t->comm);
	EXPECT_NE(getpid(), t->tgid);
	EXPECT_EQ(1, tcount(&self->log, IOTSEC_TAMPER_UNLOAD));
	EXPECT_EQ(1, self->log.n);
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

TEST_F_TIMEOUT(tamper, stop_and_kill_of_the_consumer_carry_the_sender, 90)
{
	struct guarded g;
	const struct tev *t;

	ASSERT_EQ(0, start(&self->c, NULL));
	ASSERT_EQ(0, guarded_start(&g, false));

	/*
	 * Handled and harmless: not reported. SIGHUP is left to its default
	 * action (the end of the process) but blocked, as iotsecd blocks it
	 * for its signalfd: a reload, no move against it.
	 */
	ASSERT_EQ(0, kill(g.pid, SIGUSR1));
	ASSERT_EQ(0, kill(g.pid, SIGHUP));
	ASSERT_EQ(0, kill(g.pid, SIGSTOP));
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_SIGNAL);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(SIGSTOP, t->signal);
	EXPECT_EQ(g.pid, t->target_tgid);
	EXPECT_EQ(getpid(), t->tgid);
	EXPECT_EQ(1, self->log.n);

	ASSERT_EQ(0, kill(g.pid, SIGCONT));
	ASSERT_EQ(0, kill(g.pid, SIGKILL));
	reap(g.pid);
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_GONE);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(g.pid, t->target_tgid);
	ASSERT_EQ(2, tcount(&self->log, IOTSEC_TAMPER_SIGNAL));
	t = &self->log.ev[1];
	EXPECT_EQ(IOTSEC_TAMPER_SIGNAL, t->kind);
	EXPECT_EQ(SIGKILL, t->signal);
	EXPECT_EQ(g.pid, t->target_tgid);
	EXPECT_EQ(getpid(), t->tgid);
	EXPECT_EQ(1, tcount(&self->log, IOTSEC_TAMPER_GONE));
	EXPECT_EQ(3, self->log.n);
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

TEST_F_TIMEOUT(tamper, ptrace_of_the_consumer, 90)
{
	struct guarded g;
	const struct tev *t;
	int status;

	ASSERT_EQ(0, start(&self->c, NULL));
	ASSERT_EQ(0, guarded_start(&g, false));
	ASSERT_EQ(0, ptrace(PTRACE_ATTACH, g.pid, 0, 0));
	ASSERT_EQ(g.pid, waitpid(g.pid, &status, 0));
	ASSERT_EQ(0, ptrace(PTRACE_DETACH, g.pid, 0, 0));
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_PTRACE);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(g.pid, t->target_tgid);
	EXPECT_EQ(IOTSEC_PTRACE_ATTACH, t->ptrace_mode);
	EXPECT_EQ(getpid(), t->tgid);
	/* the attach's own SIGSTOP is not a second event */
	EXPECT_EQ(1, tcount(&self->log, IOTSEC_TAMPER_PTRACE));
	EXPECT_EQ(1, self->log.n);
	kill(g.pid, SIGKILL);
	reap(g.pid);
	EXPECT_NE(NULL, twait(&self->c, &self->log, IOTSEC_TAMPER_GONE));
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

TEST_F_TIMEOUT(tamper, config_cuts_carry_who_and_what, 90)
{
	const char *watch[] = { "/tmp", "/etc" };
	uint32_t self_ex = getpid(), other_ex = 1;
	const struct tev *t;
	uint32_t all = IOTSEC_EVENT_MASK_ALL;
	uint32_t less = all & ~IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC);

	ASSERT_EQ(0, start(&self->c, NULL));
	/* More coverage, or the same: nothing to report. */
	ASSERT_EQ(0, iev_config(&self->c, all, -1, &self_ex, 1, watch, 2));
	ASSERT_EQ(0, iev_config(&self->c, all, 2048, NULL, -1, watch, 2));
	tpoll(&self->c, &self->log, QUIET_MS);
	EXPECT_EQ(0, self->log.n);

	ASSERT_EQ(0, iev_config(&self->c, less, -1, NULL, -1, NULL, -1));
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_CONFIG);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(all, t->old_mask);
	EXPECT_EQ(less, t->new_mask);
	EXPECT_EQ(0, t->unwatched);
	EXPECT_EQ(0, t->excluded);
	EXPECT_TRUE(t->has_result);
	EXPECT_EQ(0, t->result);
	EXPECT_EQ(getpid(), t->tgid);

	ASSERT_EQ(0, iev_config(&self->c, -1, -1, NULL, -1, watch, 1));
	ASSERT_EQ(0, iev_config(&self->c, -1, -1, &other_ex, 1, NULL, -1));
	tpoll(&self->c, &self->log, 1000);
	ASSERT_EQ(3, tcount(&self->log, IOTSEC_TAMPER_CONFIG));
	EXPECT_EQ(less, self->log.ev[1].old_mask);
	EXPECT_EQ(less, self->log.ev[1].new_mask);
	EXPECT_EQ(1, self->log.ev[1].unwatched);
	EXPECT_EQ(0, self->log.ev[1].excluded);
	EXPECT_EQ(0, self->log.ev[2].unwatched);
	EXPECT_EQ(1, self->log.ev[2].excluded);
	EXPECT_EQ(3, self->log.n);
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

/*
 * A process that is no consumer excluding itself: its tgid outlives an
 * execve, so it could then run anything unseen; a reduction. So is a
 * lower ARGV_MAX (the arguments of every exec cut shorter).
 */
TEST_F_TIMEOUT(tamper, self_exclusion_and_shorter_argv_are_cuts, 90)
{
	const struct tev *t;
	uint32_t me;
	pid_t pid;

	ASSERT_EQ(0, start(&self->c, NULL));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		me = getpid();
		_exit(iev_config(&self->c, -1, -1, &me, 1, NULL, -1) ? 1 : 0);
	}
	ASSERT_EQ(0, reap(pid));
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_CONFIG);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(1, t->excluded);
	EXPECT_EQ(pid, t->tgid);

	ASSERT_EQ(0, iev_config(&self->c, -1, 256, NULL, -1, NULL, -1));
	tpoll(&self->c, &self->log, 1000);
	ASSERT_EQ(2, tcount(&self->log, IOTSEC_TAMPER_CONFIG));
	EXPECT_EQ(0, self->log.ev[1].excluded);
	EXPECT_EQ(0, self->log.ev[1].unwatched);
	EXPECT_EQ(getpid(), self->log.ev[1].tgid);
	EXPECT_EQ(2, self->log.n);
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

TEST_F_TIMEOUT(tamper, consumer_gone_without_unsubscribe, 90)
{
	struct guarded g, orderly;
	const struct tev *t;

	ASSERT_EQ(0, start(&self->c, NULL));
	/* subscribes, unsubscribes, exits: nothing to report */
	ASSERT_EQ(0, guarded_start(&orderly, true));
	EXPECT_EQ(0, reap(orderly.pid));
	tpoll(&self->c, &self->log, QUIET_MS);
	EXPECT_EQ(0, self->log.n);

	/* its socket closes with it still subscribed */
	ASSERT_EQ(0, guarded_start(&g, false));
	ASSERT_EQ(0, kill(g.pid, SIGUSR1));
	close(g.ready[0]);
	ASSERT_EQ(0, kill(g.pid, SIGKILL));
	reap(g.pid);
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_GONE);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(g.pid, t->target_tgid);
	EXPECT_EQ(g.pid, t->tgid);
	EXPECT_EQ(1, tcount(&self->log, IOTSEC_TAMPER_GONE));
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

TEST_F_TIMEOUT(tamper, locked_refuses_unload_and_cuts_without_the_token, 120)
{
	uint32_t all = IOTSEC_EVENT_MASK_ALL;
	uint32_t less = all & ~IOTSEC_EVENT_BIT(IOTSEC_EVENT_EXEC);
	struct guarded g;
	const struct tev *t;

	ASSERT_EQ(0, start(&self->c, "lock_token=" TOKEN));
	ASSERT_EQ(0, iev_config(&self->c, all, -1, NULL, -1, NULL, -1));

	/*
	 * rmmod refuses (it sees the reference and does not even ask);
	 * delete_module(2) itself is refused by the kernel, and reported.
	 */
	EXPECT_NE(0, system("rmmod iotsec 2>/dev/null"));
	ASSERT_TRUE(iotsec_test_loaded());
	EXPECT_EQ(-1, syscall(SYS_delete_module, "iotsec", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	ASSERT_TRUE(iotsec_test_loaded());
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_UNLOAD);
	ASSERT_NE(NULL, t);
	EXPECT_STREQ("iotsec", t->module);

	/* a cut without the token, or with a wrong one: refused */
	EXPECT_EQ(-EPERM, iev_config(&self->c, less, -1, NULL, -1, NULL, -1));
	EXPECT_EQ(-EPERM, config_token(&self->c, less, "s3cret-tokeN", false));
	EXPECT_EQ(-EPERM, config_token(&self->c, less, "s3cret", false));
	/* more coverage needs no token */
	EXPECT_EQ(0, iev_config(&self->c, all, 2048, NULL, -1, NULL, -1));
	tpoll(&self->c, &self->log, QUIET_MS);
	ASSERT_EQ(3, tcount(&self->log, IOTSEC_TAMPER_CONFIG));
	EXPECT_EQ(-EPERM, self->log.ev[1].result);
	EXPECT_EQ(-EPERM, self->log.ev[3].result);

	/* a kill of the consumer is still reported */
	ASSERT_EQ(0, guarded_start(&g, false));
	ASSERT_EQ(0, kill(g.pid, SIGKILL));
	reap(g.pid);
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_SIGNAL);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(g.pid, t->target_tgid);
	EXPECT_EQ(SIGKILL, t->signal);

	/* with the token: the cut is taken */
	EXPECT_EQ(0, config_token(&self->c, less, TOKEN, false));
	/* unlock without the token refused, with it taken; then rmmod */
	EXPECT_EQ(-EPERM, config_token(&self->c, -1, "nope", true));
	ASSERT_TRUE(iotsec_test_loaded());
	EXPECT_NE(0, system("rmmod iotsec 2>/dev/null"));
	EXPECT_EQ(0, config_token(&self->c, -1, TOKEN, true));
	t = twait(&self->c, &self->log, IOTSEC_TAMPER_UNLOCK);
	ASSERT_NE(NULL, t);
	EXPECT_EQ(2, tcount(&self->log, IOTSEC_TAMPER_UNLOCK));
	EXPECT_EQ(4, tcount(&self->log, IOTSEC_TAMPER_CONFIG));
	ASSERT_EQ(0, system("rmmod iotsec"));
	EXPECT_FALSE(iotsec_test_loaded());
	tpoll(&self->c, &self->log, QUIET_MS);
	/* the refused delete_module(2), the unload that went */
	EXPECT_EQ(2, tcount(&self->log, IOTSEC_TAMPER_UNLOAD));
	EXPECT_TRUE(accounting_holds(&self->c, &self->log));
}

TEST_F_TIMEOUT(tamper, token_too_long_refuses_the_load, 60)
{
	char params[128];

	snprintf(params, sizeof(params), "lock_token=%064d", 7);
	EXPECT_NE(0, iotsec_test_load(params));
	EXPECT_FALSE(iotsec_test_loaded());
}

TEST_HARNESS_MAIN
