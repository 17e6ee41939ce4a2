/* SPDX-License-Identifier: MIT */
/*
 * What the test tools share: the flag their SIGTERM/SIGINT handler sets
 * (they finish the loop they are in and report), and the monotonic clock
 * in seconds for their loops, deadlines and rates.
 */
#ifndef IOTSEC_TESTS_TOOL_H
#define IOTSEC_TESTS_TOOL_H

#include <signal.h>

#include "common/clock.h"

static volatile sig_atomic_t stop;

static inline void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static inline double now(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1e9;
}

#endif
