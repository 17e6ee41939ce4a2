#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The intake is never blocked by a slow call of the loop: an NSS lookup
# that waits on a directory server (LDAP, SSSD), an fdatasync() of the
# spool that waits on a congested disk. tests/tools/slowcall.so
# (LD_PRELOAD) makes each of those calls sleep 5 s before it runs; events
# fed at 2,560/s into a 1 MiB pipe (the receive buffer: about 2 s of the
# feed, tests/lib/replay-feed.py) must all go in, none overrun.
#
#   synth (20,000 events, uids 0 and 1000) -> replay-feed.py --FIFO-->
#       iotsecd --replay FIFO, LD_PRELOAD=slowcall.so --> mosquitto
#
#   nss_lookup_does_not_stall_intake     every NSS entry (getpwuid_r,
#       getpwnam_r, getgrgid, ...) sleeps 5 s: no overrun, every event
#       decoded, events still name their user (root, from /etc/passwd),
#       every message acknowledged, iotsecd exits 0
#   spool_sync_does_not_stall_intake     fdatasync and fsync sleep 5 s,
#       spool.sync 1s: the same
#   ports_walk_does_not_stall_intake     opendir("/proc") (the ListeningPorts
#       walk of every process's fds) sleeps 5 s, snapshots every 2 s from
#       1 s on: the same, and a ListeningPorts event names the TCP listener
#       the test holds (its port and process id)
#
# usage: loop-stall.sh [nss] [sync] [ports]   (default: all)
set -u

. "$(dirname "$0")/../lib/delivery.sh"

SYNTH=$BUILD/bench/synth
FEED=$TOP/tests/lib/replay-feed.py
SHIM=$BUILD/tests/tools/slowcall.so
EVENTS=20000
PER_BATCH=64
RATE=40		# batches a second: 2,560 events/s, about 8 s
PIPE=1048576	# about 2 s of the feed; each slowed call takes 5 s
NSS="getpwuid_r getpwnam_r getpwuid getpwnam getgrgid getgrnam getgrgid_r getgrnam_r"

missing=""
[ -x "$SYNTH" ] || missing=" build/bench/synth (make tests)"
[ -f "$SHIM" ] || missing="$missing build/tests/tools/slowcall.so (make tests)"
delivery_begin loop_stall "$missing"

release() { touch "$TMP/release"; }
CLEANUP_HOOK=release

delivery_broker 'iotsec/#'
"$SYNTH" "$TMP/rec" "$EVENTS" 64 "$PER_BATCH" >/dev/null || {
	not_ok synth
	exit 1
}

