// SPDX-License-Identifier: MIT
/*
 * iotsecd's log: stderr in the foreground and for --replay, syslog when
 * daemonized.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "daemon/daemon.h"

static int log_level = LOG_INFO;
static bool log_stderr = true;

void log_init(bool to_stderr)
{
	log_stderr = to_stderr;
	if (!log_stderr)
		openlog("iotsecd", LOG_PID, LOG_DAEMON);
}

void log_set_level(int level)
{
	log_level = level;
}

void logmsg(int level, const char *fmt, ...)
{
	static const char *const names[] = { "emerg", "alert", "crit", "error",
		"warning", "notice", "info", "debug" };
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_stderr) {
		fprintf(stderr, "iotsecd: %s: ", names[level & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
}
