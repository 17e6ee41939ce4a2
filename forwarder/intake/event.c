// SPDX-License-Identifier: MIT
/*
 * Event type names, as the configuration and the CLI spell them, and the
 * arithmetic of the kernel's counters.
 */
#include <string.h>
#include "intake/event.h"

static const char *const event_names[] = {
	[IOTSEC_EVENT_EXEC] = "exec", [IOTSEC_EVENT_EXIT] = "exit",
	[IOTSEC_EVENT_FORK] = "fork", [IOTSEC_EVENT_CONNECT] = "connect",
	[IOTSEC_EVENT_ACCEPT] = "accept", [IOTSEC_EVENT_LISTEN] = "listen",
	[IOTSEC_EVENT_CRED] = "cred", [IOTSEC_EVENT_MODULE] = "module",
	[IOTSEC_EVENT_PTRACE] = "ptrace", [IOTSEC_EVENT_FILE] = "file",
	[IOTSEC_EVENT_TAMPER] = "tamper",
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

int64_t iotsec_counters_in_flight(const struct iotsec_type_counters *c)
{
	return (int64_t)(c->generated - c->dropped - c->before -
			 c->delivered - c->lost);
}

void iotsec_counters_total(const struct iotsec_counters *c,
			   struct iotsec_type_counters *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int t = 1; t <= IOTSEC_EVENT_MAX; t++) {
		sum->generated += c->t[t].generated;
		sum->dropped += c->t[t].dropped;
		sum->before += c->t[t].before;
		sum->delivered += c->t[t].delivered;
		sum->lost += c->t[t].lost;
	}
}
