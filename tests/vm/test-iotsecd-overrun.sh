#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A receive-buffer overrun (ENOBUFS) is counted and reported, not fatal:
# iotsecd with a 4 KiB netlink buffer is stopped (SIGSTOP) while the test
# execs, so the kernel cannot queue its batches; after SIGCONT the daemon
# goes on, says so in its log, counts the overrun, reports the kernel's
# lost events in DroppedEventsStatistics, and later events still arrive.
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
ko=${IOTSEC_KO:-$top/kmod/iotsec.ko}
tmp=$(mktemp -d /tmp/iotsecd-overrun.XXXXXX)
mark=iotsec-overrun-$$
daemon=
cleanup() {
	set +e
	[ -n "$daemon" ] && kill -CONT "$daemon" && kill "$daemon" && wait "$daemon"
	grep -q '^iotsec ' /proc/modules && rmmod iotsec
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "TAP version 13"
echo "1..5"
n=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); echo "not ok $n $*"; }
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do
		eval "$1" && return 0
		sleep 0.2
	done
	return 1
}

insmod "$ko"
cat >"$tmp/cfg.yaml" <<EOC
priorities:
  high: 1s
kernel:
  receive_buffer: 4KiB
messages:
  statistics: 1h
EOC
"$build/iotsecd" -f -c "$tmp/cfg.yaml" --output "$tmp/out.jsonl" \
	--stats-file "$tmp/stats.json" 2>"$tmp/log" &
daemon=$!
wait_for 20 "grep -q 'subscribed to the kernel collector' $tmp/log" ||
	{ notok "iotsecd did not subscribe: $(cat "$tmp/log")"; exit 1; }

kill -STOP "$daemon"
for i in $(seq 60); do /bin/true "$mark-lost-$i"; done
kill -CONT "$daemon"
wait_for 20 "grep -q '\"enobufs\":[1-9]' $tmp/stats.json" &&
	ok "overrun counted: $(grep -o '"enobufs":[0-9]*' "$tmp/stats.json")" ||
	notok "no overrun counted: $(cat "$tmp/stats.json")"
wait_for 20 "grep -q 'netlink receive buffer overrun' $tmp/log" &&
	ok "overrun reported: $(grep -m1 'overrun' "$tmp/log")" ||
	notok "not reported: $(cat "$tmp/log")"
kill -0 "$daemon" && ok "iotsecd still running" || notok "iotsecd died"

/bin/true "$mark-after"
wait_for 20 "grep -q 'true $mark-after' $tmp/out.jsonl" &&
	ok "events after the overrun arrive" || notok "no event after the overrun"
kill "$daemon"
wait "$daemon" || true
daemon=
lost=$(grep -o '"KernelLost":"[0-9]*"' "$tmp/out.jsonl" | tail -n 1)
[[ "$lost" =~ \"KernelLost\":\"[1-9] ]] &&
	ok "DroppedEventsStatistics reports the kernel's lost events ($lost)" ||
	notok "KernelLost not reported: $lost"
rmmod iotsec