# run NAME SLOWCALL: feed the recording to iotsecd with SLOWCALL slowed
run() {
	local n=$1 calls=$2 cfg=$TMP/$1.yaml st=$TMP/$1.stats pid rc ov ev dec
	local sent acked
	write_config "$cfg" "$b_PORT" "$TMP/spool-$n" 64MiB
	[ -z "${SNAPSHOTS:-}" ] ||
		sed -i "s/^  interval: 0s\$/$SNAPSHOTS/" "$cfg"
	rm -f "$TMP/release" "$TMP/feed"
	mkfifo "$TMP/feed"
	python3 "$FEED" "$TMP/rec" --rate "$RATE" --pipe-size "$PIPE" \
		--hold "$TMP/release" --summary "$TMP/$n.sum" >"$TMP/feed" &
	PIDS="$PIDS $!"
	# (an ASan build: the shim comes first, which ASan checks by default)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	SLOWCALL="$calls" SLOWCALL_MS=5000 SLOWCALL_LOG="$TMP/$n.slow" \
	SLOWCALL_PATH="${SLOWPATH:-}" \
		LD_PRELOAD="$SHIM" "$BIN/iotsecd" -f -c "$cfg" \
		--stats-file "$st" --replay "$TMP/feed" 2>>"$TMP/$n.log" &
	pid=$!
	PIDS="$PIDS $pid"
	expect "the feed ends" wait_for 90 test -s "$TMP/$n.sum" || return 1
	ov=$(sed -n 's/^overruns=//p' "$TMP/$n.sum")
	ev=$(sed -n 's/^events=//p' "$TMP/$n.sum")
	wait_for 30 eval '[ "$(stat_get "$st" decoder.events)" = "$ev" ]'
	dec=$(stat_get "$st" decoder.events)
	echo "# $n: fed $EVENTS events over $(sed -n 's/^seconds=//p' "$TMP/$n.sum") s," \
		"overruns $ov (at $(sed -n 's/^overruns_at=//p' "$TMP/$n.sum") s)," \
		"events written $ev, decoded $dec;" \
		"slowed calls: $(awk '{print $1}' "$TMP/$n.slow" 2>/dev/null |
			sort | uniq -c | tr -s ' \n' ' ')" \
		"(main thread $(awk -v p="$pid" '$2 == p' "$TMP/$n.slow" 2>/dev/null |
			wc -l))"
	touch "$TMP/release"
	expect "iotsecd exits at the end of the stream" \
		wait_for 120 eval '! kill -0 '"$pid"' 2>/dev/null'
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	pid_forget "$pid"
	sent=$(stat_get "$st" messages.sent)
	acked=$(stat_get "$st" messages.acked)
	echo "# $n: messages sent $sent, acked $acked, exit $rc"
	expect "no overrun" [ "$ov" = 0 ] &&
	expect "all $EVENTS events fed and decoded" \
		eval '[ "$ev" = "$EVENTS" ] && [ "$dec" = "$EVENTS" ]' &&
	expect "every message acknowledged" \
		eval '[ "$sent" -gt 0 ] && [ "$acked" = "$sent" ]' &&
	expect "iotsecd exits 0" [ "$rc" = 0 ]
}

nss() {
	run nss "$NSS" || return 1
	# the uid 0 of the synthetic events, named from /etc/passwd
	expect "events name their user" \
		wait_for 30 grep -q '"UserName":"root"' "$TMP/r.recv"
}
want() { [ -z "$CASES" ] || [[ " $CASES " == *" $1 "* ]]; }
CASES="$*"
want nss && check nss_lookup_does_not_stall_intake nss

sync_slow() { run sync "fdatasync fsync"; }
want sync && check spool_sync_does_not_stall_intake sync_slow

# ports_seen PORT PID: a ListeningPorts event in TMP/r.recv lists
# TCP PORT held by PID
ports_seen() {
	python3 - "$TMP/r.recv" "$1" "$2" <<'PY'
import json, sys
port, pid = sys.argv[2], sys.argv[3]
def events(o):
	if isinstance(o, dict):
		if o.get("Name") == "ListeningPorts":
			yield o
		for v in o.values():
			yield from events(v)
	elif isinstance(o, list):
		for v in o:
			yield from events(v)
for line in open(sys.argv[1], errors="replace"):
	if "{" not in line:
		continue
	try:
		m = json.loads(line[line.index("{"):])
	except ValueError:
		continue
	for ev in events(m):
		for it in ev.get("Payload") or []:
			x = it.get("ExtraDetails") or {}
			if (it.get("Protocol") == "TCP" and
			    it.get("LocalPort") == port and
			    x.get("ProcessId") == pid):
				sys.exit(0)
sys.exit(1)
PY
}

ports() {
	local lpid lport
	python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
time.sleep(600)' "$TMP/listener.port" &
	lpid=$!
	PIDS="$PIDS $lpid"
	wait_for 10 test -s "$TMP/listener.port" || {
		echo "# the listener did not start"
		return 1
	}
	lport=$(cat "$TMP/listener.port")
	SNAPSHOTS='  interval: 2s\n  first_delay: 1s\n  local_users: false\n  system_information: false\n  os_baseline: false' \
	SLOWPATH=/proc run ports opendir || return 1
	expect "a ListeningPorts event names the listener (port $lport, pid $lpid)" \
		wait_for 30 ports_seen "$lport" "$lpid"
}
want ports && check ports_walk_does_not_stall_intake ports

done_testing
