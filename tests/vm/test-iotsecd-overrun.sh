#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A receive-buffer overrun (ENOBUFS) is counted and reported, not fatal:
# iotsecd with a 4 KiB netlink buffer is stopped (SIGSTOP) while the test
# execs, so the kernel cannot queue its batches; after SIGCONT the daemon
# goes on, says so in its log, counts the overrun, reports the kernel's
# lost events in DroppedEventsStatistics, and later events still arrive.
set -eu
. "$(dirname "$0")/../lib/vm.sh"
mark=iotsec-overrun-$$
log=$TMP/d.log stats=$TMP/d.stats

echo "TAP version 13"

insmod "$KO"
cat >"$TMP/cfg.yaml" <<EOC
priorities:
  high: 1s
kernel:
  receive_buffer: 4KiB
messages:
  statistics: 1h
EOC
iotsecd_start d "$TMP/cfg.yaml" --output "$TMP/out.jsonl"
daemon=$(dpid d)
wait_for 20 grep -q 'subscribed to the kernel collector' "$log" ||
	{ not_ok "iotsecd did not subscribe: $(cat "$log")"; done_testing; exit 1; }

kill -STOP "$daemon"
for i in $(seq 60); do /bin/true "$mark-lost-$i"; done
kill -CONT "$daemon"
wait_for 20 grep -q '"enobufs":[1-9]' "$stats" &&
	ok "overrun counted: $(grep -o '"enobufs":[0-9]*' "$stats")" ||
	not_ok "no overrun counted: $(cat "$stats")"
wait_for 20 grep -q 'netlink receive buffer overrun' "$log" &&
	ok "overrun reported: $(grep -m1 'overrun' "$log")" ||
	not_ok "not reported: $(cat "$log")"
kill -0 "$daemon" && ok "iotsecd still running" || not_ok "iotsecd died"

/bin/true "$mark-after"
wait_for 20 grep -q "true $mark-after" "$TMP/out.jsonl" &&
	ok "events after the overrun arrive" || not_ok "no event after the overrun"
iotsecd_stop d
lost=$(grep -o '"KernelLost":"[0-9]*"' "$TMP/out.jsonl" | tail -n 1)
[[ "$lost" =~ \"KernelLost\":\"[1-9] ]] &&
	ok "DroppedEventsStatistics reports the kernel's lost events ($lost)" ||
	not_ok "KernelLost not reported: $lost"
rmmod iotsec
done_testing
