#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Bounded re-sends: a broker that takes every publish and never sends a
# PUBACK cannot make the daemon hold more copies of its messages than a
# fixed number, whatever the number of acknowledgement timeouts; its memory
# stays under the systemd unit's MemoryMax.
#
#   sdk-stream (60 KB events) --SDK--> iotsecd (messages.ack_timeout 1s,
#       the build without sanitizers) --> mqtt-noack.py 127.0.0.1:P
#                                          (CONNACK, never a PUBACK)
#
#   withheld_pubacks_keep_memory_bounded   20 s, about 20 acknowledgement
#       timeouts, messages of about 240 KB: the daemon's resident memory
#       (VmRSS, sampled) stays under MemoryMax of systemd/iotsecd.service;
#       the timeouts happened (log); what was in flight was sent again
#       (DUP, on a new connection)
set -u
. "$(dirname "$0")/../lib/delivery.sh"

NOACK=$TOP/tests/lib/mqtt-noack.py
PLAIN=$BUILD/iotsecd	# RSS of the sanitizer build says nothing
SECONDS_RUN=20

missing=""
[ -x "$PLAIN" ] || missing=" build/iotsecd"
delivery_begin delivery_noack "$missing"

# MemoryMax of the unit in bytes (K, M, G suffixes)
memory_max() {
	sed -n 's/^MemoryMax=//p' "$TOP/systemd/iotsecd.service" |
		numfmt --from=iec
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

noack() {
	local cfg=$TMP/na.yaml pid port max rss peak=0 t timeouts limit
	limit=$(memory_max)
	[ -n "$limit" ] || { echo "no MemoryMax in the unit"; return 1; }
	python3 "$NOACK" "$TMP/na.port" "$TMP/na.broker" >"$TMP/noack.log" 2>&1 &
	PIDS="$PIDS $!"
	expect "the stand-in listens" wait_for 15 test -s "$TMP/na.port" ||
		return 1
	port=$(cat "$TMP/na.port")
	write_config "$cfg" "$port" "$TMP/spoolna" 256MiB \
		"messages: { statistics: 1h, ack_timeout: 1s }"
	rm -f "$SOCK"
	"$PLAIN" -f -c "$cfg" --stats-file "$TMP/na.stats" 2>>"$TMP/na.log" &
	pid=$!
	PIDS="$PIDS $pid"
	expect "iotsecd serves $SOCK" wait_for 30 test -S "$SOCK" &&
	expect "iotsecd connects to the stand-in" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/na.log" || return 1
	stream_start big 50 -p 60000
	for t in $(seq $((SECONDS_RUN * 4))); do
		rss=$(rss_kb "$pid")
		[ -n "$rss" ] || break
		[ "$rss" -gt "$peak" ] && peak=$rss
		sleep 0.25
	done
	timeouts=$(grep -c 'no acknowledgement from the broker' "$TMP/na.log")
	echo "# peak VmRSS $((peak / 1024)) MiB (MemoryMax $((limit >> 20)) MiB)," \
		"ack timeouts $timeouts, stand-in: $(tr '\n' ' ' <"$TMP/na.broker")," \
		"spool $(stat_get "$TMP/na.stats" spool.records) records," \
		"$(stat_get "$TMP/na.stats" spool.inflight) in flight"
	stream_stop big
	echo "# accepted $(acked_n big) events; $(summary big)"
	expect "iotsecd was running throughout" kill -0 "$pid" &&
	expect "the broker withheld acknowledgements more than 10 times" \
		[ "$timeouts" -gt 10 ] &&
	expect "resident memory stayed under MemoryMax" \
		[ $((peak * 1024)) -lt "$limit" ] &&
	expect "what was held went out again, marked DUP" \
		[ "$(sed -n 's/^dup_publishes=//p' "$TMP/na.broker")" -gt 0 ]
}
check withheld_pubacks_keep_memory_bounded noack

done_testing
