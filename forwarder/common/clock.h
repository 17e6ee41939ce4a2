/* SPDX-License-Identifier: MIT */
/*
 * Clocks, in one place. MONOTONIC for intervals and deadlines of the
 * loop; BOOTTIME where time asleep must count too (token lifetimes, the
 * kernel's event stamps); REALTIME only for what a person reads.
 * Header-only: libiotsec uses it without linking the forwarder.
 */
#ifndef IOTSEC_COMMON_CLOCK_H
#define IOTSEC_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_ms(clockid_t id)
{
	return clock_ns(id) / 1000000;
}

static inline int64_t mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static inline int64_t boot_ms(void)
{
	return clock_ms(CLOCK_BOOTTIME);
}

static inline int64_t boot_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

#endif
