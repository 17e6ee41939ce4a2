#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The intake is never blocked by the transport: with the broker's name
# unresolvable (a DNS server that drops every query, so each lookup hangs
# for glibc's timeout x attempts), events keep being read as they come;
# they wait in the spool and go out once DNS answers again.
#
# Runs in its own network and mount namespaces (re-executed under
# `unshare --net --mount`): loopback only, /etc/resolv.conf bind-mounted to
# one naming the stand-in.
#
#   synth (50,000 events) -> replay-feed.py --FIFO, never waits-->
#       iotsecd --replay FIFO (broker.iotsec.test:P) --> mosquitto 127.0.0.1:P
#                 |                                   mosquitto_sub
#                 +-- getaddrinfo --> dns-standin.py 127.0.0.1:53
#                                     (drops, then answers 127.0.0.1)
#
#   unresolvable_broker_does_not_stall_intake   50,000 events at 2,560/s
#       into a 1 MiB pipe (the receive buffer) while every DNS
#       query is dropped: no overrun (a batch that did not fit), every
#       event decoded; DNS back: every message acknowledged and received,
#       iotsecd exits 0 at the end of the stream.
set -u

if [ -z "${IOTSEC_IN_NETNS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
	   ! command -v ip >/dev/null ||
	   ! unshare --net --mount true 2>/dev/null; then
		echo "TAP version 13"
		echo "ok 1 delivery_dns # SKIP needs root, unshare, ip and namespaces"
		echo "1..1"
		exit 0
	fi
	IOTSEC_IN_NETNS=1 exec unshare --net --mount -- "$0" "$@"
fi

. "$(dirname "$0")/../lib/delivery.sh"

SYNTH=$BUILD/bench/synth
FEED=$TOP/tests/lib/replay-feed.py
DNS=$TOP/tests/lib/dns-standin.py
EVENTS=50000
PER_BATCH=64
RATE=40		# batches a second: 2,560 events/s, about 20 s
# The pipe stands for the receive buffer: 1 MiB holds about 2 s of this
# feed (a loaded machine's scheduling hiccups), a fifth of one lookup
# that a dead DNS server makes hang (glibc: 5 s x 2 attempts).
PIPE=1048576

missing=""
[ -x "$SYNTH" ] || missing=" build/bench/synth (make tests)"
delivery_begin delivery_dns "$missing"

# the feed holds the pipe open until TMP/release: let it go at the end
release() { touch "$TMP/release"; }
CLEANUP_HOOK=release

ip link set lo up
printf 'nameserver 127.0.0.1\n' >"$TMP/resolv.conf"
mount --bind "$TMP/resolv.conf" /etc/resolv.conf
echo drop >"$TMP/dns.mode"
python3 "$DNS" 127.0.0.1 53 "$TMP/dns.mode" iotsec.test 127.0.0.1 \
	>"$TMP/dns.log" 2>&1 &
PIDS="$PIDS $!"

delivery_broker 'iotsec/#'

# distinct messages the receiver got (no sequence numbers in a replay)
received() { python3 "$COUNT" "$TMP/r.recv" >"$TMP/n.count" && val n distinct; }

dns_outage() {
	local cfg=$TMP/n.yaml st=$TMP/dn.stats pid rc ov ev dec sent acked recv
	write_config "$cfg" "$b_PORT" "$TMP/spooln" 64MiB \
		"broker: { host: broker.iotsec.test, port: $b_PORT, device_id: dtest, topic: \"iotsec/{device_id}/{type}/{message_id}\" }"
	"$SYNTH" "$TMP/rec" "$EVENTS" 64 "$PER_BATCH" >/dev/null || return 1
	expect "the stand-in drops queries" \
		eval '! timeout 3 getent hosts broker.iotsec.test' || return 1
	echo "--- start $(date +%T.%N)" >>"$TMP/dn.log"
	mkfifo "$TMP/feed"
	python3 "$FEED" "$TMP/rec" --rate "$RATE" --pipe-size "$PIPE" \
		--hold "$TMP/release" \
		--summary "$TMP/feed.sum" >"$TMP/feed" &
	PIDS="$PIDS $!"
	"$BIN/iotsecd" -f -c "$cfg" --stats-file "$st" --replay "$TMP/feed" \
		2>>"$TMP/dn.log" &
	pid=$!
	PIDS="$PIDS $pid"
	expect "the feed ends" wait_for 120 test -s "$TMP/feed.sum" || return 1
	ov=$(sed -n 's/^overruns=//p' "$TMP/feed.sum")
	ev=$(sed -n 's/^events=//p' "$TMP/feed.sum")
	expect "the daemon decoded what was fed" \
		wait_for 30 eval '[ "$(stat_get "$st" decoder.events)" = "$ev" ]'
	dec=$(stat_get "$st" decoder.events)
	echo "# fed $EVENTS events in $(sed -n 's/^batches=//p' "$TMP/feed.sum")" \
		"batches over $(sed -n 's/^seconds=//p' "$TMP/feed.sum") s," \
		"overruns $ov (at $(sed -n 's/^overruns_at=//p' "$TMP/feed.sum") s)," \
		"events written $ev, decoded $dec," \
		"dropped DNS queries $(grep -c '^drop .*iotsec.test' "$TMP/dns.log")," \
		"connected while DNS was down: $(grep -c 'mqtt: connected to' "$TMP/dn.log")"
	echo answer >"$TMP/dns.mode"
	expect "DNS answers again" \
		wait_for 30 getent hosts broker.iotsec.test || return 1
	touch "$TMP/release"
	expect "iotsecd connects once the name resolves" \
		wait_for 120 grep -q 'mqtt: connected to broker.iotsec.test' "$TMP/dn.log"
	expect "iotsecd exits at the end of the stream" \
		wait_for 120 eval '! kill -0 '"$pid"' 2>/dev/null'
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	pid_forget "$pid"
	sent=$(stat_get "$st" messages.sent)
	acked=$(stat_get "$st" messages.acked)
	wait_for 30 eval '[ "$(received)" -ge "$acked" ]'
	recv=$(received)
	echo "# messages sent $sent, acked $acked, received distinct $recv," \
		"spool records left $(stat_get "$st" spool.records), exit $rc"
	expect "no overrun while DNS was down" [ "$ov" = 0 ] &&
	expect "all $EVENTS events fed and decoded" \
		eval '[ "$ev" = "$EVENTS" ] && [ "$dec" = "$EVENTS" ]' &&
	expect "every message acknowledged" \
		eval '[ "$sent" -gt 0 ] && [ "$acked" = "$sent" ]' &&
	expect "the receiver got every message" [ "$recv" -ge "$acked" ] &&
	expect "nothing left in the spool" \
		[ "$(stat_get "$st" spool.records)" = 0 ] &&
	expect "iotsecd exits 0 (everything acknowledged)" [ "$rc" = 0 ]
}
check unresolvable_broker_does_not_stall_intake dns_outage

done_testing
