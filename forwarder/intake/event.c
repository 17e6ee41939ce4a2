// SPDX-License-Identifier: MIT
/*
 * Event type names, as the configuration and the CLI spell them.
 */
#include <string.h>
#include "intake/event.h"

static const char *const event_names[] = {
	[IOTSEC_EVENT_EXEC] = "exec", [IOTSEC_EVENT_EXIT] = "exit",
	[IOTSEC_EVENT_FORK] = "fork", [IOTSEC_EVENT_CONNECT] = "connect",
	[IOTSEC_EVENT_ACCEPT] = "accept", [IOTSEC_EVENT_LISTEN] = "listen",
	[IOTSEC_EVENT_CRED] = "cred", [IOTSEC_EVENT_MODULE] = "module",
	[IOTSEC_EVENT_PTRACE] = "ptrace", [IOTSEC_EVENT_FILE] = "file",
};

const char *iotsec_event_name(uint32_t type)
{
	if (type > IOTSEC_EVENT_MAX || !event_names[type])
		return "unknown";
	return event_names[type];
}

uint32_t iotsec_event_type_from_name(const char *name)
{
	for (uint32_t t = 1; t <= IOTSEC_EVENT_MAX; t++)
		if (event_names[t] && !strcmp(event_names[t], name))
			return t;
	return 0;
}
